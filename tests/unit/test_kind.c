/* SPDX-License-Identifier: MIT */
/*
 * test_kind.c - content kinds (iobuf/kind.h): a registry per set, a tag
 * per hand-out that every holder and slice sees, refusals that touch
 * nothing, and registrations racing lookups.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <iobuf/kind.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

static struct iobuf_set *small_set(void)
{
	struct iobuf_set_config cfg = {.capacity = {[IOBUF_TIER_NANO] = 16}};
	struct iobuf_set *s = iobuf_set_create(&cfg, NULL);

	assert_non_null(s);
	return s;
}

static void test_registry(void **state)
{
	struct iobuf_set *s = small_set(), *t = small_set();
	char name[IOBUF_KIND_NAME_MAX + 1];

	(void)state;
	assert_int_equal(iobuf_kind_lookup(s, "raw"), IOBUF_KIND_RAW);
	assert_string_equal(iobuf_kind_name(s, 0), "raw");
	assert_int_equal(iobuf_kind_register(s, "raw"), 0);
	assert_int_equal(iobuf_kind_lookup(s, "pcm16"), -ENOENT);
	assert_int_equal(iobuf_kind_register(s, "pcm16"), 1);
	assert_int_equal(iobuf_kind_register(s, "jpeg"), 2);
	assert_int_equal(iobuf_kind_register(s, "pcm16"), 1);
	assert_int_equal(iobuf_kind_lookup(s, "jpeg"), 2);
	assert_string_equal(iobuf_kind_name(s, 2), "jpeg");
	assert_null(iobuf_kind_name(s, 3));
	assert_null(iobuf_kind_name(s, -1));
	assert_null(iobuf_kind_name(NULL, 0));
	/* Per set: another set has only "raw". */
	assert_int_equal(iobuf_kind_lookup(t, "pcm16"), -ENOENT);
	assert_int_equal(iobuf_kind_register(t, "jpeg"), 1);
	/* Names: empty, too long, NULL. */
	memset(name, 'x', sizeof(name));
	name[IOBUF_KIND_NAME_MAX] = 0;
	assert_int_equal(iobuf_kind_register(s, name), -EINVAL);
	name[IOBUF_KIND_NAME_MAX - 1] = 0;
	assert_int_equal(iobuf_kind_register(s, name), 3); /* 31 bytes fit */
	assert_int_equal(iobuf_kind_register(s, ""), -EINVAL);
	assert_int_equal(iobuf_kind_register(s, NULL), -EINVAL);
	assert_int_equal(iobuf_kind_register(NULL, "a"), -EINVAL);
	assert_int_equal(iobuf_kind_lookup(s, NULL), -EINVAL);
	assert_int_equal(iobuf_kind_lookup(NULL, "raw"), -EINVAL);
	/* Full. */
	for (int i = 4; i < IOBUF_KINDS_MAX; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(iobuf_kind_register(s, name), i);
	}
	assert_int_equal(iobuf_kind_register(s, "one-too-many"), -ENOSPC);
	assert_int_equal(iobuf_kind_register(s, "k9"), 9);
	assert_int_equal(iobuf_kind_lookup(s, "one-too-many"), -ENOENT);
	iobuf_set_destroy(s);
	iobuf_set_destroy(t);
}

static void test_tag(void **state)
{
	struct iobuf_set *s = small_set();
	int pcm = iobuf_kind_register(s, "pcm16");
	iobuf_handle_t h, h2;
	struct iobuf_slice sl, tail;
	uint8_t *b;

	(void)state;
	assert_int_equal(iobuf_get(s, 64, &h), 0);
	assert_int_equal(iobuf_kind_of(s, h), IOBUF_KIND_RAW);
	b = iobuf_buf(s, h);
	memset(b, 0x5a, 64);
	assert_int_equal(iobuf_kind_set(s, h, pcm), 0);
	assert_int_equal(iobuf_kind_of(s, h), pcm);
	for (int i = 0; i < 64; i++)
		assert_int_equal(b[i], 0x5a); /* the bytes are untouched */
	assert_int_equal(iobuf_kind_set(s, h, 7), -EINVAL); /* not registered */
	assert_int_equal(iobuf_kind_set(s, h, -1), -EINVAL);
	assert_int_equal(iobuf_kind_of(s, h), pcm);
	/* Every holder and slice sees the buffer's kind. */
	assert_int_equal(iobuf_setlen(s, h, 64), 0);
	assert_int_equal(iobuf_slice_from(s, h, &sl), 0);
	assert_int_equal(iobuf_slice_split(s, &sl, 32, &tail), 0);
	assert_int_equal(iobuf_kind_of(s, tail.h), pcm);
	assert_int_equal(iobuf_kind_set(s, tail.h, IOBUF_KIND_RAW), 0);
	assert_int_equal(iobuf_kind_of(s, sl.h), IOBUF_KIND_RAW);
	assert_int_equal(iobuf_kind_set(s, sl.h, pcm), 0);
	assert_int_equal(iobuf_slice_put(s, &sl), 0);
	assert_int_equal(iobuf_kind_of(s, tail.h), pcm);
	assert_int_equal(iobuf_slice_put(s, &tail), 0);
	/* Not live: refused, and the next hand-out of the buffer starts raw, untouched by the stale handle. */
	assert_int_equal(iobuf_kind_of(s, h), -EALREADY);
	assert_int_equal(iobuf_kind_set(s, h, pcm), -EALREADY);
	for (;;) {
		assert_int_equal(iobuf_get(s, 64, &h2), 0);
		if (iobuf_handle_index(h2) == iobuf_handle_index(h))
			break;
		assert_int_equal(iobuf_put(s, h2), 0);
	}
	assert_int_equal(iobuf_kind_of(s, h2), IOBUF_KIND_RAW);
	assert_int_equal(iobuf_kind_set(s, h, pcm), -ESTALE);
	assert_int_equal(iobuf_kind_of(s, h2), IOBUF_KIND_RAW);
	assert_int_equal(iobuf_kind_of(NULL, h2), -EINVAL);
	assert_int_equal(iobuf_kind_set(NULL, h2, 0), -EINVAL);
	assert_int_equal(iobuf_kind_of(s, IOBUF_HANDLE_NONE), -EINVAL);
	assert_int_equal(iobuf_put(s, h2), 0);
	iobuf_set_destroy(s);
}

/* Another set's handle is refused, both ways. */
static void test_other_owner(void **state)
{
	struct iobuf_set *s = small_set(), *t = small_set();
	iobuf_handle_t h;

	(void)state;
	assert_int_equal(iobuf_get(t, 64, &h), 0);
	assert_int_equal(iobuf_kind_of(s, h), -EINVAL);
	assert_int_equal(iobuf_kind_set(s, h, 0), -EINVAL);
	assert_int_equal(iobuf_put(t, h), 0);
	iobuf_set_destroy(s);
	iobuf_set_destroy(t);
}

struct reg_arg {
	struct iobuf_set *s;
	int base;
};

static void *registrar(void *arg)
{
	struct reg_arg *r = arg;
	char name[16];

	for (int i = 0; i < 100; i++) {
		int k;

		snprintf(name, sizeof(name), "n%d", (i * 7 + r->base) % 120);
		k = iobuf_kind_register(r->s, name);
		if (k <= 0 || iobuf_kind_lookup(r->s, name) != k || strcmp(iobuf_kind_name(r->s, k), name) != 0)
			fail_msg("%s: %d", name, k);
	}
	return NULL;
}

/* Two threads registering overlapping names get one kind per name. */
static void test_register_race(void **state)
{
	struct iobuf_set *s = small_set();
	struct reg_arg a = {s, 0}, b = {s, 3};
	pthread_t ta, tb;
	char name[16];

	(void)state;
	assert_int_equal(pthread_create(&ta, NULL, registrar, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, registrar, &b), 0);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	for (int i = 0; i < 120; i++) {
		int k;

		snprintf(name, sizeof(name), "n%d", i);
		k = iobuf_kind_lookup(s, name);
		if (k > 0)
			for (int j = 0; j < i; j++) {
				char other[16];

				snprintf(other, sizeof(other), "n%d", j);
				assert_int_not_equal(iobuf_kind_lookup(s, other), k);
			}
	}
	iobuf_set_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_tag),
		cmocka_unit_test(test_other_owner),
		cmocka_unit_test(test_register_race),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
