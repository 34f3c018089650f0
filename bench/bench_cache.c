/* SPDX-License-Identifier: MIT */
/*
 * bench_cache.c - iobuf's per-thread cache against DPDK's rte_mempool
 * cache, in one process, on the workloads of /work/shared/ANCHORS.md:
 *
 *   W1  one thread: get, touch the first byte, put
 *   W2  one thread: get 32 (bulk), touch each, put the 32 (bulk)
 *   W3  two threads, one per core, each W1 on the same pool (each with
 *       its own cache); ns = 1 / aggregate rate
 *   W4  core 0 gets and touches, passes the token through a ck_ring SPSC
 *       of 256 slots, core 1 puts (handoff); ns per buffer
 *
 * Variants: iobuf_cache_index (pool-bound cache, raw indices),
 * iobuf_cache_handle (pool-bound cache, checked handles, the address from
 * the checked iobuf_cache_buf()), iobuf_cache_handle_unsafe (the same
 * with IOBUF_CACHE_UNSAFE_PUTS: what the puts' compare-and-swap costs), iobuf_cache_set (set-bound cache,
 * handles, size -> tier on every get), iobuf_pool_index and
 * iobuf_pool_handle (no cache: the SCQ path), dpdk_mempool_c256 and
 * dpdk_mempool_c0 (when DPDK is there; rte_thread_register() gives each
 * thread its own lcore cache), and null_floor (the loop alone).
 *
 * Method: a pool of 1024 buffers of 64 bytes; every run makes a fresh
 * pool, runs the workload once untimed (warm-up), then once timed;
 * rounds interleave the variants; the figure is the median of the
 * rounds (5 of 0.5 s by default), the spread (max - min) / median of
 * the rates; "best" is the fastest round (what a quiet machine gives
 * when other work shares the cores).  Threads are pinned with th_pin().  Ratios are printed
 * against dpdk_mempool_c256 in the same run and against the ANCHORS
 * figures of tcmalloc (a separate process there: it replaces malloc)
 * and of the best peer.
 *
 * Instructions per pair: with --valgrind PATH, the program runs itself
 * under callgrind --instr-atstart=no once per variant and workload, a
 * fixed number of pairs, the timed loop alone instrumented.  W4 is
 * counted single-threaded (the producer's and the consumer's calls
 * interleaved through a local FIFO of 255 slots), so no spin-wait is
 * counted; W3 runs W1's loop on each thread and counts as W1.
 *
 * W5 is W4 through a ring that publishes its cursors in batches: with
 * ck_ring the cursors' lines ping-pong once per buffer, which on this
 * machine sets W4's floor near DPDK's figure; W5 shows the allocators'
 * own share of a handoff.
 *
 * Usage: bench_cache [--quick] [--rounds N] [--ms MS] [--size B] [--cap N]
 *                    [--magazine M] [--valgrind PATH] [--only NAME]
 *                    [--workload 1-5]
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ck_pr.h>
#include <ck_ring.h>

#include <iobuf/cache.h>
#include <iobuf/pool.h>
#include <iobuf/tiers.h>

#include "../tests/common/thread.h"
#include "util.h"

#ifdef HAVE_VALGRIND_CALLGRIND_H
#include <valgrind/callgrind.h>
#endif

#ifdef BENCH_WITH_DPDK
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_version.h>

#include "dpdk_eal.h"
#endif

#define BATCH 1024
#define BURST 32
#define RING_SLOTS 256
#define END_TOKEN UINT64_MAX

typedef uint64_t tok_t;

/* --magazine: the pools' magazine size (0: the default). */
static uint32_t opt_magazine;

/* ---- what a run shares -------------------------------------------------------- */

struct run {
	size_t size;
	uint32_t cap;
	void *shared;           /* the pool, set or mempool */
	uint64_t run_ns;        /* timed: stop after this long */
	uint64_t count;         /* counted (callgrind): stop after this many pairs */
	bool counted;           /* this pass runs under callgrind's instrumentation */
	bool own_caches;        /* W4 on one thread: each context needs a cache of its own */
	unsigned barrier;
	struct ck_ring ring;
	struct ck_ring_buffer *ring_buf;
	struct fring *fring;
	const char *error;
};

struct thr {
	struct run *r;
	int id;
	void *t; /* per-thread context: a cache, the pool, the mempool */
	uint64_t t0, t1, pairs;
};

/*
 * W5's channel: a single-producer single-consumer ring whose sides keep
 * their own cursors and publish them only every FRING_BATCH items (the
 * producer also when the ring is full, the consumer when it finds it
 * empty), and read the other side's only when their copy says full or
 * empty.  The cursors' lines then move once per batch instead of once per
 * buffer as with ck_ring, whose ping-pong sets W4's floor on this
 * machine; W4 through this ring shows the allocators' own share of a
 * handoff.
 */
#define FRING 256
#define FRING_BATCH 32
struct fring {
	_Alignas(128) uint64_t head; /* published by the producer */
	uint64_t my_head, tail_seen;
	_Alignas(128) uint64_t tail; /* published by the consumer */
	uint64_t my_tail, head_seen;
	_Alignas(128) uint64_t slot[FRING];
};

static inline void fring_publish_head(struct fring *f)
{
	ck_pr_fence_store(); /* the slots before the cursor that publishes them */
	ck_pr_store_64(&f->head, f->my_head);
}

static inline bool fring_push(struct fring *f, uint64_t v)
{
	uint64_t h = f->my_head;

	if (h - f->tail_seen == FRING) {
		fring_publish_head(f); /* the consumer may be waiting for these */
		f->tail_seen = ck_pr_load_64(&f->tail);
		ck_pr_fence_load(); /* the consumer's reads of the slots came before it moved tail */
		if (h - f->tail_seen == FRING)
			return false;
	}
	f->slot[h % FRING] = v;
	f->my_head = h + 1;
	if ((h + 1) % FRING_BATCH == 0)
		fring_publish_head(f);
	return true;
}

static inline bool fring_pop(struct fring *f, uint64_t *v)
{
	uint64_t t = f->my_tail;

	if (t == f->head_seen) {
		ck_pr_fence_store(); /* our reads of the slots before the cursor that frees them */
		ck_pr_store_64(&f->tail, t);
		f->head_seen = ck_pr_load_64(&f->head);
		ck_pr_fence_load(); /* the cursor before the slots it publishes */
		if (t == f->head_seen)
			return false;
	}
	*v = f->slot[t % FRING];
	f->my_tail = t + 1;
	if ((t + 1) % FRING_BATCH == 0) {
		ck_pr_fence_store();
		ck_pr_store_64(&f->tail, t + 1);
	}
	return true;
}

static inline void touch(void *p, uint64_t v)
{
	*(volatile uint8_t *)p = (uint8_t)v;
}

static inline bool done(const struct thr *b, uint64_t pairs)
{
	if (b->r->count)
		return pairs >= b->r->count;
	return th_now_ns() - b->t0 >= b->r->run_ns;
}

static void fail(struct thr *b, const char *what)
{
	if (!b->r->error)
		b->r->error = what;
}

/*
 * The loops, stamped out once per variant P with its inline operations
 *   bool P_get(void *t, P_tok *tok), bool P_put(void *t, P_tok tok),
 *   void *P_addr(void *t, P_tok tok), bool P_get_n(void *t, P_tok *toks, int n),
 *   bool P_put_n(void *t, const P_tok *toks, int n)
 * inlined into them.
 */
#define STAMP(P)                                                                                   \
	static __attribute__((noinline)) void P##_w1(struct thr *b)                                \
	{                                                                                          \
		void *t = b->t;                                                                    \
		uint64_t pairs = 0;                                                                \
		P##_tok tok;                                                                       \
		b->t0 = th_now_ns();                                                               \
		for (;;) {                                                                         \
			for (unsigned i = 0; i < BATCH; i++) {                                     \
				if (__builtin_expect(!P##_get(t, &tok), 0)) {                      \
					fail(b, "get found the pool empty");                       \
					goto out;                                                  \
				}                                                                  \
				touch(P##_addr(t, tok), i);                                        \
				if (__builtin_expect(!P##_put(t, tok), 0)) {                       \
					fail(b, "put refused");                                    \
					goto out;                                                  \
				}                                                                  \
			}                                                                          \
			pairs += BATCH;                                                            \
			if (done(b, pairs))                                                        \
				break;                                                             \
		}                                                                                  \
	out:                                                                                       \
		b->t1 = th_now_ns();                                                               \
		b->pairs = pairs;                                                                  \
	}                                                                                          \
	static __attribute__((noinline)) void P##_w2(struct thr *b)                                \
	{                                                                                          \
		void *t = b->t;                                                                    \
		uint64_t pairs = 0;                                                                \
		P##_tok toks[BURST];                                                               \
		b->t0 = th_now_ns();                                                               \
		for (;;) {                                                                         \
			for (unsigned i = 0; i < BATCH / BURST; i++) {                             \
				if (__builtin_expect(!P##_get_n(t, toks, BURST), 0)) {             \
					fail(b, "bulk get found the pool empty");                  \
					goto out;                                                  \
				}                                                                  \
				for (unsigned j = 0; j < BURST; j++)                               \
					touch(P##_addr(t, toks[j]), j);                            \
				if (__builtin_expect(!P##_put_n(t, toks, BURST), 0)) {             \
					fail(b, "bulk put refused");                               \
					goto out;                                                  \
				}                                                                  \
			}                                                                          \
			pairs += BATCH;                                                            \
			if (done(b, pairs))                                                        \
				break;                                                             \
		}                                                                                  \
	out:                                                                                       \
		b->t1 = th_now_ns();                                                               \
		b->pairs = pairs;                                                                  \
	}                                                                                          \
	static __attribute__((noinline)) void P##_w4_producer(struct thr *b)                       \
	{                                                                                          \
		void *t = b->t;                                                                    \
		uint64_t pairs = 0;                                                                \
		P##_tok tok;                                                                       \
		b->t0 = th_now_ns();                                                               \
		for (;;) {                                                                         \
			for (unsigned i = 0; i < BATCH; i++) {                                     \
				/* Buffers parked in the consumer's cache come back later. */      \
				while (__builtin_expect(!P##_get(t, &tok), 0))                     \
					ck_pr_stall();                                             \
				touch(P##_addr(t, tok), i);                                        \
				while (!ck_ring_enqueue_spsc(&b->r->ring, b->r->ring_buf,          \
							     (void *)(uintptr_t)tok))              \
					ck_pr_stall();                                             \
			}                                                                          \
			pairs += BATCH;                                                            \
			if (done(b, pairs) || ck_pr_load_ptr(&b->r->error))                        \
				break;                                                             \
		}                                                                                  \
		while (!ck_ring_enqueue_spsc(&b->r->ring, b->r->ring_buf, (void *)(uintptr_t)END_TOKEN)) \
			ck_pr_stall();                                                             \
		b->t1 = th_now_ns();                                                               \
		b->pairs = pairs;                                                                  \
	}                                                                                          \
	static __attribute__((noinline)) void P##_w4_consumer(struct thr *b)                       \
	{                                                                                          \
		void *t = b->t, *p;                                                                \
		uint64_t pairs = 0;                                                                \
		b->t0 = th_now_ns();                                                               \
		for (;;) {                                                                         \
			if (!ck_ring_dequeue_spsc(&b->r->ring, b->r->ring_buf, &p)) {              \
				ck_pr_stall();                                                     \
				continue;                                                          \
			}                                                                          \
			if ((uintptr_t)p == (uintptr_t)END_TOKEN)                                  \
				break;                                                             \
			if (__builtin_expect(!P##_put(t, (P##_tok)(uintptr_t)p), 0))               \
				fail(b, "put refused");                                            \
			pairs++;                                                                   \
		}                                                                                  \
		b->t1 = th_now_ns();                                                               \
		b->pairs = pairs;                                                                  \
	}                                                                                          \
	/* W5: W4 through the cursor-caching ring. */                                            \
	static __attribute__((noinline)) void P##_w5_producer(struct thr *b)                       \
	{                                                                                          \
		void *t = b->t;                                                                    \
		uint64_t pairs = 0;                                                                \
		P##_tok tok;                                                                       \
		b->t0 = th_now_ns();                                                               \
		for (;;) {                                                                         \
			for (unsigned i = 0; i < BATCH; i++) {                                     \
				while (__builtin_expect(!P##_get(t, &tok), 0))                     \
					ck_pr_stall();                                             \
				touch(P##_addr(t, tok), i);                                        \
				while (!fring_push(b->r->fring, (uint64_t)(uintptr_t)tok))         \
					ck_pr_stall();                                             \
			}                                                                          \
			pairs += BATCH;                                                            \
			if (done(b, pairs) || ck_pr_load_ptr(&b->r->error))                        \
				break;                                                             \
		}                                                                                  \
		while (!fring_push(b->r->fring, END_TOKEN))                                        \
			ck_pr_stall();                                                             \
		fring_publish_head(b->r->fring);                                                   \
		b->t1 = th_now_ns();                                                               \
		b->pairs = pairs;                                                                  \
	}                                                                                          \
	static __attribute__((noinline)) void P##_w5_consumer(struct thr *b)                       \
	{                                                                                          \
		void *t = b->t;                                                                    \
		uint64_t pairs = 0, v;                                                             \
		b->t0 = th_now_ns();                                                               \
		for (;;) {                                                                         \
			if (!fring_pop(b->r->fring, &v)) {                                         \
				ck_pr_stall();                                                     \
				continue;                                                          \
			}                                                                          \
			if (v == END_TOKEN)                                                        \
				break;                                                             \
			if (__builtin_expect(!P##_put(t, (P##_tok)(uintptr_t)v), 0))               \
				fail(b, "put refused");                                            \
			pairs++;                                                                   \
		}                                                                                  \
		b->t1 = th_now_ns();                                                               \
		b->pairs = pairs;                                                                  \
	}                                                                                          \
	/* W4 on one thread, for callgrind: two contexts, a local FIFO between them. */          \
	static __attribute__((noinline)) void P##_w4_single(struct thr *b, void *t2)               \
	{                                                                                          \
		void *t = b->t;                                                                    \
		P##_tok fifo[RING_SLOTS];                                                          \
		uint64_t head = 0, tail = 0;                                                       \
		for (uint64_t i = 0; i < b->r->count; i++) {                                       \
			P##_tok tok;                                                               \
			if (head - tail == RING_SLOTS - 1) {                                       \
				if (!P##_put(t2, fifo[tail++ % RING_SLOTS]))                       \
					fail(b, "put refused");                                    \
			}                                                                          \
			if (!P##_get(t, &tok)) {                                                   \
				fail(b, "get found the pool empty");                               \
				break;                                                             \
			}                                                                          \
			touch(P##_addr(t, tok), i);                                                \
			fifo[head++ % RING_SLOTS] = tok;                                           \
		}                                                                                  \
		while (tail != head)                                                               \
			(void)P##_put(t2, fifo[tail++ % RING_SLOTS]);                              \
		b->pairs = b->r->count;                                                            \
	}

/* ---- variants ------------------------------------------------------------------ */

struct variant {
	const char *name;
	const char *what;
	const char *preload; /* run in a child process with this LD_PRELOAD (a malloc that replaces glibc's) */
	int (*create)(struct run *r, char *why, size_t whylen);
	void (*destroy)(struct run *r);
	void *(*enter)(struct run *r); /* per thread; NULL = failure */
	void (*leave)(struct run *r, void *t);
	void (*w1)(struct thr *);
	void (*w2)(struct thr *);
	void (*w4p)(struct thr *);
	void (*w4c)(struct thr *);
	void (*w5p)(struct thr *);
	void (*w5c)(struct thr *);
	void (*w4s)(struct thr *, void *);
};

/* null_floor: no allocator; what is left is the loop, the touch and the clock. */
typedef tok_t null_tok;
static uint8_t null_buf[64] __attribute__((aligned(64)));
static inline bool null_get(void *t, null_tok *tok)
{
	(void)t;
	*tok = 1;
	return true;
}
static inline bool null_put(void *t, null_tok tok)
{
	(void)t;
	(void)tok;
	return true;
}
static inline void *null_addr(void *t, null_tok tok)
{
	(void)t;
	(void)tok;
	return null_buf;
}
static inline bool null_get_n(void *t, null_tok *toks, int n)
{
	for (int i = 0; i < n; i++)
		toks[i] = 1;
	(void)t;
	return true;
}
static inline bool null_put_n(void *t, const null_tok *toks, int n)
{
	(void)t;
	(void)toks;
	(void)n;
	return true;
}
STAMP(null)

/*
 * tcmalloc_minimal: malloc and free, in a child process that runs with
 * LD_PRELOAD=libtcmalloc_minimal.so.4 (it replaces glibc's malloc), so its
 * figures come from the same session as the others.  The calls go
 * through volatile pointers: the compiler may not pair them away.
 */
typedef void *mal_tok;
static void *(*volatile mal_malloc)(size_t) = malloc;
static void (*volatile mal_free)(void *) = free;
static inline bool mal_get(void *t, mal_tok *tok)
{
	*tok = mal_malloc((size_t)(uintptr_t)t);
	return *tok != NULL;
}
static inline bool mal_put(void *t, mal_tok tok)
{
	(void)t;
	mal_free(tok);
	return true;
}
static inline void *mal_addr(void *t, mal_tok tok)
{
	(void)t;
	return tok;
}
static inline bool mal_get_n(void *t, mal_tok *toks, int n)
{
	for (int i = 0; i < n; i++)
		if (!mal_get(t, &toks[i]))
			return false;
	return true;
}
static inline bool mal_put_n(void *t, mal_tok const *toks, int n)
{
	for (int i = 0; i < n; i++)
		mal_free(toks[i]);
	(void)t;
	return true;
}
STAMP(mal)

/* The context is the size to allocate; the child checks that tcmalloc replaced malloc. */
static int mal_create(struct run *r, char *why, size_t whylen)
{
	if (!dlsym(RTLD_DEFAULT, "tc_malloc")) {
		snprintf(why, whylen, "tcmalloc is not loaded (libtcmalloc_minimal.so.4; libgoogle-perftools4)");
		return -ENOENT;
	}
	r->shared = (void *)(uintptr_t)r->size;
	return 0;
}

static void mal_destroy(struct run *r)
{
	(void)r;
}

/* iobuf_cache_index: a pool-bound cache, raw indices. */
typedef uint32_t cix_tok;
static inline bool cix_get(void *t, cix_tok *tok)
{
	int i = iobuf_cache_get_index(t);

	*tok = (uint32_t)i;
	return i >= 0;
}
static inline bool cix_put(void *t, cix_tok tok)
{
	return iobuf_cache_put_index(t, tok) == 0;
}
static inline void *cix_addr(void *t, cix_tok tok)
{
	const struct iobuf_cache *c = t;

	return c->one->base + (size_t)tok * c->one->stride;
}
static inline bool cix_get_n(void *t, cix_tok *toks, int n)
{
	return iobuf_cache_get_index_bulk(t, toks, n) == 0;
}
static inline bool cix_put_n(void *t, const cix_tok *toks, int n)
{
	return iobuf_cache_put_index_bulk(t, toks, n) == 0;
}
STAMP(cix)

/* iobuf_cache_handle: a pool-bound cache, checked handles and checked addresses. */
typedef iobuf_handle_t chd_tok;
static inline bool chd_get(void *t, chd_tok *tok)
{
	return iobuf_cache_get(t, 64, tok) == 0;
}
static inline bool chd_put(void *t, chd_tok tok)
{
	return iobuf_cache_put(t, tok) == 0;
}
static inline void *chd_addr(void *t, chd_tok tok)
{
	return iobuf_cache_buf(t, tok);
}
static inline bool chd_get_n(void *t, chd_tok *toks, int n)
{
	return iobuf_cache_get_bulk(t, 64, toks, n) == 0;
}
static inline bool chd_put_n(void *t, const chd_tok *toks, int n)
{
	return iobuf_cache_put_bulk(t, toks, n) == 0;
}
STAMP(chd)

/* iobuf_cache_set: a set-bound cache, handles, the tier from the size on every get. */
typedef iobuf_handle_t cst_tok;
#define cst_get chd_get
#define cst_put chd_put
#define cst_addr chd_addr
#define cst_get_n chd_get_n
#define cst_put_n chd_put_n
STAMP(cst)

/* iobuf_pool_index: no cache, raw indices through the SCQ. */
typedef uint32_t pix_tok;
static inline bool pix_get(void *t, pix_tok *tok)
{
	int i = iobuf_pool_get_index(t);

	*tok = (uint32_t)i;
	return i >= 0;
}
static inline bool pix_put(void *t, pix_tok tok)
{
	return iobuf_pool_put_index(t, tok) == 0;
}
static inline void *pix_addr(void *t, pix_tok tok)
{
	return iobuf_pool_index_buf(t, tok);
}
static inline bool pix_get_n(void *t, pix_tok *toks, int n)
{
	for (int i = 0; i < n; i++)
		if (!pix_get(t, &toks[i])) {
			while (i > 0)
				(void)pix_put(t, toks[--i]);
			return false;
		}
	return true;
}
static inline bool pix_put_n(void *t, const pix_tok *toks, int n)
{
	bool ok = true;

	for (int i = 0; i < n; i++)
		ok &= pix_put(t, toks[i]);
	return ok;
}
STAMP(pix)

/* iobuf_pool_handle: no cache, checked handles through the SCQ. */
typedef iobuf_handle_t phd_tok;
static inline bool phd_get(void *t, phd_tok *tok)
{
	return iobuf_pool_get(t, tok) == 0;
}
static inline bool phd_put(void *t, phd_tok tok)
{
	return iobuf_pool_put(t, tok) == 0;
}
static inline void *phd_addr(void *t, phd_tok tok)
{
	return iobuf_pool_buf(t, tok);
}
static inline bool phd_get_n(void *t, phd_tok *toks, int n)
{
	return iobuf_pool_get_bulk(t, toks, n) == 0;
}
static inline bool phd_put_n(void *t, const phd_tok *toks, int n)
{
	return iobuf_pool_put_bulk(t, toks, n) == 0;
}
STAMP(phd)

static int pool_create(struct run *r, char *why, size_t whylen)
{
	struct iobuf_pool_config cfg = {.buf_size = r->size, .capacity = r->cap};
	int rc = 0;

	cfg.magazine = opt_magazine;
	r->shared = iobuf_pool_create(&cfg, &rc);
	if (!r->shared) {
		snprintf(why, whylen, "iobuf_pool_create: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

static void pool_destroy(struct run *r)
{
	iobuf_pool_destroy(r->shared);
}

static int set_create(struct run *r, char *why, size_t whylen)
{
	struct iobuf_set_config cfg;
	int t = iobuf_tier_for_size(r->size), rc = 0;

	if (t < 0) {
		snprintf(why, whylen, "size %zu has no tier", r->size);
		return t;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.capacity[t] = r->cap;
	r->shared = iobuf_set_create(&cfg, &rc);
	if (!r->shared) {
		snprintf(why, whylen, "iobuf_set_create: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

static void set_destroy(struct run *r)
{
	iobuf_set_destroy(r->shared);
}

static void *shared_enter(struct run *r)
{
	return r->shared;
}

static void shared_leave(struct run *r, void *t)
{
	(void)r;
	(void)t;
}

static void *cache_pool_enter(struct run *r)
{
	return iobuf_cache_create_pool(r->shared, NULL, NULL);
}

/* The opt-in mode whose puts skip the compare-and-swap: what the safe default costs. */
static void *cache_pool_unsafe_enter(struct run *r)
{
	return iobuf_cache_create_pool(r->shared, &(struct iobuf_cache_config){.flags = IOBUF_CACHE_UNSAFE_PUTS}, NULL);
}

static void *cache_set_enter(struct run *r)
{
	return iobuf_cache_create(r->shared, NULL, NULL);
}

static void cache_leave(struct run *r, void *t)
{
	(void)r;
	iobuf_cache_destroy(t);
}

#ifdef BENCH_WITH_DPDK
/*
 * dpdk_mempool: get/put through the calling lcore's cache (or none), bulk
 * in W2.  rte_mempool_get() is rte_mempool_generic_get() on
 * rte_mempool_default_cache(mp, rte_lcore_id()); the context keeps that
 * cache, looked up once per thread, which spares DPDK a TLS read per call
 * (and lets the one-thread W4 of the callgrind count give each side a
 * cache of its own, made with rte_mempool_cache_create()).
 */
struct mpctx {
	struct rte_mempool *mp;
	struct rte_mempool_cache *cache;
	bool own;
};
typedef void *mp_tok;
static inline bool mp_get(void *t, mp_tok *tok)
{
	struct mpctx *c = t;

	return rte_mempool_generic_get(c->mp, tok, 1, c->cache) == 0;
}
static inline bool mp_put(void *t, mp_tok tok)
{
	struct mpctx *c = t;

	rte_mempool_generic_put(c->mp, &tok, 1, c->cache);
	return true;
}
static inline void *mp_addr(void *t, mp_tok tok)
{
	(void)t;
	return tok;
}
static inline bool mp_get_n(void *t, mp_tok *toks, int n)
{
	struct mpctx *c = t;

	return rte_mempool_generic_get(c->mp, toks, (unsigned)n, c->cache) == 0;
}
static inline bool mp_put_n(void *t, mp_tok const *toks, int n)
{
	struct mpctx *c = t;

	rte_mempool_generic_put(c->mp, toks, (unsigned)n, c->cache);
	return true;
}
STAMP(mp)

static bool dpdk_up;
static char dpdk_why[256] = "DPDK EAL not started";
static unsigned mp_seq;

static int mp_create(struct run *r, unsigned cache, char *why, size_t whylen)
{
	char name[RTE_MEMPOOL_NAMESIZE];

	if (!dpdk_up) {
		snprintf(why, whylen, "%s", dpdk_why);
		return -ENODEV;
	}
	snprintf(name, sizeof(name), "bc%u", mp_seq++);
	r->shared = rte_mempool_create(name, r->cap, (unsigned)r->size, cache, 0, NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
	if (!r->shared) {
		snprintf(why, whylen, "rte_mempool_create: %s", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	return 0;
}

static int mp256_create(struct run *r, char *why, size_t whylen)
{
	return mp_create(r, 256, why, whylen);
}

static int mp0_create(struct run *r, char *why, size_t whylen)
{
	return mp_create(r, 0, why, whylen);
}

static void mp_destroy(struct run *r)
{
	rte_mempool_free(r->shared);
}

/* Each benchmark thread registers: that gives it an lcore id, so a mempool cache of its own. */
static void *mp_enter(struct run *r)
{
	struct rte_mempool *mp = r->shared;
	struct mpctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->mp = mp;
	if (r->own_caches) {
		if (mp->cache_size) {
			c->cache = rte_mempool_cache_create(mp->cache_size, SOCKET_ID_ANY);
			c->own = true;
		}
		return c;
	}
	if (rte_lcore_id() == LCORE_ID_ANY && rte_thread_register() != 0) {
		free(c);
		return NULL;
	}
	c->cache = rte_mempool_default_cache(mp, rte_lcore_id());
	return c;
}

static void mp_leave(struct run *r, void *t)
{
	struct mpctx *c = t;

	if (c->own && c->cache) {
		rte_mempool_cache_flush(c->cache, c->mp);
		rte_mempool_cache_free(c->cache);
	} else if (!r->own_caches) {
		if (c->cache)
			rte_mempool_cache_flush(c->cache, c->mp);
		rte_thread_unregister();
	}
	free(c);
}

static void dpdk_init(const char *argv0)
{
	dpdk_up = bench_dpdk_start(argv0, dpdk_why, sizeof(dpdk_why)) == 0;
}
#endif

#define VP(name, what, preload, pfx, create, destroy, enter, leave)                                      \
	{                                                                                                 \
		name, what, preload, create, destroy, enter, leave, pfx##_w1, pfx##_w2, pfx##_w4_producer, \
		    pfx##_w4_consumer, pfx##_w5_producer, pfx##_w5_consumer, pfx##_w4_single              \
	}
#define V(name, what, pfx, create, destroy, enter, leave) VP(name, what, NULL, pfx, create, destroy, enter, leave)

static int null_create(struct run *r, char *why, size_t whylen)
{
	(void)why;
	(void)whylen;
	r->shared = null_buf;
	return 0;
}

static void null_destroy(struct run *r)
{
	(void)r;
}

static const struct variant variants[] = {
	V("null_floor", "the loop alone", null, null_create, null_destroy, shared_enter, shared_leave),
	V("iobuf_cache_index", "pool-bound cache, raw index", cix, pool_create, pool_destroy, cache_pool_enter,
	  cache_leave),
	V("iobuf_cache_handle", "pool-bound cache, checked handles", chd, pool_create, pool_destroy, cache_pool_enter,
	  cache_leave),
	V("iobuf_cache_handle_unsafe", "pool-bound cache, handles, IOBUF_CACHE_UNSAFE_PUTS", chd, pool_create,
	  pool_destroy, cache_pool_unsafe_enter, cache_leave),
	V("iobuf_cache_set", "set-bound cache, handles, size->tier", cst, set_create, set_destroy, cache_set_enter,
	  cache_leave),
	V("iobuf_pool_index", "no cache: SCQ, raw index", pix, pool_create, pool_destroy, shared_enter, shared_leave),
	V("iobuf_pool_handle", "no cache: SCQ, checked handles", phd, pool_create, pool_destroy, shared_enter,
	  shared_leave),
#ifdef BENCH_WITH_DPDK
	V("dpdk_mempool_c256", "rte_mempool, lcore cache 256", mp, mp256_create, mp_destroy, mp_enter, mp_leave),
	V("dpdk_mempool_c0", "rte_mempool, no cache", mp, mp0_create, mp_destroy, mp_enter, mp_leave),
#endif
	VP("tcmalloc_minimal", "malloc/free, tcmalloc preloaded (child process)", "libtcmalloc_minimal.so.4", mal,
	   mal_create, mal_destroy, shared_enter, shared_leave),
};
#define NVAR ((int)(sizeof(variants) / sizeof(variants[0])))

/* ANCHORS.md, 64 B: tcmalloc_minimal, and the best peer of each workload. */
/* (W5 is not in ANCHORS.md: its ratios repeat W4's anchors, as a reference only.) */
static const double anchor_tcmalloc[6] = {0, 3.5, 4.6, 1.8, 219.2, 219.2};
static const double anchor_best[6] = {0, 3.5, 1.6, 1.8, 39.9, 39.9};
static const char *const anchor_best_name[6] = {"", "tcmalloc", "dpdk_c256/rte_ring", "tcmalloc", "dpdk_c256", "dpdk_c256 (W4)"};

/* ---- running ------------------------------------------------------------------- */

struct targ {
	const struct variant *v;
	int w;
	struct thr b;
	bool ok;
};

static void *thread_main(void *arg)
{
	struct targ *a = arg;
	struct run *r = a->b.r;
	int nthreads = a->w >= 3 ? 2 : 1;

	th_pin(a->b.id);
	a->b.t = a->v->enter(r);
	a->ok = a->b.t != NULL;
	bench_barrier_wait(&r->barrier, (unsigned)nthreads, r->counted);
	if (!a->ok) {
		fail(&a->b, "thread context could not be made");
		return NULL;
	}
	switch (a->w) {
	case 1:
	case 3:
		a->v->w1(&a->b);
		break;
	case 2:
		a->v->w2(&a->b);
		break;
	case 4:
		if (a->b.id == 0)
			a->v->w4p(&a->b);
		else
			a->v->w4c(&a->b);
		break;
	case 5:
		if (a->b.id == 0)
			a->v->w5p(&a->b);
		else
			a->v->w5c(&a->b);
		break;
	}
	a->v->leave(r, a->b.t);
	return NULL;
}

/* One run: fresh object, warm-up, timed (or counted) run.  Returns ns per pair, or < 0. */
static double run_once(const struct variant *v, int w, size_t size, uint32_t cap, uint64_t ms, uint64_t count,
		       char *why, size_t whylen)
{
	struct run *r = calloc(1, sizeof(*r));
	int nthreads = w >= 3 ? 2 : 1;
	struct targ a[2];
	pthread_t th[2];
	double ns = -1;

	r->size = size;
	r->cap = cap;
	r->ring_buf = calloc(RING_SLOTS, sizeof(*r->ring_buf));
	if (posix_memalign((void **)&r->fring, 128, sizeof(*r->fring)) != 0)
		r->fring = NULL;
	ck_ring_init(&r->ring, RING_SLOTS);
	if (v->create(r, why, whylen) < 0)
		goto out;
	for (int pass = 0; pass < 2; pass++) {
		bool counted = pass == 1 && count;

		r->barrier = 0;
		r->error = NULL;
		memset(r->fring, 0, sizeof(*r->fring));
		r->run_ns = pass == 0 ? ms * 1000000u / 5 + 1 : ms * 1000000u;
		r->count = pass == 0 && count ? count / 4 + BATCH : counted ? count : 0;
		r->counted = counted;
		if (count && w == 4) {
			/* Single-threaded handoff: two contexts, one thread. */
			struct thr b = {.r = r, .id = 0};
			void *t2;

			r->own_caches = true;
			b.t = v->enter(r);
			t2 = v->enter(r);
			if (!b.t || !t2) {
				snprintf(why, whylen, "thread context could not be made");
				break;
			}
#ifdef HAVE_VALGRIND_CALLGRIND_H
			if (counted) {
				CALLGRIND_ZERO_STATS;
				CALLGRIND_START_INSTRUMENTATION;
			}
#endif
			v->w4s(&b, t2);
#ifdef HAVE_VALGRIND_CALLGRIND_H
			if (counted)
				CALLGRIND_STOP_INSTRUMENTATION;
#endif
			v->leave(r, t2);
			v->leave(r, b.t);
			ns = r->error ? -1 : 0;
			continue;
		}
#ifdef HAVE_VALGRIND_CALLGRIND_H
		if (counted) {
			/* From before the threads start to after they end: their contexts are made and
			 * destroyed inside, a few thousand instructions against millions. */
			CALLGRIND_ZERO_STATS;
			CALLGRIND_START_INSTRUMENTATION;
		}
#endif
		for (int i = 0; i < nthreads; i++) {
			a[i] = (struct targ){.v = v, .w = w, .b = {.r = r, .id = i}};
			pthread_create(&th[i], NULL, thread_main, &a[i]);
		}
		for (int i = 0; i < nthreads; i++)
			pthread_join(th[i], NULL);
#ifdef HAVE_VALGRIND_CALLGRIND_H
		if (counted)
			CALLGRIND_STOP_INSTRUMENTATION;
#endif
		if (r->error) {
			snprintf(why, whylen, "%s", r->error);
			ns = -1;
			break;
		}
		if (w == 3) {
			double rate = 0;

			for (int i = 0; i < 2; i++)
				rate += (double)a[i].b.pairs / (double)(a[i].b.t1 - a[i].b.t0);
			ns = 1.0 / rate;
		} else if (w >= 4) {
			uint64_t t0 = a[0].b.t0 < a[1].b.t0 ? a[0].b.t0 : a[1].b.t0;
			uint64_t t1 = a[0].b.t1 > a[1].b.t1 ? a[0].b.t1 : a[1].b.t1;

			if (a[1].b.pairs != a[0].b.pairs) {
				snprintf(why, whylen, "handoff lost buffers: %" PRIu64 " sent, %" PRIu64 " put",
					 a[0].b.pairs, a[1].b.pairs);
				ns = -1;
				break;
			}
			ns = (double)(t1 - t0) / (double)a[0].b.pairs;
		} else {
			ns = (double)(a[0].b.t1 - a[0].b.t0) / (double)a[0].b.pairs;
		}
	}
	v->destroy(r);
out:
	free(r->ring_buf);
	free(r->fring);
	free(r);
	return ns;
}

/*
 * A run of a variant that needs its own process (a preloaded malloc):
 * this program again, with LD_PRELOAD, "--child", one timed run; it
 * prints "ns X" or "skip REASON".
 */
static double run_child(const char *self, int vi, int w, size_t size, uint32_t cap, uint64_t ms, char *why,
			size_t whylen)
{
	char sv[16], sw[16], ssz[32], scap[32], sms[32], line[256];
	int fd[2], st;
	double ns = -1;
	pid_t pid;
	FILE *f;

	snprintf(sv, sizeof(sv), "%d", vi);
	snprintf(sw, sizeof(sw), "%d", w);
	snprintf(ssz, sizeof(ssz), "%zu", size);
	snprintf(scap, sizeof(scap), "%u", cap);
	snprintf(sms, sizeof(sms), "%" PRIu64, ms);
	if (pipe(fd) != 0)
		return -1;
	fflush(stdout); /* the child must not inherit unwritten output */
	pid = fork();
	if (pid == 0) {
		char *argv[] = {(char *)self, "--child", sv, sw, ssz, scap, sms, NULL};

		dup2(fd[1], 1);
		close(fd[0]);
		setenv("LD_PRELOAD", variants[vi].preload, 1);
		execv(self, argv);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "ns %lf", &ns) == 1)
			continue;
		if (strncmp(line, "skip ", 5) == 0) {
			line[strcspn(line, "\n")] = 0;
			snprintf(why, whylen, "%.150s", line + 5);
		}
	}
	if (f)
		fclose(f);
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		ns = -1;
	if (ns < 0 && !why[0])
		snprintf(why, whylen, "the child process failed");
	return ns;
}

/* Instructions per pair of one variant and workload: this program under callgrind. */
static double callgrind_ir(const char *self, const char *valgrind, int vi, int w, size_t size, uint32_t cap,
			   uint64_t count, uint64_t pairs)
{
	char sv[16], sw[16], ssz[32], scap[32], sp[32];
	char *args[] = {(char *)self, "--count-one", sv, sw, ssz, scap, sp, NULL};

	snprintf(sv, sizeof(sv), "%d", vi);
	snprintf(sw, sizeof(sw), "%d", w);
	snprintf(ssz, sizeof(ssz), "%zu", size);
	snprintf(scap, sizeof(scap), "%u", cap);
	snprintf(sp, sizeof(sp), "%" PRIu64, count);
	return bench_callgrind_ir(valgrind, "bench_cache", args, variants[vi].preload, pairs);
}

int main(int argc, char **argv)
{
	int rounds = 5, only_w = 0;
	uint64_t ms = 500, cg_pairs = 1000 * BATCH;
	size_t size = 64;
	uint32_t cap = 1024;
	const char *valgrind = NULL, *only = NULL;
	static double ns[NVAR][6][32], ir[NVAR][6];
	static char skip[NVAR][6][160];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			rounds = 3;
			ms = 50;
			cg_pairs = 100 * BATCH;
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
			ms = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
			size = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--cap") == 0 && i + 1 < argc) {
			cap = (uint32_t)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--valgrind") == 0 && i + 1 < argc) {
			valgrind = argv[++i];
		} else if (strcmp(argv[i], "--magazine") == 0 && i + 1 < argc) {
			opt_magazine = (uint32_t)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (strcmp(argv[i], "--workload") == 0 && i + 1 < argc) {
			/* 1..5 */
			only_w = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--child") == 0 && i + 5 < argc) {
			/* Internal: one timed run in this process (started with LD_PRELOAD by run_child()). */
			char why[160] = "";
			double one = run_once(&variants[atoi(argv[i + 1])], atoi(argv[i + 2]), strtoull(argv[i + 3], NULL, 10),
					      (uint32_t)strtoul(argv[i + 4], NULL, 10), strtoull(argv[i + 5], NULL, 10), 0,
					      why, sizeof(why));

			if (one < 0)
				printf("skip %s\n", why[0] ? why : "failed");
			else
				printf("ns %.6f\n", one);
			return 0;
		} else if (strcmp(argv[i], "--count-one") == 0 && i + 5 < argc) {
			/* Internal: one counted run, under callgrind. */
			int vi = atoi(argv[i + 1]), w = atoi(argv[i + 2]);
			char why[160];

#ifdef BENCH_WITH_DPDK
			if (strncmp(variants[vi].name, "dpdk", 4) == 0)
				dpdk_init(argv[0]);
#endif
			return run_once(&variants[vi], w, strtoull(argv[i + 3], NULL, 10),
					(uint32_t)strtoul(argv[i + 4], NULL, 10), 1, strtoull(argv[i + 5], NULL, 10), why,
					sizeof(why)) < 0;
		} else {
			fprintf(stderr,
				"usage: %s [--quick] [--rounds N] [--ms MS] [--size B] [--cap N] [--magazine M] "
				"[--valgrind PATH] [--only NAME] [--workload 1-5]\n",
				argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > 32)
		rounds = 5;
#ifdef BENCH_WITH_DPDK
	dpdk_init(argv[0]);
#endif
	printf("# bench_cache: %zu B buffers, pool of %u, %d rounds of %" PRIu64 " ms (median), %d cores, "
	       "iobuf %s\n",
	       size, cap, rounds, ms, th_ncpus(), IOBUF_VERSION_STRING);
#ifdef BENCH_WITH_DPDK
	printf("# dpdk: %s\n", dpdk_up ? rte_version() : dpdk_why);
#else
	printf("# dpdk: not configured (libdpdk-dev)\n");
#endif
	/* Rounds interleave the variants: round r runs every variant once, each workload in turn. */
	for (int round = 0; round < rounds; round++) {
		for (int w = 1; w <= 5; w++) {
			if (only_w && w != only_w)
				continue;
			for (int vi = 0; vi < NVAR; vi++) {
				if (only && strcmp(only, variants[vi].name) != 0 && strcmp(variants[vi].name, "null_floor"))
					continue;
				if (skip[vi][w][0])
					continue;
				if (variants[vi].preload)
					ns[vi][w][round] = run_child(argv[0], vi, w, size, cap, ms, skip[vi][w],
								     sizeof(skip[vi][w]));
				else
					ns[vi][w][round] = run_once(&variants[vi], w, size, cap, ms, 0, skip[vi][w],
								    sizeof(skip[vi][w]));
				if (ns[vi][w][round] < 0 && !skip[vi][w][0])
					snprintf(skip[vi][w], sizeof(skip[vi][w]), "failed");
			}
		}
		fprintf(stderr, "round %d/%d done\n", round + 1, rounds);
	}
	for (int vi = 0; vi < NVAR; vi++)
		for (int w = 1; w <= 5; w++)
			ir[vi][w] = -1;
#ifdef HAVE_VALGRIND_CALLGRIND_H
	if (valgrind && *valgrind) {
		for (int vi = 0; vi < NVAR; vi++) {
			if (only && strcmp(only, variants[vi].name) != 0 && strcmp(variants[vi].name, "null_floor"))
				continue;
			for (int w = 1; w <= 5; w++) {
				if ((only_w && w != only_w) || skip[vi][w][0])
					continue;
				/*
				 * W3 runs W1's loop on each thread, on a context of its
				 * own: the same instructions per pair.  (Two threads under
				 * valgrind run one at a time, so a peer that spins for
				 * the other, as rte_ring's producers do, never finishes.)
				 */
				if (w == 5)
					continue; /* not counted: the instructions are W4's but for the ring's */
				if (w == 3) {
					ir[vi][w] = ir[vi][1] >= 0 || (only_w && only_w != 1)
							? ir[vi][1]
							: callgrind_ir(argv[0], valgrind, vi, 1, size, cap, cg_pairs, cg_pairs);
					continue;
				}
				ir[vi][w] = callgrind_ir(argv[0], valgrind, vi, w, size, cap, cg_pairs, cg_pairs);
			}
		}
	}
#endif
	for (int w = 1; w <= 5; w++) {
		static const char *const title[6] = {"", "W1 one thread: get, touch, put",
						     "W2 one thread: bulk get 32, touch, bulk put 32",
						     "W3 two threads x W1, one cache each (ns = 1 / aggregate rate)",
						     "W4 handoff: get on core 0 -> SPSC ring -> put on core 1 (ns per buffer)",
						     "W5 = W4 through a ring that publishes its cursors in batches (ns per buffer)"};
		double ref = -1;
		int ref_vi = -1;

		if (only_w && w != only_w)
			continue;
		for (int vi = 0; vi < NVAR; vi++)
			if (strcmp(variants[vi].name, "dpdk_mempool_c256") == 0 && !skip[vi][w][0])
				ref_vi = vi;
		printf("\n## %s\n\n", title[w]);
		printf("| variant | ns/pair | best | Mops/s | spread | instr/pair | vs dpdk_c256 | vs tcmalloc (ANCHORS %.1f) | "
		       "vs best peer (ANCHORS %s %.1f) |\n",
		       anchor_tcmalloc[w], anchor_best_name[w], anchor_best[w]);
		printf("|---|---|---|---|---|---|---|---|---|\n");
		if (ref_vi >= 0) {
			qsort(ns[ref_vi][w], (size_t)rounds, sizeof(double), bench_cmp_double);
			ref = ns[ref_vi][w][rounds / 2];
		}
		for (int vi = 0; vi < NVAR; vi++) {
			double med, lo, hi;
			char irs[32] = "-", rs[32] = "-";

			if (only && strcmp(only, variants[vi].name) != 0 && strcmp(variants[vi].name, "null_floor"))
				continue;
			if (skip[vi][w][0]) {
				printf("| %s | skipped: %s | | | | | | | |\n", variants[vi].name, skip[vi][w]);
				continue;
			}
			if (vi != ref_vi)
				qsort(ns[vi][w], (size_t)rounds, sizeof(double), bench_cmp_double);
			med = ns[vi][w][rounds / 2];
			lo = ns[vi][w][0];
			hi = ns[vi][w][rounds - 1];
			if (ir[vi][w] >= 0)
				snprintf(irs, sizeof(irs), "%.1f", ir[vi][w]);
			if (ref > 0)
				snprintf(rs, sizeof(rs), "%.2fx", med / ref);
			printf("| %s | %.2f | %.2f | %.1f | %.0f%% | %s | %s | %.2fx | %.2fx |\n", variants[vi].name, med, lo,
			       1e3 / med, 100.0 * (1e3 / lo - 1e3 / hi) / (1e3 / med), irs, rs, med / anchor_tcmalloc[w],
			       med / anchor_best[w]);
		}
	}
#ifdef BENCH_WITH_DPDK
	if (dpdk_up)
		rte_eal_cleanup();
#endif
	return 0;
}
