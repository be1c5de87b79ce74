/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The platform seam of nem-rootd: disks, mounts, jails, users, signals,
 * crash-recovery listings, reaper and peer credentials. Everything that
 * differs between Linux and FreeBSD sits behind this header, with one
 * implementation folder per platform (os/linux, os/freebsd) chosen by meson.
 * No other part of the daemon includes a platform header for these tasks.
 *
 * Every function that can fail returns 0 (or a valid descriptor) on success
 * and -1 on failure, and fills the caller-supplied struct nem_err passed
 * last. Every descriptor these functions open is close-on-exec.
 */
#ifndef ROOTD_OS_H
#define ROOTD_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nem/err.h>

/* Maximum length of a device path such as "/dev/loop12" or "/dev/md3". */
#define OS_DEV_PATH_MAX 32

/* Maximum number of supplementary groups resolved for a jail user. */
#define OS_GROUPS_MAX 64

/* Maximum size of a jail's /etc/passwd or /etc/group that is read. */
#define OS_USER_FILE_MAX (1024 * 1024)

/*
 * Disks: image files attached as block devices (Linux loop devices,
 * FreeBSD md(4) vnode devices).
 */

/* Flags of os_disk_attach. */
#define OS_DISK_READ_ONLY 0x1u	/* the device rejects writes */
/*
 * Bypass the page cache of the image file (LO_FLAGS_DIRECT_IO). Not a
 * default: reading 32 MiB through squashfs took about 3x longer with it
 * when the image file was already cached (bench/start/bench_start).
 */
#define OS_DISK_DIRECT_IO 0x2u

/* An attached disk. */
struct os_disk {
	char path[OS_DEV_PATH_MAX];	/* device node, e.g. "/dev/loop7" */
	int index;			/* unit number: 7 for /dev/loop7 */
	dev_t dev;			/* device number of the node */
	dev_t backing_dev;		/* st_dev of the image file */
	ino_t backing_ino;		/* st_ino of the image file */
	int fd;				/* open device node, or -1 */
};

/*
 * Attaches the image file open as image_fd to a free block device.
 * flags is a mask of OS_DISK_*. On Linux the device is configured with
 * LOOP_CONFIGURE and LO_FLAGS_AUTOCLEAR: the kernel frees it when its last
 * user goes away, so disk->fd holds it until the caller has mounted it and
 * calls os_disk_release. The race with another process taking the same
 * free device is retried a bounded number of times. image_fd stays owned
 * by the caller and may be closed after the call.
 * Returns 0 and fills *disk, or -1 with err set (EBUSY after too many lost
 * races, or the errno of the failed system call).
 */
int os_disk_attach(int image_fd, unsigned flags, struct os_disk *disk,
    struct nem_err *err);

/*
 * Closes disk->fd, leaving the device attached for as long as it is
 * mounted (Linux autoclear). FreeBSD md(4) devices stay attached until
 * os_disk_detach. Safe to call twice.
 */
void os_disk_release(struct os_disk *disk);

/*
 * Detaches disk and closes disk->fd. A device that is still mounted is
 * detached as soon as its last user closes it (Linux autoclear). A device
 * that is already free, or that now serves another image file (compared by
 * backing_dev and backing_ino), is left alone and is not an error.
 * Returns 0, or -1 with err set.
 */
int os_disk_detach(struct os_disk *disk, struct nem_err *err);

/*
 * Lists the attached disks whose backing file path starts with prefix
 * (a directory, compared component-wise: "/run/nem" matches
 * "/run/nem/x.img" but not "/run/nemo/x.img"). On success *disks is a
 * malloc'ed array of *count entries (each with fd -1) that the caller
 * frees with free(). Returns 0, or -1 with err set.
 */
int os_disk_list(const char *prefix, struct os_disk **disks, size_t *count,
    struct nem_err *err);

/*
 * md images: fixed-size read-write ext4 (Linux) or UFS (FreeBSD) image files.
 */

/* Flags of os_md_image_create. */
#define OS_MD_PERSIST 0x1u	/* keep an existing image (a volume) */

/*
 * Creates the md image file path of size bytes, formatted with an empty
 * file system. The start path runs no mkfs: a formatted template per size
 * is kept in cache_dir (created on first use, mode 0700). The image is a
 * clone of it, made with FICLONE where the file system supports it and
 * otherwise as a sparse copy of the data extents. With OS_MD_PERSIST an existing image is
 * kept as it is and never reformatted; a size different from size is an
 * error (EEXIST), never applied. Without OS_MD_PERSIST an existing file at
 * path is an error (EEXIST).
 * size must be a multiple of 1 MiB between 8 MiB and 16 TiB.
 * Returns 0, or -1 with err set. On failure a partly written new image is
 * removed; an existing persistent image is never touched.
 */
int os_md_image_create(const char *cache_dir, const char *path, uint64_t size,
    unsigned flags, struct nem_err *err);

/*
 * Makes sure the template for size exists in cache_dir, formatting it when
 * missing, so that a later os_md_image_create of that size starts no
 * process. The formatting runs a child process and waits for it, so call
 * this on the thread whose event loop reaps children, not on a worker
 * whose child that loop could reap first. size as for os_md_image_create.
 * Returns 0, or -1 with err set.
 */
int os_md_template_prepare(const char *cache_dir, uint64_t size,
    struct nem_err *err);

/*
 * Mounts. A jail root is the host directory under which the jail's tree is
 * built. Every destination is an absolute, normalized path inside the jail
 * ("/", "/var/db") and is resolved inside the root without following any
 * symbolic link, so a name swapped for a symlink cannot redirect a mount out
 * of the jail. Missing directories on the way are created (mode 0755,
 * owned by root) one component at a time, relative to descriptors.
 */

/* The open top of a jail's tree. */
struct os_root {
	int fd;		/* O_PATH descriptor of the top mount of the tree */
	char *path;	/* host path of the root directory, malloc'ed */
};

/*
 * Opens the existing directory path as a jail root. path must be absolute
 * and must not traverse a symbolic link. On success the caller owns *root
 * and releases it with os_root_close. Returns 0, or -1 with err set.
 */
int os_root_open(const char *path, struct os_root *root, struct nem_err *err);

/* Closes root's descriptor and frees its path. Safe on a zeroed root. */
void os_root_close(struct os_root *root);

/*
 * Each os_mount_* function mounts onto dest inside root. A mount at "/"
 * covers the root directory itself, and root->fd then refers to the new
 * mount, so later destinations resolve inside it.
 *
 * Errors common to all of them: EINVAL for a destination that is not
 * absolute and normalized; ELOOP or EXDEV when it resolves through a
 * symbolic link or outside the jail (the message names the destination and
 * the reason); EROFS when a missing directory would have to be created on a
 * read-only file system (the message names the directory to add to the
 * image); the errno of the failed system call otherwise.
 */

/* Mounts the read-only image on device (fstype "squashfs", "erofs",
 * "ext4", ...) with ro, nodev, nosuid. */
int os_mount_image(struct os_root *root, const char *dest, const char *device,
    const char *fstype, struct nem_err *err);

/* Mounts the md image on device read-write with nodev, nosuid. */
int os_mount_md(struct os_root *root, const char *dest, const char *device,
    struct nem_err *err);

/*
 * Bind-mounts the host directory source (a shared directory; not its
 * submounts) with nodev, nosuid, and read-only when read_only is true.
 * source must be absolute and must not traverse a symbolic link.
 */
int os_mount_bind(struct os_root *root, const char *dest, const char *source,
    bool read_only, struct nem_err *err);

/* Mounts the block device (a partition) of type fstype read-write with
 * nodev, nosuid. */
int os_mount_disk(struct os_root *root, const char *dest, const char *device,
    const char *fstype, struct nem_err *err);

/* Mounts a tmpfs of at most size bytes (0: the kernel default) with nodev,
 * nosuid, mode 01777. */
int os_mount_tmpfs(struct os_root *root, const char *dest, uint64_t size,
    struct nem_err *err);

/*
 * Mounts a minimal /dev at dest: a small tmpfs holding null, zero, full,
 * random, urandom and tty, a private devpts instance at pts with ptmx
 * pointing into it, and the fd, stdin, stdout and stderr links.
 */
int os_mount_dev(struct os_root *root, const char *dest, struct nem_err *err);

/*
 * Copies the regular file open as src_fd into the jail as dest with the
 * permission bits of mode (set-id bits are dropped), owned by root. An existing regular file at dest is
 * replaced. The file system at dest's parent must be writable (a tmpfs or md
 * image, or a writable image); src_fd stays owned by the caller.
 */
int os_copy_file(struct os_root *root, const char *dest, int src_fd,
    mode_t mode, struct nem_err *err);

/*
 * Makes the existing directory path (reached without symbolic links) a
 * mount point with private propagation, itself and every mount below it,
 * so mounts made under it are not propagated to or from other mount
 * namespaces. A directory that is not yet a mount point is first
 * bind-mounted onto itself. Calling it again is harmless.
 * Returns 0, or -1 with err set.
 */
int os_mount_make_private(const char *path, struct nem_err *err);

/* A mount found by os_mount_list. */
struct os_mount {
	char *path;	/* mount point (host path), malloc'ed */
	char *fstype;	/* file system type, malloc'ed */
	char *source;	/* mount source, malloc'ed */
	int id;		/* mount id, unique while mounted */
};

/*
 * Lists the mounts at or under prefix in this mount namespace, deepest
 * first (and, at the same depth, the most recent first), so unmounting in
 * list order works. *mounts is malloc'ed; free it with os_mount_list_free.
 * Returns 0, or -1 with err set.
 */
int os_mount_list(const char *prefix, struct os_mount **mounts, size_t *count,
    struct nem_err *err);

/* Frees a list returned by os_mount_list. */
void os_mount_list_free(struct os_mount *mounts, size_t count);

/*
 * Unmounts everything at or under prefix, deepest first. Each mount point
 * is reached without following symbolic links. A mount that cannot be
 * reached or unmounted normally is detached lazily (MNT_DETACH on Linux,
 * MNT_FORCE on FreeBSD) with a warning in the log. Loop devices with
 * autoclear free themselves when their mount goes away.
 * Returns 0 when nothing is left mounted under prefix, or -1 with err set.
 */
int os_unmount_under(const char *prefix, struct nem_err *err);

/*
 * Jails.
 */

/* Parameters of os_jail_spawn. */
struct os_jail_spec {
	const char *root;	/* host path of the jail root, fully mounted */
	const char *hostname;	/* host name inside the jail */
	bool share_network;	/* true: keep the host's network stack */
	const char *proc_dest;	/* where to mount proc in the jail, or NULL */
	uid_t uid;		/* user to run as */
	gid_t gid;		/* primary group */
	const gid_t *groups;	/* supplementary groups, ngroups entries */
	size_t ngroups;		/* at most OS_GROUPS_MAX */
	const char *workdir;	/* working directory inside the jail */
	char *const *argv;	/* argv[0] is the program's path in the jail */
	char *const *envp;	/* complete environment, NULL-terminated */
	int stdio[3];		/* become fds 0, 1, 2 */
	int channel_fd;		/* becomes fd 3 (the NEM channel), or -1 */
	bool exec_by_fd;	/* Linux: run the static program open at
				   exec_fd instead of the file at argv[0],
				   which then only names it */
	int exec_fd;		/* host descriptor of that program (nem-init),
				   so it needs no file in the jail's tree */
};

/* A started jail. */
struct os_jail {
	pid_t pid;	/* pid of the root process, as seen by the daemon */
	int pidfd;	/* Linux pidfd, FreeBSD process descriptor */
	int jid;	/* FreeBSD jail id; -1 on Linux */
};

/*
 * Starts spec->argv in a new jail rooted at spec->root. On FreeBSD it is
 * a persistent jail(2) with its own vnet (unless share_network), procfs
 * is mounted from the host, and the process starts with pdfork. On Linux
 * the root process gets new mount, PID, UTS, IPC and (unless
 * share_network) network namespaces with loopback up. Its mounts are made
 * private, proc is mounted at proc_dest inside the new PID namespace, and
 * it pivots into the root and detaches the old one. It then takes the
 * groups, gid and uid and changes to workdir, which is resolved in the jail
 * without magic links so that /proc/self/fd/N cannot lead out. Last it
 * resets signal dispositions and mask and executes argv with exactly
 * descriptors 0 to 3 open (0 to 2 when channel_fd is -1).
 * The descriptors in spec stay owned by the caller.
 *
 * A failure in the child before exec, the exec itself included, is
 * reported synchronously: the call returns -1 with a message such as
 * "exec failed: /bin/web: No such file or directory" and the child reaped.
 * On success *jail holds the pid and an owned pidfd; release it with
 * os_jail_release after the process is reaped.
 */
int os_jail_spawn(const struct os_jail_spec *spec, struct os_jail *jail,
    struct nem_err *err);

/*
 * Sends sig to the jail's root process through its descriptor, so a
 * recycled pid can never be hit. ESRCH when it has already exited. On
 * Linux the root process is PID 1 of its namespace: the kernel drops any
 * signal but SIGKILL and SIGSTOP unless the process handles it.
 * Returns 0, or -1 with err set.
 */
int os_jail_signal(const struct os_jail *jail, int sig, struct nem_err *err);

/*
 * Waits for the jail's root process to exit and reaps it. With nohang,
 * returns 1 when it is still running. Returns 0 with the wait status in
 * *status, or -1 with err set.
 */
int os_jail_wait(const struct os_jail *jail, bool nohang, int *status,
    struct nem_err *err);

/*
 * Releases what the platform keeps for a jail whose root process has been
 * reaped: the pidfd or process descriptor, and on FreeBSD the jail itself.
 * Leaves jail->pidfd at -1.
 */
void os_jail_release(struct os_jail *jail);

/*
 * Users.
 */

/* A user resolved inside a jail. */
struct os_user {
	uid_t uid;
	gid_t gid;
	gid_t groups[OS_GROUPS_MAX];	/* supplementary groups */
	size_t ngroups;
	char home[256];			/* home directory inside the jail */
};

/*
 * Resolves user (a name, or a decimal uid) from the jail's own etc/passwd
 * and etc/group, opened inside root without leaving it. The host's files
 * are never read. The supplementary groups are the primary gid followed by
 * the groups of etc/group that list the user. A decimal uid without an
 * entry runs with the gid of the same number, home "/" and no other
 * groups. Returns 0, or -1 with err set (ENOENT for an unknown user,
 * EFBIG for a file over OS_USER_FILE_MAX, EBADMSG for a malformed line of
 * the user's entry, E2BIG for more than OS_GROUPS_MAX groups).
 */
int os_user_lookup(const struct os_root *root, const char *user,
    struct os_user *out, struct nem_err *err);

/*
 * Resolves user from the contents of passwd (plen bytes) and group (glen
 * bytes, may be 0). Platform-neutral; os_user_lookup uses it. Same returns
 * as os_user_lookup.
 */
int os_user_parse(const char *passwd, size_t plen, const char *group,
    size_t glen, const char *user, struct os_user *out, struct nem_err *err);

/*
 * Process-level helpers.
 */

/*
 * Makes the daemon the reaper of its orphaned descendants when it is not
 * PID 1 (Linux PR_SET_CHILD_SUBREAPER, FreeBSD PROC_REAP_ACQUIRE).
 * Returns 0, or -1 with err set.
 */
int os_reaper_acquire(struct nem_err *err);

/*
 * Fills the credentials of the peer of the connected unix socket fd.
 * *pid is -1 where the platform does not report it. Returns 0, or -1 with
 * err set.
 */
int os_peer_cred(int fd, uid_t *uid, gid_t *gid, pid_t *pid,
    struct nem_err *err);

#endif
