/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The duties of nem-rootd when it is PID 1 (init of the machine or of a
 * PID namespace): early mounts, the host name, the power signals and the
 * final reboot(2) call. When it is not PID 1 it becomes the subreaper of
 * its descendants instead, so orphans are still reaped by the supervisor.
 */
#ifndef ROOTD_PID1_H
#define ROOTD_PID1_H

#include <stdbool.h>

#include <nem/err.h>

/* The final action of PID 1 once everything is stopped. */
enum pid1_action {
	PID1_POWEROFF,	/* SIGTERM: reboot(RB_POWER_OFF) */
	PID1_REBOOT,	/* SIGINT: reboot(RB_AUTOBOOT) */
	PID1_HALT,	/* SIGUSR1: reboot(RB_HALT_SYSTEM) */
};

/*
 * Time that remaining processes get between SIGTERM and SIGKILL in
 * pid1_finish, in milliseconds.
 */
#define PID1_TERM_GRACE_MS 3000

/* Returns true when this process is PID 1 of its PID namespace. */
bool pid1_is_init(void);

/*
 * Mounts the pseudo file systems below root, which is "/" in the daemon:
 * proc at proc, sysfs at sys, devtmpfs at dev and a tmpfs at run. Each is
 * mounted only where nothing is mounted yet, with nosuid, and with nodev
 * and noexec where they apply. Missing mount points are created with mode
 * 0755. Returns 0, or
 * -1 with err naming the first mount that failed.
 */
int pid1_mount_early(const char *root, struct nem_err *err);

/* Sets the host name. Returns 0, or -1 with err (EINVAL when too long). */
int pid1_set_hostname(const char *name, struct nem_err *err);

/*
 * Maps a power signal to its action: SIGTERM to power-off, SIGINT to
 * reboot, SIGUSR1 to halt. Returns 0 and sets *action, or -1 for any other
 * signal.
 */
int pid1_action_from_signal(int sig, enum pid1_action *action);

/* Returns "power-off", "reboot" or "halt". */
const char *pid1_action_name(enum pid1_action action);

/*
 * Ends the system after the ordered shutdown: sends SIGTERM to every
 * remaining process, SIGKILL after PID1_TERM_GRACE_MS, reaps them, syncs
 * the file systems and calls reboot(2) with the action's command. Inside
 * a PID namespace other than the host's, reboot(2) ends the namespace
 * instead: its parent sees init killed by SIGHUP for reboot and by SIGINT
 * for power-off and halt. When reboot(2) fails, the error is logged and
 * the call is retried every 5 s, so PID 1 never exits. When this process
 * is not PID 1, returns at once without doing anything.
 */
void pid1_finish(enum pid1_action action);

/*
 * Makes this process the reaper of its orphaned descendants when it is not
 * PID 1 (PID 1 already is). Returns 0, or -1 with err.
 */
int pid1_become_reaper(struct nem_err *err);

#endif
