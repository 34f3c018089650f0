/* SPDX-License-Identifier: MIT */
/*
 * builder.c - frames built in pooled buffers and frozen into slices.
 *
 * The builder holds one holder of its current buffer (h); each frozen
 * slice holds another.  The frame being built is [start, start + len) of
 * that buffer, and the last iobuf_builder_writable() granted `room`
 * bytes after it.  Nothing here is shared with other threads but through
 * the slices, whose holders order their bytes as any put does.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <iobuf/account.h>
#include <iobuf/builder.h>
#include <iobuf/cache.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#include "account.h"
#include "tiers.h"

#define HINT_DEFAULT 4096

struct iobuf_builder {
	struct iobuf_set *set;
	struct iobuf_cache *cache;
	struct iobuf_account *acct;
	size_t hint;
	iobuf_handle_t h; /* IOBUF_HANDLE_NONE until the first write, and once a buffer is used up */
	uint8_t *base;
	size_t cap;
	size_t start, len, room;
};

struct iobuf_builder *iobuf_builder_create(struct iobuf_set *set, const struct iobuf_builder_config *cfg, int *err)
{
	struct iobuf_builder *b;
	int rc = -EINVAL;

	if (!set || (cfg && cfg->hint > IOBUF_MAX_SIZE))
		goto fail;
	/* Every buffer comes from @set: a cache or an account of another set (or a pool's cache) would hand out others. */
	if (cfg && ((cfg->cache && !iobuf__cache_of_set(cfg->cache, set)) ||
		    (cfg->acct && iobuf__account_set(cfg->acct) != set)))
		goto fail;
	rc = -ENOMEM;
	b = calloc(1, sizeof(*b));
	if (!b)
		goto fail;
	b->set = set;
	b->cache = cfg ? cfg->cache : NULL;
	b->acct = cfg ? cfg->acct : NULL;
	b->hint = cfg && cfg->hint ? cfg->hint : HINT_DEFAULT;
	if (err)
		*err = 0;
	return b;
fail:
	if (err)
		*err = rc;
	return NULL;
}

static int take(struct iobuf_builder *b, size_t size, iobuf_handle_t *h)
{
	if (b->acct)
		return b->cache ? iobuf_account_get_cached(b->acct, b->cache, size, h) : iobuf_account_get(b->acct, size, h);
	return b->cache ? iobuf_cache_get(b->cache, size, h) : iobuf_get(b->set, size, h);
}

/* The builder holds no buffer any more (it gave its holder up, or over to a slice). */
static void forget(struct iobuf_builder *b)
{
	b->h = IOBUF_HANDLE_NONE;
	b->base = NULL;
	b->cap = b->start = 0;
}

/* Drop the builder's holder of its buffer (frozen slices keep theirs). */
static void let_go(struct iobuf_builder *b)
{
	if (b->h != IOBUF_HANDLE_NONE)
		(void)(b->cache ? iobuf_cache_put(b->cache, b->h) : iobuf_put(b->set, b->h));
	forget(b);
}

void iobuf_builder_destroy(struct iobuf_builder *b)
{
	if (!b)
		return;
	let_go(b);
	free(b);
}

/*
 * Whether the builder's buffer is still held.  Holders are counted, not
 * named: a slice holder that puts twice puts the builder's holder, and the
 * buffer goes back (and out again).  Then the frame is lost, and the
 * builder forgets the buffer rather than write into, or put, another
 * hand-out's: the refusal of iobuf_holders() (-EALREADY, -ESTALE).
 */
static int still_held(struct iobuf_builder *b)
{
	int rc = b->h == IOBUF_HANDLE_NONE ? 0 : iobuf_holders(b->set, b->h);

	if (rc >= 0)
		return 0;
	forget(b);
	b->len = b->room = 0;
	return rc;
}

int iobuf_builder_writable(struct iobuf_builder *b, size_t len, void **p, size_t *room)
{
	size_t need, size;
	iobuf_handle_t h;
	uint8_t *base;
	int rc;

	if (!b || !p || len == 0)
		return -EINVAL;
	rc = still_held(b);
	if (rc < 0)
		return rc;
	if (b->h == IOBUF_HANDLE_NONE || len > b->cap - b->start - b->len) {
		if (len > iobuf__set_max_size(b->set) - b->len)
			return -EMSGSIZE;
		need = b->len + len;
		/* At least the hint, moving too: a frame no longer than the hint then moves once at most. */
		size = b->hint > need ? b->hint : need;
		rc = take(b, size, &h);
		if (rc < 0)
			return rc;
		base = iobuf_buf(b->set, h);
		/* The frame's bytes so far move once; the frozen ones stay where their slices are. */
		if (b->len)
			memcpy(base, b->base + b->start, b->len);
		let_go(b);
		b->h = h;
		b->base = base;
		b->cap = iobuf_capacity(b->set, h);
	}
	b->room = b->cap - b->start - b->len;
	*p = b->base + b->start + b->len;
	if (room)
		*room = b->room;
	return 0;
}

int iobuf_builder_commit(struct iobuf_builder *b, size_t n)
{
	if (!b)
		return -EINVAL;
	if (n > b->room)
		return -ERANGE;
	b->len += n;
	b->room -= n;
	return 0;
}

int iobuf_builder_append(struct iobuf_builder *b, const void *src, size_t n)
{
	void *p;
	int rc;

	if (!b || (!src && n))
		return -EINVAL;
	if (n == 0)
		return 0;
	rc = iobuf_builder_writable(b, n, &p, NULL);
	if (rc < 0)
		return rc;
	memcpy(p, src, n);
	return iobuf_builder_commit(b, n);
}

size_t iobuf_builder_len(const struct iobuf_builder *b)
{
	return b ? b->len : 0;
}

int iobuf_builder_freeze(struct iobuf_builder *b, struct iobuf_slice *s)
{
	int rc;

	if (!b || !s)
		return -EINVAL;
	*s = IOBUF_SLICE_NONE;
	if (b->len == 0)
		return -ENODATA;
	rc = still_held(b);
	if (rc < 0)
		return rc;
	/* A frame that fills the buffer takes the builder's own holder over: no hold, and no shared put after. */
	if (b->start + b->len < b->cap) {
		rc = iobuf_hold(b->set, b->h, 1);
		if (rc < 0)
			return rc;
	}
	*s = (struct iobuf_slice){b->h, (uint32_t)b->start, (uint32_t)b->len};
	(void)iobuf_setlen(b->set, b->h, b->start + b->len);
	b->start += b->len;
	b->len = b->room = 0;
	if (b->start == b->cap)
		forget(b); /* used up: the slices alone hold it, and the last put returns it */
	return 0;
}

int iobuf_builder_abort(struct iobuf_builder *b)
{
	if (!b)
		return -EINVAL;
	b->len = b->room = 0;
	return 0;
}
