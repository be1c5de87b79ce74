/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The lexical layer of the TOML parser: the up-front check of the whole
 * input (UTF-8 and control characters), line and column bookkeeping, error
 * messages, and the scanners for keys and strings. scalar.c scans the
 * unquoted values and parse.c builds the tree.
 */
#include "toml_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_bare_key_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       is_digit(c) || c == '_' || c == '-';
}

/*
 * Returns the length of the UTF-8 character starting with byte c, or 0 when
 * c cannot start one. Continuation bytes are checked by the caller.
 */
static size_t
utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/* Decodes one checked UTF-8 sequence of n bytes. */
static unsigned
utf8_decode(const char *s, size_t n)
{
	static const unsigned char lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
	unsigned cp = (unsigned char)s[0] & lead_mask[n];

	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | ((unsigned char)s[i] & 0x3f);
	return cp;
}

/* Returns the allowed range of the second byte of a sequence starting with c.
 */
static void
utf8_second_range(unsigned char c, unsigned char *lo, unsigned char *hi)
{
	*lo = 0x80;
	*hi = 0xbf;
	if (c == 0xe0)
		*lo = 0xa0; /* shorter forms are overlong */
	else if (c == 0xed)
		*hi = 0x9f; /* U+D800-U+DFFF are surrogates */
	else if (c == 0xf0)
		*lo = 0x90; /* overlong */
	else if (c == 0xf4)
		*hi = 0x8f; /* above U+10FFFF */
}

/* Moves the error position to a line the cursor has not reached yet. */
static int
fail_on_line(struct toml_parser *p, unsigned line, size_t line_start,
    size_t off, const char *fmt, unsigned value)
{
	p->line = line;
	p->line_start = line_start;
	return toml_fail(p, off, fmt, value);
}

/*
 * Checks the whole input once before parsing: it must be UTF-8, and the
 * only control characters allowed anywhere are tab, LF and the CR of a
 * CRLF pair. After this, the scanners can copy bytes without checks.
 * Returns 0, or -1 with the error set at the offending byte.
 */
int
toml_check_text(struct toml_parser *p)
{
	const unsigned char *s = (const unsigned char *)p->buf;
	unsigned line = p->line;
	size_t line_start = p->line_start;
	size_t i = p->off;

	while (i < p->len) {
		unsigned char c = s[i];
		unsigned char lo, hi;
		size_t n;

		if (c >= 0x20 && c < 0x7f) {
			i++;
			continue;
		}
		if (c == '\t') {
			i++;
			continue;
		}
		if (c == '\n') {
			i++;
			line++;
			line_start = i;
			continue;
		}
		if (c == '\r') {
			if (i + 1 < p->len && s[i + 1] == '\n') {
				i++;
				continue;
			}
			return fail_on_line(p, line, line_start, i,
			    "carriage return (U+%04X) not followed by a line "
			    "feed; use LF or CRLF line endings",
			    c);
		}
		if (c < 0x80)
			return fail_on_line(p, line, line_start, i,
			    "control character U+%04X is not allowed; inside "
			    "a basic string write it as an escape such as "
			    "\\u0000",
			    c);

		n = utf8_len(c);
		if (n == 0)
			return fail_on_line(p, line, line_start, i,
			    "invalid UTF-8: byte 0x%02X cannot start a "
			    "character; save the file as UTF-8",
			    c);
		if (p->len - i < n)
			return fail_on_line(p, line, line_start, i,
			    "invalid UTF-8: the character starting with byte "
			    "0x%02X is cut off by the end of the input",
			    c);
		utf8_second_range(c, &lo, &hi);
		if (s[i + 1] < lo || s[i + 1] > hi)
			return fail_on_line(p, line, line_start, i,
			    "invalid UTF-8: byte 0x%02X does not continue "
			    "this character; save the file as UTF-8",
			    s[i + 1]);
		for (size_t k = 2; k < n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return fail_on_line(p, line, line_start, i,
				    "invalid UTF-8: byte 0x%02X does not "
				    "continue this character; save the file "
				    "as UTF-8",
				    s[i + k]);
		i += n;
	}
	return 0;
}

/*
 * Returns the line and column of byte off. Columns count characters, so
 * the column is found by counting UTF-8 lead bytes from a cached point on
 * the cursor's line. Positions are requested mostly left to right, which
 * keeps the total work linear in the line length.
 */
struct toml_pos
toml_pos_at(struct toml_parser *p, size_t off)
{
	struct toml_pos pos;

	if (off > p->len)
		off = p->len;
	if (off < p->line_start) {
		/* An earlier line: rare (errors only), so count from the start.
		 */
		size_t start = 0;
		unsigned line = 1;

		if (p->len >= 3 && memcmp(p->buf, "\xef\xbb\xbf", 3) == 0)
			start = 3;
		for (size_t i = start; i < off; i++)
			if (p->buf[i] == '\n') {
				line++;
				start = i + 1;
			}
		pos.line = line;
		pos.col = 1;
		for (size_t i = start; i < off; i++)
			if (((unsigned char)p->buf[i] & 0xc0) != 0x80)
				pos.col++;
		return pos;
	}

	if (p->col_off < p->line_start || off < p->col_off) {
		p->col_off = p->line_start;
		p->col = 1;
	}
	for (size_t i = p->col_off; i < off; i++)
		if (((unsigned char)p->buf[i] & 0xc0) != 0x80)
			p->col++;
	p->col_off = off;
	pos.line = p->line;
	pos.col = p->col;
	return pos;
}

/*
 * Records the first error of a parse, at byte off, as "line:column: message".
 * Later errors are ignored, so the first failure is the one reported.
 * Returns -1 for the caller to pass on.
 */
int
toml_fail(struct toml_parser *p, size_t off, const char *fmt, ...)
{
	struct toml_pos pos;
	va_list ap;
	int n;

	if (p->failed)
		return -1;
	p->failed = 1;
	pos = toml_pos_at(p, off);
	p->err->pos = pos;
	n = snprintf(
	    p->err->msg, sizeof(p->err->msg), "%u:%u: ", pos.line, pos.col);
	if (n < 0 || (size_t)n >= sizeof(p->err->msg))
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err->msg + n, sizeof(p->err->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

int
toml_fail_nomem(struct toml_parser *p)
{
	return toml_fail(p, p->off,
	    "out of memory while parsing; the document is too large for the "
	    "memory available");
}

/*
 * Describes the input at off for "expected X, found Y"
 * messages: "end of input", "end of line", "space", "tab", or the character
 * in quotes. Writes into buf and returns it.
 */
const char *
toml_found(struct toml_parser *p, size_t off, char *buf, size_t size)
{
	unsigned char c;
	size_t n;

	if (off >= p->len)
		return "end of input";
	c = (unsigned char)p->buf[off];
	if (c == '\n' || c == '\r')
		return "end of line";
	if (c == ' ')
		return "space";
	if (c == '\t')
		return "tab";
	if (c == '\'')
		return "\"'\"";
	if (c < 0x80) {
		snprintf(buf, size, "'%c'", c);
		return buf;
	}
	/* Input was checked as UTF-8 first, so the sequence is complete. */
	n = utf8_len(c);
	snprintf(buf, size, "U+%04X '%.*s'", utf8_decode(p->buf + off, n),
	    (int)n, p->buf + off);
	return buf;
}

/*
 * Copies a source span for a message, cut after 40 bytes (on a character
 * boundary) with "..." added. Writes into buf and returns it.
 */
const char *
toml_span(const char *s, size_t len, char *buf, size_t size)
{
	size_t n = len;

	if (n > 40) {
		n = 40;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	snprintf(buf, size, "%.*s%s", (int)n, s, n < len ? "..." : "");
	return buf;
}

int
toml_at_newline(const struct toml_parser *p)
{
	if (p->off >= p->len)
		return 0;
	if (p->buf[p->off] == '\n')
		return 1;
	return p->buf[p->off] == '\r' && p->off + 1 < p->len &&
	       p->buf[p->off + 1] == '\n';
}

/* Steps over the LF or CRLF at the cursor and starts the next line. */
void
toml_skip_newline(struct toml_parser *p)
{
	p->off += p->buf[p->off] == '\r' ? 2 : 1;
	p->line++;
	p->line_start = p->off;
}

void
toml_skip_ws(struct toml_parser *p)
{
	while (p->off < p->len &&
	       (p->buf[p->off] == ' ' || p->buf[p->off] == '\t'))
		p->off++;
}

int
toml_scratch_reset(struct toml_parser *p)
{
	p->scratch_len = 0;
	return 0;
}

int
toml_scratch_put(struct toml_parser *p, const char *s, size_t n)
{
	size_t need;

	if (__builtin_add_overflow(p->scratch_len, n, &need) ||
	    __builtin_add_overflow(need, 1, &need))
		return toml_fail_nomem(p);
	if (need > p->scratch_cap) {
		size_t cap = p->scratch_cap == 0 ? 256 : p->scratch_cap;
		char *q;

		while (cap < need)
			if (__builtin_mul_overflow(cap, 2, &cap))
				return toml_fail_nomem(p);
		q = realloc(p->scratch, cap);
		if (q == NULL)
			return toml_fail_nomem(p);
		p->scratch = q;
		p->scratch_cap = cap;
	}
	memcpy(p->scratch + p->scratch_len, s, n);
	p->scratch_len += n;
	p->scratch[p->scratch_len] = '\0';
	return 0;
}

static int
scratch_put_codepoint(struct toml_parser *p, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return toml_scratch_put(p, b, n);
}

int
toml_hex_value(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes the escape sequence at the cursor (on the backslash) into scratch. */
static int
scan_escape(struct toml_parser *p)
{
	const size_t start = p->off;
	char found[24];
	uint32_t cp = 0;
	size_t digits;
	char c;

	if (p->off + 1 >= p->len)
		return toml_fail(p, start,
		    "unterminated string: the input "
		    "ends after a backslash");
	c = p->buf[p->off + 1];
	p->off += 2;
	switch (c) {
	case 'b':
		return toml_scratch_put(p, "\b", 1);
	case 't':
		return toml_scratch_put(p, "\t", 1);
	case 'n':
		return toml_scratch_put(p, "\n", 1);
	case 'f':
		return toml_scratch_put(p, "\f", 1);
	case 'r':
		return toml_scratch_put(p, "\r", 1);
	case '"':
		return toml_scratch_put(p, "\"", 1);
	case '\\':
		return toml_scratch_put(p, "\\", 1);
	case 'u':
		digits = 4;
		break;
	case 'U':
		digits = 8;
		break;
	case ' ':
	case '\t':
		return toml_fail(p, start,
		    "invalid escape sequence: a "
		    "backslash followed by a space or tab; only in a "
		    "multi-line basic string, and only at the end of a line, "
		    "does a backslash join lines");
	case '\n':
	case '\r':
		return toml_fail(p, start,
		    "invalid escape sequence: a "
		    "backslash at the end of the line; only a multi-line "
		    "basic string (\"\"\") can continue on the next line");
	default:
		return toml_fail(p, start,
		    "invalid escape sequence \\%.*s; "
		    "use \\b, \\t, \\n, \\f, \\r, \\\", \\\\, \\uXXXX or "
		    "\\UXXXXXXXX, or a literal string for backslashes",
		    (int)utf8_len((unsigned char)c), p->buf + start + 1);
	}

	for (size_t i = 0; i < digits; i++) {
		int h = p->off < p->len ? toml_hex_value(p->buf[p->off]) : -1;

		if (h < 0)
			return toml_fail(p, start,
			    "invalid escape sequence: "
			    "\\%c needs %zu hexadecimal digits, found %s",
			    c, digits,
			    toml_found(p, p->off, found, sizeof(found)));
		cp = cp << 4 | (uint32_t)h;
		p->off++;
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return toml_fail(p, start,
		    "invalid escape sequence "
		    "\\%c%0*X: not a Unicode scalar value (U+0000 to U+D7FF "
		    "or U+E000 to U+10FFFF)",
		    c, (int)digits, (unsigned)cp);
	return scratch_put_codepoint(p, cp);
}

/*
 * Copies the run of plain characters at the cursor to scratch: it ends at
 * quote, a line break, or (for basic strings) a backslash.
 */
static int
copy_run(struct toml_parser *p, char quote, int basic)
{
	size_t end = p->off;

	while (end < p->len) {
		char c = p->buf[end];

		if (c == quote || c == '\n' || c == '\r' ||
		    (basic && c == '\\'))
			break;
		end++;
	}
	if (end > p->off && toml_scratch_put(p, p->buf + p->off, end - p->off))
		return -1;
	p->off = end;
	return 0;
}

/*
 * Scans a one-line string, basic (quote '"', with escapes) or literal
 * (quote '\''), with the cursor on the opening quote. The decoded text goes
 * to scratch.
 */
static int
scan_line_string(struct toml_parser *p, char quote)
{
	const size_t start = p->off;
	/* Literal strings have no escapes, so a backslash is plain text. */

	p->off++;
	for (;;) {
		if (copy_run(p, quote, quote == '"') == -1)
			return -1;
		if (p->off >= p->len)
			return toml_fail(p, start,
			    "unterminated string: "
			    "missing closing %c before the end of input",
			    quote);
		if (p->buf[p->off] == quote) {
			p->off++;
			return 0;
		}
		if (p->buf[p->off] == '\\') {
			if (scan_escape(p) == -1)
				return -1;
			continue;
		}
		return toml_fail(p, start,
		    "unterminated string: missing "
		    "closing %c before the end of the line; use a multi-line "
		    "string (%c%c%c) for text with line breaks",
		    quote, quote, quote, quote);
	}
}

/* Counts the quotes at the cursor, up to max. */
static size_t
count_quotes(const struct toml_parser *p, char quote, size_t max)
{
	size_t n = 0;

	while (n < max && p->off + n < p->len && p->buf[p->off + n] == quote)
		n++;
	return n;
}

/*
 * In a multi-line basic string, a backslash that ends a line removes itself,
 * the line break and all spaces, tabs and line breaks after it. The cursor
 * is on the backslash; returns 1 when this was such a backslash, 0 when it
 * starts an ordinary escape, -1 on error.
 */
static int
skip_line_ending_backslash(struct toml_parser *p)
{
	size_t i = p->off + 1;

	while (i < p->len && (p->buf[i] == ' ' || p->buf[i] == '\t'))
		i++;
	if (i >= p->len || (p->buf[i] != '\n' && p->buf[i] != '\r'))
		return 0;
	p->off = i;
	while (p->off < p->len) {
		if (toml_at_newline(p))
			toml_skip_newline(p);
		else if (p->buf[p->off] == ' ' || p->buf[p->off] == '\t')
			p->off++;
		else
			break;
	}
	return 1;
}

/*
 * Scans a multi-line string with the cursor on the first of its three
 * opening quotes. A line break right after the opening quotes is dropped,
 * CRLF is stored as LF, and one or two quotes may stand right before the
 * closing three.
 */
static int
scan_multiline_string(struct toml_parser *p, char quote)
{
	const size_t start = p->off;
	const unsigned start_line = p->line;
	size_t q;

	p->off += 3;
	if (toml_at_newline(p))
		toml_skip_newline(p);

	for (;;) {
		if (copy_run(p, quote, quote == '"') == -1)
			return -1;
		if (p->off >= p->len)
			return toml_fail(p, p->off,
			    "unterminated multi-line "
			    "string opened on line %u: missing closing %c%c%c",
			    start_line, quote, quote, quote);

		if (toml_at_newline(p)) {
			toml_skip_newline(p);
			if (toml_scratch_put(p, "\n", 1) == -1)
				return -1;
			continue;
		}

		if (p->buf[p->off] == '\\') {
			int r = skip_line_ending_backslash(p);

			if (r == 0)
				r = scan_escape(p);
			if (r == -1)
				return -1;
			continue;
		}

		q = count_quotes(p, quote, 6);
		if (q < 3) {
			if (toml_scratch_put(p, p->buf + p->off, q) == -1)
				return -1;
			p->off += q;
			continue;
		}
		if (q == 6)
			return toml_fail(p, p->off,
			    "too many quotes: three "
			    "%c in a row end the multi-line string that "
			    "started at %u:%u; escape one of them",
			    quote, start_line, toml_pos_at(p, start).col);
		/* Up to two quotes before the closing three are content. */
		if (toml_scratch_put(p, p->buf + p->off, q - 3) == -1)
			return -1;
		p->off += q;
		return 0;
	}
}

/*
 * Scans a key part at the cursor (bare, basic string or literal string)
 * into scratch. Returns 0, or -1 with the error set.
 */
int
toml_scan_key_part(struct toml_parser *p)
{
	size_t end = p->off;
	char found[24];

	toml_scratch_reset(p);
	if (p->off < p->len &&
	    (p->buf[p->off] == '"' || p->buf[p->off] == '\'')) {
		char quote = p->buf[p->off];

		if (count_quotes(p, quote, 3) == 3)
			return toml_fail(p, p->off,
			    "a multi-line string "
			    "cannot be a key; use a one-line quoted key");
		return scan_line_string(p, quote);
	}

	while (end < p->len && is_bare_key_char(p->buf[end]))
		end++;
	if (end == p->off)
		return toml_fail(p, p->off,
		    "expected a key, found %s; bare "
		    "keys may contain only A-Z, a-z, 0-9, '_' and '-', other "
		    "keys need quotes",
		    toml_found(p, p->off, found, sizeof(found)));
	if (toml_scratch_put(p, p->buf + p->off, end - p->off) == -1)
		return -1;
	p->off = end;
	return 0;
}

/* Scans a string value of any of the four forms, cursor on its first quote. */
struct toml_value *
toml_scan_string(struct toml_parser *p)
{
	const size_t start = p->off;
	const char quote = p->buf[p->off];
	struct toml_pos pos = toml_pos_at(p, start);
	struct toml_value *v;
	char *s;
	int r;

	toml_scratch_reset(p);
	if (count_quotes(p, quote, 3) == 3)
		r = scan_multiline_string(p, quote);
	else
		r = scan_line_string(p, quote);
	if (r == -1)
		return NULL;

	v = toml_value_new(p->doc, TOML_STRING, pos);
	s = toml_arena_strdup(
	    p->doc, p->scratch == NULL ? "" : p->scratch, p->scratch_len);
	if (v == NULL || s == NULL) {
		toml_fail_nomem(p);
		return NULL;
	}
	v->u.str.ptr = s;
	v->u.str.len = p->scratch_len;
	return v;
}
