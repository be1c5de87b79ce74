/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * FreeBSD process-level helpers: the reaper (procctl PROC_REAP_ACQUIRE),
 * peer credentials (getpeereid), and reading a jail's user database below
 * its root with O_RESOLVE_BENEATH.
 *
 * NOTE: compile-unchecked: written without a FreeBSD machine, against the
 * FreeBSD 14 manual pages.
 */
#include "os.h"
#include "freebsd.h"

#include <sys/param.h>
#include <sys/procctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int
os_reaper_acquire(struct nem_err *err)
{
	if (procctl(P_PID, getpid(), PROC_REAP_ACQUIRE, NULL) == -1 &&
	    errno != EBUSY)
		return nem_err_sys(err, errno, "cannot become the reaper of "
		    "orphaned descendants");
	return 0;
}

int
os_peer_cred(int fd, uid_t *uid, gid_t *gid, pid_t *pid,
    struct nem_err *err)
{
	if (getpeereid(fd, uid, gid) == -1)
		return nem_err_sys(err, errno, "cannot read the peer "
		    "credentials of socket %d", fd);
	*pid = -1;
	return 0;
}

/* Reads the jail file name below root_fd into a malloc'ed buffer. */
static int
read_jail_file(int root_fd, const char *name, char **buf, size_t *len,
    struct nem_err *err)
{
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd;

	*buf = NULL;
	*len = 0;
	fd = openat(root_fd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY |
	    O_RESOLVE_BENEATH | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : nem_err_sys(err, errno, "cannot "
		    "open /%s in the jail", name);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > OS_USER_FILE_MAX) {
		close(fd);
		return nem_err_set(err, EFBIG, "/%s in the jail is not a "
		    "regular file of at most %d bytes", name,
		    OS_USER_FILE_MAX);
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (*buf == NULL) {
		close(fd);
		return nem_err_set(err, ENOMEM, "out of memory reading /%s",
		    name);
	}
	while (got < (size_t)st.st_size &&
	    (n = read(fd, *buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	(*buf)[got] = '\0';
	*len = got;
	return 0;
}

int
os_user_lookup(const struct os_root *root, const char *user,
    struct os_user *out, struct nem_err *err)
{
	char *passwd, *group;
	size_t plen, glen;
	int rc;

	if (read_jail_file(root->fd, "etc/passwd", &passwd, &plen, err) == -1)
		return -1;
	if (read_jail_file(root->fd, "etc/group", &group, &glen, err) == -1) {
		free(passwd);
		return -1;
	}
	rc = os_user_parse(passwd ? passwd : "", plen, group ? group : "",
	    glen, user, out, err);
	free(passwd);
	free(group);
	return rc;
}
