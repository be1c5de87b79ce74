/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Listing and removing persistent volumes, the md images under
 * <state_dir>/volumes. A volume in use by a description or by an allocated
 * jail is never removed.
 */
#include "volume.h"
#include "jail_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nem/log.h>

#define VOLUME_SUFFIX ".img"

/*
 * Returns the name of the allocated jail that mounts the volume file path
 * into jail[0..size), 0 when none does, 1 when one does, -1 on error.
 */
static int
volume_user(struct jail_runtime *rt, const char *path, char *jail,
    size_t size, struct nem_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (db_prepare(rt->db, "SELECT jail FROM jail_resources WHERE "
	    "kind = 'volume' AND path = ?1 LIMIT 1", &stmt, err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, path, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(stmt, 0);

		snprintf(jail, size, "%s", name ? name : "");
		sqlite3_finalize(stmt);
		return 1;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return db_fail(rt->db, rc, "read volume users", err);
	return 0;
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(((const struct volume_info *)a)->name,
	    ((const struct volume_info *)b)->name);
}

int
volume_list(struct jail_runtime *rt, struct volume_info **out, size_t *count,
    struct nem_err *err)
{
	struct volume_info *list = NULL, *grown;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;

	*out = NULL;
	*count = 0;
	dir = opendir(rt->volumes_dir);
	if (dir == NULL)
		return nem_err_sys(err, errno, "cannot list volumes in %s",
		    rt->volumes_dir);
	while ((de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name), slen = strlen(VOLUME_SUFFIX);
		char path[PATH_MAX], user[NAME_MAX_LEN + 1];
		struct volume_info *v;
		struct stat st;
		int rc;

		if (len <= slen || len - slen > NAME_MAX_LEN ||
		    strcmp(de->d_name + len - slen, VOLUME_SUFFIX) != 0)
			continue;
		if (jail_path_join(path, rt->volumes_dir, de->d_name,
		    err) == -1)
			continue;
		if (lstat(path, &st) == -1 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			grown = reallocarray(list, cap, sizeof(*list));
			if (grown == NULL) {
				free(list);
				closedir(dir);
				return nem_err_sys(err, ENOMEM, "volume list");
			}
			list = grown;
		}
		v = &list[n];
		memset(v, 0, sizeof(*v));
		memcpy(v->name, de->d_name, len - slen);
		v->name[len - slen] = '\0';
		if (name_check("volume", v->name, NULL) == -1)
			continue;
		v->size = (uint64_t)st.st_size;
		v->allocated = (uint64_t)st.st_blocks * 512;
		rc = volume_user(rt, path, user, sizeof(user), err);
		if (rc == -1) {
			free(list);
			closedir(dir);
			return -1;
		}
		v->in_use = rc == 1;
		n++;
	}
	closedir(dir);
	if (n > 1)
		qsort(list, n, sizeof(*list), compare_names);
	*out = list;
	*count = n;
	return 0;
}

int
volume_remove(struct jail_runtime *rt, const char *name,
    const struct cfg_jail *const *jails, size_t njails, struct nem_err *err)
{
	char file[NAME_MAX_LEN + sizeof(VOLUME_SUFFIX)], path[PATH_MAX];
	char user[NAME_MAX_LEN + 1];
	struct stat st;
	int rc;

	if (name_check("volume", name, err) == -1)
		return -1;
	for (size_t i = 0; i < njails; i++) {
		for (size_t j = 0; j < jails[i]->nmounts; j++) {
			const struct cfg_mount *m = &jails[i]->mounts[j];

			if (m->type == CFG_MOUNT_MD && m->persist &&
			    m->volume != NULL && strcmp(m->volume, name) == 0)
				return nem_err_set(err, EBUSY, "volume %s is "
				    "used by the description of jail %s; "
				    "remove that mount first", name,
				    jails[i]->name);
		}
	}

	snprintf(file, sizeof(file), "%s%s", name, VOLUME_SUFFIX);
	if (jail_path_join(path, rt->volumes_dir, file, err) == -1)
		return -1;
	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return nem_err_set(err, ENOENT, "volume %s not found",
			    name);
		return nem_err_sys(err, errno, "cannot stat volume %s", path);
	}
	rc = volume_user(rt, path, user, sizeof(user), err);
	if (rc == -1)
		return -1;
	if (rc == 1)
		return nem_err_set(err, EBUSY, "volume %s is mounted by jail "
		    "%s; stop that jail first", name, user);
	if (unlink(path) == -1)
		return nem_err_sys(err, errno, "cannot delete volume %s",
		    path);
	log_info("volume %s: deleted %s", name, path);
	return 0;
}
