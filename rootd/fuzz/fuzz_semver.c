/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for the semver parsers. The input is split at the first
 * newline into a version and a requirement. Besides memory errors it checks
 * that a parsed version formats back to its input, compares equal to itself
 * and that matching a requirement is deterministic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "semver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[2 * SEMVER_MAX_LEN + 8];
	char formatted[2 * SEMVER_MAX_LEN + 64];
	struct semver v, probe;
	struct semver_req *req;
	struct nem_err err;
	const char *req_text;
	char *newline;
	bool have_version;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	newline = strchr(text, '\n');
	req_text = text;
	if (newline != NULL) {
		*newline = '\0';
		req_text = newline + 1;
	}

	have_version = semver_parse(text, &v, &err) == 0;
	if (have_version) {
		if (semver_format(&v, formatted, sizeof(formatted)) == -1 ||
		    strcmp(formatted, text) != 0)
			abort();
		if (semver_cmp(&v, &v) != 0)
			abort();
	}

	req = semver_req_parse(req_text, &err);
	if (req == NULL)
		return 0;
	if (!have_version)
		semver_parse("1.2.3-rc.1", &v, &err);
	if (semver_req_match(req, &v) != semver_req_match(req, &v))
		abort();
	memset(&probe, 0, sizeof(probe));
	for (uint64_t major = 0; major < 3; major++) {
		probe.major = major;
		(void)semver_req_match(req, &probe);
	}
	semver_req_free(req);
	return 0;
}
