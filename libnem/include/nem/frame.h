/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Encoding and decoding of NEM frames: the 24-byte fixed header, the BSON
 * header with its err, route and time fields, and the body. Decoders check
 * magic, version, reserved flags and both length maxima before anything is
 * sized by a length from the wire. These functions do no I/O; nem/conn.h
 * moves frames over a socket.
 */
#ifndef NEM_FRAME_H
#define NEM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include <nem/err.h>
#include <nem/proto.h>

/*
 * The fixed header, decoded. On the wire, all little-endian, no padding:
 *
 *	offset	size	field
 *	0	4	magic		NEM_MAGIC (bytes 21 6d 65 6e)
 *	4	1	version		NEM_VERSION
 *	5	1	flags		NEM_F_* bits; bits 5-7 must be 0
 *	6	2	header_len	0, or 5 to NEM_HEADER_MAX
 *	8	8	seq		transaction sequence number
 *	16	4	body_len	0 to NEM_BODY_MAX
 *	20	2	service		service id
 *	22	2	command		command id
 */
struct nem_fixed {
	uint32_t magic;
	uint8_t version;
	uint8_t flags;
	uint16_t header_len;
	uint64_t seq;
	uint32_t body_len;
	uint16_t service;
	uint16_t command;
};

/* The destination of a ROUTE frame; each string may be NULL (absent). */
struct nem_route {
	const char *cluster;
	const char *host;
	const char *inst;
	const char *obj;
};

/*
 * The known fields of a frame's BSON header. Strings point into the frame's
 * bytes and are valid only as long as those bytes are.
 */
struct nem_header {
	int64_t code;			/* err.code; 0 when absent */
	const char *reason;		/* err.reason, or NULL */
	bool has_route;			/* a route document was present */
	struct nem_route route;
	bool has_timeout;		/* time.timeout_ms was present */
	int64_t timeout_ms;		/* time.timeout_ms, >= 0 */
};

/*
 * A received frame (or a failure reported to a reply callback). body and
 * the header strings point into the connection's receive buffer and are
 * valid only during the callback that gets the message.
 */
struct nem_msg {
	uint64_t seq;
	uint16_t service;
	uint16_t command;
	uint8_t flags;			/* NEM_F_* as received */
	unsigned index;			/* 0 for a transaction's first frame in
					   this direction, then 1, 2, ... */
	bool local;			/* the failure was detected on this side
					   (timeout, closed connection, cancel);
					   no frame was received */
	struct nem_header hdr;		/* hdr.code != 0: the request failed */
	const uint8_t *body;
	size_t body_len;
	int fd;				/* received descriptor, or -1; see
					   nem_msg_take_fd */
};

/*
 * Writes f as the 24 bytes of a fixed header into out. Does not validate:
 * callers that build frames from their own values use nem_frame_build.
 */
void nem_fixed_encode(const struct nem_fixed *f, uint8_t out[NEM_FIXED_LEN]);

/*
 * Decodes the 24 bytes at in into *f and validates them: magic, version,
 * reserved flag bits, header_len (0, or 5 to NEM_HEADER_MAX) and body_len
 * (at most NEM_BODY_MAX), plus the flag combinations no sender may produce
 * (REPLY with CANCEL). Returns 0, or -1 with err code EBADMSG (bad magic,
 * version, flags, header_len) or EMSGSIZE (a length over its maximum) and a
 * message naming the field and its value.
 */
int nem_fixed_decode(const uint8_t in[NEM_FIXED_LEN], struct nem_fixed *f,
    struct nem_err *err);

/*
 * Parses a BSON header.
 *	p	the header bytes (may be NULL when len is 0)
 *	len	header_len; 0 means no header
 *	h	OUT: the known fields; strings point into p
 *	err	the failure
 * The document must be exactly len bytes and well formed. When present,
 * err, route and time must be documents, err.code an int32 or int64,
 * strings valid UTF-8 without NUL bytes, and time.timeout_ms a non-negative
 * int32 or int64. Unknown fields are ignored. Returns 0, or -1 with err
 * code EBADMSG (EMSGSIZE when len is over NEM_HEADER_MAX) and a message
 * naming the offending field.
 */
int nem_header_decode(const uint8_t *p, size_t len, struct nem_header *h,
    struct nem_err *err);

/*
 * Decodes one complete frame from a byte buffer.
 *	p	the received bytes
 *	len	their count
 *	msg	OUT: the frame, pointing into p; msg->fd is set to -1
 *	used	OUT: the frame's size in bytes, set when 1 is returned
 *	err	the failure
 * Returns 1 when a whole valid frame is there, 0 when more bytes are needed
 * (no invalid byte seen yet), and -1 with err set as by nem_fixed_decode
 * and nem_header_decode on an invalid frame.
 */
int nem_frame_decode(const uint8_t *p, size_t len, struct nem_msg *msg,
    size_t *used, struct nem_err *err);

/*
 * Builds a frame into a new buffer.
 *	f	 fixed-header values; magic, version and both lengths are
 *		 filled in by this function
 *	h	 header fields to send (code/reason, route, timeout), or NULL.
 *		 Without fields, header_len is 0.
 *	body	 body_len bytes of body (may be NULL when body_len is 0)
 *	out	 OUT: the frame, to be released with free()
 *	out_len	 OUT: its size in bytes
 * Returns 0, or -1 with err code EMSGSIZE (body or header over its
 * maximum), EINVAL (reserved flag bits) or ENOMEM.
 */
int nem_frame_build(const struct nem_fixed *f, const struct nem_header *h,
    const void *body, size_t body_len, uint8_t **out, size_t *out_len,
    struct nem_err *err);

/*
 * Returns msg->fd and sets it to -1, so the caller owns the descriptor and
 * the library will not close it after the callback. Returns -1 when the
 * frame carried none.
 */
int nem_msg_take_fd(struct nem_msg *msg);

/*
 * Checks that the body of msg is one well-formed BSON document with valid
 * UTF-8 strings and makes *doc a read-only view of it (no copy, valid as
 * long as msg->body; nothing to destroy). Returns 0, or -1 with err code
 * EBADMSG.
 */
int nem_msg_body_bson(const struct nem_msg *msg, bson_t *doc,
    struct nem_err *err);

#endif
