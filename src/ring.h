/* SPDX-License-Identifier: MIT */
/*
 * ring.h (private) - what the layers above the ring (its broadcast of
 * pooled buffers, src/ring_bcast.c) and the tests reach inside a ring.
 */
#ifndef IOBUF_SRC_RING_H
#define IOBUF_SRC_RING_H

#include <stdint.h>

#include <iobuf/ring.h>

/*
 * The on_retire context of @ring when its hook is @hook; NULL when it has
 * another hook or none.  A layer that makes rings with its own hook tells
 * them from other rings by it.  Any thread; wait-free (fixed at create).
 */
void *iobuf__ring_retire_ctx(const struct iobuf_ring *ring, void (*hook)(void *ctx, uint64_t seq, void *entry));

/* The number of entries of @ring (its capacity). */
uint64_t iobuf__ring_capacity(const struct iobuf_ring *ring);

/* How many entries the writer claimed and has not published.  The writer only. */
uint64_t iobuf__ring_unpublished(const struct iobuf_ring *ring);

#endif /* IOBUF_SRC_RING_H */
