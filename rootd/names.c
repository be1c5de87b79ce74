/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The naming rule for everything an operator names. See names.h.
 */
#include "names.h"

#include <errno.h>
#include <string.h>

static int
name_char_ok(unsigned char c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return !first && (c == '_' || c == '.' || c == '-');
}

int
name_check_len(const char *kind, const char *name, size_t len,
    struct nem_err *err)
{
	if (len == 0)
		return nem_err_set(err, EINVAL, "invalid %s name: empty; "
		    "use 1 to %d letters, digits, '_', '.' or '-'", kind,
		    NAME_MAX_LEN);
	if (len > NAME_MAX_LEN)
		return nem_err_set(err, EINVAL, "invalid %s name \"%.20s...\": "
		    "%zu bytes, the maximum is %d", kind, name, len,
		    NAME_MAX_LEN);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (name_char_ok(c, i == 0))
			continue;
		if (i == 0 && (c == '_' || c == '.' || c == '-'))
			return nem_err_set(err, EINVAL, "invalid %s name "
			    "\"%.*s\": must start with a letter or a digit",
			    kind, (int)len, name);
		if (c < 0x20 || c >= 0x7f)
			return nem_err_set(err, EINVAL, "invalid %s name: byte "
			    "0x%02x at offset %zu; use only letters, digits, "
			    "'_', '.' or '-'", kind, c, i);
		return nem_err_set(err, EINVAL, "invalid %s name \"%.*s\": "
		    "character '%c' at offset %zu; use only letters, digits, "
		    "'_', '.' or '-'", kind, (int)len, name, c, i);
	}
	return 0;
}

int
name_check(const char *kind, const char *name, struct nem_err *err)
{
	if (name == NULL)
		return nem_err_set(err, EINVAL, "missing %s name", kind);
	return name_check_len(kind, name, strlen(name), err);
}
