/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Worker threads that build jail trees while the event loop goes on, so
 * that jails which become startable together are allocated side by side.
 * The event loop thread prepares each jail: the checks, the records and
 * the images, which need the store. A worker then builds its tree with
 * its own connection to the state database. The result comes back to a
 * callback on the event loop thread.
 */
#ifndef ROOTD_JAIL_POOL_H
#define ROOTD_JAIL_POOL_H

#include <nem/err.h>

#include "jail.h"

struct event_base;
struct jail_pool;

/* Upper bound on the number of worker threads. */
#define JAIL_POOL_MAX_THREADS 16

/*
 * Called on the event loop thread when an allocation ends: jail is the
 * allocated jail (adopted by the event loop thread), or NULL with err
 * saying why it failed. arg is the pointer given to jail_pool_alloc.
 */
typedef void (*jail_pool_done_fn)(void *arg, struct jail *jail,
    const struct nem_err *err);

/*
 * Starts nthreads workers (1 to JAIL_POOL_MAX_THREADS) for rt, whose
 * state directory gives each its own database connection, and watches
 * their results on base. Returns the pool, or NULL with err set.
 */
struct jail_pool *jail_pool_new(struct jail_runtime *rt,
    struct event_base *base, const char *state_dir, unsigned nthreads,
    struct nem_err *err);

/*
 * Allocates cfg as jail_alloc_resolved does, in the background. The
 * preparation runs now, on the calling event loop thread: when it fails,
 * jail_pool_alloc returns -1 with err and done is never called.
 * Otherwise it returns 0 and done is called once, later, from the event
 * loop. cfg and resolved must stay valid until then.
 */
int jail_pool_alloc(struct jail_pool *pool, const struct cfg_jail *cfg,
    const char *const *resolved, jail_pool_done_fn done, void *arg,
    struct nem_err *err);

/* Returns the number of allocations not yet handed to their callback. */
unsigned jail_pool_pending(const struct jail_pool *pool);

/*
 * Stops the workers after the allocations already queued, frees the jails
 * whose callback has not run, without calling it, and frees the pool.
 * NULL is allowed.
 */
void jail_pool_free(struct jail_pool *pool);

#endif
