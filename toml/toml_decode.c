/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * toml-decode: reads one TOML document on standard input and writes it to
 * standard output as tagged JSON, the form the toml-test conformance suite
 * compares: tables are objects, arrays are arrays, and every scalar is
 * {"type": T, "value": "text"}. Exit status 0 for a valid document; 1 with
 * the error on standard error for an invalid one; 2 when reading or
 * writing fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toml.h"

static void emit_value(FILE *out, const struct toml_value *v);

/* Reads all of standard input; exits with status 2 when that fails. */
static char *
read_stdin(size_t *len)
{
	size_t cap = 64 * 1024, n = 0;
	char *buf = malloc(cap);

	if (buf == NULL) {
		fprintf(stderr, "toml-decode: out of memory\n");
		exit(2);
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *q;

			if (__builtin_mul_overflow(cap, 2, &cap) ||
			    (q = realloc(buf, cap)) == NULL) {
				fprintf(stderr,
				    "toml-decode: out of memory "
				    "after reading %zu bytes\n",
				    n);
				exit(2);
			}
			buf = q;
		}
		r = read(STDIN_FILENO, buf + n, cap - n);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr,
			    "toml-decode: reading standard input "
			    "failed: %s\n",
			    strerror(errno));
			exit(2);
		}
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

/* Writes s as a JSON string; control characters become \u escapes. */
static void
emit_string(FILE *out, const char *s, size_t len)
{
	putc('"', out);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			putc(c, out);
	}
	putc('"', out);
}

static void
emit_scalar(FILE *out, const char *type, const char *value)
{
	fputs("{\"type\":", out);
	emit_string(out, type, strlen(type));
	fputs(",\"value\":", out);
	emit_string(out, value, strlen(value));
	putc('}', out);
}

/* Formats a float with the fewest digits that read back to the same value. */
static void
format_float(double d, char *buf, size_t size)
{
	if (isnan(d)) {
		snprintf(buf, size, "nan");
		return;
	}
	if (isinf(d)) {
		snprintf(buf, size, d < 0 ? "-inf" : "inf");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

/* Formats date, time and offset as RFC 3339, each part only if the type has it.
 */
static void
format_datetime(
    enum toml_type type, const struct toml_datetime *dt, char *buf, size_t size)
{
	size_t n = 0;

	if (type != TOML_TIME_LOCAL)
		n += (size_t)snprintf(buf + n, size - n, "%04d-%02d-%02d",
		    dt->year, dt->month, dt->day);
	if (type == TOML_DATE_LOCAL)
		return;
	if (type != TOML_TIME_LOCAL)
		buf[n++] = 'T';
	n += (size_t)snprintf(buf + n, size - n, "%02d:%02d:%02d", dt->hour,
	    dt->minute, dt->second);
	if (dt->frac_digits > 0) {
		char frac[16];

		snprintf(frac, sizeof(frac), "%09d", dt->nanosecond);
		n += (size_t)snprintf(buf + n, size - n, ".%.*s",
		    dt->frac_digits < 9 ? dt->frac_digits : 9, frac);
	}
	if (type == TOML_DATETIME) {
		int off = dt->offset_minutes;

		if (off == 0)
			snprintf(buf + n, size - n, "Z");
		else
			snprintf(buf + n, size - n, "%c%02d:%02d",
			    off < 0 ? '-' : '+', abs(off) / 60, abs(off) % 60);
	}
}

static void
emit_table(FILE *out, const struct toml_value *table)
{
	size_t n = toml_table_len(table);

	putc('{', out);
	for (size_t i = 0; i < n; i++) {
		size_t klen;
		const char *key = toml_table_key(table, i, &klen);

		if (i > 0)
			putc(',', out);
		emit_string(out, key, klen);
		putc(':', out);
		emit_value(out, toml_table_value(table, i));
	}
	putc('}', out);
}

/* Recursion is bounded: documents nest at most TOML_MAX_DEPTH levels. */
static void
emit_value(FILE *out, const struct toml_value *v)
{
	struct toml_datetime dt;
	const char *s;
	char buf[64];
	size_t len;
	int64_t i;
	double d;
	bool b;

	switch (toml_type(v)) {
	case TOML_TABLE:
		emit_table(out, v);
		return;
	case TOML_ARRAY:
		putc('[', out);
		for (size_t k = 0; k < toml_array_len(v); k++) {
			if (k > 0)
				putc(',', out);
			emit_value(out, toml_array_get(v, k));
		}
		putc(']', out);
		return;
	case TOML_STRING:
		toml_get_string(v, &s, &len);
		fputs("{\"type\":\"string\",\"value\":", out);
		emit_string(out, s, len);
		putc('}', out);
		return;
	case TOML_INTEGER:
		toml_get_int(v, &i);
		snprintf(buf, sizeof(buf), "%" PRId64, i);
		emit_scalar(out, "integer", buf);
		return;
	case TOML_FLOAT:
		toml_get_float(v, &d);
		format_float(d, buf, sizeof(buf));
		emit_scalar(out, "float", buf);
		return;
	case TOML_BOOL:
		toml_get_bool(v, &b);
		emit_scalar(out, "bool", b ? "true" : "false");
		return;
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		toml_get_datetime(v, &dt);
		format_datetime(toml_type(v), &dt, buf, sizeof(buf));
		emit_scalar(out,
		    toml_type(v) == TOML_DATETIME         ? "datetime"
		    : toml_type(v) == TOML_DATETIME_LOCAL ? "datetime-local"
		    : toml_type(v) == TOML_DATE_LOCAL     ? "date-local"
		                                          : "time-local",
		    buf);
		return;
	}
}

int
main(int argc, char **argv)
{
	struct toml_err err;
	struct toml_doc *doc;
	char *data;
	size_t len;

	if (argc != 1) {
		fprintf(stderr, "usage: %s < FILE.toml\n", argv[0]);
		return 2;
	}
	data = read_stdin(&len);
	doc = toml_parse(data, len, &err);
	free(data);
	if (doc == NULL) {
		fprintf(stderr, "toml-decode: <stdin>:%s\n", err.msg);
		return 1;
	}

	emit_value(stdout, toml_root(doc));
	putc('\n', stdout);
	toml_free(doc);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr,
		    "toml-decode: writing standard output "
		    "failed: %s\n",
		    strerror(errno));
		return 2;
	}
	return 0;
}
