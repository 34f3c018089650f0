/* SPDX-License-Identifier: MIT */
/*
 * iobuf/slot.h - handles and slot words: the one place their logic lives.
 *
 * Every buffer of a pool has a slot word, 64 bits kept out of band: in
 * the low half a 32-bit generation, even while the buffer is free (in the
 * pool's queue or depot, or in a cache), odd while it is held; in the high
 * half the holders beyond the first (0 for a single owner, and always 0
 * while the buffer is free).  Three transitions move it:
 *
 *   take     free g (even) -> g + 1 (odd), one holder.  Made by the one
 *            thread that holds the free index (it took it from the queue,
 *            the depot or its cache): no other thread writes a free slot,
 *            so a relaxed store is enough.
 *   hold     held g, k holders -> g, k + n.  A holder adds holders
 *            (iobuf_hold()): a compare-and-swap that checks the
 *            generation, so it never adds to a free buffer or to a later
 *            hand-out, and refuses past IOBUF_HOLDERS_MAX.
 *   release  a put of generation g.  With one holder, held g (odd) ->
 *            g + 1 (even): a compare-and-swap from the bare generation,
 *            so a put of a buffer that was never shared costs what it
 *            did before holders existed, and of two puts of one handle
 *            exactly one wins, on any threads, through any mix of the pool
 *            and caches.  With more, the count drops by one and the
 *            generation stays.  The loser of a race, or a put of a handle
 *            that is not live, reads what the slot holds and is refused:
 *            -EALREADY (the handle was put by its last holder: the slot
 *            is g + 1) or -ESTALE (its buffer has been handed out again
 *            since).
 *
 * An add racing the last put either comes first (that put then only drops
 * a holder) or is refused: never a holder of a free buffer.  Holders are
 * counted, not named: one holder that puts twice while others hold is two
 * holders that put once each.
 *
 * Only a winning last release makes an index free, and only the holder of
 * a free index takes it, so each index is at every instant in exactly one
 * place: no interleaving of calls gives a buffer two owners.  The relaxed
 * form of the single-owner release (a load, a compare and a store) is kept
 * for the caches' opt-in IOBUF_CACHE_UNSAFE_PUTS mode, which gives that
 * guarantee up for two puts of one handle that race on two threads.
 *
 * Beside the slot word each buffer has a length word, (generation << 32)
 * | bytes: a length belongs to the hand-out whose generation it carries,
 * so a fresh hand-out reads 0 without a get clearing it (iobuf__len_of()).
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
 * A slot word is 64 bits: the generation in the low half; in bits 32..62
 * the holders beyond the first (0 while one owner holds the buffer); bit
 * 63 set while the hand-out is charged to an account (iobuf/account.h).
 * The high half is always 0 while the buffer is free.  A put of a buffer
 * that was never shared nor charged is then the one compare-and-swap from
 * the bare generation; the others go out of line.
 */
typedef uint64_t iobuf__slot_t;

#define IOBUF__SLOT_HOLDER (UINT64_C(1) << 32)
#define IOBUF__SLOT_CHARGED (UINT64_C(1) << 63)
#define IOBUF__SLOT_EXTRA (IOBUF__SLOT_CHARGED - IOBUF__SLOT_HOLDER) /* the holders' bits */

static inline uint32_t iobuf__slot_gen(iobuf__slot_t w)
{
	return (uint32_t)w;
}

/* The holders of a held slot holding @w (1 for a single owner). */
static inline uint32_t iobuf__slot_holders(iobuf__slot_t w)
{
	return (uint32_t)((w & IOBUF__SLOT_EXTRA) >> 32) + 1;
}

/*
 * Slot words are shared (statistics read them from any thread, racing
 * puts compare-and-swap them), so every access is atomic; none of these
 * orders anything by itself: a put's bytes are released by the queue or
 * the magazine that carries the index on (edges P1, M1 in doc/design.md),
 * or, within one cache, by its owner's program order.  Between holders,
 * the bytes travel with the handle (the user's channel, or H1 below).
 */
static inline iobuf__slot_t iobuf__slot_load(const iobuf__slot_t *slot)
{
	return __atomic_load_n(slot, __ATOMIC_RELAXED);
}

/* take: the holder of free index with generation @free_gen hands it out; returns the new (odd) generation. */
static inline uint32_t iobuf__slot_take(iobuf__slot_t *slot, uint32_t free_gen)
{
	uint32_t g = free_gen + 1;

	__atomic_store_n(slot, (iobuf__slot_t)g, __ATOMIC_RELAXED);
	return g;
}

/* Why a release of generation @gen was refused, the slot's generation being @now. */
static inline int iobuf__slot_refusal(uint32_t now, uint32_t gen)
{
	return !(now & 1) && now == gen + 1 ? -EALREADY : -ESTALE;
}

/* What a release returns when it dropped a holder and others still hold the buffer. */
#define IOBUF__SLOT_SHARED 1
/* What the last holder's release returns when the hand-out was charged to an account. */
#define IOBUF__SLOT_CHARGED_FREE 2

/*
 * A release of @gen found the slot holding @now, not the bare generation:
 * drop one of several holders (the buffer stays held: IOBUF__SLOT_SHARED),
 * or, once the others have gone, release it (0, or IOBUF__SLOT_CHARGED_FREE
 * when it was charged: the caller credits the account), or be refused.
 * H1: release, pairs with A2 in the last holder's release below (the
 * bytes a holder wrote, or read, come before the buffer goes free).
 */
static inline int iobuf__slot_release_shared(iobuf__slot_t *slot, uint32_t gen, iobuf__slot_t now)
{
	for (;;) {
		if (iobuf__slot_gen(now) != gen)
			return iobuf__slot_refusal(iobuf__slot_gen(now), gen);
		if ((now & IOBUF__SLOT_EXTRA) == 0) {
			/* A2: acquire, pairs with H1 (every other holder's drop came first) and T1 (the charge). */
			if (__atomic_compare_exchange_n(slot, &now, (iobuf__slot_t)(gen + 1), false, __ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED))
				return (now & IOBUF__SLOT_CHARGED) ? IOBUF__SLOT_CHARGED_FREE : 0;
			continue;
		}
		if (__atomic_compare_exchange_n(slot, &now, now - IOBUF__SLOT_HOLDER, false, __ATOMIC_RELEASE,
						__ATOMIC_RELAXED))
			return IOBUF__SLOT_SHARED;
	}
}

/*
 * release: one holder of @gen (odd) puts it.  The last holder's release
 * moves the slot to @gen + 1 and returns 0 (IOBUF__SLOT_CHARGED_FREE for
 * a charged hand-out); another holder's drops its
 * count and returns IOBUF__SLOT_SHARED; a refusal returns -EALREADY or
 * -ESTALE (nothing written).  For a single owner, one CAS: the bytes
 * travel on with the index (P1, M1); its acquire (A2) orders the drops of
 * the holders that went before (H1) ahead of the buffer's next owner.
 */
static inline int iobuf__slot_release(iobuf__slot_t *slot, uint32_t gen)
{
	iobuf__slot_t now = gen;

	/* A2: acquire, pairs with H1 in iobuf__slot_release_shared(): free on x86, where a CAS is a full barrier. */
	if (IOBUF_LIKELY(__atomic_compare_exchange_n(slot, &now, (iobuf__slot_t)(gen + 1), false, __ATOMIC_ACQUIRE,
						     __ATOMIC_RELAXED)))
		return 0;
	return iobuf__slot_release_shared(slot, gen, now);
}

/*
 * release by a single owner, one attempt, for the inline fast paths: true
 * when @gen was the bare generation and is released now; false (nothing
 * written) for anything else, a shared buffer or a refusal, which the
 * out-of-line path then handles whole.
 */
static inline bool iobuf__slot_release_single(iobuf__slot_t *slot, uint32_t gen)
{
	iobuf__slot_t now = gen;

	/* A2, as in iobuf__slot_release(). */
	return __atomic_compare_exchange_n(slot, &now, (iobuf__slot_t)(gen + 1), false, __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

/*
 * The same, relaxed form (IOBUF_CACHE_UNSAFE_PUTS only): a load, a compare
 * and a store.  Two releases of one generation racing on two threads may
 * both succeed.  A shared buffer goes out of line, to the safe path.
 */
static inline bool iobuf__slot_release_single_unsafe(iobuf__slot_t *slot, uint32_t gen)
{
	/* A2: acquire, pairs with H1 (a plain load on x86). */
	if (IOBUF_UNLIKELY(__atomic_load_n(slot, __ATOMIC_ACQUIRE) != (iobuf__slot_t)gen))
		return false;
	__atomic_store_n(slot, (iobuf__slot_t)(gen + 1), __ATOMIC_RELAXED);
	return true;
}

/*
 * hold: a holder of @gen adds one.  Returns 0; -EOVERFLOW at
 * IOBUF_HOLDERS_MAX holders (the holders' bits hold one less); the refusal of a release when @gen is not
 * the generation the slot holds (the buffer was put by its last holder,
 * or handed out again).  An add racing the last put either comes first
 * (that put then only drops a holder) or is refused.  Orders nothing: the
 * new holder got the handle from an existing one, which ordered the bytes.
 */
static inline int iobuf__slot_hold(iobuf__slot_t *slot, uint32_t gen, uint32_t add)
{
	iobuf__slot_t now = iobuf__slot_load(slot);

	for (;;) {
		if (iobuf__slot_gen(now) != gen || !(gen & 1))
			return iobuf__slot_refusal(iobuf__slot_gen(now), gen);
		if (add > UINT32_C(0x7fffffff) || iobuf__slot_holders(now) > UINT32_C(0x7fffffff) - add)
			return -EOVERFLOW;
		if (__atomic_compare_exchange_n(slot, &now, now + (iobuf__slot_t)add * IOBUF__SLOT_HOLDER, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return 0;
	}
}

/*
 * release by raw index: one holder of whatever odd generation the slot
 * holds.  Returns 0 or IOBUF__SLOT_CHARGED_FREE (the buffer is free
 * now) or IOBUF__SLOT_SHARED, with
 * the generation in *@gen; -EALREADY when the buffer is free.
 */
static inline int iobuf__slot_release_any(iobuf__slot_t *slot, uint32_t *gen)
{
	iobuf__slot_t now = iobuf__slot_load(slot);
	int rc;

	do {
		if (!(iobuf__slot_gen(now) & 1))
			return -EALREADY;
		*gen = iobuf__slot_gen(now);
		rc = iobuf__slot_release_shared(slot, *gen, now);
		now = iobuf__slot_load(slot);
	} while (rc < 0); /* the buffer was released and taken again between our load and our CAS */
	return rc;
}

/*
 * release by raw index, one attempt for the fast paths: a single owner's
 * odd generation (not the one before the wrap) -> + 1.  Returns true with
 * it in *@gen; false (nothing written) otherwise: the out-of-line path
 * then does the whole release.
 */
static inline bool iobuf__slot_release_held(iobuf__slot_t *slot, uint32_t *gen)
{
	iobuf__slot_t now = iobuf__slot_load(slot);

	if (!iobuf__gen_fast((uint32_t)now) || (now >> 32) != 0 || /* shared or charged: out of line */
	    !__atomic_compare_exchange_n(slot, &now, now + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) /* A2 */
		return false;
	*gen = (uint32_t)now;
	return true;
}

/*
 * charge: the only holder of @gen, just after its get, marks the hand-out
 * charged (the account is stored first).  T1: release, pairs with A2 in
 * the last holder's release, which then reads the account.
 */
static inline void iobuf__slot_charge(iobuf__slot_t *slot)
{
	__atomic_fetch_or(slot, IOBUF__SLOT_CHARGED, __ATOMIC_RELEASE);
}

/* True when @h is a live handle of a slot holding @now. */
static inline bool iobuf__slot_live(iobuf__slot_t now, iobuf_handle_t h)
{
	uint32_t g = iobuf__slot_gen(now);

	return (g & 1) && g == iobuf_handle_generation(h);
}

/*
 * A buffer's length word: (generation << 32) | bytes, written by a holder
 * (iobuf_pool_setlen()).  A length belongs to the hand-out whose
 * generation it carries: for any other, the buffer holds 0 bytes, so a
 * get need not clear it.
 */
static inline uint32_t iobuf__len_of(const uint64_t *word, uint32_t gen)
{
	uint64_t w = __atomic_load_n(word, __ATOMIC_RELAXED);

	return (uint32_t)(w >> 32) == gen ? (uint32_t)w : 0;
}

IOBUF_END_DECLS

#endif /* IOBUF_SLOT_H */
