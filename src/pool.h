/* SPDX-License-Identifier: MIT */
/*
 * pool.h (private) - what a set, a cache and the tests reach inside a pool.
 *
 * A cache depends on a pool through attach/detach, refill and flush, and
 * the slot transitions that also mark a buffer for ASan and valgrind
 * (take, release).  Everything it reads inline comes from the pool's
 * public shape (iobuf/pool.h), handed over at attach.
 */
#ifndef IOBUF_SRC_POOL_H
#define IOBUF_SRC_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include <iobuf/pool.h>

/*
 * Like iobuf_pool_create(), with every slot's generation starting at
 * @gen_base (even) and the free queue's tickets at @scq_start: tests
 * start both just below their wrap points.
 */
struct iobuf_pool *iobuf__pool_create_at(const struct iobuf_pool_config *cfg, uint32_t gen_base, uint64_t scq_start,
					 int *err);

/* A pool of a set: its handles carry the set bit and the set's owner id @owner. */
struct iobuf_pool *iobuf__pool_create_in_set(const struct iobuf_pool_config *cfg, unsigned owner, int *err);

/* The next owner id of a set (@set) or of a standalone pool; see iobuf/slot.h. */
unsigned iobuf__owner_next(bool set);

/* The pool's shape (iobuf/pool.h), as a declared interface rather than a cast. */
const struct iobuf_pool_shape *iobuf__pool_shape(const struct iobuf_pool *pool);

/* Indices per depot magazine; 0 when the pool has no depot (too small). */
uint32_t iobuf__pool_magazine(const struct iobuf_pool *pool);

#ifdef IOBUF_POOL_STEPS
/*
 * Test hook, compiled in only when pool.c is built with -DIOBUF_POOL_STEPS
 * (tests/unit/test_pool_steps.c): called by a get whose look found the
 * free queue short, before it looks at the depot.
 */
extern void (*iobuf__pool_step_hook)(struct iobuf_pool *pool);
#endif

/* The pool's free-index queue (tests). */
struct iobuf_scq *iobuf__pool_scq(struct iobuf_pool *pool);

/* ---- caches ------------------------------------------------------------- */

/* Cache states, in *iobuf__pool_client.state. */
#define IOBUF__CLIENT_ACTIVE 0u     /* its owner may be in any call */
#define IOBUF__CLIENT_PARKED 1u     /* its owner makes no call until it unparks: pools may take its buffers */
#define IOBUF__CLIENT_RECLAIMING 2u /* a pool is taking them */

/*
 * What a cache shows each pool it serves.  The pool reads *top with a
 * relaxed load for its statistics (the owner stores it relaxed), and,
 * while *state is PARKED, takes the entries bot .. *top - 1 back (each
 * entry: free generation << 32 | index) after moving *state to
 * RECLAIMING with a compare-and-swap.
 */
struct iobuf__pool_client {
	struct iobuf__pool_client *next, *prev; /* the pool's list (its lock) */
	uint64_t **top;                         /* past the cache's warmest entry of this pool */
	uint64_t *bot;                          /* the stack's bottom */
	uint32_t *state;                        /* the cache's state word, shared by its tiers */
	/* Filled by iobuf__pool_attach(): */
	const struct iobuf_pool_shape *shape;
	uint32_t magazine; /* indices per depot magazine; 0: the pool has no depot */
	bool debug;        /* buffers are marked on every get and put (ASan, valgrind): no inline path */
};

/* Attach @cl (top, bot, state set) to @pool: from now on stats count what it holds. */
void iobuf__pool_attach(struct iobuf_pool *pool, struct iobuf__pool_client *cl);

/* Detach @cl; its stack must be empty. */
void iobuf__pool_detach(struct iobuf_pool *pool, struct iobuf__pool_client *cl);

/*
 * Take free indices for a cache into @out: one full depot magazine when
 * @max is at least the magazine size and the depot holds one, else up to
 * @max (at most a magazine) from the free queue, else from a magazine.
 * Returns the count; 0 when the pool is empty.  With @last, an empty pool
 * is dealt with as an empty get (iobuf__pool_recover(), then counted);
 * without, nothing is done: the caller gives back what it gathered first,
 * then recovers (a bulk get, whose own give-back must not fire the fd).
 * Lock-free but for the reclaim of parked caches.
 */
int iobuf__pool_refill(struct iobuf_pool *pool, uint32_t *out, int max, bool last);

/*
 * An empty get's last resort: take back what parked caches hold and arm
 * the readiness fd.  Returns true when a look again may find @need.
 */
bool iobuf__pool_recover(struct iobuf_pool *pool, uint32_t need);

/* Count an empty get: sample the high-water mark, move the reclaim epoch. */
void iobuf__pool_note_empty(struct iobuf_pool *pool);

/*
 * Give back @n free indices: whole magazines into the depot while empty
 * magazines are left, the rest to the free queue; then wake sleeping gets
 * and a readiness fd (W1).  Lock-free.
 */
void iobuf__pool_flush(struct iobuf_pool *pool, const uint32_t *idx, int n);

/* take: the caller holds free index @idx; hand it out (the slot turns odd). */
iobuf_handle_t iobuf__pool_take(struct iobuf_pool *pool, uint32_t idx);

struct iobuf_account;

/*
 * Charge the hand-out @h, just taken by the caller (its only holder), to
 * @acct: the last put credits it (iobuf__account_credit()).  Returns 0, or
 * -EINVAL for a pool outside a set or an index out of range.
 */
int iobuf__pool_charge(struct iobuf_pool *pool, iobuf_handle_t h, struct iobuf_account *acct);

/* The content kind of live handle @h's hand-out (0 until set), or why it is not live. */
int iobuf__pool_kind(const struct iobuf_pool *pool, iobuf_handle_t h);

/* Set it; -EINVAL for a pool outside a set.  A refused call writes nothing a later hand-out reads. */
int iobuf__pool_setkind(struct iobuf_pool *pool, iobuf_handle_t h, unsigned kind);

/* The account live handle @h is charged to, or NULL. */
struct iobuf_account *iobuf__pool_account_of(const struct iobuf_pool *pool, iobuf_handle_t h);

/* What a release returns when it dropped one of several holders: the buffer stays held, nothing is freed. */
#define IOBUF__POOL_KEPT ((int)IOBUF_POOL_MAX_CAPACITY)

/*
 * release: check @h and drop one holder; when it was the last, free its
 * slot without putting the index anywhere: the caller then holds a free
 * index.  Returns the index (>= 0), IOBUF__POOL_KEPT, or the refusal of
 * iobuf_pool_put() (counted).
 */
int iobuf__pool_release(struct iobuf_pool *pool, iobuf_handle_t h);

/* The same for a raw index: the index, IOBUF__POOL_KEPT, or the refusal of iobuf_pool_put_index() (counted). */
int iobuf__pool_release_index(struct iobuf_pool *pool, uint32_t idx);

/*
 * A cache just parked holding buffers of this pool: wake sleeping gets and
 * a readiness fd armed before it parked, so that they look again and take
 * the parked buffers back (W3).
 */
void iobuf__pool_nudge(struct iobuf_pool *pool);

/* Count a refusal (-EINVAL, -EALREADY or -ESTALE) found by a caller. */
void iobuf__pool_refuse(struct iobuf_pool *pool, int rc);

/* ---- a set's readiness fd ------------------------------------------------ */

/* Use @fd (an eventfd the set owns) as the readiness fd of a set's pool. */
void iobuf__pool_adopt_ready_fd(struct iobuf_pool *pool, int fd);

#endif /* IOBUF_SRC_POOL_H */
