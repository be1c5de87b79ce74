/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nem-echo: a small native NEM jail program, the example that
 * doc/services.md walks through and the brokering tests run. As a jail's
 * root process it reaches nem-rootd on the descriptor named by NEM_FD.
 * "serve" provides a service: it sends host.ready, then takes each
 * connection that nem-rootd passes with svc.accept, writes one line naming
 * the caller and its rights, and echoes what the caller sends. "connect"
 * uses a service: it sends host.ready, requests host.connect, sends a text
 * and prints the reply.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bson/bson.h>

#include <nem/client.h>
#include <nem/frame.h>
#include <nem/proto.h>

/* host.ready (host service, command 3) and svc.accept (service 9,
 * command 1), as doc/protocol.md defines them. */
#define ECHO_HOST_READY 3
#define ECHO_SVC_ACCEPT 1

/* Exit codes of "connect", one per refusal, so a test can tell them
 * apart. */
#define ECHO_EXIT_DENIED 3	/* permission denied */
#define ECHO_EXIT_NOT_FOUND 4	/* no jail provides the service */
#define ECHO_EXIT_UNAVAILABLE 5	/* the provider is not ready */

static volatile sig_atomic_t stop_requested;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: nem-echo serve\n"
	    "       nem-echo connect service text\n");
	exit(2);
}

static void
on_stop(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct nem_send s = NEM_SEND_INIT;

	nem_txn_reply(t, &s, NULL);
	stop_requested = 1;
}

/* Writes all of buf to fd. Returns 0, or -1 with errno. */
static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Serves one connection in a child process: greeting, then echo. */
static void __attribute__((noreturn))
echo_connection(int fd, const char *greeting)
{
	const char *nem_fd = getenv("NEM_FD");
	char buf[4096];
	ssize_t n;

	/* The channel stays with the parent; a copy here would keep it open
	 * after the parent ends. */
	if (nem_fd != NULL)
		close(atoi(nem_fd));
	if (write_all(fd, greeting, strlen(greeting)) == -1)
		_exit(1);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (write_all(fd, buf, (size_t)n) == -1)
			_exit(1);
	}
	_exit(0);
}

/*
 * svc.accept: the body names the service, the calling jail and the rights
 * that jail was granted, and the frame carries the connection. The
 * provider decides what the rights allow; this example only reports them.
 */
static void
on_accept(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct nem_send s = NEM_SEND_INIT;
	char greeting[1024], rights[512] = "";
	const char *service = "?", *peer = "?";
	bson_iter_t it, sub;
	struct nem_err err;
	bson_t doc;
	int fd;

	fd = nem_msg_take_fd(msg);
	if (fd == -1 || nem_msg_body_bson(msg, &doc, &err) == -1) {
		nem_txn_fail(t, NEM_E_INVALID, "svc.accept needs a BSON body "
		    "and a descriptor", NULL);
		if (fd != -1)
			close(fd);
		return;
	}
	if (bson_iter_init_find(&it, &doc, "service") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		service = bson_iter_utf8(&it, NULL);
	if (bson_iter_init_find(&it, &doc, "peer_jail") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		peer = bson_iter_utf8(&it, NULL);
	if (bson_iter_init_find(&it, &doc, "rights") &&
	    BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &sub)) {
		while (bson_iter_next(&sub)) {
			if (!BSON_ITER_HOLDS_UTF8(&sub))
				continue;
			if (rights[0] != '\0')
				strncat(rights, ",", sizeof(rights) -
				    strlen(rights) - 1);
			strncat(rights, bson_iter_utf8(&sub, NULL),
			    sizeof(rights) - strlen(rights) - 1);
		}
	}
	snprintf(greeting, sizeof(greeting), "service %s peer %s rights %s\n",
	    service, peer, rights[0] != '\0' ? rights : "-");
	printf("nem-echo: connection from jail %s to service %s\n", peer,
	    service);
	fflush(stdout);

	switch (fork()) {
	case -1:
		nem_txn_fail(t, NEM_E_INTERNAL, "fork failed", NULL);
		close(fd);
		return;
	case 0:
		echo_connection(fd, greeting);
	default:
		break;
	}
	close(fd);
	nem_txn_reply(t, &s, NULL);
}

static int
send_ready(struct nem_client *cl)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_HOST,
	    ECHO_HOST_READY);
	struct nem_reply reply;
	struct nem_err err;
	int rc;

	nem_reply_init(&reply);
	rc = nem_client_call(cl, &rq, &reply, &err);
	if (rc == -1)
		fprintf(stderr, "nem-echo: host.ready failed: %s\n", err.msg);
	nem_reply_clear(&reply);
	return rc;
}

static int
serve(struct nem_client *cl)
{
	struct nem_err err;

	/* Echo children are reaped by the kernel. */
	signal(SIGCHLD, SIG_IGN);
	if (nem_client_handle(cl, NEM_SVC_SVC, ECHO_SVC_ACCEPT, on_accept,
	    NULL, &err) == -1) {
		fprintf(stderr, "nem-echo: %s\n", err.msg);
		return 1;
	}
	if (send_ready(cl) == -1)
		return 1;
	printf("nem-echo: serving\n");
	fflush(stdout);
	while (!stop_requested) {
		if (nem_client_serve(cl, 200, &err) == -1) {
			fprintf(stderr, "nem-echo: %s\n", err.msg);
			return 1;
		}
	}
	/* Let the reply to daemon.stop leave before the channel closes. */
	(void)nem_client_serve(cl, 50, &err);
	return 0;
}

static int
connect_service(struct nem_client *cl, const char *service,
    const char *text)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_HOST,
	    NEM_HOST_CONNECT);
	struct nem_reply reply;
	struct nem_err err;
	bson_t doc = BSON_INITIALIZER;
	char buf[4096];
	size_t used = 0;
	ssize_t n;
	int fd;

	if (send_ready(cl) == -1)
		return 1;
	BSON_APPEND_UTF8(&doc, "service", service);
	rq.body = bson_get_data(&doc);
	rq.body_len = doc.len;
	nem_reply_init(&reply);
	if (nem_client_call(cl, &rq, &reply, &err) == -1) {
		int64_t code = reply.code;

		fprintf(stderr, "nem-echo: host.connect to %s failed: %s\n",
		    service, err.msg);
		nem_reply_clear(&reply);
		bson_destroy(&doc);
		if (code == NEM_E_PERMISSION)
			return ECHO_EXIT_DENIED;
		if (code == NEM_E_NOT_FOUND)
			return ECHO_EXIT_NOT_FOUND;
		if (code == NEM_E_UNAVAILABLE)
			return ECHO_EXIT_UNAVAILABLE;
		return 1;
	}
	bson_destroy(&doc);
	fd = reply.fd;
	reply.fd = -1;
	nem_reply_clear(&reply);
	if (fd == -1) {
		fprintf(stderr, "nem-echo: host.connect reply carries no "
		    "descriptor\n");
		return 1;
	}

	/* Send the text, end the sending direction, read until EOF. */
	if (write_all(fd, text, strlen(text)) == -1 ||
	    shutdown(fd, SHUT_WR) == -1) {
		perror("nem-echo: write");
		close(fd);
		return 1;
	}
	while (used < sizeof(buf) - 1 &&
	    (n = read(fd, buf + used, sizeof(buf) - 1 - used)) > 0)
		used += (size_t)n;
	buf[used] = '\0';
	close(fd);
	printf("nem-echo: reply: %s\n", buf);
	fflush(stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	struct nem_client *cl;
	struct nem_err err;
	int rc;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "serve") != 0 &&
	    !(strcmp(argv[1], "connect") == 0 && argc == 4))
		usage();

	cl = nem_client_from_env(NULL, &err);
	if (cl == NULL) {
		fprintf(stderr, "nem-echo: %s; run it as a jail's root "
		    "process\n", err.msg);
		return 1;
	}
	if (nem_client_handle(cl, NEM_SVC_DAEMON, NEM_DAEMON_STOP, on_stop,
	    NULL, &err) == -1) {
		fprintf(stderr, "nem-echo: %s\n", err.msg);
		nem_client_free(cl);
		return 1;
	}
	if (strcmp(argv[1], "serve") == 0)
		rc = serve(cl);
	else
		rc = connect_service(cl, argv[2], argv[3]);
	nem_client_free(cl);
	return rc;
}
