/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Root integration test of the jail runtime (jail.h): real images built
 * with mksquashfs, mkfs.erofs and mke2fs holding the static /bin/busybox,
 * real loop devices, mounts and namespaces. Covers each mount type, a root
 * process reporting what it sees, image sharing, 100 alloc/spawn/free
 * cycles, failures injected at each step of an allocation, recovery after
 * a SIGKILL at fixed and random points, and mount destinations raced
 * against symlinks. Everything lives under one mkdtemp folder and is torn
 * down even when a check fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "config.h"
#include "db.h"
#include "jail.h"
#include "jail_pool.h"
#include "os/os.h"
#include "os_fixture.h"
#include "store.h"
#include "volume.h"

#define assert_ok(call, err) \
	do { \
		if ((call) == -1) \
			fail_msg("%s: %s", #call, (err).msg); \
	} while (0)

struct rt_fixture {
	char dir[64];			/* the test's folder */
	char run[PATH_MAX];		/* run_dir */
	char state[PATH_MAX];		/* state_dir */
	char conf[PATH_MAX];		/* configuration folder */
	char disk_image[PATH_MAX];	/* ext4 file attached as a disk */
	struct os_disk disk;		/* its loop device, held open */
	pid_t helper;			/* a forked helper to kill, or 0 */
	struct db *db;
	struct store *store;
	struct jail_runtime *rt;
};

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* Stages a tree with busybox and the given extra folders, returns it. */
static void
stage_tree(const char *stage)
{
	static const char *dirs[] = {
		"bin", "etc", "proc", "dev", "tmp", "pool", "data", "var",
		"var/db", "srv", "work",
	};
	char path[PATH_MAX];

	assert_int_equal(mkdir(stage, 0755), 0);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", stage, dirs[i]);
		assert_int_equal(mkdir(path, 0755), 0);
	}
	snprintf(path, sizeof(path), "%s/bin/busybox", stage);
	assert_int_equal(fixture_run((char *[]){ "cp", "/bin/busybox", path,
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
}

/* Imports the image file path into the store as name 1.0.0. */
static void
import(struct rt_fixture *f, const char *path, const char *name,
    struct store_image *out)
{
	struct store_import_req req = { .name = name, .version = "1.0.0" };
	struct nem_err err;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_ok(store_import(f->store, fd, &req, out, &err), err);
	close(fd);
}

static void
open_runtime(struct rt_fixture *f)
{
	struct jail_paths paths = { .run_dir = f->run, .state_dir = f->state };
	struct nem_err err;

	f->db = db_open(f->state, &err);
	if (f->db == NULL)
		fail_msg("db_open: %s", err.msg);
	f->store = store_open(f->db, f->state, &err);
	if (f->store == NULL)
		fail_msg("store_open: %s", err.msg);
	f->rt = jail_runtime_open(&paths, f->store, f->db, &err);
	if (f->rt == NULL)
		fail_msg("jail_runtime_open: %s", err.msg);
}

static void
close_runtime(struct rt_fixture *f)
{
	jail_runtime_close(f->rt);
	store_close(f->store);
	db_close(f->db);
	f->rt = NULL;
	f->store = NULL;
	f->db = NULL;
}

static int
setup(void **state)
{
	char stage[PATH_MAX], path[PATH_MAX];
	struct store_image img;
	struct rt_fixture *f;
	struct nem_err err;
	int fd;

	if (geteuid() != 0) {
		fprintf(stderr, "jail runtime tests need root; skipped\n");
		exit(77);
	}
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->disk.fd = -1;
	*state = f;
	snprintf(f->dir, sizeof(f->dir), "/tmp/nem-jail-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->run, sizeof(f->run), "%s/run", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->conf, sizeof(f->conf), "%s/conf", f->dir);
	assert_int_equal(mkdir(f->run, 0755), 0);
	assert_int_equal(mkdir(f->state, 0700), 0);
	assert_int_equal(mkdir(f->conf, 0755), 0);
	snprintf(path, sizeof(path), "%s/app.conf", f->conf);
	write_file(path, "listen = 8080\n");

	snprintf(stage, sizeof(stage), "%s/stage", f->dir);
	stage_tree(stage);
	snprintf(path, sizeof(path), "%s/base.squashfs", f->dir);
	assert_int_equal(fixture_run((char *[]){ "mksquashfs", stage, path,
	    "-quiet", "-noappend", "-all-root", NULL }), 0);
	open_runtime(f);
	import(f, path, "base", &img);
	snprintf(path, sizeof(path), "%s/extra.erofs", f->dir);
	assert_int_equal(fixture_run((char *[]){ "mkfs.erofs", "--quiet",
	    path, stage, NULL }), 0);
	import(f, path, "extra", &img);

	/* A partition stand-in: an ext4 file on a loop device we hold. */
	snprintf(f->disk_image, sizeof(f->disk_image), "%s/disk.ext4", f->dir);
	assert_int_equal(fixture_run((char *[]){ "truncate", "-s", "16M",
	    f->disk_image, NULL }), 0);
	assert_int_equal(fixture_run((char *[]){ "mke2fs", "-q", "-F", "-t",
	    "ext4", f->disk_image, NULL }), 0);
	fd = open(f->disk_image, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_ok(os_disk_attach(fd, 0, &f->disk, &err), err);
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	struct rt_fixture *f = *state;
	struct os_disk *disks;
	struct nem_err err;
	size_t n;

	if (f == NULL)
		return 0;
	if (f->helper > 0) {
		kill(f->helper, SIGKILL);
		waitpid(f->helper, NULL, 0);
	}
	if (f->rt != NULL)
		close_runtime(f);
	if (os_unmount_under(f->dir, &err) == -1)
		fprintf(stderr, "teardown: %s\n", err.msg);
	/* Our own descriptor first: a device still open is only cleared
	 * once that descriptor closes. */
	os_disk_detach(&f->disk, &err);
	if (os_disk_list(f->dir, &disks, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++)
			os_disk_detach(&disks[i], &err);
		free(disks);
	}
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

/* Loads a jail description from TOML text (printf format). */
static struct cfg_jail *
load_jail(struct rt_fixture *f, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct cfg_jail *
load_jail(struct rt_fixture *f, const char *name, const char *fmt, ...)
{
	struct cfg_diags diags = { 0 };
	struct cfg_jail *jail;
	char text[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	jail = cfg_jail_load_buffer(name, name, f->conf, text, strlen(text),
	    &diags);
	if (jail == NULL) {
		cfg_diags_print(&diags, stderr);
		cfg_diags_clear(&diags);
		fail_msg("jail description %s is invalid", name);
	}
	cfg_diags_clear(&diags);
	return jail;
}

#define PROCESS_TRUE "[process]\nexec = [\"/bin/sh\", \"-c\", \"true\"]\n"
#define IMAGE_ROOT "[[mount]]\ntype = \"image\"\ndest = \"/\"\n" \
	"image = \"base\"\n"

/* Counts mounts under the run folder, not the private tops themselves. */
static size_t
count_run_mounts(struct rt_fixture *f)
{
	char jails[PATH_MAX], images[PATH_MAX];
	struct os_mount *mounts;
	struct nem_err err;
	size_t n, count = 0;

	snprintf(jails, sizeof(jails), "%s/jails", f->run);
	snprintf(images, sizeof(images), "%s/images", f->run);
	assert_ok(os_mount_list(f->run, &mounts, &n, &err), err);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(mounts[i].path, jails) != 0 &&
		    strcmp(mounts[i].path, images) != 0)
			count++;
	}
	os_mount_list_free(mounts, n);
	return count;
}

/*
 * Counts the mounts outside the run folder of loop devices backed by files
 * of this test: a destination that escaped the jail would show up here.
 * Other processes may mount elsewhere meanwhile, so a plain count of every
 * mount would not do.
 */
static size_t
count_mounts_elsewhere(struct rt_fixture *f)
{
	struct os_disk *disks;
	struct os_mount *mounts;
	struct nem_err err;
	size_t nd, nm, count = 0, rlen = strlen(f->run);

	assert_ok(os_disk_list(f->dir, &disks, &nd, &err), err);
	assert_ok(os_mount_list("/", &mounts, &nm, &err), err);
	for (size_t i = 0; i < nm; i++) {
		if (strncmp(mounts[i].path, f->run, rlen) == 0 &&
		    (mounts[i].path[rlen] == '/' || mounts[i].path[rlen] == '\0'))
			continue;
		for (size_t d = 0; d < nd; d++) {
			if (strcmp(mounts[i].source, disks[d].path) == 0)
				count++;
		}
	}
	os_mount_list_free(mounts, nm);
	free(disks);
	return count;
}

static size_t
count_loops(struct rt_fixture *f)
{
	return fixture_count_loops(f->run) + fixture_count_loops(f->state);
}

static int
count_rows(struct rt_fixture *f, const char *table)
{
	char sql[128];
	sqlite3_stmt *stmt;
	struct nem_err err;
	int n;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	assert_ok(db_prepare(f->db, sql, &stmt, &err), err);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	n = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

/* Counts the entries below dir, recursively, without crossing mounts. */
static int
count_files(const char *dir)
{
	char cmd[PATH_MAX + 64], line[32];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "find %s -xdev | wc -l", dir);
	p = popen(cmd, "re");
	assert_non_null(p);
	if (fgets(line, sizeof(line), p) != NULL)
		n = atoi(line);
	pclose(p);
	return n;
}

/* What a clean state looks like; compared before and after a step. */
struct snapshot {
	size_t run_mounts, elsewhere, loops;
	int resources, images, files;
};

static void
snap(struct rt_fixture *f, struct snapshot *s)
{
	s->run_mounts = count_run_mounts(f);
	s->elsewhere = count_mounts_elsewhere(f);
	s->loops = count_loops(f);
	s->resources = count_rows(f, "jail_resources");
	s->images = count_rows(f, "image_mounts");
	s->files = count_files(f->run);
}

static void
expect_same(const struct snapshot *a, const struct snapshot *b)
{
	assert_int_equal(a->run_mounts, b->run_mounts);
	assert_int_equal(a->elsewhere, b->elsewhere);
	assert_int_equal(a->loops, b->loops);
	assert_int_equal(a->resources, b->resources);
	assert_int_equal(a->images, b->images);
	assert_int_equal(a->files, b->files);
}

/* Waits for pid and returns its exit code, or -1 when it did not exit. */
static int
wait_exit(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) == -1)
		assert_int_equal(errno, EINTR);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
alloc_ok(struct rt_fixture *f, const struct cfg_jail *cfg, struct jail **j)
{
	struct nem_err err;

	assert_ok(jail_alloc(f->rt, cfg, j, &err), err);
}

static void
free_ok(struct jail *j)
{
	struct nem_err err;

	assert_ok(jail_free(j, &err), err);
}

static void
expect_mount_at(const char *path, const char *fstype)
{
	struct os_mount *mounts;
	struct nem_err err;
	size_t n, hits = 0;

	assert_ok(os_mount_list(path, &mounts, &n, &err), err);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(mounts[i].path, path) == 0 &&
		    strcmp(mounts[i].fstype, fstype) == 0)
			hits++;
	}
	os_mount_list_free(mounts, n);
	if (hits != 1)
		fail_msg("expected one %s mount at %s, found %zu", fstype,
		    path, hits);
}

static void
mount_types_alone(void **state)
{
	struct rt_fixture *f = *state;
	struct snapshot before, after;
	char path[PATH_MAX];
	struct cfg_jail *cfg;
	struct jail *j;
	static const struct {
		const char *toml, *dest, *fstype;
	} cases[] = {
		{ "", "", "squashfs" },
		{ "[[mount]]\ntype = \"md\"\ndest = \"/var/db\"\n"
		  "size = \"8M\"\n", "/var/db", "ext4" },
		{ "[[mount]]\ntype = \"shared\"\ndest = \"/pool\"\n"
		  "share = \"pool\"\n", "/pool", "tmpfs" },
		{ "[[mount]]\ntype = \"disk\"\ndest = \"/data\"\n"
		  "device = \"%s\"\n", "/data", "ext4" },
		{ "[[mount]]\ntype = \"tmpfs\"\ndest = \"/tmp\"\n"
		  "size = \"4M\"\n", "/tmp", "tmpfs" },
		{ "[[mount]]\ntype = \"image\"\ndest = \"/srv\"\n"
		  "image = \"extra\"\n", "/srv", "erofs" },
	};

	snap(f, &before);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char mount[512];
		struct stat st;

		snprintf(mount, sizeof(mount), cases[i].toml, f->disk.path);
		cfg = load_jail(f, "solo", PROCESS_TRUE IMAGE_ROOT "%s",
		    mount);
		alloc_ok(f, cfg, &j);
		snprintf(path, sizeof(path), "%s/jails/solo/root%s", f->run,
		    cases[i].dest);
		/* A bind mount reports the file system of its source. */
		if (strcmp(cases[i].dest, "/pool") != 0)
			expect_mount_at(path, cases[i].fstype);
		else
			assert_int_equal(stat(path, &st), 0);
		snprintf(path, sizeof(path), "%s/jails/solo/root/dev/null",
		    f->run);
		assert_int_equal(stat(path, &st), 0);
		assert_true(S_ISCHR(st.st_mode));
		free_ok(j);
		cfg_jail_free(cfg);
		snap(f, &after);
		expect_same(&before, &after);
	}
}

static void
all_mounts_and_process(void **state)
{
	struct rt_fixture *f = *state;
	char log_path[PATH_MAX], out[16384], path[PATH_MAX];
	struct snapshot before, after;
	struct cfg_jail *cfg;
	struct nem_err err;
	int sv[2], log_fd, pidfd;
	struct jail *j;
	pid_t pid;

	snap(f, &before);
	/* The file entry comes first but is copied after the tmpfs. */
	cfg = load_jail(f, "all",
	    "[process]\nexec = [\"/bin/sh\", \"-c\", \"ls -l /proc/self/fd; "
	    "echo host=$(hostname); echo nemfd=$NEM_FD; echo id=$(id -u); "
	    "cat /proc/mounts; cat /etc/hostname; cat /tmp/app.conf\"]\n"
	    "user = \"www\"\nenv = { LANG = \"C.UTF-8\" }\n"
	    IMAGE_ROOT
	    "[[mount]]\ntype = \"file\"\ndest = \"/tmp/app.conf\"\n"
	    "source = \"app.conf\"\n"
	    "[[mount]]\ntype = \"md\"\ndest = \"/var/db\"\nsize = \"8M\"\n"
	    "[[mount]]\ntype = \"shared\"\ndest = \"/pool\"\n"
	    "share = \"pool\"\n"
	    "[[mount]]\ntype = \"disk\"\ndest = \"/data\"\n"
	    "device = \"%s\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/tmp\"\nsize = \"4M\"\n",
	    f->disk.path);
	alloc_ok(f, cfg, &j);

	snprintf(log_path, sizeof(log_path), "%s/all.log", f->dir);
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	assert_true(log_fd >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	assert_ok(jail_spawn(j, sv[1], log_fd, &pid, &pidfd, &err), err);
	assert_true(pidfd >= 0);
	close(sv[1]);
	close(log_fd);
	assert_int_equal(wait_exit(pid), 0);
	close(sv[0]);

	fixture_read(log_path, out, sizeof(out));
	fprintf(stderr, "%s", out);
	assert_non_null(strstr(out, "host=all\n"));
	assert_non_null(strstr(out, "nemfd=3\n"));
	assert_non_null(strstr(out, "id=1000\n"));
	assert_non_null(strstr(out, " 3 -> socket:"));
	assert_null(strstr(out, " 4 -> "));
	assert_non_null(strstr(out, "inside-the-image\n"));
	assert_non_null(strstr(out, "listen = 8080\n"));
	assert_non_null(strstr(out, " /var/db ext4 "));
	assert_non_null(strstr(out, " /data ext4 "));
	assert_non_null(strstr(out, " /tmp tmpfs "));
	assert_non_null(strstr(out, " /proc proc "));
	assert_non_null(strstr(out, " / squashfs ro"));

	snprintf(path, sizeof(path), "%s/jails/all/md/2.img", f->run);
	assert_int_equal(access(path, F_OK), 0);
	free_ok(j);
	assert_int_equal(access(path, F_OK), -1);
	cfg_jail_free(cfg);
	snap(f, &after);
	expect_same(&before, &after);
}

static void
shared_image_one_loop(void **state)
{
	struct rt_fixture *f = *state;
	struct cfg_jail *a, *b;
	struct jail *ja, *jb;
	size_t loops = count_loops(f);

	a = load_jail(f, "one", PROCESS_TRUE IMAGE_ROOT);
	b = load_jail(f, "two", PROCESS_TRUE IMAGE_ROOT);
	alloc_ok(f, a, &ja);
	alloc_ok(f, b, &jb);
	assert_int_equal(count_loops(f), loops + 1);
	free_ok(ja);
	assert_int_equal(count_loops(f), loops + 1);
	free_ok(jb);
	assert_int_equal(count_loops(f), loops);
	cfg_jail_free(a);
	cfg_jail_free(b);
}

static void
hundred_cycles(void **state)
{
	struct rt_fixture *f = *state;
	struct snapshot before, after;
	struct cfg_jail *cfg;
	struct nem_err err;
	int fds = 0, log_fd, pidfd;
	struct jail *j;
	pid_t pid;

	cfg = load_jail(f, "cycle", PROCESS_TRUE IMAGE_ROOT
	    "[[mount]]\ntype = \"md\"\ndest = \"/var/db\"\nsize = \"8M\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/tmp\"\nsize = \"4M\"\n");
	log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(log_fd >= 0);
	snap(f, &before);
	for (int i = 0; i < 100; i++) {
		alloc_ok(f, cfg, &j);
		assert_ok(jail_spawn(j, -1, log_fd, &pid, &pidfd, &err), err);
		assert_int_equal(wait_exit(pid), 0);
		free_ok(j);
		if (i == 1)
			fds = fixture_count_fds();
		if (i > 1)
			assert_int_equal(fixture_count_fds(), fds);
	}
	snap(f, &after);
	expect_same(&before, &after);
	close(log_fd);
	cfg_jail_free(cfg);
}

/* Expects allocation of toml as jail "bad" to fail with code and needle. */
static void
expect_failure(struct rt_fixture *f, const char *toml, int code,
    const char *needle)
{
	struct snapshot before, after;
	enum jail_state st;
	struct cfg_jail *cfg;
	struct nem_err err;
	char reason[512];
	struct jail *j = NULL;

	cfg = load_jail(f, "bad", "%s", toml);
	snap(f, &before);
	assert_int_equal(jail_alloc(f->rt, cfg, &j, &err), -1);
	assert_null(j);
	fprintf(stderr, "expected failure: %s\n", err.msg);
	assert_int_equal(err.code, code);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("message lacks \"%s\": %s", needle, err.msg);
	snap(f, &after);
	expect_same(&before, &after);
	assert_int_equal(jail_state_get(f->rt, "bad", &st, reason,
	    sizeof(reason), &err), 0);
	assert_int_equal(st, JAIL_STATE_FAILED);
	assert_string_equal(reason, err.msg);
	cfg_jail_free(cfg);
}

/*
 * An image already mounted for one jail is changed on disk: the next jail
 * that would share the mount is refused with an integrity error.
 */
static void
changed_image_refused_on_reuse(void **state)
{
	struct rt_fixture *f = *state;
	struct store_image img;
	struct cfg_jail *first;
	struct nem_err err;
	struct jail *j;
	char path[PATH_MAX];
	FILE *fp;

	first = load_jail(f, "first", PROCESS_TRUE IMAGE_ROOT);
	alloc_ok(f, first, &j);

	assert_ok(store_lookup(f->store, "base", NULL, NULL, &img, &err), err);
	snprintf(path, sizeof(path), "%s/images/sha256/%s", f->state,
	    img.sha256);
	fp = fopen(path, "r+e");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 4096, SEEK_SET), 0);
	assert_int_equal(fputs("changed", fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);

	expect_failure(f, PROCESS_TRUE IMAGE_ROOT, EBADMSG, "base");

	free_ok(j);
	cfg_jail_free(first);
}

static void
injected_failures(void **state)
{
	struct rt_fixture *f = *state;
	char toml[2048], path[PATH_MAX];
	struct store_image img;
	struct nem_err err;
	FILE *fp;

	expect_failure(f, PROCESS_TRUE "[[mount]]\ntype = \"image\"\n"
	    "dest = \"/\"\nimage = \"nosuchimage\"\n", ENOENT, "nosuchimage");

	expect_failure(f, PROCESS_TRUE IMAGE_ROOT "[[mount]]\ntype = \"md\"\n"
	    "dest = \"/var/db\"\nsize = \"8M\"\n"
	    "[[mount]]\ntype = \"disk\"\ndest = \"/data\"\n"
	    "device = \"/dev/nem-test-no-such-disk\"\n", ENOENT,
	    "/dev/nem-test-no-such-disk");

	expect_failure(f, PROCESS_TRUE IMAGE_ROOT "[[mount]]\ntype = \"md\"\n"
	    "dest = \"/var/db\"\nsize = \"8M\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/missing/dir\"\n"
	    "size = \"4M\"\n", EROFS,
	    "/missing/dir");

	/* A corrupt second image fails after the first one is mounted. */
	snprintf(path, sizeof(path), "%s/stage2", f->dir);
	stage_tree(path);
	/* Other content, so the image does not share base's file. */
	snprintf(toml, sizeof(toml), "%s/etc/variant", path);
	write_file(toml, "corrupt\n");
	snprintf(toml, sizeof(toml), "%s/corrupt.squashfs", f->dir);
	assert_int_equal(fixture_run((char *[]){ "mksquashfs", path, toml,
	    "-quiet", "-noappend", "-all-root", NULL }), 0);
	import(f, toml, "corrupt", &img);
	snprintf(path, sizeof(path), "%s/images/sha256/%s", f->state,
	    img.sha256);
	fp = fopen(path, "r+e");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 4096, SEEK_SET), 0);
	assert_int_equal(fputs("corrupted", fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	expect_failure(f, PROCESS_TRUE IMAGE_ROOT "[[mount]]\ntype = \"md\"\n"
	    "dest = \"/var/db\"\nsize = \"8M\"\n"
	    "[[mount]]\ntype = \"image\"\ndest = \"/srv\"\n"
	    "image = \"corrupt\"\n", EBADMSG, "corrupt");

	/* A full run folder: the ephemeral md image cannot be written. */
	close_runtime(f);
	assert_int_equal(mount("tmpfs", f->run, "tmpfs", 0, "size=64k"), 0);
	open_runtime(f);
	expect_failure(f, PROCESS_TRUE IMAGE_ROOT "[[mount]]\ntype = \"md\"\n"
	    "dest = \"/var/db\"\nsize = \"64M\"\n", ENOSPC, "/var/db");
	close_runtime(f);
	assert_ok(os_unmount_under(f->run, &err), err);
	open_runtime(f);
}

/* The jail "alpha" of the crash test: image root and two md images. */
#define ALPHA PROCESS_TRUE IMAGE_ROOT \
	"[[mount]]\ntype = \"md\"\ndest = \"/var/db\"\nsize = \"8M\"\n" \
	"[[mount]]\ntype = \"md\"\ndest = \"/data\"\nsize = \"8M\"\n" \
	"persist = true\nvolume = \"alpha-data\"\n"

static const char *kill_step;

static void
kill_hook(const char *step)
{
	if (kill_step != NULL && strcmp(step, kill_step) == 0)
		kill(getpid(), SIGKILL);
}

/* Child: allocates, runs and frees alpha, unless killed on the way. */
static void __attribute__((noreturn))
crash_child(struct rt_fixture *f, const char *step)
{
	struct jail_paths paths = { .run_dir = f->run, .state_dir = f->state };
	struct cfg_jail *cfg = load_jail(f, "alpha", ALPHA);
	struct jail_runtime *rt;
	struct store *store;
	struct nem_err err;
	struct db *db;
	struct jail *j;
	int pidfd, devnull;
	pid_t pid;

	kill_step = step;
	jail_test_hook = kill_hook;
	db = db_open(f->state, &err);
	store = db ? store_open(db, f->state, &err) : NULL;
	rt = store ? jail_runtime_open(&paths, store, db, &err) : NULL;
	if (rt == NULL || jail_alloc(rt, cfg, &j, &err) == -1)
		goto fail;
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (jail_spawn(j, -1, devnull, &pid, &pidfd, &err) == -1)
		goto fail;
	waitpid(pid, NULL, 0);
	if (jail_free(j, &err) == -1)
		goto fail;
	_exit(0);
fail:
	fprintf(stderr, "crash child: %s\n", err.msg);
	_exit(1);
}

static void
crash_recovery(void **state)
{
	static const char *steps[] = {
		"image-loop-attached", "md-loop-attached", "mounted",
		"free-unmounted", NULL,
	};
	const char *wanted[] = { "alpha" };
	struct rt_fixture *f = *state;
	char volume[PATH_MAX], md_dir[PATH_MAX], marker[PATH_MAX];
	struct snapshot first, now;
	struct cfg_jail *cfg;
	struct nem_err err;
	struct stat st;
	struct jail *j;

	/* A first run creates the volume and leaves a file in it. */
	cfg = load_jail(f, "alpha", ALPHA);
	alloc_ok(f, cfg, &j);
	snprintf(marker, sizeof(marker), "%s/jails/alpha/root/data/marker",
	    f->run);
	write_file(marker, "kept\n");
	free_ok(j);
	snprintf(volume, sizeof(volume), "%s/volumes/alpha-data.img",
	    f->state);
	snprintf(md_dir, sizeof(md_dir), "%s/jails/alpha/md", f->run);
	close_runtime(f);
	srand((unsigned)time(NULL));

	for (int i = 0; i < 20; i++) {
		const char *step = steps[i % 5];
		pid_t child = fork();
		int status;

		assert_true(child >= 0);
		if (child == 0)
			crash_child(f, step);
		if (step == NULL) {
			/*
			 * A random point: 0 to 300 ms into the run, which
			 * spans opening the database through freeing.
			 */
			usleep((useconds_t)(rand() % 300000));
			kill(child, SIGKILL);
		}
		assert_int_equal(waitpid(child, &status, 0), child);

		open_runtime(f);
		assert_ok(jail_recover(f->rt, wanted, 1, &err), err);
		snap(f, &now);
		if (i == 0)
			first = now;
		assert_int_equal(now.run_mounts, 0);
		assert_int_equal(now.loops, 0);
		assert_int_equal(now.resources, 0);
		assert_int_equal(now.images, 0);
		expect_same(&first, &now);
		assert_int_equal(access(md_dir, F_OK), -1);
		assert_int_equal(stat(volume, &st), 0);
		assert_int_equal(st.st_size, 8 << 20);

		/* The volume kept its file, and alpha works again. */
		alloc_ok(f, cfg, &j);
		assert_int_equal(access(marker, F_OK), 0);
		free_ok(j);
		close_runtime(f);
	}
	open_runtime(f);
	cfg_jail_free(cfg);
}

static void
recover_unrecorded_leftovers(void **state)
{
	struct rt_fixture *f = *state;
	char path[PATH_MAX], stray[PATH_MAX];
	struct nem_err err;

	/* A mount, a loop device and an md image that no record explains. */
	snprintf(path, sizeof(path), "%s/jails/ghost", f->run);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/jails/ghost/md", f->run);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(stray, sizeof(stray), "%s/jails/ghost/md/0.img", f->run);
	assert_int_equal(fixture_run((char *[]){ "truncate", "-s", "8M", stray,
	    NULL }), 0);
	assert_int_equal(fixture_run((char *[]){ "losetup", "-f", stray,
	    NULL }), 0);
	snprintf(path, sizeof(path), "%s/jails/ghost/root", f->run);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(mount("tmpfs", path, "tmpfs", 0, "size=1m"), 0);
	assert_int_equal(count_run_mounts(f), 1);
	assert_int_equal(count_loops(f), 1);

	assert_ok(jail_recover(f->rt, NULL, 0, &err), err);
	assert_int_equal(count_run_mounts(f), 0);
	assert_int_equal(count_loops(f), 0);
	assert_int_equal(access(stray, F_OK), -1);
	snprintf(path, sizeof(path), "%s/jails/ghost", f->run);
	assert_int_equal(access(path, F_OK), -1);
}

/* Swaps pool/x and pool/x.alt until killed. */
static void __attribute__((noreturn))
exchanger(const char *pool)
{
	int dfd = open(pool, O_PATH | O_DIRECTORY | O_CLOEXEC);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;)
		renameat2(dfd, "x", dfd, "x.alt", RENAME_EXCHANGE);
}

#define VICTIM PROCESS_TRUE IMAGE_ROOT \
	"[[mount]]\ntype = \"shared\"\ndest = \"/pool\"\nshare = \"pool\"\n" \
	"[[mount]]\ntype = \"md\"\ndest = \"/pool/x/scratch\"\n" \
	"size = \"8M\"\n" \
	"[[mount]]\ntype = \"file\"\ndest = \"/pool/x/app.conf\"\n" \
	"source = \"app.conf\"\n"

/* Allocates victim; on failure checks the message names the escape. */
static bool
victim_round(struct rt_fixture *f, const struct cfg_jail *cfg,
    const struct snapshot *clean)
{
	char root[PATH_MAX];
	struct snapshot now;
	struct os_mount *mounts;
	struct nem_err err;
	struct jail *j;
	size_t n;

	if (jail_alloc(f->rt, cfg, &j, &err) == -1) {
		if (strstr(err.msg, "/pool/x") == NULL ||
		    strstr(err.msg, "resolves outside the jail") == NULL)
			fail_msg("unexpected failure: %s", err.msg);
		snap(f, &now);
		assert_int_equal(now.elsewhere, clean->elsewhere);
		assert_int_equal(now.run_mounts, clean->run_mounts);
		assert_int_equal(now.loops, clean->loops);
		assert_int_equal(now.resources, clean->resources);
		return false;
	}
	snprintf(root, sizeof(root), "%s/jails/victim/root", f->run);
	assert_int_equal(count_mounts_elsewhere(f), clean->elsewhere);
	assert_ok(os_mount_list(f->run, &mounts, &n, &err), err);
	for (size_t i = 0; i < n; i++) {
		if (strstr(mounts[i].path, "/jails/victim") != NULL &&
		    strncmp(mounts[i].path, root, strlen(root)) != 0)
			fail_msg("victim mount outside its root: %s",
			    mounts[i].path);
	}
	os_mount_list_free(mounts, n);
	free_ok(j);
	return true;
}

static void
symlink_race(void **state)
{
	struct rt_fixture *f = *state;
	char pool[PATH_MAX], path[PATH_MAX];
	struct cfg_jail *racer_cfg, *victim_cfg;
	struct snapshot clean;
	struct jail *racer;
	int ok = 0, refused = 0;
	pid_t child;

	snprintf(pool, sizeof(pool), "%s/shared/pool", f->state);
	mkdir(pool, 0755);
	snprintf(path, sizeof(path), "%s/x", pool);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/x/scratch", pool);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/x.alt", pool);
	assert_int_equal(symlink("/", path), 0);

	racer_cfg = load_jail(f, "racer", PROCESS_TRUE IMAGE_ROOT
	    "[[mount]]\ntype = \"shared\"\ndest = \"/pool\"\n"
	    "share = \"pool\"\n");
	victim_cfg = load_jail(f, "victim", VICTIM);
	alloc_ok(f, racer_cfg, &racer);
	snap(f, &clean);

	/* The racer swaps the names through its own view of the pool. */
	snprintf(path, sizeof(path), "%s/jails/racer/root/pool", f->run);
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		exchanger(path);
	f->helper = child;
	for (int i = 0; i < 200; i++) {
		if (victim_round(f, victim_cfg, &clean))
			ok++;
		else
			refused++;
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	f->helper = 0;
	fprintf(stderr, "symlink race: %d allocated, %d refused\n", ok,
	    refused);

	/* Race-free variants: x itself is a symlink out of the jail. */
	snprintf(path, sizeof(path), "%s/x.alt", pool);
	assert_int_equal(fixture_run((char *[]){ "rm", "-rf",
	    "--one-file-system", path, NULL }), 0);
	snprintf(path, sizeof(path), "%s/x", pool);
	assert_int_equal(fixture_run((char *[]){ "rm", "-rf",
	    "--one-file-system", path, NULL }), 0);
	assert_int_equal(symlink("/", path), 0);
	for (int i = 0; i < 3; i++)
		assert_false(victim_round(f, victim_cfg, &clean));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("../../../..", path), 0);
	for (int i = 0; i < 3; i++)
		assert_false(victim_round(f, victim_cfg, &clean));
	assert_int_equal(unlink(path), 0);

	free_ok(racer);
	cfg_jail_free(racer_cfg);
	cfg_jail_free(victim_cfg);
}

/* Results of background allocations, by jail number. */
struct pool_results {
	struct jail *jails[8];
	char errors[8][256];
	int ended;
};

static void
on_pool_done(void *arg, struct jail *jail, const struct nem_err *err)
{
	struct pool_results *r = arg;
	int i = r->ended++;

	r->jails[i] = jail;
	snprintf(r->errors[i], sizeof(r->errors[i]), "%s",
	    jail == NULL ? err->msg : "");
}

/*
 * Six jails built by the worker pool at the same time, each with an image
 * root, an md image and a tmpfs, and a seventh whose build fails, leave
 * nothing behind once freed.
 */
static void
pool_builds_side_by_side(void **state)
{
	struct rt_fixture *f = *state;
	struct cfg_jail *cfgs[7];
	struct pool_results r = { 0 };
	struct snapshot before, after;
	struct event_base *base;
	struct jail_pool *pool;
	struct nem_err err;
	char name[16], data[PATH_MAX];
	int failed = 0;

	snap(f, &before);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "side%d", i);
		cfgs[i] = load_jail(f, name, PROCESS_TRUE IMAGE_ROOT
		    "[[mount]]\ntype = \"md\"\ndest = \"/data\"\n"
		    "size = \"8M\"\n"
		    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/tmp\"\n"
		    "size = \"1M\"\n");
	}
	cfgs[6] = load_jail(f, "broken", PROCESS_TRUE IMAGE_ROOT
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/missing/dir\"\n"
	    "size = \"1M\"\n");

	base = event_base_new();
	assert_non_null(base);
	pool = jail_pool_new(f->rt, base, f->state, 3, &err);
	assert_non_null(pool);
	for (int i = 0; i < 7; i++)
		assert_ok(jail_pool_alloc(pool, cfgs[i], NULL, on_pool_done, &r,
		    &err), err);
	assert_int_equal(jail_pool_pending(pool), 7);
	while (r.ended < 7)
		assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
	assert_int_equal(jail_pool_pending(pool), 0);

	for (int i = 0; i < 7; i++) {
		if (r.jails[i] == NULL) {
			failed++;
			assert_non_null(strstr(r.errors[i], "jail broken"));
			continue;
		}
		snprintf(data, sizeof(data), "%s/data",
		    jail_root_path(r.jails[i]));
		expect_mount_at(data, "ext4");
	}
	assert_int_equal(failed, 1);
	for (int i = 0; i < 7; i++) {
		if (r.jails[i] != NULL)
			free_ok(r.jails[i]);
	}
	jail_pool_free(pool);
	event_base_free(base);
	snap(f, &after);
	expect_same(&before, &after);
	for (int i = 0; i < 7; i++)
		cfg_jail_free(cfgs[i]);
}

/* A FIFO as a file source is refused at once, never waited on. */
static void
fifo_source_refused(void **state)
{
	struct rt_fixture *f = *state;
	struct cfg_jail *cfg;
	struct nem_err err;
	struct jail *j;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/pipe.conf", f->conf);
	assert_int_equal(mkfifo(path, 0600), 0);
	cfg = load_jail(f, "fifo", PROCESS_TRUE
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/\"\nsize = \"1M\"\n"
	    "[[mount]]\ntype = \"file\"\ndest = \"/x.conf\"\n"
	    "source = \"pipe.conf\"\n");
	assert_int_equal(jail_alloc(f->rt, cfg, &j, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_non_null(strstr(err.msg, "is not a regular file"));
	cfg_jail_free(cfg);
}

/* A volume reserved by one jail is rejected for another until freed. */
static void
volume_held_by_one_jail(void **state)
{
	struct rt_fixture *f = *state;
	struct cfg_jail *old_cfg, *new_cfg;
	struct jail *old_jail, *new_jail;
	struct nem_err err;
	size_t loops;

	old_cfg = load_jail(f, "va", PROCESS_TRUE IMAGE_ROOT
	    "[[mount]]\ntype = \"md\"\ndest = \"/data\"\nsize = \"8M\"\n"
	    "persist = true\nvolume = \"shared-vol\"\n");
	new_cfg = load_jail(f, "vb", PROCESS_TRUE IMAGE_ROOT
	    "[[mount]]\ntype = \"md\"\ndest = \"/data\"\nsize = \"8M\"\n"
	    "persist = true\nvolume = \"shared-vol\"\n");
	alloc_ok(f, old_cfg, &old_jail);
	loops = fixture_count_loops(f->state);

	assert_int_equal(jail_alloc(f->rt, new_cfg, &new_jail, &err), -1);
	assert_int_equal(err.code, EBUSY);
	assert_non_null(strstr(err.msg, "volume shared-vol is still in use "
	    "by jail va"));
	assert_int_equal(fixture_count_loops(f->state), loops);

	free_ok(old_jail);
	alloc_ok(f, new_cfg, &new_jail);
	free_ok(new_jail);
	cfg_jail_free(old_cfg);
	cfg_jail_free(new_cfg);
}

static void
volumes(void **state)
{
	struct rt_fixture *f = *state;
	const struct cfg_jail *users[1];
	struct volume_info *list;
	struct cfg_jail *cfg;
	struct nem_err err;
	struct jail *j;
	size_t n;

	cfg = load_jail(f, "vol", PROCESS_TRUE IMAGE_ROOT
	    "[[mount]]\ntype = \"md\"\ndest = \"/data\"\nsize = \"8M\"\n"
	    "persist = true\nvolume = \"vol-data\"\n");
	users[0] = cfg;
	alloc_ok(f, cfg, &j);
	assert_ok(volume_list(f->rt, &list, &n, &err), err);
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(list[i].name, "vol-data") == 0)
			assert_true(list[i].in_use);
	}
	free(list);
	assert_int_equal(volume_remove(f->rt, "vol-data", NULL, 0, &err), -1);
	assert_int_equal(err.code, EBUSY);
	free_ok(j);
	assert_int_equal(volume_remove(f->rt, "vol-data", users, 1, &err), -1);
	assert_int_equal(err.code, EBUSY);
	cfg_jail_free(cfg);

	/* Another size is refused, never applied. */
	cfg = load_jail(f, "vol", PROCESS_TRUE IMAGE_ROOT
	    "[[mount]]\ntype = \"md\"\ndest = \"/data\"\nsize = \"16M\"\n"
	    "persist = true\nvolume = \"vol-data\"\n");
	assert_int_equal(jail_alloc(f->rt, cfg, &j, &err), -1);
	assert_int_equal(err.code, EEXIST);
	assert_non_null(strstr(err.msg, "vol-data"));
	cfg_jail_free(cfg);

	assert_ok(volume_remove(f->rt, "vol-data", NULL, 0, &err), err);
	assert_int_equal(volume_remove(f->rt, "vol-data", NULL, 0, &err), -1);
	assert_int_equal(err.code, ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(mount_types_alone, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(all_mounts_and_process, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(shared_image_one_loop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(changed_image_refused_on_reuse,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(hundred_cycles, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(injected_failures, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(crash_recovery, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(recover_unrecorded_leftovers,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(pool_builds_side_by_side,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(volume_held_by_one_jail,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(fifo_source_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(symlink_race, setup, teardown),
		cmocka_unit_test_setup_teardown(volumes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
