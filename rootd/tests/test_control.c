/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the control plane's connection handling: idle connections
 * are closed after the idle timeout, connections that send requests or
 * hold a stream open are kept, and the "too many clients" warning is
 * rate-limited. Each client is one end of a socketpair handed to
 * control_accept, served by a real jail manager with no jails.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include <nem/conn.h>
#include <nem/log.h>
#include <nem/proto.h>

#include "config.h"
#include "control.h"
#include "control_int.h"
#include "ctlsock.h"
#include "db.h"
#include "jailmgr.h"
#include "jm_fixture.h"
#include "supervise.h"

/* Idle timeout of the tests, short so that they run in about a second. */
#define TEST_IDLE_MS 200

/*
 * Minimum time between two "too many clients" warnings in the tests. It is
 * longer than the idle timeout, so the connections that fill the table
 * are closed before the held warnings are logged.
 */
#define TEST_FULL_LOG_MS 300

/* Fails every allocation with a message shaped as jail_alloc's. */
static void *
fail_alloc(void *arg, const struct cfg_jail *jail, struct nem_err *err)
{
	nem_err_set(err, EIO, "jail %s: allocation failed: no loop device",
	    jail->name);
	return NULL;
}

/* The runtime of the tests: no jail gets a tree. */
static const struct jm_runtime no_runtime = {
	.alloc = fail_alloc,
};

struct client {
	struct nem_conn *conn;
	bool closed;
	int replies;
};


static int
fx_setup(void **state)
{
	struct fx *fx = fx_open("/tmp/test-control-XXXXXX", "");
	struct control_params cp = { 0 };
	struct nem_err err;

	fx_start_jm(fx, &no_runtime);
	cp.base = fx->base;
	cp.jm = fx->jm;
	cp.version = "test";
	cp.idle_timeout_ms = TEST_IDLE_MS;
	cp.full_log_interval_ms = TEST_FULL_LOG_MS;
	fx->ctl = control_new(&cp, &err);
	assert_non_null(fx->ctl);
	*state = fx;
	return 0;
}

/* Runs the event loop for ms milliseconds. */
static void
run_for(struct fx *fx, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(fx->base, &tv);
	event_base_dispatch(fx->base);
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	control_free(fx->ctl);
	fx_close(fx);
	*state = NULL;
	return 0;
}

static void
on_client_closed(struct nem_conn *c, const struct nem_err *why, void *arg)
{
	struct client *cl = arg;

	cl->closed = true;
}

static void
on_reply(struct nem_conn *c, struct nem_msg *msg, void *arg)
{
	struct client *cl = arg;

	cl->replies++;
}

/* Connects a client to the control plane over a socketpair. */
static void
client_open(struct fx *fx, struct client *cl)
{
	struct ctl_peer peer = { .uid = 0, .gid = 0, .pid = getpid() };
	struct nem_err err;
	int sv[2];

	memset(cl, 0, sizeof(*cl));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0, sv), 0);
	control_accept(fx->ctl, sv[0], &peer);
	cl->conn = nem_conn_new(fx->base, sv[1], NULL, NULL, &err);
	assert_non_null(cl->conn);
	nem_conn_set_close_cb(cl->conn, on_client_closed, cl);
}

static void
client_request(struct client *cl, uint16_t svc, uint16_t cmd,
    uint32_t timeout_ms)
{
	struct nem_request rq = NEM_REQUEST_INIT(svc, cmd);
	struct nem_err err;

	rq.timeout_ms = timeout_ms;
	assert_int_equal(nem_conn_request(cl->conn, &rq, on_reply, cl, NULL,
	    &err), 0);
}

static void
test_control_idle_closed(void **state)
{
	struct fx *fx = *state;
	struct client cl;

	client_open(fx, &cl);
	run_for(fx, TEST_IDLE_MS / 2);
	assert_false(cl.closed);
	run_for(fx, TEST_IDLE_MS * 2);
	assert_true(cl.closed);
	nem_conn_free(cl.conn);
}

static void
test_control_requests_keep_open(void **state)
{
	struct fx *fx = *state;
	struct client cl;

	client_open(fx, &cl);
	for (int i = 0; i < 8; i++) {
		client_request(&cl, NEM_SVC_DAEMON, NEM_DAEMON_INFO, 0);
		run_for(fx, TEST_IDLE_MS / 2);
	}
	assert_false(cl.closed);
	assert_int_equal(cl.replies, 8);

	/* Once the client stops sending, the idle timeout applies again. */
	run_for(fx, TEST_IDLE_MS * 2);
	assert_true(cl.closed);
	nem_conn_free(cl.conn);
}

static void
test_control_stream_keeps_open(void **state)
{
	struct fx *fx = *state;
	struct client cl;

	client_open(fx, &cl);
	client_request(&cl, NEM_SVC_EVENT, CONTROL_EVENT_SUBSCRIBE,
	    NEM_TIMEOUT_NONE);
	run_for(fx, TEST_IDLE_MS * 4);
	assert_false(cl.closed);
	nem_conn_free(cl.conn);
}

/* Counts the lines of path that contain needle. */
static int
count_lines(const char *path, const char *needle)
{
	char line[1024];
	int n = 0;
	FILE *fp = fopen(path, "re");

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(fp);
	return n;
}

static void
test_control_full_warning_limited(void **state)
{
	struct fx *fx = *state;
	struct client *cls = calloc(CONTROL_MAX_CLIENTS + 20, sizeof(*cls));
	char path[128];
	int saved, fd;

	assert_non_null(cls);
	snprintf(path, sizeof(path), "%s/stderr.log", fx->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);

	for (int i = 0; i < CONTROL_MAX_CLIENTS + 20; i++)
		client_open(fx, &cls[i]);
	run_for(fx, 20);
	fflush(stderr);

	/* The first rejection is logged, the other 19 only counted. */
	assert_int_equal(count_lines(path, "clients are connected"), 1);
	assert_int_equal(count_lines(path, "more connections"), 0);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		assert_false(cls[i].closed);
	for (int i = CONTROL_MAX_CLIENTS; i < CONTROL_MAX_CLIENTS + 20; i++)
		assert_true(cls[i].closed);

	/* At the end of the window, one line gives the count. */
	run_for(fx, TEST_FULL_LOG_MS + 100);
	fflush(stderr);
	assert_int_equal(count_lines(path, "rejected 19 more connections"), 1);

	/* A window without rejections logs nothing. */
	run_for(fx, TEST_FULL_LOG_MS + 100);
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	assert_int_equal(count_lines(path, "more connections"), 1);
	assert_int_equal(count_lines(path, "clients are connected"), 1);
	for (int i = 0; i < CONTROL_MAX_CLIENTS + 20; i++)
		nem_conn_free(cls[i].conn);
	free(cls);
}

/* Reads an int32 field of doc, failing the test when it is missing. */
static int32_t
doc_int32(const bson_t *doc, const char *field)
{
	bson_iter_t it;

	assert_true(bson_iter_init_find(&it, doc, field));
	assert_true(BSON_ITER_HOLDS_INT32(&it));
	return bson_iter_int32(&it);
}

static void
test_control_exit_fields(void **state)
{
	static const struct {
		int wait_status;
		int32_t exit_code;
		int32_t signal;
	} cases[] = {
		{ -1, -1, 0 },
		{ 0, 0, 0 },
		{ 1 << 8, 1, 0 },		/* exit 1: raw status 256 */
		{ 126 << 8, 126, 0 },		/* exit 126: raw status 32256 */
		{ SIGKILL, -1, SIGKILL },
		{ SIGTERM | 0x80, -1, SIGTERM },	/* with a core dump */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bson_t doc = BSON_INITIALIZER;

		control_append_exit(&doc, cases[i].wait_status);
		assert_int_equal(doc_int32(&doc, "exit_code"),
		    cases[i].exit_code);
		assert_int_equal(doc_int32(&doc, "signal"), cases[i].signal);
		assert_false(bson_has_field(&doc, "last_status"));
		bson_destroy(&doc);
	}
}

static void
test_control_jail_messages(void **state)
{
	struct fx *fx = *state;
	struct cfg_diags diags = { 0 };
	struct jm_jail_info info;
	struct nem_err err;
	/* A complete description whose only error is the type of autostart. */
	const char *bad = "autostart = 3\n[process]\nexec = [\"/bin/true\"]\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"64M\"\n";

	assert_int_equal(jm_jail_status(fx->jm, "absent", &info, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "`nemctl jail ls`"));
	assert_int_equal(jm_jail_remove(fx->jm, "absent", &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "`nemctl jail ls`"));
	assert_int_equal(jm_host_restart(fx->jm, "absent", &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "`nemctl host ls`"));

	assert_int_equal(jm_jail_apply(fx->jm, "new", bad, strlen(bad),
	    &diags, &err), -1);
	assert_int_equal(diags.len, 1);
	assert_non_null(strstr(err.msg, "has 1 error"));
	assert_null(strstr(err.msg, "1 errors"));
	cfg_diags_clear(&diags);
}

static void
test_control_code_mapping(void **state)
{
	/* A full disk is retried after freeing space, not a bad request. */
	assert_int_equal(control_code(ENOSPC), NEM_E_UNAVAILABLE);
	assert_int_equal(control_code(EDQUOT), NEM_E_UNAVAILABLE);
	assert_int_equal(control_code(EFBIG), NEM_E_TOO_LARGE);
	assert_int_equal(control_code(EALREADY), NEM_E_EXISTS);
	assert_int_equal(control_code(ECANCELED), NEM_E_UNAVAILABLE);
	assert_int_equal(control_code(EPIPE), NEM_E_INVALID);
	assert_int_equal(control_code(ENOENT), NEM_E_NOT_FOUND);
}

static void
test_control_alloc_reason_once(void **state)
{
	struct fx *fx = *state;
	struct cfg_diags diags = { 0 };
	struct jm_jail_info info;
	struct nem_err err;
	const char *good = "autostart = true\n[process]\nexec = [\"/bin/true\"]\n"
	    "restart = \"never\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"64M\"\n";

	assert_int_equal(jm_start(fx->jm, &err), 0);
	assert_int_equal(jm_jail_apply(fx->jm, "web", good, strlen(good),
	    &diags, &err), 0);
	cfg_diags_clear(&diags);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(jm_jail_status(fx->jm, "web", &info, &err), 0);
		if (info.state == JM_ST_FAILED)
			break;
		run_for(fx, 20);
	}
	assert_int_equal(info.state, JM_ST_FAILED);
	assert_string_equal(info.reason,
	    "jail web: allocation failed: no loop device");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_exit_fields),
		cmocka_unit_test(test_control_code_mapping),
		cmocka_unit_test_setup_teardown(test_control_idle_closed,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_control_requests_keep_open,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_control_stream_keeps_open,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
		    test_control_full_warning_limited, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_control_jail_messages,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_control_alloc_reason_once,
		    fx_setup, fx_teardown),
	};

	log_init(LOG_DEST_STDERR, LOG_LEVEL_INFO);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
