/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the jail runtime's state records (jail_db.c): lifecycle
 * states, resource rows and image mount rows in a real SQLite state
 * database under a mkdtemp folder. Needs no root; the mount side of the
 * runtime is covered by tests/integration/jail_runtime.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"
#include "jail_int.h"

#define assert_ok(call, err) \
	do { \
		if ((call) == -1) \
			fail_msg("%s: %s", #call, (err).msg); \
	} while (0)

struct db_fixture {
	char dir[64];
	struct jail_runtime rt;	/* only db is set */
};

static int
setup(void **state)
{
	struct db_fixture *f = calloc(1, sizeof(*f));
	struct nem_err err;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/nem-jail-db-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->rt.db = db_open(f->dir, &err);
	if (f->rt.db == NULL)
		fail_msg("db_open: %s", err.msg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct db_fixture *f = *state;
	char cmd[128];

	db_close(f->rt.db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

static int
count(struct db *db, const char *sql)
{
	sqlite3_stmt *stmt;
	struct nem_err err;
	int n;

	assert_ok(db_prepare(db, sql, &stmt, &err), err);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	n = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

static void
state_names_distinct(void **state)
{
	(void)state;
	assert_string_equal(jail_state_name(JAIL_STATE_DEFINED), "defined");
	assert_string_equal(jail_state_name(JAIL_STATE_ALLOCATING),
	    "allocating");
	assert_string_equal(jail_state_name(JAIL_STATE_FAILED), "failed");
	assert_string_equal(jail_state_name(JAIL_STATE_WAITING), "waiting");
	assert_string_equal(jail_state_name((enum jail_state)99), "unknown");
	for (int a = JAIL_STATE_DEFINED; a <= JAIL_STATE_WAITING; a++) {
		for (int b = a + 1; b <= JAIL_STATE_WAITING; b++)
			assert_string_not_equal(jail_state_name(a),
			    jail_state_name(b));
	}
}

static void
state_set_and_get(void **state)
{
	struct db_fixture *f = *state;
	enum jail_state st;
	struct nem_err err;
	char reason[64];

	assert_int_equal(jail_state_get(&f->rt, "web", &st, reason,
	    sizeof(reason), &err), 1);
	assert_ok(jail_state_set(&f->rt, "web", JAIL_STATE_ALLOCATING, NULL,
	    &err), err);
	assert_int_equal(jail_state_get(&f->rt, "web", &st, reason,
	    sizeof(reason), &err), 0);
	assert_int_equal(st, JAIL_STATE_ALLOCATING);
	assert_string_equal(reason, "");

	assert_ok(jail_state_set(&f->rt, "web", JAIL_STATE_FAILED,
	    "image base not found", &err), err);
	assert_int_equal(jail_state_get(&f->rt, "web", &st, reason,
	    sizeof(reason), &err), 0);
	assert_int_equal(st, JAIL_STATE_FAILED);
	assert_string_equal(reason, "image base not found");
	assert_int_equal(count(f->rt.db, "SELECT count(*) FROM jails"), 1);
}

static void
state_set_rejects_bad_name(void **state)
{
	struct db_fixture *f = *state;
	struct nem_err err;

	assert_int_equal(jail_state_set(&f->rt, "../etc", JAIL_STATE_READY,
	    NULL, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_int_equal(count(f->rt.db, "SELECT count(*) FROM jails"), 0);
}

static void
resource_rows_lifecycle(void **state)
{
	struct db_fixture *f = *state;
	enum jail_res_kind kind;
	struct nem_err err;
	int64_t a, b;

	assert_ok(jail_db_res_add(f->rt.db, "web", JAIL_RES_LOOP,
	    "/run/nem/jails/web/md/1.img", &a, &err), err);
	assert_ok(jail_db_res_add(f->rt.db, "web", JAIL_RES_MOUNT,
	    "/run/nem/jails/web/root/var/db", &b, &err), err);
	assert_true(b > a);
	assert_int_equal(count(f->rt.db, "SELECT count(*) FROM "
	    "jail_resources WHERE done = 0"), 2);

	assert_ok(jail_db_res_done(f->rt.db, a, "/dev/loop7", &err), err);
	assert_int_equal(count(f->rt.db, "SELECT count(*) FROM "
	    "jail_resources WHERE done = 1 AND device = '/dev/loop7'"), 1);

	assert_ok(jail_db_res_delete(f->rt.db, a, &err), err);
	assert_ok(jail_db_res_delete(f->rt.db, b, &err), err);
	assert_int_equal(count(f->rt.db, "SELECT count(*) FROM "
	    "jail_resources"), 0);

	assert_int_equal(jail_res_kind_parse("md_file", &kind), 0);
	assert_int_equal(kind, JAIL_RES_MD_FILE);
	assert_int_equal(jail_res_kind_parse("nullfs", &kind), -1);
}

static void
image_rows_lifecycle(void **state)
{
	struct db_fixture *f = *state;
	static const char sha[] = "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef";
	struct nem_err err;

	assert_ok(jail_db_image_add(f->rt.db, sha, "/run/nem/images/x",
	    "/var/lib/nem/images/sha256/x", &err), err);
	assert_ok(jail_db_image_done(f->rt.db, sha, "/dev/loop3", &err), err);
	assert_int_equal(count(f->rt.db, "SELECT count(*) FROM image_mounts "
	    "WHERE done = 1 AND device = '/dev/loop3'"), 1);
	assert_ok(jail_db_image_delete(f->rt.db, sha, &err), err);
	assert_int_equal(count(f->rt.db, "SELECT count(*) FROM "
	    "image_mounts"), 0);
}

static void
schema_rejects_unknown_state(void **state)
{
	struct db_fixture *f = *state;
	struct nem_err err;

	assert_int_equal(db_exec(f->rt.db, "INSERT INTO jails (name, state, "
	    "updated) VALUES ('web', 'running', 0)", &err), -1);
	assert_int_equal(err.code, EEXIST);
	assert_int_equal(db_exec(f->rt.db, "INSERT INTO jail_resources "
	    "(jail, kind, path) VALUES ('web', 'nullfs', '/x')", &err), -1);
	assert_int_equal(err.code, EEXIST);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(state_names_distinct),
		cmocka_unit_test_setup_teardown(state_set_and_get, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(state_set_rejects_bad_name,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(resource_rows_lifecycle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(image_rows_lifecycle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(schema_rejects_unknown_state,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
