/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Linux md images: fixed-size ext4 image files. mkfs.ext4 of a 64 MiB file
 * took 18 to 78 ms on the development VM (e2fsprogs 1.47, ext4 host), too
 * slow for the start path. So a formatted template per size is kept in a
 * cache folder and each new image is a clone of it. The clone uses FICLONE
 * on file systems with shared extents (XFS, Btrfs) and otherwise copies
 * only the template's data extents (SEEK_DATA/SEEK_HOLE), which leaves the
 * image sparse.
 */
#include "os.h"
#include "linux.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/fs.h>

#include <nem/log.h>

#define MIB (1024ull * 1024ull)
#define MD_SIZE_MIN (8 * MIB)
#define MD_SIZE_MAX (16 * 1024 * 1024 * MIB)

extern char **environ;

/* Runs mkfs.ext4 on the file path; on failure err contains its stderr. */
static int
run_mkfs(const char *path, struct nem_err *err)
{
	char *argv[] = {
		"mkfs.ext4", "-q", "-F", "-m", "0",
		"-E", "nodiscard,lazy_itable_init=0,lazy_journal_init=0",
		(char *)path, NULL,
	};
	posix_spawn_file_actions_t fa;
	char out[256];
	int pipe_fd[2], status;
	ssize_t n, len = 0;
	pid_t pid;
	int rc;

	if (pipe2(pipe_fd, O_CLOEXEC) == -1)
		return nem_err_sys(err, errno, "cannot create a pipe for "
		    "mkfs.ext4");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipe_fd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipe_fd[1], 2);
	rc = posix_spawnp(&pid, "mkfs.ext4", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipe_fd[1]);
	if (rc != 0) {
		close(pipe_fd[0]);
		return nem_err_sys(err, rc, "cannot run mkfs.ext4; install "
		    "e2fsprogs");
	}
	while (len < (ssize_t)sizeof(out) - 1 &&
	    ((n = read(pipe_fd[0], out + len, sizeof(out) - 1 - (size_t)len)) > 0 ||
	    (n == -1 && errno == EINTR)))
		len += n > 0 ? n : 0;
	out[len] = '\0';
	close(pipe_fd[0]);
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			return nem_err_sys(err, errno, "cannot wait for "
			    "mkfs.ext4");
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		while (len > 0 && out[len - 1] == '\n')
			out[--len] = '\0';
		return nem_err_set(err, EIO, "mkfs.ext4 %s failed (status "
		    "%d): %s", path, status, len ? out : "no message");
	}
	return 0;
}

/* Returns a read-only descriptor of the template for size, making it once. */
static int
template_open(const char *cache_dir, uint64_t size, struct nem_err *err)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd;

	if (mkdir(cache_dir, 0700) == -1 && errno != EEXIST)
		return nem_err_sys(err, errno, "cannot create the md template "
		    "folder %s", cache_dir);
	if (snprintf(path, sizeof(path), "%s/ext4-%llu.img", cache_dir,
	    (unsigned long long)size) >= (int)sizeof(path))
		return nem_err_set(err, ENAMETOOLONG, "md template folder %s "
		    "is too long", cache_dir);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT) {
		if (fd == -1)
			nem_err_sys(err, errno, "cannot open md template %s",
			    path);
		return fd;
	}

	/* Build it under a name private to this thread and rename it in
	 * place, so a concurrent or interrupted build never exposes a half
	 * template. */
	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path,
	    (long)gettid()) >= (int)sizeof(tmp))
		return nem_err_set(err, ENAMETOOLONG, "md template folder %s "
		    "is too long", cache_dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return nem_err_sys(err, errno, "cannot create md template %s",
		    tmp);
	if (ftruncate(fd, (off_t)size) == -1) {
		nem_err_sys(err, errno, "cannot size md template %s", tmp);
		goto fail;
	}
	close(fd);
	fd = -1;
	log_info("%s: formatting md template of %llu MiB", cache_dir,
	    (unsigned long long)(size / MIB));
	if (run_mkfs(tmp, err) == -1)
		goto fail;
	fd = open(tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || fsync(fd) == -1 || rename(tmp, path) == -1) {
		nem_err_sys(err, errno, "cannot install md template %s",
		    path);
		goto fail;
	}
	return fd;

fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

/*
 * Copies len bytes at off from src to dst with read and write, for file
 * systems between which copy_file_range fails (EXDEV before Linux 5.3 and
 * again between different file system types since 5.19).
 */
static int
plain_copy(int src, int dst, off_t off, off_t len)
{
	char buf[65536];

	while (len > 0) {
		size_t want = len < (off_t)sizeof(buf) ? (size_t)len :
		    sizeof(buf);
		ssize_t n = pread(src, buf, want, off), w;

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? (errno = EIO, -1) : -1;
		for (ssize_t done = 0; done < n; done += w) {
			w = pwrite(dst, buf + done, (size_t)(n - done),
			    off + done);
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0)
				return w == 0 ? (errno = EIO, -1) : -1;
		}
		off += n;
		len -= n;
	}
	return 0;
}

/* Copies the data extents of src (size bytes) into the empty file dst. */
static int
sparse_copy(int src, int dst, uint64_t size)
{
	off_t data = 0, hole, end = (off_t)size;

	if (ftruncate(dst, end) == -1)
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
			ssize_t n;

			n = copy_file_range(src, &in, dst, &out,
			    (size_t)(hole - data), 0);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && (errno == EXDEV || errno == EOPNOTSUPP ||
			    errno == ENOSYS || errno == EINVAL)) {
				if (plain_copy(src, dst, data,
				    hole - data) == -1)
					return -1;
				data = hole;
				break;
			}
			if (n <= 0)
				return n == 0 ? (errno = EIO, -1) : -1;
			data += n;
		}
		if (hole >= end)
			return 0;
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
		if (!S_ISREG(st.st_mode))
			return nem_err_set(err, EEXIST, "volume image %s is "
			    "not a regular file", path);
		if ((uint64_t)st.st_size != size)
			return nem_err_set(err, EEXIST, "volume image %s is "
			    "%lld bytes but %llu are configured; resizing is "
			    "not supported, so restore the configured size",
			    path, (long long)st.st_size,
			    (unsigned long long)size);
		return 0;
	} else if (errno != ENOENT) {
		return nem_err_sys(err, errno, "cannot stat md image %s",
		    path);
	}

	src = template_open(cache_dir, size, err);
	if (src == -1) {
		nem_err_prefix(err, "md image %s", path);
		return -1;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path,
	    (long)gettid()) >= (int)sizeof(tmp)) {
		close(src);
		return nem_err_set(err, ENAMETOOLONG, "md image path %s is "
		    "too long", path);
	}
	dst = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (dst == -1) {
		close(src);
		return nem_err_sys(err, errno, "cannot create md image %s",
		    tmp);
	}
	if (ioctl(dst, FICLONE, src) == -1 && sparse_copy(src, dst, size) == -1) {
		nem_err_sys(err, errno, "cannot copy md template into %s",
		    tmp);
		goto fail;
	}
	if ((flags & OS_MD_PERSIST) && fsync(dst) == -1) {
		nem_err_sys(err, errno, "cannot sync md image %s", tmp);
		goto fail;
	}

	/* The image appears whole or not at all, and never replaces one. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == -1) {
		nem_err_sys(err, errno, "cannot move md image into %s", path);
		goto fail;
	}
	close(dst);
	close(src);
	return 0;

fail:
	close(dst);
	close(src);
	unlink(tmp);
	return -1;
}
