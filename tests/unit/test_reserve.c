/* SPDX-License-Identifier: MIT */
/*
 * test_reserve.c - reserve and commit on one thread (iobuf/reserve.h):
 * every refusal, spills, the exact seal points, flush, abort, timeouts,
 * max_delay, finalize and the buffers' return.  The races are in
 * tests/stress/stress_reserve.c.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <iobuf/pool.h>
#include <iobuf/reserve.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#define WATCHDOG_NS (20ull * 1000 * 1000 * 1000)

static struct iobuf_set *mkset(uint32_t nano)
{
	struct iobuf_set_config cfg = {.capacity = {[IOBUF_TIER_NANO] = nano, [IOBUF_TIER_SMALL] = 16}};
	struct iobuf_set *s = iobuf_set_create(&cfg, NULL);

	assert_non_null(s);
	return s;
}

static uint32_t in_use(const struct iobuf_set *s, int tier)
{
	struct iobuf_pool_stats st;

	assert_int_equal(iobuf_pool_stats(iobuf_set_pool(s, tier), &st), 0);
	return st.in_use;
}

static struct iobuf_stream *mkstream(struct iobuf_set *set, uint32_t gsize, uint32_t groups, uint32_t maxrec,
				     uint64_t timeout_ns, uint64_t delay_ns)
{
	struct iobuf_stream_config c = {.set = set, .group_size = gsize, .groups = groups, .max_records = maxrec,
					.timeout_ns = timeout_ns, .max_delay_ns = delay_ns};
	int err = 1;
	struct iobuf_stream *s = iobuf_stream_create(&c, &err);

	assert_non_null(s);
	assert_int_equal(err, 0);
	return s;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Poll until a group comes (bounded by the watchdog). */
static void poll_one(struct iobuf_stream *s, struct iobuf_group *g)
{
	uint64_t end = now_ns() + WATCHDOG_NS;
	int rc;

	while ((rc = iobuf_stream_poll(s, g)) == -EAGAIN && now_ns() < end)
		sched_yield();
	assert_int_equal(rc, 0);
}

/* Finalize, drain to -EPIPE (no group left), destroy, and check every buffer is back. */
static void finish(struct iobuf_stream *s, struct iobuf_set *set)
{
	struct iobuf_group g;

	int rc;

	(void)iobuf_stream_finalize(s);
	while ((rc = iobuf_stream_poll(s, &g)) == 0)
		assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	assert_int_equal(rc, -EPIPE);
	assert_int_equal(iobuf_stream_destroy(s), 0);
	assert_int_equal(in_use(set, IOBUF_TIER_NANO), 0);
	assert_int_equal(in_use(set, IOBUF_TIER_SMALL), 0);
	iobuf_set_destroy(set);
}

static void test_create_refusals(void **state)
{
	struct iobuf_set *set = mkset(4);
	struct iobuf_stream_config c = {.set = set, .group_size = 64};
	int err = 0;

	(void)state;
	assert_null(iobuf_stream_create(NULL, &err));
	assert_int_equal(err, -EINVAL);
	c.set = NULL;
	assert_null(iobuf_stream_create(&c, &err));
	assert_int_equal(err, -EINVAL);
	c.set = set;
	c.group_size = 100; /* not a tier size */
	assert_null(iobuf_stream_create(&c, &err));
	assert_int_equal(err, -EINVAL);
	c.group_size = 0;
	assert_null(iobuf_stream_create(&c, &err));
	assert_int_equal(err, -EINVAL);
	c.group_size = 1024 * 1024;
	assert_null(iobuf_stream_create(&c, &err));
	assert_int_equal(err, -EINVAL);
	c.group_size = 64;
	c.groups = 3;
	assert_null(iobuf_stream_create(&c, &err));
	assert_int_equal(err, -EINVAL);
	c.groups = IOBUF_STREAM_MAX_GROUPS * 2;
	assert_null(iobuf_stream_create(&c, &err));
	assert_int_equal(err, -EINVAL);
	c.groups = 2;
	c.max_records = IOBUF_STREAM_MAX_RECORDS + 1;
	assert_null(iobuf_stream_create(&c, &err));
	assert_int_equal(err, -EINVAL);
	c.max_records = 0;
	c.flags = 1;
	assert_null(iobuf_stream_create(&c, &err));
	assert_int_equal(err, -EINVAL);
	c.flags = 0;
	/* 8 groups (the default) from a tier of 4 buffers: refused, and the 4 taken are back. */
	c.groups = 0;
	assert_null(iobuf_stream_create(&c, &err));
	assert_int_equal(err, -ENOBUFS);
	assert_int_equal(in_use(set, IOBUF_TIER_NANO), 0);
	c.groups = 4;
	{
		struct iobuf_stream *s = iobuf_stream_create(&c, NULL);

		assert_non_null(s);
		assert_int_equal(in_use(set, IOBUF_TIER_NANO), 4);
		finish(s, set);
	}
}

static void test_null_refusals(void **state)
{
	struct iobuf_set *set = mkset(16);
	struct iobuf_stream *s = mkstream(set, 64, 2, 0, 0, 0);
	struct iobuf_reservation r, bad = {0};
	struct iobuf_group g;
	struct iobuf_stream_stats st;
	char b[4] = {0};

	(void)state;
	assert_int_equal(iobuf_stream_reserve(NULL, 1, &r), -EINVAL);
	assert_int_equal(iobuf_stream_reserve(s, 1, NULL), -EINVAL);
	assert_int_equal(iobuf_stream_reserve(s, 0, &r), -EINVAL);
	assert_int_equal(iobuf_stream_reserve(s, 65, &r), -EMSGSIZE);
	assert_int_equal(iobuf_reservation_commit(NULL), -EINVAL);
	assert_int_equal(iobuf_reservation_abort(NULL), -EINVAL);
	assert_int_equal(iobuf_reservation_commit(&bad), -EINVAL);
	assert_int_equal(iobuf_reservation_write(NULL, 0, b, 1), -EINVAL);
	assert_int_equal(iobuf_reservation_write(&bad, 0, b, 1), -EINVAL);
	assert_int_equal(iobuf_stream_flush(NULL), -EINVAL);
	assert_int_equal(iobuf_stream_poll(NULL, &g), -EINVAL);
	assert_int_equal(iobuf_stream_poll(s, NULL), -EINVAL);
	assert_int_equal(iobuf_stream_wait(NULL, &g, 0), -EINVAL);
	assert_int_equal(iobuf_stream_wait(s, NULL, 0), -EINVAL);
	assert_int_equal(iobuf_stream_ready_fd(NULL), -EINVAL);
	assert_int_equal(iobuf_stream_finalize(NULL), -EINVAL);
	assert_int_equal(iobuf_stream_stats(NULL, &st), -EINVAL);
	assert_int_equal(iobuf_stream_stats(s, NULL), -EINVAL);
	assert_int_equal(iobuf_stream_destroy(NULL), 0);
	/* Nothing was reserved by the refusals. */
	assert_int_equal(iobuf_stream_poll(s, &g), -EAGAIN);
	assert_int_equal(iobuf_stream_stats(s, &st), 0);
	assert_int_equal(st.lost, 0);
	assert_int_equal(st.current, 0);
	finish(s, set);
}

/* Three writes in place and by chunks, a commit each, a flush: one group of them, in order. */
static void test_commit_and_flush(void **state)
{
	struct iobuf_set *set = mkset(16);
	struct iobuf_stream *s = mkstream(set, 1024, 2, 0, 0, 0);
	struct iobuf_reservation r[3];
	struct iobuf_group g;
	struct iobuf_stream_stats st;
	const unsigned char *p;

	(void)state;
	/* An empty group is not sealed by a flush. */
	assert_int_equal(iobuf_stream_flush(s), 0);
	assert_int_equal(iobuf_stream_poll(s, &g), -EAGAIN);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(iobuf_stream_reserve(s, 10 + (size_t)i, &r[i]), 0);
		assert_int_equal(r[i].group, 0);
		assert_int_equal(r[i].rec, i);
	}
	assert_int_equal(r[0].offset, 0);
	assert_int_equal(r[1].offset, 10);
	assert_int_equal(r[2].offset, 21);
	memset(r[0].data, 'a', 10);
	assert_int_equal(iobuf_reservation_write(&r[1], 0, "bbbbb", 5), 0);
	assert_int_equal(iobuf_reservation_write(&r[1], 5, "cccccc", 6), 0);
	assert_int_equal(iobuf_reservation_write(&r[1], 6, "cccccc", 6), -ERANGE);
	assert_int_equal(iobuf_reservation_write(&r[1], 12, "", 0), -ERANGE);
	assert_int_equal(iobuf_reservation_write(&r[1], 0, NULL, 1), -EINVAL);
	memset(r[2].data, 'd', 12);
	/* Not sealed: nothing to dispatch.  Sealed with a reservation open: still nothing. */
	assert_int_equal(iobuf_reservation_commit(&r[0]), 0);
	assert_int_equal(iobuf_reservation_commit(&r[2]), 0);
	assert_int_equal(iobuf_stream_poll(s, &g), -EAGAIN);
	assert_int_equal(iobuf_stream_flush(s), 0);
	assert_int_equal(iobuf_stream_poll(s, &g), -EAGAIN);
	assert_int_equal(iobuf_reservation_commit(&r[1]), 0);
	assert_int_equal(iobuf_reservation_commit(&r[1]), -EALREADY);
	assert_int_equal(iobuf_reservation_abort(&r[1]), -EALREADY);
	assert_int_equal(iobuf_reservation_write(&r[1], 0, "x", 1), -EALREADY);
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(g.seq, 0);
	assert_int_equal(g.offset, 0);
	assert_int_equal(g.nrec, 3);
	assert_int_equal(g.nfailed, 0);
	assert_int_equal(g.slice.off, 0);
	assert_int_equal(g.slice.len, 33);
	assert_int_equal(iobuf_len(set, g.slice.h), 33);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(g.rec[i].offset, r[i].offset);
		assert_int_equal(g.rec[i].len, r[i].len);
		assert_int_equal(g.rec[i].state, IOBUF_RECORD_COMMITTED);
	}
	p = iobuf_slice_buf(set, &g.slice);
	assert_memory_equal(p, "aaaaaaaaaabbbbbccccccdddddddddddd", 33);
	assert_int_equal(iobuf_stream_poll(s, &g), -EAGAIN);
	/* The next reservation is in group 1, at its absolute offset. */
	assert_int_equal(iobuf_stream_reserve(s, 5, &r[0]), 0);
	assert_int_equal(r[0].group, 1);
	assert_int_equal(r[0].offset, 1024);
	assert_int_equal(iobuf_reservation_commit(&r[0]), 0);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	assert_int_equal(iobuf_stream_stats(s, &st), 0);
	assert_int_equal(st.groups, 1);
	assert_int_equal(st.bytes, 33);
	assert_int_equal(st.committed, 3);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.current, 1);
	/* finalize seals group 1: it is dispatched before -EPIPE. */
	assert_int_equal(iobuf_stream_finalize(s), 0);
	assert_int_equal(iobuf_stream_finalize(s), -EALREADY);
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(g.seq, 1);
	assert_int_equal(g.nrec, 1);
	assert_int_equal(g.slice.len, 5);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	finish(s, set);
}

/* A reservation that does not fit spills into the next group; exactly full fits. */
static void test_spill_and_exact_seal(void **state)
{
	struct iobuf_set *set = mkset(16);
	struct iobuf_stream *s = mkstream(set, 64, 4, 3, 0, 0);
	struct iobuf_reservation a, b, c, d, e, f;
	struct iobuf_group g;

	(void)state;
	assert_int_equal(iobuf_stream_reserve(s, 40, &a), 0);
	assert_int_equal(iobuf_stream_reserve(s, 40, &b), 0); /* 80 > 64: group 1 */
	assert_int_equal(b.group, 1);
	assert_int_equal(b.offset, 64);
	assert_int_equal(iobuf_stream_reserve(s, 24, &c), 0); /* 40 + 24 = 64 in group 1: exactly full */
	assert_int_equal(c.group, 1);
	assert_int_equal(c.offset, 104);
	assert_int_equal(iobuf_stream_reserve(s, 64, &d), 0); /* a whole group */
	assert_int_equal(d.group, 2);
	assert_int_equal(d.offset, 128);
	/* max_records 3: three of one byte fill group 3's records, the fourth goes to group 4. */
	assert_int_equal(iobuf_stream_reserve(s, 1, &e), 0);
	assert_int_equal(e.group, 3);
	assert_int_equal(iobuf_stream_reserve(s, 1, &f), 0);
	assert_int_equal(iobuf_reservation_commit(&f), 0);
	assert_int_equal(iobuf_stream_reserve(s, 1, &f), 0);
	assert_int_equal(iobuf_reservation_commit(&f), 0);
	assert_int_equal(f.group, 3);
	assert_int_equal(f.rec, 2);
	for (struct iobuf_reservation *r = &a; r; r = r == &a ? &b : r == &b ? &c : r == &c ? &d : r == &d ? &e : NULL)
		assert_int_equal(iobuf_reservation_commit(r), 0);
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(g.seq, 0);
	assert_int_equal(g.nrec, 1);
	assert_int_equal(g.slice.len, 40);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(g.seq, 1);
	assert_int_equal(g.offset, 64);
	assert_int_equal(g.nrec, 2);
	assert_int_equal(g.slice.len, 64);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(g.seq, 2);
	assert_int_equal(g.nrec, 1);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	/* Group 3 is full of records but sealed only by the next reservation (or a flush). */
	assert_int_equal(iobuf_stream_poll(s, &g), -EAGAIN);
	assert_int_equal(iobuf_stream_reserve(s, 1, &a), 0);
	assert_int_equal(a.group, 4);
	assert_int_equal(iobuf_reservation_abort(&a), 0);
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(g.seq, 3);
	assert_int_equal(g.nrec, 3);
	assert_int_equal(g.slice.len, 3);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	finish(s, set);
	/* finish() dispatched group 4 (aborted) before -EPIPE: checked in test_abort_report. */
}

static void test_abort_report(void **state)
{
	struct iobuf_set *set = mkset(16);
	struct iobuf_stream *s = mkstream(set, 64, 2, 0, 0, 0);
	struct iobuf_reservation a, b, c;
	struct iobuf_group g;
	struct iobuf_stream_stats st;

	(void)state;
	assert_int_equal(iobuf_stream_reserve(s, 8, &a), 0);
	assert_int_equal(iobuf_stream_reserve(s, 16, &b), 0);
	assert_int_equal(iobuf_stream_reserve(s, 4, &c), 0);
	memset(a.data, 1, 8);
	memset(c.data, 3, 4);
	assert_int_equal(iobuf_reservation_commit(&a), 0);
	assert_int_equal(iobuf_reservation_abort(&b), 0);
	assert_int_equal(iobuf_reservation_abort(&b), -EALREADY);
	assert_int_equal(iobuf_reservation_commit(&b), -EALREADY);
	assert_int_equal(iobuf_reservation_write(&b, 0, "x", 1), -EALREADY);
	assert_int_equal(iobuf_reservation_commit(&c), 0);
	assert_int_equal(iobuf_stream_flush(s), 0);
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(g.nrec, 3);
	assert_int_equal(g.nfailed, 1);
	assert_int_equal(g.slice.len, 28);
	assert_int_equal(g.rec[0].state, IOBUF_RECORD_COMMITTED);
	assert_int_equal(g.rec[1].state, IOBUF_RECORD_ABORTED);
	assert_int_equal(g.rec[1].offset, 8);
	assert_int_equal(g.rec[1].len, 16);
	assert_int_equal(g.rec[2].state, IOBUF_RECORD_COMMITTED);
	assert_int_equal(g.rec[2].offset, 24);
	assert_int_equal(((unsigned char *)iobuf_slice_buf(set, &g.slice))[24], 3);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	assert_int_equal(iobuf_stream_stats(s, &st), 0);
	assert_int_equal(st.committed, 2);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.bytes, 12);
	finish(s, set);
}

/* A reservation left open past the timeout fails at a poll; its late commit and writes are refused. */
static void test_timeout(void **state)
{
	struct iobuf_set *set = mkset(16);
	struct iobuf_stream *s = mkstream(set, 64, 2, 0, 1000000 /* 1 ms */, 0);
	struct iobuf_reservation a, b;
	struct iobuf_group g;

	(void)state;
	assert_int_equal(iobuf_stream_reserve(s, 8, &a), 0);
	assert_int_equal(iobuf_stream_reserve(s, 8, &b), 0);
	assert_int_equal(iobuf_reservation_commit(&b), 0);
	assert_int_equal(iobuf_stream_flush(s), 0);
	poll_one(s, &g);
	assert_int_equal(g.nrec, 2);
	assert_int_equal(g.nfailed, 1);
	assert_int_equal(g.rec[0].state, IOBUF_RECORD_TIMEDOUT);
	assert_int_equal(g.rec[0].offset, 0);
	assert_int_equal(g.rec[0].len, 8);
	assert_int_equal(g.rec[1].state, IOBUF_RECORD_COMMITTED);
	assert_int_equal(iobuf_reservation_write(&a, 0, "x", 1), -ETIMEDOUT);
	assert_int_equal(iobuf_reservation_commit(&a), -ETIMEDOUT);
	assert_int_equal(iobuf_reservation_abort(&a), -ETIMEDOUT);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	/* Once the slot holds another group, a late commit is still refused as timed out. */
	for (int i = 0; i < 8; i++) {
		struct iobuf_reservation r;

		assert_int_equal(iobuf_stream_reserve(s, 64, &r), 0);
		assert_int_equal(iobuf_reservation_commit(&r), 0);
		if (i > 0) {
			poll_one(s, &g);
			assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
		}
	}
	assert_int_equal(iobuf_reservation_commit(&a), -ETIMEDOUT);
	finish(s, set);
}

/* max_delay_ns seals a group without a flush; a waiting consumer gets it. */
static void test_max_delay(void **state)
{
	struct iobuf_set *set = mkset(16);
	struct iobuf_stream *s = mkstream(set, 64, 2, 0, 0, 1000000 /* 1 ms */);
	struct iobuf_reservation a;
	struct iobuf_group g;

	(void)state;
	assert_int_equal(iobuf_stream_wait(s, &g, 0), -ETIMEDOUT);
	assert_int_equal(iobuf_stream_wait(s, &g, 2000000), -ETIMEDOUT);
	assert_int_equal(iobuf_stream_reserve(s, 8, &a), 0);
	assert_int_equal(iobuf_reservation_commit(&a), 0);
	assert_int_equal(iobuf_stream_wait(s, &g, (int64_t)WATCHDOG_NS), 0);
	assert_int_equal(g.nrec, 1);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	finish(s, set);
}

/* finalize with open reservations: they fail as FINALIZED; new ones and late commits are refused. */
static void test_finalize_open(void **state)
{
	struct iobuf_set *set = mkset(16);
	struct iobuf_stream *s = mkstream(set, 64, 2, 0, 0, 0);
	struct iobuf_reservation a, b, c;
	struct iobuf_group g;
	struct iobuf_stream_stats st;

	(void)state;
	assert_int_equal(iobuf_stream_reserve(s, 60, &a), 0);
	assert_int_equal(iobuf_stream_reserve(s, 10, &b), 0); /* group 1 */
	assert_int_equal(iobuf_stream_reserve(s, 10, &c), 0);
	assert_int_equal(iobuf_reservation_commit(&a), 0);
	assert_int_equal(iobuf_reservation_commit(&c), 0);
	assert_int_equal(iobuf_stream_destroy(s), -EBUSY);
	assert_int_equal(iobuf_stream_finalize(s), 0);
	assert_int_equal(iobuf_stream_destroy(s), -EBUSY); /* not drained */
	assert_int_equal(iobuf_stream_reserve(s, 1, &a), -EPIPE);
	assert_int_equal(iobuf_reservation_commit(&b), -EPIPE);
	assert_int_equal(iobuf_reservation_write(&b, 0, "x", 1), -EPIPE);
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(g.seq, 0);
	assert_int_equal(g.nfailed, 0);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(g.seq, 1);
	assert_int_equal(g.nrec, 2);
	assert_int_equal(g.nfailed, 1);
	assert_int_equal(g.rec[0].state, IOBUF_RECORD_FINALIZED);
	assert_int_equal(g.rec[0].offset, 64);
	assert_int_equal(g.rec[0].len, 10);
	assert_int_equal(g.rec[1].state, IOBUF_RECORD_COMMITTED);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	assert_int_equal(iobuf_stream_poll(s, &g), -EPIPE);
	assert_int_equal(iobuf_stream_poll(s, &g), -EPIPE);
	assert_int_equal(iobuf_stream_wait(s, &g, -1), -EPIPE);
	assert_int_equal(iobuf_stream_stats(s, &st), 0);
	assert_int_equal(st.groups, 2);
	assert_int_equal(st.committed, 2);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.bytes, 70);
	assert_int_equal(iobuf_stream_destroy(s), 0);
	assert_int_equal(in_use(set, IOBUF_TIER_NANO), 0);
	iobuf_set_destroy(set);
}

/* A consumer that lags: reservations are refused with -ENOBUFS and counted, until it catches up. */
static void test_lost(void **state)
{
	struct iobuf_set *set = mkset(16);
	struct iobuf_stream *s = mkstream(set, 64, 2, 0, 0, 0);
	struct iobuf_reservation r;
	struct iobuf_group g;
	struct iobuf_stream_stats st;

	(void)state;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(iobuf_stream_reserve(s, 64, &r), 0);
		assert_int_equal(iobuf_reservation_commit(&r), 0);
	}
	/* Groups 0 and 1 full; group 2's slot still holds group 0. */
	assert_int_equal(iobuf_stream_reserve(s, 1, &r), -ENOBUFS);
	assert_int_equal(iobuf_stream_reserve(s, 1, &r), -ENOBUFS);
	assert_int_equal(iobuf_stream_stats(s, &st), 0);
	assert_int_equal(st.lost, 2);
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(g.seq, 0);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	assert_int_equal(iobuf_stream_reserve(s, 1, &r), 0);
	assert_int_equal(r.group, 2);
	assert_int_equal(iobuf_reservation_commit(&r), 0);
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(g.seq, 1);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	assert_int_equal(iobuf_stream_finalize(s), 0);
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(g.seq, 2);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	finish(s, set);
}

/* The set has no buffer for a recycled slot while the consumer holds the groups: -ENOBUFS, then it recovers. */
static void test_set_empty(void **state)
{
	struct iobuf_set *set = mkset(2);
	struct iobuf_stream *s = mkstream(set, 64, 2, 0, 0, 0);
	struct iobuf_reservation r;
	struct iobuf_group g0, g1;

	(void)state;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(iobuf_stream_reserve(s, 64, &r), 0);
		assert_int_equal(iobuf_reservation_commit(&r), 0);
	}
	assert_int_equal(iobuf_stream_flush(s), 0);
	assert_int_equal(iobuf_stream_poll(s, &g0), 0);
	assert_int_equal(iobuf_stream_poll(s, &g1), 0);
	assert_int_equal(iobuf_stream_reserve(s, 1, &r), -ENOBUFS);
	assert_int_equal(iobuf_stream_poll(s, &g0 /* unused on -EAGAIN */), -EAGAIN);
	assert_int_equal(iobuf_slice_put(set, &g0.slice), 0);
	assert_int_equal(iobuf_slice_put(set, &g1.slice), 0);
	assert_int_equal(iobuf_stream_reserve(s, 1, &r), -ENOBUFS); /* the slot gets its buffer at a poll */
	assert_int_equal(iobuf_stream_poll(s, &g0), -EAGAIN);
	assert_int_equal(iobuf_stream_reserve(s, 1, &r), 0);
	assert_int_equal(r.group, 2);
	assert_int_equal(iobuf_reservation_commit(&r), 0);
	assert_int_equal(iobuf_stream_finalize(s), 0);
	assert_int_equal(iobuf_stream_poll(s, &g0), 0);
	assert_int_equal(iobuf_slice_put(set, &g0.slice), 0);
	finish(s, set);
}

/* The ready fd: written by the seal after a poll found nothing. */
static void test_ready_fd(void **state)
{
	struct iobuf_set *set = mkset(16);
	struct iobuf_stream *s = mkstream(set, 64, 2, 0, 0, 0);
	struct iobuf_reservation r;
	struct iobuf_group g;
	struct pollfd p;
	uint64_t v;
	int fd = iobuf_stream_ready_fd(s);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(iobuf_stream_ready_fd(s), fd);
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	assert_int_equal(iobuf_stream_poll(s, &g), -EAGAIN); /* arms */
	assert_int_equal(iobuf_stream_reserve(s, 4, &r), 0);
	assert_int_equal(iobuf_reservation_commit(&r), 0);
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(iobuf_stream_flush(s), 0);
	assert_int_equal(poll(&p, 1, 0), 1);
	assert_int_equal(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	/* Armed again by -EAGAIN; a commit that ends a sealed group writes it. */
	assert_int_equal(iobuf_stream_reserve(s, 4, &r), 0);
	assert_int_equal(iobuf_stream_flush(s), 0);
	assert_int_equal(iobuf_stream_poll(s, &g), -EAGAIN);
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(iobuf_reservation_commit(&r), 0);
	assert_int_equal(poll(&p, 1, 0), 1);
	assert_int_equal(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	assert_int_equal(iobuf_stream_poll(s, &g), 0);
	assert_int_equal(iobuf_slice_put(set, &g.slice), 0);
	/* finalize writes it. */
	assert_int_equal(iobuf_stream_finalize(s), 0);
	assert_int_equal(poll(&p, 1, 0), 1);
	finish(s, set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_refusals),
		cmocka_unit_test(test_null_refusals),
		cmocka_unit_test(test_commit_and_flush),
		cmocka_unit_test(test_spill_and_exact_seal),
		cmocka_unit_test(test_abort_report),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_max_delay),
		cmocka_unit_test(test_finalize_open),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_set_empty),
		cmocka_unit_test(test_ready_fd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
