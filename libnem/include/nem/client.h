/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A blocking NEM client for programs without an event loop of their own:
 * nemctl, nem-init, jail programs and tests. It runs a struct nem_conn on a
 * private libevent loop and waits in that loop, so while a call waits the
 * client keeps handling requests from the peer (for example daemon.info)
 * through the handlers added with nem_client_handle. One thread only.
 */
#ifndef NEM_CLIENT_H
#define NEM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nem/conn.h>
#include <nem/err.h>
#include <nem/frame.h>

struct nem_client;

/* The final reply of a call, owned by the caller. */
struct nem_reply {
	int64_t code;			/* NEM_OK, or the enum nem_code of the
					   failure */
	bool local;			/* the failure was detected on this side
					   (timeout, closed connection, cancel) */
	char reason[256];		/* err.reason of the reply, or a local
					   message; empty when none */
	uint8_t *body;			/* malloc'd copy of the body followed by
					   a NUL byte not counted in body_len,
					   or NULL when the body is empty */
	size_t body_len;
	int fd;				/* received descriptor (the caller owns
					   it), or -1 */
};

/*
 * Called for each CONTINUE reply of a streamed call. msg is valid during the
 * call only; msg->fd may be taken with nem_msg_take_fd. Return 0 to go on,
 * or non-zero to cancel the request (the call then ends with
 * NEM_E_CANCELLED).
 */
typedef int nem_stream_fn(struct nem_msg *msg, void *arg);

/* Sets r to an empty reply (fd -1, no body). */
void nem_reply_init(struct nem_reply *r);

/* Frees r's body, closes its descriptor and sets it empty again. */
void nem_reply_clear(struct nem_reply *r);

/*
 * Connects to the unix stream socket at path. lim may be NULL for the
 * defaults. Returns the client (free with nem_client_free), or NULL with
 * err code ENAMETOOLONG (path over the sun_path size), the errno of
 * socket(2) or connect(2) (for example ENOENT, ECONNREFUSED, EACCES), or
 * ENOMEM.
 */
struct nem_client *nem_client_connect(const char *path,
    const struct nem_conn_limits *lim, struct nem_err *err);

/*
 * Makes a client of the connected descriptor fd, whose ownership passes to
 * the client (also on failure). Returns the client, or NULL as
 * nem_conn_new.
 */
struct nem_client *nem_client_wrap(int fd, const struct nem_conn_limits *lim,
    struct nem_err *err);

/*
 * Makes a client of the descriptor named by the environment variable
 * NEM_FD (a jail's root process gets NEM_FD=3) and marks it close-on-exec.
 * Returns the client, or NULL with err code ENOENT (NEM_FD not set), EINVAL
 * (not a decimal number of 3 or more), EBADF (not an open descriptor) or as
 * nem_conn_new.
 */
struct nem_client *nem_client_from_env(const struct nem_conn_limits *lim,
    struct nem_err *err);

/*
 * Closes the connection (failing calls in progress) and frees the client.
 * NULL is ignored.
 */
void nem_client_free(struct nem_client *cl);

/* Returns the client's connection, for nem_conn_set_peer and statistics. */
struct nem_conn *nem_client_conn(struct nem_client *cl);

/*
 * Registers a handler for requests from the peer, run while the client
 * waits in a call or in nem_client_serve. The arguments after cl and the
 * return value are those of nem_mux_add.
 */
int nem_client_handle(struct nem_client *cl, uint16_t service,
    uint16_t command, nem_handler_fn *fn, void *arg, struct nem_err *err);

/*
 * Sends rq and waits for its final reply, which is stored in *reply (to be
 * released with nem_reply_clear). A streamed reply is refused: its CONTINUE
 * frames are dropped, use nem_client_stream. rq->more must be clear
 * (EINVAL otherwise). rq->fd is duplicated.
 * Returns 0 when the reply's code is NEM_OK. Otherwise returns -1 with
 * reply->code set (reply->local telling where it failed) and err code the
 * errno of nem_code_to_errno(code), with a message naming the service,
 * command, code and reason.
 */
int nem_client_call(struct nem_client *cl, const struct nem_request *rq,
    struct nem_reply *reply, struct nem_err *err);

/*
 * Sends a request whose replies stream and waits for the final reply.
 *	cl	the client
 *	rq	the request; rq->more must be clear and rq->fd is duplicated
 *	fn	called with every CONTINUE reply as it arrives
 *	arg	passed to fn
 *	reply	OUT: the final reply, released with nem_reply_clear
 *	err	the failure
 * Returns as nem_client_call.
 */
int nem_client_stream(struct nem_client *cl, const struct nem_request *rq,
    nem_stream_fn *fn, void *arg, struct nem_reply *reply,
    struct nem_err *err);

/*
 * Starts a request without waiting, for requests that stream (rq->more set,
 * then nem_client_send) or to have several in flight.
 *	cl	the client
 *	rq	the request (rq->fd is duplicated)
 *	fn	CONTINUE reply callback, or NULL to drop streamed replies
 *	arg	passed to fn
 *	seq	OUT: the request's sequence number, for nem_client_send and
 *		nem_client_wait
 * Returns 0, or -1 as nem_conn_request.
 */
int nem_client_start(struct nem_client *cl, const struct nem_request *rq,
    nem_stream_fn *fn, void *arg, uint64_t *seq, struct nem_err *err);

/*
 * Sends the next frame of the streamed request seq (s->more clear sends the
 * last). Waits in the event loop while more than NEM_BODY_MAX bytes are
 * queued, so a long upload does not go over the send-queue bound. Returns 0,
 * or -1 as nem_conn_request_more, or ENOTCONN when the connection closed
 * while waiting.
 */
int nem_client_send(struct nem_client *cl, uint64_t seq,
    const struct nem_send *s, struct nem_err *err);

/*
 * Waits for the final reply of request seq, started with nem_client_start.
 * Returns as nem_client_call; ENOENT when seq was not started or was
 * already waited for.
 */
int nem_client_wait(struct nem_client *cl, uint64_t seq,
    struct nem_reply *reply, struct nem_err *err);

/*
 * Runs the event loop, handling the peer's requests, for timeout_ms
 * milliseconds (a negative value: until the connection closes). Returns 0
 * when the time passed, or -1 with err code ENOTCONN and the reason once
 * the connection is closed.
 */
int nem_client_serve(struct nem_client *cl, int timeout_ms,
    struct nem_err *err);

#endif
