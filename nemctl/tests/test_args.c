/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of nemctl's command-line parsing: options with and without
 * values, positional counts, --help and --json, durations, digests, names
 * and jail names derived from description file names.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "nemctl.h"

static const struct args_opt push_opts[] = {
	{ "version", 'V', true },
	{ "sha256", '\0', true },
	{ "follow", 'f', false },
};

/* Parses the NULL-terminated words against push_opts. */
static int
parse(struct args *a, struct nem_err *err, int min, int max, ...)
{
	char *argv[16];
	int argc = 0;
	va_list ap;

	va_start(ap, max);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	return args_parse(argc, argv, push_opts, 3, min, max, a, err);
}

static void
test_args_positional_and_values(void **state)
{
	struct args a;
	struct nem_err err;

	assert_int_equal(parse(&a, &err, 2, 2, "web", "--version", "1.2.3",
	    "img.sqfs", "--sha256=abc", NULL), 0);
	assert_int_equal(a.npos, 2);
	assert_string_equal(a.pos[0], "web");
	assert_string_equal(a.pos[1], "img.sqfs");
	assert_true(a.set[0]);
	assert_string_equal(a.value[0], "1.2.3");
	assert_true(a.set[1]);
	assert_string_equal(a.value[1], "abc");
	assert_false(a.set[2]);
	assert_false(a.help);
}

static void
test_args_short_and_flags(void **state)
{
	struct args a;
	struct nem_err err;

	assert_int_equal(parse(&a, &err, 1, 1, "-f", "web", "-V", "2.0.0",
	    "--json", NULL), 0);
	assert_true(a.set[2]);
	assert_null(a.value[2]);
	assert_string_equal(a.value[0], "2.0.0");
	assert_true(a.json);
}

static void
test_args_double_dash(void **state)
{
	struct args a;
	struct nem_err err;

	assert_int_equal(parse(&a, &err, 1, 1, "--", "-odd", NULL), 0);
	assert_string_equal(a.pos[0], "-odd");
}

static void
test_args_help_stops(void **state)
{
	struct args a;
	struct nem_err err;

	assert_int_equal(parse(&a, &err, 2, 2, "--help", "--bogus", NULL), 0);
	assert_true(a.help);
	assert_int_equal(parse(&a, &err, 2, 2, "-h", NULL), 0);
	assert_true(a.help);
}

static void
test_args_errors(void **state)
{
	struct args a;
	struct nem_err err;

	assert_int_equal(parse(&a, &err, 0, 1, "--bogus", NULL), -1);
	assert_int_equal(err.code, EINVAL);
	assert_non_null(strstr(err.msg, "\"--bogus\""));

	assert_int_equal(parse(&a, &err, 0, 1, "--version", NULL), -1);
	assert_non_null(strstr(err.msg, "needs a value"));

	assert_int_equal(parse(&a, &err, 0, 1, "--follow=yes", NULL), -1);
	assert_non_null(strstr(err.msg, "takes no value"));

	assert_int_equal(parse(&a, &err, 0, 2, "-V", "1.0.0", "--version",
	    "2.0.0", NULL), -1);
	assert_non_null(strstr(err.msg, "twice"));

	assert_int_equal(parse(&a, &err, 0, 1, "a", "b", NULL), -1);
	assert_non_null(strstr(err.msg, "unexpected argument \"b\""));

	assert_int_equal(parse(&a, &err, 2, 2, "a", NULL), -1);
	assert_non_null(strstr(err.msg, "missing argument"));

	assert_int_equal(parse(&a, &err, 0, 1, "-fV", NULL), -1);
	assert_non_null(strstr(err.msg, "separately"));

	assert_int_equal(parse(&a, &err, 0, 1, "-x", NULL), -1);
	assert_non_null(strstr(err.msg, "\"-x\""));
}

static void
test_args_duration(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint32_t ms;
	} cases[] = {
		{ "30", 0, 30000 }, { "30s", 0, 30000 }, { "250ms", 0, 250 },
		{ "2m", 0, 120000 }, { "1h", 0, 3600000 },
		{ "24h", 0, 86400000 }, { "25h", -1, 0 }, { "0s", -1, 0 },
		{ "", -1, 0 }, { "s", -1, 0 }, { "-1s", -1, 0 },
		{ "5x", -1, 0 }, { "1.5s", -1, 0 }, { " 5s", -1, 0 },
		{ "99999999999999999999999s", -1, 0 },
		{ "18446744073709551615ms", -1, 0 },
	};
	struct nem_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t ms = 0;
		int rc = args_duration(cases[i].s, &ms, &err);

		if (rc != cases[i].rc)
			fail_msg("duration \"%s\": rc %d, expected %d",
			    cases[i].s, rc, cases[i].rc);
		if (rc == 0 && ms != cases[i].ms)
			fail_msg("duration \"%s\": %u ms, expected %u",
			    cases[i].s, ms, cases[i].ms);
	}
}

static void
test_args_sha256(void **state)
{
	struct nem_err err;
	char hex[65];

	memset(hex, 'a', 64);
	hex[64] = '\0';
	assert_int_equal(args_sha256(hex, &err), 0);
	hex[3] = 'F';
	assert_int_equal(args_sha256(hex, &err), 0);
	hex[3] = 'g';
	assert_int_equal(args_sha256(hex, &err), -1);
	assert_int_equal(err.code, EINVAL);
	hex[3] = 'a';
	hex[63] = '\0';
	assert_int_equal(args_sha256(hex, &err), -1);
}

static void
test_args_name_like_daemon(void **state)
{
	struct nem_err err;

	assert_int_equal(args_name("jail", "web-1.a_b", &err), 0);
	assert_int_equal(args_name("jail", "../x", &err), -1);
	assert_int_equal(err.code, EINVAL);
	/* The daemon's control_get_str sends name_check's message as is. */
	assert_string_equal(err.msg, "invalid jail name \"../x\": must start "
	    "with a letter or a digit");
	assert_int_equal(args_name("image", "", &err), -1);
	assert_int_equal(args_name("image", "-x", &err), -1);
}

static void
test_args_jail_name(void **state)
{
	struct nem_err err;
	char name[64];

	assert_int_equal(args_jail_name("/etc/nem/jails/web.toml", name,
	    sizeof(name), &err), 0);
	assert_string_equal(name, "web");
	assert_int_equal(args_jail_name("db.toml", name, sizeof(name), &err),
	    0);
	assert_string_equal(name, "db");
	assert_int_equal(args_jail_name("web.conf", name, sizeof(name), &err),
	    -1);
	assert_int_equal(args_jail_name("dir/.toml", name, sizeof(name), &err),
	    -1);
	assert_int_equal(args_jail_name("bad name.toml", name, sizeof(name),
	    &err), -1);
	assert_int_equal(args_jail_name("longer.toml", name, 4, &err), -1);
	assert_int_equal(err.code, ENAMETOOLONG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_positional_and_values),
		cmocka_unit_test(test_args_short_and_flags),
		cmocka_unit_test(test_args_double_dash),
		cmocka_unit_test(test_args_help_stops),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_args_duration),
		cmocka_unit_test(test_args_sha256),
		cmocka_unit_test(test_args_name_like_daemon),
		cmocka_unit_test(test_args_jail_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
