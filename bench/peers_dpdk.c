/* SPDX-License-Identifier: MIT */
/*
 * peers_dpdk.c - DPDK's rte_mempool (with a per-lcore cache of 256, and
 * without cache) and rte_ring MP/MC as a free list of buffer pointers.
 *
 * The EAL starts once per worker with
 *   --no-huge --no-pci -l 0-1 --no-shconf -m 512 --no-telemetry
 * (--in-memory is refused with --no-huge).  When it cannot start, every
 * DPDK row says skipped, with rte_strerror(), and the suite goes on.
 *
 * The benchmark's threads are not EAL threads, so each registers with
 * rte_thread_register() and gets an lcore id of its own: that is what
 * gives it its own mempool cache, as an EAL lcore would have.  The EAL
 * pins the main thread to core 0; its affinity is put back after init so
 * th_pin() still sees both cores.
 *
 * This file is compiled with DPDK's pkg-config flags (which add
 * -march=corei7); they never reach the library's own objects.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_version.h>

#include "dpdk_eal.h"
#include "harness.h"
#include "slab.h"

static unsigned name_seq;
static __thread int registered;

static void *dpdk_thr_enter(void *shared)
{
	if (rte_lcore_id() == LCORE_ID_ANY) {
		if (rte_thread_register() != 0)
			return NULL;
		registered = 1;
	}
	return shared;
}

static void dpdk_thr_leave(void *shared, void *t)
{
	(void)shared;
	(void)t;
	if (registered) {
		rte_thread_unregister();
		registered = 0;
	}
}

/* ------------------------------------------------------------------------
 * rte_mempool: get/put, and get_bulk/put_bulk in W2.  The cache size is
 * in the pool; the two rows share the code.
 */
#define mp_thr_enter dpdk_thr_enter
#define mp_thr_leave dpdk_thr_leave

static inline bool mp_get(void *t, bench_tok_t *tok)
{
	void *obj;

	if (rte_mempool_get(t, &obj) != 0)
		return false;
	*tok = (bench_tok_t)(uintptr_t)obj;
	return true;
}

static inline bool mp_put(void *t, bench_tok_t tok)
{
	rte_mempool_put(t, (void *)(uintptr_t)tok);
	return true;
}

static inline void *mp_addr(void *t, bench_tok_t tok)
{
	(void)t;
	return (void *)(uintptr_t)tok;
}

/* bench_tok_t and void * are both 64 bits; this file is built with -fno-strict-aliasing. */
static inline bool mp_get_n(void *t, bench_tok_t *toks, int n)
{
	return rte_mempool_get_bulk(t, (void **)toks, (unsigned)n) == 0;
}

static inline bool mp_put_n(void *t, const bench_tok_t *toks, int n)
{
	rte_mempool_put_bulk(t, (void *const *)toks, (unsigned)n);
	return true;
}

#define BENCH_PEER mp
#include "workloads.h"

static int mp_create(void **shared, size_t size, uint32_t cap, unsigned cache, char *why, size_t whylen)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	struct rte_mempool *mp;

	snprintf(name, sizeof(name), "bench%u", name_seq++);
	mp = rte_mempool_create(name, cap, (unsigned)size, cache, 0, NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
	if (!mp) {
		snprintf(why, whylen, "rte_mempool_create(n=%u, cache=%u): %s", cap, cache, rte_strerror(rte_errno));
		return -(rte_errno ? rte_errno : ENOMEM);
	}
	*shared = mp;
	return 0;
}

static int mp256_create(void **shared, size_t size, uint32_t cap, int w, char *why, size_t whylen)
{
	if (256 * 3 / 2 > cap) {
		/* rte_mempool_create() refuses a cache above n / 1.5; W5's pool has 64. */
		snprintf(why, whylen, "a cache of 256 needs a pool of 384 or more (this one has %u)", cap);
		return -EINVAL;
	}
	return mp_create(shared, size, cap, 256, why, whylen);
}

static int mp0_create(void **shared, size_t size, uint32_t cap, int w, char *why, size_t whylen)
{
	return mp_create(shared, size, cap, 0, why, whylen);
}

static void mp_destroy(void *shared)
{
	rte_mempool_free(shared);
}

/* ------------------------------------------------------------------------
 * rte_ring MP/MC of buffer pointers (exactly cap slots), bulk in W2.
 */
struct rring {
	struct rte_ring *r;
	struct slab slab;
};

#define rr_thr_enter dpdk_thr_enter
#define rr_thr_leave dpdk_thr_leave

static inline bool rr_get(void *t, bench_tok_t *tok)
{
	struct rring *c = t;
	void *obj;

	if (rte_ring_mc_dequeue(c->r, &obj) != 0)
		return false;
	*tok = (bench_tok_t)(uintptr_t)obj;
	return true;
}

static inline bool rr_put(void *t, bench_tok_t tok)
{
	struct rring *c = t;

	return rte_ring_mp_enqueue(c->r, (void *)(uintptr_t)tok) == 0;
}

static inline void *rr_addr(void *t, bench_tok_t tok)
{
	(void)t;
	return (void *)(uintptr_t)tok;
}

static inline bool rr_get_n(void *t, bench_tok_t *toks, int n)
{
	struct rring *c = t;

	return rte_ring_mc_dequeue_bulk(c->r, (void **)toks, (unsigned)n, NULL) == (unsigned)n;
}

static inline bool rr_put_n(void *t, const bench_tok_t *toks, int n)
{
	struct rring *c = t;

	return rte_ring_mp_enqueue_bulk(c->r, (void *const *)toks, (unsigned)n, NULL) == (unsigned)n;
}

#define BENCH_PEER rr
#include "workloads.h"

static void rr_destroy(void *shared)
{
	struct rring *c = shared;

	if (!c)
		return;
	if (c->slab.arena.base)
		iobuf_arena_fini(&c->slab.arena);
	rte_ring_free(c->r);
	free(c);
}

static int rr_create(void **shared, size_t size, uint32_t cap, int w, char *why, size_t whylen)
{
	char name[RTE_RING_NAMESIZE];
	struct rring *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	snprintf(name, sizeof(name), "bench%u", name_seq++);
	c->r = rte_ring_create(name, cap, SOCKET_ID_ANY, RING_F_EXACT_SZ);
	if (!c->r) {
		snprintf(why, whylen, "rte_ring_create: %s", rte_strerror(rte_errno));
		free(c);
		return -ENOMEM;
	}
	rc = slab_init(&c->slab, size, cap, why, whylen);
	if (rc < 0) {
		c->slab.arena.base = NULL;
		rr_destroy(c);
		return rc;
	}
	for (uint32_t i = 0; i < cap; i++)
		rte_ring_mp_enqueue(c->r, slab_buf(&c->slab, i));
	*shared = c;
	return 0;
}

#define SPIN "spin-retry (no waiting get)"
const struct bench_peer bench_peers[] = {
    {"dpdk_mempool_c256", &mp_ops, mp256_create, mp_destroy, SPIN, NULL},
    {"dpdk_mempool_c0", &mp_ops, mp0_create, mp_destroy, SPIN, NULL},
    {"dpdk_rte_ring_mpmc", &rr_ops, rr_create, rr_destroy, SPIN, NULL},
};
const int bench_npeers = (int)(sizeof(bench_peers) / sizeof(bench_peers[0]));

int bench_worker_init(int argc, char **argv, char *why, size_t whylen)
{
	uint64_t t0 = th_now_ns();
	int rc;

	(void)argc;
	rc = bench_dpdk_start(argv[0], why, whylen);
	if (rc < 0)
		return rc;
	printf("info dpdk: EAL started in %.0f ms (%s)\n", (double)(th_now_ns() - t0) / 1e6, rte_version());
	return 0;
}

void bench_worker_fini(void)
{
	rte_eal_cleanup();
}
