/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Crash recovery of the jail runtime, run once at daemon start. The daemon
 * restarts jails from scratch, so recovery tears down everything: first
 * what the state database records (jail resources, then shared image
 * mounts), then whatever no record explains (mounts under <run_dir>/jails
 * and <run_dir>/images, loop devices backed by files under run_dir or
 * state_dir, leftover ephemeral md images and folders). Every cleanup is
 * logged. Persistent volumes, shared directories and images are kept.
 *
 * NOTE: a root process that outlived the crashed daemon is not killed.
 * Its mount namespace keeps its devices busy until it exits, and then the
 * kernel frees them, because loop devices are attached with autoclear.
 */
#include "jail_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nem/log.h>

/* One row of jail_resources. */
struct res_row {
	int64_t id;
	char jail[NAME_MAX_LEN + 1];
	enum jail_res_kind kind;
	char path[PATH_MAX];
	bool done;
};

/* The recorded backing files of loop devices, by device and inode. */
struct file_id {
	dev_t dev;
	ino_t ino;
};

struct recovery {
	struct jail_runtime *rt;
	struct file_id *files;
	size_t nfiles;
	size_t capfiles;
	char **mounts;		/* recorded mount paths */
	size_t nmounts;
	size_t capmounts;
	int rc;
	struct nem_err *err;
};

/* Keeps the first failure in rec->err and logs every failure. */
static void
failed(struct recovery *rec, const struct nem_err *e)
{
	log_warn("recovery: %s", e->msg);
	if (rec->rc == 0) {
		*rec->err = *e;
		rec->rc = -1;
	}
}

static void
remember_file(struct recovery *rec, const char *path)
{
	struct file_id *grown;
	struct stat st;

	if (stat(path, &st) == -1)
		return;
	if (rec->nfiles == rec->capfiles) {
		size_t cap = rec->capfiles ? rec->capfiles * 2 : 16;

		grown = reallocarray(rec->files, cap, sizeof(*grown));
		if (grown == NULL)
			return;
		rec->files = grown;
		rec->capfiles = cap;
	}
	rec->files[rec->nfiles].dev = st.st_dev;
	rec->files[rec->nfiles].ino = st.st_ino;
	rec->nfiles++;
}

static void
remember_mount(struct recovery *rec, const char *path)
{
	char **grown;
	char *copy;

	if (rec->nmounts == rec->capmounts) {
		size_t cap = rec->capmounts ? rec->capmounts * 2 : 16;

		grown = reallocarray(rec->mounts, cap, sizeof(*grown));
		if (grown == NULL)
			return;
		rec->mounts = grown;
		rec->capmounts = cap;
	}
	copy = strdup(path);
	if (copy != NULL)
		rec->mounts[rec->nmounts++] = copy;
}

/* Reads every jail_resources row, newest first, into *rows. */
static int
read_resources(struct db *db, struct res_row **rows, size_t *count,
    struct nem_err *err)
{
	struct res_row *list = NULL, *grown;
	size_t n = 0, cap = 0;
	sqlite3_stmt *stmt;
	int rc;

	if (db_prepare(db, "SELECT id, jail, kind, path, done FROM "
	    "jail_resources ORDER BY id DESC", &stmt, err) == -1)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *jail = (const char *)sqlite3_column_text(stmt, 1);
		const char *kind = (const char *)sqlite3_column_text(stmt, 2);
		const char *path = (const char *)sqlite3_column_text(stmt, 3);
		struct res_row *r;

		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			grown = reallocarray(list, cap, sizeof(*list));
			if (grown == NULL) {
				free(list);
				sqlite3_finalize(stmt);
				return nem_err_sys(err, ENOMEM, "recovery");
			}
			list = grown;
		}
		r = &list[n];
		memset(r, 0, sizeof(*r));
		r->id = sqlite3_column_int64(stmt, 0);
		snprintf(r->jail, sizeof(r->jail), "%s", jail ? jail : "");
		snprintf(r->path, sizeof(r->path), "%s", path ? path : "");
		r->done = sqlite3_column_int(stmt, 4) != 0;
		if (kind == NULL || jail_res_kind_parse(kind, &r->kind) == -1) {
			log_warn("recovery: jail %s: resource %lld has "
			    "unknown kind %s; ignored", r->jail,
			    (long long)r->id, kind ? kind : "(null)");
			continue;
		}
		n++;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		free(list);
		return db_fail(db, rc, "read jail resources", err);
	}
	*rows = list;
	*count = n;
	return 0;
}

/* Undoes one recorded resource and deletes its row. */
static void
recover_resource(struct recovery *rec, const struct res_row *r)
{
	struct nem_err e;

	switch (r->kind) {
	case JAIL_RES_MOUNT:
		log_info("recovery: jail %s: unmounting %s", r->jail, r->path);
		remember_mount(rec, r->path);
		if (os_unmount_under(r->path, &e) == -1) {
			failed(rec, &e);
			return;
		}
		break;
	case JAIL_RES_LOOP:
		/* Detached with the unrecorded ones, after every unmount. */
		remember_file(rec, r->path);
		break;
	case JAIL_RES_MD_FILE:
		remember_file(rec, r->path);
		break;
	case JAIL_RES_VOLUME:
		log_info("recovery: jail %s: keeping volume %s", r->jail,
		    r->path);
		remember_file(rec, r->path);
		break;
	}
}

/* Deletes the recorded ephemeral md images, after their devices are free. */
static void
recover_md_files(struct recovery *rec, const struct res_row *rows, size_t n)
{
	struct nem_err e;

	for (size_t i = 0; i < n; i++) {
		if (rows[i].kind != JAIL_RES_MD_FILE)
			continue;
		if (unlink(rows[i].path) == 0)
			log_info("recovery: jail %s: deleted ephemeral md "
			    "image %s", rows[i].jail, rows[i].path);
		else if (errno != ENOENT) {
			nem_err_sys(&e, errno, "jail %s: cannot delete "
			    "ephemeral md image %s", rows[i].jail,
			    rows[i].path);
			failed(rec, &e);
		}
	}
}

/* Unmounts the recorded shared image mounts and deletes their rows. */
static void
recover_images(struct recovery *rec)
{
	struct jail_runtime *rt = rec->rt;
	sqlite3_stmt *stmt;
	struct nem_err e;
	char **paths = NULL, **shas = NULL;
	size_t n = 0;
	int rc;

	if (db_prepare(rt->db, "SELECT sha256, path, backing FROM "
	    "image_mounts", &stmt, &e) == -1) {
		failed(rec, &e);
		return;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *sha = (const char *)sqlite3_column_text(stmt, 0);
		const char *path = (const char *)sqlite3_column_text(stmt, 1);
		const char *backing =
		    (const char *)sqlite3_column_text(stmt, 2);
		char **gp, **gs;

		if (sha == NULL || path == NULL || backing == NULL)
			continue;
		gp = reallocarray(paths, n + 1, sizeof(*paths));
		if (gp != NULL)
			paths = gp;
		gs = reallocarray(shas, n + 1, sizeof(*shas));
		if (gs != NULL)
			shas = gs;
		if (gp == NULL || gs == NULL)
			break;
		paths[n] = strdup(path);
		shas[n] = strdup(sha);
		if (paths[n] == NULL || shas[n] == NULL) {
			free(paths[n]);
			free(shas[n]);
			break;
		}
		n++;
		remember_file(rec, backing);
	}
	sqlite3_finalize(stmt);

	for (size_t i = 0; i < n; i++) {
		log_info("recovery: image %s: unmounting %s", shas[i],
		    paths[i]);
		remember_mount(rec, paths[i]);
		if (os_unmount_under(paths[i], &e) == -1)
			failed(rec, &e);
		else if (jail_db_image_delete(rt->db, shas[i], &e) == -1)
			failed(rec, &e);
		free(paths[i]);
		free(shas[i]);
	}
	free(paths);
	free(shas);
}

static bool
mount_recorded(const struct recovery *rec, const char *path)
{
	for (size_t i = 0; i < rec->nmounts; i++) {
		if (strcmp(rec->mounts[i], path) == 0)
			return true;
	}
	return false;
}

/* Unmounts whatever is still mounted under dir, except dir itself. */
static void
sweep_mounts(struct recovery *rec, const char *dir)
{
	struct os_mount *mounts;
	struct nem_err e;
	size_t n;

	if (os_mount_list(dir, &mounts, &n, &e) == -1) {
		failed(rec, &e);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(mounts[i].path, dir) == 0)
			continue;
		if (!mount_recorded(rec, mounts[i].path))
			log_warn("recovery: unmounting %s (%s from %s), which "
			    "no record explains", mounts[i].path,
			    mounts[i].fstype, mounts[i].source);
		if (os_unmount_under(mounts[i].path, &e) == -1)
			failed(rec, &e);
	}
	os_mount_list_free(mounts, n);
}

static bool
file_recorded(const struct recovery *rec, const struct os_disk *disk)
{
	for (size_t i = 0; i < rec->nfiles; i++) {
		if (rec->files[i].dev == disk->backing_dev &&
		    rec->files[i].ino == disk->backing_ino)
			return true;
	}
	return false;
}

/* Detaches every loop device backed by a file under dir. */
static void
sweep_loops(struct recovery *rec, const char *dir)
{
	struct os_disk *disks;
	struct nem_err e;
	size_t n;

	if (os_disk_list(dir, &disks, &n, &e) == -1) {
		failed(rec, &e);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (file_recorded(rec, &disks[i]))
			log_info("recovery: detaching %s", disks[i].path);
		else
			log_warn("recovery: detaching %s, backed by a file "
			    "under %s that no record explains", disks[i].path,
			    dir);
		if (os_disk_detach(&disks[i], &e) == -1)
			failed(rec, &e);
	}
	free(disks);
}

/* Removes the md images and folders left in <run_dir>/jails/<name>. */
static void
sweep_jail_dir(struct recovery *rec, const char *name)
{
	char dir[PATH_MAX], md[PATH_MAX], path[PATH_MAX];
	struct nem_err e;
	struct dirent *de;
	DIR *d;

	if (jail_path_join(dir, rec->rt->jails_dir, name, &e) == -1 ||
	    jail_path_join(md, dir, "md", &e) == -1) {
		failed(rec, &e);
		return;
	}
	d = opendir(md);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (jail_path_join(path, md, de->d_name, &e) == -1)
				continue;
			if (unlink(path) == 0)
				log_warn("recovery: jail %s: deleted leftover "
				    "ephemeral md image %s", name, path);
		}
		closedir(d);
		rmdir(md);
	}
	if (jail_path_join(path, dir, "root", &e) == 0)
		rmdir(path);
	/* The folder stays while it contains the jail's log file. */
	if (rmdir(dir) == -1 && errno != ENOENT && errno != ENOTEMPTY) {
		nem_err_sys(&e, errno, "cannot remove leftover folder %s",
		    dir);
		failed(rec, &e);
	}
}

/* Calls fn for each entry (not "." or "..") of the folder dir. */
static void
each_entry(struct recovery *rec, const char *dir,
    void (*fn)(struct recovery *, const char *, const char *))
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			fn(rec, dir, de->d_name);
	}
	closedir(d);
}

static void
jail_entry(struct recovery *rec, const char *dir, const char *name)
{
	sweep_jail_dir(rec, name);
}

static void
image_entry(struct recovery *rec, const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct nem_err e;

	if (jail_path_join(path, dir, name, &e) == 0 && rmdir(path) == -1 &&
	    errno != ENOENT) {
		nem_err_sys(&e, errno, "cannot remove leftover folder %s",
		    path);
		failed(rec, &e);
	}
}

/* Deletes volume images that a crash left half created ("*.tmp"). */
static void
volume_entry(struct recovery *rec, const char *dir, const char *name)
{
	size_t len = strlen(name);
	char path[PATH_MAX];
	struct nem_err e;

	if (len < 4 || strcmp(name + len - 4, ".tmp") != 0)
		return;
	if (jail_path_join(path, dir, name, &e) == 0 && unlink(path) == 0)
		log_warn("recovery: deleted half-created volume image %s",
		    path);
}

static bool
is_wanted(const char *name, const char *const *wanted, size_t nwanted)
{
	for (size_t i = 0; i < nwanted; i++) {
		if (strcmp(name, wanted[i]) == 0)
			return true;
	}
	return false;
}

/*
 * Sets the jails that were active to stopped, or deletes their rows when
 * they are no longer wanted.
 */
static void
recover_states(struct recovery *rec, const char *const *wanted,
    size_t nwanted)
{
	struct db *db = rec->rt->db;
	sqlite3_stmt *stmt, *del;
	struct nem_err e;
	int rc;

	if (db_prepare(db, "SELECT name, state FROM jails", &stmt, &e) == -1) {
		failed(rec, &e);
		return;
	}
	if (db_prepare(db, "DELETE FROM jails WHERE name = ?1", &del,
	    &e) == -1) {
		sqlite3_finalize(stmt);
		failed(rec, &e);
		return;
	}
	if (db_begin(db, &e) == -1) {
		sqlite3_finalize(stmt);
		sqlite3_finalize(del);
		failed(rec, &e);
		return;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(stmt, 0);
		const char *state = (const char *)sqlite3_column_text(stmt, 1);

		if (name == NULL || state == NULL)
			continue;
		if (!is_wanted(name, wanted, nwanted)) {
			log_info("recovery: jail %s: forgetting its state "
			    "(%s); it is no longer described", name, state);
			sqlite3_bind_text(del, 1, name, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(del) != SQLITE_DONE)
				log_warn("recovery: jail %s: cannot delete "
				    "its state row", name);
			sqlite3_reset(del);
			continue;
		}
		if (strcmp(state, "stopped") == 0 ||
		    strcmp(state, "failed") == 0 ||
		    strcmp(state, "defined") == 0)
			continue;
		log_info("recovery: jail %s: was %s when the daemon stopped; "
		    "now stopped", name, state);
		if (jail_db_state_set(db, name, JAIL_STATE_STOPPED,
		    "the daemon restarted", &e) == -1)
			failed(rec, &e);
	}
	sqlite3_finalize(stmt);
	sqlite3_finalize(del);
	if (rc != SQLITE_DONE) {
		db_rollback(db);
		db_fail(db, rc, "read jail states", &e);
		failed(rec, &e);
		return;
	}
	if (db_commit(db, &e) == -1)
		failed(rec, &e);
}

int
jail_recover(struct jail_runtime *rt, const char *const *wanted,
    size_t nwanted, struct nem_err *err)
{
	struct recovery rec = { .rt = rt, .err = err };
	struct res_row *rows = NULL;
	struct nem_err e;
	size_t nrows = 0;

	if (read_resources(rt->db, &rows, &nrows, &e) == -1)
		failed(&rec, &e);

	/* Newest first: inner mounts go before the ones holding them. */
	for (size_t i = 0; i < nrows; i++) {
		if (rows[i].kind == JAIL_RES_MOUNT)
			recover_resource(&rec, &rows[i]);
	}
	for (size_t i = 0; i < nrows; i++) {
		if (rows[i].kind != JAIL_RES_MOUNT)
			recover_resource(&rec, &rows[i]);
	}
	recover_images(&rec);

	sweep_mounts(&rec, rt->jails_dir);
	sweep_mounts(&rec, rt->images_dir);
	sweep_loops(&rec, rt->run_dir);
	sweep_loops(&rec, rt->state_dir);
	recover_md_files(&rec, rows, nrows);
	each_entry(&rec, rt->jails_dir, jail_entry);
	each_entry(&rec, rt->images_dir, image_entry);
	each_entry(&rec, rt->volumes_dir, volume_entry);

	if (rec.rc == 0 && db_exec(rt->db, "DELETE FROM jail_resources",
	    &e) == -1)
		failed(&rec, &e);
	recover_states(&rec, wanted, nwanted);

	for (size_t i = 0; i < rec.nmounts; i++)
		free(rec.mounts[i]);
	free(rec.mounts);
	free(rec.files);
	free(rows);
	if (rec.rc == -1)
		nem_err_prefix(err, "jail recovery");
	return rec.rc;
}
