/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Requests from nemctl to nem-rootd over the control socket, with libnem's
 * blocking client: one connection per run, opened at the first request.
 * Every failure is printed here, once, with the action it belongs to and a
 * hint on what to do, and mapped to nemctl's exit code.
 */
#include "nemctl.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
	struct stat st;

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
		break;
	}

	/*
	 * connect(2) reports ECONNREFUSED for a path that exists but is no
	 * socket, which would read as a daemon that is down.
	 */
	if (stat(c->socket, &st) == 0 && !S_ISSOCK(st.st_mode))
		return usage_error("cannot connect to %s: it is %s, not a "
		    "socket; give the control socket of nem-rootd with "
		    "--socket or $NEM_SOCKET (default %s)", c->socket,
		    S_ISDIR(st.st_mode) ? "a directory" :
		    S_ISREG(st.st_mode) ? "a regular file" :
		    "a file of another type", NEMCTL_DEFAULT_SOCKET);
	fprintf(stderr, "nemctl: cannot connect to %s: %s; is nem-rootd "
	    "running?\n", c->socket, strerror(err.code));
	return NEMCTL_EXIT_SYSTEM;
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
	if (!reply->local && reply->code == NEM_E_BUSY && c->busy_is_in_use)
		return NEMCTL_EXIT_USAGE;
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

/* Set by SIGINT and SIGTERM while an endless stream runs. */
static volatile sig_atomic_t interrupted;

/* How often an endless stream looks at interrupted, in milliseconds. */
#define CALL_POLL_MS 100

/* How long a cancelled stream waits for its CANCEL frame to go out. */
#define CALL_FLUSH_MS 1000

static void
on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/*
 * Runs the client's event loop until request seq ends or SIGINT or SIGTERM
 * arrives, then waits for its final reply. The loop runs in short slices
 * because a signal does not end libevent's wait. On a signal the request is
 * cancelled and the CANCEL frame flushed; *cancelled is then true.
 */
static int
wait_or_cancel(struct nemctl *c, uint64_t seq, struct nem_reply *reply,
    bool *cancelled, struct nem_err *err)
{
	struct nem_conn *conn = nem_client_conn(c->cl);
	struct sigaction sa = { .sa_handler = on_interrupt };
	struct sigaction old_int, old_term;
	struct nem_conn_stats st;

	sigemptyset(&sa.sa_mask);
	interrupted = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	*cancelled = false;
	for (;;) {
		nem_conn_stats(conn, &st);
		if (st.outgoing == 0 || interrupted)
			break;
		if (nem_client_serve(c->cl, CALL_POLL_MS, err) == -1)
			break;
	}
	if (interrupted && nem_conn_cancel(conn, seq) == 0) {
		*cancelled = true;
		for (int ms = 0; ms < CALL_FLUSH_MS; ms += 10) {
			nem_conn_stats(conn, &st);
			if (st.out_bytes == 0 ||
			    nem_client_serve(c->cl, 10, err) == -1)
				break;
		}
	}

	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return nem_client_wait(c->cl, seq, reply, err);
}

/* Sends rq and waits for its end; Ctrl-C cancels it (see call_stream). */
static int
stream_endless(struct nemctl *c, const struct nem_request *rq,
    nem_stream_fn *fn, void *arg, struct nem_reply *reply,
    bool *cancelled, struct nem_err *err)
{
	uint64_t seq;

	*cancelled = false;
	if (nem_client_start(c->cl, rq, fn, arg, &seq, err) == -1) {
		reply->code = nem_code_from_errno(err->code);
		reply->local = true;
		snprintf(reply->reason, sizeof(reply->reason), "%.*s",
		    (int)sizeof(reply->reason) - 1, err->msg);
		return -1;
	}
	return wait_or_cancel(c, seq, reply, cancelled, err);
}

int
call_stream(struct nemctl *c, uint16_t service, uint16_t command,
    const bson_t *body, int fd, uint32_t timeout_ms, const char *what,
    nem_stream_fn *fn, void *arg, bson_t *out)
{
	struct nem_request rq = NEM_REQUEST_INIT(service, command);
	struct nem_reply reply;
	struct nem_err err;
	bool cancelled = false;
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
	if (fn != NULL && timeout_ms == NEM_TIMEOUT_NONE)
		rc = stream_endless(c, &rq, fn, arg, &reply, &cancelled, &err);
	else if (fn != NULL)
		rc = nem_client_stream(c->cl, &rq, fn, arg, &reply, &err);
	else
		rc = nem_client_call(c->cl, &rq, &reply, &err);
	if (rc == -1 && cancelled)
		rc = fflush(c->out) == EOF ? NEMCTL_EXIT_SYSTEM :
		    NEMCTL_EXIT_OK;
	else if (rc == -1)
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

int
list_print(struct nemctl *c, uint16_t service, uint16_t command,
    const char *what, const char *key, const char *const *heads,
    size_t ncols, list_row_fn *row)
{
	struct table t;
	struct nem_err err;
	bson_iter_t it, arr;
	bson_t out;
	int rc;

	rc = call(c, service, command, NULL, -1, NEMCTL_TIMEOUT_MS, what,
	    &out);
	if (rc != NEMCTL_EXIT_OK)
		return rc;
	if (c->json) {
		table_print_json(&out, c->out);
		bson_destroy(&out);
		return rc;
	}

	if (table_init(&t, ncols, heads, &err) == -1) {
		bson_destroy(&out);
		return print_err(&err, NEMCTL_EXIT_SYSTEM);
	}
	if (bson_iter_init_find(&it, &out, key) &&
	    BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &arr)) {
		while (bson_iter_next(&arr) && rc == NEMCTL_EXIT_OK) {
			const uint8_t *data;
			uint32_t len;
			bson_t doc;

			if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
				continue;
			bson_iter_document(&arr, &len, &data);
			if (bson_init_static(&doc, data, len) &&
			    row(&t, &doc, &err) == -1)
				rc = print_err(&err, NEMCTL_EXIT_SYSTEM);
		}
	}
	table_print(&t, c->out);
	table_free(&t);
	bson_destroy(&out);
	return rc;
}
