/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Root integration test guarding against mounts redirected by symlinks. A
 * shared pool is bind-mounted at /pool and contains x, a symlink to "/" or
 * to "../../../..". Mounting an md image at /pool/x/scratch and copying a file
 * to /pool/x/app.conf must fail with an error naming the destination, and
 * nothing may be mounted or created on the host outside the test folder.
 * The race variant swaps the directory x with such a symlink in a loop
 * (renameat2 RENAME_EXCHANGE) while jail trees are built and torn down.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "os_fixture.h"

#define assert_ok(call, err) \
	do { \
		if ((call) == -1) \
			fail_msg("%s: %s", #call, (err).msg); \
	} while (0)

#define RACE_ROUNDS 200

/*
 * Mount ids and paths of the host as one text, leaving out the folders of
 * test runs (/tmp/nem-*), because other integration tests may mount there
 * at the same time. An escaped mount would land at /scratch instead.
 */
static char *
host_mounts(const char *dir)
{
	struct os_mount *m;
	struct nem_err err;
	size_t n, len = 0, cap = 4096;
	char *text = malloc(cap);

	assert_non_null(text);
	text[0] = '\0';
	assert_ok(os_mount_list("/", &m, &n, &err), err);
	for (size_t i = 0; i < n; i++) {
		size_t need = strlen(m[i].path) + 32;

		(void)dir;
		if (strncmp(m[i].path, "/tmp/nem-", 9) == 0)
			continue;
		if (len + need >= cap) {
			cap = (cap + need) * 2;
			text = realloc(text, cap);
			assert_non_null(text);
		}
		len += (size_t)snprintf(text + len, cap - len, "%d %s\n",
		    m[i].id, m[i].path);
	}
	os_mount_list_free(m, n);
	return text;
}

static void
assert_absent(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		fail_msg("%s exists on the host", path);
}

/* Creates an md image once and attaches it; returns its device. */
static void
md_attach(struct fixture *f, struct os_disk *disk)
{
	char img[PATH_MAX];
	struct nem_err err;
	struct stat st;
	int fd;

	snprintf(img, sizeof(img), "%s/scratch.img", f->dir);
	if (stat(img, &st) == -1)
		assert_ok(os_md_image_create(f->cache, img, 8u << 20, 0, &err),
		    err);
	fd = open(img, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_ok(os_disk_attach(fd, 0, disk, &err), err);
	close(fd);
}

static void
expect_escape_error(const struct nem_err *err, const char *dest)
{
	if (strstr(err->msg, dest) == NULL ||
	    strstr(err->msg, "outside the jail or through a symlink") == NULL)
		fail_msg("unexpected error for %s: %s", dest, err->msg);
	assert_true(err->code == ELOOP || err->code == EXDEV);
}

static void
symlink_rejected(struct fixture *f, const char *target)
{
	char x[PATH_MAX], *before, *after;
	struct jail_tree t;
	struct os_disk md;
	struct nem_err err;
	int fd;

	assert_absent("/scratch");
	assert_absent("/app.conf");
	snprintf(x, sizeof(x), "%s/x", f->pool);
	unlink(x);
	assert_int_equal(symlink(target, x), 0);
	before = host_mounts(f->dir);

	assert_ok(fixture_build_jail(f, "sym", TREE_POOL, &t, &err), err);
	md_attach(f, &md);
	assert_int_equal(os_mount_md(&t.root, "/pool/x/scratch", md.path,
	    &err), -1);
	expect_escape_error(&err, "/pool/x/scratch");
	assert_ok(os_disk_detach(&md, &err), err);

	fd = open(f->conf, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(os_copy_file(&t.root, "/pool/x/app.conf", fd, 0644,
	    &err), -1);
	close(fd);
	expect_escape_error(&err, "/pool/x/app.conf");

	after = host_mounts(f->dir);
	assert_string_equal(before, after);
	assert_absent("/scratch");
	assert_absent("/app.conf");
	free(before);
	free(after);
	fixture_free_jail(f, &t);
	assert_int_equal(fixture_count_mounts(f->dir), 0);
}

static void
symlink_to_root(void **state)
{
	symlink_rejected(*state, "/");
}

static void
symlink_upwards(void **state)
{
	symlink_rejected(*state, "../../../..");
}

/* Swaps pool/x and pool/x.alt until killed. */
static __attribute__((noreturn)) void
exchange_loop(const char *pool)
{
	char x[PATH_MAX], alt[PATH_MAX];

	snprintf(x, sizeof(x), "%s/x", pool);
	snprintf(alt, sizeof(alt), "%s/x.alt", pool);
	for (;;)
		renameat2(AT_FDCWD, x, AT_FDCWD, alt, RENAME_EXCHANGE);
}

/* Fails when a mount of one of our two devices sits outside dir, the
 * jail root. */
static void
check_devices_inside(const char *dir, const char *dev_a, const char *dev_b)
{
	struct os_mount *m;
	struct nem_err err;
	size_t n;

	assert_ok(os_mount_list("/", &m, &n, &err), err);
	for (size_t i = 0; i < n; i++) {
		/* Both devices are attached to our files while this runs, so
		 * every mount of them is ours. */
		bool ours = strcmp(m[i].source, dev_a) == 0 ||
		    strcmp(m[i].source, dev_b) == 0;

		if (ours && strncmp(m[i].path, dir, strlen(dir)) != 0)
			fail_msg("mount of %s at %s is outside %s",
			    m[i].source, m[i].path, dir);
	}
	os_mount_list_free(m, n);
}

static void
exchange_race(void **state)
{
	struct fixture *f = *state;
	char x[PATH_MAX], alt[PATH_MAX], *before, *after;
	int ok = 0, rejected = 0, fd;

	assert_absent("/scratch");
	assert_absent("/app.conf");
	snprintf(x, sizeof(x), "%s/x", f->pool);
	snprintf(alt, sizeof(alt), "%s/x.alt", f->pool);
	assert_int_equal(mkdir(x, 0755), 0);
	assert_int_equal(symlink("/", alt), 0);
	before = host_mounts(f->dir);

	f->helper = fork();
	assert_true(f->helper >= 0);
	if (f->helper == 0)
		exchange_loop(f->pool);

	fd = open(f->conf, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		struct jail_tree t;
		struct os_disk md;
		struct nem_err err;
		int rc;

		assert_ok(fixture_build_jail(f, "race", TREE_POOL, &t, &err),
		    err);
		md_attach(f, &md);
		rc = os_mount_md(&t.root, "/pool/x/scratch", md.path, &err);
		if (rc == -1)
			expect_escape_error(&err, "/pool/x/scratch");
		check_devices_inside(t.root_path, md.path, t.disks[0].path);
		if (rc == 0) {
			os_disk_release(&md);
			rc = os_copy_file(&t.root, "/pool/x/app.conf", fd,
			    0644, &err);
			if (rc == -1)
				expect_escape_error(&err, "/pool/x/app.conf");
		}
		rc == 0 ? ok++ : rejected++;
		fixture_free_jail(f, &t);
		if (os_disk_detach(&md, &err) == -1)
			fail_msg("detach: %s", err.msg);
		assert_int_equal(fixture_count_mounts(f->dir), 0);
	}
	close(fd);
	kill(f->helper, SIGKILL);
	waitpid(f->helper, NULL, 0);
	f->helper = 0;

	after = host_mounts(f->dir);
	assert_string_equal(before, after);
	assert_absent("/scratch");
	assert_absent("/app.conf");
	free(before);
	free(after);
	print_message("race: %d rounds succeeded, %d rejected\n", ok,
	    rejected);
	assert_int_equal(ok + rejected, RACE_ROUNDS);
	assert_int_equal(fixture_count_loops(f->dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(symlink_to_root, fixture_setup,
		    fixture_teardown),
		cmocka_unit_test_setup_teardown(symlink_upwards, fixture_setup,
		    fixture_teardown),
		cmocka_unit_test_setup_teardown(exchange_race, fixture_setup,
		    fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
