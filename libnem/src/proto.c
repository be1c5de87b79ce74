/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Names of the protocol's error codes and services, and the mapping between
 * error codes and errno values. The tables follow enum nem_code and enum
 * nem_service in nem/proto.h.
 */
#include <nem/proto.h>

#include <errno.h>
#include <stddef.h>

static const struct {
	const char *name;
	int errnum;
} codes[] = {
	[NEM_OK] = { "ok", 0 },
	[NEM_E_INVALID] = { "invalid", EINVAL },
	[NEM_E_NOT_FOUND] = { "not-found", ENOENT },
	[NEM_E_EXISTS] = { "exists", EEXIST },
	[NEM_E_PERMISSION] = { "permission-denied", EACCES },
	[NEM_E_BUSY] = { "busy", EBUSY },
	[NEM_E_TIMEDOUT] = { "timed-out", ETIMEDOUT },
	[NEM_E_UNAVAILABLE] = { "unavailable", ENOTCONN },
	[NEM_E_CANCELLED] = { "cancelled", ECANCELED },
	[NEM_E_TOO_LARGE] = { "too-large", EMSGSIZE },
	[NEM_E_UNKNOWN] = { "unknown-command", EOPNOTSUPP },
	[NEM_E_INTERNAL] = { "internal", EIO },
};

const char *
nem_code_name(int64_t code)
{
	if (code < 0 || code > NEM_CODE_MAX)
		return "unknown-code";
	return codes[code].name;
}

int
nem_code_to_errno(int64_t code)
{
	if (code < 0 || code > NEM_CODE_MAX)
		return EPROTO;
	return codes[code].errnum;
}

int64_t
nem_code_from_errno(int errnum)
{
	switch (errnum) {
	case 0:
		return NEM_OK;
	case EINVAL:
	case EBADMSG:
	case ENAMETOOLONG:
		return NEM_E_INVALID;
	case ENOENT:
	case ESRCH:
		return NEM_E_NOT_FOUND;
	case EEXIST:
		return NEM_E_EXISTS;
	case EACCES:
	case EPERM:
		return NEM_E_PERMISSION;
	case EBUSY:
	case EAGAIN:
		return NEM_E_BUSY;
	case ETIMEDOUT:
		return NEM_E_TIMEDOUT;
	case ENOTCONN:
	case ECONNREFUSED:
	case ECONNRESET:
	case EPIPE:
		return NEM_E_UNAVAILABLE;
	case ECANCELED:
		return NEM_E_CANCELLED;
	case EMSGSIZE:
	case E2BIG:
	case EFBIG:
	case ENOSPC:
		return NEM_E_TOO_LARGE;
	case EOPNOTSUPP:
	case ENOSYS:
		return NEM_E_UNKNOWN;
	default:
		return NEM_E_INTERNAL;
	}
}

const char *
nem_service_name(uint16_t service)
{
	static const char *const names[] = {
		[NEM_SVC_DAEMON] = "daemon",
		[NEM_SVC_HOST] = "host",
		[NEM_SVC_ROUTER] = "router",
		[NEM_SVC_IMGHOST] = "imghost",
		[NEM_SVC_JAIL] = "jail",
		[NEM_SVC_VOLUME] = "volume",
		[NEM_SVC_HOSTPROC] = "hostproc",
		[NEM_SVC_EVENT] = "event",
		[NEM_SVC_SVC] = "svc",
	};

	if (service >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[service];
}
