/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Probes the kernel facilities nem-rootd relies on and prints one line per
 * facility: "ok", "missing" or "failed" with the reason. Required ones make
 * the exit status 1 when absent; optional ones are only reported.
 *
 * Runs as root. Everything happens inside a private mount namespace, so no
 * mount can outlive the probe, and every loop device it attaches is set to
 * autoclear and detached explicitly before exit, also on failure.
 *
 * usage: probe_kernel WORKDIR SQUASHFS_IMAGE EROFS_IMAGE EXT4_IMAGE
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

static void
report(const char *facility, bool required, int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%-22s %-8s %s", facility, ok ? "ok" : "missing",
	    required ? "(required)" : "(optional)");
	if (!ok && fmt != NULL) {
		printf(": ");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	printf("\n");
	if (!ok && required)
		failures++;
}

/*
 * Attaches path read-only with LOOP_CONFIGURE and mounts it as fstype on
 * target. Returns 0, or -1 with errno set and *what naming the failed step.
 */
static int
loop_mount(const char *path, const char *fstype, const char *target,
    const char **what)
{
	struct loop_config cfg;
	char dev[64];
	int ctl, loopfd, filefd, idx, rc = -1;

	*what = "open /dev/loop-control";
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl == -1)
		return -1;
	filefd = open(path, O_RDONLY | O_CLOEXEC);
	if (filefd == -1) {
		*what = "open image";
		close(ctl);
		return -1;
	}
	for (int attempt = 0; attempt < 8; attempt++) {
		*what = "LOOP_CTL_GET_FREE";
		idx = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (idx < 0)
			break;
		snprintf(dev, sizeof(dev), "/dev/loop%d", idx);
		loopfd = open(dev, O_RDONLY | O_CLOEXEC);
		if (loopfd == -1) {
			*what = "open loop device";
			break;
		}
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = (unsigned)filefd;
		cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
		*what = "LOOP_CONFIGURE";
		if (ioctl(loopfd, LOOP_CONFIGURE, &cfg) == -1) {
			int saved = errno;

			close(loopfd);
			errno = saved;
			if (errno == EBUSY)
				continue;	/* another process took it first */
			break;
		}
		*what = "mount";
		rc = mount(dev, target, fstype, MS_RDONLY | MS_NODEV | MS_NOSUID,
		    NULL);
		if (rc == 0) {
			*what = "umount";
			rc = umount2(target, 0);
		}
		int saved = errno;
		/* Autoclear detaches once the last reference goes; this
		 * covers the case where the mount never happened. */
		ioctl(loopfd, LOOP_CLR_FD, 0);
		close(loopfd);
		errno = saved;
		break;
	}
	close(filefd);
	close(ctl);
	return rc;
}

static void
probe_image(const char *facility, const char *fstype, const char *image,
    const char *target, bool required)
{
	const char *what = "";

	if (loop_mount(image, fstype, target, &what) == 0)
		report(facility, required, 1, NULL);
	else
		report(facility, required, 0, "%s: %s", what, strerror(errno));
}

static void
probe_overlay(const char *work)
{
	char lower[512], upper[512], wdir[512], merged[512], opts[2100];

	snprintf(lower, sizeof(lower), "%s/ovl-lower", work);
	snprintf(upper, sizeof(upper), "%s/ovl-upper", work);
	snprintf(wdir, sizeof(wdir), "%s/ovl-work", work);
	snprintf(merged, sizeof(merged), "%s/ovl-merged", work);
	mkdir(lower, 0700);
	mkdir(upper, 0700);
	mkdir(wdir, 0700);
	mkdir(merged, 0700);
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s",
	    lower, upper, wdir);
	if (mount("overlay", merged, "overlay", 0, opts) == 0) {
		umount2(merged, 0);
		report("overlay", false, 1, NULL);
	} else {
		report("overlay", false, 0, "mount: %s", strerror(errno));
	}
}

/*
 * Runs as PID 1 of a new PID namespace: new mount, UTS, IPC and network
 * namespaces, then pivot_root into a tmpfs. The mount namespace must be its
 * own, because pivot_root moves the root of every process in the namespace.
 * The exit status names the first failed step.
 */
static void
child_namespaces(const char *work)
{
	char newroot[512], oldroot[600];

	if (getpid() != 1)
		_exit(15);
	if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET) == -1)
		_exit(10);
	if (sethostname("nem-probe", 9) == -1)
		_exit(11);
	snprintf(newroot, sizeof(newroot), "%s/pivot", work);
	mkdir(newroot, 0700);
	if (mount("tmpfs", newroot, "tmpfs", 0, "size=1m") == -1)
		_exit(12);
	snprintf(oldroot, sizeof(oldroot), "%s/old", newroot);
	mkdir(oldroot, 0700);
	if (syscall(SYS_pivot_root, newroot, oldroot) == -1)
		_exit(13);
	if (chdir("/") == -1 || umount2("/old", MNT_DETACH) == -1)
		_exit(14);
	_exit(0);
}

/*
 * The intermediate child unshares the PID namespace and forks its PID 1.
 * Doing this in a child keeps the probe itself out of the new namespace,
 * where it could not create threads (LeakSanitizer needs one at exit).
 */
static void
child_pid_namespace(const char *work)
{
	int status;
	pid_t pid;

	if (unshare(CLONE_NEWPID) == -1)
		_exit(16);
	pid = fork();
	if (pid == -1)
		_exit(17);
	if (pid == 0)
		child_namespaces(work);
	if (waitpid(pid, &status, 0) == -1)
		_exit(17);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 18);
}

static void
probe_namespaces(const char *work)
{
	static const char *const steps[] = {
		[10] = "unshare mount/UTS/IPC/net", [11] = "sethostname",
		[12] = "mount tmpfs", [13] = "pivot_root",
		[14] = "detach old root", [15] = "pid namespace: not pid 1",
		[16] = "unshare(CLONE_NEWPID)", [17] = "fork in pid namespace",
		[18] = "pid 1 killed by a signal",
	};
	int status, pidfd, code;
	pid_t pid;

	pid = fork();
	if (pid == -1) {
		report("namespaces", true, 0, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0)
		child_pid_namespace(work);

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
		int n = poll(&pfd, 1, 10000);

		report("pidfd", true, n == 1, "poll: no exit event in 10 s");
		close(pidfd);
	} else {
		report("pidfd", true, 0, "pidfd_open: %s", strerror(errno));
	}

	if (waitpid(pid, &status, 0) == -1) {
		report("namespaces", true, 0, "waitpid: %s", strerror(errno));
		return;
	}
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 18;
	if (code == 0) {
		report("mount/pid/uts/ipc/net", true, 1, NULL);
		report("pivot_root", true, 1, NULL);
		return;
	}
	report(code == 13 || code == 14 ? "pivot_root" :
	    "mount/pid/uts/ipc/net", true, 0, "%s failed",
	    code >= 10 && code <= 18 ? steps[code] : "unknown step");
}

static void
probe_cgroup2(void)
{
	static const char *const paths[] = { "/sys/fs/cgroup/cgroup.controllers",
		"/sys/fs/cgroup/unified/cgroup.controllers" };
	char buf[512] = "";

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		FILE *f = fopen(paths[i], "re");

		if (f == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		fclose(f);
		buf[strcspn(buf, "\n")] = '\0';
		printf("%-22s %-8s (optional): %s: [%s]\n", "cgroup2",
		    buf[0] != '\0' ? "ok" : "missing", paths[i],
		    buf[0] != '\0' ? buf : "no controllers enabled");
		return;
	}
	report("cgroup2", false, 0, "no cgroup2 hierarchy mounted");
}

int
main(int argc, char **argv)
{
	char target[512];

	if (argc != 5) {
		fprintf(stderr, "usage: probe_kernel WORKDIR SQUASHFS EROFS EXT4\n");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "probe_kernel: must run as root\n");
		return 77;
	}

	/* Private mount namespace: mounts made below vanish with us. */
	if (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1) {
		report("mount namespace", true, 0, "%s", strerror(errno));
		return 1;
	}
	report("mount namespace", true, 1, NULL);

	snprintf(target, sizeof(target), "%s/mnt", argv[1]);
	mkdir(target, 0700);
	probe_image("loop+squashfs", "squashfs", argv[2], target, true);
	probe_image("loop+erofs", "erofs", argv[3], target, true);
	probe_image("loop+ext4", "ext4", argv[4], target, true);
	probe_overlay(argv[1]);
	probe_namespaces(argv[1]);
	probe_cgroup2();

	printf("%d required facilities missing\n", failures);
	return failures == 0 ? 0 : 1;
}
