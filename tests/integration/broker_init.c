/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Root integration test of nem-init in real jails: a squashfs image with
 * the static /bin/busybox, real loop devices, mounts and namespaces, and
 * jail descriptions with process.init = true, so the jail runtime runs
 * nem-init from the host file as PID 1 of the jail. This program plays
 * nem-rootd on the channel (host.ready, host.bind, daemon.stop) and does
 * what nem-rootd does after a stop timeout (SIGKILL). Everything lives
 * under one mkdtemp folder and is torn down even when a check fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <nem/client.h>
#include <nem/proto.h>

#include "config.h"
#include "db.h"
#include "jail.h"
#include "os/os.h"
#include "os_fixture.h"
#include "store.h"

#define assert_ok(call, err) \
	do { \
		if ((call) == -1) \
			fail_msg("%s: %s", #call, (err).msg); \
	} while (0)

/* host.ready: command 3 of the host service. */
#define HOST_READY 3

struct init_fixture {
	char dir[64];			/* the test's folder */
	char run[PATH_MAX];		/* run_dir */
	char state[PATH_MAX];		/* state_dir */
	char conf[PATH_MAX];		/* configuration folder */
	struct db *db;
	struct store *store;
	struct jail_runtime *rt;

	/* The current run. */
	struct cfg_jail *cfg;
	struct jail *jail;
	struct nem_client *cl;
	pid_t pid;
	int pidfd;
	int status;			/* wait status, -1 while it runs */
	int readies;
	uint16_t port;			/* port given out by host.bind */
	char log_path[PATH_MAX];
};

static const char *nem_init;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* Stages a tree with busybox, its applet links and a web page. */
static void
stage_tree(const char *stage)
{
	static const char *dirs[] = { "bin", "etc", "proc", "dev", "tmp",
		"data", "www" };
	static const char *applets[] = { "sh", "sleep", "cat", "httpd",
		"true" };
	char path[PATH_MAX];

	assert_int_equal(mkdir(stage, 0755), 0);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", stage, dirs[i]);
		assert_int_equal(mkdir(path, 0755), 0);
	}
	snprintf(path, sizeof(path), "%s/bin/busybox", stage);
	assert_int_equal(fixture_run((char *[]){ "cp", "/bin/busybox", path,
	    NULL }), 0);
	for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++) {
		snprintf(path, sizeof(path), "%s/bin/%s", stage, applets[i]);
		assert_int_equal(symlink("busybox", path), 0);
	}
	snprintf(path, sizeof(path), "%s/etc/passwd", stage);
	write_file(path, "root:x:0:0:root:/:/bin/sh\n");
	snprintf(path, sizeof(path), "%s/etc/group", stage);
	write_file(path, "root:x:0:\n");
	snprintf(path, sizeof(path), "%s/www/index.html", stage);
	write_file(path, "served from a jail\n");
}

static int
setup(void **state)
{
	struct jail_paths paths = { 0 };
	char stage[PATH_MAX], image[PATH_MAX];
	struct store_import_req req = { .name = "base", .version = "1.0.0" };
	struct store_image img;
	struct init_fixture *f;
	struct nem_err err;
	int fd;

	if (geteuid() != 0 || nem_init == NULL) {
		fprintf(stderr, "nem-init jail tests need root and NEM_INIT; "
		    "skipped\n");
		exit(77);
	}
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->pidfd = -1;
	f->status = -1;
	*state = f;
	snprintf(f->dir, sizeof(f->dir), "/tmp/nem-init-jail.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->run, sizeof(f->run), "%s/run", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->conf, sizeof(f->conf), "%s/conf", f->dir);
	assert_int_equal(mkdir(f->run, 0755), 0);
	assert_int_equal(mkdir(f->state, 0700), 0);
	assert_int_equal(mkdir(f->conf, 0755), 0);

	snprintf(stage, sizeof(stage), "%s/stage", f->dir);
	stage_tree(stage);
	snprintf(image, sizeof(image), "%s/base.squashfs", f->dir);
	assert_int_equal(fixture_run((char *[]){ "mksquashfs", stage, image,
	    "-quiet", "-noappend", "-all-root", NULL }), 0);

	f->db = db_open(f->state, &err);
	if (f->db == NULL)
		fail_msg("db_open: %s", err.msg);
	f->store = store_open(f->db, f->state, &err);
	if (f->store == NULL)
		fail_msg("store_open: %s", err.msg);
	paths.run_dir = f->run;
	paths.state_dir = f->state;
	paths.init_path = nem_init;
	f->rt = jail_runtime_open(&paths, f->store, f->db, &err);
	if (f->rt == NULL)
		fail_msg("jail_runtime_open: %s", err.msg);
	fd = open(image, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_ok(store_import(f->store, fd, &req, &img, &err), err);
	close(fd);
	return 0;
}

/* Ends the current run: kills what still runs and frees the jail. */
static void
run_end(struct init_fixture *f)
{
	struct nem_err err;

	if (f->pid > 0 && f->status == -1) {
		kill(f->pid, SIGKILL);
		while (waitpid(f->pid, &f->status, 0) == -1 && errno == EINTR)
			;
	}
	f->pid = 0;
	nem_client_free(f->cl);
	f->cl = NULL;
	if (f->jail != NULL && jail_free(f->jail, &err) == -1)
		fprintf(stderr, "run_end: %s\n", err.msg);
	f->jail = NULL;
	cfg_jail_free(f->cfg);
	f->cfg = NULL;
}

static int
teardown(void **state)
{
	struct init_fixture *f = *state;
	struct os_disk *disks;
	struct nem_err err;
	size_t n;

	if (f == NULL)
		return 0;
	run_end(f);
	jail_runtime_close(f->rt);
	store_close(f->store);
	db_close(f->db);
	if (os_unmount_under(f->dir, &err) == -1)
		fprintf(stderr, "teardown: %s\n", err.msg);
	if (os_disk_list(f->dir, &disks, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++)
			os_disk_detach(&disks[i], &err);
		free(disks);
	}
	if (fixture_count_mounts(f->dir) == 0)
		fixture_run((char *[]){ "rm", "-rf", "--one-file-system",
		    f->dir, NULL });
	else
		fprintf(stderr, "teardown: mounts remain, keeping %s\n",
		    f->dir);
	free(f);
	*state = NULL;
	return 0;
}

/* The fake nem-rootd's handlers. */

static void
on_ready(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct init_fixture *f = arg;
	struct nem_send s = NEM_SEND_INIT;

	f->readies++;
	nem_txn_reply(t, &s, NULL);
}

static void
on_bind(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct init_fixture *f = arg;
	struct nem_send s = NEM_SEND_INIT;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	f->port = ntohs(sin.sin_port);
	s.fd = fd;
	nem_txn_reply(t, &s, NULL);
	close(fd);
}

/* Allocates the jail described by the TOML text and starts nem-init. */
static void
run_start(struct init_fixture *f, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
run_start(struct init_fixture *f, const char *name, const char *fmt, ...)
{
	struct cfg_diags diags = { 0 };
	struct nem_err err;
	char text[4096];
	int sv[2], log_fd;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	f->cfg = cfg_jail_load_buffer(name, name, f->conf, text, strlen(text),
	    &diags);
	if (f->cfg == NULL) {
		cfg_diags_print(&diags, stderr);
		cfg_diags_clear(&diags);
		fail_msg("jail description %s is invalid", name);
	}
	cfg_diags_clear(&diags);
	assert_true(f->cfg->init);
	assert_ok(jail_alloc(f->rt, f->cfg, &f->jail, &err), err);

	snprintf(f->log_path, sizeof(f->log_path), "%s/%s.log", f->dir, name);
	log_fd = open(f->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	assert_true(log_fd >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	f->status = -1;
	f->readies = 0;
	assert_ok(jail_spawn(f->jail, sv[1], log_fd, &f->pid, &f->pidfd,
	    &err), err);
	close(sv[1]);
	close(log_fd);
	f->cl = nem_client_wrap(sv[0], NULL, &err);
	assert_non_null(f->cl);
	nem_client_handle(f->cl, NEM_SVC_HOST, HOST_READY, on_ready, f, &err);
	nem_client_handle(f->cl, NEM_SVC_HOST, NEM_HOST_BIND, on_bind, f,
	    &err);
}

/* Serves the channel for ms, or until the root process exited. */
static void
run_serve(struct init_fixture *f, int ms)
{
	int64_t until = now_ms() + ms;
	struct nem_err err;

	while (now_ms() < until && f->status == -1) {
		if (nem_client_serve(f->cl, 10, &err) == -1)
			usleep(10000);
		if (waitpid(f->pid, &f->status, WNOHANG) != f->pid)
			f->status = -1;
	}
}

static void
run_wait_ready(struct init_fixture *f)
{
	for (int i = 0; i < 100 && f->readies == 0 && f->status == -1; i++)
		run_serve(f, 50);
	assert_int_equal(f->readies, 1);
}

static void
run_stop_request(struct init_fixture *f)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_STOP);
	struct nem_reply reply;
	struct nem_err err;

	nem_reply_init(&reply);
	assert_ok(nem_client_call(f->cl, &rq, &reply, &err), err);
	nem_reply_clear(&reply);
}

static const char *
run_log(struct init_fixture *f)
{
	static char buf[16384];

	fixture_read(f->log_path, buf, sizeof(buf));
	return buf;
}

#define ROOT_IMAGE "[[mount]]\ntype = \"image\"\ndest = \"/\"\n" \
	"image = \"base\"\n"

/* Tests. */

static void
zombies_reaped_exit_3(void **state)
{
	struct init_fixture *f = *state;
	char path[64], line[512];
	int zombies = 0;
	FILE *fp;

	/* Every subshell exits at once, so its sleep becomes an orphan
	 * whose parent is nem-init, PID 1 of the jail. */
	run_start(f, "zombies", "[process]\ninit = true\n"
	    "exec = [\"/bin/sh\", \"-c\", \"for i in 1 2 3 4 5 6; do "
	    "(sleep 0.2 &); done; echo started; sleep 1.5; exit 3\"]\n"
	    ROOT_IMAGE);
	run_wait_ready(f);
	run_serve(f, 900);
	assert_int_equal(f->status, -1);

	/* No child of nem-init may be a zombie now. */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)f->pid,
	    (int)f->pid);
	fp = fopen(path, "r");
	assert_non_null(fp);
	if (fgets(line, sizeof(line), fp) != NULL) {
		char *save = NULL;

		for (char *tok = strtok_r(line, " \n", &save); tok != NULL;
		    tok = strtok_r(NULL, " \n", &save)) {
			char stat_path[64], st[512];
			char *paren;
			FILE *sp;

			snprintf(stat_path, sizeof(stat_path), "/proc/%s/stat",
			    tok);
			sp = fopen(stat_path, "r");
			if (sp == NULL)
				continue;
			if (fgets(st, sizeof(st), sp) != NULL &&
			    (paren = strrchr(st, ')')) != NULL &&
			    paren[2] == 'Z')
				zombies++;
			fclose(sp);
		}
	}
	fclose(fp);
	assert_int_equal(zombies, 0);

	run_serve(f, 5000);
	assert_true(WIFEXITED(f->status));
	assert_int_equal(WEXITSTATUS(f->status), 3);
	assert_non_null(strstr(run_log(f), "started\n"));
	run_end(f);
}

static void
term_ignored_killed(void **state)
{
	struct init_fixture *f = *state;

	run_start(f, "stubborn", "[process]\ninit = true\n"
	    "exec = [\"/bin/sh\", \"-c\", \"trap '' TERM; echo started; "
	    "while true; do sleep 0.1; done\"]\n"
	    ROOT_IMAGE);
	run_wait_ready(f);
	run_serve(f, 200);
	run_stop_request(f);
	run_serve(f, 1000);
	assert_int_equal(f->status, -1);

	/* The stop timeout passed: SIGKILL to PID 1 ends the namespace. */
	assert_int_equal(kill(f->pid, SIGKILL), 0);
	run_serve(f, 5000);
	assert_true(WIFSIGNALED(f->status));
	assert_int_equal(WTERMSIG(f->status), SIGKILL);
	run_end(f);
}

static void
stop_waits_for_trap(void **state)
{
	struct init_fixture *f = *state;
	static const char volume[] =
	    "[[mount]]\ntype = \"md\"\ndest = \"/data\"\nsize = \"8M\"\n"
	    "persist = true\nvolume = \"initlog\"\n";
	int64_t t0, took;

	run_start(f, "trapper", "[process]\ninit = true\n"
	    "exec = [\"/bin/sh\", \"-c\", \"trap 'echo term >> /data/log; "
	    "sleep 2; exit 0' TERM; echo started; "
	    "while true; do sleep 0.1; done\"]\n"
	    ROOT_IMAGE "%s", volume);
	run_wait_ready(f);
	run_serve(f, 300);
	t0 = now_ms();
	run_stop_request(f);
	run_serve(f, 10000);
	took = now_ms() - t0;
	assert_true(WIFEXITED(f->status));
	assert_int_equal(WEXITSTATUS(f->status), 0);
	assert_true(took >= 1900);
	assert_true(took < 4000);
	run_end(f);

	/* The persistent volume kept what the trap wrote. */
	run_start(f, "trapper", "[process]\ninit = true\n"
	    "exec = [\"/bin/cat\", \"/data/log\"]\n" ROOT_IMAGE "%s", volume);
	run_serve(f, 5000);
	assert_true(WIFEXITED(f->status));
	assert_int_equal(WEXITSTATUS(f->status), 0);
	assert_non_null(strstr(run_log(f), "term\n"));
	run_end(f);
}

static void
inetd_httpd_in_jail(void **state)
{
	struct init_fixture *f = *state;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const char rq[] = "GET /index.html HTTP/1.0\r\n\r\n";
	char resp[4096];
	size_t used = 0;
	ssize_t n;
	int fd;

	run_start(f, "web", "[process]\ninit = true\n"
	    "exec = [\"/bin/httpd\", \"-i\", \"-h\", \"/www\"]\n"
	    ROOT_IMAGE
	    "[[listen]]\nname = \"http\"\naddress = \"127.0.0.1\"\n"
	    "port = 18080\nmode = \"inetd\"\nmax_connections = 2\n");
	run_wait_ready(f);
	assert_true(f->port > 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(f->port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(write(fd, rq, sizeof(rq) - 1),
	    (ssize_t)sizeof(rq) - 1);
	while (used < sizeof(resp) - 1 &&
	    (n = read(fd, resp + used, sizeof(resp) - 1 - used)) > 0)
		used += (size_t)n;
	resp[used] = '\0';
	close(fd);
	assert_non_null(strstr(resp, "200 OK"));
	assert_non_null(strstr(resp, "served from a jail"));

	run_stop_request(f);
	run_serve(f, 5000);
	assert_true(WIFEXITED(f->status));
	assert_int_equal(WEXITSTATUS(f->status), 0);
	run_end(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(zombies_reaped_exit_3, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(term_ignored_killed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(stop_waits_for_trap, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(inetd_httpd_in_jail, setup,
		    teardown),
	};

	nem_init = getenv("NEM_INIT");
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
