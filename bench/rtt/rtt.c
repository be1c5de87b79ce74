/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Measures request/reply round trips per second over a unix socketpair.
 * The first run is a raw write/read ping-pong of one frame's bytes. The
 * second goes through libnem, a blocking client against a connection on an
 * event loop in a second thread, with the same body size. The program
 * prints both rates and their ratio.
 * Usage: nem-bench-rtt [body_bytes (default 64)] [seconds (default 2)].
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/client.h>
#include <nem/log.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads or writes exactly len bytes. Returns -1 on error or end of stream. */
static int
io_full(int fd, void *p, size_t len, bool writing)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = writing ? write(fd, (char *)p + done, len - done) :
		    read(fd, (char *)p + done, len - done);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

struct raw_peer {
	int fd;
	size_t len;
};

static void *
raw_echo(void *arg)
{
	struct raw_peer *p = arg;
	char *buf = malloc(p->len);

	while (io_full(p->fd, buf, p->len, false) == 0)
		if (io_full(p->fd, buf, p->len, true) == -1)
			break;
	free(buf);
	return NULL;
}

/* Runs a raw ping-pong of len bytes and returns round trips per second. */
static double
bench_raw(size_t len, double seconds)
{
	struct raw_peer peer;
	pthread_t th;
	char *buf = calloc(1, len);
	unsigned long count = 0;
	double start, end;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		perror("socketpair");
		exit(1);
	}
	peer.fd = sv[1];
	peer.len = len;
	pthread_create(&th, NULL, raw_echo, &peer);
	start = now_s();
	do {
		for (int i = 0; i < 1000; i++) {
			if (io_full(sv[0], buf, len, true) == -1 ||
			    io_full(sv[0], buf, len, false) == -1) {
				perror("nem-bench-rtt: raw ping-pong failed");
				exit(1);
			}
		}
		count += 1000;
		end = now_s();
	} while (end - start < seconds);
	shutdown(sv[0], SHUT_WR);
	pthread_join(th, NULL);
	close(sv[0]);
	close(sv[1]);
	free(buf);
	return count / (end - start);
}

struct nem_peer {
	struct event_base *base;
	struct nem_mux *mux;
	struct nem_conn *conn;
};

static void
echo_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct nem_send s = NEM_SEND_INIT;

	s.body = msg->body;
	s.body_len = msg->body_len;
	nem_txn_reply(t, &s, NULL);
}

static void
peer_closed(struct nem_conn *c, const struct nem_err *why, void *arg)
{
	event_base_loopbreak(arg);
}

static void *
nem_echo(void *arg)
{
	struct nem_peer *p = arg;

	event_base_dispatch(p->base);
	return NULL;
}

/* Runs libnem round trips with a len-byte body, returns trips per second. */
static double
bench_nem(size_t len, double seconds)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_INFO);
	struct nem_peer peer;
	struct nem_client *cl;
	struct nem_reply r;
	struct nem_err err;
	unsigned long count = 0;
	char *body = calloc(1, len + 1);
	double start, end;
	pthread_t th;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		perror("socketpair");
		exit(1);
	}
	peer.base = event_base_new();
	peer.mux = nem_mux_new(NULL);
	nem_mux_add(peer.mux, NEM_SVC_DAEMON, NEM_DAEMON_INFO, echo_handler,
	    NULL, NULL);
	peer.conn = nem_conn_new(peer.base, sv[1], NULL, peer.mux, &err);
	cl = nem_client_wrap(sv[0], NULL, &err);
	if (peer.conn == NULL || cl == NULL) {
		fprintf(stderr, "nem-bench-rtt: %s\n", err.msg);
		exit(1);
	}
	nem_conn_set_close_cb(peer.conn, peer_closed, peer.base);
	pthread_create(&th, NULL, nem_echo, &peer);

	rq.body = body;
	rq.body_len = len;
	start = now_s();
	do {
		for (int i = 0; i < 1000; i++) {
			if (nem_client_call(cl, &rq, &r, &err) == -1) {
				fprintf(stderr, "nem-bench-rtt: %s\n", err.msg);
				exit(1);
			}
			nem_reply_clear(&r);
		}
		count += 1000;
		end = now_s();
	} while (end - start < seconds);

	nem_client_free(cl);
	pthread_join(th, NULL);
	nem_conn_free(peer.conn);
	nem_mux_free(peer.mux);
	event_base_free(peer.base);
	free(body);
	return count / (end - start);
}

/* Parses a positive decimal argument no larger than max. */
static long
parse_arg(const char *s, const char *what, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > max) {
		fprintf(stderr, "nem-bench-rtt: invalid %s \"%s\": expected "
		    "1 to %ld\n", what, s, max);
		exit(100);
	}
	return v;
}

int
main(int argc, char **argv)
{
	size_t body = 64;
	double seconds = 2, raw, nem;

	if (argc > 1)
		body = (size_t)parse_arg(argv[1], "body size", NEM_BODY_MAX);
	if (argc > 2)
		seconds = (double)parse_arg(argv[2], "seconds", 3600);
	log_init(LOG_DEST_STDERR, LOG_LEVEL_WARN);
	log_role("nem-bench-rtt");

	/* Each libnem request carries the 36-byte header {time: {timeout_ms:
	   int64}}, so the raw frames get the same size. */
	raw = bench_raw(NEM_FIXED_LEN + 36 + body, seconds);
	nem = bench_nem(body, seconds);
	printf("body %zu bytes, %.0f s each, unix socketpair\n", body, seconds);
	printf("raw write/read: %10.0f round trips/s\n", raw);
	printf("libnem:         %10.0f round trips/s\n", nem);
	printf("ratio:          %10.2f\n", nem / raw);
	return 0;
}
