/* SPDX-License-Identifier: MIT */
/*
 * bench_reserve.c - reserve and commit (iobuf/reserve.h) against the ways
 * a user would merge many writers' records into one consumer instead, in
 * one process, rounds interleaved:
 *
 *   iobuf_stream   iobuf_stream_reserve(), the record written in place in
 *                  the group's buffer, iobuf_reservation_commit(); the
 *                  consumer waits in iobuf_stream_wait(), walks the
 *                  dispatched group's committed records and puts its slice
 *   mutex_memcpy   one buffer under a mutex: a writer copies its record in
 *                  (behind an 8-byte length) and signals a condition
 *                  variable when the consumer sleeps; the consumer swaps
 *                  the full buffer with its empty one under the lock and
 *                  walks it outside (a writer finding no room waits on a
 *                  second condition variable)
 *   urcu_wfcqueue  one liburcu wfcqueue node per record: malloc, copy,
 *                  cds_wfcq_enqueue() (inlined, wait-free); the consumer
 *                  __cds_wfcq_dequeue_blocking() (one consumer: no mutex)
 *                  and frees; the queue is unbounded, so writers hold off
 *                  while 1024 nodes are in flight
 *   iobuf_ring     one single-writer iobuf ring per writer (iobuf/ring.h,
 *                  lossless, 1024 entries of the record's size): claim,
 *                  copy into the entry in place, publish; the consumer
 *                  merges the rings round-robin, reads in place, releases
 *
 * Every writer produces its record the same way: a copy of the record's
 * size from its own template (that is the "fill"; for the stream and the
 * ring it lands where the consumer reads it, for the mutex and the queue
 * it is the copy into the shared buffer or the node).  The first 8 bytes
 * are a token (writer, sequence), which the consumer adds up and checks
 * against what the writers sent: nothing lost, nothing twice.  One record
 * in 64 also carries th_now_ns() taken just before its commit (publish,
 * enqueue, unlock); the consumer subtracts it from th_now_ns() when the
 * record reaches it: the latency from commit to dispatch.
 *
 * Cases: 64 B and 1 KiB records, 1, 2 and 4 writers (writer i on core
 * i mod ncpus), the consumer on the last core.  Stream: groups of 64 KiB
 * (sealed when the next record does not fit), 16 group slots; mutex: two
 * buffers of 64 KiB.  Both sides idle the same way where a peer has no
 * waiting form (spin 200, then sched_yield()); the stream's consumer waits
 * on its futex (1 ms at a time), the mutex's on its condition variable.
 *
 * A run makes a fresh queue, warms up for a fifth of its time, then the
 * timed run: writers send until the time is up, the consumer drains (the
 * stream's by finalize and polls to -EPIPE); the rate is the records
 * received over the time from the start to the consumer's end.  Per case,
 * one warm-up round of every peer, then N rounds of every peer once, the
 * order rotated each round; medians with min-max, and stream/peer = the
 * stream's median rate over the peer's (above 1: the stream is faster).
 *
 * Latency alone: one writer, one record every 20 us, each followed by
 * iobuf_stream_flush() (so each group is one record and nothing waits
 * for a group to fill), the consumer in iobuf_stream_wait().
 *
 * Instructions per record: with --valgrind PATH, the program runs itself
 * under callgrind --instr-atstart=no once per peer and size, on one thread:
 * 32 records written, then everything ready consumed, repeated; the loop
 * alone instrumented, nothing subtracted.
 *
 * Usage: bench_reserve [--quick] [--rounds N] [--ms MS] [--valgrind PATH]
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
#include <unistd.h>

#include <ck_pr.h>

#include <iobuf/reserve.h>
#include <iobuf/ring.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#include "../tests/common/thread.h"
#include "util.h"

#ifdef HAVE_VALGRIND_CALLGRIND_H
#include <valgrind/callgrind.h>
#endif

#ifdef HAVE_URCU_CDS
#define _LGPL_SOURCE
#include <urcu/wfcqueue.h>
#endif

#define MAXW 4
#define SPINS 200
#define MAXROUNDS 32
#define GROUP (64u * 1024)	/* the stream's group and the mutex's buffer */
#define GROUPS 16		/* the stream's group slots */
#define RING_CAP 1024		/* entries of each writer's ring */
#define WQ_INFLIGHT 1024	/* wfcqueue nodes in flight at the most */
#define STAMP_EVERY 64		/* one record in 64 carries its commit time */
#define MAXLAT (1u << 16)	/* latency samples kept per run */
#define CG_BATCH 32		/* records written between two drains under callgrind */

/* ---- what a run shares ------------------------------------------------------- */

struct run {
	void *q;	  /* the peer's queue */
	int writers;
	uint32_t len;	  /* record bytes */
	uint64_t stop_at; /* th_now_ns(): writers stop */
	int done;	  /* writers that finished */
	unsigned barrier;
	uint64_t t0;
};

struct wr {
	struct run *r;
	int id;
	uint64_t n, sum;
	unsigned char tmpl[1024];
};

struct cons {
	uint64_t n, sum;
	uint64_t *lat; /* MAXLAT samples */
	uint32_t nlat;
	uint64_t t1;
	uint64_t lost; /* the stream's reservations refused (retried) */
};

static inline void idle(unsigned *spins)
{
	if (++*spins < SPINS)
		ck_pr_stall();
	else
		sched_yield();
}

/* A token: never 0. */
static inline uint64_t token(int w, uint64_t i)
{
	return ((uint64_t)(w + 1) << 48) | (i + 1);
}

/* The writer's fill: its template, the token, and one record in STAMP_EVERY the time just before its commit. */
static inline void fill(unsigned char *dst, const struct wr *w, uint32_t len, uint64_t tok, uint64_t i)
{
	uint64_t stamp = 0;

	memcpy(dst, w->tmpl, len);
	memcpy(dst, &tok, sizeof(tok));
	if (i % STAMP_EVERY == 0)
		stamp = th_now_ns();
	memcpy(dst + 8, &stamp, sizeof(stamp));
}

/* The consumer's look at one record: its token, and its stamp when it has one. */
static inline void see(struct cons *c, const unsigned char *p)
{
	uint64_t tok, stamp;

	memcpy(&tok, p, sizeof(tok));
	memcpy(&stamp, p + 8, sizeof(stamp));
	c->sum += tok;
	c->n++;
	if (stamp && c->lat && c->nlat < MAXLAT)
		c->lat[c->nlat++] = th_now_ns() - stamp;
}

/*
 * A peer: create/destroy its queue; put() one record (spinning or waiting
 * inside while there is no room; returns false to give up when the run is
 * being torn down); take() what is ready, waiting when @block (returns the
 * records seen, 0 when nothing came); drain() after the writers ended
 * (false: nothing more).
 */
struct peer {
	const char *name, *what;
	int (*create)(void **q, int writers, uint32_t len);
	void (*destroy)(void *q);
	void (*put)(void *q, struct wr *w, uint32_t len, uint64_t i);
	uint64_t (*take)(void *q, struct cons *c, bool block);
	bool (*drain)(void *q, struct cons *c);
	const char *missing;
};

/* ---- iobuf_stream ----------------------------------------------------------- */

struct st_q {
	struct iobuf_set *set;
	struct iobuf_stream *s;
	uint64_t lost;
	bool finalized;
};

static int st_create(void **qp, int writers, uint32_t len)
{
	struct iobuf_set_config sc = {.capacity = {[IOBUF_TIER_HUGE] = GROUPS + 4}};
	struct iobuf_stream_config c = {.group_size = GROUP, .groups = GROUPS, .max_records = GROUP / 64};
	struct st_q *q = calloc(1, sizeof(*q));
	int err;

	(void)writers;
	(void)len;
	if (!q)
		return -ENOMEM;
	q->set = iobuf_set_create(&sc, &err);
	if (!q->set) {
		free(q);
		return err;
	}
	c.set = q->set;
	q->s = iobuf_stream_create(&c, &err);
	if (!q->s) {
		iobuf_set_destroy(q->set);
		free(q);
		return err;
	}
	*qp = q;
	return 0;
}

static void st_destroy(void *qv)
{
	struct st_q *q = qv;

	if (iobuf_stream_destroy(q->s) != 0)
		fprintf(stderr, "bench_reserve: iobuf_stream_destroy refused\n");
	iobuf_set_destroy(q->set);
	free(q);
}

static void st_put(void *qv, struct wr *w, uint32_t len, uint64_t i)
{
	struct st_q *q = qv;
	struct iobuf_reservation r;
	unsigned spins = 0;
	int rc;

	while ((rc = iobuf_stream_reserve(q->s, len, &r)) == -ENOBUFS)
		idle(&spins); /* the consumer lags: counted in stats.lost, retried */
	if (rc != 0)
		abort();
	fill(r.data, w, len, token(w->id, i), i);
	if (iobuf_reservation_commit(&r) != 0)
		abort();
}

static uint64_t st_group(struct st_q *q, struct cons *c, struct iobuf_group *g)
{
	const unsigned char *base = iobuf_slice_buf(q->set, &g->slice);
	uint64_t n = 0;

	for (uint32_t i = 0; i < g->nrec; i++)
		if (g->rec[i].state == IOBUF_RECORD_COMMITTED) {
			see(c, base + (g->rec[i].offset - g->offset));
			n++;
		}
	(void)iobuf_slice_put(q->set, &g->slice);
	return n;
}

static uint64_t st_take(void *qv, struct cons *c, bool block)
{
	struct st_q *q = qv;
	struct iobuf_group g;
	uint64_t n = 0;
	int rc;

	rc = block ? iobuf_stream_wait(q->s, &g, 1000000) : iobuf_stream_poll(q->s, &g);
	while (rc == 0) {
		n += st_group(q, c, &g);
		rc = iobuf_stream_poll(q->s, &g);
	}
	return n;
}

static bool st_drain(void *qv, struct cons *c)
{
	struct st_q *q = qv;
	struct iobuf_stream_stats ss;
	struct iobuf_group g;
	int rc;

	if (!q->finalized) {
		(void)iobuf_stream_finalize(q->s);
		q->finalized = true;
	}
	while ((rc = iobuf_stream_wait(q->s, &g, 1000000)) != -EPIPE)
		if (rc == 0)
			(void)st_group(q, c, &g);
	if (iobuf_stream_stats(q->s, &ss) == 0)
		c->lost = ss.lost;
	return false;
}

/* ---- mutex_memcpy ----------------------------------------------------------- */

struct mx_q {
	pthread_mutex_t mu;
	pthread_cond_t ready, room;
	unsigned char *buf, *spare;
	size_t used;
	bool cons_sleeps;
	int room_waiters;
};

static int mx_create(void **qp, int writers, uint32_t len)
{
	struct mx_q *q = calloc(1, sizeof(*q));

	(void)writers;
	(void)len;
	if (!q || !(q->buf = malloc(GROUP)) || !(q->spare = malloc(GROUP))) {
		if (q)
			free(q->buf);
		free(q);
		return -ENOMEM;
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->ready, NULL);
	pthread_cond_init(&q->room, NULL);
	*qp = q;
	return 0;
}

static void mx_destroy(void *qv)
{
	struct mx_q *q = qv;

	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->ready);
	pthread_cond_destroy(&q->room);
	free(q->buf);
	free(q->spare);
	free(q);
}

static void mx_put(void *qv, struct wr *w, uint32_t len, uint64_t i)
{
	struct mx_q *q = qv;
	uint64_t l = len;

	pthread_mutex_lock(&q->mu);
	while (q->used + 8 + len > GROUP) {
		q->room_waiters++;
		pthread_cond_wait(&q->room, &q->mu);
		q->room_waiters--;
	}
	memcpy(q->buf + q->used, &l, sizeof(l));
	fill(q->buf + q->used + 8, w, len, token(w->id, i), i);
	q->used += 8 + len;
	if (q->cons_sleeps)
		pthread_cond_signal(&q->ready);
	pthread_mutex_unlock(&q->mu);
}

static uint64_t mx_take(void *qv, struct cons *c, bool block)
{
	struct mx_q *q = qv;
	unsigned char *b;
	size_t used;
	uint64_t n = 0;

	pthread_mutex_lock(&q->mu);
	if (block && q->used == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		q->cons_sleeps = true;
		(void)pthread_cond_timedwait(&q->ready, &q->mu, &ts);
		q->cons_sleeps = false;
	}
	b = q->buf;
	used = q->used;
	q->buf = q->spare;
	q->spare = b;
	q->used = 0;
	if (q->room_waiters)
		pthread_cond_broadcast(&q->room);
	pthread_mutex_unlock(&q->mu);
	/* The spare is the consumer's alone until its next take. */
	for (size_t at = 0; at < used;) {
		uint64_t l;

		memcpy(&l, b + at, sizeof(l));
		see(c, b + at + 8);
		at += 8 + l;
		n++;
	}
	return n;
}

static bool mx_drain(void *qv, struct cons *c)
{
	return mx_take(qv, c, false) > 0;
}

/* ---- urcu_wfcqueue ---------------------------------------------------------- */

#ifdef HAVE_URCU_CDS
struct wq_node {
	struct cds_wfcq_node node;
	uint64_t len;
	unsigned char data[];
};

struct wq_q {
	struct cds_wfcq_head head;
	struct cds_wfcq_tail tail;
	int inflight;
};

static int wq_create(void **qp, int writers, uint32_t len)
{
	struct wq_q *q = calloc(1, sizeof(*q));

	(void)writers;
	(void)len;
	if (!q)
		return -ENOMEM;
	cds_wfcq_init(&q->head, &q->tail);
	*qp = q;
	return 0;
}

static void wq_destroy(void *qv)
{
	struct wq_q *q = qv;

	cds_wfcq_destroy(&q->head, &q->tail);
	free(q);
}

static void wq_put(void *qv, struct wr *w, uint32_t len, uint64_t i)
{
	struct wq_q *q = qv;
	struct wq_node *nd;
	unsigned spins = 0;

	while (ck_pr_load_int(&q->inflight) >= WQ_INFLIGHT)
		idle(&spins);
	ck_pr_inc_int(&q->inflight);
	nd = malloc(sizeof(*nd) + len);
	if (!nd)
		abort();
	cds_wfcq_node_init(&nd->node);
	nd->len = len;
	fill(nd->data, w, len, token(w->id, i), i);
	cds_wfcq_enqueue(&q->head, &q->tail, &nd->node);
}

static uint64_t wq_take(void *qv, struct cons *c, bool block)
{
	struct wq_q *q = qv;
	struct cds_wfcq_node *n;
	uint64_t got = 0;
	unsigned spins = 0;

	for (;;) {
		n = __cds_wfcq_dequeue_blocking(&q->head, &q->tail);
		if (!n) {
			if (got || !block || spins >= SPINS + 16)
				return got;
			idle(&spins);
			continue;
		}
		struct wq_node *nd = caa_container_of(n, struct wq_node, node);

		see(c, nd->data);
		free(nd);
		ck_pr_dec_int(&q->inflight);
		got++;
	}
}

static bool wq_drain(void *qv, struct cons *c)
{
	return wq_take(qv, c, false) > 0;
}
#endif

/* ---- iobuf_ring -------------------------------------------------------------- */

struct rg_q {
	struct iobuf_ring *ring[MAXW];
	int n;
	int next; /* the consumer's round-robin */
};

static void rg_destroy(void *qv)
{
	struct rg_q *q = qv;

	for (int i = 0; i < q->n; i++)
		iobuf_ring_destroy(q->ring[i]);
	free(q);
}

static int rg_create(void **qp, int writers, uint32_t len)
{
	struct iobuf_ring_config c = {.capacity = RING_CAP, .entry_size = len, .mode = IOBUF_RING_LOSSLESS,
				      .max_readers = 1, .wait = IOBUF_RING_YIELD, .spins = SPINS};
	struct rg_q *q = calloc(1, sizeof(*q));
	int err = 0;

	if (!q)
		return -ENOMEM;
	for (int i = 0; i < writers; i++) {
		q->ring[i] = iobuf_ring_create(&c, &err);
		if (!q->ring[i] || iobuf_ring_reader_add(q->ring[i], NULL, 0) != 0) {
			rg_destroy(q);
			return err ? err : -EINVAL;
		}
		q->n++;
	}
	*qp = q;
	return 0;
}

static void rg_put(void *qv, struct wr *w, uint32_t len, uint64_t i)
{
	struct rg_q *q = qv;
	struct iobuf_ring *ring = q->ring[w->id];
	unsigned spins = 0;
	uint64_t seq;

	while (iobuf_ring_try_claim(ring, 1, &seq) != 0)
		idle(&spins);
	fill(iobuf_ring_entry(ring, seq), w, len, token(w->id, i), i);
	(void)iobuf_ring_publish(ring, seq, 1);
}

static uint64_t rg_take(void *qv, struct cons *c, bool block)
{
	struct rg_q *q = qv;
	uint64_t got = 0;
	unsigned spins = 0;

	for (;;) {
		for (int k = 0; k < q->n; k++) {
			struct iobuf_ring *ring = q->ring[(q->next + k) % q->n];
			uint64_t first;
			int n = iobuf_ring_poll(ring, 0, &first, NULL);

			for (int j = 0; j < n; j++)
				see(c, iobuf_ring_entry(ring, first + (uint64_t)j));
			if (n > 0) {
				(void)iobuf_ring_release(ring, 0, first + (uint64_t)n);
				got += (uint64_t)n;
			}
		}
		q->next = (q->next + 1) % q->n;
		if (got || !block || spins >= SPINS + 16)
			return got;
		idle(&spins);
	}
}

static bool rg_drain(void *qv, struct cons *c)
{
	return rg_take(qv, c, false) > 0;
}

/* ---- the peers ----------------------------------------------------------------- */

#define PEER(name, what, pfx) {name, what, pfx##_create, pfx##_destroy, pfx##_put, pfx##_take, pfx##_drain, NULL}

static const struct peer peers[] = {
	PEER("iobuf_stream", "iobuf_stream_reserve / in place / _commit; iobuf_stream_wait, walk, slice put", st),
	PEER("mutex_memcpy", "mutex + memcpy into one buffer + condvar; the consumer swaps buffers", mx),
#ifdef HAVE_URCU_CDS
	PEER("urcu_wfcqueue", "malloc + memcpy + cds_wfcq_enqueue; __cds_wfcq_dequeue_blocking + free", wq),
#else
	{"urcu_wfcqueue", "malloc + memcpy + cds_wfcq_enqueue", NULL, NULL, NULL, NULL, NULL,
	 "liburcu not found by configure (liburcu-dev)"},
#endif
	PEER("iobuf_ring", "one iobuf_ring per writer: claim / in place / publish; merged round-robin", rg),
};
#define NPEERS ((int)(sizeof(peers) / sizeof(peers[0])))

/* ---- the threads ---------------------------------------------------------------- */

struct wr_arg {
	struct wr *w;
	const struct peer *pe;
};

static void *writer_main(void *arg)
{
	struct wr_arg *a = arg;
	struct wr *w = a->w;
	struct run *r = w->r;
	uint64_t i = 0, sum = 0;

	th_pin(w->id);
	bench_barrier_wait(&r->barrier, (unsigned)r->writers + 1, false);
	for (;;) {
		if ((i & 255) == 0 && th_now_ns() >= r->stop_at)
			break;
		a->pe->put(r->q, w, r->len, i);
		sum += token(w->id, i);
		i++;
	}
	w->n = i;
	w->sum = sum;
	ck_pr_inc_int(&r->done);
	return NULL;
}

struct cons_arg {
	const struct peer *pe;
	struct run *r;
	struct cons *c;
};

/* The consumer, on a thread of its own (main stays unpinned): until every writer is done, then drain. */
static void *consume(void *arg)
{
	struct cons_arg *a = arg;
	const struct peer *pe = a->pe;
	struct run *r = a->r;
	struct cons *c = a->c;

	th_pin(th_ncpus() - 1);
	bench_barrier_wait(&r->barrier, (unsigned)r->writers + 1, false);
	while (ck_pr_load_int(&r->done) < r->writers)
		(void)pe->take(r->q, c, true);
	while (pe->drain(r->q, c))
		;
	c->t1 = th_now_ns();
	return NULL;
}

struct result {
	double rate;	 /* records per second */
	double p50, p99; /* commit to dispatch, ns */
	uint64_t lost;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One run: fresh queue, warm-up, timed run.  Returns 0, or -1 with @why. */
static int run_once(const struct peer *pe, int writers, uint32_t len, uint64_t ms, uint64_t *lat, struct result *res,
		    char *why, size_t whylen)
{
	static struct wr w[MAXW];
	int rc = -1;

	for (int pass = 0; pass < 2; pass++) {
		struct run r = {.writers = writers, .len = len};
		struct cons c = {.lat = pass ? lat : NULL};
		struct wr_arg a[MAXW];
		pthread_t th[MAXW], cth;
		struct cons_arg ca = {pe, &r, &c};
		uint64_t sent = 0, ssum = 0;
		int err;

		if ((err = pe->create(&r.q, writers, len)) != 0) {
			snprintf(why, whylen, "create: %s", strerror(-err));
			return -1;
		}
		r.t0 = th_now_ns();
		r.stop_at = r.t0 + (pass == 0 ? ms * 1000000u / 5 + 1 : ms * 1000000u);
		for (int i = 0; i < writers; i++) {
			w[i].r = &r;
			w[i].id = i;
			memset(w[i].tmpl, 0x5a + i, sizeof(w[i].tmpl));
			a[i] = (struct wr_arg){&w[i], pe};
			if (pthread_create(&th[i], NULL, writer_main, &a[i]) != 0)
				abort();
		}
		if (pthread_create(&cth, NULL, consume, &ca) != 0)
			abort();
		pthread_join(cth, NULL);
		for (int i = 0; i < writers; i++) {
			pthread_join(th[i], NULL);
			sent += w[i].n;
			ssum += w[i].sum;
		}
		pe->destroy(r.q);
		if (sent != c.n || ssum != c.sum) {
			snprintf(why, whylen, "%" PRIu64 " sent, %" PRIu64 " received (or the sums differ)", sent, c.n);
			return -1;
		}
		if (pass == 1) {
			res->rate = (double)c.n / ((double)(c.t1 - r.t0) / 1e9);
			qsort(lat, c.nlat, sizeof(*lat), cmp_u64);
			res->p50 = c.nlat ? (double)lat[c.nlat / 2] : -1;
			res->p99 = c.nlat ? (double)lat[(uint64_t)c.nlat * 99 / 100] : -1;
			res->lost = c.lost;
			rc = 0;
		}
	}
	return rc;
}

/* ---- latency alone: one paced writer, a flush after each record ------------------- */

struct pace {
	struct st_q *q;
	uint64_t n, gap_ns, done;
	unsigned barrier;
};

static void *pace_writer(void *arg)
{
	struct pace *p = arg;
	static struct wr w;
	uint64_t next;

	th_pin(0);
	memset(w.tmpl, 0x33, sizeof(w.tmpl));
	bench_barrier_wait(&p->barrier, 2, false);
	next = th_now_ns();
	for (uint64_t i = 0; i < p->n; i++) {
		struct iobuf_reservation r;
		uint64_t tok = token(0, i), stamp;

		while (th_now_ns() < next)
			ck_pr_stall();
		next += p->gap_ns;
		while (iobuf_stream_reserve(p->q->s, 64, &r) != 0)
			sched_yield();
		memcpy(r.data, w.tmpl, 64);
		memcpy(r.data, &tok, sizeof(tok));
		stamp = th_now_ns();
		memcpy((unsigned char *)r.data + 8, &stamp, sizeof(stamp));
		(void)iobuf_reservation_commit(&r);
		(void)iobuf_stream_flush(p->q->s);
	}
	ck_pr_store_64(&p->done, 1);
	return NULL;
}

struct pace_cons {
	struct pace *p;
	struct cons c;
};

static void *pace_consumer(void *arg)
{
	struct pace_cons *pc = arg;

	th_pin(th_ncpus() - 1);
	bench_barrier_wait(&pc->p->barrier, 2, false);
	while (!ck_pr_load_64(&pc->p->done))
		(void)st_take(pc->p->q, &pc->c, true);
	return NULL;
}

/* Returns the samples (sorted) in @lat, their count, or -1. */
static int64_t paced_latency(uint64_t n, uint64_t *lat)
{
	struct pace p = {.n = n, .gap_ns = 20000};
	struct pace_cons pc = {.p = &p, .c = {.lat = lat}};
	struct cons *cp = &pc.c;
	struct cons c;
	pthread_t th, cth;
	void *qv;

	if (n > MAXLAT || st_create(&qv, 1, 64) != 0)
		return -1;
	p.q = qv;
	if (pthread_create(&th, NULL, pace_writer, &p) != 0 || pthread_create(&cth, NULL, pace_consumer, &pc) != 0)
		abort();
	pthread_join(th, NULL);
	pthread_join(cth, NULL);
	(void)st_drain(qv, cp);
	c = *cp;
	st_destroy(qv);
	if (c.n != n)
		return -1;
	qsort(lat, c.nlat, sizeof(*lat), cmp_u64);
	return c.nlat;
}

/* ---- instructions per record, under callgrind ---------------------------------------- */

static uint64_t cg_loop(const struct peer *pe, void *q, struct wr *w, uint32_t len, uint64_t n, struct cons *c)
{
	uint64_t i = 0;

	while (i < n) {
		for (int k = 0; k < CG_BATCH && i < n; k++, i++)
			pe->put(q, w, len, i);
		(void)pe->take(q, c, false);
	}
	return c->n;
}

static int count_one(int pi, uint32_t len, uint64_t n)
{
	const struct peer *pe = &peers[pi];
	static struct wr w;
	struct cons c = {0};
	struct run r = {.writers = 1, .len = len};
	void *q;

	if (pi < 0 || pi >= NPEERS || !pe->create || pe->create(&q, 1, len) != 0)
		return 1;
	w.r = &r;
	memset(w.tmpl, 0x5a, sizeof(w.tmpl));
	(void)cg_loop(pe, q, &w, len, 4096, &c);
#ifdef HAVE_VALGRIND_CALLGRIND_H
	CALLGRIND_ZERO_STATS;
	CALLGRIND_START_INSTRUMENTATION;
#endif
	(void)cg_loop(pe, q, &w, len, n, &c);
#ifdef HAVE_VALGRIND_CALLGRIND_H
	CALLGRIND_STOP_INSTRUMENTATION;
#endif
	while (pe->drain(q, &c))
		;
	pe->destroy(q);
	return c.n < n; /* every record came through */
}

/* ---- main ------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	static const uint32_t lens[] = {64, 1024};
	static const int nwriters[] = {1, 2, 4};
	enum { NL = 2, NW = 3 };
	static struct result res[NPEERS][NL][NW][MAXROUNDS];
	static double ir[NPEERS][NL];
	static char skip[NPEERS][160];
	static uint64_t lat[MAXLAT];
	const char *valgrind = NULL;
	int rounds = 5;
	uint64_t ms = 300, cg_n = 32 * 1024, paced_n = 25000;
	int64_t np;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			rounds = 3;
			ms = 50;
			paced_n = 5000;
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
			ms = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--valgrind") == 0 && i + 1 < argc) {
			valgrind = argv[++i];
		} else if (strcmp(argv[i], "--count-one") == 0 && i + 3 < argc) {
			return count_one(atoi(argv[i + 1]), (uint32_t)atoi(argv[i + 2]), strtoull(argv[i + 3], NULL, 10));
		} else {
			fprintf(stderr, "usage: %s [--quick] [--rounds N] [--ms MS] [--valgrind PATH]\n", argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAXROUNDS)
		rounds = rounds < 1 ? 1 : MAXROUNDS;
	for (int pi = 0; pi < NPEERS; pi++)
		if (peers[pi].missing)
			snprintf(skip[pi], sizeof(skip[pi]), "%s", peers[pi].missing);
	printf("# bench_reserve: %d rounds of %" PRIu64 " ms after a warm-up, %d CPUs; stream groups of %u B x %d,"
	       " mutex buffers of %u B, rings of %d entries, wfcqueue %d nodes in flight\n",
	       rounds, ms, th_ncpus(), GROUP, GROUPS, GROUP, RING_CAP, WQ_INFLIGHT);

	for (int l = 0; l < NL; l++)
		for (int wi = 0; wi < NW; wi++)
			for (int rd = -1; rd < rounds; rd++)
				for (int k = 0; k < NPEERS; k++) {
					int pi = (k + (rd < 0 ? 0 : rd)) % NPEERS;
					struct result one;
					char why[160] = "";

					if (skip[pi][0])
						continue;
					if (run_once(&peers[pi], nwriters[wi], lens[l], ms, lat, &one, why, sizeof(why)) != 0) {
						snprintf(skip[pi], sizeof(skip[pi]), "%s", why[0] ? why : "failed");
						printf("skipped: %s: %s\n", peers[pi].name, skip[pi]);
						continue;
					}
					if (rd >= 0)
						res[pi][l][wi][rd] = one;
				}
	if (valgrind && valgrind[0])
		for (int pi = 0; pi < NPEERS; pi++)
			for (int l = 0; l < NL; l++) {
				char sp[16], sl[16], sn[32];
				char *args[] = {argv[0], "--count-one", sp, sl, sn, NULL};

				snprintf(sp, sizeof(sp), "%d", pi);
				snprintf(sl, sizeof(sl), "%u", lens[l]);
				snprintf(sn, sizeof(sn), "%" PRIu64, cg_n);
				ir[pi][l] = skip[pi][0] ? -1 : bench_callgrind_ir(valgrind, "bench_reserve", args, NULL, cg_n);
			}

	printf("\nRecords per second, reserve (claim, lock, malloc) -> commit -> dispatched to the consumer: median\n"
	       "M records/s (min-max), MB/s of records, stream/peer = the stream's median over the peer's; latency\n"
	       "from commit to dispatch p50 / p99 in us (medians over the rounds, one record in %d sampled).\n\n",
	       STAMP_EVERY);
	printf("| size | writers | peer | M rec/s (min-max) | MB/s | stream/peer | p50 us | p99 us |\n");
	printf("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n");
	for (int l = 0; l < NL; l++)
		for (int wi = 0; wi < NW; wi++) {
			double ref = -1;

			for (int pi = 0; pi < NPEERS; pi++) {
				double r[MAXROUNDS], p50[MAXROUNDS], p99[MAXROUNDS], lo, hi, med;

				if (skip[pi][0]) {
					printf("| %u | %d | %s | skipped: %s | | | | |\n", lens[l], nwriters[wi], peers[pi].name,
					       skip[pi]);
					continue;
				}
				for (int rd = 0; rd < rounds; rd++) {
					r[rd] = res[pi][l][wi][rd].rate;
					p50[rd] = res[pi][l][wi][rd].p50;
					p99[rd] = res[pi][l][wi][rd].p99;
				}
				med = bench_median(r, rounds); /* sorts r */
				lo = r[0];
				hi = r[rounds - 1];
				if (pi == 0)
					ref = med;
				printf("| %u | %d | %s | %.2f (%.2f-%.2f) | %.0f | %.2f | %.1f | %.1f |\n", lens[l],
				       nwriters[wi], peers[pi].name, med / 1e6, lo / 1e6, hi / 1e6, med * lens[l] / 1e6,
				       ref > 0 ? ref / med : -1, bench_median(p50, rounds) / 1e3,
				       bench_median(p99, rounds) / 1e3);
			}
		}
	{
		uint64_t lost = 0;

		for (int l = 0; l < NL; l++)
			for (int wi = 0; wi < NW; wi++)
				for (int rd = 0; rd < rounds; rd++)
					lost += res[0][l][wi][rd].lost;
		printf("\niobuf_stream: %" PRIu64 " reservations refused with -ENOBUFS (consumer behind; retried) over"
		       " the timed runs\n", lost);
	}
	np = paced_latency(paced_n, lat);
	if (np > 0)
		printf("\nLatency alone (iobuf_stream, 1 writer, 64 B, one record every 20 us, flushed, consumer in"
		       " iobuf_stream_wait): %" PRId64 " records, p50 %.1f us, p99 %.1f us, min %.1f us\n",
		       np, (double)lat[np / 2] / 1e3, (double)lat[np * 99 / 100] / 1e3, (double)lat[0] / 1e3);
	else
		printf("\nLatency alone: failed\n");
	if (valgrind && valgrind[0]) {
		printf("\nInstructions per record (one thread, %d written then drained, nothing subtracted):\n\n",
		       CG_BATCH);
		printf("| peer | 64 B | 1 KiB |\n| --- | ---: | ---: |\n");
		for (int pi = 0; pi < NPEERS; pi++) {
			printf("| %s |", peers[pi].name);
			for (int l = 0; l < NL; l++)
				ir[pi][l] < 0 ? printf(" - |") : printf(" %.0f |", ir[pi][l]);
			printf("\n");
		}
	}
	printf("\n");
	for (int pi = 0; pi < NPEERS; pi++)
		printf("#   %-14s %s\n", peers[pi].name, peers[pi].what);
	return 0;
}
