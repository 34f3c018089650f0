/* SPDX-License-Identifier: MIT */
/*
 * ring.h (private) - what the layers above the ring (its broadcast of
 * pooled buffers, src/ring_bcast.c) and the tests reach inside a ring.
 */
#ifndef IOBUF_SRC_RING_H
#define IOBUF_SRC_RING_H

#include <stdint.h>
#include <stdio.h>

#include <iobuf/ring.h>

/*
 * The on_retire context of @ring when its hook is @hook; NULL when it has
 * another hook or none.  A layer that makes rings with its own hook tells
 * them from other rings by it.  Any thread; wait-free (fixed at create).
 */
void *iobuf__ring_retire_ctx(const struct iobuf_ring *ring, void (*hook)(void *ctx, uint64_t seq, void *entry));

/* The number of entries of @ring (its capacity). */
uint64_t iobuf__ring_capacity(const struct iobuf_ring *ring);

/* How many entries the writer claimed and has not published.  The writer only. */
uint64_t iobuf__ring_unpublished(const struct iobuf_ring *ring);

/*
 * Reader @reader of a lossy ring copied entry @seq intact (iobuf_ring_read()
 * returned 0) and then learnt by other means that the writer overwrote it
 * (a bcast ring: the buffer was already put back by the writer's retire).
 * As a failed iobuf_ring_read(): the reader may release only up to @seq,
 * and its next poll moves past @seq at least (-EOVERFLOW, counting @seq as
 * missed), whatever stamps it sees.  Returns 0, or -EINVAL for a bad or
 * inactive reader, a lossless ring, or a @seq outside what it polled and
 * has not released.  The reader's thread; wait-free.
 */
int iobuf__ring_read_lapped(struct iobuf_ring *ring, int reader, uint64_t seq);

/*
 * Print @ring's state to @out, each line starting with @prefix: the
 * cursor, the writer's claimed, published and gate counts, the reclaim
 * word, both futex words with their waiter counts, and every reader slot
 * (sequence, position, polled end, dependencies, strategy).  For a
 * watchdog that found a run stuck: it reads the words while their owners
 * may be writing them, so the lines are a snapshot, not one instant (and
 * ThreadSanitizer may report those reads).
 */
void iobuf__ring_dump(const struct iobuf_ring *ring, FILE *out, const char *prefix);

#ifdef IOBUF_RING_STEPS
/*
 * Test hooks, compiled in only when ring.c is built with -DIOBUF_RING_STEPS
 * (tests/unit/test_ring_steps.c): the points of a waiting call where a test
 * stops the waiter and acts from another thread, so that an interleaving
 * is replayed exactly instead of hoped for.  The hook runs in the waiter's
 * thread; @reader is -1 for the writer's claim, @word the futex word the
 * waiter chose.
 */
enum iobuf__ring_step {
	IOBUF__RING_STEP_WORD,	/* chose its futex word; not yet announced on it */
	IOBUF__RING_STEP_SLEEP, /* its re-check found nothing: about to FUTEX_WAIT */
};

enum iobuf__ring_word {
	IOBUF__RING_WORD_PUB, /* "pub": waiting for the cursor */
	IOBUF__RING_WORD_REL, /* "rel": waiting for a release */
};

/* Called at each step when not NULL.  Set it before the threads start. */
extern void (*iobuf__ring_step_hook)(struct iobuf_ring *ring, int reader, enum iobuf__ring_step step,
				     enum iobuf__ring_word word);

/*
 * Called, when not NULL, by iobuf_ring_bcast_read() (src/ring_bcast.c built
 * with -DIOBUF_RING_STEPS) between its copy of entry @seq, handle @h, and
 * its hold: where a writer that laps the entry and puts the buffer back
 * (and gets it again) meets the reader.  In the reader's thread.
 */
extern void (*iobuf__ring_bcast_step_hook)(struct iobuf_ring *ring, int reader, uint64_t seq, uint64_t h);
#endif

#endif /* IOBUF_SRC_RING_H */
