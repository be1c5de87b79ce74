/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * NEM connections on libevent: the receive state machine, the send queue,
 * outstanding requests of this side and incoming transactions. Each frame's
 * fixed header is read by a recvmsg of its own that starts at the frame's
 * first byte, and no read goes past the end of a frame. So a descriptor is
 * tied to the frame whose first byte it came with. Every quantity a peer
 * controls is bounded by struct nem_conn_limits, and going over a bound
 * closes this connection only and logs the bound and the peer.
 */
#include <nem/conn.h>
#include <nem/log.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

#include "internal.h"

#define TAB_SIZE 64			/* hash buckets per transaction table */
#define RX_CHUNK 65536			/* receive buffer growth step, bytes */
/*
 * Frames handled per read event. The read event is level-triggered, so the
 * loop comes back while bytes are left. One frame per event keeps the
 * connections on one loop fair, and it saves the read that would only
 * return EAGAIN in a request/reply exchange.
 */
#define RX_FRAMES_PER_WAKE 1
#define RX_MAX_FDS 8			/* descriptors one recvmsg can report;
					   more set MSG_CTRUNC */
#define OUT_IOV_MAX 32			/* frames gathered into one sendmsg */

/* Rounds n up to the alignment of any object, for trailing storage. */
#define ALIGN_UP(n) \
	(((n) + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1))

/* A frame waiting in the send queue. Its bytes follow in the allocation. */
struct out_frame {
	struct out_frame *next;
	int fd;				/* descriptor to attach to the first
					   byte, or -1 once sent or none */
	size_t len;			/* frame bytes */
	size_t off;			/* bytes already sent */
	uint8_t *data;
};

/* A request this side sent that still waits for its final reply. */
struct out_req {
	struct out_req *next;		/* hash chain */
	struct nem_conn *c;
	uint64_t seq;
	uint16_t service;
	uint16_t command;
	bool req_open;			/* our request stream is still open */
	unsigned replies;		/* reply frames received so far */
	uint32_t timeout_ms;		/* NEM_TIMEOUT_NONE: no timer */
	nem_reply_fn *fn;
	void *arg;
	struct event *timer;		/* in the same allocation, or NULL */
};

/*
 * An incoming transaction. It stays in the connection's table until the
 * final reply (done) or a cancel, timeout or close (ended, with c set to
 * NULL). It is freed once no callback on the stack uses it and either the
 * final reply went out or the cancel callback has run.
 */
struct nem_txn {
	struct nem_txn *next;		/* hash chain */
	struct nem_conn *c;		/* NULL once ended */
	uint64_t seq;
	uint16_t service;
	uint16_t command;
	bool req_open;			/* the requester's stream is open */
	bool in_call;			/* handler or cancel callback running */
	bool done;			/* final reply sent or dropped */
	bool ended;			/* ended without a final reply */
	int64_t end_code;		/* NEM_E_* that ended it */
	unsigned frames;		/* request frames received */
	uint32_t timeout_ms;		/* from time.timeout_ms, when timer */
	nem_handler_fn *fn;
	void *fn_arg;
	nem_cancel_fn *cancel_fn;
	void *cancel_arg;
	void *data;
	struct event *timer;		/* in the same allocation, or NULL */
};

struct mux_entry {
	uint32_t key;			/* service << 16 | command */
	nem_handler_fn *fn;
	void *arg;
};

struct nem_mux {
	struct mux_entry *v;		/* sorted by key */
	size_t n;
	size_t cap;
};

struct nem_conn {
	struct event_base *base;
	int fd;
	bool is_sock;			/* recvmsg/sendmsg, else read/writev */
	bool can_fd;			/* unix socket: descriptors can travel */
	struct event *ev_read;
	struct event *ev_write;
	struct event *ev_stall;
	struct event *ev_later;		/* runs a deferred close */
	struct nem_conn_limits lim;
	struct nem_mux *mux;
	char peer[64];
	nem_close_fn *close_fn;
	void *close_arg;
	void *data;

	/* Receive state: fixed header, then header and body into rx_buf. */
	uint8_t fixed[NEM_FIXED_LEN];
	size_t fixed_have;
	struct nem_fixed rx;
	bool rx_payload;		/* reading header and body */
	uint8_t *rx_buf;
	size_t rx_cap;
	size_t rx_have;
	size_t rx_need;
	size_t rx_peak;
	int rx_fd;			/* descriptor of the frame being read */
	bool stall_armed;
	uint64_t stall_frame;		/* frames_in when the timer was armed */

	/* Send queue. */
	struct out_frame *out_head;
	struct out_frame **out_tail;
	size_t out_bytes;
	uint32_t out_fds;
	bool write_armed;

	/* Transactions. */
	uint64_t last_seq;		/* last sequence number this side used */
	uint64_t max_in_seq;		/* highest request seq of the peer */
	struct out_req *out_tab[TAB_SIZE];
	uint32_t n_out;
	struct nem_txn *in_tab[TAB_SIZE];
	uint32_t n_in;
	uint64_t frames_in;
	uint64_t frames_out;

	/* Lifetime. */
	unsigned depth;			/* callbacks of this connection running */
	bool closed;
	bool closing;			/* a deferred close is scheduled */
	bool free_pending;
	struct nem_err later_err;
};

static void conn_close(struct nem_conn *c, const struct nem_err *why,
    bool notify);
static void txn_end(struct nem_txn *t, int64_t code);
static void txn_after_call(struct nem_txn *t);

/*
 * Lifetime guard: a connection whose callbacks are on the stack is freed
 * only when the outermost one returns.
 */
static void
conn_hold(struct nem_conn *c)
{
	c->depth++;
}

static void
conn_destroy(struct nem_conn *c)
{
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_stall);
	event_free(c->ev_later);
	free(c->rx_buf);
	free(c);
}

static void
conn_release(struct nem_conn *c)
{
	if (--c->depth == 0 && c->free_pending)
		conn_destroy(c);
}

static struct timeval
ms_to_tv(uint32_t ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

/* Closes the connection for a protocol violation or an exceeded bound. */
static void __attribute__((format(printf, 2, 3)))
conn_violation(struct nem_conn *c, const char *fmt, ...)
{
	struct nem_err e;
	va_list ap;

	e.code = EPROTO;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	log_warn("%s: closing connection: %s", c->peer, e.msg);
	conn_close(c, &e, true);
}

static void
later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct nem_conn *c = arg;

	conn_hold(c);
	log_warn("%s: closing connection: %s", c->peer, c->later_err.msg);
	conn_close(c, &c->later_err, true);
	conn_release(c);
}

/*
 * Schedules a close from a context where callbacks must not run (inside a
 * send called by the application). Sends fail from now on.
 */
static void
conn_close_later(struct nem_conn *c, const struct nem_err *why)
{
	if (c->closed || c->closing)
		return;
	c->closing = true;
	c->later_err = *why;
	event_active(c->ev_later, EV_READ, 1);
}

/* ---- hash tables of transactions ---- */

static struct out_req *
out_find(struct nem_conn *c, uint64_t seq)
{
	struct out_req *r;

	for (r = c->out_tab[seq % TAB_SIZE]; r != NULL; r = r->next)
		if (r->seq == seq)
			return r;
	return NULL;
}

static void
out_insert(struct nem_conn *c, struct out_req *r)
{
	r->next = c->out_tab[r->seq % TAB_SIZE];
	c->out_tab[r->seq % TAB_SIZE] = r;
	c->n_out++;
}

static void
out_remove(struct nem_conn *c, struct out_req *r)
{
	struct out_req **pp = &c->out_tab[r->seq % TAB_SIZE];

	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
	c->n_out--;
	if (r->timer != NULL)
		event_del(r->timer);
}

static struct nem_txn *
in_find(struct nem_conn *c, uint64_t seq)
{
	struct nem_txn *t;

	for (t = c->in_tab[seq % TAB_SIZE]; t != NULL; t = t->next)
		if (t->seq == seq)
			return t;
	return NULL;
}

static void
in_insert(struct nem_conn *c, struct nem_txn *t)
{
	t->next = c->in_tab[t->seq % TAB_SIZE];
	c->in_tab[t->seq % TAB_SIZE] = t;
	c->n_in++;
}

/* Takes t out of its connection's table and sets t->c to NULL. */
static void
in_detach(struct nem_txn *t)
{
	struct nem_conn *c = t->c;
	struct nem_txn **pp;

	if (c == NULL)
		return;
	pp = &c->in_tab[t->seq % TAB_SIZE];
	while (*pp != t)
		pp = &(*pp)->next;
	*pp = t->next;
	c->n_in--;
	if (t->timer != NULL)
		event_del(t->timer);
	t->c = NULL;
}

/* ---- sending ---- */

static void
out_frame_free(struct nem_conn *c, struct out_frame *f)
{
	if (f->fd != -1) {
		close(f->fd);
		c->out_fds--;
	}
	c->out_bytes -= f->len - f->off;
	free(f);
}

/*
 * Sends as much of the queue as the socket takes. A frame with a descriptor
 * starts a sendmsg of its own, so the descriptor rides with the frame's
 * first byte. Returns 0 (the rest waits for EV_WRITE), or -1 with errno.
 */
static int
conn_flush(struct nem_conn *c)
{
	while (c->out_head != NULL) {
		union {
			struct cmsghdr hdr;
			char buf[CMSG_SPACE(sizeof(int))];
		} cm;
		struct iovec iov[OUT_IOV_MAX];
		struct msghdr mh;
		struct out_frame *f = c->out_head;
		int niov = 0;
		ssize_t n;

		memset(&mh, 0, sizeof(mh));
		for (struct out_frame *g = f; g != NULL && niov < OUT_IOV_MAX;
		    g = g->next) {
			if (g != f && g->fd != -1)
				break;
			iov[niov].iov_base = g->data + g->off;
			iov[niov].iov_len = g->len - g->off;
			niov++;
		}
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)niov;
		if (f->fd != -1) {
			struct cmsghdr *cmsg;

			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof(cm.buf);
			cmsg = CMSG_FIRSTHDR(&mh);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cmsg), &f->fd, sizeof(int));
		}

		if (c->is_sock)
			n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			n = writev(c->fd, iov, niov);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->write_armed) {
				event_add(c->ev_write, NULL);
				c->write_armed = true;
			}
			return 0;
		}
		if (n == -1)
			return -1;

		/* The descriptor went out with the first byte sent. */
		if (f->fd != -1 && n > 0) {
			close(f->fd);
			f->fd = -1;
			c->out_fds--;
		}
		while (n > 0) {
			struct out_frame *g = c->out_head;
			size_t left = g->len - g->off;
			size_t took = (size_t)n < left ? (size_t)n : left;

			g->off += took;
			c->out_bytes -= took;
			n -= (ssize_t)took;
			if (g->off == g->len) {
				c->out_head = g->next;
				if (c->out_head == NULL)
					c->out_tail = &c->out_head;
				free(g);
			}
		}
	}
	if (c->write_armed) {
		event_del(c->ev_write);
		c->write_armed = false;
	}
	return 0;
}

static void
write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct nem_conn *c = arg;
	struct nem_err e;

	conn_hold(c);
	if (conn_flush(c) == -1) {
		nem_err_sys(&e, errno, "send failed");
		log_warn("%s: closing connection: %s", c->peer, e.msg);
		conn_close(c, &e, true);
	}
	conn_release(c);
}

/*
 * Queues one frame and tries to send it at once.
 *	c	 the connection
 *	fx	 fixed-header values (flags, seq, service, command)
 *	h	 header fields, or NULL
 *	body	 body_len bytes of body
 *	fd	 descriptor to pass (duplicated), or -1
 *	err	 the failure
 * Never runs callbacks. A send error or an exceeded bound schedules the
 * close for the event loop.
 */
static int
conn_send(struct nem_conn *c, const struct nem_fixed *fx,
    const struct nem_header *h, const void *body, size_t body_len, int fd,
    struct nem_err *err)
{
	const size_t prefix = ALIGN_UP(sizeof(struct out_frame));
	struct nem_fixed f = *fx;
	struct out_frame *of;
	uint8_t *mem;
	size_t len;
	int dup_fd = -1;

	if (c->closed || c->closing)
		return nem_err_set(err, ENOTCONN, "%s: connection closed",
		    c->peer);
	if (fd != -1) {
		if (!c->can_fd)
			return nem_err_set(err, EINVAL,
			    "%s: the transport cannot carry descriptors",
			    c->peer);
		if (c->out_fds + 1 > c->lim.max_fds) {
			struct nem_err e;

			nem_err_set(&e, ENOBUFS,
			    "descriptors queued for sending over the limit "
			    "of %u (peer not reading)", c->lim.max_fds);
			conn_close_later(c, &e);
			return nem_err_set(err, ENOBUFS, "%s: %s", c->peer,
			    e.msg);
		}
		f.flags |= NEM_F_FD;
	}

	if (nem_frame_build_at(&f, h, body, body_len, prefix, &mem, &len,
	    err) == -1) {
		nem_err_prefix(err, "%s", c->peer);
		return -1;
	}
	if (c->out_bytes + len + c->rx_cap > c->lim.max_buffered) {
		struct nem_err e;

		free(mem);
		nem_err_set(&e, ENOBUFS,
		    "buffered bytes over the limit of %zu (peer not reading)",
		    c->lim.max_buffered);
		conn_close_later(c, &e);
		return nem_err_set(err, ENOBUFS, "%s: %s", c->peer, e.msg);
	}
	if (fd != -1) {
		dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (dup_fd == -1) {
			int saved = errno;

			free(mem);
			return nem_err_sys(err, saved,
			    "%s: duplicate descriptor %d to send", c->peer, fd);
		}
	}

	of = (struct out_frame *)mem;
	of->next = NULL;
	of->fd = dup_fd;
	of->len = len;
	of->off = 0;
	of->data = mem + prefix;
	*c->out_tail = of;
	c->out_tail = &of->next;
	c->out_bytes += len;
	if (dup_fd != -1)
		c->out_fds++;
	c->frames_out++;

	if (!c->write_armed && conn_flush(c) == -1) {
		struct nem_err e;

		nem_err_sys(&e, errno, "send failed");
		conn_close_later(c, &e);
	}
	return 0;
}

/* ---- requests of this side ---- */

static void
req_timer_cb(evutil_socket_t fd, short what, void *arg);

static struct out_req *
req_new(struct nem_conn *c, uint32_t timeout_ms)
{
	size_t base = ALIGN_UP(sizeof(struct out_req));
	size_t size = base;
	struct out_req *r;

	if (timeout_ms != NEM_TIMEOUT_NONE)
		size += event_get_struct_event_size();
	r = calloc(1, size);
	if (r == NULL)
		return NULL;
	r->c = c;
	r->timeout_ms = timeout_ms;
	if (timeout_ms != NEM_TIMEOUT_NONE) {
		r->timer = (struct event *)((char *)r + base);
		if (event_assign(r->timer, c->base, -1, 0, req_timer_cb,
		    r) == -1) {
			free(r);
			return NULL;
		}
	}
	return r;
}

static void
req_arm(struct out_req *r)
{
	struct timeval tv;

	if (r->timer == NULL)
		return;
	tv = ms_to_tv(r->timeout_ms);
	event_add(r->timer, &tv);
}

/* Calls r's callback with a failure detected on this side. */
static void
req_fail_local(struct nem_conn *c, struct out_req *r, int64_t code,
    const char *reason)
{
	struct nem_msg m;

	memset(&m, 0, sizeof(m));
	m.seq = r->seq;
	m.service = r->service;
	m.command = r->command;
	m.flags = NEM_F_REPLY;
	m.index = r->replies;
	m.local = true;
	m.hdr.code = code;
	m.hdr.reason = reason;
	m.fd = -1;
	r->fn(c, &m, r->arg);
	if (m.fd != -1)
		close(m.fd);
}

/* Sends CANCEL for r, ignoring a closed connection. */
static void
req_send_cancel(struct nem_conn *c, struct out_req *r)
{
	struct nem_fixed f = { .flags = NEM_F_CANCEL, .seq = r->seq,
		.service = r->service, .command = r->command };

	conn_send(c, &f, NULL, NULL, 0, -1, NULL);
}

static void
req_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct out_req *r = arg;
	struct nem_conn *c = r->c;
	char reason[128];

	conn_hold(c);
	out_remove(c, r);
	req_send_cancel(c, r);
	snprintf(reason, sizeof(reason),
	    "no reply to service %u command %u within %u ms", r->service,
	    r->command, r->timeout_ms);
	log_debug("%s: request %llu timed out: %s", c->peer,
	    (unsigned long long)r->seq, reason);
	req_fail_local(c, r, NEM_E_TIMEDOUT, reason);
	free(r);
	conn_release(c);
}

int
nem_conn_request(struct nem_conn *c, const struct nem_request *rq,
    nem_reply_fn *fn, void *arg, uint64_t *seq, struct nem_err *err)
{
	struct nem_header h;
	struct nem_fixed f;
	struct out_req *r;
	uint32_t timeout;

	if (fn == NULL)
		return nem_err_set(err, EINVAL, "request without callback");
	if (c->closed || c->closing)
		return nem_err_set(err, ENOTCONN, "%s: connection closed",
		    c->peer);

	timeout = rq->timeout_ms != 0 ? rq->timeout_ms :
	    c->lim.default_timeout_ms;
	memset(&h, 0, sizeof(h));
	if (timeout != NEM_TIMEOUT_NONE) {
		h.has_timeout = true;
		h.timeout_ms = timeout;
	}
	memset(&f, 0, sizeof(f));
	f.seq = c->last_seq + 1;
	f.service = rq->service;
	f.command = rq->command;
	if (rq->more)
		f.flags |= NEM_F_CONTINUE;
	if (rq->route != NULL) {
		f.flags |= NEM_F_ROUTE;
		h.has_route = true;
		h.route = *rq->route;
	}

	r = req_new(c, timeout);
	if (r == NULL)
		return nem_err_sys(err, ENOMEM, "%s: request", c->peer);
	r->seq = f.seq;
	r->service = f.service;
	r->command = f.command;
	r->req_open = rq->more;
	r->fn = fn;
	r->arg = arg;
	if (conn_send(c, &f, &h, rq->body, rq->body_len, rq->fd, err) == -1) {
		free(r);
		return -1;
	}
	c->last_seq = f.seq;
	out_insert(c, r);
	req_arm(r);
	if (seq != NULL)
		*seq = f.seq;
	return 0;
}

int
nem_conn_request_more(struct nem_conn *c, uint64_t seq,
    const struct nem_send *s, struct nem_err *err)
{
	struct out_req *r = out_find(c, seq);
	struct nem_fixed f;

	if (r == NULL)
		return nem_err_set(err, ENOENT,
		    "%s: request %llu is not outstanding", c->peer,
		    (unsigned long long)seq);
	if (!r->req_open)
		return nem_err_set(err, EINVAL,
		    "%s: request %llu already sent its last frame", c->peer,
		    (unsigned long long)seq);
	memset(&f, 0, sizeof(f));
	f.seq = seq;
	f.service = r->service;
	f.command = r->command;
	if (s->more)
		f.flags |= NEM_F_CONTINUE;
	if (conn_send(c, &f, NULL, s->body, s->body_len, s->fd, err) == -1)
		return -1;
	r->req_open = s->more;
	req_arm(r);
	return 0;
}

int
nem_conn_cancel(struct nem_conn *c, uint64_t seq)
{
	struct out_req *r = out_find(c, seq);

	if (r == NULL) {
		errno = ENOENT;
		return -1;
	}
	conn_hold(c);
	out_remove(c, r);
	req_send_cancel(c, r);
	req_fail_local(c, r, NEM_E_CANCELLED, "request cancelled");
	free(r);
	conn_release(c);
	return 0;
}

/* ---- incoming transactions ---- */

static void
txn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct nem_txn *t = arg;
	struct nem_conn *c = t->c;

	conn_hold(c);
	log_debug("%s: request %llu passed its timeout, ending it", c->peer,
	    (unsigned long long)t->seq);
	txn_end(t, NEM_E_TIMEDOUT);
	conn_release(c);
}

/* (Re)starts t's timeout, which bounds the wait for each frame. */
static void
txn_arm(struct nem_txn *t)
{
	struct timeval tv;

	if (t->timer == NULL)
		return;
	tv = ms_to_tv(t->timeout_ms);
	event_add(t->timer, &tv);
}

static struct nem_txn *
txn_new(struct nem_conn *c, const struct nem_msg *m)
{
	bool timed = m->hdr.has_timeout && m->hdr.timeout_ms > 0;
	size_t base = ALIGN_UP(sizeof(struct nem_txn));
	size_t size = base;
	struct nem_txn *t;

	if (timed)
		size += event_get_struct_event_size();
	t = calloc(1, size);
	if (t == NULL)
		return NULL;
	t->c = c;
	t->seq = m->seq;
	t->service = m->service;
	t->command = m->command;
	t->req_open = (m->flags & NEM_F_CONTINUE) != 0;
	if (timed) {
		/* Longer waits than a day are treated as a day. */
		t->timeout_ms = m->hdr.timeout_ms > 86400000 ? 86400000 :
		    (uint32_t)m->hdr.timeout_ms;
		t->timer = (struct event *)((char *)t + base);
		if (event_assign(t->timer, c->base, -1, 0, txn_timer_cb,
		    t) == -1) {
			free(t);
			return NULL;
		}
		txn_arm(t);
	}
	return t;
}

static void
txn_maybe_free(struct nem_txn *t)
{
	if (t->in_call)
		return;
	if (t->done || (t->ended && t->cancel_fn != NULL))
		free(t);
}

/* Ends t without a final reply: detaches it and runs its cancel callback. */
static void
txn_end(struct nem_txn *t, int64_t code)
{
	in_detach(t);
	t->ended = true;
	t->end_code = code;
	if (t->in_call || t->cancel_fn == NULL)
		return;
	t->in_call = true;
	t->cancel_fn(t, code, t->cancel_arg);
	t->in_call = false;
	txn_maybe_free(t);
}

/* Finishes t after its handler returned. */
static void
txn_after_call(struct nem_txn *t)
{
	t->in_call = false;
	if (!t->done && t->ended && t->cancel_fn != NULL) {
		t->in_call = true;
		t->cancel_fn(t, t->end_code, t->cancel_arg);
		t->in_call = false;
	}
	txn_maybe_free(t);
}

/* Sends a reply frame for t. A final one also detaches t and may free it. */
static int
txn_send(struct nem_txn *t, const struct nem_header *h, const void *body,
    size_t body_len, int fd, bool more, struct nem_err *err)
{
	struct nem_conn *c = t->c;
	struct nem_fixed f;
	int rc;

	if (c == NULL) {
		int64_t end_code = t->end_code;
		int code = end_code == NEM_E_CANCELLED ? ECANCELED :
		    end_code == NEM_E_TIMEDOUT ? ETIMEDOUT : ENOTCONN;

		if (!more) {
			t->done = true;
			txn_maybe_free(t);
		}
		return nem_err_set(err, code,
		    "reply dropped: the transaction already ended (%s)",
		    nem_code_name(end_code));
	}
	memset(&f, 0, sizeof(f));
	f.flags = NEM_F_REPLY | (more ? NEM_F_CONTINUE : 0);
	f.seq = t->seq;
	f.service = t->service;
	f.command = t->command;
	rc = conn_send(c, &f, h, body, body_len, fd, err);
	if (more)
		txn_arm(t);
	if (!more) {
		in_detach(t);
		t->done = true;
		txn_maybe_free(t);
	}
	return rc;
}

int
nem_txn_reply(struct nem_txn *t, const struct nem_send *s,
    struct nem_err *err)
{
	return txn_send(t, NULL, s->body, s->body_len, s->fd, s->more, err);
}

int
nem_txn_fail(struct nem_txn *t, int64_t code, const char *reason,
    struct nem_err *err)
{
	struct nem_header h;

	memset(&h, 0, sizeof(h));
	h.code = code != NEM_OK ? code : NEM_E_INTERNAL;
	h.reason = reason;
	return txn_send(t, &h, NULL, 0, -1, false, err);
}

int
nem_txn_fail_err(struct nem_txn *t, const struct nem_err *e,
    struct nem_err *err)
{
	return nem_txn_fail(t, nem_code_from_errno(e->code), e->msg, err);
}

void
nem_txn_on_cancel(struct nem_txn *t, nem_cancel_fn *fn, void *arg)
{
	t->cancel_fn = fn;
	t->cancel_arg = arg;
}

struct nem_conn *
nem_txn_conn(const struct nem_txn *t)
{
	return t->c;
}

uint64_t
nem_txn_seq(const struct nem_txn *t)
{
	return t->seq;
}

uint16_t
nem_txn_service(const struct nem_txn *t)
{
	return t->service;
}

uint16_t
nem_txn_command(const struct nem_txn *t)
{
	return t->command;
}

void
nem_txn_set_data(struct nem_txn *t, void *data)
{
	t->data = data;
}

void *
nem_txn_data(const struct nem_txn *t)
{
	return t->data;
}

/* ---- handler table ---- */

struct nem_mux *
nem_mux_new(struct nem_err *err)
{
	struct nem_mux *mux = calloc(1, sizeof(*mux));

	if (mux == NULL)
		nem_err_sys(err, ENOMEM, "handler table");
	return mux;
}

void
nem_mux_free(struct nem_mux *mux)
{
	if (mux == NULL)
		return;
	free(mux->v);
	free(mux);
}

static const struct mux_entry *
mux_find(const struct nem_mux *mux, uint16_t service, uint16_t command)
{
	uint32_t key = (uint32_t)service << 16 | command;
	size_t lo = 0, hi;

	if (mux == NULL)
		return NULL;
	hi = mux->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mux->v[mid].key == key)
			return &mux->v[mid];
		if (mux->v[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int
nem_mux_add(struct nem_mux *mux, uint16_t service, uint16_t command,
    nem_handler_fn *fn, void *arg, struct nem_err *err)
{
	uint32_t key = (uint32_t)service << 16 | command;
	size_t i;

	if (mux_find(mux, service, command) != NULL)
		return nem_err_set(err, EEXIST,
		    "service %u command %u already has a handler", service,
		    command);
	if (mux->n == mux->cap) {
		size_t cap = mux->cap ? mux->cap * 2 : 16;
		struct mux_entry *v = reallocarray(mux->v, cap, sizeof(*v));

		if (v == NULL)
			return nem_err_sys(err, ENOMEM, "handler table");
		mux->v = v;
		mux->cap = cap;
	}
	for (i = mux->n; i > 0 && mux->v[i - 1].key > key; i--)
		mux->v[i] = mux->v[i - 1];
	mux->v[i].key = key;
	mux->v[i].fn = fn;
	mux->v[i].arg = arg;
	mux->n++;
	return 0;
}

/* ---- receiving ---- */

static void
dispatch_reply(struct nem_conn *c, struct nem_msg *m)
{
	struct out_req *r = out_find(c, m->seq);
	bool final = (m->flags & NEM_F_CONTINUE) == 0;

	if (r == NULL) {
		if (m->seq == 0 || m->seq > c->last_seq) {
			conn_violation(c, "reply to seq %llu, which this side "
			    "never requested", (unsigned long long)m->seq);
			return;
		}
		log_debug("%s: dropping reply to ended request %llu", c->peer,
		    (unsigned long long)m->seq);
		return;
	}
	if (r->service != m->service || r->command != m->command) {
		conn_violation(c, "reply to seq %llu names service %u command "
		    "%u, but the request was service %u command %u",
		    (unsigned long long)m->seq, m->service, m->command,
		    r->service, r->command);
		return;
	}

	m->index = r->replies++;
	if (final) {
		out_remove(c, r);
	} else {
		/* The timeout bounds the wait for each frame. */
		req_arm(r);
	}
	r->fn(c, m, r->arg);
	if (final)
		free(r);
}

static void
dispatch_cancel(struct nem_conn *c, struct nem_msg *m)
{
	struct nem_txn *t = in_find(c, m->seq);

	if (t == NULL) {
		log_debug("%s: dropping CANCEL for ended request %llu",
		    c->peer, (unsigned long long)m->seq);
		return;
	}
	txn_end(t, NEM_E_CANCELLED);
}

static void
dispatch_request(struct nem_conn *c, struct nem_msg *m)
{
	const struct mux_entry *h;
	struct nem_txn *t = in_find(c, m->seq);
	char reason[96];

	if (t != NULL) {
		if (!t->req_open) {
			conn_violation(c, "request seq %llu reuses the number "
			    "of an outstanding request",
			    (unsigned long long)m->seq);
			return;
		}
		t->req_open = (m->flags & NEM_F_CONTINUE) != 0;
		m->index = t->frames++;
		txn_arm(t);
		t->in_call = true;
		t->fn(t, m, t->fn_arg);
		txn_after_call(t);
		return;
	}
	if (m->seq == 0) {
		conn_violation(c, "request with seq 0; numbering starts at 1");
		return;
	}
	if (m->seq <= c->max_in_seq) {
		log_debug("%s: dropping frame for ended request %llu", c->peer,
		    (unsigned long long)m->seq);
		return;
	}
	c->max_in_seq = m->seq;
	if (c->n_in >= c->lim.max_incoming) {
		conn_violation(c, "outstanding incoming transactions over the "
		    "limit of %u", c->lim.max_incoming);
		return;
	}

	t = txn_new(c, m);
	if (t == NULL) {
		conn_violation(c, "out of memory for request %llu",
		    (unsigned long long)m->seq);
		return;
	}
	in_insert(c, t);
	t->frames = 1;
	h = mux_find(c->mux, m->service, m->command);
	if (h == NULL) {
		snprintf(reason, sizeof(reason),
		    "unknown service %u or command %u", m->service,
		    m->command);
		nem_txn_fail(t, NEM_E_UNKNOWN, reason, NULL);
		return;
	}
	t->fn = h->fn;
	t->fn_arg = h->arg;
	t->in_call = true;
	h->fn(t, m, h->arg);
	txn_after_call(t);
}

/* Handles the complete frame in c->rx and c->rx_buf. */
static void
conn_dispatch(struct nem_conn *c)
{
	struct nem_msg m;
	struct nem_err e;

	memset(&m, 0, sizeof(m));
	m.fd = c->rx_fd;
	c->rx_fd = -1;
	c->fixed_have = 0;
	c->rx_payload = false;
	c->frames_in++;

	if (nem_header_decode(c->rx_buf, c->rx.header_len, &m.hdr,
	    &e) == -1) {
		if (m.fd != -1)
			close(m.fd);
		conn_violation(c, "%s", e.msg);
		return;
	}
	m.seq = c->rx.seq;
	m.service = c->rx.service;
	m.command = c->rx.command;
	m.flags = c->rx.flags;
	m.body = c->rx_buf != NULL ? c->rx_buf + c->rx.header_len : NULL;
	m.body_len = c->rx.body_len;

	if (m.flags & NEM_F_REPLY)
		dispatch_reply(c, &m);
	else if (m.flags & NEM_F_CANCEL)
		dispatch_cancel(c, &m);
	else
		dispatch_request(c, &m);
	if (m.fd != -1)
		close(m.fd);

	/*
	 * Keep a large receive buffer while large frames follow each other,
	 * and give it back after the first small one. Freeing it after every
	 * large frame cost a fresh mapping and its page faults per frame.
	 * NOTE: a connection that goes idle after a large frame keeps up to
	 * one maximum frame allocated until its next small frame.
	 */
	if (!c->closed && c->rx_cap > RX_CHUNK &&
	    (size_t)c->rx.header_len + c->rx.body_len <= RX_CHUNK) {
		free(c->rx_buf);
		c->rx_buf = NULL;
		c->rx_cap = 0;
	}
}

/*
 * Reads up to n bytes with recvmsg, returning received descriptors in fds
 * (at most RX_MAX_FDS, all close-on-exec) and their count in *nfds.
 * *ctrunc is set when the kernel dropped descriptors that did not fit.
 */
static ssize_t
conn_recv(struct nem_conn *c, void *p, size_t n, int *fds, int *nfds,
    bool *ctrunc)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * RX_MAX_FDS)];
	} cm;
	struct iovec iov = { .iov_base = p, .iov_len = n };
	struct msghdr mh;
	ssize_t r;

	*nfds = 0;
	*ctrunc = false;
	if (!c->is_sock) {
		do
			r = read(c->fd, p, n);
		while (r == -1 && errno == EINTR);
		return r;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	do
		r = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (r == -1 && errno == EINTR);
	if (r == -1)
		return -1;

	for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&mh, cmsg)) {
		size_t count;

		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS ||
		    cmsg->cmsg_len < CMSG_LEN(0))
			continue;
		count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			if (*nfds < RX_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	*ctrunc = (mh.msg_flags & MSG_CTRUNC) != 0;
	return r;
}

/*
 * Checks descriptors that came with a read. Only the read of a frame's
 * first byte may bring one, and only one. Returns 0, or -1 after closing
 * them all and the connection.
 */
static int
conn_accept_fds(struct nem_conn *c, bool first, const int *fds, int nfds,
    bool ctrunc)
{
	if (nfds == 1 && !ctrunc && first && c->rx_fd == -1 &&
	    c->out_fds + 1 <= c->lim.max_fds) {
		c->rx_fd = fds[0];
		return 0;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (nfds > 1 || ctrunc)
		conn_violation(c, "%d descriptors%s arrived with one frame; "
		    "at most one is allowed", nfds, ctrunc ? " (and more)" : "");
	else if (!first)
		conn_violation(c, "a descriptor arrived after the first byte "
		    "of a frame");
	else
		conn_violation(c, "pending descriptors over the limit of %u",
		    c->lim.max_fds);
	return -1;
}

/* Closes for end of stream: clean between frames, a violation inside one. */
static void
conn_eof(struct nem_conn *c)
{
	struct nem_err e;

	if (c->rx_payload) {
		conn_violation(c, "truncated frame: end of stream after %zu of "
		    "%zu header and body bytes", c->rx_have, c->rx_need);
	} else if (c->fixed_have > 0) {
		conn_violation(c, "truncated frame: end of stream after %zu of "
		    "%d fixed-header bytes", c->fixed_have, NEM_FIXED_LEN);
	} else {
		nem_err_set(&e, ENOTCONN, "connection closed by peer");
		log_debug("%s: %s", c->peer, e.msg);
		conn_close(c, &e, true);
	}
}

static void
conn_read_error(struct nem_conn *c)
{
	struct nem_err e;

	nem_err_sys(&e, errno, "receive failed");
	log_warn("%s: closing connection: %s", c->peer, e.msg);
	conn_close(c, &e, true);
}

/* Makes room for more of the payload, within max_buffered. */
static int
conn_grow_rx(struct nem_conn *c)
{
	size_t cap = c->rx_cap * 2;
	uint8_t *buf;

	if (cap < RX_CHUNK)
		cap = RX_CHUNK;
	if (cap > c->rx_need)
		cap = c->rx_need;
	if (cap + c->out_bytes > c->lim.max_buffered) {
		conn_violation(c, "buffered bytes over the limit of %zu",
		    c->lim.max_buffered);
		return -1;
	}
	buf = realloc(c->rx_buf, cap);
	if (buf == NULL) {
		conn_violation(c, "out of memory for a frame of %zu bytes",
		    c->rx_need);
		return -1;
	}
	c->rx_buf = buf;
	c->rx_cap = cap;
	if (cap > c->rx_peak)
		c->rx_peak = cap;
	return 0;
}

/* Validates a complete fixed header and its descriptor. */
static int
conn_check_fixed(struct nem_conn *c)
{
	struct nem_err e;
	bool has_fd;

	if (nem_fixed_decode(c->fixed, &c->rx, &e) == -1) {
		conn_violation(c, "%s", e.msg);
		return -1;
	}
	has_fd = (c->rx.flags & NEM_F_FD) != 0;
	if (has_fd && !c->can_fd) {
		conn_violation(c, "FD flag on a transport that cannot carry "
		    "descriptors");
		return -1;
	}
	if (has_fd && c->rx_fd == -1) {
		conn_violation(c, "FD flag set but no descriptor arrived");
		return -1;
	}
	if (!has_fd && c->rx_fd != -1) {
		conn_violation(c, "a descriptor arrived with a frame without "
		    "the FD flag");
		return -1;
	}
	return 0;
}

/*
 * Reads towards the next frame and dispatches it when complete. Returns 1
 * after a dispatch, 0 when no more data is available now, -1 when the
 * connection got closed.
 */
static int
conn_read_frame(struct nem_conn *c)
{
	int fds[RX_MAX_FDS];
	bool ctrunc;
	ssize_t n;
	int nfds;

	if (!c->rx_payload) {
		bool first = c->fixed_have == 0;
		size_t want = NEM_FIXED_LEN - c->fixed_have;

		n = conn_recv(c, c->fixed + c->fixed_have, want, fds, &nfds,
		    &ctrunc);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == -1) {
			conn_read_error(c);
			return -1;
		}
		if ((nfds > 0 || ctrunc) &&
		    conn_accept_fds(c, first, fds, nfds, ctrunc) == -1)
			return -1;
		if (n == 0) {
			conn_eof(c);
			return -1;
		}
		c->fixed_have += (size_t)n;
		if ((size_t)n < want)
			return 0;
		if (conn_check_fixed(c) == -1)
			return -1;

		/* Both lengths were checked against their maxima. */
		c->rx_need = (size_t)c->rx.header_len + c->rx.body_len;
		c->rx_have = 0;
		if (c->rx_need == 0) {
			conn_dispatch(c);
			return c->closed ? -1 : 1;
		}
		c->rx_payload = true;
	}

	for (;;) {
		size_t want;

		if (c->rx_have == c->rx_cap && c->rx_cap < c->rx_need &&
		    conn_grow_rx(c) == -1)
			return -1;
		want = (c->rx_cap < c->rx_need ? c->rx_cap : c->rx_need) -
		    c->rx_have;
		n = conn_recv(c, c->rx_buf + c->rx_have, want, fds, &nfds,
		    &ctrunc);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == -1) {
			conn_read_error(c);
			return -1;
		}
		if ((nfds > 0 || ctrunc) &&
		    conn_accept_fds(c, false, fds, nfds, ctrunc) == -1)
			return -1;
		if (n == 0) {
			conn_eof(c);
			return -1;
		}
		c->rx_have += (size_t)n;
		if (c->rx_have == c->rx_need) {
			conn_dispatch(c);
			return c->closed ? -1 : 1;
		}
		if ((size_t)n < want)
			return 0;
	}
}

static void
stall_cb(evutil_socket_t fd, short what, void *arg)
{
	struct nem_conn *c = arg;

	conn_hold(c);
	c->stall_armed = false;
	conn_violation(c, "partly received frame stalled for over %u ms "
	    "(stall timeout)", c->lim.stall_timeout_ms);
	conn_release(c);
}

static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct nem_conn *c = arg;
	bool partial;

	conn_hold(c);
	for (int i = 0; i < RX_FRAMES_PER_WAKE; i++)
		if (conn_read_frame(c) != 1)
			break;
	if (!c->closed) {
		partial = c->fixed_have > 0 || c->rx_payload;
		if (partial && (!c->stall_armed ||
		    c->stall_frame != c->frames_in)) {
			struct timeval tv = ms_to_tv(c->lim.stall_timeout_ms);

			evtimer_add(c->ev_stall, &tv);
			c->stall_armed = true;
			c->stall_frame = c->frames_in;
		} else if (!partial && c->stall_armed) {
			evtimer_del(c->ev_stall);
			c->stall_armed = false;
		}
	}
	conn_release(c);
}

/* ---- lifetime ---- */

static void
conn_close(struct nem_conn *c, const struct nem_err *why, bool notify)
{
	char reason[NEM_ERR_MSG_MAX + 32];

	if (c->closed)
		return;
	c->closed = true;
	conn_hold(c);

	event_del(c->ev_read);
	event_del(c->ev_write);
	evtimer_del(c->ev_stall);
	event_del(c->ev_later);
	close(c->fd);
	c->fd = -1;
	if (c->rx_fd != -1) {
		close(c->rx_fd);
		c->rx_fd = -1;
	}
	while (c->out_head != NULL) {
		struct out_frame *f = c->out_head;

		c->out_head = f->next;
		out_frame_free(c, f);
	}
	c->out_tail = &c->out_head;

	snprintf(reason, sizeof(reason), "connection closed: %s", why->msg);
	for (size_t i = 0; i < TAB_SIZE; i++) {
		while (c->out_tab[i] != NULL) {
			struct out_req *r = c->out_tab[i];

			out_remove(c, r);
			req_fail_local(c, r, NEM_E_UNAVAILABLE, reason);
			free(r);
		}
	}
	for (size_t i = 0; i < TAB_SIZE; i++)
		while (c->in_tab[i] != NULL)
			txn_end(c->in_tab[i], NEM_E_UNAVAILABLE);

	if (notify && c->close_fn != NULL)
		c->close_fn(c, why, c->close_arg);
	conn_release(c);
}

void
nem_conn_limits_default(struct nem_conn_limits *lim)
{
	lim->max_incoming = 128;
	lim->max_buffered = 4u << 20;
	lim->max_fds = 64;
	lim->stall_timeout_ms = 10000;
	lim->default_timeout_ms = 30000;
}

struct nem_conn *
nem_conn_new(struct event_base *base, int fd,
    const struct nem_conn_limits *lim, struct nem_mux *mux,
    struct nem_err *err)
{
	/* A handler must be able to queue a maximum reply while the maximum
	   request it handles is still in the receive buffer. */
	const size_t buffered_min = 2 * ((size_t)NEM_FIXED_LEN +
	    NEM_HEADER_MAX + NEM_BODY_MAX);
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct nem_conn *c;
	struct stat st;
	int flags;

	if (fd < 0 || fstat(fd, &st) == -1) {
		nem_err_sys(err, fd < 0 ? EBADF : errno,
		    "connection on descriptor %d", fd);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (lim != NULL && (lim->max_buffered < buffered_min ||
	    lim->max_incoming == 0 || lim->max_fds == 0 ||
	    lim->stall_timeout_ms == 0 || lim->default_timeout_ms == 0)) {
		close(fd);
		nem_err_set(err, EINVAL, "invalid connection limits: "
		    "max_buffered must be at least %zu and the others "
		    "non-zero", buffered_min);
		return NULL;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		nem_err_sys(err, errno, "make descriptor %d non-blocking", fd);
		close(fd);
		return NULL;
	}

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		nem_err_sys(err, ENOMEM, "connection");
		return NULL;
	}
	c->base = base;
	c->fd = fd;
	c->rx_fd = -1;
	c->mux = mux;
	c->out_tail = &c->out_head;
	if (lim != NULL)
		c->lim = *lim;
	else
		nem_conn_limits_default(&c->lim);
	c->is_sock = S_ISSOCK(st.st_mode);
	c->can_fd = c->is_sock &&
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0 &&
	    ss.ss_family == AF_UNIX;
	snprintf(c->peer, sizeof(c->peer), "fd %d", fd);

	c->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, read_cb, c);
	c->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
	c->ev_stall = evtimer_new(base, stall_cb, c);
	c->ev_later = event_new(base, -1, 0, later_cb, c);
	if (c->ev_read == NULL || c->ev_write == NULL || c->ev_stall == NULL ||
	    c->ev_later == NULL || event_add(c->ev_read, NULL) == -1) {
		if (c->ev_read != NULL)
			event_free(c->ev_read);
		if (c->ev_write != NULL)
			event_free(c->ev_write);
		if (c->ev_stall != NULL)
			event_free(c->ev_stall);
		if (c->ev_later != NULL)
			event_free(c->ev_later);
		free(c);
		close(fd);
		nem_err_set(err, ENOMEM, "connection events for fd %d", fd);
		return NULL;
	}
	return c;
}

void
nem_conn_free(struct nem_conn *c)
{
	struct nem_err e;

	if (c == NULL)
		return;
	if (!c->closed) {
		nem_err_set(&e, ENOTCONN, "connection freed by this side");
		conn_close(c, &e, false);
	}
	if (c->depth > 0) {
		c->free_pending = true;
		return;
	}
	conn_destroy(c);
}

void
nem_conn_set_peer(struct nem_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->peer, sizeof(c->peer), fmt, ap);
	va_end(ap);
}

const char *
nem_conn_peer(const struct nem_conn *c)
{
	return c->peer;
}

void
nem_conn_set_close_cb(struct nem_conn *c, nem_close_fn *fn, void *arg)
{
	c->close_fn = fn;
	c->close_arg = arg;
}

void
nem_conn_set_data(struct nem_conn *c, void *data)
{
	c->data = data;
}

void *
nem_conn_data(const struct nem_conn *c)
{
	return c->data;
}

bool
nem_conn_is_closed(const struct nem_conn *c)
{
	return c->closed || c->closing;
}

void
nem_conn_stats(const struct nem_conn *c, struct nem_conn_stats *st)
{
	st->incoming = c->n_in;
	st->outgoing = c->n_out;
	st->out_bytes = c->out_bytes;
	st->out_fds = c->out_fds;
	st->rx_buffer = c->rx_cap;
	st->rx_buffer_peak = c->rx_peak;
	st->frames_in = c->frames_in;
	st->frames_out = c->frames_out;
}
