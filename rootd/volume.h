/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Persistent volumes: md images kept as <state_dir>/volumes/<name>.img
 * across jail restarts. A volume is created by the first jail_alloc of a
 * description that names it (persist = true) and is only ever deleted by
 * volume_remove, which refuses while a description or an allocated jail
 * uses it.
 */
#ifndef ROOTD_VOLUME_H
#define ROOTD_VOLUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nem/err.h>

#include "config.h"
#include "jail.h"
#include "names.h"

/* One volume found by volume_list. */
struct volume_info {
	char name[NAME_MAX_LEN + 1];
	uint64_t size;		/* apparent size of the image file, bytes */
	uint64_t allocated;	/* bytes the file occupies on disk */
	bool in_use;		/* mounted by an allocated jail */
};

/*
 * Lists the volumes, sorted by name. Files in volumes/ whose name is not
 * a valid volume name followed by ".img" are skipped. *out is an array of
 * *count entries to free(), NULL when the count is 0. Returns 0, or -1
 * with err set.
 */
int volume_list(struct jail_runtime *rt, struct volume_info **out,
    size_t *count, struct nem_err *err);

/*
 * Deletes the volume name. jails[0..njails) are the current descriptions.
 * Returns 0, or -1 with err set: EINVAL for an invalid name, ENOENT when
 * there is no such volume, EBUSY when a description in jails names it or
 * an allocated jail mounts it (the message names the jail), or the errno
 * of the failed unlink.
 */
int volume_remove(struct jail_runtime *rt, const char *name,
    const struct cfg_jail *const *jails, size_t njails, struct nem_err *err);

#endif
