/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The jail manager: the desired-state engine of nem-rootd. It keeps one
 * record per jail description and per unjailed host, starts autostart
 * jails in dependency order once the hosts run, supervises every root
 * process through the supervisor, records each lifecycle transition in the
 * state database, applies configuration reloads as a difference, and stops
 * everything in reverse dependency order. The lifecycle diagram and the
 * transition table are in jailmgr.c. Everything runs on the daemon's event
 * loop thread.
 */
#ifndef ROOTD_JAILMGR_H
#define ROOTD_JAILMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nem/conn.h>
#include <nem/err.h>

#include "channel.h"
#include "config.h"

struct event_base;
struct db;
struct store;
struct sup;
struct jm;
struct logfile;

/* Lifecycle states of a jail; the diagram is in jailmgr.c. */
enum jm_state {
	JM_ST_DEFINED,		/* described, never started */
	JM_ST_WAITING,		/* waiting for a required service */
	JM_ST_ALLOCATING,	/* disks attached, mounts being made */
	JM_ST_STARTING,		/* root process spawned, not ready yet */
	JM_ST_READY,		/* root process reported host.ready */
	JM_ST_STOPPING,		/* stop sequence running */
	JM_ST_FREEING,		/* unmounting, detaching */
	JM_ST_STOPPED,		/* no process, nothing allocated */
	JM_ST_FAILED,		/* gave up; see reason */
	JM_ST_COUNT,
};

/* Bytes of the log kept in a failed jail's record as its log tail. */
#define JM_LOG_TAIL_BYTES 2048

/* Maximum bytes of a reason string. */
#define JM_REASON_MAX 1024

/*
 * The jail runtime as the manager uses it: builds and tears down a jail's
 * tree and spawns its root process. Every callback gets arg. Synchronous:
 * each call returns when its work is done.
 *
 * alloc: attaches the disks and makes the mounts of jail; returns a handle
 * for the other calls, or NULL with err.
 * alloc_resolved: when not NULL, used instead of alloc; resolved, when not
 * NULL, has one entry per mount: for an image mount the SHA-256 (hex) of
 * the stored file to mount, resolved when the description was applied,
 * or NULL to look the image up now.
 * spawn: starts jail's root process in the tree of handle with the given
 * stdio and channel (fd 3) and the extra environment entries env (NULL
 * terminated "NAME=value" strings, such as NEM_FD=3); returns the pid (a
 * child of the daemon, reaped by the supervisor), or -1 with err.
 * exited: the process pid of handle was reaped; release what the runtime
 * keeps for it (a pidfd). May be NULL.
 * free: unmounts and detaches what alloc made and frees handle, also on
 * failure. Returns 0, or -1 with err, which the manager logs before it
 * goes on.
 * recover: before any jail starts, cleans up what a previous daemon left;
 * wanted lists the jails with a valid description, whose records are
 * kept. Returns 0 or -1 with err (logged, not fatal). May be NULL.
 * record: stores a lifecycle transition of the jail name in the state
 * database; returns 0 or -1 with err. May be NULL: the manager then keeps
 * its own table, jm_jails.
 * alloc_async: when not NULL, used for first starts instead of
 * alloc_resolved, so that several allocations run at the same time. It
 * prepares at once and returns 0. Later it calls done(done_arg, handle,
 * err) from the event loop, with NULL and err when the allocation failed.
 * When the preparation fails it returns -1 with err and never calls done.
 * Its first argument is async_arg.
 */
struct jm_runtime {
	void *(*alloc)(void *arg, const struct cfg_jail *jail,
	    struct nem_err *err);
	void *(*alloc_resolved)(void *arg, const struct cfg_jail *jail,
	    const char *const *resolved, struct nem_err *err);
	pid_t (*spawn)(void *arg, void *handle, const struct cfg_jail *jail,
	    const int stdio[3], int channel, const char *const *env,
	    struct nem_err *err);
	void (*exited)(void *arg, void *handle, pid_t pid);
	int (*free)(void *arg, void *handle, struct nem_err *err);
	int (*recover)(void *arg, const char *const *wanted, size_t nwanted,
	    struct nem_err *err);
	int (*record)(void *arg, const char *name, enum jm_state state,
	    const char *reason, struct nem_err *err);
	int (*alloc_async)(void *async_arg, const struct cfg_jail *jail,
	    const char *const *resolved,
	    void (*done)(void *done_arg, void *handle,
	    const struct nem_err *err), void *done_arg, struct nem_err *err);
	void *arg;
	void *async_arg;
};

struct jail_runtime;

struct jail_pool;

/*
 * Fills *out with callbacks that run jails through the jail runtime jrt
 * (jail.h), which must outlive the manager. With pool (jail_pool.h, may
 * be NULL), first starts are allocated by its workers.
 */
void jm_runtime_from_jail(struct jail_runtime *jrt, struct jail_pool *pool,
    struct jm_runtime *out);

/* Parameters of jm_new. The pointers must outlive the manager. */
struct jm_params {
	struct event_base *base;
	struct sup *sup;
	struct db *db;			/* jail records are kept here */
	struct store *store;		/* may be NULL: images are looked
					   up at each allocation and no
					   references are recorded */
	const struct cfg_host *host;	/* run_dir, jails_dir, [[host]] */
	const struct jm_runtime *runtime;
	uint64_t log_max_bytes;		/* rotation size; 0: LOGFILE_MAX_BYTES */
	const char *version;		/* daemon version for daemon.info */
};

/* A snapshot of one jail, for the control plane. Strings are copies. */
struct jm_jail_info {
	char name[64];
	enum jm_state state;
	char reason[JM_REASON_MAX];	/* why it waits or failed, or "" */
	pid_t pid;			/* root process, 0 when none */
	int last_status;		/* wait status of the last exit, -1 */
	uint64_t starts;		/* processes started since allocation */
	uint64_t restarts;		/* failed runs in a row */
	bool autostart;
	bool valid;			/* the description on disk is valid */
	int64_t since;			/* Unix time of the last transition */
	char log_path[4096];
};

/* A snapshot of one unjailed host. */
struct jm_host_info {
	char name[64];
	const char *state;		/* supervisor state name, static */
	pid_t pid;
	int last_status;
	uint64_t starts;
	char log_path[4096];
};

/* A state change, passed to event watchers. Valid during the call only. */
struct jm_event {
	const char *kind;		/* "jail" or "host" */
	const char *name;
	const char *state;		/* jm_state_name or supervisor state */
	const char *reason;		/* "" when none */
	int64_t time;			/* Unix seconds */
};

typedef void (*jm_event_fn)(void *arg, const struct jm_event *ev);
typedef void (*jm_done_fn)(void *arg);

/* Returns the lower-case name of a state ("waiting", "ready", ...). */
const char *jm_state_name(enum jm_state state);

/*
 * Creates the manager and its table in the state database. Returns the
 * manager (free with jm_free after jm_shutdown completed), or NULL with
 * err: ENOMEM, or a database error.
 */
struct jm *jm_new(const struct jm_params *p, struct nem_err *err);

/* Frees the manager and its records; processes must be down. NULL is
 * allowed. */
void jm_free(struct jm *jm);

/*
 * Adds a request handler to every jail channel opened from now on (for
 * example host.connect). Returns 0, or -1 with err ENOMEM or EEXIST (the
 * command already has a handler).
 */
int jm_channel_handle(struct jm *jm, const struct chan_handler *h,
    struct nem_err *err);

/*
 * Brings the host up: runs the runtime's recovery, starts the unjailed
 * hosts, loads the jail descriptions from the jails folder and starts the
 * autostart jails in dependency order. Errors of single jails or hosts are
 * logged and recorded, not returned. Returns 0, or -1 with err when the
 * jails folder cannot be read.
 */
int jm_start(struct jm *jm, struct nem_err *err);

/*
 * Re-reads the jail descriptions and applies the difference: new
 * autostart jails start, removed ones stop and are freed, changed ones
 * restart, and a description with errors changes nothing (the jail keeps
 * running as before; the errors are logged). Returns 0, or -1 with err
 * when the folder cannot be read (nothing changes then).
 */
int jm_reload(struct jm *jm, struct nem_err *err);

/*
 * Stops every jail in reverse dependency order (dependents first,
 * independent jails together), then every unjailed host, then calls
 * done(arg). Further start requests are rejected with ECANCELED.
 */
void jm_shutdown(struct jm *jm, jm_done_fn done, void *arg);

/* Registers fn for every later state change; returns a handle for
 * jm_unwatch, or NULL with err ENOMEM. */
void *jm_watch(struct jm *jm, jm_event_fn fn, void *arg,
    struct nem_err *err);
void jm_unwatch(struct jm *jm, void *handle);

/* Counts of jails (all, ready, failed) and hosts. */
void jm_counts(const struct jm *jm, size_t *jails, size_t *ready,
    size_t *failed, size_t *hosts);

/*
 * Fills out with a snapshot of every jail, sorted by name; *out is
 * malloc'ed (free()) and NULL when *count is 0. Returns 0, or -1 with err
 * ENOMEM.
 */
int jm_jail_list(const struct jm *jm, struct jm_jail_info **out,
    size_t *count, struct nem_err *err);

/* Fills *info for the jail name. Returns 0, or -1 with err ENOENT. */
int jm_jail_status(const struct jm *jm, const char *name,
    struct jm_jail_info *info, struct nem_err *err);

/*
 * Starts the jail name from defined, stopped or failed (clearing the
 * failure). Returns 0 when it is on its way (it may wait for services), or
 * -1 with err: ENOENT, EINVAL (its description has errors), EALREADY (it
 * runs or is starting), EBUSY (it is stopping), ECANCELED (shutdown).
 */
int jm_jail_start(struct jm *jm, const char *name, struct nem_err *err);

/*
 * Stops the jail name and frees its tree; done(arg), if not NULL, is
 * called once it is stopped (also at once, before returning, when it
 * already is). Returns 0, or -1 with err ENOENT.
 */
int jm_jail_stop(struct jm *jm, const char *name, jm_done_fn done,
    void *arg, struct nem_err *err);

/*
 * Stops like jm_jail_stop, but when timeout_ms is not 0 and the stop
 * sequence begins now, it replaces the description's stop_timeout for
 * this stop only: the root process gets SIGKILL at most timeout_ms after
 * the stop began (sup_unit_stop_within). A jail that is already stopping
 * keeps its running sequence. Returns 0, or -1 with err ENOENT.
 */
int jm_jail_stop_timeout(struct jm *jm, const char *name,
    uint64_t timeout_ms, jm_done_fn done, void *arg, struct nem_err *err);

/* Stops the jail name when it runs, then starts it. Returns as
 * jm_jail_start, without EALREADY. */
int jm_jail_restart(struct jm *jm, const char *name, struct nem_err *err);

/*
 * Validates the TOML text as the description of jail name, together with
 * the other jails; on success writes it to <jails_dir>/<name>.toml
 * (atomically) and applies it like a reload of that one file. Its images
 * are resolved again even when the text is unchanged; a running jail
 * whose images resolve to other files restarts with them. On a
 * validation failure nothing changes and *diags contains the errors.
 * Returns 0, or -1 with err: EINVAL (invalid name or description; see
 * diags), ECANCELED (shutdown), or the errno of writing the file.
 */
int jm_jail_apply(struct jm *jm, const char *name, const char *toml,
    size_t len, struct cfg_diags *diags, struct nem_err *err);

/*
 * Stops and frees the jail name, deletes its description file and its
 * record. Persistent volumes stay. Returns 0, or -1 with err ENOENT, or
 * the errno of unlink(2).
 */
int jm_jail_remove(struct jm *jm, const char *name, struct nem_err *err);

/*
 * Returns the log file of the jail name (for following), or NULL with err
 * ENOENT. Its path is also in jm_jail_info.log_path.
 */
struct logfile *jm_jail_log(const struct jm *jm, const char *name,
    struct nem_err *err);

/*
 * Returns true when the persistent volume name is used by the description
 * of a jail that is not stopped, and names that jail in *user.
 */
bool jm_volume_in_use(const struct jm *jm, const char *volume,
    const char **user);

/*
 * Fills *out with a malloc'ed array (free()) of the valid descriptions in
 * use, *count entries, NULL when none; the descriptions stay owned by the
 * manager and are valid until the next reload. Returns 0, or -1 with err
 * ENOMEM.
 */
int jm_jail_descriptions(const struct jm *jm, const struct cfg_jail ***out,
    size_t *count, struct nem_err *err);

/* Fills a malloc'ed snapshot of every unjailed host, in configuration
 * order. Returns 0, or -1 with err ENOMEM. */
int jm_host_list(const struct jm *jm, struct jm_host_info **out,
    size_t *count, struct nem_err *err);

/*
 * Restarts the unjailed host name (stop sequence, then a start). Returns
 * 0, or -1 with err ENOENT, EBUSY (a stop is running), ECANCELED.
 */
int jm_host_restart(struct jm *jm, const char *name, struct nem_err *err);

/* Returns the log file of the unjailed host name, or NULL with ENOENT. */
struct logfile *jm_host_log(const struct jm *jm, const char *name,
    struct nem_err *err);

/*
 * Returns true when the channel belongs to a jail whose description lets
 * it reach service, and sets *rights to its [access] entry (owned by the
 * description, valid until the next reload). For service brokering.
 */
bool jm_jail_access(const struct jm *jm, const struct chan *ch,
    const char *service, const struct cfg_access **rights);

/*
 * Finds the jail whose valid description provides service and sets
 * *provider to its name (owned by the manager, valid until the next
 * reload), or to NULL when no jail provides it. Returns that jail's
 * channel when its current run has reported host.ready, or NULL while it
 * is not ready. For service brokering.
 */
struct chan *jm_service_provider(const struct jm *jm, const char *service,
    const char **provider);

/*
 * Returns the description in use by the jail that owns channel ch (owned
 * by the manager, valid until the next reload), or NULL when ch is not a
 * jail's channel. For host.bind.
 */
const struct cfg_jail *jm_chan_description(const struct chan *ch);

#endif
