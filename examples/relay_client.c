/* SPDX-License-Identifier: MIT */
/*
 * relay_client.c - publishers, subscribers and hostile peers of examples/relay_server.c.
 *
 *   relay_client -p PORT -m MODE [-c CONNS] [-i ID] [-n COUNT] [-P PUBS] [-s MIN:MAX]
 *                [-r BYTES_PER_S] [-d SECONDS] [-x]
 *
 * The protocol and the messages are those of examples/relay.h.
 *
 *   pub        CONNS publishers, ids ID, ID + 1, ...; each sends COUNT
 *              numbered, checksummed messages of MIN..MAX payload bytes
 *              (the size a function of id and number), then closes.
 *   sub        CONNS subscribers.  Prints "READY" once each has received
 *              the relay's welcome (from then on it gets every message).
 *              Each verifies every byte of every message: its length, its
 *              publisher (below PUBS), that numbers only go up, that every
 *              gap in them was announced by a notice before it, the body
 *              and the checksum.  A subscriber is done when the messages
 *              it got and those announced missed make PUBS x COUNT.
 *   slow       as sub, each reading at most BYTES_PER_S (default 1 MB/s).
 *   nonreader  CONNS subscribers that read the welcome and then nothing;
 *              done when the relay has closed every one.
 *   zero, huge, short, role, cut
 *              hostile publishers: a frame length of 0, of 0xfffffff0, of
 *              5, a role byte that is neither P nor S (each waits for the
 *              relay to close it), or half a message and away.
 *
 * Prints a RESULT line.  Exit status: 0 when every connection did what its
 * mode says (with -x, a subscriber the relay closed before it was done
 * counts as done, once all it got is verified), 1 on a byte that does not
 * verify, a connection lost or a deadline (SECONDS, default 60), 2 on bad
 * arguments.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "relay.h"
#include "common.h"

#define OUT_CAP (64 * 1024)

enum mode { M_PUB, M_SUB, M_SLOW, M_NONREADER, M_BENCH, M_ZERO, M_HUGE, M_SHORT, M_ROLE, M_CUT };
static const char *const mode_names[] = {"pub", "sub", "slow", "nonreader", "bench", "zero", "huge", "short", "role", "cut"};

struct peer {
	int fd;
	bool done, closed, welcomed;
	/* A publisher: what is to be sent. */
	uint32_t id;
	uint64_t seq;
	uint8_t *out;
	size_t olen, ooff;
	/* A subscriber: what came in. */
	uint8_t *in;
	size_t ilen;
	uint64_t *next; /* per publisher: the number expected next */
	uint64_t got, missed, gaps, bytes, notices;
	double budget, t_done;
};

struct client {
	enum mode mode;
	int port, conns, pubs, subs, slow, window;
	uint32_t id;
	uint64_t count;
	uint32_t smin, smax;
	double rate;
	int deadline;
	bool expect_close;
	size_t icap;
	struct peer *p;
	uint64_t failed;
	double t_first, t_last;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "relay_client: connect to 127.0.0.1:%d: %s\n", port, strerror(errno));
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static bool send_all(int fd, const void *b, size_t n)
{
	const uint8_t *p = b;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* The payload size of message @seq of publisher @id. */
static uint32_t msg_size(const struct client *cl, uint32_t id, uint64_t seq)
{
	uint64_t x = (seq + 1) * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)id * UINT64_C(0xda942042e4dd58b5);

	x ^= x >> 33;
	return cl->smin + (uint32_t)(x % ((uint64_t)cl->smax - cl->smin + 1));
}

/* Append message @seq of @p to @out: header and payload.  Returns its length. */
static size_t msg_make(const struct client *cl, const struct peer *p, uint64_t seq, uint8_t *out)
{
	uint32_t len = msg_size(cl, p->id, seq);
	size_t body = len - RELAY_PAYLOAD_MIN;

	relay_put32(out, len);
	relay_put32(out + 4, p->id);
	relay_put64(out + 8, seq);
	relay_body(out + 16, p->id, seq, body);
	relay_put64(out + 16 + body, relay_fnv(RELAY_FNV_SEED, out + 4, len - 8));
	return RELAY_HDR + len;
}

/* Fill @p's output with as many whole messages as fit. */
static void pub_fill(const struct client *cl, struct peer *p)
{
	if (p->ooff == p->olen)
		p->ooff = p->olen = 0;
	while (p->seq < cl->count && OUT_CAP - p->olen >= RELAY_HDR + (size_t)cl->smax)
		p->olen += msg_make(cl, p, p->seq++, p->out + p->olen);
}

static void fail(struct client *cl, int conn, const char *what, uint64_t a, uint64_t b)
{
	if (cl->failed++ < 10)
		fprintf(stderr, "relay_client: subscriber %d: %s (%" PRIu64 ", %" PRIu64 ")\n", conn, what, a, b);
}

/* Verify message @m (payload of @len bytes) received by subscriber @k. */
static void verify(struct client *cl, int k, const uint8_t *m, uint32_t len)
{
	struct peer *p = &cl->p[k];
	uint32_t id;
	uint64_t seq;
	size_t body;

	if (len < RELAY_PAYLOAD_MIN || len > cl->smax) {
		fail(cl, k, "bad length", len, cl->smax);
		return;
	}
	id = relay_get32(m);
	seq = relay_get64(m + 4);
	body = len - RELAY_PAYLOAD_MIN;
	if (id >= (uint32_t)cl->pubs || seq >= cl->count) {
		fail(cl, k, "unknown publisher or number", id, seq);
		return;
	}
	if (seq < p->next[id]) {
		fail(cl, k, "a number again or out of order", seq, p->next[id]);
		return;
	}
	p->gaps += seq - p->next[id];
	if (p->gaps > p->missed)
		fail(cl, k, "messages missing that no notice announced", p->gaps, p->missed);
	p->next[id] = seq + 1;
	if (len != msg_size(cl, id, seq))
		fail(cl, k, "length not the one sent", len, msg_size(cl, id, seq));
	if (relay_body_check(m + 12, id, seq, body) != body)
		fail(cl, k, "a body byte differs at", relay_body_check(m + 12, id, seq, body), seq);
	if (relay_get64(m + 12 + body) != relay_fnv(RELAY_FNV_SEED, m, len - 8))
		fail(cl, k, "checksum", id, seq);
	p->got++;
}

/* Take the whole frames in subscriber @k's input. */
static void sub_parse(struct client *cl, int k)
{
	struct peer *p = &cl->p[k];
	size_t at = 0;

	while (p->ilen - at >= RELAY_HDR) {
		uint32_t w = relay_get32(p->in + at);

		if (w & RELAY_NOTICE) {
			p->missed += w & ~RELAY_NOTICE;
			p->notices += w != RELAY_NOTICE;
			p->welcomed = true;
			at += RELAY_HDR;
			continue;
		}
		if (w > cl->smax || w < RELAY_PAYLOAD_MIN) {
			fail(cl, k, "frame length out of range", w, cl->smax);
			p->ilen = 0;
			p->closed = true;
			return;
		}
		if (p->ilen - at < RELAY_HDR + (size_t)w)
			break;
		if (cl->t_first == 0)
			cl->t_first = now_s();
		verify(cl, k, p->in + at + RELAY_HDR, w);
		p->bytes += RELAY_HDR + (size_t)w;
		at += RELAY_HDR + (size_t)w;
	}
	memmove(p->in, p->in + at, p->ilen - at);
	p->ilen -= at;
	if (!p->done && p->got + p->missed >= (uint64_t)cl->pubs * cl->count) {
		if (p->got + p->missed > (uint64_t)cl->pubs * cl->count)
			fail(cl, k, "more messages than were sent", p->got, p->missed);
		p->done = true;
		p->t_done = cl->t_last = now_s();
	}
}

/* Read subscriber @k (at most @max bytes).  Returns false when the relay closed it. */
static bool sub_read(struct client *cl, int k, size_t max)
{
	struct peer *p = &cl->p[k];
	size_t room = cl->icap - p->ilen;
	ssize_t n;

	if (room > max)
		room = max;
	if (room == 0)
		return true;
	n = recv(p->fd, p->in + p->ilen, room, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	p->ilen += (size_t)n;
	p->budget -= (double)n;
	sub_parse(cl, k);
	return true;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: relay_client -p PORT -m pub|sub|slow|nonreader|zero|huge|short|role|cut [options]\n"
		     "  -c, --conns N       connections (default 1)\n"
		     "  -i, --id I          pub: the id of the first publisher (default 0)\n"
		     "  -n, --count N       messages per publisher (default 1000)\n"
		     "  -P, --pubs P        sub: publishers, ids 0..P-1 (default 1)\n"
		     "  -s, --size MIN:MAX  payload bytes (default 64:4096)\n"
		     "  -r, --rate B        slow: bytes per second each reads (default 1000000)\n"
		     "  -d, --deadline S    give up after S seconds (default 60)\n"
		     "  -x, --expect-close  sub: being closed by the relay before the end is no failure\n"
		     "  -S, --subs N        bench: subscribers that keep up (default 1)\n"
		     "  -L, --slow N        bench: slow subscribers beside them, reading --rate (default 1)\n"
		     "  -w, --window M      bench: messages a publisher sends beyond what every subscriber\n"
		     "                      that keeps up has received (default 32)\n");
}

/* A number from the command line (--size's MIN ends at its ':'), or exit(2) with a message. */
static long num(const char *s, long lo, long hi, const char *what)
{
	return ex_parse_long("relay_client", s, ':', lo, hi, what);
}

static void parse(int argc, char **argv, struct client *cl)
{
	static const struct option longs[] = {
		{"port", required_argument, NULL, 'p'},  {"mode", required_argument, NULL, 'm'},
		{"conns", required_argument, NULL, 'c'}, {"id", required_argument, NULL, 'i'},
		{"count", required_argument, NULL, 'n'}, {"pubs", required_argument, NULL, 'P'},
		{"size", required_argument, NULL, 's'},  {"rate", required_argument, NULL, 'r'},
		{"deadline", required_argument, NULL, 'd'}, {"expect-close", no_argument, NULL, 'x'},
		{"subs", required_argument, NULL, 'S'},  {"slow", required_argument, NULL, 'L'},
		{"window", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	int ch;
	bool mode = false;

	*cl = (struct client){.conns = 1, .pubs = 1, .count = 1000, .smin = 64, .smax = 4096, .rate = 1e6,
			      .deadline = 60, .subs = 1, .slow = 1, .window = 32};
	while ((ch = getopt_long(argc, argv, "p:m:c:i:n:P:s:r:d:xS:L:w:h", longs, NULL)) != -1) {
		switch (ch) {
		case 'p': cl->port = (int)num(optarg, 1, 65535, "--port"); break;
		case 'm': {
			size_t m = 0;

			while (m < sizeof(mode_names) / sizeof(mode_names[0]) && strcmp(optarg, mode_names[m]) != 0)
				m++;
			if (m == sizeof(mode_names) / sizeof(mode_names[0])) {
				usage(stderr);
				exit(2);
			}
			cl->mode = (enum mode)m;
			mode = true;
			break;
		}
		case 'c': cl->conns = (int)num(optarg, 1, 1024, "--conns"); break;
		case 'i': cl->id = (uint32_t)num(optarg, 0, 1 << 20, "--id"); break;
		case 'n': cl->count = (uint64_t)num(optarg, 1, 1L << 40, "--count"); break;
		case 'P': cl->pubs = (int)num(optarg, 1, 1 << 20, "--pubs"); break;
		case 's': {
			const char *colon = strchr(optarg, ':');

			cl->smin = (uint32_t)num(optarg, RELAY_PAYLOAD_MIN, 1 << 24, "--size MIN");
			cl->smax = colon ? (uint32_t)num(colon + 1, cl->smin, 1 << 24, "--size MAX") : cl->smin;
			break;
		}
		case 'r': cl->rate = (double)num(optarg, 1, 1L << 40, "--rate"); break;
		case 'd': cl->deadline = (int)num(optarg, 1, 86400, "--deadline"); break;
		case 'x': cl->expect_close = true; break;
		case 'S': cl->subs = (int)num(optarg, 1, 1024, "--subs"); break;
		case 'L': cl->slow = (int)num(optarg, 0, 64, "--slow"); break;
		case 'w': cl->window = (int)num(optarg, 1, 1 << 20, "--window"); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (!mode || !cl->port || optind < argc) {
		usage(stderr);
		exit(2);
	}
	cl->icap = 2 * ((size_t)cl->smax + RELAY_HDR) + OUT_CAP;
}

static int run_pub(struct client *cl)
{
	struct pollfd *pf = calloc((size_t)cl->conns, sizeof(*pf));
	uint64_t sent = 0;
	int left = cl->conns;
	double t0 = now_s(), end = t0 + cl->deadline;

	for (int k = 0; k < cl->conns; k++) {
		struct peer *p = &cl->p[k];
		uint8_t role = RELAY_ROLE_PUB;

		p->fd = connect_to(cl->port);
		p->id = cl->id + (uint32_t)k;
		p->out = malloc(OUT_CAP);
		if (!p->out || !send_all(p->fd, &role, 1))
			return 1;
	}
	while (left > 0 && now_s() < end) {
		for (int k = 0; k < cl->conns; k++) {
			pf[k].fd = cl->p[k].done ? -1 : cl->p[k].fd;
			pf[k].events = POLLOUT;
		}
		if (poll(pf, (nfds_t)cl->conns, 100) < 0 && errno != EINTR)
			return 1;
		for (int k = 0; k < cl->conns; k++) {
			struct peer *p = &cl->p[k];
			ssize_t w;

			if (p->done || !(pf[k].revents & (POLLOUT | POLLERR | POLLHUP)))
				continue;
			pub_fill(cl, p);
			w = send(p->fd, p->out + p->ooff, p->olen - p->ooff, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				fprintf(stderr, "relay_client: publisher %u: %s\n", p->id, strerror(errno));
				return 1;
			}
			if (w > 0) {
				p->ooff += (size_t)w;
				sent += (uint64_t)w;
			}
			if (p->ooff == p->olen && p->seq == cl->count) {
				p->done = true;
				close(p->fd);
				left--;
			}
		}
	}
	printf("RESULT mode=pub conns=%d msgs=%" PRIu64 " bytes=%" PRIu64 " secs=%.3f left=%d\n", cl->conns,
	       (uint64_t)(cl->conns - left) * cl->count, sent, now_s() - t0, left);
	free(pf);
	return left == 0 ? 0 : 1;
}

static int run_sub(struct client *cl)
{
	struct pollfd *pf = calloc((size_t)cl->conns, sizeof(*pf));
	bool ready = false, slow = cl->mode == M_SLOW, nonreader = cl->mode == M_NONREADER;
	double end = now_s() + cl->deadline, last = now_s();
	uint64_t got = 0, missed = 0, bytes = 0, notices = 0;
	int done = 0, closed = 0, early = 0;

	for (int k = 0; k < cl->conns; k++) {
		struct peer *p = &cl->p[k];
		uint8_t role = RELAY_ROLE_SUB;

		p->fd = connect_to(cl->port);
		if (slow || nonreader) {
			int small = 64 * 1024; /* a slow reader's kernel holds little */

			setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		}
		p->in = malloc(cl->icap);
		p->next = calloc((size_t)cl->pubs, sizeof(*p->next));
		if (!p->in || !p->next || !send_all(p->fd, &role, 1))
			return 1;
	}
	for (;;) {
		int fin = 0, welcomed = 0;
		double t;

		for (int k = 0; k < cl->conns; k++) {
			struct peer *p = &cl->p[k];

			fin += p->done || p->closed;
			welcomed += p->welcomed || p->closed;
			pf[k].fd = p->done || p->closed ? -1 : p->fd;
			/* A non-reader reads its welcome, then only learns of the relay closing it. */
			pf[k].events = nonreader && p->welcomed ? POLLRDHUP : POLLIN | POLLRDHUP;
		}
		if (!ready && welcomed == cl->conns) {
			ready = true;
			printf("READY conns=%d\n", cl->conns);
			fflush(stdout);
		}
		if (fin == cl->conns || (t = now_s()) > end)
			break;
		if (poll(pf, (nfds_t)cl->conns, slow ? 5 : 100) < 0 && errno != EINTR)
			return 1;
		t = now_s();
		for (int k = 0; k < cl->conns; k++) {
			struct peer *p = &cl->p[k];
			size_t max = SIZE_MAX;

			if (pf[k].fd < 0)
				continue;
			if (slow) {
				p->budget += cl->rate * (t - last);
				if (p->budget > cl->rate / 10)
					p->budget = cl->rate / 10;
				if (p->budget < 1 && p->welcomed)
					continue;
				max = p->welcomed ? (size_t)p->budget : RELAY_HDR;
			}
			if (nonreader && p->welcomed) {
				if (pf[k].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
					p->closed = true;
					close(p->fd);
				}
				continue;
			}
			if (!(pf[k].revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)))
				continue;
			if (nonreader)
				max = RELAY_HDR; /* the welcome, not a byte more */
			if (!sub_read(cl, k, max)) {
				p->closed = true;
				close(p->fd);
			}
		}
		last = t;
	}
	for (int k = 0; k < cl->conns; k++) {
		struct peer *p = &cl->p[k];

		got += p->got;
		missed += p->missed;
		bytes += p->bytes;
		notices += p->notices;
		done += p->done;
		closed += p->closed;
		early += p->closed && !p->done;
		if (!p->closed)
			close(p->fd);
	}
	{
		double secs = cl->t_last > cl->t_first ? cl->t_last - cl->t_first : 0;
		bool good = cl->failed == 0 &&
			    (nonreader ? closed == cl->conns : done + (cl->expect_close ? early : 0) == cl->conns);

		printf("RESULT mode=%s conns=%d done=%d closed_early=%d msgs=%" PRIu64 " bytes=%" PRIu64
		       " missed=%" PRIu64 " notices=%" PRIu64 " secs=%.3f mbps=%.1f failed=%" PRIu64 "\n",
		       mode_names[cl->mode], cl->conns, done, early, got, bytes, missed, notices, secs,
		       secs > 0 ? (double)bytes / secs / 1e6 : 0.0, cl->failed);
		free(pf);
		return good ? 0 : 1;
	}
}

/* Read subscriber @k when the mode's pace lets it; close it when the relay did. */
static void sub_turn(struct client *cl, int k, short revents, bool slow, double dt)
{
	struct peer *p = &cl->p[k];
	size_t max = SIZE_MAX;

	if (slow) {
		p->budget += cl->rate * dt;
		if (p->budget > cl->rate / 10)
			p->budget = cl->rate / 10;
		if (p->budget < 1 && p->welcomed)
			return;
		max = p->welcomed ? (size_t)p->budget : RELAY_HDR;
	}
	if (!(revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)))
		return;
	if (!sub_read(cl, k, max)) {
		p->closed = true;
		close(p->fd);
	}
}

/*
 * --mode bench: --conns publishers, --subs subscribers that keep up and
 * --slow slow ones, in one process.  A publisher sends a message only when
 * every subscriber that keeps up has got (or been told it missed) all but
 * --window of its messages before it: so the relay's queues for those stay
 * below their quota and what they receive measures the relay, while the
 * slow ones are left behind, as the relay pleases.
 */
static int run_bench(struct client *cl)
{
	int np = cl->conns, ns = cl->subs, n = np + ns + cl->slow, fast_done = 0;
	struct pollfd *pf = calloc((size_t)n, sizeof(*pf));
	double end = now_s() + cl->deadline, last;
	uint64_t bytes = 0, got = 0, missed = 0;
	bool ready = false;

	free(cl->p);
	cl->p = calloc((size_t)n, sizeof(*cl->p));
	cl->pubs = np;
	if (!pf || !cl->p)
		return 1;
	for (int k = np; k < n; k++) {
		struct peer *p = &cl->p[k];
		uint8_t role = RELAY_ROLE_SUB;

		p->fd = connect_to(cl->port);
		p->in = malloc(cl->icap);
		p->next = calloc((size_t)np, sizeof(*p->next));
		if (k >= np + ns) {
			int small = 64 * 1024;

			setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		}
		if (!p->in || !p->next || !send_all(p->fd, &role, 1))
			return 1;
	}
	last = now_s();
	for (;;) {
		int fin = 0, welcomed = 0;
		double t;

		for (int k = np; k < n; k++)
			welcomed += cl->p[k].welcomed || cl->p[k].closed;
		if (!ready && welcomed == n - np) {
			ready = true;
			for (int k = 0; k < np; k++) {
				uint8_t role = RELAY_ROLE_PUB;

				cl->p[k].fd = connect_to(cl->port);
				cl->p[k].id = (uint32_t)k;
				cl->p[k].out = malloc(OUT_CAP);
				if (!cl->p[k].out || !send_all(cl->p[k].fd, &role, 1))
					return 1;
			}
		}
		for (int k = 0; k < n; k++) {
			struct peer *p = &cl->p[k];

			fin += p->done || p->closed;
			pf[k].fd = !ready && k < np ? -1 : p->done || p->closed ? -1 : p->fd;
			pf[k].events = k < np ? POLLOUT : POLLIN | POLLRDHUP;
			if (k < np && ready && p->ooff == p->olen) {
				/* The window: the furthest behind of the subscribers that keep up. */
				uint64_t lo = UINT64_MAX;

				for (int j = np; j < np + ns; j++)
					if (!cl->p[j].closed && !cl->p[j].done && cl->p[j].next[k] < lo)
						lo = cl->p[j].next[k];
				if (lo != UINT64_MAX && p->seq >= lo + (uint64_t)cl->window)
					pf[k].fd = -1;
			}
		}
		if (fin == n || (t = now_s()) > end)
			break;
		if (poll(pf, (nfds_t)n, cl->slow ? 5 : 100) < 0 && errno != EINTR)
			return 1;
		t = now_s();
		for (int k = 0; k < n; k++) {
			struct peer *p = &cl->p[k];

			if (pf[k].fd < 0)
				continue;
			if (k >= np) {
				bool was = p->done;

				sub_turn(cl, k, pf[k].revents, k >= np + ns, t - last);
				if (k < np + ns && !was && (p->done || p->closed))
					fast_done++;
				continue;
			}
			if (pf[k].revents & (POLLOUT | POLLERR | POLLHUP)) {
				uint64_t lo = UINT64_MAX, cap;
				ssize_t w;

				for (int j = np; j < np + ns; j++)
					if (!cl->p[j].closed && !cl->p[j].done && cl->p[j].next[k] < lo)
						lo = cl->p[j].next[k];
				cap = lo == UINT64_MAX ? cl->count : lo + (uint64_t)cl->window;
				if (p->ooff == p->olen) {
					uint64_t keep = cl->count;

					if (cap < keep)
						cl->count = cap; /* pub_fill stops at the window */
					pub_fill(cl, p);
					cl->count = keep;
				}
				w = send(p->fd, p->out + p->ooff, p->olen - p->ooff, MSG_NOSIGNAL | MSG_DONTWAIT);
				if (w < 0 && errno != EAGAIN && errno != EINTR) {
					fprintf(stderr, "relay_client: publisher %d: %s\n", k, strerror(errno));
					return 1;
				}
				if (w > 0)
					p->ooff += (size_t)w;
				if (p->ooff == p->olen && p->seq == cl->count) {
					p->done = true;
					close(p->fd);
				}
			}
		}
		last = t;
	}
	{
		double t0 = cl->t_first, t1 = 0, secs;
		uint64_t sgot = 0, smissed = 0, snotices = 0;
		int sclosed = 0, sdone = 0, good = cl->failed == 0;

		for (int k = np; k < np + ns; k++) {
			bytes += cl->p[k].bytes;
			got += cl->p[k].got;
			missed += cl->p[k].missed;
			if (cl->p[k].t_done > t1)
				t1 = cl->p[k].t_done;
			good &= cl->p[k].done;
		}
		for (int k = np + ns; k < n; k++) {
			sgot += cl->p[k].got;
			smissed += cl->p[k].missed;
			snotices += cl->p[k].notices;
			sclosed += cl->p[k].closed && !cl->p[k].done;
			sdone += cl->p[k].done;
		}
		for (int k = 0; k < np; k++)
			good &= cl->p[k].done;
		good &= sclosed + sdone == cl->slow;
		secs = t1 > t0 ? t1 - t0 : 0;
		printf("RESULT mode=bench pubs=%d subs=%d msgs=%" PRIu64 " bytes=%" PRIu64 " missed=%" PRIu64
		       " secs=%.3f mbps=%.1f slow=%d slow_msgs=%" PRIu64 " slow_missed=%" PRIu64 " slow_notices=%" PRIu64
		       " slow_closed=%d failed=%" PRIu64 "\n",
		       np, ns, got, bytes, missed, secs, secs > 0 ? (double)bytes / secs / 1e6 : 0.0, cl->slow, sgot,
		       smissed, snotices, sclosed, cl->failed + !good);
		(void)fast_done;
		free(pf);
		return good ? 0 : 1;
	}
}

/* The hostile publishers: send what the mode says and wait for the relay to close each. */
static int run_hostile(struct client *cl)
{
	int closed = 0;
	double end = now_s() + cl->deadline;

	for (int k = 0; k < cl->conns; k++) {
		struct peer *p = &cl->p[k];
		uint8_t b[1024] = {RELAY_ROLE_PUB};
		size_t n = 1 + RELAY_HDR;

		p->fd = connect_to(cl->port);
		switch (cl->mode) {
		case M_ZERO: relay_put32(b + 1, 0); break;
		case M_HUGE: relay_put32(b + 1, UINT32_C(0xfffffff0)); break;
		case M_SHORT: relay_put32(b + 1, 5); break;
		case M_ROLE: b[0] = 'X'; n = 1; break;
		default: /* M_CUT: a good header, half the message, gone */
			p->id = cl->id + (uint32_t)k;
			n = msg_make(cl, p, 0, b + 1) / 2 + 1;
			break;
		}
		if (!send_all(p->fd, b, n))
			return 1;
		if (cl->mode == M_CUT) {
			close(p->fd);
			p->closed = true;
			closed++;
		}
	}
	while (closed < cl->conns && now_s() < end) {
		for (int k = 0; k < cl->conns; k++) {
			struct peer *p = &cl->p[k];
			struct pollfd pf = {.fd = p->fd, .events = POLLIN | POLLRDHUP};
			uint8_t junk[64];
			ssize_t r;

			if (p->closed || poll(&pf, 1, 100) <= 0)
				continue;
			r = recv(p->fd, junk, sizeof(junk), MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				p->closed = true;
				close(p->fd);
				closed++;
			}
		}
	}
	printf("RESULT mode=%s conns=%d closed=%d\n", mode_names[cl->mode], cl->conns, closed);
	return closed == cl->conns ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct client cl;

	parse(argc, argv, &cl);
	if (cl.mode >= M_ZERO)
		cl.smin = cl.smax = 500; /* what run_hostile() sends fits its 1 KiB */
	cl.p = calloc((size_t)cl.conns, sizeof(*cl.p));
	if (!cl.p)
		return 1;
	switch (cl.mode) {
	case M_PUB: return run_pub(&cl);
	case M_SUB:
	case M_SLOW:
	case M_NONREADER: return run_sub(&cl);
	case M_BENCH: return run_bench(&cl);
	default: return run_hostile(&cl);
	}
}
