/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of NEM connections over real unix socketpairs on one libevent
 * loop: request/reply, interleaved and full-duplex transactions, streaming
 * both ways, cancel, timeouts, descriptor passing, close with requests in
 * flight, every protocol violation and bound, and a hostile peer that must
 * not slow down the other connections on the same loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/conn.h>
#include <nem/log.h>

#define SVC_TEST 200			/* test-only service id */
#define CMD_ASYNC 1			/* keeps the transaction for later */
#define CMD_STREAM 2			/* replies 3 CONTINUE frames + final */
#define CMD_GATHER 3			/* streamed request, one reply */
#define CMD_ECHO_FD 4			/* returns the received descriptor */
#define CMD_SLOW 5			/* never replies; counts cancels */
#define CMD_BIG 6			/* replies with a 1 MiB body */
#define CMD_DUPLEX 7			/* echoes each request frame as it comes */

/* State shared by the handlers of one test. */
struct server {
	struct nem_txn *held[8];
	int nheld;
	int gathered;			/* request frames seen by CMD_GATHER */
	int cancels;
	int64_t cancel_code;
	int handled;			/* handler calls of any kind */
	bool fd_was_cloexec;
	bool saw_route;
	char route_host[32];
};

/* What a reply callback saw. */
struct replies {
	int calls;
	int finals;
	int64_t code;
	bool local;
	uint8_t flags;
	unsigned last_index;
	char body[64];
	int fd;
};

struct fixture {
	struct event_base *base;
	struct nem_mux *mux;
	struct server srv;
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
timeout_flag_cb(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* Runs the loop until *flag is true or ms pass; returns *flag. */
static bool
run_until(struct event_base *base, const bool *flag, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
		.tv_usec = (ms % 1000) * 1000 };
	bool expired = false;
	struct event *ev = evtimer_new(base, timeout_flag_cb, &expired);

	evtimer_add(ev, &tv);
	while (!*flag && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	return *flag;
}

/* Runs the loop until *count is non-zero or ms pass; returns that. */
static bool
run_count(struct event_base *base, const int *count, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
		.tv_usec = (ms % 1000) * 1000 };
	bool expired = false;
	struct event *ev = evtimer_new(base, timeout_flag_cb, &expired);

	evtimer_add(ev, &tv);
	while (*count == 0 && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	return *count != 0;
}

/* Runs the loop for ms milliseconds. */
static void
run_for(struct event_base *base, int ms)
{
	bool never = false;

	run_until(base, &never, ms);
}

static void
info_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct server *srv = arg;
	struct nem_send s = NEM_SEND_INIT;

	srv->handled++;
	if (msg->flags & NEM_F_ROUTE) {
		srv->saw_route = true;
		snprintf(srv->route_host, sizeof(srv->route_host), "%s",
		    msg->hdr.route.host ? msg->hdr.route.host : "");
	}
	s.body = "info";
	s.body_len = 4;
	nem_txn_reply(t, &s, NULL);
}

static void
async_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct server *srv = arg;

	srv->handled++;
	srv->held[srv->nheld++] = t;
}

static void
stream_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct server *srv = arg;
	struct nem_send s = NEM_SEND_INIT;
	char body[8];

	srv->handled++;
	for (int i = 0; i < 4; i++) {
		snprintf(body, sizeof(body), "part%d", i);
		s.body = body;
		s.body_len = strlen(body);
		s.more = i < 3;
		assert_int_equal(nem_txn_reply(t, &s, NULL), 0);
	}
}

static void
gather_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct server *srv = arg;
	struct nem_send s = NEM_SEND_INIT;
	char body[16];

	srv->handled++;
	assert_int_equal(msg->index, (unsigned)srv->gathered);
	srv->gathered++;
	if (msg->flags & NEM_F_CONTINUE)
		return;
	snprintf(body, sizeof(body), "got %d", srv->gathered);
	s.body = body;
	s.body_len = strlen(body);
	nem_txn_reply(t, &s, NULL);
}

static void
echo_fd_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct server *srv = arg;
	struct nem_send s = NEM_SEND_INIT;
	int fd = nem_msg_take_fd(msg);

	srv->handled++;
	srv->fd_was_cloexec = fd != -1 &&
	    (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
	s.fd = fd;
	nem_txn_reply(t, &s, NULL);
	if (fd != -1)
		close(fd);
}

static void
slow_cancel(struct nem_txn *t, int64_t code, void *arg)
{
	struct server *srv = arg;

	srv->cancels++;
	srv->cancel_code = code;
}

static void
slow_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct server *srv = arg;

	srv->handled++;
	nem_txn_on_cancel(t, slow_cancel, srv);
}

static void
big_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct server *srv = arg;
	struct nem_send s = NEM_SEND_INIT;
	static uint8_t big[NEM_BODY_MAX];

	srv->handled++;
	s.body = big;
	s.body_len = sizeof(big);
	nem_txn_reply(t, &s, NULL);
}

static void
duplex_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct server *srv = arg;
	struct nem_send s = NEM_SEND_INIT;

	srv->handled++;
	s.body = msg->body;
	s.body_len = msg->body_len;
	s.more = true;
	nem_txn_reply(t, &s, NULL);
	if (msg->flags & NEM_F_CONTINUE)
		return;
	s.body = "end";
	s.body_len = 3;
	s.more = false;
	nem_txn_reply(t, &s, NULL);
}

static void
reply_cb(struct nem_conn *c, struct nem_msg *msg, void *arg)
{
	struct replies *r = arg;

	r->calls++;
	r->code = msg->hdr.code;
	r->local = msg->local;
	r->flags = msg->flags;
	r->last_index = msg->index;
	if (!(msg->flags & NEM_F_CONTINUE))
		r->finals++;
	snprintf(r->body, sizeof(r->body), "%.*s", (int)msg->body_len,
	    msg->body ? (const char *)msg->body : "");
	if (msg->fd != -1)
		r->fd = nem_msg_take_fd(msg);
}

static void
replies_init(struct replies *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct nem_mux *m;

	log_init(LOG_DEST_STDERR, LOG_LEVEL_WARN);
	log_role("test_conn");
	fx->base = event_base_new();
	m = fx->mux = nem_mux_new(NULL);
	nem_mux_add(m, NEM_SVC_DAEMON, NEM_DAEMON_INFO, info_handler,
	    &fx->srv, NULL);
	nem_mux_add(m, SVC_TEST, CMD_ASYNC, async_handler, &fx->srv, NULL);
	nem_mux_add(m, SVC_TEST, CMD_STREAM, stream_handler, &fx->srv, NULL);
	nem_mux_add(m, SVC_TEST, CMD_GATHER, gather_handler, &fx->srv, NULL);
	nem_mux_add(m, SVC_TEST, CMD_ECHO_FD, echo_fd_handler, &fx->srv,
	    NULL);
	nem_mux_add(m, SVC_TEST, CMD_SLOW, slow_handler, &fx->srv, NULL);
	nem_mux_add(m, SVC_TEST, CMD_BIG, big_handler, &fx->srv, NULL);
	nem_mux_add(m, SVC_TEST, CMD_DUPLEX, duplex_handler, &fx->srv, NULL);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	nem_mux_free(fx->mux);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

/* Connects two connections that both dispatch through the fixture's mux. */
static void
make_pair(struct fixture *fx, const struct nem_conn_limits *lim,
    struct nem_conn **a, struct nem_conn **b)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	*a = nem_conn_new(fx->base, sv[0], lim, fx->mux, NULL);
	*b = nem_conn_new(fx->base, sv[1], lim, fx->mux, NULL);
	assert_non_null(*a);
	assert_non_null(*b);
	nem_conn_set_peer(*a, "test side a");
	nem_conn_set_peer(*b, "test side b");
}

/* Connects a connection to a raw socket the test writes by hand. */
static struct nem_conn *
make_raw(struct fixture *fx, const struct nem_conn_limits *lim, int *raw)
{
	struct nem_conn *c;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	c = nem_conn_new(fx->base, sv[0], lim, fx->mux, NULL);
	assert_non_null(c);
	nem_conn_set_peer(c, "raw peer");
	*raw = sv[1];
	return c;
}

static int
request(struct nem_conn *c, uint16_t svc, uint16_t cmd, const char *body,
    struct replies *r, uint64_t *seq)
{
	struct nem_request rq = NEM_REQUEST_INIT(svc, cmd);

	rq.body = body;
	rq.body_len = body != NULL ? strlen(body) : 0;
	return nem_conn_request(c, &rq, reply_cb, r, seq, NULL);
}

struct closed {
	bool done;
	int code;
	char msg[NEM_ERR_MSG_MAX];
	double at;
};

static void
close_cb(struct nem_conn *c, const struct nem_err *why, void *arg)
{
	struct closed *cl = arg;

	cl->done = true;
	cl->code = why->code;
	cl->at = now_ms();
	snprintf(cl->msg, sizeof(cl->msg), "%s", why->msg);
}

static void
request_reply(void **state)
{
	struct fixture *fx = *state;
	struct nem_conn *a, *b;
	struct replies r;
	uint64_t seq1, seq2;

	make_pair(fx, NULL, &a, &b);
	replies_init(&r);
	assert_int_equal(request(a, NEM_SVC_DAEMON, NEM_DAEMON_INFO, NULL, &r,
	    &seq1), 0);
	assert_int_equal(r.calls, 0);
	assert_true(seq1 == 1);
	assert_true(run_count(fx->base, &r.finals, 1000));
	assert_int_equal(r.calls, 1);
	assert_true(r.code == NEM_OK);
	assert_false(r.local);
	assert_int_equal(r.flags, NEM_F_REPLY);
	assert_string_equal(r.body, "info");

	/* Sequence numbers of one side increase from 1. */
	assert_int_equal(request(a, NEM_SVC_DAEMON, NEM_DAEMON_INFO, NULL, &r,
	    &seq2), 0);
	assert_true(seq2 == 2);
	r.finals = 0;
	assert_true(run_count(fx->base, &r.finals, 1000));
	nem_conn_free(a);
	nem_conn_free(b);
}

static void
unknown_command_error_reply(void **state)
{
	struct fixture *fx = *state;
	struct nem_conn *a, *b;
	struct replies r;

	make_pair(fx, NULL, &a, &b);
	replies_init(&r);
	assert_int_equal(request(a, 99, 1, NULL, &r, NULL), 0);
	assert_true(run_count(fx->base, &r.finals, 1000));
	assert_true(r.code == NEM_E_UNKNOWN);
	assert_false(r.local);
	replies_init(&r);
	assert_int_equal(request(a, NEM_SVC_DAEMON, 77, NULL, &r, NULL), 0);
	assert_true(run_count(fx->base, &r.finals, 1000));
	assert_true(r.code == NEM_E_UNKNOWN);

	/* A connection without handlers replies the same way. */
	{
		struct nem_conn *c, *d;
		int sv[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM |
		    SOCK_CLOEXEC, 0, sv), 0);
		c = nem_conn_new(fx->base, sv[0], NULL, NULL, NULL);
		d = nem_conn_new(fx->base, sv[1], NULL, NULL, NULL);
		replies_init(&r);
		assert_int_equal(request(c, NEM_SVC_DAEMON, NEM_DAEMON_INFO,
		    NULL, &r, NULL), 0);
		assert_true(run_count(fx->base, &r.finals, 1000));
		assert_true(r.code == NEM_E_UNKNOWN);
		nem_conn_free(c);
		nem_conn_free(d);
	}
	nem_conn_free(a);
	nem_conn_free(b);
}

static void
interleaved_full_duplex(void **state)
{
	struct fixture *fx = *state;
	struct nem_conn *a, *b;
	struct replies r[3], back;
	struct nem_send s = NEM_SEND_INIT;
	const char *bodies[3] = { "zero", "one", "two" };
	bool all = false;

	make_pair(fx, NULL, &a, &b);
	for (int i = 0; i < 3; i++) {
		replies_init(&r[i]);
		assert_int_equal(request(a, SVC_TEST, CMD_ASYNC, NULL, &r[i],
		    NULL), 0);
	}
	run_for(fx->base, 50);
	assert_int_equal(fx->srv.nheld, 3);

	/* While three requests of a wait at b, b sends a request to a. */
	replies_init(&back);
	assert_int_equal(request(b, NEM_SVC_DAEMON, NEM_DAEMON_INFO, NULL,
	    &back, NULL), 0);
	assert_true(run_count(fx->base, &back.finals, 1000));
	assert_string_equal(back.body, "info");

	/* Replies sent in reverse order each reach their own request. */
	for (int i = 2; i >= 0; i--) {
		s.body = bodies[i];
		s.body_len = strlen(bodies[i]);
		assert_true(nem_txn_seq(fx->srv.held[i]) == (uint64_t)i + 1);
		assert_int_equal(nem_txn_reply(fx->srv.held[i], &s, NULL), 0);
	}
	while (!all) {
		run_for(fx->base, 10);
		all = r[0].finals && r[1].finals && r[2].finals;
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_string_equal(r[i].body, bodies[i]);
	}
	nem_conn_free(a);
	nem_conn_free(b);
}

static void
streamed_replies(void **state)
{
	struct fixture *fx = *state;
	struct nem_conn *a, *b;
	struct replies r;

	make_pair(fx, NULL, &a, &b);
	replies_init(&r);
	assert_int_equal(request(a, SVC_TEST, CMD_STREAM, NULL, &r, NULL), 0);
	assert_true(run_count(fx->base, &r.finals, 1000));
	assert_int_equal(r.calls, 4);
	assert_int_equal(r.finals, 1);
	assert_int_equal(r.last_index, 3);
	assert_string_equal(r.body, "part3");
	assert_int_equal(r.flags, NEM_F_REPLY);
	nem_conn_free(a);
	nem_conn_free(b);
}

static void
streamed_request(void **state)
{
	struct fixture *fx = *state;
	struct nem_request rq = NEM_REQUEST_INIT(SVC_TEST, CMD_GATHER);
	struct nem_send s = NEM_SEND_INIT;
	struct nem_conn *a, *b;
	struct nem_err err;
	struct replies r;
	uint64_t seq;

	make_pair(fx, NULL, &a, &b);
	replies_init(&r);
	rq.more = true;
	assert_int_equal(nem_conn_request(a, &rq, reply_cb, &r, &seq, &err),
	    0);
	s.more = true;
	assert_int_equal(nem_conn_request_more(a, seq, &s, &err), 0);
	s.more = false;
	assert_int_equal(nem_conn_request_more(a, seq, &s, &err), 0);
	assert_int_equal(nem_conn_request_more(a, seq, &s, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_true(run_count(fx->base, &r.finals, 1000));
	assert_int_equal(fx->srv.gathered, 3);
	assert_string_equal(r.body, "got 3");

	/* After the final reply the request is gone. */
	assert_int_equal(nem_conn_request_more(a, seq, &s, &err), -1);
	assert_int_equal(err.code, ENOENT);
	nem_conn_free(a);
	nem_conn_free(b);
}

static void
stream_both_ways(void **state)
{
	struct fixture *fx = *state;
	struct nem_request rq = NEM_REQUEST_INIT(SVC_TEST, CMD_DUPLEX);
	struct nem_send s = NEM_SEND_INIT;
	const char *parts[3] = { "a", "bb", "ccc" };
	struct nem_conn *a, *b;
	struct replies r;
	uint64_t seq;

	/* Each request frame gets its echo before the next one is sent. */
	make_pair(fx, NULL, &a, &b);
	replies_init(&r);
	rq.body = parts[0];
	rq.body_len = 1;
	rq.more = true;
	assert_int_equal(nem_conn_request(a, &rq, reply_cb, &r, &seq, NULL),
	    0);
	assert_true(run_count(fx->base, &r.calls, 1000));
	assert_string_equal(r.body, "a");
	for (int i = 1; i < 3; i++) {
		int before = r.calls;

		s.body = parts[i];
		s.body_len = strlen(parts[i]);
		s.more = i < 2;
		assert_int_equal(nem_conn_request_more(a, seq, &s, NULL), 0);
		if (!s.more)
			break;
		while (r.calls == before)
			run_for(fx->base, 5);
		assert_string_equal(r.body, parts[i]);
		assert_true(r.flags & NEM_F_CONTINUE);
	}
	assert_true(run_count(fx->base, &r.finals, 1000));
	assert_int_equal(r.calls, 4);
	assert_int_equal(r.last_index, 3);
	assert_string_equal(r.body, "end");
	assert_int_equal(fx->srv.handled, 3);
	nem_conn_free(a);
	nem_conn_free(b);
}

static void
cancel_reaches_responder(void **state)
{
	struct fixture *fx = *state;
	struct nem_conn *a, *b;
	struct nem_conn_stats st;
	struct replies r;
	uint64_t seq;

	make_pair(fx, NULL, &a, &b);
	replies_init(&r);
	assert_int_equal(request(a, SVC_TEST, CMD_SLOW, NULL, &r, &seq), 0);
	run_for(fx->base, 30);
	assert_int_equal(fx->srv.handled, 1);
	assert_int_equal(nem_conn_cancel(a, seq), 0);
	assert_int_equal(r.calls, 1);
	assert_true(r.code == NEM_E_CANCELLED);
	assert_true(r.local);
	assert_int_equal(nem_conn_cancel(a, seq), -1);
	assert_int_equal(errno, ENOENT);

	assert_true(run_count(fx->base, &fx->srv.cancels, 1000));
	assert_true(fx->srv.cancel_code == NEM_E_CANCELLED);
	nem_conn_stats(b, &st);
	assert_int_equal(st.incoming, 0);
	assert_int_equal(r.calls, 1);
	nem_conn_free(a);
	nem_conn_free(b);
}

static void
reply_after_cancel_is_dropped(void **state)
{
	struct fixture *fx = *state;
	struct nem_send s = NEM_SEND_INIT;
	struct nem_conn *a, *b;
	struct nem_err err;
	struct replies r;
	uint64_t seq;

	make_pair(fx, NULL, &a, &b);
	replies_init(&r);
	assert_int_equal(request(a, SVC_TEST, CMD_ASYNC, NULL, &r, &seq), 0);
	run_for(fx->base, 30);
	assert_int_equal(fx->srv.nheld, 1);

	/* The reply crosses the CANCEL on the wire. */
	assert_int_equal(nem_conn_cancel(a, seq), 0);
	s.body = "late";
	s.body_len = 4;
	assert_int_equal(nem_txn_reply(fx->srv.held[0], &s, &err), 0);
	run_for(fx->base, 50);
	assert_int_equal(r.calls, 1);
	assert_true(r.code == NEM_E_CANCELLED);
	assert_false(nem_conn_is_closed(a));
	assert_false(nem_conn_is_closed(b));

	/* A reply to a transaction the requester cancelled returns ECANCELED. */
	replies_init(&r);
	fx->srv.nheld = 0;
	assert_int_equal(request(a, SVC_TEST, CMD_ASYNC, NULL, &r, &seq), 0);
	run_for(fx->base, 30);
	assert_int_equal(nem_conn_cancel(a, seq), 0);
	run_for(fx->base, 30);
	assert_null(nem_txn_conn(fx->srv.held[0]));
	assert_int_equal(nem_txn_reply(fx->srv.held[0], &s, &err), -1);
	assert_int_equal(err.code, ECANCELED);
	nem_conn_free(a);
	nem_conn_free(b);
}

/* Sends the held transaction's next reply frame, the tenth one final. */
static void
tick_reply(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct nem_send s = NEM_SEND_INIT;

	s.body = "tick";
	s.body_len = 4;
	s.more = ++srv->gathered < 10;
	nem_txn_reply(srv->held[0], &s, NULL);
}

static void
timeout_restarts_per_frame(void **state)
{
	struct fixture *fx = *state;
	struct nem_request rq = NEM_REQUEST_INIT(SVC_TEST, CMD_ASYNC);
	struct timeval every = { .tv_sec = 0, .tv_usec = 40000 };
	struct nem_conn *a, *b;
	struct event *ticker;
	struct replies r;

	/* Ten reply frames 40 ms apart outlast a 200 ms timeout, which
	   bounds only the wait for each frame. */
	make_pair(fx, NULL, &a, &b);
	replies_init(&r);
	rq.timeout_ms = 200;
	assert_int_equal(nem_conn_request(a, &rq, reply_cb, &r, NULL, NULL),
	    0);
	run_for(fx->base, 10);
	assert_int_equal(fx->srv.nheld, 1);
	ticker = event_new(fx->base, -1, EV_PERSIST, tick_reply, &fx->srv);
	event_add(ticker, &every);
	assert_true(run_count(fx->base, &r.finals, 2000));
	event_free(ticker);
	assert_true(r.code == NEM_OK);
	assert_int_equal(r.calls, 10);
	assert_true(r.code == NEM_OK);
	assert_string_equal(r.body, "tick");
	nem_conn_free(a);
	nem_conn_free(b);
}

static void
request_timeout(void **state)
{
	struct fixture *fx = *state;
	struct nem_request rq = NEM_REQUEST_INIT(SVC_TEST, CMD_SLOW);
	struct nem_conn *a, *b;
	struct replies r;
	double start;

	make_pair(fx, NULL, &a, &b);
	replies_init(&r);
	rq.timeout_ms = 60;
	start = now_ms();
	assert_int_equal(nem_conn_request(a, &rq, reply_cb, &r, NULL, NULL),
	    0);
	assert_true(run_count(fx->base, &r.finals, 2000));
	assert_true(now_ms() - start >= 55);
	assert_true(r.code == NEM_E_TIMEDOUT);
	assert_true(r.local);

	/* The responder ends the transaction too: by CANCEL or its timer. */
	assert_true(run_count(fx->base, &fx->srv.cancels, 1000));
	assert_true(fx->srv.cancel_code == NEM_E_CANCELLED ||
	    fx->srv.cancel_code == NEM_E_TIMEDOUT);
	nem_conn_free(a);
	nem_conn_free(b);
}

/*
 * Returns true when the raw peer's connection is closed and delivered no
 * reply bytes. A unix socket reports end of stream, or ECONNRESET when the
 * closing side left unread bytes behind.
 */
static bool
raw_sees_close(int raw)
{
	char buf[64];
	ssize_t n = recv(raw, buf, sizeof(buf), MSG_DONTWAIT);

	return n == 0 || (n == -1 && errno == ECONNRESET);
}

/* Writes a whole buffer to a raw socket, optionally with descriptors. */
static void
raw_send(int fd, const void *p, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} cm;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
	struct msghdr mh;

	memset(&mh, 0, sizeof(mh));
	memset(&cm, 0, sizeof(cm));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		struct cmsghdr *cmsg;

		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)nfds);
	}
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

static void
responder_timeout_from_header(void **state)
{
	/* A request to CMD_SLOW with time.timeout_ms 40. */
	struct nem_header h = { .has_timeout = true, .timeout_ms = 40 };
	struct nem_fixed f = { .seq = 1, .service = SVC_TEST,
		.command = CMD_SLOW };
	struct fixture *fx = *state;
	struct nem_conn_stats st;
	struct nem_conn *c;
	uint8_t *frame;
	size_t len;
	int raw;

	c = make_raw(fx, NULL, &raw);
	assert_int_equal(nem_frame_build(&f, &h, NULL, 0, &frame, &len, NULL),
	    0);
	raw_send(raw, frame, len, NULL, 0);
	free(frame);
	assert_true(run_count(fx->base, &fx->srv.cancels, 1000));
	assert_true(fx->srv.cancel_code == NEM_E_TIMEDOUT);
	nem_conn_stats(c, &st);
	assert_int_equal(st.incoming, 0);
	nem_conn_free(c);
	close(raw);
}

static void
route_flag_reaches_handler(void **state)
{
	struct fixture *fx = *state;
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_INFO);
	struct nem_route route = { .cluster = "eu", .host = "node7" };
	struct nem_conn *a, *b;
	struct replies r;

	make_pair(fx, NULL, &a, &b);
	replies_init(&r);
	rq.route = &route;
	assert_int_equal(nem_conn_request(a, &rq, reply_cb, &r, NULL, NULL),
	    0);
	assert_true(run_count(fx->base, &r.finals, 1000));
	assert_true(fx->srv.saw_route);
	assert_string_equal(fx->srv.route_host, "node7");
	nem_conn_free(a);
	nem_conn_free(b);
}

static void
descriptor_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct nem_request rq = NEM_REQUEST_INIT(SVC_TEST, CMD_ECHO_FD);
	struct nem_conn *a, *b;
	struct replies r;
	char buf[8] = "";
	int p[2];

	make_pair(fx, NULL, &a, &b);
	replies_init(&r);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	rq.fd = p[1];
	assert_int_equal(nem_conn_request(a, &rq, reply_cb, &r, NULL, NULL),
	    0);
	close(p[1]);
	assert_true(run_count(fx->base, &r.finals, 1000));
	assert_true(fx->srv.fd_was_cloexec);
	assert_true(r.flags & NEM_F_FD);
	assert_true(r.fd >= 0);
	assert_true(fcntl(r.fd, F_GETFD) & FD_CLOEXEC);

	/* The descriptor that came back is the pipe's write end. */
	assert_int_equal(write(r.fd, "hi", 2), 2);
	close(r.fd);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "hi", 2);
	close(p[0]);

	/* A descriptor that is not open is refused before anything is sent. */
	{
		struct nem_err err;

		rq.fd = 1000;
		assert_int_equal(nem_conn_request(a, &rq, reply_cb, &r, NULL,
		    &err), -1);
		assert_int_equal(err.code, EBADF);
		assert_false(nem_conn_is_closed(a));
	}
	nem_conn_free(a);
	nem_conn_free(b);
}

static void
close_fails_requests_in_flight(void **state)
{
	struct fixture *fx = *state;
	struct nem_conn *a, *b;
	struct replies r[3];
	struct closed cl = { 0 };

	make_pair(fx, NULL, &a, &b);
	nem_conn_set_close_cb(a, close_cb, &cl);
	for (int i = 0; i < 3; i++) {
		replies_init(&r[i]);
		assert_int_equal(request(a, SVC_TEST, CMD_SLOW, NULL, &r[i],
		    NULL), 0);
	}
	run_for(fx->base, 30);
	assert_int_equal(fx->srv.handled, 3);

	/* b goes away: its transactions end, a's requests fail. */
	nem_conn_free(b);
	assert_int_equal(fx->srv.cancels, 3);
	assert_true(fx->srv.cancel_code == NEM_E_UNAVAILABLE);
	assert_true(run_until(fx->base, &cl.done, 1000));
	assert_int_equal(cl.code, ENOTCONN);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_true(r[i].code == NEM_E_UNAVAILABLE);
		assert_true(r[i].local);
	}
	assert_true(nem_conn_is_closed(a));
	assert_int_equal(request(a, NEM_SVC_DAEMON, 1, NULL, &r[0], NULL), -1);
	nem_conn_free(a);
}

/* Frees the connection from inside its own close callback. */
static void
free_in_close_cb(struct nem_conn *c, const struct nem_err *why, void *arg)
{
	*(bool *)arg = true;
	nem_conn_free(c);
}

static void
free_from_callback(void **state)
{
	struct fixture *fx = *state;
	struct nem_conn *a, *b;
	struct replies r;
	bool freed = false;

	make_pair(fx, NULL, &a, &b);
	nem_conn_set_close_cb(a, free_in_close_cb, &freed);
	replies_init(&r);
	assert_int_equal(request(a, SVC_TEST, CMD_SLOW, NULL, &r, NULL), 0);
	run_for(fx->base, 20);
	nem_conn_free(b);
	assert_true(run_until(fx->base, &freed, 1000));
	assert_int_equal(r.calls, 1);
}

/*
 * Sends bytes (and descriptors) from a raw peer and checks that the
 * connection closes for a protocol violation whose message contains what,
 * that the peer got no reply bytes, and that no handler ran.
 */
static void
expect_violation(struct fixture *fx, const void *p, size_t len,
    const int *fds, int nfds, const char *what)
{
	struct closed cl = { 0 };
	struct nem_conn_limits lim;
	struct nem_conn *c;
	int raw;

	nem_conn_limits_default(&lim);
	lim.stall_timeout_ms = 200;
	fx->srv.handled = 0;
	c = make_raw(fx, &lim, &raw);
	nem_conn_set_close_cb(c, close_cb, &cl);
	raw_send(raw, p, len, fds, nfds);
	assert_true(run_until(fx->base, &cl.done, 2000));
	assert_int_equal(cl.code, EPROTO);
	if (strstr(cl.msg, what) == NULL)
		fail_msg("close reason \"%s\" lacks \"%s\"", cl.msg, what);
	assert_true(raw_sees_close(raw));
	assert_int_equal(fx->srv.handled, 0);
	nem_conn_free(c);
	close(raw);
}

/* A valid daemon.info request, seq 2, with the empty document as header. */
static const uint8_t frame_b[] = {
	0x21, 0x6d, 0x65, 0x6e, 0x01, 0x00, 0x05, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
	0x05, 0x00, 0x00, 0x00, 0x00,
};

static void
fixed_header_violations_close(void **state)
{
	struct fixture *fx = *state;
	uint8_t f[sizeof(frame_b)];

	memcpy(f, frame_b, sizeof(f));
	f[0] = 0x22;
	expect_violation(fx, f, sizeof(f), NULL, 0, "bad magic");

	memcpy(f, frame_b, sizeof(f));
	f[4] = 0xff;
	expect_violation(fx, f, sizeof(f), NULL, 0, "version 255");

	for (int bit = 5; bit < 8; bit++) {
		memcpy(f, frame_b, sizeof(f));
		f[5] = (uint8_t)(1u << bit);
		expect_violation(fx, f, sizeof(f), NULL, 0, "reserved");
	}

	memcpy(f, frame_b, sizeof(f));
	f[6] = 0x01;
	f[7] = 0xfa;
	expect_violation(fx, f, sizeof(f), NULL, 0, "header_len 64001");

	memcpy(f, frame_b, sizeof(f));
	f[16] = 0x01;
	f[18] = 0x10;
	expect_violation(fx, f, sizeof(f), NULL, 0, "body_len 1048577");

	memcpy(f, frame_b, sizeof(f));
	f[6] = 0x03;
	expect_violation(fx, f, sizeof(f), NULL, 0, "header_len 3");

	memcpy(f, frame_b, sizeof(f));
	f[8] = 0x00;
	expect_violation(fx, f, sizeof(f), NULL, 0, "seq 0");
}

static void
descriptor_violations_close(void **state)
{
	struct fixture *fx = *state;
	uint8_t f[sizeof(frame_b)];
	int p[2];
	int two[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);

	/* A descriptor with a frame that lacks the FD flag. */
	expect_violation(fx, frame_b, sizeof(frame_b), &p[0], 1,
	    "without the FD flag");

	/* The FD flag without a descriptor. */
	memcpy(f, frame_b, sizeof(f));
	f[5] = NEM_F_FD;
	expect_violation(fx, f, sizeof(f), NULL, 0, "no descriptor");

	/* Two descriptors with one FD frame. */
	two[0] = p[0];
	two[1] = p[1];
	expect_violation(fx, f, sizeof(f), two, 2, "2 descriptors");

	/* More descriptors than one read reports: the rest are cut off. */
	{
		int many[12];

		for (int i = 0; i < 12; i++)
			many[i] = p[i % 2];
		expect_violation(fx, f, sizeof(f), many, 12, "(and more)");
	}

	/* A descriptor with the second part of a fixed header. */
	{
		struct closed cl = { 0 };
		struct nem_conn *c;
		int raw;

		c = make_raw(fx, NULL, &raw);
		nem_conn_set_close_cb(c, close_cb, &cl);
		raw_send(raw, frame_b, 10, NULL, 0);
		run_for(fx->base, 20);
		raw_send(raw, frame_b + 10, sizeof(frame_b) - 10, &p[0], 1);
		assert_true(run_until(fx->base, &cl.done, 1000));
		assert_non_null(strstr(cl.msg, "after the first byte"));
		nem_conn_free(c);
		close(raw);
	}

	/* Every received descriptor was closed: the pipe has one writer. */
	close(p[1]);
	{
		char c;

		assert_int_equal(read(p[0], &c, 1), 0);
	}
	close(p[0]);
}

static void
truncated_at_every_offset(void **state)
{
	struct fixture *fx = *state;
	uint8_t frame[sizeof(frame_b) + 3];

	/* frame_b with a 3-byte body, so every part can be cut. */
	memcpy(frame, frame_b, sizeof(frame_b));
	frame[16] = 3;
	memcpy(frame + sizeof(frame_b), "abc", 3);

	for (size_t k = 0; k <= sizeof(frame); k++) {
		struct closed cl = { 0 };
		struct nem_conn *c;
		int raw;

		fx->srv.handled = 0;
		c = make_raw(fx, NULL, &raw);
		nem_conn_set_close_cb(c, close_cb, &cl);
		if (k > 0)
			raw_send(raw, frame, k, NULL, 0);
		shutdown(raw, SHUT_WR);
		assert_true(run_until(fx->base, &cl.done, 1000));
		if (k == 0 || k == sizeof(frame)) {
			assert_int_equal(cl.code, ENOTCONN);
		} else {
			assert_int_equal(cl.code, EPROTO);
			assert_non_null(strstr(cl.msg, "truncated frame"));
		}
		assert_int_equal(fx->srv.handled, k == sizeof(frame) ? 1 : 0);
		nem_conn_free(c);
		close(raw);
	}
}

static void
incoming_bound_closes(void **state)
{
	struct fixture *fx = *state;
	struct nem_conn_limits lim;
	struct closed cl = { 0 };
	struct nem_conn *c;
	uint8_t f[sizeof(frame_b)];
	int raw;

	nem_conn_limits_default(&lim);
	lim.max_incoming = 4;
	c = make_raw(fx, &lim, &raw);
	nem_conn_set_close_cb(c, close_cb, &cl);
	memcpy(f, frame_b, sizeof(f));
	f[20] = SVC_TEST;
	f[22] = CMD_SLOW;
	for (uint8_t seq = 1; seq <= 5; seq++) {
		f[8] = seq;
		raw_send(raw, f, sizeof(f), NULL, 0);
	}
	assert_true(run_until(fx->base, &cl.done, 1000));
	assert_non_null(strstr(cl.msg, "incoming transactions over the limit "
	    "of 4"));
	assert_int_equal(fx->srv.handled, 4);
	assert_int_equal(fx->srv.cancels, 4);
	nem_conn_free(c);
	close(raw);
}

static void
buffered_bound_closes(void **state)
{
	struct fixture *fx = *state;
	struct nem_conn_limits lim;
	struct closed cl = { 0 };
	struct nem_conn *c;
	uint8_t f[sizeof(frame_b)];
	int raw;

	/* The peer requests 1 MiB replies and never reads them. */
	nem_conn_limits_default(&lim);
	lim.max_buffered = 2 * (NEM_FIXED_LEN + NEM_HEADER_MAX + NEM_BODY_MAX);
	c = make_raw(fx, &lim, &raw);
	nem_conn_set_close_cb(c, close_cb, &cl);
	memcpy(f, frame_b, sizeof(f));
	f[20] = SVC_TEST;
	f[22] = CMD_BIG;
	for (uint8_t seq = 1; seq <= 6; seq++) {
		f[8] = seq;
		raw_send(raw, f, sizeof(f), NULL, 0);
	}
	assert_true(run_until(fx->base, &cl.done, 2000));
	assert_non_null(strstr(cl.msg, "buffered bytes over the limit"));
	nem_conn_free(c);
	close(raw);
}

static void
descriptor_bound_closes(void **state)
{
	struct fixture *fx = *state;
	struct nem_conn_limits lim;
	struct closed cl = { 0 };
	struct nem_conn *c;
	uint8_t f[sizeof(frame_b)];
	int p[2];
	int raw;

	/* A 1 MiB reply fills the socket, then replies carrying descriptors
	   pile up in the send queue of a peer that never reads. */
	nem_conn_limits_default(&lim);
	lim.max_fds = 2;
	c = make_raw(fx, &lim, &raw);
	nem_conn_set_close_cb(c, close_cb, &cl);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	memcpy(f, frame_b, sizeof(f));
	f[8] = 1;
	f[20] = SVC_TEST;
	f[22] = CMD_BIG;
	raw_send(raw, f, sizeof(f), NULL, 0);
	run_for(fx->base, 20);
	f[5] = NEM_F_FD;
	f[22] = CMD_ECHO_FD;
	for (uint8_t seq = 2; seq <= 5 && !cl.done; seq++) {
		f[8] = seq;
		raw_send(raw, f, sizeof(f), &p[0], 1);
		run_for(fx->base, 20);
	}
	assert_true(run_until(fx->base, &cl.done, 1000));
	assert_non_null(strstr(cl.msg, "descriptors"));
	assert_non_null(strstr(cl.msg, "over the limit of 2"));
	nem_conn_free(c);
	close(raw);
	close(p[0]);
	close(p[1]);
}

/* ---- a hostile peer next to well-behaved ones ---- */

struct pinger {
	struct nem_conn *client;
	struct nem_conn *server;
	struct event *timer;
	double sent_at;
	bool waiting;
	int answered;
	double worst_ms;
};

static void
ping_reply(struct nem_conn *c, struct nem_msg *msg, void *arg)
{
	struct pinger *p = arg;
	double rtt = now_ms() - p->sent_at;

	if (msg->hdr.code == NEM_OK)
		p->answered++;
	if (rtt > p->worst_ms)
		p->worst_ms = rtt;
	p->waiting = false;
}

static void
ping_tick_with_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pinger *p = arg;
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_INFO);

	if (p->waiting) {
		double waited = now_ms() - p->sent_at;

		if (waited > p->worst_ms)
			p->worst_ms = waited;
		return;
	}
	p->sent_at = now_ms();
	p->waiting = true;
	nem_conn_request(p->client, &rq, ping_reply, p, NULL, NULL);
}

/*
 * Sends a hostile byte sequence on one connection while two others ping
 * daemon.info every 10 ms on the same loop. The hostile connection must
 * close within close_ms, without a reply and without a receive buffer
 * larger than one growth step. The others must reply to every ping within
 * 100 ms.
 */
static void
hostile_case(struct fixture *fx, const char *name, const uint8_t *p,
    size_t len, bool end_stream, int close_ms)
{
	struct timeval every = { .tv_sec = 0, .tv_usec = 10000 };
	struct nem_conn_limits lim;
	struct nem_conn_stats st;
	struct closed cl = { 0 };
	struct pinger pg[2];
	struct nem_conn *evil;
	double start;
	int raw;

	memset(pg, 0, sizeof(pg));
	for (int i = 0; i < 2; i++) {
		make_pair(fx, NULL, &pg[i].client, &pg[i].server);
		pg[i].timer = event_new(fx->base, -1, EV_PERSIST,
		    ping_tick_with_cb, &pg[i]);
		event_add(pg[i].timer, &every);
	}
	run_for(fx->base, 50);

	nem_conn_limits_default(&lim);
	lim.stall_timeout_ms = 150;
	evil = make_raw(fx, &lim, &raw);
	nem_conn_set_close_cb(evil, close_cb, &cl);
	start = now_ms();
	raw_send(raw, p, len, NULL, 0);
	if (end_stream)
		shutdown(raw, SHUT_WR);
	if (!run_until(fx->base, &cl.done, close_ms))
		fail_msg("%s: hostile connection still open after %d ms",
		    name, close_ms);
	nem_conn_stats(evil, &st);
	if (st.rx_buffer_peak > 65536)
		fail_msg("%s: receive buffer grew to %zu bytes", name,
		    st.rx_buffer_peak);
	if (!raw_sees_close(raw))
		fail_msg("%s: the hostile peer got reply bytes", name);
	run_for(fx->base, 50);

	for (int i = 0; i < 2; i++) {
		if (pg[i].worst_ms >= 100)
			fail_msg("%s: a good connection waited %.1f ms", name,
			    pg[i].worst_ms);
		if (pg[i].answered < (int)((now_ms() - start) / 20))
			fail_msg("%s: only %d pings answered", name,
			    pg[i].answered);
		event_free(pg[i].timer);
		nem_conn_free(pg[i].client);
		nem_conn_free(pg[i].server);
	}
	nem_conn_free(evil);
	close(raw);
}

static void
hostile_peer_regression(void **state)
{
	/* Frame A: daemon.info, seq 1, {} header, body_len 0xfffffff0. */
	static const uint8_t frame_a[] = {
		0x21, 0x6d, 0x65, 0x6e, 0x01, 0x00, 0x05, 0x00,
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0xf0, 0xff, 0xff, 0xff, 0x01, 0x00, 0x01, 0x00,
		0x05, 0x00, 0x00, 0x00, 0x00,
	};
	struct fixture *fx = *state;
	uint8_t buf[sizeof(frame_a) + 16 + sizeof(frame_b)];
	size_t len = sizeof(buf);

	/* Builds frame A (with byte edits), sixteen 0x41, then frame B. */
#define BUILD_A()							\
	do {								\
		memcpy(buf, frame_a, sizeof(frame_a));			\
		memset(buf + sizeof(frame_a), 0x41, 16);		\
		memcpy(buf + sizeof(frame_a) + 16, frame_b,		\
		    sizeof(frame_b));					\
	} while (0)

	BUILD_A();
	hostile_case(fx, "body_len 0xfffffff0", buf, len, false, 100);

	BUILD_A();
	buf[16] = 0x01;
	buf[17] = 0x00;
	buf[18] = 0x10;
	buf[19] = 0x00;
	hostile_case(fx, "body_len one over", buf, len, false, 100);

	BUILD_A();
	buf[6] = 0xff;
	buf[7] = 0xff;
	hostile_case(fx, "header_len 0xffff", buf, len, false, 100);

	BUILD_A();
	buf[6] = 0x03;
	hostile_case(fx, "header_len 3", buf, len, false, 100);

	/* A valid body_len of 16, but the BSON length field is 6, not 5. */
	BUILD_A();
	buf[16] = 0x10;
	buf[17] = buf[18] = buf[19] = 0x00;
	buf[24] = 0x06;
	hostile_case(fx, "BSON length mismatch", buf, len, false, 100);

	BUILD_A();
	hostile_case(fx, "10 bytes then end", buf, 10, true, 100);

	/* A complete valid fixed header, then silence: the stall timeout. */
	BUILD_A();
	buf[16] = 0x10;
	buf[17] = buf[18] = buf[19] = 0x00;
	hostile_case(fx, "fixed header then silence", buf, NEM_FIXED_LEN,
	    false, 1000);

	BUILD_A();
	buf[0] = 0x6e;
	hostile_case(fx, "wrong magic", buf, len, false, 100);

	BUILD_A();
	buf[4] = 0xff;
	hostile_case(fx, "version 0xff", buf, len, false, 100);
#undef BUILD_A
}

/* Connects a TCP loopback pair: a transport that cannot carry descriptors. */
static void
tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int lfd;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(*a, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	*b = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*b >= 0);
	close(lfd);
}

static void
tcp_transport_has_no_descriptors(void **state)
{
	struct fixture *fx = *state;
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_INFO);
	struct closed cl = { 0 };
	struct nem_conn *c, *d;
	struct nem_err err;
	struct replies r;
	uint8_t f[sizeof(frame_b)];
	int a, b;

	tcp_pair(&a, &b);
	c = nem_conn_new(fx->base, a, NULL, fx->mux, NULL);
	d = nem_conn_new(fx->base, b, NULL, fx->mux, NULL);
	replies_init(&r);
	assert_int_equal(nem_conn_request(c, &rq, reply_cb, &r, NULL, &err),
	    0);
	assert_true(run_count(fx->base, &r.finals, 1000));
	assert_string_equal(r.body, "info");

	/* Sending a descriptor is refused, receiving the FD flag closes. */
	rq.fd = 0;
	assert_int_equal(nem_conn_request(c, &rq, reply_cb, &r, NULL, &err),
	    -1);
	assert_int_equal(err.code, EINVAL);
	nem_conn_free(c);
	nem_conn_free(d);

	tcp_pair(&a, &b);
	d = nem_conn_new(fx->base, b, NULL, fx->mux, NULL);
	nem_conn_set_close_cb(d, close_cb, &cl);
	memcpy(f, frame_b, sizeof(f));
	f[5] = NEM_F_FD;
	assert_int_equal(write(a, f, sizeof(f)), (ssize_t)sizeof(f));
	assert_true(run_until(fx->base, &cl.done, 1000));
	assert_non_null(strstr(cl.msg, "cannot carry descriptors"));
	nem_conn_free(d);
	close(a);
}

static void
limits_are_checked(void **state)
{
	struct fixture *fx = *state;
	struct nem_conn_limits lim;
	struct nem_err err;
	int sv[2];

	nem_conn_limits_default(&lim);
	assert_int_equal(lim.max_incoming, 128);
	assert_int_equal(lim.max_fds, 64);
	lim.max_buffered = 1000;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	assert_null(nem_conn_new(fx->base, sv[0], &lim, NULL, &err));
	assert_int_equal(err.code, EINVAL);
	/* The descriptor was closed with the failure. */
	assert_int_equal(fcntl(sv[0], F_GETFD), -1);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(request_reply, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(unknown_command_error_reply,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(interleaved_full_duplex, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(streamed_replies, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(streamed_request, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(stream_both_ways, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(cancel_reaches_responder,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(reply_after_cancel_is_dropped,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(request_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(timeout_restarts_per_frame,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(responder_timeout_from_header,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(route_flag_reaches_handler,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(descriptor_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(close_fails_requests_in_flight,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(free_from_callback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(fixed_header_violations_close,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(descriptor_violations_close,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(truncated_at_every_offset,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(incoming_bound_closes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(buffered_bound_closes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(descriptor_bound_closes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(hostile_peer_regression, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    tcp_transport_has_no_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(limits_are_checked, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
