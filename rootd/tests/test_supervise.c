/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Tests of the supervisor with real processes: the backoff arithmetic at
 * its limits, policy checks, restarts of a failing program, the stop
 * sequence (SIGTERM, then SIGKILL after the timeout) and the fork/exec
 * helper's descriptors and environment. Every process a test starts is a
 * child of the test and is reaped by the supervisor before the test ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/log.h>

#include "supervise.h"

/* A unit that runs argv through sup_spawn_exec and records its exits. */
struct prog {
	const char *const *argv;
	int stdio[3];
	int channel;
	int exits;
	int last_status;
	uint64_t exit_ms;	/* monotonic time of the last exit */
	bool done;		/* set by the stop or shutdown callback */
	uint64_t done_ms;
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static pid_t
prog_start(void *arg, struct nem_err *err)
{
	struct prog *p = arg;
	struct sup_exec spec = {
		.argv = p->argv,
		.stdio = { p->stdio[0], p->stdio[1], p->stdio[2] },
		.channel = p->channel,
	};

	return sup_spawn_exec(&spec, err);
}

static void
prog_exited(void *arg, pid_t pid, int status)
{
	struct prog *p = arg;

	p->exits++;
	p->last_status = status;
	p->exit_ms = mono_ms();
}

static void
prog_done(void *arg)
{
	struct prog *p = arg;

	p->done = true;
	p->done_ms = mono_ms();
}

static void
prog_init(struct prog *p, const char *const *argv)
{
	memset(p, 0, sizeof(*p));
	p->argv = argv;
	p->stdio[0] = p->stdio[1] = -1;
	p->stdio[2] = STDERR_FILENO;
	p->channel = -1;
	p->last_status = -1;
}

static void
flag_done(void *arg)
{
	*(bool *)arg = true;
}

static const struct sup_unit_ops prog_ops = {
	.start = prog_start,
	.exited = prog_exited,
};

/* Runs the loop until *flag is set or ms have passed. */
static void
run_until(struct event_base *base, const bool *flag, uint64_t ms)
{
	uint64_t end = mono_ms() + ms;

	while ((flag == NULL || !*flag) && mono_ms() < end) {
		struct timeval tv = { 0, 20000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static void
backoff_doubles_to_cap(void **state)
{
	(void)state;
	assert_int_equal(sup_backoff_next(100, 30000), 200);
	assert_int_equal(sup_backoff_next(20000, 30000), 30000);
	assert_int_equal(sup_backoff_next(30000, 30000), 30000);
	assert_int_equal(sup_backoff_next(40000, 30000), 30000);
}

static void
backoff_never_wraps(void **state)
{
	(void)state;
	assert_int_equal(sup_backoff_next(UINT64_MAX, UINT64_MAX), UINT64_MAX);
	assert_int_equal(sup_backoff_next(UINT64_MAX / 2 + 1, UINT64_MAX),
	    UINT64_MAX);
	assert_int_equal(sup_backoff_next(UINT64_MAX / 2, UINT64_MAX),
	    UINT64_MAX - 1);
	assert_int_equal(sup_backoff_next(UINT64_MAX - 1, UINT64_MAX),
	    UINT64_MAX);
	assert_int_equal(sup_backoff_next(SUP_TIME_MAX_MS, SUP_TIME_MAX_MS),
	    SUP_TIME_MAX_MS);
	assert_int_equal(sup_backoff_next(SUP_TIME_MAX_MS / 2 + 1,
	    SUP_TIME_MAX_MS), SUP_TIME_MAX_MS);

	/* A long chain reaches the cap and stays there. */
	uint64_t d = 1;
	for (int i = 0; i < 200; i++) {
		uint64_t next = sup_backoff_next(d, UINT64_MAX - 7);

		assert_true(next >= d);
		d = next;
	}
	assert_int_equal(d, UINT64_MAX - 7);
}

static void
policy_check_limits(void **state)
{
	struct sup_policy p;
	struct nem_err err;

	(void)state;
	sup_policy_defaults(&p);
	assert_int_equal(sup_policy_check(&p, &err), 0);
	assert_true(p.stop_timeout_ms > 0);
	assert_int_equal(p.stop_timeout_ms, 10000);

	p.restart_delay_ms = 99;
	assert_int_equal(sup_policy_check(&p, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_non_null(strstr(err.msg, "restart_delay is 99 ms"));

	sup_policy_defaults(&p);
	p.restart_delay_ms = p.restart_delay_max_ms + 1;
	assert_int_equal(sup_policy_check(&p, &err), -1);
	assert_non_null(strstr(err.msg, "larger than restart_delay_max"));

	sup_policy_defaults(&p);
	p.stop_timeout_ms = 0;
	assert_int_equal(sup_policy_check(&p, &err), -1);
	assert_non_null(strstr(err.msg, "stop_timeout"));

	sup_policy_defaults(&p);
	p.restart_delay_ms = SUP_TIME_MAX_MS;
	p.restart_delay_max_ms = SUP_TIME_MAX_MS;
	p.restart_reset_ms = SUP_TIME_MAX_MS;
	p.stop_timeout_ms = SUP_TIME_MAX_MS;
	assert_int_equal(sup_policy_check(&p, &err), 0);
	p.restart_delay_max_ms = SUP_TIME_MAX_MS + 1;
	assert_int_equal(sup_policy_check(&p, &err), -1);

	sup_policy_defaults(&p);
	p.restart = (enum sup_restart)7;
	assert_int_equal(sup_policy_check(&p, &err), -1);
	assert_non_null(strstr(err.msg, "on-failure"));
}

/*
 * /bin/false with restart = on-failure and an 800 ms cap: the delays go
 * 100, 200, 400, 800, 800 ms, so about 6 starts happen in 2.5 s instead of
 * 25 at one per 100 ms, and the state turns failed once the cap is reached.
 */
static void
restart_backs_off_to_cap(void **state)
{
	static const char *const argv[] = { "/bin/false", NULL };
	struct event_base *base = event_base_new();
	struct sup *sup;
	struct sup_unit *unit;
	struct sup_policy pol;
	struct sup_unit_info info;
	struct prog p;
	struct nem_err err;
	bool stopped = false;

	(void)state;
	assert_non_null(base);
	sup = sup_new(base, &err);
	assert_non_null(sup);
	prog_init(&p, argv);
	sup_policy_defaults(&pol);
	pol.restart = SUP_RESTART_ON_FAILURE;
	pol.restart_delay_max_ms = 800;
	unit = sup_unit_add(sup, "false", &pol, &prog_ops, &p, &err);
	assert_non_null(unit);
	assert_int_equal(sup_unit_start(unit, &err), 0);

	run_until(base, NULL, 2500);
	sup_unit_info(unit, &info);
	/* Starts at 0, 0.1, 0.3, 0.7, 1.5, 2.3 s (+ process run time). */
	assert_true(info.starts >= 4);
	assert_true(info.starts <= 7);
	assert_int_equal(info.last_status, 1 << 8);
	assert_int_equal(info.restart_delay_ms, 800);
	assert_true(info.state == SUP_ST_FAILED ||
	    info.state == SUP_ST_RUNNING);
	assert_true(info.failures >= 4);

	assert_int_equal(sup_unit_stop(unit, prog_done, &p, &err), 0);
	run_until(base, &p.done, 5000);
	assert_true(p.done);
	sup_unit_info(unit, &info);
	assert_int_equal(info.state, SUP_ST_DOWN);

	sup_shutdown(sup, flag_done, &stopped);
	assert_true(stopped);
	sup_free(sup);
	event_base_free(base);
}

/*
 * /bin/false with restart = on-failure and the default delays (100 ms,
 * doubling up to 30 s): starts at 0, 0.1, 0.3, 0.7 and 1.5 s, so 5 starts
 * in 3 s where one start per 100 ms would make 30.
 */
static void
restart_default_delays(void **state)
{
	static const char *const argv[] = { "/bin/false", NULL };
	struct event_base *base = event_base_new();
	struct sup *sup;
	struct sup_unit *unit;
	struct sup_policy pol;
	struct sup_unit_info info;
	struct prog p;
	struct nem_err err;

	(void)state;
	sup = sup_new(base, &err);
	assert_non_null(sup);
	prog_init(&p, argv);
	sup_policy_defaults(&pol);
	pol.restart = SUP_RESTART_ON_FAILURE;
	unit = sup_unit_add(sup, "false-default", &pol, &prog_ops, &p, &err);
	assert_non_null(unit);
	assert_int_equal(sup_unit_start(unit, &err), 0);

	run_until(base, NULL, 3000);
	sup_unit_info(unit, &info);
	assert_true(info.starts >= 4);
	assert_true(info.starts <= 6);
	assert_int_equal(info.state, SUP_ST_BACKOFF);
	assert_int_equal(info.restart_delay_ms, 1600);

	sup_shutdown(sup, NULL, NULL);
	sup_unit_info(unit, &info);
	assert_int_equal(info.state, SUP_ST_DOWN);
	sup_free(sup);
	event_base_free(base);
}

/* With every delay at its largest accepted value, one start happens. */
static void
restart_with_largest_delays(void **state)
{
	static const char *const argv[] = { "/bin/false", NULL };
	struct event_base *base = event_base_new();
	struct sup *sup;
	struct sup_unit *unit;
	struct sup_policy pol;
	struct sup_unit_info info;
	struct prog p;
	struct nem_err err;

	(void)state;
	sup = sup_new(base, &err);
	assert_non_null(sup);
	prog_init(&p, argv);
	pol.restart = SUP_RESTART_ON_FAILURE;
	pol.restart_delay_ms = SUP_TIME_MAX_MS;
	pol.restart_delay_max_ms = SUP_TIME_MAX_MS;
	pol.restart_reset_ms = SUP_TIME_MAX_MS;
	pol.stop_timeout_ms = SUP_TIME_MAX_MS;
	unit = sup_unit_add(sup, "false-max", &pol, &prog_ops, &p, &err);
	assert_non_null(unit);
	assert_int_equal(sup_unit_start(unit, &err), 0);

	run_until(base, NULL, 1500);
	sup_unit_info(unit, &info);
	assert_int_equal(info.starts, 1);
	assert_int_equal(p.exits, 1);
	assert_int_equal(info.state, SUP_ST_BACKOFF);
	assert_int_equal(info.restart_delay_ms, SUP_TIME_MAX_MS);

	/* Starting by hand skips the delay; the next one stays at the cap. */
	assert_int_equal(sup_unit_start(unit, &err), 0);
	run_until(base, NULL, 500);
	sup_unit_info(unit, &info);
	assert_int_equal(info.starts, 2);
	assert_int_equal(info.state, SUP_ST_FAILED);
	assert_int_equal(info.restart_delay_ms, SUP_TIME_MAX_MS);

	sup_shutdown(sup, NULL, NULL);
	sup_unit_info(unit, &info);
	assert_int_equal(info.state, SUP_ST_DOWN);
	sup_free(sup);
	event_base_free(base);
}

/*
 * The backoff resets only after restart_reset of uptime: a program that
 * runs 0.6 s with restart_reset 0.5 s always restarts after the first
 * delay, one that runs 0.2 s backs off.
 */
static void
restart_reset_after_uptime(void **state)
{
	static const char *const long_argv[] = { "/bin/busybox", "sh", "-c",
		"sleep 0.6; exit 3", NULL };
	static const char *const short_argv[] = { "/bin/busybox", "sh", "-c",
		"sleep 0.2; exit 3", NULL };
	struct event_base *base = event_base_new();
	struct sup *sup;
	struct sup_unit *lu, *su;
	struct sup_policy pol;
	struct sup_unit_info info;
	struct prog lp, sp;
	struct nem_err err;

	(void)state;
	sup = sup_new(base, &err);
	assert_non_null(sup);
	prog_init(&lp, long_argv);
	prog_init(&sp, short_argv);
	sup_policy_defaults(&pol);
	pol.restart = SUP_RESTART_ALWAYS;
	pol.restart_delay_ms = 100;
	pol.restart_delay_max_ms = 60000;
	pol.restart_reset_ms = 500;
	lu = sup_unit_add(sup, "long", &pol, &prog_ops, &lp, &err);
	su = sup_unit_add(sup, "short", &pol, &prog_ops, &sp, &err);
	assert_non_null(lu);
	assert_non_null(su);
	assert_int_equal(sup_unit_start(lu, &err), 0);
	assert_int_equal(sup_unit_start(su, &err), 0);

	run_until(base, NULL, 2600);
	sup_unit_info(lu, &info);
	assert_true(lp.exits >= 3);
	assert_int_equal(info.failures, 1);
	assert_int_equal(info.restart_delay_ms, 100);
	assert_int_equal(info.last_status, 3 << 8);

	sup_unit_info(su, &info);
	assert_true(sp.exits >= 4);
	assert_true(info.failures >= 4);
	assert_true(info.restart_delay_ms >= 800);

	sup_shutdown(sup, NULL, NULL);
	run_until(base, NULL, 100);
	while (sup_unit_info(lu, &info), info.state != SUP_ST_DOWN)
		run_until(base, NULL, 50);
	while (sup_unit_info(su, &info), info.state != SUP_ST_DOWN)
		run_until(base, NULL, 50);
	sup_free(sup);
	event_base_free(base);
}

/* A program that traps TERM and exits 0 after 2 s: stop takes ~2 s. */
static void
stop_waits_for_graceful_exit(void **state)
{
	static const char *const argv[] = { "/bin/busybox", "sh", "-c",
		"trap 'sleep 2; exit 0' TERM; echo up; "
		"while :; do sleep 0.05; done", NULL };
	struct event_base *base = event_base_new();
	struct sup *sup;
	struct sup_unit *unit;
	struct sup_policy pol;
	struct sup_unit_info info;
	struct prog p;
	struct nem_err err;
	int ready[2];
	char c;
	uint64_t t0;

	(void)state;
	sup = sup_new(base, &err);
	assert_non_null(sup);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	prog_init(&p, argv);
	p.stdio[1] = ready[1];
	sup_policy_defaults(&pol);
	pol.restart = SUP_RESTART_ALWAYS;
	pol.stop_timeout_ms = 5000;
	unit = sup_unit_add(sup, "trapper", &pol, &prog_ops, &p, &err);
	assert_non_null(unit);
	assert_int_equal(sup_unit_start(unit, &err), 0);
	close(ready[1]);
	/* Wait until the trap is installed. */
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);

	t0 = mono_ms();
	assert_int_equal(sup_unit_stop(unit, prog_done, &p, &err), 0);
	assert_int_equal(sup_unit_stop(unit, prog_done, &p, &err), -1);
	assert_int_equal(err.code, EALREADY);
	run_until(base, &p.done, 8000);
	assert_true(p.done);
	assert_int_equal(p.exits, 1);
	assert_true(WIFEXITED(p.last_status));
	assert_int_equal(WEXITSTATUS(p.last_status), 0);
	assert_true(p.done_ms - t0 >= 1900);
	assert_true(p.done_ms - t0 < 3500);
	sup_unit_info(unit, &info);
	assert_int_equal(info.state, SUP_ST_DOWN);
	assert_int_equal(info.starts, 1);

	sup_shutdown(sup, NULL, NULL);
	sup_free(sup);
	event_base_free(base);
}

/* A program that ignores TERM gets SIGKILL at the timeout, not before. */
static void
stop_kills_after_timeout(void **state)
{
	static const char *const argv[] = { "/bin/busybox", "sh", "-c",
		"trap '' TERM; echo up; while :; do sleep 0.05; done", NULL };
	struct event_base *base = event_base_new();
	struct sup *sup;
	struct sup_unit *unit;
	struct sup_policy pol;
	struct prog p;
	struct nem_err err;
	int ready[2];
	char c;
	uint64_t t0;

	(void)state;
	sup = sup_new(base, &err);
	assert_non_null(sup);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	prog_init(&p, argv);
	p.stdio[1] = ready[1];
	sup_policy_defaults(&pol);
	pol.stop_timeout_ms = 1500;
	unit = sup_unit_add(sup, "stubborn", &pol, &prog_ops, &p, &err);
	assert_non_null(unit);
	assert_int_equal(sup_unit_start(unit, &err), 0);
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);

	t0 = mono_ms();
	assert_int_equal(sup_unit_stop(unit, prog_done, &p, &err), 0);
	run_until(base, &p.done, 6000);
	assert_true(p.done);
	assert_true(WIFSIGNALED(p.last_status));
	assert_int_equal(WTERMSIG(p.last_status), SIGKILL);
	assert_true(p.done_ms - t0 >= 1500);
	assert_true(p.done_ms - t0 < 2500);

	sup_shutdown(sup, NULL, NULL);
	sup_free(sup);
	event_base_free(base);
}

/*
 * With a stop callback, SIGTERM comes only after stop_timeout and SIGKILL
 * after another one.
 */
static int
stop_request_ignored(void *arg, pid_t pid)
{
	int *calls = arg;

	(*calls)++;
	return 0;
}

static pid_t
stubborn_start(void *arg, struct nem_err *err)
{
	static const char *const argv[] = { "/bin/busybox", "sh", "-c",
		"trap '' TERM; while :; do sleep 0.05; done", NULL };
	struct sup_exec spec = {
		.argv = argv,
		.stdio = { -1, -1, -1 },
		.channel = -1,
	};

	return sup_spawn_exec(&spec, err);
}

static void
stop_callback_then_term_then_kill(void **state)
{
	static const struct sup_unit_ops ops = {
		.start = stubborn_start,
		.stop = stop_request_ignored,
	};
	struct event_base *base = event_base_new();
	struct sup *sup;
	struct sup_unit *unit;
	struct sup_policy pol;
	struct sup_unit_info info;
	struct nem_err err;
	bool done = false;
	int calls = 0;
	uint64_t t0;

	(void)state;
	sup = sup_new(base, &err);
	assert_non_null(sup);
	sup_policy_defaults(&pol);
	pol.stop_timeout_ms = 700;
	unit = sup_unit_add(sup, "nem-stop", &pol, &ops, &calls, &err);
	assert_non_null(unit);
	assert_int_equal(sup_unit_start(unit, &err), 0);
	run_until(base, NULL, 200);

	t0 = mono_ms();
	sup_shutdown(sup, flag_done, &done);
	assert_int_equal(calls, 1);
	sup_unit_info(unit, &info);
	assert_int_equal(info.state, SUP_ST_STOPPING);
	run_until(base, NULL, 900);
	sup_unit_info(unit, &info);
	assert_int_equal(info.state, SUP_ST_TERMINATING);
	run_until(base, &done, 3000);
	sup_unit_info(unit, &info);
	assert_int_equal(info.state, SUP_ST_DOWN);
	assert_true(WIFSIGNALED(info.last_status));
	assert_int_equal(WTERMSIG(info.last_status), SIGKILL);
	assert_true(mono_ms() - t0 >= 1400);

	/* No start after shutdown. */
	assert_int_equal(sup_unit_start(unit, &err), -1);
	assert_int_equal(err.code, ECANCELED);
	sup_free(sup);
	event_base_free(base);
}

/* Shutdown stops units in reverse order, one after the other. */
static int order_log[8];
static int order_len;

static void
order_exited(void *arg, pid_t pid, int status)
{
	if (order_len < 8)
		order_log[order_len++] = *(int *)arg;
}

static pid_t
sleeper_start(void *arg, struct nem_err *err)
{
	static const char *const argv[] = { "/bin/busybox", "sleep", "30",
		NULL };
	struct sup_exec spec = {
		.argv = argv,
		.stdio = { -1, -1, -1 },
		.channel = -1,
	};

	return sup_spawn_exec(&spec, err);
}

static void
shutdown_in_reverse_order(void **state)
{
	static const struct sup_unit_ops ops = {
		.start = sleeper_start,
		.exited = order_exited,
	};
	static int ids[3] = { 1, 2, 3 };
	struct event_base *base = event_base_new();
	struct sup *sup;
	struct sup_unit *units[3];
	struct sup_policy pol;
	struct nem_err err;
	bool done = false;

	(void)state;
	order_len = 0;
	sup = sup_new(base, &err);
	assert_non_null(sup);
	sup_policy_defaults(&pol);
	pol.restart = SUP_RESTART_ALWAYS;
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "unit%d", i + 1);
		units[i] = sup_unit_add(sup, name, &pol, &ops, &ids[i], &err);
		assert_non_null(units[i]);
		assert_int_equal(sup_unit_start(units[i], &err), 0);
	}
	sup_shutdown(sup, flag_done, &done);
	run_until(base, &done, 5000);
	assert_true(done);
	assert_int_equal(order_len, 3);
	assert_int_equal(order_log[0], 3);
	assert_int_equal(order_log[1], 2);
	assert_int_equal(order_log[2], 1);
	assert_null(sup_unit_add(sup, "late", &pol, &ops, &ids[0], &err));
	assert_int_equal(err.code, ECANCELED);
	sup_free(sup);
	event_base_free(base);
}

/* The fork/exec helper: fds 0-3, nothing else, and a clean environment. */
static void
spawn_sets_fds_and_env(void **state)
{
	static const char *const argv[] = { "/bin/busybox", "sh", "-c",
		"ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; env | sort; "
		"echo chan >&3", NULL };
	static const char *const env[] = { "A=1", "PATH=/bin", "A=2", NULL };
	struct sup_exec spec = { .argv = argv, .env = env };
	struct nem_err err;
	int out[2], chan[2], leak;
	char buf[4096];
	ssize_t n, len = 0;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(chan, O_CLOEXEC), 0);
	/* A descriptor without close-on-exec must not leak either. */
	leak = open("/dev/null", O_RDONLY);
	assert_true(leak >= 0);
	spec.stdio[0] = -1;
	spec.stdio[1] = out[1];
	spec.stdio[2] = out[1];
	spec.channel = chan[1];
	setenv("NEM_TEST_SECRET", "x", 1);
	pid = sup_spawn_exec(&spec, &err);
	assert_true(pid > 0);
	close(out[1]);
	close(chan[1]);
	close(leak);
	while ((n = read(out[0], buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += n;
	buf[len] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);

	/* ls itself opens one directory descriptor, numbered 4 or above. */
	assert_true(strncmp(buf, "0 1 2 3 ", 8) == 0);
	assert_null(strstr(buf, "0 1 2 3 4 5"));
	assert_non_null(strstr(buf, "\nA=2\n"));
	assert_null(strstr(buf, "A=1"));
	assert_non_null(strstr(buf, "\nPATH=/bin\n"));
	assert_null(strstr(buf, "NEM_TEST_SECRET"));
	n = read(chan[0], buf, sizeof(buf));
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "chan\n", 5);
	close(out[0]);
	close(chan[0]);
	unsetenv("NEM_TEST_SECRET");
}

static void
spawn_reports_exec_error(void **state)
{
	static const char *const missing[] = { "/nonexistent/nem-prog", NULL };
	static const char *const relative[] = { "busybox", NULL };
	struct sup_exec spec = { .stdio = { -1, -1, -1 }, .channel = -1 };
	struct nem_err err;

	(void)state;
	spec.argv = missing;
	assert_int_equal(sup_spawn_exec(&spec, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "cannot run /nonexistent/nem-prog"));
	/* The failed child was reaped: no child is left. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);

	spec.argv = relative;
	assert_int_equal(sup_spawn_exec(&spec, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_non_null(strstr(err.msg, "not an absolute path"));
}

/* A start failure is retried with backoff like an exit. */
static pid_t
failing_start(void *arg, struct nem_err *err)
{
	int *calls = arg;

	(*calls)++;
	return nem_err_set(err, ENOENT, "image base not found");
}

static void
start_failure_backs_off(void **state)
{
	static const struct sup_unit_ops ops = { .start = failing_start };
	struct event_base *base = event_base_new();
	struct sup *sup;
	struct sup_unit *unit;
	struct sup_policy pol;
	struct sup_unit_info info;
	struct nem_err err;
	int calls = 0;

	(void)state;
	sup = sup_new(base, &err);
	assert_non_null(sup);
	sup_policy_defaults(&pol);
	pol.restart = SUP_RESTART_ALWAYS;
	pol.restart_delay_max_ms = 400;
	unit = sup_unit_add(sup, "broken", &pol, &ops, &calls, &err);
	assert_int_equal(sup_unit_start(unit, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "broken: image base not found"));
	run_until(base, NULL, 1600);
	/* 0, 0.1, 0.3, 0.7, 1.1, 1.5 s */
	assert_true(calls >= 5 && calls <= 7);
	sup_unit_info(unit, &info);
	assert_int_equal(info.state, SUP_ST_FAILED);
	assert_int_equal(info.last_status, -1);
	assert_int_equal(info.starts, 0);

	assert_int_equal(sup_unit_stop(unit, NULL, NULL, &err), 0);
	sup_unit_info(unit, &info);
	assert_int_equal(info.state, SUP_ST_DOWN);
	assert_int_equal(sup_unit_remove(unit, &err), 0);
	sup_shutdown(sup, NULL, NULL);
	sup_free(sup);
	event_base_free(base);
}

/* Calls from the exited callback into its own unit are rejected. */
struct reentry {
	struct sup_unit *unit;
	int stop_rc, stop_code, remove_rc, start_rc;
	bool called;
};

static pid_t
true_start(void *arg, struct nem_err *err)
{
	static const char *const argv[] = { "/bin/true", NULL };
	struct sup_exec spec = {
		.argv = argv,
		.stdio = { -1, -1, -1 },
		.channel = -1,
	};

	return sup_spawn_exec(&spec, err);
}

static void
reentry_exited(void *arg, pid_t pid, int status)
{
	struct reentry *r = arg;
	struct nem_err err;

	r->called = true;
	r->stop_rc = sup_unit_stop(r->unit, NULL, NULL, &err);
	r->stop_code = err.code;
	r->remove_rc = sup_unit_remove(r->unit, &err);
	r->start_rc = sup_unit_start(r->unit, &err);
}

static void
exited_callback_cannot_reenter(void **state)
{
	static const struct sup_unit_ops ops = {
		.start = true_start,
		.exited = reentry_exited,
	};
	struct event_base *base = event_base_new();
	struct reentry r = { 0 };
	struct sup_unit_info info;
	struct sup_policy pol;
	struct nem_err err;
	struct sup *sup;

	(void)state;
	sup = sup_new(base, &err);
	assert_non_null(sup);
	sup_policy_defaults(&pol);
	r.unit = sup_unit_add(sup, "reentry", &pol, &ops, &r, &err);
	assert_non_null(r.unit);
	assert_int_equal(sup_unit_start(r.unit, &err), 0);
	run_until(base, &r.called, 3000);
	assert_true(r.called);
	assert_int_equal(r.stop_rc, -1);
	assert_int_equal(r.stop_code, EBUSY);
	assert_int_equal(r.remove_rc, -1);
	assert_int_equal(r.start_rc, -1);
	sup_unit_info(r.unit, &info);
	assert_int_equal(info.state, SUP_ST_DOWN);
	assert_int_equal(info.last_status, 0);

	sup_shutdown(sup, NULL, NULL);
	sup_free(sup);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backoff_doubles_to_cap),
		cmocka_unit_test(backoff_never_wraps),
		cmocka_unit_test(policy_check_limits),
		cmocka_unit_test(spawn_sets_fds_and_env),
		cmocka_unit_test(spawn_reports_exec_error),
		cmocka_unit_test(start_failure_backs_off),
		cmocka_unit_test(restart_default_delays),
		cmocka_unit_test(restart_backs_off_to_cap),
		cmocka_unit_test(restart_with_largest_delays),
		cmocka_unit_test(restart_reset_after_uptime),
		cmocka_unit_test(stop_waits_for_graceful_exit),
		cmocka_unit_test(stop_kills_after_timeout),
		cmocka_unit_test(stop_callback_then_term_then_kill),
		cmocka_unit_test(shutdown_in_reverse_order),
		cmocka_unit_test(exited_callback_cannot_reenter),
	};

	log_init(LOG_DEST_STDERR, getenv("NEM_TEST_DEBUG") != NULL ?
	    LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	log_role("test_supervise");
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
