/* SPDX-License-Identifier: MIT */
/*
 * relay_server.c - a fan-out relay on iobuf: each message read once, written to every subscriber, no copy.
 *
 *   relay_server [--port N] [--port-file FILE] [--tier NAME] [--buffers N] [--burst K]
 *                [--max-message B] [--sub-buffers N] [--sub-bytes B] [--write-timeout MS]
 *                [--conns N] [--sock-buffer B] [--copy] [--quiet]
 *
 * Publishers send length-prefixed frames (examples/relay.h); the relay
 * sends each frame, header and payload, to every subscriber.  One thread,
 * one level-triggered epoll loop over non-blocking sockets.
 *
 * The data path (the default, the pool):
 *   - iobuf_cache_readv() reads a publisher into up to --burst fresh
 *     buffers and returns a slice of each;
 *   - a frame may start inside a buffer and span several: the slices are
 *     cut at frame boundaries with iobuf_slice_split() (the two halves
 *     share the buffer, each with a holder), so a frame is a short list of
 *     slices, its bytes where the kernel put them;
 *   - a complete frame goes to every subscriber: iobuf_hold() adds one
 *     holder per subscriber to each of its slices, and each subscriber's
 *     queue gets the slice values;
 *   - a subscriber's queue is written with writev (iobuf_iov_from_slices(),
 *     iobuf_sendv_full()); iobuf_slices_consume() puts what a (short)
 *     write finished and trims the slice written in part.  The last
 *     subscriber to write a buffer's bytes returns it to the pool.
 * No byte of a message is copied by the relay.
 *
 * --copy runs the same relay the usual way, on malloc: each publisher is
 * read into a buffer of its own, and each frame is copied into a fresh
 * malloc'd block per subscriber (one copy per subscriber), freed once
 * written.  The baseline of `make demo`.
 *
 * Bounds.  A subscriber holds at most --sub-buffers queued slices (each
 * holds one buffer) and --sub-bytes bytes.  A frame that would pass either
 * laps it: its oldest queued messages that it has not begun to receive
 * are dropped (put, or freed) until the frame fits, and a notice in band
 * (RELAY_NOTICE | N, in a 16-byte buffer of the pool) takes their place
 * and tells it how many it missed there; when nothing can be dropped the
 * new frame is the one missed.  So a slow subscriber never holds more
 * than its quota and never stops the relay reading the publishers, nor
 * writing to the others.  A subscriber that takes none of its queued
 * bytes for --write-timeout ms is closed and its buffers are put.
 * Publishers are read only while the pool has buffers (-ENOBUFS: the
 * publisher waits, its bytes in the kernel, until buffers come back).
 *
 * Hostile peers: a role byte that is neither P nor S, a frame length out
 * of range, bytes from a subscriber: the connection is closed.  A
 * publisher that goes away in the middle of a frame: the part read is put,
 * never delivered.
 *
 * SIGINT or SIGTERM: every connection is closed (its buffers put), the
 * relay prints a RESULT line, the pool statistics and its peak RSS, and
 * exits 1 if any buffer is not back.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <iobuf.h>

#include "relay.h"
#include "common.h"

#define PEND 64          /* slices of one frame being assembled: --max-message fits in PEND - 2 buffers */
#define IOVS 256         /* queue entries one writev takes */
#define READS_PER_TURN 4 /* readv calls on one publisher before the others' turn */
#define MAX_EVENTS 256
#define EV_LISTEN UINT64_MAX
#define EV_SIGNAL (UINT64_MAX - 1)
#define MS UINT64_C(1000000)

#define F_FIRST 1u  /* the first entry of a frame */
#define F_NOTICE 2u /* a notice (one entry) */

struct options {
	const char *port_file;
	int port;
	int tier;
	uint32_t buffers;
	int burst;
	uint32_t max_message;
	int sub_buffers;
	size_t sub_bytes;
	long write_ms;
	int conns;
	int sock_buffer;
	bool copy;
	bool quiet;
};

enum role { ROLE_NEW, ROLE_PUB, ROLE_SUB };
enum sub_end { END_TIMEOUT, END_PEER, END_PROTOCOL, END_NOTICE, END_STOP };
static const char *const end_names[] = {"write timeout", "peer", "protocol", "no notice buffer", "stop"};

struct conn {
	int fd; /* -1: free slot */
	uint32_t gen;
	enum role role;
	/* A publisher: the frame being assembled. */
	struct iobuf_slice pend[PEND];
	int npend;
	uint32_t flen; /* the frame's length with its header; 0 until the header is whole */
	uint32_t fgot; /* bytes of it so far */
	uint8_t hdr[RELAY_HDR];
	bool starved;   /* waiting for buffers: off epoll until they come back */
	uint8_t *rbuf;  /* --copy: the publisher's read buffer */
	size_t rlen;
	const uint8_t *frame; /* --copy: the whole frame in rbuf being delivered */
	/* A subscriber: its queue, entries [head, tail) of q (and mem, fl). */
	struct iobuf_slice *q;
	void **mem; /* --copy: the malloc'd copy each entry is a range of */
	uint8_t *fl;
	int head, tail;
	size_t qbytes;
	bool started;  /* some bytes of the head unit are written */
	bool pollout;  /* EPOLLOUT armed */
	bool dirty;    /* on the relay's list of subscribers to write */
	int dnext;
	int snext, sprev; /* the list of subscribers */
	uint64_t stuck_ns;
	uint64_t bytes_out, frames_out, laps, missed;
};

/* This process's CPU time so far, user and system, in microseconds. */
static uint64_t cpu_us_now(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

struct relay {
	struct options o;
	uint64_t setup_cpu_us; /* CPU time spent before serving (the pool prefaulted) */
	struct iobuf_set *set;
	struct iobuf_cache *cache;
	size_t bufsize;
	int qcap;
	int epfd, lfd, sfd;
	struct conn *c;
	int sub_head, nsubs;
	int dirty_head;
	int *targets;
	uint64_t now, write_ns, tick_ns, next_tick;
	bool puts; /* buffers went back since the starved publishers were last tried */
	int nstarved;
	/* Counters. */
	uint64_t pubs, subs, msgs_in, bytes_in, bytes_out, copies, copied_bytes, laps, missed;
	uint64_t bad_len, bad_role, cut, sub_protocol, sub_timeouts, notice_fail, enobufs, errors;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: relay_server [options]\n"
		     "  -p, --port N            TCP port on 127.0.0.1 (0: any free port; default 0)\n"
		     "  -f, --port-file F       write the port there once listening\n"
		     "  -T, --tier NAME         tier of the read buffers, PICO..GIANT or 0..7 (default MEDIUM)\n"
		     "  -n, --buffers N         buffers in that tier (default 4096)\n"
		     "  -k, --burst K           buffers one readv fills at most, 1..64 (default 16)\n"
		     "  -M, --max-message B     largest payload a publisher may send (default 16384)\n"
		     "  -B, --sub-buffers N     most queued slices (buffers) per subscriber (default 256)\n"
		     "  -Q, --sub-bytes B       most queued bytes per subscriber (default 1048576)\n"
		     "  -W, --write-timeout MS  close a subscriber that takes none of its queue for MS ms\n"
		     "                          (default 10000; 0: never)\n"
		     "  -c, --conns N           connections at most (default 256)\n"
		     "  -S, --sock-buffer B     SO_SNDBUF of every connection (default 262144; 0: the kernel's\n"
		     "                          autotuning, megabytes a subscriber that never reads pins)\n"
		     "  -C, --copy              malloc, one copy of each message per subscriber (the baseline)\n"
		     "  -q, --quiet             no line per closed connection\n");
}

/* A number from the command line, or exit(2) with a message. */
static long parse_long(const char *s, long lo, long hi, const char *what)
{
	return ex_parse_long("relay_server", s, 0, lo, hi, what);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{"port", required_argument, NULL, 'p'},        {"port-file", required_argument, NULL, 'f'},
		{"tier", required_argument, NULL, 'T'},        {"buffers", required_argument, NULL, 'n'},
		{"burst", required_argument, NULL, 'k'},       {"max-message", required_argument, NULL, 'M'},
		{"sub-buffers", required_argument, NULL, 'B'}, {"sub-bytes", required_argument, NULL, 'Q'},
		{"write-timeout", required_argument, NULL, 'W'}, {"conns", required_argument, NULL, 'c'},
		{"sock-buffer", required_argument, NULL, 'S'},
		{"copy", no_argument, NULL, 'C'},              {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0},
	};
	int ch;

	*o = (struct options){.tier = IOBUF_TIER_MEDIUM, .buffers = 4096, .burst = 16, .max_message = 16384,
			      .sub_buffers = 256, .sub_bytes = 1 << 20, .write_ms = 10000, .conns = 256,
			      .sock_buffer = 256 * 1024};
	while ((ch = getopt_long(argc, argv, "p:f:T:n:k:M:B:Q:W:c:S:Cqh", longs, NULL)) != -1) {
		switch (ch) {
		case 'p': o->port = (int)parse_long(optarg, 0, 65535, "--port"); break;
		case 'f': o->port_file = optarg; break;
		case 'T':
			o->tier = ex_parse_tier(optarg, 1);
			if (o->tier < 0) {
				fprintf(stderr, "relay_server: --tier must be NANO..GIANT or 1..7, not '%s'\n", optarg);
				exit(2);
			}
			break;
		case 'n': o->buffers = (uint32_t)parse_long(optarg, 16, IOBUF_POOL_MAX_CAPACITY, "--buffers"); break;
		case 'k': o->burst = (int)parse_long(optarg, 1, IOBUF_READV_POOLED_MAX, "--burst"); break;
		case 'M': o->max_message = (uint32_t)parse_long(optarg, RELAY_PAYLOAD_MIN, 1 << 24, "--max-message"); break;
		case 'B': o->sub_buffers = (int)parse_long(optarg, 4, 1 << 16, "--sub-buffers"); break;
		case 'Q': o->sub_bytes = (size_t)parse_long(optarg, 64, 1L << 30, "--sub-bytes"); break;
		case 'W': o->write_ms = parse_long(optarg, 0, 86400000, "--write-timeout"); break;
		case 'c': o->conns = (int)parse_long(optarg, 2, 1 << 16, "--conns"); break;
		case 'S': o->sock_buffer = (int)parse_long(optarg, 0, 1 << 30, "--sock-buffer"); break;
		case 'C': o->copy = true; break;
		case 'q': o->quiet = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
	/* A frame must fit in the assembly list, and beside a notice in a subscriber's quota. */
	if ((uint64_t)o->max_message + RELAY_HDR > (uint64_t)(PEND - 2) * IOBUF_TIER_SIZE(o->tier)) {
		fprintf(stderr, "relay_server: --max-message must fit in %d buffers of the tier (%zu B)\n", PEND - 2,
			(size_t)(PEND - 2) * IOBUF_TIER_SIZE(o->tier) - RELAY_HDR);
		exit(2);
	}
	if (o->sub_buffers < PEND + 2 || o->sub_bytes < (size_t)o->max_message + 2 * RELAY_HDR) {
		fprintf(stderr, "relay_server: --sub-buffers must be at least %d and --sub-bytes at least --max-message + %d\n",
			PEND + 2, 2 * RELAY_HDR);
		exit(2);
	}
}

/* ---- queue entries: slices of the pool, or ranges of malloc'd copies ---- */

/* The first byte of entry @i of @c's queue. */
static uint8_t *entry_buf(const struct relay *r, const struct conn *c, int i)
{
	if (r->o.copy)
		return (uint8_t *)c->mem[i] + c->q[i].off;
	return iobuf_slice_buf(r->set, &c->q[i]);
}

/* Drop entry @i (put its slice, or free its copy). */
static void entry_drop(struct relay *r, struct conn *c, int i)
{
	c->qbytes -= c->q[i].len;
	if (r->o.copy) {
		free(c->mem[i]);
		c->mem[i] = NULL;
		c->q[i] = IOBUF_SLICE_NONE;
		return;
	}
	if (iobuf_cache_slice_put(r->cache, &c->q[i]) < 0)
		r->errors++;
	r->puts = true;
}

/* Move entries [from, tail) to @to. */
static void entries_move(struct conn *c, int to, int from)
{
	int n = c->tail - from;

	memmove(&c->q[to], &c->q[from], (size_t)n * sizeof(c->q[0]));
	memmove(&c->fl[to], &c->fl[from], (size_t)n);
	memmove(&c->mem[to], &c->mem[from], (size_t)n * sizeof(c->mem[0]));
	c->tail = to + n;
}

/* Room for @n more entries at the tail (the queue slides to the front of its array). */
static bool entries_room(struct relay *r, struct conn *c, int n)
{
	if (c->tail + n <= r->qcap)
		return true;
	if (c->head > 0) {
		int h = c->head;

		c->head = 0;
		entries_move(c, 0, h);
	}
	return c->tail + n <= r->qcap;
}

/* A new notice of @n missed messages: an entry value in *@s (and *@mem with --copy). */
static int notice_new(struct relay *r, uint32_t n, struct iobuf_slice *s, void **mem)
{
	iobuf_handle_t h;
	uint8_t *b;
	int rc;

	*mem = NULL;
	if (r->o.copy) {
		b = malloc(RELAY_HDR);
		if (!b)
			return -ENOMEM;
		*mem = b;
		*s = (struct iobuf_slice){IOBUF_HANDLE_NONE, 0, RELAY_HDR};
	} else {
		rc = iobuf_get(r->set, RELAY_HDR, &h);
		if (rc < 0)
			return rc;
		b = iobuf_buf(r->set, h);
		(void)iobuf_setlen(r->set, h, RELAY_HDR); /* our live handle: cannot be refused */
		(void)iobuf_slice_from(r->set, h, s);
	}
	relay_put32(b, RELAY_NOTICE | n);
	return 0;
}

/* Add @n to the unsent notice at entry @i. */
static void notice_add(struct relay *r, struct conn *c, int i, uint32_t n)
{
	uint8_t *b = entry_buf(r, c, i);

	relay_put32(b, RELAY_NOTICE | ((relay_get32(b) & ~RELAY_NOTICE) + n));
}

/* The entry after the unit (a frame or a notice) that starts at @i. */
static int unit_end(const struct conn *c, int i)
{
	if (c->fl[i] & F_NOTICE)
		return i + 1;
	for (i++; i < c->tail && !(c->fl[i] & (F_FIRST | F_NOTICE)); i++)
		;
	return i;
}

/* Append a notice of @n at the tail, or add to the unsent one there.  false: no buffer for it. */
static bool notice_tail(struct relay *r, struct conn *c, uint32_t n)
{
	int last = c->tail - 1;

	if (last >= c->head && (c->fl[last] & F_NOTICE) && !(last == c->head && c->started)) {
		notice_add(r, c, last, n);
		return true;
	}
	if (!entries_room(r, c, 1) || notice_new(r, n, &c->q[c->tail], &c->mem[c->tail]) < 0)
		return false;
	c->fl[c->tail++] = F_NOTICE;
	c->qbytes += RELAY_HDR;
	return true;
}

/*
 * Lap @c: drop its oldest frame that it has not begun to receive, and put
 * a notice in its place (or count it in the unsent notice just before).
 * Returns 1 when a frame was dropped, 0 when none can be, -1 without a
 * buffer for the notice.
 */
static int lap_one(struct relay *r, struct conn *c)
{
	int i = c->head, note = -1, end;
	struct iobuf_slice ns;
	void *nmem;

	if (c->started && i < c->tail)
		i = unit_end(c, i);
	while (i < c->tail && (c->fl[i] & F_NOTICE))
		note = i++;
	if (i >= c->tail)
		return 0;
	if (note < 0 && notice_new(r, 1, &ns, &nmem) < 0)
		return -1;
	end = unit_end(c, i);
	for (int j = i; j < end; j++)
		entry_drop(r, c, j);
	c->missed++;
	r->missed++;
	if (note >= 0) {
		notice_add(r, c, note, 1);
		entries_move(c, i, end);
	} else {
		c->q[i] = ns;
		c->mem[i] = nmem;
		c->fl[i] = F_NOTICE;
		c->qbytes += RELAY_HDR;
		entries_move(c, i + 1, end);
	}
	return 1;
}

/*
 * Make room in @c's quota for a frame of @bytes in @n entries, lapping it
 * as needed.  Returns true when the frame is to be queued; false when it
 * is missed (counted, and announced at the tail) or @c must be closed
 * (*@close).
 */
static bool make_room(struct relay *r, struct conn *c, size_t bytes, int n, bool *close)
{
	bool lapped = false;
	int rc = 1;

	*close = false;
	while (c->qbytes + bytes + RELAY_HDR > r->o.sub_bytes || (c->tail - c->head) + n + 1 > r->o.sub_buffers) {
		rc = lap_one(r, c);
		if (rc <= 0)
			break;
		lapped = true;
	}
	if (lapped) {
		c->laps++;
		r->laps++;
	}
	if (rc < 0) {
		*close = true;
		return false;
	}
	if (rc == 0) {
		/* Nothing left to drop but what it is receiving: this frame is the one it misses. */
		c->missed++;
		r->missed++;
		if (!lapped) {
			c->laps++;
			r->laps++;
		}
		if (!notice_tail(r, c, 1))
			*close = true;
		return false;
	}
	if (!entries_room(r, c, n))
		return false; /* cannot happen: qcap leaves room for the quota and a frame */
	return true;
}

/* ---- connections ---------------------------------------------------------- */

static void sub_close(struct relay *r, int i, enum sub_end why);

static void epoll_set(struct relay *r, int i, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)r->c[i].gen << 32 | (uint32_t)i};

	if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, r->c[i].fd, &ev) < 0)
		r->errors++;
}

static void mark_dirty(struct relay *r, int i)
{
	struct conn *c = &r->c[i];

	if (c->dirty)
		return;
	c->dirty = true;
	c->dnext = r->dirty_head;
	r->dirty_head = i;
}

/* The publisher @c has a whole frame in c->pend: give it to every subscriber. */
static void deliver(struct relay *r, struct conn *pub)
{
	int nt = 0;

	r->msgs_in++;
	r->bytes_in += pub->flen;
	for (int i = r->sub_head; i >= 0;) {
		struct conn *c = &r->c[i];
		int next = c->snext;
		bool close;

		if (make_room(r, c, pub->flen, r->o.copy ? 1 : pub->npend, &close))
			r->targets[nt++] = i;
		else if (close)
			sub_close(r, i, END_NOTICE);
		else
			mark_dirty(r, i); /* a notice to send */
		i = next;
	}
	if (r->o.copy) {
		for (int t = 0; t < nt; t++) {
			struct conn *c = &r->c[r->targets[t]];
			uint8_t *p = malloc(pub->flen);

			if (!p) {
				c->missed++;
				r->missed++;
				continue;
			}
			memcpy(p, pub->frame, pub->flen); /* the copy per subscriber */
			r->copies++;
			r->copied_bytes += pub->flen;
			c->q[c->tail] = (struct iobuf_slice){IOBUF_HANDLE_NONE, 0, pub->flen};
			c->mem[c->tail] = p;
			c->fl[c->tail++] = F_FIRST;
			c->qbytes += pub->flen;
			mark_dirty(r, r->targets[t]);
		}
		return;
	}
	/* One holder per subscriber: the relay's own holder goes to the last of them. */
	for (int k = 0; k < pub->npend; k++) {
		if (nt == 0) {
			(void)iobuf_cache_slice_put(r->cache, &pub->pend[k]);
			r->puts = true;
		} else if (nt > 1 && iobuf_hold(r->set, pub->pend[k].h, (uint32_t)(nt - 1)) < 0) {
			r->errors++; /* cannot happen: we hold it, and nt is far below IOBUF_HOLDERS_MAX */
		}
	}
	for (int t = 0; t < nt; t++) {
		struct conn *c = &r->c[r->targets[t]];

		for (int k = 0; k < pub->npend; k++) {
			c->q[c->tail] = pub->pend[k];
			c->fl[c->tail++] = k == 0 ? F_FIRST : 0;
		}
		c->qbytes += pub->flen;
		mark_dirty(r, r->targets[t]);
	}
	pub->npend = 0;
}

/* The length of a whole frame whose header says @w, or 0 when out of range. */
static uint32_t frame_len(const struct relay *r, uint32_t w)
{
	return w >= RELAY_PAYLOAD_MIN && w <= r->o.max_message ? w + RELAY_HDR : 0;
}

/*
 * Take slice @s of what publisher @c sent: cut it at frame boundaries,
 * deliver each frame it completes.  The slice's holder is always taken
 * over.  Returns 0, or -EPROTO for a bad length (then @c is to be closed).
 */
static int pub_take(struct relay *r, struct conn *c, struct iobuf_slice *s)
{
	while (s->len > 0) {
		uint32_t take;

		if (c->flen == 0) {
			const uint8_t *b = iobuf_slice_buf(r->set, s);
			uint32_t n = RELAY_HDR - c->fgot < s->len ? RELAY_HDR - c->fgot : s->len;

			/* The header's bytes, read to parse it; the frame stays in the buffer. */
			for (uint32_t j = 0; j < n; j++)
				c->hdr[c->fgot + j] = b[j];
			if (c->fgot + n == RELAY_HDR) {
				c->flen = frame_len(r, relay_get32(c->hdr));
				if (c->flen == 0) {
					(void)iobuf_cache_slice_put(r->cache, s);
					r->puts = true;
					return -EPROTO;
				}
			}
		}
		take = c->flen == 0 || s->len < c->flen - c->fgot ? s->len : c->flen - c->fgot;
		if (take < s->len) {
			struct iobuf_slice tail;

			if (iobuf_slice_split(r->set, s, take, &tail) < 0) {
				r->errors++; /* cannot happen: we hold it */
				(void)iobuf_cache_slice_put(r->cache, s);
				return -EPROTO;
			}
			c->pend[c->npend++] = *s;
			*s = tail;
		} else {
			c->pend[c->npend++] = *s;
			*s = IOBUF_SLICE_NONE;
		}
		c->fgot += take;
		if (c->flen && c->fgot == c->flen) {
			deliver(r, c);
			c->flen = c->fgot = 0;
		}
	}
	return 0;
}

/* --copy: frames out of the publisher's read buffer.  Returns 0, or -EPROTO. */
static int pub_parse_copy(struct relay *r, struct conn *c)
{
	size_t at = 0;

	while (c->rlen - at >= RELAY_HDR) {
		uint32_t fl = frame_len(r, relay_get32(c->rbuf + at));

		if (fl == 0)
			return -EPROTO;
		if (c->rlen - at < fl)
			break;
		c->flen = fl;
		c->frame = c->rbuf + at;
		deliver(r, c);
		at += fl;
	}
	if (at > 0)
		memmove(c->rbuf, c->rbuf + at, c->rlen - at);
	c->rlen -= at;
	c->flen = 0;
	c->fgot = (uint32_t)c->rlen;
	return 0;
}

static void conn_free(struct relay *r, int i)
{
	struct conn *c = &r->c[i];

	epoll_ctl(r->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

static void pub_close(struct relay *r, int i, bool bad)
{
	struct conn *c = &r->c[i];

	if (bad)
		r->bad_len++;
	else if (c->fgot > 0)
		r->cut++; /* gone in the middle of a frame: what we have of it is never delivered */
	if (!r->o.quiet && (bad || c->fgot > 0))
		printf("relay_server: publisher %d closed: %s\n", i, bad ? "bad frame length" : "cut mid-message");
	fflush(stdout);
	if (!r->o.copy && c->npend > 0) {
		(void)iobuf_cache_slices_put(r->cache, c->pend, c->npend);
		r->puts = true;
	}
	if (c->starved)
		r->nstarved--;
	c->npend = 0;
	c->flen = c->fgot = 0;
	c->rlen = 0;
	c->starved = false;
	conn_free(r, i);
}

static void sub_close(struct relay *r, int i, enum sub_end why)
{
	struct conn *c = &r->c[i];

	for (int j = c->head; j < c->tail; j++)
		entry_drop(r, c, j);
	c->head = c->tail = 0;
	c->qbytes = 0;
	if (why == END_TIMEOUT)
		r->sub_timeouts++;
	else if (why == END_PROTOCOL)
		r->sub_protocol++;
	else if (why == END_NOTICE)
		r->notice_fail++;
	if (!r->o.quiet)
		printf("relay_server: subscriber %d closed (%s): %" PRIu64 " bytes, %" PRIu64 " frames, lapped %" PRIu64
		       " times, missed %" PRIu64 "\n",
		       i, end_names[why], c->bytes_out, c->frames_out, c->laps, c->missed);
	fflush(stdout);
	if (c->sprev >= 0)
		r->c[c->sprev].snext = c->snext;
	else
		r->sub_head = c->snext;
	if (c->snext >= 0)
		r->c[c->snext].sprev = c->sprev;
	r->nsubs--;
	c->role = ROLE_NEW;
	if (why == END_TIMEOUT || why == END_PROTOCOL || why == END_NOTICE) {
		/* A reset: what its socket still holds is dropped now, not sent to a peer that takes nothing. */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	conn_free(r, i); /* a dirty flag left on the slot is skipped by its fd */
}

/* --copy: the queue's next entries as an iovec. */
static int copy_iov(const struct conn *c, int n, struct iovec *iov)
{
	for (int k = 0; k < n; k++) {
		iov[k].iov_base = (uint8_t *)c->mem[c->head + k] + c->q[c->head + k].off;
		iov[k].iov_len = c->q[c->head + k].len;
	}
	return n;
}

/* Write @c's queue as far as the socket takes it.  Returns 0 or a negative errno (close it). */
static int sub_flush(struct relay *r, int i)
{
	struct conn *c = &r->c[i];

	while (c->head < c->tail) {
		struct iovec iov[IOVS], *cur = iov;
		int n = c->tail - c->head < IOVS ? c->tail - c->head : IOVS, cnt, stop = 0, whole, done;
		ssize_t w;
		bool partial;

		cnt = r->o.copy ? copy_iov(c, n, iov) : iobuf_iov_from_slices(r->set, &c->q[c->head], n, iov);
		if (cnt != n)
			return -EINVAL; /* cannot happen: the queue holds every slice it names */
		w = iobuf_sendv_full(c->fd, &cur, &cnt, &stop);
		if (w <= 0) {
			if (w == -EAGAIN || (w == 0 && stop == -EAGAIN))
				break;
			return w < 0 ? (int)w : -EIO;
		}
		whole = (int)(cur - iov);
		partial = cnt > 0 && cur->iov_len < c->q[c->head + whole].len;
		for (int k = 0; k < whole; k++)
			c->frames_out += (c->fl[c->head + k] & F_FIRST) != 0;
		c->bytes_out += (uint64_t)w;
		r->bytes_out += (uint64_t)w;
		c->stuck_ns = 0;
		if (r->o.copy) {
			for (int k = 0; k < whole; k++)
				entry_drop(r, c, c->head + k);
			if (partial) {
				c->qbytes -= c->q[c->head + whole].len - cur->iov_len;
				c->q[c->head + whole].off += c->q[c->head + whole].len - (uint32_t)cur->iov_len;
				c->q[c->head + whole].len = (uint32_t)cur->iov_len;
			}
			done = whole;
		} else {
			size_t trimmed = partial ? c->q[c->head + whole].len - cur->iov_len : 0;

			done = iobuf_cache_slices_consume(r->cache, &c->q[c->head], n, (size_t)w);
			if (done != whole)
				return done < 0 ? done : -EINVAL;
			/* consume put the whole ones (their bytes counted off here) and trimmed the partial one */
			for (int k = 0; k < whole; k++)
				c->qbytes -= iov[k].iov_len;
			c->qbytes -= trimmed;
			r->puts = true;
		}
		c->head += done;
		c->started = partial || (c->head < c->tail && !(c->fl[c->head] & (F_FIRST | F_NOTICE)));
		if (stop == -EAGAIN || cnt > 0)
			break;
	}
	if (c->head == c->tail) {
		c->head = c->tail = 0;
		c->started = false;
		c->stuck_ns = 0;
		if (c->pollout) {
			c->pollout = false;
			epoll_set(r, i, EPOLLIN | EPOLLRDHUP);
		}
		return 0;
	}
	if (c->stuck_ns == 0)
		c->stuck_ns = r->now;
	if (!c->pollout) {
		c->pollout = true;
		epoll_set(r, i, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
	}
	return 0;
}

/* Write every subscriber that got something to send. */
static void flush_dirty(struct relay *r)
{
	while (r->dirty_head >= 0) {
		int i = r->dirty_head, rc;
		struct conn *c = &r->c[i];

		r->dirty_head = c->dnext;
		c->dirty = false;
		if (c->fd < 0 || c->role != ROLE_SUB)
			continue;
		rc = sub_flush(r, i);
		if (rc < 0) {
			if (rc != -EPIPE && rc != -ECONNRESET && !r->o.quiet)
				printf("relay_server: subscriber %d: %s\n", i, iobuf_strerror(rc));
			sub_close(r, i, END_PEER);
		}
	}
}

/* Stop reading publisher @i until buffers come back. */
static void pub_starve(struct relay *r, int i)
{
	struct conn *c = &r->c[i];

	if (c->starved)
		return;
	c->starved = true;
	r->nstarved++;
	r->enobufs++;
	epoll_set(r, i, 0); /* no events but a hang-up or an error, which are retried with the rest */
}

/* Read what publisher @i sent, a few reads at most; each read's frames go out before the next. */
static void pub_read(struct relay *r, int i)
{
	struct conn *c = &r->c[i];

	for (int turn = 0; turn < READS_PER_TURN; turn++) {
		struct iobuf_slice s[IOBUF_READV_POOLED_MAX];
		int kept = 0, rc = 0;
		ssize_t n;

		if (r->o.copy) {
			size_t cap = (size_t)r->o.max_message + RELAY_HDR + (size_t)r->o.burst * r->bufsize;

			do {
				n = read(c->fd, c->rbuf + c->rlen, cap - c->rlen);
			} while (n < 0 && errno == EINTR);
			if (n < 0)
				n = -errno;
			if (n > 0) {
				c->rlen += (size_t)n;
				rc = pub_parse_copy(r, c);
			}
		} else {
			n = iobuf_cache_readv(r->cache, c->fd, r->o.tier, s, r->o.burst, &kept);
			if (n == -ENOBUFS) {
				pub_starve(r, i);
				return;
			}
			for (int k = 0; k < kept; k++) {
				if (rc < 0) {
					(void)iobuf_cache_slice_put(r->cache, &s[k]);
					r->puts = true;
				} else {
					rc = pub_take(r, c, &s[k]);
				}
			}
		}
		flush_dirty(r);
		if (rc < 0) {
			pub_close(r, i, true);
			return;
		}
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return;
		if (n <= 0) {
			pub_close(r, i, false);
			return;
		}
	}
}

/* Read the starved publishers again: buffers came back. */
static void retry_starved(struct relay *r)
{
	r->puts = false;
	for (int i = 0; i < r->o.conns && r->nstarved > 0; i++) {
		struct conn *c = &r->c[i];

		if (c->fd < 0 || !c->starved)
			continue;
		c->starved = false;
		r->nstarved--;
		epoll_set(r, i, EPOLLIN | EPOLLRDHUP);
		pub_read(r, i);
	}
}

/* A subscriber's queue arrays: allocated on its slot's first subscriber, kept for the next. */
static int sub_init(struct relay *r, struct conn *c)
{
	if (!c->q) {
		c->q = calloc((size_t)r->qcap, sizeof(*c->q));
		c->mem = calloc((size_t)r->qcap, sizeof(*c->mem));
		c->fl = calloc((size_t)r->qcap, 1);
		if (!c->q || !c->mem || !c->fl)
			return -ENOMEM;
	}
	c->head = c->tail = 0;
	c->qbytes = 0;
	c->started = c->pollout = false;
	c->stuck_ns = 0;
	c->bytes_out = c->frames_out = c->laps = c->missed = 0;
	return 0;
}

/* The first byte of connection @i: its role. */
static void conn_hello(struct relay *r, int i)
{
	struct conn *c = &r->c[i];
	uint8_t role;
	ssize_t n = recv(c->fd, &role, 1, 0);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n == 1 && role == RELAY_ROLE_PUB) {
		c->role = ROLE_PUB;
		c->npend = 0;
		c->flen = c->fgot = 0;
		c->rlen = 0;
		r->pubs++;
		if (r->o.copy && !c->rbuf)
			c->rbuf = malloc((size_t)r->o.max_message + RELAY_HDR + (size_t)r->o.burst * r->bufsize);
		if (r->o.copy && !c->rbuf) {
			conn_free(r, i);
			return;
		}
		pub_read(r, i);
		return;
	}
	if (n == 1 && role == RELAY_ROLE_SUB && sub_init(r, c) == 0 && notice_tail(r, c, 0)) {
		c->role = ROLE_SUB;
		c->sprev = -1;
		c->snext = r->sub_head;
		if (r->sub_head >= 0)
			r->c[r->sub_head].sprev = i;
		r->sub_head = i;
		r->nsubs++;
		r->subs++;
		if (sub_flush(r, i) < 0)
			sub_close(r, i, END_PEER);
		return;
	}
	if (n == 1)
		r->bad_role++;
	if (c->q)
		for (int j = c->head; j < c->tail; j++)
			entry_drop(r, c, j);
	conn_free(r, i);
}

static void accept_all(struct relay *r)
{
	for (;;) {
		int fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1, i;
		struct epoll_event ev;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		for (i = 0; i < r->o.conns && r->c[i].fd >= 0; i++)
			;
		if (i == r->o.conns) {
			close(fd); /* every slot is taken */
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (r->o.sock_buffer > 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &r->o.sock_buffer, sizeof(r->o.sock_buffer));
		r->c[i].fd = fd;
		r->c[i].gen++;
		r->c[i].role = ROLE_NEW;
		r->c[i].starved = r->c[i].dirty = false;
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.u64 = (uint64_t)r->c[i].gen << 32 | (uint32_t)i;
		if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			r->c[i].fd = -1;
		}
	}
}

/* An event on connection @i. */
static void conn_event(struct relay *r, int i, uint32_t events)
{
	struct conn *c = &r->c[i];

	switch (c->role) {
	case ROLE_NEW:
		conn_hello(r, i);
		break;
	case ROLE_PUB:
		if (!c->starved)
			pub_read(r, i);
		break;
	case ROLE_SUB:
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			/* A subscriber sends nothing: bytes are a protocol error, the end its going. */
			uint8_t junk;
			ssize_t n = recv(c->fd, &junk, 1, MSG_PEEK);

			if (n != 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
				sub_close(r, i, n > 0 ? END_PROTOCOL : END_PEER);
				return;
			}
			if (n == 0) {
				sub_close(r, i, END_PEER);
				return;
			}
		}
		if (events & EPOLLOUT && sub_flush(r, i) < 0)
			sub_close(r, i, END_PEER);
		break;
	}
}

static void check_timeouts(struct relay *r)
{
	for (int i = r->sub_head; i >= 0;) {
		struct conn *c = &r->c[i];
		int next = c->snext;

		if (c->stuck_ns && r->now - c->stuck_ns >= r->write_ns)
			sub_close(r, i, END_TIMEOUT);
		i = next;
	}
	r->next_tick = r->now + r->tick_ns;
}

static int listen_socket(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd, one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int setup(struct relay *r)
{
	struct epoll_event ev;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	sigset_t sigs;
	int err = 0;

	r->bufsize = IOBUF_TIER_SIZE(r->o.tier);
	r->qcap = r->o.sub_buffers + PEND + 4;
	r->sub_head = r->dirty_head = -1;
	r->write_ns = (uint64_t)r->o.write_ms * MS;
	r->tick_ns = r->write_ns / 8 > MS ? r->write_ns / 8 : MS;
	r->c = calloc((size_t)r->o.conns, sizeof(*r->c));
	r->targets = calloc((size_t)r->o.conns, sizeof(*r->targets));
	if (!r->c || !r->targets)
		return -ENOMEM;
	for (int i = 0; i < r->o.conns; i++)
		r->c[i].fd = -1;
	if (!r->o.copy) {
		struct iobuf_set_config cfg;

		iobuf_set_config_default(&cfg);
		memset(cfg.capacity, 0, sizeof(cfg.capacity));
		cfg.capacity[r->o.tier] = r->o.buffers;
		/* Notices: one unsent per subscriber at most, and the welcome of each. */
		cfg.capacity[IOBUF_TIER_PICO] = (uint32_t)r->o.conns * 2 + 64;
		cfg.arena_flags = IOBUF_ARENA_PREFAULT;
		r->set = iobuf_set_create(&cfg, &err);
		if (!r->set)
			return err;
		r->cache = iobuf_cache_create(r->set, NULL, &err);
		if (!r->cache)
			return err;
	}
	r->setup_cpu_us = cpu_us_now(); /* the pool's prefault is setup, not delivery */
	r->lfd = listen_socket(r->o.port);
	if (r->lfd < 0)
		return r->lfd;
	getsockname(r->lfd, (struct sockaddr *)&sa, &len);
	r->o.port = ntohs(sa.sin_port);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	r->sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->sfd < 0 || r->epfd < 0)
		return -errno;
	ev.events = EPOLLIN;
	ev.data.u64 = EV_LISTEN;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->lfd, &ev) < 0)
		return -errno;
	ev.data.u64 = EV_SIGNAL;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->sfd, &ev) < 0)
		return -errno;
	return 0;
}

static int serve(struct relay *r)
{
	struct epoll_event evs[MAX_EVENTS];

	r->now = ex_now_ns();
	r->next_tick = r->now + r->tick_ns;
	for (;;) {
		int timeout = -1, n;

		if (r->write_ns && r->nsubs > 0)
			timeout = (int)((r->next_tick > r->now ? r->next_tick - r->now : 0) / MS) + 1;
		if (r->nstarved > 0)
			timeout = 1; /* buffers come back only as subscribers write: look again soon */
		n = epoll_wait(r->epfd, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		r->now = ex_now_ns();
		for (int e = 0; e < n; e++) {
			uint64_t d = evs[e].data.u64;
			int i = (int)(uint32_t)d;

			if (d == EV_SIGNAL)
				return 0;
			if (d == EV_LISTEN) {
				accept_all(r);
				continue;
			}
			if (r->c[i].fd < 0 || r->c[i].gen != (uint32_t)(d >> 32))
				continue; /* closed earlier in this batch */
			conn_event(r, i, evs[e].events);
		}
		flush_dirty(r);
		if (r->nstarved > 0 && (r->puts || n == 0))
			retry_starved(r);
		if (r->write_ns && r->now >= r->next_tick)
			check_timeouts(r);
	}
}

/* Close everything and print what happened; returns the exit status. */
static int report(struct relay *r)
{
	struct iobuf_set_stats st;
	struct rusage ru = {0};
	uint64_t in_use = 0, cached = 0, capacity = 0;
	long rss = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
	/* The relay's own CPU time since it started serving: what delivery costs, whatever limits the clients. */
	uint64_t cpu_us = cpu_us_now() - r->setup_cpu_us;
	int rc = 0;

	for (int i = 0; i < r->o.conns; i++) {
		if (r->c[i].fd < 0)
			continue;
		if (r->c[i].role == ROLE_SUB)
			sub_close(r, i, END_STOP);
		else if (r->c[i].role == ROLE_PUB)
			pub_close(r, i, false);
		else
			conn_free(r, i);
	}
	printf("RESULT mode=%s pubs=%" PRIu64 " subs=%" PRIu64 " msgs_in=%" PRIu64 " bytes_in=%" PRIu64
	       " bytes_out=%" PRIu64 " copies=%" PRIu64 " copies_per_msg=%.2f laps=%" PRIu64 " missed=%" PRIu64
	       " sub_timeouts=%" PRIu64 " sub_protocol=%" PRIu64 " bad_len=%" PRIu64 " bad_role=%" PRIu64
	       " cut=%" PRIu64 " enobufs=%" PRIu64 " errors=%" PRIu64 " peak_rss_kib=%ld cpu_us=%" PRIu64 "\n",
	       r->o.copy ? "copy" : "iobuf", r->pubs, r->subs, r->msgs_in, r->bytes_in, r->bytes_out, r->copies,
	       r->msgs_in ? (double)r->copies / (double)r->msgs_in : 0.0, r->laps, r->missed, r->sub_timeouts,
	       r->sub_protocol, r->bad_len, r->bad_role, r->cut, r->enobufs, r->errors, rss, cpu_us);
	if (r->errors)
		rc = 1;
	if (r->o.copy) {
		printf("relay_server: malloc: %" PRIu64 " copies of %" PRIu64 " bytes made, every one freed\n", r->copies,
		       r->copied_bytes);
		return rc;
	}
	iobuf_cache_destroy(r->cache);
	r->cache = NULL;
	fflush(stdout);
	iobuf_set_stats_print(r->set, stdout);
	iobuf_set_stats(r->set, &st);
	for (int t = 0; t < IOBUF_TIER_COUNT; t++) {
		in_use += st.tier[t].in_use;
		cached += st.tier[t].cached;
		capacity += st.tier[t].capacity;
	}
	if (in_use || cached) {
		printf("relay_server: LEAK: in_use %" PRIu64 ", cached %" PRIu64 "\n", in_use, cached);
		rc = 1;
	} else {
		printf("relay_server: all %" PRIu64 " buffers back (in_use 0)\n", capacity);
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct relay r = {0};
	int err, rc;

	parse_options(argc, argv, &r.o);
	signal(SIGPIPE, SIG_IGN);
	err = setup(&r);
	if (err < 0) {
		fprintf(stderr, "relay_server: setup: %s\n", iobuf_strerror(err));
		return 1;
	}
	printf("relay_server: listening on 127.0.0.1:%d, %s, %s buffers of %zu B, per subscriber %d buffers / %zu KiB, "
	       "write timeout %ld ms\n",
	       r.o.port, r.o.copy ? "copy per subscriber (malloc)" : "zero copy (iobuf)",
	       r.o.copy ? "read into malloc'd" : "pooled", r.bufsize, r.o.sub_buffers, r.o.sub_bytes / 1024,
	       r.o.write_ms);
	fflush(stdout);
	if (r.o.port_file && (err = ex_write_port_file(r.o.port_file, r.o.port)) < 0) {
		fprintf(stderr, "relay_server: %s: %s\n", r.o.port_file, iobuf_strerror(err));
		return 1;
	}
	err = serve(&r);
	if (err < 0)
		fprintf(stderr, "relay_server: epoll_wait: %s\n", iobuf_strerror(err));
	rc = report(&r);
	for (int i = 0; i < r.o.conns; i++) {
		free(r.c[i].q);
		free(r.c[i].mem);
		free(r.c[i].fl);
		free(r.c[i].rbuf);
	}
	free(r.c);
	free(r.targets);
	close(r.lfd);
	close(r.sfd);
	close(r.epfd);
	iobuf_set_destroy(r.set);
	return err < 0 ? 1 : rc;
}
