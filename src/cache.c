/* SPDX-License-Identifier: MIT */
/*
 * cache.c - the out-of-line half of the per-thread cache: create,
 * destroy, flush, park, and every call the inline fast paths of
 * include/iobuf/cache.h hand over (an empty or full stack, an error, a
 * debugging build).
 *
 * Each served tier has a LIFO stack of 2M entries (M: the pool's magazine
 * size), each a free index with the generation its slot holds.  A get on
 * an empty stack loads one full magazine from the pool
 * (iobuf__pool_refill()); a put on a full stack gives the older half, M
 * indices, back as one magazine (iobuf__pool_flush()) and moves the
 * warmer half down.  So the stack runs between 0 and 2M and, after any
 * exchange, sits at M: M gets or M puts before the next one (Bonwick's
 * loaded and previous magazines, as one array).
 *
 * The cache depends on its pools through attach/detach, refill, flush and
 * the slot transitions of the out-of-line paths (iobuf__pool_take() and
 * iobuf__pool_release*(), which also mark buffers for ASan and valgrind
 * and count refusals); the inline paths read the pools' shapes.
 *
 * Ordering: the edges are in pool.c: P1 and M1 (a flush releases, a
 * refill acquires), M2 (empty magazines), W1 (a flush wakes sleeping
 * gets), C1/C2 (park, reclaim, unpark).  Within a cache, program order.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <iobuf/account.h>
#include <iobuf/cache.h>
#include <iobuf/iov.h>

#include "account.h"
#include "atomic.h"
#include "iov.h"
#include "pool.h"
#include "tiers.h"

#define STANDIN IOBUF_TIER_COUNT

/* What the inline paths never read. */
struct cold_tier {
	struct iobuf_pool *pool; /* NULL: a tier the cache does not serve */
	uint64_t *lo, *hi;       /* the inline bounds, kept while parked (the public ones then force every call out of line) */
	struct iobuf__pool_client client;
	uint32_t mag;  /* indices per magazine; 0: the tier is passed straight through */
	uint32_t seen; /* the pool's reclaim epoch when this cache last looked */
};

struct cache {
	struct iobuf_cache pub; /* first: the caller's pointer */
	uint32_t state;         /* IOBUF__CLIENT_*: parked or not, shared by every tier */
	uint32_t zero;          /* the want word of tiers not served */
	struct cold_tier cold[IOBUF_TIER_COUNT + 1];
	uint64_t slots[]; /* the stacks */
};

_Static_assert(sizeof(struct iobuf_cache_tier) == 64, "a tier is one cache line");
_Static_assert(offsetof(struct iobuf_cache, tier) == 64, "the tiers start on the second line");

static inline struct cache *priv(struct iobuf_cache *c)
{
	return (struct cache *)c;
}

static inline struct cold_tier *cold(const struct iobuf_cache *c, int ti)
{
	return &((struct cache *)(uintptr_t)c)->cold[ti];
}

static inline int tier_no(const struct iobuf_cache *c, const struct iobuf_cache_tier *t)
{
	return (int)(t - c->tier);
}

static inline struct iobuf_pool *pool_of(const struct iobuf_cache *c, int ti)
{
	return cold(c, ti)->pool;
}

/* Free buffers on tier @ti's stack. */
static inline uint32_t count(const struct iobuf_cache *c, int ti)
{
	return (uint32_t)(c->tier[ti].top - cold(c, ti)->client.bot);
}

/* The stack top is read by the pool's statistics: stored relaxed. */
static inline void set_top(struct iobuf_cache_tier *t, uint64_t *p)
{
	iobuf__store_ptr(&t->top, p);
}

/* -EBUSY while parked: no call may touch the stacks a pool may be reclaiming. */
static inline int check_active(const struct iobuf_cache *c)
{
	return iobuf__load_32(&((const struct cache *)(const void *)c)->state) == IOBUF__CLIENT_ACTIVE ? 0 : -EBUSY;
}

/* ---- moving indices between the stack and the pool --------------------------- */

/* Give back all but the top @keep entries of tier @ti; returns how many went. */
static int give_back(struct iobuf_cache *c, int ti, uint32_t keep)
{
	uint32_t idx[2 * IOBUF_POOL_MAGAZINE_MAX];
	struct iobuf_cache_tier *t = &c->tier[ti];
	uint64_t *bot = cold(c, ti)->client.bot;
	uint32_t n = count(c, ti), go = n > keep ? n - keep : 0;

	if (go == 0)
		return 0;
	/* The oldest (Bonwick's previous magazine) in whole magazines to the depot, the rest to the queue. */
	for (uint32_t i = 0; i < go; i++)
		idx[i] = (uint32_t)bot[i];
	memmove(bot, bot + go, sizeof(uint64_t) * (n - go));
	set_top(t, bot + (n - go));
	iobuf__pool_flush(pool_of(c, ti), idx, (int)go);
	return (int)go;
}

/* A reclaim asked for since we last looked: give the whole tier back. */
static void poll_reclaim(struct iobuf_cache *c, int ti)
{
	struct cold_tier *k = cold(c, ti);
	/* Relaxed: a hint; what is then given back is ordered by P1/M1. */
	uint32_t e = iobuf__load_32(k->client.shape->reclaim);

	if (IOBUF_UNLIKELY(e != k->seen)) {
		k->seen = e;
		give_back(c, ti, 0);
	}
}

/* Push free index @idx (its slot even and current) on tier @ti's stack; the stack has room. */
static void push_free(struct iobuf_cache *c, int ti, uint32_t idx)
{
	struct iobuf_cache_tier *t = &c->tier[ti];

	iobuf__cache_push(t, idx, iobuf__slot_gen(iobuf__slot_load(&t->slot[idx])));
}

/*
 * A free index of tier @ti for a get (its slot still even), or -ENOBUFS.
 * @last: an empty pool is an empty get (see iobuf__pool_refill()).
 */
static int take_free(struct iobuf_cache *c, int ti, uint32_t *idx, bool last)
{
	struct iobuf_cache_tier *t = &c->tier[ti];
	struct cold_tier *k = cold(c, ti);

	if (k->mag == 0)
		return iobuf__pool_refill(k->pool, idx, 1, last) == 1 ? 0 : -ENOBUFS;
	poll_reclaim(c, ti);
	if (count(c, ti) == 0) {
		uint32_t buf[IOBUF_POOL_MAGAZINE_MAX];
		int got = iobuf__pool_refill(k->pool, buf, (int)k->mag, last);

		/* Their slots are current: the refill acquired them (P1, M1). */
		for (int i = 0; i < got; i++)
			push_free(c, ti, buf[i]);
		if (got == 0)
			return -ENOBUFS;
	}
	*idx = (uint32_t)t->top[-1];
	set_top(t, t->top - 1);
	return 0;
}

/* Keep free index @idx (its slot even) of tier @ti: push it, flushing a magazine if full. */
static void keep_free(struct iobuf_cache *c, int ti, uint32_t idx)
{
	struct iobuf_cache_tier *t = &c->tier[ti];
	struct cold_tier *k = cold(c, ti);

	if (k->mag == 0) {
		iobuf__pool_flush(k->pool, &idx, 1);
		return;
	}
	if (iobuf__load_32(t->want) != 0) {
		/* A get waits on this pool (or its readiness fd is armed): give it this buffer and the stack, now. */
		give_back(c, ti, 0);
		iobuf__pool_flush(k->pool, &idx, 1);
		return;
	}
	poll_reclaim(c, ti);
	if (count(c, ti) >= 2 * k->mag)
		give_back(c, ti, k->mag);
	push_free(c, ti, idx);
}

/* ---- create / destroy / flush / park ------------------------------------------ */

static struct iobuf_cache *cache_new(struct iobuf_set *set, struct iobuf_pool *one, const struct iobuf_cache_config *cfg,
				     int *err)
{
	struct iobuf_pool *pools[IOBUF_TIER_COUNT] = {0};
	unsigned flags = cfg ? cfg->flags : 0;
	size_t slots = 0;
	struct cache *k;
	uint64_t *stack;
	int rc = -EINVAL, one_ti = STANDIN;

	if ((!set && !one) || (flags & ~(unsigned)IOBUF_CACHE_UNSAFE_PUTS))
		goto fail;
	if (one) {
		one_ti = (int)iobuf_handle_tag(iobuf__pool_shape(one)->stamp);
		pools[one_ti] = one;
	} else {
		for (int t = 0; t < IOBUF_TIER_COUNT; t++)
			pools[t] = iobuf_set_pool(set, t);
	}
	for (int t = 0; t < IOBUF_TIER_COUNT; t++)
		if (pools[t])
			slots += 2 * (size_t)iobuf__pool_magazine(pools[t]);
	rc = -ENOMEM;
	if (posix_memalign((void **)&k, 64, sizeof(*k) + sizeof(uint64_t) * slots) != 0)
		goto fail;
	memset(k, 0, sizeof(*k));
	k->state = IOBUF__CLIENT_ACTIVE;
	stack = k->slots;
	for (int ti = 0; ti <= STANDIN; ti++) {
		struct iobuf_cache_tier *t = &k->pub.tier[ti];

		/* A tier not served: an empty stack that is also full (pointers into one object, not NULL). */
		k->cold[ti].client.bot = t->top = t->lo = t->hi = &k->pub.spare;
		t->want = &k->zero;
	}
	k->pub.unsafe = (flags & IOBUF_CACHE_UNSAFE_PUTS) != 0;
	for (int ti = 0; ti < IOBUF_TIER_COUNT; ti++) {
		struct iobuf_cache_tier *t = &k->pub.tier[ti];
		struct cold_tier *ct = &k->cold[ti];
		const struct iobuf_pool_shape *sh;

		if (!pools[ti])
			continue;
		ct->pool = pools[ti];
		ct->client.top = &t->top;
		ct->client.bot = stack;
		ct->client.state = &k->state;
		t->top = stack;
		iobuf__pool_attach(ct->pool, &ct->client);
		sh = ct->client.shape;
		ct->mag = ct->client.magazine;
		if (ct->client.debug) {
			/* lo above hi: every call out of line, where buffers are marked. */
			t->lo = stack + 2 * ct->mag;
			t->hi = stack;
			k->pub.unsafe = 0;
		} else {
			t->lo = stack;
			t->hi = stack + 2 * ct->mag;
		}
		stack += 2 * (size_t)ct->mag;
		t->slot = sh->slot;
		t->want = sh->want;
		t->base = sh->base;
		t->stride = sh->stride;
		t->capacity = sh->capacity;
		t->stamp = sh->stamp;
		ct->seen = iobuf__load_32(sh->reclaim);
	}
	k->pub.flags = flags;
	k->pub.set = set;
	k->pub.one = &k->pub.tier[one_ti];
	k->pub.one_size = one ? iobuf_pool_buf_size(one) : 0;
	k->pub.hint = k->pub.one;
	if (err)
		*err = 0;
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
	if (check_active(c) < 0)
		return -EBUSY;
	for (int ti = 0; ti < IOBUF_TIER_COUNT; ti++)
		if (pool_of(c, ti))
			total += give_back(c, ti, 0);
	return total;
}

int iobuf_cache_park(struct iobuf_cache *c)
{
	bool holds[IOBUF_TIER_COUNT] = {0};

	if (!c)
		return -EINVAL;
	if (check_active(c) < 0)
		return -EALREADY;
	for (int ti = 0; ti < IOBUF_TIER_COUNT; ti++) {
		struct iobuf_cache_tier *t = &c->tier[ti];
		struct cold_tier *k = cold(c, ti);

		if (!k->pool)
			continue;
		/* A give-back asked for and not yet done: do it now, we make no call until unpark. */
		if (iobuf__load_32(t->want) != 0 || iobuf__load_32(k->client.shape->reclaim) != k->seen) {
			k->seen = iobuf__load_32(k->client.shape->reclaim);
			give_back(c, ti, 0);
		}
		holds[ti] = count(c, ti) > 0; /* read now: once parked, a pool may be emptying the stack */
		/* Every call out of line while parked, where it is refused. */
		k->lo = t->lo;
		k->hi = t->hi;
		t->lo = k->client.bot + 2 * (size_t)k->mag;
		t->hi = k->client.bot;
	}
	/* C1: pairs with the CAS in pool.c's reclaim_parked(): our stacks as we leave them.  W3 below. */
	(void)iobuf__fas_32_rel(&priv(c)->state, IOBUF__CLIENT_PARKED);
	for (int ti = 0; ti < IOBUF_TIER_COUNT; ti++)
		if (holds[ti])
			iobuf__pool_nudge(cold(c, ti)->pool);
	return 0;
}

int iobuf_cache_unpark(struct iobuf_cache *c)
{
	if (!c)
		return -EINVAL;
	for (;;) {
		uint32_t st = IOBUF__CLIENT_PARKED;

		/* C2: pairs with the reclaimer's release store of PARKED: the stacks it emptied. */
		if (iobuf__cas_32_acqrel(&priv(c)->state, &st, IOBUF__CLIENT_ACTIVE))
			break;
		if (st == IOBUF__CLIENT_ACTIVE)
			return -EALREADY;
		/* A pool is taking our buffers back: a bounded copy. */
		sched_yield();
	}
	for (int ti = 0; ti < IOBUF_TIER_COUNT; ti++) {
		struct cold_tier *k = cold(c, ti);

		if (k->pool) {
			c->tier[ti].lo = k->lo;
			c->tier[ti].hi = k->hi;
		}
	}
	return 0;
}

void iobuf_cache_destroy(struct iobuf_cache *c)
{
	if (!c)
		return;
	(void)iobuf_cache_unpark(c);
	iobuf_cache_flush(c);
	for (int ti = 0; ti < IOBUF_TIER_COUNT; ti++)
		if (pool_of(c, ti))
			iobuf__pool_detach(pool_of(c, ti), &cold(c, ti)->client);
	free(priv(c));
}

int iobuf_cache_count(const struct iobuf_cache *c, int tier)
{
	if (!c || tier < 0 || tier >= IOBUF_TIER_COUNT)
		return -EINVAL;
	if (check_active(c) < 0)
		return -EBUSY;
	return (int)count(c, tier);
}

bool iobuf__cache_of_set(const struct iobuf_cache *c, const struct iobuf_set *set)
{
	return c->one_size == 0 && c->set == set;
}

/*
 * One get of @tier's buffers (of @size) for a read: through @acct when
 * not NULL; never a larger tier's (a spill) nor the set's fallback, which
 * the read would address in @tier's arena.
 */
static int get_for_read(struct iobuf_cache *c, struct iobuf_account *acct, int tier, size_t size, iobuf_handle_t *h)
{
	int rc = acct ? iobuf_account_get_cached(acct, c, size, h) : iobuf__cache_get_tiers(c, size, h);

	if (rc == 0 && IOBUF_UNLIKELY((int)iobuf_handle_tag(*h) != tier)) {
		(void)iobuf_put(c->set, *h);
		return -ENOBUFS;
	}
	return rc;
}

/* iobuf_cache_readv() and iobuf_account_readv(): the gets through @acct when not NULL. */
static ssize_t readv_through(struct iobuf_cache *c, struct iobuf_account *acct, int fd, int tier, struct iobuf_slice *s,
			     int k, int *kept)
{
	iobuf_handle_t hs[IOBUF_READV_POOLED_MAX];
	struct iobuf_pool *p;
	size_t size;
	ssize_t r;
	int got = 0, keep, rc = -ENOBUFS;

	if (kept)
		*kept = 0;
	if (!c || c->one_size || !s || !kept || k < 1 || k > IOBUF_READV_POOLED_MAX || tier < 0 ||
	    tier >= IOBUF_TIER_COUNT || !(p = pool_of(c, tier)))
		return -EINVAL;
	if (check_active(c) < 0)
		return -EBUSY;
	size = iobuf_pool_buf_size(p);
	/* All @k off the stack at once when it has them; else one by one, as many as there are. */
	if (!acct && iobuf_cache_get_bulk(c, size, hs, k) == 0)
		got = k;
	else
		while (got < k && (rc = get_for_read(c, acct, tier, size, &hs[got])) == 0)
			got++;
	if (got == 0)
		return rc;
	r = iobuf__readv_fresh(fd, p, hs, got, size, &keep);
	for (int i = 0; i < keep; i++)
		s[i] = (struct iobuf_slice){hs[i], 0, (uint32_t)iobuf_pool_len(p, hs[i])};
	/* The buffers that received nothing go back; on error or end of file, all of them. */
	(void)iobuf_cache_put_bulk(c, hs + keep, got - keep);
	*kept = keep;
	return r;
}

ssize_t iobuf_cache_readv(struct iobuf_cache *c, int fd, int tier, struct iobuf_slice *s, int k, int *kept)
{
	return readv_through(c, NULL, fd, tier, s, k, kept);
}

ssize_t iobuf_account_readv(struct iobuf_account *acct, struct iobuf_cache *c, int fd, int tier,
			    struct iobuf_slice *s, int k, int *kept)
{
	if (!acct) {
		if (kept)
			*kept = 0;
		return -EINVAL;
	}
	return readv_through(c, acct, fd, tier, s, k, kept);
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

struct spill_ctx {
	struct iobuf_cache *c;
	iobuf_handle_t *h;
};

static int get_from(void *ctx, int ti)
{
	struct spill_ctx *s = ctx;
	uint32_t idx;

	if (!pool_of(s->c, ti) || take_free(s->c, ti, &idx, true) < 0)
		return -ENOBUFS;
	*s->h = iobuf__pool_take(pool_of(s->c, ti), idx);
	return 0;
}

/* The out-of-line get: the stack, the pool, a spill, and (@fallback) the set's fallback. */
static int get_slow(struct iobuf_cache *c, size_t size, iobuf_handle_t *h, bool fallback)
{
	int ti;

	if (!h)
		return -EINVAL;
	*h = IOBUF_HANDLE_NONE;
	if (!c)
		return -EINVAL;
	if (check_active(c) < 0)
		return -EBUSY;
	ti = tier_for_get(c, size);
	if (ti < 0)
		return ti == -EMSGSIZE && fallback && c->set ? iobuf__set_fallback_get(c->set, size, h) : ti;
	if (get_from(&(struct spill_ctx){c, h}, ti) == 0)
		return 0;
	if (!c->set)
		return -ENOBUFS;
	if (iobuf__set_spill(c->set, ti, get_from, &(struct spill_ctx){c, h}) == 0)
		return 0;
	/* The fallback's buffers pass the cache by. */
	return fallback ? iobuf__set_fallback_get(c->set, size, h) : -ENOBUFS;
}

int iobuf__cache_get_slow(struct iobuf_cache *c, size_t size, iobuf_handle_t *h)
{
	return get_slow(c, size, h, true);
}

int iobuf__cache_get_tiers(struct iobuf_cache *c, size_t size, iobuf_handle_t *h)
{
	struct iobuf_cache_tier *t;

	/* iobuf_cache_get()'s inline path, then the slow one without the fallback. */
	if (c && h && (t = iobuf__cache_tier_for(c, size)) != NULL && t->top > t->lo) {
		iobuf__cache_pop(t, 1, h, NULL);
		return 0;
	}
	return get_slow(c, size, h, false);
}

void *iobuf__cache_buf_slow(const struct iobuf_cache *c, iobuf_handle_t h)
{
	return iobuf__set_of_fallback(c->set, h) ? iobuf_buf(c->set, h) : NULL;
}

int iobuf__cache_put_slow(struct iobuf_cache *c, iobuf_handle_t h)
{
	struct iobuf_pool *p;
	int ti, rc;

	if (!c)
		return -EINVAL;
	if (check_active(c) < 0)
		return -EBUSY;
	if (IOBUF_UNLIKELY(iobuf__set_of_fallback(c->set, h)))
		return iobuf_put(c->set, h);
	ti = (int)iobuf_handle_tag(h);
	p = pool_of(c, ti);
	if (!p) {
		/* Pool-bound: a handle of another tag is the pool's refusal; set-bound: as iobuf_put(). */
		if (pool_of(c, tier_no(c, c->one)))
			iobuf__pool_refuse(pool_of(c, tier_no(c, c->one)), -EINVAL);
		return -EINVAL;
	}
	rc = iobuf__pool_release(p, h);
	if (rc < 0 || rc == IOBUF__POOL_KEPT)
		return rc < 0 ? rc : 0;
	keep_free(c, ti, (uint32_t)rc);
	return 0;
}

int iobuf__cache_put_index_slow(struct iobuf_cache *c, uint32_t idx)
{
	int ti, rc;

	if (!c || !c->one_size)
		return -EINVAL;
	if (check_active(c) < 0)
		return -EBUSY;
	ti = tier_no(c, c->one);
	rc = iobuf__pool_release_index(pool_of(c, ti), idx);
	if (rc < 0 || rc == IOBUF__POOL_KEPT)
		return rc < 0 ? rc : 0;
	keep_free(c, ti, idx);
	return 0;
}

int iobuf__cache_get_bulk_slow(struct iobuf_cache *c, size_t size, iobuf_handle_t *hs, uint32_t *idx, int n)
{
	struct iobuf_pool *p;
	int ti;

	if (!c || n < 0 || (!hs && !idx) || (idx && !c->one_size))
		return -EINVAL;
	if (check_active(c) < 0)
		return -EBUSY;
	ti = tier_for_get(c, size);
	if (ti < 0)
		return ti;
	if (n == 0)
		return 0;
	p = pool_of(c, ti);
	if (!p)
		return -ENOBUFS;
	/*
	 * All or none: gather the free indices (in @hs or @idx); short, give
	 * them back, and only then treat the pool as empty (its readiness fd
	 * must not fire for our own give-back); one more try if that found
	 * buffers.
	 */
	for (int pass = 0;; pass++) {
		int i;

		for (i = 0; i < n; i++) {
			uint32_t x;

			if (take_free(c, ti, &x, false) < 0)
				break;
			if (hs)
				hs[i] = x;
			else
				idx[i] = x;
		}
		if (i == n)
			break;
		while (i > 0) {
			--i;
			keep_free(c, ti, hs ? (uint32_t)hs[i] : idx[i]);
		}
		if (pass == 1 || !iobuf__pool_recover(p, (uint32_t)n)) {
			iobuf__pool_note_empty(p);
			return -ENOBUFS;
		}
	}
	for (int i = 0; i < n; i++) {
		if (hs)
			hs[i] = iobuf__pool_take(p, (uint32_t)hs[i]);
		else
			(void)iobuf__pool_take(p, idx[i]);
	}
	return 0;
}
