/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for os_user_parse, which reads a jail's passwd and group
 * files. The input is split at its first NUL byte: passwd text before it,
 * group text after. Each input is resolved for a fixed name and a uid.
 */
#include <stdint.h>
#include <string.h>

#include "os/os.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);
	size_t plen = nul ? (size_t)(nul - text) : size;
	const char *group = nul ? nul + 1 : "";
	size_t glen = nul ? size - plen - 1 : 0;
	struct os_user user;
	struct nem_err err;

	(void)os_user_parse(text, plen, group, glen, "www", &user, &err);
	(void)os_user_parse(text, plen, group, glen, "1000", &user, &err);
	return 0;
}
