/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Measures a running nem-rootd through its control socket. "cycle" starts
 * N jails whose root process exits at once and times each round until
 * every one of them is stopped and freed again, as seen on the event
 * stream. "density" starts N idle jails, reads the daemon's resident
 * memory from /proc and times jail.status requests, then stops the jails.
 * The jail descriptions PREFIX-0 ... PREFIX-(N-1) must exist already;
 * bench/run writes them. A program to run by hand as root, not a test.
 *
 * Usage: bench_daemon SOCKET cycle PREFIX N ROUNDS
 *        bench_daemon SOCKET density PREFIX N SAMPLES
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bson/bson.h>

#include <nem/client.h>
#include <nem/conn.h>
#include <nem/frame.h>
#include <nem/log.h>
#include <nem/proto.h>

/* Service and command ids of the control plane (doc/control.md). */
#define SVC_DAEMON 1
#define DAEMON_INFO 1
#define SVC_JAIL 5
#define JAIL_STATUS 2
#define JAIL_START 3
#define JAIL_STOP 4
#define SVC_EVENT 8
#define EVENT_SUBSCRIBE 1

/* Requests in flight at a time; the daemon accepts 128 per connection. */
#define BATCH 100

/* Largest N: a jail name "PREFIX-NNNN" fits in NAME_MAX_LEN. */
#define JAILS_MAX 5000
#define NAME_MAX_LEN 64

/* Run state: the connection and the time each jail reached b->want. */
struct bench {
	struct nem_client *cl;
	const char *prefix;
	int n;
	double *done_ms;	/* time a terminal state was seen, 0 before */
	int done;		/* jails with done_ms set */
	int failed;		/* jails that reported "failed" */
	const char *want;	/* the state that counts as done */
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Returns the q-quantile (0..1) of the sorted array v of n values. */
static double
quantile(const double *v, int n, double q)
{
	int i = (int)(q * (n - 1) + 0.5);

	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}

/* Returns the index of a jail named PREFIX-i, or -1 for other names. */
static int
jail_index(const struct bench *b, const char *name)
{
	size_t plen = strlen(b->prefix);
	char *end;
	long i;

	if (strncmp(name, b->prefix, plen) != 0 || name[plen] != '-')
		return -1;
	errno = 0;
	i = strtol(name + plen + 1, &end, 10);
	if (errno != 0 || *end != '\0' || i < 0 || i >= b->n)
		return -1;
	return (int)i;
}

/* Records the arrival time of b->want (or "failed") for a jail. */
static int
on_event(struct nem_msg *msg, void *arg)
{
	struct bench *b = arg;
	const char *name = NULL, *state = NULL;
	bson_iter_t it;
	bson_t doc;
	int i;

	if (nem_msg_body_bson(msg, &doc, NULL) == -1)
		return 0;
	if (bson_iter_init_find(&it, &doc, "name") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		name = bson_iter_utf8(&it, NULL);
	if (bson_iter_init_find(&it, &doc, "state") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		state = bson_iter_utf8(&it, NULL);
	if (name == NULL || state == NULL || (i = jail_index(b, name)) == -1)
		return 0;
	if (b->done_ms[i] != 0)
		return 0;
	if (strcmp(state, "failed") == 0)
		b->failed++;
	else if (strcmp(state, b->want) != 0)
		return 0;
	b->done_ms[i] = now_ms();
	b->done++;
	return 0;
}

/* Sends command with body {name: PREFIX-i} for every jail, BATCH at a time,
 * and waits for every reply. */
static void
send_all(struct bench *b, uint16_t command, const char *what)
{
	uint64_t seq[BATCH];
	struct nem_err err;

	for (int first = 0; first < b->n; first += BATCH) {
		int count = b->n - first < BATCH ? b->n - first : BATCH;

		for (int k = 0; k < count; k++) {
			struct nem_request rq = NEM_REQUEST_INIT(SVC_JAIL,
			    command);
			bson_t body = BSON_INITIALIZER;
			char name[NAME_MAX_LEN];

			snprintf(name, sizeof(name), "%s-%d", b->prefix,
			    first + k);
			BSON_APPEND_UTF8(&body, "name", name);
			rq.body = bson_get_data(&body);
			rq.body_len = body.len;
			rq.timeout_ms = 120000;
			if (nem_client_start(b->cl, &rq, NULL, NULL, &seq[k],
			    &err) == -1)
				fatalx("jail %s %s: %s", what, name, err.msg);
			bson_destroy(&body);
		}
		for (int k = 0; k < count; k++) {
			struct nem_reply reply;

			nem_reply_init(&reply);
			if (nem_client_wait(b->cl, seq[k], &reply, &err) == -1)
				fatalx("jail %s %s-%d: %s", what, b->prefix,
				    first + k, err.msg);
			nem_reply_clear(&reply);
		}
	}
}

/* Runs the event loop until every jail reached b->want; 60 s at most. */
static void
wait_all(struct bench *b, const char *what)
{
	double limit = now_ms() + 60000;
	struct nem_err err;

	while (b->done < b->n) {
		if (now_ms() > limit)
			fatalx("%s: only %d of %d jails reached %s in 60 s",
			    what, b->done, b->n, b->want);
		if (nem_client_serve(b->cl, 1, &err) == -1)
			fatalx("%s: %s", what, err.msg);
	}
	if (b->failed > 0)
		fatalx("%s: %d jails failed; see their logs", what, b->failed);
}

static void
reset(struct bench *b, const char *want)
{
	memset(b->done_ms, 0, (size_t)b->n * sizeof(double));
	b->done = 0;
	b->failed = 0;
	b->want = want;
}

/* Prints median, p10 and p90 of v (sorted here) in ms. */
static void
report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), compare_double);
	printf("%-28s median %9.2f ms   p10 %9.2f   p90 %9.2f   (%d runs)\n",
	    what, quantile(v, n, 0.5), quantile(v, n, 0.1),
	    quantile(v, n, 0.9), n);
}

/* Starts every jail, rounds times, and times each round until all of them
 * are stopped again. */
static void
bench_cycle(struct bench *b, int rounds)
{
	double *round_ms = calloc((size_t)rounds, sizeof(double));
	char what[96];

	if (round_ms == NULL)
		fatal("calloc");
	for (int r = 0; r < rounds; r++) {
		double start = now_ms();

		reset(b, "stopped");
		send_all(b, JAIL_START, "start");
		wait_all(b, "cycle");
		round_ms[r] = now_ms() - start;
		for (int i = 0; i < b->n; i++) {
			if (b->done_ms[i] - start > round_ms[r])
				round_ms[r] = b->done_ms[i] - start;
		}
	}
	snprintf(what, sizeof(what), "cycle x%d", b->n);
	report(what, round_ms, rounds);
	free(round_ms);
}

/* Returns the value in kB of field ("VmRSS:") of /proc/PID/status. */
static long
proc_status_kb(int64_t pid, const char *field)
{
	char path[64], line[256];
	long kb = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%" PRId64 "/status", pid);
	if ((fp = fopen(path, "re")) == NULL)
		fatal("%s", path);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, field, strlen(field)) == 0)
			kb = strtol(line + strlen(field), NULL, 10);
	}
	fclose(fp);
	return kb;
}

/* Returns int64 field of the body of reply, or -1. */
static int64_t
reply_int(const struct nem_reply *reply, const char *field)
{
	bson_iter_t it;
	bson_t doc;

	if (reply->body == NULL ||
	    !bson_init_static(&doc, reply->body, reply->body_len) ||
	    !bson_iter_init_find(&it, &doc, field) ||
	    !BSON_ITER_HOLDS_NUMBER(&it))
		return -1;
	return bson_iter_as_int64(&it);
}

/* Sends one request with body {name} and returns its round trip in ms. */
static double
timed_call(struct nem_client *cl, uint16_t service, uint16_t command,
    const char *name, struct nem_reply *reply)
{
	struct nem_request rq = NEM_REQUEST_INIT(service, command);
	bson_t body = BSON_INITIALIZER;
	struct nem_err err;
	double start;

	if (name != NULL)
		BSON_APPEND_UTF8(&body, "name", name);
	rq.body = name != NULL ? bson_get_data(&body) : NULL;
	rq.body_len = name != NULL ? body.len : 0;
	nem_reply_init(reply);
	start = now_ms();
	if (nem_client_call(cl, &rq, reply, &err) == -1)
		fatalx("request %u.%u %s: %s", service, command,
		    name != NULL ? name : "", err.msg);
	bson_destroy(&body);
	return now_ms() - start;
}

/* Starts every jail, samples jail.status and the daemon's memory, stops
 * every jail. */
static void
bench_density(struct bench *b, int samples)
{
	double *lat = calloc((size_t)samples, sizeof(double));
	struct nem_reply reply;
	double start;
	int64_t pid;
	long rss_before, rss, hwm;

	if (lat == NULL)
		fatal("calloc");
	timed_call(b->cl, SVC_DAEMON, DAEMON_INFO, NULL, &reply);
	pid = reply_int(&reply, "pid");
	nem_reply_clear(&reply);
	if (pid <= 0)
		fatalx("daemon.info returned no pid");
	rss_before = proc_status_kb(pid, "VmRSS:");

	start = now_ms();
	reset(b, "starting");
	send_all(b, JAIL_START, "start");
	wait_all(b, "density start");
	/* "starting" is sent before the spawn; wait until every root process
	 * runs, as jail.status reports its pid. */
	for (int i = 0; i < b->n; i++) {
		char name[NAME_MAX_LEN];

		snprintf(name, sizeof(name), "%s-%d", b->prefix, i);
		for (;;) {
			bson_iter_t it, sub;
			bson_t doc;
			int64_t jpid = 0;

			timed_call(b->cl, SVC_JAIL, JAIL_STATUS, name, &reply);
			if (reply.body != NULL && bson_init_static(&doc,
			    reply.body, reply.body_len) &&
			    bson_iter_init_find(&it, &doc, "jail") &&
			    bson_iter_recurse(&it, &sub) &&
			    bson_iter_find(&sub, "pid"))
				jpid = bson_iter_as_int64(&sub);
			nem_reply_clear(&reply);
			if (jpid > 0)
				break;
			if (now_ms() - start > 120000)
				fatalx("jail %s has no root process after "
				    "120 s", name);
			usleep(1000);
		}
	}
	printf("%-28s %9.0f ms until every root process ran\n", "start all",
	    now_ms() - start);
	sleep(1);
	rss = proc_status_kb(pid, "VmRSS:");
	hwm = proc_status_kb(pid, "VmHWM:");

	for (int i = 0; i < samples; i++) {
		char name[NAME_MAX_LEN];

		snprintf(name, sizeof(name), "%s-%d", b->prefix, i % b->n);
		lat[i] = timed_call(b->cl, SVC_JAIL, JAIL_STATUS, name, &reply);
		nem_reply_clear(&reply);
	}
	qsort(lat, (size_t)samples, sizeof(*lat), compare_double);
	printf("idle jails %-4d rootd RSS %6.1f MiB (%.1f MiB before, peak "
	    "%.1f MiB)   jail status p50 %.3f ms  p99 %.3f ms  max %.3f ms  "
	    "(%d requests)\n", b->n, rss / 1024.0, rss_before / 1024.0,
	    hwm / 1024.0, quantile(lat, samples, 0.5),
	    quantile(lat, samples, 0.99), lat[samples - 1], samples);

	start = now_ms();
	send_all(b, JAIL_STOP, "stop");
	printf("%-28s %9.0f ms\n", "stop all", now_ms() - start);
	free(lat);
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_daemon SOCKET cycle PREFIX N ROUNDS\n"
	    "       bench_daemon SOCKET density PREFIX N SAMPLES\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct nem_request rq = NEM_REQUEST_INIT(SVC_EVENT, EVENT_SUBSCRIBE);
	struct bench b;
	struct nem_err err;
	uint64_t sub_seq;
	int count;

	if (argc != 6)
		usage();
	log_init(LOG_DEST_STDERR, LOG_LEVEL_WARN);
	log_role("bench_daemon");
	memset(&b, 0, sizeof(b));
	b.prefix = argv[3];
	b.n = atoi(argv[4]);
	count = atoi(argv[5]);
	if (b.n < 1 || b.n > JAILS_MAX || count < 1 ||
	    strlen(b.prefix) > NAME_MAX_LEN - 8)
		usage();
	if ((b.done_ms = calloc((size_t)b.n, sizeof(double))) == NULL)
		fatal("calloc");
	if ((b.cl = nem_client_connect(argv[1], NULL, &err)) == NULL)
		fatalx("%s: %s", argv[1], err.msg);

	rq.timeout_ms = NEM_TIMEOUT_NONE;
	if (nem_client_start(b.cl, &rq, on_event, &b, &sub_seq, &err) == -1)
		fatalx("event subscribe: %s", err.msg);

	if (strcmp(argv[2], "cycle") == 0)
		bench_cycle(&b, count);
	else if (strcmp(argv[2], "density") == 0)
		bench_density(&b, count);
	else
		usage();
	nem_client_free(b.cl);
	free(b.done_ms);
	return 0;
}
