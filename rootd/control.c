/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Control connections and the daemon service. Each accepted connection is
 * a libnem connection with the default bounds, served by one shared mux;
 * a client that breaks the protocol loses its connection and nothing else.
 * Request bodies are checked with the helpers below, so every handler
 * rejects a bad field with NEM_E_INVALID and a message that names it.
 */
#include "control_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/log.h>
#include <nem/proto.h>

#include "ctlsock.h"
#include "jailmgr.h"
#include "names.h"
#include "store.h"

int
control_parse(struct nem_txn *t, const struct nem_msg *msg,
    struct control_req *req)
{
	struct nem_err err;

	req->empty = msg->body_len == 0;
	if (req->empty) {
		bson_init(&req->doc);
		return 0;
	}
	if (nem_msg_body_bson(msg, &req->doc, &err) == -1) {
		nem_txn_fail(t, NEM_E_INVALID, err.msg, NULL);
		return -1;
	}
	return 0;
}

static int
fail_field(struct nem_txn *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail_field(struct nem_txn *t, const char *fmt, ...)
{
	char reason[NEM_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	nem_txn_fail(t, NEM_E_INVALID, reason, NULL);
	return -1;
}

int
control_get_str(struct nem_txn *t, struct control_req *req,
    const char *field, bool required, const char *name_kind,
    const char **out)
{
	bson_iter_t it;
	uint32_t len;
	const char *s;
	struct nem_err err;

	*out = NULL;
	if (req->empty || !bson_iter_init_find(&it, &req->doc, field)) {
		if (required)
			return fail_field(t, "field \"%s\" is missing; it is "
			    "required", field);
		return 0;
	}
	if (!BSON_ITER_HOLDS_UTF8(&it))
		return fail_field(t, "field \"%s\" must be a string", field);
	s = bson_iter_utf8(&it, &len);
	if (memchr(s, '\0', len) != NULL)
		return fail_field(t, "field \"%s\" contains a NUL byte", field);
	if (name_kind != NULL && name_check_len(name_kind, s, len,
	    &err) == -1) {
		nem_txn_fail(t, NEM_E_INVALID, err.msg, NULL);
		return -1;
	}
	*out = s;
	return 0;
}

int
control_get_bool(struct nem_txn *t, struct control_req *req,
    const char *field, bool *out)
{
	bson_iter_t it;

	if (req->empty || !bson_iter_init_find(&it, &req->doc, field))
		return 0;
	if (!BSON_ITER_HOLDS_BOOL(&it))
		return fail_field(t, "field \"%s\" must be a boolean", field);
	*out = bson_iter_bool(&it);
	return 0;
}

int
control_get_u64(struct nem_txn *t, struct control_req *req,
    const char *field, uint64_t *out)
{
	bson_iter_t it;
	int64_t v;

	if (req->empty || !bson_iter_init_find(&it, &req->doc, field))
		return 0;
	if (BSON_ITER_HOLDS_INT32(&it))
		v = bson_iter_int32(&it);
	else if (BSON_ITER_HOLDS_INT64(&it))
		v = bson_iter_int64(&it);
	else
		return fail_field(t, "field \"%s\" must be an integer", field);
	if (v < 0)
		return fail_field(t, "field \"%s\" is %lld; it must not be "
		    "negative", field, (long long)v);
	*out = (uint64_t)v;
	return 0;
}

void
control_reply(struct nem_txn *t, const bson_t *doc, bool more)
{
	struct nem_send s = NEM_SEND_INIT;
	struct nem_err err;

	s.body = bson_get_data(doc);
	s.body_len = doc->len;
	s.more = more;
	if (nem_txn_reply(t, &s, &err) == -1 && err.code != ECANCELED &&
	    err.code != ENOTCONN)
		log_errx("control: reply: %s", err.msg);
}

void
control_reply_ok(struct nem_txn *t)
{
	struct nem_send s = NEM_SEND_INIT;

	nem_txn_reply(t, &s, NULL);
}

int64_t
control_code(int errnum)
{
	switch (errnum) {
	case EALREADY:
		return NEM_E_EXISTS;
	case ECANCELED:
		return NEM_E_UNAVAILABLE;
	case EPIPE:
		return NEM_E_INVALID;
	case ENOSPC:
	case EDQUOT:
		return NEM_E_UNAVAILABLE;
	default:
		return nem_code_from_errno(errnum);
	}
}

void
control_fail(struct nem_txn *t, const struct nem_err *e)
{
	nem_txn_fail(t, control_code(e->code), e->msg, NULL);
}

void
control_append_exit(bson_t *doc, int wait_status)
{
	int32_t code = -1, sig = 0;

	if (wait_status != -1 && WIFEXITED(wait_status))
		code = WEXITSTATUS(wait_status);
	else if (wait_status != -1 && WIFSIGNALED(wait_status))
		sig = WTERMSIG(wait_status);
	BSON_APPEND_INT32(doc, "exit_code", code);
	BSON_APPEND_INT32(doc, "signal", sig);
}

/* daemon service */

static void
on_daemon_info(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	bson_t doc = BSON_INITIALIZER;
	size_t jails, ready, failed, hosts;

	if (control_parse(t, msg, &req) == -1)
		return;
	jm_counts(ctl->p.jm, &jails, &ready, &failed, &hosts);
	BSON_APPEND_UTF8(&doc, "name", "nem-rootd");
	BSON_APPEND_UTF8(&doc, "version", ctl->p.version);
	BSON_APPEND_INT64(&doc, "pid", (int64_t)getpid());
	BSON_APPEND_INT64(&doc, "uptime_s",
	    (int64_t)(time(NULL) - ctl->started));
	BSON_APPEND_INT64(&doc, "jails", (int64_t)jails);
	BSON_APPEND_INT64(&doc, "jails_ready", (int64_t)ready);
	BSON_APPEND_INT64(&doc, "jails_failed", (int64_t)failed);
	BSON_APPEND_INT64(&doc, "hosts", (int64_t)hosts);
	BSON_APPEND_INT64(&doc, "clients", (int64_t)ctl->nclients);
	control_reply(t, &doc, false);
	bson_destroy(&doc);
}

static void
on_daemon_stop(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;

	log_info("control: daemon.stop requested by %s",
	    nem_conn_peer(nem_txn_conn(t)));
	control_reply_ok(t);
	if (ctl->p.stop != NULL)
		ctl->p.stop(ctl->p.stop_arg);
}

/* connections */

static int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
client_free(struct control_client *cl)
{
	struct control *ctl = cl->ctl;

	TAILQ_REMOVE(&ctl->clients, cl, entry);
	ctl->nclients--;
	if (cl->idle_ev != NULL)
		event_free(cl->idle_ev);
	nem_conn_free(cl->conn);
	free(cl);
}

/*
 * Checks a connection for idleness, four times per idle timeout. A
 * connection is active while it has a transaction in flight, streams such
 * as event.subscribe included, or has received frames since the last
 * check. One that stays inactive for the whole idle timeout is closed, so
 * clients that connect and send nothing cannot hold every slot.
 */
static void
on_idle_check(evutil_socket_t fd, short what, void *arg)
{
	struct control_client *cl = arg;
	struct nem_conn_stats st;
	int64_t now = monotonic_ms();

	nem_conn_stats(cl->conn, &st);
	if (st.incoming > 0 || st.frames_in != cl->frames_seen) {
		cl->frames_seen = st.frames_in;
		cl->active_ms = now;
		return;
	}
	if (now - cl->active_ms < (int64_t)cl->ctl->idle_ms)
		return;
	log_info("%s: closed after %u ms without a request",
	    nem_conn_peer(cl->conn), (unsigned)cl->ctl->idle_ms);
	client_free(cl);
}

static void
full_window_start(struct control *ctl)
{
	struct timeval tv = {
		.tv_sec = (time_t)(ctl->full_interval_ms / 1000),
		.tv_usec = (suseconds_t)(ctl->full_interval_ms % 1000) * 1000,
	};

	if (evtimer_add(ctl->full_ev, &tv) == -1)
		log_errx("control: cannot start the timer of the \"too many "
		    "clients\" warning; the next rejection is logged again");
}

/*
 * Ends a window of held "too many clients" warnings: logs the count of
 * rejections held in it, and holds the next ones for another window.
 */
static void
on_full_window_end(evutil_socket_t fd, short what, void *arg)
{
	struct control *ctl = arg;

	if (ctl->full_hidden == 0)
		return;
	log_warn("control: rejected %lu more connections in the last %u ms "
	    "because %d clients were connected, the maximum",
	    ctl->full_hidden, (unsigned)ctl->full_interval_ms,
	    CONTROL_MAX_CLIENTS);
	ctl->full_hidden = 0;
	full_window_start(ctl);
}

/*
 * Logs a connection rejected because CONTROL_MAX_CLIENTS are connected, at
 * most once per full_interval_ms; rejections in between are counted.
 */
static void
log_full(struct control *ctl, const struct ctl_peer *peer)
{
	if (evtimer_pending(ctl->full_ev, NULL)) {
		ctl->full_hidden++;
		return;
	}
	log_warn("control: rejected the connection of pid %d: %d clients "
	    "are connected, the maximum; idle clients are closed after %u "
	    "ms", (int)peer->pid, CONTROL_MAX_CLIENTS, (unsigned)ctl->idle_ms);
	full_window_start(ctl);
}

static void
on_client_close(struct nem_conn *c, const struct nem_err *why, void *arg)
{
	struct control_client *cl = arg;

	if (why != NULL && why->code != 0 && why->code != ECONNRESET &&
	    why->code != EPIPE)
		log_info("%s: closed: %s", nem_conn_peer(c), why->msg);
	else
		log_debug("%s: closed", nem_conn_peer(c));
	client_free(cl);
}

void
control_accept(void *arg, int fd, const struct ctl_peer *peer)
{
	struct control *ctl = arg;
	struct control_client *cl;
	struct nem_err err;
	uint32_t quarter = ctl->idle_ms / 4 > 0 ? ctl->idle_ms / 4 : 1;
	struct timeval check = {
		.tv_sec = (time_t)(quarter / 1000),
		.tv_usec = (suseconds_t)(quarter % 1000) * 1000,
	};

	if (ctl->nclients >= CONTROL_MAX_CLIENTS) {
		log_full(ctl, peer);
		close(fd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (cl == NULL) {
		log_errx("control: out of memory; closing the connection of "
		    "pid %d", (int)peer->pid);
		close(fd);
		return;
	}
	cl->ctl = ctl;
	cl->conn = nem_conn_new(ctl->p.base, fd, NULL, ctl->mux, &err);
	if (cl->conn == NULL) {
		log_errx("control: %s", err.msg);
		free(cl);
		return;
	}
	nem_conn_set_peer(cl->conn, "control pid %d", (int)peer->pid);
	nem_conn_set_close_cb(cl->conn, on_client_close, cl);
	nem_conn_set_data(cl->conn, cl);
	TAILQ_INSERT_TAIL(&ctl->clients, cl, entry);
	ctl->nclients++;

	cl->active_ms = monotonic_ms();
	cl->idle_ev = event_new(ctl->p.base, -1, EV_PERSIST, on_idle_check,
	    cl);
	if (cl->idle_ev == NULL || event_add(cl->idle_ev, &check) == -1) {
		log_errx("control: cannot start the idle timer; closing the "
		    "connection of pid %d", (int)peer->pid);
		client_free(cl);
		return;
	}
	log_debug("control: connection from pid %d", (int)peer->pid);
}

struct control *
control_new(const struct control_params *p, struct nem_err *err)
{
	struct control *ctl = calloc(1, sizeof(*ctl));

	if (ctl == NULL) {
		nem_err_sys(err, ENOMEM, "control plane");
		return NULL;
	}
	ctl->p = *p;
	if (ctl->p.version == NULL)
		ctl->p.version = "unknown";
	ctl->started = time(NULL);
	ctl->idle_ms = p->idle_timeout_ms > 0 ? p->idle_timeout_ms :
	    CONTROL_IDLE_TIMEOUT_MS;
	ctl->full_interval_ms = p->full_log_interval_ms > 0 ?
	    p->full_log_interval_ms : CONTROL_FULL_LOG_INTERVAL_MS;
	TAILQ_INIT(&ctl->clients);
	ctl->full_ev = evtimer_new(ctl->p.base, on_full_window_end, ctl);
	if (ctl->full_ev == NULL) {
		nem_err_set(err, ENOMEM, "control plane: cannot create a timer");
		control_free(ctl);
		return NULL;
	}
	ctl->mux = nem_mux_new(err);
	if (ctl->mux == NULL ||
	    nem_mux_add(ctl->mux, NEM_SVC_DAEMON, NEM_DAEMON_INFO,
	    on_daemon_info, ctl, err) == -1 ||
	    nem_mux_add(ctl->mux, NEM_SVC_DAEMON, NEM_DAEMON_STOP,
	    on_daemon_stop, ctl, err) == -1 ||
	    control_image_register(ctl, err) == -1 ||
	    control_jail_register(ctl, err) == -1 ||
	    control_volume_register(ctl, err) == -1 ||
	    control_misc_register(ctl, err) == -1) {
		nem_err_prefix(err, "control plane");
		control_free(ctl);
		return NULL;
	}
	return ctl;
}

void
control_free(struct control *ctl)
{
	if (ctl == NULL)
		return;
	control_image_shutdown(ctl);
	while (!TAILQ_EMPTY(&ctl->clients))
		client_free(TAILQ_FIRST(&ctl->clients));
	if (ctl->full_ev != NULL)
		event_free(ctl->full_ev);
	nem_mux_free(ctl->mux);
	free(ctl);
}
