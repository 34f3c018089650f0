/* SPDX-License-Identifier: MIT */
/*
 * test_strerror.c - iobuf_strerror(): the library's words for every code it
 * names, either sign, the C library's text for the rest, and no buffer
 * shared between threads.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <iobuf/common.h>

static const struct {
	int rc;
	const char *msg;
} named[] = {
	{0, "success"},
	{-EINVAL, "invalid argument or not a handle of this set or pool"},
	{-EALREADY, "buffer already put (double put)"},
	{-ESTALE, "stale handle: its buffer was put and handed out again"},
	{-ENOBUFS, "no free buffer in the tier (pool empty)"},
	{-ETIMEDOUT, "no buffer came back before the timeout"},
	{-EMSGSIZE, "size above the largest tier (or the fallback's buffers)"},
	{-ENODATA, "nothing to freeze: the frame is empty"},
	{-ERANGE, "beyond the slice, the frame or what was granted"},
	{-EDQUOT, "over the account's quota"},
	{-ENOMEM, "out of memory: an allocation or a mapping failed"},
	{-EAGAIN, "not now: it would have to wait (non-blocking call, full or empty queue)"},
	{-EBUSY, "still in use: something else depends on it"},
	{-EOVERFLOW, "reader lapped (entries were missed), or a buffer at its most holders"},
};

#define NNAMED (sizeof(named) / sizeof(named[0]))

static void test_named_codes(void **state)
{
	(void)state;
	for (size_t i = 0; i < NNAMED; i++) {
		const char *s = iobuf_strerror(named[i].rc);

		assert_non_null(s);
		assert_string_equal(s, named[i].msg);
		/* The library's own words, not the C library's. */
		if (named[i].rc != 0)
			assert_string_not_equal(s, strerror(-named[i].rc));
	}
}

static void test_positive_is_the_same_error(void **state)
{
	(void)state;
	for (size_t i = 1; i < NNAMED; i++)
		assert_string_equal(iobuf_strerror(-named[i].rc), named[i].msg);
	assert_string_equal(iobuf_strerror(EPIPE), strerror(EPIPE));
}

static void test_others_fall_back_to_the_c_library(void **state)
{
	static const int others[] = {EPIPE, ECONNRESET, EBADF, ENOTSOCK, EPERM, EIO, ENOSYS};
	char want[256];

	(void)state;
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		snprintf(want, sizeof(want), "%s", strerror(others[i]));
		assert_string_equal(iobuf_strerror(-others[i]), want);
	}
	/* A value no errno has: the C library's "Unknown error N". */
	snprintf(want, sizeof(want), "%s", strerror(4095));
	assert_string_equal(iobuf_strerror(-4095), want);
	assert_non_null(strstr(iobuf_strerror(-4095), "4095"));
	/* INT_MIN has no positive twin: still a string, never a crash. */
	assert_non_null(iobuf_strerror(INT_MIN));
	assert_non_null(iobuf_strerror(INT_MAX));
}

/* Two threads, each its own unknown code: the text of one never shows in the other. */
struct speaker {
	int code;
	int bad;
};

static void *speak(void *arg)
{
	struct speaker *s = arg;
	char want[64];

	snprintf(want, sizeof(want), "%d", s->code);
	for (int i = 0; i < 20000; i++) {
		const char *m = iobuf_strerror(-s->code);

		if (!strstr(m, want))
			s->bad++;
	}
	return NULL;
}

static void test_thread_safe(void **state)
{
	struct speaker a = {.code = 3001}, b = {.code = 4002};
	pthread_t ta, tb;

	(void)state;
	assert_int_equal(pthread_create(&ta, NULL, speak, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, speak, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.bad, 0);
	assert_int_equal(b.bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_named_codes),
		cmocka_unit_test(test_positive_is_the_same_error),
		cmocka_unit_test(test_others_fall_back_to_the_c_library),
		cmocka_unit_test(test_thread_safe),
	};

	return cmocka_run_group_tests_name("strerror", tests, NULL, NULL);
}
