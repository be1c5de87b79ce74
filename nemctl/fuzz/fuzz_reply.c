/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for the parts of nemctl that read untrusted bytes. The
 * input is checked as a reply document, as nemctl checks replies, and then
 * printed as a table, as "key  value" lines and as JSON. The same bytes go
 * through the JSON string writer and the duration, digest and option
 * parsers. Output goes to /dev/null, so only crashes and sanitizer reports
 * count.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nemctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Splits text at spaces into at most 15 words and parses them. */
static void
fuzz_command_line(char *text)
{
	static const struct args_opt opts[] = { { "version", 'V', true },
		{ "follow", 'f', false } };
	char *argv[16];
	int argc = 0;
	struct args a;
	struct nem_err err;

	for (char *w = strtok(text, " "); w != NULL && argc < 15;
	    w = strtok(NULL, " "))
		argv[argc++] = w;
	argv[argc] = NULL;
	(void)args_parse(argc, argv, opts, 2, 0, 2, &a, &err);
}

static void
fuzz_document(const uint8_t *data, size_t size, FILE *out)
{
	static const char *const heads[] = { "NAME", "STATE" };
	struct table t;
	struct nem_err err;
	bson_t doc;

	if (!bson_init_static(&doc, data, size) ||
	    !bson_validate(&doc, BSON_VALIDATE_UTF8, NULL))
		return;
	table_print_fields(&doc, out);
	table_print_json(&doc, out);
	if (table_init(&t, 2, heads, &err) == 0) {
		const char *row[] = { doc_str(&doc, "jail.name"),
			doc_str(&doc, "jail.state") };

		(void)table_add(&t, row, &err);
		table_print(&t, out);
		table_free(&t);
	}
	(void)doc_int(&doc, "image.size");
	(void)doc_bool(&doc, "image.bad");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *out = fopen("/dev/null", "we");
	char *text, *copy;
	uint32_t ms;
	struct nem_err err;

	if (out == NULL)
		return 0;
	fuzz_document(data, size, out);
	table_json_string((const char *)data, size, out);

	text = malloc(size + 1);
	if (text != NULL) {
		memcpy(text, data, size);
		text[size] = '\0';
		(void)args_duration(text, &ms, &err);
		(void)args_sha256(text, &err);
		copy = strdup(text);
		if (copy != NULL)
			fuzz_command_line(copy);
		free(copy);
		free(text);
	}
	fclose(out);
	return 0;
}
