/* SPDX-License-Identifier: MIT */
/*
 * scq.h - private layout of struct iobuf_scq, and the test hook.
 *
 * Not installed.  The public API is include/iobuf/scq.h; this header is for
 * src/scq.c and for tests, which link libiobuf-core.la and may look inside.
 *
 * Entry word (64 bits), with k = log2(2n) the ring's order (2n entries):
 *
 *   63                      k+1    k     k-1              0
 *   +-------------------------+-------+-------------------+
 *   | cycle (63-k bits)       | safe  | index (k bits)    |
 *   +-------------------------+-------+-------------------+
 *
 *   index   0 .. capacity-1, or BOT = 2^k - 1 (all ones) for "no index";
 *           an index is < capacity <= n <= BOT, so BOT is never one.
 *   safe    IsSafe of the paper: 0 once a dequeuer of a later cycle passed
 *           the entry while it still held an older index.
 *   cycle   bits k..62 of the ticket that last wrote the entry, i.e. the
 *           ticket's lap around the ring, truncated to 63-k bits.
 *
 * A "cycle word" is an entry with the low k+1 bits all ones: for ticket t
 * it is (t << 1) | low_mask.  Comparing two cycle words by the sign of
 * their 64-bit difference compares their cycles modulo 2^(63-k), so the
 * queue lives through its truncated cycles wrapping (at tickets that are
 * multiples of 2^63) and its 64-bit tickets wrapping, as long as no thread
 * stalls for 2^62 tickets.
 */
#ifndef IOBUF_SRC_SCQ_H
#define IOBUF_SRC_SCQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <iobuf/scq.h>

#include "atomic.h"

/*
 * head, threshold, tail and the read-only fields each sit in a block of
 * two cache lines: x86's adjacent-line prefetcher pulls lines in 128-byte
 * pairs, so one line apart is not far enough apart.
 */
#define IOBUF__SCQ_BLOCK (2 * IOBUF_CACHELINE)

/*
 * The remap: ticket t uses entry (t * 17) mod 2n.  Multiplying by an odd
 * number is a bijection modulo a power of two, so every entry has exactly
 * one ticket per cycle; consecutive tickets land 17 entries (136 bytes)
 * apart, on different cache lines and different 128-byte pairs, so the
 * threads working on neighbouring tickets do not share a line.  It costs a
 * shift, an add and a mask, with no per-ring shift amounts, and needs no
 * special case for tiny rings: for 2n <= 16 entries (two lines or less)
 * 17t = t mod 2n, the identity.  (The paper's rotation needs a shift by
 * order - 4, negative below 16 entries.)
 */
#define IOBUF__SCQ_REMAP_SHIFT 4
_Static_assert((8u << IOBUF__SCQ_REMAP_SHIFT) >= IOBUF__SCQ_BLOCK - 8, "a remap step spans a block");

struct iobuf_scq {
	/* Next dequeue ticket; one FAA per dequeue attempt. */
	_Alignas(IOBUF_SCQ_ALIGN) uint64_t head;
	uint8_t pad_head[IOBUF__SCQ_BLOCK - 8];
	/*
	 * int64_t in a uint64_t: failed dequeue tickets left before the queue
	 * is declared empty without taking one; 3n-1 after an enqueue, -1 when
	 * known empty.
	 */
	uint64_t threshold;
	uint8_t pad_threshold[IOBUF__SCQ_BLOCK - 8];
	/* Next enqueue ticket; one FAA per enqueue attempt. */
	uint64_t tail;
	uint8_t pad_tail[IOBUF__SCQ_BLOCK - 8];

	/* Read-only after init. */
	uint64_t slot_mask;  /* 2n - 1: position mask, BOT, and safe bit - 1 */
	uint64_t low_mask;   /* 4n - 1: the safe bit and the index field */
	uint64_t thr_full;   /* 3n - 1, as stored in threshold */
	uint32_t capacity;   /* the caller's capacity */
	uint32_t order;      /* k = log2(2n) */
	uint8_t pad_ro[IOBUF__SCQ_BLOCK - 32];

	/* 2n entries, 64-byte aligned. */
	uint64_t entry[];
};

_Static_assert(IOBUF__SCQ_BLOCK % IOBUF_SCQ_ALIGN == 0, "blocks keep the entries aligned");
_Static_assert(offsetof(struct iobuf_scq, threshold) == IOBUF__SCQ_BLOCK, "layout");
_Static_assert(offsetof(struct iobuf_scq, tail) == 2 * IOBUF__SCQ_BLOCK, "layout");
_Static_assert(offsetof(struct iobuf_scq, slot_mask) == 3 * IOBUF__SCQ_BLOCK, "layout");
_Static_assert(offsetof(struct iobuf_scq, entry) == 4 * IOBUF__SCQ_BLOCK, "layout");
_Static_assert(sizeof(struct iobuf_scq) == 4 * IOBUF__SCQ_BLOCK, "layout");

/* The entry that ticket @t uses: 17t mod 2n (a bijection of t mod 2n). */
static inline uint64_t iobuf__scq_slot_of(uint64_t slot_mask, uint64_t t)
{
	return (t + (t << IOBUF__SCQ_REMAP_SHIFT)) & slot_mask;
}

static inline uint64_t iobuf__scq_slot(const struct iobuf_scq *q, uint64_t t)
{
	return iobuf__scq_slot_of(q->slot_mask, t);
}

/* The cycle word of ticket @t: its cycle with the safe bit and index all ones. */
static inline uint64_t iobuf__scq_cycle(const struct iobuf_scq *q, uint64_t t)
{
	return (t << 1) | q->low_mask;
}

/*
 * Wrap-safe order of two tickets, or of two cycle words: < 0, 0, > 0 as @a
 * is before, equal to or after @b modulo 2^64 (cycle words: modulo their
 * cycle width).  The conversion is modular with gcc and clang.
 */
static inline int64_t iobuf__scq_diff(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b);
}

/*
 * iobuf__scq_init_at - iobuf_scq_init() with head and tail starting at
 * ticket @start instead of 0 (tail at @start + capacity if @full).
 *
 * For tests: start just below 2^64 or 2^63 to run through the wrap of the
 * tickets or of the truncated cycles.  Returns as iobuf_scq_init().
 */
int iobuf__scq_init_at(struct iobuf_scq *q, uint32_t capacity, bool full, uint64_t start);

/*
 * iobuf__scq_create_at - iobuf_scq_create() with head and tail at @start:
 * the one way the library allocates a queue (free it with
 * iobuf_scq_destroy()).
 */
struct iobuf_scq *iobuf__scq_create_at(uint32_t capacity, bool full, uint64_t start, int *err);

/*
 * The steps of an operation, for tests that replay chosen interleavings
 * on one thread.  An enqueue is: t = FAA(tail); iobuf__scq_enqueue_at(t)
 * until it returns 0.  A dequeue is: return -EAGAIN if the threshold is
 * < 0; h = FAA(head); iobuf__scq_dequeue_at(h), done if >= 0; else done
 * with -EAGAIN if iobuf__scq_dequeue_missed(h) says so, else again.
 * The caller takes the tickets (iobuf__faa_64 on head or tail).
 */
/* Visit ticket @t's entry with @idx: 0 if it landed (threshold reset), -EAGAIN if @t is dead, -EINVAL. */
int iobuf__scq_enqueue_at(struct iobuf_scq *q, uint64_t t, uint32_t idx);
/* Visit ticket @h's entry: the index, or -EAGAIN if none for @h. */
int iobuf__scq_dequeue_at(struct iobuf_scq *q, uint64_t h);
/* After a miss at @h: -EAGAIN if the dequeue reports empty (tail caught up, threshold spent), else 0. */
int iobuf__scq_dequeue_missed(struct iobuf_scq *q, uint64_t h);

#endif /* IOBUF_SRC_SCQ_H */
