/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The daemon integration fixture; see daemon_fixture.h. Every path lives
 * under one mkdtemp folder, and cleanup touches only mounts and loop
 * devices under it.
 */
#include "daemon_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <nem/proto.h>

#include "os/os.h"
#include "os_fixture.h"

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
dfx_init(struct dfx *f, const char *extra)
{
	FILE *fp;

	if (geteuid() != 0 || getenv("NEM_ROOTD") == NULL ||
	    getenv("DAEMON_READY") == NULL) {
		fprintf(stderr, "skipped: needs root, NEM_ROOTD and "
		    "DAEMON_READY\n");
		exit(77);
	}
	memset(f, 0, sizeof(*f));
	strcpy(f->dir, "/tmp/nem-daemon-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->conf, sizeof(f->conf), "%s/rootd.toml", f->dir);
	snprintf(f->jails, sizeof(f->jails), "%s/jails", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->run, sizeof(f->run), "%s/run", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/run/control.sock", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/daemon.log", f->dir);
	snprintf(f->image, sizeof(f->image), "%s/base.sqfs", f->dir);
	assert_int_equal(mkdir(f->jails, 0755), 0);
	fp = fopen(f->conf, "w");
	assert_non_null(fp);
	fprintf(fp, "state_dir = \"%s\"\nrun_dir = \"%s\"\n"
	    "control_socket = \"%s\"\nlog_level = \"debug\"\n%s\n",
	    f->state, f->run, f->sock, extra != NULL ? extra : "");
	assert_int_equal(fclose(fp), 0);
}

void
dfx_make_image(struct dfx *f)
{
	static const char *const dirs[] = { "bin", "etc", "proc", "dev", "tmp",
		"var", "data", NULL };
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
	snprintf(path, sizeof(path), "%s/ready", stage);
	assert_int_equal(fixture_run((char *[]){ "cp", getenv("DAEMON_READY"),
	    path, NULL }), 0);
	snprintf(path, sizeof(path), "%s/etc/passwd", stage);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "root:x:0:0:root:/:/bin/sh\n");
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(fixture_run((char *[]){ "mksquashfs", stage,
	    f->image, "-quiet", "-noappend", "-no-progress", NULL }), 0);
}

struct nem_client *
dfx_connect(struct dfx *f)
{
	struct nem_err err;
	struct nem_client *cl = nem_client_connect(f->sock, NULL, &err);

	if (cl == NULL)
		fprintf(stderr, "connect %s: %s\n", f->sock, err.msg);
	return cl;
}

long
dfx_info_ms(struct dfx *f)
{
	long start = now_ms();
	int64_t code = dfx_call(f, NEM_SVC_DAEMON, NEM_DAEMON_INFO, NULL, -1,
	    NULL, NULL, 0);

	return code == NEM_OK ? now_ms() - start : -1;
}

static pid_t
spawn_daemon(struct dfx *f)
{
	pid_t pid = fork();

	assert_true(pid != -1);
	if (pid == 0) {
		int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execl(getenv("NEM_ROOTD"), "nem-rootd", "-c", f->conf,
		    (char *)NULL);
		_exit(127);
	}
	return pid;
}

void
dfx_start(struct dfx *f)
{
	int status;

	f->pid = spawn_daemon(f);
	for (int i = 0; i < 200; i++) {
		if (access(f->sock, F_OK) == 0 && dfx_info_ms(f) >= 0)
			return;
		if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
			f->pid = 0;
			dfx_dump_log(f);
			fail_msg("nem-rootd exited at start, status 0x%x",
			    status);
		}
		usleep(50000);
	}
	dfx_dump_log(f);
	fail_msg("nem-rootd did not answer daemon.info within 10 s");
}

int
dfx_start_second(struct dfx *f)
{
	pid_t pid = spawn_daemon(f);
	int status;

	for (int i = 0; i < 200; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fail_msg("a second nem-rootd kept running");
	return -1;
}

int
dfx_stop(struct dfx *f)
{
	int status = -1;

	if (f->pid <= 0)
		return -1;
	kill(f->pid, SIGTERM);
	for (int i = 0; i < 600; i++) {
		if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
			f->pid = 0;
			return status;
		}
		usleep(50000);
	}
	dfx_dump_log(f);
	dfx_kill(f);
	fail_msg("nem-rootd did not stop within 30 s of SIGTERM");
	return -1;
}

void
dfx_kill(struct dfx *f)
{
	int status;

	if (f->pid <= 0)
		return;
	kill(f->pid, SIGKILL);
	waitpid(f->pid, &status, 0);
	f->pid = 0;
}

size_t
dfx_count_mounts(struct dfx *f)
{
	char jails[160], images[160], line[4096], point[4096];
	size_t n = 0, rlen = strlen(f->run);
	FILE *fp = fopen("/proc/self/mountinfo", "r");

	assert_non_null(fp);
	snprintf(jails, sizeof(jails), "%s/jails", f->run);
	snprintf(images, sizeof(images), "%s/images", f->run);
	while (fgets(line, sizeof(line), fp) != NULL) {
		/* Field 5 is the mount point. */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
			continue;
		if (strncmp(point, f->run, rlen) != 0 ||
		    (point[rlen] != '/' && point[rlen] != '\0'))
			continue;
		if (strcmp(point, jails) == 0 || strcmp(point, images) == 0)
			continue;
		n++;
	}
	fclose(fp);
	return n;
}

void
dfx_dump_log(struct dfx *f)
{
	char buf[65536];
	size_t n = fixture_read(f->log, buf, sizeof(buf));

	fprintf(stderr, "---- daemon log (%zu bytes) ----\n%s\n----\n", n,
	    n > 0 ? buf : "");
}

void
dfx_cleanup(struct dfx *f)
{
	struct nem_err err;
	char cmd[128];

	dfx_kill(f);

	/* Root processes of the killed daemon's jails are in their own PID
	 * namespaces; SIGKILL of their init ends them, and freeing the
	 * mounts below does not need them gone. */
	if (os_unmount_under(f->dir, &err) == -1)
		fprintf(stderr, "cleanup: %s\n", err.msg);
	if (getenv("DFX_KEEP") != NULL) {
		fprintf(stderr, "kept %s (DFX_KEEP is set)\n", f->dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup: %s failed\n", cmd);
}

int64_t
dfx_call(struct dfx *f, uint16_t svc, uint16_t cmd, const bson_t *body,
    int fd, bson_t *out, char *reason, size_t rlen)
{
	struct nem_request rq = NEM_REQUEST_INIT(svc, cmd);
	struct nem_reply reply;
	struct nem_client *cl = dfx_connect(f);
	struct nem_err err;
	int64_t code;

	if (cl == NULL)
		return NEM_E_UNAVAILABLE;
	if (body != NULL) {
		rq.body = bson_get_data(body);
		rq.body_len = body->len;
	}
	rq.fd = fd;
	rq.timeout_ms = 60000;
	nem_reply_init(&reply);
	(void)nem_client_call(cl, &rq, &reply, &err);
	code = reply.code;
	if (reason != NULL)
		snprintf(reason, rlen, "%s", reply.reason);
	if (out != NULL && code == NEM_OK) {
		if (reply.body_len > 0) {
			assert_true(bson_init_static(out, reply.body,
			    reply.body_len));
			bson_t *copy = bson_copy(out);

			bson_steal(out, copy);
		} else
			bson_init(out);
	}
	nem_reply_clear(&reply);
	nem_client_free(cl);
	return code;
}

int
dfx_jail_state(struct dfx *f, const char *name, char *state, size_t n,
    char *reason, size_t rlen)
{
	bson_t body = BSON_INITIALIZER, out;
	bson_iter_t it;
	int rc = -1;

	BSON_APPEND_UTF8(&body, "name", name);
	if (dfx_call(f, NEM_SVC_JAIL, 2, &body, -1, &out, NULL, 0) != NEM_OK) {
		bson_destroy(&body);
		return -1;
	}
	if (bson_iter_init(&it, &out) &&
	    bson_iter_find_descendant(&it, "jail.state", &it) &&
	    BSON_ITER_HOLDS_UTF8(&it)) {
		snprintf(state, n, "%s", bson_iter_utf8(&it, NULL));
		rc = 0;
	}
	if (reason != NULL && bson_iter_init(&it, &out) &&
	    bson_iter_find_descendant(&it, "jail.reason", &it) &&
	    BSON_ITER_HOLDS_UTF8(&it))
		snprintf(reason, rlen, "%s", bson_iter_utf8(&it, NULL));
	bson_destroy(&out);
	bson_destroy(&body);
	return rc;
}

void
dfx_wait_state(struct dfx *f, const char *name, const char *state, int ms)
{
	char cur[32] = "", reason[512] = "";
	long end = now_ms() + ms;

	do {
		if (dfx_jail_state(f, name, cur, sizeof(cur), reason,
		    sizeof(reason)) == 0 && strcmp(cur, state) == 0)
			return;
		usleep(50000);
	} while (now_ms() < end);
	dfx_dump_log(f);
	fail_msg("jail %s is \"%s\" (%s) after %d ms, expected %s", name, cur,
	    reason, ms, state);
}

void
dfx_write_jail(struct dfx *f, const char *name, const char *toml)
{
	char path[192], tmp[200];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s.toml", f->jails, name);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fp = fopen(tmp, "w");
	assert_non_null(fp);
	fputs(toml, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static int
on_push_progress(struct nem_msg *msg, void *arg)
{
	int *frames = arg;

	(*frames)++;
	return 0;
}

void
dfx_push_image(struct dfx *f, const char *name)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_IMGHOST,
	    NEM_IMGHOST_ADD_IMAGE);
	struct nem_client *cl = dfx_connect(f);
	struct nem_reply reply;
	bson_t body = BSON_INITIALIZER;
	struct nem_err err;
	int fd = open(f->image, O_RDONLY | O_CLOEXEC);
	int frames = 0;

	assert_non_null(cl);
	assert_true(fd >= 0);
	BSON_APPEND_UTF8(&body, "name", name);
	BSON_APPEND_UTF8(&body, "version", "1.0.0");
	rq.body = bson_get_data(&body);
	rq.body_len = body.len;
	rq.fd = fd;
	rq.timeout_ms = 60000;
	nem_reply_init(&reply);
	if (nem_client_stream(cl, &rq, on_push_progress, &frames, &reply,
	    &err) == -1) {
		dfx_dump_log(f);
		fail_msg("add-image %s: %s", name, err.msg);
	}

	/* The store reports progress at least once, at the end. */
	assert_true(frames >= 1);
	nem_reply_clear(&reply);
	nem_client_free(cl);
	close(fd);
	bson_destroy(&body);
}
