/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Filling and extending struct nem_err. Formatting never allocates, so these
 * work while out of memory; a message that does not fit is cut and marked.
 */
#include <nem/err.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void
mark_cut(char *msg, int written)
{
	if (written >= NEM_ERR_MSG_MAX)
		memcpy(msg + NEM_ERR_MSG_MAX - 4, "...", 4);
}

int
nem_err_set(struct nem_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	mark_cut(err->msg, n);
	return -1;
}

int
nem_err_sys(struct nem_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	size_t len;
	int n;

	if (err == NULL)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	len = (size_t)n < sizeof(err->msg) ? (size_t)n : sizeof(err->msg) - 1;
	n = (int)len + snprintf(err->msg + len, sizeof(err->msg) - len, ": %s",
	    strerror(code));
	mark_cut(err->msg, n);
	return -1;
}

void
nem_err_prefix(struct nem_err *err, const char *fmt, ...)
{
	char old[NEM_ERR_MSG_MAX];
	va_list ap;
	size_t len;
	int n;

	if (err == NULL)
		return;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	len = (size_t)n < sizeof(err->msg) ? (size_t)n : sizeof(err->msg) - 1;
	n = (int)len + snprintf(err->msg + len, sizeof(err->msg) - len, ": %s",
	    old);
	mark_cut(err->msg, n);
}

void
nem_err_clear(struct nem_err *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}
