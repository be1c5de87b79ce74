/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The instance lock of nem-rootd: an open file description lock on
 * <run_dir>/rootd.lock, so that a second daemon on the same run directory
 * refuses to start and names the pid of the one that holds it. The lock
 * lasts as long as its descriptor is open, and the kernel drops it when
 * the holder dies.
 */
#ifndef ROOTD_LOCKFILE_H
#define ROOTD_LOCKFILE_H

#include <nem/err.h>

/* Name of the lock file inside the run directory. */
#define LOCKFILE_NAME "rootd.lock"

/*
 * Creates or opens <run_dir>/LOCKFILE_NAME (never through a symbolic
 * link), takes an exclusive OFD lock on it without waiting, and writes
 * this process's pid into it. run_dir must exist. Returns the locked
 * descriptor, which is close-on-exec and owned by the caller until
 * lockfile_release. On failure returns -1 with err: EWOULDBLOCK when
 * another process has the lock (the message names the pid written in the
 * file), ELOOP for a symbolic link at the path, ENAMETOOLONG for a run
 * directory path that is too long, or the errno of the failed call.
 */
int lockfile_take(const char *run_dir, struct nem_err *err);

/*
 * Releases the lock by closing fd. The file stays, so that every instance
 * locks the same inode; the next holder overwrites the pid. -1 is ignored.
 */
void lockfile_release(int fd);

#endif
