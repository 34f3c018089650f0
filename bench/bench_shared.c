/* SPDX-License-Identifier: MIT */
/*
 * bench_shared.c - shared buffers (iobuf/slice.h): holders and slices
 * against DPDK's mbuf reference counts and clones, and against what a
 * user writes by hand, in one process:
 *
 *   H1  one thread: add a holder and drop it, the buffer staying held by
 *       a base holder (iobuf_hold(+1) + a put; rte_mbuf_refcnt_update
 *       +1/-1; rte_pktmbuf_clone + rte_pktmbuf_free; an atomic counter)
 *   H2  one thread, the last holder's path: get, add a holder, put, put
 *       (the second put returns the buffer); rte_pktmbuf_alloc + refcnt
 *       + free + free, or alloc + clone + free + free
 *   H3  two threads, one per core: A gets, adds a holder for B, drops
 *       its own and hands the buffer through an SPSC ring of 256 slots
 *       to B, the last holder, whose put returns it; ns per buffer
 *   S1  slices -> iovec: 8 slices of one 4 KiB buffer (already cut) into
 *       an iovec with iobuf_iov_from_slices(), against an iovec built by
 *       hand from the base address and the lengths, and against 8 mbuf
 *       clones read with rte_pktmbuf_mtod() and data_len
 *   S2  a 4 KiB buffer cut into 8 messages, an iovec of them, the
 *       messages put (what follows a writev): clone + 7 splits +
 *       iobuf_iov_from_slices() + iobuf_slices_consume(), against the
 *       iovec by hand (no holders), one hold around the iovec by hand,
 *       and 8 rte_pktmbuf_clone + rte_pktmbuf_adj/trim + free
 *
 * One op is one line of the list above (H3: one buffer handed over; S1,
 * S2: one buffer of 8 messages).  The iobuf buffers are 4 KiB (a set
 * with that one tier, or a pool), 1024 of them; DPDK's are mbufs of a
 * pktmbuf pool of 1024 with 4 KiB of data room and a per-lcore cache of
 * 256, clones come from a second pool of 2048 (data room 0, cache 256);
 * every benchmark thread registers with rte_thread_register(), so it
 * has a cache of its own as an lcore would.  DPDK is used only when
 * configure found it; its rows say skipped otherwise.
 *
 * Method, as bench_cache: every run makes fresh pools, runs the case
 * untimed (a fifth of the time), then timed; rounds interleave the
 * cases; the figure is the median of the rounds, "best" the fastest,
 * the spread (max - min) / median of the rates.  Threads are pinned
 * with th_pin().  Ratios are against the first iobuf row of the
 * workload.
 *
 * Instructions per op: with --valgrind PATH the program runs itself
 * under callgrind --instr-atstart=no once per case, a fixed number of
 * ops, the timed loop alone instrumented.  H3 is counted on one thread,
 * A's and B's steps interleaved through a local FIFO, through one
 * context (one cache, one lcore) for both sides, so no spin-wait and no
 * transfer between two caches is counted, for any row.
 *
 * After every pass the pools must be whole again (every buffer back,
 * none shared, no put refused; for DPDK every mbuf and clone back): a
 * case that fails that, or whose calls are refused, prints its row as
 * failed and the program exits 1 (a missing or unstartable DPDK is not a
 * failure: its rows say skipped).
 *
 * Usage: bench_shared [--quick] [--rounds N] [--ms MS] [--valgrind PATH]
 *                     [--only NAME] [--workload H1|H2|H3|S1|S2]
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ck_pr.h>

#include <iobuf/cache.h>
#include <iobuf/iov.h>
#include <iobuf/pool.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#include "../tests/common/thread.h"
#include "util.h"

#ifdef HAVE_VALGRIND_CALLGRIND_H
#include <valgrind/callgrind.h>
#endif

#ifdef BENCH_WITH_DPDK
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_version.h>

#include "dpdk_eal.h"
#endif

#define BATCH 1024
#define RING_SLOTS 256
#define END_TOKEN UINT64_MAX
#define SIZE 4096
#define CAP 1024
#define NMSG 8

typedef uint64_t tok_t;

enum { H1 = 1, H2, H3, S1, S2, NW };
static const char *const wname[NW] = {"", "H1", "H2", "H3", "S1", "S2"};

/* The 8 messages of a 4 KiB buffer: not all the same length, as a stream's are. */
static uint32_t msg_len[NMSG] = {64, 448, 512, 1024, 256, 768, 128, 896};

/*
 * H3's channel: a single-producer single-consumer ring of tokens, each
 * side reading the other's cursor on every call (so the cursors' lines
 * move once per token, as with ck_ring's SPSC ring, which ANCHORS.md's W4
 * used), with C11 acquire and release so ThreadSanitizer sees the
 * handoff.  On x86 every access is a plain mov.
 */
struct spsc {
	_Alignas(128) uint64_t head; /* written by the producer */
	_Alignas(128) uint64_t tail; /* written by the consumer */
	_Alignas(128) uint64_t slot[RING_SLOTS];
};

static inline bool spsc_push(struct spsc *q, uint64_t v)
{
	uint64_t h = __atomic_load_n(&q->head, __ATOMIC_RELAXED);

	/* Q2: acquire, pairs with Q3: the consumer read the slot before it moved tail past it. */
	if (h - __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE) == RING_SLOTS)
		return false;
	q->slot[h % RING_SLOTS] = v;
	/* Q1: release, pairs with Q4: the slot, and what the token names, before the cursor. */
	__atomic_store_n(&q->head, h + 1, __ATOMIC_RELEASE);
	return true;
}

static inline bool spsc_pop(struct spsc *q, uint64_t *v)
{
	uint64_t t = __atomic_load_n(&q->tail, __ATOMIC_RELAXED);

	/* Q4: acquire, pairs with Q1. */
	if (t == __atomic_load_n(&q->head, __ATOMIC_ACQUIRE))
		return false;
	*v = q->slot[t % RING_SLOTS];
	/* Q3: release, pairs with Q2. */
	__atomic_store_n(&q->tail, t + 1, __ATOMIC_RELEASE);
	return true;
}

/* ---- what a run shares --------------------------------------------------------- */

struct run {
	struct iobuf_set *set;   /* one tier of 1024 buffers of 4 KiB */
	struct iobuf_pool *pool; /* the same, standalone (pool-bound caches, raw indices) */
	uint32_t *refs;          /* the hand-written counters: one per buffer of pool */
	void *mp, *mpi;          /* DPDK: the mbufs and the clones' pool */
	uint64_t run_ns;         /* timed: stop after this long */
	uint64_t count;          /* counted: stop after this many ops */
	bool counted;
	unsigned barrier;
	struct spsc *ring;
	const char *error;
};

/* A thread's context: whatever its case uses. */
struct ctx {
	struct run *r;
	struct iobuf_set *set;
	struct iobuf_pool *pool;
	struct iobuf_cache *cache;
	iobuf_handle_t base;           /* H1, S1, S2: the base holder, kept for the whole run */
	struct iobuf_slice whole;      /* S2: the base holder's view of the 4 KiB */
	struct iobuf_slice cut[NMSG];  /* S1: the 8 messages, already cut */
	uint8_t *addr;                 /* the base buffer's address */
	void *m;                       /* DPDK: the base mbuf */
	void *mc[NMSG];                /* DPDK, S1: 8 clones, already cut */
	bool registered;
};

struct thr {
	struct run *r;
	int id;
	struct ctx *t;
	uint64_t t0, t1, ops;
	uint64_t stalls, stall_since; /* the producer's wait for an empty pool (starved()) */
};

static inline bool done(const struct thr *b, uint64_t ops)
{
	if (b->r->count)
		return ops >= b->r->count;
	return th_now_ns() - b->t0 >= b->r->run_ns;
}

/*
 * A producer that finds the pool empty waits for the consumer's puts;
 * true once it has waited WATCHDOG_NS without a buffer (the buffers
 * leaked: a bug, never a slow machine at this bound).
 */
#define WATCHDOG_NS (UINT64_C(10) * 1000000000u)
static bool starved(struct thr *b)
{
	uint64_t now;

	ck_pr_stall();
	if (++b->stalls % 4096)
		return false;
	now = th_now_ns();
	if (!b->stall_since)
		b->stall_since = now;
	return now - b->stall_since > WATCHDOG_NS;
}

static void fail(struct thr *b, const char *what)
{
	if (!ck_pr_load_ptr(&b->r->error))
		ck_pr_store_ptr(&b->r->error, what);
}

/* The iovec leaves the compiler's sight, as it would go to writev(2). */
static inline void sink(struct iovec *iov)
{
	__asm__ volatile("" : : "r"(iov) : "memory");
}

/*
 * The loops, stamped out per case P from its inline operations:
 *   one thread:   bool P_op(struct ctx *t, unsigned i)
 *   two threads:  int P_send(struct ctx *t, tok_t *tok)    (A: get, hold, drop its own;
 *                                                          1, 0 for an empty pool, -1 refused)
 *                 bool P_recv(struct ctx *t, tok_t tok)    (B: the last put)
 */
#define STAMP1(P)                                                                                  \
	static __attribute__((noinline)) void P##_one(struct thr *b)                               \
	{                                                                                          \
		struct ctx *t = b->t;                                                              \
		uint64_t ops = 0;                                                                  \
		b->t0 = th_now_ns();                                                               \
		for (;;) {                                                                         \
			for (unsigned i = 0; i < BATCH; i++)                                       \
				if (__builtin_expect(!P##_op(t, i), 0)) {                          \
					fail(b, #P ": an operation was refused");                  \
					goto out;                                                  \
				}                                                                  \
			ops += BATCH;                                                              \
			if (done(b, ops))                                                          \
				break;                                                             \
		}                                                                                  \
	out:                                                                                       \
		b->t1 = th_now_ns();                                                               \
		b->ops = ops;                                                                      \
	}

#define STAMP2(P)                                                                                  \
	static __attribute__((noinline)) void P##_prod(struct thr *b)                              \
	{                                                                                          \
		struct ctx *t = b->t;                                                              \
		uint64_t ops = 0;                                                                  \
		tok_t tok;                                                                         \
		b->t0 = th_now_ns();                                                               \
		for (;;) {                                                                         \
			for (unsigned i = 0; i < BATCH; i++) {                                     \
				int rc;                                                            \
				/* Buffers parked in B's cache come back later. */                 \
				while (__builtin_expect((rc = P##_send(t, &tok)) == 0, 0))         \
					if (starved(b)) {                                          \
						fail(b, #P ": no buffer came back for 10 s");      \
						goto out;                                          \
					}                                                          \
				b->stall_since = 0;                                                \
				if (__builtin_expect(rc < 0, 0)) {                                 \
					fail(b, #P ": a hold or a put was refused");               \
					goto out;                                                  \
				}                                                                  \
				while (!spsc_push(b->r->ring, tok))                                \
					ck_pr_stall();                                             \
			}                                                                          \
			ops += BATCH;                                                              \
			if (done(b, ops) || ck_pr_load_ptr(&b->r->error))                          \
				break;                                                             \
		}                                                                                  \
	out:                                                                                       \
		while (!spsc_push(b->r->ring, END_TOKEN))                                          \
			ck_pr_stall();                                                             \
		b->t1 = th_now_ns();                                                               \
		b->ops = ops;                                                                      \
	}                                                                                          \
	static __attribute__((noinline)) void P##_cons(struct thr *b)                              \
	{                                                                                          \
		struct ctx *t = b->t;                                                              \
		uint64_t ops = 0;                                                                  \
		tok_t p;                                                                           \
		b->t0 = th_now_ns();                                                               \
		for (;;) {                                                                         \
			if (!spsc_pop(b->r->ring, &p)) {                                           \
				ck_pr_stall();                                                     \
				continue;                                                          \
			}                                                                          \
			if (p == END_TOKEN)                                                        \
				break;                                                             \
			if (__builtin_expect(!P##_recv(t, p), 0))                                  \
				fail(b, #P ": the last put was refused");                          \
			ops++;                                                                     \
		}                                                                                  \
		b->t1 = th_now_ns();                                                               \
		b->ops = ops;                                                                      \
	}                                                                                          \
	/* Counted on one thread: A's and B's steps through a local FIFO. */                     \
	static __attribute__((noinline)) void P##_single(struct thr *b)                            \
	{                                                                                          \
		struct ctx *t = b->t;                                                              \
		tok_t fifo[RING_SLOTS];                                                            \
		uint64_t head = 0, tail = 0;                                                       \
		for (uint64_t i = 0; i < b->r->count; i++) {                                       \
			if (head - tail == RING_SLOTS - 1 && !P##_recv(t, fifo[tail++ % RING_SLOTS])) \
				fail(b, #P ": the last put was refused");                          \
			if (P##_send(t, &fifo[head++ % RING_SLOTS]) <= 0) {                        \
				fail(b, #P ": a get found the pool empty, or a hold was refused"); \
				head--;                                                            \
				break;                                                             \
			}                                                                          \
		}                                                                                  \
		while (tail != head)                                                               \
			(void)P##_recv(t, fifo[tail++ % RING_SLOTS]);                              \
		b->ops = b->r->count;                                                              \
	}

/* ---- the floor: the loops alone ------------------------------------------------ */

static inline bool null_op(struct ctx *t, unsigned i)
{
	(void)t;
	__asm__ volatile("" : : "r"(i) : "memory");
	return true;
}
STAMP1(null)

static inline int null_send(struct ctx *t, tok_t *tok)
{
	(void)t;
	*tok = 1;
	return 1;
}
static inline bool null_recv(struct ctx *t, tok_t tok)
{
	(void)t;
	__asm__ volatile("" : : "r"(tok) : "memory");
	return true;
}
STAMP2(null)

/* ---- H1: add a holder and drop it; the base holder stays ----------------------- */

/* iobuf_hold() and iobuf_put() on a set's handle. */
static inline bool h1set_op(struct ctx *t, unsigned i)
{
	(void)i;
	return iobuf_hold(t->set, t->base, 1) == 0 && iobuf_put(t->set, t->base) == 0;
}
STAMP1(h1set)

/* The same through the tier's pool: iobuf_pool_hold(), iobuf_pool_put(). */
static inline bool h1pool_op(struct ctx *t, unsigned i)
{
	(void)i;
	return iobuf_pool_hold(t->pool, t->base, 1) == 0 && iobuf_pool_put(t->pool, t->base) == 0;
}
STAMP1(h1pool)

/* iobuf_hold(), and the drop through the thread's cache: iobuf_cache_put() (out of line for a shared buffer). */
static inline bool h1cache_op(struct ctx *t, unsigned i)
{
	(void)i;
	return iobuf_hold(t->set, t->base, 1) == 0 && iobuf_cache_put(t->cache, t->base) == 0;
}
STAMP1(h1cache)

/*
 * What a user writes: an atomic counter beside the buffer.  The add is
 * relaxed (only a holder adds); the drop releases, and the last one
 * acquires before it would free (R1: acquire, pairs with the release of
 * every drop before it).
 */
static inline uint32_t hand_drop(uint32_t *c)
{
	uint32_t left = __atomic_sub_fetch(c, 1, __ATOMIC_RELEASE);

	if (left == 0)
		__atomic_thread_fence(__ATOMIC_ACQUIRE); /* R1 */
	return left;
}

static inline bool h1hand_op(struct ctx *t, unsigned i)
{
	uint32_t *c = &t->r->refs[iobuf_handle_index(t->base)];

	(void)i;
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
	return hand_drop(c) != 0;
}
STAMP1(h1hand)

/* ---- H2: get, add a holder, put, put (the last put returns the buffer) ---------- */

static inline bool h2set_op(struct ctx *t, unsigned i)
{
	iobuf_handle_t h;

	(void)i;
	return iobuf_get(t->set, SIZE, &h) == 0 && iobuf_hold(t->set, h, 1) == 0 && iobuf_put(t->set, h) == 0 &&
	       iobuf_put(t->set, h) == 0;
}
STAMP1(h2set)

static inline bool h2cache_op(struct ctx *t, unsigned i)
{
	iobuf_handle_t h;

	(void)i;
	return iobuf_cache_get(t->cache, SIZE, &h) == 0 && iobuf_hold(t->set, h, 1) == 0 &&
	       iobuf_cache_put(t->cache, h) == 0 && iobuf_cache_put(t->cache, h) == 0;
}
STAMP1(h2cache)

/* The reference: the same get and put with one owner (bench_cache's W1 at 4 KiB). */
static inline bool h2cache1_op(struct ctx *t, unsigned i)
{
	iobuf_handle_t h;

	(void)i;
	return iobuf_cache_get(t->cache, SIZE, &h) == 0 && iobuf_cache_put(t->cache, h) == 0;
}
STAMP1(h2cache1)

/* By hand: raw indices through a pool-bound cache, and the user's counter beside each buffer. */
static inline bool h2hand_op(struct ctx *t, unsigned i)
{
	int x = iobuf_cache_get_index(t->cache);
	uint32_t *c;

	(void)i;
	if (x < 0)
		return false;
	c = &t->r->refs[x];
	__atomic_store_n(c, 1, __ATOMIC_RELAXED); /* a fresh buffer: no other thread sees it yet */
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
	if (hand_drop(c) == 0)
		return false;
	return hand_drop(c) == 0 && iobuf_cache_put_index(t->cache, (uint32_t)x) == 0;
}
STAMP1(h2hand)

/* ---- H3: A gets, adds B's holder, drops its own; B's put is the last ------------ */

static inline int h3cache_send(struct ctx *t, tok_t *tok)
{
	iobuf_handle_t h;

	if (iobuf_cache_get(t->cache, SIZE, &h) != 0)
		return 0;
	*tok = h;
	return iobuf_hold(t->set, h, 1) == 0 && iobuf_cache_put(t->cache, h) == 0 ? 1 : -1;
}
static inline bool h3cache_recv(struct ctx *t, tok_t tok)
{
	return iobuf_cache_put(t->cache, tok) == 0;
}
STAMP2(h3cache)

static inline int h3set_send(struct ctx *t, tok_t *tok)
{
	iobuf_handle_t h;

	if (iobuf_get(t->set, SIZE, &h) != 0)
		return 0;
	*tok = h;
	return iobuf_hold(t->set, h, 1) == 0 && iobuf_put(t->set, h) == 0 ? 1 : -1;
}
static inline bool h3set_recv(struct ctx *t, tok_t tok)
{
	return iobuf_put(t->set, tok) == 0;
}
STAMP2(h3set)

/* The reference: one owner, A gets, B puts (bench_cache's W4 at 4 KiB). */
static inline int h3cache1_send(struct ctx *t, tok_t *tok)
{
	iobuf_handle_t h;

	if (iobuf_cache_get(t->cache, SIZE, &h) != 0)
		return 0;
	*tok = h;
	return 1;
}
#define h3cache1_recv h3cache_recv
STAMP2(h3cache1)

static inline int h3hand_send(struct ctx *t, tok_t *tok)
{
	int x = iobuf_cache_get_index(t->cache);
	uint32_t *c;

	if (x < 0)
		return 0;
	*tok = (tok_t)x;
	c = &t->r->refs[x];
	__atomic_store_n(c, 2, __ATOMIC_RELAXED); /* ours and B's; the ring publishes it to B */
	return hand_drop(c) != 0 ? 1 : -1;
}
static inline bool h3hand_recv(struct ctx *t, tok_t tok)
{
	return hand_drop(&t->r->refs[tok]) == 0 && iobuf_cache_put_index(t->cache, (uint32_t)tok) == 0;
}
STAMP2(h3hand)

/* ---- S1: 8 slices, already cut, into an iovec ---------------------------------- */

static inline bool s1slices_op(struct ctx *t, unsigned i)
{
	struct iovec iov[NMSG];

	(void)i;
	if (iobuf_iov_from_slices(t->set, t->cut, NMSG, iov) != NMSG)
		return false;
	sink(iov);
	return true;
}
STAMP1(s1slices)

/* By hand: the base address the caller kept, and the lengths. */
static inline bool s1hand_op(struct ctx *t, unsigned i)
{
	struct iovec iov[NMSG];
	size_t off = 0;

	(void)i;
	for (int j = 0; j < NMSG; j++) {
		iov[j].iov_base = t->addr + off;
		iov[j].iov_len = msg_len[j];
		off += msg_len[j];
	}
	sink(iov);
	return true;
}
STAMP1(s1hand)

/* ---- S2: cut 4 KiB into 8 messages, an iovec, put the messages ------------------ */

static inline bool s2slices_op(struct ctx *t, unsigned i)
{
	struct iobuf_slice s[NMSG];
	struct iovec iov[NMSG];

	(void)i;
	if (iobuf_slice_clone(t->set, &t->whole, &s[0]) != 0)
		return false;
	for (int j = 0; j + 1 < NMSG; j++)
		if (iobuf_slice_split(t->set, &s[j], msg_len[j], &s[j + 1]) != 0)
			return false;
	if (iobuf_iov_from_slices(t->set, s, NMSG, iov) != NMSG)
		return false;
	sink(iov);
	return iobuf_slices_consume(t->set, s, NMSG, SIZE) == NMSG;
}
STAMP1(s2slices)

/* The iovec by hand, no holders: the caller's one holder covers the write (S1's hand row, for S2). */
#define s2hand_op s1hand_op
STAMP1(s2hand)

/* One holder added for the write and dropped after it, the iovec by hand. */
static inline bool s2hold1_op(struct ctx *t, unsigned i)
{
	if (iobuf_hold(t->set, t->base, 1) != 0)
		return false;
	(void)s1hand_op(t, i);
	return iobuf_put(t->set, t->base) == 0;
}
STAMP1(s2hold1)

/* ---- DPDK ---------------------------------------------------------------------- */

#ifdef BENCH_WITH_DPDK
static bool dpdk_up;
static char dpdk_why[256] = "DPDK EAL not started";
static unsigned mp_seq;

/* H1: rte_mbuf_refcnt_update(+1) (a plain store while the count is 1), then (-1) (atomic). */
static inline bool h1dref_op(struct ctx *t, unsigned i)
{
	(void)i;
	rte_mbuf_refcnt_update(t->m, 1);
	return rte_mbuf_refcnt_update(t->m, -1) == 1;
}
STAMP1(h1dref)

/* H1: an indirect mbuf, what DPDK users share with: rte_pktmbuf_clone() + rte_pktmbuf_free(). */
static inline bool h1dclone_op(struct ctx *t, unsigned i)
{
	struct rte_mbuf *c = rte_pktmbuf_clone(t->m, t->r->mpi);

	(void)i;
	if (!c)
		return false;
	rte_pktmbuf_free(c);
	return true;
}
STAMP1(h1dclone)

/* H2: rte_pktmbuf_alloc + refcnt(+1) + rte_pktmbuf_free twice. */
static inline bool h2dref_op(struct ctx *t, unsigned i)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(t->r->mp);

	(void)i;
	if (!m)
		return false;
	rte_mbuf_refcnt_update(m, 1);
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(m);
	return true;
}
STAMP1(h2dref)

/* H2: alloc + clone, free the mbuf then the clone (which frees both). */
static inline bool h2dclone_op(struct ctx *t, unsigned i)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(t->r->mp), *c;

	(void)i;
	if (!m)
		return false;
	c = rte_pktmbuf_clone(m, t->r->mpi);
	rte_pktmbuf_free(m);
	if (!c)
		return false;
	rte_pktmbuf_free(c);
	return true;
}
STAMP1(h2dclone)

/* H2's reference: alloc + free, one owner. */
static inline bool h2d1_op(struct ctx *t, unsigned i)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(t->r->mp);

	(void)i;
	if (!m)
		return false;
	rte_pktmbuf_free(m);
	return true;
}
STAMP1(h2d1)

/* H3: A allocs, refcnt(+1), frees its own; B's rte_pktmbuf_free() is the last. */
static inline int h3dref_send(struct ctx *t, tok_t *tok)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(t->r->mp);

	if (!m)
		return 0;
	rte_mbuf_refcnt_update(m, 1);
	rte_pktmbuf_free(m);
	*tok = (tok_t)(uintptr_t)m;
	return 1;
}
static inline bool h3dref_recv(struct ctx *t, tok_t tok)
{
	(void)t;
	rte_pktmbuf_free((struct rte_mbuf *)(uintptr_t)tok);
	return true;
}
STAMP2(h3dref)

/* H3: A allocs, clones, frees the mbuf and hands the clone; B's free of the clone frees both. */
static inline int h3dclone_send(struct ctx *t, tok_t *tok)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(t->r->mp), *c;

	if (!m)
		return 0;
	c = rte_pktmbuf_clone(m, t->r->mpi);
	rte_pktmbuf_free(m);
	if (!c)
		return 0;
	*tok = (tok_t)(uintptr_t)c;
	return 1;
}
#define h3dclone_recv h3dref_recv
STAMP2(h3dclone)

/* H3's reference: one owner, A allocs, B frees. */
static inline int h3d1_send(struct ctx *t, tok_t *tok)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(t->r->mp);

	*tok = (tok_t)(uintptr_t)m;
	return m != NULL;
}
#define h3d1_recv h3dref_recv
STAMP2(h3d1)

/* S1: 8 clones, already cut, into an iovec. */
static inline bool s1dpdk_op(struct ctx *t, unsigned i)
{
	struct iovec iov[NMSG];

	(void)i;
	for (int j = 0; j < NMSG; j++) {
		struct rte_mbuf *c = t->mc[j];

		iov[j].iov_base = rte_pktmbuf_mtod(c, void *);
		iov[j].iov_len = c->data_len;
	}
	sink(iov);
	return true;
}
STAMP1(s1dpdk)

/* S2: per message a clone cut to it with rte_pktmbuf_adj() and rte_pktmbuf_trim(); the iovec; 8 frees. */
static inline bool s2dpdk_op(struct ctx *t, unsigned i)
{
	struct rte_mbuf *c[NMSG];
	struct iovec iov[NMSG];
	uint32_t off = 0;
	bool ok = true;
	int n = 0;

	(void)i;
	for (; n < NMSG; n++) {
		c[n] = rte_pktmbuf_clone(t->m, t->r->mpi);
		if (!c[n] || !rte_pktmbuf_adj(c[n], (uint16_t)off) ||
		    rte_pktmbuf_trim(c[n], (uint16_t)(SIZE - off - msg_len[n])) != 0) {
			ok = false;
			n += c[n] != NULL;
			break;
		}
		iov[n].iov_base = rte_pktmbuf_mtod(c[n], void *);
		iov[n].iov_len = c[n]->data_len;
		off += msg_len[n];
	}
	sink(iov);
	for (int j = 0; j < n; j++)
		rte_pktmbuf_free(c[j]);
	return ok;
}
STAMP1(s2dpdk)

static int dpdk_create(struct run *r, char *why, size_t whylen)
{
	char name[RTE_MEMPOOL_NAMESIZE];

	if (!dpdk_up) {
		snprintf(why, whylen, "%.150s", dpdk_why);
		return -ENODEV;
	}
	snprintf(name, sizeof(name), "bsd%u", mp_seq);
	r->mp = rte_pktmbuf_pool_create(name, CAP, 256, 0, RTE_PKTMBUF_HEADROOM + SIZE, SOCKET_ID_ANY);
	snprintf(name, sizeof(name), "bsi%u", mp_seq++);
	r->mpi = r->mp ? rte_pktmbuf_pool_create(name, 2 * CAP, 256, 0, 0, SOCKET_ID_ANY) : NULL;
	if (!r->mpi) {
		snprintf(why, whylen, "rte_pktmbuf_pool_create: %s", rte_strerror(rte_errno));
		rte_mempool_free(r->mp);
		r->mp = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void dpdk_destroy(struct run *r)
{
	rte_mempool_free(r->mpi);
	rte_mempool_free(r->mp);
}

/* Each benchmark thread registers (an lcore id: its own mempool caches); H1, S1, S2 also take the base mbuf. */
static struct ctx *dpdk_enter(struct run *r, int w)
{
	struct ctx *t = calloc(1, sizeof(*t));
	struct rte_mbuf *m;
	uint32_t off = 0;

	if (!t)
		return NULL;
	t->r = r;
	if (rte_lcore_id() == LCORE_ID_ANY) {
		if (rte_thread_register() != 0) {
			free(t);
			return NULL;
		}
		t->registered = true;
	}
	if (w != H1 && w != S1 && w != S2)
		return t;
	t->m = m = rte_pktmbuf_alloc(r->mp);
	if (!m || !rte_pktmbuf_append(m, SIZE))
		return t; /* the op fails, and says so */
	memset(rte_pktmbuf_mtod(m, void *), 'x', SIZE);
	for (int j = 0; w == S1 && j < NMSG; j++) {
		struct rte_mbuf *c = rte_pktmbuf_clone(m, r->mpi);

		if (c) {
			rte_pktmbuf_adj(c, (uint16_t)off);
			rte_pktmbuf_trim(c, (uint16_t)(SIZE - off - msg_len[j]));
		}
		t->mc[j] = c;
		off += msg_len[j];
	}
	return t;
}

static void dpdk_leave(struct run *r, struct ctx *t)
{
	(void)r;
	for (int j = 0; j < NMSG; j++)
		if (t->mc[j])
			rte_pktmbuf_free(t->mc[j]);
	if (t->m)
		rte_pktmbuf_free(t->m);
	rte_mempool_cache_flush(rte_mempool_default_cache(r->mp, rte_lcore_id()), r->mp);
	rte_mempool_cache_flush(rte_mempool_default_cache(r->mpi, rte_lcore_id()), r->mpi);
	if (t->registered)
		rte_thread_unregister();
	free(t);
}
#endif

/* ---- iobuf's objects ------------------------------------------------------------ */

static int iobuf_objs_create(struct run *r, char *why, size_t whylen)
{
	struct iobuf_set_config scfg;
	struct iobuf_pool_config pcfg = {.buf_size = SIZE, .capacity = CAP};
	int rc = 0;

	memset(&scfg, 0, sizeof(scfg));
	scfg.capacity[iobuf_tier_for_size(SIZE)] = CAP;
	r->set = iobuf_set_create(&scfg, &rc);
	if (!r->set) {
		snprintf(why, whylen, "iobuf_set_create: %s", strerror(-rc));
		return rc;
	}
	r->pool = iobuf_pool_create(&pcfg, &rc);
	if (!r->pool) {
		snprintf(why, whylen, "iobuf_pool_create: %s", strerror(-rc));
		iobuf_set_destroy(r->set);
		return rc;
	}
	return 0;
}

static void iobuf_objs_destroy(struct run *r)
{
	iobuf_pool_destroy(r->pool);
	iobuf_set_destroy(r->set);
}

/* Flavours of context: a set-bound cache, a pool-bound cache (raw indices), none. */
enum flavour { F_SET, F_SET_CACHE, F_POOL_CACHE, F_DPDK };

static struct ctx *iobuf_enter(struct run *r, int w, enum flavour f)
{
	struct ctx *t = calloc(1, sizeof(*t));
	uint32_t off = 0;

	if (!t)
		return NULL;
	t->r = r;
	t->set = r->set;
	t->pool = iobuf_set_pool(r->set, iobuf_tier_for_size(SIZE));
	if (f == F_SET_CACHE)
		t->cache = iobuf_cache_create(r->set, NULL, NULL);
	else if (f == F_POOL_CACHE)
		t->cache = iobuf_cache_create_pool(r->pool, NULL, NULL);
	if (f != F_SET && !t->cache) {
		free(t);
		return NULL;
	}
	if (w != H1 && w != S1 && w != S2)
		return t;
	/* The base holder: a buffer of 4 KiB filled and recorded as such. */
	if (iobuf_get(r->set, SIZE, &t->base) != 0 || iobuf_setlen(r->set, t->base, SIZE) != 0)
		return t; /* the op fails, and says so */
	t->addr = iobuf_buf(r->set, t->base);
	memset(t->addr, 'x', SIZE);
	r->refs[iobuf_handle_index(t->base)] = 1;
	(void)iobuf_slice_from(r->set, t->base, &t->whole);
	for (int j = 0; w == S1 && j < NMSG; j++) {
		(void)iobuf_slice_clone(r->set, &t->whole, &t->cut[j]);
		(void)iobuf_slice_trim_front(&t->cut[j], off);
		(void)iobuf_slice_trim_back(&t->cut[j], SIZE - off - msg_len[j]);
		off += msg_len[j];
	}
	return t;
}

static void iobuf_leave(struct run *r, struct ctx *t)
{
	for (int j = 0; j < NMSG; j++)
		if (t->cut[j].h != IOBUF_HANDLE_NONE)
			(void)iobuf_slice_put(r->set, &t->cut[j]);
	if (t->base != IOBUF_HANDLE_NONE)
		(void)iobuf_put(r->set, t->base);
	if (t->cache)
		iobuf_cache_destroy(t->cache);
	free(t);
}

/* ---- the cases ------------------------------------------------------------------- */

struct kase {
	const char *name;
	int w;
	enum flavour f;
	const char *what;
	void (*one)(struct thr *);
	void (*prod)(struct thr *);
	void (*cons)(struct thr *);
	void (*single)(struct thr *);
};

#define K1(name, w, f, what, pfx) {name, w, f, what, pfx##_one, NULL, NULL, NULL}
#define K2(name, w, f, what, pfx) {name, w, f, what, NULL, pfx##_prod, pfx##_cons, pfx##_single}

/* The first iobuf row of each workload is its reference. */
static const struct kase cases[] = {
	K1("iobuf_hold_put", H1, F_SET, "iobuf_hold(+1) + iobuf_put", h1set),
	K1("iobuf_pool_hold_put", H1, F_SET, "iobuf_pool_hold(+1) + iobuf_pool_put", h1pool),
	K1("iobuf_hold_cache_put", H1, F_SET_CACHE, "iobuf_hold(+1) + iobuf_cache_put", h1cache),
	K1("hand_atomic_counter", H1, F_SET, "__atomic add + sub of a counter", h1hand),
#ifdef BENCH_WITH_DPDK
	K1("dpdk_refcnt_update", H1, F_DPDK, "rte_mbuf_refcnt_update(+1), (-1)", h1dref),
	K1("dpdk_clone_free", H1, F_DPDK, "rte_pktmbuf_clone + rte_pktmbuf_free", h1dclone),
#endif
	K1("null_floor", H1, F_SET, "the loop alone", null),

	K1("iobuf_cache_get_hold_put2", H2, F_SET_CACHE, "iobuf_cache_get, iobuf_hold, iobuf_cache_put x2", h2cache),
	K1("iobuf_get_hold_put2", H2, F_SET, "iobuf_get, iobuf_hold, iobuf_put x2 (no cache)", h2set),
	K1("hand_cache_index_counter", H2, F_POOL_CACHE, "iobuf_cache_get_index, a counter, _put_index", h2hand),
#ifdef BENCH_WITH_DPDK
	K1("dpdk_alloc_refcnt_free2", H2, F_DPDK, "rte_pktmbuf_alloc, refcnt(+1), rte_pktmbuf_free x2", h2dref),
	K1("dpdk_alloc_clone_free2", H2, F_DPDK, "rte_pktmbuf_alloc, _clone, rte_pktmbuf_free x2", h2dclone),
#endif
	K1("ref_iobuf_cache_get_put", H2, F_SET_CACHE, "one owner: iobuf_cache_get + iobuf_cache_put", h2cache1),
#ifdef BENCH_WITH_DPDK
	K1("ref_dpdk_alloc_free", H2, F_DPDK, "one owner: rte_pktmbuf_alloc + rte_pktmbuf_free", h2d1),
#endif
	K1("null_floor", H2, F_SET, "the loop alone", null),

	K2("iobuf_cache", H3, F_SET_CACHE, "A: cache_get, hold, cache_put; B: cache_put", h3cache),
	K2("iobuf_set", H3, F_SET, "A: iobuf_get, hold, iobuf_put; B: iobuf_put (no cache)", h3set),
	K2("hand_cache_index_counter", H3, F_POOL_CACHE, "A: get_index, counter 2, drop; B: drop, put_index", h3hand),
#ifdef BENCH_WITH_DPDK
	K2("dpdk_refcnt", H3, F_DPDK, "A: alloc, refcnt(+1), free; B: free", h3dref),
	K2("dpdk_clone", H3, F_DPDK, "A: alloc, clone, free; B: free (the clone)", h3dclone),
#endif
	K2("ref_iobuf_cache_1owner", H3, F_SET_CACHE, "one owner: A cache_get; B cache_put", h3cache1),
#ifdef BENCH_WITH_DPDK
	K2("ref_dpdk_1owner", H3, F_DPDK, "one owner: A alloc; B free", h3d1),
#endif
	K2("null_floor", H3, F_SET, "the ring alone", null),

	K1("iobuf_iov_from_slices", S1, F_SET, "iobuf_iov_from_slices of 8 slices", s1slices),
	K1("hand_iov", S1, F_SET, "base address + lengths", s1hand),
#ifdef BENCH_WITH_DPDK
	K1("dpdk_mtod", S1, F_DPDK, "8 clones: rte_pktmbuf_mtod + data_len", s1dpdk),
#endif
	K1("null_floor", S1, F_SET, "the loop alone", null),

	K1("iobuf_slices", S2, F_SET, "clone, 7 splits, iobuf_iov_from_slices, iobuf_slices_consume", s2slices),
	K1("hand_iov", S2, F_SET, "base address + lengths, no holder", s2hand),
	K1("hand_iov_hold1", S2, F_SET, "iobuf_hold(+1), base address + lengths, iobuf_put", s2hold1),
#ifdef BENCH_WITH_DPDK
	K1("dpdk_clone_adj_trim", S2, F_DPDK, "8 x rte_pktmbuf_clone + _adj + _trim + mtod, 8 frees", s2dpdk),
#endif
	K1("null_floor", S2, F_SET, "the loop alone", null),
};
#define NCASE ((int)(sizeof(cases) / sizeof(cases[0])))

/* ---- running ----------------------------------------------------------------------- */

static int case_create(const struct kase *k, struct run *r, char *why, size_t whylen)
{
	(void)k;
	r->refs = calloc(CAP, sizeof(*r->refs));
	if (!r->refs) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
#ifdef BENCH_WITH_DPDK
	if (k->f == F_DPDK)
		return dpdk_create(r, why, whylen);
#endif
	return iobuf_objs_create(r, why, whylen);
}

static void case_destroy(const struct kase *k, struct run *r)
{
	(void)k;
#ifdef BENCH_WITH_DPDK
	if (k->f == F_DPDK)
		dpdk_destroy(r);
	else
#endif
		iobuf_objs_destroy(r);
	free(r->refs);
}

static struct ctx *case_enter(const struct kase *k, struct run *r)
{
	(void)k;
#ifdef BENCH_WITH_DPDK
	if (k->f == F_DPDK)
		return dpdk_enter(r, k->w);
#endif
	return iobuf_enter(r, k->w, k->f);
}

static void case_leave(const struct kase *k, struct run *r, struct ctx *t)
{
	(void)k;
#ifdef BENCH_WITH_DPDK
	if (k->f == F_DPDK) {
		dpdk_leave(r, t);
		return;
	}
#endif
	iobuf_leave(r, t);
}

/*
 * After a pass, every context gone: every buffer is back, none held
 * twice nor refused.  A run that lost a holder, or returned a buffer
 * twice, fails here whatever its figures.
 */
static int pool_balanced(struct iobuf_pool *p, const char *which, char *why, size_t whylen)
{
	struct iobuf_pool_stats st;

	if (iobuf_pool_stats(p, &st) != 0)
		return -EINVAL;
	if (st.in_use || st.shared || st.refused_invalid || st.refused_already || st.refused_stale) {
		snprintf(why, whylen,
			 "%s unbalanced: %" PRIu32 " in use, %" PRIu32 " shared, refused %" PRIu64 "/%" PRIu64 "/%" PRIu64,
			 which, st.in_use, st.shared, st.refused_invalid, st.refused_already, st.refused_stale);
		return -EPROTO;
	}
	return 0;
}

static int case_check(const struct kase *k, struct run *r, char *why, size_t whylen)
{
	(void)k;
#ifdef BENCH_WITH_DPDK
	if (k->f == F_DPDK) {
		unsigned m = rte_mempool_avail_count(r->mp), mi = rte_mempool_avail_count(r->mpi);

		if (m != CAP || mi != 2 * CAP) {
			snprintf(why, whylen, "mbufs unbalanced: %u of %d and %u of %d clones back", m, CAP, mi, 2 * CAP);
			return -EPROTO;
		}
		return 0;
	}
#endif
	if (pool_balanced(iobuf_set_pool(r->set, iobuf_tier_for_size(SIZE)), "the set's tier", why, whylen) < 0 ||
	    pool_balanced(r->pool, "the pool", why, whylen) < 0)
		return -EPROTO;
	return 0;
}

struct targ {
	const struct kase *k;
	struct thr b;
};

static void *thread_main(void *arg)
{
	struct targ *a = arg;
	struct run *r = a->b.r;
	int nthreads = a->k->one ? 1 : 2;

	th_pin(a->b.id);
	a->b.t = case_enter(a->k, r);
	if (!a->b.t)
		fail(&a->b, "thread context could not be made");
	bench_barrier_wait(&r->barrier, (unsigned)nthreads, r->counted);
	if (!a->b.t) {
		/* The other side still runs: give the consumer its end, or drain the producer's ring to it. */
		tok_t p = 0;

		if (a->k->one)
			return NULL;
		if (a->b.id == 0)
			while (!spsc_push(r->ring, END_TOKEN))
				ck_pr_stall();
		else
			while (p != END_TOKEN)
				if (!spsc_pop(r->ring, &p))
					ck_pr_stall();
		return NULL;
	}
	if (a->k->one)
		a->k->one(&a->b);
	else if (a->b.id == 0)
		a->k->prod(&a->b);
	else
		a->k->cons(&a->b);
	case_leave(a->k, r, a->b.t);
	return NULL;
}

/* One run: fresh objects, warm-up, timed (or counted) run.  Returns ns per op, or < 0 with @why. */
static double run_once(const struct kase *k, uint64_t ms, uint64_t count, char *why, size_t whylen)
{
	struct run *r = calloc(1, sizeof(*r));
	int nthreads = k->one ? 1 : 2;
	struct targ a[2];
	pthread_t th[2];
	double ns = -1;

	if (!r)
		return -1;
	if (posix_memalign((void **)&r->ring, 128, sizeof(*r->ring)) != 0)
		r->ring = NULL;
	if (!r->ring || case_create(k, r, why, whylen) < 0) {
		if (!why[0])
			snprintf(why, whylen, "out of memory");
		free(r->ring);
		free(r);
		return -1;
	}
	for (int pass = 0; pass < 2; pass++) {
		bool counted = pass == 1 && count;

		memset(r->ring, 0, sizeof(*r->ring));
		r->barrier = 0;
		r->error = NULL;
		r->run_ns = pass == 0 ? ms * 1000000u / 5 + 1 : ms * 1000000u;
		r->count = pass == 0 && count ? count / 4 + BATCH : counted ? count : 0;
		r->counted = counted;
		if (count && !k->one) {
			/* Counted two-thread case: both sides on this thread, through one context. */
			struct thr b = {.r = r, .id = 0};

			b.t = case_enter(k, r);
			if (!b.t) {
				snprintf(why, whylen, "thread context could not be made");
				break;
			}
#ifdef HAVE_VALGRIND_CALLGRIND_H
			if (counted) {
				CALLGRIND_ZERO_STATS;
				CALLGRIND_START_INSTRUMENTATION;
			}
#endif
			k->single(&b);
#ifdef HAVE_VALGRIND_CALLGRIND_H
			if (counted)
				CALLGRIND_STOP_INSTRUMENTATION;
#endif
			case_leave(k, r, b.t);
			ns = r->error ? -1 : 0;
			if (r->error)
				snprintf(why, whylen, "%s", r->error);
			else if (case_check(k, r, why, whylen) < 0)
				ns = -1;
			continue;
		}
#ifdef HAVE_VALGRIND_CALLGRIND_H
		if (counted) {
			/* From before the thread starts to after it ends: its context is made inside, a few
			 * thousand instructions against millions. */
			CALLGRIND_ZERO_STATS;
			CALLGRIND_START_INSTRUMENTATION;
		}
#endif
		for (int i = 0; i < nthreads; i++) {
			a[i] = (struct targ){.k = k, .b = {.r = r, .id = i}};
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
		if (case_check(k, r, why, whylen) < 0) {
			ns = -1;
			break;
		}
		if (nthreads == 2) {
			uint64_t t0 = a[0].b.t0 < a[1].b.t0 ? a[0].b.t0 : a[1].b.t0;
			uint64_t t1 = a[0].b.t1 > a[1].b.t1 ? a[0].b.t1 : a[1].b.t1;

			if (a[1].b.ops != a[0].b.ops) {
				snprintf(why, whylen, "handoff lost buffers: %" PRIu64 " sent, %" PRIu64 " put", a[0].b.ops,
					 a[1].b.ops);
				ns = -1;
				break;
			}
			ns = (double)(t1 - t0) / (double)a[0].b.ops;
		} else {
			ns = (double)(a[0].b.t1 - a[0].b.t0) / (double)a[0].b.ops;
		}
	}
	case_destroy(k, r);
	free(r->ring);
	free(r);
	return ns;
}

/* Instructions per op of one case: this program under callgrind. */
static double callgrind_ir(const char *self, const char *valgrind, int ki, uint64_t count)
{
	char sk[16], sc[32];
	char *args[] = {(char *)self, "--count-one", sk, sc, NULL};

	snprintf(sk, sizeof(sk), "%d", ki);
	snprintf(sc, sizeof(sc), "%" PRIu64, count);
	return bench_callgrind_ir(valgrind, "bench_shared", args, NULL, count);
}

/* True when case @ki did not run for a reason of its own (not a DPDK that is absent or did not start). */
static bool failed(int ki, const char *why)
{
#ifdef BENCH_WITH_DPDK
	if (cases[ki].f == F_DPDK && !dpdk_up)
		return false;
#endif
	(void)ki;
	return why[0] != 0;
}

static bool selected(const struct kase *k, const char *only, int only_w)
{
	if (only_w && k->w != only_w)
		return false;
	return !only || strcmp(only, k->name) == 0 || strcmp(k->name, "null_floor") == 0;
}

int main(int argc, char **argv)
{
	int rounds = 5, only_w = 0, status = 0;
	uint64_t ms = 300, cg_ops = 200 * BATCH;
	const char *valgrind = NULL, *only = NULL;
	static double ns[NCASE][32], ir[NCASE];
	static char skip[NCASE][160];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			rounds = 3;
			ms = 20;
			cg_ops = 20 * BATCH;
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
			ms = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--valgrind") == 0 && i + 1 < argc) {
			valgrind = argv[++i];
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (strcmp(argv[i], "--workload") == 0 && i + 1 < argc) {
			i++;
			for (int w = 1; w < NW; w++)
				if (strcmp(argv[i], wname[w]) == 0)
					only_w = w;
			if (!only_w) {
				fprintf(stderr, "%s: no workload %s (H1, H2, H3, S1, S2)\n", argv[0], argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--count-one") == 0 && i + 2 < argc) {
			/* Internal: one counted run of case N, under callgrind. */
			int ki = atoi(argv[i + 1]);
			char why[160] = "";

			if (ki < 0 || ki >= NCASE)
				return 2;
#ifdef BENCH_WITH_DPDK
			if (cases[ki].f == F_DPDK)
				dpdk_up = bench_dpdk_start(argv[0], dpdk_why, sizeof(dpdk_why)) == 0;
#endif
			return run_once(&cases[ki], 1, strtoull(argv[i + 2], NULL, 10), why, sizeof(why)) < 0;
		} else {
			fprintf(stderr,
				"usage: %s [--quick] [--rounds N] [--ms MS] [--valgrind PATH] [--only NAME] "
				"[--workload H1|H2|H3|S1|S2]\n",
				argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > 32)
		rounds = 5;
#ifdef BENCH_WITH_DPDK
	dpdk_up = bench_dpdk_start(argv[0], dpdk_why, sizeof(dpdk_why)) == 0;
#endif
	printf("# bench_shared: %d B buffers, pools of %d, %d rounds of %" PRIu64 " ms (median), %d cores, iobuf %s\n",
	       SIZE, CAP, rounds, ms, th_ncpus(), IOBUF_VERSION_STRING);
#ifdef BENCH_WITH_DPDK
	printf("# dpdk: %s\n", dpdk_up ? rte_version() : dpdk_why);
#else
	printf("# dpdk: not configured (libdpdk-dev)\n");
	printf("skipped: dpdk: not configured (libdpdk-dev): its rows are left out\n");
#endif
	/* Rounds interleave the cases: round r runs every case once. */
	for (int round = 0; round < rounds; round++) {
		for (int ki = 0; ki < NCASE; ki++) {
			if (!selected(&cases[ki], only, only_w) || skip[ki][0])
				continue;
			ns[ki][round] = run_once(&cases[ki], ms, 0, skip[ki], sizeof(skip[ki]));
			if (ns[ki][round] < 0 && !skip[ki][0])
				snprintf(skip[ki], sizeof(skip[ki]), "failed");
		}
		fprintf(stderr, "round %d/%d done\n", round + 1, rounds);
	}
	for (int ki = 0; ki < NCASE; ki++) {
		ir[ki] = -1;
#ifdef HAVE_VALGRIND_CALLGRIND_H
		if (valgrind && *valgrind && selected(&cases[ki], only, only_w) && !skip[ki][0])
			ir[ki] = callgrind_ir(argv[0], valgrind, ki, cg_ops);
#endif
	}
	for (int w = 1; w < NW; w++) {
		static const char *const title[NW] = {
			"",
			"H1 one thread: add a holder and drop it (a base holder keeps the buffer)",
			"H2 one thread: get, add a holder, put, put (the last put returns the buffer)",
			"H3 two cores: A gets, adds B's holder, drops its own -> SPSC ring -> B puts last (ns/buffer)",
			"S1 slices -> iovec: 8 messages of a 4 KiB buffer, already cut",
			"S2 a 4 KiB buffer cut into 8 messages, their iovec, the messages put"};
		double ref = -1, ref_ir = -1;

		if (only_w && w != only_w)
			continue;
		printf("\n## %s\n\n", title[w]);
		printf("| case | what | ns/op | best | spread | instr/op | ns vs ref | instr vs ref |\n");
		printf("|---|---|---|---|---|---|---|---|\n");
		for (int ki = 0; ki < NCASE; ki++) {
			const struct kase *k = &cases[ki];
			char irs[32] = "-", rs[32] = "-", irr[32] = "-";
			double med, lo, hi;

			if (k->w != w || !selected(k, only, only_w))
				continue;
			if (skip[ki][0]) {
				printf("| %s | %s | %s: %s | | | | | |\n", k->name, k->what,
				       failed(ki, skip[ki]) ? "FAILED" : "skipped", skip[ki]);
				continue;
			}
			qsort(ns[ki], (size_t)rounds, sizeof(double), bench_cmp_double);
			med = ns[ki][rounds / 2];
			lo = ns[ki][0];
			hi = ns[ki][rounds - 1];
			if (ref < 0 && strncmp(k->name, "iobuf", 5) == 0) {
				ref = med;
				ref_ir = ir[ki];
			}
			if (ir[ki] >= 0)
				snprintf(irs, sizeof(irs), "%.1f", ir[ki]);
			if (ref > 0)
				snprintf(rs, sizeof(rs), "%.2fx", med / ref);
			if (ref_ir > 0 && ir[ki] >= 0)
				snprintf(irr, sizeof(irr), "%.2fx", ir[ki] / ref_ir);
			printf("| %s | %s | %.2f | %.2f | %.0f%% | %s | %s | %s |\n", k->name, k->what, med, lo,
			       100.0 * (1e3 / lo - 1e3 / hi) / (1e3 / med), irs, rs, irr);
		}
	}
	/* A refusal or an unbalanced pool is a bug, not a missing peer: say so in the exit status. */
	for (int ki = 0; ki < NCASE; ki++)
		if (failed(ki, skip[ki])) {
			fprintf(stderr, "%s: %s %s failed: %s\n", argv[0], wname[cases[ki].w], cases[ki].name, skip[ki]);
			status = 1;
		}
#ifdef BENCH_WITH_DPDK
	if (dpdk_up)
		rte_eal_cleanup();
#endif
	return status;
}
