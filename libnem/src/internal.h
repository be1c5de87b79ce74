/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Declarations shared between libnem's source files and not part of its
 * public API.
 */
#ifndef NEM_INTERNAL_H
#define NEM_INTERNAL_H

#include <nem/frame.h>

/*
 * Builds a frame like nem_frame_build, but leaves prefix bytes free in front
 * of it, so a caller can keep its own bookkeeping in the same allocation.
 * The arguments are those of nem_frame_build plus prefix. *out is the start
 * of the allocation, and the frame starts at *out + prefix and is *out_len
 * bytes long.
 */
int nem_frame_build_at(const struct nem_fixed *f, const struct nem_header *h,
    const void *body, size_t body_len, size_t prefix, uint8_t **out,
    size_t *out_len, struct nem_err *err);

#endif
