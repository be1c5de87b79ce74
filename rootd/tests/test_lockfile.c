/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Tests of the instance lock. A second holder on the same run directory is
 * rejected with the first holder's pid in the message, both from another
 * process and from another descriptor of the same process. The lock is
 * free again once released or once its holder has died.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lockfile.h"

struct fixture {
	char dir[64];
	char path[128];
	pid_t child;	/* a child still to end and reap, or 0 */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	strcpy(f->dir, "/tmp/nem-lockfile-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, LOCKFILE_NAME);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char decoy[160];

	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	unlink(f->path);
	snprintf(decoy, sizeof(decoy), "%s/decoy", f->dir);
	unlink(decoy);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
second_holder_names_pid(void **state)
{
	struct fixture *f = *state;
	struct nem_err err;
	char want[64];
	int fd, again;

	fd = lockfile_take(f->dir, &err);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	/* An OFD lock conflicts with another open of the same process. */
	again = lockfile_take(f->dir, &err);
	assert_int_equal(again, -1);
	assert_int_equal(err.code, EWOULDBLOCK);
	snprintf(want, sizeof(want), "another nem-rootd (pid %d) holds",
	    (int)getpid());
	assert_non_null(strstr(err.msg, want));
	assert_non_null(strstr(err.msg, f->path));
	assert_non_null(strstr(err.msg, "stop it first"));

	lockfile_release(fd);
	fd = lockfile_take(f->dir, &err);
	assert_true(fd >= 0);
	lockfile_release(fd);
}

static void
lock_held_by_child_process(void **state)
{
	struct fixture *f = *state;
	struct nem_err err;
	int sync[2], status, fd;
	char c, want[64];
	pid_t pid;

	assert_int_equal(pipe(sync), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int lfd = lockfile_take(f->dir, &err);

		close(sync[0]);
		(void)!write(sync[1], lfd >= 0 ? "y" : "n", 1);
		pause();
		_exit(0);
	}
	f->child = pid;
	close(sync[1]);
	assert_int_equal(read(sync[0], &c, 1), 1);
	close(sync[0]);
	assert_int_equal(c, 'y');

	assert_int_equal(lockfile_take(f->dir, &err), -1);
	snprintf(want, sizeof(want), "(pid %d)", (int)pid);
	assert_non_null(strstr(err.msg, want));

	/* The kernel drops the lock of a dead holder. */
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	f->child = 0;
	fd = lockfile_take(f->dir, &err);
	assert_true(fd >= 0);
	lockfile_release(fd);
}

static void
symlink_at_lock_path_rejected(void **state)
{
	struct fixture *f = *state;
	struct nem_err err;
	char decoy[160];
	struct stat st;
	int dfd;

	snprintf(decoy, sizeof(decoy), "%s/decoy", f->dir);
	dfd = open(decoy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(dfd >= 0);
	assert_int_equal(write(dfd, "decoy", 5), 5);
	close(dfd);
	assert_int_equal(symlink(decoy, f->path), 0);

	assert_int_equal(lockfile_take(f->dir, &err), -1);
	assert_int_equal(err.code, ELOOP);
	assert_int_equal(stat(decoy, &st), 0);
	assert_int_equal(st.st_size, 5);
}

static void
long_run_dir_rejected(void **state)
{
	char dir[PATH_MAX + 8];
	struct nem_err err;

	(void)state;
	memset(dir, 'a', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	assert_int_equal(lockfile_take(dir, &err), -1);
	assert_int_equal(err.code, ENAMETOOLONG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(second_holder_names_pid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(lock_held_by_child_process,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(symlink_at_lock_path_rejected,
		    setup, teardown),
		cmocka_unit_test(long_run_dir_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
