/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The blocking client of nem/client.h: a struct nem_conn on a private event
 * loop, plus the list of calls this side waits for. Waiting runs that loop,
 * so requests from the peer are handled in the meantime. nemctl, nem-init
 * and the tests use it. It never starts threads or child processes.
 */
#include <nem/client.h>
#include <nem/proto.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

/* A request started by this client whose final reply is not consumed. */
struct client_call {
	struct client_call *next;
	struct nem_client *cl;
	uint64_t seq;
	uint16_t service;
	uint16_t command;
	bool done;			/* the final reply is in reply */
	bool cancelling;		/* fn asked to stop */
	nem_stream_fn *fn;
	void *arg;
	struct nem_reply reply;
};

struct nem_client {
	struct event_base *base;
	struct nem_conn *conn;
	struct nem_mux *mux;
	struct client_call *calls;
	bool closed;
	struct nem_err close_err;
};

void
nem_reply_init(struct nem_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

void
nem_reply_clear(struct nem_reply *r)
{
	free(r->body);
	if (r->fd != -1)
		close(r->fd);
	nem_reply_init(r);
}

static void
client_close_cb(struct nem_conn *c, const struct nem_err *why, void *arg)
{
	struct nem_client *cl = arg;

	cl->closed = true;
	cl->close_err = *why;
}

struct nem_client *
nem_client_wrap(int fd, const struct nem_conn_limits *lim,
    struct nem_err *err)
{
	struct nem_client *cl = calloc(1, sizeof(*cl));

	if (cl == NULL) {
		close(fd);
		nem_err_sys(err, ENOMEM, "client");
		return NULL;
	}
	cl->base = event_base_new();
	cl->mux = nem_mux_new(err);
	if (cl->base == NULL || cl->mux == NULL) {
		close(fd);
		nem_err_set(err, ENOMEM, "client event loop");
		goto fail;
	}
	cl->conn = nem_conn_new(cl->base, fd, lim, cl->mux, err);
	if (cl->conn == NULL)
		goto fail;
	nem_conn_set_close_cb(cl->conn, client_close_cb, cl);
	return cl;

fail:
	nem_mux_free(cl->mux);
	if (cl->base != NULL)
		event_base_free(cl->base);
	free(cl);
	return NULL;
}

struct nem_client *
nem_client_connect(const char *path, const struct nem_conn_limits *lim,
    struct nem_err *err)
{
	struct sockaddr_un sun;
	struct nem_client *cl;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		nem_err_set(err, ENAMETOOLONG,
		    "socket path %s is longer than %zu bytes", path,
		    sizeof(sun.sun_path) - 1);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		nem_err_sys(err, errno, "socket for %s", path);
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int saved = errno;

		close(fd);
		nem_err_sys(err, saved, "connect to %s", path);
		return NULL;
	}
	cl = nem_client_wrap(fd, lim, err);
	if (cl == NULL)
		nem_err_prefix(err, "%s", path);
	else
		nem_conn_set_peer(cl->conn, "%s", path);
	return cl;
}

struct nem_client *
nem_client_from_env(const struct nem_conn_limits *lim, struct nem_err *err)
{
	const char *s = getenv("NEM_FD");
	char *end;
	long v;
	int flags;

	if (s == NULL) {
		nem_err_set(err, ENOENT, "NEM_FD is not set; this program "
		    "expects its NEM channel from its parent");
		return NULL;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 3 || v > INT_MAX) {
		nem_err_set(err, EINVAL, "invalid NEM_FD \"%s\": expected a "
		    "descriptor number of 3 or more", s);
		return NULL;
	}
	flags = fcntl((int)v, F_GETFD);
	if (flags == -1 || fcntl((int)v, F_SETFD, flags | FD_CLOEXEC) == -1) {
		nem_err_sys(err, errno, "NEM_FD %ld", v);
		return NULL;
	}
	return nem_client_wrap((int)v, lim, err);
}

void
nem_client_free(struct nem_client *cl)
{
	if (cl == NULL)
		return;

	/* Freeing the connection fails the calls still waiting. */
	nem_conn_free(cl->conn);
	while (cl->calls != NULL) {
		struct client_call *call = cl->calls;

		cl->calls = call->next;
		nem_reply_clear(&call->reply);
		free(call);
	}
	nem_mux_free(cl->mux);
	event_base_free(cl->base);
	free(cl);
}

struct nem_conn *
nem_client_conn(struct nem_client *cl)
{
	return cl->conn;
}

int
nem_client_handle(struct nem_client *cl, uint16_t service, uint16_t command,
    nem_handler_fn *fn, void *arg, struct nem_err *err)
{
	return nem_mux_add(cl->mux, service, command, fn, arg, err);
}

/* Stores the final reply m in call->reply. */
static void
call_store(struct client_call *call, struct nem_msg *m)
{
	struct nem_reply *r = &call->reply;

	r->code = m->hdr.code;
	r->local = m->local;
	if (m->hdr.reason != NULL)
		snprintf(r->reason, sizeof(r->reason), "%s", m->hdr.reason);
	if (m->body_len > 0) {
		/* One more byte: the copy is NUL-terminated for text bodies. */
		r->body = malloc(m->body_len + 1);
		if (r->body == NULL) {
			r->code = NEM_E_INTERNAL;
			r->local = true;
			snprintf(r->reason, sizeof(r->reason),
			    "out of memory for a reply body of %zu bytes",
			    m->body_len);
		} else {
			memcpy(r->body, m->body, m->body_len);
			r->body[m->body_len] = '\0';
			r->body_len = m->body_len;
		}
	}
	r->fd = nem_msg_take_fd(m);
	call->done = true;
}

static void
call_reply_cb(struct nem_conn *c, struct nem_msg *m, void *arg)
{
	struct client_call *call = arg;

	if ((m->flags & NEM_F_CONTINUE) == 0) {
		call_store(call, m);
		return;
	}
	if (call->fn == NULL || call->cancelling)
		return;
	if (call->fn(m, call->arg) != 0) {
		call->cancelling = true;
		nem_conn_cancel(c, m->seq);
	}
}

int
nem_client_start(struct nem_client *cl, const struct nem_request *rq,
    nem_stream_fn *fn, void *arg, uint64_t *seq, struct nem_err *err)
{
	struct client_call *call = calloc(1, sizeof(*call));

	if (call == NULL)
		return nem_err_sys(err, ENOMEM, "call");
	call->cl = cl;
	call->service = rq->service;
	call->command = rq->command;
	call->fn = fn;
	call->arg = arg;
	nem_reply_init(&call->reply);
	if (nem_conn_request(cl->conn, rq, call_reply_cb, call, &call->seq,
	    err) == -1) {
		free(call);
		return -1;
	}
	call->next = cl->calls;
	cl->calls = call;
	*seq = call->seq;
	return 0;
}

/* Runs one round of the event loop. Returns -1 when no event is left. */
static int
client_run_once(struct nem_client *cl)
{
	return event_base_loop(cl->base, EVLOOP_ONCE) == 0 ? 0 : -1;
}

int
nem_client_send(struct nem_client *cl, uint64_t seq, const struct nem_send *s,
    struct nem_err *err)
{
	struct nem_conn_stats st;

	if (nem_conn_request_more(cl->conn, seq, s, err) == -1)
		return -1;
	for (;;) {
		nem_conn_stats(cl->conn, &st);
		if (st.out_bytes <= NEM_BODY_MAX)
			return 0;
		if (cl->closed || client_run_once(cl) == -1)
			return nem_err_set(err, ENOTCONN,
			    "%s: connection closed while sending",
			    nem_conn_peer(cl->conn));
	}
}

static void
service_label(uint16_t service, uint16_t command, char *buf, size_t size)
{
	const char *name = nem_service_name(service);

	if (name != NULL)
		snprintf(buf, size, "%s command %u", name, command);
	else
		snprintf(buf, size, "service %u command %u", service, command);
}

int
nem_client_wait(struct nem_client *cl, uint64_t seq, struct nem_reply *reply,
    struct nem_err *err)
{
	struct client_call **pp, *call;
	char label[64];

	for (pp = &cl->calls; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->seq == seq)
			break;
	call = *pp;
	if (call == NULL)
		return nem_err_set(err, ENOENT,
		    "request %llu was not started or was already waited for",
		    (unsigned long long)seq);

	while (!call->done) {
		/* A closed connection fails every call, so this ends. */
		if (client_run_once(cl) == -1 && !call->done) {
			nem_conn_cancel(cl->conn, seq);
			break;
		}
	}
	if (!call->done) {
		call->reply.code = NEM_E_UNAVAILABLE;
		call->reply.local = true;
		snprintf(call->reply.reason, sizeof(call->reply.reason),
		    "the event loop has nothing left to wait for");
	}
	*pp = call->next;
	*reply = call->reply;
	service_label(call->service, call->command, label, sizeof(label));
	free(call);

	if (reply->code == NEM_OK)
		return 0;
	return nem_err_set(err, nem_code_to_errno(reply->code), "%s: %s%s%s",
	    label, nem_code_name(reply->code), reply->reason[0] ? ": " : "",
	    reply->reason);
}

int
nem_client_stream(struct nem_client *cl, const struct nem_request *rq,
    nem_stream_fn *fn, void *arg, struct nem_reply *reply,
    struct nem_err *err)
{
	uint64_t seq;

	nem_reply_init(reply);
	if (rq->more) {
		reply->code = NEM_E_INVALID;
		reply->local = true;
		return nem_err_set(err, EINVAL, "a streamed request (more set) "
		    "needs nem_client_start, nem_client_send and "
		    "nem_client_wait");
	}
	if (nem_client_start(cl, rq, fn, arg, &seq, err) == -1) {
		reply->code = NEM_E_UNAVAILABLE;
		reply->local = true;
		return -1;
	}
	return nem_client_wait(cl, seq, reply, err);
}

int
nem_client_call(struct nem_client *cl, const struct nem_request *rq,
    struct nem_reply *reply, struct nem_err *err)
{
	return nem_client_stream(cl, rq, NULL, NULL, reply, err);
}

static void
serve_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	bool *expired = arg;

	*expired = true;
}

int
nem_client_serve(struct nem_client *cl, int timeout_ms, struct nem_err *err)
{
	struct event *timer = NULL;
	bool expired = false;

	if (timeout_ms >= 0) {
		struct timeval tv = { .tv_sec = timeout_ms / 1000,
			.tv_usec = (timeout_ms % 1000) * 1000 };

		timer = evtimer_new(cl->base, serve_timer_cb, &expired);
		if (timer == NULL || evtimer_add(timer, &tv) == -1) {
			if (timer != NULL)
				event_free(timer);
			return nem_err_set(err, ENOMEM, "serve timer");
		}
	}
	while (!expired && !cl->closed)
		if (client_run_once(cl) == -1)
			break;
	if (timer != NULL)
		event_free(timer);
	if (cl->closed)
		return nem_err_set(err, ENOTCONN, "%s: %s",
		    nem_conn_peer(cl->conn), cl->close_err.msg);
	return 0;
}
