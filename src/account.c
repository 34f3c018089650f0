/* SPDX-License-Identifier: MIT */
/*
 * account.c - tenant accounts: charges at get, credits at the last put.
 *
 * A charge reserves room with a compare-and-swap per counter (the tier's
 * buffers, then the bytes), so a refused get leaves every counter as it
 * was and no counter ever passes its limit.  The pool marks the hand-out
 * charged in its slot word (T1 in iobuf/slot.h) and keeps the account
 * beside it; the last put of that hand-out calls iobuf__account_credit().
 *
 * Watermark edges: `state` says which edge came last.  A get or put whose
 * new level is past the mark of the other edge takes `edge_lock`, flips
 * the state while the level says so (looping, so the state ends where the
 * level is even when gets and puts race), and fires each flip in order:
 * the callback under the lock, then the eventfd.  Only those crossings
 * lock; the other gets and puts touch the counters alone.  A callback may
 * call the account back (see `firing`).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <iobuf/account.h>
#include <iobuf/cache.h>
#include <iobuf/pool.h>
#include <iobuf/tiers.h>

#include "account.h"
#include "atomic.h"
#include "pool.h"
#include "tiers.h"

struct iobuf_account {
	struct iobuf_set *set;
	struct iobuf_account_config cfg;
	uint32_t held[IOBUF_TIER_COUNT];
	uint64_t bytes, peak_bytes;
	uint64_t puts, refused, highs, lows; /* gets: puts + the buffers held (iobuf_account_stats()) */
	uint32_t state; /* 1 between a high edge and the next low edge */
	uint32_t crediting; /* last puts between their first and their last touch of the account */
	pthread_mutex_t edge_lock;
	int fd;
};

struct iobuf_account *iobuf_account_create(struct iobuf_set *set, const struct iobuf_account_config *cfg, int *err)
{
	struct iobuf_account *a;
	int rc = -EINVAL;

	if (!set || !cfg || (cfg->high_bytes && cfg->low_bytes >= cfg->high_bytes))
		goto fail;
	rc = -ENOMEM;
	a = calloc(1, sizeof(*a));
	if (!a)
		goto fail;
	if (pthread_mutex_init(&a->edge_lock, NULL) != 0) {
		free(a);
		goto fail;
	}
	a->set = set;
	a->cfg = *cfg;
	a->fd = -1;
	if (err)
		*err = 0;
	return a;
fail:
	if (err)
		*err = rc;
	return NULL;
}

int iobuf_account_destroy(struct iobuf_account *a)
{
	if (!a)
		return -EINVAL;
	/*
	 * C1: seq_cst, pairs with C1 in iobuf__account_credit(): a credit that
	 * brought the bytes to 0 counted itself in `crediting` first, so we see
	 * it running, or (acquire) everything it did to the account.
	 */
	if (__atomic_load_n(&a->bytes, __ATOMIC_SEQ_CST) != 0 || __atomic_load_n(&a->crediting, __ATOMIC_SEQ_CST) != 0)
		return -EBUSY;
	if (a->fd >= 0)
		close(a->fd);
	pthread_mutex_destroy(&a->edge_lock);
	free(a);
	return 0;
}

/* ---- watermark edges ---------------------------------------------------------- */

static void fire(struct iobuf_account *a, bool high)
{
	uint64_t one = 1;

	iobuf__faa_64(high ? &a->highs : &a->lows, 1);
	if (a->cfg.on_watermark)
		a->cfg.on_watermark(a, high, a->cfg.arg);
	if (a->fd >= 0) /* under edge_lock, as its creation */
		(void)!write(a->fd, &one, sizeof(one));
}

/*
 * The accounts whose edges this thread is firing, innermost first: each
 * holds its edge_lock.  A callback may get or put on any account,
 * its own included, or ask for the fd: a crossing it makes on an account
 * in this chain is left to that account's loop in edges(), which looks at
 * the level again once the callback returns, so nothing locks twice.
 */
struct firing {
	const struct iobuf_account *a;
	const struct firing *outer;
};
static _Thread_local const struct firing *firing;

static bool firing_here(const struct iobuf_account *a)
{
	for (const struct firing *f = firing; f; f = f->outer)
		if (f->a == a)
			return true;
	return false;
}

/* The level @a->bytes moved past a mark of the edge to come: flip the state while the level says so. */
static void edges(struct iobuf_account *a)
{
	struct firing me = {a, firing};

	if (firing_here(a))
		return; /* a callback's own crossing: the loop that called it fires it next */
	pthread_mutex_lock(&a->edge_lock);
	firing = &me;
	for (;;) {
		/* E1: seq_cst, with E1 in crossed(): the flip is seen, or the level that made it is. */
		uint64_t level = __atomic_load_n(&a->bytes, __ATOMIC_SEQ_CST);
		uint32_t state = iobuf__load_32(&a->state); /* written under the lock only */

		if (!state && level >= a->cfg.high_bytes) {
			__atomic_store_n(&a->state, 1, __ATOMIC_SEQ_CST); /* E1 */
			fire(a, true);
		} else if (state && level <= a->cfg.low_bytes) {
			__atomic_store_n(&a->state, 0, __ATOMIC_SEQ_CST); /* E1 */
			fire(a, false);
		} else {
			break;
		}
	}
	firing = me.outer;
	pthread_mutex_unlock(&a->edge_lock);
}

/* ---- charges and credits ------------------------------------------------------- */

/* Add 1 to *@ctr unless that passes @limit (0: none); false when it would. */
static bool add_within(uint32_t *ctr, uint32_t limit)
{
	uint32_t now = iobuf__load_32(ctr);

	do {
		if (limit && now >= limit)
			return false;
	} while (!__atomic_compare_exchange_n(ctr, &now, now + 1, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

static bool add_bytes_within(uint64_t *ctr, uint64_t d, uint64_t limit, uint64_t *after)
{
	uint64_t now = iobuf__load_64(ctr);

	do {
		if (limit && (now > limit || d > limit - now))
			return false;
	/* E1: seq_cst (a locked instruction on x86 all the same), before crossed()'s look at the state. */
	} while (!__atomic_compare_exchange_n(ctr, &now, now + d, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	*after = now + d;
	return true;
}

/*
 * After a change of the bytes to @after: take the edge lock when the level
 * is past the mark of the edge to come.  E1, the store-buffering pair with
 * edges(): our seq_cst change of the bytes then load of the state, its
 * seq_cst store of the state then load of the bytes; so either we see its
 * flip or it sees our level, and no crossing is left unfired.
 */
static void crossed(struct iobuf_account *a, uint64_t after)
{
	uint32_t state;

	if (!a->cfg.high_bytes)
		return;
	state = __atomic_load_n(&a->state, __ATOMIC_SEQ_CST);
	if ((!state && after >= a->cfg.high_bytes) || (state && after <= a->cfg.low_bytes))
		edges(a);
}

/*
 * Reserve one buffer of @tier for @a, in place of the one of tier @from
 * it reserved already (-1: none); -EDQUOT (nothing changed) beyond a
 * limit.  Moving a reservation adds only the difference of the sizes in
 * one compare-and-swap, so the bytes never count both buffers at once.
 */
static int reserve(struct iobuf_account *a, int tier, int from)
{
	uint64_t size = IOBUF_TIER_SIZE(tier) - (from < 0 ? 0 : IOBUF_TIER_SIZE(from)), after, peak;

	if (!add_within(&a->held[tier], a->cfg.max_buffers[tier]))
		goto refused;
	if (!add_bytes_within(&a->bytes, size, a->cfg.max_bytes, &after)) {
		__atomic_fetch_sub(&a->held[tier], 1, __ATOMIC_RELAXED);
		goto refused;
	}
	if (from >= 0)
		__atomic_fetch_sub(&a->held[from], 1, __ATOMIC_RELAXED);
	peak = iobuf__load_64(&a->peak_bytes);
	while (after > peak && !__atomic_compare_exchange_n(&a->peak_bytes, &peak, after, true, __ATOMIC_RELAXED,
							     __ATOMIC_RELAXED))
		;
	return 0;
refused:
	iobuf__faa_64(&a->refused, 1);
	return -EDQUOT;
}

static int charge(struct iobuf_account *a, int tier)
{
	return reserve(a, tier, -1);
}

/* Give back what charge() reserved (a get that found no buffer, or the last put). */
static void uncharge(struct iobuf_account *a, int tier)
{
	uint64_t size = IOBUF_TIER_SIZE(tier);
	uint64_t after = __atomic_sub_fetch(&a->bytes, size, __ATOMIC_SEQ_CST); /* E1 */

	__atomic_fetch_sub(&a->held[tier], 1, __ATOMIC_RELAXED);
	crossed(a, after);
}

/*
 * The last put of a charged hand-out.  Its credit runs on past the bytes
 * reaching 0 (the held count, a watermark edge and its callback), so a
 * destroy must not free the account before it ends: `crediting` counts it.
 */
void iobuf__account_credit(struct iobuf_account *a, unsigned tier)
{
	__atomic_fetch_add(&a->crediting, 1, __ATOMIC_SEQ_CST); /* C1: before the bytes drop */
	iobuf__faa_64(&a->puts, 1);
	uncharge(a, (int)tier);
	/* C1: release, pairs with destroy's load: the last touch of the account. */
	__atomic_fetch_sub(&a->crediting, 1, __ATOMIC_RELEASE);
}

/* A get that charged nothing in the end: its buffer (if any) goes back, and the caller gets none. */
static int undo(struct iobuf_account *a, int tier, iobuf_handle_t *h, int rc)
{
	uncharge(a, tier);
	if (*h != IOBUF_HANDLE_NONE)
		(void)iobuf_put(a->set, *h);
	*h = IOBUF_HANDLE_NONE;
	return rc;
}

/* The get into *@h is done (@rc from the set's or the cache's get): charge its hand-out, or undo the reservation. */
static int finish(struct iobuf_account *a, int tier, int rc, iobuf_handle_t *hp)
{
	iobuf_handle_t h = *hp;

	if (rc < 0) {
		*hp = IOBUF_HANDLE_NONE;
		return undo(a, tier, hp, rc);
	}
	/* A spilled get (IOBUF_SET_SPILL) came from a larger tier: move the reservation there. */
	if ((int)iobuf_handle_tag(h) != tier && reserve(a, (int)iobuf_handle_tag(h), tier) < 0)
		return undo(a, tier, hp, -EDQUOT);
	(void)iobuf__pool_charge(iobuf_set_pool(a->set, (int)iobuf_handle_tag(h)), h, a);
	/* The high edge only for a get that got its buffer: a refused one leaves no edge pair behind. */
	crossed(a, __atomic_load_n(&a->bytes, __ATOMIC_SEQ_CST));
	return 0;
}

/* A get of @size on behalf of @a, through @c when not NULL (its set checked by the caller), else the set. */
static int get_as(struct iobuf_account *a, struct iobuf_cache *c, size_t size, iobuf_handle_t *h)
{
	int tier = iobuf_tier_for_size(size), rc;

	if (tier < 0)
		return tier;
	rc = charge(a, tier);
	if (rc < 0)
		return rc;
	/* The tiers alone serve an account: never a buffer of the fallback, not even for a moment. */
	rc = c ? iobuf__cache_get_tiers(c, size, h) : iobuf__set_get_tiers(a->set, size, h);
	return finish(a, tier, rc, h);
}

int iobuf_account_get(struct iobuf_account *a, size_t size, iobuf_handle_t *h)
{
	if (!a || !h)
		return -EINVAL;
	return get_as(a, NULL, size, h);
}

int iobuf_account_get_cached(struct iobuf_account *a, struct iobuf_cache *c, size_t size, iobuf_handle_t *h)
{
	if (!a || !c || !h || !iobuf__cache_of_set(c, a->set))
		return -EINVAL;
	return get_as(a, c, size, h);
}

struct iobuf_set *iobuf__account_set(const struct iobuf_account *a)
{
	return a->set;
}

struct iobuf_account *iobuf_account_of(const struct iobuf_set *set, iobuf_handle_t h)
{
	struct iobuf_pool *p = iobuf__set_route(set, h);

	return p ? iobuf__pool_account_of(p, h) : NULL;
}

int iobuf_account_ready_fd(struct iobuf_account *a)
{
	int fd;

	bool locked;

	if (!a)
		return -EINVAL;
	locked = !firing_here(a); /* from a callback of @a, this thread holds its lock already */
	if (locked)
		pthread_mutex_lock(&a->edge_lock);
	if (a->fd < 0) {
		fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd >= 0)
			a->fd = fd;
		else
			fd = -errno;
	}
	if (a->fd >= 0)
		fd = a->fd;
	if (locked)
		pthread_mutex_unlock(&a->edge_lock);
	return fd;
}

int iobuf_account_stats(const struct iobuf_account *a, struct iobuf_account_stats *st)
{
	if (!a || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->puts = iobuf__load_64(&a->puts);
	st->gets = st->puts; /* every charged get is credited by its last put, or still held */
	for (int t = 0; t < IOBUF_TIER_COUNT; t++) {
		st->held[t] = iobuf__load_32(&a->held[t]);
		st->gets += st->held[t];
	}
	st->bytes = iobuf__load_64(&a->bytes);
	st->peak_bytes = iobuf__load_64(&a->peak_bytes);
	st->refused = iobuf__load_64(&a->refused);
	st->highs = iobuf__load_64(&a->highs);
	st->lows = iobuf__load_64(&a->lows);
	st->above_high = iobuf__load_32(&a->state) != 0;
	return 0;
}
