/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A bounds-checked read cursor over bytes received from a peer or a file.
 * Every read either takes exactly the requested bytes or fails with errno
 * EBADMSG and leaves the cursor where it was, so no caller does offset
 * arithmetic on untrusted lengths. Integers are little-endian, as on the
 * NEM wire.
 */
#ifndef NEM_BUF_H
#define NEM_BUF_H

#include <stddef.h>
#include <stdint.h>

/* A read position in a byte range the cursor does not own. */
struct nem_buf {
	const uint8_t *data;
	size_t len;			/* bytes in data */
	size_t off;			/* next byte to read, 0 <= off <= len */
};

/* Points b at the len bytes at data, positioned at the first byte. */
void nem_buf_init(struct nem_buf *b, const void *data, size_t len);

/* Returns the number of bytes not read yet. */
size_t nem_buf_left(const struct nem_buf *b);

/*
 * Read a little-endian integer of 1, 2, 4 or 8 bytes into *out and advance.
 * Return 0, or -1 with errno EBADMSG when fewer bytes are left.
 */
int nem_buf_get_u8(struct nem_buf *b, uint8_t *out);
int nem_buf_get_u16(struct nem_buf *b, uint16_t *out);
int nem_buf_get_u32(struct nem_buf *b, uint32_t *out);
int nem_buf_get_u64(struct nem_buf *b, uint64_t *out);

/*
 * Sets *out to the next n bytes (pointing into the cursor's range, not a
 * copy) and advances. Returns 0, or -1 with errno EBADMSG when fewer than n
 * bytes are left.
 */
int nem_buf_get_bytes(struct nem_buf *b, size_t n, const uint8_t **out);

/*
 * Reads a string stored as a little-endian u32 length and that many bytes
 * without a terminator, and copies it NUL-terminated into dst (dst_size
 * bytes). Returns 0, or -1 with errno EBADMSG on short data or a NUL byte
 * inside the string, or EMSGSIZE when it does not fit dst (a string is never
 * truncated). The cursor does not move on failure.
 */
int nem_buf_get_str(struct nem_buf *b, char *dst, size_t dst_size);

#endif
