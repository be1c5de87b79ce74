/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of nemctl's output: aligned tables, "key  value" lists, JSON
 * documents and strings, sizes, times and reply field accessors. Output
 * goes to a memory stream and is compared byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nemctl.h"

/* A memory stream whose text is read back after fclose. */
struct memout {
	char *buf;
	size_t len;
	FILE *fp;
};

static void
mem_open(struct memout *m)
{
	m->buf = NULL;
	m->len = 0;
	m->fp = open_memstream(&m->buf, &m->len);
	assert_non_null(m->fp);
}

static const char *
mem_close(struct memout *m)
{
	assert_int_equal(fclose(m->fp), 0);
	return m->buf;
}

static void
test_table_aligns_columns(void **state)
{
	static const char *const heads[] = { "NAME", "STATE", "PID" };
	static const char *const r1[] = { "web", "ready", "1234" };
	static const char *const r2[] = { "database", NULL, "7" };
	struct table t;
	struct nem_err err;
	struct memout m;

	assert_int_equal(table_init(&t, 3, heads, &err), 0);
	assert_int_equal(table_add(&t, r1, &err), 0);
	assert_int_equal(table_add(&t, r2, &err), 0);
	mem_open(&m);
	table_print(&t, m.fp);
	table_free(&t);
	assert_string_equal(mem_close(&m),
	    "NAME      STATE  PID\n"
	    "web       ready  1234\n"
	    "database  -      7\n");
	free(m.buf);
}

static void
test_table_many_rows_and_escapes(void **state)
{
	static const char *const heads[] = { "N" };
	struct table t;
	struct nem_err err;
	struct memout m;
	const char *out;

	assert_int_equal(table_init(&t, 1, heads, &err), 0);
	for (int i = 0; i < 100; i++) {
		const char *row[] = { i == 50 ? "evil\033[2J" : "x" };

		assert_int_equal(table_add(&t, row, &err), 0);
	}
	mem_open(&m);
	table_print(&t, m.fp);
	table_free(&t);
	out = mem_close(&m);
	assert_null(strchr(out, '\033'));
	assert_non_null(strstr(out, "evil?[2J\n"));
	free(m.buf);
}

static void
test_table_rejects_bad_width(void **state)
{
	static const char *const heads[TABLE_MAX_COLS + 1] = { "a" };
	struct table t;
	struct nem_err err;

	assert_int_equal(table_init(&t, 0, heads, &err), -1);
	assert_int_equal(table_init(&t, TABLE_MAX_COLS + 1, heads, &err), -1);
}

static void
test_table_fields(void **state)
{
	bson_t doc = BSON_INITIALIZER;
	struct memout m;

	BSON_APPEND_UTF8(&doc, "name", "nem-rootd");
	BSON_APPEND_INT64(&doc, "pid", 42);
	BSON_APPEND_INT32(&doc, "last_status", -1);
	BSON_APPEND_BOOL(&doc, "autostart", true);
	BSON_APPEND_UTF8(&doc, "reason", "");
	mem_open(&m);
	table_print_fields(&doc, m.fp);
	bson_destroy(&doc);
	assert_string_equal(mem_close(&m),
	    "name         nem-rootd\n"
	    "pid          42\n"
	    "last_status  -1\n"
	    "autostart    yes\n"
	    "reason       -\n");
	free(m.buf);
}

static void
test_table_json_document(void **state)
{
	bson_t doc = BSON_INITIALIZER;
	struct memout m;

	BSON_APPEND_UTF8(&doc, "name", "a\"b");
	BSON_APPEND_INT64(&doc, "size", 5000000000);
	mem_open(&m);
	table_print_json(&doc, m.fp);
	bson_destroy(&doc);
	assert_string_equal(mem_close(&m),
	    "{ \"name\" : \"a\\\"b\", \"size\" : 5000000000 }\n");
	free(m.buf);
}

static void
test_table_json_string(void **state)
{
	struct memout m;

	mem_open(&m);
	table_json_string("a\"\\\n\t\x01z", 7, m.fp);
	fputc(' ', m.fp);
	table_json_string("\xc3\xa9", 2, m.fp);
	fputc(' ', m.fp);
	table_json_string("\xff" "a", 2, m.fp);
	assert_string_equal(mem_close(&m),
	    "\"a\\\"\\\\\\n\\t\\u0001z\" \"\xc3\xa9\" \"\\u00ffa\"");
	free(m.buf);
}

static void
test_table_size(void **state)
{
	char buf[32];

	table_size(0, buf, sizeof(buf));
	assert_string_equal(buf, "0 B");
	table_size(1023, buf, sizeof(buf));
	assert_string_equal(buf, "1023 B");
	table_size(1536, buf, sizeof(buf));
	assert_string_equal(buf, "1.5 KiB");
	table_size(3ull << 30, buf, sizeof(buf));
	assert_string_equal(buf, "3.0 GiB");
	table_size(UINT64_MAX, buf, sizeof(buf));
	assert_string_equal(buf, "16.0 EiB");
}

static void
test_table_time(void **state)
{
	char buf[32];

	table_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	table_time(1700000000, buf, sizeof(buf));
	assert_string_equal(buf, "2023-11-14 22:13:20");
	table_time(-5, buf, sizeof(buf));
	assert_string_equal(buf, "-");
}

static void
test_table_doc_accessors(void **state)
{
	bson_t doc = BSON_INITIALIZER, sub;

	BSON_APPEND_DOCUMENT_BEGIN(&doc, "jail", &sub);
	BSON_APPEND_UTF8(&sub, "state", "ready");
	BSON_APPEND_INT32(&sub, "pid", 12);
	BSON_APPEND_BOOL(&sub, "valid", true);
	bson_append_document_end(&doc, &sub);
	BSON_APPEND_INT64(&doc, "n", 7);

	assert_string_equal(doc_str(&doc, "jail.state"), "ready");
	assert_string_equal(doc_str(&doc, "jail.pid"), "");
	assert_string_equal(doc_str(&doc, "missing"), "");
	assert_int_equal(doc_int(&doc, "jail.pid"), 12);
	assert_int_equal(doc_int(&doc, "n"), 7);
	assert_int_equal(doc_int(&doc, "jail.state"), 0);
	assert_true(doc_bool(&doc, "jail.valid"));
	assert_false(doc_bool(&doc, "n"));
	bson_destroy(&doc);
}

/* Formats one exit_code/signal pair as table_exit does. */
static const char *
exit_text(int32_t code, int32_t sig, bool with_code, char *buf, size_t size)
{
	bson_t doc = BSON_INITIALIZER;

	if (with_code)
		BSON_APPEND_INT32(&doc, "exit_code", code);
	BSON_APPEND_INT32(&doc, "signal", sig);
	table_exit(&doc, buf, size);
	bson_destroy(&doc);
	return buf;
}

static void
test_table_exit(void **state)
{
	char buf[48];

	assert_string_equal(exit_text(0, 0, true, buf, sizeof(buf)),
	    "exited 0");
	assert_string_equal(exit_text(1, 0, true, buf, sizeof(buf)),
	    "exited 1");
	assert_string_equal(exit_text(126, 0, true, buf, sizeof(buf)),
	    "exited 126");
	assert_string_equal(exit_text(-1, 9, true, buf, sizeof(buf)),
	    "killed by SIGKILL");
	assert_string_equal(exit_text(-1, 15, true, buf, sizeof(buf)),
	    "killed by SIGTERM");
	assert_string_equal(exit_text(-1, 0, true, buf, sizeof(buf)), "-");
	assert_string_equal(exit_text(0, 0, false, buf, sizeof(buf)), "-");
}

/* Prints a push reply for an image with the given version ("" for none). */
static char *
pushed_text(const char *version)
{
	bson_t doc = BSON_INITIALIZER, image;
	struct memout m;

	BSON_APPEND_DOCUMENT_BEGIN(&doc, "image", &image);
	BSON_APPEND_UTF8(&image, "name", "bb");
	if (version[0] != '\0')
		BSON_APPEND_UTF8(&image, "version", version);
	BSON_APPEND_INT64(&image, "size", 4096);
	BSON_APPEND_UTF8(&image, "sha256", "ab12");
	bson_append_document_end(&doc, &image);
	mem_open(&m);
	table_print_pushed(&doc, m.fp);
	bson_destroy(&doc);
	mem_close(&m);
	return m.buf;
}

static void
test_table_pushed_line(void **state)
{
	char *text;

	text = pushed_text("1.2.0");
	assert_string_equal(text, "pushed image bb 1.2.0 (4.0 KiB, sha256 ab12)\n");
	free(text);
	text = pushed_text("");
	assert_string_equal(text, "pushed image bb (4.0 KiB, sha256 ab12)\n");
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_aligns_columns),
		cmocka_unit_test(test_table_many_rows_and_escapes),
		cmocka_unit_test(test_table_rejects_bad_width),
		cmocka_unit_test(test_table_fields),
		cmocka_unit_test(test_table_json_document),
		cmocka_unit_test(test_table_json_string),
		cmocka_unit_test(test_table_size),
		cmocka_unit_test(test_table_time),
		cmocka_unit_test(test_table_doc_accessors),
		cmocka_unit_test(test_table_exit),
		cmocka_unit_test(test_table_pushed_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
