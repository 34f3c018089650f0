/* SPDX-License-Identifier: MIT */
/* util.h - small private helpers shared by the library's sources. */
#ifndef IOBUF_SRC_UTIL_H
#define IOBUF_SRC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool iobuf__is_pow2(size_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* Round @v up to a multiple of the power of two @a (caller checks overflow). */
static inline uintptr_t iobuf__align_up(uintptr_t v, size_t a)
{
	return (v + (a - 1)) & ~(uintptr_t)(a - 1);
}

/* Smallest power of two >= @v, for 1 <= v <= 2^63. */
static inline uint64_t iobuf__pow2_ceil64(uint64_t v)
{
	return v <= 1 ? 1 : (uint64_t)1 << (64 - __builtin_clzll(v - 1));
}

#endif /* IOBUF_SRC_UTIL_H */
