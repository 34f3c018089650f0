/* SPDX-License-Identifier: MIT */
/*
 * echo_server.c - a TCP echo server on iobuf, as iobuf is meant to be used.
 *
 *   echo_server [--port N] [--port-file FILE] [--threads N] [--tier NAME]
 *               [--buffers N] [--burst K] [--conns N] [--conn-buffers N]
 *               [--write-timeout MS] [--idle-timeout MS] [--sock-buffer B]
 *               [--malloc] [--huge] [--uring [--zc]]
 *
 * Each worker thread runs its own edge-triggered epoll loop over
 * non-blocking sockets (one SO_REUSEPORT listener per worker); all workers
 * share one iobuf set, whose pools are lock-free, and each takes and puts
 * its buffers through its own iobuf_cache.
 *
 * The data path of a connection:
 *   - iobuf_account_readv() scatters one readv(2) into up to --burst fresh
 *     buffers of the chosen tier, got through the worker's cache and
 *     charged to the connection's account, and returns slices of the ones
 *     that received bytes;
 *   - iobuf_iov_from_slices() describes them as the connection's output
 *     iovec queue;
 *   - iobuf_writev_full() writes the queue; after a short write the queue
 *     is already advanced (iobuf_iov_advance()) and the rest waits for
 *     EPOLLOUT;
 *   - every buffer is put back through the cache the moment its last byte
 *     is written.
 * Nothing is allocated per connection or per read: the connection table is
 * allocated once at start (--threads x --conns slots), and the bytes live
 * in the pool.
 *
 * Reading.  A connection is read until readv(2) says EAGAIN: under
 * edge-triggered epoll a short read does not prove the socket empty (a
 * read stops at TCP's urgent mark, with bytes behind it).  Sockets have
 * SO_OOBINLINE: an urgent byte (MSG_OOB) stays in the stream and is echoed
 * in place as an ordinary byte; the urgent mark itself is not reproduced.
 * A connection reads at most --burst buffers per readv and 8 readv calls
 * in a row; then the others of the batch have their turn and it resumes
 * after them.
 *
 * Bounds.  A connection holds at most --conn-buffers buffers of queued
 * output (default 16, at most an eighth of --buffers): each connection
 * slot has an iobuf account (iobuf/account.h) with that quota, so a read
 * beyond it is refused (-EDQUOT) and the put of a written buffer, by any
 * path, gives the room back (with --malloc the server counts).  At its bound it
 * stops reading until its peer drains some: its bytes wait in the kernel's
 * socket buffers (TCP flow control tells its peer to stop), nothing is
 * dropped, and the rest of the pool stays free for everyone else.  Those
 * socket buffers are capped too (--sock-buffer, 256 KiB each way; the
 * kernel's autotuning would let a peer that never reads pin megabytes).
 * A peer that does not drain any of its queued output for --write-timeout
 * ms is closed and its buffers are put back; a connection with nothing
 * queued that neither sends nor receives for --idle-timeout ms is closed
 * too.  Timeouts are checked on a tick of an eighth of the shorter one (at
 * most a second).  More stalled peers than --buffers / --conn-buffers can
 * still empty the tier (see backpressure below), until the write timeout
 * closes them.
 *
 * Admission.  All workers share one table of --threads x --conns slots:
 * whichever worker accepts a connection takes any free slot (a short mutex
 * on accept and close, which are not the hot path).  A connection is
 * refused (closed at once) only when every slot is taken.
 *
 * Backpressure on the pool: when the tier is empty (-ENOBUFS) the
 * connection stops reading and joins the worker's starved list; it is read
 * again after the worker has put buffers back (with several workers, also
 * every millisecond while the list is not empty, since buffers may come
 * back on another thread, and a worker about to sleep flushes its cache
 * so that its free buffers are not hidden from the others).  A starved
 * connection is not idle.
 *
 * --malloc runs the same loop with malloc(3)/free(3) buffers of the same
 * size instead of the pool: the baseline that `make demo` compares with.
 *
 * --uring runs the echo on io_uring instead, on one thread
 * (examples/echo_uring.c): multishot receives into buffers the kernel
 * picks from a provided-buffer ring fed from the tier, writes from the
 * registered arena (write_fixed), or with --zc zero-copy sends that hold
 * each buffer until the kernel's notification.  --uring --malloc is the
 * io_uring baseline, as liburing's examples do it: one malloc'd group of
 * --buffers buffers (rounded down to a power of two, at most 32768),
 * each added back to its ring by hand once echoed.  The same bounds and
 * timeouts hold (--conn-buffers, --write-timeout, --idle-timeout); --burst
 * and --threads do not apply.
 *
 * SIGUSR1: main prints one line, "echo_server: snapshot N: C connections,
 * in_use U free F cached K of CAP buffers", from calls that are safe while
 * the workers run (the pool's statistics, the table's count).
 *
 * SIGINT or SIGTERM: the workers close every connection (putting its
 * buffers back) and destroy their caches, the server prints its counters,
 * iobuf_set_stats_print() and its peak RSS, and exits 1 if any buffer is
 * not back (in_use or cached != 0).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <iobuf.h>
#include <iobuf/uring.h>

#include "echo_uring.h"
#include "common.h"

#define QMAX 64          /* most buffers a connection may be given (--conn-buffers) */
#define READS_PER_TURN 8 /* readv calls on one connection before the others' turn */
#define MAX_EVENTS 256
#define EV_LISTEN UINT64_MAX
#define EV_STOP (UINT64_MAX - 1)
#define MS UINT64_C(1000000) /* nanoseconds */

struct options {
	const char *bind_addr;
	const char *port_file;
	int port;
	int threads;
	int conns;              /* connection slots per worker; the table holds threads x conns */
	int conn_buffers;       /* most buffers of queued output per connection; 0: the default */
	long write_ms, idle_ms; /* 0: never */
	int sock_buffer;        /* SO_RCVBUF and SO_SNDBUF of every connection; 0: the kernel's autotuning */
	int tier;
	uint32_t buffers;
	int burst;
	bool use_malloc;
	bool use_uring;
	bool zc;
	bool huge;
	bool quiet;
};

/*
 * One slot of the table.  A live slot belongs to the worker that accepted
 * its connection: only that worker touches its fields.  free_next is the
 * server's free list under srv->lock, and the owner's list of the slots it
 * closed in this round before they go back there.
 */
struct conn {
	int fd;           /* -1: free slot */
	uint32_t gen;     /* bumped at each accept into this slot: epoll data carries it */
	bool readable;    /* an EPOLLIN edge not yet read down to EAGAIN */
	bool eof;         /* read returned 0: close once the queue is written */
	bool starved;     /* on the starved list */
	bool again;       /* on the again list: its turn ended before EAGAIN */
	int prev, next;   /* starved list links */
	int again_next;   /* again list link */
	int lprev, lnext; /* the owner's list of its connections */
	int free_next;
	int head, tail;     /* queued output: h[] and iov[] from head to tail */
	uint64_t active_ns; /* when a byte was last read or written */
	uint64_t stuck_ns;  /* 0: nothing queued; else since when the queued output has not moved */
	uint64_t h[QMAX];   /* iobuf handles; with --malloc, the malloc'd pointers */
	struct iovec iov[QMAX];
	struct iobuf_account *acct; /* the slot's account: at most --conn-buffers buffers charged (pooled only) */
};

struct server;

struct worker {
	struct server *srv;
	int id;
	int epfd, lfd, stopfd;
	pthread_t thread;
	struct iobuf_cache *cache; /* NULL with --malloc */
	uint64_t now;              /* CLOCK_MONOTONIC ns, read after each epoll_wait */
	uint64_t next_tick;        /* when to look at the timeouts next */
	int live_head;             /* this worker's connections */
	int nlive;
	int starved_head, starved_tail;
	int again_head, again_tail;
	int closed_head, closed_tail, nclosed; /* closed this round, slots not yet free */
	bool puts_since_retry;
	/* Counters, read by main after join. */
	uint64_t accepted, refused, closed_err, closed_stuck, closed_idle, bytes, stalls, put_errors;
	uint64_t mallocs, frees;
	int cached_at_exit; /* free buffers its cache held when destroyed */
};

struct server {
	struct options o;
	struct iobuf_set *set; /* NULL with --malloc */
	size_t bufsize;
	uint64_t write_ns, idle_ns, tick_ns; /* 0: never */
	struct worker *w;
	int port;
	/* The connection table, shared by the workers. */
	struct conn *conns;
	int nslots;
	pthread_mutex_t lock; /* guards free_head, live, live_peak and the free_next links of free slots */
	int free_head;
	int live, live_peak;
};

enum close_why { CLOSE_DONE, CLOSE_ERROR, CLOSE_STUCK, CLOSE_IDLE };

static void usage(FILE *out)
{
	fprintf(out, "usage: echo_server [options]\n"
		     "  -p, --port N           TCP port on the loopback (0: any free port; default 0)\n"
		     "  -b, --bind ADDR        IPv4 address to listen on (default 127.0.0.1)\n"
		     "  -f, --port-file F      write the port there once listening\n"
		     "  -t, --threads N        worker threads, each with its own epoll and cache (default 1)\n"
		     "  -T, --tier NAME        tier of the read buffers, PICO..GIANT or 0..7 (default MEDIUM)\n"
		     "  -n, --buffers N        buffers in that tier (default 4096)\n"
		     "  -k, --burst K          buffers one readv fills at most, 1..64 (default 16)\n"
		     "  -c, --conns N          connection slots per worker; the server holds threads x N\n"
		     "                         connections in one table (default 1024)\n"
		     "  -B, --conn-buffers N   most buffers one connection holds, 1..%d; at its bound it\n"
		     "                         stops reading (default 16, at most an eighth of --buffers)\n"
		     "  -W, --write-timeout MS close a connection whose peer drains none of its queued\n"
		     "                         output for MS ms (default 10000; 0: never)\n"
		     "  -I, --idle-timeout MS  close a connection that neither sends nor receives for MS ms\n"
		     "                         (default 30000; 0: never)\n"
		     "  -S, --sock-buffer B    SO_RCVBUF and SO_SNDBUF of every connection (default 262144;\n"
		     "                         0: the kernel's autotuning, megabytes per stalled peer)\n"
		     "  -m, --malloc           malloc/free buffers instead of the pool (the baseline)\n"
		     "  -U, --uring            one thread on io_uring: multishot receives into buffers the\n"
		     "                         kernel picks from a ring fed from the tier, writes from the\n"
		     "                         registered arena (examples/echo_uring.c); with --malloc,\n"
		     "                         one malloc'd group recycled by hand, as liburing's examples do\n"
		     "  -Z, --zc               with --uring: zero-copy sends (IORING_OP_SEND_ZC), each buffer\n"
		     "                         put when the kernel's notification says it is no longer read\n"
		     "  -H, --huge             back the pool with huge pages when the system has them\n"
		     "  -q, --quiet            no per-connection error messages\n",
		QMAX);
}

/* A number from the command line, or exit(2) with a message. */
static long parse_long(const char *s, long lo, long hi, const char *what)
{
	return ex_parse_long("echo_server", s, 0, lo, hi, what);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{"port", required_argument, NULL, 'p'},    {"bind", required_argument, NULL, 'b'},
		{"port-file", required_argument, NULL, 'f'}, {"threads", required_argument, NULL, 't'},
		{"tier", required_argument, NULL, 'T'},    {"buffers", required_argument, NULL, 'n'},
		{"burst", required_argument, NULL, 'k'},   {"conns", required_argument, NULL, 'c'},
		{"conn-buffers", required_argument, NULL, 'B'}, {"write-timeout", required_argument, NULL, 'W'},
		{"idle-timeout", required_argument, NULL, 'I'}, {"sock-buffer", required_argument, NULL, 'S'},
		{"malloc", no_argument, NULL, 'm'},        {"huge", no_argument, NULL, 'H'},
		{"uring", no_argument, NULL, 'U'},         {"zc", no_argument, NULL, 'Z'},
		{"quiet", no_argument, NULL, 'q'},         {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	*o = (struct options){
		.bind_addr = "127.0.0.1",
		.threads = 1,
		.conns = 1024,
		.write_ms = 10000,
		.idle_ms = 30000,
		.sock_buffer = 256 * 1024,
		.tier = IOBUF_TIER_MEDIUM,
		.buffers = 4096,
		.burst = 16,
	};
	while ((ch = getopt_long(argc, argv, "p:b:f:t:T:n:k:c:B:W:I:S:mUZHqh", longs, NULL)) != -1) {
		switch (ch) {
		case 'p': o->port = (int)parse_long(optarg, 0, 65535, "--port"); break;
		case 'b': o->bind_addr = optarg; break;
		case 'f': o->port_file = optarg; break;
		case 't': o->threads = (int)parse_long(optarg, 1, 64, "--threads"); break;
		case 'T':
			o->tier = ex_parse_tier(optarg, 0);
			if (o->tier < 0) {
				fprintf(stderr, "echo_server: unknown tier '%s' (PICO..GIANT or 0..7)\n", optarg);
				exit(2);
			}
			break;
		case 'n': o->buffers = (uint32_t)parse_long(optarg, 1, IOBUF_POOL_MAX_CAPACITY, "--buffers"); break;
		case 'k': o->burst = (int)parse_long(optarg, 1, IOBUF_READV_POOLED_MAX, "--burst"); break;
		case 'c': o->conns = (int)parse_long(optarg, 1, 1 << 20, "--conns"); break;
		case 'B': o->conn_buffers = (int)parse_long(optarg, 1, QMAX, "--conn-buffers"); break;
		case 'W': o->write_ms = parse_long(optarg, 0, 86400000, "--write-timeout"); break;
		case 'I': o->idle_ms = parse_long(optarg, 0, 86400000, "--idle-timeout"); break;
		case 'S': o->sock_buffer = (int)parse_long(optarg, 0, 1 << 30, "--sock-buffer"); break;
		case 'm': o->use_malloc = true; break;
		case 'U': o->use_uring = true; break;
		case 'Z': o->zc = true; break;
		case 'H': o->huge = true; break;
		case 'q': o->quiet = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
	if (o->zc && (!o->use_uring || o->use_malloc)) {
		fprintf(stderr, "echo_server: --zc sends from the pool on io_uring: it needs --uring, not --malloc\n");
		exit(2);
	}
	if ((long)o->threads * o->conns > 1 << 20) {
		fprintf(stderr, "echo_server: --threads x --conns must be at most %d\n", 1 << 20);
		exit(2);
	}
	if (o->conn_buffers == 0) {
		/* 16 (a full default burst), but never more than an eighth of the tier. */
		uint32_t eighth = o->buffers / 8 > 0 ? o->buffers / 8 : 1;

		o->conn_buffers = eighth < 16 ? (int)eighth : 16;
	}
	if (o->burst > o->conn_buffers)
		o->burst = o->conn_buffers;
}

/* ---- buffers: the pool through the worker's cache, or malloc with --malloc ---- */

/* Give back @n buffers of @hs (handles, or malloc'd pointers). */
static void bufs_release(struct worker *w, const uint64_t *hs, int n)
{
	int rc;

	if (n <= 0)
		return;
	if (w->srv->o.use_malloc) {
		for (int i = 0; i < n; i++)
			free((void *)(uintptr_t)hs[i]);
		w->frees += (uint64_t)n;
		return;
	}
	rc = iobuf_cache_put_bulk(w->cache, hs, n);
	if (rc < 0) {
		fprintf(stderr, "echo_server: iobuf_cache_put_bulk: %s\n", iobuf_strerror(rc));
		w->put_errors++;
	}
	w->puts_since_retry = true;
}

/*
 * iobuf_account_readv() through the worker's cache, charged to @c's
 * account: up to @k fresh buffers of the tier, as many as the tier and the
 * connection's quota allow, one readv(2); the buffers that received bytes
 * go to @hs and @iov (*@kept; the last one's iov_len is what it holds).
 * Returns the bytes read, 0 at end of file, -ENOBUFS (the tier is empty),
 * -EDQUOT (the connection holds its bound), or -errno of readv.
 */
static ssize_t cache_readv(struct worker *w, struct conn *c, iobuf_handle_t *hs, struct iovec *iov, int k, int *kept)
{
	const struct server *s = w->srv;
	struct iobuf_slice sl[QMAX];
	ssize_t r = iobuf_account_readv(c->acct, w->cache, c->fd, s->o.tier, sl, k, kept);

	/* Cannot fail: the slices are live and ours. */
	if (r > 0 && iobuf_iov_from_slices(s->set, sl, *kept, iov) != *kept)
		abort();
	for (int i = 0; r > 0 && i < *kept; i++)
		hs[i] = sl[i].h; /* each slice covers its buffer from 0: its holder is the handle's */
	return r;
}

/*
 * Read from @c into at most @k fresh buffers appended to its queue.
 * Returns the bytes read, 0 at end of file, -ENOBUFS, or -errno of readv.
 */
static ssize_t conn_read(struct worker *w, struct conn *c, int k)
{
	const struct server *s = w->srv;
	struct iovec *iov = &c->iov[c->tail];
	int kept = 0;
	ssize_t r;

	if (!s->o.use_malloc) {
		r = cache_readv(w, c, &c->h[c->tail], iov, k, &kept);
		c->tail += kept;
		return r;
	}

	/* The baseline: the same reads into buffers from malloc. */
	for (int i = 0; i < k; i++) {
		void *p = malloc(s->bufsize);

		if (!p) {
			k = i;
			break;
		}
		iov[i].iov_base = p;
		iov[i].iov_len = s->bufsize;
		c->h[c->tail + i] = (uintptr_t)p;
	}
	if (k == 0)
		return -ENOBUFS;
	w->mallocs += (uint64_t)k;
	do {
		r = readv(c->fd, iov, k);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		r = -errno;
	kept = r > 0 ? (int)(((size_t)r + s->bufsize - 1) / s->bufsize) : 0;
	bufs_release(w, &c->h[c->tail + kept], k - kept);
	if (kept > 0)
		iov[kept - 1].iov_len = (size_t)r - (size_t)(kept - 1) * s->bufsize;
	c->tail += kept;
	return r;
}

/*
 * Write @c's queue; put each buffer back once its last byte is written.
 * Returns 0 (all written, or the socket is full: EPOLLOUT resumes), or a
 * negative errno on a write error.
 */
static int conn_flush(struct worker *w, struct conn *c)
{
	struct iovec *cur = &c->iov[c->head];
	int cnt = c->tail - c->head, done, stop = 0;
	ssize_t n;

	if (cnt == 0)
		return 0;
	/* A socket: the send that cannot raise SIGPIPE, and why it stopped. */
	n = iobuf_sendv_full(c->fd, &cur, &cnt, &stop);
	/* cur is at the first byte not written; a partly written buffer was trimmed in place. */
	done = (int)(cur - c->iov);
	bufs_release(w, &c->h[c->head], done - c->head);
	c->head = done;
	if (n > 0) {
		w->bytes += (uint64_t)n;
		c->active_ns = w->now;
	}
	if (c->head == c->tail) {
		c->head = c->tail = 0;
		c->stuck_ns = 0;
	} else if (n > 0 || c->stuck_ns == 0) {
		c->stuck_ns = w->now; /* the write timeout runs from the last byte the peer took */
	}
	if (n < 0)
		return n == -EAGAIN ? 0 : (int)n;
	return stop == -EAGAIN ? 0 : stop;
}

static void starved_add(struct worker *w, int i)
{
	struct conn *c = &w->srv->conns[i];

	c->starved = true;
	c->next = -1;
	c->prev = w->starved_tail;
	if (w->starved_tail >= 0)
		w->srv->conns[w->starved_tail].next = i;
	else
		w->starved_head = i;
	w->starved_tail = i;
	w->stalls++;
}

static void starved_del(struct worker *w, int i)
{
	struct conn *conns = w->srv->conns, *c = &conns[i];

	if (!c->starved)
		return;
	if (c->prev >= 0)
		conns[c->prev].next = c->next;
	else
		w->starved_head = c->next;
	if (c->next >= 0)
		conns[c->next].prev = c->prev;
	else
		w->starved_tail = c->prev;
	c->starved = false;
	c->prev = c->next = -1;
}

static void again_del(struct worker *w, int i)
{
	struct conn *conns = w->srv->conns;
	int *link = &w->again_head, prev = -1;

	if (!conns[i].again)
		return;
	while (*link != i) {
		prev = *link;
		link = &conns[*link].again_next;
	}
	*link = conns[i].again_next;
	if (w->again_tail == i)
		w->again_tail = prev;
	conns[i].again = false;
}

/* Queue @i to be served again after this batch (its turn ended with bytes left to read). */
static void again_add(struct worker *w, int i)
{
	struct conn *c = &w->srv->conns[i];

	if (c->again)
		return;
	c->again = true;
	c->again_next = -1;
	if (w->again_tail >= 0)
		w->srv->conns[w->again_tail].again_next = i;
	else
		w->again_head = i;
	w->again_tail = i;
}

static void conn_close(struct worker *w, int i, enum close_why why, int err)
{
	struct conn *conns = w->srv->conns, *c = &conns[i];

	if (why == CLOSE_ERROR && err != -ECONNRESET && err != -EPIPE && !w->srv->o.quiet)
		fprintf(stderr, "echo_server: connection %d: %s\n", i, iobuf_strerror(err));
	switch (why) {
	case CLOSE_ERROR: w->closed_err++; break;
	case CLOSE_STUCK: w->closed_stuck++; break;
	case CLOSE_IDLE: w->closed_idle++; break;
	case CLOSE_DONE: break;
	}
	bufs_release(w, &c->h[c->head], c->tail - c->head);
	c->head = c->tail = 0;
	starved_del(w, i);
	again_del(w, i);
	close(c->fd);
	c->fd = -1;
	/* Off the worker's list of connections. */
	if (c->lprev >= 0)
		conns[c->lprev].lnext = c->lnext;
	else
		w->live_head = c->lnext;
	if (c->lnext >= 0)
		conns[c->lnext].lprev = c->lprev;
	w->nlive--;
	/*
	 * The slot stays this worker's until the end of the round: events of
	 * this batch may still name it (and are skipped by its fd), so no
	 * other worker may take it before then.
	 */
	c->free_next = -1;
	if (w->closed_tail >= 0)
		conns[w->closed_tail].free_next = i;
	else
		w->closed_head = i;
	w->closed_tail = i;
	w->nclosed++;
}

/* Give the slots closed this round back to the server's table. */
static void slots_release(struct worker *w)
{
	struct server *s = w->srv;

	if (w->closed_head < 0)
		return;
	pthread_mutex_lock(&s->lock);
	s->conns[w->closed_tail].free_next = s->free_head;
	s->free_head = w->closed_head;
	s->live -= w->nclosed;
	pthread_mutex_unlock(&s->lock);
	w->closed_head = w->closed_tail = -1;
	w->nclosed = 0;
}

/* Echo what @c has to give, as far as the socket, its bound and the pool let us. */
static void conn_serve(struct worker *w, int i)
{
	const struct server *s = w->srv;
	struct conn *c = &s->conns[i];
	int reads = 0;

	for (;;) {
		int rc = conn_flush(w, c), k;
		ssize_t r;

		if (rc < 0) {
			conn_close(w, i, CLOSE_ERROR, rc);
			return;
		}
		if (c->eof) {
			if (c->head == c->tail)
				conn_close(w, i, CLOSE_DONE, 0);
			return;
		}
		/* Pooled, the connection's account holds it to its bound (-EDQUOT below); malloc'd, we count. */
		k = s->o.use_malloc ? s->o.conn_buffers - (c->tail - c->head) : QMAX - (c->tail - c->head);
		if (!c->readable || k <= 0)
			return; /* nothing to read, or the connection holds its bound: EPOLLOUT brings us back */
		if (reads++ == READS_PER_TURN) {
			again_add(w, i); /* still readable: the others of the batch first */
			return;
		}
		if (k > s->o.burst)
			k = s->o.burst;
		if (QMAX - c->tail < k) {
			int n = c->tail - c->head;

			memmove(c->h, c->h + c->head, (size_t)n * sizeof(c->h[0]));
			memmove(c->iov, c->iov + c->head, (size_t)n * sizeof(c->iov[0]));
			c->head = 0;
			c->tail = n;
		}
		r = conn_read(w, c, k);
		if (r == -EDQUOT)
			return; /* at its bound: EPOLLOUT brings us back once its output moves */
		if (r == -ENOBUFS) {
			/* The tier is empty: stop reading this connection until buffers come back. */
			if (!c->starved)
				starved_add(w, i);
			return;
		}
		if (c->starved)
			starved_del(w, i);
		if (r == -EAGAIN || r == -EWOULDBLOCK) {
			c->readable = false;
			continue; /* the loop ends at the readable test, after one more flush */
		}
		if (r == 0) {
			c->eof = true;
			continue;
		}
		if (r < 0) {
			conn_close(w, i, CLOSE_ERROR, (int)r);
			return;
		}
		/* Read on until EAGAIN, even after a short read: it may have stopped at the urgent mark. */
		c->active_ns = w->now;
	}
}

static void retry_starved(struct worker *w)
{
	int i = w->starved_head, last = w->starved_tail;

	w->puts_since_retry = false;
	/* Each one at most once: a connection that starves again goes to the tail. */
	while (i >= 0) {
		int next = w->srv->conns[i].next;
		bool end = i == last;

		starved_del(w, i);
		conn_serve(w, i);
		if (end)
			break;
		i = next;
	}
}

static void serve_again(struct worker *w)
{
	int last = w->again_tail;

	/* Each one at most once: a connection whose turn ends again goes to the tail. */
	while (w->again_head >= 0) {
		int i = w->again_head;
		struct conn *c = &w->srv->conns[i];
		bool end = i == last;

		w->again_head = c->again_next;
		if (w->again_head < 0)
			w->again_tail = -1;
		c->again = false;
		conn_serve(w, i);
		if (end)
			break;
	}
}

/* Close the connections whose peer stopped draining, or that have been idle too long. */
static void check_timeouts(struct worker *w)
{
	const struct server *s = w->srv;
	int i = w->live_head;

	while (i >= 0) {
		struct conn *c = &s->conns[i];
		int next = c->lnext;

		if (s->write_ns && c->stuck_ns && w->now - c->stuck_ns >= s->write_ns)
			conn_close(w, i, CLOSE_STUCK, 0);
		else if (s->idle_ns && c->head == c->tail && !c->starved && w->now - c->active_ns >= s->idle_ns)
			conn_close(w, i, CLOSE_IDLE, 0);
		i = next;
	}
	w->next_tick = w->now + s->tick_ns;
}

/* A free slot of the table, or -1 when the server is full. */
static int slot_take(struct server *s)
{
	int i;

	pthread_mutex_lock(&s->lock);
	i = s->free_head;
	if (i >= 0) {
		s->free_head = s->conns[i].free_next;
		if (++s->live > s->live_peak)
			s->live_peak = s->live;
	}
	pthread_mutex_unlock(&s->lock);
	return i;
}

static void accept_all(struct worker *w)
{
	struct server *s = w->srv;

	for (;;) {
		int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1, i;
		struct epoll_event ev;
		struct conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fprintf(stderr, "echo_server: accept: %s\n", strerror(errno));
			return;
		}
		i = slot_take(s);
		if (i < 0) {
			close(fd); /* every slot of the server is taken */
			w->refused++;
			continue;
		}
		c = &s->conns[i];
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* Urgent bytes stay in the stream: they are echoed in place. */
		setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
		c->fd = fd;
		c->gen++;
		c->readable = c->eof = c->starved = c->again = false;
		c->prev = c->next = c->again_next = -1;
		c->head = c->tail = 0;
		c->active_ns = w->now;
		c->stuck_ns = 0;
		c->lprev = -1;
		c->lnext = w->live_head;
		if (w->live_head >= 0)
			s->conns[w->live_head].lprev = i;
		w->live_head = i;
		w->nlive++;
		ev.events = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET;
		ev.data.u64 = (uint64_t)c->gen << 32 | (uint32_t)i;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			int err = -errno;

			fprintf(stderr, "echo_server: epoll_ctl: %s\n", iobuf_strerror(err));
			conn_close(w, i, CLOSE_ERROR, err);
			continue;
		}
		w->accepted++;
	}
}

/* How long epoll_wait may sleep, in ms (-1: until an event). */
static int wait_ms(const struct worker *w)
{
	const struct server *s = w->srv;
	int ms = -1;

	if (w->again_head >= 0)
		return 0;
	/* With other workers, buffers also come back on their threads: look again each ms. */
	if (w->starved_head >= 0 && s->o.threads > 1)
		ms = 1;
	if (w->nlive > 0 && s->tick_ns) {
		uint64_t left = w->next_tick > w->now ? w->next_tick - w->now : 0;
		int t = (int)((left + MS - 1) / MS);

		if (ms < 0 || t < ms)
			ms = t;
	}
	return ms;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct server *s = w->srv;
	struct epoll_event evs[MAX_EVENTS];
	bool stop = false;

	w->now = ex_now_ns();
	w->next_tick = w->now + s->tick_ns;
	while (!stop) {
		int timeout = wait_ms(w), n;

		n = epoll_wait(w->epfd, evs, MAX_EVENTS, timeout != 0 && w->cache && s->o.threads > 1 ? 0 : timeout);
		if (n == 0 && timeout != 0 && w->cache && s->o.threads > 1) {
			/* About to sleep: free buffers in our cache would be hidden from the other workers. */
			if (iobuf_cache_count(w->cache, s->o.tier) > 0)
				iobuf_cache_flush(w->cache);
			n = epoll_wait(w->epfd, evs, MAX_EVENTS, timeout);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "echo_server: epoll_wait: %s\n", strerror(errno));
			break;
		}
		w->now = ex_now_ns();
		for (int e = 0; e < n; e++) {
			uint64_t d = evs[e].data.u64;
			struct conn *c;
			int i;

			if (d == EV_STOP) {
				stop = true;
				continue;
			}
			if (d == EV_LISTEN) {
				accept_all(w);
				continue;
			}
			i = (int)(uint32_t)d;
			c = &s->conns[i];
			if (c->fd < 0 || c->gen != (uint32_t)(d >> 32))
				continue; /* closed earlier in this batch */
			if (evs[e].events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				c->readable = true;
			conn_serve(w, i);
		}
		if (w->again_head >= 0)
			serve_again(w);
		if (w->starved_head >= 0 && (w->puts_since_retry || n == 0))
			retry_starved(w);
		if (s->tick_ns && w->now >= w->next_tick)
			check_timeouts(w);
		slots_release(w);
	}
	while (w->live_head >= 0)
		conn_close(w, w->live_head, CLOSE_DONE, 0);
	slots_release(w);
	/* Every buffer this worker cached goes back to the pool before main counts them. */
	if (w->cache)
		w->cached_at_exit = iobuf_cache_count(w->cache, s->o.tier);
	iobuf_cache_destroy(w->cache);
	w->cache = NULL;
	return NULL;
}

/* ---- setup ------------------------------------------------------------- */

/* A listener; its connections inherit @sockbuf (> 0) as SO_RCVBUF and SO_SNDBUF, set before listen(2). */
static int listen_socket(const char *addr, int port, int sockbuf)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd, one = 1;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "echo_server: --bind: not an IPv4 address: %s\n", addr);
		return -EINVAL;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (sockbuf > 0 && (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sockbuf, sizeof(sockbuf)) < 0 ||
			     setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sockbuf, sizeof(sockbuf)) < 0)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int worker_init(struct server *s, struct worker *w, int id, int lfd)
{
	struct epoll_event ev;
	int err = 0;

	memset(w, 0, sizeof(*w));
	w->srv = s;
	w->id = id;
	w->lfd = lfd;
	w->live_head = w->starved_head = w->starved_tail = w->again_head = w->again_tail = -1;
	w->closed_head = w->closed_tail = -1;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->stopfd < 0)
		return -errno;
	if (!s->o.use_malloc) {
		/* The worker's own cache: handed to its thread by pthread_create(), destroyed there. */
		w->cache = iobuf_cache_create(s->set, NULL, &err);
		if (!w->cache)
			return err;
	}
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = EV_LISTEN;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
		return -errno;
	ev.events = EPOLLIN;
	ev.data.u64 = EV_STOP;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->stopfd, &ev) < 0)
		return -errno;
	return 0;
}

static void worker_fini(struct worker *w)
{
	if (w->lfd >= 0)
		close(w->lfd);
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->stopfd >= 0)
		close(w->stopfd);
	iobuf_cache_destroy(w->cache);
}

/* The connection table: allocated once, here; nothing per connection later. */
static int table_init(struct server *s)
{
	s->nslots = s->o.threads * s->o.conns;
	s->conns = calloc((size_t)s->nslots, sizeof(*s->conns));
	if (!s->conns)
		return -ENOMEM;
	for (int i = 0; i < s->nslots; i++) {
		s->conns[i].fd = -1;
		s->conns[i].free_next = i + 1 < s->nslots ? i + 1 : -1;
		if (s->set) {
			/* One account per connection slot, made once: the quota of whichever connection holds the slot. */
			struct iobuf_account_config acfg = {0};
			int err;

			acfg.max_buffers[s->o.tier] = (uint32_t)s->o.conn_buffers;

			s->conns[i].acct = iobuf_account_create(s->set, &acfg, &err);
			if (!s->conns[i].acct)
				return err;
		}
	}
	s->free_head = 0;
	return -pthread_mutex_init(&s->lock, NULL);
}

/* SIGUSR1: the state of the server while it runs. */
static void snapshot(struct server *s, unsigned n)
{
	struct iobuf_set_stats st;
	int live;

	pthread_mutex_lock(&s->lock);
	live = s->live;
	pthread_mutex_unlock(&s->lock);
	if (s->set && iobuf_set_stats(s->set, &st) == 0) {
		const struct iobuf_pool_stats *t = &st.tier[s->o.tier];

		printf("echo_server: snapshot %u: %d connections, in_use %" PRIu32 " free %" PRIu32 " cached %" PRIu32
		       " of %" PRIu32 " buffers\n",
		       n, live, t->in_use, t->free, t->cached, t->capacity);
	} else {
		printf("echo_server: snapshot %u: %d connections\n", n, live);
	}
	fflush(stdout);
}

/* Print what the workers did and the pool; returns 0 when every buffer is back. */
static int report(struct server *s, int sig)
{
	uint64_t accepted = 0, refused = 0, errs = 0, stuck = 0, idle = 0, bytes = 0, stalls = 0, put_errors = 0;
	uint64_t mallocs = 0, frees = 0;
	struct rusage ru;
	int rc = 0, cached_at_exit = 0;

	for (int t = 0; t < s->o.threads; t++) {
		const struct worker *w = &s->w[t];

		accepted += w->accepted;
		refused += w->refused;
		errs += w->closed_err;
		stuck += w->closed_stuck;
		idle += w->closed_idle;
		bytes += w->bytes;
		stalls += w->stalls;
		put_errors += w->put_errors;
		mallocs += w->mallocs;
		frees += w->frees;
		cached_at_exit += w->cached_at_exit;
	}
	printf("echo_server: stopped by %s\n", strsignal(sig));
	printf("echo_server: %" PRIu64 " connections, %" PRIu64 " bytes echoed, %" PRIu64
	       " closed on error, %" PRIu64 " refused (server full)\n",
	       accepted, bytes, errs, refused);
	printf("echo_server: timeouts: %" PRIu64 " closed on the write timeout, %" PRIu64
	       " closed idle; peak %d of %d connections\n",
	       stuck, idle, s->live_peak, s->nslots);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		printf("echo_server: peak RSS %ld KiB\n", ru.ru_maxrss);
	if (s->o.use_malloc) {
		printf("echo_server: malloc buffers: %" PRIu64 " allocated, %" PRIu64 " freed, %" PRIu64
		       " outstanding\n",
		       mallocs, frees, mallocs - frees);
		if (mallocs != frees) {
			printf("echo_server: LEAK: %" PRIu64 " buffers not freed\n", mallocs - frees);
			rc = 1;
		}
		return rc;
	}

	struct iobuf_set_stats st;
	uint64_t in_use = 0, cached = 0, capacity = 0;

	printf("echo_server: backpressure: %" PRIu64 " reads stopped on an empty %s tier\n", stalls,
	       iobuf_tier_name(s->o.tier));
	printf("echo_server: %d worker cache%s destroyed before the count, giving back the %d free buffers held\n",
	       s->o.threads, s->o.threads > 1 ? "s" : "", cached_at_exit);
	fflush(stdout);
	iobuf_set_stats_print(s->set, stdout);
	iobuf_set_stats(s->set, &st);
	for (int t = 0; t < IOBUF_TIER_COUNT; t++) {
		in_use += st.tier[t].in_use;
		cached += st.tier[t].cached;
		capacity += st.tier[t].capacity;
	}
	if (in_use || cached || put_errors) {
		printf("echo_server: LEAK: in_use %" PRIu64 ", cached %" PRIu64 ", refused puts %" PRIu64 "\n", in_use,
		       cached, put_errors);
		rc = 1;
	} else {
		printf("echo_server: all %" PRIu64 " buffers back (in_use 0)\n", capacity);
	}
	return rc;
}

/* ---- --uring: the same echo on io_uring, one thread (examples/echo_uring.c) ---- */

struct uring_run {
	int lfd;
	struct iobuf_set *set;
	struct echo_uring_opts o;
	int rc;
};

static void *uring_main(void *arg)
{
	struct uring_run *u = arg;

	u->rc = echo_uring_serve(u->lfd, u->set, &u->o);
	return NULL;
}

static int serve_uring(struct server *s, sigset_t *sigs)
{
	static atomic_int stop;
	struct echo_uring_stats st = {0};
	struct uring_run u = {.set = s->set};
	struct iobuf_uring_features f;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	pthread_t t;
	int sig = 0, err, rc = 0;
	unsigned nbufs = 1;

	err = iobuf_uring_probe(&f);
	if (err < 0 || !f.buf_ring || !f.recv_multishot || (s->o.zc && !f.send_zc)) {
		/* Before listening: a caller waiting for the port file learns it from the exit status (77). */
		fprintf(stderr, "echo_server: io_uring not available: %s\n",
			err < 0				   ? iobuf_strerror(err)
			: !f.buf_ring || !f.recv_multishot ? "no provided-buffer rings or multishot receive in this kernel"
							   : "no zero-copy send (IORING_OP_SEND_ZC) in this kernel");
		iobuf_set_destroy(s->set);
		return 77;
	}
	while (nbufs * 2 <= s->o.buffers && nbufs * 2 <= IOBUF_URING_BUFRING_MAX)
		nbufs *= 2;
	u.lfd = listen_socket(s->o.bind_addr, s->o.port, s->o.sock_buffer);
	if (u.lfd < 0) {
		fprintf(stderr, "echo_server: listen: %s\n", iobuf_strerror(u.lfd));
		return 1;
	}
	getsockname(u.lfd, (struct sockaddr *)&sa, &len);
	s->port = ntohs(sa.sin_port);
	u.o = (struct echo_uring_opts){.bufs = s->o.use_malloc ? ECHO_URING_MALLOC : ECHO_URING_POOL,
				       .tier = s->o.tier,
				       .nbufs = nbufs,
				       .buf_size = s->bufsize,
				       .zc = s->o.zc,
				       .max_conns = (unsigned)s->o.conns,
				       .conn_buffers = (unsigned)s->o.conn_buffers,
				       .write_ms = s->o.write_ms,
				       .idle_ms = s->o.idle_ms,
				       .stop = &stop,
				       .log = stdout,
				       .stats = &st};
	if (s->o.use_malloc)
		printf("echo_server: listening on %s:%d, io_uring, one malloc'd group of %u buffers of %zu B, each "
		       "added back to its ring by hand once echoed; plain writes\n",
		       s->o.bind_addr, s->port, nbufs, s->bufsize);
	else
		printf("echo_server: listening on %s:%d, io_uring, %" PRIu32 " buffers of %zu B (%s) through a "
		       "provided-buffer ring fed from the tier; %s\n",
		       s->o.bind_addr, s->port, s->o.buffers, s->bufsize, iobuf_tier_name(s->o.tier),
		       s->o.zc ? "zero-copy sends (send_zc)" : "writes from the registered arena (write_fixed)");
	printf("echo_server: %d connections at most; each holds at most %d buffers (%zu KiB); write timeout %ld ms, "
	       "idle timeout %ld ms (0: none)\n",
	       s->o.conns, s->o.conn_buffers, (size_t)s->o.conn_buffers * s->bufsize / 1024, s->o.write_ms,
	       s->o.idle_ms);
	fflush(stdout);
	if (s->o.port_file && (err = ex_write_port_file(s->o.port_file, s->port)) < 0) {
		fprintf(stderr, "echo_server: %s: %s\n", s->o.port_file, iobuf_strerror(err));
		return 1;
	}
	if (pthread_create(&t, NULL, uring_main, &u) != 0)
		return 1;
	while (sigwait(sigs, &sig) != 0 || sig == SIGUSR1)
		;
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	close(u.lfd);
	if (u.rc < 0) {
		fprintf(stderr, "echo_server: io_uring: %s\n", iobuf_strerror(u.rc));
		iobuf_set_destroy(s->set);
		return u.rc == -ENOSYS || u.rc == -EOPNOTSUPP ? 77 : 1;
	}
	printf("echo_server: stopped by signal %d: io_uring, %" PRIu64 " connections, %" PRIu64 " bytes echoed, "
	       "%" PRIu64 " ring-empty ends, sends from %s memory\n",
	       sig, st.accepted, st.bytes_out, st.enobufs, st.registered ? "registered" : "unregistered");
	printf("echo_server: timeouts: %" PRIu64 " closed on the write timeout, %" PRIu64 " closed idle; %" PRIu64
	       " receives paused at a connection's bound, %" PRIu64 " re-arms deferred for want of a buffer\n",
	       st.closed_stuck, st.closed_idle, st.paused, st.stalls);
	if (s->o.zc)
		printf("echo_server: zero-copy: %" PRIu64 " sends, %" PRIu64 " notifications\n", st.zc_sends,
		       st.zc_notifs);
	if (s->o.use_malloc) {
		printf("echo_server: malloc buffers: one group of %" PRIu32 ", %" PRIu32 " back in its ring, %" PRIu32
		       " outstanding\n",
		       st.group_buffers, st.group_back, st.group_buffers - st.group_back);
		return st.group_back == st.group_buffers ? 0 : 1;
	}

	struct iobuf_set_stats ss;
	unsigned in_use = 0;

	iobuf_set_stats_print(s->set, stdout);
	iobuf_set_stats(s->set, &ss);
	for (int i = 0; i < IOBUF_TIER_COUNT; i++)
		in_use += ss.tier[i].in_use;
	if (in_use) {
		printf("echo_server: %u BUFFERS NOT BACK\n", in_use);
		rc = 1;
	} else {
		printf("echo_server: all %" PRIu32 " buffers back (in_use 0)\n", s->o.buffers);
	}
	iobuf_set_destroy(s->set);
	return rc;
}

int main(int argc, char **argv)
{
	struct server s = {0};
	sigset_t sigs;
	int err = 0, sig = 0, rc;
	uint64_t shortest;

	parse_options(argc, argv, &s.o);
	s.bufsize = IOBUF_TIER_SIZE(s.o.tier);
	s.write_ns = (uint64_t)s.o.write_ms * MS;
	s.idle_ns = (uint64_t)s.o.idle_ms * MS;
	shortest = s.write_ns && (!s.idle_ns || s.write_ns < s.idle_ns) ? s.write_ns : s.idle_ns;
	if (shortest) {
		s.tick_ns = shortest / 8;
		if (s.tick_ns < MS)
			s.tick_ns = MS;
		if (s.tick_ns > 1000 * MS)
			s.tick_ns = 1000 * MS;
	}

	/* Signals are taken by sigwait() in main; workers never see them. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	if (!s.o.use_malloc) {
		struct iobuf_set_config cfg;

		iobuf_set_config_default(&cfg);
		memset(cfg.capacity, 0, sizeof(cfg.capacity)); /* only the tier we read into */
		cfg.capacity[s.o.tier] = s.o.buffers;
		cfg.arena_flags = IOBUF_ARENA_PREFAULT | (s.o.huge ? IOBUF_ARENA_HUGE : 0);
		s.set = iobuf_set_create(&cfg, &err);
		if (!s.set) {
			fprintf(stderr, "echo_server: iobuf_set_create: %s\n", iobuf_strerror(err));
			return 1;
		}
	}
	if (s.o.use_uring)
		return serve_uring(&s, &sigs);
	err = table_init(&s);
	s.w = calloc((size_t)s.o.threads, sizeof(*s.w));
	if (err < 0 || !s.w) {
		fprintf(stderr, "echo_server: connection table: %s\n", strerror(err < 0 ? -err : ENOMEM));
		return 1;
	}
	for (int t = 0; t < s.o.threads; t++) {
		int lfd = listen_socket(s.o.bind_addr, t == 0 ? s.o.port : s.port, s.o.sock_buffer);

		if (lfd < 0) {
			fprintf(stderr, "echo_server: listen on %s:%d: %s\n", s.o.bind_addr, t == 0 ? s.o.port : s.port,
				iobuf_strerror(lfd));
			return 1;
		}
		if (t == 0) {
			struct sockaddr_in sa;
			socklen_t len = sizeof(sa);

			getsockname(lfd, (struct sockaddr *)&sa, &len);
			s.port = ntohs(sa.sin_port);
		}
		err = worker_init(&s, &s.w[t], t, lfd);
		if (err < 0) {
			fprintf(stderr, "echo_server: worker setup: %s\n", iobuf_strerror(err));
			return 1;
		}
	}

	printf("echo_server: listening on %s:%d, %d worker%s, %s buffers of %zu B (%s), burst %d\n", s.o.bind_addr,
	       s.port, s.o.threads, s.o.threads > 1 ? "s" : "", s.o.use_malloc ? "malloc'd" : "pooled", s.bufsize,
	       s.o.use_malloc ? "no limit" : iobuf_tier_name(s.o.tier), s.o.burst);
	if (!s.o.use_malloc)
		printf("echo_server: pool: %" PRIu32 " buffers, %.1f MiB, reserved and prefaulted at start\n",
		       s.o.buffers, (double)s.o.buffers * (double)s.bufsize / 1048576.0);
	printf("echo_server: %d connections at most; each holds at most %d buffers (%zu KiB); write timeout %ld ms, "
	       "idle timeout %ld ms (0: none)\n",
	       s.nslots, s.o.conn_buffers, (size_t)s.o.conn_buffers * s.bufsize / 1024, s.o.write_ms, s.o.idle_ms);
	fflush(stdout);
	if (s.o.port_file && (err = ex_write_port_file(s.o.port_file, s.port)) < 0) {
		fprintf(stderr, "echo_server: %s: %s\n", s.o.port_file, iobuf_strerror(err));
		return 1;
	}

	for (int t = 0; t < s.o.threads; t++) {
		rc = pthread_create(&s.w[t].thread, NULL, worker_main, &s.w[t]);
		if (rc) {
			fprintf(stderr, "echo_server: pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}
	for (unsigned snapshots = 0;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig != SIGUSR1)
			break;
		snapshot(&s, ++snapshots);
	}
	for (int t = 0; t < s.o.threads; t++) {
		uint64_t one = 1;

		if (write(s.w[t].stopfd, &one, sizeof(one)) != sizeof(one))
			fprintf(stderr, "echo_server: eventfd: %s\n", strerror(errno));
	}
	for (int t = 0; t < s.o.threads; t++)
		pthread_join(s.w[t].thread, NULL);

	rc = report(&s, sig);
	for (int t = 0; t < s.o.threads; t++)
		worker_fini(&s.w[t]);
	free(s.w);
	for (int i = 0; i < s.nslots; i++) {
		int err2 = iobuf_account_destroy(s.conns[i].acct);

		if (s.conns[i].acct && err2 < 0) {
			fprintf(stderr, "echo_server: connection %d: account: %s\n", i, iobuf_strerror(err2));
			rc = 1;
		}
	}
	free(s.conns);
	pthread_mutex_destroy(&s.lock);
	iobuf_set_destroy(s.set);
	return rc;
}
