/* SPDX-License-Identifier: MIT */
/*
 * scq.c - Nikolaev's Scalable Circular Queue of indices (DISC 2019).
 *
 * The ring has 2n entries for at most n indices (n = capacity rounded up
 * to a power of two).  A ticket t from a fetch-and-add on tail (enqueue)
 * or head (dequeue) names the entry iobuf__scq_slot(t) and the cycle
 * t / 2n.  An enqueuer writes {cycle(t), safe, index} into an entry of an
 * older cycle that holds no index; the dequeuer with the same ticket finds
 * its cycle there and takes the index.  A dequeuer that gets there first
 * moves an empty entry to its own cycle, so the late enqueuer cannot fill
 * it and takes another ticket; an entry that still holds an older index
 * (its dequeuer is slow) is marked unsafe instead, and an enqueuer fills
 * an unsafe entry only if the dequeuer of its ticket is still to come
 * (head <= t).  Twice as many entries as indices is what lets enqueuers
 * always find a free entry within a bounded number of tickets.
 *
 * Threshold: a dequeue that finds nothing at its ticket decrements it; an
 * enqueue sets it back to 3n-1 (the paper's bound on how far head can run
 * past the last index).  At < 0 the queue is empty and dequeue returns at
 * once without a FAA, so dequeuers on an empty queue neither livelock nor
 * push head ever further.  A dequeuer whose ticket passes tail moves tail
 * up to it (catch-up), so enqueuers do not waste tickets on dead entries.
 *
 * Memory order.  Labels name each pair; doc/design.md keeps the table.
 *   Q1 -> Q2  enqueue's entry CAS releases, dequeue's entry load acquires:
 *             the index and the caller's bytes.
 *   Q3 -> Q4  a dequeuer's CAS on an entry releases (and the consumer's OR
 *             continues its release sequence), the enqueuer's entry load
 *             acquires: the dequeuer's head FAA, for the head check.
 *   F1 / F2   RWC: full fences so that an enqueuer that sees an unsafe,
 *             consumed entry also sees head past a dequeuer that skipped
 *             that entry without writing it.
 *   F1 / F3   SB: the enqueuer sees a dequeuer's threshold decrement, or
 *             the dequeuer sees the enqueued entry.
 * The paper argues under sequential consistency; these are the places its
 * argument needs more than acquire/release.  On x86 F1 and F3 are compiler
 * barriers (locked instructions are full barriers) and F2, on a rare path,
 * is an mfence.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <iobuf/scq.h>

#include "atomic.h"
#include "scq.h"
#include "util.h"

/*
 * How many times a dequeuer re-reads an empty, safe entry of an older
 * cycle while an enqueuer holds its ticket (tail is past it), before it
 * moves the entry to its own cycle and so makes that enqueuer retry on a
 * new ticket.  Short: the enqueuer's window is a load and a CAS; if it was
 * preempted, waiting longer buys nothing.  Bounded, so a dequeue never
 * waits on another thread.
 */
#define SCQ_SPIN 32

/* Tells the compiler what the code guarantees (here: an index is >= 0). */
#define SCQ_ASSUME(c) \
	do { \
		if (!(c)) \
			__builtin_unreachable(); \
	} while (0)

static size_t scq_memsize(uint32_t capacity, uint64_t *half)
{
	uint64_t n, bytes;

	if (capacity == 0 || capacity > IOBUF_SCQ_MAX_CAPACITY)
		return 0;
	n = iobuf__pow2_ceil64(capacity);
	/* Rounded up so that arrays of queues (and aligned_alloc) stay aligned. */
	bytes = sizeof(struct iobuf_scq) + 2 * n * sizeof(uint64_t);
	bytes = (bytes + IOBUF_SCQ_ALIGN - 1) & ~(uint64_t)(IOBUF_SCQ_ALIGN - 1);
	if (bytes > SIZE_MAX)
		return 0;
	if (half)
		*half = n;
	return (size_t)bytes;
}

size_t iobuf_scq_memsize(uint32_t capacity)
{
	return scq_memsize(capacity, NULL);
}

int iobuf__scq_init_at(struct iobuf_scq *q, uint32_t capacity, bool full, uint64_t start)
{
	uint64_t n, i;

	if (!q || ((uintptr_t)q & (IOBUF_SCQ_ALIGN - 1)) != 0 || scq_memsize(capacity, &n) == 0)
		return -EINVAL;

	q->capacity = capacity;
	q->order = (uint32_t)__builtin_ctzll(2 * n);
	q->slot_mask = 2 * n - 1;
	q->low_mask = 4 * n - 1;
	q->thr_full = 3 * n - 1;

	/*
	 * Ticket start + i for i < 2n covers each entry once.  An entry starts
	 * one cycle before its first ticket, safe and empty; with @full the
	 * first @capacity tickets find index i already there, in their cycle.
	 */
	for (i = 0; i < 2 * n; i++) {
		uint64_t t = start + i, word = iobuf__scq_cycle(q, t);

		if (full && i < capacity)
			word ^= q->slot_mask ^ i;
		else
			word -= q->low_mask + 1;
		iobuf__store_64(&q->entry[iobuf__scq_slot(q, t)], word);
	}
	iobuf__store_64(&q->head, start);
	iobuf__store_64(&q->tail, start + (full ? capacity : 0));
	iobuf__store_64(&q->threshold, full ? q->thr_full : (uint64_t)-1);
	return 0;
}

int iobuf_scq_init(struct iobuf_scq *q, uint32_t capacity, bool full)
{
	return iobuf__scq_init_at(q, capacity, full, 0);
}

void iobuf_scq_fini(struct iobuf_scq *q)
{
	(void)q;
}

struct iobuf_scq *iobuf__scq_create_at(uint32_t capacity, bool full, uint64_t start, int *err)
{
	size_t size = iobuf_scq_memsize(capacity);
	void *mem = NULL;
	int rc = -EINVAL;

	if (size != 0) {
		rc = -ENOMEM;
		if (posix_memalign(&mem, IOBUF_SCQ_ALIGN, size) == 0) {
			rc = iobuf__scq_init_at(mem, capacity, full, start);
			if (rc < 0) {
				free(mem);
				mem = NULL;
			}
		} else {
			mem = NULL;
		}
	}
	if (err)
		*err = mem ? 0 : rc;
	return mem;
}

struct iobuf_scq *iobuf_scq_create(uint32_t capacity, bool full, int *err)
{
	return iobuf__scq_create_at(capacity, full, 0, err);
}

void iobuf_scq_destroy(struct iobuf_scq *q)
{
	free(q);
}

uint32_t iobuf_scq_capacity(const struct iobuf_scq *q)
{
	return q->capacity;
}

uint32_t iobuf_scq_count(const struct iobuf_scq *q)
{
	uint64_t head = iobuf__load_64(&q->head);
	int64_t d = iobuf__scq_diff(iobuf__load_64(&q->tail), head);

	if (d <= 0)
		return 0;
	return d >= (int64_t)q->capacity ? q->capacity : (uint32_t)d;
}

/*
 * Move tail up to @head if it is behind: the tickets in between belong to
 * entries that dequeuers have already passed, so no enqueuer should take
 * them.  Relaxed: it publishes no data, only skips tickets.
 */
static void scq_catchup(struct iobuf_scq *q, uint64_t tail, uint64_t head)
{
	while (!iobuf__cas_64(&q->tail, &tail, head)) {
		/* tail now holds its current value. */
		head = iobuf__load_64(&q->head);
		if (iobuf__scq_diff(tail, head) >= 0)
			break;
	}
}

/*
 * One ticket at a time.  An operation takes a ticket with a FAA and visits
 * its entry; these are the visits, shared by the operations below and by
 * the test hooks that replay chosen interleavings (src/scq.h).  Each has a
 * fast half, inline, for the common case, and a slow half out of line so
 * that the fast path keeps few registers.
 */

/*
 * Slow half of scq_enqueue_at(): @e, just read from @slot, is not a safe
 * empty entry of an older cycle, or the fast CAS lost to a change.
 */
static __attribute__((noinline)) bool scq_enqueue_slow(struct iobuf_scq *q, uint64_t t, uint64_t *slot, uint64_t e,
						       uint64_t val)
{
	const uint64_t low_mask = q->low_mask, safe = q->slot_mask + 1, tc = iobuf__scq_cycle(q, t);

	for (;;) {
		uint64_t ec = e | low_mask;

		/* A dequeuer of this cycle (or later) has been here: the ticket is dead. */
		if (iobuf__scq_diff(ec, tc) >= 0)
			return false;
		/* Still holds an index of an older cycle, not yet dequeued. */
		if ((e | safe) != ec)
			return false;
		if (!(e & safe)) {
			/*
			 * Unsafe: a later dequeuer passed while an old index was
			 * here.  Fill the entry only if the dequeuer of t has not
			 * taken its ticket yet.
			 * F2: pairs with F1 in scq_fence_f1() (RWC): a
			 * dequeuer that skipped this entry without writing it
			 * (already unsafe) did its head FAA, a full fence, then
			 * read the entry before the old index was consumed;
			 * having read the consumed entry, we see that FAA here.
			 */
			iobuf__fence_seq_cst();
			if (iobuf__scq_diff(iobuf__load_64(&q->head), t) > 0)
				return false;
		}
		/* Q1 as in scq_put().  On failure e is the entry's new value; judge it again. */
		if (iobuf__cas_64_acqrel(slot, &e, tc ^ val))
			return true;
	}
}

/*
 * The fast half of an enqueue visit: put @val (slot_mask ^ index) into
 * the entry of ticket @t if it is a safe empty entry of an older cycle and
 * the CAS wins.  Returns true if it landed; else the entry as last read is
 * in *@ep (and its address in *@slotp) for scq_enqueue_slow().  @slot_mask
 * and @low_mask are q's, read once by the caller.
 */
static inline __attribute__((always_inline)) bool scq_put(struct iobuf_scq *q, uint64_t t, uint64_t val,
							  uint64_t slot_mask, uint64_t low_mask, uint64_t **slotp,
							  uint64_t *ep)
{
	const uint64_t tc = (t << 1) | low_mask; /* iobuf__scq_cycle() */
	uint64_t *slot = &q->entry[iobuf__scq_slot_of(slot_mask, t)];
	/* Q4: pairs with Q3 in scq_dequeue_slow(): a dequeuer's head FAA before it marked this entry. */
	uint64_t e = iobuf__load_64_acq(slot);

	/*
	 * The common case: safe, no index, an older cycle.  XOR of @val into
	 * the cycle word (index bits all ones) gives {cycle(t), safe, index}.
	 * Q1: pairs with Q2 in scq_take() and scq_dequeue_slow(): publishes
	 * the index and the caller's bytes.
	 */
	if (IOBUF_LIKELY((e & low_mask) == low_mask && iobuf__scq_diff(e, tc) < 0) &&
	    IOBUF_LIKELY(iobuf__cas_64_acqrel(slot, &e, tc ^ val)))
		return true;
	*slotp = slot;
	*ep = e;
	return false;
}

/* Visit ticket @t's entry with @val: true if it landed, false if @t is dead. */
static inline __attribute__((always_inline)) bool scq_enqueue_at(struct iobuf_scq *q, uint64_t t, uint64_t val,
								 uint64_t slot_mask, uint64_t low_mask)
{
	uint64_t *slot, e;

	if (scq_put(q, t, val, slot_mask, low_mask, &slot, &e))
		return true;
	return scq_enqueue_slow(q, t, slot, e, val);
}

/* After an enqueue landed: set the threshold back to 3n-1. */
static inline void scq_enqueued(struct iobuf_scq *q)
{
	/*
	 * F3: pairs with F1 in scq_fence_f1() (SB): orders the entry CAS
	 * before the threshold load, so either a dequeuer that decremented
	 * the threshold then looked at entries sees our entry, or we see its
	 * decrement and reset.
	 */
	iobuf__fence_rmw_load();
	/*
	 * Only when needed: a write per enqueue would bounce the line.  An
	 * exchange, not a store: every shared write an enqueue makes is then
	 * an RMW, so a caller's iobuf__fence_rmw_load() after the enqueue
	 * orders all of it before the caller's later loads (the pool's W1
	 * handshake with sleeping gets relies on it: a plain store could sit
	 * in the store buffer while a sleeper reads the old threshold).
	 */
	if (IOBUF_UNLIKELY(iobuf__load_64(&q->threshold) != q->thr_full))
		(void)iobuf__fas_64(&q->threshold, q->thr_full);
}

/*
 * Slow half of scq_dequeue_at(): @e, just read from @slot, is not of the
 * cycle of ticket @h.  Returns the index, or -1 if there is none for @h;
 * then the entry is left so that no enqueuer of an older ticket fills it.
 */
static __attribute__((noinline)) int scq_dequeue_slow(struct iobuf_scq *q, uint64_t h, uint64_t *slot, uint64_t e)
{
	const uint64_t low_mask = q->low_mask, bot = q->slot_mask, safe = q->slot_mask + 1;
	const uint64_t hc = iobuf__scq_cycle(q, h);
	bool waited = false;

	for (;;) {
		uint64_t ec = e | low_mask, next;

		if (ec == hc) {
			/* Ours after all (it landed while we looked): as in scq_take(). */
			iobuf__or_64(slot, bot);
			return (int)(e & bot);
		}
		/* Already in a later cycle: we were lapped. */
		if (iobuf__scq_diff(ec, hc) > 0)
			return -1;
		if ((e | safe) != ec) {
			/*
			 * An older index, its dequeuer late: mark the entry unsafe,
			 * so that once it is consumed no enqueuer of a cycle whose
			 * dequeuer has passed (ours) fills it.
			 */
			next = e & ~safe;
			if (next == e)
				return -1;
		} else {
			/*
			 * Empty, older.  If an enqueuer holds our ticket (tail past
			 * it) and could still fill the entry (safe), give it a
			 * moment to land rather than make it retry.
			 */
			if (!waited && (e & safe) && iobuf__scq_diff(iobuf__load_64(&q->tail), h) > 0) {
				uint64_t seen = e;

				waited = true;
				for (int i = 0; i < SCQ_SPIN && e == seen; i++) {
					iobuf__cpu_relax();
					/* Q2 as in scq_take(). */
					e = iobuf__load_64_acq(slot);
				}
				if (e != seen)
					continue;
			}
			/* Move it to our cycle, keeping its safe bit: no late enqueuer fills it. */
			next = hc ^ (~e & safe);
		}
		/*
		 * Q3: pairs with Q4 in scq_put(): our head FAA is visible
		 * to an enqueuer that sees this mark (the consumer's OR continues
		 * the release sequence).  On failure e is the entry's new value,
		 * acquired (Q2).
		 */
		if (iobuf__cas_64_acqrel(slot, &e, next))
			return -1;
	}
}

/*
 * The fast half of a dequeue visit: the index if ticket @h's entry holds
 * it, else -1 with the entry as read in *@ep (its address in *@slotp) for
 * scq_dequeue_slow().  @slot_mask and @low_mask are q's, read once by the
 * caller.
 */
static inline __attribute__((always_inline)) int scq_take(struct iobuf_scq *q, uint64_t h, uint64_t slot_mask,
							  uint64_t low_mask, uint64_t **slotp, uint64_t *ep)
{
	uint64_t *slot = &q->entry[iobuf__scq_slot_of(slot_mask, h)];
	/* Q2: pairs with Q1 in scq_put(): the index and the enqueuer's bytes. */
	uint64_t e = iobuf__load_64_acq(slot);

	if (IOBUF_LIKELY((e | low_mask) == ((h << 1) | low_mask))) {
		int v = (int)(e & slot_mask);

		/*
		 * Ours.  Mark it consumed (index BOT; cycle and safe bit kept).
		 * Only a later dequeuer's unsafe mark can change the entry
		 * meanwhile, and that keeps the index: no CAS needed.  Relaxed:
		 * it publishes nothing; the next enqueuer here needs none of our
		 * writes.
		 */
		iobuf__or_64(slot, slot_mask);
		SCQ_ASSUME(v >= 0); /* slot_mask < 2^30 */
		return v;
	}
	*slotp = slot;
	*ep = e;
	return -1;
}

/* Visit ticket @h's entry: its index, or -1 if there is none for @h. */
static inline __attribute__((always_inline)) int scq_dequeue_at(struct iobuf_scq *q, uint64_t h, uint64_t slot_mask,
								uint64_t low_mask)
{
	uint64_t *slot, e;
	int v = scq_take(q, h, slot_mask, low_mask, &slot, &e);

	return v >= 0 ? v : scq_dequeue_slow(q, h, slot, e);
}

/*
 * After ticket @h found nothing.  Returns true if the dequeue is to report
 * the queue empty: no enqueuer is past @h (then tail catches up with head)
 * or the threshold ran out.
 */
static __attribute__((noinline)) bool scq_dequeue_missed(struct iobuf_scq *q, uint64_t h)
{
	uint64_t t = iobuf__load_64(&q->tail);

	if (iobuf__scq_diff(t, h + 1) <= 0) {
		scq_catchup(q, t, h + 1);
		iobuf__faa_64(&q->threshold, (uint64_t)-1);
		return true;
	}
	return (int64_t)iobuf__faa_64(&q->threshold, (uint64_t)-1) <= 0;
}

/*
 * The operations.  Each public call is a straight-line fast half, inline:
 * one ticket whose entry is ready at first sight.  Anything else goes to a
 * noinline "rest" by a tail call, so the fast half needs no saved
 * registers.
 */

/* F1, in scq_dequeue() and scq_dequeue_rest(), after each head FAA. */
static inline void scq_fence_f1(void)
{
	/*
	 * F1: pairs with F2 in scq_enqueue_slow() and F3 in scq_enqueued():
	 * the head FAA (and the threshold decrement of the previous round)
	 * before the entry load, as the paper's sequentially consistent
	 * argument assumes.
	 */
	iobuf__fence_rmw_load();
}

/* The rest of an enqueue whose ticket @t did not land at first sight. */
static __attribute__((noinline)) void scq_enqueue_rest(struct iobuf_scq *q, uint64_t t, uint64_t *slot, uint64_t e,
						       uint64_t val)
{
	const uint64_t slot_mask = q->slot_mask, low_mask = q->low_mask;

	if (!scq_enqueue_slow(q, t, slot, e, val))
		while (!scq_enqueue_at(q, iobuf__faa_64(&q->tail, 1), val, slot_mask, low_mask))
			;
	scq_enqueued(q);
}

/* @idx < capacity, checked by the caller. */
static inline __attribute__((always_inline)) void scq_enqueue(struct iobuf_scq *q, uint32_t idx)
{
	const uint64_t slot_mask = q->slot_mask, low_mask = q->low_mask, val = slot_mask ^ idx;
	uint64_t t = iobuf__faa_64(&q->tail, 1), *slot, e;

	if (IOBUF_LIKELY(scq_put(q, t, val, slot_mask, low_mask, &slot, &e)))
		scq_enqueued(q);
	else
		scq_enqueue_rest(q, t, slot, e, val);
}

/* The rest of a dequeue whose ticket @h found no index at first sight (@e, read from @slot). */
static __attribute__((noinline)) int scq_dequeue_rest(struct iobuf_scq *q, uint64_t h, uint64_t *slot, uint64_t e)
{
	const uint64_t slot_mask = q->slot_mask, low_mask = q->low_mask;
	int v = scq_dequeue_slow(q, h, slot, e);

	while (v < 0) {
		if (scq_dequeue_missed(q, h))
			return -ENOBUFS;
		h = iobuf__faa_64(&q->head, 1);
		scq_fence_f1();
		v = scq_dequeue_at(q, h, slot_mask, low_mask);
	}
	return v;
}

static inline __attribute__((always_inline)) int scq_dequeue(struct iobuf_scq *q)
{
	const uint64_t slot_mask = q->slot_mask, low_mask = q->low_mask;
	uint64_t h, *slot, e;
	int v;

	/* Known empty: no ticket, no write. */
	if ((int64_t)iobuf__load_64(&q->threshold) < 0)
		return -ENOBUFS;
	h = iobuf__faa_64(&q->head, 1);
	scq_fence_f1();
	v = scq_take(q, h, slot_mask, low_mask, &slot, &e);
	if (IOBUF_LIKELY(v >= 0))
		return v;
	return scq_dequeue_rest(q, h, slot, e);
}

int iobuf_scq_enqueue(struct iobuf_scq *q, uint32_t idx)
{
	if (IOBUF_UNLIKELY(idx >= q->capacity))
		return -EINVAL;
	scq_enqueue(q, idx);
	return 0;
}

int iobuf_scq_dequeue(struct iobuf_scq *q)
{
	return scq_dequeue(q);
}

/* ---- test hooks (src/scq.h) -------------------------------------------- */

int iobuf__scq_enqueue_at(struct iobuf_scq *q, uint64_t t, uint32_t idx)
{
	if (idx >= q->capacity)
		return -EINVAL;
	if (!scq_enqueue_at(q, t, q->slot_mask ^ idx, q->slot_mask, q->low_mask))
		return -EAGAIN;
	scq_enqueued(q);
	return 0;
}

int iobuf__scq_dequeue_at(struct iobuf_scq *q, uint64_t h)
{
	int v = scq_dequeue_at(q, h, q->slot_mask, q->low_mask);

	return v >= 0 ? v : -EAGAIN;
}

int iobuf__scq_dequeue_missed(struct iobuf_scq *q, uint64_t h)
{
	return scq_dequeue_missed(q, h) ? -EAGAIN : 0;
}

/*
 * The bulk calls loop over the single operations.  One FAA of k tickets
 * would save k-1 FAAs, but each claimed ticket must then be visited even
 * after the queue turns out empty (a dequeuer) or landed while dequeuers
 * run past the later ones (an enqueuer), the threshold would count a
 * whole failed batch, and head could run k past tail at once; the loop
 * keeps exactly the paper's algorithm and its proof.
 */
int iobuf_scq_dequeue_burst(struct iobuf_scq *q, uint32_t *out, int n)
{
	int i;

	if (n < 0 || (n > 0 && !out))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		int v = scq_dequeue(q);

		if (v < 0)
			break;
		out[i] = (uint32_t)v;
	}
	return i;
}

int iobuf_scq_enqueue_bulk(struct iobuf_scq *q, const uint32_t *idx, int n)
{
	const uint32_t cap = q->capacity;

	if (n < 0 || (n > 0 && !idx))
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (idx[i] >= cap)
			return -EINVAL;
	for (int i = 0; i < n; i++)
		scq_enqueue(q, idx[i]);
	return 0;
}
