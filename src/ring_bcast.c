/* SPDX-License-Identifier: MIT */
/*
 * ring_bcast.c - broadcast pooled buffers through a ring: a layer above
 * the ring and the sets, made of their public calls.
 *
 * A bcast ring is a plain lossless ring of handles whose on_retire hook
 * puts each handle back into the ring's set.  The ring decides when an
 * entry retires (every reader that could see it released it, or left);
 * this file only says what retiring a handle means.  A bcast ring is told
 * from other rings by its hook (iobuf__ring_retire_ctx()), whose context
 * is the set.
 *
 * Ordering: the hook runs after the retirer acquired every reader's
 * release of the entry (A6 in ring.c), so the put comes after every
 * reader's use of the buffer, and the put is the pool's release to the
 * buffer's next owner (P1).  A broadcast publishes the handles, and the
 * bytes the caller wrote into the buffers before, with the ring's publish
 * (R1/A1).  Nothing here spells an ordering of its own.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <iobuf/ring_bcast.h>

#include "ring.h"

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

	if (cfg == NULL || set == NULL || cfg->entry_size != sizeof(iobuf_handle_t) ||
	    cfg->mode != IOBUF_RING_LOSSLESS || cfg->on_retire != NULL || cfg->retire_ctx != NULL) {
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
	for (int i = 0; i < n; i++)
		memcpy(iobuf_ring_entry(ring, seq + (uint64_t)i), &hs[i], sizeof(hs[i]));
	return iobuf_ring_publish(ring, seq, n);
}
