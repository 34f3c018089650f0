/* SPDX-License-Identifier: MIT */
/*
 * test_ring.c - the ring: every operation and every error, both modes,
 * pipeline and diamond dependencies, joins and leaves while running, the
 * timeouts of each wait strategy, futex wake-ups, lag queries.
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
#include <unistd.h>

#include <cmocka.h>

#include <iobuf/ring.h>

/* ---- fault injection: the ring's allocations and its mutex (-Wl,--wrap) ---- */

void *__real_aligned_alloc(size_t align, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);
int __real_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a);
int __wrap_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a);

static int fail_alloc_at; /* 0: never; k: the k-th allocation from now fails */
static int fail_mutex_init;

void *__wrap_aligned_alloc(size_t align, size_t size)
{
	if (fail_alloc_at && --fail_alloc_at == 0) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_aligned_alloc(align, size);
}

int __wrap_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
	if (fail_mutex_init)
		return fail_mutex_init;
	return __real_pthread_mutex_init(m, a);
}

static struct iobuf_ring_config cfg_of(uint32_t cap, uint32_t esz, enum iobuf_ring_mode mode, int readers,
				       enum iobuf_ring_wait wait)
{
	struct iobuf_ring_config c = {
	    .capacity = cap, .entry_size = esz, .mode = mode, .max_readers = readers, .wait = wait, .spins = 16};

	return c;
}

static struct iobuf_ring *mk(uint32_t cap, uint32_t esz, enum iobuf_ring_mode mode, int readers,
			     enum iobuf_ring_wait wait)
{
	struct iobuf_ring_config c = cfg_of(cap, esz, mode, readers, wait);
	int err = 1;
	struct iobuf_ring *r = iobuf_ring_create(&c, &err);

	assert_non_null(r);
	assert_int_equal(err, 0);
	return r;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Claim, fill with u64 value seq*10+1 and publish @n entries one by one. */
static void put_n(struct iobuf_ring *r, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t s, v;

		assert_int_equal(iobuf_ring_try_claim(r, 1, &s), 0);
		v = s * 10 + 1;
		assert_int_equal(iobuf_ring_write(r, s, &v), 0);
		assert_int_equal(iobuf_ring_publish(r, s, 1), 0);
	}
}

/* ---- create / destroy ------------------------------------------------------ */

static void test_create_bad_config(void **state)
{
	struct iobuf_ring_config c;
	int err = 0;

	(void)state;
	assert_null(iobuf_ring_create(NULL, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(iobuf_ring_create(NULL, NULL)); /* err is optional */

#define BAD(mutation)                                                                                                  \
	do {                                                                                                           \
		c = cfg_of(8, 8, IOBUF_RING_LOSSLESS, 2, IOBUF_RING_SPIN);                                             \
		mutation;                                                                                              \
		err = 0;                                                                                               \
		assert_null(iobuf_ring_create(&c, &err));                                                              \
		assert_int_equal(err, -EINVAL);                                                                        \
	} while (0)
	BAD(c.capacity = 0);
	BAD(c.capacity = 3);
	BAD(c.capacity = 24);
	BAD(c.capacity = IOBUF_RING_MAX_CAPACITY * 2u);
	BAD(c.entry_size = 0);
	BAD(c.entry_size = IOBUF_RING_MAX_ENTRY + 1);
	BAD(c.mode = (enum iobuf_ring_mode)2);
	BAD(c.max_readers = 0);
	BAD(c.max_readers = -1);
	BAD(c.max_readers = IOBUF_RING_MAX_READERS + 1);
	BAD(c.wait = (enum iobuf_ring_wait)3);
	BAD(c.flags = 1u << 5);
#undef BAD
	iobuf_ring_destroy(NULL);
}

static void test_create_out_of_memory(void **state)
{
	struct iobuf_ring_config c = cfg_of(1024, 64, IOBUF_RING_LOSSY, 4, IOBUF_RING_BLOCK);
	int err;

	(void)state;
	/* The header, then the slots; nothing leaks (valgrind and ASan check). */
	for (int k = 1; k <= 2; k++) {
		fail_alloc_at = k;
		err = 0;
		assert_null(iobuf_ring_create(&c, &err));
		assert_int_equal(err, -ENOMEM);
		fail_alloc_at = 0;
	}
	fail_mutex_init = EAGAIN;
	assert_null(iobuf_ring_create(&c, &err));
	assert_int_equal(err, -EAGAIN);
	fail_mutex_init = 0;
	iobuf_ring_destroy(iobuf_ring_create(&c, &err));
	assert_int_equal(err, 0);
}

static void test_create_shapes(void **state)
{
	static const uint32_t sizes[] = {1, 3, 8, 12, 64, 100};

	(void)state;
	for (int m = 0; m < 2; m++) {
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			struct iobuf_ring *r =
			    mk(1, sizes[k], (enum iobuf_ring_mode)m, IOBUF_RING_MAX_READERS, IOBUF_RING_BLOCK);
			unsigned char in[100], out[100];
			uint64_t s, first;
			int rd = iobuf_ring_reader_add(r, NULL, 0);

			assert_int_equal(rd, 0);
			assert_int_equal(((uintptr_t)iobuf_ring_entry(r, 0)) % 8, 0);
			for (int round = 0; round < 3; round++) {
				memset(in, 0xA0 + round, sizeof(in));
				assert_int_equal(iobuf_ring_try_claim(r, 1, &s), 0);
				assert_int_equal(s, (uint64_t)round);
				assert_int_equal(iobuf_ring_write(r, s, in), 0);
				assert_int_equal(iobuf_ring_publish(r, s, 1), 0);
				assert_int_equal(iobuf_ring_poll(r, rd, &first, NULL), 1);
				memset(out, 0, sizeof(out));
				assert_int_equal(iobuf_ring_read(r, rd, first, out), 0);
				assert_memory_equal(in, out, sizes[k]);
				assert_int_equal(iobuf_ring_release(r, rd, first + 1), 0);
			}
			iobuf_ring_destroy(r);
		}
	}
}

/* ---- writer ---------------------------------------------------------------------- */

static void test_claim_publish_poll_release(void **state)
{
	struct iobuf_ring *r = mk(8, 8, IOBUF_RING_LOSSLESS, 4, IOBUF_RING_SPIN);
	uint64_t s, first, missed = 99;
	int rd = iobuf_ring_reader_add(r, NULL, 0);

	(void)state;
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), 0);
	assert_int_equal(first, 0);
	assert_int_equal(missed, 0);
	/* Batch claim, fill in place, publish a prefix, then the rest. */
	assert_int_equal(iobuf_ring_try_claim(r, 5, &s), 0);
	assert_int_equal(s, 0);
	for (uint64_t i = 0; i < 5; i++)
		*(uint64_t *)iobuf_ring_entry(r, s + i) = 100 + i;
	assert_int_equal(iobuf_ring_poll(r, rd, &first, NULL), 0); /* claimed is not published */
	assert_int_equal(iobuf_ring_publish(r, 0, 2), 0);
	assert_int_equal(iobuf_ring_cursor(r), 2);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, NULL), 2);
	assert_int_equal(iobuf_ring_publish(r, 2, 3), 0);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, NULL), 5);
	for (uint64_t i = 0; i < 5; i++) {
		uint64_t v;

		assert_int_equal(*(const uint64_t *)iobuf_ring_entry(r, first + i), 100 + i);
		assert_int_equal(iobuf_ring_read(r, rd, first + i, &v), 0);
		assert_int_equal(v, 100 + i);
	}
	/* Release part, then the rest; releasing where we are is a no-op. */
	assert_int_equal(iobuf_ring_release(r, rd, 3), 0);
	assert_int_equal(iobuf_ring_lag(r, rd), 2);
	assert_int_equal(iobuf_ring_release(r, rd, 3), 0);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, NULL), 2);
	assert_int_equal(first, 3);
	assert_int_equal(iobuf_ring_release(r, rd, 5), 0);
	assert_int_equal(iobuf_ring_lag(r, rd), 0);
	/* Wrap-around: a batch that crosses the end of the array. */
	assert_int_equal(iobuf_ring_try_claim(r, 6, &s), 0);
	assert_int_equal(s, 5);
	for (uint64_t i = 0; i < 6; i++)
		*(uint64_t *)iobuf_ring_entry(r, s + i) = s + i;
	assert_int_equal(iobuf_ring_publish(r, s, 6), 0);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, NULL), 6);
	for (uint64_t i = 0; i < 6; i++)
		assert_int_equal(*(const uint64_t *)iobuf_ring_entry(r, first + i), first + i);
	assert_int_equal(iobuf_ring_release(r, rd, 11), 0);
	iobuf_ring_destroy(r);
}

static void test_lossless_full(void **state)
{
	struct iobuf_ring *r = mk(4, 8, IOBUF_RING_LOSSLESS, 2, IOBUF_RING_SPIN);
	uint64_t s, first;
	int rd = iobuf_ring_reader_add(r, NULL, 0);

	(void)state;
	put_n(r, 4);
	assert_int_equal(iobuf_ring_try_claim(r, 1, &s), -EAGAIN);
	assert_int_equal(iobuf_ring_slowest_lag(r, NULL), 4);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, NULL), 4);
	assert_int_equal(iobuf_ring_release(r, rd, 1), 0);
	assert_int_equal(iobuf_ring_try_claim(r, 2, &s), -EAGAIN); /* all or nothing */
	assert_int_equal(iobuf_ring_try_claim(r, 1, &s), 0);
	assert_int_equal(s, 4);
	assert_int_equal(iobuf_ring_publish(r, 4, 1), 0);
	/* The content of entry 1 is untouched by the refused claims. */
	assert_int_equal(*(const uint64_t *)iobuf_ring_entry(r, 1), 11);
	iobuf_ring_destroy(r);
}

static void test_no_readers_never_blocks(void **state)
{
	struct iobuf_ring *r = mk(4, 8, IOBUF_RING_LOSSLESS, 2, IOBUF_RING_SPIN);
	int who = 7;

	(void)state;
	put_n(r, 100);
	assert_int_equal(iobuf_ring_cursor(r), 100);
	assert_int_equal(iobuf_ring_slowest_lag(r, &who), 0);
	assert_int_equal(who, -1);
	iobuf_ring_destroy(r);
}

static void test_writer_errors(void **state)
{
	struct iobuf_ring *r = mk(8, 8, IOBUF_RING_LOSSLESS, 2, IOBUF_RING_SPIN);
	uint64_t s, v = 5;
	int rd = iobuf_ring_reader_add(r, NULL, 0);

	(void)state;
	assert_int_equal(iobuf_ring_try_claim(NULL, 1, &s), -EINVAL);
	assert_int_equal(iobuf_ring_try_claim(r, 1, NULL), -EINVAL);
	assert_int_equal(iobuf_ring_try_claim(r, 0, &s), -EINVAL);
	assert_int_equal(iobuf_ring_try_claim(r, -3, &s), -EINVAL);
	assert_int_equal(iobuf_ring_try_claim(r, 9, &s), -EINVAL);
	assert_int_equal(iobuf_ring_claim(NULL, 1, &s, 0), -EINVAL);
	assert_int_equal(iobuf_ring_claim(r, 9, &s, 1000), -EINVAL);
	/* Publishing or writing what was not claimed. */
	assert_int_equal(iobuf_ring_publish(r, 0, 1), -EINVAL);
	assert_int_equal(iobuf_ring_write(r, 0, &v), -EINVAL);
	assert_int_equal(iobuf_ring_try_claim(r, 3, &s), 0);
	assert_int_equal(iobuf_ring_publish(NULL, 0, 1), -EINVAL);
	assert_int_equal(iobuf_ring_publish(r, 0, 0), -EINVAL);
	assert_int_equal(iobuf_ring_publish(r, 0, -1), -EINVAL);
	assert_int_equal(iobuf_ring_publish(r, 0, 4), -EINVAL); /* beyond the claim */
	assert_int_equal(iobuf_ring_publish(r, 1, 1), -EINVAL); /* out of order */
	assert_int_equal(iobuf_ring_write(r, 3, &v), -EINVAL);
	assert_int_equal(iobuf_ring_write(r, 0, NULL), -EINVAL);
	assert_int_equal(iobuf_ring_write(NULL, 0, &v), -EINVAL);
	/* Claiming more than the ring can hold unpublished is the writer's bug. */
	assert_int_equal(iobuf_ring_try_claim(r, 6, &s), -EINVAL);
	/* Nothing was corrupted: the claim is intact and publishes. */
	assert_int_equal(iobuf_ring_cursor(r), 0);
	for (uint64_t i = 0; i < 3; i++)
		assert_int_equal(iobuf_ring_write(r, i, &v), 0);
	assert_int_equal(iobuf_ring_publish(r, 0, 3), 0);
	assert_int_equal(iobuf_ring_publish(r, 0, 1), -EINVAL); /* already published */
	assert_int_equal(iobuf_ring_write(r, 0, &v), -EINVAL);
	assert_int_equal(iobuf_ring_lag(r, rd), 3);
	iobuf_ring_destroy(r);
}

/* ---- reader errors ------------------------------------------------------------------- */

static void test_reader_errors(void **state)
{
	struct iobuf_ring *r = mk(8, 8, IOBUF_RING_LOSSLESS, 2, IOBUF_RING_SPIN);
	uint64_t first, v;
	int rd = iobuf_ring_reader_add(r, NULL, 0);

	(void)state;
	assert_int_equal(rd, 0);
	assert_int_equal(iobuf_ring_poll(NULL, rd, &first, NULL), -EINVAL);
	assert_int_equal(iobuf_ring_poll(r, rd, NULL, NULL), -EINVAL);
	assert_int_equal(iobuf_ring_poll(r, -1, &first, NULL), -EINVAL);
	assert_int_equal(iobuf_ring_poll(r, 2, &first, NULL), -EINVAL);
	assert_int_equal(iobuf_ring_poll(r, 1, &first, NULL), -EINVAL); /* not active */
	assert_int_equal(iobuf_ring_wait(r, 1, &first, NULL, 0), -EINVAL);
	assert_int_equal(iobuf_ring_wait(r, rd, NULL, NULL, 0), -EINVAL);
	assert_int_equal(iobuf_ring_lag(r, 1), -EINVAL);
	assert_int_equal(iobuf_ring_lag(r, 5), -EINVAL);
	assert_int_equal(iobuf_ring_lag(NULL, 0), -EINVAL);
	assert_int_equal(iobuf_ring_slowest_lag(NULL, NULL), -EINVAL);
	assert_int_equal(iobuf_ring_cursor(NULL), 0);
	put_n(r, 4);
	/* Reading or releasing before polling: nothing was counted yet. */
	assert_int_equal(iobuf_ring_read(r, rd, 0, &v), -EINVAL);
	assert_int_equal(iobuf_ring_release(r, rd, 1), -EINVAL);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, NULL), 4);
	assert_int_equal(iobuf_ring_read(r, rd, 4, &v), -EINVAL);
	assert_int_equal(iobuf_ring_read(r, rd, 0, NULL), -EINVAL);
	assert_int_equal(iobuf_ring_read(r, 1, 0, &v), -EINVAL);
	assert_int_equal(iobuf_ring_read(NULL, rd, 0, &v), -EINVAL);
	/* Releasing beyond what was read, or going back. */
	assert_int_equal(iobuf_ring_release(r, rd, 5), -EINVAL);
	assert_int_equal(iobuf_ring_release(r, 1, 1), -EINVAL);
	assert_int_equal(iobuf_ring_release(NULL, rd, 1), -EINVAL);
	assert_int_equal(iobuf_ring_release(r, rd, 2), 0);
	assert_int_equal(iobuf_ring_release(r, rd, 1), -EINVAL);
	assert_int_equal(iobuf_ring_read(r, rd, 1, &v), -EINVAL); /* released */
	assert_int_equal(iobuf_ring_read(r, rd, 2, &v), 0);
	assert_int_equal(v, 21);
	assert_int_equal(iobuf_ring_lag(r, rd), 2);
	assert_int_equal(iobuf_ring_release(r, rd, 4), 0);
	/* set_wait */
	assert_int_equal(iobuf_ring_reader_set_wait(r, rd, IOBUF_RING_BLOCK, 0), -EINVAL); /* ring can't block */
	assert_int_equal(iobuf_ring_reader_set_wait(r, rd, (enum iobuf_ring_wait)7, 0), -EINVAL);
	assert_int_equal(iobuf_ring_reader_set_wait(r, 1, IOBUF_RING_YIELD, 0), -EINVAL);
	assert_int_equal(iobuf_ring_reader_set_wait(NULL, 0, IOBUF_RING_YIELD, 0), -EINVAL);
	assert_int_equal(iobuf_ring_reader_set_wait(r, rd, IOBUF_RING_YIELD, 0), 0);
	iobuf_ring_destroy(r);
}

static void test_reader_add_remove_errors(void **state)
{
	struct iobuf_ring *r = mk(8, 8, IOBUF_RING_LOSSLESS, 3, IOBUF_RING_SPIN);
	int a, b, c, deps[4];

	(void)state;
	assert_int_equal(iobuf_ring_reader_add(NULL, NULL, 0), -EINVAL);
	assert_int_equal(iobuf_ring_reader_add(r, NULL, 1), -EINVAL);
	assert_int_equal(iobuf_ring_reader_add(r, NULL, -1), -EINVAL);
	deps[0] = 0;
	assert_int_equal(iobuf_ring_reader_add(r, deps, 1), -EINVAL); /* not active */
	deps[0] = 3;
	assert_int_equal(iobuf_ring_reader_add(r, deps, 1), -EINVAL); /* out of range */
	deps[0] = -1;
	assert_int_equal(iobuf_ring_reader_add(r, deps, 1), -EINVAL);
	a = iobuf_ring_reader_add(r, NULL, 0);
	assert_int_equal(a, 0);
	deps[0] = a;
	assert_int_equal(iobuf_ring_reader_add(r, deps, 4), -EINVAL); /* ndeps > max_readers */
	b = iobuf_ring_reader_add(r, deps, 1);
	assert_int_equal(b, 1);
	deps[1] = b;
	c = iobuf_ring_reader_add(r, deps, 2);
	assert_int_equal(c, 2);
	/* Too many readers. */
	assert_int_equal(iobuf_ring_reader_add(r, NULL, 0), -EINVAL);
	/* Removing a reader that others depend on; bad ids. */
	assert_int_equal(iobuf_ring_reader_remove(r, a), -EBUSY);
	assert_int_equal(iobuf_ring_reader_remove(r, b), -EBUSY);
	assert_int_equal(iobuf_ring_reader_remove(r, 3), -EINVAL);
	assert_int_equal(iobuf_ring_reader_remove(r, -1), -EINVAL);
	assert_int_equal(iobuf_ring_reader_remove(NULL, 0), -EINVAL);
	assert_int_equal(iobuf_ring_reader_remove(r, c), 0);
	assert_int_equal(iobuf_ring_reader_remove(r, c), -EINVAL); /* already gone */
	assert_int_equal(iobuf_ring_reader_remove(r, b), 0);
	assert_int_equal(iobuf_ring_reader_remove(r, a), 0);
	/* Ids are reused. */
	assert_int_equal(iobuf_ring_reader_add(r, NULL, 0), 0);
	iobuf_ring_destroy(r);
}

static void test_dependency_cycles(void **state)
{
	struct iobuf_ring *r = mk(8, 8, IOBUF_RING_LOSSLESS, 4, IOBUF_RING_SPIN);
	int a, b, c, d, deps[2];
	uint64_t first;

	(void)state;
	a = iobuf_ring_reader_add(r, NULL, 0);
	deps[0] = a;
	b = iobuf_ring_reader_add(r, deps, 1);
	deps[0] = b;
	c = iobuf_ring_reader_add(r, deps, 1); /* a -> b -> c */
	d = iobuf_ring_reader_add(r, NULL, 0);
	/* Self, two- and three-cycles are refused; the old deps stay. */
	deps[0] = a;
	assert_int_equal(iobuf_ring_reader_set_deps(r, a, deps, 1), -EINVAL);
	deps[0] = b;
	assert_int_equal(iobuf_ring_reader_set_deps(r, a, deps, 1), -EINVAL);
	deps[0] = c;
	assert_int_equal(iobuf_ring_reader_set_deps(r, a, deps, 1), -EINVAL);
	deps[0] = d;
	deps[1] = c;
	assert_int_equal(iobuf_ring_reader_set_deps(r, a, deps, 2), -EINVAL);
	/* Bad arguments. */
	assert_int_equal(iobuf_ring_reader_set_deps(NULL, a, deps, 1), -EINVAL);
	assert_int_equal(iobuf_ring_reader_set_deps(r, 7, deps, 1), -EINVAL);
	assert_int_equal(iobuf_ring_reader_set_deps(r, a, NULL, 1), -EINVAL);
	assert_int_equal(iobuf_ring_reader_set_deps(r, a, deps, -1), -EINVAL);
	deps[0] = 9;
	assert_int_equal(iobuf_ring_reader_set_deps(r, a, deps, 1), -EINVAL);
	/* The chain still works: c sees nothing before b releases. */
	put_n(r, 2);
	assert_int_equal(iobuf_ring_poll(r, c, &first, NULL), 0);
	assert_int_equal(iobuf_ring_poll(r, b, &first, NULL), 0);
	assert_int_equal(iobuf_ring_poll(r, a, &first, NULL), 2);
	/* A legal re-wiring: a depends on d (no cycle). */
	deps[0] = d;
	assert_int_equal(iobuf_ring_reader_set_deps(r, a, deps, 1), 0);
	assert_int_equal(iobuf_ring_poll(r, a, &first, NULL), 0); /* d has released nothing */
	assert_int_equal(iobuf_ring_reader_remove(r, d), -EBUSY);
	/* Now d -> a would be a cycle. */
	deps[0] = a;
	assert_int_equal(iobuf_ring_reader_set_deps(r, d, deps, 1), -EINVAL);
	assert_int_equal(iobuf_ring_reader_set_deps(r, a, NULL, 0), 0);
	assert_int_equal(iobuf_ring_reader_remove(r, d), 0);
	iobuf_ring_destroy(r);
}

/* ---- dependencies ----------------------------------------------------------------------- */

static void test_pipeline(void **state)
{
	struct iobuf_ring *r = mk(8, 8, IOBUF_RING_LOSSLESS, 3, IOBUF_RING_SPIN);
	uint64_t first, s;
	int a = iobuf_ring_reader_add(r, NULL, 0), b, deps[1] = {a};

	(void)state;
	b = iobuf_ring_reader_add(r, deps, 1);
	put_n(r, 5);
	assert_int_equal(iobuf_ring_poll(r, b, &first, NULL), 0);
	assert_int_equal(iobuf_ring_poll(r, a, &first, NULL), 5);
	assert_int_equal(iobuf_ring_release(r, a, 3), 0);
	assert_int_equal(iobuf_ring_poll(r, b, &first, NULL), 3);
	assert_int_equal(iobuf_ring_release(r, b, 4), -EINVAL); /* beyond what b may read */
	/* The writer is gated by b, the end of the chain, even when a is done. */
	put_n(r, 3);
	assert_int_equal(iobuf_ring_try_claim(r, 1, &s), -EAGAIN);
	assert_int_equal(iobuf_ring_slowest_lag(r, deps), 8);
	assert_int_equal(deps[0], b);
	assert_int_equal(iobuf_ring_poll(r, a, &first, NULL), 5);
	assert_int_equal(iobuf_ring_release(r, a, 8), 0);
	assert_int_equal(iobuf_ring_try_claim(r, 1, &s), -EAGAIN);
	assert_int_equal(iobuf_ring_poll(r, b, &first, NULL), 8);
	assert_int_equal(first, 0);
	assert_int_equal(iobuf_ring_release(r, b, 1), 0);
	assert_int_equal(iobuf_ring_try_claim(r, 1, &s), 0);
	assert_int_equal(s, 8);
	iobuf_ring_destroy(r);
}

static void test_diamond(void **state)
{
	struct iobuf_ring *r = mk(16, 8, IOBUF_RING_LOSSLESS, 3, IOBUF_RING_SPIN);
	uint64_t first;
	int a = iobuf_ring_reader_add(r, NULL, 0), b = iobuf_ring_reader_add(r, NULL, 0), c, deps[2] = {a, b};

	(void)state;
	c = iobuf_ring_reader_add(r, deps, 2);
	put_n(r, 6);
	assert_int_equal(iobuf_ring_poll(r, a, &first, NULL), 6);
	assert_int_equal(iobuf_ring_poll(r, b, &first, NULL), 6);
	assert_int_equal(iobuf_ring_release(r, a, 5), 0);
	assert_int_equal(iobuf_ring_poll(r, c, &first, NULL), 0);
	assert_int_equal(iobuf_ring_release(r, b, 2), 0);
	assert_int_equal(iobuf_ring_poll(r, c, &first, NULL), 2);
	assert_int_equal(iobuf_ring_release(r, b, 6), 0);
	assert_int_equal(iobuf_ring_poll(r, c, &first, NULL), 5);
	assert_int_equal(iobuf_ring_lag(r, c), 6);
	assert_int_equal(iobuf_ring_lag(r, a), 1);
	assert_int_equal(iobuf_ring_lag(r, b), 0);
	assert_int_equal(iobuf_ring_release(r, c, 5), 0);
	iobuf_ring_destroy(r);
}

/* ---- join and leave while running ----------------------------------------------------- */

static void test_join_leave(void **state)
{
	struct iobuf_ring *r = mk(4, 8, IOBUF_RING_LOSSLESS, 3, IOBUF_RING_SPIN);
	uint64_t first, s, v;
	int a = iobuf_ring_reader_add(r, NULL, 0), b, c, deps[1];

	(void)state;
	put_n(r, 3);
	/* A new reader starts at the cursor. */
	b = iobuf_ring_reader_add(r, NULL, 0);
	assert_int_equal(iobuf_ring_poll(r, b, &first, NULL), 0);
	assert_int_equal(first, 3);
	assert_int_equal(iobuf_ring_lag(r, b), 0);
	put_n(r, 1);
	assert_int_equal(iobuf_ring_poll(r, b, &first, NULL), 1);
	assert_int_equal(iobuf_ring_read(r, b, 3, &v), 0);
	assert_int_equal(v, 31);
	/* a (the slowest) blocks the writer; its leaving unblocks it. */
	assert_int_equal(iobuf_ring_try_claim(r, 1, &s), -EAGAIN);
	assert_int_equal(iobuf_ring_reader_remove(r, a), 0);
	assert_int_equal(iobuf_ring_try_claim(r, 4, &s), -EAGAIN); /* seq 7 would reuse entry 3, b holds it */
	assert_int_equal(iobuf_ring_try_claim(r, 2, &s), 0);
	assert_int_equal(s, 4);
	assert_int_equal(iobuf_ring_publish(r, s, 2), 0);
	/* A dependent that joins ahead of its dependency sees nothing until it passes. */
	deps[0] = b;
	c = iobuf_ring_reader_add(r, deps, 1);
	assert_int_equal(iobuf_ring_poll(r, c, &first, NULL), 0);
	assert_int_equal(first, 6);
	assert_int_equal(iobuf_ring_poll(r, b, &first, NULL), 3);
	assert_int_equal(iobuf_ring_release(r, b, 6), 0);
	assert_int_equal(iobuf_ring_poll(r, c, &first, NULL), 0);
	put_n(r, 2);
	assert_int_equal(iobuf_ring_poll(r, b, &first, NULL), 2);
	assert_int_equal(iobuf_ring_release(r, b, 7), 0);
	assert_int_equal(iobuf_ring_poll(r, c, &first, NULL), 1);
	assert_int_equal(first, 6);
	iobuf_ring_destroy(r);
}

/* ---- lossy mode ------------------------------------------------------------------------- */

static void test_lossy_lapped(void **state)
{
	struct iobuf_ring *r = mk(4, 12, IOBUF_RING_LOSSY, 2, IOBUF_RING_SPIN);
	unsigned char e[12];
	uint64_t first, missed, s;
	int rd = iobuf_ring_reader_add(r, NULL, 0);

	(void)state;
	/* The writer never waits. */
	for (uint64_t i = 0; i < 11; i++) {
		memset(e, (int)i, sizeof(e));
		assert_int_equal(iobuf_ring_claim(r, 1, &s, 0), 0);
		assert_int_equal(iobuf_ring_write(r, s, e), 0);
		assert_int_equal(iobuf_ring_publish(r, s, 1), 0);
	}
	assert_int_equal(iobuf_ring_lag(r, rd), 11);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), -EOVERFLOW);
	assert_int_equal(missed, 7);
	assert_int_equal(first, 7);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), 4);
	assert_int_equal(missed, 0);
	for (uint64_t i = 7; i < 11; i++) {
		unsigned char out[12], want[12];

		memset(want, (int)i, sizeof(want));
		assert_int_equal(iobuf_ring_read(r, rd, i, out), 0);
		assert_memory_equal(out, want, 12);
	}
	assert_int_equal(iobuf_ring_release(r, rd, 11), 0);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, NULL), 0);
	iobuf_ring_destroy(r);
}

static void test_lossy_overwritten_mid_batch(void **state)
{
	struct iobuf_ring *r = mk(4, 8, IOBUF_RING_LOSSY, 2, IOBUF_RING_SPIN);
	uint64_t first, missed, s, v;
	int rd = iobuf_ring_reader_add(r, NULL, 0);

	(void)state;
	put_n(r, 4);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), 4);
	assert_int_equal(iobuf_ring_read(r, rd, 0, &v), 0);
	assert_int_equal(v, 1);
	/* The writer claims seq 4 (slot 0) and 5 (slot 1) but does not publish: slot 1 is being overwritten. */
	assert_int_equal(iobuf_ring_try_claim(r, 2, &s), 0);
	assert_int_equal(s, 4);
	assert_int_equal(iobuf_ring_read(r, rd, 1, &v), -EOVERFLOW);
	/* The reader may not release past the lost entry. */
	assert_int_equal(iobuf_ring_release(r, rd, 2), -EINVAL);
	assert_int_equal(iobuf_ring_release(r, rd, 1), 0);
	/* The cursor is 4, but the stamp shows the writer at 5: entry 1 is gone, 2 is the oldest valid. */
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), -EOVERFLOW);
	assert_int_equal(missed, 1);
	assert_int_equal(first, 2);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), 2);
	assert_int_equal(iobuf_ring_read(r, rd, 2, &v), 0);
	assert_int_equal(v, 21);
	assert_int_equal(iobuf_ring_read(r, rd, 3, &v), 0);
	assert_int_equal(v, 31);
	assert_int_equal(iobuf_ring_release(r, rd, 4), 0);
	v = 41;
	assert_int_equal(iobuf_ring_write(r, 4, &v), 0);
	v = 51;
	assert_int_equal(iobuf_ring_write(r, 5, &v), 0);
	assert_int_equal(iobuf_ring_publish(r, 4, 2), 0);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), 2);
	assert_int_equal(iobuf_ring_read(r, rd, 5, &v), 0);
	assert_int_equal(v, 51);
	/* received 0, 2, 3 (+4, 5 now) and missed 1: every published entry accounted for. */
	iobuf_ring_destroy(r);
}

static void test_lossy_pipeline(void **state)
{
	struct iobuf_ring *r = mk(4, 8, IOBUF_RING_LOSSY, 2, IOBUF_RING_SPIN);
	uint64_t first, missed;
	int a = iobuf_ring_reader_add(r, NULL, 0), b, deps[1] = {a};

	(void)state;
	b = iobuf_ring_reader_add(r, deps, 1);
	put_n(r, 3);
	assert_int_equal(iobuf_ring_poll(r, b, &first, &missed), 0);
	assert_int_equal(iobuf_ring_poll(r, a, &first, &missed), 3);
	assert_int_equal(iobuf_ring_release(r, a, 2), 0);
	assert_int_equal(iobuf_ring_poll(r, b, &first, &missed), 2);
	/* Both lapped: a skips, then b too, and b stays behind a. */
	put_n(r, 10);
	assert_int_equal(iobuf_ring_poll(r, a, &first, &missed), -EOVERFLOW);
	assert_int_equal(first, 9);
	assert_int_equal(missed, 7);
	assert_int_equal(iobuf_ring_poll(r, b, &first, &missed), -EOVERFLOW);
	assert_int_equal(first, 9);
	assert_int_equal(missed, 9);
	assert_int_equal(iobuf_ring_poll(r, b, &first, &missed), 0);
	assert_int_equal(iobuf_ring_poll(r, a, &first, &missed), 4);
	assert_int_equal(iobuf_ring_release(r, a, 13), 0);
	assert_int_equal(iobuf_ring_poll(r, b, &first, &missed), 4);
	iobuf_ring_destroy(r);
}

/* ---- timeouts of each strategy ------------------------------------------------------------ */

static void check_timeouts(enum iobuf_ring_wait how)
{
	struct iobuf_ring *r = mk(2, 8, IOBUF_RING_LOSSLESS, 2, how);
	uint64_t first, s;
	int rd = iobuf_ring_reader_add(r, NULL, 0);
	int64_t t0;

	assert_int_equal(iobuf_ring_wait(r, rd, &first, NULL, 0), -ETIMEDOUT);
	t0 = now_ns();
	assert_int_equal(iobuf_ring_wait(r, rd, &first, NULL, 20 * 1000 * 1000), -ETIMEDOUT);
	assert_true(now_ns() - t0 >= 20 * 1000 * 1000);
	put_n(r, 2);
	assert_int_equal(iobuf_ring_claim(r, 1, &s, 0), -ETIMEDOUT);
	t0 = now_ns();
	assert_int_equal(iobuf_ring_claim(r, 1, &s, 20 * 1000 * 1000), -ETIMEDOUT);
	assert_true(now_ns() - t0 >= 20 * 1000 * 1000);
	/* Ready at once: no waiting at all. */
	assert_int_equal(iobuf_ring_wait(r, rd, &first, NULL, 0), 2);
	assert_int_equal(iobuf_ring_wait(r, rd, &first, NULL, IOBUF_RING_FOREVER), 2);
	assert_int_equal(iobuf_ring_release(r, rd, 2), 0);
	assert_int_equal(iobuf_ring_claim(r, 2, &s, IOBUF_RING_FOREVER), 0);
	iobuf_ring_destroy(r);
}

static void test_timeout_spin(void **state)
{
	(void)state;
	check_timeouts(IOBUF_RING_SPIN);
}

static void test_timeout_yield(void **state)
{
	(void)state;
	check_timeouts(IOBUF_RING_YIELD);
}

static void test_timeout_block(void **state)
{
	(void)state;
	check_timeouts(IOBUF_RING_BLOCK);
}

static void test_per_reader_strategy(void **state)
{
	struct iobuf_ring_config c = cfg_of(4, 8, IOBUF_RING_LOSSLESS, 2, IOBUF_RING_SPIN);
	struct iobuf_ring *r;
	uint64_t first;
	int rd, err;

	(void)state;
	c.flags = IOBUF_RING_MAY_BLOCK;
	r = iobuf_ring_create(&c, &err);
	assert_non_null(r);
	rd = iobuf_ring_reader_add(r, NULL, 0);
	assert_int_equal(iobuf_ring_reader_set_wait(r, rd, IOBUF_RING_BLOCK, 1), 0);
	assert_int_equal(iobuf_ring_wait(r, rd, &first, NULL, 5 * 1000 * 1000), -ETIMEDOUT);
	assert_int_equal(iobuf_ring_reader_set_wait(r, rd, IOBUF_RING_YIELD, 1), 0);
	assert_int_equal(iobuf_ring_wait(r, rd, &first, NULL, 5 * 1000 * 1000), -ETIMEDOUT);
	iobuf_ring_destroy(r);
}

/* ---- futex wake-ups across threads ----------------------------------------------------- */

struct waker {
	struct iobuf_ring *ring;
	int reader; /* -1: publish after a delay; >= 0: poll and release that reader after a delay */
	int rc;
};

static void *waker_main(void *arg)
{
	struct waker *w = arg;
	struct timespec d = {0, 30 * 1000 * 1000};
	uint64_t s, first;

	nanosleep(&d, NULL);
	if (w->reader < 0) {
		w->rc = iobuf_ring_try_claim(w->ring, 1, &s);
		if (w->rc == 0)
			w->rc = iobuf_ring_publish(w->ring, s, 1);
	} else {
		w->rc = iobuf_ring_poll(w->ring, w->reader, &first, NULL);
		if (w->rc > 0)
			w->rc = iobuf_ring_release(w->ring, w->reader, first + (uint64_t)w->rc);
	}
	return NULL;
}

static void test_block_wakeups(void **state)
{
	struct iobuf_ring *r = mk(2, 8, IOBUF_RING_LOSSLESS, 3, IOBUF_RING_BLOCK);
	struct waker w = {.ring = r};
	pthread_t t;
	uint64_t first, s;
	int a = iobuf_ring_reader_add(r, NULL, 0), b, deps[1] = {a};

	(void)state;
	b = iobuf_ring_reader_add(r, deps, 1);
	/* A reader asleep on the cursor is woken by a publish. */
	w.reader = -1;
	assert_int_equal(pthread_create(&t, NULL, waker_main, &w), 0);
	assert_int_equal(iobuf_ring_wait(r, a, &first, NULL, 5LL * 1000 * 1000 * 1000), 1);
	pthread_join(t, NULL);
	assert_int_equal(w.rc, 0);
	/* A dependent asleep on a's release is woken by it. */
	w.reader = a;
	assert_int_equal(pthread_create(&t, NULL, waker_main, &w), 0);
	assert_int_equal(iobuf_ring_wait(r, b, &first, NULL, 5LL * 1000 * 1000 * 1000), 1);
	pthread_join(t, NULL);
	assert_int_equal(w.rc, 0);
	assert_int_equal(iobuf_ring_release(r, b, 1), 0);
	/* The writer asleep on a full ring is woken by the last release. */
	put_n(r, 2);
	assert_int_equal(iobuf_ring_poll(r, a, &first, NULL), 2);
	assert_int_equal(iobuf_ring_release(r, a, 3), 0);
	w.reader = b;
	assert_int_equal(pthread_create(&t, NULL, waker_main, &w), 0);
	assert_int_equal(iobuf_ring_claim(r, 1, &s, 5LL * 1000 * 1000 * 1000), 0);
	assert_int_equal(s, 3);
	pthread_join(t, NULL);
	assert_int_equal(w.rc, 0);
	iobuf_ring_destroy(r);
}

/* ---- lag -------------------------------------------------------------------------------- */

static void test_lag(void **state)
{
	struct iobuf_ring *r = mk(16, 8, IOBUF_RING_LOSSLESS, 4, IOBUF_RING_SPIN);
	uint64_t first;
	int a = iobuf_ring_reader_add(r, NULL, 0), b = iobuf_ring_reader_add(r, NULL, 0), who;

	(void)state;
	assert_int_equal(iobuf_ring_slowest_lag(r, &who), 0);
	put_n(r, 10);
	assert_int_equal(iobuf_ring_lag(r, a), 10);
	assert_int_equal(iobuf_ring_lag(r, b), 10);
	assert_int_equal(iobuf_ring_poll(r, a, &first, NULL), 10);
	assert_int_equal(iobuf_ring_release(r, a, 7), 0);
	assert_int_equal(iobuf_ring_poll(r, b, &first, NULL), 10);
	assert_int_equal(iobuf_ring_release(r, b, 9), 0);
	assert_int_equal(iobuf_ring_lag(r, a), 3);
	assert_int_equal(iobuf_ring_lag(r, b), 1);
	assert_int_equal(iobuf_ring_slowest_lag(r, &who), 3);
	assert_int_equal(who, a);
	assert_int_equal(iobuf_ring_reader_remove(r, a), 0);
	assert_int_equal(iobuf_ring_lag(r, a), -EINVAL);
	assert_int_equal(iobuf_ring_slowest_lag(r, &who), 1);
	assert_int_equal(who, b);
	iobuf_ring_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_bad_config),
	    cmocka_unit_test(test_create_out_of_memory),
	    cmocka_unit_test(test_create_shapes),
	    cmocka_unit_test(test_claim_publish_poll_release),
	    cmocka_unit_test(test_lossless_full),
	    cmocka_unit_test(test_no_readers_never_blocks),
	    cmocka_unit_test(test_writer_errors),
	    cmocka_unit_test(test_reader_errors),
	    cmocka_unit_test(test_reader_add_remove_errors),
	    cmocka_unit_test(test_dependency_cycles),
	    cmocka_unit_test(test_pipeline),
	    cmocka_unit_test(test_diamond),
	    cmocka_unit_test(test_join_leave),
	    cmocka_unit_test(test_lossy_lapped),
	    cmocka_unit_test(test_lossy_overwritten_mid_batch),
	    cmocka_unit_test(test_lossy_pipeline),
	    cmocka_unit_test(test_timeout_spin),
	    cmocka_unit_test(test_timeout_yield),
	    cmocka_unit_test(test_timeout_block),
	    cmocka_unit_test(test_per_reader_strategy),
	    cmocka_unit_test(test_block_wakeups),
	    cmocka_unit_test(test_lag),
	};

	return cmocka_run_group_tests_name("ring", tests, NULL, NULL);
}
