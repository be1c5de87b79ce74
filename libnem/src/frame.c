/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The frame codec: fixed header, BSON header (through libbson) and body.
 * Every length from the wire is checked against its maximum before it sizes
 * anything, and the fixed header is read through the bounds-checked cursor.
 * Nothing here does I/O or keeps state between calls.
 */
#include <nem/buf.h>
#include <nem/frame.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

void
nem_fixed_encode(const struct nem_fixed *f, uint8_t out[NEM_FIXED_LEN])
{
	uint8_t *p = out;

	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(f->magic >> (8 * i));
	*p++ = f->version;
	*p++ = f->flags;
	for (int i = 0; i < 2; i++)
		*p++ = (uint8_t)(f->header_len >> (8 * i));
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(f->seq >> (8 * i));
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(f->body_len >> (8 * i));
	for (int i = 0; i < 2; i++)
		*p++ = (uint8_t)(f->service >> (8 * i));
	for (int i = 0; i < 2; i++)
		*p++ = (uint8_t)(f->command >> (8 * i));
}

int
nem_fixed_decode(const uint8_t in[NEM_FIXED_LEN], struct nem_fixed *f,
    struct nem_err *err)
{
	struct nem_buf b;

	nem_buf_init(&b, in, NEM_FIXED_LEN);
	if (nem_buf_get_u32(&b, &f->magic) == -1 ||
	    nem_buf_get_u8(&b, &f->version) == -1 ||
	    nem_buf_get_u8(&b, &f->flags) == -1 ||
	    nem_buf_get_u16(&b, &f->header_len) == -1 ||
	    nem_buf_get_u64(&b, &f->seq) == -1 ||
	    nem_buf_get_u32(&b, &f->body_len) == -1 ||
	    nem_buf_get_u16(&b, &f->service) == -1 ||
	    nem_buf_get_u16(&b, &f->command) == -1)
		return nem_err_set(err, EBADMSG, "short fixed header");

	if (f->magic != NEM_MAGIC)
		return nem_err_set(err, EBADMSG,
		    "bad magic 0x%08x, expected 0x%08x (not a NEM peer?)",
		    f->magic, NEM_MAGIC);
	if (f->version != NEM_VERSION)
		return nem_err_set(err, EBADMSG,
		    "unsupported protocol version %u, expected %u",
		    f->version, NEM_VERSION);
	if ((f->flags & NEM_F_RESERVED) != 0)
		return nem_err_set(err, EBADMSG,
		    "reserved flag bits set in flags 0x%02x", f->flags);
	if ((f->flags & NEM_F_REPLY) && (f->flags & NEM_F_CANCEL))
		return nem_err_set(err, EBADMSG,
		    "flags 0x%02x set both REPLY and CANCEL", f->flags);
	if (f->header_len > NEM_HEADER_MAX)
		return nem_err_set(err, EMSGSIZE,
		    "header_len %u over the maximum of %u", f->header_len,
		    NEM_HEADER_MAX);
	if (f->header_len > 0 && f->header_len < 5)
		return nem_err_set(err, EBADMSG,
		    "header_len %u is shorter than a BSON document (5 bytes)",
		    f->header_len);
	if (f->body_len > NEM_BODY_MAX)
		return nem_err_set(err, EMSGSIZE,
		    "body_len %u over the maximum of %u", f->body_len,
		    NEM_BODY_MAX);
	return 0;
}

/* Reads an int32 or int64 element. Returns false for any other type. */
static bool
iter_int(const bson_iter_t *it, int64_t *out)
{
	if (BSON_ITER_HOLDS_INT32(it)) {
		*out = bson_iter_int32(it);
		return true;
	}
	if (BSON_ITER_HOLDS_INT64(it)) {
		*out = bson_iter_int64(it);
		return true;
	}
	return false;
}

static int
decode_err(bson_iter_t *sub, struct nem_header *h, struct nem_err *err)
{
	while (bson_iter_next(sub)) {
		const char *key = bson_iter_key(sub);

		if (strcmp(key, "code") == 0) {
			if (!iter_int(sub, &h->code))
				return nem_err_set(err, EBADMSG,
				    "header field err.code is not an integer");
		} else if (strcmp(key, "reason") == 0) {
			if (!BSON_ITER_HOLDS_UTF8(sub))
				return nem_err_set(err, EBADMSG,
				    "header field err.reason is not a string");
			h->reason = bson_iter_utf8(sub, NULL);
		}
	}
	return 0;
}

static int
decode_route(bson_iter_t *sub, struct nem_header *h, struct nem_err *err)
{
	static const char *const keys[] = { "cluster", "host", "inst", "obj" };
	const char **slots[] = { &h->route.cluster, &h->route.host,
		&h->route.inst, &h->route.obj };

	h->has_route = true;
	while (bson_iter_next(sub)) {
		const char *key = bson_iter_key(sub);

		for (size_t i = 0; i < 4; i++) {
			if (strcmp(key, keys[i]) != 0)
				continue;
			if (!BSON_ITER_HOLDS_UTF8(sub))
				return nem_err_set(err, EBADMSG,
				    "header field route.%s is not a string",
				    keys[i]);
			*slots[i] = bson_iter_utf8(sub, NULL);
		}
	}
	return 0;
}

static int
decode_time(bson_iter_t *sub, struct nem_header *h, struct nem_err *err)
{
	while (bson_iter_next(sub)) {
		if (strcmp(bson_iter_key(sub), "timeout_ms") != 0)
			continue;
		if (!iter_int(sub, &h->timeout_ms))
			return nem_err_set(err, EBADMSG,
			    "header field time.timeout_ms is not an integer");
		if (h->timeout_ms < 0)
			return nem_err_set(err, EBADMSG,
			    "header field time.timeout_ms is negative (%lld)",
			    (long long)h->timeout_ms);
		h->has_timeout = true;
	}
	return 0;
}

int
nem_header_decode(const uint8_t *p, size_t len, struct nem_header *h,
    struct nem_err *err)
{
	bson_iter_t it, sub;
	size_t bad_off;
	bson_t doc;

	memset(h, 0, sizeof(*h));
	if (len == 0)
		return 0;
	if (len > NEM_HEADER_MAX)
		return nem_err_set(err, EMSGSIZE,
		    "header of %zu bytes over the maximum of %u", len,
		    NEM_HEADER_MAX);

	/* bson_init_static checks that the document's own length is len. */
	if (!bson_init_static(&doc, p, len))
		return nem_err_set(err, EBADMSG,
		    "header is not a BSON document of header_len %zu bytes",
		    len);
	if (!bson_validate(&doc, BSON_VALIDATE_UTF8, &bad_off))
		return nem_err_set(err, EBADMSG,
		    "header BSON is malformed at byte %zu", bad_off);
	if (!bson_iter_init(&it, &doc))
		return nem_err_set(err, EBADMSG, "header BSON is malformed");

	while (bson_iter_next(&it)) {
		const char *key = bson_iter_key(&it);
		int (*decode)(bson_iter_t *, struct nem_header *,
		    struct nem_err *) = NULL;

		if (strcmp(key, "err") == 0)
			decode = decode_err;
		else if (strcmp(key, "route") == 0)
			decode = decode_route;
		else if (strcmp(key, "time") == 0)
			decode = decode_time;
		if (decode == NULL)
			continue;
		if (!BSON_ITER_HOLDS_DOCUMENT(&it) ||
		    !bson_iter_recurse(&it, &sub))
			return nem_err_set(err, EBADMSG,
			    "header field %s is not a document", key);
		if (decode(&sub, h, err) == -1)
			return -1;
	}
	return 0;
}

int
nem_frame_decode(const uint8_t *p, size_t len, struct nem_msg *msg,
    size_t *used, struct nem_err *err)
{
	struct nem_fixed f;
	size_t need;

	memset(msg, 0, sizeof(*msg));
	msg->fd = -1;
	if (len < NEM_FIXED_LEN) {
		/* Reject a wrong magic as soon as its bytes are there. */
		uint8_t magic[4] = { 0x21, 0x6d, 0x65, 0x6e };

		if (memcmp(p, magic, len < 4 ? len : 4) != 0)
			return nem_err_set(err, EBADMSG, "bad magic");
		return 0;
	}
	if (nem_fixed_decode(p, &f, err) == -1)
		return -1;

	/* Both lengths are bounded above, so this sum cannot overflow. */
	need = NEM_FIXED_LEN + (size_t)f.header_len + (size_t)f.body_len;
	if (len < need)
		return 0;
	if (nem_header_decode(p + NEM_FIXED_LEN, f.header_len, &msg->hdr,
	    err) == -1)
		return -1;

	msg->seq = f.seq;
	msg->service = f.service;
	msg->command = f.command;
	msg->flags = f.flags;
	msg->body = p + NEM_FIXED_LEN + f.header_len;
	msg->body_len = f.body_len;
	*used = need;
	return 1;
}

/*
 * Copies reason into dst (dst_size bytes), replacing every byte that is not
 * printable ASCII with '?'. The peer rejects a header with invalid UTF-8, so
 * a reason built from a file name or an OS message must not carry raw bytes.
 */
static void
sanitize_reason(const char *reason, char *dst, size_t dst_size)
{
	size_t i;

	for (i = 0; reason[i] != '\0' && i + 1 < dst_size; i++) {
		unsigned char ch = (unsigned char)reason[i];

		dst[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	dst[i] = '\0';
}

/* Appends h's fields to doc. Returns false when libbson fails. */
static bool
header_append(bson_t *doc, const struct nem_header *h, struct nem_err *err)
{
	bson_t sub;

	if (h->code != 0 || h->reason != NULL) {
		char reason[1024];

		if (!BSON_APPEND_DOCUMENT_BEGIN(doc, "err", &sub) ||
		    !BSON_APPEND_INT64(&sub, "code", h->code))
			return false;
		if (h->reason != NULL) {
			sanitize_reason(h->reason, reason, sizeof(reason));
			if (!BSON_APPEND_UTF8(&sub, "reason", reason))
				return false;
		}
		if (!bson_append_document_end(doc, &sub))
			return false;
	}
	if (h->has_route) {
		static const char *const keys[] = { "cluster", "host", "inst",
			"obj" };
		const char *vals[] = { h->route.cluster, h->route.host,
			h->route.inst, h->route.obj };

		if (!BSON_APPEND_DOCUMENT_BEGIN(doc, "route", &sub))
			return false;
		for (size_t i = 0; i < 4; i++) {
			if (vals[i] == NULL)
				continue;
			if (!bson_utf8_validate(vals[i], strlen(vals[i]),
			    false)) {
				nem_err_set(err, EINVAL,
				    "route.%s is not valid UTF-8", keys[i]);
				return false;
			}
			if (!BSON_APPEND_UTF8(&sub, keys[i], vals[i]))
				return false;
		}
		if (!bson_append_document_end(doc, &sub))
			return false;
	}
	if (h->has_timeout) {
		if (!BSON_APPEND_DOCUMENT_BEGIN(doc, "time", &sub) ||
		    !BSON_APPEND_INT64(&sub, "timeout_ms", h->timeout_ms) ||
		    !bson_append_document_end(doc, &sub))
			return false;
	}
	return true;
}

static bool
header_is_empty(const struct nem_header *h)
{
	return h == NULL || (h->code == 0 && h->reason == NULL &&
	    !h->has_route && !h->has_timeout);
}

int
nem_frame_build_at(const struct nem_fixed *f, const struct nem_header *h,
    const void *body, size_t body_len, size_t prefix, uint8_t **out,
    size_t *out_len, struct nem_err *err)
{
	bson_t doc = BSON_INITIALIZER;
	struct nem_fixed fx = *f;
	const uint8_t *hdr = NULL;
	size_t hlen = 0, total;
	uint8_t *buf;

	if ((f->flags & NEM_F_RESERVED) != 0)
		return nem_err_set(err, EINVAL,
		    "reserved flag bits set in flags 0x%02x", f->flags);
	if (body_len > NEM_BODY_MAX)
		return nem_err_set(err, EMSGSIZE,
		    "body of %zu bytes over the maximum of %u; split it over "
		    "CONTINUE frames", body_len, NEM_BODY_MAX);

	if (!header_is_empty(h)) {
		nem_err_clear(err);
		if (!header_append(&doc, h, err)) {
			bson_destroy(&doc);
			if (err != NULL && err->code != 0)
				return -1;
			return nem_err_set(err, EMSGSIZE,
			    "header fields do not fit a BSON document");
		}
		hdr = bson_get_data(&doc);
		hlen = doc.len;
	}
	if (hlen > NEM_HEADER_MAX) {
		bson_destroy(&doc);
		return nem_err_set(err, EMSGSIZE,
		    "header of %zu bytes over the maximum of %u", hlen,
		    NEM_HEADER_MAX);
	}

	total = prefix + NEM_FIXED_LEN + hlen + body_len;
	buf = malloc(total);
	if (buf == NULL) {
		bson_destroy(&doc);
		return nem_err_sys(err, ENOMEM, "frame of %zu bytes", total);
	}
	fx.magic = NEM_MAGIC;
	fx.version = NEM_VERSION;
	fx.header_len = (uint16_t)hlen;
	fx.body_len = (uint32_t)body_len;
	nem_fixed_encode(&fx, buf + prefix);
	if (hlen > 0)
		memcpy(buf + prefix + NEM_FIXED_LEN, hdr, hlen);
	if (body_len > 0)
		memcpy(buf + prefix + NEM_FIXED_LEN + hlen, body, body_len);
	bson_destroy(&doc);

	*out = buf;
	*out_len = total - prefix;
	return 0;
}

int
nem_frame_build(const struct nem_fixed *f, const struct nem_header *h,
    const void *body, size_t body_len, uint8_t **out, size_t *out_len,
    struct nem_err *err)
{
	return nem_frame_build_at(f, h, body, body_len, 0, out, out_len, err);
}

int
nem_msg_take_fd(struct nem_msg *msg)
{
	int fd = msg->fd;

	msg->fd = -1;
	return fd;
}

int
nem_msg_body_bson(const struct nem_msg *msg, bson_t *doc, struct nem_err *err)
{
	size_t bad_off;

	if (msg->body == NULL || !bson_init_static(doc, msg->body,
	    msg->body_len))
		return nem_err_set(err, EBADMSG,
		    "body of %zu bytes is not a BSON document", msg->body_len);
	if (!bson_validate(doc, BSON_VALIDATE_UTF8, &bad_off))
		return nem_err_set(err, EBADMSG,
		    "body BSON is malformed at byte %zu", bad_off);
	return 0;
}
