/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Lexical path rules for configuration values. See path.h. Messages show
 * the offending component, because a path that looks right at a glance
 * ("/srv//data", "/srv/./data") is exactly what these checks catch.
 */
#include "path.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

#define ABS_FORM "write an absolute path such as \"/srv/data\", without " \
	"\"//\", \".\" or \"..\" components and without a trailing '/'"
#define ANY_FORM "write a path such as \"files/resolv.conf\" or " \
	"\"/etc/nem/files/resolv.conf\", without \"//\", \".\" or \"..\" " \
	"components and without a trailing '/'"

static int
check(const char *what, const char *path, size_t len, bool absolute,
    struct nem_err *err)
{
	const char *form = absolute ? ABS_FORM : ANY_FORM;
	char p[UNITS_PREVIEW_SIZE];
	size_t start;

	units_preview(path, len, p);
	if (len == 0)
		return nem_err_set(err, EINVAL, "invalid %s: empty; %s", what,
		    form);
	if (len > PATH_DEST_MAX)
		return nem_err_set(err, EINVAL, "invalid %s \"%s\": %zu bytes, "
		    "the maximum is %d", what, p, len, PATH_DEST_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c < 0x20 || c == 0x7f)
			return nem_err_set(err, EINVAL, "invalid %s \"%s\": "
			    "control byte 0x%02x at offset %zu", what, p, c, i);
	}
	if (absolute && path[0] != '/')
		return nem_err_set(err, EINVAL, "invalid %s \"%s\": not an "
		    "absolute path; %s", what, p, form);
	if (len == 1 && path[0] == '/')
		return 0;
	if (path[len - 1] == '/')
		return nem_err_set(err, EINVAL, "invalid %s \"%s\": trailing "
		    "'/'; %s", what, p, form);

	/* Walk the components between slashes. */
	start = path[0] == '/' ? 1 : 0;
	while (start <= len) {
		const char *end = memchr(path + start, '/', len - start);
		size_t clen = (end ? (size_t)(end - path) : len) - start;

		if (clen == 0)
			return nem_err_set(err, EINVAL, "invalid %s \"%s\": "
			    "empty component (\"//\"); %s", what, p, form);
		if ((clen == 1 && path[start] == '.') ||
		    (clen == 2 && path[start] == '.' && path[start + 1] == '.'))
			return nem_err_set(err, EINVAL, "invalid %s \"%s\": "
			    "\"%.*s\" component; %s", what, p, (int)clen,
			    path + start, form);
		start += clen + 1;
	}
	return 0;
}

int
path_check_abs(const char *what, const char *path, size_t len,
    struct nem_err *err)
{
	return check(what, path, len, true, err);
}

int
path_check_any(const char *what, const char *path, size_t len,
    struct nem_err *err)
{
	return check(what, path, len, false, err);
}

bool
path_is_below(const char *path, const char *dir)
{
	size_t dlen = strlen(dir);

	if (dlen == 1 && dir[0] == '/')
		return path[0] == '/' && path[1] != '\0';
	return strncmp(path, dir, dlen) == 0 && path[dlen] == '/' &&
	    path[dlen + 1] != '\0';
}

char *
path_join(const char *dir, const char *path, struct nem_err *err)
{
	size_t dlen, plen, total;
	char *out;

	if (path[0] == '/')
		dir = "";
	dlen = strlen(dir);
	plen = strlen(path);
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	if (__builtin_add_overflow(dlen, plen, &total) ||
	    __builtin_add_overflow(total, 2, &total)) {
		nem_err_set(err, ENAMETOOLONG, "path \"%s\" is too long",
		    path);
		return NULL;
	}
	if (total - 2 > PATH_DEST_MAX) {
		nem_err_set(err, ENAMETOOLONG, "path \"%.*s/%s\" is longer "
		    "than %d bytes", (int)dlen, dir, path, PATH_DEST_MAX);
		return NULL;
	}
	out = malloc(total);
	if (out == NULL) {
		nem_err_sys(err, ENOMEM, "cannot join \"%s\" and \"%s\"", dir,
		    path);
		return NULL;
	}
	if (dlen == 0 || (dlen == 1 && dir[0] == '/'))
		snprintf(out, total, "%s%s", dlen == 1 ? "/" : "", path);
	else
		snprintf(out, total, "%.*s/%s", (int)dlen, dir, path);
	return out;
}
