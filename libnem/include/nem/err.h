/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Error reporting shared by every NEM component. A fallible function returns
 * -1 (or NULL) and fills a caller-supplied struct nem_err: an errno-style
 * code to branch on and a fixed-size message to show. No allocation is
 * needed, so errors can be reported while out of memory.
 */
#ifndef NEM_ERR_H
#define NEM_ERR_H

#include <stddef.h>

#define NEM_ERR_MSG_MAX 512

/* An error: code is an errno value (0 when no error), msg a message. */
struct nem_err {
	int code;
	char msg[NEM_ERR_MSG_MAX];
};

/*
 * Sets err to code and the formatted message, and returns -1 so that a
 * failure site reads `return nem_err_set(err, EINVAL, "...")`. A NULL err
 * is allowed and ignored. A message longer than NEM_ERR_MSG_MAX - 1 bytes is
 * cut and ends in "...".
 */
int nem_err_set(struct nem_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Like nem_err_set, with ": strerror(code)" appended to the message.
 */
int nem_err_sys(struct nem_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Prepends the formatted context and ": " to err's message while an error
 * unwinds, e.g. nem_err_prefix(err, "jail %s", name). Keeps the code.
 */
void nem_err_prefix(struct nem_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets err to "no error". */
void nem_err_clear(struct nem_err *err);

#endif
