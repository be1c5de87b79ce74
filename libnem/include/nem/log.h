/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Logging for every NEM program. One line per event, in the form
 * "role: subject: message[: system error]", to stderr (foreground, early
 * boot) or syslog. Every function preserves errno, and the level is checked
 * inside the functions, so debug lines stay compiled and tested.
 */
#ifndef NEM_LOG_H
#define NEM_LOG_H

#include <stdarg.h>

enum log_dest {
	LOG_DEST_STDERR,	/* plain lines on standard error */
	LOG_DEST_SYSLOG,	/* syslog(3), facility daemon */
};

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/*
 * Sets where lines go and the highest level written. Lines above the level
 * are dropped. May be called again at any time (for example once syslog is
 * available, or after a configuration reload).
 */
void log_init(enum log_dest dest, enum log_level level);

/* Sets the role tag printed first on every line (program or process role). */
void log_role(const char *role);

/* Returns the current level, so callers can skip expensive formatting. */
enum log_level log_get_level(void);

/*
 * Parses "error", "warn", "info" or "debug" into *level. Returns 0, or -1 on
 * an unknown name.
 */
int log_level_parse(const char *name, enum log_level *level);

/* Logs at error level with ": strerror(errno)" appended. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs at error level. */
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_vwrite(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * Log at error level (fatal adds strerror(errno)) and exit(1). For workers
 * and for the time before initialization completes, never for PID 1 after
 * it.
 */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
