/* SPDX-License-Identifier: MIT */
/*
 * test_slice.c - shared buffers on one thread (iobuf/slice.h): holders,
 * lengths, slices, iovecs of slices and the reads that fill them.  The
 * races are in tests/stress/stress_shared.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include <iobuf/cache.h>
#include <iobuf/iov.h>
#include <iobuf/pool.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

static struct iobuf_set *small_set(void)
{
	struct iobuf_set_config cfg = {.capacity = {[IOBUF_TIER_NANO] = 64, [IOBUF_TIER_SMALL] = 64}};
	struct iobuf_set *s = iobuf_set_create(&cfg, NULL);

	assert_non_null(s);
	return s;
}

static uint32_t in_use(const struct iobuf_set *s, int tier, uint32_t *shared)
{
	struct iobuf_pool_stats st;

	assert_int_equal(iobuf_pool_stats(iobuf_set_pool(s, tier), &st), 0);
	if (shared)
		*shared = st.shared;
	return st.in_use;
}

/* ---- holders ------------------------------------------------------------------------ */

/* Three holders: two puts keep the buffer, the third returns it, a fourth is a double put. */
static void test_hold_and_put(void **state)
{
	struct iobuf_set *s = small_set();
	iobuf_handle_t h;
	uint32_t shared;

	(void)state;
	assert_int_equal(iobuf_get(s, 64, &h), 0);
	assert_int_equal(iobuf_holders(s, h), 1);
	assert_int_equal(in_use(s, IOBUF_TIER_NANO, &shared), 1);
	assert_int_equal(shared, 0);
	assert_int_equal(iobuf_hold(s, h, 2), 0);
	assert_int_equal(iobuf_holders(s, h), 3);
	assert_int_equal(in_use(s, IOBUF_TIER_NANO, &shared), 1);
	assert_int_equal(shared, 1);
	assert_int_equal(iobuf_put(s, h), 0);
	assert_non_null(iobuf_buf(s, h));
	assert_int_equal(iobuf_put(s, h), 0);
	assert_int_equal(iobuf_holders(s, h), 1);
	assert_int_equal(in_use(s, IOBUF_TIER_NANO, &shared), 1);
	assert_int_equal(shared, 0);
	assert_int_equal(iobuf_put(s, h), 0);
	assert_null(iobuf_buf(s, h));
	assert_int_equal(in_use(s, IOBUF_TIER_NANO, NULL), 0);
	assert_int_equal(iobuf_put(s, h), -EALREADY);
	assert_int_equal(iobuf_holders(s, h), -EALREADY);
	iobuf_set_destroy(s);
}

/* Every refusal of a hold, and none of them changes the count. */
static void test_hold_refused(void **state)
{
	struct iobuf_set *s = small_set(), *other = small_set();
	iobuf_handle_t h, h2, ho;

	(void)state;
	assert_int_equal(iobuf_get(s, 64, &h), 0);
	assert_int_equal(iobuf_get(other, 64, &ho), 0);
	assert_int_equal(iobuf_hold(s, h, 0), -EINVAL);
	assert_int_equal(iobuf_hold(NULL, h, 1), -EINVAL);
	assert_int_equal(iobuf_hold(s, ho, 1), -EINVAL);
	assert_int_equal(iobuf_holders(s, ho), -EINVAL);
	assert_int_equal(iobuf_hold(s, IOBUF_HANDLE_NONE, 1), -EINVAL);
	assert_int_equal(iobuf_pool_hold(NULL, h, 1), -EINVAL);
	assert_int_equal(iobuf_holders(s, h), 1);
	assert_int_equal(iobuf_holders(other, ho), 1);
	assert_int_equal(iobuf_put(s, h), 0);
	assert_int_equal(iobuf_hold(s, h, 1), -EALREADY);
	/* Handed out again: the old handle is stale, and adds nothing to the new owner's count. */
	for (;;) {
		assert_int_equal(iobuf_get(s, 64, &h2), 0);
		if (iobuf_handle_index(h2) == iobuf_handle_index(h))
			break;
		assert_int_equal(iobuf_put(s, h2), 0);
	}
	assert_int_equal(iobuf_hold(s, h, 1), -ESTALE);
	assert_int_equal(iobuf_holders(s, h), -ESTALE);
	assert_int_equal(iobuf_holders(s, h2), 1);
	assert_int_equal(iobuf_put(s, h2), 0);
	assert_int_equal(iobuf_put(other, ho), 0);
	iobuf_set_destroy(s);
	iobuf_set_destroy(other);
}

/* At IOBUF_HOLDERS_MAX holders one more is refused (the count is set in the slot word to get there). */
static void test_hold_overflow(void **state)
{
	struct iobuf_pool_config cfg = {.buf_size = 64, .capacity = 4};
	struct iobuf_pool *p = iobuf_pool_create(&cfg, NULL);
	const struct iobuf_pool_shape *shape = (const struct iobuf_pool_shape *)(const void *)p;
	iobuf_handle_t h;
	iobuf__slot_t *w;

	(void)state;
	assert_non_null(p);
	assert_int_equal(iobuf_pool_get(p, &h), 0);
	w = &shape->slot[iobuf_handle_index(h)];
	assert_int_equal(iobuf_pool_hold(p, h, IOBUF_HOLDERS_MAX), -EOVERFLOW);
	assert_int_equal(iobuf_pool_hold(p, h, UINT32_C(0x80000000)), -EOVERFLOW); /* no wrap of the limit */
	assert_int_equal(iobuf_pool_hold(p, h, UINT32_MAX), -EOVERFLOW);
	assert_int_equal(iobuf_pool_holders(p, h), 1);
	assert_int_equal(iobuf_pool_hold(p, h, IOBUF_HOLDERS_MAX - 2), 0);
	assert_int_equal(iobuf_pool_holders(p, h), (int)IOBUF_HOLDERS_MAX - 1);
	assert_int_equal(iobuf_pool_hold(p, h, 2), -EOVERFLOW);
	assert_int_equal(iobuf_pool_hold(p, h, 1), 0);
	assert_int_equal(iobuf_pool_holders(p, h), (int)IOBUF_HOLDERS_MAX);
	assert_int_equal(iobuf_pool_hold(p, h, 1), -EOVERFLOW);
	assert_int_equal(iobuf_pool_holders(p, h), (int)IOBUF_HOLDERS_MAX);
	/* Back to one holder by hand (2^31 puts would take a while), then the last put frees it. */
	__atomic_store_n(w, (iobuf__slot_t)iobuf_handle_generation(h), __ATOMIC_RELAXED);
	assert_int_equal(iobuf_pool_put(p, h), 0);
	assert_int_equal(iobuf_pool_put(p, h), -EALREADY);
	iobuf_pool_destroy(p);
}

/* Holders drop through a cache and by raw index; only the last put gives the buffer to the cache. */
static void test_hold_cache_and_index(void **state)
{
	struct iobuf_pool_config cfg = {.buf_size = 64, .capacity = 64};
	struct iobuf_pool *p = iobuf_pool_create(&cfg, NULL);
	struct iobuf_cache *c;
	iobuf_handle_t h;
	int before;

	(void)state;
	assert_non_null(p);
	c = iobuf_cache_create_pool(p, NULL, NULL);
	assert_non_null(c);
	assert_int_equal(iobuf_cache_get(c, 64, &h), 0);
	assert_int_equal(iobuf_pool_hold(p, h, 2), 0);
	before = iobuf_cache_count(c, 0);
	assert_int_equal(iobuf_cache_put(c, h), 0);
	assert_int_equal(iobuf_cache_count(c, 0), before);
	assert_int_equal(iobuf_pool_holders(p, h), 2);
	assert_int_equal(iobuf_cache_put_index(c, iobuf_handle_index(h)), 0);
	assert_int_equal(iobuf_cache_count(c, 0), before);
	assert_int_equal(iobuf_pool_holders(p, h), 1);
	assert_non_null(iobuf_cache_buf(c, h));
	assert_int_equal(iobuf_cache_put(c, h), 0);
	assert_int_equal(iobuf_cache_count(c, 0), before + 1);
	assert_int_equal(iobuf_cache_put(c, h), -EALREADY);
	/* The pool's own raw-index put drops one holder too. */
	assert_int_equal(iobuf_pool_get(p, &h), 0);
	assert_int_equal(iobuf_pool_hold(p, h, 1), 0);
	assert_int_equal(iobuf_pool_put_index(p, iobuf_handle_index(h)), 0);
	assert_int_equal(iobuf_pool_holders(p, h), 1);
	assert_int_equal(iobuf_pool_put_index(p, iobuf_handle_index(h)), 0);
	assert_int_equal(iobuf_pool_put_index(p, iobuf_handle_index(h)), -EALREADY);
	iobuf_cache_destroy(c);
	iobuf_pool_destroy(p);
}

/* ---- lengths ------------------------------------------------------------------------- */

static void test_lengths(void **state)
{
	struct iobuf_set *s = small_set();
	iobuf_handle_t h, h2;

	(void)state;
	assert_int_equal(iobuf_get(s, 64, &h), 0);
	assert_int_equal(iobuf_len(s, h), 0);
	assert_int_equal(iobuf_setlen(s, h, 40), 0);
	assert_int_equal(iobuf_len(s, h), 40);
	assert_int_equal(iobuf_setlen(s, h, 65), -EMSGSIZE);
	assert_int_equal(iobuf_len(s, h), 40);
	assert_int_equal(iobuf_setlen(s, h, 64), 0);
	assert_int_equal(iobuf_len(s, h), 64);
	assert_int_equal(iobuf_setlen(NULL, h, 1), -EINVAL);
	assert_int_equal(iobuf_len(NULL, h), -EINVAL);
	assert_int_equal(iobuf_put(s, h), 0);
	assert_int_equal(iobuf_len(s, h), -EALREADY);
	assert_int_equal(iobuf_setlen(s, h, 3), -EALREADY);
	/* The next hand-out of the same buffer starts at 0, and a stale handle cannot write its length. */
	for (;;) {
		assert_int_equal(iobuf_get(s, 64, &h2), 0);
		if (iobuf_handle_index(h2) == iobuf_handle_index(h))
			break;
		assert_int_equal(iobuf_setlen(s, h2, 1), 0);
		assert_int_equal(iobuf_put(s, h2), 0);
	}
	assert_int_equal(iobuf_len(s, h2), 0);
	assert_int_equal(iobuf_setlen(s, h, 9), -ESTALE);
	assert_int_equal(iobuf_len(s, h2), 0);
	assert_int_equal(iobuf_setlen(s, h2, 7), 0);
	assert_int_equal(iobuf_setlen(s, h, 9), -ESTALE);
	assert_int_equal(iobuf_len(s, h2), 7);
	/* Other holders see it. */
	assert_int_equal(iobuf_hold(s, h2, 1), 0);
	assert_int_equal(iobuf_put(s, h2), 0);
	assert_int_equal(iobuf_len(s, h2), 7);
	assert_int_equal(iobuf_put(s, h2), 0);
	iobuf_set_destroy(s);
}

/* ---- slices --------------------------------------------------------------------------- */

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i * 7);
}

static void test_slices(void **state)
{
	struct iobuf_set *s = small_set();
	struct iobuf_slice a, b, c, none = IOBUF_SLICE_NONE;
	iobuf_handle_t h;
	uint8_t *buf;

	(void)state;
	assert_int_equal(iobuf_get(s, 1024, &h), 0);
	buf = iobuf_buf(s, h);
	fill(buf, 1000, 3);
	assert_int_equal(iobuf_setlen(s, h, 1000), 0);
	assert_int_equal(iobuf_slice_from(s, h, &a), 0);
	assert_true(a.h == h && a.off == 0 && a.len == 1000);
	assert_true(sizeof(struct iobuf_slice) == 16);
	/* split: both halves share the buffer, the tail holds its own holder */
	assert_int_equal(iobuf_slice_split(s, &a, 1001, &b), -ERANGE);
	assert_true(b.h == IOBUF_HANDLE_NONE && a.len == 1000);
	assert_int_equal(iobuf_holders(s, h), 1);
	assert_int_equal(iobuf_slice_split(s, &a, 300, &b), 0);
	assert_true(a.off == 0 && a.len == 300 && b.off == 300 && b.len == 700);
	assert_int_equal(iobuf_holders(s, h), 2);
	assert_ptr_equal(iobuf_slice_buf(s, &b), buf + 300);
	/* trims */
	assert_int_equal(iobuf_slice_trim_front(&b, 701), -ERANGE);
	assert_int_equal(iobuf_slice_trim_back(&b, 701), -ERANGE);
	assert_int_equal(iobuf_slice_trim_front(&b, 100), 0);
	assert_int_equal(iobuf_slice_trim_back(&b, 50), 0);
	assert_true(b.off == 400 && b.len == 550);
	/* clone */
	assert_int_equal(iobuf_slice_clone(s, &b, &c), 0);
	assert_int_equal(iobuf_holders(s, h), 3);
	assert_true(c.h == b.h && c.off == b.off && c.len == b.len);
	/* puts: the buffer stays until the last */
	assert_int_equal(iobuf_slice_put(s, &a), 0);
	assert_true(a.h == IOBUF_HANDLE_NONE);
	assert_int_equal(iobuf_slice_put(s, &a), -EINVAL);
	assert_int_equal(iobuf_slice_put(s, &none), -EINVAL);
	assert_int_equal(iobuf_slice_put(s, &c), 0);
	assert_non_null(iobuf_slice_buf(s, &b));
	assert_memory_equal(iobuf_slice_buf(s, &b), buf + 400, 550);
	{
		struct iobuf_slice keep = b;

		assert_int_equal(iobuf_slice_put(s, &b), 0);
		assert_null(iobuf_slice_buf(s, &keep));
		/* A slice of a free buffer splits and clones into nothing, and nothing changes. */
		assert_int_equal(iobuf_slice_split(s, &keep, 10, &c), -EALREADY);
		assert_true(keep.len == 550 && c.h == IOBUF_HANDLE_NONE);
		assert_int_equal(iobuf_slice_clone(s, &keep, &c), -EALREADY);
		assert_true(c.h == IOBUF_HANDLE_NONE);
		assert_int_equal(iobuf_slice_from(s, keep.h, &c), -EALREADY);
	}
	assert_int_equal(in_use(s, IOBUF_TIER_SMALL, NULL), 0);
	assert_int_equal(iobuf_slice_from(s, h, NULL), -EINVAL);
	assert_int_equal(iobuf_slice_split(s, NULL, 0, &c), -EINVAL);
	assert_int_equal(iobuf_slice_clone(s, NULL, &c), -EINVAL);
	assert_null(iobuf_slice_buf(s, NULL));
	assert_int_equal(iobuf_slice_put(s, NULL), -EINVAL);
	assert_int_equal(iobuf_slices_put(s, NULL, 1), -EINVAL);
	assert_int_equal(iobuf_slices_put(s, &c, -1), -EINVAL);
	iobuf_set_destroy(s);
}

/* A message that starts inside one read buffer and ends in the next is written with writev, no copy. */
static void test_iov_from_slices_and_consume(void **state)
{
	struct iobuf_set *s = small_set();
	struct iobuf_slice sl[3], tail;
	struct iovec iov[3];
	iobuf_handle_t h1, h2;
	uint8_t want[1324], got[1324];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(iobuf_get(s, 1024, &h1), 0);
	assert_int_equal(iobuf_get(s, 1024, &h2), 0);
	fill(iobuf_buf(s, h1), 1024, 1);
	fill(iobuf_buf(s, h2), 1024, 2);
	assert_int_equal(iobuf_setlen(s, h1, 1024), 0);
	assert_int_equal(iobuf_setlen(s, h2, 1024), 0);
	assert_int_equal(iobuf_slice_from(s, h1, &sl[0]), 0);
	assert_int_equal(iobuf_slice_from(s, h2, &sl[1]), 0);
	/* The message is h1[700..1024) + h2[0..1000); h1[0..700) and h2's rest stay with other owners. */
	assert_int_equal(iobuf_slice_split(s, &sl[0], 700, &tail), 0);
	assert_int_equal(iobuf_slice_put(s, &sl[0]), 0);
	sl[0] = tail;
	assert_int_equal(iobuf_slice_split(s, &sl[1], 1000, &tail), 0);
	sl[2] = tail;
	assert_int_equal(iobuf_iov_from_slices(s, sl, 2, iov), 2);
	assert_ptr_equal(iov[0].iov_base, (uint8_t *)iobuf_buf(s, h1) + 700);
	assert_int_equal(iov[0].iov_len, 324);
	assert_ptr_equal(iov[1].iov_base, iobuf_buf(s, h2));
	assert_int_equal(iov[1].iov_len, 1000);
	memcpy(want, (uint8_t *)iobuf_buf(s, h1) + 700, 324);
	memcpy(want + 324, iobuf_buf(s, h2), 1000);
	assert_int_equal(writev(sv[0], iov, 2), 1324);
	assert_int_equal(read(sv[1], got, sizeof(got)), 1324);
	assert_memory_equal(got, want, 1324);
	/* A short write of 500 bytes: the first slice is done and put, the second trimmed. */
	assert_int_equal(iobuf_slices_consume(s, sl, 2, 2000), -ERANGE);
	assert_int_equal(iobuf_holders(s, h1), 1);
	assert_int_equal(iobuf_slices_consume(s, sl, 2, 500), 1);
	assert_int_equal(iobuf_holders(s, h1), -EALREADY); /* its last slice went */
	assert_true(sl[1].off == 176 && sl[1].len == 824);
	assert_int_equal(iobuf_slices_consume(s, &sl[1], 1, 824), 1);
	assert_int_equal(iobuf_holders(s, h2), 1);
	assert_int_equal(iobuf_slices_consume(s, &sl[1], 0, 0), 0);
	assert_int_equal(iobuf_slices_consume(s, NULL, 1, 0), -EINVAL);
	/* Bad slices: beyond the buffer, a free buffer, another set. */
	{
		struct iobuf_slice bad = sl[2];

		bad.len = 25;
		assert_int_equal(iobuf_iov_from_slices(s, &bad, 1, iov), -EINVAL);
		bad = sl[1];
		assert_int_equal(iobuf_iov_from_slices(s, &bad, 1, iov), -EINVAL);
		assert_int_equal(iobuf_iov_from_slices(NULL, &sl[2], 1, iov), -EINVAL);
		assert_int_equal(iobuf_iov_from_slices(s, &sl[2], -1, iov), -EINVAL);
	}
	assert_int_equal(iobuf_slices_put(s, &sl[2], 1), 0);
	assert_int_equal(in_use(s, IOBUF_TIER_SMALL, NULL), 0);
	close(sv[0]);
	close(sv[1]);
	iobuf_set_destroy(s);
}

/* A stale handle's setlen that raced the last put and the next get cannot touch the later hand-out's length. */
static void test_setlen_stale_race(void **state)
{
	struct iobuf_pool_config cfg = {.buf_size = 64, .capacity = 1};
	struct iobuf_pool *p = iobuf_pool_create(&cfg, NULL);
	const struct iobuf_pool_shape *shape = (const struct iobuf_pool_shape *)(const void *)p;
	iobuf_handle_t h1, h2;
	iobuf__slot_t *w;

	(void)state;
	assert_non_null(p);
	assert_int_equal(iobuf_pool_len(NULL, IOBUF_HANDLE_NONE), -EINVAL);
	assert_int_equal(iobuf_pool_setlen(NULL, IOBUF_HANDLE_NONE, 0), -EINVAL);
	assert_int_equal(iobuf_pool_get(p, &h1), 0);
	w = &shape->slot[iobuf_handle_index(h1)];
	assert_int_equal(iobuf_pool_setlen(p, h1, 65), -EMSGSIZE);
	assert_int_equal(iobuf_pool_setlen(p, h1, 5), 0);
	assert_int_equal(iobuf_pool_len(p, h1), 5);
	assert_int_equal(iobuf_pool_put(p, h1), 0);
	assert_int_equal(iobuf_pool_get(p, &h2), 0);
	assert_int_equal(iobuf_handle_index(h2), iobuf_handle_index(h1));
	/* h1's call found its slot live (the slot is set back to say so), then the buffer moved on: it records
	 * for its own hand-out, which nobody reads; h2 still reads 0 and its own record replaces it. */
	__atomic_store_n(w, (iobuf__slot_t)iobuf_handle_generation(h1), __ATOMIC_RELAXED);
	assert_int_equal(iobuf_pool_setlen(p, h1, 9), 0);
	__atomic_store_n(w, (iobuf__slot_t)iobuf_handle_generation(h2), __ATOMIC_RELAXED);
	assert_int_equal(iobuf_pool_len(p, h2), 0);
	assert_int_equal(iobuf_pool_setlen(p, h2, 7), 0);
	assert_int_equal(iobuf_pool_len(p, h2), 7);
	/* Once h2 recorded a length, the same stale call is refused and h2's length stands. */
	__atomic_store_n(w, (iobuf__slot_t)iobuf_handle_generation(h1), __ATOMIC_RELAXED);
	assert_int_equal(iobuf_pool_setlen(p, h1, 9), -ESTALE);
	__atomic_store_n(w, (iobuf__slot_t)iobuf_handle_generation(h2), __ATOMIC_RELAXED);
	assert_int_equal(iobuf_pool_len(p, h2), 7);
	assert_int_equal(iobuf_pool_put(p, h2), 0);
	iobuf_pool_destroy(p);
}

/* A put that drops one of several holders counts no put; the last one does. */
static void test_shared_stats(void **state)
{
	struct iobuf_set *s = small_set();
	struct iobuf_pool_stats st;
	iobuf_handle_t h;
	uint64_t puts;

	(void)state;
	assert_int_equal(iobuf_get(s, 64, &h), 0);
	assert_int_equal(iobuf_hold(s, h, 2), 0);
	assert_int_equal(iobuf_pool_stats(iobuf_set_pool(s, IOBUF_TIER_NANO), &st), 0);
	puts = st.puts;
	assert_int_equal(iobuf_put(s, h), 0);
	assert_int_equal(iobuf_put(s, h), 0);
	assert_int_equal(iobuf_pool_stats(iobuf_set_pool(s, IOBUF_TIER_NANO), &st), 0);
	assert_int_equal(st.puts, puts);
	assert_int_equal(st.in_use, 1);
	assert_int_equal(st.shared, 0);
	assert_int_equal(iobuf_put(s, h), 0);
	assert_int_equal(iobuf_pool_stats(iobuf_set_pool(s, IOBUF_TIER_NANO), &st), 0);
	assert_int_equal(st.puts, puts + 1);
	assert_int_equal(st.in_use, 0);
	iobuf_set_destroy(s);
}

/* Splits at either end, refusals that leave slices alone, and empty slices. */
static void test_slice_edges(void **state)
{
	struct iobuf_set *s = small_set();
	struct iobuf_slice a, b, c, sl[3], keep;
	struct iovec iov[3];
	iobuf_handle_t h, h2;

	(void)state;
	assert_int_equal(iobuf_get(s, 1024, &h), 0);
	assert_int_equal(iobuf_setlen(s, h, 100), 0);
	assert_int_equal(iobuf_slice_from(s, h, &a), 0);
	/* at 0: the head is empty; at the length: the tail is; each still holds the buffer */
	assert_int_equal(iobuf_slice_split(s, &a, 0, &b), 0);
	assert_true(a.len == 0 && b.off == 0 && b.len == 100);
	assert_int_equal(iobuf_slice_split(s, &b, 100, &c), 0);
	assert_true(b.len == 100 && c.off == 100 && c.len == 0);
	assert_int_equal(iobuf_holders(s, h), 3);
	/* iovecs: n 0 takes NULLs; a bad slice leaves the entries before it */
	assert_int_equal(iobuf_iov_from_slices(s, NULL, 0, NULL), 0);
	sl[0] = b;
	sl[1] = IOBUF_SLICE_NONE;
	memset(iov, 0, sizeof(iov));
	assert_int_equal(iobuf_iov_from_slices(s, sl, 2, iov), -EINVAL);
	assert_ptr_equal(iov[0].iov_base, iobuf_buf(s, h));
	assert_int_equal(iov[0].iov_len, 100);
	/* slices_put: a refused slice does not stop the others, and is left as it was */
	sl[0] = a;
	sl[1] = IOBUF_SLICE_NONE;
	sl[1].len = 5;
	sl[2] = c;
	assert_int_equal(iobuf_slices_put(s, sl, 3), -EINVAL);
	assert_true(sl[0].h == IOBUF_HANDLE_NONE && sl[2].h == IOBUF_HANDLE_NONE && sl[1].len == 5);
	assert_int_equal(iobuf_holders(s, h), 1);
	/* consume: an empty slice in front of the bytes is whole, and is put */
	assert_int_equal(iobuf_get(s, 1024, &h2), 0);
	assert_int_equal(iobuf_slice_from(s, h2, &sl[0]), 0); /* a fresh buffer: length 0 */
	assert_int_equal(sl[0].len, 0);
	sl[1] = b;
	assert_int_equal(iobuf_slices_consume(s, sl, 2, 0), 1);
	assert_true(sl[0].h == IOBUF_HANDLE_NONE);
	assert_int_equal(iobuf_holders(s, h2), -EALREADY);
	/* consume: a refused put stops it; the slices before are put, the rest untouched */
	keep = b; /* a copy, which holds nothing */
	assert_int_equal(iobuf_slice_put(s, &b), 0); /* the last holder of h: free */
	assert_int_equal(iobuf_get(s, 1024, &h2), 0);
	assert_int_equal(iobuf_setlen(s, h2, 100), 0);
	assert_int_equal(iobuf_slice_from(s, h2, &sl[0]), 0);
	sl[1] = keep;
	sl[2] = keep;
	assert_int_equal(iobuf_slices_consume(s, sl, 3, 250), -EALREADY);
	assert_true(sl[0].h == IOBUF_HANDLE_NONE);
	assert_int_equal(iobuf_holders(s, h2), -EALREADY);
	assert_true(sl[1].h == keep.h && sl[1].off == keep.off && sl[1].len == keep.len);
	assert_true(sl[2].h == keep.h && sl[2].len == keep.len);
	/* slice_from refused: *s is IOBUF_SLICE_NONE */
	a = keep;
	assert_int_equal(iobuf_slice_from(s, h, &a), -EALREADY);
	assert_true(a.h == IOBUF_HANDLE_NONE && a.off == 0 && a.len == 0);
	assert_int_equal(in_use(s, IOBUF_TIER_SMALL, NULL), 0);
	iobuf_set_destroy(s);
}

/* ---- reads that fill buffers ----------------------------------------------------------- */

static void test_readv_records_lengths(void **state)
{
	struct iobuf_set *s = small_set();
	iobuf_handle_t hs[8];
	uint8_t data[3000];
	int sv[2], kept;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fill(data, sizeof(data), 5);
	assert_int_equal(write(sv[0], data, sizeof(data)), 3000);
	assert_int_equal(iobuf_readv_pooled(s, sv[1], IOBUF_TIER_SMALL, hs, 8, &kept), 3000);
	assert_int_equal(kept, 3);
	assert_int_equal(iobuf_len(s, hs[0]), 1024);
	assert_int_equal(iobuf_len(s, hs[1]), 1024);
	assert_int_equal(iobuf_len(s, hs[2]), 952);
	assert_memory_equal(iobuf_buf(s, hs[2]), data + 2048, 952);
	for (int i = 0; i < kept; i++)
		assert_int_equal(iobuf_put(s, hs[i]), 0);
	assert_int_equal(in_use(s, IOBUF_TIER_SMALL, NULL), 0);
	close(sv[0]);
	close(sv[1]);
	iobuf_set_destroy(s);
}

static void test_cache_readv(void **state)
{
	struct iobuf_set *s = small_set();
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
	struct iobuf_pool_config pcfg = {.buf_size = 64, .capacity = 16};
	struct iobuf_pool *p = iobuf_pool_create(&pcfg, NULL);
	struct iobuf_cache *cp = iobuf_cache_create_pool(p, NULL, NULL);
	struct iobuf_slice sl[64];
	uint8_t data[5000], back[5000];
	size_t at = 0;
	int sv[2], kept;
	ssize_t r;

	(void)state;
	assert_non_null(c);
	assert_non_null(cp);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	fill(data, sizeof(data), 9);
	assert_int_equal(write(sv[0], data, sizeof(data)), 5000);
	r = iobuf_cache_readv(c, sv[1], IOBUF_TIER_SMALL, sl, 8, &kept);
	assert_int_equal(r, 5000);
	assert_int_equal(kept, 5);
	for (int i = 0; i < kept; i++) {
		assert_int_equal(sl[i].off, 0);
		assert_int_equal(sl[i].len, i < 4 ? 1024 : 904);
		assert_int_equal(iobuf_len(s, sl[i].h), sl[i].len);
		memcpy(back + at, iobuf_slice_buf(s, &sl[i]), sl[i].len);
		at += sl[i].len;
	}
	assert_memory_equal(back, data, 5000);
	assert_int_equal(in_use(s, IOBUF_TIER_SMALL, NULL), 5); /* the three unused went back to the cache */
	assert_int_equal(iobuf_slices_put(s, sl, kept), 0);
	assert_int_equal(in_use(s, IOBUF_TIER_SMALL, NULL), 0);
	/* Nothing to read: the errno, nothing held. */
	assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_SMALL, sl, 8, &kept), -EAGAIN);
	assert_int_equal(kept, 0);
	assert_int_equal(in_use(s, IOBUF_TIER_SMALL, NULL), 0);
	/* End of file. */
	close(sv[0]);
	assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_SMALL, sl, 8, &kept), 0);
	assert_int_equal(kept, 0);
	assert_int_equal(in_use(s, IOBUF_TIER_SMALL, NULL), 0);
	/* Bad arguments. */
	assert_int_equal(iobuf_cache_readv(NULL, sv[1], IOBUF_TIER_SMALL, sl, 8, &kept), -EINVAL);
	assert_int_equal(iobuf_cache_readv(cp, sv[1], 0, sl, 8, &kept), -EINVAL);
	assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_MEDIUM, sl, 8, &kept), -EINVAL); /* absent tier */
	assert_int_equal(iobuf_cache_readv(c, sv[1], 8, sl, 8, &kept), -EINVAL);
	assert_int_equal(iobuf_cache_readv(c, sv[1], -1, sl, 8, &kept), -EINVAL);
	assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_SMALL, sl, 0, &kept), -EINVAL);
	assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_SMALL, sl, 65, &kept), -EINVAL);
	assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_SMALL, NULL, 8, &kept), -EINVAL);
	assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_SMALL, sl, 8, NULL), -EINVAL);
	assert_int_equal(iobuf_cache_readv(c, -1, IOBUF_TIER_SMALL, sl, 8, &kept), -EBADF);
	assert_int_equal(in_use(s, IOBUF_TIER_SMALL, NULL), 0);
	assert_int_equal(iobuf_cache_park(c), 0);
	assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_SMALL, sl, 8, &kept), -EBUSY);
	assert_int_equal(iobuf_cache_unpark(c), 0);
	close(sv[1]);
	iobuf_cache_destroy(c);
	iobuf_cache_destroy(cp);
	iobuf_pool_destroy(p);
	iobuf_set_destroy(s);
}

/* An empty tier is -ENOBUFS, and a tier with fewer free buffers than asked reads into what it has. */
static void test_cache_readv_empty(void **state)
{
	struct iobuf_set_config cfg = {.capacity = {[IOBUF_TIER_NANO] = 4}};
	struct iobuf_set *s = iobuf_set_create(&cfg, NULL);
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
	struct iobuf_slice sl[8];
	iobuf_handle_t hs[4];
	uint8_t data[400];
	int sv[2], kept;

	(void)state;
	assert_non_null(c);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fill(data, sizeof(data), 1);
	assert_int_equal(write(sv[0], data, sizeof(data)), 400);
	for (int i = 0; i < 3; i++)
		assert_int_equal(iobuf_get(s, 64, &hs[i]), 0);
	assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_NANO, sl, 8, &kept), 64);
	assert_int_equal(kept, 1);
	assert_int_equal(iobuf_get(s, 64, &hs[3]), -ENOBUFS);
	assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_NANO, sl + 1, 8, &kept), -ENOBUFS);
	assert_int_equal(kept, 0);
	assert_int_equal(iobuf_slice_put(s, &sl[0]), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(iobuf_put(s, hs[i]), 0);
	close(sv[0]);
	close(sv[1]);
	iobuf_cache_destroy(c);
	iobuf_set_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hold_and_put),
		cmocka_unit_test(test_hold_refused),
		cmocka_unit_test(test_hold_overflow),
		cmocka_unit_test(test_hold_cache_and_index),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_slices),
		cmocka_unit_test(test_iov_from_slices_and_consume),
		cmocka_unit_test(test_setlen_stale_race),
		cmocka_unit_test(test_shared_stats),
		cmocka_unit_test(test_slice_edges),
		cmocka_unit_test(test_readv_records_lengths),
		cmocka_unit_test(test_cache_readv),
		cmocka_unit_test(test_cache_readv_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
