/* SPDX-License-Identifier: MIT */
/*
 * pool.h (private) - what the cache and the tests reach inside a pool.
 */
#ifndef IOBUF_SRC_POOL_H
#define IOBUF_SRC_POOL_H

#include <stdint.h>

#include <iobuf/pool.h>

struct iobuf_scq;

/*
 * Like iobuf_pool_create(), with every slot's generation counter starting
 * at @gen_base (even) and the free queue's tickets at @scq_start: tests
 * start both just below their wrap points.
 */
struct iobuf_pool *iobuf__pool_create_at(const struct iobuf_pool_config *cfg, uint64_t gen_base, uint64_t scq_start,
					 int *err);

/* The pool's free-index queue. */
struct iobuf_scq *iobuf__pool_scq(struct iobuf_pool *pool);

/*
 * Turn a free index the caller holds (taken from the free queue, or from a
 * cache) into a handle: the slot's generation becomes odd.
 */
iobuf_handle_t iobuf__pool_take(struct iobuf_pool *pool, uint32_t idx);

/*
 * Check @h and mark its slot free (generation even) without putting the
 * index anywhere: the caller then owns a free index (a cache keeps it).
 * Returns the index (>= 0), or the refusal of iobuf_pool_put().
 */
int iobuf__pool_release(struct iobuf_pool *pool, iobuf_handle_t h);

/* Return free indices to the queue and wake a sleeping get; see iobuf_pool_put(). */
void iobuf__pool_give(struct iobuf_pool *pool, const uint32_t *idx, int n);

/* Account @delta buffers entering (>0) or leaving (<0) caches. */
void iobuf__pool_cached_add(struct iobuf_pool *pool, int64_t delta);

/* Record that the free queue was seen with @free_now indices (updates the high-water mark). */
void iobuf__pool_note_free(struct iobuf_pool *pool, uint32_t free_now);

#endif /* IOBUF_SRC_POOL_H */
