/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The volume service of the control plane: list the persistent volumes
 * and remove one that no description and no allocated jail uses.
 */
#include "control_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <nem/log.h>
#include <nem/proto.h>

#include "jailmgr.h"
#include "volume.h"

static bool
no_runtime(struct control *ctl, struct nem_txn *t)
{
	if (ctl->p.runtime != NULL)
		return false;
	nem_txn_fail(t, NEM_E_UNAVAILABLE, "the jail runtime is not open; "
	    "see the daemon's log", NULL);
	return true;
}

static void
on_list(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct volume_info *v;
	struct nem_err err;
	size_t n;
	bson_t doc = BSON_INITIALIZER, arr, sub;
	char key[24];

	if (control_parse(t, msg, &req) == -1 || no_runtime(ctl, t))
		return;
	if (volume_list(ctl->p.runtime, &v, &n, &err) == -1) {
		control_fail(t, &err);
		return;
	}
	BSON_APPEND_ARRAY_BEGIN(&doc, "volumes", &arr);
	for (size_t i = 0; i < n; i++) {
		const char *user = "";

		(void)jm_volume_in_use(ctl->p.jm, v[i].name, &user);
		snprintf(key, sizeof(key), "%zu", i);
		BSON_APPEND_DOCUMENT_BEGIN(&arr, key, &sub);
		BSON_APPEND_UTF8(&sub, "name", v[i].name);
		BSON_APPEND_INT64(&sub, "size", (int64_t)v[i].size);
		BSON_APPEND_INT64(&sub, "allocated", (int64_t)v[i].allocated);
		BSON_APPEND_BOOL(&sub, "in_use", v[i].in_use);
		BSON_APPEND_UTF8(&sub, "used_by", user);
		bson_append_document_end(&arr, &sub);
	}
	bson_append_array_end(&doc, &arr);
	control_reply(t, &doc, false);
	bson_destroy(&doc);
	free(v);
}

static void
on_remove(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	const struct cfg_jail **jails;
	struct nem_err err;
	const char *name;
	size_t n;
	int rc;

	if (control_parse(t, msg, &req) == -1 ||
	    control_get_str(t, &req, "name", true, "volume", &name) == -1 ||
	    no_runtime(ctl, t))
		return;
	if (jm_jail_descriptions(ctl->p.jm, &jails, &n, &err) == -1) {
		control_fail(t, &err);
		return;
	}
	rc = volume_remove(ctl->p.runtime, name, jails, n, &err);
	free(jails);
	if (rc == -1) {
		control_fail(t, &err);
		return;
	}
	log_info("control: removed volume %s", name);
	control_reply_ok(t);
}

int
control_volume_register(struct control *ctl, struct nem_err *err)
{
	if (nem_mux_add(ctl->mux, NEM_SVC_VOLUME, CONTROL_VOLUME_LIST,
	    on_list, ctl, err) == -1 ||
	    nem_mux_add(ctl->mux, NEM_SVC_VOLUME, CONTROL_VOLUME_REMOVE,
	    on_remove, ctl, err) == -1)
		return -1;
	return 0;
}
