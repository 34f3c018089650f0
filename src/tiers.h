/* SPDX-License-Identifier: MIT */
/*
 * tiers.h (private) - what the cache reaches inside a set.
 */
#ifndef IOBUF_SRC_TIERS_H
#define IOBUF_SRC_TIERS_H

#include <iobuf/tiers.h>

/* The set's policy flags (enum iobuf_set_flags). */
unsigned iobuf__set_flags(const struct iobuf_set *set);

/* Count a get served by a larger tier under IOBUF_SET_SPILL. */
void iobuf__set_note_spill(struct iobuf_set *set);

#endif /* IOBUF_SRC_TIERS_H */
