/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Measures the time from starting /bin/true in a fresh jail to reaping it,
 * for os_jail_spawn and its peers: `unshare --fork --pid --mount --uts
 * --ipc --net chroot` (the floor), bubblewrap, crun and runc. Case (a)
 * uses a squashfs root attached once; case (b) attaches the image and a
 * new 64 MiB md image for every start (the peers with losetup, mount and
 * mkfs.ext4). Each round runs every method once, so ratios are taken pair
 * by pair. The whole program runs in a private mount namespace that shows
 * only the cgroup v1 hierarchies (see private_v1_namespace). Then it times
 * attaching, mounting and reading the image with and without
 * LO_FLAGS_DIRECT_IO. Needs root, mksquashfs, mkfs.ext4 and /bin/busybox.
 *
 * Usage: bench_start [rounds_a (100)] [rounds_b (30)]
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nem/log.h>

#include "os/os.h"

extern char **environ;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
report(const char *name, double *ms, int runs)
{
	qsort(ms, (size_t)runs, sizeof(*ms), compare_double);
	printf("%-34s median %7.2f ms   p90 %7.2f ms   (%d runs)\n", name,
	    ms[runs / 2], ms[runs * 9 / 10], runs);
}

/* Runs argv quietly and returns its exit status, or -1. */
static int
run(char *const argv[], bool quiet)
{
	posix_spawn_file_actions_t fa;
	int status, rc;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	if (quiet) {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY,
		    0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY,
		    0);
	}
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool
installed(const char *tool)
{
	char *argv[] = { (char *)tool, "--version", NULL };

	return run(argv, true) == 0;
}

/* Paths of one benchmark run, all under one mkdtemp folder. */
struct ctx {
	char dir[64];
	char image[PATH_MAX];	/* the squashfs root image */
	char root[PATH_MAX];	/* root image, attached once for case (a) */
	char fresh[PATH_MAX];	/* mount point of case (b), empty between
				   runs */
	char md[PATH_MAX];	/* the 64 MiB md image of case (b) */
	char md_cache[PATH_MAX]; /* formatted md template of os_md_image_create */
	char crun_a[PATH_MAX], crun_b[PATH_MAX]; /* OCI bundles for a and b */
};

/* One way of starting /bin/true in a jail. time returns the milliseconds
 * from the start to the reaped root process, or -1 on failure. */
struct method {
	const char *name;
	double (*time)(const struct ctx *, const struct method *);
	const char *tool;	/* peer command line (after the set-up) */
	bool share_network;	/* os_jail_spawn only */
	double *ms;		/* one entry per round */
	bool missing;		/* the peer is not installed */
	bool failed;
};

/* Spawns /bin/true with os_jail_spawn in root and waits for it. */
static double
spawn_true(const char *root, bool share_network)
{
	char *argv[] = { "/bin/true", NULL };
	char *envp[] = { NULL };
	struct os_jail_spec spec;
	struct os_jail jail;
	struct nem_err err;
	int null, status;

	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	memset(&spec, 0, sizeof(spec));
	spec.root = root;
	spec.hostname = "bench";
	spec.share_network = share_network;
	spec.proc_dest = "/proc";
	spec.workdir = "/";
	spec.argv = argv;
	spec.envp = envp;
	spec.stdio[0] = spec.stdio[1] = spec.stdio[2] = null;
	spec.channel_fd = -1;
	if (os_jail_spawn(&spec, &jail, &err) == -1 ||
	    os_jail_wait(&jail, false, &status, &err) == -1) {
		fprintf(stderr, "bench_start: os_jail_spawn: %s\n", err.msg);
		close(null);
		return -1;
	}
	os_jail_release(&jail);
	close(null);
	return status == 0 ? 0 : -1;
}

/* Case (a): os_jail_spawn on the attached image. */
static double
time_os_attached(const struct ctx *c, const struct method *m)
{
	double start = now_ms();

	if (spawn_true(c->root, m->share_network) == -1)
		return -1;
	return now_ms() - start;
}

/* Case (a): a peer's command line on the attached image. */
static double
time_tool_attached(const struct ctx *c, const struct method *m)
{
	char cmd[PATH_MAX * 4];
	double start;

	snprintf(cmd, sizeof(cmd), m->tool, c->root, c->crun_a);
	start = now_ms();
	if (run((char *[]){ "sh", "-c", cmd, NULL }, true) != 0)
		return -1;
	return now_ms() - start;
}

/* Unmounts everything under c->fresh and deletes the md image. */
static int
fresh_teardown(const struct ctx *c)
{
	struct nem_err err;

	if (os_unmount_under(c->fresh, &err) == -1) {
		fprintf(stderr, "bench_start: %s\n", err.msg);
		return -1;
	}
	if (unlink(c->md) == -1 && errno != ENOENT) {
		perror(c->md);
		return -1;
	}
	return 0;
}

/*
 * Case (b) for rootd: attach and mount the root image, create the md image
 * from the cached template, attach and mount it at /data, run /bin/true.
 * These are the calls the jail runtime makes for such a jail.
 */
static double
time_os_fresh(const struct ctx *c, const struct method *m)
{
	struct os_root root;
	struct os_disk disk;
	struct nem_err err;
	double start, ms;
	int fd, rc = -1;

	start = now_ms();
	if (os_root_open(c->fresh, &root, &err) == -1)
		goto fail;
	if ((fd = open(c->image, O_RDONLY | O_CLOEXEC)) == -1) {
		nem_err_sys(&err, errno, "open %s", c->image);
		goto close_root;
	}
	rc = os_disk_attach(fd, OS_DISK_READ_ONLY, &disk, &err);
	close(fd);
	if (rc == -1)
		goto close_root;
	rc = os_mount_image(&root, "/", disk.path, "squashfs", &err);
	os_disk_release(&disk);
	if (rc == -1 ||
	    (rc = os_md_image_create(c->md_cache, c->md, 64u << 20, 0,
	    &err)) == -1)
		goto close_root;
	if ((fd = open(c->md, O_RDWR | O_CLOEXEC)) == -1) {
		rc = nem_err_sys(&err, errno, "open %s", c->md);
		goto close_root;
	}
	rc = os_disk_attach(fd, 0, &disk, &err);
	close(fd);
	if (rc == -1)
		goto close_root;
	rc = os_mount_md(&root, "/data", disk.path, &err);
	os_disk_release(&disk);
close_root:
	os_root_close(&root);
	if (rc == -1)
		goto fail;
	if (spawn_true(c->fresh, m->share_network) == -1) {
		fresh_teardown(c);
		return -1;
	}
	ms = now_ms() - start;
	return fresh_teardown(c) == -1 ? -1 : ms;
fail:
	fprintf(stderr, "bench_start: %s: %s\n", m->name, err.msg);
	fresh_teardown(c);
	return -1;
}

/*
 * Case (b) for a peer: the same with losetup, mount and mkfs.ext4, then
 * the peer's command line. The teardown after it is not timed.
 */
static double
time_tool_fresh(const struct ctx *c, const struct method *m)
{
	char cmd[PATH_MAX * 8], tool[PATH_MAX * 3];
	double start, ms;
	int rc;

	snprintf(tool, sizeof(tool), m->tool, c->fresh, c->crun_b);
	snprintf(cmd, sizeof(cmd),
	    "set -e; l=$(losetup -f --show -r %s); "
	    "mount -t squashfs -o ro,nodev,nosuid $l %s; "
	    "truncate -s 64M %s; mkfs.ext4 -q -F %s; "
	    "m=$(losetup -f --show %s); "
	    "mount -t ext4 -o nodev,nosuid $m %s/data; %s",
	    c->image, c->fresh, c->md, c->md, c->md, c->fresh, tool);
	start = now_ms();
	rc = run((char *[]){ "sh", "-c", cmd, NULL }, true);
	ms = now_ms() - start;
	snprintf(cmd, sizeof(cmd), "umount -d %s/data; umount -d %s; rm -f %s",
	    c->fresh, c->fresh, c->md);
	run((char *[]){ "sh", "-c", cmd, NULL }, true);
	return rc == 0 ? ms : -1;
}

/* Peer command lines; %1$s is the jail root, %2$s the OCI bundle. */
#define UNSHARE_CMD "unshare --fork --pid --mount --uts --ipc --net " \
	"chroot %1$s /bin/true"
#define BWRAP_CMD "bwrap --unshare-all --ro-bind %1$s / --proc /proc " \
	"--dev /dev /bin/true"
#define CRUN_CMD "crun run --bundle %2$s nem-bench-$$"
#define RUNC_CMD "runc run --bundle %2$s nem-bench-$$"

/* Writes an OCI bundle in bundle whose root is root and process /bin/true. */
static int
write_bundle(const char *bundle, const char *root)
{
	char cmd[PATH_MAX * 4];

	snprintf(cmd, sizeof(cmd), "mkdir -p %s && cd %s && crun spec && "
	    "sed -i -e 's|\"sh\"|\"/bin/true\"|' "
	    "-e 's|\"terminal\": true|\"terminal\": false|' "
	    "-e 's|\"path\": \"rootfs\"|\"path\": \"%s\"|' config.json",
	    bundle, bundle, root);
	return run((char *[]){ "sh", "-c", cmd, NULL }, true);
}

static int
method_index(const struct method *ms, int n, const char *name)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(ms[i].name, name) == 0)
			return i;
	}
	return -1;
}

/* Prints median, p10, p90 of every method, then the median and p10-p90 of
 * the per-round ratios against the methods named base1 and base2. */
static void
report_case(const char *title, struct method *ms, int n, int rounds,
    const char *base1, const char *base2)
{
	const char *bases[] = { base1, base2 };
	double *ratio = calloc((size_t)rounds, sizeof(double));
	double *sorted = calloc((size_t)rounds, sizeof(double));

	printf("\n%s (%d rounds, methods interleaved in each round)\n",
	    title, rounds);
	printf("%-30s %9s %9s %9s   %s\n", "method", "median", "p10", "p90",
	    "ratio to each base, median [p10-p90] of per-round ratios");
	for (int i = 0; i < n; i++) {
		if (ms[i].missing || ms[i].failed) {
			printf("%-30s %s\n", ms[i].name, ms[i].missing ?
			    "not installed" : "failed (see stderr)");
			continue;
		}
		memcpy(sorted, ms[i].ms, (size_t)rounds * sizeof(double));
		qsort(sorted, (size_t)rounds, sizeof(double), compare_double);
		printf("%-30s %6.2f ms %6.2f ms %6.2f ms", ms[i].name,
		    sorted[rounds / 2], sorted[rounds / 10],
		    sorted[rounds * 9 / 10]);
		for (int b = 0; b < 2; b++) {
			int k = method_index(ms, n, bases[b]);

			if (k == -1 || ms[k].missing || ms[k].failed)
				continue;
			for (int r = 0; r < rounds; r++)
				ratio[r] = ms[i].ms[r] / ms[k].ms[r];
			qsort(ratio, (size_t)rounds, sizeof(double),
			    compare_double);
			printf("   /%s %.2f [%.2f-%.2f]", bases[b],
			    ratio[rounds / 2], ratio[rounds / 10],
			    ratio[rounds * 9 / 10]);
		}
		printf("\n");
	}
	free(ratio);
	free(sorted);
}

/* Runs every method once per round, in the same order each round. */
static void
run_case(const struct ctx *c, struct method *ms, int n, int rounds)
{
	for (int i = 0; i < n; i++) {
		ms[i].ms = calloc((size_t)rounds, sizeof(double));
		if (ms[i].ms == NULL)
			fatal("calloc");
	}
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < n; i++) {
			double t;

			if (ms[i].missing || ms[i].failed)
				continue;
			if ((t = ms[i].time(c, &ms[i])) < 0)
				ms[i].failed = true;
			ms[i].ms[r] = t;
		}
	}
}

static void
free_case(struct method *ms, int n)
{
	for (int i = 0; i < n; i++)
		free(ms[i].ms);
}

/*
 * Moves this process into a private mount namespace that shows only the
 * cgroup v1 hierarchies. crun and runc reject a host that mounts cgroup v1
 * and v2 side by side with the controllers split between them, so the v2
 * mount at /sys/fs/cgroup/unified is removed here, for every method alike.
 */
static void
private_v1_namespace(void)
{
	if (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		fatal("private mount namespace");
	if (umount2("/sys/fs/cgroup/unified", MNT_DETACH) == -1 &&
	    errno != EINVAL && errno != ENOENT)
		fatal("unmount /sys/fs/cgroup/unified");
}

/* Attaches, mounts, reads every file of the image and tears it down. */
static void
bench_attach(const char *dir, const char *image, unsigned flags, int runs,
    const char *name)
{
	char root_path[PATH_MAX], cat[PATH_MAX + 64];
	double *ms = calloc((size_t)runs, sizeof(double));
	struct nem_err err;

	snprintf(root_path, sizeof(root_path), "%s/attach", dir);
	mkdir(root_path, 0755);
	snprintf(cat, sizeof(cat), "cat %s/bin/* %s/big >/dev/null",
	    root_path, root_path);
	for (int i = 0; i < runs; i++) {
		struct os_root root;
		struct os_disk disk;
		double start = now_ms();
		int fd = open(image, O_RDONLY | O_CLOEXEC);

		if (os_root_open(root_path, &root, &err) == -1 ||
		    os_disk_attach(fd, flags, &disk, &err) == -1 ||
		    os_mount_image(&root, "/", disk.path, "squashfs",
		    &err) == -1)
			fatalx("%s: %s", name, err.msg);
		close(fd);
		os_disk_release(&disk);
		os_root_close(&root);
		if (run((char *[]){ "sh", "-c", cat, NULL }, false) != 0)
			fatalx("%s: reading the image failed", name);
		if (os_unmount_under(root_path, &err) == -1)
			fatalx("%s: %s", name, err.msg);
		ms[i] = now_ms() - start;
	}
	report(name, ms, runs);
	free(ms);
}

int
main(int argc, char **argv)
{
	struct ctx c;
	char stage[PATH_MAX], cmd[PATH_MAX * 3];
	int rounds = argc > 1 ? atoi(argv[1]) : 100;
	int fresh_rounds = argc > 2 ? atoi(argv[2]) : 30;
	struct os_root jail_root;
	struct os_disk disk;
	struct nem_err err;
	bool have_bwrap, have_crun, have_runc;
	int fd, n;

	log_init(LOG_DEST_STDERR, LOG_LEVEL_WARN);
	log_role("bench_start");
	if (geteuid() != 0)
		fatalx("needs root");
	if (rounds < 10)
		rounds = 10;
	if (fresh_rounds < 10)
		fresh_rounds = 10;
	memset(&c, 0, sizeof(c));
	snprintf(c.dir, sizeof(c.dir), "/tmp/nem-bench-start.XXXXXX");
	if (mkdtemp(c.dir) == NULL)
		fatal("mkdtemp");
	private_v1_namespace();

	/* A root with busybox, /bin/true, mount points and a 32 MiB file. */
	snprintf(stage, sizeof(stage), "%s/stage", c.dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/bin %s/proc %s/dev %s/tmp "
	    "%s/sys %s/data && cp /bin/busybox %s/bin/ && "
	    "ln -s busybox %s/bin/true && "
	    "head -c 33554432 /dev/urandom > %s/big", stage, stage, stage,
	    stage, stage, stage, stage, stage, stage);
	if (run((char *[]){ "sh", "-c", cmd, NULL }, false) != 0)
		fatalx("cannot stage the image in %s", stage);
	snprintf(c.image, sizeof(c.image), "%s/root.squashfs", c.dir);
	if (run((char *[]){ "mksquashfs", stage, c.image, "-quiet",
	    "-noappend", "-all-root", NULL }, true) != 0)
		fatalx("mksquashfs failed");
	snprintf(c.root, sizeof(c.root), "%s/root", c.dir);
	snprintf(c.fresh, sizeof(c.fresh), "%s/fresh", c.dir);
	snprintf(c.md, sizeof(c.md), "%s/md.img", c.dir);
	snprintf(c.md_cache, sizeof(c.md_cache), "%s/md-cache", c.dir);
	snprintf(c.crun_a, sizeof(c.crun_a), "%s/bundle-a", c.dir);
	snprintf(c.crun_b, sizeof(c.crun_b), "%s/bundle-b", c.dir);
	mkdir(c.root, 0755);
	mkdir(c.fresh, 0755);

	fd = open(c.image, O_RDONLY | O_CLOEXEC);
	if (os_root_open(c.root, &jail_root, &err) == -1 ||
	    os_disk_attach(fd, OS_DISK_READ_ONLY, &disk, &err) == -1 ||
	    os_mount_image(&jail_root, "/", disk.path, "squashfs", &err) == -1)
		fatalx("%s", err.msg);
	close(fd);
	os_disk_release(&disk);
	os_root_close(&jail_root);

	have_bwrap = installed("bwrap");
	have_crun = installed("crun") && write_bundle(c.crun_a, c.root) == 0 &&
	    write_bundle(c.crun_b, c.fresh) == 0;
	have_runc = installed("runc") && have_crun;

	/* Formats the md template once, as a running daemon has it. */
	if (os_md_image_create(c.md_cache, c.md, 64u << 20, 0, &err) == -1)
		fatalx("%s", err.msg);
	unlink(c.md);

	printf("jail start: /bin/true in a new jail, from the start until it "
	    "is reaped\nimage %s; private mount namespace with only cgroup v1\n",
	    c.image);

	struct method attached[] = {
		{ .name = "os_jail_spawn", .time = time_os_attached },
		{ .name = "os_jail_spawn (host network)",
		    .time = time_os_attached, .share_network = true },
		{ .name = "unshare", .time = time_tool_attached,
		    .tool = UNSHARE_CMD },
		{ .name = "bwrap", .time = time_tool_attached,
		    .tool = BWRAP_CMD, .missing = !have_bwrap },
		{ .name = "crun", .time = time_tool_attached, .tool = CRUN_CMD,
		    .missing = !have_crun },
		{ .name = "runc", .time = time_tool_attached, .tool = RUNC_CMD,
		    .missing = !have_runc },
	};
	n = (int)(sizeof(attached) / sizeof(attached[0]));
	run_case(&c, attached, n, rounds);
	report_case("(a) attached image", attached, n, rounds, "unshare",
	    "crun");
	free_case(attached, n);
	fflush(stdout);

	struct method fresh[] = {
		{ .name = "os_* attach+md+spawn", .time = time_os_fresh },
		{ .name = "unshare", .time = time_tool_fresh,
		    .tool = UNSHARE_CMD },
		{ .name = "bwrap", .time = time_tool_fresh, .tool = BWRAP_CMD,
		    .missing = !have_bwrap },
		{ .name = "crun", .time = time_tool_fresh, .tool = CRUN_CMD,
		    .missing = !have_crun },
		{ .name = "runc", .time = time_tool_fresh, .tool = RUNC_CMD,
		    .missing = !have_runc },
	};
	n = (int)(sizeof(fresh) / sizeof(fresh[0]));
	run_case(&c, fresh, n, fresh_rounds);
	report_case("(b) fresh image attach plus 64 MiB md image", fresh, n,
	    fresh_rounds, "unshare", "crun");
	free_case(fresh, n);

	printf("\nattach, mount, read 32 MiB, unmount\n");
	bench_attach(c.dir, c.image, OS_DISK_READ_ONLY, rounds / 10,
	    "loop, buffered");
	bench_attach(c.dir, c.image, OS_DISK_READ_ONLY | OS_DISK_DIRECT_IO,
	    rounds / 10, "loop, LO_FLAGS_DIRECT_IO");

	if (os_unmount_under(c.dir, &err) == -1)
		log_warn("%s", err.msg);
	snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system %s", c.dir);
	run((char *[]){ "sh", "-c", cmd, NULL }, false);
	return 0;
}
