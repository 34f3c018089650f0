/* SPDX-License-Identifier: MIT */
/*
 * stress_scq.c - the SCQ under concurrent dequeue/enqueue, every index
 * checked for a single owner.
 *
 *   stress_scq            about 2 s in all (make check)
 *   stress_scq --long     >= 3 * 10^7 operations per case, ~10^9 in all (make stress)
 *   stress_scq --seconds S
 *
 * Each worker, pinned to a CPU, loops: dequeue a few indices (sometimes
 * with dequeue_burst), claim each in an ownership array (FREE -> its id; a
 * failure is two owners), stamp the index's payload with plain stores, hold
 * them a random while, check the stamps, release ownership (its id -> FREE)
 * and enqueue them back (sometimes with enqueue_bulk).  The ownership array
 * uses relaxed atomics, so the only happens-before between owners of a
 * payload is the queue's own release/acquire: ThreadSanitizer reports a
 * race on the payload if the queue's ordering is missing.
 *
 * "no-empty" runs keep k*T < capacity (T workers holding at most k), so
 * the queue is never empty and a dequeue must never say -ENOBUFS.  "wrap"
 * runs start the tickets just below 2^64 or 2^63 and check they passed it.
 * Every run ends quiescent: count() == capacity and a drain yields exactly
 * capacity distinct indices.
 *
 * Output is TAP.  Exit 0 when all pass.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iobuf/scq.h>

#include "scq.h"

#define FREE UINT32_MAX
#define MAX_THREADS 8
#define MAX_HOLD 16

struct run {
	const char *name;
	uint32_t cap;
	int threads;
	int hold;         /* a worker holds at most this many */
	bool no_empty;    /* -ENOBUFS is a failure */
	uint64_t start;   /* first ticket */
	bool wrap;        /* head must pass wrap_at (start is just below it) */
	uint64_t wrap_at;
	bool churn;       /* rounds of CHURN_OPS per worker, the queue re-made at start each round */
};

/* Per worker per churn round: enough to carry the tickets across a wrap just above start. */
#define CHURN_OPS 48

struct shared {
	const struct run *run;
	struct iobuf_scq *q;
	_Atomic uint32_t *owner;
	uint64_t *payload;      /* plain: only the owner touches it */
	atomic_bool stop;
	atomic_int failed;
	atomic_uint_fast64_t ops;
	atomic_uint_fast64_t empties;
	pthread_barrier_t go, done; /* churn rounds start and end on these */
	char why[256];
	pthread_mutex_t why_lock;
};

struct worker {
	struct shared *sh;
	pthread_t tid;
	uint32_t id;
	int cpu;
	bool pinned;
	uint64_t rng;
};

static int ncpus_allowed;
static int cpus[64];
static bool pin_warned;

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((format(printf, 2, 3)))
static void fail(struct shared *sh, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&sh->why_lock);
	if (atomic_load(&sh->failed) == 0) {
		va_start(ap, fmt);
		vsnprintf(sh->why, sizeof(sh->why), fmt, ap);
		va_end(ap);
	}
	atomic_store(&sh->failed, 1);
	atomic_store(&sh->stop, true);
	pthread_mutex_unlock(&sh->why_lock);
}

static uint64_t stamp(uint32_t id, uint64_t seq, uint32_t idx)
{
	return ((uint64_t)id << 56) ^ (seq << 24) ^ idx;
}

/* Claim @v for @w: it must be free, in range and not ours already. */
static bool claim(struct worker *w, int v, uint64_t seq)
{
	struct shared *sh = w->sh;
	uint32_t expect = FREE;

	if (v < 0 || (uint32_t)v >= sh->run->cap) {
		fail(sh, "worker %u: dequeue returned %d (capacity %u)", w->id, v, sh->run->cap);
		return false;
	}
	/* Relaxed: the queue alone must order the payload (see the top). */
	if (!atomic_compare_exchange_strong_explicit(&sh->owner[v], &expect, w->id, memory_order_relaxed,
						     memory_order_relaxed)) {
		fail(sh, "index %d owned by worker %u and dequeued by worker %u", v, expect, w->id);
		return false;
	}
	sh->payload[v] = stamp(w->id, seq, (uint32_t)v);
	return true;
}

static bool release(struct worker *w, uint32_t v, uint64_t seq)
{
	struct shared *sh = w->sh;
	uint32_t was;

	if (sh->payload[v] != stamp(w->id, seq, v)) {
		fail(sh, "index %u: payload changed while worker %u held it", v, w->id);
		return false;
	}
	was = atomic_exchange_explicit(&sh->owner[v], FREE, memory_order_relaxed);
	if (was != w->id) {
		fail(sh, "index %u released by worker %u but owned by %u", v, w->id, was);
		return false;
	}
	return true;
}

struct tally {
	uint64_t ops, empties, n;
};

/* One take-hold-give-back cycle of worker @w.  Returns false on a failure. */
static bool iterate(struct worker *w, struct tally *ty)
{
	struct shared *sh = w->sh;
	const struct run *run = sh->run;
	uint32_t held[MAX_HOLD];
	uint64_t seq[MAX_HOLD];
	int want = 1 + (int)(rnd(&w->rng) % (uint64_t)run->hold), nheld = 0;
	uint64_t r = rnd(&w->rng);

	/* Take. */
	if (r % 4 == 0) {
		uint32_t got[MAX_HOLD];
		int k = iobuf_scq_dequeue_burst(sh->q, got, want);

		if (k < 0 || k > want) {
			fail(sh, "worker %u: dequeue_burst(%d) returned %d", w->id, want, k);
			return false;
		}
		ty->ops += (uint64_t)k;
		if (k < want) {
			ty->empties++;
			if (run->no_empty) {
				fail(sh, "worker %u: dequeue_burst(%d) got %d from a queue never empty", w->id, want, k);
				return false;
			}
		}
		for (int i = 0; i < k; i++) {
			if (!claim(w, (int)got[i], ty->n))
				return false;
			held[nheld] = got[i];
			seq[nheld++] = ty->n++;
		}
	} else {
		while (nheld < want) {
			int v = iobuf_scq_dequeue(sh->q);

			ty->ops++;
			if (v == -ENOBUFS) {
				ty->empties++;
				if (run->no_empty) {
					fail(sh, "worker %u: -ENOBUFS from a queue never empty (holding %d of %d)", w->id, nheld,
					     run->hold);
					return false;
				}
				break;
			}
			if (!claim(w, v, ty->n))
				return false;
			held[nheld] = (uint32_t)v;
			seq[nheld++] = ty->n++;
		}
	}

	/* Hold a little. */
	for (uint64_t spin = rnd(&w->rng) % 64; spin > 0; spin--)
		__asm__ __volatile__("" ::: "memory");

	/* Give back, in a random rotation of the order taken. */
	if (nheld > 0) {
		int rot = (int)((r >> 8) % (uint64_t)nheld);
		uint32_t back[MAX_HOLD];

		for (int i = 0; i < nheld; i++) {
			int j = (i + rot) % nheld;

			if (!release(w, held[j], seq[j]))
				return false;
			back[i] = held[j];
		}
		if ((r >> 16) % 4 == 0) {
			if (iobuf_scq_enqueue_bulk(sh->q, back, nheld) != 0) {
				fail(sh, "worker %u: enqueue_bulk failed", w->id);
				return false;
			}
		} else {
			for (int i = 0; i < nheld; i++)
				if (iobuf_scq_enqueue(sh->q, back[i]) != 0) {
					fail(sh, "worker %u: enqueue(%u) failed", w->id, back[i]);
					return false;
				}
		}
		ty->ops += (uint64_t)nheld;
	}
	return true;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	struct tally ty = { 0, 0, 0 };

	if (w->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		w->pinned = pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
	}
	if (sh->run->churn) {
		/* Rounds: the main thread re-makes the queue between the barriers. */
		for (;;) {
			bool ok = true;

			pthread_barrier_wait(&sh->go);
			if (atomic_load_explicit(&sh->stop, memory_order_relaxed))
				break;
			for (int i = 0; i < CHURN_OPS && ok; i++)
				ok = iterate(w, &ty);
			pthread_barrier_wait(&sh->done);
		}
	} else {
		pthread_barrier_wait(&sh->go);
		while (!atomic_load_explicit(&sh->stop, memory_order_relaxed))
			if (!iterate(w, &ty))
				break;
	}
	atomic_fetch_add(&sh->ops, ty.ops);
	atomic_fetch_add(&sh->empties, ty.empties);
	return NULL;
}

/* At rest: count() == capacity, and a drain yields exactly capacity distinct free indices. */
static bool check_at_rest(struct shared *sh, uint8_t *seen)
{
	const struct run *run = sh->run;
	uint32_t drained = 0;
	int v;

	memset(seen, 0, run->cap);
	if (iobuf_scq_count(sh->q) != run->cap) {
		snprintf(sh->why, sizeof(sh->why), "count %u at rest, expected %u", iobuf_scq_count(sh->q), run->cap);
		return false;
	}
	while ((v = iobuf_scq_dequeue(sh->q)) >= 0) {
		if ((uint32_t)v >= run->cap || seen[v] || atomic_load(&sh->owner[v]) != FREE) {
			snprintf(sh->why, sizeof(sh->why), "drain: index %d out of range, repeated or owned", v);
			return false;
		}
		seen[v] = 1;
		drained++;
	}
	if (drained != run->cap) {
		snprintf(sh->why, sizeof(sh->why), "drain: %u indices, expected %u", drained, run->cap);
		return false;
	}
	return true;
}

/* Runs one case; returns true if it passed.  @budget: seconds, or 0 with @min_ops. */
static bool run_case(const struct run *run, double budget, uint64_t min_ops, char *note, size_t note_len)
{
	struct shared sh;
	struct worker w[MAX_THREADS];
	size_t size = iobuf_scq_memsize(run->cap);
	void *mem = NULL;
	uint8_t *seen;
	double t0, t1;
	bool ok = true, pinned = true;
	uint64_t rounds = 0;

	memset(&sh, 0, sizeof(sh));
	sh.run = run;
	if (posix_memalign(&mem, IOBUF_SCQ_ALIGN, size) != 0 || iobuf__scq_init_at(mem, run->cap, true, run->start) != 0) {
		snprintf(note, note_len, "cannot make the queue");
		free(mem);
		return false;
	}
	sh.q = mem;
	sh.owner = malloc(run->cap * sizeof(*sh.owner));
	sh.payload = calloc(run->cap, sizeof(*sh.payload));
	seen = calloc(run->cap, 1);
	if (!sh.owner || !sh.payload || !seen) {
		snprintf(note, note_len, "out of memory");
		return false;
	}
	for (uint32_t i = 0; i < run->cap; i++)
		atomic_init(&sh.owner[i], FREE);
	pthread_mutex_init(&sh.why_lock, NULL);
	pthread_barrier_init(&sh.go, NULL, (unsigned)run->threads + 1);
	pthread_barrier_init(&sh.done, NULL, (unsigned)run->threads + 1);

	for (int i = 0; i < run->threads; i++) {
		w[i].sh = &sh;
		w[i].id = (uint32_t)i;
		w[i].cpu = ncpus_allowed > 0 ? cpus[i % ncpus_allowed] : -1;
		w[i].pinned = false;
		w[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1) ^ run->cap ^ (run->start << 7);
		if (pthread_create(&w[i].tid, NULL, work, &w[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			exit(99);
		}
	}
	t0 = now();
	if (run->churn) {
		/* Each round: go, CHURN_OPS each, done, check, re-make the queue at start. */
		for (;;) {
			double el = now() - t0;
			bool enough = min_ops == 0 ? el >= budget : atomic_load(&sh.ops) + rounds * CHURN_OPS * 2 >= min_ops;

			if (enough || atomic_load(&sh.failed) || el > 600 + budget)
				atomic_store(&sh.stop, true);
			pthread_barrier_wait(&sh.go);
			if (atomic_load(&sh.stop))
				break;
			pthread_barrier_wait(&sh.done);
			rounds++;
			if (atomic_load(&sh.failed))
				continue;
			if (iobuf__scq_diff(iobuf__load_64(&sh.q->head), run->wrap_at) <= 0) {
				fail(&sh, "round %llu never passed the wrap", (unsigned long long)rounds);
				continue;
			}
			if (!check_at_rest(&sh, seen)) {
				atomic_store(&sh.failed, 1);
				continue;
			}
			iobuf__scq_init_at(sh.q, run->cap, true, run->start);
		}
	} else {
		pthread_barrier_wait(&sh.go);
		for (;;) {
			struct timespec ts = { 0, 2 * 1000 * 1000 };
			double el = now() - t0;
			bool passed_wrap = !run->wrap || iobuf__scq_diff(iobuf__load_64(&sh.q->head), run->wrap_at) > 0;

			nanosleep(&ts, NULL);
			if (atomic_load(&sh.failed))
				break;
			if (min_ops == 0 && el >= budget && passed_wrap)
				break;
			/* Workers add up their ops at exit; tail counts the enqueues, about half. */
			if (min_ops != 0 && 2 * (iobuf__load_64(&sh.q->tail) - run->start) >= min_ops && passed_wrap)
				break;
			if (el > 600 + budget) {
				fail(&sh, "timed out (no progress past the wrap?)");
				break;
			}
		}
	}
	atomic_store(&sh.stop, true);
	for (int i = 0; i < run->threads; i++) {
		pthread_join(w[i].tid, NULL);
		pinned &= w[i].pinned;
	}
	t1 = now();
	if (!pinned && !pin_warned) {
		printf("# could not pin every worker to a CPU; running unpinned\n");
		pin_warned = true;
	}

	if (atomic_load(&sh.failed)) {
		ok = false;
	} else if (!run->churn) {
		ok = check_at_rest(&sh, seen);
		if (ok && run->wrap && iobuf__scq_diff(iobuf__load_64(&sh.q->head), run->wrap_at) <= 0) {
			snprintf(sh.why, sizeof(sh.why), "never passed the wrap");
			ok = false;
		}
	}
	if (ok)
		snprintf(note, note_len, "%.2f Mops in %.2f s, %.1f ns/op, %llu empty%s%.0llu", (double)atomic_load(&sh.ops) / 1e6,
			 t1 - t0, (t1 - t0) * 1e9 / (double)(atomic_load(&sh.ops) + 1),
			 (unsigned long long)atomic_load(&sh.empties), run->churn ? ", rounds " : "",
			 (unsigned long long)rounds);
	else
		snprintf(note, note_len, "%s", sh.why);
	pthread_barrier_destroy(&sh.go);
	pthread_barrier_destroy(&sh.done);
	pthread_mutex_destroy(&sh.why_lock);
	free(seen);
	free(sh.payload);
	free((void *)sh.owner);
	free(mem);
	return ok;
}

int main(int argc, char **argv)
{
	static const uint32_t caps[] = { 1, 2, 3, 8, 64, 4096 };
	struct run runs[64];
	int nruns = 0, failed = 0;
	bool longrun = false;
	double total = 2.0;
	cpu_set_t set;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--long") == 0) {
			longrun = true;
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			total = atof(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [--long | --seconds S]\n", argv[0]);
			return 2;
		}
	}
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int c = 0; c < CPU_SETSIZE && ncpus_allowed < 64; c++)
			if (CPU_ISSET(c, &set))
				cpus[ncpus_allowed++] = c;

#define RUN(name, cap, threads, hold, no_empty, start, wrap, wrap_at, churn) \
	(struct run){ name, cap, threads, hold, no_empty, start, wrap, wrap_at, churn }
	const uint64_t w64 = 0, w63 = UINT64_C(1) << 63, back = UINT64_C(1) << 16;

	/* Two workers, one per core. */
	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++)
		runs[nruns++] = RUN("owners", caps[c], 2, 8, false, 0, false, 0, false);
	/* Four workers on two cores: preempted in the middle of operations. */
	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++)
		runs[nruns++] = RUN("owners, 2 per CPU", caps[c], 4, 4, false, 0, false, 0, false);
	/* Never empty: k*T < capacity. */
	runs[nruns++] = RUN("no-empty", 3, 2, 1, true, 0, false, 0, false);
	runs[nruns++] = RUN("no-empty", 8, 2, 3, true, 0, false, 0, false);
	runs[nruns++] = RUN("no-empty", 64, 2, 16, true, 0, false, 0, false);
	runs[nruns++] = RUN("no-empty", 4096, 2, 16, true, 0, false, 0, false);
	runs[nruns++] = RUN("no-empty, 2 per CPU", 9, 4, 2, true, 0, false, 0, false);
	/* Through the wraps: 2^64 (tickets) and 2^63 (truncated cycles). */
	runs[nruns++] = RUN("owners, wrap 2^64", 3, 2, 8, false, w64 - back, true, w64, false);
	runs[nruns++] = RUN("owners, wrap 2^64", 64, 4, 8, false, w64 - back, true, w64, false);
	runs[nruns++] = RUN("owners, wrap 2^63", 8, 2, 8, false, w63 - back, true, w63, false);
	runs[nruns++] = RUN("no-empty, wrap 2^64", 8, 2, 3, true, w64 - back, true, w64, false);
	runs[nruns++] = RUN("no-empty, wrap 2^63", 64, 2, 16, true, w63 - back, true, w63, false);
	/* Short rounds, each re-made just below a wrap: catch-up and overtaking right at it. */
	runs[nruns++] = RUN("churn at wrap 2^64", 1, 2, 2, false, w64 - 24, true, w64, true);
	runs[nruns++] = RUN("churn at wrap 2^64", 2, 4, 2, false, w64 - 40, true, w64, true);
	runs[nruns++] = RUN("churn at wrap 2^63", 3, 2, 3, false, w63 - 24, true, w63, true);
#undef RUN

	printf("1..%d\n", nruns);
	printf("# %s: %d CPUs allowed\n", longrun ? "long run" : "short run", ncpus_allowed);
	fflush(stdout);
	for (int i = 0; i < nruns; i++) {
		char note[300];
		bool ok = run_case(&runs[i], longrun ? 0 : total / nruns, longrun ? 30 * 1000 * 1000 : 0, note, sizeof(note));

		printf("%s %d - %s cap=%u threads=%d hold<=%d\n# %s\n", ok ? "ok" : "not ok", i + 1, runs[i].name,
		       runs[i].cap, runs[i].threads, runs[i].hold, note);
		fflush(stdout);
		failed += !ok;
	}
	return failed ? 1 : 0;
}
