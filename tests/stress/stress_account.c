/* SPDX-License-Identifier: MIT */
/*
 * stress_account.c - one tenant account (iobuf/account.h) charged by K
 * threads at once.  Whatever the interleaving, a charged buffer counts
 * once however it is shared, is credited exactly once by its last put
 * through any path, no counter passes its limit, and the watermark edges
 * alternate, each crossing fired once.
 *
 *   1-3  K = 2, 4 and 8 threads (on however many cores there are) charge
 *        one account through every get path (iobuf_account_get(),
 *        iobuf_account_get_cached(), iobuf_account_readv() from a socket),
 *        share some buffers (iobuf_hold()) and mail the handles to other
 *        threads, and put each holder through any path: the set, the
 *        pool, a cache, the pool by raw index, a cache's bulk put, a
 *        slice put through the set or a cache.  A put of a handle already
 *        put by its last holder is tried again on purpose.  The watermark
 *        callback checks that high and low edges alternate.  At the end:
 *        the account holds nothing (bytes 0, held 0), gets == puts == the
 *        gets the threads made, refusals (-EDQUOT) exactly those the
 *        threads saw, as many low edges as high ones and as the callback
 *        saw, nothing in use or shared in the pool, and its refusal
 *        counters exactly the double puts provoked.
 *
 * Prints TAP.  Default: about two seconds in all; --long: half a minute.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iobuf/account.h>
#include <iobuf/cache.h>
#include <iobuf/pool.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#include "../common/tap.h"
#include "../common/thread.h"

static double secs_run = 0.6;

/* How long the drain may take before the run is failed (a watchdog, not a timing). */
#define WATCHDOG_NS (30ull * 1000 * 1000 * 1000)

#define TIER IOBUF_TIER_NANO
#define SIZE 64
#define CAPACITY 2048
#define LIMIT 96        /* buffers the account may hold */
#define HIGH (48 * SIZE) /* the watermarks, in bytes */
#define LOW (16 * SIZE)
#define MINE 64  /* buffers a thread holds at once, at most */
#define MAIL 512 /* handles a mailbox holds */
#define KMAX 8

enum get_path { G_ACCT, G_CACHED, G_READV, G_COUNT };
enum put_path { P_SET, P_POOL, P_CACHE, P_POOL_INDEX, P_CACHE_BULK, P_SLICE, P_CACHE_SLICE, P_COUNT };

struct mailbox {
	pthread_mutex_t m;
	int n;
	iobuf_handle_t h[MAIL];
};

struct run {
	struct iobuf_set *s;
	struct iobuf_account *a;
	int k;
	uint64_t stop_ns, deadline;
	struct mailbox box[KMAX];
	int64_t in_mail;  /* handles in mailboxes */
	int producing;    /* threads still getting and mailing */
	int down;         /* all threads put (set at the limit) until the level is below low: it sweeps the marks */
	int last_edge;    /* 0 below (low came last), 1 above: written by the callback, under the edge lock */
	uint64_t edges[2]; /* the callback's count of low and high edges */
	uint64_t bad_edges;
};

struct thr {
	struct run *r;
	int id;
	uint64_t rng;
	struct iobuf_cache *c;
	int sv[2];
	iobuf_handle_t mine[MINE];
	bool own[MINE]; /* got by this thread and never shared: its put is the last */
	int n, most; /* buffers held now, and at most */
	uint64_t gets[G_COUNT], puts[P_COUNT], dquot, shared, mailed, again;
};

static void on_edge(struct iobuf_account *a, bool high, void *arg)
{
	struct run *r = arg;

	(void)a;
	/* Under the account's edge lock: the edges come one at a time, so plain reads and writes do. */
	if (r->last_edge == (int)high)
		r->bad_edges++;
	r->last_edge = (int)high;
	r->edges[high]++;
}

static uint64_t rnd(struct thr *t)
{
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	return t->rng;
}

/* Put one holder of @h through path @p. */
static bool put_via(struct thr *t, iobuf_handle_t h, int p)
{
	struct iobuf_set *s = t->r->s;
	struct iobuf_pool *pool = iobuf_set_pool(s, TIER);
	struct iobuf_slice sl;
	int rc;

	switch (p) {
	case P_SET:
		rc = iobuf_put(s, h);
		break;
	case P_POOL:
		rc = iobuf_pool_put(pool, h);
		break;
	case P_CACHE:
		rc = iobuf_cache_put(t->c, h);
		break;
	case P_POOL_INDEX:
		rc = iobuf_pool_put_index(pool, iobuf_handle_index(h));
		break;
	case P_CACHE_BULK:
		rc = iobuf_cache_put_bulk(t->c, &h, 1);
		break;
	case P_SLICE:
	case P_CACHE_SLICE:
		rc = iobuf_slice_from(s, h, &sl);
		CHECK(rc == 0, "thread %d: slice_from: %d", t->id, rc);
		rc = p == P_SLICE ? iobuf_slice_put(s, &sl) : iobuf_cache_slice_put(t->c, &sl);
		break;
	default:
		rc = -EINVAL;
	}
	CHECK(rc == 0, "thread %d: put through path %d: %d", t->id, p, rc);
	t->puts[p]++;
	return true;
}

/* One charged get through path @g into t->mine; an -EDQUOT is counted, not a failure. */
static bool get_via(struct thr *t, int g)
{
	iobuf_handle_t h = IOBUF_HANDLE_NONE;
	struct iobuf_slice sl;
	int rc, kept;
	ssize_t r;

	switch (g) {
	case G_ACCT:
		rc = iobuf_account_get(t->r->a, SIZE, &h);
		break;
	case G_CACHED:
		rc = iobuf_account_get_cached(t->r->a, t->c, SIZE, &h);
		break;
	default:
		CHECK(write(t->sv[0], "account!", 8) == 8, "thread %d: write", t->id);
		r = iobuf_account_readv(t->r->a, t->c, t->sv[1], TIER, &sl, 1, &kept);
		if (r == -EDQUOT) {
			char junk[8];

			CHECK(read(t->sv[1], junk, sizeof(junk)) == 8, "thread %d: read", t->id);
			rc = -EDQUOT;
			break;
		}
		CHECK(r == 8 && kept == 1 && sl.len == 8, "thread %d: readv %zd kept %d len %u", t->id, r, kept, sl.len);
		h = sl.h;
		rc = 0;
		break;
	}
	if (rc == -EDQUOT) {
		t->dquot++;
		__atomic_store_n(&t->r->down, 1, __ATOMIC_RELAXED);
		return true;
	}
	CHECK(rc == 0, "thread %d: get through path %d: %d", t->id, g, rc);
	CHECK(iobuf_account_of(t->r->s, h) == t->r->a, "thread %d: a get through path %d is not charged", t->id, g);
	t->gets[g]++;
	t->own[t->n] = true;
	t->mine[t->n++] = h;
	return true;
}

/* Mail one holder of @h to thread @to; false when its box is full (we keep the holder). */
static bool mail(struct run *r, int to, iobuf_handle_t h)
{
	struct mailbox *b = &r->box[to];
	bool ok;

	pthread_mutex_lock(&b->m);
	ok = b->n < MAIL;
	if (ok) {
		b->h[b->n++] = h;
		__atomic_fetch_add(&r->in_mail, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&b->m);
	return ok;
}

/* Take the handles mailed to us: into our own while producing, else put at once. */
static bool collect(struct thr *t, bool producing)
{
	struct mailbox *b = &t->r->box[t->id];
	iobuf_handle_t got[MAIL];
	int n;

	pthread_mutex_lock(&b->m);
	n = b->n;
	memcpy(got, b->h, sizeof(got[0]) * (size_t)n);
	b->n = 0;
	pthread_mutex_unlock(&b->m);
	for (int i = 0; i < n; i++) {
		if (producing && t->n < t->most) {
			t->own[t->n] = false;
			t->mine[t->n++] = got[i];
		} else if (!put_via(t, got[i], (int)(rnd(t) % P_COUNT))) {
			return false;
		}
		__atomic_fetch_sub(&t->r->in_mail, 1, __ATOMIC_RELAXED);
	}
	return true;
}

/* Put a holder of ours at random; sometimes share it first, and mail the new holders. */
static bool drop_one(struct thr *t)
{
	int i = (int)(rnd(t) % (uint64_t)t->n);
	iobuf_handle_t h = t->mine[i];
	bool own = t->own[i];
	int p = (int)(rnd(t) % P_COUNT);

	t->n--;
	t->mine[i] = t->mine[t->n];
	t->own[i] = t->own[t->n];
	if (t->r->k > 1 && rnd(t) % 4 == 0) {
		uint32_t add = 1 + (uint32_t)(rnd(t) % 3);
		int rc = iobuf_hold(t->r->s, h, add);

		CHECK(rc == 0, "thread %d: hold: %d", t->id, rc);
		t->shared++;
		for (uint32_t j = 0; j < add; j++) {
			int to = (int)(rnd(t) % (uint64_t)t->r->k);

			if (to == t->id || !mail(t->r, to, h)) {
				if (!put_via(t, h, (int)(rnd(t) % P_COUNT)))
					return false;
			} else {
				t->mailed++;
			}
		}
		return put_via(t, h, p);
	}
	if (!put_via(t, h, p))
		return false;
	/* Never shared: we were its last holder, so another put is refused (-EALREADY, or -ESTALE once out again). */
	if (own && rnd(t) % 8 == 0) {
		int rc = iobuf_put(t->r->s, h);

		CHECK(rc == -EALREADY || rc == -ESTALE, "thread %d: a put again gave %d", t->id, rc);
		t->again++;
	}
	return true;
}

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	struct run *r = t->r;
	bool ok = true;

	t->c = iobuf_cache_create(r->s, NULL, NULL);
	if (!t->c || socketpair(AF_UNIX, SOCK_STREAM, 0, t->sv) != 0) {
		fprintf(stderr, "# thread %d: no cache or socket\n", t->id);
		__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&r->producing, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	while (ok && !__atomic_load_n(&failures, __ATOMIC_RELAXED) && th_now_ns() < r->stop_ns) {
		struct iobuf_account_stats st;
		bool down;

		ok = collect(t, true);
		down = __atomic_load_n(&r->down, __ATOMIC_RELAXED);
		if (down && iobuf_account_stats(r->a, &st) == 0 && st.bytes < LOW)
			__atomic_store_n(&r->down, 0, __ATOMIC_RELAXED);
		if (ok && !down && t->n < t->most && rnd(t) % 8 != 0)
			ok = get_via(t, (int)(rnd(t) % G_COUNT));
		else if (ok && t->n > 0)
			ok = drop_one(t);
		else
			sched_yield(); /* the others hold the level up: let them put */
	}
	while (ok && t->n > 0)
		ok = drop_one(t);
	__atomic_fetch_sub(&r->producing, 1, __ATOMIC_RELEASE);
	/* The drain: put what others mail us until nobody mails and no mail is left. */
	while (ok) {
		bool last = __atomic_load_n(&r->producing, __ATOMIC_ACQUIRE) == 0;

		ok = collect(t, false);
		if (last && __atomic_load_n(&r->in_mail, __ATOMIC_RELAXED) == 0)
			break;
		if (th_now_ns() > r->deadline) {
			fprintf(stderr, "# thread %d: %lld handles still mailed at the watchdog\n", t->id,
				(long long)__atomic_load_n(&r->in_mail, __ATOMIC_RELAXED));
			__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
			break;
		}
		sched_yield();
	}
	iobuf_cache_destroy(t->c);
	close(t->sv[0]);
	close(t->sv[1]);
	return NULL;
}

static bool run_k(int k, char *what, size_t len)
{
	struct iobuf_set_config scfg = {.capacity = {[TIER] = CAPACITY}};
	struct run *r = calloc(1, sizeof(*r));
	struct thr *ts = calloc((size_t)k, sizeof(*ts));
	struct iobuf_account_config acfg = {
		.max_buffers = {[TIER] = LIMIT}, .high_bytes = HIGH, .low_bytes = LOW, .on_watermark = on_edge};
	struct iobuf_account_stats st;
	struct iobuf_pool_stats ps;
	pthread_t tid[KMAX];
	uint64_t gets = 0, puts = 0, dquot = 0, shared = 0, mailed = 0, again = 0, g[G_COUNT] = {0}, p[P_COUNT] = {0};
	int fails_before = failures;
	bool ok;

	if (!r || !ts)
		return false;
	r->s = iobuf_set_create(&scfg, NULL);
	acfg.arg = r;
	r->a = r->s ? iobuf_account_create(r->s, &acfg, NULL) : NULL;
	if (!r->a)
		return false;
	r->k = k;
	r->producing = k;
	r->stop_ns = th_now_ns() + (uint64_t)(secs_run * 1e9);
	r->deadline = r->stop_ns + WATCHDOG_NS;
	for (int i = 0; i < KMAX; i++)
		pthread_mutex_init(&r->box[i].m, NULL);
	for (int i = 0; i < k; i++) {
		ts[i] = (struct thr){.r = r, .id = i, .rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)};
		ts[i].most = (LIMIT + LIMIT / 2) / k < MINE ? (LIMIT + LIMIT / 2) / k : MINE;
		if (pthread_create(&tid[i], NULL, thr_main, &ts[i]) != 0)
			return false;
	}
	for (int i = 0; i < k; i++)
		pthread_join(tid[i], NULL);
	for (int i = 0; i < k; i++) {
		for (int j = 0; j < G_COUNT; j++)
			g[j] += ts[i].gets[j], gets += ts[i].gets[j];
		for (int j = 0; j < P_COUNT; j++)
			p[j] += ts[i].puts[j], puts += ts[i].puts[j];
		dquot += ts[i].dquot;
		shared += ts[i].shared;
		mailed += ts[i].mailed;
		again += ts[i].again;
	}
	iobuf_account_stats(r->a, &st);
	iobuf_pool_stats(iobuf_set_pool(r->s, TIER), &ps);
	ok = failures == fails_before;
	if (st.bytes || st.held[TIER]) {
		fprintf(stderr, "# the account holds %llu bytes, %u buffers at the end\n", (unsigned long long)st.bytes,
			st.held[TIER]);
		ok = false;
	}
	if (st.gets != gets || st.puts != gets) {
		fprintf(stderr, "# %llu charged gets made; the account counts %llu gets, %llu credits\n",
			(unsigned long long)gets, (unsigned long long)st.gets, (unsigned long long)st.puts);
		ok = false;
	}
	if (st.refused != dquot || st.peak_bytes > (uint64_t)LIMIT * SIZE) {
		fprintf(stderr, "# %llu -EDQUOT seen, the account counts %llu; peak %llu bytes\n",
			(unsigned long long)dquot, (unsigned long long)st.refused, (unsigned long long)st.peak_bytes);
		ok = false;
	}
	if (st.highs != st.lows || st.highs != r->edges[1] || st.lows != r->edges[0] || r->bad_edges || st.above_high) {
		fprintf(stderr, "# edges: %llu high, %llu low (the callback saw %llu, %llu; %llu out of turn)\n",
			(unsigned long long)st.highs, (unsigned long long)st.lows, (unsigned long long)r->edges[1],
			(unsigned long long)r->edges[0], (unsigned long long)r->bad_edges);
		ok = false;
	}
	if (ps.in_use || ps.shared || ps.free + ps.cached != ps.capacity || ps.refused_invalid ||
	    ps.refused_already + ps.refused_stale != again) {
		fprintf(stderr, "# pool: in_use %u shared %u free %u cached %u; refused %llu/%llu/%llu, %llu provoked\n",
			ps.in_use, ps.shared, ps.free, ps.cached, (unsigned long long)ps.refused_invalid,
			(unsigned long long)ps.refused_already, (unsigned long long)ps.refused_stale,
			(unsigned long long)again);
		ok = false;
	}
	if (iobuf_account_destroy(r->a) != 0)
		ok = false;
	snprintf(what, len,
		 "%llu charged gets (account %llu, cached %llu, readv %llu), %llu -EDQUOT, %llu shared, %llu mailed, "
		 "%llu puts (set %llu, pool %llu, cache %llu, index %llu, bulk %llu, slice %llu, cache slice %llu), "
		 "%llu put again, %llu edge pairs, peak %llu bytes",
		 (unsigned long long)gets, (unsigned long long)g[G_ACCT], (unsigned long long)g[G_CACHED],
		 (unsigned long long)g[G_READV], (unsigned long long)dquot, (unsigned long long)shared,
		 (unsigned long long)mailed, (unsigned long long)puts, (unsigned long long)p[P_SET],
		 (unsigned long long)p[P_POOL], (unsigned long long)p[P_CACHE], (unsigned long long)p[P_POOL_INDEX],
		 (unsigned long long)p[P_CACHE_BULK], (unsigned long long)p[P_SLICE], (unsigned long long)p[P_CACHE_SLICE],
		 (unsigned long long)again, (unsigned long long)st.highs, (unsigned long long)st.peak_bytes);
	iobuf_set_destroy(r->s);
	for (int i = 0; i < KMAX; i++)
		pthread_mutex_destroy(&r->box[i].m);
	free(ts);
	free(r);
	return ok;
}

int main(int argc, char **argv)
{
	static const int ks[3] = {2, 4, 8};
	char what[768];

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--long") == 0)
			secs_run = 10.0;
	printf("1..3\n");
	for (int i = 0; i < 3; i++) {
		bool ok = run_k(ks[i], what, sizeof(what));

		tap(ok, "%d threads charge one account (%d cores): %s", ks[i], th_ncpus(), what);
	}
	return failures ? 1 : 0;
}
