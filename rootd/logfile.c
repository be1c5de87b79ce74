/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Output capture for supervised processes: a pipe per log file, read on the
 * daemon's event loop and appended to <path>, which is renamed to
 * <path>.1 (replacing the older copy) once it would grow past max_bytes.
 * The daemon never blocks on a child's output: the read end is
 * non-blocking, and a child that writes faster than the disk simply waits
 * on a full pipe. No descriptor opened here is inherited by a child except
 * the write end that the spawn path duplicates onto fds 1 and 2.
 */
#include "logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/log.h>

struct logfile_follower {
	TAILQ_ENTRY(logfile_follower) entry;
	logfile_data_fn fn;
	void *arg;
	bool removed;		/* unfollowed during a dispatch */
};

struct logfile {
	char *path;
	char *old_path;		/* path + ".1" */
	int file_fd;		/* O_APPEND, or -1 after a failed reopen */
	uint64_t size;		/* bytes in the current file */
	uint64_t max_bytes;
	int pipe_rd;
	int pipe_wr;
	struct event *ev;
	TAILQ_HEAD(, logfile_follower) followers;
	bool dispatching;
	unsigned write_errors;	/* write failures logged so far */
};

/* Write failures are logged this many times per log file, then counted. */
#define LOGFILE_ERRORS_LOGGED 3

static int
open_file(struct logfile *lf, struct nem_err *err)
{
	struct stat st;
	int fd;

	fd = open(lf->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd == -1)
		return nem_err_sys(err, errno, "open log file %s", lf->path);
	if (fstat(fd, &st) == -1) {
		nem_err_sys(err, errno, "stat log file %s", lf->path);
		close(fd);
		return -1;
	}
	lf->file_fd = fd;
	lf->size = (uint64_t)st.st_size;
	return 0;
}

/* Renames the file to <path>.1 and starts an empty one. */
static void
rotate(struct logfile *lf)
{
	struct nem_err err;

	if (rename(lf->path, lf->old_path) == -1) {
		log_err("log %s: rotate to %s failed; the file keeps growing",
		    lf->path, lf->old_path);
		return;
	}
	close(lf->file_fd);
	lf->file_fd = -1;
	if (open_file(lf, &err) == -1)
		log_errx("log %s: %s; output is dropped until the next "
		    "rotation", lf->path, err.msg);
}

static void
append(struct logfile *lf, const char *data, size_t len)
{
	struct logfile_follower *f, *next;
	uint64_t grown;

	if (__builtin_add_overflow(lf->size, (uint64_t)len, &grown) ||
	    (grown > lf->max_bytes && lf->size > 0))
		rotate(lf);
	if (lf->file_fd == -1 && open_file(lf, NULL) == -1)
		lf->write_errors++;
	if (lf->file_fd != -1) {
		ssize_t n = write(lf->file_fd, data, len);

		if (n == -1 || (size_t)n != len) {
			if (lf->write_errors++ < LOGFILE_ERRORS_LOGGED)
				log_err("log %s: write of %zu bytes failed "
				    "(%u failures so far)", lf->path, len,
				    lf->write_errors);
		}
		if (n > 0)
			lf->size += (uint64_t)n;
	}

	lf->dispatching = true;
	TAILQ_FOREACH(f, &lf->followers, entry) {
		if (!f->removed)
			f->fn(f->arg, data, len);
	}
	lf->dispatching = false;
	for (f = TAILQ_FIRST(&lf->followers); f != NULL &&
	    ((next = TAILQ_NEXT(f, entry)), 1); f = next) {
		if (f->removed) {
			TAILQ_REMOVE(&lf->followers, f, entry);
			free(f);
		}
	}
}

/*
 * Reads the data now in the pipe, and returns false at end of file or on an
 * error.
 */
static bool
drain(struct logfile *lf)
{
	char buf[LOGFILE_CHUNK];
	ssize_t n;

	for (;;) {
		n = read(lf->pipe_rd, buf, sizeof(buf));
		if (n > 0) {
			append(lf, buf, (size_t)n);
			continue;
		}
		if (n == 0)
			return false;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return true;
		log_err("log %s: read from the output pipe failed", lf->path);
		return false;
	}
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct logfile *lf = arg;

	/* The write end stays open here, so end of file cannot happen. */
	if (!drain(lf))
		event_del(lf->ev);
}

struct logfile *
logfile_open(struct event_base *base, const char *path, uint64_t max_bytes,
    struct nem_err *err)
{
	struct logfile *lf;
	int fds[2];

	if (max_bytes < LOGFILE_CHUNK) {
		nem_err_set(err, EINVAL, "log %s: maximum size %llu is below "
		    "%d bytes", path, (unsigned long long)max_bytes,
		    LOGFILE_CHUNK);
		return NULL;
	}
	lf = calloc(1, sizeof(*lf));
	if (lf == NULL) {
		nem_err_sys(err, ENOMEM, "log %s", path);
		return NULL;
	}
	lf->file_fd = lf->pipe_rd = lf->pipe_wr = -1;
	lf->max_bytes = max_bytes;
	TAILQ_INIT(&lf->followers);
	lf->path = strdup(path);
	if (lf->path == NULL || asprintf(&lf->old_path, "%s.1", path) == -1) {
		lf->old_path = NULL;
		nem_err_sys(err, ENOMEM, "log %s", path);
		goto fail;
	}
	if (open_file(lf, err) == -1)
		goto fail;
	if (pipe2(fds, O_CLOEXEC) == -1) {
		nem_err_sys(err, errno, "log %s: create output pipe", path);
		goto fail;
	}
	lf->pipe_rd = fds[0];
	lf->pipe_wr = fds[1];
	if (fcntl(lf->pipe_rd, F_SETFL, O_NONBLOCK) == -1) {
		nem_err_sys(err, errno, "log %s: make pipe non-blocking", path);
		goto fail;
	}
	lf->ev = event_new(base, lf->pipe_rd, EV_READ | EV_PERSIST,
	    on_readable, lf);
	if (lf->ev == NULL || event_add(lf->ev, NULL) == -1) {
		nem_err_set(err, ENOMEM, "log %s: add the pipe to the event "
		    "loop failed", path);
		goto fail;
	}
	return lf;

fail:
	logfile_free(lf);
	return NULL;
}

void
logfile_free(struct logfile *lf)
{
	struct logfile_follower *f;

	if (lf == NULL)
		return;
	if (lf->pipe_rd != -1)
		(void)drain(lf);
	if (lf->ev != NULL)
		event_free(lf->ev);
	while ((f = TAILQ_FIRST(&lf->followers)) != NULL) {
		TAILQ_REMOVE(&lf->followers, f, entry);
		free(f);
	}
	if (lf->pipe_rd != -1)
		close(lf->pipe_rd);
	if (lf->pipe_wr != -1)
		close(lf->pipe_wr);
	if (lf->file_fd != -1)
		close(lf->file_fd);
	free(lf->old_path);
	free(lf->path);
	free(lf);
}

int
logfile_fd(const struct logfile *lf)
{
	return lf->pipe_wr;
}

const char *
logfile_path(const struct logfile *lf)
{
	return lf->path;
}

void
logfile_note(struct logfile *lf, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	append(lf, line, (size_t)n);
}

struct logfile_follower *
logfile_follow(struct logfile *lf, logfile_data_fn fn, void *arg,
    struct nem_err *err)
{
	struct logfile_follower *f;

	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		nem_err_sys(err, ENOMEM, "log %s: add follower", lf->path);
		return NULL;
	}
	f->fn = fn;
	f->arg = arg;
	TAILQ_INSERT_TAIL(&lf->followers, f, entry);
	return f;
}

void
logfile_unfollow(struct logfile *lf, struct logfile_follower *f)
{
	if (f == NULL)
		return;
	if (lf->dispatching) {
		f->removed = true;
		return;
	}
	TAILQ_REMOVE(&lf->followers, f, entry);
	free(f);
}

/*
 * Reads up to want bytes from the end of the file at path into buf + at,
 * where buf has room for want bytes. A missing file reads as empty.
 * Returns the bytes read, or -1 with err.
 */
static ssize_t
read_end(const char *path, char *buf, size_t want, struct nem_err *err)
{
	struct stat st;
	off_t start;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		return nem_err_sys(err, errno, "open log file %s", path);
	}
	if (fstat(fd, &st) == -1) {
		nem_err_sys(err, errno, "stat log file %s", path);
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size < want)
		want = (size_t)st.st_size;
	start = st.st_size - (off_t)want;
	while (got < want) {
		ssize_t n = pread(fd, buf + got, want - got,
		    start + (off_t)got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			nem_err_sys(err, errno, "read log file %s", path);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

int
logfile_tail(const char *path, size_t max_bytes, char **out, size_t *len,
    struct nem_err *err)
{
	char *old_path = NULL, *cur = NULL, *buf = NULL;
	ssize_t ncur, nold = 0;
	size_t total;

	*out = NULL;
	*len = 0;
	if (__builtin_add_overflow(max_bytes, (size_t)1, &total))
		return nem_err_set(err, EINVAL, "log %s: tail size too large",
		    path);
	cur = malloc(total);
	buf = malloc(total);
	if (cur == NULL || buf == NULL || asprintf(&old_path, "%s.1",
	    path) == -1) {
		old_path = NULL;
		nem_err_sys(err, ENOMEM, "log %s: tail", path);
		goto fail;
	}
	ncur = read_end(path, cur, max_bytes, err);
	if (ncur == -1)
		goto fail;
	if ((size_t)ncur < max_bytes) {
		nold = read_end(old_path, buf, max_bytes - (size_t)ncur, err);
		if (nold == -1)
			goto fail;
	}
	memcpy(buf + nold, cur, (size_t)ncur);
	buf[nold + ncur] = '\0';
	*out = buf;
	*len = (size_t)(nold + ncur);
	free(cur);
	free(old_path);
	return 0;

fail:
	free(cur);
	free(buf);
	free(old_path);
	return -1;
}
