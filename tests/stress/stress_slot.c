/* SPDX-License-Identifier: MIT */
/*
 * stress_slot.c - the slot protocol under races: no interleaving gives a
 * buffer two owners, the statistics are exact at rest, parked caches are
 * reclaimed safely, and the readiness fd loses no wake-up.
 *
 *   1-16  racing double puts: two threads pinned to two cores put the same
 *         batch of handles at once, each through one of four paths (the
 *         pool, the pool's bulk put, its own cache, its cache's bulk put):
 *         every pair.  After each batch both caches are flushed and the
 *         pool drained: every index exactly once, puts == gets, and every
 *         second put of a handle counted as refused.
 *   17    exact statistics at rest: two threads get and put at random
 *         through caches and the pool, stop together, and one compares a
 *         snapshot with what both really hold (in hand and in cache).
 *   18    park against reclaim: a cache's owner parks and unparks while
 *         another thread empties the pool (which reclaims the parked
 *         cache); an ownership table catches any buffer held twice.
 *   19    readiness fd: a consumer that finds the pool empty polls the fd
 *         while a producer puts one buffer back at a racing moment; the fd
 *         must become readable every time (a 10 s poll is the watchdog).
 *
 * Prints TAP.  Default: about two seconds in all; --long: millions of
 * races per pair.  --unsafe runs 1-16 with IOBUF_CACHE_UNSAFE_PUTS (it is
 * expected to fail: the check that it can).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iobuf/cache.h>
#include <iobuf/pool.h>

#include "../../src/pool.h"
#include "../common/tap.h"
#include "../common/thread.h"

#define CAP 256
#define BATCH 96

static double secs_per_case = 0.12;

/* A short, varying delay. */
static void spin(int n)
{
	for (volatile int i = 0; i < n; i++)
		;
}
static unsigned cache_flags;

/* ---- 1-16: racing double puts ----------------------------------------------- */

enum path { PATH_POOL, PATH_POOL_BULK, PATH_CACHE, PATH_CACHE_BULK, NPATHS };
static const char *const path_name[NPATHS] = {"pool put", "pool bulk put", "cache put", "cache bulk put"};

struct race {
	struct iobuf_pool *pool;
	struct th_barrier bar;
	enum path path[2];
	iobuf_handle_t hs[BATCH];
	int n;
	uint32_t stop;
	bool peer_ok; /* thread 1 saw no error */
	uint64_t deadline;
	uint64_t races;
	int rc[2][BATCH];
};

struct racer {
	struct race *r;
	int id;
	struct iobuf_cache *cache;
	uint32_t sense;
	bool ok;
};

static void put_all(struct racer *me)
{
	struct race *r = me->r;
	int n = r->n;

	switch (r->path[me->id]) {
	case PATH_POOL:
		for (int i = 0; i < n; i++)
			r->rc[me->id][i] = iobuf_pool_put(r->pool, r->hs[i]);
		break;
	case PATH_POOL_BULK:
		r->rc[me->id][0] = iobuf_pool_put_bulk(r->pool, r->hs, n);
		break;
	case PATH_CACHE:
		for (int i = 0; i < n; i++)
			r->rc[me->id][i] = iobuf_cache_put(me->cache, r->hs[i]);
		break;
	case PATH_CACHE_BULK:
		r->rc[me->id][0] = iobuf_cache_put_bulk(me->cache, r->hs, n);
		break;
	default:
		break;
	}
}

static bool single(enum path p)
{
	return p == PATH_POOL || p == PATH_CACHE;
}

/* Thread 0, both caches flushed: every index in the pool exactly once, the counters consistent. */
static bool drain_check(struct race *r, uint64_t gets_before, uint64_t puts_before, uint64_t refused_before)
{
	iobuf_handle_t all[CAP];
	uint8_t seen[CAP] = {0};
	struct iobuf_pool_stats st;
	int got;

	CHECK(iobuf_pool_stats(r->pool, &st) == 0, "stats");
	CHECK(st.in_use == 0 && st.cached == 0 && st.free == CAP, "at rest: free %u cached %u in_use %u", st.free,
	      st.cached, st.in_use);
	CHECK(st.gets - gets_before == (uint64_t)r->n && st.puts - puts_before == (uint64_t)r->n,
	      "a batch of %d: %llu gets, %llu puts (a handle put twice?)", r->n,
	      (unsigned long long)(st.gets - gets_before), (unsigned long long)(st.puts - puts_before));
	CHECK(st.refused_already + st.refused_stale - refused_before == (uint64_t)r->n,
	      "a batch of %d: %llu second puts refused", r->n,
	      (unsigned long long)(st.refused_already + st.refused_stale - refused_before));
	got = iobuf_pool_get_burst(r->pool, all, CAP + 1);
	CHECK(got == CAP, "drained %d of %d buffers", got, CAP);
	for (int i = 0; i < got; i++) {
		uint32_t x = iobuf_handle_index(all[i]);

		CHECK(!seen[x], "index %u in the pool twice: two owners", x);
		seen[x] = 1;
	}
	CHECK(iobuf_pool_put_bulk(r->pool, all, got) == 0, "put back");
	return true;
}

static void *racer_main(void *arg)
{
	struct racer *me = arg;
	struct race *r = me->r;
	uint64_t seed = 0x51ed270b + (uint64_t)me->id;
	struct iobuf_pool_stats st0 = {0};

	th_pin(me->id);
	me->ok = true;
	for (;;) {
		if (me->id == 0) {
			/* A batch of handles, from the pool or through our cache, or the end. */
			if (!me->ok || !r->peer_ok || th_now_ns() > r->deadline) {
				__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
			} else {
				iobuf_pool_stats(r->pool, &st0);
				r->n = BATCH / 2 + (int)(th_rand(&seed) % (BATCH / 2 + 1));
				if ((th_rand(&seed) & 1) ? iobuf_pool_get_bulk(r->pool, r->hs, r->n) != 0
							 : iobuf_cache_get_bulk(me->cache, 1, r->hs, r->n) != 0)
					me->ok = false;
			}
		}
		th_barrier_wait(&r->bar, &me->sense); /* go: both put the same handles at once */
		if (__atomic_load_n(&r->stop, __ATOMIC_RELAXED))
			break;
		put_all(me);
		iobuf_cache_flush(me->cache);
		th_barrier_wait(&r->bar, &me->sense); /* both done, both caches flushed */
		if (me->id != 0)
			continue; /* thread 0 checks while we wait at the next barrier */
		if (single(r->path[0]) && single(r->path[1])) {
			for (int i = 0; i < r->n; i++) {
				if ((r->rc[0][i] == 0) == (r->rc[1][i] == 0)) {
					fprintf(stderr, "# FAIL handle %d: rc %d and %d (exactly one put must win)\n", i,
						r->rc[0][i], r->rc[1][i]);
					me->ok = false;
				}
			}
		}
		if (!drain_check(r, st0.gets, st0.puts, st0.refused_already + st0.refused_stale))
			me->ok = false;
		r->races += (uint64_t)r->n;
	}
	return NULL;
}

static bool race_pair(enum path a, enum path b, uint64_t *total)
{
	struct iobuf_pool_config cfg = {.buf_size = 64, .capacity = CAP};
	struct iobuf_cache_config cc = {.flags = cache_flags};
	struct race *r = calloc(1, sizeof(*r));
	struct racer rs[2];
	bool ok;

	CHECK(r, "calloc");
	r->pool = iobuf_pool_create(&cfg, NULL);
	CHECK(r->pool, "pool");
	r->path[0] = a;
	r->path[1] = b;
	r->deadline = th_now_ns() + (uint64_t)(secs_per_case * 1e9);
	r->peer_ok = true;
	for (int i = 0; i < 2; i++) {
		rs[i] = (struct racer){.r = r, .id = i};
		rs[i].cache = iobuf_cache_create_pool(r->pool, &cc, NULL);
		CHECK(rs[i].cache, "cache");
	}
	th_run(2, racer_main, rs, sizeof(rs[0]));
	ok = rs[0].ok && rs[1].ok;
	for (int i = 0; i < 2; i++)
		iobuf_cache_destroy(rs[i].cache);
	{
		struct iobuf_pool_stats st;

		iobuf_pool_stats(r->pool, &st);
		*total = r->races;
		ok = ok && st.free == CAP && st.in_use == 0;
	}
	iobuf_pool_destroy(r->pool);
	free(r);
	return ok;
}

/* ---- 17: exact statistics at rest ---------------------------------------------- */

#define HOLD 48

struct rest {
	struct iobuf_pool *pool;
	struct th_barrier bar;
	uint64_t deadline;
	uint32_t stop;
	uint64_t snapshots;
	uint32_t held[2], cached[2];
};

struct rester {
	struct rest *r;
	int id;
	struct iobuf_cache *cache;
	uint32_t sense;
	bool ok;
};

static bool rest_step(struct rester *me, iobuf_handle_t *held, uint32_t *nheld, uint64_t *seed)
{
	struct rest *r = me->r;
	uint64_t x = th_rand(seed);
	int rc;

	if (*nheld < HOLD && (x & 1)) {
		iobuf_handle_t h;

		rc = (x & 2) ? iobuf_cache_get(me->cache, 64, &h) : iobuf_pool_get(r->pool, &h);
		if (rc == 0)
			held[(*nheld)++] = h;
		else
			CHECK(rc == -ENOBUFS, "get: %d", rc);
	} else if (*nheld > 0) {
		uint32_t i = (uint32_t)(x >> 8) % *nheld;
		iobuf_handle_t h = held[i];

		held[i] = held[--*nheld];
		rc = (x & 2) ? iobuf_cache_put(me->cache, h) : iobuf_pool_put(r->pool, h);
		CHECK(rc == 0, "put: %d", rc);
		if (x & 4) {
			/* Refused: -EALREADY, or -ESTALE when the other thread got the buffer since. */
			rc = iobuf_cache_put(me->cache, h);
			CHECK(rc == -EALREADY || rc == -ESTALE, "double put returned %d", rc);
		}
	}
	return true;
}

static void *rest_main(void *arg)
{
	struct rester *me = arg;
	struct rest *r = me->r;
	iobuf_handle_t held[HOLD];
	uint32_t nheld = 0;
	uint64_t seed = 0xabcdef12345 + (uint64_t)me->id;
	bool stop;

	th_pin(me->id);
	me->ok = true;
	for (;;) {
		int steps = 1 + (int)(th_rand(&seed) % 64);

		for (int i = 0; i < steps && me->ok; i++)
			me->ok = rest_step(me, held, &nheld, &seed);
		r->held[me->id] = nheld;
		r->cached[me->id] = (uint32_t)iobuf_cache_count(me->cache, 0);
		if (!me->ok || (me->id == 0 && th_now_ns() > r->deadline))
			__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
		th_barrier_wait(&r->bar, &me->sense); /* everyone stopped, no call in flight */
		/* Read between the barriers: nobody writes stop until both passed the next one. */
		stop = __atomic_load_n(&r->stop, __ATOMIC_RELAXED);
		if (me->id == 0) {
			struct iobuf_pool_stats st;
			uint32_t in_use = r->held[0] + r->held[1], cached = r->cached[0] + r->cached[1];

			iobuf_pool_stats(r->pool, &st);
			r->snapshots++;
			if (st.in_use != in_use || st.cached != cached || st.free != CAP - in_use - cached) {
				fprintf(stderr,
					"# FAIL snapshot %llu at rest: free %u cached %u in_use %u; really free %u cached "
					"%u in_use %u\n",
					(unsigned long long)r->snapshots, st.free, st.cached, st.in_use, CAP - in_use - cached,
					cached, in_use);
				me->ok = false;
			}
		}
		th_barrier_wait(&r->bar, &me->sense);
		if (stop)
			break;
	}
	for (uint32_t i = 0; i < nheld; i++)
		iobuf_pool_put(r->pool, held[i]);
	return NULL;
}

static bool exact_at_rest(uint64_t *snapshots)
{
	struct iobuf_pool_config cfg = {.buf_size = 64, .capacity = CAP};
	struct rest r = {0};
	struct rester rs[2];
	struct iobuf_pool_stats st;
	bool ok;

	r.pool = iobuf_pool_create(&cfg, NULL);
	CHECK(r.pool, "pool");
	r.deadline = th_now_ns() + (uint64_t)(secs_per_case * 4 * 1e9);
	for (int i = 0; i < 2; i++) {
		rs[i] = (struct rester){.r = &r, .id = i};
		rs[i].cache = iobuf_cache_create_pool(r.pool, NULL, NULL);
		CHECK(rs[i].cache, "cache");
	}
	th_run(2, rest_main, rs, sizeof(rs[0]));
	ok = rs[0].ok && rs[1].ok;
	for (int i = 0; i < 2; i++)
		iobuf_cache_destroy(rs[i].cache);
	iobuf_pool_stats(r.pool, &st);
	ok = ok && st.free == CAP && st.in_use == 0 && st.cached == 0 && st.gets == st.puts;
	iobuf_pool_destroy(r.pool);
	*snapshots = r.snapshots;
	return ok;
}

/* ---- 18: park against reclaim ---------------------------------------------------- */

struct parkrun {
	struct iobuf_pool *pool;
	uint32_t owner[CAP];
	uint64_t deadline;
	uint64_t reclaimed_rounds, parks;
};

struct parker {
	struct parkrun *r;
	int id;
	bool ok;
};

static bool own(struct parkrun *r, iobuf_handle_t h, uint32_t me)
{
	uint32_t x = iobuf_handle_index(h), expect = 0;

	CHECK(__atomic_compare_exchange_n(&r->owner[x], &expect, me, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE),
	      "index %u handed to %u while %u holds it", x, me, expect);
	return true;
}

static bool disown(struct parkrun *r, iobuf_handle_t h, uint32_t me)
{
	uint32_t x = iobuf_handle_index(h), expect = me;

	CHECK(__atomic_compare_exchange_n(&r->owner[x], &expect, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE),
	      "index %u put by %u but held by %u", x, me, expect);
	return true;
}

static void *park_main(void *arg)
{
	struct parker *me = arg;
	struct parkrun *r = me->r;
	uint32_t tag = (uint32_t)me->id + 1;
	uint64_t seed = 77 + (uint64_t)me->id;

	th_pin(me->id);
	me->ok = true;
	if (me->id == 1) {
		/* The cache's owner: fill the cache, park, idle a little, unpark, check the cache still works. */
		struct iobuf_cache *c = iobuf_cache_create_pool(r->pool, NULL, NULL);
		iobuf_handle_t hs[32];

		while (me->ok && th_now_ns() < r->deadline) {
			int n = 1 + (int)(th_rand(&seed) % 32), got = 0;

			for (; got < n; got++) {
				if (iobuf_cache_get(c, 64, &hs[got]) != 0)
					break;
				me->ok = me->ok && own(r, hs[got], tag);
			}
			for (int i = 0; i < got; i++) {
				me->ok = me->ok && disown(r, hs[i], tag);
				me->ok = me->ok && iobuf_cache_put(c, hs[i]) == 0;
			}
			me->ok = me->ok && iobuf_cache_park(c) == 0;
			spin((int)(th_rand(&seed) % 200));
			me->ok = me->ok && iobuf_cache_unpark(c) == 0;
			r->parks++;
		}
		iobuf_cache_destroy(c);
	} else {
		/* Another thread: take every buffer the pool has (reclaiming the parked cache), then put them back. */
		iobuf_handle_t all[CAP];

		while (me->ok && th_now_ns() < r->deadline) {
			int got = iobuf_pool_get_burst(r->pool, all, CAP);

			for (int i = 0; i < got; i++)
				me->ok = me->ok && own(r, all[i], tag);
			if (got == CAP)
				r->reclaimed_rounds++;
			for (int i = 0; i < got; i++) {
				me->ok = me->ok && disown(r, all[i], tag);
				me->ok = me->ok && iobuf_pool_put(r->pool, all[i]) == 0;
			}
		}
	}
	return NULL;
}

static bool park_race(uint64_t *rounds, uint64_t *parks)
{
	struct iobuf_pool_config cfg = {.buf_size = 64, .capacity = CAP};
	struct parkrun *r = calloc(1, sizeof(*r));
	struct parker ps[2];
	struct iobuf_pool_stats st;
	bool ok;

	CHECK(r, "calloc");
	r->pool = iobuf_pool_create(&cfg, NULL);
	CHECK(r->pool, "pool");
	r->deadline = th_now_ns() + (uint64_t)(secs_per_case * 4 * 1e9);
	for (int i = 0; i < 2; i++)
		ps[i] = (struct parker){.r = r, .id = i};
	th_run(2, park_main, ps, sizeof(ps[0]));
	ok = ps[0].ok && ps[1].ok;
	iobuf_pool_stats(r->pool, &st);
	ok = ok && st.free == CAP && st.in_use == 0 && st.cached == 0;
	*rounds = r->reclaimed_rounds;
	*parks = r->parks;
	iobuf_pool_destroy(r->pool);
	free(r);
	return ok;
}

/* ---- 19: the readiness fd loses no wake-up ------------------------------------------ */

struct fdrun {
	struct iobuf_pool *pool;
	int fd;
	uint64_t deadline;
	iobuf_handle_t handoff; /* the buffer the producer is to put back */
	uint32_t turn;          /* 1: the producer may put; 0: the consumer's turn */
	uint32_t stop;
	uint64_t rounds, waited;
};

struct fder {
	struct fdrun *r;
	int id;
	bool ok;
};

static bool drain_fd(int fd)
{
	uint64_t v;

	return read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

static void *fd_main(void *arg)
{
	struct fder *me = arg;
	struct fdrun *r = me->r;
	uint64_t seed = 99 + (uint64_t)me->id;

	th_pin(me->id);
	me->ok = true;
	if (me->id == 1) {
		/* The producer: when it is its turn, put the buffer back after a random delay, through a cache or not. */
		struct iobuf_cache *c = iobuf_cache_create_pool(r->pool, NULL, NULL);

		while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
			if (!__atomic_load_n(&r->turn, __ATOMIC_ACQUIRE)) {
				sched_yield();
				continue;
			}
			spin((int)(th_rand(&seed) % 64));
			if (th_rand(&seed) & 1)
				me->ok = me->ok && iobuf_pool_put(r->pool, r->handoff) == 0;
			else
				me->ok = me->ok && iobuf_cache_put(c, r->handoff) == 0 && iobuf_cache_flush(c) >= 0;
			__atomic_store_n(&r->turn, 0, __ATOMIC_RELEASE);
		}
		iobuf_cache_destroy(c);
		return NULL;
	}
	/* The consumer: hold every buffer; hand one to the producer; get until it comes back. */
	{
		iobuf_handle_t all[CAP], h;
		int n = iobuf_pool_get_burst(r->pool, all, CAP);

		me->ok = n == CAP;
		while (me->ok && th_now_ns() < r->deadline) {
			struct pollfd pfd = {.fd = r->fd, .events = POLLIN};

			r->handoff = all[CAP - 1];
			__atomic_store_n(&r->turn, 1, __ATOMIC_RELEASE);
			while (iobuf_pool_get(r->pool, &h) != 0) {
				/* Empty: the get armed the fd; it must fire (10 s is the watchdog). */
				int pr = poll(&pfd, 1, 10000);

				if (pr != 1) {
					fprintf(stderr, "# FAIL round %llu: the fd never became readable (lost wake-up)\n",
						(unsigned long long)r->rounds);
					me->ok = false;
					break;
				}
				drain_fd(r->fd);
				r->waited++;
			}
			if (!me->ok)
				break;
			all[CAP - 1] = h;
			while (__atomic_load_n(&r->turn, __ATOMIC_ACQUIRE))
				sched_yield();
			drain_fd(r->fd); /* an arming the buffer beat: readable without need, as documented */
			r->rounds++;
		}
		__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
		for (int i = 0; i < CAP && n == CAP; i++)
			iobuf_pool_put(r->pool, all[i]);
	}
	return NULL;
}

static bool fd_race(uint64_t *rounds, uint64_t *waited)
{
	struct iobuf_pool_config cfg = {.buf_size = 64, .capacity = CAP};
	struct fdrun r = {0};
	struct fder fs[2];
	struct iobuf_pool_stats st;
	bool ok;

	r.pool = iobuf_pool_create(&cfg, NULL);
	CHECK(r.pool, "pool");
	r.fd = iobuf_pool_ready_fd(r.pool);
	CHECK(r.fd >= 0, "ready fd: %d", r.fd);
	r.deadline = th_now_ns() + (uint64_t)(secs_per_case * 4 * 1e9);
	for (int i = 0; i < 2; i++)
		fs[i] = (struct fder){.r = &r, .id = i};
	th_run(2, fd_main, fs, sizeof(fs[0]));
	ok = fs[0].ok && fs[1].ok;
	iobuf_pool_stats(r.pool, &st);
	ok = ok && st.free == CAP && st.in_use == 0;
	*rounds = r.rounds;
	*waited = r.waited;
	iobuf_pool_destroy(r.pool);
	return ok;
}

int main(int argc, char **argv)
{
	bool unsafe_only = false, ok;
	uint64_t total = 0, a = 0, b = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--long") == 0)
			secs_per_case = 2.0;
		else if (strcmp(argv[i], "--unsafe") == 0)
			unsafe_only = true;
	}
	if (unsafe_only)
		cache_flags = IOBUF_CACHE_UNSAFE_PUTS;
	printf("1..%d\n", unsafe_only ? 16 : 19);
	for (int x = 0; x < NPATHS; x++) {
		for (int y = 0; y < NPATHS; y++) {
			uint64_t puts = 0;
			ok = race_pair((enum path)x, (enum path)y, &puts);

			total += puts;
			tap(ok, "racing double puts, %s on core 0 against %s on core 1%s: %llu handles raced, each put once",
			    path_name[x], path_name[y], unsafe_only ? " (IOBUF_CACHE_UNSAFE_PUTS)" : "",
			    (unsigned long long)puts);
		}
	}
	if (unsafe_only)
		return failures ? 1 : 0;
	ok = exact_at_rest(&a);
	tap(ok, "exact statistics at rest: %llu snapshots of two stopped threads", (unsigned long long)a);
	ok = park_race(&a, &b);
	tap(ok, "park against reclaim: %llu parks, %llu rounds that took the parked cache's buffers",
	    (unsigned long long)b, (unsigned long long)a);
	ok = fd_race(&a, &b);
	tap(ok, "readiness fd: %llu rounds, %llu polls, every one woken", (unsigned long long)a, (unsigned long long)b);
	printf("# %llu handles raced in all\n", (unsigned long long)total);
	return failures ? 1 : 0;
}
