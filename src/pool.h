/* SPDX-License-Identifier: MIT */
/*
 * pool.h (private) - what the cache and the tests reach inside a pool.
 */
#ifndef IOBUF_SRC_POOL_H
#define IOBUF_SRC_POOL_H

#include <stdbool.h>
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

/* The per-slot generations (even: free, odd: handed out); see pool.c. */
uint64_t *iobuf__pool_meta(struct iobuf_pool *pool);

/* Indices per depot magazine; 0 when the pool has no depot (too small). */
uint32_t iobuf__pool_magazine(const struct iobuf_pool *pool);

/*
 * True when free buffers must be marked on every get and put (ASan
 * poisoning, valgrind's mempool): caches then take the out-of-line path
 * for every call, which marks them.
 */
bool iobuf__pool_debug(const struct iobuf_pool *pool);

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

/* The same for a raw index: 0, or the refusal of iobuf_pool_put_index(). */
int iobuf__pool_release_index(struct iobuf_pool *pool, uint32_t idx);

/* Count a refusal (-EINVAL, -EALREADY or -ESTALE) found by a caller. */
void iobuf__pool_refuse(struct iobuf_pool *pool, int rc);

/* Return free indices to the queue and wake a sleeping get; see iobuf_pool_put(). */
void iobuf__pool_give(struct iobuf_pool *pool, const uint32_t *idx, int n);

/*
 * Take free indices for a cache into @out: one full depot magazine when
 * @max is at least the magazine size and the depot holds one, else up to
 * @max (at most a magazine) from the free queue, else from a magazine.
 * Returns the count, 0 when the pool is empty (nothing counted: the
 * caller calls iobuf__pool_note_empty()).  Lock-free.
 */
int iobuf__pool_refill(struct iobuf_pool *pool, uint32_t *out, int max);

/*
 * Give back @n free indices from a cache: whole magazines into the depot
 * while empty magazines are left, the rest to the free queue; then wake
 * sleeping gets (W1).  Lock-free.
 */
void iobuf__pool_flush(struct iobuf_pool *pool, const uint32_t *idx, int n);

/* A cache attaches (+1) or detaches (-1): the stats then count cached buffers. */
void iobuf__pool_attach(struct iobuf_pool *pool, int delta);

/* The reclaim epoch: it moves when a get finds the pool empty while caches are attached. */
uint32_t iobuf__pool_reclaim_epoch(const struct iobuf_pool *pool);

/* Count an empty get and, when caches are attached, move the reclaim epoch. */
void iobuf__pool_note_empty(struct iobuf_pool *pool);

/* Record that the free queue was seen with @free_now indices (updates the high-water mark). */
void iobuf__pool_note_free(struct iobuf_pool *pool, uint32_t free_now);

#endif /* IOBUF_SRC_POOL_H */
