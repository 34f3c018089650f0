/* SPDX-License-Identifier: MIT */
/*
 * echo_uring.c - the echo server on io_uring, with buffers from iobuf's tiers.
 *
 * One thread, one io_uring:
 *   - a multishot accept on the listener;
 *   - per connection, a multishot receive whose buffers the kernel picks
 *     from a provided-buffer ring fed from the tier (iobuf_uring_bufring_*):
 *     each completion hands over a pooled buffer's handle and its length;
 *   - the buffers of a connection queue up in arrival order (linked by pool
 *     index, so the queue needs no memory of its own) and are written back
 *     one at a time with write_fixed from the registered arenas
 *     (iobuf_uring_fixed_prep_write()); a short write continues from where
 *     it stopped; a buffer is put through the thread's cache the moment its
 *     last byte is written, and the ring is refilled from that cache;
 *   - a receive the kernel ends with -ENOBUFS (the ring ran dry) is armed
 *     again at once when a refill finds buffers, and otherwise waits for
 *     the tier's readiness fd (a poll on the io_uring), so the loop never
 *     spins and never stalls.
 * Stopping: the caller's flag, read between completions (the wait is
 * bounded at 100 ms).  The server then ends the accept, shuts down every
 * connection, lets the writes in flight finish and the receives end, and
 * destroys the ring: every buffer is back in the set.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

#include <liburing.h>

#include <iobuf/cache.h>
#include <iobuf/uring.h>

enum { UD_ACCEPT = 1, UD_RECV, UD_WRITE, UD_READY, UD_CANCEL };
#define UD(kind, i) (((uint64_t)(kind) << 32) | (uint32_t)(i))
#define NO_IDX UINT32_MAX

struct conn {
	int fd;            /* -1: the slot is free */
	bool recv_armed;   /* a multishot receive is in flight */
	bool stalled;      /* waits for the readiness fd to re-arm */
	bool writing;      /* a write is in flight */
	bool eof;          /* no more receives: close once the queue is written */
	uint32_t head, tail; /* the queue of buffers to echo, by pool index */
	uint32_t off;      /* bytes of the head buffer already written */
};

struct server {
	struct io_uring ring;
	struct iobuf_set *set;
	struct iobuf_pool *pool;
	struct iobuf_cache *cache;
	struct iobuf_uring_bufring *br;
	struct iobuf_uring_fixed *fx;
	struct conn *conns;
	unsigned max_conns, open;
	/* By pool index: the queued buffer's handle, length and successor. */
	iobuf_handle_t *qh;
	uint32_t *qlen, *qnext;
	int listen_fd, ready_fd;
	bool accept_armed, ready_armed, stopping;
	uint64_t ready_buf;
	struct echo_uring_stats st;
};

static struct io_uring_sqe *sqe_get(struct server *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (!sqe) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	return sqe;
}

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

	if (s->ready_armed)
		return;
	sqe = sqe_get(s);
	io_uring_prep_poll_add(sqe, s->ready_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD(UD_READY, 0));
	s->ready_armed = true;
}

static void arm_recv(struct server *s, unsigned i)
{
	struct conn *c = &s->conns[i];
	int rc = iobuf_uring_bufring_recv_multishot(s->br, c->fd, UD(UD_RECV, i));

	if (rc == -EBUSY) {
		io_uring_submit(&s->ring);
		rc = iobuf_uring_bufring_recv_multishot(s->br, c->fd, UD(UD_RECV, i));
	}
	if (rc == 0) {
		c->recv_armed = true;
		c->stalled = false;
		s->st.rearms++;
	} else {
		/* -ENOBUFS: the tier is empty; the readiness fd says when buffers are back. */
		c->stalled = true;
		s->st.stalls++;
		arm_ready(s);
	}
}

static void put_buf(struct server *s, iobuf_handle_t h)
{
	iobuf_cache_put(s->cache, h);
}

static void conn_close_if_done(struct server *s, unsigned i)
{
	struct conn *c = &s->conns[i];

	if (c->fd < 0 || !c->eof || c->recv_armed || c->writing)
		return;
	while (c->head != NO_IDX) {
		uint32_t x = c->head;

		c->head = s->qnext[x];
		put_buf(s, s->qh[x]);
	}
	close(c->fd);
	c->fd = -1;
	c->stalled = false;
	s->open--;
}

static void write_head(struct server *s, unsigned i)
{
	struct conn *c = &s->conns[i];
	uint32_t x = c->head;
	struct io_uring_sqe *sqe;

	if (x == NO_IDX || c->writing)
		return;
	sqe = sqe_get(s);
	if (iobuf_uring_fixed_prep_write(s->fx, sqe, c->fd, s->qh[x], c->off, s->qlen[x] - c->off) < 0) {
		/* Cannot happen with a live handle of the set; end the connection rather than lose track. */
		io_uring_prep_nop(sqe);
		c->eof = true;
	}
	io_uring_sqe_set_data64(sqe, UD(UD_WRITE, i));
	c->writing = true;
}

static void on_recv(struct server *s, unsigned i, struct io_uring_cqe *cqe)
{
	struct conn *c = &s->conns[i];
	iobuf_handle_t h;
	int n = iobuf_uring_bufring_take(s->br, cqe, &h);

	if (n > 0) {
		uint32_t x = iobuf_handle_index(h);

		s->st.bytes_in += (uint64_t)n;
		s->qh[x] = h;
		s->qlen[x] = (uint32_t)n;
		s->qnext[x] = NO_IDX;
		if (c->head == NO_IDX)
			c->head = x;
		else
			s->qnext[c->tail] = x;
		c->tail = x;
		write_head(s, i);
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	c->recv_armed = false;
	if (n == -ENOBUFS)
		s->st.enobufs++;
	if (n == -ENOBUFS && !s->stopping)
		arm_recv(s, i);
	else if (n <= 0 || s->stopping)
		c->eof = true;
	else
		arm_recv(s, i); /* a multishot receive may end after data too */
	conn_close_if_done(s, i);
}

static void on_write(struct server *s, unsigned i, int res)
{
	struct conn *c = &s->conns[i];
	uint32_t x = c->head;

	c->writing = false;
	if (res <= 0 || x == NO_IDX) {
		/* The peer is gone: drop the queue; the receive ends with the shutdown. */
		c->eof = true;
		shutdown(c->fd, SHUT_RDWR);
		conn_close_if_done(s, i);
		return;
	}
	s->st.bytes_out += (uint64_t)res;
	c->off += (uint32_t)res;
	if (c->off == s->qlen[x]) {
		c->head = s->qnext[x];
		c->off = 0;
		put_buf(s, s->qh[x]);
	}
	write_head(s, i);
	conn_close_if_done(s, i);
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

		if (c->fd >= 0)
			continue;
		memset(c, 0, sizeof(*c));
		c->fd = cqe->res;
		c->head = c->tail = NO_IDX;
		s->open++;
		s->st.accepted++;
		arm_recv(s, i);
		conn_close_if_done(s, i);
		return;
	}
}

static void on_ready(struct server *s)
{
	s->ready_armed = false;
	if (read(s->ready_fd, &s->ready_buf, sizeof(s->ready_buf)) < 0 && errno != EAGAIN)
		return;
	for (unsigned i = 0; i < s->max_conns; i++) {
		struct conn *c = &s->conns[i];

		if (c->fd < 0 || !c->stalled)
			continue;
		if (s->stopping) {
			c->stalled = false;
			c->eof = true;
			conn_close_if_done(s, i);
		} else {
			arm_recv(s, i);
		}
	}
}

static void cancel(struct server *s, uint64_t ud)
{
	struct io_uring_sqe *sqe = sqe_get(s);

	io_uring_prep_cancel64(sqe, ud, 0);
	io_uring_sqe_set_data64(sqe, UD(UD_CANCEL, 0));
}

static void begin_stop(struct server *s)
{
	s->stopping = true;
	if (s->accept_armed)
		cancel(s, UD(UD_ACCEPT, 0));
	if (s->ready_armed)
		cancel(s, UD(UD_READY, 0));
	for (unsigned i = 0; i < s->max_conns; i++) {
		struct conn *c = &s->conns[i];

		if (c->fd < 0)
			continue;
		c->eof = true;
		c->stalled = false;
		shutdown(c->fd, SHUT_RDWR); /* the receive ends with 0, a write in flight fails */
		conn_close_if_done(s, i);
	}
}

static int server_init(struct server *s, int listen_fd, struct iobuf_set *set, const struct echo_uring_opts *o)
{
	struct iobuf_uring_bufring_config bc = {0};
	struct iobuf_uring_fixed_config fc = {0};
	struct iobuf_uring_fixed_report rep;
	struct iobuf_uring_features f;
	int tier = o->tier < 0 ? IOBUF_TIER_MEDIUM : o->tier, rc;
	uint32_t cap;

	s->set = set;
	s->listen_fd = listen_fd;
	s->pool = iobuf_set_pool(set, tier);
	if (!s->pool)
		return -EINVAL;
	cap = iobuf_pool_capacity(s->pool);
	rc = iobuf_uring_probe(&f);
	if (rc < 0)
		return rc;
	if (o->log)
		iobuf_uring_features_print(&f, o->log);
	if (!f.buf_ring || !f.recv_multishot)
		return -EOPNOTSUPP;
	s->ready_fd = iobuf_set_ready_fd(set); /* before the ring: a refill that finds the tier empty arms it */
	if (s->ready_fd < 0)
		return s->ready_fd;
	rc = io_uring_queue_init(256, &s->ring, 0);
	if (rc < 0)
		return rc;
	s->max_conns = o->max_conns ? o->max_conns : 1024;
	s->conns = calloc(s->max_conns, sizeof(*s->conns));
	s->qh = calloc(cap, sizeof(*s->qh));
	s->qlen = calloc(cap, sizeof(*s->qlen));
	s->qnext = calloc(cap, sizeof(*s->qnext));
	if (!s->conns || !s->qh || !s->qlen || !s->qnext)
		return -ENOMEM;
	for (unsigned i = 0; i < s->max_conns; i++)
		s->conns[i].fd = -1;
	s->cache = iobuf_cache_create(set, NULL, &rc);
	if (!s->cache)
		return rc;
	bc.pool = s->pool;
	bc.cache = s->cache;
	bc.entries = o->entries;
	if (!bc.entries)
		for (bc.entries = 256; bc.entries > cap; bc.entries /= 2)
			;
	bc.bgid = 1;
	s->br = iobuf_uring_bufring_create(&s->ring, &bc, &rc);
	if (!s->br)
		return rc;
	fc.set = set;
	fc.cache = s->cache;
	fc.flags = IOBUF_URING_FIXED_FALLBACK;
	s->fx = iobuf_uring_fixed_create(&s->ring, &fc, &rep, &rc);
	if (!s->fx)
		return rc;
	if (o->log)
		iobuf_uring_fixed_report_print(&rep, o->log);
	s->st.registered = iobuf_uring_fixed_registered(s->fx);
	return 0;
}

static void server_fini(struct server *s)
{
	iobuf_uring_fixed_destroy(s->fx);
	iobuf_uring_bufring_destroy(s->br);
	iobuf_cache_destroy(s->cache);
	if (s->ring.ring_fd > 0)
		io_uring_queue_exit(&s->ring);
	free(s->conns);
	free(s->qh);
	free(s->qlen);
	free(s->qnext);
}

int echo_uring_serve(int listen_fd, struct iobuf_set *set, const struct echo_uring_opts *o)
{
	struct server s;
	int rc;

	if (listen_fd < 0 || !set || !o || !o->stop)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.ring.ring_fd = -1;
	rc = server_init(&s, listen_fd, set, o);
	if (rc == 0)
		arm_accept(&s);
	while (rc == 0) {
		struct __kernel_timespec ts = {.tv_nsec = 100 * 1000 * 1000};
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		if (!s.stopping && atomic_load(o->stop))
			begin_stop(&s);
		if (s.stopping && s.open == 0 && !s.accept_armed && !s.ready_armed)
			break;
		io_uring_submit(&s.ring);
		rc = io_uring_wait_cqe_timeout(&s.ring, &cqe, &ts);
		if (rc == -ETIME || rc == -EINTR) {
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		io_uring_for_each_cqe(&s.ring, head, cqe) {
			uint64_t ud = cqe->user_data;
			unsigned i = (uint32_t)ud;

			seen++;
			switch (ud >> 32) {
			case UD_ACCEPT:
				on_accept(&s, cqe);
				break;
			case UD_RECV:
				on_recv(&s, i, cqe);
				break;
			case UD_WRITE:
				on_write(&s, i, cqe->res);
				break;
			case UD_READY:
				on_ready(&s);
				break;
			default:
				break; /* UD_CANCEL */
			}
		}
		io_uring_cq_advance(&s.ring, seen);
	}
	if (o->stats)
		*o->stats = s.st;
	server_fini(&s);
	return rc;
}

#endif /* HAVE_LIBURING */
