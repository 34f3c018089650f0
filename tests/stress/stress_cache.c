/* SPDX-License-Identifier: MIT */
/*
 * stress_cache.c - pools under concurrent use through per-thread caches,
 * every buffer checked.
 *
 * Threads pinned to the cores each own a cache (some strict) and, at
 * random, get and put through it (handles, raw indices, bulk forms), or
 * through the pool with no cache (single, bulk, burst, waiting gets),
 * flush the cache, make deliberate double puts, on pools of capacity 16,
 * 64, 256 and 4096 (magazines of 1, 4, 16 and 64).  On every get the
 * thread claims the index in an ownership table (a CAS from free to its
 * id: two owners would fail it) and stamps the buffer with its id and a
 * sequence; on every put it checks the stamp and disowns the index
 * first.  Then:
 *   - no spurious empty: when k * T plus what the caches may hold (2M
 *     each) stays below the capacity, no get may report the pool empty;
 *   - handoff: buffers got through one thread's cache are checked and
 *     put through another thread's cache (and the other way, uncached),
 *     so every buffer crosses through the depot;
 *   - a cache over a set, by size and by handle, every tier;
 *   - wrap: generations and queue cursors start just below their wrap;
 *   - at the end the caches are destroyed, every buffer is free once,
 *     and the statistics agree with the threads' own counts.
 *
 * Prints TAP.  Default: a couple of seconds in all; --long: minutes
 * (make stress).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iobuf/cache.h>
#include <iobuf/pool.h>
#include <iobuf/tiers.h>

#include "../common/tap.h"
#include "../common/thread.h"
#include "pool.h"

#define MAX_THREADS 4
#define MAX_HOLD 64

/* ---- the mix ---------------------------------------------------------------------- */

struct shared {
	struct iobuf_pool *pool;
	uint32_t *owner; /* 0 free, else thread id + 1 */
	size_t stamp_len;
	int k;            /* most buffers one thread holds */
	bool never_empty; /* what threads and caches may hold stays below the capacity */
	uint64_t deadline;
	uint64_t double_puts; /* deliberate, each must be refused */
};

struct worker {
	struct shared *sh;
	struct iobuf_cache *cache;
	int id;
	uint64_t seed;
	uint64_t gets, puts, ops, empties;
	iobuf_handle_t held[MAX_HOLD];
	uint32_t seq[MAX_HOLD];
	int nheld;
};

static void stamp(struct shared *sh, uint32_t idx, uint32_t who, uint32_t seq)
{
	uint32_t *b = iobuf_pool_index_buf(sh->pool, idx);
	size_t words = sh->stamp_len / 4;

	for (size_t i = 0; i < words; i++)
		b[i] = who ^ (seq * 2654435761u) ^ (uint32_t)i;
}

static bool check_stamp(struct shared *sh, uint32_t idx, uint32_t who, uint32_t seq)
{
	const uint32_t *b = iobuf_pool_index_buf(sh->pool, idx);
	size_t words = sh->stamp_len / 4;

	for (size_t i = 0; i < words; i++)
		CHECK(b[i] == (who ^ (seq * 2654435761u) ^ (uint32_t)i), "buffer %u: word %zu overwritten while owned by %u",
		      idx, i, who);
	return true;
}

/* @h: a handle, or a raw index (generation 0) from the index calls. */
static bool claim(struct worker *w, iobuf_handle_t h)
{
	uint32_t idx = iobuf_handle_index(h), expect = 0, me = (uint32_t)w->id + 1;

	CHECK(idx < iobuf_pool_capacity(w->sh->pool), "index %u out of range", idx);
	CHECK(__atomic_compare_exchange_n(&w->sh->owner[idx], &expect, me, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE),
	      "index %u handed to thread %u while thread %u holds it", idx, me, expect);
	if (iobuf_handle_generation(h) != 0)
		CHECK(iobuf_pool_buf(w->sh->pool, h) != NULL && iobuf_cache_buf(w->cache, h) != NULL,
		      "fresh handle of %u not live", idx);
	w->seq[w->nheld] = (uint32_t)w->ops;
	w->held[w->nheld++] = h;
	stamp(w->sh, idx, me, (uint32_t)w->ops);
	w->gets++;
	return true;
}

/* Check and disown held[i] (moved out of the array); the caller puts it. */
static bool disown(struct worker *w, int i, iobuf_handle_t *out)
{
	iobuf_handle_t h = w->held[i];
	uint32_t idx = iobuf_handle_index(h), me = (uint32_t)w->id + 1, expect = me;

	if (!check_stamp(w->sh, idx, me, w->seq[i]))
		return false;
	CHECK(__atomic_compare_exchange_n(&w->sh->owner[idx], &expect, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE),
	      "index %u owned by %u, not %u", idx, expect, me);
	w->held[i] = w->held[--w->nheld];
	w->seq[i] = w->seq[w->nheld];
	*out = h;
	return true;
}

static bool got_empty(struct worker *w)
{
	w->empties++;
	CHECK(!w->sh->never_empty, "spurious empty: thread %d holds %d, k %d", w->id, w->nheld, w->sh->k);
	return true;
}

/* Put one held token back: a handle through the cache or the pool, an index likewise. */
static int put_one(struct worker *w, iobuf_handle_t h, bool cached)
{
	if (iobuf_handle_generation(h) != 0)
		return cached ? iobuf_cache_put(w->cache, h) : iobuf_pool_put(w->sh->pool, h);
	return cached ? iobuf_cache_put_index(w->cache, (uint32_t)h) : iobuf_pool_put_index(w->sh->pool, (uint32_t)h);
}

static bool step(struct worker *w)
{
	struct shared *sh = w->sh;
	uint64_t r = th_rand(&w->seed);
	int op = (int)(r % 100), room = sh->k - w->nheld;
	bool cached = (r >> 40) % 4 != 0; /* three in four calls through the cache */
	iobuf_handle_t hs[8];
	uint32_t idx[8];
	int rc;

	w->ops++;
	if (room > 0 && op < 25) {
		if (cached)
			rc = iobuf_cache_get(w->cache, sh->stamp_len ? sh->stamp_len : 1, &hs[0]);
		else
			rc = iobuf_pool_get(sh->pool, &hs[0]);
		if (rc == -ENOBUFS)
			return got_empty(w);
		CHECK(rc == 0, "get: %d", rc);
		return claim(w, hs[0]);
	}
	if (room > 0 && op < 35) {
		rc = cached ? iobuf_cache_get_index(w->cache) : iobuf_pool_get_index(sh->pool);
		if (rc == -ENOBUFS)
			return got_empty(w);
		CHECK(rc >= 0, "get_index: %d", rc);
		return claim(w, (iobuf_handle_t)rc);
	}
	if (room > 0 && op < 43) {
		int n = 1 + (int)((r >> 8) % (unsigned)(room < 8 ? room : 8));

		if ((r >> 20) & 1) {
			rc = cached ? iobuf_cache_get_bulk(w->cache, 1, hs, n) : iobuf_pool_get_bulk(sh->pool, hs, n);
			if (rc == -ENOBUFS)
				return got_empty(w);
			CHECK(rc == 0, "bulk: %d", rc);
			for (int i = 0; i < n; i++)
				if (!claim(w, hs[i]))
					return false;
		} else if (cached) {
			rc = iobuf_cache_get_index_bulk(w->cache, idx, n);
			if (rc == -ENOBUFS)
				return got_empty(w);
			CHECK(rc == 0, "index bulk: %d", rc);
			for (int i = 0; i < n; i++)
				if (!claim(w, idx[i]))
					return false;
		} else {
			rc = iobuf_pool_get_burst(sh->pool, hs, n);
			CHECK(rc >= 0 && rc <= n, "burst: %d", rc);
			if (rc < n && !got_empty(w))
				return false;
			for (int i = 0; i < rc; i++)
				if (!claim(w, hs[i]))
					return false;
		}
		return true;
	}
	if (room > 0 && op < 45) {
		rc = iobuf_pool_get_wait(sh->pool, &hs[0], 200000);
		if (rc == -ETIMEDOUT)
			return got_empty(w);
		CHECK(rc == 0, "get_wait: %d", rc);
		return claim(w, hs[0]);
	}
	if (op == 45) {
		CHECK(iobuf_cache_flush(w->cache) >= 0, "flush");
		return true;
	}
	if (w->nheld == 0)
		return true;
	if (op < 58 && w->nheld >= 2) {
		int n = 2 + (int)((r >> 8) % (unsigned)(w->nheld - 1 < 7 ? w->nheld - 1 : 7));
		int handles = 0, indices = 0;

		for (int i = 0; i < n; i++) {
			iobuf_handle_t h;

			if (!disown(w, (int)(th_rand(&w->seed) % (unsigned)w->nheld), &h))
				return false;
			if (iobuf_handle_generation(h) != 0)
				hs[handles++] = h;
			else
				idx[indices++] = (uint32_t)h;
		}
		rc = cached ? iobuf_cache_put_bulk(w->cache, hs, handles) : iobuf_pool_put_bulk(sh->pool, hs, handles);
		CHECK(rc == 0, "put_bulk: %d", rc);
		if (cached) {
			rc = iobuf_cache_put_index_bulk(w->cache, idx, indices);
		} else {
			rc = 0;
			for (int i = 0; i < indices && rc == 0; i++)
				rc = iobuf_pool_put_index(sh->pool, idx[i]);
		}
		CHECK(rc == 0, "put index bulk: %d", rc);
		w->puts += (uint64_t)n;
		return true;
	}
	if (!disown(w, (int)((r >> 8) % (unsigned)w->nheld), &hs[0]))
		return false;
	rc = put_one(w, hs[0], cached);
	CHECK(rc == 0, "put: %d", rc);
	w->puts++;
	/*
	 * A deliberate second put, through the cache or not: refused, whoever
	 * holds the buffer now.  An index handed out again since cannot be
	 * told apart (that is what handles are for), so an index is put twice
	 * only when the first put left it on top of this thread's own stack:
	 * a cached put that left the stack empty gave the index to the pool
	 * (a get waits, or the tier is not cached), where another get may take it.
	 */
	if (op > 96 && ((iobuf_handle_generation(hs[0]) != 0) || (cached && iobuf_cache_count(w->cache, 0) > 0))) {
		rc = put_one(w, hs[0], (r >> 50) & 1);
		if (iobuf_handle_generation(hs[0]) != 0)
			CHECK(rc == -EALREADY || rc == -ESTALE, "double put returned %d", rc);
		else
			CHECK(rc == -EALREADY, "double put of an index returned %d", rc);
		__atomic_fetch_add(&sh->double_puts, 1, __ATOMIC_RELAXED);
	}
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	th_pin(w->id);
	while (__atomic_load_n(&failures, __ATOMIC_RELAXED) == 0) {
		for (int i = 0; i < 256; i++)
			if (!step(w))
				goto out;
		if (th_now_ns() > w->sh->deadline)
			break;
	}
out:
	while (w->nheld > 0) {
		iobuf_handle_t h;

		if (!disown(w, 0, &h) || put_one(w, h, true) != 0)
			break;
		w->puts++;
	}
	iobuf_cache_destroy(w->cache);
	w->cache = NULL;
	return NULL;
}

static bool finish(struct shared *sh, struct worker *ws, int n)
{
	struct iobuf_pool_stats st;
	uint64_t gets = 0, puts = 0;

	for (int i = 0; i < n; i++) {
		gets += ws[i].gets;
		puts += ws[i].puts;
	}
	iobuf_pool_stats(sh->pool, &st);
	CHECK(st.in_use == 0 && st.cached == 0 && st.free == st.capacity, "not all free: in_use %u cached %u free %u of %u",
	      st.in_use, st.cached, st.free, st.capacity);
	CHECK(st.gets == gets && st.puts == puts, "stats gets %" PRIu64 " puts %" PRIu64 ", threads %" PRIu64 "/%" PRIu64,
	      st.gets, st.puts, gets, puts);
	CHECK(st.refused_already + st.refused_stale == sh->double_puts, "refusals %" PRIu64 " != double puts %" PRIu64,
	      st.refused_already + st.refused_stale, sh->double_puts);
	/* Every index exactly once in the free queue and the depot. */
	{
		uint32_t cap = st.capacity;
		uint8_t *seen = calloc(cap, 1);
		int idx, count = 0;
		bool dup = false;

		while ((idx = iobuf_pool_get_index(sh->pool)) >= 0) {
			dup |= seen[idx];
			seen[idx] = 1;
			count++;
		}
		free(seen);
		CHECK(!dup, "an index twice in the free queue or the depot");
		CHECK((uint32_t)count == cap, "%d of %u indices free", count, cap);
	}
	return true;
}

static bool run_mix(uint32_t cap, size_t size, int threads, int k, bool never_empty, double secs, uint64_t gen_base,
		    uint64_t scq_start, uint64_t *ops_out)
{
	struct iobuf_pool_config cfg = {.buf_size = size, .capacity = cap};
	struct shared sh = {0};
	struct worker ws[MAX_THREADS];
	bool ok;

	sh.pool = iobuf__pool_create_at(&cfg, gen_base, scq_start, NULL);
	if (!sh.pool)
		return false;
	sh.owner = calloc(cap, sizeof(uint32_t));
	sh.stamp_len = size < 256 ? size & ~(size_t)3 : 256;
	sh.k = k;
	sh.never_empty = never_empty;
	sh.deadline = th_now_ns() + (uint64_t)(secs * 1e9);
	memset(ws, 0, sizeof(ws));
	for (int i = 0; i < threads; i++) {
		struct iobuf_cache_config cc = {.flags = 0};

		ws[i] = (struct worker){.sh = &sh, .id = i, .seed = 0x1234567u * (uint64_t)(i + 1) + cap};
		ws[i].cache = iobuf_cache_create_pool(sh.pool, &cc, NULL);
		if (!ws[i].cache)
			return false;
	}
	th_run(threads, worker_main, ws, sizeof(ws[0]));
	ok = failures == 0 && finish(&sh, ws, threads);
	*ops_out = 0;
	for (int i = 0; i < threads; i++)
		*ops_out += ws[i].ops;
	free(sh.owner);
	iobuf_pool_destroy(sh.pool);
	return ok;
}

/* ---- handoff: got through one cache, checked and put through another ---------------------- */

struct handoff {
	struct iobuf_pool *pool;
	struct iobuf_set *set; /* or a set: sizes across every tier */
	struct th_chan chan;
	uint64_t deadline;
	uint64_t sent, received;
	bool done;
	bool producer_cached, consumer_cached;
};

static size_t size_of(uint64_t n, bool set)
{
	return set ? (size_t)1 + (size_t)((n * 2654435761u) % 70000u) : 256;
}

static void fill(uint8_t *b, size_t len, uint64_t n)
{
	len = len < 512 ? len : 512;
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(n * 131 + i);
}

static bool filled(const uint8_t *b, size_t len, uint64_t n)
{
	len = len < 512 ? len : 512;
	for (size_t i = 0; i < len; i++)
		if (b[i] != (uint8_t)(n * 131 + i))
			return false;
	return true;
}

static void *producer(void *arg)
{
	struct handoff *ho = arg;
	struct iobuf_cache *c = ho->set ? iobuf_cache_create(ho->set, NULL, NULL) : iobuf_cache_create_pool(ho->pool, NULL, NULL);

	th_pin(0);
	while (th_now_ns() < ho->deadline && failures == 0) {
		size_t len = size_of(ho->sent, ho->set != NULL);
		iobuf_handle_t h;
		int rc;

		if (ho->producer_cached)
			rc = iobuf_cache_get(c, len, &h);
		else
			rc = ho->set ? iobuf_get(ho->set, len, &h) : iobuf_pool_get(ho->pool, &h);
		if (rc != 0)
			continue; /* the consumer's cache holds them: they come back */
		fill(iobuf_cache_buf(c, h), len, ho->sent);
		while (!th_chan_push(&ho->chan, h))
			;
		ho->sent++;
	}
	__atomic_store_n(&ho->done, true, __ATOMIC_RELEASE);
	iobuf_cache_destroy(c);
	return NULL;
}

static void *consumer(void *arg)
{
	struct handoff *ho = arg;
	struct iobuf_cache *c = ho->set ? iobuf_cache_create(ho->set, NULL, NULL) : iobuf_cache_create_pool(ho->pool, NULL, NULL);

	th_pin(1);
	for (;;) {
		uint64_t v;
		iobuf_handle_t h;
		uint8_t *b;
		int rc;

		if (!th_chan_pop(&ho->chan, &v)) {
			if (!__atomic_load_n(&ho->done, __ATOMIC_ACQUIRE))
				continue;
			/* done is set after the last push: seen done, then empty, means drained. */
			if (!th_chan_pop(&ho->chan, &v))
				break;
		}
		h = v;
		b = iobuf_cache_buf(c, h);
		if (!b) {
			fprintf(stderr, "# FAIL handoff: handle not live on the receiving thread\n");
			__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (!filled(b, size_of(ho->received, ho->set != NULL), ho->received)) {
			fprintf(stderr, "# FAIL handoff: contents of buffer %" PRIu64 " changed\n", ho->received);
			__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
		}
		if (ho->consumer_cached)
			rc = iobuf_cache_put(c, h);
		else
			rc = ho->set ? iobuf_put(ho->set, h) : iobuf_pool_put(ho->pool, h);
		if (rc != 0)
			__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
		ho->received++;
	}
	iobuf_cache_destroy(c);
	return NULL;
}

static bool run_handoff(uint32_t cap, bool set, bool pc, bool cc, double secs, uint64_t *ops)
{
	struct handoff *ho = calloc(1, sizeof(*ho));
	pthread_t a, b;
	bool ok = true;

	if (set) {
		struct iobuf_set_config cfg;

		iobuf_set_config_default(&cfg);
		cfg.flags = IOBUF_SET_SPILL;
		ho->set = iobuf_set_create(&cfg, NULL);
	} else {
		struct iobuf_pool_config cfg = {.buf_size = 256, .capacity = cap};

		ho->pool = iobuf_pool_create(&cfg, NULL);
	}
	ho->producer_cached = pc;
	ho->consumer_cached = cc;
	ho->deadline = th_now_ns() + (uint64_t)(secs * 1e9);
	pthread_create(&a, NULL, producer, ho);
	pthread_create(&b, NULL, consumer, ho);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	ok = failures == 0 && ho->sent == ho->received;
	for (int t = 0; t < IOBUF_TIER_COUNT; t++) {
		struct iobuf_pool *p = set ? iobuf_set_pool(ho->set, t) : t == 0 ? ho->pool : NULL;
		struct iobuf_pool_stats st;

		if (!p)
			continue;
		iobuf_pool_stats(p, &st);
		ok = ok && st.in_use == 0 && st.cached == 0 && st.free == st.capacity;
		if (!set)
			ok = ok && st.gets == ho->sent;
	}
	*ops = ho->sent;
	if (set)
		iobuf_set_destroy(ho->set);
	else
		iobuf_pool_destroy(ho->pool);
	free(ho);
	return ok;
}

int main(int argc, char **argv)
{
	bool long_run = argc > 1 && strcmp(argv[1], "--long") == 0;
	double secs = long_run ? 20.0 : 0.15;
	static const uint32_t caps[] = {16, 64, 256, 4096};
	const int ncaps = (int)(sizeof(caps) / sizeof(caps[0]));
	const int threads = 2; /* two threads even on one core: interleavings still happen */
	uint64_t ops, total = 0;

	printf("1..%d\n", 2 * ncaps + 6);
	for (int i = 0; i < ncaps; i++) {
		bool ok = run_mix(caps[i], 64, threads, 8, false, secs, 0, 0, &ops);

		total += ops;
		tap(ok, "mix through caches and not, capacity %u, %d threads: %" PRIu64 " operations, every buffer checked",
		    caps[i], threads, ops);
	}
	for (int i = 0; i < ncaps; i++) {
		/*
		 * Never empty: every thread holds k, its cache up to two magazines,
		 * and an uncached get that drains a depot magazine has up to M - 1
		 * indices in flight to the queue: T (k + 2M) + T (M - 1) < C.
		 */
		uint32_t cap = caps[i], mag = cap / 16 < 64 ? cap / 16 : 64;
		int k = (int)((cap - 1 - 3 * mag * (uint32_t)threads) / (uint32_t)threads);
		bool ok;

		if (k > MAX_HOLD)
			k = MAX_HOLD;
		if (k < 1) {
			tap(true, "no spurious empty, capacity %u: no k >= 1 fits # SKIP", cap);
			continue;
		}
		ok = run_mix(cap, 16, threads, k, true, secs, 0, 0, &ops);
		total += ops;
		tap(ok, "no spurious empty through caches, capacity %u, %d threads holding <= %d: %" PRIu64 " operations",
		    cap, threads, k, ops);
	}
	{
		static const struct {
			bool set, pc, cc;
			const char *what;
		} ho[] = {
			{false, true, true, "cache -> cache"},
			{false, true, false, "cache -> pool"},
			{false, false, true, "pool -> cache"},
			{true, true, true, "set cache -> set cache, every tier"},
		};

		for (size_t i = 0; i < sizeof(ho) / sizeof(ho[0]); i++) {
			bool ok = run_handoff(1024, ho[i].set, ho[i].pc, ho[i].cc, secs * 2, &ops);

			total += ops;
			tap(ok, "handoff %s, get on core 0, check and put on core 1: %" PRIu64 " buffers intact", ho[i].what,
			    ops);
		}
	}
	{
		/* Generations just below 2^32: handles wrap while threads race through caches. */
		bool ok = run_mix(16, 64, threads, 4, false, secs, (UINT64_C(1) << 32) - 64, UINT64_MAX - 4000, &ops);

		total += ops;
		tap(ok, "generation wrap at 2^32 and queue tickets at 2^64 through caches: %" PRIu64 " operations", ops);
	}
	{
		bool ok = run_mix(64, 1024, threads, 3, true, secs, (UINT64_C(1) << 32) - 1000, (UINT64_C(1) << 63) - 3000,
				  &ops);

		total += ops;
		tap(ok, "generation wrap, queue cycles at 2^63, never empty, 1 KiB buffers: %" PRIu64 " operations", ops);
	}
	printf("# %" PRIu64 " operations in all\n", total);
	return failures == 0 ? 0 : 1;
}
