/* SPDX-License-Identifier: MIT */
/*
 * pool.c - one tier: an arena of equal buffers, the SCQ of free indices,
 * a slot word per buffer, the depot of magazines, waiting and readiness.
 *
 * Slots.  The slot words and their transitions are iobuf/slot.h's: a
 * 32-bit generation, even while free, odd while held; a get takes (a
 * relaxed store by the one holder of the free index), a put releases (a
 * compare-and-swap from the handle's generation, so of two puts of one
 * handle exactly one wins).  wraps[i] counts the times slot i's
 * generation went past 2^32; only the release that wraps it writes it.
 *
 * Counters.  gets and puts are read off the slots (every transition
 * counts one), so the hot path keeps no shared counter for statistics;
 * only refusals, empty gets and waits, all off the common path, are
 * counted.  Caches attach to the pool (a list under a mutex, touched by
 * attach, detach, statistics and reclaim only): a snapshot adds up what
 * they hold, so "cached" is exact at rest and "free" is the rest.
 *
 * Depot.  Caches (cache.c) move indices to and from the pool in whole
 * magazines of M indices (Bonwick and Adams, "Magazines and Vmem", 2001).
 * The depot is pool-owned: nmag magazines of M slots, an SCQ of the ids
 * of the full ones and an SCQ of the ids of the empty ones.  Indices in
 * the depot are free: an uncached get that finds the free queue empty
 * takes a full magazine, keeps one index and gives the others to the
 * queue, so no buffer hides there.  nmag is capacity / M + 2: full
 * magazines never hold more than capacity / M, and the spare two cover
 * drainers that still hold an id; a flush that finds no empty magazine
 * all the same gives its indices to the queue.
 *
 * Empty.  A get that finds the queue and the depot empty first takes back
 * what parked caches hold (iobuf_cache_park()), then arms the readiness
 * fd when one exists and looks again; only then is it -ENOBUFS, counted,
 * and the reclaim epoch moves so that active caches give back on their
 * next out-of-line call.
 *
 * Ordering edges (see doc/design.md):
 *   P1  put: the SCQ enqueue releases the buffer's bytes and its slot;
 *       get: the SCQ dequeue that returns i acquires them.
 *   W1  put: enqueue (an atomic RMW) before the loads of waiters and
 *       armed; waiting get: waiters++ (an atomic RMW) before the retry of
 *       the queue.  With iobuf__fence_rmw_load() on both sides, at least
 *       one sees the other: the get finds the index, or the put sees the
 *       waiter and bumps wake_seq, which the futex re-checks.  A flush
 *       into the depot is such a put (its only shared writes before the
 *       fence are the SCQ's RMWs), and the retry looks in the depot too.
 *   W2  arming the readiness fd: armed = 1 (an exchange) before the
 *       re-check of the queue, with the same fence; pairs with W1's put
 *       side: the re-check finds the index, or the put sees armed and
 *       writes the eventfd.
 *   M1  flush: the enqueue of a full magazine's id releases the indices
 *       written into its slots (and, through P1 or the cache's own
 *       order, the buffers' bytes and slots); the dequeue of that id (a
 *       cache's refill, or an uncached get) acquires them.
 *   M2  drain: the enqueue of an empty magazine's id releases the
 *       drainer's reads of its slots; the flusher's dequeue of the id
 *       acquires them, so its writes cannot overtake those reads.
 *   W3  park: the owner's exchange to PARKED (an RMW) before its loads of
 *       waiters and armed (iobuf__pool_nudge()), with the same fence;
 *       pairs with a waiting get's waiters++ and an empty get's arming,
 *       each before its look at the caches' states: the get reclaims
 *       the parked cache, or the owner sees it and wakes it.
 *   C1  park: a cache's owner exchanges to PARKED with release after its
 *       last write to its stacks; a reclaimer's CAS PARKED -> RECLAIMING
 *       acquires them.  C2: the reclaimer's store of PARKED releases its
 *       writes (the emptied stack); the owner's CAS PARKED -> ACTIVE in
 *       iobuf_cache_unpark() acquires them.
 *   W4  a look that came up short: lookers++ (an RMW) before the second
 *       look, with the same fence; pairs with W1's put side: the look
 *       finds the index, or the put sees the looker and bumps wake_seq
 *       (a release), which the looker re-reads (acquire) after its look.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <iobuf/pool.h>
#include <iobuf/scq.h>
#include <iobuf/slice.h>

#include "account.h"
#include "atomic.h"
#include "pool.h"
#include "scq.h"
#include "util.h"
#include "wait.h"

#if defined(__SANITIZE_ADDRESS__)
#define IOBUF_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IOBUF_POOL_ASAN 1
#endif
#endif
#ifdef IOBUF_POOL_ASAN
#include <sanitizer/asan_interface.h>
#endif

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif

/* Spins and yields of a waiting get before it sleeps. */
#define WAIT_SPINS 256
#define WAIT_YIELDS 8

/* What a pool's debug byte holds: the hand-outs that take the cold path, and why. */
#define DEBUG_VALGRIND 1u /* memcheck's mempool requests */
#define DEBUG_SITES 2u    /* where each buffer was taken (IOBUF_POOL_TRACK_SITES) */

#define POOL_FLAGS (IOBUF_POOL_TRACK_SITES | IOBUF_POOL_QUIET_LEAKS)

/*
 * Where buffer i was last handed out by a get that records sites: the
 * return address (NULL: a get that records none), and the generation of
 * that hand-out, so that a hand-out made since by a path that records
 * nothing (a cache's inline get) is never given an older one's site.
 */
struct site {
	const void *at;
	uint32_t gen;
};

struct iobuf_pool {
	struct iobuf_pool_shape shape; /* first: read by iobuf_pool_index_buf() */
	uint32_t gen_base;             /* every slot's first generation */
	uint32_t *wraps;               /* per slot: times its generation wrapped */
	struct iobuf_account **acct;   /* a set's pool, per slot: the account a charged hand-out credits */
	uint64_t *kind;                /* a set's pool, per slot: (generation << 32) | content kind, as shape.len */
	struct iobuf_scq *free;
	struct iobuf_arena arena;
	uint8_t debug;           /* DEBUG_*: 0 keeps every hand-out on the common path */
	struct site *sites;      /* per slot, under DEBUG_SITES; else NULL */
	unsigned flags;          /* enum iobuf_pool_flags */
	void (*on_leak)(void *arg, const struct iobuf_leak *leak);
	void *on_leak_arg;

	/* The depot (read-only fields; the SCQs are the shared state). */
	uint32_t mag;            /* indices per magazine; 0: no depot */
	uint32_t nmag;           /* magazines */
	uint32_t *mag_slots;     /* nmag * mag indices */
	struct iobuf_scq *full;  /* ids of full magazines */
	struct iobuf_scq *empty; /* ids of empty magazines */

	/* Written off the common path only. */
	alignas(IOBUF_CACHELINE) uint64_t empty_gets;
	uint64_t waits;
	uint64_t wait_timeouts;
	uint64_t refused_invalid;
	uint64_t refused_already;
	uint64_t refused_stale;

	/*
	 * Read by every put (waiters, armed) and every cached put (want);
	 * written only when a get starts or stops waiting and when the
	 * readiness fd is armed or fires.  want: waiting gets plus the armed
	 * fd (caches give their buffers back while it is not 0); waiters:
	 * gets asleep on the futex; armed: 1 while the fd waits for a put;
	 * lookers: gets taking a second look at a queue and depot that came
	 * up short (settle()).
	 */
	alignas(IOBUF_CACHELINE) uint32_t want;
	uint32_t waiters;
	uint32_t armed;
	uint32_t lookers;
	int ready_fd; /* -1 until iobuf_pool_ready_fd() or the set's adoption */
	bool ready_fd_owned;

	/* The futex word: written by puts that wake, read by sleepers and lookers. */
	alignas(IOBUF_CACHELINE) uint32_t wake_seq;

	/* Moves when a get finds the pool empty: caches give back on their next slow call. */
	alignas(IOBUF_CACHELINE) uint32_t reclaim;
	uint32_t high_water;

	/* The attached caches. */
	alignas(IOBUF_CACHELINE) pthread_mutex_t lock;
	struct iobuf__pool_client *clients;
	uint32_t nclients; /* read without the lock: 0 means no cache to ask */
};

/* Owner ids of sets [1] and standalone pools [0]: the library's only process-wide state. */
static uint32_t owner_seq[2];

unsigned iobuf__owner_next(bool set)
{
	return (unsigned)iobuf__faa_32(&owner_seq[set ? 1 : 0], 1) % IOBUF__HANDLE_OWNERS;
}

/* ---- debugging aids: ASan poisoning, valgrind mempool ------------------- */

static inline void mark_free(struct iobuf_pool *p, uint32_t idx)
{
	uint8_t *b = iobuf_pool_index_buf(p, idx);

	(void)b;
#ifdef IOBUF_POOL_ASAN
	ASAN_POISON_MEMORY_REGION(b, p->shape.stride);
#endif
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (IOBUF_UNLIKELY(p->debug & DEBUG_VALGRIND))
		VALGRIND_MEMPOOL_FREE(p, b);
#endif
}

/* The cold half of mark_used(): memcheck's view of a buffer handed out. */
static inline void mark_used_valgrind(struct iobuf_pool *p, uint32_t idx)
{
	uint8_t *b = iobuf_pool_index_buf(p, idx);

	(void)b;
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (p->debug & DEBUG_VALGRIND) {
		VALGRIND_MEMPOOL_ALLOC(p, b, p->shape.buf_size);
		/* The bytes are the previous owner's: defined, as a recycled buffer's are. */
		VALGRIND_MAKE_MEM_DEFINED(b, p->shape.buf_size);
	}
#endif
}

/* A buffer handed out: ASan's view here; memcheck's and the site in take_debug(), when p->debug says so. */
static inline void mark_used(struct iobuf_pool *p, uint32_t idx)
{
	uint8_t *b = iobuf_pool_index_buf(p, idx);

	(void)b;
#ifdef IOBUF_POOL_ASAN
	ASAN_UNPOISON_MEMORY_REGION(b, p->shape.stride);
#endif
}

#ifdef HAVE_VALGRIND_MEMCHECK_H
/*
 * Running under valgrind's memcheck (not callgrind or another tool, which
 * have no use for the mempool requests): memcheck answers GET_VBITS with
 * 1, any other tool leaves the request's default, 0.
 */
static bool under_memcheck(void)
{
	unsigned char byte = 0, vbits = 0;

	if (!RUNNING_ON_VALGRIND)
		return false;
	return VALGRIND_GET_VBITS(&byte, &vbits, 1) == 1;
}
#endif

/* ---- create / destroy ----------------------------------------------------- */

static int depot_init(struct iobuf_pool *p, const struct iobuf_pool_config *cfg)
{
	uint32_t mag = cfg->magazine ? cfg->magazine : IOBUF_POOL_MAGAZINE_DEFAULT;

	if (mag > IOBUF_POOL_MAGAZINE_MAX)
		mag = IOBUF_POOL_MAGAZINE_MAX;
	if (mag > cfg->capacity / IOBUF_POOL_MAGAZINE_DIV)
		mag = cfg->capacity / IOBUF_POOL_MAGAZINE_DIV;
	if (mag == 0)
		return 0; /* too small to cache: no depot */
	p->nmag = cfg->capacity / mag + 2;
	p->mag_slots = malloc(sizeof(uint32_t) * (size_t)p->nmag * mag);
	p->full = iobuf__scq_create_at(p->nmag, false, 0, NULL);
	p->empty = iobuf__scq_create_at(p->nmag, true, 0, NULL);
	if (!p->mag_slots || !p->full || !p->empty)
		return -ENOMEM;
	p->mag = mag;
	return 0;
}

/* Free what create made; the arena only when it was mapped. */
static void pool_free(struct iobuf_pool *p)
{
	free(p->mag_slots);
	iobuf_scq_destroy(p->full);
	iobuf_scq_destroy(p->empty);
	iobuf_scq_destroy(p->free);
	free(p->shape.slot);
	free(p->shape.len);
	free(p->wraps);
	free(p->acct);
	free(p->kind);
	free(p->sites);
	if (p->ready_fd_owned)
		close(p->ready_fd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* A first generation of the pool's own (even), so that pools sharing an owner id rarely share generations. */
static uint32_t gen_seed(const void *p, unsigned owner)
{
	struct timespec ts;
	uint64_t z;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* splitmix64's finalizer over the address, the owner and the time. */
	z = (uint64_t)(uintptr_t)p ^ ((uint64_t)owner << 56) ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return (uint32_t)z & ~UINT32_C(1);
}

/* IOBUF_DEBUG holds the word "sites" (words apart by commas or blanks): every pool records sites. */
static bool debug_env_sites(void)
{
	const char *v = getenv("IOBUF_DEBUG");
	size_t n;

	while (v && *v) {
		v += strspn(v, ", \t");
		n = strcspn(v, ", \t");
		if (n == 5 && strncmp(v, "sites", 5) == 0)
			return true;
		v += n;
	}
	return false;
}

static struct iobuf_pool *pool_new(const struct iobuf_pool_config *cfg, bool set, unsigned owner, bool seeded,
				   uint32_t gen_base, uint64_t scq_start, int *err)
{
	struct iobuf_pool *p = NULL;
	size_t page = iobuf_page_size(), align, stride, bytes;
	int rc;

	if (!cfg || cfg->buf_size == 0 || cfg->capacity == 0 || cfg->capacity > IOBUF_POOL_MAX_CAPACITY ||
	    cfg->tag > 7 || (gen_base & 1) || cfg->buf_size > SIZE_MAX / 2 || (cfg->flags & ~(unsigned)POOL_FLAGS)) {
		rc = -EINVAL;
		goto fail;
	}
	align = (size_t)iobuf__pow2_ceil64(cfg->buf_size);
	if (align > page)
		align = page;
	stride = (cfg->buf_size + align - 1) & ~(align - 1);
	if (stride > SIZE_MAX / cfg->capacity) {
		rc = -EINVAL;
		goto fail;
	}
	bytes = stride * cfg->capacity;

	rc = -ENOMEM;
	if (posix_memalign((void **)&p, IOBUF_CACHELINE, sizeof(*p)) != 0) {
		p = NULL;
		goto fail;
	}
	memset(p, 0, sizeof(*p));
	p->arena.fd = -1;
	p->ready_fd = -1;
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p);
		p = NULL;
		goto fail;
	}
	p->gen_base = seeded ? gen_base : gen_seed(p, owner);
	if (posix_memalign((void **)&p->shape.slot, IOBUF_CACHELINE, sizeof(iobuf__slot_t) * (size_t)cfg->capacity) !=
	    0) {
		p->shape.slot = NULL;
		goto fail_free;
	}
	for (uint32_t i = 0; i < cfg->capacity; i++)
		p->shape.slot[i] = p->gen_base;
	p->shape.len = malloc(sizeof(uint64_t) * (size_t)cfg->capacity);
	/* The first generation is free, no hand-out's: every buffer starts with 0 bytes, older than any length. */
	for (uint32_t i = 0; p->shape.len && i < cfg->capacity; i++)
		p->shape.len[i] = (uint64_t)p->gen_base << 32;
	p->wraps = calloc(cfg->capacity, sizeof(uint32_t));
	if (set && p->wraps) {
		p->acct = calloc(cfg->capacity, sizeof(*p->acct));
		p->kind = malloc(sizeof(uint64_t) * (size_t)cfg->capacity);
		if (!p->acct || !p->kind) {
			rc = -ENOMEM;
			goto fail_free;
		}
		for (uint32_t i = 0; i < cfg->capacity; i++)
			p->kind[i] = (uint64_t)p->gen_base << 32; /* kind 0 for every hand-out, as the lengths */
	}
	p->free = iobuf__scq_create_at(cfg->capacity, true, scq_start, &rc);
	if (!p->wraps || !p->shape.len || !p->free) {
		rc = p->free ? -ENOMEM : rc;
		goto fail_free;
	}
	rc = depot_init(p, cfg);
	if (rc < 0)
		goto fail_free;
	p->flags = cfg->flags;
	p->on_leak = cfg->on_leak;
	p->on_leak_arg = cfg->on_leak_arg;
	if ((cfg->flags & IOBUF_POOL_TRACK_SITES) || debug_env_sites()) {
		rc = -ENOMEM;
		p->sites = calloc(cfg->capacity, sizeof(*p->sites));
		if (!p->sites)
			goto fail_free;
		p->debug |= DEBUG_SITES;
	}
	rc = iobuf_arena_init(&p->arena, bytes, 0, cfg->arena_flags);
	if (rc < 0)
		goto fail_free;

	p->shape.base = p->arena.base;
	p->shape.stride = stride;
	p->shape.buf_size = cfg->buf_size;
	p->shape.capacity = cfg->capacity;
	p->shape.stamp = iobuf__stamp(set, owner, cfg->tag);
	p->shape.want = &p->want;
	p->shape.reclaim = &p->reclaim;

#ifdef HAVE_VALGRIND_MEMCHECK_H
	/*
	 * Only under memcheck (other tools have no use for the annotations, and
	 * callgrind then counts the real path); IOBUF_VALGRIND=0 skips them too.
	 */
	if (under_memcheck() && !(getenv("IOBUF_VALGRIND") && strcmp(getenv("IOBUF_VALGRIND"), "0") == 0))
		p->debug |= DEBUG_VALGRIND;
	if (p->debug & DEBUG_VALGRIND) {
		VALGRIND_CREATE_MEMPOOL(p, 0, 0);
		VALGRIND_MAKE_MEM_NOACCESS(p->arena.base, bytes);
	}
#endif
#ifdef IOBUF_POOL_ASAN
	ASAN_POISON_MEMORY_REGION(p->arena.base, bytes);
#endif
	if (err)
		*err = 0;
	/* Published to other threads by however the caller hands them the pointer. */
	return p;

fail_free:
	pool_free(p);
fail:
	if (err)
		*err = rc;
	return NULL;
}

struct iobuf_pool *iobuf__pool_create_at(const struct iobuf_pool_config *cfg, uint32_t gen_base, uint64_t scq_start,
					 int *err)
{
	return pool_new(cfg, false, iobuf__owner_next(false), true, gen_base, scq_start, err);
}

struct iobuf_pool *iobuf__pool_create_in_set(const struct iobuf_pool_config *cfg, unsigned owner, int *err)
{
	return pool_new(cfg, true, owner, false, 0, 0, err);
}

struct iobuf_pool *iobuf_pool_create(const struct iobuf_pool_config *cfg, int *err)
{
	return pool_new(cfg, false, cfg ? iobuf__owner_next(false) : 0, false, 0, 0, err);
}

void iobuf_pool_destroy(struct iobuf_pool *p)
{
	if (!p)
		return;
	if (!(p->flags & IOBUF_POOL_QUIET_LEAKS)) {
		struct iobuf__leak_tally tally = {0};
		int n = iobuf_pool_leaks(p, p->on_leak ? p->on_leak : iobuf__leak_stderr,
					 p->on_leak ? p->on_leak_arg : &tally);

		if (!p->on_leak)
			iobuf__leak_summary("pool", n, &tally);
	}
#ifdef IOBUF_POOL_ASAN
	ASAN_UNPOISON_MEMORY_REGION(p->arena.base, p->arena.size);
#endif
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (p->debug & DEBUG_VALGRIND)
		VALGRIND_DESTROY_MEMPOOL(p);
#endif
	iobuf_arena_fini(&p->arena);
	pool_free(p);
}

/* ---- slots ------------------------------------------------------------------ */

/* Record @site for the hand-out @gen of buffer @idx (DEBUG_SITES). */
static void note_site(struct iobuf_pool *p, uint32_t idx, uint32_t gen, const void *site)
{
	struct site *s = &p->sites[idx];

	iobuf__store_ptr(&s->at, site);
	/* S1: release, pairs with S1 in iobuf_pool_leaks(): the site comes with its generation. */
	iobuf__store_32_rel(&s->gen, gen);
}

void iobuf__pool_note_site(struct iobuf_pool *p, iobuf_handle_t h, const void *site)
{
	note_site(p, iobuf__handle_index_for(h, p->shape.stamp), iobuf_handle_generation(h), site);
}

/* Which site a hand-out records, in a pool that records sites. */
enum take_site {
	SITE_HERE,   /* the return address of the public get that take() is inlined into */
	SITE_NONE,   /* none: a cache's out-of-line get (its inline gets never reach the pool) */
	SITE_CALLER, /* the set's get notes its own caller's: take_as() returns IOBUF__POOL_NOTE */
};

/*
 * The cold half of a hand-out in a pool with p->debug set: memcheck's
 * view of the buffer, and the site.  Returns IOBUF__POOL_NOTE when
 * @caller is to note the site itself, else 0.
 */
static __attribute__((noinline, cold)) int take_debug(struct iobuf_pool *p, iobuf_handle_t h, const void *site, bool caller)
{
	mark_used_valgrind(p, iobuf__handle_index_for(h, p->shape.stamp));
	if (!(p->debug & DEBUG_SITES))
		return 0;
	iobuf__pool_note_site(p, h, site);
	return caller ? IOBUF__POOL_NOTE : 0;
}

/*
 * take_as: the caller holds free index @idx; hand it out into *@h (the
 * slot turns odd; take_plain() without the debugging half).  Returns 0, or IOBUF__POOL_NOTE (SITE_CALLER, in a
 * pool that records sites).  Always inline: __builtin_return_address(0)
 * on its cold path is then the return address of the public get it is
 * part of, and the common path, when p->debug is 0, reads nothing for it
 * (the test of p->debug is the one memcheck's requests always had).
 */
static inline iobuf_handle_t take_plain(struct iobuf_pool *p, uint32_t idx)
{
	/* The index came through P1 (or from a cache): the slot is current and no one else writes it. */
	uint32_t g = iobuf__slot_take(&p->shape.slot[idx], iobuf__slot_gen(iobuf__slot_load(&p->shape.slot[idx])));

	mark_used(p, idx);
	return iobuf__handle_make(p->shape.stamp, idx, g);
}

static inline __attribute__((always_inline)) int take_as(struct iobuf_pool *p, uint32_t idx, iobuf_handle_t *h,
							  enum take_site how)
{
	*h = take_plain(p, idx);
	if (IOBUF_UNLIKELY(p->debug))
		return take_debug(p, *h, how == SITE_HERE ? __builtin_return_address(0) : NULL, how == SITE_CALLER);
	return 0;
}

/* take: a hand-out by a public get, which records its caller as the site. */
static inline __attribute__((always_inline)) iobuf_handle_t take(struct iobuf_pool *p, uint32_t idx)
{
	iobuf_handle_t h;

	(void)take_as(p, idx, &h, SITE_HERE);
	return h;
}

static __attribute__((noinline, cold)) void take_all_debug(struct iobuf_pool *p, iobuf_handle_t *hs, int n,
							     const void *site)
{
	for (int i = 0; i < n; i++) {
		hs[i] = take_plain(p, (uint32_t)hs[i]);
		(void)take_debug(p, hs[i], site, false);
	}
}

/*
 * Hand out the @n free indices in @hs (as integers) as handles, in place;
 * the site, as take()'s, is the caller of the public get.  One test of
 * p->debug for them all.
 */
static inline __attribute__((always_inline)) void take_all(struct iobuf_pool *p, iobuf_handle_t *hs, int n)
{
	if (IOBUF_UNLIKELY(p->debug)) {
		take_all_debug(p, hs, n, __builtin_return_address(0));
		return;
	}
	for (int i = 0; i < n; i++)
		hs[i] = take_plain(p, (uint32_t)hs[i]);
}

iobuf_handle_t iobuf__pool_take(struct iobuf_pool *p, uint32_t idx)
{
	iobuf_handle_t h;

	(void)take_as(p, idx, &h, SITE_NONE);
	return h;
}

static __attribute__((noinline, cold)) int refuse(struct iobuf_pool *p, int rc)
{
	uint64_t *ctr = rc == -EALREADY ? &p->refused_already : rc == -ESTALE ? &p->refused_stale : &p->refused_invalid;

	iobuf__faa_64(ctr, 1);
	return rc;
}

void iobuf__pool_refuse(struct iobuf_pool *p, int rc)
{
	(void)refuse(p, rc);
}

/* A release of generation UINT32_MAX took slot @idx past 2^32: count it (we hold the free index). */
static __attribute__((noinline, cold)) void note_wrap(struct iobuf_pool *p, uint32_t idx)
{
	iobuf__store_32(&p->wraps[idx], iobuf__load_32(&p->wraps[idx]) + 1);
}

/*
 * A release of @gen refused as stale: -ESTALE when slot @idx has issued
 * @gen (it lies between the slot's first generation and the one it holds
 * now), else -EINVAL: a generation this slot never had is another owner's
 * handle that shares our owner id (iobuf/slot.h).  Once a slot wrapped,
 * every generation has been issued: -ESTALE.
 */
static __attribute__((noinline, cold)) int stale_or_foreign(const struct iobuf_pool *p, uint32_t idx, uint32_t gen)
{
	uint32_t now = iobuf__slot_gen(iobuf__slot_load(&p->shape.slot[idx]));

	if (iobuf__load_32(&p->wraps[idx]) == 0 && gen - p->gen_base > now - p->gen_base)
		return -EINVAL;
	return -ESTALE;
}

/*
 * The last put of a charged hand-out of @idx: credit its account.  We
 * hold the free index (no get can take it and charge it again), and A2 in
 * the release acquired the charge (T1).
 */
static __attribute__((noinline)) void credit(struct iobuf_pool *p, uint32_t idx)
{
	struct iobuf_account *a = __atomic_load_n(&p->acct[idx], __ATOMIC_RELAXED);

	__atomic_store_n(&p->acct[idx], NULL, __ATOMIC_RELAXED);
	iobuf__account_credit(a, iobuf_handle_tag(p->shape.stamp));
}

static inline int release(struct iobuf_pool *p, iobuf_handle_t h)
{
	uint32_t idx = iobuf__handle_index_for(h, p->shape.stamp), gen = iobuf_handle_generation(h);
	int rc;

	/* Another owner's stamp, an index out of range, or not a held generation. */
	if (IOBUF_UNLIKELY(idx >= p->shape.capacity || !(gen & 1)))
		return refuse(p, -EINVAL);
	rc = iobuf__slot_release(&p->shape.slot[idx], gen);
	if (IOBUF_UNLIKELY(rc != 0)) {
		if (rc < 0)
			return refuse(p, rc == -ESTALE ? stale_or_foreign(p, idx, gen) : rc);
		if (rc == IOBUF__SLOT_SHARED)
			return IOBUF__POOL_KEPT;
		credit(p, idx);
	}
	if (IOBUF_UNLIKELY(gen == UINT32_MAX))
		note_wrap(p, idx);
	mark_free(p, idx);
	return (int)idx;
}

int iobuf__pool_release(struct iobuf_pool *p, iobuf_handle_t h)
{
	return release(p, h);
}

static inline int release_index(struct iobuf_pool *p, uint32_t idx)
{
	uint32_t gen;
	int rc;

	if (IOBUF_UNLIKELY(idx >= p->shape.capacity))
		return refuse(p, -EINVAL);
	rc = iobuf__slot_release_any(&p->shape.slot[idx], &gen);
	if (IOBUF_UNLIKELY(rc != 0)) {
		if (rc < 0)
			return refuse(p, -EALREADY);
		if (rc == IOBUF__SLOT_SHARED)
			return IOBUF__POOL_KEPT;
		credit(p, idx);
	}
	if (IOBUF_UNLIKELY(gen == UINT32_MAX))
		note_wrap(p, idx);
	mark_free(p, idx);
	return (int)idx;
}

int iobuf__pool_release_index(struct iobuf_pool *p, uint32_t idx)
{
	return release_index(p, idx);
}

/* ---- holders and lengths (iobuf/slice.h) ------------------------------------ */

/* The index of live-looking handle @h, or the refusal: another owner, out of range, not a held generation. */
static inline int held_index(const struct iobuf_pool *p, iobuf_handle_t h, uint32_t *idx)
{
	if (IOBUF_UNLIKELY(!p))
		return -EINVAL;
	*idx = iobuf__handle_index_for(h, p->shape.stamp);
	if (IOBUF_UNLIKELY(*idx >= p->shape.capacity || !(iobuf_handle_generation(h) & 1)))
		return -EINVAL;
	return 0;
}

/* Why @h, with a held generation of index @idx, is not live now: -EALREADY, -ESTALE or -EINVAL. */
static int not_live(const struct iobuf_pool *p, uint32_t idx, iobuf_handle_t h)
{
	uint32_t gen = iobuf_handle_generation(h);
	int rc = iobuf__slot_refusal(iobuf__slot_gen(iobuf__slot_load(&p->shape.slot[idx])), gen);

	return rc == -ESTALE ? stale_or_foreign(p, idx, gen) : rc;
}

/*
 * Record @val in @word, buffer @idx's length or kind word, for the
 * hand-out @gen, decided by the slot rather than by ordering generations
 * (which wrap).  The compare-and-swap succeeds only if the word has not
 * changed since a load made before a check that found the slot still at
 * @gen.  A later hand-out writes its word only after its take (L1), so a
 * load that sees that word comes with a check that sees the slot moved on,
 * and we refuse; if a later hand-out took the slot but has not written its
 * word yet, we write (@gen, @val), which it reads as 0 (iobuf__len_of()):
 * what a fresh hand-out has anyway.
 */
static int store_for(const struct iobuf_pool *p, uint64_t *word, uint32_t idx, uint32_t gen, uint32_t val)
{
	/* L1: acquire, pairs with the release of a later hand-out's store below. */
	uint64_t w = __atomic_load_n(word, __ATOMIC_ACQUIRE);
	iobuf_handle_t h = (iobuf_handle_t)gen << 32;

	for (;;) {
		if (!iobuf__slot_live(iobuf__slot_load(&p->shape.slot[idx]), h))
			return not_live(p, idx, h);
		/* L1: release: this hand-out's take comes before its word. */
		if (__atomic_compare_exchange_n(word, &w, ((uint64_t)gen << 32) | val, false, __ATOMIC_RELEASE,
						__ATOMIC_ACQUIRE))
			return 0;
	}
}

/* The index of @h when it is live, or why not. */
static int live_index(const struct iobuf_pool *p, iobuf_handle_t h, uint32_t *idx)
{
	int rc = held_index(p, h, idx);

	if (rc < 0)
		return rc;
	if (!iobuf__slot_live(iobuf__slot_load(&p->shape.slot[*idx]), h))
		return not_live(p, *idx, h);
	return 0;
}

int iobuf_pool_hold(struct iobuf_pool *p, iobuf_handle_t h, uint32_t n)
{
	uint32_t idx;
	int rc = held_index(p, h, &idx);

	if (rc < 0 || n == 0)
		return rc < 0 ? rc : -EINVAL;
	rc = iobuf__slot_hold(&p->shape.slot[idx], iobuf_handle_generation(h), n);
	return rc == -ESTALE ? stale_or_foreign(p, idx, iobuf_handle_generation(h)) : rc;
}

int iobuf_pool_holders(const struct iobuf_pool *p, iobuf_handle_t h)
{
	uint32_t idx;
	iobuf__slot_t w;
	int rc = held_index(p, h, &idx);

	if (rc < 0)
		return rc;
	w = iobuf__slot_load(&p->shape.slot[idx]);
	if (!iobuf__slot_live(w, h))
		return not_live(p, idx, h);
	return (int)iobuf__slot_holders(w);
}

ssize_t iobuf_pool_len(const struct iobuf_pool *p, iobuf_handle_t h)
{
	uint32_t idx;
	int rc = live_index(p, h, &idx);

	if (rc < 0)
		return rc;
	return (ssize_t)iobuf__len_of(&p->shape.len[idx], iobuf_handle_generation(h));
}

int iobuf_pool_setlen(struct iobuf_pool *p, iobuf_handle_t h, size_t len)
{
	uint32_t idx;
	int rc = live_index(p, h, &idx);

	if (rc < 0)
		return rc;
	if (len > p->shape.buf_size || len > UINT32_MAX)
		return -EMSGSIZE;
	return store_for(p, &p->shape.len[idx], idx, iobuf_handle_generation(h), (uint32_t)len);
}

int iobuf__pool_kind(const struct iobuf_pool *p, iobuf_handle_t h)
{
	uint32_t idx;
	int rc = live_index(p, h, &idx);

	if (rc < 0)
		return rc;
	return p->kind ? (int)iobuf__len_of(&p->kind[idx], iobuf_handle_generation(h)) : 0;
}

int iobuf__pool_setkind(struct iobuf_pool *p, iobuf_handle_t h, unsigned kind)
{
	uint32_t idx;
	int rc = live_index(p, h, &idx);

	if (rc < 0)
		return rc;
	if (!p->kind)
		return -EINVAL;
	return store_for(p, &p->kind[idx], idx, iobuf_handle_generation(h), kind);
}

/* ---- accounts (iobuf/account.h) --------------------------------------------- */

int iobuf__pool_charge(struct iobuf_pool *p, iobuf_handle_t h, struct iobuf_account *a)
{
	uint32_t idx = iobuf__handle_index_for(h, p->shape.stamp);

	if (!p->acct || idx >= p->shape.capacity)
		return -EINVAL;
	__atomic_store_n(&p->acct[idx], a, __ATOMIC_RELAXED);
	iobuf__slot_charge(&p->shape.slot[idx]); /* T1 */
	return 0;
}

struct iobuf_account *iobuf__pool_account_of(const struct iobuf_pool *p, iobuf_handle_t h)
{
	uint32_t idx;
	iobuf__slot_t w;

	if (held_index(p, h, &idx) < 0 || !p->acct)
		return NULL;
	w = iobuf__slot_load(&p->shape.slot[idx]);
	if (!iobuf__slot_live(w, h) || !(w & IOBUF__SLOT_CHARGED))
		return NULL;
	return __atomic_load_n(&p->acct[idx], __ATOMIC_RELAXED);
}

/* ---- the free queue, sleeping gets and the readiness fd -------------------- */

static __attribute__((noinline)) void wake_slow(struct iobuf_pool *p)
{
	if (iobuf__load_32(&p->waiters) != 0)
		iobuf__futex_bump_wake(&p->wake_seq); /* W1: the sleeper re-reads wake_seq */
	else if (iobuf__load_32(&p->lookers) != 0)
		iobuf__faa_32_acqrel(&p->wake_seq, 1); /* W4: the looker re-reads wake_seq (release: what we gave) */
	if (iobuf__load_32(&p->armed) != 0 && iobuf__fas_32(&p->armed, 0) != 0) {
		uint64_t one = 1;

		iobuf__faa_32(&p->want, (uint32_t)-1);
		/* Non-blocking: a counter at its limit is readable already. */
		if (write(p->ready_fd, &one, sizeof(one)) < 0) {
			/* EAGAIN only (the counter is full, so the fd is readable). */
		}
	}
}

static inline void wake_sleepers(struct iobuf_pool *p)
{
	uint32_t asked;

	/*
	 * W1: pairs with W1 in iobuf_pool_get_wait(), W2 in arm_ready() and
	 * W4 in settle(); the enqueue's RMW comes first.
	 */
	iobuf__fence_rmw_load();
	asked = iobuf__load_32(&p->waiters) | iobuf__load_32(&p->armed) | iobuf__load_32(&p->lookers);
	if (IOBUF_UNLIKELY(asked != 0))
		wake_slow(p);
}

/* Enqueue free indices; the caller wakes sleepers once it has enqueued all it will. */
static void enqueue(struct iobuf_pool *p, const uint32_t *idx, int n)
{
	/* P1: the enqueue releases the buffers' bytes; pairs with the dequeue in get. */
	if (n == 1)
		iobuf_scq_enqueue(p->free, idx[0]);
	else if (n > 1)
		iobuf_scq_enqueue_bulk(p->free, idx, n);
}

static void give(struct iobuf_pool *p, const uint32_t *idx, int n)
{
	if (n <= 0)
		return;
	enqueue(p, idx, n);
	wake_sleepers(p);
}

/* Free indices in the shared structures: the queue and the depot's full magazines (an estimate). */
static uint32_t shared_free(const struct iobuf_pool *p)
{
	uint64_t n = iobuf_scq_count(p->free);

	if (p->mag)
		n += (uint64_t)p->mag * iobuf_scq_count(p->full);
	return n < p->shape.capacity ? (uint32_t)n : p->shape.capacity;
}

/* Record that the queue and depot were seen with @free_now indices (the sampled high-water mark). */
static void note_free(struct iobuf_pool *p, uint32_t free_now)
{
	uint32_t out = free_now < p->shape.capacity ? p->shape.capacity - free_now : 0;
	uint32_t hw = iobuf__load_32(&p->high_water);

	while (out > hw && !iobuf__cas_32_acqrel(&p->high_water, &hw, out))
		;
}

/*
 * Arm the readiness fd, if the pool has one: the next put writes it.
 * Returns true when armed (the caller then looks at the queue again).
 */
static bool arm_ready(struct iobuf_pool *p)
{
	if (iobuf__load_int_acq(&p->ready_fd) < 0)
		return false;
	if (iobuf__fas_32(&p->armed, 1) == 0)
		iobuf__faa_32(&p->want, 1);
	/* W2: pairs with W1 in wake_sleepers(): armed is written (an RMW) before the re-check. */
	iobuf__fence_rmw_load();
	return true;
}

struct iobuf_scq *iobuf__pool_scq(struct iobuf_pool *p)
{
	return p->free;
}

const struct iobuf_pool_shape *iobuf__pool_shape(const struct iobuf_pool *p)
{
	return &p->shape;
}

uint32_t iobuf__pool_magazine(const struct iobuf_pool *p)
{
	return p->mag;
}

/* ---- caches ------------------------------------------------------------------ */

void iobuf__pool_attach(struct iobuf_pool *p, struct iobuf__pool_client *cl)
{
	cl->shape = &p->shape;
	cl->magazine = p->mag;
#ifdef IOBUF_POOL_ASAN
	cl->debug = true;
#else
	cl->debug = (p->debug & DEBUG_VALGRIND) != 0;
#endif
	pthread_mutex_lock(&p->lock);
	cl->prev = NULL;
	cl->next = p->clients;
	if (p->clients)
		p->clients->prev = cl;
	p->clients = cl;
	iobuf__store_32(&p->nclients, iobuf__load_32(&p->nclients) + 1);
	pthread_mutex_unlock(&p->lock);
}

void iobuf__pool_detach(struct iobuf_pool *p, struct iobuf__pool_client *cl)
{
	pthread_mutex_lock(&p->lock);
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		p->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	iobuf__store_32(&p->nclients, iobuf__load_32(&p->nclients) - 1);
	pthread_mutex_unlock(&p->lock);
}

static void flush(struct iobuf_pool *p, const uint32_t *idx, int n);

/*
 * Take back what parked caches hold of this pool.  Returns the number of
 * buffers taken.  Takes the list's mutex (held only for O(caches) steps:
 * attach, detach, a snapshot's sum, another reclaim), so that no parked
 * buffer is left behind because the list was busy; a pool without caches
 * never gets here.
 */
static __attribute__((noinline)) uint32_t reclaim_parked(struct iobuf_pool *p)
{
	uint32_t buf[64], total = 0;

	if (iobuf__load_32(&p->nclients) == 0)
		return 0;
	pthread_mutex_lock(&p->lock);
	for (struct iobuf__pool_client *cl = p->clients; cl; cl = cl->next) {
		uint32_t st = IOBUF__CLIENT_PARKED;
		uint64_t *top;

		/*
		 * C1: pairs with the owner's release store of PARKED in
		 * iobuf_cache_park().  A set's cache shares its state word among
		 * its tiers: while another pool reclaims its stack of that pool
		 * (a bounded copy), wait, then try again.
		 */
		while (!iobuf__cas_32_acqrel(cl->state, &st, IOBUF__CLIENT_RECLAIMING) &&
		       st == IOBUF__CLIENT_RECLAIMING) {
			iobuf__cpu_relax();
			st = IOBUF__CLIENT_PARKED;
		}
		if (st != IOBUF__CLIENT_PARKED)
			continue; /* active: it gives back on its own out-of-line calls */
		top = *cl->top;
		for (uint64_t *e = cl->bot; e < top;) {
			int n = 0;

			while (e < top && n < 64)
				buf[n++] = (uint32_t)*e++;
			flush(p, buf, n);
			total += (uint32_t)n;
		}
		iobuf__store_ptr(cl->top, cl->bot);
		/* C2: pairs with the CAS in iobuf_cache_unpark(): the emptied stack. */
		iobuf__store_32_rel(cl->state, IOBUF__CLIENT_PARKED);
	}
	pthread_mutex_unlock(&p->lock);
	return total;
}

/*
 * A get found the queue and the depot empty.  Returns true when it should
 * look again: parked caches gave buffers back, or the readiness fd is
 * now armed and the queue may hold @need (W2).
 */
static __attribute__((noinline, cold)) bool recover(struct iobuf_pool *p, uint32_t need)
{
	/*
	 * Arm first (W2), then look at the caches: a cache that parks after
	 * our look sees armed in iobuf__pool_nudge() (W3).  Armed even when
	 * the reclaim finds buffers: another get may take them first.
	 */
	bool armed = arm_ready(p), reclaimed = reclaim_parked(p) > 0;

	return reclaimed || (armed && shared_free(p) >= need);
}

bool iobuf__pool_recover(struct iobuf_pool *p, uint32_t need)
{
	return recover(p, need);
}

void iobuf__pool_nudge(struct iobuf_pool *p)
{
	/* W3: pairs with W1 in iobuf_pool_get_wait() and W2 in arm_ready(), as a put's wake does. */
	iobuf__fence_rmw_load();
	if ((iobuf__load_32(&p->waiters) | iobuf__load_32(&p->armed)) != 0)
		wake_slow(p);
}

/* A get that returns empty: count it, sample the high-water mark, and ask caches to give back. */
static __attribute__((noinline, cold)) void note_empty(struct iobuf_pool *p)
{
	iobuf__faa_64(&p->empty_gets, 1);
	note_free(p, shared_free(p));
	if (iobuf__load_32(&p->nclients) != 0)
		iobuf__faa_32(&p->reclaim, 1);
}

void iobuf__pool_note_empty(struct iobuf_pool *p)
{
	note_empty(p);
}

/* ---- the depot ----------------------------------------------------------------- */

/*
 * Take one full magazine: copy its M indices to @out (room for M) and
 * return M, or 0 when the depot holds none.
 */
static int depot_take(struct iobuf_pool *p, uint32_t *out)
{
	int id;

	if (!p->mag)
		return 0;
	/* M1: pairs with M1 in depot_put(): the magazine's indices. */
	id = iobuf_scq_dequeue(p->full);
	if (id < 0)
		return 0;
	memcpy(out, p->mag_slots + (size_t)id * p->mag, sizeof(uint32_t) * p->mag);
	/* M2: pairs with M2 in depot_put(): our reads of the slots come first. */
	iobuf_scq_enqueue(p->empty, (uint32_t)id);
	return (int)p->mag;
}

/*
 * Store M indices from @idx as one full magazine.  Returns false (nothing
 * stored) when no empty magazine is left.  The caller wakes sleepers.
 */
static bool depot_put(struct iobuf_pool *p, const uint32_t *idx)
{
	/* M2: pairs with M2 in depot_take(): the last drainer's reads are done. */
	int id = iobuf_scq_dequeue(p->empty);

	if (id < 0)
		return false;
	memcpy(p->mag_slots + (size_t)id * p->mag, idx, sizeof(uint32_t) * p->mag);
	/* M1: pairs with M1 in depot_take(): publishes the indices (and the buffers, as P1 does). */
	iobuf_scq_enqueue(p->full, (uint32_t)id);
	return true;
}

/*
 * Up to @want free indices (1 <= want) into @out from a depot magazine;
 * what the magazine holds beyond @want goes to the free queue (and wakes
 * sleepers).  The indices handed out are the magazine's last: the warmest.
 */
static int depot_drain(struct iobuf_pool *p, uint32_t *out, int want)
{
	uint32_t buf[IOBUF_POOL_MAGAZINE_MAX];
	int n, keep;

	n = depot_take(p, buf);
	keep = n < want ? n : want;
	memcpy(out, buf + n - keep, sizeof(uint32_t) * (size_t)keep);
	give(p, buf, n - keep);
	return keep;
}

#ifdef IOBUF_POOL_STEPS
void (*iobuf__pool_step_hook)(struct iobuf_pool *pool);
#define POOL_STEP(p) (iobuf__pool_step_hook ? iobuf__pool_step_hook(p) : (void)0)
#else
#define POOL_STEP(p) ((void)0)
#endif

/* One look: up to @max (>= 1) free indices into @out from the queue, then the depot. */
static int look(struct iobuf_pool *p, uint32_t *out, int max)
{
	int got = iobuf_scq_dequeue_burst(p->free, out, max);

	if (got < max)
		POOL_STEP(p); /* tests: between the queue and the depot (W4) */

	while (got < max && p->mag) {
		int d = depot_drain(p, out + got, max - got);

		if (d == 0)
			break;
		got += d;
	}
	return got;
}

/*
 * A look came up short.  It read the queue and the depot one after the
 * other, so buffers that another thread moved from the one not yet read
 * to the one already read (a cached get refilled from the depot, then an
 * uncached put; an uncached get, then a cached flush) escaped it, as many
 * as that thread moved meanwhile, were it preempted between the two.  So
 * look again, counted in lookers, until a look that no give completed
 * during comes up short too: only then are the buffers missed those of
 * gives still in flight.  Returns what the looks found (up to @max).
 * Lock-free: each further look follows another thread's give.
 */
static __attribute__((noinline, cold)) int settle(struct iobuf_pool *p, uint32_t *out, int max)
{
	int got = 0;

	/*
	 * W4: pairs with W1 in wake_sleepers(): lookers (an RMW) before our
	 * looks, a give's enqueue (an RMW) before its load of lookers; so
	 * our look finds what it gave, or it sees us and bumps wake_seq.
	 */
	iobuf__faa_32_acqrel(&p->lookers, 1);
	iobuf__fence_rmw_load();
	for (;;) {
		/* W4: acquire pairs with the give's release bump: a give seen here is seen by the look. */
		uint32_t seq = iobuf__load_32_acq(&p->wake_seq);

		got += look(p, out + got, max - got);
		if (got == max || iobuf__load_32_acq(&p->wake_seq) == seq)
			break;
	}
	iobuf__faa_32(&p->lookers, (uint32_t)-1);
	return got;
}

/* Up to @max (>= 1) free indices into @out from the queue, then the depot; short only when settled. */
static int take_free(struct iobuf_pool *p, uint32_t *out, int max)
{
	int got = look(p, out, max);

	if (IOBUF_UNLIKELY(got < max))
		got += settle(p, out + got, max - got);
	return got;
}

int iobuf__pool_refill(struct iobuf_pool *p, uint32_t *out, int max, bool last)
{
	int got;

	if (max <= 0)
		return 0;
	if (p->mag && (uint32_t)max >= p->mag) {
		got = depot_take(p, out);
		if (got > 0)
			goto done;
		max = (int)p->mag;
	}
	got = take_free(p, out, max);
	if (got == 0 && last && recover(p, 1))
		got = take_free(p, out, max);
	if (got == 0) {
		if (last)
			note_empty(p);
		return 0;
	}
done:
	note_free(p, shared_free(p));
	return got;
}

static void flush(struct iobuf_pool *p, const uint32_t *idx, int n)
{
	if (n <= 0)
		return;
	while (p->mag && (uint32_t)n >= p->mag && depot_put(p, idx)) {
		idx += p->mag;
		n -= (int)p->mag;
	}
	enqueue(p, idx, n);
	/*
	 * W1: the last shared write above is an SCQ RMW (the magazines'
	 * memcpy comes before the enqueue of their ids, an RMW too), and the
	 * fence orders it, and what came before it, before the loads of
	 * waiters and armed; the full magazines count for a sleeper too.
	 */
	wake_sleepers(p);
}

void iobuf__pool_flush(struct iobuf_pool *p, const uint32_t *idx, int n)
{
	flush(p, idx, n);
}

/* ---- get -------------------------------------------------------------------- */

/*
 * One free index, or -ENOBUFS (counted).  P1 (or M1) acquire is inside
 * the dequeue.  A single get does not sample the high-water mark: that
 * would read the queue's tail line, which the putting core keeps writing.
 */
static inline int dequeue(struct iobuf_pool *p)
{
	int idx = iobuf_scq_dequeue(p->free);
	uint32_t one;

	if (IOBUF_LIKELY(idx >= 0))
		return idx;
	/* The queue is empty: buffers may sit in the depot's magazines, or in parked caches. */
	if (take_free(p, &one, 1) == 1 || (recover(p, 1) && take_free(p, &one, 1) == 1))
		return (int)one;
	note_empty(p);
	return -ENOBUFS;
}

int iobuf_pool_get(struct iobuf_pool *p, iobuf_handle_t *h)
{
	int idx;

	if (IOBUF_UNLIKELY(!h))
		return -EINVAL;
	*h = IOBUF_HANDLE_NONE;
	if (IOBUF_UNLIKELY(!p))
		return -EINVAL;
	idx = dequeue(p);
	if (IOBUF_UNLIKELY(idx < 0))
		return idx;
	*h = take(p, (uint32_t)idx);
	return 0;
}

int iobuf__pool_get_noted(struct iobuf_pool *p, iobuf_handle_t *h)
{
	int idx = dequeue(p);

	if (IOBUF_UNLIKELY(idx < 0))
		return idx;
	return take_as(p, (uint32_t)idx, h, SITE_CALLER);
}

int iobuf_pool_get_index(struct iobuf_pool *p)
{
	int idx;

	if (IOBUF_UNLIKELY(!p))
		return -EINVAL;
	idx = dequeue(p);
	if (IOBUF_UNLIKELY(idx < 0))
		return idx;
	(void)take(p, (uint32_t)idx);
	return idx;
}

/* One try without counting an empty get: the queue, then the depot. */
static inline int try_once(struct iobuf_pool *p)
{
	uint32_t one;

	return take_free(p, &one, 1) == 1 ? (int)one : -ENOBUFS;
}

/* iobuf_pool_get_wait(), its hand-out's site as @how says. */
static inline __attribute__((always_inline)) int get_wait(struct iobuf_pool *p, iobuf_handle_t *h, int64_t timeout_ns,
							   enum take_site how)
{
	uint64_t deadline;
	struct timespec ts;
	int idx;

	if (IOBUF_UNLIKELY(!h))
		return -EINVAL;
	*h = IOBUF_HANDLE_NONE;
	if (IOBUF_UNLIKELY(!p))
		return -EINVAL;
	idx = dequeue(p);
	if (IOBUF_LIKELY(idx >= 0))
		goto got;
	if (timeout_ns == 0)
		goto timeout;
	deadline = iobuf__deadline_after(timeout_ns);
	/* From here on, puts through caches give their buffers to the pool (a hint: relaxed). */
	iobuf__faa_32(&p->want, 1);

	for (int i = 0; i < WAIT_SPINS; i++) {
		iobuf__cpu_relax();
		if ((idx = try_once(p)) >= 0)
			goto got_wanted;
	}
	for (int i = 0; i < WAIT_YIELDS; i++) {
		sched_yield();
		if ((idx = try_once(p)) >= 0)
			goto got_wanted;
		if (iobuf__time_left(deadline, &ts) == 0)
			goto timeout_wanted;
	}

	iobuf__faa_64(&p->waits, 1);
	/* W1: pairs with W1 in wake_sleepers(); the RMW on waiters comes first. */
	iobuf__faa_32_acqrel(&p->waiters, 1);
	iobuf__fence_rmw_load();
	for (;;) {
		uint32_t seq = iobuf__load_32_acq(&p->wake_seq);

		if ((idx = try_once(p)) >= 0)
			break;
		if (reclaim_parked(p) > 0)
			continue;
		if (iobuf__time_left(deadline, &ts) == 0) {
			idx = -ETIMEDOUT;
			break;
		}
		/* About to sleep: ask caches again (each that sees it flushes, and wakes us). */
		if (iobuf__load_32(&p->nclients) != 0)
			iobuf__faa_32(&p->reclaim, 1);
		/* Returns at once if a put bumped wake_seq since we read it. */
		(void)iobuf__futex_wait_for(&p->wake_seq, seq, deadline == IOBUF__WAIT_FOREVER ? NULL : &ts);
	}
	iobuf__faa_32(&p->waiters, (uint32_t)-1);
	if (idx < 0)
		goto timeout_wanted;
got_wanted:
	iobuf__faa_32(&p->want, (uint32_t)-1);
got:
	return take_as(p, (uint32_t)idx, h, how);
timeout_wanted:
	iobuf__faa_32(&p->want, (uint32_t)-1);
timeout:
	iobuf__faa_64(&p->wait_timeouts, 1);
	return -ETIMEDOUT;
}

int iobuf_pool_get_wait(struct iobuf_pool *p, iobuf_handle_t *h, int64_t timeout_ns)
{
	return get_wait(p, h, timeout_ns, SITE_HERE);
}

int iobuf__pool_get_wait_noted(struct iobuf_pool *p, iobuf_handle_t *h, int64_t timeout_ns)
{
	return get_wait(p, h, timeout_ns, SITE_CALLER);
}

/*
 * Up to @n free indices, stored (as integers) in @hs for the caller to
 * turn into handles.  @all: all or nothing (what was taken goes back).
 * Nothing allocates: indices go back 64 at a time through a local array.
 */
static int take_n(struct iobuf_pool *p, iobuf_handle_t *hs, int n, bool all)
{
	uint32_t idx[64];
	int got = 0;

	for (int pass = 0; pass < 2; pass++) {
		while (got < n) {
			int want = n - got < 64 ? n - got : 64, k = take_free(p, idx, want);

			for (int i = 0; i < k; i++)
				hs[got + i] = idx[i];
			got += k;
			if (k < want)
				break;
		}
		if (got == n)
			break;
		if (all) {
			/*
			 * The indices go back untouched (their slots stayed even),
			 * before recover() arms the fd: our own give-back must not
			 * make it readable.
			 */
			for (int i = 0; i < got;) {
				int k = 0;

				while (i < got && k < 64)
					idx[k++] = (uint32_t)hs[i++];
				give(p, idx, k);
			}
			got = 0;
		}
		if (pass == 1 || !recover(p, (uint32_t)(n - got)))
			break;
	}
	if (got < n)
		note_empty(p);
	else
		note_free(p, shared_free(p));
	return got;
}

int iobuf_pool_get_burst(struct iobuf_pool *p, iobuf_handle_t *hs, int n)
{
	int got;

	if (IOBUF_UNLIKELY(!p || !hs || n < 0))
		return -EINVAL;
	got = take_n(p, hs, n, false);
	take_all(p, hs, got);
	return got;
}

int iobuf_pool_get_bulk(struct iobuf_pool *p, iobuf_handle_t *hs, int n)
{
	if (IOBUF_UNLIKELY(!p || !hs || n < 0))
		return -EINVAL;
	if (n == 0)
		return 0;
	if (take_n(p, hs, n, true) < n)
		return -ENOBUFS;
	take_all(p, hs, n);
	return 0;
}

/* ---- put -------------------------------------------------------------------- */

int iobuf_pool_put(struct iobuf_pool *p, iobuf_handle_t h)
{
	uint32_t idx;
	int rc;

	if (IOBUF_UNLIKELY(!p))
		return -EINVAL;
	rc = release(p, h);
	if (IOBUF_UNLIKELY(rc < 0))
		return rc;
	if (IOBUF_UNLIKELY(rc == IOBUF__POOL_KEPT))
		return 0;
	idx = (uint32_t)rc;
	give(p, &idx, 1);
	return 0;
}

int iobuf_pool_put_bulk(struct iobuf_pool *p, const iobuf_handle_t *hs, int n)
{
	uint32_t idx[64];
	int first_err = 0, k = 0;

	if (IOBUF_UNLIKELY(!p || !hs || n < 0))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		int rc = release(p, hs[i]);

		if (rc < 0) {
			if (!first_err)
				first_err = rc;
			continue;
		}
		if (rc == IOBUF__POOL_KEPT)
			continue;
		idx[k++] = (uint32_t)rc;
		if (k == 64) {
			give(p, idx, k);
			k = 0;
		}
	}
	give(p, idx, k);
	return first_err;
}

int iobuf_pool_put_index(struct iobuf_pool *p, uint32_t idx)
{
	int rc;

	if (IOBUF_UNLIKELY(!p))
		return -EINVAL;
	rc = release_index(p, idx);
	if (IOBUF_UNLIKELY(rc < 0))
		return rc;
	if (IOBUF_UNLIKELY(rc == IOBUF__POOL_KEPT))
		return 0;
	give(p, &idx, 1);
	return 0;
}

/* ---- the readiness fd ---------------------------------------------------------- */

/* Install @fd as the pool's readiness fd unless it has one; returns the one it has. */
static int install_ready_fd(struct iobuf_pool *p, int fd, bool owned)
{
	int none = -1;

	if (iobuf__cas_int_acqrel(&p->ready_fd, &none, fd)) {
		p->ready_fd_owned = owned;
		return fd;
	}
	return none;
}

int iobuf_pool_ready_fd(struct iobuf_pool *p)
{
	int fd, have;

	if (!p)
		return -EINVAL;
	have = iobuf__load_int_acq(&p->ready_fd);
	if (have >= 0)
		return have;
	if (iobuf__handle_of_set(p->shape.stamp))
		return -EINVAL; /* a set's pool has the set's fd (iobuf_set_ready_fd()) */
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	have = install_ready_fd(p, fd, true);
	if (have != fd)
		close(fd); /* another thread installed one first */
	return have;
}

void iobuf__pool_adopt_ready_fd(struct iobuf_pool *p, int fd)
{
	/* A set's pools make no fd of their own (iobuf_pool_ready_fd()), so this one is the first. */
	(void)install_ready_fd(p, fd, false);
}

/* ---- accessors and stats --------------------------------------------------- */

void *iobuf_pool_buf(const struct iobuf_pool *p, iobuf_handle_t h)
{
	uint32_t idx;

	if (!p)
		return NULL;
	idx = iobuf__handle_index_for(h, p->shape.stamp);
	if (idx >= p->shape.capacity || !iobuf__slot_live(iobuf__slot_load(&p->shape.slot[idx]), h))
		return NULL;
	return iobuf_pool_index_buf(p, idx);
}

size_t iobuf_pool_buf_size(const struct iobuf_pool *p)
{
	return p ? p->shape.buf_size : 0;
}

uint32_t iobuf_pool_capacity(const struct iobuf_pool *p)
{
	return p ? p->shape.capacity : 0;
}

size_t iobuf_pool_stride(const struct iobuf_pool *p)
{
	return p ? p->shape.stride : 0;
}

const struct iobuf_arena *iobuf_pool_arena(const struct iobuf_pool *p)
{
	return p ? &p->arena : NULL;
}

int iobuf_pool_stats(const struct iobuf_pool *cp, struct iobuf_pool_stats *st)
{
	struct iobuf_pool *p = (struct iobuf_pool *)(uintptr_t)cp; /* the lock; nothing else is written */
	uint64_t events = 0, in_use = 0, cached = 0, shared = 0;
	uint32_t cap;

	if (!p || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	cap = p->shape.capacity;
	/* Under the lock, so no cache attaches, detaches or is reclaimed meanwhile; O(caches). */
	pthread_mutex_lock(&p->lock);
	for (const struct iobuf__pool_client *cl = p->clients; cl; cl = cl->next)
		cached += (uint64_t)(iobuf__load_ptr(cl->top) - cl->bot);
	pthread_mutex_unlock(&p->lock);
	for (uint32_t i = 0; i < cap; i++) {
		iobuf__slot_t w = iobuf__slot_load(&p->shape.slot[i]);
		uint32_t s = iobuf__slot_gen(w);

		/* Transitions of slot i: its generation, with its wraps, less the first one. */
		events += ((uint64_t)iobuf__load_32(&p->wraps[i]) << 32) + s - p->gen_base;
		in_use += s & 1;
		shared += (s & 1) && iobuf__slot_holders(w) > 1;
	}
	if (cached > cap - in_use)
		cached = cap - in_use; /* a cache counted a buffer a get was handing out (while running only) */
	st->capacity = cap;
	st->in_use = (uint32_t)in_use;
	st->shared = (uint32_t)shared;
	st->cached = (uint32_t)cached;
	st->free = cap - st->in_use - st->cached;
	st->gets = (events + in_use) / 2;
	st->puts = (events - in_use) / 2;
	st->high_water_sampled = iobuf__load_32(&p->high_water);
	if (st->high_water_sampled < st->in_use + st->cached)
		st->high_water_sampled = st->in_use + st->cached;
	st->empty_gets = iobuf__load_64(&p->empty_gets);
	st->waits = iobuf__load_64(&p->waits);
	st->wait_timeouts = iobuf__load_64(&p->wait_timeouts);
	st->refused_invalid = iobuf__load_64(&p->refused_invalid);
	st->refused_already = iobuf__load_64(&p->refused_already);
	st->refused_stale = iobuf__load_64(&p->refused_stale);
	return 0;
}

/* ---- the leak report ------------------------------------------------------------ */

/* The site of hand-out @gen of buffer @idx, when one was recorded for it. */
static const void *site_of(const struct iobuf_pool *p, uint32_t idx, uint32_t gen)
{
	const struct site *s;

	if (!p->sites)
		return NULL;
	s = &p->sites[idx];
	/* S1: acquire, pairs with S1 in note_site(): the site stored before this generation. */
	if (iobuf__load_32_acq(&s->gen) != gen)
		return NULL; /* handed out since by a get that records no site */
	return iobuf__load_ptr(&s->at);
}

int iobuf_pool_leaks(const struct iobuf_pool *p, void (*fn)(void *arg, const struct iobuf_leak *leak), void *arg)
{
	int n = 0;

	if (!p)
		return -EINVAL;
	for (uint32_t i = 0; i < p->shape.capacity; i++) {
		iobuf__slot_t w = iobuf__slot_load(&p->shape.slot[i]);
		uint32_t g = iobuf__slot_gen(w);
		struct iobuf_leak lk;

		if (!(g & 1))
			continue; /* free: in the queue, the depot or a cache */
		n++;
		if (!fn)
			continue;
		lk = (struct iobuf_leak){
			.handle = iobuf__handle_make(p->shape.stamp, i, g),
			.index = i,
			.generation = g,
			.holders = iobuf__slot_holders(w),
			.len = iobuf__len_of(&p->shape.len[i], g),
			.tag = iobuf_handle_tag(p->shape.stamp),
			.in_set = iobuf__handle_of_set(p->shape.stamp),
			.sites = p->sites != NULL,
			.buf_size = p->shape.buf_size,
			.site = site_of(p, i, g),
		};
		fn(arg, &lk);
	}
	return n;
}

/* ", taken at FUNCTION+0xOFF (OBJECT+0xOFF)", or without the function when dladdr() knows none. */
static void print_site(const struct iobuf_leak *lk, FILE *out)
{
	const char *at = lk->site;
	Dl_info info;
	uintptr_t off;

	if (!at) {
		if (lk->sites)
			fputs(", taken through a cache (no site)", out);
		return;
	}
	/* A return address: the call is the byte before it (a call may end its function). */
	if (dladdr(at - 1, &info) == 0 || !info.dli_fname || !info.dli_fbase) {
		fprintf(out, ", taken at %p", lk->site);
		return;
	}
	/* addr2line takes an address of the file: an offset in a shared object or a PIE, the address in a fixed executable. */
	off = (uintptr_t)at;
	if (((const ElfW(Ehdr) *)info.dli_fbase)->e_type == ET_DYN)
		off -= (uintptr_t)info.dli_fbase;
	if (info.dli_sname && info.dli_saddr)
		fprintf(out, ", taken at %s+0x%tx (%s+0x%jx)", info.dli_sname, at - (const char *)info.dli_saddr,
			*info.dli_fname ? info.dli_fname : "?", (uintmax_t)off);
	else
		fprintf(out, ", taken at %s+0x%jx", *info.dli_fname ? info.dli_fname : "?", (uintmax_t)off);
}

int iobuf_leak_print(const struct iobuf_leak *lk, FILE *out)
{
	if (!lk || !out)
		return -EINVAL;
	if (lk->in_set)
		fprintf(out, "iobuf: leak: tier %u", lk->tag);
	else
		fprintf(out, "iobuf: leak: pool tag %u", lk->tag);
	fprintf(out, ", index %" PRIu32 ", generation 0x%" PRIx32 ", holders %" PRIu32 ", length %" PRIu32 " of %zu bytes",
		lk->index, lk->generation, lk->holders, lk->len, lk->buf_size);
	print_site(lk, out);
	fputc('\n', out);
	return ferror(out) ? -EIO : 0;
}

void iobuf__leak_stderr(void *arg, const struct iobuf_leak *leak)
{
	struct iobuf__leak_tally *tally = arg;

	tally->sites |= leak->sites;
	(void)iobuf_leak_print(leak, stderr);
}

void iobuf__leak_summary(const char *what, int n, const struct iobuf__leak_tally *tally)
{
	if (n <= 0)
		return;
	fprintf(stderr, "iobuf: %s destroyed with %d buffer%s still held%s\n", what, n, n == 1 ? "" : "s",
		tally->sites ? "" : " (IOBUF_DEBUG=sites records where each is taken)");
}
