/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Root integration test of service brokering through the real nem-rootd.
 * The jails run from a squashfs image with busybox and a static build of
 * the example program nem-echo. A providing jail serves a jail granted
 * the service, which exchanges data over the brokered socket; a jail
 * without the grant is rejected; after a provider restart the consumer's
 * next connect succeeds. Results are read from the jails' log files.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <nem/proto.h>

#include "daemon_fixture.h"
#include "os_fixture.h"

/* Commands of the jail service (NEM_SVC_JAIL). */
#define JAIL_START 3
#define JAIL_STOP 4

#define IMAGE_ROOT "[[mount]]\ntype = \"image\"\ndest = \"/\"\n" \
	"image = \"base\"\n"

static int
setup(void **state)
{
	struct dfx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	dfx_init(f, NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	dfx_cleanup(*state);
	free(*state);
	return 0;
}

/* Builds f->image with busybox, /bin/sh and /bin/nem-echo. */
static void
make_echo_image(struct dfx *f)
{
	static const char *const dirs[] = { "bin", "etc", "proc", "dev", "tmp",
		NULL };
	char stage[128], path[192];
	FILE *fp;

	snprintf(stage, sizeof(stage), "%s/stage", f->dir);
	assert_int_equal(mkdir(stage, 0755), 0);
	for (size_t i = 0; dirs[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", stage, dirs[i]);
		assert_int_equal(mkdir(path, 0755), 0);
	}
	snprintf(path, sizeof(path), "%s/bin/busybox", stage);
	assert_int_equal(fixture_run((char *[]){ "cp", "/bin/busybox", path,
	    NULL }), 0);
	snprintf(path, sizeof(path), "%s/bin/sh", stage);
	assert_int_equal(symlink("busybox", path), 0);
	snprintf(path, sizeof(path), "%s/bin/nem-echo", stage);
	assert_int_equal(fixture_run((char *[]){ "cp", getenv("NEM_ECHO"),
	    path, NULL }), 0);
	snprintf(path, sizeof(path), "%s/etc/passwd", stage);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "root:x:0:0:root:/:/bin/sh\n");
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(fixture_run((char *[]){ "mksquashfs", stage,
	    f->image, "-quiet", "-noappend", "-no-progress", NULL }), 0);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the log of jail name into buf; returns buf. */
static const char *
jail_log(struct dfx *f, const char *name, char *buf, size_t size)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/jails/%s/log", f->run, name);
	buf[0] = '\0';
	fixture_read(path, buf, size);
	return buf;
}

/* Waits until the log of jail name contains text count times; fails
 * after ms. */
static void
wait_log(struct dfx *f, const char *name, const char *text, int count,
    int ms)
{
	static char buf[65536];
	int64_t until = now_ms() + ms;
	int seen = 0;

	while (now_ms() < until) {
		const char *p = jail_log(f, name, buf, sizeof(buf));

		seen = 0;
		while ((p = strstr(p, text)) != NULL) {
			seen++;
			p += strlen(text);
		}
		if (seen >= count)
			return;
		usleep(100000);
	}
	dfx_dump_log(f);
	fail_msg("log of jail %s shows \"%s\" %d times, expected %d; it is:\n"
	    "%s", name, text, seen, count, buf);
}

static int64_t
jail_call(struct dfx *f, uint16_t cmd, const char *name)
{
	bson_t body = BSON_INITIALIZER;
	char reason[512] = "";
	int64_t code;

	BSON_APPEND_UTF8(&body, "name", name);
	code = dfx_call(f, NEM_SVC_JAIL, cmd, &body, -1, NULL, reason,
	    sizeof(reason));
	bson_destroy(&body);
	if (code != NEM_OK)
		fprintf(stderr, "jail command %u for %s: %s: %s\n", cmd, name,
		    nem_code_name(code), reason);
	return code;
}

static void
brokered_through_daemon(void **state)
{
	struct dfx *f = *state;
	static char buf[65536];

	make_echo_image(f);
	dfx_start(f);
	dfx_push_image(f, "base");
	dfx_write_jail(f, "echo", "autostart = true\n[process]\n"
	    "exec = [\"/bin/nem-echo\", \"serve\"]\nstop_timeout = \"3s\"\n"
	    IMAGE_ROOT "[services]\nprovides = [\"echo\"]\n");
	dfx_write_jail(f, "client", "autostart = true\n[process]\n"
	    "exec = [\"/bin/nem-echo\", \"connect\", \"echo\", \"hello\"]\n"
	    "restart = \"never\"\n" IMAGE_ROOT
	    "[services]\nrequires = [\"echo\"]\n"
	    "[access]\necho = [\"read\", \"write\"]\n");
	dfx_write_jail(f, "intruder", "autostart = true\n[process]\n"
	    "exec = [\"/bin/nem-echo\", \"connect\", \"echo\", \"hi\"]\n"
	    "restart = \"never\"\n" IMAGE_ROOT);
	/* SIGHUP makes the daemon read the new descriptions. */
	assert_int_equal(kill(f->pid, SIGHUP), 0);

	/* The granted jail gets the provider's greeting and its echo. */
	dfx_wait_state(f, "echo", "ready", 20000);
	wait_log(f, "client", "reply: service echo peer client rights "
	    "read,write\nhello", 1, 20000);
	wait_log(f, "echo", "connection from jail client to service echo", 1,
	    5000);

	/* The jail without an [access] entry is rejected and never reaches
	 * the provider. */
	wait_log(f, "intruder", "permission denied", 1, 20000);
	assert_null(strstr(jail_log(f, "echo", buf, sizeof(buf)),
	    "jail intruder"));

	/* After a provider restart the consumer's next connect succeeds. */
	assert_int_equal(jail_call(f, JAIL_STOP, "echo"), NEM_OK);
	dfx_wait_state(f, "echo", "stopped", 15000);
	assert_int_equal(jail_call(f, JAIL_START, "echo"), NEM_OK);
	dfx_wait_state(f, "echo", "ready", 20000);
	assert_int_equal(jail_call(f, JAIL_START, "client"), NEM_OK);
	wait_log(f, "client", "reply: service echo peer client rights "
	    "read,write\nhello", 2, 20000);

	assert_int_equal(dfx_stop(f), 0);
	assert_int_equal(dfx_count_mounts(f), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(brokered_through_daemon, setup,
		    teardown),
	};

	if (getenv("NEM_ECHO") == NULL) {
		fprintf(stderr, "skipped: NEM_ECHO must name a static "
		    "nem-echo\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
