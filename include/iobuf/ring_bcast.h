/* SPDX-License-Identifier: MIT */
/*
 * iobuf/ring_bcast.h - broadcast pooled buffers to every reader of a ring.
 *
 * A bcast ring is an iobuf_ring (iobuf/ring.h) of buffer handles whose
 * on_retire hook puts each handle back into an iobuf_set (iobuf/tiers.h):
 * the writer hands buffers over with iobuf_ring_bcast(), every reader sees
 * every handle, and each buffer goes back to its pool exactly once, when
 * the last reader that could see it released it (or left), or when the
 * ring is destroyed.  Everything else is the ring's: readers poll, read,
 * release, join, leave and depend on each other with the iobuf_ring_*
 * calls, and iobuf_ring_reclaimed() says how many buffers went back.
 *
 * Synchronization: as iobuf/ring.h, where iobuf_ring_bcast() is one of the
 * writer's calls; the set may be used by any thread meanwhile.
 */
#ifndef IOBUF_RING_BCAST_H
#define IOBUF_RING_BCAST_H

#include <stdint.h>

#include <iobuf/common.h>
#include <iobuf/pool.h>
#include <iobuf/ring.h>
#include <iobuf/tiers.h>

IOBUF_BEGIN_DECLS

/*
 * iobuf_ring_create_bcast - a ring that broadcasts pooled buffers of @set.
 *
 * A lossless ring of 8-byte entries (@cfg->entry_size must be
 * sizeof(iobuf_handle_t), @cfg->mode IOBUF_RING_LOSSLESS) whose on_retire
 * hook puts each entry's handle back into @set: the writer hands buffers
 * over with iobuf_ring_bcast(), every reader reads the handle of each
 * entry (iobuf_ring_read(), or in place), uses the buffer read-only or as
 * the pipeline agrees, and never puts it; the buffer of entry @seq goes
 * back to its pool exactly once, when the last reader that could see @seq
 * released it or left, or at iobuf_ring_destroy().  A broadcast nobody
 * listens to (no reader) goes back at once.  Lossy rings cannot carry
 * buffers: their writer never waits for readers, so a reader could still
 * be using a buffer the writer returned.
 *
 * Returns the ring, or NULL with *@err set to -EINVAL for a NULL @set, an
 * entry size other than 8, a lossy mode, an on_retire hook or retire_ctx
 * of the caller's, or any reason of iobuf_ring_create(); -ENOMEM; the
 * -errno of pthread_mutex_init().  @set must outlive the ring.
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
 * On success the ring owns one reference to each buffer and puts it back
 * into the set exactly once, after every reader released it (see
 * iobuf_ring_create_bcast()); the caller must not put it, nor broadcast
 * the same reference twice.  On failure nothing was published and the
 * handles remain the caller's.
 *
 * Returns 0; -ETIMEDOUT when the ring stayed full (its readers or the
 * retirement lag behind); -EINVAL for a NULL @ring or @hs, a ring not
 * made by iobuf_ring_create_bcast(), @n < 1 or above the capacity, entries
 * the writer claimed and has not published yet (publish them first), or a
 * handle that is not a live handle of the ring's set (none is published
 * then).
 *
 * Orders: as iobuf_ring_claim() then iobuf_ring_publish(): the readers
 * that poll the entries see the handles and every byte the caller wrote
 * into the buffers before the call (R1/A1).
 * The writer only; blocking up to @timeout_ns (the claim), else as
 * iobuf_ring_publish().
 */
IOBUF_API int iobuf_ring_bcast(struct iobuf_ring *ring, const iobuf_handle_t *hs, int n, int64_t timeout_ns);

IOBUF_END_DECLS

#endif /* IOBUF_RING_BCAST_H */
