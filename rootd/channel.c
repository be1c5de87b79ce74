/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * NEM channels to supervised processes. Both socket ends are created
 * close-on-exec; only the spawn path clears the flag by duplicating the
 * child end onto fd 3. The daemon end runs a libnem connection with the
 * default bounds of nem/conn.h, so a process that sends an oversized or
 * malformed frame loses its channel and nothing else.
 */
#include "channel.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nem/log.h>
#include <nem/proto.h>

struct chan {
	enum chan_kind kind;
	char *name;
	struct nem_mux *mux;
	struct nem_conn *conn;
	chan_close_fn close_fn;
	void *close_arg;
	void *owner;
};

static const char *
kind_word(enum chan_kind kind)
{
	return kind == CHAN_JAIL ? "jail" : "host";
}

static void
on_conn_close(struct nem_conn *c, const struct nem_err *why, void *arg)
{
	struct chan *ch = arg;

	log_info("%s %s: channel closed: %s", kind_word(ch->kind), ch->name,
	    why != NULL && why->msg[0] != '\0' ? why->msg : "end of stream");
	if (ch->close_fn != NULL)
		ch->close_fn(ch, why, ch->close_arg);
}

struct chan *
chan_open(struct event_base *base, enum chan_kind kind, const char *name,
    const struct chan_handler *handlers, size_t nhandlers, int *child_fd,
    struct nem_err *err)
{
	struct chan *ch;
	int sv[2] = { -1, -1 };
	size_t i;

	*child_fd = -1;
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL || (ch->name = strdup(name)) == NULL) {
		free(ch);
		nem_err_sys(err, ENOMEM, "%s %s: channel", kind_word(kind),
		    name);
		return NULL;
	}
	ch->kind = kind;
	ch->mux = nem_mux_new(err);
	if (ch->mux == NULL)
		goto fail;
	for (i = 0; i < nhandlers; i++) {
		if (nem_mux_add(ch->mux, handlers[i].service,
		    handlers[i].command, handlers[i].fn, handlers[i].arg,
		    err) == -1)
			goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		nem_err_sys(err, errno, "create socket pair");
		goto fail;
	}

	/* nem_conn_new owns sv[0] from here on, also when it fails. */
	ch->conn = nem_conn_new(base, sv[0], NULL, ch->mux, err);
	if (ch->conn == NULL) {
		close(sv[1]);
		goto fail;
	}
	nem_conn_set_peer(ch->conn, "%s %s", kind_word(kind), name);
	nem_conn_set_close_cb(ch->conn, on_conn_close, ch);
	nem_conn_set_data(ch->conn, ch);
	*child_fd = sv[1];
	return ch;

fail:
	nem_err_prefix(err, "%s %s: open channel", kind_word(kind), name);
	chan_free(ch);
	return NULL;
}

void
chan_free(struct chan *ch)
{
	if (ch == NULL)
		return;
	nem_conn_free(ch->conn);
	nem_mux_free(ch->mux);
	free(ch->name);
	free(ch);
}

void
chan_set_close_cb(struct chan *ch, chan_close_fn fn, void *arg)
{
	ch->close_fn = fn;
	ch->close_arg = arg;
}

void
chan_set_owner(struct chan *ch, void *owner)
{
	ch->owner = owner;
}

void *
chan_owner(const struct chan *ch)
{
	return ch->owner;
}

enum chan_kind
chan_kind(const struct chan *ch)
{
	return ch->kind;
}

const char *
chan_name(const struct chan *ch)
{
	return ch->name;
}

struct nem_conn *
chan_conn(const struct chan *ch)
{
	return ch->conn;
}

struct chan *
chan_of_conn(const struct nem_conn *conn)
{
	struct chan *ch;

	if (conn == NULL)
		return NULL;
	ch = nem_conn_data(conn);
	if (ch == NULL || ch->conn != conn)
		return NULL;
	return ch;
}

int
chan_handle(struct chan *ch, const struct chan_handler *h,
    struct nem_err *err)
{
	return nem_mux_add(ch->mux, h->service, h->command, h->fn, h->arg,
	    err);
}

static void
on_stop_reply(struct nem_conn *c, struct nem_msg *msg, void *arg)
{
	if (msg->hdr.code != NEM_OK && msg->hdr.code != NEM_E_UNAVAILABLE)
		log_info("%s: daemon.stop failed: %s: %s", nem_conn_peer(c),
		    nem_code_name(msg->hdr.code),
		    msg->hdr.reason != NULL ? msg->hdr.reason : "no reason");
}

int
chan_request_stop(struct chan *ch, struct nem_err *err)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_STOP);

	if (nem_conn_is_closed(ch->conn))
		return nem_err_set(err, ENOTCONN, "%s %s: channel is closed",
		    kind_word(ch->kind), ch->name);
	rq.timeout_ms = NEM_TIMEOUT_NONE;
	return nem_conn_request(ch->conn, &rq, on_stop_reply, NULL, NULL,
	    err);
}
