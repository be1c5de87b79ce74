/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of semver parsing, precedence and requirements. The precedence
 * chain extends the example list of semver 2.0.0 rule 11, and the
 * requirement table follows the desugaring documented in semver.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>

#include "semver.h"

static struct semver
parse_ok(const char *s)
{
	struct semver v;
	struct nem_err err;

	if (semver_parse(s, &v, &err) == -1)
		fail_msg("semver_parse(\"%s\"): %s", s, err.msg);
	return v;
}

static void
parses_parts(void **state)
{
	struct semver v;

	(void)state;
	v = parse_ok("1.22.333-rc.1+build.05");
	assert_int_equal(v.major, 1);
	assert_int_equal(v.minor, 22);
	assert_int_equal(v.patch, 333);
	assert_string_equal(v.pre, "rc.1");
	assert_string_equal(v.build, "build.05");

	v = parse_ok("18446744073709551615.0.0");
	assert_true(v.major == UINT64_MAX);
	assert_string_equal(v.pre, "");
	assert_string_equal(v.build, "");

	v = parse_ok("0.0.0-0a.-x--");
	assert_string_equal(v.pre, "0a.-x--");
}

static void
rejects_bad_versions(void **state)
{
	static const struct {
		const char *input;
		const char *message;
	} bad[] = {
		{ "", "empty" },
		{ "1", "expected \".minor.patch\"" },
		{ "1.2", "expected \".patch\"" },
		{ "v1.2.3", "leading \"v\"" },
		{ "01.2.3", "major has a leading zero" },
		{ "1.02.3", "minor has a leading zero" },
		{ "1.2.03", "patch has a leading zero" },
		{ "1.2.3-01", "leading zero" },
		{ "1.2.3-", "empty pre-release identifier" },
		{ "1.2.3-a..b", "empty pre-release identifier" },
		{ "1.2.3+", "empty build metadata identifier" },
		{ "1.2.3 ", "unexpected character" },
		{ "1.2.3-a_b", "unexpected character" },
		{ "18446744073709551616.0.0", "major is larger than" },
		{ "1.x.3", "minor is not a number" },
		{ "-1.2.3", "major is not a number" },
	};
	struct semver v;
	struct nem_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (semver_parse(bad[i].input, &v, &err) != -1)
			fail_msg("\"%s\" was accepted", bad[i].input);
		assert_int_equal(err.code, EINVAL);
		if (strstr(err.msg, bad[i].message) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"",
			    bad[i].input, err.msg, bad[i].message);
	}
}

static void
rejects_overlong_version(void **state)
{
	char s[SEMVER_MAX_LEN + 2];
	struct semver v;
	struct nem_err err;

	(void)state;
	memset(s, 'a', sizeof(s));
	memcpy(s, "1.0.0-", 6);
	s[SEMVER_MAX_LEN] = '\0';
	assert_int_equal(semver_parse(s, &v, &err), 0);
	assert_int_equal(strlen(v.pre), SEMVER_MAX_LEN - 6);

	s[SEMVER_MAX_LEN] = 'a';
	s[SEMVER_MAX_LEN + 1] = '\0';
	assert_int_equal(semver_parse(s, &v, &err), -1);
	assert_non_null(strstr(err.msg, "longer than 255 bytes"));
}

static void
precedence_follows_rule_11(void **state)
{
	static const char *const chain[] = {
		"0.0.0-0", "0.0.0", "0.0.1", "0.1.0", "1.0.0-0", "1.0.0-2",
		"1.0.0-10", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
		"1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",
		"1.0.0", "1.0.1", "1.1.0", "1.10.0", "2.0.0", "2.1.0", "2.1.1",
		"10.0.0",
	};
	size_t n = sizeof(chain) / sizeof(chain[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		struct semver a = parse_ok(chain[i]);

		for (size_t j = 0; j < n; j++) {
			struct semver b = parse_ok(chain[j]);
			int want = (i > j) - (i < j);
			int got = semver_cmp(&a, &b);

			got = (got > 0) - (got < 0);
			if (got != want)
				fail_msg("cmp(%s, %s) = %d, expected %d",
				    chain[i], chain[j], got, want);
		}
	}
}

static void
build_metadata_ignored(void **state)
{
	struct semver a, b;

	(void)state;
	a = parse_ok("1.0.0+20130313144700");
	b = parse_ok("1.0.0+exp.sha.5114f85");
	assert_int_equal(semver_cmp(&a, &b), 0);
	a = parse_ok("1.0.0-beta+exp");
	b = parse_ok("1.0.0-beta");
	assert_int_equal(semver_cmp(&a, &b), 0);
}

static void
format_round_trips(void **state)
{
	static const char *const versions[] = { "0.0.0", "1.2.3-rc.1",
		"1.2.3+b.01", "18446744073709551615.1.2-x.0+y" };
	char buf[SEMVER_MAX_LEN * 2 + 64];

	(void)state;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		struct semver v = parse_ok(versions[i]);

		assert_int_equal(semver_format(&v, buf, sizeof(buf)),
		    (int)strlen(versions[i]));
		assert_string_equal(buf, versions[i]);
	}
	{
		struct semver v = parse_ok("1.2.3");

		assert_int_equal(semver_format(&v, buf, 5), -1);
	}
}

struct match_case {
	const char *req;
	const char *version;
	bool match;
};

static const struct match_case match_cases[] = {
	{ "1.2.3", "1.2.3", true },
	{ "=1.2.3", "1.2.3+build", true },
	{ "1.2.3", "1.2.4", false },
	{ "1.2", "1.2.0", true },
	{ "1.2", "1.2.99", true },
	{ "1.2", "1.3.0", false },
	{ "1.2.x", "1.2.7", true },
	{ "1.X", "1.9.0", true },
	{ "1.*", "2.0.0", false },
	{ "*", "0.0.0", true },
	{ "*", "99.1.0", true },
	{ "*", "1.0.0-rc.1", false },
	{ "x", "3.0.0", true },
	{ "^1.2.3", "1.2.3", true },
	{ "^1.2.3", "1.9.9", true },
	{ "^1.2.3", "2.0.0", false },
	{ "^1.2.3", "2.0.0-alpha", false },
	{ "^1.2.3", "1.2.2", false },
	{ "^0.2.3", "0.2.9", true },
	{ "^0.2.3", "0.3.0", false },
	{ "^0.0.3", "0.0.3", true },
	{ "^0.0.3", "0.0.4", false },
	{ "^0.0", "0.0.9", true },
	{ "^0.0", "0.1.0", false },
	{ "^0", "0.9.0", true },
	{ "^0", "1.0.0", false },
	{ "^1.2", "1.2.0", true },
	{ "^1.2", "1.1.9", false },
	{ "^1.2.3-beta.2", "1.2.3-beta.4", true },
	{ "^1.2.3-beta.2", "1.2.3-beta.1", false },
	{ "^1.2.3-beta.2", "1.2.4-beta.9", false },
	{ "^1.2.3-beta.2", "1.3.0", true },
	{ "~1.2.3", "1.2.9", true },
	{ "~1.2.3", "1.3.0", false },
	{ "~1.2", "1.2.0", true },
	{ "~1", "1.9.9", true },
	{ "~1", "2.0.0", false },
	{ "~>1.2.3", "1.2.4", true },
	{ ">=1.2.0 <2.0.0", "1.5.0", true },
	{ ">=1.2.0 <2.0.0", "2.0.0", false },
	{ ">=1.2.0 <2.0.0", "1.1.9", false },
	{ ">= 1.2.0", "1.2.0", true },
	{ ">1.2.3", "1.2.3", false },
	{ ">1.2.3", "1.2.4", true },
	{ ">1.2", "1.2.9", false },
	{ ">1.2", "1.3.0", true },
	{ ">1", "2.0.0", true },
	{ ">1", "1.9.0", false },
	{ ">=1.2", "1.2.0", true },
	{ "<1.2", "1.1.9", true },
	{ "<1.2", "1.2.0-rc.1", false },
	{ "<1.2", "1.2.0", false },
	{ "<=1.2", "1.2.9", true },
	{ "<=1.2", "1.3.0", false },
	{ "<=1.2.3", "1.2.3", true },
	{ ">*", "0.0.0", false },
	{ "<*", "1.0.0", false },
	{ ">=*", "5.0.0", true },
	{ "1.2 - 1.4", "1.4.7", true },
	{ "1.2 - 1.4", "1.5.0", false },
	{ "1.2 - 1.4", "1.1.0", false },
	{ "1.2.3 - 2.3.4", "2.3.4", true },
	{ "1.2.3 - 2.3.4", "2.3.5", false },
	{ "1.2.3 - 2", "2.9.0", true },
	{ "* - 2", "0.0.1", true },
	{ "1.0.0 || 2.x", "2.3.0", true },
	{ "1.0.0 || 2.x", "1.0.0", true },
	{ "1.0.0 || 2.x", "1.5.0", false },
	{ "<1.0.0||>=3.0.0", "3.1.0", true },
	{ "1.0.0-rc.1", "1.0.0-rc.1", true },
	{ ">=1.0.0-rc.1", "1.0.0-rc.2", true },
	{ ">=1.0.0-rc.1", "1.0.1-rc.1", false },
	{ ">=1.0.0-rc.1", "1.0.1", true },
	{ ">1.0.0-alpha <1.0.0", "1.0.0-beta", true },
	{ "1.x || >=1.0.0-rc.1 <1.0.0", "1.0.0-rc.5", true },
};

static void
requirements_match_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]);
	    i++) {
		const struct match_case *c = &match_cases[i];
		struct semver_req *req;
		struct semver v = parse_ok(c->version);
		struct nem_err err;

		req = semver_req_parse(c->req, &err);
		if (req == NULL)
			fail_msg("semver_req_parse(\"%s\"): %s", c->req,
			    err.msg);
		if (semver_req_match(req, &v) != c->match)
			fail_msg("\"%s\" %s \"%s\", expected the opposite",
			    c->req, c->match ? "rejected" : "accepted",
			    c->version);
		semver_req_free(req);
	}
}

static void
rejects_bad_requirements(void **state)
{
	static const struct {
		const char *input;
		const char *message;
	} bad[] = {
		{ "", "empty" },
		{ "   ", "empty alternative" },
		{ "1.0.0 ||", "empty alternative" },
		{ "|| 1.0.0", "empty alternative" },
		{ "v1.2", "leading \"v\"" },
		{ "^01.2", "leading zero" },
		{ "1.x.3", "only wildcards may follow a wildcard" },
		{ "1.2-beta", "needs all of major.minor.patch" },
		{ "1.2.3 - 2 3", "hyphen range must be alone" },
		{ ">=", "major is not a number" },
		{ ">>1", "major is not a number" },
		{ "1.2.3,2.0.0", "unexpected character" },
		{ "^1.2.3a", "unexpected character" },
		{ "18446744073709551615.x", "too large" },
		{ "^18446744073709551615.1.0", "too large" },
	};
	struct nem_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct semver_req *req = semver_req_parse(bad[i].input, &err);

		if (req != NULL) {
			semver_req_free(req);
			fail_msg("\"%s\" was accepted", bad[i].input);
		}
		assert_int_equal(err.code, EINVAL);
		if (strstr(err.msg, bad[i].message) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"",
			    bad[i].input, err.msg, bad[i].message);
	}
	semver_req_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_parts),
		cmocka_unit_test(rejects_bad_versions),
		cmocka_unit_test(rejects_overlong_version),
		cmocka_unit_test(precedence_follows_rule_11),
		cmocka_unit_test(build_metadata_ignored),
		cmocka_unit_test(format_round_trips),
		cmocka_unit_test(requirements_match_table),
		cmocka_unit_test(rejects_bad_requirements),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
