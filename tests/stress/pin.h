/* SPDX-License-Identifier: MIT */
/*
 * pin.h - pin threads to the CPUs this process may run on, and a clock;
 * shared by the stress tests and the benchmarks (header-only).
 */
#ifndef IOBUF_TESTS_PIN_H
#define IOBUF_TESTS_PIN_H

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

/* Nanoseconds on CLOCK_MONOTONIC. */
static inline int64_t pin_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* How many CPUs this process may use (at least 1). */
static inline int pin_ncpus(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 1;
	n = CPU_COUNT(&set);
	return n > 0 ? n : 1;
}

/*
 * Pin the calling thread to the @slot-th allowed CPU (modulo their number).
 * The allowed set is the calling thread's, inherited from its creator:
 * create pinned threads from a thread that is not pinned itself.
 * Returns 0, or the pthread error; a failure leaves the thread unpinned,
 * which the callers report but tolerate.
 */
static inline int pin_self(int slot)
{
	cpu_set_t allowed, one;
	int n, k = 0;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		return -1;
	n = CPU_COUNT(&allowed);
	if (n <= 0)
		return -1;
	slot %= n;
	CPU_ZERO(&one);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &allowed))
			continue;
		if (k++ == slot) {
			CPU_SET(cpu, &one);
			break;
		}
	}
	return pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
}

#endif /* IOBUF_TESTS_PIN_H */
