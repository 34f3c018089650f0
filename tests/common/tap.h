/* SPDX-License-Identifier: MIT */
/*
 * tap.h - TAP output and failure checks for the threaded stress tests.
 * Header-only; not installed.
 *
 * tap(ok, fmt, ...) prints "ok N - ..." or "not ok N - ...".  CHECK(cond,
 * fmt, ...) in a function returning bool reports a failed condition on
 * stderr, counts it in `failures` (which every thread reads to stop) and
 * returns false.
 */
#ifndef IOBUF_TESTS_TAP_H
#define IOBUF_TESTS_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int tap_n;
static int failures;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "# FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, "\n");                                 \
			__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);    \
			return false;                                          \
		}                                                              \
	} while (0)

static void tap(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", ok ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

#endif /* IOBUF_TESTS_TAP_H */
