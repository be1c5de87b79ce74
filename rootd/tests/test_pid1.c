/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Tests of the PID 1 duties, as root. Everything that changes global state
 * runs in a child inside new namespaces: the early mounts in a private
 * mount namespace on a mkdtemp folder, the host name in a new UTS
 * namespace, and pid1_finish as PID 1 of a new PID namespace, whose
 * kill(-1) and reboot(2) reach that namespace only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include <nem/log.h>

#include "pid1.h"

/*
 * Runs fn as PID 1 of a new PID namespace and returns its wait status as
 * its parent in that namespace saw it, or -1 when the setup failed.
 */
static int
run_as_pid1(int (*fn)(void *), void *arg)
{
	int pipefd[2], status = -1;
	pid_t mid;

	if (pipe2(pipefd, O_CLOEXEC) == -1)
		return -1;
	mid = fork();
	if (mid == -1)
		return -1;
	if (mid == 0) {
		pid_t init;
		int st = -1;

		close(pipefd[0]);
		if (unshare(CLONE_NEWPID) == -1)
			_exit(1);
		init = fork();
		if (init == -1)
			_exit(1);
		if (init == 0)
			_exit(fn(arg));
		while (waitpid(init, &st, 0) == -1 && errno == EINTR)
			;
		(void)!write(pipefd[1], &st, sizeof(st));
		_exit(0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &status, sizeof(status)) != sizeof(status))
		status = -1;
	close(pipefd[0]);
	waitpid(mid, NULL, 0);
	return status;
}

static void
power_signals_map_to_actions(void **state)
{
	enum pid1_action action;

	(void)state;
	assert_int_equal(pid1_action_from_signal(SIGTERM, &action), 0);
	assert_int_equal(action, PID1_POWEROFF);
	assert_int_equal(pid1_action_from_signal(SIGINT, &action), 0);
	assert_int_equal(action, PID1_REBOOT);
	assert_int_equal(pid1_action_from_signal(SIGUSR1, &action), 0);
	assert_int_equal(action, PID1_HALT);
	assert_int_equal(pid1_action_from_signal(SIGHUP, &action), -1);
	assert_string_equal(pid1_action_name(PID1_HALT), "halt");
	assert_false(pid1_is_init());
}

static long
fs_magic(const char *path)
{
	struct statfs sfs;

	if (statfs(path, &sfs) == -1)
		return -1;
	return (long)sfs.f_type;
}

static int
count_mounts(void)
{
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	char line[1024];
	int n = 0;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		n++;
	fclose(fp);
	return n;
}

/* In a private mount namespace: mount, check, mount again (no-op). */
static int
early_mounts_child(const char *root)
{
	struct nem_err err;
	char path[256];
	int before;

	if (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		return 10;
	if (pid1_mount_early(root, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		return 11;
	}
	snprintf(path, sizeof(path), "%s/proc", root);
	if (fs_magic(path) != PROC_SUPER_MAGIC)
		return 12;
	snprintf(path, sizeof(path), "%s/sys", root);
	if (fs_magic(path) != SYSFS_MAGIC)
		return 13;
	snprintf(path, sizeof(path), "%s/dev/null", root);
	if (access(path, F_OK) == -1)
		return 14;
	snprintf(path, sizeof(path), "%s/run", root);
	if (fs_magic(path) != TMPFS_MAGIC)
		return 15;

	before = count_mounts();
	if (pid1_mount_early(root, &err) == -1)
		return 16;
	if (count_mounts() != before)
		return 17;
	return 0;
}

static void
early_mounts_only_once(void **state)
{
	char root[] = "/tmp/nem-pid1-XXXXXX";
	const char *const dirs[] = { "proc", "sys", "dev", "run" };
	int status;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(root));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(early_mounts_child(root));
	assert_int_equal(waitpid(pid, &status, 0), pid);

	/* The namespace is gone with the child, and its mounts with it. */
	for (size_t i = 0; i < 4; i++) {
		char path[64];

		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		rmdir(path);
	}
	assert_int_equal(rmdir(root), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
hostname_set_in_new_uts(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct nem_err err;
		char name[128];
		char long_name[300];

		if (unshare(CLONE_NEWUTS) == -1)
			_exit(10);
		if (pid1_set_hostname("nem-test-host", &err) == -1)
			_exit(11);
		if (gethostname(name, sizeof(name)) == -1 ||
		    strcmp(name, "nem-test-host") != 0)
			_exit(12);
		memset(long_name, 'h', sizeof(long_name) - 1);
		long_name[sizeof(long_name) - 1] = '\0';
		if (pid1_set_hostname(long_name, &err) != -1 ||
		    err.code != EINVAL)
			_exit(13);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* PID 1 with a child that ignores SIGTERM, then pid1_finish(action). */
static int
finish_child(void *arg)
{
	enum pid1_action action = *(enum pid1_action *)arg;
	int ready[2];
	pid_t stubborn;
	char c;

	if (getpid() != 1 || pipe(ready) == -1)
		return 20;
	stubborn = fork();
	if (stubborn == 0) {
		signal(SIGTERM, SIG_IGN);
		(void)!write(ready[1], "r", 1);
		for (;;)
			pause();
	}
	if (read(ready[0], &c, 1) != 1)
		return 22;
	pid1_finish(action);
	return 21;	/* NOTREACHED */
}

static void
finish_ends_pid_namespace(void **state)
{
	/* Kernel rule: reboot(2) in a child PID namespace kills its init
	 * with SIGHUP for a restart and SIGINT for power-off and halt. */
	static const struct {
		enum pid1_action action;
		int signal;
	} cases[] = {
		{ PID1_POWEROFF, SIGINT },
		{ PID1_REBOOT, SIGHUP },
		{ PID1_HALT, SIGINT },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum pid1_action action = cases[i].action;
		struct timespec t0, t1;
		long ms;
		int status;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		status = run_as_pid1(finish_child, &action);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		assert_int_not_equal(status, -1);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), cases[i].signal);
		/* The child that ignores SIGTERM got SIGKILL after the grace. */
		assert_true(ms >= PID1_TERM_GRACE_MS);
		assert_true(ms < PID1_TERM_GRACE_MS + 3000);
	}
}

/* pid1_finish in a process that is not PID 1 does nothing. */
static int
finish_not_init_child(void *arg)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		pid1_finish(PID1_POWEROFF);
		_exit(42);
	}
	if (waitpid(pid, &status, 0) != pid)
		return 30;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 42)
		return 31;
	return 0;
}

static void
finish_ignored_when_not_init(void **state)
{
	int status;

	(void)state;
	status = run_as_pid1(finish_not_init_child, NULL);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(power_signals_map_to_actions),
		cmocka_unit_test(early_mounts_only_once),
		cmocka_unit_test(hostname_set_in_new_uts),
		cmocka_unit_test(finish_ends_pid_namespace),
		cmocka_unit_test(finish_ignored_when_not_init),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_pid1: needs root for namespaces; "
		    "skipped\n");
		return 77;
	}
	log_init(LOG_DEST_STDERR, LOG_LEVEL_DEBUG);
	log_role("test_pid1");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
