/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the state database: schema migrations, connection options,
 * close-on-exec descriptors, error mapping, and that opening an up-to-date
 * database writes nothing. Each test works in its own mkdtemp folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"

struct fixture {
	char dir[64];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/nem-test-db-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
remove_entry(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) == -1)
		fprintf(stderr, "cannot remove %s: %s\n", path,
		    strerror(errno));
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct db *
open_ok(const char *dir)
{
	struct nem_err err;
	struct db *db = db_open(dir, &err);

	if (db == NULL)
		fail_msg("db_open(%s): %s", dir, err.msg);
	return db;
}

static const char *
query_text(struct db *db, const char *sql, char *buf, size_t size)
{
	sqlite3_stmt *stmt;
	struct nem_err err;

	if (db_prepare(db, sql, &stmt, &err) == -1)
		fail_msg("%s", err.msg);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	snprintf(buf, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return buf;
}

static void
open_creates_latest_schema(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	struct db *db;

	db = open_ok(f->dir);
	assert_int_equal(db_schema_version(db), db_schema_latest());
	assert_true(db_schema_latest() >= 1);
	assert_string_equal(query_text(db, "PRAGMA journal_mode", buf,
	    sizeof(buf)), "wal");
	assert_string_equal(query_text(db, "PRAGMA foreign_keys", buf,
	    sizeof(buf)), "1");
	/* 2 is FULL */
	assert_string_equal(query_text(db, "PRAGMA synchronous", buf,
	    sizeof(buf)), "2");
	assert_string_equal(query_text(db, "SELECT count(*) FROM "
	    "sqlite_master WHERE name IN ('images', 'image_files', "
	    "'image_refs')", buf, sizeof(buf)), "3");
	db_close(db);
}

static void
reopen_writes_nothing(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], wal[PATH_MAX];
	struct stat before, after, wal_before, wal_after;
	struct db *db;

	db_close(open_ok(f->dir));
	snprintf(path, sizeof(path), "%s/rootd.db", f->dir);
	snprintf(wal, sizeof(wal), "%s/rootd.db-wal", f->dir);
	assert_int_equal(stat(path, &before), 0);
	assert_int_equal(stat(wal, &wal_before), 0);
	usleep(20000);

	db = open_ok(f->dir);
	assert_int_equal(db_schema_version(db), db_schema_latest());
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(stat(wal, &wal_after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_true(after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
	    after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
	assert_int_equal(wal_after.st_size, wal_before.st_size);
	assert_true(wal_after.st_mtim.tv_sec == wal_before.st_mtim.tv_sec &&
	    wal_after.st_mtim.tv_nsec == wal_before.st_mtim.tv_nsec);
	db_close(db);
}

static void
descriptors_are_cloexec(void **state)
{
	struct fixture *f = *state;
	struct nem_err err;
	struct dirent *de;
	struct db *db;
	DIR *dir;
	int checked = 0;

	db = open_ok(f->dir);
	assert_int_equal(db_begin(db, &err), 0);
	assert_int_equal(db_exec(db, "INSERT INTO image_refs (jail, sha256) "
	    "VALUES ('web', 'x')", &err), 0);
	assert_int_equal(db_commit(db, &err), 0);

	dir = opendir("/proc/self/fd");
	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL) {
		char link[64], target[PATH_MAX];
		ssize_t n;
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd == dirfd(dir))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, f->dir, strlen(f->dir)) != 0)
			continue;
		if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
			fail_msg("fd %d (%s) is not close-on-exec", fd,
			    target);
		checked++;
	}
	closedir(dir);
	/* rootd.db and rootd.db-wal at least (-shm is mapped, maybe closed) */
	assert_true(checked >= 2);
	db_close(db);
}

static void
newer_schema_rejected(void **state)
{
	struct fixture *f = *state;
	struct nem_err err;
	char sql[64];
	struct db *db;

	db = open_ok(f->dir);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
	    db_schema_latest() + 1);
	assert_int_equal(db_exec(db, sql, &err), 0);
	db_close(db);

	assert_null(db_open(f->dir, &err));
	assert_int_equal(err.code, EPROTO);
	assert_non_null(strstr(err.msg, "newer rootd"));
}

static void
missing_dir_rejected(void **state)
{
	struct fixture *f = *state;
	struct nem_err err;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/absent", f->dir);
	assert_null(db_open(path, &err));
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "absent"));
}

static void
errors_carry_sqlite_message(void **state)
{
	struct fixture *f = *state;
	struct nem_err err;
	sqlite3_stmt *stmt;
	struct db *db;

	db = open_ok(f->dir);
	assert_int_equal(db_exec(db, "INSERT INTO image_refs (jail, sha256) "
	    "VALUES ('web', 'a'), ('web', 'a')", &err), -1);
	assert_int_equal(err.code, EEXIST);
	assert_non_null(strstr(err.msg, "UNIQUE constraint failed"));
	assert_non_null(strstr(err.msg, "rootd.db"));

	assert_int_equal(db_prepare(db, "SELECT nonsense FROM nowhere", &stmt,
	    &err), -1);
	assert_null(stmt);
	assert_int_equal(err.code, EIO);
	assert_non_null(strstr(err.msg, "no such table: nowhere"));
	db_close(db);
}

static void
rollback_discards_writes(void **state)
{
	struct fixture *f = *state;
	struct nem_err err;
	char buf[16];
	struct db *db;

	db = open_ok(f->dir);
	assert_int_equal(db_begin(db, &err), 0);
	assert_int_equal(db_exec(db, "INSERT INTO image_refs (jail, sha256) "
	    "VALUES ('web', 'a')", &err), 0);
	db_rollback(db);
	db_rollback(db);	/* no transaction open: a no-op */
	assert_string_equal(query_text(db, "SELECT count(*) FROM image_refs",
	    buf, sizeof(buf)), "0");
	db_close(db);
	db_close(NULL);
}

static void
reserve_released_and_restored(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct stat st;
	struct db *db;

	db = open_ok(f->dir);
	snprintf(path, sizeof(path), "%s/rootd.db-reserve", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, DB_RESERVE_BYTES);
	assert_true(db_reserve_release(db));
	assert_int_equal(stat(path, &st), -1);
	assert_false(db_reserve_release(db));
	assert_int_equal(db_reserve_restore(db), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, DB_RESERVE_BYTES);
	db_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(open_creates_latest_schema,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(reopen_writes_nothing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(descriptors_are_cloexec, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(newer_schema_rejected, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(missing_dir_rejected, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(errors_carry_sqlite_message,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(rollback_discards_writes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(reserve_released_and_restored,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
