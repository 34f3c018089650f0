/* SPDX-License-Identifier: MIT */
/*
 * iobuf/cache.h - a per-thread front cache for a set or a pool.
 *
 * A cache is an object its owner thread creates, uses and destroys; the
 * library keeps no thread-local state and no global.  It holds, for each
 * tier, a LIFO stack of free buffers: a get pops the warmest (the one put
 * last), a put pushes it back.  The common path is inline (below), as
 * DPDK's rte_mempool_get() is, and touches the owner's stack and the
 * buffer's slot word (iobuf/slot.h): a get with a plain store, a put with
 * one compare-and-swap, the only locked instruction of a get+put pair.
 *
 * Refill and flush move whole magazines of M indices (the pool's
 * magazine size, 64 by default) between the stack and the pool's depot
 * (Bonwick and Adams, "Magazines and Vmem", USENIX 2001): a get on an
 * empty stack loads one full magazine, a put on a full stack (2M) gives
 * the older M back.  A magazine costs two SCQ operations and a copy, so
 * buffers got on one thread and put on another reach the getter again
 * at one shared operation per M buffers.
 *
 * Checks.  A cached put checks the handle against the slot as
 * iobuf_pool_put() does and releases the slot with a compare-and-swap: a
 * double put returns -EALREADY, a stale handle -ESTALE, a foreign one
 * -EINVAL, and nothing changes; of two puts of one handle racing on two
 * threads, through any caches or the pool, exactly one succeeds.  No
 * sequence of calls gives a buffer two owners.  IOBUF_CACHE_UNSAFE_PUTS
 * trades that last guarantee for a plain store (see its comment).
 *
 * Bound and idle caches.  A cache holds at most 2M free buffers of a tier,
 * and M is at most capacity / 16, so one cache never holds more than an
 * eighth of a tier.  Tiers with fewer than 16 buffers are not cached: their
 * gets and puts go straight to the pool.  Free buffers in an active cache
 * are not visible to other threads' gets: a get that finds the pool empty
 * returns -ENOBUFS and asks for them back, and each active cache gives
 * its whole stack of that tier back on its next out-of-line call (a
 * refill, a flush, iobuf_cache_flush()); while a get waits
 * (iobuf_pool_get_wait()) or a readiness fd is armed, every put through a
 * cache hands its buffer, and the cache's stack, to the pool at once.  An
 * owner about to block (epoll_wait, a condition variable) calls
 * iobuf_cache_park(): from then until iobuf_cache_unpark() any get that
 * finds the pool empty takes the parked cache's buffers back itself.  So
 * an idle cache keeps at most 2M buffers of a tier, and none once parked
 * and the pool has run dry.  (Taking buffers from a cache whose owner may
 * be anywhere in an inline call would need an atomic operation on every
 * get and put, or the kernel's help (rseq); parking costs two atomic
 * operations per sleep instead.)
 *
 * Statistics.  Gets and puts through a cache count in iobuf_pool_stats()
 * as any other (they are read off the slots); buffers in caches show as
 * "cached", exactly when no call is in flight, and
 * free + cached + in_use == capacity.
 *
 * Synchronization:
 *
 *   call                                  | may run concurrently with
 *   --------------------------------------+--------------------------------
 *   any call on cache C                   | nothing else on C: C belongs to
 *                                         | one thread at a time (hand it
 *                                         | over with a release/acquire)
 *   any call on C                         | any call on another cache and
 *                                         | any pool or set call, on the
 *                                         | same pools, from any thread
 *   iobuf_cache_create, _destroy          | as above; destroy of C: nothing
 *                                         | on C
 *   iobuf_pool_destroy, iobuf_set_destroy | only after every cache over the
 *                                         | pool or set is destroyed
 *
 * A buffer got through one cache may be put through another, or through
 * the pool, and the other way round.
 *
 * Memory ordering: a put (through any cache or the pool) releases the
 * buffer's bytes to the get that next returns it (through any cache or
 * the pool), as in iobuf/pool.h: within one cache the owner's program
 * order does it, across caches the flush and refill of the magazine that
 * carries the index (edge M1 in doc/design.md); park and unpark order the
 * stacks against a pool that reclaims them (C1, C2).
 *
 * Progress: the inline fast paths are wait-free (a bounded number of
 * steps: one compare-and-swap, whose failure means a refusal); refill,
 * flush and every other out-of-line call are lock-free, but that a refill
 * that finds the pool empty takes the pool's cache-list mutex to reclaim
 * parked caches (iobuf_pool_get()); unpark waits for a reclaim of its
 * stacks that is under way (a bounded copy).  Every call but unpark and
 * destroy returns -EBUSY on a parked cache.
 */
#ifndef IOBUF_CACHE_H
#define IOBUF_CACHE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <iobuf/common.h>
#include <iobuf/pool.h>
#include <iobuf/slice.h>
#include <iobuf/slot.h>
#include <iobuf/tiers.h>

IOBUF_BEGIN_DECLS

/* Cache policies, OR'ed into iobuf_cache_config.flags. */
enum iobuf_cache_flags {
	/*
	 * Puts release the slot with a load, a compare and a store instead
	 * of a compare-and-swap: about 5 ns less per put on a 2020s x86
	 * core, and the slot's line is not locked in a handoff.  UNSAFE:
	 * two puts of one handle racing on two threads (one through this
	 * cache, the other through any cache or the pool) may then both
	 * succeed, and the buffer gets two owners.  Sequential double and
	 * stale puts are still refused.  Ignored under ASan and valgrind.
	 */
	IOBUF_CACHE_UNSAFE_PUTS = 1u << 0,
};

struct iobuf_cache_config {
	unsigned flags; /* enum iobuf_cache_flags */
};

/*
 * The layout below is public only so that the fast paths can be inline.
 * Every field is private: read or write none of them.
 *
 * A tier's stack holds entries (free generation << 32 | index): a get
 * pops one and its handle is the entry's generation plus one, with the
 * tier's stamp; so a get need not load the slot word, which in a handoff
 * the other core wrote last.
 */
struct iobuf_cache_tier {
	uint64_t *top;        /* past the warmest entry (stored relaxed: the pool's stats read it) */
	uint64_t *lo;         /* a get runs inline while top > lo */
	uint64_t *hi;         /* a put runs inline while top < hi (lo > hi: never) */
	iobuf__slot_t *slot;  /* the pool's slot words */
	const uint32_t *want; /* the pool's want word (iobuf_pool_shape) */
	uint8_t *base;        /* the pool's buffer 0 */
	size_t stride;        /* the pool's stride */
	uint32_t capacity;    /* the pool's capacity; 0 for a tier the cache does not serve */
	uint32_t stamp;       /* the pool's handle stamp */
};

struct iobuf_cache {
	struct iobuf_cache_tier *one;  /* pool-bound: the pool's tier; set-bound: a stand-in that serves nothing */
	size_t one_size;               /* pool-bound: the pool's buffer size; set-bound: 0 */
	struct iobuf_cache_tier *hint; /* where a put looks first: the tier of the last put */
	struct iobuf_set *set;         /* set-bound: the set */
	unsigned flags;
	uint32_t unsafe;               /* IOBUF_CACHE_UNSAFE_PUTS in force */
	uint64_t spare;                /* where the stacks of tiers not served point */
	uint64_t pad[2];
	struct iobuf_cache_tier tier[IOBUF_TIER_COUNT + 1]; /* by tag; [8] is the stand-in */
	/* ... and, out of the caller's sight, the cold state and the stacks. */
};

/*
 * iobuf_cache_create - a cache over the eight tiers of @set.
 *
 * @cfg may be NULL (no flags).  The cache starts empty and fills on its
 * first gets.  Returns the cache (and *@err = 0 when @err is not NULL),
 * or NULL with *@err -EINVAL (NULL @set, unknown flags) or -ENOMEM.  The
 * caller owns it: one thread at a time uses it, and someone destroys it
 * before the set.  Orders nothing.  Blocking (it allocates); thread-safe.
 */
IOBUF_API struct iobuf_cache *iobuf_cache_create(struct iobuf_set *set, const struct iobuf_cache_config *cfg,
						 int *err);

/*
 * iobuf_cache_create_pool - a cache over the single pool @pool.
 *
 * As iobuf_cache_create(); the raw-index calls (iobuf_cache_get_index()...)
 * work on this form only.  Returns the cache (*@err = 0), or NULL with
 * *@err -EINVAL (NULL @pool, unknown flags) or -ENOMEM.  Orders nothing.
 * Blocking (it allocates); thread-safe.
 */
IOBUF_API struct iobuf_cache *iobuf_cache_create_pool(struct iobuf_pool *pool, const struct iobuf_cache_config *cfg,
						      int *err);

/*
 * iobuf_cache_destroy - flush @cache (see iobuf_cache_flush()) and free it.
 *
 * Buffers handed out through it stay valid: put them through the pool,
 * the set or another cache.  NULL is ignored; a parked cache is unparked
 * first.  Releases what the flush releases.  Only the owner, with no other
 * call on @cache running or to come; blocking (the pools' cache lists).
 */
IOBUF_API void iobuf_cache_destroy(struct iobuf_cache *cache);

/*
 * iobuf_cache_flush - give every free buffer @cache holds back to its pool.
 *
 * Whole magazines go to the depot, the rest to the free queue; sleeping
 * gets are woken.  Returns the number of buffers given back (>= 0), or
 * -EINVAL for NULL.  Releases the buffers' bytes to their next getters
 * (P1, M1).  Owner thread only; lock-free.
 */
IOBUF_API int iobuf_cache_flush(struct iobuf_cache *cache);

/*
 * iobuf_cache_park - let the pools take back what @cache holds while its owner is idle.
 *
 * Call it before blocking (epoll_wait(), a condition variable...), and
 * iobuf_cache_unpark() when back.  Park first gives back what a pool asked
 * for and did not get yet (a waiting get, an armed readiness fd, a get
 * that found the pool empty since this cache last looked), then wakes any
 * get still waiting on a pool whose buffers it keeps, so that it takes
 * them.  Until unpark, a get on any thread that finds a pool empty takes
 * the cache's free buffers of that pool back itself, and every call on
 * @cache but unpark and destroy is refused with -EBUSY (the stacks may be
 * in a pool's hands).  Returns 0, -EINVAL for NULL, or -EALREADY when it
 * is parked already.  Releases the owner's writes to its stacks to a
 * reclaiming pool (C1; W3 for the wake-up).  Owner thread only; lock-free.
 */
IOBUF_API int iobuf_cache_park(struct iobuf_cache *cache);

/*
 * iobuf_cache_unpark - take @cache back after iobuf_cache_park().
 *
 * Returns 0, -EINVAL for NULL, or -EALREADY when it is not parked.  If a
 * pool is taking the cache's buffers back at that moment, waits until it
 * is done (a bounded copy).  Acquires what the pool did to the stacks
 * (C2).  Owner thread only; blocking only as said.
 */
IOBUF_API int iobuf_cache_unpark(struct iobuf_cache *cache);

/*
 * iobuf_cache_count - free buffers of @tier that @cache holds.
 *
 * @tier is the tier of a set-bound cache, or the pool's tag for a
 * pool-bound one.  Returns the count (0 .. 2 x magazine), or -EINVAL.
 * Orders nothing.  Owner thread only; wait-free.
 */
IOBUF_API int iobuf_cache_count(const struct iobuf_cache *cache, int tier);

/*
 * iobuf_cache_readv - read from @fd into fresh buffers of @tier, through @cache.
 *
 * As iobuf_readv_pooled(), with the buffers taken from and given back to
 * the set-bound @cache: up to @k of them (as many as the cache and the
 * pool have), one readv(2) (retried on EINTR), and in @s[0 .. *@kept) a
 * slice of each buffer that received bytes, in order, covering what it
 * received (also its iobuf_len()).  Each slice holds its buffer: put it
 * (iobuf_slice_put(), or share it first).  Returns the bytes read (> 0);
 * 0 at end of file; -ENOBUFS when the tier has no free buffer; the -errno
 * of readv; -EINVAL for NULL arguments, a pool-bound cache, a tier out of
 * range or absent from the set, or @k outside 1..IOBUF_READV_POOLED_MAX;
 * -EBUSY for a parked cache.  On every return but a positive one *@kept
 * is 0 and no buffer is held.  Owner thread only; lock-free but for the
 * system call.
 */
IOBUF_API ssize_t iobuf_cache_readv(struct iobuf_cache *cache, int fd, int tier, struct iobuf_slice *s, int k,
				    int *kept);

/* ---- internal: the out-of-line halves of the inline calls ---------------- */

/*
 * Not API: the inline calls below run their common case in the caller and
 * call these for everything else (an empty or full stack, an error, a
 * debugging build).  Exported under the internal prefix because inline
 * code in programs calls them; their contracts are the inline calls'.
 * @idx: when not NULL, the raw-index form (pool-bound caches only).
 */
IOBUF_API int iobuf__cache_get_slow(struct iobuf_cache *cache, size_t size, iobuf_handle_t *h);
IOBUF_API int iobuf__cache_put_slow(struct iobuf_cache *cache, iobuf_handle_t h);
IOBUF_API void *iobuf__cache_buf_slow(const struct iobuf_cache *cache, iobuf_handle_t h);
IOBUF_API int iobuf__cache_put_index_slow(struct iobuf_cache *cache, uint32_t idx);
IOBUF_API int iobuf__cache_get_bulk_slow(struct iobuf_cache *cache, size_t size, iobuf_handle_t *hs, uint32_t *idx,
					  int n);

/* ---- inline fast paths: each written once --------------------------------- */

/* The tier a get of @size uses inline, or NULL for the out-of-line path (any error, a size 0). */
static inline struct iobuf_cache_tier *iobuf__cache_tier_for(struct iobuf_cache *c, size_t size)
{
	if (c->one_size)
		return IOBUF_LIKELY(size - 1 < c->one_size) ? c->one : NULL;
	return IOBUF_LIKELY(size - 1 < IOBUF_MAX_SIZE) ? &c->tier[iobuf__tier_of(size)] : NULL;
}

/* Pop the top @n entries of @t (the caller checked top - lo >= n): take each slot, report handles and/or indices. */
static inline void iobuf__cache_pop(struct iobuf_cache_tier *t, int n, iobuf_handle_t *hs, uint32_t *idx)
{
	uint64_t *p = t->top - n;
	iobuf__slot_t *slot = t->slot;
	uint32_t stamp = t->stamp;

	__atomic_store_n(&t->top, p, __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++) {
		uint64_t e = p[i];
		uint32_t x = (uint32_t)e, g = iobuf__slot_take(&slot[x], (uint32_t)(e >> 32));

		if (hs)
			hs[i] = iobuf__handle_make(stamp, x, g);
		if (idx)
			idx[i] = x;
	}
}

/* True when a put may push on @t inline: room on the stack, and no get waits on the pool. */
static inline bool iobuf__cache_room(const struct iobuf_cache_tier *t)
{
	return IOBUF_LIKELY(t->top < t->hi) && IOBUF_LIKELY(__atomic_load_n(t->want, __ATOMIC_RELAXED) == 0);
}

/* Push free index @x of @t, whose slot now holds @free_gen (even). */
static inline void iobuf__cache_push(struct iobuf_cache_tier *t, uint32_t x, uint32_t free_gen)
{
	uint64_t *p = t->top;

	*p = ((uint64_t)free_gen << 32) | x;
	__atomic_store_n(&t->top, p + 1, __ATOMIC_RELAXED);
}

/*
 * The tier of handle @h and its index there, or NULL when the inline path
 * cannot tell (another tier than the last put's and not served, another
 * owner, an index out of range).  The tier of the last put first: its
 * address does not wait for @h.
 */
static inline struct iobuf_cache_tier *iobuf__cache_tier_of_handle(struct iobuf_cache *c, iobuf_handle_t h, uint32_t *x)
{
	struct iobuf_cache_tier *t = c->hint;

	*x = iobuf__handle_index_for(h, t->stamp);
	if (IOBUF_LIKELY(*x < t->capacity))
		return t;
	t = &c->tier[iobuf_handle_tag(h)];
	*x = iobuf__handle_index_for(h, t->stamp);
	if (IOBUF_UNLIKELY(*x >= t->capacity))
		return NULL;
	c->hint = t;
	return t;
}

/*
 * iobuf_cache_get - take a buffer of at least @size bytes through @cache.
 *
 * Pops the tier's warmest free buffer; on an empty stack, loads a
 * magazine from the pool first.  Returns 0 and *@h (on failure *@h is
 * IOBUF_HANDLE_NONE); -EINVAL for @size 0 or NULL arguments; -EMSGSIZE
 * for a size above the largest tier (or, pool-bound, above the pool's
 * buffer size); -ENOBUFS when the pool has no free buffer outside other
 * active caches (and, with IOBUF_SET_SPILL, no larger tier has one
 * either).  Acquires the bytes written before the buffer's last put.
 * Owner thread only; wait-free on the inline path, lock-free on a refill.
 */
static inline int iobuf_cache_get(struct iobuf_cache *c, size_t size, iobuf_handle_t *h)
{
	struct iobuf_cache_tier *t;

	if (IOBUF_LIKELY(c && h) && (t = iobuf__cache_tier_for(c, size)) != NULL && IOBUF_LIKELY(t->top > t->lo)) {
		iobuf__cache_pop(t, 1, h, NULL);
		return 0;
	}
	{
		/*
		 * Through a temporary: the slow path's pointer escapes, and were it
		 * @h, the caller's handle could no longer live in a register.
		 */
		iobuf_handle_t tmp = IOBUF_HANDLE_NONE;
		int rc = iobuf__cache_get_slow(c, size, h ? &tmp : NULL);

		if (h)
			*h = tmp;
		return rc;
	}
}

/*
 * iobuf_cache_put - return the buffer of handle @h through @cache.
 *
 * Pushes it on its tier's stack; on a full stack, flushes the older
 * magazine to the pool first.  Returns 0; -EINVAL when @h is not a
 * handle of the cache's set or pool; -EALREADY for a double put; -ESTALE
 * when the buffer was handed out again since @h was issued.  Of two puts
 * of one handle racing anywhere, one succeeds (unless
 * IOBUF_CACHE_UNSAFE_PUTS).  A refused put changes nothing but the pool's
 * refusal counters.  Releases the buffer's bytes to its next getter.
 * Owner thread only; wait-free on the inline path, lock-free on a flush.
 */
static inline int iobuf_cache_put(struct iobuf_cache *c, iobuf_handle_t h)
{
	struct iobuf_cache_tier *t;
	uint32_t x, g = iobuf_handle_generation(h);

	if (IOBUF_LIKELY(c != NULL) && (t = iobuf__cache_tier_of_handle(c, h, &x)) != NULL && iobuf__cache_room(t) &&
	    IOBUF_LIKELY(iobuf__gen_fast(g)) &&
	    IOBUF_LIKELY(c->unsafe ? iobuf__slot_release_single_unsafe(&t->slot[x], g)
				   : iobuf__slot_release_single(&t->slot[x], g))) {
		iobuf__cache_push(t, x, g + 1);
		return 0;
	}
	return iobuf__cache_put_slow(c, h);
}

/*
 * iobuf_cache_get_index - take a buffer by raw index (pool-bound cache).
 *
 * As iobuf_cache_get() without a handle.  Returns the index (>= 0),
 * -ENOBUFS, or -EINVAL (NULL, or a set-bound cache).  Address the buffer
 * with iobuf_pool_index_buf().  Ordering and progress as
 * iobuf_cache_get().
 */
static inline int iobuf_cache_get_index(struct iobuf_cache *c)
{
	uint32_t x;

	if (IOBUF_LIKELY(c != NULL) && IOBUF_LIKELY(c->one->top > c->one->lo)) {
		iobuf__cache_pop(c->one, 1, NULL, &x);
		return (int)x;
	}
	{
		int rc = iobuf__cache_get_bulk_slow(c, 1, NULL, &x, 1);

		return rc < 0 ? rc : (int)x;
	}
}

/*
 * iobuf_cache_put_index - return buffer @idx (pool-bound cache).
 *
 * Returns 0, -EINVAL (an index out of range, NULL, a set-bound cache) or
 * -EALREADY (the buffer is free).  A put of an index that was handed out
 * again since cannot be told apart here: that is what handles are for.
 * Ordering and progress as iobuf_cache_put().
 */
static inline int iobuf_cache_put_index(struct iobuf_cache *c, uint32_t idx)
{
	struct iobuf_cache_tier *t;
	uint32_t g;

	if (IOBUF_LIKELY(c != NULL) && (t = c->one, IOBUF_LIKELY(idx < t->capacity)) && iobuf__cache_room(t) &&
	    IOBUF_LIKELY(iobuf__slot_release_held(&t->slot[idx], &g))) {
		iobuf__cache_push(t, idx, g + 1);
		return 0;
	}
	return iobuf__cache_put_index_slow(c, idx);
}

/*
 * iobuf_cache_get_bulk - take exactly @n buffers of at least @size bytes, or none.
 *
 * Pops the top @n of the stack (refilling from the pool as needed).
 * Returns 0 with @n handles in @hs; -ENOBUFS (nothing taken) when fewer
 * than @n are free outside other active caches; -EINVAL (NULL, @n < 0,
 * @size 0) or -EMSGSIZE.  Ordering as iobuf_cache_get(); owner thread
 * only; wait-free when the stack holds @n, else lock-free.
 */
static inline int iobuf_cache_get_bulk(struct iobuf_cache *c, size_t size, iobuf_handle_t *hs, int n)
{
	struct iobuf_cache_tier *t;

	if (IOBUF_LIKELY(c && hs && n > 0) && (t = iobuf__cache_tier_for(c, size)) != NULL &&
	    IOBUF_LIKELY(t->top - t->lo >= n)) {
		iobuf__cache_pop(t, n, hs, NULL);
		return 0;
	}
	return iobuf__cache_get_bulk_slow(c, size, hs, NULL, n);
}

/*
 * iobuf_cache_get_index_bulk - take exactly @n buffers by index, or none.
 *
 * As iobuf_cache_get_bulk() with indices, on a pool-bound cache.  Returns
 * 0; -ENOBUFS (nothing taken); -EINVAL for NULL, @n < 0 or a set-bound
 * cache.  Ordering and progress as iobuf_cache_get_bulk().
 */
static inline int iobuf_cache_get_index_bulk(struct iobuf_cache *c, uint32_t *idx, int n)
{
	if (IOBUF_LIKELY(c && idx && n > 0) && IOBUF_LIKELY(c->one->top - c->one->lo >= n)) {
		iobuf__cache_pop(c->one, n, NULL, idx);
		return 0;
	}
	return iobuf__cache_get_bulk_slow(c, 1, NULL, idx, n);
}

/*
 * iobuf_cache_put_bulk - return the buffers of @n handles (of any tiers).
 *
 * Every valid handle is put; an invalid one is refused as by
 * iobuf_cache_put() and does not stop the others.  Returns 0 when all
 * were put, else the error of the first refused; -EINVAL for NULL or
 * @n < 0.  Ordering and progress as iobuf_cache_put().
 */
static inline int iobuf_cache_put_bulk(struct iobuf_cache *c, const iobuf_handle_t *hs, int n)
{
	int first = 0;

	if (IOBUF_UNLIKELY(!c || !hs || n < 0))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		int rc = iobuf_cache_put(c, hs[i]);

		if (IOBUF_UNLIKELY(rc < 0) && !first)
			first = rc;
	}
	return first;
}

/*
 * iobuf_cache_put_index_bulk - return @n buffers by index.
 *
 * Every valid index is put; an invalid one is refused as by
 * iobuf_cache_put_index() and does not stop the others.  Returns 0 when
 * all were put, else the error of the first refused; -EINVAL for NULL,
 * @n < 0 or a set-bound cache.  Ordering and progress as
 * iobuf_cache_put().
 */
static inline int iobuf_cache_put_index_bulk(struct iobuf_cache *c, const uint32_t *idx, int n)
{
	int first = 0;

	if (IOBUF_UNLIKELY(!c || !idx || n < 0 || c->one_size == 0))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		int rc = iobuf_cache_put_index(c, idx[i]);

		if (IOBUF_UNLIKELY(rc < 0) && !first)
			first = rc;
	}
	return first;
}

/*
 * iobuf_cache_buf - the address of the buffer of handle @h, checked.
 *
 * The inline twin of iobuf_buf() / iobuf_pool_buf() for a handle of the
 * cache's set or pool (got through any cache or none).  Returns the
 * address, or NULL when @h is not a live handle there (foreign, free, or
 * handed out again since) or @cache is NULL.  Orders nothing.  Any thread
 * that may use @cache; wait-free.
 */
static inline void *iobuf_cache_buf(const struct iobuf_cache *c, iobuf_handle_t h)
{
	const struct iobuf_cache_tier *t;
	uint32_t x;

	if (IOBUF_UNLIKELY(!c))
		return NULL;
	t = &c->tier[iobuf_handle_tag(h)];
	x = iobuf__handle_index_for(h, t->stamp);
	if (IOBUF_UNLIKELY(x >= t->capacity || !iobuf__slot_live(iobuf__slot_load(&t->slot[x]), h)))
		return iobuf__cache_buf_slow(c, h); /* a buffer of the set's fallback, or NULL */
	return t->base + (size_t)x * t->stride;
}

IOBUF_END_DECLS

#endif /* IOBUF_CACHE_H */
