/* SPDX-License-Identifier: MIT */
/*
 * stress_shared.c - shared buffers under races (iobuf/slice.h): holders
 * counted in the slot word, lengths per hand-out, slices.  No interleaving
 * may free a buffer while someone holds it, free it twice, or let a
 * holder that lost a race touch the next hand-out.
 *
 *   1-3  sharing at random among K = 2, 4 and 8 threads (on however many
 *        cores there are): a thread gets a buffer (through the set, the
 *        pool or one of its two caches), stamps every byte with its id and
 *        a sequence, records a length, adds a random number of holders and
 *        mails the handle to random other threads; a receiver checks the
 *        whole stamp and the length while it holds the buffer, may add a
 *        holder and mail it on, and puts it through any path (the set, the
 *        pool, its caches, raw indices, slices from, split, cloned and
 *        consumed).  A table of what the test itself counts catches a
 *        buffer handed out while held; the last putter, once the others'
 *        puts returned, sees one holder and a dead handle after its put.
 *        Dead handles are put again and foreign ones tried, on purpose.
 *        At the end: nothing in use or shared, free + cached = capacity,
 *        the refusal counters exactly what the test provoked, every index
 *        free exactly once.
 *   4-8  two threads pinned to two cores race one buffer, many thousands of
 *        times: 4 a hold against the last put (the hold comes first and
 *        the buffer stays held, or it is refused and the buffer is free:
 *        never both, checked by draining the pool); 5 two holds at the
 *        IOBUF_HOLDERS_MAX edge; 6 the last two holders' puts through every
 *        pair of paths (exactly one frees); 7 a stale holder's setlen
 *        against the next owner's (whose length never changes); 8 a cache's
 *        inline put against the pool's put of a shared buffer.
 *
 * Prints TAP.  Default: about three seconds in all; --long: a minute.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <iobuf/cache.h>
#include <iobuf/iov.h>
#include <iobuf/pool.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#include "../common/tap.h"
#include "../common/thread.h"

static double secs_share = 0.5, secs_race = 0.25;

/* How long a drain or a wait for another thread may take before the run is failed (a watchdog, not a timing). */
#define WATCHDOG_NS (30ull * 1000 * 1000 * 1000)

/* ---- paths through which a holder puts a buffer ------------------------------ */

enum put_path {
	P_SET,		       /* iobuf_put() */
	P_POOL,		       /* iobuf_pool_put() */
	P_CACHE,	       /* iobuf_cache_put(), set-bound cache */
	P_POOL_INDEX,	       /* iobuf_pool_put_index() */
	P_CACHE_INDEX,	       /* iobuf_cache_put_index(), pool-bound cache */
	P_SLICE,	       /* iobuf_slice_from(), iobuf_slice_put() */
	NPUT_SINGLE,	       /* the paths above drop one holder in one call */
	P_SPLIT = NPUT_SINGLE, /* iobuf_slice_split(): two slices, two puts */
	P_CLONE,	       /* iobuf_slice_clone(): two slices, two puts */
	P_CONSUME,	       /* split, then iobuf_slices_consume() and iobuf_slices_put() */
	NPUT
};

static const char *const put_name[NPUT] = {"iobuf_put", "pool put", "cache put", "pool put_index", "cache put_index",
					   "slice put", "split",    "clone",	 "consume"};

/* What every thread uses: the set, its one pool, a set-bound and a pool-bound cache of its own. */
struct paths {
	struct iobuf_set *set;
	struct iobuf_pool *pool;
	struct iobuf_cache *sc, *pc;
};

/* One holder of @h puts it through single path @p; returns the library's answer. */
static int put_single(const struct paths *x, enum put_path p, iobuf_handle_t h)
{
	struct iobuf_slice s;
	int rc;

	switch (p) {
	case P_SET:
		return iobuf_put(x->set, h);
	case P_POOL:
		return iobuf_pool_put(x->pool, h);
	case P_CACHE:
		return iobuf_cache_put(x->sc, h);
	case P_POOL_INDEX:
		return iobuf_pool_put_index(x->pool, iobuf_handle_index(h));
	case P_CACHE_INDEX:
		return iobuf_cache_put_index(x->pc, iobuf_handle_index(h));
	default:
		rc = iobuf_slice_from(x->set, h, &s);
		if (rc < 0)
			return rc;
		rc = iobuf_slice_put(x->set, &s);
		if (rc == 0 && s.h != IOBUF_HANDLE_NONE)
			return -EFAULT; /* a put slice must read as none */
		return rc;
	}
}

static bool make_paths(struct paths *x, struct iobuf_set *set, struct iobuf_pool *pool)
{
	x->set = set;
	x->pool = pool;
	x->sc = iobuf_cache_create(set, NULL, NULL);
	x->pc = iobuf_cache_create_pool(pool, NULL, NULL);
	CHECK(x->sc && x->pc, "caches");
	return true;
}

static void free_paths(struct paths *x)
{
	iobuf_cache_destroy(x->sc);
	iobuf_cache_destroy(x->pc);
}

/* Report a failure without returning (CHECK's twin for loops that must clean up). */
#define FAIL(...)                                                                                                      \
	do {                                                                                                           \
		fprintf(stderr, "# FAIL %s:%d: ", __FILE__, __LINE__);                                                 \
		fprintf(stderr, __VA_ARGS__);                                                                          \
		fprintf(stderr, "\n");                                                                                 \
		__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);                                                    \
	} while (0)

/* Every index of @pool free exactly once: get them all (the caches flushed), check, put them back. */
static bool drain_unique(struct iobuf_pool *pool, uint32_t cap)
{
	iobuf_handle_t all[1024];
	uint8_t seen[1024] = {0};
	int got;
	bool ok = true;

	CHECK(cap < 1024, "capacity %u", cap);
	got = iobuf_pool_get_burst(pool, all, (int)cap + 1);
	if (got != (int)cap) {
		FAIL("drained %d of %u buffers", got, cap);
		ok = false;
	}
	for (int i = 0; i < got; i++) {
		uint32_t x = iobuf_handle_index(all[i]);

		if (seen[x]) {
			FAIL("index %u free twice: two owners", x);
			ok = false;
		}
		seen[x] = 1;
	}
	if (got > 0 && iobuf_pool_put_bulk(pool, all, got) != 0) {
		FAIL("put back the drained buffers");
		ok = false;
	}
	return ok;
}

/* ---- 1-3: sharing at random among K threads ------------------------------------ */

#define SH_TIER IOBUF_TIER_MICRO
#define SH_SIZE 256
#define SH_CAP 256
#define SH_HMAX 16  /* the test adds holders only up to this many per buffer */
#define SH_LOCAL 16 /* buffers one thread keeps in hand */
#define SH_QCAP (SH_CAP * SH_HMAX)
#define SH_MAXK 8
#define SH_DEAD 8

/* A holder in the mail or in hand: the handle and what its bytes and length must be. */
struct msg {
	iobuf_handle_t h;
	uint64_t stamp;
	uint32_t len;
};

/* The test's own plumbing: a mutex and a ring. */
struct mbox {
	pthread_mutex_t m;
	uint32_t head, tail;
	struct msg q[SH_QCAP];
};

struct share {
	struct iobuf_set *set;
	struct iobuf_pool *pool;
	int k;
	uint64_t end;	   /* stop sharing */
	uint64_t deadline; /* the drain must be over (the watchdog) */
	/*
	 * What the test counts per index: holders (dropped before the put, so
	 * 0 before the library can free it: a get that finds it above 0 got a
	 * held buffer) and putting (puts begun and not returned).
	 */
	uint32_t holders[SH_CAP];
	uint32_t putting[SH_CAP];
	int64_t live;	  /* holders in all, mail included */
	uint32_t running; /* threads still sharing: the drain ends when none is and no holder is left */
	struct mbox box[SH_MAXK];
};

struct sharer {
	struct share *s;
	int id;
	struct paths x;
	uint64_t seed;
	struct msg hand[SH_LOCAL];
	int nhand;
	iobuf_handle_t dead[SH_DEAD]; /* handles whose last put we made */
	int ndead;
	uint64_t seq, gets, shared, forwarded, puts[NPUT], provoked_dead, provoked_invalid;
};

static uint64_t word_of(uint64_t stamp, size_t i)
{
	return stamp ^ ((uint64_t)i * UINT64_C(0x9e3779b97f4a7c15));
}

static void stamp_write(uint8_t *b, uint64_t stamp)
{
	for (size_t i = 0; i < SH_SIZE / 8; i++) {
		uint64_t w = word_of(stamp, i);

		memcpy(b + 8 * i, &w, 8);
	}
}

static bool stamp_ok(const uint8_t *b, uint64_t stamp)
{
	for (size_t i = 0; i < SH_SIZE / 8; i++) {
		uint64_t w;

		memcpy(&w, b + 8 * i, 8);
		if (w != word_of(stamp, i))
			return false;
	}
	return true;
}

static bool mail(struct share *s, int to, const struct msg *m)
{
	struct mbox *b = &s->box[to];
	bool room;

	pthread_mutex_lock(&b->m);
	room = b->head - b->tail < SH_QCAP;
	if (room)
		b->q[b->head++ % SH_QCAP] = *m;
	pthread_mutex_unlock(&b->m);
	CHECK(room, "mailbox %d full", to);
	return true;
}

static bool unmail(struct share *s, int me, struct msg *m)
{
	struct mbox *b = &s->box[me];
	bool got;

	pthread_mutex_lock(&b->m);
	got = b->head != b->tail;
	if (got)
		*m = b->q[b->tail++ % SH_QCAP];
	pthread_mutex_unlock(&b->m);
	return got;
}

/* A holder of @idx adds @n holders to the test's count; false (nothing added) beyond SH_HMAX. */
static bool count_add(struct share *s, uint32_t idx, uint32_t n)
{
	uint32_t cur = __atomic_load_n(&s->holders[idx], __ATOMIC_RELAXED);

	do {
		CHECK(cur != 0, "index %u: a holder adds to a count of 0", idx);
		if (cur + n > SH_HMAX)
			return false;
	} while (
	    !__atomic_compare_exchange_n(&s->holders[idx], &cur, cur + n, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	__atomic_fetch_add(&s->live, (int64_t)n, __ATOMIC_RELAXED);
	return true;
}

/*
 * Before @n puts of @idx: count them as begun and drop @n holders.  Returns
 * true in *@last when they are the last: then wait until every other
 * holder's put has returned, so that ours are the library's last too.
 */
static bool begin_puts(struct share *s, uint32_t idx, uint32_t n, bool *last)
{
	uint32_t old;
	uint64_t t0 = 0;

	__atomic_fetch_add(&s->putting[idx], n, __ATOMIC_ACQ_REL);
	old = __atomic_fetch_sub(&s->holders[idx], n, __ATOMIC_ACQ_REL);
	CHECK(old >= n, "index %u: %u puts of %u holders", idx, n, old);
	*last = old == n;
	if (!*last)
		return true;
	for (int i = 0; __atomic_load_n(&s->putting[idx], __ATOMIC_ACQUIRE) != n; i++) {
		if (i < 64)
			continue;
		sched_yield();
		if (t0 == 0)
			t0 = th_now_ns();
		CHECK(th_now_ns() - t0 < WATCHDOG_NS, "index %u: other holders' puts never returned", idx);
	}
	return true;
}

static void end_puts(struct share *s, uint32_t idx, uint32_t n)
{
	__atomic_fetch_sub(&s->putting[idx], n, __ATOMIC_ACQ_REL);
	__atomic_fetch_sub(&s->live, (int64_t)n, __ATOMIC_RELAXED);
}

/* A holder's look at its buffer: live, its bytes and its length what the creator left. */
static bool verify(struct sharer *me, const struct msg *m)
{
	const uint8_t *b = iobuf_buf(me->s->set, m->h);

	CHECK(b, "a held buffer (index %u) is not live", iobuf_handle_index(m->h));
	CHECK(stamp_ok(b, m->stamp), "index %u: its bytes changed while held (stamp %llx)", iobuf_handle_index(m->h),
	      (unsigned long long)m->stamp);
	CHECK(iobuf_len(me->s->set, m->h) == (ssize_t)m->len, "index %u: length %zd, set to %u",
	      iobuf_handle_index(m->h), iobuf_len(me->s->set, m->h), m->len);
	CHECK(iobuf_holders(me->s->set, m->h) >= 1, "holders %d", iobuf_holders(me->s->set, m->h));
	return true;
}

static int other_than(struct sharer *me)
{
	int to = (int)(th_rand(&me->seed) % (uint64_t)(me->s->k - 1));

	return to >= me->id ? to + 1 : to;
}

static bool create(struct sharer *me)
{
	struct share *s = me->s;
	uint64_t r = th_rand(&me->seed);
	struct msg m;
	uint32_t idx, n, expect = 0;
	uint8_t *b;
	int rc;

	switch (r % 4) {
	case 0:
		rc = iobuf_get(s->set, SH_SIZE, &m.h);
		break;
	case 1:
		rc = iobuf_pool_get(s->pool, &m.h);
		break;
	case 2:
		rc = iobuf_cache_get(me->x.sc, SH_SIZE, &m.h);
		break;
	default:
		rc = iobuf_cache_get(me->x.pc, SH_SIZE, &m.h);
		break;
	}
	if (rc == -ENOBUFS)
		return true; /* the others hold them all, or keep them in their caches */
	CHECK(rc == 0, "get: %d", rc);
	idx = iobuf_handle_index(m.h);
	CHECK(__atomic_compare_exchange_n(&s->holders[idx], &expect, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED),
	      "index %u handed out while %u hold it", idx, expect);
	__atomic_fetch_add(&s->live, 1, __ATOMIC_RELAXED);
	me->gets++;
	CHECK(iobuf_holders(s->set, m.h) == 1, "a fresh buffer has %d holders", iobuf_holders(s->set, m.h));
	CHECK(iobuf_len(s->set, m.h) == 0, "a fresh buffer's length is %zd", iobuf_len(s->set, m.h));
	b = iobuf_buf(s->set, m.h);
	CHECK(b, "a fresh buffer is not live");
	m.stamp = ((uint64_t)me->id << 56) | ++me->seq;
	stamp_write(b, m.stamp);
	m.len = (uint32_t)((r >> 8) % (SH_SIZE + 1));
	CHECK(iobuf_setlen(s->set, m.h, m.len) == 0, "setlen");
	n = s->k > 1 ? (uint32_t)((r >> 20) % (uint64_t)s->k) : 0;
	if (n > 0 && count_add(s, idx, n)) {
		rc = (r & (1u << 30)) ? iobuf_hold(s->set, m.h, n) : iobuf_pool_hold(s->pool, m.h, n);
		CHECK(rc == 0, "a holder's hold of %u: %d", n, rc);
		for (uint32_t i = 0; i < n; i++)
			if (!mail(s, other_than(me), &m))
				return false;
		me->shared++;
	}
	me->hand[me->nhand++] = m;
	return true;
}

static void note_dead(struct sharer *me, iobuf_handle_t h)
{
	me->dead[me->ndead < SH_DEAD ? me->ndead++ : (int)(th_rand(&me->seed) % SH_DEAD)] = h;
}

/* Drop this thread's holder of @m through a random path (two slices, for the paths that make two). */
static bool put_holder(struct sharer *me, const struct msg *m)
{
	struct share *s = me->s;
	uint64_t r = th_rand(&me->seed);
	enum put_path p = (enum put_path)(r % NPUT);
	uint32_t idx = iobuf_handle_index(m->h), at;
	struct iobuf_slice sl[2];
	struct iovec iov[2];
	uint8_t *b;
	bool last;
	int rc;

	if (!verify(me, m))
		return false;
	b = iobuf_buf(s->set, m->h);
	if (p >= NPUT_SINGLE && !count_add(s, idx, 1))
		p = P_SLICE; /* at the test's bound: no second slice */
	me->puts[p]++;
	if (p < NPUT_SINGLE) {
		if (!begin_puts(s, idx, 1, &last))
			return false;
		CHECK(!last || iobuf_holders(s->set, m->h) == 1, "the last holder sees %d holders",
		      iobuf_holders(s->set, m->h));
		rc = put_single(&me->x, p, m->h);
		end_puts(s, idx, 1);
		CHECK(rc == 0, "%s: %d", put_name[p], rc);
		if (last) {
			CHECK(iobuf_buf(s->set, m->h) == NULL, "live after its last put");
			note_dead(me, m->h);
		}
		return true;
	}
	/* Two slices of one buffer, this thread's two holders. */
	CHECK(iobuf_slice_from(s->set, m->h, &sl[0]) == 0, "slice_from");
	CHECK(sl[0].h == m->h && sl[0].off == 0 && sl[0].len == m->len, "slice_from: {%u, %u}", sl[0].off, sl[0].len);
	at = (uint32_t)((r >> 8) % (m->len + 1));
	if (p == P_CLONE) {
		CHECK(iobuf_slice_clone(s->set, &sl[0], &sl[1]) == 0, "clone");
		CHECK(sl[1].h == sl[0].h && sl[1].off == sl[0].off && sl[1].len == sl[0].len, "a clone differs");
	} else {
		CHECK(iobuf_slice_split(s->set, &sl[0], at, &sl[1]) == 0, "split at %u of %u", at, m->len);
		CHECK(sl[0].len == at && sl[1].off == at && sl[1].len == m->len - at, "split at %u: {0, %u} {%u, %u}",
		      at, sl[0].len, sl[1].off, sl[1].len);
	}
	CHECK(iobuf_iov_from_slices(s->set, sl, 2, iov) == 2, "iov_from_slices");
	CHECK(iov[0].iov_base == b + sl[0].off && iov[0].iov_len == sl[0].len && iov[1].iov_base == b + sl[1].off &&
		  iov[1].iov_len == sl[1].len,
	      "iov_from_slices: wrong ranges");
	if (p == P_CONSUME) {
		size_t bytes = (size_t)((r >> 24) % (m->len + 1)), rem = bytes;
		uint32_t done = 0, len1 = sl[1].len;

		/* What consume puts: the slices written whole, an empty one counted as written. */
		while (done < 2 && sl[done].len <= rem)
			rem -= sl[done++].len;
		if (done > 0 && !begin_puts(s, idx, done, &last))
			return false;
		rc = iobuf_slices_consume(s->set, sl, 2, bytes);
		if (done > 0)
			end_puts(s, idx, done);
		CHECK(rc == (int)done, "consume of %zu bytes of {%u, %u}: %d, not %u", bytes, at, len1, rc, done);
		if (done == 2) {
			if (last) {
				CHECK(iobuf_buf(s->set, m->h) == NULL, "live after its last put");
				note_dead(me, m->h);
			}
			return true;
		}
		CHECK(sl[done].len == (done == 0 ? at : len1) - rem, "consume trimmed to %u", sl[done].len);
		if (!begin_puts(s, idx, 2 - done, &last))
			return false;
		rc = iobuf_slices_put(s->set, sl + done, (int)(2 - done));
		end_puts(s, idx, 2 - done);
		CHECK(rc == 0, "slices_put: %d", rc);
	} else {
		for (int i = 0; i < 2; i++) {
			int j = (r & (1u << 31)) ? i : 1 - i;

			if (!begin_puts(s, idx, 1, &last))
				return false;
			rc = iobuf_slice_put(s->set, &sl[j]);
			end_puts(s, idx, 1);
			CHECK(rc == 0 && sl[j].h == IOBUF_HANDLE_NONE, "slice put: %d", rc);
		}
	}
	if (last) {
		CHECK(iobuf_buf(s->set, m->h) == NULL, "live after its last put");
		note_dead(me, m->h);
	}
	return true;
}

/* Refusals on purpose: a dead handle put again (or held), a foreign one put. */
static bool provoke(struct sharer *me)
{
	struct share *s = me->s;
	uint64_t r = th_rand(&me->seed);
	iobuf_handle_t h, bad;
	struct iobuf_slice sl;
	int rc;

	if (me->ndead == 0)
		return true;
	h = me->dead[r % (uint64_t)me->ndead];
	switch ((r >> 8) % 5) {
	case 0:
		rc = iobuf_put(s->set, h);
		break;
	case 1:
		rc = iobuf_pool_put(s->pool, h);
		break;
	case 2:
		rc = iobuf_cache_put(me->x.sc, h);
		break;
	case 3:
		sl = (struct iobuf_slice){h, 0, 0};
		rc = iobuf_slice_put(s->set, &sl);
		break;
	default:
		rc = iobuf_hold(s->set, h, 1);
		CHECK(rc == -EALREADY || rc == -ESTALE, "a hold of a dead handle: %d", rc);
		rc = iobuf_setlen(s->set, h, 1);
		CHECK(rc == -EALREADY || rc == -ESTALE, "a setlen of a dead handle: %d", rc);
		return true; /* neither counts as a refused put */
	}
	CHECK(rc == -EALREADY || rc == -ESTALE, "a put of a dead handle: %d", rc);
	me->provoked_dead++;
	/* An index beyond the pool: another owner's handle, for all the library can tell. */
	bad = h ^ (IOBUF_POOL_MAX_CAPACITY >> 1);
	rc = (r & (1u << 20)) ? iobuf_pool_put(s->pool, bad) : iobuf_cache_put(me->x.sc, bad);
	CHECK(rc == -EINVAL, "a put of a foreign handle: %d", rc);
	me->provoked_invalid++;
	return true;
}

/* Take one mailed holder in hand (or put it at once when the hand is full). */
static bool receive(struct sharer *me)
{
	struct msg m;

	if (!unmail(me->s, me->id, &m))
		return true;
	if (!verify(me, &m))
		return false;
	if (me->nhand < SH_LOCAL) {
		me->hand[me->nhand++] = m;
		return true;
	}
	return put_holder(me, &m);
}

/* Put one holder in hand, perhaps after handing one more on. */
static bool let_go(struct sharer *me, bool may_forward)
{
	uint64_t r = th_rand(&me->seed);
	int i = (int)(r % (uint64_t)me->nhand);
	struct msg m = me->hand[i];

	me->hand[i] = me->hand[--me->nhand];
	if (!verify(me, &m))
		return false;
	if (may_forward && me->s->k > 1 && ((r >> 16) & 3) == 0 && count_add(me->s, iobuf_handle_index(m.h), 1)) {
		int rc = ((r >> 18) & 1) ? iobuf_hold(me->s->set, m.h, 1) : iobuf_pool_hold(me->s->pool, m.h, 1);

		CHECK(rc == 0, "a holder's hold: %d", rc);
		if (!mail(me->s, other_than(me), &m))
			return false;
		me->forwarded++;
	}
	return put_holder(me, &m);
}

static void *share_main(void *arg)
{
	struct sharer *me = arg;
	struct share *s = me->s;
	bool ok = true;

	th_pin(me->id);
	while (ok && !__atomic_load_n(&failures, __ATOMIC_RELAXED) && th_now_ns() < s->end) {
		uint64_t r = th_rand(&me->seed) % 16;

		if (r < 5 && me->nhand < SH_LOCAL)
			ok = create(me);
		else if (r < 10)
			ok = receive(me);
		else if (r < 15 && me->nhand > 0)
			ok = let_go(me, true);
		else if (r == 15)
			ok = provoke(me);
	}
	/* The drain: put what is in hand, then what the mail brings, until no holder is left anywhere. */
	__atomic_fetch_sub(&s->running, 1, __ATOMIC_ACQ_REL);
	while (ok && me->nhand > 0)
		ok = let_go(me, false);
	while (ok && (__atomic_load_n(&s->running, __ATOMIC_ACQUIRE) != 0 ||
		      __atomic_load_n(&s->live, __ATOMIC_ACQUIRE) != 0)) {
		struct msg m;

		if (unmail(s, me->id, &m)) {
			ok = verify(me, &m) && put_holder(me, &m);
			continue;
		}
		if (__atomic_load_n(&failures, __ATOMIC_RELAXED))
			break;
		if (th_now_ns() > s->deadline) {
			FAIL("thread %d: %lld holders never put", me->id, (long long)__atomic_load_n(&s->live, 0));
			break;
		}
		sched_yield();
	}
	return NULL;
}

static bool share_run(int k, char *what, size_t what_len)
{
	struct iobuf_set_config cfg = {.capacity = {[SH_TIER] = SH_CAP}};
	struct share *s = calloc(1, sizeof(*s));
	struct sharer *ts = calloc((size_t)k, sizeof(*ts));
	struct iobuf_pool_stats st;
	uint64_t gets = 0, shared = 0, fwd = 0, dead = 0, invalid = 0, puts[NPUT] = {0};
	bool ok = true;

	CHECK(s && ts, "calloc");
	s->set = iobuf_set_create(&cfg, NULL);
	CHECK(s->set, "set");
	s->pool = iobuf_set_pool(s->set, SH_TIER);
	s->k = k;
	s->running = (uint32_t)k;
	for (int i = 0; i < k; i++)
		pthread_mutex_init(&s->box[i].m, NULL);
	for (int i = 0; i < k; i++) {
		ts[i] = (struct sharer){.s = s, .id = i, .seed = 0x5eed0000u + (uint64_t)(k * 16 + i)};
		if (!make_paths(&ts[i].x, s->set, s->pool))
			return false;
	}
	s->end = th_now_ns() + (uint64_t)(secs_share * 1e9);
	s->deadline = s->end + WATCHDOG_NS;
	th_run(k, share_main, ts, sizeof(ts[0]));
	for (int i = 0; i < k; i++) {
		gets += ts[i].gets;
		shared += ts[i].shared;
		fwd += ts[i].forwarded;
		dead += ts[i].provoked_dead;
		invalid += ts[i].provoked_invalid;
		for (int p = 0; p < NPUT; p++)
			puts[p] += ts[i].puts[p];
	}
	/* At rest, the caches still holding what they kept (the threads are joined: theirs to read now). */
	iobuf_pool_stats(s->pool, &st);
	if (st.in_use != 0 || st.shared != 0 || st.free + st.cached != SH_CAP) {
		FAIL("at rest: in_use %u shared %u free %u cached %u", st.in_use, st.shared, st.free, st.cached);
		ok = false;
	}
	if (st.gets != gets || st.puts != gets) {
		FAIL("%llu gets made, the pool counts %llu gets and %llu puts", (unsigned long long)gets,
		     (unsigned long long)st.gets, (unsigned long long)st.puts);
		ok = false;
	}
	if (st.refused_already + st.refused_stale != dead || st.refused_invalid != invalid) {
		FAIL("refusals: %llu already + %llu stale, %llu invalid; provoked %llu dead, %llu foreign",
		     (unsigned long long)st.refused_already, (unsigned long long)st.refused_stale,
		     (unsigned long long)st.refused_invalid, (unsigned long long)dead, (unsigned long long)invalid);
		ok = false;
	}
	for (int i = 0; i < k; i++)
		free_paths(&ts[i].x);
	iobuf_pool_stats(s->pool, &st);
	if (st.cached != 0 || st.free != SH_CAP) {
		FAIL("caches destroyed: free %u cached %u", st.free, st.cached);
		ok = false;
	}
	ok = drain_unique(s->pool, SH_CAP) && ok;
	snprintf(what, what_len,
		 "%llu buffers, %llu shared, %llu holders passed on; puts: set %llu, pool %llu, cache %llu, "
		 "index %llu, cache index %llu, slice %llu, split %llu, clone %llu, consume %llu; %llu dead and %llu "
		 "foreign puts refused",
		 (unsigned long long)gets, (unsigned long long)shared, (unsigned long long)fwd,
		 (unsigned long long)puts[P_SET], (unsigned long long)puts[P_POOL], (unsigned long long)puts[P_CACHE],
		 (unsigned long long)puts[P_POOL_INDEX], (unsigned long long)puts[P_CACHE_INDEX],
		 (unsigned long long)puts[P_SLICE], (unsigned long long)puts[P_SPLIT],
		 (unsigned long long)puts[P_CLONE], (unsigned long long)puts[P_CONSUME], (unsigned long long)dead,
		 (unsigned long long)invalid);
	for (int i = 0; i < k; i++)
		pthread_mutex_destroy(&s->box[i].m);
	iobuf_set_destroy(s->set);
	free(ts);
	free(s);
	return ok && !failures;
}

/* ---- 4-8: two threads race one buffer ------------------------------------------- */

#define PR_TIER IOBUF_TIER_NANO
#define PR_CAP 64
#define MIN_ROUNDS 200 /* however slow the run (valgrind), each race runs at least this often */

enum race_kind { R_HOLD_VS_PUT, R_HOLD_MAX, R_LAST_TWO, R_SETLEN, R_CACHE_VS_POOL, NRACES };

struct pair {
	enum race_kind kind;
	struct iobuf_set *set;
	struct iobuf_pool *pool;
	struct iobuf_pool *one; /* a pool of one buffer: the next owner of a buffer is sure to be its old index */
	struct th_barrier bar;
	uint64_t end, rounds, outcome[4];
	uint32_t stop;
	/* The round, as thread 0 set it up. */
	iobuf_handle_t h;
	enum put_path path[2];
	uint32_t add[2], len[2];
	int variant, stale_calls, delay[2];
	uint64_t puts_before;
	/* What the threads saw. */
	int rc[2];
	iobuf_handle_t next; /* R_SETLEN: the new owner's handle */
	iobuf_handle_t burst[PR_CAP];
	int nburst;
};

struct pairer {
	struct pair *r;
	int id;
	struct paths x;
	uint32_t sense;
	uint64_t seed;
};

static iobuf__slot_t *slot_word(struct iobuf_pool *p, iobuf_handle_t h)
{
	const struct iobuf_pool_shape *shape = (const struct iobuf_pool_shape *)(const void *)p;

	return &shape->slot[iobuf_handle_index(h)];
}

static uint64_t pool_puts(struct iobuf_pool *p)
{
	struct iobuf_pool_stats st;

	iobuf_pool_stats(p, &st);
	return st.puts;
}

static int hold_either(struct pairer *me, iobuf_handle_t h, uint32_t n)
{
	return (th_rand(&me->seed) & 1) ? iobuf_hold(me->x.set, h, n) : iobuf_pool_hold(me->x.pool, h, n);
}

/* Thread 0, before the go. */
static bool race_setup(struct pairer *me)
{
	struct pair *r = me->r;
	uint64_t x = th_rand(&me->seed);

	r->rc[0] = r->rc[1] = 1;
	/* A short random delay before each side acts, so that either may come first. */
	r->delay[0] = (int)((x >> 40) % 128);
	r->delay[1] = (int)((x >> 48) % 128);
	if (r->kind == R_SETLEN) {
		if (r->h == IOBUF_HANDLE_NONE)
			CHECK(iobuf_pool_get(r->one, &r->h) == 0, "get");
		CHECK(iobuf_pool_hold(r->one, r->h, 1) == 0, "hold"); /* thread 1's holder */
		r->len[0] = (uint32_t)(x % 64);
		r->len[1] = (r->len[0] + 1 + (uint32_t)((x >> 8) % 63)) % 64; /* another length */
		r->stale_calls = 1 + (int)((x >> 16) % 8);
		return true;
	}
	CHECK(iobuf_pool_get(r->pool, &r->h) == 0, "get");
	switch (r->kind) {
	case R_HOLD_VS_PUT:
		r->path[0] = (enum put_path)(x % NPUT_SINGLE);
		break;
	case R_HOLD_MAX: {
		/* holders before, each thread's add, and how many may win */
		static const uint32_t base[3] = {IOBUF_HOLDERS_MAX - 1, IOBUF_HOLDERS_MAX - 2, IOBUF_HOLDERS_MAX - 3};
		static const uint32_t add[3] = {1, 1, 2};

		r->variant = (int)(x % 3);
		r->add[0] = r->add[1] = add[r->variant];
		__atomic_store_n(slot_word(r->pool, r->h),
				 (iobuf__slot_t)iobuf_handle_generation(r->h) |
				     ((iobuf__slot_t)(base[r->variant] - 1) << 32),
				 __ATOMIC_RELAXED);
		CHECK(iobuf_holders(r->set, r->h) == (int)base[r->variant], "holders %d", iobuf_holders(r->set, r->h));
		break;
	}
	case R_LAST_TWO:
		CHECK(hold_either(me, r->h, 1) == 0, "hold");
		r->path[0] = (enum put_path)(x % NPUT_SINGLE);
		r->path[1] = (enum put_path)((x >> 8) % NPUT_SINGLE);
		r->puts_before = pool_puts(r->pool);
		break;
	default: { /* R_CACHE_VS_POOL: one thread through a cache (inline when it can), the other through the pool */
		static const enum put_path cached[2] = {P_CACHE, P_CACHE_INDEX};
		static const enum put_path pooled[3] = {P_POOL, P_SET, P_POOL_INDEX};
		int c = (int)((x >> 4) & 1);

		CHECK(hold_either(me, r->h, 1) == 0, "hold");
		r->path[c] = cached[(x >> 5) & 1];
		r->path[1 - c] = pooled[(x >> 6) % 3];
		r->puts_before = pool_puts(r->pool);
		break;
	}
	}
	return true;
}

/* Both threads, at once. */
static bool race_act(struct pairer *me)
{
	struct pair *r = me->r;
	int id = me->id;

	for (volatile int i = 0; i < r->delay[id]; i++)
		;
	switch (r->kind) {
	case R_HOLD_VS_PUT:
		if (id == 0) {
			r->rc[0] = put_single(&me->x, r->path[0], r->h);
			/* Then take every free buffer: if the put freed ours, it is among them. */
			iobuf_cache_flush(me->x.sc);
			iobuf_cache_flush(me->x.pc);
			r->nburst = iobuf_pool_get_burst(r->pool, r->burst, PR_CAP);
		} else {
			r->rc[1] = hold_either(me, r->h, 1);
		}
		break;
	case R_HOLD_MAX:
		r->rc[id] = hold_either(me, r->h, r->add[id]);
		break;
	case R_SETLEN:
		if (id == 1) {
			/* A holder's setlen, its put, then setlens of a handle it no longer holds. */
			bool refused = false;

			CHECK(iobuf_pool_setlen(r->one, r->h, r->len[0]) == 0, "a holder's setlen");
			CHECK(iobuf_pool_put(r->one, r->h) == 0, "put");
			for (int i = 0; i < r->stale_calls; i++) {
				int rc = iobuf_pool_setlen(r->one, r->h, r->len[0]);

				CHECK(rc == 0 || rc == -EALREADY || rc == -ESTALE, "a stale setlen: %d", rc);
				CHECK(!(refused && rc == 0), "a stale setlen accepted after a refusal");
				refused = rc < 0;
			}
		} else {
			uint64_t t0 = th_now_ns();
			ssize_t len;

			CHECK(iobuf_pool_put(r->one, r->h) == 0, "put");
			/* The one buffer comes back once thread 1 has put it too. */
			while (iobuf_pool_get(r->one, &r->next) != 0) {
				sched_yield();
				CHECK(th_now_ns() - t0 < WATCHDOG_NS, "the buffer never came back");
			}
			len = iobuf_pool_len(r->one, r->next);
			CHECK(len == 0, "a new owner's fresh length is %zd", len);
			CHECK(iobuf_pool_setlen(r->one, r->next, r->len[1]) == 0, "the new owner's setlen");
			for (int i = 0; i < 8; i++) {
				len = iobuf_pool_len(r->one, r->next);
				CHECK(len == (ssize_t)r->len[1], "the new owner's length became %zd, not %u", len,
				      r->len[1]);
			}
		}
		break;
	default: /* R_LAST_TWO, R_CACHE_VS_POOL */
		r->rc[id] = put_single(&me->x, r->path[id], r->h);
		break;
	}
	iobuf_cache_flush(me->x.sc);
	iobuf_cache_flush(me->x.pc);
	return true;
}

/* Thread 0, after both acted and flushed their caches. */
static bool race_check(struct pairer *me)
{
	struct pair *r = me->r;
	struct iobuf_pool_stats st;
	bool in = false;
	int wins;

	switch (r->kind) {
	case R_HOLD_VS_PUT:
		CHECK(r->rc[0] == 0, "%s: %d", put_name[r->path[0]], r->rc[0]);
		for (int i = 0; i < r->nburst; i++)
			in = in || iobuf_handle_index(r->burst[i]) == iobuf_handle_index(r->h);
		if (r->rc[1] == 0) {
			/* The hold came first: the put only dropped a holder, and the buffer is still held. */
			CHECK(!in, "a hold succeeded on a buffer that was free: index %u handed out again",
			      iobuf_handle_index(r->h));
			CHECK(iobuf_holders(r->set, r->h) == 1, "holders %d", iobuf_holders(r->set, r->h));
			CHECK(iobuf_pool_put(r->pool, r->h) == 0, "the new holder's put");
			r->outcome[0]++;
		} else {
			CHECK(r->rc[1] == -EALREADY || r->rc[1] == -ESTALE, "hold against the last put: %d", r->rc[1]);
			CHECK(in, "the hold was refused (%d) but the buffer is not free", r->rc[1]);
			r->outcome[r->rc[1] == -EALREADY ? 1 : 2]++;
		}
		CHECK(iobuf_pool_put_bulk(r->pool, r->burst, r->nburst) == 0, "put the burst back");
		break;
	case R_HOLD_MAX: {
		static const int winners[3] = {1, 2, 1};
		static const uint32_t final[3] = {IOBUF_HOLDERS_MAX, IOBUF_HOLDERS_MAX, IOBUF_HOLDERS_MAX - 1};

		wins = (r->rc[0] == 0) + (r->rc[1] == 0);
		CHECK(wins == winners[r->variant], "variant %d: %d holds won (%d, %d)", r->variant, wins, r->rc[0],
		      r->rc[1]);
		for (int i = 0; i < 2; i++)
			CHECK(r->rc[i] == 0 || r->rc[i] == -EOVERFLOW, "a hold at the edge: %d", r->rc[i]);
		CHECK(iobuf_holders(r->set, r->h) == (int) final[r->variant], "variant %d: %d holders", r->variant,
		      iobuf_holders(r->set, r->h));
		r->outcome[r->variant]++;
		/* Back to one holder by hand (2^31 puts would take a while), then the last put. */
		__atomic_store_n(slot_word(r->pool, r->h), (iobuf__slot_t)iobuf_handle_generation(r->h),
				 __ATOMIC_RELAXED);
		CHECK(iobuf_pool_put(r->pool, r->h) == 0, "put");
		break;
	}
	case R_SETLEN:
		CHECK(iobuf_pool_len(r->one, r->next) == (ssize_t)r->len[1],
		      "the new owner's length became %zd, not %u", iobuf_pool_len(r->one, r->next), r->len[1]);
		CHECK(iobuf_pool_holders(r->one, r->next) == 1, "holders %d", iobuf_pool_holders(r->one, r->next));
		r->h = r->next;
		return true;
	default:
		CHECK(r->rc[0] == 0 && r->rc[1] == 0, "%s and %s of the last two holders: %d and %d",
		      put_name[r->path[0]], put_name[r->path[1]], r->rc[0], r->rc[1]);
		CHECK(pool_puts(r->pool) - r->puts_before == 1, "the last two puts freed the buffer %llu times",
		      (unsigned long long)(pool_puts(r->pool) - r->puts_before));
		CHECK(iobuf_holders(r->set, r->h) == -EALREADY, "after both puts: %d", iobuf_holders(r->set, r->h));
		/* Every index free exactly once (the statistics below check every round; this, every 16th). */
		if (r->rounds % 16 == 0 && !drain_unique(r->pool, PR_CAP))
			return false;
		break;
	}
	iobuf_pool_stats(r->pool, &st);
	CHECK(st.in_use == 0 && st.shared == 0 && st.cached == 0 && st.free == PR_CAP,
	      "at rest: in_use %u shared %u cached %u free %u", st.in_use, st.shared, st.cached, st.free);
	return true;
}

static void *race_main(void *arg)
{
	struct pairer *me = arg;
	struct pair *r = me->r;

	th_pin(me->id);
	for (;;) {
		if (me->id == 0 && (__atomic_load_n(&failures, __ATOMIC_RELAXED) ||
				    (th_now_ns() > r->end && r->rounds >= MIN_ROUNDS) || !race_setup(me)))
			__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
		th_barrier_wait(&r->bar, &me->sense); /* go */
		if (__atomic_load_n(&r->stop, __ATOMIC_RELAXED))
			break;
		if (!race_act(me))
			__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED); /* seen after the next barrier */
		th_barrier_wait(&r->bar, &me->sense);			 /* both done, both caches flushed */
		if (me->id == 0) {
			if (!__atomic_load_n(&failures, __ATOMIC_RELAXED) && !race_check(me))
				__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
			r->rounds++;
		}
	}
	return NULL;
}

static bool race_run(enum race_kind kind, uint64_t *rounds, uint64_t outcome[4])
{
	struct iobuf_set_config cfg = {.capacity = {[PR_TIER] = PR_CAP}};
	struct iobuf_pool_config one = {.buf_size = 64, .capacity = 1};
	struct pair *r = calloc(1, sizeof(*r));
	struct pairer ps[2];
	bool ok;

	CHECK(r, "calloc");
	r->kind = kind;
	r->set = iobuf_set_create(&cfg, NULL);
	r->one = iobuf_pool_create(&one, NULL);
	CHECK(r->set && r->one, "set, pool");
	r->pool = iobuf_set_pool(r->set, PR_TIER);
	r->end = th_now_ns() + (uint64_t)(secs_race * 1e9);
	for (int i = 0; i < 2; i++) {
		ps[i] = (struct pairer){.r = r, .id = i, .seed = 0x9a1e0000u + (uint64_t)(kind * 2 + i)};
		if (!make_paths(&ps[i].x, r->set, r->pool))
			return false;
	}
	th_run(2, race_main, ps, sizeof(ps[0]));
	ok = !failures;
	if (kind == R_SETLEN && r->h != IOBUF_HANDLE_NONE)
		ok = iobuf_pool_put(r->one, r->h) == 0 && ok;
	for (int i = 0; i < 2; i++)
		free_paths(&ps[i].x);
	ok = drain_unique(r->pool, PR_CAP) && ok;
	*rounds = r->rounds;
	memcpy(outcome, r->outcome, sizeof(r->outcome));
	iobuf_pool_destroy(r->one);
	iobuf_set_destroy(r->set);
	free(r);
	return ok;
}

int main(int argc, char **argv)
{
	static const int ks[3] = {2, 4, 8};
	char what[512];
	uint64_t n, o[4];
	bool ok;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--long") == 0) {
			secs_share = 10.0;
			secs_race = 5.0;
		}
	}
	printf("1..8\n");
	for (int i = 0; i < 3; i++) {
		ok = share_run(ks[i], what, sizeof(what));
		tap(ok, "%d threads share buffers at random (%d cores): %s", ks[i], th_ncpus(), what);
	}
	ok = race_run(R_HOLD_VS_PUT, &n, o);
	tap(ok, "hold against the last put: %llu races; the hold first %llu, refused -EALREADY %llu, -ESTALE %llu",
	    (unsigned long long)n, (unsigned long long)o[0], (unsigned long long)o[1], (unsigned long long)o[2]);
	ok = race_run(R_HOLD_MAX, &n, o);
	tap(ok,
	    "two holds at IOBUF_HOLDERS_MAX: %llu races (room for one %llu, for two %llu, one of two adds of 2 %llu)",
	    (unsigned long long)n, (unsigned long long)o[0], (unsigned long long)o[1], (unsigned long long)o[2]);
	ok = race_run(R_LAST_TWO, &n, o);
	tap(ok, "the last two holders put at once through every pair of paths: %llu races, each freed once",
	    (unsigned long long)n);
	ok = race_run(R_SETLEN, &n, o);
	tap(ok, "a stale holder's setlen against the next owner's: %llu races, the new length kept",
	    (unsigned long long)n);
	ok = race_run(R_CACHE_VS_POOL, &n, o);
	tap(ok, "a cache's put against the pool's put of a shared buffer: %llu races, each freed once",
	    (unsigned long long)n);
	return failures ? 1 : 0;
}
