/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Shared setup of the os_* root integration tests. Everything a test makes
 * lives under its own mkdtemp folder in /tmp. Teardown unmounts what is
 * mounted there (deepest first), detaches the loop devices backed by files
 * there and removes the folder without crossing into any other mount.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "os_fixture.h"

extern char **environ;

int
fixture_run(char *const argv[])
{
	int status;
	pid_t pid;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void
build_image(struct fixture *f)
{
	static const char *dirs[] = {
		"bin", "etc", "proc", "dev", "tmp", "pool", "data", "var",
		"var/db", "srv", "work",
	};
	char stage[PATH_MAX], path[PATH_MAX];
	const char *probe = getenv("OS_PROBE");

	assert_non_null(probe);
	snprintf(stage, sizeof(stage), "%s/stage", f->dir);
	assert_int_equal(mkdir(stage, 0755), 0);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", stage, dirs[i]);
		assert_int_equal(mkdir(path, 0755), 0);
	}
	snprintf(path, sizeof(path), "%s/bin/busybox", stage);
	assert_int_equal(fixture_run((char *[]){ "cp", "/bin/busybox", path,
	    NULL }), 0);
	snprintf(path, sizeof(path), "%s/bin/probe", stage);
	assert_int_equal(fixture_run((char *[]){ "cp", (char *)probe, path,
	    NULL }), 0);
	snprintf(path, sizeof(path), "%s/bin/sh", stage);
	assert_int_equal(symlink("busybox", path), 0);
	snprintf(path, sizeof(path), "%s/etc/passwd", stage);
	write_file(path, "root:x:0:0:root:/:/bin/sh\n"
	    "www:x:1000:1000:web:/work:/bin/sh\n");
	snprintf(path, sizeof(path), "%s/etc/group", stage);
	write_file(path, "root:x:0:\nwww:x:1000:\nweb:x:33:www\n");
	snprintf(path, sizeof(path), "%s/etc/hostname", stage);
	write_file(path, "inside-the-image\n");

	snprintf(f->image, sizeof(f->image), "%s/base.squashfs", f->dir);
	assert_int_equal(fixture_run((char *[]){ "mksquashfs", stage,
	    f->image, "-quiet", "-noappend", "-all-root", NULL }), 0);
	f->image_fd = open(f->image, O_RDONLY | O_CLOEXEC);
	assert_true(f->image_fd >= 0);
}

int
fixture_setup(void **state)
{
	struct fixture *f;

	if (geteuid() != 0) {
		fprintf(stderr, "os tests need root; skipped\n");
		exit(77);
	}
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->image_fd = -1;
	for (size_t i = 0; i < 8; i++)
		f->root_fds[i] = -1;
	*state = f;
	snprintf(f->dir, sizeof(f->dir), "/tmp/nem-os-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->cache, sizeof(f->cache), "%s/md-cache", f->dir);
	snprintf(f->pool, sizeof(f->pool), "%s/pool", f->dir);
	assert_int_equal(mkdir(f->pool, 0755), 0);
	snprintf(f->conf, sizeof(f->conf), "%s/app.conf", f->dir);
	write_file(f->conf, "listen = 8080\n");
	snprintf(f->disk_image, sizeof(f->disk_image), "%s/disk.ext4",
	    f->dir);
	assert_int_equal(fixture_run((char *[]){ "truncate", "-s", "16M",
	    f->disk_image, NULL }), 0);
	assert_int_equal(fixture_run((char *[]){ "mke2fs", "-q", "-F", "-t",
	    "ext4", f->disk_image, NULL }), 0);
	build_image(f);
	return 0;
}

int
fixture_teardown(void **state)
{
	struct fixture *f = *state;
	struct os_disk *disks;
	struct nem_err err;
	size_t n;

	if (f == NULL)
		return 0;
	if (f->helper > 0) {
		kill(f->helper, SIGKILL);
		waitpid(f->helper, NULL, 0);
	}
	/* A failed assertion skips fixture_free_jail: close its roots. */
	for (size_t i = 0; i < 8; i++) {
		if (f->root_fds[i] >= 0)
			close(f->root_fds[i]);
	}
	if (os_unmount_under(f->dir, &err) == -1)
		fprintf(stderr, "teardown: %s\n", err.msg);
	if (os_disk_list(f->dir, &disks, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (os_disk_detach(&disks[i], &err) == -1)
				fprintf(stderr, "teardown: %s\n", err.msg);
		}
		free(disks);
	}
	if (f->image_fd >= 0)
		close(f->image_fd);
	if (fixture_count_mounts(f->dir) == 0)
		fixture_run((char *[]){ "rm", "-rf", "--one-file-system",
		    f->dir, NULL });
	else
		fprintf(stderr, "teardown: mounts remain, keeping %s\n",
		    f->dir);
	free(f);
	*state = NULL;
	return 0;
}

static int
attach(const char *path, unsigned flags, struct os_disk *disk,
    struct nem_err *err)
{
	int fd = open(path, ((flags & OS_DISK_READ_ONLY) ? O_RDONLY : O_RDWR) |
	    O_CLOEXEC);
	int rc;

	if (fd == -1)
		return nem_err_sys(err, errno, "open %s", path);
	rc = os_disk_attach(fd, flags, disk, err);
	close(fd);
	return rc;
}

static int
build_jail(struct fixture *f, const char *name, unsigned mask,
    struct jail_tree *t, struct nem_err *err)
{
	struct os_disk *d;
	char path[PATH_MAX];
	int fd, rc;

	memset(t, 0, sizeof(*t));
	t->root.fd = -1;
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	if (mkdir(path, 0755) == -1 && errno != EEXIST)
		return nem_err_sys(err, errno, "mkdir %s", path);
	snprintf(t->root_path, sizeof(t->root_path), "%s/root", path);
	if (mkdir(t->root_path, 0755) == -1 && errno != EEXIST)
		return nem_err_sys(err, errno, "mkdir %s", t->root_path);
	if (os_root_open(t->root_path, &t->root, err) == -1)
		return -1;

	d = &t->disks[t->ndisks];
	if (os_disk_attach(f->image_fd, OS_DISK_READ_ONLY, d, err) == -1)
		return -1;
	t->ndisks++;
	rc = os_mount_image(&t->root, "/", d->path, "squashfs", err);
	os_disk_release(d);
	if (rc == -1)
		return -1;

	if (mask & TREE_MD) {
		snprintf(t->md_path, sizeof(t->md_path), "%s/md.img", path);
		if (os_md_image_create(f->cache, t->md_path, 8u << 20, 0,
		    err) == -1)
			return -1;
		d = &t->disks[t->ndisks];
		if (attach(t->md_path, 0, d, err) == -1)
			return -1;
		t->ndisks++;
		rc = os_mount_md(&t->root, "/var/db", d->path, err);
		os_disk_release(d);
		if (rc == -1)
			return -1;
	}
	if ((mask & TREE_POOL) &&
	    os_mount_bind(&t->root, "/pool", f->pool, false, err) == -1)
		return -1;
	if (mask & TREE_DISK) {
		d = &t->disks[t->ndisks];
		if (attach(f->disk_image, 0, d, err) == -1)
			return -1;
		t->ndisks++;
		rc = os_mount_disk(&t->root, "/data", d->path, "ext4", err);
		os_disk_release(d);
		if (rc == -1)
			return -1;
	}
	if ((mask & TREE_TMPFS) &&
	    os_mount_tmpfs(&t->root, "/tmp", 16u << 20, err) == -1)
		return -1;
	if (mask & TREE_FILE) {
		fd = open(f->conf, O_RDONLY | O_CLOEXEC);
		if (fd == -1)
			return nem_err_sys(err, errno, "open %s", f->conf);
		rc = os_copy_file(&t->root, "/tmp/app.conf", fd, 0644, err);
		close(fd);
		if (rc == -1)
			return -1;
	}
	if ((mask & TREE_DEV) && os_mount_dev(&t->root, "/dev", err) == -1)
		return -1;
	return 0;
}

/* Replaces the tracked root descriptor old with fd (-1: none). */
static void
track_root(struct fixture *f, int old, int fd)
{
	for (size_t i = 0; i < 8; i++) {
		if (f->root_fds[i] == old) {
			f->root_fds[i] = fd;
			return;
		}
	}
}

int
fixture_build_jail(struct fixture *f, const char *name, unsigned mask,
    struct jail_tree *t, struct nem_err *err)
{
	int rc = build_jail(f, name, mask, t, err);

	if (t->root.fd >= 0)
		track_root(f, -1, t->root.fd);
	return rc;
}

void
fixture_free_jail(struct fixture *f, struct jail_tree *t)
{
	struct nem_err err;

	if (t->root.fd >= 0)
		track_root(f, t->root.fd, -1);
	os_root_close(&t->root);
	if (os_unmount_under(t->root_path, &err) == -1)
		fprintf(stderr, "free jail: %s\n", err.msg);
	for (size_t i = 0; i < t->ndisks; i++) {
		if (os_disk_detach(&t->disks[i], &err) == -1)
			fprintf(stderr, "free jail: %s\n", err.msg);
	}
	t->ndisks = 0;
	if (t->md_path[0] != '\0')
		unlink(t->md_path);
}

int
fixture_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

size_t
fixture_count_loops(const char *dir)
{
	struct os_disk *disks;
	struct nem_err err;
	size_t n;

	if (os_disk_list(dir, &disks, &n, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		return SIZE_MAX;
	}
	free(disks);
	return n;
}

size_t
fixture_count_mounts(const char *dir)
{
	struct os_mount *mounts;
	struct nem_err err;
	size_t n;

	if (os_mount_list(dir, &mounts, &n, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		return SIZE_MAX;
	}
	os_mount_list_free(mounts, n);
	return n;
}

size_t
fixture_read(const char *path, char *buf, size_t size)
{
	ssize_t n;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return len;
}

int
fixture_probe(struct fixture *f, struct jail_tree *t,
    const char *const *args, const char *out_path, int channel,
    const char *wd, struct nem_err *err)
{
	char *argv[8] = { "/bin/probe" };
	char *envp[] = { "PATH=/bin", NULL };
	struct os_jail_spec spec;
	struct os_jail jail;
	struct os_user user;
	int out, null, status, rc;
	size_t i;

	(void)f;
	for (i = 0; args != NULL && args[i] != NULL && i < 6; i++)
		argv[i + 1] = (char *)args[i];
	if (os_user_lookup(&t->root, "www", &user, err) == -1)
		return -1;
	out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (out == -1 || null == -1)
		return nem_err_sys(err, errno, "open probe output");

	memset(&spec, 0, sizeof(spec));
	spec.root = t->root_path;
	spec.hostname = "probe-jail";
	spec.proc_dest = "/proc";
	spec.uid = user.uid;
	spec.gid = user.gid;
	spec.groups = user.groups;
	spec.ngroups = user.ngroups;
	spec.workdir = wd;
	spec.argv = argv;
	spec.envp = envp;
	spec.stdio[0] = null;
	spec.stdio[1] = out;
	spec.stdio[2] = out;
	spec.channel_fd = channel;
	rc = os_jail_spawn(&spec, &jail, err);
	close(out);
	close(null);
	if (rc == -1)
		return -1;
	rc = os_jail_wait(&jail, false, &status, err);
	os_jail_release(&jail);
	return rc == -1 ? -1 : status;
}
