/* SPDX-License-Identifier: MIT */
/*
 * ring_bcast.c - broadcast pooled buffers through a ring: a layer above
 * the ring and the sets, made of their public calls.
 *
 * A bcast ring is a plain ring of handles whose on_retire hook puts each
 * handle back into the ring's set: the ring's holder of the buffer.  The
 * ring decides when an entry retires (lossless: every reader that could
 * see it released it, or left; lossy: the writer claimed its slot again);
 * this file only says what retiring a handle means, and how a reader
 * takes a holder of its own (iobuf_ring_bcast_read()).  A bcast ring is
 * told from other rings by its hook (iobuf__ring_retire_ctx()), whose
 * context is the set.
 *
 * Ordering, lossless: the hook runs after the retirer acquired every
 * reader's release of the entry (A6 in ring.c), so the put comes after
 * every reader's use of the buffer, and the put is the pool's release to
 * the buffer's next owner (P1).  A broadcast publishes the handles, and
 * the bytes the caller wrote into the buffers before, with the ring's
 * publish (R1/A1).
 *
 * Lossy: the writer drops the ring's holder when it laps the entry, while
 * readers may be about to hold the buffer.  A reader copies the handle
 * out (A3 on the stamp: the handle and the buffer's bytes, R3 in the
 * publish), then adds its holder.  The add and the writer's drop are
 * read-modify-writes of the one slot word (iobuf/slot.h), so one comes
 * first: the add, and the drop only lowers the count (the buffer stays
 * the one of that entry until the reader's own put); or the drop of the
 * last holder, and the add finds the generation moved on (-EALREADY, or
 * -ESTALE once the buffer was handed out again) and is refused.  A buffer
 * that came back to the same index carries another generation, so the
 * stale handle is refused too.  A refused reader was lapped: the ring
 * skips the entry (iobuf__ring_read_lapped()).  The reader's put is the
 * release of its reads (H1, or A2 and then P1 when it is the last).
 * Nothing here spells an ordering of its own.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <iobuf/ring_bcast.h>
#include <iobuf/slice.h>

#include "ring.h"

#ifdef IOBUF_RING_STEPS
void (*iobuf__ring_bcast_step_hook)(struct iobuf_ring *ring, int reader, uint64_t seq, iobuf_handle_t h);
#define BCAST_STEP(ring, reader, seq, h)                                                                               \
	do {                                                                                                           \
		if (iobuf__ring_bcast_step_hook)                                                                       \
			iobuf__ring_bcast_step_hook((ring), (reader), (seq), (h));                                     \
	} while (0)
#else
#define BCAST_STEP(ring, reader, seq, h) ((void)0)
#endif

/* The hook of a bcast ring: the entry is a handle of the ring's set; put it back. */
static void bcast_put_handle(void *set, uint64_t seq, void *entry)
{
	iobuf_handle_t h;

	(void)seq;
	memcpy(&h, entry, sizeof(h));
	/* A refusal (a handle broadcast twice, or put by its owner too) is counted by the pool. */
	(void)iobuf_put(set, h);
}

struct iobuf_ring *iobuf_ring_create_bcast(const struct iobuf_ring_config *cfg, struct iobuf_set *set, int *err)
{
	struct iobuf_ring_config c;

	if (cfg == NULL || set == NULL || cfg->entry_size != sizeof(iobuf_handle_t) || cfg->on_retire != NULL ||
	    cfg->retire_ctx != NULL) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	c = *cfg;
	c.on_retire = bcast_put_handle;
	c.retire_ctx = set;
	return iobuf_ring_create(&c, err);
}

int iobuf_ring_bcast(struct iobuf_ring *ring, const iobuf_handle_t *hs, int n, int64_t timeout_ns)
{
	struct iobuf_set *set = iobuf__ring_retire_ctx(ring, bcast_put_handle);
	uint64_t seq;
	int rc;

	if (set == NULL || hs == NULL || n < 1 || (uint64_t)n > iobuf__ring_capacity(ring))
		return -EINVAL;
	/* Entries publish in order: ours could not go out before the writer's own pending claim. */
	if (iobuf__ring_unpublished(ring) != 0)
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (iobuf_buf(set, hs[i]) == NULL)
			return -EINVAL; /* not a live handle of the set: nothing published */
	rc = iobuf_ring_claim(ring, n, &seq, timeout_ns);
	if (rc < 0)
		return rc;
	/* Lossy, the claim retired the entries the slots held; the write is atomic words beside copying readers. */
	for (int i = 0; i < n; i++)
		(void)iobuf_ring_write(ring, seq + (uint64_t)i, &hs[i]); /* cannot fail: claimed just now */
	return iobuf_ring_publish(ring, seq, n);
}

int iobuf_ring_bcast_read(struct iobuf_ring *ring, int reader, uint64_t seq, struct iobuf_slice *s)
{
	struct iobuf_set *set = iobuf__ring_retire_ctx(ring, bcast_put_handle);
	iobuf_handle_t h;
	int rc;

	if (s == NULL)
		return -EINVAL;
	*s = IOBUF_SLICE_NONE;
	if (set == NULL)
		return -EINVAL;
	/* A3 (lossy): the handle and the bytes written before its publish; -EOVERFLOW when overwritten. */
	rc = iobuf_ring_read(ring, reader, seq, &h);
	if (rc < 0)
		return rc;
	BCAST_STEP(ring, reader, seq, h);
	/* Lossy, the writer may drop the ring's holder meanwhile: our add comes before the last drop, or is refused. */
	rc = iobuf_hold(set, h, 1);
	if ((rc == -EALREADY || rc == -ESTALE) && iobuf__ring_read_lapped(ring, reader, seq) == 0)
		return -EOVERFLOW; /* lossy: lapped, and its buffer already back; the next poll counts it missed */
	if (rc == -EOVERFLOW)
		return -EMLINK; /* IOBUF_HOLDERS_MAX: -EOVERFLOW says "lapped" on a ring */
	if (rc < 0)
		return rc; /* lossless: the buffer was put behind the ring's back */
	/* We hold the buffer: it is live, so the slice cannot be refused. */
	(void)iobuf_slice_from(set, h, s);
	return 0;
}
