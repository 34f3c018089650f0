/* SPDX-License-Identifier: MIT */
/*
 * iobuf/tiers.h - eight power-of-four tiers and a set of eight pools.
 *
 *   tier  name    buffer   default capacity  default bytes
 *   0     PICO     16 B     4096               64 KiB
 *   1     NANO     64 B     4096              256 KiB
 *   2     MICRO   256 B     2048              512 KiB
 *   3     SMALL     1 KiB   1024                1 MiB
 *   4     MEDIUM    4 KiB    512                2 MiB
 *   5     LARGE    16 KiB    128                2 MiB
 *   6     HUGE     64 KiB     32                2 MiB
 *   7     GIANT   256 KiB      8                2 MiB
 *                                        total 9.8 MiB
 *
 * Tier t holds buffers of 16 << 2t bytes.  A size maps to the smallest
 * tier that holds it.  A handle names its tier, so a put needs no size.
 *
 * Synchronization: as iobuf/pool.h; every call but destroy may run
 * concurrently from any number of threads.  get, put and the accessors
 * are lock-free; the waiting get blocks.
 */
#ifndef IOBUF_TIERS_H
#define IOBUF_TIERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <iobuf/common.h>
#include <iobuf/pool.h>

IOBUF_BEGIN_DECLS

enum iobuf_tier {
	IOBUF_TIER_PICO = 0,   /* 16 B */
	IOBUF_TIER_NANO = 1,   /* 64 B */
	IOBUF_TIER_MICRO = 2,  /* 256 B */
	IOBUF_TIER_SMALL = 3,  /* 1 KiB */
	IOBUF_TIER_MEDIUM = 4, /* 4 KiB */
	IOBUF_TIER_LARGE = 5,  /* 16 KiB */
	IOBUF_TIER_HUGE = 6,   /* 64 KiB */
	IOBUF_TIER_GIANT = 7,  /* 256 KiB */
};

#define IOBUF_TIER_COUNT 8
#define IOBUF_TIER_SIZE(t) ((size_t)16 << (2 * (t)))
#define IOBUF_MAX_SIZE IOBUF_TIER_SIZE(IOBUF_TIER_GIANT)

/*
 * The tier of @size for 1 <= size <= IOBUF_MAX_SIZE, unchecked: the one
 * place the size -> tier rule is written (iobuf_tier_for_size() checks,
 * the caches' inline gets call it).  Tier t holds 2^(2t+4) bytes.
 */
static inline unsigned iobuf__tier_of(size_t size)
{
	return (unsigned)(61 - __builtin_clzll((unsigned long long)((size - 1) | 15))) >> 1;
}

/* Set policies, OR'ed into iobuf_set_config.flags. */
enum iobuf_set_flags {
	/* When a tier is empty, take from the next larger tier that has a buffer. */
	IOBUF_SET_SPILL = 1u << 0,
	/* Record where each buffer was taken, in every tier: IOBUF_POOL_TRACK_SITES (iobuf/pool.h). */
	IOBUF_SET_TRACK_SITES = 1u << 1,
	/* Destroy reports nothing (iobuf_set_leaks() still finds the buffers held). */
	IOBUF_SET_QUIET_LEAKS = 1u << 2,
};

struct iobuf_set_config {
	uint32_t capacity[IOBUF_TIER_COUNT]; /* buffers per tier; 0 leaves the tier out */
	unsigned arena_flags;                /* IOBUF_ARENA_* for every tier's arena */
	unsigned flags;                      /* enum iobuf_set_flags */
	uint32_t magazine;                   /* indices per depot magazine, every tier (0: 64); see iobuf_pool_config */
	/*
	 * The fallback beyond the tiers (0: none): up to fallback_count
	 * buffers of fallback_size bytes (0: 1 MiB; at most 1 GiB), mapped
	 * outside the tiers' arenas.  A get that finds its tier (and, with
	 * IOBUF_SET_SPILL, the larger ones) empty, or asks for more than 256
	 * KiB, is served from it, under the same handles and slices; the last
	 * put gives its pages back to the kernel.  Waiting gets wait for their
	 * tier, reads (iobuf_readv_pooled(), iobuf_cache_readv()) and accounts
	 * use the tiers only.  The fallback takes an owner id of its own
	 * (iobuf/slot.h), as a set does.
	 */
	uint32_t fallback_count;
	size_t fallback_size;
	/*
	 * The leak report of destroy, for every tier at once: as
	 * iobuf_pool_config's on_leak (NULL: a line per buffer on stderr and
	 * one summary line for the set).  Not called under IOBUF_SET_QUIET_LEAKS.
	 */
	void (*on_leak)(void *arg, const struct iobuf_leak *leak);
	void *on_leak_arg;
};

struct iobuf_set;

struct iobuf_set_stats {
	struct iobuf_pool_stats tier[IOBUF_TIER_COUNT];
	uint64_t spills; /* gets served by a larger tier under IOBUF_SET_SPILL */
	struct iobuf_pool_stats fallback; /* the fallback's buffers (all 0 without one) */
	uint64_t fallback_gets;           /* gets the fallback served */
};

/*
 * iobuf_tier_for_size - the smallest tier whose buffers hold @size bytes.
 *
 * Returns the tier (0..7), -EINVAL for @size 0, -EMSGSIZE above 256 KiB.
 * Wait-free.
 */
IOBUF_API int iobuf_tier_for_size(size_t size);

/*
 * iobuf_tier_name - "PICO" ... "GIANT".
 *
 * Returns a static string, or "?" for a value out of range.  Wait-free.
 */
IOBUF_API const char *iobuf_tier_name(int tier);

/*
 * iobuf_set_config_default - fill *@cfg with the defaults of the table above.
 *
 * Returns 0 or -EINVAL for NULL.  Wait-free.
 */
IOBUF_API int iobuf_set_config_default(struct iobuf_set_config *cfg);

/*
 * iobuf_set_footprint - the bytes of buffers a set made with @cfg maps.
 *
 * Counts the buffers (capacity x size per tier), not the page rounding of
 * each arena nor the metadata (8 bytes a buffer plus 16 bytes a queue slot).
 * Returns the total, or 0 for NULL.  Wait-free.
 */
IOBUF_API size_t iobuf_set_footprint(const struct iobuf_set_config *cfg);

/*
 * iobuf_set_config_print - print the tier table of @cfg (NULL: the defaults) to @out.
 *
 * Returns 0, -EINVAL for a NULL @out, or -EIO when the write fails.
 */
IOBUF_API int iobuf_set_config_print(const struct iobuf_set_config *cfg, FILE *out);

/*
 * iobuf_set_create - create the pools of a set.
 *
 * @cfg NULL takes the defaults.  Returns the set (*@err = 0), or NULL with *@err (when
 * @err is not NULL) -EINVAL (no tier with a capacity, a capacity above
 * IOBUF_POOL_MAX_CAPACITY, unknown flags), -ENOMEM, or an arena error.
 * Blocking (system calls).
 */
IOBUF_API struct iobuf_set *iobuf_set_create(const struct iobuf_set_config *cfg, int *err);

/*
 * iobuf_set_destroy - report the buffers still held, destroy every pool of @set.
 *
 * The report is iobuf_pool_destroy()'s, for the whole set: the config's
 * on_leak for each buffer still held, tier by tier, or by default a line
 * each on stderr and one summary line; nothing under
 * IOBUF_SET_QUIET_LEAKS or when no buffer is held.  NULL is ignored.
 * Nothing may use the set during or after the call.
 */
IOBUF_API void iobuf_set_destroy(struct iobuf_set *set);

/*
 * iobuf_set_pool - the pool of @tier, or NULL when the tier is out of range
 * or has no buffers in this set.  Wait-free.
 */
IOBUF_API struct iobuf_pool *iobuf_set_pool(const struct iobuf_set *set, int tier);

/*
 * iobuf_get - take a buffer of at least @size bytes.
 *
 * Returns 0 and *@h; -EINVAL for @size 0 or NULL arguments; -EMSGSIZE for
 * @size above 256 KiB; -ENOBUFS when the tier is empty (and, with
 * IOBUF_SET_SPILL, every larger tier too).  Acquires the bytes of the
 * buffer's previous owner.  Lock-free.
 */
IOBUF_API int iobuf_get(struct iobuf_set *set, size_t size, iobuf_handle_t *h);

/*
 * iobuf_get_wait - as iobuf_get(), waiting up to @timeout_ns for the tier.
 *
 * Returns 0, -ETIMEDOUT, or the errors of iobuf_get(); -ENOBUFS only when
 * the set has no buffers of that tier at all (at once: none will ever come).
 * Blocking; see iobuf_pool_get_wait().
 */
IOBUF_API int iobuf_get_wait(struct iobuf_set *set, size_t size, iobuf_handle_t *h, int64_t timeout_ns);

/*
 * iobuf_put - return the buffer of @h to its tier.
 *
 * Returns 0, -EINVAL (not a handle of this set: another set's, a
 * standalone pool's, or no handle; see iobuf/slot.h), -EALREADY (double
 * put) or -ESTALE (its buffer was handed out again); a refused put changes
 * nothing.  Releases the buffer's bytes.  Lock-free.
 */
IOBUF_API int iobuf_put(struct iobuf_set *set, iobuf_handle_t h);

/*
 * iobuf_buf - the address of the buffer of @h, or NULL when @h is not a
 * live handle of @set.  Wait-free.
 */
IOBUF_API void *iobuf_buf(const struct iobuf_set *set, iobuf_handle_t h);

/*
 * iobuf_capacity - the bytes the buffer of @h can hold, in @set.
 *
 * Its tier's size, or the fallback's buffer size for a buffer the
 * fallback served; 0 when @h is not a live handle of @set.  Wait-free.
 */
IOBUF_API size_t iobuf_capacity(const struct iobuf_set *set, iobuf_handle_t h);

/*
 * iobuf_handle_capacity - the bytes the buffer of @h holds (its tier's size).
 *
 * Returns the size, or 0 when @h is not a set's handle (a standalone
 * pool's handles name no tier: ask iobuf_pool_buf_size()).  A buffer of a
 * set's fallback names the largest tier here: ask iobuf_capacity().  Needs no set:
 * the tier is in the handle.  Wait-free.
 */
IOBUF_API size_t iobuf_handle_capacity(iobuf_handle_t h);

/*
 * iobuf_set_ready_fd - one readiness fd for every tier of @set.
 *
 * As iobuf_pool_ready_fd(), for all the set's pools at once: it becomes
 * readable when any tier that a get found empty has buffers again (get
 * again on the tiers you need).  The set owns it (closed by destroy).
 * iobuf_pool_ready_fd() on one of the set's pools returns this fd once it
 * exists (-EINVAL before: a set's pool makes no fd of its own).  Returns
 * the fd, -EINVAL for NULL, or eventfd(2)'s error.
 * Any thread; a system call on the first call only.
 */
IOBUF_API int iobuf_set_ready_fd(struct iobuf_set *set);

/*
 * iobuf_set_stats - snapshots of every tier and the set's counters.
 *
 * Returns 0 or -EINVAL.  Costs O(total capacity); see iobuf_pool_stats().
 */
IOBUF_API int iobuf_set_stats(const struct iobuf_set *set, struct iobuf_set_stats *st);

/*
 * iobuf_set_leaks - the buffers of @set still held, each to @fn.
 *
 * iobuf_pool_leaks() on every tier, smallest first.  Returns the number
 * held in all tiers (>= 0), or -EINVAL for a NULL @set.  Any thread;
 * costs O(total capacity).
 */
IOBUF_API int iobuf_set_leaks(const struct iobuf_set *set, void (*fn)(void *arg, const struct iobuf_leak *leak),
			      void *arg);

/*
 * iobuf_set_stats_print - the stats of @set as a table on @out.
 *
 * Returns 0, -EINVAL, or -EIO when the write fails.
 */
IOBUF_API int iobuf_set_stats_print(const struct iobuf_set *set, FILE *out);

IOBUF_END_DECLS

#endif /* IOBUF_TIERS_H */
