/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Crash points of the image store. A child process imports or removes an
 * image and is killed with SIGKILL at one named step (through
 * store_test_hook). The parent then reopens the store and checks that no
 * row exists for an incomplete file, no file under a final name exists
 * without its row, images/tmp is empty, and finished work is kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>

#include "store_fixture.h"

static const char *kill_step;

static void
kill_at_step(const char *step)
{
	if (strcmp(step, kill_step) == 0)
		raise(SIGKILL);
}

enum crash_op {
	CRASH_IMPORT,		/* import path as "base" 1.0.0 */
	CRASH_IMPORT_COPY,	/* import path as "copy", bytes already stored */
	CRASH_REMOVE,		/* remove "base" */
};

/*
 * Runs op in a child with its own database connection (SQLite connections
 * must not cross fork) and expects the child to die at step.
 */
static void
crash_child(struct fixture *f, enum crash_op op, const char *path,
    const char *step)
{
	struct nem_err err;
	int status;
	pid_t pid;

	fixture_close_store(f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fixture_open_store(f);
		kill_step = step;
		store_test_hook = kill_at_step;
		if (op == CRASH_REMOVE)
			store_remove(f->store, "base", NULL, &err);
		else
			fixture_import(f, path, op == CRASH_IMPORT ? "base" :
			    "copy", op == CRASH_IMPORT ? "1.0.0" : NULL, NULL,
			    &err);
		_exit(3);	/* the step was never reached */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail_msg("child was not killed at step %s (status %d)", step,
		    status);
	fixture_open_store(f);
}

/* Returns true when the image name can be found. */
static bool
has_image(struct fixture *f, const char *name)
{
	struct store_image image;
	struct nem_err err;

	return store_lookup(f->store, name, NULL, NULL, &image, &err) == 0;
}

static const char *const import_steps[] = {
	"import-tmp-created", "import-written", "import-synced",
	"import-renamed", "import-dir-synced", "import-committed",
};

static void
import_killed_at_each_step(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	fixture_make_image(f, "squashfs", "base", 3 * 1024 * 1024, path);
	for (size_t i = 0; i < sizeof(import_steps) / sizeof(import_steps[0]);
	    i++) {
		bool committed = strcmp(import_steps[i],
		    "import-committed") == 0;
		struct store_image image;
		struct nem_err err;
		int fd;

		crash_child(f, CRASH_IMPORT, path, import_steps[i]);
		fixture_check_consistent(f);
		if (has_image(f, "base") != committed)
			fail_msg("after a crash at %s the image is %s",
			    import_steps[i], committed ? "missing" : "there");
		assert_int_equal(fixture_count_files(f, "sha256"),
		    committed ? 1 : 0);
		if (!committed)
			continue;
		assert_int_equal(store_lookup(f->store, "base", NULL, NULL,
		    &image, &err), 0);
		assert_int_equal(store_open_image(f->store, image.sha256, &fd,
		    &err), 0);
		close(fd);
		assert_int_equal(store_remove(f->store, "base", NULL, &err),
		    0);
	}
}

static void
second_name_killed_at_each_step(void **state)
{
	struct fixture *f = *state;
	struct store_image base;
	char path[PATH_MAX];

	fixture_make_image(f, "erofs", "base", 200000, path);
	fixture_import_ok(f, path, "base", "1.0.0", &base);
	for (size_t i = 0; i < sizeof(import_steps) / sizeof(import_steps[0]);
	    i++) {
		bool committed = strcmp(import_steps[i],
		    "import-committed") == 0;
		struct nem_err err;
		int fd;

		crash_child(f, CRASH_IMPORT_COPY, path, import_steps[i]);
		fixture_check_consistent(f);
		assert_true(has_image(f, "base"));
		assert_int_equal(has_image(f, "copy"), committed);
		assert_int_equal(fixture_count_files(f, "sha256"), 1);
		assert_int_equal(store_open_image(f->store, base.sha256, &fd,
		    &err), 0);
		close(fd);
		if (committed)
			assert_int_equal(store_remove(f->store, "copy", NULL,
			    &err), 0);
	}
}

static void
remove_killed_at_each_step(void **state)
{
	static const char *const steps[] = { "remove-committed",
		"remove-unlinked" };
	struct fixture *f = *state;
	char path[PATH_MAX];

	fixture_make_image(f, "ext4", "base", 100000, path);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		fixture_import_ok(f, path, "base", "1.0.0", NULL);
		crash_child(f, CRASH_REMOVE, NULL, steps[i]);
		fixture_check_consistent(f);
		assert_false(has_image(f, "base"));
		assert_int_equal(fixture_count_files(f, "sha256"), 0);
	}
}

#define STORE_TEST(fn) \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_TEST(import_killed_at_each_step),
		STORE_TEST(second_name_killed_at_each_step),
		STORE_TEST(remove_killed_at_each_step),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
