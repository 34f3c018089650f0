/* SPDX-License-Identifier: MIT */
/*
 * peers_pools.c - the worker of iobuf's own variants and of the free lists
 * a user would build from Concurrency Kit or liburcu, plus the harness
 * floor.  Everything here lives in one process linked with glibc malloc,
 * which none of these touch on the hot path.
 *
 * The free-list peers keep their buffers in an iobuf arena mapped with the
 * flags iobuf's pool gets (BENCH_ARENA_FLAGS), laid out at the same
 * stride, so the memory behind the buffers is the same for all of them and
 * only the free-list mechanism differs.
 *
 * To add a variant: define its six operations, include workloads.h with
 * BENCH_PEER set, and add one line to bench_peers[] at the bottom.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ck_ring.h>
#include <ck_stack.h>
#include <iobuf/arena.h>
#include <iobuf/cache.h>
#include <iobuf/pool.h>

#include "harness.h"
#include "slab.h"

/* ------------------------------------------------------------------------
 * null_harness_floor: the loops with no allocator; get hands out one
 * static buffer.  What is left is the loop, the touch and the clock.
 */
static uint8_t null_buf[64] __attribute__((aligned(64)));

BENCH_NO_THREAD_CONTEXT(null)

static inline bool null_get(void *t, bench_tok_t *tok)
{
	(void)t;
	*tok = 1;
	return true;
}

static inline bool null_put(void *t, bench_tok_t tok)
{
	(void)t;
	(void)tok;
	return true;
}

static inline void *null_addr(void *t, bench_tok_t tok)
{
	(void)t;
	(void)tok;
	return null_buf;
}

BENCH_SINGLE_BULK(null)
#define BENCH_PEER null
#include "workloads.h"

static int null_create(void **shared, size_t size, uint32_t cap, int w, char *why, size_t whylen)
{
	*shared = null_buf;
	return 0;
}

static void null_destroy(void *shared)
{
	(void)shared;
}

/* ------------------------------------------------------------------------
 * iobuf_pool: checked handles.  get, the checked iobuf_pool_buf() for the
 * address, put; bulk calls in W2; iobuf_pool_get_wait() in W5.
 */
BENCH_NO_THREAD_CONTEXT(ioh)

static inline bool ioh_get(void *t, bench_tok_t *tok)
{
	return iobuf_pool_get(t, tok) == 0;
}

static inline bool ioh_put(void *t, bench_tok_t tok)
{
	return iobuf_pool_put(t, tok) == 0;
}

static inline void *ioh_addr(void *t, bench_tok_t tok)
{
	return iobuf_pool_buf(t, tok);
}

static inline bool ioh_get_n(void *t, bench_tok_t *toks, int n)
{
	return iobuf_pool_get_bulk(t, toks, n) == 0;
}

static inline bool ioh_put_n(void *t, const bench_tok_t *toks, int n)
{
	return iobuf_pool_put_bulk(t, toks, n) == 0;
}

static inline bool ioh_get_wait(void *t, bench_tok_t *tok, int64_t timeout_ns)
{
	return iobuf_pool_get_wait(t, tok, timeout_ns) == 0;
}

#define BENCH_PEER ioh
#define BENCH_PEER_HAS_WAIT
#include "workloads.h"

static int iobuf_create(void **shared, size_t size, uint32_t cap, int w, char *why, size_t whylen)
{
	struct iobuf_pool_config cfg = {
	    .buf_size = size,
	    .capacity = cap,
	    .arena_flags = BENCH_ARENA_FLAGS,
	    .tag = 0,
	};
	int rc = 0;

	*shared = iobuf_pool_create(&cfg, &rc);
	if (!*shared) {
		set_why(why, whylen, "iobuf_pool_create", rc ? rc : -ENOMEM);
		return rc ? rc : -ENOMEM;
	}
	return 0;
}

static void iobuf_destroy(void *shared)
{
	iobuf_pool_destroy(shared);
}

/* ------------------------------------------------------------------------
 * iobuf_pool_index: the raw-index path, no handles.  No bulk and no
 * waiting form take indices: W2 uses single calls, W5 spin-retries.
 */
BENCH_NO_THREAD_CONTEXT(iobuf_index)

static inline bool iobuf_index_get(void *t, bench_tok_t *tok)
{
	int i = iobuf_pool_get_index(t);

	*tok = (bench_tok_t)i;
	return i >= 0;
}

static inline bool iobuf_index_put(void *t, bench_tok_t tok)
{
	return iobuf_pool_put_index(t, (uint32_t)tok) == 0;
}

static inline void *iobuf_index_addr(void *t, bench_tok_t tok)
{
	return iobuf_pool_index_buf(t, (uint32_t)tok);
}

BENCH_SINGLE_BULK(iobuf_index)
#define BENCH_PEER iobuf_index
#include "workloads.h"

/* ------------------------------------------------------------------------
 * iobuf_cache: the same pool, each thread through a cache of its own
 * (iobuf/cache.h): checked handles, the checked inline iobuf_cache_buf()
 * for the address, bulk calls in W2.  W5 waits with iobuf_pool_get_wait()
 * once the cache's get finds the pool empty.
 */
/* The thread's context: its cache, and the pool for W5's waiting get. */
struct ioc {
	struct iobuf_cache *c;
	struct iobuf_pool *p;
};

static void *ioc_thr_enter(void *shared)
{
	struct ioc *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->p = shared;
	x->c = iobuf_cache_create_pool(shared, NULL, NULL);
	if (!x->c) {
		free(x);
		return NULL;
	}
	return x;
}

static void ioc_thr_leave(void *shared, void *t)
{
	struct ioc *x = t;

	(void)shared;
	iobuf_cache_destroy(x->c);
	free(x);
}

static inline bool ioc_get(void *t, bench_tok_t *tok)
{
	return iobuf_cache_get(((struct ioc *)t)->c, 1, tok) == 0;
}

static inline bool ioc_put(void *t, bench_tok_t tok)
{
	return iobuf_cache_put(((struct ioc *)t)->c, tok) == 0;
}

static inline void *ioc_addr(void *t, bench_tok_t tok)
{
	return iobuf_cache_buf(((struct ioc *)t)->c, tok);
}

static inline bool ioc_get_n(void *t, bench_tok_t *toks, int n)
{
	return iobuf_cache_get_bulk(((struct ioc *)t)->c, 1, toks, n) == 0;
}

static inline bool ioc_put_n(void *t, const bench_tok_t *toks, int n)
{
	return iobuf_cache_put_bulk(((struct ioc *)t)->c, toks, n) == 0;
}

static inline bool ioc_get_wait(void *t, bench_tok_t *tok, int64_t timeout_ns)
{
	struct ioc *x = t;

	if (iobuf_cache_get(x->c, 1, tok) == 0)
		return true;
	return iobuf_pool_get_wait(x->p, tok, timeout_ns) == 0;
}

#define BENCH_PEER ioc
#define BENCH_PEER_HAS_WAIT
#include "workloads.h"

/*
 * iobuf_cache_index: a pool-bound cache, raw indices: get_index,
 * iobuf_pool_index_buf() for the address, the index bulk calls in W2.
 */
static void *ioci_thr_enter(void *shared)
{
	return iobuf_cache_create_pool(shared, NULL, NULL);
}

static void ioci_thr_leave(void *shared, void *t)
{
	(void)shared;
	iobuf_cache_destroy(t);
}

static inline bool ioci_get(void *t, bench_tok_t *tok)
{
	int i = iobuf_cache_get_index(t);

	*tok = (bench_tok_t)i;
	return i >= 0;
}

static inline bool ioci_put(void *t, bench_tok_t tok)
{
	return iobuf_cache_put_index(t, (uint32_t)tok) == 0;
}

static inline void *ioci_addr(void *t, bench_tok_t tok)
{
	const struct iobuf_cache *c = t;

	return c->one->base + (size_t)tok * c->one->stride;
}

/* Tokens are 64-bit: the indices go through a 32-bit array (n <= BENCH_BURST). */
static inline bool ioci_get_n(void *t, bench_tok_t *toks, int n)
{
	uint32_t idx[BENCH_BURST];

	if (n > BENCH_BURST || iobuf_cache_get_index_bulk(t, idx, n) != 0)
		return false;
	for (int i = 0; i < n; i++)
		toks[i] = idx[i];
	return true;
}

static inline bool ioci_put_n(void *t, const bench_tok_t *toks, int n)
{
	uint32_t idx[BENCH_BURST];

	if (n > BENCH_BURST)
		return false;
	for (int i = 0; i < n; i++)
		idx[i] = (uint32_t)toks[i];
	return iobuf_cache_put_index_bulk(t, idx, n) == 0;
}

#define BENCH_PEER ioci
#include "workloads.h"

/* ------------------------------------------------------------------------
 * ck_ring_mpmc: a Concurrency Kit ring of buffer pointers as the free
 * list (2 x cap slots: a ck_ring holds one less than its size).  Its
 * enqueue waits for earlier producers, so it is not lock-free.
 */
struct ckring {
	struct ck_ring ring;
	struct ck_ring_buffer *slots;
	struct slab slab;
};

BENCH_NO_THREAD_CONTEXT(ckring)

static inline bool ckring_get(void *t, bench_tok_t *tok)
{
	struct ckring *c = t;
	void *p;

	if (!ck_ring_dequeue_mpmc(&c->ring, c->slots, &p))
		return false;
	*tok = (bench_tok_t)(uintptr_t)p;
	return true;
}

static inline bool ckring_put(void *t, bench_tok_t tok)
{
	struct ckring *c = t;

	return ck_ring_enqueue_mpmc(&c->ring, c->slots, (void *)(uintptr_t)tok);
}

static inline void *ckring_addr(void *t, bench_tok_t tok)
{
	(void)t;
	return (void *)(uintptr_t)tok;
}

BENCH_SINGLE_BULK(ckring)
#define BENCH_PEER ckring
#include "workloads.h"

static void ckring_destroy(void *shared)
{
	struct ckring *c = shared;

	if (!c)
		return;
	if (c->slab.arena.base)
		iobuf_arena_fini(&c->slab.arena);
	free(c->slots);
	free(c);
}

static int ckring_create(void **shared, size_t size, uint32_t cap, int w, char *why, size_t whylen)
{
	struct ckring *c = aligned_alloc(64, (sizeof(*c) + 63) / 64 * 64);
	unsigned slots = 2;
	int rc;

	if (!c)
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	while (slots <= cap)
		slots <<= 1;
	c->slots = aligned_alloc(64, slots * sizeof(*c->slots));
	if (!c->slots) {
		free(c);
		return -ENOMEM;
	}
	rc = slab_init(&c->slab, size, cap, why, whylen);
	if (rc < 0) {
		c->slab.arena.base = NULL;
		ckring_destroy(c);
		return rc;
	}
	ck_ring_init(&c->ring, slots);
	for (uint32_t i = 0; i < cap; i++)
		ck_ring_enqueue_mpmc(&c->ring, c->slots, slab_buf(&c->slab, i));
	*shared = c;
	return 0;
}

/* ------------------------------------------------------------------------
 * ck_stack_mpmc: Concurrency Kit's Treiber stack; its MPMC pop pairs the
 * head with a generation counter in one double-width CAS, so it is safe
 * from ABA when nodes are reused at once.  One node per buffer.
 */
struct ckstack {
	struct ck_stack stack __attribute__((aligned(16)));
	struct ck_stack_entry *nodes;
	struct slab slab;
};

BENCH_NO_THREAD_CONTEXT(ckstack)

static inline bool ckstack_get(void *t, bench_tok_t *tok)
{
	struct ckstack *c = t;
	struct ck_stack_entry *e = ck_stack_pop_mpmc(&c->stack);

	if (!e)
		return false;
	*tok = (bench_tok_t)(e - c->nodes);
	return true;
}

static inline bool ckstack_put(void *t, bench_tok_t tok)
{
	struct ckstack *c = t;

	ck_stack_push_mpmc(&c->stack, &c->nodes[tok]);
	return true;
}

static inline void *ckstack_addr(void *t, bench_tok_t tok)
{
	struct ckstack *c = t;

	return slab_buf(&c->slab, (uint32_t)tok);
}

BENCH_SINGLE_BULK(ckstack)
#define BENCH_PEER ckstack
#include "workloads.h"

static void ckstack_destroy(void *shared)
{
	struct ckstack *c = shared;

	if (!c)
		return;
	if (c->slab.arena.base)
		iobuf_arena_fini(&c->slab.arena);
	free(c->nodes);
	free(c);
}

static int ckstack_create(void **shared, size_t size, uint32_t cap, int w, char *why, size_t whylen)
{
	struct ckstack *c = aligned_alloc(64, (sizeof(*c) + 63) / 64 * 64);
	int rc;

	if (!c)
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	c->nodes = calloc(cap, sizeof(*c->nodes));
	if (!c->nodes) {
		free(c);
		return -ENOMEM;
	}
	rc = slab_init(&c->slab, size, cap, why, whylen);
	if (rc < 0) {
		c->slab.arena.base = NULL;
		ckstack_destroy(c);
		return rc;
	}
	ck_stack_init(&c->stack);
	for (uint32_t i = cap; i-- > 0;)
		ck_stack_push_mpmc(&c->stack, &c->nodes[i]);
	*shared = c;
	return 0;
}

/* ------------------------------------------------------------------------
 * urcu_lfs_pop_blocking: liburcu's lock-free stack (cds_lfs), inlined
 * (_LGPL_SOURCE).  Push is lock-free; pop is cds_lfs_pop_blocking(), which
 * runs __cds_lfs_pop under the stack's internal mutex.  That is the only
 * pop safe from ABA when a node is pushed again right after its pop (a
 * free list): with pops serialized, no pop can see a head that another pop
 * removed and a push brought back between its read of head->next and its
 * CAS.  The other pop, __cds_lfs_pop under rcu_read_lock(), needs a grace
 * period before a popped node is reused, which a free list cannot wait for.
 */
#ifdef HAVE_URCU_CDS
#define _LGPL_SOURCE
#include <urcu/lfstack.h>

struct urculfs {
	struct cds_lfs_stack stack;
	struct cds_lfs_node *nodes;
	struct slab slab;
};

BENCH_NO_THREAD_CONTEXT(urculfs)

static inline bool urculfs_get(void *t, bench_tok_t *tok)
{
	struct urculfs *c = t;
	struct cds_lfs_node *e = cds_lfs_pop_blocking(&c->stack);

	if (!e)
		return false;
	*tok = (bench_tok_t)(e - c->nodes);
	return true;
}

static inline bool urculfs_put(void *t, bench_tok_t tok)
{
	struct urculfs *c = t;

	cds_lfs_push(&c->stack, &c->nodes[tok]);
	return true;
}

static inline void *urculfs_addr(void *t, bench_tok_t tok)
{
	struct urculfs *c = t;

	return slab_buf(&c->slab, (uint32_t)tok);
}

BENCH_SINGLE_BULK(urculfs)
#define BENCH_PEER urculfs
#include "workloads.h"

static void urculfs_destroy(void *shared)
{
	struct urculfs *c = shared;

	if (!c)
		return;
	if (c->slab.arena.base)
		iobuf_arena_fini(&c->slab.arena);
	cds_lfs_destroy(&c->stack);
	free(c->nodes);
	free(c);
}

static int urculfs_create(void **shared, size_t size, uint32_t cap, int w, char *why, size_t whylen)
{
	struct urculfs *c = aligned_alloc(64, (sizeof(*c) + 63) / 64 * 64);
	int rc;

	if (!c)
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	cds_lfs_init(&c->stack);
	c->nodes = calloc(cap, sizeof(*c->nodes));
	if (!c->nodes) {
		urculfs_destroy(c);
		return -ENOMEM;
	}
	rc = slab_init(&c->slab, size, cap, why, whylen);
	if (rc < 0) {
		c->slab.arena.base = NULL;
		urculfs_destroy(c);
		return rc;
	}
	for (uint32_t i = cap; i-- > 0;) {
		cds_lfs_node_init(&c->nodes[i]);
		cds_lfs_push(&c->stack, &c->nodes[i]);
	}
	*shared = c;
	return 0;
}
#endif /* HAVE_URCU_CDS */

/* ------------------------------------------------------------------------
 * The table of variants and peers of this worker.
 */
#define SPIN "spin-retry"
const struct bench_peer bench_peers[] = {
    {"null_harness_floor", &null_ops, null_create, null_destroy, NULL, "no pool: never empty"},
    {"iobuf_pool", &ioh_ops, iobuf_create, iobuf_destroy, "iobuf_pool_get_wait", NULL},
    {"iobuf_pool_index", &iobuf_index_ops, iobuf_create, iobuf_destroy, SPIN " (no waiting get takes indices)", NULL},
    {"iobuf_cache", &ioc_ops, iobuf_create, iobuf_destroy, "iobuf_cache_get, then iobuf_pool_get_wait", NULL},
    {"iobuf_cache_index", &ioci_ops, iobuf_create, iobuf_destroy, SPIN " (no waiting get takes indices)", NULL},
    {"ck_ring_mpmc", &ckring_ops, ckring_create, ckring_destroy, SPIN, NULL},
    {"ck_stack_mpmc", &ckstack_ops, ckstack_create, ckstack_destroy, SPIN, NULL},
#ifdef HAVE_URCU_CDS
    {"urcu_lfs_pop_blocking", &urculfs_ops, urculfs_create, urculfs_destroy, SPIN, NULL},
#endif
};
const int bench_npeers = (int)(sizeof(bench_peers) / sizeof(bench_peers[0]));

int bench_worker_init(int argc, char **argv, char *why, size_t whylen)
{
	(void)argc;
	(void)argv;
	(void)why;
	(void)whylen;
	return 0;
}

void bench_worker_fini(void) {}
