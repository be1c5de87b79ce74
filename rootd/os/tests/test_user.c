/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of os_user_parse: name and uid lookup, supplementary groups,
 * and the rejection of malformed or oversized jail user databases.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "os/os.h"

static const char passwd[] =
    "root:x:0:0:root:/root:/bin/sh\n"
    "www:x:1000:1001:web:/srv/www:/bin/sh\n"
    "broken:x:12\n"
    "nohome:x:13:13:::/bin/sh";

static const char group[] =
    "root:x:0:\n"
    "www:x:1001:\n"
    "web:x:33:root,www\n"
    "log:x:4:nobody,wwwx,www\n"
    "bad:x:notanumber:www\n"
    "other:x:5:nobody";

static int
parse(const char *user, struct os_user *out, struct nem_err *err)
{
	return os_user_parse(passwd, strlen(passwd), group, strlen(group),
	    user, out, err);
}

static void
user_by_name(void **state)
{
	struct os_user u;
	struct nem_err err;

	(void)state;
	assert_int_equal(parse("www", &u, &err), 0);
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 1001);
	assert_string_equal(u.home, "/srv/www");
	assert_int_equal(u.ngroups, 3);
	assert_int_equal(u.groups[0], 1001);
	assert_int_equal(u.groups[1], 33);
	assert_int_equal(u.groups[2], 4);
}

static void
user_by_uid(void **state)
{
	struct os_user u;
	struct nem_err err;

	(void)state;
	assert_int_equal(parse("1000", &u, &err), 0);
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 1001);
	assert_int_equal(u.ngroups, 3);
}

static void
uid_without_entry(void **state)
{
	struct os_user u;
	struct nem_err err;

	(void)state;
	assert_int_equal(parse("4242", &u, &err), 0);
	assert_int_equal(u.uid, 4242);
	assert_int_equal(u.gid, 4242);
	assert_int_equal(u.ngroups, 1);
	assert_string_equal(u.home, "/");
}

static void
unknown_name(void **state)
{
	struct os_user u;
	struct nem_err err;

	(void)state;
	assert_int_equal(parse("nobody", &u, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "nobody"));
}

static void
malformed_entry(void **state)
{
	struct os_user u;
	struct nem_err err;

	(void)state;
	assert_int_equal(parse("broken", &u, &err), -1);
	assert_int_equal(err.code, EBADMSG);
	assert_int_equal(parse("nohome", &u, &err), -1);
	assert_int_equal(err.code, EBADMSG);
}

static void
invalid_names(void **state)
{
	struct os_user u;
	struct nem_err err;

	(void)state;
	assert_int_equal(parse("", &u, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_int_equal(parse("www:x", &u, &err), -1);
	assert_int_equal(parse("a,b", &u, &err), -1);
	/* (uid_t)-1 is never a user. */
	assert_int_equal(parse("4294967295", &u, &err), -1);
}

static void
too_many_groups(void **state)
{
	char big[OS_GROUPS_MAX * 32 + 64];
	const char *pw = "u:x:1:1::/:\n";
	struct os_user u;
	struct nem_err err;
	size_t len = 0;

	(void)state;
	for (int i = 0; i <= OS_GROUPS_MAX; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len,
		    "g%d:x:%d:u\n", i, 100 + i);
	assert_int_equal(os_user_parse(pw, strlen(pw), big, len, "u", &u,
	    &err), -1);
	assert_int_equal(err.code, E2BIG);
}

static void
no_newline_and_empty_group(void **state)
{
	const char *pw = "u:x:7:8::/home/u:/bin/sh";
	struct os_user u;
	struct nem_err err;

	(void)state;
	assert_int_equal(os_user_parse(pw, strlen(pw), "", 0, "u", &u, &err),
	    0);
	assert_int_equal(u.uid, 7);
	assert_int_equal(u.gid, 8);
	assert_int_equal(u.ngroups, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(user_by_name),
		cmocka_unit_test(user_by_uid),
		cmocka_unit_test(uid_without_entry),
		cmocka_unit_test(unknown_name),
		cmocka_unit_test(malformed_entry),
		cmocka_unit_test(invalid_names),
		cmocka_unit_test(too_many_groups),
		cmocka_unit_test(no_newline_and_empty_group),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
