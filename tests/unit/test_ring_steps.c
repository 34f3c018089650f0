/* SPDX-License-Identifier: MIT */
/*
 * test_ring_steps.c - the ring's waits replayed step by step.
 *
 * ring.c is built into this test again with its step hooks
 * (-DIOBUF_RING_STEPS, src/ring.h): a reader waiting with IOBUF_RING_BLOCK
 * stops where the test says, the test acts from its own thread, lets the
 * reader go on, and so replays one interleaving exactly, with no timing.
 *
 * The interleavings are the ones where iobuf_ring_reader_set_deps() lands
 * while a reader enters its sleep: after it chose its futex word ("pub",
 * for the cursor, without dependencies; "rel", for a release, with them)
 * and before its re-check.  The re-check sees the new dependencies; the
 * reader must then sleep on the word that those need, or a wake-up is
 * lost: with dependencies added, the reader sleeps on "pub" while the
 * release it waits for wakes only "rel" (and the writer, gated on it,
 * waits too); with dependencies removed, it sleeps on "rel" while the
 * publish wakes only "pub".  Then each waker, acting only once its sleeper
 * is known to be going to sleep: a publish wakes a reader, a release its
 * dependent and the writer, a leave the writer, set_deps a reader it made
 * ready.  Each test waits for the sleeper to return, bounded by a
 * watchdog: a lost wake-up fails the test instead of hanging it (and is
 * then undone, so the test still cleans up).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <cmocka.h>

#include <iobuf/ring.h>

#include "ring.h"

/* How long a step may take before the test calls it lost (it takes microseconds). */
#define WATCHDOG_S 10

/* ---- the script: one reader stopped at its first word choice ----------------------------- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int reader;		     /* the waiter the script follows */
	int words;		     /* its STEP_WORD count */
	int sleeps;		     /* its STEP_SLEEP count */
	enum iobuf__ring_word first; /* the word of its first STEP_WORD */
	enum iobuf__ring_word slept; /* the word of its last STEP_SLEEP */
	bool go;		     /* the test let it past its first STEP_WORD */
	int done;		     /* its iobuf_ring_wait() returned */
} S;

static void step_hook(struct iobuf_ring *ring, int reader, enum iobuf__ring_step step, enum iobuf__ring_word word)
{
	(void)ring;
	pthread_mutex_lock(&S.lock);
	if (reader == S.reader) {
		if (step == IOBUF__RING_STEP_WORD && S.words++ == 0) {
			S.first = word;
			pthread_cond_broadcast(&S.cond);
			while (!S.go)
				pthread_cond_wait(&S.cond, &S.lock);
		} else if (step == IOBUF__RING_STEP_SLEEP) {
			S.sleeps++;
			S.slept = word;
			pthread_cond_broadcast(&S.cond);
		}
	}
	pthread_mutex_unlock(&S.lock);
}

/* Follow @reader; @stop: hold it at its first word choice until let_go(). */
static void script_start(int reader, bool stop)
{
	pthread_condattr_t a;

	pthread_mutex_init(&S.lock, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&S.cond, &a);
	pthread_condattr_destroy(&a);
	S.reader = reader;
	S.words = S.sleeps = 0;
	S.go = !stop;
	S.done = 0;
	iobuf__ring_step_hook = step_hook;
}

static void script_end(void)
{
	iobuf__ring_step_hook = NULL;
	pthread_cond_destroy(&S.cond);
	pthread_mutex_destroy(&S.lock);
}

/* Wait until *@what (a counter of S) >= @n, bounded by the watchdog.  Lock not held. */
static bool await(const int *what, int n)
{
	struct timespec dl;
	bool ok = true;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += WATCHDOG_S;
	pthread_mutex_lock(&S.lock);
	while (*what < n && ok)
		ok = pthread_cond_timedwait(&S.cond, &S.lock, &dl) == 0 || *what >= n;
	pthread_mutex_unlock(&S.lock);
	return ok;
}

static void let_go(void)
{
	pthread_mutex_lock(&S.lock);
	S.go = true;
	pthread_cond_broadcast(&S.cond);
	pthread_mutex_unlock(&S.lock);
}

/* ---- the waiting reader ------------------------------------------------------------------ */

struct waiter {
	struct iobuf_ring *ring;
	int reader; /* -1: the writer, claiming one entry */
	uint64_t first;
	int rc;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	if (w->reader < 0)
		w->rc = iobuf_ring_claim(w->ring, 1, &w->first, IOBUF_RING_FOREVER);
	else
		w->rc = iobuf_ring_wait(w->ring, w->reader, &w->first, NULL, IOBUF_RING_FOREVER);
	pthread_mutex_lock(&S.lock);
	S.done = 1;
	pthread_cond_broadcast(&S.cond);
	pthread_mutex_unlock(&S.lock);
	return NULL;
}

static void hook_count(void *ctx, uint64_t seq, void *entry)
{
	(void)seq;
	(void)entry;
	++*(int *)ctx;
}

/* A blocking lossless ring; with @retired, one whose hook counts retired entries there. */
static struct iobuf_ring *mk_hook(uint32_t cap, int readers, int *retired)
{
	struct iobuf_ring_config c = {.capacity = cap,
				      .entry_size = 8,
				      .mode = IOBUF_RING_LOSSLESS,
				      .max_readers = readers,
				      .wait = IOBUF_RING_BLOCK,
				      .spins = 1,
				      .on_retire = retired ? hook_count : NULL,
				      .retire_ctx = retired};
	int err = 1;
	struct iobuf_ring *r = iobuf_ring_create(&c, &err);

	assert_non_null(r);
	assert_int_equal(err, 0);
	return r;
}

static struct iobuf_ring *mk(uint32_t cap, int readers)
{
	return mk_hook(cap, readers, NULL);
}

static void publish_one(struct iobuf_ring *r, uint64_t want)
{
	uint64_t s, v = 42;

	assert_int_equal(iobuf_ring_try_claim(r, 1, &s), 0);
	assert_int_equal(s, want);
	assert_int_equal(iobuf_ring_write(r, s, &v), 0);
	assert_int_equal(iobuf_ring_publish(r, s, 1), 0);
}

/* What undoes a lost wake-up, so that the test can clean up: a call that wakes the reader's word. */
struct kick {
	struct iobuf_ring *ring;
	int reader;
	const int *deps; /* set_deps(reader, deps, ndeps), which wakes both words ... */
	int ndeps;
	int releaser; /* ... or, when >= 0, this reader's release, which wakes "rel" */
};

static void kick(const struct kick *k)
{
	uint64_t first;
	int n;

	if (k->releaser < 0) {
		(void)iobuf_ring_reader_set_deps(k->ring, k->reader, k->deps, k->ndeps);
		return;
	}
	n = iobuf_ring_poll(k->ring, k->releaser, &first, NULL);
	if (n > 0)
		(void)iobuf_ring_release(k->ring, k->releaser, first + (uint64_t)n);
}

/*
 * The reader's wait returned, or (a lost wake-up) the watchdog fired: then
 * the kick wakes it, so that its thread can be joined and the ring freed,
 * and the test fails saying what was lost.
 */
static void finish(pthread_t t, const struct kick *k, const char *lost)
{
	bool woken = await(&S.done, 1);

	if (!woken) {
		kick(k);
		(void)await(&S.done, 1);
	}
	pthread_join(t, NULL);
	if (!woken) {
		script_end();
		iobuf_ring_destroy(k->ring);
		fail_msg("%s", lost);
	}
}

/* ---- dependencies added while the reader enters its sleep ------------------------------ */

static void test_deps_added_while_entering_sleep(void **state)
{
	struct iobuf_ring *r = mk(1, 2);
	int a = iobuf_ring_reader_add(r, NULL, 0), d = iobuf_ring_reader_add(r, NULL, 0), deps[1] = {a};
	struct waiter w = {.ring = r, .reader = d};
	struct kick k = {.ring = r, .reader = d, .deps = deps, .ndeps = 1, .releaser = -1};
	uint64_t first, s;
	pthread_t t;

	(void)state;
	assert_true(a >= 0 && d >= 0);
	script_start(d, true);
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	/* D, without dependencies, chose the publish word and stopped there. */
	assert_true(await(&S.words, 1));
	assert_int_equal(S.first, IOBUF__RING_WORD_PUB);
	/* Now D depends on A, and the writer publishes the one entry the ring holds. */
	assert_int_equal(iobuf_ring_reader_set_deps(r, d, deps, 1), 0);
	publish_one(r, 0);
	let_go();
	/* D's re-check sees A has not released entry 0: D goes to sleep. */
	assert_true(await(&S.sleeps, 1));
	/* A releases entry 0: D may read it now, and must be woken for it. */
	assert_int_equal(iobuf_ring_poll(r, a, &first, NULL), 1);
	assert_int_equal(iobuf_ring_release(r, a, 1), 0);
	finish(t, &k, "lost wake-up: the dependent reader slept on the publish word through the release");
	assert_int_equal(S.slept, IOBUF__RING_WORD_REL);
	assert_int_equal(w.rc, 1);
	assert_int_equal(w.first, 0);
	/* The writer was gated on D: D's release frees the slot. */
	assert_int_equal(iobuf_ring_try_claim(r, 1, &s), -EAGAIN);
	assert_int_equal(iobuf_ring_release(r, d, 1), 0);
	assert_int_equal(iobuf_ring_try_claim(r, 1, &s), 0);
	assert_int_equal(s, 1);
	script_end();
	iobuf_ring_destroy(r);
}

/* ---- dependencies removed while the reader enters its sleep ---------------------------- */

static void test_deps_removed_while_entering_sleep(void **state)
{
	struct iobuf_ring *r = mk(2, 2);
	int a = iobuf_ring_reader_add(r, NULL, 0), deps[1] = {a}, d = iobuf_ring_reader_add(r, deps, 1);
	struct waiter w = {.ring = r, .reader = d};
	struct kick k = {.ring = r, .reader = d, .deps = NULL, .ndeps = 0, .releaser = -1};
	pthread_t t;

	(void)state;
	assert_true(a >= 0 && d >= 0);
	script_start(d, true);
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	/* D, dependent on A, chose the release word and stopped there. */
	assert_true(await(&S.words, 1));
	assert_int_equal(S.first, IOBUF__RING_WORD_REL);
	/* D depends on nobody now: it waits for the cursor alone. */
	assert_int_equal(iobuf_ring_reader_set_deps(r, d, NULL, 0), 0);
	let_go();
	assert_true(await(&S.sleeps, 1));
	/* The writer publishes; A, which never reads, releases nothing: only the publish can wake D. */
	publish_one(r, 0);
	finish(t, &k, "lost wake-up: the reader without dependencies slept on the release word through the publish");
	assert_int_equal(S.slept, IOBUF__RING_WORD_PUB);
	assert_int_equal(w.rc, 1);
	assert_int_equal(w.first, 0);
	assert_int_equal(iobuf_ring_lag(r, a), 1);
	script_end();
	iobuf_ring_destroy(r);
}

/* ---- dependencies removed while the reader sleeps ------------------------------------ */

/*
 * The reader sleeps on the release word for an entry that is published but
 * not yet released by its dependency; set_deps drops the dependency.  No
 * publish and no release follows: only set_deps itself can wake it.
 */
static void test_deps_removed_while_asleep(void **state)
{
	struct iobuf_ring *r = mk(2, 2);
	int a = iobuf_ring_reader_add(r, NULL, 0), deps[1] = {a}, d = iobuf_ring_reader_add(r, deps, 1);
	struct waiter w = {.ring = r, .reader = d};
	struct kick k = {.ring = r, .reader = d, .releaser = a};
	pthread_t t;

	(void)state;
	assert_true(a >= 0 && d >= 0);
	publish_one(r, 0);
	script_start(d, false);
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	assert_true(await(&S.sleeps, 1));
	assert_int_equal(S.slept, IOBUF__RING_WORD_REL);
	assert_int_equal(iobuf_ring_reader_set_deps(r, d, NULL, 0), 0);
	finish(t, &k, "lost wake-up: set_deps did not wake the reader it made ready");
	assert_int_equal(w.rc, 1);
	assert_int_equal(w.first, 0);
	assert_int_equal(iobuf_ring_lag(r, a), 1); /* a never released: set_deps alone woke it */
	script_end();
	iobuf_ring_destroy(r);
}

/* ---- each waker wakes the sleeper it must ----------------------------------------------- */

/*
 * @who (a reader, or -1 for the writer's claim) goes to sleep on @word;
 * only then does @act make it ready.  Its wait must return @rc (and, for a
 * reader, the entry at @first).  @k undoes a lost wake-up.
 */
static void woken_by(struct iobuf_ring *r, int who, enum iobuf__ring_word word, void (*act)(struct iobuf_ring *, int),
		     int arg, int rc, uint64_t first, const struct kick *k, const char *lost)
{
	struct waiter w = {.ring = r, .reader = who};
	pthread_t t;

	script_start(who, false);
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	assert_true(await(&S.sleeps, 1));
	assert_int_equal(S.slept, word);
	act(r, arg);
	finish(t, k, lost);
	assert_int_equal(w.rc, rc);
	assert_int_equal(w.first, first);
	script_end();
}

static void act_publish(struct iobuf_ring *r, int want)
{
	publish_one(r, (uint64_t)want);
}

static void act_release(struct iobuf_ring *r, int reader)
{
	uint64_t first;
	int n = iobuf_ring_poll(r, reader, &first, NULL);

	assert_true(n > 0);
	assert_int_equal(iobuf_ring_release(r, reader, first + (uint64_t)n), 0);
}

static void act_remove(struct iobuf_ring *r, int reader)
{
	assert_int_equal(iobuf_ring_reader_remove(r, reader), 0);
}

static void test_sleepers_woken(void **state)
{
	int retired = 0, a, b, d, deps[1];
	struct iobuf_ring *r = mk(1, 3);
	struct kick k = {.ring = r, .releaser = -1};

	(void)state;
	a = iobuf_ring_reader_add(r, NULL, 0);
	deps[0] = a;
	d = iobuf_ring_reader_add(r, deps, 1);
	b = iobuf_ring_reader_add(r, NULL, 0);
	k.reader = b; /* set_deps(b, none) wakes both words */
	/* A reader asleep on the cursor: the publish wakes it (D1). */
	woken_by(r, a, IOBUF__RING_WORD_PUB, act_publish, 0, 1, 0, &k, "a publish did not wake its reader");
	/* Its dependent, asleep on the release word: a's release wakes it (D2). */
	woken_by(r, d, IOBUF__RING_WORD_REL, act_release, a, 1, 0, &k, "a release did not wake its dependent");
	act_release(r, d);
	/* The writer, asleep on the full ring: the last reader's release wakes it (D2). */
	woken_by(r, -1, IOBUF__RING_WORD_REL, act_release, b, 0, 1, &k, "a release did not wake the writer");
	assert_int_equal(iobuf_ring_publish(r, 1, 1), 0);
	/* Again, and the reader it waits for leaves instead. */
	act_release(r, a);
	act_release(r, d);
	assert_int_equal(iobuf_ring_reader_remove(r, d), 0);
	k.reader = a;
	woken_by(r, -1, IOBUF__RING_WORD_REL, act_remove, b, 0, 2, &k, "a reader's leave did not wake the writer");
	iobuf_ring_destroy(r);

	/*
	 * A retiring ring: the writer waits for the hook to retire the entry;
	 * the last release wakes it (D2, or D5 when another thread holds the
	 * reclaim word), and its claim returns only once the hook ran (A7).
	 */
	r = mk_hook(1, 2, &retired);
	k.ring = r;
	k.reader = b = iobuf_ring_reader_add(r, NULL, 0);
	a = iobuf_ring_reader_add(r, NULL, 0);
	publish_one(r, 0);
	act_release(r, b);
	assert_int_equal(retired, 0);
	woken_by(r, -1, IOBUF__RING_WORD_REL, act_release, a, 0, 1, &k, "the retirement did not wake the writer");
	assert_int_equal(retired, 1);
	iobuf_ring_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deps_added_while_entering_sleep),
	    cmocka_unit_test(test_deps_removed_while_entering_sleep),
	    cmocka_unit_test(test_deps_removed_while_asleep),
	    cmocka_unit_test(test_sleepers_woken),
	};

	return cmocka_run_group_tests_name("ring_steps", tests, NULL, NULL);
}
