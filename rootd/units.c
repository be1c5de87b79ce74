/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Parsing of sizes and durations from configuration text. Parsing is done
 * by hand on a length-delimited string because strtoull accepts what a
 * configuration must not: leading spaces, signs and hexadecimal. All
 * arithmetic is overflow-checked.
 */
#include "units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define SIZE_FORM "use a positive whole number of bytes with an optional " \
	"suffix K, M, G or T (powers of 1024), such as \"64M\""
#define DURATION_FORM "use a whole number with a unit ms, s, m or h, " \
	"such as \"500ms\" or \"10s\""

/* Preview length limit, in bytes of the original value. */
#define PREVIEW_MAX 40
_Static_assert(UNITS_PREVIEW_SIZE >= PREVIEW_MAX * 4 + 4, "preview buffer");

char *
units_preview(const char *s, size_t len, char *buf)
{
	size_t o = 0;

	for (size_t i = 0; i < len && i < PREVIEW_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(buf + o, 5, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	if (len > PREVIEW_MAX) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/*
 * Reads the leading decimal digits of s into *value and their count into
 * *used (0 when s does not start with a digit). Returns 0, or -1 when the
 * value does not fit in 64 bits.
 */
static int
read_digits(const char *s, size_t len, size_t *used, uint64_t *value)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return -1;
	}
	*used = i;
	*value = v;
	return 0;
}

/* A unit of a scale and the factor from the next smaller unit to it. */
struct unit_step {
	const char *suffix;
	uint64_t from_smaller;
};

/* Size units, smallest first. The empty suffix is bytes. */
static const struct unit_step size_units[] = {
	{ "", 1 }, { "K", 1024 }, { "M", 1024 }, { "G", 1024 }, { "T", 1024 },
};

/* Duration units, smallest first. */
static const struct unit_step duration_units[] = {
	{ "ms", 1 }, { "s", 1000 }, { "m", 60 }, { "h", 60 },
};

/*
 * Rewrites a value with a fraction, such as "1.5M", as the same amount in
 * the largest smaller unit that makes it whole ("1536K"). s[n] is the
 * decimal point or comma after the integer part v. Returns true with the
 * text in out, or false when no smaller unit gives a whole number, the
 * suffix is unknown or the arithmetic would overflow.
 */
static bool
whole_in_smaller_unit(const char *s, size_t len, size_t n, uint64_t v,
    const struct unit_step *units, size_t nunits, char *out, size_t size)
{
	uint64_t frac = 0, scale = 1, mult = 1, part, whole;
	size_t i = n + 1, u;

	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (__builtin_mul_overflow(frac, 10, &frac) ||
		    __builtin_add_overflow(frac, (uint64_t)(s[i] - '0'), &frac) ||
		    __builtin_mul_overflow(scale, 10, &scale))
			return false;
	}
	for (u = 0; u < nunits; u++)
		if (strlen(units[u].suffix) == len - i &&
		    memcmp(units[u].suffix, s + i, len - i) == 0)
			break;
	if (u == nunits)
		return false;

	for (size_t k = u; k > 0; k--) {
		if (__builtin_mul_overflow(mult, units[k].from_smaller, &mult) ||
		    __builtin_mul_overflow(frac, mult, &part))
			return false;
		if (part % scale != 0)
			continue;
		if (__builtin_mul_overflow(v, mult, &whole) ||
		    __builtin_add_overflow(whole, part / scale, &whole))
			return false;
		snprintf(out, size, "%" PRIu64 "%s", whole,
		    units[k - 1].suffix);
		return true;
	}
	return false;
}

/*
 * Rejects the fraction in s (what is "size" or "duration"), naming the
 * same amount in a smaller unit when there is a whole one.
 */
static int
fraction_error(const char *what, const char *s, size_t len, size_t n,
    uint64_t v, const struct unit_step *units, size_t nunits,
    struct nem_err *err)
{
	char p[UNITS_PREVIEW_SIZE], whole[48];

	units_preview(s, len, p);
	if (whole_in_smaller_unit(s, len, n, v, units, nunits, whole,
	    sizeof(whole)))
		return nem_err_set(err, EINVAL, "invalid %s \"%s\": fractions "
		    "are not allowed; write \"%s\" instead", what, p, whole);
	return nem_err_set(err, EINVAL, "invalid %s \"%s\": fractions are "
	    "not allowed; use a whole number of a smaller unit", what, p);
}

/* Explains why s, which does not start with a digit, is not a number. */
static int
not_a_number(const char *what, const char *form, const char *s, size_t len,
    struct nem_err *err)
{
	char p[UNITS_PREVIEW_SIZE];

	units_preview(s, len, p);
	if (len == 0)
		return nem_err_set(err, EINVAL, "invalid %s: empty; %s", what,
		    form);
	if (s[0] == '-')
		return nem_err_set(err, EINVAL, "invalid %s \"%s\": negative "
		    "values are not allowed; %s", what, p, form);
	return nem_err_set(err, EINVAL, "invalid %s \"%s\": expected a "
	    "digit at the start; %s", what, p, form);
}

int
units_parse_size(const char *s, size_t len, uint64_t *bytes,
    struct nem_err *err)
{
	char p[UNITS_PREVIEW_SIZE];
	uint64_t v, mult = 1;
	size_t n;

	if (len == 0 || s[0] < '0' || s[0] > '9')
		return not_a_number("size", SIZE_FORM, s, len, err);
	units_preview(s, len, p);
	if (read_digits(s, len, &n, &v) == -1)
		return nem_err_set(err, ERANGE, "invalid size \"%s\": too "
		    "large, the maximum is %" PRIu64 " bytes (16E - 1)", p,
		    UINT64_MAX);

	if (n < len && (s[n] == '.' || s[n] == ','))
		return fraction_error("size", s, len, n, v, size_units,
		    sizeof(size_units) / sizeof(size_units[0]), err);
	if (len - n == 1) {
		switch (s[n]) {
		case 'K':
			mult = UINT64_C(1) << 10;
			break;
		case 'M':
			mult = UINT64_C(1) << 20;
			break;
		case 'G':
			mult = UINT64_C(1) << 30;
			break;
		case 'T':
			mult = UINT64_C(1) << 40;
			break;
		default:
			mult = 0;
			break;
		}
	}
	if (len != n && mult <= 1)
		return nem_err_set(err, EINVAL, "invalid size \"%s\": unknown "
		    "suffix \"%s\"; %s", p, units_preview(s + n, len - n,
		    (char[UNITS_PREVIEW_SIZE]){ 0 }), SIZE_FORM);

	if (v == 0)
		return nem_err_set(err, EINVAL, "invalid size \"%s\": must be "
		    "larger than zero", p);
	if (__builtin_mul_overflow(v, mult, &v))
		return nem_err_set(err, ERANGE, "invalid size \"%s\": too "
		    "large, the maximum is %" PRIu64 " bytes (16E - 1)", p,
		    UINT64_MAX);
	*bytes = v;
	return 0;
}

int
units_check_size_int(int64_t value, uint64_t *bytes, struct nem_err *err)
{
	if (value < 0)
		return nem_err_set(err, EINVAL, "invalid size %" PRId64 ": "
		    "negative values are not allowed; %s", value, SIZE_FORM);
	if (value == 0)
		return nem_err_set(err, EINVAL, "invalid size 0: must be "
		    "larger than zero");
	*bytes = (uint64_t)value;
	return 0;
}

int
units_parse_duration(const char *s, size_t len, uint64_t *ms,
    struct nem_err *err)
{
	char p[UNITS_PREVIEW_SIZE];
	uint64_t v, mult;
	const char *unit;
	size_t n, ulen;

	if (len == 0 || s[0] < '0' || s[0] > '9')
		return not_a_number("duration", DURATION_FORM, s, len, err);
	units_preview(s, len, p);
	if (read_digits(s, len, &n, &v) == -1)
		goto too_large;

	unit = s + n;
	ulen = len - n;
	if (ulen > 0 && (unit[0] == '.' || unit[0] == ','))
		return fraction_error("duration", s, len, n, v,
		    duration_units,
		    sizeof(duration_units) / sizeof(duration_units[0]), err);
	if (ulen == 2 && memcmp(unit, "ms", 2) == 0)
		mult = 1;
	else if (ulen == 1 && unit[0] == 's')
		mult = 1000;
	else if (ulen == 1 && unit[0] == 'm')
		mult = 60 * 1000;
	else if (ulen == 1 && unit[0] == 'h')
		mult = 60 * 60 * 1000;
	else if (ulen == 0)
		return nem_err_set(err, EINVAL, "invalid duration \"%s\": "
		    "missing unit; %s", p, DURATION_FORM);
	else
		return nem_err_set(err, EINVAL, "invalid duration \"%s\": "
		    "unknown unit \"%s\"; %s", p, units_preview(unit, ulen,
		    (char[UNITS_PREVIEW_SIZE]){ 0 }), DURATION_FORM);

	if (__builtin_mul_overflow(v, mult, &v) || v > UNITS_DURATION_MAX_MS)
		goto too_large;
	*ms = v;
	return 0;

too_large:
	return nem_err_set(err, ERANGE, "invalid duration \"%s\": too "
	    "large, the maximum is %" PRIu64 "ms", p, UNITS_DURATION_MAX_MS);
}

char *
units_format_duration(uint64_t ms, char *buf, size_t size)
{
	static const struct {
		uint64_t ms;
		const char *unit;
	} units[] = {
		{ 60 * 60 * 1000, "h" },
		{ 60 * 1000, "m" },
		{ 1000, "s" },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms != 0 && ms % units[i].ms == 0) {
			snprintf(buf, size, "%" PRIu64 "%s", ms / units[i].ms,
			    units[i].unit);
			return buf;
		}
	}
	snprintf(buf, size, "%" PRIu64 "ms", ms);
	return buf;
}
