/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Output capture of the processes nem-rootd supervises. A log file owns a
 * pipe whose write end becomes the child's stdout and stderr; the daemon
 * reads the other end on its event loop, appends what arrives to the file
 * and rotates the file by size, keeping one older copy as "<path>.1".
 * Followers (the `jail logs --follow` stream) get each chunk as it is
 * written. Everything runs on the daemon's event loop thread.
 */
#ifndef ROOTD_LOGFILE_H
#define ROOTD_LOGFILE_H

#include <stddef.h>
#include <stdint.h>

#include <nem/err.h>

struct event_base;
struct logfile;
struct logfile_follower;

/* Size at which a log file is rotated, in bytes (1 MiB). */
#define LOGFILE_MAX_BYTES (1024 * 1024)

/* Bytes read from the pipe per read(2) call. */
#define LOGFILE_CHUNK 4096

/* Called with each chunk of output, after it was written to the file. */
typedef void (*logfile_data_fn)(void *arg, const char *data, size_t len);

/*
 * Opens (creating with mode 0600, appending) the log file at path and a
 * pipe read on base.
 *	base		the event loop that reads the pipe
 *	path		the file; its folder must exist
 *	max_bytes	size that triggers rotation, at least LOGFILE_CHUNK
 * Returns the log file (free with logfile_free), or NULL with err: EINVAL
 * for a max_bytes below LOGFILE_CHUNK, ENOMEM, or the errno of open(2) or
 * pipe2(2).
 */
struct logfile *logfile_open(struct event_base *base, const char *path,
    uint64_t max_bytes, struct nem_err *err);

/*
 * Reads what is still buffered in the pipe, closes the pipe and the file,
 * and frees the followers and the log file. NULL is allowed.
 */
void logfile_free(struct logfile *lf);

/*
 * Returns the write end of the pipe, to hand down as a child's stdout and
 * stderr. It is close-on-exec and stays owned by the log file; the spawn
 * path duplicates it onto fds 1 and 2.
 */
int logfile_fd(const struct logfile *lf);

/* Returns the path of the current file, owned by the log file. */
const char *logfile_path(const struct logfile *lf);

/*
 * Appends a line written by the daemon itself (for example "rootd: started
 * pid 42"), so the file records each run. A final newline is
 * added. Write errors are logged, never returned.
 */
void logfile_note(struct logfile *lf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Registers fn to get every later chunk of output. Returns the follower
 * (remove with logfile_unfollow), or NULL with err ENOMEM.
 */
struct logfile_follower *logfile_follow(struct logfile *lf,
    logfile_data_fn fn, void *arg, struct nem_err *err);

/* Removes a follower. It may be called from within its own callback. */
void logfile_unfollow(struct logfile *lf, struct logfile_follower *f);

/*
 * Reads the last max_bytes bytes of the log at path, taking the start from
 * "<path>.1" when the current file is shorter. *out is malloc'ed, NUL
 * terminated, and owned by the caller; *len excludes the NUL. A missing
 * file reads as empty. Returns 0, or -1 with err: ENOMEM or the errno of
 * open(2) or read(2).
 */
int logfile_tail(const char *path, size_t max_bytes, char **out, size_t *len,
    struct nem_err *err);

#endif
