/* SPDX-License-Identifier: MIT */
/*
 * chan.c - a bounded MPMC channel of slices: an array of entries and two
 * SCQs of their indices, fq (free entries, it starts full) and aq (full
 * entries, oldest first), as the SCQ paper builds a queue of data.
 *
 * Entries.  Entry index i lives in entry[17i mod N] (N = capacity rounded
 * up to a power of two; the SCQ's own remap, iobuf__scq_slot_of()), so
 * the entries of consecutive indices, which senders running side by side
 * fill at the same time, sit 272 bytes apart, on lines of their own.  An
 * entry's handle word is also its mark: a handle other than
 * IOBUF_HANDLE_NONE (never a valid handle) says that a send holds the
 * entry or that it waits in aq; a receive clears it to NONE as it takes
 * the entry.  The mark is what lets a close be exact (below) without a
 * shared counter of sends in flight: a send's only extra cost is that its
 * store of the handle is an exchange.
 *
 * Close.  The state goes OPEN -> CLOSING -> CLOSED -> SEALED.  close()
 * moves OPEN to CLOSING (a CAS, so one close wins), fences (F_c), then
 * stores CLOSED.  A send marks its entries, fences (F_s), and loads the
 * state: anything but OPEN and it clears the marks, gives the entries back
 * to fq and returns -EPIPE.  A receive that finds aq empty and the state
 * CLOSED fences (F_r) and reads every entry's mark; if none is set, no
 * send can land any more, so it seals the channel (CLOSED -> SEALED) and
 * returns -EPIPE, and every later receive that finds aq empty does at
 * once.  If one is set it looks at aq again, and says "not now" (-EAGAIN)
 * when the entry is still on its way, or in the hands of another receive
 * that has not cleared its mark yet.  Either wakes it when it is done:
 * the send as it publishes or gives back, the receive because on a
 * closed channel it wakes the receiving side too (wake_given()).  Why that is exact (chan D3): a
 * send that loaded OPEN after F_s did so before close's CAS in coherence,
 * so F_s precedes F_c in the fences' total order; a receive that read
 * CLOSED (stored after F_c, acquired) has F_c before F_r; so F_s precedes
 * F_r and the receive's loads of the marks, after F_r, see the send's
 * mark (or a later value: the receive that took the entry).  Conversely a
 * send whose mark a sealing receive did not see has F_s after F_r, and its
 * load of the state sees CLOSING or later: it is refused.
 *
 * Memory order.  Labels name each pair; doc/design.md keeps the table.
 *   C1  send: entry stores, then the enqueue on aq (the SCQ's Q1,
 *       release); receive: the dequeue from aq that returns the index
 *       (Q2, acquire), then the entry loads.  The slice and everything the
 *       sender wrote before it.
 *   C2  receive: entry loads, then the enqueue on fq (release); send: the
 *       dequeue from fq (acquire), then the entry stores.  A receive's
 *       reads come before the next sender's writes of that entry.
 *   C3  a waker's bump of a futex word (iobuf__futex_bump_wake(), acq_rel)
 *       after its progress (an enqueue, or close's state); the sleeper's
 *       load-acquire of the word before its next attempt.
 *   D1  send: the enqueue on aq (SCQ RMWs only), iobuf__fence_rmw_load(),
 *       load recv.waiters and recv.armed (wake()); a waiting receive:
 *       recv.waiters++ (an RMW), the same fence, retry; arming the ready
 *       fd: recv.armed = 1 (an exchange), the same fence, retry.  Either
 *       the retry finds the entry or the send sees the waiter (bumps the
 *       word, C3) or the armed fd (writes it).  Close is a D1 (and D2)
 *       waker too: its state, a full fence, the waiters.
 *   D2  the same between a receive's enqueue on fq and the send side
 *       (send.waiters, send.armed: waiting sends, the writable fd).
 *   D3  the close fences F_s, F_c and F_r above; and an fd made after a
 *       close: its install (a CAS), the fence, the state, against close's
 *       state, fence, load of the fd: one of them writes it.
 * On x86 every fence here but F_c and F_r (full fences, on close's and a
 * closed channel's rare paths) is a compiler barrier: the RMW before it
 * is a locked instruction.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <iobuf/chan.h>
#include <iobuf/scq.h>

#include "atomic.h"
#include "scq.h"
#include "util.h"
#include "wait.h"

/* Spins and yields of a waiting send or receive before it sleeps (as a pool's waiting get). */
#define CHAN_SPINS 256
#define CHAN_YIELDS 8
/* Entries moved per SCQ call by the burst forms: the indices travel through a local array. */
#define CHAN_CHUNK 64

enum chan_state {
	CHAN_OPEN = 0,
	CHAN_CLOSING = 1, /* close() is between its CAS and its store of CLOSED */
	CHAN_CLOSED = 2,  /* sends refused; receives drain */
	CHAN_SEALED = 3,  /* closed, and a receive saw no send in flight: an empty aq is final */
};

/* One direction's sleepers and fd: recv (woken by sends), send (woken by receives). */
struct chan_side {
	uint32_t waiters; /* threads in a waiting form past their spins */
	uint32_t armed;	  /* 1 while the fd waits for the other side's next call */
	int fd;		  /* the eventfd, -1 until made */
};

struct iobuf_chan {
	/* Read-only after create. */
	alignas(IOBUF__SCQ_BLOCK) struct iobuf_scq *fq; /* free entries */
	struct iobuf_scq *aq;				/* full entries */
	struct iobuf_slice *entry;			/* slot_mask + 1 entries */
	uint64_t slot_mask;
	uint32_t capacity;

	/* Read by every call; written by waits, arming, the fds and close. */
	alignas(IOBUF__SCQ_BLOCK) uint32_t state;
	struct chan_side recv;
	struct chan_side send;

	/* Futex words, bumped by wakers while someone sleeps. */
	alignas(IOBUF__SCQ_BLOCK) uint32_t recv_seq;
	uint32_t send_seq;
};

/*
 * Test hooks (tests/unit/test_chan.c builds this file with -DIOBUF_CHAN_STEPS):
 * the points at which a test stops a call to run others in between.
 */
#ifdef IOBUF_CHAN_STEPS
extern void (*iobuf__chan_step_hook)(struct iobuf_chan *ch, int step);
void (*iobuf__chan_step_hook)(struct iobuf_chan *ch, int step);
#define CHAN_STEP(ch, n) (iobuf__chan_step_hook ? iobuf__chan_step_hook((ch), (n)) : (void)0)
#else
#define CHAN_STEP(ch, n) ((void)0)
#endif
/* A send has marked its entries (before F_s and its look at the state). */
#define CHAN_STEP_MARKED 1
/* A send found the channel open (before its enqueue on aq). */
#define CHAN_STEP_OPEN 2
/* A waiting call is about to sleep on its futex word. */
#define CHAN_STEP_SLEEP 3
/* A receive has taken indices from aq (before it reads and unmarks their entries). */
#define CHAN_STEP_TAKEN 4

static inline struct iobuf_slice *entry_of(const struct iobuf_chan *ch, uint32_t idx)
{
	return &ch->entry[iobuf__scq_slot_of(ch->slot_mask, idx)];
}

/* The handle word of an entry: its mark (see the top). */
static inline uint64_t *mark_of(struct iobuf_slice *e)
{
	return &e->h;
}

static inline bool slice_ok(struct iobuf_slice s)
{
	return s.h != IOBUF_HANDLE_NONE && (uint64_t)s.off + s.len <= UINT32_MAX;
}

/* Up to @n indices from @q into @idx; the count. */
static inline int q_take(struct iobuf_scq *q, uint32_t *idx, int n)
{
	if (n == 1) {
		int v = iobuf_scq_dequeue(q);

		if (v < 0)
			return 0;
		idx[0] = (uint32_t)v;
		return 1;
	}
	return iobuf_scq_dequeue_burst(q, idx, n);
}

/* Append @idx[0 .. @n-1] to @q (indices taken from the other queue: always < capacity). */
static inline void q_put(struct iobuf_scq *q, const uint32_t *idx, int n)
{
	if (n == 1)
		(void)iobuf_scq_enqueue(q, idx[0]);
	else
		(void)iobuf_scq_enqueue_bulk(q, idx, n);
}

/* Make an eventfd readable (a no-op on a counter already at its limit: it is readable). */
static void fd_signal(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* EAGAIN only: the counter is full, so the fd is readable already. */
	}
}

/* ---- waking and arming ---------------------------------------------------- */

static __attribute__((noinline)) void wake_slow(struct chan_side *side, uint32_t *seq)
{
	if (iobuf__load_32(&side->waiters) != 0)
		iobuf__futex_bump_wake(seq); /* C3: the sleeper re-reads the word */
	if (iobuf__load_32(&side->armed) != 0 && iobuf__fas_32(&side->armed, 0) != 0)
		fd_signal(iobuf__load_int_acq(&side->fd));
}

/* After an enqueue (SCQ RMWs): wake @side's sleepers and its armed fd, if any. */
static inline void wake(struct chan_side *side, uint32_t *seq)
{
	/* D1 / D2: pairs with the fence after waiters++ in chan_wait() and after armed = 1 in arm(). */
	iobuf__fence_rmw_load();
	if (IOBUF_UNLIKELY((iobuf__load_32(&side->waiters) | iobuf__load_32(&side->armed)) != 0))
		wake_slow(side, seq);
}

/*
 * After a receive gave entries back to fq (SCQ RMWs): wake the sends that
 * wait for room; and on a closed channel the receives too.  A mark that a
 * receive clears (a relaxed store, before the enqueue's RMWs and so before
 * the fence on every mapping: a locked instruction on x86, a full fence
 * elsewhere) may be what a receive that found the closed channel empty
 * saw and now sleeps (or armed its fd) on (D3, D1).
 */
static inline void wake_given(struct iobuf_chan *ch)
{
	wake(&ch->send, &ch->send_seq);
	/* D1: the same fence as in wake(); pairs with the fence after waiters++ or armed = 1, before the marks. */
	if (IOBUF_UNLIKELY(iobuf__load_32(&ch->state) != CHAN_OPEN) &&
	    (iobuf__load_32(&ch->recv.waiters) | iobuf__load_32(&ch->recv.armed)) != 0)
		wake_slow(&ch->recv, &ch->recv_seq);
}

/* Arm @side's fd if it exists; true when armed (the caller then looks again). */
static bool arm(struct chan_side *side)
{
	if (iobuf__load_int_acq(&side->fd) < 0)
		return false;
	(void)iobuf__fas_32(&side->armed, 1);
	/* D1 / D2: pairs with the fence in wake(): armed is written (an RMW) before the look. */
	iobuf__fence_rmw_load();
	return true;
}

/* ---- send ------------------------------------------------------------------ */

/* A send saw the channel closing after it marked @idx: undo, and wake whoever waits on the marks. */
static __attribute__((noinline, cold)) int back_off(struct iobuf_chan *ch, const uint32_t *idx, int n)
{
	for (int k = 0; k < n; k++)
		(void)iobuf__fas_64(mark_of(entry_of(ch, idx[k])), IOBUF_HANDLE_NONE);
	/* C2 as a receive gives entries back. */
	q_put(ch->fq, idx, n);
	/* D1: a receive that saw our marks may sleep (or have armed its fd) until they go. */
	wake(&ch->recv, &ch->recv_seq);
	wake(&ch->send, &ch->send_seq);
	return -EPIPE;
}

/* Write @s[0 .. @n-1] into the entries @idx, just taken from fq, and publish them; @n, or -EPIPE. */
static inline __attribute__((always_inline)) int fill(struct iobuf_chan *ch, const struct iobuf_slice *s,
						      const uint32_t *idx, int n)
{
	for (int k = 0; k < n; k++) {
		struct iobuf_slice *e = entry_of(ch, idx[k]);

		(void)iobuf__fas_64(mark_of(e), s[k].h);
		e->off = s[k].off;
		e->len = s[k].len;
	}
	CHAN_STEP(ch, CHAN_STEP_MARKED);
	/* D3 F_s: pairs with F_c in iobuf_chan_close() and F_r in seal(): the marks (RMWs) before the state. */
	iobuf__fence_rmw_load();
	if (IOBUF_UNLIKELY(iobuf__load_32(&ch->state) != CHAN_OPEN))
		return back_off(ch, idx, n);
	CHAN_STEP(ch, CHAN_STEP_OPEN);
	/* C1: pairs with the dequeue from aq in chan_recv(): publishes the entries and the sender's writes. */
	q_put(ch->aq, idx, n);
	wake(&ch->recv, &ch->recv_seq);
	return n;
}

/* fq had nothing for a send: -EPIPE when closed, else arm the writable fd (@arm_fd) and look again. */
static __attribute__((noinline)) int send_full(struct iobuf_chan *ch, uint32_t *idx, int want, bool arm_fd)
{
	if (iobuf__load_32(&ch->state) != CHAN_OPEN)
		return -EPIPE;
	if (!arm_fd || !arm(&ch->send))
		return 0;
	return q_take(ch->fq, idx, want);
}

/* Send valid slices @s[0 .. @n-1], as many as fit: the count, or -EPIPE when none went. */
static inline __attribute__((always_inline)) int chan_send(struct iobuf_chan *ch, const struct iobuf_slice *s, int n,
							   bool arm_fd)
{
	int sent = 0;

	while (sent < n) {
		uint32_t idx[CHAN_CHUNK];
		int want = n - sent < CHAN_CHUNK ? n - sent : CHAN_CHUNK;
		/* C2: pairs with the enqueue on fq in chan_recv(): the last reader of each entry is done. */
		int got = q_take(ch->fq, idx, want), rc;

		if (IOBUF_UNLIKELY(got == 0)) {
			if (sent > 0)
				break;
			got = send_full(ch, idx, want, arm_fd);
			if (got <= 0)
				return got;
		}
		rc = fill(ch, s + sent, idx, got);
		if (IOBUF_UNLIKELY(rc < 0))
			return sent > 0 ? sent : rc;
		sent += got;
		if (got < want)
			break;
	}
	return sent;
}

int iobuf_chan_send_slice(struct iobuf_chan *ch, struct iobuf_slice s)
{
	int rc;

	if (IOBUF_UNLIKELY(!ch || !slice_ok(s)))
		return -EINVAL;
	rc = chan_send(ch, &s, 1, true);
	return rc > 0 ? 0 : rc == 0 ? -EAGAIN : rc;
}

int iobuf_chan_send(struct iobuf_chan *ch, iobuf_handle_t h)
{
	return iobuf_chan_send_slice(ch, (struct iobuf_slice){h, 0, 0});
}

int iobuf_chan_send_burst(struct iobuf_chan *ch, const struct iobuf_slice *s, int n)
{
	if (!ch || n < 0 || (n > 0 && !s))
		return -EINVAL;
	for (int k = 0; k < n; k++)
		if (!slice_ok(s[k]))
			return -EINVAL;
	return n == 0 ? 0 : chan_send(ch, s, n, true);
}

/* ---- receive --------------------------------------------------------------- */

/*
 * A closed channel whose aq looked empty: if no entry is marked, no send
 * can land any more (D3 at the top): seal it, -EPIPE.  Else look at aq
 * again: the count it gives (0: a send is still on its way).
 */
static __attribute__((noinline, cold)) int seal(struct iobuf_chan *ch, uint32_t *idx, int want)
{
	uint32_t closed = CHAN_CLOSED;

	/* D3 F_r: pairs with F_c in iobuf_chan_close() and F_s in fill(): the state before the marks. */
	iobuf__fence_seq_cst();
	for (uint64_t p = 0; p <= ch->slot_mask; p++)
		if (iobuf__load_64(mark_of(&ch->entry[p])) != IOBUF_HANDLE_NONE)
			return q_take(ch->aq, idx, want);
	(void)iobuf__cas_32_acqrel(&ch->state, &closed, CHAN_SEALED);
	return -EPIPE;
}

/* aq had nothing for a receive: arm the ready fd (@arm_fd) and look again; then the close's verdict. */
static __attribute__((noinline)) int recv_empty(struct iobuf_chan *ch, uint32_t *idx, int want, bool arm_fd)
{
	uint32_t st = iobuf__load_32_acq(&ch->state);
	int got;

	if (st == CHAN_SEALED)
		return -EPIPE;
	if (arm_fd && arm(&ch->recv) && (got = q_take(ch->aq, idx, want)) > 0)
		return got;
	/* D3: acquire, so that F_r in seal() comes after close's F_c. */
	if (iobuf__load_32_acq(&ch->state) < CHAN_CLOSED)
		return 0;
	return seal(ch, idx, want);
}

/* Up to @n entries into @out: the count, or -EPIPE when closed and drained. */
static inline __attribute__((always_inline)) int chan_recv(struct iobuf_chan *ch, struct iobuf_slice *out, int n,
							   bool arm_fd)
{
	int got_all = 0;

	while (got_all < n) {
		uint32_t idx[CHAN_CHUNK];
		int want = n - got_all < CHAN_CHUNK ? n - got_all : CHAN_CHUNK;
		/* C1: pairs with the enqueue on aq in fill(): the entries and the sender's writes. */
		int got = q_take(ch->aq, idx, want);

		if (IOBUF_UNLIKELY(got == 0)) {
			if (got_all > 0)
				break;
			got = recv_empty(ch, idx, want, arm_fd);
			if (got <= 0)
				return got;
		}
		CHAN_STEP(ch, CHAN_STEP_TAKEN);
		for (int k = 0; k < got; k++) {
			struct iobuf_slice *e = entry_of(ch, idx[k]), *o = &out[got_all + k];

			o->h = iobuf__load_64(mark_of(e));
			o->off = e->off;
			o->len = e->len;
			/* Unmarked: taken.  Relaxed; a sealing receive only needs to see it eventually. */
			iobuf__store_64(mark_of(e), IOBUF_HANDLE_NONE);
		}
		/* C2: pairs with the dequeue from fq in chan_send(): our reads before the next sender's writes. */
		q_put(ch->fq, idx, got);
		wake_given(ch);
		got_all += got;
		if (got < want)
			break;
	}
	return got_all;
}

int iobuf_chan_recv_slice(struct iobuf_chan *ch, struct iobuf_slice *s)
{
	int rc;

	if (IOBUF_UNLIKELY(!s))
		return -EINVAL;
	*s = IOBUF_SLICE_NONE;
	if (IOBUF_UNLIKELY(!ch))
		return -EINVAL;
	rc = chan_recv(ch, s, 1, true);
	return rc > 0 ? 0 : rc == 0 ? -EAGAIN : rc;
}

int iobuf_chan_recv(struct iobuf_chan *ch, iobuf_handle_t *h)
{
	struct iobuf_slice s;
	int rc;

	if (IOBUF_UNLIKELY(!h))
		return -EINVAL;
	*h = IOBUF_HANDLE_NONE;
	if (IOBUF_UNLIKELY(!ch))
		return -EINVAL;
	rc = chan_recv(ch, &s, 1, true);
	if (rc > 0)
		*h = s.h;
	return rc > 0 ? 0 : rc == 0 ? -EAGAIN : rc;
}

int iobuf_chan_recv_burst(struct iobuf_chan *ch, struct iobuf_slice *s, int n)
{
	if (!ch || n < 0 || (n > 0 && !s))
		return -EINVAL;
	return n == 0 ? 0 : chan_recv(ch, s, n, true);
}

/* ---- waiting ----------------------------------------------------------------- */

/*
 * Wait on @side (futex word @seq) until @attempt(@ch, @arg) returns
 * non-zero (> 0: done, < 0: an error such as -EPIPE) or @timeout_ns
 * passes (-ETIMEDOUT).  Spin, yield, then sleep.
 */
static int chan_wait(struct iobuf_chan *ch, struct chan_side *side, uint32_t *seq,
		     int (*attempt)(struct iobuf_chan *ch, void *arg), void *arg, int64_t timeout_ns)
{
	uint64_t deadline;
	int rc = attempt(ch, arg);

	if (rc != 0)
		return rc;
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	deadline = iobuf__deadline_after(timeout_ns);
	for (int i = 0; i < CHAN_SPINS; i++) {
		iobuf__cpu_relax();
		if ((rc = attempt(ch, arg)) != 0)
			return rc;
	}
	for (int i = 0; i < CHAN_YIELDS; i++) {
		sched_yield();
		if ((rc = attempt(ch, arg)) != 0)
			return rc;
		if (iobuf__deadline_passed(deadline))
			return -ETIMEDOUT;
	}
	/* D1 / D2: pairs with the fence in wake() and in iobuf_chan_close(); the RMW on waiters comes first. */
	iobuf__faa_32_acqrel(&side->waiters, 1);
	iobuf__fence_rmw_load();
	for (;;) {
		/* C3: pairs with the bump in wake_slow() and iobuf_chan_close(): a new word, then its cause. */
		uint32_t s = iobuf__load_32_acq(seq);

		if ((rc = attempt(ch, arg)) != 0)
			break;
		if (iobuf__deadline_passed(deadline)) {
			rc = -ETIMEDOUT;
			break;
		}
		CHAN_STEP(ch, CHAN_STEP_SLEEP);
		/* Returns at once if a waker bumped the word since we read it. */
		(void)iobuf__futex_wait_until(seq, s, deadline);
	}
	iobuf__faa_32(&side->waiters, (uint32_t)-1);
	return rc;
}

static int attempt_send(struct iobuf_chan *ch, void *arg)
{
	return chan_send(ch, arg, 1, false);
}

static int attempt_recv(struct iobuf_chan *ch, void *arg)
{
	return chan_recv(ch, arg, 1, false);
}

int iobuf_chan_send_wait(struct iobuf_chan *ch, struct iobuf_slice s, int64_t timeout_ns)
{
	int rc;

	if (!ch || !slice_ok(s))
		return -EINVAL;
	rc = chan_wait(ch, &ch->send, &ch->send_seq, attempt_send, &s, timeout_ns);
	return rc > 0 ? 0 : rc;
}

int iobuf_chan_recv_wait(struct iobuf_chan *ch, struct iobuf_slice *s, int64_t timeout_ns)
{
	int rc;

	if (!s)
		return -EINVAL;
	*s = IOBUF_SLICE_NONE;
	if (!ch)
		return -EINVAL;
	rc = chan_wait(ch, &ch->recv, &ch->recv_seq, attempt_recv, s, timeout_ns);
	return rc > 0 ? 0 : rc;
}

/* ---- readiness fds and close ------------------------------------------------- */

static int side_fd(struct iobuf_chan *ch, struct chan_side *side)
{
	int fd, none = -1, have = iobuf__load_int_acq(&side->fd);

	if (have >= 0)
		return have;
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!iobuf__cas_int_acqrel(&side->fd, &none, fd)) {
		close(fd); /* another thread installed one first */
		return none;
	}
	/* D3: pairs with the fence in iobuf_chan_close(): the fd (a CAS) before the state. */
	iobuf__fence_rmw_load();
	if (iobuf__load_32(&ch->state) != CHAN_OPEN)
		fd_signal(fd);
	return fd;
}

int iobuf_chan_ready_fd(struct iobuf_chan *ch)
{
	return ch ? side_fd(ch, &ch->recv) : -EINVAL;
}

int iobuf_chan_writable_fd(struct iobuf_chan *ch)
{
	return ch ? side_fd(ch, &ch->send) : -EINVAL;
}

int iobuf_chan_close(struct iobuf_chan *ch)
{
	uint32_t open = CHAN_OPEN;

	if (!ch)
		return -EINVAL;
	if (!iobuf__cas_32_acqrel(&ch->state, &open, CHAN_CLOSING))
		return -EALREADY;
	/* D3 F_c: pairs with F_s in fill() and F_r in seal(). */
	iobuf__fence_seq_cst();
	/* D3: a receive that acquires CLOSED comes after F_c. */
	iobuf__store_32_rel(&ch->state, CHAN_CLOSED);
	/*
	 * D1 / D2: pairs with the fence after waiters++ in chan_wait() (and,
	 * for the fds, with the one in side_fd()): the state before the
	 * loads; a waiter we do not see sees the state.
	 */
	iobuf__fence_seq_cst();
	if (iobuf__load_32(&ch->recv.waiters) != 0)
		iobuf__futex_bump_wake(&ch->recv_seq); /* C3 */
	if (iobuf__load_32(&ch->send.waiters) != 0)
		iobuf__futex_bump_wake(&ch->send_seq); /* C3 */
	fd_signal(iobuf__load_int_acq(&ch->recv.fd));
	fd_signal(iobuf__load_int_acq(&ch->send.fd));
	return 0;
}

/* ---- create, destroy, queries ------------------------------------------------ */

struct iobuf_chan *iobuf_chan_create(const struct iobuf_chan_config *cfg, int *err)
{
	struct iobuf_chan *ch = NULL;
	void *mem = NULL;
	uint64_t n;
	int rc = -EINVAL;

	if (!cfg || cfg->capacity == 0 || cfg->capacity > IOBUF_CHAN_MAX_CAPACITY || cfg->flags != 0)
		goto out;
	rc = -ENOMEM;
	if (posix_memalign(&mem, alignof(struct iobuf_chan), sizeof(*ch)) != 0)
		goto out;
	ch = memset(mem, 0, sizeof(*ch));
	n = iobuf__pow2_ceil64(cfg->capacity);
	ch->capacity = cfg->capacity;
	ch->slot_mask = n - 1;
	ch->recv.fd = -1;
	ch->send.fd = -1;
	ch->state = CHAN_OPEN;
	ch->fq = iobuf_scq_create(cfg->capacity, true, &rc);
	if (!ch->fq)
		goto fail;
	ch->aq = iobuf_scq_create(cfg->capacity, false, &rc);
	if (!ch->aq)
		goto fail;
	/* Every handle word NONE (0): no entry is marked. */
	rc = -ENOMEM;
	if (posix_memalign(&mem, IOBUF_CACHELINE, (size_t)n * sizeof(struct iobuf_slice)) != 0)
		goto fail;
	ch->entry = memset(mem, 0, (size_t)n * sizeof(struct iobuf_slice));
	rc = 0;
	goto out;
fail:
	iobuf_scq_destroy(ch->aq);
	iobuf_scq_destroy(ch->fq);
	free(ch);
	ch = NULL;
out:
	if (err)
		*err = rc;
	return ch;
}

int iobuf_chan_destroy(struct iobuf_chan *ch)
{
	if (!ch)
		return 0;
	/* Nothing runs on the channel: a marked entry is one in aq, holding a buffer. */
	for (uint64_t p = 0; p <= ch->slot_mask; p++)
		if (iobuf__load_64(mark_of(&ch->entry[p])) != IOBUF_HANDLE_NONE)
			return -EBUSY;
	if (ch->recv.fd >= 0)
		close(ch->recv.fd);
	if (ch->send.fd >= 0)
		close(ch->send.fd);
	free(ch->entry);
	iobuf_scq_destroy(ch->aq);
	iobuf_scq_destroy(ch->fq);
	free(ch);
	return 0;
}

int iobuf_chan_count(const struct iobuf_chan *ch)
{
	return ch ? (int)iobuf_scq_count(ch->aq) : -EINVAL;
}

int iobuf_chan_capacity(const struct iobuf_chan *ch)
{
	return ch ? (int)ch->capacity : -EINVAL;
}
