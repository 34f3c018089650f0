/* SPDX-License-Identifier: MIT */
/*
 * cache.c - the out-of-line half of the per-thread cache: create,
 * destroy, flush, and every call the inline fast paths of
 * include/iobuf/cache.h hand over (an empty or full stack, an error, a
 * strict or debugging cache).
 *
 * Each served tier has a LIFO stack of 2M slots (M: the pool's magazine
 * size).  A get on an empty stack loads one full magazine from the pool
 * (iobuf__pool_refill()); a put on a full stack gives the older half, M
 * indices, back as one magazine (iobuf__pool_flush()) and moves the
 * warmer half down.  So the stack runs between 0 and 2M and, after any
 * exchange, sits at M: M gets or M puts before the next one (Bonwick's
 * loaded and previous magazines, as one array).
 *
 * The generation of a slot is flipped by whoever holds the index: the
 * inline paths with a relaxed load and store (the owner's line), the
 * paths here through iobuf__pool_take() and iobuf__pool_release*(), which
 * also mark the buffer for ASan and valgrind and, for a put, use the
 * compare-and-swap that makes racing puts exact (IOBUF_CACHE_STRICT).
 *
 * Ordering: nothing here is spelled; the edges are in pool.c: P1 and M1
 * (a flush releases, a refill acquires), M2 (empty magazines), W1 (a
 * flush wakes sleeping gets).  Within a cache, program order.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <iobuf/cache.h>

#include "atomic.h"
#include "pool.h"
#include "tiers.h"

#define STANDIN IOBUF_TIER_COUNT

/* What the inline paths never read. */
struct cold_tier {
	struct iobuf_pool *pool; /* NULL: a tier the cache does not serve */
	uint32_t *bot;           /* the stack's bottom: it holds bot .. top - 1 */
	uint32_t mag;            /* indices per magazine; 0: the tier is passed straight through */
	uint32_t seen;           /* the pool's reclaim epoch when this cache last looked */
};

struct cache {
	struct iobuf_cache pub; /* first: the caller's pointer */
	struct cold_tier cold[IOBUF_TIER_COUNT + 1];
	uint64_t slots[]; /* the generation arrays, then the index arrays */
};

_Static_assert(sizeof(struct iobuf_cache_tier) == 64, "a tier is one cache line");
_Static_assert(offsetof(struct iobuf_cache, tier) == 64, "the tiers start on the second line");

static inline struct cache *priv(struct iobuf_cache *c)
{
	return (struct cache *)c;
}

static inline int tier_no(const struct iobuf_cache *c, const struct iobuf_cache_tier *t)
{
	return (int)(t - c->tier);
}

static inline struct iobuf_pool *pool_of(const struct iobuf_cache *c, int ti)
{
	return ((const struct cache *)(const void *)c)->cold[ti].pool;
}

/* Free indices on tier @ti's stack. */
static inline uint32_t count(const struct iobuf_cache *c, int ti)
{
	return (uint32_t)(c->tier[ti].top - ((const struct cache *)(const void *)c)->cold[ti].bot);
}

/* Record beside the @n indices from @p on their generations (current: the cache owns them). */
static void note_gens(struct iobuf_cache_tier *t, const uint32_t *p, uint32_t n)
{
	uint64_t *gs = iobuf__cache_gslot(t, p);

	for (uint32_t i = 0; i < n; i++)
		gs[i] = iobuf__load_64(&t->gen[p[i]]);
}

/* ---- moving indices between the stack and the pool --------------------------- */

/* Give back all but the top @keep indices of tier @ti; returns how many went. */
static int give_back(struct iobuf_cache *c, int ti, uint32_t keep)
{
	struct iobuf_cache_tier *t = &c->tier[ti];
	uint32_t *bot = priv(c)->cold[ti].bot, n = count(c, ti), go = n > keep ? n - keep : 0;

	if (go == 0)
		return 0;
	/* The oldest (Bonwick's previous magazine) in whole magazines to the depot, the rest to the queue. */
	iobuf__pool_flush(pool_of(c, ti), bot, (int)go);
	memmove(bot, bot + go, sizeof(uint32_t) * (n - go));
	memmove(iobuf__cache_gslot(t, bot), iobuf__cache_gslot(t, bot + go), sizeof(uint64_t) * (n - go));
	t->top = bot + (n - go);
	return (int)go;
}

/* A reclaim asked for since we last looked: give the whole tier back. */
static void poll_reclaim(struct iobuf_cache *c, int ti)
{
	struct cold_tier *k = &priv(c)->cold[ti];
	uint32_t e = iobuf__pool_reclaim_epoch(pool_of(c, ti));

	if (IOBUF_UNLIKELY(e != k->seen)) {
		k->seen = e;
		give_back(c, ti, 0);
	}
}

/* A free index of tier @ti for a get (its generation still even), or -ENOBUFS. */
static int take_free(struct iobuf_cache *c, int ti, uint32_t *idx)
{
	struct iobuf_cache_tier *t = &c->tier[ti];
	struct iobuf_pool *p = pool_of(c, ti);
	uint32_t mag = priv(c)->cold[ti].mag;

	if (mag == 0) {
		if (iobuf__pool_refill(p, idx, 1) == 1)
			return 0;
		iobuf__pool_note_empty(p);
		return -ENOBUFS;
	}
	poll_reclaim(c, ti);
	if (count(c, ti) == 0) {
		uint32_t *bot = priv(c)->cold[ti].bot;
		int got = iobuf__pool_refill(p, bot, (int)mag);

		if (got == 0) {
			iobuf__pool_note_empty(p);
			return -ENOBUFS;
		}
		/* Their generations are current: the refill acquired them (P1, M1). */
		note_gens(t, bot, (uint32_t)got);
		t->top = bot + got;
	}
	*idx = *--t->top;
	return 0;
}

/* Keep a free index (generation already even) of tier @ti: push it, flushing a magazine if full. */
static void keep_free(struct iobuf_cache *c, int ti, uint32_t idx)
{
	struct iobuf_cache_tier *t = &c->tier[ti];
	uint32_t mag = priv(c)->cold[ti].mag;

	if (mag == 0) {
		iobuf__pool_give(pool_of(c, ti), &idx, 1);
		return;
	}
	if (iobuf__cache_waiters(t->gen) != 0) {
		/* A get sleeps on this pool: give it this buffer and the stack, now (W1 wakes it). */
		give_back(c, ti, 0);
		iobuf__pool_give(pool_of(c, ti), &idx, 1);
		return;
	}
	poll_reclaim(c, ti);
	if (count(c, ti) >= 2 * mag)
		give_back(c, ti, mag);
	*t->top = idx;
	note_gens(t, t->top, 1);
	t->top++;
}

/* ---- create / destroy / flush ------------------------------------------------- */

static struct iobuf_cache *cache_new(struct iobuf_set *set, struct iobuf_pool *one, const struct iobuf_cache_config *cfg,
				     int *err)
{
	struct iobuf_pool *pools[IOBUF_TIER_COUNT] = {0};
	unsigned flags = cfg ? cfg->flags : 0;
	size_t slots = 0;
	struct cache *k;
	uint32_t *stack;
	uint64_t *gstack;
	int rc = -EINVAL;

	if ((!set && !one) || (flags & ~(unsigned)IOBUF_CACHE_STRICT))
		goto fail;
	if (one) {
		pools[((const struct iobuf_pool_shape *)(const void *)one)->tag] = one;
	} else {
		for (int t = 0; t < IOBUF_TIER_COUNT; t++)
			pools[t] = iobuf_set_pool(set, t);
	}
	for (int t = 0; t < IOBUF_TIER_COUNT; t++)
		if (pools[t])
			slots += 2 * (size_t)iobuf__pool_magazine(pools[t]);
	rc = -ENOMEM;
	if (posix_memalign((void **)&k, 64, sizeof(*k) + (sizeof(uint64_t) + sizeof(uint32_t)) * slots) != 0)
		goto fail;
	memset(k, 0, sizeof(*k));
	gstack = k->slots;
	stack = (uint32_t *)(k->slots + slots);
	for (int ti = 0; ti <= STANDIN; ti++) {
		/* A tier not served: an empty stack that is also full (pointers into one object, not NULL). */
		k->cold[ti].bot = k->pub.tier[ti].top = k->pub.tier[ti].lo = k->pub.tier[ti].hi = &k->pub.spare;
	}
	for (int ti = 0; ti < IOBUF_TIER_COUNT; ti++) {
		struct iobuf_cache_tier *t = &k->pub.tier[ti];
		struct iobuf_pool *p = pools[ti];
		uint32_t mag;

		if (!p)
			continue;
		mag = iobuf__pool_magazine(p);
		k->cold[ti].bot = stack;
		t->top = stack;
		/* Modular arithmetic: gk + 2 * (uintptr_t)(stack + i) is &gstack[i]. */
		t->gk = (uintptr_t)gstack - 2 * (uintptr_t)stack;
		if ((flags & IOBUF_CACHE_STRICT) || iobuf__pool_debug(p)) {
			/* lo above hi: every call out of line, where buffers are marked and puts are exact. */
			t->lo = stack + 2 * mag;
			t->hi = stack;
		} else {
			t->lo = stack;
			t->hi = stack + 2 * mag;
		}
		stack += 2 * (size_t)mag;
		gstack += 2 * (size_t)mag;
		t->gen = iobuf__pool_meta(p);
		t->capacity = iobuf_pool_capacity(p);
		t->hbits = (uint32_t)IOBUF_HANDLE_MARK | ((uint32_t)ti << IOBUF_HANDLE_INDEX_BITS);
		k->cold[ti].pool = p;
		t->base = ((const struct iobuf_pool_shape *)(const void *)p)->base;
		t->stride = iobuf_pool_stride(p);
		k->cold[ti].mag = mag;
		k->cold[ti].seen = iobuf__pool_reclaim_epoch(p);
		iobuf__pool_attach(p, 1);
	}
	k->pub.flags = flags;
	k->pub.set = set;
	if (one) {
		k->pub.one = &k->pub.tier[((const struct iobuf_pool_shape *)(const void *)one)->tag];
		k->pub.one_size = iobuf_pool_buf_size(one);
	} else {
		k->pub.one = &k->pub.tier[STANDIN];
		k->pub.one_size = 0;
	}
	k->pub.hint = k->pub.one;
	/* Published to the owner thread by however the caller hands over the pointer. */
	return &k->pub;
fail:
	if (err)
		*err = rc;
	return NULL;
}

struct iobuf_cache *iobuf_cache_create(struct iobuf_set *set, const struct iobuf_cache_config *cfg, int *err)
{
	if (!set) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	return cache_new(set, NULL, cfg, err);
}

struct iobuf_cache *iobuf_cache_create_pool(struct iobuf_pool *pool, const struct iobuf_cache_config *cfg, int *err)
{
	if (!pool) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	return cache_new(NULL, pool, cfg, err);
}

int iobuf_cache_flush(struct iobuf_cache *c)
{
	int total = 0;

	if (!c)
		return -EINVAL;
	for (int ti = 0; ti < IOBUF_TIER_COUNT; ti++)
		if (pool_of(c, ti))
			total += give_back(c, ti, 0);
	return total;
}

void iobuf_cache_destroy(struct iobuf_cache *c)
{
	if (!c)
		return;
	iobuf_cache_flush(c);
	for (int ti = 0; ti < IOBUF_TIER_COUNT; ti++)
		if (pool_of(c, ti))
			iobuf__pool_attach(pool_of(c, ti), -1);
	free(priv(c));
}

int iobuf_cache_count(const struct iobuf_cache *c, int tier)
{
	if (!c || tier < 0 || tier >= IOBUF_TIER_COUNT)
		return -EINVAL;
	return (int)count(c, tier);
}

/* ---- the out-of-line calls ----------------------------------------------------- */

/* The tier a get of @size bytes uses, or a negative errno. */
static int tier_for_get(const struct iobuf_cache *c, size_t size)
{
	if (c->one_size) {
		if (size == 0)
			return -EINVAL;
		if (size > c->one_size)
			return -EMSGSIZE;
		return tier_no(c, c->one);
	}
	return iobuf_tier_for_size(size);
}

int iobuf_cache_get_slow(struct iobuf_cache *c, size_t size, iobuf_handle_t *h)
{
	uint32_t idx;
	int ti, rc;

	if (!h)
		return -EINVAL;
	*h = IOBUF_HANDLE_NONE;
	if (!c)
		return -EINVAL;
	ti = tier_for_get(c, size);
	if (ti < 0)
		return ti;
	rc = pool_of(c, ti) ? take_free(c, ti, &idx) : -ENOBUFS;
	if (rc == 0) {
		*h = iobuf__pool_take(pool_of(c, ti), idx);
		return 0;
	}
	if (c->set && (iobuf__set_flags(c->set) & IOBUF_SET_SPILL)) {
		for (int up = ti + 1; up < IOBUF_TIER_COUNT; up++) {
			if (pool_of(c, up) && take_free(c, up, &idx) == 0) {
				iobuf__set_note_spill(c->set);
				*h = iobuf__pool_take(pool_of(c, up), idx);
				return 0;
			}
		}
	}
	return rc;
}

int iobuf_cache_put_slow(struct iobuf_cache *c, iobuf_handle_t h)
{
	struct iobuf_pool *p;
	int ti, rc;

	if (!c)
		return -EINVAL;
	ti = (int)iobuf_handle_tag(h);
	p = pool_of(c, ti);
	if (!p) {
		/* Pool-bound: a handle of another tag is the pool's refusal; set-bound: as iobuf_put(). */
		if (pool_of(c, tier_no(c, c->one)))
			iobuf__pool_refuse(pool_of(c, tier_no(c, c->one)), -EINVAL);
		return -EINVAL;
	}
	rc = iobuf__pool_release(p, h);
	if (rc < 0)
		return rc;
	keep_free(c, ti, (uint32_t)rc);
	return 0;
}

int iobuf_cache_get_index_slow(struct iobuf_cache *c)
{
	uint32_t idx;
	int ti, rc;

	if (!c || !pool_of(c, tier_no(c, c->one)))
		return -EINVAL;
	ti = tier_no(c, c->one);
	rc = take_free(c, ti, &idx);
	if (rc < 0)
		return rc;
	(void)iobuf__pool_take(pool_of(c, tier_no(c, c->one)), idx);
	return (int)idx;
}

int iobuf_cache_put_index_slow(struct iobuf_cache *c, uint32_t idx)
{
	int rc;

	if (!c || !pool_of(c, tier_no(c, c->one)))
		return -EINVAL;
	rc = iobuf__pool_release_index(pool_of(c, tier_no(c, c->one)), idx);
	if (rc < 0)
		return rc;
	keep_free(c, tier_no(c, c->one), idx);
	return 0;
}

/*
 * @n free indices of tier @ti into @idx, all or none.  On failure the
 * ones taken go back on the stack in their order.
 */
static int take_free_n(struct iobuf_cache *c, int ti, uint32_t *idx, int n)
{
	for (int i = 0; i < n; i++) {
		if (take_free(c, ti, &idx[i]) < 0) {
			while (i > 0)
				keep_free(c, ti, idx[--i]);
			return -ENOBUFS;
		}
	}
	return 0;
}

int iobuf_cache_get_index_bulk_slow(struct iobuf_cache *c, uint32_t *idx, int n)
{
	int rc;

	if (!c || !pool_of(c, tier_no(c, c->one)) || n < 0 || (!idx && n > 0))
		return -EINVAL;
	rc = take_free_n(c, tier_no(c, c->one), idx, n);
	if (rc < 0)
		return rc;
	for (int i = 0; i < n; i++)
		(void)iobuf__pool_take(pool_of(c, tier_no(c, c->one)), idx[i]);
	return 0;
}

int iobuf_cache_put_index_bulk_slow(struct iobuf_cache *c, const uint32_t *idx, int n)
{
	int first = 0;

	if (!c || !pool_of(c, tier_no(c, c->one)) || n < 0 || (!idx && n > 0))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		int rc = iobuf_cache_put_index_slow(c, idx[i]);

		if (rc < 0 && !first)
			first = rc;
	}
	return first;
}

int iobuf_cache_get_bulk_slow(struct iobuf_cache *c, size_t size, iobuf_handle_t *hs, int n)
{
	struct iobuf_pool *p;
	int ti;

	if (!c || n < 0 || (!hs && n > 0))
		return -EINVAL;
	ti = tier_for_get(c, size);
	if (ti < 0)
		return ti;
	if (n == 0)
		return 0;
	p = pool_of(c, ti);
	if (!p)
		return -ENOBUFS;
	/* All or none: gather the free indices in @hs, give them back on failure. */
	for (int i = 0; i < n; i++) {
		uint32_t idx;

		if (take_free(c, ti, &idx) < 0) {
			while (i > 0)
				keep_free(c, ti, (uint32_t)hs[--i]);
			return -ENOBUFS;
		}
		hs[i] = idx;
	}
	for (int i = 0; i < n; i++)
		hs[i] = iobuf__pool_take(p, (uint32_t)hs[i]);
	return 0;
}

int iobuf_cache_put_bulk_slow(struct iobuf_cache *c, const iobuf_handle_t *hs, int n)
{
	int first = 0;

	if (!c || n < 0 || (!hs && n > 0))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		int rc = iobuf_cache_put_slow(c, hs[i]);

		if (rc < 0 && !first)
			first = rc;
	}
	return first;
}
