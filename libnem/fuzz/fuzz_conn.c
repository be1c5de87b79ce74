/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for a connection's receive path: the input is written
 * into one end of a unix socketpair, the other end is a struct nem_conn
 * with a daemon.info handler, and the event loop runs until the connection
 * closes. Inputs are cut to 32 KiB so they fit the socket buffer.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/conn.h>
#include <nem/log.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
info_handler(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct nem_send s = NEM_SEND_INIT;

	s.body = msg->body;
	s.body_len = msg->body_len;
	nem_txn_reply(t, &s, NULL);
}

static void
on_close(struct nem_conn *c, const struct nem_err *why, void *arg)
{
	*(bool *)arg = true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event_base *base;
	static struct nem_mux *mux;
	struct nem_conn_limits lim;
	struct nem_conn *c;
	bool closed = false;
	char sink[4096];
	int sv[2];

	if (base == NULL) {
		log_init(LOG_DEST_STDERR, LOG_LEVEL_ERROR);
		base = event_base_new();
		mux = nem_mux_new(NULL);
		nem_mux_add(mux, NEM_SVC_DAEMON, NEM_DAEMON_INFO, info_handler,
		    NULL, NULL);
	}
	if (size > 32768)
		size = 32768;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return 0;
	nem_conn_limits_default(&lim);
	lim.stall_timeout_ms = 50;
	c = nem_conn_new(base, sv[0], &lim, mux, NULL);
	if (c == NULL) {
		close(sv[1]);
		return 0;
	}
	nem_conn_set_close_cb(c, on_close, &closed);
	if (size > 0 && write(sv[1], data, size) < 0) {
		/* A short write is fine: the connection gets end of stream. */
	}
	shutdown(sv[1], SHUT_WR);
	while (!closed) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		while (recv(sv[1], sink, sizeof(sink), MSG_DONTWAIT) > 0)
			continue;
	}
	nem_conn_free(c);
	close(sv[1]);
	return 0;
}
