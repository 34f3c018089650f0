/* SPDX-License-Identifier: MIT */
/*
 * thread.h - what stress tests and benchmarks share: pinning threads to
 * cores, a monotonic clock, a fast per-thread PRNG, an SPSC channel and a
 * two-thread barrier.
 * Header-only; not installed.
 */
#ifndef IOBUF_TESTS_THREAD_H
#define IOBUF_TESTS_THREAD_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* Cores this process may run on. */
static inline int th_ncpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
	return 1;
}

/*
 * Pin the calling thread to the @i-th core it may run on (modulo their
 * count).  Returns true when pinned; false leaves it to the scheduler.
 */
static inline bool th_pin(int i)
{
	cpu_set_t allowed, one;
	int n = 0, want;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) == 0)
		return false;
	want = i % CPU_COUNT(&allowed);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &allowed))
			continue;
		if (n++ == want) {
			CPU_ZERO(&one);
			CPU_SET(c, &one);
			return pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
		}
	}
	return false;
}

static inline uint64_t th_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: per-thread, seeded by the caller. */
static inline uint64_t th_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15u;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1du;
}

/* Run @fn(@args[i]) on @n threads pinned round-robin to the cores; join them. */
static inline int th_run(int n, void *(*fn)(void *), void *args, size_t arg_size)
{
	pthread_t t[64];

	if (n > 64)
		return -1;
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, fn, (char *)args + (size_t)i * arg_size) != 0)
			return -1;
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return 0;
}

/*
 * th_chan: a channel between two threads, a single-producer single-consumer
 * ring on C11 atomics (not ck_ring, whose inline assembly ThreadSanitizer
 * cannot see).  The release store of head publishes the slot; the
 * consumer's acquire load of head pairs with it, and the reverse for tail.
 */
#define TH_CHAN 256
struct th_chan {
	uint64_t slot[TH_CHAN];
	uint64_t head; /* written by the producer */
	uint64_t tail; /* written by the consumer */
};

static inline bool th_chan_push(struct th_chan *c, uint64_t v)
{
	uint64_t h = c->head;

	if (h - __atomic_load_n(&c->tail, __ATOMIC_ACQUIRE) == TH_CHAN)
		return false;
	c->slot[h % TH_CHAN] = v;
	__atomic_store_n(&c->head, h + 1, __ATOMIC_RELEASE);
	return true;
}

static inline bool th_chan_pop(struct th_chan *c, uint64_t *v)
{
	uint64_t t = c->tail;

	if (__atomic_load_n(&c->head, __ATOMIC_ACQUIRE) == t)
		return false;
	*v = c->slot[t % TH_CHAN];
	__atomic_store_n(&c->tail, t + 1, __ATOMIC_RELEASE);
	return true;
}

/*
 * th_barrier: two threads meet (sense-reversing; spins, then yields, since
 * make -j8 check oversubscribes the cores).  Each thread keeps its own
 * sense, 0 at first.  The last to arrive releases what both wrote before.
 */
struct th_barrier {
	uint32_t count;
	uint32_t sense;
};

static inline void th_barrier_wait(struct th_barrier *b, uint32_t *local_sense)
{
	uint32_t s = *local_sense ^= 1;

	if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == 2) {
		__atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&b->sense, s, __ATOMIC_RELEASE);
		return;
	}
	for (int i = 0; __atomic_load_n(&b->sense, __ATOMIC_ACQUIRE) != s; i++)
		if (i > 64)
			sched_yield();
}

#endif /* IOBUF_TESTS_THREAD_H */
