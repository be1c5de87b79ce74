/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the jail manager, its channels and its log files. The
 * runtime used here builds no tree: it runs each jail's exec on the host
 * with the channel on fd 3, so the lifecycle, the supervision and the
 * channel protocol are exercised with real processes and sockets. The
 * root processes are this test program re-executed in a child mode
 * ("ready", "badframe") or /bin/busybox.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include <nem/client.h>
#include <nem/log.h>
#include <nem/proto.h>

#include "config.h"
#include "db.h"
#include "jailmgr.h"
#include "logfile.h"
#include "supervise.h"
#include "jm_fixture.h"

static char self_exe[PATH_MAX];

/* Child modes. */

static int child_stop_requested;

static void
child_on_stop(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct nem_send s = NEM_SEND_INIT;

	nem_txn_reply(t, &s, NULL);
	child_stop_requested = 1;
}

/* Sends host.ready, then serves until daemon.stop or the channel ends. */
static int
child_ready(void)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_HOST, 3);
	struct nem_reply reply;
	struct nem_client *cl;
	struct nem_err err;

	cl = nem_client_from_env(NULL, &err);
	if (cl == NULL) {
		fprintf(stderr, "child: %s\n", err.msg);
		return 2;
	}
	nem_client_handle(cl, NEM_SVC_DAEMON, NEM_DAEMON_STOP, child_on_stop,
	    NULL, &err);
	nem_reply_init(&reply);
	if (nem_client_call(cl, &rq, &reply, &err) == -1) {
		fprintf(stderr, "child: host.ready: %s\n", err.msg);
		return 2;
	}
	nem_reply_clear(&reply);
	printf("child ready\n");
	fflush(stdout);
	while (!child_stop_requested) {
		if (nem_client_serve(cl, 100, &err) == -1)
			break;
	}
	/* Let the stop reply leave before the socket closes. */
	(void)nem_client_serve(cl, 50, &err);
	nem_client_free(cl);
	return 0;
}

/*
 * Checks that exactly fds 0-3 are open, calls the test's channel handler
 * (service 100, command 1), prints what it found, and exits 0.
 */
static int
child_probe(void)
{
	struct nem_request rq = NEM_REQUEST_INIT(100, 1);
	struct nem_reply reply;
	struct nem_client *cl;
	struct nem_err err;
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int leaked = 0;

	if (d == NULL)
		return 2;
	while ((de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd == dirfd(d) || fd <= 3)
			continue;
		printf("leaked fd %d\n", fd);
		leaked++;
	}
	closedir(d);
	if (leaked == 0)
		printf("fds ok\n");

	cl = nem_client_from_env(NULL, &err);
	if (cl == NULL)
		return 2;
	nem_reply_init(&reply);
	if (nem_client_call(cl, &rq, &reply, &err) == 0)
		printf("ping ok\n");
	else
		printf("ping failed: %s\n", err.msg);
	nem_reply_clear(&reply);
	nem_client_free(cl);
	fflush(stdout);
	return 0;
}

/* Sends a fixed header announcing a body of 0xfffffff0 bytes, then
 * waits to be signalled. */
static int
child_badframe(void)
{
	uint8_t hdr[24] = { 0x21, 0x6d, 0x65, 0x6e, 1, 0 };

	hdr[16] = 0xf0;
	hdr[17] = hdr[18] = hdr[19] = 0xff;
	hdr[20] = NEM_SVC_DAEMON;
	hdr[22] = NEM_DAEMON_INFO;
	if (write(3, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		return 2;
	for (;;)
		pause();
}

/* The runtime of these tests: no tree, the exec runs on the host. */

static int rt_allocs, rt_frees, rt_failing;

static void *
rt_alloc(void *arg, const struct cfg_jail *jail, struct nem_err *err)
{
	if (rt_failing > 0) {
		rt_failing--;
		nem_err_set(err, ENOENT, "jail %s: allocation failed: image "
		    "late not found", jail->name);
		return NULL;
	}
	rt_allocs++;
	return (void *)jail;
}

static pid_t
rt_spawn(void *arg, void *handle, const struct cfg_jail *jail,
    const int stdio[3], int channel, const char *const *env,
    struct nem_err *err)
{
	struct sup_exec spec = {
		.argv = (const char *const *)jail->cmd.exec,
		.env = env,
		.stdio = { stdio[0], stdio[1], stdio[2] },
		.channel = channel,
	};

	return sup_spawn_exec(&spec, err);
}

static int
rt_free(void *arg, void *handle, struct nem_err *err)
{
	rt_frees++;
	return 0;
}

static const struct jm_runtime test_runtime = {
	.alloc = rt_alloc,
	.spawn = rt_spawn,
	.free = rt_free,
};

/* A background allocation that ends FAKE_ALLOC_MS after it began. */
#define FAKE_ALLOC_MS 300

struct fake_alloc {
	struct event *timer;
	void (*done)(void *arg, void *handle, const struct nem_err *err);
	void *arg;
	void *handle;
};

static void
fake_alloc_end(evutil_socket_t fd, short what, void *arg)
{
	struct fake_alloc *a = arg;

	rt_allocs++;
	event_free(a->timer);
	a->done(a->arg, a->handle, NULL);
	free(a);
}

static int
rt_alloc_async(void *async_arg, const struct cfg_jail *jail,
    const char *const *resolved,
    void (*done)(void *done_arg, void *handle, const struct nem_err *err),
    void *done_arg, struct nem_err *err)
{
	const struct timeval delay = { 0, FAKE_ALLOC_MS * 1000 };
	struct fake_alloc *a = calloc(1, sizeof(*a));

	assert_non_null(a);
	a->timer = evtimer_new(async_arg, fake_alloc_end, a);
	assert_non_null(a->timer);
	a->done = done;
	a->arg = done_arg;
	a->handle = (void *)jail;
	assert_int_equal(evtimer_add(a->timer, &delay), 0);
	return 0;
}

/* The runtime with background allocation; async_arg is set per test. */
static struct jm_runtime async_runtime = {
	.alloc = rt_alloc,
	.spawn = rt_spawn,
	.free = rt_free,
	.alloc_async = rt_alloc_async,
};
static bool use_async;

/* Fixture: jm_fixture.h, with a [[host]] that reports ready. */

static int
fx_setup(void **state)
{
	char extra[PATH_MAX + 64];
	struct fx *fx;

	snprintf(extra, sizeof(extra), "[[host]]\nname = \"helper\"\n"
	    "exec = [\"%s\", \"ready\"]\n", self_exe);
	fx = fx_open("/tmp/test-jailmgr-XXXXXX", extra);
	async_runtime.async_arg = fx->base;
	fx_start_jm(fx, use_async ? &async_runtime : &test_runtime);
	rt_allocs = rt_frees = rt_failing = 0;
	*state = fx;
	return 0;
}

static int
fx_setup_async(void **state)
{
	int rc;

	use_async = true;
	rc = fx_setup(state);
	use_async = false;
	return rc;
}

static int
fx_teardown(void **state)
{
	fx_close(*state);
	*state = NULL;
	return 0;
}

static const char *
ready_jail(const char *extra)
{
	static char buf[PATH_MAX + 1024];

	snprintf(buf, sizeof(buf),
	    "%s\n%s\n[process]\nexec = [\"%s\", \"ready\"]\n"
	    "stop_timeout = \"2s\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"64M\"\n",
	    strstr(extra, "autostart") != NULL ? "" : "autostart = true",
	    extra, self_exe);
	return buf;
}

/* Tests. */

static void
test_dependency_order(void **state)
{
	struct fx *fx = *state;
	struct nem_err err;
	char *web, *db;

	write_jail(fx, "web", "%s[services]\nrequires = [\"db\"]\n",
	    ready_jail(""));
	write_jail(fx, "db", "%s[services]\nprovides = [\"db\"]\n",
	    ready_jail(""));
	assert_int_equal(jm_start(fx->jm, &err), 0);
	wait_state(fx, "web", JM_ST_READY, 10000);
	wait_state(fx, "db", JM_ST_READY, 1000);

	/* web waited for db, and allocated only once db was ready. */
	web = strstr(fx->events, "web:waiting");
	db = strstr(fx->events, "db:ready");
	assert_non_null(web);
	assert_non_null(db);
	assert_true(web < db);
	assert_true(strstr(fx->events, "web:allocating") > db);

	/* Shutdown stops web (the dependent) before db. */
	jm_shutdown(fx->jm, fx_on_shut, fx);
	assert_true(run_until(fx, is_shut, NULL, 10000));
	web = strstr(fx->events, "web:stopped");
	db = strstr(fx->events, "db:stopping");
	assert_non_null(web);
	assert_non_null(db);
	assert_true(web < db);
	assert_int_equal(rt_frees, 2);
}

static void
test_waiting_for_stopped_provider(void **state)
{
	struct fx *fx = *state;
	struct jm_jail_info info;
	struct nem_err err;

	write_jail(fx, "consumer", "%s[services]\nrequires = [\"svc\"]\n",
	    ready_jail(""));
	write_jail(fx, "provider", "%s[services]\nprovides = [\"svc\"]\n",
	    ready_jail("autostart = false"));
	assert_int_equal(jm_start(fx->jm, &err), 0);
	wait_state(fx, "consumer", JM_ST_WAITING, 1000);
	assert_int_equal(jm_jail_status(fx->jm, "consumer", &info, &err), 0);
	assert_non_null(strstr(info.reason, "waiting for service svc"));
	assert_int_equal(rt_allocs, 0);

	/* A restart while waiting waits again, with the same reason. */
	assert_int_equal(jm_jail_restart(fx->jm, "consumer", &err), 0);
	wait_state(fx, "consumer", JM_ST_WAITING, 1000);
	assert_int_equal(jm_jail_status(fx->jm, "consumer", &info, &err), 0);
	assert_non_null(strstr(info.reason, "waiting for service svc"));

	/* Starting the provider releases the consumer. */
	assert_int_equal(jm_jail_start(fx->jm, "provider", &err), 0);
	wait_state(fx, "consumer", JM_ST_READY, 10000);
	assert_int_equal(rt_allocs, 2);
}

static bool
never(struct fx *fx, const void *arg)
{
	return false;
}

static bool
retried_twice(struct fx *fx, const void *arg)
{
	struct jm_jail_info info;

	return jm_jail_status(fx->jm, arg, &info, NULL) == 0 &&
	    info.restarts >= 2;
}

static void
test_retry_waits_for_gone_service(void **state)
{
	struct fx *fx = *state;
	struct jm_jail_info info;
	struct nem_err err;

	write_jail(fx, "cons", "autostart = true\n[process]\n"
	    "exec = [\"/bin/busybox\", \"sh\", \"-c\", \"exit 3\"]\n"
	    "restart_delay = \"100ms\"\nrestart_delay_max = \"200ms\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"8M\"\n"
	    "[services]\nrequires = [\"svc\"]\n");
	write_jail(fx, "prov", "%s[services]\nprovides = [\"svc\"]\n",
	    ready_jail(""));
	assert_int_equal(jm_start(fx->jm, &err), 0);
	assert_true(run_until(fx, retried_twice, "cons", 10000));

	/* With the provider gone, the next try waits instead of running. */
	assert_int_equal(jm_jail_stop(fx->jm, "prov", NULL, NULL, &err), 0);
	wait_state(fx, "cons", JM_ST_WAITING, 5000);
	assert_int_equal(jm_jail_status(fx->jm, "cons", &info, &err), 0);
	assert_non_null(strstr(info.reason, "waiting for service svc"));
}

static bool
is_failed(struct fx *fx, const void *arg)
{
	struct jm_jail_info info;
	struct nem_err err;

	return jm_jail_status(fx->jm, arg, &info, &err) == 0 &&
	    info.state == JM_ST_FAILED;
}

static void
test_crash_fails_and_retries(void **state)
{
	struct fx *fx = *state;
	struct jm_jail_info info;
	struct nem_err err;
	int allocs;

	write_jail(fx, "crash",
	    "autostart = true\n[process]\n"
	    "exec = [\"/bin/busybox\", \"sh\", \"-c\", \"echo boom; exit 3\"]\n"
	    "restart = \"on-failure\"\nrestart_delay = \"100ms\"\n"
	    "restart_delay_max = \"200ms\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"64M\"\n");
	assert_int_equal(jm_start(fx->jm, &err), 0);

	/* At the 200 ms cap it is failed, with its exit and log tail. */
	assert_true(run_until(fx, is_failed, "crash", 5000));
	assert_int_equal(jm_jail_status(fx->jm, "crash", &info, &err), 0);
	assert_non_null(strstr(info.reason, "exited with status 3"));
	assert_non_null(strstr(info.reason, "in a row ended before"));
	assert_non_null(strstr(info.reason, "boom"));

	/* It is still tried: 3 s hold about 15 runs at 200 ms. */
	(void)run_until(fx, never, NULL, 3000);
	assert_int_equal(jm_jail_status(fx->jm, "crash", &info, &err), 0);
	assert_true(rt_allocs > 5);
	assert_true(info.restarts > 5);

	/* Each run had its own tree, and every ended run's tree was freed. */
	assert_true(rt_frees >= rt_allocs - 1);

	/* A stop ends the restarts and frees the last tree. */
	assert_int_equal(jm_jail_stop(fx->jm, "crash", NULL, NULL, &err), 0);
	wait_state(fx, "crash", JM_ST_STOPPED, 5000);
	allocs = rt_allocs;
	(void)run_until(fx, never, NULL, 500);
	assert_int_equal(rt_allocs, allocs);
	assert_int_equal(rt_frees, rt_allocs);
}

static bool
all_ready(struct fx *fx, const void *arg)
{
	const char *const *names = arg;
	struct jm_jail_info info;
	struct nem_err err;

	for (size_t i = 0; names[i] != NULL; i++) {
		if (jm_jail_status(fx->jm, names[i], &info, &err) == -1 ||
		    info.state != JM_ST_READY)
			return false;
	}
	return true;
}

static void
test_async_alloc_side_by_side(void **state)
{
	static const char *const names[] = { "a1", "a2", "a3", NULL };
	struct fx *fx = *state;
	struct jm_jail_info info;
	struct nem_err err;

	for (size_t i = 0; names[i] != NULL; i++)
		write_jail(fx, names[i], "%s", ready_jail(""));
	assert_int_equal(jm_start(fx->jm, &err), 0);

	/* All three allocations run before any has ended. */
	for (size_t i = 0; names[i] != NULL; i++) {
		assert_int_equal(jm_jail_status(fx->jm, names[i], &info,
		    &err), 0);
		assert_int_equal(info.state, JM_ST_ALLOCATING);
	}
	assert_int_equal(rt_allocs, 0);
	assert_true(run_until(fx, all_ready, names, 10000));
	assert_int_equal(rt_allocs, 3);
}

static void
test_async_stop_while_allocating(void **state)
{
	struct fx *fx = *state;
	struct jm_jail_info info;
	struct nem_err err;

	write_jail(fx, "slow", "%s", ready_jail(""));
	assert_int_equal(jm_start(fx->jm, &err), 0);
	assert_int_equal(jm_jail_status(fx->jm, "slow", &info, &err), 0);
	assert_int_equal(info.state, JM_ST_ALLOCATING);

	/* The stop waits for the allocation, then frees the tree. */
	assert_int_equal(jm_jail_stop(fx->jm, "slow", NULL, NULL, &err), 0);
	assert_int_equal(jm_jail_status(fx->jm, "slow", &info, &err), 0);
	assert_int_equal(info.state, JM_ST_STOPPING);
	wait_state(fx, "slow", JM_ST_STOPPED, 5000);
	assert_int_equal(rt_allocs, 1);
	assert_int_equal(rt_frees, 1);
	assert_null(strstr(fx->events, "slow:starting"));

	/* It starts normally afterwards, and the shutdown waits for an
	 * allocation that is still running. */
	assert_int_equal(jm_jail_start(fx->jm, "slow", &err), 0);
	jm_shutdown(fx->jm, fx_on_shut, fx);
	assert_true(run_until(fx, is_shut, NULL, 10000));
	assert_int_equal(rt_allocs, 2);
	assert_int_equal(rt_frees, 2);
}

static bool
reason_has(struct fx *fx, const void *arg)
{
	struct jm_jail_info info;
	struct nem_err err;

	return jm_jail_status(fx->jm, "late", &info, &err) == 0 &&
	    strstr(info.reason, arg) != NULL;
}

static void
test_failed_allocation_retried(void **state)
{
	struct fx *fx = *state;
	struct jm_jail_info info;
	struct nem_err err;

	rt_failing = 2;
	write_jail(fx, "late", "%s", ready_jail(""));
	assert_int_equal(jm_start(fx->jm, &err), 0);

	/* Starting, with why and when it is tried next. */
	assert_true(run_until(fx, reason_has, "start failed", 5000));
	assert_int_equal(jm_jail_status(fx->jm, "late", &info, &err), 0);
	assert_int_equal(info.state, JM_ST_STARTING);
	assert_non_null(strstr(info.reason, "image late not found"));
	assert_non_null(strstr(info.reason, "next try in"));

	/* The third try works. */
	wait_state(fx, "late", JM_ST_READY, 10000);
	assert_int_equal(rt_failing, 0);
	assert_int_equal(rt_allocs, 1);
}

static void
test_bad_file_names_skipped(void **state)
{
	static const char *const bad[] = { "-rf", "a b", "..", ".hidden",
		"x{y=z}", NULL };
	struct fx *fx = *state;
	struct jm_jail_info info;
	struct nem_err err;

	for (size_t i = 0; bad[i] != NULL; i++)
		write_jail(fx, bad[i], "%s", ready_jail(""));
	write_jail(fx, "good", "%s", ready_jail(""));
	assert_int_equal(jm_start(fx->jm, &err), 0);
	for (size_t i = 0; bad[i] != NULL; i++) {
		assert_int_equal(jm_jail_status(fx->jm, bad[i], &info, &err),
		    -1);
		assert_int_equal(err.code, ENOENT);
	}
	wait_state(fx, "good", JM_ST_READY, 10000);
}

static void
test_stop_over_channel(void **state)
{
	struct fx *fx = *state;
	struct jm_jail_info info;
	struct nem_err err;
	char *log;
	size_t len;

	write_jail(fx, "svc", "%s", ready_jail(""));
	assert_int_equal(jm_start(fx->jm, &err), 0);
	wait_state(fx, "svc", JM_ST_READY, 10000);
	assert_int_equal(jm_jail_stop(fx->jm, "svc", NULL, NULL, &err), 0);
	wait_state(fx, "svc", JM_ST_STOPPED, 5000);
	assert_int_equal(jm_jail_status(fx->jm, "svc", &info, &err), 0);
	assert_int_equal(info.last_status, 0);

	/* The child's output and the daemon's notes are in the log. */
	assert_int_equal(logfile_tail(info.log_path, 4096, &log, &len, &err),
	    0);
	assert_non_null(strstr(log, "child ready"));
	assert_non_null(strstr(log, "exited with status 0"));
	free(log);

	assert_int_equal(jm_jail_start(fx->jm, "svc", &err), 0);
	wait_state(fx, "svc", JM_ST_READY, 10000);
	assert_int_equal(jm_jail_start(fx->jm, "svc", &err), -1);
	assert_int_equal(err.code, EALREADY);
}

static void
test_channel_violation(void **state)
{
	struct fx *fx = *state;
	struct jm_jail_info info;
	struct nem_err err;

	write_jail(fx, "bad",
	    "autostart = true\n[process]\nexec = [\"%s\", \"badframe\"]\n"
	    "restart = \"never\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"64M\"\n", self_exe);
	write_jail(fx, "good", "%s", ready_jail(""));
	assert_int_equal(jm_start(fx->jm, &err), 0);

	/* The channel closes, SIGTERM ends the process, restart = never
	 * leaves the jail failed; the other jail is unaffected. */
	wait_state(fx, "bad", JM_ST_FAILED, 10000);
	assert_int_equal(jm_jail_status(fx->jm, "bad", &info, &err), 0);
	assert_non_null(strstr(info.reason, "SIGTERM"));
	wait_state(fx, "good", JM_ST_READY, 10000);
}

static void
test_reload_difference(void **state)
{
	struct fx *fx = *state;
	struct jm_jail_info info;
	struct nem_err err;
	char path[256];
	pid_t same_pid, changed_pid;

	write_jail(fx, "same", "%s", ready_jail(""));
	write_jail(fx, "changed", "%s", ready_jail(""));
	write_jail(fx, "removed", "%s", ready_jail(""));
	write_jail(fx, "broken", "%s", ready_jail(""));
	assert_int_equal(jm_start(fx->jm, &err), 0);
	wait_state(fx, "same", JM_ST_READY, 10000);
	wait_state(fx, "changed", JM_ST_READY, 10000);
	wait_state(fx, "removed", JM_ST_READY, 10000);
	wait_state(fx, "broken", JM_ST_READY, 10000);
	jm_jail_status(fx->jm, "same", &info, &err);
	same_pid = info.pid;
	jm_jail_status(fx->jm, "changed", &info, &err);
	changed_pid = info.pid;

	write_jail(fx, "changed", "%s", ready_jail("# now different\n"
	    "isolation = [\"jail\", \"expose_network\"]"));
	write_jail(fx, "added", "%s", ready_jail(""));
	write_jail(fx, "broken", "autostart = maybe\n");
	snprintf(path, sizeof(path), "%s/removed.toml", fx->jails);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(jm_reload(fx->jm, &err), 0);

	wait_state(fx, "added", JM_ST_READY, 10000);
	wait_state(fx, "changed", JM_ST_READY, 10000);
	jm_jail_status(fx->jm, "changed", &info, &err);
	assert_int_not_equal(info.pid, changed_pid);
	jm_jail_status(fx->jm, "same", &info, &err);
	assert_int_equal(info.pid, same_pid);
	jm_jail_status(fx->jm, "broken", &info, &err);
	assert_int_equal(info.state, JM_ST_READY);
	assert_false(info.valid);
	for (int i = 0; i < 100 &&
	    jm_jail_status(fx->jm, "removed", &info, NULL) == 0; i++)
		run_until(fx, is_shut, NULL, 50);
	assert_int_equal(jm_jail_status(fx->jm, "removed", &info, &err), -1);
	assert_int_equal(err.code, ENOENT);
}

static void
test_apply_and_remove(void **state)
{
	struct fx *fx = *state;
	struct cfg_diags diags = { 0 };
	struct jm_jail_info info;
	struct nem_err err;
	const char *bad = "autostart = 3\n";
	const char *good = ready_jail("");
	char path[256];
	struct stat st;

	assert_int_equal(jm_start(fx->jm, &err), 0);
	assert_int_equal(jm_jail_apply(fx->jm, "new", bad, strlen(bad),
	    &diags, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_true(diags.len > 0);
	cfg_diags_clear(&diags);
	assert_int_equal(jm_jail_status(fx->jm, "new", &info, &err), -1);

	assert_int_equal(jm_jail_apply(fx->jm, "new", good, strlen(good),
	    &diags, &err), 0);
	wait_state(fx, "new", JM_ST_READY, 10000);
	snprintf(path, sizeof(path), "%s/new.toml", fx->jails);
	assert_int_equal(stat(path, &st), 0);

	assert_int_equal(jm_jail_remove(fx->jm, "new", &err), 0);
	for (int i = 0; i < 100 &&
	    jm_jail_status(fx->jm, "new", &info, NULL) == 0; i++)
		run_until(fx, is_shut, NULL, 50);
	assert_int_equal(jm_jail_status(fx->jm, "new", &info, &err), -1);
	assert_int_equal(stat(path, &st), -1);

	/* Applied again while its removal waits for the stop: kept. */
	assert_int_equal(jm_jail_apply(fx->jm, "new", good, strlen(good),
	    &diags, &err), 0);
	wait_state(fx, "new", JM_ST_READY, 10000);
	assert_int_equal(jm_jail_remove(fx->jm, "new", &err), 0);
	assert_int_equal(jm_jail_status(fx->jm, "new", &info, &err), 0);
	assert_int_equal(info.state, JM_ST_STOPPING);
	assert_int_equal(jm_jail_apply(fx->jm, "new", good, strlen(good),
	    &diags, &err), 0);
	wait_state(fx, "new", JM_ST_READY, 10000);
	assert_non_null(strstr(fx->events, "new:stopping new:freeing "
	    "new:stopped"));
	assert_int_equal(stat(path, &st), 0);
}

/* A jail waits for a volume that a jail on its way out still uses. */
static void
test_waits_for_volume(void **state)
{
	struct fx *fx = *state;
	struct cfg_diags diags = { 0 };
	struct jm_jail_info info;
	struct nem_err err;
	char text[PATH_MAX + 2048];

	snprintf(text, sizeof(text), "%s[[mount]]\ntype = \"md\"\n"
	    "dest = \"/data\"\nsize = \"8M\"\npersist = true\n"
	    "volume = \"vol\"\n", ready_jail(""));
	write_jail(fx, "va", "%s", text);
	assert_int_equal(jm_start(fx->jm, &err), 0);
	wait_state(fx, "va", JM_ST_READY, 10000);

	assert_int_equal(jm_jail_remove(fx->jm, "va", &err), 0);
	assert_int_equal(jm_jail_apply(fx->jm, "vb", text, strlen(text),
	    &diags, &err), 0);
	assert_int_equal(jm_jail_status(fx->jm, "vb", &info, &err), 0);
	assert_int_equal(info.state, JM_ST_WAITING);
	assert_non_null(strstr(info.reason, "waiting for volume vol, still "
	    "used by jail va"));
	wait_state(fx, "vb", JM_ST_READY, 10000);
	assert_int_equal(jm_jail_status(fx->jm, "va", &info, &err), -1);
}

/* A reload keeps a running jail's claims against a new description. */
static void
test_reload_running_jail_wins(void **state)
{
	struct fx *fx = *state;
	struct jm_jail_info info;
	struct nem_err err;

	/* zz sorts after aa, so by name alone aa would win the port. */
	write_jail(fx, "zz", "%s[[listen]]\nname = \"h\"\n"
	    "address = \"127.0.0.1\"\nport = 25004\n", ready_jail(""));
	assert_int_equal(jm_start(fx->jm, &err), 0);
	wait_state(fx, "zz", JM_ST_READY, 10000);
	write_jail(fx, "aa", "%s[[listen]]\nname = \"h\"\n"
	    "address = \"127.0.0.1\"\nport = 25004\n", ready_jail(""));
	assert_int_equal(jm_reload(fx->jm, &err), 0);
	assert_int_equal(jm_jail_status(fx->jm, "aa", &info, &err), 0);
	assert_int_equal(info.state, JM_ST_DEFINED);
	assert_false(info.valid);
	assert_int_equal(jm_jail_status(fx->jm, "zz", &info, &err), 0);
	assert_int_equal(info.state, JM_ST_READY);
	assert_true(info.valid);
}

/* A running jail keeps its claims, even after its file changed. */
static void
test_running_claims_kept(void **state)
{
	struct fx *fx = *state;
	struct cfg_diags diags = { 0 };
	struct jm_jail_info info;
	struct nem_err err;
	char text[PATH_MAX + 2048];
	uint64_t starts;

	write_jail(fx, "web", "%s[[listen]]\nname = \"h\"\n"
	    "address = \"127.0.0.1\"\nport = 25006\n", ready_jail(""));
	write_jail(fx, "store", "%s", ready_jail(""));
	assert_int_equal(jm_start(fx->jm, &err), 0);
	wait_state(fx, "web", JM_ST_READY, 10000);
	wait_state(fx, "store", JM_ST_READY, 10000);
	assert_int_equal(jm_jail_status(fx->jm, "store", &info, &err), 0);
	starts = info.starts;

	/* A changed store that claims web's port keeps its old one. */
	write_jail(fx, "store", "%s[[listen]]\nname = \"h\"\n"
	    "address = \"127.0.0.1\"\nport = 25006\n", ready_jail(""));
	assert_int_equal(jm_reload(fx->jm, &err), 0);
	(void)run_until(fx, is_shut, NULL, 300);
	assert_int_equal(jm_jail_status(fx->jm, "store", &info, &err), 0);
	assert_int_equal(info.state, JM_ST_READY);
	assert_false(info.valid);
	assert_int_equal(info.starts, starts);
	wait_state(fx, "web", JM_ST_READY, 1000);

	/* web's file gets an error; a new jail still cannot take its port. */
	write_jail(fx, "store", "%s", ready_jail(""));
	write_jail(fx, "web", "bogus_key = 1\n%s", ready_jail(""));
	assert_int_equal(jm_reload(fx->jm, &err), 0);
	snprintf(text, sizeof(text), "%s[[listen]]\nname = \"h\"\n"
	    "address = \"127.0.0.1\"\nport = 25006\n",
	    ready_jail("autostart = false"));
	assert_int_equal(jm_jail_apply(fx->jm, "webp", text, strlen(text),
	    &diags, &err), -1);
	assert_non_null(strstr(err.msg, "which the running jail web holds"));
	cfg_diags_clear(&diags);
}

/* A jail apply that would make a valid jail invalid is rejected. */
static void
test_apply_newcomer_loses(void **state)
{
	struct fx *fx = *state;
	struct cfg_diags diags = { 0 };
	struct nem_err err;
	char wild[PATH_MAX + 2048], lo[PATH_MAX + 2048];

	/* Neither starts, so no socket is bound. */
	snprintf(wild, sizeof(wild), "%s[[listen]]\nname = \"h\"\n"
	    "address = \"0.0.0.0\"\nport = 25003\n",
	    ready_jail("autostart = false"));
	snprintf(lo, sizeof(lo), "%s[[listen]]\nname = \"h\"\n"
	    "address = \"127.0.0.1\"\nport = 25003\n",
	    ready_jail("autostart = false"));
	assert_int_equal(jm_start(fx->jm, &err), 0);
	assert_int_equal(jm_jail_apply(fx->jm, "la", wild, strlen(wild),
	    &diags, &err), 0);
	cfg_diags_clear(&diags);
	assert_int_equal(jm_jail_apply(fx->jm, "lb", lo, strlen(lo), &diags,
	    &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_non_null(strstr(err.msg, "conflicts with jail la"));
	assert_true(diags.len > 0);
	cfg_diags_clear(&diags);
	assert_int_equal(jm_jail_status(fx->jm, "lb", NULL, &err), -1);
}

static bool
host_ready(struct fx *fx, const void *arg)
{
	struct jm_host_info *hi;
	size_t n;
	bool ready;

	if (jm_host_list(fx->jm, &hi, &n, NULL) == -1 || n != 1)
		return false;
	ready = strcmp(hi[0].state, "ready") == 0;
	free(hi);
	return ready;
}

static void
test_host_lifecycle(void **state)
{
	struct fx *fx = *state;
	struct nem_err err;
	char *j, *h;

	write_jail(fx, "one", "%s", ready_jail(""));
	assert_int_equal(jm_start(fx->jm, &err), 0);
	assert_true(run_until(fx, host_ready, NULL, 10000));
	wait_state(fx, "one", JM_ST_READY, 10000);

	/* The host stops after the jails. */
	jm_shutdown(fx->jm, fx_on_shut, fx);
	assert_true(run_until(fx, is_shut, NULL, 10000));
	j = strstr(fx->events, "one:stopped");
	h = strstr(fx->events, "helper:exited");
	assert_non_null(j);
	assert_non_null(h);
	assert_true(j < h);
}

static void
on_ping(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct nem_send reply = NEM_SEND_INIT;
	int *calls = arg;

	(*calls)++;
	nem_txn_reply(t, &reply, NULL);
}

static void
test_channel_handler_and_fds(void **state)
{
	struct fx *fx = *state;
	struct chan_handler h = { 100, 1, on_ping, NULL };
	struct jm_jail_info info;
	struct nem_err err;
	int calls = 0;
	char *log;
	size_t len;

	h.arg = &calls;
	assert_int_equal(jm_channel_handle(fx->jm, &h, &err), 0);
	assert_int_equal(jm_channel_handle(fx->jm, &h, &err), -1);
	assert_int_equal(err.code, EEXIST);
	write_jail(fx, "probe",
	    "autostart = true\n[process]\nexec = [\"%s\", \"probe\"]\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"64M\"\n",
	    self_exe);
	assert_int_equal(jm_start(fx->jm, &err), 0);
	wait_state(fx, "probe", JM_ST_STOPPED, 10000);
	assert_int_equal(calls, 1);
	assert_int_equal(jm_jail_status(fx->jm, "probe", &info, &err), 0);
	assert_int_equal(logfile_tail(info.log_path, 4096, &log, &len, &err),
	    0);
	assert_non_null(strstr(log, "fds ok"));
	assert_non_null(strstr(log, "ping ok"));
	free(log);
}

static void
test_logfile_rotation(void **state)
{
	struct fx *fx = *state;
	struct nem_err err;
	struct logfile *lf;
	char path[256], old[300];
	struct stat st;
	char line[100];
	char *tail;
	size_t len;

	snprintf(path, sizeof(path), "%s/rot.log", fx->dir);
	snprintf(old, sizeof(old), "%s.1", path);
	lf = logfile_open(fx->base, path, LOGFILE_CHUNK, &err);
	assert_non_null(lf);
	memset(line, 'x', sizeof(line) - 2);
	line[sizeof(line) - 2] = '\0';
	for (int i = 0; i < 100; i++)
		logfile_note(lf, "%02d%s", i, line);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size <= LOGFILE_CHUNK);
	assert_int_equal(stat(old, &st), 0);
	assert_true(st.st_size <= LOGFILE_CHUNK);

	/* The tail spans both files and ends with the last note. */
	assert_int_equal(logfile_tail(path, 2 * LOGFILE_CHUNK, &tail, &len,
	    &err), 0);
	assert_true(len > LOGFILE_CHUNK);
	assert_non_null(strstr(tail, "99xx"));
	free(tail);

	assert_null(logfile_open(fx->base, path, 10, &err));
	assert_int_equal(err.code, EINVAL);
	logfile_free(lf);
}

static void
test_state_names(void **state)
{
	assert_string_equal(jm_state_name(JM_ST_DEFINED), "defined");
	assert_string_equal(jm_state_name(JM_ST_FAILED), "failed");
	assert_string_equal(jm_state_name(JM_ST_COUNT), "unknown");
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test_setup_teardown(test_logfile_rotation,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_dependency_order,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_waiting_for_stopped_provider,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_crash_fails_and_retries,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
		    test_retry_waits_for_gone_service, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stop_over_channel,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_failed_allocation_retried,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_file_names_skipped,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_async_alloc_side_by_side,
		    fx_setup_async, fx_teardown),
		cmocka_unit_test_setup_teardown(
		    test_async_stop_while_allocating, fx_setup_async,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_channel_violation,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reload_difference,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_apply_and_remove,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_apply_newcomer_loses,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reload_running_jail_wins,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_waits_for_volume,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_running_claims_kept,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_host_lifecycle,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_channel_handler_and_fds,
		    fx_setup, fx_teardown),
	};
	ssize_t n;

	if (argc == 2 && strcmp(argv[1], "ready") == 0)
		return child_ready();
	if (argc == 2 && strcmp(argv[1], "badframe") == 0)
		return child_badframe();
	if (argc == 2 && strcmp(argv[1], "probe") == 0)
		return child_probe();

	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		return 1;
	self_exe[n] = '\0';
	signal(SIGPIPE, SIG_IGN);
	log_role("test_jailmgr");
	log_init(LOG_DEST_STDERR, getenv("TEST_DEBUG") != NULL ?
	    LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
