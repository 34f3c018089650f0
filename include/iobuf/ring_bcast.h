/* SPDX-License-Identifier: MIT */
/*
 * iobuf/ring_bcast.h - broadcast pooled buffers to every reader of a ring.
 *
 * A bcast ring is an iobuf_ring (iobuf/ring.h) of buffer handles whose
 * entries each hold one holder (iobuf/slice.h) of their buffer, of an
 * iobuf_set (iobuf/tiers.h): the writer hands buffers over with
 * iobuf_ring_bcast(), and the ring's on_retire hook puts each handle back
 * when the entry retires.  Everything else is the ring's: readers poll,
 * read, release, join, leave and depend on each other with the
 * iobuf_ring_* calls, and iobuf_ring_reclaimed() says how many entries
 * dropped their holder.  Two modes, as the ring's:
 *
 *  - Lossless: every reader sees every handle; an entry retires when the
 *    last reader that could see it released it (or left), or when the ring
 *    is destroyed.  Readers may use the buffer between a poll and the
 *    release without holding it (iobuf_ring_read(), or in place), or take
 *    a holder with iobuf_ring_bcast_read() to keep it longer.
 *  - Lossy: the writer never waits; an entry retires when the writer laps
 *    it (claims its slot again), whatever readers are doing.  A reader
 *    must hold what it reads: iobuf_ring_bcast_read() copies the handle
 *    and adds the reader's holder, or, when the writer lapped the entry and
 *    its buffer already went back, refuses with -EOVERFLOW and the entry
 *    counts as missed.  A reader is never handed a buffer that went back,
 *    let alone one handed out again: what it holds carries the bytes of
 *    the entry it asked for until it puts it.  A lapped reader's next poll
 *    says how many entries it missed, as on any lossy ring.
 *
 * Synchronization: as iobuf/ring.h, where iobuf_ring_bcast() is one of the
 * writer's calls and iobuf_ring_bcast_read() one of reader r's; the set may
 * be used by any thread meanwhile (a reader puts its slices from any).
 */
#ifndef IOBUF_RING_BCAST_H
#define IOBUF_RING_BCAST_H

#include <stdint.h>

#include <iobuf/common.h>
#include <iobuf/pool.h>
#include <iobuf/ring.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

IOBUF_BEGIN_DECLS

/*
 * iobuf_ring_create_bcast - a ring that broadcasts pooled buffers of @set.
 *
 * A ring of 8-byte entries (@cfg->entry_size must be
 * sizeof(iobuf_handle_t)) whose on_retire hook puts each entry's handle
 * back into @set, dropping the holder the entry owns: the writer hands
 * buffers over with iobuf_ring_bcast().
 *
 * Lossless (@cfg->mode IOBUF_RING_LOSSLESS): every reader reads the handle
 * of each entry (iobuf_ring_read(), or in place), uses the buffer
 * read-only or as the pipeline agrees, and never puts that handle; the
 * entry of @seq drops its holder exactly once, when the last reader that
 * could see @seq released it or left, or at iobuf_ring_destroy().  A
 * broadcast nobody listens to (no reader) goes back at once.
 *
 * Lossy (IOBUF_RING_LOSSY): the writer never waits for readers; the entry
 * of @seq drops its holder when the writer claims @seq + capacity (or at
 * iobuf_ring_destroy()), and readers hold what they read with
 * iobuf_ring_bcast_read().  A buffer goes back to its pool when the last
 * of the entry and the readers that hold it puts it.
 *
 * Returns the ring, or NULL with *@err set to -EINVAL for a NULL @set, an
 * entry size other than 8, an on_retire hook or retire_ctx of the
 * caller's, or any reason of iobuf_ring_create(); -ENOMEM; the -errno of
 * pthread_mutex_init().  @set must outlive the ring.
 *
 * Orders as iobuf_ring_create().  Any thread; blocking (allocates).
 */
IOBUF_API struct iobuf_ring *iobuf_ring_create_bcast(const struct iobuf_ring_config *cfg, struct iobuf_set *set,
						     int *err);

/*
 * iobuf_ring_bcast - hand @n buffer handles to every reader of bcast ring
 * @ring, in order: claim @n entries (waiting with the ring's strategy up to
 * @timeout_ns while the ring is full; 0: do not wait; IOBUF_RING_FOREVER:
 * no limit), store the handles, publish them.
 *
 * On success the ring owns one holder of each buffer and puts it back
 * into the set exactly once, when the entry retires (see
 * iobuf_ring_create_bcast()); the caller must not put it, nor broadcast
 * the same holder twice (hold the buffer first, iobuf_hold(), to keep one
 * of its own).  On failure nothing was published and the handles remain
 * the caller's.  On a lossy ring the claim first drops the holders of the
 * entries it laps (those @n slots held), whether readers still read them
 * or not; it never waits, so @timeout_ns does not matter there.
 *
 * Returns 0; -ETIMEDOUT when a lossless ring stayed full (its readers or the
 * retirement lag behind); -EINVAL for a NULL @ring or @hs, a ring not
 * made by iobuf_ring_create_bcast(), @n < 1 or above the capacity, entries
 * the writer claimed and has not published yet (publish them first), or a
 * handle that is not a live handle of the ring's set (none is published
 * then).
 *
 * Orders: as iobuf_ring_claim() then iobuf_ring_publish(): the readers
 * that poll the entries see the handles and every byte the caller wrote
 * into the buffers before the call (R1/A1, and R3/A3 on a lossy ring).
 * The writer only; blocking up to @timeout_ns (the claim), else as
 * iobuf_ring_publish(); on a lossy ring lock-free (a put per lapped entry).
 */
IOBUF_API int iobuf_ring_bcast(struct iobuf_ring *ring, const iobuf_handle_t *hs, int n, int64_t timeout_ns);

/*
 * iobuf_ring_bcast_read - take a holder of the buffer of entry @seq of bcast
 * ring @ring, as reader @reader: *@s becomes a slice of the whole buffer,
 * [0, iobuf_len()), that holds it until the caller puts it
 * (iobuf_slice_put(), from any thread, before or after releasing @seq).
 *
 * @seq must be one the reader's last poll counted and not yet released,
 * as for iobuf_ring_read().  The usual loop: poll (or wait), bcast_read
 * each entry, release; on -EOVERFLOW release up to the entry refused and
 * poll again, which reports what was missed.
 *
 * Returns 0; -EOVERFLOW on a lossy ring when the writer lapped the entry
 * before the reader held its buffer (its stamp was overwritten, or the
 * entry's holder was dropped and the buffer went back, even if it was
 * handed out again since): nothing is held, the reader may release only
 * up to @seq, and its next poll moves past @seq and counts it missed;
 * -EMLINK when the buffer already has IOBUF_HOLDERS_MAX holders; -EINVAL
 * for a NULL argument, a ring not made by iobuf_ring_create_bcast(), a bad
 * or inactive @reader, or a @seq outside what was polled; on a lossless
 * ring, -EALREADY or -ESTALE when the entry's buffer was put behind the
 * ring's back (broadcast twice, or put by its sender).  On any error *@s
 * is IOBUF_SLICE_NONE and nothing is held.
 *
 * Orders: as iobuf_ring_read(): the reader sees the bytes written into the
 * buffer before its broadcast (R1/A1, lossy R3/A3).  The hold orders
 * nothing; the put of the slice releases the reader's reads to the
 * buffer's next owner (H1, A2, P1).
 * The reader's thread; lock-free (the hold's compare-and-swap may race the
 * writer's drop and other readers' holds).
 */
IOBUF_API int iobuf_ring_bcast_read(struct iobuf_ring *ring, int reader, uint64_t seq, struct iobuf_slice *s);

IOBUF_END_DECLS

#endif /* IOBUF_RING_BCAST_H */
