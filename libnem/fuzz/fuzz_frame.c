/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for the frame decoder: decodes as many frames as the
 * input holds, then feeds the whole input to the BSON header decoder and
 * to nem_msg_body_bson. Any crash, leak or sanitizer report is a bug in
 * the code that reads untrusted frames.
 */
#include <stddef.h>
#include <stdint.h>

#include <nem/frame.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nem_header h;
	struct nem_err err;
	struct nem_msg m;
	size_t off = 0, used;
	bson_t doc;

	while (off < size) {
		if (nem_frame_decode(data + off, size - off, &m, &used,
		    &err) != 1)
			break;
		nem_msg_body_bson(&m, &doc, &err);
		off += used;
	}
	nem_header_decode(data, size, &h, &err);
	return 0;
}
