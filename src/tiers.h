/* SPDX-License-Identifier: MIT */
/*
 * tiers.h (private) - what the cache reaches inside a set.
 */
#ifndef IOBUF_SRC_TIERS_H
#define IOBUF_SRC_TIERS_H

#include <stdbool.h>
#include <stddef.h>

#include <iobuf/tiers.h>

/*
 * The spill of a get that found tier @tier empty: when the set spills
 * (IOBUF_SET_SPILL), @try_tier(@ctx, t) on each larger tier that has
 * buffers until one returns 0, counted.  Returns 0 or -ENOBUFS.
 */
int iobuf__set_spill(struct iobuf_set *set, int tier, int (*try_tier)(void *ctx, int tier), void *ctx);

/*
 * The pool that issued @h among @set's: its tier's, or the fallback's
 * (NULL for a NULL set).  Every set-level call on a handle looks it up
 * here, so that a fallback buffer is handled as any other.
 */
struct iobuf_pool *iobuf__set_route(const struct iobuf_set *set, iobuf_handle_t h);

/* True when @h names a buffer of @set's fallback. */
bool iobuf__set_of_fallback(const struct iobuf_set *set, iobuf_handle_t h);

/* The largest get @set serves: 256 KiB, or the fallback's size when larger. */
size_t iobuf__set_max_size(const struct iobuf_set *set);

/*
 * iobuf_get() from the tiers alone (spilling when @set does), never the
 * fallback's: for the accounts, which the tiers alone serve.  @set and @h
 * not NULL; *@h is NONE on failure.
 */
int iobuf__set_get_tiers(struct iobuf_set *set, size_t size, iobuf_handle_t *h);

/* A get served by the fallback: -EMSGSIZE above its size, -ENOBUFS when none is free or there is none. */
int iobuf__set_fallback_get(struct iobuf_set *set, size_t size, iobuf_handle_t *h);

#endif /* IOBUF_SRC_TIERS_H */
