/* SPDX-License-Identifier: MIT */
/*
 * test_account.c - tenant accounts (iobuf/account.h): limits, credits
 * through every put, sharing, watermarks and their fd, and two threads
 * racing one account to its limit.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <iobuf/account.h>
#include <iobuf/cache.h>
#include <iobuf/pool.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

static struct iobuf_set *small_set(unsigned flags)
{
	struct iobuf_set_config cfg = {.capacity = {[IOBUF_TIER_NANO] = 256, [IOBUF_TIER_SMALL] = 64}, .flags = flags};
	struct iobuf_set *s = iobuf_set_create(&cfg, NULL);

	assert_non_null(s);
	return s;
}

static struct iobuf_account_stats stats(const struct iobuf_account *a)
{
	struct iobuf_account_stats st;

	assert_int_equal(iobuf_account_stats(a, &st), 0);
	return st;
}

/* A per-tier limit refuses the next get with -EDQUOT, charges nothing, and a put makes room again. */
static void test_tier_limit(void **state)
{
	struct iobuf_set *s = small_set(0);
	struct iobuf_account_config cfg = {.max_buffers = {[IOBUF_TIER_NANO] = 3}};
	struct iobuf_account *a = iobuf_account_create(s, &cfg, NULL);
	iobuf_handle_t h[4], x;
	struct iobuf_account_stats st;

	(void)state;
	assert_non_null(a);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(iobuf_account_get(a, 64, &h[i]), 0);
		assert_ptr_equal(iobuf_account_of(s, h[i]), a);
	}
	assert_int_equal(iobuf_account_get(a, 64, &h[3]), -EDQUOT);
	st = stats(a);
	assert_int_equal(st.held[IOBUF_TIER_NANO], 3);
	assert_int_equal(st.bytes, 3 * 64);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.gets, 3);
	/* Other tiers have no limit; gets with no account are not charged. */
	assert_int_equal(iobuf_account_get(a, 1000, &x), 0);
	assert_int_equal(stats(a).bytes, 3 * 64 + 1024);
	assert_int_equal(iobuf_put(s, x), 0);
	assert_int_equal(iobuf_get(s, 64, &x), 0);
	assert_null(iobuf_account_of(s, x));
	assert_int_equal(iobuf_put(s, x), 0);
	assert_int_equal(stats(a).bytes, 3 * 64);
	/* A put credits, and the freed room serves the next get. */
	assert_int_equal(iobuf_put(s, h[0]), 0);
	assert_null(iobuf_account_of(s, h[0]));
	st = stats(a);
	assert_int_equal(st.held[IOBUF_TIER_NANO], 2);
	assert_int_equal(st.puts, 2);
	assert_int_equal(iobuf_account_get(a, 64, &h[0]), 0);
	assert_int_equal(iobuf_account_destroy(a), -EBUSY);
	for (int i = 0; i < 3; i++)
		assert_int_equal(iobuf_put(s, h[i]), 0);
	st = stats(a);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.peak_bytes, 3 * 64 + 1024);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
}

/* The byte limit counts tier sizes across tiers. */
static void test_byte_limit(void **state)
{
	struct iobuf_set *s = small_set(0);
	struct iobuf_account_config cfg = {.max_bytes = 2048 + 64};
	struct iobuf_account *a = iobuf_account_create(s, &cfg, NULL);
	iobuf_handle_t h[4];

	(void)state;
	assert_non_null(a);
	assert_int_equal(iobuf_account_get(a, 1024, &h[0]), 0);
	assert_int_equal(iobuf_account_get(a, 1024, &h[1]), 0);
	assert_int_equal(iobuf_account_get(a, 1024, &h[2]), -EDQUOT);
	assert_int_equal(iobuf_account_get(a, 64, &h[2]), 0);
	assert_int_equal(iobuf_account_get(a, 1, &h[3]), -EDQUOT);
	assert_int_equal(stats(a).held[IOBUF_TIER_SMALL], 2);
	assert_int_equal(stats(a).held[IOBUF_TIER_NANO], 1);
	assert_int_equal(stats(a).refused, 2);
	for (int i = 0; i < 3; i++)
		assert_int_equal(iobuf_put(s, h[i]), 0);
	assert_int_equal(stats(a).bytes, 0);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
}

/* Every put path credits exactly once; a shared buffer counts once until its last holder. */
static void test_credit_paths(void **state)
{
	struct iobuf_set *s = small_set(0);
	struct iobuf_account_config cfg = {0};
	struct iobuf_account *a = iobuf_account_create(s, &cfg, NULL);
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
	iobuf_handle_t h[5];
	struct iobuf_slice sl, tail;

	(void)state;
	assert_non_null(a);
	assert_non_null(c);
	for (int i = 0; i < 5; i++)
		assert_int_equal(iobuf_account_get_cached(a, c, 64, &h[i]), 0);
	assert_int_equal(stats(a).held[IOBUF_TIER_NANO], 5);
	assert_int_equal(iobuf_put(s, h[0]), 0);
	assert_int_equal(iobuf_cache_put(c, h[1]), 0);
	assert_int_equal(iobuf_pool_put(iobuf_set_pool(s, IOBUF_TIER_NANO), h[2]), 0);
	assert_int_equal(iobuf_pool_put_index(iobuf_set_pool(s, IOBUF_TIER_NANO), iobuf_handle_index(h[3])), 0);
	assert_int_equal(stats(a).held[IOBUF_TIER_NANO], 1);
	assert_int_equal(stats(a).puts, 4);
	/* Shared: holders and slices; only the last put credits. */
	assert_int_equal(iobuf_setlen(s, h[4], 40), 0);
	assert_int_equal(iobuf_hold(s, h[4], 1), 0);
	assert_int_equal(iobuf_slice_from(s, h[4], &sl), 0);
	assert_int_equal(iobuf_slice_split(s, &sl, 10, &tail), 0);
	assert_int_equal(iobuf_holders(s, h[4]), 3);
	assert_int_equal(iobuf_cache_put(c, h[4]), 0);
	assert_int_equal(iobuf_slice_put(s, &sl), 0);
	assert_int_equal(stats(a).held[IOBUF_TIER_NANO], 1);
	assert_ptr_equal(iobuf_account_of(s, h[4]), a);
	assert_int_equal(iobuf_slice_put(s, &tail), 0);
	assert_int_equal(stats(a).held[IOBUF_TIER_NANO], 0);
	assert_int_equal(stats(a).puts, 5);
	/* Refused puts credit nothing. */
	assert_int_equal(iobuf_put(s, h[4]), -EALREADY);
	assert_int_equal(iobuf_cache_put(c, h[0]), -EALREADY);
	assert_int_equal(stats(a).puts, 5);
	assert_int_equal(stats(a).bytes, 0);
	iobuf_cache_destroy(c);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
}

static void test_errors(void **state)
{
	struct iobuf_set *s = small_set(0), *other = small_set(0);
	struct iobuf_account_config cfg = {.high_bytes = 100, .low_bytes = 100};
	struct iobuf_account *a;
	struct iobuf_cache *c = iobuf_cache_create(other, NULL, NULL);
	struct iobuf_pool_config pc = {.buf_size = 64, .capacity = 8};
	struct iobuf_pool *p = iobuf_pool_create(&pc, NULL);
	struct iobuf_cache *cp = iobuf_cache_create_pool(p, NULL, NULL);
	iobuf_handle_t h;
	int err = 0;

	(void)state;
	assert_null(iobuf_account_create(s, &cfg, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(iobuf_account_create(NULL, &cfg, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(iobuf_account_create(s, NULL, &err));
	cfg.low_bytes = 10;
	a = iobuf_account_create(s, &cfg, &err);
	assert_non_null(a);
	assert_int_equal(err, 0);
	assert_int_equal(iobuf_account_get(NULL, 64, &h), -EINVAL);
	assert_int_equal(iobuf_account_get(a, 64, NULL), -EINVAL);
	assert_int_equal(iobuf_account_get(a, 0, &h), -EINVAL);
	assert_int_equal(iobuf_account_get(a, IOBUF_MAX_SIZE + 1, &h), -EMSGSIZE);
	assert_int_equal(iobuf_account_get(a, 16 * 1024, &h), -ENOBUFS); /* a tier the set has none of */
	assert_int_equal(iobuf_account_get_cached(a, c, 64, &h), -EINVAL);  /* another set's cache */
	assert_int_equal(iobuf_account_get_cached(a, cp, 64, &h), -EINVAL); /* a pool's cache */
	assert_int_equal(iobuf_account_get_cached(a, NULL, 64, &h), -EINVAL);
	{
		struct iobuf_account_stats st = stats(a);

		assert_int_equal(st.bytes, 0);
		assert_int_equal(st.held[IOBUF_TIER_LARGE], 0);
		assert_int_equal(st.refused, 0);
	}
	assert_int_equal(iobuf_account_stats(NULL, NULL), -EINVAL);
	assert_int_equal(iobuf_account_ready_fd(NULL), -EINVAL);
	assert_null(iobuf_account_of(NULL, 0));
	assert_int_equal(iobuf_account_destroy(NULL), -EINVAL);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_cache_destroy(c);
	iobuf_cache_destroy(cp);
	iobuf_pool_destroy(p);
	iobuf_set_destroy(s);
	iobuf_set_destroy(other);
}

/* A get spilled to a larger tier (IOBUF_SET_SPILL) is charged to that tier. */
static void test_spill_charged_where_it_came_from(void **state)
{
	struct iobuf_set_config scfg = {.capacity = {[IOBUF_TIER_NANO] = 1, [IOBUF_TIER_SMALL] = 4},
					.flags = IOBUF_SET_SPILL};
	struct iobuf_set *s = iobuf_set_create(&scfg, NULL);
	struct iobuf_account_config cfg = {.max_buffers = {[IOBUF_TIER_SMALL] = 1}};
	struct iobuf_account *a;
	iobuf_handle_t h1, h2, h3;

	(void)state;
	assert_non_null(s);
	a = iobuf_account_create(s, &cfg, NULL);
	assert_int_equal(iobuf_account_get(a, 64, &h1), 0);
	assert_int_equal(iobuf_account_get(a, 64, &h2), 0); /* spilled */
	assert_int_equal(iobuf_handle_tag(h2), IOBUF_TIER_SMALL);
	assert_int_equal(stats(a).held[IOBUF_TIER_NANO], 1);
	assert_int_equal(stats(a).held[IOBUF_TIER_SMALL], 1);
	assert_int_equal(iobuf_account_get(a, 64, &h3), -EDQUOT); /* would spill past SMALL's limit */
	assert_int_equal(stats(a).held[IOBUF_TIER_NANO], 1);
	assert_int_equal(stats(a).held[IOBUF_TIER_SMALL], 1);
	{
		struct iobuf_pool_stats ps;

		assert_int_equal(iobuf_pool_stats(iobuf_set_pool(s, IOBUF_TIER_SMALL), &ps), 0);
		assert_int_equal(ps.in_use, 1); /* the refused spill gave its buffer back */
	}
	assert_int_equal(iobuf_put(s, h1), 0);
	assert_int_equal(iobuf_put(s, h2), 0);
	assert_int_equal(stats(a).bytes, 0);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
}

/* Reads charged to an account: as many buffers as its limit allows, then -EDQUOT; the rest go back uncharged. */
static void test_account_readv(void **state)
{
	struct iobuf_set *s = small_set(0), *other = small_set(0);
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL), *oc = iobuf_cache_create(other, NULL, NULL);
	struct iobuf_account_config cfg = {.max_buffers = {[IOBUF_TIER_SMALL] = 2}};
	struct iobuf_account *a = iobuf_account_create(s, &cfg, NULL);
	struct iobuf_slice sl[8];
	uint8_t data[5000];
	int sv[2], kept = -1;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memset(data, 7, sizeof(data));
	assert_int_equal(write(sv[0], data, sizeof(data)), 5000);
	assert_int_equal(iobuf_account_readv(a, c, sv[1], IOBUF_TIER_SMALL, sl, 8, &kept), 2048);
	assert_int_equal(kept, 2);
	assert_ptr_equal(iobuf_account_of(s, sl[0].h), a);
	assert_int_equal(stats(a).held[IOBUF_TIER_SMALL], 2);
	assert_int_equal(iobuf_account_readv(a, c, sv[1], IOBUF_TIER_SMALL, sl + 2, 8, &kept), -EDQUOT);
	assert_int_equal(kept, 0);
	assert_int_equal(iobuf_account_readv(NULL, c, sv[1], IOBUF_TIER_SMALL, sl + 2, 8, &kept), -EINVAL);
	assert_int_equal(iobuf_account_readv(a, oc, sv[1], IOBUF_TIER_SMALL, sl + 2, 8, &kept), -EINVAL);
	assert_int_equal(iobuf_account_readv(a, c, sv[1], 9, sl + 2, 8, &kept), -EINVAL);
	assert_int_equal(iobuf_slices_put(s, sl, 2), 0);
	assert_int_equal(stats(a).bytes, 0);
	/* Room again: the rest is read. */
	assert_int_equal(iobuf_account_readv(a, c, sv[1], IOBUF_TIER_SMALL, sl, 8, &kept), 2048);
	assert_int_equal(iobuf_slices_put(s, sl, kept), 0);
	assert_int_equal(iobuf_account_readv(a, c, sv[1], IOBUF_TIER_SMALL, sl, 8, &kept), 904);
	assert_int_equal(kept, 1);
	assert_int_equal(iobuf_slices_put(s, sl, kept), 0);
	assert_int_equal(stats(a).bytes, 0);
	assert_int_equal(stats(a).refused, 4); /* the refused read, and each of the three reads that stopped at the limit */
	close(sv[0]);
	close(sv[1]);
	iobuf_cache_destroy(c);
	iobuf_cache_destroy(oc);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
	iobuf_set_destroy(other);
}

/* ---- watermarks ---------------------------------------------------------------------------- */

struct edge_log {
	int n;
	bool high[64];
};

static void on_edge(struct iobuf_account *a, bool high, void *arg)
{
	struct edge_log *log = arg;

	(void)a;
	if (log->n < 64)
		log->high[log->n] = high;
	log->n++;
}

static bool fd_readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) == 1;
}

/* Each crossing fires once: up through high, down through low, with hysteresis between. */
static void test_watermarks(void **state)
{
	struct iobuf_set *s = small_set(0);
	struct edge_log log = {0};
	struct iobuf_account_config cfg = {.high_bytes = 4 * 64, .low_bytes = 64, .on_watermark = on_edge, .arg = &log};
	struct iobuf_account *a = iobuf_account_create(s, &cfg, NULL);
	iobuf_handle_t h[8];
	uint64_t v;
	int fd;

	(void)state;
	assert_non_null(a);
	fd = iobuf_account_ready_fd(a);
	assert_true(fd >= 0);
	assert_int_equal(iobuf_account_ready_fd(a), fd);
	for (int i = 0; i < 3; i++)
		assert_int_equal(iobuf_account_get(a, 64, &h[i]), 0);
	assert_int_equal(log.n, 0);
	assert_false(fd_readable(fd));
	assert_int_equal(iobuf_account_get(a, 64, &h[3]), 0); /* reaches high */
	assert_int_equal(log.n, 1);
	assert_true(log.high[0]);
	assert_true(stats(a).above_high);
	assert_true(fd_readable(fd));
	assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(iobuf_account_get(a, 64, &h[4]), 0); /* above: no new edge */
	assert_int_equal(iobuf_put(s, h[4]), 0);
	assert_int_equal(iobuf_put(s, h[3]), 0); /* back under high: still no edge (hysteresis) */
	assert_int_equal(iobuf_put(s, h[2]), 0);
	assert_int_equal(log.n, 1);
	assert_int_equal(iobuf_put(s, h[1]), 0); /* down to low */
	assert_int_equal(log.n, 2);
	assert_false(log.high[1]);
	assert_false(stats(a).above_high);
	assert_true(fd_readable(fd));
	assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(iobuf_put(s, h[0]), 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(stats(a).highs, 1);
	assert_int_equal(stats(a).lows, 1);
	assert_false(fd_readable(fd));
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
}

/* The bulk puts credit each charged buffer they return, as the single puts do. */
static void test_credit_bulk_paths(void **state)
{
	struct iobuf_set *s = small_set(0);
	struct iobuf_account_config cfg = {0};
	struct iobuf_account *a = iobuf_account_create(s, &cfg, NULL);
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
	struct iobuf_pool *p = iobuf_set_pool(s, IOBUF_TIER_NANO);
	iobuf_handle_t h[8];
	uint32_t idx[2];
	struct iobuf_slice sl[2];

	(void)state;
	assert_non_null(a);
	assert_non_null(c);
	for (int i = 0; i < 8; i++)
		assert_int_equal(iobuf_account_get(a, 64, &h[i]), 0);
	assert_int_equal(iobuf_pool_put_bulk(p, h, 2), 0);
	assert_int_equal(stats(a).held[IOBUF_TIER_NANO], 6);
	assert_int_equal(iobuf_cache_put_bulk(c, h + 2, 2), 0);
	assert_int_equal(stats(a).held[IOBUF_TIER_NANO], 4);
	/* A set-bound cache takes no raw index; the set's pool does, one or in a bulk-sized loop. */
	idx[0] = iobuf_handle_index(h[4]);
	idx[1] = iobuf_handle_index(h[5]);
	assert_int_equal(iobuf_cache_put_index(c, idx[0]), -EINVAL);
	assert_int_equal(stats(a).held[IOBUF_TIER_NANO], 4);
	for (int i = 0; i < 2; i++)
		assert_int_equal(iobuf_pool_put_index(p, idx[i]), 0);
	assert_int_equal(stats(a).held[IOBUF_TIER_NANO], 2);
	/* A short write's consume puts the slices it finished. */
	assert_int_equal(iobuf_setlen(s, h[6], 10), 0);
	assert_int_equal(iobuf_setlen(s, h[7], 10), 0);
	assert_int_equal(iobuf_slice_from(s, h[6], &sl[0]), 0);
	assert_int_equal(iobuf_slice_from(s, h[7], &sl[1]), 0);
	assert_int_equal(iobuf_slices_consume(s, sl, 2, 15), 1);
	assert_int_equal(stats(a).held[IOBUF_TIER_NANO], 1);
	assert_int_equal(iobuf_slices_put(s, sl + 1, 1), 0);
	assert_int_equal(stats(a).held[IOBUF_TIER_NANO], 0);
	assert_int_equal(stats(a).puts, 8);
	assert_int_equal(stats(a).bytes, 0);
	iobuf_cache_destroy(c);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
}

/* A parked cache refuses the get with -EBUSY, and the reservation is given back. */
static void test_parked_cache(void **state)
{
	struct iobuf_set *s = small_set(0);
	struct iobuf_account_config cfg = {.max_buffers = {[IOBUF_TIER_NANO] = 1}};
	struct iobuf_account *a = iobuf_account_create(s, &cfg, NULL);
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
	iobuf_handle_t h;
	struct iobuf_account_stats st;

	(void)state;
	assert_non_null(a);
	assert_non_null(c);
	assert_int_equal(iobuf_cache_park(c), 0);
	assert_int_equal(iobuf_account_get_cached(a, c, 64, &h), -EBUSY);
	st = stats(a);
	assert_int_equal(st.held[IOBUF_TIER_NANO], 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.gets, 0);
	assert_int_equal(st.refused, 0); /* not a quota's refusal */
	assert_int_equal(iobuf_cache_unpark(c), 0);
	assert_int_equal(iobuf_account_get_cached(a, c, 64, &h), 0); /* the one buffer the limit allows */
	assert_int_equal(iobuf_cache_put(c, h), 0);
	iobuf_cache_destroy(c);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
}

/*
 * A spilled get is charged the larger tier's size, and only that: it is
 * refused only when that buffer would pass a limit, never for the size of
 * the tier it was asked of on top, and peak_bytes and the watermarks see
 * the buffer alone.
 */
static void test_spill_byte_limit(void **state)
{
	struct iobuf_set_config scfg = {.capacity = {[IOBUF_TIER_NANO] = 1, [IOBUF_TIER_SMALL] = 4},
					.flags = IOBUF_SET_SPILL};
	struct iobuf_set *s = iobuf_set_create(&scfg, NULL);
	struct edge_log log = {0};
	struct iobuf_account_config cfg = {.max_bytes = 64 + 1024,
					   .high_bytes = 64 + 1024,
					   .low_bytes = 64,
					   .on_watermark = on_edge,
					   .arg = &log};
	struct iobuf_account *a;
	iobuf_handle_t h1, h2;
	struct iobuf_account_stats st;

	(void)state;
	assert_non_null(s);
	a = iobuf_account_create(s, &cfg, NULL);
	assert_non_null(a);
	assert_int_equal(iobuf_account_get(a, 64, &h1), 0);
	assert_int_equal(iobuf_account_get(a, 64, &h2), 0); /* spilled: 64 + 1024 is the limit, not beyond */
	assert_int_equal(iobuf_handle_tag(h2), IOBUF_TIER_SMALL);
	st = stats(a);
	assert_int_equal(st.bytes, 64 + 1024);
	assert_int_equal(st.peak_bytes, 64 + 1024);
	assert_int_equal(st.refused, 0);
	assert_int_equal(log.n, 1); /* the high mark, reached once */
	assert_int_equal(iobuf_put(s, h1), 0);
	assert_int_equal(iobuf_put(s, h2), 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(stats(a).bytes, 0);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
}

/* A get that would reach the high mark but finds no buffer fires no edge (and so no low one after). */
static void test_no_edge_for_a_failed_get(void **state)
{
	struct iobuf_set_config scfg = {.capacity = {[IOBUF_TIER_NANO] = 1}};
	struct iobuf_set *s = iobuf_set_create(&scfg, NULL);
	struct edge_log log = {0};
	struct iobuf_account_config cfg = {.high_bytes = 64, .low_bytes = 0, .on_watermark = on_edge, .arg = &log};
	struct iobuf_account *a = iobuf_account_create(s, &cfg, NULL);
	iobuf_handle_t x, h;

	(void)state;
	assert_int_equal(iobuf_get(s, 64, &x), 0);
	assert_int_equal(iobuf_account_get(a, 64, &h), -ENOBUFS);
	assert_int_equal(log.n, 0);
	assert_int_equal(stats(a).highs + stats(a).lows, 0);
	assert_int_equal(iobuf_put(s, x), 0);
	assert_int_equal(iobuf_account_get(a, 64, &h), 0);
	assert_int_equal(log.n, 1);
	assert_int_equal(iobuf_put(s, h), 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
}

/* ---- two threads ----------------------------------------------------------------------------- */

#define RACE_LIMIT 16
#define RACE_ROUNDS 20000

struct racer {
	struct iobuf_set *s;
	struct iobuf_account *a;
	struct edge_log *log;
	uint64_t refused;
	int over; /* times more than the limit were held (must stay 0) */
};

static int held_now(struct iobuf_account *a)
{
	struct iobuf_account_stats st;

	(void)iobuf_account_stats(a, &st);
	return (int)st.held[IOBUF_TIER_NANO];
}

static void *race(void *arg)
{
	struct racer *r = arg;
	struct iobuf_cache *c = iobuf_cache_create(r->s, NULL, NULL);
	iobuf_handle_t mine[RACE_LIMIT];
	int n = 0;

	for (int i = 0; i < RACE_ROUNDS; i++) {
		if (n < RACE_LIMIT && (i % 3) != 2) {
			int rc = (i & 1) ? iobuf_account_get(r->a, 64, &mine[n]) : iobuf_account_get_cached(r->a, c, 64, &mine[n]);

			if (rc == 0)
				n++;
			else if (rc == -EDQUOT)
				r->refused++;
			else
				fail_msg("get: %d", rc);
			if (held_now(r->a) > RACE_LIMIT)
				r->over++;
		} else if (n > 0) {
			int rc = (i & 4) ? iobuf_cache_put(c, mine[--n]) : iobuf_put(r->s, mine[--n]);

			if (rc != 0)
				fail_msg("put: %d", rc);
		}
	}
	while (n > 0)
		assert_int_equal(iobuf_put(r->s, mine[--n]), 0);
	iobuf_cache_destroy(c);
	return NULL;
}

/* Two threads race one account to its limit: never above it, refusals counted, exact at the end, edges alternate. */
static void test_two_threads(void **state)
{
	struct iobuf_set *s = small_set(0);
	struct edge_log log = {0};
	struct iobuf_account_config cfg = {.max_buffers = {[IOBUF_TIER_NANO] = RACE_LIMIT},
					   .high_bytes = 12 * 64,
					   .low_bytes = 4 * 64,
					   .on_watermark = on_edge,
					   .arg = &log};
	struct iobuf_account *a = iobuf_account_create(s, &cfg, NULL);
	struct racer r[2] = {{s, a, &log, 0, 0}, {s, a, &log, 0, 0}};
	pthread_t t[2];
	struct iobuf_account_stats st;
	struct iobuf_pool_stats ps;

	(void)state;
	assert_non_null(a);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	st = stats(a);
	assert_int_equal(r[0].over + r[1].over, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.held[IOBUF_TIER_NANO], 0);
	assert_int_equal(st.refused, r[0].refused + r[1].refused);
	assert_int_equal(st.gets, st.puts);
	assert_true(st.peak_bytes <= RACE_LIMIT * 64);
	/* Edges alternate high, low, high...; it ends below low, so the last was a low one. */
	assert_int_equal(st.highs, st.lows);
	assert_int_equal((uint64_t)log.n, st.highs + st.lows);
	for (int i = 0; i < log.n && i < 64; i++)
		assert_true(log.high[i] == (i % 2 == 0));
	assert_int_equal(iobuf_pool_stats(iobuf_set_pool(s, IOBUF_TIER_NANO), &ps), 0);
	assert_int_equal(ps.in_use, 0);
	assert_int_equal(ps.refused_already + ps.refused_stale + ps.refused_invalid, 0);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
}

/* ---- destroy racing a credit, and callbacks that call the account ---------------------------- */

/* Holds the low edge's callback (on the putting thread) until released: the credit is then under way. */
static struct gate {
	pthread_mutex_t m;
	pthread_cond_t cv;
	bool entered, release;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};

static void on_edge_gated(struct iobuf_account *a, bool high, void *arg)
{
	(void)a;
	(void)arg;
	if (high)
		return;
	pthread_mutex_lock(&gate.m);
	gate.entered = true;
	pthread_cond_broadcast(&gate.cv);
	while (!gate.release)
		pthread_cond_wait(&gate.cv, &gate.m);
	pthread_mutex_unlock(&gate.m);
}

struct put_arg {
	struct iobuf_set *s;
	iobuf_handle_t h;
	int rc;
};

static void *put_one(void *arg)
{
	struct put_arg *pa = arg;

	pa->rc = iobuf_put(pa->s, pa->h);
	return NULL;
}

/* Wait (bounded by a generous watchdog) until @flag is true under the gate's lock. */
static bool gate_wait(bool *flag)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&gate.m);
	while (!*flag && rc == 0)
		rc = pthread_cond_timedwait(&gate.cv, &gate.m, &until);
	pthread_mutex_unlock(&gate.m);
	return *flag;
}

/*
 * A destroy while the last put's credit is still running (its low edge's
 * callback, here held open) is refused with -EBUSY: the credit touches
 * the account until it returns, so freeing it there would be a use after
 * free on the putting thread.
 */
static void test_destroy_during_credit(void **state)
{
	struct iobuf_set *s = small_set(0);
	struct iobuf_account_config cfg = {.high_bytes = 64, .low_bytes = 0, .on_watermark = on_edge_gated};
	struct iobuf_account *a = iobuf_account_create(s, &cfg, NULL);
	struct put_arg pa = {s, IOBUF_HANDLE_NONE, -1};
	pthread_t t;

	(void)state;
	assert_non_null(a);
	gate.entered = gate.release = false;
	assert_int_equal(iobuf_account_get(a, 64, &pa.h), 0); /* the high edge: passes the gate */
	assert_int_equal(pthread_create(&t, NULL, put_one, &pa), 0);
	assert_true(gate_wait(&gate.entered)); /* the put's credit is in the low edge's callback */
	assert_int_equal(stats(a).bytes, 0);
	assert_int_equal(iobuf_account_destroy(a), -EBUSY);
	pthread_mutex_lock(&gate.m);
	gate.release = true;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.m);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(pa.rc, 0);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_set_destroy(s);
}

/* The callback of the high edge sheds load: it asks for the fd and puts charged buffers, down through low. */
struct shed {
	struct iobuf_set *s;
	iobuf_handle_t h[4];
	int n, fd;
	struct edge_log log;
	bool done;
};

static void on_edge_shed(struct iobuf_account *a, bool high, void *arg)
{
	struct shed *sh = arg;

	on_edge(a, high, &sh->log);
	if (!high)
		return;
	sh->fd = iobuf_account_ready_fd(a);
	while (sh->n > 0)
		assert_int_equal(iobuf_put(sh->s, sh->h[--sh->n]), 0);
}

static void *shed_run(void *arg)
{
	struct shed *sh = arg;
	struct iobuf_account_config cfg = {.high_bytes = 4 * 64, .low_bytes = 64, .on_watermark = on_edge_shed, .arg = sh};
	struct iobuf_account *a = iobuf_account_create(sh->s, &cfg, NULL);
	iobuf_handle_t last;

	assert_non_null(a);
	for (sh->n = 0; sh->n < 3; sh->n++)
		assert_int_equal(iobuf_account_get(a, 64, &sh->h[sh->n]), 0);
	assert_int_equal(iobuf_account_get(a, 64, &last), 0); /* high: the callback puts the other three */
	assert_int_equal(iobuf_put(sh->s, last), 0);
	assert_int_equal(stats(a).bytes, 0);
	assert_int_equal(iobuf_account_destroy(a), 0);
	pthread_mutex_lock(&gate.m);
	sh->done = true;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.m);
	return NULL;
}

/*
 * A callback may call the account back: its fd, and puts that cross the
 * next edge, which then fires after it returns, in order, once.  Run on a
 * thread, so that a deadlock fails the test by its watchdog.
 */
static void test_callback_calls_back(void **state)
{
	struct shed sh = {.s = small_set(0), .fd = -1};
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, shed_run, &sh), 0);
	assert_true(gate_wait(&sh.done));
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(sh.fd >= 0);
	assert_int_equal(sh.log.n, 2);
	assert_true(sh.log.high[0]);
	assert_false(sh.log.high[1]);
	iobuf_set_destroy(sh.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tier_limit),
		cmocka_unit_test(test_byte_limit),
		cmocka_unit_test(test_credit_paths),
		cmocka_unit_test(test_credit_bulk_paths),
		cmocka_unit_test(test_parked_cache),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_spill_charged_where_it_came_from),
		cmocka_unit_test(test_account_readv),
		cmocka_unit_test(test_watermarks),
		cmocka_unit_test(test_no_edge_for_a_failed_get),
		cmocka_unit_test(test_spill_byte_limit),
		cmocka_unit_test(test_two_threads),
		cmocka_unit_test(test_destroy_during_credit),
		cmocka_unit_test(test_callback_calls_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
