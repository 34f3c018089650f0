/* SPDX-License-Identifier: MIT */
/*
 * test_echo_uring.c - examples/echo_uring.c against clients on 127.0.0.1:
 * every byte of every connection echoed in order, and every buffer back
 * (in the set, or in the malloc'd group's ring) when the server returns.
 *
 *   - the three ways of sending (write_fixed, zero-copy sends, plain writes
 *     from the malloc'd group), 8 connections of 1 MiB over a small tier or
 *     group whose ring runs dry;
 *   - a slow reader that holds every buffer: the tier (or the group) runs
 *     empty, receives wait on the stalled list, and resume when the reader
 *     drains;
 *   - a client that sends and never reads: its receive is paused at its
 *     bound, the write timeout closes it, a well-behaved client beside it
 *     is served; a silent client is closed on the idle timeout;
 *   - the arguments refused.
 * Waits are on observable state (a byte count, the pool's statistics, a
 * connection closed), bounded by a watchdog (alarm) that ends a hung run.
 * Skipped ("1..0 # SKIP") where io_uring cannot run.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <iobuf/tiers.h>
#include <iobuf/uring.h>

#include "../../examples/echo_uring.h"

#define CONNS 8
#define PER_CONN (1u << 20)
#define WATCHDOG_S 120
#define SMALL_SOCKBUF 4096

static struct iobuf_uring_features feat;

static uint8_t pattern(unsigned conn, uint64_t i)
{
	return (uint8_t)(i * 151u + (i >> 11) + conn * 29u + 3u);
}

static int connect_to(int port, int rcvbuf)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- the server in a thread ---- */

struct server_run {
	pthread_t th;
	int lfd, port;
	struct iobuf_set *set;
	uint32_t cap;
	struct echo_uring_opts o;
	struct echo_uring_stats st;
	struct echo_uring_live live;
	atomic_int stop;
	int rc;
};

static void *server_main(void *arg)
{
	struct server_run *r = arg;

	r->rc = echo_uring_serve(r->lfd, r->set, &r->o);
	return NULL;
}

/*
 * Serve with @o on a loopback listener; a set of @cap MEDIUM buffers for
 * ECHO_URING_POOL.  @sndbuf > 0: the connections' SO_SNDBUF (set on the
 * listener, so that a peer that does not read blocks the writes soon).
 */
static void server_start(struct server_run *r, const struct echo_uring_opts *o, uint32_t cap, int sndbuf)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int err = 0, one = 1;

	memset(r, 0, sizeof(*r));
	r->o = *o;
	r->o.stop = &r->stop;
	r->o.stats = &r->st;
	r->o.live = &r->live;
	r->cap = cap;
	if (o->bufs == ECHO_URING_POOL) {
		struct iobuf_set_config sc;

		memset(&sc, 0, sizeof(sc));
		sc.capacity[IOBUF_TIER_MEDIUM] = cap;
		r->set = iobuf_set_create(&sc, &err);
		assert_non_null(r->set);
		r->o.tier = IOBUF_TIER_MEDIUM;
	}
	r->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(r->lfd >= 0);
	setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sndbuf > 0)
		assert_int_equal(setsockopt(r->lfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(r->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(r->lfd, 64), 0);
	assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&a, &alen), 0);
	r->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&r->th, NULL, server_main, r), 0);
}

/* Stop the server; it must return 0 with every buffer back. */
static void server_stop(struct server_run *r)
{
	atomic_store(&r->stop, 1);
	assert_int_equal(pthread_join(r->th, NULL), 0);
	assert_int_equal(r->rc, 0);
	print_message(
	    "# accepted %llu, in %llu, out %llu, -ENOBUFS %llu, stalls %llu, re-arms %llu, paused %llu, "
	    "closed stuck %llu idle %llu, zc %llu/%llu, %s\n",
	    (unsigned long long)r->st.accepted, (unsigned long long)r->st.bytes_in, (unsigned long long)r->st.bytes_out,
	    (unsigned long long)r->st.enobufs, (unsigned long long)r->st.stalls, (unsigned long long)r->st.rearms,
	    (unsigned long long)r->st.paused, (unsigned long long)r->st.closed_stuck,
	    (unsigned long long)r->st.closed_idle, (unsigned long long)r->st.zc_sends,
	    (unsigned long long)r->st.zc_notifs, r->st.registered ? "registered memory" : "unregistered memory");
	if (r->set) {
		struct iobuf_set_stats ss;

		assert_int_equal(iobuf_set_stats(r->set, &ss), 0);
		assert_int_equal(ss.tier[IOBUF_TIER_MEDIUM].in_use, 0);
		assert_int_equal(ss.tier[IOBUF_TIER_MEDIUM].cached, 0);
		assert_int_equal(ss.tier[IOBUF_TIER_MEDIUM].free, r->cap);
		iobuf_set_destroy(r->set);
	} else {
		assert_int_equal(r->st.group_buffers, r->o.nbufs);
		assert_int_equal(r->st.group_back, r->st.group_buffers);
	}
	close(r->lfd);
}

/* ---- clients ---- */

struct client {
	pthread_t th, reader;
	unsigned id;
	int port, fd;
	uint64_t len;	    /* bytes to send */
	int rcvbuf;	    /* > 0: SO_RCVBUF */
	atomic_int go_read; /* a slow client reads only once this is set */
	bool slow;	    /* send from one thread, read from another once go_read */
	int err;	    /* 0, or the errno / -1 for a wrong byte */
	atomic_ullong echoed;
};

/* Read and check the echo until the server closes. */
static void read_echo(struct client *c)
{
	uint8_t in[16384];

	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		ssize_t k;
		uint64_t at = atomic_load(&c->echoed);

		if (poll(&p, 1, WATCHDOG_S * 1000) != 1) {
			c->err = ETIMEDOUT;
			return;
		}
		k = recv(c->fd, in, sizeof(in), 0);
		if (k == 0)
			return; /* the server closed: all echoed? checked by the test */
		if (k < 0) {
			c->err = errno;
			return;
		}
		for (ssize_t i = 0; i < k; i++)
			if (in[i] != pattern(c->id, at + (uint64_t)i)) {
				c->err = -1;
				return;
			}
		atomic_store(&c->echoed, at + (uint64_t)k);
	}
}

static void *reader_main(void *arg)
{
	struct client *c = arg;

	while (!atomic_load(&c->go_read))
		sched_yield();
	read_echo(c);
	return NULL;
}

/* Send c->len bytes and read them back (at once, or from the reader thread once go_read for a slow client). */
static void *client_main(void *arg)
{
	struct client *c = arg;
	uint8_t out[16384];
	uint64_t sent = 0;
	bool shut = false;

	c->fd = connect_to(c->port, c->rcvbuf);
	if (c->fd < 0) {
		c->err = errno;
		return NULL;
	}
	if (c->slow) {
		if (pthread_create(&c->reader, NULL, reader_main, c) != 0) {
			c->err = EAGAIN;
			return NULL;
		}
		while (sent < c->len) {
			size_t n = c->len - sent < sizeof(out) ? (size_t)(c->len - sent) : sizeof(out);
			ssize_t k;

			for (size_t i = 0; i < n; i++)
				out[i] = pattern(c->id, sent + i);
			k = send(c->fd, out, n, MSG_NOSIGNAL);
			if (k < 0) {
				c->err = errno;
				break;
			}
			sent += (uint64_t)k;
		}
		shutdown(c->fd, SHUT_WR);
		pthread_join(c->reader, NULL);
		close(c->fd);
		return NULL;
	}
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN | (sent < c->len ? POLLOUT : 0)};
		ssize_t k;

		if (poll(&p, 1, WATCHDOG_S * 1000) != 1) {
			c->err = ETIMEDOUT;
			break;
		}
		if ((p.revents & POLLOUT) && sent < c->len) {
			size_t n = c->len - sent < sizeof(out) ? (size_t)(c->len - sent) : sizeof(out);

			for (size_t i = 0; i < n; i++)
				out[i] = pattern(c->id, sent + i);
			k = send(c->fd, out, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (k < 0 && errno != EAGAIN) {
				c->err = errno;
				break;
			}
			if (k > 0)
				sent += (uint64_t)k;
		}
		if (sent == c->len && !shut) {
			shutdown(c->fd, SHUT_WR); /* the server then sees the end of stream */
			shut = true;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			uint8_t in[16384];
			uint64_t at = atomic_load(&c->echoed);

			k = recv(c->fd, in, sizeof(in), MSG_DONTWAIT);
			if (k == 0)
				break;
			if (k < 0 && errno != EAGAIN) {
				c->err = errno;
				break;
			}
			for (ssize_t i = 0; i < k; i++)
				if (in[i] != pattern(c->id, at + (uint64_t)i)) {
					c->err = -1;
					break;
				}
			if (c->err)
				break;
			if (k > 0)
				atomic_store(&c->echoed, at + (uint64_t)k);
		}
	}
	close(c->fd);
	return NULL;
}

static void client_start(struct client *c, unsigned id, int port, uint64_t len)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->port = port;
	c->len = len;
	c->fd = -1;
}

static void client_join(struct client *c)
{
	assert_int_equal(pthread_join(c->th, NULL), 0);
	if (c->err)
		fail_msg("connection %u: %s after %llu bytes", c->id, c->err < 0 ? "a wrong byte" : strerror(c->err),
			 (unsigned long long)atomic_load(&c->echoed));
	assert_int_equal(atomic_load(&c->echoed), c->len);
}

/* ---- the three ways of sending ---- */

static void echo_round(const struct echo_uring_opts *o, uint32_t cap)
{
	struct server_run r;
	struct client cl[CONNS];

	server_start(&r, o, cap, 0);
	for (unsigned i = 0; i < CONNS; i++) {
		client_start(&cl[i], i, r.port, PER_CONN);
		assert_int_equal(pthread_create(&cl[i].th, NULL, client_main, &cl[i]), 0);
	}
	for (unsigned i = 0; i < CONNS; i++)
		client_join(&cl[i]);
	server_stop(&r);
	assert_int_equal(r.st.accepted, CONNS);
	assert_int_equal(r.st.bytes_in, (uint64_t)CONNS * PER_CONN);
	assert_int_equal(r.st.bytes_out, (uint64_t)CONNS * PER_CONN);
	assert_int_equal(r.st.closed_stuck + r.st.closed_idle, 0);
}

/* write_fixed from the registered arena; a tier of 64 buffers for 8 connections makes the ring run dry. */
static void test_echo(void **state)
{
	struct echo_uring_opts o = {.entries = 32, .max_conns = 16};

	(void)state;
	echo_round(&o, 64);
}

/* Zero-copy sends: each buffer is put at its notification, and every one comes. */
static void test_echo_zc(void **state)
{
	struct echo_uring_opts o = {.entries = 32, .max_conns = 16, .zc = true};
	struct server_run r;
	struct client c;

	(void)state;
	if (!feat.send_zc)
		skip();
	echo_round(&o, 64);
	/* Once more, to read the zero-copy counters. */
	server_start(&r, &o, 64, 0);
	client_start(&c, 0, r.port, PER_CONN);
	assert_int_equal(pthread_create(&c.th, NULL, client_main, &c), 0);
	client_join(&c);
	server_stop(&r);
	assert_true(r.st.zc_sends >= PER_CONN / 4096);
	assert_int_equal(r.st.zc_notifs, r.st.zc_sends);
	assert_int_equal(r.st.bytes_out, PER_CONN);
}

/* The baseline: a malloc'd group of 32 buffers recycled by hand, 8 MiB through it. */
static void test_echo_malloc(void **state)
{
	struct echo_uring_opts o = {.bufs = ECHO_URING_MALLOC, .nbufs = 32, .buf_size = 4096, .max_conns = 16};

	(void)state;
	echo_round(&o, 0);
}

/* ---- running empty: a slow reader holds every buffer ---- */

/* Wait until a receive could not be re-armed for want of a buffer. */
static void wait_stalled(struct server_run *r)
{
	while (atomic_load(&r->live.stalls) == 0)
		sched_yield();
}

/*
 * A slow client (its socket buffers small, the server's too) sends 1 MiB
 * and reads nothing until told: the server's writes to it block, its
 * queue takes every buffer, the ring and then the tier (or the group) run
 * empty and its receive waits on the stalled list.  Once the reader
 * drains, the puts re-arm it; a second client served meanwhile or after
 * gets its echo too (over the group, nothing but those puts re-arms a
 * stalled receive; over the tier, the readiness fd may too).
 */
static void empty_round(const struct echo_uring_opts *o, uint32_t cap)
{
	struct server_run r;
	struct client slow, other;

	server_start(&r, o, cap, SMALL_SOCKBUF);
	client_start(&slow, 0, r.port, PER_CONN);
	slow.slow = true;
	slow.rcvbuf = SMALL_SOCKBUF;
	assert_int_equal(pthread_create(&slow.th, NULL, client_main, &slow), 0);
	wait_stalled(&r);
	client_start(&other, 1, r.port, PER_CONN / 4);
	assert_int_equal(pthread_create(&other.th, NULL, client_main, &other), 0);
	atomic_store(&slow.go_read, 1);
	client_join(&slow);
	client_join(&other);
	server_stop(&r);
	assert_true(r.st.stalls > 0);
	assert_true(r.st.enobufs > 0);
	assert_int_equal(r.st.bytes_out, PER_CONN + PER_CONN / 4);
}

static void test_tier_empty(void **state)
{
	struct echo_uring_opts o = {.entries = 16, .max_conns = 4};

	(void)state;
	empty_round(&o, 16);
}

static void test_group_empty(void **state)
{
	struct echo_uring_opts o = {.bufs = ECHO_URING_MALLOC, .nbufs = 16, .buf_size = 4096, .max_conns = 4};

	(void)state;
	empty_round(&o, 0);
}

/* ---- bounds and timeouts ---- */

/* Send until the connection breaks (the server closed it); never read. */
static void *nonreader_main(void *arg)
{
	struct client *c = arg;
	uint8_t out[16384];

	memset(out, 0x5a, sizeof(out));
	c->fd = connect_to(c->port, SMALL_SOCKBUF);
	if (c->fd < 0) {
		c->err = errno;
		return NULL;
	}
	for (;;) {
		ssize_t k = send(c->fd, out, sizeof(out), MSG_NOSIGNAL);

		if (k < 0)
			break;					     /* ECONNRESET or EPIPE: the server closed it */
		atomic_fetch_add(&c->echoed, (unsigned long long)k); /* here: bytes sent */
	}
	close(c->fd);
	return NULL;
}

/*
 * A client that never reads fills its bound: the server pauses its
 * receive, and closes it once its output has not moved for the write
 * timeout; a client beside it gets its echo whole; every buffer is back.
 */
static void test_bound_and_write_timeout(void **state)
{
	struct echo_uring_opts o = {.entries = 32, .max_conns = 8, .conn_buffers = 4, .write_ms = 1500};
	struct server_run r;
	struct client nr, good;

	(void)state;
	server_start(&r, &o, 64, SMALL_SOCKBUF);
	client_start(&nr, 0, r.port, 0);
	assert_int_equal(pthread_create(&nr.th, NULL, nonreader_main, &nr), 0);
	client_start(&good, 1, r.port, PER_CONN);
	assert_int_equal(pthread_create(&good.th, NULL, client_main, &good), 0);
	client_join(&good);
	assert_int_equal(pthread_join(nr.th, NULL), 0); /* it ends when the server closes it */
	server_stop(&r);
	assert_int_equal(r.st.accepted, 2);
	assert_int_equal(r.st.closed_stuck, 1);
	assert_true(r.st.paused >= 1);
}

/*
 * Zero copy: a buffer sent to a peer that never reads stays the kernel's
 * in the socket's send queue (1 MiB here: room for the whole tier), so the
 * bound counts it too.  A client beside the non-reader is served with no
 * write timeout at all; the stop then drops the non-reader, and every
 * notification comes before the server returns.
 */
static void test_zc_bound(void **state)
{
	struct echo_uring_opts o = {.entries = 16, .max_conns = 8, .conn_buffers = 4, .zc = true};
	struct server_run r;
	struct client nr, good;

	(void)state;
	if (!feat.send_zc)
		skip();
	server_start(&r, &o, 32, 1 << 20);
	client_start(&nr, 0, r.port, 0);
	assert_int_equal(pthread_create(&nr.th, NULL, nonreader_main, &nr), 0);
	while (atomic_load(&r.live.paused) == 0)
		sched_yield(); /* the non-reader is at its bound */
	client_start(&good, 1, r.port, PER_CONN);
	assert_int_equal(pthread_create(&good.th, NULL, client_main, &good), 0);
	client_join(&good);
	server_stop(&r);
	assert_int_equal(pthread_join(nr.th, NULL), 0);
	assert_int_equal(r.st.accepted, 2);
	assert_int_equal(r.st.closed_stuck, 0);
	assert_int_equal(r.st.zc_notifs, r.st.zc_sends);
}

/* A connection that says nothing is closed on the idle timeout (the malloc'd group: both modes share the loop). */
static void test_idle_timeout(void **state)
{
	struct echo_uring_opts o = {.bufs = ECHO_URING_MALLOC, .nbufs = 8, .buf_size = 4096, .idle_ms = 200};
	struct server_run r;
	char b;
	int fd;

	(void)state;
	server_start(&r, &o, 0, 0);
	fd = connect_to(r.port, 0);
	assert_true(fd >= 0);
	assert_int_equal(recv(fd, &b, 1, 0), 0); /* blocks until the server closes it */
	close(fd);
	server_stop(&r);
	assert_int_equal(r.st.closed_idle, 1);
	assert_int_equal(r.st.closed_stuck, 0);
}

/* ---- arguments ---- */

static void test_bad_opts(void **state)
{
	atomic_int stop = 1;
	struct echo_uring_opts o = {.stop = &stop};
	struct iobuf_set *set;
	int err = 0;

	(void)state;
	set = iobuf_set_create(NULL, &err);
	assert_non_null(set);
	assert_int_equal(echo_uring_serve(-1, set, &o), -EINVAL);
	assert_int_equal(echo_uring_serve(0, set, NULL), -EINVAL);
	o.stop = NULL;
	assert_int_equal(echo_uring_serve(0, set, &o), -EINVAL);
	o.stop = &stop;
	assert_int_equal(echo_uring_serve(0, NULL, &o), -EINVAL); /* the pool without a set */
	o.tier = IOBUF_TIER_COUNT;
	assert_int_equal(echo_uring_serve(0, set, &o), -EINVAL); /* a tier the set lacks */
	o.tier = -1;
	o.max_conns = (1u << 24) + 1;
	assert_int_equal(echo_uring_serve(0, set, &o), -EINVAL);
	o.max_conns = 0;
	o.bufs = (enum echo_uring_bufs)7;
	assert_int_equal(echo_uring_serve(0, set, &o), -EINVAL);
	o.bufs = ECHO_URING_MALLOC;
	o.nbufs = 8;
	o.buf_size = 4096;
	assert_int_equal(echo_uring_serve(0, set, &o), -EINVAL); /* the group takes no set */
	o.nbufs = 24;
	assert_int_equal(echo_uring_serve(0, NULL, &o), -EINVAL); /* not a power of two */
	o.nbufs = 65536;
	assert_int_equal(echo_uring_serve(0, NULL, &o), -EINVAL); /* more than a ring holds */
	o.nbufs = 8;
	o.buf_size = 0;
	assert_int_equal(echo_uring_serve(0, NULL, &o), -EINVAL);
	o.buf_size = 4096;
	o.zc = true;
	assert_int_equal(echo_uring_serve(0, NULL, &o), -EINVAL); /* zero copy sends pooled buffers only */
	iobuf_set_destroy(set);
}

int main(void)
{
	const struct CMUnitTest all[] = {
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_echo_zc),
		cmocka_unit_test(test_echo_malloc),
		cmocka_unit_test(test_tier_empty),
		cmocka_unit_test(test_group_empty),
		cmocka_unit_test(test_bound_and_write_timeout),
		cmocka_unit_test(test_zc_bound),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_bad_opts),
	};
	int rc = iobuf_uring_probe(&feat);
	const char *out = getenv("CMOCKA_MESSAGE_OUTPUT");
	int skip = out && strcmp(out, "TAP") == 0 ? 0 : 77;

	if (getenv("IOBUF_UNDER_VALGRIND")) {
		printf("1..0 # SKIP valgrind does not see the kernel's writes through io_uring\n");
		return skip;
	}
	if (rc < 0) {
		printf("1..0 # SKIP io_uring: %s (built without liburing, no io_uring here, or a sandbox)\n",
		       strerror(-rc));
		return skip;
	}
	if (!feat.buf_ring || !feat.recv_multishot) {
		printf("1..0 # SKIP the kernel lacks provided-buffer rings or multishot receive\n");
		return skip;
	}
	signal(SIGPIPE, SIG_IGN); /* the server's writes to a peer that has gone (echo_uring_serve() asks it) */
	alarm(WATCHDOG_S);
	return cmocka_run_group_tests(all, NULL, NULL);
}
