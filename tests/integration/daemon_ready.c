/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A root process for the daemon integration tests, linked statically with
 * libnem so it runs inside a jail whose tree contains no shared libraries.
 * Without arguments it sends host.ready over NEM_FD, prints "ready", and
 * serves until daemon.stop arrives (exit 0) or the channel closes (exit 1).
 * With "badframe" it first writes a fixed header announcing a body of
 * 0xfffffff0 bytes, then a valid daemon.info request, and waits for a
 * signal.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <nem/client.h>
#include <nem/frame.h>
#include <nem/proto.h>

/* host.ready: the host service's command 3, with an empty body. */
#define HOST_READY 3

static int stop_requested;

static void
on_stop(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct nem_send s = NEM_SEND_INIT;

	nem_txn_reply(t, &s, NULL);
	stop_requested = 1;
}

static int
bad_frame(void)
{
	const struct nem_fixed info = {
		.magic = NEM_MAGIC,
		.version = NEM_VERSION,
		.seq = 1,
		.service = NEM_SVC_DAEMON,
		.command = NEM_DAEMON_INFO,
	};
	struct nem_fixed bad = info;
	uint8_t frame[2 * NEM_FIXED_LEN];

	bad.body_len = 0xfffffff0u;
	nem_fixed_encode(&bad, frame);
	nem_fixed_encode(&info, frame + NEM_FIXED_LEN);
	if (write(3, frame, sizeof(frame)) != (ssize_t)sizeof(frame)) {
		perror("daemon_ready: write to fd 3");
		return 2;
	}
	printf("sent bad frame\n");
	fflush(stdout);
	for (;;)
		pause();
}

int
main(int argc, char **argv)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_HOST, HOST_READY);
	struct nem_reply reply;
	struct nem_client *cl;
	struct nem_err err;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 2 && strcmp(argv[1], "badframe") == 0)
		return bad_frame();

	cl = nem_client_from_env(NULL, &err);
	if (cl == NULL) {
		fprintf(stderr, "daemon_ready: %s\n", err.msg);
		return 2;
	}
	if (nem_client_handle(cl, NEM_SVC_DAEMON, NEM_DAEMON_STOP, on_stop,
	    NULL, &err) == -1) {
		fprintf(stderr, "daemon_ready: %s\n", err.msg);
		return 2;
	}
	nem_reply_init(&reply);
	if (nem_client_call(cl, &rq, &reply, &err) == -1) {
		fprintf(stderr, "daemon_ready: host.ready: %s\n", err.msg);
		return 2;
	}
	nem_reply_clear(&reply);
	printf("ready\n");
	fflush(stdout);
	while (!stop_requested) {
		if (nem_client_serve(cl, 200, &err) == -1) {
			fprintf(stderr, "daemon_ready: %s\n", err.msg);
			nem_client_free(cl);
			return 1;
		}
	}
	/* Give the stop reply time to leave before the socket closes. */
	(void)nem_client_serve(cl, 50, &err);
	nem_client_free(cl);
	printf("stopped\n");
	return 0;
}
