/* SPDX-License-Identifier: MIT */
/*
 * echo_client.c - load, verify and attack an echo server on the loopback.
 *
 *   echo_client -p PORT [-m MODE] [-c CONNS] [-d SECONDS] [-b BYTES] [-s CHUNK] [-w WINDOW]
 *
 * --mode stream (the default): opens CONNS connections to 127.0.0.1:PORT
 * and, for SECONDS, streams pseudo-random bytes through each (a
 * counter-based generator seeded per connection, so any offset of the
 * stream can be recomputed).  Every byte that comes back is compared with
 * the byte sent at that offset, and a 64-bit FNV-1a-style hash of the whole
 * sent stream is compared with the hash of the whole received stream at
 * the end.  Each connection keeps at most WINDOW bytes in flight; each send
 * is timestamped, and the time until its last byte is echoed is its
 * round-trip latency.  Then it shuts down the write side of every
 * connection, reads until the server closes, and prints the throughput
 * (echoed bytes per second, MB = 10^6 bytes), the latency percentiles and
 * a RESULT line for scripts.  With --bytes, each connection sends exactly
 * BYTES and shuts down, and SECONDS is the deadline for the whole echo.
 * A progress line goes to stderr once a second.
 *
 * The other modes are the hostile clients the server must survive; each
 * prints a RESULT line, and SECONDS is its deadline:
 *
 *   nonreader  CONNS connections (small socket buffers) send the stream
 *              and never read.  Prints "STALLED ..." once every one has
 *              found its socket full and the server's window closed, and
 *              waits for the server to close them all.  life_ms: from
 *              connect to the close seen here.
 *   oob        CONNS connections, 4 rounds each, of bytes, one byte sent
 *              with MSG_OOB (TCP urgent data), more bytes, and nothing
 *              after that until every byte, the urgent one in line, has
 *              come back, verified.  In round 0 (all connections at once)
 *              a holder connection that never reads keeps the server busy
 *              until the rounds sit whole in its socket buffers; in the
 *              others each connection first sends without reading until
 *              the kernel holds a good part of it unsent.
 *   idle       CONNS connections, opened one by one: each sends a 16-byte
 *              greeting and waits for its echo (a connection closed before
 *              that counts as refused).  Prints "READY echoed=E refused=R",
 *              then stays silent until the server closes every connection.
 *              idle_ms: from the greeting's send to the close seen here.
 *
 * Exit status: 0 when every connection got back exactly what it sent (and,
 * in the hostile modes, when the server closed every connection), 1 on a
 * mismatch, a lost connection, a stall or a deadline, 2 on bad arguments.
 * Connections go to 127.0.0.1 only; SECONDS <= 3600, CONNS <= 4096.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAX_CONNS 4096
#define MAX_SECONDS 3600
#define DRAIN_SECONDS 15 /* after the sending stops, the echo must finish within this */
#define MARKS 64         /* timestamped sends in flight per connection */
#define IOBUF_SZ (256 * 1024)

/* ---- the stream: byte i of connection c is byte i%8 of word(seed_c, i/8) ---- */

static uint64_t mix64(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static void stream_fill(uint64_t seed, uint64_t off, uint8_t *p, size_t n)
{
	while (n > 0) {
		uint64_t w = mix64(seed ^ (off / 8));
		unsigned skip = (unsigned)(off % 8);
		size_t take = 8 - skip < n ? 8 - skip : n;

		if (skip == 0 && take == 8) {
			memcpy(p, &w, 8);
		} else {
			uint8_t b[8];

			memcpy(b, &w, 8);
			memcpy(p, b + skip, take);
		}
		p += take;
		off += take;
		n -= take;
	}
}

/* ---- a streaming 64-bit hash: FNV-1a over 8-byte words, any chunking ---- */

struct hash {
	uint64_t h, len;
	uint8_t carry[8];
	unsigned ncarry;
};

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

static void hash_word(struct hash *s, const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	s->h = (s->h ^ w) * FNV_PRIME;
	s->h ^= s->h >> 29;
}

static void hash_update(struct hash *s, const uint8_t *p, size_t n)
{
	s->len += n;
	while (s->ncarry > 0 && n > 0) {
		s->carry[s->ncarry++] = *p++;
		n--;
		if (s->ncarry == 8) {
			hash_word(s, s->carry);
			s->ncarry = 0;
		}
	}
	if (s->ncarry > 0)
		return; /* all of @p went into the carry */
	for (; n >= 8; p += 8, n -= 8)
		hash_word(s, p);
	memcpy(s->carry, p, n);
	s->ncarry = (unsigned)n;
}

static uint64_t hash_final(const struct hash *s)
{
	struct hash t = *s;
	uint8_t last[8] = {0};

	memcpy(last, t.carry, t.ncarry);
	hash_word(&t, last);
	return (t.h ^ t.len) * FNV_PRIME;
}

/* ---- latency histogram: log-linear, 32 sub-buckets per power of two ---- */

#define SUB_BITS 5
#define NBUCKETS ((64 - SUB_BITS + 1) << SUB_BITS)

struct hist {
	uint64_t count[NBUCKETS];
	uint64_t n, max;
};

static unsigned bucket_of(uint64_t v)
{
	unsigned e;

	if (v < (1u << SUB_BITS))
		return (unsigned)v;
	e = (unsigned)(63 - __builtin_clzll(v)) - SUB_BITS;
	return ((e + 1) << SUB_BITS) + (unsigned)((v >> e) - (1u << SUB_BITS));
}

static uint64_t bucket_mid(unsigned b)
{
	unsigned e;

	if (b < (1u << SUB_BITS))
		return b;
	e = (b >> SUB_BITS) - 1;
	return ((uint64_t)((b & ((1u << SUB_BITS) - 1)) + (1u << SUB_BITS)) << e) + (e ? (UINT64_C(1) << e) / 2 : 0);
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->count[bucket_of(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

static uint64_t hist_pct(const struct hist *h, double p)
{
	uint64_t want, seen = 0;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(p / 100.0 * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		seen += h->count[b];
		if (seen > want)
			return bucket_mid(b) < h->max ? bucket_mid(b) : h->max;
	}
	return h->max;
}

/* ---- connections ------------------------------------------------------- */

enum mode { MODE_STREAM, MODE_NONREADER, MODE_OOB, MODE_IDLE };

struct cconn {
	int fd;
	uint64_t seed;
	uint64_t sent, recvd;
	struct hash hs, hr;
	bool wr_shut, done, failed;
	bool blocked;        /* nonreader: its socket was full and the server's window closed */
	uint64_t t0, t_last; /* connect; the last send (idle: the greeting) */
	uint64_t mark_off[MARKS], mark_t[MARKS];
	unsigned mhead, mtail; /* marks in flight: [mtail, mhead) */
};

struct client {
	enum mode mode;
	int port, nconns, seconds;
	uint64_t bytes; /* stream: bytes per connection, 0: send for SECONDS */
	size_t chunk, window;
	struct cconn *c;
	struct hist lat;
	uint64_t sent, recvd;
	int open, failed;
	bool sending;
	uint8_t *sbuf, *rbuf, *ebuf;
};

static void fail(struct client *cl, struct cconn *c, const char *what)
{
	fprintf(stderr, "echo_client: connection %td: %s (sent %" PRIu64 ", received %" PRIu64 ")\n", c - cl->c, what,
		c->sent, c->recvd);
	if (!c->done) {
		c->done = true;
		cl->open--;
	}
	c->failed = true;
	cl->failed++;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* The connection ended by the server's doing, as the mode expects: count it, close it. */
static void finish(struct client *cl, struct cconn *c)
{
	if (!c->done) {
		c->done = true;
		cl->open--;
	}
	close(c->fd);
	c->fd = -1;
}

/*
 * Send the next @n bytes of @c's stream (flags: MSG_OOB makes the last one
 * urgent).  Returns the bytes sent, 0 when the socket is full, or -1 after
 * fail() on an error other than the server's close (-2: EPIPE, ECONNRESET).
 */
static ssize_t stream_send(struct client *cl, struct cconn *c, size_t n, int flags)
{
	ssize_t w;

	stream_fill(c->seed, c->sent, cl->sbuf, n);
	do {
		w = send(c->fd, cl->sbuf, n, MSG_NOSIGNAL | MSG_DONTWAIT | flags);
	} while (w < 0 && errno == EINTR);
	if (w < 0) {
		char msg[128];

		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == EPIPE || errno == ECONNRESET)
			return -2;
		snprintf(msg, sizeof(msg), "send: %s", strerror(errno));
		fail(cl, c, msg);
		return -1;
	}
	hash_update(&c->hs, cl->sbuf, (size_t)w);
	c->sent += (uint64_t)w;
	cl->sent += (uint64_t)w;
	return w;
}

static void conn_send(struct client *cl, struct cconn *c, uint64_t t)
{
	while (cl->sending && !c->wr_shut && c->sent - c->recvd < cl->window) {
		size_t n = cl->window - (size_t)(c->sent - c->recvd);
		ssize_t w;

		if (n > cl->chunk)
			n = cl->chunk;
		if (cl->bytes && n > cl->bytes - c->sent)
			n = (size_t)(cl->bytes - c->sent);
		w = stream_send(cl, c, n, 0);
		if (w == -2)
			fail(cl, c, "send: the server closed the connection early");
		if (w <= 0)
			return;
		if (c->mhead - c->mtail < MARKS) {
			c->mark_off[c->mhead % MARKS] = c->sent;
			c->mark_t[c->mhead % MARKS] = t;
			c->mhead++;
		}
		if (cl->bytes && c->sent == cl->bytes) {
			/* All of it sent: the server echoes the rest and closes. */
			c->wr_shut = true;
			shutdown(c->fd, SHUT_WR);
		}
	}
}

/*
 * Read and verify what the server echoed, until EAGAIN.  Returns 1 when
 * the server closed the connection, else 0 (also after fail()).
 */
static int conn_recv(struct client *cl, struct cconn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, cl->rbuf, IOBUF_SZ, MSG_DONTWAIT);
		uint64_t t;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET && cl->mode != MODE_STREAM)
				return 1;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				char msg[128];

				snprintf(msg, sizeof(msg), "recv: %s", strerror(errno));
				fail(cl, c, msg);
			}
			return 0;
		}
		if (r == 0) {
			if (cl->mode != MODE_STREAM)
				return 1;
			/* The server closed: fine only after our shutdown and a full echo. */
			if (!c->wr_shut)
				fail(cl, c, "the server closed the connection early");
			else if (c->recvd != c->sent)
				fail(cl, c, "the server closed before echoing everything");
			else
				finish(cl, c);
			return 0;
		}
		if (c->recvd + (uint64_t)r > c->sent) {
			fail(cl, c, "received more bytes than were sent");
			return 0;
		}
		stream_fill(c->seed, c->recvd, cl->ebuf, (size_t)r);
		if (memcmp(cl->rbuf, cl->ebuf, (size_t)r) != 0) {
			size_t i = 0;
			char msg[128];

			while (cl->rbuf[i] == cl->ebuf[i])
				i++;
			snprintf(msg, sizeof(msg), "MISMATCH at byte %" PRIu64 ": got 0x%02x, sent 0x%02x",
				 c->recvd + i, cl->rbuf[i], cl->ebuf[i]);
			fail(cl, c, msg);
			return 0;
		}
		hash_update(&c->hr, cl->rbuf, (size_t)r);
		c->recvd += (uint64_t)r;
		cl->recvd += (uint64_t)r;
		t = ex_now_ns();
		while (c->mtail != c->mhead && c->mark_off[c->mtail % MARKS] <= c->recvd) {
			hist_add(&cl->lat, t - c->mark_t[c->mtail % MARKS]);
			c->mtail++;
		}
	}
}

static int fcntl_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Open connection @i of @cl (blocking connect, then non-blocking); buffer sizes 0 keep the defaults. */
static int conn_open(struct client *cl, int i, int rcvbuf, int sndbuf)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cl->port)};
	struct cconn *c = &cl->c[i];
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd >= 0 && rcvbuf > 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (c->fd >= 0 && sndbuf > 0)
		setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	c->t0 = ex_now_ns();
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "echo_client: connect to 127.0.0.1:%d: %s\n", cl->port, strerror(errno));
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (fcntl_nonblock(c->fd) < 0) {
		fprintf(stderr, "echo_client: setup: %s\n", strerror(errno));
		return -1;
	}
	c->seed = mix64(UINT64_C(0x10b0f) + (uint64_t)i * 7919u + (uint64_t)ex_now_ns());
	c->hs.h = c->hr.h = FNV_OFFSET;
	cl->open++;
	return 0;
}

static int epoll_add(int epfd, int fd, uint32_t events, int i)
{
	struct epoll_event ev = {.events = events | EPOLLET, .data.u32 = (uint32_t)i};

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		fprintf(stderr, "echo_client: epoll_ctl: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void progress(const struct client *cl, double secs, uint64_t last_recvd, double dt)
{
	fprintf(stderr, "[%5.1fs] %4d open  sent %8.1f MB  echoed %8.1f MB  %8.1f MB/s  p99 %7.1f us%s\n", secs,
		cl->open, (double)cl->sent / 1e6, (double)cl->recvd / 1e6,
		dt > 0 ? (double)(cl->recvd - last_recvd) / 1e6 / dt : 0.0, (double)hist_pct(&cl->lat, 99) / 1e3,
		cl->sending ? "" : "  (draining)");
}

/* ---- --mode stream: verified load ---------------------------------------- */

static int run_stream(struct client *cl, bool quiet)
{
	struct epoll_event evs[256];
	uint64_t t0, t_stop, t_end, t_last, last_recvd = 0, deadline;
	int epfd = epoll_create1(EPOLL_CLOEXEC), bad = 0;

	if (epfd < 0)
		return 1;
	for (int i = 0; i < cl->nconns; i++)
		if (conn_open(cl, i, 0, 0) < 0 || epoll_add(epfd, cl->c[i].fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, i) < 0)
			return 1;

	t0 = t_last = ex_now_ns();
	/* With --bytes each connection stops by itself; SECONDS is then the deadline. */
	t_stop = cl->bytes ? UINT64_MAX : t0 + (uint64_t)cl->seconds * 1000000000u;
	deadline = t0 + (uint64_t)cl->seconds * 1000000000u + (cl->bytes ? 0 : (uint64_t)DRAIN_SECONDS * 1000000000u);
	for (int i = 0; i < cl->nconns; i++)
		conn_send(cl, &cl->c[i], t0);
	while (cl->open > 0) {
		uint64_t t = ex_now_ns();
		int n;

		if (cl->sending && t >= t_stop) {
			/* Time is up: no more sends; the server echoes the rest and closes. */
			cl->sending = false;
			for (int i = 0; i < cl->nconns; i++) {
				struct cconn *c = &cl->c[i];

				if (c->fd >= 0 && !c->wr_shut) {
					c->wr_shut = true;
					shutdown(c->fd, SHUT_WR);
				}
			}
		}
		if (t >= deadline) {
			for (int i = 0; i < cl->nconns; i++)
				if (cl->c[i].fd >= 0 && !cl->c[i].done)
					fail(cl, &cl->c[i], "STALL: the echo did not finish in time");
			break;
		}
		if (t - t_last >= 1000000000u) {
			if (!quiet)
				progress(cl, (double)(t - t0) / 1e9, last_recvd, (double)(t - t_last) / 1e9);
			last_recvd = cl->recvd;
			t_last = t;
		}
		n = epoll_wait(epfd, evs, 256, 100);
		if (n < 0 && errno != EINTR) {
			perror("echo_client: epoll_wait");
			return 1;
		}
		t = ex_now_ns();
		for (int e = 0; e < n; e++) {
			struct cconn *c = &cl->c[evs[e].data.u32];

			if (c->fd < 0)
				continue;
			conn_recv(cl, c);
			if (c->fd >= 0)
				conn_send(cl, c, t);
		}
	}
	t_end = ex_now_ns();

	for (int i = 0; i < cl->nconns; i++) {
		struct cconn *c = &cl->c[i];

		if (!c->failed && (c->sent != c->recvd || hash_final(&c->hs) != hash_final(&c->hr))) {
			fprintf(stderr, "echo_client: connection %d: HASH MISMATCH %016" PRIx64 " sent, %016" PRIx64
				" received\n", i, hash_final(&c->hs), hash_final(&c->hr));
			c->failed = true;
			cl->failed++;
		}
		bad += c->failed;
	}
	{
		double secs = (double)(t_end - t0) / 1e9;

		printf("echo_client: %d connections, %.1f s, sent %.1f MB, echoed %.1f MB, %s\n", cl->nconns, secs,
		       (double)cl->sent / 1e6, (double)cl->recvd / 1e6,
		       bad ? "VERIFY FAILED" : "every byte verified (per-connection hash equal)");
		printf("echo_client: throughput %.1f MB/s echoed\n", (double)cl->recvd / 1e6 / secs);
		printf("echo_client: round trip per send (%zu B chunks, %zu B window): p50 %.1f us  p90 %.1f us  "
		       "p99 %.1f us  max %.1f us  (%" PRIu64 " samples)\n",
		       cl->chunk, cl->window, (double)hist_pct(&cl->lat, 50) / 1e3,
		       (double)hist_pct(&cl->lat, 90) / 1e3, (double)hist_pct(&cl->lat, 99) / 1e3,
		       (double)cl->lat.max / 1e3, cl->lat.n);
		printf("RESULT conns=%d seconds=%.1f bytes=%" PRIu64 " mbps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
		       "failed=%d\n",
		       cl->nconns, secs, cl->recvd, (double)cl->recvd / 1e6 / secs,
		       (double)hist_pct(&cl->lat, 50) / 1e3, (double)hist_pct(&cl->lat, 90) / 1e3,
		       (double)hist_pct(&cl->lat, 99) / 1e3, bad);
	}
	close(epfd);
	return bad ? 1 : 0;
}

/* ---- --mode nonreader: send, never read ---------------------------------- */

#define NONREADER_RCVBUF 4096
#define NONREADER_SNDBUF 65536 /* the attacker keeps its own side small */

static int run_nonreader(struct client *cl)
{
	struct epoll_event evs[256];
	uint64_t deadline = ex_now_ns() + (uint64_t)cl->seconds * 1000000000u, min_life = UINT64_MAX, max_life = 0;
	int epfd = epoll_create1(EPOLL_CLOEXEC), blocked = 0, closed = 0;
	bool stalled = false;

	if (epfd < 0)
		return 1;
	for (int i = 0; i < cl->nconns; i++)
		if (conn_open(cl, i, NONREADER_RCVBUF, NONREADER_SNDBUF) < 0 ||
		    epoll_add(epfd, cl->c[i].fd, EPOLLOUT | EPOLLRDHUP, i) < 0)
			return 1;
	while (cl->open > 0 && ex_now_ns() < deadline) {
		int n = epoll_wait(epfd, evs, 256, 100);

		if (n < 0 && errno != EINTR) {
			perror("echo_client: epoll_wait");
			return 1;
		}
		for (int e = 0; e < n; e++) {
			struct cconn *c = &cl->c[evs[e].data.u32];
			bool gone = (evs[e].events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0;

			if (c->fd < 0)
				continue;
			while (!gone) {
				ssize_t w = stream_send(cl, c, cl->chunk, 0);

				if (w == -1)
					break;
				gone = w == -2;
				if (w == 0) {
					int unsent = 0;

					/* Full, and most of it unsent: the server's window is closed. */
					if (!c->blocked && ioctl(c->fd, SIOCOUTQNSD, &unsent) == 0 &&
					    unsent >= NONREADER_SNDBUF / 2) {
						c->blocked = true;
						blocked++;
					}
					break;
				}
			}
			if (gone) {
				uint64_t life = ex_now_ns() - c->t0;

				min_life = life < min_life ? life : min_life;
				max_life = life > max_life ? life : max_life;
				closed++;
				finish(cl, c);
			}
		}
		if (!stalled && blocked + closed >= cl->nconns) {
			stalled = true;
			printf("STALLED conns=%d blocked=%d closed=%d sent=%" PRIu64 "\n", cl->nconns, blocked, closed,
			       cl->sent);
			fflush(stdout);
		}
	}
	printf("RESULT mode=nonreader conns=%d closed=%d open=%d sent=%" PRIu64 " min_life_ms=%.0f max_life_ms=%.0f "
	       "failed=%d\n",
	       cl->nconns, closed, cl->open, cl->sent, closed ? (double)min_life / 1e6 : 0.0, (double)max_life / 1e6,
	       cl->failed);
	if (cl->open > 0)
		fprintf(stderr, "echo_client: %d of %d non-reading connections still open after %d s\n", cl->open,
			cl->nconns, cl->seconds);
	close(epfd);
	return closed == cl->nconns && !cl->failed ? 0 : 1;
}

/* ---- --mode oob: bytes after TCP urgent data ----------------------------- */

#define OOB_ROUNDS 4
#define OOB_PREFIX_MAX (64u << 20) /* bytes of prefix at most (the server's buffers are smaller) */
#define OOB_UNSENT (256 << 10)     /* unsent bytes that show the server's window closed */
#define OOB_SNDBUF (4 << 20)       /* room for them and the round behind */
#define OOB_HELD_BEFORE 100000     /* round 0: bytes before the urgent one, all in the server's socket at once */
#define OOB_HELD_WAIT 10           /* seconds at most for the kernel to acknowledge them (a smaller window) */

/* Wait (at most until @deadline) for @c to be readable or, with @out, writable; read what came. */
static int oob_wait(struct client *cl, struct cconn *c, bool out, uint64_t deadline)
{
	struct pollfd p = {.fd = c->fd, .events = (short)(POLLIN | (out ? POLLOUT : 0))};
	uint64_t t = ex_now_ns();

	if (t >= deadline)
		return -1;
	if (poll(&p, 1, (int)((deadline - t) / 1000000u) + 1) < 0 && errno != EINTR)
		return -1;
	if ((p.revents & (POLLIN | POLLHUP | POLLERR)) && conn_recv(cl, c) == 1) {
		fail(cl, c, "the server closed the connection");
		return -1;
	}
	return c->fd < 0 ? -1 : 0;
}

/* Send the urgent round: @before bytes, one byte with MSG_OOB, @after bytes; nothing after it. */
static int oob_send_round(struct client *cl, struct cconn *c, size_t before, size_t after, uint64_t deadline)
{
	for (int part = 0; part < 3; part++) {
		size_t left = part == 0 ? before : part == 1 ? 1 : after;

		while (left > 0) {
			ssize_t w = stream_send(cl, c, left, part == 1 ? MSG_OOB : 0);

			if (w < 0) {
				if (w == -2)
					fail(cl, c, "send: the server closed the connection");
				return -1;
			}
			left -= (size_t)w;
			if (w == 0 && oob_wait(cl, c, true, deadline) < 0)
				break;
		}
		if (c->fd < 0)
			return -1;
		if (left > 0) {
			fail(cl, c, "STALL: could not send the urgent round");
			return -1;
		}
	}
	return 0;
}

/* Read until everything sent on @c is echoed, without sending more; the urgent byte was at @urgent. */
static int oob_drain(struct client *cl, struct cconn *c, int round, uint64_t urgent, uint64_t deadline)
{
	while (c->fd >= 0 && c->recvd < c->sent) {
		if (oob_wait(cl, c, false, deadline) < 0) {
			if (c->fd >= 0) {
				char msg[160];

				snprintf(msg, sizeof(msg),
					 "STALL: round %d: %" PRIu64 " of %" PRIu64
					 " bytes echoed, urgent byte at %" PRIu64 ", nothing more sent",
					 round, c->recvd, c->sent, urgent);
				fail(cl, c, msg);
			}
			return -1;
		}
	}
	return c->fd >= 0 ? 0 : -1;
}

/* Send on @c without reading until the kernel holds @unsent bytes of it unsent (the peer's window closed). */
static int oob_fill(struct client *cl, struct cconn *c, int unsent_goal)
{
	uint64_t start = c->sent;
	int unsent = 0;

	while (c->sent - start < OOB_PREFIX_MAX) {
		ssize_t w = stream_send(cl, c, cl->chunk, 0);

		if (w < 0) {
			if (w == -2)
				fail(cl, c, "send: the server closed the connection");
			return -1;
		}
		if (w == 0 || (ioctl(c->fd, SIOCOUTQNSD, &unsent) == 0 && unsent >= unsent_goal))
			return 0;
	}
	return 0;
}

/*
 * Round 0, on every connection at once: a holder connection that never
 * reads fills the server (with a pool no larger than one connection's
 * bound, it holds every buffer), so the server cannot read the urgent
 * rounds sent next; once the kernel has acknowledged all of them (they
 * sit whole in the server's socket buffers: 100 kB, the urgent byte,
 * 100 bytes), the holder goes away and the server reads them, the urgent
 * mark and the bytes behind it already there, and no new edge to come.
 * (Should the server's window be smaller, the rest goes after the holder
 * is gone, OOB_HELD_WAIT seconds later: the round then proves less.)
 * Returns the connections that passed.
 */
static int oob_held_round(struct client *cl, uint64_t deadline)
{
	struct cconn *h = &cl->c[cl->nconns];
	uint64_t acked_by = ex_now_ns() + OOB_HELD_WAIT * UINT64_C(1000000000);
	int good = 0;

	if (oob_fill(cl, h, OOB_UNSENT) < 0)
		return 0;
	for (int i = 0; i < cl->nconns; i++)
		if (cl->c[i].fd >= 0)
			oob_send_round(cl, &cl->c[i], OOB_HELD_BEFORE, 100, deadline);
	for (int i = 0; i < cl->nconns; i++) {
		struct cconn *c = &cl->c[i];
		int queued = 1;

		/* SIOCOUTQ: bytes not yet acknowledged. */
		while (c->fd >= 0 && ioctl(c->fd, SIOCOUTQ, &queued) == 0 && queued > 0 && ex_now_ns() < acked_by)
			poll(NULL, 0, 1);
	}
	finish(cl, h);
	for (int i = 0; i < cl->nconns; i++) {
		struct cconn *c = &cl->c[i];

		if (c->fd >= 0 && oob_drain(cl, c, 0, c->sent - 101, deadline) == 0)
			good++;
	}
	return good;
}

/*
 * Rounds 1..OOB_ROUNDS-1 on one connection, sizes varying by round: the
 * prefix, never reading, until the kernel holds a good part of it unsent
 * (the server stopped reading: its connection is at its bound, its window
 * closed), so that the urgent round is queued behind it and reaches the
 * server in one piece once we read and the server resumes.
 * Returns 0 when every byte came back.
 */
static int oob_conn(struct client *cl, int i, uint64_t deadline)
{
	struct cconn *c = &cl->c[i];

	for (int round = 1; round < OOB_ROUNDS; round++) {
		size_t before = 1 + (size_t)round * 1000, after = 100 + (size_t)round * 3000;

		if (oob_fill(cl, c, OOB_UNSENT) < 0 || oob_send_round(cl, c, before, after, deadline) < 0 ||
		    oob_drain(cl, c, round, c->sent - after - 1, deadline) < 0)
			return -1;
	}
	if (hash_final(&c->hs) != hash_final(&c->hr)) {
		fail(cl, c, "HASH MISMATCH");
		return -1;
	}
	finish(cl, c);
	return 0;
}

static int run_oob(struct client *cl)
{
	uint64_t deadline = ex_now_ns() + (uint64_t)cl->seconds * 1000000000u;
	uint64_t sent = 0, echoed = 0;
	int held, good = 0;

	for (int i = 0; i <= cl->nconns; i++)
		if (conn_open(cl, i, i == cl->nconns ? NONREADER_RCVBUF : 0, OOB_SNDBUF) < 0)
			return 1;
	held = oob_held_round(cl, deadline);
	for (int i = 0; i < cl->nconns; i++)
		if (cl->c[i].fd >= 0)
			good += oob_conn(cl, i, deadline) == 0;
	for (int i = 0; i < cl->nconns; i++) {
		sent += cl->c[i].sent;
		echoed += cl->c[i].recvd;
	}
	printf("RESULT mode=oob conns=%d rounds=%d held_round=%d verified=%d sent=%" PRIu64 " echoed=%" PRIu64
	       " failed=%d\n",
	       cl->nconns, OOB_ROUNDS, held, good, sent, echoed, cl->failed);
	return good == cl->nconns ? 0 : 1;
}

/* ---- --mode idle: say hello, then nothing ----------------------------- */

#define GREETING 16

static int run_idle(struct client *cl)
{
	struct epoll_event evs[256];
	uint64_t deadline = ex_now_ns() + (uint64_t)cl->seconds * 1000000000u, min_idle = UINT64_MAX, max_idle = 0;
	int epfd = epoll_create1(EPOLL_CLOEXEC), echoed = 0, refused = 0, closed = 0;

	if (epfd < 0)
		return 1;
	for (int i = 0; i < cl->nconns; i++) {
		struct cconn *c = &cl->c[i];
		bool gone = false;

		if (conn_open(cl, i, 0, 0) < 0)
			return 1;
		c->t_last = ex_now_ns();
		if (stream_send(cl, c, GREETING, 0) != GREETING) {
			fail(cl, c, "could not send the greeting");
			continue;
		}
		while (c->fd >= 0 && c->recvd < GREETING && !gone) {
			struct pollfd p = {.fd = c->fd, .events = POLLIN};
			uint64_t t = ex_now_ns();

			if (t >= deadline) {
				fail(cl, c, "STALL: no echo of the greeting");
				break;
			}
			poll(&p, 1, (int)((deadline - t) / 1000000u) + 1);
			gone = conn_recv(cl, c) == 1;
		}
		if (c->fd < 0)
			continue;
		if (gone) {
			refused++; /* closed before its greeting came back */
			closed++;
			finish(cl, c);
			continue;
		}
		echoed++;
		if (epoll_add(epfd, c->fd, EPOLLIN | EPOLLRDHUP, i) < 0)
			return 1;
	}
	printf("READY echoed=%d refused=%d\n", echoed, refused);
	fflush(stdout);
	while (cl->open > 0 && ex_now_ns() < deadline) {
		int n = epoll_wait(epfd, evs, 256, 100);

		if (n < 0 && errno != EINTR) {
			perror("echo_client: epoll_wait");
			return 1;
		}
		for (int e = 0; e < n; e++) {
			struct cconn *c = &cl->c[evs[e].data.u32];

			if (c->fd >= 0 && conn_recv(cl, c) == 1) {
				uint64_t idle = ex_now_ns() - c->t_last;

				min_idle = idle < min_idle ? idle : min_idle;
				max_idle = idle > max_idle ? idle : max_idle;
				closed++;
				finish(cl, c);
			}
		}
	}
	printf("RESULT mode=idle conns=%d echoed=%d refused=%d closed=%d open=%d min_idle_ms=%.0f max_idle_ms=%.0f "
	       "failed=%d\n",
	       cl->nconns, echoed, refused, closed, cl->open, min_idle == UINT64_MAX ? 0.0 : (double)min_idle / 1e6,
	       (double)max_idle / 1e6, cl->failed);
	if (cl->open > 0)
		fprintf(stderr, "echo_client: %d of %d idle connections still open after %d s\n", cl->open, cl->nconns,
			cl->seconds);
	close(epfd);
	return closed == cl->nconns && !cl->failed ? 0 : 1;
}

/* ---- main ---------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out, "usage: echo_client -p PORT [options]\n"
		     "  -p, --port N       the server's port on 127.0.0.1 (required)\n"
		     "  -m, --mode M       stream (verified load, the default), nonreader, oob or idle\n"
		     "  -c, --conns N      connections, 1..%d (default 64)\n"
		     "  -d, --duration S   stream: seconds of sending; with --bytes and the other modes:\n"
		     "                     the deadline, 1..%d (default 10)\n"
		     "  -b, --bytes N      stream: bytes each connection sends, then shuts down\n"
		     "  -s, --chunk B      bytes per send, 1..%d (default 16384)\n"
		     "  -w, --window B     bytes in flight per connection, >= 1 (default 65536)\n"
		     "  -q, --quiet        no progress line\n",
		MAX_CONNS, MAX_SECONDS, IOBUF_SZ);
}

/* A number from the command line, or exit(2) with a message. */
static long arg_long(const char *s, long lo, long hi, const char *what)
{
	return ex_parse_long("echo_client", s, 0, lo, hi, what);
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{"port", required_argument, NULL, 'p'},   {"mode", required_argument, NULL, 'm'},
		{"conns", required_argument, NULL, 'c'},  {"duration", required_argument, NULL, 'd'},
		{"bytes", required_argument, NULL, 'b'},  {"chunk", required_argument, NULL, 's'},
		{"window", required_argument, NULL, 'w'}, {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	static const char *const modes[] = {"stream", "nonreader", "oob", "idle"};
	struct client cl = {.nconns = 64, .seconds = 10, .chunk = 16384, .window = 65536, .sending = true};
	bool quiet = false;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "p:m:c:d:b:s:w:qh", longs, NULL)) != -1) {
		switch (ch) {
		case 'p': cl.port = (int)arg_long(optarg, 1, 65535, "--port"); break;
		case 'm': {
			unsigned m = 0;

			while (m < sizeof(modes) / sizeof(modes[0]) && strcmp(optarg, modes[m]) != 0)
				m++;
			if (m == sizeof(modes) / sizeof(modes[0])) {
				fprintf(stderr, "echo_client: --mode must be stream, nonreader, oob or idle, "
						"not '%s'\n", optarg);
				return 2;
			}
			cl.mode = (enum mode)m;
			break;
		}
		case 'c': cl.nconns = (int)arg_long(optarg, 1, MAX_CONNS, "--conns"); break;
		case 'd': cl.seconds = (int)arg_long(optarg, 1, MAX_SECONDS, "--duration"); break;
		case 'b': cl.bytes = (uint64_t)arg_long(optarg, 1, 1L << 40, "--bytes"); break;
		case 's': cl.chunk = (size_t)arg_long(optarg, 1, IOBUF_SZ, "--chunk"); break;
		case 'w': cl.window = (size_t)arg_long(optarg, 1, 1L << 30, "--window"); break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (cl.port == 0 || optind < argc) {
		usage(stderr);
		return 2;
	}
	cl.c = calloc((size_t)cl.nconns + 1, sizeof(*cl.c)); /* + the holder of --mode oob */
	cl.sbuf = malloc(IOBUF_SZ);
	cl.rbuf = malloc(IOBUF_SZ);
	cl.ebuf = malloc(IOBUF_SZ);
	if (!cl.c || !cl.sbuf || !cl.rbuf || !cl.ebuf) {
		fprintf(stderr, "echo_client: out of memory\n");
		return 1;
	}
	for (int i = 0; i <= cl.nconns; i++)
		cl.c[i].fd = -1;
	switch (cl.mode) {
	case MODE_NONREADER: rc = run_nonreader(&cl); break;
	case MODE_OOB: rc = run_oob(&cl); break;
	case MODE_IDLE: rc = run_idle(&cl); break;
	default: rc = run_stream(&cl, quiet); break;
	}
	for (int i = 0; i <= cl.nconns; i++)
		if (cl.c[i].fd >= 0)
			close(cl.c[i].fd);
	free(cl.c);
	free(cl.sbuf);
	free(cl.rbuf);
	free(cl.ebuf);
	return rc;
}
