/* SPDX-License-Identifier: MIT */
/*
 * iobuf/slice.h - shared buffers: holders, lengths and O(1) slices.
 *
 * Holders.  A buffer handed out by a get has one holder.  Any holder may
 * add another (iobuf_hold()); every put drops one; the buffer goes back
 * to its tier when the last holder puts it, exactly once.  Holders share
 * one handle: they are counted, not named.  The count lives in the slot
 * word beside the generation (iobuf/slot.h), so a put of a buffer that
 * was never shared is the one compare-and-swap it always was, and an add
 * that races the last put either comes first (the buffer stays held) or
 * is refused (-EALREADY, -ESTALE): never a holder of a free buffer.
 *
 * Lengths.  A buffer records the bytes it holds: iobuf_readv_pooled() and
 * iobuf_cache_readv() set it, a writer sets it with iobuf_setlen().  A
 * length belongs to one hand-out of the buffer: a fresh buffer's is 0.
 *
 * Slices.  struct iobuf_slice names a range of a set's buffer and holds
 * one of its holders.  Splitting a slice adds a holder (one atomic
 * operation); trimming changes two integers; an array of slices becomes
 * an iovec for writev(2) without a copy.  Putting a slice drops its
 * holder.  A slice is a value: copy it only to move it (a copy holds
 * nothing more; iobuf_slice_clone() adds a holder).
 */
#ifndef IOBUF_SLICE_H
#define IOBUF_SLICE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <iobuf/common.h>
#include <iobuf/slot.h>

IOBUF_BEGIN_DECLS

struct iobuf_set;
struct iobuf_cache;

/* The most holders one buffer can have; one more is refused with -EOVERFLOW. */
#define IOBUF_HOLDERS_MAX UINT32_C(0x7fffffff)

/* Bytes [off, off + len) of the buffer of handle @h; holds one of its holders. */
struct iobuf_slice {
	iobuf_handle_t h;
	uint32_t off;
	uint32_t len;
};

#define IOBUF_SLICE_NONE ((struct iobuf_slice){IOBUF_HANDLE_NONE, 0, 0})

IOBUF_END_DECLS

#endif /* IOBUF_SLICE_H */
