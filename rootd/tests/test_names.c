/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the naming rule shared by jails, images, volumes, shares and
 * services: the same table of names must be accepted or rejected everywhere.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>

#include "names.h"

static void
accepts_simple_names(void **state)
{
	static const char *const good[] = { "a", "web", "web-1", "db_2",
		"service.v2", "A9", "0start" };
	struct nem_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(name_check("jail", good[i], &err), 0);
}

static void
rejects_unsafe_names(void **state)
{
	static const char *const bad[] = { "", ".", "..", "a/b", "../x",
		"a b", "a\tb", "a\nb", "-rf", "x{y=z}", "caf\xc3\xa9", ".hidden",
		"_x" };
	struct nem_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(name_check("jail", bad[i], &err), -1);
		assert_int_equal(err.code, EINVAL);
		assert_non_null(strstr(err.msg, "invalid jail name"));
	}
}

static void
length_limit_is_exact(void **state)
{
	char name[4097];
	struct nem_err err;

	(void)state;
	memset(name, 'a', sizeof(name) - 1);

	name[NAME_MAX_LEN] = '\0';
	assert_int_equal(name_check("image", name, &err), 0);

	name[NAME_MAX_LEN] = 'a';
	name[NAME_MAX_LEN + 1] = '\0';
	assert_int_equal(name_check("image", name, &err), -1);
	assert_non_null(strstr(err.msg, "the maximum is 63"));

	name[255] = '\0';
	assert_int_equal(name_check("image", name, &err), -1);
	name[255] = 'a';
	name[256] = '\0';
	assert_int_equal(name_check("image", name, &err), -1);
	name[256] = 'a';
	name[4096] = '\0';
	assert_int_equal(name_check("image", name, &err), -1);
}

static void
wire_name_with_nul_rejected(void **state)
{
	struct nem_err err;

	(void)state;
	assert_int_equal(name_check_len("volume", "ab\0c", 4, &err), -1);
	assert_non_null(strstr(err.msg, "0x00"));
}

static void
message_escapes_control_bytes(void **state)
{
	struct nem_err err;

	(void)state;
	assert_int_equal(name_check("service", "-a\nb", &err), -1);
	assert_null(strchr(err.msg, '\n'));
	assert_non_null(strstr(err.msg, "\\x0a"));

	assert_int_equal(name_check("service", "a b\x1b[2J", &err), -1);
	assert_null(strchr(err.msg, '\x1b'));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepts_simple_names),
		cmocka_unit_test(rejects_unsafe_names),
		cmocka_unit_test(length_limit_is_exact),
		cmocka_unit_test(wire_name_with_nul_rejected),
		cmocka_unit_test(message_escapes_control_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
