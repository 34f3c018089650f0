/* SPDX-License-Identifier: MIT */
/*
 * ring.c - a single-writer, many-reader ring after the LMAX Disruptor.
 *
 * Sequences are 64-bit counts that never wrap.  The writer keeps, on its
 * own cache line, what it claimed, what it published and a cached gate
 * (the slowest reader's sequence when it last looked); the published
 * cursor sits alone on another line.  Each reader's released sequence sits
 * alone on a line too; RING_FREE there means the slot has no reader, which
 * the writer's minimum ignores for free.
 *
 * Lossless gating: a claim up to @next needs every reader at or past
 * @next - capacity.  The writer re-reads the readers only when its cached
 * gate says no (about once per lap when the readers keep up), so the
 * single-writer path is a few private loads and stores: no CAS, no fence.
 *
 * Lossy stamps: slot = [stamp | payload].  The writer stores BUSY(s) in
 * the slot when it claims s, then (after a release fence, F1) the payload,
 * then VALID(s) with release (R3) when it publishes.  A reader acquires the
 * stamp (A3), copies the payload with relaxed atomic loads, issues an
 * acquire fence (F2) and reads the stamp again: if either differs from
 * VALID(s) the copy may be torn and is refused.  If the reader saw any
 * byte of a newer write, F1 -> F2 makes the second load see BUSY or later.
 *
 * Sleeping (IOBUF_RING_BLOCK): two futex words, "pub" (readers without
 * dependencies wait for the cursor) and "rel" (the writer and dependent
 * readers wait for some reader's release).  A sleeper increments the
 * word's waiter count, full fence, reads the futex word, re-checks its
 * condition, then sleeps if the word is unchanged.  A waker stores its
 * progress (cursor or reader sequence), full fence, and reads the waiter
 * count; only when it is non-zero does it bump the word and FUTEX_WAKE.
 * Dekker: with seq_cst fences on both sides, either the sleeper's re-check
 * sees the progress or the waker sees the waiter (D1/D2); a bump between
 * the sleeper's read of the word and its FUTEX_WAIT makes the wait return
 * at once.  So no wake-up is lost, and a publish makes a system call only
 * when somebody sleeps.  Which word a reader needs depends on its
 * dependencies, which a control call may change while it goes to sleep:
 * it chooses the word from one snapshot, takes the one that counts after
 * its announcement and fence, withdraws if that needs the other word, and
 * re-checks with that same snapshot; set_deps stores, fences and wakes
 * both words, so a sleeper whose snapshot missed the change is woken (D7).
 *
 * Retiring a lossy ring is the writer's alone: the claim that takes a slot
 * back (after its BUSY stamps and F1) calls the hook for the entry the slot
 * held and stores the new count (R7).  Readers do not hold it up, and it
 * waits for none of them: whatever they still need of a retired entry they
 * must hold by other means (a bcast ring's readers hold its buffer).
 *
 * Retiring (a lossless ring with on_retire): the word "reclaim" holds
 * reclaimed << 1 | RECLAIM_BUSY.  Entries below "reclaimed" went through
 * the hook; the writer gates on it instead of on the readers, so no slot
 * is reused before its hook ran.  A thread that may have made entries
 * retirable (a release, a leave, a join, a publish without readers) stores
 * its progress, fences, and looks at the word (D4): if a retirer holds it,
 * that retirer re-reads the readers after letting go and sees the
 * progress; if the word is free and the caller was at "reclaimed" (a
 * reader at the oldest unretired entry: otherwise its release cannot be
 * the one that frees the oldest entries) it computes the bound -- the
 * minimum of the readers' sequences and a cursor value -- and, when that
 * is past "reclaimed", takes the word with a CAS, calls the hook for the
 * entries in between, and stores the new count with release, which also
 * lets go.  Exactly one thread holds the word at a time, and it alone
 * moves "reclaimed", so each entry is retired once.  After letting go it
 * fences and re-reads the bound, retiring again while it grew (the
 * progress of anybody who saw the word held).  Nobody ever waits for the
 * word: a retirer that is preempted holds up only the writer's gate.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iobuf/ring.h>

#include "atomic.h"
#include "ring.h"
#include "util.h"
#include "wait.h"

/* A reader slot without a reader: larger than any sequence, so min() skips it. */
#define RING_FREE UINT64_MAX

/* Slot stamps of lossy rings: 0 never written, BUSY being written, VALID published. */
#define STAMP_BUSY(s) (2 * (s) + 1)
#define STAMP_VALID(s) (2 * (s) + 2)
#define STAMP_SEQ(st) (((st)-1) >> 1)
#define STAMP_SIZE 8u

#define RING_ALL_FLAGS IOBUF_RING_MAY_BLOCK

/* The reclaim word of a retiring ring: reclaimed << 1, plus this bit while a thread retires. */
#define RECLAIM_BUSY UINT64_C(1)
/* A retirer's limit that is the cursor, read afresh each time (a leaving reader has no sequence). */
#define RETIRE_CURSOR UINT64_MAX

/* What publish and release do after their store (ring->notify); 0 keeps their fast path. */
#define NOTIFY_WAKE 1u	 /* the ring may block: wake sleepers (D1, D2) */
#define NOTIFY_RETIRE 2u /* the ring retires entries (D4, D6) */

/* A futex word and the number of threads that announced they may sleep on it. */
struct iobuf__ring_futex {
	uint32_t word;	  /* bumped by a waker that saw waiters != 0 */
	uint32_t waiters; /* sleepers between their announcement and their return */
};

struct iobuf__ring_reader {
	/* Shared: how many entries the reader released; RING_FREE when no reader. */
	_Alignas(IOBUF_CACHELINE) uint64_t seq;
	/* The owner's line: read and written by the reader's thread ... */
	_Alignas(IOBUF_CACHELINE) uint64_t pos; /* == seq, without reading the shared line */
	uint64_t avail;				/* end of what its polls counted */
	uint64_t lapped;			/* lossy: its next poll moves at least this far (read_lapped) */
	int wait;				/* enum iobuf_ring_wait */
	uint32_t spins;
	/* ... and by control calls under the ring's mutex. */
	uint64_t deps; /* mask of reader ids; atomic: the owner reads it without the mutex */
	int active;    /* written only by add and remove, which no owner call overlaps */
};

struct iobuf_ring {
	struct iobuf_ring_slots slots; /* first: iobuf_ring_entry() reads it */
	unsigned char *mem;
	uint64_t capacity;
	uint32_t entry_size;
	int mode;
	int max_readers;
	int wait;
	uint32_t spins;
	bool may_block;
	unsigned notify; /* NOTIFY_*: the slow half of publish and release */
	void (*on_retire)(void *ctx, uint64_t seq, void *entry);
	void *retire_ctx;

	/* Published cursor: written by the writer, read by every reader. */
	_Alignas(IOBUF_CACHELINE) uint64_t cursor;

	/* The writer's private line. */
	_Alignas(IOBUF_CACHELINE) uint64_t claimed; /* next sequence to claim */
	uint64_t published;			    /* == cursor, without reading the shared line */
	uint64_t gate;				    /* slowest reader when last looked (lossless) */

	_Alignas(IOBUF_CACHELINE) struct iobuf__ring_futex pub; /* readers without dependencies */
	_Alignas(IOBUF_CACHELINE) struct iobuf__ring_futex rel; /* the writer and dependent readers */

	/* Retiring rings: reclaimed << 1 | RECLAIM_BUSY, written by whoever retires. */
	_Alignas(IOBUF_CACHELINE) uint64_t reclaim;

	_Alignas(IOBUF_CACHELINE) pthread_mutex_t lock; /* control calls */
	uint32_t nactive;				/* active readers: written under the mutex */

	struct iobuf__ring_reader readers[]; /* max_readers */
};

_Static_assert(offsetof(struct iobuf_ring, slots) == 0, "iobuf_ring_entry() reads the head");

#ifdef IOBUF_RING_STEPS
void (*iobuf__ring_step_hook)(struct iobuf_ring *ring, int reader, enum iobuf__ring_step step,
			      enum iobuf__ring_word word);

/* A test stops the waiter of @op here (src/ring.h). */
#define RING_STEP(op, step, f)                                                                                         \
	do {                                                                                                           \
		if (iobuf__ring_step_hook)                                                                             \
			iobuf__ring_step_hook((op)->ring, (op)->reader, (step),                                        \
					      (f) == &(op)->ring->rel ? IOBUF__RING_WORD_REL : IOBUF__RING_WORD_PUB);  \
	} while (0)
#else
#define RING_STEP(op, step, f) ((void)0)
#endif

/* ---- small helpers -------------------------------------------------------- */

static inline uint64_t *ring_stamp(struct iobuf_ring *ring, uint64_t seq)
{
	return (uint64_t *)((unsigned char *)iobuf_ring_entry(ring, seq) - STAMP_SIZE);
}

static inline struct iobuf__ring_reader *ring_reader(struct iobuf_ring *ring, int id)
{
	if (IOBUF_UNLIKELY(ring == NULL || id < 0 || id >= ring->max_readers))
		return NULL;
	if (IOBUF_UNLIKELY(!ring->readers[id].active))
		return NULL;
	return &ring->readers[id];
}

/* Copy a lossy entry in or out as relaxed atomic words (the slot is 8-aligned). */
static void ring_copy_in(uint64_t *dst, const unsigned char *src, uint32_t size)
{
	uint64_t v;

	for (; size >= 8; size -= 8, src += 8, dst++) {
		memcpy(&v, src, 8);
		iobuf__store_64(dst, v);
	}
	if (size) {
		v = 0;
		memcpy(&v, src, size);
		iobuf__store_64(dst, v);
	}
}

static void ring_copy_out(unsigned char *dst, const uint64_t *src, uint32_t size)
{
	uint64_t v;

	for (; size >= 8; size -= 8, dst += 8, src++) {
		v = iobuf__load_64(src);
		memcpy(dst, &v, 8);
	}
	if (size) {
		v = iobuf__load_64(src);
		memcpy(dst, &v, size);
	}
}

/* ---- futex ------------------------------------------------------------------ */

/* After storing progress and a seq_cst fence: wake whoever sleeps on @f. */
static void ring_wake_fenced(struct iobuf__ring_futex *f)
{
	if (iobuf__load_32(&f->waiters) == 0)
		return;
	/* R5: pairs with A5 in ring_sleep(): a sleeper that reads the bumped word sees our progress. */
	iobuf__futex_bump_wake(&f->word);
}

/* After storing progress: wake whoever sleeps on @f (the waker side of D1/D2). */
static void ring_wake(struct iobuf__ring_futex *f)
{
	/* D1/D2: pairs with the fence in ring_sleep(): our progress store before the waiter load. */
	iobuf__fence_seq_cst();
	ring_wake_fenced(f);
}

/* ---- retiring ------------------------------------------------------------------ */

/*
 * How far entries may be retired: min(@limit, every reader's released
 * sequence).  @limit is a cursor value whose store happens before the
 * caller's last seq_cst fence, which precedes these loads: then a reader
 * joining unseen starts at or after @limit (D3').  A reader's own new
 * sequence is such a value (its poll acquired a cursor at least that
 * high), and stays one while it retires, since it is a reader; a leaving
 * reader is not, so it passes RETIRE_CURSOR and the cursor is read here,
 * after the caller's fence (which orders it after the stores of anyone who
 * found the word held, D4/D6) and before a fence of its own (D3').
 */
static uint64_t ring_retire_bound(struct iobuf_ring *ring, uint64_t limit)
{
	uint64_t m = limit;

	if (limit == RETIRE_CURSOR) {
		/* A1: pairs with R1 in iobuf_ring_publish(): the entries we may retire. */
		m = iobuf__load_64_acq(&ring->cursor);
		iobuf__fence_seq_cst(); /* D3': the cursor load before the loads of the readers */
	}
	for (int i = 0; i < ring->max_readers; i++) {
		/*
		 * A6: pairs with R2 in iobuf_ring_release() and
		 * iobuf_ring_reader_remove(): the reader is done with the entries
		 * below its sequence, and with their buffers.
		 */
		uint64_t s = iobuf__load_64_acq(&ring->readers[i].seq);

		if (s < m)
			m = s;
	}
	return m;
}

/*
 * Take the reclaim word (free, reclaimed = @w >> 1) and retire up to @m,
 * then up to whatever the bound grew to meanwhile.  Returns when the bound
 * stops growing or another thread took the word after us (its re-read
 * after it lets go covers what we would have seen).
 */
static void ring_retire(struct iobuf_ring *ring, uint64_t w, uint64_t m, uint64_t limit)
{
	for (;;) {
		/*
		 * A8: pairs with R7 of the previous retirer: hook calls are
		 * serialized and in order.  D4: this RMW is the retirer's store.
		 */
		if (!iobuf__cas_64_acqrel(&ring->reclaim, &w, w | RECLAIM_BUSY))
			return;
		for (uint64_t s = w >> 1; s < m; s++)
			ring->on_retire(ring->retire_ctx, s, iobuf_ring_entry(ring, s));
		w = m << 1;
		/*
		 * R7: pairs with A7 in the writer's gate (and iobuf_ring_reclaimed()):
		 * the hook is done with these slots; also A8 of the next retirer.
		 */
		iobuf__store_64_rel(&ring->reclaim, w);
		/*
		 * D4: pairs with the fence of every thread that stored progress
		 * and found the word held: our letting go before our re-read of
		 * the readers.  D5: and before the load of the writer's waiters.
		 */
		iobuf__fence_seq_cst();
		if (ring->may_block)
			ring_wake_fenced(&ring->rel); /* a writer waiting for slots */
		m = ring_retire_bound(ring, limit);
		if (m <= (w >> 1))
			return;
	}
}

/*
 * After a store that may make entries retirable and a seq_cst fence: retire
 * them if this caller is the one to.  @from is where the caller's reader was
 * before its store: unless @force, it acts only when that was the
 * reclaimed count.  @limit as ring_retire_bound().
 */
static void ring_retire_kick(struct iobuf_ring *ring, uint64_t from, uint64_t limit, bool force)
{
	/* D4: pairs with the fence in ring_retire(): after our progress store and fence. */
	uint64_t w = iobuf__load_64(&ring->reclaim), m;

	if (w & RECLAIM_BUSY)
		return; /* the holder re-reads the readers after letting go (D4) */
	if (!force && (w >> 1) != from)
		return; /* whoever raises reclaimed to @from stores after our load: D4 again */
	m = ring_retire_bound(ring, limit);
	if (m > (w >> 1))
		ring_retire(ring, w, m, limit);
}

/*
 * The slow half of iobuf_ring_publish(): sleepers and retirement (ring->notify).
 * Out of line, so the fast path of rings that need neither stays as lean as before.
 */
static __attribute__((noinline)) void ring_published(struct iobuf_ring *ring)
{
	/*
	 * D1: pairs with the fence in ring_sleep(); D6: pairs with the fence in
	 * iobuf_ring_reader_remove(): the cursor store before the load of
	 * nactive.  Also D3 for the retirement below (the cursor is ours).
	 */
	iobuf__fence_seq_cst();
	if (ring->notify & NOTIFY_WAKE)
		ring_wake_fenced(&ring->pub);
	if ((ring->notify & NOTIFY_RETIRE) && iobuf__load_32(&ring->nactive) == 0)
		ring_retire_kick(ring, 0, ring->published, true); /* nobody reads: retire at once */
}

/* The slow half of iobuf_ring_release(): sleepers and retirement (ring->notify). */
static __attribute__((noinline)) void ring_released(struct iobuf_ring *ring, uint64_t from, uint64_t upto)
{
	/* D2: pairs with the fence in ring_sleep(); D4: with the fence in ring_retire(). */
	iobuf__fence_seq_cst();
	if (ring->notify & NOTIFY_WAKE)
		ring_wake_fenced(&ring->rel);
	/* @upto bounds it: our poll acquired a cursor at least that high before the fence (D3). */
	if (ring->notify & NOTIFY_RETIRE)
		ring_retire_kick(ring, from, upto, false);
}

/* ---- create / destroy --------------------------------------------------- */

struct iobuf_ring *iobuf_ring_create(const struct iobuf_ring_config *cfg, int *err)
{
	struct iobuf_ring *ring = NULL;
	size_t stride, bytes, hdr;
	int rc = -EINVAL;

	if (cfg == NULL || !iobuf__is_pow2(cfg->capacity) || cfg->capacity > IOBUF_RING_MAX_CAPACITY)
		goto out;
	if (cfg->entry_size == 0 || cfg->entry_size > IOBUF_RING_MAX_ENTRY)
		goto out;
	if (cfg->mode != IOBUF_RING_LOSSLESS && cfg->mode != IOBUF_RING_LOSSY)
		goto out;
	if (cfg->max_readers < 1 || cfg->max_readers > IOBUF_RING_MAX_READERS)
		goto out;
	if ((unsigned)cfg->wait > IOBUF_RING_BLOCK || (cfg->flags & ~(unsigned)RING_ALL_FLAGS))
		goto out;
	if (cfg->on_retire == NULL && cfg->retire_ctx != NULL)
		goto out;

	stride = iobuf__align_up(cfg->entry_size, 8);
	if (cfg->mode == IOBUF_RING_LOSSY)
		stride += STAMP_SIZE;
	if (stride > SIZE_MAX / cfg->capacity) /* only on 32-bit hosts */
		goto out;
	bytes = iobuf__align_up(stride * cfg->capacity, IOBUF_CACHELINE);

	rc = -ENOMEM;
	hdr = iobuf__align_up(sizeof(*ring) + (size_t)cfg->max_readers * sizeof(ring->readers[0]), IOBUF_CACHELINE);
	ring = aligned_alloc(IOBUF_CACHELINE, hdr);
	if (ring == NULL)
		goto out;
	memset(ring, 0, hdr);
	ring->mem = aligned_alloc(IOBUF_CACHELINE, bytes);
	if (ring->mem == NULL)
		goto fail;
	memset(ring->mem, 0, bytes);
	rc = -pthread_mutex_init(&ring->lock, NULL);
	if (rc < 0)
		goto fail;

	ring->slots.base = ring->mem + (cfg->mode == IOBUF_RING_LOSSY ? STAMP_SIZE : 0);
	ring->slots.mask = cfg->capacity - 1;
	ring->slots.stride = stride;
	ring->capacity = cfg->capacity;
	ring->entry_size = cfg->entry_size;
	ring->mode = cfg->mode;
	ring->max_readers = cfg->max_readers;
	ring->wait = cfg->wait;
	ring->spins = cfg->spins ? cfg->spins : IOBUF_RING_DEFAULT_SPINS;
	ring->may_block = cfg->wait == IOBUF_RING_BLOCK || (cfg->flags & IOBUF_RING_MAY_BLOCK);
	ring->on_retire = cfg->on_retire;
	ring->retire_ctx = cfg->retire_ctx;
	/* A lossy ring retires in its writer's claim alone: its publishes and releases have nothing to retire. */
	ring->notify = (ring->may_block ? NOTIFY_WAKE : 0u) |
		       (cfg->on_retire && cfg->mode == IOBUF_RING_LOSSLESS ? NOTIFY_RETIRE : 0u);
	for (int i = 0; i < cfg->max_readers; i++)
		ring->readers[i].seq = RING_FREE;
	rc = 0;
	goto out;
fail:
	free(ring->mem);
	free(ring);
	ring = NULL;
out:
	if (err)
		*err = rc;
	return ring;
}

void iobuf_ring_destroy(struct iobuf_ring *ring)
{
	if (ring == NULL)
		return;
	if (ring->on_retire) {
		/* Nobody else runs: the caller's synchronization ordered every release before us. */
		for (uint64_t s = iobuf__load_64(&ring->reclaim) >> 1; s < ring->published; s++)
			ring->on_retire(ring->retire_ctx, s, iobuf_ring_entry(ring, s));
	}
	pthread_mutex_destroy(&ring->lock);
	free(ring->mem);
	free(ring);
}

/* ---- readers: join, leave, dependencies ---------------------------------- */

/* The mask of @deps, or -EINVAL in *rc when one is not an active reader.  Mutex held. */
static uint64_t ring_deps_mask(struct iobuf_ring *ring, const int *deps, int ndeps, int *rc)
{
	uint64_t mask = 0;

	*rc = 0;
	if (ndeps < 0 || ndeps > ring->max_readers || (ndeps > 0 && deps == NULL)) {
		*rc = -EINVAL;
		return 0;
	}
	for (int i = 0; i < ndeps; i++) {
		if (deps[i] < 0 || deps[i] >= ring->max_readers || !ring->readers[deps[i]].active) {
			*rc = -EINVAL;
			return 0;
		}
		mask |= UINT64_C(1) << deps[i];
	}
	return mask;
}

/* Does any reader in @from reach @target through the dependency graph?  Mutex held. */
static bool ring_deps_reach(struct iobuf_ring *ring, uint64_t from, int target)
{
	uint64_t seen = 0, todo = from;

	while (todo) {
		int i = __builtin_ctzll(todo);

		todo &= todo - 1;
		if (i == target)
			return true;
		seen |= UINT64_C(1) << i;
		todo |= ring->readers[i].deps & ~seen;
	}
	return false;
}

int iobuf_ring_reader_add(struct iobuf_ring *ring, const int *deps, int ndeps)
{
	struct iobuf__ring_reader *r = NULL;
	uint64_t mask, c = 0;
	int rc, id;

	if (ring == NULL)
		return -EINVAL;
	pthread_mutex_lock(&ring->lock);
	mask = ring_deps_mask(ring, deps, ndeps, &rc);
	if (rc < 0)
		goto out;
	rc = -EINVAL; /* too many readers */
	for (id = 0; id < ring->max_readers; id++) {
		if (!ring->readers[id].active) {
			r = &ring->readers[id];
			break;
		}
	}
	if (r == NULL)
		goto out;
	/*
	 * An active reader never depends on a free slot (remove refuses while
	 * it has dependents), so the new reader cannot close a cycle.
	 */
	r->wait = ring->wait;
	r->spins = ring->spins;
	iobuf__store_64(&r->deps, mask);
	c = iobuf__load_64_acq(&ring->cursor);
	if (ring->mode == IOBUF_RING_LOSSLESS) {
		/*
		 * D3: join handshake with the writer's gate refresh.  Announce a
		 * tentative start, full fence, read the cursor again.  Either the
		 * writer's next refresh sees the tentative start (and gates on it),
		 * or the refresh it already made read the readers before our store,
		 * and then (fences on both sides) we see every cursor it had stored
		 * before that refresh, which bounds the gate it uses: it cannot
		 * reuse a slot at or after where we start.
		 */
		iobuf__store_64(&r->seq, c);
		iobuf__fence_seq_cst(); /* D3: pairs with D3 in ring_refresh_gate() */
		c = iobuf__load_64_acq(&ring->cursor);
	}
	r->pos = r->avail = c;
	r->lapped = 0;
	iobuf__store_64_rel(&r->seq, c);
	r->active = 1;
	iobuf__store_32(&ring->nactive, iobuf__load_32(&ring->nactive) + 1);
	rc = id;
out:
	pthread_mutex_unlock(&ring->lock);
	if (rc >= 0 && (ring->notify & NOTIFY_RETIRE)) {
		/*
		 * Our start may be above the tentative one a retirer saw and
		 * stopped at.  D4: pairs with the fence in ring_retire(): our
		 * sequence store before the load of the reclaim word.  D3 for
		 * the retirement: our cursor load precedes this fence.
		 */
		iobuf__fence_seq_cst();
		ring_retire_kick(ring, 0, c, true);
	}
	return rc;
}

int iobuf_ring_reader_remove(struct iobuf_ring *ring, int reader)
{
	struct iobuf__ring_reader *r;
	int rc = -EINVAL;

	if (ring == NULL)
		return -EINVAL;
	pthread_mutex_lock(&ring->lock);
	r = ring_reader(ring, reader);
	if (r == NULL)
		goto out;
	rc = -EBUSY;
	for (int i = 0; i < ring->max_readers; i++)
		if (ring->readers[i].active && (ring->readers[i].deps & (UINT64_C(1) << reader)))
			goto out;
	r->active = 0;
	iobuf__store_64(&r->deps, 0);
	iobuf__store_32(&ring->nactive, iobuf__load_32(&ring->nactive) - 1);
	/* R2: pairs with A2 in ring_refresh_gate() and A6 in ring_retire_bound(): the reader's reads are done. */
	iobuf__store_64_rel(&r->seq, RING_FREE);
	rc = 0;
out:
	pthread_mutex_unlock(&ring->lock);
	if (rc == 0 && (ring->notify & NOTIFY_RETIRE)) {
		/*
		 * D6: pairs with the fence in ring_published(): our store of
		 * nactive (and of the sequence, D4) before our load of the
		 * cursor; the writer, if it saw readers still there, published
		 * no further than the cursor we read.  We are no reader any
		 * more: the cursor bounds what we retire, read afresh each time.
		 */
		iobuf__fence_seq_cst();
		ring_retire_kick(ring, 0, RETIRE_CURSOR, true);
	}
	if (rc == 0 && ring->may_block)
		ring_wake(&ring->rel); /* a writer waiting on this reader */
	return rc;
}

int iobuf_ring_reader_set_deps(struct iobuf_ring *ring, int reader, const int *deps, int ndeps)
{
	uint64_t mask;
	int rc = -EINVAL;

	if (ring == NULL)
		return -EINVAL;
	pthread_mutex_lock(&ring->lock);
	if (ring_reader(ring, reader) == NULL)
		goto out;
	mask = ring_deps_mask(ring, deps, ndeps, &rc);
	if (rc < 0)
		goto out;
	if (ring_deps_reach(ring, mask, reader)) {
		rc = -EINVAL; /* a cycle */
		goto out;
	}
	iobuf__store_64(&ring->readers[reader].deps, mask);
out:
	pthread_mutex_unlock(&ring->lock);
	if (rc == 0 && ring->may_block) {
		/*
		 * The reader may need the other word now.  D7: pairs with the
		 * fence in ring_sleep(): our store of the dependencies before
		 * the load of each waiter count.  A sleeper whose snapshot
		 * after its announcement missed the store is seen here and
		 * woken, whichever word it chose; one that saw it chose by it.
		 */
		ring_wake(&ring->pub);
		ring_wake(&ring->rel);
	}
	return rc;
}

int iobuf_ring_reader_set_wait(struct iobuf_ring *ring, int reader, enum iobuf_ring_wait wait, uint32_t spins)
{
	struct iobuf__ring_reader *r = ring_reader(ring, reader);

	if (r == NULL || (unsigned)wait > IOBUF_RING_BLOCK)
		return -EINVAL;
	if (wait == IOBUF_RING_BLOCK && !ring->may_block)
		return -EINVAL;
	r->wait = wait;
	r->spins = spins ? spins : IOBUF_RING_DEFAULT_SPINS;
	return 0;
}

/* ---- the writer --------------------------------------------------------------- */

/*
 * The lossy writer claims slots: retire the entries they held, those below
 * @upto (all published, as a claim never passes the writer's own
 * unpublished entries), whether readers are copying them or not.  Only
 * the writer (and destroy) moves a lossy ring's reclaim word, so it needs
 * no busy bit: a load, the hooks, a store.  Called after F1: the slots are
 * BUSY for the new entries, their payloads still the old ones.
 */
static void ring_retire_lapped(struct iobuf_ring *ring, uint64_t upto)
{
	uint64_t from = iobuf__load_64(&ring->reclaim) >> 1;

	for (uint64_t s = from; s < upto; s++)
		ring->on_retire(ring->retire_ctx, s, iobuf_ring_entry(ring, s));
	/* R7: pairs with A7 in iobuf_ring_reclaimed(): the hook is done with the entries below. */
	iobuf__store_64_rel(&ring->reclaim, upto << 1);
}

/* The slowest reader's sequence, or the cursor without readers.  Lossless writer. */
static uint64_t ring_refresh_gate(struct iobuf_ring *ring)
{
	uint64_t gate = ring->published;

	/*
	 * D3: pairs with D3 in iobuf_ring_reader_add(): the cursor stores we
	 * made before this point are ordered before the loads of the readers.
	 */
	iobuf__fence_seq_cst();
	if (ring->notify & NOTIFY_RETIRE) {
		/* Retire what the readers released (the fence above is D4 and D3 for it), then gate on it. */
		ring_retire_kick(ring, 0, gate, true);
		/* A7: pairs with R7 in ring_retire(): the hook is done with the slots below. */
		gate = iobuf__load_64_acq(&ring->reclaim) >> 1;
		ring->gate = gate;
		return gate;
	}
	for (int i = 0; i < ring->max_readers; i++) {
		/* A2: pairs with R2 in iobuf_ring_release(): the reader is done with what it released. */
		uint64_t s = iobuf__load_64_acq(&ring->readers[i].seq);

		if (s < gate)
			gate = s;
	}
	ring->gate = gate;
	return gate;
}

int iobuf_ring_try_claim(struct iobuf_ring *ring, int n, uint64_t *seq)
{
	uint64_t first, next;

	if (IOBUF_UNLIKELY(ring == NULL || seq == NULL || n < 1 || (uint64_t)n > ring->capacity))
		return -EINVAL;
	first = ring->claimed;
	next = first + (uint64_t)n;
	if (IOBUF_UNLIKELY(next - ring->published > ring->capacity))
		return -EINVAL; /* would overwrite the writer's own unpublished entries */
	if (ring->mode == IOBUF_RING_LOSSLESS) {
		if (next > ring->gate + ring->capacity && next > ring_refresh_gate(ring) + ring->capacity)
			return -EAGAIN;
	} else {
		for (uint64_t s = first; s < next; s++)
			iobuf__store_64(ring_stamp(ring, s), STAMP_BUSY(s));
		/* F1: pairs with F2 in iobuf_ring_read(): BUSY before any byte of the new entries. */
		iobuf__fence_rel();
		if (ring->on_retire && next > ring->capacity)
			ring_retire_lapped(ring, next - ring->capacity);
	}
	ring->claimed = next;
	*seq = first;
	return 0;
}

int iobuf_ring_write(struct iobuf_ring *ring, uint64_t seq, const void *src)
{
	if (IOBUF_UNLIKELY(ring == NULL || src == NULL || seq < ring->published || seq >= ring->claimed))
		return -EINVAL;
	if (ring->mode == IOBUF_RING_LOSSLESS)
		memcpy(iobuf_ring_entry(ring, seq), src, ring->entry_size);
	else
		ring_copy_in(iobuf_ring_entry(ring, seq), src, ring->entry_size);
	return 0;
}

int iobuf_ring_publish(struct iobuf_ring *ring, uint64_t seq, int n)
{
	uint64_t end;

	if (IOBUF_UNLIKELY(ring == NULL || n < 1 || seq != ring->published || (uint64_t)n > ring->claimed - seq))
		return -EINVAL;
	end = seq + (uint64_t)n;
	if (ring->mode == IOBUF_RING_LOSSY) {
		for (uint64_t s = seq; s < end; s++)
			/* R3: pairs with A3 in iobuf_ring_read(): the entry's bytes. */
			iobuf__store_64_rel(ring_stamp(ring, s), STAMP_VALID(s));
	}
	ring->published = end;
	/* R1: pairs with A1 in iobuf_ring_poll(): publishes the entries. */
	iobuf__store_64_rel(&ring->cursor, end);
	if (ring->notify)
		ring_published(ring);
	return 0;
}

/* ---- readers ------------------------------------------------------------------ */

/*
 * iobuf_ring_poll() of a valid reader @r, with @deps a snapshot of its
 * dependencies.  Inline: the public poll stays one function.
 */
static inline __attribute__((always_inline)) int ring_poll(struct iobuf_ring *ring, struct iobuf__ring_reader *r,
							   uint64_t deps, uint64_t *first, uint64_t *missed)
{
	uint64_t pos, c, barrier;

	if (missed)
		*missed = 0;
	pos = r->pos;
	/* A1: pairs with R1 in iobuf_ring_publish(): the entries below the cursor. */
	c = iobuf__load_64_acq(&ring->cursor);
	if (ring->mode == IOBUF_RING_LOSSY && c > pos) {
		uint64_t newpos = 0;

		if (c - pos > ring->capacity) {
			newpos = c - ring->capacity;
		} else {
			/* Published, so the stamp is VALID(pos) unless the writer came round again. */
			uint64_t st = iobuf__load_64(ring_stamp(ring, pos));

			if (st != STAMP_VALID(pos)) {
				uint64_t top = STAMP_SEQ(st) + 1; /* the writer claimed at least this far */

				newpos = (top > c ? top : c) - ring->capacity;
			}
		}
		if (r->lapped > newpos)
			newpos = r->lapped; /* iobuf__ring_read_lapped(): the entry before it was overwritten */
		if (newpos > pos) {
			r->pos = r->avail = newpos;
			/* R2: pairs with A4 in dependents' polls (and lag queries). */
			iobuf__store_64_rel(&r->seq, newpos);
			if (missed)
				*missed = newpos - pos;
			*first = newpos;
			if (ring->may_block)
				ring_wake(&ring->rel);
			return -EOVERFLOW;
		}
	}
	barrier = c;
	while (deps) {
		int i = __builtin_ctzll(deps);
		/* A4: pairs with R2 in iobuf_ring_release(): the upstream reader is done. */
		uint64_t s = iobuf__load_64_acq(&ring->readers[i].seq);

		deps &= deps - 1;
		if (s < barrier)
			barrier = s;
	}
	*first = pos;
	if (barrier <= pos)
		return 0; /* also a reader that joined ahead of a dependency */
	if (barrier > r->avail)
		r->avail = barrier;
	return (int)(barrier - pos);
}

int iobuf_ring_poll(struct iobuf_ring *ring, int reader, uint64_t *first, uint64_t *missed)
{
	struct iobuf__ring_reader *r = ring_reader(ring, reader);

	if (IOBUF_UNLIKELY(r == NULL || first == NULL))
		return -EINVAL;
	return ring_poll(ring, r, iobuf__load_64(&r->deps), first, missed);
}

int iobuf_ring_read(struct iobuf_ring *ring, int reader, uint64_t seq, void *dst)
{
	struct iobuf__ring_reader *r = ring_reader(ring, reader);
	uint64_t *stamp;

	if (IOBUF_UNLIKELY(r == NULL || dst == NULL || seq < r->pos || seq >= r->avail))
		return -EINVAL;
	if (ring->mode == IOBUF_RING_LOSSLESS) {
		memcpy(dst, iobuf_ring_entry(ring, seq), ring->entry_size);
		return 0;
	}
	stamp = ring_stamp(ring, seq);
	/* A3: pairs with R3 in iobuf_ring_publish(): the entry's bytes. */
	if (iobuf__load_64_acq(stamp) != STAMP_VALID(seq))
		goto lapped;
	ring_copy_out(dst, iobuf_ring_entry(ring, seq), ring->entry_size);
	/* F2: pairs with F1 in iobuf_ring_try_claim(): a newer byte implies a newer stamp below. */
	iobuf__fence_acq();
	if (iobuf__load_64(stamp) != STAMP_VALID(seq))
		goto lapped;
	return 0;
lapped:
	r->avail = seq; /* the reader may release up to @seq; its next poll skips */
	return -EOVERFLOW;
}

int iobuf_ring_release(struct iobuf_ring *ring, int reader, uint64_t upto)
{
	struct iobuf__ring_reader *r = ring_reader(ring, reader);
	uint64_t from;

	if (IOBUF_UNLIKELY(r == NULL || upto < r->pos || upto > r->avail))
		return -EINVAL;
	from = r->pos;
	if (upto == from)
		return 0;
	r->pos = upto;
	/*
	 * R2: pairs with A2 in ring_refresh_gate(), A4 in iobuf_ring_poll() and
	 * A6 in ring_retire_bound(): our reads are done.
	 */
	iobuf__store_64_rel(&r->seq, upto);
	if (ring->notify)
		ring_released(ring, from, upto);
	return 0;
}

/* ---- waiting -------------------------------------------------------------------- */

/* One attempt of a waiting call: the writer's claim (reader < 0) or a reader's poll. */
struct ring_op {
	struct iobuf_ring *ring;
	int reader;
	int n;
	uint64_t *seq;
	uint64_t *missed;
};

/*
 * One attempt, a reader's with @deps as the snapshot of its dependencies:
 * 0 or a result to return; -EAGAIN when not ready yet.  The reader was
 * checked by iobuf_ring_wait(), and nothing removes it meanwhile.
 */
static int ring_attempt_deps(struct ring_op *op, uint64_t deps)
{
	int rc;

	if (op->reader < 0)
		return iobuf_ring_try_claim(op->ring, op->n, op->seq);
	rc = ring_poll(op->ring, &op->ring->readers[op->reader], deps, op->seq, op->missed);
	return rc == 0 ? -EAGAIN : rc;
}

static int ring_attempt(struct ring_op *op)
{
	return ring_attempt_deps(op, op->reader < 0 ? 0 : iobuf__load_64(&op->ring->readers[op->reader].deps));
}

/* The futex word a waiter sleeps on: the writer (@r NULL) and dependent readers "rel", others "pub". */
static struct iobuf__ring_futex *ring_futex_for(struct iobuf_ring *ring, const struct iobuf__ring_reader *r,
						uint64_t deps)
{
	return r == NULL || deps != 0 ? &ring->rel : &ring->pub;
}

/*
 * Announce, re-check, sleep.  -EAGAIN after a wake-up, or when the word
 * must be chosen again; a result; or -ETIMEDOUT.
 *
 * Which word a reader sleeps on depends on its dependencies, which
 * iobuf_ring_reader_set_deps() may change at any time.  The word is chosen
 * from a first snapshot; the snapshot that counts is the one taken after
 * the announcement (D7).  If it needs the other word, we withdraw and the
 * caller looks again; else the re-check polls with that same snapshot, so
 * the word we sleep on is the one the condition we checked needs.  A
 * set_deps whose store that snapshot missed sees our announcement (D7)
 * and wakes both words.
 */
static int ring_sleep(struct ring_op *op, uint64_t deadline)
{
	struct iobuf_ring *ring = op->ring;
	struct iobuf__ring_reader *r = op->reader < 0 ? NULL : &ring->readers[op->reader];
	struct iobuf__ring_futex *f;
	uint64_t deps = 0;
	uint32_t word;
	int rc;

	if (r)
		deps = iobuf__load_64(&r->deps);
	f = ring_futex_for(ring, r, deps);
	RING_STEP(op, IOBUF__RING_STEP_WORD, f);
	iobuf__faa_32(&f->waiters, 1);
	/*
	 * D1/D2/D5/D7: pairs with the fences of the wakers (ring_wake(),
	 * ring_published(), ring_released(), ring_retire()): the announcement
	 * before the re-check.
	 */
	iobuf__fence_seq_cst();
	/* A5: pairs with R5 in ring_wake_fenced(). */
	word = iobuf__load_32_acq(&f->word);
	if (r) {
		/*
		 * D7: pairs with the fence in ring_wake() after the store of
		 * iobuf_ring_reader_set_deps(): the snapshot after our
		 * announcement (and after A5: a bump we read implies its store).
		 */
		deps = iobuf__load_64(&r->deps);
		if (ring_futex_for(ring, r, deps) != f) {
			rc = -EAGAIN;
			goto out;
		}
	}
	rc = ring_attempt_deps(op, deps);
	if (rc == -EAGAIN) {
		RING_STEP(op, IOBUF__RING_STEP_SLEEP, f);
		/* -EAGAIN (the word moved), -EINTR, a wake-up: look again; or -ETIMEDOUT. */
		rc = iobuf__futex_wait_until(&f->word, word, deadline);
		if (rc != -ETIMEDOUT)
			rc = -EAGAIN;
	}
out:
	iobuf__faa_32(&f->waiters, UINT32_MAX); /* minus one */
	return rc;
}

static int ring_wait_for(struct ring_op *op, int how, uint32_t spins, int64_t timeout_ns)
{
	uint64_t deadline;
	int rc;

	rc = ring_attempt(op);
	if (rc != -EAGAIN)
		return rc;
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	deadline = iobuf__deadline_after(timeout_ns);
	for (uint32_t i = 1;; i++) {
		bool spinning = i <= spins || how == IOBUF_RING_SPIN;

		if (spinning) {
			iobuf__cpu_relax();
		} else if (how == IOBUF_RING_YIELD) {
			sched_yield();
		} else {
			rc = ring_sleep(op, deadline);
			if (rc == -ETIMEDOUT)
				break;
			if (rc != -EAGAIN)
				return rc;
		}
		rc = ring_attempt(op);
		if (rc != -EAGAIN)
			return rc;
		if ((!spinning || (i & 63) == 0) && iobuf__deadline_passed(deadline))
			break;
		if (i == UINT32_MAX)
			i = spins; /* keep counting past the spin phase */
	}
	/* Timed out: one last look, so what arrived at the deadline is not lost. */
	rc = ring_attempt(op);
	return rc == -EAGAIN ? -ETIMEDOUT : rc;
}

int iobuf_ring_claim(struct iobuf_ring *ring, int n, uint64_t *seq, int64_t timeout_ns)
{
	struct ring_op op = {.ring = ring, .reader = -1, .n = n, .seq = seq};

	if (ring == NULL)
		return -EINVAL;
	return ring_wait_for(&op, ring->wait, ring->spins, timeout_ns);
}

int iobuf_ring_wait(struct iobuf_ring *ring, int reader, uint64_t *first, uint64_t *missed, int64_t timeout_ns)
{
	struct iobuf__ring_reader *r = ring_reader(ring, reader);
	struct ring_op op = {.ring = ring, .reader = reader, .seq = first, .missed = missed};

	if (r == NULL || first == NULL)
		return -EINVAL;
	return ring_wait_for(&op, r->wait, r->spins, timeout_ns);
}

/* ---- queries ---------------------------------------------------------------------- */

uint64_t iobuf_ring_cursor(const struct iobuf_ring *ring)
{
	if (ring == NULL)
		return 0;
	/* A1: pairs with R1 in iobuf_ring_publish(). */
	return iobuf__load_64_acq(&ring->cursor);
}

int64_t iobuf_ring_lag(const struct iobuf_ring *ring, int reader)
{
	uint64_t s, c;

	if (ring == NULL || reader < 0 || reader >= ring->max_readers)
		return -EINVAL;
	/* Acquire, so the cursor read next is at least the one the reader had seen. */
	s = iobuf__load_64_acq(&ring->readers[reader].seq);
	if (s == RING_FREE)
		return -EINVAL;
	c = iobuf__load_64_acq(&ring->cursor);
	return c > s ? (int64_t)(c - s) : 0;
}

int64_t iobuf_ring_slowest_lag(const struct iobuf_ring *ring, int *reader)
{
	uint64_t min = RING_FREE, c;
	int who = -1;

	if (ring == NULL)
		return -EINVAL;
	for (int i = 0; i < ring->max_readers; i++) {
		uint64_t s = iobuf__load_64_acq(&ring->readers[i].seq);

		if (s < min) {
			min = s;
			who = i;
		}
	}
	if (reader)
		*reader = who;
	if (who < 0)
		return 0;
	c = iobuf__load_64_acq(&ring->cursor);
	return c > min ? (int64_t)(c - min) : 0;
}

uint64_t iobuf_ring_reclaimed(const struct iobuf_ring *ring)
{
	if (ring == NULL)
		return 0;
	/* A7: pairs with R7 in ring_retire(): the hook calls below it are done. */
	return iobuf__load_64_acq(&ring->reclaim) >> 1;
}

/* ---- for the layers above (src/ring.h) ------------------------------------------------ */

void *iobuf__ring_retire_ctx(const struct iobuf_ring *ring, void (*hook)(void *ctx, uint64_t seq, void *entry))
{
	return ring != NULL && hook != NULL && ring->on_retire == hook ? ring->retire_ctx : NULL;
}

uint64_t iobuf__ring_capacity(const struct iobuf_ring *ring)
{
	return ring->capacity;
}

uint64_t iobuf__ring_unpublished(const struct iobuf_ring *ring)
{
	return ring->claimed - ring->published;
}

int iobuf__ring_read_lapped(struct iobuf_ring *ring, int reader, uint64_t seq)
{
	struct iobuf__ring_reader *r = ring_reader(ring, reader);

	if (r == NULL || ring->mode != IOBUF_RING_LOSSY || seq < r->pos || seq >= r->avail)
		return -EINVAL;
	r->avail = seq; /* as a failed iobuf_ring_read(): the reader may release up to @seq */
	r->lapped = seq + 1;
	return 0;
}

void iobuf__ring_dump(const struct iobuf_ring *ring, FILE *out, const char *prefix)
{
	static const char *const waits[] = {"spin", "yield", "block"};
	/* Relaxed loads throughout: a diagnostic snapshot orders nothing. */
	uint64_t reclaim = iobuf__load_64(&ring->reclaim);

	fprintf(out,
		"%sring %p: %s, capacity %" PRIu64 ", entry %" PRIu32 " bytes, %d reader slots (%" PRIu32
		" active), wait %s%s%s\n",
		prefix, (const void *)ring, ring->mode == IOBUF_RING_LOSSY ? "lossy" : "lossless", ring->capacity,
		ring->entry_size, ring->max_readers, iobuf__load_32(&ring->nactive), waits[ring->wait],
		ring->may_block ? ", may block" : "", ring->on_retire ? ", retiring" : "");
	fprintf(out, "%s  cursor %" PRIu64 "; writer: claimed %" PRIu64 ", published %" PRIu64 ", gate %" PRIu64 "\n",
		prefix, iobuf__load_64(&ring->cursor), iobuf__load_64(&ring->claimed), iobuf__load_64(&ring->published),
		iobuf__load_64(&ring->gate));
	if (ring->on_retire)
		fprintf(out, "%s  reclaimed %" PRIu64 "%s\n", prefix, reclaim >> 1,
			reclaim & RECLAIM_BUSY ? ", a retirer holds the word" : ", the word is free");
	fprintf(out,
		"%s  futex pub: word %" PRIu32 ", waiters %" PRIu32 "; rel: word %" PRIu32 ", waiters %" PRIu32 "\n",
		prefix, iobuf__load_32(&ring->pub.word), iobuf__load_32(&ring->pub.waiters),
		iobuf__load_32(&ring->rel.word), iobuf__load_32(&ring->rel.waiters));
	for (int i = 0; i < ring->max_readers; i++) {
		const struct iobuf__ring_reader *r = &ring->readers[i];
		uint64_t seq = iobuf__load_64(&r->seq);

		if (seq == RING_FREE) {
			fprintf(out, "%s  reader %d: free\n", prefix, i);
			continue;
		}
		fprintf(out,
			"%s  reader %d: seq %" PRIu64 ", pos %" PRIu64 ", avail %" PRIu64 ", deps %#" PRIx64
			", wait %s, spins %" PRIu32 "\n",
			prefix, i, seq, iobuf__load_64(&r->pos), iobuf__load_64(&r->avail), iobuf__load_64(&r->deps),
			(unsigned)r->wait <= IOBUF_RING_BLOCK ? waits[r->wait] : "?", r->spins);
	}
}
