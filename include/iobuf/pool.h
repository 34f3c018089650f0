/* SPDX-License-Identifier: MIT */
/*
 * iobuf/pool.h - one tier: a bounded pool of equal buffers.
 *
 * A pool is an arena of @capacity buffers of @buf_size bytes, the lock-free
 * SCQ queue of the free indices (it starts full), and per-slot metadata
 * kept out of band, so the buffers stay packed back to back.  A buffer is
 * named by its index, or by a checked handle that adds the pool's tag and
 * the slot's generation.  Pools of 16 buffers or more also have a depot:
 * whole magazines of free indices that per-thread caches (iobuf/cache.h)
 * exchange in one operation; every get below looks there too when the
 * queue is empty, so a free buffer is never out of reach of any get.
 *
 * Ownership: at every instant each index is in exactly one place: the free
 * queue or the depot (both "free"), one cache, or one owner.  A put of a buffer that
 * is already free is refused (-EALREADY), and so is a handle whose buffer
 * was put and handed out again since (-ESTALE).  No sequence of bad calls
 * corrupts the pool.
 *
 * Memory ordering: a put releases the buffer's bytes; the get that next
 * returns the same index acquires them.
 *
 * Synchronization:
 *
 *   call                          | may run concurrently with
 *   ------------------------------+---------------------------------------
 *   get*, put*, buf, stats        | each other, from any number of threads
 *   destroy                       | nothing (every buffer must be idle)
 *
 * Progress: get, put and their bulk/burst forms are lock-free; the waiting
 * get blocks (spin, yield, then a futex that a put wakes).
 */
#ifndef IOBUF_POOL_H
#define IOBUF_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <iobuf/arena.h>
#include <iobuf/common.h>

IOBUF_BEGIN_DECLS

/*
 * A checked handle: (generation, tag, index) in 64 bits.
 *
 *   bits  0..27  index within the pool (so at most 2^28 buffers)
 *   bits 28..30  tag: the tier number in a set, or the pool's own tag
 *   bit  31      always 1, so that 0 and small integers are never handles
 *   bits 32..63  generation of the slot when it was handed out (odd)
 *
 * A handle is a plain value: copy it, store it, send it through a ring.
 * The generation has 32 bits, so a stale handle is told from a live one
 * unless its slot was handed out exactly a multiple of 2^31 times since.
 */
typedef uint64_t iobuf_handle_t;

#define IOBUF_HANDLE_INDEX_BITS 28
#define IOBUF_POOL_MAX_CAPACITY (UINT32_C(1) << IOBUF_HANDLE_INDEX_BITS)
#define IOBUF_HANDLE_MARK (UINT64_C(1) << 31)
#define IOBUF_HANDLE_NONE ((iobuf_handle_t)0)

/* The parts of a handle (no validation). */
static inline uint32_t iobuf_handle_index(iobuf_handle_t h)
{
	return (uint32_t)(h & (IOBUF_POOL_MAX_CAPACITY - 1));
}
static inline unsigned iobuf_handle_tag(iobuf_handle_t h)
{
	return (unsigned)(h >> IOBUF_HANDLE_INDEX_BITS) & 7u;
}
static inline uint32_t iobuf_handle_generation(iobuf_handle_t h)
{
	return (uint32_t)(h >> 32);
}

/*
 * Indices per magazine of a pool's depot (iobuf/cache.h) when the config
 * says 0, and the divisor that bounds it: a magazine holds at most
 * capacity / IOBUF_POOL_MAGAZINE_DIV indices, so that one cache (two
 * magazines at most) never holds more than an eighth of a pool.
 */
#define IOBUF_POOL_MAGAZINE_DEFAULT 64
#define IOBUF_POOL_MAGAZINE_DIV 16
#define IOBUF_POOL_MAGAZINE_MAX 1024

struct iobuf_pool_config {
	size_t buf_size;      /* bytes per buffer, >= 1 */
	uint32_t capacity;    /* buffers, 1 .. IOBUF_POOL_MAX_CAPACITY */
	unsigned arena_flags; /* IOBUF_ARENA_* for the buffers' arena */
	unsigned tag;         /* 0..7, stamped into every handle; a handle with another tag is refused */
	/*
	 * Indices per depot magazine, the unit in which caches refill and
	 * flush (0: IOBUF_POOL_MAGAZINE_DEFAULT).  Lowered to capacity /
	 * IOBUF_POOL_MAGAZINE_DIV and to IOBUF_POOL_MAGAZINE_MAX; when that
	 * is 0 (capacity below 16) the
	 * pool has no depot and caches pass its buffers straight through.
	 */
	uint32_t magazine;
};

/* A snapshot of a pool's counters; see iobuf_pool_stats(). */
struct iobuf_pool_stats {
	uint32_t capacity;
	uint32_t free;       /* in the free queue */
	uint32_t cached;     /* held by caches (iobuf/cache.h) */
	uint32_t in_use;     /* handed out to owners */
	uint32_t high_water; /* most buffers seen out of the free queue at once: sampled by
				bulk, burst, empty and waiting gets, cache refills and
				snapshots (not by single gets, to keep them off the
				queue's tail line) */
	uint64_t gets;       /* successful gets (every form, through caches too) */
	uint64_t puts;       /* successful puts */
	uint64_t empty_gets; /* gets that found the pool empty (-ENOBUFS, or a wait) */
	uint64_t waits;      /* waiting gets that had to sleep */
	uint64_t wait_timeouts; /* waiting gets that returned -ETIMEDOUT */
	uint64_t refused_invalid; /* puts refused with -EINVAL */
	uint64_t refused_already; /* puts refused with -EALREADY (double put) */
	uint64_t refused_stale;   /* puts refused with -ESTALE */
};

/*
 * The pool object is opaque, but for its first member: the shape below,
 * public so that iobuf_pool_index_buf() inlines to a multiply and an add.
 * Read-only to the caller; fixed from create to destroy.
 */
struct iobuf_pool;

struct iobuf_pool_shape {
	uint8_t *base;     /* buffer 0 */
	size_t stride;     /* bytes from one buffer to the next */
	size_t buf_size;   /* usable bytes of each buffer (<= stride) */
	uint32_t capacity; /* number of buffers */
	uint32_t tag;      /* stamped into handles */
};

/*
 * iobuf_pool_create - map and set up a pool.
 *
 * Buffers are aligned to min(the power of two at or above buf_size, the
 * page size) and laid back to back at that stride; all of them start free.
 *
 * Returns the pool (and *@err = 0 when @err is not NULL), or NULL with *@err set to
 * -EINVAL (NULL @cfg, buf_size 0, capacity 0 or above
 * IOBUF_POOL_MAX_CAPACITY, tag above 7, bad arena flags, a size that
 * overflows), -ENOMEM, or an arena error (iobuf_arena_init()).
 * Blocking (system calls); thread-safe on distinct pools.
 */
IOBUF_API struct iobuf_pool *iobuf_pool_create(const struct iobuf_pool_config *cfg, int *err);

/*
 * iobuf_pool_destroy - unmap @pool and free it.
 *
 * Buffers still out are lost with it.  NULL is ignored.  Nothing may use
 * the pool during or after the call.
 */
IOBUF_API void iobuf_pool_destroy(struct iobuf_pool *pool);

/*
 * iobuf_pool_get - take a free buffer.
 *
 * Returns 0 and stores its handle in *@h, -ENOBUFS when every buffer is out
 * (at once: it never waits), or -EINVAL for NULL arguments.  "Out" counts
 * the free buffers that caches hold: a get does not see them (when caches
 * are attached, an empty get asks them to give back; see iobuf/cache.h).
 * Acquires the bytes the previous owner wrote before its put.  Any
 * thread; lock-free.
 */
IOBUF_API int iobuf_pool_get(struct iobuf_pool *pool, iobuf_handle_t *h);

/*
 * iobuf_pool_get_wait - take a free buffer, waiting up to @timeout_ns.
 *
 * Spins briefly, then yields, then sleeps on a futex that a put wakes (a
 * put, or a cache's flush, makes a system call only while some get
 * sleeps).  Before sleeping it asks attached caches to give back.
 * @timeout_ns < 0 waits without limit; 0 tries once.
 *
 * Returns 0 and *@h, -ETIMEDOUT when no buffer came back in time, or
 * -EINVAL.  Ordering as iobuf_pool_get().  Any thread; blocking.
 */
IOBUF_API int iobuf_pool_get_wait(struct iobuf_pool *pool, iobuf_handle_t *h, int64_t timeout_ns);

/*
 * iobuf_pool_put - return the buffer of handle @h.
 *
 * Returns 0; -EINVAL when @h is not a handle of @pool (no mark, another
 * tag, an index out of range, an even generation); -EALREADY when the
 * buffer is already free (a double put); -ESTALE when the buffer was put
 * and handed out again since @h was issued.  A refused put changes
 * nothing but the refusal counters.  A successful put releases the
 * buffer's bytes to the next get of it.  Any thread; lock-free.
 */
IOBUF_API int iobuf_pool_put(struct iobuf_pool *pool, iobuf_handle_t h);

/*
 * iobuf_pool_get_bulk - take exactly @n buffers, or none.
 *
 * Returns 0 with @n handles in @hs, -ENOBUFS (and no buffer taken) when
 * fewer than @n are free, -EINVAL for NULL @hs or @n < 0.  Lock-free.
 */
IOBUF_API int iobuf_pool_get_bulk(struct iobuf_pool *pool, iobuf_handle_t *hs, int n);

/*
 * iobuf_pool_get_burst - take as many buffers as are free, up to @n.
 *
 * Returns the count taken (0 when empty) with that many handles in @hs, or
 * -EINVAL.  Lock-free.
 */
IOBUF_API int iobuf_pool_get_burst(struct iobuf_pool *pool, iobuf_handle_t *hs, int n);

/*
 * iobuf_pool_put_bulk - return @n buffers.
 *
 * Every valid handle is put; an invalid one is refused as by
 * iobuf_pool_put() and does not stop the others.  Returns 0 when all
 * were put, else the error of the first refused handle; -EINVAL for NULL
 * @hs or @n < 0.  Lock-free.
 */
IOBUF_API int iobuf_pool_put_bulk(struct iobuf_pool *pool, const iobuf_handle_t *hs, int n);

/*
 * iobuf_pool_get_index / iobuf_pool_put_index - the raw-index path.
 *
 * The same pool without handles, for callers that keep the index: get
 * returns an index >= 0 or -ENOBUFS; put returns 0, -EINVAL for an index
 * out of range, or -EALREADY when the buffer is already free.  A put of an
 * index that was handed out again since cannot be told apart here: that
 * is what handles are for.  Ordering and progress as the handle forms.
 */
IOBUF_API int iobuf_pool_get_index(struct iobuf_pool *pool);
IOBUF_API int iobuf_pool_put_index(struct iobuf_pool *pool, uint32_t idx);

/*
 * iobuf_pool_buf - the address of the buffer of handle @h.
 *
 * Returns the address, or NULL when @h is not a live handle of @pool
 * (not of this pool, or its buffer is free or was handed out again).
 * Wait-free.
 */
IOBUF_API void *iobuf_pool_buf(const struct iobuf_pool *pool, iobuf_handle_t h);

/*
 * iobuf_pool_index_buf - the address of buffer @idx, unchecked.
 *
 * For the raw-index path; @idx must be below the capacity.  Inline;
 * wait-free.
 */
static inline void *iobuf_pool_index_buf(const struct iobuf_pool *pool, uint32_t idx)
{
	const struct iobuf_pool_shape *shape = (const struct iobuf_pool_shape *)(const void *)pool;

	return shape->base + (size_t)idx * shape->stride;
}

/* iobuf_pool_buf_size, iobuf_pool_capacity, iobuf_pool_stride - the pool's shape. Wait-free. */
IOBUF_API size_t iobuf_pool_buf_size(const struct iobuf_pool *pool);
IOBUF_API uint32_t iobuf_pool_capacity(const struct iobuf_pool *pool);
IOBUF_API size_t iobuf_pool_stride(const struct iobuf_pool *pool);

/*
 * iobuf_pool_arena - the arena that backs the buffers (huge pages, memfd...).
 *
 * Returns a pointer valid until destroy.  Wait-free.
 */
IOBUF_API const struct iobuf_arena *iobuf_pool_arena(const struct iobuf_pool *pool);

/*
 * iobuf_pool_stats - a snapshot of @pool's counters into *@st.
 *
 * Exact when no thread uses the pool; while they do, each figure is one
 * that held during the call.  free + cached + in_use == capacity always
 * holds in the snapshot.  "free" counts the queue and the depot; while
 * caches are attached, "cached" is what is neither free nor handed out
 * (caches keep no shared count).  Costs O(capacity): for monitoring, not for the
 * hot path (which keeps no shared counter of its own for it).
 * Returns 0 or -EINVAL.  Any thread; wait-free.
 */
IOBUF_API int iobuf_pool_stats(const struct iobuf_pool *pool, struct iobuf_pool_stats *st);

IOBUF_END_DECLS

#endif /* IOBUF_POOL_H */
