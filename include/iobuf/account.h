/* SPDX-License-Identifier: MIT */
/*
 * iobuf/account.h - tenant accounts: hard quotas and watermarks on what a
 * connection or tenant holds of a set.
 *
 * A get on behalf of an account counts against its limits: buffers per
 * tier and bytes in all (a buffer counts its tier's size, however many
 * bytes it holds).  Beyond a limit the get is refused with -EDQUOT and
 * nothing is charged.  The hand-out remembers its account (in its slot),
 * so the last put credits it, from any thread, through any put: the set,
 * the pool, a cache, a slice.  Sharing a charged buffer does not charge it
 * again: it counts once until its last holder puts it.
 *
 * Watermarks on the bytes held: crossing the high mark upwards and then
 * the low mark downwards are edges; each edge fires once, in order: a
 * callback (on the thread whose get or put crossed it) and the account's
 * readiness fd (an eventfd that becomes readable).
 *
 * The tiers alone serve an account: a get on its behalf that finds its
 * tier empty is -ENOBUFS, never a buffer of the set's fallback.
 *
 * Gets that name no account pay nothing for this: a put of an uncharged
 * buffer is the compare-and-swap it always was (iobuf/slot.h).
 */
#ifndef IOBUF_ACCOUNT_H
#define IOBUF_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <iobuf/common.h>
#include <iobuf/slice.h>
#include <iobuf/slot.h>
#include <iobuf/tiers.h>

IOBUF_BEGIN_DECLS

struct iobuf_account;
struct iobuf_cache;

struct iobuf_account_config {
	uint32_t max_buffers[IOBUF_TIER_COUNT]; /* per tier; 0: no limit */
	uint64_t max_bytes;                     /* tier sizes of the buffers held, summed; 0: no limit */
	uint64_t high_bytes;                    /* the high watermark; 0: no watermarks */
	uint64_t low_bytes;                     /* the low watermark, below high_bytes */
	/*
	 * Called at each edge (@high: the high mark was reached), on the
	 * thread that crossed it, one at a time and in order; may be NULL.  It
	 * may get and put on the account (an edge it causes fires after it
	 * returns) and ask for its fd, but not destroy it.
	 */
	void (*on_watermark)(struct iobuf_account *acct, bool high, void *arg);
	void *arg;
};

struct iobuf_account_stats {
	uint32_t held[IOBUF_TIER_COUNT]; /* buffers charged now, per tier */
	uint64_t bytes;                  /* their tier sizes, summed */
	uint64_t peak_bytes;             /* the most bytes held at once */
	uint64_t gets;                   /* charged gets */
	uint64_t puts;                   /* last puts that credited the account */
	uint64_t refused;                /* gets refused with -EDQUOT */
	uint64_t highs;                  /* edges up through high_bytes */
	uint64_t lows;                   /* edges down through low_bytes */
	bool above_high;                 /* between a high edge and the next low edge */
};

/*
 * iobuf_account_create - an account that charges gets from @set.
 *
 * Returns the account (*@err = 0), or NULL with *@err -EINVAL (NULL
 * arguments, low_bytes not below high_bytes) or -ENOMEM.  The caller owns
 * it and destroys it before the set.  Blocking (it allocates); thread-safe.
 */
IOBUF_API struct iobuf_account *iobuf_account_create(struct iobuf_set *set, const struct iobuf_account_config *cfg,
						     int *err);

/*
 * iobuf_account_destroy - free @acct, which must hold nothing.
 *
 * Returns 0; -EBUSY (nothing done) while a buffer charged to it is held;
 * -EINVAL for NULL.  No other call on @acct may run or come.
 */
IOBUF_API int iobuf_account_destroy(struct iobuf_account *acct);

/*
 * iobuf_account_get - iobuf_get() on behalf of @acct.
 *
 * Returns 0 and *@h; -EDQUOT when the buffer would take @acct beyond a
 * limit; the errors of iobuf_get() (-ENOBUFS, -EMSGSIZE, -EINVAL for
 * NULL or @size 0).  A refused get charges nothing.  Acquires as
 * iobuf_get().  Lock-free but for a watermark edge (see above).
 */
IOBUF_API int iobuf_account_get(struct iobuf_account *acct, size_t size, iobuf_handle_t *h);

/*
 * iobuf_account_get_cached - iobuf_cache_get() on behalf of @acct.
 *
 * @cache must be a cache of @acct's set (-EINVAL otherwise).  Returns as
 * iobuf_account_get(), and -EBUSY for a parked cache.  Owner thread of
 * @cache only.
 */
IOBUF_API int iobuf_account_get_cached(struct iobuf_account *acct, struct iobuf_cache *cache, size_t size,
				       iobuf_handle_t *h);

/*
 * iobuf_account_readv - iobuf_cache_readv() with every buffer charged to @acct.
 *
 * Reads into as many fresh buffers as the account's limits allow (up to
 * @k); returns -EDQUOT (nothing read, nothing held) when not even one
 * is allowed, else as iobuf_cache_readv().  The buffers that received
 * nothing go back uncharged.  Owner thread of @cache only.
 */
IOBUF_API ssize_t iobuf_account_readv(struct iobuf_account *acct, struct iobuf_cache *cache, int fd, int tier,
				      struct iobuf_slice *s, int k, int *kept);

/*
 * iobuf_account_of - the account live handle @h of @set is charged to.
 *
 * NULL when it is charged to none, or is not live in @set.  A snapshot.
 * Wait-free.
 */
IOBUF_API struct iobuf_account *iobuf_account_of(const struct iobuf_set *set, iobuf_handle_t h);

/*
 * iobuf_account_ready_fd - an eventfd that becomes readable at each watermark edge.
 *
 * Made on the first call; the account owns it (closed by destroy).  Read
 * it to rearm it, then look at iobuf_account_stats()'s above_high.
 * Returns the fd, -EINVAL for NULL, or eventfd(2)'s error.
 */
IOBUF_API int iobuf_account_ready_fd(struct iobuf_account *acct);

/*
 * iobuf_account_stats - a snapshot of @acct's counters.
 *
 * Exact when no get or put on the account runs.  Returns 0 or -EINVAL.
 * Wait-free.
 */
IOBUF_API int iobuf_account_stats(const struct iobuf_account *acct, struct iobuf_account_stats *st);

IOBUF_END_DECLS

#endif /* IOBUF_ACCOUNT_H */
