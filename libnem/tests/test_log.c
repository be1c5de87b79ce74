/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the log sink: one event is one line on stderr, with
 * control characters of the message replaced, and levels filter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <nem/log.h>

/* Runs fn with stderr sent to a temporary file; returns what it wrote. */
static char *
capture(void (*fn)(void))
{
	char path[] = "/tmp/test-log-XXXXXX", *text;
	int fd = mkstemp(path), saved;
	long len;
	FILE *f;

	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	fn();
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(fd);

	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	unlink(path);
	return text;
}

static void
log_forged_line(void)
{
	log_info("jail %s: skipped", "x\n2026-01-01T00:00:00.000Z nem: FORGED");
	log_info("nel%s ls%s end", "\xc2\x85", "\xe2\x80\xa8");
	log_debug("not shown at info");
}

static void
control_characters_replaced(void **state)
{
	char *out, *line2;

	(void)state;
	log_role("test");
	log_init(LOG_DEST_STDERR, LOG_LEVEL_INFO);
	out = capture(log_forged_line);
	assert_non_null(strstr(out, "jail x?2026-01-01T00:00:00.000Z nem: "
	    "FORGED: skipped\n"));
	line2 = strchr(out, '\n');
	assert_non_null(line2);
	assert_ptr_equal(strchr(line2 + 1, '\n'), strrchr(out, '\n'));
	assert_non_null(strstr(out, "nel?? ls??? end\n"));
	assert_null(strstr(out, "\xc2\x85"));
	assert_null(strstr(out, "not shown"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(control_characters_replaced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
