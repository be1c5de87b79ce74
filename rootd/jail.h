/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The jail runtime: turns a validated jail description into a mounted tree
 * and a running root process, and back, only through the platform seam
 * (os/os.h). Every disk attached and every mount made is recorded in the
 * state database before it is made, so jail_recover can undo whatever a
 * killed daemon left behind. Nothing persistent (images, persistent
 * volumes, the shared pool) is ever deleted here.
 *
 * Layout: <run_dir>/jails/<name>/root is a jail's tree and
 * <run_dir>/jails/<name>/md/ contains its ephemeral md images;
 * <run_dir>/images/<sha256>/ is an image mounted once, read-only, and
 * bind-mounted into every jail that uses it; <state_dir>/volumes/<name>.img
 * are persistent md images; <state_dir>/shared/<name>/ is the shared pool.
 *
 * Lifecycle, stored in the jails table and written before the step that
 * follows it:
 *
 *   defined -> allocating -> starting -> ready -> stopping -> freeing -> stopped
 *                 |             |                                ^
 *                 +-------------+--> failed (with reason)        |
 *   waiting: held back until required services are ready --------+
 *
 *   allocating  jail_alloc, before the first disk or mount
 *   starting    jail_spawn, before the root process is started
 *   ready, stopping, waiting   jail_state_set, by the daemon
 *   freeing     jail_free, before the first unmount
 *   stopped     jail_free, when everything is undone
 *   failed      jail_alloc or jail_spawn, after undoing a failed step
 *
 * A runtime handle is used by one thread at a time.
 *
 * Limitations: a file mount whose destination lies in a shared directory
 * or on a disk stays there after the jail is freed, because the copy is
 * part of that persistent file system.
 */
#ifndef ROOTD_JAIL_H
#define ROOTD_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nem/err.h>

#include "config.h"
#include "db.h"
#include "names.h"
#include "store.h"

struct jail_runtime;
struct jail;

/* The folders of the runtime's files. Both must exist. */
struct jail_paths {
	const char *run_dir;	/* e.g. /run/nem */
	const char *state_dir;	/* e.g. /var/lib/nem */
	const char *init_path;	/* host path of the static nem-init, run
				   for process.init = true; NULL:
				   JAIL_DEFAULT_INIT_PATH */
};

/*
 * Where nem-init is installed. The build passes
 * <prefix>/<libexecdir>/nem/nem-init; jail_paths.init_path overrides it.
 */
#ifndef JAIL_DEFAULT_INIT_PATH
#define JAIL_DEFAULT_INIT_PATH "/usr/local/libexec/nem/nem-init"
#endif

/* Lifecycle states; the stored spelling is jail_state_name(). */
enum jail_state {
	JAIL_STATE_DEFINED,
	JAIL_STATE_ALLOCATING,
	JAIL_STATE_STARTING,
	JAIL_STATE_READY,
	JAIL_STATE_STOPPING,
	JAIL_STATE_FREEING,
	JAIL_STATE_STOPPED,
	JAIL_STATE_FAILED,
	JAIL_STATE_WAITING,
};

/*
 * Opens the runtime: creates the folders of the layout that are missing
 * (<run_dir>/jails, <run_dir>/images, <state_dir>/volumes,
 * <state_dir>/shared, <state_dir>/cache/md) and makes <run_dir>/jails and
 * <run_dir>/images private mount points, so mounts under them propagate
 * to and from no other mount namespace. store and db stay owned by the
 * caller and must outlive the runtime. Returns a handle to free with
 * jail_runtime_close, or NULL with err set.
 */
struct jail_runtime *jail_runtime_open(const struct jail_paths *paths,
    struct store *store, struct db *db, struct nem_err *err);

/*
 * Frees the handle. Jails still allocated stay mounted and recorded;
 * jail_recover cleans them up at the next start. NULL is allowed.
 */
void jail_runtime_close(struct jail_runtime *rt);

/*
 * Tears down everything the state database records for any jail, and
 * everything no record explains: each mount under <run_dir>/jails and
 * <run_dir>/images, each loop device backed by a file under run_dir or
 * state_dir, and each leftover ephemeral md image. Each cleanup is logged.
 * Jails named in wanted[0..nwanted) keep their row, set to stopped when
 * they were active; the rows of other jails are deleted. Call it once at
 * daemon start, before the first jail_alloc. Returns 0 when everything was
 * cleaned up, or -1 with err set after trying every step.
 */
int jail_recover(struct jail_runtime *rt, const char *const *wanted,
    size_t nwanted, struct nem_err *err);

/*
 * Allocates the jail described by cfg: looks up every image, then makes
 * the mounts in the order written (a file copy right after the last mount
 * that contains its destination), then a minimal /dev. cfg must stay valid
 * and unchanged until jail_free. On failure everything done so far is
 * undone before returning, the jail's state becomes failed with the
 * message as its reason, and *out is untouched. Returns 0 with *out owned
 * by the caller (release it with jail_free), or -1 with err set: EBUSY
 * when the jail is already allocated, ENOENT for an unknown image or a
 * missing disk device, EBADMSG for an image that fails its integrity
 * check, EEXIST for a persistent volume of another size, ELOOP or EXDEV
 * for a destination that resolves outside the jail, EROFS for a missing
 * directory in a read-only image, ENOSPC, or the errno of a failed call.
 */
int jail_alloc(struct jail_runtime *rt, const struct cfg_jail *cfg,
    struct jail **out, struct nem_err *err);

/*
 * Allocates like jail_alloc, but mount i of type image uses the stored
 * file whose SHA-256 is resolved[i] (64 hex digits, the digest recorded
 * when the description was applied) instead of a fresh lookup of its name
 * and version requirement. resolved has cfg->nmounts entries; an entry,
 * or resolved itself, may be NULL to look the image up as jail_alloc
 * does. Errors as jail_alloc: ENOENT when the recorded file is gone.
 */
int jail_alloc_resolved(struct jail_runtime *rt, const struct cfg_jail *cfg,
    const char *const *resolved, struct jail **out, struct nem_err *err);

/*
 * The two halves of jail_alloc_resolved, so that the second can run on
 * another thread while the event loop goes on.
 *
 * jail_alloc_prepare runs on the thread that owns the runtime's database
 * connection and store: it checks the jail, records it allocating, looks
 * up its images and mounts them under <run_dir>/images. On success *out
 * is the prepared jail, which jail_alloc_build must get next. On failure
 * everything is undone, the jail is recorded failed, and err is set.
 *
 * jail_alloc_build makes the jail's tree, on any thread, with db being
 * that thread's own connection to the state database. Builds of different
 * jails may run at the same time, and alongside the runtime's other calls
 * on the owning thread. On failure it undoes everything, records the jail
 * failed, frees it and sets err. The jail goes back to the owning thread
 * with jail_adopt before any other call uses it.
 */
int jail_alloc_prepare(struct jail_runtime *rt, const struct cfg_jail *cfg,
    const char *const *resolved, struct jail **out, struct nem_err *err);
int jail_alloc_build(struct jail *jail, struct db *db, struct nem_err *err);
void jail_adopt(struct jail *jail);

/*
 * Starts the jail's root process: cfg->cmd.exec as cfg->user (resolved
 * in the jail's own /etc/passwd and /etc/group; root when unset) in new
 * namespaces, with a clean environment (PATH, HOME, then the description's
 * env, then NEM_FD=3), /dev/null as stdin, log_fd as stdout and stderr
 * and channel_fd as fd 3 (or no fd 3 when it is -1). With cfg->init the
 * process is nem-init, executed from the host file init_path with the
 * command line of broker_init_argv, and exec runs as its child. Both
 * descriptors stay owned by the caller. Writes the state starting before
 * the process is started. Returns 0 with the process id in *pid and its
 * pidfd in *pidfd, or -1 with err set and the state failed. The pidfd
 * stays owned by the jail and valid until jail_free. The caller reaps the
 * process.
 */
int jail_spawn(struct jail *jail, int channel_fd, int log_fd, pid_t *pid,
    int *pidfd, struct nem_err *err);

/*
 * Frees the jail: writes the state freeing, sends SIGKILL to a root
 * process that still runs, unmounts everything in reverse order, detaches
 * the loop devices it attached and drops its image references. An image
 * mount that no other jail uses is unmounted and its loop device
 * detached. Then it deletes the ephemeral md images and the records, and
 * writes the state stopped. Never deletes a persistent volume, a shared directory or an
 * image. The root process should have been reaped; if it still runs, its
 * devices are freed by the kernel when it exits. jail is freed even on
 * failure. Returns 0, or -1 with err set when some step failed (the rest
 * still ran; jail_recover finishes the job).
 */
int jail_free(struct jail *jail, struct nem_err *err);

/* Returns the jail's name. */
const char *jail_name(const struct jail *jail);

/* Returns the host path of the jail's tree, <run_dir>/jails/<name>/root. */
const char *jail_root_path(const struct jail *jail);

/*
 * Records state (and reason, NULL for none) for the jail named name, for
 * the transitions the daemon drives: ready, stopping, waiting. Returns 0,
 * or -1 with err set (database errors).
 */
int jail_state_set(struct jail_runtime *rt, const char *name,
    enum jail_state state, const char *reason, struct nem_err *err);

/*
 * Reads the stored state of the jail named name into *state, and its
 * reason (possibly "") into reason[0..size). Returns 0, 1 when the jail
 * has no row, or -1 with err set.
 */
int jail_state_get(struct jail_runtime *rt, const char *name,
    enum jail_state *state, char *reason, size_t size, struct nem_err *err);

/* Returns the stored spelling of state, e.g. "allocating". */
const char *jail_state_name(enum jail_state state);

/*
 * Test hook, NULL by default: when set, it is called with the name of each
 * step ("image-loop-attached", "md-loop-attached", "mounted",
 * "free-unmounted"), so a test can kill the process there and check
 * recovery.
 */
extern void (*jail_test_hook)(const char *step);

#endif
