/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * host.connect and host.bind for jail root processes; runs on the daemon's
 * event loop in the nem-rootd parent. Every descriptor made here is
 * close-on-exec and is passed on and closed at once, so rootd keeps no
 * copy of a brokered connection and never reads from one. Each refusal is
 * logged with the jail names involved, because a jail that is refused
 * usually has a configuration mistake an operator must fix.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bson/bson.h>

#include <nem/conn.h>
#include <nem/frame.h>
#include <nem/log.h>
#include <nem/proto.h>

#include "broker.h"
#include "channel.h"
#include "config.h"
#include "jailmgr.h"
#include "names.h"

/*
 * A host.connect waiting for the provider's svc.accept reply. The reply
 * callback always runs once and frees it; the cancel callback only clears
 * txn, because the consumer may give up first.
 */
struct broker_pending {
	struct nem_txn *txn;		/* the consumer's host.connect, or
					   NULL once it ended */
	int fd;				/* the consumer's end */
	char consumer[NAME_MAX_LEN + 1];
	char provider[NAME_MAX_LEN + 1];
	char service[NAME_MAX_LEN + 1];
};

/* Reads the string field key of the request body into out. */
static int
body_string(const struct nem_msg *msg, const char *key, char *out,
    size_t size, bool *present, struct nem_err *err)
{
	bson_t doc;
	bson_iter_t it;
	const char *s;
	uint32_t len;

	*present = false;
	if (nem_msg_body_bson(msg, &doc, err) == -1)
		return -1;
	if (!bson_iter_init_find(&it, &doc, key))
		return 0;
	if (!BSON_ITER_HOLDS_UTF8(&it))
		return nem_err_set(err, EINVAL, "field %s is not a string",
		    key);
	s = bson_iter_utf8(&it, &len);
	if (len >= size)
		return nem_err_set(err, EINVAL, "field %s is %u bytes, the "
		    "maximum is %zu", key, len, size - 1);
	memcpy(out, s, len);
	out[len] = '\0';
	*present = true;
	return 0;
}

/* host.connect */

int
broker_decode_connect(const struct nem_msg *msg, char *service, size_t size,
    struct nem_err *err)
{
	bool present;

	if (body_string(msg, "service", service, size, &present, err) == -1)
		return -1;
	if (!present)
		return nem_err_set(err, EINVAL, "missing field service");
	return name_check("service", service, err);
}

static void
on_connect_cancel(struct nem_txn *t, int64_t code, void *arg)
{
	struct broker_pending *p = arg;

	log_info("jail %s: host.connect to %s ended before jail %s "
	    "accepted: %s", p->consumer, p->service, p->provider,
	    nem_code_name(code));
	p->txn = NULL;
}

static void
on_accept_reply(struct nem_conn *c, struct nem_msg *msg, void *arg)
{
	struct broker_pending *p = arg;
	struct nem_send s = NEM_SEND_INIT;

	if (msg->flags & NEM_F_CONTINUE)
		return;
	if (msg->hdr.code != NEM_OK) {
		log_warn("jail %s: connection to service %s rejected by jail "
		    "%s: %s%s%s", p->consumer, p->service, p->provider,
		    nem_code_name(msg->hdr.code),
		    msg->hdr.reason != NULL ? ": " : "",
		    msg->hdr.reason != NULL ? msg->hdr.reason : "");
		if (p->txn != NULL) {
			char reason[512];

			snprintf(reason, sizeof(reason), "jail %s did not "
			    "accept the connection to service %s: %s",
			    p->provider, p->service,
			    nem_code_name(msg->hdr.code));
			nem_txn_fail(p->txn, msg->hdr.code == NEM_E_TIMEDOUT ?
			    NEM_E_TIMEDOUT : NEM_E_UNAVAILABLE, reason, NULL);
		}
	} else if (p->txn != NULL) {
		s.fd = p->fd;
		log_info("jail %s: connected to service %s of jail %s",
		    p->consumer, p->service, p->provider);
		nem_txn_reply(p->txn, &s, NULL);
	}
	close(p->fd);
	free(p);
}

/* Appends the accept body {service, peer_jail, rights: [..]} to doc. */
static void
accept_body(bson_t *doc, const char *service, const char *consumer,
    const struct cfg_access *grant)
{
	bson_t rights;
	char key[24];

	BSON_APPEND_UTF8(doc, "service", service);
	BSON_APPEND_UTF8(doc, "peer_jail", consumer);
	BSON_APPEND_ARRAY_BEGIN(doc, "rights", &rights);
	for (size_t i = 0; i < grant->nrights; i++) {
		snprintf(key, sizeof(key), "%zu", i);
		BSON_APPEND_UTF8(&rights, key, grant->rights[i]);
	}
	bson_append_array_end(doc, &rights);
}

static void
on_host_connect(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct jm *jm = arg;
	struct chan *ch = chan_of_conn(nem_txn_conn(t));
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_SVC,
	    BROKER_SVC_ACCEPT);
	const struct cfg_access *grant;
	struct broker_pending *p;
	struct chan *pch;
	const char *provider;
	char service[NAME_MAX_LEN + 1];
	char reason[512];
	struct nem_err err;
	bson_t doc = BSON_INITIALIZER;
	int pair[2];

	if (ch == NULL || chan_kind(ch) != CHAN_JAIL) {
		nem_txn_fail(t, NEM_E_PERMISSION, "host.connect is for jail "
		    "root processes only", NULL);
		return;
	}
	if (broker_decode_connect(msg, service, sizeof(service), &err) == -1) {
		log_warn("jail %s: invalid host.connect: %s", chan_name(ch),
		    err.msg);
		nem_txn_fail(t, NEM_E_INVALID, err.msg, NULL);
		return;
	}

	/* Who may connect is decided here; what the peer may do, by the
	 * provider. */
	pch = jm_service_provider(jm, service, &provider);
	if (!jm_jail_access(jm, ch, service, &grant)) {
		log_warn("jail %s: host.connect to service %s of jail %s "
		    "rejected: not in the jail's [access] table",
		    chan_name(ch), service,
		    provider != NULL ? provider : "(none)");
		snprintf(reason, sizeof(reason), "permission denied: jail %s "
		    "has no [access] entry for service %s", chan_name(ch),
		    service);
		nem_txn_fail(t, NEM_E_PERMISSION, reason, NULL);
		return;
	}
	if (provider == NULL) {
		log_warn("jail %s: host.connect to service %s failed: no jail "
		    "provides it", chan_name(ch), service);
		snprintf(reason, sizeof(reason), "service %s not found: no "
		    "jail description provides it", service);
		nem_txn_fail(t, NEM_E_NOT_FOUND, reason, NULL);
		return;
	}
	if (pch == NULL || nem_conn_is_closed(chan_conn(pch))) {
		log_warn("jail %s: host.connect to service %s failed: jail %s "
		    "is not ready", chan_name(ch), service, provider);
		snprintf(reason, sizeof(reason), "service %s unavailable: "
		    "jail %s is not ready; retry later", service, provider);
		nem_txn_fail(t, NEM_E_UNAVAILABLE, reason, NULL);
		return;
	}

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1) {
		log_err("jail %s: socketpair for service %s failed", chan_name(ch),
		    service);
		nem_txn_fail(t, NEM_E_INTERNAL, "socketpair failed", NULL);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		log_err("jail %s: host.connect to %s: allocation failed",
		    chan_name(ch), service);
		close(pair[0]);
		close(pair[1]);
		nem_txn_fail(t, NEM_E_INTERNAL, "out of memory", NULL);
		return;
	}
	p->txn = t;
	p->fd = pair[0];
	snprintf(p->consumer, sizeof(p->consumer), "%s", chan_name(ch));
	snprintf(p->provider, sizeof(p->provider), "%s", provider);
	snprintf(p->service, sizeof(p->service), "%s", service);

	accept_body(&doc, service, chan_name(ch), grant);
	rq.body = bson_get_data(&doc);
	rq.body_len = doc.len;
	rq.fd = pair[1];
	rq.timeout_ms = BROKER_ACCEPT_TIMEOUT_MS;
	if (nem_conn_request(chan_conn(pch), &rq, on_accept_reply, p, NULL,
	    &err) == -1) {
		log_warn("jail %s: svc.accept to jail %s for service %s "
		    "failed: %s",
		    chan_name(ch), provider, service, err.msg);
		snprintf(reason, sizeof(reason), "service %s unavailable: "
		    "sending the connection to jail %s failed", service,
		    provider);
		nem_txn_fail(t, NEM_E_UNAVAILABLE, reason, NULL);
		close(pair[0]);
		free(p);
	} else {
		nem_txn_on_cancel(t, on_connect_cancel, p);
	}
	/* nem_conn_request sent a duplicate of the provider's end. */
	close(pair[1]);
	bson_destroy(&doc);
}

/* host.bind */

int
broker_decode_bind(const struct nem_msg *msg, struct cfg_listen *want,
    char *name, size_t size, struct nem_err *err)
{
	char address[INET6_ADDRSTRLEN];
	bool has_name, has_address;
	bson_t doc;
	bson_iter_t it;
	int64_t port;

	memset(want, 0, sizeof(*want));
	if (body_string(msg, "name", name, size, &has_name, err) == -1 ||
	    body_string(msg, "address", address, sizeof(address),
	    &has_address, err) == -1)
		return -1;
	if (has_name) {
		want->name = name;
		return 0;
	}
	if (!has_address)
		return nem_err_set(err, EINVAL, "host.bind needs name, or "
		    "address and port");
	if (inet_pton(AF_INET, address, want->addr) == 1)
		want->family = AF_INET;
	else if (inet_pton(AF_INET6, address, want->addr) == 1)
		want->family = AF_INET6;
	else
		return nem_err_set(err, EINVAL, "address %s is not an IPv4 "
		    "or IPv6 literal", address);
	if (nem_msg_body_bson(msg, &doc, err) == -1)
		return -1;
	if (!bson_iter_init_find(&it, &doc, "port") ||
	    !BSON_ITER_HOLDS_NUMBER(&it))
		return nem_err_set(err, EINVAL, "host.bind with an address "
		    "needs an integer port");
	port = bson_iter_as_int64(&it);
	if (port < 1 || port > 65535)
		return nem_err_set(err, EINVAL, "port %lld is outside 1 to "
		    "65535", (long long)port);
	want->port = (uint16_t)port;
	return 0;
}

/* Returns the [[listen]] entry of jail that matches want, or NULL. */
static const struct cfg_listen *
listen_match(const struct cfg_jail *jail, const struct cfg_listen *want)
{
	for (size_t i = 0; i < jail->nlisten; i++) {
		const struct cfg_listen *l = &jail->listen[i];
		size_t alen = l->family == AF_INET ? 4 : 16;

		if (want->name != NULL) {
			if (l->name != NULL && strcmp(l->name, want->name) == 0)
				return l;
			continue;
		}
		if (l->family == want->family && l->port == want->port &&
		    memcmp(l->addr, want->addr, alen) == 0)
			return l;
	}
	return NULL;
}

/* Opens a listening TCP socket for l. Returns it, or -1 with err. */
static int
listen_open(const struct cfg_listen *l, struct nem_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (l->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(l->port);
		memcpy(&sin->sin_addr, l->addr, 4);
		sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(l->port);
		memcpy(&sin6->sin6_addr, l->addr, 16);
		sslen = sizeof(*sin6);
	}
	fd = socket(l->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return nem_err_sys(err, errno, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	/* An IPv6 entry binds that address only, never IPv4 too. */
	if (l->family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, sslen) == -1 ||
	    listen(fd, SOMAXCONN) == -1)
		goto fail;
	return fd;
fail:
	nem_err_sys(err, errno, "bind %s port %u", l->address,
	    (unsigned)l->port);
	close(fd);
	return -1;
}

static void
on_host_bind(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct chan *ch = chan_of_conn(nem_txn_conn(t));
	const struct cfg_jail *self;
	const struct cfg_listen *l;
	struct nem_send s = NEM_SEND_INIT;
	struct cfg_listen want;
	char name[NAME_MAX_LEN + 1];
	char reason[512];
	struct nem_err err;

	if (ch == NULL || chan_kind(ch) != CHAN_JAIL) {
		nem_txn_fail(t, NEM_E_PERMISSION, "host.bind is for jail root "
		    "processes only", NULL);
		return;
	}
	if (broker_decode_bind(msg, &want, name, sizeof(name), &err) == -1) {
		log_warn("jail %s: invalid host.bind: %s", chan_name(ch),
		    err.msg);
		nem_txn_fail(t, NEM_E_INVALID, err.msg, NULL);
		return;
	}
	self = jm_chan_description(ch);
	l = self != NULL ? listen_match(self, &want) : NULL;
	if (l == NULL) {
		if (want.name != NULL)
			snprintf(reason, sizeof(reason), "permission denied: "
			    "jail %s has no [[listen]] entry named %s",
			    chan_name(ch), want.name);
		else
			snprintf(reason, sizeof(reason), "permission denied: "
			    "jail %s has no [[listen]] entry for port %u",
			    chan_name(ch), (unsigned)want.port);
		log_warn("jail %s: host.bind rejected: %s", chan_name(ch),
		    reason);
		nem_txn_fail(t, NEM_E_PERMISSION, reason, NULL);
		return;
	}

	s.fd = listen_open(l, &err);
	if (s.fd == -1) {
		log_warn("jail %s: host.bind failed: %s", chan_name(ch),
		    err.msg);
		nem_txn_fail_err(t, &err, NULL);
		return;
	}
	log_info("jail %s: listening on %s port %u for entry %s",
	    chan_name(ch), l->address, (unsigned)l->port,
	    l->name != NULL ? l->name : "(unnamed)");
	nem_txn_reply(t, &s, NULL);
	close(s.fd);
}

/* nem-init command line */

/* Appends a copy of the formatted string to argv; returns 0 or -1. */
static int __attribute__((format(printf, 3, 4)))
argv_add(char **argv, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&argv[*n], fmt, ap);
	va_end(ap);
	if (rc == -1) {
		argv[*n] = NULL;
		return -1;
	}
	(*n)++;
	return 0;
}

char **
broker_init_argv(const struct cfg_jail *jail, const char *init_path,
    struct nem_err *err)
{
	size_t max, n = 0;
	char **argv;

	/* init_path, two per listen and access entry, "--", exec, NULL */
	if (__builtin_mul_overflow(jail->nlisten + jail->naccess, 2, &max) ||
	    __builtin_add_overflow(max, jail->cmd.nexec + 3, &max)) {
		nem_err_set(err, ENOMEM, "jail %s: command line too long",
		    jail->name);
		return NULL;
	}
	argv = calloc(max, sizeof(*argv));
	if (argv == NULL)
		goto fail;
	if (argv_add(argv, &n, "%s", init_path) == -1)
		goto fail;
	for (size_t i = 0; i < jail->nlisten; i++) {
		const struct cfg_listen *l = &jail->listen[i];

		if (l->mode == CFG_LISTEN_INETD) {
			if (argv_add(argv, &n, "-i") == -1 ||
			    argv_add(argv, &n, "%s:%u", l->name,
			    l->max_connections) == -1)
				goto fail;
		} else if (argv_add(argv, &n, "-l") == -1 ||
		    argv_add(argv, &n, "%s", l->name) == -1) {
			goto fail;
		}
	}
	for (size_t i = 0; i < jail->naccess; i++) {
		if (argv_add(argv, &n, "-c") == -1 ||
		    argv_add(argv, &n, "%s", jail->access[i].service) == -1)
			goto fail;
	}
	if (argv_add(argv, &n, "--") == -1)
		goto fail;
	for (size_t i = 0; i < jail->cmd.nexec; i++) {
		if (argv_add(argv, &n, "%s", jail->cmd.exec[i]) == -1)
			goto fail;
	}
	return argv;
fail:
	broker_init_argv_free(argv);
	nem_err_sys(err, ENOMEM, "jail %s: nem-init command line",
	    jail->name);
	return NULL;
}

void
broker_init_argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (size_t i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

int
broker_register(struct jm *jm, struct nem_err *err)
{
	const struct chan_handler handlers[] = {
		{ NEM_SVC_HOST, NEM_HOST_CONNECT, on_host_connect, jm },
		{ NEM_SVC_HOST, NEM_HOST_BIND, on_host_bind, jm },
	};

	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (jm_channel_handle(jm, &handlers[i], err) == -1)
			return -1;
	}
	return 0;
}
