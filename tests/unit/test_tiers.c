/* SPDX-License-Identifier: MIT */
/*
 * test_tiers.c - size to tier, the default table, sets and spill, and
 * iovecs over pooled buffers (gather, and scatter-read on real sockets).
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
#include <unistd.h>

#include <cmocka.h>

#include <iobuf/iov.h>
#include <iobuf/tiers.h>

static void test_tier_for_size(void **state)
{
	(void)state;
	assert_int_equal(iobuf_tier_for_size(0), -EINVAL);
	assert_int_equal(iobuf_tier_for_size(1), 0);
	assert_int_equal(iobuf_tier_for_size(16), 0);
	assert_int_equal(iobuf_tier_for_size(17), 1);
	assert_int_equal(iobuf_tier_for_size(64), 1);
	assert_int_equal(iobuf_tier_for_size(65), 2);
	for (int t = 0; t < IOBUF_TIER_COUNT; t++) {
		assert_int_equal(iobuf_tier_for_size(IOBUF_TIER_SIZE(t)), t);
		if (t > 0)
			assert_int_equal(iobuf_tier_for_size(IOBUF_TIER_SIZE(t - 1) + 1), t);
	}
	assert_int_equal(IOBUF_TIER_SIZE(7), 256 * 1024);
	assert_int_equal(iobuf_tier_for_size(256 * 1024 + 1), -EMSGSIZE);
	assert_int_equal(iobuf_tier_for_size(SIZE_MAX), -EMSGSIZE);
	assert_string_equal(iobuf_tier_name(0), "PICO");
	assert_string_equal(iobuf_tier_name(4), "MEDIUM");
	assert_string_equal(iobuf_tier_name(7), "GIANT");
	assert_string_equal(iobuf_tier_name(8), "?");
	assert_string_equal(iobuf_tier_name(-1), "?");
}

static void test_defaults(void **state)
{
	struct iobuf_set_config cfg;
	char buf[4096];
	FILE *f;
	size_t n;

	(void)state;
	assert_int_equal(iobuf_set_config_default(&cfg), 0);
	assert_int_equal(iobuf_set_config_default(NULL), -EINVAL);
	assert_int_equal(cfg.capacity[0], 4096);
	assert_int_equal(cfg.capacity[7], 8);
	assert_int_equal(cfg.flags, 0);
	/* The documented total: 9.8 MiB of buffers. */
	assert_int_equal(iobuf_set_footprint(&cfg), 10289152);
	assert_int_equal(iobuf_set_footprint(NULL), 0);
	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(iobuf_set_config_print(NULL, f), 0);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	assert_non_null(strstr(buf, "GIANT"));
	assert_non_null(strstr(buf, "256 KiB"));
	assert_non_null(strstr(buf, "9.8 MiB"));
	assert_int_equal(iobuf_set_config_print(&cfg, NULL), -EINVAL);
}

static void test_set_errors(void **state)
{
	struct iobuf_set_config cfg;
	int err;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	err = 0;
	assert_null(iobuf_set_create(&cfg, &err)); /* no tier */
	assert_int_equal(err, -EINVAL);
	iobuf_set_config_default(&cfg);
	cfg.flags = 1u << 9;
	assert_null(iobuf_set_create(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	iobuf_set_config_default(&cfg);
	cfg.capacity[3] = IOBUF_POOL_MAX_CAPACITY + 1;
	assert_null(iobuf_set_create(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	iobuf_set_config_default(&cfg);
	cfg.arena_flags = 1u << 30;
	assert_null(iobuf_set_create(&cfg, &err)); /* fails in the first pool: nothing leaks */
	assert_int_equal(err, -EINVAL);
	iobuf_set_destroy(NULL);
}

static void test_get_put_by_size(void **state)
{
	int err = -1;
	struct iobuf_set *s = iobuf_set_create(NULL, &err);
	static const size_t sizes[] = {1, 16, 17, 100, 1000, 4096, 5000, 65536, 262144};
	iobuf_handle_t h[9], bad;

	(void)state;
	assert_non_null(s);
	assert_int_equal(err, 0); /* set on success too */
	for (int i = 0; i < 9; i++) {
		uint8_t *b;

		assert_int_equal(iobuf_get(s, sizes[i], &h[i]), 0);
		assert_int_equal(iobuf_handle_tag(h[i]), iobuf_tier_for_size(sizes[i]));
		assert_true(iobuf_handle_capacity(h[i]) >= sizes[i]);
		b = iobuf_buf(s, h[i]);
		assert_non_null(b);
		memset(b, 0x5a, sizes[i]);
		assert_ptr_equal(iobuf_pool_buf(iobuf_set_pool(s, iobuf_handle_tag(h[i])), h[i]), b);
	}
	assert_int_equal(iobuf_get(s, 0, &bad), -EINVAL);
	assert_int_equal(iobuf_get(s, 262145, &bad), -EMSGSIZE);
	assert_int_equal(iobuf_get(NULL, 1, &bad), -EINVAL);
	assert_int_equal(iobuf_get(s, 1, NULL), -EINVAL);
	assert_int_equal(iobuf_handle_capacity(0), 0);
	assert_null(iobuf_set_pool(s, 8));
	assert_null(iobuf_set_pool(s, -1));
	assert_null(iobuf_set_pool(NULL, 0));
	for (int i = 0; i < 9; i++)
		assert_int_equal(iobuf_put(s, h[i]), 0);
	assert_int_equal(iobuf_put(s, h[0]), -EALREADY);
	assert_int_equal(iobuf_put(s, 0), -EINVAL);
	assert_int_equal(iobuf_put(NULL, h[0]), -EINVAL);
	assert_null(iobuf_buf(s, h[0]));
	assert_null(iobuf_buf(NULL, h[0]));
	iobuf_set_destroy(s);
}

static void test_spill_and_missing_tiers(void **state)
{
	struct iobuf_set_config cfg = {.capacity = {0, 1, 1, 0, 0, 0, 0, 0}};
	struct iobuf_set *s;
	struct iobuf_set_stats st;
	iobuf_handle_t a, b, c;

	(void)state;
	s = iobuf_set_create(&cfg, NULL);
	assert_non_null(s);
	assert_null(iobuf_set_pool(s, 0));
	assert_int_equal(iobuf_get(s, 8, &a), -ENOBUFS); /* PICO has no buffers */
	assert_int_equal(iobuf_get(s, 64, &a), 0);
	assert_int_equal(iobuf_get(s, 64, &b), -ENOBUFS); /* no spill by default */
	assert_int_equal(iobuf_get_wait(s, 64, &b, 0), -ETIMEDOUT);
	/* A tier the set has no buffers of: -ENOBUFS at once, waiting or not (none will come). */
	assert_int_equal(iobuf_get_wait(s, 8, &b, 0), -ENOBUFS);
	assert_int_equal(iobuf_get_wait(s, 8, &b, -1), -ENOBUFS);
	/* A handle naming an absent tier. */
	assert_int_equal(iobuf_put(s, (a & ~(UINT64_C(7) << IOBUF_HANDLE_INDEX_BITS))), -EINVAL);
	assert_int_equal(iobuf_put(s, a), 0);
	iobuf_set_destroy(s);

	cfg.flags = IOBUF_SET_SPILL;
	s = iobuf_set_create(&cfg, NULL);
	assert_non_null(s);
	assert_int_equal(iobuf_get(s, 64, &a), 0);
	assert_int_equal(iobuf_get(s, 64, &b), 0); /* spilled to MICRO */
	assert_int_equal(iobuf_handle_tag(b), IOBUF_TIER_MICRO);
	assert_int_equal(iobuf_get(s, 64, &c), -ENOBUFS);
	assert_int_equal(iobuf_get(s, 8, &c), -ENOBUFS); /* PICO absent, every larger tier empty */
	assert_int_equal(iobuf_set_stats(s, &st), 0);
	assert_int_equal(st.spills, 1);
	assert_int_equal(st.tier[1].in_use, 1);
	assert_int_equal(st.tier[2].in_use, 1);
	assert_int_equal(iobuf_put(s, b), 0);
	assert_int_equal(iobuf_get_wait(s, 64, &c, 1000000), 0); /* spills to the free MICRO */
	assert_int_equal(iobuf_put(s, c), 0);
	assert_int_equal(iobuf_put(s, a), 0);
	assert_int_equal(iobuf_set_stats(NULL, &st), -EINVAL);
	{
		FILE *f = tmpfile();

		assert_int_equal(iobuf_set_stats_print(s, f), 0);
		assert_int_equal(iobuf_set_stats_print(NULL, f), -EINVAL);
		fclose(f);
	}
	iobuf_set_destroy(s);
}

static void test_iov_from_handles(void **state)
{
	struct iobuf_set *s = iobuf_set_create(NULL, NULL);
	iobuf_handle_t h[3];
	size_t lens[3] = {10, 64, 0};
	struct iovec iov[3];

	(void)state;
	assert_int_equal(iobuf_get(s, 16, &h[0]), 0);
	assert_int_equal(iobuf_get(s, 64, &h[1]), 0);
	assert_int_equal(iobuf_get(s, 4096, &h[2]), 0);
	assert_int_equal(iobuf_iov_from_handles(s, h, NULL, 3, iov), 3);
	assert_ptr_equal(iov[0].iov_base, iobuf_buf(s, h[0]));
	assert_int_equal(iov[0].iov_len, 16);
	assert_int_equal(iov[2].iov_len, 4096);
	lens[0] = 10;
	assert_int_equal(iobuf_iov_from_handles(s, h, lens, 3, iov), 3);
	assert_int_equal(iov[0].iov_len, 10);
	assert_int_equal(iov[1].iov_len, 64);
	assert_int_equal(iov[2].iov_len, 0);
	lens[0] = 17; /* above PICO's 16 */
	assert_int_equal(iobuf_iov_from_handles(s, h, lens, 3, iov), -EINVAL);
	assert_int_equal(iobuf_iov_from_handles(NULL, h, NULL, 3, iov), -EINVAL);
	assert_int_equal(iobuf_iov_from_handles(s, NULL, NULL, 3, iov), -EINVAL);
	assert_int_equal(iobuf_iov_from_handles(s, h, NULL, -1, iov), -EINVAL);
	assert_int_equal(iobuf_iov_from_handles(s, h, NULL, 0, NULL), 0);
	assert_int_equal(iobuf_put(s, h[1]), 0);
	assert_int_equal(iobuf_iov_from_handles(s, h, NULL, 3, iov), -EINVAL); /* h[1] is free */
	assert_int_equal(iobuf_put(s, h[0]), 0);
	assert_int_equal(iobuf_put(s, h[2]), 0);
	iobuf_set_destroy(s);
}

static uint32_t in_use(struct iobuf_set *s, int tier)
{
	struct iobuf_set_stats st;

	iobuf_set_stats(s, &st);
	return st.tier[tier].in_use;
}

static void test_readv_pooled(void **state)
{
	struct iobuf_set_config cfg;
	struct iobuf_set *s;
	iobuf_handle_t hs[IOBUF_READV_POOLED_MAX], many[40];
	uint8_t data[10000];
	int sv[2], kept;
	ssize_t r;

	(void)state;
	iobuf_set_config_default(&cfg);
	cfg.capacity[IOBUF_TIER_SMALL] = 40;
	s = iobuf_set_create(&cfg, NULL);
	assert_non_null(s);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], data, sizeof(data)), (ssize_t)sizeof(data));

	/* 10,000 bytes into 1 KiB buffers: 10 kept (the last with 784 bytes), 6 put back. */
	r = iobuf_readv_pooled(s, sv[1], IOBUF_TIER_SMALL, hs, 16, &kept);
	assert_int_equal(r, 10000);
	assert_int_equal(kept, 10);
	assert_int_equal(in_use(s, IOBUF_TIER_SMALL), 10);
	for (int i = 0; i < kept; i++) {
		size_t len = i < 9 ? 1024 : 10000 - 9 * 1024;

		assert_memory_equal(iobuf_buf(s, hs[i]), data + i * 1024, len);
	}
	for (int i = 0; i < kept; i++)
		assert_int_equal(iobuf_put(s, hs[i]), 0);

	/* Nothing to read on a non-blocking socket: -EAGAIN, nothing held. */
	fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
	assert_int_equal(iobuf_readv_pooled(s, sv[1], IOBUF_TIER_SMALL, hs, 8, &kept), -EAGAIN);
	assert_int_equal(kept, 0);
	assert_int_equal(in_use(s, IOBUF_TIER_SMALL), 0);

	/* A short read into fewer free buffers than asked. */
	assert_int_equal(iobuf_pool_get_bulk(iobuf_set_pool(s, IOBUF_TIER_SMALL), many, 38), 0);
	assert_int_equal(write(sv[0], data, 3000), 3000);
	assert_int_equal(iobuf_readv_pooled(s, sv[1], IOBUF_TIER_SMALL, hs, 8, &kept), 2048);
	assert_int_equal(kept, 2);
	assert_memory_equal(iobuf_buf(s, hs[1]), data + 1024, 1024);
	assert_int_equal(iobuf_put(s, hs[0]), 0);
	assert_int_equal(iobuf_put(s, hs[1]), 0);
	assert_int_equal(iobuf_pool_get_bulk(iobuf_set_pool(s, IOBUF_TIER_SMALL), many + 38, 2), 0);
	/* The tier empty: -ENOBUFS. */
	assert_int_equal(iobuf_readv_pooled(s, sv[1], IOBUF_TIER_SMALL, hs, 8, &kept), -ENOBUFS);
	assert_int_equal(kept, 0);
	assert_int_equal(iobuf_pool_put_bulk(iobuf_set_pool(s, IOBUF_TIER_SMALL), many, 40), 0);
	/* The rest, then end of file: 0, nothing held. */
	close(sv[0]);
	assert_int_equal(iobuf_readv_pooled(s, sv[1], IOBUF_TIER_SMALL, hs, 8, &kept), 952);
	assert_int_equal(kept, 1);
	assert_int_equal(iobuf_put(s, hs[0]), 0);
	assert_int_equal(iobuf_readv_pooled(s, sv[1], IOBUF_TIER_SMALL, hs, 8, &kept), 0);
	assert_int_equal(kept, 0);
	/* Errors: nothing held. */
	assert_int_equal(iobuf_readv_pooled(s, -1, IOBUF_TIER_SMALL, hs, 8, &kept), -EBADF);
	assert_int_equal(iobuf_readv_pooled(s, sv[1], IOBUF_TIER_SMALL, hs, 0, &kept), -EINVAL);
	assert_int_equal(iobuf_readv_pooled(s, sv[1], IOBUF_TIER_SMALL, hs, IOBUF_READV_POOLED_MAX + 1, &kept), -EINVAL);
	assert_int_equal(iobuf_readv_pooled(s, sv[1], 8, hs, 8, &kept), -EINVAL);
	assert_int_equal(iobuf_readv_pooled(NULL, sv[1], 3, hs, 8, &kept), -EINVAL);
	assert_int_equal(iobuf_readv_pooled(s, sv[1], 3, NULL, 8, &kept), -EINVAL);
	assert_int_equal(iobuf_readv_pooled(s, sv[1], 3, hs, 8, NULL), -EINVAL);
	assert_int_equal(in_use(s, IOBUF_TIER_SMALL), 0);
	close(sv[1]);
	iobuf_set_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tier_for_size),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_set_errors),
		cmocka_unit_test(test_get_put_by_size),
		cmocka_unit_test(test_spill_and_missing_tiers),
		cmocka_unit_test(test_iov_from_handles),
		cmocka_unit_test(test_readv_pooled),
	};

	return cmocka_run_group_tests_name("tiers", tests, NULL, NULL);
}
