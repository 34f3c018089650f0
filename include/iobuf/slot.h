/* SPDX-License-Identifier: MIT */
/*
 * iobuf/slot.h - handles and slot words: the one place their logic lives.
 *
 * Every buffer of a pool has a slot word, a 32-bit generation kept out of
 * band: even while the buffer is free (in the pool's queue or depot, or in
 * a cache), odd while an owner holds it.  Two transitions move it:
 *
 *   take     free g (even) -> g + 1 (odd).  Made by the one thread that
 *            holds the free index (it took it from the queue, the depot or
 *            its cache): no other thread writes a free slot, so a relaxed
 *            store is enough.
 *   release  held g (odd) -> g + 1 (even).  A put: a compare-and-swap from
 *            the handle's generation, so of two puts of one handle exactly
 *            one wins, on any threads, through any mix of the pool and
 *            caches.  The loser reads what the slot holds and is refused:
 *            -EALREADY (the handle was put: the slot is g + 1) or -ESTALE
 *            (its buffer has been handed out again since).
 *
 * Only a winning release makes an index free, and only the holder of a
 * free index takes it, so each index is at every instant in exactly one
 * place: no interleaving of calls gives a buffer two owners.  The relaxed
 * form of release (a load, a compare and a store) is kept for the caches'
 * opt-in IOBUF_CACHE_UNSAFE_PUTS mode, which gives that guarantee up for
 * two puts of one handle that race on two threads.
 *
 * A handle is 64 bits:
 *
 *   bits  0..23  the index within the pool (so at most 2^24 buffers)
 *   bits 24..26  the tag: the tier number in a set, or a pool's own tag
 *   bits 27..30  the owner: 4 bits of the id of the set or pool that issued it
 *   bit  31      1 when a set issued it, 0 for a standalone pool
 *   bits 32..63  the slot's generation when it was handed out (odd)
 *
 * The low half without the index is the issuer's stamp: one subtraction
 * and one unsigned compare (index = low half - stamp < capacity) check the
 * index, the tag and the owner at once; a handle of another owner wraps
 * to 2^24 or more.  Owner ids come from one process-wide counter (the only
 * process-wide state of the library), sets and standalone pools counting
 * apart: any two sets, any two pools among 16 created one after the
 * other, and any set and any pool, are told apart every time.  Beyond
 * that two owners may share an id.  Each pool starts its generations at a
 * value of its own, so a handle of the other owner then carries a
 * generation the slot never issued, and is refused with -EINVAL all the
 * same (a slot that has wrapped, or has issued that generation, says
 * -ESTALE); it is accepted only if its generation is the one the slot
 * holds, odds of about 2^-31 per call.  A handle is never 0 (its generation is
 * odd), and a generation matches a stale handle again only after 2^31
 * hand-outs of its slot.
 *
 * Everything below but the three handle accessors is internal to the
 * library and its inline fast paths (the iobuf__ prefix): the layout may
 * change with the library's soname.
 */
#ifndef IOBUF_SLOT_H
#define IOBUF_SLOT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <iobuf/common.h>

IOBUF_BEGIN_DECLS

typedef uint64_t iobuf_handle_t;

#define IOBUF_HANDLE_INDEX_BITS 24
#define IOBUF_POOL_MAX_CAPACITY (UINT32_C(1) << IOBUF_HANDLE_INDEX_BITS)
#define IOBUF_HANDLE_NONE ((iobuf_handle_t)0)

#define IOBUF__HANDLE_TAG_SHIFT 24
#define IOBUF__HANDLE_OWNER_SHIFT 27
#define IOBUF__HANDLE_OWNERS 16u
#define IOBUF__HANDLE_SET (UINT32_C(1) << 31)

/* The parts of a handle (no validation). */
static inline uint32_t iobuf_handle_index(iobuf_handle_t h)
{
	return (uint32_t)h & (IOBUF_POOL_MAX_CAPACITY - 1);
}
static inline unsigned iobuf_handle_tag(iobuf_handle_t h)
{
	return ((uint32_t)h >> IOBUF__HANDLE_TAG_SHIFT) & 7u;
}
static inline uint32_t iobuf_handle_generation(iobuf_handle_t h)
{
	return (uint32_t)(h >> 32);
}

/* ---- the codec ---------------------------------------------------------- */

/* The stamp of an issuer: set or standalone pool, its owner id, the tag. */
static inline uint32_t iobuf__stamp(bool set, unsigned owner, unsigned tag)
{
	return (set ? IOBUF__HANDLE_SET : 0) | ((owner % IOBUF__HANDLE_OWNERS) << IOBUF__HANDLE_OWNER_SHIFT) |
	       ((tag & 7u) << IOBUF__HANDLE_TAG_SHIFT);
}

/* True when a set issued @h. */
static inline bool iobuf__handle_of_set(iobuf_handle_t h)
{
	return ((uint32_t)h & IOBUF__HANDLE_SET) != 0;
}

/*
 * The index of @h for the issuer of @stamp: below that issuer's capacity
 * only when @h carries @stamp (else it wraps to 2^24 or more).
 */
static inline uint32_t iobuf__handle_index_for(iobuf_handle_t h, uint32_t stamp)
{
	return (uint32_t)h - stamp;
}

/* The handle of index @idx handed out at generation @gen (odd). */
static inline iobuf_handle_t iobuf__handle_make(uint32_t stamp, uint32_t idx, uint32_t gen)
{
	return ((uint64_t)gen << 32) | stamp | idx;
}

/*
 * True when the generation @gen of a handle can be released by the fast
 * paths: odd (a held slot), and not the last before the 32-bit wrap, which
 * the pool counts out of line (see iobuf__slot_release()).
 */
static inline bool iobuf__gen_fast(uint32_t gen)
{
	return (gen & 1) && gen != UINT32_MAX;
}

/* ---- the slot word -------------------------------------------------------- */

/*
 * Slot words are shared (statistics read them from any thread, racing
 * puts compare-and-swap them), so every access is atomic; none of these
 * orders anything by itself: a put's bytes are released by the queue or
 * the magazine that carries the index on (edges P1, M1 in doc/design.md),
 * or, within one cache, by its owner's program order.
 */
static inline uint32_t iobuf__slot_load(const uint32_t *slot)
{
	return __atomic_load_n(slot, __ATOMIC_RELAXED);
}

/* take: the holder of free index with generation @free_gen hands it out; returns the new (odd) generation. */
static inline uint32_t iobuf__slot_take(uint32_t *slot, uint32_t free_gen)
{
	uint32_t g = free_gen + 1;

	__atomic_store_n(slot, g, __ATOMIC_RELAXED);
	return g;
}

/* Why a release of generation @gen was refused, the slot holding @now. */
static inline int iobuf__slot_refusal(uint32_t now, uint32_t gen)
{
	return !(now & 1) && now == gen + 1 ? -EALREADY : -ESTALE;
}

/*
 * release: held @gen (odd) -> @gen + 1, atomically.  Returns 0 or the
 * refusal (nothing written).  Relaxed CAS: the bytes travel with the index
 * (P1, M1), not with the slot.
 */
static inline int iobuf__slot_release(uint32_t *slot, uint32_t gen)
{
	uint32_t now = gen;

	if (IOBUF_LIKELY(__atomic_compare_exchange_n(slot, &now, gen + 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)))
		return 0;
	return iobuf__slot_refusal(now, gen);
}

/*
 * release, relaxed form (IOBUF_CACHE_UNSAFE_PUTS only): a load, a compare
 * and a store.  Two releases of one generation racing on two threads may
 * both return 0.
 */
static inline int iobuf__slot_release_unsafe(uint32_t *slot, uint32_t gen)
{
	uint32_t now = iobuf__slot_load(slot);

	if (IOBUF_UNLIKELY(now != gen))
		return iobuf__slot_refusal(now, gen);
	__atomic_store_n(slot, gen + 1, __ATOMIC_RELAXED);
	return 0;
}

/*
 * release by raw index: whatever odd generation the slot holds -> + 1.
 * Returns 0, or -EALREADY when the buffer is free.  Stores the released
 * generation in *@gen.
 */
static inline int iobuf__slot_release_any(uint32_t *slot, uint32_t *gen)
{
	uint32_t now = iobuf__slot_load(slot);

	do {
		if (!(now & 1))
			return -EALREADY;
	} while (!__atomic_compare_exchange_n(slot, &now, now + 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	*gen = now;
	return 0;
}

/*
 * release by raw index, one attempt for the fast paths: the odd
 * generation the slot holds now (not the one before the wrap) -> + 1.
 * Returns true with it in *@gen; false (nothing written) otherwise: the
 * out-of-line path then does the whole release.
 */
static inline bool iobuf__slot_release_held(uint32_t *slot, uint32_t *gen)
{
	uint32_t now = iobuf__slot_load(slot);

	if (!iobuf__gen_fast(now) ||
	    !__atomic_compare_exchange_n(slot, &now, now + 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return false;
	*gen = now;
	return true;
}

/* True when @h is a live handle of a slot holding @now. */
static inline bool iobuf__slot_live(uint32_t now, iobuf_handle_t h)
{
	return (now & 1) && now == iobuf_handle_generation(h);
}

IOBUF_END_DECLS

#endif /* IOBUF_SLOT_H */
