/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the bounds-checked read cursor: exact reads succeed, short
 * reads fail with EBADMSG without moving the cursor, and strings are never
 * truncated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>

#include <nem/buf.h>

static void
reads_little_endian(void **state)
{
	static const uint8_t in[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
		0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
	struct nem_buf b;
	uint64_t u64;
	uint32_t u32;
	uint16_t u16;
	uint8_t u8;

	(void)state;
	nem_buf_init(&b, in, sizeof(in));
	assert_int_equal(nem_buf_get_u8(&b, &u8), 0);
	assert_int_equal(u8, 0x01);
	assert_int_equal(nem_buf_get_u16(&b, &u16), 0);
	assert_int_equal(u16, 0x0302);
	assert_int_equal(nem_buf_get_u32(&b, &u32), 0);
	assert_int_equal(u32, 0x07060504);
	assert_int_equal(nem_buf_get_u64(&b, &u64), 0);
	assert_true(u64 == 0x0f0e0d0c0b0a0908ull);
	assert_int_equal(nem_buf_left(&b), 0);
}

static void
short_read_fails_in_place(void **state)
{
	static const uint8_t in[] = { 1, 2, 3 };
	const uint8_t *p;
	struct nem_buf b;
	uint32_t u32;

	(void)state;
	nem_buf_init(&b, in, sizeof(in));
	errno = 0;
	assert_int_equal(nem_buf_get_u32(&b, &u32), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(nem_buf_left(&b), 3);
	assert_int_equal(nem_buf_get_bytes(&b, 4, &p), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(nem_buf_get_bytes(&b, 3, &p), 0);
	assert_ptr_equal(p, in);
	assert_int_equal(nem_buf_left(&b), 0);
}

static void
string_rules(void **state)
{
	static const uint8_t ok[] = { 3, 0, 0, 0, 'w', 'e', 'b' };
	static const uint8_t nul[] = { 3, 0, 0, 0, 'w', 0, 'b' };
	static const uint8_t shrt[] = { 9, 0, 0, 0, 'w', 'e', 'b' };
	struct nem_buf b;
	char dst[8];
	char tiny[3];

	(void)state;
	nem_buf_init(&b, ok, sizeof(ok));
	assert_int_equal(nem_buf_get_str(&b, dst, sizeof(dst)), 0);
	assert_string_equal(dst, "web");

	nem_buf_init(&b, ok, sizeof(ok));
	assert_int_equal(nem_buf_get_str(&b, tiny, sizeof(tiny)), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(nem_buf_left(&b), sizeof(ok));

	nem_buf_init(&b, nul, sizeof(nul));
	assert_int_equal(nem_buf_get_str(&b, dst, sizeof(dst)), -1);
	assert_int_equal(errno, EBADMSG);

	nem_buf_init(&b, shrt, sizeof(shrt));
	assert_int_equal(nem_buf_get_str(&b, dst, sizeof(dst)), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(nem_buf_left(&b), sizeof(shrt));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_little_endian),
		cmocka_unit_test(short_read_fails_in_place),
		cmocka_unit_test(string_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
