/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Constants of the NEM protocol, version 1: frame limits, flag bits, the
 * service and command ids, and the error codes carried in a reply header's
 * `err.code`. doc/protocol.md describes each one; the values are part of the
 * wire format and never change meaning once released.
 */
#ifndef NEM_PROTO_H
#define NEM_PROTO_H

#include <stdint.h>

/* Fixed-header constants. The magic is 0x6e656d21, "!men" on the wire. */
#define NEM_MAGIC 0x6e656d21u
#define NEM_VERSION 1
#define NEM_FIXED_LEN 24		/* bytes of the fixed header */
#define NEM_HEADER_MAX 64000		/* maximum header_len */
#define NEM_BODY_MAX 1048576		/* maximum body_len (2^20) */

/* Flag bits of the fixed header's flags byte. */
#define NEM_F_REPLY 0x01		/* replies to request seq */
#define NEM_F_CONTINUE 0x02		/* more frames follow for this seq */
#define NEM_F_CANCEL 0x04		/* the requester abandons seq */
#define NEM_F_FD 0x08			/* one descriptor comes with the frame */
#define NEM_F_ROUTE 0x10		/* forward along the header's route */
#define NEM_F_RESERVED 0xe0		/* bits 5-7: a frame setting them is invalid */

/* Service ids. 1-4 are those of the first NEM implementation. */
enum nem_service {
	NEM_SVC_DAEMON = 1,		/* the process at the other end */
	NEM_SVC_HOST = 2,		/* sockets and connections from the host */
	NEM_SVC_ROUTER = 3,		/* nem-routerd */
	NEM_SVC_IMGHOST = 4,		/* the image store */
	NEM_SVC_JAIL = 5,		/* jail lifecycle (rootd control plane) */
	NEM_SVC_VOLUME = 6,		/* persistent volumes */
	NEM_SVC_HOSTPROC = 7,		/* unjailed hosts supervised by rootd */
	NEM_SVC_EVENT = 8,		/* event stream */
	NEM_SVC_SVC = 9,		/* service accept notifications to providers */
};

/* Commands of the daemon service. */
enum nem_daemon_cmd {
	NEM_DAEMON_INFO = 1,
	NEM_DAEMON_GETCFG = 2,
	NEM_DAEMON_SETCFG = 3,
	NEM_DAEMON_STOP = 4,
};

/* Commands of the host service. */
enum nem_host_cmd {
	NEM_HOST_BIND = 1,		/* listening socket on a host port, as an fd */
	NEM_HOST_CONNECT = 2,		/* connection to a named service, as an fd */
};

/* Commands of the router service (nem-routerd). */
enum nem_router_cmd {
	NEM_ROUTER_BIND = 1,
	NEM_ROUTER_REGISTER_SVC = 2,
	NEM_ROUTER_REGISTER_HTTP = 3,
};

/* Commands of the imghost service. */
enum nem_imghost_cmd {
	NEM_IMGHOST_LIST_IMAGES = 1,
	NEM_IMGHOST_LIST_VERSIONS = 2,
	NEM_IMGHOST_ADD_IMAGE = 3,
	NEM_IMGHOST_GET_IMAGE = 4,
};

/*
 * Error codes of a reply header's err.code. 0 means success. A receiver
 * treats a code it does not know as NEM_E_INTERNAL.
 */
enum nem_code {
	NEM_OK = 0,
	NEM_E_INVALID = 1,		/* invalid request */
	NEM_E_NOT_FOUND = 2,		/* the named object does not exist */
	NEM_E_EXISTS = 3,		/* the object already exists */
	NEM_E_PERMISSION = 4,		/* permission denied */
	NEM_E_BUSY = 5,			/* busy, retry later */
	NEM_E_TIMEDOUT = 6,		/* timed out */
	NEM_E_UNAVAILABLE = 7,		/* unavailable (peer gone, service down) */
	NEM_E_CANCELLED = 8,		/* cancelled by the requester */
	NEM_E_TOO_LARGE = 9,		/* a size or count over its maximum */
	NEM_E_UNKNOWN = 10,		/* unknown service or command */
	NEM_E_INTERNAL = 11,		/* internal error of the responder */
};
#define NEM_CODE_MAX NEM_E_INTERNAL

/*
 * Returns the stable lower-case name of an error code ("ok", "invalid",
 * "not-found", ...), or "unknown-code" for a value outside enum nem_code.
 * The string is static.
 */
const char *nem_code_name(int64_t code);

/*
 * Maps an error code to the errno value closest in meaning (NEM_OK to 0,
 * NEM_E_NOT_FOUND to ENOENT, an unknown code to EPROTO), so a reply's error
 * can travel in a struct nem_err.
 */
int nem_code_to_errno(int64_t code);

/*
 * Maps an errno value to an error code (ENOENT to NEM_E_NOT_FOUND, EACCES
 * and EPERM to NEM_E_PERMISSION, ...). Values without a closer match map to
 * NEM_E_INTERNAL; 0 maps to NEM_OK.
 */
int64_t nem_code_from_errno(int errnum);

/*
 * Returns the lower-case name of a service id ("daemon", "imghost", ...), or
 * NULL for an id that is not assigned. The string is static.
 */
const char *nem_service_name(uint16_t service);

#endif
