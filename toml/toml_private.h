/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Internals of the TOML parser, shared by model.c (the value tree and its
 * memory), lexer.c (input checks, positions, errors, keys and strings),
 * scalar.c (numbers, booleans, dates and times) and parse.c (document
 * structure: keys, tables, arrays). Nothing here is part of the API in
 * toml.h.
 */
#ifndef TOML_PRIVATE_H
#define TOML_PRIVATE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "toml.h"

/* Table flags: how a table came to exist, which decides what may extend it. */
#define TOML_T_IMPLICIT 0x01 /* parent named by a [header] path only */
#define TOML_T_HEADER 0x02   /* defined by [header] or [[header]] */
#define TOML_T_DOTTED 0x04   /* created by a dotted key */
#define TOML_T_INLINE 0x08   /* inline table: closed once written */
/* Array flag: created by [[header]]; arrays without it are closed. */
#define TOML_A_TABLES 0x10

/* A key of a table, with the position of its last definition. */
struct toml_entry {
	const char *key; /* NUL-terminated, may also contain NUL */
	size_t key_len;
	uint64_t hash;
	struct toml_pos pos;
	struct toml_value *value;
};

struct toml_value {
	enum toml_type type;
	uint16_t flags; /* TOML_T_* or TOML_A_TABLES */
	uint16_t depth; /* containers above this value; root is 0 */
	struct toml_pos pos;
	union {
		struct {
			const char *ptr; /* NUL-terminated */
			size_t len;
		} str;
		int64_t integer;
		double fp;
		bool boolean;
		struct toml_datetime dt;
		struct {
			struct toml_value **items;
			size_t len, cap;
		} arr;
		struct {
			struct toml_entry *entries;
			size_t len, cap;
			/*
			 * Open-addressing index over entries, built once the
			 * table has TOML_INDEX_MIN keys: slot values are entry
			 * index + 1, and 0 marks a free slot. nslots is 0 or a
			 * power of two.
			 */
			uint32_t *slots;
			size_t nslots;
			uint64_t hash_seed; /* the document's */
		} tab;
	} u;
};

/* Tables with fewer keys are searched linearly. */
#define TOML_INDEX_MIN 8

struct toml_chunk;

/*
 * A document owns one arena: every value, string, key and vector lives in
 * it and toml_free() releases it all at once, so no error path can leak.
 */
struct toml_doc {
	struct toml_chunk *chunks;
	struct toml_value *root;
	uint64_t hash_seed;
};

/* The parser state: the input, a cursor with its line, and the first error. */
struct toml_parser {
	const char *buf;
	size_t len;
	size_t off;        /* next byte to read */
	unsigned line;     /* line of off, from 1 */
	size_t line_start; /* offset of the first byte of that line */
	size_t col_off;    /* cache: byte offset on the current line... */
	unsigned col;      /* ...and its column */

	struct toml_doc *doc;
	struct toml_err *err;
	int failed;

	char *scratch; /* decoded text of the last key or string */
	size_t scratch_len;
	size_t scratch_cap;

	struct toml_value *current; /* table that takes key/value pairs */
};

/* model.c */
struct toml_doc *toml_doc_new(void);
void *toml_arena_alloc(struct toml_doc *doc, size_t size);
char *toml_arena_strdup(struct toml_doc *doc, const char *s, size_t len);
struct toml_value *toml_value_new(
    struct toml_doc *doc, enum toml_type type, struct toml_pos pos);
uint64_t toml_key_hash(uint64_t seed, const char *key, size_t len);
struct toml_entry *toml_table_find(
    const struct toml_value *table, const char *key, size_t len, uint64_t hash);
struct toml_entry *toml_table_add(struct toml_doc *doc,
    struct toml_value *table, const char *key, size_t len, uint64_t hash,
    struct toml_pos pos);
int toml_array_push(
    struct toml_doc *doc, struct toml_value *array, struct toml_value *item);

/* lexer.c */
int toml_check_text(struct toml_parser *p);
struct toml_pos toml_pos_at(struct toml_parser *p, size_t off);
int toml_fail(struct toml_parser *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int toml_fail_nomem(struct toml_parser *p);
const char *toml_found(
    struct toml_parser *p, size_t off, char *buf, size_t size);
const char *toml_span(const char *s, size_t len, char *buf, size_t size);
int toml_at_newline(const struct toml_parser *p);
void toml_skip_newline(struct toml_parser *p);
void toml_skip_ws(struct toml_parser *p);
int toml_scratch_reset(struct toml_parser *p);
int toml_scratch_put(struct toml_parser *p, const char *s, size_t n);
int toml_hex_value(int c);
int toml_scan_key_part(struct toml_parser *p);
struct toml_value *toml_scan_string(struct toml_parser *p);

/* scalar.c */
struct toml_value *toml_scan_bare(struct toml_parser *p);

#endif
