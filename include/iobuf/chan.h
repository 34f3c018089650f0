/* SPDX-License-Identifier: MIT */
/*
 * iobuf/chan.h - a bounded multi-producer multi-consumer channel of
 * slices between threads.
 *
 * A channel carries entries of 16 bytes, struct iobuf_slice (iobuf/slice.h):
 * a buffer's handle and a range of it.  A handle travels as the slice
 * {h, 0, 0}; iobuf_chan_send() and iobuf_chan_recv() are that form.  The
 * bytes stay in the arena: only the 16 bytes move.
 *
 * It is built the way the SCQ paper builds a queue of arbitrary data out
 * of its queue of indices (Nikolaev, DISC 2019): an array of
 * @capacity entries and two SCQs of entry indices (iobuf/scq.h), fq of the
 * free entries (it starts full) and aq of the full ones.  A send dequeues
 * a free index from fq, writes the slice into that entry and enqueues the
 * index on aq; a receive dequeues from aq, reads the entry and gives the
 * index back to fq.  Nothing allocates after create and nothing locks.
 *
 * Ownership.  The channel does not own buffers, it holds them: a slice (or
 * handle) that a send accepted is in the channel, the one place its index
 * is (the rule of doc/design.md: every index is in exactly one place), and
 * belongs to no thread until a receive returns it; then it is the
 * receiver's, to put or to pass on.  A send that fails leaves the slice
 * with the caller.  The channel never puts a buffer: at the end, receive
 * what is left (iobuf_chan_recv_burst() works on a closed channel too) and
 * put it; iobuf_chan_destroy() refuses with -EBUSY while entries remain.
 *
 * Order.  FIFO as the SCQ is: entries one producer sent are received in
 * the order it sent them by any one consumer (a consumer never receives
 * a producer's later entry before its earlier one); entries of different
 * producers, or the entries two consumers receive, have no order between
 * them beyond that.
 *
 * Full and empty: a send that finds no free entry returns -EAGAIN, and so
 * does a receive that finds no entry (the library's word for "not now, it
 * would have to wait", as iobuf_ring_try_claim() says it); the burst forms
 * return 0 instead.  The waiting forms wait up to a timeout (-ETIMEDOUT).
 *
 * Close.  iobuf_chan_close() wakes every waiter.  From then on sends are
 * refused with -EPIPE, and receives take what is left, then return -EPIPE
 * once the channel is empty and no send that began before the close can
 * still land: a receive never returns -EPIPE while an accepted entry is in
 * the channel or about to be.  Meanwhile (a send that overlapped the close
 * is still between its steps, or another receive is still taking the last
 * entries) an empty receive returns -EAGAIN, and a waiting one waits.
 *
 * Readiness fds, for event loops.  iobuf_chan_ready_fd() is an eventfd
 * that becomes readable when entries arrive for receivers that found the
 * channel empty; iobuf_chan_writable_fd() one that becomes readable when
 * room comes back for senders that found it full.  Each is made on its
 * first call, armed only by a receive (a send) that finds the channel
 * empty (full) while the fd exists, and written by the first send (receive)
 * after the arming: a send or receive makes no system call unless someone
 * waits or an fd is armed.  A close writes both (an fd made after a close
 * is written when it is made), so that event loops see it.
 *
 * Synchronization:
 *
 *   call                               | may run at the same time as
 *   -----------------------------------+--------------------------------------
 *   send*, recv* (every form), close,  | each other and themselves, from any
 *   ready_fd, writable_fd, count,      | number of threads
 *   capacity                           |
 *   create                             | nothing on the channel (it is new)
 *   destroy                            | nothing on the same channel
 *
 * Memory ordering: a send releases, and the receive that returns its entry
 * acquires: everything the sender wrote before the send (the buffer's
 * bytes) is visible to the receiver after the receive.  The ordering
 * edges (chan C1, C2 and the Dekker pairs chan D1 to D3) are listed in
 * doc/design.md.
 *
 * Progress: send, receive and their burst forms are lock-free, but that
 * after a close a receive that finds the channel empty reads every entry's
 * handle word once (O(capacity)) until it finds no send left in flight;
 * close is lock-free; the waiting forms block (spin, yield, then a futex).
 */
#ifndef IOBUF_CHAN_H
#define IOBUF_CHAN_H

#include <stdint.h>

#include <iobuf/common.h>
#include <iobuf/slice.h>
#include <iobuf/slot.h>

IOBUF_BEGIN_DECLS

/* The largest capacity: every buffer of the largest pool may be in flight at once. */
#define IOBUF_CHAN_MAX_CAPACITY IOBUF_POOL_MAX_CAPACITY

/* A timeout that never expires, for the waiting forms. */
#define IOBUF_CHAN_FOREVER ((int64_t)-1)

struct iobuf_chan_config {
	uint32_t capacity; /* entries, 1 .. IOBUF_CHAN_MAX_CAPACITY */
	uint32_t flags;    /* none is defined yet: 0 */
};

/* Opaque. */
struct iobuf_chan;

/*
 * iobuf_chan_create - make a channel of @cfg->capacity entries.
 *
 * Returns the channel, or NULL with *@err (when @err is not NULL) set to
 * -EINVAL (@cfg NULL, a capacity of 0 or above IOBUF_CHAN_MAX_CAPACITY, a
 * flag set) or -ENOMEM; *@err is 0 on success.  Publish the channel to
 * other threads with a release (pthread_create, a mutex) before they use
 * it.  Any thread; blocking (it allocates).
 */
IOBUF_API struct iobuf_chan *iobuf_chan_create(const struct iobuf_chan_config *cfg, int *err);

/*
 * iobuf_chan_destroy - free @ch and close its fds.
 *
 * Returns 0, or -EBUSY and frees nothing while entries remain: they hold
 * buffers, so receive them and put them first.  NULL is ignored (0).
 * Nothing may use the channel during or after a destroy that returns 0.
 */
IOBUF_API int iobuf_chan_destroy(struct iobuf_chan *ch);

/*
 * iobuf_chan_send_slice - append slice @s to @ch.
 *
 * Returns 0 (the slice, and the holder it carries, are the channel's now);
 * -EAGAIN when the channel is full (the slice stays the caller's); -EPIPE
 * once the channel is closed; -EINVAL for NULL @ch, a handle
 * IOBUF_HANDLE_NONE or a range whose end passes 2^32.  Nothing is checked
 * against the buffer itself: the channel does not know its pool.  Releases
 * the sender's writes to the receive that returns @s.  A send that finds
 * the channel full arms the writable fd if it exists.
 *
 * Any thread, concurrently with every call but destroy; lock-free.
 */
IOBUF_API int iobuf_chan_send_slice(struct iobuf_chan *ch, struct iobuf_slice s);

/*
 * iobuf_chan_send - append the handle @h to @ch, as the slice {@h, 0, 0}.
 *
 * Returns as iobuf_chan_send_slice().  Any thread; lock-free.
 */
IOBUF_API int iobuf_chan_send(struct iobuf_chan *ch, iobuf_handle_t h);

/*
 * iobuf_chan_recv_slice - take the oldest entry of @ch.
 *
 * Returns 0 with the entry in *@s (now the caller's); -EAGAIN when the
 * channel is empty (or closed, with a send that overlapped the close still
 * landing, or another receive still taking the last entries); -EPIPE when it is closed and nothing is left; -EINVAL for a
 * NULL argument.  *@s is IOBUF_SLICE_NONE on every error when @s is not
 * NULL.  Acquires what the sender wrote before its send.  A receive that
 * finds the channel empty arms the ready fd if it exists.
 *
 * Any thread, concurrently with every call but destroy; lock-free (see the
 * note on a closed channel at the top).
 */
IOBUF_API int iobuf_chan_recv_slice(struct iobuf_chan *ch, struct iobuf_slice *s);

/*
 * iobuf_chan_recv - take the oldest entry of @ch and give its handle.
 *
 * As iobuf_chan_recv_slice(), but stores only the entry's handle in *@h
 * (IOBUF_HANDLE_NONE on error): an entry sent as a slice is received as
 * its buffer, the range forgotten, the holder passed on all the same.
 */
IOBUF_API int iobuf_chan_recv(struct iobuf_chan *ch, iobuf_handle_t *h);

/*
 * iobuf_chan_send_burst - append as many of @s[0 .. @n-1] as there is room
 * for, in that order.
 *
 * Returns the count sent (0 .. @n; 0 when the channel is full, and then
 * the writable fd is armed if it exists): @s[0 .. count-1] are the
 * channel's, the rest the caller's.  -EPIPE when the channel is closed and
 * nothing was sent (a close during the call may end it early with a
 * count); -EINVAL (nothing sent) for NULL @ch, @n < 0, NULL @s with
 * @n > 0, or any slice iobuf_chan_send_slice() would refuse.  Each entry
 * is released as by iobuf_chan_send_slice(); the entries of one call may
 * interleave with other producers' entries.
 *
 * Any thread; lock-free.
 */
IOBUF_API int iobuf_chan_send_burst(struct iobuf_chan *ch, const struct iobuf_slice *s, int n);

/*
 * iobuf_chan_recv_burst - take up to @n entries, oldest first, into
 * @s[0 .. count-1].
 *
 * Returns the count (0 .. @n; 0 when the channel is empty, and then the
 * ready fd is armed if it exists); -EPIPE when it is closed and nothing is
 * left; -EINVAL for NULL @ch, @n < 0 or NULL @s with @n > 0.  Each entry
 * is acquired as by iobuf_chan_recv_slice().  The drain at the end of a
 * channel's life: on a closed channel it returns what is left, then -EPIPE.
 *
 * Any thread; lock-free.
 */
IOBUF_API int iobuf_chan_recv_burst(struct iobuf_chan *ch, struct iobuf_slice *s, int n);

/*
 * iobuf_chan_send_wait - append @s, waiting up to @timeout_ns for room.
 *
 * Spins briefly, then yields, then sleeps on a futex that a receive wakes
 * (a receive makes the system call only while some send sleeps).
 * @timeout_ns < 0 (IOBUF_CHAN_FOREVER) waits without limit; 0 tries once.
 * Returns 0; -ETIMEDOUT when no room came in time; -EPIPE when the channel
 * is closed, before or during the wait (a close wakes it); -EINVAL as
 * iobuf_chan_send_slice().  Ordering as iobuf_chan_send_slice().
 *
 * Any thread; blocking.
 */
IOBUF_API int iobuf_chan_send_wait(struct iobuf_chan *ch, struct iobuf_slice s, int64_t timeout_ns);

/*
 * iobuf_chan_recv_wait - take the oldest entry, waiting up to @timeout_ns
 * for one.
 *
 * Spins briefly, then yields, then sleeps on a futex that a send wakes (a
 * send makes the system call only while some receive sleeps).
 * @timeout_ns < 0 waits without limit; 0 tries once.  Returns 0 and *@s;
 * -ETIMEDOUT when nothing came in time; -EPIPE once the channel is closed
 * and drained (a close wakes it; a send that overlapped the close is
 * waited for); -EINVAL for a NULL argument.  *@s is IOBUF_SLICE_NONE on
 * every error when @s is not NULL.  Ordering as iobuf_chan_recv_slice().
 *
 * Any thread; blocking.
 */
IOBUF_API int iobuf_chan_recv_wait(struct iobuf_chan *ch, struct iobuf_slice *s, int64_t timeout_ns);

/*
 * iobuf_chan_ready_fd - an fd that becomes readable when entries arrive.
 *
 * For event loops: after a receive returns -EAGAIN (a burst 0), poll this
 * fd for reading (EPOLLIN); when it is readable, read(2) its 8 bytes and
 * receive again.  The channel makes an eventfd (non-blocking, close-on-exec)
 * on the first call and owns it: destroy closes it.  While it exists, a
 * receive that finds the channel empty arms it and looks once more; the
 * next send then writes it (one system call per arming).  No wake-up is
 * lost (chan D1 in doc/design.md); the fd may be readable when another
 * receive took the entry first, so a receive after it may return -EAGAIN
 * again (arming it again).  iobuf_chan_close() writes it (a receive then
 * takes what is left, or says -EPIPE; -EAGAIN, while a send that overlapped
 * the close lands, arms it as ever).  One fd per
 * side, for one event loop: the thread that reads the fd takes the wake-up
 * of the arming, so a second thread polling the same fd may sleep on until
 * a later arming (give such threads a timeout, or one channel each).
 *
 * Returns the fd (>= 0), -EINVAL for NULL, or eventfd(2)'s error (-EMFILE,
 * -ENFILE, -ENOMEM; a later call tries again).  Any thread; a system call
 * on the first call only.
 */
IOBUF_API int iobuf_chan_ready_fd(struct iobuf_chan *ch);

/*
 * iobuf_chan_writable_fd - an fd that becomes readable when room comes back.
 *
 * The producers' side of iobuf_chan_ready_fd(): armed by a send that finds
 * the channel full (-EAGAIN, a burst 0), written by the next receive (chan
 * D2), written by a close.  Returns as iobuf_chan_ready_fd().
 */
IOBUF_API int iobuf_chan_writable_fd(struct iobuf_chan *ch);

/*
 * iobuf_chan_close - refuse further sends and wake every waiter.
 *
 * Returns 0; -EALREADY when @ch was already closed; -EINVAL for NULL.
 * Sends that begin after it returns get -EPIPE; a send that overlaps it
 * either lands (and is received) or is refused.  Receives drain what is
 * left, then get -EPIPE.  Both readiness fds that exist become readable.
 * Any thread; lock-free.  Its system calls: a futex wake for each side
 * that has sleepers, a write of each fd that exists.
 */
IOBUF_API int iobuf_chan_close(struct iobuf_chan *ch);

/*
 * iobuf_chan_count - about how many entries @ch holds.
 *
 * Returns the count, or -EINVAL for NULL.  As iobuf_scq_count() of the
 * full entries' queue: exact when the channel was last used by one thread
 * at a time (and when it is full), never below the true count with no
 * call in flight, a snapshot that may be off either way while calls run.
 * Orders nothing.  Any thread; wait-free.
 */
IOBUF_API int iobuf_chan_count(const struct iobuf_chan *ch);

/*
 * iobuf_chan_capacity - the capacity @ch was made with.
 *
 * Returns it, or -EINVAL for NULL.  Any thread; wait-free.
 */
IOBUF_API int iobuf_chan_capacity(const struct iobuf_chan *ch);

IOBUF_END_DECLS

#endif /* IOBUF_CHAN_H */
