/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The jail service of the control plane: list, status, start, stop,
 * restart, apply, remove and logs. The reply to a stop is sent once the
 * jail is stopped and freed. Logs stream the log file's tail as CONTINUE
 * replies and, with follow, every later chunk until the client cancels or
 * the jail is removed.
 */
#include "control_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <nem/log.h>
#include <nem/proto.h>

#include "config.h"
#include "jailmgr.h"
#include "logfile.h"

/* Default and maximum bytes of log tail sent by jail.logs. */
#define CONTROL_LOG_TAIL_DEFAULT (64 * 1024)
#define CONTROL_LOG_TAIL_MAX (1024 * 1024)

/* Bytes of log data per CONTINUE reply. */
#define CONTROL_LOG_CHUNK (64 * 1024)

/*
 * Largest timeout_ms of a jail.stop request: one day, the longest duration
 * nemctl accepts.
 */
#define CONTROL_STOP_TIMEOUT_MAX_MS (24ULL * 60 * 60 * 1000)

/*
 * Time a jail.stop with timeout_ms waits beyond it for the tree to be
 * freed after the SIGKILL that timeout_ms bounds. nemctl waits 5 s beyond
 * timeout_ms, so this stays below that.
 */
#define CONTROL_STOP_FREE_GRACE_MS 3000ULL

/* Bytes of configuration errors put into an error reply's reason. */
#define CONTROL_DIAG_REASON_MAX 4000

static void
append_info(bson_t *doc, const char *key, const struct jm_jail_info *info)
{
	bson_t sub;

	BSON_APPEND_DOCUMENT_BEGIN(doc, key, &sub);
	BSON_APPEND_UTF8(&sub, "name", info->name);
	BSON_APPEND_UTF8(&sub, "state", jm_state_name(info->state));
	BSON_APPEND_UTF8(&sub, "reason", info->reason);
	BSON_APPEND_INT64(&sub, "pid", (int64_t)info->pid);
	control_append_exit(&sub, info->last_status);
	BSON_APPEND_INT64(&sub, "starts", (int64_t)info->starts);
	BSON_APPEND_INT64(&sub, "failures", (int64_t)info->restarts);
	BSON_APPEND_BOOL(&sub, "autostart", info->autostart);
	BSON_APPEND_BOOL(&sub, "valid", info->valid);
	BSON_APPEND_INT64(&sub, "since", info->since);
	BSON_APPEND_UTF8(&sub, "log", info->log_path);
	bson_append_document_end(doc, &sub);
}

static void
on_list(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct jm_jail_info *v;
	struct nem_err err;
	size_t n;
	bson_t doc = BSON_INITIALIZER, arr;
	char key[24];

	if (control_parse(t, msg, &req) == -1)
		return;
	if (jm_jail_list(ctl->p.jm, &v, &n, &err) == -1) {
		control_fail(t, &err);
		return;
	}
	BSON_APPEND_ARRAY_BEGIN(&doc, "jails", &arr);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%zu", i);
		append_info(&arr, key, &v[i]);
	}
	bson_append_array_end(&doc, &arr);
	control_reply(t, &doc, false);
	bson_destroy(&doc);
	free(v);
}

/* Parses the body and its required "name" field. */
static const char *
get_name(struct nem_txn *t, struct nem_msg *msg, struct control_req *req)
{
	const char *name;

	if (control_parse(t, msg, req) == -1 ||
	    control_get_str(t, req, "name", true, "jail", &name) == -1)
		return NULL;
	return name;
}

static void
on_status(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct jm_jail_info info;
	struct nem_err err;
	const char *name;
	bson_t doc = BSON_INITIALIZER;

	if ((name = get_name(t, msg, &req)) == NULL)
		return;
	if (jm_jail_status(ctl->p.jm, name, &info, &err) == -1) {
		control_fail(t, &err);
		return;
	}
	append_info(&doc, "jail", &info);
	control_reply(t, &doc, false);
	bson_destroy(&doc);
}

/*
 * Runs a jail manager action that takes only the jail's name, and replies
 * with an empty document or the action's error.
 */
static void
reply_jail_action(struct nem_txn *t, struct nem_msg *msg, void *arg,
    int (*action)(struct jm *, const char *, struct nem_err *))
{
	struct control *ctl = arg;
	struct control_req req;
	struct nem_err err;
	const char *name;

	if ((name = get_name(t, msg, &req)) == NULL)
		return;
	if (action(ctl->p.jm, name, &err) == -1) {
		control_fail(t, &err);
		return;
	}
	control_reply_ok(t);
}

static void
on_start(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	reply_jail_action(t, msg, arg, jm_jail_start);
}

static void
on_restart(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	reply_jail_action(t, msg, arg, jm_jail_restart);
}

/*
 * A stop request whose reply waits until the jail is down. It lives until
 * the jail manager calls on_stopped, which may be after the transaction
 * ended (cancelled, or failed by the timer).
 */
struct stop_wait {
	struct nem_txn *t;		/* NULL once the transaction ended */
	struct event *timer;		/* fires after timeout_ms, or NULL */
	uint64_t timeout_ms;
	char name[64];
};

static void
on_stop_cancel(struct nem_txn *t, int64_t code, void *arg)
{
	struct stop_wait *sw = arg;

	sw->t = NULL;
	if (sw->timer != NULL)
		event_del(sw->timer);
}

/*
 * The jail is still not down CONTROL_STOP_FREE_GRACE_MS after timeout_ms
 * (a process stuck in the kernel, or a slow unmount): end the wait, not
 * the stop.
 */
static void
on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	struct stop_wait *sw = arg;
	char reason[NEM_ERR_MSG_MAX];

	if (sw->t == NULL)
		return;
	snprintf(reason, sizeof(reason), "jail %s is not down %llu ms after "
	    "its stop began, although SIGKILL was due after %llu ms; the "
	    "stop goes on, and `jail status` shows when it is down",
	    sw->name, (unsigned long long)(sw->timeout_ms +
	    CONTROL_STOP_FREE_GRACE_MS), (unsigned long long)sw->timeout_ms);
	log_info("control: jail %s: not down %llu ms after the stop began; "
	    "the stop goes on", sw->name, (unsigned long long)(sw->timeout_ms +
	    CONTROL_STOP_FREE_GRACE_MS));
	nem_txn_on_cancel(sw->t, NULL, NULL);
	nem_txn_fail(sw->t, NEM_E_TIMEDOUT, reason, NULL);
	sw->t = NULL;
}

static void
stop_wait_free(struct stop_wait *sw)
{
	if (sw->timer != NULL)
		event_free(sw->timer);
	free(sw);
}

static void
on_stopped(void *arg)
{
	struct stop_wait *sw = arg;

	if (sw->t != NULL) {
		nem_txn_on_cancel(sw->t, NULL, NULL);
		control_reply_ok(sw->t);
	}
	stop_wait_free(sw);
}

/* Reads the optional "timeout_ms" of jail.stop into *ms (0: none). */
static int
get_stop_timeout(struct nem_txn *t, struct control_req *req, uint64_t *ms)
{
	*ms = 0;
	if (req->empty || !bson_has_field(&req->doc, "timeout_ms"))
		return 0;
	if (control_get_u64(t, req, "timeout_ms", ms) == -1)
		return -1;
	if (*ms == 0 || *ms > CONTROL_STOP_TIMEOUT_MAX_MS) {
		nem_txn_fail(t, NEM_E_INVALID, "field \"timeout_ms\" must be "
		    "1 to 86400000 (one day)", NULL);
		return -1;
	}
	return 0;
}

static void
on_stop(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct nem_err err;
	struct stop_wait *sw;
	const char *name;
	uint64_t timeout_ms;

	if ((name = get_name(t, msg, &req)) == NULL ||
	    get_stop_timeout(t, &req, &timeout_ms) == -1)
		return;
	sw = calloc(1, sizeof(*sw));
	if (sw == NULL) {
		nem_txn_fail(t, NEM_E_INTERNAL, "out of memory", NULL);
		return;
	}
	sw->t = t;
	sw->timeout_ms = timeout_ms;
	snprintf(sw->name, sizeof(sw->name), "%s", name);

	/* The timer runs before jm_jail_stop, which may free sw at once. */
	if (timeout_ms > 0) {
		/* At most one day plus the grace, so the sum cannot overflow. */
		uint64_t wait_ms = timeout_ms + CONTROL_STOP_FREE_GRACE_MS;
		struct timeval tv = {
			.tv_sec = (time_t)(wait_ms / 1000),
			.tv_usec = (suseconds_t)(wait_ms % 1000) * 1000,
		};

		sw->timer = evtimer_new(ctl->p.base, on_stop_timer, sw);
		if (sw->timer == NULL || evtimer_add(sw->timer, &tv) == -1) {
			stop_wait_free(sw);
			nem_txn_fail(t, NEM_E_INTERNAL, "out of memory for "
			    "the stop timer", NULL);
			return;
		}
	}
	nem_txn_on_cancel(t, on_stop_cancel, sw);
	if (jm_jail_stop_timeout(ctl->p.jm, name, timeout_ms, on_stopped, sw,
	    &err) == -1) {
		nem_txn_on_cancel(t, NULL, NULL);
		stop_wait_free(sw);
		control_fail(t, &err);
	}
}

static void
on_apply(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct cfg_diags diags = { 0 };
	struct nem_err err;
	const char *name, *toml;
	char reason[CONTROL_DIAG_REASON_MAX];
	size_t used;

	if ((name = get_name(t, msg, &req)) == NULL ||
	    control_get_str(t, &req, "toml", true, NULL, &toml) == -1)
		return;
	if (jm_jail_apply(ctl->p.jm, name, toml, strlen(toml), &diags,
	    &err) == 0) {
		control_reply_ok(t);
		return;
	}

	/*
	 * The reason lists the errors as check-config does, separated by
	 * "; " because a reason is one line: the protocol replaces control
	 * characters in it.
	 */
	used = (size_t)snprintf(reason, sizeof(reason), "%s", err.msg);
	for (size_t i = 0; i < diags.len && used < sizeof(reason); i++) {
		const struct cfg_diag *d = &diags.v[i];

		used += (size_t)snprintf(reason + used, sizeof(reason) - used,
		    "%s%s:%u:%u: %s", i == 0 ? ": " : "; ", d->file, d->line,
		    d->col, d->msg);
	}
	cfg_diags_clear(&diags);
	nem_txn_fail(t, control_code(err.code), reason, NULL);
}

static void
on_remove(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	reply_jail_action(t, msg, arg, jm_jail_remove);
}

/* logs */

/* A following log stream. */
struct log_follow {
	struct control *ctl;
	struct nem_txn *t;
	struct logfile *lf;
	struct logfile_follower *follower;
	void *watch;
	char name[64];
	const char *kind;		/* "jail" or "host" */
};

static void
send_data(struct nem_txn *t, const char *data, size_t len, bool more)
{
	bson_t doc = BSON_INITIALIZER;

	BSON_APPEND_BINARY(&doc, "data", BSON_SUBTYPE_BINARY,
	    (const uint8_t *)data, (uint32_t)len);
	control_reply(t, &doc, more);
	bson_destroy(&doc);
}

static void
follow_end(struct log_follow *lf)
{
	if (lf->follower != NULL)
		logfile_unfollow(lf->lf, lf->follower);
	if (lf->watch != NULL)
		jm_unwatch(lf->ctl->p.jm, lf->watch);
	free(lf);
}

static void
on_follow_data(void *arg, const char *data, size_t len)
{
	struct log_follow *lf = arg;

	send_data(lf->t, data, len, true);
}

static void
on_follow_cancel(struct nem_txn *t, int64_t code, void *arg)
{
	follow_end(arg);
}

static void
on_follow_event(void *arg, const struct jm_event *ev)
{
	struct log_follow *lf = arg;
	struct nem_txn *t = lf->t;

	/* The log file goes away with the jail: end the stream first. */
	if (strcmp(ev->kind, lf->kind) != 0 || strcmp(ev->name, lf->name) != 0 ||
	    strcmp(ev->state, "removed") != 0)
		return;
	nem_txn_on_cancel(t, NULL, NULL);
	follow_end(lf);
	control_reply_ok(t);
}

void
control_send_log(struct control *ctl, struct nem_txn *t,
    struct control_req *req, struct logfile *log, const char *kind,
    const char *name)
{
	uint64_t bytes = CONTROL_LOG_TAIL_DEFAULT;
	bool follow = false;
	struct log_follow *lf;
	struct nem_err err;
	char *tail;
	size_t len;

	if (control_get_u64(t, req, "bytes", &bytes) == -1 ||
	    control_get_bool(t, req, "follow", &follow) == -1)
		return;
	if (bytes > CONTROL_LOG_TAIL_MAX) {
		nem_txn_fail(t, NEM_E_TOO_LARGE, "field \"bytes\" is over the "
		    "maximum of 1048576", NULL);
		return;
	}
	if (logfile_tail(logfile_path(log), (size_t)bytes, &tail, &len,
	    &err) == -1) {
		control_fail(t, &err);
		return;
	}
	for (size_t off = 0; off < len; off += CONTROL_LOG_CHUNK) {
		size_t n = len - off < CONTROL_LOG_CHUNK ? len - off :
		    CONTROL_LOG_CHUNK;

		send_data(t, tail + off, n, true);
	}
	free(tail);
	if (!follow) {
		control_reply_ok(t);
		return;
	}

	lf = calloc(1, sizeof(*lf));
	if (lf == NULL) {
		nem_txn_fail(t, NEM_E_INTERNAL, "out of memory", NULL);
		return;
	}
	lf->ctl = ctl;
	lf->t = t;
	lf->lf = log;
	lf->kind = kind;
	snprintf(lf->name, sizeof(lf->name), "%s", name);
	lf->follower = logfile_follow(log, on_follow_data, lf, &err);
	if (lf->follower != NULL)
		lf->watch = jm_watch(ctl->p.jm, on_follow_event, lf, &err);
	if (lf->follower == NULL || lf->watch == NULL) {
		follow_end(lf);
		control_fail(t, &err);
		return;
	}
	nem_txn_on_cancel(t, on_follow_cancel, lf);
}

static void
on_logs(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct nem_err err;
	struct logfile *log;
	const char *name;

	if ((name = get_name(t, msg, &req)) == NULL)
		return;
	log = jm_jail_log(ctl->p.jm, name, &err);
	if (log == NULL) {
		control_fail(t, &err);
		return;
	}
	control_send_log(ctl, t, &req, log, "jail", name);
}

int
control_jail_register(struct control *ctl, struct nem_err *err)
{
	static const struct {
		uint16_t cmd;
		nem_handler_fn *fn;
	} cmds[] = {
		{ CONTROL_JAIL_LIST, on_list },
		{ CONTROL_JAIL_STATUS, on_status },
		{ CONTROL_JAIL_START, on_start },
		{ CONTROL_JAIL_STOP, on_stop },
		{ CONTROL_JAIL_RESTART, on_restart },
		{ CONTROL_JAIL_APPLY, on_apply },
		{ CONTROL_JAIL_REMOVE, on_remove },
		{ CONTROL_JAIL_LOGS, on_logs },
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (nem_mux_add(ctl->mux, NEM_SVC_JAIL, cmds[i].cmd,
		    cmds[i].fn, ctl, err) == -1)
			return -1;
	}
	return 0;
}
