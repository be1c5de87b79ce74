/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The bounds-checked read cursor of nem/buf.h. Every read checks the
 * remaining length before it forms a pointer, and a failed read leaves the
 * cursor where it was.
 */
#include <nem/buf.h>

#include <errno.h>
#include <string.h>

void
nem_buf_init(struct nem_buf *b, const void *data, size_t len)
{
	b->data = data;
	b->len = data != NULL ? len : 0;
	b->off = 0;
}

size_t
nem_buf_left(const struct nem_buf *b)
{
	return b->len - b->off;
}

/* Reads n <= 8 bytes as a little-endian integer. */
static int
get_le(struct nem_buf *b, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (nem_buf_left(b) < n) {
		errno = EBADMSG;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)b->data[b->off + i] << (8 * i);
	b->off += n;
	*out = v;
	return 0;
}

int
nem_buf_get_u8(struct nem_buf *b, uint8_t *out)
{
	uint64_t v;

	if (get_le(b, 1, &v) == -1)
		return -1;
	*out = (uint8_t)v;
	return 0;
}

int
nem_buf_get_u16(struct nem_buf *b, uint16_t *out)
{
	uint64_t v;

	if (get_le(b, 2, &v) == -1)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

int
nem_buf_get_u32(struct nem_buf *b, uint32_t *out)
{
	uint64_t v;

	if (get_le(b, 4, &v) == -1)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int
nem_buf_get_u64(struct nem_buf *b, uint64_t *out)
{
	return get_le(b, 8, out);
}

int
nem_buf_get_bytes(struct nem_buf *b, size_t n, const uint8_t **out)
{
	if (nem_buf_left(b) < n) {
		errno = EBADMSG;
		return -1;
	}
	*out = b->data + b->off;
	b->off += n;
	return 0;
}

int
nem_buf_get_str(struct nem_buf *b, char *dst, size_t dst_size)
{
	size_t start = b->off;
	const uint8_t *p;
	uint32_t n;

	if (nem_buf_get_u32(b, &n) == -1)
		return -1;
	if (nem_buf_get_bytes(b, n, &p) == -1) {
		b->off = start;
		return -1;
	}
	if (memchr(p, '\0', n) != NULL) {
		b->off = start;
		errno = EBADMSG;
		return -1;
	}
	if (dst_size == 0 || n > dst_size - 1) {
		b->off = start;
		errno = EMSGSIZE;
		return -1;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}
