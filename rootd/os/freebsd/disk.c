/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * FreeBSD disks: image files attached as md(4) vnode devices through the
 * /dev/mdctl ioctls, the crash-recovery listing of vnode devices, and md
 * images (UFS) cloned from a template formatted once per size by newfs(8).
 * md(4) has no autoclear: a device stays attached until os_disk_detach.
 *
 * NOTE: compile-unchecked: written without a FreeBSD machine, against the
 * FreeBSD 14 manual pages and <sys/mdioctl.h>. MDIOCATTACH takes the image
 * by path, not by descriptor, so the path from F_KINFO is checked against
 * the descriptor's device and inode after attaching.
 */
#include "os.h"
#include "freebsd.h"

#include <sys/param.h>
#include <sys/ioctl.h>
#include <sys/mdioctl.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread_np.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nem/log.h>

#define MIB (1024ull * 1024ull)
#define MD_SIZE_MIN (8 * MIB)
#define MD_SIZE_MAX (16ull * 1024 * 1024 * MIB)

extern char **environ;

static int
mdctl_open(struct nem_err *err)
{
	int fd = open("/dev/" MDCTL_NAME, O_RDWR | O_CLOEXEC);

	if (fd == -1)
		nem_err_sys(err, errno, "cannot open /dev/%s; is md(4) "
		    "loaded?", MDCTL_NAME);
	return fd;
}

static int
mdctl_detach_unit(int ctl, unsigned unit)
{
	struct md_ioctl mdio;

	memset(&mdio, 0, sizeof(mdio));
	mdio.md_version = MDIOVERSION;
	mdio.md_unit = unit;
	return ioctl(ctl, MDIOCDETACH, &mdio);
}

int
os_disk_attach(int image_fd, unsigned flags, struct os_disk *disk,
    struct nem_err *err)
{
	struct kinfo_file kf;
	struct md_ioctl mdio;
	struct stat img_st, path_st, dev_st;
	int ctl;

	memset(disk, 0, sizeof(*disk));
	disk->fd = -1;
	if (fstat(image_fd, &img_st) == -1 || !S_ISREG(img_st.st_mode))
		return nem_err_set(err, EINVAL, "the image to attach is not "
		    "a regular file");
	memset(&kf, 0, sizeof(kf));
	kf.kf_structsize = sizeof(kf);
	if (fcntl(image_fd, F_KINFO, &kf) == -1 || kf.kf_path[0] != '/')
		return nem_err_sys(err, errno, "cannot find the path of the "
		    "image to attach");

	ctl = mdctl_open(err);
	if (ctl == -1)
		return -1;
	memset(&mdio, 0, sizeof(mdio));
	mdio.md_version = MDIOVERSION;
	mdio.md_type = MD_VNODE;
	mdio.md_options = MD_CLUSTER | MD_AUTOUNIT;
	if (flags & OS_DISK_READ_ONLY)
		mdio.md_options |= MD_READONLY;
	/* OS_DISK_DIRECT_IO has no md(4) counterpart and is ignored. */
	mdio.md_file = kf.kf_path;
	mdio.md_mediasize = img_st.st_size;
	if (ioctl(ctl, MDIOCATTACH, &mdio) == -1) {
		nem_err_sys(err, errno, "cannot attach %s to an md device",
		    kf.kf_path);
		close(ctl);
		return -1;
	}

	/* The path may have been replaced between F_KINFO and the attach. */
	if (stat(kf.kf_path, &path_st) == -1 ||
	    path_st.st_dev != img_st.st_dev ||
	    path_st.st_ino != img_st.st_ino) {
		mdctl_detach_unit(ctl, mdio.md_unit);
		close(ctl);
		return nem_err_set(err, ESTALE, "image %s was replaced while "
		    "being attached", kf.kf_path);
	}
	close(ctl);

	snprintf(disk->path, sizeof(disk->path), "/dev/md%u", mdio.md_unit);
	disk->index = (int)mdio.md_unit;
	if (stat(disk->path, &dev_st) == 0)
		disk->dev = dev_st.st_rdev;
	disk->backing_dev = img_st.st_dev;
	disk->backing_ino = img_st.st_ino;
	return 0;
}

void
os_disk_release(struct os_disk *disk)
{
	if (disk->fd >= 0)
		close(disk->fd);
	disk->fd = -1;
}

/* Fills file with the backing path of unit; 0, or -1 when not a vnode. */
static int
mdctl_query(int ctl, unsigned unit, char *file, size_t size)
{
	struct md_ioctl mdio;

	memset(&mdio, 0, sizeof(mdio));
	mdio.md_version = MDIOVERSION;
	mdio.md_unit = unit;
	mdio.md_file = file;
	file[0] = '\0';
	if (ioctl(ctl, MDIOCQUERY, &mdio) == -1 || mdio.md_type != MD_VNODE)
		return -1;
	file[size - 1] = '\0';
	return 0;
}

int
os_disk_detach(struct os_disk *disk, struct nem_err *err)
{
	char file[PATH_MAX];
	struct stat st;
	int ctl;

	os_disk_release(disk);
	ctl = mdctl_open(err);
	if (ctl == -1)
		return -1;

	/* Leave a unit alone that now serves another image. */
	if (mdctl_query(ctl, (unsigned)disk->index, file, sizeof(file)) == -1 ||
	    stat(file, &st) == -1 || st.st_dev != disk->backing_dev ||
	    st.st_ino != disk->backing_ino) {
		close(ctl);
		return 0;
	}
	if (mdctl_detach_unit(ctl, (unsigned)disk->index) == -1 &&
	    errno != ENOENT) {
		nem_err_sys(err, errno, "cannot detach %s", disk->path);
		close(ctl);
		return -1;
	}
	close(ctl);
	return 0;
}

int
os_disk_list(const char *prefix, struct os_disk **disks, size_t *count,
    struct nem_err *err)
{
	struct md_ioctl mdio;
	struct os_disk *list;
	size_t plen = strlen(prefix), n = 0;
	int ctl, units;

	*disks = NULL;
	*count = 0;
	while (plen > 1 && prefix[plen - 1] == '/')
		plen--;
	ctl = mdctl_open(err);
	if (ctl == -1)
		return -1;
	memset(&mdio, 0, sizeof(mdio));
	mdio.md_version = MDIOVERSION;
	if (ioctl(ctl, MDIOCLIST, &mdio) == -1) {
		close(ctl);
		return nem_err_sys(err, errno, "cannot list md devices");
	}
	/* md_pad[0] is the number of units, md_pad[1..] the units; a count
	 * above MDNPAD - 1 means the list was cut. */
	units = mdio.md_pad[0];
	if (units > MDNPAD - 1) {
		log_warn("more than %d md devices; listing only those", MDNPAD -
		    1);
		units = MDNPAD - 1;
	}
	list = calloc((size_t)(units > 0 ? units : 1), sizeof(*list));
	if (list == NULL) {
		close(ctl);
		return nem_err_set(err, ENOMEM, "out of memory listing md "
		    "devices");
	}
	for (int i = 1; i <= units; i++) {
		unsigned unit = (unsigned)mdio.md_pad[i];
		char file[PATH_MAX];
		struct stat st;

		if (mdctl_query(ctl, unit, file, sizeof(file)) == -1 ||
		    strncmp(file, prefix, plen) != 0 || file[plen] != '/')
			continue;
		memset(&list[n], 0, sizeof(list[n]));
		snprintf(list[n].path, sizeof(list[n].path), "/dev/md%u", unit);
		list[n].index = (int)unit;
		list[n].fd = -1;
		if (stat(file, &st) == 0) {
			list[n].backing_dev = st.st_dev;
			list[n].backing_ino = st.st_ino;
		}
		if (stat(list[n].path, &st) == 0)
			list[n].dev = st.st_rdev;
		n++;
	}
	close(ctl);
	*disks = list;
	*count = n;
	return 0;
}

/* Runs newfs -U on device. Returns 0, or -1 with err set. */
static int
run_newfs(const char *device, struct nem_err *err)
{
	char *argv[] = { "newfs", "-U", (char *)device, NULL };
	posix_spawn_file_actions_t fa;
	int rc, status;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, "newfs", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return nem_err_sys(err, rc, "cannot run newfs");
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			return nem_err_sys(err, errno, "cannot wait for newfs");
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return nem_err_set(err, EIO, "newfs %s failed with status %d; "
		    "see its messages above", device, status);
	return 0;
}

/* Returns a read-only descriptor of the UFS template for size. */
static int
template_open(const char *cache_dir, uint64_t size, struct nem_err *err)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct os_disk disk;
	int fd, rc;

	if (mkdir(cache_dir, 0700) == -1 && errno != EEXIST)
		return nem_err_sys(err, errno, "cannot create the md template "
		    "folder %s", cache_dir);
	snprintf(path, sizeof(path), "%s/ufs-%llu.img", cache_dir,
	    (unsigned long long)size);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT) {
		if (fd == -1)
			nem_err_sys(err, errno, "cannot open md template %s",
			    path);
		return fd;
	}
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path,
	    (long)pthread_getthreadid_np());
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return nem_err_sys(err, errno, "cannot create md template %s",
		    tmp);
	if (ftruncate(fd, (off_t)size) == -1 ||
	    os_disk_attach(fd, 0, &disk, err) == -1) {
		if (err != NULL && err->code == 0)
			nem_err_sys(err, errno, "cannot size %s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	rc = run_newfs(disk.path, err);
	if (os_disk_detach(&disk, err) == -1)
		rc = -1;
	if (rc == -1 || fsync(fd) == -1 || rename(tmp, path) == -1) {
		if (rc == 0)
			nem_err_sys(err, errno, "cannot install md template "
			    "%s", path);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		nem_err_sys(err, errno, "cannot open md template %s", path);
	return fd;
}

/* Copies the data extents of src into dst, leaving the holes sparse. */
static int
sparse_copy(int src, int dst, uint64_t size)
{
	off_t data = 0, hole;

	if (ftruncate(dst, (off_t)size) == -1)
		return -1;
	for (;;) {
		data = lseek(src, data, SEEK_DATA);
		if (data == -1)
			return errno == ENXIO ? 0 : -1;
		hole = lseek(src, data, SEEK_HOLE);
		if (hole == -1)
			return -1;
		while (data < hole) {
			off_t in = data, out = data;
			ssize_t n = copy_file_range(src, &in, dst, &out,
			    (size_t)(hole - data), 0);

			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
			data += n;
		}
	}
}

int
os_md_template_prepare(const char *cache_dir, uint64_t size,
    struct nem_err *err)
{
	int fd;

	if (size < MD_SIZE_MIN || size > MD_SIZE_MAX || size % MIB != 0)
		return nem_err_set(err, EINVAL, "md template: size %llu is "
		    "invalid; use a multiple of 1M between 8M and 16T",
		    (unsigned long long)size);
	fd = template_open(cache_dir, size, err);
	if (fd == -1)
		return -1;
	close(fd);
	return 0;
}

int
os_md_image_create(const char *cache_dir, const char *path, uint64_t size,
    unsigned flags, struct nem_err *err)
{
	char tmp[PATH_MAX];
	struct stat st;
	int src, dst;

	if (size < MD_SIZE_MIN || size > MD_SIZE_MAX || size % MIB != 0)
		return nem_err_set(err, EINVAL, "md image %s: size %llu is "
		    "invalid; use a multiple of 1M between 8M and 16T", path,
		    (unsigned long long)size);
	if (lstat(path, &st) == 0) {
		if (!(flags & OS_MD_PERSIST))
			return nem_err_set(err, EEXIST, "md image %s already "
			    "exists; remove it or mark the volume persistent",
			    path);
		if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
			return nem_err_set(err, EEXIST, "volume image %s is "
			    "%lld bytes but %llu are configured; resizing is "
			    "not supported, so restore the configured size",
			    path, (long long)st.st_size,
			    (unsigned long long)size);
		return 0;
	}
	if (errno != ENOENT)
		return nem_err_sys(err, errno, "cannot stat md image %s", path);

	src = template_open(cache_dir, size, err);
	if (src == -1)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path,
	    (long)pthread_getthreadid_np());
	dst = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (dst == -1) {
		close(src);
		return nem_err_sys(err, errno, "cannot create md image %s",
		    tmp);
	}
	if (sparse_copy(src, dst, size) == -1 ||
	    ((flags & OS_MD_PERSIST) && fsync(dst) == -1)) {
		nem_err_sys(err, errno, "cannot copy the md template into %s",
		    tmp);
		goto fail;
	}
	/* link(2) fails on an existing name, unlike rename(2). */
	if (link(tmp, path) == -1) {
		nem_err_sys(err, errno, "cannot move md image into %s", path);
		goto fail;
	}
	unlink(tmp);
	close(dst);
	close(src);
	return 0;

fail:
	close(dst);
	close(src);
	unlink(tmp);
	return -1;
}
