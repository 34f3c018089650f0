/* SPDX-License-Identifier: MIT */
/*
 * echo_uring.c - the echo server on io_uring, with buffers from iobuf's tiers.
 *
 * One thread, one io_uring:
 *   - a multishot accept on the listener;
 *   - per connection, a multishot receive whose buffers the kernel picks
 *     from a provided-buffer ring: fed from the tier (iobuf_uring_bufring_*),
 *     each completion handing over a pooled buffer's handle and its length;
 *     or, as the baseline, one malloc'd group whose buffers are added back
 *     by hand (io_uring_buf_ring_add(), one at a time, in the order their
 *     echoes finish), as liburing's examples do;
 *   - the buffers of a connection queue up in arrival order (linked by
 *     buffer index, so the queue needs no memory of its own) and are
 *     written back one at a time: write_fixed from the registered arenas
 *     (iobuf_uring_fixed_prep_write()), a plain write from the malloc'd
 *     group, or with zero copy (iobuf_uring_fixed_send_zc(), MSG_WAITALL);
 *     a short write continues from where it stopped; a buffer is put the
 *     moment its last byte is written (through the thread's cache, from
 *     which the ring is refilled), or with zero copy when its notification
 *     comes;
 *   - a receive the kernel ends with -ENOBUFS (the ring ran dry) is armed
 *     again at once when there are buffers, and otherwise waits on the
 *     stalled list: the next put re-arms as many stalled connections as
 *     the ring then holds buffers, and the tier's readiness fd (a poll on
 *     the io_uring) covers buffers put back elsewhere, so the loop never
 *     spins and never stalls;
 *   - a connection holding --conn-buffers buffers has its receive
 *     cancelled (the bytes wait in the kernel; TCP tells its peer) and
 *     armed again once half of them are written; one whose queued output
 *     does not move for the write timeout, or that is silent with nothing
 *     queued for the idle timeout, is shut down and its buffers put back.
 * Each turn of the loop is one io_uring_enter(2): submit what the
 * handlers prepared and wait for the next completion, bounded by the
 * timeout tick (at most 100 ms), at which the stop flag and the timeouts
 * are looked at.  Stopping ends the accept, shuts down every connection,
 * lets the writes in flight finish, the receives end and the zero-copy
 * notifications come, and destroys the ring: every buffer is back.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "echo_uring.h"

#ifndef HAVE_LIBURING

int echo_uring_serve(int listen_fd, struct iobuf_set *set, const struct echo_uring_opts *o)
{
	(void)listen_fd;
	(void)set;
	(void)o;
	return -ENOSYS;
}

#else

#include <poll.h>
#include <sys/mman.h>

#include <liburing.h>

#include <iobuf/cache.h>
#include <iobuf/uring.h>

/*
 * user_data: the kind in bits 32 and up, a connection's slot in bits 0..23
 * and, for a receive, the count of receives armed on that slot in bits
 * 24..31, so that the cancel of a paused receive can never hit the next
 * one armed there.  The zero-copy sends carry the fixed object's tag in
 * the top 16 bits instead (iobuf_uring_fixed_owns()).
 */
enum { UD_ACCEPT = 1, UD_RECV, UD_WRITE, UD_READY, UD_CANCEL };
#define UD(kind, i) (((uint64_t)(kind) << 32) | (uint32_t)(i))
#define UD_RECV_OF(i, arms) (UD(UD_RECV, i) | (uint64_t)(uint8_t)(arms) << 24)
#define UD_SLOT(ud) ((unsigned)((ud)&0xffffffu))
#define MAX_CONNS (1u << 24)
#define NO_IDX UINT32_MAX
#define MS UINT64_C(1000000) /* nanoseconds */
#define WAIT_MAX_NS (100 * MS)
#define MALLOC_BGID 1
#define POOL_BGID 1
#define QUEUE_DEPTH 1024

struct conn {
	int fd;		 /* -1: the slot is free */
	bool recv_armed; /* a multishot receive is in flight */
	bool stalled;	 /* waits for buffers to re-arm its receive */
	bool listed;	 /* on the stalled list (kept across the slot's reuse until popped) */
	bool paused;	 /* its receive was cancelled at the bound: armed again when half the queue is written */
	bool writing;	 /* a write or zero-copy send is in flight */
	bool eof;	 /* no more receives: close once the queue is written */
	bool dropping;	 /* an error, a timeout or the stop: no more writes, what arrives is put back at once */
	uint8_t arms;	 /* receives armed on this slot (bits 24..31 of their user_data) */
	uint32_t head, tail, qn; /* the queue of buffers to echo, by buffer index, and its length */
	uint32_t off;		 /* bytes of the head buffer already written */
	uint32_t sending;	 /* bytes of the zero-copy send in flight */
	uint32_t zc_held;	 /* its buffers sent with zero copy whose notification has not come */
	uint32_t gen;		 /* connections accepted into this slot: the high half of a zero-copy cookie */
	uint32_t stall_next;
	uint64_t active_ns; /* when a byte was last received or written */
	uint64_t stuck_ns;  /* when the queued output last moved (or began) */
};

struct server {
	struct io_uring ring;
	bool ring_up;
	enum echo_uring_bufs mode;
	bool zc;
	/* ECHO_URING_POOL */
	struct iobuf_set *set;
	struct iobuf_pool *pool;
	struct iobuf_cache *cache;
	struct iobuf_uring_bufring *br;
	struct iobuf_uring_fixed *fx;
	int ready_fd;
	bool ready_armed;
	uint64_t ready_buf;
	/* ECHO_URING_MALLOC: the group, its ring, and how many of its buffers the ring holds */
	uint8_t *mem;
	size_t buf_size;
	struct io_uring_buf_ring *gbr;
	size_t gbr_size;
	uint32_t nbufs, in_group;
	bool group_registered;
	/* By buffer index (pool index or buffer id): the queued buffer's handle, length and successor. */
	iobuf_handle_t *qh;
	uint32_t *qlen, *qnext;
	struct conn *conns;
	unsigned max_conns, open, conn_buffers;
	uint32_t stall_head, stall_tail;
	uint64_t write_ns, idle_ns, tick_ns, next_tick, now;
	int listen_fd;
	bool accept_armed, stopping;
	struct echo_uring_stats st;
	struct echo_uring_live *live;
};

/* Relaxed: a gauge for a watcher on another thread (struct echo_uring_live); it orders nothing. */
static void live_add(atomic_ullong *g, uint64_t n)
{
	atomic_fetch_add_explicit(g, n, memory_order_relaxed);
}

static void live_open(struct server *s)
{
	if (s->live)
		atomic_store_explicit(&s->live->open, s->open, memory_order_relaxed);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct io_uring_sqe *sqe_get(struct server *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (!sqe) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	return sqe;
}

/* ---- the buffers: a ring fed from the tier, or the malloc'd group recycled by hand ---- */

/* Put buffer @bid of the group back in its ring. */
static void group_add(struct server *s, uint32_t bid)
{
	io_uring_buf_ring_add(s->gbr, s->mem + (size_t)bid * s->buf_size, (unsigned)s->buf_size, (unsigned short)bid,
			      io_uring_buf_ring_mask(s->nbufs), 0);
	/* The release store of the tail in here publishes the entry to the kernel's acquire of it (as U1). */
	io_uring_buf_ring_advance(s->gbr, 1);
	s->in_group++;
}

/* Buffers a receive could be given now (a refill first, from the tier). */
static uint32_t bufs_ready(struct server *s)
{
	if (s->mode == ECHO_URING_MALLOC)
		return s->in_group;
	iobuf_uring_bufring_refill(s->br);
	return (uint32_t)iobuf_uring_bufring_count(s->br);
}

/* Prepare a multishot receive on @fd from the ring; 0, -ENOBUFS (no buffer left) or -EBUSY (no sqe). */
static int bufs_arm(struct server *s, int fd, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	if (s->mode == ECHO_URING_POOL)
		return iobuf_uring_bufring_recv_multishot(s->br, fd, ud);
	if (s->in_group == 0)
		return -ENOBUFS;
	sqe = io_uring_get_sqe(&s->ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = MALLOC_BGID;
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

/* The buffer a receive's completion names: its bytes (> 0) and its index in *@x, else the completion's 0 or -errno. */
static int bufs_take(struct server *s, const struct io_uring_cqe *cqe, uint32_t *x)
{
	uint32_t bid;

	if (s->mode == ECHO_URING_POOL) {
		iobuf_handle_t h;
		int n = iobuf_uring_bufring_take(s->br, cqe, &h);

		if (n > 0) {
			*x = iobuf_handle_index(h);
			s->qh[*x] = h;
		}
		return n;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return cqe->res > 0 ? -EINVAL : cqe->res;
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	if (bid >= s->nbufs)
		return -EINVAL;
	s->in_group--;
	if (cqe->res <= 0) {
		group_add(s, bid);
		return cqe->res;
	}
	*x = bid;
	return cqe->res;
}

static void bufs_put(struct server *s, uint32_t x)
{
	if (s->mode == ECHO_URING_POOL)
		iobuf_cache_put(s->cache, s->qh[x]);
	else
		group_add(s, x);
}

static int bufs_prep_write(struct server *s, struct io_uring_sqe *sqe, int fd, uint32_t x, uint32_t off, uint32_t len)
{
	if (s->mode == ECHO_URING_POOL)
		return iobuf_uring_fixed_prep_write(s->fx, sqe, fd, s->qh[x], off, len);
	/* File offset 0: a socket refuses any other. */
	io_uring_prep_write(sqe, fd, s->mem + (size_t)x * s->buf_size + off, len, 0);
	return 0;
}

/* ---- a connection's queue ---- */

static void q_push(struct server *s, struct conn *c, uint32_t x, uint32_t len)
{
	s->qlen[x] = len;
	s->qnext[x] = NO_IDX;
	if (c->head == NO_IDX)
		c->head = x;
	else
		s->qnext[c->tail] = x;
	c->tail = x;
	c->qn++;
}

static uint32_t q_pop(struct server *s, struct conn *c)
{
	uint32_t x = c->head;

	c->head = s->qnext[x];
	c->qn--;
	c->off = 0;
	return x;
}

/*
 * The buffers a connection holds: queued, and sent with zero copy but not
 * yet released (the kernel keeps them until the peer has the bytes: a
 * peer that does not read keeps them in the socket's send queue).
 */
static uint32_t held(const struct conn *c)
{
	return c->qn + c->zc_held;
}

/* Output that has yet to reach the peer. */
static bool pending(const struct conn *c)
{
	return c->qn > 0 || c->writing || c->zc_held > 0;
}

/* ---- arming, pausing, stalling ---- */

static void arm_accept(struct server *s)
{
	struct io_uring_sqe *sqe = sqe_get(s);

	io_uring_prep_multishot_accept(sqe, s->listen_fd, NULL, NULL, 0);
	io_uring_sqe_set_data64(sqe, UD(UD_ACCEPT, 0));
	s->accept_armed = true;
}

static void arm_ready(struct server *s)
{
	struct io_uring_sqe *sqe;

	if (s->mode != ECHO_URING_POOL || s->ready_armed || s->stopping)
		return;
	sqe = sqe_get(s);
	io_uring_prep_poll_add(sqe, s->ready_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD(UD_READY, 0));
	s->ready_armed = true;
}

static void cancel(struct server *s, uint64_t ud)
{
	struct io_uring_sqe *sqe = sqe_get(s);

	io_uring_prep_cancel64(sqe, ud, 0);
	io_uring_sqe_set_data64(sqe, UD(UD_CANCEL, 0));
}

/* No buffer for @i's receive: it waits on the stalled list. */
static void stall(struct server *s, unsigned i)
{
	struct conn *c = &s->conns[i];

	c->stalled = true;
	s->st.stalls++;
	if (s->live)
		live_add(&s->live->stalls, 1);
	if (!c->listed) {
		c->listed = true;
		c->stall_next = NO_IDX;
		if (s->stall_head == NO_IDX)
			s->stall_head = i;
		else
			s->conns[s->stall_tail].stall_next = i;
		s->stall_tail = i;
	}
	arm_ready(s); /* the tier's readiness fd: buffers put back on another path */
}

static void arm_recv(struct server *s, unsigned i)
{
	struct conn *c = &s->conns[i];
	int rc;

	c->arms++;
	rc = bufs_arm(s, c->fd, UD_RECV_OF(i, c->arms));
	if (rc == -EBUSY) {
		io_uring_submit(&s->ring);
		rc = bufs_arm(s, c->fd, UD_RECV_OF(i, c->arms));
	}
	if (rc == 0) {
		c->recv_armed = true;
		s->st.rearms++;
	} else {
		stall(s, i); /* -ENOBUFS: no buffer left */
	}
}

/* Re-arm stalled receives, as many as the ring now holds buffers. */
static void kick_stalled(struct server *s)
{
	uint32_t room;

	if (s->stall_head == NO_IDX)
		return;
	room = bufs_ready(s);
	while (room > 0 && s->stall_head != NO_IDX) {
		unsigned i = s->stall_head;
		struct conn *c = &s->conns[i];

		s->stall_head = c->stall_next;
		c->listed = false;
		if (c->fd < 0 || !c->stalled)
			continue;
		c->stalled = false; /* a stalled receive is not armed, so nothing has ended the connection */
		room--;
		arm_recv(s, i);
	}
}

/* A paused receive is armed again once half the bound is written and the cancelled one has ended. */
static void maybe_resume(struct server *s, unsigned i)
{
	struct conn *c = &s->conns[i];

	if (!c->paused || c->recv_armed || c->eof || c->dropping || s->stopping || held(c) > s->conn_buffers / 2)
		return;
	c->paused = false;
	arm_recv(s, i);
}

/* ---- connections ---- */

static void conn_close_if_done(struct server *s, unsigned i)
{
	struct conn *c = &s->conns[i];

	if (c->fd < 0 || !c->eof || c->recv_armed || c->writing)
		return;
	while (c->head != NO_IDX)
		bufs_put(s, q_pop(s, c));
	close(c->fd);
	c->fd = -1;
	c->stalled = false;
	s->open--;
	live_open(s);
	kick_stalled(s);
}

/* An error, a timeout or the stop: shut it down; the receive ends with 0, a write in flight fails. */
static void conn_drop(struct server *s, unsigned i)
{
	struct conn *c = &s->conns[i];

	c->dropping = true;
	c->eof = true;
	c->stalled = false;
	shutdown(c->fd, SHUT_RDWR);
	conn_close_if_done(s, i);
}

static void write_head(struct server *s, unsigned i)
{
	struct conn *c = &s->conns[i];
	uint32_t x = c->head, len;
	struct io_uring_sqe *sqe;
	int rc;

	if (x == NO_IDX || c->writing || c->dropping)
		return;
	len = s->qlen[x] - c->off;
	if (s->zc) {
		/*
		 * MSG_WAITALL: the kernel sends all of it or fails.  The send holds
		 * the buffer until its notification; our own holder goes at once.
		 */
		uint64_t cookie = (uint64_t)c->gen << 32 | i;

		rc = iobuf_uring_fixed_send_zc(s->fx, c->fd, s->qh[x], c->off, len, MSG_NOSIGNAL | MSG_WAITALL, cookie);
		if (rc == -EBUSY) {
			io_uring_submit(&s->ring);
			rc = iobuf_uring_fixed_send_zc(s->fx, c->fd, s->qh[x], c->off, len, MSG_NOSIGNAL | MSG_WAITALL,
						       cookie);
		}
		if (rc < 0) {
			conn_drop(s, i);
			return;
		}
		bufs_put(s, q_pop(s, c));
		c->zc_held++;
		c->sending = len;
		c->writing = true;
		return;
	}
	sqe = sqe_get(s);
	if (bufs_prep_write(s, sqe, c->fd, x, c->off, len) < 0) {
		/* Cannot happen with a live handle of the set; end the connection rather than lose track. */
		io_uring_prep_nop(sqe);
	}
	io_uring_sqe_set_data64(sqe, UD(UD_WRITE, i));
	c->writing = true;
}

static void on_recv(struct server *s, unsigned i, struct io_uring_cqe *cqe)
{
	struct conn *c = &s->conns[i];
	uint32_t x = NO_IDX;
	int n = bufs_take(s, cqe, &x);

	if (n > 0) {
		s->st.bytes_in += (uint64_t)n;
		c->active_ns = s->now;
		if (c->dropping) {
			bufs_put(s, x);
		} else {
			if (!pending(c))
				c->stuck_ns = s->now; /* queued output begins */
			q_push(s, c, x, (uint32_t)n);
			write_head(s, i);
			if (s->conn_buffers && held(c) >= s->conn_buffers && !c->paused &&
			    (cqe->flags & IORING_CQE_F_MORE)) {
				/* At its bound: stop receiving until half of it is written. */
				c->paused = true;
				s->st.paused++;
				if (s->live)
					live_add(&s->live->paused, 1);
				cancel(s, UD_RECV_OF(i, c->arms));
			}
		}
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	c->recv_armed = false;
	if (n == -ENOBUFS)
		s->st.enobufs++;
	if (n == 0 || (n < 0 && n != -ENOBUFS && n != -ECANCELED) || s->stopping || c->dropping)
		c->eof = true;
	else if (c->paused)
		maybe_resume(s, i);
	else
		arm_recv(s, i); /* after -ENOBUFS, or a multishot receive that ended after data */
	conn_close_if_done(s, i);
}

/* A write's completion, or a zero-copy send's (@zc: the buffer left the queue when it was sent). */
static void on_write(struct server *s, unsigned i, int res, bool zc)
{
	struct conn *c = &s->conns[i];
	uint32_t x = c->head;

	c->writing = false;
	if (res > 0) {
		s->st.bytes_out += (uint64_t)res;
		if (s->live)
			live_add(&s->live->bytes_out, (uint64_t)res);
	}
	if (res <= 0 || (zc ? (uint32_t)res != c->sending : x == NO_IDX)) {
		/* The peer is gone (or a zero-copy send fell short): drop the queue; the receive ends with the
		 * shutdown. */
		conn_drop(s, i);
		return;
	}
	c->active_ns = c->stuck_ns = s->now;
	if (!zc) {
		c->off += (uint32_t)res;
		if (c->off == s->qlen[x]) {
			bufs_put(s, q_pop(s, c));
			kick_stalled(s);
		}
	}
	maybe_resume(s, i);
	write_head(s, i);
	conn_close_if_done(s, i);
}

/*
 * A zero-copy send's completion or notification.  The send's completion
 * always finds its connection (none is closed with a write in flight); a
 * notification may come after the connection closed, or after its slot
 * took another: the cookie's generation tells.
 */
static void on_zc(struct server *s, const struct io_uring_cqe *cqe)
{
	struct iobuf_uring_zc_event ev;
	struct conn *c;
	unsigned i;
	bool same;

	if (iobuf_uring_fixed_complete(s->fx, cqe, &ev) < 0)
		return;
	i = (uint32_t)ev.cookie;
	c = &s->conns[i];
	same = c->fd >= 0 && c->gen == (uint32_t)(ev.cookie >> 32);
	if (ev.released && same) {
		c->zc_held--;
		c->stuck_ns = s->now; /* the peer has those bytes */
	}
	if (ev.notif) {
		s->st.zc_notifs++;
		if (same)
			maybe_resume(s, i);
	} else {
		s->st.zc_sends++;
		on_write(s, i, ev.res, true);
	}
	if (ev.released)
		kick_stalled(s);
}

static void on_accept(struct server *s, struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		s->accept_armed = false;
		if (!s->stopping)
			arm_accept(s);
	}
	if (cqe->res < 0)
		return;
	if (s->stopping || s->open == s->max_conns) {
		close(cqe->res);
		return;
	}
	for (unsigned i = 0; i < s->max_conns; i++) {
		struct conn *c = &s->conns[i];
		struct conn keep;

		if (c->fd >= 0)
			continue;
		/* The arm count and the stalled-list link outlive the connection. */
		keep = *c;
		memset(c, 0, sizeof(*c));
		c->arms = keep.arms;
		c->gen = keep.gen + 1;
		c->listed = keep.listed;
		c->stall_next = keep.stall_next;
		c->fd = cqe->res;
		c->head = c->tail = NO_IDX;
		c->active_ns = s->now;
		s->open++;
		live_open(s);
		s->st.accepted++;
		arm_recv(s, i);
		return;
	}
}

static void on_ready(struct server *s)
{
	s->ready_armed = false;
	if (read(s->ready_fd, &s->ready_buf, sizeof(s->ready_buf)) < 0 && errno != EAGAIN)
		return;
	kick_stalled(s);
	if (s->stall_head != NO_IDX)
		arm_ready(s);
}

/* The write and idle timeouts, once per tick. */
static void check_timeouts(struct server *s)
{
	for (unsigned i = 0; i < s->max_conns; i++) {
		struct conn *c = &s->conns[i];
		if (c->fd < 0 || c->dropping)
			continue;
		if (pending(c) && s->write_ns && s->now - c->stuck_ns >= s->write_ns) {
			s->st.closed_stuck++;
			conn_drop(s, i);
		} else if (!pending(c) && !c->stalled && s->idle_ns && s->now - c->active_ns >= s->idle_ns) {
			s->st.closed_idle++;
			conn_drop(s, i);
		}
	}
}

static void begin_stop(struct server *s)
{
	s->stopping = true;
	if (s->accept_armed)
		cancel(s, UD(UD_ACCEPT, 0));
	if (s->ready_armed)
		cancel(s, UD(UD_READY, 0));
	for (unsigned i = 0; i < s->max_conns; i++)
		if (s->conns[i].fd >= 0)
			conn_drop(s, i);
}

/* ---- setup ---- */

static int group_init(struct server *s, const struct echo_uring_opts *o)
{
	struct io_uring_buf_reg reg;
	void *mem;
	int rc;

	if (o->nbufs == 0 || o->nbufs > IOBUF_URING_BUFRING_MAX || (o->nbufs & (o->nbufs - 1)) != 0 ||
	    o->buf_size == 0 || o->buf_size > (1u << 20) || o->zc)
		return -EINVAL;
	s->nbufs = o->nbufs;
	s->buf_size = o->buf_size;
	s->mem = malloc((size_t)s->nbufs * s->buf_size);
	s->gbr_size = (s->nbufs * sizeof(struct io_uring_buf) + 4095) & ~(size_t)4095;
	mem = mmap(NULL, s->gbr_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!s->mem || mem == MAP_FAILED)
		return -ENOMEM;
	s->gbr = mem;
	io_uring_buf_ring_init(s->gbr);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)mem;
	reg.ring_entries = s->nbufs;
	reg.bgid = MALLOC_BGID;
	rc = io_uring_register_buf_ring(&s->ring, &reg, 0);
	if (rc < 0)
		return rc;
	s->group_registered = true;
	for (uint32_t b = 0; b < s->nbufs; b++)
		io_uring_buf_ring_add(s->gbr, s->mem + (size_t)b * s->buf_size, (unsigned)s->buf_size,
				      (unsigned short)b, io_uring_buf_ring_mask(s->nbufs), (int)b);
	io_uring_buf_ring_advance(s->gbr, (int)s->nbufs);
	s->in_group = s->nbufs;
	s->st.group_buffers = s->nbufs;
	return 0;
}

static int pool_init(struct server *s, struct iobuf_set *set, const struct echo_uring_opts *o,
		     const struct iobuf_uring_features *f)
{
	struct iobuf_uring_bufring_config bc = {0};
	struct iobuf_uring_fixed_config fc = {0};
	struct iobuf_uring_fixed_report rep;
	int tier = o->tier < 0 ? IOBUF_TIER_MEDIUM : o->tier, rc;
	uint32_t cap;

	if (!set)
		return -EINVAL;
	if (o->zc && !f->send_zc)
		return -EOPNOTSUPP;
	s->set = set;
	s->zc = o->zc;
	s->pool = iobuf_set_pool(set, tier);
	if (!s->pool)
		return -EINVAL;
	cap = iobuf_pool_capacity(s->pool);
	s->ready_fd = iobuf_set_ready_fd(set); /* before the ring: a refill that finds the tier empty arms it */
	if (s->ready_fd < 0)
		return s->ready_fd;
	s->cache = iobuf_cache_create(set, NULL, &rc);
	if (!s->cache)
		return rc;
	bc.pool = s->pool;
	bc.cache = s->cache;
	bc.entries = o->entries;
	if (!bc.entries)
		for (bc.entries = 256; bc.entries > cap; bc.entries /= 2)
			;
	bc.bgid = POOL_BGID;
	s->br = iobuf_uring_bufring_create(&s->ring, &bc, &rc);
	if (!s->br)
		return rc;
	fc.set = set;
	fc.cache = s->cache;
	fc.flags = IOBUF_URING_FIXED_FALLBACK;
	fc.zc_slots = cap; /* each send in flight holds a buffer of its own: never short of slots */
	s->fx = iobuf_uring_fixed_create(&s->ring, &fc, &rep, &rc);
	if (!s->fx)
		return rc;
	if (o->log)
		iobuf_uring_fixed_report_print(&rep, o->log);
	s->st.registered = iobuf_uring_fixed_registered(s->fx);
	s->qh = calloc(cap, sizeof(*s->qh));
	return s->qh ? (int)cap : -ENOMEM;
}

static int server_init(struct server *s, int listen_fd, struct iobuf_set *set, const struct echo_uring_opts *o)
{
	struct iobuf_uring_features f;
	uint64_t shortest;
	int rc, nidx;

	s->listen_fd = listen_fd;
	s->live = o->live;
	s->mode = o->bufs;
	s->stall_head = s->stall_tail = NO_IDX;
	s->conn_buffers = o->conn_buffers;
	s->write_ns = o->write_ms > 0 ? (uint64_t)o->write_ms * MS : 0;
	s->idle_ns = o->idle_ms > 0 ? (uint64_t)o->idle_ms * MS : 0;
	shortest = s->write_ns && (!s->idle_ns || s->write_ns < s->idle_ns) ? s->write_ns : s->idle_ns;
	if (shortest) {
		/* As the epoll server: an eighth of the shorter timeout, 1 ms .. 1 s. */
		s->tick_ns = shortest / 8 < MS ? MS : shortest / 8 > 1000 * MS ? 1000 * MS : shortest / 8;
	}
	s->max_conns = o->max_conns ? o->max_conns : 1024;
	if (s->max_conns > MAX_CONNS || (o->bufs != ECHO_URING_POOL && o->bufs != ECHO_URING_MALLOC))
		return -EINVAL;
	rc = iobuf_uring_probe(&f);
	if (rc < 0)
		return rc;
	if (o->log)
		iobuf_uring_features_print(&f, o->log);
	if (!f.buf_ring || !f.recv_multishot)
		return -EOPNOTSUPP;
	rc = io_uring_queue_init(QUEUE_DEPTH, &s->ring, 0);
	if (rc < 0)
		return rc;
	s->ring_up = true;
	if (o->bufs == ECHO_URING_MALLOC) {
		if (set)
			return -EINVAL;
		rc = group_init(s, o);
		nidx = (int)s->nbufs;
	} else {
		rc = nidx = pool_init(s, set, o, &f);
	}
	if (rc < 0)
		return rc;
	s->conns = calloc(s->max_conns, sizeof(*s->conns));
	s->qlen = calloc((size_t)nidx, sizeof(*s->qlen));
	s->qnext = calloc((size_t)nidx, sizeof(*s->qnext));
	if (!s->conns || !s->qlen || !s->qnext)
		return -ENOMEM;
	for (unsigned i = 0; i < s->max_conns; i++)
		s->conns[i].fd = -1;
	return 0;
}

static void server_fini(struct server *s)
{
	iobuf_uring_fixed_destroy(s->fx);
	iobuf_uring_bufring_destroy(s->br);
	iobuf_cache_destroy(s->cache);
	if (s->group_registered)
		io_uring_unregister_buf_ring(&s->ring, MALLOC_BGID);
	if (s->ring_up)
		io_uring_queue_exit(&s->ring);
	if (s->gbr)
		munmap(s->gbr, s->gbr_size);
	free(s->mem);
	free(s->conns);
	free(s->qh);
	free(s->qlen);
	free(s->qnext);
}

static void dispatch(struct server *s, struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;

	if (s->fx && iobuf_uring_fixed_owns(s->fx, cqe)) {
		on_zc(s, cqe);
		return;
	}
	switch (ud >> 32) {
	case UD_ACCEPT:
		on_accept(s, cqe);
		break;
	case UD_RECV:
		on_recv(s, UD_SLOT(ud), cqe);
		break;
	case UD_WRITE:
		on_write(s, UD_SLOT(ud), cqe->res, false);
		break;
	case UD_READY:
		on_ready(s);
		break;
	default:
		break; /* UD_CANCEL */
	}
}

int echo_uring_serve(int listen_fd, struct iobuf_set *set, const struct echo_uring_opts *o)
{
	struct server s;
	int rc;

	if (listen_fd < 0 || !o || !o->stop)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.ready_fd = -1;
	rc = server_init(&s, listen_fd, set, o);
	s.now = now_ns();
	s.next_tick = s.now + s.tick_ns;
	if (rc == 0)
		arm_accept(&s);
	while (rc == 0) {
		uint64_t wait = s.tick_ns && s.tick_ns < WAIT_MAX_NS ? s.tick_ns : WAIT_MAX_NS;
		struct __kernel_timespec ts = {.tv_sec = (long long)(wait / 1000000000u),
					       .tv_nsec = (long long)(wait % 1000000000u)};
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		if (!s.stopping && atomic_load(o->stop))
			begin_stop(&s);
		if (s.stopping && s.open == 0 && !s.accept_armed && !s.ready_armed &&
		    (!s.fx || iobuf_uring_fixed_inflight(s.fx) == 0))
			break;
		/* One io_uring_enter(2): what the handlers prepared goes in, and the wait for the next completion. */
		rc = io_uring_submit_and_wait_timeout(&s.ring, &cqe, 1, &ts, NULL);
		s.now = now_ns();
		if (rc == -ETIME || rc == -EINTR)
			rc = 0;
		if (rc < 0)
			break;
		rc = 0;
		io_uring_for_each_cqe(&s.ring, head, cqe)
		{
			seen++;
			dispatch(&s, cqe);
		}
		io_uring_cq_advance(&s.ring, seen);
		if (s.tick_ns && s.now >= s.next_tick) {
			check_timeouts(&s);
			s.next_tick = s.now + s.tick_ns;
		}
	}
	s.st.group_back = s.in_group;
	if (o->stats)
		*o->stats = s.st;
	server_fini(&s);
	return rc;
}

#endif /* HAVE_LIBURING */
