/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Tests of service brokering (host.connect) and host ports (host.bind),
 * which every jail manager installs, with real processes, channels and
 * sockets. The runtime used here builds no tree: it runs each jail's exec
 * on the host with the channel on fd 3, so the tests need no images. The root
 * processes are the example program nem-echo and nem-init with busybox
 * httpd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include <nem/log.h>

#include "broker.h"
#include "jm_fixture.h"
#include "config.h"
#include "db.h"
#include "jailmgr.h"
#include "supervise.h"

static const char *nem_echo;
static const char *nem_init;

/* The runtime of these tests: no tree, the exec runs on the host. */

static void *
rt_alloc(void *arg, const struct cfg_jail *jail, struct nem_err *err)
{
	return (void *)jail;
}

static pid_t
rt_spawn(void *arg, void *handle, const struct cfg_jail *jail,
    const int stdio[3], int channel, const char *const *env,
    struct nem_err *err)
{
	struct sup_exec spec = {
		.argv = (const char *const *)jail->cmd.exec,
		.env = env,
		.stdio = { stdio[0], stdio[1], stdio[2] },
		.channel = channel,
	};

	return sup_spawn_exec(&spec, err);
}

static int
rt_free(void *arg, void *handle, struct nem_err *err)
{
	return 0;
}

static const struct jm_runtime test_runtime = {
	.alloc = rt_alloc,
	.spawn = rt_spawn,
	.free = rt_free,
};

/* Fixture: jm_fixture.h, with no [[host]]. */

static int
fx_setup(void **state)
{
	struct fx *fx = fx_open("/tmp/test-broker-XXXXXX", "");

	fx_start_jm(fx, &test_runtime);
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	fx_close(*state);
	*state = NULL;
	return 0;
}

static bool
has_exited(struct fx *fx, const void *arg)
{
	struct jm_jail_info info;

	if (jm_jail_status(fx->jm, arg, &info, NULL) == -1)
		return false;
	return info.pid == 0 && info.last_status != -1 &&
	    (info.state == JM_ST_STOPPED || info.state == JM_ST_FAILED);
}

/* Waits for the run of jail name to end; returns its exit code. */
static int
wait_exit_code(struct fx *fx, const char *name, int ms)
{
	struct jm_jail_info info;

	assert_true(run_until(fx, has_exited, name, ms));
	assert_int_equal(jm_jail_status(fx->jm, name, &info, NULL), 0);
	assert_true(WIFEXITED(info.last_status));
	return WEXITSTATUS(info.last_status);
}

/* Returns the log of jail name, read into a static buffer. */
static const char *
jail_log(struct fx *fx, const char *name)
{
	static char buf[16384];
	struct jm_jail_info info;
	size_t n;
	FILE *fp;

	buf[0] = '\0';
	assert_int_equal(jm_jail_status(fx->jm, name, &info, NULL), 0);
	fp = fopen(info.log_path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Writes the provider "echo" and the consumer "client". */
static void
write_pair(struct fx *fx)
{
	write_jail(fx, "echo",
	    "autostart = true\n[process]\nexec = [\"%s\", \"serve\"]\n"
	    "stop_timeout = \"2s\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"16M\"\n"
	    "[services]\nprovides = [\"echo\"]\n", nem_echo);
	write_jail(fx, "client",
	    "autostart = true\n[process]\n"
	    "exec = [\"%s\", \"connect\", \"echo\", \"hello\"]\n"
	    "restart = \"never\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"16M\"\n"
	    "[services]\nrequires = [\"echo\"]\n"
	    "[access]\necho = [\"read\", \"write\"]\n", nem_echo);
}

/* Tests. */

static void
test_connect_granted(void **state)
{
	struct fx *fx = *state;
	struct nem_err err;
	const char *log;

	write_pair(fx);
	assert_int_equal(jm_start(fx->jm, &err), 0);
	wait_state(fx, "echo", JM_ST_READY, 10000);
	assert_int_equal(wait_exit_code(fx, "client", 10000), 0);

	/* The provider's greeting names the caller and its rights, and the
	 * text comes back unchanged. */
	log = jail_log(fx, "client");
	assert_non_null(strstr(log, "reply: service echo peer client "
	    "rights read,write\nhello"));
	log = jail_log(fx, "echo");
	assert_non_null(strstr(log, "connection from jail client to service "
	    "echo"));
}

static void
test_connect_without_grant(void **state)
{
	struct fx *fx = *state;
	struct nem_err err;

	write_pair(fx);
	write_jail(fx, "intruder",
	    "autostart = false\n[process]\n"
	    "exec = [\"%s\", \"connect\", \"echo\", \"hi\"]\n"
	    "restart = \"never\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"16M\"\n",
	    nem_echo);
	assert_int_equal(jm_start(fx->jm, &err), 0);
	wait_state(fx, "echo", JM_ST_READY, 10000);
	assert_int_equal(jm_jail_start(fx->jm, "intruder", &err), 0);
	assert_int_equal(wait_exit_code(fx, "intruder", 10000), 3);
	assert_non_null(strstr(jail_log(fx, "intruder"), "permission denied"));
	assert_null(strstr(jail_log(fx, "echo"), "connection from jail "
	    "intruder"));
}

static void
test_provider_restart(void **state)
{
	struct fx *fx = *state;
	struct nem_err err;

	write_pair(fx);
	assert_int_equal(jm_start(fx->jm, &err), 0);
	wait_state(fx, "echo", JM_ST_READY, 10000);
	assert_int_equal(wait_exit_code(fx, "client", 10000), 0);

	/* While the provider is down, a connect is unavailable. */
	assert_int_equal(jm_jail_stop(fx->jm, "echo", NULL, NULL, &err), 0);
	wait_state(fx, "echo", JM_ST_STOPPED, 10000);
	write_jail(fx, "late",
	    "autostart = false\n[process]\n"
	    "exec = [\"%s\", \"connect\", \"echo\", \"hi\"]\n"
	    "restart = \"never\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"16M\"\n"
	    "[access]\necho = [\"read\"]\n", nem_echo);
	assert_int_equal(jm_reload(fx->jm, &err), 0);
	assert_int_equal(jm_jail_start(fx->jm, "late", &err), 0);
	assert_int_equal(wait_exit_code(fx, "late", 10000), 5);

	/* The restarted provider serves the consumer's next connect. */
	assert_int_equal(jm_jail_start(fx->jm, "echo", &err), 0);
	wait_state(fx, "echo", JM_ST_READY, 10000);
	assert_int_equal(jm_jail_start(fx->jm, "client", &err), 0);
	assert_int_equal(wait_exit_code(fx, "client", 10000), 0);
	assert_non_null(strstr(jail_log(fx, "client"), "rights read,write\n"
	    "hello"));
}

/* Returns a loopback TCP port that was free a moment ago. */
static unsigned
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* Sends a GET for /index.html to port; returns the response. */
static void
http_get(unsigned port, char *out, size_t size)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const char rq[] = "GET /index.html HTTP/1.0\r\n\r\n";
	size_t used = 0;
	ssize_t n;
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(write(fd, rq, sizeof(rq) - 1),
	    (ssize_t)sizeof(rq) - 1);
	while (used < size - 1 &&
	    (n = read(fd, out + used, size - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	close(fd);
}

static void
test_bind_inetd_httpd(void **state)
{
	struct fx *fx = *state;
	char www[PATH_MAX], page[PATH_MAX + 16], resp[4096];
	unsigned port = free_port();
	struct nem_err err;
	FILE *fp;

	snprintf(www, sizeof(www), "%s/www", fx->dir);
	assert_int_equal(mkdir(www, 0755), 0);
	snprintf(page, sizeof(page), "%s/index.html", www);
	fp = fopen(page, "w");
	assert_non_null(fp);
	fputs("served through host.bind\n", fp);
	fclose(fp);

	write_jail(fx, "web",
	    "autostart = true\n[process]\n"
	    "exec = [\"%s\", \"-i\", \"http:4\", \"/bin/busybox\", "
	    "\"httpd\", \"-i\", \"-h\", \"%s\"]\n"
	    "stop_timeout = \"2s\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"16M\"\n"
	    "[[listen]]\nname = \"http\"\naddress = \"127.0.0.1\"\n"
	    "port = %u\nmode = \"inetd\"\nmax_connections = 4\n",
	    nem_init, www, port);
	/* A jail that requests a port its description does not list. */
	write_jail(fx, "squatter",
	    "autostart = false\n[process]\n"
	    "exec = [\"%s\", \"-l\", \"http\", \"/bin/busybox\", \"true\"]\n"
	    "restart = \"never\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"16M\"\n",
	    nem_init);
	assert_int_equal(jm_start(fx->jm, &err), 0);
	wait_state(fx, "web", JM_ST_READY, 10000);

	for (int i = 0; i < 3; i++) {
		http_get(port, resp, sizeof(resp));
		assert_non_null(strstr(resp, "200 OK"));
		assert_non_null(strstr(resp, "served through host.bind"));
	}

	assert_int_equal(jm_jail_start(fx->jm, "squatter", &err), 0);
	assert_int_equal(wait_exit_code(fx, "squatter", 10000), 1);
	assert_non_null(strstr(jail_log(fx, "squatter"), "permission "
	    "denied"));
}

static void
test_init_argv(void **state)
{
	char *exec[] = { "/bin/httpd", "-f", NULL };
	char *rights[] = { "read" };
	struct cfg_listen listen[2] = {
		{ .name = "http", .mode = CFG_LISTEN_INETD,
		  .max_connections = 8 },
		{ .name = "admin", .mode = CFG_LISTEN_FDS },
	};
	struct cfg_access access[1] = {
		{ .service = "db", .rights = rights, .nrights = 1 },
	};
	struct cfg_jail jail = {
		.name = "web",
		.cmd = { .exec = exec, .nexec = 2 },
		.listen = listen,
		.nlisten = 2,
		.access = access,
		.naccess = 1,
	};
	const char *want[] = { BROKER_INIT_PATH, "-i", "http:8", "-l",
		"admin", "-c", "db", "--", "/bin/httpd", "-f" };
	size_t nwant = sizeof(want) / sizeof(want[0]);
	struct nem_err err;
	char **argv;

	argv = broker_init_argv(&jail, BROKER_INIT_PATH, &err);
	assert_non_null(argv);
	for (size_t i = 0; i < nwant; i++) {
		assert_non_null(argv[i]);
		assert_string_equal(argv[i], want[i]);
	}
	assert_null(argv[nwant]);
	broker_init_argv_free(argv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_argv),
		cmocka_unit_test_setup_teardown(test_connect_granted,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_connect_without_grant,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_provider_restart,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bind_inetd_httpd,
		    fx_setup, fx_teardown),
	};

	nem_echo = getenv("NEM_ECHO");
	nem_init = getenv("NEM_INIT");
	if (nem_echo == NULL || nem_init == NULL) {
		fprintf(stderr, "skipped: NEM_ECHO and NEM_INIT must name the "
		    "programs\n");
		return 77;
	}
	log_init(LOG_DEST_STDERR, LOG_LEVEL_INFO);
	log_role("test");
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
