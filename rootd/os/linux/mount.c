/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Linux mounts for jail trees, with the new mount API. Each destination is
 * resolved inside the jail root with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_SYMLINKS), and the mount is attached onto the resulting
 * descriptor, so no path is looked up twice and a symlink swapped in
 * between cannot redirect a mount onto the host. Runs in the daemon; the
 * jail's own /proc is mounted by the child in os/linux/jail.c.
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
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <nem/log.h>

/* Resolve flags for every lookup below a jail root. */
#define RESOLVE_JAIL \
	(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

/* Tries made to unmount a busy mount before it is detached lazily. */
#define UNMOUNT_TRIES 5

int
linux_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
    uint64_t resolve)
{
	struct open_how how = {
		.flags = flags,
		.mode = mode,
		.resolve = resolve,
	};
	int fd;

	do {
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	} while (fd == -1 && (errno == EINTR || errno == EAGAIN));
	return fd;
}

int
linux_dest_check(const char *dest, struct nem_err *err)
{
	const char *p, *comp;
	size_t len;

	if (dest == NULL || dest[0] != '/')
		return nem_err_set(err, EINVAL,
		    "destination %s is not an absolute path",
		    dest ? dest : "(null)");
	len = strlen(dest);
	if (len >= PATH_MAX)
		return nem_err_set(err, EINVAL,
		    "destination %.64s... is longer than %d bytes", dest,
		    PATH_MAX - 1);
	if (len == 1)
		return 0;
	for (p = dest + 1, comp = p;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (p == comp || (p - comp == 1 && comp[0] == '.') ||
		    (p - comp == 2 && comp[0] == '.' && comp[1] == '.'))
			return nem_err_set(err, EINVAL,
			    "destination %s is not normalized: remove empty, "
			    "'.' and '..' components and any trailing '/'",
			    dest);
		if (*p == '\0')
			break;
		comp = p + 1;
	}
	return 0;
}

static int
escape_error(const char *dest, int code, struct nem_err *err)
{
	return nem_err_set(err, code,
	    "mount destination %s resolves outside the jail or through a "
	    "symlink; replace the symlink with a directory in the jail tree",
	    dest);
}

/* Opens or creates the directory name below parent_fd. */
static int
open_component(int parent_fd, const char *name, bool create,
    const char *dest, struct nem_err *err)
{
	int fd;

	for (int tries = 0; tries < 2; tries++) {
		fd = linux_openat2(parent_fd, name,
		    O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
		    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS);
		if (fd >= 0)
			return fd;
		if (errno == ELOOP || errno == EXDEV)
			return escape_error(dest, errno, err);
		if (errno == ENOTDIR)
			return nem_err_set(err, ENOTDIR,
			    "mount destination %s: component %s is not a "
			    "directory", dest, name);
		if (errno != ENOENT || !create)
			return nem_err_sys(err, errno,
			    "mount destination %s: cannot open %s", dest, name);

		/* Another creator may win the race: EEXIST is fine. */
		if (mkdirat(parent_fd, name, 0755) == -1 && errno != EEXIST) {
			if (errno == EROFS)
				return nem_err_set(err, EROFS,
				    "mount destination %s: directory %s is "
				    "missing on a read-only file system; add it "
				    "to the image", dest, name);
			return nem_err_sys(err, errno,
			    "mount destination %s: cannot create %s", dest,
			    name);
		}
	}
	return nem_err_set(err, ENOENT,
	    "mount destination %s: %s disappeared while being created", dest,
	    name);
}

/*
 * Opens directory path inside root_fd like linux_resolve_dir. Messages name
 * shown, the destination the caller asked for, which may lie below path.
 */
static int
resolve_dir_for(int root_fd, const char *path, const char *shown,
    bool create, struct nem_err *err)
{
	const char *dest = shown;
	char buf[PATH_MAX];
	char *comp, *save;
	int fd, next;

	if (linux_dest_check(path, err) == -1)
		return -1;
	if (strcmp(path, "/") == 0) {
		fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
		if (fd == -1)
			return nem_err_sys(err, errno, "cannot duplicate the "
			    "jail root descriptor");
		return fd;
	}

	/* Fast path: the whole destination exists. */
	fd = linux_openat2(root_fd, path + 1,
	    O_PATH | O_DIRECTORY | O_CLOEXEC, 0, RESOLVE_JAIL);
	if (fd >= 0)
		return fd;
	if (errno == ELOOP || errno == EXDEV)
		return escape_error(dest, errno, err);
	if (errno != ENOENT && errno != ENOTDIR)
		return nem_err_sys(err, errno, "mount destination %s: cannot "
		    "open it in the jail", dest);

	/* Slow path: walk and create one component at a time. */
	memcpy(buf, path + 1, strlen(path));
	fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
	if (fd == -1)
		return nem_err_sys(err, errno, "cannot duplicate the jail "
		    "root descriptor");
	for (comp = strtok_r(buf, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		next = open_component(fd, comp, create, dest, err);
		close(fd);
		if (next == -1)
			return -1;
		fd = next;
	}
	return fd;
}

int
linux_resolve_dir(int root_fd, const char *dest, bool create,
    struct nem_err *err)
{
	return resolve_dir_for(root_fd, dest, dest, create, err);
}

/* Appends the messages of the fs context log to err. */
static void
append_fs_log(int fs_fd, struct nem_err *err)
{
	char line[256];
	ssize_t n;

	/* Each read returns one message prefixed "e ", "w " or "i ". */
	while ((n = read(fs_fd, line, sizeof(line) - 1)) > 0) {
		line[n] = '\0';
		if (n > 2 && line[1] == ' ' && err != NULL &&
		    strlen(err->msg) + (size_t)n + 8 < sizeof(err->msg)) {
			strcat(err->msg, " (kernel: ");
			strcat(err->msg, line + 2);
			strcat(err->msg, ")");
		}
	}
}

int
linux_fs_mount(const char *fstype, const char *source,
    const struct linux_fs_opt *opts, size_t nopts, unsigned attrs,
    struct nem_err *err)
{
	int fs_fd, mnt_fd;

	fs_fd = fsopen(fstype, FSOPEN_CLOEXEC);
	if (fs_fd == -1)
		return nem_err_sys(err, errno, "cannot open a %s file "
		    "system context; is the %s module available?", fstype,
		    fstype);
	if (source != NULL &&
	    fsconfig(fs_fd, FSCONFIG_SET_STRING, "source", source, 0) == -1) {
		nem_err_sys(err, errno, "%s: invalid source %s", fstype,
		    source);
		goto fail;
	}
	for (size_t i = 0; i < nopts; i++) {
		int rc;

		if (opts[i].value == NULL)
			rc = fsconfig(fs_fd, FSCONFIG_SET_FLAG, opts[i].key,
			    NULL, 0);
		else
			rc = fsconfig(fs_fd, FSCONFIG_SET_STRING, opts[i].key,
			    opts[i].value, 0);
		if (rc == -1) {
			nem_err_sys(err, errno, "%s: invalid option %s=%s",
			    fstype, opts[i].key,
			    opts[i].value ? opts[i].value : "");
			goto fail;
		}
	}
	if (fsconfig(fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == -1) {
		nem_err_sys(err, errno, "cannot mount %s from %s", fstype,
		    source ? source : "none");
		goto fail;
	}
	mnt_fd = fsmount(fs_fd, FSMOUNT_CLOEXEC, attrs);
	if (mnt_fd == -1) {
		nem_err_sys(err, errno, "cannot create the %s mount from %s",
		    fstype, source ? source : "none");
		goto fail;
	}
	close(fs_fd);
	return mnt_fd;

fail:
	append_fs_log(fs_fd, err);
	close(fs_fd);
	return -1;
}

int
linux_mount_attach(int mnt_fd, int target_fd, const char *dest,
    struct nem_err *err)
{
	if (move_mount(mnt_fd, "", target_fd, "",
	    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == -1)
		return nem_err_sys(err, errno, "cannot attach the mount at %s",
		    dest);
	return 0;
}

int
os_root_open(const char *path, struct os_root *root, struct nem_err *err)
{
	root->fd = -1;
	root->path = NULL;
	if (path == NULL || path[0] != '/')
		return nem_err_set(err, EINVAL,
		    "jail root %s is not an absolute path",
		    path ? path : "(null)");
	root->fd = linux_openat2(AT_FDCWD, path,
	    O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
	    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (root->fd == -1)
		return nem_err_sys(err, errno, "cannot open jail root %s "
		    "(it must be a directory reached without symlinks)", path);
	root->path = strdup(path);
	if (root->path == NULL) {
		close(root->fd);
		root->fd = -1;
		return nem_err_sys(err, ENOMEM, "jail root %s", path);
	}
	return 0;
}

void
os_root_close(struct os_root *root)
{
	if (root->fd > 0)
		close(root->fd);
	root->fd = -1;
	free(root->path);
	root->path = NULL;
}

/*
 * Attaches the detached mount mnt_fd at dest inside root and takes
 * ownership of mnt_fd. A mount at "/" becomes the new top of the tree.
 */
static int
attach_in_root(struct os_root *root, const char *dest, int mnt_fd,
    struct nem_err *err)
{
	int target;

	target = linux_resolve_dir(root->fd, dest, true, err);
	if (target == -1) {
		close(mnt_fd);
		return -1;
	}
	if (linux_mount_attach(mnt_fd, target, dest, err) == -1) {
		close(target);
		close(mnt_fd);
		return -1;
	}
	close(target);

	/* The descriptor of an attached mount refers to its root. */
	if (strcmp(dest, "/") == 0) {
		close(root->fd);
		root->fd = mnt_fd;
	} else {
		close(mnt_fd);
	}
	return 0;
}

static int
mount_new(struct os_root *root, const char *dest, const char *fstype,
    const char *source, const struct linux_fs_opt *opts, size_t nopts,
    unsigned attrs, struct nem_err *err)
{
	int mnt_fd;

	if (linux_dest_check(dest, err) == -1)
		return -1;
	mnt_fd = linux_fs_mount(fstype, source, opts, nopts, attrs, err);
	if (mnt_fd == -1) {
		nem_err_prefix(err, "mount at %s", dest);
		return -1;
	}
	return attach_in_root(root, dest, mnt_fd, err);
}

int
os_mount_image(struct os_root *root, const char *dest, const char *device,
    const char *fstype, struct nem_err *err)
{
	static const struct linux_fs_opt ro[] = { { "ro", NULL } };

	return mount_new(root, dest, fstype, device, ro, 1,
	    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID, err);
}

int
os_mount_md(struct os_root *root, const char *dest, const char *device,
    struct nem_err *err)
{
	return mount_new(root, dest, "ext4", device, NULL, 0,
	    MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID, err);
}

int
os_mount_disk(struct os_root *root, const char *dest, const char *device,
    const char *fstype, struct nem_err *err)
{
	return mount_new(root, dest, fstype, device, NULL, 0,
	    MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID, err);
}

int
os_mount_tmpfs(struct os_root *root, const char *dest, uint64_t size,
    struct nem_err *err)
{
	struct linux_fs_opt opts[2] = { { "mode", "1777" }, { "size", NULL } };
	char sz[32];

	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	opts[1].value = sz;
	return mount_new(root, dest, "tmpfs", "tmpfs", opts, size ? 2 : 1,
	    MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID, err);
}

int
os_mount_bind(struct os_root *root, const char *dest, const char *source,
    bool read_only, struct nem_err *err)
{
	struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID,
	};
	int src_fd, mnt_fd;

	if (linux_dest_check(dest, err) == -1)
		return -1;
	if (read_only)
		attr.attr_set |= MOUNT_ATTR_RDONLY;
	src_fd = linux_openat2(AT_FDCWD, source,
	    O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
	    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (src_fd == -1)
		return nem_err_sys(err, errno, "mount at %s: cannot open bind "
		    "source %s (it must be a directory reached without "
		    "symlinks)", dest, source);
	mnt_fd = open_tree(src_fd, "",
	    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	close(src_fd);
	if (mnt_fd == -1)
		return nem_err_sys(err, errno, "mount at %s: cannot clone %s",
		    dest, source);
	if (mount_setattr(mnt_fd, "", AT_EMPTY_PATH, &attr,
	    sizeof(attr)) == -1) {
		nem_err_sys(err, errno, "mount at %s: cannot set the flags of "
		    "the bind mount of %s", dest, source);
		close(mnt_fd);
		return -1;
	}
	return attach_in_root(root, dest, mnt_fd, err);
}

/* Device nodes of the minimal /dev: name, major, minor. */
static const struct {
	const char *name;
	unsigned major, minor;
} dev_nodes[] = {
	{ "null", 1, 3 },
	{ "zero", 1, 5 },
	{ "full", 1, 7 },
	{ "random", 1, 8 },
	{ "urandom", 1, 9 },
	{ "tty", 5, 0 },
};

static const struct {
	const char *name, *target;
} dev_links[] = {
	{ "ptmx", "pts/ptmx" },
	{ "fd", "/proc/self/fd" },
	{ "stdin", "/proc/self/fd/0" },
	{ "stdout", "/proc/self/fd/1" },
	{ "stderr", "/proc/self/fd/2" },
};

/* Fills the detached tmpfs mnt_fd with the nodes and links of /dev. */
static int
populate_dev(int mnt_fd, const char *dest, struct nem_err *err)
{
	for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++) {
		if (mknodat(mnt_fd, dev_nodes[i].name, S_IFCHR | 0666,
		    makedev(dev_nodes[i].major, dev_nodes[i].minor)) == -1 ||
		    fchmodat(mnt_fd, dev_nodes[i].name, 0666, 0) == -1)
			return nem_err_sys(err, errno, "%s: cannot create "
			    "device node %s", dest, dev_nodes[i].name);
	}
	for (size_t i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++) {
		if (symlinkat(dev_links[i].target, mnt_fd,
		    dev_links[i].name) == -1)
			return nem_err_sys(err, errno, "%s: cannot create "
			    "link %s", dest, dev_links[i].name);
	}
	if (mkdirat(mnt_fd, "pts", 0755) == -1 ||
	    mkdirat(mnt_fd, "shm", 0755) == -1 ||
	    fchmodat(mnt_fd, "shm", 01777, 0) == -1)
		return nem_err_sys(err, errno, "%s: cannot create pts and shm",
		    dest);
	return 0;
}

int
os_mount_dev(struct os_root *root, const char *dest, struct nem_err *err)
{
	static const struct linux_fs_opt dev_opts[] = {
		{ "mode", "0755" }, { "size", "65536" }, { "nr_inodes", "64" },
	};
	static const struct linux_fs_opt pts_opts[] = {
		{ "newinstance", NULL }, { "ptmxmode", "0666" },
		{ "mode", "0620" },
	};
	char pts_dest[PATH_MAX + 8];
	int mnt_fd, dev_fd, pts_fd, pts_mnt;

	if (linux_dest_check(dest, err) == -1)
		return -1;
	mnt_fd = linux_fs_mount("tmpfs", "tmpfs", dev_opts, 3,
	    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
	if (mnt_fd == -1) {
		nem_err_prefix(err, "mount at %s", dest);
		return -1;
	}
	if (populate_dev(mnt_fd, dest, err) == -1) {
		close(mnt_fd);
		return -1;
	}
	dev_fd = fcntl(mnt_fd, F_DUPFD_CLOEXEC, 3);
	if (dev_fd == -1) {
		close(mnt_fd);
		return nem_err_sys(err, errno, "mount at %s", dest);
	}
	if (attach_in_root(root, dest, mnt_fd, err) == -1) {
		close(dev_fd);
		return -1;
	}

	/* pts was created above in this private tmpfs: no symlink possible. */
	snprintf(pts_dest, sizeof(pts_dest), "%s/pts",
	    strcmp(dest, "/") == 0 ? "" : dest);
	pts_fd = linux_resolve_dir(dev_fd, "/pts", false, err);
	close(dev_fd);
	if (pts_fd == -1)
		return -1;
	pts_mnt = linux_fs_mount("devpts", "devpts", pts_opts, 3,
	    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
	if (pts_mnt == -1) {
		nem_err_prefix(err, "mount at %s", pts_dest);
		close(pts_fd);
		return -1;
	}
	if (linux_mount_attach(pts_mnt, pts_fd, pts_dest, err) == -1) {
		close(pts_mnt);
		close(pts_fd);
		return -1;
	}
	close(pts_mnt);
	close(pts_fd);
	return 0;
}

/* Copies the contents of src_fd into dst_fd without moving src's offset. */
static int
copy_contents(int src_fd, int dst_fd)
{
	char buf[65536];
	off_t off = 0;
	ssize_t n;

	for (;;) {
		off_t in = off;

		n = copy_file_range(src_fd, &in, dst_fd, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0) {
			off = in;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
		    errno != EOPNOTSUPP)
			return -1;
		break;
	}

	/* Fallback for file systems without copy_file_range support. */
	for (;;) {
		n = pread(src_fd, buf, sizeof(buf), off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(dst_fd, buf + done, (size_t)(n - done));

			if (w == -1 && errno == EINTR)
				continue;
			if (w == -1)
				return -1;
			done += w;
		}
		off += n;
	}
}

int
os_copy_file(struct os_root *root, const char *dest, int src_fd,
    mode_t mode, struct nem_err *err)
{
	static unsigned counter;
	char parent[PATH_MAX], tmp[64];
	const char *base;
	struct stat st;
	int dir_fd, fd;

	if (linux_dest_check(dest, err) == -1)
		return -1;
	if (strcmp(dest, "/") == 0)
		return nem_err_set(err, EINVAL, "file destination / is a "
		    "directory; name a file");
	if (fstat(src_fd, &st) == -1 || !S_ISREG(st.st_mode))
		return nem_err_set(err, EINVAL, "copy to %s: the source is "
		    "not a regular file", dest);

	base = strrchr(dest, '/') + 1;
	memcpy(parent, dest, (size_t)(base - dest));
	parent[base - dest > 1 ? base - dest - 1 : 1] = '\0';
	dir_fd = resolve_dir_for(root->fd, parent, dest, true, err);
	if (dir_fd == -1)
		return -1;

	/* Write a new file and rename it over dest: a FIFO or a symlink
	 * planted at dest is replaced, never opened. */
	snprintf(tmp, sizeof(tmp), ".nem-copy.%ld.%u", (long)getpid(),
	    __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	fd = linux_openat2(dir_fd, tmp,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600,
	    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd == -1) {
		if (errno == EROFS)
			nem_err_set(err, EROFS, "copy to %s: the file system "
			    "at %s is read-only; mount a tmpfs or md image "
			    "there first", dest, parent);
		else
			nem_err_sys(err, errno, "copy to %s: cannot create a "
			    "file in %s", dest, parent);
		close(dir_fd);
		return -1;
	}
	if (copy_contents(src_fd, fd) == -1 ||
	    fchmod(fd, mode & 07777 & ~(mode_t)06000) == -1) {
		nem_err_sys(err, errno, "copy to %s: cannot write the file",
		    dest);
		goto fail;
	}
	if (renameat(dir_fd, tmp, dir_fd, base) == -1) {
		nem_err_sys(err, errno, "copy to %s: cannot replace it", dest);
		goto fail;
	}
	close(fd);
	close(dir_fd);
	return 0;

fail:
	close(fd);
	unlinkat(dir_fd, tmp, 0);
	close(dir_fd);
	return -1;
}

/* Opens path as an O_PATH directory descriptor without following symlinks. */
static int
open_dir_nofollow(const char *path, struct nem_err *err)
{
	int fd = linux_openat2(AT_FDCWD, path, O_PATH | O_DIRECTORY | O_CLOEXEC,
	    0, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);

	if (fd == -1)
		nem_err_sys(err, errno, "cannot open %s (it must be a "
		    "directory reached without symlinks)", path);
	return fd;
}

int
os_mount_make_private(const char *path, struct nem_err *err)
{
	char proc_path[64];
	struct statx stx;
	int fd;

	if (path == NULL || path[0] != '/')
		return nem_err_set(err, EINVAL, "%s is not an absolute path",
		    path ? path : "(null)");
	fd = open_dir_nofollow(path, err);
	if (fd == -1)
		return -1;
	if (statx(fd, "", AT_EMPTY_PATH, 0, &stx) == -1) {
		nem_err_sys(err, errno, "cannot stat %s", path);
		close(fd);
		return -1;
	}
	snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", fd);

	/* Only a mount point can have its own propagation type. */
	if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) ||
	    !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) {
		if (mount(proc_path, proc_path, NULL, MS_BIND, NULL) == -1) {
			nem_err_sys(err, errno, "cannot bind-mount %s onto "
			    "itself", path);
			close(fd);
			return -1;
		}
		close(fd);
		fd = open_dir_nofollow(path, err);
		if (fd == -1)
			return -1;
		snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", fd);
	}
	if (mount(NULL, proc_path, NULL, MS_PRIVATE | MS_REC, NULL) == -1) {
		nem_err_sys(err, errno, "cannot make the mounts at %s private",
		    path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
