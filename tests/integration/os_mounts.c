/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Root integration test of the os.h mounts: each mount type alone in a
 * plain directory root, then all of them in one jail tree with a probe
 * running inside that reports its descriptors, namespaces, host name and
 * mounts. Uses real loop devices, mounts and namespaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "os_fixture.h"

#define assert_ok(call, err) \
	do { \
		if ((call) == -1) \
			fail_msg("%s: %s", #call, (err).msg); \
	} while (0)

/* Opens a fresh plain directory root named name in the run folder. */
static void
plain_root(struct fixture *f, const char *name, char *path, size_t size,
    struct os_root *root)
{
	struct nem_err err;

	snprintf(path, size, "%s/%s", f->dir, name);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_ok(os_root_open(path, root, &err), err);
}

/* Checks that exactly one mount of fstype sits at root_path + dest. */
static void
expect_mount(const char *root_path, const char *dest, const char *fstype,
    unsigned long must_flags)
{
	char want[PATH_MAX];
	struct os_mount *mounts;
	struct statvfs vfs;
	struct nem_err err;
	size_t n, hits = 0;

	snprintf(want, sizeof(want), "%s%s", root_path,
	    strcmp(dest, "/") == 0 ? "" : dest);
	assert_ok(os_mount_list(root_path, &mounts, &n, &err), err);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(mounts[i].path, want) == 0 &&
		    strcmp(mounts[i].fstype, fstype) == 0)
			hits++;
	}
	os_mount_list_free(mounts, n);
	if (hits != 1)
		fail_msg("expected one %s mount at %s, found %zu", fstype,
		    want, hits);
	assert_int_equal(statvfs(want, &vfs), 0);
	assert_int_equal(vfs.f_flag & must_flags, must_flags);
}

static void
unmount_all(const char *root_path)
{
	struct nem_err err;

	assert_ok(os_unmount_under(root_path, &err), err);
	assert_int_equal(fixture_count_mounts(root_path), 0);
}

static void
image_alone(void **state)
{
	struct fixture *f = *state;
	struct os_root root;
	struct os_disk disk;
	struct nem_err err;
	char path[PATH_MAX], probe_path[PATH_MAX];
	struct stat st;

	plain_root(f, "image", path, sizeof(path), &root);
	assert_ok(os_disk_attach(f->image_fd, OS_DISK_READ_ONLY, &disk, &err),
	    err);
	assert_ok(os_mount_image(&root, "/", disk.path, "squashfs", &err),
	    err);
	os_disk_release(&disk);
	expect_mount(path, "/", "squashfs",
	    ST_RDONLY | ST_NODEV | ST_NOSUID);

	/* root.fd now refers to the image: its files resolve through it. */
	assert_int_equal(fstatat(root.fd, "bin/probe", &st, 0), 0);
	snprintf(probe_path, sizeof(probe_path), "%s/bin/probe", path);
	assert_int_equal(stat(probe_path, &st), 0);

	/* A directory missing in a read-only image is a clear error. */
	assert_int_equal(os_mount_tmpfs(&root, "/missing/dir", 0, &err), -1);
	assert_int_equal(err.code, EROFS);
	assert_non_null(strstr(err.msg, "read-only"));
	os_root_close(&root);
	unmount_all(path);
	assert_int_equal(fixture_count_loops(f->dir), 0);
}

static void
md_alone(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], img[PATH_MAX], file[PATH_MAX];
	struct os_root root;
	struct os_disk disk;
	struct nem_err err;
	struct stat st;
	int fd;

	plain_root(f, "md", path, sizeof(path), &root);
	snprintf(img, sizeof(img), "%s/vol.img", f->dir);
	assert_ok(os_md_image_create(f->cache, img, 8u << 20, OS_MD_PERSIST,
	    &err), err);
	assert_int_equal(stat(img, &st), 0);
	assert_int_equal(st.st_size, 8 << 20);
	/* Sparse: far fewer blocks than the size. */
	assert_true(st.st_blocks * 512 < st.st_size / 2);

	fd = open(img, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_ok(os_disk_attach(fd, 0, &disk, &err), err);
	close(fd);
	assert_ok(os_mount_md(&root, "/var/db", disk.path, &err), err);
	os_disk_release(&disk);
	expect_mount(path, "/var/db", "ext4", ST_NODEV | ST_NOSUID);
	snprintf(file, sizeof(file), "%s/var/db/kept", path);
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data", 4), 4);
	close(fd);
	os_root_close(&root);
	unmount_all(path);

	/* A persistent image that exists is kept, never reformatted. */
	assert_ok(os_md_image_create(f->cache, img, 8u << 20, OS_MD_PERSIST,
	    &err), err);
	fd = open(img, O_RDWR | O_CLOEXEC);
	assert_ok(os_disk_attach(fd, 0, &disk, &err), err);
	close(fd);
	assert_ok(os_root_open(path, &root, &err), err);
	assert_ok(os_mount_md(&root, "/var/db", disk.path, &err), err);
	os_disk_release(&disk);
	assert_int_equal(stat(file, &st), 0);
	os_root_close(&root);
	unmount_all(path);

	/* A size mismatch is an error, not applied. */
	assert_int_equal(os_md_image_create(f->cache, img, 16u << 20,
	    OS_MD_PERSIST, &err), -1);
	assert_int_equal(err.code, EEXIST);
	assert_int_equal(stat(img, &st), 0);
	assert_int_equal(st.st_size, 8 << 20);
	assert_int_equal(os_md_image_create(f->cache, img, 8u << 20, 0,
	    &err), -1);
	assert_int_equal(os_md_image_create(f->cache, img, 3u << 20, 0,
	    &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_int_equal(fixture_count_loops(f->dir), 0);
}

static void
bind_alone(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], file[PATH_MAX];
	struct os_root root;
	struct nem_err err;
	int fd;

	plain_root(f, "bind", path, sizeof(path), &root);
	assert_ok(os_mount_bind(&root, "/srv/share", f->pool, false, &err),
	    err);
	expect_mount(path, "/srv/share", "ext4", ST_NODEV | ST_NOSUID);
	snprintf(file, sizeof(file), "%s/srv/share/written", path);
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(unlink(file), 0);

	assert_ok(os_mount_bind(&root, "/srv/ro", f->pool, true, &err), err);
	expect_mount(path, "/srv/ro", "ext4",
	    ST_RDONLY | ST_NODEV | ST_NOSUID);
	snprintf(file, sizeof(file), "%s/srv/ro/written", path);
	assert_int_equal(open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644),
	    -1);
	assert_int_equal(errno, EROFS);
	os_root_close(&root);
	unmount_all(path);
}

static void
disk_alone(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct os_root root;
	struct os_disk disk;
	struct nem_err err;
	int fd;

	plain_root(f, "disk", path, sizeof(path), &root);
	fd = open(f->disk_image, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_ok(os_disk_attach(fd, 0, &disk, &err), err);
	close(fd);
	assert_ok(os_mount_disk(&root, "/data", disk.path, "ext4", &err),
	    err);
	os_disk_release(&disk);
	expect_mount(path, "/data", "ext4", ST_NODEV | ST_NOSUID);
	os_root_close(&root);
	unmount_all(path);
	assert_int_equal(fixture_count_loops(f->dir), 0);
}

static void
tmpfs_and_file_alone(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], file[PATH_MAX], buf[64];
	struct os_root root;
	struct nem_err err;
	struct statvfs vfs;
	struct stat st;
	int fd;

	plain_root(f, "tmpfs", path, sizeof(path), &root);
	assert_ok(os_mount_tmpfs(&root, "/tmp", 4u << 20, &err), err);
	expect_mount(path, "/tmp", "tmpfs", ST_NODEV | ST_NOSUID);
	snprintf(file, sizeof(file), "%s/tmp", path);
	assert_int_equal(statvfs(file, &vfs), 0);
	assert_int_equal((uint64_t)vfs.f_blocks * vfs.f_frsize, 4u << 20);

	fd = open(f->conf, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_ok(os_copy_file(&root, "/tmp/etc/app.conf", fd, 0640, &err),
	    err);
	/* Copying again replaces the file. */
	assert_ok(os_copy_file(&root, "/tmp/etc/app.conf", fd, 0600, &err),
	    err);
	close(fd);
	snprintf(file, sizeof(file), "%s/tmp/etc/app.conf", path);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	fixture_read(file, buf, sizeof(buf));
	assert_string_equal(buf, "listen = 8080\n");
	os_root_close(&root);
	unmount_all(path);
}

static void
dev_alone(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], node[PATH_MAX];
	static const char *names[] = {
		"null", "zero", "full", "random", "urandom", "tty",
	};
	struct os_root root;
	struct nem_err err;
	struct stat st;

	plain_root(f, "dev", path, sizeof(path), &root);
	assert_ok(os_mount_dev(&root, "/dev", &err), err);
	expect_mount(path, "/dev", "tmpfs", ST_NOSUID | ST_NOEXEC);
	expect_mount(path, "/dev/pts", "devpts", ST_NOSUID | ST_NOEXEC);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(node, sizeof(node), "%s/dev/%s", path, names[i]);
		assert_int_equal(lstat(node, &st), 0);
		assert_true(S_ISCHR(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0666);
	}
	snprintf(node, sizeof(node), "%s/dev/pts/ptmx", path);
	assert_int_equal(lstat(node, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	snprintf(node, sizeof(node), "%s/dev/ptmx", path);
	assert_int_equal(lstat(node, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	os_root_close(&root);
	unmount_all(path);
}

static void
invalid_destinations(void **state)
{
	static const char *bad[] = {
		"relative", "/a/../b", "/a//b", "/a/./b", "/a/", "",
	};
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct os_root root;
	struct nem_err err;

	plain_root(f, "invalid", path, sizeof(path), &root);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(os_mount_tmpfs(&root, bad[i], 0, &err), -1);
		assert_int_equal(err.code, EINVAL);
	}
	os_root_close(&root);
	assert_int_equal(fixture_count_mounts(path), 0);
}

/* True when text has a line starting with prefix (and returns it). */
static const char *
find_line(const char *text, const char *prefix)
{
	size_t len = strlen(prefix);

	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, prefix, len) == 0)
			return p;
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return NULL;
}

static void
all_together_with_probe(void **state)
{
	static const char *mounts[] = {
		"mount /dev/loop", "mount proc /proc proc",
		"mount tmpfs /tmp tmpfs", "mount tmpfs /dev tmpfs",
		"mount devpts /dev/pts devpts", " /var/db ext4", " /data ext4",
		" /pool ext4",
	};
	struct fixture *f = *state;
	struct jail_tree t;
	struct nem_err err;
	char out[PATH_MAX], text[16384], host_ns[64], line[80];
	ssize_t n;
	int status;

	assert_ok(fixture_build_jail(f, "all", TREE_ALL, &t, &err), err);
	snprintf(out, sizeof(out), "%s/all.out", f->dir);
	status = fixture_probe(f, &t, NULL, out, -1, "/work", &err);
	if (status == -1)
		fail_msg("probe: %s", err.msg);
	fixture_read(out, text, sizeof(text));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("probe status %d: %s", status, text);

	assert_non_null(find_line(text, "hostname probe-jail\n"));
	assert_non_null(find_line(text, "pid 1\n"));
	assert_non_null(find_line(text, "uid 1000\n"));
	assert_non_null(find_line(text, "gid 1000\n"));
	assert_non_null(find_line(text, "cwd /work\n"));
	assert_non_null(find_line(text, "nfds 3\n"));
	for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		if (strstr(text, mounts[i]) == NULL)
			fail_msg("jail lacks mount \"%s\":\n%s", mounts[i],
			    text);
	}
	/* Host paths never show up in the jail's mount table. */
	if (strstr(find_line(text, "mount "), f->dir) != NULL)
		fail_msg("host path %s visible in the jail:\n%s", f->dir,
		    text);

	/* Every namespace differs from the test's own. */
	static const char *ns[] = { "mnt", "pid", "uts", "ipc", "net" };
	for (size_t i = 0; i < 5; i++) {
		char link[64];

		snprintf(link, sizeof(link), "/proc/self/ns/%s", ns[i]);
		n = readlink(link, host_ns, sizeof(host_ns) - 1);
		assert_true(n > 0);
		host_ns[n] = '\0';
		snprintf(line, sizeof(line), "ns %s %s\n", ns[i], host_ns);
		assert_null(find_line(text, line));
		snprintf(line, sizeof(line), "ns %s ", ns[i]);
		assert_non_null(find_line(text, line));
	}
	fixture_free_jail(f, &t);
	assert_int_equal(fixture_count_mounts(f->dir), 0);
	assert_int_equal(fixture_count_loops(f->dir), 0);
}

static void
exec_failure_reported(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "/bin/web", NULL };
	char *envp[] = { NULL };
	struct os_jail_spec spec;
	struct os_jail jail;
	struct jail_tree t;
	struct nem_err err;
	int null;

	assert_ok(fixture_build_jail(f, "noexec", TREE_TMPFS, &t, &err), err);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	memset(&spec, 0, sizeof(spec));
	spec.root = t.root_path;
	spec.hostname = "noexec";
	spec.proc_dest = "/proc";
	spec.workdir = "/";
	spec.argv = argv;
	spec.envp = envp;
	spec.stdio[0] = spec.stdio[1] = spec.stdio[2] = null;
	spec.channel_fd = -1;
	assert_int_equal(os_jail_spawn(&spec, &jail, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_string_equal(err.msg,
	    "exec failed: /bin/web: No such file or directory");
	close(null);
	fixture_free_jail(f, &t);
}

static void
signal_and_wait(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "/bin/probe", "sleep", NULL };
	char *envp[] = { NULL };
	struct os_jail_spec spec;
	struct os_jail jail;
	struct jail_tree t;
	struct nem_err err;
	int null, status;

	assert_ok(fixture_build_jail(f, "signal", 0, &t, &err), err);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	memset(&spec, 0, sizeof(spec));
	spec.root = t.root_path;
	spec.hostname = "signal";
	spec.share_network = true;
	spec.workdir = "/";
	spec.argv = argv;
	spec.envp = envp;
	spec.stdio[0] = spec.stdio[1] = spec.stdio[2] = null;
	spec.channel_fd = -1;
	assert_ok(os_jail_spawn(&spec, &jail, &err), err);
	close(null);
	assert_int_equal(os_jail_wait(&jail, true, &status, &err), 1);
	/* The probe is PID 1 of its namespace: it gets SIGTERM only because
	 * it handles it, and exits 42 from the handler. */
	usleep(100000);
	assert_ok(os_jail_signal(&jail, SIGTERM, &err), err);
	assert_ok(os_jail_wait(&jail, false, &status, &err), err);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 42);
	/* The pid is gone: the pidfd reports it, never another process. */
	assert_int_equal(os_jail_signal(&jail, SIGTERM, &err), -1);
	assert_int_equal(err.code, ESRCH);
	os_jail_release(&jail);
	assert_int_equal(jail.pidfd, -1);
	fixture_free_jail(f, &t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(image_alone, fixture_setup,
		    fixture_teardown),
		cmocka_unit_test_setup_teardown(md_alone, fixture_setup,
		    fixture_teardown),
		cmocka_unit_test_setup_teardown(bind_alone, fixture_setup,
		    fixture_teardown),
		cmocka_unit_test_setup_teardown(disk_alone, fixture_setup,
		    fixture_teardown),
		cmocka_unit_test_setup_teardown(tmpfs_and_file_alone,
		    fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(dev_alone, fixture_setup,
		    fixture_teardown),
		cmocka_unit_test_setup_teardown(invalid_destinations,
		    fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(all_together_with_probe,
		    fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(exec_failure_reported,
		    fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(signal_and_wait,
		    fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
