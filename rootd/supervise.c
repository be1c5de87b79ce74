/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The supervisor of nem-rootd: spawns, watches and reaps every child of the
 * daemon, applies restart policies with exponential backoff and runs the
 * ordered shutdown. It reaps with waitpid(-1) on each SIGCHLD until nothing
 * is left, so coalesced signals lose no exit and orphans re-parented to us
 * (as PID 1 or subreaper) are reaped too. It never signals a pid it has
 * not started and not yet reaped, so a signal cannot hit a reused pid.
 *
 * Limitations:
 * NOTE: units and watched pids are found by linear scan on every reaped
 * pid, which costs time beyond a few thousand units.
 */
#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/log.h>

/*
 * Unit state machine.
 *
 *                     start, or timer in backoff/failed
 *        +------------------------------------------------+
 *        |                                                |
 *        |                       exit, restart due        v
 *   +---------+  start   +---------+ ---------------> +---------+
 *   |  down   | -------> | running |                  | backoff |
 *   +---------+          +---------+ ---------+       +---------+
 *     ^  ^  ^     exit, no restart |          |            |
 *     |  |  +----------------------+          |            | exit with the
 *     |  |                                    |            | delay at the cap
 *     |  |  stop (pending restart cancelled)  |            v
 *     |  +------------------------------------|------ +---------+
 *     |                                       |       | failed  |
 *     |                                  stop |       +---------+
 *     |                                       v
 *     |   exit    +----------+  stop callback returned 0
 *     +---------- | stopping |
 *     |           +----------+
 *     |                | timer: SIGTERM
 *     |                v
 *     |   exit    +-------------+  stop without a callback, or the
 *     +---------- | terminating |  callback returned -1: SIGTERM at once
 *     |           +-------------+
 *     |                | timer: SIGKILL
 *     |                v
 *     |   exit    +---------+
 *     +---------- | killing |  timer: log a warning, wait again
 *                 +---------+
 *
 * A start that fails (the start callback returns -1) leaves the unit in
 * backoff or failed as an exit would, or in down for restart = never.
 *
 * Transitions, by the action that performs them:
 *   down, backoff, failed --start, timer--> running   act_start
 *   down, backoff, failed --start, timer--> backoff, failed or down
 *                                     (start callback failed) act_start
 *   running      --exit-->  backoff, failed or down     act_exit
 *   running      --stop-->  stopping or terminating     act_stop_running
 *   backoff, failed --stop--> down                      act_stop_idle
 *   down         --stop-->  down (completes at once)    act_stop_down
 *   stopping     --timer--> terminating (SIGTERM)       act_timer_term
 *   terminating  --timer--> killing (SIGKILL)           act_timer_kill
 *   killing      --timer--> killing (warning logged)    act_timer_wait
 *   stopping, terminating, killing --exit--> down       act_exit_stopped
 * Every other pair is ignored (act_ignore, logged at debug level): a
 * start while running, a stop while stopping, a stale timer.
 */

enum sup_event {
	SUP_EV_START,	/* sup_unit_start or a restart */
	SUP_EV_STOP,	/* sup_unit_stop or shutdown */
	SUP_EV_EXIT,	/* the unit's process was reaped */
	SUP_EV_TIMER,	/* the unit's timer fired */
	SUP_EV_COUNT,
};

struct sup_unit {
	struct sup *sup;
	TAILQ_ENTRY(sup_unit) entry;
	char *name;
	struct sup_policy policy;
	struct sup_unit_ops ops;
	void *arg;

	enum sup_state state;
	pid_t pid;			/* 0 when no process */
	int exit_status;		/* status of the exit being handled */
	int last_status;		/* -1 until the first exit */
	uint64_t starts;
	uint64_t failures;		/* restarts since the delay reset */
	uint64_t delay_ms;		/* current restart delay, 0: none */
	uint64_t started_ms;		/* monotonic time of the last start */
	uint64_t stop_began_ms;		/* monotonic time the stop began */
	uint64_t stop_within_ms;	/* SIGKILL deadline of the requested
					   stop, 0: the policy's steps */
	uint64_t stop_step_ms;		/* wait after each step of the
					   running stop, 0: none running */
	uint64_t deadline_ms;		/* monotonic time the timer is due */
	struct event *timer;
	struct nem_err start_err;	/* error of the last failed start */

	uint64_t exit_ran_ms;		/* run time of the exit being handled */
	bool in_exited;			/* the exited callback runs */
	sup_done_cb stop_done;		/* completion of a pending stop */
	void *stop_arg;
	bool stop_requested;
};

struct sup_watch {
	TAILQ_ENTRY(sup_watch) entry;
	pid_t pid;
	sup_watch_cb cb;
	void *arg;
};

struct sup {
	struct event_base *base;
	struct event *sigchld;
	TAILQ_HEAD(sup_units, sup_unit) units;
	TAILQ_HEAD(sup_watches, sup_watch) watches;

	bool shutting_down;
	bool restarts_held;		/* no restart is planned or made */
	bool hurry;			/* stops skip to SIGKILL */
	bool shutdown_running;		/* guards shutdown_next recursion */
	bool shutdown_finished;
	struct sup_unit *shutdown_cur;	/* next unit to stop, walking back */
	sup_done_cb shutdown_done;
	void *shutdown_arg;
};

typedef void (*sup_action)(struct sup_unit *unit);

static void act_ignore(struct sup_unit *);
static void act_start(struct sup_unit *);
static void act_restart(struct sup_unit *);
static void act_exit(struct sup_unit *);
static void act_stop_running(struct sup_unit *);
static void act_stop_idle(struct sup_unit *);
static void act_stop_down(struct sup_unit *);
static void act_timer_term(struct sup_unit *);
static void act_timer_kill(struct sup_unit *);
static void act_timer_wait(struct sup_unit *);
static void act_exit_stopped(struct sup_unit *);

/* The state-by-event table; see the diagram above. */
static const sup_action sup_table[][SUP_EV_COUNT] = {
	/*                    START       STOP              EXIT              TIMER */
	[SUP_ST_DOWN] =       { act_start,  act_stop_down,    act_ignore,       act_ignore },
	[SUP_ST_RUNNING] =    { act_ignore, act_stop_running, act_exit,         act_ignore },
	[SUP_ST_BACKOFF] =    { act_start,  act_stop_idle,    act_ignore,       act_restart },
	[SUP_ST_FAILED] =     { act_start,  act_stop_idle,    act_ignore,       act_restart },
	[SUP_ST_STOPPING] =   { act_ignore, act_ignore,       act_exit_stopped, act_timer_term },
	[SUP_ST_TERMINATING] = { act_ignore, act_ignore,      act_exit_stopped, act_timer_kill },
	[SUP_ST_KILLING] =    { act_ignore, act_ignore,       act_exit_stopped, act_timer_wait },
};

static const char *const sup_event_names[SUP_EV_COUNT] = {
	"start", "stop", "exit", "timer",
};

static void shutdown_next(struct sup *sup);

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Formats a duration in milliseconds as seconds with one decimal: "3.2s". */
static const char *
fmt_ms(uint64_t ms, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "s", ms / 1000,
	    (ms % 1000) / 100);
	return buf;
}

/*
 * Describes a wait status: "exited with status 1", "killed by signal 9
 * (SIGKILL)".
 */
static const char *
fmt_status(int status, char *buf, size_t len)
{
	if (status == -1)
		snprintf(buf, len, "not started");
	else if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));

		snprintf(buf, len, "killed by signal %d (SIG%s)%s",
		    WTERMSIG(status), abbrev != NULL ? abbrev : "?",
		    WCOREDUMP(status) ? ", core dumped" : "");
	} else
		snprintf(buf, len, "wait status 0x%x", (unsigned)status);
	return buf;
}

void
sup_policy_defaults(struct sup_policy *policy)
{
	policy->restart = SUP_RESTART_NEVER;
	policy->restart_delay_ms = SUP_DEFAULT_RESTART_DELAY_MS;
	policy->restart_delay_max_ms = SUP_DEFAULT_RESTART_DELAY_MAX_MS;
	policy->restart_reset_ms = SUP_DEFAULT_RESTART_RESET_MS;
	policy->stop_timeout_ms = SUP_DEFAULT_STOP_TIMEOUT_MS;
}

static int
check_range(const char *field, uint64_t value, uint64_t min,
    struct nem_err *err)
{
	if (value < min || value > SUP_TIME_MAX_MS)
		return nem_err_set(err, EINVAL,
		    "%s is %" PRIu64 " ms; it must be between %" PRIu64
		    " ms and %" PRIu64 " ms",
		    field, value, min, (uint64_t)SUP_TIME_MAX_MS);
	return 0;
}

int
sup_policy_check(const struct sup_policy *policy, struct nem_err *err)
{
	if (policy->restart != SUP_RESTART_NEVER &&
	    policy->restart != SUP_RESTART_ON_FAILURE &&
	    policy->restart != SUP_RESTART_ALWAYS)
		return nem_err_set(err, EINVAL,
		    "restart policy %d is unknown; use never, on-failure or "
		    "always", (int)policy->restart);
	if (check_range("restart_delay", policy->restart_delay_ms,
	    SUP_RESTART_DELAY_MIN_MS, err) == -1 ||
	    check_range("restart_delay_max", policy->restart_delay_max_ms,
	    SUP_RESTART_DELAY_MIN_MS, err) == -1 ||
	    check_range("restart_reset", policy->restart_reset_ms, 0,
	    err) == -1 ||
	    check_range("stop_timeout", policy->stop_timeout_ms, 1, err) == -1)
		return -1;
	if (policy->restart_delay_ms > policy->restart_delay_max_ms)
		return nem_err_set(err, EINVAL,
		    "restart_delay (%" PRIu64 " ms) is larger than "
		    "restart_delay_max (%" PRIu64 " ms); raise the maximum "
		    "or lower the delay",
		    policy->restart_delay_ms, policy->restart_delay_max_ms);
	return 0;
}

uint64_t
sup_backoff_next(uint64_t delay_ms, uint64_t max_ms)
{
	uint64_t next;

	if (delay_ms >= max_ms)
		return max_ms;
	if (__builtin_mul_overflow(delay_ms, 2, &next) || next > max_ms)
		return max_ms;
	return next;
}

const char *
sup_state_name(enum sup_state state)
{
	switch (state) {
	case SUP_ST_DOWN:
		return "down";
	case SUP_ST_RUNNING:
		return "running";
	case SUP_ST_BACKOFF:
		return "backoff";
	case SUP_ST_FAILED:
		return "failed";
	case SUP_ST_STOPPING:
		return "stopping";
	case SUP_ST_TERMINATING:
		return "terminating";
	case SUP_ST_KILLING:
		return "killing";
	}
	return "unknown";
}

static void
dispatch(struct sup_unit *unit, enum sup_event ev)
{
	sup_action action = sup_table[unit->state][ev];

	if (action == act_ignore)
		log_debug("%s: %s event ignored in state %s", unit->name,
		    sup_event_names[ev], sup_state_name(unit->state));
	action(unit);
}

static void
add_timeout(struct sup_unit *unit, uint64_t ms)
{
	struct timeval tv = {
		.tv_sec = (time_t)(ms / 1000),
		.tv_usec = (suseconds_t)((ms % 1000) * 1000),
	};

	if (evtimer_add(unit->timer, &tv) == -1)
		log_errx("%s: cannot arm a timer of %" PRIu64 " ms; the "
		    "unit waits for the next event", unit->name, ms);
}

/*
 * Arms the unit's one timer; a pending timeout is replaced. The deadline
 * is rounded up to the next millisecond and checked again when the timer
 * fires. libevent 2.1 uses CLOCK_MONOTONIC_COARSE unless the base has
 * EVENT_BASE_FLAG_PRECISE_TIMER, and its timers were seen firing a few
 * milliseconds early, but a SIGKILL must never come before its timeout.
 */
static void
arm_timer(struct sup_unit *unit, uint64_t ms)
{
	if (__builtin_add_overflow(now_ms(), ms, &unit->deadline_ms) ||
	    __builtin_add_overflow(unit->deadline_ms, 1, &unit->deadline_ms))
		unit->deadline_ms = UINT64_MAX;
	add_timeout(unit, ms);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sup_unit *unit = arg;
	uint64_t now = now_ms();

	if (now < unit->deadline_ms) {
		add_timeout(unit, unit->deadline_ms - now);
		return;
	}
	dispatch(unit, SUP_EV_TIMER);
}

/* Enters down and completes a pending stop and the shutdown step. */
static void
become_down(struct sup_unit *unit)
{
	struct sup *sup = unit->sup;
	sup_done_cb done = unit->stop_done;
	void *done_arg = unit->stop_arg;

	evtimer_del(unit->timer);
	unit->state = SUP_ST_DOWN;
	unit->pid = 0;
	unit->stop_requested = false;
	unit->stop_within_ms = 0;
	unit->stop_step_ms = 0;
	unit->stop_done = NULL;
	unit->stop_arg = NULL;
	if (done != NULL)
		done(done_arg);
	if (sup->shutting_down)
		shutdown_next(sup);
}

/*
 * Computes the failure count and delay of the restart that follows a run
 * of ran_ms (0: the start failed). Returns the state the unit enters:
 * backoff, or failed once the delay has reached its cap.
 */
static enum sup_state
next_restart(const struct sup_unit *unit, uint64_t ran_ms,
    uint64_t *failures, uint64_t *delay_ms)
{
	const struct sup_policy *p = &unit->policy;

	*failures = unit->failures;
	*delay_ms = unit->delay_ms;
	if (ran_ms >= p->restart_reset_ms && ran_ms > 0) {
		*failures = 0;
		*delay_ms = 0;
	}
	(*failures)++;
	if (*delay_ms == 0)
		*delay_ms = p->restart_delay_ms;
	else
		*delay_ms = sup_backoff_next(*delay_ms, p->restart_delay_max_ms);
	if (*delay_ms >= p->restart_delay_max_ms && *failures >= 2)
		return SUP_ST_FAILED;
	return SUP_ST_BACKOFF;
}

/*
 * Schedules the next start after a failed start or after an exit that the
 * policy restarts. ran_ms is how long the process ran, 0 when it did not
 * start.
 */
static void
plan_restart(struct sup_unit *unit, uint64_t ran_ms)
{
	const struct sup_policy *p = &unit->policy;
	char delay[32];

	unit->state = next_restart(unit, ran_ms, &unit->failures,
	    &unit->delay_ms);
	fmt_ms(unit->delay_ms, delay, sizeof(delay));
	if (unit->state == SUP_ST_FAILED) {
		char status[96], reset[32];

		log_warn("%s: failed %" PRIu64 " times in a row (last: %s); "
		    "restarting every %s until it stays up for %s",
		    unit->name, unit->failures,
		    unit->last_status == -1 ? unit->start_err.msg :
		    fmt_status(unit->last_status, status, sizeof(status)),
		    delay, fmt_ms(p->restart_reset_ms, reset, sizeof(reset)));
	} else {
		log_info("%s: restarting in %s", unit->name, delay);
	}
	arm_timer(unit, unit->delay_ms);
}

/*
 * Calls the exited callback. While it runs, the unit has no pid and no
 * settled state, so sup_unit_start, sup_unit_stop and sup_unit_remove
 * reject calls on it with EBUSY; a stop then would signal pid 0, the
 * daemon's own process group.
 */
static void
call_exited(struct sup_unit *unit, pid_t pid, int status)
{
	if (unit->ops.exited == NULL)
		return;
	unit->in_exited = true;
	unit->ops.exited(unit->arg, pid, status);
	unit->in_exited = false;
}

static void
act_ignore(struct sup_unit *unit)
{
	(void)unit;
}

static void
act_start(struct sup_unit *unit)
{
	pid_t pid;

	evtimer_del(unit->timer);
	nem_err_clear(&unit->start_err);
	pid = unit->ops.start(unit->arg, &unit->start_err);
	if (pid > 0) {
		unit->pid = pid;
		unit->state = SUP_ST_RUNNING;
		unit->started_ms = now_ms();
		unit->starts++;
		log_info("%s: started (pid %d)", unit->name, (int)pid);
		return;
	}

	if (unit->start_err.code == 0)
		nem_err_set(&unit->start_err, EIO,
		    "the start callback returned %d without an error",
		    (int)pid);
	log_errx("%s: start failed: %s", unit->name, unit->start_err.msg);
	unit->last_status = -1;
	if (unit->policy.restart == SUP_RESTART_NEVER ||
	    unit->sup->restarts_held) {
		become_down(unit);
		return;
	}
	plan_restart(unit, 0);
}

/* Starts a unit whose restart delay is over, unless restarts are held. */
static void
act_restart(struct sup_unit *unit)
{
	if (unit->sup->restarts_held) {
		log_info("%s: restart cancelled: restarts are disabled during "
		    "the shutdown", unit->name);
		return;
	}
	act_start(unit);
}

static void
act_exit(struct sup_unit *unit)
{
	int status = unit->exit_status;
	pid_t pid = unit->pid;
	uint64_t ran = now_ms() - unit->started_ms;
	bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	char what[96], took[32];

	unit->pid = 0;
	unit->last_status = status;
	unit->exit_ran_ms = ran;
	fmt_status(status, what, sizeof(what));
	fmt_ms(ran, took, sizeof(took));
	if (clean)
		log_info("%s: pid %d %s after %s", unit->name, (int)pid, what,
		    took);
	else
		log_warn("%s: pid %d %s after %s", unit->name, (int)pid, what,
		    took);
	call_exited(unit, pid, status);

	if (unit->sup->restarts_held ||
	    unit->policy.restart == SUP_RESTART_NEVER ||
	    (unit->policy.restart == SUP_RESTART_ON_FAILURE && clean)) {
		unit->failures = 0;
		unit->delay_ms = 0;
		become_down(unit);
		return;
	}
	plan_restart(unit, ran);
}

static void
send_signal(struct sup_unit *unit, int sig)
{
	/* kill(0) or kill(-1) would hit the daemon or every process. */
	if (unit->pid <= 0) {
		log_errx("%s: no process to send SIG%s to (pid %d)",
		    unit->name, sigabbrev_np(sig), (int)unit->pid);
		return;
	}
	if (kill(unit->pid, sig) == -1)
		log_err("%s: kill pid %d with SIG%s failed", unit->name,
		    (int)unit->pid, sigabbrev_np(sig));
}

/* Returns the wait after each step of the running stop. */
static uint64_t
stop_step(const struct sup_unit *unit)
{
	return unit->stop_step_ms != 0 ? unit->stop_step_ms :
	    unit->policy.stop_timeout_ms;
}

/* Sends SIGKILL at once, for a stop in a hurried shutdown. */
static void
kill_now(struct sup_unit *unit)
{
	log_warn("%s: shutdown hurried: sending SIGKILL to pid %d", unit->name,
	    (int)unit->pid);
	unit->state = SUP_ST_KILLING;
	send_signal(unit, SIGKILL);
	arm_timer(unit, stop_step(unit));
}

static void
act_stop_running(struct sup_unit *unit)
{
	char timeout[32];
	bool requested;

	unit->stop_began_ms = now_ms();
	if (unit->sup->hurry) {
		kill_now(unit);
		return;
	}
	requested = unit->ops.stop != NULL && unit->ops.stop(unit->arg,
	    unit->pid) == 0;
	/* A stop with a deadline splits it among the steps before SIGKILL. */
	unit->stop_step_ms = unit->policy.stop_timeout_ms;
	if (unit->stop_within_ms != 0) {
		unit->stop_step_ms = unit->stop_within_ms;
		if (requested && unit->stop_within_ms > 1)
			unit->stop_step_ms = unit->stop_within_ms / 2;
	}
	fmt_ms(stop_step(unit), timeout, sizeof(timeout));
	if (requested) {
		unit->state = SUP_ST_STOPPING;
		log_info("%s: stopping pid %d: stop requested, SIGTERM in %s",
		    unit->name, (int)unit->pid, timeout);
	} else {
		unit->state = SUP_ST_TERMINATING;
		log_info("%s: stopping pid %d: SIGTERM sent, SIGKILL in %s",
		    unit->name, (int)unit->pid, timeout);
		send_signal(unit, SIGTERM);
	}
	arm_timer(unit, stop_step(unit));
}

static void
act_stop_idle(struct sup_unit *unit)
{
	log_info("%s: stopped while waiting to restart", unit->name);
	become_down(unit);
}

static void
act_stop_down(struct sup_unit *unit)
{
	become_down(unit);
}

static void
act_timer_term(struct sup_unit *unit)
{
	char timeout[32];

	fmt_ms(stop_step(unit), timeout, sizeof(timeout));
	log_warn("%s: pid %d did not stop within %s of the stop request; "
	    "sending SIGTERM, SIGKILL in %s", unit->name, (int)unit->pid,
	    timeout, timeout);
	unit->state = SUP_ST_TERMINATING;
	send_signal(unit, SIGTERM);
	arm_timer(unit, stop_step(unit));
}

static void
act_timer_kill(struct sup_unit *unit)
{
	char timeout[32];

	fmt_ms(stop_step(unit), timeout, sizeof(timeout));
	log_warn("%s: pid %d did not exit within %s of SIGTERM; sending "
	    "SIGKILL", unit->name, (int)unit->pid, timeout);
	unit->state = SUP_ST_KILLING;
	send_signal(unit, SIGKILL);
	arm_timer(unit, stop_step(unit));
}

static void
act_timer_wait(struct sup_unit *unit)
{
	char took[32];

	fmt_ms(now_ms() - unit->stop_began_ms, took, sizeof(took));
	log_warn("%s: pid %d has not exited %s after the stop began, although "
	    "SIGKILL was sent; it may be blocked in the kernel (state D)",
	    unit->name, (int)unit->pid, took);
	arm_timer(unit, stop_step(unit));
}

static void
act_exit_stopped(struct sup_unit *unit)
{
	int status = unit->exit_status;
	pid_t pid = unit->pid;
	char what[96], took[32];

	unit->last_status = status;
	log_info("%s: stopped: pid %d %s after %s", unit->name, (int)pid,
	    fmt_status(status, what, sizeof(what)),
	    fmt_ms(now_ms() - unit->stop_began_ms, took, sizeof(took)));
	call_exited(unit, pid, status);
	unit->failures = 0;
	unit->delay_ms = 0;
	become_down(unit);
}

/* Hands one reaped pid to its unit or watcher. */
static void
reaped(struct sup *sup, pid_t pid, int status)
{
	struct sup_unit *unit;
	struct sup_watch *w;
	char what[96];

	TAILQ_FOREACH(unit, &sup->units, entry) {
		if (unit->pid == pid) {
			unit->exit_status = status;
			dispatch(unit, SUP_EV_EXIT);
			return;
		}
	}
	TAILQ_FOREACH(w, &sup->watches, entry) {
		if (w->pid == pid) {
			sup_watch_cb cb = w->cb;
			void *arg = w->arg;

			TAILQ_REMOVE(&sup->watches, w, entry);
			free(w);
			cb(arg, pid, status);
			return;
		}
	}
	log_debug("supervisor: reaped pid %d, which is not supervised: %s",
	    (int)pid, fmt_status(status, what, sizeof(what)));
}

/*
 * Reaps until no exited child is left. SIGCHLD is not queued, so one
 * signal may stand for many exits. __WALL also reaps children created
 * with clone() and an exit signal other than SIGCHLD.
 */
static void
on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	struct sup *sup = arg;

	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG | __WALL);

		if (pid == 0)
			break;
		if (pid == -1) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD)
				log_err("supervisor: waitpid failed");
			break;
		}
		reaped(sup, pid, status);
	}
}

struct sup *
sup_new(struct event_base *base, struct nem_err *err)
{
	struct sup *sup = calloc(1, sizeof(*sup));

	if (sup == NULL) {
		nem_err_sys(err, errno, "supervisor: out of memory");
		return NULL;
	}
	sup->base = base;
	TAILQ_INIT(&sup->units);
	TAILQ_INIT(&sup->watches);
	sup->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, sup);
	if (sup->sigchld == NULL || evsignal_add(sup->sigchld, NULL) == -1) {
		nem_err_set(err, EIO, "supervisor: cannot install the SIGCHLD "
		    "event; is another supervisor running in this process?");
		if (sup->sigchld != NULL)
			event_free(sup->sigchld);
		free(sup);
		return NULL;
	}
	/* Reap children that exited before the event existed. */
	event_active(sup->sigchld, EV_SIGNAL, 1);
	return sup;
}

static void
unit_free(struct sup_unit *unit)
{
	event_free(unit->timer);
	free(unit->name);
	free(unit);
}

void
sup_free(struct sup *sup)
{
	struct sup_unit *unit;
	struct sup_watch *w;

	if (sup == NULL)
		return;
	while ((unit = TAILQ_FIRST(&sup->units)) != NULL) {
		TAILQ_REMOVE(&sup->units, unit, entry);
		unit_free(unit);
	}
	while ((w = TAILQ_FIRST(&sup->watches)) != NULL) {
		TAILQ_REMOVE(&sup->watches, w, entry);
		free(w);
	}
	event_free(sup->sigchld);
	free(sup);
}

struct sup_unit *
sup_unit_add(struct sup *sup, const char *name,
    const struct sup_policy *policy, const struct sup_unit_ops *ops,
    void *arg, struct nem_err *err)
{
	struct sup_unit *unit;

	if (sup->shutting_down) {
		nem_err_set(err, ECANCELED, "%s: the supervisor is shutting "
		    "down; no unit can be added", name);
		return NULL;
	}
	if (ops->start == NULL) {
		nem_err_set(err, EINVAL, "%s: the unit has no start callback",
		    name);
		return NULL;
	}
	if (sup_policy_check(policy, err) == -1) {
		nem_err_prefix(err, "%s", name);
		return NULL;
	}

	unit = calloc(1, sizeof(*unit));
	if (unit == NULL || (unit->name = strdup(name)) == NULL) {
		nem_err_sys(err, ENOMEM, "%s: cannot add the unit", name);
		free(unit);
		return NULL;
	}
	unit->timer = evtimer_new(sup->base, on_timer, unit);
	if (unit->timer == NULL) {
		nem_err_set(err, ENOMEM, "%s: cannot create the unit's timer",
		    name);
		free(unit->name);
		free(unit);
		return NULL;
	}
	unit->sup = sup;
	unit->policy = *policy;
	unit->ops = *ops;
	unit->arg = arg;
	unit->state = SUP_ST_DOWN;
	unit->last_status = -1;
	TAILQ_INSERT_TAIL(&sup->units, unit, entry);
	return unit;
}

/* Rejects calls on a unit whose exited callback runs (see call_exited). */
static int
check_not_in_exited(const struct sup_unit *unit, struct nem_err *err)
{
	if (unit->in_exited)
		return nem_err_set(err, EBUSY, "%s: the unit's exit is being "
		    "handled; defer this call to a later loop iteration",
		    unit->name);
	return 0;
}

int
sup_unit_start(struct sup_unit *unit, struct nem_err *err)
{
	if (check_not_in_exited(unit, err) == -1)
		return -1;
	if (unit->sup->shutting_down)
		return nem_err_set(err, ECANCELED, "%s: the supervisor is "
		    "shutting down; not starting", unit->name);
	switch (unit->state) {
	case SUP_ST_DOWN:
	case SUP_ST_BACKOFF:
	case SUP_ST_FAILED:
		break;
	default:
		return nem_err_set(err, EBUSY, "%s: cannot start, the unit is "
		    "%s (pid %d)", unit->name, sup_state_name(unit->state),
		    (int)unit->pid);
	}

	dispatch(unit, SUP_EV_START);
	if (unit->state == SUP_ST_RUNNING)
		return 0;
	if (err != NULL)
		*err = unit->start_err;
	nem_err_prefix(err, "%s", unit->name);
	return -1;
}

int
sup_unit_start_failed(struct sup_unit *unit, const struct nem_err *why,
    struct nem_err *err)
{
	if (check_not_in_exited(unit, err) == -1)
		return -1;
	if (unit->state != SUP_ST_DOWN)
		return nem_err_set(err, EBUSY, "%s: a start failed outside the "
		    "supervisor, but the unit is %s", unit->name,
		    sup_state_name(unit->state));
	unit->start_err = *why;
	unit->last_status = -1;
	log_errx("%s: start failed: %s", unit->name, why->msg);
	if (unit->policy.restart == SUP_RESTART_NEVER ||
	    unit->sup->restarts_held || unit->sup->shutting_down)
		return 0;
	plan_restart(unit, 0);
	return 0;
}

int
sup_unit_stop(struct sup_unit *unit, sup_done_cb done, void *arg,
    struct nem_err *err)
{
	return sup_unit_stop_within(unit, 0, done, arg, err);
}

int
sup_unit_stop_within(struct sup_unit *unit, uint64_t within_ms,
    sup_done_cb done, void *arg, struct nem_err *err)
{
	if (within_ms > SUP_TIME_MAX_MS)
		return nem_err_set(err, EINVAL, "%s: a stop deadline of %llu "
		    "ms is too long; use at most %llu", unit->name,
		    (unsigned long long)within_ms,
		    (unsigned long long)SUP_TIME_MAX_MS);
	if (check_not_in_exited(unit, err) == -1)
		return -1;
	if (unit->stop_requested)
		return nem_err_set(err, EALREADY, "%s: a stop is already in "
		    "progress (state %s)", unit->name,
		    sup_state_name(unit->state));
	unit->stop_requested = true;
	unit->stop_within_ms = within_ms;
	unit->stop_done = done;
	unit->stop_arg = arg;
	dispatch(unit, SUP_EV_STOP);
	return 0;
}

int
sup_unit_remove(struct sup_unit *unit, struct nem_err *err)
{
	struct sup *sup = unit->sup;

	if (check_not_in_exited(unit, err) == -1)
		return -1;
	if (unit->state != SUP_ST_DOWN)
		return nem_err_set(err, EBUSY, "%s: cannot remove a unit that "
		    "is %s; stop it first", unit->name,
		    sup_state_name(unit->state));
	if (sup->shutdown_cur == unit)
		sup->shutdown_cur = TAILQ_PREV(unit, sup_units, entry);
	TAILQ_REMOVE(&sup->units, unit, entry);
	unit_free(unit);
	return 0;
}

void
sup_unit_info(const struct sup_unit *unit, struct sup_unit_info *info)
{
	info->state = unit->state;
	info->pid = unit->pid;
	info->last_status = unit->last_status;
	info->starts = unit->starts;
	info->failures = unit->failures;
	info->restart_delay_ms = unit->delay_ms;
}

void
sup_unit_restart_plan(const struct sup_unit *unit, struct sup_unit_info *plan)
{
	sup_unit_info(unit, plan);
	plan->state = next_restart(unit, unit->in_exited ? unit->exit_ran_ms :
	    0, &plan->failures, &plan->restart_delay_ms);
}

const char *
sup_unit_name(const struct sup_unit *unit)
{
	return unit->name;
}

/*
 * Stops the unit at the shutdown cursor and walks back to the first unit.
 * become_down calls it again when a stop completes later.
 */
static void
shutdown_next(struct sup *sup)
{
	struct sup_unit *unit;

	if (sup->shutdown_running || sup->shutdown_finished)
		return;
	sup->shutdown_running = true;
	while ((unit = sup->shutdown_cur) != NULL) {
		if (unit->state != SUP_ST_DOWN && !unit->stop_requested) {
			unit->stop_requested = true;
			dispatch(unit, SUP_EV_STOP);
			/* A done callback may have removed the unit, which
			 * moves the cursor back. */
			if (sup->shutdown_cur != unit)
				continue;
		}
		if (unit->state != SUP_ST_DOWN)
			break;
		sup->shutdown_cur = TAILQ_PREV(unit, sup_units, entry);
	}
	sup->shutdown_running = false;
	if (sup->shutdown_cur == NULL) {
		sup->shutdown_finished = true;
		log_info("supervisor: every unit is stopped");
		if (sup->shutdown_done != NULL)
			sup->shutdown_done(sup->shutdown_arg);
	}
}

void
sup_hurry(struct sup *sup)
{
	struct sup_unit *unit;

	sup->hurry = true;
	sup->restarts_held = true;
	TAILQ_FOREACH(unit, &sup->units, entry) {
		if (unit->state == SUP_ST_STOPPING ||
		    unit->state == SUP_ST_TERMINATING)
			kill_now(unit);
	}
}

void
sup_hold_restarts(struct sup *sup)
{
	struct sup_unit *unit;

	if (sup->restarts_held)
		return;
	sup->restarts_held = true;
	TAILQ_FOREACH(unit, &sup->units, entry) {
		if (unit->state == SUP_ST_BACKOFF ||
		    unit->state == SUP_ST_FAILED)
			evtimer_del(unit->timer);
	}
	log_info("supervisor: restarts are held from now on");
}

void
sup_shutdown(struct sup *sup, sup_done_cb done, void *arg)
{
	if (sup->shutting_down)
		return;
	log_info("supervisor: stopping every unit in reverse start order");
	sup_hold_restarts(sup);
	sup->shutting_down = true;
	sup->shutdown_done = done;
	sup->shutdown_arg = arg;
	sup->shutdown_cur = TAILQ_LAST(&sup->units, sup_units);
	shutdown_next(sup);
}

int
sup_watch(struct sup *sup, pid_t pid, sup_watch_cb cb, void *arg,
    struct nem_err *err)
{
	struct sup_watch *w;

	TAILQ_FOREACH(w, &sup->watches, entry) {
		if (w->pid == pid)
			return nem_err_set(err, EEXIST, "pid %d is already "
			    "watched", (int)pid);
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return nem_err_sys(err, ENOMEM, "cannot watch pid %d",
		    (int)pid);
	w->pid = pid;
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&sup->watches, w, entry);
	return 0;
}

/*
 * Runs the child side of sup_spawn_exec. It runs between fork and exec, so
 * it makes only async-signal-safe calls. src[i] becomes fd i, and report is
 * a close-on-exec pipe that receives errno when a step fails.
 */
static void __attribute__((noreturn))
spawn_child(const int src[4], int report, const char *path,
    char *const argv[], char *const envp[])
{
	struct sigaction dfl;
	sigset_t none;
	int high[4];
	int e;

	/* libevent's handlers and blocked signals must not reach the
	 * program. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() == -1)
		goto fail;

	/*
	 * Move every source above fd 3 first, so that placing one on 0-3
	 * cannot overwrite another that sits there.
	 */
	high[0] = fcntl(report, F_DUPFD_CLOEXEC, 10);
	if (high[0] == -1)
		goto fail;
	report = high[0];
	for (int i = 0; i < 4; i++) {
		high[i] = -1;
		if (src[i] >= 0 &&
		    (high[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10)) == -1)
			goto fail;
	}
	for (int i = 0; i < 4; i++) {
		if (high[i] == -1)
			close(i);
		else if (dup2(high[i], i) == -1)
			goto fail;
	}

	/* Close everything else but the report pipe, which exec closes. */
	if (close_range(4, (unsigned)report - 1, 0) == -1 ||
	    close_range((unsigned)report + 1, ~0U, 0) == -1) {
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
			goto fail;
		for (rlim_t fd = 4; fd < rl.rlim_cur && fd < 1048576; fd++)
			if ((int)fd != report)
				close((int)fd);
	}

	execve(path, argv, envp);
fail:
	e = errno;
	(void)!write(report, &e, sizeof(e));
	_exit(127);
}

/* Appends or replaces "NAME=value" in envp (n entries so far). */
static size_t
env_put(const char **envp, size_t n, const char *entry)
{
	const char *eq = strchr(entry, '=');
	size_t namelen = eq != NULL ? (size_t)(eq - entry) : strlen(entry);

	for (size_t i = 0; i < n; i++) {
		if (strncmp(envp[i], entry, namelen) == 0 &&
		    envp[i][namelen] == '=') {
			envp[i] = entry;
			return n;
		}
	}
	envp[n] = entry;
	return n + 1;
}

pid_t
sup_spawn_exec(const struct sup_exec *spec, struct nem_err *err)
{
	static const char *const base_env[] = {
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	};
	const size_t nbase = sizeof(base_env) / sizeof(base_env[0]);
	const char **envp = NULL;
	size_t nenv = 0, n = 0, slots;
	int src[4], report[2] = { -1, -1 }, devnull = -1;
	pid_t pid = -1;
	ssize_t got;
	int child_errno;

	if (spec->argv == NULL || spec->argv[0] == NULL ||
	    spec->argv[0][0] != '/')
		return nem_err_set(err, EINVAL, "program %s is not an absolute "
		    "path; give the full path, for example /usr/sbin/%s",
		    spec->argv != NULL && spec->argv[0] != NULL ?
		    spec->argv[0] : "(none)",
		    spec->argv != NULL && spec->argv[0] != NULL ?
		    spec->argv[0] : "program");

	/* Build everything the child needs before fork. */
	while (spec->env != NULL && spec->env[nenv] != NULL) {
		if (strchr(spec->env[nenv], '=') == NULL)
			return nem_err_set(err, EINVAL, "%s: environment entry "
			    "\"%s\" has no '='; write NAME=value",
			    spec->argv[0], spec->env[nenv]);
		nenv++;
	}
	if (__builtin_add_overflow(nenv, nbase + 1, &slots) ||
	    (envp = calloc(slots, sizeof(*envp))) == NULL)
		return nem_err_sys(err, ENOMEM, "%s: cannot build the "
		    "environment", spec->argv[0]);
	for (size_t i = 0; i < nbase; i++)
		n = env_put(envp, n, base_env[i]);
	for (size_t i = 0; i < nenv; i++)
		n = env_put(envp, n, spec->env[i]);
	envp[n] = NULL;

	for (int i = 0; i < 3; i++) {
		src[i] = spec->stdio[i];
		if (src[i] < 0 && devnull == -1) {
			devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (devnull == -1) {
				nem_err_sys(err, errno, "%s: cannot open "
				    "/dev/null for the child's fd %d",
				    spec->argv[0], i);
				goto out;
			}
		}
		if (src[i] < 0)
			src[i] = devnull;
	}
	src[3] = spec->channel;

	if (pipe2(report, O_CLOEXEC) == -1) {
		nem_err_sys(err, errno, "%s: cannot create a pipe",
		    spec->argv[0]);
		goto out;
	}
	pid = fork();
	if (pid == -1) {
		nem_err_sys(err, errno, "%s: fork failed", spec->argv[0]);
		goto out;
	}
	if (pid == 0)
		spawn_child(src, report[1], spec->argv[0],
		    (char *const *)spec->argv, (char *const *)envp);

	/* EOF on the pipe means the exec succeeded and closed it. */
	close(report[1]);
	report[1] = -1;
	do
		got = read(report[0], &child_errno, sizeof(child_errno));
	while (got == -1 && errno == EINTR);
	if (got == 0)
		goto out;

	/* The child failed and exits at once, so reap it here. */
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	if (got == (ssize_t)sizeof(child_errno))
		nem_err_sys(err, child_errno, "cannot run %s", spec->argv[0]);
	else
		nem_err_set(err, EIO, "cannot run %s: the child failed before "
		    "exec", spec->argv[0]);
	pid = -1;
out:
	if (report[0] != -1)
		close(report[0]);
	if (report[1] != -1)
		close(report[1]);
	if (devnull != -1)
		close(devnull);
	free(envp);
	return pid;
}
