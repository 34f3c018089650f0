/* SPDX-License-Identifier: MIT */
/*
 * test_fallback.c - a set's fallback beyond the tiers (iobuf_set_config's
 * fallback_count and fallback_size): gets above 256 KiB and gets that
 * find their tier empty are served under the same handles and slices,
 * bounded, counted, and given back (pages too) on the last put.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <iobuf/account.h>
#include <iobuf/builder.h>
#include <iobuf/cache.h>
#include <iobuf/iov.h>
#include <iobuf/kind.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#define FB_SIZE ((size_t)1 << 20)

static struct iobuf_set *set_fb(uint32_t fb_count)
{
	struct iobuf_set_config cfg = {.capacity = {[IOBUF_TIER_NANO] = 2, [IOBUF_TIER_GIANT] = 1},
				       .fallback_count = fb_count,
				       .fallback_size = FB_SIZE};
	struct iobuf_set *s = iobuf_set_create(&cfg, NULL);

	assert_non_null(s);
	return s;
}

static struct iobuf_set_stats stats(const struct iobuf_set *s)
{
	struct iobuf_set_stats st;

	assert_int_equal(iobuf_set_stats(s, &st), 0);
	return st;
}

/* Above 256 KiB: served by the fallback, as any buffer; refused beyond its size or count. */
static void test_large(void **state)
{
	struct iobuf_set *s = set_fb(2);
	iobuf_handle_t a, b, c;
	uint8_t *p;

	(void)state;
	assert_int_equal(iobuf_get(s, 600000, &a), 0);
	assert_int_equal(iobuf_capacity(s, a), FB_SIZE);
	p = iobuf_buf(s, a);
	assert_non_null(p);
	memset(p, 0xab, FB_SIZE);
	assert_int_equal(iobuf_setlen(s, a, FB_SIZE), 0);
	assert_int_equal(iobuf_len(s, a), FB_SIZE);
	assert_int_equal(iobuf_holders(s, a), 1);
	assert_int_equal(iobuf_get(s, FB_SIZE + 1, &b), -EMSGSIZE);
	assert_int_equal(iobuf_get(s, FB_SIZE, &b), 0);
	assert_int_equal(iobuf_get(s, 300000, &c), -ENOBUFS); /* the cap: two */
	assert_int_equal(stats(s).fallback.in_use, 2);
	assert_int_equal(stats(s).fallback_gets, 2);
	assert_int_equal(stats(s).tier[IOBUF_TIER_GIANT].in_use, 0);
	/* Shared and sliced like any buffer; the last put returns it. */
	{
		struct iobuf_slice sl, tail;
		struct iovec iov[2];

		assert_int_equal(iobuf_slice_from(s, a, &sl), 0);
		assert_int_equal(iobuf_slice_split(s, &sl, 700000, &tail), 0);
		assert_int_equal(iobuf_iov_from_slices(s, &sl, 1, iov), 1);
		assert_int_equal(iov[0].iov_len, 700000);
		assert_int_equal(iobuf_iov_from_slices(s, &tail, 1, iov + 1), 1);
		assert_ptr_equal(iov[1].iov_base, p + 700000);
		assert_int_equal(iobuf_slice_put(s, &sl), 0);
		assert_int_equal(stats(s).fallback.in_use, 2);
		assert_int_equal(iobuf_slice_put(s, &tail), 0);
	}
	assert_int_equal(stats(s).fallback.in_use, 1);
	assert_int_equal(iobuf_put(s, a), -EALREADY);
	assert_null(iobuf_buf(s, a));
	assert_int_equal(iobuf_capacity(s, a), 0);
	/* The pages went back: a new hand-out of that buffer reads zeros. */
	assert_int_equal(iobuf_get(s, 300000, &c), 0);
	p = iobuf_buf(s, c);
	for (size_t i = 0; i < FB_SIZE; i += 4096)
		assert_int_equal(p[i], 0);
	assert_int_equal(iobuf_len(s, c), 0);
	assert_int_equal(iobuf_put(s, b), 0);
	assert_int_equal(iobuf_put(s, c), 0);
	assert_int_equal(stats(s).fallback.in_use, 0);
	iobuf_set_destroy(s);
}

/* A tier that is empty spills to the fallback; without a fallback it is -ENOBUFS as before. */
static void test_exhausted_tier(void **state)
{
	struct iobuf_set *s = set_fb(1), *plain = set_fb(0);
	iobuf_handle_t h[4];

	(void)state;
	assert_int_equal(iobuf_get(s, 64, &h[0]), 0);
	assert_int_equal(iobuf_get(s, 64, &h[1]), 0);
	assert_int_equal(iobuf_get(s, 64, &h[2]), 0); /* the fallback's */
	assert_int_equal(iobuf_capacity(s, h[2]), FB_SIZE);
	assert_int_equal(iobuf_get(s, 64, &h[3]), -ENOBUFS);
	assert_int_equal(stats(s).fallback_gets, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(iobuf_put(s, h[i]), 0);
	assert_int_equal(iobuf_get(plain, 64, &h[0]), 0);
	assert_int_equal(iobuf_get(plain, 64, &h[1]), 0);
	assert_int_equal(iobuf_get(plain, 64, &h[2]), -ENOBUFS);
	assert_int_equal(iobuf_get(plain, 300000, &h[2]), -EMSGSIZE);
	assert_int_equal(stats(plain).fallback.capacity, 0);
	assert_int_equal(iobuf_put(plain, h[0]), 0);
	assert_int_equal(iobuf_put(plain, h[1]), 0);
	iobuf_set_destroy(s);
	iobuf_set_destroy(plain);
}

/* Through a cache: gets fall back, the cache's put and buf know the fallback's handles. */
static void test_cache(void **state)
{
	struct iobuf_set *s = set_fb(1);
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
	iobuf_handle_t big, h;
	struct iobuf_set_stats st;

	(void)state;
	assert_non_null(c);
	assert_int_equal(iobuf_cache_get(c, 500000, &big), 0);
	assert_non_null(iobuf_cache_buf(c, big));
	assert_ptr_equal(iobuf_cache_buf(c, big), iobuf_buf(s, big));
	assert_int_equal(iobuf_cache_get(c, 500000, &h), -ENOBUFS);
	assert_int_equal(iobuf_cache_put(c, big), 0);
	assert_null(iobuf_cache_buf(c, big));
	assert_int_equal(iobuf_cache_put(c, big), -EALREADY);
	st = stats(s);
	assert_int_equal(st.fallback.in_use, 0);
	assert_int_equal(st.tier[IOBUF_TIER_GIANT].refused_invalid, 0); /* not misread as a GIANT handle */
	assert_int_equal(st.fallback.refused_already, 1);
	iobuf_cache_destroy(c);
	iobuf_set_destroy(s);
}

/* Kinds, holders and builders work on the fallback's buffers; accounts are served by the tiers only. */
static void test_with_the_rest(void **state)
{
	struct iobuf_set *s = set_fb(2);
	struct iobuf_account_config acfg = {0};
	struct iobuf_account *a = iobuf_account_create(s, &acfg, NULL);
	struct iobuf_builder *b = iobuf_builder_create(s, NULL, NULL);
	static uint8_t data[400000];
	struct iobuf_slice sl;
	iobuf_handle_t h;
	int k = iobuf_kind_register(s, "blob");

	(void)state;
	assert_int_equal(iobuf_get(s, 300000, &h), 0);
	assert_int_equal(iobuf_kind_set(s, h, k), 0);
	assert_int_equal(iobuf_kind_of(s, h), k);
	assert_int_equal(iobuf_hold(s, h, 1), 0);
	assert_int_equal(iobuf_put(s, h), 0);
	assert_int_equal(iobuf_put(s, h), 0);
	assert_int_equal(iobuf_account_get(a, 300000, &h), -EMSGSIZE);
	{
		iobuf_handle_t n0, n1;
		struct iobuf_account_stats ast;

		assert_int_equal(iobuf_get(s, 64, &n0), 0);
		assert_int_equal(iobuf_get(s, 64, &n1), 0);
		assert_int_equal(iobuf_account_get(a, 64, &h), -ENOBUFS); /* not the fallback's */
		assert_int_equal(iobuf_account_stats(a, &ast), 0);
		assert_int_equal(ast.bytes, 0);
		assert_int_equal(iobuf_put(s, n0), 0);
		assert_int_equal(iobuf_put(s, n1), 0);
	}
	assert_int_equal(stats(s).fallback.in_use, 0);
	/* A frame beyond 256 KiB moves to the fallback; beyond its size, refused. */
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 31);
	assert_int_equal(iobuf_builder_append(b, data, 200000), 0);
	assert_int_equal(iobuf_builder_append(b, data + 200000, 200000), 0);
	assert_int_equal(iobuf_builder_freeze(b, &sl), 0);
	assert_int_equal(sl.len, 400000);
	assert_memory_equal(iobuf_slice_buf(s, &sl), data, 400000);
	assert_int_equal(iobuf_capacity(s, sl.h), FB_SIZE);
	{
		void *p;

		assert_int_equal(iobuf_builder_writable(b, FB_SIZE + 1, &p, NULL), -EMSGSIZE);
	}
	assert_int_equal(iobuf_slice_put(s, &sl), 0);
	iobuf_builder_destroy(b);
	assert_int_equal(stats(s).fallback.in_use, 0);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
}

/*
 * An account's get never takes the fallback's buffer, not even for a
 * moment: with its tier empty it is -ENOBUFS and the fallback serves
 * nothing (its gets and fallback_gets stay 0), so it cannot make another
 * thread's get of the fallback fail meanwhile.
 */
static void test_account_leaves_the_fallback_alone(void **state)
{
	struct iobuf_set *s = set_fb(1);
	struct iobuf_account_config acfg = {0};
	struct iobuf_account *a = iobuf_account_create(s, &acfg, NULL);
	iobuf_handle_t n0, n1, h;

	(void)state;
	assert_non_null(a);
	assert_int_equal(iobuf_get(s, 64, &n0), 0);
	assert_int_equal(iobuf_get(s, 64, &n1), 0);
	assert_int_equal(iobuf_account_get(a, 64, &h), -ENOBUFS);
	assert_true(h == IOBUF_HANDLE_NONE);
	assert_int_equal(stats(s).fallback_gets, 0);
	assert_int_equal(stats(s).fallback.gets, 0);
	/* Through a cache, and a cache's read: the same, the fallback untouched. */
	{
		struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
		struct iobuf_slice sl[2];
		int sv[2], kept;

		assert_non_null(c);
		assert_int_equal(iobuf_account_get_cached(a, c, 64, &h), -ENOBUFS);
		assert_true(h == IOBUF_HANDLE_NONE);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		assert_int_equal(write(sv[0], "x", 1), 1);
		assert_int_equal(iobuf_account_readv(a, c, sv[1], IOBUF_TIER_NANO, sl, 2, &kept), -ENOBUFS);
		assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_NANO, sl, 2, &kept), -ENOBUFS);
		assert_int_equal(stats(s).fallback_gets, 0);
		assert_int_equal(stats(s).fallback.gets, 0);
		close(sv[0]);
		close(sv[1]);
		iobuf_cache_destroy(c);
	}
	assert_int_equal(iobuf_put(s, n0), 0);
	assert_int_equal(iobuf_account_get(a, 64, &h), 0); /* the tier again */
	assert_ptr_equal(iobuf_account_of(s, h), a);
	assert_int_equal(iobuf_put(s, h), 0);
	assert_int_equal(iobuf_put(s, n1), 0);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
}

/* Reads take tier buffers only: with the tier empty they say -ENOBUFS, the fallback untouched. */
static void test_reads_use_the_tiers(void **state)
{
	struct iobuf_set *s = set_fb(2);
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
	struct iobuf_slice sl[4];
	iobuf_handle_t n0, n1, hs[4];
	int sv[2], kept;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], "hello", 5), 5);
	assert_int_equal(iobuf_get(s, 64, &n0), 0);
	assert_int_equal(iobuf_get(s, 64, &n1), 0);
	assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_NANO, sl, 4, &kept), -ENOBUFS);
	assert_int_equal(iobuf_readv_pooled(s, sv[1], IOBUF_TIER_NANO, hs, 4, &kept), -ENOBUFS);
	assert_int_equal(stats(s).fallback.in_use, 0);
	assert_int_equal(iobuf_put(s, n0), 0);
	assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_NANO, sl, 4, &kept), 5);
	assert_int_equal(iobuf_capacity(s, sl[0].h), 64);
	assert_int_equal(iobuf_slice_put(s, &sl[0]), 0);
	assert_int_equal(iobuf_put(s, n1), 0);
	close(sv[0]);
	close(sv[1]);
	iobuf_cache_destroy(c);
	iobuf_set_destroy(s);
}

static void test_config_errors(void **state)
{
	struct iobuf_set_config cfg = {.capacity = {[IOBUF_TIER_NANO] = 2}, .fallback_count = 1,
				       .fallback_size = ((size_t)1 << 30) + 1};
	int err = 0;

	(void)state;
	assert_null(iobuf_set_create(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	cfg.fallback_size = 0; /* 1 MiB */
	{
		struct iobuf_set *s = iobuf_set_create(&cfg, &err);
		iobuf_handle_t h;

		assert_non_null(s);
		assert_int_equal(iobuf_get(s, (1 << 20) + 1, &h), -EMSGSIZE);
		assert_int_equal(iobuf_get(s, 1 << 20, &h), 0);
		assert_int_equal(iobuf_put(s, h), 0);
		iobuf_set_destroy(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_exhausted_tier),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_with_the_rest),
		cmocka_unit_test(test_reads_use_the_tiers),
		cmocka_unit_test(test_account_leaves_the_fallback_alone),
		cmocka_unit_test(test_config_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
