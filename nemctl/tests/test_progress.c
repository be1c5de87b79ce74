/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the progress display of "nemctl image push": the line
 * format (bar, percentage, rate, time left) and the final line written
 * when standard error is not a terminal.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nemctl.h"

static void
test_progress_half(void **state)
{
	char buf[256];

	/* 50 MiB of 100 MiB in 5 s: 10 MiB/s, 5 s left. */
	progress_format(buf, sizeof(buf), 50u << 20, 100u << 20, 5000, 10);
	assert_string_equal(buf, "[#####.....]  50%  10.0 MiB/s  0:05 left");
}

static void
test_progress_done_and_empty(void **state)
{
	char buf[256];

	progress_format(buf, sizeof(buf), 100, 100, 0, 4);
	assert_string_equal(buf, "[####] 100%  0 B/s  0:00 left");
	progress_format(buf, sizeof(buf), 0, 100, 0, 4);
	assert_string_equal(buf, "[....]   0%  0 B/s  -:-- left");
	/* More than the total (a file that grew) stays at 100%. */
	progress_format(buf, sizeof(buf), 200, 100, 1000, 4);
	assert_string_equal(buf, "[####] 100%  100 B/s  0:00 left");
}

static void
test_progress_long_eta(void **state)
{
	char buf[256];

	/* 1 KiB/s with 7200 KiB to go: two hours. */
	progress_format(buf, sizeof(buf), 1024, 7201 * 1024, 1000, 2);
	assert_string_equal(buf, "[..]   0%  1.0 KiB/s  2:00:00 left");
}

static void
test_progress_unknown_total(void **state)
{
	char buf[256];

	progress_format(buf, sizeof(buf), 3 << 20, 0, 1000, 10);
	assert_string_equal(buf, "3.0 MiB  3.0 MiB/s");
}

static void
test_progress_plain_final_line(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);
	struct nem_err err;
	struct progress *p;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_non_null(fp);
	assert_true(fd >= 0);
	p = progress_start(fd, 2048, fp, &err);
	assert_non_null(p);
	progress_report(p, 1024);
	progress_end(p, true);
	assert_int_equal(fclose(fp), 0);
	close(fd);
	assert_true(strncmp(text, "nemctl: sent 2.0 KiB in ", 24) == 0);
	assert_non_null(strstr(text, "/s)\n"));
	free(text);
}

static void
test_progress_failure_is_silent(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);
	struct nem_err err;
	struct progress *p;

	assert_non_null(fp);
	p = progress_start(-1, 10, fp, &err);
	assert_non_null(p);
	progress_end(p, false);
	progress_end(NULL, true);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(len, 0);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_progress_half),
		cmocka_unit_test(test_progress_done_and_empty),
		cmocka_unit_test(test_progress_long_eta),
		cmocka_unit_test(test_progress_unknown_total),
		cmocka_unit_test(test_progress_plain_final_line),
		cmocka_unit_test(test_progress_failure_is_silent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
