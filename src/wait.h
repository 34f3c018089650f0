/* SPDX-License-Identifier: MIT */
/*
 * wait.h (private) - sleeping on a futex word, and the monotonic clock
 * that bounds it: the one implementation for every waiting call.
 *
 * Times are nanoseconds of CLOCK_MONOTONIC in a uint64_t.  A deadline is
 * such a time, or IOBUF__WAIT_FOREVER, which never passes.  The futex
 * calls are the process-private ones (FUTEX_*_PRIVATE): every word lives
 * in memory of this process.
 *
 * A waiter and its waker agree on a protocol around the word (a waiter
 * count, a Dekker fence on each side); these helpers are only its system
 * calls, plus the one ordering that every such protocol needs: the bump of
 * the word by iobuf__futex_bump_wake() is a release, so a waiter that
 * reads the new value with acquire sees what the waker stored before.
 */
#ifndef IOBUF_SRC_WAIT_H
#define IOBUF_SRC_WAIT_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"

/* A deadline that never passes. */
#define IOBUF__WAIT_FOREVER UINT64_MAX

/* Now, in nanoseconds of CLOCK_MONOTONIC. */
static inline uint64_t iobuf__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The deadline @timeout_ns from now; IOBUF__WAIT_FOREVER for a negative
 * @timeout_ns (no limit).  The sum cannot reach IOBUF__WAIT_FOREVER: the
 * monotonic clock (time since boot) stays below 2^63 ns for 292 years, and
 * @timeout_ns is below 2^63.
 */
static inline uint64_t iobuf__deadline_after(int64_t timeout_ns)
{
	if (timeout_ns < 0)
		return IOBUF__WAIT_FOREVER;
	return iobuf__now_ns() + (uint64_t)timeout_ns;
}

/* Has @deadline passed?  Never for IOBUF__WAIT_FOREVER (and no clock read then). */
static inline bool iobuf__deadline_passed(uint64_t deadline)
{
	return deadline != IOBUF__WAIT_FOREVER && iobuf__now_ns() >= deadline;
}

/*
 * Nanoseconds left before @deadline: 0 when it passed, IOBUF__WAIT_FOREVER
 * when it never does.  *@ts (when not NULL) receives the time left as a
 * relative timespec, for a relative wait (left alone for IOBUF__WAIT_FOREVER:
 * such a wait takes no timeout).
 */
static inline uint64_t iobuf__time_left(uint64_t deadline, struct timespec *ts)
{
	uint64_t now, left;

	if (deadline == IOBUF__WAIT_FOREVER)
		return IOBUF__WAIT_FOREVER;
	now = iobuf__now_ns();
	left = deadline > now ? deadline - now : 0;
	if (ts) {
		ts->tv_sec = (time_t)(left / 1000000000u);
		ts->tv_nsec = (long)(left % 1000000000u);
	}
	return left;
}

/*
 * Sleep while *@word == @val, until woken, for at most *@rel (NULL: no
 * limit).  FUTEX_WAIT_PRIVATE: the timeout is relative, so a caller that
 * loops recomputes it (iobuf__time_left()).
 *
 * Returns 0 when woken, -EAGAIN when *@word was not @val, -EINTR for a
 * signal, -ETIMEDOUT: in every case but the last the caller re-checks its
 * condition (a wake-up may be spurious).
 */
static inline int iobuf__futex_wait_for(uint32_t *word, uint32_t val, const struct timespec *rel)
{
	if (syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0) == 0)
		return 0;
	return -errno;
}

/*
 * Sleep while *@word == @val, until woken or @deadline (absolute;
 * IOBUF__WAIT_FOREVER: no limit).  FUTEX_WAIT_BITSET_PRIVATE, whose timeout
 * is an absolute CLOCK_MONOTONIC time, so a loop around it keeps one
 * deadline and reads no clock.  Returns as iobuf__futex_wait_for().
 */
static inline int iobuf__futex_wait_until(uint32_t *word, uint32_t val, uint64_t deadline)
{
	struct timespec ts, *tsp = NULL;

	if (deadline != IOBUF__WAIT_FOREVER) {
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);
		tsp = &ts;
	}
	if (syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, val, tsp, NULL, FUTEX_BITSET_MATCH_ANY) == 0)
		return 0;
	return -errno;
}

/* Wake every thread asleep on @word.  Returns how many were woken, or -errno. */
static inline int iobuf__futex_wake_all(uint32_t *word)
{
	long n = syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);

	return n < 0 ? -errno : (int)n;
}

/*
 * The waker's side once it knows someone may sleep on @word: bump the word,
 * so that a waiter between its read of the word and its FUTEX_WAIT does not
 * sleep, then wake every sleeper.  The bump is acq_rel: it releases the
 * caller's progress (stored before) to a waiter whose load-acquire of the
 * word reads the new value; the caller's label names that partner (R5/A5
 * in ring.c).
 */
static inline void iobuf__futex_bump_wake(uint32_t *word)
{
	iobuf__faa_32_acqrel(word, 1);
	(void)iobuf__futex_wake_all(word);
}

#endif /* IOBUF_SRC_WAIT_H */
