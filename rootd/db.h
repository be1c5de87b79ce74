/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The state database: one SQLite file, <state_dir>/rootd.db, in WAL mode,
 * shared by every rootd module that keeps state across restarts (images,
 * volumes, jail runtime records). This module opens it, brings its schema
 * up to date and wraps transactions and prepared statements so that every
 * failure carries sqlite3_errmsg. One connection, used by one thread at a
 * time.
 *
 * Changing the schema: append one SQL string to the migrations array in
 * db.c. Migration i (counting from 1) runs once, in its own transaction, on
 * a database whose PRAGMA user_version is i - 1, and sets user_version to i.
 * Never edit or reorder a migration that has been committed, because
 * databases in the field have already run it.
 */
#ifndef ROOTD_DB_H
#define ROOTD_DB_H

#include <stdbool.h>

#include <sqlite3.h>

#include <nem/err.h>

#define DB_FILE_NAME "rootd.db"
#define DB_BUSY_TIMEOUT_MS 5000	/* wait for another connection's lock */

struct db;

/*
 * Opens or creates <state_dir>/rootd.db, applies pending migrations and
 * makes sure the space reserve exists. state_dir must exist. Returns a
 * handle to free with db_close, or NULL with err set:
 *   ENOENT, EACCES  from the file system
 *   EROFS           a migration is needed but the file system is read-only
 *   ENOSPC          the disk filled up during a migration
 *   EPROTO          a newer rootd wrote the database (user_version above
 *                   the latest migration)
 *   EIO             any other SQLite error
 * Opening an up-to-date database writes nothing to it, so it works on a
 * full disk.
 */
struct db *db_open(const char *state_dir, struct nem_err *err);

/* Closes the database. NULL is allowed. */
void db_close(struct db *db);

/* Returns the SQLite connection for statements of other modules. */
sqlite3 *db_sqlite(struct db *db);

/* Returns the schema version: the number of migrations applied. */
int db_schema_version(struct db *db);

/* Returns the number of migrations in this build. */
int db_schema_latest(void);

/*
 * Runs one or more SQL statements without results. Returns 0, or -1 with
 * err set as by db_fail.
 */
int db_exec(struct db *db, const char *sql, struct nem_err *err);

/*
 * Prepares one statement into *out (to finalize with sqlite3_finalize).
 * Returns 0, or -1 with err set as by db_fail.
 */
int db_prepare(struct db *db, const char *sql, sqlite3_stmt **out,
    struct nem_err *err);

/*
 * Starts a write transaction (BEGIN IMMEDIATE, so the write lock is taken
 * at once and a busy database fails here rather than at the first write).
 * Returns 0, or -1 with err set as by db_fail.
 */
int db_begin(struct db *db, struct nem_err *err);

/* Commits the open transaction. Returns 0, or -1 (then it rolled back). */
int db_commit(struct db *db, struct nem_err *err);

/* Rolls back the open transaction, if any. Never fails. */
void db_rollback(struct db *db);

/*
 * Fills err from the connection's last error, rc being the failed call's
 * result code and `what` naming the operation ("insert image row"). The
 * code is ENOSPC for SQLITE_FULL, EBUSY for SQLITE_BUSY and SQLITE_LOCKED,
 * EROFS for SQLITE_READONLY, ENOMEM for SQLITE_NOMEM, EEXIST for a
 * constraint violation and EIO for anything else. Returns -1.
 */
int db_fail(struct db *db, int rc, const char *what, struct nem_err *err);

/*
 * Space kept in reserve for the database: a file of this many bytes beside
 * it, released when a write fails because the disk is full, so that
 * operations that free space (removing an image) can still commit.
 */
#define DB_RESERVE_BYTES (4 * 1024 * 1024)

/*
 * Deletes the reserve file, giving its space back to the file system.
 * Returns true when a reserve existed and was removed.
 */
bool db_reserve_release(struct db *db);

/*
 * Recreates the reserve file if it is missing. Failure (a full disk) is
 * logged, and db_open and store_remove call this again. Returns 0, or -1
 * when the reserve could not be made.
 */
int db_reserve_restore(struct db *db);

#endif
