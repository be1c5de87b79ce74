/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Linux disks: image files attached to loop devices with LOOP_CONFIGURE,
 * and the listing of loop devices for crash recovery. Devices are set to
 * autoclear, so the kernel frees one when its mount and the descriptor
 * held in struct os_disk are gone.
 */
#include "os.h"
#include "linux.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/loop.h>

#include <nem/log.h>

/*
 * Tries of the get-free/configure sequence. Each lost race means another
 * process configured the device between LOOP_CTL_GET_FREE and
 * LOOP_CONFIGURE; a few tries are enough unless many attach at once.
 */
#define ATTACH_TRIES 32

/* Maximum wait, in milliseconds, for the kernel to clear a detached device. */
#define DETACH_WAIT_MS 250u

static void
disk_fill(struct os_disk *disk, int index, int fd, const struct stat *dev_st)
{
	snprintf(disk->path, sizeof(disk->path), "/dev/loop%d", index);
	disk->index = index;
	disk->dev = dev_st->st_rdev;
	disk->fd = fd;
}

int
os_disk_attach(int image_fd, unsigned flags, struct os_disk *disk,
    struct nem_err *err)
{
	struct loop_config cfg;
	struct stat img_st, dev_st;
	char path[OS_DEV_PATH_MAX];
	int ctl, fd, index;

	memset(disk, 0, sizeof(*disk));
	disk->fd = -1;
	if (fstat(image_fd, &img_st) == -1)
		return nem_err_sys(err, errno, "cannot stat the image to "
		    "attach");
	if (!S_ISREG(img_st.st_mode))
		return nem_err_set(err, EINVAL, "the image to attach is not "
		    "a regular file");

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl == -1)
		return nem_err_sys(err, errno, "cannot open "
		    "/dev/loop-control; is the loop module loaded?");

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (unsigned)image_fd;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	if (flags & OS_DISK_READ_ONLY)
		cfg.info.lo_flags |= LO_FLAGS_READ_ONLY;
	if (flags & OS_DISK_DIRECT_IO)
		cfg.info.lo_flags |= LO_FLAGS_DIRECT_IO;

	for (int tries = 0; tries < ATTACH_TRIES; tries++) {
		index = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (index < 0) {
			nem_err_sys(err, errno, "cannot get a free loop "
			    "device");
			close(ctl);
			return -1;
		}
		snprintf(path, sizeof(path), "/dev/loop%d", index);
		fd = open(path, ((flags & OS_DISK_READ_ONLY) ? O_RDONLY :
		    O_RDWR) | O_CLOEXEC);
		if (fd == -1) {
			/* The node may not exist yet or just went away. */
			if (errno == ENOENT || errno == ENXIO)
				continue;
			nem_err_sys(err, errno, "cannot open %s", path);
			close(ctl);
			return -1;
		}
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
			if (fstat(fd, &dev_st) == -1) {
				nem_err_sys(err, errno, "cannot stat %s",
				    path);
				ioctl(fd, LOOP_CLR_FD, 0);
				close(fd);
				close(ctl);
				return -1;
			}
			close(ctl);
			disk_fill(disk, index, fd, &dev_st);
			disk->backing_dev = img_st.st_dev;
			disk->backing_ino = img_st.st_ino;
			return 0;
		}
		close(fd);
		if (errno != EBUSY) {
			close(ctl);
			return nem_err_sys(err, errno, "cannot attach the "
			    "image to %s", path);
		}
		log_debug("%s: taken by another process, retrying", path);
	}
	close(ctl);
	return nem_err_set(err, EBUSY, "no loop device could be configured "
	    "after %d tries: another process takes every free one", ATTACH_TRIES);
}

void
os_disk_release(struct os_disk *disk)
{
	if (disk->fd >= 0)
		close(disk->fd);
	disk->fd = -1;
}

static int read_backing_file(const char *name, char *buf, size_t size);

/*
 * Waits until the kernel has cleared disk's loop device. LOOP_CLR_FD on a
 * device that is still open, even by the closing descriptor, only marks it
 * for autoclear, and the kernel may finish after close returns. Without the
 * wait a caller could see the device still bound to its file right after a
 * successful detach. Gives up after DETACH_WAIT_MS with a warning, because a
 * mount that still uses the device keeps it bound until it is unmounted, for
 * instance a copy held by a mount namespace made while it was mounted. The
 * bound is short because the daemon detaches on its event loop.
 */
static void
wait_cleared(const struct os_disk *disk)
{
	char name[32], backing[PATH_MAX];
	unsigned delay_us = 200, waited_us = 0;
	struct stat st;

	snprintf(name, sizeof(name), "loop%d", disk->index);
	for (;;) {
		if (read_backing_file(name, backing, sizeof(backing)) == -1)
			return;
		/* Cleared and bound again to another file: not ours. */
		if (stat(backing, &st) == -1 || st.st_dev != disk->backing_dev ||
		    st.st_ino != disk->backing_ino)
			return;
		if (waited_us >= DETACH_WAIT_MS * 1000u) {
			log_warn("%s: still bound to %s %u ms after detach; is it "
			    "still mounted?", disk->path, backing,
			    DETACH_WAIT_MS);
			return;
		}
		usleep(delay_us);
		waited_us += delay_us;
		if (delay_us < 20000)
			delay_us *= 2;
	}
}

int
os_disk_detach(struct os_disk *disk, struct nem_err *err)
{
	struct loop_info64 info;
	int fd;

	fd = disk->fd;
	disk->fd = -1;
	if (fd == -1) {
		fd = open(disk->path, O_RDONLY | O_CLOEXEC);
		if (fd == -1) {
			if (errno == ENOENT || errno == ENXIO)
				return 0;
			return nem_err_sys(err, errno, "cannot open %s to "
			    "detach it", disk->path);
		}
	}

	/* An autocleared device may already serve another image. */
	if (ioctl(fd, LOOP_GET_STATUS64, &info) == -1) {
		int e = errno;

		close(fd);
		if (e == ENXIO)
			return 0;
		return nem_err_sys(err, e, "cannot read the status of %s",
		    disk->path);
	}
	if (info.lo_device != disk->backing_dev ||
	    info.lo_inode != disk->backing_ino) {
		close(fd);
		return 0;
	}
	if (ioctl(fd, LOOP_CLR_FD, 0) == -1 && errno != ENXIO) {
		int e = errno;

		close(fd);
		return nem_err_sys(err, e, "cannot detach %s", disk->path);
	}
	close(fd);
	wait_cleared(disk);
	return 0;
}

/* Reads /sys/block/loopN/loop/backing_file into buf; 0 or -1. */
static int
read_backing_file(const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

int
os_disk_list(const char *prefix, struct os_disk **disks, size_t *count,
    struct nem_err *err)
{
	struct os_disk *list = NULL, *grown;
	size_t n = 0, cap = 0, plen;
	struct dirent *de;
	DIR *dir;

	*disks = NULL;
	*count = 0;
	plen = strlen(prefix);
	while (plen > 1 && prefix[plen - 1] == '/')
		plen--;
	dir = opendir("/sys/block");
	if (dir == NULL)
		return nem_err_sys(err, errno, "cannot list /sys/block; is "
		    "sysfs mounted?");
	while ((de = readdir(dir)) != NULL) {
		char backing[PATH_MAX], path[OS_DEV_PATH_MAX];
		struct loop_info64 info;
		struct stat st;
		char *end;
		long index;
		int fd;

		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		index = strtol(de->d_name + 4, &end, 10);
		if (end == de->d_name + 4 || *end != '\0' || index < 0 ||
		    index > INT_MAX)
			continue;
		if (read_backing_file(de->d_name, backing,
		    sizeof(backing)) == -1)
			continue;
		if (strncmp(backing, prefix, plen) != 0 ||
		    (backing[plen] != '/' && !(plen == 1 && prefix[0] == '/')))
			continue;

		snprintf(path, sizeof(path), "/dev/loop%ld", index);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd == -1)
			continue;
		if (fstat(fd, &st) == -1 ||
		    ioctl(fd, LOOP_GET_STATUS64, &info) == -1) {
			close(fd);
			continue;
		}
		close(fd);
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			grown = reallocarray(list, cap, sizeof(*list));
			if (grown == NULL) {
				free(list);
				closedir(dir);
				return nem_err_set(err, ENOMEM, "out of memory "
				    "listing loop devices");
			}
			list = grown;
		}
		disk_fill(&list[n], (int)index, -1, &st);
		list[n].backing_dev = (dev_t)info.lo_device;
		list[n].backing_ino = (ino_t)info.lo_inode;
		n++;
	}
	closedir(dir);
	*disks = list;
	*count = n;
	return 0;
}
