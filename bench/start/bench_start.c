/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Measures the time from starting /bin/true in a fresh jail to reaping it,
 * on a squashfs root attached to a loop device. The methods are
 * os_jail_spawn (with and without a network namespace),
 * `unshare --fork --pid --mount --uts --ipc --net chroot`, and bubblewrap
 * and crun when installed (crun in a private mount namespace, see
 * bench_crun). It prints the median and the 90th percentile of many runs
 * per method, then times attaching, mounting and reading the image with
 * and without LO_FLAGS_DIRECT_IO. Needs root, mksquashfs and /bin/busybox.
 * Everything lives in a mkdtemp folder that is removed at the end.
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

static void
bench_os(const char *root, bool share_network, int runs, const char *name)
{
	char *argv[] = { "/bin/true", NULL };
	char *envp[] = { NULL };
	struct os_jail_spec spec;
	struct nem_err err;
	double *ms = calloc((size_t)runs, sizeof(double));
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

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
	for (int i = 0; i < runs; i++) {
		struct os_jail jail;
		double start = now_ms();
		int status;

		if (os_jail_spawn(&spec, &jail, &err) == -1 ||
		    os_jail_wait(&jail, false, &status, &err) == -1)
			fatalx("%s: %s", name, err.msg);
		ms[i] = now_ms() - start;
		os_jail_release(&jail);
	}
	close(null);
	report(name, ms, runs);
	free(ms);
}

static void
bench_tool(char *const argv[], int runs, const char *name)
{
	double *ms = calloc((size_t)runs, sizeof(double));

	for (int i = 0; i < runs; i++) {
		double start = now_ms();

		if (run(argv, true) != 0) {
			printf("%-34s failed: %s exited non-zero\n", name,
			    argv[0]);
			free(ms);
			return;
		}
		ms[i] = now_ms() - start;
	}
	report(name, ms, runs);
	free(ms);
}

/*
 * Times crun on an OCI bundle whose root is root. crun rejects a cgroup
 * v1/v2 hybrid with controllers split between the two (as on hosts that
 * mount both), so it runs in a child with a private mount namespace in
 * which the v2 hierarchy at /sys/fs/cgroup/unified is unmounted.
 */
static void
bench_crun(const char *dir, const char *root, int runs)
{
	char bundle[PATH_MAX], cmd[PATH_MAX * 3];
	int status;
	pid_t pid;

	snprintf(bundle, sizeof(bundle), "%s/bundle", dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && cd %s && crun spec && "
	    "sed -i -e 's|\"sh\"|\"/bin/true\"|' "
	    "-e 's|\"terminal\": true|\"terminal\": false|' "
	    "-e 's|\"path\": \"rootfs\"|\"path\": \"%s\"|' config.json",
	    bundle, bundle, root);
	if (run((char *[]){ "sh", "-c", cmd, NULL }, true) != 0) {
		printf("%-34s failed: cannot write the bundle\n", "crun");
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == -1)
		fatal("fork");
	if (pid == 0) {
		char *argv[] = { "crun", "run", "--bundle", bundle, "nem-bench",
			NULL };

		if (unshare(CLONE_NEWNS) == -1 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
			fatal("crun: private mount namespace");
		if (umount2("/sys/fs/cgroup/unified", MNT_DETACH) == -1 &&
		    errno != EINVAL && errno != ENOENT)
			fatal("crun: unmount /sys/fs/cgroup/unified");
		bench_tool(argv, runs, "crun run (private v1 cgroups)");
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, &status, 0);
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
	char dir[] = "/tmp/nem-bench-start.XXXXXX";
	char stage[PATH_MAX], image[PATH_MAX], root[PATH_MAX], cmd[PATH_MAX * 3];
	int runs = argc > 1 ? atoi(argv[1]) : 200;
	struct os_root jail_root;
	struct os_disk disk;
	struct nem_err err;
	int fd;

	log_init(LOG_DEST_STDERR, LOG_LEVEL_WARN);
	log_role("bench_start");
	if (geteuid() != 0)
		fatalx("needs root");
	if (runs < 10)
		runs = 10;
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");

	/* A root with busybox, /bin/true and a 32 MiB file to read. */
	snprintf(stage, sizeof(stage), "%s/stage", dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/bin %s/proc %s/dev %s/tmp %s/sys && "
	    "cp /bin/busybox %s/bin/ && ln -s busybox %s/bin/true && "
	    "head -c 33554432 /dev/urandom > %s/big", stage, stage, stage, stage,
	    stage, stage, stage, stage);
	if (run((char *[]){ "sh", "-c", cmd, NULL }, false) != 0)
		fatalx("cannot stage the image in %s", stage);
	snprintf(image, sizeof(image), "%s/root.squashfs", dir);
	if (run((char *[]){ "mksquashfs", stage, image, "-quiet",
	    "-noappend", "-all-root", NULL }, true) != 0)
		fatalx("mksquashfs failed");

	snprintf(root, sizeof(root), "%s/root", dir);
	mkdir(root, 0755);
	fd = open(image, O_RDONLY | O_CLOEXEC);
	if (os_root_open(root, &jail_root, &err) == -1 ||
	    os_disk_attach(fd, OS_DISK_READ_ONLY, &disk, &err) == -1 ||
	    os_mount_image(&jail_root, "/", disk.path, "squashfs", &err) == -1)
		fatalx("%s", err.msg);
	close(fd);
	os_disk_release(&disk);
	os_root_close(&jail_root);

	printf("start /bin/true in a new jail and reap it, %s\n", image);
	bench_os(root, false, runs, "os_jail_spawn");
	bench_os(root, true, runs, "os_jail_spawn (host network)");
	bench_tool((char *[]){ "unshare", "--fork", "--pid", "--mount",
	    "--uts", "--ipc", "--net", "chroot", root, "/bin/true", NULL },
	    runs, "unshare --fork ... chroot");
	if (installed("bwrap"))
		bench_tool((char *[]){ "bwrap", "--unshare-all", "--ro-bind",
		    root, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true",
		    NULL }, runs, "bwrap --unshare-all");
	else
		printf("%-34s not installed\n", "bwrap");
	if (installed("crun"))
		bench_crun(dir, root, runs);
	else
		printf("%-34s not installed\n", "crun");

	printf("\nattach, mount, read 32 MiB, unmount\n");
	bench_attach(dir, image, OS_DISK_READ_ONLY, runs / 10,
	    "loop, buffered");
	bench_attach(dir, image, OS_DISK_READ_ONLY | OS_DISK_DIRECT_IO,
	    runs / 10, "loop, LO_FLAGS_DIRECT_IO");

	if (os_unmount_under(dir, &err) == -1)
		log_warn("%s", err.msg);
	snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system %s", dir);
	run((char *[]){ "sh", "-c", cmd, NULL }, false);
	return 0;
}
