/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Root integration test of repeated jail lifecycles: 100 rounds of building
 * a jail tree with every mount type, starting the probe in it, waiting for
 * it and tearing the tree down. Afterwards the test process has as many
 * descriptors as before, and no loop device or mount is left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "os_fixture.h"

#define CYCLES 100

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
hundred_cycles_leave_nothing(void **state)
{
	static const char *args[] = { "exit", "0", NULL };
	struct fixture *f = *state;
	char out[PATH_MAX];
	int fds_before, sv[2];
	size_t loops_before, mounts_before;
	double start, phase[3] = { 0, 0, 0 };

	snprintf(out, sizeof(out), "%s/cycle.out", f->dir);
	fds_before = fixture_count_fds();
	loops_before = fixture_count_loops(f->dir);
	mounts_before = fixture_count_mounts(f->dir);
	assert_int_equal(loops_before, 0);
	assert_int_equal(mounts_before, 0);

	start = now_ms();
	for (int i = 0; i < CYCLES; i++) {
		struct jail_tree t;
		struct nem_err err;
		double t0 = now_ms(), t1, t2;
		int status;

		assert_int_equal(socketpair(AF_UNIX,
		    SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		if (fixture_build_jail(f, "cycle", TREE_ALL, &t, &err) == -1)
			fail_msg("round %d: %s", i, err.msg);
		t1 = now_ms();
		status = fixture_probe(f, &t, args, out, sv[1], "/", &err);
		t2 = now_ms();
		if (status == -1)
			fail_msg("round %d: %s", i, err.msg);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		close(sv[0]);
		close(sv[1]);
		fixture_free_jail(f, &t);
		phase[0] += t1 - t0;
		phase[1] += t2 - t1;
		phase[2] += now_ms() - t2;
	}
	print_message("%d cycles in %.0f ms: setup %.0f, start to exit %.0f, "
	    "teardown %.0f\n", CYCLES, now_ms() - start, phase[0], phase[1],
	    phase[2]);

	assert_int_equal(fixture_count_fds(), fds_before);
	assert_int_equal(fixture_count_loops(f->dir), 0);
	assert_int_equal(fixture_count_mounts(f->dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(hundred_cycles_leave_nothing,
		    fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
