/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Scanners for the unquoted TOML values: booleans, integers in four bases,
 * floats with inf and nan, offset and local date-times, local dates and
 * local times. Each checks the whole token against the TOML 1.0.0 grammar
 * and its ranges (calendar days and leap years included) before building
 * the value.
 *
 * A float literal beyond the range of double is an error instead of being
 * read as infinity, because a document that means infinity can write inf.
 *
 * Limitations: floats are converted with strtod(), which reads the decimal
 * point of the C locale; a program that changes LC_NUMERIC must restore it
 * before parsing.
 */
#include "toml_private.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Characters of unquoted values: numbers, booleans, inf, nan, date-times. */
static int
is_bare_value_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       is_digit(c) || c == '_' || c == '-' || c == '.' || c == ':' ||
	       c == '+';
}

/* Reads exactly n decimal digits; -1 when any is not a digit. */
static int
read_digits(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int
is_leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int days[12] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

/* A bare token being decoded: its source text and where it starts. */
struct token {
	const char *s;
	size_t len;
	size_t off;
};

#define TOK_FMT "'%s'"
/*
 * The token as shown in messages. It is formatted into the local buffer
 * token_text only when an error is reported, because formatting every
 * token would cost time on every value.
 */
#define SHOWN toml_span(tok->s, tok->len, token_text, sizeof(token_text))

/* Parses YYYY-MM-DD at the start of tok into dt. */
static int
scan_date(
    struct toml_parser *p, const struct token *tok, struct toml_datetime *dt)
{
	static const char *const months[12] = {"January", "February", "March",
	    "April", "May", "June", "July", "August", "September", "October",
	    "November", "December"};
	char token_text[64];

	if (tok->len < 10 || tok->s[4] != '-' || tok->s[7] != '-' ||
	    (dt->year = read_digits(tok->s, 4)) < 0 ||
	    (dt->month = read_digits(tok->s + 5, 2)) < 0 ||
	    (dt->day = read_digits(tok->s + 8, 2)) < 0)
		return toml_fail(p, tok->off,
		    "invalid date " TOK_FMT
		    ": expected YYYY-MM-DD with 4, 2 and 2 digits",
		    SHOWN);
	if (dt->month < 1 || dt->month > 12)
		return toml_fail(p, tok->off,
		    "invalid date " TOK_FMT
		    ": month %02d is out of range 01 to 12",
		    SHOWN, dt->month);
	if (dt->day < 1 || dt->day > days_in_month(dt->year, dt->month))
		return toml_fail(p, tok->off,
		    "invalid date " TOK_FMT
		    ": day %02d is out of range for %s %04d, which has %d "
		    "days",
		    SHOWN, dt->day, months[dt->month - 1], dt->year,
		    days_in_month(dt->year, dt->month));
	return 0;
}

/*
 * Parses HH:MM:SS[.fraction] at tok->s + at into dt and returns the number
 * of bytes it took, or -1 on error.
 */
static long
scan_time(struct toml_parser *p, const struct token *tok, size_t at,
    struct toml_datetime *dt)
{
	const char *s = tok->s + at;
	size_t n = tok->len - at;
	size_t i = 8;
	char token_text[64];

	if (n < 8 || s[2] != ':' || s[5] != ':' ||
	    (dt->hour = read_digits(s, 2)) < 0 ||
	    (dt->minute = read_digits(s + 3, 2)) < 0 ||
	    (dt->second = read_digits(s + 6, 2)) < 0)
		return toml_fail(p, tok->off,
		    "invalid time in " TOK_FMT
		    ": expected HH:MM:SS with two digits each, optionally "
		    "followed by a fraction such as .5",
		    SHOWN);
	if (dt->hour > 23)
		return toml_fail(p, tok->off,
		    "invalid time in " TOK_FMT
		    ": hour %02d is out of range 00 to 23",
		    SHOWN, dt->hour);
	if (dt->minute > 59)
		return toml_fail(p, tok->off,
		    "invalid time in " TOK_FMT
		    ": minute %02d is out of range 00 to 59",
		    SHOWN, dt->minute);
	/* 60 is a leap second, which RFC 3339 allows. */
	if (dt->second > 60)
		return toml_fail(p, tok->off,
		    "invalid time in " TOK_FMT
		    ": second %02d is out of range 00 to 60",
		    SHOWN, dt->second);

	if (i < n && s[i] == '.') {
		int scale = 100000000;

		i++;
		if (i >= n || !is_digit(s[i]))
			return toml_fail(p, tok->off,
			    "invalid time in " TOK_FMT
			    ": expected digits after the '.' of the "
			    "seconds",
			    SHOWN);
		for (; i < n && is_digit(s[i]); i++) {
			/* Digits beyond nanoseconds are cut, not rounded. */
			dt->nanosecond += (s[i] - '0') * scale;
			scale /= 10;
			if (dt->frac_digits < 1000000)
				dt->frac_digits++;
		}
	}
	return (long)i;
}

/* Parses the Z or +HH:MM / -HH:MM at tok->s + at; -1 on error. */
static int
scan_offset(struct toml_parser *p, const struct token *tok, size_t at,
    struct toml_datetime *dt)
{
	const char *s = tok->s + at;
	size_t n = tok->len - at;
	int hours, minutes;
	char token_text[64];

	if (n == 1 && (s[0] == 'Z' || s[0] == 'z')) {
		dt->offset_minutes = 0;
		return 0;
	}
	if (n != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' ||
	    (hours = read_digits(s + 1, 2)) < 0 ||
	    (minutes = read_digits(s + 4, 2)) < 0)
		return toml_fail(p, tok->off,
		    "invalid date-time " TOK_FMT
		    ": after the time expected nothing, Z, or an offset "
		    "such as +01:00 or -07:00",
		    SHOWN);
	if (hours > 23 || minutes > 59)
		return toml_fail(p, tok->off,
		    "invalid date-time " TOK_FMT
		    ": offset %.6s is out of range -23:59 to +23:59",
		    SHOWN, s);
	dt->offset_minutes = (hours * 60 + minutes) * (s[0] == '-' ? -1 : 1);
	return 0;
}

/* Decodes a date, date-time or time token into a value of the right type. */
static struct toml_value *
scan_datetime(struct toml_parser *p, const struct token *tok)
{
	struct toml_datetime dt;
	enum toml_type type;
	struct toml_value *v;
	char token_text[64];
	long used;

	memset(&dt, 0, sizeof(dt));

	if (tok->len >= 3 && tok->s[2] == ':') {
		used = scan_time(p, tok, 0, &dt);
		if (used < 0)
			return NULL;
		if ((size_t)used != tok->len) {
			toml_fail(p, tok->off,
			    "invalid time " TOK_FMT
			    ": unexpected text after the seconds; a local "
			    "time takes no offset",
			    SHOWN);
			return NULL;
		}
		type = TOML_TIME_LOCAL;
	} else {
		if (scan_date(p, tok, &dt) == -1)
			return NULL;
		if (tok->len == 10) {
			type = TOML_DATE_LOCAL;
		} else {
			char sep = tok->s[10];

			if (sep != 'T' && sep != 't' && sep != ' ') {
				toml_fail(p, tok->off,
				    "invalid date-time " TOK_FMT
				    ": expected T or a space between "
				    "date and time",
				    SHOWN);
				return NULL;
			}
			used = scan_time(p, tok, 11, &dt);
			if (used < 0)
				return NULL;
			if (11 + (size_t)used == tok->len) {
				type = TOML_DATETIME_LOCAL;
			} else {
				if (scan_offset(
				        p, tok, 11 + (size_t)used, &dt) == -1)
					return NULL;
				type = TOML_DATETIME;
			}
		}
	}

	v = toml_value_new(p->doc, type, toml_pos_at(p, tok->off));
	if (v == NULL) {
		toml_fail_nomem(p);
		return NULL;
	}
	v->u.dt = dt;
	return v;
}

/*
 * Scans a run of digits of the given base in which each '_' is between
 * two digits, starting at *i, and copies the digits to scratch. Returns the
 * number of digits (0 when none), or -1 with the error set.
 */
static long
scan_digit_run(
    struct toml_parser *p, const struct token *tok, size_t *i, int base)
{
	char token_text[64];
	long count = 0;

	while (*i < tok->len) {
		char c = tok->s[*i];
		int d = toml_hex_value(c);

		if (c == '_') {
			size_t next = *i + 1;
			int after =
			    next < tok->len ? toml_hex_value(tok->s[next]) : -1;

			if (count == 0 || after < 0 || after >= base)
				return toml_fail(p, tok->off,
				    "invalid number " TOK_FMT
				    ": each '_' must stand between two "
				    "digits",
				    SHOWN);
			(*i)++;
			continue;
		}
		if (d < 0 || d >= base)
			break;
		if (toml_scratch_put(p, &c, 1) == -1)
			return -1;
		count++;
		(*i)++;
	}
	return count;
}

static struct toml_value *
new_integer(struct toml_parser *p, const struct token *tok, int64_t value)
{
	struct toml_value *v;

	v = toml_value_new(p->doc, TOML_INTEGER, toml_pos_at(p, tok->off));
	if (v == NULL) {
		toml_fail_nomem(p);
		return NULL;
	}
	v->u.integer = value;
	return v;
}

static struct toml_value *
new_float(struct toml_parser *p, const struct token *tok, double value)
{
	struct toml_value *v;

	v = toml_value_new(p->doc, TOML_FLOAT, toml_pos_at(p, tok->off));
	if (v == NULL) {
		toml_fail_nomem(p);
		return NULL;
	}
	v->u.fp = value;
	return v;
}

/* Decodes 0x, 0o and 0b integers; the token starts with the prefix. */
static struct toml_value *
scan_prefixed_integer(struct toml_parser *p, const struct token *tok)
{
	static const char *const names[] = {
	    ['x'] = "hexadecimal", ['o'] = "octal", ['b'] = "binary"};
	const char kind = tok->s[1];
	int base = 2;
	uint64_t value = 0;
	char token_text[64];
	size_t i = 2;
	long n;

	if (kind == 'x')
		base = 16;
	else if (kind == 'o')
		base = 8;

	toml_scratch_reset(p);
	n = scan_digit_run(p, tok, &i, base);
	if (n < 0)
		return NULL;
	if (n == 0 || i != tok->len) {
		toml_fail(p, tok->off,
		    "invalid %s integer " TOK_FMT
		    ": expected only digits 0-%c after 0%c",
		    names[(int)kind], SHOWN,
		    base == 16 ? 'f' : (char)('0' + base - 1), kind);
		return NULL;
	}
	for (long k = 0; k < n; k++) {
		uint64_t d = (uint64_t)toml_hex_value(p->scratch[k]);

		if (value > ((uint64_t)INT64_MAX - d) / (uint64_t)base) {
			toml_fail(p, tok->off,
			    "integer " TOK_FMT " is out of "
			    "range: the maximum is 0x7fffffffffffffff "
			    "(9223372036854775807)",
			    SHOWN);
			return NULL;
		}
		value = value * (uint64_t)base + d;
	}
	return new_integer(p, tok, (int64_t)value);
}

/* Converts the decimal digits in scratch, with their sign, to an integer. */
static struct toml_value *
decimal_integer(struct toml_parser *p, const struct token *tok, int negative)
{
	const uint64_t limit =
	    negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t value = 0;
	char token_text[64];

	for (size_t k = 0; k < p->scratch_len; k++) {
		uint64_t d = (uint64_t)(p->scratch[k] - '0');

		if (value > (limit - d) / 10) {
			toml_fail(p, tok->off,
			    "integer %s is out of range "
			    "-9223372036854775808 to 9223372036854775807; "
			    "use a float or a string for larger numbers",
			    SHOWN);
			return NULL;
		}
		value = value * 10 + d;
	}
	if (negative)
		return new_integer(p, tok,
		    value == (uint64_t)INT64_MAX + 1 ? INT64_MIN
		                                     : -(int64_t)value);
	return new_integer(p, tok, (int64_t)value);
}

/*
 * Decodes a decimal integer or float: sign, integer part without leading
 * zeros, then an optional fraction and an optional exponent.
 */
static struct toml_value *
scan_decimal(struct toml_parser *p, const struct token *tok)
{
	const char *s = tok->s;
	int is_float = 0, negative = 0;
	size_t i = 0, int_start;
	char token_text[64];
	double value;
	char *end;
	long n;

	toml_scratch_reset(p);
	if (s[0] == '+' || s[0] == '-') {
		negative = s[0] == '-';
		if (toml_scratch_put(p, s, 1) == -1)
			return NULL;
		i++;
	}

	int_start = i;
	n = scan_digit_run(p, tok, &i, 10);
	if (n < 0)
		return NULL;
	if (n == 0) {
		toml_fail(p, tok->off,
		    "invalid number " TOK_FMT ": expected "
		    "a digit after the sign",
		    SHOWN);
		return NULL;
	}
	if (s[int_start] == '0' && n > 1) {
		toml_fail(p, tok->off,
		    "invalid number " TOK_FMT ": leading "
		    "zeros are not allowed",
		    SHOWN);
		return NULL;
	}

	if (i < tok->len && s[i] == '.') {
		is_float = 1;
		i++;
		if (toml_scratch_put(p, ".", 1) == -1)
			return NULL;
		n = scan_digit_run(p, tok, &i, 10);
		if (n < 0)
			return NULL;
		if (n == 0) {
			toml_fail(p, tok->off,
			    "invalid float " TOK_FMT
			    ": expected a digit after the '.'",
			    SHOWN);
			return NULL;
		}
	}
	if (i < tok->len && (s[i] == 'e' || s[i] == 'E')) {
		is_float = 1;
		i++;
		if (toml_scratch_put(p, "e", 1) == -1)
			return NULL;
		if (i < tok->len && (s[i] == '+' || s[i] == '-')) {
			if (toml_scratch_put(p, s + i, 1) == -1)
				return NULL;
			i++;
		}
		n = scan_digit_run(p, tok, &i, 10);
		if (n < 0)
			return NULL;
		if (n == 0) {
			toml_fail(p, tok->off,
			    "invalid float " TOK_FMT
			    ": expected digits in the exponent",
			    SHOWN);
			return NULL;
		}
	}
	if (i != tok->len) {
		toml_fail(p, tok->off,
		    "invalid number " TOK_FMT ": unexpected "
		    "'%c' at character %zu",
		    SHOWN, s[i], i + 1);
		return NULL;
	}

	if (!is_float) {
		/* scratch contains the sign, if any, then the digits. */
		if (int_start > 0) {
			memmove(p->scratch, p->scratch + 1, p->scratch_len);
			p->scratch_len--;
		}
		return decimal_integer(p, tok, negative);
	}

	errno = 0;
	value = strtod(p->scratch, &end);
	if (end != p->scratch + p->scratch_len) {
		toml_fail(p, tok->off, "invalid float " TOK_FMT, SHOWN);
		return NULL;
	}
	if (errno == ERANGE && isinf(value)) {
		toml_fail(p, tok->off,
		    "float " TOK_FMT " is out of range: "
		    "the largest 64-bit float is about 1.8e308",
		    SHOWN);
		return NULL;
	}
	return new_float(p, tok, value);
}

/* Decodes true, false, inf, nan and numbers. */
static struct toml_value *
scan_word(struct toml_parser *p, const struct token *tok)
{
	const char *s = tok->s;
	size_t n = tok->len;
	size_t sign = (s[0] == '+' || s[0] == '-') ? 1 : 0;
	struct toml_value *v;
	char token_text[64];

	if ((n == 4 && memcmp(s, "true", 4) == 0) ||
	    (n == 5 && memcmp(s, "false", 5) == 0)) {
		v = toml_value_new(p->doc, TOML_BOOL, toml_pos_at(p, tok->off));
		if (v == NULL) {
			toml_fail_nomem(p);
			return NULL;
		}
		v->u.boolean = n == 4;
		return v;
	}
	if (n - sign == 3 && memcmp(s + sign, "inf", 3) == 0)
		return new_float(p, tok, s[0] == '-' ? -INFINITY : INFINITY);
	if (n - sign == 3 && memcmp(s + sign, "nan", 3) == 0)
		return new_float(p, tok, s[0] == '-' ? -NAN : NAN);

	if (n - sign >= 2 && s[sign] == '0' &&
	    (s[sign + 1] == 'x' || s[sign + 1] == 'o' || s[sign + 1] == 'b')) {
		if (sign) {
			toml_fail(p, tok->off,
			    "invalid integer " TOK_FMT
			    ": a sign is not allowed before 0%c",
			    SHOWN, s[sign + 1]);
			return NULL;
		}
		return scan_prefixed_integer(p, tok);
	}
	if (n - sign >= 2 && s[sign] == '0' &&
	    (s[sign + 1] == 'X' || s[sign + 1] == 'O' || s[sign + 1] == 'B')) {
		toml_fail(p, tok->off,
		    "invalid integer " TOK_FMT ": the "
		    "prefix must be lower case (0x, 0o or 0b)",
		    SHOWN);
		return NULL;
	}
	if (n > sign && is_digit(s[sign]))
		return scan_decimal(p, tok);
	toml_fail(p, tok->off,
	    "invalid value " TOK_FMT ": expected a string "
	    "in quotes, a number, true, false, a date-time, an array or an "
	    "inline table",
	    SHOWN);
	return NULL;
}

static int
looks_like_date(const char *s, size_t n)
{
	return n >= 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) &&
	       is_digit(s[3]) && s[4] == '-';
}

/*
 * Scans an unquoted value at the cursor: a number, boolean, inf, nan, date
 * or time. The token ends at the first byte that cannot be part of one;
 * the caller checks what follows.
 */
struct toml_value *
toml_scan_bare(struct toml_parser *p)
{
	struct token tok;
	size_t end = p->off;

	while (end < p->len && is_bare_value_char(p->buf[end]))
		end++;

	/* A space may separate date and time: 1979-05-27 07:32:00. */
	if (end - p->off == 10 && looks_like_date(p->buf + p->off, 10) &&
	    end + 3 < p->len && p->buf[end] == ' ' &&
	    is_digit(p->buf[end + 1]) && is_digit(p->buf[end + 2]) &&
	    p->buf[end + 3] == ':') {
		end++;
		while (end < p->len && is_bare_value_char(p->buf[end]))
			end++;
	}

	tok.s = p->buf + p->off;
	tok.len = end - p->off;
	tok.off = p->off;
	if (tok.len == 0) {
		char found[24];

		toml_fail(p, p->off, "expected a value, found %s",
		    toml_found(p, p->off, found, sizeof(found)));
		return NULL;
	}
	p->off = end;

	if (looks_like_date(tok.s, tok.len) ||
	    (tok.len >= 3 && is_digit(tok.s[0]) && is_digit(tok.s[1]) &&
	        tok.s[2] == ':'))
		return scan_datetime(p, &tok);
	return scan_word(p, &tok);
}
