/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Tests of nem-init with real processes: this program plays nem-rootd on
 * the other end of fd 3 (replying to host.ready, host.bind and host.connect)
 * and runs nem-init as PID 1 of a new PID namespace, with unmodified
 * busybox shell scripts as the program. The namespace is made in a forked
 * child, because LeakSanitizer cannot run its exit check in a process that
 * called unshare(CLONE_NEWPID) itself. Needs root; skips otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
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

#define HOST_READY 3

/* One nem-init run and the fake nem-rootd around it. */
struct run {
	pid_t mid;		/* the child that made the PID namespace */
	pid_t init;		/* nem-init, as seen from here */
	struct nem_client *cl;
	int out;		/* read end of the program's stdout */
	char output[8192];
	size_t used;
	int readies;
	int binds;
	int status;		/* exit code of nem-init, -1 while it runs */
	uint16_t port;		/* port of the socket given to host.bind */
	int service_peer;	/* our end of the last host.connect pair */
	int connects;		/* host.connect requests served */
	bool started;
};

static const char *nem_init;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Handlers of the fake nem-rootd. */

static void
on_ready(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct run *r = arg;
	struct nem_send s = NEM_SEND_INIT;

	r->readies++;
	nem_txn_reply(t, &s, NULL);
}

static void
on_bind(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct run *r = arg;
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
	r->port = ntohs(sin.sin_port);
	r->binds++;
	s.fd = fd;
	nem_txn_reply(t, &s, NULL);
	close(fd);
}

static void
on_connect(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct run *r = arg;
	struct nem_send s = NEM_SEND_INIT;
	int pair[2];

	char line[32];
	int len;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    pair), 0);

	/* Each connection greets with its number, so a test can tell which
	 * one a program got. */
	r->connects++;
	len = snprintf(line, sizeof(line), "hello %d\n", r->connects);
	assert_int_equal(write(pair[0], line, (size_t)len), len);
	if (r->service_peer != -1)
		close(r->service_peer);
	r->service_peer = pair[0];
	s.fd = pair[1];
	nem_txn_reply(t, &s, NULL);
	close(pair[1]);
}

/* Process handling. */

static void __attribute__((noreturn))
mid_child(int sock, int out, int report, char *const argv[])
{
	pid_t pid;
	int st;

	if (unshare(CLONE_NEWPID) == -1) {
		perror("unshare");
		_exit(120);
	}
	pid = fork();
	if (pid == -1)
		_exit(121);
	if (pid == 0) {
		if (dup2(sock, 3) == -1 || dup2(out, 1) == -1)
			_exit(122);
		setenv("NEM_FD", "3", 1);
		execv(nem_init, argv);
		_exit(123);
	}
	if (write(report, &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
		_exit(124);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* Starts nem-init with the arguments after argv[0] ("nem-init"). */
static void
run_start(struct run *r, char *const argv[])
{
	int sp[2], pp[2], rp[2];
	struct nem_err err;
	struct pollfd pfd;

	r->started = true;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sp), 0);
	assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
	assert_int_equal(pipe2(rp, O_CLOEXEC), 0);
	fflush(NULL);
	r->mid = fork();
	assert_true(r->mid >= 0);
	if (r->mid == 0)
		mid_child(sp[1], pp[1], rp[1], argv);
	close(sp[1]);
	close(pp[1]);
	close(rp[1]);
	r->out = pp[0];
	r->cl = nem_client_wrap(sp[0], NULL, &err);
	assert_non_null(r->cl);
	nem_client_handle(r->cl, NEM_SVC_HOST, HOST_READY, on_ready, r, &err);
	nem_client_handle(r->cl, NEM_SVC_HOST, NEM_HOST_BIND, on_bind, r,
	    &err);
	nem_client_handle(r->cl, NEM_SVC_HOST, NEM_HOST_CONNECT, on_connect,
	    r, &err);

	/* The middle process reports nem-init's pid as seen from here. */
	pfd = (struct pollfd){ .fd = rp[0], .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_int_equal(read(rp[0], &r->init, sizeof(r->init)),
	    (ssize_t)sizeof(r->init));
	close(rp[0]);
	assert_true(r->init > 0);
}

/* Reads what the program wrote so far, waiting up to ms. */
static void
read_output(struct run *r, int ms)
{
	struct pollfd pfd = { .fd = r->out, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, ms) <= 0)
		return;
	n = read(r->out, r->output + r->used, sizeof(r->output) - 1 - r->used);
	if (n > 0) {
		r->used += (size_t)n;
		r->output[r->used] = '\0';
	}
}

/* Serves the fake nem-rootd for up to ms, or until nem-init exited. */
static void
run_serve(struct run *r, int ms)
{
	struct nem_err err;
	int st;
	int64_t until = now_ms() + ms;

	while (now_ms() < until && r->status == -1) {
		if (nem_client_serve(r->cl, 10, &err) == -1)
			usleep(10000);
		read_output(r, 0);
		if (waitpid(r->mid, &st, WNOHANG) == r->mid)
			r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -2;
	}
}

/* Serves until text appears in the output; fails after ms. */
static void
run_wait_output(struct run *r, const char *text, int ms)
{
	int64_t until = now_ms() + ms;

	while (strstr(r->output, text) == NULL && now_ms() < until)
		run_serve(r, 20);
	if (strstr(r->output, text) == NULL)
		fail_msg("output lacks \"%s\"; it is \"%s\"", text, r->output);
}

/* Waits up to ms for nem-init to exit; returns its exit code or -1. */
static int
run_wait(struct run *r, int ms)
{
	int64_t until = now_ms() + ms;

	while (r->status == -1 && now_ms() < until)
		run_serve(r, 20);
	return r->status;
}

static void
run_stop_request(struct run *r)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_STOP);
	struct nem_reply reply;
	struct nem_err err;

	nem_reply_init(&reply);
	assert_int_equal(nem_client_call(r->cl, &rq, &reply, &err), 0);
	nem_reply_clear(&reply);
}

static int
run_setup(void **state)
{
	struct run *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->status = -1;
	r->service_peer = -1;
	r->out = -1;
	*state = r;
	return 0;
}

/* Ends what is left (also after a failed check) and frees the run. */
static int
run_teardown(void **state)
{
	struct run *r = *state;

	if (r->started && r->status == -1 && r->mid > 0) {
		/* Killing PID 1 ends the whole namespace. */
		if (r->init > 0)
			kill(r->init, SIGKILL);
		run_wait(r, 5000);
	}
	nem_client_free(r->cl);
	if (r->out != -1)
		close(r->out);
	if (r->service_peer != -1)
		close(r->service_peer);
	free(r);
	return 0;
}

/* Returns the number of zombies whose parent is pid. */
static int
count_zombies(pid_t pid)
{
	char cmd[256], line[64];
	FILE *fp;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "ps -o ppid=,stat= -e 2>/dev/null | "
	    "awk '$1 == %d && $2 ~ /^Z/'", (int)pid);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL)
		n++;
	pclose(fp);
	return n;
}

/* Tests. */

static void
test_exit_status(void **state)
{
	char *argv[] = { "nem-init", "/bin/busybox", "sh", "-c",
		"echo started; exit 3", NULL };
	struct run *r = *state;

	run_start(r, argv);
	run_wait_output(r, "started", 5000);
	assert_int_equal(run_wait(r, 5000), 3);
}

static void
test_killed_status(void **state)
{
	char *argv[] = { "nem-init", "/bin/busybox", "sh", "-c",
		"kill -USR1 $$; sleep 5", NULL };
	struct run *r = *state;

	run_start(r, argv);
	assert_int_equal(run_wait(r, 5000), 128 + SIGUSR1);
}

static void
test_zombies_reaped(void **state)
{
	/* Each subshell exits at once, so its sleep is orphaned and
	 * becomes a child of nem-init, PID 1 of the namespace. */
	char *argv[] = { "nem-init", "/bin/busybox", "sh", "-c",
		"for i in 1 2 3 4 5; do (/bin/busybox sleep 0.2 &); done; "
		"echo started; /bin/busybox sleep 1.5; exit 0", NULL };
	struct run *r = *state;

	run_start(r, argv);
	run_wait_output(r, "started", 5000);
	run_serve(r, 800);
	assert_int_equal(r->status, -1);
	assert_int_equal(count_zombies(r->init), 0);
	assert_int_equal(run_wait(r, 5000), 0);
	assert_int_equal(r->readies, 1);
}

static void
test_term_ignored(void **state)
{
	char *argv[] = { "nem-init", "/bin/busybox", "sh", "-c",
		"trap '' TERM; echo started; "
		"while true; do /bin/busybox sleep 0.1; done", NULL };
	struct run *r = *state;

	run_start(r, argv);
	run_wait_output(r, "started", 5000);
	run_stop_request(r);
	run_serve(r, 1000);
	assert_int_equal(r->status, -1);

	/* What nem-rootd does once the stop timeout has passed. */
	assert_int_equal(kill(r->init, SIGKILL), 0);
	assert_int_equal(run_wait(r, 5000), 128 + SIGKILL);
}

static void
test_stop_takes_trap_time(void **state)
{
	char script[512], log[128], buf[64] = "";
	char *argv[] = { "nem-init", "/bin/busybox", "sh", "-c", script,
		NULL };
	struct run *r = *state;
	int64_t t0, took;
	FILE *fp;

	/* The trap appends to a log in a folder of this test's own. */
	strcpy(log, "/tmp/test-nem-init-log-XXXXXX");
	assert_non_null(mkdtemp(log));
	strcat(log, "/log");
	snprintf(script, sizeof(script), "trap 'echo term >> %s; "
	    "/bin/busybox sleep 2; exit 0' TERM; echo started; "
	    "while true; do /bin/busybox sleep 0.1; done", log);

	run_start(r, argv);
	run_wait_output(r, "started", 5000);
	t0 = now_ms();
	run_stop_request(r);
	assert_int_equal(run_wait(r, 10000), 0);
	took = now_ms() - t0;
	assert_true(took >= 1900);
	assert_true(took < 4000);

	fp = fopen(log, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "term\n");
	unlink(log);
	*strrchr(log, '/') = '\0';
	rmdir(log);
}

static void
test_signal_forwarded(void **state)
{
	char *argv[] = { "nem-init", "/bin/busybox", "sh", "-c",
		"trap 'echo got-hup' HUP; echo started; "
		"while true; do /bin/busybox sleep 0.1; done", NULL };
	struct run *r = *state;

	run_start(r, argv);
	run_wait_output(r, "started", 5000);
	assert_int_equal(kill(r->init, SIGHUP), 0);
	run_wait_output(r, "got-hup", 5000);
	run_stop_request(r);
	assert_int_equal(run_wait(r, 5000), 128 + SIGTERM);
}

static void
test_daemon_info(void **state)
{
	char *argv[] = { "nem-init", "/bin/busybox", "sh", "-c",
		"echo started; /bin/busybox sleep 30", NULL };
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_INFO);
	struct nem_reply reply;
	struct nem_err err;
	struct run *r = *state;

	run_start(r, argv);
	run_wait_output(r, "started", 5000);
	nem_reply_init(&reply);
	assert_int_equal(nem_client_call(r->cl, &rq, &reply, &err), 0);
	assert_non_null(reply.body);
	assert_non_null(memmem(reply.body, reply.body_len, "nem-init", 8));
	nem_reply_clear(&reply);
}

static void
test_channel_not_inherited(void **state)
{
	char *argv[] = { "nem-init", "/bin/busybox", "sh", "-c",
		"[ -e /proc/self/fd/3 ] && echo fd3-open || echo fd3-closed; "
		"echo nemfd=${NEM_FD:-unset}", NULL };
	struct run *r = *state;

	run_start(r, argv);
	assert_int_equal(run_wait(r, 5000), 0);
	read_output(r, 100);
	assert_non_null(strstr(r->output, "fd3-closed"));
	assert_non_null(strstr(r->output, "nemfd=unset"));
}

static void
test_listen_fds(void **state)
{
	char *argv[] = { "nem-init", "-l", "web", "/bin/busybox", "sh", "-c",
		"echo fds=$LISTEN_FDS names=$LISTEN_FDNAMES; "
		"[ \"$LISTEN_PID\" = \"$$\" ] && echo pid-ok; "
		"[ -e /proc/self/fd/3 ] && echo fd3-open; "
		"[ -e /proc/self/fd/4 ] || echo fd4-closed", NULL };
	struct run *r = *state;

	run_start(r, argv);
	assert_int_equal(run_wait(r, 5000), 0);
	read_output(r, 100);
	assert_int_equal(r->binds, 1);
	assert_non_null(strstr(r->output, "fds=1 names=web"));
	assert_non_null(strstr(r->output, "pid-ok"));
	assert_non_null(strstr(r->output, "fd3-open"));
	assert_non_null(strstr(r->output, "fd4-closed"));
}

static void
test_service_fd(void **state)
{
	char *argv[] = { "nem-init", "-c", "db", "/bin/busybox", "sh", "-c",
		"echo svc=$NEM_SERVICE_FDS; echo ping >&3; "
		"/bin/busybox sleep 30", NULL };
	struct run *r = *state;
	char buf[16] = "";
	struct pollfd pfd;

	run_start(r, argv);
	run_wait_output(r, "svc=db=3", 5000);
	assert_true(r->service_peer >= 0);
	pfd = (struct pollfd){ .fd = r->service_peer, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_int_equal(read(r->service_peer, buf, sizeof(buf) - 1), 5);
	assert_string_equal(buf, "ping\n");
}

/* Sends a GET for /index.html to port and returns the response. */
static void
http_get(uint16_t port, char *out, size_t size)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const char rq[] = "GET /index.html HTTP/1.0\r\n\r\n";
	size_t used = 0;
	ssize_t n;
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(write(fd, rq, sizeof(rq) - 1), (ssize_t)sizeof(rq) - 1);
	while (used < size - 1 &&
	    (n = read(fd, out + used, size - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	close(fd);
}

/*
 * Sends a GET for /index.html to port and returns the response, serving
 * the fake nem-rootd meanwhile, because nem-init asks it for service
 * connections before it starts the instance.
 */
static void
http_get_async(struct run *r, uint16_t port, char *out, size_t size)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const char rq[] = "GET /index.html HTTP/1.0\r\n\r\n";
	int64_t until = now_ms() + 10000;
	struct pollfd pfd;
	size_t used = 0;
	ssize_t n;
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(write(fd, rq, sizeof(rq) - 1), (ssize_t)sizeof(rq) - 1);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (used < size - 1 && now_ms() < until) {
		run_serve(r, 10);
		if (poll(&pfd, 1, 10) != 1)
			continue;
		n = read(fd, out + used, size - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	out[used] = '\0';
	close(fd);
}

static void
test_inetd_httpd(void **state)
{
	char www[128], page[160], resp[4096];
	char *argv[] = { "nem-init", "-i", "web:2", "/bin/busybox", "httpd",
		"-i", "-h", www, NULL };
	struct run *r = *state;
	FILE *fp;
	char cmd[160];

	strcpy(www, "/tmp/test-nem-init-www-XXXXXX");
	assert_non_null(mkdtemp(www));
	chmod(www, 0755);
	snprintf(page, sizeof(page), "%s/index.html", www);
	fp = fopen(page, "w");
	assert_non_null(fp);
	fputs("hello from busybox\n", fp);
	fclose(fp);

	run_start(r, argv);
	for (int i = 0; i < 50 && r->readies == 0; i++)
		run_serve(r, 100);
	assert_int_equal(r->readies, 1);
	assert_int_equal(r->binds, 1);
	for (int i = 0; i < 3; i++) {
		http_get(r->port, resp, sizeof(resp));
		assert_non_null(strstr(resp, "200 OK"));
		assert_non_null(strstr(resp, "hello from busybox"));
		run_serve(r, 50);
	}
	run_stop_request(r);
	assert_int_equal(run_wait(r, 5000), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", www);
	assert_int_equal(system(cmd), 0);
}

static void
test_inetd_service_fds(void **state)
{
	char *argv[] = { "nem-init", "-i", "web:2", "-c", "db",
		"/bin/busybox", "sh", "-c",
		"read -r request; read -r line <&3; "
		"printf 'HTTP/1.0 200 OK\\r\\n\\r\\nsvc=%s line=%s\\n' "
		"\"$NEM_SERVICE_FDS\" \"$line\"", NULL };
	struct run *r = *state;
	char resp[4096], want[64], buf[16];
	struct pollfd pfd;

	run_start(r, argv);
	for (int i = 0; i < 50 && r->readies == 0; i++)
		run_serve(r, 100);
	assert_int_equal(r->readies, 1);

	/* No long-running program, so no connection before the first
	 * request. */
	assert_int_equal(r->connects, 0);

	for (int i = 1; i <= 3; i++) {
		http_get_async(r, r->port, resp, sizeof(resp));
		snprintf(want, sizeof(want), "svc=db=3 line=hello %d", i);
		assert_non_null(strstr(resp, want));
		assert_int_equal(r->connects, i);

		/* The instance ended and nem-init closed its copy, so our end
		 * of the pair reads end of file. */
		pfd = (struct pollfd){ .fd = r->service_peer, .events = POLLIN };
		assert_int_equal(poll(&pfd, 1, 5000), 1);
		assert_int_equal(read(r->service_peer, buf, sizeof(buf)), 0);
	}
	run_stop_request(r);
	assert_int_equal(run_wait(r, 5000), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exit_status, run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_killed_status, run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_zombies_reaped, run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_term_ignored, run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_stop_takes_trap_time, run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_signal_forwarded, run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_daemon_info, run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_channel_not_inherited, run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_listen_fds, run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_service_fd, run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_inetd_httpd, run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_inetd_service_fds, run_setup, run_teardown),
	};

	nem_init = getenv("NEM_INIT");
	if (geteuid() != 0 || nem_init == NULL) {
		fprintf(stderr, "skipped: needs root and NEM_INIT\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
