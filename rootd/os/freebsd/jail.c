/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * FreeBSD jails: jail_set(2) creates a persistent jail on the mounted tree,
 * with its own vnet unless the host network is shared. pdfork(2) starts
 * the root process with a process descriptor. The child enters the jail
 * with jail_attach(2), drops to the jail user, keeps only descriptors 0 to
 * 3 and executes. A failure in the child before exec is written to a
 * close-on-exec pipe and returned by os_jail_spawn.
 *
 * NOTE: compile-unchecked: written without a FreeBSD machine, against the
 * FreeBSD 14 manual pages. procfs is mounted from the host side before the
 * child starts, because a jail cannot mount it by default.
 */
#include "os.h"
#include "freebsd.h"

#include <sys/param.h>
#include <sys/ioctl.h>
#include <sys/jail.h>
#include <sys/mount.h>
#include <sys/procdesc.h>
#include <sys/socket.h>
#include <sys/sockio.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define IOV_STR(s) { (void *)(uintptr_t)(s), strlen(s) + 1 }

struct child_report {
	int code;
	char msg[NEM_ERR_MSG_MAX - 32];
};

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
	if (code != 0)
		snprintf(rep.msg + len, sizeof(rep.msg) - len, ": %s",
		    strerror(code));
	(void)!write(report_fd, &rep, sizeof(rep));
	_exit(127);
}

/* Creates the jail and returns its id, or -1 with err set. */
static int
jail_create(const struct os_jail_spec *spec, struct nem_err *err)
{
	char errmsg[256] = "";
	int vnet = spec->share_network ? JAIL_SYS_INHERIT : JAIL_SYS_NEW;
	int jid;
	struct iovec iov[] = {
		IOV_STR("path"), IOV_STR(spec->root),
		IOV_STR("host.hostname"), IOV_STR(spec->hostname),
		IOV_STR("persist"), { NULL, 0 },
		IOV_STR("vnet"), { &vnet, sizeof(vnet) },
		IOV_STR("errmsg"), { errmsg, sizeof(errmsg) },
	};

	jid = jail_set(iov, sizeof(iov) / sizeof(iov[0]), JAIL_CREATE);
	if (jid == -1)
		return nem_err_sys(err, errno, "cannot create a jail on %s%s%s",
		    spec->root, errmsg[0] ? ": " : "", errmsg);
	return jid;
}

static void
child_loopback_up(int report_fd)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s == -1)
		child_fail(report_fd, errno, "cannot open a socket for lo0");
	memset(&ifr, 0, sizeof(ifr));
	strlcpy(ifr.ifr_name, "lo0", sizeof(ifr.ifr_name));
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1)
		child_fail(report_fd, errno, "cannot read the flags of lo0");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
		child_fail(report_fd, errno, "cannot set lo0 up");
	close(s);
}

static __attribute__((noreturn)) void
child_main(int report_fd, int jid, const struct os_jail_spec *spec)
{
	int src[4] = { spec->stdio[0], spec->stdio[1], spec->stdio[2],
		spec->channel_fd };
	int nfds = spec->channel_fd >= 0 ? 4 : 3, high[4], rfd;
	gid_t groups[OS_GROUPS_MAX + 1];
	struct sigaction sa;
	sigset_t none;

	if (jail_attach(jid) == -1)
		child_fail(report_fd, errno, "cannot enter jail %d", jid);
	if (!spec->share_network)
		child_loopback_up(report_fd);

	rfd = fcntl(report_fd, F_DUPFD_CLOEXEC, CHILD_HIGH_FD);
	if (rfd == -1)
		child_fail(report_fd, errno, "cannot move the report pipe");
	for (int i = 0; i < nfds; i++) {
		high[i] = fcntl(src[i], F_DUPFD_CLOEXEC, CHILD_HIGH_FD);
		if (high[i] == -1)
			child_fail(rfd, errno, "descriptor %d for fd %d is "
			    "invalid", src[i], i);
	}
	for (int i = 0; i < nfds; i++) {
		if (dup2(high[i], i) == -1)
			child_fail(rfd, errno, "cannot install fd %d", i);
	}
	close_range((unsigned)nfds, (unsigned)rfd - 1, 0);
	close_range((unsigned)rfd + 1, ~0u, 0);

	/* Before FreeBSD 15, setgroups(2) takes the egid as groups[0]. */
	groups[0] = spec->gid;
	memcpy(groups + 1, spec->groups, spec->ngroups * sizeof(gid_t));
	if (setgroups((int)spec->ngroups + 1, groups) == -1)
		child_fail(rfd, errno, "cannot set %zu groups", spec->ngroups);
	if (setgid(spec->gid) == -1)
		child_fail(rfd, errno, "cannot set gid %u",
		    (unsigned)spec->gid);
	if (setuid(spec->uid) == -1)
		child_fail(rfd, errno, "cannot set uid %u",
		    (unsigned)spec->uid);
	/* The jail's chroot confines the lookup; fdescfs is not mounted. */
	if (chdir(spec->workdir) == -1)
		child_fail(rfd, errno, "workdir %s is not a directory inside "
		    "the jail", spec->workdir);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(spec->argv[0], spec->argv, spec->envp);
	child_fail(rfd, errno, "exec failed: %s", spec->argv[0]);
}

/* Mounts procfs at proc_dest inside the jail tree, from the host. */
static int
mount_proc(const struct os_jail_spec *spec, struct nem_err *err)
{
	struct os_root root;
	int dir_fd, rc;

	if (os_root_open(spec->root, &root, err) == -1)
		return -1;
	dir_fd = freebsd_resolve_dir(root.fd, spec->proc_dest, true, err);
	os_root_close(&root);
	if (dir_fd == -1)
		return -1;
	rc = freebsd_mount_at(dir_fd, spec->proc_dest, "procfs", NULL, 0,
	    MNT_NOSUID | MNT_NOEXEC, err);
	close(dir_fd);
	return rc;
}

int
os_jail_spawn(const struct os_jail_spec *spec, struct os_jail *jail,
    struct nem_err *err)
{
	struct child_report rep;
	int pipe_fd[2], pd, jid;
	ssize_t n;
	pid_t pid;

	jail->pid = -1;
	jail->pidfd = -1;
	jail->jid = -1;
	if (spec->root == NULL || spec->hostname == NULL ||
	    spec->argv == NULL || spec->argv[0] == NULL ||
	    spec->argv[0][0] != '/' || spec->envp == NULL ||
	    spec->workdir == NULL || spec->ngroups > OS_GROUPS_MAX)
		return nem_err_set(err, EINVAL, "incomplete jail spec: root, "
		    "host name, absolute program, environment and workdir are "
		    "required, and at most %d groups", OS_GROUPS_MAX);
	if (spec->proc_dest != NULL && mount_proc(spec, err) == -1)
		return -1;
	jid = jail_create(spec, err);
	if (jid == -1)
		return -1;
	if (pipe2(pipe_fd, O_CLOEXEC) == -1) {
		nem_err_sys(err, errno, "cannot create the spawn pipe");
		jail_remove(jid);
		return -1;
	}

	pid = pdfork(&pd, PD_CLOEXEC);
	if (pid == -1) {
		nem_err_sys(err, errno, "cannot fork the jail process");
		close(pipe_fd[0]);
		close(pipe_fd[1]);
		jail_remove(jid);
		return -1;
	}
	if (pid == 0) {
		close(pipe_fd[0]);
		child_main(pipe_fd[1], jid, spec);
	}
	close(pipe_fd[1]);
	do {
		n = read(pipe_fd[0], &rep, sizeof(rep));
	} while (n == -1 && errno == EINTR);
	close(pipe_fd[0]);
	if (n == 0) {
		jail->pid = pid;
		jail->pidfd = pd;
		jail->jid = jid;
		return 0;
	}
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	close(pd);
	jail_remove(jid);
	if (n != (ssize_t)sizeof(rep))
		return nem_err_set(err, EIO, "jail process failed before exec "
		    "without a report");
	rep.msg[sizeof(rep.msg) - 1] = '\0';
	return nem_err_set(err, rep.code ? rep.code : EINVAL, "%s", rep.msg);
}

int
os_jail_signal(const struct os_jail *jail, int sig, struct nem_err *err)
{
	if (pdkill(jail->pidfd, sig) == -1)
		return nem_err_sys(err, errno, "cannot send signal %d to jail "
		    "process %ld", sig, (long)jail->pid);
	return 0;
}

int
os_jail_wait(const struct os_jail *jail, bool nohang, int *status,
    struct nem_err *err)
{
	pid_t rc;

	do {
		rc = waitpid(jail->pid, status, nohang ? WNOHANG : 0);
	} while (rc == -1 && errno == EINTR);
	if (rc == -1)
		return nem_err_sys(err, errno, "cannot wait for jail process "
		    "%ld", (long)jail->pid);
	return rc == 0 ? 1 : 0;
}

void
os_jail_release(struct os_jail *jail)
{
	if (jail->pidfd >= 0)
		close(jail->pidfd);
	jail->pidfd = -1;
	if (jail->jid > 0)
		jail_remove(jail->jid);
	jail->jid = -1;
}
