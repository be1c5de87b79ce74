/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the frame codec. The byte vectors are written by hand from
 * the frame table of doc/protocol.md (little-endian, magic 21 6d 65 6e), so
 * the byte order is checked against the specification, not against the
 * encoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include <nem/frame.h>
#include <nem/proto.h>

/* A daemon.info request, seq 2, with the empty BSON document as header. */
static const uint8_t info_request[] = {
	0x21, 0x6d, 0x65, 0x6e,			/* magic */
	0x01,					/* version */
	0x00,					/* flags */
	0x05, 0x00,				/* header_len 5 */
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* seq 2 */
	0x00, 0x00, 0x00, 0x00,			/* body_len 0 */
	0x01, 0x00,				/* service daemon */
	0x01, 0x00,				/* command info */
	0x05, 0x00, 0x00, 0x00, 0x00,		/* {} */
};

/*
 * A header {err: {code: int64 2, reason: "abc"}, time: {timeout_ms: int32
 * 500}}, 72 bytes.
 */
static const uint8_t err_time_header[] = {
	0x48, 0x00, 0x00, 0x00,
	0x03, 'e', 'r', 'r', 0x00,
	0x23, 0x00, 0x00, 0x00,
	0x12, 'c', 'o', 'd', 'e', 0x00,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 'r', 'e', 'a', 's', 'o', 'n', 0x00,
	0x04, 0x00, 0x00, 0x00, 'a', 'b', 'c', 0x00,
	0x00,
	0x03, 't', 'i', 'm', 'e', 0x00,
	0x15, 0x00, 0x00, 0x00,
	0x10, 't', 'i', 'm', 'e', 'o', 'u', 't', '_', 'm', 's', 0x00,
	0xf4, 0x01, 0x00, 0x00,
	0x00,
	0x00,
};

static void
encode_matches_spec_bytes(void **state)
{
	static const uint8_t expected[] = {
		0x21, 0x6d, 0x65, 0x6e, 0x01, 0x1b, 0x00, 0x00,
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		0x03, 0x00, 0x00, 0x00, 0x0b, 0x0a, 0x0d, 0x0c,
		'a', 'b', 'c',
	};
	struct nem_fixed f = { .flags = NEM_F_REPLY | NEM_F_CONTINUE |
		NEM_F_FD | NEM_F_ROUTE, .seq = 0x0102030405060708ull,
		.service = 0x0a0b, .command = 0x0c0d };
	struct nem_err err;
	uint8_t *out;
	size_t len;

	(void)state;
	assert_int_equal(nem_frame_build(&f, NULL, "abc", 3, &out, &len,
	    &err), 0);
	assert_int_equal(len, sizeof(expected));
	assert_memory_equal(out, expected, sizeof(expected));
	free(out);
}

static void
encode_fixed_header_only(void **state)
{
	struct nem_fixed f = { .magic = NEM_MAGIC, .version = NEM_VERSION,
		.header_len = 5, .seq = 2, .service = 1, .command = 1 };
	uint8_t out[NEM_FIXED_LEN];

	(void)state;
	nem_fixed_encode(&f, out);
	assert_memory_equal(out, info_request, NEM_FIXED_LEN);
}

static void
decode_spec_request(void **state)
{
	struct nem_err err;
	struct nem_msg m;
	size_t used = 0;

	(void)state;
	assert_int_equal(nem_frame_decode(info_request, sizeof(info_request),
	    &m, &used, &err), 1);
	assert_int_equal(used, sizeof(info_request));
	assert_true(m.seq == 2);
	assert_int_equal(m.service, NEM_SVC_DAEMON);
	assert_int_equal(m.command, NEM_DAEMON_INFO);
	assert_int_equal(m.flags, 0);
	assert_int_equal(m.body_len, 0);
	assert_int_equal(m.fd, -1);
	assert_true(m.hdr.code == 0);
	assert_null(m.hdr.reason);
}

static void
decode_every_prefix_needs_more(void **state)
{
	struct nem_err err;
	struct nem_msg m;
	size_t used;

	(void)state;
	for (size_t k = 0; k < sizeof(info_request); k++)
		assert_int_equal(nem_frame_decode(info_request, k, &m, &used,
		    &err), 0);
}

static void
decode_header_fields(void **state)
{
	struct nem_header h;
	struct nem_err err;

	(void)state;
	assert_int_equal(nem_header_decode(err_time_header,
	    sizeof(err_time_header), &h, &err), 0);
	assert_true(h.code == 2);
	assert_string_equal(h.reason, "abc");
	assert_true(h.has_timeout);
	assert_true(h.timeout_ms == 500);
	assert_false(h.has_route);
}

static void
header_round_trip(void **state)
{
	struct nem_header in = { .code = NEM_E_NOT_FOUND,
		.reason = "no image \"base\"\n\xff", .has_route = true,
		.route = { .cluster = "c1", .host = "h1", .obj = "o1" },
		.has_timeout = true, .timeout_ms = 1234 };
	struct nem_fixed f = { .flags = NEM_F_ROUTE, .seq = 7, .service = 4,
		.command = 4 };
	struct nem_err err;
	struct nem_msg m;
	uint8_t *out;
	size_t len, used;

	(void)state;
	assert_int_equal(nem_frame_build(&f, &in, NULL, 0, &out, &len, &err),
	    0);
	assert_int_equal(nem_frame_decode(out, len, &m, &used, &err), 1);
	assert_int_equal(used, len);
	assert_true(m.hdr.code == NEM_E_NOT_FOUND);
	/* Bytes outside printable ASCII are replaced, so the peer's UTF-8
	   check cannot fail on a reason. */
	assert_string_equal(m.hdr.reason, "no image \"base\"??");
	assert_true(m.hdr.has_route);
	assert_string_equal(m.hdr.route.cluster, "c1");
	assert_string_equal(m.hdr.route.host, "h1");
	assert_null(m.hdr.route.inst);
	assert_string_equal(m.hdr.route.obj, "o1");
	assert_true(m.hdr.timeout_ms == 1234);
	free(out);
}

/* Decodes info_request with byte off replaced by val; expects failure. */
static void
expect_fixed_error(size_t off, uint8_t val, int code, const char *what)
{
	uint8_t buf[sizeof(info_request)];
	struct nem_fixed f;
	struct nem_err err;

	memcpy(buf, info_request, sizeof(buf));
	buf[off] = val;
	assert_int_equal(nem_fixed_decode(buf, &f, &err), -1);
	assert_int_equal(err.code, code);
	if (strstr(err.msg, what) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, what);
}

static void
fixed_header_violations(void **state)
{
	(void)state;
	expect_fixed_error(0, 0x22, EBADMSG, "bad magic");
	expect_fixed_error(3, 0x00, EBADMSG, "bad magic");
	expect_fixed_error(4, 0xff, EBADMSG, "version 255");
	expect_fixed_error(4, 0x00, EBADMSG, "version 0");
	expect_fixed_error(5, 0x20, EBADMSG, "reserved");
	expect_fixed_error(5, 0x40, EBADMSG, "reserved");
	expect_fixed_error(5, 0x80, EBADMSG, "reserved");
	expect_fixed_error(5, NEM_F_REPLY | NEM_F_CANCEL, EBADMSG, "CANCEL");
	expect_fixed_error(6, 0x03, EBADMSG, "header_len 3");
	expect_fixed_error(6, 0x01, EBADMSG, "header_len 1");
	expect_fixed_error(7, 0xff, EMSGSIZE, "header_len 65285");
}

static void
length_limits_are_exact(void **state)
{
	uint8_t buf[NEM_FIXED_LEN];
	struct nem_fixed f;
	struct nem_err err;

	(void)state;
	memcpy(buf, info_request, sizeof(buf));

	/* header_len 64000 (0xfa00) is allowed, 64001 is not. */
	buf[6] = 0x00;
	buf[7] = 0xfa;
	assert_int_equal(nem_fixed_decode(buf, &f, &err), 0);
	buf[6] = 0x01;
	assert_int_equal(nem_fixed_decode(buf, &f, &err), -1);
	assert_int_equal(err.code, EMSGSIZE);
	buf[6] = 0xff;
	buf[7] = 0xff;
	assert_int_equal(nem_fixed_decode(buf, &f, &err), -1);
	buf[6] = 0x05;
	buf[7] = 0x00;

	/* body_len 1048576 (00 00 10 00) is allowed, 1048577 is not. */
	buf[16] = 0x00;
	buf[17] = 0x00;
	buf[18] = 0x10;
	assert_int_equal(nem_fixed_decode(buf, &f, &err), 0);
	assert_int_equal(f.body_len, NEM_BODY_MAX);
	buf[16] = 0x01;
	assert_int_equal(nem_fixed_decode(buf, &f, &err), -1);
	assert_int_equal(err.code, EMSGSIZE);
	assert_non_null(strstr(err.msg, "body_len 1048577"));
	buf[16] = 0xf0;
	buf[17] = 0xff;
	buf[18] = 0xff;
	buf[19] = 0xff;
	assert_int_equal(nem_fixed_decode(buf, &f, &err), -1);
	assert_int_equal(err.code, EMSGSIZE);
}

static void
header_bson_violations(void **state)
{
	/* The document's length field is 6, header_len is 5. */
	static const uint8_t wrong_len[] = { 0x06, 0x00, 0x00, 0x00, 0x00 };
	/* err is a string, not a document. */
	static const uint8_t err_string[] = { 0x10, 0x00, 0x00, 0x00, 0x02,
		'e', 'r', 'r', 0x00, 0x02, 0x00, 0x00, 0x00, 'x', 0x00,
		0x00 };
	/* An element of unknown type 0x7e. */
	static const uint8_t bad_type[] = { 0x08, 0x00, 0x00, 0x00, 0x7e,
		'a', 0x00, 0x00 };
	/* timeout_ms is -1. */
	static const uint8_t negative[] = { 0x20, 0x00, 0x00, 0x00, 0x03,
		't', 'i', 'm', 'e', 0x00, 0x15, 0x00, 0x00, 0x00, 0x10, 't',
		'i', 'm', 'e', 'o', 'u', 't', '_', 'm', 's', 0x00, 0xff, 0xff,
		0xff, 0xff, 0x00, 0x00 };
	struct nem_header h;
	struct nem_err err;

	(void)state;
	assert_int_equal(nem_header_decode(wrong_len, sizeof(wrong_len), &h,
	    &err), -1);
	assert_int_equal(err.code, EBADMSG);
	assert_int_equal(nem_header_decode(err_string, sizeof(err_string), &h,
	    &err), -1);
	assert_non_null(strstr(err.msg, "err is not a document"));
	assert_int_equal(nem_header_decode(bad_type, sizeof(bad_type), &h,
	    &err), -1);
	assert_int_equal(nem_header_decode(negative, sizeof(negative), &h,
	    &err), -1);
	assert_int_equal(nem_header_decode(info_request + NEM_FIXED_LEN, 5,
	    &h, &err), 0);
	assert_int_equal(nem_header_decode(NULL, 0, &h, &err), 0);
}

static void
build_rejects_oversize(void **state)
{
	struct nem_fixed f = { .seq = 1, .service = 1, .command = 1 };
	struct nem_err err;
	uint8_t *out = NULL;
	size_t len;

	(void)state;
	assert_int_equal(nem_frame_build(&f, NULL, "", NEM_BODY_MAX + 1, &out,
	    &len, &err), -1);
	assert_int_equal(err.code, EMSGSIZE);
	assert_null(out);
	f.flags = 0x20;
	assert_int_equal(nem_frame_build(&f, NULL, NULL, 0, &out, &len, &err),
	    -1);
	assert_int_equal(err.code, EINVAL);
}

static void
code_names_and_errno(void **state)
{
	static const char *const names[] = { "ok", "invalid", "not-found",
		"exists", "permission-denied", "busy", "timed-out",
		"unavailable", "cancelled", "too-large", "unknown-command",
		"internal" };

	(void)state;
	for (int64_t c = 0; c <= NEM_CODE_MAX; c++) {
		assert_string_equal(nem_code_name(c), names[c]);
		assert_true(nem_code_from_errno(nem_code_to_errno(c)) == c);
	}
	assert_string_equal(nem_code_name(-1), "unknown-code");
	assert_string_equal(nem_code_name(NEM_CODE_MAX + 1), "unknown-code");
	assert_int_equal(nem_code_to_errno(99), EPROTO);
	assert_true(nem_code_from_errno(EPERM) == NEM_E_PERMISSION);
	assert_true(nem_code_from_errno(EDOM) == NEM_E_INTERNAL);
	assert_string_equal(nem_service_name(NEM_SVC_IMGHOST), "imghost");
	assert_string_equal(nem_service_name(NEM_SVC_SVC), "svc");
	assert_null(nem_service_name(0));
	assert_null(nem_service_name(100));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encode_matches_spec_bytes),
		cmocka_unit_test(encode_fixed_header_only),
		cmocka_unit_test(decode_spec_request),
		cmocka_unit_test(decode_every_prefix_needs_more),
		cmocka_unit_test(decode_header_fields),
		cmocka_unit_test(header_round_trip),
		cmocka_unit_test(fixed_header_violations),
		cmocka_unit_test(length_limits_are_exact),
		cmocka_unit_test(header_bson_violations),
		cmocka_unit_test(build_rejects_oversize),
		cmocka_unit_test(code_names_and_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
