/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The supervisor as PID 1 of a new PID namespace under a burst of exits.
 * 200 supervised programs block on one pipe and exit in the same instant
 * when it is closed (exit 0, 1, 126, 127 or killed by signal 9), so their
 * SIGCHLDs coalesce. Meanwhile another program double-forks 1000
 * short-lived grandchildren that are re-parented to PID 1. Every
 * supervised exit must be seen within a second with its exact status and
 * restart policy, and two seconds later no zombie may have PID 1 as
 * parent.
 *
 * Environment: NEM_SUP_REPEAT sets the number of rounds (default 5; 100
 * for a long run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/log.h>

#include "supervise.h"

#define BURST 200
#define VARIANTS 5
#define DEFAULT_ROUNDS 5

/* Fails the round inside the PID namespace, where cmocka cannot run. */
#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "sup_sigchld: %s:%d: ",		\
			    __FILE__, __LINE__);			\
			fprintf(stderr, __VA_ARGS__);			\
			fputc('\n', stderr);				\
			return 1;					\
		}							\
	} while (0)

/* Scripts of the burst programs, by variant; see status_matches. */
static const char *const burst_scripts[VARIANTS] = {
	"read x; exit 0",
	"read x; exit 1",
	"read x; exit 126",
	"read x; exit 127",
	"read x; kill -9 $$",
};

static const char *const orphan_script =
	"i=0; while [ $i -lt 1000 ]; do (/bin/busybox true &); "
	"i=$((i+1)); done";

struct burst_unit {
	struct sup_unit *unit;
	int variant;
	int stdin_fd;		/* read end of the shared pipe */
	int exits;
	int status;
	uint64_t exit_ms;
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static pid_t
burst_start(void *arg, struct nem_err *err)
{
	struct burst_unit *b = arg;
	const char *argv[] = { "/bin/busybox", "sh", "-c",
		burst_scripts[b->variant], NULL };
	struct sup_exec spec = {
		.argv = argv,
		.stdio = { b->stdin_fd, -1, STDERR_FILENO },
		.channel = -1,
	};

	return sup_spawn_exec(&spec, err);
}

static void
burst_exited(void *arg, pid_t pid, int status)
{
	struct burst_unit *b = arg;

	b->exits++;
	b->status = status;
	b->exit_ms = mono_ms();
}

static pid_t
orphan_start(void *arg, struct nem_err *err)
{
	const char *argv[] = { "/bin/busybox", "sh", "-c", orphan_script,
		NULL };
	struct sup_exec spec = {
		.argv = argv,
		.stdio = { -1, -1, STDERR_FILENO },
		.channel = -1,
	};

	return sup_spawn_exec(&spec, err);
}

static void
orphan_exited(void *arg, pid_t pid, int status)
{
	*(int *)arg = status;
}

static void
run_for(struct event_base *base, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
		(suseconds_t)((ms % 1000) * 1000) };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Counts zombies whose parent is PID 1, from this namespace's /proc. */
static int
count_zombies_of_init(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int zombies = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char path[300], buf[512], *paren;
		int ppid = 0;
		char state = '?';
		FILE *fp;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		fp = fopen(path, "re");
		if (fp == NULL)
			continue;
		if (fgets(buf, sizeof(buf), fp) != NULL &&
		    (paren = strrchr(buf, ')')) != NULL &&
		    sscanf(paren + 1, " %c %d", &state, &ppid) == 2 &&
		    state == 'Z' && ppid == 1)
			zombies++;
		fclose(fp);
	}
	closedir(d);
	return zombies;
}

static bool
status_matches(int variant, int status)
{
	static const int codes[VARIANTS - 1] = { 0, 1, 126, 127 };

	if (variant == VARIANTS - 1)
		return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	return WIFEXITED(status) && WEXITSTATUS(status) == codes[variant];
}

static int
run_round(int round, struct burst_unit *units)
{
	static const struct sup_unit_ops burst_ops = {
		.start = burst_start,
		.exited = burst_exited,
	};
	static const struct sup_unit_ops orphan_ops = {
		.start = orphan_start,
		.exited = orphan_exited,
	};
	struct event_base *base = event_base_new();
	struct sup_policy policy;
	struct sup_unit *orphans;
	struct nem_err err;
	struct sup *sup;
	siginfo_t si;
	int block[2], orphan_status = -1, zombies, seen;
	uint64_t t0, slowest = 0;

	CHECK(base != NULL, "event_base_new failed");
	sup = sup_new(base, &err);
	CHECK(sup != NULL, "%s", err.msg);
	CHECK(pipe2(block, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));

	/* Long delays: no restart may happen while the round is checked. */
	sup_policy_defaults(&policy);
	policy.restart = SUP_RESTART_ON_FAILURE;
	policy.restart_delay_ms = 60000;
	policy.restart_delay_max_ms = 60000;

	orphans = sup_unit_add(sup, "orphans", &policy, &orphan_ops,
	    &orphan_status, &err);
	CHECK(orphans != NULL, "%s", err.msg);
	CHECK(sup_unit_start(orphans, &err) == 0, "%s", err.msg);

	for (int i = 0; i < BURST; i++) {
		struct burst_unit *b = &units[i];
		char name[32];

		memset(b, 0, sizeof(*b));
		b->variant = (i + round) % VARIANTS;
		b->stdin_fd = block[0];
		snprintf(name, sizeof(name), "burst-%d", i);
		b->unit = sup_unit_add(sup, name, &policy, &burst_ops, b, &err);
		CHECK(b->unit != NULL, "%s", err.msg);
		CHECK(sup_unit_start(b->unit, &err) == 0, "%s", err.msg);
	}
	close(block[0]);

	/* All 200 exit at once when the last write end goes away. */
	t0 = mono_ms();
	close(block[1]);
	for (seen = 0; seen < BURST && mono_ms() - t0 < 3000;) {
		run_for(base, 20);
		seen = 0;
		for (int i = 0; i < BURST; i++)
			seen += units[i].exits;
	}
	CHECK(seen == BURST, "round %d: %d of %d exits seen after 3 s", round,
	    seen, BURST);

	for (int i = 0; i < BURST; i++) {
		struct burst_unit *b = &units[i];
		struct sup_unit_info info;
		uint64_t took = b->exit_ms - t0;

		if (took > slowest)
			slowest = took;
		CHECK(b->exits == 1, "burst-%d: %d exits", i, b->exits);
		CHECK(took <= 1000, "burst-%d: exit seen after %llu ms", i,
		    (unsigned long long)took);
		CHECK(status_matches(b->variant, b->status),
		    "burst-%d (variant %d): wait status 0x%x", i, b->variant,
		    (unsigned)b->status);
		sup_unit_info(b->unit, &info);
		CHECK(info.last_status == b->status, "burst-%d: last_status",
		    i);
		if (b->variant == 0)
			CHECK(info.state == SUP_ST_DOWN, "burst-%d: state %s "
			    "after exit 0", i, sup_state_name(info.state));
		else
			CHECK(info.state == SUP_ST_BACKOFF &&
			    info.restart_delay_ms == 60000, "burst-%d: state "
			    "%s, delay %llu after a failure", i,
			    sup_state_name(info.state),
			    (unsigned long long)info.restart_delay_ms);
	}

	/* The orphan maker ends; its grandchildren are reaped as ours. */
	for (uint64_t start = mono_ms(); orphan_status == -1 &&
	    mono_ms() - start < 20000;)
		run_for(base, 50);
	CHECK(orphan_status == 0, "orphans: wait status 0x%x",
	    (unsigned)orphan_status);
	run_for(base, 2000);
	memset(&si, 0, sizeof(si));
	CHECK(waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 ||
	    si.si_pid == 0, "a zombie child is left: pid %d", (int)si.si_pid);
	zombies = count_zombies_of_init();
	CHECK(zombies == 0, "%d zombies have PID 1 as parent", zombies);

	fprintf(stderr, "sup_sigchld: round %d: %d exits, slowest seen after "
	    "%llu ms, no zombie\n", round, BURST,
	    (unsigned long long)slowest);

	sup_shutdown(sup, NULL, NULL);
	sup_free(sup);
	event_base_free(base);
	return 0;
}

/* Runs every round as PID 1 of this namespace, with its own /proc. */
static int
pid1_main(int rounds)
{
	struct burst_unit *units = calloc(BURST, sizeof(*units));

	if (getpid() != 1 || units == NULL)
		return 2;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    NULL) == -1) {
		fprintf(stderr, "sup_sigchld: cannot mount /proc: %s\n",
		    strerror(errno));
		return 3;
	}
	for (int round = 0; round < rounds; round++)
		if (run_round(round, units) != 0)
			return 1;
	free(units);
	return 0;
}

static void
coalesced_exits_as_pid1(void **state)
{
	const char *env = getenv("NEM_SUP_REPEAT");
	int rounds = env != NULL ? atoi(env) : DEFAULT_ROUNDS;
	int status = -1;
	pid_t mid;
	int pipefd[2];

	(void)state;
	if (rounds < 1)
		rounds = DEFAULT_ROUNDS;
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		pid_t init;
		int st = -1;

		close(pipefd[0]);
		if (unshare(CLONE_NEWPID | CLONE_NEWNS) == -1)
			_exit(1);
		init = fork();
		if (init == 0)
			_exit(pid1_main(rounds));
		while (init > 0 && waitpid(init, &st, 0) == -1 &&
		    errno == EINTR)
			;
		(void)!write(pipefd[1], &st, sizeof(st));
		_exit(0);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &status, sizeof(status)),
	    sizeof(status));
	close(pipefd[0]);
	assert_int_equal(waitpid(mid, NULL, 0), mid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(coalesced_exits_as_pid1),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "sup_sigchld: needs root for a PID namespace; "
		    "skipped\n");
		return 77;
	}
	log_init(LOG_DEST_STDERR, LOG_LEVEL_ERROR);
	log_role("sup_sigchld");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
