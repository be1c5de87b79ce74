/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A NEM connection on a libevent event loop: full-duplex request/reply
 * transactions over one connected stream socket, with streaming in
 * both directions, cancellation, per-request timeouts, descriptor passing
 * and bounds a peer cannot push past. Incoming requests are dispatched
 * through a struct nem_mux of handlers keyed by (service, command).
 *
 * Everything runs on the thread that runs the event loop, and no function
 * here may be called from another thread. Callbacks may call the functions
 * of this header on their own connection and transaction, nem_conn_free
 * included.
 *
 * Limitations:
 * - NOTE: transactions are kept in 64-bucket hash tables, which slows down
 *   beyond some thousands of outstanding requests on one connection.
 * - NOTE: a program must ignore SIGPIPE when its transport is not a socket.
 *   On sockets the library sends with MSG_NOSIGNAL.
 */
#ifndef NEM_CONN_H
#define NEM_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nem/err.h>
#include <nem/frame.h>

struct event_base;
struct nem_conn;
struct nem_mux;
struct nem_txn;

/* A timeout_ms value meaning "wait without a time limit". */
#define NEM_TIMEOUT_NONE UINT32_MAX

/*
 * Bounds of one connection. Going over one of the peer-driven bounds is a
 * protocol violation: the connection is closed and a line naming the bound
 * and the peer is logged. nem_conn_limits_default gives the defaults shown.
 */
struct nem_conn_limits {
	uint32_t max_incoming;		/* outstanding incoming transactions
					   (128) */
	size_t max_buffered;		/* bytes queued for sending plus bytes of
					   a partly received frame (4 MiB; at
					   least two maximum frames) */
	uint32_t max_fds;		/* descriptors queued for sending plus
					   the one of a frame being received
					   (64) */
	uint32_t stall_timeout_ms;	/* time a partly received frame may take
					   to complete (10000) */
	uint32_t default_timeout_ms;	/* a request's timeout when the caller
					   gives none (30000) */
};

/* Counters of a connection, for tests, logs and status output. */
struct nem_conn_stats {
	uint32_t incoming;		/* outstanding incoming transactions */
	uint32_t outgoing;		/* outstanding requests of this side */
	size_t out_bytes;		/* bytes queued for sending */
	uint32_t out_fds;		/* descriptors queued for sending */
	size_t rx_buffer;		/* bytes allocated for receiving now */
	size_t rx_buffer_peak;		/* maximum of rx_buffer so far */
	uint64_t frames_in;		/* frames received */
	uint64_t frames_out;		/* frames queued for sending */
};

/* A request to send with nem_conn_request. Start from NEM_REQUEST_INIT. */
struct nem_request {
	uint16_t service;
	uint16_t command;
	const void *body;		/* body bytes; NULL when body_len is 0 */
	size_t body_len;		/* at most NEM_BODY_MAX */
	int fd;				/* descriptor to pass (duplicated; the
					   caller keeps its own), or -1 */
	bool more;			/* set CONTINUE: the request streams and
					   nem_conn_request_more sends the rest */
	uint32_t timeout_ms;		/* wait for each frame of the
					   transaction, restarted by every frame
					   sent or received; 0: the connection's
					   default; NEM_TIMEOUT_NONE: no limit */
	const struct nem_route *route;	/* non-NULL: set ROUTE and send it */
};

#define NEM_REQUEST_INIT(svc, cmd) \
	{ .service = (svc), .command = (cmd), .fd = -1 }

/* A further frame of a streamed request or a reply. Start from NEM_SEND_INIT. */
struct nem_send {
	const void *body;		/* body bytes; NULL when body_len is 0 */
	size_t body_len;		/* at most NEM_BODY_MAX */
	int fd;				/* descriptor to pass (duplicated), or -1 */
	bool more;			/* set CONTINUE: more frames follow */
};

#define NEM_SEND_INIT { .fd = -1 }

/*
 * Called for every reply frame of a request, and once with a failure. The
 * last call for a request has NEM_F_CONTINUE clear in msg->flags; after it
 * the request is over. A failure, remote or local, has msg->hdr.code != 0;
 * local failures (msg->local) are NEM_E_TIMEDOUT, NEM_E_CANCELLED (after
 * nem_conn_cancel) and NEM_E_UNAVAILABLE (connection closed or freed).
 * msg->fd may be taken with nem_msg_take_fd; otherwise it is closed after
 * the call.
 */
typedef void nem_reply_fn(struct nem_conn *c, struct nem_msg *msg, void *arg);

/*
 * Called for every request frame of an incoming transaction: once for a
 * plain request, once per frame for a streamed request (msg->index counts
 * them). The handler replies with nem_txn_reply or nem_txn_fail, at once or
 * later. t stays valid until the final reply is sent, or until the cancel
 * callback (nem_txn_on_cancel) has returned. NOTE: a transaction that gets
 * neither a final reply nor a cancel callback stays allocated for the life
 * of the program.
 */
typedef void nem_handler_fn(struct nem_txn *t, struct nem_msg *msg, void *arg);

/*
 * Called once when an incoming transaction ends without a final reply: the
 * requester sent CANCEL (code NEM_E_CANCELLED), its time.timeout_ms passed
 * (NEM_E_TIMEDOUT) or the connection closed (NEM_E_UNAVAILABLE). t is freed
 * when the callback returns.
 */
typedef void nem_cancel_fn(struct nem_txn *t, int64_t code, void *arg);

/*
 * Called once when the connection closes by itself: end of stream, a
 * socket error, a protocol violation or an exceeded bound. err holds the
 * cause: EPROTO for a violation or a bound detected on receive, ENOBUFS for
 * a send queue over its bound, ENOTCONN for end of stream, and the errno of
 * a failed send or receive otherwise. Not called for nem_conn_free. The
 * callback usually frees the connection.
 */
typedef void nem_close_fn(struct nem_conn *c, const struct nem_err *err,
    void *arg);

/* Fills *lim with the default bounds listed in struct nem_conn_limits. */
void nem_conn_limits_default(struct nem_conn_limits *lim);

/*
 * Creates a connection on the connected stream socket fd.
 *	base	the event loop that runs it
 *	fd	the descriptor; the connection takes ownership (also on failure)
 *		and makes it non-blocking
 *	lim	bounds, or NULL for the defaults
 *	mux	handlers for incoming requests, or NULL to reply to every
 *		request with NEM_E_UNKNOWN; it must outlive the connection
 * Descriptors travel only when fd is a unix-domain socket. A descriptor
 * that is not a socket is read with read(2) and written with writev(2), so
 * it must be open for both. Returns the
 * connection (free with nem_conn_free), or NULL with err code EINVAL (bad
 * limits, bad fd) or ENOMEM.
 */
struct nem_conn *nem_conn_new(struct event_base *base, int fd,
    const struct nem_conn_limits *lim, struct nem_mux *mux,
    struct nem_err *err);

/*
 * Closes the connection if open (failing every outstanding request of this
 * side with NEM_E_UNAVAILABLE and ending every incoming transaction) and
 * frees it. When called from one of its own callbacks the memory is
 * released once that callback returns. NULL is ignored.
 */
void nem_conn_free(struct nem_conn *c);

/*
 * Sets the peer name used in log lines and errors, such as "jail web" or
 * "control pid 123" (at most 63 bytes kept). The default is "fd N".
 */
void nem_conn_set_peer(struct nem_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Returns the peer name; the string lives as long as the connection. */
const char *nem_conn_peer(const struct nem_conn *c);

/* Sets the callback for a close that the connection detects itself. */
void nem_conn_set_close_cb(struct nem_conn *c, nem_close_fn *fn, void *arg);

/* Stores and returns a caller pointer (for example the jail it serves). */
void nem_conn_set_data(struct nem_conn *c, void *data);
void *nem_conn_data(const struct nem_conn *c);

/* Returns true once the connection is closed (frees nothing). */
bool nem_conn_is_closed(const struct nem_conn *c);

/* Fills *st with the connection's current counters. */
void nem_conn_stats(const struct nem_conn *c, struct nem_conn_stats *st);

/*
 * Sends a request and registers fn to get its replies.
 *	c	the connection
 *	rq	the request; rq->fd is duplicated, so the caller keeps rq->fd
 *	fn	reply callback (see nem_reply_fn), called from the event loop,
 *		never from within this function
 *	arg	passed to fn
 *	seq	OUT (may be NULL): the request's sequence number, for
 *		nem_conn_request_more and nem_conn_cancel
 * Returns 0, or -1 with err code ENOTCONN (connection closed), EMSGSIZE
 * (body too large), EBADF (rq->fd not open), ENOBUFS (the send queue is
 * over max_buffered or max_fds; the connection is closed) or ENOMEM.
 */
int nem_conn_request(struct nem_conn *c, const struct nem_request *rq,
    nem_reply_fn *fn, void *arg, uint64_t *seq, struct nem_err *err);

/*
 * Sends the next frame of a streamed request started with rq->more set;
 * s->more clear ends the request stream. Returns 0, or -1 with err code
 * ENOENT (no such outstanding request, for example after its final reply),
 * EINVAL (the request stream already ended) or as nem_conn_request.
 */
int nem_conn_request_more(struct nem_conn *c, uint64_t seq,
    const struct nem_send *s, struct nem_err *err);

/*
 * Abandons request seq: sends CANCEL to the peer, drops any reply still on
 * its way, and calls the request's callback once, before returning, with a
 * local NEM_E_CANCELLED. Returns 0, or -1 with errno ENOENT when seq is not
 * an outstanding request.
 */
int nem_conn_cancel(struct nem_conn *c, uint64_t seq);

/*
 * Creates an empty table of request handlers. Returns it (free with
 * nem_mux_free after every connection using it), or NULL with err ENOMEM.
 */
struct nem_mux *nem_mux_new(struct nem_err *err);

/* Frees a handler table. NULL is ignored. */
void nem_mux_free(struct nem_mux *mux);

/*
 * Registers a request handler.
 *	mux	the table
 *	service	service id the handler serves
 *	command	command id the handler serves
 *	fn	the handler (see nem_handler_fn)
 *	arg	passed to fn
 *	err	the failure
 * Returns 0, or -1 with err code EEXIST when that pair already has a
 * handler, or ENOMEM.
 */
int nem_mux_add(struct nem_mux *mux, uint16_t service, uint16_t command,
    nem_handler_fn *fn, void *arg, struct nem_err *err);

/*
 * Sends a reply frame for t: a final one when s->more is clear, which ends
 * the transaction and frees t, a CONTINUE one otherwise. s->fd is
 * duplicated. After the transaction ended (cancel, timeout, closed
 * connection) the reply is dropped, t is freed if it was a final reply, and
 * -1 is returned with err code ECANCELED or ENOTCONN. Also returns -1 with
 * EMSGSIZE, EBADF, ENOBUFS or ENOMEM as nem_conn_request (a final reply
 * that fails this way still ends the transaction and frees t).
 */
int nem_txn_reply(struct nem_txn *t, const struct nem_send *s,
    struct nem_err *err);

/*
 * Sends a final error reply with code (an enum nem_code, not NEM_OK) and a
 * reason for humans, ends the transaction and frees t. Returns as
 * nem_txn_reply.
 */
int nem_txn_fail(struct nem_txn *t, int64_t code, const char *reason,
    struct nem_err *err);

/*
 * Sends a final error reply built from e: the code from e->code through
 * nem_code_from_errno and e->msg as reason. Returns as nem_txn_reply.
 */
int nem_txn_fail_err(struct nem_txn *t, const struct nem_err *e,
    struct nem_err *err);

/*
 * Sets the callback run when t ends without a final reply (see
 * nem_cancel_fn). A handler that keeps t after returning should set one;
 * without it t stays allocated until the handler sends its final reply.
 */
void nem_txn_on_cancel(struct nem_txn *t, nem_cancel_fn *fn, void *arg);

/* Returns t's connection, or NULL once the transaction has ended. */
struct nem_conn *nem_txn_conn(const struct nem_txn *t);

/* Return the transaction's sequence number, service and command ids. */
uint64_t nem_txn_seq(const struct nem_txn *t);
uint16_t nem_txn_service(const struct nem_txn *t);
uint16_t nem_txn_command(const struct nem_txn *t);

/* Stores and returns a handler pointer kept with the transaction. */
void nem_txn_set_data(struct nem_txn *t, void *data);
void *nem_txn_data(const struct nem_txn *t);

#endif
