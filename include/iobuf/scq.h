/* SPDX-License-Identifier: MIT */
/*
 * iobuf/scq.h - a bounded lock-free MPMC FIFO of small integers (SCQ).
 *
 * The queue holds integers in [0, capacity): the free indices of a buffer
 * pool.  It is Nikolaev's Scalable Circular Queue (DISC 2019): a ring of
 * 2n one-word entries (n = capacity rounded up to a power of two), each
 * tagged with the cycle of the ticket that wrote it, 64-bit head and tail
 * tickets taken by fetch-and-add, and a threshold that makes a dequeue on
 * an empty queue return at once.  It uses single-width atomics only and
 * never allocates after init.
 *
 * The caller keeps one promise: the queue never holds more than @capacity
 * items at once (a pool only enqueues indices it dequeued, or that were
 * never in it).  So an enqueue never fails for want of space.  The queue
 * does not detect a duplicate index; the pool above it does.  The hot
 * calls do not check @q: it must point to an initialised queue.
 *
 * Synchronization:
 *
 *   call                        | may run at the same time as
 *   ----------------------------+-----------------------------------------
 *   enqueue, enqueue_bulk       | any enqueue/dequeue call, from any thread
 *   dequeue, dequeue_burst      | any enqueue/dequeue call, from any thread
 *   count, capacity             | anything but init/fini
 *   memsize                     | anything (pure)
 *   init, create                | nothing on the same queue
 *   fini, destroy               | nothing on the same queue
 *
 * Ordering: an enqueue of i releases, and the dequeue that returns i
 * acquires: every write made before enqueue(i) is visible after dequeue()
 * returns i.  count() orders nothing.
 *
 * Progress: enqueue and dequeue are lock-free.  A dequeue on an empty
 * queue never blocks on another thread: it gives up after at most 3n
 * tickets, and at once (no ticket, no write) once that budget is spent.
 */
#ifndef IOBUF_SCQ_H
#define IOBUF_SCQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <iobuf/common.h>

IOBUF_BEGIN_DECLS

/* The largest capacity: a pool's handle carries 28 index bits. */
#define IOBUF_SCQ_MAX_CAPACITY (UINT32_C(1) << 28)

/* The alignment iobuf_scq_init() requires of the caller's memory. */
#define IOBUF_SCQ_ALIGN 64

/* Opaque; its size depends on the capacity: see iobuf_scq_memsize(). */
struct iobuf_scq;

/*
 * iobuf_scq_memsize - bytes of memory iobuf_scq_init() needs for @capacity.
 *
 * Returns the size, a multiple of IOBUF_SCQ_ALIGN, or 0 if @capacity is 0,
 * above IOBUF_SCQ_MAX_CAPACITY, or needs more than SIZE_MAX bytes.
 * Orders nothing.  Any thread; wait-free.
 */
IOBUF_API size_t iobuf_scq_memsize(uint32_t capacity);

/*
 * iobuf_scq_init - make a queue of @capacity in the caller's memory @q.
 *
 * @q points to iobuf_scq_memsize(@capacity) bytes aligned to
 * IOBUF_SCQ_ALIGN (64).  If @full, the queue starts holding 0 .. capacity-1
 * in that order; else it starts empty.
 *
 * Returns 0, or -EINVAL if @q is NULL or misaligned, or @capacity is 0 or
 * above IOBUF_SCQ_MAX_CAPACITY.  The writes of init are plain: publish @q
 * to other threads with a release (e.g. pthread_create, a mutex) before
 * they use it.  Nothing else may use @q during init; wait-free.
 */
IOBUF_API int iobuf_scq_init(struct iobuf_scq *q, uint32_t capacity, bool full);

/*
 * iobuf_scq_fini - end the life of a queue made by iobuf_scq_init().
 *
 * Frees nothing (the memory is the caller's); there for symmetry.  No other
 * call may run on @q at the same time or later.  @q may be NULL.
 */
IOBUF_API void iobuf_scq_fini(struct iobuf_scq *q);

/*
 * iobuf_scq_create - allocate and init a queue of @capacity.
 *
 * As iobuf_scq_init() on memory the library allocates.  Returns the queue,
 * or NULL with *@err (if @err is not NULL) set to -EINVAL for a bad
 * @capacity or -ENOMEM.  Publish the queue to other threads as after
 * iobuf_scq_init().  Any thread; blocking (it allocates).
 */
IOBUF_API struct iobuf_scq *iobuf_scq_create(uint32_t capacity, bool full, int *err);

/*
 * iobuf_scq_destroy - free a queue made by iobuf_scq_create().
 *
 * @q may be NULL.  No other call may run on @q at the same time or later.
 */
IOBUF_API void iobuf_scq_destroy(struct iobuf_scq *q);

/*
 * iobuf_scq_enqueue - append @idx to @q.
 *
 * The caller must not make the queue hold more than its capacity.
 *
 * Returns 0, or -EINVAL if @idx >= capacity (nothing is enqueued).  A
 * successful enqueue releases: the dequeue that returns @idx sees every
 * write the caller made before this call.
 *
 * Any thread, concurrently with any enqueue or dequeue; lock-free.
 */
IOBUF_API int iobuf_scq_enqueue(struct iobuf_scq *q, uint32_t idx);

/*
 * iobuf_scq_dequeue - remove the oldest index from @q.
 *
 * Returns the index (>= 0), or -ENOBUFS if the queue was empty (the
 * library's one word for "nothing to take", as iobuf_pool_get() says).
 * Returning i acquires: the caller sees every write made before the
 * enqueue of i.  -ENOBUFS orders nothing.
 *
 * Any thread, concurrently with any enqueue or dequeue; lock-free, and a
 * dequeue on an empty queue finishes in a bounded number of steps.
 */
IOBUF_API int iobuf_scq_dequeue(struct iobuf_scq *q);

/*
 * iobuf_scq_dequeue_burst - dequeue as many indices as there are, up to @n.
 *
 * Writes them to @out[0 .. count-1] in FIFO order and returns the count
 * (0 .. @n; 0 when empty), or -EINVAL if @n < 0 or @out is NULL with
 * @n > 0.  Each index returned acquires as iobuf_scq_dequeue() does.  Not
 * atomic as a whole: concurrent calls may interleave their indices.
 *
 * Any thread, concurrently with any enqueue or dequeue; lock-free.
 */
IOBUF_API int iobuf_scq_dequeue_burst(struct iobuf_scq *q, uint32_t *out, int n);

/*
 * iobuf_scq_enqueue_bulk - enqueue all of @idx[0 .. @n-1], in that order.
 *
 * Returns 0, or -EINVAL (and enqueues nothing) if @n < 0, @idx is NULL
 * with @n > 0, or any index is >= capacity.  Each enqueue releases as
 * iobuf_scq_enqueue() does, so everything written before this call is
 * visible to the dequeuer of any of them.  Not atomic as a whole.
 *
 * Any thread, concurrently with any enqueue or dequeue; lock-free.
 */
IOBUF_API int iobuf_scq_enqueue_bulk(struct iobuf_scq *q, const uint32_t *idx, int n);

/*
 * iobuf_scq_capacity - the capacity @q was made with.
 *
 * Returns it.  Any thread, any time after init; wait-free.
 */
IOBUF_API uint32_t iobuf_scq_capacity(const struct iobuf_scq *q);

/*
 * iobuf_scq_count - about how many indices @q holds.
 *
 * Returns tail - head clamped to [0, capacity].  With no call in flight it
 * is never below the true count, and exact when the queue is full or was
 * last used by one thread; after contention it may count tickets that an
 * enqueue skipped (the entry still held an older index) until a dequeue
 * passes them.  While calls are in flight it is a snapshot that may be off
 * either way.  Keep exact books elsewhere.  Orders nothing.
 * Any thread, any time after init; wait-free.
 */
IOBUF_API uint32_t iobuf_scq_count(const struct iobuf_scq *q);

IOBUF_END_DECLS

#endif /* IOBUF_SCQ_H */
