/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for toml_parse(). A document that parses is walked
 * completely, so every value and key the parser built is read once under
 * the sanitizers.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every field of v and its children; depth is bounded by the parser. */
static size_t
walk(const struct toml_value *v)
{
	struct toml_datetime dt;
	struct toml_pos pos = toml_value_pos(v);
	size_t sum = pos.line + pos.col, len;
	const char *s;
	int64_t i;
	double d;
	bool b;

	switch (toml_type(v)) {
	case TOML_TABLE:
		for (size_t k = 0; k < toml_table_len(v); k++) {
			const char *key = toml_table_key(v, k, &len);

			/* Every key must be found again through the index. */
			if (toml_table_getn(v, key, len) !=
			    toml_table_value(v, k))
				__builtin_trap();
			sum += len + toml_table_key_pos(v, k).col;
			sum += walk(toml_table_value(v, k));
		}
		break;
	case TOML_ARRAY:
		for (size_t k = 0; k < toml_array_len(v); k++)
			sum += walk(toml_array_get(v, k));
		break;
	case TOML_STRING:
		toml_get_string(v, &s, &len);
		if (s[len] != '\0')
			__builtin_trap();
		sum += len;
		break;
	case TOML_INTEGER:
		toml_get_int(v, &i);
		sum += (size_t)i;
		break;
	case TOML_FLOAT:
		toml_get_float(v, &d);
		sum += d > 0;
		break;
	case TOML_BOOL:
		toml_get_bool(v, &b);
		sum += b;
		break;
	default:
		toml_get_datetime(v, &dt);
		sum += (size_t)dt.year + (size_t)dt.nanosecond;
		break;
	}
	return sum;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct toml_err err;
	struct toml_doc *doc;

	doc = toml_parse((const char *)data, size, &err);
	if (doc == NULL) {
		/* Every error carries a position and a message. */
		if (err.pos.line == 0 || err.pos.col == 0 ||
		    strlen(err.msg) == 0)
			__builtin_trap();
		return 0;
	}
	walk(toml_root(doc));
	toml_free(doc);
	return 0;
}
