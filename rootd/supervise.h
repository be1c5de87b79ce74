/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The supervisor: the one place in nem-rootd that spawns, watches and reaps
 * child processes. A unit (a jail's root process or an unjailed host) is
 * described by callbacks and a restart policy. The supervisor starts it,
 * reaps it on SIGCHLD and restarts it with exponential backoff. It stops
 * it with a graceful step, then SIGTERM, then SIGKILL. It runs on the
 * daemon's libevent loop and is not thread-safe.
 */
#ifndef ROOTD_SUPERVISE_H
#define ROOTD_SUPERVISE_H

#include <stdint.h>
#include <sys/types.h>

#include <nem/err.h>

struct event_base;
struct sup;
struct sup_unit;

/* When a unit's process is started again after it exits. */
enum sup_restart {
	SUP_RESTART_NEVER,	/* never */
	SUP_RESTART_ON_FAILURE,	/* unless it exited with status 0 */
	SUP_RESTART_ALWAYS,	/* after every exit */
};

/* Default policy values, in milliseconds; the same as the configuration's. */
#define SUP_DEFAULT_RESTART_DELAY_MS	 100	/* first restart after 0.1 s */
#define SUP_DEFAULT_RESTART_DELAY_MAX_MS 30000	/* backoff cap: 30 s */
#define SUP_DEFAULT_RESTART_RESET_MS	 60000	/* uptime that resets it */
#define SUP_DEFAULT_STOP_TIMEOUT_MS	 10000	/* wait after each stop step */

/*
 * Accepted range of the restart delays: at least 100 ms, so that a unit
 * that fails at once is started at most ten times a second. The largest
 * value of any time field is SUP_TIME_MAX_MS, the largest duration that a
 * configuration file can hold (INT64_MAX ms, about 292 million years).
 */
#define SUP_RESTART_DELAY_MIN_MS 100
#define SUP_TIME_MAX_MS		 ((uint64_t)INT64_MAX)

/* A unit's restart and stop policy. All times are in milliseconds. */
struct sup_policy {
	enum sup_restart restart;
	uint64_t restart_delay_ms;	/* delay before the first restart */
	uint64_t restart_delay_max_ms;	/* cap of the doubling delay */
	uint64_t restart_reset_ms;	/* uptime after which the delay resets */
	uint64_t stop_timeout_ms;	/* wait after each stop step */
};

/*
 * Unit states. The state machine and its table are described in
 * supervise.c.
 */
enum sup_state {
	SUP_ST_DOWN,		/* no process, no restart pending */
	SUP_ST_RUNNING,		/* process running */
	SUP_ST_BACKOFF,		/* exited, restart timer pending */
	SUP_ST_FAILED,		/* keeps failing, restarts at the cap */
	SUP_ST_STOPPING,	/* stop callback called, waiting */
	SUP_ST_TERMINATING,	/* SIGTERM sent, waiting */
	SUP_ST_KILLING,		/* SIGKILL sent, waiting */
};

/*
 * Callbacks of a unit. arg is the pointer given to sup_unit_add.
 *
 * start: spawns the unit's process and returns its pid (a child of this
 * process), or -1 with err filled. Required.
 *
 * stop: the graceful stop step, for example a daemon.stop request over the
 * unit's NEM channel. Returns 0 when the request was sent, or -1 to make
 * the supervisor send SIGTERM at once. May be NULL (SIGTERM is then the
 * graceful step).
 *
 * exited: called once per exit of the process with its wait status, before
 * the restart policy is applied. sup_unit_start, sup_unit_stop and
 * sup_unit_remove on the unit fail with EBUSY while it runs, so defer them.
 * May be NULL.
 */
struct sup_unit_ops {
	pid_t (*start)(void *arg, struct nem_err *err);
	int (*stop)(void *arg, pid_t pid);
	void (*exited)(void *arg, pid_t pid, int status);
};

/* A snapshot of a unit, for status displays and tests. */
struct sup_unit_info {
	enum sup_state state;
	pid_t pid;		  /* running process, 0 when none */
	int last_status;	  /* wait status of the last exit, -1: none */
	uint64_t starts;	  /* processes started so far */
	uint64_t failures;	  /* restarts since the delay was reset */
	uint64_t restart_delay_ms; /* delay of the pending or last restart */
};

/* Called when a stop or a shutdown has completed. */
typedef void (*sup_done_cb)(void *arg);

/* Called with the wait status of a watched process (see sup_watch). */
typedef void (*sup_watch_cb)(void *arg, pid_t pid, int status);

/* Fills *policy with restart = never and the SUP_DEFAULT_* values. */
void sup_policy_defaults(struct sup_policy *policy);

/*
 * Checks a policy: a known restart value, restart delays between
 * SUP_RESTART_DELAY_MIN_MS and SUP_TIME_MAX_MS with the first no larger
 * than the cap, a restart reset of at most SUP_TIME_MAX_MS and a stop
 * timeout between 1 ms and SUP_TIME_MAX_MS. Returns 0, or -1 with EINVAL
 * and a message naming the field.
 */
int sup_policy_check(const struct sup_policy *policy, struct nem_err *err);

/*
 * Returns the restart delay that follows delay_ms: twice delay_ms, but no
 * more than max_ms. Saturates instead of wrapping for every input,
 * including UINT64_MAX.
 */
uint64_t sup_backoff_next(uint64_t delay_ms, uint64_t max_ms);

/* Returns the lower-case name of a state ("running", "failed", ...). */
const char *sup_state_name(enum sup_state state);

/*
 * Creates the supervisor on base and installs its SIGCHLD event, then
 * schedules one reaping pass for children that exited before. Only one
 * supervisor may exist per process (libevent handles a signal on one base
 * at a time). Returns NULL with err on failure. Free with sup_free.
 */
struct sup *sup_new(struct event_base *base, struct nem_err *err);

/*
 * Frees the supervisor and its units without signalling any process; call
 * it after sup_shutdown has completed. NULL is allowed.
 */
void sup_free(struct sup *sup);

/*
 * Adds a unit in state down. name, policy and ops are copied. name starts
 * every log line about the unit, and policy must pass sup_policy_check.
 * arg is passed to the callbacks and stays owned by the caller. Returns
 * the unit, owned by the supervisor, or NULL with err: EINVAL for an
 * invalid policy or a missing start callback, ECANCELED during shutdown.
 */
struct sup_unit *sup_unit_add(struct sup *sup, const char *name,
    const struct sup_policy *policy, const struct sup_unit_ops *ops,
    void *arg, struct nem_err *err);

/*
 * Starts the unit now: from down, or from backoff and failed without
 * waiting for the timer. Returns 0 when a process is running, or -1 with
 * err: EBUSY when it is running or stopping, ECANCELED during shutdown,
 * otherwise the start callback's error. After a failed start the unit
 * waits for its next restart, or is down for restart = never.
 */
int sup_unit_start(struct sup_unit *unit, struct nem_err *err);

/*
 * Records that the unit, which is down, failed to start for the reason
 * why, when the caller tried the start itself (for example a jail tree
 * allocated before the unit existed). The restart policy then plans the
 * next start as after a failed sup_unit_start. Returns 0, or -1 with err
 * EBUSY when the unit is not down.
 */
int sup_unit_start_failed(struct sup_unit *unit, const struct nem_err *why,
    struct nem_err *err);

/*
 * Stops the unit: cancels a pending restart, or runs the stop sequence on
 * the process (stop callback or SIGTERM, SIGTERM after stop_timeout when
 * the callback was used, SIGKILL after another stop_timeout). done, if not
 * NULL, is called once the unit is down, also when it already was (then
 * before this function returns). Returns 0, or -1 with EALREADY when a
 * stop is already in progress (done is then not called).
 */
int sup_unit_stop(struct sup_unit *unit, sup_done_cb done, void *arg,
    struct nem_err *err);

/*
 * Stops like sup_unit_stop, but when within_ms is not 0 it replaces the
 * policy's stop_timeout for this stop: SIGKILL follows at most within_ms
 * after the stop began (SIGTERM at half of it when the stop callback was
 * used), and a process that survives SIGKILL is reported every within_ms
 * (or its half). Returns 0, or -1 with EALREADY as sup_unit_stop, or
 * EINVAL when within_ms exceeds SUP_TIME_MAX_MS.
 */
int sup_unit_stop_within(struct sup_unit *unit, uint64_t within_ms,
    sup_done_cb done, void *arg, struct nem_err *err);

/*
 * Removes a unit that is down and frees it. Returns 0, or -1 with EBUSY
 * when it is not down.
 */
int sup_unit_remove(struct sup_unit *unit, struct nem_err *err);

/* Fills *info with the unit's current state. */
void sup_unit_info(const struct sup_unit *unit, struct sup_unit_info *info);

/*
 * Fills *plan as sup_unit_info would read once the next restart is
 * planned: state backoff, or failed when the delay is at its cap, with
 * failures and restart_delay_ms. Meant for the exited callback (the plan
 * after this exit) and the start callback when it fails (after this
 * start), both of which run before the supervisor plans the restart.
 */
void sup_unit_restart_plan(const struct sup_unit *unit,
    struct sup_unit_info *plan);

/* Returns the unit's name, owned by the unit. */
const char *sup_unit_name(const struct sup_unit *unit);

/*
 * Hurries a shutdown: every unit that is stopping gets SIGKILL now, and
 * every later stop sends SIGKILL at once instead of a stop request and
 * SIGTERM. Restarts are held as by sup_hold_restarts.
 */
void sup_hurry(struct sup *sup);

/*
 * Holds restarts for good: from now on no restart is planned and no
 * pending restart timer fires, so a unit that exits or fails to start
 * goes down, and a unit waiting to restart (backoff or failed) waits
 * until it is stopped. Explicit starts stay allowed. For a shutdown
 * that stops other things first; sup_shutdown holds restarts itself.
 */
void sup_hold_restarts(struct sup *sup);

/*
 * Stops every unit, one after the other in the reverse order of
 * sup_unit_add, refuses new starts, then calls done(arg). A second call
 * while a shutdown runs does nothing.
 */
void sup_shutdown(struct sup *sup, sup_done_cb done, void *arg);

/*
 * Watches a child process that is not a unit (a helper such as mkfs): cb
 * gets its wait status once it is reaped. The pid must be a child of this
 * process that has not been waited for. Returns 0, or -1 with ENOMEM or
 * EEXIST (pid already watched).
 */
int sup_watch(struct sup *sup, pid_t pid, sup_watch_cb cb, void *arg,
    struct nem_err *err);

/*
 * What sup_spawn_exec starts. argv[0] is an absolute path, and env is a
 * NULL-terminated list of "NAME=value" strings or NULL. stdio[i] becomes fd i in the child
 * (-1: /dev/null); channel becomes fd 3 (-1: none). The descriptors stay
 * owned by the caller.
 */
struct sup_exec {
	const char *const *argv;
	const char *const *env;
	int stdio[3];
	int channel;
};

/*
 * Forks and executes spec->argv outside any jail. The child gets its own
 * session, an empty signal mask, default signal dispositions, fds 0-3 as
 * spec says and every other descriptor closed, and an environment of
 * PATH=/usr/sbin:/usr/bin:/sbin:/bin followed by spec->env (a later entry
 * with the same name wins). Returns the child's pid once the exec has
 * succeeded, or -1 with err (the exec's errno when it failed; the failed
 * child is reaped here).
 */
pid_t sup_spawn_exec(const struct sup_exec *spec, struct nem_err *err);

#endif
