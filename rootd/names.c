/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The naming rule for everything an operator names. See names.h.
 */
#include "names.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int
name_char_ok(unsigned char c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return !first && (c == '_' || c == '.' || c == '-');
}

/*
 * Writes name into buf for an error message: printable ASCII as is, every
 * other byte as \xNN, and "..." when more than 32 bytes of name are left
 * out. A message therefore stays on one line whatever the name holds.
 */
static const char *
name_quote(const char *name, size_t len, char *buf, size_t size)
{
	size_t out = 0, i;

	for (i = 0; i < len && i < 32 && out + 5 < size; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
			buf[out++] = (char)c;
		else
			out += (size_t)snprintf(buf + out, size - out,
			    "\\x%02x", c);
	}
	if (i < len && out + 4 <= size) {
		memcpy(buf + out, "...", 3);
		out += 3;
	}
	buf[out] = '\0';
	return buf;
}

int
name_check_len(const char *kind, const char *name, size_t len,
    struct nem_err *err)
{
	char quoted[160];

	if (len == 0)
		return nem_err_set(err, EINVAL, "invalid %s name: empty; "
		    "use 1 to %d letters, digits, '_', '.' or '-'", kind,
		    NAME_MAX_LEN);
	if (len > NAME_MAX_LEN)
		return nem_err_set(err, EINVAL, "invalid %s name \"%s\": "
		    "%zu bytes, the maximum is %d", kind,
		    name_quote(name, len, quoted, sizeof(quoted)), len,
		    NAME_MAX_LEN);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (name_char_ok(c, i == 0))
			continue;
		if (i == 0 && (c == '_' || c == '.' || c == '-'))
			return nem_err_set(err, EINVAL, "invalid %s name "
			    "\"%s\": must start with a letter or a digit",
			    kind, name_quote(name, len, quoted,
			    sizeof(quoted)));
		if (c < 0x20 || c >= 0x7f)
			return nem_err_set(err, EINVAL, "invalid %s name: byte "
			    "0x%02x at offset %zu; use only letters, digits, "
			    "'_', '.' or '-'", kind, c, i);
		return nem_err_set(err, EINVAL, "invalid %s name \"%s\": "
		    "character '%c' at offset %zu; use only letters, digits, "
		    "'_', '.' or '-'", kind,
		    name_quote(name, len, quoted, sizeof(quoted)), c, i);
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
