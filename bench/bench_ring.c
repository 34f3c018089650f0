/* SPDX-License-Identifier: MIT */
/*
 * bench_ring.c - the ring against Concurrency Kit's SPSC ck_ring, same run.
 *
 * Throughput: one writer to one reader and to two readers (broadcast: for
 * ck_ring, one SPSC ring per reader, the writer enqueuing each entry into
 * every ring), 8-byte and 64-byte entries, single (claim/publish and
 * release one entry at a time; ck_ring one enqueue/dequeue) and batched
 * (the writer claims and publishes 32, each reader takes all available
 * and releases once; ck_ring has no bulk call, so its writer enqueues 32
 * in a row and its readers dequeue until empty).  Both sides idle the same
 * way (spin, then sched_yield) and readers touch every byte of an entry.
 * Median of 5 runs after a warm-up, with min-max, and the ratio ring/ck.
 *
 * Latency: one writer to one reader, 8-byte entries carrying the send time,
 * sent every 50 us so the reader is idle (asleep, under the blocking
 * strategy) when each arrives; median and p99 of receive minus send.
 *
 *   bench_ring            full run (a minute or so)
 *   bench_ring --quick    fewer entries, for a smoke test
 *   bench_ring --only N   only throughput case N (0..7), no latency
 *
 * Threads are pinned: the writer to the first allowed CPU, the readers to
 * the second (with two readers on a 2-CPU machine they share it).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ck_pr.h>
#include <ck_ring.h>

#include <iobuf/ring.h>

#include "../tests/common/thread.h"

#define CAP 1024
#define MAXR 2
#define RUNS 5
#define SPINS 200

struct e64 {
	uint64_t w[8];
};
CK_RING_PROTOTYPE(e64, e64)

enum impl { IMPL_RING, IMPL_CK };

struct bcase {
	int readers;
	uint32_t esz; /* 8 or 64 */
	int batch;    /* 1 or 32 */
};

struct bench {
	const struct bcase *bc;
	enum impl impl;
	uint64_t n;
	struct iobuf_ring *ring;
	int rid[MAXR];
	struct ck_ring ck[MAXR];
	void *ckbuf[MAXR];
	atomic_int ready;
	int64_t t0;
	int64_t t_end[MAXR];
	uint64_t sum[MAXR];
	uint64_t errors[MAXR];
};

struct targ {
	struct bench *b;
	int idx;
};

static void start_line(struct bench *b, int nthreads)
{
	atomic_fetch_add(&b->ready, 1);
	while (atomic_load(&b->ready) < nthreads)
		ck_pr_stall();
}

/* Idle the same way on both sides: spin, then yield. */
static inline void idle(uint32_t *spins)
{
	if (++*spins < SPINS)
		ck_pr_stall();
	else
		sched_yield();
}

static void *writer_main(void *arg)
{
	struct targ *t = arg;
	struct bench *b = t->b;
	const struct bcase *bc = b->bc;
	const int nthreads = 1 + bc->readers;

	th_pin(0);
	start_line(b, nthreads);
	b->t0 = (int64_t)th_now_ns();
	if (b->impl == IMPL_RING) {
		for (uint64_t i = 0; i < b->n; i += (uint64_t)bc->batch) {
			uint64_t s;
			uint32_t spins = 0;

			while (iobuf_ring_try_claim(b->ring, bc->batch, &s) != 0)
				idle(&spins);
			for (int k = 0; k < bc->batch; k++) {
				uint64_t *e = iobuf_ring_entry(b->ring, s + (uint64_t)k);

				if (bc->esz == 8) {
					e[0] = s + (uint64_t)k;
				} else {
					for (int w = 0; w < 8; w++)
						e[w] = s + (uint64_t)k + (uint64_t)w;
				}
			}
			iobuf_ring_publish(b->ring, s, bc->batch);
		}
	} else {
		for (uint64_t i = 0; i < b->n; i += (uint64_t)bc->batch) {
			for (int k = 0; k < bc->batch; k++) {
				uint64_t seq = i + (uint64_t)k;

				for (int r = 0; r < bc->readers; r++) {
					uint32_t spins = 0;

					if (bc->esz == 8) {
						while (!ck_ring_enqueue_spsc(&b->ck[r], b->ckbuf[r],
									     (void *)(uintptr_t)seq))
							idle(&spins);
					} else {
						struct e64 e;

						for (int w = 0; w < 8; w++)
							e.w[w] = seq + (uint64_t)w;
						while (!ck_ring_enqueue_spsc_e64(&b->ck[r], b->ckbuf[r], &e))
							idle(&spins);
					}
				}
			}
		}
	}
	return NULL;
}

static void *reader_main(void *arg)
{
	struct targ *t = arg;
	struct bench *b = t->b;
	const struct bcase *bc = b->bc;
	const int me = t->idx;
	uint64_t next = 0, sum = 0, errors = 0;

	/* Readers share the second CPU: the writer keeps one to itself. */
	th_pin(1);
	start_line(b, 1 + bc->readers);
	if (b->impl == IMPL_RING) {
		const int id = b->rid[me];

		while (next < b->n) {
			uint64_t first;
			uint32_t spins = 0;
			int n;

			while ((n = iobuf_ring_poll(b->ring, id, &first, NULL)) == 0)
				idle(&spins);
			if (bc->batch == 1)
				n = 1;
			for (int k = 0; k < n; k++) {
				const uint64_t *e = iobuf_ring_entry(b->ring, first + (uint64_t)k);

				errors += e[0] != next;
				if (bc->esz == 64)
					for (int w = 1; w < 8; w++)
						sum += e[w];
				next++;
			}
			iobuf_ring_release(b->ring, id, next);
		}
	} else {
		/* ck_ring has no bulk dequeue: single and batched read the same way. */
		uint32_t spins = 0;

		while (next < b->n) {
			bool got;

			if (bc->esz == 8) {
				void *v;

				got = ck_ring_dequeue_spsc(&b->ck[me], b->ckbuf[me], &v);
				if (got)
					errors += (uint64_t)(uintptr_t)v != next;
			} else {
				struct e64 e;

				got = ck_ring_dequeue_spsc_e64(&b->ck[me], b->ckbuf[me], &e);
				if (got) {
					errors += e.w[0] != next;
					for (int w = 1; w < 8; w++)
						sum += e.w[w];
				}
			}
			if (got) {
				next++;
				spins = 0;
			} else {
				idle(&spins);
			}
		}
	}
	b->t_end[me] = (int64_t)th_now_ns();
	b->sum[me] = sum;
	b->errors[me] = errors;
	return NULL;
}

/* One run; entries per second, or -1 on a setup error or wrong data. */
static double run_once(const struct bcase *bc, enum impl impl, uint64_t n)
{
	struct bench b;
	struct targ args[1 + MAXR];
	pthread_t th[1 + MAXR];
	int64_t end = 0;
	double rate;

	memset(&b, 0, sizeof(b));
	b.bc = bc;
	b.impl = impl;
	b.n = n;
	if (impl == IMPL_RING) {
		struct iobuf_ring_config cfg = {.capacity = CAP,
						.entry_size = bc->esz,
						.mode = IOBUF_RING_LOSSLESS,
						.max_readers = bc->readers,
						.wait = IOBUF_RING_YIELD,
						.spins = SPINS};
		int err;

		b.ring = iobuf_ring_create(&cfg, &err);
		if (b.ring == NULL)
			return -1;
		for (int r = 0; r < bc->readers; r++)
			b.rid[r] = iobuf_ring_reader_add(b.ring, NULL, 0);
	} else {
		for (int r = 0; r < bc->readers; r++) {
			ck_ring_init(&b.ck[r], CAP);
			b.ckbuf[r] = aligned_alloc(
			    64, CAP * (bc->esz == 8 ? sizeof(struct ck_ring_buffer) : sizeof(struct e64)));
		}
	}
	args[0] = (struct targ){.b = &b, .idx = -1};
	pthread_create(&th[0], NULL, writer_main, &args[0]);
	for (int r = 0; r < bc->readers; r++) {
		args[1 + r] = (struct targ){.b = &b, .idx = r};
		pthread_create(&th[1 + r], NULL, reader_main, &args[1 + r]);
	}
	for (int i = 0; i < 1 + bc->readers; i++)
		pthread_join(th[i], NULL);
	for (int r = 0; r < bc->readers; r++) {
		if (b.t_end[r] > end)
			end = b.t_end[r];
		if (b.errors[r])
			return -1;
		free(b.ckbuf[r]);
	}
	iobuf_ring_destroy(b.ring);
	rate = (double)n / ((double)(end - b.t0) / 1e9);
	return rate;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat3 {
	double med, min, max;
};

static struct stat3 measure(const struct bcase *bc, enum impl impl, uint64_t n)
{
	double r[RUNS];
	struct stat3 s;

	run_once(bc, impl, n / 4); /* warm-up */
	for (int i = 0; i < RUNS; i++)
		r[i] = run_once(bc, impl, n);
	qsort(r, RUNS, sizeof(r[0]), cmp_double);
	s.min = r[0];
	s.max = r[RUNS - 1];
	s.med = r[RUNS / 2];
	return s;
}

/* ---- latency --------------------------------------------------------------------- */

struct lat {
	struct iobuf_ring *ring;
	int rid;
	int samples;
	int64_t *lat;
	atomic_int ready;
	atomic_int received;
};

static void *lat_writer(void *arg)
{
	struct lat *l = arg;
	int64_t next;

	th_pin(0);
	atomic_fetch_add(&l->ready, 1);
	while (atomic_load(&l->ready) < 2)
		;
	next = (int64_t)th_now_ns();
	for (int i = 0; i < l->samples; i++) {
		uint64_t s;

		next += 50 * 1000;
		while ((int64_t)th_now_ns() < next)
			ck_pr_stall();
		/* The previous entry was received long ago; claim cannot fail. */
		while (iobuf_ring_try_claim(l->ring, 1, &s) != 0)
			ck_pr_stall();
		*(int64_t *)iobuf_ring_entry(l->ring, s) = (int64_t)th_now_ns();
		iobuf_ring_publish(l->ring, s, 1);
	}
	return NULL;
}

static void *lat_reader(void *arg)
{
	struct lat *l = arg;

	th_pin(1);
	atomic_fetch_add(&l->ready, 1);
	while (atomic_load(&l->ready) < 2)
		;
	for (int i = 0; i < l->samples; i++) {
		uint64_t first;
		int n = iobuf_ring_wait(l->ring, l->rid, &first, NULL, IOBUF_RING_FOREVER);
		int64_t now = (int64_t)th_now_ns();

		if (n < 1)
			break;
		l->lat[i] = now - *(const int64_t *)iobuf_ring_entry(l->ring, first);
		iobuf_ring_release(l->ring, l->rid, first + 1);
	}
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void latency(enum iobuf_ring_wait how, const char *name, int samples)
{
	struct iobuf_ring_config cfg = {.capacity = 64,
					.entry_size = 8,
					.mode = IOBUF_RING_LOSSLESS,
					.max_readers = 1,
					.wait = how,
					.spins = how == IOBUF_RING_BLOCK ? 100 : 0};
	struct lat l;
	pthread_t w, r;
	int err;

	memset(&l, 0, sizeof(l));
	l.ring = iobuf_ring_create(&cfg, &err);
	l.rid = iobuf_ring_reader_add(l.ring, NULL, 0);
	l.samples = samples;
	l.lat = calloc((size_t)samples, sizeof(int64_t));
	pthread_create(&r, NULL, lat_reader, &l);
	pthread_create(&w, NULL, lat_writer, &l);
	pthread_join(w, NULL);
	pthread_join(r, NULL);
	qsort(l.lat, (size_t)samples, sizeof(int64_t), cmp_i64);
	printf("| latency 1->1, 8 B, %-5s | median %6.2f us | p99 %7.2f us | min %5.2f us | %d samples |\n", name,
	       (double)l.lat[samples / 2] / 1e3, (double)l.lat[(samples * 99) / 100] / 1e3, (double)l.lat[0] / 1e3,
	       samples);
	free(l.lat);
	iobuf_ring_destroy(l.ring);
}

int main(int argc, char **argv)
{
	static const struct bcase bcs[] = {
	    {1, 8, 1}, {1, 8, 32}, {1, 64, 1}, {1, 64, 32}, {2, 8, 1}, {2, 8, 32}, {2, 64, 1}, {2, 64, 32},
	};
	uint64_t n = 4u << 20;
	int samples = 4000, only = -1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			n = 1u << 18;
			samples = 500;
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [--quick] [--only CASE]\n", argv[0]);
			return 2;
		}
	}
	printf("# bench_ring: %d CPUs allowed, capacity %d, %" PRIu64 " entries per run, median of %d (min-max)\n",
	       th_ncpus(), CAP, n, RUNS);
	printf("| case | ring M entries/s | ck_ring SPSC M entries/s | ring/ck |\n");
	printf("| --- | --- | --- | --- |\n");
	for (size_t i = 0; i < sizeof(bcs) / sizeof(bcs[0]); i++) {
		const struct bcase *bc = &bcs[i];
		struct stat3 a, c;

		if (only >= 0 && (size_t)only != i)
			continue;
		a = measure(bc, IMPL_RING, n);
		c = measure(bc, IMPL_CK, n);

		if (a.min < 0 || c.min < 0) {
			printf("| 1->%d, %2u B, batch %d | ERROR: a reader saw a wrong sequence |\n", bc->readers,
			       bc->esz, bc->batch);
			return 1;
		}
		printf("| 1->%d, %2u B, %-7s | %6.2f (%.2f-%.2f) | %6.2f (%.2f-%.2f) | %.2f |\n", bc->readers, bc->esz,
		       bc->batch == 1 ? "single" : "batch32", a.med / 1e6, a.min / 1e6, a.max / 1e6, c.med / 1e6,
		       c.min / 1e6, c.max / 1e6, a.med / c.med);
		fflush(stdout);
	}
	if (only < 0) {
		latency(IOBUF_RING_BLOCK, "block", samples);
		latency(IOBUF_RING_SPIN, "spin", samples);
	}
	return 0;
}
