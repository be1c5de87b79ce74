/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The state database: opening, the ordered list of schema migrations, and
 * thin wrappers that turn SQLite result codes into struct nem_err. See
 * db.h for how to add a migration.
 */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nem/log.h>

#define DB_RESERVE_NAME "rootd.db-reserve"

struct db {
	sqlite3 *sqlite;
	char path[PATH_MAX];
	char reserve_path[PATH_MAX];
};

/*
 * Schema migrations, oldest first. Entry i brings user_version from i to
 * i + 1. Append only, as db.h explains.
 */
static const char *const migrations[] = {
	/*
	 * 1: the image store. image_files has one row per stored file
	 * images/sha256/<sha256>, images one row per name and version
	 * (version "" when the image has none), image_refs one row per jail
	 * and image file the jail's description mounts.
	 */
	"CREATE TABLE image_files ("
	"  sha256 TEXT PRIMARY KEY NOT NULL"
	"    CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),"
	"  size INTEGER NOT NULL CHECK (size > 0),"
	"  fstype TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  bad INTEGER NOT NULL DEFAULT 0 CHECK (bad IN (0, 1))"
	");"
	"CREATE TABLE images ("
	"  name TEXT NOT NULL,"
	"  version TEXT NOT NULL DEFAULT '',"
	"  sha256 TEXT NOT NULL REFERENCES image_files (sha256),"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (name, version)"
	");"
	"CREATE INDEX images_by_sha256 ON images (sha256);"
	"CREATE TABLE image_refs ("
	"  jail TEXT NOT NULL,"
	"  sha256 TEXT NOT NULL,"
	"  PRIMARY KEY (jail, sha256)"
	") WITHOUT ROWID;"
	"CREATE INDEX image_refs_by_sha256 ON image_refs (sha256);",
	/*
	 * 2: jail runtime records. jails holds each jail's lifecycle state;
	 * jail_resources one row per mount, loop device, ephemeral md image
	 * and volume of an allocated jail, written before the side effect
	 * (done = 0) and marked done after; image_mounts one row per image
	 * mounted under <run_dir>/images and shared by jails.
	 */
	"CREATE TABLE jails ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('defined', 'allocating',"
	"    'starting', 'ready', 'stopping', 'freeing', 'stopped', 'failed',"
	"    'waiting')),"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  pid INTEGER NOT NULL DEFAULT 0,"
	"  updated INTEGER NOT NULL"
	");"
	"CREATE TABLE jail_resources ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  jail TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('mount', 'loop', 'md_file',"
	"    'volume')),"
	"  path TEXT NOT NULL,"
	"  device TEXT NOT NULL DEFAULT '',"
	"  done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1))"
	");"
	"CREATE INDEX jail_resources_by_jail ON jail_resources (jail, id);"
	"CREATE TABLE image_mounts ("
	"  sha256 TEXT PRIMARY KEY NOT NULL,"
	"  path TEXT NOT NULL,"
	"  backing TEXT NOT NULL,"
	"  device TEXT NOT NULL DEFAULT '',"
	"  done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1))"
	");",
	/*
	 * 3: the jail manager's records. jm_jails stores each jail's state
	 * when no runtime records it, as in tests with a stand-in runtime.
	 * jm_pids stores the pid and start time of each root process, so a
	 * restarted daemon ends the ones that outlived it. IF NOT EXISTS is
	 * kept because earlier daemons created these tables themselves.
	 */
	"CREATE TABLE IF NOT EXISTS jm_jails ("
	"  name TEXT PRIMARY KEY,"
	"  state TEXT NOT NULL,"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  last_status INTEGER NOT NULL DEFAULT -1,"
	"  pid INTEGER NOT NULL DEFAULT 0,"
	"  updated INTEGER NOT NULL"
	");"
	"CREATE TABLE IF NOT EXISTS jm_pids ("
	"  key TEXT PRIMARY KEY,"
	"  pid INTEGER NOT NULL,"
	"  start_time INTEGER NOT NULL"
	");",
};

#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

int
db_schema_latest(void)
{
	return MIGRATION_COUNT;
}

int
db_fail(struct db *db, int rc, const char *what, struct nem_err *err)
{
	const char *msg = db != NULL && db->sqlite != NULL ?
	    sqlite3_errmsg(db->sqlite) : sqlite3_errstr(rc);
	const char *path = db != NULL ? db->path : DB_FILE_NAME;
	int code;

	switch (rc & 0xff) {
	case SQLITE_FULL:
		code = ENOSPC;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		code = EBUSY;
		break;
	case SQLITE_READONLY:
		code = EROFS;
		break;
	case SQLITE_NOMEM:
		code = ENOMEM;
		break;
	case SQLITE_CONSTRAINT:
		code = EEXIST;
		break;
	case SQLITE_CANTOPEN:
		code = ENOENT;
		break;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		code = EACCES;
		break;
	default:
		code = EIO;
		break;
	}
	if (code == ENOSPC)
		return nem_err_set(err, code, "state database %s: %s: no space "
		    "left on device (%s); free space on its file system",
		    path, what, msg);
	return nem_err_set(err, code, "state database %s: %s: %s (SQLite "
	    "code %d)", path, what, msg, rc);
}

int
db_exec(struct db *db, const char *sql, struct nem_err *err)
{
	int rc = sqlite3_exec(db->sqlite, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return db_fail(db, rc, "execute SQL", err);
	return 0;
}

int
db_prepare(struct db *db, const char *sql, sqlite3_stmt **out,
    struct nem_err *err)
{
	int rc = sqlite3_prepare_v2(db->sqlite, sql, -1, out, NULL);

	if (rc != SQLITE_OK) {
		*out = NULL;
		return db_fail(db, rc, "prepare statement", err);
	}
	return 0;
}

int
db_begin(struct db *db, struct nem_err *err)
{
	int rc = sqlite3_exec(db->sqlite, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return db_fail(db, rc, "begin transaction", err);
	return 0;
}

int
db_commit(struct db *db, struct nem_err *err)
{
	int rc = sqlite3_exec(db->sqlite, "COMMIT", NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		db_fail(db, rc, "commit transaction", err);
		db_rollback(db);
		return -1;
	}
	return 0;
}

void
db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->sqlite))
		sqlite3_exec(db->sqlite, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3 *
db_sqlite(struct db *db)
{
	return db->sqlite;
}

/* Reads one integer PRAGMA. */
static int
read_pragma_int(struct db *db, const char *sql, int *out, struct nem_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (db_prepare(db, sql, &stmt, err) == -1)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(stmt);
		return db_fail(db, rc, sql, err);
	}
	*out = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
}

int
db_schema_version(struct db *db)
{
	int version = -1;

	if (read_pragma_int(db, "PRAGMA user_version", &version, NULL) == -1)
		return -1;
	return version;
}

static int
migrate(struct db *db, struct nem_err *err)
{
	char sql[64];
	int version = 0;

	if (read_pragma_int(db, "PRAGMA user_version", &version, err) == -1)
		return -1;
	if (version > MIGRATION_COUNT)
		return nem_err_set(err, EPROTO, "state database %s has schema "
		    "version %d, but this rootd knows only versions up to %d; "
		    "run a newer rootd or restore a backup", db->path,
		    version, MIGRATION_COUNT);

	for (int i = version; i < MIGRATION_COUNT; i++) {
		if (db_begin(db, err) == -1)
			return -1;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", i + 1);
		if (db_exec(db, migrations[i], err) == -1 ||
		    db_exec(db, sql, err) == -1) {
			db_rollback(db);
			nem_err_prefix(err, "migrate schema to version %d",
			    i + 1);
			return -1;
		}
		if (db_commit(db, err) == -1)
			return -1;
		log_info("state database: %s: schema migrated to version %d",
		    db->path, i + 1);
	}
	return 0;
}

/*
 * Sets the connection options. None of these writes to the file except
 * switching journal_mode to WAL, which happens once per database.
 *
 * synchronous=FULL: in WAL mode, NORMAL may lose the last commits on power
 * loss. Jail runtime records are written before the side effect they
 * describe (a loop device attached, a mount made), so a lost commit would
 * hide that side effect from the next start. rootd commits a few times per
 * jail start, so the fsync per commit costs little.
 *
 * SQLITE_FCNTL_PERSIST_WAL keeps the -wal and -shm files after the last
 * connection closes, so a later open on a full disk finds them already
 * allocated instead of having to create them.
 */
static int
configure(struct db *db, struct nem_err *err)
{
	sqlite3_stmt *stmt;
	int persist = 1;
	int rc;

	sqlite3_extended_result_codes(db->sqlite, 1);
	rc = sqlite3_busy_timeout(db->sqlite, DB_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "set busy timeout", err);
	if (db_exec(db, "PRAGMA foreign_keys = ON;"
	    "PRAGMA synchronous = FULL;"
	    "PRAGMA temp_store = MEMORY;"
	    "PRAGMA trusted_schema = OFF;", err) == -1)
		return -1;
	rc = sqlite3_file_control(db->sqlite, "main", SQLITE_FCNTL_PERSIST_WAL,
	    &persist);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "keep the WAL file", err);

	if (db_prepare(db, "PRAGMA journal_mode", &stmt, err) == -1)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(stmt);
		return db_fail(db, rc, "read journal mode", err);
	}
	if (strcmp((const char *)sqlite3_column_text(stmt, 0), "wal") == 0) {
		sqlite3_finalize(stmt);
		return 0;
	}
	sqlite3_finalize(stmt);
	return db_exec(db, "PRAGMA journal_mode = WAL", err);
}

struct db *
db_open(const char *state_dir, struct nem_err *err)
{
	struct stat st;
	struct db *db;
	int rc;

	if (stat(state_dir, &st) == -1) {
		nem_err_sys(err, errno, "state directory %s", state_dir);
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		nem_err_set(err, ENOTDIR, "state directory %s is not a "
		    "directory", state_dir);
		return NULL;
	}
	db = calloc(1, sizeof(*db));
	if (db == NULL) {
		nem_err_sys(err, ENOMEM, "state database");
		return NULL;
	}
	if ((size_t)snprintf(db->path, sizeof(db->path), "%s/%s", state_dir,
	    DB_FILE_NAME) >= sizeof(db->path) ||
	    (size_t)snprintf(db->reserve_path, sizeof(db->reserve_path),
	    "%s/%s", state_dir, DB_RESERVE_NAME) >= sizeof(db->reserve_path)) {
		nem_err_set(err, ENAMETOOLONG, "state directory path %s is "
		    "too long", state_dir);
		free(db);
		return NULL;
	}

	/*
	 * SQLite's unix VFS opens every file with O_CLOEXEC (checked by
	 * test_db for the database, WAL and shm files).
	 */
	rc = sqlite3_open_v2(db->path, &db->sqlite,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    NULL);
	if (rc != SQLITE_OK) {
		db_fail(db, rc, "open", err);
		db_close(db);
		return NULL;
	}
	if (configure(db, err) == -1 || migrate(db, err) == -1) {
		db_close(db);
		return NULL;
	}
	db_reserve_restore(db);
	return db;
}

void
db_close(struct db *db)
{
	int rc;

	if (db == NULL)
		return;
	if (db->sqlite != NULL) {
		rc = sqlite3_close(db->sqlite);
		if (rc != SQLITE_OK)
			log_warn("state database: %s: close failed: %s; "
			    "statements were left open", db->path,
			    sqlite3_errstr(rc));
	}
	free(db);
}

bool
db_reserve_release(struct db *db)
{
	if (unlink(db->reserve_path) == 0) {
		log_warn("state database: %s: disk full, released the %d "
		    "byte reserve", db->path, DB_RESERVE_BYTES);
		return true;
	}
	return false;
}

int
db_reserve_restore(struct db *db)
{
	struct stat st;
	int fd, rc;

	if (stat(db->reserve_path, &st) == 0 && st.st_size >= DB_RESERVE_BYTES)
		return 0;
	fd = open(db->reserve_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1) {
		log_warn("state database: %s: cannot create the space reserve: "
		    "%s", db->reserve_path, strerror(errno));
		return -1;
	}
	rc = posix_fallocate(fd, 0, DB_RESERVE_BYTES);
	if (rc != 0) {
		close(fd);
		unlink(db->reserve_path);
		log_warn("state database: %s: cannot allocate the %d byte "
		    "space reserve: %s; retrying at the next open or removal",
		    db->reserve_path, DB_RESERVE_BYTES, strerror(rc));
		return -1;
	}
	close(fd);
	return 0;
}
