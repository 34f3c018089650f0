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
#include <stddef.h>
#include <stdint.h>

#include <iobuf/pool.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

/* The pool of @h's tier in @set (NULL for a NULL set or an absent tier: the callers' -EINVAL). */
static inline struct iobuf_pool *pool_of(const struct iobuf_set *set, iobuf_handle_t h)
{
	return set ? iobuf_set_pool(set, (int)iobuf_handle_tag(h)) : NULL;
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
	return b ? b + s->off : NULL;
}

int iobuf_slice_put(struct iobuf_set *set, struct iobuf_slice *s)
{
	int rc;

	if (!s)
		return -EINVAL;
	rc = iobuf_put(set, s->h);
	if (rc == 0)
		*s = IOBUF_SLICE_NONE;
	return rc;
}

int iobuf_slices_put(struct iobuf_set *set, struct iobuf_slice *s, int n)
{
	int first = 0;

	if (!s || n < 0)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		int rc = iobuf_slice_put(set, &s[i]);

		if (rc < 0 && !first)
			first = rc;
	}
	return first;
}

int iobuf_slices_consume(struct iobuf_set *set, struct iobuf_slice *s, int n, size_t bytes)
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
		rc = iobuf_slice_put(set, &s[done]);
		if (rc < 0)
			return rc;
		done++;
	}
	/* ...then the one written in part. */
	if (bytes > 0)
		(void)iobuf_slice_trim_front(&s[done], bytes);
	return done;
}
