/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for the decoders of the host.connect and host.bind
 * request bodies, which come from jails and are untrusted. The input is
 * the body of one request, given to both decoders. Besides memory errors
 * it checks that a decoded service name passes name_check and that a
 * decoded address has a known family and a port in 1 to 65535.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <nem/frame.h>

#include "broker.h"
#include "config.h"
#include "names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nem_msg msg = { .fd = -1 };
	char service[NAME_MAX_LEN + 1], name[NAME_MAX_LEN + 1];
	struct cfg_listen want;
	struct nem_err err;

	msg.body = data;
	msg.body_len = size;

	if (broker_decode_connect(&msg, service, sizeof(service), &err) == 0) {
		if (name_check("service", service, &err) != 0)
			abort();
	}
	if (broker_decode_bind(&msg, &want, name, sizeof(name), &err) == 0) {
		if (want.name != NULL) {
			if (want.name != name || strlen(name) >= sizeof(name))
				abort();
		} else if ((want.family != AF_INET &&
		    want.family != AF_INET6) || want.port == 0) {
			abort();
		}
	}
	return 0;
}
