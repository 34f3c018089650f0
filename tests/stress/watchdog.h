/* SPDX-License-Identifier: MIT */
/*
 * watchdog.h - the watchdog of the ring stress tests: a stuck run explains
 * itself.  Header-only; not installed.
 *
 * Every thread of a run keeps a record of the ring call it is in (or last
 * returned from, with its result) and of its sequence numbers, in relaxed
 * atomics that cost nothing worth measuring.  A watchdog thread sleeps
 * until the run ends or its deadline passes.  At the deadline it prints,
 * as TAP comments, every thread's record and the ring's own state
 * (iobuf__ring_dump(): cursor, writer's counts, gate, reclaim word, futex
 * words and waiters, every reader slot), then marks the run failed, which
 * every thread checks when one of its waits times out.  Should the threads
 * still not stop (a call that never returns), it prints the TAP failure
 * and ends the process.
 */
#ifndef IOBUF_TESTS_STRESS_WATCHDOG_H
#define IOBUF_TESTS_STRESS_WATCHDOG_H

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "ring.h" /* src/ring.h: iobuf__ring_dump() */

#include "../common/thread.h"

#define WD_MAX_THREADS 8
/* After the deadline, how long the threads have to stop before the process ends. */
#define WD_GRACE_NS (10ull * 1000 * 1000 * 1000)

/* What one thread is doing, for the dump. */
struct wd_thread {
	const char *role; /* "writer", "reader", "churn" */
	int idx;
	_Atomic(const char *) call; /* the ring call it is in, NULL between calls */
	_Atomic(const char *) last; /* the last call it returned from */
	atomic_int last_rc;
	atomic_int reader;		 /* its reader id, -1 */
	atomic_uint_fast64_t calls;	 /* calls made */
	atomic_uint_fast64_t seq;	 /* the writer's next sequence; a reader's next expected one */
	atomic_uint_fast64_t first;	 /* the first sequence of its last call's result (poll, claim) */
	atomic_uint_fast64_t progressed; /* calls that moved seq */
};

struct watchdog {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool ended;
	uint64_t since;	   /* th_now_ns() when the run was to stop */
	uint64_t deadline; /* th_now_ns() when it must have ended */
	struct iobuf_ring *ring;
	const char *name; /* the TAP test's description */
	int num;	  /* its TAP number */
	void (*fire)(void *arg, const char *why);
	void *arg;
	int nthreads;
	struct wd_thread threads[WD_MAX_THREADS];
	pthread_t t;
};

/* A thread of the run: its record, to pass to wd_enter(), wd_leave() and wd_seq(). */
static inline struct wd_thread *wd_add(struct watchdog *w, const char *role, int idx)
{
	struct wd_thread *t = &w->threads[w->nthreads++];

	t->role = role;
	t->idx = idx;
	atomic_init(&t->call, NULL);
	atomic_init(&t->last, NULL);
	atomic_init(&t->reader, -1);
	return t;
}

static inline void wd_enter(struct wd_thread *t, const char *call)
{
	atomic_store_explicit(&t->call, call, memory_order_relaxed);
	atomic_fetch_add_explicit(&t->calls, 1, memory_order_relaxed);
}

static inline void wd_leave(struct wd_thread *t, int rc)
{
	atomic_store_explicit(&t->last, atomic_load_explicit(&t->call, memory_order_relaxed), memory_order_relaxed);
	atomic_store_explicit(&t->last_rc, rc, memory_order_relaxed);
	atomic_store_explicit(&t->call, NULL, memory_order_relaxed);
}

/* The thread's sequences after a call: where it is, and the first sequence its call returned. */
static inline void wd_seq(struct wd_thread *t, uint64_t seq, uint64_t first)
{
	if (atomic_load_explicit(&t->seq, memory_order_relaxed) != seq)
		atomic_fetch_add_explicit(&t->progressed, 1, memory_order_relaxed);
	atomic_store_explicit(&t->seq, seq, memory_order_relaxed);
	atomic_store_explicit(&t->first, first, memory_order_relaxed);
}

static inline void wd_dump(struct watchdog *w)
{
	printf("# watchdog: %s: not ended %.1f s after it was to stop; every thread, then the ring:\n", w->name,
	       (double)(th_now_ns() - w->since) / 1e9);
	for (int i = 0; i < w->nthreads; i++) {
		struct wd_thread *t = &w->threads[i];
		const char *call = atomic_load_explicit(&t->call, memory_order_relaxed);
		const char *last = atomic_load_explicit(&t->last, memory_order_relaxed);

		printf("#   %s %d (reader id %d): %s %s; last %s -> %d; %" PRIuFAST64 " calls, %" PRIuFAST64
		       " moved it; seq %" PRIuFAST64 ", last first %" PRIuFAST64 "\n",
		       t->role, t->idx, atomic_load(&t->reader), call ? "in" : "between calls,", call ? call : "",
		       last ? last : "none", atomic_load(&t->last_rc), atomic_load(&t->calls),
		       atomic_load(&t->progressed), atomic_load(&t->seq), atomic_load(&t->first));
	}
	iobuf__ring_dump(w->ring, stdout, "#   ");
	fflush(stdout);
}

static void *wd_main(void *arg)
{
	struct watchdog *w = arg;
	struct timespec dl;
	bool ended;

	/* The condition variable's clock is CLOCK_MONOTONIC, th_now_ns()'s. */
	dl.tv_sec = (time_t)(w->deadline / 1000000000u);
	dl.tv_nsec = (long)(w->deadline % 1000000000u);
	pthread_mutex_lock(&w->lock);
	while (!w->ended && pthread_cond_timedwait(&w->cond, &w->lock, &dl) == 0)
		;
	ended = w->ended;
	pthread_mutex_unlock(&w->lock);
	if (ended)
		return NULL;
	wd_dump(w);
	w->fire(w->arg, "no end before the deadline (hang?): the watchdog printed every thread and the ring above");
	dl.tv_sec += (time_t)(WD_GRACE_NS / 1000000000u);
	pthread_mutex_lock(&w->lock);
	while (!w->ended && pthread_cond_timedwait(&w->cond, &w->lock, &dl) == 0)
		;
	ended = w->ended;
	pthread_mutex_unlock(&w->lock);
	if (!ended) {
		wd_dump(w);
		printf("not ok %d - %s # the threads did not stop after the watchdog fired\n", w->num, w->name);
		printf("Bail out! a ring call never returned\n");
		fflush(stdout);
		_exit(1);
	}
	return NULL;
}

/*
 * Set up @w for a run of @ring, TAP test @num @name, that is to stop at
 * @since and must have ended by @deadline, else @fire(@arg, why) fails it;
 * then wd_add() each thread and wd_start().
 */
static inline void wd_init(struct watchdog *w, struct iobuf_ring *ring, int num, const char *name, uint64_t since,
			   uint64_t deadline, void (*fire)(void *arg, const char *why), void *arg)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &a);
	pthread_condattr_destroy(&a);
	pthread_mutex_init(&w->lock, NULL);
	w->ended = false;
	w->ring = ring;
	w->num = num;
	w->name = name;
	w->since = since;
	w->deadline = deadline;
	w->fire = fire;
	w->arg = arg;
	w->nthreads = 0;
}

static inline int wd_start(struct watchdog *w)
{
	return pthread_create(&w->t, NULL, wd_main, w);
}

/* The run ended (its threads joined): stop the watchdog. */
static inline void wd_stop(struct watchdog *w)
{
	pthread_mutex_lock(&w->lock);
	w->ended = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->t, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}

#endif /* IOBUF_TESTS_STRESS_WATCHDOG_H */
