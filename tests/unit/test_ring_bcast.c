/* SPDX-License-Identifier: MIT */
/*
 * test_ring_bcast.c - retiring rings and the broadcast of pooled buffers:
 * the on_retire hook (exactly once, in order, only after every reader
 * released the entry), bcast rings bound to an iobuf_set (each buffer back
 * in its pool exactly once: in_use counts, and a second put of the same
 * handle refused with -EALREADY), readers that depend, join and leave,
 * destroy, every error path.
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
	BAD(c.mode = IOBUF_RING_LOSSY);
	BAD(c.mode = (enum iobuf_ring_mode)7);
	BAD(c.on_retire = hook_count);
	BAD(c.retire_ctx = &n);
	BAD(c.capacity = 3);
	BAD(c.max_readers = 0);
	BAD(c.wait = (enum iobuf_ring_wait)9);
#undef BAD

	/* A generic hook: lossless only, and no context without a hook. */
	c = cfg_of(8, 2, IOBUF_RING_SPIN);
	c.mode = IOBUF_RING_LOSSY;
	c.on_retire = hook_count;
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
	};
	/* clang-format on */

	return cmocka_run_group_tests_name("ring_bcast", tests, NULL, NULL);
}
