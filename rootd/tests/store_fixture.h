/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Helpers shared by the image store tests: a state directory in a mkdtemp
 * folder, real image files built with mksquashfs, mkfs.erofs and mke2fs,
 * and checks that rows and files agree. Header-only, so each test program
 * includes it once.
 */
#ifndef ROOTD_TESTS_STORE_FIXTURE_H
#define ROOTD_TESTS_STORE_FIXTURE_H

#include <dirent.h>
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
#include <unistd.h>

#include <openssl/evp.h>

#include "store.h"

extern char **environ;

struct fixture {
	char dir[64];		/* mkdtemp folder holding everything */
	char state[128];	/* state directory inside it */
	struct db *db;
	struct store *store;
	int serial;		/* makes image contents unique */
};

/* Runs argv[0] from PATH with output discarded and fails unless it exits 0. */
static inline void
fixture_run(const char *const argv[])
{
	posix_spawn_file_actions_t actions;
	int status;
	pid_t pid;

	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY,
	    0);
	posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY,
	    0);
	if (posix_spawnp(&pid, argv[0], &actions, NULL, (char *const *)argv,
	    environ) != 0)
		fail_msg("cannot run %s", argv[0]);
	posix_spawn_file_actions_destroy(&actions);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		fail_msg("%s %s failed with status %d", argv[0],
		    argv[1] ? argv[1] : "", status);
}

/* Writes size pseudo-random bytes (seeded) to path. */
static inline void
fixture_write_data(const char *path, size_t size, unsigned seed)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL * (seed + 1);
	unsigned char buf[65536];
	FILE *fp = fopen(path, "we");

	assert_non_null(fp);
	while (size > 0) {
		size_t n = size < sizeof(buf) ? size : sizeof(buf);

		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (unsigned char)x;
		}
		assert_int_equal(fwrite(buf, 1, n, fp), n);
		size -= n;
	}
	assert_int_equal(fclose(fp), 0);
}

/*
 * Builds an image of type "squashfs", "erofs" or "ext4" holding one file of
 * data_size random bytes, unique per call, at <dir>/<label>.img, and
 * returns its path in out.
 */
static inline void
fixture_make_image(struct fixture *f, const char *type, const char *label,
    size_t data_size, char out[PATH_MAX])
{
	char src[PATH_MAX], file[PATH_MAX + 16];

	snprintf(src, sizeof(src), "%s/src-%s-%d", f->dir, label, f->serial);
	snprintf(out, PATH_MAX, "%s/%s-%d.img", f->dir, label, f->serial);
	assert_int_equal(mkdir(src, 0755), 0);
	snprintf(file, sizeof(file), "%s/data", src);
	fixture_write_data(file, data_size, (unsigned)f->serial++);

	if (strcmp(type, "squashfs") == 0) {
		const char *argv[] = { "mksquashfs", src, out, "-noappend",
			"-quiet", "-no-progress", NULL };

		fixture_run(argv);
	} else if (strcmp(type, "erofs") == 0) {
		const char *argv[] = { "mkfs.erofs", "--quiet", out, src,
			NULL };

		fixture_run(argv);
	} else {
		char size[32];
		const char *argv[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-d",
			src, out, size, NULL };

		snprintf(size, sizeof(size), "%zuk",
		    (data_size / 1024 + 1024) & ~(size_t)1023);
		fixture_run(argv);
	}
}

/* Computes the hex SHA-256 of a file with OpenSSL, independently. */
static inline void
fixture_sha256(const char *path, char out[STORE_SHA256_HEX_LEN + 1])
{
	unsigned char digest[32], buf[65536];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	FILE *fp = fopen(path, "re");
	size_t n;

	assert_non_null(fp);
	assert_non_null(md);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		EVP_DigestUpdate(md, buf, n);
	fclose(fp);
	EVP_DigestFinal_ex(md, digest, NULL);
	EVP_MD_CTX_free(md);
	for (size_t i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static inline void
fixture_open_store(struct fixture *f)
{
	struct nem_err err;

	f->db = db_open(f->state, &err);
	if (f->db == NULL)
		fail_msg("db_open: %s", err.msg);
	f->store = store_open(f->db, f->state, &err);
	if (f->store == NULL)
		fail_msg("store_open: %s", err.msg);
}

static inline void
fixture_close_store(struct fixture *f)
{
	store_close(f->store);
	db_close(f->db);
	f->store = NULL;
	f->db = NULL;
}

/* Imports the file at path; returns 0 or -1 like store_import. */
static inline int
fixture_import(struct fixture *f, const char *path, const char *name,
    const char *version, struct store_image *out, struct nem_err *err)
{
	struct store_import_req req = { .name = name, .version = version };
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	rc = store_import(f->store, fd, &req, out, err);
	close(fd);
	return rc;
}

static inline void
fixture_import_ok(struct fixture *f, const char *path, const char *name,
    const char *version, struct store_image *out)
{
	struct nem_err err;

	if (fixture_import(f, path, name, version, out, &err) == -1)
		fail_msg("import %s %s: %s", name, version ? version : "",
		    err.msg);
}

/* Counts the entries of <state>/images/<sub>. */
static inline int
fixture_count_files(struct fixture *f, const char *sub)
{
	char path[PATH_MAX + 32];
	struct dirent *de;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "%s/images/%s", f->state, sub);
	dir = opendir(path);
	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* Path of the stored file of a digest. */
static inline void
fixture_stored_path(struct fixture *f, const char *sha256,
    char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "%s/images/sha256/%.64s", f->state, sha256);
}

/* Returns the integer result of a one-row SQL query. */
static inline long long
fixture_query_int(struct fixture *f, const char *sql)
{
	sqlite3_stmt *stmt;
	long long v;

	assert_int_equal(sqlite3_prepare_v2(db_sqlite(f->db), sql, -1, &stmt,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/*
 * Checks that rows and files agree: images/tmp is empty, every file in
 * images/sha256 has a row, every row has its file, and SQLite's
 * integrity_check passes.
 */
static inline void
fixture_check_consistent(struct fixture *f)
{
	char path[PATH_MAX + 32], sql[160];
	struct dirent *de;
	sqlite3_stmt *stmt;
	DIR *dir;

	assert_int_equal(fixture_count_files(f, "tmp"), 0);

	snprintf(path, sizeof(path), "%s/images/sha256", f->state);
	dir = opendir(path);
	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM image_files "
		    "WHERE sha256 = '%.64s'", de->d_name);
		if (fixture_query_int(f, sql) != 1)
			fail_msg("file %s has no row", de->d_name);
	}
	closedir(dir);

	assert_int_equal(sqlite3_prepare_v2(db_sqlite(f->db),
	    "SELECT sha256 FROM image_files", -1, &stmt, NULL), SQLITE_OK);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		struct stat st;

		fixture_stored_path(f, (const char *)sqlite3_column_text(stmt,
		    0), path);
		if (stat(path, &st) == -1)
			fail_msg("row %s has no file", path);
	}
	sqlite3_finalize(stmt);

	assert_int_equal(sqlite3_prepare_v2(db_sqlite(f->db),
	    "PRAGMA integrity_check", -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "ok");
	sqlite3_finalize(stmt);
	assert_int_equal(fixture_query_int(f, "SELECT count(*) FROM images "
	    "WHERE sha256 NOT IN (SELECT sha256 FROM image_files)"), 0);
}

static inline int
fixture_remove_entry(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) == -1)
		fprintf(stderr, "cannot remove %s: %s\n", path,
		    strerror(errno));
	return 0;
}

/* Creates the folders and opens the store. */
static inline int
fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/nem-test-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	if (mkdir(f->state, 0755) == -1)
		return -1;
	fixture_open_store(f);
	*state = f;
	return 0;
}

/* Closes the store and removes the folder, also after a failed test. */
static inline int
fixture_teardown(void **state)
{
	struct fixture *f = *state;

	if (f == NULL)
		return 0;
	store_test_hook = NULL;
	fixture_close_store(f);
	nftw(f->dir, fixture_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

#endif
