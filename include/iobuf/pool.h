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
#include <iobuf/slot.h>

IOBUF_BEGIN_DECLS

/* Handles (iobuf_handle_t) and their layout: iobuf/slot.h. */

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
	unsigned tag;         /* 0..7, stamped into every handle (with the pool's owner id, see iobuf/slot.h) */
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
	uint32_t free;       /* in the free queue or the depot */
	uint32_t cached;     /* held by caches (iobuf/cache.h) */
	uint32_t in_use;     /* handed out to owners */
	uint32_t high_water_sampled; /* the most buffers seen out of the free queue and depot
					at once, sampled (not exact): by bulk, burst, empty and
					waiting gets, cache refills and snapshots, never by a
					single get (that would put the queue's tail line on
					its path), so a peak between samples is missed */
	uint64_t gets;       /* successful gets (every form, through caches too) */
	uint64_t puts;       /* successful puts */
	uint64_t empty_gets; /* gets that found the pool empty (-ENOBUFS, or a wait) */
	uint64_t waits;      /* waiting gets that had to sleep */
	uint64_t wait_timeouts; /* waiting gets that returned -ETIMEDOUT */
	uint64_t refused_invalid; /* puts refused with -EINVAL */
	uint64_t refused_already; /* puts refused with -EALREADY (double put) */
	uint64_t refused_stale;   /* puts refused with -ESTALE */
	uint32_t shared;     /* of in_use, the buffers with more than one holder (iobuf/slice.h) */
};

/*
 * The pool object is opaque, but for its first member: the shape below,
 * public so that iobuf_pool_index_buf() and the caches' inline paths
 * (iobuf/cache.h) reach the buffers and the slot words without a call.
 * Read-only to the caller; fixed from create to destroy.
 */
struct iobuf_pool;

struct iobuf_pool_shape {
	uint8_t *base;     /* buffer 0 */
	size_t stride;     /* bytes from one buffer to the next */
	size_t buf_size;   /* usable bytes of each buffer (<= stride) */
	uint32_t capacity; /* number of buffers */
	uint32_t stamp;    /* the low half of every handle the pool issues, without the index (iobuf/slot.h) */
	iobuf__slot_t *slot; /* the slot words (generation and holders), one per buffer */
	uint64_t *len;       /* the length words (iobuf__len_of()), one per buffer */
	/*
	 * Not 0 while buffers are wanted back at once: a get waits
	 * (iobuf_pool_get_wait()) or the readiness fd is armed.  Caches then
	 * give every buffer they are handed to the pool.  Its own cache line.
	 */
	const uint32_t *want;
	/* Moves when a get finds the pool empty: caches give back on their next out-of-line call. */
	const uint32_t *reclaim;
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
 * Returns 0 and stores its handle in *@h; -ENOBUFS when every buffer is out
 * (at once: it never waits); -EINVAL for a NULL argument (*@h is then
 * IOBUF_HANDLE_NONE when @h is not NULL).  "Out" counts the free buffers
 * active caches hold: a get first takes back what parked caches hold
 * (iobuf_cache_park()), then, when it still finds nothing, asks the active
 * caches to give back on their next out-of-line call (iobuf/cache.h) and
 * arms the readiness fd (iobuf_pool_ready_fd()).  Acquires the bytes the
 * previous owner wrote before its put.  Any thread; lock-free, but that
 * a get that finds the queue and depot empty while caches are attached
 * takes the pool's cache-list mutex (held for O(caches) steps by cache
 * create, destroy, a snapshot and other reclaims) to take parked caches'
 * buffers back, and may wait out another pool's reclaim of the same
 * set-bound cache (a bounded copy).
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
 * iobuf_pool_ready_fd - a file descriptor that becomes readable when buffers come back.
 *
 * For event loops: after a get returns -ENOBUFS, poll this fd for reading
 * (EPOLLIN), and when it is readable read(2) its 8 bytes and get again.
 * The pool makes an eventfd (non-blocking, close-on-exec) on the first
 * call and owns it: destroy closes it; don't close it yourself.  While the
 * fd exists, a get that finds the pool empty arms it and looks once more;
 * the next put or cache flush that returns a buffer then writes it (one
 * system call per arming; a put makes none while nothing is armed).  No
 * wake-up is lost (edge W2 in doc/design.md); the fd may be readable
 * when the buffer it announced was taken by another get first, so a get
 * after it can still return -ENOBUFS (arming it again).  A pool of a set
 * has the set's fd: this returns it once iobuf_set_ready_fd() made it.
 *
 * Returns the fd (>= 0), -EINVAL for NULL or for a set's pool before
 * iobuf_set_ready_fd(), or eventfd(2)'s error (-EMFILE, -ENFILE, -ENOMEM).  Any thread; a system call on the first call only.
 */
IOBUF_API int iobuf_pool_ready_fd(struct iobuf_pool *pool);

/*
 * iobuf_pool_put - return the buffer of handle @h.
 *
 * Returns 0; -EINVAL when @h is not a handle of @pool (issued by another
 * set or pool, an index out of range, not a held generation; see
 * iobuf/slot.h for what "another" can tell); -EALREADY when @h was
 * already put (a double put); -ESTALE when its buffer was handed out
 * again since.  Of two puts of one handle, on any threads, through the
 * pool or any caches, exactly one returns 0 (unless one goes through a
 * cache made with IOBUF_CACHE_UNSAFE_PUTS).  A refused put changes
 * nothing but the refusal counters.  A successful put releases the
 * buffer's bytes to the next get of it.  Any thread; lock-free.
 */
IOBUF_API int iobuf_pool_put(struct iobuf_pool *pool, iobuf_handle_t h);

/*
 * iobuf_pool_get_bulk - take exactly @n buffers, or none.
 *
 * Returns 0 with @n handles in @hs, -ENOBUFS (and no buffer taken) when
 * fewer than @n are free, -EINVAL for NULL @pool or @hs (even with @n 0)
 * or @n < 0.  Nothing allocates, whatever @n.  Lock-free.
 */
IOBUF_API int iobuf_pool_get_bulk(struct iobuf_pool *pool, iobuf_handle_t *hs, int n);

/*
 * iobuf_pool_get_burst - take as many buffers as are free, up to @n.
 *
 * Returns the count taken (0 when empty) with that many handles in @hs, or
 * -EINVAL (NULL @pool or @hs, @n < 0).  Lock-free.
 */
IOBUF_API int iobuf_pool_get_burst(struct iobuf_pool *pool, iobuf_handle_t *hs, int n);

/*
 * iobuf_pool_put_bulk - return @n buffers.
 *
 * Every valid handle is put; an invalid one is refused as by
 * iobuf_pool_put() and does not stop the others.  Returns 0 when all
 * were put, else the error of the first refused handle; -EINVAL for NULL
 * @pool or @hs or @n < 0.  Lock-free.
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
 * Exact when no thread is inside a call on the pool or its caches: in_use
 * is read off the slots, cached adds up what the attached caches hold,
 * free is the rest; while threads run, each figure is one that held
 * during the call.  free + cached + in_use == capacity always.  Costs
 * O(capacity + caches): for monitoring, not for the hot path (which keeps
 * no shared counter of its own for it).  Returns 0 or -EINVAL.  Any
 * thread; blocking only against a cache's create, destroy and reclaim.
 */
IOBUF_API int iobuf_pool_stats(const struct iobuf_pool *pool, struct iobuf_pool_stats *st);

IOBUF_END_DECLS

#endif /* IOBUF_POOL_H */
