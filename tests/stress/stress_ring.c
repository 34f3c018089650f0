/* SPDX-License-Identifier: MIT */
/*
 * stress_ring.c - one writer and one to three readers hammer a ring, every
 * entry checked.
 *
 * The writer fills entry @seq with a payload derived from @seq (word 0 is
 * @seq, the others a hash of it; an 8-byte entry is the hash).  Every reader
 * checks that it sees the sequences in order and every payload intact.
 * Lossless: each reader sees every entry, and a dependent reader sees an
 * entry only after its dependencies stamped it in a side table.  Lossy:
 * a lapped reader is never handed a torn entry, and for every reader the
 * entries it received plus the misses it was told of add up exactly to
 * what was published.  One case adds and removes readers (some dependent)
 * while the writer runs and checks that nothing they hold is overwritten.
 *
 *   stress_ring            about 2 s in all (make check)
 *   stress_ring --long     each case for 30 s (make stress)
 *   stress_ring --seconds S  each case for S seconds
 *   stress_ring --watchdog S a case fails S s after its writer was to stop (30)
 *
 * Threads are pinned round-robin to the allowed CPUs when the system lets
 * us.  Output is TAP.  A case that has not ended 30 s after its writer was
 * to stop (--watchdog) fails, and its watchdog (watchdog.h) first prints every thread's
 * current call and sequences and the ring's cursor, gate, reclaim and
 * futex words, so that a stall explains itself.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iobuf/ring.h>

#include "../common/thread.h"
#include "watchdog.h"

#define MAXR 4
#define MAX_ESZ 64
#define MS (1000 * 1000LL)

struct scase {
	const char *name;
	enum iobuf_ring_mode mode;
	enum iobuf_ring_wait wait;
	uint32_t cap;
	uint32_t esz;
	int batch; /* the writer claims 1 .. batch at a time */
	int nreaders;
	int ndeps[MAXR];
	int deps[MAXR][MAXR];
	int churn; /* threads that join and leave while the writer runs */
};

/* clang-format off */
static const struct scase cases[] = {
	{"lossless, 1 reader, spin, single, 64-byte", IOBUF_RING_LOSSLESS, IOBUF_RING_SPIN, 1024, 64, 1, 1, {0}, {{0}}, 0},
	{"lossless, 1 reader, spin, batch 32, 8-byte", IOBUF_RING_LOSSLESS, IOBUF_RING_SPIN, 256, 8, 32, 1, {0}, {{0}}, 0},
	{"lossless, 3 readers, yield, batch, 64-byte", IOBUF_RING_LOSSLESS, IOBUF_RING_YIELD, 128, 64, 32, 3, {0}, {{0}}, 0},
	{"lossless, pipeline A->B->C, block, 64-byte", IOBUF_RING_LOSSLESS, IOBUF_RING_BLOCK, 64, 64, 8, 3,
	 {0, 1, 1}, {{0}, {0}, {1}}, 0},
	{"lossless, diamond A,B->C, block, 64-byte", IOBUF_RING_LOSSLESS, IOBUF_RING_BLOCK, 64, 64, 16, 3,
	 {0, 0, 2}, {{0}, {0}, {0, 1}}, 0},
	{"lossless, join/leave under load, yield, 64-byte", IOBUF_RING_LOSSLESS, IOBUF_RING_YIELD, 64, 64, 8, 1,
	 {0}, {{0}}, 2},
	{"lossy, 1 reader, spin, batch, 64-byte", IOBUF_RING_LOSSY, IOBUF_RING_SPIN, 64, 64, 32, 1, {0}, {{0}}, 0},
	{"lossy, 2 readers, yield, single, 8-byte", IOBUF_RING_LOSSY, IOBUF_RING_YIELD, 32, 8, 1, 2, {0}, {{0}}, 0},
	{"lossy, pipeline A->B, block, 64-byte", IOBUF_RING_LOSSY, IOBUF_RING_BLOCK, 64, 64, 8, 2, {0, 1},
	 {{0}, {0}}, 0},
	{"lossy, diamond A,B->C, yield, 24-byte", IOBUF_RING_LOSSY, IOBUF_RING_YIELD, 32, 24, 4, 3, {0, 0, 2},
	 {{0}, {0}, {0, 1}}, 0},
};
/* clang-format on */
#define NCASES ((int)(sizeof(cases) / sizeof(cases[0])))

struct rstat {
	uint64_t received, missed, overflows, batches;
};

struct run {
	const struct scase *sc;
	struct iobuf_ring *ring;
	int rid[MAXR];
	int64_t t_end; /* the writer stops claiming */
	atomic_int writer_done;
	atomic_uint_fast64_t total;
	atomic_int failed;
	atomic_uint_fast64_t joins;
	uint64_t *stage[MAXR]; /* lossless: stage[r][seq & mask] = seq once r checked it */
	struct rstat rs[MAXR];
	char why[256];
	pthread_mutex_t why_lock;
	struct watchdog wd; /* 30 s after t_end: a hang */
};

struct rarg {
	struct run *run;
	int idx;
	int cpu;
	unsigned seed;
	struct wd_thread *wd;
};

static atomic_int pin_failures;

static void fail(struct run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct run *run, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&run->why_lock);
	if (!atomic_load(&run->failed)) {
		va_start(ap, fmt);
		vsnprintf(run->why, sizeof(run->why), fmt, ap);
		va_end(ap);
	}
	atomic_store(&run->failed, 1);
	pthread_mutex_unlock(&run->why_lock);
}

static uint64_t mix(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static void fill(void *e, uint32_t esz, uint64_t seq)
{
	uint64_t w[MAX_ESZ / 8];

	w[0] = esz == 8 ? mix(seq) : seq;
	for (uint32_t i = 1; i < MAX_ESZ / 8; i++)
		w[i] = mix(seq * 8 + i);
	memcpy(e, w, esz);
}

static bool check(const void *e, uint32_t esz, uint64_t seq)
{
	unsigned char want[MAX_ESZ];

	fill(want, esz, seq);
	return memcmp(e, want, esz) == 0;
}

/* A wait timed out: stop if the run failed (the watchdog fails a run that hangs). */
static bool give_up(struct run *run)
{
	return atomic_load(&run->failed);
}

static void wd_fire(void *arg, const char *why)
{
	fail(arg, "%s", why);
}

static void *writer_main(void *arg)
{
	struct rarg *a = arg;
	struct run *run = a->run;
	const struct scase *sc = run->sc;
	unsigned char tmp[MAX_ESZ];
	uint64_t next = 0, s;
	unsigned seed = a->seed;

	if (!th_pin(a->cpu))
		pin_failures++;
	for (uint64_t iter = 0;; iter++) {
		int n = sc->batch == 1 ? 1 : 1 + rand_r(&seed) % sc->batch;
		int rc;

		if ((iter & 255) == 0 && (int64_t)th_now_ns() >= run->t_end)
			break;
		wd_enter(a->wd, "iobuf_ring_claim");
		rc = iobuf_ring_claim(run->ring, n, &s, 50 * MS);
		wd_leave(a->wd, rc);
		wd_seq(a->wd, next, rc == 0 ? s : next);
		if (rc == -ETIMEDOUT) {
			if (give_up(run))
				break;
			continue;
		}
		if (rc != 0 || s != next) {
			fail(run, "claim %d: rc %d, seq %" PRIu64 " expected %" PRIu64, n, rc, s, next);
			break;
		}
		for (int i = 0; i < n; i++) {
			if (sc->mode == IOBUF_RING_LOSSLESS) {
				fill(iobuf_ring_entry(run->ring, s + (uint64_t)i), sc->esz, s + (uint64_t)i);
			} else {
				fill(tmp, sc->esz, s + (uint64_t)i);
				if (iobuf_ring_write(run->ring, s + (uint64_t)i, tmp) != 0)
					fail(run, "write %" PRIu64, s + (uint64_t)i);
			}
		}
		wd_enter(a->wd, "iobuf_ring_publish");
		rc = iobuf_ring_publish(run->ring, s, n);
		wd_leave(a->wd, rc);
		if (rc != 0) {
			fail(run, "publish: %d", rc);
			break;
		}
		next = s + (uint64_t)n;
		wd_seq(a->wd, next, s);
		/* Lossy: let the readers catch up now and then, so they both receive and miss. */
		if (sc->mode == IOBUF_RING_LOSSY && rand_r(&seed) % 64 == 0) {
			if (rand_r(&seed) % 4 == 0)
				sched_yield();
			else
				for (int k = rand_r(&seed) % 2000; k > 0; k--)
					atomic_signal_fence(memory_order_seq_cst);
		}
		if (atomic_load(&run->failed))
			break;
	}
	atomic_store(&run->total, next);
	atomic_store(&run->writer_done, 1);
	return NULL;
}

static bool reader_finished(struct run *run, uint64_t pos)
{
	return atomic_load(&run->writer_done) && pos == atomic_load(&run->total);
}

static void *reader_main(void *arg)
{
	struct rarg *a = arg;
	struct run *run = a->run;
	const struct scase *sc = run->sc;
	const int me = a->idx, id = run->rid[me];
	struct rstat *st = &run->rs[me];
	unsigned char buf[MAX_ESZ];
	uint64_t expected = 0, first, missed;
	unsigned seed = a->seed;

	if (!th_pin(a->cpu))
		pin_failures++;
	atomic_store(&a->wd->reader, id);
	while (!reader_finished(run, expected)) {
		uint64_t upto;
		int rc;

		wd_enter(a->wd, "iobuf_ring_wait");
		rc = iobuf_ring_wait(run->ring, id, &first, &missed, 20 * MS);
		wd_leave(a->wd, rc);
		wd_seq(a->wd, expected, rc > 0 || rc == -EOVERFLOW ? first : expected);

		if (rc == -ETIMEDOUT) {
			if (give_up(run))
				break;
			continue;
		}
		if (rc == -EOVERFLOW) {
			if (sc->mode != IOBUF_RING_LOSSY || missed == 0 || first != expected + missed) {
				fail(run, "reader %d: overflow at %" PRIu64 " missed %" PRIu64 " first %" PRIu64, me,
				     expected, missed, first);
				break;
			}
			st->missed += missed;
			st->overflows++;
			expected = first;
			continue;
		}
		if (rc <= 0 || first != expected) {
			fail(run, "reader %d: wait %d, first %" PRIu64 " expected %" PRIu64, me, rc, first, expected);
			break;
		}
		st->batches++;
		upto = first;
		for (int k = 0; k < rc; k++) {
			uint64_t s = first + (uint64_t)k;
			const void *e;

			if (sc->mode == IOBUF_RING_LOSSLESS) {
				uint64_t slot = s & (sc->cap - 1);

				e = iobuf_ring_entry(run->ring, s);
				for (int d = 0; d < sc->ndeps[me]; d++) {
					if (run->stage[sc->deps[me][d]][slot] != s) {
						fail(run,
						     "reader %d: entry %" PRIu64 " before dependency %d released it",
						     me, s, sc->deps[me][d]);
						goto out;
					}
				}
			} else {
				int r2;

				wd_enter(a->wd, "iobuf_ring_read");
				r2 = iobuf_ring_read(run->ring, id, s, buf);
				wd_leave(a->wd, r2);

				if (r2 == -EOVERFLOW)
					break; /* overwritten under us: release up to s, the next poll counts it */
				if (r2 != 0) {
					fail(run, "reader %d: read %" PRIu64 ": %d", me, s, r2);
					goto out;
				}
				e = buf;
			}
			if (!check(e, sc->esz, s)) {
				fail(run, "reader %d: entry %" PRIu64 " torn or wrong", me, s);
				goto out;
			}
			if (sc->mode == IOBUF_RING_LOSSLESS)
				run->stage[me][s & (sc->cap - 1)] = s;
			st->received++;
			upto = s + 1;
		}
		wd_enter(a->wd, "iobuf_ring_release");
		rc = iobuf_ring_release(run->ring, id, upto);
		wd_leave(a->wd, rc);
		if (rc != 0) {
			fail(run, "reader %d: release %" PRIu64 ": %d", me, upto, rc);
			break;
		}
		expected = upto;
		wd_seq(a->wd, expected, first);
		/* Lossy readers dawdle now and then, to be lapped. */
		if (sc->mode == IOBUF_RING_LOSSY && rand_r(&seed) % 16 == 0)
			for (int k = rand_r(&seed) % 5000; k > 0; k--)
				atomic_signal_fence(memory_order_seq_cst);
	}
out:
	return NULL;
}

/* Join (half the time behind reader 0), check a stretch of entries, leave; again. */
static void *churn_main(void *arg)
{
	struct rarg *a = arg;
	struct run *run = a->run;
	const struct scase *sc = run->sc;
	unsigned seed = a->seed;

	if (!th_pin(a->cpu))
		pin_failures++;
	while (!atomic_load(&run->writer_done) && !atomic_load(&run->failed)) {
		int dep = run->rid[0], dependent = rand_r(&seed) % 2, id;
		uint64_t first, expected = 0, want = 1 + (uint64_t)(rand_r(&seed) % (3 * sc->cap));
		uint64_t got = 0;
		bool started = false;
		int rc;

		wd_enter(a->wd, "iobuf_ring_reader_add");
		id = iobuf_ring_reader_add(run->ring, dependent ? &dep : NULL, dependent);
		wd_leave(a->wd, id);
		atomic_store(&a->wd->reader, id);
		if (id < 0) {
			fail(run, "churn: reader_add: %d", id);
			break;
		}
		atomic_fetch_add(&run->joins, 1);
		while (got < want && !atomic_load(&run->writer_done) && !give_up(run)) {
			wd_enter(a->wd, "iobuf_ring_wait");
			rc = iobuf_ring_wait(run->ring, id, &first, NULL, 5 * MS);
			wd_leave(a->wd, rc);
			wd_seq(a->wd, expected, rc > 0 ? first : expected);
			if (rc == -ETIMEDOUT)
				continue;
			if (rc <= 0 || (started && first != expected)) {
				fail(run, "churn: wait %d first %" PRIu64 " expected %" PRIu64, rc, first, expected);
				goto out;
			}
			started = true;
			for (int k = 0; k < rc; k++)
				if (!check(iobuf_ring_entry(run->ring, first + (uint64_t)k), sc->esz,
					   first + (uint64_t)k))
					goto bad;
			/* Hold the entries a moment: the writer must not reuse them meanwhile. */
			sched_yield();
			for (int k = 0; k < rc; k++)
				if (!check(iobuf_ring_entry(run->ring, first + (uint64_t)k), sc->esz,
					   first + (uint64_t)k))
					goto bad;
			expected = first + (uint64_t)rc;
			got += (uint64_t)rc;
			wd_enter(a->wd, "iobuf_ring_release");
			rc = iobuf_ring_release(run->ring, id, expected);
			wd_leave(a->wd, rc);
			if (rc != 0) {
				fail(run, "churn: release");
				goto out;
			}
		}
		wd_enter(a->wd, "iobuf_ring_reader_remove");
		rc = iobuf_ring_reader_remove(run->ring, id);
		wd_leave(a->wd, rc);
		atomic_store(&a->wd->reader, -1);
		if (rc != 0) {
			fail(run, "churn: remove %d", rc);
			break;
		}
		continue;
	bad:
		fail(run, "churn: an entry held by a joined reader was overwritten");
		goto out;
	}
out:
	return NULL;
}

static bool run_case(int num, const struct scase *sc, double seconds, double watchdog)
{
	struct iobuf_ring_config cfg = {
	    .capacity = sc->cap,
	    .entry_size = sc->esz,
	    .mode = sc->mode,
	    .max_readers = sc->nreaders + sc->churn,
	    .wait = sc->wait,
	    .spins = 256,
	};
	struct run run;
	struct rarg args[1 + MAXR + 2];
	void *(*fn[1 + MAXR + 2])(void *);
	pthread_t th[1 + MAXR + 2];
	int nth = 0, err;
	bool ok;
	int64_t t0;

	memset(&run, 0, sizeof(run));
	pthread_mutex_init(&run.why_lock, NULL);
	run.sc = sc;
	run.ring = iobuf_ring_create(&cfg, &err);
	if (run.ring == NULL) {
		printf("not ok %d - %s # create: %s\n", num, sc->name, strerror(-err));
		return false;
	}
	for (int i = 0; i < sc->nreaders; i++) {
		int deps[MAXR];

		for (int d = 0; d < sc->ndeps[i]; d++)
			deps[d] = run.rid[sc->deps[i][d]];
		run.rid[i] = iobuf_ring_reader_add(run.ring, deps, sc->ndeps[i]);
		if (run.rid[i] < 0) {
			printf("not ok %d - %s # reader_add: %s\n", num, sc->name, strerror(-run.rid[i]));
			iobuf_ring_destroy(run.ring);
			return false;
		}
		run.stage[i] = calloc(sc->cap, sizeof(uint64_t));
		/* No sequence matches before the first lap: slot i holds i only once i is checked. */
		for (uint32_t k = 0; k < sc->cap; k++)
			run.stage[i][k] = UINT64_MAX;
	}
	t0 = (int64_t)th_now_ns();
	run.t_end = t0 + (int64_t)(seconds * 1e9);
	wd_init(&run.wd, run.ring, num, sc->name, (uint64_t)run.t_end, (uint64_t)run.t_end + (uint64_t)(watchdog * 1e9),
		wd_fire, &run);
	/* The writer on the first CPU, readers round-robin from the second; every record before the watchdog starts. */
	args[nth] = (struct rarg){.run = &run, .idx = -1, .cpu = 0, .seed = 1, .wd = wd_add(&run.wd, "writer", 0)};
	fn[nth++] = writer_main;
	for (int i = 0; i < sc->nreaders; i++) {
		args[nth] = (struct rarg){.run = &run,
					  .idx = i,
					  .cpu = 1 + i,
					  .seed = 100u + (unsigned)i,
					  .wd = wd_add(&run.wd, "reader", i)};
		fn[nth++] = reader_main;
	}
	for (int i = 0; i < sc->churn; i++) {
		args[nth] = (struct rarg){
		    .run = &run, .idx = -1, .cpu = i, .seed = 200u + (unsigned)i, .wd = wd_add(&run.wd, "churn", i)};
		fn[nth++] = churn_main;
	}
	wd_start(&run.wd);
	for (int i = 0; i < nth; i++)
		pthread_create(&th[i], NULL, fn[i], &args[i]);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	wd_stop(&run.wd);

	ok = !atomic_load(&run.failed);
	for (int i = 0; ok && i < sc->nreaders; i++) {
		const struct rstat *st = &run.rs[i];
		uint64_t total = atomic_load(&run.total);

		if (st->received + st->missed != total) {
			snprintf(run.why, sizeof(run.why),
				 "reader %d: received %" PRIu64 " + missed %" PRIu64 " != published %" PRIu64, i,
				 st->received, st->missed, total);
			ok = false;
		}
		if (sc->mode == IOBUF_RING_LOSSLESS && st->missed) {
			snprintf(run.why, sizeof(run.why), "lossless reader %d missed entries", i);
			ok = false;
		}
		if (iobuf_ring_lag(run.ring, run.rid[i]) != 0) {
			snprintf(run.why, sizeof(run.why), "reader %d: lag %" PRId64 " at the end", i,
				 iobuf_ring_lag(run.ring, run.rid[i]));
			ok = false;
		}
	}
	if (ok && sc->churn && atomic_load(&run.joins) == 0) {
		snprintf(run.why, sizeof(run.why), "no reader joined");
		ok = false;
	}
	printf("# %s: %" PRIu64 " published in %.2f s", sc->name, (uint64_t)atomic_load(&run.total),
	       (double)((int64_t)th_now_ns() - t0) / 1e9);
	for (int i = 0; i < sc->nreaders; i++)
		printf("; r%d got %" PRIu64 " missed %" PRIu64 " (%" PRIu64 " laps, %" PRIu64 " batches)", i,
		       run.rs[i].received, run.rs[i].missed, run.rs[i].overflows, run.rs[i].batches);
	if (sc->churn)
		printf("; %" PRIu64 " joins", (uint64_t)atomic_load(&run.joins));
	printf("\n");
	if (ok)
		printf("ok %d - %s\n", num, sc->name);
	else
		printf("not ok %d - %s # %s\n", num, sc->name, run.why);
	fflush(stdout);
	for (int i = 0; i < sc->nreaders; i++)
		free(run.stage[i]);
	iobuf_ring_destroy(run.ring);
	pthread_mutex_destroy(&run.why_lock);
	return ok;
}

int main(int argc, char **argv)
{
	double seconds = 0.18, watchdog = 30;
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--long") == 0) {
			seconds = 30;
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else if (strcmp(argv[i], "--watchdog") == 0 && i + 1 < argc) {
			watchdog = atof(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [--long | --seconds S] [--watchdog S]\n", argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..%d\n", NCASES);
	printf("# %d CPUs allowed, %.2f s per case\n", th_ncpus(), seconds);
	for (int i = 0; i < NCASES; i++)
		failed += !run_case(i + 1, &cases[i], seconds, watchdog);
	if (atomic_load(&pin_failures))
		printf("# pinning refused %d times: threads ran unpinned\n", atomic_load(&pin_failures));
	return failed ? 1 : 0;
}
