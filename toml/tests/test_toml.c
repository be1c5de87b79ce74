/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the TOML parser: the value model and its getters, key
 * order, positions, large and deep documents, and a table of invalid
 * documents, each checked for the exact line, column and message of its
 * error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"

/* Parses a NUL-terminated document that must be valid. */
static struct toml_doc *
parse_ok(const char *text)
{
	struct toml_err err;
	struct toml_doc *doc;

	doc = toml_parse(text, strlen(text), &err);
	if (doc == NULL)
		fail_msg("unexpected error: %s", err.msg);
	return doc;
}

/* Looks up a dotted path of bare keys, such as "a.b.c", from the root. */
static const struct toml_value *
lookup(const struct toml_doc *doc, const char *path)
{
	const struct toml_value *v = toml_root(doc);
	char buf[256];
	char *part, *save;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part != NULL && v != NULL;
	     part = strtok_r(NULL, ".", &save))
		v = toml_table_get(v, part);
	return v;
}

static void
scalar_getters(void **state)
{
	struct toml_doc *doc;
	struct toml_datetime dt;
	const char *s;
	size_t len;
	int64_t i;
	double d;
	bool b;

	(void)state;
	doc = parse_ok("s = \"text\"\n"
	               "i = -42\n"
	               "f = 2.5e3\n"
	               "b = true\n"
	               "d = 1979-05-27\n");

	assert_int_equal(toml_get_string(lookup(doc, "s"), &s, &len), 0);
	assert_string_equal(s, "text");
	assert_int_equal(len, 4);
	assert_int_equal(toml_get_int(lookup(doc, "i"), &i), 0);
	assert_int_equal(i, -42);
	assert_int_equal(toml_get_float(lookup(doc, "f"), &d), 0);
	assert_true(d == 2500.0);
	assert_int_equal(toml_get_bool(lookup(doc, "b"), &b), 0);
	assert_true(b);
	assert_int_equal(toml_get_datetime(lookup(doc, "d"), &dt), 0);
	assert_int_equal(dt.year, 1979);

	/* Wrong type and NULL both return -1. */
	assert_int_equal(toml_get_int(lookup(doc, "s"), &i), -1);
	assert_int_equal(toml_get_string(lookup(doc, "i"), &s, &len), -1);
	assert_int_equal(toml_get_float(lookup(doc, "i"), &d), -1);
	assert_int_equal(toml_get_bool(lookup(doc, "s"), &b), -1);
	assert_int_equal(toml_get_datetime(lookup(doc, "s"), &dt), -1);
	assert_int_equal(toml_get_int(NULL, &i), -1);
	assert_null(lookup(doc, "missing"));
	assert_null(toml_table_get(lookup(doc, "s"), "x"));
	assert_int_equal(toml_table_len(lookup(doc, "s")), 0);
	assert_int_equal(toml_array_len(lookup(doc, "s")), 0);
	assert_null(toml_array_get(lookup(doc, "s"), 0));

	assert_string_equal(toml_type_name(TOML_INTEGER), "integer");
	assert_string_equal(toml_type_name(TOML_DATETIME), "offset date-time");
	toml_free(doc);
	toml_free(NULL);
}

static void
integers_in_every_base(void **state)
{
	static const struct {
		const char *text;
		int64_t value;
	} cases[] = {
	    {"v = 0", 0},
	    {"v = +17", 17},
	    {"v = -0", 0},
	    {"v = 1_000_000", 1000000},
	    {"v = 0xDEAD_beef", 0xdeadbeef},
	    {"v = 0o755", 0755},
	    {"v = 0b1101", 13},
	    {"v = 9223372036854775807", INT64_MAX},
	    {"v = -9223372036854775808", INT64_MIN},
	    {"v = 0x7fffffffffffffff", INT64_MAX},
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct toml_doc *doc = parse_ok(cases[k].text);
		int64_t v;

		assert_int_equal(toml_get_int(lookup(doc, "v"), &v), 0);
		assert_int_equal(v, cases[k].value);
		toml_free(doc);
	}
}

static void
floats_with_specials(void **state)
{
	struct toml_doc *doc;
	double d;

	(void)state;
	doc = parse_ok("a = 3.14_15\nb = -0.0\nc = inf\nd = -inf\ne = nan\n"
	               "f = 1e-3\ng = 6.626E-34\n");
	toml_get_float(lookup(doc, "a"), &d);
	assert_true(d == 3.1415);
	toml_get_float(lookup(doc, "b"), &d);
	assert_true(d == 0.0 && signbit(d));
	toml_get_float(lookup(doc, "c"), &d);
	assert_true(isinf(d) && d > 0);
	toml_get_float(lookup(doc, "d"), &d);
	assert_true(isinf(d) && d < 0);
	toml_get_float(lookup(doc, "e"), &d);
	assert_true(isnan(d));
	toml_get_float(lookup(doc, "f"), &d);
	assert_true(d == 0.001);
	toml_get_float(lookup(doc, "g"), &d);
	assert_true(d == 6.626e-34);
	toml_free(doc);
}

static void
datetimes_of_four_kinds(void **state)
{
	struct toml_doc *doc;
	struct toml_datetime dt;

	(void)state;
	doc = parse_ok("odt = 1979-05-27T07:32:00.9999999999-07:30\n"
	               "utc = 1979-05-27 07:32:00Z\n"
	               "ldt = 2000-02-29t23:59:60.5\n"
	               "ld = 2024-02-29\n"
	               "lt = 00:00:01.001\n");

	assert_int_equal(toml_type(lookup(doc, "odt")), TOML_DATETIME);
	toml_get_datetime(lookup(doc, "odt"), &dt);
	assert_int_equal(dt.year, 1979);
	assert_int_equal(dt.month, 5);
	assert_int_equal(dt.day, 27);
	assert_int_equal(dt.hour, 7);
	assert_int_equal(dt.minute, 32);
	assert_int_equal(dt.second, 0);
	/* Cut to nanoseconds, not rounded. */
	assert_int_equal(dt.nanosecond, 999999999);
	assert_int_equal(dt.frac_digits, 10);
	assert_int_equal(dt.offset_minutes, -(7 * 60 + 30));

	toml_get_datetime(lookup(doc, "utc"), &dt);
	assert_int_equal(dt.offset_minutes, 0);
	assert_int_equal(dt.frac_digits, 0);

	assert_int_equal(toml_type(lookup(doc, "ldt")), TOML_DATETIME_LOCAL);
	toml_get_datetime(lookup(doc, "ldt"), &dt);
	assert_int_equal(dt.second, 60);
	assert_int_equal(dt.nanosecond, 500000000);
	assert_int_equal(dt.frac_digits, 1);

	assert_int_equal(toml_type(lookup(doc, "ld")), TOML_DATE_LOCAL);
	toml_get_datetime(lookup(doc, "ld"), &dt);
	assert_int_equal(dt.day, 29);
	assert_int_equal(dt.hour, 0);

	assert_int_equal(toml_type(lookup(doc, "lt")), TOML_TIME_LOCAL);
	toml_get_datetime(lookup(doc, "lt"), &dt);
	assert_int_equal(dt.year, 0);
	assert_int_equal(dt.second, 1);
	assert_int_equal(dt.nanosecond, 1000000);
	toml_free(doc);
}

static void
strings_of_four_kinds(void **state)
{
	struct toml_doc *doc;
	const char *s;
	size_t len;

	(void)state;
	doc = parse_ok(
	    "basic = \"tab\\there \\\"q\\\" \\u00e9 \\U0001F600 \\\\\"\n"
	    "literal = 'C:\\dir\\'\n"
	    "multi = \"\"\"\n"
	    "one \\\n"
	    "    two\n"
	    "three\"\"\"\"\"\n"
	    "raw = '''\n"
	    "x\\n''y'''\n"
	    "nul = \"a\\u0000b\"\n");

	toml_get_string(lookup(doc, "basic"), &s, &len);
	assert_string_equal(s, "tab\there \"q\" \xc3\xa9 \xf0\x9f\x98\x80 \\");
	toml_get_string(lookup(doc, "literal"), &s, &len);
	assert_string_equal(s, "C:\\dir\\");
	/* First newline dropped, line-ending backslash joins, two quotes kept.
	 */
	toml_get_string(lookup(doc, "multi"), &s, &len);
	assert_string_equal(s, "one two\nthree\"\"");
	toml_get_string(lookup(doc, "raw"), &s, &len);
	assert_string_equal(s, "x\\n''y");
	toml_get_string(lookup(doc, "nul"), &s, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(s, "a\0b", 4);
	toml_free(doc);
}

static void
keys_keep_written_order(void **state)
{
	static const char *const order[] = {
	    "zeta", "alpha", "mid", "a", "tbl", "arr"};
	const struct toml_value *root, *a;
	struct toml_doc *doc;

	(void)state;
	doc = parse_ok("zeta = 1\nalpha = 2\nmid.x = 3\na.c = 4\na.b = 5\n"
	               "[tbl]\n[[arr]]\n[[arr]]\n");
	root = toml_root(doc);

	assert_int_equal(toml_table_len(root), 6);
	for (size_t i = 0; i < 6; i++) {
		size_t len;

		assert_string_equal(toml_table_key(root, i, &len), order[i]);
		assert_int_equal(len, strlen(order[i]));
	}
	a = lookup(doc, "a");
	assert_string_equal(toml_table_key(a, 0, NULL), "c");
	assert_string_equal(toml_table_key(a, 1, NULL), "b");
	assert_ptr_equal(toml_table_value(root, 3), a);
	assert_null(toml_table_key(root, 6, NULL));
	assert_null(toml_table_value(root, 6));
	assert_int_equal(toml_array_len(lookup(doc, "arr")), 2);
	toml_free(doc);
}

static void
quoted_keys_with_nul(void **state)
{
	const struct toml_value *root;
	struct toml_doc *doc;
	int64_t v;
	size_t len;

	(void)state;
	doc = parse_ok("\"a\\u0000b\" = 1\n'a.b' = 2\n\"\" = 3\n");
	root = toml_root(doc);

	assert_memory_equal(toml_table_key(root, 0, &len), "a\0b", 4);
	assert_int_equal(len, 3);
	assert_int_equal(toml_get_int(toml_table_getn(root, "a\0b", 3), &v), 0);
	assert_int_equal(v, 1);
	assert_null(toml_table_get(root, "a"));
	assert_int_equal(toml_get_int(toml_table_get(root, "a.b"), &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(toml_get_int(toml_table_get(root, ""), &v), 0);
	assert_int_equal(v, 3);
	toml_free(doc);
}

static void
positions_of_values_and_keys(void **state)
{
	const struct toml_value *root, *t, *arr;
	struct toml_doc *doc;
	struct toml_pos pos;

	(void)state;
	doc = parse_ok("# comment\n"
	               "k = 'v'\n"
	               "\t\"\xc3\xa9\" = [1, \"\xc3\xa9\", 3]\n"
	               "[x.y]\n"
	               "dot.ted = 1\n"
	               "dot.more = 2\n");
	root = toml_root(doc);

	pos = toml_value_pos(lookup(doc, "k"));
	assert_int_equal(pos.line, 2);
	assert_int_equal(pos.col, 5);
	pos = toml_table_key_pos(root, 0);
	assert_int_equal(pos.line, 2);
	assert_int_equal(pos.col, 1);

	/* Columns count characters: a tab and an e-acute are one each. */
	pos = toml_table_key_pos(root, 1);
	assert_int_equal(pos.line, 3);
	assert_int_equal(pos.col, 2);
	arr = toml_table_value(root, 1);
	pos = toml_value_pos(arr);
	assert_int_equal(pos.col, 8);
	pos = toml_value_pos(toml_array_get(arr, 2));
	assert_int_equal(pos.col, 17);

	/* x was created by the header path, y by the header itself. */
	pos = toml_value_pos(lookup(doc, "x"));
	assert_int_equal(pos.line, 4);
	assert_int_equal(pos.col, 2);
	pos = toml_value_pos(lookup(doc, "x.y"));
	assert_int_equal(pos.line, 4);
	assert_int_equal(pos.col, 1);

	/* A dotted key's table: created at its first key, key at the last. */
	t = lookup(doc, "x.y");
	pos = toml_value_pos(lookup(doc, "x.y.dot"));
	assert_int_equal(pos.line, 5);
	assert_int_equal(pos.col, 1);
	pos = toml_table_key_pos(t, 0);
	assert_int_equal(pos.line, 6);
	assert_int_equal(pos.col, 1);
	assert_int_equal(toml_table_key_pos(t, 9).line, 0);
	toml_free(doc);
}

static void
byte_order_mark_is_skipped(void **state)
{
	static const char text[] = "\xef\xbb\xbf"
	                           "a = 1\nb = 2";
	struct toml_doc *doc;
	struct toml_pos pos;

	(void)state;
	doc = parse_ok(text);
	pos = toml_table_key_pos(toml_root(doc), 0);
	assert_int_equal(pos.line, 1);
	assert_int_equal(pos.col, 1);
	pos = toml_value_pos(lookup(doc, "a"));
	assert_int_equal(pos.col, 5);
	toml_free(doc);
}

static void
crlf_line_endings(void **state)
{
	struct toml_doc *doc;
	struct toml_pos pos;
	const char *s;
	size_t len;

	(void)state;
	doc =
	    parse_ok("a = 1\r\n[t]\r\nm = \"\"\"\r\nx\r\ny\"\"\"\r\nz = 2\r\n");
	pos = toml_value_pos(lookup(doc, "t.z"));
	assert_int_equal(pos.line, 6);
	assert_int_equal(pos.col, 5);
	toml_get_string(lookup(doc, "t.m"), &s, &len);
	/* CRLF inside a multi-line string is stored as LF. */
	assert_string_equal(s, "x\ny");
	toml_free(doc);
}

static void
many_array_table_entries(void **state)
{
	const size_t count = 10000;
	const struct toml_value *mounts, *last;
	struct toml_doc *doc;
	struct toml_err err;
	char *text, *p;
	size_t size = count * 64;
	const char *s;
	int64_t v;

	(void)state;
	text = malloc(size);
	assert_non_null(text);
	p = text;
	for (size_t i = 0; i < count; i++)
		p += sprintf(
		    p, "[[mount]]\ndest = \"/m%zu\"\nsize = %zu\n", i, i);

	doc = toml_parse(text, (size_t)(p - text), &err);
	assert_non_null(doc);
	mounts = lookup(doc, "mount");
	assert_int_equal(toml_array_len(mounts), count);
	last = toml_array_get(mounts, count - 1);
	assert_int_equal(
	    toml_get_string(toml_table_get(last, "dest"), &s, NULL), 0);
	assert_string_equal(s, "/m9999");
	assert_int_equal(toml_get_int(toml_table_get(last, "size"), &v), 0);
	assert_int_equal(v, 9999);
	assert_int_equal(toml_value_pos(last).line, 3 * (count - 1) + 1);
	toml_free(doc);
	free(text);
}

static void
many_keys_in_one_table(void **state)
{
	const size_t count = 100000;
	const struct toml_value *root;
	struct toml_doc *doc;
	struct toml_err err;
	char *text, *p, key[32];
	int64_t v;

	(void)state;
	text = malloc(count * 32);
	assert_non_null(text);
	p = text;
	for (size_t i = 0; i < count; i++)
		p += sprintf(p, "key%zu = %zu\n", i, i);
	doc = toml_parse(text, (size_t)(p - text), &err);
	assert_non_null(doc);
	root = toml_root(doc);

	assert_int_equal(toml_table_len(root), count);
	for (size_t i = 0; i < count; i += 997) {
		snprintf(key, sizeof(key), "key%zu", i);
		assert_int_equal(
		    toml_get_int(toml_table_get(root, key), &v), 0);
		assert_int_equal(v, (int64_t)i);
		assert_string_equal(toml_table_key(root, i, NULL), key);
	}
	assert_null(toml_table_get(root, "key100000"));

	/* A duplicate far down is still found through the index. */
	p += sprintf(p, "key777 = 1\n");
	toml_free(doc);
	doc = toml_parse(text, (size_t)(p - text), &err);
	assert_null(doc);
	assert_int_equal(err.pos.line, count + 1);
	assert_string_equal(err.msg,
	    "100001:1: duplicate key key777: already defined at 778:1");
	free(text);
}

static void
one_mebibyte_string(void **state)
{
	const size_t n = 1024 * 1024;
	struct toml_doc *doc;
	struct toml_err err;
	char *text;
	const char *s;
	size_t len;

	(void)state;
	text = malloc(n + 16);
	assert_non_null(text);
	memcpy(text, "s = \"", 5);
	memset(text + 5, 'x', n);
	memcpy(text + 5 + n, "\"\nt = 1", 7);

	doc = toml_parse(text, n + 12, &err);
	assert_non_null(doc);
	assert_int_equal(toml_get_string(lookup(doc, "s"), &s, &len), 0);
	assert_int_equal(len, n);
	assert_int_equal(s[n - 1], 'x');
	assert_int_equal(s[n], '\0');
	assert_int_equal(toml_value_pos(lookup(doc, "t")).line, 2);
	toml_free(doc);
	free(text);
}

/* Writes "a = " and depth '[' then depth ']' into a new buffer. */
static char *
nested_arrays(size_t depth, size_t *len)
{
	char *text = malloc(2 * depth + 8);

	assert_non_null(text);
	memcpy(text, "a = ", 4);
	memset(text + 4, '[', depth);
	memset(text + 4 + depth, ']', depth);
	*len = 4 + 2 * depth;
	return text;
}

static void
nesting_limit(void **state)
{
	struct toml_doc *doc;
	struct toml_err err;
	char *text;
	size_t len;

	(void)state;
	text = nested_arrays(TOML_MAX_DEPTH, &len);
	doc = toml_parse(text, len, &err);
	assert_non_null(doc);
	toml_free(doc);
	free(text);

	text = nested_arrays(TOML_MAX_DEPTH + 1, &len);
	doc = toml_parse(text, len, &err);
	assert_null(doc);
	assert_int_equal(err.pos.line, 1);
	assert_int_equal(err.pos.col, 5 + TOML_MAX_DEPTH);
	assert_string_equal(err.msg, "1:133: nesting is too deep: tables and "
	                             "arrays may be nested at most 128 levels");
	free(text);

	/* Far beyond the limit: an error, not a stack overflow. */
	text = nested_arrays(1000000, &len);
	doc = toml_parse(text, len, &err);
	assert_null(doc);
	assert_int_equal(err.pos.col, 133);
	free(text);
}

static void
nesting_limit_counts_keys(void **state)
{
	struct toml_doc *doc;
	struct toml_err err;
	char text[2048], *p;

	(void)state;
	/* 128 dotted parts make 127 tables and one integer: allowed. */
	p = text;
	for (int i = 0; i < TOML_MAX_DEPTH; i++)
		p += sprintf(p, "%sk", i == 0 ? "" : ".");
	p += sprintf(p, " = 1\n");
	doc = toml_parse(text, (size_t)(p - text), &err);
	assert_non_null(doc);
	toml_free(doc);

	/* A header of 129 parts names a table 129 levels down. */
	p = text;
	p += sprintf(p, "[");
	for (int i = 0; i <= TOML_MAX_DEPTH; i++)
		p += sprintf(p, "%sk", i == 0 ? "" : ".");
	p += sprintf(p, "]\n");
	doc = toml_parse(text, (size_t)(p - text), &err);
	assert_null(doc);
	assert_string_equal(err.msg, "1:258: nesting is too deep: tables and "
	                             "arrays may be nested at most 128 levels");

	/* An inline table inside a header section adds to its depth. */
	p = text;
	p += sprintf(p, "[");
	for (int i = 0; i < TOML_MAX_DEPTH; i++)
		p += sprintf(p, "%sk", i == 0 ? "" : ".");
	p += sprintf(p, "]\nx = {}\n");
	doc = toml_parse(text, (size_t)(p - text), &err);
	assert_null(doc);
	assert_string_equal(err.msg, "2:5: nesting is too deep: tables and "
	                             "arrays may be nested at most 128 levels");
}

/* An invalid document with its expected error. */
struct bad_doc {
	const char *name;
	const char *text;
	size_t len; /* 0: strlen(text) */
	unsigned line, col;
	const char *msg; /* without the "line:col: " prefix */
};

static const struct bad_doc bad_docs[] = {
    {"invalid UTF-8 in string", "a = \"x\xff\"\n", 0, 1, 7,
        "invalid UTF-8: byte 0xFF cannot start a character; save the "
        "file as UTF-8"},
    {"truncated UTF-8", "# \xc3", 0, 1, 3,
        "invalid UTF-8: the character starting with byte 0xC3 is cut off "
        "by the end of the input"},
    {"overlong UTF-8", "a = 1\nb = '\xc0\xaf'", 0, 2, 6,
        "invalid UTF-8: byte 0xC0 cannot start a character; save the file "
        "as UTF-8"},
    {"UTF-8 surrogate", "a = '\xed\xa0\x80'", 0, 1, 6,
        "invalid UTF-8: byte 0xA0 does not continue this character; save "
        "the file as UTF-8"},
    {"NUL byte", "a = \"x\0\"", 8, 1, 7,
        "control character U+0000 is not allowed; inside a basic string "
        "write it as an escape such as \\u0000"},
    {"control character", "a = 1 # \x1b[m", 0, 1, 9,
        "control character U+001B is not allowed; inside a basic string "
        "write it as an escape such as \\u0000"},
    {"bare carriage return", "a = 1\rb = 2", 0, 1, 6,
        "carriage return (U+000D) not followed by a line feed; use LF or "
        "CRLF line endings"},
    {"BOM not at start",
        "\xef\xbb\xbf"
        "a = 1\n\xef\xbb\xbf",
        0, 2, 1,
        "expected a key, found U+FEFF '\xef\xbb\xbf'; bare keys may contain "
        "only A-Z, a-z, 0-9, '_' and '-', other keys need quotes"},
    {"error after CRLF", "a = 1\r\nb = \r\n", 0, 2, 5,
        "expected a value, found end of line"},
    {"integer overflow", "n = 9223372036854775808", 0, 1, 5,
        "integer 9223372036854775808 is out of range "
        "-9223372036854775808 to 9223372036854775807; use a float or a "
        "string for larger numbers"},
    {"negative overflow", "n = -9223372036854775809", 0, 1, 5,
        "integer -9223372036854775809 is out of range "
        "-9223372036854775808 to 9223372036854775807; use a float or a "
        "string for larger numbers"},
    {"hex overflow", "n = 0x8000000000000000", 0, 1, 5,
        "integer '0x8000000000000000' is out of range: the maximum is "
        "0x7fffffffffffffff (9223372036854775807)"},
    {"leading zero", "n = 007", 0, 1, 5,
        "invalid number '007': leading zeros are not allowed"},
    {"double underscore", "n = 1__000", 0, 1, 5,
        "invalid number '1__000': each '_' must stand between two "
        "digits"},
    {"float without fraction", "f = 1.", 0, 1, 5,
        "invalid float '1.': expected a digit after the '.'"},
    {"float overflow", "f = 1e999", 0, 1, 5,
        "float '1e999' is out of range: the largest 64-bit float is about "
        "1.8e308"},
    {"feb 29 in common year", "d = 2023-02-29", 0, 1, 5,
        "invalid date '2023-02-29': day 29 is out of range for February "
        "2023, which has 28 days"},
    {"feb 29 in 1900", "d = 1900-02-29", 0, 1, 5,
        "invalid date '1900-02-29': day 29 is out of range for February "
        "1900, which has 28 days"},
    {"hour 24", "t = 24:00:00", 0, 1, 5,
        "invalid time in '24:00:00': hour 24 is out of range 00 to 23"},
    {"time without seconds", "t = 07:32", 0, 1, 5,
        "invalid time in '07:32': expected HH:MM:SS with two digits each, "
        "optionally followed by a fraction such as .5"},
    {"offset out of range", "t = 2000-01-01T00:00:00+24:00", 0, 1, 5,
        "invalid date-time '2000-01-01T00:00:00+24:00': offset +24:00 is "
        "out of range -23:59 to +23:59"},
    {"bad escape", "s = \"\\x41\"", 0, 1, 6,
        "invalid escape sequence \\x; use \\b, \\t, \\n, \\f, \\r, \\\", "
        "\\\\, \\uXXXX or \\UXXXXXXXX, or a literal string for "
        "backslashes"},
    {"surrogate escape", "s = \"\\uD800\"", 0, 1, 6,
        "invalid escape sequence \\uD800: not a Unicode scalar value "
        "(U+0000 to U+D7FF or U+E000 to U+10FFFF)"},
    {"unterminated string", "s = \"abc\nt = 1", 0, 1, 5,
        "unterminated string: missing closing \" before the end of the "
        "line; use a multi-line string (\"\"\") for text with line "
        "breaks"},
    {"unterminated multi-line", "s = '''\nabc\n", 0, 3, 1,
        "unterminated multi-line string opened on line 1: missing closing "
        "'''"},
    {"bare word value", "a = yes", 0, 1, 5,
        "invalid value 'yes': expected a string in quotes, a number, true, "
        "false, a date-time, an array or an inline table"},
    {"missing equals", "a 1", 0, 1, 3, "expected '=' after key a, found '1'"},
    {"two pairs on a line", "a = 1 b = 2", 0, 1, 7,
        "expected end of line after a key/value pair, found 'b'"},
    {"duplicate key", "a = 1\n\"a\" = 2", 0, 2, 1,
        "duplicate key \"a\": already defined at 1:1"},
    {"duplicate empty key", "\"\" = \"\"\n'' = 1", 0, 2, 1,
        "duplicate key '': already defined at 1:1"},
    {"table defined twice", "[a]\nx = 1\n[a]", 0, 3, 2,
        "table [a] is defined twice: first at 1:1"},
    {"header after dotted key", "[t]\na.b = 1\n[t.a]", 0, 3, 2,
        "cannot define table [t.a]: the key is already a table created by "
        "a dotted key (at 2:1)"},
    {"dotted key into header table", "[a.b]\n[a]\nb.c = 1", 0, 3, 1,
        "cannot add to key b: it is already a table defined by a [table] "
        "header (at 1:1), which dotted keys cannot extend"},
    {"inline table is closed", "a = {b = 1}\n[a.c]", 0, 2, 2,
        "cannot use key a as a table: it is already an inline table "
        "(at 1:5)"},
    {"inline table dotted extend", "a = {b = 1}\na.c = 2", 0, 2, 1,
        "cannot add to key a: it is already an inline table (at 1:5), "
        "which dotted keys cannot extend"},
    {"static array is closed", "a = []\n[[a]]", 0, 2, 3,
        "cannot append to array of tables [[a]]: the key is already an "
        "array (at 1:5)"},
    {"table over array of tables", "[[a]]\n[a]", 0, 2, 2,
        "cannot define table [a]: it is already an array of tables (at "
        "1:1); use [[a]] to add an element"},
    {"newline in inline table", "a = {b = 1,\nc = 2}", 0, 1, 12,
        "expected a key in the inline table opened at 1:5, found end of "
        "line; inline tables stay on one line and take no trailing "
        "comma"},
    {"trailing comma in inline table", "a = {b = 1,}", 0, 1, 12,
        "expected a key in the inline table opened at 1:5, found '}'; "
        "inline tables stay on one line and take no trailing comma"},
    {"unclosed array", "a = [1, 2", 0, 1, 10,
        "expected ',' or ']' after an array element, found end of input; "
        "the array opened at 1:5"},
    {"unclosed header", "[a\nb = 1", 0, 1, 3,
        "expected ']' to close the header, found end of line"},
    {"empty header", "[]", 0, 1, 2,
        "expected a key, found ']'; bare keys may contain only A-Z, a-z, "
        "0-9, '_' and '-', other keys need quotes"},
    {"column counts characters", "'\xc3\xa9\xc3\xa9' = ?", 0, 1, 8,
        "expected a value, found '?'"},
};

static void
invalid_documents(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(bad_docs) / sizeof(bad_docs[0]); k++) {
		const struct bad_doc *b = &bad_docs[k];
		size_t len = b->len != 0 ? b->len : strlen(b->text);
		struct toml_err err;
		struct toml_doc *doc;
		char want[512];

		doc = toml_parse(b->text, len, &err);
		if (doc != NULL) {
			toml_free(doc);
			fail_msg("%s: accepted", b->name);
		}
		snprintf(
		    want, sizeof(want), "%u:%u: %s", b->line, b->col, b->msg);
		if (strcmp(err.msg, want) != 0)
			fail_msg("%s:\n  expected %s\n  found    %s", b->name,
			    want, err.msg);
		assert_int_equal(err.pos.line, b->line);
		assert_int_equal(err.pos.col, b->col);
	}
}

static void
every_prefix_fails_cleanly(void **state)
{
	static const char text[] =
	    "title = \"x\"\n[owner]\nname = 'Tom'\ndob = "
	    "1979-05-27T07:32:00-08:00\n"
	    "[db]\nports = [ 8000, 8001 ]\nt = { a.b = 1, c = [1.5e3] }\n"
	    "[[products]]\nname = \"\"\"\nHammer\\\n \"\"\"\n";
	struct toml_err err;

	(void)state;
	/* Each cut must give a document or a positioned error, never a crash.
	 */
	for (size_t n = 0; n <= sizeof(text) - 1; n++) {
		struct toml_doc *doc = toml_parse(text, n, &err);

		if (doc == NULL) {
			assert_true(err.pos.line >= 1);
			assert_true(err.pos.col >= 1);
		}
		toml_free(doc);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(scalar_getters),
	    cmocka_unit_test(integers_in_every_base),
	    cmocka_unit_test(floats_with_specials),
	    cmocka_unit_test(datetimes_of_four_kinds),
	    cmocka_unit_test(strings_of_four_kinds),
	    cmocka_unit_test(keys_keep_written_order),
	    cmocka_unit_test(quoted_keys_with_nul),
	    cmocka_unit_test(positions_of_values_and_keys),
	    cmocka_unit_test(byte_order_mark_is_skipped),
	    cmocka_unit_test(crlf_line_endings),
	    cmocka_unit_test(many_array_table_entries),
	    cmocka_unit_test(many_keys_in_one_table),
	    cmocka_unit_test(one_mebibyte_string),
	    cmocka_unit_test(nesting_limit),
	    cmocka_unit_test(nesting_limit_counts_keys),
	    cmocka_unit_test(invalid_documents),
	    cmocka_unit_test(every_prefix_fails_cleanly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
