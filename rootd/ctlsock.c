/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The control socket's listening side. The socket is bound with umask 0177
 * so that it is mode 0600 from the moment it exists, with no window
 * between bind and chmod, inside a directory that only root can enter. The
 * mode is a second line of defence only: every accepted peer is checked
 * with its kernel credentials and only uid 0 is served, so a socket opened
 * up by hand (chmod 0666) still refuses other users.
 *
 * A rejected peer's first request gets an error reply with code
 * NEM_E_PERMISSION before the connection is closed, so that the client can
 * say why instead of reporting a reset connection.
 *
 * At the socket path, only a stale socket is removed. Any other file is
 * rejected and left as it is, because a symbolic link or a regular file
 * there is either a mistake or an attack, and neither should be deleted
 * by a daemon at boot.
 */
#include "ctlsock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/frame.h>
#include <nem/log.h>
#include <nem/proto.h>

#include "os/os.h"

/* Rejected peers logged per minute; further ones are only counted. */
#define CTL_REJECT_LOG_MAX 10

/* Pause of accepting after EMFILE or ENFILE, so the loop does not spin. */
#define CTL_ACCEPT_PAUSE_MS 1000

/*
 * Rejected peers that may wait for their error reply at once; further ones
 * are closed without it. Each waits at most CTL_DENY_WAIT_MS for the fixed
 * header of its first request.
 */
#define CTL_DENY_MAX 8
#define CTL_DENY_WAIT_MS 1000

/* Bytes of a rejected peer's input read and dropped before the close. */
#define CTL_DENY_DRAIN_MAX (256 * 1024)

/* A rejected connection waiting for its first request's fixed header. */
struct ctl_denied {
	struct ctl_listener *listener;
	struct event *ev;	/* NULL: the slot is free */
	int fd;
	uid_t uid;
	size_t got;		/* bytes of fixed read so far */
	uint8_t fixed[NEM_FIXED_LEN];
};

struct ctl_listener {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;		/* identity of the socket file we created */
	ino_t ino;
	struct event *accept_ev;
	struct event *resume_ev;
	ctl_accept_cb cb;
	void *arg;

	time_t reject_window;	/* start of the current minute of logging */
	unsigned rejects_logged;
	unsigned long rejects_hidden;

	struct event_base *base;
	struct ctl_denied denied[CTL_DENY_MAX];
};

/* Returns the file type of mode as a word for messages. */
static const char *
file_type_name(mode_t mode)
{
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device node";
	return "a file of unknown type";
}

/*
 * Creates the socket's directory (mode 0700) or checks that the existing
 * one is a real directory owned by root with no group or other access.
 */
static int
prepare_dir(const char *path, struct nem_err *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len = (size_t)(slash - path);
	struct stat st;

	if (len == 0)
		len = 1;	/* the socket sits in "/" */
	if (len >= sizeof(dir))
		return nem_err_set(err, ENAMETOOLONG, "control socket path %s "
		    "is too long", path);
	memcpy(dir, path, len);
	dir[len] = '\0';

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return nem_err_sys(err, errno, "cannot create the control "
		    "socket directory %s", dir);
	if (lstat(dir, &st) == -1)
		return nem_err_sys(err, errno, "cannot inspect the control "
		    "socket directory %s", dir);
	if (!S_ISDIR(st.st_mode))
		return nem_err_set(err, EPERM, "control socket directory %s is "
		    "%s, not a directory; use a real directory owned by root",
		    dir, file_type_name(st.st_mode));
	if (st.st_uid != 0 || (st.st_mode & 077) != 0)
		return nem_err_set(err, EPERM, "control socket directory %s is "
		    "owned by uid %u with mode %04o; it must be owned by root "
		    "with mode 0700 (chown root %s; chmod 0700 %s)", dir,
		    (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), dir,
		    dir);
	return 0;
}

/*
 * Makes path free for bind: nothing there, or a stale socket that is
 * removed. A socket with a listener and any other file type are rejected.
 */
static int
clear_path(const struct sockaddr_un *sun, struct nem_err *err)
{
	const char *path = sun->sun_path;
	struct stat st;
	int probe, rc;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		return nem_err_sys(err, errno, "cannot inspect %s", path);
	}
	if (!S_ISSOCK(st.st_mode))
		return nem_err_set(err, EEXIST, "control socket path %s is %s, "
		    "not a socket; nem-rootd leaves it alone: check what it is, "
		    "remove it and start again", path,
		    file_type_name(st.st_mode));

	/* A socket: find out whether a process still accepts on it. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe == -1)
		return nem_err_sys(err, errno, "cannot create a socket to "
		    "probe %s", path);
	rc = connect(probe, (const struct sockaddr *)sun, sizeof(*sun));
	close(probe);
	if (rc == 0)
		return nem_err_set(err, EADDRINUSE, "a process is listening "
		    "on the control socket %s; is another nem-rootd running?",
		    path);
	if (errno != ECONNREFUSED && errno != ENOENT)
		return nem_err_sys(err, errno, "cannot probe the existing "
		    "control socket %s", path);
	if (unlink(path) == -1 && errno != ENOENT)
		return nem_err_sys(err, errno, "cannot remove the stale "
		    "control socket %s", path);
	log_info("control: removed the stale socket %s", path);
	return 0;
}

/* Logs a rejected peer, at most CTL_REJECT_LOG_MAX times a minute. */
static void
log_reject(struct ctl_listener *listener, const struct ctl_peer *peer)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_sec - listener->reject_window >= 60) {
		if (listener->rejects_hidden > 0)
			log_warn("control: %lu more connections from non-root "
			    "peers were rejected without a log line",
			    listener->rejects_hidden);
		listener->reject_window = ts.tv_sec;
		listener->rejects_logged = 0;
		listener->rejects_hidden = 0;
	}
	if (listener->rejects_logged >= CTL_REJECT_LOG_MAX) {
		listener->rejects_hidden++;
		return;
	}
	listener->rejects_logged++;
	log_warn("control: rejected a connection from uid %u (pid %d) on %s: "
	    "only root (uid 0) may use the control socket",
	    (unsigned)peer->uid, (int)peer->pid, listener->path);
}

/* Closes a rejected connection and frees its slot. */
static void
deny_finish(struct ctl_denied *d)
{
	event_free(d->ev);
	d->ev = NULL;
	close(d->fd);
	d->fd = -1;
}

/*
 * Sends the error reply to the request whose fixed header is in d, then
 * reads and drops the rest of the peer's input, so that closing with
 * unread data does not reset the connection before the reply is read.
 */
static void
deny_reply(struct ctl_denied *d)
{
	struct nem_fixed f, rf = { 0 };
	struct nem_header h = { .code = NEM_E_PERMISSION };
	struct nem_err err;
	char reason[160], drop[4096];
	uint8_t *frame;
	size_t len, drained = 0;
	ssize_t n;

	if (nem_fixed_decode(d->fixed, &f, &err) == -1 ||
	    (f.flags & (NEM_F_REPLY | NEM_F_CANCEL)) != 0)
		return;
	snprintf(reason, sizeof(reason), "permission denied: only root "
	    "(uid 0) may use the control socket, and this client runs as "
	    "uid %u; run it as root", (unsigned)d->uid);
	h.reason = reason;
	rf.flags = NEM_F_REPLY;
	rf.seq = f.seq;
	rf.service = f.service;
	rf.command = f.command;
	if (nem_frame_build(&rf, &h, NULL, 0, &frame, &len, &err) == -1) {
		log_warn("control: cannot build the permission error reply: "
		    "%s", err.msg);
		return;
	}
	/* After a short send the peer gets no reply, only the close. */
	(void)send(d->fd, frame, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(frame);

	shutdown(d->fd, SHUT_WR);
	while (drained < CTL_DENY_DRAIN_MAX) {
		n = recv(d->fd, drop, sizeof(drop), MSG_DONTWAIT);
		if (n <= 0)
			break;
		drained += (size_t)n;
	}
}

/* Reads the first request's fixed header of a rejected peer. */
static void
on_denied(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_denied *d = arg;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		deny_finish(d);
		return;
	}
	n = recv(d->fd, d->fixed + d->got, sizeof(d->fixed) - d->got,
	    MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		deny_finish(d);
		return;
	}
	d->got += (size_t)n;
	if (d->got < sizeof(d->fixed))
		return;
	deny_reply(d);
	deny_finish(d);
}

/*
 * Keeps a rejected connection until its first request can get its reply
 * with NEM_E_PERMISSION. Without a free slot, it is closed at once.
 */
static void
deny_later(struct ctl_listener *listener, int fd, const struct ctl_peer *peer)
{
	struct timeval tv = {
		.tv_sec = CTL_DENY_WAIT_MS / 1000,
		.tv_usec = (CTL_DENY_WAIT_MS % 1000) * 1000,
	};
	struct ctl_denied *d = NULL;

	for (size_t i = 0; i < CTL_DENY_MAX && d == NULL; i++)
		if (listener->denied[i].ev == NULL)
			d = &listener->denied[i];
	if (d == NULL) {
		close(fd);
		return;
	}
	d->ev = event_new(listener->base, fd, EV_READ | EV_PERSIST, on_denied,
	    d);
	if (d->ev == NULL || event_add(d->ev, &tv) == -1) {
		if (d->ev != NULL)
			event_free(d->ev);
		d->ev = NULL;
		close(fd);
		return;
	}
	d->listener = listener;
	d->fd = fd;
	d->uid = peer->uid;
	d->got = 0;
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_listener *listener = arg;

	if (event_add(listener->accept_ev, NULL) == -1)
		log_errx("control: cannot resume accepting on %s", listener->path);
}

/* Stops accepting for a while after the descriptor table filled up. */
static void
pause_accepting(struct ctl_listener *listener)
{
	struct timeval tv = {
		.tv_sec = CTL_ACCEPT_PAUSE_MS / 1000,
		.tv_usec = (CTL_ACCEPT_PAUSE_MS % 1000) * 1000,
	};

	event_del(listener->accept_ev);
	evtimer_add(listener->resume_ev, &tv);
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct ctl_listener *listener = arg;

	for (;;) {
		struct ctl_peer peer;
		struct nem_err err;
		int fd;

		fd = accept4(listener->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_err("control: accept on %s failed; pausing for "
			    "%d ms", listener->path, CTL_ACCEPT_PAUSE_MS);
			pause_accepting(listener);
			return;
		}

		if (os_peer_cred(fd, &peer.uid, &peer.gid, &peer.pid,
		    &err) == -1) {
			log_warn("control: %s; closing the connection",
			    err.msg);
			close(fd);
			continue;
		}
		if (peer.uid != 0) {
			log_reject(listener, &peer);
			deny_later(listener, fd, &peer);
			continue;
		}
		log_debug("control: connection from pid %d", (int)peer.pid);
		listener->cb(listener->arg, fd, &peer);
	}
}

struct ctl_listener *
ctl_listen(struct event_base *base, const char *path, ctl_accept_cb cb,
    void *arg, struct nem_err *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ctl_listener *listener;
	struct stat st;
	mode_t old_umask;
	int rc;

	if (path[0] != '/') {
		nem_err_set(err, EINVAL, "control socket path %s is not "
		    "absolute; give a full path such as /run/nem/control.sock",
		    path);
		return NULL;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		nem_err_set(err, ENAMETOOLONG, "control socket path %s is "
		    "longer than %zu bytes; choose a shorter path", path,
		    sizeof(sun.sun_path) - 1);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (prepare_dir(path, err) == -1 || clear_path(&sun, err) == -1)
		return NULL;

	listener = calloc(1, sizeof(*listener));
	if (listener == NULL) {
		nem_err_sys(err, ENOMEM, "control socket %s", path);
		return NULL;
	}
	memcpy(listener->path, sun.sun_path, sizeof(listener->path));
	listener->cb = cb;
	listener->arg = arg;
	listener->base = base;
	listener->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listener->fd == -1) {
		nem_err_sys(err, errno, "cannot create the control socket");
		free(listener);
		return NULL;
	}

	/* umask is process-wide: the daemon is single-threaded here. */
	old_umask = umask(0177);
	rc = bind(listener->fd, (const struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (rc == -1) {
		nem_err_sys(err, errno, "cannot bind the control socket %s",
		    path);
		goto fail;
	}
	if (lstat(path, &st) == -1) {
		nem_err_sys(err, errno, "cannot inspect the new control "
		    "socket %s", path);
		goto fail_unlink;
	}
	listener->dev = st.st_dev;
	listener->ino = st.st_ino;
	if (listen(listener->fd, CTL_BACKLOG) == -1) {
		nem_err_sys(err, errno, "cannot listen on %s", path);
		goto fail_unlink;
	}

	listener->accept_ev = event_new(base, listener->fd, EV_READ | EV_PERSIST, on_accept,
	    listener);
	listener->resume_ev = evtimer_new(base, on_resume, listener);
	if (listener->accept_ev == NULL || listener->resume_ev == NULL ||
	    event_add(listener->accept_ev, NULL) == -1) {
		nem_err_set(err, ENOMEM, "cannot watch the control socket %s",
		    path);
		goto fail_unlink;
	}
	log_info("control: listening on %s", path);
	return listener;

fail_unlink:
	unlink(path);
fail:
	if (listener->accept_ev != NULL)
		event_free(listener->accept_ev);
	if (listener->resume_ev != NULL)
		event_free(listener->resume_ev);
	close(listener->fd);
	free(listener);
	return NULL;
}

void
ctl_close(struct ctl_listener *listener)
{
	struct stat st;

	if (listener == NULL)
		return;
	for (size_t i = 0; i < CTL_DENY_MAX; i++)
		if (listener->denied[i].ev != NULL)
			deny_finish(&listener->denied[i]);
	event_free(listener->accept_ev);
	event_free(listener->resume_ev);
	close(listener->fd);
	if (lstat(listener->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == listener->dev && st.st_ino == listener->ino)
		unlink(listener->path);
	free(listener);
}
