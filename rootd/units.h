/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Sizes ("64M", "1G", plain byte counts) and durations ("500ms", "10s",
 * "2m", "1h") as written in configuration files, parsed strictly into
 * uint64_t byte and millisecond counts. Every rejected value gets a message
 * that shows the value, the reason and the accepted form.
 */
#ifndef ROOTD_UNITS_H
#define ROOTD_UNITS_H

#include <stddef.h>
#include <stdint.h>

#include <nem/err.h>

/* Largest duration in milliseconds: the range of a signed 64-bit count. */
#define UNITS_DURATION_MAX_MS ((uint64_t)INT64_MAX)

/*
 * Buffer size for units_preview(): 40 bytes of the value, each escaped to
 * at most 4 bytes, then "..." and the final NUL.
 */
#define UNITS_PREVIEW_SIZE (40 * 4 + 3 + 1)

/*
 * Parses a size: decimal digits with an optional suffix K, M, G or T
 * (powers of 1024), such as "512K", "64M" or "1048576". s need not be
 * NUL-terminated. Rejects an empty string, signs, fractions, zero, unknown
 * suffixes, spaces and values above UINT64_MAX bytes. Returns 0 and stores
 * the byte count in *bytes, or -1 with EINVAL (ERANGE on overflow) in err.
 */
int units_parse_size(const char *s, size_t len, uint64_t *bytes,
    struct nem_err *err);

/*
 * Checks a size written as an integer byte count: zero and negative values
 * are rejected. Returns 0 and stores it in *bytes, or -1 with EINVAL in err.
 */
int units_check_size_int(int64_t value, uint64_t *bytes, struct nem_err *err);

/*
 * Parses a duration: decimal digits followed by a unit "ms", "s", "m" or
 * "h", such as "500ms" or "10s". s need not be NUL-terminated. Rejects a
 * missing unit, signs, fractions, exponents, spaces and values above
 * UNITS_DURATION_MAX_MS. Zero is accepted; callers that need a positive
 * duration check for it. Returns 0 and stores milliseconds in *ms, or -1
 * with EINVAL (ERANGE on overflow) in err.
 */
int units_parse_duration(const char *s, size_t len, uint64_t *ms,
    struct nem_err *err);

/*
 * Formats a duration in milliseconds as the shortest exact form that
 * units_parse_duration() reads back ("100ms", "30s", "2m", "1h") into buf.
 * Returns buf.
 */
char *units_format_duration(uint64_t ms, char *buf, size_t size);

/*
 * Writes a printable preview of len bytes of s into buf for use inside
 * quotes in a message: at most 40 bytes of the value, with '"' and '\\'
 * escaped by a backslash, control and non-ASCII bytes written as \xNN,
 * and "..." appended when the value was cut. buf must have room for
 * UNITS_PREVIEW_SIZE bytes. Returns buf.
 */
char *units_preview(const char *s, size_t len, char *buf);

#endif
