/* SPDX-License-Identifier: MIT */
/*
 * test_pool.c - one pool: shape, get/put, checked handles and every
 * refusal, the raw-index path, bulk and burst, the waiting get, generation
 * wrap, statistics, and ASan's report of a use after put.
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

#include <iobuf/pool.h>

#include "pool.h"

static struct iobuf_pool *make(size_t size, uint32_t cap)
{
	struct iobuf_pool_config cfg = {.buf_size = size, .capacity = cap, .tag = 3};
	int err = 0;
	struct iobuf_pool *p = iobuf_pool_create(&cfg, &err);

	assert_non_null(p);
	assert_int_equal(err, 0);
	return p;
}

static void check_invariant(const struct iobuf_pool *p)
{
	struct iobuf_pool_stats st;

	assert_int_equal(iobuf_pool_stats(p, &st), 0);
	assert_int_equal(st.free + st.cached + st.in_use, st.capacity);
}

static void test_create_errors(void **state)
{
	struct iobuf_pool_config cfg = {.buf_size = 64, .capacity = 8};
	int err;

	(void)state;
	err = 0;
	assert_null(iobuf_pool_create(NULL, &err));
	assert_int_equal(err, -EINVAL);
	cfg.buf_size = 0;
	assert_null(iobuf_pool_create(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	cfg.buf_size = 64;
	cfg.capacity = 0;
	assert_null(iobuf_pool_create(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	cfg.capacity = IOBUF_POOL_MAX_CAPACITY + 1;
	assert_null(iobuf_pool_create(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	cfg.capacity = 8;
	cfg.tag = 8;
	assert_null(iobuf_pool_create(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	cfg.tag = 0;
	cfg.arena_flags = 1u << 20;
	assert_null(iobuf_pool_create(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	cfg.arena_flags = 0;
	cfg.buf_size = SIZE_MAX / 4;
	cfg.capacity = 16;
	assert_null(iobuf_pool_create(&cfg, NULL)); /* overflow; a NULL err is fine */
	assert_null(iobuf__pool_create_at(&(struct iobuf_pool_config){.buf_size = 8, .capacity = 1}, 1, 0, &err));
	assert_int_equal(err, -EINVAL); /* odd generation base */
	iobuf_pool_destroy(NULL);
}

static void test_shape(void **state)
{
	static const struct {
		size_t size, stride;
	} cases[] = {{1, 1}, {16, 16}, {100, 128}, {4096, 4096}, {5000, 8192}, {65536, 65536}, {1500, 2048}};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct iobuf_pool *p = make(cases[c].size, 5);
		uint8_t *base = iobuf_pool_index_buf(p, 0);
		size_t align = cases[c].stride < 4096 ? cases[c].stride : 4096;

		assert_int_equal(iobuf_pool_stride(p), cases[c].stride);
		assert_int_equal(iobuf_pool_buf_size(p), cases[c].size);
		assert_int_equal(iobuf_pool_capacity(p), 5);
		assert_int_equal((uintptr_t)base % 4096, 0);
		for (uint32_t i = 0; i < 5; i++) {
			uint8_t *b = iobuf_pool_index_buf(p, i);

			assert_ptr_equal(b, base + i * cases[c].stride);
			assert_int_equal((uintptr_t)b % align, 0);
		}
		assert_non_null(iobuf_pool_arena(p));
		assert_true(iobuf_pool_arena(p)->size >= 5 * cases[c].stride);
		iobuf_pool_destroy(p);
	}
	assert_int_equal(iobuf_pool_stride(NULL), 0);
	assert_int_equal(iobuf_pool_capacity(NULL), 0);
	assert_int_equal(iobuf_pool_buf_size(NULL), 0);
	assert_null(iobuf_pool_arena(NULL));
}

static void test_get_all_put_all(void **state)
{
	enum { CAP = 37 };
	struct iobuf_pool *p = make(64, CAP);
	iobuf_handle_t h[CAP], extra;
	uint8_t seen[CAP] = {0};
	struct iobuf_pool_stats st;

	(void)state;
	for (int round = 0; round < 3; round++) {
		memset(seen, 0, sizeof(seen));
		for (int i = 0; i < CAP; i++) {
			uint8_t *b;

			assert_int_equal(iobuf_pool_get(p, &h[i]), 0);
			assert_true(h[i] != IOBUF_HANDLE_NONE);
			assert_int_equal(iobuf_handle_tag(h[i]), 3);
			assert_true(iobuf_handle_generation(h[i]) & 1);
			assert_false(seen[iobuf_handle_index(h[i])]);
			seen[iobuf_handle_index(h[i])] = 1;
			b = iobuf_pool_buf(p, h[i]);
			assert_ptr_equal(b, iobuf_pool_index_buf(p, iobuf_handle_index(h[i])));
			memset(b, i, 64);
		}
		assert_int_equal(iobuf_pool_get(p, &extra), -ENOBUFS);
		check_invariant(p);
		for (int i = 0; i < CAP; i++) {
			assert_int_equal(((uint8_t *)iobuf_pool_buf(p, h[i]))[63], (uint8_t)i);
			assert_int_equal(iobuf_pool_put(p, h[i]), 0);
			assert_null(iobuf_pool_buf(p, h[i]));
		}
	}
	assert_int_equal(iobuf_pool_stats(p, &st), 0);
	assert_int_equal(st.gets, 3 * CAP);
	assert_int_equal(st.puts, 3 * CAP);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.free, CAP);
	assert_int_equal(st.empty_gets, 3);
	assert_int_equal(st.high_water_sampled, CAP);
	assert_int_equal(iobuf_pool_get(NULL, &extra), -EINVAL);
	assert_int_equal(iobuf_pool_get(p, NULL), -EINVAL);
	assert_int_equal(iobuf_pool_stats(NULL, &st), -EINVAL);
	assert_int_equal(iobuf_pool_stats(p, NULL), -EINVAL);
	iobuf_pool_destroy(p);
}

static void test_put_refusals(void **state)
{
	struct iobuf_pool *p = make(64, 4);
	struct iobuf_pool_config other_cfg = {.buf_size = 64, .capacity = 4, .tag = 5};
	struct iobuf_pool *other = iobuf_pool_create(&other_cfg, NULL);
	iobuf_handle_t h, h2, foreign;
	struct iobuf_pool_stats st;

	(void)state;
	assert_int_equal(iobuf_pool_get(p, &h), 0);
	assert_int_equal(iobuf_pool_get(other, &foreign), 0);

	/* Not a handle of this pool. */
	assert_int_equal(iobuf_pool_put(p, 0), -EINVAL);
	assert_int_equal(iobuf_pool_put(p, h ^ (UINT64_C(1) << IOBUF__HANDLE_OWNER_SHIFT)), -EINVAL);
	assert_int_equal(iobuf_pool_put(p, foreign), -EINVAL);
	assert_int_equal(iobuf_pool_put(p, (h & ~(uint64_t)(IOBUF_POOL_MAX_CAPACITY - 1)) | 4), -EINVAL);
	assert_int_equal(iobuf_pool_put(p, h + (UINT64_C(1) << 32)), -EINVAL); /* even generation */
	assert_int_equal(iobuf_pool_put(NULL, h), -EINVAL);
	assert_null(iobuf_pool_buf(p, foreign));
	assert_null(iobuf_pool_buf(NULL, h));

	/* Double put. */
	assert_int_equal(iobuf_pool_put(p, h), 0);
	assert_int_equal(iobuf_pool_put(p, h), -EALREADY);

	/* Stale: the same buffer handed out again. */
	{
		iobuf_handle_t all[4];

		assert_int_equal(iobuf_pool_get_bulk(p, all, 4), 0);
		h2 = 0;
		for (int i = 0; i < 4; i++)
			if (iobuf_handle_index(all[i]) == iobuf_handle_index(h))
				h2 = all[i];
		assert_true(h2 != 0);
		assert_int_equal(iobuf_pool_put(p, h), -ESTALE);
		assert_null(iobuf_pool_buf(p, h));
		assert_non_null(iobuf_pool_buf(p, h2));
		/* Handed out and put again since: still stale, not "already". */
		assert_int_equal(iobuf_pool_put_bulk(p, all, 4), 0);
		assert_int_equal(iobuf_pool_put(p, h), -ESTALE);
		assert_int_equal(iobuf_pool_put(p, h2), -EALREADY);
	}
	/* Nothing was corrupted: every buffer once, and all free. */
	assert_int_equal(iobuf_pool_stats(p, &st), 0);
	assert_int_equal(st.free, 4);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.refused_invalid, 5); /* the NULL pool has no counter */
	assert_int_equal(st.refused_already, 2);
	assert_int_equal(st.refused_stale, 2);
	{
		iobuf_handle_t all[5];

		assert_int_equal(iobuf_pool_get_burst(p, all, 5), 4);
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < i; j++)
				assert_int_not_equal(iobuf_handle_index(all[i]), iobuf_handle_index(all[j]));
		assert_int_equal(iobuf_pool_put_bulk(p, all, 4), 0);
	}
	assert_int_equal(iobuf_pool_put(other, foreign), 0);
	iobuf_pool_destroy(other);
	iobuf_pool_destroy(p);
}

static void test_raw_index(void **state)
{
	struct iobuf_pool *p = make(256, 3);
	int a, b, c;
	iobuf_handle_t h;

	(void)state;
	a = iobuf_pool_get_index(p);
	b = iobuf_pool_get_index(p);
	c = iobuf_pool_get_index(p);
	assert_true(a >= 0 && b >= 0 && c >= 0 && a != b && b != c && a != c);
	assert_int_equal(iobuf_pool_get_index(p), -ENOBUFS);
	assert_int_equal(iobuf_pool_put_index(p, (uint32_t)a), 0);
	assert_int_equal(iobuf_pool_put_index(p, (uint32_t)a), -EALREADY);
	assert_int_equal(iobuf_pool_put_index(p, 3), -EINVAL);
	assert_int_equal(iobuf_pool_put_index(NULL, 0), -EINVAL);
	assert_int_equal(iobuf_pool_get_index(NULL), -EINVAL);
	/* The two paths share the slots: a handle put by index is then "already". */
	assert_int_equal(iobuf_pool_get(p, &h), 0);
	assert_int_equal(iobuf_pool_put_index(p, iobuf_handle_index(h)), 0);
	assert_int_equal(iobuf_pool_put(p, h), -EALREADY);
	assert_int_equal(iobuf_pool_put_index(p, (uint32_t)b), 0);
	assert_int_equal(iobuf_pool_put_index(p, (uint32_t)c), 0);
	check_invariant(p);
	iobuf_pool_destroy(p);
}

static void test_bulk_and_burst(void **state)
{
	struct iobuf_pool *p = make(64, 100);
	iobuf_handle_t hs[200];
	struct iobuf_pool_stats st;

	(void)state;
	assert_int_equal(iobuf_pool_get_bulk(p, hs, 70), 0);
	/* 30 left: a bulk of 31 takes nothing. */
	assert_int_equal(iobuf_pool_get_bulk(p, hs + 70, 31), -ENOBUFS);
	iobuf_pool_stats(p, &st);
	assert_int_equal(st.free, 30);
	assert_int_equal(st.in_use, 70);
	/* A burst takes what there is. */
	assert_int_equal(iobuf_pool_get_burst(p, hs + 70, 50), 30);
	assert_int_equal(iobuf_pool_get_burst(p, hs + 100, 5), 0);
	/* A bad handle among good ones is refused; the others go back. */
	hs[100] = hs[5];
	assert_int_equal(iobuf_pool_put_bulk(p, hs, 101), -EALREADY);
	iobuf_pool_stats(p, &st);
	assert_int_equal(st.free, 100);
	assert_int_equal(st.refused_already, 1);
	/* A bulk above the 64-entry stack array. */
	assert_int_equal(iobuf_pool_get_bulk(p, hs, 100), 0);
	assert_int_equal(iobuf_pool_put_bulk(p, hs, 100), 0);
	assert_int_equal(iobuf_pool_get_bulk(p, hs, 0), 0);
	assert_int_equal(iobuf_pool_get_bulk(p, NULL, 1), -EINVAL);
	assert_int_equal(iobuf_pool_get_bulk(p, hs, -1), -EINVAL);
	assert_int_equal(iobuf_pool_get_burst(p, hs, -1), -EINVAL);
	assert_int_equal(iobuf_pool_get_burst(NULL, hs, 1), -EINVAL);
	assert_int_equal(iobuf_pool_put_bulk(p, NULL, 1), -EINVAL);
	assert_int_equal(iobuf_pool_put_bulk(NULL, hs, 1), -EINVAL);
	check_invariant(p);
	iobuf_pool_destroy(p);
}

/* A waiting get on its own thread; @done is set (release) once it returned. */
struct waiter {
	struct iobuf_pool *p;
	int64_t timeout_ns;
	iobuf_handle_t h;
	int rc;
	int done;
};

static void *wait_for_buffer(void *arg)
{
	struct waiter *w = arg;

	w->rc = iobuf_pool_get_wait(w->p, &w->h, w->timeout_ns);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void nap(void)
{
	struct timespec ts = {0, 1000000};

	nanosleep(&ts, NULL);
}

static uint64_t waits_of(const struct iobuf_pool *p)
{
	struct iobuf_pool_stats st;

	assert_int_equal(iobuf_pool_stats(p, &st), 0);
	return st.waits;
}

/* The watchdog of every wait below: far above any delay of a loaded machine. */
#define WATCHDOG_NS (60 * 1000000000ull)

/*
 * Until the waiter has counted its sleep (stats.waits moved past @before).
 * From then on it dequeues again after registering as a sleeper, before
 * each futex wait, so a put made now either is found by that dequeue or
 * wakes the futex: no delay is assumed.
 */
static void until_asleep(const struct iobuf_pool *p, uint64_t before)
{
	uint64_t t0 = now_ns();

	while (waits_of(p) == before) {
		assert_true(now_ns() - t0 < WATCHDOG_NS);
		nap();
	}
}

/* Until the waiter has returned, or the watchdog fires: a put that does not wake it fails here. */
static void until_returned(struct waiter *w, pthread_t t)
{
	uint64_t t0 = now_ns();

	while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE)) {
		if (now_ns() - t0 >= WATCHDOG_NS)
			fail_msg("the waiter was not woken by the put within %llu s", WATCHDOG_NS / 1000000000ull);
		nap();
	}
	assert_int_equal(pthread_join(t, NULL), 0);
}

static void test_get_wait(void **state)
{
	struct iobuf_pool *p = make(64, 1);
	iobuf_handle_t h, h2;
	struct iobuf_pool_stats st;
	struct waiter w;
	pthread_t t;
	uint64_t t0, waits;

	(void)state;
	/* A free buffer: no wait. */
	assert_int_equal(iobuf_pool_get_wait(p, &h, 1000000), 0);
	/* Empty, no time: at once. */
	assert_int_equal(iobuf_pool_get_wait(p, &h2, 0), -ETIMEDOUT);
	/* Empty for longer than the timeout (nobody puts): -ETIMEDOUT, and not before the timeout. */
	t0 = now_ns();
	assert_int_equal(iobuf_pool_get_wait(p, &h2, 20 * 1000000), -ETIMEDOUT);
	assert_true(now_ns() - t0 >= 20 * 1000000u);

	/*
	 * A put from this thread wakes a sleeper.  Its timeout (twice the
	 * watchdog) is never what returns it: a lost wake-up fails the watchdog.
	 */
	waits = waits_of(p);
	w = (struct waiter){.p = p, .timeout_ns = 2 * (int64_t)WATCHDOG_NS};
	assert_int_equal(pthread_create(&t, NULL, wait_for_buffer, &w), 0);
	until_asleep(p, waits);
	assert_false(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)); /* the pool is empty: it cannot have returned */
	assert_int_equal(iobuf_pool_put(p, h), 0);
	until_returned(&w, t);
	assert_int_equal(w.rc, 0);
	assert_int_equal(iobuf_handle_index(w.h), iobuf_handle_index(h));
	assert_int_equal(waits_of(p), waits + 1);
	h = w.h;

	/* And without a limit. */
	waits = waits_of(p);
	w = (struct waiter){.p = p, .timeout_ns = -1};
	assert_int_equal(pthread_create(&t, NULL, wait_for_buffer, &w), 0);
	until_asleep(p, waits);
	assert_false(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE));
	assert_int_equal(iobuf_pool_put(p, h), 0);
	until_returned(&w, t);
	assert_int_equal(w.rc, 0);
	assert_int_equal(iobuf_handle_index(w.h), iobuf_handle_index(h));
	assert_int_equal(waits_of(p), waits + 1);
	h = w.h;

	iobuf_pool_stats(p, &st);
	assert_int_equal(st.wait_timeouts, 2);
	assert_int_equal(st.empty_gets, 4); /* the two timeouts and the two sleepers */
	assert_true(st.waits >= 2);
	assert_int_equal(iobuf_pool_put(p, h), 0);
	/* Refused calls leave IOBUF_HANDLE_NONE where a handle would go. */
	assert_int_equal(iobuf_pool_get_wait(NULL, &h, 0), -EINVAL);
	assert_int_equal(h, IOBUF_HANDLE_NONE);
	assert_int_equal(iobuf_pool_get_wait(p, NULL, 0), -EINVAL);
	iobuf_pool_destroy(p);
}

static void test_generation_wrap(void **state)
{
	struct iobuf_pool_config cfg = {.buf_size = 16, .capacity = 1};
	struct iobuf_pool *p = iobuf__pool_create_at(&cfg, (UINT64_C(1) << 32) - 8, UINT64_MAX - 5, NULL);
	iobuf_handle_t h, before_wrap = 0;
	struct iobuf_pool_stats st;
	int wrapped = 0;

	(void)state;
	assert_non_null(p);
	for (int i = 0; i < 12; i++) {
		assert_int_equal(iobuf_pool_get(p, &h), 0);
		assert_true(iobuf_handle_generation(h) & 1);
		if (iobuf_handle_generation(h) < 8)
			wrapped = 1;
		else if (!wrapped)
			before_wrap = h;
		assert_non_null(iobuf_pool_buf(p, h));
		assert_int_equal(iobuf_pool_put(p, h), 0);
		assert_int_equal(iobuf_pool_put(p, h), -EALREADY);
	}
	assert_true(wrapped);
	/* A handle from before the wrap is stale after it, held or free. */
	assert_int_equal(iobuf_pool_put(p, before_wrap), -ESTALE);
	assert_int_equal(iobuf_pool_get(p, &h), 0);
	assert_int_equal(iobuf_pool_put(p, before_wrap), -ESTALE);
	assert_int_equal(iobuf_pool_put(p, h), 0);
	iobuf_pool_stats(p, &st);
	assert_int_equal(st.gets, 13);
	assert_int_equal(st.puts, 13);
	iobuf_pool_destroy(p);
}

#ifdef IOBUF_ASAN
/* Only in ASan builds (cmocka's skip() reads as a failure to automake's TAP driver). */
static void test_use_after_put_reported(void **state)
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
		struct iobuf_pool *p = make(64, 2);
		iobuf_handle_t h;
		volatile uint8_t *b;

		dup2(pipefd[1], 2);
		iobuf_pool_get(p, &h);
		b = iobuf_pool_buf(p, h);
		b[0] = 1;
		iobuf_pool_put(p, h);
		b[0] = 2; /* use after put */
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
	print_message("# ASan reported the use after put: use-after-poison\n");
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_get_all_put_all),
		cmocka_unit_test(test_put_refusals),
		cmocka_unit_test(test_raw_index),
		cmocka_unit_test(test_bulk_and_burst),
		cmocka_unit_test(test_get_wait),
		cmocka_unit_test(test_generation_wrap),
#ifdef IOBUF_ASAN
		cmocka_unit_test(test_use_after_put_reported),
#endif
	};

	return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
