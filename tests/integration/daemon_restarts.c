/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Root integration test of restarts, removal and shutdown through the real
 * nem-rootd. A jail whose root process exits at once is restarted with a
 * fresh tree after growing delays until a stop ends it. No host restarts
 * once the shutdown began. A removed jail leaves no folder in the run
 * directory, and a clean stop leaves no mount under it. Each test has its
 * own folder and daemon and kills only that daemon.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <nem/proto.h>

#include "daemon_fixture.h"
#include "os_fixture.h"

/* Service and command ids of the control plane (doc/control.md). */
#define SVC_JAIL 5
#define JAIL_START 3
#define JAIL_STOP 4
#define JAIL_REMOVE 7

/* A root process that fails at once, restarted after 100 ms up to 1 s. */
#define CRASH_TOML "autostart = true\n" \
	"[process]\nexec = [\"/bin/sh\", \"-c\", \"exit 3\"]\n" \
	"restart = \"always\"\nrestart_delay = \"100ms\"\n" \
	"restart_delay_max = \"1s\"\n" \
	"[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n"


/* Returns how often text occurs in the daemon's log after from. */
static int
log_count_after(struct dfx *f, const char *from, const char *text)
{
	static char buf[1 << 20];
	const char *p = buf;
	int n = 0;

	fixture_read(f->log, buf, sizeof(buf));
	if (from != NULL && (p = strstr(buf, from)) == NULL)
		return 0;
	while ((p = strstr(p, text)) != NULL) {
		n++;
		p += strlen(text);
	}
	return n;
}

static int
restarts_of_jd(struct dfx *f)
{
	/* Each exit gets one state line: restarting, or failed at the cap. */
	return log_count_after(f, NULL, "exited with status 3; ");
}

/* Counts the mounts at or under f->run in this mount namespace. */
static int
run_mounts(struct dfx *f)
{
	char line[4096], point[4096];
	size_t rlen = strlen(f->run);
	FILE *fp = fopen("/proc/self/mountinfo", "r");
	int n = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		/* Field 5 is the mount point. */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
			continue;
		if (strncmp(point, f->run, rlen) == 0 &&
		    (point[rlen] == '/' || point[rlen] == '\0')) {
			fprintf(stderr, "left mounted: %s", line);
			n++;
		}
	}
	fclose(fp);
	return n;
}

static int64_t
jail_call(struct dfx *f, uint16_t cmd, const char *name)
{
	char reason[256] = "";
	bson_t body = BSON_INITIALIZER;
	int64_t code;

	BSON_APPEND_UTF8(&body, "name", name);
	code = dfx_call(f, SVC_JAIL, cmd, &body, -1, NULL, reason,
	    sizeof(reason));
	bson_destroy(&body);
	if (code != NEM_OK)
		fprintf(stderr, "jail command %u on %s: %lld %s\n",
		    (unsigned)cmd, name, (long long)code, reason);
	return code;
}

/* Reloads the descriptions (SIGHUP) and waits until jail name exists. */
static void
reload_until_known(struct dfx *f, const char *name)
{
	char state[32];

	kill(f->pid, SIGHUP);
	for (int i = 0; i < 200; i++) {
		if (dfx_jail_state(f, name, state, sizeof(state), NULL,
		    0) == 0)
			return;
		usleep(50000);
	}
	dfx_dump_log(f);
	fail_msg("jail %s is unknown 10 s after SIGHUP", name);
}

static int
setup(void **state)
{
	struct dfx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	dfx_init(f, "[[host]]\nname = \"flap\"\n"
	    "exec = [\"/bin/sh\", \"-c\", \"exit 1\"]\n"
	    "restart = \"always\"\nrestart_delay = \"100ms\"\n"
	    "restart_delay_max = \"200ms\"\n");
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
crash_restarts_with_backoff(void **state)
{
	struct dfx *f = *state;
	int n, again;

	dfx_start(f);
	dfx_push_image(f, "base");
	dfx_write_jail(f, "jd", CRASH_TOML);
	reload_until_known(f, "jd");

	/*
	 * Delays of 0.1, 0.2, 0.4, 0.8 s, then 1 s at the cap make about 7
	 * restarts in 5 s. Without backoff there would be dozens, and a
	 * jail that gave up would stop at a handful.
	 */
	sleep(5);
	n = restarts_of_jd(f);
	print_message("jail jd was restarted %d times in 5 s\n", n);
	if (n <= 3 || n >= 20)
		dfx_dump_log(f);
	assert_true(n > 3);
	assert_true(n < 20);
	assert_int_equal(log_count_after(f, NULL, "free it first"), 0);

	/* The loop keeps going at the cap. */
	sleep(2);
	assert_true(restarts_of_jd(f) > n);

	/* A stop ends the loop. */
	assert_int_equal(jail_call(f, JAIL_STOP, "jd"), NEM_OK);
	dfx_wait_state(f, "jd", "stopped", 5000);
	n = restarts_of_jd(f);
	sleep(2);
	assert_int_equal(restarts_of_jd(f), n);

	/* The stopped jail starts and restarts again. */
	assert_int_equal(jail_call(f, JAIL_START, "jd"), NEM_OK);
	sleep(2);
	again = restarts_of_jd(f);
	assert_true(again > n);
	assert_int_equal(log_count_after(f, NULL, "free it first"), 0);
	assert_int_equal(jail_call(f, JAIL_STOP, "jd"), NEM_OK);
	dfx_wait_state(f, "jd", "stopped", 5000);

	assert_int_equal(dfx_stop(f), 0);
}

static void
remove_and_stop_leave_nothing(void **state)
{
	struct dfx *f = *state;
	char dir[256];
	struct stat st;
	char jstate[32];

	dfx_start(f);
	dfx_push_image(f, "base");
	dfx_write_jail(f, "gone", "autostart = true\n"
	    "[process]\nexec = [\"/ready\"]\nstop_timeout = \"3s\"\n"
	    "[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n");
	dfx_write_jail(f, "kept", "autostart = true\n"
	    "[process]\nexec = [\"/ready\"]\nstop_timeout = \"3s\"\n"
	    "[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n");
	reload_until_known(f, "gone");
	reload_until_known(f, "kept");
	dfx_wait_state(f, "gone", "ready", 20000);
	dfx_wait_state(f, "kept", "ready", 20000);

	snprintf(dir, sizeof(dir), "%s/jails/gone", f->run);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(jail_call(f, JAIL_REMOVE, "gone"), NEM_OK);
	for (int i = 0; i < 200; i++) {
		if (dfx_jail_state(f, "gone", jstate, sizeof(jstate), NULL,
		    0) != 0)
			break;
		usleep(50000);
	}
	assert_int_not_equal(dfx_jail_state(f, "gone", jstate,
	    sizeof(jstate), NULL, 0), 0);
	if (stat(dir, &st) == 0)
		dfx_dump_log(f);
	assert_int_equal(stat(dir, &st), -1);

	/* A clean stop, with a jail and a host still up, unmounts it all. */
	assert_int_equal(dfx_stop(f), 0);
	assert_int_equal(run_mounts(f), 0);
}

static void
shutdown_restarts_no_host(void **state)
{
	struct dfx *f = *state;
	static const char from[] = "received SIGTERM";

	dfx_start(f);
	dfx_push_image(f, "base");

	/* A root process that ignores SIGTERM holds the shutdown for the
	 * stop_timeout of 2 s, ten times the host's restart delay. */
	dfx_write_jail(f, "slow", "autostart = true\n"
	    "[process]\nexec = [\"/bin/sh\", \"-c\", "
	    "\"trap '' TERM; while :; do sleep 1; done\"]\n"
	    "stop_timeout = \"2s\"\n"
	    "[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n");
	reload_until_known(f, "slow");
	dfx_wait_state(f, "slow", "starting", 10000);
	sleep(1);
	assert_true(log_count_after(f, NULL, "flap: started (pid") > 1);

	assert_int_equal(dfx_stop(f), 0);
	if (log_count_after(f, from, "flap: started (pid") != 0 ||
	    log_count_after(f, NULL, from) == 0)
		dfx_dump_log(f);
	assert_int_not_equal(log_count_after(f, NULL, from), 0);
	assert_int_equal(log_count_after(f, from, "flap: started (pid"), 0);
	assert_int_equal(run_mounts(f), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(crash_restarts_with_backoff,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(remove_and_stop_leave_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(shutdown_restarts_no_host,
		    setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
