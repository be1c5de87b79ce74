/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The structure of a TOML document: key/value pairs, dotted keys, [table]
 * and [[array of tables]] headers, arrays and inline tables, with the rules
 * on which table may be defined or extended from where. Strings come from
 * lexer.c and the other scalars from scalar.c. Recursion happens only for
 * nested arrays and inline tables and stops at TOML_MAX_DEPTH, which bounds the
 * stack whatever the input.
 */
#include "toml_private.h"

#include <stdlib.h>
#include <string.h>

static struct toml_value *parse_value(struct toml_parser *p, unsigned depth);

/* Builds a container at depth, or fails when that is too deep. */
static struct toml_value *
new_container(struct toml_parser *p, enum toml_type type, unsigned depth,
    size_t off, struct toml_pos pos)
{
	struct toml_value *v;

	if (depth > TOML_MAX_DEPTH) {
		toml_fail(p, off,
		    "nesting is too deep: tables and arrays may "
		    "be nested at most %d levels",
		    TOML_MAX_DEPTH);
		return NULL;
	}
	v = toml_value_new(p->doc, type, pos);
	if (v == NULL) {
		toml_fail_nomem(p);
		return NULL;
	}
	v->depth = (uint16_t)depth;
	return v;
}

/* Names how an existing value came to be, for "already defined" errors. */
static const char *
defined_as(const struct toml_value *v)
{
	if (v->type == TOML_TABLE) {
		if (v->flags & TOML_T_INLINE)
			return "an inline table";
		if (v->flags & TOML_T_DOTTED)
			return "a table created by a dotted key";
		if (v->flags & TOML_T_HEADER)
			return "a table defined by a [table] header";
		return "a table";
	}
	if (v->type == TOML_ARRAY)
		return v->flags & TOML_A_TABLES ? "an array of tables"
		                                : "an array";
	switch (v->type) {
	case TOML_INTEGER:
		return "an integer";
	case TOML_DATETIME:
		return "an offset date-time";
	default:
		break;
	}
	/* The other scalar type names start with a consonant. */
	static const char *const with_article[] = {
	    [TOML_STRING] = "a string",
	    [TOML_FLOAT] = "a float",
	    [TOML_BOOL] = "a boolean",
	    [TOML_DATETIME_LOCAL] = "a local date-time",
	    [TOML_DATE_LOCAL] = "a local date",
	    [TOML_TIME_LOCAL] = "a local time",
	};
	return with_article[v->type];
}

/*
 * Adds the key in scratch to table with a NULL value, after checking that
 * it is new. key_start..key_end is the whole key as written, for messages.
 */
static struct toml_entry *
add_key(struct toml_parser *p, struct toml_value *table, size_t part_off,
    size_t key_start, size_t key_end)
{
	uint64_t hash =
	    toml_key_hash(table->u.tab.hash_seed, p->scratch, p->scratch_len);
	struct toml_entry *e;
	char key_text[64];

	e = toml_table_find(table, p->scratch, p->scratch_len, hash);
	if (e != NULL) {
		toml_fail(p, key_start,
		    "duplicate key %s: already defined "
		    "at %u:%u",
		    toml_span(p->buf + key_start, key_end - key_start, key_text,
		        sizeof(key_text)),
		    e->pos.line, e->pos.col);
		return NULL;
	}
	e = toml_table_add(p->doc, table, p->scratch, p->scratch_len, hash,
	    toml_pos_at(p, part_off));
	if (e == NULL)
		toml_fail_nomem(p);
	return e;
}

/* Returns the entry of the key in scratch, or NULL when table has none. */
static struct toml_entry *
find_key(const struct toml_value *table, const struct toml_parser *p)
{
	return toml_table_find(table, p->scratch, p->scratch_len,
	    toml_key_hash(table->u.tab.hash_seed, p->scratch, p->scratch_len));
}

/*
 * Creates a table under the key in scratch. The caller has made sure the
 * key is new. Returns the table, or NULL with the error set.
 */
static struct toml_value *
add_table(struct toml_parser *p, struct toml_value *parent, unsigned flags,
    size_t part_off, size_t key_start, size_t key_end, struct toml_pos pos)
{
	struct toml_value *t;
	struct toml_entry *e;

	t = new_container(p, TOML_TABLE, parent->depth + 1, part_off, pos);
	if (t == NULL)
		return NULL;
	t->flags = flags;
	e = add_key(p, parent, part_off, key_start, key_end);
	if (e == NULL)
		return NULL;
	e->value = t;
	return t;
}

/*
 * Steps from table through the dotted-key part in scratch (not the last
 * part), creating the table when it is missing. An existing table may be
 * entered only if dotted keys created it or a header only named it as a
 * parent. Tables defined by a header or written inline are closed to
 * dotted keys.
 */
static struct toml_value *
dotted_step(struct toml_parser *p, struct toml_value *table, size_t part_off,
    size_t key_start, size_t key_end)
{
	struct toml_entry *e = find_key(table, p);
	struct toml_value *v;
	char key_text[64];

	if (e == NULL)
		return add_table(p, table, TOML_T_DOTTED, part_off, key_start,
		    key_end, toml_pos_at(p, part_off));

	v = e->value;
	if (v->type == TOML_TABLE &&
	    (v->flags & (TOML_T_HEADER | TOML_T_INLINE)) == 0) {
		/* Once extended by dotted keys, a header may not define it. */
		v->flags = TOML_T_DOTTED;
		e->pos = toml_pos_at(p, part_off);
		return v;
	}
	toml_fail(p, key_start,
	    "cannot add to key %s: it is already %s "
	    "(at %u:%u), which dotted keys cannot extend",
	    toml_span(p->buf + key_start, key_end - key_start, key_text,
	        sizeof(key_text)),
	    defined_as(v), v->pos.line, v->pos.col);
	return NULL;
}

/*
 * Parses a key/value pair at the cursor into table: a key of one or more
 * dotted parts, '=', and a value.
 */
static int
parse_keyval(struct toml_parser *p, struct toml_value *table)
{
	const size_t key_start = p->off;
	struct toml_entry *e;
	struct toml_value *v;
	size_t part_off, key_end;
	char found[24], key_text[64];
	size_t index;

	for (;;) {
		part_off = p->off;
		if (toml_scan_key_part(p) == -1)
			return -1;
		key_end = p->off;
		toml_skip_ws(p);
		if (p->off >= p->len || p->buf[p->off] != '.')
			break;
		table = dotted_step(p, table, part_off, key_start, key_end);
		if (table == NULL)
			return -1;
		p->off++;
		toml_skip_ws(p);
	}

	if (p->off >= p->len || p->buf[p->off] != '=')
		return toml_fail(p, p->off,
		    "expected '=' after key %s, found %s",
		    toml_span(p->buf + key_start, key_end - key_start, key_text,
		        sizeof(key_text)),
		    toml_found(p, p->off, found, sizeof(found)));
	e = add_key(p, table, part_off, key_start, key_end);
	if (e == NULL)
		return -1;
	/* Entries move when the table grows, so keep the index. */
	index = (size_t)(e - table->u.tab.entries);

	p->off++;
	toml_skip_ws(p);
	v = parse_value(p, table->depth + 1);
	if (v == NULL)
		return -1;
	table->u.tab.entries[index].value = v;
	return 0;
}

/* Skips spaces, tabs, line breaks and comments, as allowed inside arrays. */
static void
skip_array_space(struct toml_parser *p)
{
	for (;;) {
		toml_skip_ws(p);
		if (toml_at_newline(p)) {
			toml_skip_newline(p);
		} else if (p->off < p->len && p->buf[p->off] == '#') {
			while (p->off < p->len && !toml_at_newline(p))
				p->off++;
		} else {
			return;
		}
	}
}

/* Parses an array with the cursor on its '['. */
static struct toml_value *
parse_array(struct toml_parser *p, unsigned depth)
{
	const size_t start = p->off;
	struct toml_value *array, *item;
	char found[24];

	array =
	    new_container(p, TOML_ARRAY, depth, start, toml_pos_at(p, start));
	if (array == NULL)
		return NULL;
	p->off++;

	for (;;) {
		skip_array_space(p);
		if (p->off < p->len && p->buf[p->off] == ']')
			break;
		item = parse_value(p, depth + 1);
		if (item == NULL)
			return NULL;
		if (toml_array_push(p->doc, array, item) == -1) {
			toml_fail_nomem(p);
			return NULL;
		}
		skip_array_space(p);
		if (p->off < p->len && p->buf[p->off] == ',') {
			p->off++;
			continue;
		}
		if (p->off < p->len && p->buf[p->off] == ']')
			break;
		toml_fail(p, p->off,
		    "expected ',' or ']' after an array "
		    "element, found %s; the array opened at %u:%u",
		    toml_found(p, p->off, found, sizeof(found)),
		    array->pos.line, array->pos.col);
		return NULL;
	}
	p->off++;
	return array;
}

/*
 * Parses an inline table with the cursor on its '{'. TOML 1.0.0 keeps an
 * inline table on one line, with no trailing comma.
 */
static struct toml_value *
parse_inline_table(struct toml_parser *p, unsigned depth)
{
	const size_t start = p->off;
	struct toml_value *table;
	char found[24];

	table =
	    new_container(p, TOML_TABLE, depth, start, toml_pos_at(p, start));
	if (table == NULL)
		return NULL;
	p->off++;
	toml_skip_ws(p);

	if (p->off < p->len && p->buf[p->off] == '}') {
		p->off++;
		table->flags = TOML_T_INLINE;
		return table;
	}
	for (;;) {
		if (toml_at_newline(p) || p->off >= p->len ||
		    p->buf[p->off] == '}') {
			toml_fail(p, p->off,
			    "expected a key in the inline "
			    "table opened at %u:%u, found %s; inline tables "
			    "stay on one line and take no trailing comma",
			    table->pos.line, table->pos.col,
			    toml_found(p, p->off, found, sizeof(found)));
			return NULL;
		}
		if (parse_keyval(p, table) == -1)
			return NULL;
		toml_skip_ws(p);
		if (p->off < p->len && p->buf[p->off] == ',') {
			p->off++;
			toml_skip_ws(p);
			continue;
		}
		if (p->off < p->len && p->buf[p->off] == '}')
			break;
		toml_fail(p, p->off,
		    "expected ',' or '}' in the inline table "
		    "opened at %u:%u, found %s; inline tables stay on one "
		    "line",
		    table->pos.line, table->pos.col,
		    toml_found(p, p->off, found, sizeof(found)));
		return NULL;
	}
	p->off++;
	table->flags = TOML_T_INLINE;
	return table;
}

/* Parses the value at the cursor, which will sit at depth in the tree. */
static struct toml_value *
parse_value(struct toml_parser *p, unsigned depth)
{
	char found[24];

	if (p->off >= p->len || toml_at_newline(p) || p->buf[p->off] == '#') {
		toml_fail(p, p->off, "expected a value, found %s",
		    p->off < p->len && p->buf[p->off] == '#'
		        ? "a comment"
		        : toml_found(p, p->off, found, sizeof(found)));
		return NULL;
	}
	switch (p->buf[p->off]) {
	case '"':
	case '\'':
		return toml_scan_string(p);
	case '[':
		return parse_array(p, depth);
	case '{':
		return parse_inline_table(p, depth);
	default:
		return toml_scan_bare(p);
	}
}

/*
 * Steps from table through a header part in scratch that is not the last.
 * Missing tables are created as implicit parents; an array of tables is
 * entered at its last element.
 */
static struct toml_value *
header_step(struct toml_parser *p, struct toml_value *table, size_t part_off,
    size_t key_start, size_t key_end)
{
	struct toml_entry *e = find_key(table, p);
	struct toml_value *v;
	char key_text[64];

	if (e == NULL)
		return add_table(p, table, TOML_T_IMPLICIT, part_off, key_start,
		    key_end, toml_pos_at(p, part_off));

	v = e->value;
	if (v->type == TOML_TABLE && (v->flags & TOML_T_INLINE) == 0)
		return v;
	if (v->type == TOML_ARRAY && (v->flags & TOML_A_TABLES))
		return v->u.arr.items[v->u.arr.len - 1];
	toml_fail(p, key_start,
	    "cannot use key %s as a table: it is already "
	    "%s (at %u:%u)",
	    toml_span(p->buf + key_start, key_end - key_start, key_text,
	        sizeof(key_text)),
	    defined_as(v), v->pos.line, v->pos.col);
	return NULL;
}

/* Defines the table named by the last part of a [header]. */
static struct toml_value *
define_table(struct toml_parser *p, struct toml_value *parent, size_t part_off,
    size_t key_start, size_t key_end, struct toml_pos pos)
{
	struct toml_entry *e = find_key(parent, p);
	struct toml_value *v;
	char key_text[64];

	toml_span(p->buf + key_start, key_end - key_start, key_text,
	    sizeof(key_text));
	if (e == NULL)
		return add_table(p, parent, TOML_T_HEADER, part_off, key_start,
		    key_end, pos);

	v = e->value;
	if (v->type == TOML_TABLE && v->flags == TOML_T_IMPLICIT) {
		v->flags = TOML_T_HEADER;
		v->pos = pos;
		return v;
	}
	if (v->type == TOML_TABLE && v->flags == TOML_T_HEADER)
		toml_fail(p, key_start,
		    "table [%s] is defined twice: first "
		    "at %u:%u",
		    key_text, v->pos.line, v->pos.col);
	else if (v->type == TOML_ARRAY && (v->flags & TOML_A_TABLES))
		toml_fail(p, key_start,
		    "cannot define table [%s]: it is "
		    "already an array of tables (at %u:%u); use [[%s]] to add "
		    "an element",
		    key_text, v->pos.line, v->pos.col, key_text);
	else
		toml_fail(p, key_start,
		    "cannot define table [%s]: the key "
		    "is already %s (at %u:%u)",
		    key_text, defined_as(v), v->pos.line, v->pos.col);
	return NULL;
}

/* Adds an element to the array of tables named by the last part of [[header]].
 */
static struct toml_value *
append_table(struct toml_parser *p, struct toml_value *parent, size_t part_off,
    size_t key_start, size_t key_end, struct toml_pos pos)
{
	struct toml_entry *e = find_key(parent, p);
	struct toml_value *array, *table;
	char key_text[64];

	if (e == NULL) {
		array = new_container(
		    p, TOML_ARRAY, parent->depth + 1, part_off, pos);
		if (array == NULL)
			return NULL;
		array->flags = TOML_A_TABLES;
		e = add_key(p, parent, part_off, key_start, key_end);
		if (e == NULL)
			return NULL;
		e->value = array;
	} else if (e->value->type == TOML_ARRAY &&
	           (e->value->flags & TOML_A_TABLES)) {
		array = e->value;
	} else {
		toml_span(p->buf + key_start, key_end - key_start, key_text,
		    sizeof(key_text));
		toml_fail(p, key_start,
		    "cannot append to array of tables "
		    "[[%s]]: the key is already %s (at %u:%u)",
		    key_text, defined_as(e->value), e->value->pos.line,
		    e->value->pos.col);
		return NULL;
	}

	table = new_container(p, TOML_TABLE, array->depth + 1, part_off, pos);
	if (table == NULL)
		return NULL;
	table->flags = TOML_T_HEADER;
	if (toml_array_push(p->doc, array, table) == -1) {
		toml_fail_nomem(p);
		return NULL;
	}
	return table;
}

/* Parses a [table] or [[array of tables]] header and makes it current. */
static int
parse_header(struct toml_parser *p)
{
	const size_t start = p->off;
	const struct toml_pos pos = toml_pos_at(p, start);
	struct toml_value *table = p->doc->root;
	size_t part_off, key_start, key_end;
	int is_array;
	char found[24];

	is_array = p->off + 1 < p->len && p->buf[p->off + 1] == '[';
	p->off += is_array ? 2 : 1;
	toml_skip_ws(p);
	key_start = p->off;

	for (;;) {
		part_off = p->off;
		if (toml_scan_key_part(p) == -1)
			return -1;
		key_end = p->off;
		toml_skip_ws(p);
		if (p->off >= p->len || p->buf[p->off] != '.')
			break;
		table = header_step(p, table, part_off, key_start, key_end);
		if (table == NULL)
			return -1;
		p->off++;
		toml_skip_ws(p);
	}

	if (p->off >= p->len || p->buf[p->off] != ']' ||
	    (is_array && (p->off + 1 >= p->len || p->buf[p->off + 1] != ']')))
		return toml_fail(p, p->off,
		    "expected '%s' to close the "
		    "header, found %s",
		    is_array ? "]]" : "]",
		    toml_found(p,
		        is_array && p->off < p->len && p->buf[p->off] == ']'
		            ? p->off + 1
		            : p->off,
		        found, sizeof(found)));
	p->off += is_array ? 2 : 1;

	if (is_array)
		table =
		    append_table(p, table, part_off, key_start, key_end, pos);
	else
		table =
		    define_table(p, table, part_off, key_start, key_end, pos);
	if (table == NULL)
		return -1;
	p->current = table;
	return 0;
}

/* After a header or key/value pair: only a comment may follow on the line. */
static int
end_line(struct toml_parser *p, const char *after)
{
	char found[24];

	toml_skip_ws(p);
	if (p->off < p->len && p->buf[p->off] == '#')
		while (p->off < p->len && !toml_at_newline(p))
			p->off++;
	if (p->off >= p->len)
		return 0;
	if (toml_at_newline(p)) {
		toml_skip_newline(p);
		return 0;
	}
	return toml_fail(p, p->off, "expected end of line after %s, found %s",
	    after, toml_found(p, p->off, found, sizeof(found)));
}

static int
parse_document(struct toml_parser *p)
{
	while (p->off < p->len) {
		toml_skip_ws(p);
		if (p->off >= p->len)
			break;
		if (toml_at_newline(p)) {
			toml_skip_newline(p);
			continue;
		}
		if (p->buf[p->off] == '#') {
			if (end_line(p, "a comment") == -1)
				return -1;
			continue;
		}
		if (p->buf[p->off] == '[') {
			if (parse_header(p) == -1 ||
			    end_line(p, "a table header") == -1)
				return -1;
			continue;
		}
		if (parse_keyval(p, p->current) == -1 ||
		    end_line(p, "a key/value pair") == -1)
			return -1;
	}
	return 0;
}

struct toml_doc *
toml_parse(const char *data, size_t len, struct toml_err *err)
{
	struct toml_err unused;
	struct toml_parser p;
	struct toml_doc *doc;
	int r;

	if (err == NULL)
		err = &unused;
	memset(&p, 0, sizeof(p));
	memset(err, 0, sizeof(*err));
	p.buf = data;
	p.len = len;
	p.line = 1;
	p.err = err;
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		p.off = 3;
	p.line_start = p.off;
	p.col_off = p.off;
	p.col = 1;

	doc = toml_doc_new();
	if (doc == NULL) {
		toml_fail_nomem(&p);
		return NULL;
	}
	p.doc = doc;
	doc->root = toml_value_new(doc, TOML_TABLE, (struct toml_pos){1, 1});
	if (doc->root == NULL) {
		toml_fail_nomem(&p);
		toml_free(doc);
		return NULL;
	}
	doc->root->flags = TOML_T_HEADER;
	p.current = doc->root;

	r = toml_check_text(&p);
	if (r == 0)
		r = parse_document(&p);
	free(p.scratch);
	if (r == -1) {
		toml_free(doc);
		return NULL;
	}
	return doc;
}
