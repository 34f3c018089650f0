/* SPDX-License-Identifier: MIT */
/*
 * harness.c - main() of every benchmark worker.
 *
 *   WORKER --serve
 *       prints one line per peer ("peer NAME WAIT" or "skip NAME REASON"),
 *       "end", then answers commands read from stdin, one at a time:
 *         run PEER W SIZE CAP MS  ->  ok NS PAIRS ATTEMPTS EMPTIES TIMEOUTS NLAT P50 P99
 *                                     | skip REASON | fail REASON
 *         hw                      ->  ok ADD XADD XADD_SHARED PINGPONG (ns per op)
 *         quit
 *   WORKER --callgrind PAIRS SIZE[,SIZE...]
 *       runs W1 and W2 of every peer for a fixed count of pairs, under
 *       valgrind --tool=callgrind --instr-atstart=no: each loop is bracketed
 *       by START/ZERO ... DUMP_STATS_AT("iobuf-bench PEER W SIZE PAIRS")/STOP,
 *       so a dump holds exactly the instructions of that loop.
 *
 * Each run creates the peer's object, runs the workload once untimed (a
 * warm-up: first touches, caches filled, page faults taken), then once
 * timed, and destroys the object.  Threads are pinned with th_pin() from
 * tests/common/thread.h, thread i on the i-th allowed core.
 */
#include "config.h"

#include "harness.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_VALGRIND_CALLGRIND_H
#include <valgrind/callgrind.h>
#endif

struct run {
	const struct bench_peer *peer;
	void *shared;
	int w;
	int nthreads;
	uint64_t warm_ns, run_ns;   /* timed runs */
	uint64_t warm_count, count; /* fixed runs (callgrind) */
	char label[160];	    /* callgrind dump name; empty when not under callgrind */
	unsigned barrier;
};

struct arg {
	struct run *run;
	struct bench_thr b;
};

static void barrier_wait(unsigned *bar, unsigned target)
{
	ck_pr_inc_uint(bar);
	while (ck_pr_load_uint(bar) < target)
		ck_pr_stall();
}

static void body(const struct bench_ops *ops, int w, struct bench_thr *b)
{
	switch (w) {
	case W1:
	case W3:
		ops->w1(b);
		break;
	case W2:
		ops->w2(b);
		break;
	case W4:
		if (b->id == 0)
			ops->w4_producer(b);
		else
			ops->w4_consumer(b);
		break;
	case W5:
		ops->w5(b);
		break;
	}
}

static void *thread_main(void *p)
{
	struct arg *a = p;
	struct run *r = a->run;
	const struct bench_ops *ops = r->peer->ops;
	struct bench_thr *b = &a->b;

	th_pin(b->id);
	b->t = ops->thr_enter(r->shared);
	if (!b->t) {
		bench_fail(b, "thread setup failed");
		barrier_wait(&r->barrier, (unsigned)r->nthreads);
		barrier_wait(&r->barrier, 2u * (unsigned)r->nthreads);
		return NULL;
	}
	/* Warm-up: the same loop, untimed. */
	b->run_ns = r->warm_ns;
	b->count = r->warm_count;
	barrier_wait(&r->barrier, (unsigned)r->nthreads);
	body(ops, r->w, b);
	b->attempts = b->empties = b->timeouts = 0;
	b->nlat = 0;
	b->run_ns = r->run_ns;
	b->count = r->count;
	barrier_wait(&r->barrier, 2u * (unsigned)r->nthreads);
#ifdef HAVE_VALGRIND_CALLGRIND_H
	if (r->label[0]) {
		CALLGRIND_START_INSTRUMENTATION;
		CALLGRIND_ZERO_STATS;
	}
#endif
	body(ops, r->w, b);
#ifdef HAVE_VALGRIND_CALLGRIND_H
	if (r->label[0]) {
		CALLGRIND_DUMP_STATS_AT(r->label);
		CALLGRIND_STOP_INSTRUMENTATION;
	}
#endif
	ops->thr_leave(r->shared, b->t);
	return NULL;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

static const struct bench_peer *find_peer(const char *name)
{
	for (int i = 0; i < bench_npeers; i++)
		if (strcmp(bench_peers[i].name, name) == 0)
			return &bench_peers[i];
	return NULL;
}

/* One run of one cell; prints the reply line. */
static void run_cell(struct run *r, size_t size, uint32_t cap)
{
	struct arg args[2];
	struct ck_ring ring;
	struct ck_ring_buffer *ring_buf = NULL;
	struct bench_w5 w5;
	uint32_t *lat = NULL;
	char why[256] = "";
	const char *error = NULL;
	double ns = 0;
	uint64_t pairs = 0, attempts = 0, empties = 0, timeouts = 0, p50 = 0, p99 = 0;
	size_t nlat = 0;
	int rc;

	if (r->w == W5 && !r->peer->wait) {
		printf("skip n/a: %s\n", r->peer->no_w5 ? r->peer->no_w5 : "W5 does not apply");
		return;
	}
	r->nthreads = (r->w == W3 || r->w == W4 || r->w == W5) ? 2 : 1;
	rc = r->peer->create(&r->shared, size, cap, r->w, why, sizeof(why));
	if (rc < 0) {
		printf("skip %s\n", why[0] ? why : strerror(-rc));
		return;
	}
	memset(args, 0, sizeof(args));
	memset(&w5, 0, sizeof(w5));
	if (r->w == W4) {
		ring_buf = aligned_alloc(64, BENCH_HANDOFF_SLOTS * sizeof(*ring_buf));
		if (!ring_buf) {
			printf("fail out of memory\n");
			goto out;
		}
		ck_ring_init(&ring, BENCH_HANDOFF_SLOTS);
	}
	if (r->w == W5) {
		lat = malloc(2 * BENCH_W5_MAX_LAT * sizeof(*lat));
		if (!lat) {
			printf("fail out of memory\n");
			goto out;
		}
	}
	for (int i = 0; i < r->nthreads; i++) {
		args[i].run = r;
		args[i].b.id = i;
		args[i].b.shared = r->shared;
		args[i].b.ring = &ring;
		args[i].b.ring_buf = ring_buf;
		args[i].b.w5 = &w5;
		args[i].b.lat = lat ? lat + (size_t)i * BENCH_W5_MAX_LAT : NULL;
		args[i].b.seed = 0x9e3779b97f4a7c15u * (uint64_t)(i + 1) ^ th_now_ns();
	}
	r->barrier = 0;
	if (th_run(r->nthreads, thread_main, args, sizeof(args[0])) != 0) {
		printf("fail pthread_create\n");
		goto out;
	}
	for (int i = 0; i < r->nthreads; i++)
		if (args[i].b.error)
			error = args[i].b.error;
	if (error) {
		printf("fail %s\n", error);
		goto out;
	}
	switch (r->w) {
	case W1:
	case W2:
		pairs = args[0].b.pairs;
		ns = (double)(args[0].b.t1 - args[0].b.t0) / (double)pairs;
		break;
	case W4:
		pairs = args[1].b.pairs;
		ns = (double)(args[1].b.t1 - args[0].b.t0) / (double)pairs;
		break;
	case W3:
	case W5: {
		double rate = 0; /* pairs per ns, summed over the threads */

		for (int i = 0; i < 2; i++) {
			pairs += args[i].b.pairs;
			rate += (double)args[i].b.pairs / (double)(args[i].b.t1 - args[i].b.t0);
			attempts += args[i].b.attempts;
			empties += args[i].b.empties;
			timeouts += args[i].b.timeouts;
		}
		ns = 1.0 / rate;
		if (r->w == W5) {
			/* Gather both threads' samples into the front of the array. */
			nlat = args[0].b.nlat;
			memmove(lat + nlat, args[1].b.lat, args[1].b.nlat * sizeof(*lat));
			nlat += args[1].b.nlat;
			if (nlat) {
				qsort(lat, nlat, sizeof(*lat), cmp_u32);
				p50 = lat[nlat / 2];
				p99 = lat[(nlat * 99) / 100];
			}
		}
		break;
	}
	}
	printf("ok %.4f %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %zu %" PRIu64 " %" PRIu64 "\n", ns, pairs,
	       attempts, empties, timeouts, nlat, p50, p99);
out:
	free(lat);
	free(ring_buf);
	r->peer->destroy(r->shared);
	r->shared = NULL;
}

/* ------------------------------------------------------------------------
 * The hardware floor, as ANCHORS.md has it: one dependent add per cycle
 * (the clock this process actually gets), a locked add on a private line,
 * a locked add on a line both cores hammer, and a round trip of a cache
 * line between the two cores.
 */
struct hw_arg {
	int id;
	uint64_t n;
	double ns;
};

static uint64_t hw_shared __attribute__((aligned(64)));
static uint64_t hw_flag __attribute__((aligned(64)));
static unsigned hw_bar;

static void *hw_xadd_shared(void *p)
{
	struct hw_arg *a = p;
	uint64_t t0;

	th_pin(a->id);
	barrier_wait(&hw_bar, 2);
	t0 = th_now_ns();
	for (uint64_t i = 0; i < a->n; i++)
		ck_pr_faa_64(&hw_shared, 1);
	a->ns = (double)(th_now_ns() - t0) / (double)a->n;
	return NULL;
}

static void *hw_pingpong(void *p)
{
	struct hw_arg *a = p;
	uint64_t t0;

	th_pin(a->id);
	barrier_wait(&hw_bar, 2);
	t0 = th_now_ns();
	for (uint64_t i = 0; i < a->n; i++) {
		if (a->id == 0) {
			ck_pr_store_64(&hw_flag, 2 * i + 1);
			while (ck_pr_load_64(&hw_flag) != 2 * i + 2)
				ck_pr_stall();
		} else {
			while (ck_pr_load_64(&hw_flag) != 2 * i + 1)
				ck_pr_stall();
			ck_pr_store_64(&hw_flag, 2 * i + 2);
		}
	}
	a->ns = (double)(th_now_ns() - t0) / (double)a->n;
	return NULL;
}

/* On a thread of its own, so that the main thread's affinity stays as it was. */
static void *hw_single(void *p)
{
	double *out = p;
	uint64_t n = 20000000, x = 0, priv = 0, t0;

	th_pin(0);
	t0 = th_now_ns();
	for (uint64_t i = 0; i < n; i++)
		__asm__ volatile("add $1, %0" : "+r"(x));
	out[0] = (double)(th_now_ns() - t0) / (double)n;
	n = 4000000;
	t0 = th_now_ns();
	for (uint64_t i = 0; i < n; i++)
		ck_pr_faa_64(&priv, 1);
	out[1] = (double)(th_now_ns() - t0) / (double)n;
	return NULL;
}

static void hw_floor(void)
{
	struct hw_arg two[2];
	double single[2], add, xadd, shared, pp;

	th_run(1, hw_single, single, sizeof(single));
	add = single[0];
	xadd = single[1];
	for (int i = 0; i < 2; i++)
		two[i] = (struct hw_arg){.id = i, .n = 1000000};
	hw_bar = 0;
	th_run(2, hw_xadd_shared, two, sizeof(two[0]));
	shared = (two[0].ns + two[1].ns) / 2;
	for (int i = 0; i < 2; i++)
		two[i] = (struct hw_arg){.id = i, .n = 100000};
	hw_bar = 0;
	hw_flag = 0;
	th_run(2, hw_pingpong, two, sizeof(two[0]));
	pp = two[0].ns;
	printf("ok %.4f %.4f %.4f %.4f\n", add, xadd, shared, pp);
}

static int serve(const char *init_err)
{
	char line[512];

	for (int i = 0; i < bench_npeers; i++) {
		if (init_err)
			printf("skip %s %s\n", bench_peers[i].name, init_err);
		else
			printf("peer %s %s\n", bench_peers[i].name, bench_peers[i].wait ? bench_peers[i].wait : "-");
	}
	printf("end\n");
	while (fgets(line, sizeof(line), stdin)) {
		char name[128];
		int w;
		size_t size;
		unsigned cap;
		unsigned long ms;
		struct run r;

		if (strncmp(line, "quit", 4) == 0)
			break;
		if (strncmp(line, "hw", 2) == 0) {
			hw_floor();
			continue;
		}
		if (sscanf(line, "run %127s %d %zu %u %lu", name, &w, &size, &cap, &ms) != 5 || w < W1 || w > W5) {
			printf("fail bad command\n");
			continue;
		}
		memset(&r, 0, sizeof(r));
		r.peer = find_peer(name);
		if (!r.peer || init_err) {
			printf("skip %s\n", init_err ? init_err : "no such peer in this worker");
			continue;
		}
		r.w = w;
		r.run_ns = (uint64_t)ms * 1000000u;
		/* A warm-up of a fifth of the run, at least 20 ms. */
		r.warm_ns = r.run_ns / 5 > 20000000u ? r.run_ns / 5 : 20000000u;
		run_cell(&r, size, cap);
	}
	return 0;
}

static int callgrind(const char *init_err, uint64_t pairs, char *sizes)
{
#ifndef HAVE_VALGRIND_CALLGRIND_H
	(void)pairs;
	(void)sizes;
	printf("skip callgrind: built without valgrind/callgrind.h\n");
	return 0;
#else
	if (init_err) {
		for (int i = 0; i < bench_npeers; i++)
			printf("skip %s %s\n", bench_peers[i].name, init_err);
		return 0;
	}
	if (!RUNNING_ON_VALGRIND)
		printf("info not running under valgrind: the dumps are no-ops\n");
	for (int i = 0; i < bench_npeers; i++) {
		for (int w = W1; w <= W2; w++) {
			char copy[256], *save = NULL;

			snprintf(copy, sizeof(copy), "%s", sizes);
			for (char *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
				struct run r;

				memset(&r, 0, sizeof(r));
				r.peer = &bench_peers[i];
				r.w = w;
				r.warm_count = 4 * BENCH_BATCH;
				r.count = pairs;
				snprintf(r.label, sizeof(r.label), "iobuf-bench %s %d %s %" PRIu64, r.peer->name, w, s,
					 pairs);
				printf("cg %s %d %s %" PRIu64 " ", r.peer->name, w, s, pairs);
				run_cell(&r, strtoull(s, NULL, 10), 1024);
			}
		}
	}
	return 0;
#endif
}

int main(int argc, char **argv)
{
	char why[256] = "";
	const char *init_err = NULL;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || (strcmp(argv[1], "--serve") != 0 && !(strcmp(argv[1], "--callgrind") == 0 && argc >= 4))) {
		fprintf(stderr, "usage: %s --serve | --callgrind PAIRS SIZE[,SIZE...]\n", argv[0]);
		return 2;
	}
	rc = bench_worker_init(argc, argv, why, sizeof(why));
	if (rc < 0)
		init_err = why[0] ? why : strerror(-rc);
	if (strcmp(argv[1], "--serve") == 0)
		rc = serve(init_err);
	else
		rc = callgrind(init_err, strtoull(argv[2], NULL, 10), argv[3]);
	if (!init_err)
		bench_worker_fini();
	return rc;
}
