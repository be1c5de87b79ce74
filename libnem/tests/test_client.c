/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the blocking client against a server connection that runs
 * its own event loop in a second thread: calls, error replies, streamed
 * replies and uploads, descriptors, timeouts, requests from the server that
 * the client handles while it waits, and the three ways to connect.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/client.h>
#include <nem/log.h>

#define SVC_TEST 200
#define CMD_FAIL 1			/* fails with NEM_E_NOT_FOUND */
#define CMD_STREAM 2			/* 3 CONTINUE replies + final */
#define CMD_UPLOAD 3			/* streamed request, counts bytes */
#define CMD_ECHO_FD 4			/* returns the received descriptor */
#define CMD_SLOW 5			/* never replies */
#define CMD_ASK_BACK 6			/* asks the client daemon.info first */

/* The server side: a connection on an event loop in its own thread. */
struct server {
	struct event_base *base;
	struct nem_mux *mux;
	struct nem_conn *conn;
	pthread_t thread;
	size_t uploaded;
	struct nem_txn *asking;		/* CMD_ASK_BACK waiting for the client */
	int listen_fd;			/* accept one client first, or -1 */
	bool probe;			/* ask the client daemon.info, then hang
					   up */
	char probe_body[32];
};

static void
reply_text(struct nem_txn *t, const char *text, bool more)
{
	struct nem_send s = NEM_SEND_INIT;

	s.body = text;
	s.body_len = strlen(text);
	s.more = more;
	nem_txn_reply(t, &s, NULL);
}

static void
info_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	reply_text(t, "server info", false);
}

static void
fail_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	nem_txn_fail(t, NEM_E_NOT_FOUND, "no jail \"web\"", NULL);
}

static void
stream_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	reply_text(t, "part0", true);
	reply_text(t, "part1", true);
	reply_text(t, "part2", true);
	reply_text(t, "done", false);
}

static void
upload_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct server *srv = arg;
	char text[32];

	srv->uploaded += msg->body_len;
	if (msg->flags & NEM_F_CONTINUE)
		return;
	snprintf(text, sizeof(text), "%zu", srv->uploaded);
	reply_text(t, text, false);
}

static void
echo_fd_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct nem_send s = NEM_SEND_INIT;

	s.fd = msg->fd;
	nem_txn_reply(t, &s, NULL);
}

static void
slow_cancel(struct nem_txn *t, int64_t code, void *arg)
{
}

static void
slow_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	nem_txn_on_cancel(t, slow_cancel, NULL);
}

static void
asked_back(struct nem_conn *c, struct nem_msg *msg, void *arg)
{
	struct server *srv = arg;
	char text[64];

	snprintf(text, sizeof(text), "client said: %.*s", (int)msg->body_len,
	    msg->body ? (const char *)msg->body : "");
	reply_text(srv->asking, text, false);
	srv->asking = NULL;
}

static void
ask_back_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_INFO);
	struct server *srv = arg;

	srv->asking = t;
	nem_conn_request(nem_txn_conn(t), &rq, asked_back, srv, NULL, NULL);
}

static void
server_closed(struct nem_conn *c, const struct nem_err *why, void *arg)
{
	struct server *srv = arg;

	event_base_loopbreak(srv->base);
}

static void
probe_reply(struct nem_conn *c, struct nem_msg *msg, void *arg)
{
	struct server *srv = arg;

	snprintf(srv->probe_body, sizeof(srv->probe_body), "%.*s",
	    (int)msg->body_len, msg->body ? (const char *)msg->body : "");
	nem_conn_free(c);
	srv->conn = NULL;
	event_base_loopbreak(srv->base);
}

static void *
server_main(void *arg)
{
	struct server *srv = arg;
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_INFO);

	if (srv->listen_fd != -1) {
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		srv->conn = nem_conn_new(srv->base, fd, NULL, srv->mux, NULL);
		nem_conn_set_close_cb(srv->conn, server_closed, srv);
	}
	if (srv->probe)
		nem_conn_request(srv->conn, &rq, probe_reply, srv, NULL, NULL);
	event_base_dispatch(srv->base);
	nem_conn_free(srv->conn);
	return NULL;
}

static struct server *
server_new(void)
{
	struct server *srv = calloc(1, sizeof(*srv));

	log_init(LOG_DEST_STDERR, LOG_LEVEL_WARN);
	log_role("test_client");
	srv->base = event_base_new();
	srv->mux = nem_mux_new(NULL);
	srv->listen_fd = -1;
	nem_mux_add(srv->mux, NEM_SVC_DAEMON, NEM_DAEMON_INFO, info_handler,
	    srv, NULL);
	nem_mux_add(srv->mux, SVC_TEST, CMD_FAIL, fail_handler, srv, NULL);
	nem_mux_add(srv->mux, SVC_TEST, CMD_STREAM, stream_handler, srv, NULL);
	nem_mux_add(srv->mux, SVC_TEST, CMD_UPLOAD, upload_handler, srv, NULL);
	nem_mux_add(srv->mux, SVC_TEST, CMD_ECHO_FD, echo_fd_handler, srv,
	    NULL);
	nem_mux_add(srv->mux, SVC_TEST, CMD_SLOW, slow_handler, srv, NULL);
	nem_mux_add(srv->mux, SVC_TEST, CMD_ASK_BACK, ask_back_handler, srv,
	    NULL);
	return srv;
}

/* Starts a server on one end of a socketpair; returns the other end. */
static int
server_start_pair(struct server *srv)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	srv->conn = nem_conn_new(srv->base, sv[0], NULL, srv->mux, NULL);
	assert_non_null(srv->conn);
	nem_conn_set_close_cb(srv->conn, server_closed, srv);
	assert_int_equal(pthread_create(&srv->thread, NULL, server_main, srv),
	    0);
	return sv[1];
}

/* Waits for the server thread (it ends when the client hangs up). */
static void
server_join(struct server *srv)
{
	pthread_join(srv->thread, NULL);
}

static void
server_free(struct server *srv)
{
	nem_mux_free(srv->mux);
	event_base_free(srv->base);
	if (srv->listen_fd != -1)
		close(srv->listen_fd);
	free(srv);
}

/* cmocka gives one state pointer; keep both parts in a pair. */
struct pair {
	struct nem_client *cl;
	struct server *srv;
};

static int
pair_setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));
	struct nem_err err;

	p->srv = server_new();
	p->cl = nem_client_wrap(server_start_pair(p->srv), NULL, &err);
	assert_non_null(p->cl);
	nem_conn_set_peer(nem_client_conn(p->cl), "test server");
	*state = p;
	return 0;
}

static int
pair_teardown(void **state)
{
	struct pair *p = *state;

	nem_client_free(p->cl);
	server_join(p->srv);
	server_free(p->srv);
	free(p);
	return 0;
}

static void
call_returns_body(void **state)
{
	struct pair *p = *state;
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_INFO);
	struct nem_reply r;
	struct nem_err err;

	assert_int_equal(nem_client_call(p->cl, &rq, &r, &err), 0);
	assert_true(r.code == NEM_OK);
	assert_int_equal(r.body_len, 11);
	assert_memory_equal(r.body, "server info", 11);
	assert_int_equal(r.fd, -1);
	nem_reply_clear(&r);
	assert_null(r.body);
}

static void
error_reply_maps_errno(void **state)
{
	struct pair *p = *state;
	struct nem_request rq = NEM_REQUEST_INIT(SVC_TEST, CMD_FAIL);
	struct nem_reply r;
	struct nem_err err;

	assert_int_equal(nem_client_call(p->cl, &rq, &r, &err), -1);
	assert_true(r.code == NEM_E_NOT_FOUND);
	assert_false(r.local);
	assert_string_equal(r.reason, "no jail \"web\"");
	assert_int_equal(err.code, ENOENT);
	assert_string_equal(err.msg,
	    "service 200 command 1: not-found: no jail \"web\"");
	nem_reply_clear(&r);

	rq.service = NEM_SVC_IMGHOST;
	assert_int_equal(nem_client_call(p->cl, &rq, &r, &err), -1);
	assert_true(r.code == NEM_E_UNKNOWN);
	assert_int_equal(err.code, EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "imghost command 1: unknown-command"));
	nem_reply_clear(&r);
}

struct collected {
	int parts;
	char last[16];
	int stop_after;			/* 0: never cancel */
};

static int
collect(struct nem_msg *msg, void *arg)
{
	struct collected *c = arg;

	c->parts++;
	snprintf(c->last, sizeof(c->last), "%.*s", (int)msg->body_len,
	    (const char *)msg->body);
	return c->stop_after != 0 && c->parts >= c->stop_after;
}

static void
stream_gets_each_part(void **state)
{
	struct pair *p = *state;
	struct nem_request rq = NEM_REQUEST_INIT(SVC_TEST, CMD_STREAM);
	struct collected col = { 0 };
	struct nem_reply r;
	struct nem_err err;

	assert_int_equal(nem_client_stream(p->cl, &rq, collect, &col, &r,
	    &err), 0);
	assert_int_equal(col.parts, 3);
	assert_string_equal(col.last, "part2");
	assert_memory_equal(r.body, "done", 4);
	nem_reply_clear(&r);

	/* The callback can stop the stream. */
	memset(&col, 0, sizeof(col));
	col.stop_after = 1;
	assert_int_equal(nem_client_stream(p->cl, &rq, collect, &col, &r,
	    &err), -1);
	assert_int_equal(col.parts, 1);
	assert_true(r.code == NEM_E_CANCELLED);
	assert_true(r.local);
	assert_int_equal(err.code, ECANCELED);
	nem_reply_clear(&r);

	/* The connection still works after the cancel. */
	rq.service = NEM_SVC_DAEMON;
	rq.command = NEM_DAEMON_INFO;
	assert_int_equal(nem_client_call(p->cl, &rq, &r, &err), 0);
	nem_reply_clear(&r);
}

static void
upload_in_chunks(void **state)
{
	struct pair *p = *state;
	struct nem_request rq = NEM_REQUEST_INIT(SVC_TEST, CMD_UPLOAD);
	struct nem_send s = NEM_SEND_INIT;
	static uint8_t chunk[NEM_BODY_MAX];
	struct nem_reply r;
	struct nem_err err;
	uint64_t seq;

	/* Eight maximum-size chunks: more than the send-queue bound. */
	rq.more = true;
	assert_int_equal(nem_client_start(p->cl, &rq, NULL, NULL, &seq, &err),
	    0);
	s.body = chunk;
	s.body_len = sizeof(chunk);
	for (int i = 0; i < 8; i++) {
		s.more = i < 7;
		assert_int_equal(nem_client_send(p->cl, seq, &s, &err), 0);
	}
	assert_int_equal(nem_client_wait(p->cl, seq, &r, &err), 0);
	assert_string_equal((char *)r.body, "8388608");
	nem_reply_clear(&r);
	assert_int_equal(nem_client_wait(p->cl, seq, &r, &err), -1);
	assert_int_equal(err.code, ENOENT);
}

static void
descriptor_comes_back(void **state)
{
	struct pair *p = *state;
	struct nem_request rq = NEM_REQUEST_INIT(SVC_TEST, CMD_ECHO_FD);
	struct nem_reply r;
	struct nem_err err;
	char buf[4];
	int fds[2];

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	rq.fd = fds[1];
	assert_int_equal(nem_client_call(p->cl, &rq, &r, &err), 0);
	close(fds[1]);
	assert_true(r.fd >= 0);
	assert_int_equal(write(r.fd, "ok", 2), 2);
	assert_int_equal(read(fds[0], buf, sizeof(buf)), 2);
	nem_reply_clear(&r);
	assert_int_equal(r.fd, -1);
	close(fds[0]);
}

static void
call_times_out(void **state)
{
	struct pair *p = *state;
	struct nem_request rq = NEM_REQUEST_INIT(SVC_TEST, CMD_SLOW);
	struct nem_reply r;
	struct nem_err err;

	rq.timeout_ms = 50;
	assert_int_equal(nem_client_call(p->cl, &rq, &r, &err), -1);
	assert_true(r.code == NEM_E_TIMEDOUT);
	assert_true(r.local);
	assert_int_equal(err.code, ETIMEDOUT);
	nem_reply_clear(&r);
}

static void
client_info(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	reply_text(t, "client info", false);
}

static void
answers_while_waiting(void **state)
{
	struct pair *p = *state;
	struct nem_request rq = NEM_REQUEST_INIT(SVC_TEST, CMD_ASK_BACK);
	struct nem_reply r;
	struct nem_err err;

	assert_int_equal(nem_client_handle(p->cl, NEM_SVC_DAEMON,
	    NEM_DAEMON_INFO, client_info, NULL, &err), 0);
	assert_int_equal(nem_client_call(p->cl, &rq, &r, &err), 0);
	assert_string_equal((char *)r.body, "client said: client info");
	nem_reply_clear(&r);
}

static void
serve_until_closed(void **state)
{
	struct server *srv = server_new();
	struct nem_client *cl;
	struct nem_err err;
	int fd;

	srv->probe = true;
	fd = server_start_pair(srv);
	cl = nem_client_wrap(fd, NULL, &err);
	assert_non_null(cl);
	assert_int_equal(nem_client_handle(cl, NEM_SVC_DAEMON,
	    NEM_DAEMON_INFO, client_info, NULL, &err), 0);

	/* The server sends one request and hangs up, which ends serving. */
	assert_int_equal(nem_client_serve(cl, -1, &err), -1);
	assert_int_equal(err.code, ENOTCONN);
	assert_non_null(strstr(err.msg, "closed by peer"));
	nem_client_free(cl);
	server_join(srv);
	assert_string_equal(srv->probe_body, "client info");
	server_free(srv);
}

static void
connect_by_path(void **state)
{
	char dir[] = "/tmp/nem-test-client-XXXXXX";
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_INFO);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct server *srv = server_new();
	struct nem_client *cl;
	struct nem_reply r;
	struct nem_err err;
	char path[96];
	char missing[160];
	char longpath[200];

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/control.sock", dir);
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(srv->listen_fd, (struct sockaddr *)&sun,
	    sizeof(sun)), 0);
	assert_int_equal(listen(srv->listen_fd, 1), 0);
	assert_int_equal(pthread_create(&srv->thread, NULL, server_main, srv),
	    0);

	cl = nem_client_connect(path, NULL, &err);
	assert_non_null(cl);
	assert_string_equal(nem_conn_peer(nem_client_conn(cl)), path);
	assert_int_equal(nem_client_call(cl, &rq, &r, &err), 0);
	nem_reply_clear(&r);
	nem_client_free(cl);
	server_join(srv);
	server_free(srv);

	snprintf(missing, sizeof(missing), "%s/missing.sock", dir);
	assert_null(nem_client_connect(missing, NULL, &err));
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, missing));

	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_null(nem_client_connect(longpath, NULL, &err));
	assert_int_equal(err.code, ENAMETOOLONG);

	unlink(path);
	rmdir(dir);
}

static void
from_env_checks_value(void **state)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_INFO);
	struct server *srv;
	struct nem_client *cl;
	struct nem_reply r;
	struct nem_err err;
	char num[16];
	int fd;

	unsetenv("NEM_FD");
	assert_null(nem_client_from_env(NULL, &err));
	assert_int_equal(err.code, ENOENT);
	setenv("NEM_FD", "2", 1);
	assert_null(nem_client_from_env(NULL, &err));
	assert_int_equal(err.code, EINVAL);
	setenv("NEM_FD", "3x", 1);
	assert_null(nem_client_from_env(NULL, &err));
	assert_int_equal(err.code, EINVAL);
	setenv("NEM_FD", "999", 1);
	assert_null(nem_client_from_env(NULL, &err));
	assert_int_equal(err.code, EBADF);

	srv = server_new();
	fd = server_start_pair(srv);
	/* An inherited descriptor is not close-on-exec; the client sets it. */
	fcntl(fd, F_SETFD, 0);
	snprintf(num, sizeof(num), "%d", fd);
	setenv("NEM_FD", num, 1);
	cl = nem_client_from_env(NULL, &err);
	assert_non_null(cl);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(nem_client_call(cl, &rq, &r, &err), 0);
	nem_reply_clear(&r);
	nem_client_free(cl);
	server_join(srv);
	server_free(srv);
	unsetenv("NEM_FD");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(call_returns_body, pair_setup,
		    pair_teardown),
		cmocka_unit_test_setup_teardown(error_reply_maps_errno,
		    pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(stream_gets_each_part,
		    pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(upload_in_chunks, pair_setup,
		    pair_teardown),
		cmocka_unit_test_setup_teardown(descriptor_comes_back,
		    pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(call_times_out, pair_setup,
		    pair_teardown),
		cmocka_unit_test_setup_teardown(answers_while_waiting,
		    pair_setup, pair_teardown),
		cmocka_unit_test(serve_until_closed),
		cmocka_unit_test(connect_by_path),
		cmocka_unit_test(from_env_checks_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
