/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Root integration test guarding against descriptor leaks into a jail.
 * While the test holds extra descriptors without close-on-exec (directory
 * descriptors of the host, the classic way out of a chroot), the probe
 * must start with exactly fds 0 to 3, fd 3 being the connected socket the
 * test handed in, and must not be able to leave the jail through its
 * working directory, including one given as /proc/self/fd/N.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

static const char *
find_line(const char *text, const char *prefix)
{
	size_t len = strlen(prefix);

	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, prefix, len) == 0)
			return p;
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return NULL;
}

static void
probe_sees_only_fds_0_to_3(void **state)
{
	struct fixture *f = *state;
	char out[PATH_MAX], text[16384], want[64], hello[8];
	int leaked[4], sv[2], status;
	struct jail_tree t;
	struct nem_err err;
	struct stat st;

	/* Deliberately without O_CLOEXEC: close_range must catch them. */
	leaked[0] = open("/", O_RDONLY | O_DIRECTORY);
	leaked[1] = open(f->dir, O_RDONLY | O_DIRECTORY);
	leaked[2] = open("/etc/hostname", O_RDONLY);
	leaked[3] = dup(leaked[0]);
	for (int i = 0; i < 4; i++)
		assert_true(leaked[i] > 3);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);

	assert_ok(fixture_build_jail(f, "fds", TREE_TMPFS | TREE_DEV, &t,
	    &err), err);
	snprintf(out, sizeof(out), "%s/fds.out", f->dir);
	status = fixture_probe(f, &t, NULL, out, sv[1], "/", &err);
	if (status == -1)
		fail_msg("probe: %s", err.msg);
	fixture_read(out, text, sizeof(text));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("probe status %d: %s", status, text);

	if (find_line(text, "nfds 4\n") == NULL)
		fail_msg("the probe must see exactly 4 descriptors:\n%s", text);
	assert_non_null(find_line(text, "fd 0 "));
	assert_non_null(find_line(text, "fd 1 "));
	assert_non_null(find_line(text, "fd 2 "));
	assert_int_equal(fstat(sv[1], &st), 0);
	snprintf(want, sizeof(want), "fd 3 socket:[%lu]\n",
	    (unsigned long)st.st_ino);
	if (find_line(text, want) == NULL)
		fail_msg("fd 3 is not the given socket (%s):\n%s", want, text);
	assert_non_null(find_line(text, "fd3 socket type 1\n"));
	assert_null(find_line(text, "escape "));
	assert_non_null(find_line(text, "cwd /\n"));
	assert_int_equal(read(sv[0], hello, 5), 5);
	assert_memory_equal(hello, "hello", 5);

	for (int i = 0; i < 4; i++)
		close(leaked[i]);
	close(sv[0]);
	close(sv[1]);
	fixture_free_jail(f, &t);
}

static void
workdir_stays_in_jail(void **state)
{
	static const char *magic[] = {
		"/proc/self/fd/3", "/proc/self/fd/0", "/proc/1/cwd",
		"/proc/self/root",
	};
	struct fixture *f = *state;
	char out[PATH_MAX], text[16384], link[PATH_MAX];
	struct jail_tree t;
	struct nem_err err;
	int leaked, sv[2], status;

	leaked = open("/", O_RDONLY | O_DIRECTORY);
	assert_true(leaked > 3);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	assert_ok(fixture_build_jail(f, "wd", TREE_TMPFS | TREE_DEV, &t,
	    &err), err);
	snprintf(out, sizeof(out), "%s/wd.out", f->dir);

	/* Magic links could lead out of the jail: rejected. */
	for (size_t i = 0; i < sizeof(magic) / sizeof(magic[0]); i++) {
		status = fixture_probe(f, &t, NULL, out, sv[1], magic[i],
		    &err);
		if (status != -1)
			fail_msg("workdir %s was accepted", magic[i]);
		assert_non_null(strstr(err.msg, "workdir"));
		assert_non_null(strstr(err.msg, magic[i]));
	}

	/* A symlink climbing above the root stays inside it. */
	snprintf(link, sizeof(link), "%s/tmp/up", t.root_path);
	assert_int_equal(symlink("../../../../../..", link), 0);
	status = fixture_probe(f, &t, NULL, out, sv[1], "/tmp/up", &err);
	if (status == -1)
		fail_msg("probe: %s", err.msg);
	fixture_read(out, text, sizeof(text));
	if (find_line(text, "cwd /\n") == NULL)
		fail_msg("workdir left the jail root:\n%s", text);

	close(leaked);
	close(sv[0]);
	close(sv[1]);
	fixture_free_jail(f, &t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(probe_sees_only_fds_0_to_3,
		    fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(workdir_stays_in_jail,
		    fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
