/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The NEM channel between nem-rootd and one supervised process (a jail's
 * root process or an unjailed host): a unix stream socket pair whose child
 * end becomes the process's fd 3, and a libnem connection on the daemon end
 * with the peer name "jail NAME" or "host NAME". Each channel has its own
 * request mux, filled from a handler list when the channel opens, so other
 * modules (readiness, service brokering) add handlers without knowing the
 * channel's lifetime. A protocol violation closes that channel only.
 */
#ifndef ROOTD_CHANNEL_H
#define ROOTD_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include <nem/conn.h>
#include <nem/err.h>

struct event_base;
struct chan;

/*
 * Command ids of the host service (id 2) that nem-rootd adds to bind (1)
 * and connect (2). host.ready has an empty body in both directions; a root
 * process sends it once it serves, and nem-init sends it for the program
 * it runs.
 */
#define CHAN_HOST_READY 3

/* The kind of process at the other end. */
enum chan_kind {
	CHAN_JAIL,		/* a jail's root process */
	CHAN_HOST,		/* an unjailed host */
};

/* One request handler to install into every new channel's mux. */
struct chan_handler {
	uint16_t service;
	uint16_t command;
	nem_handler_fn *fn;
	void *arg;
};

/*
 * Called once when the channel closes by itself (end of stream, socket
 * error, protocol violation); why gives the cause. Not called for chan_free.
 * The callback may free the channel.
 */
typedef void (*chan_close_fn)(struct chan *ch, const struct nem_err *why,
    void *arg);

/*
 * Opens a channel.
 *	base		the daemon's event loop
 *	kind		jail or host, for the peer name
 *	name		the jail or host name (copied)
 *	handlers	nhandlers entries installed into the channel's mux
 *	child_fd	OUT: the child's end, close-on-exec, owned by the
 *			caller, who hands it down as fd 3 and then closes it
 *			with chan_child_close or close(2)
 * Returns the channel (free with chan_free), or NULL with err: the errno of
 * socketpair(2), EEXIST for two handlers of one command, or ENOMEM.
 */
struct chan *chan_open(struct event_base *base, enum chan_kind kind,
    const char *name, const struct chan_handler *handlers, size_t nhandlers,
    int *child_fd, struct nem_err *err);

/* Closes the connection, fails its outstanding requests, frees ch. NULL is
 * allowed. */
void chan_free(struct chan *ch);

/* Sets the close callback (see chan_close_fn). */
void chan_set_close_cb(struct chan *ch, chan_close_fn fn, void *arg);

/* Stores and returns the owner's pointer (the jail or host record). */
void chan_set_owner(struct chan *ch, void *owner);
void *chan_owner(const struct chan *ch);

/* Return the channel's kind, name and connection. */
enum chan_kind chan_kind(const struct chan *ch);
const char *chan_name(const struct chan *ch);
struct nem_conn *chan_conn(const struct chan *ch);

/*
 * Returns the channel that conn belongs to (for handlers, through
 * nem_txn_conn), or NULL when conn is not a channel's connection.
 */
struct chan *chan_of_conn(const struct nem_conn *conn);

/*
 * Adds a handler to this channel's mux only. Returns 0, or -1 as
 * nem_mux_add.
 */
int chan_handle(struct chan *ch, const struct chan_handler *h,
    struct nem_err *err);

/*
 * Sends daemon.stop (empty body, no reply awaited beyond logging it).
 * Returns 0 when the request was queued, or -1 with err ENOTCONN when the
 * channel is closed, or as nem_conn_request.
 */
int chan_request_stop(struct chan *ch, struct nem_err *err);

#endif
