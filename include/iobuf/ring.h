/* SPDX-License-Identifier: MIT */
/*
 * iobuf/ring.h - a single-writer, many-reader ring of fixed-size entries,
 * after the LMAX Disruptor.
 *
 * A ring is a preallocated power-of-two array of entries of one size chosen
 * at creation (8 bytes carry a buffer handle).  Entries are named by 64-bit
 * sequences that never wrap: entry @seq lives in slot @seq mod capacity.
 * One writer claims sequences (one or a batch), fills the entries and
 * publishes them in order; the published cursor is the count of entries
 * published so far.  Each reader owns a cache-line-padded sequence, the
 * count of entries it has released; it polls for everything up to its
 * barrier (the cursor, or the slowest of the readers it depends on), reads
 * the batch, and releases it with one store.
 *
 * Two modes:
 *  - IOBUF_RING_LOSSLESS (the Disruptor): the writer never reuses a slot
 *    that some reader has not released; it is gated on the slowest reader.
 *    Readers may read entries in place (iobuf_ring_entry()) between a poll
 *    and the release.
 *  - IOBUF_RING_LOSSY (broadcast): the writer never waits.  Every slot
 *    carries a stamp naming the sequence it holds (or is being written);
 *    readers copy entries out with iobuf_ring_read(), which checks the stamp
 *    before and after the copy, so a reader is never handed a torn or
 *    overwritten entry.  A lapped reader is told how many entries it missed
 *    (-EOVERFLOW) and continues from the oldest valid entry.  The writer
 *    fills entries with iobuf_ring_write() (readers may be copying the slot
 *    it overwrites).
 *
 * Readers may depend on other readers (pipeline A -> B, diamond A,B -> C): a
 * reader sees an entry only after every reader it depends on released it.
 * Readers join and leave while the ring runs; a new reader starts at the
 * published cursor.
 *
 * Retiring entries: a ring created with an on_retire hook calls it
 * exactly once for every published entry, before the writer reuses its
 * slot; the reclaimed count (iobuf_ring_reclaimed()) says how far it got.
 * Lossless, an entry retires after every reader that could see it
 * released it (or left); entries nobody reads (no reader) are retired at
 * publish.  The hook runs in the thread whose call made the entry
 * retirable (a release, a leave, a join, the writer's publish or claim).
 * Lossy, an entry retires when the writer claims its slot again, in the
 * writer's claim, whether readers are still copying it or not (the hook
 * may read the entry, not write it).  Either way destroy retires what is
 * left, and the hook runs never two at once, in sequence order.  The
 * broadcast of pooled buffers is built on it, above the ring and the sets
 * (iobuf/ring_bcast.h): each entry holds its buffer, the hook drops that
 * holder, and the readers of a lossy ring hold what they read.  The ring
 * itself carries bytes and knows nothing of buffers.
 *
 * Waiting: busy-spin, spin-then-yield, or spin-then-sleep on a futex, per
 * ring (the writer and the readers' default) or per reader, each with a
 * timeout.  The writer and releasing readers make a system call only when
 * someone sleeps.  The library starts no thread.
 *
 * Synchronization table.  "writer" is the set of calls try_claim, claim,
 * write and publish (and iobuf_ring_bcast() of iobuf/ring_bcast.h), made
 * by one thread at a time (the writer role may move between threads with
 * the caller's own synchronization).
 * "reader r" is poll, wait, read, release and set_wait on reader r, made by
 * one thread at a time.  "control" is reader_add, reader_remove and
 * reader_set_deps.  "queries" are cursor, lag, slowest_lag and reclaimed.
 *
 *   | may run at the same time as ->   | writer | reader r | reader s != r | control | queries |
 *   | writer                           |   no   |   yes    |      yes      |   yes   |   yes   |
 *   | reader r                         |  yes   |    no    |      yes      |  yes(1) |   yes   |
 *   | control                          |  yes   |  yes(1)  |      yes      |   yes   |   yes   |
 *   | queries                          |  yes   |   yes    |      yes      |   yes   |   yes   |
 *   | create / destroy                 |   no   |    no    |      no       |   no    |   no    |
 *
 * (1) except reader_remove(r), which must not overlap any call on reader r.
 *
 * Progress: the writer's try_claim/write/publish and the readers'
 * poll/read/release are wait-free (bounded by max_readers); claim and wait
 * block up to their timeout; control calls take the ring's mutex.  On a
 * retiring ring, publish, try_claim and release may run the hook for the
 * entries that became retirable (one thread at a time does, the others do
 * not wait for it): they are lock-free, and the writer is gated on the
 * reclaimed count instead of the slowest reader.
 *
 * The ordering edges (R1/A1 ...) are listed in doc/design.md.
 */
#ifndef IOBUF_RING_H
#define IOBUF_RING_H

#include <stddef.h>
#include <stdint.h>

#include <iobuf/common.h>

IOBUF_BEGIN_DECLS

/* Largest capacity (entries) and entry size (bytes) of a ring. */
#define IOBUF_RING_MAX_CAPACITY (1u << 30)
#define IOBUF_RING_MAX_ENTRY (1u << 20)
/* Largest max_readers: dependencies are a 64-bit mask of reader ids. */
#define IOBUF_RING_MAX_READERS 64
/* Spin iterations before yielding or sleeping when the config says 0. */
#define IOBUF_RING_DEFAULT_SPINS 1024u
/* A timeout that never expires. */
#define IOBUF_RING_FOREVER ((int64_t)-1)

enum iobuf_ring_mode {
	IOBUF_RING_LOSSLESS = 0, /* the writer is gated on the slowest reader */
	IOBUF_RING_LOSSY = 1,	 /* the writer never waits; lapped readers are told what they missed */
};

enum iobuf_ring_wait {
	IOBUF_RING_SPIN = 0,  /* busy-spin (cpu_relax) until ready or timed out */
	IOBUF_RING_YIELD = 1, /* spin @spins times, then sched_yield() between checks */
	IOBUF_RING_BLOCK = 2, /* spin @spins times, then sleep on a futex until woken */
};

enum iobuf_ring_flags {
	/*
	 * Readers may choose IOBUF_RING_BLOCK (iobuf_ring_reader_set_wait())
	 * although the ring's own strategy is not BLOCK.  A ring whose strategy
	 * is BLOCK or that has this flag pays a full fence per publish and per
	 * release (to see sleepers); other rings pay nothing for it.
	 */
	IOBUF_RING_MAY_BLOCK = 1u << 0,
};

struct iobuf_ring_config {
	uint32_t capacity;   /* entries: a power of two, 1 .. IOBUF_RING_MAX_CAPACITY */
	uint32_t entry_size; /* bytes per entry, 1 .. IOBUF_RING_MAX_ENTRY */
	enum iobuf_ring_mode mode;
	int max_readers;	   /* 1 .. IOBUF_RING_MAX_READERS */
	enum iobuf_ring_wait wait; /* the writer's strategy, and the readers' default */
	uint32_t spins;		   /* spins before yield/sleep; 0 means IOBUF_RING_DEFAULT_SPINS */
	unsigned flags;		   /* enum iobuf_ring_flags */
	/*
	 * Optional: called once per published entry when it retires, that is
	 * (lossless) when no reader can see it any more, or (lossy) when the
	 * writer claims its slot again; @entry is the entry's payload, valid
	 * during the call (lossy: readers may be copying it, so only read it).
	 * It must not call functions of this ring.  NULL: entries are not
	 * retired (the ring's default).
	 */
	void (*on_retire)(void *ctx, uint64_t seq, void *entry);
	void *retire_ctx; /* @ctx of on_retire; must be NULL without on_retire */
};

struct iobuf_ring;

/*
 * The first member of every struct iobuf_ring, read by the inline
 * iobuf_ring_entry().  Private: do not touch.
 */
struct iobuf_ring_slots {
	unsigned char *base; /* first entry's payload */
	uint64_t mask;	     /* capacity - 1 */
	size_t stride;	     /* bytes from one slot to the next */
};

/*
 * iobuf_ring_create - allocate a ring as @cfg describes.
 *
 * Returns the ring, or NULL with *@err (when @err is not NULL) set to
 * -EINVAL for a NULL @cfg, a capacity that is 0, not a power of two or too
 * large, an entry size of 0 or too large, an unknown mode, wait strategy or
 * flag, max_readers out of 1 .. IOBUF_RING_MAX_READERS, or a retire_ctx
 * without an on_retire hook; -ENOMEM when
 * allocation fails; the -errno of pthread_mutex_init() (-EAGAIN, -ENOMEM).
 * Nothing leaks on failure.  On success *@err is 0.  The ring starts empty, with no
 * reader and the cursor at 0.
 *
 * Orders nothing: hand the ring to other threads with the caller's own
 * synchronization (thread creation, a mutex, a release store).
 * Any thread; blocking (allocates).
 */
IOBUF_API struct iobuf_ring *iobuf_ring_create(const struct iobuf_ring_config *cfg, int *err);

/*
 * iobuf_ring_destroy - free @ring and its entries.
 *
 * On a retiring ring it first retires every published entry not yet
 * retired, in order, whether or not readers still hold it (a bcast ring
 * puts their buffers back).  Entries claimed and not published are the
 * writer's and are not retired.  NULL is ignored.
 *
 * Returns nothing.  Orders nothing: no other call on @ring may run during
 * or after it (a thread still waiting in iobuf_ring_wait() or
 * iobuf_ring_claim() is a bug); the caller's own synchronization (joining
 * the threads) orders their calls before it.  Blocking (frees memory).
 */
IOBUF_API void iobuf_ring_destroy(struct iobuf_ring *ring);

/* ---- readers: join, leave, dependencies ---------------------------------- */

/*
 * iobuf_ring_reader_add - add a reader that starts at the published cursor.
 *
 * @deps lists @ndeps active readers this one depends on: it will see an
 * entry only after all of them released it (NULL when @ndeps is 0).  The
 * new reader uses the ring's wait strategy until iobuf_ring_reader_set_wait().
 *
 * Returns the reader's id (0 .. max_readers-1), or -EINVAL for a NULL
 * @ring, @ndeps < 0 or > max_readers, NULL @deps with @ndeps > 0, a
 * dependency that is not an active reader, or when max_readers readers are
 * already active (too many readers).  A failed call changes nothing.
 *
 * Orders: in lossless mode the writer, from its next claim on, never
 * reuses a slot the new reader has not released (the join is a Dekker
 * handshake with the writer's refresh of its gate: D3 in doc/design.md),
 * and on a retiring ring no entry at or after its start is retired before
 * it releases it (the same handshake with every retirer).  On a retiring
 * ring it then retires what became retirable (D4).
 * Any thread, concurrently with the writer and other readers; blocking
 * (takes the ring's control mutex).
 */
IOBUF_API int iobuf_ring_reader_add(struct iobuf_ring *ring, const int *deps, int ndeps);

/*
 * iobuf_ring_reader_remove - make reader @reader leave the ring.
 *
 * Returns 0, -EINVAL for a bad or inactive @reader, or -EBUSY while an
 * active reader depends on it (change that reader's dependencies first).
 * Its id may be handed out again by iobuf_ring_reader_add().
 *
 * Orders: releases every entry the reader held (R2); a writer blocked on
 * it is woken.  On a retiring ring the entries that no other reader holds
 * are retired before it returns (here or by a concurrent retirer, D4):
 * a leaving reader strands nothing.
 * No call on @reader may overlap it; other calls may; blocking (mutex,
 * maybe a futex wake).
 */
IOBUF_API int iobuf_ring_reader_remove(struct iobuf_ring *ring, int reader);

/*
 * iobuf_ring_reader_set_deps - replace the dependencies of @reader.
 *
 * Returns 0, or -EINVAL for a bad or inactive @reader, a bad dependency
 * (as iobuf_ring_reader_add()), or a dependency cycle (including @reader
 * on itself); on error the old dependencies stay.
 *
 * Orders: the reader's next poll uses the new barrier; entries it already
 * polled are not taken back.  Sleeping readers are woken to re-check; a
 * reader going to sleep meanwhile waits by the old dependencies or by the
 * new ones, and is woken by what makes its entries readable under the
 * ones it last checked (D7: a release of a new dependency, or a publish
 * once it has none).
 * Any thread; blocking (mutex).
 */
IOBUF_API int iobuf_ring_reader_set_deps(struct iobuf_ring *ring, int reader, const int *deps, int ndeps);

/*
 * iobuf_ring_reader_set_wait - set how @reader waits in iobuf_ring_wait().
 *
 * @spins 0 means IOBUF_RING_DEFAULT_SPINS.  Returns 0, or -EINVAL for a bad
 * or inactive @reader, an unknown strategy, or IOBUF_RING_BLOCK on a ring
 * that is neither BLOCK nor created with IOBUF_RING_MAY_BLOCK.
 * Orders nothing.  The reader's own thread; wait-free.
 */
IOBUF_API int iobuf_ring_reader_set_wait(struct iobuf_ring *ring, int reader, enum iobuf_ring_wait wait,
					 uint32_t spins);

/* ---- the writer ----------------------------------------------------------- */

/*
 * iobuf_ring_try_claim - claim the next @n sequences without waiting.
 *
 * On success *@seq is the first; entries @seq .. @seq+@n-1 are the
 * writer's to fill until it publishes them.  Claims are all or nothing.
 *
 * Returns 0; -EAGAIN in lossless mode when a reader has not yet released
 * the entries those slots hold (the ring is full; on a retiring ring, when
 * they are not yet retired); -EINVAL for a NULL argument, @n < 1 or @n >
 * capacity, or @n more than capacity minus the entries already claimed and
 * not published.
 *
 * Orders: in lossless mode a successful claim acquires the releases of
 * every reader (A2, pairs with R2 in iobuf_ring_release()): their reads of
 * the reused slots are done; on a retiring ring it acquires the reclaimed
 * count instead (A7, pairs with R7 in the retirer): the hook is done with
 * the reused slots.  In lossy mode it marks the slots as being written
 * (F1) before any new byte can be seen; on a retiring lossy ring it then
 * calls the hook for the entries those slots held and stores the new
 * reclaimed count (R7, pairs with A7 in iobuf_ring_reclaimed()).
 * The writer only; wait-free (a gate refresh reads max_readers words); on
 * a retiring ring a refresh may retire entries, and a lossy claim retires
 * up to @n: as the hook (a bcast ring's put is lock-free).
 */
IOBUF_API int iobuf_ring_try_claim(struct iobuf_ring *ring, int n, uint64_t *seq);

/*
 * iobuf_ring_claim - claim the next @n sequences, waiting with the ring's
 * strategy while the ring is full.
 *
 * @timeout_ns is the longest wait (0: do not wait; IOBUF_RING_FOREVER: no
 * limit).  Returns 0, -ETIMEDOUT when the ring stayed full, or -EINVAL as
 * iobuf_ring_try_claim().  In lossy mode it never waits.
 *
 * Orders as iobuf_ring_try_claim().  The writer only; blocking.
 */
IOBUF_API int iobuf_ring_claim(struct iobuf_ring *ring, int n, uint64_t *seq, int64_t timeout_ns);

/*
 * iobuf_ring_entry - the address of entry @seq's payload (entry_size bytes,
 * 8-byte aligned).
 *
 * The writer fills claimed entries through it (lossless mode); a lossless
 * reader reads polled, unreleased entries through it in place.  It does not
 * check @seq.  In lossy mode readers must copy out with iobuf_ring_read()
 * and the writer should fill with iobuf_ring_write().
 * Orders nothing; any thread; wait-free.
 */
static inline void *iobuf_ring_entry(struct iobuf_ring *ring, uint64_t seq)
{
	const struct iobuf_ring_slots *s = (const struct iobuf_ring_slots *)(const void *)ring;

	return s->base + (size_t)(seq & s->mask) * s->stride;
}

/*
 * iobuf_ring_write - copy entry_size bytes from @src into claimed entry @seq.
 *
 * Returns 0, or -EINVAL for a NULL argument or a @seq that is not claimed
 * and unpublished.  In lossy mode the copy is made of relaxed atomic words,
 * so a reader copying the same slot (about to find it overwritten) is not a
 * data race.
 * Orders nothing by itself: iobuf_ring_publish() releases the bytes.
 * The writer only; wait-free.
 */
IOBUF_API int iobuf_ring_write(struct iobuf_ring *ring, uint64_t seq, const void *src);

/*
 * iobuf_ring_publish - publish claimed entries @seq .. @seq+@n-1.
 *
 * Entries are published in order: @seq must be the first claimed,
 * unpublished sequence and @n at most the number claimed after it.
 *
 * Returns 0, or -EINVAL for a NULL @ring, @n < 1, or a range that is not
 * claimed (publishing an unclaimed sequence); a refused publish changes
 * nothing.
 *
 * Orders: publish releases the entries' bytes to every reader whose poll
 * or wait returns the sequences (R1, pairs with A1 in iobuf_ring_poll();
 * in lossy mode also R3 on each slot's stamp, pairs with A3 in
 * iobuf_ring_read()).  On a ring that may block, a full fence then checks
 * for sleeping readers and wakes them (D1).  On a retiring ring the same
 * fence then checks for readers (D6); with none, the entries are retired
 * at once.
 * The writer only; wait-free, plus one futex wake when a reader sleeps;
 * lock-free on a retiring ring without readers.
 */
IOBUF_API int iobuf_ring_publish(struct iobuf_ring *ring, uint64_t seq, int n);

/* ---- readers -------------------------------------------------------------- */

/*
 * iobuf_ring_poll - how many entries @reader may read now.
 *
 * *@first receives the reader's next sequence.  The entries @first ..
 * @first+count-1 are published and released by every reader @reader
 * depends on.  In lossless mode they stay valid until @reader releases
 * them; in lossy mode copy each out with iobuf_ring_read().
 *
 * Returns the count (>= 0, at most capacity); -EOVERFLOW in lossy mode when
 * the writer lapped the reader: *@missed (when not NULL) receives how many
 * entries were lost, the reader moved past them to the oldest valid entry,
 * now *@first, and the next poll counts from there; -EINVAL for a NULL
 * @ring or @first, or a bad or inactive @reader.  *@missed is 0 otherwise.
 *
 * Orders: acquires the publications of the entries it counts (A1, pairs
 * with R1 in iobuf_ring_publish()) and the releases of the readers it
 * depends on (A4, pairs with R2 in iobuf_ring_release()).
 * The reader's thread; wait-free.
 */
IOBUF_API int iobuf_ring_poll(struct iobuf_ring *ring, int reader, uint64_t *first, uint64_t *missed);

/*
 * iobuf_ring_wait - poll, waiting with the reader's strategy until at least
 * one entry is available, the reader was lapped, or @timeout_ns passed
 * (0: do not wait; IOBUF_RING_FOREVER: no limit).
 *
 * Returns as iobuf_ring_poll() but never 0: -ETIMEDOUT instead.
 * Orders as iobuf_ring_poll().  The reader's thread; blocking.
 */
IOBUF_API int iobuf_ring_wait(struct iobuf_ring *ring, int reader, uint64_t *first, uint64_t *missed,
			      int64_t timeout_ns);

/*
 * iobuf_ring_read - copy entry @seq into @dst (entry_size bytes).
 *
 * @seq must be one the reader's last poll counted and not yet released.
 * In lossy mode the slot's stamp is checked before and after the copy.
 *
 * Returns 0; -EOVERFLOW in lossy mode when the writer overwrote (or is
 * overwriting) the entry: @dst holds garbage, the reader may release only
 * up to @seq, and its next poll reports what it missed; -EINVAL for a NULL
 * argument, a bad or inactive @reader, or a @seq outside what was polled.
 *
 * Orders: in lossy mode acquires the slot's stamp (A3, pairs with R3 in
 * iobuf_ring_publish()); the re-check after the copy is ordered by an
 * acquire fence (F2, pairs with F1 in the writer's claim).
 * The reader's thread; wait-free.
 */
IOBUF_API int iobuf_ring_read(struct iobuf_ring *ring, int reader, uint64_t seq, void *dst);

/*
 * iobuf_ring_release - release every entry of @reader before sequence @upto.
 *
 * @upto is one past the last entry consumed (first + count for a whole
 * batch); it may not go back nor past what the reader's polls counted (nor,
 * in lossy mode, past an entry iobuf_ring_read() found overwritten).
 *
 * Returns 0, or -EINVAL for a NULL @ring, a bad or inactive @reader, or an
 * @upto outside that range (releasing beyond what was read); a refused
 * release changes nothing.
 *
 * Orders: releases the reader's reads of those entries to the writer (R2,
 * pairs with A2 in the claim), to the readers that depend on it (pairs
 * with A4 in their poll) and, on a retiring ring, to whoever retires them
 * (pairs with A6 in the retirer, so the hook, and a bcast ring's put of
 * the buffer, come after every reader's use).  On a ring that may block,
 * or a retiring ring, a full fence then checks for sleepers (D2) and for
 * entries this release made retirable (D4), which it retires when it was
 * at the reclaimed count and no other thread is retiring.
 * The reader's thread; wait-free, plus one futex wake when someone sleeps;
 * lock-free on a retiring ring (it may retire what other readers released).
 */
IOBUF_API int iobuf_ring_release(struct iobuf_ring *ring, int reader, uint64_t upto);

/* ---- queries -------------------------------------------------------------- */

/*
 * iobuf_ring_cursor - the published cursor: how many entries were published.
 *
 * Returns the cursor (0 for a NULL @ring).  Acquires the publication of the
 * entries below it.  Any thread; wait-free.
 */
IOBUF_API uint64_t iobuf_ring_cursor(const struct iobuf_ring *ring);

/*
 * iobuf_ring_lag - how many published entries @reader has not released.
 *
 * Returns the lag (>= 0; in lossy mode it may exceed the capacity when the
 * reader has been lapped and not yet polled), or -EINVAL for a NULL @ring or
 * a bad or inactive @reader.  A snapshot: both ends may move.
 * Orders nothing.  Any thread; wait-free.
 */
IOBUF_API int64_t iobuf_ring_lag(const struct iobuf_ring *ring, int reader);

/*
 * iobuf_ring_slowest_lag - the lag of the slowest reader: the backpressure
 * on the writer.
 *
 * *@reader (when not NULL) receives the slowest reader's id, or -1 when
 * there is no reader.  Returns the lag (>= 0; 0 without readers), or
 * -EINVAL for a NULL @ring.  A snapshot.
 * Orders nothing.  Any thread; wait-free (reads max_readers words).
 */
IOBUF_API int64_t iobuf_ring_slowest_lag(const struct iobuf_ring *ring, int *reader);

/*
 * iobuf_ring_reclaimed - how many entries were retired: every entry below
 * the returned sequence went through the ring's on_retire hook (on a bcast
 * ring: its buffer is back in its pool).
 *
 * Returns the reclaimed count, at most the cursor; 0 for a NULL @ring or a
 * ring without a hook.  cursor - reclaimed is how many entries (buffers)
 * the ring still holds.  A snapshot.
 * Orders: acquires the retirement of the entries below it (A7, pairs with
 * R7 in the retirer): their hook calls are done.  Any thread; wait-free.
 */
IOBUF_API uint64_t iobuf_ring_reclaimed(const struct iobuf_ring *ring);

IOBUF_END_DECLS

#endif /* IOBUF_RING_H */
