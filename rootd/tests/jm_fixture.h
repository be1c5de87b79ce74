/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A jail-manager fixture shared by tests that drive a jm with a stand-in
 * runtime: a mkdtemp folder with rootd.toml, its state, run and jails
 * folders, an event base, a supervisor, the state database and the
 * manager, whose events are recorded as text. Helpers run the loop until
 * a condition holds.
 */
#ifndef ROOTD_TESTS_JM_FIXTURE_H
#define ROOTD_TESTS_JM_FIXTURE_H

#include <stdbool.h>

#include "jailmgr.h"

struct control;

struct fx {
	char dir[64];
	char jails[128];
	struct event_base *base;
	struct sup *sup;
	struct db *db;
	struct cfg_host *host;
	struct jm *jm;
	struct control *ctl;	/* the control plane, when a test has one */
	char events[8192];	/* "name:state " for every event */
	bool shut;
};

/* A condition for run_until. */
typedef bool (*fx_cond)(struct fx *fx, const void *arg);

/*
 * Makes the folder (mkdtemp of prefix, such as "/tmp/test-x-XXXXXX"), a
 * rootd.toml with its state_dir and run_dir followed by host_extra, the
 * folders, the event base, the supervisor and the database. Fails the
 * test on any error.
 */
struct fx *fx_open(const char *prefix, const char *host_extra);

/* Creates the manager on fx with runtime rt and records its events. */
void fx_start_jm(struct fx *fx, const struct jm_runtime *rt);

/* Shuts the manager down, frees everything and removes the folder. */
void fx_close(struct fx *fx);

/* Runs the loop until cond(fx, arg) is true or ms pass; returns cond. */
bool run_until(struct fx *fx, fx_cond cond, const void *arg, int ms);

/* The jm_shutdown callback that sets fx->shut; arg is fx. */
void fx_on_shut(void *arg);

/* A condition: the manager's shutdown has completed. */
bool is_shut(struct fx *fx, const void *arg);

/* Runs the loop until jail name is in state, or fails the test. */
void wait_state(struct fx *fx, const char *name, enum jm_state state,
    int ms);

/* Writes jails/<name>.toml from a printf format. */
void write_jail(struct fx *fx, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
