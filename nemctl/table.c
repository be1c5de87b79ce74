/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Output of nemctl: aligned text tables and "key  value" lists for people,
 * JSON for scripts, and the accessors that read fields of the daemon's
 * reply documents. Strings from the daemon are printed with control
 * characters replaced, so a jail's name or log reason cannot send
 * terminal escape sequences.
 */
#include "nemctl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int
table_init(struct table *t, size_t ncols, const char *const *heads,
    struct nem_err *err)
{
	memset(t, 0, sizeof(*t));
	if (ncols == 0 || ncols > TABLE_MAX_COLS)
		return nem_err_set(err, EINVAL, "table of %zu columns; 1 to %d "
		    "are possible", ncols, TABLE_MAX_COLS);
	t->ncols = ncols;
	return table_add(t, heads, err);
}

int
table_add(struct table *t, const char *const *cells, struct nem_err *err)
{
	size_t need;

	if (t->nrows == t->cap) {
		size_t cap = t->cap == 0 ? 16 : t->cap * 2;
		size_t bytes;
		char **v;

		if (__builtin_mul_overflow(cap, t->ncols, &bytes) ||
		    __builtin_mul_overflow(bytes, sizeof(*v), &bytes))
			return nem_err_set(err, ENOMEM, "table of %zu rows is "
			    "too large", cap);
		v = realloc(t->cells, bytes);
		if (v == NULL)
			return nem_err_sys(err, ENOMEM, "table of %zu rows",
			    cap);
		t->cells = v;
		t->cap = cap;
	}

	need = t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = cells[i] != NULL ? cells[i] : "-";
		char *copy = strdup(s);
		size_t len = strlen(s);

		if (copy == NULL) {
			for (size_t k = 0; k < i; k++)
				free(t->cells[need + k]);
			return nem_err_sys(err, ENOMEM, "table cell");
		}
		t->cells[need + i] = copy;
		if (len > t->width[i])
			t->width[i] = len;
	}
	t->nrows++;
	return 0;
}

void
table_put(const char *s, FILE *out)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		fputc(ch < 0x20 || ch == 0x7f ? '?' : ch, out);
	}
}

void
table_print(const struct table *t, FILE *out)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];

			table_put(s, out);
			if (i + 1 == t->ncols)
				break;
			fprintf(out, "%*s", (int)(t->width[i] - strlen(s) + 2),
			    "");
		}
		fputc('\n', out);
	}
}

void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* Formats the value at it for a "key  value" line into buf. */
static void
format_value(const bson_iter_t *it, char *buf, size_t size)
{
	switch (bson_iter_type(it)) {
	case BSON_TYPE_UTF8:
		snprintf(buf, size, "%s", bson_iter_utf8(it, NULL));
		break;
	case BSON_TYPE_INT32:
		snprintf(buf, size, "%" PRId32, bson_iter_int32(it));
		break;
	case BSON_TYPE_INT64:
		snprintf(buf, size, "%" PRId64, bson_iter_int64(it));
		break;
	case BSON_TYPE_DOUBLE:
		snprintf(buf, size, "%g", bson_iter_double(it));
		break;
	case BSON_TYPE_BOOL:
		snprintf(buf, size, "%s", bson_iter_bool(it) ? "yes" : "no");
		break;
	case BSON_TYPE_DOCUMENT:
	case BSON_TYPE_ARRAY: {
		const uint8_t *data;
		uint32_t len;
		bson_t sub;
		char *json = NULL;

		if (BSON_ITER_HOLDS_DOCUMENT(it))
			bson_iter_document(it, &len, &data);
		else
			bson_iter_array(it, &len, &data);
		if (bson_init_static(&sub, data, len))
			json = bson_as_relaxed_extended_json(&sub, NULL);
		snprintf(buf, size, "%s", json != NULL ? json : "?");
		bson_free(json);
		break;
	}
	default:
		snprintf(buf, size, "?");
		break;
	}
}

void
table_print_fields(const bson_t *doc, FILE *out)
{
	bson_iter_t it;
	size_t width = 0;
	char value[1024];

	if (!bson_iter_init(&it, doc))
		return;
	while (bson_iter_next(&it)) {
		size_t len = strlen(bson_iter_key(&it));

		if (len > width)
			width = len;
	}

	bson_iter_init(&it, doc);
	while (bson_iter_next(&it)) {
		const char *key = bson_iter_key(&it);

		format_value(&it, value, sizeof(value));
		table_put(key, out);
		fprintf(out, "%*s", (int)(width - strlen(key) + 2), "");
		table_put(value[0] != '\0' ? value : "-", out);
		fputc('\n', out);
	}
}

void
table_print_json(const bson_t *doc, FILE *out)
{
	char *json = bson_as_relaxed_extended_json(doc, NULL);

	/* NULL only for a document that libbson cannot walk; replies were
	 * validated when they arrived, so print an empty object then. */
	fprintf(out, "%s\n", json != NULL ? json : "{}");
	bson_free(json);
}

void
table_json_string(const char *s, size_t len, FILE *out)
{
	bool utf8 = bson_utf8_validate(s, len, false);

	fputc('"', out);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		switch (ch) {
		case '"':
			fputs("\\\"", out);
			continue;
		case '\\':
			fputs("\\\\", out);
			continue;
		case '\n':
			fputs("\\n", out);
			continue;
		case '\r':
			fputs("\\r", out);
			continue;
		case '\t':
			fputs("\\t", out);
			continue;
		default:
			break;
		}
		if (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && !utf8))
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

void
table_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB",
		"PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", bytes);
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f %s", v, units[u]);
}

void
table_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "-");
}

const char *
doc_str(const bson_t *doc, const char *path)
{
	bson_iter_t it, found;

	if (bson_iter_init(&it, doc) &&
	    bson_iter_find_descendant(&it, path, &found) &&
	    BSON_ITER_HOLDS_UTF8(&found))
		return bson_iter_utf8(&found, NULL);
	return "";
}

void
table_print_pushed(const bson_t *reply, FILE *out)
{
	const char *version = doc_str(reply, "image.version");
	char size[32];

	table_size((uint64_t)doc_int(reply, "image.size"), size, sizeof(size));
	fprintf(out, "pushed image ");
	table_put(doc_str(reply, "image.name"), out);
	if (version[0] != '\0') {
		fputc(' ', out);
		table_put(version, out);
	}
	fprintf(out, " (%s, sha256 ", size);
	table_put(doc_str(reply, "image.sha256"), out);
	fprintf(out, ")\n");
}

void
table_exit(const bson_t *doc, char *buf, size_t size)
{
	int64_t code = doc_int(doc, "exit_code");
	int64_t sig = doc_int(doc, "signal");
	const char *name = NULL;

	if (sig > 0 && sig < NSIG)
		name = sigabbrev_np((int)sig);
	if (code >= 0 && bson_has_field(doc, "exit_code"))
		snprintf(buf, size, "exited %" PRId64, code);
	else if (sig > 0 && name != NULL)
		snprintf(buf, size, "killed by SIG%s", name);
	else if (sig > 0)
		snprintf(buf, size, "killed by signal %" PRId64, sig);
	else
		snprintf(buf, size, "-");
}

int64_t
doc_int(const bson_t *doc, const char *path)
{
	bson_iter_t it, found;

	if (!bson_iter_init(&it, doc) ||
	    !bson_iter_find_descendant(&it, path, &found))
		return 0;
	if (BSON_ITER_HOLDS_INT64(&found))
		return bson_iter_int64(&found);
	if (BSON_ITER_HOLDS_INT32(&found))
		return bson_iter_int32(&found);
	return 0;
}

bool
doc_bool(const bson_t *doc, const char *path)
{
	bson_iter_t it, found;

	return bson_iter_init(&it, doc) &&
	    bson_iter_find_descendant(&it, path, &found) &&
	    BSON_ITER_HOLDS_BOOL(&found) && bson_iter_bool(&found);
}
