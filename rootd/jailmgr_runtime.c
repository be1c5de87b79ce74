/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The binding of the jail manager to the jail runtime (jail.h): each
 * jm_runtime callback calls the matching jail_* function, and lifecycle
 * transitions are stored in the runtime's jails table, so that
 * jail_recover and the manager read the same records.
 */
#include "jailmgr.h"
#include "jail_pool.h"

#include <errno.h>
#include <stdlib.h>

#include <nem/log.h>

#include "jail.h"

static void *
rt_alloc_resolved(void *arg, const struct cfg_jail *cfg,
    const char *const *resolved, struct nem_err *err)
{
	struct jail *jail;

	if (jail_alloc_resolved(arg, cfg, resolved, &jail, err) == -1)
		return NULL;
	return jail;
}

static void *
rt_alloc(void *arg, const struct cfg_jail *cfg, struct nem_err *err)
{
	return rt_alloc_resolved(arg, cfg, NULL, err);
}

static pid_t
rt_spawn(void *arg, void *handle, const struct cfg_jail *cfg,
    const int stdio[3], int channel, const char *const *env,
    struct nem_err *err)
{
	pid_t pid;
	int pidfd;

	/* jail_spawn sets stdin to /dev/null and NEM_FD=3 itself. */
	if (jail_spawn(handle, channel, stdio[1], &pid, &pidfd, err) == -1)
		return -1;
	return pid;
}

static int
rt_free(void *arg, void *handle, struct nem_err *err)
{
	return jail_free(handle, err);
}

static int
rt_recover(void *arg, const char *const *wanted, size_t nwanted,
    struct nem_err *err)
{
	return jail_recover(arg, wanted, nwanted, err);
}

static int
rt_record(void *arg, const char *name, enum jm_state state,
    const char *reason, struct nem_err *err)
{
	static const enum jail_state map[JM_ST_COUNT] = {
		[JM_ST_DEFINED] = JAIL_STATE_DEFINED,
		[JM_ST_WAITING] = JAIL_STATE_WAITING,
		[JM_ST_ALLOCATING] = JAIL_STATE_ALLOCATING,
		[JM_ST_STARTING] = JAIL_STATE_STARTING,
		[JM_ST_READY] = JAIL_STATE_READY,
		[JM_ST_STOPPING] = JAIL_STATE_STOPPING,
		[JM_ST_FREEING] = JAIL_STATE_FREEING,
		[JM_ST_STOPPED] = JAIL_STATE_STOPPED,
		[JM_ST_FAILED] = JAIL_STATE_FAILED,
	};

	if ((unsigned)state >= JM_ST_COUNT)
		return nem_err_set(err, EINVAL, "jail %s: state %d is unknown",
		    name, (int)state);

	/*
	 * The runtime records allocating and starting itself, while it has
	 * a tree, and rejects allocating a jail whose row has either state.
	 * The manager's starting also covers a restart that waits without a
	 * tree, which must not block that next allocation.
	 */
	if (state == JM_ST_ALLOCATING || state == JM_ST_STARTING)
		return 0;
	return jail_state_set(arg, name, map[state],
	    reason != NULL && reason[0] != '\0' ? reason : NULL, err);
}

/* The manager's callback and its argument, for one background allocation. */
struct async_call {
	void (*done)(void *arg, void *handle, const struct nem_err *err);
	void *arg;
};

static void
rt_alloc_done(void *arg, struct jail *jail, const struct nem_err *err)
{
	struct async_call call = *(struct async_call *)arg;

	free(arg);
	call.done(call.arg, jail, err);
}

static int
rt_alloc_async(void *async_arg, const struct cfg_jail *cfg,
    const char *const *resolved,
    void (*done)(void *done_arg, void *handle, const struct nem_err *err),
    void *done_arg, struct nem_err *err)
{
	struct async_call *call = malloc(sizeof(*call));

	if (call == NULL)
		return nem_err_sys(err, ENOMEM, "jail %s: allocation",
		    cfg->name);
	call->done = done;
	call->arg = done_arg;
	if (jail_pool_alloc(async_arg, cfg, resolved, rt_alloc_done, call,
	    err) == -1) {
		free(call);
		return -1;
	}
	return 0;
}

void
jm_runtime_from_jail(struct jail_runtime *jrt, struct jail_pool *pool,
    struct jm_runtime *out)
{
	*out = (struct jm_runtime){
		.alloc = rt_alloc,
		.alloc_resolved = rt_alloc_resolved,
		.spawn = rt_spawn,
		.free = rt_free,
		.recover = rt_recover,
		.record = rt_record,
		.alloc_async = pool != NULL ? rt_alloc_async : NULL,
		.arg = jrt,
		.async_arg = pool,
	};
}
