/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the image store with real squashfs, erofs and ext4 images.
 * They cover import, deduplication, conflicting content, lookup grammar,
 * removal and references, gc and verify. The regression cases change, cut,
 * replace or delete the stored file behind the store's back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "store_fixture.h"

static void
import_detects_fstypes(void **state)
{
	static const char *const types[] = { "squashfs", "erofs", "ext4" };
	struct fixture *f = *state;

	for (size_t i = 0; i < 3; i++) {
		char path[PATH_MAX], stored[PATH_MAX], digest[65];
		struct store_image image;
		struct stat st;

		fixture_make_image(f, types[i], types[i], 20000, path);
		fixture_import_ok(f, path, types[i], "1.0.0", &image);
		fixture_sha256(path, digest);
		assert_string_equal(image.name, types[i]);
		assert_string_equal(image.version, "1.0.0");
		assert_string_equal(image.fstype, types[i]);
		assert_string_equal(image.sha256, digest);
		assert_false(image.bad);
		assert_true(image.created > 0);

		fixture_stored_path(f, digest, stored);
		assert_int_equal(stat(stored, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0444);
		assert_int_equal((uint64_t)st.st_size, image.size);
	}
	assert_int_equal(fixture_count_files(f, "sha256"), 3);
	fixture_check_consistent(f);
}

/* Fails unless every open descriptor on a file under dir is close-on-exec. */
static int
check_cloexec_under(const char *dir)
{
	struct dirent *de;
	DIR *fds = opendir("/proc/self/fd");
	int checked = 0;

	assert_non_null(fds);
	while ((de = readdir(fds)) != NULL) {
		char link[64], target[PATH_MAX];
		int fd = atoi(de->d_name);
		ssize_t n;

		if (de->d_name[0] == '.' || fd == dirfd(fds))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, dir, strlen(dir)) != 0)
			continue;
		if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
			fail_msg("fd %d (%s) is not close-on-exec", fd, target);
		checked++;
	}
	closedir(fds);
	return checked;
}

static void
store_descriptors_are_cloexec(void **state)
{
	struct fixture *f = *state;
	struct store_image image;
	char path[PATH_MAX];
	struct nem_err err;
	int fd;

	fixture_make_image(f, "squashfs", "base", 5000, path);
	fixture_import_ok(f, path, "base", NULL, &image);
	assert_int_equal(store_open_image(f->store, image.sha256, &fd, &err),
	    0);
	/* The database files, two directories and the image at least. */
	assert_true(check_cloexec_under(f->state) >= 4);
	close(fd);
}

static void
import_rejects_unknown_type(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct nem_err err;

	snprintf(path, sizeof(path), "%s/random.bin", f->dir);
	fixture_write_data(path, 100000, 7);
	assert_int_equal(fixture_import(f, path, "junk", NULL, NULL, &err),
	    -1);
	assert_int_equal(err.code, EINVAL);
	assert_non_null(strstr(err.msg, "no known superblock magic"));
	assert_int_equal(fixture_count_files(f, "sha256"), 0);
	assert_int_equal(fixture_query_int(f, "SELECT count(*) FROM images"),
	    0);
	fixture_check_consistent(f);
}

static void
import_dedupes_same_bytes(void **state)
{
	struct fixture *f = *state;
	struct store_image first, again, copy;
	char path[PATH_MAX];

	fixture_make_image(f, "squashfs", "base", 30000, path);
	fixture_import_ok(f, path, "base", "1.0.0", &first);
	fixture_import_ok(f, path, "base", "1.0.0", &again);
	assert_string_equal(again.sha256, first.sha256);
	assert_int_equal(again.created, first.created);
	assert_int_equal(fixture_query_int(f, "SELECT count(*) FROM images"),
	    1);

	fixture_import_ok(f, path, "copy", NULL, &copy);
	assert_string_equal(copy.sha256, first.sha256);
	assert_string_equal(copy.version, "");
	assert_int_equal(fixture_query_int(f, "SELECT count(*) FROM images"),
	    2);
	assert_int_equal(fixture_count_files(f, "sha256"), 1);
	fixture_check_consistent(f);
}

static void
import_rejects_changed_content(void **state)
{
	struct fixture *f = *state;
	char path_a[PATH_MAX], path_b[PATH_MAX], digest_b[65];
	struct store_image a, found;
	struct store_import_req req = { .name = "base", .version = "1.0.0" };
	struct nem_err err;
	int fd;

	fixture_make_image(f, "squashfs", "a", 30000, path_a);
	fixture_make_image(f, "squashfs", "b", 30000, path_b);
	fixture_import_ok(f, path_a, "base", "1.0.0", &a);

	assert_int_equal(fixture_import(f, path_b, "base", "1.0.0", NULL,
	    &err), -1);
	assert_int_equal(err.code, EEXIST);
	assert_non_null(strstr(err.msg, "images never change"));
	assert_non_null(strstr(err.msg, a.sha256));

	/* With the digest given, the conflict shows before any copying. */
	fixture_sha256(path_b, digest_b);
	req.sha256 = digest_b;
	fd = open(path_b, O_RDONLY | O_CLOEXEC);
	assert_int_equal(store_import(f->store, fd, &req, NULL, &err), -1);
	close(fd);
	assert_int_equal(err.code, EEXIST);

	assert_int_equal(store_lookup(f->store, "base", NULL, NULL, &found,
	    &err), 0);
	assert_string_equal(found.sha256, a.sha256);
	assert_int_equal(fixture_count_files(f, "sha256"), 1);
	fixture_check_consistent(f);
}

static void
import_checks_request(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], digest[65];
	struct store_import_req req = { .name = "base" };
	struct nem_err err;
	struct stat st;
	int fd;

	fixture_make_image(f, "erofs", "base", 30000, path);
	fixture_sha256(path, digest);
	assert_int_equal(stat(path, &st), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);

	req.sha256 = "00000000000000000000000000000000000000000000000000000000"
	    "00000000";
	assert_int_equal(store_import(f->store, fd, &req, NULL, &err), -1);
	assert_int_equal(err.code, EBADMSG);
	assert_non_null(strstr(err.msg, digest));

	req.sha256 = "not-hex";
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(store_import(f->store, fd, &req, NULL, &err), -1);
	assert_int_equal(err.code, EINVAL);
	req.sha256 = NULL;

	req.total = (uint64_t)st.st_size + 1;
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(store_import(f->store, fd, &req, NULL, &err), -1);
	assert_int_equal(err.code, EPIPE);
	assert_non_null(strstr(err.msg, "ended after"));

	req.total = (uint64_t)st.st_size - 1;
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(store_import(f->store, fd, &req, NULL, &err), -1);
	assert_int_equal(err.code, EFBIG);
	req.total = 0;

	req.version = "v1.0.0";
	assert_int_equal(store_import(f->store, fd, &req, NULL, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_non_null(strstr(err.msg, "leading \"v\""));
	req.version = NULL;

	req.name = "../etc";
	assert_int_equal(store_import(f->store, fd, &req, NULL, &err), -1);
	assert_int_equal(err.code, EINVAL);
	close(fd);

	assert_int_equal(fixture_count_files(f, "sha256"), 0);
	assert_int_equal(fixture_query_int(f, "SELECT count(*) FROM images"),
	    0);
	fixture_check_consistent(f);
}

struct pipe_writer {
	const char *path;
	int fd;
};

static void *
write_to_pipe(void *arg)
{
	struct pipe_writer *w = arg;
	char buf[65536];
	ssize_t n;
	int in = open(w->path, O_RDONLY | O_CLOEXEC);

	while (in >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(w->fd, buf, (size_t)n) != n)
			break;
	if (in >= 0)
		close(in);
	close(w->fd);
	return NULL;
}

struct progress_log {
	uint64_t last_done;
	uint64_t total;
	int calls;
	int backwards;
};

static void
record_progress(void *arg, uint64_t done, uint64_t total)
{
	struct progress_log *log = arg;

	if (done < log->last_done)
		log->backwards++;
	log->last_done = done;
	log->total = total;
	log->calls++;
}

static void
import_from_pipe_reports_progress(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], digest[65];
	struct progress_log log = { 0 };
	struct store_import_req req = { .name = "big", .version = "2.0.0",
		.progress = record_progress, .progress_arg = &log };
	struct pipe_writer writer;
	struct store_image image;
	struct nem_err err;
	struct stat st;
	pthread_t thread;
	int fds[2];

	fixture_make_image(f, "squashfs", "big", 20 * 1024 * 1024, path);
	fixture_sha256(path, digest);
	assert_int_equal(stat(path, &st), 0);
	req.total = (uint64_t)st.st_size;
	req.sha256 = digest;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	writer.path = path;
	writer.fd = fds[1];
	assert_int_equal(pthread_create(&thread, NULL, write_to_pipe,
	    &writer), 0);
	assert_int_equal(store_import(f->store, fds[0], &req, &image, &err),
	    0);
	pthread_join(thread, NULL);
	close(fds[0]);

	assert_string_equal(image.sha256, digest);
	assert_int_equal(image.size, (uint64_t)st.st_size);
	assert_true(log.calls >= 3);
	assert_int_equal(log.backwards, 0);
	assert_int_equal(log.last_done, (uint64_t)st.st_size);
	assert_int_equal(log.total, (uint64_t)st.st_size);
	fixture_check_consistent(f);
}

/* Imports a fresh squashfs as name/version and returns its digest. */
static void
add_version(struct fixture *f, const char *name, const char *version,
    char digest[65])
{
	struct store_image image;
	char path[PATH_MAX];

	fixture_make_image(f, "squashfs", name, 5000, path);
	fixture_import_ok(f, path, name, version, &image);
	if (digest != NULL)
		memcpy(digest, image.sha256, 65);
}

static void
lookup_error_names_versions(void **state)
{
	struct fixture *f = *state;
	struct store_image image;
	struct nem_err err;

	add_version(f, "base", "1.2.3", NULL);
	add_version(f, "base", "1.0.0", NULL);
	assert_int_equal(store_lookup(f->store, "base", "^2.0", NULL, &image,
	    &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_string_equal(err.msg, "image base: no version matches ^2.0; "
	    "available: 1.0.0, 1.2.3");

	assert_int_equal(store_lookup(f->store, "nothing", NULL, NULL, &image,
	    &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "image nothing not found"));

	assert_int_equal(store_lookup(f->store, "base", "^^1", NULL, &image,
	    &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_non_null(strstr(err.msg, "image base"));
}

static void
lookup_picks_by_requirement(void **state)
{
	struct fixture *f = *state;
	char d100[65], d123[65], drc[65], dnone[65];
	struct store_image image;
	struct nem_err err;
	static const struct {
		const char *req;
		const char *version;
	} cases[] = {
		{ NULL, "2.0.0-rc.1" },
		{ "*", "1.2.3" },
		{ "^1.0", "1.2.3" },
		{ "~1.0", "1.0.0" },
		{ "1.0.0", "1.0.0" },
		{ "=1.2.3", "1.2.3" },
		{ ">=1.0.0 <1.2.0", "1.0.0" },
		{ ">=2.0.0-rc.0", "2.0.0-rc.1" },
		{ "1.0.0 || 1.2.3", "1.2.3" },
	};

	add_version(f, "base", "1.0.0", d100);
	add_version(f, "base", "2.0.0-rc.1", drc);
	add_version(f, "base", "1.2.3", d123);
	add_version(f, "base", NULL, dnone);
	add_version(f, "other", "9.0.0", NULL);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (store_lookup(f->store, "base", cases[i].req, NULL, &image,
		    &err) == -1)
			fail_msg("lookup %s: %s", cases[i].req, err.msg);
		if (strcmp(image.version, cases[i].version) != 0)
			fail_msg("lookup %s gave %s, expected %s",
			    cases[i].req, image.version, cases[i].version);
		assert_string_equal(image.name, "base");
	}

	/* A pin selects among the versions and must match one of them. */
	assert_int_equal(store_lookup(f->store, "base", NULL, d100, &image,
	    &err), 0);
	assert_string_equal(image.version, "1.0.0");
	assert_int_equal(store_lookup(f->store, "base", "^1", d123, &image,
	    &err), 0);
	assert_string_equal(image.version, "1.2.3");
	assert_int_equal(store_lookup(f->store, "base", NULL, dnone, &image,
	    &err), 0);
	assert_string_equal(image.version, "");
	assert_int_equal(store_lookup(f->store, "base", "^1", dnone, &image,
	    &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "no matching version has the pinned "
	    "sha256"));
	assert_non_null(strstr(err.msg, "(no version) (sha256 "));

	/* A pin alone finds the image by digest, in either case. */
	for (size_t i = 0; i < 64; i++)
		if (drc[i] >= 'a' && drc[i] <= 'f')
			drc[i] = (char)(drc[i] - 'a' + 'A');
	assert_int_equal(store_lookup(f->store, NULL, NULL, drc, &image,
	    &err), 0);
	assert_string_equal(image.version, "2.0.0-rc.1");
}

static void
lookup_prefers_newest_of_equals(void **state)
{
	struct fixture *f = *state;
	struct store_image image;
	struct nem_err err;
	char newest[65];

	add_version(f, "base", "1.0.0+build.2", NULL);
	add_version(f, "base", "1.0.0+build.1", newest);
	assert_int_equal(store_lookup(f->store, "base", "1.0.0", NULL, &image,
	    &err), 0);
	assert_string_equal(image.sha256, newest);
}

static void
remove_refused_while_referenced(void **state)
{
	struct fixture *f = *state;
	char digest[65], other[65], stored[PATH_MAX];
	const char *refs[] = { digest, other };
	const char *unknown[] = { "ab00000000000000000000000000000000000000"
		"000000000000000000000000" };
	struct nem_err err;
	struct stat st;

	add_version(f, "base", "1.0.0", digest);
	add_version(f, "tools", NULL, other);
	assert_int_equal(store_refs_set(f->store, "web", refs, 2, &err), 0);
	assert_int_equal(store_refs_set(f->store, "db", refs, 1, &err), 0);

	assert_int_equal(store_remove(f->store, "base", NULL, &err), -1);
	assert_int_equal(err.code, EBUSY);
	assert_non_null(strstr(err.msg, "in use by jails: db, web"));

	assert_int_equal(store_refs_set(f->store, "db", unknown, 1, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_int_equal(store_refs_clear(f->store, "web", &err), 0);
	assert_int_equal(store_remove(f->store, "base", "1.0.0", &err), -1);
	assert_non_null(strstr(err.msg, "in use by jails: db;"));

	assert_int_equal(store_refs_set(f->store, "db", NULL, 0, &err), 0);
	assert_int_equal(store_remove(f->store, "base", "1.0.0", &err), 0);
	fixture_stored_path(f, digest, stored);
	assert_int_equal(stat(stored, &st), -1);
	assert_int_equal(store_remove(f->store, "base", NULL, &err), -1);
	assert_int_equal(err.code, ENOENT);
	fixture_check_consistent(f);
}

static void
remove_shared_name_refused(void **state)
{
	struct fixture *f = *state;
	struct store_image image;
	char path[PATH_MAX];
	const char *refs[] = { image.sha256 };
	struct nem_err err;

	fixture_make_image(f, "squashfs", "base", 5000, path);
	fixture_import_ok(f, path, "base", "1.0.0", &image);
	fixture_import_ok(f, path, "alias", "2.0.0", NULL);
	assert_int_equal(store_refs_set(f->store, "web", refs, 1, &err), 0);

	/* The store cannot tell which name web uses, so both stay. */
	assert_int_equal(store_remove(f->store, "alias", "2.0.0", &err), -1);
	assert_int_equal(err.code, EBUSY);
	assert_non_null(strstr(err.msg, "shares its file with other image "
	    "names, and jails web use that file"));
	assert_int_equal(store_remove(f->store, "base", "1.0.0", &err), -1);
	assert_int_equal(err.code, EBUSY);
	fixture_check_consistent(f);
}

static void
refs_pruned_for_gone_jails(void **state)
{
	struct fixture *f = *state;
	char digest[65];
	const char *refs[] = { digest };
	const char *keep[] = { "web", "other" };
	struct nem_err err;

	add_version(f, "base", "1.0.0", digest);
	assert_int_equal(store_refs_set(f->store, "web", refs, 1, &err), 0);
	assert_int_equal(store_refs_set(f->store, "gone", refs, 1, &err), 0);

	/* Only web keeps its reference. */
	assert_int_equal(store_refs_prune(f->store, keep, 2, &err), 0);
	assert_int_equal(store_remove(f->store, "base", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "in use by jails: web"));
	assert_null(strstr(err.msg, "gone"));

	/* With nothing kept, nothing refers to it. */
	assert_int_equal(store_refs_prune(f->store, NULL, 0, &err), 0);
	assert_int_equal(store_remove(f->store, "base", NULL, &err), 0);
	fixture_check_consistent(f);
}

static void
remove_keeps_shared_file(void **state)
{
	struct fixture *f = *state;
	struct store_image image;
	char path[PATH_MAX], stored[PATH_MAX];
	struct nem_err err;
	struct stat st;

	fixture_make_image(f, "ext4", "base", 5000, path);
	fixture_import_ok(f, path, "base", "1.0.0", &image);
	fixture_import_ok(f, path, "copy", NULL, NULL);
	add_version(f, "base", "1.1.0", NULL);
	fixture_stored_path(f, image.sha256, stored);

	assert_int_equal(store_remove(f->store, "base", NULL, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_non_null(strstr(err.msg, "1.0.0, 1.1.0"));
	assert_int_equal(store_remove(f->store, "base", "9.9.9", &err), -1);
	assert_int_equal(err.code, ENOENT);

	assert_int_equal(store_remove(f->store, "base", "1.0.0", &err), 0);
	assert_int_equal(stat(stored, &st), 0);
	assert_int_equal(store_remove(f->store, "copy", "", &err), 0);
	assert_int_equal(stat(stored, &st), -1);
	assert_int_equal(fixture_count_files(f, "sha256"), 1);
	fixture_check_consistent(f);
}

struct findings {
	int count[STORE_FINDING_KEPT + 1];
	char last_names[256];
};

static void
record_finding(void *arg, const struct store_report *r)
{
	struct findings *found = arg;

	found->count[r->finding]++;
	snprintf(found->last_names, sizeof(found->last_names), "%s",
	    r->names);
}

static void
touch(const char *dir, const char *sub, const char *name)
{
	char path[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/images/%s/%s", dir, sub, name);
	fixture_write_data(path, 100, 1);
}

static void
gc_removes_strays(void **state)
{
	struct fixture *f = *state;
	struct findings found = { 0 };
	struct store_image image;
	char unused[65], path[PATH_MAX], sql[256];
	struct nem_err err;

	add_version(f, "base", "1.0.0", NULL);
	add_version(f, "gone", NULL, unused);
	/* A file row without a name, as an older crash could leave. */
	snprintf(sql, sizeof(sql), "DELETE FROM images WHERE sha256 = '%s'",
	    unused);
	assert_int_equal(db_exec(f->db, sql, &err), 0);
	touch(f->state, "sha256", "1111111111111111111111111111111111111111"
	    "111111111111111111111111");
	touch(f->state, "sha256", "not-a-digest");
	touch(f->state, "tmp", "import-leftover");

	assert_int_equal(store_gc(f->store, record_finding, &found, &err), 4);
	assert_int_equal(found.count[STORE_FINDING_UNUSED], 1);
	assert_int_equal(found.count[STORE_FINDING_STRAY], 3);
	assert_int_equal(fixture_count_files(f, "sha256"), 1);
	assert_int_equal(store_lookup(f->store, "base", NULL, NULL, &image,
	    &err), 0);
	fixture_stored_path(f, image.sha256, path);
	assert_int_equal(access(path, R_OK), 0);
	fixture_check_consistent(f);

	assert_int_equal(store_gc(f->store, NULL, NULL, &err), 0);
}

/* Ways to damage a stored file. */
enum tamper {
	TAMPER_FLIP,		/* flip one byte at offset 4096 */
	TAMPER_TRUNCATE,	/* cut to half its size */
	TAMPER_REPLACE,		/* another valid squashfs in its place */
	TAMPER_DELETE,		/* remove the file, keep the row */
};

static void
tamper_with(struct fixture *f, const char *stored, enum tamper how)
{
	char other[PATH_MAX];
	struct stat st;
	unsigned char byte;
	int fd;

	switch (how) {
	case TAMPER_FLIP:
		fd = open(stored, O_RDWR | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &byte, 1, 4096), 1);
		byte ^= 0x01;
		assert_int_equal(pwrite(fd, &byte, 1, 4096), 1);
		close(fd);
		break;
	case TAMPER_TRUNCATE:
		assert_int_equal(stat(stored, &st), 0);
		assert_int_equal(truncate(stored, st.st_size / 2), 0);
		break;
	case TAMPER_REPLACE:
		fixture_make_image(f, "squashfs", "impostor", 40000, other);
		assert_int_equal(rename(other, stored), 0);
		break;
	case TAMPER_DELETE:
		assert_int_equal(unlink(stored), 0);
		break;
	}
}

/*
 * The stored file of "base" is damaged in each way, with the store closed
 * or open (and the file already verified once). store_open_image must
 * never hand out a descriptor, verify and list must report the damage,
 * and importing the right bytes again must repair it.
 */
static void
run_tamper_case(struct fixture *f, enum tamper how, bool while_open)
{
	struct findings found = { 0 };
	struct store_image image, *list;
	char path[PATH_MAX], stored[PATH_MAX];
	struct nem_err err;
	size_t count;
	int fd = -1;

	fixture_make_image(f, "squashfs", "base", 200000, path);
	fixture_import_ok(f, path, "base", "1.0.0", &image);
	fixture_stored_path(f, image.sha256, stored);
	if (while_open) {
		assert_int_equal(store_open_image(f->store, image.sha256, &fd,
		    &err), 0);
		close(fd);
	} else {
		fixture_close_store(f);
	}
	/* Root may write to a 0444 file, and so may this test. */
	chmod(stored, 0644);
	tamper_with(f, stored, how);
	if (!while_open)
		fixture_open_store(f);

	fd = -1;
	assert_int_equal(store_open_image(f->store, image.sha256, &fd, &err),
	    -1);
	assert_int_equal(fd, -1);
	assert_int_equal(err.code, EBADMSG);
	assert_non_null(strstr(err.msg, "image base 1.0.0"));
	assert_non_null(strstr(err.msg, "import the image again"));

	/* Marked bad now: later opens fail without hashing. */
	assert_int_equal(store_open_image(f->store, image.sha256, &fd, &err),
	    -1);
	assert_non_null(strstr(err.msg, "marked bad"));

	assert_int_equal(store_verify(f->store, NULL, record_finding, &found,
	    &err), 1);
	assert_int_equal(found.count[how == TAMPER_DELETE ?
	    STORE_FINDING_MISSING : STORE_FINDING_MISMATCH], 1);
	assert_string_equal(found.last_names, "base 1.0.0");

	assert_int_equal(store_list(f->store, &list, &count, &err), 0);
	assert_int_equal(count, 1);
	assert_true(list[0].bad);
	if (how == TAMPER_DELETE)
		assert_int_equal(list[0].file_state, STORE_FILE_MISSING);
	if (how == TAMPER_TRUNCATE)
		assert_int_equal(list[0].file_state, STORE_FILE_CHANGED);
	free(list);

	/* The right bytes again repair the image. */
	fixture_import_ok(f, path, "base", "1.0.0", &image);
	assert_false(image.bad);
	assert_int_equal(store_open_image(f->store, image.sha256, &fd, &err),
	    0);
	assert_true(fd > 2);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	close(fd);
	memset(&found, 0, sizeof(found));
	assert_int_equal(store_verify(f->store, image.sha256, record_finding,
	    &found, &err), 0);
	assert_int_equal(found.count[STORE_FINDING_OK], 1);
	fixture_check_consistent(f);
}

static void
tamper_closed_flip(void **state)
{
	run_tamper_case(*state, TAMPER_FLIP, false);
}

static void
tamper_closed_truncate(void **state)
{
	run_tamper_case(*state, TAMPER_TRUNCATE, false);
}

static void
tamper_closed_replace(void **state)
{
	run_tamper_case(*state, TAMPER_REPLACE, false);
}

static void
tamper_closed_delete(void **state)
{
	run_tamper_case(*state, TAMPER_DELETE, false);
}

static void
tamper_open_flip(void **state)
{
	run_tamper_case(*state, TAMPER_FLIP, true);
}

static void
tamper_open_truncate(void **state)
{
	run_tamper_case(*state, TAMPER_TRUNCATE, true);
}

static void
tamper_open_replace(void **state)
{
	run_tamper_case(*state, TAMPER_REPLACE, true);
}

static void
tamper_open_delete(void **state)
{
	run_tamper_case(*state, TAMPER_DELETE, true);
}

static void
stray_file_reported(void **state)
{
	struct fixture *f = *state;
	struct findings found = { 0 };
	const char *made_up = "2222222222222222222222222222222222222222"
	    "222222222222222222222222";
	struct store_image *list;
	struct nem_err err;
	size_t count;
	int fd;

	add_version(f, "base", "1.0.0", NULL);
	touch(f->state, "sha256", made_up);
	assert_int_equal(store_open_image(f->store, made_up, &fd, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_int_equal(store_list(f->store, &list, &count, &err), 0);
	assert_int_equal(count, 1);
	free(list);
	assert_int_equal(store_verify(f->store, NULL, record_finding, &found,
	    &err), 0);
	assert_int_equal(store_gc(f->store, record_finding, &found, &err), 1);
	assert_int_equal(found.count[STORE_FINDING_STRAY], 1);
	fixture_check_consistent(f);

	/* Reopening removes a digest-named file without a row as well. */
	touch(f->state, "sha256", made_up);
	fixture_close_store(f);
	fixture_open_store(f);
	fixture_check_consistent(f);
}

static int hash_count;

static void
count_hashes(const char *step)
{
	if (strcmp(step, "check-hash") == 0)
		hash_count++;
}

static void
open_image_hashes_when_needed(void **state)
{
	struct fixture *f = *state;
	char digest[65];
	struct nem_err err;
	int fd;

	add_version(f, "base", "1.0.0", digest);
	store_test_hook = count_hashes;
	hash_count = 0;

	/* A file changed within the last seconds is hashed every time. */
	assert_int_equal(store_open_image(f->store, digest, &fd, &err), 0);
	close(fd);
	assert_int_equal(store_open_image(f->store, digest, &fd, &err), 0);
	close(fd);
	assert_int_equal(hash_count, 2);

	/* Once its ctime is old, one check per process is enough. */
	sleep(4);
	assert_int_equal(store_open_image(f->store, digest, &fd, &err), 0);
	close(fd);
	assert_int_equal(hash_count, 3);
	assert_int_equal(store_open_image(f->store, digest, &fd, &err), 0);
	close(fd);
	assert_int_equal(hash_count, 3);

	/* A reopened store checks again. */
	fixture_close_store(f);
	fixture_open_store(f);
	assert_int_equal(store_open_image(f->store, digest, &fd, &err), 0);
	close(fd);
	assert_int_equal(hash_count, 4);
	store_test_hook = NULL;

	assert_int_equal(store_open_image(f->store, "zz", &fd, &err), -1);
	assert_int_equal(err.code, EINVAL);
}

#define STORE_TEST(fn) \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_TEST(import_detects_fstypes),
		STORE_TEST(import_rejects_unknown_type),
		STORE_TEST(store_descriptors_are_cloexec),
		STORE_TEST(import_dedupes_same_bytes),
		STORE_TEST(import_rejects_changed_content),
		STORE_TEST(import_checks_request),
		STORE_TEST(import_from_pipe_reports_progress),
		STORE_TEST(lookup_error_names_versions),
		STORE_TEST(lookup_picks_by_requirement),
		STORE_TEST(lookup_prefers_newest_of_equals),
		STORE_TEST(remove_refused_while_referenced),
		STORE_TEST(refs_pruned_for_gone_jails),
		STORE_TEST(remove_shared_name_refused),
		STORE_TEST(remove_keeps_shared_file),
		STORE_TEST(gc_removes_strays),
		STORE_TEST(tamper_closed_flip),
		STORE_TEST(tamper_closed_truncate),
		STORE_TEST(tamper_closed_replace),
		STORE_TEST(tamper_closed_delete),
		STORE_TEST(tamper_open_flip),
		STORE_TEST(tamper_open_truncate),
		STORE_TEST(tamper_open_replace),
		STORE_TEST(tamper_open_delete),
		STORE_TEST(stray_file_reported),
		STORE_TEST(open_image_hashes_when_needed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
