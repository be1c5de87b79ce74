/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Times store_import of one large file against `openssl dgst -sha256`,
 * `sha256sum` and `cp` of the same file in the same run, with the page
 * cache warm for all of them. Prints the median and range of each, and the
 * median and range of the per-run ratios to openssl. The file is random
 * bytes behind a squashfs magic, which is all the store checks of an
 * image's content.
 *
 * Usage: bench_import [-n runs] [-s size_mib] workdir
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nem/log.h>

#include "store.h"

extern char **environ;

#define MAX_RUNS 31

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
remove_entry(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) == -1)
		fprintf(stderr, "bench_import: remove %s: %s\n", path,
		    strerror(errno));
	return 0;
}

static void
remove_tree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes size bytes of xorshift output with "hsqs" at offset 0. */
static void
make_source(const char *path, size_t size)
{
	static uint64_t buf[1 << 17];	/* 1 MiB */
	uint64_t x = 0x2545f4914f6cdd1dULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd == -1) {
		perror(path);
		exit(1);
	}
	for (size_t done = 0; done < size; done += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf) / sizeof(buf[0]); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = x;
		}
		if (done == 0)
			memcpy(buf, "hsqs", 4);
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			perror(path);
			exit(1);
		}
	}
	close(fd);
}

/* Reads the whole file so that every tool starts with a warm cache. */
static void
warm_cache(const char *path)
{
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	while (fd != -1 && read(fd, buf, sizeof(buf)) > 0)
		;
	if (fd != -1)
		close(fd);
}

/* Runs argv with output discarded and returns the wall time. */
static double
time_command(const char *const argv[])
{
	posix_spawn_file_actions_t actions;
	double start;
	int status;
	pid_t pid;

	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY,
	    0);
	start = now_seconds();
	if (posix_spawnp(&pid, argv[0], &actions, NULL, (char *const *)argv,
	    environ) != 0) {
		fprintf(stderr, "bench_import: cannot run %s\n", argv[0]);
		exit(1);
	}
	waitpid(pid, &status, 0);
	posix_spawn_file_actions_destroy(&actions);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_import: %s failed\n", argv[0]);
		exit(1);
	}
	return now_seconds() - start;
}

/* Imports source into a fresh store under workdir and returns the time. */
static double
time_import(const char *workdir, const char *source, int run)
{
	struct store_import_req req = { .name = "bench", .version = "1.0.0" };
	char state[PATH_MAX + 32];
	struct nem_err err;
	struct store *store;
	struct stat st;
	struct db *db;
	double start, elapsed;
	int fd;

	snprintf(state, sizeof(state), "%s/state-%d", workdir, run);
	if (mkdir(state, 0755) == -1 || (db = db_open(state, &err)) == NULL ||
	    (store = store_open(db, state, &err)) == NULL) {
		fprintf(stderr, "bench_import: %s: %s\n", state, err.msg);
		exit(1);
	}
	fd = open(source, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		perror(source);
		exit(1);
	}
	req.total = (uint64_t)st.st_size;

	start = now_seconds();
	if (store_import(store, fd, &req, NULL, &err) == -1) {
		fprintf(stderr, "bench_import: %s\n", err.msg);
		exit(1);
	}
	elapsed = now_seconds() - start;

	close(fd);
	store_close(store);
	db_close(db);
	remove_tree(state);
	return elapsed;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), compare_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Prints the median, minimum and maximum of v and the median, minimum and
 * maximum of the per-run ratios v[i] / base[i]. Sorts v in place, so the
 * row of base must be printed last. */
static void
print_row(const char *name, double *v, const double *base, int runs,
    double mib)
{
	double ratio[MAX_RUNS];

	for (int i = 0; i < runs; i++)
		ratio[i] = v[i] / base[i];
	median(ratio, runs);
	printf("%-22s %8.3f %8.3f %8.3f %8.0f   %.2f [%.2f-%.2f]\n", name,
	    median(v, runs), v[0], v[runs - 1], mib / median(v, runs),
	    median(ratio, runs), ratio[0], ratio[runs - 1]);
}

int
main(int argc, char **argv)
{
	double import_s[MAX_RUNS], openssl_s[MAX_RUNS], sum_s[MAX_RUNS];
	double cp_s[MAX_RUNS];
	char dir[PATH_MAX], source[PATH_MAX + 16], copy[PATH_MAX + 16];
	size_t size_mib = 1024;
	int runs = 5, opt;
	double mib;

	while ((opt = getopt(argc, argv, "n:s:")) != -1) {
		switch (opt) {
		case 'n':
			runs = atoi(optarg);
			break;
		case 's':
			size_mib = (size_t)strtoul(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || runs < 1 || runs > MAX_RUNS ||
	    size_mib < 1)
		goto usage;

	log_init(LOG_DEST_STDERR, LOG_LEVEL_WARN);
	snprintf(dir, sizeof(dir), "%s/nem-bench-import-XXXXXX", argv[optind]);
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		return 1;
	}
	snprintf(source, sizeof(source), "%s/source.img", dir);
	snprintf(copy, sizeof(copy), "%s/copy.img", dir);
	make_source(source, size_mib << 20);
	warm_cache(source);

	for (int i = 0; i < runs; i++) {
		const char *openssl[] = { "openssl", "dgst", "-sha256", source,
			NULL };
		const char *sum[] = { "sha256sum", source, NULL };
		const char *cp[] = { "cp", source, copy, NULL };

		warm_cache(source);
		import_s[i] = time_import(dir, source, i);
		openssl_s[i] = time_command(openssl);
		sum_s[i] = time_command(sum);
		cp_s[i] = time_command(cp);
		unlink(copy);
	}
	remove_tree(dir);

	mib = (double)size_mib;
	printf("file: %zu MiB in %s, %d runs, tools interleaved in each run\n",
	    size_mib, argv[optind], runs);
	printf("%-22s %8s %8s %8s %8s   %s\n", "tool", "median s", "min s",
	    "max s", "MiB/s", "ratio to openssl per run, median [min-max]");
	print_row("store_import (fsync)", import_s, openssl_s, runs, mib);
	print_row("sha256sum", sum_s, openssl_s, runs, mib);
	print_row("cp (no fsync)", cp_s, openssl_s, runs, mib);
	print_row("openssl dgst -sha256", openssl_s, openssl_s, runs, mib);
	return 0;

usage:
	fprintf(stderr, "usage: bench_import [-n runs (1-%d)] [-s size_mib] "
	    "workdir\n", MAX_RUNS);
	return 2;
}
