/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * FreeBSD mounts for jail trees with nmount(2): ufs and cd9660 images on
 * md(4) devices, nullfs for shared directories, tmpfs, devfs and file
 * copies. Destinations are opened one component at a time with O_NOFOLLOW
 * and O_RESOLVE_BENEATH; nmount is then pointed at the opened directory by
 * changing into it and passing ".", so a symlink swapped in afterwards
 * cannot redirect the mount. Teardown unmounts by file system id.
 *
 * NOTE: compile-unchecked: written without a FreeBSD machine, against the
 * FreeBSD 14 manual pages. The fchdir/"." technique changes the daemon's
 * working directory for the duration of one nmount call, which is safe
 * only while mounts are made from a single thread.
 */
#include "os.h"
#include "freebsd.h"

#include <sys/param.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nem/log.h>

/* devfs ruleset that /etc/defaults/devfs.rules defines for jails. */
#define DEVFS_RULESET_JAIL "4"

/* Passes over the mount list before os_unmount_under forces unmounts. */
#define UNMOUNT_PASSES 4

#define IOV_STR(s) { (void *)(uintptr_t)(s), strlen(s) + 1 }

int
freebsd_dest_check(const char *dest, struct nem_err *err)
{
	const char *p, *comp;

	if (dest == NULL || dest[0] != '/')
		return nem_err_set(err, EINVAL,
		    "destination %s is not an absolute path",
		    dest ? dest : "(null)");
	if (strlen(dest) >= PATH_MAX)
		return nem_err_set(err, EINVAL, "destination is longer than "
		    "%d bytes", PATH_MAX - 1);
	if (dest[1] == '\0')
		return 0;
	for (p = dest + 1, comp = p;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (p == comp || (p - comp == 1 && comp[0] == '.') ||
		    (p - comp == 2 && comp[0] == '.' && comp[1] == '.'))
			return nem_err_set(err, EINVAL, "destination %s is not "
			    "normalized: remove empty, '.' and '..' "
			    "components and any trailing '/'", dest);
		if (*p == '\0')
			return 0;
		comp = p + 1;
	}
}

static int
escape_error(const char *dest, struct nem_err *err)
{
	return nem_err_set(err, ELOOP, "mount destination %s resolves outside "
	    "the jail or through a symlink; replace the symlink with a "
	    "directory in the jail tree", dest);
}

int
freebsd_resolve_dir(int root_fd, const char *dest, bool create,
    struct nem_err *err)
{
	char buf[PATH_MAX], *comp, *save;
	int fd, next;

	if (freebsd_dest_check(dest, err) == -1)
		return -1;
	fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
	if (fd == -1)
		return nem_err_sys(err, errno, "cannot duplicate the jail "
		    "root descriptor");
	strlcpy(buf, dest + 1, sizeof(buf));
	for (comp = strtok_r(buf, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		for (int tries = 0;; tries++) {
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_RESOLVE_BENEATH | O_CLOEXEC);
			if (next >= 0)
				break;
			/* O_NOFOLLOW on a symlink fails with EMLINK. */
			if (errno == ELOOP || errno == EMLINK ||
			    errno == ENOTCAPABLE) {
				close(fd);
				return escape_error(dest, err);
			}
			if (errno != ENOENT || !create || tries > 0) {
				nem_err_sys(err, errno, "mount destination "
				    "%s: cannot open %s", dest, comp);
				close(fd);
				return -1;
			}
			if (mkdirat(fd, comp, 0755) == -1 && errno != EEXIST) {
				if (errno == EROFS)
					nem_err_set(err, EROFS, "mount "
					    "destination %s: directory %s is "
					    "missing on a read-only file "
					    "system; add it to the image",
					    dest, comp);
				else
					nem_err_sys(err, errno, "mount "
					    "destination %s: cannot create %s",
					    dest, comp);
				close(fd);
				return -1;
			}
		}
		close(fd);
		fd = next;
	}
	return fd;
}

int
freebsd_mount_at(int dir_fd, const char *dest, const char *fstype,
    struct iovec *iov, unsigned niov, int flags, struct nem_err *err)
{
	struct iovec all[24];
	char errmsg[256] = "";
	unsigned n = 0;
	int cwd, rc, saved;

	if (niov + 6 > sizeof(all) / sizeof(all[0]))
		return nem_err_set(err, E2BIG, "too many mount options for %s",
		    dest);
	all[n++] = (struct iovec)IOV_STR("fstype");
	all[n++] = (struct iovec)IOV_STR(fstype);
	all[n++] = (struct iovec)IOV_STR("fspath");
	all[n++] = (struct iovec)IOV_STR(".");
	for (unsigned i = 0; i < niov; i++)
		all[n++] = iov[i];
	all[n++] = (struct iovec)IOV_STR("errmsg");
	all[n++] = (struct iovec){ errmsg, sizeof(errmsg) };

	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cwd == -1)
		return nem_err_sys(err, errno, "cannot save the working "
		    "directory");
	if (fchdir(dir_fd) == -1) {
		close(cwd);
		return nem_err_sys(err, errno, "cannot enter %s", dest);
	}
	rc = nmount(all, n, flags);
	saved = errno;
	if (fchdir(cwd) == -1)
		log_err("cannot return to the saved working directory");
	close(cwd);
	if (rc == -1)
		return nem_err_sys(err, saved, "cannot mount %s at %s%s%s",
		    fstype, dest, errmsg[0] ? ": " : "", errmsg);
	return 0;
}

int
os_root_open(const char *path, struct os_root *root, struct nem_err *err)
{
	int fd;

	root->fd = -1;
	root->path = NULL;
	if (path == NULL || path[0] != '/')
		return nem_err_set(err, EINVAL, "jail root %s is not an "
		    "absolute path", path ? path : "(null)");
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return nem_err_sys(err, errno, "cannot open /");
	if (path[1] != '\0') {
		int next = freebsd_resolve_dir(fd, path, false, err);

		close(fd);
		if (next == -1) {
			nem_err_prefix(err, "jail root %s", path);
			return -1;
		}
		fd = next;
	}
	root->path = strdup(path);
	if (root->path == NULL) {
		close(fd);
		return nem_err_set(err, ENOMEM, "jail root %s", path);
	}
	root->fd = fd;
	return 0;
}

void
os_root_close(struct os_root *root)
{
	if (root->fd >= 0)
		close(root->fd);
	root->fd = -1;
	free(root->path);
	root->path = NULL;
}

/* Mounts onto dest. After a mount at "/" the root is reopened, because
 * the old descriptor refers to the covered directory. */
static int
mount_in_root(struct os_root *root, const char *dest, const char *fstype,
    struct iovec *iov, unsigned niov, int flags, struct nem_err *err)
{
	int dir_fd, rc;

	dir_fd = freebsd_resolve_dir(root->fd, dest, true, err);
	if (dir_fd == -1)
		return -1;
	rc = freebsd_mount_at(dir_fd, dest, fstype, iov, niov, flags, err);
	close(dir_fd);
	if (rc == 0 && strcmp(dest, "/") == 0) {
		struct os_root fresh;

		if (os_root_open(root->path, &fresh, err) == -1)
			return -1;
		os_root_close(root);
		*root = fresh;
	}
	return rc;
}

int
os_mount_image(struct os_root *root, const char *dest, const char *device,
    const char *fstype, struct nem_err *err)
{
	struct iovec iov[] = { IOV_STR("from"), IOV_STR(device) };

	return mount_in_root(root, dest, fstype, iov, 2,
	    MNT_RDONLY | MNT_NOSUID, err);
}

int
os_mount_md(struct os_root *root, const char *dest, const char *device,
    struct nem_err *err)
{
	struct iovec iov[] = { IOV_STR("from"), IOV_STR(device) };

	return mount_in_root(root, dest, "ufs", iov, 2, MNT_NOSUID, err);
}

int
os_mount_disk(struct os_root *root, const char *dest, const char *device,
    const char *fstype, struct nem_err *err)
{
	struct iovec iov[] = { IOV_STR("from"), IOV_STR(device) };

	return mount_in_root(root, dest, fstype, iov, 2, MNT_NOSUID, err);
}

int
os_mount_bind(struct os_root *root, const char *dest, const char *source,
    bool read_only, struct nem_err *err)
{
	struct iovec iov[] = { IOV_STR("target"), IOV_STR(source) };
	struct os_root src;

	/* The source must be reachable without symlinks, as on Linux. */
	if (os_root_open(source, &src, err) == -1) {
		nem_err_prefix(err, "mount at %s", dest);
		return -1;
	}
	os_root_close(&src);
	return mount_in_root(root, dest, "nullfs", iov, 2,
	    MNT_NOSUID | (read_only ? MNT_RDONLY : 0), err);
}

int
os_mount_tmpfs(struct os_root *root, const char *dest, uint64_t size,
    struct nem_err *err)
{
	char sz[32];
	struct iovec iov[] = {
		IOV_STR("mode"), IOV_STR("1777"), IOV_STR("size"), { sz, 0 },
	};

	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	iov[3].iov_len = strlen(sz) + 1;
	return mount_in_root(root, dest, "tmpfs", iov, size ? 4 : 2,
	    MNT_NOSUID, err);
}

int
os_mount_dev(struct os_root *root, const char *dest, struct nem_err *err)
{
	/* A fresh devfs shows every device; the jail ruleset hides most.
	 * The ruleset must be loaded (devfs_load_rulesets in rc.conf). */
	struct iovec iov[] = {
		IOV_STR("ruleset"), IOV_STR(DEVFS_RULESET_JAIL),
	};

	return mount_in_root(root, dest, "devfs", iov, 2,
	    MNT_NOSUID | MNT_NOEXEC, err);
}

int
os_copy_file(struct os_root *root, const char *dest, int src_fd,
    mode_t mode, struct nem_err *err)
{
	static unsigned counter;
	char parent[PATH_MAX], tmp[64], buf[65536];
	const char *base;
	struct stat st;
	off_t off = 0;
	ssize_t n;
	int dir_fd, fd;

	if (freebsd_dest_check(dest, err) == -1)
		return -1;
	if (strcmp(dest, "/") == 0 || fstat(src_fd, &st) == -1 ||
	    !S_ISREG(st.st_mode))
		return nem_err_set(err, EINVAL, "copy to %s: the source must "
		    "be a regular file and the destination a file name", dest);
	base = strrchr(dest, '/') + 1;
	memcpy(parent, dest, (size_t)(base - dest));
	parent[base - dest > 1 ? base - dest - 1 : 1] = '\0';
	dir_fd = freebsd_resolve_dir(root->fd, parent, true, err);
	if (dir_fd == -1) {
		nem_err_prefix(err, "copy to %s", dest);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), ".nem-copy.%ld.%u", (long)getpid(),
	    counter++);
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		nem_err_sys(err, errno, "copy to %s: cannot create a file in "
		    "%s", dest, parent);
		close(dir_fd);
		return -1;
	}
	while ((n = pread(src_fd, buf, sizeof(buf), off)) > 0) {
		if (write(fd, buf, (size_t)n) != n)
			break;
		off += n;
	}
	if (n != 0 || fchmod(fd, mode & 0777) == -1 ||
	    renameat(dir_fd, tmp, dir_fd, base) == -1) {
		nem_err_sys(err, errno, "copy to %s: cannot write the file",
		    dest);
		close(fd);
		unlinkat(dir_fd, tmp, 0);
		close(dir_fd);
		return -1;
	}
	close(fd);
	close(dir_fd);
	return 0;
}

static bool
path_under(const char *path, const char *prefix, size_t plen)
{
	return strncmp(path, prefix, plen) == 0 &&
	    (path[plen] == '\0' || path[plen] == '/');
}

static size_t
depth(const char *path)
{
	size_t d = 0;

	for (; *path != '\0'; path++)
		d += *path == '/';
	return d;
}

/* Copies the mounts under prefix, deepest first, into a malloc'ed array. */
static int
mounts_under(const char *prefix, struct statfs **out, size_t *count,
    struct nem_err *err)
{
	struct statfs *all, *list;
	size_t plen = strlen(prefix), n = 0;
	int total;

	while (plen > 1 && prefix[plen - 1] == '/')
		plen--;
	total = getmntinfo(&all, MNT_NOWAIT);
	if (total <= 0)
		return nem_err_sys(err, errno, "cannot list mounts");
	list = calloc((size_t)total, sizeof(*list));
	if (list == NULL)
		return nem_err_set(err, ENOMEM, "out of memory listing mounts");
	/* Insertion by depth; getmntinfo lists in mount order, so a newer
	 * mount at the same depth goes before the older ones. */
	for (int i = 0; i < total; i++) {
		size_t d = depth(all[i].f_mntonname), at = 0;

		if (!path_under(all[i].f_mntonname, prefix, plen))
			continue;
		while (at < n && depth(list[at].f_mntonname) > d)
			at++;
		memmove(&list[at + 1], &list[at], (n - at) * sizeof(*list));
		list[at] = all[i];
		n++;
	}
	*out = list;
	*count = n;
	return 0;
}

int
os_mount_list(const char *prefix, struct os_mount **mounts, size_t *count,
    struct nem_err *err)
{
	struct statfs *list;
	size_t n;

	*mounts = NULL;
	*count = 0;
	if (mounts_under(prefix, &list, &n, err) == -1)
		return -1;
	*mounts = calloc(n ? n : 1, sizeof(**mounts));
	if (*mounts == NULL) {
		free(list);
		return nem_err_set(err, ENOMEM, "out of memory listing mounts");
	}
	for (size_t i = 0; i < n; i++) {
		struct os_mount *m = &(*mounts)[i];

		m->path = strdup(list[i].f_mntonname);
		m->fstype = strdup(list[i].f_fstypename);
		m->source = strdup(list[i].f_mntfromname);
		m->id = list[i].f_fsid.val[0];
		if (m->path == NULL || m->fstype == NULL || m->source == NULL) {
			os_mount_list_free(*mounts, i + 1);
			*mounts = NULL;
			free(list);
			return nem_err_set(err, ENOMEM, "out of memory listing "
			    "mounts");
		}
	}
	free(list);
	*count = n;
	return 0;
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

int
os_unmount_under(const char *prefix, struct nem_err *err)
{
	struct statfs *list;
	size_t n;

	for (int pass = 0; pass <= UNMOUNT_PASSES; pass++) {
		bool force = pass == UNMOUNT_PASSES;

		if (mounts_under(prefix, &list, &n, err) == -1)
			return -1;
		if (n == 0) {
			free(list);
			return 0;
		}
		for (size_t i = 0; i < n; i++) {
			char fsid[64];

			/* By file system id: no path lookup, no symlink. */
			snprintf(fsid, sizeof(fsid), "FSID:%d:%d",
			    list[i].f_fsid.val[0], list[i].f_fsid.val[1]);
			if (force)
				log_warn("%s: still mounted, forcing the "
				    "unmount", list[i].f_mntonname);
			if (unmount(fsid, MNT_BYFSID |
			    (force ? MNT_FORCE : 0)) == -1 && force)
				log_warn("%s: cannot unmount: %s",
				    list[i].f_mntonname, strerror(errno));
		}
		free(list);
	}
	if (mounts_under(prefix, &list, &n, err) == -1)
		return -1;
	free(list);
	if (n > 0)
		return nem_err_set(err, EBUSY, "%zu mounts remain under %s "
		    "after unmounting; see the log and remove them by hand",
		    n, prefix);
	return 0;
}

/*
 * FreeBSD has no mount propagation between jails or other processes, so
 * there is nothing to make private; the directory is only checked.
 */
int
os_mount_make_private(const char *path, struct nem_err *err)
{
	struct stat st;

	if (path == NULL || path[0] != '/')
		return nem_err_set(err, EINVAL, "%s is not an absolute path",
		    path ? path : "(null)");
	if (lstat(path, &st) == -1)
		return nem_err_sys(err, errno, "cannot stat %s", path);
	if (!S_ISDIR(st.st_mode))
		return nem_err_set(err, ENOTDIR, "%s is not a directory; "
		    "remove it so the folder can be created", path);
	return 0;
}
