/* SPDX-License-Identifier: MIT */
/*
 * tiers.h (private) - what the cache reaches inside a set.
 */
#ifndef IOBUF_SRC_TIERS_H
#define IOBUF_SRC_TIERS_H

#include <iobuf/tiers.h>

/*
 * The spill of a get that found tier @tier empty: when the set spills
 * (IOBUF_SET_SPILL), @try_tier(@ctx, t) on each larger tier that has
 * buffers until one returns 0, counted.  Returns 0 or -ENOBUFS.
 */
int iobuf__set_spill(struct iobuf_set *set, int tier, int (*try_tier)(void *ctx, int tier), void *ctx);

#endif /* IOBUF_SRC_TIERS_H */
