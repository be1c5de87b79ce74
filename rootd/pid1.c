/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * PID 1 duties of nem-rootd: mount the pseudo file systems the daemon
 * needs, set the host name, map the power signals to actions and, at the
 * end of the ordered shutdown, stop what is left and call reboot(2). After
 * initialization PID 1 must never exit, because the kernel panics when the
 * machine's init exits, so pid1_finish retries forever instead.
 *
 * Limitations:
 * NOTE: the early mounts and reboot(2) commands are the Linux ones; a
 * FreeBSD build needs its own version of this file behind the platform
 * seam.
 */
#include "pid1.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nem/log.h>

#include "os/os.h"

/* Pause between attempts when reboot(2) fails. */
#define PID1_RETRY_SECONDS 5

/* One early mount: what, where below the root, and how. */
struct early_mount {
	const char *dir;
	const char *fstype;
	unsigned long flags;
	const char *data;
};

static const struct early_mount early_mounts[] = {
	{ "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755" },
	{ "run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
};

bool
pid1_is_init(void)
{
	return getpid() == 1;
}

/*
 * Returns 1 when path is a mount point (its device differs from its
 * parent's, or it is the root of the file system tree), 0 when not, -1
 * on error.
 */
static int
is_mount_point(const char *path)
{
	char parent[PATH_MAX];
	struct stat st, pst;
	int n;

	n = snprintf(parent, sizeof(parent), "%s/..", path);
	if (n < 0 || (size_t)n >= sizeof(parent)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (lstat(path, &st) == -1 || lstat(parent, &pst) == -1)
		return -1;
	if (st.st_dev != pst.st_dev)
		return 1;
	return st.st_ino == pst.st_ino;
}

int
pid1_mount_early(const char *root, struct nem_err *err)
{
	const size_t count = sizeof(early_mounts) / sizeof(early_mounts[0]);
	const char *sep = strcmp(root, "/") == 0 ? "" : "/";

	for (size_t i = 0; i < count; i++) {
		const struct early_mount *m = &early_mounts[i];
		char path[PATH_MAX];
		int n, mounted;

		n = snprintf(path, sizeof(path), "%s%s%s", root, sep, m->dir);
		if (n < 0 || (size_t)n >= sizeof(path))
			return nem_err_set(err, ENAMETOOLONG, "pid1: path "
			    "%s/%s is too long", root, m->dir);
		if (mkdir(path, 0755) == -1 && errno != EEXIST)
			return nem_err_sys(err, errno, "pid1: cannot create "
			    "the mount point %s", path);
		mounted = is_mount_point(path);
		if (mounted == -1)
			return nem_err_sys(err, errno, "pid1: cannot inspect "
			    "%s", path);
		if (mounted == 1) {
			log_debug("pid1: %s is already mounted", path);
			continue;
		}
		if (mount(m->fstype, path, m->fstype, m->flags, m->data) == -1)
			return nem_err_sys(err, errno, "pid1: cannot mount %s "
			    "on %s; check that the kernel supports %s",
			    m->fstype, path, m->fstype);
		log_info("pid1: mounted %s on %s", m->fstype, path);
	}
	return 0;
}

int
pid1_set_hostname(const char *name, struct nem_err *err)
{
	size_t len = strlen(name);

	if (len == 0 || len > HOST_NAME_MAX)
		return nem_err_set(err, EINVAL, "pid1: host name \"%s\" must "
		    "be 1 to %d bytes long", name, HOST_NAME_MAX);
	if (sethostname(name, len) == -1)
		return nem_err_sys(err, errno, "pid1: cannot set the host "
		    "name to %s", name);
	log_info("pid1: host name set to %s", name);
	return 0;
}

int
pid1_action_from_signal(int sig, enum pid1_action *action)
{
	switch (sig) {
	case SIGTERM:
		*action = PID1_POWEROFF;
		return 0;
	case SIGINT:
		*action = PID1_REBOOT;
		return 0;
	case SIGUSR1:
		*action = PID1_HALT;
		return 0;
	default:
		return -1;
	}
}

const char *
pid1_action_name(enum pid1_action action)
{
	switch (action) {
	case PID1_POWEROFF:
		return "power-off";
	case PID1_REBOOT:
		return "reboot";
	case PID1_HALT:
		return "halt";
	}
	return "unknown";
}

/* Reaps every exited child; returns false once no child is left. */
static bool
reap_all(void)
{
	for (;;) {
		pid_t pid = waitpid(-1, NULL, WNOHANG | __WALL);

		if (pid > 0)
			continue;
		if (pid == -1 && errno == EINTR)
			continue;
		return !(pid == -1 && errno == ECHILD);
	}
}

/* Reaps children for at most ms milliseconds; false when none is left. */
static bool
reap_for(long ms)
{
	const struct timespec tick = { 0, 50 * 1000 * 1000 };

	for (long waited = 0; waited < ms; waited += 50) {
		if (!reap_all())
			return false;
		nanosleep(&tick, NULL);
	}
	return reap_all();
}

/* Sends sig to every process of the PID namespace but this one. */
static void
signal_everyone(int sig)
{
	if (kill(-1, sig) == -1 && errno != ESRCH)
		log_err("pid1: cannot send SIG%s to the remaining processes",
		    sigabbrev_np(sig));
}

void
pid1_finish(enum pid1_action action)
{
	int cmd;

	/* kill(-1) and reboot(2) from anywhere else would hit the host. */
	if (!pid1_is_init())
		return;

	switch (action) {
	case PID1_REBOOT:
		cmd = RB_AUTOBOOT;
		break;
	case PID1_HALT:
		cmd = RB_HALT_SYSTEM;
		break;
	case PID1_POWEROFF:
	default:
		cmd = RB_POWER_OFF;
		break;
	}

	log_info("pid1: %s: sending SIGTERM to the remaining processes, "
	    "SIGKILL in %d ms", pid1_action_name(action), PID1_TERM_GRACE_MS);
	signal_everyone(SIGTERM);
	if (reap_for(PID1_TERM_GRACE_MS)) {
		log_warn("pid1: processes are left after %d ms; sending SIGKILL",
		    PID1_TERM_GRACE_MS);
		signal_everyone(SIGKILL);
		reap_for(PID1_TERM_GRACE_MS);
	}

	for (;;) {
		log_info("pid1: syncing file systems and calling reboot(2) for "
		    "%s", pid1_action_name(action));
		sync();
		reboot(cmd);
		log_err("pid1: reboot(2) for %s failed; retrying in %d s",
		    pid1_action_name(action), PID1_RETRY_SECONDS);
		sleep(PID1_RETRY_SECONDS);
	}
}

int
pid1_become_reaper(struct nem_err *err)
{
	if (pid1_is_init())
		return 0;
	if (os_reaper_acquire(err) == -1) {
		nem_err_prefix(err, "pid1: cannot become the subreaper");
		return -1;
	}
	return 0;
}
