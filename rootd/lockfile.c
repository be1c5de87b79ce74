/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The instance lock of nem-rootd. It uses an open file description (OFD)
 * lock: unlike a classic POSIX record lock it is not dropped when another
 * descriptor of the same file is closed by any code in the process.
 * F_OFD_GETLK reports no pid for OFD locks, so the holder writes its pid
 * into the file for the message of the instance that is refused.
 */
#include "lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads the pid written by the holder; returns 0 when there is none. */
static long
holder_pid(int fd)
{
	char buf[32];
	ssize_t n;
	char *end;
	long pid;

	do
		n = pread(fd, buf, sizeof(buf) - 1, 0);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') ||
	    pid <= 0 || pid > INT_MAX)
		return 0;
	return pid;
}

int
lockfile_take(const char *run_dir, struct nem_err *err)
{
	struct flock fl = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0,
	};
	char path[PATH_MAX], pidbuf[32];
	struct stat st;
	int fd, n;

	n = snprintf(path, sizeof(path), "%s/%s", run_dir, LOCKFILE_NAME);
	if (n < 0 || (size_t)n >= sizeof(path))
		return nem_err_set(err, ENAMETOOLONG, "run directory %s: the "
		    "lock file path is too long; choose a shorter run_dir",
		    run_dir);

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
	    0644);
	if (fd == -1)
		return nem_err_sys(err, errno, "cannot open the lock file %s",
		    path);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return nem_err_set(err, EINVAL, "lock file %s is not a regular "
		    "file; remove it and start again", path);
	}

	if (fcntl(fd, F_OFD_SETLK, &fl) == -1) {
		int e = errno;
		long pid;

		if (e != EAGAIN && e != EACCES) {
			close(fd);
			return nem_err_sys(err, e, "cannot lock %s", path);
		}
		pid = holder_pid(fd);
		close(fd);
		if (pid > 0)
			return nem_err_set(err, EWOULDBLOCK, "another nem-rootd "
			    "(pid %ld) holds %s; stop it first", pid, path);
		return nem_err_set(err, EWOULDBLOCK, "another nem-rootd holds "
		    "%s (its pid is not written yet); stop it first", path);
	}

	n = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 ||
	    pwrite(fd, pidbuf, (size_t)n, 0) != (ssize_t)n) {
		int e = errno;

		close(fd);
		return nem_err_sys(err, e, "cannot write the pid into %s",
		    path);
	}
	return fd;
}

void
lockfile_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
