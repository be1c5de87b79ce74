/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Freeing a jail: the steps of its allocation undone in reverse order.
 * Used by jail_free and by a failed jail_alloc. Only ephemeral md images
 * are deleted; persistent volumes, shared directories and images stay.
 */
#include "jail_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nem/log.h>

/* Keeps the first error in err and logs the later ones. */
static void
keep_first(struct jail *jail, int *rc, struct nem_err *first,
    const struct nem_err *e)
{
	if (*rc == 0) {
		*first = *e;
		*rc = -1;
	} else {
		log_warn("jail %s: %s", jail->name, e->msg);
	}
}

/* Undoes step s. Returns 0, or -1 with err set. */
static int
undo_step(struct jail *jail, struct jail_step *s, struct nem_err *err)
{
	switch (s->kind) {
	case JAIL_RES_MOUNT:
		if (s->image != NULL) {
			struct jail_image *image = s->image;

			s->image = NULL;
			return jail_image_release(jail->rt, jail->db, image, err);
		}
		return 0;
	case JAIL_RES_LOOP:
		if (s->disk.path[0] == '\0')
			return 0;
		return os_disk_detach(&s->disk, err);
	case JAIL_RES_MD_FILE:
		if (unlink(s->path) == -1 && errno != ENOENT)
			return nem_err_sys(err, errno, "cannot delete "
			    "ephemeral md image %s", s->path);
		return 0;
	case JAIL_RES_VOLUME:
		return 0;
	}
	return 0;
}

int
jail_undo(struct jail *jail, struct nem_err *err)
{
	struct nem_err e;
	int rc = 0;

	/* Once the mount at "/" exists, the root descriptor refers to it, and
	 * an open descriptor makes umount2 of that mount fail with EBUSY. So
	 * it is closed before the mounts are undone. */
	os_root_close(&jail->root);

	/*
	 * Mounts first, last made first, so every device is idle. Another
	 * jail that shares a directory can rename mount points meanwhile, so a
	 * mount left here is swept below through the jail root instead.
	 */
	for (size_t i = jail->nsteps; i-- > 0;) {
		struct jail_step *s = &jail->steps[i];

		if (s->kind == JAIL_RES_MOUNT &&
		    os_unmount_under(s->path, &e) == -1)
			log_debug("jail %s: %s. Sweeping the whole root next.",
			    jail->name, e.msg);
	}
	if (os_unmount_under(jail->root_path, &e) == -1)
		keep_first(jail, &rc, err, &e);
	jail_hook("free-unmounted");

	/* Images are released once no mount of this jail uses them. */
	for (size_t i = jail->nsteps; i-- > 0;) {
		if (undo_step(jail, &jail->steps[i], &e) == -1)
			keep_first(jail, &rc, err, &e);
	}
	for (size_t i = 0; jail->acquired != NULL && i < jail->cfg->nmounts;
	    i++) {
		if (jail->acquired[i] != NULL &&
		    jail_image_release(jail->rt, jail->db, jail->acquired[i],
		    &e) == -1)
			keep_first(jail, &rc, err, &e);
		jail->acquired[i] = NULL;
	}

	/* A record goes only once its side effect is undone. */
	for (size_t i = jail->nsteps; i-- > 0;) {
		struct jail_step *s = &jail->steps[i];

		if (rc == 0 && s->row != 0 &&
		    jail_db_res_delete(jail->db, s->row, &e) == -1)
			keep_first(jail, &rc, err, &e);
		free(s->path);
	}
	free(jail->steps);
	jail->steps = NULL;
	jail->nsteps = 0;
	jail->capsteps = 0;

	if (rmdir(jail->md_dir) == -1 && errno != ENOENT) {
		nem_err_sys(&e, errno, "cannot remove %s", jail->md_dir);
		keep_first(jail, &rc, err, &e);
	}
	if (rmdir(jail->root_path) == -1 && errno != ENOENT) {
		nem_err_sys(&e, errno, "cannot remove %s", jail->root_path);
		keep_first(jail, &rc, err, &e);
	}
	/* The folder stays while it contains the jail's log file. */
	if (rmdir(jail->dir) == -1 && errno != ENOENT && errno != ENOTEMPTY) {
		nem_err_sys(&e, errno, "cannot remove %s", jail->dir);
		keep_first(jail, &rc, err, &e);
	}
	return rc;
}

int
jail_free(struct jail *jail, struct nem_err *err)
{
	struct nem_err e;
	int rc;

	rc = jail_db_state_set(jail->db, jail->name, JAIL_STATE_FREEING,
	    NULL, err);
	if (rc == -1)
		log_warn("jail %s: freeing without a state record: %s",
		    jail->name, err->msg);

	if (jail->proc.pid != 0) {
		/* ESRCH: the root process is gone, as it should be. */
		if (os_jail_signal(&jail->proc, SIGKILL, &e) == -1 &&
		    e.code != ESRCH)
			log_warn("jail %s: %s", jail->name, e.msg);
		os_jail_release(&jail->proc);
	}

	if (jail_undo(jail, rc == 0 ? err : &e) == -1) {
		if (rc == -1)
			log_warn("jail %s: %s", jail->name, e.msg);
		rc = -1;
	}
	if (rc == 0) {
		rc = jail_db_state_set(jail->db, jail->name,
		    JAIL_STATE_STOPPED, NULL, err);
		log_info("jail %s: freed", jail->name);
	} else {
		nem_err_prefix(err, "jail %s: free", jail->name);
	}
	jail_destroy(jail);
	return rc;
}
