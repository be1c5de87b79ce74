/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Internals of the jail runtime, shared by jail.c, jail_alloc.c,
 * jail_free.c, jail_recover.c, jail_db.c and volume.c. Nothing outside
 * those files includes it.
 */
#ifndef ROOTD_JAIL_INT_H
#define ROOTD_JAIL_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "jail.h"
#include "os/os.h"

/* Kinds of resource rows; the stored spelling is in jail_db.c. */
enum jail_res_kind {
	JAIL_RES_MOUNT,		/* a mount at path (host path) */
	JAIL_RES_LOOP,		/* a loop device backed by the file path */
	JAIL_RES_MD_FILE,	/* an ephemeral md image file, deleted at free */
	JAIL_RES_VOLUME,	/* a persistent volume in use, never deleted */
};

/*
 * An image mounted once under <run_dir>/images/<sha256> and shared by the
 * jails that bind-mount it. refs counts those jails in this process.
 */
struct jail_image {
	char sha256[STORE_SHA256_HEX_LEN + 1];
	char path[PATH_MAX];		/* <run_dir>/images/<sha256> */
	struct os_disk disk;		/* its loop device */
	unsigned refs;
	struct jail_image *next;
};

struct jail_runtime {
	char run_dir[PATH_MAX];
	char state_dir[PATH_MAX];
	char jails_dir[PATH_MAX];	/* <run_dir>/jails */
	char images_dir[PATH_MAX];	/* <run_dir>/images */
	char volumes_dir[PATH_MAX];	/* <state_dir>/volumes */
	char shared_dir[PATH_MAX];	/* <state_dir>/shared */
	char md_cache_dir[PATH_MAX];	/* <state_dir>/cache/md */
	char image_files_dir[PATH_MAX];	/* <state_dir>/images/sha256 */
	char init_path[PATH_MAX];	/* nem-init on the host */
	struct store *store;		/* used on the event loop thread only */
	struct db *db;			/* the event loop thread's connection */
	pthread_mutex_t images_lock;	/* guards images, their refs and
					   volume holds */
	struct jail_image *images;	/* mounted images, any order */
	struct volume_hold *holds;	/* persistent volumes in use */
};

/*
 * A persistent volume image held by one jail from its preparation until
 * it is freed, so that no other jail mounts it meanwhile, for example a
 * new jail with the same volume while the old one still stops.
 */
struct volume_hold {
	char path[PATH_MAX];		/* <state_dir>/volumes/<name>.img */
	const struct jail *owner;
	struct volume_hold *next;
};

/* One step of an allocation, undone in reverse by jail_undo. */
struct jail_step {
	enum jail_res_kind kind;
	int64_t row;			/* jail_resources id, 0 when none */
	char *path;			/* host path, malloc'ed */
	struct jail_image *image;	/* bind of this image, or NULL */
	struct os_disk disk;		/* JAIL_RES_LOOP: the device */
	bool done;			/* the side effect happened */
};

struct jail {
	struct jail_runtime *rt;
	struct db *db;			/* connection of the thread using it */
	const struct cfg_jail *cfg;
	char name[NAME_MAX_LEN + 1];
	char dir[PATH_MAX];		/* <run_dir>/jails/<name> */
	char root_path[PATH_MAX];	/* <dir>/root */
	char md_dir[PATH_MAX];		/* <dir>/md */
	struct os_root root;
	struct jail_step *steps;
	size_t nsteps;
	size_t capsteps;
	struct store_image *images;	/* per mount, looked up by prepare */
	struct jail_image **acquired;	/* per mount, until a step owns it */
	struct os_jail proc;		/* pid 0 until spawned */
};

/* Frees jail and its arrays; its side effects must be undone. */
void jail_destroy(struct jail *jail);

/* Calls jail_test_hook with step when it is set. */
void jail_hook(const char *step);

/* Builds "%s/%s" into buf of size PATH_MAX; ENAMETOOLONG when it does not
 * fit. Returns 0, or -1 with err set. */
int jail_path_join(char *buf, const char *dir, const char *name,
    struct nem_err *err);

/*
 * Undoes the steps of jail in reverse order: unmounts, detaches loop
 * devices, drops image references and deletes ephemeral md images, then
 * their rows, then removes the jail's folders. Called by jail_free and by
 * a failed jail_alloc. Returns 0, or -1 with err set to the first failure
 * after trying every step.
 */
int jail_undo(struct jail *jail, struct nem_err *err);

/*
 * Takes a reference on the image sha256 of fstype, mounting it under
 * <run_dir>/images on first use. Uses the store, so only the event loop
 * thread calls it. Returns the image, or NULL with err set.
 */
struct jail_image *jail_image_acquire(struct jail_runtime *rt,
    const char *sha256, const char *fstype, struct nem_err *err);

/*
 * Drops a reference on image; the last one unmounts it, detaches its loop
 * device and deletes its record through db, the calling thread's
 * connection. Safe on any thread. Returns 0, or -1 with err set.
 */
int jail_image_release(struct jail_runtime *rt, struct db *db,
    struct jail_image *image, struct nem_err *err);

/* State database records (jail_db.c). */
const char *jail_res_kind_name(enum jail_res_kind kind);
int jail_res_kind_parse(const char *name, enum jail_res_kind *kind);
int jail_db_state_set(struct db *db, const char *name, enum jail_state state,
    const char *reason, struct nem_err *err);
int jail_db_pid_set(struct db *db, const char *name, pid_t pid,
    struct nem_err *err);
int jail_db_res_add(struct db *db, const char *jail, enum jail_res_kind kind,
    const char *path, int64_t *row, struct nem_err *err);
int jail_db_res_done(struct db *db, int64_t row, const char *device,
    struct nem_err *err);
int jail_db_res_delete(struct db *db, int64_t row, struct nem_err *err);
int jail_db_image_add(struct db *db, const char *sha256, const char *path,
    const char *backing, struct nem_err *err);
int jail_db_image_done(struct db *db, const char *sha256, const char *device,
    struct nem_err *err);
int jail_db_image_delete(struct db *db, const char *sha256,
    struct nem_err *err);

#endif
