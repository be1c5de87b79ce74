/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Private helpers of the control plane, shared by control.c (connections,
 * daemon service, request and reply helpers) and one file per service:
 * control_image.c, control_jail.c, control_volume.c and control_misc.c
 * (hostproc and event).
 */
#ifndef ROOTD_CONTROL_INT_H
#define ROOTD_CONTROL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <bson/bson.h>

#include <nem/conn.h>
#include <nem/err.h>
#include <nem/frame.h>

#include "control.h"

struct event;

struct control_client {
	TAILQ_ENTRY(control_client) entry;
	struct control *ctl;
	struct nem_conn *conn;
	struct event *idle_ev;		/* periodic idle check */
	uint64_t frames_seen;		/* frames_in at the last check */
	int64_t active_ms;		/* monotonic time of the last activity */
};

struct import_job;
struct verify_job;

struct control {
	struct control_params p;
	struct import_job *import;	/* the running add-image, or NULL */
	struct verify_job *verify;	/* the running verify, or NULL */
	struct nem_mux *mux;
	TAILQ_HEAD(, control_client) clients;
	size_t nclients;
	time_t started;
	uint32_t idle_ms;		/* idle timeout of a connection */
	uint32_t full_interval_ms;	/* minimum time between two "too many
					   clients" warnings */
	struct event *full_ev;		/* pending while warnings are held */
	unsigned long full_hidden;	/* rejections held since the last
					   warning */
};

/*
 * A parsed request body. When parsing fails, an error reply naming the field
 * has already been sent, and the handler just returns.
 */
struct control_req {
	bson_t doc;			/* read-only view of the body */
	bool empty;			/* no body at all */
};

/*
 * Checks the body of msg: empty (an empty document) or one BSON document.
 * Returns 0, or -1 after failing t with NEM_E_INVALID.
 */
int control_parse(struct nem_txn *t, const struct nem_msg *msg,
    struct control_req *req);

/*
 * Reads the UTF-8 string field into *out (pointing into the body). A
 * missing field is an error when required, else *out is NULL. name_kind
 * ("jail", "image", "volume", "host") checks the value with the naming rule
 * and names that kind in the error; NULL accepts any string. Returns 0, or
 * -1 after failing t with NEM_E_INVALID: a name error reads exactly as
 * name_check's, other errors name the field.
 */
int control_get_str(struct nem_txn *t, struct control_req *req,
    const char *field, bool required, const char *name_kind,
    const char **out);

/* Reads an optional boolean (*out unchanged when absent). Returns as
 * control_get_str. */
int control_get_bool(struct nem_txn *t, struct control_req *req,
    const char *field, bool *out);

/* Reads an optional non-negative integer (int32 or int64). */
int control_get_u64(struct nem_txn *t, struct control_req *req,
    const char *field, uint64_t *out);

/* Sends doc as the final reply (or a CONTINUE one when more). */
void control_reply(struct nem_txn *t, const bson_t *doc, bool more);

/* Sends an empty final reply. */
void control_reply_ok(struct nem_txn *t);

/*
 * Maps an errno value from the daemon's modules to a reply code, as
 * nem_code_from_errno does except for values whose meaning is known here.
 * EALREADY (already running) maps to NEM_E_EXISTS, ECANCELED (the daemon
 * is shutting down) to NEM_E_UNAVAILABLE, and EPIPE (an image file shorter
 * than its declared size) to NEM_E_INVALID. ENOSPC and EDQUOT (a full
 * file system or quota) map to NEM_E_UNAVAILABLE rather than
 * NEM_E_TOO_LARGE, because the same request succeeds once space is freed.
 */
int64_t control_code(int errnum);

/* Fails t with control_code(e->code) and e->msg as reason. */
void control_fail(struct nem_txn *t, const struct nem_err *e);

/*
 * Appends the outcome of a process's last exit, given as a wait status or
 * -1 when it has not exited yet, as two int32 fields. "exit_code" is the
 * exit status of a normal exit, else -1. "signal" is the number of the
 * signal that killed the process, else 0.
 */
void control_append_exit(bson_t *doc, int wait_status);

struct logfile;

/*
 * Streams the tail of log (the request's "bytes", default 64 KiB) as
 * CONTINUE replies carrying {data: binary}, then ends, or with the
 * request's "follow" keeps sending each new chunk until the client
 * cancels or the owner (kind "jail" or "host", name) is removed.
 */
void control_send_log(struct control *ctl, struct nem_txn *t,
    struct control_req *req, struct logfile *log, const char *kind,
    const char *name);

/* Waits for a running add-image import and verify and frees them
 * (control_free). */
void control_image_shutdown(struct control *ctl);

/* Registration of each service's handlers into the mux. */
int control_image_register(struct control *ctl, struct nem_err *err);
int control_jail_register(struct control *ctl, struct nem_err *err);
int control_volume_register(struct control *ctl, struct nem_err *err);
int control_misc_register(struct control *ctl, struct nem_err *err);

#endif
