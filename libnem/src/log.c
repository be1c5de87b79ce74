/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The log sink shared by every NEM program: stderr or syslog, one line per
 * call, prefixed with the role. State is process-global and not locked, so
 * a multi-threaded program must call log_init and log_role before it starts
 * threads.
 */
#include <nem/log.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static enum log_dest log_dest = LOG_DEST_STDERR;
static enum log_level log_level = LOG_LEVEL_INFO;
static const char *log_tag = "nem";

void
log_init(enum log_dest dest, enum log_level level)
{
	if (dest == LOG_DEST_SYSLOG && log_dest != LOG_DEST_SYSLOG)
		openlog(log_tag, LOG_PID | LOG_NDELAY | LOG_CONS, LOG_DAEMON);
	else if (dest != LOG_DEST_SYSLOG && log_dest == LOG_DEST_SYSLOG)
		closelog();
	log_dest = dest;
	log_level = level;
}

void
log_role(const char *role)
{
	log_tag = role;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_level_parse(const char *name, enum log_level *level)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void
log_line(enum log_level level, const char *fmt, va_list ap, int errnum)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char msg[2048];
	size_t len;
	int saved = errno;
	int n;

	if (level > log_level)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		msg[0] = '\0';
	len = strlen(msg);
	if (errnum != 0)
		snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(errnum));

	/*
	 * One event is one line: a newline or another control character,
	 * say in a file name, cannot forge or split log lines. That covers
	 * ASCII controls, the C1 controls U+0080-U+009F (such as NEL) and
	 * the separators U+2028 and U+2029 in UTF-8.
	 */
	for (unsigned char *p = (unsigned char *)msg; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			*p = '?';
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			p[0] = p[1] = '?';
			p++;
		} else if (p[0] == 0xe2 && p[1] == 0x80 &&
		    (p[2] == 0xa8 || p[2] == 0xa9)) {
			p[0] = p[1] = p[2] = '?';
			p += 2;
		}
	}
	if (log_dest == LOG_DEST_SYSLOG) {
		syslog(prio[level], "%s", msg);
	} else {
		struct timespec ts;
		struct tm tm;
		char stamp[96] = "";

		if (clock_gettime(CLOCK_REALTIME, &ts) == 0 &&
		    gmtime_r(&ts.tv_sec, &tm) != NULL)
			snprintf(stamp, sizeof(stamp),
			    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
			    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			    tm.tm_hour, tm.tm_min, tm.tm_sec,
			    ts.tv_nsec / 1000000);
		fprintf(stderr, "%s%s: %s\n", stamp, log_tag, msg);
	}
	errno = saved;
}

void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	log_line(level, fmt, ap, 0);
}

#define LOG_BODY(level, errnum)			\
	do {					\
		va_list ap;			\
		int e_ = (errnum);		\
		va_start(ap, fmt);		\
		log_line((level), fmt, ap, e_);	\
		va_end(ap);			\
	} while (0)

void
log_err(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, errno);
}

void
log_errx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, 0);
}

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, 0);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, 0);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, 0);
}

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, errno);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, 0);
	exit(1);
}
