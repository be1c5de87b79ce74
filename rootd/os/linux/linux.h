/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Helpers shared by the Linux files of the platform seam: openat2, safe
 * resolution of a destination inside a jail root, and the new mount API.
 * Private to rootd/os/linux; nothing outside that folder includes it.
 */
#ifndef ROOTD_OS_LINUX_H
#define ROOTD_OS_LINUX_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/openat2.h>

#include <nem/err.h>

/* openat2(2), which glibc 2.36 does not wrap. */
int linux_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
    uint64_t resolve);

/*
 * Checks that dest is an absolute, normalized path: it starts with '/',
 * has no empty, "." or ".." component and no trailing '/' (except "/"
 * itself), and is shorter than PATH_MAX. Returns 0, or -1 with EINVAL.
 */
int linux_dest_check(const char *dest, struct nem_err *err);

/*
 * Opens the directory dest inside the tree whose top is root_fd, as an
 * O_PATH descriptor, without following any symbolic link. With create,
 * missing directories are made one component at a time (mode 0755) relative
 * to the descriptor of their parent. Returns the descriptor, or -1 with err
 * set: ELOOP or EXDEV when dest resolves through a symlink or outside the
 * jail, EROFS when a directory is missing on a read-only file system,
 * ENOTDIR when a component is not a directory.
 */
int linux_resolve_dir(int root_fd, const char *dest, bool create,
    struct nem_err *err);

/*
 * One fsconfig(2) string option for linux_fs_mount; value NULL sets a flag.
 */
struct linux_fs_opt {
	const char *key;
	const char *value;
};

/*
 * Creates a detached mount of fstype from source (NULL for none) with the
 * options opts[0..nopts) and the MOUNT_ATTR_* mask attrs. The kernel's
 * own message for a rejected option or source is added to err.
 * Returns the mount descriptor (close-on-exec; closing it unmounts the tree
 * while it is detached), or -1 with err set.
 */
int linux_fs_mount(const char *fstype, const char *source,
    const struct linux_fs_opt *opts, size_t nopts, unsigned attrs,
    struct nem_err *err);

/*
 * Attaches the detached mount mnt_fd onto the directory target_fd.
 * Returns 0, or -1 with err set naming dest.
 */
int linux_mount_attach(int mnt_fd, int target_fd, const char *dest,
    struct nem_err *err);

#endif
