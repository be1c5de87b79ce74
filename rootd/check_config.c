/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * `nem-rootd check-config [-c PATH]`: validates the host configuration and
 * every jail description beside it without starting anything, so an
 * operator can check a change before a reload. It only reads files.
 */
#include "config.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define USAGE "usage: nem-rootd check-config [-c PATH]\n" \
	"  -c PATH  host configuration file (default " CFG_DEFAULT_CONFIG ")\n"

/* Parses [-c PATH]. Returns 0, 1 after printing usage for -h, or -1. */
static int
parse_args(int argc, char **argv, const char **path)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(USAGE, stdout);
			return 1;
		}
		if (strcmp(a, "-c") == 0 && i + 1 < argc) {
			*path = argv[++i];
		} else if (strncmp(a, "-c", 2) == 0 && a[2] != '\0') {
			*path = a + 2;
		} else {
			fprintf(stderr, "check-config: invalid argument "
			    "\"%s\"\n%s", a, USAGE);
			return -1;
		}
	}
	return 0;
}

/* Returns <folder of path>/jails, for when the host file did not load. */
static char *
jails_dir_beside(const char *path)
{
	char *copy = strdup(path), *dir = NULL;

	if (copy != NULL &&
	    asprintf(&dir, "%s/%s", dirname(copy), CFG_JAILS_DIR_NAME) == -1)
		dir = NULL;
	free(copy);
	return dir;
}

/*
 * Reports the file mounts of a valid jail whose source the daemon could
 * not read when it starts the jail. Returns how many it reported.
 */
static int
check_file_sources(const struct cfg_set_jail *sj)
{
	int missing = 0;

	for (size_t i = 0; sj->jail != NULL && i < sj->jail->nmounts; i++) {
		const struct cfg_mount *m = &sj->jail->mounts[i];
		struct stat st;

		if (m->type != CFG_MOUNT_FILE)
			continue;
		if (stat(m->source_path, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(m->source_path, R_OK) == 0)
			continue;
		fprintf(stderr, "%s:%u:%u: file source %s is missing, "
		    "unreadable or not a regular file; the jail cannot start "
		    "until it is\n", sj->path, m->line, m->col,
		    m->source_path);
		missing++;
	}
	return missing;
}

int
check_config_main(int argc, char **argv)
{
	const char *path = CFG_DEFAULT_CONFIG;
	struct cfg_diags diags = { 0 };
	struct cfg_host *host;
	struct cfg_set *set = NULL;
	struct nem_err err;
	char *dir;
	int status = 0, rc;

	rc = parse_args(argc, argv, &path);
	if (rc != 0)
		return rc == 1 ? 0 : 2;

	host = cfg_host_load(path, &diags);
	if (host == NULL)
		status = 1;
	cfg_diags_print(&diags, stderr);
	cfg_diags_clear(&diags);

	dir = host ? strdup(host->jails_dir) : jails_dir_beside(path);
	if (dir == NULL) {
		fprintf(stderr, "check-config: out of memory\n");
		cfg_host_free(host);
		return 1;
	}
	if (cfg_set_load(dir, &set, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		status = 1;
	}
	for (size_t i = 0; set != NULL && i < set->njails; i++) {
		cfg_diags_print(&set->jails[i].diags, stderr);
		cfg_diags_print(&set->jails[i].set_diags, stderr);
		if (!set->jails[i].startable ||
		    check_file_sources(&set->jails[i]) > 0)
			status = 1;
	}
	if (status == 0)
		printf("ok: %zu jails\n", set->njails);

	cfg_set_free(set);
	cfg_host_free(host);
	free(dir);
	return status;
}
