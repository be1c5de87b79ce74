/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Helpers shared by the FreeBSD files of the platform seam. Private to
 * rootd/os/freebsd.
 *
 * NOTE: the FreeBSD backend is compile-unchecked: it was written without a
 * FreeBSD machine or cross compiler, against the FreeBSD 14 manual pages.
 */
#ifndef ROOTD_OS_FREEBSD_H
#define ROOTD_OS_FREEBSD_H

#include <stdbool.h>

#include <nem/err.h>

/* Same contract as linux_dest_check: absolute and normalized. */
int freebsd_dest_check(const char *dest, struct nem_err *err);

/*
 * Opens directory dest below root_fd one component at a time with
 * O_NOFOLLOW and O_RESOLVE_BENEATH, creating missing ones (mode 0755) when
 * create is set. Returns a directory descriptor, or -1 with err set (ELOOP
 * for a symlink or a way out of the jail, EROFS on a read-only file
 * system, ENOTDIR).
 */
int freebsd_resolve_dir(int root_fd, const char *dest, bool create,
    struct nem_err *err);

/*
 * Mounts with nmount(2) onto the directory dir_fd: the process changes to
 * dir_fd and passes "." as fspath, so no path is looked up twice. iov
 * contains name/value pairs without fstype and fspath; flags are MNT_*.
 * Returns 0, or -1 with err set and the kernel's errmsg appended.
 */
int freebsd_mount_at(int dir_fd, const char *dest, const char *fstype,
    struct iovec *iov, unsigned niov, int flags, struct nem_err *err);

#endif
