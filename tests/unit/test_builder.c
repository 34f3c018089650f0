/* SPDX-License-Identifier: MIT */
/*
 * test_builder.c - frame builders (iobuf/builder.h): frames at buffer
 * boundaries and across them, moves to a larger tier, the 256 KiB limit,
 * accounts and caches, the error paths, and a model-checked run of random
 * call sequences (frozen bytes never change, every buffer comes back).
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

#include <cmocka.h>

#include <iobuf/account.h>
#include <iobuf/builder.h>
#include <iobuf/cache.h>
#include <iobuf/pool.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

static struct iobuf_set *set_of(uint32_t per_tier)
{
	struct iobuf_set_config cfg = {0};
	struct iobuf_set *s;

	for (int t = 0; t < IOBUF_TIER_COUNT; t++)
		cfg.capacity[t] = per_tier;
	s = iobuf_set_create(&cfg, NULL);
	assert_non_null(s);
	return s;
}

static uint32_t in_use_all(const struct iobuf_set *s)
{
	struct iobuf_set_stats st;
	uint32_t n = 0;

	assert_int_equal(iobuf_set_stats(s, &st), 0);
	for (int t = 0; t < IOBUF_TIER_COUNT; t++)
		n += st.tier[t].in_use;
	return n;
}

static void pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((seed + i) * 2654435761u >> 13);
}

/* Small frames share one buffer, each its own slice; the last put returns the buffer. */
static void test_small_frames_share(void **state)
{
	struct iobuf_set *s = set_of(8);
	struct iobuf_builder_config cfg = {.hint = 64};
	struct iobuf_builder *b = iobuf_builder_create(s, &cfg, NULL);
	struct iobuf_slice sl[4];
	uint8_t want[16];

	(void)state;
	assert_non_null(b);
	assert_int_equal(in_use_all(s), 0); /* nothing taken before the first write */
	for (int i = 0; i < 4; i++) {
		pattern(want, 16, (uint32_t)i);
		assert_int_equal(iobuf_builder_append(b, want, 16), 0);
		assert_int_equal(iobuf_builder_len(b), 16);
		assert_int_equal(iobuf_builder_freeze(b, &sl[i]), 0);
		assert_int_equal(iobuf_builder_len(b), 0);
		assert_int_equal(sl[i].off, 16 * i);
		assert_int_equal(sl[i].len, 16);
	}
	/* 4 x 16 B filled the 64 B buffer: the builder let it go, the four slices hold it. */
	assert_true(sl[0].h == sl[3].h);
	assert_int_equal(iobuf_holders(s, sl[0].h), 4);
	assert_int_equal(iobuf_len(s, sl[0].h), 64);
	for (int i = 0; i < 4; i++) {
		pattern(want, 16, (uint32_t)i);
		assert_memory_equal(iobuf_slice_buf(s, &sl[i]), want, 16);
	}
	{
		struct iobuf_slice none;

		assert_int_equal(iobuf_builder_freeze(b, &none), -ENODATA);
	}
	assert_int_equal(iobuf_slices_put(s, sl, 4), 0);
	assert_int_equal(in_use_all(s), 0);
	iobuf_builder_destroy(b);
	iobuf_set_destroy(s);
}

/* A frame that outgrows its buffer moves once to the tier that holds it; frozen bytes stay put. */
static void test_frame_moves(void **state)
{
	struct iobuf_set *s = set_of(4);
	struct iobuf_builder_config cfg = {.hint = 256};
	struct iobuf_builder *b = iobuf_builder_create(s, &cfg, NULL);
	struct iobuf_slice first, big;
	uint8_t data[5000];
	void *p;
	size_t room;

	(void)state;
	pattern(data, sizeof(data), 7);
	assert_int_equal(iobuf_builder_append(b, data, 200), 0);
	assert_int_equal(iobuf_builder_freeze(b, &first), 0);
	assert_int_equal(iobuf_handle_capacity(first.h), 256);
	/* The next frame: 50 B fit after the first, then 1000 more do not: the 50 move to a 4 KiB buffer. */
	assert_int_equal(iobuf_builder_writable(b, 50, &p, &room), 0);
	assert_int_equal(room, 56);
	memcpy(p, data + 200, 50);
	assert_int_equal(iobuf_builder_commit(b, 57), -ERANGE);
	assert_int_equal(iobuf_builder_commit(b, 50), 0);
	assert_int_equal(iobuf_builder_writable(b, 1000, &p, &room), 0);
	assert_int_equal(room, 4096 - 50);
	memcpy(p, data + 250, 1000);
	assert_int_equal(iobuf_builder_commit(b, 1000), 0);
	assert_int_equal(iobuf_builder_len(b), 1050);
	assert_int_equal(iobuf_builder_freeze(b, &big), 0);
	assert_int_equal(iobuf_handle_capacity(big.h), 4096);
	assert_int_equal(big.off, 0);
	assert_int_equal(big.len, 1050);
	assert_memory_equal(iobuf_slice_buf(s, &big), data + 200, 1050);
	assert_memory_equal(iobuf_slice_buf(s, &first), data, 200);
	/* The 256 B buffer is held by the first frame alone now. */
	assert_int_equal(iobuf_holders(s, first.h), 1);
	assert_int_equal(iobuf_slice_put(s, &first), 0);
	assert_int_equal(iobuf_slice_put(s, &big), 0);
	iobuf_builder_destroy(b);
	assert_int_equal(in_use_all(s), 0);
	iobuf_set_destroy(s);
}

/* A frame no longer than the hint, written a few bytes at a time, moves once at most: to a buffer of the hint's size. */
static void test_one_move_below_hint(void **state)
{
	struct iobuf_set *s = set_of(4);
	struct iobuf_builder_config cfg = {.hint = 1024};
	struct iobuf_builder *b = iobuf_builder_create(s, &cfg, NULL);
	struct iobuf_slice first, sl;
	uint8_t data[1024];
	uint8_t *start = NULL;
	int moves = 0;

	(void)state;
	pattern(data, sizeof(data), 5);
	assert_int_equal(iobuf_builder_append(b, data, 900), 0);
	assert_int_equal(iobuf_builder_freeze(b, &first), 0);
	for (size_t n = 0; n < 600; n += 10) {
		void *p;

		assert_int_equal(iobuf_builder_writable(b, 10, &p, NULL), 0);
		if (start && (uint8_t *)p - n != start)
			moves++;
		start = (uint8_t *)p - n;
		memcpy(p, data + n, 10);
		assert_int_equal(iobuf_builder_commit(b, 10), 0);
	}
	assert_int_equal(iobuf_builder_freeze(b, &sl), 0);
	assert_int_equal(moves, 1);
	assert_int_equal(iobuf_handle_capacity(sl.h), 1024);
	assert_memory_equal(iobuf_slice_buf(s, &sl), data, 600);
	assert_memory_equal(iobuf_slice_buf(s, &first), data, 900);
	assert_int_equal(iobuf_slice_put(s, &first), 0);
	assert_int_equal(iobuf_slice_put(s, &sl), 0);
	iobuf_builder_destroy(b);
	assert_int_equal(in_use_all(s), 0);
	iobuf_set_destroy(s);
}

/* Up to 256 KiB a frame grows; beyond, it is refused and stays as it was. */
static void test_largest_tier(void **state)
{
	struct iobuf_set *s = set_of(2);
	struct iobuf_builder *b = iobuf_builder_create(s, NULL, NULL);
	struct iobuf_slice sl;
	static uint8_t data[IOBUF_MAX_SIZE];
	void *p;

	(void)state;
	pattern(data, sizeof(data), 3);
	assert_int_equal(iobuf_builder_append(b, data, 100000), 0);
	assert_int_equal(iobuf_builder_append(b, data + 100000, IOBUF_MAX_SIZE - 100000), 0);
	assert_int_equal(iobuf_builder_writable(b, 1, &p, NULL), -EMSGSIZE);
	assert_int_equal(iobuf_builder_writable(b, SIZE_MAX, &p, NULL), -EMSGSIZE);
	assert_int_equal(iobuf_builder_len(b), IOBUF_MAX_SIZE);
	assert_int_equal(iobuf_builder_freeze(b, &sl), 0);
	assert_int_equal(sl.len, IOBUF_MAX_SIZE);
	assert_memory_equal(iobuf_slice_buf(s, &sl), data, IOBUF_MAX_SIZE);
	assert_int_equal(iobuf_slice_put(s, &sl), 0);
	iobuf_builder_destroy(b);
	assert_int_equal(in_use_all(s), 0);
	iobuf_set_destroy(s);
}

/* Through a cache and an account: the buffers are charged, and a quota stops a frame cleanly. */
static void test_cache_and_account(void **state)
{
	struct iobuf_set *s = set_of(8);
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
	struct iobuf_account_config acfg = {.max_buffers = {[IOBUF_TIER_MEDIUM] = 1}};
	struct iobuf_account *a = iobuf_account_create(s, &acfg, NULL);
	struct iobuf_builder_config cfg = {.cache = c, .acct = a};
	struct iobuf_builder *b = iobuf_builder_create(s, &cfg, NULL);
	struct iobuf_account_stats st;
	struct iobuf_slice sl;
	uint8_t data[4096];
	void *p;

	(void)state;
	assert_non_null(b);
	pattern(data, sizeof(data), 1);
	assert_int_equal(iobuf_builder_append(b, data, 4000), 0);
	assert_int_equal(iobuf_builder_freeze(b, &sl), 0);
	assert_ptr_equal(iobuf_account_of(s, sl.h), a);
	/* The next frame needs a second 4 KiB buffer: over quota, refused, the frame unchanged (empty). */
	assert_int_equal(iobuf_builder_writable(b, 200, &p, NULL), -EDQUOT);
	assert_int_equal(iobuf_builder_len(b), 0);
	assert_int_equal(iobuf_builder_append(b, data, 50), 0); /* fits in what is left */
	assert_int_equal(iobuf_builder_abort(b), 0);
	assert_int_equal(iobuf_builder_len(b), 0);
	iobuf_builder_destroy(b);
	assert_int_equal(iobuf_account_stats(a, &st), 0);
	assert_int_equal(st.held[IOBUF_TIER_MEDIUM], 1); /* the slice holds it */
	assert_int_equal(iobuf_slice_put(s, &sl), 0);
	assert_int_equal(iobuf_account_stats(a, &st), 0);
	assert_int_equal(st.bytes, 0);
	iobuf_cache_destroy(c);
	assert_int_equal(iobuf_account_destroy(a), 0);
	assert_int_equal(in_use_all(s), 0);
	iobuf_set_destroy(s);
}

static void test_errors(void **state)
{
	struct iobuf_set *s = set_of(1);
	struct iobuf_builder_config cfg = {.hint = IOBUF_MAX_SIZE + 1};
	struct iobuf_builder *b;
	struct iobuf_slice sl;
	uint8_t data[64] = {0};
	void *p;
	int err = 0;

	(void)state;
	assert_null(iobuf_builder_create(NULL, NULL, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(iobuf_builder_create(s, &cfg, &err));
	assert_int_equal(err, -EINVAL);
	b = iobuf_builder_create(s, NULL, &err);
	assert_non_null(b);
	assert_int_equal(err, 0);
	assert_int_equal(iobuf_builder_writable(NULL, 1, &p, NULL), -EINVAL);
	assert_int_equal(iobuf_builder_writable(b, 0, &p, NULL), -EINVAL);
	assert_int_equal(iobuf_builder_writable(b, 1, NULL, NULL), -EINVAL);
	assert_int_equal(iobuf_builder_commit(NULL, 0), -EINVAL);
	assert_int_equal(iobuf_builder_commit(b, 1), -ERANGE); /* nothing granted yet */
	assert_int_equal(iobuf_builder_append(b, NULL, 1), -EINVAL);
	assert_int_equal(iobuf_builder_append(NULL, data, 1), -EINVAL);
	assert_int_equal(iobuf_builder_append(b, data, 0), 0);
	assert_int_equal(iobuf_builder_freeze(b, &sl), -ENODATA);
	assert_true(sl.h == IOBUF_HANDLE_NONE);
	assert_int_equal(iobuf_builder_freeze(b, NULL), -EINVAL);
	assert_int_equal(iobuf_builder_freeze(NULL, &sl), -EINVAL);
	assert_int_equal(iobuf_builder_abort(NULL), -EINVAL);
	assert_int_equal(iobuf_builder_len(NULL), 0);
	/* The set's one 4 KiB buffer taken by someone else: -ENOBUFS, nothing changed. */
	{
		iobuf_handle_t h;

		assert_int_equal(iobuf_get(s, 4096, &h), 0);
		assert_int_equal(iobuf_builder_writable(b, 10, &p, NULL), -ENOBUFS);
		assert_int_equal(iobuf_builder_len(b), 0);
		assert_int_equal(iobuf_put(s, h), 0);
	}
	iobuf_builder_destroy(b);
	iobuf_builder_destroy(NULL);
	assert_int_equal(in_use_all(s), 0);
	iobuf_set_destroy(s);
}

/*
 * A slice holder that puts twice (holders are counted, not named) puts the
 * builder's own holder: the buffer goes back, and may be handed out again.
 * The builder then must not write there: its next call is refused
 * (-EALREADY, or -ESTALE once the buffer is out again), the new owner's
 * bytes stay as they are, and the builder goes on in a fresh buffer.
 */
static void test_buffer_put_under_the_builder(void **state)
{
	struct iobuf_set *s = set_of(1);
	struct iobuf_builder *b = iobuf_builder_create(s, NULL, NULL);
	struct iobuf_slice sl, again;
	uint8_t data[64], want[4096];
	iobuf_handle_t other;
	void *p;

	(void)state;
	assert_non_null(b);
	pattern(data, sizeof(data), 1);
	/* Freed, not handed out again: -EALREADY, for writable and freeze alike. */
	assert_int_equal(iobuf_builder_append(b, data, 16), 0);
	assert_int_equal(iobuf_builder_freeze(b, &sl), 0);
	again = sl;
	assert_int_equal(iobuf_slice_put(s, &sl), 0);
	assert_int_equal(iobuf_slice_put(s, &again), 0); /* the builder's holder: the buffer is free */
	assert_int_equal(in_use_all(s), 0);
	assert_int_equal(iobuf_builder_writable(b, 16, &p, NULL), -EALREADY);
	assert_int_equal(iobuf_builder_len(b), 0);
	assert_int_equal(iobuf_builder_append(b, data, 16), 0); /* a fresh buffer */
	assert_int_equal(iobuf_builder_freeze(b, &sl), 0);
	again = sl;
	assert_int_equal(iobuf_slice_put(s, &sl), 0);
	assert_int_equal(iobuf_slice_put(s, &again), 0);
	/* Handed out again: -ESTALE, and the new owner's bytes are untouched. */
	assert_int_equal(iobuf_get(s, 4096, &other), 0);
	pattern(want, sizeof(want), 7);
	memcpy(iobuf_buf(s, other), want, sizeof(want));
	assert_int_equal(iobuf_builder_append(b, data, 16), -ESTALE);
	assert_memory_equal(iobuf_buf(s, other), want, sizeof(want));
	assert_int_equal(iobuf_builder_len(b), 0);
	/* A frame committed before the buffer went: freeze refuses it, rather than hand out a dead slice. */
	assert_int_equal(iobuf_put(s, other), 0);
	assert_int_equal(iobuf_builder_append(b, data, 16), 0);
	assert_int_equal(iobuf_builder_freeze(b, &sl), 0);
	assert_int_equal(iobuf_builder_append(b, data, 8), 0);
	again = sl;
	assert_int_equal(iobuf_slice_put(s, &sl), 0);
	assert_int_equal(iobuf_slice_put(s, &again), 0);
	assert_int_equal(iobuf_builder_freeze(b, &sl), -EALREADY);
	assert_true(sl.h == IOBUF_HANDLE_NONE);
	assert_int_equal(iobuf_builder_len(b), 0);
	iobuf_builder_destroy(b); /* holds nothing: puts nothing */
	assert_int_equal(in_use_all(s), 0);
	{
		struct iobuf_pool_stats ps;

		assert_int_equal(iobuf_pool_stats(iobuf_set_pool(s, IOBUF_TIER_SMALL), &ps), 0);
		assert_int_equal(ps.refused_already + ps.refused_stale + ps.refused_invalid, 0);
	}
	iobuf_set_destroy(s);
}

/* A cache or an account of another set, or a pool's cache, is refused at create: its buffers are not the set's. */
static void test_foreign_cache_or_account(void **state)
{
	struct iobuf_set *s = set_of(2), *other = set_of(2);
	struct iobuf_cache *c = iobuf_cache_create(other, NULL, NULL);
	struct iobuf_account_config acfg = {0};
	struct iobuf_account *a = iobuf_account_create(other, &acfg, NULL);
	struct iobuf_pool_config pc = {.buf_size = 4096, .capacity = 2};
	struct iobuf_pool *p = iobuf_pool_create(&pc, NULL);
	struct iobuf_cache *cp = iobuf_cache_create_pool(p, NULL, NULL);
	struct iobuf_builder_config cfg = {.cache = c};
	int err = 0;

	(void)state;
	assert_non_null(c);
	assert_non_null(a);
	assert_non_null(cp);
	assert_null(iobuf_builder_create(s, &cfg, &err));
	assert_int_equal(err, -EINVAL);
	cfg.cache = cp;
	err = 0;
	assert_null(iobuf_builder_create(s, &cfg, &err));
	assert_int_equal(err, -EINVAL);
	cfg.cache = NULL;
	cfg.acct = a;
	err = 0;
	assert_null(iobuf_builder_create(s, &cfg, &err));
	assert_int_equal(err, -EINVAL);
	assert_int_equal(in_use_all(other), 0);
	iobuf_cache_destroy(cp);
	iobuf_pool_destroy(p);
	assert_int_equal(iobuf_account_destroy(a), 0);
	iobuf_cache_destroy(c);
	iobuf_set_destroy(other);
	iobuf_set_destroy(s);
}

/* ---- random call sequences against a model -------------------------------------------------- */

#define LIVE 64

struct frozen {
	struct iobuf_slice s;
	uint8_t *copy; /* the bytes it had when frozen */
};

/* A frozen frame's bytes are what they were; put it. */
static void check_put(struct iobuf_set *s, struct frozen *f)
{
	assert_memory_equal(iobuf_slice_buf(s, &f->s), f->copy, f->s.len);
	assert_int_equal(iobuf_slice_put(s, &f->s), 0);
	free(f->copy);
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* A length: mostly small, sometimes up to a tier's size, rarely huge. */
static size_t rnd_len(void)
{
	switch (rnd(16)) {
	case 0:
		return 1 + rnd(70000);
	case 1:
	case 2:
		return 1 + rnd(5000);
	default:
		return 1 + rnd(300);
	}
}

static void test_model(void **state)
{
	struct iobuf_set *s = set_of(64);
	struct iobuf_builder_config cfg = {.hint = 1024};
	struct iobuf_builder *b = iobuf_builder_create(s, &cfg, NULL);
	struct frozen live[LIVE];
	static uint8_t model[IOBUF_MAX_SIZE], tmp[IOBUF_MAX_SIZE];
	size_t mlen = 0, granted = 0;
	uint32_t seed = 1;
	long steps = getenv("IOBUF_UNDER_VALGRIND") ? 20000 : 1000000;
	int nlive = 0;

	(void)state;
	for (long i = 0; i < steps; i++) {
		uint32_t op = rnd(100);

		if (op < 50) { /* writable + write + commit some */
			size_t len = rnd_len(), room, n;
			void *p;
			int rc = iobuf_builder_writable(b, len, &p, &room);

			if (mlen + len > IOBUF_MAX_SIZE) {
				assert_int_equal(rc, -EMSGSIZE);
				continue;
			}
			if (rc == -ENOBUFS)
				continue; /* every buffer of that tier is held by slices: fine, the model is unchanged */
			assert_int_equal(rc, 0);
			assert_true(room >= len);
			/* The frame's bytes so far are right before p. */
			assert_memory_equal((uint8_t *)p - mlen, model, mlen);
			n = rnd(4) ? len : rnd((uint32_t)len + 1);
			pattern(tmp, n, seed + (uint32_t)mlen);
			memcpy(p, tmp, n);
			memcpy(model + mlen, tmp, n);
			assert_int_equal(iobuf_builder_commit(b, n), 0);
			mlen += n;
			granted = room - n;
			assert_int_equal(iobuf_builder_commit(b, granted + 1), -ERANGE);
		} else if (op < 70) { /* freeze */
			struct iobuf_slice sl;
			int rc;

			if (nlive == LIVE) {
				int k = (int)rnd(LIVE);

				check_put(s, &live[k]);
				live[k] = live[--nlive];
			}
			rc = iobuf_builder_freeze(b, &sl);
			if (mlen == 0) {
				assert_int_equal(rc, -ENODATA);
				continue;
			}
			assert_int_equal(rc, 0);
			assert_int_equal(sl.len, mlen);
			assert_memory_equal(iobuf_slice_buf(s, &sl), model, mlen);
			live[nlive].s = sl;
			live[nlive].copy = malloc(mlen);
			assert_non_null(live[nlive].copy);
			memcpy(live[nlive].copy, model, mlen);
			nlive++;
			seed = (uint32_t)i + 17;
			mlen = 0;
			assert_int_equal(iobuf_builder_len(b), 0);
		} else if (op < 75) { /* abort */
			assert_int_equal(iobuf_builder_abort(b), 0);
			mlen = 0;
			seed = (uint32_t)i + 17;
		} else if (op < 95 && nlive) { /* a frozen frame is untouched; put it */
			int k = (int)rnd((uint32_t)nlive);

			check_put(s, &live[k]);
			live[k] = live[--nlive];
		} else if (nlive) { /* split one */
			int k = (int)rnd((uint32_t)nlive);
			struct iobuf_slice tail;

			if (nlive < LIVE && live[k].s.len > 1) {
				uint32_t at = rnd(live[k].s.len);

				assert_int_equal(iobuf_slice_split(s, &live[k].s, at, &tail), 0);
				live[nlive].s = tail;
				live[nlive].copy = malloc(tail.len + 1);
				assert_non_null(live[nlive].copy);
				memcpy(live[nlive].copy, live[k].copy + at, tail.len);
				nlive++;
			}
		}
		assert_int_equal(iobuf_builder_len(b), mlen);
	}
	while (nlive)
		check_put(s, &live[--nlive]);
	iobuf_builder_destroy(b);
	assert_int_equal(in_use_all(s), 0);
	iobuf_set_destroy(s);
}

/* Frozen bytes never change while the builder goes on: checked byte for byte against copies. */
static void test_frozen_bytes_stay(void **state)
{
	struct iobuf_set *s = set_of(64);
	struct iobuf_builder_config cfg = {.hint = 4096};
	struct iobuf_builder *b = iobuf_builder_create(s, &cfg, NULL);
	struct iobuf_slice sl[40];
	static uint8_t copy[40][3000];
	uint8_t data[3000];
	int n = 0;

	(void)state;
	for (int i = 0; i < 40; i++) {
		size_t len = 1 + (size_t)(i * 577) % 2999;

		pattern(data, len, (uint32_t)i);
		/* In two parts, the second sometimes forcing a move. */
		assert_int_equal(iobuf_builder_append(b, data, len / 2), 0);
		assert_int_equal(iobuf_builder_append(b, data + len / 2, len - len / 2), 0);
		assert_int_equal(iobuf_builder_freeze(b, &sl[n]), 0);
		memcpy(copy[n], data, len);
		n++;
		for (int j = 0; j < n; j++)
			assert_memory_equal(iobuf_slice_buf(s, &sl[j]), copy[j], sl[j].len);
	}
	assert_int_equal(iobuf_slices_put(s, sl, n), 0);
	iobuf_builder_destroy(b);
	assert_int_equal(in_use_all(s), 0);
	iobuf_set_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_frames_share),
		cmocka_unit_test(test_frame_moves),
		cmocka_unit_test(test_one_move_below_hint),
		cmocka_unit_test(test_largest_tier),
		cmocka_unit_test(test_cache_and_account),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_buffer_put_under_the_builder),
		cmocka_unit_test(test_foreign_cache_or_account),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_frozen_bytes_stay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
