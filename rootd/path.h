/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Rules for paths written in configuration files: mount destinations inside
 * a jail, working directories, host paths. A checked path is absolute and
 * normalized, so two spellings of one place cannot pass as two places and
 * no ".." can climb out of a jail root. These checks are lexical only; the
 * jail runtime still resolves mount targets without following symlinks.
 */
#ifndef ROOTD_PATH_H
#define ROOTD_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include <nem/err.h>

/* Maximum length of a checked path in bytes, without the final NUL. */
#define PATH_DEST_MAX 1024

/*
 * Checks that the len bytes at path form an absolute, normalized path: it
 * starts with '/', has no empty ("//"), "." or ".." component, no trailing
 * '/' unless it is "/", no NUL or other control byte, and is at most
 * PATH_DEST_MAX bytes. what ("dest", "workdir", ...) names the value in the
 * message. Returns 0, or -1 with EINVAL in err.
 */
int path_check_abs(const char *what, const char *path, size_t len,
    struct nem_err *err);

/*
 * Same rules as path_check_abs(), except that the path may also be relative
 * (not starting with '/'); a relative path still has no "." or ".."
 * component, so it stays below the folder it is resolved against. Returns 0,
 * or -1 with EINVAL in err.
 */
int path_check_any(const char *what, const char *path, size_t len,
    struct nem_err *err);

/*
 * Returns true when path is strictly below dir (both absolute and
 * normalized), such as "/dev/vdb1" below "/dev"; dir itself is not below.
 */
bool path_is_below(const char *path, const char *dir);

/*
 * Joins dir and a relative path with one '/'; an absolute path is copied
 * as it is. Returns a string to free(), or NULL with ENOMEM or
 * ENAMETOOLONG (result longer than PATH_DEST_MAX) in err.
 */
char *path_join(const char *dir, const char *path, struct nem_err *err);

#endif
