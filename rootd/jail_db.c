/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The jail runtime's records in the state database: the lifecycle state of
 * each jail (table jails), the resources of allocated jails
 * (jail_resources) and the shared image mounts (image_mounts). Each write
 * is its own transaction, so a record is durable before the side effect
 * that follows it.
 */
#include "jail_int.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static const char *const state_names[] = {
	[JAIL_STATE_DEFINED] = "defined",
	[JAIL_STATE_ALLOCATING] = "allocating",
	[JAIL_STATE_STARTING] = "starting",
	[JAIL_STATE_READY] = "ready",
	[JAIL_STATE_STOPPING] = "stopping",
	[JAIL_STATE_FREEING] = "freeing",
	[JAIL_STATE_STOPPED] = "stopped",
	[JAIL_STATE_FAILED] = "failed",
	[JAIL_STATE_WAITING] = "waiting",
};

static const char *const kind_names[] = {
	[JAIL_RES_MOUNT] = "mount",
	[JAIL_RES_LOOP] = "loop",
	[JAIL_RES_MD_FILE] = "md_file",
	[JAIL_RES_VOLUME] = "volume",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *
jail_state_name(enum jail_state state)
{
	if ((size_t)state >= NELEM(state_names))
		return "unknown";
	return state_names[state];
}

static int
state_parse(const char *name, enum jail_state *state)
{
	for (size_t i = 0; i < NELEM(state_names); i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*state = (enum jail_state)i;
			return 0;
		}
	}
	return -1;
}

const char *
jail_res_kind_name(enum jail_res_kind kind)
{
	if ((size_t)kind >= NELEM(kind_names))
		return "unknown";
	return kind_names[kind];
}

int
jail_res_kind_parse(const char *name, enum jail_res_kind *kind)
{
	for (size_t i = 0; i < NELEM(kind_names); i++) {
		if (strcmp(name, kind_names[i]) == 0) {
			*kind = (enum jail_res_kind)i;
			return 0;
		}
	}
	return -1;
}

/* Runs stmt to completion and finalizes it. what names it in errors. */
static int
step_done(struct db *db, sqlite3_stmt *stmt, const char *what,
    struct nem_err *err)
{
	int rc = sqlite3_step(stmt);

	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return db_fail(db, rc, what, err);
	return 0;
}

int
jail_db_state_set(struct db *db, const char *name, enum jail_state state,
    const char *reason, struct nem_err *err)
{
	sqlite3_stmt *stmt;

	if (db_prepare(db, "INSERT INTO jails (name, state, reason, updated) "
	    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET "
	    "state = ?2, reason = ?3, updated = ?4", &stmt, err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 2, jail_state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, reason ? reason : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 4, (sqlite3_int64)time(NULL));
	if (step_done(db, stmt, "write jail state", err) == -1) {
		nem_err_prefix(err, "jail %s: record state %s", name,
		    jail_state_name(state));
		return -1;
	}
	return 0;
}

int
jail_db_pid_set(struct db *db, const char *name, pid_t pid,
    struct nem_err *err)
{
	sqlite3_stmt *stmt;

	if (db_prepare(db, "UPDATE jails SET pid = ?2 WHERE name = ?1", &stmt,
	    err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)pid);
	return step_done(db, stmt, "write jail pid", err);
}

int
jail_state_set(struct jail_runtime *rt, const char *name,
    enum jail_state state, const char *reason, struct nem_err *err)
{
	if (name_check("jail", name, err) == -1)
		return -1;
	return jail_db_state_set(rt->db, name, state, reason, err);
}

int
jail_state_get(struct jail_runtime *rt, const char *name,
    enum jail_state *state, char *reason, size_t size, struct nem_err *err)
{
	sqlite3_stmt *stmt;
	const char *text;
	int rc;

	if (db_prepare(rt->db, "SELECT state, reason FROM jails WHERE "
	    "name = ?1", &stmt, err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(stmt);
		return 1;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(stmt);
		return db_fail(rt->db, rc, "read jail state", err);
	}
	text = (const char *)sqlite3_column_text(stmt, 0);
	if (text == NULL || state_parse(text, state) == -1) {
		nem_err_set(err, EBADMSG, "jail %s: unknown state %s in the "
		    "state database", name, text ? text : "(null)");
		sqlite3_finalize(stmt);
		return -1;
	}
	text = (const char *)sqlite3_column_text(stmt, 1);
	if (reason != NULL && size > 0)
		snprintf(reason, size, "%s", text ? text : "");
	sqlite3_finalize(stmt);
	return 0;
}

int
jail_db_res_add(struct db *db, const char *jail, enum jail_res_kind kind,
    const char *path, int64_t *row, struct nem_err *err)
{
	sqlite3_stmt *stmt;

	if (db_prepare(db, "INSERT INTO jail_resources (jail, kind, path) "
	    "VALUES (?1, ?2, ?3)", &stmt, err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, jail, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 2, jail_res_kind_name(kind), -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, path, -1, SQLITE_TRANSIENT);
	if (step_done(db, stmt, "record jail resource", err) == -1) {
		nem_err_prefix(err, "jail %s: %s %s", jail,
		    jail_res_kind_name(kind), path);
		return -1;
	}
	*row = sqlite3_last_insert_rowid(db_sqlite(db));
	return 0;
}

int
jail_db_res_done(struct db *db, int64_t row, const char *device,
    struct nem_err *err)
{
	sqlite3_stmt *stmt;

	if (db_prepare(db, "UPDATE jail_resources SET done = 1, device = ?2 "
	    "WHERE id = ?1", &stmt, err) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, row);
	sqlite3_bind_text(stmt, 2, device ? device : "", -1,
	    SQLITE_TRANSIENT);
	return step_done(db, stmt, "mark jail resource done", err);
}

int
jail_db_res_delete(struct db *db, int64_t row, struct nem_err *err)
{
	sqlite3_stmt *stmt;

	if (db_prepare(db, "DELETE FROM jail_resources WHERE id = ?1", &stmt,
	    err) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, row);
	return step_done(db, stmt, "delete jail resource", err);
}

int
jail_db_image_add(struct db *db, const char *sha256, const char *path,
    const char *backing, struct nem_err *err)
{
	sqlite3_stmt *stmt;

	if (db_prepare(db, "INSERT OR REPLACE INTO image_mounts (sha256, "
	    "path, backing) VALUES (?1, ?2, ?3)", &stmt, err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, sha256, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 2, path, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 3, backing, -1, SQLITE_TRANSIENT);
	return step_done(db, stmt, "record image mount", err);
}

int
jail_db_image_done(struct db *db, const char *sha256, const char *device,
    struct nem_err *err)
{
	sqlite3_stmt *stmt;

	if (db_prepare(db, "UPDATE image_mounts SET done = 1, device = ?2 "
	    "WHERE sha256 = ?1", &stmt, err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, sha256, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 2, device, -1, SQLITE_TRANSIENT);
	return step_done(db, stmt, "mark image mount done", err);
}

int
jail_db_image_delete(struct db *db, const char *sha256, struct nem_err *err)
{
	sqlite3_stmt *stmt;

	if (db_prepare(db, "DELETE FROM image_mounts WHERE sha256 = ?1", &stmt,
	    err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, sha256, -1, SQLITE_TRANSIENT);
	return step_done(db, stmt, "delete image mount record", err);
}
