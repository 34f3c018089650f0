/* SPDX-License-Identifier: MIT */
/*
 * echo_client.c - load and verify an echo server on the loopback.
 *
 *   echo_client -p PORT [-c CONNS] [-d SECONDS] [-s CHUNK] [-w WINDOW]
 *
 * Opens CONNS connections to 127.0.0.1:PORT and, for SECONDS, streams
 * pseudo-random bytes through each (a counter-based generator seeded per
 * connection, so any offset of the stream can be recomputed).  Every byte
 * that comes back is compared with the byte sent at that offset, and a
 * 64-bit FNV-1a-style hash of the whole sent stream is compared with the
 * hash of the whole received stream at the end.  Each connection keeps at
 * most WINDOW bytes in flight; each send is timestamped, and the time until
 * its last byte is echoed is its round-trip latency.
 *
 * Then it shuts down the write side of every connection, reads until the
 * server closes, and prints the throughput (echoed bytes per second, MB =
 * 10^6 bytes), the latency percentiles and a RESULT line for scripts.
 * A progress line goes to stderr once a second.
 *
 * Exit status: 0 when every connection got back exactly what it sent, 1 on
 * a mismatch, a lost connection or a stall, 2 on bad arguments.
 * Connections go to 127.0.0.1 only; SECONDS <= 3600, CONNS <= 4096.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

struct cconn {
	int fd;
	uint64_t seed;
	uint64_t sent, recvd;
	struct hash hs, hr;
	bool wr_shut, done, failed;
	uint64_t mark_off[MARKS], mark_t[MARKS];
	unsigned mhead, mtail; /* marks in flight: [mtail, mhead) */
};

struct client {
	int port, nconns, seconds;
	size_t chunk, window;
	struct cconn *c;
	struct hist lat;
	uint64_t sent, recvd;
	int open, failed;
	bool sending;
	uint8_t *sbuf, *rbuf, *ebuf;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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
	close(c->fd);
	c->fd = -1;
}

static void conn_send(struct client *cl, struct cconn *c, uint64_t t)
{
	while (cl->sending && !c->wr_shut && c->sent - c->recvd < cl->window) {
		size_t n = cl->window - (size_t)(c->sent - c->recvd);
		ssize_t w;

		if (n > cl->chunk)
			n = cl->chunk;
		stream_fill(c->seed, c->sent, cl->sbuf, n);
		w = send(c->fd, cl->sbuf, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				char msg[128];

				snprintf(msg, sizeof(msg), "send: %s", strerror(errno));
				fail(cl, c, msg);
			}
			return;
		}
		hash_update(&c->hs, cl->sbuf, (size_t)w);
		c->sent += (uint64_t)w;
		cl->sent += (uint64_t)w;
		if (c->mhead - c->mtail < MARKS) {
			c->mark_off[c->mhead % MARKS] = c->sent;
			c->mark_t[c->mhead % MARKS] = t;
			c->mhead++;
		}
	}
}

static void conn_recv(struct client *cl, struct cconn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, cl->rbuf, IOBUF_SZ, 0);
		uint64_t t;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				char msg[128];

				snprintf(msg, sizeof(msg), "recv: %s", strerror(errno));
				fail(cl, c, msg);
			}
			return;
		}
		if (r == 0) {
			/* The server closed: fine only after our shutdown and a full echo. */
			if (!c->wr_shut)
				fail(cl, c, "the server closed the connection early");
			else if (c->recvd != c->sent)
				fail(cl, c, "the server closed before echoing everything");
			else {
				c->done = true;
				cl->open--;
				close(c->fd);
				c->fd = -1;
			}
			return;
		}
		if (c->recvd + (uint64_t)r > c->sent) {
			fail(cl, c, "received more bytes than were sent");
			return;
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
			return;
		}
		hash_update(&c->hr, cl->rbuf, (size_t)r);
		c->recvd += (uint64_t)r;
		cl->recvd += (uint64_t)r;
		t = now_ns();
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

static int connect_all(struct client *cl, int epfd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cl->port)};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < cl->nconns; i++) {
		struct cconn *c = &cl->c[i];
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u32 = (uint32_t)i};
		int one = 1;

		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fprintf(stderr, "echo_client: connect to 127.0.0.1:%d: %s\n", cl->port, strerror(errno));
			return -1;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (fcntl_nonblock(c->fd) < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			fprintf(stderr, "echo_client: setup: %s\n", strerror(errno));
			return -1;
		}
		c->seed = mix64(UINT64_C(0x10b0f) + (uint64_t)i * 7919u + (uint64_t)now_ns());
		c->hs.h = c->hr.h = FNV_OFFSET;
		cl->open++;
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: echo_client -p PORT [options]\n"
		     "  -p, --port N       the server's port on 127.0.0.1 (required)\n"
		     "  -c, --conns N      connections, 1..%d (default 64)\n"
		     "  -d, --duration S   seconds of sending, 1..%d (default 10)\n"
		     "  -s, --chunk B      bytes per send, 1..%d (default 16384)\n"
		     "  -w, --window B     bytes in flight per connection, >= 1 (default 65536)\n"
		     "  -q, --quiet        no progress line\n",
		MAX_CONNS, MAX_SECONDS, IOBUF_SZ);
}

static long arg_long(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < lo || v > hi) {
		fprintf(stderr, "echo_client: %s must be %ld..%ld, not '%s'\n", what, lo, hi, s);
		exit(2);
	}
	return v;
}

static void progress(const struct client *cl, double secs, uint64_t last_recvd, double dt)
{
	fprintf(stderr, "[%5.1fs] %4d open  sent %8.1f MB  echoed %8.1f MB  %8.1f MB/s  p99 %7.1f us%s\n", secs,
		cl->open, (double)cl->sent / 1e6, (double)cl->recvd / 1e6,
		dt > 0 ? (double)(cl->recvd - last_recvd) / 1e6 / dt : 0.0, (double)hist_pct(&cl->lat, 99) / 1e3,
		cl->sending ? "" : "  (draining)");
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{"port", required_argument, NULL, 'p'},   {"conns", required_argument, NULL, 'c'},
		{"duration", required_argument, NULL, 'd'}, {"chunk", required_argument, NULL, 's'},
		{"window", required_argument, NULL, 'w'}, {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	struct client cl = {.nconns = 64, .seconds = 10, .chunk = 16384, .window = 65536, .sending = true};
	struct epoll_event evs[256];
	uint64_t t0, t_stop, t_end, t_last, last_recvd = 0, deadline;
	bool quiet = false;
	int epfd, ch, bad = 0;

	while ((ch = getopt_long(argc, argv, "p:c:d:s:w:qh", longs, NULL)) != -1) {
		switch (ch) {
		case 'p': cl.port = (int)arg_long(optarg, 1, 65535, "--port"); break;
		case 'c': cl.nconns = (int)arg_long(optarg, 1, MAX_CONNS, "--conns"); break;
		case 'd': cl.seconds = (int)arg_long(optarg, 1, MAX_SECONDS, "--duration"); break;
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
	cl.c = calloc((size_t)cl.nconns, sizeof(*cl.c));
	cl.sbuf = malloc(IOBUF_SZ);
	cl.rbuf = malloc(IOBUF_SZ);
	cl.ebuf = malloc(IOBUF_SZ);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!cl.c || !cl.sbuf || !cl.rbuf || !cl.ebuf || epfd < 0) {
		fprintf(stderr, "echo_client: out of memory\n");
		return 1;
	}
	if (connect_all(&cl, epfd) < 0)
		return 1;

	t0 = t_last = now_ns();
	t_stop = t0 + (uint64_t)cl.seconds * 1000000000u;
	deadline = t_stop + (uint64_t)DRAIN_SECONDS * 1000000000u;
	for (int i = 0; i < cl.nconns; i++)
		conn_send(&cl, &cl.c[i], t0);
	while (cl.open > 0) {
		uint64_t t = now_ns();
		int n;

		if (cl.sending && t >= t_stop) {
			/* Time is up: no more sends; the server echoes the rest and closes. */
			cl.sending = false;
			for (int i = 0; i < cl.nconns; i++) {
				struct cconn *c = &cl.c[i];

				if (c->fd >= 0 && !c->wr_shut) {
					c->wr_shut = true;
					shutdown(c->fd, SHUT_WR);
				}
			}
		}
		if (t >= deadline) {
			for (int i = 0; i < cl.nconns; i++)
				if (cl.c[i].fd >= 0 && !cl.c[i].done)
					fail(&cl, &cl.c[i], "STALL: the echo did not finish in time");
			break;
		}
		if (t - t_last >= 1000000000u) {
			if (!quiet)
				progress(&cl, (double)(t - t0) / 1e9, last_recvd, (double)(t - t_last) / 1e9);
			last_recvd = cl.recvd;
			t_last = t;
		}
		n = epoll_wait(epfd, evs, 256, 100);
		if (n < 0 && errno != EINTR) {
			perror("echo_client: epoll_wait");
			return 1;
		}
		t = now_ns();
		for (int e = 0; e < n; e++) {
			struct cconn *c = &cl.c[evs[e].data.u32];

			if (c->fd < 0)
				continue;
			conn_recv(&cl, c);
			if (c->fd >= 0)
				conn_send(&cl, c, t);
		}
	}
	t_end = now_ns();

	for (int i = 0; i < cl.nconns; i++) {
		struct cconn *c = &cl.c[i];

		if (!c->failed && (c->sent != c->recvd || hash_final(&c->hs) != hash_final(&c->hr))) {
			fprintf(stderr, "echo_client: connection %d: HASH MISMATCH %016" PRIx64 " sent, %016" PRIx64
				" received\n", i, hash_final(&c->hs), hash_final(&c->hr));
			c->failed = true;
			cl.failed++;
		}
		bad += c->failed;
	}
	{
		double secs = (double)(t_end - t0) / 1e9;

		printf("echo_client: %d connections, %.1f s, sent %.1f MB, echoed %.1f MB, %s\n", cl.nconns, secs,
		       (double)cl.sent / 1e6, (double)cl.recvd / 1e6,
		       bad ? "VERIFY FAILED" : "every byte verified (per-connection hash equal)");
		printf("echo_client: throughput %.1f MB/s echoed\n", (double)cl.recvd / 1e6 / secs);
		printf("echo_client: round trip per send (%zu B chunks, %zu B window): p50 %.1f us  p90 %.1f us  "
		       "p99 %.1f us  max %.1f us  (%" PRIu64 " samples)\n",
		       cl.chunk, cl.window, (double)hist_pct(&cl.lat, 50) / 1e3, (double)hist_pct(&cl.lat, 90) / 1e3,
		       (double)hist_pct(&cl.lat, 99) / 1e3, (double)cl.lat.max / 1e3, cl.lat.n);
		printf("RESULT conns=%d seconds=%.1f bytes=%" PRIu64 " mbps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
		       "failed=%d\n",
		       cl.nconns, secs, cl.recvd, (double)cl.recvd / 1e6 / secs, (double)hist_pct(&cl.lat, 50) / 1e3,
		       (double)hist_pct(&cl.lat, 90) / 1e3, (double)hist_pct(&cl.lat, 99) / 1e3, bad);
	}
	close(epfd);
	free(cl.c);
	free(cl.sbuf);
	free(cl.rbuf);
	free(cl.ebuf);
	return bad ? 1 : 0;
}
