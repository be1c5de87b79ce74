/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Requests from nemctl to nem-rootd over the control socket, with libnem's
 * blocking client: one connection per run, opened at the first request.
 * Every failure is printed here, once, with the action it belongs to and a
 * hint on what to do, and mapped to nemctl's exit code.
 */
#include "nemctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <nem/proto.h>

int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("nemctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return NEMCTL_EXIT_USAGE;
}

int
print_err(const struct nem_err *err, int exit)
{
	fprintf(stderr, "nemctl: %s\n", err->msg);
	return exit;
}

int
call_exit_code(int64_t code, bool local)
{
	if (code == NEM_OK)
		return NEMCTL_EXIT_OK;
	if (local)
		return NEMCTL_EXIT_SYSTEM;
	switch (code) {
	case NEM_E_BUSY:
	case NEM_E_TIMEDOUT:
	case NEM_E_UNAVAILABLE:
	case NEM_E_CANCELLED:
	case NEM_E_INTERNAL:
		return NEMCTL_EXIT_SYSTEM;
	default:
		return NEMCTL_EXIT_USAGE;
	}
}

static int
connect_once(struct nemctl *c)
{
	struct nem_err err;

	if (c->cl != NULL)
		return NEMCTL_EXIT_OK;
	c->cl = nem_client_connect(c->socket, NULL, &err);
	if (c->cl != NULL)
		return NEMCTL_EXIT_OK;

	switch (err.code) {
	case ENAMETOOLONG:
		return usage_error("socket path %s is too long for a unix "
		    "socket; use a shorter path", c->socket);
	case EACCES:
	case EPERM:
		fprintf(stderr, "nemctl: cannot connect to %s: %s; the control "
		    "socket is for root only\n", c->socket, strerror(err.code));
		return NEMCTL_EXIT_SYSTEM;
	default:
		fprintf(stderr, "nemctl: cannot connect to %s: %s; is "
		    "nem-rootd running?\n", c->socket, strerror(err.code));
		return NEMCTL_EXIT_SYSTEM;
	}
}

/* Prints the failure of reply for the action what. */
static int
report_failure(struct nemctl *c, const struct nem_reply *reply,
    uint32_t timeout_ms, const char *what)
{
	const char *reason = reply->reason[0] != '\0' ? reply->reason :
	    nem_code_name(reply->code);

	if (reply->local && reply->code == NEM_E_TIMEDOUT)
		fprintf(stderr, "nemctl: %s: no reply from nem-rootd within "
		    "%u ms; the daemon may still complete the request, see "
		    "its log\n", what, timeout_ms);
	else if (reply->local)
		fprintf(stderr, "nemctl: %s: the connection to nem-rootd at %s "
		    "failed: %s; see the daemon's log\n", what, c->socket,
		    reason);
	else
		fprintf(stderr, "nemctl: %s: %s\n", what, reason);
	return call_exit_code(reply->code, reply->local);
}

/* Copies the reply body into *out after checking it is one document. */
static int
take_body(const struct nem_reply *reply, const char *what, bson_t *out)
{
	bson_t view;

	if (reply->body_len == 0) {
		bson_init(out);
		return NEMCTL_EXIT_OK;
	}
	if (!bson_init_static(&view, reply->body, reply->body_len) ||
	    !bson_validate(&view, BSON_VALIDATE_UTF8, NULL)) {
		fprintf(stderr, "nemctl: %s: the reply of %zu bytes is not a "
		    "valid BSON document; nemctl and nem-rootd may be of "
		    "different versions\n", what, reply->body_len);
		return NEMCTL_EXIT_SYSTEM;
	}
	bson_copy_to(&view, out);
	return NEMCTL_EXIT_OK;
}

int
call_stream(struct nemctl *c, uint16_t service, uint16_t command,
    const bson_t *body, int fd, uint32_t timeout_ms, const char *what,
    nem_stream_fn *fn, void *arg, bson_t *out)
{
	struct nem_request rq = NEM_REQUEST_INIT(service, command);
	struct nem_reply reply;
	struct nem_err err;
	int rc;

	rc = connect_once(c);
	if (rc != NEMCTL_EXIT_OK)
		return rc;
	if (body != NULL) {
		rq.body = bson_get_data(body);
		rq.body_len = body->len;
	}
	rq.fd = fd;
	rq.timeout_ms = timeout_ms;

	nem_reply_init(&reply);
	if (fn != NULL)
		rc = nem_client_stream(c->cl, &rq, fn, arg, &reply, &err);
	else
		rc = nem_client_call(c->cl, &rq, &reply, &err);
	if (rc == -1)
		rc = report_failure(c, &reply, timeout_ms, what);
	else if (out != NULL)
		rc = take_body(&reply, what, out);
	else
		rc = NEMCTL_EXIT_OK;
	nem_reply_clear(&reply);
	return rc;
}

int
call(struct nemctl *c, uint16_t service, uint16_t command,
    const bson_t *body, int fd, uint32_t timeout_ms, const char *what,
    bson_t *out)
{
	return call_stream(c, service, command, body, fd, timeout_ms, what,
	    NULL, NULL, out);
}
