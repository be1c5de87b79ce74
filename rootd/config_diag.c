/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The error list every configuration loader fills. Adding an error never
 * fails from the caller's view: when memory runs out the list records that
 * it is incomplete, and printing reports that.
 */
#include "config_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Replaces each control byte of msg with \xNN, so that every diagnostic
 * stays on one line even when a value from the file (quoted by a module
 * that does not escape) contains a newline. Returns msg or a new string;
 * frees msg when it returns a new one, and returns NULL when out of memory.
 */
static char *
escape_controls(char *msg)
{
	size_t n = 0, len = strlen(msg), size;
	char *out, *o;

	for (size_t i = 0; i < len; i++)
		n += (unsigned char)msg[i] < 0x20 || msg[i] == 0x7f;
	if (n == 0)
		return msg;
	if (__builtin_mul_overflow(n, 3, &size) ||
	    __builtin_add_overflow(size, len + 1, &size) ||
	    (out = malloc(size)) == NULL) {
		free(msg);
		return NULL;
	}
	o = out;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];

		if (c < 0x20 || c == 0x7f)
			o += snprintf(o, 5, "\\x%02x", c);
		else
			*o++ = (char)c;
	}
	*o = '\0';
	free(msg);
	return out;
}

static void
diag_vadd(struct cfg_diags *diags, const char *file, unsigned line,
    unsigned col, const char *fmt, va_list ap)
{
	struct cfg_diag *d;
	char *msg;

	if (diags->len == diags->cap) {
		size_t cap = diags->cap ? diags->cap * 2 : 8;
		size_t bytes;
		void *v;

		if (__builtin_mul_overflow(cap, sizeof(*d), &bytes) ||
		    (v = realloc(diags->v, bytes)) == NULL) {
			diags->oom = true;
			return;
		}
		diags->v = v;
		diags->cap = cap;
	}
	if (vasprintf(&msg, fmt, ap) == -1 ||
	    (msg = escape_controls(msg)) == NULL) {
		diags->oom = true;
		return;
	}
	d = &diags->v[diags->len];
	d->file = strdup(file);
	if (d->file == NULL) {
		free(msg);
		diags->oom = true;
		return;
	}
	d->line = line;
	d->col = col;
	d->msg = msg;
	diags->len++;
}

void
cfg_diag_add(struct cfg_diags *diags, const char *file, unsigned line,
    unsigned col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(diags, file, line, col, fmt, ap);
	va_end(ap);
}

void
cfg_diags_print(const struct cfg_diags *diags, FILE *fp)
{
	for (size_t i = 0; i < diags->len; i++) {
		const struct cfg_diag *d = &diags->v[i];

		if (d->line == 0)
			fprintf(fp, "%s: %s\n", d->file, d->msg);
		else
			fprintf(fp, "%s:%u:%u: %s\n", d->file, d->line, d->col,
			    d->msg);
	}
	if (diags->oom)
		fprintf(fp, "out of memory: some errors are not shown\n");
}

void
cfg_diags_clear(struct cfg_diags *diags)
{
	for (size_t i = 0; i < diags->len; i++) {
		free(diags->v[i].file);
		free(diags->v[i].msg);
	}
	free(diags->v);
	memset(diags, 0, sizeof(*diags));
}

void
cfg_err(struct cfg_ctx *ctx, struct toml_pos pos, const char *fmt, ...)
{
	va_list ap;

	ctx->nerr++;
	if (ctx->nerr > CFG_DIAG_MAX + 1)
		return;
	if (ctx->nerr == CFG_DIAG_MAX + 1) {
		cfg_diag_add(ctx->diags, ctx->file, 0, 0, "too many errors, "
		    "only the first %d are shown", CFG_DIAG_MAX);
		return;
	}
	va_start(ap, fmt);
	diag_vadd(ctx->diags, ctx->file, pos.line, pos.col, fmt, ap);
	va_end(ap);
}

void
cfg_oom(struct cfg_ctx *ctx, struct toml_pos pos)
{
	cfg_err(ctx, pos, "out of memory");
}

/* Returns true when a must be printed after b. */
static bool
diag_after(const struct cfg_diag *a, const struct cfg_diag *b)
{
	if (a->line == 0 || b->line == 0)
		return a->line == 0 && b->line != 0;
	return a->line > b->line || (a->line == b->line && a->col > b->col);
}

void
cfg_diags_sort(struct cfg_diags *diags, size_t first)
{
	/* Insertion sort: stable, and the list has at most CFG_DIAG_MAX + 1
	 * entries per file. */
	for (size_t i = first + 1; i < diags->len; i++) {
		struct cfg_diag d = diags->v[i];
		size_t j = i;

		while (j > first && diag_after(&diags->v[j - 1], &d)) {
			diags->v[j] = diags->v[j - 1];
			j--;
		}
		diags->v[j] = d;
	}
}
