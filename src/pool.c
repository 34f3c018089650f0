/* SPDX-License-Identifier: MIT */
/*
 * pool.c - one tier: an arena of equal buffers, the SCQ of free indices,
 * and a generation counter per slot.
 *
 * Slot states.  meta[i] counts the hand-outs and returns of buffer i: it is
 * even while the buffer is free (in the queue or in a cache) and odd while
 * an owner holds it.  A handle carries the low 32 bits of the odd value it
 * was issued with.  A put moves meta[i] from that odd value to the next
 * even one with a CAS, so of two puts of one handle exactly one wins; the
 * loser sees an even value (-EALREADY) or a newer odd one (-ESTALE).  Only
 * the thread that took i out of the queue (or a cache) writes meta[i] on
 * the way out, and no put can succeed while meta[i] is even, so that plain
 * store races with nothing.
 *
 * Counters.  gets and puts are read off the slots (meta[i] - base counts
 * both), so the hot path keeps no shared counter for statistics; only
 * refusals, empty gets and waits, all off the common path, are counted.
 *
 * Depot.  Caches (cache.c) move indices to and from the pool in whole
 * magazines of M indices (Bonwick and Adams, "Magazines and Vmem", 2001).
 * The depot is pool-owned: nmag magazines of M slots, an SCQ of the ids
 * of the full ones and an SCQ of the ids of the empty ones.  Moving M
 * buffers costs two SCQ operations and a copy of 4M bytes, instead of M
 * SCQ operations.  Indices in the depot are free: an uncached get that
 * finds the free queue empty takes a full magazine, keeps one index and
 * gives the others to the queue, so no buffer hides there.  nmag is
 * capacity / M + 2: full magazines never hold more than capacity / M,
 * and the spare two cover drainers that still hold an id; a flush that
 * finds no empty magazine all the same gives its indices to the queue.
 *
 * Ordering edges (see doc/design.md):
 *   P1  put: the SCQ enqueue releases the buffer's bytes and meta[i];
 *       get: the SCQ dequeue that returns i acquires them.
 *   W1  put: enqueue (an atomic RMW) before the load of waiters;
 *       waiting get: waiters++ (an atomic RMW) before the retry of the
 *       queue.  With iobuf__fence_rmw_load() on both sides, at least
 *       one sees the other: the get finds the index, or the put sees the
 *       waiter and bumps wake_seq, which the futex re-checks.  A flush
 *       into the depot is such a put (its only shared writes before the
 *       fence are the SCQ's RMWs), and the retry looks in the depot too.
 *   M1  flush: the enqueue of a full magazine's id releases the indices
 *       written into its slots (and, through P1 or the cache's own
 *       order, the buffers' bytes and generations); the dequeue of that
 *       id (a cache's refill, or an uncached get) acquires them.
 *   M2  drain: the enqueue of an empty magazine's id releases the
 *       drainer's reads of its slots; the flusher's dequeue of the id
 *       acquires them, so its writes cannot overtake those reads.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <iobuf/cache.h>
#include <iobuf/pool.h>
#include <iobuf/scq.h>

#include "atomic.h"
#include "pool.h"
#include "scq.h"
#include "util.h"

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

/* Words of meta before meta[0]: one cache line, holding the waiters' count. */
#define META_PAD (IOBUF_CACHELINE / sizeof(uint64_t))
_Static_assert(META_PAD == IOBUF__CACHE_WAITERS_BACK, "iobuf/cache.h finds the waiters' count there");

/* Spins and yields of a waiting get before it sleeps. */
#define WAIT_SPINS 256
#define WAIT_YIELDS 8

struct iobuf_pool {
	struct iobuf_pool_shape shape; /* first: read by iobuf_pool_index_buf() */
	uint64_t *meta;                /* per slot: hand-outs + returns, + gen_base */
	uint64_t gen_base;
	struct iobuf_scq *free;
	struct iobuf_arena arena;
	bool valgrind;

	/* The depot (read-only fields; the SCQs are the shared state). */
	uint32_t mag;             /* indices per magazine; 0: no depot */
	uint32_t nmag;            /* magazines */
	uint32_t *mag_slots;      /* nmag * mag indices */
	struct iobuf_scq *full;   /* ids of full magazines */
	struct iobuf_scq *empty;  /* ids of empty magazines */

	/* Written off the common path only. */
	alignas(IOBUF_CACHELINE) uint64_t empty_gets;
	uint64_t waits;
	uint64_t wait_timeouts;
	uint64_t refused_invalid;
	uint64_t refused_already;
	uint64_t refused_stale;

	/*
	 * On the cache line just before meta[0], alone: want, the waiting gets
	 * that found the pool empty (caches' inline puts read it there,
	 * through the generations' pointer they hold, and give their buffers
	 * back while it is not 0), and waiters, those of them asleep on the
	 * futex (read by every put).  Written only when a get starts or stops
	 * waiting.
	 */
	uint32_t *want;
	uint32_t *waiters;

	/* The futex word: written by puts that wake, read by sleepers. */
	alignas(IOBUF_CACHELINE) uint32_t wake_seq;

	/*
	 * Read by caches on their slow paths, written when a get finds the
	 * pool empty while caches are attached: a request to give back.
	 */
	alignas(IOBUF_CACHELINE) uint32_t reclaim;

	/* Written when a cache is created or destroyed, and when the high-water mark rises. */
	alignas(IOBUF_CACHELINE) uint32_t caches;
	uint32_t high_water;
};

/* ---- debugging aids: ASan poisoning, valgrind mempool ------------------- */

static inline void mark_free(struct iobuf_pool *p, uint32_t idx)
{
	uint8_t *b = iobuf_pool_index_buf(p, idx);

	(void)b;
#ifdef IOBUF_POOL_ASAN
	ASAN_POISON_MEMORY_REGION(b, p->shape.stride);
#endif
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (IOBUF_UNLIKELY(p->valgrind))
		VALGRIND_MEMPOOL_FREE(p, b);
#endif
}

static inline void mark_used(struct iobuf_pool *p, uint32_t idx)
{
	uint8_t *b = iobuf_pool_index_buf(p, idx);

	(void)b;
#ifdef IOBUF_POOL_ASAN
	ASAN_UNPOISON_MEMORY_REGION(b, p->shape.stride);
#endif
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (IOBUF_UNLIKELY(p->valgrind)) {
		VALGRIND_MEMPOOL_ALLOC(p, b, p->shape.buf_size);
		/* The bytes are the previous owner's: defined, as a recycled buffer's are. */
		VALGRIND_MAKE_MEM_DEFINED(b, p->shape.buf_size);
	}
#endif
}

/* ---- create / destroy ----------------------------------------------------- */

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

static struct iobuf_scq *scq_alloc(uint32_t capacity, bool full)
{
	struct iobuf_scq *q;

	if (posix_memalign((void **)&q, IOBUF_SCQ_ALIGN, iobuf_scq_memsize(capacity)) != 0)
		return NULL;
	if (iobuf_scq_init(q, capacity, full) < 0) {
		free(q);
		return NULL;
	}
	return q;
}

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
	p->full = scq_alloc(p->nmag, false);
	p->empty = scq_alloc(p->nmag, true);
	if (!p->mag_slots || !p->full || !p->empty)
		return -ENOMEM;
	p->mag = mag;
	return 0;
}

static void depot_fini(struct iobuf_pool *p)
{
	free(p->mag_slots);
	free(p->full);
	free(p->empty);
	p->mag_slots = NULL;
	p->full = p->empty = NULL;
	p->mag = 0;
}

struct iobuf_pool *iobuf__pool_create_at(const struct iobuf_pool_config *cfg, uint64_t gen_base, uint64_t scq_start,
					 int *err)
{
	struct iobuf_pool *p = NULL;
	size_t page = iobuf_page_size(), align, stride, bytes;
	int rc;

	if (!cfg || cfg->buf_size == 0 || cfg->capacity == 0 || cfg->capacity > IOBUF_POOL_MAX_CAPACITY ||
	    cfg->tag > 7 || (gen_base & 1) || cfg->buf_size > SIZE_MAX / 2) {
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

	if (posix_memalign((void **)&p, IOBUF_CACHELINE, sizeof(*p)) != 0) {
		p = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	memset(p, 0, sizeof(*p));
	p->arena.fd = -1;
	p->gen_base = gen_base;
	/* One line before meta[0] holds the sleeping gets' count (see iobuf/cache.h). */
	if (posix_memalign((void **)&p->meta, IOBUF_CACHELINE, sizeof(uint64_t) * (META_PAD + (size_t)cfg->capacity)) !=
	    0) {
		p->meta = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	memset(p->meta, 0, sizeof(uint64_t) * META_PAD);
	p->want = (uint32_t *)(void *)p->meta;
	p->waiters = p->want + 1;
	p->meta += META_PAD;
	for (uint32_t i = 0; i < cfg->capacity; i++)
		p->meta[i] = gen_base;
	if (posix_memalign((void **)&p->free, IOBUF_SCQ_ALIGN, iobuf_scq_memsize(cfg->capacity)) != 0) {
		p->free = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	rc = iobuf__scq_init_at(p->free, cfg->capacity, true, scq_start);
	if (rc < 0)
		goto fail;
	rc = depot_init(p, cfg);
	if (rc < 0)
		goto fail;
	rc = iobuf_arena_init(&p->arena, bytes, 0, cfg->arena_flags);
	if (rc < 0)
		goto fail;

	p->shape.base = p->arena.base;
	p->shape.stride = stride;
	p->shape.buf_size = cfg->buf_size;
	p->shape.capacity = cfg->capacity;
	p->shape.tag = cfg->tag;

#ifdef HAVE_VALGRIND_MEMCHECK_H
	/*
	 * Only under memcheck (other tools have no use for the annotations, and
	 * callgrind then counts the real path); IOBUF_VALGRIND=0 skips them too.
	 */
	p->valgrind = under_memcheck() && !(getenv("IOBUF_VALGRIND") && strcmp(getenv("IOBUF_VALGRIND"), "0") == 0);
	if (p->valgrind) {
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

fail:
	if (p) {
		depot_fini(p);
		free(p->free);
		if (p->meta)
			free(p->meta - META_PAD);
		free(p);
	}
	if (err)
		*err = rc;
	return NULL;
}

struct iobuf_pool *iobuf_pool_create(const struct iobuf_pool_config *cfg, int *err)
{
	return iobuf__pool_create_at(cfg, 0, 0, err);
}

void iobuf_pool_destroy(struct iobuf_pool *p)
{
	if (!p)
		return;
#ifdef IOBUF_POOL_ASAN
	ASAN_UNPOISON_MEMORY_REGION(p->arena.base, p->arena.size);
#endif
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (p->valgrind)
		VALGRIND_DESTROY_MEMPOOL(p);
#endif
	iobuf_arena_fini(&p->arena);
	depot_fini(p);
	iobuf_scq_fini(p->free);
	free(p->free);
	free(p->meta - META_PAD);
	free(p);
}

/* ---- handles ---------------------------------------------------------------- */

static inline iobuf_handle_t make_handle(const struct iobuf_pool *p, uint32_t idx, uint64_t gen)
{
	return ((uint64_t)(uint32_t)gen << 32) | IOBUF_HANDLE_MARK |
	       ((uint64_t)p->shape.tag << IOBUF_HANDLE_INDEX_BITS) | idx;
}

/* A handle this pool could have issued: mark, tag, index in range, odd generation. */
static inline bool handle_ok(const struct iobuf_pool *p, iobuf_handle_t h)
{
	return (h & IOBUF_HANDLE_MARK) && iobuf_handle_tag(h) == p->shape.tag &&
	       iobuf_handle_index(h) < p->shape.capacity && (iobuf_handle_generation(h) & 1);
}

static inline iobuf_handle_t take(struct iobuf_pool *p, uint32_t idx)
{
	/*
	 * Relaxed: the index came through P1 (or from this thread's cache), so
	 * meta[idx] is current; while it is even no put can move it.
	 */
	uint64_t g = iobuf__load_64(&p->meta[idx]) + 1;

	iobuf__store_64(&p->meta[idx], g);
	mark_used(p, idx);
	return make_handle(p, idx, g);
}

iobuf_handle_t iobuf__pool_take(struct iobuf_pool *p, uint32_t idx)
{
	return take(p, idx);
}

static __attribute__((noinline, cold)) int refuse(struct iobuf_pool *p, int rc)
{
	uint64_t *ctr = rc == -EALREADY ? &p->refused_already : rc == -ESTALE ? &p->refused_stale : &p->refused_invalid;

	iobuf__faa_64(ctr, 1);
	return rc;
}

static inline int release(struct iobuf_pool *p, iobuf_handle_t h)
{
	uint32_t idx, gen;
	uint64_t m;

	if (IOBUF_UNLIKELY(!handle_ok(p, h)))
		return refuse(p, -EINVAL);
	idx = iobuf_handle_index(h);
	gen = iobuf_handle_generation(h);
	m = iobuf__load_64(&p->meta[idx]);
	for (;;) {
		if (IOBUF_UNLIKELY((uint32_t)m != gen)) {
			/* Even and one past ours: put already.  Anything else: handed out again since. */
			if (!(m & 1) && (uint32_t)(m - 1) == gen)
				return refuse(p, -EALREADY);
			return refuse(p, -ESTALE);
		}
		/* Relaxed CAS: the bytes are released by P1 when the index is enqueued. */
		if (iobuf__cas_64(&p->meta[idx], &m, m + 1))
			break;
	}
	mark_free(p, idx);
	return (int)idx;
}

int iobuf__pool_release(struct iobuf_pool *p, iobuf_handle_t h)
{
	return release(p, h);
}

/* ---- the free queue and sleeping gets --------------------------------------- */

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

static inline void wake_sleepers(struct iobuf_pool *p)
{
	/* W1: pairs with W1 in iobuf_pool_get_wait(); the enqueue's RMW comes first. */
	iobuf__fence_rmw_load();
	if (IOBUF_UNLIKELY(iobuf__load_32(p->waiters) != 0)) {
		iobuf__faa_32_acqrel(&p->wake_seq, 1);
		futex(&p->wake_seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
	}
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

void iobuf__pool_give(struct iobuf_pool *p, const uint32_t *idx, int n)
{
	if (n <= 0)
		return;
	enqueue(p, idx, n);
	wake_sleepers(p);
}

/* Free indices in the shared structures: the queue and the depot's full magazines. */
static uint32_t shared_free(const struct iobuf_pool *p)
{
	uint64_t n = iobuf_scq_count(p->free);

	if (p->mag)
		n += (uint64_t)p->mag * iobuf_scq_count(p->full);
	return n < p->shape.capacity ? (uint32_t)n : p->shape.capacity;
}

void iobuf__pool_note_free(struct iobuf_pool *p, uint32_t free_now)
{
	uint32_t out = free_now < p->shape.capacity ? p->shape.capacity - free_now : 0;
	uint32_t hw = iobuf__load_32(&p->high_water);

	while (out > hw && !iobuf__cas_32_acqrel(&p->high_water, &hw, out))
		;
}

struct iobuf_scq *iobuf__pool_scq(struct iobuf_pool *p)
{
	return p->free;
}

uint64_t *iobuf__pool_meta(struct iobuf_pool *p)
{
	return p->meta;
}

uint32_t iobuf__pool_magazine(const struct iobuf_pool *p)
{
	return p->mag;
}

bool iobuf__pool_debug(const struct iobuf_pool *p)
{
#ifdef IOBUF_POOL_ASAN
	(void)p;
	return true;
#else
	return p->valgrind;
#endif
}

void iobuf__pool_attach(struct iobuf_pool *p, int delta)
{
	iobuf__faa_32(&p->caches, (uint32_t)delta);
}

uint32_t iobuf__pool_reclaim_epoch(const struct iobuf_pool *p)
{
	/* Relaxed: a hint; what a cache then gives back is ordered by P1/M1. */
	return iobuf__load_32(&p->reclaim);
}

/*
 * An empty get: count it, sample the high-water mark with @free_now free
 * buffers, and ask attached caches to give back.
 */
static __attribute__((noinline, cold)) void note_empty_at(struct iobuf_pool *p, uint32_t free_now)
{
	iobuf__faa_64(&p->empty_gets, 1);
	iobuf__pool_note_free(p, free_now);
	if (iobuf__load_32(&p->caches) != 0)
		iobuf__faa_32(&p->reclaim, 1);
}

/* An empty get: the queue and the depot are empty, every buffer is out of them. */
static void note_empty(struct iobuf_pool *p)
{
	note_empty_at(p, 0);
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
	iobuf__pool_give(p, buf, n - keep);
	return keep;
}

int iobuf__pool_refill(struct iobuf_pool *p, uint32_t *out, int max)
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
	got = iobuf_scq_dequeue_burst(p->free, out, max);
	if (got == 0 && p->mag)
		got = depot_drain(p, out, max);
	if (got == 0)
		return 0;
done:
	iobuf__pool_note_free(p, shared_free(p));
	return got;
}

void iobuf__pool_flush(struct iobuf_pool *p, const uint32_t *idx, int n)
{
	if (n <= 0)
		return;
	while (p->mag && (uint32_t)n >= p->mag && depot_put(p, idx)) {
		idx += p->mag;
		n -= (int)p->mag;
	}
	enqueue(p, idx, n);
	/* W1: every shared write above is an SCQ RMW; the full magazines count for a sleeper too. */
	wake_sleepers(p);
}

/* ---- get -------------------------------------------------------------------- */

/*
 * One dequeue: an index, or -ENOBUFS.  P1 (or M1) acquire is inside the
 * dequeue.  A single get does not sample the high-water mark: that would
 * read the queue's tail line, which the putting core keeps writing.  Bulk
 * and burst gets, empty and waiting gets, cache refills and snapshots
 * sample it.
 */
static inline int dequeue(struct iobuf_pool *p)
{
	int idx = iobuf_scq_dequeue(p->free);

	if (IOBUF_UNLIKELY(idx < 0)) {
		uint32_t one;

		/* The queue is empty: buffers may sit in the depot's magazines. */
		if (depot_drain(p, &one, 1) == 0)
			return -ENOBUFS;
		idx = (int)one;
	}
	return idx;
}

int iobuf_pool_get(struct iobuf_pool *p, iobuf_handle_t *h)
{
	int idx;

	if (IOBUF_UNLIKELY(!p || !h))
		return -EINVAL;
	idx = dequeue(p);
	if (IOBUF_UNLIKELY(idx < 0)) {
		note_empty(p);
		return idx;
	}
	*h = take(p, (uint32_t)idx);
	return 0;
}

int iobuf_pool_get_index(struct iobuf_pool *p)
{
	int idx;

	if (IOBUF_UNLIKELY(!p))
		return -EINVAL;
	idx = dequeue(p);
	if (IOBUF_UNLIKELY(idx < 0)) {
		note_empty(p);
		return idx;
	}
	(void)take(p, (uint32_t)idx);
	return idx;
}

static uint64_t deadline_after(int64_t timeout_ns)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	return timeout_ns < 0 || (uint64_t)timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + (uint64_t)timeout_ns;
}

/* Nanoseconds left before @deadline (0 when passed), as a relative timespec. */
static uint64_t time_left(uint64_t deadline, struct timespec *ts)
{
	struct timespec now;
	uint64_t n, left;

	clock_gettime(CLOCK_MONOTONIC, &now);
	n = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	left = deadline > n ? deadline - n : 0;
	ts->tv_sec = (time_t)(left / 1000000000u);
	ts->tv_nsec = (long)(left % 1000000000u);
	return left;
}

int iobuf_pool_get_wait(struct iobuf_pool *p, iobuf_handle_t *h, int64_t timeout_ns)
{
	uint64_t deadline;
	struct timespec ts;
	int idx, rc;

	if (IOBUF_UNLIKELY(!p || !h))
		return -EINVAL;
	idx = dequeue(p);
	if (IOBUF_LIKELY(idx >= 0))
		goto got;
	note_empty(p);
	if (timeout_ns == 0)
		goto timeout;
	deadline = deadline_after(timeout_ns);
	/* From here on, puts through caches give their buffers to the pool (a hint: relaxed). */
	iobuf__faa_32(p->want, 1);

	for (int i = 0; i < WAIT_SPINS; i++) {
		iobuf__cpu_relax();
		if ((idx = dequeue(p)) >= 0)
			goto got_wanted;
	}
	for (int i = 0; i < WAIT_YIELDS; i++) {
		sched_yield();
		if ((idx = dequeue(p)) >= 0)
			goto got_wanted;
		if (time_left(deadline, &ts) == 0)
			goto timeout_wanted;
	}

	iobuf__faa_64(&p->waits, 1);
	/* W1: pairs with W1 in wake_sleepers(); the RMW on waiters comes first. */
	iobuf__faa_32_acqrel(p->waiters, 1);
	iobuf__fence_rmw_load();
	for (;;) {
		uint32_t seq = iobuf__load_32_acq(&p->wake_seq);

		if ((idx = dequeue(p)) >= 0)
			break;
		if (time_left(deadline, &ts) == 0) {
			idx = -ETIMEDOUT;
			break;
		}
		/* About to sleep: ask caches again (each that sees it flushes, and wakes us). */
		if (iobuf__load_32(&p->caches) != 0)
			iobuf__faa_32(&p->reclaim, 1);
		/* Returns at once if a put bumped wake_seq since we read it. */
		futex(&p->wake_seq, FUTEX_WAIT_PRIVATE, seq, deadline == UINT64_MAX ? NULL : &ts);
	}
	iobuf__faa_32(p->waiters, (uint32_t)-1);
	if (idx < 0)
		goto timeout_wanted;
got_wanted:
	iobuf__faa_32(p->want, (uint32_t)-1);
got:
	*h = take(p, (uint32_t)idx);
	return 0;
timeout_wanted:
	iobuf__faa_32(p->want, (uint32_t)-1);
timeout:
	iobuf__faa_64(&p->wait_timeouts, 1);
	rc = -ETIMEDOUT;
	return rc;
}

int iobuf_pool_get_burst(struct iobuf_pool *p, iobuf_handle_t *hs, int n)
{
	uint32_t idx[64];
	int got = 0;

	if (IOBUF_UNLIKELY(!p || (!hs && n > 0) || n < 0))
		return -EINVAL;
	while (got < n) {
		int want = n - got < 64 ? n - got : 64;
		int k = iobuf_scq_dequeue_burst(p->free, idx, want);

		while (k < want) {
			int d = depot_drain(p, idx + k, want - k);

			if (d == 0)
				break;
			k += d;
		}
		for (int i = 0; i < k; i++)
			hs[got + i] = take(p, idx[i]);
		got += k;
		if (k < want)
			break;
	}
	if (got > 0)
		iobuf__pool_note_free(p, shared_free(p));
	if (got < n)
		note_empty(p);
	return got;
}

int iobuf_pool_get_bulk(struct iobuf_pool *p, iobuf_handle_t *hs, int n)
{
	uint32_t small[64], *idx = small;
	int got;

	if (IOBUF_UNLIKELY(!p || (!hs && n > 0) || n < 0))
		return -EINVAL;
	if (n == 0)
		return 0;
	if (n > 64 && !(idx = malloc(sizeof(*idx) * (size_t)n)))
		return -ENOMEM;
	got = iobuf_scq_dequeue_burst(p->free, idx, n);
	while (got < n) {
		int k = depot_drain(p, idx + got, n - got);

		if (k == 0)
			break;
		got += k;
	}
	if (got < n) {
		/* All or nothing: the indices go back untouched (their slots stayed even). */
		if (got > 0)
			iobuf__pool_give(p, idx, got);
		note_empty_at(p, shared_free(p));
		if (idx != small)
			free(idx);
		return -ENOBUFS;
	}
	iobuf__pool_note_free(p, shared_free(p));
	for (int i = 0; i < n; i++)
		hs[i] = take(p, idx[i]);
	if (idx != small)
		free(idx);
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
	idx = (uint32_t)rc;
	iobuf__pool_give(p, &idx, 1);
	return 0;
}

int iobuf_pool_put_bulk(struct iobuf_pool *p, const iobuf_handle_t *hs, int n)
{
	uint32_t idx[64];
	int first_err = 0, k = 0;

	if (IOBUF_UNLIKELY(!p || (!hs && n > 0) || n < 0))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		int rc = release(p, hs[i]);

		if (rc < 0) {
			if (!first_err)
				first_err = rc;
			continue;
		}
		idx[k++] = (uint32_t)rc;
		if (k == 64) {
			iobuf__pool_give(p, idx, k);
			k = 0;
		}
	}
	iobuf__pool_give(p, idx, k);
	return first_err;
}

static inline int release_index(struct iobuf_pool *p, uint32_t idx)
{
	uint64_t m;

	if (IOBUF_UNLIKELY(idx >= p->shape.capacity))
		return refuse(p, -EINVAL);
	m = iobuf__load_64(&p->meta[idx]);
	do {
		if (!(m & 1))
			return refuse(p, -EALREADY);
	} while (!iobuf__cas_64(&p->meta[idx], &m, m + 1));
	mark_free(p, idx);
	return 0;
}

int iobuf__pool_release_index(struct iobuf_pool *p, uint32_t idx)
{
	return release_index(p, idx);
}

void iobuf__pool_refuse(struct iobuf_pool *p, int rc)
{
	(void)refuse(p, rc);
}

int iobuf_pool_put_index(struct iobuf_pool *p, uint32_t idx)
{
	int rc;

	if (IOBUF_UNLIKELY(!p))
		return -EINVAL;
	rc = release_index(p, idx);
	if (IOBUF_UNLIKELY(rc < 0))
		return rc;
	iobuf__pool_give(p, &idx, 1);
	return 0;
}

/* ---- accessors and stats --------------------------------------------------- */

void *iobuf_pool_buf(const struct iobuf_pool *p, iobuf_handle_t h)
{
	uint32_t idx;

	if (!p || !handle_ok(p, h))
		return NULL;
	idx = iobuf_handle_index(h);
	if ((uint32_t)iobuf__load_64(&p->meta[idx]) != iobuf_handle_generation(h))
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

int iobuf_pool_stats(const struct iobuf_pool *p, struct iobuf_pool_stats *st)
{
	uint64_t events = 0, in_use = 0, cached;
	uint32_t cap;

	if (!p || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	cap = p->shape.capacity;
	for (uint32_t i = 0; i < cap; i++) {
		uint64_t m = iobuf__load_64(&p->meta[i]) - p->gen_base;

		events += m;
		in_use += m & 1;
	}
	cached = 0;
	if (iobuf__load_32(&p->caches) != 0) {
		/*
		 * Caches keep no shared count (their fast paths write only their
		 * own lines): what is neither handed out nor in the queue or the
		 * depot is in a cache.  Exact when no call is in flight.
		 */
		uint32_t fr = shared_free(p);

		cached = fr < cap - in_use ? cap - in_use - fr : 0;
	}
	st->capacity = cap;
	st->in_use = (uint32_t)in_use;
	st->cached = (uint32_t)cached;
	st->free = cap - st->in_use - st->cached;
	st->gets = (events + in_use) / 2;
	st->puts = (events - in_use) / 2;
	st->high_water = iobuf__load_32(&p->high_water);
	if (st->high_water < st->in_use + st->cached)
		st->high_water = st->in_use + st->cached;
	st->empty_gets = iobuf__load_64(&p->empty_gets);
	st->waits = iobuf__load_64(&p->waits);
	st->wait_timeouts = iobuf__load_64(&p->wait_timeouts);
	st->refused_invalid = iobuf__load_64(&p->refused_invalid);
	st->refused_already = iobuf__load_64(&p->refused_already);
	st->refused_stale = iobuf__load_64(&p->refused_stale);
	return 0;
}
