/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The jail runtime handle, the shared image mounts under <run_dir>/images
 * and the start of a jail's root process. Allocation, freeing and crash
 * recovery live in jail_alloc.c, jail_free.c and jail_recover.c. Runs in
 * the daemon's main process; it never deletes an image, a persistent
 * volume or a shared directory.
 */
#include "jail_int.h"
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nem/log.h>

/* The search path given to every root process unless its env sets one. */
#define JAIL_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:" \
	"/usr/bin:/sbin:/bin"

void (*jail_test_hook)(const char *step);

void
jail_hook(const char *step)
{
	if (jail_test_hook != NULL)
		jail_test_hook(step);
}

int
jail_path_join(char *buf, const char *dir, const char *name,
    struct nem_err *err)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_MAX)
		return nem_err_set(err, ENAMETOOLONG, "path %s/%s is longer "
		    "than %d bytes; use a shorter run or state directory",
		    dir, name, PATH_MAX - 1);
	return 0;
}

/* Creates the folder path (mode 0700) unless it exists as a folder. */
static int
make_dir(const char *path, struct nem_err *err)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return nem_err_sys(err, errno, "cannot create folder %s",
		    path);
	if (lstat(path, &st) == -1)
		return nem_err_sys(err, errno, "cannot stat %s", path);
	if (!S_ISDIR(st.st_mode))
		return nem_err_set(err, ENOTDIR, "%s exists but is not a "
		    "folder; move it away", path);
	return 0;
}

struct jail_runtime *
jail_runtime_open(const struct jail_paths *paths, struct store *store,
    struct db *db, struct nem_err *err)
{
	char cache[PATH_MAX], images[PATH_MAX];
	struct jail_runtime *rt;

	rt = calloc(1, sizeof(*rt));
	if (rt == NULL) {
		nem_err_sys(err, ENOMEM, "jail runtime");
		return NULL;
	}
	rt->store = store;
	rt->db = db;
	pthread_mutex_init(&rt->images_lock, NULL);
	if (snprintf(rt->run_dir, sizeof(rt->run_dir), "%s", paths->run_dir) >=
	    (int)sizeof(rt->run_dir) ||
	    snprintf(rt->state_dir, sizeof(rt->state_dir), "%s",
	    paths->state_dir) >= (int)sizeof(rt->state_dir) ||
	    jail_path_join(rt->jails_dir, rt->run_dir, "jails", err) == -1 ||
	    jail_path_join(rt->images_dir, rt->run_dir, "images", err) == -1 ||
	    jail_path_join(rt->volumes_dir, rt->state_dir, "volumes",
	    err) == -1 ||
	    jail_path_join(rt->shared_dir, rt->state_dir, "shared",
	    err) == -1 ||
	    jail_path_join(cache, rt->state_dir, "cache", err) == -1 ||
	    jail_path_join(rt->md_cache_dir, cache, "md", err) == -1 ||
	    jail_path_join(images, rt->state_dir, "images", err) == -1 ||
	    jail_path_join(rt->image_files_dir, images, "sha256", err) == -1 ||
	    snprintf(rt->init_path, sizeof(rt->init_path), "%s",
	    paths->init_path != NULL ? paths->init_path :
	    JAIL_DEFAULT_INIT_PATH) >= (int)sizeof(rt->init_path)) {
		nem_err_set(err, ENAMETOOLONG, "run directory %s, state "
		    "directory %s or nem-init path is too long",
		    paths->run_dir, paths->state_dir);
		pthread_mutex_destroy(&rt->images_lock);
		free(rt);
		return NULL;
	}

	if (make_dir(rt->jails_dir, err) == -1 ||
	    make_dir(rt->images_dir, err) == -1 ||
	    make_dir(rt->volumes_dir, err) == -1 ||
	    make_dir(rt->shared_dir, err) == -1 ||
	    make_dir(cache, err) == -1 ||
	    make_dir(rt->md_cache_dir, err) == -1)
		goto fail;

	/* Jail mounts must not show up in, or receive, other namespaces. */
	if (os_mount_make_private(rt->jails_dir, err) == -1 ||
	    os_mount_make_private(rt->images_dir, err) == -1)
		goto fail;
	return rt;

fail:
	nem_err_prefix(err, "jail runtime");
	pthread_mutex_destroy(&rt->images_lock);
	free(rt);
	return NULL;
}

void
jail_runtime_close(struct jail_runtime *rt)
{
	struct jail_image *img, *next;

	if (rt == NULL)
		return;
	for (img = rt->images; img != NULL; img = next) {
		next = img->next;
		os_disk_release(&img->disk);
		free(img);
	}
	while (rt->holds != NULL) {
		struct volume_hold *h = rt->holds;

		rt->holds = h->next;
		free(h);
	}
	pthread_mutex_destroy(&rt->images_lock);
	free(rt);
}

const char *
jail_name(const struct jail *jail)
{
	return jail->name;
}

const char *
jail_root_path(const struct jail *jail)
{
	return jail->root_path;
}

/* Undoes a partly made image mount; logs what cannot be undone. */
static void
image_unmake(struct jail_runtime *rt, struct jail_image *img, bool recorded)
{
	struct nem_err e;

	if (os_unmount_under(img->path, &e) == -1)
		log_warn("image %s: %s", img->sha256, e.msg);
	if (img->disk.path[0] != '\0' && os_disk_detach(&img->disk, &e) == -1)
		log_warn("image %s: %s", img->sha256, e.msg);
	if (rmdir(img->path) == -1 && errno != ENOENT)
		log_warn("image %s: cannot remove %s: %s", img->sha256,
		    img->path, strerror(errno));
	if (recorded && jail_db_image_delete(rt->db, img->sha256, &e) == -1)
		log_warn("image %s: %s", img->sha256, e.msg);
}

static struct jail_image *
image_acquire_locked(struct jail_runtime *rt, const char *sha256,
    const char *fstype, struct nem_err *err)
{
	char backing[PATH_MAX];
	struct jail_image *img;
	struct os_root top;
	int fd, rc;

	for (img = rt->images; img != NULL; img = img->next) {
		if (strcmp(img->sha256, sha256) != 0)
			continue;

		/*
		 * The shared mount was checked when it was attached, but the
		 * file may have been changed since. The store re-hashes it
		 * when its inode, size or ctime moved, so a new jail never
		 * starts on bytes that no longer match, and the image is
		 * marked bad.
		 */
		if (store_open_image(rt->store, sha256, &fd, err) == -1)
			return NULL;
		close(fd);
		img->refs++;
		return img;
	}

	img = calloc(1, sizeof(*img));
	if (img == NULL) {
		nem_err_sys(err, ENOMEM, "image %s", sha256);
		return NULL;
	}
	snprintf(img->sha256, sizeof(img->sha256), "%s", sha256);
	img->disk.fd = -1;
	if (jail_path_join(img->path, rt->images_dir, sha256, err) == -1 ||
	    jail_path_join(backing, rt->image_files_dir, sha256, err) == -1) {
		free(img);
		return NULL;
	}

	/* Intent first: a crash from here on leaves a record to undo. */
	if (jail_db_image_add(rt->db, sha256, img->path, backing, err) == -1) {
		free(img);
		return NULL;
	}
	if (mkdir(img->path, 0755) == -1 && errno != EEXIST) {
		nem_err_sys(err, errno, "cannot create image mount point %s",
		    img->path);
		goto fail;
	}
	if (store_open_image(rt->store, sha256, &fd, err) == -1)
		goto fail;
	rc = os_disk_attach(fd, OS_DISK_READ_ONLY, &img->disk, err);
	close(fd);
	if (rc == -1)
		goto fail;
	jail_hook("image-loop-attached");

	if (os_root_open(img->path, &top, err) == -1)
		goto fail;
	rc = os_mount_image(&top, "/", img->disk.path, fstype, err);
	os_root_close(&top);
	os_disk_release(&img->disk);
	if (rc == -1)
		goto fail;
	if (jail_db_image_done(rt->db, sha256, img->disk.path, err) == -1)
		goto fail;

	log_debug("image %s: mounted %s (%s) at %s", sha256, img->disk.path,
	    fstype, img->path);
	img->refs = 1;
	img->next = rt->images;
	rt->images = img;
	return img;

fail:
	nem_err_prefix(err, "image %s", sha256);
	os_disk_release(&img->disk);
	image_unmake(rt, img, true);
	free(img);
	return NULL;
}

struct jail_image *
jail_image_acquire(struct jail_runtime *rt, const char *sha256,
    const char *fstype, struct nem_err *err)
{
	struct jail_image *img;

	pthread_mutex_lock(&rt->images_lock);
	img = image_acquire_locked(rt, sha256, fstype, err);
	pthread_mutex_unlock(&rt->images_lock);
	return img;
}

static int
image_release_locked(struct jail_runtime *rt, struct db *db,
    struct jail_image *image, struct nem_err *err)
{
	struct jail_image **pp;
	int rc = 0;

	if (image->refs > 1) {
		image->refs--;
		return 0;
	}
	for (pp = &rt->images; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == image) {
			*pp = image->next;
			break;
		}
	}
	if (os_unmount_under(image->path, err) == -1)
		rc = -1;
	if (os_disk_detach(&image->disk, rc == 0 ? err : NULL) == -1)
		rc = -1;
	if (rmdir(image->path) == -1 && errno != ENOENT && rc == 0)
		rc = nem_err_sys(err, errno, "cannot remove %s", image->path);
	if (jail_db_image_delete(db, image->sha256,
	    rc == 0 ? err : NULL) == -1)
		rc = -1;
	if (rc == -1)
		nem_err_prefix(err, "image %s", image->sha256);
	else
		log_debug("image %s: unmounted from %s", image->sha256,
		    image->path);
	free(image);
	return rc;
}

int
jail_image_release(struct jail_runtime *rt, struct db *db,
    struct jail_image *image, struct nem_err *err)
{
	int rc;

	pthread_mutex_lock(&rt->images_lock);
	rc = image_release_locked(rt, db, image, err);
	pthread_mutex_unlock(&rt->images_lock);
	return rc;
}

/* Frees a NULL-terminated array of strings. */
static void
strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

/* Sets name=value in envp (n entries so far), replacing an earlier one. */
static int
env_put(char **envp, size_t *n, const char *name, const char *value)
{
	size_t len = strlen(name);
	char *entry;

	if (asprintf(&entry, "%s=%s", name, value) == -1)
		return -1;
	for (size_t i = 0; i < *n; i++) {
		if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=') {
			free(envp[i]);
			envp[i] = entry;
			return 0;
		}
	}
	envp[(*n)++] = entry;
	envp[*n] = NULL;
	return 0;
}

/*
 * Builds the root process's environment: PATH and HOME, then the
 * description's variables in the order written, then NEM_FD=3 when there
 * is a channel. Returns a NULL-terminated array, or NULL when out of
 * memory.
 */
static char **
env_build(const struct cfg_jail *cfg, const char *home, bool channel)
{
	size_t n = 0, max;
	char **envp;

	if (__builtin_add_overflow(cfg->cmd.nenv, (size_t)4, &max))
		return NULL;
	envp = calloc(max, sizeof(*envp));
	if (envp == NULL)
		return NULL;
	if (env_put(envp, &n, "PATH", JAIL_DEFAULT_PATH) == -1 ||
	    env_put(envp, &n, "HOME", home) == -1)
		goto fail;
	for (size_t i = 0; i < cfg->cmd.nenv; i++) {
		/* NEM_FD describes the descriptors rootd hands down. */
		if (strcmp(cfg->cmd.env[i].name, "NEM_FD") == 0)
			continue;
		if (env_put(envp, &n, cfg->cmd.env[i].name,
		    cfg->cmd.env[i].value) == -1)
			goto fail;
	}
	if (channel && env_put(envp, &n, "NEM_FD", "3") == -1)
		goto fail;
	return envp;

fail:
	strv_free(envp);
	return NULL;
}

/* Fills *user for the description's user, or root when none is set. */
static int
user_resolve(struct jail *jail, struct os_user *user, struct nem_err *err)
{
	const char *name = jail->cfg->user;

	if (name == NULL) {
		memset(user, 0, sizeof(*user));
		snprintf(user->home, sizeof(user->home), "/");
		return 0;
	}
	if (os_user_lookup(&jail->root, name, user, err) == -1) {
		nem_err_prefix(err, "user %s", name);
		return -1;
	}
	return 0;
}

int
jail_spawn(struct jail *jail, int channel_fd, int log_fd, pid_t *pid,
    int *pidfd, struct nem_err *err)
{
	const struct cfg_jail *cfg = jail->cfg;
	struct os_jail_spec spec;
	struct os_user user;
	char **envp = NULL;
	char **init_argv = NULL;
	int devnull = -1, init_fd = -1;
	struct nem_err e;

	if (jail->proc.pid != 0)
		return nem_err_set(err, EBUSY, "jail %s: the root process was "
		    "already started (pid %ld)", jail->name,
		    (long)jail->proc.pid);
	if (jail_db_state_set(jail->db, jail->name, JAIL_STATE_STARTING,
	    NULL, err) == -1)
		return -1;

	if (user_resolve(jail, &user, err) == -1)
		goto fail;
	envp = env_build(cfg, user.home[0] != '\0' ? user.home : "/",
	    channel_fd >= 0);
	if (envp == NULL) {
		nem_err_sys(err, ENOMEM, "environment");
		goto fail;
	}
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull == -1) {
		nem_err_sys(err, errno, "cannot open /dev/null");
		goto fail;
	}

	memset(&spec, 0, sizeof(spec));
	spec.root = jail->root_path;
	spec.hostname = jail->name;
	spec.share_network = (cfg->isolation & CFG_ISO_EXPOSE_NETWORK) != 0;
	spec.proc_dest = "/proc";
	spec.uid = user.uid;
	spec.gid = user.gid;
	spec.groups = user.groups;
	spec.ngroups = user.ngroups;
	spec.workdir = cfg->workdir != NULL ? cfg->workdir :
	    (user.home[0] != '\0' ? user.home : "/");
	spec.argv = cfg->cmd.exec;
	spec.envp = envp;
	spec.stdio[0] = devnull;
	spec.stdio[1] = log_fd;
	spec.stdio[2] = log_fd;
	spec.channel_fd = channel_fd;

	/* nem-init runs from a descriptor of the host file, so the jail's
	 * tree (often a read-only image) needs no copy of it. */
	if (cfg->init) {
		init_argv = broker_init_argv(cfg, BROKER_INIT_PATH, err);
		if (init_argv == NULL)
			goto fail;
		init_fd = open(jail->rt->init_path, O_RDONLY | O_CLOEXEC);
		if (init_fd == -1) {
			nem_err_sys(err, errno, "cannot open nem-init at %s "
			    "for process.init; install it there",
			    jail->rt->init_path);
			goto fail;
		}
		spec.argv = init_argv;
		spec.exec_by_fd = true;
		spec.exec_fd = init_fd;
	}
	if (os_jail_spawn(&spec, &jail->proc, err) == -1)
		goto fail;
	close(devnull);
	if (init_fd != -1)
		close(init_fd);
	broker_init_argv_free(init_argv);
	strv_free(envp);

	log_info("jail %s: root process %s started as pid %ld", jail->name,
	    cfg->cmd.exec[0], (long)jail->proc.pid);
	if (jail_db_pid_set(jail->db, jail->name, jail->proc.pid,
	    &e) == -1)
		log_warn("jail %s: %s", jail->name, e.msg);
	*pid = jail->proc.pid;
	*pidfd = jail->proc.pidfd;
	return 0;

fail:
	if (devnull != -1)
		close(devnull);
	if (init_fd != -1)
		close(init_fd);
	broker_init_argv_free(init_argv);
	strv_free(envp);
	memset(&jail->proc, 0, sizeof(jail->proc));
	jail->proc.pidfd = -1;
	nem_err_prefix(err, "jail %s: cannot start the root process",
	    jail->name);
	if (jail_db_state_set(jail->db, jail->name, JAIL_STATE_FAILED,
	    err->msg, &e) == -1)
		log_warn("jail %s: %s", jail->name, e.msg);
	return -1;
}
