/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Shared fixture of the daemon integration tests: a private folder with
 * its own host configuration, state and run directories and control
 * socket; starting and stopping the real nem-rootd binary (only the one
 * started here, by pid); a squashfs image with busybox and the static
 * daemon_ready helper; and control calls through libnem's blocking client.
 * Cleanup unmounts and detaches whatever is left under the folder.
 */
#ifndef DAEMON_FIXTURE_H
#define DAEMON_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <bson/bson.h>

#include <nem/client.h>

struct dfx {
	char dir[64];		/* mkdtemp folder */
	char conf[128];		/* rootd.toml */
	char jails[128];	/* jails/ beside it */
	char state[128];
	char run[128];
	char sock[160];
	char log[128];		/* daemon's stderr */
	char image[128];	/* squashfs image with busybox and the helper */
	pid_t pid;		/* running daemon, 0 when none */
};

/* Creates the folder and rootd.toml (extra is appended). Skips (exit 77)
 * when not root or NEM_ROOTD is unset. */
void dfx_init(struct dfx *f, const char *extra);

/* Builds f->image: busybox, /bin/sh, /ready (DAEMON_READY), /etc. */
void dfx_make_image(struct dfx *f);

/* Starts nem-rootd and waits until it replies to daemon.info on its
 * control socket (10 s). Fails the test otherwise. */
void dfx_start(struct dfx *f);

/* Starts a second nem-rootd on the same configuration and returns its
 * exit status (waits up to 10 s). */
int dfx_start_second(struct dfx *f);

/* Sends SIGTERM and waits (30 s); returns the wait status. */
int dfx_stop(struct dfx *f);

/* Sends SIGKILL to the daemon and reaps it. */
void dfx_kill(struct dfx *f);

/* Kills the daemon if running, unmounts and detaches what is under the
 * folder, and removes it. */
void dfx_cleanup(struct dfx *f);

/* Connects to the control socket. */
struct nem_client *dfx_connect(struct dfx *f);

/*
 * Calls service/command with body (NULL: empty) and fd (-1: none) on a new
 * connection. Returns the reply's code; *out (may be NULL) gets the reply
 * document (bson_destroy it) when the call succeeded with a body.
 */
int64_t dfx_call(struct dfx *f, uint16_t svc, uint16_t cmd,
    const bson_t *body, int fd, bson_t *out, char *reason, size_t rlen);

/* jail.status of name: writes its state into state (size n). Returns 0,
 * or -1 when the call failed. */
int dfx_jail_state(struct dfx *f, const char *name, char *state, size_t n,
    char *reason, size_t rlen);

/* Polls jail.status until name reaches state (ms); fails the test
 * otherwise, printing the daemon's log. */
void dfx_wait_state(struct dfx *f, const char *name, const char *state,
    int ms);

/* Writes a jail description file into jails/. */
void dfx_write_jail(struct dfx *f, const char *name, const char *toml);

/* Pushes f->image as image name with imghost.add-image. */
void dfx_push_image(struct dfx *f, const char *name);

/* Returns milliseconds of a daemon.info round trip on a new connection,
 * or -1 when it failed. */
long dfx_info_ms(struct dfx *f);

/*
 * Counts mounts under f->run other than the two private mount points the
 * jail runtime keeps at run/jails and run/images across restarts.
 */
size_t dfx_count_mounts(struct dfx *f);

/* Prints the daemon's log to stderr (for failures). */
void dfx_dump_log(struct dfx *f);

#endif
