/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Root integration tests of the real nem-rootd binary. They cover image
 * push, jail apply, start, status, logs, stop and remove over the control
 * socket, dependency order, and restart with backoff of a crashing root
 * process. They also cover SIGHUP with changed, added, removed and invalid
 * descriptions, a second daemon refused, SIGKILL of the daemon with a
 * recovering restart, and the oversized-frame regression on the control
 * socket and on a jail's fd 3. Each test has its own folder, daemon and
 * control socket, and kills only the daemon it started.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <nem/client.h>
#include <nem/frame.h>
#include <nem/proto.h>

#include "daemon_fixture.h"
#include "os_fixture.h"

/* Service and command ids of the control plane (doc/control.md). */
#define SVC_JAIL 5
#define JAIL_STATUS 2
#define JAIL_START 3
#define JAIL_STOP 4
#define JAIL_APPLY 6
#define JAIL_REMOVE 7
#define JAIL_LOGS 8

/* A jail whose root process reports readiness itself (init = false). */
#define READY_JAIL(extra) "autostart = true\n" READY_BODY(extra)
#define READY_BODY(extra) \
	extra "\n[process]\nexec = [\"/ready\"]\n" \
	"stop_timeout = \"3s\"\n" \
	"[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n" \
	"[[mount]]\ntype = \"tmpfs\"\ndest = \"/tmp\"\nsize = \"16M\"\n"

static int
setup(void **state)
{
	struct dfx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	dfx_init(f, NULL);
	dfx_make_image(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct dfx *f = *state;

	dfx_cleanup(f);
	free(f);
	return 0;
}

static int64_t
call_name(struct dfx *f, uint16_t cmd, const char *name, char *reason,
    size_t rlen)
{
	bson_t body = BSON_INITIALIZER;
	int64_t code;

	BSON_APPEND_UTF8(&body, "name", name);
	code = dfx_call(f, SVC_JAIL, cmd, &body, -1, NULL, reason, rlen);
	bson_destroy(&body);
	return code;
}

/* Collects the data of jail.logs CONTINUE replies. */
struct logbuf {
	char text[65536];
	size_t len;
};

static int
on_log_chunk(struct nem_msg *msg, void *arg)
{
	struct logbuf *lb = arg;
	bson_t doc;
	bson_iter_t it;
	const uint8_t *data;
	uint32_t len;
	bson_subtype_t sub;

	if (nem_msg_body_bson(msg, &doc, NULL) == -1 ||
	    !bson_iter_init_find(&it, &doc, "data") ||
	    !BSON_ITER_HOLDS_BINARY(&it))
		return 0;
	bson_iter_binary(&it, &sub, &len, &data);
	if (lb->len + len < sizeof(lb->text)) {
		memcpy(lb->text + lb->len, data, len);
		lb->len += len;
		lb->text[lb->len] = '\0';
	}
	return 0;
}

static void
read_logs(struct dfx *f, const char *name, struct logbuf *lb)
{
	struct nem_request rq = NEM_REQUEST_INIT(SVC_JAIL, JAIL_LOGS);
	struct nem_reply reply;
	struct nem_client *cl = dfx_connect(f);
	bson_t body = BSON_INITIALIZER;
	struct nem_err err;

	assert_non_null(cl);
	lb->len = 0;
	lb->text[0] = '\0';
	BSON_APPEND_UTF8(&body, "name", name);
	rq.body = bson_get_data(&body);
	rq.body_len = body.len;
	nem_reply_init(&reply);
	assert_int_equal(nem_client_stream(cl, &rq, on_log_chunk, lb, &reply,
	    &err), 0);
	nem_reply_clear(&reply);
	nem_client_free(cl);
	bson_destroy(&body);
}

/* Ends a followed stream once its text contains the wanted string. */
struct follow {
	struct logbuf lb;
	const char *want;
};

static int
on_follow_chunk(struct nem_msg *msg, void *arg)
{
	struct follow *fw = arg;

	on_log_chunk(msg, &fw->lb);
	return strstr(fw->lb.text, fw->want) != NULL;
}

/* Ends an event stream once the jail named in want reaches "ready". */
static int
on_event_msg(struct nem_msg *msg, void *arg)
{
	const char *want = arg;
	bson_t doc;
	bson_iter_t it;
	bool name_ok = false, ready = false;

	if (nem_msg_body_bson(msg, &doc, NULL) == -1)
		return 0;
	if (bson_iter_init_find(&it, &doc, "name") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		name_ok = strcmp(bson_iter_utf8(&it, NULL), want) == 0;
	if (bson_iter_init_find(&it, &doc, "state") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		ready = strcmp(bson_iter_utf8(&it, NULL), "ready") == 0;
	return name_ok && ready;
}

static bool
log_has(struct dfx *f, const char *text)
{
	char buf[262144];

	fixture_read(f->log, buf, sizeof(buf));
	return strstr(buf, text) != NULL;
}

static const char *
log_find(struct dfx *f, const char *text, char *buf, size_t size)
{
	fixture_read(f->log, buf, size);
	return strstr(buf, text);
}

/* push, apply, start, status, logs, stop, remove */
static void
control_lifecycle(void **state)
{
	struct dfx *f = *state;
	struct logbuf *lb = malloc(sizeof(*lb));
	bson_t body = BSON_INITIALIZER, out;
	char reason[4096];
	bson_iter_t it;

	assert_non_null(lb);
	dfx_start(f);
	dfx_push_image(f, "base");

	/* daemon.info carries the version, pid and counts. */
	assert_int_equal(dfx_call(f, NEM_SVC_DAEMON, NEM_DAEMON_INFO, NULL, -1,
	    &out, NULL, 0), NEM_OK);
	assert_true(bson_iter_init_find(&it, &out, "pid"));
	assert_int_equal(bson_iter_int64(&it), f->pid);
	assert_true(bson_iter_init_find(&it, &out, "version"));
	bson_destroy(&out);

	/* An invalid description is rejected with its errors. */
	BSON_APPEND_UTF8(&body, "name", "web");
	BSON_APPEND_UTF8(&body, "toml", READY_JAIL("isolation = 7"));
	assert_int_equal(dfx_call(f, SVC_JAIL, JAIL_APPLY, &body, -1, NULL,
	    reason, sizeof(reason)), NEM_E_INVALID);
	if (strstr(reason, "isolation") == NULL)
		fail_msg("apply reason: %s", reason);
	bson_destroy(&body);

	/* A request without its required field names the field. */
	bson_init(&body);
	assert_int_equal(dfx_call(f, SVC_JAIL, JAIL_START, &body, -1, NULL,
	    reason, sizeof(reason)), NEM_E_INVALID);
	assert_non_null(strstr(reason, "\"name\""));
	bson_destroy(&body);

	bson_init(&body);
	BSON_APPEND_UTF8(&body, "name", "web");
	BSON_APPEND_UTF8(&body, "toml", "autostart = false\n" READY_BODY(""));
	assert_int_equal(dfx_call(f, SVC_JAIL, JAIL_APPLY, &body, -1, NULL,
	    reason, sizeof(reason)), NEM_OK);
	bson_destroy(&body);

	/* Subscribe to events, start the jail from another connection, and
	 * follow its log until the root process prints "ready". */
	{
		struct nem_request ev = NEM_REQUEST_INIT(NEM_SVC_EVENT, 1);
		struct nem_request logs = NEM_REQUEST_INIT(SVC_JAIL, JAIL_LOGS);
		struct nem_client *events = dfx_connect(f);
		struct nem_client *follower = dfx_connect(f);
		struct follow *fw = calloc(1, sizeof(*fw));
		struct nem_reply reply;
		struct nem_err err;
		uint64_t seq;

		assert_non_null(events);
		assert_non_null(follower);
		assert_non_null(fw);
		ev.timeout_ms = NEM_TIMEOUT_NONE;
		assert_int_equal(nem_client_start(events, &ev, on_event_msg,
		    "web", &seq, &err), 0);
		assert_int_equal(call_name(f, JAIL_START, "web", reason,
		    sizeof(reason)), NEM_OK);

		bson_init(&body);
		BSON_APPEND_UTF8(&body, "name", "web");
		BSON_APPEND_BOOL(&body, "follow", true);
		logs.body = bson_get_data(&body);
		logs.body_len = body.len;
		logs.timeout_ms = 15000;
		fw->want = "ready\n";
		nem_reply_init(&reply);
		assert_int_equal(nem_client_stream(follower, &logs,
		    on_follow_chunk, fw, &reply, &err), -1);
		assert_int_equal(reply.code, NEM_E_CANCELLED);
		assert_non_null(strstr(fw->lb.text, "started root process"));
		nem_reply_clear(&reply);
		bson_destroy(&body);

		/* The event stream reported the jail ready. */
		nem_reply_init(&reply);
		assert_int_equal(nem_client_wait(events, seq, &reply, &err),
		    -1);
		assert_int_equal(reply.code, NEM_E_CANCELLED);
		nem_reply_clear(&reply);
		nem_client_free(events);
		nem_client_free(follower);
		free(fw);
	}
	dfx_wait_state(f, "web", "ready", 15000);
	read_logs(f, "web", lb);
	assert_non_null(strstr(lb->text, "ready"));

	assert_int_equal(call_name(f, JAIL_STOP, "web", reason,
	    sizeof(reason)), NEM_OK);
	dfx_wait_state(f, "web", "stopped", 1000);
	read_logs(f, "web", lb);
	assert_non_null(strstr(lb->text, "stopped"));
	assert_non_null(strstr(lb->text, "exited with status 0"));

	assert_int_equal(call_name(f, JAIL_REMOVE, "web", reason,
	    sizeof(reason)), NEM_OK);
	for (int i = 0; i < 100 && call_name(f, 2, "web", NULL, 0) ==
	    NEM_OK; i++)
		usleep(50000);
	assert_int_equal(call_name(f, 2, "web", NULL, 0), NEM_E_NOT_FOUND);

	assert_int_equal(dfx_stop(f), 0);
	assert_int_equal(dfx_count_mounts(f), 0);
	assert_int_equal(fixture_count_loops(f->dir), 0);
	free(lb);
}

/* web requires db: it waits until db is ready; shutdown stops web first */
static void
dependency_order(void **state)
{
	struct dfx *f = *state;
	char buf[262144];
	const char *waiting, *db_ready, *web_alloc, *web_stopped, *db_stopping;

	dfx_start(f);
	dfx_push_image(f, "base");
	dfx_write_jail(f, "web", READY_JAIL("") "[services]\nrequires = "
	    "[\"db\"]\n");
	dfx_write_jail(f, "db", READY_JAIL("") "[services]\nprovides = "
	    "[\"db\"]\n");
	kill(f->pid, SIGHUP);
	dfx_wait_state(f, "web", "ready", 20000);
	dfx_wait_state(f, "db", "ready", 1000);

	waiting = log_find(f, "jail web: waiting: waiting for service db", buf,
	    sizeof(buf));
	db_ready = strstr(buf, "jail db: ready");
	web_alloc = strstr(buf, "jail web: allocating");
	assert_non_null(waiting);
	assert_non_null(db_ready);
	assert_non_null(web_alloc);
	assert_true(waiting < db_ready);
	assert_true(db_ready < web_alloc);

	assert_int_equal(dfx_stop(f), 0);
	web_stopped = log_find(f, "jail web: stopped", buf, sizeof(buf));
	db_stopping = strstr(buf, "jail db: stopping");
	assert_non_null(web_stopped);
	assert_non_null(db_stopping);
	assert_true(web_stopped < db_stopping);
	assert_int_equal(dfx_count_mounts(f), 0);
	assert_int_equal(fixture_count_loops(f->dir), 0);
}

/* Jails that require nothing all run before any of them is ready. */
#define GATED_JAILS 6
#define GATED_JAIL \
	"autostart = true\n[process]\nexec = [\"/bin/sh\", \"-c\", " \
	"\"while ! test -e /data/open; do /bin/busybox sleep 0.05; done; " \
	"exec /ready\"]\nstop_timeout = \"3s\"\n" \
	"[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n" \
	"[[mount]]\ntype = \"shared\"\ndest = \"/data\"\n" \
	"share = \"gate\"\nreadonly = true\n"

static void
independent_in_parallel(void **state)
{
	struct dfx *f = *state;
	char name[16], st[32], path[192];
	int starting = 0;

	dfx_start(f);
	dfx_push_image(f, "base");
	for (int i = 0; i < GATED_JAILS; i++) {
		snprintf(name, sizeof(name), "gated%d", i);
		dfx_write_jail(f, name, GATED_JAIL);
	}
	kill(f->pid, SIGHUP);

	/* Every root process runs and waits at the gate at the same time. */
	for (int tries = 0; tries < 400 && starting < GATED_JAILS; tries++) {
		starting = 0;
		for (int i = 0; i < GATED_JAILS; i++) {
			snprintf(name, sizeof(name), "gated%d", i);
			if (dfx_jail_state(f, name, st, sizeof(st), NULL,
			    0) == 0 && strcmp(st, "starting") == 0)
				starting++;
		}
		if (starting < GATED_JAILS)
			usleep(50000);
	}
	if (starting < GATED_JAILS) {
		char reason[1024] = "";

		dfx_jail_state(f, "gated0", st, sizeof(st), reason,
		    sizeof(reason));
		print_message("gated0: %s: %s\n", st, reason);
		dfx_dump_log(f);
	}
	assert_int_equal(starting, GATED_JAILS);

	/* Opening the gate makes them all ready. */
	snprintf(path, sizeof(path), "%s/shared/gate/open", f->state);
	assert_int_equal(fixture_run((char *[]){ "touch", path, NULL }), 0);
	for (int i = 0; i < GATED_JAILS; i++) {
		snprintf(name, sizeof(name), "gated%d", i);
		dfx_wait_state(f, name, "ready", 20000);
	}
	assert_int_equal(dfx_stop(f), 0);
	assert_int_equal(dfx_count_mounts(f), 0);
}

/* A second SIGTERM hurries the shutdown past a 60 s stop timeout. */
static void
second_sigterm_hurries(void **state)
{
	struct dfx *f = *state;
	int status = -1;

	dfx_start(f);
	dfx_push_image(f, "base");

	/* busybox sleep as the jail's PID 1 ignores SIGTERM. */
	dfx_write_jail(f, "stubborn", "autostart = true\n[process]\n"
	    "exec = [\"/bin/busybox\", \"sleep\", \"1000\"]\n"
	    "stop_timeout = \"60s\"\n"
	    "[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n");
	kill(f->pid, SIGHUP);
	dfx_wait_state(f, "stubborn", "starting", 20000);
	kill(f->pid, SIGTERM);
	for (int i = 0; i < 100 && !log_has(f, "stubborn: stopping pid"); i++)
		usleep(50000);
	assert_true(log_has(f, "stubborn: stopping pid"));
	kill(f->pid, SIGTERM);

	/* Well before the first 60 s step of the ordered stop ends. */
	for (int i = 0; i < 400 && status == -1; i++) {
		if (waitpid(f->pid, &status, WNOHANG) != f->pid)
			usleep(50000);
	}
	if (status == -1)
		dfx_dump_log(f);
	assert_int_not_equal(status, -1);
	f->pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(log_has(f, "hurrying it"));
	assert_int_equal(dfx_count_mounts(f), 0);
}

/* a crashing root process backs off, fails, retries until stopped */
static void
crash_backoff(void **state)
{
	struct dfx *f = *state;
	char st[32], reason[1024];
	struct logbuf *lb = malloc(sizeof(*lb));
	bson_t body;

	assert_non_null(lb);
	dfx_start(f);
	dfx_push_image(f, "base");
	dfx_write_jail(f, "crash",
	    "autostart = true\n[process]\n"
	    "exec = [\"/bin/sh\", \"-c\", \"echo crashing; exit 4\"]\n"
	    "restart = \"on-failure\"\nrestart_delay = \"100ms\"\n"
	    "restart_delay_max = \"400ms\"\n"
	    "[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n");
	kill(f->pid, SIGHUP);

	/*
	 * At the 400 ms cap the jail is marked failed with its exit status
	 * and log tail, and is still retried at the cap.
	 */
	for (int i = 0; i < 300 && !log_has(f, "restarting every"); i++)
		usleep(100000);
	assert_true(log_has(f, "restarting every"));
	st[0] = '\0';
	for (int i = 0; i < 200 && strcmp(st, "failed") != 0; i++) {
		assert_int_equal(dfx_jail_state(f, "crash", st, sizeof(st),
		    reason, sizeof(reason)), 0);
		usleep(10000);
	}
	assert_string_equal(st, "failed");
	assert_non_null(strstr(reason, "in a row ended before"));
	assert_non_null(strstr(reason, "status 4"));
	assert_non_null(strstr(reason, "log tail: "));
	assert_non_null(strstr(reason, "crashing"));
	read_logs(f, "crash", lb);
	assert_non_null(strstr(lb->text, "crashing"));
	for (int i = 0; i < 300 && !log_has(f, "jail crash: starting: trying "
	    "again after"); i++)
		usleep(10000);
	assert_true(log_has(f, "jail crash: starting: trying again after"));

	/* A start request on a failed jail that is retried is accepted. */
	bson_init(&body);
	BSON_APPEND_UTF8(&body, "name", "crash");
	assert_int_equal(dfx_call(f, SVC_JAIL, 3, &body, -1, NULL, NULL, 0),
	    NEM_OK);
	bson_destroy(&body);

	/* A stop ends the restarts and frees the tree. */
	bson_init(&body);
	BSON_APPEND_UTF8(&body, "name", "crash");
	assert_int_equal(dfx_call(f, SVC_JAIL, 4, &body, -1, NULL, NULL, 0),
	    NEM_OK);
	bson_destroy(&body);
	dfx_wait_state(f, "crash", "stopped", 10000);
	assert_int_equal(dfx_count_mounts(f), 0);
	assert_int_equal(dfx_stop(f), 0);
	free(lb);
}

/* SIGHUP: changed restarts, added starts, removed stops, invalid stays */
static void
reload_difference(void **state)
{
	struct dfx *f = *state;
	char st[32], path[192];
	bson_t body = BSON_INITIALIZER, out;
	bson_iter_t it;
	int64_t pid_changed, pid_broken;

	dfx_start(f);
	dfx_push_image(f, "base");
	dfx_write_jail(f, "changed", READY_JAIL(""));
	dfx_write_jail(f, "removed", READY_JAIL(""));
	dfx_write_jail(f, "broken", READY_JAIL(""));
	kill(f->pid, SIGHUP);
	dfx_wait_state(f, "changed", "ready", 20000);
	dfx_wait_state(f, "removed", "ready", 20000);
	dfx_wait_state(f, "broken", "ready", 20000);

	BSON_APPEND_UTF8(&body, "name", "changed");
	assert_int_equal(dfx_call(f, SVC_JAIL, 2, &body, -1, &out, NULL, 0),
	    NEM_OK);
	assert_true(bson_iter_init(&it, &out) &&
	    bson_iter_find_descendant(&it, "jail.pid", &it));
	pid_changed = bson_iter_int64(&it);
	bson_destroy(&out);
	bson_destroy(&body);
	bson_init(&body);
	BSON_APPEND_UTF8(&body, "name", "broken");
	assert_int_equal(dfx_call(f, SVC_JAIL, 2, &body, -1, &out, NULL, 0),
	    NEM_OK);
	assert_true(bson_iter_init(&it, &out) &&
	    bson_iter_find_descendant(&it, "jail.pid", &it));
	pid_broken = bson_iter_int64(&it);
	bson_destroy(&out);

	dfx_write_jail(f, "changed", READY_JAIL("isolation = [\"jail\", "
	    "\"expose_network\"]"));
	dfx_write_jail(f, "added", READY_JAIL(""));
	dfx_write_jail(f, "broken", "autostart = maybe\n");
	snprintf(path, sizeof(path), "%s/removed.toml", f->jails);
	assert_int_equal(unlink(path), 0);
	kill(f->pid, SIGHUP);

	dfx_wait_state(f, "added", "ready", 20000);
	for (int i = 0; i < 200 && call_name(f, 2, "removed", NULL, 0) ==
	    NEM_OK; i++)
		usleep(50000);
	assert_int_equal(call_name(f, 2, "removed", NULL, 0),
	    NEM_E_NOT_FOUND);
	dfx_wait_state(f, "changed", "ready", 20000);
	assert_int_equal(call_name(f, 2, "changed", NULL, 0), NEM_OK);
	assert_true(log_has(f, "jail changed: description changed"));
	assert_true(log_has(f, "jail broken: the description"));

	/* The invalid one kept running with its old process. */
	assert_int_equal(dfx_jail_state(f, "broken", st, sizeof(st), NULL, 0),
	    0);
	assert_string_equal(st, "ready");
	assert_int_equal(dfx_call(f, SVC_JAIL, 2, &body, -1, &out, NULL, 0),
	    NEM_OK);
	assert_true(bson_iter_init(&it, &out) &&
	    bson_iter_find_descendant(&it, "jail.pid", &it));
	assert_int_equal(bson_iter_int64(&it), pid_broken);
	bson_destroy(&out);
	bson_destroy(&body);

	/* The changed one runs a new process. */
	bson_init(&body);
	BSON_APPEND_UTF8(&body, "name", "changed");
	assert_int_equal(dfx_call(f, SVC_JAIL, 2, &body, -1, &out, NULL, 0),
	    NEM_OK);
	assert_true(bson_iter_init(&it, &out) &&
	    bson_iter_find_descendant(&it, "jail.pid", &it));
	assert_int_not_equal(bson_iter_int64(&it), pid_changed);
	bson_destroy(&out);
	bson_destroy(&body);

	assert_int_equal(dfx_stop(f), 0);
	assert_int_equal(dfx_count_mounts(f), 0);
}

/* a second daemon on the same run directory exits with an error */
static void
second_daemon_refused(void **state)
{
	struct dfx *f = *state;
	int status;

	dfx_start(f);
	status = dfx_start_second(f);
	assert_true(WIFEXITED(status));
	assert_int_not_equal(WEXITSTATUS(status), 0);
	assert_true(log_has(f, "rootd.lock"));
	assert_true(dfx_info_ms(f) >= 0);

	/* daemon.stop ends the daemon like SIGTERM. */
	assert_int_equal(dfx_call(f, NEM_SVC_DAEMON, NEM_DAEMON_STOP, NULL, -1,
	    NULL, NULL, 0), NEM_OK);
	for (int i = 0; i < 200 && waitpid(f->pid, &status, WNOHANG) == 0;
	    i++)
		usleep(50000);
	f->pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* SIGKILL of the daemon, then a restart recovers without leaks */
static void
kill_and_recover(void **state)
{
	struct dfx *f = *state;
	char vol[192];
	struct stat st;

	dfx_start(f);
	dfx_push_image(f, "base");
	dfx_write_jail(f, "keep", "autostart = true\n[process]\n"
	    "exec = [\"/bin/sh\", \"-c\", \"echo kept > /data/file; "
	    "exec /ready\"]\n"
	    "[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n"
	    "[[mount]]\ntype = \"md\"\ndest = \"/data\"\nsize = \"16M\"\n"
	    "persist = true\nvolume = \"keep-data\"\n");
	kill(f->pid, SIGHUP);
	dfx_wait_state(f, "keep", "ready", 20000);
	assert_true(dfx_count_mounts(f) > 0);

	dfx_kill(f);
	dfx_start(f);
	dfx_wait_state(f, "keep", "ready", 20000);
	assert_true(log_has(f, "of the previous daemon still runs"));

	/* The volume is listed and cannot be removed while in use. */
	{
		bson_t body = BSON_INITIALIZER, out;
		bson_iter_t it;
		char reason[512];

		assert_int_equal(dfx_call(f, NEM_SVC_VOLUME, 1, NULL, -1, &out,
		    NULL, 0), NEM_OK);
		assert_true(bson_iter_init(&it, &out) &&
		    bson_iter_find_descendant(&it, "volumes.0.name", &it));
		assert_string_equal(bson_iter_utf8(&it, NULL), "keep-data");
		bson_destroy(&out);
		BSON_APPEND_UTF8(&body, "name", "keep-data");
		assert_int_equal(dfx_call(f, NEM_SVC_VOLUME, 2, &body, -1, NULL,
		    reason, sizeof(reason)), NEM_E_BUSY);
		bson_destroy(&body);
	}

	/* Stop everything: nothing of the test is left mounted or attached,
	 * and the persistent volume is still there. */
	assert_int_equal(dfx_stop(f), 0);
	assert_int_equal(dfx_count_mounts(f), 0);
	assert_int_equal(fixture_count_loops(f->dir), 0);
	snprintf(vol, sizeof(vol), "%s/volumes/keep-data.img", f->state);
	assert_int_equal(stat(vol, &st), 0);
	assert_true(st.st_size == 16 * 1024 * 1024);
}

/* Writes the fixed header of a frame announcing a 0xfffffff0-byte body,
 * then a valid daemon.info request. */
static void
send_oversized(int fd)
{
	const struct nem_fixed info = {
		.magic = NEM_MAGIC,
		.version = NEM_VERSION,
		.seq = 1,
		.service = NEM_SVC_DAEMON,
		.command = NEM_DAEMON_INFO,
	};
	struct nem_fixed bad = info;
	uint8_t frame[2 * NEM_FIXED_LEN];

	bad.body_len = 0xfffffff0u;
	nem_fixed_encode(&bad, frame);
	nem_fixed_encode(&info, frame + NEM_FIXED_LEN);
	assert_int_equal(write(fd, frame, sizeof(frame)), sizeof(frame));
}

/* the oversized frame closes that connection only */
static void
oversized_frames(void **state)
{
	struct dfx *f = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct nem_client *other;
	char buf[64], st[32], reason[1024];
	ssize_t n;
	long ms;
	int fd;

	dfx_start(f);
	dfx_push_image(f, "base");

	/* A second client stays connected throughout. */
	other = dfx_connect(f);
	assert_non_null(other);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	send_oversized(fd);

	/* The daemon closes the connection without a reply. */
	n = read(fd, buf, sizeof(buf));
	assert_true(n <= 0);
	close(fd);
	ms = dfx_info_ms(f);
	assert_true(ms >= 0);
	assert_true(ms < 100);
	{
		struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
		    NEM_DAEMON_INFO);
		struct nem_reply reply;
		struct nem_err err;

		nem_reply_init(&reply);
		assert_int_equal(nem_client_call(other, &rq, &reply, &err), 0);
		nem_reply_clear(&reply);
	}

	/* The same on a jail's fd 3: the channel closes, the root process
	 * gets SIGTERM, and restart = never leaves the jail failed. */
	dfx_write_jail(f, "bad", "autostart = true\n[process]\n"
	    "exec = [\"/ready\", \"badframe\"]\nrestart = \"never\"\n"
	    "[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n");
	dfx_write_jail(f, "good", READY_JAIL(""));
	kill(f->pid, SIGHUP);
	dfx_wait_state(f, "bad", "failed", 20000);
	assert_int_equal(dfx_jail_state(f, "bad", st, sizeof(st), reason,
	    sizeof(reason)), 0);
	assert_non_null(strstr(reason, "SIGTERM"));
	assert_true(log_has(f, "body_len 4294967280"));
	dfx_wait_state(f, "good", "ready", 20000);
	ms = dfx_info_ms(f);
	assert_true(ms >= 0);
	assert_true(ms < 100);

	nem_client_free(other);
	assert_int_equal(dfx_stop(f), 0);
	assert_int_equal(dfx_count_mounts(f), 0);
}

/* an unjailed host runs before the jails, is listed, restarts, logs */
static void
host_process(void **state)
{
	struct dfx *f = *state;
	char extra[512], buf[262144];
	bson_t body = BSON_INITIALIZER, out;
	bson_iter_t it;
	int64_t pid1 = 0, pid2 = 0;
	const char *host_ready, *jail_alloc;

	dfx_cleanup(f);
	snprintf(extra, sizeof(extra), "[[host]]\nname = \"helper\"\n"
	    "exec = [\"%s\"]\n", getenv("DAEMON_READY"));
	dfx_init(f, extra);
	dfx_make_image(f);
	dfx_start(f);
	dfx_push_image(f, "base");
	dfx_write_jail(f, "web", READY_JAIL(""));
	kill(f->pid, SIGHUP);
	dfx_wait_state(f, "web", "ready", 20000);

	for (int i = 0; i < 100 && pid1 == 0; i++) {
		assert_int_equal(dfx_call(f, NEM_SVC_HOSTPROC, 1, NULL, -1,
		    &out, NULL, 0), NEM_OK);
		if (bson_iter_init(&it, &out) &&
		    bson_iter_find_descendant(&it, "hosts.0.state", &it) &&
		    strcmp(bson_iter_utf8(&it, NULL), "ready") == 0 &&
		    bson_iter_init(&it, &out) &&
		    bson_iter_find_descendant(&it, "hosts.0.pid", &it))
			pid1 = bson_iter_int64(&it);
		bson_destroy(&out);
		if (pid1 == 0)
			usleep(50000);
	}
	assert_true(pid1 > 0);
	host_ready = log_find(f, "host helper: ready", buf, sizeof(buf));
	jail_alloc = strstr(buf, "jail web: allocating");
	assert_non_null(host_ready);
	assert_non_null(jail_alloc);

	BSON_APPEND_UTF8(&body, "name", "helper");
	assert_int_equal(dfx_call(f, NEM_SVC_HOSTPROC, 2, &body, -1, NULL,
	    NULL, 0), NEM_OK);
	for (int i = 0; i < 100 && (pid2 == 0 || pid2 == pid1); i++) {
		usleep(50000);
		assert_int_equal(dfx_call(f, NEM_SVC_HOSTPROC, 1, NULL, -1,
		    &out, NULL, 0), NEM_OK);
		if (bson_iter_init(&it, &out) &&
		    bson_iter_find_descendant(&it, "hosts.0.pid", &it))
			pid2 = bson_iter_int64(&it);
		bson_destroy(&out);
	}
	assert_true(pid2 > 0);
	assert_true(pid2 != pid1);
	bson_destroy(&body);

	/* The host stops after the jail. */
	assert_int_equal(dfx_stop(f), 0);
	log_find(f, "jail web: stopped", buf, sizeof(buf));
	assert_true(strstr(buf, "jail web: stopped") <
	    strstr(buf, "stopping the unjailed hosts"));
}

/* Returns true for the commands whose request requires a "name". */
static bool
takes_name(uint16_t svc, uint16_t cmd)
{
	switch (svc) {
	case NEM_SVC_IMGHOST:
		return cmd == 2 || cmd == 3 || cmd == 4 || cmd == 5;
	case SVC_JAIL:
		return cmd >= 2 && cmd <= 8;
	case NEM_SVC_VOLUME:
		return cmd == 2;
	case NEM_SVC_HOSTPROC:
		return cmd == 2 || cmd == 3;
	default:
		return false;
	}
}

/* malformed bodies and fields on every command get an error reply */
static void
control_bad_requests(void **state)
{
	struct dfx *f = *state;
	uint8_t junk[64];
	char reason[512];
	int64_t code;

	dfx_start(f);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);

	for (uint16_t svc = 1; svc <= 10; svc++) {
		for (uint16_t cmd = 0; cmd <= 10; cmd++) {
			struct nem_request rq = NEM_REQUEST_INIT(svc, cmd);
			struct nem_reply reply;
			struct nem_client *cl;
			bson_t body = BSON_INITIALIZER;
			struct nem_err err;

			/* daemon.stop would end the daemon under test. */
			if (svc == NEM_SVC_DAEMON && cmd == NEM_DAEMON_STOP)
				continue;

			/* A body that is not BSON. */
			cl = dfx_connect(f);
			assert_non_null(cl);
			rq.body = junk;
			rq.body_len = sizeof(junk);
			rq.timeout_ms = 10000;
			nem_reply_init(&reply);
			(void)nem_client_call(cl, &rq, &reply, &err);
			if (reply.code == NEM_OK)
				fail_msg("service %u command %u accepted a "
				    "body that is not BSON", svc, cmd);
			nem_reply_clear(&reply);
			nem_client_free(cl);

			/* event.subscribe ignores fields and streams until
			 * cancelled, so only its invalid body is sent. */
			if (svc == NEM_SVC_EVENT && cmd == 1) {
				bson_destroy(&body);
				continue;
			}

			/* Fields of the wrong type and an invalid name. */
			BSON_APPEND_INT32(&body, "name", 5);
			BSON_APPEND_UTF8(&body, "follow", "yes");
			code = dfx_call(f, svc, cmd, &body, -1, NULL, reason,
			    sizeof(reason));
			if (code == NEM_OK && takes_name(svc, cmd))
				fail_msg("service %u command %u accepted "
				    "name = 5", svc, cmd);
			bson_destroy(&body);
			bson_init(&body);
			BSON_APPEND_UTF8(&body, "name", "../etc");
			BSON_APPEND_INT64(&body, "bytes", INT64_MAX);
			code = dfx_call(f, svc, cmd, &body, -1, NULL, reason,
			    sizeof(reason));
			if (code == NEM_OK && takes_name(svc, cmd))
				fail_msg("service %u command %u accepted "
				    "name = \"../etc\"", svc, cmd);
			bson_destroy(&body);
		}
	}

	/* A missing field is named in the reason. */
	code = dfx_call(f, NEM_SVC_IMGHOST, NEM_IMGHOST_ADD_IMAGE, NULL, -1,
	    NULL, reason, sizeof(reason));
	assert_int_equal(code, NEM_E_INVALID);
	assert_non_null(strstr(reason, "\"name\""));

	/* The daemon still replies to daemon.info within 100 ms. */
	assert_true(dfx_info_ms(f) >= 0);
	assert_true(dfx_info_ms(f) < 100);
	assert_int_equal(dfx_stop(f), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(control_lifecycle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(dependency_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(crash_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(second_sigterm_hurries, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(independent_in_parallel, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(reload_difference, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(second_daemon_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(kill_and_recover, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(oversized_frames, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(host_process, setup, teardown),
		cmocka_unit_test_setup_teardown(control_bad_requests, setup,
		    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("DFX_FILTER") != NULL)
		cmocka_set_test_filter(getenv("DFX_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
