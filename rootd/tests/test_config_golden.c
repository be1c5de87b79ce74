/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Golden tests of configuration errors: every NAME.toml in the folder
 * given as argv[1] is loaded as jail NAME (as a host configuration when
 * NAME starts with "host-"), and the printed errors must equal NAME.err
 * byte for byte, positions included. Error messages are
 * part of the interface, so a change to one shows up here. With
 * CFG_GOLDEN_UPDATE=1 in the environment the .err files are rewritten.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

static const char *golden_dir;

/* Reads a whole file into a NUL-terminated buffer; NULL when missing. */
static char *
slurp(const char *path, size_t *len)
{
	char *data = NULL;
	size_t cap = 0;
	FILE *fp = fopen(path, "rbe");

	*len = 0;
	if (fp == NULL)
		return NULL;
	for (;;) {
		if (*len + 4096 + 1 > cap) {
			cap = cap * 2 + 8192;
			data = realloc(data, cap);
			assert_non_null(data);
		}
		size_t n = fread(data + *len, 1, 4096, fp);

		*len += n;
		if (n == 0)
			break;
	}
	fclose(fp);
	data[*len] = '\0';
	return data;
}

static int
check_one(const char *file)
{
	char path[4096], stem[256];
	struct cfg_diags diags = { 0 };
	char *data, *want, *got = NULL;
	size_t len, wlen, glen = 0;
	struct cfg_jail *jail = NULL;
	struct cfg_host *host = NULL;
	bool loaded;
	FILE *fp;
	int rc = 0;

	snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(file) - 5), file);
	snprintf(path, sizeof(path), "%s/%s", golden_dir, file);
	data = slurp(path, &len);
	assert_non_null(data);
	/* Files named host-*.toml are host configurations. */
	if (strncmp(file, "host-", 5) == 0) {
		host = cfg_host_load_buffer(file, data, len, &diags);
		loaded = host != NULL;
	} else {
		jail = cfg_jail_load_buffer(stem, file, "/etc/nem", data, len,
		    &diags);
		loaded = jail != NULL;
	}
	fp = open_memstream(&got, &glen);
	assert_non_null(fp);
	cfg_diags_print(&diags, fp);
	fclose(fp);

	snprintf(path, sizeof(path), "%s/%s.err", golden_dir, stem);
	if (getenv("CFG_GOLDEN_UPDATE") != NULL) {
		fp = fopen(path, "we");
		assert_non_null(fp);
		fputs(got, fp);
		fclose(fp);
	}
	want = slurp(path, &wlen);
	if (want == NULL) {
		print_error("%s: missing %s\n", file, path);
		rc = -1;
	} else if (strcmp(want, got) != 0) {
		print_error("%s: expected:\n%s--- got:\n%s---\n", file, want, got);
		rc = -1;
	} else if (loaded == (wlen > 0)) {
		print_error("%s: loaded %s but expected %s\n", file,
		    loaded ? "fine" : "with errors", wlen ? "errors" : "none");
		rc = -1;
	}
	cfg_jail_free(jail);
	cfg_host_free(host);
	cfg_diags_clear(&diags);
	free(data);
	free(want);
	free(got);
	return rc;
}

static void
golden_files_match(void **state)
{
	struct dirent **list;
	int n, failed = 0, checked = 0;

	(void)state;
	n = scandir(golden_dir, &list, NULL, alphasort);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		size_t len = strlen(list[i]->d_name);

		if (len > 5 && strcmp(list[i]->d_name + len - 5, ".toml") == 0) {
			checked++;
			if (check_one(list[i]->d_name) == -1)
				failed++;
		}
		free(list[i]);
	}
	free(list);
	print_message("%d golden files, %d failed\n", checked, failed);
	assert_true(checked >= 20);
	assert_int_equal(failed, 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(golden_files_match),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: test_config_golden DIR\n");
		return 2;
	}
	golden_dir = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
