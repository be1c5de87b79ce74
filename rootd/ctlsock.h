/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The listening side of the control socket. It is a unix stream socket at a
 * filesystem path (never abstract) in a root-owned 0700 directory, and it
 * is mode 0600 from the moment it exists. Each connection from a root peer
 * goes to the control plane, and every other one is closed.
 */
#ifndef ROOTD_CTLSOCK_H
#define ROOTD_CTLSOCK_H

#include <sys/types.h>

#include <nem/err.h>

struct event_base;
struct ctl_listener;

/* Maximum connections waiting in the kernel's accept queue. */
#define CTL_BACKLOG 64

/* The credentials of a connected peer, from the kernel. */
struct ctl_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;	/* -1 where the platform does not report it */
};

/*
 * Called for each accepted connection from a root peer. fd is a connected,
 * non-blocking, close-on-exec socket now owned by the callee.
 */
typedef void (*ctl_accept_cb)(void *arg, int fd, const struct ctl_peer *peer);

/*
 * Listens on the absolute path on base. The socket's directory is created
 * with mode 0700 when missing; an existing one must be a directory owned
 * by root with no group or other permission bits. At path, a stale socket
 * (no process accepts on it) is replaced. A socket with a live listener
 * and a file of any other type (symbolic link, regular file, directory)
 * are left untouched and rejected. Arguments:
 *   base  the event loop that accepts
 *   path  absolute path of the socket, shorter than sun_path
 *   cb    gets every connection from a uid 0 peer
 *   arg   passed to cb, owned by the caller
 *   err   OUT: the error on failure
 * Returns the listener, to free with ctl_close, or NULL with err: EINVAL
 * for a relative path, ENAMETOOLONG, EPERM for a directory that is not
 * private to root, EADDRINUSE for a live socket, EEXIST for another file
 * type at path, or the errno of the failed system call.
 */
struct ctl_listener *ctl_listen(struct event_base *base, const char *path,
    ctl_accept_cb cb, void *arg, struct nem_err *err);

/*
 * Stops accepting, closes the socket and removes the socket file when it
 * is still the one this listener created. NULL is allowed.
 */
void ctl_close(struct ctl_listener *listener);

#endif
