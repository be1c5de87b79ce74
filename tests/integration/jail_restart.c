/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Root integration test of jail restarts through the real nem-rootd: a
 * jail with an image at "/" and a tmpfs is restarted with jail.restart and
 * with jail.apply of a changed description, several times each. Every
 * restart must free the old tree with plain unmounts. A descriptor the
 * daemon kept on the jail root used to make the root busy, so the daemon
 * fell back to a lazy detach and logged "busy, detaching it lazily". The
 * test has its own folder and daemon and kills only that daemon.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <nem/proto.h>

#include "daemon_fixture.h"
#include "os_fixture.h"

/* Service and command ids of the control plane (doc/control.md). */
#define SVC_JAIL 5
#define JAIL_STATUS 2
#define JAIL_RESTART 5
#define JAIL_APPLY 6

/* Restarts made by each of the two ways. */
#define RESTARTS 4

/* Writes the description of jail "cycle", with a tmpfs of size_mib MiB,
 * into buf. */
static void
cycle_toml(char *buf, size_t size, int size_mib)
{
	snprintf(buf, size, "autostart = true\n"
	    "[process]\nexec = [\"/ready\"]\nstop_timeout = \"3s\"\n"
	    "[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/tmp\"\n"
	    "size = \"%dM\"\n", size_mib);
}

/* Returns the pid of the root process of jail name, or 0 without one. */
static int64_t
jail_pid(struct dfx *f, const char *name)
{
	bson_t body = BSON_INITIALIZER, out;
	bson_iter_t it;
	int64_t pid = 0;

	BSON_APPEND_UTF8(&body, "name", name);
	if (dfx_call(f, SVC_JAIL, JAIL_STATUS, &body, -1, &out, NULL, 0) ==
	    NEM_OK) {
		if (bson_iter_init(&it, &out) &&
		    bson_iter_find_descendant(&it, "jail.pid", &it) &&
		    BSON_ITER_HOLDS_NUMBER(&it))
			pid = bson_iter_as_int64(&it);
		bson_destroy(&out);
	}
	bson_destroy(&body);
	return pid;
}

/* Waits until jail name is ready with a root process other than old. */
static int64_t
wait_new_pid(struct dfx *f, const char *name, int64_t old)
{
	char state[32] = "";
	int64_t pid = 0;

	for (int i = 0; i < 400; i++) {
		if (dfx_jail_state(f, name, state, sizeof(state), NULL,
		    0) == 0 && strcmp(state, "ready") == 0) {
			pid = jail_pid(f, name);
			if (pid > 0 && pid != old)
				return pid;
		}
		usleep(50000);
	}
	dfx_dump_log(f);
	fail_msg("jail %s has no new ready root process after 20 s (state "
	    "%s, pid %lld, old pid %lld)", name, state, (long long)pid,
	    (long long)old);
	return 0;
}

/* Returns how often text occurs in the daemon's log. */
static int
log_count(struct dfx *f, const char *text)
{
	static char buf[1 << 20];
	const char *p = buf;
	int n = 0;

	fixture_read(f->log, buf, sizeof(buf));
	while ((p = strstr(p, text)) != NULL) {
		n++;
		p += strlen(text);
	}
	return n;
}

static int
setup(void **state)
{
	struct dfx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	dfx_init(f, NULL);
	dfx_make_image(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct dfx *f = *state;

	dfx_cleanup(f);
	free(f);
	return 0;
}

static void
restart_unmounts_without_lazy(void **state)
{
	struct dfx *f = *state;
	char toml[512], reason[512];
	bson_t body;
	int64_t pid;

	dfx_start(f);
	dfx_push_image(f, "base");
	cycle_toml(toml, sizeof(toml), 16);
	dfx_write_jail(f, "cycle", toml);
	kill(f->pid, SIGHUP);
	pid = wait_new_pid(f, "cycle", 0);

	for (int i = 0; i < RESTARTS; i++) {
		bson_init(&body);
		BSON_APPEND_UTF8(&body, "name", "cycle");
		assert_int_equal(dfx_call(f, SVC_JAIL, JAIL_RESTART, &body, -1,
		    NULL, reason, sizeof(reason)), NEM_OK);
		bson_destroy(&body);
		pid = wait_new_pid(f, "cycle", pid);
	}

	/* A changed description restarts the jail with a new tree. */
	for (int i = 0; i < RESTARTS; i++) {
		cycle_toml(toml, sizeof(toml), 17 + i);
		bson_init(&body);
		BSON_APPEND_UTF8(&body, "name", "cycle");
		BSON_APPEND_UTF8(&body, "toml", toml);
		assert_int_equal(dfx_call(f, SVC_JAIL, JAIL_APPLY, &body, -1,
		    NULL, reason, sizeof(reason)), NEM_OK);
		bson_destroy(&body);
		pid = wait_new_pid(f, "cycle", pid);
	}

	assert_int_equal(log_count(f, "jail cycle: freed"), 2 * RESTARTS);
	if (log_count(f, "lazily") != 0)
		dfx_dump_log(f);
	assert_int_equal(log_count(f, "lazily"), 0);

	/* The stop of the daemon frees the jail the same way. */
	assert_int_equal(dfx_stop(f), 0);
	assert_int_equal(log_count(f, "jail cycle: freed"), 2 * RESTARTS + 1);
	assert_int_equal(log_count(f, "lazily"), 0);
	assert_int_equal(dfx_count_mounts(f), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(restart_unmounts_without_lazy,
		    setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
