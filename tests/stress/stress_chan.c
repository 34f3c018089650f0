/* SPDX-License-Identifier: MIT */
/*
 * stress_chan.c - the channel of iobuf/chan.h under P producers and C
 * consumers pinned round-robin to the cores (1x1, 2x2, and 4x4 on two
 * cores: preempted in the middle of calls), with real pooled buffers.
 *
 * A producer takes a buffer from a pool, writes its stamp (producer id and
 * sequence) into the buffer's bytes, and sends the slice {h, off, len}
 * with off and len derived from the stamp; it sends its sequences 0, 1,
 * 2, ... in order (a refused send is retried with the same one).  A
 * consumer checks the bytes (so ThreadSanitizer checks that a send
 * releases the buffer's bytes to the receive), the range, that this
 * producer's sequences reach it in increasing order (MPMC keeps each
 * producer's order per consumer, nothing more), records the value in a
 * per-producer bitmap (a bit already set is a duplicate) and puts the
 * buffer (a duplicate would also be a refused put).
 *
 * Each thread uses one form, by case: non-blocking singles (yield when
 * full or empty), bursts, the waiting forms, or an event loop on the
 * channel's fd (epoll on the ready fd for a consumer, poll on the
 * writable fd for a producer; one such thread per side, as the fds are
 * meant for).  A run ends with iobuf_chan_close(): after the producers
 * finished, or while they still send (the close races senders and
 * receivers; those cases run many short rounds, each closed halfway, so
 * that closes land among sends in flight).  Consumers drain until -EPIPE.  Then every accepted value
 * was received exactly once (the accepted ones of each producer are a
 * prefix of its sequences), nothing else was, every buffer is back in the
 * pool, and the channel is empty (destroy succeeds).
 *
 * Waits are bounded: an fd poll gives up after 20 s and a watchdog ends
 * the process 60 s after a run was to stop, printing every thread's state.
 *
 *   stress_chan            about two seconds in all (make check)
 *   stress_chan --long     ten seconds per case (make stress)
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <iobuf/chan.h>
#include <iobuf/pool.h>

#include "../common/tap.h"
#include "../common/thread.h"

#define MAXT 4
#define BURST 16
#define BUF 64
#define FD_TIMEOUT_MS 20000
/* A round of a close-racing case: the close comes halfway. */
#define ROUND_SECS 0.004
#define WATCHDOG_GRACE_NS (60ull * 1000 * 1000 * 1000)

enum mode { M_SINGLE, M_BURST, M_WAIT, M_FD, NMODES };
static const char mode_char[NMODES] = {'s', 'b', 'w', 'f'};

struct run_case {
	const char *name;
	int producers, consumers;
	uint32_t cap;
	enum mode pmode[MAXT], cmode[MAXT];
	bool close_early; /* close while the producers still send */
};

struct shared;

struct thr {
	struct shared *sh;
	int id;
	bool producer;
	enum mode mode;
	/* progress, for the watchdog (relaxed) */
	uint64_t done;	 /* producer: accepted sends; consumer: entries received */
	int last_rc;	 /* the last channel call's result */
	const char *at;	 /* what it is doing */
	uint64_t last[MAXT]; /* consumer: the last sequence seen of each producer, +1 (0: none yet) */
};

struct shared {
	struct iobuf_chan *ch;
	struct iobuf_pool *pool;
	uint64_t max_seq;	  /* each producer sends at most this many */
	uint64_t *seen[MAXT];	  /* per producer: bitmap of received sequences */
	uint64_t accepted[MAXT]; /* per producer: sends that returned success */
	uint64_t stop_at;	  /* th_now_ns() when producers stop */
	int stop;		  /* set by main: producers stop */
	struct thr t[2 * MAXT];
	int nthreads;
	/* the watchdog */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool ended;
	uint64_t deadline;
	const char *name;
};

static uint64_t stamp(int p, uint64_t seq)
{
	return ((uint64_t)(p + 1) << 56) | seq;
}

static struct iobuf_slice slice_of(iobuf_handle_t h, int p, uint64_t seq)
{
	return (struct iobuf_slice){h, (uint32_t)(seq % 7) * 8, (uint32_t)(8 + p)};
}

static void fail_thread(struct thr *t, const char *what)
{
	__atomic_store_n(&t->at, what, __ATOMIC_RELAXED);
}

/* ---- producers -------------------------------------------------------------- */

/* The next buffer, stamped: the pool never runs dry (it holds more than can be out), but a put may be in flight. */
static bool fill_one(struct thr *t, int p, uint64_t seq, struct iobuf_slice *s)
{
	struct shared *sh = t->sh;
	iobuf_handle_t h;
	int rc;

	while ((rc = iobuf_pool_get(sh->pool, &h)) == -ENOBUFS)
		sched_yield();
	CHECK(rc == 0, "producer %d: pool get %d", p, rc);
	*(uint64_t *)iobuf_pool_buf(sh->pool, h) = stamp(p, seq);
	*s = slice_of(h, p, seq);
	return true;
}

static bool producer_stop(struct thr *t, uint64_t seq)
{
	struct shared *sh = t->sh;

	return seq >= sh->max_seq || __atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) ||
	       ((seq & 255) == 0 && th_now_ns() >= sh->stop_at);
}

static void *producer_main(void *arg)
{
	struct thr *t = arg;
	struct shared *sh = t->sh;
	const int p = t->id;
	struct iobuf_slice pend[BURST];
	int npend = 0, wfd = -1;
	uint64_t seq = 0; /* the next sequence to stamp; accepted ones are below seq - npend */
	bool ok = true, closed = false;

	th_pin(p);
	if (t->mode == M_FD) {
		wfd = iobuf_chan_writable_fd(sh->ch);
		if (wfd < 0) {
			fail_thread(t, "writable fd failed");
			__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
			return NULL;
		}
	}
	while (ok && !closed) {
		int want = t->mode == M_BURST ? BURST : 1, rc;

		while (npend < want && !producer_stop(t, seq)) {
			if (!(ok = fill_one(t, p, seq, &pend[npend])))
				break;
			npend++;
			seq++;
		}
		if (npend == 0)
			break;
		__atomic_store_n(&t->at, "send", __ATOMIC_RELAXED);
		switch (t->mode) {
		case M_BURST:
			rc = iobuf_chan_send_burst(sh->ch, pend, npend);
			break;
		case M_WAIT:
			rc = iobuf_chan_send_wait(sh->ch, pend[0], IOBUF_CHAN_FOREVER);
			rc = rc == 0 ? 1 : rc;
			break;
		default:
			rc = iobuf_chan_send_slice(sh->ch, pend[0]);
			rc = rc == 0 ? 1 : rc == -EAGAIN ? 0 : rc;
			break;
		}
		__atomic_store_n(&t->last_rc, rc, __ATOMIC_RELAXED);
		if (rc > 0) {
			memmove(pend, pend + rc, (size_t)(npend - rc) * sizeof(pend[0]));
			npend -= rc;
			__atomic_fetch_add(&t->done, (uint64_t)rc, __ATOMIC_RELAXED);
			continue;
		}
		if (rc == -EPIPE) {
			closed = true;
			break;
		}
		if (rc != 0) {
			fprintf(stderr, "# FAIL producer %d: send %d\n", p, rc);
			__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
			ok = false;
			break;
		}
		/* Full. */
		if (t->mode == M_FD) {
			struct pollfd pfd = {.fd = wfd, .events = POLLIN};
			uint64_t v;

			__atomic_store_n(&t->at, "poll writable fd", __ATOMIC_RELAXED);
			if (poll(&pfd, 1, FD_TIMEOUT_MS) != 1) {
				fprintf(stderr, "# FAIL producer %d: the writable fd stayed unreadable %d ms\n", p,
					FD_TIMEOUT_MS);
				__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
				ok = false;
				break;
			}
			if (read(wfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				fprintf(stderr, "# producer %d: read of the fd: %s\n", p, strerror(errno));
		} else {
			sched_yield();
		}
	}
	/* What was not accepted stays ours: put it. */
	for (int k = 0; k < npend; k++)
		if (iobuf_pool_put(sh->pool, pend[k].h) != 0) {
			fprintf(stderr, "# FAIL producer %d: put of an unsent buffer refused\n", p);
			__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
		}
	sh->accepted[p] = seq - (uint64_t)npend;
	__atomic_store_n(&t->at, closed ? "done (closed)" : "done", __ATOMIC_RELAXED);
	return NULL;
}

/* ---- consumers -------------------------------------------------------------- */

static bool take_one(struct thr *t, struct iobuf_slice s)
{
	struct shared *sh = t->sh;
	uint64_t v, seq, bit;
	int p, rc;

	CHECK(s.h != IOBUF_HANDLE_NONE, "consumer %d: a NONE handle", t->id);
	v = *(const uint64_t *)iobuf_pool_buf(sh->pool, s.h);
	p = (int)(v >> 56) - 1;
	seq = v & ((UINT64_C(1) << 56) - 1);
	CHECK(p >= 0 && p < MAXT && seq < sh->max_seq, "consumer %d: a bad stamp %#" PRIx64, t->id, v);
	CHECK(s.off == slice_of(s.h, p, seq).off && s.len == slice_of(s.h, p, seq).len,
	      "consumer %d: the slice of producer %d seq %" PRIu64 " came as {%u, %u}", t->id, p, seq, s.off, s.len);
	/* One producer's entries reach one consumer in order. */
	CHECK(seq + 1 > t->last[p], "consumer %d: producer %d seq %" PRIu64 " after %" PRIu64, t->id, p, seq,
	      t->last[p] - 1);
	t->last[p] = seq + 1;
	bit = UINT64_C(1) << (seq % 64);
	CHECK(!(__atomic_fetch_or(&sh->seen[p][seq / 64], bit, __ATOMIC_RELAXED) & bit),
	      "consumer %d: producer %d seq %" PRIu64 " received twice", t->id, p, seq);
	rc = iobuf_pool_put(sh->pool, s.h);
	CHECK(rc == 0, "consumer %d: put of producer %d seq %" PRIu64 ": %d", t->id, p, seq, rc);
	__atomic_fetch_add(&t->done, 1, __ATOMIC_RELAXED);
	return true;
}

static void *consumer_main(void *arg)
{
	struct thr *t = arg;
	struct shared *sh = t->sh;
	struct iobuf_slice s[BURST];
	int ep = -1, rfd = -1;

	/* One core on from producer i: 1x1 and 2x2 put each consumer on another core than its producer. */
	th_pin(t->id + 1);
	if (t->mode == M_FD) {
		struct epoll_event ev = {.events = EPOLLIN};

		rfd = iobuf_chan_ready_fd(sh->ch);
		ep = epoll_create1(EPOLL_CLOEXEC);
		ev.data.fd = rfd;
		if (rfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, rfd, &ev) != 0) {
			fail_thread(t, "epoll setup failed");
			__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
			goto out;
		}
	}
	for (;;) {
		int n;

		__atomic_store_n(&t->at, "recv", __ATOMIC_RELAXED);
		switch (t->mode) {
		case M_BURST:
			n = iobuf_chan_recv_burst(sh->ch, s, BURST);
			break;
		case M_WAIT:
			n = iobuf_chan_recv_wait(sh->ch, &s[0], IOBUF_CHAN_FOREVER);
			n = n == 0 ? 1 : n;
			break;
		default:
			n = iobuf_chan_recv_slice(sh->ch, &s[0]);
			n = n == 0 ? 1 : n == -EAGAIN ? 0 : n;
			break;
		}
		__atomic_store_n(&t->last_rc, n, __ATOMIC_RELAXED);
		if (n == -EPIPE)
			break;
		if (n < 0) {
			fprintf(stderr, "# FAIL consumer %d: recv %d\n", t->id, n);
			__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
			break;
		}
		for (int k = 0; k < n; k++)
			if (!take_one(t, s[k]))
				goto out;
		if (n > 0)
			continue;
		/* Empty (or closed with a send still landing). */
		if (t->mode == M_FD) {
			struct epoll_event ev;
			uint64_t v;

			__atomic_store_n(&t->at, "epoll_wait on the ready fd", __ATOMIC_RELAXED);
			if (epoll_wait(ep, &ev, 1, FD_TIMEOUT_MS) != 1) {
				fprintf(stderr, "# FAIL consumer %d: the ready fd stayed unreadable %d ms\n", t->id,
					FD_TIMEOUT_MS);
				__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
				break;
			}
			if (read(rfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				fprintf(stderr, "# consumer %d: read of the fd: %s\n", t->id, strerror(errno));
		} else {
			sched_yield();
		}
	}
out:
	if (ep >= 0)
		close(ep);
	__atomic_store_n(&t->at, "done", __ATOMIC_RELAXED);
	return NULL;
}

/* ---- the watchdog ----------------------------------------------------------------- */

static void *watchdog_main(void *arg)
{
	struct shared *sh = arg;
	struct timespec dl = {.tv_sec = (time_t)(sh->deadline / 1000000000u),
			      .tv_nsec = (long)(sh->deadline % 1000000000u)};
	bool ended;

	pthread_mutex_lock(&sh->lock);
	while (!sh->ended && pthread_cond_timedwait(&sh->cond, &sh->lock, &dl) == 0)
		;
	ended = sh->ended;
	pthread_mutex_unlock(&sh->lock);
	if (ended)
		return NULL;
	printf("# watchdog: %s did not end; every thread:\n", sh->name);
	for (int i = 0; i < sh->nthreads; i++) {
		struct thr *t = &sh->t[i];

		printf("#   %s %d (%c): %s, last rc %d, %" PRIu64 " done\n", t->producer ? "producer" : "consumer", t->id,
		       mode_char[t->mode], __atomic_load_n(&t->at, __ATOMIC_RELAXED),
		       __atomic_load_n(&t->last_rc, __ATOMIC_RELAXED), __atomic_load_n(&t->done, __ATOMIC_RELAXED));
	}
	printf("#   channel count %d\n", iobuf_chan_count(sh->ch));
	printf("not ok %d - %s # hung\nBail out! a channel call never returned\n", tap_n + 1, sh->name);
	fflush(stdout);
	_exit(1);
}

/* ---- one case ---------------------------------------------------------------------- */

static bool verify(struct shared *sh, const struct run_case *rc, uint64_t *total)
{
	struct iobuf_pool_stats st;

	*total = 0;
	for (int p = 0; p < rc->producers; p++) {
		uint64_t got = 0;

		for (uint64_t w = 0; w < (sh->max_seq + 63) / 64; w++)
			got += (uint64_t)__builtin_popcountll(sh->seen[p][w]);
		CHECK(got == sh->accepted[p], "producer %d: %" PRIu64 " sends accepted, %" PRIu64 " received", p,
		      sh->accepted[p], got);
		/* The accepted ones are the first sequences: each of them arrived. */
		for (uint64_t seq = 0; seq < sh->accepted[p]; seq++)
			CHECK(sh->seen[p][seq / 64] & (UINT64_C(1) << (seq % 64)),
			      "producer %d: seq %" PRIu64 " accepted, never received", p, seq);
		*total += got;
	}
	CHECK(iobuf_pool_stats(sh->pool, &st) == 0 && st.in_use == 0, "%u buffers still out after the drain",
	      st.in_use);
	CHECK(iobuf_chan_count(sh->ch) == 0, "the channel counts %d after the drain", iobuf_chan_count(sh->ch));
	return true;
}

static bool run_one(const struct run_case *rc, double secs, uint64_t max_seq, uint64_t *total, char *name,
		    size_t namelen)
{
	struct shared *sh = calloc(1, sizeof(*sh));
	struct iobuf_chan_config ccfg = {.capacity = rc->cap};
	struct iobuf_pool_config pcfg = {.buf_size = BUF};
	pthread_condattr_t ca;
	pthread_t th[2 * MAXT], wd;
	size_t off;
	int err;
	bool ok = false;

	off = (size_t)snprintf(name, namelen, "%s %dx%d cap %u, producers ", rc->name, rc->producers, rc->consumers,
			       rc->cap);
	for (int i = 0; i < rc->producers && off < namelen; i++)
		off += (size_t)snprintf(name + off, namelen - off, "%c", mode_char[rc->pmode[i]]);
	if (off < namelen)
		off += (size_t)snprintf(name + off, namelen - off, ", consumers ");
	for (int i = 0; i < rc->consumers && off < namelen; i++)
		off += (size_t)snprintf(name + off, namelen - off, "%c", mode_char[rc->cmode[i]]);
	if (!sh)
		return false;
	sh->name = name;
	sh->max_seq = max_seq;
	/* Never empty: the channel, every thread's hand, and the puts in flight. */
	pcfg.capacity = rc->cap + (uint32_t)(rc->producers + rc->consumers) * 2 * BURST + 16;
	sh->pool = iobuf_pool_create(&pcfg, &err);
	sh->ch = iobuf_chan_create(&ccfg, &err);
	if (!sh->pool || !sh->ch) {
		fprintf(stderr, "# FAIL create: %d\n", err);
		goto out;
	}
	for (int p = 0; p < rc->producers; p++)
		if (!(sh->seen[p] = calloc((max_seq + 63) / 64, sizeof(uint64_t))))
			goto out;
	pthread_mutex_init(&sh->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh->cond, &ca);
	pthread_condattr_destroy(&ca);

	sh->stop_at = th_now_ns() + (uint64_t)(secs * 1e9);
	sh->deadline = sh->stop_at + WATCHDOG_GRACE_NS;
	for (int i = 0; i < rc->producers; i++)
		sh->t[sh->nthreads++] = (struct thr){.sh = sh, .id = i, .producer = true, .mode = rc->pmode[i],
						     .at = "start"};
	for (int i = 0; i < rc->consumers; i++)
		sh->t[sh->nthreads++] = (struct thr){.sh = sh, .id = i, .producer = false, .mode = rc->cmode[i],
						     .at = "start"};
	if (pthread_create(&wd, NULL, watchdog_main, sh) != 0)
		goto out;
	for (int i = 0; i < sh->nthreads; i++) {
		struct thr *t = &sh->t[i];

		if (pthread_create(&th[i], NULL, t->producer ? producer_main : consumer_main, t) != 0) {
			fprintf(stderr, "# FAIL pthread_create\n");
			_exit(1);
		}
	}
	if (rc->close_early) {
		/* Close while they still send: halfway through the run (a place, not a proof). */
		while (th_now_ns() < sh->stop_at - (uint64_t)(secs * 0.5e9))
			usleep(1000);
		if (iobuf_chan_close(sh->ch) != 0)
			__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
		for (int i = 0; i < sh->nthreads; i++)
			pthread_join(th[i], NULL);
	} else {
		for (int i = 0; i < rc->producers; i++)
			pthread_join(th[i], NULL);
		if (iobuf_chan_close(sh->ch) != 0)
			__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
		for (int i = rc->producers; i < sh->nthreads; i++)
			pthread_join(th[i], NULL);
	}
	pthread_mutex_lock(&sh->lock);
	sh->ended = true;
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
	pthread_join(wd, NULL);
	ok = __atomic_load_n(&failures, __ATOMIC_RELAXED) == 0 && verify(sh, rc, total);
	if (ok && iobuf_chan_destroy(sh->ch) != 0) {
		fprintf(stderr, "# FAIL destroy of the drained channel refused\n");
		ok = false;
	} else if (ok) {
		sh->ch = NULL;
	}
out:
	if (sh->ch) {
		struct iobuf_slice s[BURST];

		while (iobuf_chan_recv_burst(sh->ch, s, BURST) > 0)
			;
		(void)iobuf_chan_destroy(sh->ch);
	}
	iobuf_pool_destroy(sh->pool);
	for (int p = 0; p < MAXT; p++)
		free(sh->seen[p]);
	free(sh);
	return ok;
}

int main(int argc, char **argv)
{
#define S M_SINGLE
#define B M_BURST
#define W M_WAIT
#define F M_FD
	static const struct run_case cases[] = {
		{"singles", 1, 1, 64, {S}, {S}, false},
		{"waits", 1, 1, 1, {W}, {W}, false},
		{"fds", 1, 1, 8, {F}, {F}, false},
		{"singles, close racing", 1, 1, 16, {S}, {S}, true},
		{"singles", 2, 2, 64, {S, S}, {S, S}, false},
		{"bursts", 2, 2, 100, {B, B}, {B, B}, false},
		{"waits", 2, 2, 2, {W, W}, {W, W}, false},
		{"fds and singles", 2, 2, 7, {F, S}, {F, S}, false},
		{"mixed", 2, 2, 1024, {B, W}, {S, F}, false},
		{"mixed, close racing", 2, 2, 7, {W, B}, {F, W}, true},
		{"mixed", 4, 4, 3, {S, B, W, F}, {F, W, B, S}, false},
		{"waits", 4, 4, 1, {W, W, W, W}, {W, W, W, W}, false},
		{"mixed, close racing", 4, 4, 64, {F, W, S, B}, {W, S, F, B}, true},
		{"waits, close racing", 4, 4, 2, {W, W, W, W}, {W, W, W, W}, true},
	};
#undef S
#undef B
#undef W
#undef F
	const int ncases = (int)(sizeof(cases) / sizeof(cases[0]));
	bool longrun = false;
	double total = 2.0;
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--long") == 0) {
			longrun = true;
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			total = atof(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [--long | --seconds S]\n", argv[0]);
			return 2;
		}
	}
	printf("1..%d\n", ncases);
	printf("# %s: %d CPUs allowed\n", longrun ? "long run" : "short run", th_ncpus());
	fflush(stdout);
	for (int i = 0; i < ncases; i++) {
		char name[200];
		uint64_t n = 0;
		bool ok;

		double budget = longrun ? 10.0 : total / ncases;
		uint64_t t_end = th_now_ns() + (uint64_t)(budget * 1e9), rounds = 0;

		failures = 0;
		if (!cases[i].close_early) {
			ok = run_one(&cases[i], budget, longrun ? UINT64_C(1) << 26 : UINT64_C(1) << 20, &n, name,
				     sizeof(name));
			rounds = 1;
		} else {
			/* Many short rounds, each closed halfway: many closes land among sends in flight. */
			do {
				uint64_t got = 0;

				ok = run_one(&cases[i], ROUND_SECS, UINT64_C(1) << 20, &got, name, sizeof(name));
				n += got;
				rounds++;
			} while (ok && th_now_ns() < t_end);
		}
		tap(ok, "%s: %" PRIu64 " entries in %" PRIu64 " round%s, each accepted one received once", name, n, rounds,
		    rounds == 1 ? "" : "s");
		failed += !ok;
	}
	return failed ? 1 : 0;
}
