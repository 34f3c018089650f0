/* SPDX-License-Identifier: MIT */
/*
 * test_cache.c - the per-thread cache: create and every error path,
 * LIFO reuse, refill and flush in magazines, destroy and flush giving
 * everything back, the bound on what a cache holds, double, stale and
 * foreign puts refused through the cache, the statistics' invariant,
 * caches over a set and over a pool, the raw-index and bulk forms, the
 * depot seen by uncached gets, a waiting get woken by a flush, the
 * cooperative reclaim, strict caches, and ASan's report of a use after a
 * cached put.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <iobuf/cache.h>
#include <iobuf/pool.h>
#include <iobuf/scq.h>
#include <iobuf/tiers.h>

#include "pool.h"

#define CAP 256 /* magazine 16: capacity / 16 */
#define MAG 16

static struct iobuf_pool *make_pool(size_t size, uint32_t cap, uint32_t mag, unsigned tag)
{
	struct iobuf_pool_config cfg = {.buf_size = size, .capacity = cap, .tag = tag, .magazine = mag};
	int err = 0;
	struct iobuf_pool *p = iobuf_pool_create(&cfg, &err);

	assert_non_null(p);
	assert_int_equal(err, 0);
	return p;
}

static struct iobuf_cache *make_cache(struct iobuf_pool *p, unsigned flags)
{
	struct iobuf_cache_config cfg = {.flags = flags};
	int err = 0;
	struct iobuf_cache *c = iobuf_cache_create_pool(p, &cfg, &err);

	assert_non_null(c);
	assert_int_equal(err, 0);
	return c;
}

static struct iobuf_pool_stats stats(const struct iobuf_pool *p)
{
	struct iobuf_pool_stats st;

	assert_int_equal(iobuf_pool_stats(p, &st), 0);
	assert_int_equal(st.free + st.cached + st.in_use, st.capacity);
	return st;
}

static void expect_stats_at(const struct iobuf_pool *p, uint32_t free_, uint32_t cached, uint32_t in_use,
			    const char *file, int line)
{
	struct iobuf_pool_stats st = stats(p);

	_assert_int_equal(st.free, free_, file, line);
	_assert_int_equal(st.cached, cached, file, line);
	_assert_int_equal(st.in_use, in_use, file, line);
}
#define expect_stats(p, f, c, u) expect_stats_at((p), (f), (c), (u), __FILE__, __LINE__)

/* The fast paths run only when nothing marks free buffers (ASan, valgrind). */
static bool fast(const struct iobuf_cache *c)
{
	return c->one->lo < c->one->hi;
}

/* ---- create, destroy, errors ---------------------------------------------------- */

static void test_create_errors(void **state)
{
	struct iobuf_pool *p = make_pool(64, CAP, 0, 0);
	struct iobuf_cache_config bad = {.flags = 1u << 7};
	struct iobuf_set_config scfg;
	struct iobuf_set *s;
	int err;

	(void)state;
	err = 0;
	assert_null(iobuf_cache_create(NULL, NULL, &err));
	assert_int_equal(err, -EINVAL);
	err = 0;
	assert_null(iobuf_cache_create_pool(NULL, NULL, &err));
	assert_int_equal(err, -EINVAL);
	err = 0;
	assert_null(iobuf_cache_create_pool(p, &bad, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(iobuf_cache_create_pool(NULL, NULL, NULL)); /* a NULL err is fine */
	iobuf_set_config_default(&scfg);
	s = iobuf_set_create(&scfg, NULL);
	assert_non_null(s);
	err = 0;
	assert_null(iobuf_cache_create(s, &bad, &err));
	assert_int_equal(err, -EINVAL);
	iobuf_set_destroy(s);

	iobuf_cache_destroy(NULL);
	assert_int_equal(iobuf_cache_flush(NULL), -EINVAL);
	assert_int_equal(iobuf_cache_count(NULL, 0), -EINVAL);
	{
		struct iobuf_cache *c = make_cache(p, 0);
		iobuf_handle_t h;
		uint32_t idx[2];

		assert_int_equal(iobuf_cache_count(c, -1), -EINVAL);
		assert_int_equal(iobuf_cache_count(c, 8), -EINVAL);
		/* NULL arguments of every call. */
		assert_int_equal(iobuf_cache_get(NULL, 64, &h), -EINVAL);
		assert_int_equal(iobuf_cache_get(c, 64, NULL), -EINVAL);
		assert_int_equal(iobuf__cache_get_slow(NULL, 64, &h), -EINVAL);
		assert_int_equal(iobuf__cache_get_slow(c, 64, NULL), -EINVAL);
		assert_int_equal(iobuf_cache_put(NULL, h), -EINVAL);
		assert_int_equal(iobuf_cache_get_index(NULL), -EINVAL);
		assert_int_equal(iobuf_cache_put_index(NULL, 0), -EINVAL);
		assert_int_equal(iobuf_cache_get_index_bulk(NULL, idx, 1), -EINVAL);
		assert_int_equal(iobuf_cache_get_index_bulk(c, NULL, 1), -EINVAL);
		assert_int_equal(iobuf_cache_get_index_bulk(c, idx, -1), -EINVAL);
		assert_int_equal(iobuf_cache_get_index_bulk(c, idx, 0), 0);
		assert_int_equal(iobuf_cache_put_index_bulk(NULL, idx, 1), -EINVAL);
		assert_int_equal(iobuf_cache_put_index_bulk(c, NULL, 1), -EINVAL);
		assert_int_equal(iobuf_cache_put_index_bulk(c, idx, -1), -EINVAL);
		assert_int_equal(iobuf_cache_put_index_bulk(c, idx, 0), 0);
		assert_int_equal(iobuf_cache_get_bulk(NULL, 64, &h, 1), -EINVAL);
		assert_int_equal(iobuf_cache_get_bulk(c, 64, NULL, 1), -EINVAL);
		assert_int_equal(iobuf_cache_get_bulk(c, 64, &h, -1), -EINVAL);
		assert_int_equal(iobuf_cache_get_bulk(c, 64, &h, 0), 0);
		assert_int_equal(iobuf_cache_put_bulk(NULL, &h, 1), -EINVAL);
		assert_int_equal(iobuf_cache_put_bulk(c, NULL, 1), -EINVAL);
		assert_int_equal(iobuf_cache_put_bulk(c, &h, -1), -EINVAL);
		assert_int_equal(iobuf_cache_put_bulk(c, &h, 0), 0);
		assert_null(iobuf_cache_buf(NULL, h));
		/* Sizes: 0, above the pool's buffer. */
		assert_int_equal(iobuf_cache_get(c, 0, &h), -EINVAL);
		assert_int_equal(iobuf_cache_get(c, 65, &h), -EMSGSIZE);
		assert_int_equal(iobuf_cache_get_bulk(c, 0, &h, 1), -EINVAL);
		assert_int_equal(iobuf_cache_get_bulk(c, 65, &h, 1), -EMSGSIZE);
		expect_stats(p, CAP, 0, 0);
		iobuf_cache_destroy(c);
	}
	iobuf_pool_destroy(p);
}

/* ---- LIFO, refill, flush, destroy ------------------------------------------------ */

static void test_lifo_refill_flush(void **state)
{
	struct iobuf_pool *p = make_pool(64, CAP, 0, 2);
	struct iobuf_cache *c = make_cache(p, 0);
	iobuf_handle_t h, h2, hs[3 * MAG];
	struct iobuf_pool_stats st;

	(void)state;
	assert_int_equal(iobuf__pool_magazine(p), MAG);
	expect_stats(p, CAP, 0, 0);
	/* The first get loads one magazine and hands out its warmest index. */
	assert_int_equal(iobuf_cache_get(c, 1, &h), 0);
	assert_int_equal(iobuf_handle_tag(h), 2);
	assert_true(iobuf_handle_generation(h) & 1);
	assert_int_equal(iobuf_cache_count(c, 2), MAG - 1);
	expect_stats(p, CAP - MAG, MAG - 1, 1);
	assert_ptr_equal(iobuf_cache_buf(c, h), iobuf_pool_buf(p, h));
	memset(iobuf_cache_buf(c, h), 0xab, 64);
	/* LIFO: put then get gives the same buffer back, with a new generation. */
	assert_int_equal(iobuf_cache_put(c, h), 0);
	assert_null(iobuf_cache_buf(c, h));
	assert_int_equal(iobuf_cache_count(c, 2), MAG);
	assert_int_equal(iobuf_cache_get(c, 64, &h2), 0);
	assert_int_equal(iobuf_handle_index(h2), iobuf_handle_index(h));
	assert_int_equal(iobuf_handle_generation(h2), iobuf_handle_generation(h) + 2);
	assert_int_equal(iobuf_cache_put(c, h2), 0);

	/* Drain the stack: the (M+1)-th get refills once more. */
	for (int i = 0; i < MAG + 1; i++)
		assert_int_equal(iobuf_cache_get(c, 64, &hs[i]), 0);
	assert_int_equal(iobuf_cache_count(c, 2), MAG - 1);
	expect_stats(p, CAP - 2 * MAG, MAG - 1, MAG + 1);
	/* Put them back and more: the stack tops out at 2M, then gives M back. */
	for (int i = MAG + 1; i < 3 * MAG; i++)
		assert_int_equal(iobuf_cache_get(c, 64, &hs[i]), 0);
	assert_int_equal(iobuf_cache_count(c, 2), 0);
	for (int i = 0; i < 2 * MAG; i++)
		assert_int_equal(iobuf_cache_put(c, hs[i]), 0);
	assert_int_equal(iobuf_cache_count(c, 2), 2 * MAG);
	assert_int_equal(iobuf_cache_put(c, hs[2 * MAG]), 0);
	assert_int_equal(iobuf_cache_count(c, 2), MAG + 1);
	for (int i = 2 * MAG + 1; i < 3 * MAG; i++)
		assert_int_equal(iobuf_cache_put(c, hs[i]), 0);
	assert_int_equal(iobuf_cache_count(c, 2), 2 * MAG);
	expect_stats(p, CAP - 2 * MAG, 2 * MAG, 0);
	/* The flushed magazine went to the depot whole. */
	assert_true(iobuf_scq_count(iobuf__pool_scq(p)) <= CAP - 3 * MAG);

	/* Flush gives every buffer back; the count says how many. */
	assert_int_equal(iobuf_cache_flush(c), 2 * MAG);
	assert_int_equal(iobuf_cache_count(c, 2), 0);
	expect_stats(p, CAP, 0, 0);
	assert_int_equal(iobuf_cache_flush(c), 0);

	/* Destroy flushes too. */
	assert_int_equal(iobuf_cache_get(c, 64, &h), 0);
	expect_stats(p, CAP - MAG, MAG - 1, 1);
	iobuf_cache_destroy(c);
	expect_stats(p, CAP - 1, 0, 1);
	/* A buffer got through a cache outlives it: put it through the pool. */
	assert_int_equal(iobuf_pool_put(p, h), 0);
	st = stats(p);
	assert_int_equal(st.free, CAP);
	assert_int_equal(st.gets, st.puts);
	assert_int_equal(st.gets, 3 + 3 * MAG);
	iobuf_pool_destroy(p);
}

/* Every index handed out once, the stats agree, the cache never above 2M. */
static void test_bound_and_everything_once(void **state)
{
	struct iobuf_pool *p = make_pool(32, CAP, 0, 0);
	struct iobuf_cache *c = make_cache(p, 0);
	iobuf_handle_t hs[CAP], extra;
	uint8_t seen[CAP] = {0};

	(void)state;
	for (int round = 0; round < 3; round++) {
		memset(seen, 0, sizeof(seen));
		for (int i = 0; i < CAP; i++) {
			assert_int_equal(iobuf_cache_get(c, 32, &hs[i]), 0);
			assert_false(seen[iobuf_handle_index(hs[i])]);
			seen[iobuf_handle_index(hs[i])] = 1;
			assert_true(iobuf_cache_count(c, 0) <= 2 * MAG);
		}
		expect_stats(p, 0, 0, CAP);
		assert_int_equal(iobuf_cache_get(c, 32, &extra), -ENOBUFS);
		assert_int_equal(iobuf_pool_get(p, &extra), -ENOBUFS);
		for (int i = 0; i < CAP; i++) {
			assert_int_equal(iobuf_cache_put(c, hs[i]), 0);
			assert_true(iobuf_cache_count(c, 0) <= 2 * MAG);
		}
		/* The cache keeps two magazines at most; the rest is free in the pool. */
		expect_stats(p, CAP - 2 * MAG, 2 * MAG, 0);
	}
	assert_true(stats(p).empty_gets >= 6);
	assert_int_equal(stats(p).high_water_sampled, CAP);
	iobuf_cache_destroy(c);
	expect_stats(p, CAP, 0, 0);
	iobuf_pool_destroy(p);
}

/* ---- refusals through the cache --------------------------------------------------- */

static void test_refusals(void **state)
{
	struct iobuf_pool *p = make_pool(64, CAP, 0, 3);
	struct iobuf_pool *other = make_pool(64, CAP, 0, 5);
	struct iobuf_cache *c = make_cache(p, 0);
	iobuf_handle_t h, h2, foreign, all[CAP];
	struct iobuf_pool_stats st;
	int n;

	(void)state;
	assert_int_equal(iobuf_cache_get(c, 64, &h), 0);
	assert_int_equal(iobuf_pool_get(other, &foreign), 0);
	n = iobuf_cache_count(c, 3);

	/* Not a handle of this pool. */
	assert_int_equal(iobuf_cache_put(c, 0), -EINVAL);
	assert_int_equal(iobuf_cache_put(c, h ^ (UINT64_C(1) << IOBUF__HANDLE_OWNER_SHIFT)), -EINVAL);
	assert_int_equal(iobuf_cache_put(c, foreign), -EINVAL);
	assert_int_equal(iobuf_cache_put(c, (h & ~(uint64_t)(IOBUF_POOL_MAX_CAPACITY - 1)) | CAP), -EINVAL);
	assert_int_equal(iobuf_cache_put(c, h + (UINT64_C(1) << 32)), -EINVAL); /* even generation */
	assert_null(iobuf_cache_buf(c, foreign));
	assert_null(iobuf_cache_buf(c, 0));
	assert_int_equal(iobuf_cache_count(c, 3), n);

	/* Double put through the cache, through the pool, and the other way round. */
	assert_int_equal(iobuf_cache_put(c, h), 0);
	assert_int_equal(iobuf_cache_put(c, h), -EALREADY);
	assert_int_equal(iobuf_pool_put(p, h), -EALREADY);
	assert_int_equal(iobuf_cache_count(c, 3), n + 1);
	assert_int_equal(iobuf_pool_get(p, &h2), 0);
	assert_int_equal(iobuf_pool_put(p, h2), 0);
	assert_int_equal(iobuf_cache_put(c, h2), -EALREADY);

	/* Stale: the buffer handed out again (LIFO: the next cached get). */
	assert_int_equal(iobuf_cache_get(c, 64, &h2), 0);
	assert_int_equal(iobuf_handle_index(h2), iobuf_handle_index(h));
	assert_int_equal(iobuf_cache_put(c, h), -ESTALE);
	assert_null(iobuf_cache_buf(c, h));
	assert_non_null(iobuf_cache_buf(c, h2));
	/* Put and handed out again since: stale, not "already". */
	assert_int_equal(iobuf_cache_put(c, h2), 0);
	assert_int_equal(iobuf_cache_put(c, h), -ESTALE);
	assert_int_equal(iobuf_cache_put(c, h2), -EALREADY);

	/* The refusals went to the pool's counters; nothing was corrupted. */
	st = stats(p);
	assert_int_equal(st.refused_invalid, 5);
	assert_int_equal(st.refused_already, 4);
	assert_int_equal(st.refused_stale, 2);
	assert_int_equal(st.in_use, 0);
	for (int i = 0; i < CAP; i++)
		assert_int_equal(iobuf_cache_get(c, 64, &all[i]), 0);
	for (int i = 0; i < CAP; i++)
		for (int j = 0; j < i; j += 17)
			assert_int_not_equal(iobuf_handle_index(all[i]), iobuf_handle_index(all[j]));
	assert_int_equal(iobuf_cache_put_bulk(c, all, CAP), 0);
	iobuf_cache_destroy(c);
	expect_stats(p, CAP, 0, 0);
	assert_int_equal(iobuf_pool_put(other, foreign), 0);
	iobuf_pool_destroy(other);
	iobuf_pool_destroy(p);
}

/* ---- the raw-index path ------------------------------------------------------------- */

static void test_raw_index(void **state)
{
	struct iobuf_pool *p = make_pool(128, CAP, 0, 0);
	struct iobuf_cache *c = make_cache(p, 0);
	uint32_t idx[CAP];
	iobuf_handle_t h;
	int a, b, held;

	(void)state;
	a = iobuf_cache_get_index(c);
	assert_true(a >= 0 && a < CAP);
	memset(iobuf_pool_index_buf(p, (uint32_t)a), 1, 128);
	expect_stats(p, CAP - MAG, MAG - 1, 1);
	assert_int_equal(iobuf_cache_put_index(c, (uint32_t)a), 0);
	assert_int_equal(iobuf_cache_put_index(c, (uint32_t)a), -EALREADY);
	assert_int_equal(iobuf_cache_put_index(c, CAP), -EINVAL);
	assert_int_equal(iobuf_cache_put_index(c, UINT32_MAX), -EINVAL);
	b = iobuf_cache_get_index(c);
	assert_int_equal(b, a); /* the warmest */
	/* The two paths share the slots: a handle put by index is then "already". */
	assert_int_equal(iobuf_cache_get(c, 1, &h), 0);
	assert_int_equal(iobuf_cache_put_index(c, iobuf_handle_index(h)), 0);
	assert_int_equal(iobuf_cache_put(c, h), -EALREADY);
	assert_int_equal(iobuf_pool_put_index(p, (uint32_t)b), 0);
	assert_int_equal(iobuf_cache_put_index(c, (uint32_t)b), -EALREADY);

	/* Bulk: all or nothing, and every index once. */
	assert_int_equal(iobuf_cache_get_index_bulk(c, idx, CAP), 0);
	expect_stats(p, 0, 0, CAP);
	assert_int_equal(iobuf_cache_get_index_bulk(c, idx, 1), -ENOBUFS);
	for (int i = 0; i < CAP; i++)
		for (int j = 0; j < i; j += 13)
			assert_int_not_equal(idx[i], idx[j]);
	assert_int_equal(iobuf_cache_put_index_bulk(c, idx, CAP / 2), 0);
	/* A bad index among good ones is refused; the others go back. */
	idx[CAP / 2] = idx[0];
	idx[CAP / 2 + 1] = CAP + 7;
	assert_int_equal(iobuf_cache_put_index_bulk(c, idx + CAP / 2, CAP / 2), -EALREADY);
	held = iobuf_cache_count(c, 0);
	assert_true(held > MAG && held <= 2 * MAG);
	expect_stats(p, CAP - 2 - (uint32_t)held, (uint32_t)held, 2);
	assert_int_equal(stats(p).refused_already, 4);
	assert_int_equal(stats(p).refused_invalid, 3);
	/* A bulk get bigger than the stack: refilled as it goes. */
	assert_int_equal(iobuf_cache_get_index_bulk(c, idx, 5 * MAG), 0);
	assert_int_equal(iobuf_cache_put_index_bulk(c, idx, 5 * MAG), 0);
	/* All or nothing: asking for more than is free takes none. */
	{
		struct iobuf_pool_stats before = stats(p), after;

		assert_int_equal(iobuf_cache_get_index_bulk(c, idx, CAP - 1), -ENOBUFS);
		after = stats(p);
		assert_int_equal(after.in_use, before.in_use);
		assert_int_equal(after.gets, before.gets);
	}
	iobuf_cache_destroy(c);
	expect_stats(p, CAP - 2, 0, 2);
	iobuf_pool_destroy(p);
}

/* ---- a cache over a set -------------------------------------------------------------- */

static void test_set_cache(void **state)
{
	struct iobuf_set_config cfg;
	struct iobuf_set *s;
	struct iobuf_cache *c;
	iobuf_handle_t h[IOBUF_TIER_COUNT], hs[40], x;
	struct iobuf_set_stats st;
	int err = 0;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.capacity[0] = 256;
	cfg.capacity[1] = 512;
	cfg.capacity[4] = 64; /* magazine 4 */
	cfg.capacity[6] = 8;  /* too small: passed straight through */
	cfg.magazine = 32;
	s = iobuf_set_create(&cfg, &err);
	assert_non_null(s);
	c = iobuf_cache_create(s, NULL, &err);
	assert_non_null(c);
	assert_int_equal(iobuf__pool_magazine(iobuf_set_pool(s, 0)), 16);
	assert_int_equal(iobuf__pool_magazine(iobuf_set_pool(s, 1)), 32);
	assert_int_equal(iobuf__pool_magazine(iobuf_set_pool(s, 4)), 4);
	assert_int_equal(iobuf__pool_magazine(iobuf_set_pool(s, 6)), 0);

	/* Get by size, put by handle. */
	assert_int_equal(iobuf_cache_get(c, 1, &h[0]), 0);
	assert_int_equal(iobuf_handle_tag(h[0]), 0);
	assert_int_equal(iobuf_cache_get(c, 17, &h[1]), 0);
	assert_int_equal(iobuf_handle_tag(h[1]), 1);
	assert_int_equal(iobuf_cache_get(c, 4096, &h[4]), 0);
	assert_int_equal(iobuf_handle_tag(h[4]), 4);
	assert_int_equal(iobuf_cache_get(c, 65536, &h[6]), 0);
	assert_int_equal(iobuf_handle_tag(h[6]), 6);
	assert_int_equal(iobuf_cache_count(c, 0), 15);
	assert_int_equal(iobuf_cache_count(c, 1), 31);
	assert_int_equal(iobuf_cache_count(c, 4), 3);
	assert_int_equal(iobuf_cache_count(c, 6), 0);
	for (int t = 0; t < IOBUF_TIER_COUNT; t++)
		if (t == 0 || t == 1 || t == 4 || t == 6) {
			assert_ptr_equal(iobuf_cache_buf(c, h[t]), iobuf_buf(s, h[t]));
			memset(iobuf_cache_buf(c, h[t]), t, IOBUF_TIER_SIZE(t));
		}
	/* Sizes the set does not have, or no tier has. */
	assert_int_equal(iobuf_cache_get(c, 300, &x), -ENOBUFS); /* MICRO: no buffers */
	assert_int_equal(iobuf_cache_get(c, 0, &x), -EINVAL);
	assert_int_equal(iobuf_cache_get(c, IOBUF_MAX_SIZE + 1, &x), -EMSGSIZE);
	assert_int_equal(iobuf_cache_get(c, SIZE_MAX, &x), -EMSGSIZE);
	assert_int_equal(iobuf_cache_get_bulk(c, IOBUF_MAX_SIZE + 1, hs, 2), -EMSGSIZE);
	assert_int_equal(iobuf_cache_get_bulk(c, 300, hs, 2), -ENOBUFS);
	/* The raw-index calls need a pool-bound cache. */
	assert_int_equal(iobuf_cache_get_index(c), -EINVAL);
	assert_int_equal(iobuf_cache_put_index(c, 0), -EINVAL);
	assert_int_equal(iobuf_cache_get_index_bulk(c, (uint32_t *)hs, 2), -EINVAL);
	assert_int_equal(iobuf_cache_put_index_bulk(c, (uint32_t *)hs, 2), -EINVAL);
	/* A handle of a tier the set does not have. */
	assert_int_equal(iobuf_cache_put(c, (h[1] & ~((uint64_t)7 << 28)) | ((uint64_t)2 << 28)), -EINVAL);

	/* A bulk put of mixed tiers, through runs. */
	for (int i = 0; i < 40; i++)
		assert_int_equal(iobuf_cache_get(c, i % 3 == 0 ? 64 : i % 3 == 1 ? 16 : 4000, &hs[i]), 0);
	assert_int_equal(iobuf_cache_put_bulk(c, hs, 40), 0);
	assert_int_equal(iobuf_cache_get_bulk(c, 60, hs, 40), 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(iobuf_handle_tag(hs[i]), 1);
	assert_int_equal(iobuf_cache_put_bulk(c, hs, 40), 0);

	for (int t = 0; t < IOBUF_TIER_COUNT; t++)
		if (t == 0 || t == 1 || t == 4 || t == 6)
			assert_int_equal(iobuf_cache_put(c, h[t]), 0);
	assert_int_equal(iobuf_cache_put(c, h[6]), -EALREADY);
	assert_int_equal(iobuf_cache_count(c, 6), 0);
	iobuf_set_stats(s, &st);
	for (int t = 0; t < IOBUF_TIER_COUNT; t++) {
		assert_int_equal(st.tier[t].free + st.tier[t].cached + st.tier[t].in_use, st.tier[t].capacity);
		assert_int_equal(st.tier[t].in_use, 0);
	}
	assert_true(st.tier[1].cached > 0);
	iobuf_cache_destroy(c);
	iobuf_set_stats(s, &st);
	for (int t = 0; t < IOBUF_TIER_COUNT; t++)
		assert_int_equal(st.tier[t].free, st.tier[t].capacity);
	iobuf_set_destroy(s);
}

static void test_set_spill(void **state)
{
	struct iobuf_set_config cfg;
	struct iobuf_set *s;
	struct iobuf_cache *c;
	iobuf_handle_t hs[64 + 32 + 1];
	struct iobuf_set_stats st;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.capacity[1] = 64;
	cfg.capacity[3] = 32;
	cfg.flags = IOBUF_SET_SPILL;
	s = iobuf_set_create(&cfg, NULL);
	assert_non_null(s);
	c = iobuf_cache_create(s, NULL, NULL);
	assert_non_null(c);
	for (int i = 0; i < 64 + 32; i++) {
		assert_int_equal(iobuf_cache_get(c, 64, &hs[i]), 0);
		assert_int_equal(iobuf_handle_tag(hs[i]), i < 64 ? 1 : 3);
	}
	assert_int_equal(iobuf_cache_get(c, 64, &hs[96]), -ENOBUFS);
	iobuf_set_stats(s, &st);
	assert_int_equal(st.spills, 32);
	assert_int_equal(iobuf_cache_put_bulk(c, hs, 96), 0);
	iobuf_cache_destroy(c);
	iobuf_set_destroy(s);
}

/* ---- handoff between caches, and the depot seen by uncached gets ------------------------- */

static void test_handoff_between_caches(void **state)
{
	struct iobuf_pool *p = make_pool(64, CAP, 0, 0);
	struct iobuf_cache *a = make_cache(p, 0), *b = make_cache(p, 0);
	iobuf_handle_t fifo[64];
	uint64_t head = 0, tail = 0;

	(void)state;
	/* a gets, b puts, 100 times the capacity: b's magazines flow back to a through the depot. */
	for (int i = 0; i < 100 * CAP; i++) {
		iobuf_handle_t h;

		if (head - tail == 64)
			assert_int_equal(iobuf_cache_put(b, fifo[tail++ % 64]), 0);
		assert_int_equal(iobuf_cache_get(a, 64, &h), 0);
		*(uint32_t *)iobuf_cache_buf(a, h) = (uint32_t)i;
		fifo[head++ % 64] = h;
		assert_true(iobuf_cache_count(a, 0) <= 2 * MAG && iobuf_cache_count(b, 0) <= 2 * MAG);
	}
	while (tail != head) {
		iobuf_handle_t h = fifo[tail % 64];

		assert_int_equal(*(uint32_t *)iobuf_cache_buf(b, h), (uint32_t)(100 * CAP - (head - tail)));
		assert_int_equal(iobuf_cache_put(b, h), 0);
		tail++;
	}
	/* The free queue was never needed: magazines only. */
	assert_int_equal(stats(p).empty_gets, 0);
	iobuf_cache_destroy(a);
	iobuf_cache_destroy(b);
	expect_stats(p, CAP, 0, 0);
	assert_int_equal(stats(p).gets, 100 * CAP);
	iobuf_pool_destroy(p);
}

static void test_depot_pickup_uncached(void **state)
{
	struct iobuf_pool *p = make_pool(64, CAP, 0, 0);
	struct iobuf_cache *c = make_cache(p, 0);
	iobuf_handle_t hs[CAP];
	uint8_t seen[CAP] = {0};
	int got = 0;

	(void)state;
	/* Everything out through the cache, and back through it: the free queue is empty, the depot full. */
	for (int i = 0; i < CAP; i++)
		assert_int_equal(iobuf_cache_get(c, 64, &hs[i]), 0);
	assert_int_equal(iobuf_scq_count(iobuf__pool_scq(p)), 0);
	for (int i = 0; i < CAP; i++)
		assert_int_equal(iobuf_cache_put(c, hs[i]), 0);
	assert_int_equal(iobuf_scq_count(iobuf__pool_scq(p)), 0);
	expect_stats(p, CAP - 2 * MAG, 2 * MAG, 0);

	/* Uncached gets see the depot's buffers, every one once. */
	for (;;) {
		iobuf_handle_t h;

		if (iobuf_pool_get(p, &h) != 0)
			break;
		assert_false(seen[iobuf_handle_index(h)]);
		seen[iobuf_handle_index(h)] = 1;
		hs[got++] = h;
	}
	assert_int_equal(got, CAP - 2 * MAG);
	expect_stats(p, 0, 2 * MAG, CAP - 2 * MAG);
	for (int i = 0; i < got; i++)
		assert_int_equal(iobuf_pool_put(p, hs[i]), 0);

	/* The same with the raw, bulk and burst forms (a cache cycle of everything empties the queue). */
	assert_int_equal(iobuf_cache_get_bulk(c, 64, hs, CAP), 0);
	assert_int_equal(iobuf_cache_put_bulk(c, hs, CAP), 0);
	assert_int_equal(iobuf_scq_count(iobuf__pool_scq(p)), 0);
	assert_int_equal(iobuf_pool_get_bulk(p, hs, CAP - 2 * MAG), 0);
	assert_int_equal(iobuf_pool_put_bulk(p, hs, CAP - 2 * MAG), 0);
	assert_int_equal(iobuf_cache_get_bulk(c, 64, hs, CAP), 0);
	assert_int_equal(iobuf_cache_put_bulk(c, hs, CAP), 0);
	assert_int_equal(iobuf_pool_get_burst(p, hs, CAP), CAP - 2 * MAG);
	assert_int_equal(iobuf_pool_put_bulk(p, hs, CAP - 2 * MAG), 0);
	assert_int_equal(iobuf_cache_get_bulk(c, 64, hs, CAP), 0);
	assert_int_equal(iobuf_cache_put_bulk(c, hs, CAP), 0);
	for (int i = 0; i < CAP - 2 * MAG; i++) {
		int idx = iobuf_pool_get_index(p);

		assert_true(idx >= 0);
		hs[i] = (iobuf_handle_t)idx;
	}
	assert_int_equal(iobuf_pool_get_index(p), -ENOBUFS);
	for (int i = 0; i < CAP - 2 * MAG; i++)
		assert_int_equal(iobuf_pool_put_index(p, (uint32_t)hs[i]), 0);
	iobuf_cache_destroy(c);
	expect_stats(p, CAP, 0, 0);
	iobuf_pool_destroy(p);
}

/* ---- a waiting get woken by a magazine flush ------------------------------------------- */

struct waiter {
	struct iobuf_pool *p;
	iobuf_handle_t h;
	int rc;
	int started;
};

static void *wait_for_buffer(void *arg)
{
	struct waiter *w = arg;

	__atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
	w->rc = iobuf_pool_get_wait(w->p, &w->h, 10 * 1000000000LL);
	return NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/*
 * Wait until the waiter is about to sleep on the futex (or 2 s): it counts
 * the wait, then registers as a sleeper a few instructions later.
 */
static void until_sleeping(struct iobuf_pool *p, uint64_t waits_before)
{
	for (int i = 0; i < 2000 && stats(p).waits == waits_before; i++)
		sleep_ms(1);
	sleep_ms(20);
}

static void test_wait_woken_by_flush(void **state)
{
	struct iobuf_pool *p = make_pool(64, CAP, 0, 0);
	struct iobuf_cache *c = make_cache(p, 0);
	iobuf_handle_t hs[CAP];
	struct waiter w = {.p = p};
	pthread_t t;
	uint64_t t0, waits;
	int held, n;

	(void)state;
	for (int i = 0; i < CAP; i++)
		assert_int_equal(iobuf_cache_get(c, 64, &hs[i]), 0);
	assert_int_equal(pthread_create(&t, NULL, wait_for_buffer, &w), 0);
	until_sleeping(p, 0);
	/* A put through a cache sees the sleeper and hands the buffer (and the stack) to the pool. */
	t0 = now_ns();
	assert_int_equal(iobuf_cache_put(c, hs[0]), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.rc, 0);
	assert_int_equal(iobuf_handle_index(w.h), iobuf_handle_index(hs[0]));
	assert_true(now_ns() - t0 < 5000000000u);
	assert_true(stats(p).waits >= 1);
	assert_int_equal(iobuf_cache_count(c, 0), 0);
	assert_int_equal(iobuf_pool_put(p, w.h), 0);

	/* With nobody asleep, puts stay in the cache: a magazine flush into the depot wakes a later sleeper. */
	for (int i = 1; i < CAP; i++)
		assert_int_equal(iobuf_cache_put(c, hs[i]), 0);
	held = iobuf_cache_count(c, 0);
	assert_true(held > MAG && held <= 2 * MAG);
	n = 0;
	while (iobuf_pool_get(p, &hs[n]) == 0)
		n++;
	assert_int_equal(n, CAP - held);
	waits = stats(p).waits;
	w = (struct waiter){.p = p};
	assert_int_equal(pthread_create(&t, NULL, wait_for_buffer, &w), 0);
	until_sleeping(p, waits);
	assert_int_equal(iobuf_cache_flush(c), held);
	pthread_join(t, NULL);
	assert_int_equal(w.rc, 0);
	assert_int_equal(iobuf_pool_put(p, w.h), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(iobuf_pool_put(p, hs[i]), 0);
	iobuf_cache_destroy(c);
	expect_stats(p, CAP, 0, 0);
	iobuf_pool_destroy(p);
}

/* ---- cooperative reclaim ----------------------------------------------------------------- */

static void test_reclaim(void **state)
{
	struct iobuf_pool *p = make_pool(64, CAP, 0, 0);
	struct iobuf_cache *a = make_cache(p, 0), *b = make_cache(p, 0);
	iobuf_handle_t hs[CAP], h;
	int n = 0, held;

	(void)state;
	/* Cache a ends up holding 2M free buffers; the rest are handed out uncached. */
	for (int i = 0; i < 2 * MAG; i++)
		assert_int_equal(iobuf_cache_get(a, 64, &hs[i]), 0);
	for (int i = 0; i < 2 * MAG; i++)
		assert_int_equal(iobuf_cache_put(a, hs[i]), 0);
	held = iobuf_cache_count(a, 0);
	assert_int_equal(held, 2 * MAG);
	while (iobuf_pool_get(p, &hs[n]) == 0)
		n++;
	assert_int_equal(n, CAP - held);
	/* Empty for everyone else while a holds free buffers: -ENOBUFS, through a cache or not. */
	assert_int_equal(iobuf_cache_get(b, 64, &h), -ENOBUFS);
	assert_int_equal(iobuf_pool_get(p, &h), -ENOBUFS);
	expect_stats(p, 0, (uint32_t)held, (uint32_t)n);
	/*
	 * Those empty gets asked for a reclaim.  a's fast paths do not look;
	 * its next out-of-line call does: it gives its whole stack back, then
	 * takes one magazine for the get it serves.
	 */
	assert_int_equal(iobuf_cache_get(a, 64, &h), 0);
	if (fast(a))
		assert_int_equal(iobuf_cache_count(a, 0), held - 1);
	assert_int_equal(iobuf_cache_put(a, h), 0);
	if (fast(a))
		assert_int_equal(iobuf_cache_count(a, 0), held);
	assert_int_equal(iobuf__cache_get_slow(a, 64, &h), 0);
	assert_int_equal(iobuf_cache_count(a, 0), MAG - 1);
	assert_int_equal(iobuf_pool_put(p, h), 0);
	assert_int_equal(iobuf_cache_flush(a), MAG - 1);
	/* What a gave back is there for others. */
	for (int i = 0; i < held; i++)
		assert_int_equal(iobuf_cache_get(b, 64, &hs[n + i]), 0);
	for (int i = 0; i < n + held; i++)
		assert_int_equal(iobuf_pool_put(p, hs[i]), 0);
	iobuf_cache_destroy(a);
	iobuf_cache_destroy(b);
	expect_stats(p, CAP, 0, 0);
	iobuf_pool_destroy(p);
}

/* ---- unsafe puts, small pools, magazine sizes, generation wrap -------------------------- */

/* IOBUF_CACHE_UNSAFE_PUTS gives up only racing double puts: sequential ones are still refused. */
static void test_unsafe_puts(void **state)
{
	struct iobuf_pool *p = make_pool(64, CAP, 0, 1);
	struct iobuf_cache *c = make_cache(p, IOBUF_CACHE_UNSAFE_PUTS);
	iobuf_handle_t h, hs[3 * MAG];

	(void)state;
	/* In force except where buffers are marked on every call (ASan, valgrind: no inline path). */
	assert_int_equal(c->unsafe, c->tier[1].lo <= c->tier[1].hi);
	assert_int_equal(iobuf_cache_get(c, 64, &h), 0);
	assert_int_equal(iobuf_cache_count(c, 1), MAG - 1);
	assert_int_equal(iobuf_cache_put(c, h), 0);
	assert_int_equal(iobuf_cache_put(c, h), -EALREADY);
	for (int i = 0; i < 3 * MAG; i++)
		assert_int_equal(iobuf_cache_get(c, 64, &hs[i]), 0);
	assert_int_equal(iobuf_cache_put(c, h), -ESTALE);
	assert_int_equal(iobuf_cache_put_bulk(c, hs, 3 * MAG), 0);
	assert_int_equal(iobuf_cache_count(c, 1), 2 * MAG);
	assert_int_equal(iobuf_cache_get_index(c), iobuf_handle_index(hs[3 * MAG - 1]));
	iobuf_cache_destroy(c);
	expect_stats(p, CAP - 1, 0, 1);
	iobuf_pool_destroy(p);
}

static void test_small_pool_passthrough(void **state)
{
	struct iobuf_pool *p = make_pool(64, 8, 0, 0);
	struct iobuf_cache *c = make_cache(p, 0);
	iobuf_handle_t hs[9];

	(void)state;
	assert_int_equal(iobuf__pool_magazine(p), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(iobuf_cache_get(c, 64, &hs[i]), 0);
		assert_int_equal(iobuf_cache_count(c, 0), 0);
	}
	assert_int_equal(iobuf_cache_get(c, 64, &hs[8]), -ENOBUFS);
	expect_stats(p, 0, 0, 8);
	assert_int_equal(iobuf_cache_put(c, hs[3]), 0);
	assert_int_equal(iobuf_cache_put(c, hs[3]), -EALREADY);
	assert_int_equal(iobuf_cache_count(c, 0), 0);
	expect_stats(p, 1, 0, 7);
	assert_int_equal(iobuf_cache_get_index(c), (int)iobuf_handle_index(hs[3]));
	assert_int_equal(iobuf_cache_put_index(c, iobuf_handle_index(hs[3])), 0);
	hs[3] = 0;
	for (int i = 0; i < 8; i++)
		if (i != 3)
			assert_int_equal(iobuf_cache_put(c, hs[i]), 0);
	iobuf_cache_destroy(c);
	expect_stats(p, 8, 0, 0);
	iobuf_pool_destroy(p);
}

static void test_magazine_sizes(void **state)
{
	static const struct {
		uint32_t cap, asked, got;
	} cases[] = {{1024, 0, 64}, {1024, 8, 8}, {1024, 5000, 64}, {100000, 5000, IOBUF_POOL_MAGAZINE_MAX},
		     {512, 0, 32},   {16, 0, 1},    {15, 0, 0},         {48, 2, 2}};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct iobuf_pool *p = make_pool(16, cases[i].cap, cases[i].asked, 0);
		struct iobuf_cache *c = make_cache(p, 0);
		iobuf_handle_t h;

		assert_int_equal(iobuf__pool_magazine(p), cases[i].got);
		assert_int_equal(iobuf_cache_get(c, 16, &h), 0);
		assert_int_equal(iobuf_cache_count(c, 0), cases[i].got ? (int)cases[i].got - 1 : 0);
		assert_int_equal(iobuf_cache_put(c, h), 0);
		iobuf_cache_destroy(c);
		expect_stats(p, cases[i].cap, 0, 0);
		iobuf_pool_destroy(p);
	}
}

static void test_generation_wrap(void **state)
{
	struct iobuf_pool_config cfg = {.buf_size = 16, .capacity = 16, .magazine = 1};
	struct iobuf_pool *p = iobuf__pool_create_at(&cfg, (UINT64_C(1) << 32) - 8, UINT64_MAX - 5, NULL);
	struct iobuf_cache *c;
	iobuf_handle_t h, before_wrap = 0;
	int wrapped = 0;

	(void)state;
	assert_non_null(p);
	c = make_cache(p, 0);
	for (int i = 0; i < 12; i++) {
		assert_int_equal(iobuf_cache_get(c, 16, &h), 0);
		assert_true(iobuf_handle_generation(h) & 1);
		if (iobuf_handle_generation(h) < 8)
			wrapped = 1;
		else if (!wrapped)
			before_wrap = h;
		assert_non_null(iobuf_cache_buf(c, h));
		assert_int_equal(iobuf_cache_put(c, h), 0);
		assert_int_equal(iobuf_cache_put(c, h), -EALREADY);
	}
	assert_true(wrapped);
	assert_int_equal(iobuf_cache_put(c, before_wrap), -ESTALE);
	assert_int_equal(iobuf_cache_get(c, 16, &h), 0);
	assert_int_equal(iobuf_cache_put(c, before_wrap), -ESTALE);
	assert_int_equal(iobuf_cache_put(c, h), 0);
	iobuf_cache_destroy(c);
	assert_int_equal(stats(p).gets, 13);
	iobuf_pool_destroy(p);
}

#ifdef IOBUF_ASAN
/* Only in ASan builds (cmocka's skip() reads as a failure to automake's TAP driver). */
static void test_use_after_cached_put_reported(void **state)
{
	int pipefd[2], status;
	pid_t pid;
	char out[8192];
	ssize_t n, len = 0;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct iobuf_pool *p = make_pool(64, CAP, 0, 0);
		struct iobuf_cache *c = make_cache(p, 0);
		iobuf_handle_t h;
		volatile uint8_t *b;

		dup2(pipefd[1], 2);
		iobuf_cache_get(c, 64, &h);
		b = iobuf_cache_buf(c, h);
		b[0] = 1;
		iobuf_cache_put(c, h); /* stays in the cache */
		b[0] = 2;              /* use after put */
		_exit(0);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], out + len, sizeof(out) - 1 - (size_t)len)) > 0)
		len += n;
	out[len] = 0;
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_non_null(strstr(out, "use-after-poison"));
	print_message("# ASan reported the use after a cached put: use-after-poison\n");
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_lifo_refill_flush),
		cmocka_unit_test(test_bound_and_everything_once),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_raw_index),
		cmocka_unit_test(test_set_cache),
		cmocka_unit_test(test_set_spill),
		cmocka_unit_test(test_handoff_between_caches),
		cmocka_unit_test(test_depot_pickup_uncached),
		cmocka_unit_test(test_wait_woken_by_flush),
		cmocka_unit_test(test_reclaim),
		cmocka_unit_test(test_unsafe_puts),
		cmocka_unit_test(test_small_pool_passthrough),
		cmocka_unit_test(test_magazine_sizes),
		cmocka_unit_test(test_generation_wrap),
#ifdef IOBUF_ASAN
		cmocka_unit_test(test_use_after_cached_put_reported),
#endif
	};

	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
