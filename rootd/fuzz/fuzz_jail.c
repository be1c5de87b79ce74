/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for the jail description loader, fed the way a
 * `jail apply` request feeds it: a buffer of untrusted bytes. Besides
 * memory errors it checks the loader's contract: a jail comes back exactly
 * when no error was reported, every error has a message, and a loaded
 * jail equals itself and a second load of the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_diags diags = { 0 };
	struct cfg_jail *jail, *again;

	jail = cfg_jail_load_buffer("fuzz", "fuzz.toml", "/etc/nem",
	    (const char *)data, size, &diags);
	if ((jail == NULL) != (diags.len > 0 || diags.oom))
		abort();
	for (size_t i = 0; i < diags.len; i++)
		if (diags.v[i].msg == NULL || diags.v[i].msg[0] == '\0' ||
		    strchr(diags.v[i].msg, '\n') != NULL)
			abort();
	if (diags.len > CFG_DIAG_MAX + 1)
		abort();

	if (jail != NULL) {
		again = cfg_jail_load_buffer("fuzz", "again.toml", "/etc/nem",
		    (const char *)data, size, &diags);
		if (again == NULL || !cfg_jail_equal(jail, jail) ||
		    !cfg_jail_equal(jail, again))
			abort();
		cfg_jail_free(again);
	}
	cfg_jail_free(jail);
	cfg_diags_clear(&diags);
	return 0;
}
