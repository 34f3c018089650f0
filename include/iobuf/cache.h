/* SPDX-License-Identifier: MIT */
/*
 * iobuf/cache.h - a per-thread front cache for a set or a pool.
 *
 * A cache is an object its owner thread creates, uses and destroys; the
 * library keeps no list of caches, no thread-local state and no global.
 * It holds, for each tier, a LIFO stack of free indices: a get pops the
 * warmest buffer (the one put last), a put pushes it back.  The common
 * path touches only the owner's lines: the stack, its top and the
 * slot's generation word.  It has no atomic read-modify-write and no
 * fence, and it is inline (below), as DPDK's rte_mempool_get() is.
 *
 * Refill and flush move whole magazines of M indices (the pool's
 * magazine size, 64 by default) between the stack and the pool's depot
 * (Bonwick and Adams, "Magazines and Vmem", USENIX 2001): a get on an
 * empty stack loads one full magazine, a put on a full stack (2M) gives
 * the older M back.  A magazine costs two SCQ operations and a copy, so
 * buffers got on one thread and put on another reach the getter again
 * at one shared operation per M buffers.
 *
 * Bound.  A cache holds at most 2M free buffers of a tier, and M is at
 * most capacity / 16, so one cache never holds more than an eighth of a
 * tier.  Tiers with fewer than 16 buffers are not cached at all: their
 * gets and puts go straight to the pool.
 *
 * Empty pool.  Free buffers held by other threads' caches are not
 * visible to a get: when the pool's queue and depot are empty, a get
 * (cached or not) returns -ENOBUFS and asks for a reclaim: every cache
 * that sees the request on its next out-of-line call (a refill, a flush,
 * iobuf_cache_flush()) gives its whole stack of that tier back.  A
 * waiting get (iobuf_pool_get_wait()) is served sooner: while it waits,
 * every put through a cache on that pool hands its buffer, and the
 * cache's stack, to the pool, which wakes it.  A thread that goes idle
 * should call iobuf_cache_flush() (or destroy its cache).
 *
 * Checks.  A cached put checks the handle (or the index) against the
 * slot's generation as iobuf_pool_put() does, and flips it: a double put
 * returns -EALREADY, a stale handle -ESTALE, a foreign one -EINVAL, and
 * nothing changes.  One case needs a locked instruction, the whole cost
 * of the fast path, to be caught: two threads putting the same handle at
 * the same instant, with nothing ordering the two puts.  The fast path
 * does not pay for it; IOBUF_CACHE_STRICT does (every put then takes the
 * pool's compare-and-swap), and so do builds under ASan and runs under
 * valgrind, which mark every free buffer.
 *
 * Statistics.  Gets and puts through a cache count in iobuf_pool_stats()
 * as any other (they are read off the generations); buffers in caches
 * show as "cached", buffers in the depot as "free", and
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
 * carries the index (edge M1 in doc/design.md).
 *
 * Progress: the inline fast paths are wait-free (a bounded number of
 * steps on the owner's memory); refill, flush and every other
 * out-of-line call are lock-free.
 */
#ifndef IOBUF_CACHE_H
#define IOBUF_CACHE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <iobuf/common.h>
#include <iobuf/pool.h>
#include <iobuf/tiers.h>

IOBUF_BEGIN_DECLS

/* Cache policies, OR'ed into iobuf_cache_config.flags. */
enum iobuf_cache_flags {
	/*
	 * Every call out of line, every put a compare-and-swap on the slot's
	 * generation: two puts of one handle racing on two threads are then
	 * told apart too (one wins, the other gets -EALREADY).  Slower.
	 */
	IOBUF_CACHE_STRICT = 1u << 0,
};

struct iobuf_cache_config {
	unsigned flags; /* enum iobuf_cache_flags */
};

/*
 * The layout below is public only so that the fast paths can be inline.
 * Every field is private: read or write none of them.
 *
 * A tier's stack is two arrays of 2M entries: the free indices, and
 * beside each the slot's generation (even), so that a get need not load
 * the slot's word to flip it (in a handoff the other core wrote it
 * last).  @top points past the warmest index; the generation beside the
 * index at p is at gk + 2 * (uintptr_t)p (the two arrays' element sizes
 * are 4 and 8).  Both arrays contiguous keep bulk moves a memcpy.
 */
struct iobuf_cache_tier {
	uint32_t *top;     /* past the warmest free index */
	uint32_t *lo;      /* a get runs inline while top > lo */
	uint32_t *hi;      /* a put runs inline while top < hi (lo > hi: never; top == lo == hi: a tier not cached) */
	uintptr_t gk;      /* the generation beside index entry p: (uint64_t *)(gk + 2 * (uintptr_t)p) */
	uint64_t *gen;     /* the pool's slot generations */
	uint8_t *base;     /* the pool's buffer 0 */
	size_t stride;     /* the pool's stride */
	uint32_t capacity; /* the pool's capacity; 0 for a tier the cache does not serve */
	uint32_t hbits;    /* mark and tag bits of this tier's handles (their low half) */
};

struct iobuf_cache {
	struct iobuf_cache_tier *one;  /* pool-bound: the pool's tier; set-bound: a stand-in that serves nothing */
	size_t one_size;               /* pool-bound: the pool's buffer size; set-bound: 0 */
	struct iobuf_cache_tier *hint; /* where a put looks first: the tier of the last put */
	struct iobuf_set *set;         /* set-bound: the set */
	unsigned flags;
	uint32_t spare;
	uint64_t pad[3];
	struct iobuf_cache_tier tier[IOBUF_TIER_COUNT + 1]; /* by tag; [8] is the stand-in */
	/* ... and, out of the caller's sight, the cold state and the stacks. */
};

/*
 * iobuf_cache_create - a cache over the eight tiers of @set.
 *
 * @cfg may be NULL (no flags).  The cache starts empty and fills on its
 * first gets.  Returns the cache, or NULL with *@err (when @err is not
 * NULL) -EINVAL (NULL @set, unknown flags) or -ENOMEM.  The caller owns
 * it: one thread at a time uses it, and someone destroys it before the
 * set.  Orders nothing.  Blocking (it allocates); thread-safe.
 */
IOBUF_API struct iobuf_cache *iobuf_cache_create(struct iobuf_set *set, const struct iobuf_cache_config *cfg,
						 int *err);

/*
 * iobuf_cache_create_pool - a cache over the single pool @pool.
 *
 * As iobuf_cache_create(); the raw-index calls (iobuf_cache_get_index()...)
 * work on this form only.  Returns the cache, or NULL with *@err -EINVAL
 * (NULL @pool, unknown flags) or -ENOMEM.  Orders nothing.  Blocking (it
 * allocates); thread-safe.
 */
IOBUF_API struct iobuf_cache *iobuf_cache_create_pool(struct iobuf_pool *pool, const struct iobuf_cache_config *cfg,
						      int *err);

/*
 * iobuf_cache_destroy - flush @cache (see iobuf_cache_flush()) and free it.
 *
 * Buffers handed out through it stay valid: put them through the pool,
 * the set or another cache.  NULL is ignored.  Releases what the flush
 * releases.  Only the owner, with no other call on @cache running or to
 * come; lock-free but for free().
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
 * iobuf_cache_count - free buffers of @tier that @cache holds.
 *
 * @tier is the tier of a set-bound cache, or the pool's tag for a
 * pool-bound one.  Returns the count (0 .. 2 x magazine), or -EINVAL.
 * Orders nothing.  Owner thread only; wait-free.
 */
IOBUF_API int iobuf_cache_count(const struct iobuf_cache *cache, int tier);

/* ---- out-of-line forms: same contracts as the inline calls below -------- */

/*
 * The inline calls below run their common case in the caller and call
 * these for everything else (an empty or full stack, an error, a strict
 * or debugging cache).  Each is a complete implementation of the call of
 * the same name without _slow, with the same contract; calling one
 * directly is correct, only slower.
 */
IOBUF_API int iobuf_cache_get_slow(struct iobuf_cache *cache, size_t size, iobuf_handle_t *h);
IOBUF_API int iobuf_cache_put_slow(struct iobuf_cache *cache, iobuf_handle_t h);
IOBUF_API int iobuf_cache_get_index_slow(struct iobuf_cache *cache);
IOBUF_API int iobuf_cache_put_index_slow(struct iobuf_cache *cache, uint32_t idx);
IOBUF_API int iobuf_cache_get_bulk_slow(struct iobuf_cache *cache, size_t size, iobuf_handle_t *hs, int n);
IOBUF_API int iobuf_cache_put_bulk_slow(struct iobuf_cache *cache, const iobuf_handle_t *hs, int n);
IOBUF_API int iobuf_cache_get_index_bulk_slow(struct iobuf_cache *cache, uint32_t *idx, int n);
IOBUF_API int iobuf_cache_put_index_bulk_slow(struct iobuf_cache *cache, const uint32_t *idx, int n);

/* ---- inline fast paths ----------------------------------------------------- */

/*
 * The slot generations are shared words (the pool's statistics read them
 * from any thread), so the fast paths read and write them atomically,
 * relaxed: a plain mov on x86-64 and arm64.  These two are the only
 * atomics spelled outside src/atomic.h; they order nothing (every edge is
 * in the out-of-line code).
 */
static inline uint64_t iobuf__cache_gen_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void iobuf__cache_gen_store(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/*
 * A pool keeps the count of its waiting gets (iobuf_pool_get_wait() that
 * found it empty) in the cache line just before its generations:
 * gen[-IOBUF__CACHE_WAITERS_BACK], as a uint32_t.  An inline put looks at
 * it (a read of a line written only when a get starts or stops waiting):
 * while a get waits, puts go out of line and give the buffer, and the
 * cache's stack, to the pool, which wakes the get.
 */
#define IOBUF__CACHE_WAITERS_BACK 8
static inline uint32_t iobuf__cache_waiters(const uint64_t *gen)
{
	return __atomic_load_n((const uint32_t *)(const void *)(gen - IOBUF__CACHE_WAITERS_BACK), __ATOMIC_RELAXED);
}

/* Unroll the bulk loops: their bodies are a few instructions. */
#if defined(__clang__)
#define IOBUF__UNROLL4 _Pragma("unroll 4")
#elif defined(__GNUC__) && __GNUC__ >= 8
#define IOBUF__UNROLL4 _Pragma("GCC unroll 4")
#else
#define IOBUF__UNROLL4
#endif

/* The tier of a size, for 1 <= size <= IOBUF_MAX_SIZE (see iobuf_tier_for_size()). */
static inline unsigned iobuf__cache_tier_of(size_t size)
{
	return (unsigned)(61 - __builtin_clzll((unsigned long long)((size - 1) | 15))) >> 1;
}

/*
 * The generation entry beside index entry @p of tier @t.  The address is
 * kept in a register (an empty asm the compiler cannot see through): the
 * single get loads the entry the previous put stored, and on Sapphire
 * Rapids such a store-forwarded load measured twice as slow (5.4 against
 * 2.8 ns per W1 pair) when the compiler folds the computation into a
 * scaled-index addressing mode.
 */
static inline uint64_t *iobuf__cache_gslot(const struct iobuf_cache_tier *t, const uint32_t *p)
{
	uintptr_t a = t->gk + 2 * (uintptr_t)p;

#if defined(__GNUC__)
	__asm__("" : "+r"(a));
#endif
	return (uint64_t *)a;
}

/*
 * iobuf_cache_get - take a buffer of at least @size bytes through @cache.
 *
 * Pops the tier's warmest free buffer; on an empty stack, loads a
 * magazine from the pool first.  Returns 0 and *@h (on failure *@h is
 * IOBUF_HANDLE_NONE); -EINVAL for @size 0 or NULL arguments; -EMSGSIZE
 * for a size above the largest tier (or, pool-bound, above the pool's
 * buffer size); -ENOBUFS when the pool has no free buffer outside other
 * caches (and, with IOBUF_SET_SPILL, no larger tier has one either).
 * Acquires the bytes written before the buffer's last put.  Owner thread
 * only; wait-free on the inline path, lock-free on a refill.
 */
static inline int iobuf_cache_get(struct iobuf_cache *c, size_t size, iobuf_handle_t *h)
{
	struct iobuf_cache_tier *t;
	uint32_t *p, idx;
	uint64_t g;

	if (IOBUF_UNLIKELY(!h))
		return -EINVAL;
	if (IOBUF_UNLIKELY(!c)) {
		*h = IOBUF_HANDLE_NONE;
		return -EINVAL;
	}
	if (c->one_size) {
		if (IOBUF_UNLIKELY(size - 1 >= c->one_size))
			goto slow;
		t = c->one;
	} else {
		if (IOBUF_UNLIKELY(size - 1 >= IOBUF_MAX_SIZE))
			goto slow;
		t = &c->tier[iobuf__cache_tier_of(size)];
	}
	p = t->top;
	if (IOBUF_UNLIKELY(p <= t->lo))
		goto slow;
	p--;
	idx = *p;
	g = *iobuf__cache_gslot(t, p) + 1;
	t->top = p;
	iobuf__cache_gen_store(&t->gen[idx], g);
	*h = (g << 32) | t->hbits | idx;
	return 0;
slow: {
	/*
	 * Through a temporary: the slow path's pointer escapes, and were it
	 * @h, the caller's handle could no longer live in a register.
	 */
	iobuf_handle_t tmp = IOBUF_HANDLE_NONE;
	int rc = iobuf_cache_get_slow(c, size, &tmp);

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
 * when the buffer was handed out again since @h was issued (see the
 * header comment for the one race only IOBUF_CACHE_STRICT catches).  A
 * refused put changes nothing but the pool's refusal counters.  Releases
 * the buffer's bytes to its next getter.  Owner thread only; wait-free
 * on the inline path, lock-free on a flush.
 */
static inline int iobuf_cache_put(struct iobuf_cache *c, iobuf_handle_t h)
{
	struct iobuf_cache_tier *t;
	uint32_t idx, *p;

	if (IOBUF_UNLIKELY(!c))
		return iobuf_cache_put_slow(c, h);
	/*
	 * The tier of the last put first: its address does not wait for @h,
	 * so the load of the stack top is not chained behind the get that
	 * made @h.  The index when the mark and tag bits are this tier's;
	 * else it wraps to >= 2^28 > capacity.
	 */
	t = c->hint;
	idx = (uint32_t)h - t->hbits;
	if (IOBUF_UNLIKELY(idx >= t->capacity)) {
		t = &c->tier[iobuf_handle_tag(h)];
		idx = (uint32_t)h - t->hbits;
		if (IOBUF_UNLIKELY(idx >= t->capacity))
			return iobuf_cache_put_slow(c, h);
		c->hint = t;
	}
	p = t->top;
	if (IOBUF_LIKELY(p < t->hi && !iobuf__cache_waiters(t->gen))) {
		uint64_t *gs = iobuf__cache_gslot(t, p), *gp = &t->gen[idx], g = iobuf__cache_gen_load(gp);

		if (IOBUF_LIKELY((uint32_t)g == (uint32_t)(h >> 32) && (g & 1))) {
			*p = idx;
			*gs = g + 1;
			t->top = p + 1;
			iobuf__cache_gen_store(gp, g + 1);
			return 0;
		}
	}
	return iobuf_cache_put_slow(c, h);
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
	struct iobuf_cache_tier *t;
	uint32_t *p, idx;
	uint64_t g;

	if (IOBUF_UNLIKELY(!c))
		return iobuf_cache_get_index_slow(c);
	t = c->one;
	p = t->top;
	if (IOBUF_UNLIKELY(p <= t->lo))
		return iobuf_cache_get_index_slow(c);
	p--;
	idx = *p;
	g = *iobuf__cache_gslot(t, p) + 1;
	t->top = p;
	iobuf__cache_gen_store(&t->gen[idx], g);
	return (int)idx;
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
	uint32_t *p;

	if (IOBUF_UNLIKELY(!c))
		return iobuf_cache_put_index_slow(c, idx);
	t = c->one;
	p = t->top;
	if (IOBUF_LIKELY(p < t->hi && idx < t->capacity && !iobuf__cache_waiters(t->gen))) {
		uint64_t *gs = iobuf__cache_gslot(t, p), *gp = &t->gen[idx], g = iobuf__cache_gen_load(gp);

		if (IOBUF_LIKELY(g & 1)) {
			*p = idx;
			*gs = g + 1;
			t->top = p + 1;
			iobuf__cache_gen_store(gp, g + 1);
			return 0;
		}
	}
	return iobuf_cache_put_index_slow(c, idx);
}

/*
 * iobuf_cache_get_index_bulk - take exactly @n buffers by index, or none.
 *
 * Moves the top @n indices of the stack to @idx (a copy; refilling from
 * the pool as needed).  Returns 0; -ENOBUFS (nothing taken) when fewer
 * than @n are free outside other caches; -EINVAL for NULL, @n < 0 or a
 * set-bound cache.  Ordering as iobuf_cache_get(); owner thread only;
 * wait-free when the stack holds @n, else lock-free.
 */
static inline int iobuf_cache_get_index_bulk(struct iobuf_cache *c, uint32_t *idx, int n)
{
	struct iobuf_cache_tier *t;
	const uint64_t *gs;
	uint64_t *gen;
	uint32_t *p;

	if (IOBUF_UNLIKELY(!c || !idx))
		return iobuf_cache_get_index_bulk_slow(c, idx, n);
	t = c->one;
	p = t->top;
	if (IOBUF_UNLIKELY(n <= 0 || p - t->lo < n))
		return iobuf_cache_get_index_bulk_slow(c, idx, n);
	p -= n;
	t->top = p;
	gs = iobuf__cache_gslot(t, p);
	gen = t->gen;
	__builtin_memcpy(idx, p, sizeof(uint32_t) * (size_t)n);
	IOBUF__UNROLL4
	for (int i = 0; i < n; i++)
		iobuf__cache_gen_store(&gen[p[i]], gs[i] + 1);
	return 0;
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
	struct iobuf_cache_tier *t;
	uint64_t *gs, *gen;
	uint32_t *p, cap;
	int i;

	if (IOBUF_UNLIKELY(!c || !idx || n < 0))
		return iobuf_cache_put_index_bulk_slow(c, idx, n);
	t = c->one;
	p = t->top;
	if (IOBUF_UNLIKELY(t->hi - p < n || p >= t->hi || iobuf__cache_waiters(t->gen)))
		return iobuf_cache_put_index_bulk_slow(c, idx, n);
	gs = iobuf__cache_gslot(t, p);
	gen = t->gen;
	cap = t->capacity;
	/* Check and flip one by one (a duplicate in @idx finds its slot even), then copy. */
	IOBUF__UNROLL4
	for (i = 0; i < n; i++) {
		uint32_t x = idx[i];
		uint64_t g;

		if (IOBUF_UNLIKELY(x >= cap))
			break;
		g = iobuf__cache_gen_load(&gen[x]);
		if (IOBUF_UNLIKELY(!(g & 1)))
			break;
		gs[i] = g + 1;
		iobuf__cache_gen_store(&gen[x], g + 1);
	}
	__builtin_memcpy(p, idx, sizeof(uint32_t) * (size_t)i);
	t->top = p + i;
	if (IOBUF_UNLIKELY(i < n))
		return iobuf_cache_put_index_bulk_slow(c, idx + i, n - i);
	return 0;
}

/*
 * iobuf_cache_get_bulk - take exactly @n buffers of at least @size bytes, or none.
 *
 * As iobuf_cache_get_index_bulk() with handles, on a set- or pool-bound
 * cache.  Returns 0 with @n handles in @hs; -ENOBUFS (nothing taken);
 * -EINVAL (NULL, @n < 0, @size 0) or -EMSGSIZE.  Ordering and progress
 * as iobuf_cache_get_index_bulk().
 */
static inline int iobuf_cache_get_bulk(struct iobuf_cache *c, size_t size, iobuf_handle_t *hs, int n)
{
	struct iobuf_cache_tier *t;
	const uint64_t *gs;
	uint64_t *gen, hbits;
	uint32_t *p;

	if (IOBUF_UNLIKELY(!c || !hs))
		return iobuf_cache_get_bulk_slow(c, size, hs, n);
	if (c->one_size) {
		if (IOBUF_UNLIKELY(size - 1 >= c->one_size))
			return iobuf_cache_get_bulk_slow(c, size, hs, n);
		t = c->one;
	} else {
		if (IOBUF_UNLIKELY(size - 1 >= IOBUF_MAX_SIZE))
			return iobuf_cache_get_bulk_slow(c, size, hs, n);
		t = &c->tier[iobuf__cache_tier_of(size)];
	}
	p = t->top;
	if (IOBUF_UNLIKELY(n <= 0 || p - t->lo < n))
		return iobuf_cache_get_bulk_slow(c, size, hs, n);
	p -= n;
	t->top = p;
	gs = iobuf__cache_gslot(t, p);
	gen = t->gen;
	hbits = t->hbits;
	IOBUF__UNROLL4
	for (int i = 0; i < n; i++) {
		uint32_t x = p[i];
		uint64_t g = gs[i] + 1;

		hs[i] = (g << 32) | hbits | x;
		iobuf__cache_gen_store(&gen[x], g);
	}
	return 0;
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
	int i = 0;

	if (IOBUF_UNLIKELY(!c || !hs || n < 0))
		return iobuf_cache_put_bulk_slow(c, hs, n);
	/* Runs of handles of one tier, with that tier's stack top in a register. */
	while (i < n) {
		unsigned tag = iobuf_handle_tag(hs[i]);
		struct iobuf_cache_tier *t = &c->tier[tag];
		uint32_t *p = t->top, *hi = t->hi, cap = t->capacity, hb = t->hbits;
		uint64_t *gen = t->gen;

		if (IOBUF_UNLIKELY(p < hi && iobuf__cache_waiters(gen)))
			return iobuf_cache_put_bulk_slow(c, hs + i, n - i);

		for (; i < n; i++) {
			iobuf_handle_t h = hs[i];
			uint32_t x = (uint32_t)h - hb; /* see iobuf_cache_put() */
			uint64_t g;

			if (IOBUF_UNLIKELY((x >= cap) | (p >= hi))) {
				if (iobuf_handle_tag(h) != tag)
					break; /* another tier: a new run */
				t->top = p;
				return iobuf_cache_put_bulk_slow(c, hs + i, n - i);
			}
			g = iobuf__cache_gen_load(&gen[x]);
			if (IOBUF_UNLIKELY((uint32_t)g != (uint32_t)(h >> 32) || !(g & 1))) {
				t->top = p;
				return iobuf_cache_put_bulk_slow(c, hs + i, n - i);
			}
			*iobuf__cache_gslot(t, p) = g + 1;
			*p++ = x;
			iobuf__cache_gen_store(&gen[x], g + 1);
		}
		t->top = p;
	}
	return 0;
}

/*
 * iobuf_cache_buf - the address of the buffer of handle @h, checked.
 *
 * The inline twin of iobuf_buf() / iobuf_pool_buf() for a handle of the
 * cache's set or pool (got through any cache or none).  Returns the
 * address, or NULL when @h is not a live handle there (foreign, free, or
 * handed out again since).  Orders nothing.  Any thread that may use
 * @cache; wait-free.
 */
static inline void *iobuf_cache_buf(const struct iobuf_cache *c, iobuf_handle_t h)
{
	const struct iobuf_cache_tier *t;
	uint32_t idx;

	if (IOBUF_UNLIKELY(!c))
		return NULL;
	t = &c->tier[iobuf_handle_tag(h)];
	idx = (uint32_t)h - t->hbits; /* see iobuf_cache_put() */
	if (IOBUF_UNLIKELY(idx >= t->capacity ||
			   (uint32_t)iobuf__cache_gen_load(&t->gen[idx]) != (uint32_t)(h >> 32) || !(h & (UINT64_C(1) << 32))))
		return NULL;
	return t->base + (size_t)idx * t->stride;
}

IOBUF_END_DECLS

#endif /* IOBUF_CACHE_H */
