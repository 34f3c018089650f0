/* SPDX-License-Identifier: MIT */
/*
 * reserve.c - reserve and commit (iobuf/reserve.h): a ring of G group
 * slots; slot g % G holds group g.
 *
 * A slot's words:
 *   tail     bytes (low 32 bits) and records (high 32) reserved, advanced
 *            only by fetch-and-add and never undone: the reservations
 *            whose add found room are a prefix of the adds.  The first add
 *            that finds no room is the crosser (unique: the ranges the adds
 *            return only grow); it stores the seal point.  Later adds find
 *            no room either and move on.
 *   pending  reservations not yet committed or failed, plus writers that
 *            are about to look at the slot (they leave at once).
 *   seal     0 while open, else SEALED | records << 32 | bytes.
 *   seq      the group the slot holds (published once the slot is reset
 *            and has its buffer), or SEQ_NONE while it is recycled.
 * rec[i]'s state word is (group << 3) | state: the group number tells a
 * record of this group from one of the group the slot held before.
 *
 * A group is ready when it is sealed and its pending is 0; the consumer
 * (one at a time, under the mutex) dispatches group next when it is
 * ready, then recycles its slot for group next + G.
 *
 * Memory order.  Labels name each pair; doc/design.md keeps the table.
 *   R1  reserve: pending++ (RMW), a fence, load seq and closed; recycle:
 *       seq = NONE, a full fence, load pending; finalize: closed = 1, a
 *       full fence, and the consumer's load of pending.  Either the writer
 *       sees NONE (closed) or the recycler (the consumer) sees its pending.
 *   R2  recycle: the slot's reset (tail, seal, buffer) then seq (release);
 *       reserve: seq (acquire) then the tail add and the buffer's address.
 *   R3  reserve: the record's fields then its state (release); the
 *       consumer's scan and dispatch: the state (acquire), then the fields.
 *   R4  commit, abort, a failed reservation: pending-- (release, after the
 *       writer's bytes and the state CAS); dispatch: pending == 0
 *       (acquire) after seal (acquire) then the bytes and the records.
 *       A writer's pending++ comes before its tail add, which comes before
 *       the crosser's add (release sequence of tail), which comes before
 *       the seal store: a dispatch that reads the seal sees every pending++
 *       of the group's reservations.
 *   R5  the crosser: seal (release), a full fence, load waiters and armed;
 *       a pending-- that reaches 0: the RMW, a fence, the same loads; the
 *       waiting consumer: waiters++ (or armed = 1), a fence, poll again.
 *       Either the poll finds the group ready or the writer wakes it (the
 *       futex bump is acq_rel, wait.h).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <iobuf/reserve.h>
#include <iobuf/reserve_urcu.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#include "atomic.h"
#include "util.h"
#include "wait.h"

#ifdef IOBUF_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define SEQ_NONE UINT64_MAX
#define SEALED (UINT64_C(1) << 63)
#define REC_ONE (UINT64_C(1) << 32)
#define LOW32 UINT64_C(0xffffffff)

/* A record's state, the low 3 bits of its word. */
enum {
	ST_OPEN = 0,
	ST_WRITING = 5, /* iobuf_reservation_write() is copying: not to be failed now */
	ST_COMMITTED = IOBUF_RECORD_COMMITTED,
	ST_ABORTED = IOBUF_RECORD_ABORTED,
	ST_TIMEDOUT = IOBUF_RECORD_TIMEDOUT,
	ST_FINALIZED = IOBUF_RECORD_FINALIZED,
};
#define ST_MASK UINT64_C(7)
#define STATE(g, st) (((uint64_t)(g) << 3) | (uint64_t)(st))

/* Spins and yields of a waiting consumer, and of a recycle waiting for writers to leave a slot. */
#define WAIT_SPINS 256
#define WAIT_YIELDS 8
#define RECYCLE_YIELDS 64

struct rec {
	uint64_t state; /* STATE(group, ST_*) */
	uint64_t t_ns;	/* when it was reserved (with a timeout) */
	uint32_t off;	/* in the group */
	uint32_t len;
};

struct gslot {
	alignas(IOBUF_CACHELINE) uint64_t tail;
	uint64_t seal;
	uint64_t seq;
	uint64_t first_ns; /* the first reservation's time (with max_delay_ns) */
	alignas(IOBUF_CACHELINE) uint32_t pending;
	/* The consumer's (under the mutex); read by writers only after seq (R2). */
	alignas(IOBUF_CACHELINE) iobuf_handle_t h; /* IOBUF_HANDLE_NONE: none (the set had none) */
	unsigned char *base;
	uint64_t target; /* the group it is to hold */
	bool published;	 /* seq == target */
	struct rec *rec;
};

struct iobuf_stream {
	/* Read-only after create. */
	struct iobuf_set *set;
	uint32_t gsize, ngroups, max_rec;
	uint64_t timeout_ns, max_delay_ns, tick_ns;
	struct gslot *slot;

	alignas(IOBUF_CACHELINE) uint64_t current;
	uint32_t closed;
	uint64_t lost;

	/* Wakers' side (R5). */
	alignas(IOBUF_CACHELINE) uint32_t waiters;
	uint32_t armed;
	int fd;
	uint32_t wseq;

	/* The consumer's, under mu. */
	alignas(IOBUF_CACHELINE) pthread_mutex_t mu;
	uint64_t next;
	uint64_t last_scan_ns;
	bool done;
	struct iobuf_record *out; /* max_rec records for the group handed out */
	struct iobuf_stream_stats st;
};

static inline struct gslot *slot_of(const struct iobuf_stream *s, uint64_t g)
{
	return &s->slot[g & (s->ngroups - 1)];
}

static void fd_signal(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* EAGAIN only: the counter is full, so the fd is readable already. */
	}
}

static __attribute__((noinline)) void wake_slow(struct iobuf_stream *s)
{
	if (iobuf__load_32(&s->waiters) != 0)
		iobuf__futex_bump_wake(&s->wseq); /* R5: the sleeper re-reads the word */
	if (iobuf__load_32(&s->armed) != 0 && iobuf__fas_32(&s->armed, 0) != 0)
		fd_signal(iobuf__load_int_acq(&s->fd));
}

/* Leave a slot: a reservation ended or a writer looked and went; the last one out may make it ready. */
static inline void pending_drop(struct iobuf_stream *s, struct gslot *sl)
{
	/* R4: releases the writer's bytes and state to the dispatch that reads pending == 0. */
	if (iobuf__faa_32_acqrel(&sl->pending, (uint32_t)-1) != 1)
		return;
	/* R5: pairs with the fence in no_room() (the seal) and the consumer's after waiters++ or armed = 1. */
	iobuf__fence_rmw_load();
	if (IOBUF_UNLIKELY((iobuf__load_32(&s->waiters) | iobuf__load_32(&s->armed)) != 0) &&
	    iobuf__load_64(&sl->seal) != 0)
		wake_slow(s);
}

/* The add @old of @len | REC_ONE found no room: the crosser seals; everyone moves current on. */
static void no_room(struct iobuf_stream *s, struct gslot *sl, uint64_t g, uint64_t old)
{
	uint64_t ob = old & LOW32, orc = old >> 32, cur = g;

	if (ob <= s->gsize && orc <= s->max_rec) {
		/* The crosser: every add before it had room (R4). */
		iobuf__store_64_rel(&sl->seal, SEALED | orc << 32 | ob);
		(void)iobuf__cas_64_acqrel(&s->current, &cur, g + 1);
		/* R5: the seal (a store) before the loads of waiters and armed. */
		iobuf__fence_seq_cst();
		if (IOBUF_UNLIKELY((iobuf__load_32(&s->waiters) | iobuf__load_32(&s->armed)) != 0))
			wake_slow(s);
	} else {
		/* Helping: the crosser may not have moved current yet. */
		(void)iobuf__cas_64_acqrel(&s->current, &cur, g + 1);
	}
}

/*
 * Enter the slot of @g: 0 (pending held, the slot holds @g), 1 (it does
 * not: look at current again), -ENOBUFS (no room: the slot is behind
 * @g), -EPIPE (finalized, for a @writer; a flush seals after finalize too).
 */
static int enter(struct iobuf_stream *s, struct gslot *sl, uint64_t g, bool writer)
{
	uint64_t seq;

	iobuf__faa_32(&sl->pending, 1);
	/* R1: pairs with the full fences in recycle() and iobuf_stream_finalize(). */
	iobuf__fence_rmw_load();
	/* R2: acquire, so that the slot's reset and buffer are visible. */
	seq = iobuf__load_64_acq(&sl->seq);
	if (IOBUF_UNLIKELY(writer && iobuf__load_32(&s->closed) != 0)) {
		pending_drop(s, sl);
		return -EPIPE;
	}
	if (IOBUF_LIKELY(seq == g))
		return 0;
	pending_drop(s, sl);
	if (iobuf__load_64_acq(&s->current) != g)
		return 1;
	return -ENOBUFS;
}

int iobuf_stream_reserve(struct iobuf_stream *s, size_t len, struct iobuf_reservation *r)
{
	if (IOBUF_UNLIKELY(!s || !r || len == 0))
		return -EINVAL;
	if (IOBUF_UNLIKELY(len > s->gsize))
		return -EMSGSIZE;
	for (;;) {
		uint64_t g = iobuf__load_64_acq(&s->current), old, ob, orc;
		struct gslot *sl = slot_of(s, g);
		int rc = enter(s, sl, g, true);

		if (rc == 1)
			continue;
		if (rc < 0) {
			if (rc == -ENOBUFS)
				iobuf__faa_64(&s->lost, 1);
			return rc;
		}
		old = iobuf__faa_64_acqrel(&sl->tail, (uint64_t)len | REC_ONE);
		ob = old & LOW32;
		orc = old >> 32;
		if (IOBUF_LIKELY(ob + len <= s->gsize && orc < s->max_rec)) {
			struct rec *rc_ = &sl->rec[orc];
			uint64_t now = (s->timeout_ns | s->max_delay_ns) != 0 ? iobuf__now_ns() : 0;

			rc_->off = (uint32_t)ob;
			rc_->len = (uint32_t)len;
			iobuf__store_64(&rc_->t_ns, now);
			if (ob == 0)
				iobuf__store_64(&sl->first_ns, now | 1);
			r->stream = s;
			r->data = sl->base + ob;
			r->offset = g * s->gsize + ob;
			r->group = g;
			r->len = (uint32_t)len;
			r->rec = (uint32_t)orc;
			/*
			 * R3: pairs with the acquire of the state in the consumer's
			 * scan and dispatch.  Last: from here a timeout may fail the
			 * reservation and the slot be recycled, so every read of the
			 * slot (base) comes before.
			 */
			iobuf__store_64_rel(&rc_->state, STATE(g, ST_OPEN));
			return 0;
		}
		no_room(s, sl, g, old);
		pending_drop(s, sl);
	}
}

/* The error for a reservation whose state is no longer OPEN. */
static int ended(const struct iobuf_stream *s, const struct iobuf_reservation *r, uint64_t st)
{
	if ((st >> 3) != (r->group & (UINT64_MAX >> 3)))
		/* Dispatched and recycled: only a failed reservation's group goes without its commit. */
		return iobuf__load_32(&s->closed) ? -EPIPE : -ETIMEDOUT;
	switch (st & ST_MASK) {
	case ST_TIMEDOUT:
		return -ETIMEDOUT;
	case ST_FINALIZED:
		return -EPIPE;
	default:
		return -EALREADY;
	}
}

static bool rsv_ok(const struct iobuf_reservation *r)
{
	return r && r->stream && r->rec < r->stream->max_rec && r->len != 0;
}

static int end(struct iobuf_reservation *r, unsigned how)
{
	struct iobuf_stream *s;
	struct gslot *sl;
	uint64_t *w, want;

	if (!rsv_ok(r))
		return -EINVAL;
	s = r->stream;
	sl = slot_of(s, r->group);
	w = &sl->rec[r->rec].state;
	want = STATE(r->group, ST_OPEN);
	if (!iobuf__cas_64_acqrel(w, &want, STATE(r->group, how)))
		return ended(s, r, want);
	pending_drop(s, sl);
	return 0;
}

int iobuf_reservation_commit(struct iobuf_reservation *r)
{
	return end(r, ST_COMMITTED);
}

int iobuf_reservation_abort(struct iobuf_reservation *r)
{
	return end(r, ST_ABORTED);
}

int iobuf_reservation_write(struct iobuf_reservation *r, size_t off, const void *src, size_t n)
{
	uint64_t *w, want;

	if (!rsv_ok(r) || (n > 0 && !src))
		return -EINVAL;
	if (off > r->len || n > r->len - off)
		return -ERANGE;
	w = &slot_of(r->stream, r->group)->rec[r->rec].state;
	want = STATE(r->group, ST_OPEN);
	/* While WRITING, no one fails the reservation: the buffer stays the group's. */
	if (!iobuf__cas_64_acqrel(w, &want, STATE(r->group, ST_WRITING)))
		return ended(r->stream, r, want);
	memcpy((unsigned char *)r->data + off, src, n);
	iobuf__store_64_rel(w, STATE(r->group, ST_OPEN));
	return 0;
}

int iobuf_stream_flush(struct iobuf_stream *s)
{
	uint64_t g, old;
	struct gslot *sl;

	if (!s)
		return -EINVAL;
	g = iobuf__load_64_acq(&s->current);
	sl = slot_of(s, g);
	if (enter(s, sl, g, false) != 0)
		return 0; /* not open: nothing to seal */
	if ((iobuf__load_64(&sl->tail) >> 32) != 0) {
		/* An add that never fits: it seals the group as a crosser (or finds it sealed). */
		old = iobuf__faa_64_acqrel(&sl->tail, ((uint64_t)s->gsize + 1) | REC_ONE);
		no_room(s, sl, g, old);
	}
	pending_drop(s, sl);
	return 0;
}

/* ---- the consumer ------------------------------------------------------------ */

/*
 * Make slot @sl hold group @sl->target: wait for the writers that are
 * looking at it to leave, give it a buffer, reset it and publish it.
 * False when it cannot yet (a writer still in, or the set has no buffer).
 */
static bool recycle(struct iobuf_stream *s, struct gslot *sl)
{
	iobuf__store_64(&sl->seq, SEQ_NONE);
	/* R1: pairs with the fence in enter(): NONE before the load of pending. */
	iobuf__fence_seq_cst();
	for (int i = 0; iobuf__load_32_acq(&sl->pending) != 0; i++) {
		if (i == RECYCLE_YIELDS)
			return false;
		sched_yield();
	}
	if (sl->h == IOBUF_HANDLE_NONE) {
		if (iobuf_get(s->set, s->gsize, &sl->h) != 0) {
			sl->h = IOBUF_HANDLE_NONE;
			return false;
		}
		sl->base = iobuf_buf(s->set, sl->h);
	}
	iobuf__store_64(&sl->tail, 0);
	iobuf__store_64(&sl->seal, 0);
	iobuf__store_64(&sl->first_ns, 0);
	sl->published = true;
	/* R2: pairs with the acquire of seq in enter(). */
	iobuf__store_64_rel(&sl->seq, sl->target);
	return true;
}

/* Fail the open reservations of the open groups that are older than @cutoff (every one when finalized). */
static void fail_old(struct iobuf_stream *s, uint64_t now, bool all)
{
	uint64_t cur = iobuf__load_64_acq(&s->current);

	for (uint64_t g = s->next; g <= cur && g < s->next + s->ngroups; g++) {
		struct gslot *sl = slot_of(s, g);
		uint64_t n;

		if (!sl->published || sl->target != g)
			continue;
		n = iobuf__load_64_acq(&sl->tail) >> 32;
		if (n > s->max_rec)
			n = s->max_rec;
		for (uint64_t i = 0; i < n; i++) {
			struct rec *rc = &sl->rec[i];
			uint64_t want = STATE(g, ST_OPEN);

			/* R3: acquire, then the time. */
			if (iobuf__load_64_acq(&rc->state) != want)
				continue;
			if (!all && now - iobuf__load_64(&rc->t_ns) < s->timeout_ns)
				continue;
			if (iobuf__cas_64_acqrel(&rc->state, &want, STATE(g, all ? ST_FINALIZED : ST_TIMEDOUT)))
				iobuf__faa_32_acqrel(&sl->pending, (uint32_t)-1); /* R4; the consumer needs no wake */
		}
	}
}

/* Timeouts, the time seal, and on a finalized stream the failing of every open reservation. */
static void housekeep(struct iobuf_stream *s)
{
	bool closed = iobuf__load_32(&s->closed) != 0;
	uint64_t now = 0;

	for (uint32_t i = 0; i < s->ngroups; i++)
		if (!s->slot[i].published && s->slot[i].target < s->next + s->ngroups)
			(void)recycle(s, &s->slot[i]);
	if (closed || s->timeout_ns != 0 || s->max_delay_ns != 0)
		now = iobuf__now_ns();
	if (closed || (s->timeout_ns != 0 && now - s->last_scan_ns >= s->tick_ns)) {
		s->last_scan_ns = now;
		fail_old(s, now, closed);
	}
	if (closed) {
		(void)iobuf_stream_flush(s);
	} else if (s->max_delay_ns != 0) {
		struct gslot *sl = slot_of(s, iobuf__load_64_acq(&s->current));
		uint64_t first = iobuf__load_64(&sl->first_ns);

		if (first != 0 && now - first >= s->max_delay_ns)
			(void)iobuf_stream_flush(s);
	}
}

/* Dispatch group next into *@out if it is ready: 0, or -EAGAIN. */
static int dispatch(struct iobuf_stream *s, struct iobuf_group *out)
{
	for (;;) {
		struct gslot *sl = slot_of(s, s->next);
		uint64_t seal, g = s->next;
		uint32_t nrec, bytes, nfailed = 0;
		uint64_t committed_bytes = 0;

		if (!sl->published || sl->target != g)
			return -EAGAIN;
		/* R4: the seal, then pending, both acquire. */
		seal = iobuf__load_64_acq(&sl->seal);
		if (seal == 0 || iobuf__load_32_acq(&sl->pending) != 0)
			return -EAGAIN;
		nrec = (uint32_t)((seal & ~SEALED) >> 32);
		bytes = (uint32_t)(seal & LOW32);
		s->next = g + 1;
		sl->target = g + s->ngroups;
		sl->published = false;
		if (nrec == 0) {
			/* Empty: the slot keeps its buffer. */
			(void)recycle(s, sl);
			continue;
		}
		for (uint32_t i = 0; i < nrec; i++) {
			struct rec *rc = &sl->rec[i];
			uint32_t st = (uint32_t)(iobuf__load_64_acq(&rc->state) & ST_MASK); /* R3 */

			s->out[i].offset = g * s->gsize + rc->off;
			s->out[i].len = rc->len;
			s->out[i].state = st;
			if (st != ST_COMMITTED)
				nfailed++;
			else
				committed_bytes += rc->len;
		}
		(void)iobuf_setlen(s->set, sl->h, bytes);
		out->seq = g;
		out->offset = g * s->gsize;
		out->slice = (struct iobuf_slice){sl->h, 0, bytes};
		out->nrec = nrec;
		out->nfailed = nfailed;
		out->rec = s->out;
		s->st.groups++;
		s->st.bytes += committed_bytes;
		s->st.committed += nrec - nfailed;
		s->st.failed += nfailed;
		sl->h = IOBUF_HANDLE_NONE;
		(void)recycle(s, sl);
		return 0;
	}
}

/* Finalized, everything dispatched, and no writer can reserve any more? */
static bool drained(struct iobuf_stream *s)
{
	struct gslot *sl;

	if (iobuf__load_32(&s->closed) == 0 || iobuf__load_64_acq(&s->current) != s->next)
		return false;
	sl = slot_of(s, s->next);
	if (!sl->published)
		return true; /* no buffer: no writer gets in */
	/* R1: the consumer's side follows the full fence of finalize (and of recycle). */
	iobuf__fence_seq_cst();
	return iobuf__load_32_acq(&sl->pending) == 0 && (iobuf__load_64_acq(&sl->tail) >> 32) == 0 &&
	       iobuf__load_64_acq(&s->current) == s->next;
}

static int poll_locked(struct iobuf_stream *s, struct iobuf_group *g)
{
	int rc;

	if (s->done)
		return -EPIPE;
	housekeep(s);
	rc = dispatch(s, g);
	if (rc == -EAGAIN && drained(s)) {
		s->done = true;
		rc = -EPIPE;
	}
	return rc;
}

static int consume(struct iobuf_stream *s, struct iobuf_group *g, bool arm_fd)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = poll_locked(s, g);
	if (rc == -EAGAIN && arm_fd && iobuf__load_int_acq(&s->fd) >= 0) {
		(void)iobuf__fas_32(&s->armed, 1);
		/* R5: pairs with the fences in pending_drop() and no_room(): armed before the second look. */
		iobuf__fence_rmw_load();
		rc = poll_locked(s, g);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int iobuf_stream_poll(struct iobuf_stream *s, struct iobuf_group *g)
{
	if (!s || !g)
		return -EINVAL;
	return consume(s, g, true);
}

int iobuf_stream_wait(struct iobuf_stream *s, struct iobuf_group *g, int64_t timeout_ns)
{
	uint64_t deadline;
	int rc;

	if (!s || !g)
		return -EINVAL;
	if ((rc = consume(s, g, false)) != -EAGAIN)
		return rc;
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	deadline = iobuf__deadline_after(timeout_ns);
	for (int i = 0; i < WAIT_SPINS + WAIT_YIELDS; i++) {
		if (i < WAIT_SPINS)
			iobuf__cpu_relax();
		else
			sched_yield();
		if ((rc = consume(s, g, false)) != -EAGAIN)
			return rc;
	}
	/* R5: pairs with the fences in pending_drop() and no_room(); the RMW on waiters comes first. */
	iobuf__faa_32_acqrel(&s->waiters, 1);
	iobuf__fence_rmw_load();
	for (;;) {
		uint32_t w = iobuf__load_32_acq(&s->wseq);
		uint64_t until = deadline, now;

		if ((rc = consume(s, g, false)) != -EAGAIN)
			break;
		if (iobuf__deadline_passed(deadline)) {
			rc = -ETIMEDOUT;
			break;
		}
		/* Timeouts, max_delay and slots waiting for a buffer need the consumer to look again. */
		now = iobuf__now_ns();
		if (now + s->tick_ns < until)
			until = now + s->tick_ns;
		(void)iobuf__futex_wait_until(&s->wseq, w, until);
	}
	iobuf__faa_32(&s->waiters, (uint32_t)-1);
	return rc;
}

/* A node with room for a group of @n records; its records sit right after it. */
static struct iobuf_group_node *node_alloc(uint32_t n)
{
	struct iobuf_group_node *nd = malloc(sizeof(*nd) + (size_t)n * sizeof(struct iobuf_record));

	if (nd)
		cds_wfcq_node_init(&nd->node);
	return nd;
}

int iobuf_stream_pump(struct iobuf_stream *s, struct cds_wfcq_head *head, struct cds_wfcq_tail *tail)
{
	struct iobuf_group_node *nd = NULL;
	int n = 0, rc = 0;

	if (!s || !head || !tail)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct iobuf_group_node *fit;
		struct iobuf_record *rec;

		/* The node first: a group taken from the stream always has one. */
		if (!nd && !(nd = node_alloc(s->max_rec))) {
			rc = -ENOMEM;
			break;
		}
		if ((rc = poll_locked(s, &nd->g)) != 0)
			break;
		/* Shrink it to the group's records, then copy them beside it (s->out is reused by the next poll). */
		fit = realloc(nd, sizeof(*nd) + (size_t)nd->g.nrec * sizeof(struct iobuf_record));
		if (fit)
			nd = fit;
		rec = (struct iobuf_record *)(nd + 1);
		memcpy(rec, nd->g.rec, (size_t)nd->g.nrec * sizeof(*rec));
		nd->g.rec = rec;
#ifdef IOBUF_TSAN
		/* liburcu's barriers are asm ThreadSanitizer cannot see: say what the enqueue releases (reserve_urcu.h). */
		__tsan_release(nd);
#endif
		(void)cds_wfcq_enqueue(head, tail, &nd->node);
		nd = NULL;
		n++;
	}
	pthread_mutex_unlock(&s->mu);
	free(nd);
	if (n > 0 || rc == -EAGAIN)
		return n;
	return rc;
}

void iobuf_group_node_free(struct iobuf_group_node *n)
{
	free(n);
}

int iobuf_stream_ready_fd(struct iobuf_stream *s)
{
	int fd, none = -1, have;

	if (!s)
		return -EINVAL;
	have = iobuf__load_int_acq(&s->fd);
	if (have >= 0)
		return have;
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!iobuf__cas_int_acqrel(&s->fd, &none, fd)) {
		close(fd);
		return none;
	}
	/* A finalized stream has something for the consumer to do: poll until -EPIPE. */
	iobuf__fence_rmw_load();
	if (iobuf__load_32(&s->closed) != 0)
		fd_signal(fd);
	return fd;
}

int iobuf_stream_finalize(struct iobuf_stream *s)
{
	uint32_t open = 0;

	if (!s)
		return -EINVAL;
	if (!iobuf__cas_32_acqrel(&s->closed, &open, 1))
		return -EALREADY;
	/* R1: pairs with the fence in enter(): closed before the consumer's loads of pending. */
	iobuf__fence_seq_cst();
	pthread_mutex_lock(&s->mu);
	housekeep(s);
	pthread_mutex_unlock(&s->mu);
	if (iobuf__load_32(&s->waiters) != 0)
		iobuf__futex_bump_wake(&s->wseq);
	fd_signal(iobuf__load_int_acq(&s->fd));
	return 0;
}

int iobuf_stream_stats(struct iobuf_stream *s, struct iobuf_stream_stats *st)
{
	if (!s || !st)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	pthread_mutex_unlock(&s->mu);
	st->lost = iobuf__load_64(&s->lost);
	st->current = iobuf__load_64_acq(&s->current);
	return 0;
}

/* ---- create, destroy --------------------------------------------------------- */

static void free_stream(struct iobuf_stream *s)
{
	if (s->slot) {
		for (uint32_t i = 0; i < s->ngroups; i++) {
			if (s->slot[i].h != IOBUF_HANDLE_NONE)
				(void)iobuf_put(s->set, s->slot[i].h);
			free(s->slot[i].rec);
		}
		free(s->slot);
	}
	if (s->fd >= 0)
		close(s->fd);
	free(s->out);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

struct iobuf_stream *iobuf_stream_create(const struct iobuf_stream_config *cfg, int *err)
{
	struct iobuf_stream *s = NULL;
	void *mem;
	uint32_t G;
	int rc = -EINVAL, tier;

	if (!cfg || !cfg->set || cfg->flags != 0)
		goto out;
	tier = iobuf_tier_for_size(cfg->group_size);
	if (cfg->group_size == 0 || tier < 0 || IOBUF_TIER_SIZE(tier) != cfg->group_size)
		goto out;
	G = cfg->groups ? cfg->groups : 8;
	if ((G & (G - 1)) != 0 || G > IOBUF_STREAM_MAX_GROUPS || cfg->max_records > IOBUF_STREAM_MAX_RECORDS)
		goto out;
	rc = -ENOMEM;
	if (posix_memalign(&mem, alignof(struct iobuf_stream), sizeof(*s)) != 0)
		goto out;
	s = memset(mem, 0, sizeof(*s));
	s->fd = -1;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		s = NULL;
		goto out;
	}
	s->set = cfg->set;
	s->gsize = cfg->group_size;
	s->ngroups = G;
	s->max_rec = cfg->max_records ? cfg->max_records : 1024;
	s->timeout_ns = cfg->timeout_ns;
	s->max_delay_ns = cfg->max_delay_ns;
	/*
	 * How often a waiting consumer looks again for time-driven work (and
	 * for a slot waiting for a buffer): a quarter of the shortest time,
	 * 100 us .. 10 ms.
	 */
	s->tick_ns = 10000000u;
	if (s->timeout_ns != 0 && s->timeout_ns / 4 < s->tick_ns)
		s->tick_ns = s->timeout_ns / 4;
	if (s->max_delay_ns != 0 && s->max_delay_ns / 4 < s->tick_ns)
		s->tick_ns = s->max_delay_ns / 4;
	if (s->tick_ns < 100000)
		s->tick_ns = 100000;
	s->out = calloc(s->max_rec, sizeof(*s->out));
	if (!s->out || posix_memalign(&mem, IOBUF_CACHELINE, G * sizeof(struct gslot)) != 0)
		goto fail;
	s->slot = memset(mem, 0, G * sizeof(struct gslot));
	for (uint32_t i = 0; i < G; i++)
		s->slot[i].h = IOBUF_HANDLE_NONE;
	for (uint32_t i = 0; i < G; i++) {
		struct gslot *sl = &s->slot[i];

		rc = -ENOMEM;
		sl->rec = calloc(s->max_rec, sizeof(*sl->rec));
		if (!sl->rec)
			goto fail;
		/* Group i - G's state: no record reads as one of group i. */
		for (uint32_t k = 0; k < s->max_rec; k++)
			sl->rec[k].state = STATE((uint64_t)i - G, ST_COMMITTED);
		rc = -ENOBUFS;
		if (iobuf_get(s->set, s->gsize, &sl->h) != 0) {
			sl->h = IOBUF_HANDLE_NONE;
			goto fail;
		}
		sl->base = iobuf_buf(s->set, sl->h);
		sl->target = i;
		sl->published = true;
		sl->seq = i;
	}
	rc = 0;
	goto out;
fail:
	free_stream(s);
	s = NULL;
out:
	if (err)
		*err = rc;
	return s;
}

int iobuf_stream_destroy(struct iobuf_stream *s)
{
	bool done;

	if (!s)
		return 0;
	pthread_mutex_lock(&s->mu);
	done = s->done;
	pthread_mutex_unlock(&s->mu);
	if (!done)
		return -EBUSY;
	free_stream(s);
	return 0;
}
