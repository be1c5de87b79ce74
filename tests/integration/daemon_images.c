/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Root integration tests of the real nem-rootd binary for image
 * resolution and per-stop timeouts. A jail mounts the image version that
 * its description resolved to when it was applied, even after a newer
 * version is pushed and the jail is stopped and started again. Applying
 * the description again moves it to the newer image. The store rejects
 * the removal of an image that a jail uses until the jail is removed. A
 * stop with timeout_ms kills a root process that ignores SIGTERM after
 * that time instead of after the description's stop_timeout. Each test
 * has its own folder and daemon and kills only the daemon it started.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <nem/client.h>
#include <nem/proto.h>

#include "daemon_fixture.h"
#include "os_fixture.h"

/* Service and command ids of the control plane (doc/control.md). */
#define SVC_JAIL 5
#define JAIL_START 3
#define JAIL_STOP 4
#define JAIL_APPLY 6
#define JAIL_REMOVE 7
#define IMG_REMOVE 5

/* A ready jail on image base version ^1 that shows its image's version. */
#define VERSIONED_JAIL \
	"autostart = true\n[process]\nexec = [\"/ready\"]\n" \
	"stop_timeout = \"3s\"\n" \
	"[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n" \
	"version = \"^1\"\n"

/* A root process that ignores SIGTERM and never reports readiness. */
#define STUBBORN_JAIL \
	"autostart = true\n[process]\nexec = [\"/bin/sh\", \"-c\", " \
	"\"trap '' TERM; echo up; while :; do sleep 1; done\"]\n" \
	"stop_timeout = \"10s\"\n" \
	"[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n"

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

static long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Builds <dir>/base-<version>.sqfs from the fixture's staging folder with
 * /etc/imgver holding version, so two images differ in that file.
 */
static void
make_version(struct dfx *f, const char *version, char *out, size_t len)
{
	char path[192];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/stage/etc/imgver", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "%s\n", version);
	assert_int_equal(fclose(fp), 0);
	snprintf(out, len, "%s/base-%s.sqfs", f->dir, version);
	snprintf(path, sizeof(path), "%s/stage", f->dir);
	assert_int_equal(fixture_run((char *[]){ "mksquashfs", path, out,
	    "-quiet", "-noappend", "-no-progress", NULL }), 0);
}

static int
ignore_progress(struct nem_msg *msg, void *arg)
{
	return 0;
}

/* Pushes the file image as base of version. */
static void
push_version(struct dfx *f, const char *image, const char *version)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_IMGHOST,
	    NEM_IMGHOST_ADD_IMAGE);
	struct nem_client *cl = dfx_connect(f);
	struct nem_reply reply;
	bson_t body = BSON_INITIALIZER;
	struct nem_err err;
	int fd = open(image, O_RDONLY | O_CLOEXEC);

	assert_non_null(cl);
	assert_true(fd >= 0);
	BSON_APPEND_UTF8(&body, "name", "base");
	BSON_APPEND_UTF8(&body, "version", version);
	rq.body = bson_get_data(&body);
	rq.body_len = body.len;
	rq.fd = fd;
	rq.timeout_ms = 60000;
	nem_reply_init(&reply);
	if (nem_client_stream(cl, &rq, ignore_progress, NULL, &reply,
	    &err) == -1) {
		dfx_dump_log(f);
		fail_msg("push base %s: %s", version, err.msg);
	}
	nem_reply_clear(&reply);
	nem_client_free(cl);
	close(fd);
	bson_destroy(&body);
}

static int64_t
call_name(struct dfx *f, uint16_t cmd, const char *name, char *reason,
    size_t rlen)
{
	bson_t body = BSON_INITIALIZER;
	int64_t code;

	BSON_APPEND_UTF8(&body, "name", name);
	code = dfx_call(f, SVC_JAIL, cmd, &body, -1, NULL, reason, rlen);
	bson_destroy(&body);
	return code;
}

static void
apply(struct dfx *f, const char *name, const char *toml)
{
	bson_t body = BSON_INITIALIZER;
	char reason[4096] = "";

	BSON_APPEND_UTF8(&body, "name", name);
	BSON_APPEND_UTF8(&body, "toml", toml);
	if (dfx_call(f, SVC_JAIL, JAIL_APPLY, &body, -1, NULL, reason,
	    sizeof(reason)) != NEM_OK) {
		dfx_dump_log(f);
		fail_msg("apply %s: %s", name, reason);
	}
	bson_destroy(&body);
}

/* Removes the image name of version (NULL: its only version). */
static int64_t
image_rm(struct dfx *f, const char *name, const char *version, char *reason,
    size_t rlen)
{
	bson_t body = BSON_INITIALIZER;
	int64_t code;

	BSON_APPEND_UTF8(&body, "name", name);
	if (version != NULL)
		BSON_APPEND_UTF8(&body, "version", version);
	code = dfx_call(f, NEM_SVC_IMGHOST, IMG_REMOVE, &body, -1, NULL,
	    reason, rlen);
	bson_destroy(&body);
	return code;
}

/* Reads /etc/imgver of the running jail name into buf ("" if none). */
static void
mounted_version(struct dfx *f, const char *name, char *buf, size_t len)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/jails/%s/root/etc/imgver", f->run,
	    name);
	buf[0] = '\0';
	fixture_read(path, buf, len);
	buf[strcspn(buf, "\n")] = '\0';
}

/* Waits up to ms for the jail name to be ready with image version. */
static void
wait_version(struct dfx *f, const char *name, const char *version, int ms)
{
	char state[32], got[32] = "";
	long end = mono_ms() + ms;

	do {
		if (dfx_jail_state(f, name, state, sizeof(state), NULL,
		    0) == 0 && strcmp(state, "ready") == 0) {
			mounted_version(f, name, got, sizeof(got));
			if (strcmp(got, version) == 0)
				return;
		}
		usleep(50 * 1000);
	} while (mono_ms() < end);
	dfx_dump_log(f);
	fail_msg("jail %s: wanted image %s ready, last saw \"%s\"", name,
	    version, got);
}

/* A restart keeps the applied image; a new apply moves to the newer. */
static void
restart_keeps_image(void **state)
{
	struct dfx *f = *state;
	char v1[192], v2[192], reason[4096], st[32];
	long end;

	make_version(f, "1.0.0", v1, sizeof(v1));
	make_version(f, "1.1.0", v2, sizeof(v2));
	dfx_start(f);
	push_version(f, v1, "1.0.0");
	apply(f, "web", VERSIONED_JAIL);
	wait_version(f, "web", "1.0.0", 15000);

	push_version(f, v2, "1.1.0");
	assert_int_equal(call_name(f, JAIL_STOP, "web", reason,
	    sizeof(reason)), NEM_OK);
	assert_int_equal(call_name(f, JAIL_START, "web", reason,
	    sizeof(reason)), NEM_OK);
	wait_version(f, "web", "1.0.0", 15000);

	/* The same description applied again resolves to 1.1.0. */
	apply(f, "web", VERSIONED_JAIL);
	wait_version(f, "web", "1.1.0", 15000);

	reason[0] = '\0';
	assert_int_equal(image_rm(f, "base", "1.1.0", reason,
	    sizeof(reason)), NEM_E_BUSY);
	assert_non_null(strstr(reason, "web"));

	assert_int_equal(call_name(f, JAIL_REMOVE, "web", reason,
	    sizeof(reason)), NEM_OK);
	end = mono_ms() + 15000;
	while (dfx_jail_state(f, "web", st, sizeof(st), NULL, 0) == 0 &&
	    mono_ms() < end)
		usleep(50 * 1000);
	reason[0] = '\0';
	if (image_rm(f, "base", "1.1.0", reason, sizeof(reason)) != NEM_OK) {
		dfx_dump_log(f);
		fail_msg("image rm base 1.1.0 after jail rm: %s", reason);
	}
	assert_int_equal(dfx_stop(f), 0);
}

/* An image pushed after the apply is resolved at the next try. */
static void
late_image_resolved_at_start(void **state)
{
	struct dfx *f = *state;
	char reason[4096] = "", st[32];

	dfx_start(f);
	apply(f, "late", "autostart = true\n[process]\nexec = [\"/ready\"]\n"
	    "[[mount]]\ntype = \"image\"\ndest = \"/\"\n"
	    "image = \"late\"\n");
	/* The failed allocation is retried with backoff, with its error shown. */
	for (int i = 0; i < 100 && strstr(reason, "start failed") == NULL;
	    i++) {
		assert_int_equal(dfx_jail_state(f, "late", st, sizeof(st),
		    reason, sizeof(reason)), 0);
		usleep(50000);
	}
	assert_string_equal(st, "starting");
	assert_non_null(strstr(reason, "start failed"));
	assert_non_null(strstr(reason, "late"));
	assert_non_null(strstr(reason, "next try in"));

	/* Once the image is there, the next try starts it. */
	dfx_push_image(f, "late");
	dfx_wait_state(f, "late", "ready", 20000);

	/* The start recorded the reference. */
	reason[0] = '\0';
	assert_int_equal(image_rm(f, "late", NULL, reason, sizeof(reason)),
	    NEM_E_BUSY);
	assert_non_null(strstr(reason, "late"));
	assert_int_equal(dfx_stop(f), 0);
}

/* timeout_ms replaces the 10 s stop_timeout for one stop. */
static void
stop_with_timeout(void **state)
{
	struct dfx *f = *state;
	bson_t body = BSON_INITIALIZER;
	char reason[4096] = "", st[32];
	int64_t code;
	long start, took;

	dfx_start(f);
	dfx_push_image(f, "base");
	apply(f, "stubborn", STUBBORN_JAIL);
	dfx_wait_state(f, "stubborn", "starting", 15000);
	usleep(300 * 1000);	/* the shell has set its trap */

	BSON_APPEND_UTF8(&body, "name", "stubborn");
	BSON_APPEND_INT64(&body, "timeout_ms", 300);
	start = mono_ms();
	code = dfx_call(f, SVC_JAIL, JAIL_STOP, &body, -1, NULL, reason,
	    sizeof(reason));
	took = mono_ms() - start;
	bson_destroy(&body);
	if (code != NEM_OK) {
		dfx_dump_log(f);
		fail_msg("stop with timeout_ms 300: %lld %s", (long long)code,
		    reason);
	}
	fprintf(stderr, "stop with timeout_ms 300 took %ld ms\n", took);
	assert_true(took >= 250);
	assert_true(took < 3000);
	assert_int_equal(dfx_jail_state(f, "stubborn", st, sizeof(st), NULL,
	    0), 0);
	assert_string_equal(st, "stopped");
	code = dfx_stop(f);
	if (code != 0) {
		dfx_dump_log(f);
		fail_msg("daemon exit status %lld", (long long)code);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(restart_keeps_image, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(late_image_resolved_at_start,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(stop_with_timeout, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
