/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Listing and removing the mounts of a jail tree, for the normal teardown
 * and for crash recovery. Mounts are read from /proc/self/mountinfo and
 * unmounted deepest first. A mount point is reached through a descriptor of
 * its parent directory opened without following symlinks, because a jail
 * may have renamed a directory on the way and planted a symlink in its
 * place. A mount that cannot be reached that way is detached lazily.
 */
#include "os.h"
#include "linux.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nem/log.h>

/* Passes over the mount list before os_unmount_under gives up. */
#define UNMOUNT_PASSES 4

/* Decodes the octal escapes (\040 for space) of a mountinfo field. */
static void
unescape(char *s)
{
	char *out = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* True when path is prefix or lies below it. */
static bool
path_under(const char *path, const char *prefix, size_t plen)
{
	if (plen == 1 && prefix[0] == '/')
		return true;
	return strncmp(path, prefix, plen) == 0 &&
	    (path[plen] == '\0' || path[plen] == '/');
}

static size_t
path_depth(const char *path)
{
	size_t depth = 0;

	for (; *path != '\0'; path++)
		depth += *path == '/';
	return depth;
}

/* A list entry with its position in mountinfo, for a stable order. */
struct mount_entry {
	struct os_mount m;
	size_t order;
};

static int
compare_deepest_first(const void *a, const void *b)
{
	const struct mount_entry *x = a, *y = b;
	size_t dx = path_depth(x->m.path), dy = path_depth(y->m.path);

	if (dx != dy)
		return dx > dy ? -1 : 1;
	return x->order > y->order ? -1 : (x->order < y->order);
}

/*
 * Parses one mountinfo line: "id parent maj:min root mount-point options
 * [optional fields...] - fstype source super-options".
 */
static int
parse_line(char *line, struct os_mount *m)
{
	char *field[6], *save, *tok;
	int n = 0;

	for (tok = strtok_r(line, " \n", &save); tok != NULL && n < 5;
	    tok = strtok_r(NULL, " \n", &save))
		field[n++] = tok;
	if (n < 5)
		return -1;
	while (tok != NULL && strcmp(tok, "-") != 0)
		tok = strtok_r(NULL, " \n", &save);
	if (tok == NULL)
		return -1;
	field[0] = strtok_r(NULL, " \n", &save);	/* fstype */
	field[5] = strtok_r(NULL, " \n", &save);	/* source */
	if (field[0] == NULL || field[5] == NULL)
		return -1;
	m->id = atoi(line);
	unescape(field[4]);
	unescape(field[5]);
	m->path = strdup(field[4]);
	m->fstype = strdup(field[0]);
	m->source = strdup(field[5]);
	if (m->path == NULL || m->fstype == NULL || m->source == NULL) {
		free(m->path);
		free(m->fstype);
		free(m->source);
		return -1;
	}
	return 0;
}

int
os_mount_list(const char *prefix, struct os_mount **mounts, size_t *count,
    struct nem_err *err)
{
	struct mount_entry *list = NULL, *grown;
	size_t n = 0, cap = 0, plen, order = 0;
	char *line = NULL;
	size_t line_cap = 0;
	FILE *f;

	*mounts = NULL;
	*count = 0;
	plen = strlen(prefix);
	while (plen > 1 && prefix[plen - 1] == '/')
		plen--;
	f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		return nem_err_sys(err, errno, "cannot read "
		    "/proc/self/mountinfo; is /proc mounted?");
	while (getline(&line, &line_cap, f) != -1) {
		struct os_mount m;

		order++;
		if (parse_line(line, &m) == -1)
			continue;
		if (!path_under(m.path, prefix, plen)) {
			free(m.path);
			free(m.fstype);
			free(m.source);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			grown = reallocarray(list, cap, sizeof(*list));
			if (grown == NULL) {
				free(m.path);
				free(m.fstype);
				free(m.source);
				goto nomem;
			}
			list = grown;
		}
		list[n].m = m;
		list[n].order = order;
		n++;
	}
	free(line);
	fclose(f);
	line = NULL;
	f = NULL;

	if (n > 1)
		qsort(list, n, sizeof(*list), compare_deepest_first);
	*mounts = calloc(n ? n : 1, sizeof(**mounts));
	if (*mounts == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		(*mounts)[i] = list[i].m;
	free(list);
	*count = n;
	return 0;

nomem:
	if (f != NULL)
		fclose(f);
	free(line);
	for (size_t i = 0; i < n; i++) {
		free(list[i].m.path);
		free(list[i].m.fstype);
		free(list[i].m.source);
	}
	free(list);
	return nem_err_set(err, ENOMEM, "out of memory listing the mounts "
	    "under %s", prefix);
}

void
os_mount_list_free(struct os_mount *mounts, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(mounts[i].path);
		free(mounts[i].fstype);
		free(mounts[i].source);
	}
	free(mounts);
}

/*
 * Unmounts m through its parent directory, opened without symlinks, after
 * checking that the name there is still the mount with m's id. Returns 0
 * when unmounted, 1 when it could not be reached (renamed or covered),
 * -1 on another failure with errno set.
 */
static int
unmount_one(const struct os_mount *m, int flags)
{
	char parent[PATH_MAX], via[64];
	const char *base;
	struct statx stx;
	int dir_fd, rc;

	base = strrchr(m->path, '/');
	if (base == NULL || base[1] == '\0' ||
	    (size_t)(base - m->path) >= sizeof(parent))
		return 1;
	memcpy(parent, m->path, (size_t)(base - m->path));
	parent[base == m->path ? 1 : base - m->path] = '\0';
	base++;

	dir_fd = linux_openat2(AT_FDCWD, parent,
	    O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
	    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (dir_fd == -1)
		return 1;
	if (statx(dir_fd, base, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
	    STATX_MNT_ID, &stx) == -1 || !(stx.stx_mask & STATX_MNT_ID) ||
	    stx.stx_mnt_id != (uint64_t)m->id || S_ISLNK(stx.stx_mode)) {
		close(dir_fd);
		return 1;
	}

	/* The magic link is followed to the parent, then base is looked up
	 * there without following a symlink. */
	snprintf(via, sizeof(via), "/proc/self/fd/%d/", dir_fd);
	if (strlen(via) + strlen(base) >= sizeof(parent)) {
		close(dir_fd);
		errno = ENAMETOOLONG;
		return -1;
	}
	memmove(parent + strlen(via), base, strlen(base) + 1);
	memcpy(parent, via, strlen(via));
	rc = umount2(parent, flags | UMOUNT_NOFOLLOW);
	close(dir_fd);
	return rc;
}

int
os_unmount_under(const char *prefix, struct nem_err *err)
{
	struct os_mount *mounts;
	size_t count;

	for (int pass = 0; pass < UNMOUNT_PASSES; pass++) {
		bool last = pass == UNMOUNT_PASSES - 1;

		if (os_mount_list(prefix, &mounts, &count, err) == -1)
			return -1;
		if (count == 0) {
			os_mount_list_free(mounts, count);
			return 0;
		}
		for (size_t i = 0; i < count; i++) {
			int rc = unmount_one(&mounts[i], 0);

			if (rc == -1 && errno == EBUSY && last) {
				log_warn("%s: busy, detaching it lazily",
				    mounts[i].path);
				rc = unmount_one(&mounts[i], MNT_DETACH);
			}
			if (rc == -1 && errno != EINVAL && errno != EBUSY)
				log_warn("%s: cannot unmount: %s",
				    mounts[i].path, strerror(errno));
		}
		os_mount_list_free(mounts, count);
		if (pass > 0)
			usleep(1000u << pass);
	}

	/* Detach what is left lazily, shallowest first, because a detached
	 * mount takes the mounts below it along. */
	for (int pass = 0; pass < UNMOUNT_PASSES; pass++) {
		if (os_mount_list(prefix, &mounts, &count, err) == -1)
			return -1;
		if (count > 0 && pass == 0)
			log_warn("%s: %zu mounts could not be unmounted one by "
			    "one, detaching them lazily", prefix, count);
		for (size_t i = count; i-- > 0;) {
			if (unmount_one(&mounts[i], MNT_DETACH) == -1 &&
			    errno != EINVAL)
				log_warn("%s: cannot detach: %s",
				    mounts[i].path, strerror(errno));
		}
		os_mount_list_free(mounts, count);
		if (count == 0)
			break;
	}

	if (os_mount_list(prefix, &mounts, &count, err) == -1)
		return -1;
	os_mount_list_free(mounts, count);
	if (count > 0)
		return nem_err_set(err, EBUSY, "%zu mounts remain under %s "
		    "after unmounting; see the log and remove them by hand",
		    count, prefix);
	return 0;
}
