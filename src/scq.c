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
 * How many times a dequeuer re-reads an empty entry of an older cycle,
 * while an enqueuer holds its ticket (tail > head), before it moves the
 * entry to its own cycle and so makes that enqueuer retry.  Short: the
 * enqueuer's window is a load and a CAS; if it was preempted, waiting
 * longer buys nothing.
 */
#define SCQ_SPIN 32

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
	if (q->order > IOBUF__SCQ_REMAP_SHIFT) {
		q->rot_up = IOBUF__SCQ_REMAP_SHIFT;
		q->rot_down = q->order - IOBUF__SCQ_REMAP_SHIFT;
	} else {
		/* One block or less: rotating would need a negative shift, and buys nothing. */
		q->rot_up = 0;
		q->rot_down = 0;
	}

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

struct iobuf_scq *iobuf_scq_create(uint32_t capacity, bool full, int *err)
{
	size_t size = iobuf_scq_memsize(capacity);
	void *mem = NULL;
	int rc = -EINVAL;

	if (size != 0) {
		rc = -ENOMEM;
		if (posix_memalign(&mem, IOBUF_SCQ_ALIGN, size) == 0) {
			rc = iobuf_scq_init(mem, capacity, full);
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

/* @idx < capacity, checked by the caller. */
static inline void scq_enqueue(struct iobuf_scq *q, uint32_t idx)
{
	const uint64_t low_mask = q->low_mask, safe = q->slot_mask + 1;
	/* XOR into a cycle word (index bits all ones) gives {cycle, safe, idx}. */
	const uint64_t val = q->slot_mask ^ idx;

	for (;;) {
		uint64_t t = iobuf__faa_64(&q->tail, 1);
		uint64_t tc = iobuf__scq_cycle(q, t);
		uint64_t *slot = &q->entry[iobuf__scq_slot(q, t)];
		/* Q4: pairs with Q3 in scq_dequeue(): a dequeuer's head FAA before it marked this entry. */
		uint64_t e = iobuf__load_64_acq(slot);

		for (;;) {
			uint64_t ec = e | low_mask;

			/* A dequeuer of this cycle (or later) has been here: the ticket is dead. */
			if (iobuf__scq_diff(ec, tc) >= 0)
				break;
			/* Still holds an index of an older cycle, not yet dequeued. */
			if ((e | safe) != ec)
				break;
			if (!(e & safe)) {
				/*
				 * Unsafe: a later dequeuer passed while the old index
				 * was here.  Fill the entry only if the dequeuer of t
				 * has not taken its ticket yet.
				 * F2: pairs with F1 in scq_dequeue() (RWC): a dequeuer
				 * that skipped this entry without writing it (already
				 * unsafe) did its head FAA, then a full fence, then read
				 * the entry before the old index was consumed; having
				 * read the consumed entry, we see that FAA here.
				 */
				iobuf__fence_seq_cst();
				if (iobuf__scq_diff(iobuf__load_64(&q->head), t) > 0)
					break;
			}
			/* Q1: pairs with Q2 in scq_dequeue(): publishes the index and the caller's bytes. */
			if (iobuf__cas_64_acqrel(slot, &e, tc ^ val)) {
				/*
				 * F3: pairs with F1 in scq_dequeue() (SB): orders the
				 * CAS before the threshold load, so either a dequeuer
				 * that decremented the threshold then looked at entries
				 * sees ours, or we see its decrement and reset.
				 */
				iobuf__fence_rmw_load();
				/*
				 * Reset only when needed: a write per enqueue would bounce
				 * the line.  An exchange, not a store: every shared write an
				 * enqueue makes is then an RMW, so a caller's
				 * iobuf__fence_rmw_load() after the enqueue orders all of it
				 * before the caller's later loads (the pool's W1 handshake
				 * with sleeping gets relies on it: a plain store could sit in
				 * the store buffer while a sleeper reads the old threshold).
				 */
				if (iobuf__load_64(&q->threshold) != q->thr_full)
					(void)iobuf__fas_64(&q->threshold, q->thr_full);
				return;
			}
			/* The CAS failed: e holds the entry's new value; judge it again. */
		}
	}
}

static inline int scq_dequeue(struct iobuf_scq *q)
{
	const uint64_t low_mask = q->low_mask, bot = q->slot_mask, safe = q->slot_mask + 1;

	/* Known empty: no ticket, no write. */
	if ((int64_t)iobuf__load_64(&q->threshold) < 0)
		return -EAGAIN;

	for (;;) {
		uint64_t h = iobuf__faa_64(&q->head, 1);
		uint64_t hc = iobuf__scq_cycle(q, h);
		uint64_t *slot = &q->entry[iobuf__scq_slot(q, h)];
		uint64_t e, t;
		bool waited = false;

		/*
		 * F1: pairs with F2 and F3 in scq_enqueue(): the head FAA (and the
		 * threshold decrement of the previous round) before the entry
		 * load, as the paper's sequentially consistent argument assumes.
		 */
		iobuf__fence_rmw_load();
		/* Q2: pairs with Q1 in scq_enqueue(): the index and the enqueuer's bytes. */
		e = iobuf__load_64_acq(slot);

		for (;;) {
			uint64_t ec = e | low_mask, next;

			if (ec == hc) {
				/*
				 * Ours.  Mark it consumed (index BOT, cycle and safe bit
				 * kept).  Only a later dequeuer's unsafe mark can change
				 * the entry meanwhile, and it keeps the index: no CAS
				 * needed.  Relaxed: it publishes nothing; the next
				 * enqueuer here needs none of our writes.
				 */
				iobuf__or_64(slot, bot);
				return (int)(e & bot);
			}
			/* Already in a later cycle: we were lapped, try another ticket. */
			if (iobuf__scq_diff(ec, hc) > 0)
				break;
			if ((e | safe) != ec) {
				/* An older index still here, its dequeuer late: mark unsafe. */
				next = e & ~safe;
				if (next == e)
					break;
			} else {
				/*
				 * Empty and older.  If an enqueuer holds our ticket, give
				 * it a moment to land (it could not fill an unsafe entry).
				 */
				if (!waited && (e & safe) && iobuf__scq_diff(iobuf__load_64(&q->tail), h) > 0) {
					uint64_t seen = e;

					waited = true;
					for (int i = 0; i < SCQ_SPIN && e == seen; i++) {
						iobuf__cpu_relax();
						/* Q2 as above. */
						e = iobuf__load_64_acq(slot);
					}
					if (e != seen)
						continue;
				}
				/* Move it to our cycle, keeping its safe bit, so no late enqueuer fills it. */
				next = hc ^ (~e & safe);
			}
			/*
			 * Q3: pairs with Q4 in scq_enqueue(): our head FAA is visible
			 * to an enqueuer that sees this mark.  On failure e is the
			 * entry's new value (acquired: Q2).
			 */
			if (iobuf__cas_64_acqrel(slot, &e, next))
				break;
		}

		/* Nothing at ticket h. */
		t = iobuf__load_64(&q->tail);
		if (iobuf__scq_diff(t, h + 1) <= 0) {
			/* No enqueuer is ahead of us: empty. */
			scq_catchup(q, t, h + 1);
			iobuf__faa_64(&q->threshold, (uint64_t)-1);
			return -EAGAIN;
		}
		if ((int64_t)iobuf__faa_64(&q->threshold, (uint64_t)-1) <= 0)
			return -EAGAIN;
	}
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
