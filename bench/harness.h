/* SPDX-License-Identifier: MIT */
/*
 * harness.h - what every benchmark worker shares: the workload threads,
 * the per-peer operation table and the protocol with the driver.
 *
 * A worker is one process holding one or more peers (iobuf variants, ring
 * free lists, DPDK, or one malloc).  Each peer defines six small inline
 * operations and includes workloads.h, which stamps out the loops of W1..W5
 * with those operations inlined, so no peer pays an indirect call per pair
 * and the null_harness_floor row measures the same loop with no allocator.
 *
 * The driver (driver.c) starts every worker once, then sends one command
 * at a time ("run PEER W SIZE CAP MS"); only one worker runs at any moment,
 * so rounds interleave across peers and processes without overlapping.
 */
#ifndef IOBUF_BENCH_HARNESS_H
#define IOBUF_BENCH_HARNESS_H

#include "../tests/common/thread.h"

#include <ck_pr.h>
#include <ck_ring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What travels between get and put: an index, a handle or a pointer. */
typedef uint64_t bench_tok_t;

/* Pairs between two looks at the clock (W1..W4). */
#define BENCH_BATCH 1024
/* W2: buffers held at once. */
#define BENCH_BURST 32
/* W4: slots of the SPSC hand-off ring (a power of two; it holds one less). */
#define BENCH_HANDOFF_SLOTS 256
/* W5: each thread holds up to this many; waits only while holding fewer than W5_WAIT_BELOW. */
#define BENCH_W5_HOLD 40
#define BENCH_W5_WAIT_BELOW 32
/* W5: a waiting get gives up after this long (a safety net; reported as timeouts). */
#define BENCH_W5_TIMEOUT_NS 100000000ll
#define BENCH_W5_MAX_LAT 262144

enum bench_workload { W1 = 1, W2, W3, W4, W5 };

/* W5: what two threads share to time a wake-up. */
struct bench_w5 {
	uint32_t armed[2];     /* thread i waits for a buffer */
	uint64_t first_put[2]; /* th_now_ns() of the first put seen while i waits, 0 = none yet */
};

/* One thread of one run. */
struct bench_thr {
	int id;		 /* 0 or 1: the core it is pinned to (th_pin) */
	void *shared;	 /* the peer's object (pool, ring, ...) */
	void *t;	 /* its per-thread context (from thr_enter) */
	uint64_t run_ns; /* timed run: stop after this long */
	uint64_t count;	 /* fixed run (callgrind): stop after this many pairs; 0 = timed */
	uint64_t t0, t1; /* th_now_ns() at start and end */
	uint64_t pairs;	 /* get+put pairs done */
	/* W4 */
	struct ck_ring *ring;
	struct ck_ring_buffer *ring_buf;
	/* W5 */
	struct bench_w5 *w5;
	uint64_t attempts, empties, timeouts, seed;
	uint32_t *lat;
	size_t nlat;
	const char *error; /* set when an operation failed */
};

/* What the template stamps out for each peer. */
struct bench_ops {
	void *(*thr_enter)(void *shared);
	void (*thr_leave)(void *shared, void *t);
	void (*w1)(struct bench_thr *b);
	void (*w2)(struct bench_thr *b);
	void (*w4_producer)(struct bench_thr *b);
	void (*w4_consumer)(struct bench_thr *b);
	void (*w5)(struct bench_thr *b);
};

/*
 * A peer as the worker lists it.  create() returns 0 and the shared
 * object, or a negative errno and a reason in @why (the run is reported
 * as skipped with it).  @wait names W5's waiting strategy; NULL means W5
 * does not apply to this peer and @no_w5 says why.
 */
struct bench_peer {
	const char *name;
	const struct bench_ops *ops;
	int (*create)(void **shared, size_t size, uint32_t cap, int workload, char *why, size_t whylen);
	void (*destroy)(void *shared);
	const char *wait;
	const char *no_w5;
};

/* Every worker defines these (peers_*.c). */
extern const struct bench_peer bench_peers[];
extern const int bench_npeers;
/*
 * Called once before serving.  Returns 0, or a negative errno with a reason
 * in @why: then every peer of the worker is reported skipped with it.
 * May print "info ..." lines on stdout.
 */
int bench_worker_init(int argc, char **argv, char *why, size_t whylen);
void bench_worker_fini(void);

/* Write the first byte of a buffer, so that the get really hands one out. */
static inline void bench_touch(void *p, uint64_t v)
{
	*(volatile uint8_t *)p = (uint8_t)v;
}

static inline void bench_fail(struct bench_thr *b, const char *what)
{
	if (!b->error)
		b->error = what;
}

#if defined(__GNUC__)
#define BENCH_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define BENCH_NOINLINE __attribute__((noinline))
#else
#define BENCH_UNLIKELY(x) (x)
#define BENCH_NOINLINE
#endif

/* Has the run ended?  Timed runs look at the clock once per batch. */
static inline bool bench_done(const struct bench_thr *b, uint64_t pairs)
{
	if (b->count)
		return pairs >= b->count;
	return th_now_ns() - b->t0 >= b->run_ns;
}

/* Bulk get/put from single calls, for peers that have no bulk form. */
#define BENCH_SINGLE_BULK(P)                                                                                           \
	static inline bool P##_get_n(void *t, bench_tok_t *toks, int n)                                                \
	{                                                                                                              \
		for (int i = 0; i < n; i++)                                                                            \
			if (!P##_get(t, &toks[i])) {                                                                   \
				while (i > 0)                                                                          \
					(void)P##_put(t, toks[--i]);                                                   \
				return false;                                                                          \
			}                                                                                              \
		return true;                                                                                           \
	}                                                                                                              \
	static inline bool P##_put_n(void *t, const bench_tok_t *toks, int n)                                          \
	{                                                                                                              \
		bool ok = true;                                                                                        \
		for (int i = 0; i < n; i++)                                                                            \
			ok &= P##_put(t, toks[i]);                                                                     \
		return ok;                                                                                             \
	}

/* Peers whose thread context is the shared object. */
#define BENCH_NO_THREAD_CONTEXT(P)                                                                                     \
	static inline void *P##_thr_enter(void *shared)                                                                \
	{                                                                                                              \
		return shared;                                                                                         \
	}                                                                                                              \
	static inline void P##_thr_leave(void *shared, void *t)                                                        \
	{                                                                                                              \
		(void)shared;                                                                                          \
		(void)t;                                                                                               \
	}

#endif /* IOBUF_BENCH_HARNESS_H */
