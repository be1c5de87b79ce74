/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Linux process-level helpers: the child subreaper, peer credentials of a
 * unix socket, and reading a jail's user database inside its root.
 */
#include "os.h"
#include "linux.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int
os_reaper_acquire(struct nem_err *err)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		return nem_err_sys(err, errno, "cannot become the child "
		    "subreaper");
	return 0;
}

int
os_peer_cred(int fd, uid_t *uid, gid_t *gid, pid_t *pid,
    struct nem_err *err)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return nem_err_sys(err, errno, "cannot read the peer "
		    "credentials of socket %d", fd);
	if (len != sizeof(cred))
		return nem_err_set(err, EPROTO, "short peer credentials on "
		    "socket %d", fd);
	*uid = cred.uid;
	*gid = cred.gid;
	*pid = cred.pid;
	return 0;
}

/*
 * Reads the jail file name (relative to root_fd) into a malloc'ed buffer.
 * A missing file yields an empty buffer when optional is true.
 */
static int
read_jail_file(int root_fd, const char *name, bool optional, char **buf,
    size_t *len, struct nem_err *err)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd;

	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO planted in the jail must not block the daemon. */
	fd = linux_openat2(root_fd, name,
	    O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0,
	    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	if (fd == -1) {
		if (errno == ENOENT && optional)
			return 0;
		return nem_err_sys(err, errno, "cannot open /%s in the jail",
		    name);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return nem_err_set(err, EINVAL, "/%s in the jail is not a "
		    "regular file", name);
	}
	if (st.st_size > OS_USER_FILE_MAX) {
		close(fd);
		return nem_err_set(err, EFBIG, "/%s in the jail is %lld "
		    "bytes, more than the %d read", name,
		    (long long)st.st_size, OS_USER_FILE_MAX);
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (*buf == NULL) {
		close(fd);
		return nem_err_set(err, ENOMEM, "out of memory reading /%s",
		    name);
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
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

	if (read_jail_file(root->fd, "etc/passwd", true, &passwd, &plen,
	    err) == -1)
		return -1;
	if (read_jail_file(root->fd, "etc/group", true, &group, &glen,
	    err) == -1) {
		free(passwd);
		return -1;
	}
	rc = os_user_parse(passwd ? passwd : "", plen, group ? group : "",
	    glen, user, out, err);
	free(passwd);
	free(group);
	return rc;
}
