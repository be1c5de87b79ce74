/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Root integration test: the image store on a full disk. The state
 * directory sits on a 64 MiB ext4 file system that the test makes on a
 * loop device. With the disk filled completely, reading must keep working,
 * an import must fail cleanly with "no space left", and removing an image
 * must succeed. The teardown unmounts and detaches the loop device even
 * when a check fails. Skipped when not run as root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/mount.h>

#include "store_fixture.h"

#define DISK_BYTES (64 * 1024 * 1024)

struct disk {
	struct fixture f;
	char image[PATH_MAX];	/* backing file of the loop device */
	char mnt[PATH_MAX];
	char loop[64];		/* "/dev/loopN", "" when not attached */
	bool mounted;
};

/* Runs argv and stores the first line of its output in out. */
static int
run_capture(const char *const argv[], char *out, size_t size)
{
	posix_spawn_file_actions_t actions;
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
	if (posix_spawnp(&pid, argv[0], &actions, NULL, (char *const *)argv,
	    environ) != 0) {
		posix_spawn_file_actions_destroy(&actions);
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	posix_spawn_file_actions_destroy(&actions);
	close(fds[1]);
	n = read(fds[0], out, size - 1);
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || n < 0)
		return -1;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

static int
disk_teardown(void **state)
{
	struct disk *d = *state;

	if (d == NULL)
		return 0;
	if (d->f.store != NULL || d->f.db != NULL)
		fixture_close_store(&d->f);
	if (d->mounted && umount2(d->mnt, 0) == -1)
		fprintf(stderr, "umount %s: %s\n", d->mnt, strerror(errno));
	if (d->loop[0] != '\0') {
		const char *argv[] = { "losetup", "-d", d->loop, NULL };
		char ignored[8];

		if (run_capture(argv, ignored, sizeof(ignored)) == -1)
			fprintf(stderr, "losetup -d %s failed\n", d->loop);
	}
	if (d->f.dir[0] != '\0')
		nftw(d->f.dir, fixture_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
	return 0;
}

static int
disk_setup(void **state)
{
	*state = calloc(1, sizeof(struct disk));
	return *state == NULL ? -1 : 0;
}

/*
 * Makes the file system and mounts it. Runs inside the test, so that
 * cmocka calls disk_teardown for whatever was made even when a step fails.
 */
static void
disk_prepare(struct disk *d)
{
	const char *mke2fs[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-E",
		"nodiscard", d->image, NULL };
	const char *losetup[] = { "losetup", "--find", "--show", d->image,
		NULL };
	int fd;

	snprintf(d->f.dir, sizeof(d->f.dir), "/tmp/nem-test-disk-XXXXXX");
	assert_non_null(mkdtemp(d->f.dir));
	snprintf(d->image, sizeof(d->image), "%s/disk.img", d->f.dir);
	snprintf(d->mnt, sizeof(d->mnt), "%s/mnt", d->f.dir);
	snprintf(d->f.state, sizeof(d->f.state), "%s/mnt/state", d->f.dir);

	fd = open(d->image, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_BYTES), 0);
	close(fd);
	fixture_run(mke2fs);
	if (run_capture(losetup, d->loop, sizeof(d->loop)) == -1 ||
	    d->loop[0] == '\0') {
		d->loop[0] = '\0';
		fail_msg("losetup --find --show %s failed", d->image);
	}
	assert_int_equal(mkdir(d->mnt, 0755), 0);
	if (mount(d->loop, d->mnt, "ext4", 0, NULL) == -1)
		fail_msg("mount %s on %s: %s", d->loop, d->mnt,
		    strerror(errno));
	d->mounted = true;
	assert_int_equal(mkdir(d->f.state, 0755), 0);
}

/*
 * Writes zeros to <mnt>/fill until writing fails, and checks that a new
 * 4 KiB file no longer fits. ext4 keeps some clusters back even from root,
 * so statvfs never shows 0 free blocks.
 */
static void
fill_disk(struct disk *d)
{
	static const size_t sizes[] = { 1024 * 1024, 4096, 512, 1 };
	char path[PATH_MAX + 8], zeros[1024 * 1024];
	int fd;

	memset(zeros, 0, sizeof(zeros));
	snprintf(path, sizeof(path), "%s/fill", d->mnt);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		while (write(fd, zeros, sizes[i]) > 0)
			;
	(void)fsync(fd);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		while (write(fd, zeros, sizes[i]) > 0)
			;
	close(fd);

	snprintf(path, sizeof(path), "%s/probe", d->mnt);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		assert_int_equal(errno, ENOSPC);
		return;
	}
	if (write(fd, zeros, 4096) == 4096 && fsync(fd) == 0)
		fail_msg("the file system still takes 4 KiB");
	assert_int_equal(errno, ENOSPC);
	close(fd);
	assert_int_equal(unlink(path), 0);
}

static void
import_fails_cleanly(struct disk *d, const char *path, bool known_size)
{
	struct store_import_req req = { .name = "late", .version = "1.0.0" };
	struct nem_err err;
	struct stat st;
	int fd;

	assert_int_equal(stat(path, &st), 0);
	if (known_size)
		req.total = (uint64_t)st.st_size;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(store_import(d->f.store, fd, &req, NULL, &err), -1);
	close(fd);
	assert_int_equal(err.code, ENOSPC);
	assert_non_null(strstr(err.msg, "no space left on device"));
	assert_int_equal(fixture_count_files(&d->f, "tmp"), 0);
	assert_int_equal(fixture_count_files(&d->f, "sha256"), 2);
	assert_int_equal(fixture_query_int(&d->f, "SELECT count(*) FROM images "
	    "WHERE name = 'late'"), 0);
}

static void
full_disk_keeps_store_usable(void **state)
{
	struct disk *d = *state;
	struct store_image base, found, *list;
	char base_path[PATH_MAX], spare_path[PATH_MAX], late_path[PATH_MAX];
	char fill[PATH_MAX + 8];
	struct nem_err err;
	size_t count;
	int fd;

	if (geteuid() != 0)
		skip();
	disk_prepare(d);

	/* Sources live outside the small file system. */
	fixture_make_image(&d->f, "squashfs", "base", 20 * 1024 * 1024,
	    base_path);
	fixture_make_image(&d->f, "squashfs", "spare", 1024 * 1024,
	    spare_path);
	fixture_make_image(&d->f, "erofs", "late", 2 * 1024 * 1024,
	    late_path);
	fixture_open_store(&d->f);
	fixture_import_ok(&d->f, base_path, "base", "1.0.0", &base);
	fixture_import_ok(&d->f, spare_path, "spare", NULL, NULL);

	fill_disk(d);

	/* Reading works: list, show one, open for attaching. */
	assert_int_equal(store_list(d->f.store, &list, &count, &err), 0);
	assert_int_equal(count, 2);
	free(list);
	assert_int_equal(store_lookup(d->f.store, "base", "^1", NULL, &found,
	    &err), 0);
	assert_string_equal(found.sha256, base.sha256);
	assert_int_equal(store_open_image(d->f.store, base.sha256, &fd, &err),
	    0);
	close(fd);

	/* An import fails with no side effects, with and without a size. */
	import_fails_cleanly(d, late_path, true);
	import_fails_cleanly(d, late_path, false);

	/* Removing an unused image frees space and must work. */
	if (store_remove(d->f.store, "spare", NULL, &err) == -1)
		fail_msg("remove on a full disk: %s", err.msg);
	assert_int_equal(fixture_count_files(&d->f, "sha256"), 1);

	/* Close and reopen while the disk is still (nearly) full. */
	fill_disk(d);
	fixture_close_store(&d->f);
	fixture_open_store(&d->f);
	assert_int_equal(store_list(d->f.store, &list, &count, &err), 0);
	assert_int_equal(count, 1);
	free(list);

	/* With space again, the import succeeds. */
	snprintf(fill, sizeof(fill), "%s/fill", d->mnt);
	assert_int_equal(unlink(fill), 0);
	fixture_import_ok(&d->f, late_path, "late", "1.0.0", NULL);
	fixture_check_consistent(&d->f);
	assert_int_equal(fixture_query_int(&d->f, "SELECT count(*) FROM "
	    "images"), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(full_disk_keeps_store_usable,
		    disk_setup, disk_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
