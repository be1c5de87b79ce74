/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A TOML 1.0.0 parser. toml_parse() turns a whole document into a tree of
 * values owned by a struct toml_doc; every value and every key carries the
 * line and column where it was written, so callers can point errors at it.
 * The library depends only on libc.
 *
 * Positions are 1-based. A column counts Unicode characters (not bytes) from
 * the start of the line, so it matches what an editor shows.
 */
#ifndef TOML_H
#define TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Maximum nesting of tables and arrays below the root table, whether
 * written as headers, dotted keys, arrays or inline tables; deeper input is
 * an error. Code that walks a document recursively can rely on it.
 */
#define TOML_MAX_DEPTH 128

enum toml_type {
	TOML_STRING,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_DATETIME,       /* offset date-time */
	TOML_DATETIME_LOCAL, /* local date-time */
	TOML_DATE_LOCAL,
	TOML_TIME_LOCAL,
	TOML_ARRAY,
	TOML_TABLE,
};

/* A position in the source: line and column, both counted from 1. */
struct toml_pos {
	unsigned line;
	unsigned col;
};

/*
 * A date, time or both. Fields that the value's type does not have are 0.
 * nanosecond holds the fraction of a second, cut (not rounded) to 9 digits.
 * offset_minutes is the offset east of UTC; "Z" gives 0.
 */
struct toml_datetime {
	int year, month, day;
	int hour, minute, second;
	int nanosecond;
	int offset_minutes;
	int frac_digits; /* digits written after '.', 0 when none */
};

/*
 * A parse error: where it is and what was expected and found. msg starts
 * with "line:column: " (the same place as pos), so a caller only prefixes
 * the file name.
 */
struct toml_err {
	struct toml_pos pos;
	char msg[256];
};

struct toml_doc;
struct toml_value;

/*
 * Parses len bytes of TOML. Returns a document to free with toml_free(), or
 * NULL with *err filled (pos and msg). The input need not be NUL-terminated
 * and may contain any bytes; invalid UTF-8, control characters and NUL bytes
 * are reported as errors. A leading UTF-8 byte-order mark is skipped.
 * Integers outside int64_t and floats outside the range of double (such as
 * 1e999) are errors too, not clamped or rounded to infinity.
 */
struct toml_doc *toml_parse(const char *data, size_t len, struct toml_err *err);

/* Frees a document and every value in it. NULL is allowed. */
void toml_free(struct toml_doc *doc);

/* Returns the root table of doc. */
const struct toml_value *toml_root(const struct toml_doc *doc);

/* Returns v's type. */
enum toml_type toml_type(const struct toml_value *v);

/* Returns the name of a type for messages: "string", "integer", ... */
const char *toml_type_name(enum toml_type type);

/*
 * Returns where v starts in the source. For a table defined by a header,
 * that is the header's '['; for an implicitly created table, the first key
 * that created it.
 */
struct toml_pos toml_value_pos(const struct toml_value *v);

/*
 * Tables. Keys are kept in the order first written. A key may contain any
 * Unicode character, NUL included (written as \u0000), so key lengths are
 * returned too.
 */
size_t toml_table_len(const struct toml_value *table);
/* Returns key i and stores its byte length in *len (len may be NULL). */
const char *toml_table_key(
    const struct toml_value *table, size_t i, size_t *len);
/* Returns where key i was written (its last definition site for dotted keys).
 */
struct toml_pos toml_table_key_pos(const struct toml_value *table, size_t i);
const struct toml_value *toml_table_value(
    const struct toml_value *table, size_t i);
/* Returns the value under key, or NULL when table has no such key. */
const struct toml_value *toml_table_get(
    const struct toml_value *table, const char *key);
/* Like toml_table_get() for a key of len bytes, which may contain NUL. */
const struct toml_value *toml_table_getn(
    const struct toml_value *table, const char *key, size_t len);

/* Arrays, including arrays of tables. */
size_t toml_array_len(const struct toml_value *array);
const struct toml_value *toml_array_get(
    const struct toml_value *array, size_t i);

/*
 * Scalars. Each getter returns 0 and stores the value, or -1 when v is NULL
 * or of another type. A string is NUL-terminated, may contain NUL bytes
 * (hence *len), and lives as long as the document.
 */
int toml_get_string(const struct toml_value *v, const char **s, size_t *len);
int toml_get_int(const struct toml_value *v, int64_t *out);
int toml_get_float(const struct toml_value *v, double *out);
int toml_get_bool(const struct toml_value *v, bool *out);
/* Works for all four date and time types. */
int toml_get_datetime(const struct toml_value *v, struct toml_datetime *out);

#endif
