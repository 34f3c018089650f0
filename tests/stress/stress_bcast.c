/* SPDX-License-Identifier: MIT */
/*
 * stress_bcast.c - one writer broadcasts pooled buffers to one to three
 * readers (and readers that come and go); every buffer checked, every
 * buffer back in its pool exactly once.
 *
 * The writer takes buffers from an iobuf_set (waiting when the ring holds
 * them all), stamps each with its sequence and a hash of it, and hands
 * batches to the readers with iobuf_ring_bcast().  Each reader checks, for
 * every entry, that the handle is still live (iobuf_buf() is not NULL: the
 * buffer was not returned, let alone handed out again), that the stamp is
 * intact, and, when it depends on other readers, that each of them marked
 * the buffer (its own word) before releasing it; then it marks the buffer
 * itself, checks the handle is still live, and releases.  At the end, with
 * every reader done and before the ring is destroyed, every entry must
 * have been retired (reclaimed == cursor: nothing stranded, not even by the
 * readers that left) and every buffer be back (in_use == 0), and the pool
 * must have refused no put (no buffer was put twice) and counted as many
 * puts as gets.
 *
 * Lossy cases: the writer never waits for the ring (only for the pool,
 * which is larger than the ring and what the readers may hold) and also
 * records each buffer's length.  Each reader holds what it reads with
 * iobuf_ring_bcast_read(), checks that every buffer it holds carries the
 * stamp and the length of the entry it asked for -- never a buffer that
 * went back, let alone one handed out again -- and counts the entries it
 * was told it missed.  Slow readers keep what they hold until the writer
 * has lapped it (the cursor a capacity past it: the entry's own holder was
 * dropped), check it again, then put it; the writer runs on until each
 * slow reader was lapped so at least once.  At the end every reader's
 * received + missed is what was published, reclaimed is what the writer's
 * laps took back, the pool holds out exactly the ring's entries, and after
 * destroy every buffer is back, no put was refused, and gets == puts.
 *
 *   stress_bcast            about 2 s in all (make check)
 *   stress_bcast --long     each case for 30 s (make stress)
 *   stress_bcast --seconds S  each case for S seconds
 *   stress_bcast --watchdog S a case fails S s after its writer was to stop (30)
 *
 * Threads are pinned round-robin to the allowed CPUs.  Output is TAP.  A
 * case that has not ended 30 s after its writer was to stop (--watchdog)
 * fails, and its watchdog (watchdog.h) first prints every thread's current
 * call and sequences and the ring's state.
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
#include <iobuf/ring_bcast.h>
#include <iobuf/tiers.h>

#include "../common/thread.h"
#include "watchdog.h"

#define MAXR 3
#define MAXBATCH 16
#define MS (1000 * 1000LL)
#define TIER IOBUF_TIER_MICRO /* 256-byte buffers: 32 words */
#define BUF_WORDS 32
#define STAMP_WORDS 24		    /* words 0 .. 23: the writer's stamp */
#define MARK(r) (STAMP_WORDS + (r)) /* word of reader r (fixed readers), then the churners' */
#define HOLD_MAX 16		    /* lossy: the most slices a reader holds at once */
/* Lossy: the length the writer records for entry @seq (at least the stamp, at most the buffer). */
#define LEN_OF(seq) (STAMP_WORDS * 8 + (seq) % 64)

struct bcase {
	const char *name;
	enum iobuf_ring_wait wait;
	uint32_t ring_cap;
	uint32_t pool_cap; /* below ring_cap: the writer waits for the pool, not the ring */
	int batch;	   /* the writer broadcasts 1 .. batch at a time */
	int nreaders;
	int ndeps[MAXR];
	int deps[MAXR][MAXR];
	int churn; /* threads that join and leave while the writer runs */
	bool lossy;
	unsigned slow; /* lossy: mask of the readers that hold what they read until the writer laps it */
};

/* clang-format off */
static const struct bcase cases[] = {
	{"1 reader, spin, batch 8", IOBUF_RING_SPIN, 64, 128, 8, 1, {0}, {{0}}, 0, false, 0},
	{"2 readers, yield, single", IOBUF_RING_YIELD, 16, 64, 1, 2, {0}, {{0}}, 0, false, 0},
	{"pipeline A->B, block, batch 4", IOBUF_RING_BLOCK, 32, 48, 4, 2, {0, 1}, {{0}, {0}}, 0, false, 0},
	{"pipeline A->B and C, yield, pool smaller than ring", IOBUF_RING_YIELD, 64, 24, 8, 3,
	 {0, 1, 0}, {{0}, {0}, {0}}, 0, false, 0},
	{"diamond A,B->C, block, batch 16", IOBUF_RING_BLOCK, 32, 64, 16, 3, {0, 0, 2}, {{0}, {0}, {0, 1}}, 0, false, 0},
	{"join/leave under load, block", IOBUF_RING_BLOCK, 32, 64, 4, 1, {0}, {{0}}, 2, false, 0},
	{"lossy, 3 readers (1 slow), spin, batch 8", IOBUF_RING_SPIN, 32, 160, 8, 3, {0}, {{0}}, 0, true, 1u << 2},
	{"lossy, 3 readers (2 slow), block, single", IOBUF_RING_BLOCK, 16, 128, 1, 3, {0}, {{0}}, 0, true, 3u},
	{"lossy, 2 readers (1 slow), yield, batch 4", IOBUF_RING_YIELD, 8, 96, 4, 2, {0}, {{0}}, 0, true, 1u},
};
/* clang-format on */
#define NCASES ((int)(sizeof(cases) / sizeof(cases[0])))

struct run {
	const struct bcase *sc;
	struct iobuf_set *set;
	struct iobuf_ring *ring;
	int rid[MAXR];
	int64_t t_end; /* the writer stops */
	atomic_int writer_done;
	atomic_uint_fast64_t total;
	atomic_int failed;
	atomic_uint_fast64_t joins, churn_seen;
	uint64_t received[MAXR];
	uint64_t missed[MAXR];		      /* lossy: what the polls said was missed */
	uint64_t refused[MAXR];		      /* lossy: reads refused as lapped (stamp or hold) */
	atomic_uint_fast64_t held_laps[MAXR]; /* lossy: times a slow reader held entries the writer lapped */
	uint64_t ring_full;		      /* broadcasts that found the ring full (gated on the reclaimed count) */
	char why[256];
	pthread_mutex_t why_lock;
	struct watchdog wd; /* 30 s after t_end: a hang */
};

struct targ {
	struct run *run;
	int idx;
	int cpu;
	uint64_t seed;
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

/* A wait timed out: stop if the run failed (the watchdog fails a run that hangs). */
static bool give_up(struct run *run)
{
	return atomic_load(&run->failed);
}

static void wd_fire(void *arg, const char *why)
{
	fail(arg, "%s", why);
}

static uint64_t mix(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static void stamp(uint64_t *b, uint64_t seq)
{
	b[0] = seq;
	for (int i = 1; i < STAMP_WORDS; i++)
		b[i] = mix(seq * STAMP_WORDS + (uint64_t)i);
	for (int i = STAMP_WORDS; i < BUF_WORDS; i++)
		b[i] = UINT64_MAX; /* no reader marked it yet */
}

static bool stamp_ok(const uint64_t *b, uint64_t seq)
{
	if (b[0] != seq)
		return false;
	for (int i = 1; i < STAMP_WORDS; i++)
		if (b[i] != mix(seq * STAMP_WORDS + (uint64_t)i))
			return false;
	return true;
}

/* A lossy case runs on past its time until each slow reader held entries the writer lapped. */
static bool slow_lapped(struct run *run)
{
	for (int i = 0; i < run->sc->nreaders; i++)
		if ((run->sc->slow & (1u << i)) && atomic_load(&run->held_laps[i]) == 0)
			return false;
	return true;
}

static void *writer_main(void *arg)
{
	struct targ *a = arg;
	struct run *run = a->run;
	const struct bcase *sc = run->sc;
	iobuf_handle_t hs[MAXBATCH];
	uint64_t next = 0, seed = a->seed;

	if (!th_pin(a->cpu))
		pin_failures++;
	for (uint64_t iter = 0; !atomic_load(&run->failed); iter++) {
		int n = sc->batch == 1 ? 1 : 1 + (int)(th_rand(&seed) % (uint64_t)sc->batch);
		int rc;

		if ((iter & 63) == 0 && (int64_t)th_now_ns() >= run->t_end && slow_lapped(run))
			break;
		for (int i = 0; i < n; i++) {
			/* Any size the tier serves (65 .. 256 bytes). */
			size_t size = IOBUF_TIER_SIZE(TIER - 1) + 1 +
				      th_rand(&seed) % (IOBUF_TIER_SIZE(TIER) - IOBUF_TIER_SIZE(TIER - 1));

			for (;;) {
				wd_enter(a->wd, "iobuf_get_wait");
				rc = iobuf_get_wait(run->set, size, &hs[i], 50 * MS);
				wd_leave(a->wd, rc);
				if (rc != -ETIMEDOUT || give_up(run))
					break;
			}
			if (rc == -ETIMEDOUT) {
				n = i;
				goto out_put;
			}
			if (rc != 0) {
				fail(run, "writer: get: %d", rc);
				n = i;
				goto out_put;
			}
			stamp(iobuf_buf(run->set, hs[i]), next + (uint64_t)i);
			if (sc->lossy && iobuf_setlen(run->set, hs[i], LEN_OF(next + (uint64_t)i)) != 0) {
				fail(run, "writer: setlen");
				n = i + 1;
				goto out_put;
			}
		}
		wd_enter(a->wd, "iobuf_ring_bcast");
		rc = iobuf_ring_bcast(run->ring, hs, n, 0);
		wd_leave(a->wd, rc);
		if (rc == -ETIMEDOUT)
			run->ring_full++;
		while (rc == -ETIMEDOUT) {
			if (give_up(run))
				goto out_put;
			wd_enter(a->wd, "iobuf_ring_bcast");
			rc = iobuf_ring_bcast(run->ring, hs, n, 50 * MS);
			wd_leave(a->wd, rc);
		}
		if (rc != 0) {
			fail(run, "writer: bcast %d: %d", n, rc);
			goto out_put;
		}
		next += (uint64_t)n;
		wd_seq(a->wd, next, next - (uint64_t)n);
		continue;
	out_put:
		/* Not broadcast: the buffers are still ours to put. */
		for (int i = 0; i < n; i++)
			iobuf_put(run->set, hs[i]);
		break;
	}
	atomic_store(&run->total, next);
	atomic_store(&run->writer_done, 1);
	return NULL;
}

/* Check entry @s as reader @me (mark word @mark; dependencies @deps): 0, or fail. */
static int check_entry(struct run *run, int id, int me, int mark, const int *deps, int ndeps, uint64_t s,
		       iobuf_handle_t *hout)
{
	iobuf_handle_t h;
	uint64_t *b;

	/* Half the readers copy the handle out, the others read it in place. */
	if (me & 1) {
		h = *(const iobuf_handle_t *)iobuf_ring_entry(run->ring, s);
	} else if (iobuf_ring_read(run->ring, id, s, &h) != 0) {
		fail(run, "reader %d: read %" PRIu64, me, s);
		return -1;
	}
	b = iobuf_buf(run->set, h);
	if (b == NULL) {
		fail(run, "reader %d: entry %" PRIu64 ": its buffer was already returned", me, s);
		return -1;
	}
	if (!stamp_ok(b, s)) {
		fail(run, "reader %d: entry %" PRIu64 ": stamp torn or wrong", me, s);
		return -1;
	}
	for (int d = 0; d < ndeps; d++) {
		if (b[MARK(deps[d])] != s) {
			fail(run, "reader %d: entry %" PRIu64 " before dependency %d marked it", me, s, deps[d]);
			return -1;
		}
	}
	b[mark] = s;
	*hout = h;
	return 0;
}

/* iobuf_ring_wait() under @a's watchdog, which then knows the entry it waits for (@expected). */
static int watched_wait(struct targ *a, int id, uint64_t expected, uint64_t *first, uint64_t *missed, int64_t timeout)
{
	int rc;

	wd_enter(a->wd, "iobuf_ring_wait");
	rc = iobuf_ring_wait(a->run->ring, id, first, missed, timeout);
	wd_leave(a->wd, rc);
	wd_seq(a->wd, expected, rc > 0 ? *first : expected);
	return rc;
}

/* iobuf_ring_release() under @a's watchdog. */
static int watched_release(struct targ *a, int id, uint64_t upto)
{
	int rc;

	wd_enter(a->wd, "iobuf_ring_release");
	rc = iobuf_ring_release(a->run->ring, id, upto);
	wd_leave(a->wd, rc);
	return rc;
}

static bool reader_finished(struct run *run, uint64_t pos)
{
	return atomic_load(&run->writer_done) && pos == atomic_load(&run->total);
}

static void *reader_main(void *arg)
{
	struct targ *a = arg;
	struct run *run = a->run;
	const struct bcase *sc = run->sc;
	const int me = a->idx, id = run->rid[me];
	iobuf_handle_t held[MAXBATCH * 4];
	uint64_t expected = 0, first, seed = a->seed;

	if (!th_pin(a->cpu))
		pin_failures++;
	atomic_store(&a->wd->reader, id);
	while (!reader_finished(run, expected)) {
		int rc, n;

		rc = watched_wait(a, id, expected, &first, NULL, 20 * MS);

		if (rc == -ETIMEDOUT) {
			if (give_up(run))
				break;
			continue;
		}
		if (rc <= 0 || first != expected) {
			fail(run, "reader %d: wait %d, first %" PRIu64 " expected %" PRIu64, me, rc, first, expected);
			break;
		}
		/* Consume a random part of what is there, at most what fits in held[]. */
		n = 1 + (int)(th_rand(&seed) % (uint64_t)rc);
		if (n > (int)(sizeof(held) / sizeof(held[0])))
			n = (int)(sizeof(held) / sizeof(held[0]));
		for (int k = 0; k < n; k++)
			if (check_entry(run, id, me, MARK(me), sc->deps[me], sc->ndeps[me], first + (uint64_t)k,
					&held[k]) != 0)
				goto out;
		/* Still ours after the work, just before the release. */
		for (int k = 0; k < n; k++) {
			if (iobuf_buf(run->set, held[k]) == NULL) {
				fail(run, "reader %d: entry %" PRIu64 " returned while held", me, first + (uint64_t)k);
				goto out;
			}
		}
		expected = first + (uint64_t)n;
		run->received[me] += (uint64_t)n;
		rc = watched_release(a, id, expected);
		wd_seq(a->wd, expected, first);
		if (rc != 0) {
			fail(run, "reader %d: release %" PRIu64 ": %d", me, expected, rc);
			break;
		}
	}
out:
	return NULL;
}

/* A lossy reader's held slice @sl of entry @s: the entry's own buffer, stamp and length. */
static bool held_ok(struct run *run, const struct iobuf_slice *sl, uint64_t s)
{
	const uint64_t *b = iobuf_slice_buf(run->set, sl);

	return b != NULL && sl->off == 0 && sl->len == LEN_OF(s) && stamp_ok(b, s);
}

static void *lossy_reader_main(void *arg)
{
	struct targ *a = arg;
	struct run *run = a->run;
	const int me = a->idx, id = run->rid[me];
	const bool slow = (run->sc->slow & (1u << me)) != 0;
	struct iobuf_slice held[HOLD_MAX];
	uint64_t expected = 0, first, missed, seed = a->seed;

	if (!th_pin(a->cpu))
		pin_failures++;
	atomic_store(&a->wd->reader, id);
	while (!reader_finished(run, expected)) {
		int rc, n, k;

		rc = watched_wait(a, id, expected, &first, &missed, 20 * MS);
		if (rc == -ETIMEDOUT) {
			if (give_up(run))
				break;
			continue;
		}
		if (rc == -EOVERFLOW) {
			/* Lapped: everything from where we were to the oldest entry still there is counted missed. */
			if (missed == 0 || first != expected + missed) {
				fail(run, "reader %d: lapped at %" PRIu64 ": missed %" PRIu64 ", now at %" PRIu64, me,
				     expected, missed, first);
				break;
			}
			run->missed[me] += missed;
			expected = first;
			continue;
		}
		if (rc <= 0 || first != expected) {
			fail(run, "reader %d: wait %d, first %" PRIu64 " expected %" PRIu64, me, rc, first, expected);
			break;
		}
		n = 1 + (int)(th_rand(&seed) % (uint64_t)rc);
		if (n > HOLD_MAX)
			n = HOLD_MAX;
		for (k = 0; k < n; k++) {
			uint64_t s = first + (uint64_t)k;

			wd_enter(a->wd, "iobuf_ring_bcast_read");
			rc = iobuf_ring_bcast_read(run->ring, id, s, &held[k]);
			wd_leave(a->wd, rc);
			if (rc == -EOVERFLOW) {
				run->refused[me]++;
				break; /* lapped before we held it: the next poll counts it */
			}
			if (rc != 0) {
				fail(run, "reader %d: bcast_read %" PRIu64 ": %d", me, s, rc);
				n = k;
				goto out_put;
			}
			if (!held_ok(run, &held[k], s)) {
				fail(run, "reader %d: entry %" PRIu64 ": holds a buffer that is not the entry's", me,
				     s);
				n = k + 1;
				goto out_put;
			}
		}
		n = k;
		if (slow && n > 0) {
			/* Hold them until the writer laps them (their entries dropped their holders) or stops. */
			uint64_t past = first + (uint64_t)n + run->sc->ring_cap;

			wd_enter(a->wd, "slow: waiting to be lapped");
			while (iobuf_ring_cursor(run->ring) < past && !atomic_load(&run->writer_done) && !give_up(run))
				sched_yield();
			wd_leave(a->wd, 0);
			if (iobuf_ring_cursor(run->ring) >= past)
				atomic_fetch_add(&run->held_laps[me], 1);
		}
		for (k = 0; k < n; k++) {
			if (!held_ok(run, &held[k], first + (uint64_t)k)) {
				fail(run, "reader %d: entry %" PRIu64 ": its buffer changed while held", me,
				     first + (uint64_t)k);
				goto out_put;
			}
		}
		for (k = 0; k < n; k++) {
			rc = iobuf_slice_put(run->set, &held[k]);
			if (rc != 0) {
				fail(run, "reader %d: put of entry %" PRIu64 ": %d", me, first + (uint64_t)k, rc);
				n = 0; /* the rest were put or refused: do not put again */
				goto out_put;
			}
		}
		run->received[me] += (uint64_t)n;
		expected = first + (uint64_t)n;
		rc = watched_release(a, id, expected);
		if (rc != 0) {
			fail(run, "reader %d: release %" PRIu64 ": %d", me, expected, rc);
			break;
		}
		continue;
	out_put:
		for (k = 0; k < n; k++)
			if (held[k].h != IOBUF_HANDLE_NONE)
				iobuf_slice_put(run->set, &held[k]);
		break;
	}
	return NULL;
}

/* Join (half the time behind reader 0), check a stretch of entries, leave -- often holding some. */
static void *churn_main(void *arg)
{
	struct targ *a = arg;
	struct run *run = a->run;
	const struct bcase *sc = run->sc;
	const int mark = MARK(sc->nreaders + a->idx);
	uint64_t seed = a->seed;

	if (!th_pin(a->cpu))
		pin_failures++;
	while (!atomic_load(&run->writer_done) && !atomic_load(&run->failed)) {
		int dep_fixed = 0, dependent = (int)(th_rand(&seed) % 2), id;
		uint64_t want = 1 + th_rand(&seed) % (3 * sc->ring_cap), got = 0, first, expected = 0;
		bool started = false;
		int rc;

		wd_enter(a->wd, "iobuf_ring_reader_add");
		id = iobuf_ring_reader_add(run->ring, dependent ? &run->rid[0] : NULL, dependent);
		wd_leave(a->wd, id);
		atomic_store(&a->wd->reader, id);
		if (id < 0) {
			fail(run, "churn: reader_add: %d", id);
			break;
		}
		atomic_fetch_add(&run->joins, 1);
		while (got < want && !atomic_load(&run->writer_done) && !give_up(run)) {
			iobuf_handle_t h;

			rc = watched_wait(a, id, expected, &first, NULL, 5 * MS);
			if (rc == -ETIMEDOUT)
				continue;
			if (rc <= 0 || (started && first != expected)) {
				fail(run, "churn: wait %d first %" PRIu64 " expected %" PRIu64, rc, first, expected);
				goto out;
			}
			started = true;
			for (int k = 0; k < rc; k++)
				if (check_entry(run, id, 2, mark, &dep_fixed, dependent, first + (uint64_t)k, &h) != 0)
					goto out;
			sched_yield(); /* hold them a moment: nobody may return them meanwhile */
			for (int k = 0; k < rc; k++) {
				h = *(const iobuf_handle_t *)iobuf_ring_entry(run->ring, first + (uint64_t)k);
				if (iobuf_buf(run->set, h) == NULL ||
				    !stamp_ok(iobuf_buf(run->set, h), first + (uint64_t)k)) {
					fail(run, "churn: entry %" PRIu64 " returned while held", first + (uint64_t)k);
					goto out;
				}
			}
			got += (uint64_t)rc;
			atomic_fetch_add(&run->churn_seen, (uint64_t)rc);
			/* Leave without releasing, now and then: leaving releases what it held. */
			if (got >= want && th_rand(&seed) % 2)
				break;
			expected = first + (uint64_t)rc;
			rc = watched_release(a, id, expected);
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
			fail(run, "churn: remove: %d", rc);
			break;
		}
	}
out:
	return NULL;
}

static bool run_case(int num, const struct bcase *sc, double seconds, double watchdog)
{
	struct iobuf_set_config scfg = {.capacity = {0}};
	struct iobuf_ring_config cfg = {
	    .capacity = sc->ring_cap,
	    .entry_size = sizeof(iobuf_handle_t),
	    .mode = sc->lossy ? IOBUF_RING_LOSSY : IOBUF_RING_LOSSLESS,
	    .max_readers = sc->nreaders + sc->churn,
	    .wait = sc->wait,
	    .spins = 256,
	};
	struct iobuf_set_stats st;
	struct run run;
	struct targ args[1 + MAXR + 2];
	void *(*fn[1 + MAXR + 2])(void *);
	pthread_t th[1 + MAXR + 2];
	int nth = 0, err = 0;
	uint64_t total, cursor, reclaimed;
	bool ok;
	int64_t t0;

	memset(&run, 0, sizeof(run));
	pthread_mutex_init(&run.why_lock, NULL);
	run.sc = sc;
	scfg.capacity[TIER] = sc->pool_cap;
	run.set = iobuf_set_create(&scfg, &err);
	if (run.set)
		run.ring = iobuf_ring_create_bcast(&cfg, run.set, &err);
	if (run.ring == NULL) {
		printf("not ok %d - %s # create: %s\n", num, sc->name, strerror(-err));
		iobuf_set_destroy(run.set);
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
			iobuf_set_destroy(run.set);
			return false;
		}
	}
	t0 = (int64_t)th_now_ns();
	run.t_end = t0 + (int64_t)(seconds * 1e9);
	wd_init(&run.wd, run.ring, num, sc->name, (uint64_t)run.t_end, (uint64_t)run.t_end + (uint64_t)(watchdog * 1e9),
		wd_fire, &run);
	/* The writer on the first CPU, readers round-robin from the second; every record before the watchdog starts. */
	args[nth] = (struct targ){.run = &run, .idx = -1, .cpu = 0, .seed = 1, .wd = wd_add(&run.wd, "writer", 0)};
	fn[nth++] = writer_main;
	for (int i = 0; i < sc->nreaders; i++) {
		args[nth] = (struct targ){.run = &run,
					  .idx = i,
					  .cpu = 1 + i,
					  .seed = 100u + (unsigned)i,
					  .wd = wd_add(&run.wd, "reader", i)};
		fn[nth++] = sc->lossy ? lossy_reader_main : reader_main;
	}
	for (int i = 0; i < sc->churn; i++) {
		args[nth] = (struct targ){
		    .run = &run, .idx = i, .cpu = i, .seed = 200u + (unsigned)i, .wd = wd_add(&run.wd, "churn", i)};
		fn[nth++] = churn_main;
	}
	wd_start(&run.wd);
	for (int i = 0; i < nth; i++)
		pthread_create(&th[i], NULL, fn[i], &args[i]);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	wd_stop(&run.wd);

	/* Every reader is done: before destroy, nothing may be left to retire. */
	ok = !atomic_load(&run.failed);
	total = atomic_load(&run.total);
	cursor = iobuf_ring_cursor(run.ring);
	reclaimed = iobuf_ring_reclaimed(run.ring);
	iobuf_set_stats(run.set, &st);
	for (int i = 0; ok && i < sc->nreaders; i++) {
		if (run.received[i] + run.missed[i] != total) {
			snprintf(run.why, sizeof(run.why),
				 "reader %d: received %" PRIu64 " + missed %" PRIu64 " of %" PRIu64, i, run.received[i],
				 run.missed[i], total);
			ok = false;
		}
	}
	if (ok && sc->lossy) {
		/* The writer's laps took back all but the last lap; the ring's entries alone hold buffers. */
		uint64_t in_ring = total < sc->ring_cap ? total : sc->ring_cap;

		if (cursor != total || reclaimed != total - in_ring || st.tier[TIER].in_use != in_ring) {
			snprintf(run.why, sizeof(run.why),
				 "lossy: cursor %" PRIu64 ", reclaimed %" PRIu64 ", in_use %" PRIu32 " of %" PRIu64
				 " broadcast, every reader done",
				 cursor, reclaimed, st.tier[TIER].in_use, total);
			ok = false;
		}
		if (ok && !slow_lapped(&run)) {
			snprintf(run.why, sizeof(run.why), "a slow reader was never lapped while holding");
			ok = false;
		}
	} else if (ok && (cursor != total || reclaimed != cursor)) {
		snprintf(run.why, sizeof(run.why),
			 "stranded: cursor %" PRIu64 ", reclaimed %" PRIu64 " with every reader done", cursor,
			 reclaimed);
		ok = false;
	}
	if (ok && !sc->lossy && st.tier[TIER].in_use != 0) {
		snprintf(run.why, sizeof(run.why), "%" PRIu32 " buffers still out with every reader done",
			 st.tier[TIER].in_use);
		ok = false;
	}
	if (ok && sc->churn && atomic_load(&run.joins) == 0) {
		snprintf(run.why, sizeof(run.why), "no reader joined");
		ok = false;
	}
	iobuf_ring_destroy(run.ring);
	/* Destroy had nothing to put back; no put was ever refused; every get was put once. */
	iobuf_set_stats(run.set, &st);
	if (ok &&
	    (st.tier[TIER].in_use != 0 || st.tier[TIER].refused_invalid || st.tier[TIER].refused_already ||
	     st.tier[TIER].refused_stale || st.tier[TIER].gets != st.tier[TIER].puts || st.tier[TIER].gets != total)) {
		snprintf(run.why, sizeof(run.why),
			 "pool: in_use %" PRIu32 ", refused %" PRIu64 "/%" PRIu64 "/%" PRIu64 ", gets %" PRIu64
			 ", puts %" PRIu64 ", broadcast %" PRIu64,
			 st.tier[TIER].in_use, st.tier[TIER].refused_invalid, st.tier[TIER].refused_already,
			 st.tier[TIER].refused_stale, st.tier[TIER].gets, st.tier[TIER].puts, total);
		ok = false;
	}
	printf("# %s: %" PRIu64 " buffers broadcast in %.2f s, %" PRIu64 " puts, %" PRIu64
	       " refused; the writer found the ring full %" PRIu64 " times, the pool empty %" PRIu64 " times",
	       sc->name, total, (double)((int64_t)th_now_ns() - t0) / 1e9, st.tier[TIER].puts,
	       st.tier[TIER].refused_invalid + st.tier[TIER].refused_already + st.tier[TIER].refused_stale,
	       run.ring_full, st.tier[TIER].empty_gets);
	if (sc->churn)
		printf("; %" PRIu64 " joins saw %" PRIu64 " entries", (uint64_t)atomic_load(&run.joins),
		       (uint64_t)atomic_load(&run.churn_seen));
	for (int i = 0; sc->lossy && i < sc->nreaders; i++)
		printf("; reader %d%s: %" PRIu64 " held, %" PRIu64 " missed, %" PRIu64 " reads refused, lapped %" PRIu64
		       " times holding",
		       i, sc->slow & (1u << i) ? " (slow)" : "", run.received[i], run.missed[i], run.refused[i],
		       (uint64_t)atomic_load(&run.held_laps[i]));
	printf("\n");
	if (ok)
		printf("ok %d - %s\n", num, sc->name);
	else
		printf("not ok %d - %s # %s\n", num, sc->name, run.why);
	fflush(stdout);
	iobuf_set_destroy(run.set);
	pthread_mutex_destroy(&run.why_lock);
	return ok;
}

int main(int argc, char **argv)
{
	double seconds = 0.3, watchdog = 30;
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
