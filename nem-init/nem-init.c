/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nem-init: the root process nem-rootd runs in a jail whose description
 * sets process.init = true, so an unmodified program can run there. It
 * speaks NEM on the descriptor named by NEM_FD (3), requests from nem-rootd the
 * host sockets and service connections named on its command line, starts
 * the program as its child with the systemd socket-passing convention,
 * forwards signals, reaps every process that ends up as its child (it is
 * PID 1 of the jail's PID namespace), and exits with the program's status.
 * It is linked statically because a jail's tree need not hold a C library.
 *
 * A long-running program gets one connection per service, made before it
 * starts; an inetd instance gets its own, made after its connection was
 * accepted.
 *
 * Limitations: a long-running program that needs more connections to a
 * service must speak NEM itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bson/bson.h>
#include <event2/event.h>

#include <nem/conn.h>
#include <nem/frame.h>
#include <nem/log.h>
#include <nem/proto.h>

#ifndef NEM_INIT_VERSION
#define NEM_INIT_VERSION "0"
#endif

/* host.ready: command 3 of the host service, empty body. */
#define INIT_HOST_READY 3

/* Maximum [[listen]] entries and services on one command line. */
#define INIT_SOCKETS_MAX 64

/* Default and maximum concurrent instances of an inetd entry. */
#define INIT_INETD_DEFAULT 16
#define INIT_INETD_MAX 1024

/* A host socket requested with -l (fds mode) or -i (inetd mode). */
struct init_listen {
	const char *name;
	bool inetd;
	unsigned max;			/* inetd: concurrent instances */
	unsigned active;		/* inetd: instances running */
	int fd;				/* the listening socket, or -1 */
	struct event *ev;		/* inetd: accept event */
};

/* A service connection requested with -c. */
struct init_service {
	const char *name;
	int fd;
};

/* A running inetd instance. */
struct init_instance {
	pid_t pid;
	struct init_listen *listen;
};

struct init_accepted;

/* One host.connect of an accepted inetd connection. */
struct init_accepted_svc {
	struct init_accepted *owner;
	int fd;				/* the service connection, or -1 */
};

/* An accepted inetd connection waiting for its service connections. */
struct init_accepted {
	struct init_listen *listen;
	int fd;				/* the accepted connection */
	size_t pending;			/* host.connect replies to come */
	bool failed;			/* a host.connect failed */
	struct init_accepted_svc svc[INIT_SOCKETS_MAX];	/* as services */
};

static struct {
	struct event_base *base;
	struct nem_conn *conn;
	struct nem_mux *mux;
	char **argv;			/* the program and its arguments */
	struct init_listen listen[INIT_SOCKETS_MAX];
	size_t nlisten;
	struct init_service services[INIT_SOCKETS_MAX];
	size_t nservices;
	size_t pending;			/* host.bind/connect replies to come */
	bool setup_failed;
	bool has_main;			/* a long-running program runs: no
					   [[listen]] entry, or one in fds
					   mode */
	pid_t main_pid;			/* 0 before start and after exit */
	bool stopping;
	int exit_code;			/* the program's, once it ended, or -1 */
	struct init_instance *instances;
	size_t ninstances;
} init;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: nem-init [-v] [-l name] [-i name[:max]] "
	    "[-c service] [--] program [argument ...]\n"
	    "  -l name      pass the host socket of [[listen]] entry name "
	    "(LISTEN_FDS)\n"
	    "  -i name:max  accept on [[listen]] entry name and run the "
	    "program per connection, at most max at once (default %d)\n"
	    "  -c service   pass a connection to service to the program and "
	    "to each\n               inetd instance (NEM_SERVICE_FDS)\n"
	    "  -v           log debug lines\n", INIT_INETD_DEFAULT);
	exit(2);
}

/* Returns the exit code that reports wait status st: 128 + signal when
 * killed. */
static int
exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

/* Sends sig to every inetd instance. */
static void
signal_instances(int sig)
{
	for (size_t i = 0; i < init.ninstances; i++)
		kill(init.instances[i].pid, sig);
}

/* Starts stopping: SIGTERM to the program or, without one, to the inetd
 * instances; nem-init exits once they are gone. */
static void
begin_stop(const char *why)
{
	/* After the program ended, only its exit status matters. */
	if (init.stopping || init.exit_code >= 0)
		return;
	init.stopping = true;
	log_info("stopping: %s", why);
	for (size_t i = 0; i < init.nlisten; i++) {
		if (init.listen[i].ev != NULL)
			event_del(init.listen[i].ev);
	}
	if (init.main_pid > 0) {
		kill(init.main_pid, SIGTERM);
		return;
	}
	signal_instances(SIGTERM);
	if (!init.has_main && init.ninstances == 0)
		exit(0);
	if (init.has_main && init.main_pid == 0 && init.pending == 0)
		exit(0);
}

/* Child side. */

/*
 * Moves the descriptors of fds[0..n) to 3, 4, ... and closes everything
 * above. Runs in the child after fork(2), before exec.
 */
static int
place_fds(const int *fds, size_t n)
{
	int tmp[2 * INIT_SOCKETS_MAX];
	int high = 3 + (int)n;

	/* First copy every source above the target range, so no dup2 can
	 * overwrite a source that is still to be moved. */
	for (size_t i = 0; i < n; i++) {
		tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, high);
		if (tmp[i] == -1)
			return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (dup2(tmp[i], 3 + (int)i) == -1)
			return -1;
	}
	if (close_range((unsigned)high, ~0U, 0) == -1) {
		/* Older kernels: close_range(2) exists since Linux 5.9. */
		for (int fd = high; fd < 1024; fd++)
			close(fd);
	}
	return 0;
}

/* Resets what exec does not reset: blocked signals and SIGPIPE. */
static void
reset_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
}

static void __attribute__((noreturn))
exec_program(void)
{
	execvp(init.argv[0], init.argv);
	fprintf(stderr, "nem-init: exec %s failed: %s; check the exec path "
	    "inside the jail\n", init.argv[0], strerror(errno));
	_exit(127);
}

/* Appends "name=fd" of service i to the NEM_SERVICE_FDS value in buf. */
static void
service_fds_add(char *buf, size_t size, size_t i, size_t fd)
{
	char item[NAME_MAX + 32];

	snprintf(item, sizeof(item), "%s%s=%zu", buf[0] != '\0' ? "," : "",
	    init.services[i].name, fd);
	strncat(buf, item, size - strlen(buf) - 1);
}

/* Starts the program with the fds-mode sockets and service connections. */
static pid_t
spawn_main(void)
{
	int fds[2 * INIT_SOCKETS_MAX];
	char names[8192] = "", svcfds[8192] = "", num[32];
	size_t n = 0;
	pid_t pid;

	for (size_t i = 0; i < init.nlisten; i++) {
		if (init.listen[i].inetd)
			continue;
		if (names[0] != '\0')
			strcat(names, ":");
		strncat(names, init.listen[i].name,
		    sizeof(names) - strlen(names) - 1);
		fds[n++] = init.listen[i].fd;
	}
	size_t nlisten = n;
	for (size_t i = 0; i < init.nservices; i++) {
		service_fds_add(svcfds, sizeof(svcfds), i, 3 + n);
		fds[n++] = init.services[i].fd;
	}

	pid = fork();
	if (pid != 0)
		return pid;

	reset_signals();
	if (place_fds(fds, n) == -1) {
		fprintf(stderr, "nem-init: passing descriptors failed: %s\n",
		    strerror(errno));
		_exit(127);
	}
	unsetenv("NEM_FD");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	unsetenv("NEM_SERVICE_FDS");
	if (nlisten > 0) {
		snprintf(num, sizeof(num), "%zu", nlisten);
		setenv("LISTEN_FDS", num, 1);
		snprintf(num, sizeof(num), "%d", (int)getpid());
		setenv("LISTEN_PID", num, 1);
		setenv("LISTEN_FDNAMES", names, 1);
	}
	if (init.nservices > 0)
		setenv("NEM_SERVICE_FDS", svcfds, 1);
	exec_program();
}

/*
 * Starts one inetd instance of a with its connection on stdin and stdout
 * and its service connections on 3, 4, ... (NEM_SERVICE_FDS).
 */
static pid_t
spawn_instance(const struct init_accepted *a)
{
	int fds[INIT_SOCKETS_MAX];
	char svcfds[8192] = "";
	pid_t pid;

	for (size_t i = 0; i < init.nservices; i++) {
		service_fds_add(svcfds, sizeof(svcfds), i, 3 + i);
		fds[i] = a->svc[i].fd;
	}

	pid = fork();
	if (pid != 0)
		return pid;
	reset_signals();
	if (dup2(a->fd, 0) == -1 || dup2(a->fd, 1) == -1 ||
	    place_fds(fds, init.nservices) == -1)
		_exit(127);
	unsetenv("NEM_FD");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	unsetenv("NEM_SERVICE_FDS");
	if (init.nservices > 0)
		setenv("NEM_SERVICE_FDS", svcfds, 1);
	exec_program();
}

/* Event handlers. */

/* Gives back the instance slot of l that an accepted connection held. */
static void
listen_release(struct init_listen *l)
{
	if (l->active-- >= l->max && !init.stopping)
		event_add(l->ev, NULL);
}

/* Closes the descriptors of a and frees it. */
static void
accepted_free(struct init_accepted *a)
{
	for (size_t i = 0; i < init.nservices; i++) {
		if (a->svc[i].fd != -1)
			close(a->svc[i].fd);
	}
	close(a->fd);
	free(a);
}

/* Starts the instance for a once it has all its service connections. */
static void
accepted_start(struct init_accepted *a)
{
	struct init_listen *l = a->listen;
	struct init_instance *v;
	pid_t pid;

	if (a->failed || init.stopping) {
		if (a->failed)
			log_warn("listen %s: connection dropped because a "
			    "service connection failed", l->name);
		accepted_free(a);
		listen_release(l);
		return;
	}
	v = reallocarray(init.instances, init.ninstances + 1, sizeof(*v));
	if (v == NULL) {
		log_errx("listen %s: out of memory; connection dropped",
		    l->name);
		accepted_free(a);
		listen_release(l);
		return;
	}
	init.instances = v;
	pid = spawn_instance(a);

	/* The instance has its copies now. */
	accepted_free(a);
	if (pid == -1) {
		log_err("listen %s: fork failed; connection dropped", l->name);
		listen_release(l);
		return;
	}
	v[init.ninstances++] = (struct init_instance){ pid, l };
	log_debug("listen %s: instance %d started, %u running", l->name,
	    (int)pid, l->active);
}

/* Stores the descriptor of a host.connect reply for an accepted
 * connection. */
static void
on_accepted_reply(struct nem_conn *c, struct nem_msg *msg, void *arg)
{
	struct init_accepted_svc *svc = arg;
	struct init_accepted *a = svc->owner;
	const char *name = init.services[svc - a->svc].name;

	if (msg->flags & NEM_F_CONTINUE)
		return;
	if (msg->hdr.code != NEM_OK) {
		log_errx("listen %s: host.connect to service %s failed: "
		    "%s: %s", a->listen->name, name,
		    nem_code_name(msg->hdr.code),
		    msg->hdr.reason != NULL ? msg->hdr.reason : "");
		a->failed = true;
	} else {
		svc->fd = nem_msg_take_fd(msg);
		if (svc->fd == -1) {
			log_errx("listen %s: host.connect reply for service "
			    "%s carries no descriptor", a->listen->name, name);
			a->failed = true;
		}
	}
	if (--a->pending == 0)
		accepted_start(a);
}

/*
 * Asks nem-rootd for one connection per service for the accepted
 * connection a; the instance starts when the last reply came.
 */
static void
accepted_connect(struct init_accepted *a)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_HOST,
	    NEM_HOST_CONNECT);
	struct nem_err err;

	/* One extra count, so no reply can start the instance before every
	 * request was sent. */
	a->pending = 1;
	for (size_t i = 0; i < init.nservices && !a->failed; i++) {
		bson_t doc = BSON_INITIALIZER;

		BSON_APPEND_UTF8(&doc, "service", init.services[i].name);
		rq.body = bson_get_data(&doc);
		rq.body_len = doc.len;
		if (nem_conn_request(init.conn, &rq, on_accepted_reply,
		    &a->svc[i], NULL, &err) == -1) {
			log_errx("listen %s: host.connect to service %s: %s",
			    a->listen->name, init.services[i].name, err.msg);
			a->failed = true;
		} else {
			a->pending++;
		}
		bson_destroy(&doc);
	}
	if (--a->pending == 0)
		accepted_start(a);
}

static void
on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct init_listen *l = arg;
	struct init_accepted *a;
	int conn;

	conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_err("listen %s: accept failed", l->name);
		return;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		log_errx("listen %s: out of memory; connection dropped",
		    l->name);
		close(conn);
		return;
	}
	a->listen = l;
	a->fd = conn;
	for (size_t i = 0; i < init.nservices; i++)
		a->svc[i] = (struct init_accepted_svc){ a, -1 };

	/* A connection waiting for its services counts as an instance, so
	 * the maximum also bounds the requests in flight. */
	l->active++;
	if (l->active >= l->max) {
		log_info("listen %s: %u instances run, the maximum; new "
		    "connections wait", l->name, l->active);
		event_del(l->ev);
	}
	accepted_connect(a);
}

/* Removes the inetd instance pid, if it is one; returns true if it was. */
static bool
instance_exited(pid_t pid)
{
	for (size_t i = 0; i < init.ninstances; i++) {
		struct init_listen *l = init.instances[i].listen;

		if (init.instances[i].pid != pid)
			continue;
		init.instances[i] = init.instances[--init.ninstances];
		listen_release(l);
		return true;
	}
	return false;
}

/* Reaps every child that ended, as PID 1 must. */
static void
on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == init.main_pid) {
			const struct timeval flush = { 0, 50000 };

			log_info("program %s (pid %d) ended with status %d",
			    init.argv[0], (int)pid, exit_code(st));
			init.main_pid = 0;
			init.exit_code = exit_code(st);
			signal_instances(SIGTERM);

			/* Replies still queued (to daemon.stop, say) get 50 ms
			 * to leave; then main returns and the namespace ends
			 * with PID 1. */
			event_base_loopexit(init.base, &flush);
			continue;
		}
		if (instance_exited(pid))
			continue;
		log_debug("reaped pid %d", (int)pid);
	}
	if (init.stopping && !init.has_main && init.ninstances == 0)
		exit(0);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	if (init.exit_code >= 0)
		return;
	if (init.main_pid > 0) {
		kill(init.main_pid, (int)sig);
		return;
	}
	if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)
		begin_stop("signal received");
	else
		signal_instances((int)sig);
}

static void
on_daemon_info(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct nem_send s = NEM_SEND_INIT;
	bson_t doc = BSON_INITIALIZER;

	BSON_APPEND_UTF8(&doc, "name", "nem-init");
	BSON_APPEND_UTF8(&doc, "version", NEM_INIT_VERSION);
	BSON_APPEND_UTF8(&doc, "program", init.argv[0]);
	BSON_APPEND_INT64(&doc, "program_pid", (int64_t)init.main_pid);
	BSON_APPEND_INT64(&doc, "instances", (int64_t)init.ninstances);
	s.body = bson_get_data(&doc);
	s.body_len = doc.len;
	nem_txn_reply(t, &s, NULL);
	bson_destroy(&doc);
}

static void
on_daemon_stop(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct nem_send s = NEM_SEND_INIT;

	nem_txn_reply(t, &s, NULL);
	begin_stop("daemon.stop received");
}

static void
on_conn_close(struct nem_conn *c, const struct nem_err *err, void *arg)
{
	log_warn("channel to nem-rootd closed: %s", err->msg);
	begin_stop("channel closed");
}

static void
on_ready_reply(struct nem_conn *c, struct nem_msg *msg, void *arg)
{
	if (msg->hdr.code != NEM_OK)
		log_warn("host.ready failed: %s: %s",
		    nem_code_name(msg->hdr.code),
		    msg->hdr.reason != NULL ? msg->hdr.reason : "");
}

/* Startup. */

/* Starts the program and the inetd listeners, then sends host.ready. */
static void
start(void)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_HOST,
	    INIT_HOST_READY);
	struct nem_err err;

	if (init.setup_failed)
		exit(1);
	if (init.stopping)
		exit(0);
	for (size_t i = 0; i < init.nlisten; i++) {
		struct init_listen *l = &init.listen[i];

		if (!l->inetd)
			continue;
		if (evutil_make_socket_nonblocking(l->fd) == -1)
			fatal("listen %s: non-blocking", l->name);
		l->ev = event_new(init.base, l->fd, EV_READ | EV_PERSIST,
		    on_accept, l);
		if (l->ev == NULL || event_add(l->ev, NULL) == -1)
			fatalx("listen %s: cannot watch the socket", l->name);
	}
	if (init.has_main) {
		init.main_pid = spawn_main();
		if (init.main_pid == -1)
			fatal("fork for %s failed", init.argv[0]);
		log_info("started %s as pid %d", init.argv[0],
		    (int)init.main_pid);
	}
	/* The program has its copies now. */
	for (size_t i = 0; i < init.nservices; i++) {
		if (init.services[i].fd != -1)
			close(init.services[i].fd);
		init.services[i].fd = -1;
	}
	for (size_t i = 0; i < init.nlisten; i++) {
		if (!init.listen[i].inetd) {
			close(init.listen[i].fd);
			init.listen[i].fd = -1;
		}
	}
	if (nem_conn_request(init.conn, &rq, on_ready_reply, NULL, NULL,
	    &err) == -1)
		log_warn("host.ready: %s", err.msg);
}

/* Stores the descriptor of a host.bind or host.connect reply in *arg. */
static void
on_socket_reply(struct nem_conn *c, struct nem_msg *msg, void *arg)
{
	int *slot = arg;

	if (msg->flags & NEM_F_CONTINUE)
		return;
	if (msg->hdr.code != NEM_OK) {
		log_errx("%s failed: %s: %s",
		    msg->command == NEM_HOST_BIND ? "host.bind" :
		    "host.connect", nem_code_name(msg->hdr.code),
		    msg->hdr.reason != NULL ? msg->hdr.reason : "");
		init.setup_failed = true;
	} else {
		*slot = nem_msg_take_fd(msg);
		if (*slot == -1) {
			log_errx("%s reply carries no descriptor",
			    msg->command == NEM_HOST_BIND ? "host.bind" :
			    "host.connect");
			init.setup_failed = true;
		}
	}
	if (--init.pending == 0)
		start();
}

/* Sends a host service request with body {key: value}. */
static void
request_socket(uint16_t command, const char *key, const char *value,
    int *slot)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_HOST, command);
	bson_t doc = BSON_INITIALIZER;
	struct nem_err err;

	BSON_APPEND_UTF8(&doc, key, value);
	rq.body = bson_get_data(&doc);
	rq.body_len = doc.len;
	if (nem_conn_request(init.conn, &rq, on_socket_reply, slot, NULL,
	    &err) == -1)
		fatalx("%s %s: %s", key, value, err.msg);
	init.pending++;
	bson_destroy(&doc);
}

static void
parse_inetd(char *arg, struct init_listen *l)
{
	char *colon = strchr(arg, ':');
	char *end;
	unsigned long max;

	l->inetd = true;
	l->max = INIT_INETD_DEFAULT;
	if (colon == NULL)
		return;
	*colon = '\0';
	errno = 0;
	max = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || max < 1 ||
	    max > INIT_INETD_MAX) {
		fprintf(stderr, "nem-init: invalid maximum '%s' for -i %s: "
		    "expected 1 to %d\n", colon + 1, arg, INIT_INETD_MAX);
		exit(2);
	}
	l->max = (unsigned)max;
}

static int
channel_fd(void)
{
	const char *s = getenv("NEM_FD");
	char *end;
	long fd;

	if (s == NULL)
		fatalx("NEM_FD is not set; nem-init runs as a jail's root "
		    "process under nem-rootd");
	errno = 0;
	fd = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || fd < 3 || fd > INT_MAX)
		fatalx("NEM_FD '%s' is not a descriptor number of 3 or more",
		    s);
	if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) == -1)
		fatal("NEM_FD %ld", fd);
	return (int)fd;
}

int
main(int argc, char **argv)
{
	static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT,
		SIGUSR1, SIGUSR2 };
	enum log_level level = LOG_LEVEL_INFO;
	struct nem_err err;
	struct event *ev;
	int ch, fd;

	init.exit_code = -1;
	log_init(LOG_DEST_STDERR, level);
	log_role("nem-init");
	while ((ch = getopt(argc, argv, "+vl:i:c:")) != -1) {
		switch (ch) {
		case 'v':
			level = LOG_LEVEL_DEBUG;
			break;
		case 'l':
		case 'i':
			if (init.nlisten == INIT_SOCKETS_MAX)
				usage();
			init.listen[init.nlisten].fd = -1;
			init.listen[init.nlisten].name = optarg;
			if (ch == 'i')
				parse_inetd(optarg,
				    &init.listen[init.nlisten]);
			init.nlisten++;
			break;
		case 'c':
			if (init.nservices == INIT_SOCKETS_MAX)
				usage();
			init.services[init.nservices].fd = -1;
			init.services[init.nservices++].name = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	init.argv = argv + optind;
	log_init(LOG_DEST_STDERR, level);

	/* The program runs long unless every -l/-i entry is an inetd one;
	 * then it runs only per accepted connection. */
	init.has_main = true;
	if (init.nlisten > 0) {
		init.has_main = false;
		for (size_t i = 0; i < init.nlisten; i++) {
			if (!init.listen[i].inetd)
				init.has_main = true;
		}
	}

	/* Orphans of the program become ours also outside a PID
	 * namespace. */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_err("PR_SET_CHILD_SUBREAPER");
	signal(SIGPIPE, SIG_IGN);
	fd = channel_fd();

	init.base = event_base_new();
	if (init.base == NULL)
		fatalx("cannot create the event loop");
	init.mux = nem_mux_new(&err);
	if (init.mux == NULL ||
	    nem_mux_add(init.mux, NEM_SVC_DAEMON, NEM_DAEMON_INFO,
	    on_daemon_info, NULL, &err) == -1 ||
	    nem_mux_add(init.mux, NEM_SVC_DAEMON, NEM_DAEMON_STOP,
	    on_daemon_stop, NULL, &err) == -1)
		fatalx("%s", err.msg);
	init.conn = nem_conn_new(init.base, fd, NULL, init.mux, &err);
	if (init.conn == NULL)
		fatalx("NEM_FD %d: %s", fd, err.msg);
	nem_conn_set_peer(init.conn, "nem-rootd");
	nem_conn_set_close_cb(init.conn, on_conn_close, NULL);

	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]);
	    i++) {
		ev = evsignal_new(init.base, forwarded[i], on_signal, NULL);
		if (ev == NULL || event_add(ev, NULL) == -1)
			fatalx("cannot watch signal %d", forwarded[i]);
	}
	ev = evsignal_new(init.base, SIGCHLD, on_sigchld, NULL);
	if (ev == NULL || event_add(ev, NULL) == -1)
		fatalx("cannot watch SIGCHLD");

	for (size_t i = 0; i < init.nlisten; i++)
		request_socket(NEM_HOST_BIND, "name", init.listen[i].name,
		    &init.listen[i].fd);
	/* Inetd instances get their own service connections per accepted
	 * connection, so only a long-running program needs them now. */
	for (size_t i = 0; init.has_main && i < init.nservices; i++)
		request_socket(NEM_HOST_CONNECT, "service",
		    init.services[i].name, &init.services[i].fd);
	if (init.pending == 0)
		start();

	event_base_dispatch(init.base);
	return init.exit_code >= 0 ? init.exit_code : 0;
}
