/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The jail lifecycle of the jail manager: one record per jail, moved
 * between states by a state-by-event table. Every transition is written
 * to the state database before the side effect that follows it, so a
 * daemon killed at any point finds on its next start what it was doing.
 * Root processes are supervisor units; this file gives them their channel
 * and log pipe and turns their exits into lifecycle events.
 *
 * Jail lifecycle:
 *
 *   +---------+ start  +---------+ services ready +------------+
 *   | defined |------->| waiting |--------------->| allocating |
 *   +---------+        +---------+                +------------+
 *     ^  |  start, nothing required |                 |      | alloc
 *     |  +--------------------------------------------+      | failed
 *     |                     |                         | ok   v
 *     |                     | stop             +----------+ +--------+
 *     |                     v                  | starting | | failed |
 *     |               +---------+              +----------+ +--------+
 *     |               | stopped |<--+ host.ready |  ^ exit,    ^
 *     |               +---------+   |            v  | restart  |
 *     |   start (stopped, failed) ^ |      +-------+ |          |
 *     +- - - - - - - - - - - - - -+ |      | ready |-+          |
 *                                   |      +-------+            |
 *                                   |  stop  | (also from       |
 *                                   |        v  starting)       |
 *                                   |   +----------+            |
 *                                   |   | stopping |            |
 *                                   |   +----------+            |
 *                                   |        | process down     |
 *                                   |        v                  |
 *                                   |   +---------+  exit with  |
 *                                   +---| freeing |--failure----+
 *                                       +---------+
 *
 * Transitions, by the action that makes them:
 *   defined, stopped, failed --start--> waiting or allocating  act_start
 *   waiting      --services ready--> allocating, then starting
 *                (or failed when alloc or spawn fails)          act_deps
 *   starting     --host.ready--> ready                          act_ready
 *   starting, ready --exit, restart due--> starting, or failed once
 *                the restart delay is at its cap                jail_exited
 *   failed (retrying) --supervisor restart--> starting     jail_unit_start
 *   waiting      --stop--> stopped                              act_stop_idle
 *   starting, ready --stop--> stopping                          act_stop_run
 *   stopping     --process down--> freeing --> stopped          act_down
 *   starting, ready --exit, no restart--> freeing --> stopped
 *                (exit status 0) or failed                      act_exit
 *   defined, stopped, failed --stop--> (unchanged, done at once) act_stop_done
 *   failed (retrying) --stop--> stopping                        act_stop_failed
 *   failed (retrying), starting (waiting to retry) --start--> the next
 *                try now, without the rest of the backoff        act_start
 *   allocating   --stop--> stopping, settled when the allocation ends
 *                                                                act_stop_alloc
 * Allocating is left within the same call when the runtime allocates
 * synchronously, and in on_allocated when it allocates in the background.
 * Every other pair is ignored and logged at debug level.
 *
 * Restarts: each run that ends while the policy restarts it frees the
 * tree, and the supervisor allocates a new one after its backoff delay,
 * doubled per failure up to restart_delay_max and kept at that cap until
 * a run lasts restart_reset. A failed allocation or spawn is retried the
 * same way. Once the delay is at its cap, the jail is marked failed with
 * its last exit status and log tail, and is still retried at the cap, so
 * it recovers by itself when what it lacked comes back.
 *
 * Channel close: when a jail's channel closes while its root process runs
 * (the process closed fd 3, or sent a frame that violates the protocol),
 * the manager logs it and sends SIGTERM to the root process. The restart
 * policy then decides: on-failure and always start it again with a new
 * channel, never ends the jail, which is freed and marked failed.
 */
#include "broker.h"
#include "jailmgr_int.h"
#include "units.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/log.h>
#include <nem/proto.h>

#include "db.h"
#include "names.h"
#include "store.h"

static const char *const state_names[JM_ST_COUNT] = {
	[JM_ST_DEFINED] = "defined",
	[JM_ST_WAITING] = "waiting",
	[JM_ST_ALLOCATING] = "allocating",
	[JM_ST_STARTING] = "starting",
	[JM_ST_READY] = "ready",
	[JM_ST_STOPPING] = "stopping",
	[JM_ST_FREEING] = "freeing",
	[JM_ST_STOPPED] = "stopped",
	[JM_ST_FAILED] = "failed",
};

static const char *const event_names[JM_EV_COUNT] = {
	"start", "deps", "ready", "stop", "exit", "down",
};

typedef void (*jm_action)(struct jm_jail *j);

static void act_ignore(struct jm_jail *);
static void act_start(struct jm_jail *);
static void act_deps(struct jm_jail *);
static void act_ready(struct jm_jail *);
static void act_stop_idle(struct jm_jail *);
static void act_stop_run(struct jm_jail *);
static void act_stop_done(struct jm_jail *);
static void act_stop_failed(struct jm_jail *);
static void act_stop_alloc(struct jm_jail *);
static void act_down(struct jm_jail *);
static void act_exit(struct jm_jail *);

/* The state-by-event table; see the diagram above. */
static const jm_action jm_table[JM_ST_COUNT][JM_EV_COUNT] = {
	/*               START       DEPS        READY       STOP
	 *               EXIT        DOWN */
	[JM_ST_DEFINED] = { act_start, act_ignore, act_ignore, act_stop_done,
			    act_ignore, act_ignore },
	[JM_ST_WAITING] = { act_ignore, act_deps, act_ignore, act_stop_idle,
			    act_ignore, act_ignore },
	[JM_ST_ALLOCATING] = { act_ignore, act_ignore, act_ignore,
			    act_stop_alloc, act_ignore, act_ignore },
	[JM_ST_STARTING] = { act_start, act_ignore, act_ready, act_stop_run,
			    act_exit, act_ignore },
	[JM_ST_READY] =   { act_ignore, act_ignore, act_ignore, act_stop_run,
			    act_exit, act_ignore },
	[JM_ST_STOPPING] = { act_ignore, act_ignore, act_ignore, act_ignore,
			    act_ignore, act_down },
	[JM_ST_FREEING] = { act_ignore, act_ignore, act_ignore, act_ignore,
			    act_ignore, act_ignore },
	[JM_ST_STOPPED] = { act_start, act_ignore, act_ignore, act_stop_done,
			    act_ignore, act_ignore },
	[JM_ST_FAILED] =  { act_start, act_ignore, act_ignore, act_stop_failed,
			    act_ignore, act_ignore },
};

const char *
jm_state_name(enum jm_state state)
{
	if ((unsigned)state >= JM_ST_COUNT)
		return "unknown";
	return state_names[state];
}

uint64_t
jm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Describes a wait status: "exited with status 1", "killed by SIGKILL". */
static const char *
fmt_status(int status, char *buf, size_t len)
{
	if (status == -1)
		snprintf(buf, len, "not started");
	else if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));

		snprintf(buf, len, "killed by SIG%s",
		    abbrev != NULL ? abbrev : "?");
	} else
		snprintf(buf, len, "wait status 0x%x", (unsigned)status);
	return buf;
}

void
jm_emit(struct jm *jm, const char *kind, const char *name, const char *state,
    const char *reason)
{
	struct jm_watcher *w, *next;
	struct jm_event ev = {
		.kind = kind,
		.name = name,
		.state = state,
		.reason = reason != NULL ? reason : "",
		.time = (int64_t)time(NULL),
	};

	for (w = TAILQ_FIRST(&jm->watchers); w != NULL &&
	    ((next = TAILQ_NEXT(w, entry)), 1); w = next)
		w->fn(w->arg, &ev);
}

/*
 * Writes the jail's new state to the database, through the runtime when
 * it keeps the records. Failures are logged and the step goes on.
 * NOTE: a transition that cannot be recorded (a full disk) is still made;
 * recovery at the next start then works from the last recorded state.
 */
static void
record(struct jm_jail *j)
{
	static const char sql[] =
	    "INSERT OR REPLACE INTO jm_jails "
	    "(name, state, reason, last_status, pid, updated) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
	struct jm *jm = j->jm;
	struct nem_err err;
	sqlite3_stmt *st;
	int rc;

	if (jm->rt.record != NULL) {
		if (jm->rt.record(jm->rt.arg, j->name, j->state, j->reason,
		    &err) == -1)
			log_errx("jail %s: record state %s: %s", j->name,
			    jm_state_name(j->state), err.msg);
		return;
	}
	if (db_prepare(jm->db, sql, &st, &err) == -1) {
		log_errx("jail %s: record state %s: %s", j->name,
		    jm_state_name(j->state), err.msg);
		return;
	}
	sqlite3_bind_text(st, 1, j->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, jm_state_name(j->state), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, j->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, j->last_status);
	sqlite3_bind_int(st, 5, (int)j->pid);
	sqlite3_bind_int64(st, 6, j->since);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		db_fail(jm->db, rc, "write jail state", &err);
		log_errx("jail %s: record state %s: %s", j->name,
		    jm_state_name(j->state), err.msg);
	}
	sqlite3_finalize(st);
}

/*
 * Moves j to state with a reason (NULL for none): records it, logs it and
 * notifies the watchers. Callers make the side effect of the step afterwards.
 */
static void
set_state(struct jm_jail *j, enum jm_state state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_state(struct jm_jail *j, enum jm_state state, const char *fmt, ...)
{
	va_list ap;

	j->state = state;
	j->since = (int64_t)time(NULL);
	j->reason[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(j->reason, sizeof(j->reason), fmt, ap);
		va_end(ap);
	}
	record(j);
	if (j->reason[0] != '\0')
		log_info("jail %s: %s: %s", j->name, jm_state_name(state),
		    j->reason);
	else
		log_info("jail %s: %s", j->name, jm_state_name(state));
	jm_emit(j->jm, "jail", j->name, jm_state_name(state), j->reason);
}

void
jm_dispatch(struct jm_jail *j, enum jm_event_kind ev)
{
	log_debug("jail %s: event %s in state %s", j->name, event_names[ev],
	    jm_state_name(j->state));
	jm_table[j->state][ev](j);
}

static void
on_defer(evutil_socket_t fd, short what, void *arg)
{
	struct jm_jail *j = arg;

	jm_dispatch(j, j->deferred_ev);
}

/*
 * Delivers ev from the event loop after the current callback returns, for
 * events raised inside supervisor callbacks, which must not stop or remove
 * the unit themselves.
 */
static void
defer(struct jm_jail *j, enum jm_event_kind ev)
{
	static const struct timeval now = { 0, 0 };

	j->deferred_ev = ev;
	if (evtimer_add(j->defer, &now) == -1)
		log_errx("jail %s: cannot schedule the %s event", j->name,
		    event_names[ev]);
}

bool
jm_jail_active(const struct jm_jail *j)
{
	/* A failed jail that still has a unit is retried, so it is active. */
	if (j->state == JM_ST_FAILED)
		return j->unit != NULL;
	return j->state != JM_ST_DEFINED && j->state != JM_ST_STOPPED;
}

static void
finish_waiters(struct jm_jail *j)
{
	struct jm_stop_waiter *w;

	while ((w = TAILQ_FIRST(&j->waiters)) != NULL) {
		TAILQ_REMOVE(&j->waiters, w, entry);
		if (w->done != NULL)
			w->done(w->arg);
		free(w);
	}
}

/*
 * Returns the first required service that no ready jail provides, or
 * NULL when every one is. *provider_known is set to whether any jail
 * record provides it at all.
 */
static const char *
missing_service(const struct jm_jail *j, bool *provider_known)
{
	const struct jm_jail *p;

	for (size_t i = 0; i < j->cfg->nrequires; i++) {
		const char *svc = j->cfg->requires[i].name;
		bool found = false, known = false;

		TAILQ_FOREACH(p, &j->jm->jails, entry) {
			if (p == j || p->cfg == NULL)
				continue;
			for (size_t k = 0; k < p->cfg->nprovides; k++) {
				if (strcmp(p->cfg->provides[k].name, svc) != 0)
					continue;
				known = true;
				if (p->state == JM_ST_READY)
					found = true;
			}
		}
		if (!found) {
			*provider_known = known;
			return svc;
		}
	}
	return NULL;
}

void
jm_deps_changed(struct jm *jm)
{
	struct jm_jail *j, *next;

	for (j = TAILQ_FIRST(&jm->jails); j != NULL &&
	    ((next = TAILQ_NEXT(j, entry)), 1); j = next) {
		if (j->state == JM_ST_WAITING)
			jm_dispatch(j, JM_EV_DEPS);
	}
}

static void
act_ignore(struct jm_jail *j)
{
}

/*
 * Resolves every image mount of cfg with the store into *out, a malloc'ed
 * array of cfg->nmounts entries: the SHA-256 of the image for an image
 * mount, NULL for the others. Without a store *out is NULL and the
 * runtime looks the images up at each allocation. Returns 0, or -1 with
 * err: the store's ENOENT naming the image and the versions it has,
 * EINVAL, ENOMEM.
 */
int
jm_resolve(struct jm *jm, const struct cfg_jail *cfg, char ***out,
    struct nem_err *err)
{
	struct store_image img;
	char **r;

	*out = NULL;
	if (jm->store == NULL)
		return 0;
	r = calloc(cfg->nmounts + 1, sizeof(*r));
	if (r == NULL)
		return nem_err_sys(err, ENOMEM, "jail %s: resolve images",
		    cfg->name);
	for (size_t i = 0; i < cfg->nmounts; i++) {
		const struct cfg_mount *m = &cfg->mounts[i];

		if (m->type != CFG_MOUNT_IMAGE)
			continue;
		if (store_lookup(jm->store, m->image, m->version, m->sha256,
		    &img, err) == -1) {
			nem_err_prefix(err, "jail %s: mount image at %s",
			    cfg->name, m->dest);
			jm_resolved_free(r, cfg);
			return -1;
		}
		r[i] = strdup(img.sha256);
		if (r[i] == NULL) {
			jm_resolved_free(r, cfg);
			return nem_err_sys(err, ENOMEM, "jail %s: resolve "
			    "images", cfg->name);
		}
	}
	*out = r;
	return 0;
}

/* Frees an array made by jm_resolve for cfg. NULL is allowed. */
void
jm_resolved_free(char **resolved, const struct cfg_jail *cfg)
{
	if (resolved == NULL)
		return;
	for (size_t i = 0; i < cfg->nmounts; i++)
		free(resolved[i]);
	free(resolved);
}

/* Returns true when two resolutions of cfg name the same files. */
bool
jm_resolved_equal(char **a, char **b, const struct cfg_jail *cfg)
{
	if (a == NULL || b == NULL)
		return a == b;
	for (size_t i = 0; i < cfg->nmounts; i++) {
		if ((a[i] == NULL) != (b[i] == NULL) ||
		    (a[i] != NULL && strcmp(a[i], b[i]) != 0))
			return false;
	}
	return true;
}

/* Appends the digests of resolved (for cfg) to v, which has room. */
static void
collect_refs(char **resolved, const struct cfg_jail *cfg, const char **v,
    size_t *n)
{
	if (resolved == NULL || cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->nmounts; i++) {
		if (resolved[i] != NULL)
			v[(*n)++] = resolved[i];
	}
}

/*
 * Records in the store the images that the jail's description and its
 * pending one resolved to, so that they cannot be removed while a jail
 * description uses them. Failures are logged.
 */
void
jm_refs_sync(struct jm_jail *j)
{
	struct jm *jm = j->jm;
	struct nem_err err;
	const char **v;
	size_t n = 0, cap = 1;

	if (jm->store == NULL)
		return;
	if (j->cfg != NULL)
		cap += j->cfg->nmounts;
	if (j->pending != NULL)
		cap += j->pending->nmounts;
	v = calloc(cap, sizeof(*v));
	if (v == NULL) {
		log_errx("jail %s: record image references: out of memory",
		    j->name);
		return;
	}
	collect_refs(j->resolved, j->cfg, v, &n);
	collect_refs(j->pending_resolved, j->pending, v, &n);
	if (store_refs_set(jm->store, j->name, v, n, &err) == -1)
		log_errx("jail %s: record image references: %s", j->name,
		    err.msg);
	free(v);
}

/*
 * Resolves the images of j's description when they are not resolved yet
 * (the store lacked an image when the description was applied), and
 * records them. Returns 0, or -1 with err.
 */
static int
resolve_tree(struct jm_jail *j, struct nem_err *err)
{
	struct jm *jm = j->jm;

	if (jm->store != NULL && j->resolved == NULL) {
		if (jm_resolve(jm, j->cfg, &j->resolved, err) == -1)
			return -1;
		jm_refs_sync(j);
	}
	return 0;
}

/*
 * Allocates the jail's tree with the images its description resolved to,
 * resolving them first when needed (resolve_tree). Failure
 * messages already name the jail and the failed step ("jail NAME:
 * allocation failed: ..." from jail_alloc), so callers use them as they
 * are.
 */
static void *
alloc_tree(struct jm_jail *j, struct nem_err *err)
{
	struct jm *jm = j->jm;

	if (resolve_tree(j, err) == -1)
		return NULL;
	if (jm->rt.alloc_resolved != NULL)
		return jm->rt.alloc_resolved(jm->rt.arg, j->cfg,
		    (const char *const *)j->resolved, err);
	return jm->rt.alloc(jm->rt.arg, j->cfg, err);
}

/* Frees the jail's tree, if it has one. Failures are logged. */
static void
free_tree(struct jm_jail *j)
{
	struct jm *jm = j->jm;
	struct nem_err err;

	if (j->handle == NULL)
		return;
	if (jm->rt.free(jm->rt.arg, j->handle, &err) == -1)
		log_errx("jail %s: free: %s; the next start or daemon restart "
		    "retries the cleanup", j->name, err.msg);
	j->handle = NULL;
}

/* The supervisor unit of a jail: callbacks. */

/*
 * Time a root process gets to exit by itself after its channel closed,
 * because a process that exits closes fd 3 a moment before it can be
 * reaped, and that is no reason to signal it.
 */
#define JM_CHAN_GRACE_MS 500

static void
on_chan_grace(evutil_socket_t fd, short what, void *arg)
{
	struct jm_jail *j = arg;
	struct timeval tv;
	uint64_t ms = j->cfg->policy.stop_timeout_ms;

	if (j->pid <= 0 || j->state == JM_ST_STOPPING)
		return;

	/*
	 * j->pid is a child that the supervisor has not reaped yet (its
	 * exit callback clears j->pid and cancels this timer), so the
	 * signal cannot reach a recycled pid. A jail's root process is the
	 * init of its PID namespace and ignores SIGTERM unless it handles
	 * it, hence SIGKILL after the stop timeout.
	 */
	if (j->chan_term_sent) {
		log_warn("jail %s: root process %d still runs %" PRIu64 " ms "
		    "after SIGTERM; sending SIGKILL", j->name, (int)j->pid,
		    ms);
		if (kill(j->pid, SIGKILL) == -1)
			log_err("jail %s: SIGKILL to pid %d", j->name,
			    (int)j->pid);
		return;
	}
	log_warn("jail %s: channel closed while the root process %d runs; "
	    "sending SIGTERM, the restart policy decides what follows",
	    j->name, (int)j->pid);
	logfile_note(j->log, "rootd: channel closed; sending SIGTERM to %d",
	    (int)j->pid);
	if (kill(j->pid, SIGTERM) == -1)
		log_err("jail %s: SIGTERM to pid %d", j->name, (int)j->pid);
	j->chan_term_sent = true;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (evtimer_add(j->chan_grace, &tv) == -1)
		log_errx("jail %s: cannot schedule SIGKILL", j->name);
}

static void
on_chan_close(struct chan *ch, const struct nem_err *why, void *arg)
{
	struct jm_jail *j = arg;
	const struct timeval grace = { 0, JM_CHAN_GRACE_MS * 1000 };

	if (j->chan != ch || j->pid <= 0 || j->state == JM_ST_STOPPING)
		return;
	j->chan_term_sent = false;
	if (evtimer_add(j->chan_grace, &grace) == -1)
		log_errx("jail %s: cannot schedule the channel close check",
		    j->name);
}

static void add_log_tail(struct jm_jail *j, char *reason, size_t len);

/*
 * Writes the reason of a jail that keeps failing: what happened last, the
 * failures in a row, when the next try comes, and the tail of its log.
 */
static void
crash_loop_reason(struct jm_jail *j, const char *what,
    const struct sup_unit_info *plan, char *reason, size_t len)
{
	char delay[32], reset[32];

	snprintf(reason, len, "%.200s; %" PRIu64 " runs or "
	    "starts in a row ended before %s, next try in %s", what,
	    plan->failures, units_format_duration(
	    j->cfg->policy.restart_reset_ms, reset, sizeof(reset)),
	    units_format_duration(plan->restart_delay_ms, delay,
	    sizeof(delay)));
	add_log_tail(j, reason, len);
}

/*
 * Counts a failed start, which the supervisor retries after its backoff,
 * and marks the jail failed once the restart delay is at its cap.
 */
static void
start_failed(struct jm_jail *j, const struct nem_err *err)
{
	struct sup_unit_info plan;
	char reason[JM_REASON_MAX], what[JM_REASON_MAX];

	snprintf(j->start_err, sizeof(j->start_err), "%.200s", err->msg);
	j->fails++;
	if (j->unit == NULL || j->cfg->policy.restart == CFG_RESTART_NEVER ||
	    j->jm->shutting_down)
		return;
	sup_unit_restart_plan(j->unit, &plan);
	if (plan.state != SUP_ST_FAILED) {
		char delay[32];

		set_state(j, JM_ST_STARTING, "start failed: %.600s; next try "
		    "in %s (%u failure%s in a row)", err->msg,
		    units_format_duration(plan.restart_delay_ms, delay,
		    sizeof(delay)), j->fails, j->fails == 1 ? "" : "s");
		return;
	}
	snprintf(what, sizeof(what), "start failed: %.600s", err->msg);
	crash_loop_reason(j, what, &plan, reason, sizeof(reason));
	set_state(j, JM_ST_FAILED, "%s", reason);
}

/*
 * Starts one run of the root process. Every run gets a fresh tree: the
 * first run's tree is made by allocate_and_spawn, the tree of each
 * restart here, because the runtime starts one process per allocation.
 */
static pid_t
jail_unit_start(void *arg, struct nem_err *err)
{
	struct jm_jail *j = arg;
	struct jm *jm = j->jm;
	static const char *const env[] = { "NEM_FD=3", NULL };
	int stdio[3];
	int child_fd;
	pid_t pid;

	/*
	 * A retry after failures finds a required service gone: the jail is
	 * stopped and started again, which makes it wait for the service.
	 */
	if (j->handle == NULL) {
		bool known;
		const char *svc = missing_service(j, &known);

		if (svc != NULL) {
			nem_err_set(err, EAGAIN, "jail %s: required service %s "
			    "is not provided by a ready jail; waiting for it",
			    j->name, svc);
			j->start_after_stop = true;
			defer(j, JM_EV_STOP);
			return -1;
		}
	}
	if (j->handle == NULL) {
		j->handle = alloc_tree(j, err);
		if (j->handle == NULL) {
			logfile_note(j->log, "rootd: %s", err->msg);
			start_failed(j, err);
			return -1;
		}
	}

	/* The channel of the previous run, if any, ends here. */
	chan_free(j->chan);
	j->chan = chan_open(jm->base, CHAN_JAIL, j->name, jm->handlers,
	    jm->nhandlers, &child_fd, err);
	if (j->chan == NULL) {
		start_failed(j, err);
		return -1;
	}
	chan_set_owner(j->chan, j);
	chan_set_close_cb(j->chan, on_chan_close, j);

	stdio[0] = jm->devnull;
	stdio[1] = stdio[2] = logfile_fd(j->log);
	pid = jm->rt.spawn(jm->rt.arg, j->handle, j->cfg, stdio, child_fd,
	    env, err);
	close(child_fd);
	if (pid == -1) {
		logfile_note(j->log, "rootd: start failed: %s", err->msg);
		chan_free(j->chan);
		j->chan = NULL;
		free_tree(j);
		start_failed(j, err);
		return -1;
	}
	j->pid = pid;
	j->start_err[0] = '\0';
	j->run_started_ms = jm_now_ms();
	jm_pid_remember(jm, j->dir, pid);
	logfile_note(j->log, "rootd: started root process %d", (int)pid);
	/* Replace the reason of the previous failure once this try runs. */
	if (j->state == JM_ST_FAILED ||
	    (j->state == JM_ST_STARTING && j->reason[0] != '\0')) {
		struct sup_unit_info info;

		sup_unit_info(j->unit, &info);
		set_state(j, JM_ST_STARTING, "trying again after %" PRIu64
		    " short runs or failed starts in a row", info.failures);
	}
	return pid;
}

static int
jail_unit_stop(void *arg, pid_t pid)
{
	struct jm_jail *j = arg;
	struct nem_err err;

	if (j->chan == NULL || chan_request_stop(j->chan, &err) == -1)
		return -1;
	log_info("jail %s: sent daemon.stop to pid %d", j->name, (int)pid);
	return 0;
}

static bool
exit_failed(int status)
{
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
jail_unit_exited(void *arg, pid_t pid, int status)
{
	struct jm_jail *j = arg;
	struct jm *jm = j->jm;
	struct sup_unit_info plan;
	char desc[64];
	bool restart, was_ready;

	fmt_status(status, desc, sizeof(desc));
	j->last_status = status;
	j->pid = 0;
	evtimer_del(j->chan_grace);
	jm_pid_forget(jm, j->dir);
	if (jm->rt.exited != NULL)
		jm->rt.exited(jm->rt.arg, j->handle, pid);
	logfile_note(j->log, "rootd: root process %d %s", (int)pid, desc);
	chan_free(j->chan);
	j->chan = NULL;
	if (j->state == JM_ST_STOPPING)
		return;

	if (jm_now_ms() - j->run_started_ms >= j->cfg->policy.restart_reset_ms)
		j->fails = 0;
	if (exit_failed(status))
		j->fails++;
	switch (j->cfg->policy.restart) {
	case CFG_RESTART_ALWAYS:
		restart = true;
		break;
	case CFG_RESTART_ON_FAILURE:
		restart = exit_failed(status);
		break;
	case CFG_RESTART_NEVER:
	default:
		restart = false;
		break;
	}
	if (jm->shutting_down)
		restart = false;

	if (!restart) {
		free_tree(j);
		defer(j, JM_EV_EXIT);
		return;
	}

	was_ready = j->state == JM_ST_READY;
	sup_unit_restart_plan(j->unit, &plan);
	if (plan.state == SUP_ST_FAILED) {
		char reason[JM_REASON_MAX], what[96];

		/* Recorded after the free, which records the row stopped. */
		free_tree(j);
		snprintf(what, sizeof(what), "root process %s", desc);
		crash_loop_reason(j, what, &plan, reason, sizeof(reason));
		set_state(j, JM_ST_FAILED, "%s", reason);
	} else {
		char delay[32];

		set_state(j, JM_ST_STARTING, "root process %d %s; restarting "
		    "in %s (%u failure%s in a row)", (int)pid, desc,
		    units_format_duration(plan.restart_delay_ms, delay,
		    sizeof(delay)), j->fails, j->fails == 1 ? "" : "s");
		free_tree(j);
	}
	if (was_ready)
		jm_deps_changed(jm);
}

static const struct sup_unit_ops jail_unit_ops = {
	.start = jail_unit_start,
	.stop = jail_unit_stop,
	.exited = jail_unit_exited,
};

void
jm_policy_from_cfg(const struct cfg_policy *in, struct sup_policy *out)
{
	switch (in->restart) {
	case CFG_RESTART_ALWAYS:
		out->restart = SUP_RESTART_ALWAYS;
		break;
	case CFG_RESTART_ON_FAILURE:
		out->restart = SUP_RESTART_ON_FAILURE;
		break;
	case CFG_RESTART_NEVER:
	default:
		out->restart = SUP_RESTART_NEVER;
		break;
	}
	out->restart_delay_ms = in->restart_delay_ms;
	out->restart_delay_max_ms = in->restart_delay_max_ms;
	out->restart_reset_ms = in->restart_reset_ms;
	out->stop_timeout_ms = in->stop_timeout_ms;
}

/*
 * Finishes what waited for the jail to stop: its removal, a restart with
 * a changed description, or the next step of the shutdown. j may be
 * freed on return.
 */
static void
after_stop(struct jm_jail *j)
{
	struct jm *jm = j->jm;

	if (j->remove_after_stop) {
		jm_jail_destroy(j);
	} else {
		if (j->pending != NULL) {
			jm_resolved_free(j->resolved, j->cfg);
			cfg_jail_free(j->cfg);
			j->cfg = j->pending;
			j->resolved = j->pending_resolved;
			j->pending = NULL;
			j->pending_resolved = NULL;
			jm_refs_sync(j);
		}
		if (j->start_after_stop && !jm->shutting_down) {
			j->start_after_stop = false;
			jm_dispatch(j, JM_EV_START);
		}
	}
	if (jm->shutting_down)
		jm_shutdown_step(jm);
}

/*
 * Frees the jail's tree after its process is down and moves it to its
 * final state: stopped, or failed with reason (fmt non-NULL).
 */
static void
free_and_settle(struct jm_jail *j, enum jm_state final, const char *reason)
{
	struct jm *jm = j->jm;
	struct nem_err err;

	set_state(j, JM_ST_FREEING, NULL);
	if (j->unit != NULL && sup_unit_remove(j->unit, &err) == -1)
		log_errx("jail %s: %s", j->name, err.msg);
	else
		j->unit = NULL;
	chan_free(j->chan);
	j->chan = NULL;
	free_tree(j);
	if (final == JM_ST_FAILED)
		set_state(j, JM_ST_FAILED, "%s", reason);
	else
		set_state(j, JM_ST_STOPPED, NULL);
	finish_waiters(j);
	jm_deps_changed(jm);
	after_stop(j);
}

/* Adds j's supervisor unit with the policy of its description. */
static int
add_unit(struct jm_jail *j, struct nem_err *err)
{
	struct sup_policy policy;

	jm_policy_from_cfg(&j->cfg->policy, &policy);
	j->unit = sup_unit_add(j->jm->sup, j->name, &policy, &jail_unit_ops,
	    j, err);
	return j->unit == NULL ? -1 : 0;
}

/*
 * Handles a failed first allocation of j: with restart = never, or during
 * the shutdown, j is failed; otherwise it is retried like a failed start,
 * after the backoff of its restart policy.
 */
static void
allocation_failed(struct jm_jail *j, const struct nem_err *err)
{
	struct nem_err e;

	logfile_note(j->log, "rootd: %s", err->msg);
	if (j->cfg->policy.restart != CFG_RESTART_NEVER &&
	    !j->jm->shutting_down && add_unit(j, &e) == 0) {
		start_failed(j, err);
		if (sup_unit_start_failed(j->unit, err, &e) == 0)
			return;
		log_errx("jail %s: %s", j->name, e.msg);
		free_and_settle(j, JM_ST_FAILED, err->msg);
		return;
	}
	set_state(j, JM_ST_FAILED, "%s", err->msg);
	finish_waiters(j);
}

/* Starts the root process in the tree j->handle that was just allocated. */
static void
spawn_allocated(struct jm_jail *j)
{
	struct sup_unit_info info;
	struct nem_err err;

	set_state(j, JM_ST_STARTING, NULL);
	if (add_unit(j, &err) == -1) {
		free_and_settle(j, JM_ST_FAILED, err.msg);
		return;
	}
	if (sup_unit_start(j->unit, &err) == 0)
		return;

	/* A failed start is retried by the restart policy, unless it has
	 * none, in which case the unit is down now. */
	sup_unit_info(j->unit, &info);
	if (info.state == SUP_ST_DOWN) {
		char reason[JM_REASON_MAX];

		snprintf(reason, sizeof(reason), "start failed: %.200s", err.msg);
		free_and_settle(j, JM_ST_FAILED, reason);
	}
}

/*
 * Ends a background allocation of j: starts the root process, or marks j
 * failed, or, when a stop arrived meanwhile, frees the tree and settles
 * j as stopped.
 */
static void
on_allocated(void *arg, void *handle, const struct nem_err *err)
{
	struct jm_jail *j = arg;

	j->allocating = false;
	j->handle = handle;
	if (j->state == JM_ST_STOPPING) {
		free_and_settle(j, JM_ST_STOPPED, NULL);
		return;
	}
	if (handle == NULL) {
		allocation_failed(j, err);
		return;
	}
	spawn_allocated(j);
}

/*
 * Allocates the tree and starts the root process. Called in state
 * waiting or while leaving defined, stopped or failed. With a runtime
 * that allocates in the background, jails that become startable together
 * are allocated side by side and each starts as soon as its tree is made.
 * Restarts allocate on the event loop, one jail at a time.
 */
static void
allocate_and_spawn(struct jm_jail *j)
{
	struct jm *jm = j->jm;
	struct nem_err err;

	set_state(j, JM_ST_ALLOCATING, NULL);
	if (jm->rt.alloc_async != NULL) {
		if (resolve_tree(j, &err) == -1 ||
		    jm->rt.alloc_async(jm->rt.async_arg, j->cfg,
		    (const char *const *)j->resolved, on_allocated, j,
		    &err) == -1) {
			allocation_failed(j, &err);
			return;
		}
		j->allocating = true;
		return;
	}
	j->handle = alloc_tree(j, &err);
	if (j->handle == NULL) {
		allocation_failed(j, &err);
		return;
	}
	spawn_allocated(j);
}

/* A stop during a background allocation waits for it to end. */
static void
act_stop_alloc(struct jm_jail *j)
{
	if (!j->allocating)
		return;
	j->stop_timeout_ms = 0;
	set_state(j, JM_ST_STOPPING, "stopping once its allocation ends");
}

/* Returns the jail other than j that still has a tree with volume. */
static const struct jm_jail *
volume_user(const struct jm_jail *j, const char *volume)
{
	const struct jm_jail *o;

	TAILQ_FOREACH(o, &j->jm->jails, entry) {
		if (o == j || o->cfg == NULL ||
		    (o->handle == NULL && !o->allocating))
			continue;
		for (size_t i = 0; i < o->cfg->nmounts; i++) {
			const char *v = o->cfg->mounts[i].volume;

			if (v != NULL && strcmp(v, volume) == 0)
				return o;
		}
	}
	return NULL;
}

/*
 * Returns true, with why in reason, when j cannot be allocated yet. Either
 * a service it requires has no ready provider, or one of its persistent
 * volumes is still mounted in another jail's tree, such as a jail that
 * stops because its description was removed. A waiting jail is tried
 * again whenever a jail becomes ready or is freed.
 */
static bool
must_wait(const struct jm_jail *j, char *reason, size_t len)
{
	bool known;
	const char *svc = missing_service(j, &known);

	if (svc != NULL) {
		snprintf(reason, len, "waiting for service %s%s", svc,
		    known ? "" : " (no jail provides it)");
		return true;
	}
	for (size_t i = 0; i < j->cfg->nmounts; i++) {
		const struct cfg_mount *m = &j->cfg->mounts[i];
		const struct jm_jail *o;

		if (m->volume == NULL || (o = volume_user(j, m->volume)) == NULL)
			continue;
		snprintf(reason, len, "waiting for volume %s, still used by "
		    "jail %s", m->volume, o->name);
		return true;
	}
	return false;
}

static void
act_start(struct jm_jail *j)
{
	char reason[JM_REASON_MAX];

	/* A jail that waits for its next try is tried now, not at its
	 * timer. */
	if (j->unit != NULL) {
		struct nem_err err;

		if (sup_unit_start(j->unit, &err) == -1)
			log_info("jail %s: %s", j->name, err.msg);
		return;
	}

	j->fails = 0;
	j->last_status = -1;
	if ((j->state == JM_ST_STOPPED || j->state == JM_ST_FAILED ||
	    j->state == JM_ST_DEFINED) && must_wait(j, reason,
	    sizeof(reason))) {
		set_state(j, JM_ST_WAITING, "%s", reason);
		return;
	}
	allocate_and_spawn(j);
}

static void
act_deps(struct jm_jail *j)
{
	char reason[JM_REASON_MAX];

	if (must_wait(j, reason, sizeof(reason))) {
		if (strcmp(reason, j->reason) != 0)
			set_state(j, JM_ST_WAITING, "%s", reason);
		return;
	}
	allocate_and_spawn(j);
}

static void
act_ready(struct jm_jail *j)
{
	set_state(j, JM_ST_READY, NULL);
	logfile_note(j->log, "rootd: ready");
	jm_deps_changed(j->jm);
}

static void
act_stop_idle(struct jm_jail *j)
{
	set_state(j, JM_ST_STOPPED, NULL);
	finish_waiters(j);
	after_stop(j);
}

static void
act_stop_done(struct jm_jail *j)
{
	finish_waiters(j);
	if (j->remove_after_stop)
		jm_jail_destroy(j);
}

static void
act_stop_failed(struct jm_jail *j)
{
	if (j->unit != NULL)
		act_stop_run(j);
	else
		act_stop_done(j);
}

static void
on_unit_down(void *arg)
{
	struct jm_jail *j = arg;

	jm_dispatch(j, JM_EV_DOWN);
}

static void
act_stop_run(struct jm_jail *j)
{
	struct nem_err err;
	uint64_t timeout_ms = j->stop_timeout_ms;

	j->stop_timeout_ms = 0;
	set_state(j, JM_ST_STOPPING, NULL);
	if (sup_unit_stop_within(j->unit, timeout_ms, on_unit_down, j,
	    &err) == -1)
		log_debug("jail %s: %s", j->name, err.msg);
}

static void
act_down(struct jm_jail *j)
{
	free_and_settle(j, JM_ST_STOPPED, NULL);
}

/*
 * Appends the last lines of the jail's log to reason, joined by " | " so
 * the reason stays one line. The daemon's notes of each start and exit,
 * which the reason states already, and a first line cut by the tail's
 * size are left out.
 */
static void
add_log_tail(struct jm_jail *j, char *reason, size_t len)
{
	char *tail, *line, *save, *lines[64];
	size_t n, used, room, nlines = 0, first;
	struct nem_err err;

	if (logfile_tail(logfile_path(j->log), JM_LOG_TAIL_BYTES, &tail, &n,
	    &err) == -1) {
		log_debug("jail %s: %s", j->name, err.msg);
		return;
	}
	for (line = strtok_r(tail, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line == tail && n >= JM_LOG_TAIL_BYTES)
			continue;
		if (strncmp(line, "rootd: started root process ", 28) == 0 ||
		    strncmp(line, "rootd: root process ", 20) == 0 ||
		    line[0] == '\0')
			continue;
		if (nlines == sizeof(lines) / sizeof(lines[0])) {
			memmove(lines, lines + 1, (nlines - 1) * sizeof(*lines));
			nlines--;
		}
		lines[nlines++] = line;
	}

	/* Keep the last lines that fit whole. */
	used = strlen(reason);
	room = len > used + 16 ? len - used - 16 : 0;
	first = nlines;
	for (size_t total = 0; first > 0; first--) {
		total += strlen(lines[first - 1]) + 3;
		if (total > room)
			break;
	}
	if (first < nlines) {
		used += (size_t)snprintf(reason + used, len - used,
		    "; log tail: %s", lines[first]);
		for (size_t i = first + 1; i < nlines && used < len; i++)
			used += (size_t)snprintf(reason + used, len - used,
			    " | %s", lines[i]);
	}
	free(tail);
}

static void
act_exit(struct jm_jail *j)
{
	char desc[64], reason[JM_REASON_MAX];

	if (!exit_failed(j->last_status)) {
		free_and_settle(j, JM_ST_STOPPED, NULL);
		return;
	}
	snprintf(reason, sizeof(reason), "root process %s",
	    fmt_status(j->last_status, desc, sizeof(desc)));
	add_log_tail(j, reason, sizeof(reason));
	free_and_settle(j, JM_ST_FAILED, reason);
}

/* Channel handlers every jail and host channel gets. */

static void
on_host_ready(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct chan *ch = chan_of_conn(nem_txn_conn(t));
	struct nem_send s = NEM_SEND_INIT;

	if (ch == NULL) {
		nem_txn_fail(t, NEM_E_INTERNAL, "not a channel", NULL);
		return;
	}
	if (msg->body_len != 0) {
		nem_txn_fail(t, NEM_E_INVALID, "host.ready takes an empty "
		    "body", NULL);
		return;
	}
	nem_txn_reply(t, &s, NULL);
	if (chan_kind(ch) == CHAN_JAIL) {
		struct jm_jail *j = chan_owner(ch);

		/* A late frame of an old run is not this run's readiness. */
		if (j != NULL && j->chan == ch)
			jm_dispatch(j, JM_EV_READY);
	} else {
		jm_host_ready(chan_owner(ch));
	}
}

static void
on_daemon_info(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct jm *jm = arg;
	struct nem_send s = NEM_SEND_INIT;
	bson_t doc = BSON_INITIALIZER;

	BSON_APPEND_UTF8(&doc, "name", "nem-rootd");
	BSON_APPEND_UTF8(&doc, "version", jm->version);
	BSON_APPEND_INT64(&doc, "pid", (int64_t)getpid());
	s.body = bson_get_data(&doc);
	s.body_len = doc.len;
	nem_txn_reply(t, &s, NULL);
	bson_destroy(&doc);
}

int
jm_handlers_install(struct jm *jm)
{
	struct chan_handler base[] = {
		{ NEM_SVC_HOST, CHAN_HOST_READY, on_host_ready, jm },
		{ NEM_SVC_DAEMON, NEM_DAEMON_INFO, on_daemon_info, jm },
	};
	size_t n = sizeof(base) / sizeof(base[0]);

	jm->handlers = calloc(n, sizeof(*jm->handlers));
	if (jm->handlers == NULL)
		return -1;
	memcpy(jm->handlers, base, sizeof(base));
	jm->nhandlers = n;
	return 0;
}

int
jm_channel_handle(struct jm *jm, const struct chan_handler *h,
    struct nem_err *err)
{
	struct chan_handler *v;

	for (size_t i = 0; i < jm->nhandlers; i++) {
		if (jm->handlers[i].service == h->service &&
		    jm->handlers[i].command == h->command)
			return nem_err_set(err, EEXIST, "channel handler for "
			    "service %u command %u exists", h->service,
			    h->command);
	}
	v = reallocarray(jm->handlers, jm->nhandlers + 1, sizeof(*v));
	if (v == NULL)
		return nem_err_sys(err, ENOMEM, "add channel handler");
	v[jm->nhandlers++] = *h;
	jm->handlers = v;
	return 0;
}

/*
 * Root processes of the previous daemon. A daemon killed with SIGKILL
 * leaves its jails' root processes running, and their mount namespaces
 * keep loop devices busy, so the next daemon ends them before recovery.
 * Each process is remembered with its start time (field 22 of
 * /proc/PID/stat), so a recycled pid is never signalled.
 */

/* Reads the start time of pid in clock ticks; returns 0 when unknown. */
static unsigned long long
proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long start = 0;
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';

	/* The command name may contain spaces; fields follow the last ')'.
	 * After it come state (field 3) up to starttime (field 22). */
	p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	p++;
	for (int field = 3; field <= 22 && p != NULL; field++) {
		while (*p == ' ')
			p++;
		if (field == 22) {
			start = strtoull(p, NULL, 10);
			break;
		}
		p = strchr(p, ' ');
	}
	return start;
}

void
jm_pid_remember(struct jm *jm, const char *key, pid_t pid)
{
	struct nem_err err;
	sqlite3_stmt *st;

	if (db_prepare(jm->db, "INSERT OR REPLACE INTO jm_pids (key, pid, "
	    "start_time) VALUES (?1, ?2, ?3)", &st, &err) == -1) {
		log_errx("%s: remember pid %d: %s", key, (int)pid, err.msg);
		return;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, pid);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)proc_start_time(pid));
	if (sqlite3_step(st) != SQLITE_DONE)
		log_errx("%s: remember pid %d: %s", key, (int)pid,
		    sqlite3_errmsg(db_sqlite(jm->db)));
	sqlite3_finalize(st);
}

void
jm_pid_forget(struct jm *jm, const char *key)
{
	struct nem_err err;
	sqlite3_stmt *st;

	if (db_prepare(jm->db, "DELETE FROM jm_pids WHERE key = ?1", &st,
	    &err) == -1) {
		log_errx("%s: forget pid: %s", key, err.msg);
		return;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_errx("%s: forget pid: %s", key,
		    sqlite3_errmsg(db_sqlite(jm->db)));
	sqlite3_finalize(st);
}

void
jm_pid_reap_stale(struct jm *jm)
{
	struct nem_err err;
	sqlite3_stmt *st;

	if (db_prepare(jm->db, "SELECT key, pid, start_time FROM jm_pids",
	    &st, &err) == -1) {
		log_errx("read remembered pids: %s", err.msg);
		return;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		pid_t pid = (pid_t)sqlite3_column_int64(st, 1);
		unsigned long long start =
		    (unsigned long long)sqlite3_column_int64(st, 2);

		if (pid <= 1 || start == 0 || proc_start_time(pid) != start)
			continue;
		log_warn("%s: pid %d of the previous daemon still runs; "
		    "sending SIGKILL", key, (int)pid);
		if (kill(pid, SIGKILL) == -1) {
			log_err("%s: SIGKILL to pid %d", key, (int)pid);
			continue;
		}

		/* It is not our child: wait for it to vanish, at most 5 s. */
		for (int i = 0; i < 500 && proc_start_time(pid) == start; i++)
			usleep(10000);
	}
	sqlite3_finalize(st);
	if (db_exec(jm->db, "DELETE FROM jm_pids", &err) == -1)
		log_errx("clear remembered pids: %s", err.msg);
}

/* Records. */

/* Creates dir and its missing parents with mode 0700. */
static int
make_dirs(const char *dir, struct nem_err *err)
{
	char *copy = strdup(dir);

	if (copy == NULL)
		return nem_err_sys(err, ENOMEM, "create %s", dir);
	for (char *p = copy + 1; ; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) == -1 && errno != EEXIST) {
			nem_err_sys(err, errno, "create directory %s", copy);
			free(copy);
			return -1;
		}
		if (last)
			break;
		*p = '/';
	}
	free(copy);
	return 0;
}

int
jm_open_log(struct jm *jm, const char *dir, const char *file,
    struct logfile **out, struct nem_err *err)
{
	char *path;

	if (make_dirs(dir, err) == -1)
		return -1;
	if (asprintf(&path, "%s/%s", dir, file) == -1)
		return nem_err_sys(err, ENOMEM, "log path in %s", dir);
	*out = logfile_open(jm->base, path, jm->log_max_bytes, err);
	free(path);
	return *out == NULL ? -1 : 0;
}

struct jm_jail *
jm_jail_find(const struct jm *jm, const char *name)
{
	struct jm_jail *j;

	TAILQ_FOREACH(j, &jm->jails, entry) {
		if (strcmp(j->name, name) == 0)
			return j;
	}
	return NULL;
}

struct jm_jail *
jm_jail_new(struct jm *jm, const char *name, struct nem_err *err)
{
	struct jm_jail *j, *at;

	/* The name becomes a folder name and a control-plane key. */
	if (name_check("jail", name, err) == -1) {
		nem_err_prefix(err, "%s.toml is skipped", name);
		return NULL;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->name = strdup(name)) == NULL ||
	    asprintf(&j->dir, "%s/jails/%s", jm->host->run_dir, name) == -1) {
		if (j != NULL) {
			free(j->name);
			free(j);
		}
		nem_err_sys(err, ENOMEM, "jail %s", name);
		return NULL;
	}
	j->jm = jm;
	j->last_status = -1;
	j->state = JM_ST_DEFINED;
	j->since = (int64_t)time(NULL);
	TAILQ_INIT(&j->waiters);
	j->defer = evtimer_new(jm->base, on_defer, j);
	j->chan_grace = evtimer_new(jm->base, on_chan_grace, j);
	if (j->defer == NULL || j->chan_grace == NULL) {
		nem_err_set(err, ENOMEM, "jail %s: timer", name);
		goto fail;
	}
	if (jm_open_log(jm, j->dir, "log", &j->log, err) == -1) {
		nem_err_prefix(err, "jail %s", name);
		goto fail;
	}

	TAILQ_FOREACH(at, &jm->jails, entry) {
		if (strcmp(at->name, name) > 0)
			break;
	}
	if (at != NULL)
		TAILQ_INSERT_BEFORE(at, j, entry);
	else
		TAILQ_INSERT_TAIL(&jm->jails, j, entry);
	record(j);
	return j;

fail:
	if (j->defer != NULL)
		event_free(j->defer);
	if (j->chan_grace != NULL)
		event_free(j->chan_grace);
	free(j->dir);
	free(j->name);
	free(j);
	return NULL;
}

/*
 * Removes <run_dir>/jails/<name> of a removed jail, whose tree is freed:
 * its log files, then the folder. Anything else in it, such as a folder
 * a failed free left, keeps it; that is logged for the operator.
 */
static void
remove_jail_dir(struct jm_jail *j)
{
	static const char *const files[] = { "log", "log.1" };
	int dfd;

	dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1) {
		if (errno != ENOENT)
			log_err("jail %s: open %s to remove it", j->name,
			    j->dir);
		return;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (unlinkat(dfd, files[i], 0) == -1 && errno != ENOENT)
			log_err("jail %s: remove %s/%s", j->name, j->dir,
			    files[i]);
	}
	close(dfd);
	if (rmdir(j->dir) == -1)
		log_err("jail %s: remove the folder %s; remove what is left "
		    "in it by hand", j->name, j->dir);
}

/* Removes the record of a jail that is not active, in memory and in the
 * database. */
void
jm_jail_destroy(struct jm_jail *j)
{
	struct jm *jm = j->jm;
	struct nem_err err;
	sqlite3_stmt *st;

	if (jm->rt.record == NULL && db_prepare(jm->db,
	    "DELETE FROM jm_jails WHERE name = ?1", &st, &err) == 0) {
		sqlite3_bind_text(st, 1, j->name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			log_errx("jail %s: delete record: %s", j->name,
			    sqlite3_errmsg(db_sqlite(jm->db)));
		sqlite3_finalize(st);
	}
	if (jm->store != NULL && store_refs_clear(jm->store, j->name,
	    &err) == -1)
		log_errx("jail %s: %s", j->name, err.msg);
	jm_emit(jm, "jail", j->name, "removed", "");
	log_info("jail %s: removed", j->name);

	TAILQ_REMOVE(&jm->jails, j, entry);
	finish_waiters(j);
	if (j->unit != NULL)
		(void)sup_unit_remove(j->unit, NULL);
	chan_free(j->chan);
	logfile_free(j->log);
	remove_jail_dir(j);
	event_free(j->defer);
	event_free(j->chan_grace);
	jm_resolved_free(j->resolved, j->cfg);
	jm_resolved_free(j->pending_resolved, j->pending);
	cfg_jail_free(j->cfg);
	cfg_jail_free(j->pending);
	free(j->dir);
	free(j->name);
	free(j);
}

struct jm *
jm_new(const struct jm_params *p, struct nem_err *err)
{
	struct jm *jm;
	char *slash;

	jm = calloc(1, sizeof(*jm));
	if (jm == NULL) {
		nem_err_sys(err, ENOMEM, "jail manager");
		return NULL;
	}
	jm->base = p->base;
	jm->sup = p->sup;
	jm->db = p->db;
	jm->store = p->store;
	jm->host = p->host;
	jm->rt = *p->runtime;
	jm->log_max_bytes = p->log_max_bytes != 0 ? p->log_max_bytes :
	    LOGFILE_MAX_BYTES;
	jm->version = p->version != NULL ? p->version : "unknown";
	jm->devnull = -1;
	TAILQ_INIT(&jm->jails);
	TAILQ_INIT(&jm->watchers);

	jm->confdir = strdup(p->host->path);
	if (jm->confdir == NULL || jm_handlers_install(jm) == -1) {
		nem_err_sys(err, ENOMEM, "jail manager");
		goto fail;
	}
	if (broker_register(jm, err) == -1)
		goto fail;
	slash = strrchr(jm->confdir, '/');
	if (slash == NULL)
		strcpy(jm->confdir, ".");
	else if (slash == jm->confdir)
		slash[1] = '\0';
	else
		*slash = '\0';
	jm->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (jm->devnull == -1) {
		nem_err_sys(err, errno, "open /dev/null");
		goto fail;
	}
	return jm;

fail:
	jm_free(jm);
	return NULL;
}

void
jm_free(struct jm *jm)
{
	struct jm_jail *j;
	struct jm_watcher *w;

	if (jm == NULL)
		return;
	while ((j = TAILQ_FIRST(&jm->jails)) != NULL) {
		TAILQ_REMOVE(&jm->jails, j, entry);
		finish_waiters(j);
		if (j->unit != NULL)
			(void)sup_unit_remove(j->unit, NULL);
		chan_free(j->chan);
		logfile_free(j->log);
		event_free(j->defer);
		event_free(j->chan_grace);
		jm_resolved_free(j->resolved, j->cfg);
		jm_resolved_free(j->pending_resolved, j->pending);
		cfg_jail_free(j->cfg);
		cfg_jail_free(j->pending);
		free(j->dir);
		free(j->name);
		free(j);
	}
	while ((w = TAILQ_FIRST(&jm->watchers)) != NULL) {
		TAILQ_REMOVE(&jm->watchers, w, entry);
		free(w);
	}
	jm_hosts_free(jm);
	free(jm->handlers);
	if (jm->devnull != -1)
		close(jm->devnull);
	free(jm->confdir);
	free(jm);
}

void *
jm_watch(struct jm *jm, jm_event_fn fn, void *arg, struct nem_err *err)
{
	struct jm_watcher *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		nem_err_sys(err, ENOMEM, "add event watcher");
		return NULL;
	}
	w->fn = fn;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&jm->watchers, w, entry);
	return w;
}

void
jm_unwatch(struct jm *jm, void *handle)
{
	struct jm_watcher *w = handle;

	if (w == NULL)
		return;
	TAILQ_REMOVE(&jm->watchers, w, entry);
	free(w);
}
