/* SPDX-License-Identifier: MIT */
/*
 * scq_pair.c - the SCQ's uncontended hot path: dequeue + enqueue pairs on
 * one thread, as a pool's get + put with no cache in front.
 *
 *   scq_pair [pairs [capacity [runs [cpu]]]]   defaults: 10^7 pairs, 1024, 5 runs, CPU 0
 *
 * Prints the median (and min, max) ns per pair over the runs.  For
 * instructions per pair:
 *   valgrind --tool=callgrind --toggle-collect=bench_pairs ./scq_pair 1000000 1024 1
 * and divide the Ir of bench_pairs (inclusive) by the pairs.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iobuf/scq.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Out of line so callgrind can count exactly this. Returns a checksum. */
__attribute__((noinline)) uint64_t bench_pairs(struct iobuf_scq *q, uint64_t pairs);
__attribute__((noinline)) uint64_t bench_pairs(struct iobuf_scq *q, uint64_t pairs)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < pairs; i++) {
		int v = iobuf_scq_dequeue(q);

		if (v < 0) {
			fprintf(stderr, "dequeue: %s\n", strerror(-v));
			exit(1);
		}
		sum += (uint64_t)v;
		iobuf_scq_enqueue(q, (uint32_t)v);
	}
	return sum;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	uint64_t pairs = argc > 1 ? strtoull(argv[1], NULL, 0) : 10000000;
	uint32_t cap = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 0) : 1024;
	int runs = argc > 3 ? atoi(argv[3]) : 5;
	int cpu = argc > 4 ? atoi(argv[4]) : 0;
	double ns[64];
	struct iobuf_scq *q;
	uint64_t sum = 0;
	cpu_set_t set;
	int err;

	if (pairs == 0 || runs < 1 || runs > 64 || cpu < 0 || cpu >= CPU_SETSIZE) {
		fprintf(stderr, "usage: %s [pairs [capacity [runs<=64 [cpu]]]]\n", argv[0]);
		return 2;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		fprintf(stderr, "# could not pin to CPU %d; running unpinned\n", cpu);
	q = iobuf_scq_create(cap, true, &err);
	if (!q) {
		fprintf(stderr, "iobuf_scq_create(%u): %s\n", cap, strerror(-err));
		return 1;
	}
	sum += bench_pairs(q, pairs / 10 + 1); /* warm up */
	for (int r = 0; r < runs; r++) {
		double t0 = now();

		sum += bench_pairs(q, pairs);
		ns[r] = (now() - t0) * 1e9 / (double)pairs;
	}
	qsort(ns, (size_t)runs, sizeof(ns[0]), cmp_double);
	printf("scq_pair: capacity %u, %llu dequeue+enqueue pairs x %d runs: median %.2f ns/pair (min %.2f, max %.2f)\n",
	       cap, (unsigned long long)pairs, runs, ns[runs / 2], ns[0], ns[runs - 1]);
	if (iobuf_scq_count(q) != cap) {
		fprintf(stderr, "count %u, expected %u\n", iobuf_scq_count(q), cap);
		return 1;
	}
	iobuf_scq_destroy(q);
	return sum == 0 && cap > 1 ? 1 : 0;
}
