/* SPDX-License-Identifier: MIT */
/*
 * bench_chan.c - the channel (iobuf/chan.h) against the MPMC queues a
 * user would pick instead, in one process, rounds interleaved:
 *
 *   iobuf_chan          iobuf_chan_send() / iobuf_chan_recv() of handles
 *   iobuf_chan_burst32  iobuf_chan_send_burst() / _recv_burst() of 32 slices
 *   ck_ring_mpmc        Concurrency Kit's ck_ring_enqueue_mpmc() /
 *                       ck_ring_dequeue_mpmc() of pointers
 *   dpdk_rte_ring       DPDK's rte_ring MP/MC (RING_F_EXACT_SZ),
 *                       rte_ring_enqueue() / rte_ring_dequeue() of pointers
 *   dpdk_rte_ring_burst32  rte_ring_enqueue_burst() / _dequeue_burst() of 32
 *   urcu_wfcqueue       liburcu's wait-free concurrent queue, inlined
 *                       (_LGPL_SOURCE): cds_wfcq_enqueue() (wait-free) and
 *                       cds_wfcq_dequeue_blocking() (the MPMC dequeue: the
 *                       queue's mutex serializes dequeuers); it is unbounded
 *                       and intrusive, so each producer sends through a ring
 *                       of capacity / P nodes of its own and reuses a node
 *                       only once its consumer has flagged it taken
 *
 * Every queue holds 1024 entries (ck_ring: 1024 slots, as it holds one
 * less; wfcqueue: 1024 nodes in flight) and carries 8-byte tokens, which
 * consumers add up (checked against what the producers sent: nothing lost).
 * Cases: 1 producer x 1 consumer, 2 x 2 (producer i on core i, consumer i
 * on core i+1: each core runs one of each), threads pinned with th_pin().
 * Both sides idle the same way in every peer when the queue is full or
 * empty: spin 200 times, then sched_yield().  Each peer's loops are
 * stamped out by a macro with its operations inlined: no indirect call
 * per operation.
 *
 * A run makes a fresh queue, runs a warm-up (a fifth of the time), then
 * the timed run: producers send until the time is up, consumers drain; the
 * rate is the tokens received over the time from the start to the last
 * consumer's end.  Per case: one warm-up round of every peer, then N
 * rounds of every peer once, the order rotated each round; the figure is
 * the median of the rounds, with min-max, and the ratio of the channel's
 * median to the peer's (above 1: the channel is faster).
 *
 * Instructions per send+receive pair: with --valgrind PATH, the program
 * runs itself under callgrind --instr-atstart=no once per peer, a fixed
 * number of pairs on one thread (32 sends, then 32 receives), the loop
 * alone instrumented; nothing subtracted.
 *
 * Usage: bench_chan [--quick] [--rounds N] [--ms MS] [--valgrind PATH] [--only NAME]
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
#include <sys/wait.h>
#include <unistd.h>

#include <ck_pr.h>
#include <ck_ring.h>

#include <iobuf/chan.h>

#include "../tests/common/thread.h"
#include "util.h"

#ifdef HAVE_VALGRIND_CALLGRIND_H
#include <valgrind/callgrind.h>
#endif

#ifdef HAVE_URCU_CDS
#define _LGPL_SOURCE
#include <urcu/wfcqueue.h>
#endif

#ifdef BENCH_WITH_DPDK
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_version.h>
#endif

#define CAP 1024
#define BURST 32
#define MAXT 2
#define SPINS 200
#define MAXROUNDS 32

typedef uint64_t tok_t;

/* ---- what a run shares ------------------------------------------------------- */

struct run {
	void *q;	  /* the peer's queue */
	int producers;	  /* = consumers */
	uint64_t stop_at; /* th_now_ns(): producers stop */
	int prod_done;	  /* producers that finished */
	unsigned barrier;
	uint64_t t0;
	const char *error;
};

struct thr {
	struct run *r;
	int id;
	uint64_t n, sum; /* tokens sent or received, and their sum */
	uint64_t t1;	 /* th_now_ns() at the end */
	void *ctx;	 /* per-thread context (wfcqueue: the producer's nodes) */
};

static inline void idle(unsigned *spins)
{
	if (++*spins < SPINS)
		ck_pr_stall();
	else
		sched_yield();
}

static void start_line(struct run *r, int nthreads)
{
	ck_pr_inc_uint(&r->barrier);
	while (ck_pr_load_uint(&r->barrier) < (unsigned)nthreads)
		ck_pr_stall();
}

/* A token: never 0 (a handle is never IOBUF_HANDLE_NONE; a pointer never NULL). */
static inline tok_t token(int p, uint64_t i)
{
	return ((uint64_t)(p + 1) << 48) | (i + 1);
}

/*
 * The loops of one peer P, from its inline operations:
 *   P_send(q, ctx, tok) -> bool            P_recv(q, ctx, &tok) -> bool
 *   P_send_n(q, ctx, toks, n) -> count     P_recv_n(q, ctx, toks, n) -> count
 * (the single forms for the singles' peers; P_N is 1 or BURST).
 */
#define STAMP(P)                                                                                                     \
	static void *P##_producer(void *arg)                                                                         \
	{                                                                                                            \
		struct thr *b = arg;                                                                                 \
		struct run *r = b->r;                                                                                \
		tok_t toks[BURST];                                                                                   \
		uint64_t i = 0, sum = 0;                                                                             \
                                                                                                                     \
		th_pin(b->id);                                                                                       \
		start_line(r, 2 * r->producers);                                                                     \
		for (;;) {                                                                                           \
			int n = P##_N, k = 0;                                                                        \
			unsigned spins = 0;                                                                          \
                                                                                                                     \
			if ((i & 1023) < (uint64_t)n && th_now_ns() >= r->stop_at)                                   \
				break;                                                                               \
			for (int j = 0; j < n; j++)                                                                  \
				sum += toks[j] = token(b->id, i + (uint64_t)j);                                      \
			while (k < n) {                                                                              \
				int got = P##_send_n(r->q, b->ctx, toks + k, n - k);                                 \
                                                                                                                     \
				if (got > 0)                                                                         \
					k += got;                                                                    \
				else                                                                                 \
					idle(&spins);                                                                \
			}                                                                                            \
			i += (uint64_t)n;                                                                            \
		}                                                                                                    \
		b->n = i;                                                                                            \
		b->sum = sum;                                                                                        \
		ck_pr_inc_int(&r->prod_done);                                                                        \
		return NULL;                                                                                         \
	}                                                                                                            \
	static void *P##_consumer(void *arg)                                                                         \
	{                                                                                                            \
		struct thr *b = arg;                                                                                 \
		struct run *r = b->r;                                                                                \
		tok_t toks[BURST];                                                                                   \
		uint64_t n = 0, sum = 0;                                                                             \
		unsigned spins = 0;                                                                                  \
                                                                                                                     \
		th_pin(b->id + 1);                                                                                   \
		start_line(r, 2 * r->producers);                                                                     \
		for (;;) {                                                                                           \
			int got = P##_recv_n(r->q, b->ctx, toks, P##_N);                                             \
                                                                                                                     \
			if (got > 0) {                                                                               \
				for (int j = 0; j < got; j++)                                                        \
					sum += toks[j];                                                              \
				n += (uint64_t)got;                                                                  \
				spins = 0;                                                                           \
				continue;                                                                            \
			}                                                                                            \
			/* Empty: done once every producer is, and a look after that finds nothing. */         \
			if (ck_pr_load_int(&r->prod_done) == r->producers) {                                         \
				if ((got = P##_recv_n(r->q, b->ctx, toks, P##_N)) <= 0)                              \
					break;                                                                       \
				for (int j = 0; j < got; j++)                                                        \
					sum += toks[j];                                                              \
				n += (uint64_t)got;                                                                  \
				continue;                                                                            \
			}                                                                                            \
			idle(&spins);                                                                                \
		}                                                                                                    \
		b->t1 = th_now_ns();                                                                                 \
		b->n = n;                                                                                            \
		b->sum = sum;                                                                                        \
		return NULL;                                                                                         \
	}                                                                                                            \
	/* One thread, @pairs sends and receives, BURST at a time: for callgrind. */                                 \
	static uint64_t P##_pairs(void *q, void *ctx, uint64_t pairs)                                                \
	{                                                                                                            \
		tok_t toks[BURST];                                                                                   \
		uint64_t sum = 0;                                                                                    \
                                                                                                                     \
		for (uint64_t i = 0; i < pairs; i += BURST) {                                                        \
			for (int j = 0; j < BURST; j++)                                                              \
				toks[j] = token(0, i + (uint64_t)j);                                                 \
			for (int k = 0; k < BURST;) {                                                                \
				int got = P##_send_n(q, ctx, toks + k, P##_N < BURST - k ? P##_N : BURST - k);       \
                                                                                                                     \
				if (got <= 0)                                                                        \
					return 0; /* an empty queue of CAP refused: the run fails */                 \
				k += got;                                                                            \
			}                                                                                            \
			for (int k = 0; k < BURST;) {                                                                \
				int got = P##_recv_n(q, ctx, toks, P##_N < BURST - k ? P##_N : BURST - k);           \
                                                                                                                     \
				if (got <= 0)                                                                        \
					return 0;                                                                    \
				for (int j = 0; j < got; j++)                                                        \
					sum += toks[j];                                                              \
				k += got;                                                                            \
			}                                                                                            \
		}                                                                                                    \
		return sum;                                                                                          \
	}

/* Singles through the _n interface. */
#define SINGLES(P)                                                                                                   \
	enum { P##_N = 1 };                                                                                          \
	static inline int P##_send_n(void *q, void *ctx, const tok_t *t, int n)                                      \
	{                                                                                                            \
		(void)n;                                                                                             \
		return P##_send(q, ctx, t[0]) ? 1 : 0;                                                               \
	}                                                                                                            \
	static inline int P##_recv_n(void *q, void *ctx, tok_t *t, int n)                                            \
	{                                                                                                            \
		(void)n;                                                                                             \
		return P##_recv(q, ctx, &t[0]) ? 1 : 0;                                                              \
	}

/* ---- iobuf_chan --------------------------------------------------------------- */

static int chan_create(void **q, int producers, char *why, size_t whylen)
{
	struct iobuf_chan_config cfg = {.capacity = CAP};
	int err;

	(void)producers;
	*q = iobuf_chan_create(&cfg, &err);
	if (!*q)
		snprintf(why, whylen, "iobuf_chan_create: %d", err);
	return *q ? 0 : err;
}

static void chan_destroy(void *q)
{
	if (iobuf_chan_destroy(q) != 0)
		fprintf(stderr, "bench_chan: a channel not empty at the end\n");
}

static inline bool chan_send(void *q, void *ctx, tok_t t)
{
	(void)ctx;
	return iobuf_chan_send(q, t) == 0;
}

static inline bool chan_recv(void *q, void *ctx, tok_t *t)
{
	(void)ctx;
	return iobuf_chan_recv(q, t) == 0;
}
SINGLES(chan)
STAMP(chan)

enum { chanb_N = BURST };
static inline int chanb_send_n(void *q, void *ctx, const tok_t *t, int n)
{
	struct iobuf_slice s[BURST];

	(void)ctx;
	for (int k = 0; k < n; k++)
		s[k] = (struct iobuf_slice){t[k], 0, 0};
	return iobuf_chan_send_burst(q, s, n);
}

static inline int chanb_recv_n(void *q, void *ctx, tok_t *t, int n)
{
	struct iobuf_slice s[BURST];
	int got = iobuf_chan_recv_burst(q, s, n);

	(void)ctx;
	for (int k = 0; k < got; k++)
		t[k] = s[k].h;
	return got;
}
STAMP(chanb)

/* ---- ck_ring MPMC ---------------------------------------------------------------- */

struct ckq {
	struct ck_ring ring;
	struct ck_ring_buffer *buf;
};

static int ck_create(void **q, int producers, char *why, size_t whylen)
{
	struct ckq *c = calloc(1, sizeof(*c));

	(void)producers;
	if (!c || !(c->buf = calloc(2 * CAP, sizeof(*c->buf)))) {
		free(c);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	/* ck_ring holds one less than its size: 2048 slots would hold 2047; 1024 + 1 is no power of two. */
	ck_ring_init(&c->ring, CAP);
	*q = c;
	return 0;
}

static void ck_destroy(void *q)
{
	struct ckq *c = q;

	free(c->buf);
	free(c);
}

static inline bool ck_send(void *q, void *ctx, tok_t t)
{
	struct ckq *c = q;

	(void)ctx;
	return ck_ring_enqueue_mpmc(&c->ring, c->buf, (void *)(uintptr_t)t);
}

static inline bool ck_recv(void *q, void *ctx, tok_t *t)
{
	struct ckq *c = q;
	void *v;

	(void)ctx;
	if (!ck_ring_dequeue_mpmc(&c->ring, c->buf, &v))
		return false;
	*t = (tok_t)(uintptr_t)v;
	return true;
}
SINGLES(ck)
STAMP(ck)

/* ---- DPDK rte_ring MP/MC ------------------------------------------------------------ */

#ifdef BENCH_WITH_DPDK
static bool dpdk_up;
static char dpdk_why[256] = "DPDK EAL not started";
static unsigned rr_seq;

static void dpdk_init(const char *argv0)
{
	char *eal[] = {(char *)argv0, "--no-huge", "--no-pci", "-l", "0-1", "--no-shconf", "-m", "128",
		       "--no-telemetry", "--log-level=error", NULL};
	cpu_set_t cpus;
	bool have = sched_getaffinity(0, sizeof(cpus), &cpus) == 0;

	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		snprintf(dpdk_why, sizeof(dpdk_why), "EAL did not start: %s", rte_strerror(rte_errno));
		return;
	}
	/* The EAL pinned this thread to core 0: give th_pin() both cores back. */
	if (have)
		sched_setaffinity(0, sizeof(cpus), &cpus);
	dpdk_up = true;
}

static int rr_create(void **q, int producers, char *why, size_t whylen)
{
	char name[32];

	(void)producers;
	if (!dpdk_up) {
		snprintf(why, whylen, "%s", dpdk_why);
		return -ENODEV;
	}
	snprintf(name, sizeof(name), "bch%u", rr_seq++);
	*q = rte_ring_create(name, CAP, SOCKET_ID_ANY, RING_F_EXACT_SZ); /* flags 0: MP/MC */
	if (!*q) {
		snprintf(why, whylen, "rte_ring_create: %s", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	return 0;
}

static void rr_destroy(void *q)
{
	rte_ring_free(q);
}

static inline bool rr_send(void *q, void *ctx, tok_t t)
{
	(void)ctx;
	return rte_ring_mp_enqueue(q, (void *)(uintptr_t)t) == 0;
}

static inline bool rr_recv(void *q, void *ctx, tok_t *t)
{
	void *v;

	(void)ctx;
	if (rte_ring_mc_dequeue(q, &v) != 0)
		return false;
	*t = (tok_t)(uintptr_t)v;
	return true;
}
SINGLES(rr)
STAMP(rr)

enum { rrb_N = BURST };
static inline int rrb_send_n(void *q, void *ctx, const tok_t *t, int n)
{
	(void)ctx;
	return (int)rte_ring_mp_enqueue_burst(q, (void *const *)t, (unsigned)n, NULL);
}

static inline int rrb_recv_n(void *q, void *ctx, tok_t *t, int n)
{
	(void)ctx;
	return (int)rte_ring_mc_dequeue_burst(q, (void **)t, (unsigned)n, NULL);
}
STAMP(rrb)
#endif

/* ---- liburcu wfcqueue ----------------------------------------------------------------- */

#ifdef HAVE_URCU_CDS
/* A node of a producer's ring: reused once its consumer flagged it taken. */
struct wnode {
	struct cds_wfcq_node node;
	tok_t tok;
	int taken;
} __attribute__((aligned(64)));

struct wq {
	struct cds_wfcq_head head;
	struct cds_wfcq_tail tail;
};

/* A producer's context: its ring of nodes. */
struct wctx {
	struct wnode *nodes;
	uint32_t n, next;
};

static int wq_create(void **q, int producers, char *why, size_t whylen)
{
	struct wq *w = aligned_alloc(64, sizeof(*w));

	(void)producers;
	if (!w) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	cds_wfcq_init(&w->head, &w->tail);
	*q = w;
	return 0;
}

static void wq_destroy(void *q)
{
	struct wq *w = q;

	cds_wfcq_destroy(&w->head, &w->tail);
	free(w);
}

static void *wq_ctx(int producers)
{
	struct wctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->n = CAP / (uint32_t)producers;
	c->nodes = aligned_alloc(64, c->n * sizeof(struct wnode));
	if (!c->nodes) {
		free(c);
		return NULL;
	}
	for (uint32_t i = 0; i < c->n; i++) {
		cds_wfcq_node_init(&c->nodes[i].node);
		c->nodes[i].taken = 1;
	}
	return c;
}

static void wq_ctx_free(void *ctx)
{
	struct wctx *c = ctx;

	if (c)
		free(c->nodes);
	free(c);
}

static inline bool wq_send(void *q, void *ctx, tok_t t)
{
	struct wq *w = q;
	struct wctx *c = ctx;
	struct wnode *nd = &c->nodes[c->next];

	/* Full: this producer's oldest node is still in the queue (or being read). */
	if (!ck_pr_load_int(&nd->taken))
		return false;
	ck_pr_fence_load(); /* the consumer's reads of the node before our writes */
	ck_pr_store_int(&nd->taken, 0);
	nd->tok = t;
	cds_wfcq_node_init(&nd->node);
	c->next = c->next + 1 == c->n ? 0 : c->next + 1;
	(void)cds_wfcq_enqueue(&w->head, &w->tail, &nd->node);
	return true;
}

static inline bool wq_recv(void *q, void *ctx, tok_t *t)
{
	struct wq *w = q;
	struct cds_wfcq_node *n = cds_wfcq_dequeue_blocking(&w->head, &w->tail);
	struct wnode *nd;

	(void)ctx;
	if (!n)
		return false;
	nd = caa_container_of(n, struct wnode, node);
	*t = nd->tok;
	ck_pr_fence_store(); /* our read before the flag that lets the producer reuse it */
	ck_pr_store_int(&nd->taken, 1);
	return true;
}
SINGLES(wq)
STAMP(wq)
#endif

/* ---- the peers ----------------------------------------------------------------------- */

struct peer {
	const char *name;
	const char *what;
	int (*create)(void **q, int producers, char *why, size_t whylen);
	void (*destroy)(void *q);
	void *(*producer)(void *);
	void *(*consumer)(void *);
	uint64_t (*pairs)(void *q, void *ctx, uint64_t pairs);
	void *(*ctx)(int producers); /* per-producer context, or NULL */
	void (*ctx_free)(void *ctx);
	const char *missing; /* why it is not built here, or NULL */
};

#define PEER(name, what, pfx, create, destroy, ctx, ctx_free)                                                        \
	{name, what, create, destroy, pfx##_producer, pfx##_consumer, pfx##_pairs, ctx, ctx_free, NULL}
#define MISSING(name, what, why) {name, what, NULL, NULL, NULL, NULL, NULL, NULL, NULL, why}

static const struct peer peers[] = {
	PEER("iobuf_chan", "iobuf_chan_send / iobuf_chan_recv (handles)", chan, chan_create, chan_destroy, NULL, NULL),
	PEER("ck_ring_mpmc", "ck_ring_enqueue_mpmc / ck_ring_dequeue_mpmc", ck, ck_create, ck_destroy, NULL, NULL),
#ifdef BENCH_WITH_DPDK
	PEER("dpdk_rte_ring", "rte_ring_mp_enqueue / rte_ring_mc_dequeue", rr, rr_create, rr_destroy, NULL, NULL),
#else
	MISSING("dpdk_rte_ring", "rte_ring_mp_enqueue / rte_ring_mc_dequeue", "DPDK not found by configure (libdpdk-dev)"),
#endif
#ifdef HAVE_URCU_CDS
	PEER("urcu_wfcqueue", "cds_wfcq_enqueue / cds_wfcq_dequeue_blocking", wq, wq_create, wq_destroy, wq_ctx,
	     wq_ctx_free),
#else
	MISSING("urcu_wfcqueue", "cds_wfcq_enqueue / cds_wfcq_dequeue_blocking", "liburcu not found by configure (liburcu-dev)"),
#endif
	PEER("iobuf_chan_burst32", "iobuf_chan_send_burst / _recv_burst of 32", chanb, chan_create, chan_destroy, NULL,
	     NULL),
#ifdef BENCH_WITH_DPDK
	PEER("dpdk_rte_ring_burst32", "rte_ring_mp_enqueue_burst / _mc_dequeue_burst of 32", rrb, rr_create, rr_destroy,
	     NULL, NULL),
#else
	MISSING("dpdk_rte_ring_burst32", "rte_ring_mp_enqueue_burst / _mc_dequeue_burst of 32",
		"DPDK not found by configure (libdpdk-dev)"),
#endif
};
#define NPEERS ((int)(sizeof(peers) / sizeof(peers[0])))
/* The reference of each row's ratio: the singles against iobuf_chan, the bursts against iobuf_chan_burst32. */
static int ref_of(int pi)
{
	const char *ref = strstr(peers[pi].name, "burst") ? "iobuf_chan_burst32" : "iobuf_chan";

	for (int k = 0; k < NPEERS; k++)
		if (strcmp(peers[k].name, ref) == 0)
			return k;
	return 0;
}

/* One run: fresh queue, warm-up, timed run.  Returns tokens per second, or < 0 with @why. */
static double run_once(const struct peer *pe, int producers, uint64_t ms, char *why, size_t whylen)
{
	double rate = -1;
	void *q = NULL;

	if (pe->create(&q, producers, why, whylen) < 0)
		return -1;
	for (int pass = 0; pass < 2; pass++) {
		struct run r = {.q = q, .producers = producers};
		struct thr t[2 * MAXT];
		pthread_t th[2 * MAXT];
		uint64_t sent = 0, got = 0, ssum = 0, gsum = 0, t1 = 0;

		r.t0 = th_now_ns();
		r.stop_at = r.t0 + (pass == 0 ? ms * 1000000u / 5 + 1 : ms * 1000000u);
		for (int i = 0; i < 2 * producers; i++) {
			t[i] = (struct thr){.r = &r, .id = i % producers};
			if (i < producers && pe->ctx && !(t[i].ctx = pe->ctx(producers))) {
				snprintf(why, whylen, "out of memory");
				goto out;
			}
		}
		for (int i = 0; i < 2 * producers; i++)
			pthread_create(&th[i], NULL, i < producers ? pe->producer : pe->consumer, &t[i]);
		for (int i = 0; i < 2 * producers; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < producers; i++) {
			sent += t[i].n;
			ssum += t[i].sum;
			if (pe->ctx_free)
				pe->ctx_free(t[i].ctx);
		}
		for (int i = producers; i < 2 * producers; i++) {
			got += t[i].n;
			gsum += t[i].sum;
			t1 = t[i].t1 > t1 ? t[i].t1 : t1;
		}
		if (sent != got || ssum != gsum) {
			snprintf(why, whylen, "%" PRIu64 " sent, %" PRIu64 " received (or the sums differ)", sent, got);
			rate = -1;
			break;
		}
		rate = (double)got / ((double)(t1 - r.t0) / 1e9);
	}
out:
	pe->destroy(q);
	return rate;
}

#define cmp_double bench_cmp_double

/* Instructions per send+receive pair of one peer: this program under callgrind. */
static double callgrind_ir(const char *self, const char *valgrind, int pi, uint64_t pairs)
{
	char sp[16], sn[32];
	char *args[] = {(char *)self, "--count-one", sp, sn, NULL};

	snprintf(sp, sizeof(sp), "%d", pi);
	snprintf(sn, sizeof(sn), "%" PRIu64, pairs);
	return bench_callgrind_ir(valgrind, "bench_chan", args, NULL, pairs);
}

/* Under callgrind: warm up, then @pairs pairs instrumented. */
static int count_one(int pi, uint64_t pairs)
{
	const struct peer *pe = &peers[pi];
	char why[160] = "";
	void *q = NULL, *ctx = NULL;
	uint64_t sum;

	if (pi < 0 || pi >= NPEERS || !pe->create || pe->create(&q, 1, why, sizeof(why)) < 0)
		return 1;
	if (pe->ctx && !(ctx = pe->ctx(1)))
		return 1;
	sum = pe->pairs(q, ctx, 4096);
	if (sum == 0)
		return 1;
#ifdef HAVE_VALGRIND_CALLGRIND_H
	CALLGRIND_ZERO_STATS;
	CALLGRIND_START_INSTRUMENTATION;
#endif
	sum += pe->pairs(q, ctx, pairs);
#ifdef HAVE_VALGRIND_CALLGRIND_H
	CALLGRIND_STOP_INSTRUMENTATION;
#endif
	if (pe->ctx_free)
		pe->ctx_free(ctx);
	pe->destroy(q);
	return sum == 0; /* keeps the loop's result alive */
}

int main(int argc, char **argv)
{
	static const int cases[] = {1, 2};
	enum { NCASES = 2 };
	int rounds = 5;
	uint64_t ms = 300, cg_pairs = 64 * 1024;
	const char *valgrind = NULL, *only = NULL;
	static double rate[NPEERS][NCASES][MAXROUNDS], med[NPEERS][NCASES], ir[NPEERS];
	static char skip[NPEERS][160];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			rounds = 3;
			ms = 100;
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
			ms = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--valgrind") == 0 && i + 1 < argc) {
			valgrind = argv[++i];
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (strcmp(argv[i], "--count-one") == 0 && i + 2 < argc) {
#ifdef BENCH_WITH_DPDK
			if (strstr(peers[atoi(argv[i + 1]) % NPEERS].name, "dpdk"))
				dpdk_init(argv[0]);
#endif
			return count_one(atoi(argv[i + 1]), strtoull(argv[i + 2], NULL, 10));
		} else {
			fprintf(stderr, "usage: %s [--quick] [--rounds N] [--ms MS] [--valgrind PATH] [--only NAME]\n",
				argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAXROUNDS)
		rounds = rounds < 1 ? 1 : MAXROUNDS;
#ifdef BENCH_WITH_DPDK
	dpdk_init(argv[0]);
	if (dpdk_up)
		printf("# DPDK %s: EAL up (--no-huge --no-pci -l 0-1)\n", rte_version());
	else
		printf("# DPDK: %s\n", dpdk_why);
#endif
	printf("# bench_chan: capacity %d, 8-byte tokens, %d rounds of %" PRIu64 " ms after a warm-up, %d CPUs\n",
	       CAP, rounds, ms, th_ncpus());
	for (int pi = 0; pi < NPEERS; pi++)
		if (peers[pi].missing)
			snprintf(skip[pi], sizeof(skip[pi]), "%s", peers[pi].missing);
		else if (only && !strstr(peers[pi].name, only) && pi != ref_of(pi))
			snprintf(skip[pi], sizeof(skip[pi]), "not asked for (--only)");

	for (int c = 0; c < NCASES; c++) {
		/* A warm-up round of every peer, then the rounds, the order rotated. */
		for (int rd = -1; rd < rounds; rd++)
			for (int k = 0; k < NPEERS; k++) {
				int pi = (k + (rd < 0 ? 0 : rd)) % NPEERS;
				char why[160] = "";
				double v;

				if (skip[pi][0])
					continue;
				v = run_once(&peers[pi], cases[c], ms, why, sizeof(why));
				if (v < 0) {
					snprintf(skip[pi], sizeof(skip[pi]), "%s", why[0] ? why : "failed");
					printf("skipped: %s: %s\n", peers[pi].name, skip[pi]);
					continue;
				}
				if (rd >= 0)
					rate[pi][c][rd] = v;
			}
		for (int pi = 0; pi < NPEERS; pi++) {
			double s[MAXROUNDS];

			if (skip[pi][0])
				continue;
			memcpy(s, rate[pi][c], sizeof(double) * (size_t)rounds);
			qsort(s, (size_t)rounds, sizeof(double), cmp_double);
			med[pi][c] = s[rounds / 2];
		}
	}
	if (valgrind && valgrind[0])
		for (int pi = 0; pi < NPEERS; pi++)
			ir[pi] = skip[pi][0] ? -1 : callgrind_ir(argv[0], valgrind, pi, cg_pairs);

	printf("\n| peer | 1x1 M/s median (min-max) | 1x1 chan/peer | 2x2 M/s median (min-max) | 2x2 chan/peer |%s\n",
	       valgrind && valgrind[0] ? " instr/pair (1 thread) |" : "");
	printf("| --- | ---: | ---: | ---: | ---: |%s\n", valgrind && valgrind[0] ? " ---: |" : "");
	for (int pi = 0; pi < NPEERS; pi++) {
		int ref = ref_of(pi);

		if (skip[pi][0]) {
			printf("| %s | skipped: %s | | | |%s\n", peers[pi].name, skip[pi],
			       valgrind && valgrind[0] ? " |" : "");
			continue;
		}
		printf("| %s |", peers[pi].name);
		for (int c = 0; c < NCASES; c++) {
			double lo = rate[pi][c][0], hi = lo;

			for (int rd = 1; rd < rounds; rd++) {
				lo = rate[pi][c][rd] < lo ? rate[pi][c][rd] : lo;
				hi = rate[pi][c][rd] > hi ? rate[pi][c][rd] : hi;
			}
			printf(" %.2f (%.2f-%.2f) |", med[pi][c] / 1e6, lo / 1e6, hi / 1e6);
			if (skip[ref][0] || med[pi][c] <= 0)
				printf(" - |");
			else
				printf(" %.2f |", med[ref][c] / med[pi][c]);
		}
		if (valgrind && valgrind[0]) {
			if (ir[pi] < 0)
				printf(" - |");
			else
				printf(" %.1f |", ir[pi]);
		}
		printf("\n");
	}
	printf("\nchan/peer: the channel's median over the peer's (above 1: the channel is faster); the burst rows\n"
	       "against iobuf_chan_burst32.  M/s: millions of tokens received per second, all consumers together.\n");
	for (int pi = 0; pi < NPEERS; pi++)
		printf("#   %-22s %s\n", peers[pi].name, peers[pi].what);
	return 0;
}
