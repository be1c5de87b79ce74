/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the value rules used by configuration files: sizes,
 * durations and destination paths, including the overflow, sign and
 * fraction cases that a hand-written parser gets wrong first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include "path.h"
#include "units.h"

static int
size_of(const char *s, uint64_t *out, struct nem_err *err)
{
	return units_parse_size(s, strlen(s), out, err);
}

static int
duration_of(const char *s, uint64_t *out, struct nem_err *err)
{
	return units_parse_duration(s, strlen(s), out, err);
}

static void
size_accepts_suffixes(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} cases[] = {
		{ "1", 1 },
		{ "1048576", 1048576 },
		{ "512K", 512 * 1024 },
		{ "64M", 64ull << 20 },
		{ "1G", 1ull << 30 },
		{ "2T", 2ull << 40 },
		{ "16777215T", 16777215ull << 40 },
		{ "18446744073709551615", UINT64_MAX },
	};
	struct nem_err err;
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(size_of(cases[i].text, &v, &err), 0);
		assert_true(v == cases[i].bytes);
	}
}

static void
size_rejects_bad_values(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "0", "must be larger than zero" },
		{ "0M", "must be larger than zero" },
		{ "-1M", "negative values are not allowed" },
		{ "99999999999999999999M", "too large" },
		{ "18446744073709551616", "too large" },
		{ "16777216T", "too large" },
		{ "1.5G", "fractions are not allowed" },
		{ "1,5G", "fractions are not allowed" },
		{ "1.5G", "write \"1536M\" instead" },
		{ "1.5M", "write \"1536K\" instead" },
		{ "1,25M", "write \"1280K\" instead" },
		{ "0.5K", "write \"512\" instead" },
		{ "1.3M", "use a whole number of a smaller unit" },
		{ "1.5", "use a whole number of a smaller unit" },
		{ "1.5MB", "use a whole number of a smaller unit" },
		{ "64MB", "unknown suffix \"MB\"" },
		{ "64m", "unknown suffix \"m\"" },
		{ " 64M", "expected a digit" },
		{ "64M ", "unknown suffix" },
		{ "+1M", "expected a digit" },
		{ "0x10", "unknown suffix" },
		{ "", "empty" },
		{ "M", "expected a digit" },
	};
	struct nem_err err;
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(size_of(cases[i].text, &v, &err), -1);
		if (strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"",
			    cases[i].text, err.msg, cases[i].msg);
	}
}

static void
size_integer_rules(void **state)
{
	struct nem_err err;
	uint64_t v;

	(void)state;
	assert_int_equal(units_check_size_int(4096, &v, &err), 0);
	assert_true(v == 4096);
	assert_int_equal(units_check_size_int(INT64_MAX, &v, &err), 0);
	assert_int_equal(units_check_size_int(0, &v, &err), -1);
	assert_non_null(strstr(err.msg, "larger than zero"));
	assert_int_equal(units_check_size_int(-1, &v, &err), -1);
	assert_non_null(strstr(err.msg, "negative"));
	assert_int_equal(units_check_size_int(INT64_MIN, &v, &err), -1);
}

static void
duration_accepts_units(void **state)
{
	static const struct {
		const char *text;
		uint64_t ms;
	} cases[] = {
		{ "0ms", 0 },
		{ "500ms", 500 },
		{ "10s", 10000 },
		{ "2m", 120000 },
		{ "1h", 3600000 },
		{ "9223372036854775807ms", INT64_MAX },
	};
	struct nem_err err;
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(duration_of(cases[i].text, &v, &err), 0);
		assert_true(v == cases[i].ms);
	}
}

static void
duration_rejects_bad_values(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "1e400s", "unknown unit \"e400s\"" },
		{ "-1s", "negative values are not allowed" },
		{ "10", "missing unit" },
		{ "1.5s", "fractions are not allowed" },
		{ "1.5s", "write \"1500ms\" instead" },
		{ "2.5m", "write \"150s\" instead" },
		{ "0.25h", "write \"15m\" instead" },
		{ "1.0001s", "use a whole number of a smaller unit" },
		{ "1.5ms", "use a whole number of a smaller unit" },
		{ "10 s", "unknown unit" },
		{ "10S", "unknown unit" },
		{ "1d", "unknown unit" },
		{ "9223372036854775808ms", "too large" },
		{ "2562047788015216h", "too large" },
		{ "99999999999999999999999s", "too large" },
		{ "s", "expected a digit" },
		{ "", "empty" },
	};
	struct nem_err err;
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(duration_of(cases[i].text, &v, &err), -1);
		if (strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"",
			    cases[i].text, err.msg, cases[i].msg);
	}
}

static void
duration_format_round_trips(void **state)
{
	static const uint64_t values[] = { 0, 1, 100, 1000, 1500, 60000,
		90000, 3600000, 7200000, INT64_MAX };
	struct nem_err err;
	char buf[32];
	uint64_t v;

	(void)state;
	assert_string_equal(units_format_duration(100, buf, sizeof(buf)),
	    "100ms");
	assert_string_equal(units_format_duration(30000, buf, sizeof(buf)),
	    "30s");
	assert_string_equal(units_format_duration(3600000, buf, sizeof(buf)),
	    "1h");
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		units_format_duration(values[i], buf, sizeof(buf));
		assert_int_equal(duration_of(buf, &v, &err), 0);
		assert_true(v == values[i]);
	}
}

static void
preview_escapes_and_cuts(void **state)
{
	char buf[UNITS_PREVIEW_SIZE];
	char big[200];

	(void)state;
	assert_string_equal(units_preview("a\nb\"c", 5, buf), "a\\x0ab\\\"c");
	memset(big, 'x', sizeof(big));
	units_preview(big, sizeof(big), buf);
	assert_int_equal(strlen(buf), 43);
	assert_string_equal(buf + 40, "...");
	memset(big, '\x01', sizeof(big));
	units_preview(big, sizeof(big), buf);
	assert_true(strlen(buf) < UNITS_PREVIEW_SIZE);
}

static void
path_accepts_normalized(void **state)
{
	static const char *const good[] = { "/", "/a", "/srv/data",
		"/etc/resolv.conf", "/a/.hidden", "/a/..b", "/caf\xc3\xa9" };
	struct nem_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(path_check_abs("dest", good[i],
		    strlen(good[i]), &err), 0);
}

static void
path_rejects_unnormalized(void **state)
{
	static const struct {
		const char *path;
		const char *msg;
	} cases[] = {
		{ "", "empty" },
		{ "srv", "not an absolute path" },
		{ "//", "trailing '/'" },
		{ "/srv/", "trailing '/'" },
		{ "/srv//data", "empty component" },
		{ "/srv/./data", "\".\" component" },
		{ "/srv/../etc", "\"..\" component" },
		{ "/..", "\"..\" component" },
		{ "/.", "\".\" component" },
		{ "/a\nb", "control byte 0x0a" },
		{ "/a\tb", "control byte 0x09" },
		{ "/a\x7f", "control byte 0x7f" },
	};
	struct nem_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(path_check_abs("dest", cases[i].path,
		    strlen(cases[i].path), &err), -1);
		if (strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"",
			    cases[i].path, err.msg, cases[i].msg);
	}
	assert_int_equal(path_check_abs("dest", "/a\0b", 4, &err), -1);
	assert_non_null(strstr(err.msg, "0x00"));
}

static void
path_length_limit(void **state)
{
	char p[PATH_DEST_MAX + 2];
	struct nem_err err;

	(void)state;
	memset(p, 'a', sizeof(p));
	p[0] = '/';
	assert_int_equal(path_check_abs("dest", p, PATH_DEST_MAX, &err), 0);
	assert_int_equal(path_check_abs("dest", p, PATH_DEST_MAX + 1, &err),
	    -1);
	assert_non_null(strstr(err.msg, "the maximum is 1024"));
}

static void
path_relative_rules(void **state)
{
	struct nem_err err;

	(void)state;
	assert_int_equal(path_check_any("source", "files/resolv.conf", 17,
	    &err), 0);
	assert_int_equal(path_check_any("source", "/etc/hosts", 10, &err), 0);
	assert_int_equal(path_check_any("source", "../x", 4, &err), -1);
	assert_int_equal(path_check_any("source", "a/./b", 5, &err), -1);
	assert_int_equal(path_check_any("source", "a/", 2, &err), -1);
}

static void
path_below_and_join(void **state)
{
	struct nem_err err;
	char *s;

	(void)state;
	assert_true(path_is_below("/dev/vdb1", "/dev"));
	assert_false(path_is_below("/dev", "/dev"));
	assert_false(path_is_below("/devil/x", "/dev"));
	assert_true(path_is_below("/x", "/"));
	assert_false(path_is_below("/", "/"));

	s = path_join("/etc/nem", "files/a", &err);
	assert_string_equal(s, "/etc/nem/files/a");
	free(s);
	s = path_join("/etc/nem/", "/abs", &err);
	assert_string_equal(s, "/abs");
	free(s);
	s = path_join("/", "x", &err);
	assert_string_equal(s, "/x");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(size_accepts_suffixes),
		cmocka_unit_test(size_rejects_bad_values),
		cmocka_unit_test(size_integer_rules),
		cmocka_unit_test(duration_accepts_units),
		cmocka_unit_test(duration_rejects_bad_values),
		cmocka_unit_test(duration_format_round_trips),
		cmocka_unit_test(preview_escapes_and_cuts),
		cmocka_unit_test(path_accepts_normalized),
		cmocka_unit_test(path_rejects_unnormalized),
		cmocka_unit_test(path_length_limit),
		cmocka_unit_test(path_relative_rules),
		cmocka_unit_test(path_below_and_join),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
