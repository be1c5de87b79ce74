/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The control plane of nem-rootd: the NEM services offered on the control
 * socket (daemon, imghost, jail, volume, hostproc, event). ctlsock.c
 * accepts only root peers and hands each connection here. Every request
 * is validated field by field and gets a reply document or an error
 * naming the field. doc/control.md lists every command with its request
 * and reply documents. Everything runs on the daemon's event loop thread.
 */
#ifndef ROOTD_CONTROL_H
#define ROOTD_CONTROL_H

#include <stdint.h>
#include <sys/types.h>

#include <nem/err.h>

struct event_base;
struct ctl_peer;
struct jm;
struct store;
struct jail_runtime;
struct control;

/* Maximum control connections open at once; more are closed at accept. */
#define CONTROL_MAX_CLIENTS 64

/*
 * Default time a control connection may stay open with no transaction in
 * flight and no frame received before the daemon closes it, in ms.
 */
#define CONTROL_IDLE_TIMEOUT_MS 60000

/*
 * Default minimum time between two "too many clients" warnings, in ms.
 * Rejections in between are counted and logged as one line.
 */
#define CONTROL_FULL_LOG_INTERVAL_MS 10000

/* Commands that nem-rootd adds to the imghost service (1-4 are fixed). */
#define CONTROL_IMGHOST_REMOVE 5
#define CONTROL_IMGHOST_VERIFY 6
#define CONTROL_IMGHOST_GC 7

/* Commands of the jail service. */
enum control_jail_cmd {
	CONTROL_JAIL_LIST = 1,
	CONTROL_JAIL_STATUS = 2,
	CONTROL_JAIL_START = 3,
	CONTROL_JAIL_STOP = 4,
	CONTROL_JAIL_RESTART = 5,
	CONTROL_JAIL_APPLY = 6,
	CONTROL_JAIL_REMOVE = 7,
	CONTROL_JAIL_LOGS = 8,
};

/* Commands of the volume service. */
enum control_volume_cmd {
	CONTROL_VOLUME_LIST = 1,
	CONTROL_VOLUME_REMOVE = 2,
};

/* Commands of the hostproc service. */
enum control_hostproc_cmd {
	CONTROL_HOSTPROC_LIST = 1,
	CONTROL_HOSTPROC_RESTART = 2,
	CONTROL_HOSTPROC_LOGS = 3,
};

/* Commands of the event service. */
enum control_event_cmd {
	CONTROL_EVENT_SUBSCRIBE = 1,
};

/* Called for daemon.stop, after its reply was queued. */
typedef void (*control_stop_fn)(void *arg);

/* Parameters of control_new. The pointers must outlive the control plane. */
struct control_params {
	struct event_base *base;
	struct jm *jm;
	struct store *store;		/* NULL: imghost answers unavailable */
	struct jail_runtime *runtime;	/* NULL: volume answers unavailable */
	const char *state_dir;		/* for the import thread's own store
					   handle; NULL: imports run on the
					   event loop */
	const char *version;
	control_stop_fn stop;		/* daemon.stop */
	void *stop_arg;
	uint32_t idle_timeout_ms;	/* 0: CONTROL_IDLE_TIMEOUT_MS */
	uint32_t full_log_interval_ms;	/* 0: CONTROL_FULL_LOG_INTERVAL_MS */
};

/*
 * Creates the control plane. Returns it (free with control_free), or NULL
 * with err ENOMEM.
 */
struct control *control_new(const struct control_params *p,
    struct nem_err *err);

/*
 * Closes every control connection (ending their transactions) and frees
 * the control plane. NULL is allowed.
 */
void control_free(struct control *ctl);

/*
 * Takes a connection accepted by ctl_listen (ctl_accept_cb signature; arg
 * is the struct control). fd is owned from here on. Over
 * CONTROL_MAX_CLIENTS connections it is closed, with at most one warning
 * per full_log_interval_ms. An accepted connection is
 * closed once it has had no transaction in flight and sent no frame for
 * the idle timeout.
 */
void control_accept(void *arg, int fd, const struct ctl_peer *peer);

#endif
