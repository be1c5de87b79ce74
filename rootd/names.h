/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The one naming rule for jails, images, volumes, shares, services and
 * unjailed hosts. Every entry point (jail file stem, configuration keys,
 * control requests, nemctl) checks names through this module, so a name
 * accepted in one place works everywhere.
 */
#ifndef ROOTD_NAMES_H
#define ROOTD_NAMES_H

#include <stddef.h>

#include <nem/err.h>

/*
 * Maximum length of a name in bytes. It keeps a jail name usable as a host
 * name (at most 64 bytes on Linux and FreeBSD) and keeps paths derived from
 * names, such as unix socket paths under the run directory, short.
 */
#define NAME_MAX_LEN 63

/*
 * Checks that name is 1 to NAME_MAX_LEN bytes of ASCII letters, digits, '_',
 * '.' and '-', starting with a letter or a digit. That rules out "", ".",
 * "..", "/", leading dots and dashes, spaces, control characters and
 * non-ASCII bytes. kind ("jail", "image", ...) is used in the message.
 * Returns 0, or -1 with EINVAL in err.
 */
int name_check(const char *kind, const char *name, struct nem_err *err);

/* Same as name_check for a name that is not NUL-terminated (from the wire). */
int name_check_len(const char *kind, const char *name, size_t len,
    struct nem_err *err);

#endif
