/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Linux jails: the root process is cloned with clone3 into new mount, PID,
 * UTS, IPC and network namespaces and a pidfd. Before exec the child mounts
 * /proc of its PID namespace, pivots into the jail tree, drops to the jail
 * user and keeps only descriptors 0 to 3. Any failure in the child, exec
 * included, is written to a close-on-exec pipe, so the daemon learns it
 * before os_jail_spawn returns. The child calls no allocator: it only makes
 * system calls and formats into a fixed buffer.
 */
#include "os.h"
#include "linux.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/sched.h>

/* The report a child sends before it exits instead of executing. */
struct child_report {
	int code;		/* errno value */
	char msg[NEM_ERR_MSG_MAX - 32];
};

/* The child's report descriptor is moved at or above this number, out of
 * the way of descriptors 0 to 3. */
#define CHILD_HIGH_FD 16

static __attribute__((noreturn, format(printf, 3, 4))) void
child_fail(int report_fd, int code, const char *fmt, ...)
{
	struct child_report rep;
	va_list ap;
	size_t len;

	memset(&rep, 0, sizeof(rep));
	rep.code = code;
	va_start(ap, fmt);
	vsnprintf(rep.msg, sizeof(rep.msg), fmt, ap);
	va_end(ap);
	len = strlen(rep.msg);
	if (code != 0 && len + 3 < sizeof(rep.msg))
		snprintf(rep.msg + len, sizeof(rep.msg) - len, ": %s",
		    strerrordesc_np(code) ? strerrordesc_np(code) : "error");
	(void)!write(report_fd, &rep, sizeof(rep));
	_exit(127);
}

/* Mounts a new proc instance at dest inside the tree root_fd. */
static void
child_mount_proc(int report_fd, int root_fd, const char *dest)
{
	struct nem_err err;
	int target, mnt;

	target = linux_resolve_dir(root_fd, dest, true, &err);
	if (target == -1)
		child_fail(report_fd, 0, "proc: %s", err.msg);
	mnt = linux_fs_mount("proc", "proc", NULL, 0,
	    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, &err);
	if (mnt == -1 || linux_mount_attach(mnt, target, dest, &err) == -1)
		child_fail(report_fd, 0, "proc: %s", err.msg);
	close(mnt);
	close(target);
}

/* Sets the loopback interface of the new network namespace up. */
static void
child_loopback_up(int report_fd)
{
	struct ifreq ifr;
	int s;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s == -1)
		child_fail(report_fd, errno, "cannot open a socket for lo");
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1)
		child_fail(report_fd, errno, "cannot read the flags of lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
		child_fail(report_fd, errno, "cannot set lo up");
	close(s);
}

/* Enters the jail tree: private mounts, /proc, pivot_root. */
static void
child_enter_root(int report_fd, const struct os_jail_spec *spec)
{
	struct statx stx;
	int root_fd;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		child_fail(report_fd, errno, "cannot make mounts private");

	/* Reopened here: the daemon's descriptors refer to mounts of the
	 * host namespace, which pivot_root does not accept. */
	root_fd = linux_openat2(AT_FDCWD, spec->root,
	    O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
	    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (root_fd == -1)
		child_fail(report_fd, errno, "cannot open jail root %s",
		    spec->root);
	if (statx(root_fd, "", AT_EMPTY_PATH, 0, &stx) == -1)
		child_fail(report_fd, errno, "cannot stat jail root %s",
		    spec->root);
	if (!(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) {
		/* pivot_root needs a mount point: bind the tree onto itself. */
		int tree = open_tree(root_fd, "", OPEN_TREE_CLONE |
		    OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);

		if (tree == -1 || move_mount(tree, "", root_fd, "",
		    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == -1)
			child_fail(report_fd, errno, "cannot bind jail root "
			    "%s onto itself", spec->root);
		close(root_fd);
		root_fd = tree;
	}
	if (spec->proc_dest != NULL)
		child_mount_proc(report_fd, root_fd, spec->proc_dest);

	if (fchdir(root_fd) == -1)
		child_fail(report_fd, errno, "cannot enter jail root %s",
		    spec->root);
	close(root_fd);

	/* With new and old root the same directory, the old root ends up on
	 * top and is detached right away. */
	if (syscall(SYS_pivot_root, ".", ".") == -1)
		child_fail(report_fd, errno, "pivot_root into %s failed",
		    spec->root);
	if (umount2(".", MNT_DETACH) == -1)
		child_fail(report_fd, errno, "cannot detach the old root");
	if (chdir("/") == -1)
		child_fail(report_fd, errno, "cannot change to the new root");
}

/*
 * Moves the caller's descriptors to 0..3 and closes everything else but
 * report_fd and, with exec_by_fd, the program's descriptor, whose new
 * number goes to *exec_fd (-1 without). Returns the new report descriptor.
 */
static int
child_setup_fds(int report_fd, const struct os_jail_spec *spec, int *exec_fd)
{
	int src[4] = { spec->stdio[0], spec->stdio[1], spec->stdio[2],
		spec->channel_fd };
	int high[4], nfds = spec->channel_fd >= 0 ? 4 : 3;
	int rfd, keep_lo, keep_hi;

	/* First lift everything above 3, so no dup3 below overwrites a
	 * source that sits in 0..3. */
	rfd = fcntl(report_fd, F_DUPFD_CLOEXEC, CHILD_HIGH_FD);
	if (rfd == -1)
		child_fail(report_fd, errno, "cannot move the report pipe");
	*exec_fd = -1;
	if (spec->exec_by_fd) {
		*exec_fd = fcntl(spec->exec_fd, F_DUPFD_CLOEXEC, CHILD_HIGH_FD);
		if (*exec_fd == -1)
			child_fail(rfd, errno, "descriptor %d of the program "
			    "is invalid", spec->exec_fd);
	}
	for (int i = 0; i < nfds; i++) {
		high[i] = fcntl(src[i], F_DUPFD_CLOEXEC, CHILD_HIGH_FD);
		if (high[i] == -1)
			child_fail(rfd, errno, "descriptor %d for fd %d is "
			    "invalid", src[i], i);
	}
	for (int i = 0; i < nfds; i++) {
		if (dup3(high[i], i, 0) == -1)
			child_fail(rfd, errno, "cannot install fd %d", i);
	}

	/* The report pipe and the program's descriptor stay (both
	 * close-on-exec); all else above the handed-down set is closed now,
	 * whatever its flags. */
	keep_lo = rfd;
	keep_hi = *exec_fd > rfd ? *exec_fd : rfd;
	if (*exec_fd != -1 && *exec_fd < rfd)
		keep_lo = *exec_fd;
	if (close_range((unsigned)nfds, (unsigned)keep_lo - 1, 0) == -1 ||
	    (keep_hi > keep_lo + 1 && close_range((unsigned)keep_lo + 1,
	    (unsigned)keep_hi - 1, 0) == -1) ||
	    close_range((unsigned)keep_hi + 1, ~0u, 0) == -1)
		child_fail(rfd, errno, "close_range failed");
	return rfd;
}

static void
child_reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static __attribute__((noreturn)) void
child_main(int report_fd, const struct os_jail_spec *spec)
{
	int wd, exec_fd;

	child_enter_root(report_fd, spec);
	if (sethostname(spec->hostname, strlen(spec->hostname)) == -1)
		child_fail(report_fd, errno, "cannot set host name %s",
		    spec->hostname);
	if (!spec->share_network)
		child_loopback_up(report_fd);

	report_fd = child_setup_fds(report_fd, spec, &exec_fd);

	if (setgroups(spec->ngroups, spec->groups) == -1)
		child_fail(report_fd, errno, "cannot set %zu groups",
		    spec->ngroups);
	if (setresgid(spec->gid, spec->gid, spec->gid) == -1)
		child_fail(report_fd, errno, "cannot set gid %u",
		    (unsigned)spec->gid);
	if (setresuid(spec->uid, spec->uid, spec->uid) == -1)
		child_fail(report_fd, errno, "cannot set uid %u",
		    (unsigned)spec->uid);

	/* Symlinks inside the jail are fine; magic links such as
	 * /proc/self/fd/N could lead out and are rejected. */
	wd = linux_openat2(AT_FDCWD, spec->workdir,
	    O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
	    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	if (wd == -1)
		child_fail(report_fd, errno, "workdir %s is not a directory "
		    "inside the jail", spec->workdir);
	if (fchdir(wd) == -1)
		child_fail(report_fd, errno, "cannot change to workdir %s",
		    spec->workdir);
	close(wd);

	child_reset_signals();
	if (exec_fd != -1)
		execveat(exec_fd, "", spec->argv, spec->envp, AT_EMPTY_PATH);
	else
		execve(spec->argv[0], spec->argv, spec->envp);
	child_fail(report_fd, errno, "exec failed: %s", spec->argv[0]);
}

static int
spec_check(const struct os_jail_spec *spec, struct nem_err *err)
{
	if (spec->root == NULL || spec->root[0] != '/')
		return nem_err_set(err, EINVAL, "jail root must be an "
		    "absolute path");
	if (spec->hostname == NULL || strlen(spec->hostname) > 64)
		return nem_err_set(err, EINVAL, "jail host name must be 1 to "
		    "64 bytes");
	if (spec->argv == NULL || spec->argv[0] == NULL ||
	    spec->argv[0][0] != '/')
		return nem_err_set(err, EINVAL, "the jail program must be an "
		    "absolute path");
	if (spec->envp == NULL || spec->workdir == NULL ||
	    spec->workdir[0] != '/')
		return nem_err_set(err, EINVAL, "jail environment and an "
		    "absolute workdir are required");
	if (spec->ngroups > OS_GROUPS_MAX)
		return nem_err_set(err, E2BIG, "%zu supplementary groups, at "
		    "most %d are supported", spec->ngroups, OS_GROUPS_MAX);
	if (spec->proc_dest != NULL &&
	    linux_dest_check(spec->proc_dest, err) == -1)
		return -1;
	for (int i = 0; i < 3; i++) {
		if (spec->stdio[i] < 0)
			return nem_err_set(err, EBADF, "descriptor for fd %d "
			    "is missing", i);
	}
	return 0;
}

int
os_jail_spawn(const struct os_jail_spec *spec, struct os_jail *jail,
    struct nem_err *err)
{
	struct clone_args args;
	struct child_report rep;
	int pipe_fd[2], pidfd = -1;
	ssize_t n;
	long pid;

	jail->pid = -1;
	jail->pidfd = -1;
	jail->jid = -1;
	if (spec_check(spec, err) == -1)
		return -1;
	if (pipe2(pipe_fd, O_CLOEXEC) == -1)
		return nem_err_sys(err, errno, "cannot create the spawn pipe");

	memset(&args, 0, sizeof(args));
	args.flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS |
	    CLONE_NEWIPC | CLONE_PIDFD;
	if (!spec->share_network)
		args.flags |= CLONE_NEWNET;
	args.pidfd = (uint64_t)(uintptr_t)&pidfd;
	args.exit_signal = SIGCHLD;

	/* Without CLONE_VM this is a fork: the child has its own copy. */
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == -1) {
		int e = errno;

		close(pipe_fd[0]);
		close(pipe_fd[1]);
		return nem_err_sys(err, e, "cannot clone the jail process");
	}
	if (pid == 0) {
		close(pipe_fd[0]);
		child_main(pipe_fd[1], spec);
	}

	close(pipe_fd[1]);
	do {
		n = read(pipe_fd[0], &rep, sizeof(rep));
	} while (n == -1 && errno == EINTR);
	close(pipe_fd[0]);
	if (n == 0) {
		jail->pid = (pid_t)pid;
		jail->pidfd = pidfd;
		return 0;
	}

	/* The child failed before exec, or the pipe broke: reap it. */
	while (waitpid((pid_t)pid, NULL, 0) == -1 && errno == EINTR)
		;
	close(pidfd);
	if (n != (ssize_t)sizeof(rep))
		return nem_err_set(err, EIO, "jail process failed before "
		    "exec without a report");
	rep.msg[sizeof(rep.msg) - 1] = '\0';
	return nem_err_set(err, rep.code ? rep.code : EINVAL, "%s", rep.msg);
}

int
os_jail_signal(const struct os_jail *jail, int sig, struct nem_err *err)
{
	if (pidfd_send_signal(jail->pidfd, sig, NULL, 0) == -1)
		return nem_err_sys(err, errno, "cannot send signal %d to jail "
		    "process %ld", sig, (long)jail->pid);
	return 0;
}

int
os_jail_wait(const struct os_jail *jail, bool nohang, int *status,
    struct nem_err *err)
{
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	while (waitid(P_PIDFD, (id_t)jail->pidfd, &info,
	    WEXITED | (nohang ? WNOHANG : 0)) == -1) {
		if (errno != EINTR)
			return nem_err_sys(err, errno, "cannot wait for jail "
			    "process %ld", (long)jail->pid);
	}
	if (info.si_pid == 0)
		return 1;
	if (info.si_code == CLD_EXITED)
		*status = W_EXITCODE(info.si_status, 0);
	else
		*status = W_EXITCODE(0, info.si_status) |
		    (info.si_code == CLD_DUMPED ? WCOREFLAG : 0);
	return 0;
}

void
os_jail_release(struct os_jail *jail)
{
	if (jail->pidfd >= 0)
		close(jail->pidfd);
	jail->pidfd = -1;
}
