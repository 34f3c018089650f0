/* SPDX-License-Identifier: MIT */
/*
 * bench_builder.c - frame builders (iobuf/builder.h) against the ways a
 * server builds frames without them, and what tenant accounts
 * (iobuf/account.h) add to a get and a put.  One process, peers side by
 * side, rounds interleaved, medians.
 *
 * Part 1, one thread: buffer_sv2's published pattern.  Per iteration:
 * write a frame of F bytes (a 6-byte header, then the body: two writes, as
 * a codec fills a header and then its message), take the frame, write and
 * take a second one, read the first byte of each, drop both.  F is 16 B,
 * 1 KiB and 64 KiB; the bytes come from a block of random bytes made once.
 * Peers:
 *   builder        iobuf_builder_writable/commit/freeze on the set, hint F;
 *                  drop = iobuf_slice_put()
 *   builder_cache  the same through an iobuf_cache of the set
 *   builder_acct   builder_cache charging an account (limits on, no marks)
 *   builder_4k     the set, the default hint (4 KiB): small frames share a
 *                  buffer, a 64 KiB frame moves once (its header is copied)
 *   malloc_realloc a buffer that grows as a vector does (double, at least 8)
 *                  through realloc(); take = keep the pointer; drop = free()
 *   region         one region of 2F bytes by hand: a bump pointer, reset
 *                  when both frames are dropped (the floor)
 *
 * Part 2, two threads: sv2's "multi-thread" shape.  Core 0 builds frames
 * as above, one at a time, and sends each (8 bytes: a handle, a pointer,
 * a position) through an SPSC channel (th_chan) to core 1, which drops
 * each 1 ms after it arrived.  Frames in flight ~ rate x 1 ms, so what
 * bounds the memory is what bounds the frames: the set's capacity of the
 * tier (builder*), the account's max_bytes (builder_acct, set to half of
 * that), the ring's bytes (region_ring: a region of the same bytes as the
 * set's tier used as a ring, released in order), nothing (malloc_realloc:
 * only the rate).  A producer that finds its bound waits (spins) until the
 * consumer drops: the figures are the producer's frames per second, the
 * peak of frames in flight and the waits.
 *
 * Part 3, one thread: get, touch the first byte, put; iobuf_get/iobuf_put
 * (set), iobuf_account_get/iobuf_put (acct), iobuf_cache_get/put (cache),
 * iobuf_account_get_cached/iobuf_cache_put (acct_cached), at 16 B, 64 B,
 * 1 KiB, 64 KiB; the ratio of each account row to its plain row.  The 64 B
 * cache row is bench_cache's iobuf_cache_set W1 (the same calls on a
 * set-bound cache): compare its instructions with bench/README.md.
 *
 * Instructions: with --valgrind PATH, every part 1 and part 3 cell runs
 * once more in a child under callgrind --instr-atstart=no, a fixed count,
 * the loop alone instrumented (after an uninstrumented warm-up).
 *
 * Usage: bench_builder [--quick] [--rounds N] [--ms MS] [--part 1|2|3]
 *                      [--valgrind PATH] [--only NAME]
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ck_pr.h>

#include <iobuf/account.h>
#include <iobuf/builder.h>
#include <iobuf/cache.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#include "../tests/common/thread.h"
#include "util.h"

#ifdef HAVE_VALGRIND_CALLGRIND_H
#include <valgrind/callgrind.h>
#endif

#define BATCH 1024          /* iterations (part 1), frames (part 2) or pairs (part 3) between two looks at the clock */
#define HDR 6               /* the header a frame's first write fills */
#define RND (512u << 10)    /* the block of random bytes the frames copy from */
#define DELAY_NS 1000000u   /* part 2: the consumer drops a frame this long after it arrived */
#define DELAY_LINE (1u << 18) /* part 2: frames the consumer can hold at once */
#define MT_BOUND (32u << 20)  /* part 2: the most bytes of one tier the set maps */
#define MT_CAP 8192u          /* part 2: ... and the most buffers */
#define MAXR 32

#if defined(__GNUC__)
#define BENCH_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define BENCH_NOINLINE __attribute__((noinline, unused))
#else
#define BENCH_UNLIKELY(x) (x)
#define BENCH_NOINLINE
#endif

static uint8_t *rnd;

/* What a frame is to its owner: a slice, a pointer (a), a ring position (a) and its offset. */
struct tok {
	uint64_t a;
	uint32_t off, len;
};

/* One run's objects: whatever the variant needs. */
struct ctx {
	size_t size; /* F, or part 3's get size */
	struct iobuf_set *set;
	struct iobuf_account *acct;
	struct iobuf_cache *cache;
	struct iobuf_builder *b;
	uint8_t *base; /* region, region_ring */
	size_t cap, bump;
	int live;
	uint64_t head;     /* region_ring: the producer's next position */
	uint64_t released; /* region_ring: everything before it was dropped (the consumer's) */
};

static inline const uint8_t *src_at(uint64_t i, size_t n)
{
	return rnd + (i * 4160u) % (RND - n);
}

/* ---- builder variants: the set, a cache, an account, a hint -------------------- */

static inline int bld_frame(struct ctx *c, const uint8_t *src, size_t n, struct tok *t)
{
	struct iobuf_slice s;
	void *p;
	int rc;

	rc = iobuf_builder_writable(c->b, HDR, &p, NULL);
	if (BENCH_UNLIKELY(rc < 0))
		return rc;
	memcpy(p, src, HDR);
	(void)iobuf_builder_commit(c->b, HDR);
	rc = iobuf_builder_writable(c->b, n - HDR, &p, NULL);
	if (BENCH_UNLIKELY(rc < 0)) {
		(void)iobuf_builder_abort(c->b);
		return rc;
	}
	memcpy(p, src + HDR, n - HDR);
	(void)iobuf_builder_commit(c->b, n - HDR);
	rc = iobuf_builder_freeze(c->b, &s);
	*t = (struct tok){s.h, s.off, s.len};
	return rc;
}

static inline uint8_t bld_peek(struct ctx *c, struct tok t)
{
	struct iobuf_slice s = {t.a, t.off, t.len};

	return *(const uint8_t *)iobuf_slice_buf(c->set, &s);
}

/* Any thread: the slice's holder goes (its buffer with the last one). */
static inline bool bld_drop(struct ctx *c, struct tok t)
{
	struct iobuf_slice s = {t.a, t.off, t.len};

	return iobuf_slice_put(c->set, &s) == 0;
}

/* ---- malloc_realloc: a vector's growth -------------------------------------------- */

/* Through volatile pointers: the compiler may not pair the calls away. */
static void *(*volatile mal_realloc)(void *, size_t) = realloc;
static void (*volatile mal_free)(void *) = free;

static inline bool mal_write(uint8_t **p, size_t *cap, size_t *len, const uint8_t *src, size_t n)
{
	if (*len + n > *cap) {
		size_t want = *cap * 2 > *len + n ? *cap * 2 : *len + n;
		uint8_t *q;

		want = want < 8 ? 8 : want;
		q = mal_realloc(*p, want);
		if (!q)
			return false;
		*p = q;
		*cap = want;
	}
	memcpy(*p + *len, src, n);
	*len += n;
	return true;
}

static inline int mal_frame(struct ctx *c, const uint8_t *src, size_t n, struct tok *t)
{
	uint8_t *p = NULL;
	size_t cap = 0, len = 0;

	(void)c;
	if (!mal_write(&p, &cap, &len, src, HDR) || !mal_write(&p, &cap, &len, src + HDR, n - HDR)) {
		mal_free(p);
		return -ENOMEM;
	}
	*t = (struct tok){(uintptr_t)p, 0, (uint32_t)len};
	return 0;
}

static inline uint8_t mal_peek(struct ctx *c, struct tok t)
{
	(void)c;
	return *(const uint8_t *)(uintptr_t)t.a;
}

static inline bool mal_drop(struct ctx *c, struct tok t)
{
	(void)c;
	mal_free((void *)(uintptr_t)t.a);
	return true;
}

/* ---- region: 2F bytes, a bump pointer reset when both frames are dropped (one thread) */

static inline int reg_frame(struct ctx *c, const uint8_t *src, size_t n, struct tok *t)
{
	uint8_t *p = c->base + c->bump;

	if (BENCH_UNLIKELY(c->bump + n > c->cap))
		return -ENOBUFS;
	memcpy(p, src, HDR);
	memcpy(p + HDR, src + HDR, n - HDR);
	c->bump += n;
	c->live++;
	*t = (struct tok){(uintptr_t)p, 0, (uint32_t)n};
	return 0;
}

#define reg_peek mal_peek

static inline bool reg_drop(struct ctx *c, struct tok t)
{
	(void)t;
	if (--c->live == 0)
		c->bump = 0;
	return true;
}

/*
 * region_ring: the region as a ring for part 2.  Positions grow without
 * wrapping; a frame that would cross the end starts at the next lap.  The
 * consumer drops in order and publishes how far it dropped.
 */
static inline int rng_frame(struct ctx *c, const uint8_t *src, size_t n, struct tok *t)
{
	uint64_t pos = c->head, off = pos % c->cap;

	if (off + n > c->cap) {
		pos += c->cap - off;
		off = 0;
	}
	/* R1: acquire, pairs with R2 in rng_drop(): the bytes before `released` are no one's. */
	if (pos + n - __atomic_load_n(&c->released, __ATOMIC_ACQUIRE) > c->cap)
		return -ENOBUFS;
	memcpy(c->base + off, src, HDR);
	memcpy(c->base + off + HDR, src + HDR, n - HDR);
	c->head = pos + n;
	*t = (struct tok){pos + n, (uint32_t)off, (uint32_t)n};
	return 0;
}

static inline uint8_t rng_peek(struct ctx *c, struct tok t)
{
	return c->base[t.off];
}

static inline bool rng_drop(struct ctx *c, struct tok t)
{
	/* R2: release, pairs with R1 in rng_frame(): done with the bytes up to t.a. */
	__atomic_store_n(&c->released, t.a, __ATOMIC_RELEASE);
	return true;
}

/* ---- the loops ------------------------------------------------------------------ */

struct thr {
	struct ctx *c;
	uint64_t run_ns, count; /* timed, or a fixed count (callgrind) */
	uint64_t t0, t1, n;     /* iterations or frames done */
	uint64_t sink;
	/* part 2 */
	struct th_chan *chan;
	uint64_t waits, peak;   /* producer: times it found its bound; the most frames in flight it saw */
	uint64_t dropped;       /* consumer: frames dropped (read by the producer) */
	unsigned stop;          /* producer: done sending */
	const char *error;
};

static inline bool done(const struct thr *b, uint64_t n)
{
	if (b->count)
		return n >= b->count;
	return th_now_ns() - b->t0 >= b->run_ns;
}

/*
 * Stamped out per variant P with its inline operations P_frame, P_peek,
 * P_drop: part 1's loop (P_sv2), part 2's producer (P_mt) and consumer
 * (P_mt_drop, on the other core); each variant uses one part's.
 */
#define STAMP(P)                                                                                                       \
	static BENCH_NOINLINE void P##_sv2(struct thr *b)                                                              \
	{                                                                                                              \
		struct ctx *c = b->c;                                                                                  \
		uint64_t n = 0, sink = 0;                                                                              \
		size_t f = c->size;                                                                                    \
		struct tok t1, t2;                                                                                     \
		b->t0 = th_now_ns();                                                                                   \
		for (;;) {                                                                                             \
			for (unsigned i = 0; i < BATCH; i++) {                                                         \
				if (BENCH_UNLIKELY(P##_frame(c, src_at(n + i, f), f, &t1) < 0 ||                       \
						   P##_frame(c, src_at(n + i + 1, f), f, &t2) < 0)) {                  \
					b->error = "a frame could not be built";                                       \
					goto out;                                                                      \
				}                                                                                      \
				sink += P##_peek(c, t1) + P##_peek(c, t2);                                             \
				if (BENCH_UNLIKELY(!P##_drop(c, t1) || !P##_drop(c, t2))) {                            \
					b->error = "a drop was refused";                                               \
					goto out;                                                                      \
				}                                                                                      \
			}                                                                                              \
			n += BATCH;                                                                                    \
			if (done(b, n))                                                                                \
				break;                                                                                 \
		}                                                                                                      \
	out:                                                                                                           \
		b->t1 = th_now_ns();                                                                                   \
		b->n = n;                                                                                              \
		b->sink = sink;                                                                                        \
	}                                                                                                              \
	static BENCH_NOINLINE void P##_mt(struct thr *b)                                                               \
	{                                                                                                              \
		struct ctx *c = b->c;                                                                                  \
		uint64_t n = 0, waits = 0, peak = 0;                                                                   \
		size_t f = c->size;                                                                                    \
		struct tok t;                                                                                          \
		b->t0 = th_now_ns();                                                                                   \
		for (;;) {                                                                                             \
			for (unsigned i = 0; i < BATCH; i++) {                                                         \
				int rc;                                                                                \
				uint64_t fly;                                                                          \
				while ((rc = P##_frame(c, src_at(n + i, f), f, &t)) < 0) {                             \
					if (rc != -ENOBUFS && rc != -EDQUOT) {                                         \
						b->error = "a frame could not be built";                               \
						goto out;                                                              \
					}                                                                              \
					waits++;                                                                       \
					ck_pr_stall();                                                                 \
				}                                                                                      \
				while (!th_chan_push(b->chan, t.a))                                                    \
					ck_pr_stall();                                                                 \
				fly = n + i + 1 - __atomic_load_n(&b->dropped, __ATOMIC_RELAXED);                      \
				peak = fly > peak ? fly : peak;                                                        \
			}                                                                                              \
			n += BATCH;                                                                                    \
			if (done(b, n))                                                                                \
				break;                                                                                 \
		}                                                                                                      \
	out:                                                                                                           \
		b->t1 = th_now_ns();                                                                                   \
		b->n = n;                                                                                              \
		b->waits = waits;                                                                                      \
		b->peak = peak;                                                                                        \
		__atomic_store_n(&b->stop, 1, __ATOMIC_RELEASE);                                                       \
	}                                                                                                              \
	static BENCH_NOINLINE void P##_mt_drop(struct thr *b, struct thr *prod)                                        \
	{                                                                                                              \
		static uint64_t line[DELAY_LINE][2];                                                                   \
		uint64_t head = 0, tail = 0, v, dropped = 0;                                                           \
		for (;;) {                                                                                             \
			uint64_t now = th_now_ns();                                                                    \
			while (head - tail < DELAY_LINE && th_chan_pop(b->chan, &v)) {                                 \
				line[head % DELAY_LINE][0] = v;                                                        \
				line[head % DELAY_LINE][1] = now;                                                      \
				head++;                                                                                \
			}                                                                                              \
			while (tail != head && now - line[tail % DELAY_LINE][1] >= DELAY_NS) {                         \
				if (!P##_drop(b->c, (struct tok){line[tail % DELAY_LINE][0], 0, 0}))                   \
					b->error = "a drop was refused";                                               \
				tail++;                                                                                \
				__atomic_store_n(&prod->dropped, ++dropped, __ATOMIC_RELAXED);                         \
			}                                                                                              \
			if (tail == head && __atomic_load_n(&prod->stop, __ATOMIC_ACQUIRE) &&                           \
			    __atomic_load_n(&b->chan->head, __ATOMIC_ACQUIRE) == b->chan->tail)                            \
				break;                                                                                 \
			ck_pr_stall();                                                                                 \
		}                                                                                                      \
		b->n = dropped;                                                                                        \
	}

STAMP(bld)
STAMP(mal)
STAMP(reg)
STAMP(rng)

/* Part 3: get, touch, put; the get and put of each variant inline. */
#define STAMP_PAIR(P, GET, BUF, PUT)                                                                                   \
	static BENCH_NOINLINE void P##_pair(struct thr *b)                                                             \
	{                                                                                                              \
		struct ctx *c = b->c;                                                                                  \
		uint64_t n = 0;                                                                                        \
		size_t size = c->size;                                                                                 \
		iobuf_handle_t h;                                                                                      \
		b->t0 = th_now_ns();                                                                                   \
		for (;;) {                                                                                             \
			for (unsigned i = 0; i < BATCH; i++) {                                                         \
				if (BENCH_UNLIKELY(GET < 0)) {                                                         \
					b->error = "a get failed";                                                     \
					goto out;                                                                      \
				}                                                                                      \
				*(volatile uint8_t *)(BUF) = (uint8_t)i;                                               \
				if (BENCH_UNLIKELY(PUT != 0)) {                                                        \
					b->error = "a put was refused";                                                \
					goto out;                                                                      \
				}                                                                                      \
			}                                                                                              \
			n += BATCH;                                                                                    \
			if (done(b, n))                                                                                \
				break;                                                                                 \
		}                                                                                                      \
	out:                                                                                                           \
		b->t1 = th_now_ns();                                                                                   \
		b->n = n;                                                                                              \
	}

STAMP_PAIR(set, iobuf_get(c->set, size, &h), iobuf_buf(c->set, h), iobuf_put(c->set, h))
STAMP_PAIR(acct, iobuf_account_get(c->acct, size, &h), iobuf_buf(c->set, h), iobuf_put(c->set, h))
STAMP_PAIR(cache, iobuf_cache_get(c->cache, size, &h), iobuf_cache_buf(c->cache, h), iobuf_cache_put(c->cache, h))
STAMP_PAIR(acache, iobuf_account_get_cached(c->acct, c->cache, size, &h), iobuf_cache_buf(c->cache, h),
	   iobuf_cache_put(c->cache, h))

/* ---- variants -------------------------------------------------------------------- */

enum { O_SET = 1, O_CACHE = 2, O_ACCT = 4, O_HINT = 8, O_REGION = 16, O_RING = 32 };

struct variant {
	const char *name;
	int part;
	unsigned opts;
	void (*loop)(struct thr *);                    /* part 1, part 3; part 2's producer */
	void (*drop)(struct thr *, struct thr *prod); /* part 2's consumer */
};

static const struct variant variants[] = {
	{"builder", 1, O_SET | O_HINT, bld_sv2, NULL},
	{"builder_cache", 1, O_SET | O_CACHE | O_HINT, bld_sv2, NULL},
	{"builder_acct", 1, O_SET | O_CACHE | O_ACCT | O_HINT, bld_sv2, NULL},
	{"builder_4k", 1, O_SET, bld_sv2, NULL},
	{"malloc_realloc", 1, 0, mal_sv2, NULL},
	{"region", 1, O_REGION, reg_sv2, NULL},
	{"builder", 2, O_SET | O_HINT, bld_mt, bld_mt_drop},
	{"builder_cache", 2, O_SET | O_CACHE | O_HINT, bld_mt, bld_mt_drop},
	{"builder_acct", 2, O_SET | O_CACHE | O_ACCT | O_HINT, bld_mt, bld_mt_drop},
	{"builder_4k", 2, O_SET, bld_mt, bld_mt_drop},
	{"malloc_realloc", 2, 0, mal_mt, mal_mt_drop},
	{"region_ring", 2, O_RING, rng_mt, rng_mt_drop},
	{"set", 3, O_SET, set_pair, NULL},
	{"acct", 3, O_SET | O_ACCT, acct_pair, NULL},
	{"cache", 3, O_SET | O_CACHE, cache_pair, NULL},
	{"acct_cached", 3, O_SET | O_CACHE | O_ACCT, acache_pair, NULL},
};
#define NVAR ((int)(sizeof(variants) / sizeof(variants[0])))

static const size_t part_sizes[4][4] = {{0}, {16, 1024, 65536}, {16, 1024, 65536}, {16, 64, 1024, 65536}};
static const int part_nsizes[4] = {0, 3, 3, 4};

/* Part 2: what the set maps of a tier, and so what bounds the builder's frames. */
static uint32_t tier_cap(int part, size_t tier_size)
{
	if (part != 2)
		return 256;
	return MT_BOUND / tier_size < MT_CAP ? (uint32_t)(MT_BOUND / tier_size) : MT_CAP;
}

static int make(const struct variant *v, size_t size, struct ctx *c, char *why, size_t whylen)
{
	int rc = 0, t = iobuf_tier_for_size(size);

	memset(c, 0, sizeof(*c));
	c->size = size;
	if (v->opts & O_SET) {
		struct iobuf_set_config cfg;

		memset(&cfg, 0, sizeof(cfg));
		cfg.capacity[t] = tier_cap(v->part, IOBUF_TIER_SIZE(t));
		if (v->part != 3 && !(v->opts & O_HINT))
			cfg.capacity[iobuf_tier_for_size(4096)] = tier_cap(v->part, 4096);
		c->set = iobuf_set_create(&cfg, &rc);
		if (!c->set) {
			snprintf(why, whylen, "iobuf_set_create: %s", strerror(-rc));
			return rc;
		}
	}
	if (v->opts & O_ACCT) {
		struct iobuf_account_config ac;

		memset(&ac, 0, sizeof(ac));
		ac.max_buffers[t] = tier_cap(v->part, IOBUF_TIER_SIZE(t));
		ac.max_bytes = v->part == 2 ? (uint64_t)ac.max_buffers[t] * IOBUF_TIER_SIZE(t) / 2 : UINT64_C(1) << 40;
		c->acct = iobuf_account_create(c->set, &ac, &rc);
		if (!c->acct) {
			snprintf(why, whylen, "iobuf_account_create: %s", strerror(-rc));
			return rc;
		}
	}
	if (v->opts & O_CACHE) {
		c->cache = iobuf_cache_create(c->set, NULL, &rc);
		if (!c->cache) {
			snprintf(why, whylen, "iobuf_cache_create: %s", strerror(-rc));
			return rc;
		}
	}
	if (v->part != 3 && (v->opts & O_SET)) {
		struct iobuf_builder_config bc = {.hint = v->opts & O_HINT ? size : 0, .cache = c->cache, .acct = c->acct};

		c->b = iobuf_builder_create(c->set, &bc, &rc);
		if (!c->b) {
			snprintf(why, whylen, "iobuf_builder_create: %s", strerror(-rc));
			return rc;
		}
	}
	if (v->opts & (O_REGION | O_RING)) {
		c->cap = v->opts & O_REGION ? 2 * size : (size_t)tier_cap(2, IOBUF_TIER_SIZE(t)) * IOBUF_TIER_SIZE(t);
		c->base = aligned_alloc(64, c->cap);
		if (!c->base) {
			snprintf(why, whylen, "out of memory");
			return -ENOMEM;
		}
		memset(c->base, 0, c->cap);
	}
	return 0;
}

static void unmake(struct ctx *c)
{
	iobuf_builder_destroy(c->b);
	iobuf_cache_destroy(c->cache);
	if (c->acct && iobuf_account_destroy(c->acct) < 0)
		fprintf(stderr, "bench_builder: the account still holds buffers\n");
	iobuf_set_destroy(c->set);
	free(c->base);
}

/* ---- one run ---------------------------------------------------------------------- */

struct result {
	double ns;          /* per iteration (part 1), frame (part 2), pair (part 3) */
	uint64_t waits, peak;
};

struct mt_arg {
	struct thr *b, *prod;
	const struct variant *v;
};

/* The cores this process may use (main() pins itself to the first: a thread it starts inherits only that one). */
static cpu_set_t cores;

static void *consumer_main(void *p)
{
	struct mt_arg *a = p;

	(void)pthread_setaffinity_np(pthread_self(), sizeof(cores), &cores);
	th_pin(1);
	a->v->drop(a->b, a->prod);
	return NULL;
}

static int run_part2(const struct variant *v, struct ctx *c, uint64_t ns, struct result *res, char *why,
		     size_t whylen)
{
	static struct th_chan chan;
	struct thr prod = {.c = c, .run_ns = ns, .chan = &chan};
	struct thr cons = {.c = c, .chan = &chan};
	struct mt_arg a = {&cons, &prod, v};
	pthread_t th;

	memset(&chan, 0, sizeof(chan));
	if (pthread_create(&th, NULL, consumer_main, &a) != 0) {
		snprintf(why, whylen, "pthread_create failed");
		return -EAGAIN;
	}
	v->loop(&prod);
	pthread_join(th, NULL);
	if (prod.error || cons.error) {
		snprintf(why, whylen, "%s", prod.error ? prod.error : cons.error);
		return -EIO;
	}
	if (cons.n != prod.n) {
		snprintf(why, whylen, "%" PRIu64 " frames sent, %" PRIu64 " dropped", prod.n, cons.n);
		return -EIO;
	}
	res->ns = (double)(prod.t1 - prod.t0) / (double)prod.n;
	res->waits = prod.waits;
	res->peak = prod.peak;
	return 0;
}

/* A fresh context, a warm-up (a fifth of the time, or a quarter of the count), then the timed or counted run. */
static int run_once(const struct variant *v, size_t size, uint64_t ms, uint64_t count, struct result *res, char *why,
		    size_t whylen)
{
	struct ctx c;
	struct thr b;
	int rc = make(v, size, &c, why, whylen);

	memset(res, 0, sizeof(*res));
	if (rc < 0)
		goto out;
	if (v->part == 2) {
		rc = run_part2(v, &c, ms * 200000u + 1, res, why, whylen);
		if (rc == 0)
			rc = run_part2(v, &c, ms * 1000000u, res, why, whylen);
		goto out;
	}
	memset(&b, 0, sizeof(b));
	b.c = &c;
	b.run_ns = ms * 200000u + 1;
	b.count = count ? count / 4 + BATCH : 0;
	v->loop(&b);
	b.run_ns = ms * 1000000u;
	b.count = count;
#ifdef HAVE_VALGRIND_CALLGRIND_H
	if (count) {
		CALLGRIND_ZERO_STATS;
		CALLGRIND_START_INSTRUMENTATION;
	}
#endif
	if (!b.error)
		v->loop(&b);
#ifdef HAVE_VALGRIND_CALLGRIND_H
	if (count)
		CALLGRIND_STOP_INSTRUMENTATION;
#endif
	if (b.error) {
		snprintf(why, whylen, "%s", b.error);
		rc = -EIO;
		goto out;
	}
	res->ns = (double)(b.t1 - b.t0) / (double)b.n;
out:
	unmake(&c);
	return rc;
}

/* Instructions per iteration or pair: this program once more under callgrind, the loop alone counted. */
static double callgrind_ir(const char *self, const char *valgrind, int vi, size_t size, uint64_t count)
{
	char sv[16], ssz[32], sc[32];
	char *args[] = {(char *)self, "--count-one", sv, ssz, sc, NULL};

	snprintf(sv, sizeof(sv), "%d", vi);
	snprintf(ssz, sizeof(ssz), "%zu", size);
	snprintf(sc, sizeof(sc), "%" PRIu64, count);
	return bench_callgrind_ir(valgrind, "bench_builder", args, NULL, count);
}

static void fill_random(void)
{
	uint64_t s = 0x853c49e6748fea9bu;

	rnd = malloc(RND);
	if (!rnd) {
		fprintf(stderr, "bench_builder: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < RND; i += 8) {
		uint64_t x = th_rand(&s);

		memcpy(rnd + i, &x, 8);
	}
}

static const char *fmt_size(size_t n, char *buf, size_t len)
{
	if (n >= 1024)
		snprintf(buf, len, "%zu KiB", n >> 10);
	else
		snprintf(buf, len, "%zu B", n);
	return buf;
}

/* The figures of one part: each variant's medians beside the first variant's (the reference row). */
static void print_part(int part, int rounds, double ns[][4][MAXR], double ir[][4], uint64_t waits[][4],
		       uint64_t peak[][4], char skip[][4][128], const char *only)
{
	static const char *const title[4] = {
		"",
		"Part 1: buffer_sv2's pattern, one thread (an iteration: 2 frames written, taken, peeked, dropped)",
		"Part 2: frames sent to core 1, dropped 1 ms after arrival (ns per frame on core 0)",
		"Part 3: get, touch, put (ns per pair); account rows against the plain row above them"};
	char sz[32];

	printf("\n## %s\n\n", title[part]);
	if (part == 1)
		printf("| size | variant | ns/iter (= us per 1000 iter) | best | ns/frame | instr/iter | vs builder | vs region |\n"
		       "|---|---|---|---|---|---|---|---|\n");
	else if (part == 2)
		printf("| size | variant | ns/frame | best | Mframes/s | peak in flight | bound | waits | vs builder |\n"
		       "|---|---|---|---|---|---|---|---|---|\n");
	else
		printf("| size | variant | ns/pair | best | instr/pair | account / plain (ns) | account / plain (instr) |\n"
		       "|---|---|---|---|---|---|---|\n");
	for (int si = 0; si < part_nsizes[part]; si++) {
		size_t size = part_sizes[part][si];
		int t = iobuf_tier_for_size(size);
		double med[NVAR], ref = -1, floor = -1;

		for (int vi = 0; vi < NVAR; vi++) {
			med[vi] = -1;
			if (variants[vi].part != part || skip[vi][si][0] || (only && strcmp(only, variants[vi].name)))
				continue;
			qsort(ns[vi][si], (size_t)rounds, sizeof(double), bench_cmp_double);
			med[vi] = ns[vi][si][rounds / 2];
			if (!strcmp(variants[vi].name, "builder"))
				ref = med[vi];
			if (!strcmp(variants[vi].name, "region"))
				floor = med[vi];
		}
		for (int vi = 0; vi < NVAR; vi++) {
			const struct variant *v = &variants[vi];
			char irs[32] = "-", r1[32] = "-", r2[32] = "-", r3[32] = "-";

			if (v->part != part || (only && strcmp(only, v->name)))
				continue;
			fmt_size(size, sz, sizeof(sz));
			if (skip[vi][si][0]) {
				printf("| %s | %s | skipped: %s |\n", sz, v->name, skip[vi][si]);
				continue;
			}
			if (ir[vi][si] >= 0)
				snprintf(irs, sizeof(irs), "%.1f", ir[vi][si]);
			if (ref > 0)
				snprintf(r1, sizeof(r1), "%.2fx", med[vi] / ref);
			if (floor > 0)
				snprintf(r2, sizeof(r2), "%.2fx", med[vi] / floor);
			if (part == 1) {
				printf("| %s | %s | %.1f | %.1f | %.1f | %s | %s | %s |\n", sz, v->name, med[vi],
				       ns[vi][si][0], med[vi] / 2, irs, r1, r2);
			} else if (part == 2) {
				char bound[48];
				size_t tsz = IOBUF_TIER_SIZE(t);

				if (v->opts & O_ACCT)
					snprintf(bound, sizeof(bound), "account: %zu KiB", tier_cap(2, tsz) * tsz / 2 >> 10);
				else if (v->opts & O_SET)
					snprintf(bound, sizeof(bound), "set: %u x %zu B", tier_cap(2, tsz), tsz);
				else if (v->opts & O_RING)
					snprintf(bound, sizeof(bound), "ring: %zu KiB", tier_cap(2, tsz) * tsz >> 10);
				else
					snprintf(bound, sizeof(bound), "none");
				printf("| %s | %s | %.1f | %.1f | %.2f | %" PRIu64 " | %s | %" PRIu64 " | %s |\n", sz, v->name,
				       med[vi], ns[vi][si][0], 1e3 / med[vi], peak[vi][si], bound, waits[vi][si], r1);
			} else {
				/* acct follows set, acct_cached follows cache */
				if ((v->opts & O_ACCT) && vi > 0 && med[vi - 1] > 0) {
					int pv = vi - 1;

					snprintf(r3, sizeof(r3), "%.2fx", med[vi] / med[pv]);
					if (ir[vi][si] >= 0 && ir[pv][si] > 0)
						snprintf(r1, sizeof(r1), "%.2fx (+%.1f)", ir[vi][si] / ir[pv][si],
							 ir[vi][si] - ir[pv][si]);
					else
						snprintf(r1, sizeof(r1), "-");
				} else {
					snprintf(r1, sizeof(r1), "-");
				}
				printf("| %s | %s | %.2f | %.2f | %s | %s | %s |\n", sz, v->name, med[vi], ns[vi][si][0], irs,
				       r3, r1);
			}
		}
	}
}

int main(int argc, char **argv)
{
	int rounds = 5, only_part = 0;
	uint64_t ms = 200, cg_count = 64 * BATCH;
	const char *valgrind = NULL, *only = NULL;
	static double ns[NVAR][4][MAXR], ir[NVAR][4];
	static uint64_t waits[NVAR][4], peak[NVAR][4];
	static char skip[NVAR][4][128];

	fill_random();
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			rounds = 3;
			ms = 5;
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
			ms = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--part") == 0 && i + 1 < argc) {
			only_part = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--valgrind") == 0 && i + 1 < argc) {
			valgrind = argv[++i];
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (strcmp(argv[i], "--count-one") == 0 && i + 3 < argc) {
			/* Internal: one counted run, under callgrind. */
			struct result res;
			char why[128];

			th_pin(0);
			return run_once(&variants[atoi(argv[i + 1])], strtoull(argv[i + 2], NULL, 10), 0,
					strtoull(argv[i + 3], NULL, 10), &res, why, sizeof(why)) < 0;
		} else {
			fprintf(stderr, "usage: %s [--quick] [--rounds N] [--ms MS] [--part 1|2|3] [--valgrind PATH] "
					"[--only NAME]\n",
				argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAXR)
		rounds = 5;
	if (ms < 5)
		ms = 5; /* part 2 needs a few of its 1 ms delays */
	printf("# bench_builder: %d rounds of %" PRIu64 " ms (median), %d cores, iobuf %s\n", rounds, ms, th_ncpus(),
	       IOBUF_VERSION_STRING);
	(void)sched_getaffinity(0, sizeof(cores), &cores);
	th_pin(0);
	for (int part = 1; part <= 3; part++) {
		if (only_part && part != only_part)
			continue;
		for (int round = 0; round < rounds; round++) {
			for (int si = 0; si < part_nsizes[part]; si++) {
				/* The order rotates by one each round: no variant always runs first. */
				for (int k = 0; k < NVAR; k++) {
					int vi = (k + round) % NVAR;
					struct result res;

					if (variants[vi].part != part || skip[vi][si][0] || (only && strcmp(only, variants[vi].name)))
						continue;
					if (run_once(&variants[vi], part_sizes[part][si], ms, 0, &res, skip[vi][si],
						     sizeof(skip[vi][si])) < 0) {
						if (!skip[vi][si][0])
							snprintf(skip[vi][si], sizeof(skip[vi][si]), "failed");
						continue;
					}
					ns[vi][si][round] = res.ns;
					waits[vi][si] += res.waits;
					peak[vi][si] = res.peak > peak[vi][si] ? res.peak : peak[vi][si];
				}
			}
		}
		for (int vi = 0; vi < NVAR; vi++)
			for (int si = 0; si < 4; si++)
				ir[vi][si] = -1;
#ifdef HAVE_VALGRIND_CALLGRIND_H
		if (valgrind && *valgrind && part != 2)
			for (int vi = 0; vi < NVAR; vi++)
				for (int si = 0; si < part_nsizes[part]; si++)
					if (variants[vi].part == part && !skip[vi][si][0] &&
					    !(only && strcmp(only, variants[vi].name)))
						ir[vi][si] = callgrind_ir(argv[0], valgrind, vi, part_sizes[part][si],
									  part_sizes[part][si] > 4096 ? cg_count / 64 : cg_count);
#endif
		print_part(part, rounds, ns, ir, waits, peak, skip, only);
		fflush(stdout);
	}
	return 0;
}
