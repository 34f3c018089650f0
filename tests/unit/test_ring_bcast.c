/* SPDX-License-Identifier: MIT */
/*
 * test_ring_bcast.c - retiring rings and the broadcast of pooled buffers:
 * the on_retire hook (exactly once, in order, only after every reader
 * released the entry), bcast rings bound to an iobuf_set (each buffer back
 * in its pool exactly once: in_use counts, and a second put of the same
 * handle refused with -EALREADY), readers that depend, join and leave,
 * destroy, every error path; lossy rings: the hook at each lap, readers
 * that hold what they read (iobuf_ring_bcast_read()) across the lap, and
 * readers lapped before they held.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* Alone: it brings the ring's and the sets' declarations (iobuf_ring_create_bcast(3)). */
#include <iobuf/ring_bcast.h>

/* ---- fault injection: the ring's allocations (-Wl,--wrap); pools use posix_memalign ---- */

void *__real_aligned_alloc(size_t align, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);

static int fail_alloc_at; /* 0: never; k: the k-th allocation from now fails */

void *__wrap_aligned_alloc(size_t align, size_t size)
{
	if (fail_alloc_at && --fail_alloc_at == 0) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_aligned_alloc(align, size);
}

#define MS (1000 * 1000LL)
#define TIER IOBUF_TIER_NANO /* 64-byte buffers */
#define NBUF 32

static struct iobuf_ring_config cfg_of(uint32_t cap, int readers, enum iobuf_ring_wait wait)
{
	struct iobuf_ring_config c = {.capacity = cap,
				      .entry_size = sizeof(iobuf_handle_t),
				      .mode = IOBUF_RING_LOSSLESS,
				      .max_readers = readers,
				      .wait = wait,
				      .spins = 16};

	return c;
}

static struct iobuf_set *mkset_tier(int tier)
{
	struct iobuf_set_config c = {.capacity = {0}};
	struct iobuf_set *set;
	int err;

	c.capacity[tier] = NBUF;
	set = iobuf_set_create(&c, &err); /* leaves err alone on success */
	assert_non_null(set);
	return set;
}

static struct iobuf_set *mkset(void)
{
	return mkset_tier(TIER);
}

static struct iobuf_ring *mkbcast(struct iobuf_set *set, uint32_t cap, int readers, enum iobuf_ring_wait wait)
{
	struct iobuf_ring_config c = cfg_of(cap, readers, wait);
	int err = 1;
	struct iobuf_ring *r = iobuf_ring_create_bcast(&c, set, &err);

	assert_non_null(r);
	assert_int_equal(err, 0);
	return r;
}

static uint32_t in_use(const struct iobuf_set *set)
{
	struct iobuf_set_stats st;

	assert_int_equal(iobuf_set_stats(set, &st), 0);
	assert_int_equal(st.tier[TIER].free + st.tier[TIER].cached + st.tier[TIER].in_use, NBUF);
	return st.tier[TIER].in_use;
}

/* Puts refused so far (a double put by the ring would show here). */
static uint64_t refusals(const struct iobuf_set *set)
{
	struct iobuf_set_stats st;

	assert_int_equal(iobuf_set_stats(set, &st), 0);
	return st.tier[TIER].refused_invalid + st.tier[TIER].refused_already + st.tier[TIER].refused_stale;
}

/* Take @n buffers and stamp each with its index in @hs. */
static void take(struct iobuf_set *set, iobuf_handle_t *hs, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t *b;

		assert_int_equal(iobuf_get(set, 64, &hs[i]), 0);
		b = iobuf_buf(set, hs[i]);
		assert_non_null(b);
		b[0] = 0xB0000000u + (uint64_t)i;
	}
}

/* The ring put @h back: a second put is refused as a double put (and counted, so undo the count in the caller). */
static void assert_returned(struct iobuf_set *set, iobuf_handle_t h)
{
	assert_null(iobuf_buf(set, h));
	assert_int_equal(iobuf_put(set, h), -EALREADY);
}

/* @h is still out: live, stamped. */
static void assert_held(struct iobuf_set *set, iobuf_handle_t h, int i)
{
	const uint64_t *b = iobuf_buf(set, h);

	assert_non_null(b);
	assert_int_equal(b[0], 0xB0000000u + (uint64_t)i);
}

/* Poll @rd and check it sees handles hs[first-base ...]; returns the count. */
static int poll_check(struct iobuf_ring *r, int rd, struct iobuf_set *set, const iobuf_handle_t *hs, uint64_t base)
{
	uint64_t first;
	int n = iobuf_ring_poll(r, rd, &first, NULL);

	assert_true(n >= 0);
	for (int k = 0; k < n; k++) {
		iobuf_handle_t h;
		uint64_t s = first + (uint64_t)k;

		assert_int_equal(iobuf_ring_read(r, rd, s, &h), 0);
		assert_int_equal(h, hs[s - base]);
		assert_int_equal(*(const iobuf_handle_t *)iobuf_ring_entry(r, s), h);
		assert_held(set, h, (int)(s - base));
	}
	return n;
}

/* ---- create ------------------------------------------------------------------------ */

static void hook_count(void *ctx, uint64_t seq, void *entry)
{
	(void)seq;
	(void)entry;
	++*(int *)ctx;
}

static void test_create_errors(void **state)
{
	struct iobuf_set *set = mkset();
	struct iobuf_ring_config c;
	struct iobuf_ring *r;
	int err, n = 0;

	(void)state;
	c = cfg_of(8, 2, IOBUF_RING_SPIN);
	err = 0;
	assert_null(iobuf_ring_create_bcast(NULL, set, &err));
	assert_int_equal(err, -EINVAL);
	err = 0;
	assert_null(iobuf_ring_create_bcast(&c, NULL, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(iobuf_ring_create_bcast(&c, NULL, NULL)); /* err is optional */

#define BAD(mutation)                                                                                                  \
	do {                                                                                                           \
		c = cfg_of(8, 2, IOBUF_RING_SPIN);                                                                     \
		mutation;                                                                                              \
		err = 0;                                                                                               \
		assert_null(iobuf_ring_create_bcast(&c, set, &err));                                                   \
		assert_int_equal(err, -EINVAL);                                                                        \
	} while (0)
	BAD(c.entry_size = 16);
	BAD(c.entry_size = 4);
	BAD(c.mode = (enum iobuf_ring_mode)7);
	BAD(c.on_retire = hook_count);
	BAD(c.retire_ctx = &n);
	BAD(c.capacity = 3);
	BAD(c.max_readers = 0);
	BAD(c.wait = (enum iobuf_ring_wait)9);
#undef BAD

	/* A generic hook on either mode, a lossy bcast ring; but no context without a hook. */
	c = cfg_of(8, 2, IOBUF_RING_SPIN);
	c.mode = IOBUF_RING_LOSSY;
	c.on_retire = hook_count;
	err = 1;
	r = iobuf_ring_create(&c, &err);
	assert_non_null(r);
	assert_int_equal(err, 0);
	iobuf_ring_destroy(r);
	c = cfg_of(8, 2, IOBUF_RING_SPIN);
	c.mode = IOBUF_RING_LOSSY;
	err = 1;
	r = iobuf_ring_create_bcast(&c, set, &err);
	assert_non_null(r);
	assert_int_equal(err, 0);
	iobuf_ring_destroy(r);
	c = cfg_of(8, 2, IOBUF_RING_SPIN);
	c.mode = IOBUF_RING_LOSSY;
	c.retire_ctx = &n;
	assert_null(iobuf_ring_create(&c, &err));
	assert_int_equal(err, -EINVAL);
	c = cfg_of(8, 2, IOBUF_RING_SPIN);
	c.retire_ctx = &n;
	assert_null(iobuf_ring_create(&c, &err));
	assert_int_equal(err, -EINVAL);

	/* Out of memory: the header, then the slots; nothing leaks, the set is untouched. */
	c = cfg_of(8, 2, IOBUF_RING_SPIN);
	for (int k = 1; k <= 2; k++) {
		fail_alloc_at = k;
		err = 0;
		assert_null(iobuf_ring_create_bcast(&c, set, &err));
		assert_int_equal(err, -ENOMEM);
		fail_alloc_at = 0;
	}
	assert_int_equal(in_use(set), 0);

	r = iobuf_ring_create_bcast(&c, set, &err);
	assert_non_null(r);
	assert_int_equal(err, 0);
	assert_int_equal(iobuf_ring_reclaimed(r), 0);
	assert_int_equal(iobuf_ring_cursor(r), 0);
	iobuf_ring_destroy(r);
	assert_int_equal(refusals(set), 0);
	iobuf_set_destroy(set);
}

/* ---- the generic hook --------------------------------------------------------------- */

struct log {
	uint64_t seq[64];
	uint64_t val[64];
	int n;
};

static void hook_log(void *ctx, uint64_t seq, void *entry)
{
	struct log *l = ctx;

	assert_true(l->n < 64);
	l->seq[l->n] = seq;
	memcpy(&l->val[l->n], entry, 8);
	l->n++;
}

static void put_vals(struct iobuf_ring *r, uint64_t from, int n)
{
	uint64_t s;

	assert_int_equal(iobuf_ring_try_claim(r, n, &s), 0);
	assert_int_equal(s, from);
	for (int i = 0; i < n; i++) {
		uint64_t v = 1000 + s + (uint64_t)i;

		assert_int_equal(iobuf_ring_write(r, s + (uint64_t)i, &v), 0);
	}
	assert_int_equal(iobuf_ring_publish(r, s, n), 0);
}

/* Every entry below @upto was retired once, in order, with its own value. */
static void assert_log(const struct log *l, uint64_t upto)
{
	assert_int_equal(l->n, upto);
	for (int i = 0; i < l->n; i++) {
		assert_int_equal(l->seq[i], (uint64_t)i);
		assert_int_equal(l->val[i], 1000 + (uint64_t)i);
	}
}

static void test_hook_exactly_once_in_order(void **state)
{
	struct iobuf_ring_config c = cfg_of(4, 3, IOBUF_RING_SPIN);
	struct log l = {.n = 0};
	struct iobuf_ring *r;
	uint64_t first, s;
	int a, b, err;

	(void)state;
	c.on_retire = hook_log;
	c.retire_ctx = &l;
	r = iobuf_ring_create(&c, &err);
	assert_non_null(r);
	a = iobuf_ring_reader_add(r, NULL, 0);
	b = iobuf_ring_reader_add(r, NULL, 0);
	put_vals(r, 0, 4);
	assert_int_equal(l.n, 0);
	/* The writer is gated by what is retired. */
	assert_int_equal(iobuf_ring_try_claim(r, 1, &s), -EAGAIN);
	assert_int_equal(iobuf_ring_poll(r, a, &first, NULL), 4);
	assert_int_equal(iobuf_ring_poll(r, b, &first, NULL), 4);
	/* a ahead of b: nothing retires until b releases too. */
	assert_int_equal(iobuf_ring_release(r, a, 3), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(iobuf_ring_reclaimed(r), 0);
	assert_int_equal(iobuf_ring_release(r, b, 1), 0);
	assert_log(&l, 1);
	assert_int_equal(iobuf_ring_reclaimed(r), 1);
	/* b passes a: the retirement stops at a. */
	assert_int_equal(iobuf_ring_release(r, b, 4), 0);
	assert_log(&l, 3);
	assert_int_equal(iobuf_ring_reclaimed(r), 3);
	assert_int_equal(iobuf_ring_try_claim(r, 4, &s), -EAGAIN); /* seq 7 reuses slot 3: not retired */
	put_vals(r, 4, 3);
	/* A release that is not at the reclaimed point retires nothing by itself ... */
	assert_int_equal(iobuf_ring_poll(r, b, &first, NULL), 3);
	assert_int_equal(iobuf_ring_release(r, b, 6), 0);
	assert_log(&l, 3);
	/* ... and the one that is retires all it can. */
	assert_int_equal(iobuf_ring_poll(r, a, &first, NULL), 4);
	assert_int_equal(iobuf_ring_release(r, a, 7), 0);
	assert_log(&l, 6);
	assert_int_equal(iobuf_ring_lag(r, b), 1);
	/* Releasing where we are is no event. */
	assert_int_equal(iobuf_ring_release(r, a, 7), 0);
	assert_log(&l, 6);
	/* Destroy retires the rest (entry 6, which b still holds). */
	iobuf_ring_destroy(r);
	assert_log(&l, 7);
}

static void test_hook_nobody_reads(void **state)
{
	struct iobuf_ring_config c = cfg_of(4, 2, IOBUF_RING_SPIN);
	struct log l = {.n = 0};
	struct iobuf_ring *r;
	uint64_t s;
	int err;

	(void)state;
	c.on_retire = hook_log;
	c.retire_ctx = &l;
	r = iobuf_ring_create(&c, &err);
	assert_non_null(r);
	/* Without readers each publish retires its entries at once; the writer never waits. */
	for (int i = 0; i < 10; i++) {
		put_vals(r, (uint64_t)i * 3, 3);
		assert_log(&l, (uint64_t)i * 3 + 3);
		assert_int_equal(iobuf_ring_reclaimed(r), iobuf_ring_cursor(r));
	}
	/* A claim not yet published is the writer's: destroy leaves it alone. */
	assert_int_equal(iobuf_ring_try_claim(r, 2, &s), 0);
	iobuf_ring_destroy(r);
	assert_log(&l, 30);
}

/*
 * Events while a retirer is inside the hook (it holds the reclaim word): they
 * find the word held and leave; the retirer must pick them up when it lets go.
 * The hook runs @during once, in another thread that it waits for, as if a
 * concurrent thread had acted at that moment.
 */
struct during {
	struct log log;
	struct iobuf_ring *ring;
	void (*during)(struct iobuf_ring *ring);
	int fired;
};

static void *during_main(void *arg)
{
	struct during *d = arg;

	d->during(d->ring);
	return NULL;
}

static void hook_during(void *ctx, uint64_t seq, void *entry)
{
	struct during *d = ctx;
	pthread_t t;

	hook_log(&d->log, seq, entry);
	if (d->fired++ == 0) {
		assert_int_equal(pthread_create(&t, NULL, during_main, d), 0);
		pthread_join(t, NULL);
	}
}

static struct iobuf_ring *mk_during(struct during *d, void (*during)(struct iobuf_ring *))
{
	struct iobuf_ring_config c = cfg_of(8, 3, IOBUF_RING_SPIN);
	int err;

	memset(d, 0, sizeof(*d));
	c.on_retire = hook_during;
	c.retire_ctx = d;
	d->during = during;
	d->ring = iobuf_ring_create(&c, &err);
	assert_non_null(d->ring);
	return d->ring;
}

/* Reader 2 (at 1) releases to 4 while reader 1 retires entry 0. */
static void during_release(struct iobuf_ring *r)
{
	uint64_t first;

	assert_int_equal(iobuf_ring_poll(r, 2, &first, NULL), 3);
	assert_int_equal(iobuf_ring_release(r, 2, 4), 0);
	assert_int_equal(iobuf_ring_reclaimed(r), 0); /* the word is held: it left that to the holder */
}

/* The writer publishes 4 .. 5 and reader 0 takes them, while a leaving reader retires. */
static void during_publish_release(struct iobuf_ring *r)
{
	uint64_t first;

	put_vals(r, 4, 2);
	assert_int_equal(iobuf_ring_poll(r, 0, &first, NULL), 2);
	assert_int_equal(iobuf_ring_release(r, 0, 6), 0);
}

/* The writer publishes 4 .. 5 while the last reader leaves: nobody reads them. */
static void during_publish(struct iobuf_ring *r)
{
	put_vals(r, 4, 2);
}

static void test_hook_events_while_retiring(void **state)
{
	struct during d;
	struct iobuf_ring *r;
	uint64_t first;

	(void)state;
	/* A release while a releasing reader retires. */
	r = mk_during(&d, during_release);
	for (int i = 0; i < 3; i++)
		assert_int_equal(iobuf_ring_reader_add(r, NULL, 0), i);
	put_vals(r, 0, 4);
	for (int i = 0; i < 3; i++)
		assert_int_equal(iobuf_ring_poll(r, i, &first, NULL), 4);
	assert_int_equal(iobuf_ring_release(r, 0, 4), 0);
	assert_int_equal(iobuf_ring_release(r, 2, 1), 0);
	assert_int_equal(d.log.n, 0);
	assert_int_equal(iobuf_ring_release(r, 1, 4), 0); /* retires 0, then (after the hook) 1 .. 3 */
	assert_log(&d.log, 4);
	assert_int_equal(iobuf_ring_reclaimed(r), 4);
	iobuf_ring_destroy(r);

	/* A publish and a release past the cursor a leaving reader saw. */
	r = mk_during(&d, during_publish_release);
	for (int i = 0; i < 2; i++)
		assert_int_equal(iobuf_ring_reader_add(r, NULL, 0), i);
	put_vals(r, 0, 4);
	assert_int_equal(iobuf_ring_poll(r, 0, &first, NULL), 4);
	assert_int_equal(iobuf_ring_release(r, 0, 4), 0);
	assert_int_equal(iobuf_ring_reader_remove(r, 1), 0); /* retires 0 .. 3, then 4 .. 5 */
	assert_log(&d.log, 6);
	assert_int_equal(iobuf_ring_reclaimed(r), 6);
	iobuf_ring_destroy(r);

	/* A publish without readers while the last reader leaves. */
	r = mk_during(&d, during_publish);
	assert_int_equal(iobuf_ring_reader_add(r, NULL, 0), 0);
	put_vals(r, 0, 4);
	assert_int_equal(iobuf_ring_reader_remove(r, 0), 0); /* retires 0 .. 3, then 4 .. 5 */
	assert_log(&d.log, 6);
	assert_int_equal(iobuf_ring_reclaimed(r), 6);
	iobuf_ring_destroy(r);
	assert_log(&d.log, 6);
}

/* ---- bcast ------------------------------------------------------------------------------ */

static void test_bcast_two_readers(void **state)
{
	struct iobuf_set *set = mkset();
	struct iobuf_ring *r = mkbcast(set, 8, 3, IOBUF_RING_SPIN);
	iobuf_handle_t hs[6];
	uint64_t first;
	int a = iobuf_ring_reader_add(r, NULL, 0), b = iobuf_ring_reader_add(r, NULL, 0);

	(void)state;
	take(set, hs, 6);
	assert_int_equal(in_use(set), 6);
	assert_int_equal(iobuf_ring_bcast(r, hs, 4, 0), 0);
	assert_int_equal(iobuf_ring_bcast(r, &hs[4], 1, 0), 0);
	assert_int_equal(iobuf_ring_bcast(r, &hs[5], 1, IOBUF_RING_FOREVER), 0);
	assert_int_equal(iobuf_ring_cursor(r), 6);
	assert_int_equal(in_use(set), 6); /* the ring holds them now */
	/* Both readers see every handle, in order, live and stamped. */
	assert_int_equal(poll_check(r, a, set, hs, 0), 6);
	assert_int_equal(poll_check(r, b, set, hs, 0), 6);
	/* a done with 0..4: nothing back, b holds them. */
	assert_int_equal(iobuf_ring_release(r, a, 5), 0);
	assert_int_equal(in_use(set), 6);
	assert_held(set, hs[0], 0);
	/* b releases 0..1: exactly those come back. */
	assert_int_equal(iobuf_ring_release(r, b, 2), 0);
	assert_int_equal(in_use(set), 4);
	assert_int_equal(iobuf_ring_reclaimed(r), 2);
	assert_returned(set, hs[0]);
	assert_returned(set, hs[1]);
	assert_held(set, hs[2], 2);
	/* b passes a: back up to a (5). */
	assert_int_equal(iobuf_ring_poll(r, b, &first, NULL), 4);
	assert_int_equal(iobuf_ring_release(r, b, 6), 0);
	assert_int_equal(in_use(set), 1);
	assert_int_equal(iobuf_ring_reclaimed(r), 5);
	for (int i = 2; i < 5; i++)
		assert_returned(set, hs[i]);
	assert_held(set, hs[5], 5);
	assert_int_equal(iobuf_ring_release(r, a, 6), 0);
	assert_int_equal(in_use(set), 0);
	assert_returned(set, hs[5]);
	assert_int_equal(iobuf_ring_reclaimed(r), 6);
	/* The buffers are free to take again; the old handles stay dead (-ESTALE once reissued). */
	{
		iobuf_handle_t again[NBUF];

		take(set, again, NBUF);
		assert_int_equal(iobuf_put(set, hs[0]), -ESTALE);
		for (int i = 0; i < NBUF; i++)
			assert_int_equal(iobuf_put(set, again[i]), 0);
	}
	iobuf_ring_destroy(r); /* nothing left to put */
	assert_int_equal(in_use(set), 0);
	/* The only refusals are the ones this test made on purpose. */
	assert_int_equal(refusals(set), 6 + 1);
	iobuf_set_destroy(set);
}

static void test_bcast_nobody_listens(void **state)
{
	struct iobuf_set *set = mkset();
	struct iobuf_ring *r = mkbcast(set, 4, 2, IOBUF_RING_SPIN);
	iobuf_handle_t hs[NBUF];

	(void)state;
	/* More buffers than slots, and the writer never waits: each goes back at once. */
	take(set, hs, NBUF);
	for (int i = 0; i < NBUF; i += 2) {
		assert_int_equal(iobuf_ring_bcast(r, &hs[i], 2, 0), 0);
		assert_int_equal(in_use(set), NBUF - (uint32_t)i - 2);
		assert_returned(set, hs[i]);
		assert_returned(set, hs[i + 1]);
	}
	assert_int_equal(iobuf_ring_reclaimed(r), NBUF);
	iobuf_ring_destroy(r);
	assert_int_equal(refusals(set), NBUF);
	iobuf_set_destroy(set);
}

static void test_bcast_pipeline(void **state)
{
	struct iobuf_set *set = mkset();
	struct iobuf_ring *r = mkbcast(set, 8, 2, IOBUF_RING_SPIN);
	iobuf_handle_t hs[4];
	int a = iobuf_ring_reader_add(r, NULL, 0), b, deps[1] = {a};

	(void)state;
	b = iobuf_ring_reader_add(r, deps, 1);
	take(set, hs, 4);
	assert_int_equal(iobuf_ring_bcast(r, hs, 4, 0), 0);
	/* The downstream reader sees nothing before a; a's release alone returns nothing. */
	assert_int_equal(poll_check(r, b, set, hs, 0), 0);
	assert_int_equal(poll_check(r, a, set, hs, 0), 4);
	assert_int_equal(iobuf_ring_release(r, a, 4), 0);
	assert_int_equal(in_use(set), 4);
	assert_int_equal(poll_check(r, b, set, hs, 0), 4);
	assert_int_equal(iobuf_ring_release(r, b, 3), 0);
	assert_int_equal(in_use(set), 1);
	assert_returned(set, hs[2]);
	assert_held(set, hs[3], 3);
	iobuf_ring_destroy(r);
	assert_int_equal(in_use(set), 0);
	assert_returned(set, hs[3]);
	assert_int_equal(refusals(set), 2);
	iobuf_set_destroy(set);
}

static void test_bcast_leave_and_join(void **state)
{
	struct iobuf_set *set = mkset();
	struct iobuf_ring *r = mkbcast(set, 8, 3, IOBUF_RING_SPIN);
	iobuf_handle_t hs[12];
	int a = iobuf_ring_reader_add(r, NULL, 0), b = iobuf_ring_reader_add(r, NULL, 0), c, d, deps[1];

	(void)state;
	take(set, hs, 12);
	assert_int_equal(iobuf_ring_bcast(r, hs, 4, 0), 0);
	assert_int_equal(poll_check(r, a, set, hs, 0), 4);
	assert_int_equal(iobuf_ring_release(r, a, 4), 0);
	assert_int_equal(in_use(set), 12);
	/* b never read anything; its leaving returns what only it held. */
	assert_int_equal(iobuf_ring_reader_remove(r, b), 0);
	assert_int_equal(in_use(set), 8);
	assert_int_equal(iobuf_ring_reclaimed(r), 4);
	assert_returned(set, hs[3]);
	/* A reader joins at the cursor: it holds what comes next, not what came before. */
	assert_int_equal(iobuf_ring_bcast(r, &hs[4], 2, 0), 0);
	c = iobuf_ring_reader_add(r, NULL, 0);
	assert_int_equal(iobuf_ring_bcast(r, &hs[6], 2, 0), 0);
	assert_int_equal(poll_check(r, c, set, hs, 0), 2);
	assert_int_equal(poll_check(r, a, set, hs, 0), 4);
	assert_int_equal(iobuf_ring_release(r, a, 8), 0);
	assert_int_equal(in_use(set), 6); /* 4, 5 back; c holds 6, 7 */
	assert_returned(set, hs[5]);
	assert_held(set, hs[6], 6);
	/* A dependent reader leaving is no event for its upstream; the last holder leaving is. */
	deps[0] = c;
	d = iobuf_ring_reader_add(r, deps, 1);
	assert_int_equal(iobuf_ring_reader_remove(r, c), -EBUSY);
	assert_int_equal(iobuf_ring_reader_remove(r, d), 0);
	assert_int_equal(in_use(set), 6);
	assert_int_equal(iobuf_ring_reader_remove(r, c), 0);
	assert_int_equal(in_use(set), 4);
	assert_int_equal(iobuf_ring_reclaimed(r), 8);
	/* The last reader leaves: what it had not even polled comes back too. */
	assert_int_equal(iobuf_ring_bcast(r, &hs[8], 3, 0), 0);
	assert_int_equal(in_use(set), 4);
	assert_int_equal(iobuf_ring_reader_remove(r, a), 0);
	assert_int_equal(in_use(set), 1);
	assert_int_equal(iobuf_ring_reclaimed(r), 11);
	/* No reader now: the next broadcast goes straight back. */
	assert_int_equal(iobuf_ring_bcast(r, &hs[11], 1, 0), 0);
	assert_int_equal(in_use(set), 0);
	for (int i = 0; i < 12; i++)
		if (i != 3 && i != 5)
			assert_returned(set, hs[i]);
	iobuf_ring_destroy(r);
	assert_int_equal(refusals(set), 12);
	iobuf_set_destroy(set);
}

static void test_bcast_destroy_returns_all(void **state)
{
	struct iobuf_set *set = mkset();
	struct iobuf_ring *r = mkbcast(set, 16, 2, IOBUF_RING_BLOCK);
	iobuf_handle_t hs[10];
	int a = iobuf_ring_reader_add(r, NULL, 0), b = iobuf_ring_reader_add(r, NULL, 0);

	(void)state;
	take(set, hs, 10);
	assert_int_equal(iobuf_ring_bcast(r, hs, 10, 0), 0);
	assert_int_equal(poll_check(r, a, set, hs, 0), 10);
	assert_int_equal(iobuf_ring_release(r, a, 10), 0);
	assert_int_equal(poll_check(r, b, set, hs, 0), 10);
	assert_int_equal(iobuf_ring_release(r, b, 3), 0);
	assert_int_equal(in_use(set), 7);
	/* Readers still hold 3..9: destroy puts each back once. */
	iobuf_ring_destroy(r);
	assert_int_equal(in_use(set), 0);
	for (int i = 0; i < 10; i++)
		assert_returned(set, hs[i]);
	assert_int_equal(refusals(set), 10);
	iobuf_set_destroy(set);
}

static void test_bcast_errors(void **state)
{
	/* Handles carry their tier, not their set: a foreign handle is one of a tier this set lacks. */
	struct iobuf_set *set = mkset(), *other = mkset_tier(IOBUF_TIER_MICRO);
	struct iobuf_ring_config pc = cfg_of(4, 2, IOBUF_RING_SPIN);
	struct iobuf_ring *r = mkbcast(set, 4, 2, IOBUF_RING_SPIN), *plain;
	iobuf_handle_t hs[5], foreign, stale, bad[2];
	uint64_t s;
	int rd = iobuf_ring_reader_add(r, NULL, 0), err;

	(void)state;
	plain = iobuf_ring_create(&pc, &err);
	assert_non_null(plain);
	take(set, hs, 5);
	assert_int_equal(iobuf_get(other, 256, &foreign), 0);
	assert_int_equal(iobuf_get(set, 64, &stale), 0);
	assert_int_equal(iobuf_put(set, stale), 0);

	assert_int_equal(iobuf_ring_bcast(NULL, hs, 1, 0), -EINVAL);
	assert_int_equal(iobuf_ring_bcast(r, NULL, 1, 0), -EINVAL);
	assert_int_equal(iobuf_ring_bcast(r, hs, 0, 0), -EINVAL);
	assert_int_equal(iobuf_ring_bcast(r, hs, -1, 0), -EINVAL);
	assert_int_equal(iobuf_ring_bcast(r, hs, 5, 0), -EINVAL);     /* above the capacity */
	assert_int_equal(iobuf_ring_bcast(plain, hs, 1, 0), -EINVAL); /* not a bcast ring */
	/* Handles that are not live handles of the set: none of the batch goes out. */
	bad[0] = hs[0];
	bad[1] = foreign;
	assert_int_equal(iobuf_ring_bcast(r, bad, 2, 0), -EINVAL);
	bad[1] = stale;
	assert_int_equal(iobuf_ring_bcast(r, bad, 2, 0), -EINVAL);
	bad[1] = IOBUF_HANDLE_NONE;
	assert_int_equal(iobuf_ring_bcast(r, bad, 2, 0), -EINVAL);
	bad[1] = 12345;
	assert_int_equal(iobuf_ring_bcast(r, bad, 2, 0), -EINVAL);
	/* A claim of the writer's own that is not published blocks the way. */
	assert_int_equal(iobuf_ring_try_claim(r, 1, &s), 0);
	assert_int_equal(iobuf_ring_bcast(r, hs, 1, 0), -EINVAL);
	memcpy(iobuf_ring_entry(r, s), &hs[0], sizeof(hs[0]));
	assert_int_equal(iobuf_ring_publish(r, s, 1), 0);
	/* Nothing else was published, and the ring holds exactly one buffer. */
	assert_int_equal(iobuf_ring_cursor(r), 1);
	assert_int_equal(iobuf_ring_lag(r, rd), 1);
	assert_int_equal(in_use(set), 5);
	/* The ring is full: the handles stay the caller's. */
	assert_int_equal(iobuf_ring_bcast(r, &hs[1], 3, 0), 0);
	assert_int_equal(iobuf_ring_bcast(r, &hs[4], 1, 0), -ETIMEDOUT);
	assert_int_equal(iobuf_ring_bcast(r, &hs[4], 1, 5 * MS), -ETIMEDOUT);
	assert_held(set, hs[4], 4);
	assert_int_equal(iobuf_put(set, hs[4]), 0);
	/* After all that, every buffer in the ring comes back once. */
	iobuf_ring_destroy(r);
	assert_int_equal(in_use(set), 0);
	for (int i = 0; i < 5; i++)
		assert_returned(set, hs[i]);
	assert_int_equal(refusals(set), 5);
	assert_int_equal(iobuf_ring_reclaimed(NULL), 0);
	assert_int_equal(iobuf_ring_reclaimed(plain), 0);
	iobuf_ring_destroy(plain);
	assert_int_equal(iobuf_put(other, foreign), 0);
	iobuf_set_destroy(other);
	iobuf_set_destroy(set);
}

/* ---- lossy rings: the hook at each lap; readers that hold what they read ----------- */

static void test_lossy_hook_at_lap(void **state)
{
	struct iobuf_ring_config c = cfg_of(4, 2, IOBUF_RING_SPIN);
	struct log l = {.n = 0};
	struct iobuf_ring *r;
	uint64_t first, missed, s;
	int rd, err;

	(void)state;
	c.mode = IOBUF_RING_LOSSY;
	c.on_retire = hook_log;
	c.retire_ctx = &l;
	r = iobuf_ring_create(&c, &err);
	assert_non_null(r);
	rd = iobuf_ring_reader_add(r, NULL, 0);
	put_vals(r, 0, 4);
	/* A full lap, and nothing retires: the slots are not taken back yet, whatever the reader does. */
	assert_int_equal(l.n, 0);
	assert_int_equal(iobuf_ring_reclaimed(r), 0);
	/* Taking two slots back retires exactly what they held, though the reader released nothing. */
	put_vals(r, 4, 2);
	assert_log(&l, 2);
	assert_int_equal(iobuf_ring_reclaimed(r), 2);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), -EOVERFLOW);
	assert_int_equal(missed, 2);
	assert_int_equal(first, 2);
	/* Releases retire nothing on a lossy ring. */
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), 4);
	assert_int_equal(iobuf_ring_release(r, rd, 6), 0);
	assert_log(&l, 2);
	/* The claim retires, before any publish; a refused claim retires nothing. */
	assert_int_equal(iobuf_ring_try_claim(r, 2, &s), 0);
	assert_int_equal(s, 6);
	assert_log(&l, 4);
	assert_int_equal(iobuf_ring_try_claim(r, 3, &s), -EINVAL); /* would pass its own unpublished entries */
	assert_log(&l, 4);
	for (uint64_t k = 6; k < 8; k++) {
		uint64_t v = 1000 + k;

		assert_int_equal(iobuf_ring_write(r, k, &v), 0);
	}
	assert_int_equal(iobuf_ring_publish(r, 6, 2), 0);
	assert_int_equal(iobuf_ring_reclaimed(r), 4);
	/* A claim left unpublished at destroy: its slot's old entry was retired, the claim is not. */
	assert_int_equal(iobuf_ring_try_claim(r, 1, &s), 0);
	assert_log(&l, 5);
	iobuf_ring_destroy(r);
	assert_log(&l, 8); /* 5, 6, 7: published, in the ring at destroy */
}

/* Set @n lengths: buffer i holds 8 + i bytes. */
static void setlens(struct iobuf_set *set, const iobuf_handle_t *hs, int n)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(iobuf_setlen(set, hs[i], 8 + (size_t)i), 0);
}

static struct iobuf_ring *mkbcast_lossy(struct iobuf_set *set, uint32_t cap, int readers)
{
	struct iobuf_ring_config c = cfg_of(cap, readers, IOBUF_RING_SPIN);
	int err = 1;
	struct iobuf_ring *r;

	c.mode = IOBUF_RING_LOSSY;
	r = iobuf_ring_create_bcast(&c, set, &err);
	assert_non_null(r);
	assert_int_equal(err, 0);
	return r;
}

/* Read entries @first .. @first+@n-1 as held slices of hs[...]: the right buffer, its length, one more holder. */
static void read_held(struct iobuf_ring *r, int rd, struct iobuf_set *set, const iobuf_handle_t *hs, uint64_t first,
		      int n, struct iobuf_slice *out)
{
	for (int k = 0; k < n; k++) {
		uint64_t s = first + (uint64_t)k;
		int before = iobuf_holders(set, hs[s]);

		assert_int_equal(iobuf_ring_bcast_read(r, rd, s, &out[k]), 0);
		assert_int_equal(out[k].h, hs[s]);
		assert_int_equal(out[k].off, 0);
		assert_int_equal(out[k].len, 8 + s);
		assert_int_equal(iobuf_holders(set, hs[s]), before + 1);
		assert_ptr_equal(iobuf_slice_buf(set, &out[k]), iobuf_buf(set, hs[s]));
		assert_held(set, hs[s], (int)s);
	}
}

static void test_lossy_bcast_holds_across_lap(void **state)
{
	struct iobuf_set *set = mkset();
	struct iobuf_ring *r = mkbcast_lossy(set, 4, 2);
	struct iobuf_slice a_sl[4], b_sl[4];
	iobuf_handle_t hs[8];
	uint64_t first, missed;
	int a = iobuf_ring_reader_add(r, NULL, 0), b = iobuf_ring_reader_add(r, NULL, 0);

	(void)state;
	take(set, hs, 8);
	setlens(set, hs, 8);
	assert_int_equal(iobuf_ring_bcast(r, hs, 4, 0), 0);
	assert_int_equal(in_use(set), 8);
	/* a holds 0..3 and releases the entries at once: the buffers stay, held by a and by the ring. */
	assert_int_equal(iobuf_ring_poll(r, a, &first, NULL), 4);
	read_held(r, a, set, hs, 0, 4, a_sl);
	assert_int_equal(iobuf_ring_release(r, a, 4), 0);
	assert_int_equal(iobuf_holders(set, hs[0]), 2);
	/* The writer laps 0..3 (never waiting for b, which read nothing): the ring drops its holders only. */
	assert_int_equal(iobuf_ring_bcast(r, &hs[4], 4, 0), 0);
	assert_int_equal(iobuf_ring_reclaimed(r), 4);
	assert_int_equal(in_use(set), 8);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(iobuf_holders(set, hs[i]), 1);
		assert_held(set, hs[i], i);
	}
	/* b was lapped: told how many, and it never sees 0..3. */
	assert_int_equal(iobuf_ring_poll(r, b, &first, &missed), -EOVERFLOW);
	assert_int_equal(missed, 4);
	assert_int_equal(first, 4);
	assert_int_equal(iobuf_ring_poll(r, b, &first, &missed), 4);
	assert_int_equal(missed, 0);
	read_held(r, b, set, hs, 4, 4, b_sl);
	assert_int_equal(iobuf_ring_release(r, b, 8), 0);
	/* a's puts return 0..3, the last holder's each. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(iobuf_slice_put(set, &a_sl[i]), 0);
		assert_int_equal(a_sl[i].h, IOBUF_HANDLE_NONE);
		assert_returned(set, hs[i]);
	}
	assert_int_equal(in_use(set), 4);
	/* Destroy drops the ring's holders of 4..7; b still holds them, until its puts. */
	iobuf_ring_destroy(r);
	assert_int_equal(in_use(set), 4);
	for (int i = 4; i < 8; i++) {
		assert_int_equal(iobuf_holders(set, hs[i]), 1);
		assert_held(set, hs[i], i);
		assert_int_equal(iobuf_slice_put(set, &b_sl[i - 4]), 0);
		assert_returned(set, hs[i]);
	}
	assert_int_equal(in_use(set), 0);
	assert_int_equal(refusals(set), 8); /* the assert_returned() probes, no more */
	iobuf_set_destroy(set);
}

static void test_lossy_bcast_lapped_before_hold(void **state)
{
	struct iobuf_set *set = mkset();
	struct iobuf_ring *r = mkbcast_lossy(set, 4, 1);
	struct iobuf_slice sl[4];
	iobuf_handle_t hs[6];
	uint64_t first, missed;
	int rd = iobuf_ring_reader_add(r, NULL, 0);

	(void)state;
	take(set, hs, 6);
	setlens(set, hs, 6);
	assert_int_equal(iobuf_ring_bcast(r, hs, 4, 0), 0);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, NULL), 4);
	/* Between the poll and the reads the writer laps 0 and 1: their buffers go back (nobody held them). */
	assert_int_equal(iobuf_ring_bcast(r, &hs[4], 2, 0), 0);
	assert_int_equal(in_use(set), 4);
	assert_returned(set, hs[0]);
	assert_returned(set, hs[1]);
	/* The read is refused and holds nothing; the reader may release only up to it. */
	sl[0].h = 12345;
	assert_int_equal(iobuf_ring_bcast_read(r, rd, 0, &sl[0]), -EOVERFLOW);
	assert_int_equal(sl[0].h, IOBUF_HANDLE_NONE);
	assert_int_equal(iobuf_ring_release(r, rd, 1), -EINVAL);
	assert_int_equal(in_use(set), 4);
	/* The next poll counts 0 and 1 as missed and starts at 2, still there. */
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), -EOVERFLOW);
	assert_int_equal(missed, 2);
	assert_int_equal(first, 2);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), 4);
	read_held(r, rd, set, hs, 2, 4, sl);
	assert_int_equal(iobuf_ring_release(r, rd, 6), 0);
	assert_int_equal(iobuf_slices_put(set, sl, 4), 0);
	assert_int_equal(in_use(set), 4); /* the ring still holds 2..5 */
	iobuf_ring_destroy(r);
	assert_int_equal(in_use(set), 0);
	assert_int_equal(refusals(set), 2);
	iobuf_set_destroy(set);
}

/* A lossless bcast ring: bcast_read holds past the release, so the buffer outlives the entry. */
static void test_lossless_bcast_read_keeps(void **state)
{
	struct iobuf_set *set = mkset();
	struct iobuf_ring *r = mkbcast(set, 4, 2, IOBUF_RING_SPIN);
	struct iobuf_slice sl[2];
	iobuf_handle_t hs[2];
	uint64_t first;
	int rd = iobuf_ring_reader_add(r, NULL, 0);

	(void)state;
	take(set, hs, 2);
	setlens(set, hs, 2);
	assert_int_equal(iobuf_ring_bcast(r, hs, 2, 0), 0);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, NULL), 2);
	read_held(r, rd, set, hs, 0, 2, sl);
	/* The release retires the entries (the ring's holders dropped); the slices keep the buffers. */
	assert_int_equal(iobuf_ring_release(r, rd, 2), 0);
	assert_int_equal(iobuf_ring_reclaimed(r), 2);
	assert_int_equal(in_use(set), 2);
	assert_held(set, hs[0], 0);
	assert_held(set, hs[1], 1);
	assert_int_equal(iobuf_slices_put(set, sl, 2), 0);
	assert_int_equal(in_use(set), 0);
	iobuf_ring_destroy(r);
	assert_int_equal(refusals(set), 0);
	iobuf_set_destroy(set);
}

static void test_bcast_read_errors(void **state)
{
	struct iobuf_set *set = mkset();
	struct iobuf_ring_config pc = cfg_of(4, 2, IOBUF_RING_SPIN);
	struct iobuf_ring *lossy = mkbcast_lossy(set, 4, 2), *lossless = mkbcast(set, 4, 2, IOBUF_RING_SPIN), *plain;
	struct iobuf_slice sl;
	iobuf_handle_t hs[3];
	uint64_t first;
	int rd = iobuf_ring_reader_add(lossy, NULL, 0), rl = iobuf_ring_reader_add(lossless, NULL, 0), err;
	int gone = iobuf_ring_reader_add(lossy, NULL, 0);

	(void)state;
	plain = iobuf_ring_create(&pc, &err);
	assert_non_null(plain);
	assert_int_equal(iobuf_ring_reader_add(plain, NULL, 0), 0);
	take(set, hs, 3);
	assert_int_equal(iobuf_ring_bcast(lossy, hs, 2, 0), 0);
	assert_int_equal(iobuf_ring_poll(lossy, rd, &first, NULL), 2);
	assert_int_equal(iobuf_ring_reader_remove(lossy, gone), 0);

#define REFUSED(call, rc)                                                                                              \
	do {                                                                                                           \
		sl.h = 777;                                                                                            \
		assert_int_equal((call), (rc));                                                                        \
		assert_int_equal(sl.h, IOBUF_HANDLE_NONE);                                                             \
		assert_int_equal(iobuf_holders(set, hs[0]), 1);                                                        \
		assert_int_equal(iobuf_holders(set, hs[1]), 1);                                                        \
	} while (0)
	assert_int_equal(iobuf_ring_bcast_read(lossy, rd, 0, NULL), -EINVAL);
	REFUSED(iobuf_ring_bcast_read(NULL, rd, 0, &sl), -EINVAL);
	REFUSED(iobuf_ring_bcast_read(plain, 0, 0, &sl), -EINVAL); /* not a bcast ring */
	REFUSED(iobuf_ring_bcast_read(lossy, -1, 0, &sl), -EINVAL);
	REFUSED(iobuf_ring_bcast_read(lossy, 2, 0, &sl), -EINVAL);    /* beyond max_readers */
	REFUSED(iobuf_ring_bcast_read(lossy, gone, 0, &sl), -EINVAL); /* inactive */
	REFUSED(iobuf_ring_bcast_read(lossy, rd, 2, &sl), -EINVAL);   /* not polled */
	assert_int_equal(iobuf_ring_release(lossy, rd, 1), 0);
	REFUSED(iobuf_ring_bcast_read(lossy, rd, 0, &sl), -EINVAL); /* released */
	assert_int_equal(iobuf_ring_bcast_read(lossy, rd, 1, &sl), 0);
	assert_int_equal(sl.h, hs[1]);
	assert_int_equal(iobuf_slice_put(set, &sl), 0);

	/* Holders at the limit: -EMLINK, not the ring's -EOVERFLOW, and the count is unchanged. */
	assert_int_equal(iobuf_hold(set, hs[1], IOBUF_HOLDERS_MAX - 1), 0);
	sl.h = 777;
	assert_int_equal(iobuf_ring_bcast_read(lossy, rd, 1, &sl), -EMLINK);
	assert_int_equal(sl.h, IOBUF_HANDLE_NONE);
	assert_int_equal(iobuf_holders(set, hs[1]), (int)IOBUF_HOLDERS_MAX);

	/* Lossless: a buffer its sender put behind the ring's back is refused as the pool says. */
	assert_int_equal(iobuf_ring_bcast(lossless, &hs[2], 1, 0), 0);
	assert_int_equal(iobuf_ring_poll(lossless, rl, &first, NULL), 1);
	assert_int_equal(iobuf_put(set, hs[2]), 0); /* misuse */
	sl.h = 777;
	assert_int_equal(iobuf_ring_bcast_read(lossless, rl, 0, &sl), -EALREADY);
	assert_int_equal(sl.h, IOBUF_HANDLE_NONE);
	assert_int_equal(iobuf_ring_release(lossless, rl, 1), 0); /* the retire's put is refused, and counted */
	assert_int_equal(refusals(set), 1);
	iobuf_ring_destroy(lossless);
	iobuf_ring_destroy(plain);
	iobuf_ring_destroy(lossy);
	/* hs[1] keeps its IOBUF_HOLDERS_MAX - 1 holders; everything else is back. */
	assert_int_equal(in_use(set), 1);
	assert_int_equal(iobuf_holders(set, hs[1]), (int)IOBUF_HOLDERS_MAX - 1);
#undef REFUSED
	iobuf_set_destroy(set);
}

/* ---- a writer asleep on a full bcast ring -------------------------------------------- */

struct releaser {
	struct iobuf_ring *ring;
	int reader;
	int rc;
};

static void *releaser_main(void *arg)
{
	struct releaser *w = arg;
	struct timespec d = {0, 30 * 1000 * 1000};
	uint64_t first;

	nanosleep(&d, NULL);
	w->rc = iobuf_ring_poll(w->ring, w->reader, &first, NULL);
	if (w->rc > 0)
		w->rc = iobuf_ring_release(w->ring, w->reader, first + 1);
	return NULL;
}

static void test_bcast_wakes_writer(void **state)
{
	struct iobuf_set *set = mkset();
	struct iobuf_ring *r = mkbcast(set, 2, 2, IOBUF_RING_BLOCK);
	struct releaser w = {.ring = r};
	iobuf_handle_t hs[3];
	pthread_t t;

	(void)state;
	w.reader = iobuf_ring_reader_add(r, NULL, 0);
	take(set, hs, 3);
	assert_int_equal(iobuf_ring_bcast(r, hs, 2, 0), 0);
	/* The writer sleeps until the release in the other thread retires entry 0. */
	assert_int_equal(pthread_create(&t, NULL, releaser_main, &w), 0);
	assert_int_equal(iobuf_ring_bcast(r, &hs[2], 1, 5000 * MS), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.rc, 0);
	assert_returned(set, hs[0]);
	assert_int_equal(in_use(set), 2);
	iobuf_ring_destroy(r);
	assert_int_equal(in_use(set), 0);
	assert_int_equal(refusals(set), 1);
	iobuf_set_destroy(set);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_errors),
	    cmocka_unit_test(test_hook_exactly_once_in_order),
	    cmocka_unit_test(test_hook_nobody_reads),
	    cmocka_unit_test(test_hook_events_while_retiring),
	    cmocka_unit_test(test_bcast_two_readers),
	    cmocka_unit_test(test_bcast_nobody_listens),
	    cmocka_unit_test(test_bcast_pipeline),
	    cmocka_unit_test(test_bcast_leave_and_join),
	    cmocka_unit_test(test_bcast_destroy_returns_all),
	    cmocka_unit_test(test_bcast_errors),
	    cmocka_unit_test(test_bcast_wakes_writer),
	    cmocka_unit_test(test_lossy_hook_at_lap),
	    cmocka_unit_test(test_lossy_bcast_holds_across_lap),
	    cmocka_unit_test(test_lossy_bcast_lapped_before_hold),
	    cmocka_unit_test(test_lossless_bcast_read_keeps),
	    cmocka_unit_test(test_bcast_read_errors),
	};
	/* clang-format on */

	return cmocka_run_group_tests_name("ring_bcast", tests, NULL, NULL);
}
