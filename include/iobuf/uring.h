/* SPDX-License-Identifier: MIT */
/*
 * iobuf/uring.h - io_uring fed from the tiers: provided-buffer rings,
 * registered arenas and zero-copy sends.
 *
 * Optional: built on liburing when configure finds it (--with-liburing,
 * --without-liburing).  A library built without it exports the same
 * functions, and every one returns -ENOSYS (constructors NULL with
 * *err -ENOSYS).  This header needs none of liburing's, so iobuf.h
 * includes it in every build; a caller includes <liburing.h> itself to
 * prepare and reap requests.
 *
 * Three objects, each owned by the one thread that drives its io_uring:
 *
 *   bufring  a provided-buffer ring (IORING_REGISTER_PBUF_RING) of up to
 *            32768 entries for one tier: the kernel picks a buffer for each
 *            receive that names the ring's group (IOSQE_BUFFER_SELECT), the
 *            completion names it by its buffer id, which is the buffer's
 *            index in its pool, and iobuf_uring_bufring_take() gives back
 *            the buffer's handle.  The caller owns that handle from then
 *            on: it puts it from any thread, in any order (iobuf_put(),
 *            iobuf_pool_put(), a cache), and the ring is refilled from the
 *            owner's cache (or the pool) in batches, one store of the
 *            ring's tail per batch.
 *   fixed    the arenas of a set's tiers (or of one pool) registered as
 *            fixed buffers, one iovec per arena, so that read_fixed,
 *            write_fixed and send_zc with the fixed index work on every
 *            pooled buffer; when RLIMIT_MEMLOCK refuses the registration,
 *            the figures are reported and, if asked, the object runs
 *            unregistered (plain read/write/send_zc on the same buffers).
 *   zc       zero-copy sends (IORING_OP_SEND_ZC) through a fixed object:
 *            the send adds a holder of the buffer (iobuf/slice.h), put
 *            when the kernel's notification (IORING_CQE_F_NOTIF) says the
 *            buffer is no longer read; the caller keeps its own holder
 *            and puts it when it likes, so the buffer goes back after
 *            both puts, in either order.
 *
 * What the running kernel has is probed at run time
 * (iobuf_uring_probe()); what it lacks is not used.  Bundles
 * (IORING_RECVSEND_BUNDLE) and incremental consumption (IOU_PBUF_RING_INC)
 * are reported, never used: every receive takes one whole buffer.  Nothing
 * here assumes a newer liburing than 2.3.  The header declares the liburing
 * types it needs without including liburing.h.
 *
 * Accounting: a buffer in a bufring's kernel ring, and a buffer held by a
 * zero-copy send, is out of its pool: iobuf_pool_stats() counts it in_use.
 * Destroying the object puts every buffer (or holder) it holds back.
 *
 * A multishot receive loop, in the order of the calls (see
 * iobuf_uring_bufring_recv_multishot(3) for the whole of it):
 *
 *   iobuf_uring_bufring_recv_multishot(br, fd, ud);  arm; io_uring_submit()
 *   for each completion of ud:
 *       n = iobuf_uring_bufring_take(br, cqe, &h)     n > 0: n bytes in h,
 *                                                     yours to put anywhere
 *       if !(cqe->flags & IORING_CQE_F_MORE):         the receive ended
 *           n == 0: end of stream; n == -ENOBUFS: the ring ran dry
 *           (counted, and refilled): re-arm with recv_multishot again;
 *           -ENOBUFS from recv_multishot itself: the tier is empty too:
 *           wait for iobuf_uring_bufring_ready_fd() to be readable, read
 *           it, and re-arm.
 *
 * Synchronization:
 *
 *   call                                  | may run concurrently with
 *   --------------------------------------+--------------------------------
 *   any call on a bufring, fixed object   | nothing else on that object nor
 *                                         | on its io_uring (liburing's
 *                                         | submission and completion rings
 *                                         | have one owner)
 *   puts of handles they gave out         | anything, from any thread
 *   destroy                               | nothing on the object; no
 *                                         | request in flight uses it
 *
 * Memory ordering: a refill writes its entries, then stores the ring's
 * tail with release (edge U1 in doc/design.md: pairs with the kernel's
 * load-acquire of the tail in io_uring/kbuf.c), so the kernel sees every
 * entry below the tail.  The bytes the kernel received are published by
 * the completion (liburing's load-acquire of the completion queue's tail,
 * U2); a put then releases them to the buffer's next getter (P1, M1).
 *
 * Progress: every call is non-blocking; the creates and destroys make
 * system calls (io_uring_register(2)).
 */
#ifndef IOBUF_URING_H
#define IOBUF_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <iobuf/cache.h>
#include <iobuf/common.h>
#include <iobuf/pool.h>
#include <iobuf/slot.h>
#include <iobuf/tiers.h>

IOBUF_BEGIN_DECLS

struct io_uring;
struct io_uring_cqe;
struct io_uring_sqe;

/* ---- features --------------------------------------------------------------- */

/* What the running kernel offers, as iobuf_uring_probe() found it. */
struct iobuf_uring_features {
	bool buf_ring;       /* provided-buffer rings, IORING_REGISTER_PBUF_RING (5.19): bufrings need it */
	bool recv_multishot; /* multishot receive (6.0; inferred from IORING_OP_SEND_ZC, which came with it) */
	bool send_zc;        /* IORING_OP_SEND_ZC (6.0): zero-copy sends need it */
	bool fixed_buffers;  /* IORING_OP_READ_FIXED / WRITE_FIXED (5.1): registered arenas */
	bool bundle;         /* IORING_FEAT_RECVSEND_BUNDLE (6.10): reported, not used */
	bool incremental;    /* IOU_PBUF_RING_INC (6.12): reported, not used */
	unsigned kernel_features; /* io_uring_params.features, as the kernel gave them */
	int last_op;         /* the last opcode the kernel knows (io_uring_probe.last_op) */
};

/*
 * iobuf_uring_probe - find out what the running kernel's io_uring offers.
 *
 * Sets up a scratch io_uring of its own, asks for its probe and features,
 * and registers (then unregisters) a one-entry provided-buffer ring with
 * and without incremental consumption.  Returns 0 and fills *@f; -EINVAL
 * for NULL; the -errno of io_uring_queue_init() (-ENOSYS: no io_uring;
 * -EPERM: forbidden here, e.g. by a sandbox or kernel.io_uring_disabled),
 * then *@f is all false.  Orders nothing.  Any thread; blocking (system
 * calls).
 */
IOBUF_API int iobuf_uring_probe(struct iobuf_uring_features *f);

/*
 * iobuf_uring_features_print - one line per feature of *@f on @out: yes, or
 * no and what goes without it.
 *
 * Returns 0, -EINVAL for NULL, or -EIO when the write fails.  Any thread.
 */
IOBUF_API int iobuf_uring_features_print(const struct iobuf_uring_features *f, FILE *out);

/* ---- provided-buffer rings ---------------------------------------------------- */

/* The largest provided-buffer ring: the kernel's limit. */
#define IOBUF_URING_BUFRING_MAX 32768u
/* The most buffers a bufring's pool may have: buffer ids are 16 bits. */
#define IOBUF_URING_BUFRING_MAX_CAPACITY 65536u

struct iobuf_uring_bufring_config {
	/* The tier: iobuf_set_pool(set, tier), or a standalone pool; at most IOBUF_URING_BUFRING_MAX_CAPACITY buffers. */
	struct iobuf_pool *pool;
	/*
	 * Where refills get buffers, and where destroy puts back the ones the
	 * ring still holds: the owner's cache over @pool or over its set
	 * (made by the same thread that uses the ring); NULL: @pool itself.
	 */
	struct iobuf_cache *cache;
	uint32_t entries;   /* ring entries: a power of two, 1 .. IOBUF_URING_BUFRING_MAX, at most the pool's capacity */
	uint32_t low_water; /* refill when the ring holds fewer than this (0: entries / 2; at most entries) */
	uint16_t bgid;      /* the buffer group id receives name (sqe->buf_group) */
};

/* The counters of a bufring; see iobuf_uring_bufring_stats(). */
struct iobuf_uring_bufring_stats {
	uint32_t entries;   /* ring entries */
	uint32_t in_ring;   /* buffers in the kernel's ring, not yet named by a completion */
	uint64_t added;     /* buffers added to the ring */
	uint64_t taken;     /* buffers handed to the caller by iobuf_uring_bufring_take() */
	uint64_t refills;   /* refills that added buffers: one tail store each */
	uint64_t enobufs;   /* completions with -ENOBUFS: a receive found the ring empty */
	uint64_t tier_empty; /* refills that found the tier empty with room in the ring */
};

struct iobuf_uring_bufring;

/*
 * iobuf_uring_bufring_create - a provided-buffer ring for one tier, registered with @ring.
 *
 * Maps the ring, registers it as buffer group @cfg->bgid
 * (io_uring_register_buf_ring()) and fills it from the cache or the pool.
 * Makes the pool's readiness fd when it can (iobuf_pool_ready_fd(); for a
 * set's pool, call iobuf_set_ready_fd() first), so that a refill that
 * finds the tier empty arms it.  Returns the ring (*@err = 0), or NULL
 * with *@err -EINVAL (NULL @ring or @cfg or no pool, entries not a power
 * of two or out of range, a pool above IOBUF_URING_BUFRING_MAX_CAPACITY
 * buffers), -ENOMEM, or the kernel's refusal of the registration
 * (-EEXIST: the group is taken; -EINVAL: no provided-buffer rings here).
 * Owner thread; blocking (system calls).
 */
IOBUF_API struct iobuf_uring_bufring *iobuf_uring_bufring_create(struct io_uring *ring,
								 const struct iobuf_uring_bufring_config *cfg, int *err);

/*
 * iobuf_uring_bufring_destroy - unregister the ring and put back every buffer it holds.
 *
 * Every receive that names the group must have ended, and its completions
 * been reaped, before the call: a buffer named by a completion not taken
 * is put back with the others.  NULL is ignored.  The puts release as any
 * put.  Owner thread; blocking (a system call).
 */
IOBUF_API void iobuf_uring_bufring_destroy(struct iobuf_uring_bufring *br);

/*
 * iobuf_uring_bufring_refill - top the ring up now.
 *
 * Gets as many buffers as there is room for (from the cache, else the
 * pool) and publishes them with one store of the ring's tail (U1).
 * Returns the count added (0 when full, or when the tier is empty: a get
 * that found it empty armed the readiness fd), or -EINVAL for NULL.  The
 * other calls refill by themselves below the low-water mark; this one
 * refills whatever the level.  Owner thread; lock-free.
 */
IOBUF_API int iobuf_uring_bufring_refill(struct iobuf_uring_bufring *br);

/*
 * iobuf_uring_bufring_take - the buffer a completion names, and its length.
 *
 * For a completion of a receive on the ring's group: with
 * IORING_CQE_F_BUFFER, stores the buffer's handle in *@h and returns the
 * bytes received (> 0): the handle is the caller's, to put from any
 * thread, in any order.  Returns 0 with *@h IOBUF_HANDLE_NONE for an end
 * of stream; a negative completion as it is (*@h NONE; -ENOBUFS: the ring
 * was empty, counted); -EINVAL when @cqe names no buffer of this ring
 * (another group's, or a buffer id not in the ring).  Refills the ring
 * when it falls below the low-water mark and after -ENOBUFS.  Acquires
 * nothing itself: the completion was acquired by liburing (U2).  Owner
 * thread; lock-free.
 */
IOBUF_API int iobuf_uring_bufring_take(struct iobuf_uring_bufring *br, const struct io_uring_cqe *cqe,
				       iobuf_handle_t *h);

/*
 * iobuf_uring_bufring_recv_multishot - prepare (arm or re-arm) a multishot receive on @fd from the ring.
 *
 * Refills the ring below its low-water mark, then takes a submission
 * entry of the ring's io_uring and prepares a multishot receive with
 * buffer selection from the group, @user_data on its completions.  The
 * caller submits (io_uring_submit()).  Returns 0; -ENOBUFS when the ring
 * is empty and the tier too (nothing prepared: wait for
 * iobuf_uring_bufring_ready_fd() and call again; a re-arm on an empty
 * ring would end at once with -ENOBUFS); -EBUSY when the submission queue
 * is full (submit, then call again); -EINVAL for NULL or @fd < 0.  Owner
 * thread; lock-free.
 */
IOBUF_API int iobuf_uring_bufring_recv_multishot(struct iobuf_uring_bufring *br, int fd, uint64_t user_data);

/*
 * iobuf_uring_bufring_ready_fd - the readiness fd of the ring's pool.
 *
 * Readable when buffers came back to a tier that a refill found empty
 * (iobuf_pool_ready_fd()): read its 8 bytes, then re-arm.  Returns the fd,
 * or -EINVAL (NULL, or a set's pool before iobuf_set_ready_fd()), or
 * eventfd(2)'s error.  Owner thread.
 */
IOBUF_API int iobuf_uring_bufring_ready_fd(struct iobuf_uring_bufring *br);

/*
 * iobuf_uring_bufring_count - buffers in the kernel's ring.
 *
 * Those added and not yet named by a completion that
 * iobuf_uring_bufring_take() saw.  Returns the count, or -EINVAL.  Owner
 * thread; wait-free.
 */
IOBUF_API int iobuf_uring_bufring_count(const struct iobuf_uring_bufring *br);

/* iobuf_uring_bufring_stats - the counters of @br into *@st.  Returns 0 or -EINVAL.  Owner thread; wait-free. */
IOBUF_API int iobuf_uring_bufring_stats(const struct iobuf_uring_bufring *br, struct iobuf_uring_bufring_stats *st);

/* ---- registered arenas and zero-copy sends ------------------------------------ */

enum iobuf_uring_fixed_flags {
	/* When the kernel refuses the registration (RLIMIT_MEMLOCK...), run unregistered instead of failing. */
	IOBUF_URING_FIXED_FALLBACK = 1u << 0,
};

struct iobuf_uring_fixed_config {
	struct iobuf_set *set;     /* every tier of this set, or */
	struct iobuf_pool *pool;   /* this one standalone pool: exactly one of the two */
	struct iobuf_cache *cache; /* where sent buffers are put (the owner's cache over them), or NULL: the pool */
	unsigned flags;            /* enum iobuf_uring_fixed_flags */
	uint32_t zc_slots;         /* zero-copy sends in flight at most (0: 256) */
	/*
	 * The top 16 bits of the user_data of the zero-copy sends this object
	 * prepares (0: 0x1b0f): keep them apart from the caller's own.
	 */
	uint16_t user_data_tag;
};

/* What a registration asked and what the kernel answered. */
struct iobuf_uring_fixed_report {
	int err;              /* 0, or the -errno of io_uring_register_buffers() */
	bool registered;      /* the arenas are fixed buffers */
	uint32_t iovecs;      /* arenas asked for (one per tier) */
	uint64_t asked;       /* bytes asked to pin: the arenas' sizes, added up */
	uint64_t memlock_cur; /* RLIMIT_MEMLOCK soft limit when the kernel refused (bytes; UINT64_MAX: unlimited) */
	uint64_t memlock_max; /* RLIMIT_MEMLOCK hard limit when the kernel refused */
};

/* Where a pooled buffer is for an io_uring request; see iobuf_uring_fixed_buf(). */
struct iobuf_uring_buf {
	void *addr;  /* the buffer's first byte */
	size_t len;  /* its usable bytes */
	int index;   /* the fixed buffer index (sqe->buf_index), or -1 when running unregistered */
};

/* One completion of a zero-copy send; see iobuf_uring_fixed_complete(). */
struct iobuf_uring_zc_event {
	uint64_t cookie; /* the caller's, from iobuf_uring_fixed_send_zc() */
	int res;         /* the send's completion: bytes sent or -errno; 0 for a notification */
	bool notif;      /* this completion is the notification */
	bool released;   /* the buffer was put with this completion: the send is over */
};

struct iobuf_uring_fixed;

/*
 * iobuf_uring_fixed_create - register the arenas of a set's tiers (or of a pool) as fixed buffers.
 *
 * One iovec per arena (iobuf_pool_arena()), the fixed index of a tier
 * being its place among the set's tiers that have buffers.  When the
 * kernel refuses (-ENOMEM when the pinned bytes would pass RLIMIT_MEMLOCK
 * and the process lacks CAP_IPC_LOCK; -EFAULT, -EOVERFLOW...), *@report
 * (when not NULL) holds the error and the figures (iobuf_uring_fixed_report_print()
 * says them); with IOBUF_URING_FIXED_FALLBACK the object is made all the
 * same and runs unregistered.  Returns the object (*@err = 0), or NULL
 * with *@err -EINVAL (NULL @ring or @cfg, both or neither of set and pool,
 * unknown flags), -ENOMEM, or the kernel's refusal.  Owner thread;
 * blocking (system calls).
 */
IOBUF_API struct iobuf_uring_fixed *iobuf_uring_fixed_create(struct io_uring *ring,
							     const struct iobuf_uring_fixed_config *cfg,
							     struct iobuf_uring_fixed_report *report, int *err);

/*
 * iobuf_uring_fixed_destroy - unregister the buffers and free the object.
 *
 * Every zero-copy send's notification must have been reaped: the holder
 * of a send still in flight is put (and the kernel may still be reading
 * the buffer).  NULL is ignored.  Owner thread; blocking (a system call).
 */
IOBUF_API void iobuf_uring_fixed_destroy(struct iobuf_uring_fixed *fx);

/* iobuf_uring_fixed_registered - true when @fx's arenas are fixed buffers (false: unregistered, or NULL). */
IOBUF_API bool iobuf_uring_fixed_registered(const struct iobuf_uring_fixed *fx);

/*
 * iobuf_uring_fixed_report_print - say what a registration asked and what the kernel answered.
 *
 * One line on @out: registered, or the error with the bytes asked, the
 * RLIMIT_MEMLOCK figures and what to do.  Returns 0, -EINVAL for NULL,
 * -EIO when the write fails.  Any thread.
 */
IOBUF_API int iobuf_uring_fixed_report_print(const struct iobuf_uring_fixed_report *report, FILE *out);

/*
 * iobuf_uring_fixed_buf - the fixed index and address of the buffer of handle @h.
 *
 * Returns 0 and fills *@out; -EINVAL for NULL or a handle of none of the
 * object's pools; -ESTALE when @h is not live (put, or its buffer handed
 * out again).  Owner thread or any thread that holds @h; wait-free.
 */
IOBUF_API int iobuf_uring_fixed_buf(const struct iobuf_uring_fixed *fx, iobuf_handle_t h, struct iobuf_uring_buf *out);

/*
 * iobuf_uring_fixed_prep_write - prepare a write of @len bytes at @off in the buffer of @h to @fd.
 *
 * IORING_OP_WRITE_FIXED with the fixed index when registered, a plain
 * IORING_OP_WRITE otherwise (file offset -1: sockets, pipes).  The caller
 * keeps the handle and must not put it before the completion.  Returns 0;
 * -EINVAL (NULL, @fd < 0, a foreign handle, @off + @len past the buffer);
 * -ESTALE.  Owner thread; wait-free.
 */
IOBUF_API int iobuf_uring_fixed_prep_write(const struct iobuf_uring_fixed *fx, struct io_uring_sqe *sqe, int fd,
					   iobuf_handle_t h, size_t off, size_t len);

/*
 * iobuf_uring_fixed_send_zc - send @len bytes at @off in the buffer of @h with zero copy; the send holds the buffer.
 *
 * Takes a submission entry and prepares IORING_OP_SEND_ZC (with the fixed
 * index when registered) on @fd with @msg_flags; the caller submits.  On
 * success the send holds the buffer as one more holder (iobuf_pool_hold()),
 * put when its notification is reaped (iobuf_uring_fixed_complete()), or
 * at once if the send ends with no notification to follow.  The caller
 * keeps its own holder and must put it (at once, or after reusing the
 * handle for other sends or reads of the bytes): the buffer goes back to
 * its tier after the caller's put and the notification, in either order.
 * Nobody may write the buffer until the notification: the kernel reads it.
 * A refusal changes nothing (no holder added).  Returns 0; -EINVAL (NULL,
 * @fd < 0, a foreign handle, a range past the buffer); -ESTALE (not live);
 * -EBUSY (no free slot, or the submission queue is full); -EOPNOTSUPP (the
 * kernel has no SEND_ZC); -EOVERFLOW (the buffer has IOBUF_HOLDERS_MAX
 * holders already).  The caller must hold @h.  Owner thread; lock-free
 * (the hold is a compare-and-swap).
 */
IOBUF_API int iobuf_uring_fixed_send_zc(struct iobuf_uring_fixed *fx, int fd, iobuf_handle_t h, size_t off,
					size_t len, int msg_flags, uint64_t cookie);

/* iobuf_uring_fixed_owns - true when @cqe is a completion of a zero-copy send of @fx (by its user_data tag). */
IOBUF_API bool iobuf_uring_fixed_owns(const struct iobuf_uring_fixed *fx, const struct io_uring_cqe *cqe);

/*
 * iobuf_uring_fixed_complete - account for one completion of a zero-copy send.
 *
 * Fills *@ev: the send's result, or its notification; when the send is
 * over (the notification, or a send that ends without one) the buffer is
 * put (through the cache when the config gave one) and ev->released is
 * true.  Returns 0; -EINVAL for NULL or a completion that is not one of
 * @fx's sends in flight.  The put releases the buffer as any put.  Owner
 * thread; lock-free.
 */
IOBUF_API int iobuf_uring_fixed_complete(struct iobuf_uring_fixed *fx, const struct io_uring_cqe *cqe,
					 struct iobuf_uring_zc_event *ev);

/* iobuf_uring_fixed_inflight - zero-copy sends whose buffer @fx still holds, or -EINVAL.  Owner thread; wait-free. */
IOBUF_API int iobuf_uring_fixed_inflight(const struct iobuf_uring_fixed *fx);

IOBUF_END_DECLS

#endif /* IOBUF_URING_H */
