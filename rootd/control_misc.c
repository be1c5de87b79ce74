/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The hostproc service (unjailed hosts: list, restart, logs) and the event
 * service (a stream of jail and host state changes as CONTINUE replies
 * until the client cancels) of the control plane.
 */
#include "control_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nem/log.h>
#include <nem/proto.h>

#include "jailmgr.h"

static void
on_host_list(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct jm_host_info *v;
	struct nem_err err;
	size_t n;
	bson_t doc = BSON_INITIALIZER, arr, sub;
	char key[24];

	if (control_parse(t, msg, &req) == -1)
		return;
	if (jm_host_list(ctl->p.jm, &v, &n, &err) == -1) {
		control_fail(t, &err);
		return;
	}
	BSON_APPEND_ARRAY_BEGIN(&doc, "hosts", &arr);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%zu", i);
		BSON_APPEND_DOCUMENT_BEGIN(&arr, key, &sub);
		BSON_APPEND_UTF8(&sub, "name", v[i].name);
		BSON_APPEND_UTF8(&sub, "state", v[i].state);
		BSON_APPEND_INT64(&sub, "pid", (int64_t)v[i].pid);
		control_append_exit(&sub, v[i].last_status);
		BSON_APPEND_INT64(&sub, "starts", (int64_t)v[i].starts);
		BSON_APPEND_UTF8(&sub, "log", v[i].log_path);
		bson_append_document_end(&arr, &sub);
	}
	bson_append_array_end(&doc, &arr);
	control_reply(t, &doc, false);
	bson_destroy(&doc);
	free(v);
}

static void
on_host_restart(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct nem_err err;
	const char *name;

	if (control_parse(t, msg, &req) == -1 ||
	    control_get_str(t, &req, "name", true, "host", &name) == -1)
		return;
	if (jm_host_restart(ctl->p.jm, name, &err) == -1) {
		control_fail(t, &err);
		return;
	}
	control_reply_ok(t);
}

static void
on_host_logs(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct nem_err err;
	struct logfile *log;
	const char *name;

	if (control_parse(t, msg, &req) == -1 ||
	    control_get_str(t, &req, "name", true, "host", &name) == -1)
		return;
	log = jm_host_log(ctl->p.jm, name, &err);
	if (log == NULL) {
		control_fail(t, &err);
		return;
	}
	control_send_log(ctl, t, &req, log, "host", name);
}

/* An event subscription: one per event.subscribe transaction. */
struct subscription {
	struct control *ctl;
	struct nem_txn *t;
	void *watch;
};

static void
on_event(void *arg, const struct jm_event *ev)
{
	struct subscription *sub = arg;
	bson_t doc = BSON_INITIALIZER;

	BSON_APPEND_UTF8(&doc, "kind", ev->kind);
	BSON_APPEND_UTF8(&doc, "name", ev->name);
	BSON_APPEND_UTF8(&doc, "state", ev->state);
	BSON_APPEND_UTF8(&doc, "reason", ev->reason);
	BSON_APPEND_INT64(&doc, "time", ev->time);
	control_reply(sub->t, &doc, true);
	bson_destroy(&doc);
}

static void
on_event_cancel(struct nem_txn *t, int64_t code, void *arg)
{
	struct subscription *sub = arg;

	jm_unwatch(sub->ctl->p.jm, sub->watch);
	free(sub);
}

static void
on_subscribe(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct subscription *sub;
	struct nem_err err;

	if (control_parse(t, msg, &req) == -1)
		return;
	sub = calloc(1, sizeof(*sub));
	if (sub == NULL) {
		nem_txn_fail(t, NEM_E_INTERNAL, "out of memory", NULL);
		return;
	}
	sub->ctl = ctl;
	sub->t = t;
	sub->watch = jm_watch(ctl->p.jm, on_event, sub, &err);
	if (sub->watch == NULL) {
		free(sub);
		control_fail(t, &err);
		return;
	}
	nem_txn_on_cancel(t, on_event_cancel, sub);
}

int
control_misc_register(struct control *ctl, struct nem_err *err)
{
	if (nem_mux_add(ctl->mux, NEM_SVC_HOSTPROC, CONTROL_HOSTPROC_LIST,
	    on_host_list, ctl, err) == -1 ||
	    nem_mux_add(ctl->mux, NEM_SVC_HOSTPROC, CONTROL_HOSTPROC_RESTART,
	    on_host_restart, ctl, err) == -1 ||
	    nem_mux_add(ctl->mux, NEM_SVC_HOSTPROC, CONTROL_HOSTPROC_LOGS,
	    on_host_logs, ctl, err) == -1 ||
	    nem_mux_add(ctl->mux, NEM_SVC_EVENT, CONTROL_EVENT_SUBSCRIBE,
	    on_subscribe, ctl, err) == -1)
		return -1;
	return 0;
}
