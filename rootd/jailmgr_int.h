/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Private structures of the jail manager, shared by jailmgr.c (lifecycle
 * state machine), jailmgr_set.c (descriptions, reload, queries, shutdown)
 * and jailmgr_host.c (unjailed hosts). Nothing outside these files may
 * include it.
 */
#ifndef ROOTD_JAILMGR_INT_H
#define ROOTD_JAILMGR_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "channel.h"
#include "config.h"
#include "jailmgr.h"
#include "logfile.h"
#include "supervise.h"

struct event;

/* Events of the jail lifecycle table in jailmgr.c. */
enum jm_event_kind {
	JM_EV_START,		/* start requested */
	JM_EV_DEPS,		/* a required service may have become ready */
	JM_EV_READY,		/* host.ready arrived on the channel */
	JM_EV_STOP,		/* stop requested */
	JM_EV_EXIT,		/* the process exited and will not restart */
	JM_EV_DOWN,		/* the supervisor finished the stop sequence */
	JM_EV_COUNT,
};

/* A caller waiting for a jail to stop (jm_jail_stop). */
struct jm_stop_waiter {
	TAILQ_ENTRY(jm_stop_waiter) entry;
	jm_done_fn done;
	void *arg;
};

struct jm_jail {
	TAILQ_ENTRY(jm_jail) entry;
	struct jm *jm;
	char *name;
	char *dir;			/* <run_dir>/jails/<name> */
	struct cfg_jail *cfg;		/* description in use, NULL if none
					   was ever valid */
	struct cfg_jail *pending;	/* changed description, applied once
					   stopped */
	char **resolved;		/* per mount of cfg: SHA-256 of the
					   image to mount, NULL when the
					   images are not resolved */
	char **pending_resolved;	/* the same for pending */
	uint64_t stop_timeout_ms;	/* this stop's timeout, 0: policy */
	bool valid;			/* the file on disk is valid */
	bool remove_after_stop;		/* description deleted */
	bool start_after_stop;		/* restart or changed description */
	bool allocating;		/* a background allocation runs */

	enum jm_state state;
	char reason[JM_REASON_MAX];
	int64_t since;
	int last_status;		/* -1: no exit yet */
	pid_t pid;			/* running root process, 0 when none */
	unsigned fails;			/* failed runs or starts in a row */
	char start_err[JM_REASON_MAX];	/* error of the last failed start,
					   "" when the last run started */
	uint64_t run_started_ms;	/* monotonic start of the current run */

	void *handle;			/* runtime handle while allocated */
	struct sup_unit *unit;		/* while allocated */
	struct chan *chan;		/* channel of the current run */
	struct logfile *log;

	struct event *defer;		/* delivers deferred_ev */
	struct event *chan_grace;	/* SIGTERM after a channel close */
	bool chan_term_sent;		/* chan_grace sent SIGTERM already */
	enum jm_event_kind deferred_ev;
	TAILQ_HEAD(, jm_stop_waiter) waiters;
};

struct jm_host {
	struct jm *jm;
	const struct cfg_host_entry *entry;
	char **env;			/* "NAME=value", NEM_FD=3, then NULL */
	struct sup_unit *unit;
	struct chan *chan;
	struct logfile *log;
	bool ready;
	bool restart_pending;		/* jm_host_restart: start when down */
};

struct jm_watcher {
	TAILQ_ENTRY(jm_watcher) entry;
	jm_event_fn fn;
	void *arg;
};

struct jm {
	struct event_base *base;
	struct sup *sup;
	struct db *db;
	struct store *store;
	const struct cfg_host *host;
	struct jm_runtime rt;
	uint64_t log_max_bytes;
	const char *version;
	char *confdir;			/* folder of the host configuration */
	int devnull;			/* stdin of every process */

	TAILQ_HEAD(, jm_jail) jails;	/* sorted by name */
	struct jm_host *hosts;
	size_t nhosts;
	TAILQ_HEAD(, jm_watcher) watchers;
	struct chan_handler *handlers;	/* installed into every channel */
	size_t nhandlers;

	bool shutting_down;
	bool hosts_stopping;
	size_t hosts_down;
	jm_done_fn shutdown_done;
	void *shutdown_arg;
};

/* jailmgr.c */
struct jm_jail *jm_jail_new(struct jm *jm, const char *name,
    struct nem_err *err);
void jm_jail_destroy(struct jm_jail *j);
struct jm_jail *jm_jail_find(const struct jm *jm, const char *name);
void jm_dispatch(struct jm_jail *j, enum jm_event_kind ev);
bool jm_jail_active(const struct jm_jail *j);
void jm_emit(struct jm *jm, const char *kind, const char *name,
    const char *state, const char *reason);
void jm_deps_changed(struct jm *jm);
uint64_t jm_now_ms(void);
int jm_resolve(struct jm *jm, const struct cfg_jail *cfg, char ***out,
    struct nem_err *err);
void jm_resolved_free(char **resolved, const struct cfg_jail *cfg);
bool jm_resolved_equal(char **a, char **b, const struct cfg_jail *cfg);
void jm_refs_sync(struct jm_jail *j);
void jm_policy_from_cfg(const struct cfg_policy *in, struct sup_policy *out);
int jm_open_log(struct jm *jm, const char *dir, const char *file,
    struct logfile **out, struct nem_err *err);
int jm_handlers_install(struct jm *jm);
void jm_pid_remember(struct jm *jm, const char *key, pid_t pid);
void jm_pid_forget(struct jm *jm, const char *key);
void jm_pid_reap_stale(struct jm *jm);

/* jailmgr_set.c */
void jm_shutdown_step(struct jm *jm);

/* jailmgr_host.c */
int jm_hosts_start(struct jm *jm, struct nem_err *err);
void jm_hosts_stop(struct jm *jm);
void jm_hosts_free(struct jm *jm);
void jm_host_ready(struct jm_host *h);

#endif
