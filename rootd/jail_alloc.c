/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Allocation of a jail: the folders under <run_dir>/jails/<name>, the
 * disks and the mounts of its description in the order written, and a
 * minimal /dev. Each side effect is recorded before it happens and kept as
 * a step, so a failure undoes exactly what was done (jail_undo) and a
 * crash leaves records for jail_recover.
 */
#include "jail_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nem/log.h>

/* Appends a step and returns it, or NULL when out of memory. */
static struct jail_step *
step_push(struct jail *jail, enum jail_res_kind kind, const char *path,
    struct nem_err *err)
{
	struct jail_step *s;

	if (jail->nsteps == jail->capsteps) {
		size_t cap = jail->capsteps ? jail->capsteps * 2 : 16;
		size_t bytes;

		if (__builtin_mul_overflow(cap, sizeof(*s), &bytes)) {
			nem_err_set(err, ENOMEM, "too many mounts");
			return NULL;
		}
		s = realloc(jail->steps, bytes);
		if (s == NULL) {
			nem_err_sys(err, ENOMEM, "jail %s", jail->name);
			return NULL;
		}
		jail->steps = s;
		jail->capsteps = cap;
	}
	s = &jail->steps[jail->nsteps];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->disk.fd = -1;
	s->path = strdup(path);
	if (s->path == NULL) {
		nem_err_sys(err, ENOMEM, "jail %s", jail->name);
		return NULL;
	}
	jail->nsteps++;
	return s;
}

/*
 * Records a resource of kind at path before its side effect happens and
 * keeps it as a step. Returns the step, or NULL with err set.
 */
static struct jail_step *
intent(struct jail *jail, enum jail_res_kind kind, const char *path,
    struct nem_err *err)
{
	struct jail_step *s = step_push(jail, kind, path, err);

	if (s == NULL)
		return NULL;
	if (jail_db_res_add(jail->db, jail->name, kind, path, &s->row,
	    err) == -1)
		return NULL;
	return s;
}

/* Marks step s done, in memory and in its record. */
static int
done(struct jail *jail, struct jail_step *s, const char *device,
    struct nem_err *err)
{
	s->done = true;
	return jail_db_res_done(jail->db, s->row, device, err);
}

/* Builds the host path of dest in the jail's tree. */
static int
host_path(const struct jail *jail, const char *dest, char *buf,
    struct nem_err *err)
{
	if (strcmp(dest, "/") == 0) {
		snprintf(buf, PATH_MAX, "%s", jail->root_path);
		return 0;
	}
	if (snprintf(buf, PATH_MAX, "%s%s", jail->root_path, dest) >=
	    PATH_MAX)
		return nem_err_set(err, ENAMETOOLONG, "destination %s is too "
		    "long", dest);
	return 0;
}

/*
 * Mounts image mount i through the shared mount under <run_dir>/images
 * that jail_alloc_prepare acquired; the step takes over that reference.
 */
static int
mount_image(struct jail *jail, size_t i, const char *hpath,
    struct nem_err *err)
{
	const struct cfg_mount *m = &jail->cfg->mounts[i];
	struct jail_step *s;

	s = intent(jail, JAIL_RES_MOUNT, hpath, err);
	if (s == NULL)
		return -1;
	s->image = jail->acquired[i];
	jail->acquired[i] = NULL;
	if (os_mount_bind(&jail->root, m->dest, s->image->path, true,
	    err) == -1)
		return -1;
	return done(jail, s, s->image->path, err);
}

/*
 * Creates (or for a volume, opens) the md image of mount m number index,
 * attaches it and mounts it.
 */
static int
mount_md(struct jail *jail, const struct cfg_mount *m, size_t index,
    const char *hpath, struct nem_err *err)
{
	char file[PATH_MAX], name[NAME_MAX_LEN + 16];
	struct jail_step *s, *loop;
	int fd, rc;

	if (m->persist) {
		snprintf(name, sizeof(name), "%s.img", m->volume);
		if (jail_path_join(file, jail->rt->volumes_dir, name,
		    err) == -1)
			return -1;
		s = intent(jail, JAIL_RES_VOLUME, file, err);
	} else {
		if (mkdir(jail->md_dir, 0700) == -1 && errno != EEXIST)
			return nem_err_sys(err, errno, "cannot create %s",
			    jail->md_dir);
		snprintf(name, sizeof(name), "%zu.img", index);
		if (jail_path_join(file, jail->md_dir, name, err) == -1)
			return -1;
		s = intent(jail, JAIL_RES_MD_FILE, file, err);
	}
	if (s == NULL)
		return -1;
	if (os_md_image_create(jail->rt->md_cache_dir, file, m->size,
	    m->persist ? OS_MD_PERSIST : 0, err) == -1) {
		if (m->persist && err->code == EEXIST)
			nem_err_prefix(err, "volume %s", m->volume);
		return -1;
	}
	if (done(jail, s, NULL, err) == -1)
		return -1;

	loop = intent(jail, JAIL_RES_LOOP, file, err);
	if (loop == NULL)
		return -1;
	fd = open(file, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return nem_err_sys(err, errno, "cannot open md image %s",
		    file);
	rc = os_disk_attach(fd, 0, &loop->disk, err);
	close(fd);
	if (rc == -1)
		return -1;
	loop->done = true;
	jail_hook("md-loop-attached");
	if (jail_db_res_done(jail->db, loop->row, loop->disk.path,
	    err) == -1)
		return -1;

	s = intent(jail, JAIL_RES_MOUNT, hpath, err);
	if (s == NULL)
		return -1;
	rc = os_mount_md(&jail->root, m->dest, loop->disk.path, err);
	os_disk_release(&loop->disk);
	if (rc == -1)
		return -1;
	return done(jail, s, loop->disk.path, err);
}

/* Bind-mounts the shared directory of m, creating it on first use. */
static int
mount_shared(struct jail *jail, const struct cfg_mount *m, const char *hpath,
    struct nem_err *err)
{
	char dir[PATH_MAX];
	struct jail_step *s;

	if (jail_path_join(dir, jail->rt->shared_dir, m->share, err) == -1)
		return -1;
	/* The shared pool is persistent: creating it is not undone. */
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		return nem_err_sys(err, errno, "cannot create shared "
		    "directory %s", dir);
	s = intent(jail, JAIL_RES_MOUNT, hpath, err);
	if (s == NULL)
		return -1;
	if (os_mount_bind(&jail->root, m->dest, dir, m->readonly, err) == -1)
		return -1;
	return done(jail, s, dir, err);
}

/* Mounts the block device of m after checking that it exists. */
static int
mount_disk(struct jail *jail, const struct cfg_mount *m, const char *hpath,
    struct nem_err *err)
{
	struct jail_step *s;
	struct stat st;

	if (stat(m->device, &st) == -1)
		return nem_err_sys(err, errno, "disk device %s is not "
		    "available; check the device name or attach the disk",
		    m->device);
	if (!S_ISBLK(st.st_mode))
		return nem_err_set(err, ENOTBLK, "disk device %s is not a "
		    "block device", m->device);
	s = intent(jail, JAIL_RES_MOUNT, hpath, err);
	if (s == NULL)
		return -1;
	if (os_mount_disk(&jail->root, m->dest, m->device,
	    m->fstype ? m->fstype : CFG_DEFAULT_FSTYPE, err) == -1)
		return -1;
	return done(jail, s, m->device, err);
}

static int
mount_tmpfs(struct jail *jail, const struct cfg_mount *m, const char *hpath,
    struct nem_err *err)
{
	struct jail_step *s = intent(jail, JAIL_RES_MOUNT, hpath, err);

	if (s == NULL)
		return -1;
	if (os_mount_tmpfs(&jail->root, m->dest, m->size, err) == -1)
		return -1;
	return done(jail, s, "tmpfs", err);
}

/* Copies the host file of m into the jail. */
static int
copy_file(struct jail *jail, const struct cfg_mount *m, struct nem_err *err)
{
	struct stat st;
	mode_t mode;
	int fd, rc;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(m->source_path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK);
	if (fd == -1)
		return nem_err_sys(err, errno, "cannot open file source %s",
		    m->source_path);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return nem_err_set(err, EINVAL, "file source %s is not a "
		    "regular file", m->source_path);
	}
	mode = m->has_mode ? (mode_t)m->mode : (st.st_mode & 0777);
	rc = os_copy_file(&jail->root, m->dest, fd, mode, err);
	close(fd);
	return rc;
}

/* Returns true when dest lies at or below dir (both normalized). */
static bool
dest_within(const char *dest, const char *dir)
{
	size_t len = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(dest, dir, len) == 0 &&
	    (dest[len] == '\0' || dest[len] == '/');
}

/*
 * Returns the index of the last mount (not a file) whose destination
 * contains the file of mount fi. The file is copied right after that
 * mount, so no later mount hides the copy.
 */
static size_t
file_holder(const struct cfg_jail *cfg, size_t fi)
{
	size_t holder = 0;

	for (size_t j = 0; j < cfg->nmounts; j++) {
		if (cfg->mounts[j].type != CFG_MOUNT_FILE &&
		    dest_within(cfg->mounts[fi].dest, cfg->mounts[j].dest))
			holder = j;
	}
	return holder;
}

/* Makes mount i of the description. */
static int
make_mount(struct jail *jail, size_t i, struct nem_err *err)
{
	const struct cfg_mount *m = &jail->cfg->mounts[i];
	char hpath[PATH_MAX];

	if (host_path(jail, m->dest, hpath, err) == -1)
		return -1;
	switch (m->type) {
	case CFG_MOUNT_IMAGE:
		return mount_image(jail, i, hpath, err);
	case CFG_MOUNT_MD:
		return mount_md(jail, m, i, hpath, err);
	case CFG_MOUNT_SHARED:
		return mount_shared(jail, m, hpath, err);
	case CFG_MOUNT_DISK:
		return mount_disk(jail, m, hpath, err);
	case CFG_MOUNT_TMPFS:
		return mount_tmpfs(jail, m, hpath, err);
	case CFG_MOUNT_FILE:
		return 0;
	}
	return nem_err_set(err, EINVAL, "unknown mount type %d", (int)m->type);
}

/* Makes every mount and file copy, then /dev. */
static int
make_tree(struct jail *jail, struct nem_err *err)
{
	const struct cfg_jail *cfg = jail->cfg;
	char hpath[PATH_MAX];
	struct jail_step *s;

	for (size_t i = 0; i < cfg->nmounts; i++) {
		if (cfg->mounts[i].type == CFG_MOUNT_FILE)
			continue;
		if (make_mount(jail, i, err) == -1) {
			nem_err_prefix(err, "mount %s at %s",
			    cfg_mount_type_name(cfg->mounts[i].type),
			    cfg->mounts[i].dest);
			return -1;
		}
		for (size_t f = 0; f < cfg->nmounts; f++) {
			if (cfg->mounts[f].type != CFG_MOUNT_FILE ||
			    file_holder(cfg, f) != i)
				continue;
			if (copy_file(jail, &cfg->mounts[f], err) == -1) {
				nem_err_prefix(err, "file at %s",
				    cfg->mounts[f].dest);
				return -1;
			}
		}
	}

	if (host_path(jail, "/dev", hpath, err) == -1)
		return -1;
	s = intent(jail, JAIL_RES_MOUNT, hpath, err);
	if (s == NULL)
		return -1;
	if (os_mount_dev(&jail->root, "/dev", err) == -1) {
		nem_err_prefix(err, "mount dev at /dev");
		return -1;
	}
	return done(jail, s, "dev", err);
}

/*
 * Looks up the image of every image mount into images[i], before any side
 * effect, so an unknown image fails the allocation at once. A mount with a
 * resolved digest (resolved non-NULL and resolved[i] non-NULL) takes
 * exactly that file of its image name, whatever the store contains now.
 */
static int
lookup_images(struct jail_runtime *rt, const struct cfg_jail *cfg,
    const char *const *resolved, struct store_image *images,
    struct nem_err *err)
{
	for (size_t i = 0; i < cfg->nmounts; i++) {
		const struct cfg_mount *m = &cfg->mounts[i];
		const char *pin = m->sha256, *req = m->version;

		if (m->type != CFG_MOUNT_IMAGE)
			continue;
		if (resolved != NULL && resolved[i] != NULL) {
			pin = resolved[i];
			req = NULL;
		}
		if (store_lookup(rt->store, m->image, req, pin,
		    &images[i], err) == -1) {
			nem_err_prefix(err, "mount image at %s", m->dest);
			return -1;
		}
	}
	return 0;
}

/* Fails with EBUSY when the jail is recorded as allocated or running. */
static int
check_not_allocated(struct jail_runtime *rt, const char *name,
    struct nem_err *err)
{
	enum jail_state state;
	int rc;

	rc = jail_state_get(rt, name, &state, NULL, 0, err);
	if (rc == -1)
		return -1;
	if (rc == 1)
		return 0;
	switch (state) {
	case JAIL_STATE_ALLOCATING:
	case JAIL_STATE_STARTING:
	case JAIL_STATE_READY:
	case JAIL_STATE_STOPPING:
	case JAIL_STATE_FREEING:
		return nem_err_set(err, EBUSY, "jail %s is already %s; free "
		    "it first", name, jail_state_name(state));
	default:
		return 0;
	}
}

static struct jail *
jail_new(struct jail_runtime *rt, const struct cfg_jail *cfg,
    struct nem_err *err)
{
	struct jail *jail = calloc(1, sizeof(*jail));

	if (jail == NULL) {
		nem_err_sys(err, ENOMEM, "jail %s", cfg->name);
		return NULL;
	}
	jail->rt = rt;
	jail->db = rt->db;
	jail->cfg = cfg;
	jail->root.fd = -1;
	jail->proc.pidfd = -1;
	snprintf(jail->name, sizeof(jail->name), "%s", cfg->name);
	jail->images = calloc(cfg->nmounts, sizeof(*jail->images));
	jail->acquired = calloc(cfg->nmounts, sizeof(*jail->acquired));
	if (jail->images == NULL || jail->acquired == NULL) {
		nem_err_sys(err, ENOMEM, "jail %s", cfg->name);
		jail_destroy(jail);
		return NULL;
	}
	if (jail_path_join(jail->dir, rt->jails_dir, cfg->name, err) == -1 ||
	    jail_path_join(jail->root_path, jail->dir, "root", err) == -1 ||
	    jail_path_join(jail->md_dir, jail->dir, "md", err) == -1) {
		jail_destroy(jail);
		return NULL;
	}
	return jail;
}

/*
 * Reserves the persistent volume at path for jail. Fails with EBUSY,
 * naming the other jail, when another jail has reserved it.
 */
static int
volume_hold(struct jail *jail, const char *path, const char *volume,
    struct nem_err *err)
{
	struct jail_runtime *rt = jail->rt;
	struct volume_hold *h;
	int rc = 0;

	pthread_mutex_lock(&rt->images_lock);
	for (h = rt->holds; h != NULL; h = h->next) {
		if (strcmp(h->path, path) == 0)
			break;
	}
	if (h != NULL && h->owner != jail) {
		rc = nem_err_set(err, EBUSY, "volume %s is still in use by "
		    "jail %s, which is stopping or running; it is used here "
		    "once that jail is freed", volume, h->owner->name);
	} else if (h == NULL) {
		h = calloc(1, sizeof(*h));
		if (h == NULL) {
			rc = nem_err_sys(err, ENOMEM, "volume %s", volume);
		} else {
			snprintf(h->path, sizeof(h->path), "%s", path);
			h->owner = jail;
			h->next = rt->holds;
			rt->holds = h;
		}
	}
	pthread_mutex_unlock(&rt->images_lock);
	return rc;
}

/* Drops every volume hold of jail. */
static void
volume_release_all(struct jail *jail)
{
	struct jail_runtime *rt = jail->rt;
	struct volume_hold **pp, *h;

	pthread_mutex_lock(&rt->images_lock);
	for (pp = &rt->holds; (h = *pp) != NULL;) {
		if (h->owner == jail) {
			*pp = h->next;
			free(h);
		} else {
			pp = &h->next;
		}
	}
	pthread_mutex_unlock(&rt->images_lock);
}

void
jail_destroy(struct jail *jail)
{
	volume_release_all(jail);
	os_root_close(&jail->root);
	free(jail->steps);
	free(jail->images);
	free(jail->acquired);
	free(jail);
}

/*
 * Undoes what a failed allocation did, records the jail failed with the
 * message of err and frees it.
 */
static void
alloc_failed(struct jail *jail, struct nem_err *err)
{
	struct nem_err e;

	nem_err_prefix(err, "jail %s: allocation failed", jail->name);
	if (jail_undo(jail, &e) == -1)
		log_warn("jail %s: cleanup after a failed allocation: %s",
		    jail->name, e.msg);
	if (jail_db_state_set(jail->db, jail->name, JAIL_STATE_FAILED,
	    err->msg, &e) == -1)
		log_warn("jail %s: %s", jail->name, e.msg);
	jail_destroy(jail);
}

int
jail_alloc(struct jail_runtime *rt, const struct cfg_jail *cfg,
    struct jail **out, struct nem_err *err)
{
	return jail_alloc_resolved(rt, cfg, NULL, out, err);
}

/* Holds the volume of the persistent md mount m for jail. */
static int
hold_volume_of(struct jail *jail, const struct cfg_mount *m,
    struct nem_err *err)
{
	char file[PATH_MAX], name[NAME_MAX_LEN + 16];

	snprintf(name, sizeof(name), "%s.img", m->volume);
	if (jail_path_join(file, jail->rt->volumes_dir, name, err) == -1)
		return -1;
	return volume_hold(jail, file, m->volume, err);
}

int
jail_alloc_prepare(struct jail_runtime *rt, const struct cfg_jail *cfg,
    const char *const *resolved, struct jail **out, struct nem_err *err)
{
	struct jail *jail;

	if (name_check("jail", cfg->name, err) == -1)
		return -1;
	if (cfg->nmounts == 0 || strcmp(cfg->mounts[0].dest, "/") != 0)
		return nem_err_set(err, EINVAL, "jail %s: the first mount "
		    "must be at /", cfg->name);
	if (check_not_allocated(rt, cfg->name, err) == -1)
		return -1;
	jail = jail_new(rt, cfg, err);
	if (jail == NULL)
		return -1;

	if (jail_db_state_set(rt->db, jail->name, JAIL_STATE_ALLOCATING, NULL,
	    err) == -1) {
		jail_destroy(jail);
		return -1;
	}
	if (lookup_images(rt, cfg, resolved, jail->images, err) == -1)
		goto fail;

	/*
	 * The store serves this thread only, so images are mounted here.
	 * md templates are made here too: formatting runs mkfs, and the
	 * event loop of this thread reaps every child, so a worker could lose
	 * its mkfs process to it.
	 */
	for (size_t i = 0; i < cfg->nmounts; i++) {
		const struct store_image *image = &jail->images[i];
		const struct cfg_mount *m = &cfg->mounts[i];

		if (m->type == CFG_MOUNT_MD && (os_md_template_prepare(
		    rt->md_cache_dir, m->size, err) == -1 ||
		    (m->persist && hold_volume_of(jail, m, err) == -1))) {
			nem_err_prefix(err, "mount md at %s", m->dest);
			goto fail;
		}
		if (cfg->mounts[i].type != CFG_MOUNT_IMAGE)
			continue;
		jail->acquired[i] = jail_image_acquire(rt, image->sha256,
		    image->fstype, err);
		if (jail->acquired[i] == NULL) {
			nem_err_prefix(err, "mount image at %s",
			    cfg->mounts[i].dest);
			goto fail;
		}
	}
	*out = jail;
	return 0;

fail:
	alloc_failed(jail, err);
	return -1;
}

int
jail_alloc_build(struct jail *jail, struct db *db, struct nem_err *err)
{
	jail->db = db;

	/* The jail's folder may exist: it also contains the log file. */
	if ((mkdir(jail->dir, 0700) == -1 && errno != EEXIST) ||
	    mkdir(jail->root_path, 0755) == -1) {
		nem_err_sys(err, errno, "cannot create %s", jail->root_path);
		if (errno == EEXIST)
			nem_err_prefix(err, "a leftover of an earlier run; "
			    "restart the daemon to clean up");
		rmdir(jail->dir);
		goto fail;
	}
	if (os_root_open(jail->root_path, &jail->root, err) == -1)
		goto fail;
	if (make_tree(jail, err) == -1)
		goto fail;
	jail_hook("mounted");

	log_info("jail %s: allocated at %s with %zu mounts", jail->name,
	    jail->root_path, jail->cfg->nmounts);
	return 0;

fail:
	alloc_failed(jail, err);
	return -1;
}

void
jail_adopt(struct jail *jail)
{
	jail->db = jail->rt->db;
}

int
jail_alloc_resolved(struct jail_runtime *rt, const struct cfg_jail *cfg,
    const char *const *resolved, struct jail **out, struct nem_err *err)
{
	struct jail *jail;

	if (jail_alloc_prepare(rt, cfg, resolved, &jail, err) == -1)
		return -1;
	if (jail_alloc_build(jail, rt->db, err) == -1)
		return -1;
	*out = jail;
	return 0;
}
