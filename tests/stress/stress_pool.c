/* SPDX-License-Identifier: MIT */
/*
 * stress_pool.c - pools under concurrent use, every buffer checked.
 *
 * Threads pinned to the cores mix get, put, bulk, burst, waiting get and
 * deliberate double puts at random on pools of capacity 1, 2, 3, 8, 64 and
 * 4096.  On every get the thread claims the index in an ownership table
 * (a CAS from free to its id: two owners would fail it) and stamps the
 * whole buffer with its id and a sequence; on every put it checks the
 * stamp and gives the index back in the table first.  Then:
 *   - no spurious empty: with T threads each holding at most k, k*T < C,
 *     no get may report the pool empty;
 *   - handoff: buffers got on one thread are checked and put on another;
 *   - wrap: generations and queue cursors start just below their wrap;
 *   - at the end every buffer is free and the statistics agree with the
 *     threads' own counts.
 *
 * Prints TAP.  Default: a few seconds in all; --long: minutes, >= 10^8
 * operations (make stress).
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

#include <iobuf/pool.h>

#include "../common/tap.h"
#include "../common/thread.h"
#include "pool.h"

#define MAX_THREADS 4
#define MAX_HOLD 64

struct shared {
	struct iobuf_pool *pool;
	uint32_t *owner; /* 0 free, else thread id + 1 */
	size_t stamp_len;
	int k;              /* most buffers one thread holds */
	bool never_empty;   /* k * threads < capacity: an empty get is a failure */
	uint64_t deadline;
	uint64_t double_puts; /* deliberate, each must be refused */
};

struct worker {
	struct shared *sh;
	int id;
	uint64_t seed;
	uint64_t gets, puts, ops, empties;
	iobuf_handle_t held[MAX_HOLD];
	uint32_t seq[MAX_HOLD];
	int nheld;
};

static void stamp(struct shared *sh, iobuf_handle_t h, uint32_t who, uint32_t seq)
{
	uint32_t *b = iobuf_pool_index_buf(sh->pool, iobuf_handle_index(h));
	size_t words = sh->stamp_len / 4;

	for (size_t i = 0; i < words; i++)
		b[i] = who ^ (seq * 2654435761u) ^ (uint32_t)i;
}

static bool check_stamp(struct shared *sh, iobuf_handle_t h, uint32_t who, uint32_t seq)
{
	const uint32_t *b = iobuf_pool_index_buf(sh->pool, iobuf_handle_index(h));
	size_t words = sh->stamp_len / 4;

	for (size_t i = 0; i < words; i++)
		CHECK(b[i] == (who ^ (seq * 2654435761u) ^ (uint32_t)i),
		      "buffer %u: word %zu overwritten while owned by %u", iobuf_handle_index(h), i, who);
	return true;
}

static bool claim(struct worker *w, iobuf_handle_t h)
{
	uint32_t idx = iobuf_handle_index(h), expect = 0, me = (uint32_t)w->id + 1;

	CHECK(idx < iobuf_pool_capacity(w->sh->pool), "index %u out of range", idx);
	CHECK(__atomic_compare_exchange_n(&w->sh->owner[idx], &expect, me, false, __ATOMIC_ACQ_REL,
					  __ATOMIC_ACQUIRE),
	      "index %u handed to thread %u while thread %u holds it", idx, me, expect);
	w->seq[w->nheld] = (uint32_t)w->ops;
	w->held[w->nheld++] = h;
	stamp(w->sh, h, me, (uint32_t)w->ops);
	w->gets++;
	return true;
}

/* Check and disown held[i] (moved out of the array); the caller puts it. */
static bool disown(struct worker *w, int i, iobuf_handle_t *out)
{
	iobuf_handle_t h = w->held[i];
	uint32_t idx = iobuf_handle_index(h), me = (uint32_t)w->id + 1, expect = me;

	if (!check_stamp(w->sh, h, me, w->seq[i]))
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

static bool step(struct worker *w)
{
	struct shared *sh = w->sh;
	uint64_t r = th_rand(&w->seed);
	int op = (int)(r % 100), room = sh->k - w->nheld;
	iobuf_handle_t hs[8];
	int rc;

	w->ops++;
	if (room > 0 && op < 30) {
		rc = iobuf_pool_get(sh->pool, &hs[0]);
		if (rc == -ENOBUFS)
			return got_empty(w);
		CHECK(rc == 0, "get: %d", rc);
		return claim(w, hs[0]);
	}
	if (room > 0 && op < 40) {
		int n = 1 + (int)((r >> 8) % (unsigned)(room < 8 ? room : 8));

		rc = iobuf_pool_get_bulk(sh->pool, hs, n);
		if (rc == -ENOBUFS)
			return got_empty(w);
		CHECK(rc == 0, "bulk: %d", rc);
		for (int i = 0; i < n; i++)
			if (!claim(w, hs[i]))
				return false;
		return true;
	}
	if (room > 0 && op < 48) {
		int n = 1 + (int)((r >> 8) % (unsigned)(room < 8 ? room : 8));

		rc = iobuf_pool_get_burst(sh->pool, hs, n);
		CHECK(rc >= 0 && rc <= n, "burst: %d", rc);
		if (rc == 0)
			return got_empty(w);
		if (rc < n && sh->never_empty)
			return got_empty(w);
		for (int i = 0; i < rc; i++)
			if (!claim(w, hs[i]))
				return false;
		return true;
	}
	if (room > 0 && op < 52) {
		rc = iobuf_pool_get_wait(sh->pool, &hs[0], 200000);
		if (rc == -ETIMEDOUT)
			return got_empty(w);
		CHECK(rc == 0, "get_wait: %d", rc);
		return claim(w, hs[0]);
	}
	if (w->nheld == 0)
		return true;
	if (op < 60 && w->nheld >= 2) {
		int n = 2 + (int)((r >> 8) % (unsigned)(w->nheld - 1 < 7 ? w->nheld - 1 : 7));

		for (int i = 0; i < n; i++)
			if (!disown(w, (int)(th_rand(&w->seed) % (unsigned)w->nheld), &hs[i]))
				return false;
		rc = iobuf_pool_put_bulk(sh->pool, hs, n);
		CHECK(rc == 0, "put_bulk: %d", rc);
		w->puts += (uint64_t)n;
		return true;
	}
	if (!disown(w, (int)((r >> 8) % (unsigned)w->nheld), &hs[0]))
		return false;
	rc = iobuf_pool_put(sh->pool, hs[0]);
	CHECK(rc == 0, "put: %d", rc);
	w->puts++;
	if (op > 96) {
		/* A deliberate second put: refused, whoever holds the buffer now. */
		rc = iobuf_pool_put(sh->pool, hs[0]);
		CHECK(rc == -EALREADY || rc == -ESTALE, "double put returned %d", rc);
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
	/* Give back what is still held, checked. */
	while (w->nheld > 0) {
		iobuf_handle_t h;

		if (!disown(w, 0, &h) || iobuf_pool_put(w->sh->pool, h) != 0)
			break;
		w->puts++;
	}
	return NULL;
}

static bool finish(struct shared *sh, struct worker *ws, int n, uint64_t gen_base_gets)
{
	struct iobuf_pool_stats st;
	uint64_t gets = gen_base_gets, puts = gen_base_gets;

	for (int i = 0; i < n; i++) {
		gets += ws[i].gets;
		puts += ws[i].puts;
	}
	iobuf_pool_stats(sh->pool, &st);
	CHECK(st.in_use == 0 && st.cached == 0 && st.free == st.capacity, "not all free: in_use %u free %u of %u",
	      st.in_use, st.free, st.capacity);
	CHECK(st.gets == gets && st.puts == puts, "stats gets %" PRIu64 " puts %" PRIu64 ", threads %" PRIu64 "/%" PRIu64,
	      st.gets, st.puts, gets, puts);
	CHECK(st.refused_already + st.refused_stale == sh->double_puts, "refusals %" PRIu64 " != double puts %" PRIu64,
	      st.refused_already + st.refused_stale, sh->double_puts);
	/* Every index exactly once in the queue. */
	{
		uint32_t cap = st.capacity;
		uint8_t *seen = calloc(cap, 1);
		int idx, count = 0;

		while ((idx = iobuf_pool_get_index(sh->pool)) >= 0) {
			CHECK(!seen[idx], "index %d twice in the free queue", idx);
			seen[idx] = 1;
			count++;
		}
		free(seen);
		CHECK((uint32_t)count == cap, "%d of %u indices in the queue", count, cap);
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
	for (int i = 0; i < threads; i++)
		ws[i] = (struct worker){.sh = &sh, .id = i, .seed = 0x1234567u * (uint64_t)(i + 1) + cap};
	th_run(threads, worker_main, ws, sizeof(ws[0]));
	ok = failures == 0 && finish(&sh, ws, threads, 0);
	*ops_out = 0;
	for (int i = 0; i < threads; i++)
		*ops_out += ws[i].ops;
	free(sh.owner);
	iobuf_pool_destroy(sh.pool);
	return ok;
}

/* ---- handoff: got on one thread, checked and put on the other ---------- */

struct handoff {
	struct iobuf_pool *pool;
	struct th_chan chan;
	uint64_t deadline;
	uint64_t sent, received;
	bool done;
	size_t len;
};

static void fill(uint8_t *b, size_t len, uint64_t n)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(n * 131 + i);
}

static void *producer(void *arg)
{
	struct handoff *ho = arg;

	th_pin(0);
	while (th_now_ns() < ho->deadline && failures == 0) {
		iobuf_handle_t h;

		if (iobuf_pool_get(ho->pool, &h) != 0)
			continue;
		fill(iobuf_pool_buf(ho->pool, h), ho->len, ho->sent);
		while (!th_chan_push(&ho->chan, h))
			;
		ho->sent++;
	}
	__atomic_store_n(&ho->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void *consumer(void *arg)
{
	struct handoff *ho = arg;

	th_pin(1);
	for (;;) {
		uint64_t v = 0;

		if (!th_chan_pop(&ho->chan, &v)) {
			if (!__atomic_load_n(&ho->done, __ATOMIC_ACQUIRE))
				continue;
			/* done is set after the last push: done, then empty, means drained. */
			if (!th_chan_pop(&ho->chan, &v))
				break;
		}
		{
			iobuf_handle_t h = v;
			uint8_t *b = iobuf_pool_buf(ho->pool, h);
			uint8_t want[256];

			if (!b) {
				fprintf(stderr, "# FAIL handoff: handle not live on the receiving thread\n");
				__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
				continue;
			}
			fill(want, ho->len, ho->received);
			if (memcmp(b, want, ho->len) != 0) {
				fprintf(stderr, "# FAIL handoff: contents of buffer %" PRIu64 " changed\n", ho->received);
				__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
			}
			if (iobuf_pool_put(ho->pool, h) != 0)
				__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
			ho->received++;
		}
	}
	return NULL;
}

static bool run_handoff(uint32_t cap, double secs, uint64_t *ops)
{
	struct iobuf_pool_config cfg = {.buf_size = 256, .capacity = cap};
	struct handoff *ho = calloc(1, sizeof(*ho));
	pthread_t a, b;
	struct iobuf_pool_stats st;
	bool ok;

	ho->pool = iobuf_pool_create(&cfg, NULL);
	ho->len = 256;
	ho->deadline = th_now_ns() + (uint64_t)(secs * 1e9);
	pthread_create(&a, NULL, producer, ho);
	pthread_create(&b, NULL, consumer, ho);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	iobuf_pool_stats(ho->pool, &st);
	ok = failures == 0 && ho->sent == ho->received && st.in_use == 0 && st.free == cap && st.gets == ho->sent;
	*ops = ho->sent;
	iobuf_pool_destroy(ho->pool);
	free(ho);
	return ok;
}

int main(int argc, char **argv)
{
	bool long_run = argc > 1 && strcmp(argv[1], "--long") == 0;
	double secs = long_run ? 20.0 : 0.2;
	static const uint32_t caps[] = {1, 2, 3, 8, 64, 4096};
	const int ncaps = (int)(sizeof(caps) / sizeof(caps[0]));
	int threads = th_ncpus() >= 2 ? 2 : 2; /* two threads even on one core: interleavings still happen */
	uint64_t ops, total = 0;

	printf("1..%d\n", 2 * ncaps + 3);
	for (int i = 0; i < ncaps; i++) {
		bool ok = run_mix(caps[i], 64, threads, caps[i] < 8 ? (int)caps[i] : 8, false, secs, 0, 0, &ops);

		total += ops;
		tap(ok, "mix, capacity %u, %d threads: %" PRIu64 " operations, every buffer checked", caps[i], threads, ops);
	}
	for (int i = 0; i < ncaps; i++) {
		/* k * threads < capacity: never empty.  Capacity 1 allows k = 0 only: skip to 3. */
		uint32_t cap = caps[i];
		int k = (int)((cap - 1) / (uint32_t)threads);
		bool ok;

		if (k > MAX_HOLD)
			k = MAX_HOLD;
		if (k == 0) {
			tap(true, "no spurious empty, capacity %u: no k >= 1 with k*%d < %u # SKIP", cap, threads, cap);
			continue;
		}
		ok = run_mix(cap, 16, threads, k, true, secs, 0, 0, &ops);
		total += ops;
		tap(ok, "no spurious empty, capacity %u, %d threads holding <= %d: %" PRIu64 " operations", cap, threads,
		    k, ops);
	}
	{
		bool ok = run_handoff(64, secs * 2, &ops);

		total += ops;
		tap(ok, "handoff, get on core 0, check and put on core 1: %" PRIu64 " buffers intact", ops);
	}
	{
		/* Generations just below 2^32: handles wrap while threads race. */
		bool ok = run_mix(3, 64, threads, 2, false, secs, (UINT64_C(1) << 32) - 64, UINT64_MAX - 4000, &ops);

		total += ops;
		tap(ok, "generation wrap at 2^32 and queue tickets at 2^64 under contention: %" PRIu64 " operations", ops);
	}
	{
		bool ok = run_mix(8, 1024, threads, 3, true, secs, (UINT64_C(1) << 32) - 1000, (UINT64_C(1) << 63) - 3000, &ops);

		total += ops;
		tap(ok, "generation wrap, queue cycles at 2^63, never empty, 1 KiB buffers: %" PRIu64 " operations", ops);
	}
	printf("# %" PRIu64 " operations in all\n", total);
	return failures == 0 ? 0 : 1;
}
