/* SPDX-License-Identifier: MIT */
/*
 * test_wait.c - src/wait.h: the clock, deadlines and time left, and each
 * futex call's results (woken, the word moved, timed out), with one real
 * sleeper woken by a bump from another thread.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "wait.h"

#define MS (1000 * 1000LL)

static void test_clock_and_deadlines(void **state)
{
	struct timespec ts = {-1, -1};
	uint64_t a, b, d;

	(void)state;
	a = iobuf__now_ns();
	b = iobuf__now_ns();
	assert_true(a > 0 && b >= a);
	/* No limit: a negative timeout.  The longest one is a deadline like any other. */
	assert_int_equal(iobuf__deadline_after(-1), IOBUF__WAIT_FOREVER);
	assert_int_equal(iobuf__deadline_after(INT64_MIN), IOBUF__WAIT_FOREVER);
	d = iobuf__deadline_after(INT64_MAX);
	assert_true(d > b && d != IOBUF__WAIT_FOREVER);
	assert_false(iobuf__deadline_passed(d));
	assert_false(iobuf__deadline_passed(IOBUF__WAIT_FOREVER));
	assert_int_equal(iobuf__time_left(IOBUF__WAIT_FOREVER, &ts), IOBUF__WAIT_FOREVER);
	assert_int_equal(ts.tv_sec, -1); /* left alone: a wait without limit takes no timeout */
	/* A deadline already passed: nothing left, and a zero timespec. */
	d = iobuf__deadline_after(0);
	assert_true(d >= b);
	assert_true(iobuf__deadline_passed(d));
	assert_int_equal(iobuf__time_left(d, &ts), 0);
	assert_int_equal(ts.tv_sec, 0);
	assert_int_equal(ts.tv_nsec, 0);
	assert_int_equal(iobuf__time_left(1, NULL), 0);
	/* A far one: all of it left, split into seconds and nanoseconds. */
	d = iobuf__deadline_after(3600LL * 1000 * MS + 5);
	assert_false(iobuf__deadline_passed(d));
	a = iobuf__time_left(d, &ts);
	assert_true(a > 3599LL * 1000 * MS && a <= 3600LL * 1000 * MS + 5);
	assert_true(ts.tv_sec >= 3599 && ts.tv_sec <= 3600);
	assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000 * MS);
	assert_int_equal((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, a);
}

static void test_futex_results(void **state)
{
	uint32_t word = 7;
	struct timespec rel = {0, 1 * MS};

	(void)state;
	/* The word is not the value: no sleep at all. */
	assert_int_equal(iobuf__futex_wait_for(&word, 8, NULL), -EAGAIN);
	assert_int_equal(iobuf__futex_wait_until(&word, 8, IOBUF__WAIT_FOREVER), -EAGAIN);
	/* Nobody wakes: each times out (relative, then absolute, then a deadline already passed). */
	assert_int_equal(iobuf__futex_wait_for(&word, 7, &rel), -ETIMEDOUT);
	assert_int_equal(iobuf__futex_wait_until(&word, 7, iobuf__deadline_after(1 * MS)), -ETIMEDOUT);
	assert_int_equal(iobuf__futex_wait_until(&word, 7, iobuf__deadline_after(0)), -ETIMEDOUT);
	/* No sleeper: a wake wakes nobody; a bump moves the word. */
	assert_int_equal(iobuf__futex_wake_all(&word), 0);
	iobuf__futex_bump_wake(&word);
	assert_int_equal(word, 8);
}

/* A sleeper on the word; the test bumps it once it has announced itself. */
struct sleeper {
	uint32_t word;
	uint32_t announced;
	int rc;
	int woken_by_bump;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	/* A watchdog: a bump that does not reach the sleeper fails the test instead of hanging it. */
	uint64_t deadline = iobuf__deadline_after(10000 * MS);
	int rc;

	/* The announcement before the read of the word, as every waiter does it. */
	iobuf__faa_32_acqrel(&s->announced, 1);
	for (;;) {
		uint32_t w = iobuf__load_32_acq(&s->word);

		if (w != 0) {
			s->woken_by_bump = 1;
			break;
		}
		rc = iobuf__futex_wait_until(&s->word, 0, deadline);
		if (rc != 0 && rc != -EAGAIN && rc != -EINTR) {
			s->rc = rc;
			break;
		}
	}
	return NULL;
}

static void test_futex_wakes_a_sleeper(void **state)
{
	struct sleeper s = {0};
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, sleeper_main, &s), 0);
	while (iobuf__load_32_acq(&s.announced) == 0)
		sched_yield();
	/* Whether it sleeps yet or not: the bump either stops its FUTEX_WAIT or wakes it. */
	iobuf__futex_bump_wake(&s.word);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	assert_int_equal(s.woken_by_bump, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clock_and_deadlines),
	    cmocka_unit_test(test_futex_results),
	    cmocka_unit_test(test_futex_wakes_a_sleeper),
	};

	return cmocka_run_group_tests_name("wait", tests, NULL, NULL);
}
