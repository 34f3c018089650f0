/* SPDX-License-Identifier: MIT */
/*
 * slice.c - shared buffers of a set: holders, lengths and slices.
 *
 * The holder count and the length live in the pool's slot and length
 * words (src/pool.c, iobuf/slot.h); this file routes a set's handle to its
 * tier's pool and does the arithmetic of slices.  Nothing here is atomic
 * but what the pool does.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <iobuf/cache.h>
#include <iobuf/pool.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#include "tiers.h"

/* The pool of @h in @set: its tier's or the fallback's (NULL for a NULL set or an absent tier: the callers' -EINVAL). */
static inline struct iobuf_pool *pool_of(const struct iobuf_set *set, iobuf_handle_t h)
{
	return iobuf__set_route(set, h);
}

/*
 * True when @s lies within its buffer: [off, off + len) inside the tier's
 * size (a standalone pool's handle names no tier: nothing is inside).  The
 * one check of a slice's range, written so that no sum can wrap.
 */
static inline bool in_buffer(const struct iobuf_set *set, const struct iobuf_slice *s)
{
	struct iobuf_pool *p = pool_of(set, s->h);
	size_t cap = p ? iobuf_pool_buf_size(p) : 0; /* whether live or not: the hold or the lookup says that */

	return s->off <= cap && s->len <= cap - s->off;
}

int iobuf_hold(struct iobuf_set *set, iobuf_handle_t h, uint32_t n)
{
	return iobuf_pool_hold(pool_of(set, h), h, n);
}

int iobuf_holders(const struct iobuf_set *set, iobuf_handle_t h)
{
	return iobuf_pool_holders(pool_of(set, h), h);
}

ssize_t iobuf_len(const struct iobuf_set *set, iobuf_handle_t h)
{
	return iobuf_pool_len(pool_of(set, h), h);
}

int iobuf_setlen(struct iobuf_set *set, iobuf_handle_t h, size_t len)
{
	return iobuf_pool_setlen(pool_of(set, h), h, len);
}

int iobuf_slice_from(const struct iobuf_set *set, iobuf_handle_t h, struct iobuf_slice *s)
{
	ssize_t len;

	if (!s)
		return -EINVAL;
	*s = IOBUF_SLICE_NONE;
	len = iobuf_len(set, h);
	if (len < 0)
		return (int)len;
	*s = (struct iobuf_slice){h, 0, (uint32_t)len};
	return 0;
}

int iobuf_slice_clone(struct iobuf_set *set, const struct iobuf_slice *s, struct iobuf_slice *copy)
{
	int rc;

	if (!s || !copy)
		return -EINVAL;
	rc = iobuf_hold(set, s->h, 1);
	*copy = rc < 0 ? IOBUF_SLICE_NONE : *s;
	return rc;
}

int iobuf_slice_split(struct iobuf_set *set, struct iobuf_slice *s, size_t at, struct iobuf_slice *tail)
{
	int rc;

	if (!s || !tail)
		return -EINVAL;
	*tail = IOBUF_SLICE_NONE;
	if (!in_buffer(set, s))
		return -EINVAL; /* a tail of it would name bytes it never had */
	if (at > s->len)
		return -ERANGE;
	rc = iobuf_hold(set, s->h, 1);
	if (rc < 0)
		return rc;
	*tail = (struct iobuf_slice){s->h, s->off + (uint32_t)at, s->len - (uint32_t)at};
	s->len = (uint32_t)at;
	return 0;
}

void *iobuf_slice_buf(const struct iobuf_set *set, const struct iobuf_slice *s)
{
	uint8_t *b;

	if (!s)
		return NULL;
	b = iobuf_buf(set, s->h);
	return b && in_buffer(set, s) ? b + s->off : NULL;
}

/* Where a slice's holder goes back: through a cache when there is one, else the set. */
struct putter {
	struct iobuf_set *set;
	struct iobuf_cache *cache;
};

static int put_slice(const struct putter *to, struct iobuf_slice *s)
{
	int rc;

	if (!s)
		return -EINVAL;
	rc = to->cache ? iobuf_cache_put(to->cache, s->h) : iobuf_put(to->set, s->h);
	if (rc == 0)
		*s = IOBUF_SLICE_NONE;
	return rc;
}

static int put_slices(const struct putter *to, struct iobuf_slice *s, int n)
{
	int first = 0;

	if (!s || n < 0)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		int rc = put_slice(to, &s[i]);

		if (rc < 0 && !first)
			first = rc;
	}
	return first;
}

static int consume(const struct putter *to, struct iobuf_slice *s, int n, size_t bytes)
{
	size_t total = 0;
	int done = 0;

	if (!s || n < 0)
		return -EINVAL;
	for (int i = 0; i < n && total < bytes; i++)
		total += s[i].len;
	if (total < bytes)
		return -ERANGE;
	/* Whole slices first (one with nothing left to write is whole)... */
	while (done < n && s[done].len <= bytes) {
		int rc;

		bytes -= s[done].len;
		rc = put_slice(to, &s[done]);
		if (rc < 0)
			return rc;
		done++;
	}
	/* ...then the one written in part. */
	if (bytes > 0)
		(void)iobuf_slice_trim_front(&s[done], bytes);
	return done;
}

int iobuf_slice_put(struct iobuf_set *set, struct iobuf_slice *s)
{
	return put_slice(&(struct putter){set, NULL}, s);
}

int iobuf_slices_put(struct iobuf_set *set, struct iobuf_slice *s, int n)
{
	return put_slices(&(struct putter){set, NULL}, s, n);
}

int iobuf_slices_consume(struct iobuf_set *set, struct iobuf_slice *s, int n, size_t bytes)
{
	return consume(&(struct putter){set, NULL}, s, n, bytes);
}

/* The cache forms: NULL is the cache's own -EINVAL, as iobuf_cache_put() says it. */
int iobuf_cache_slice_put(struct iobuf_cache *cache, struct iobuf_slice *s)
{
	return cache ? put_slice(&(struct putter){NULL, cache}, s) : -EINVAL;
}

int iobuf_cache_slices_put(struct iobuf_cache *cache, struct iobuf_slice *s, int n)
{
	return cache ? put_slices(&(struct putter){NULL, cache}, s, n) : -EINVAL;
}

int iobuf_cache_slices_consume(struct iobuf_cache *cache, struct iobuf_slice *s, int n, size_t bytes)
{
	return cache ? consume(&(struct putter){NULL, cache}, s, n, bytes) : -EINVAL;
}
