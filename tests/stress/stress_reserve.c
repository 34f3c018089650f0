/* SPDX-License-Identifier: MIT */
/*
 * stress_reserve.c - reserve and commit (iobuf/reserve.h) under 1, 2 and
 * 4 writers pinned round-robin to the cores, and one consumer.
 *
 * Writers reserve random sizes, write a stamp (writer id, sequence,
 * offset) and a pattern into their range, whole or in chunks, and commit;
 * some abort, some stall past the stream's timeout before they commit
 * (their commit is then refused), and in one case a writer takes a
 * reservation and never touches it again.  Each writer logs every
 * reservation it got: offset, length and how it ended by its own calls.
 * In the cases with a timeout the writers write only through
 * iobuf_reservation_write() (a timed-out reservation's pointer is not
 * theirs any more); without one, in place through the pointer.
 *
 * The consumer waits for groups and checks that they come in increasing
 * order, each at seq * group_size, its records contiguous from the
 * group's start and inside it, and the bytes of every committed record
 * (stamp and pattern).  The run ends with finalize, while the writers
 * still write in the last case.  Then the consumer's records and the
 * writers' logs are the same set, matched by offset: every reservation
 * reported exactly once, with its length and the right ending; and every
 * buffer is back in the set.
 *
 *   stress_reserve            about two seconds in all (make check)
 *   stress_reserve --long     ten seconds per case (make stress)
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iobuf/pool.h>
#include <iobuf/reserve.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#include "../common/tap.h"
#include "../common/thread.h"

#define MAXW 4
#define GSIZE 4096
#define DRAIN_NS (60ull * 1000 * 1000 * 1000)

struct logent {
	uint64_t offset;
	uint32_t len;
	uint32_t state; /* enum iobuf_record_state */
};

struct log {
	struct logent *e;
	size_t n, cap;
};

struct stamp {
	uint32_t id;
	uint32_t seq;
	uint64_t offset;
};

struct kase {
	const char *name;
	int writers;
	uint64_t timeout_ns;
	bool forever;	    /* writer 0 leaves its first reservation open for good */
	bool live_finalize; /* finalize while the writers run */
};

struct shared {
	struct iobuf_stream *s;
	const struct kase *k;
	atomic_int stop;
	bool bad;
};

struct writer {
	struct shared *sh;
	int id;
	struct log log;
	uint64_t lost;
};

static void log_add(struct log *l, uint64_t off, uint32_t len, uint32_t st)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->e = realloc(l->e, l->cap * sizeof(*l->e));
		if (!l->e)
			abort();
	}
	l->e[l->n++] = (struct logent){off, len, st};
}

static unsigned char pat(uint32_t id, uint32_t seq, size_t i)
{
	return (unsigned char)(id * 31 + seq * 7 + i);
}

static uint32_t state_of(int rc)
{
	return rc == 0 ? IOBUF_RECORD_COMMITTED : rc == -ETIMEDOUT ? IOBUF_RECORD_TIMEDOUT : IOBUF_RECORD_FINALIZED;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct shared *sh = w->sh;
	uint64_t rnd = (uint64_t)w->id * 0x9e3779b97f4a7c15u + 1;
	unsigned char buf[512];
	bool safe = sh->k->timeout_ns != 0;

	th_pin(w->id + 1);
	for (uint32_t seq = 0; !atomic_load_explicit(&sh->stop, memory_order_relaxed); seq++) {
		struct iobuf_reservation r;
		size_t len = 16 + th_rand(&rnd) % 300;
		uint64_t dice = th_rand(&rnd) % 1000;
		struct stamp st;
		int rc = iobuf_stream_reserve(sh->s, len, &r);

		if (rc == -ENOBUFS) {
			w->lost++;
			sched_yield();
			continue;
		}
		if (rc == -EPIPE)
			break;
		if (rc != 0 || r.len != len || r.offset / GSIZE != r.group) {
			sh->bad = true;
			break;
		}
		if (w->id == 0 && seq == 0 && sh->k->forever) {
			/* Stalls forever: never written, never committed. */
			log_add(&w->log, r.offset, r.len, IOBUF_RECORD_TIMEDOUT);
			continue;
		}
		st = (struct stamp){(uint32_t)w->id, seq, r.offset};
		memcpy(buf, &st, sizeof(st));
		for (size_t i = sizeof(st); i < len; i++)
			buf[i] = pat(st.id, seq, i);
		if (dice < 50) {
			rc = iobuf_reservation_abort(&r);
			log_add(&w->log, r.offset, r.len, rc == 0 ? IOBUF_RECORD_ABORTED : state_of(rc));
			continue;
		}
		if (safe && dice < 60) {
			/* Stall past the timeout; then a write and a commit that are refused, or not if no poll came. */
			uint64_t until = th_now_ns() + 2 * sh->k->timeout_ns;

			while (th_now_ns() < until)
				usleep(1000);
		}
		if (safe || dice % 2) {
			size_t at = 0;

			rc = 0;
			while (at < len && rc == 0) {
				size_t n = 1 + th_rand(&rnd) % (len - at);

				if (!safe) {
					memcpy((unsigned char *)r.data + at, buf + at, n);
				} else {
					rc = iobuf_reservation_write(&r, at, buf + at, n);
				}
				at += n;
			}
			if (rc != 0) {
				int rc2 = iobuf_reservation_commit(&r);

				if (rc2 != rc)
					sh->bad = true;
				log_add(&w->log, r.offset, r.len, state_of(rc));
				continue;
			}
		} else {
			memcpy(r.data, buf, len);
		}
		rc = iobuf_reservation_commit(&r);
		if (rc != 0 && rc != -ETIMEDOUT && rc != -EPIPE)
			sh->bad = true;
		log_add(&w->log, r.offset, r.len, state_of(rc));
	}
	return NULL;
}

static int cmp_ent(const void *a, const void *b)
{
	const struct logent *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* One group: order, layout, bytes of the committed records; its records into @got. */
static bool check_group(struct iobuf_set *set, const struct iobuf_group *g, uint64_t *last, struct log *got)
{
	const unsigned char *p = iobuf_slice_buf(set, &g->slice);
	uint64_t at = g->offset;
	uint32_t failed = 0;

	if ((*last != UINT64_MAX && g->seq <= *last) || g->offset != g->seq * GSIZE || !p || g->nrec == 0)
		return false;
	*last = g->seq;
	for (uint32_t i = 0; i < g->nrec; i++) {
		const struct iobuf_record *r = &g->rec[i];

		if (r->offset != at || r->offset / GSIZE != g->seq)
			return false;
		at += r->len;
		if (r->state != IOBUF_RECORD_COMMITTED) {
			failed++;
		} else {
			const unsigned char *b = p + (r->offset - g->offset);
			struct stamp st;

			memcpy(&st, b, sizeof(st));
			if (st.offset != r->offset || st.id >= MAXW)
				return false;
			for (size_t k = sizeof(st); k < r->len; k++)
				if (b[k] != pat(st.id, st.seq, k))
					return false;
		}
		log_add(got, r->offset, r->len, r->state);
	}
	return at - g->offset == g->slice.len && failed == g->nfailed;
}

static bool run_one(const struct kase *k, double seconds)
{
	struct iobuf_set_config sc = {.capacity = {[IOBUF_TIER_MEDIUM] = 64}};
	struct iobuf_set *set = iobuf_set_create(&sc, NULL);
	struct iobuf_stream_config c = {.group_size = GSIZE, .groups = 8, .max_records = 64, .timeout_ns = k->timeout_ns};
	struct shared sh = {.k = k};
	struct writer w[MAXW];
	pthread_t th[MAXW];
	struct log got = {0}, want = {0};
	struct iobuf_group g;
	struct iobuf_stream_stats st;
	struct iobuf_pool_stats ps;
	uint64_t last = UINT64_MAX, end, lost = 0;
	bool ok = true, finalized = false;
	int rc;

	if (!set)
		return false;
	c.set = set;
	sh.s = iobuf_stream_create(&c, NULL);
	if (!sh.s)
		return false;
	for (int i = 0; i < k->writers; i++) {
		w[i] = (struct writer){.sh = &sh, .id = i};
		if (pthread_create(&th[i], NULL, writer_main, &w[i]) != 0)
			abort();
	}
	th_pin(0);
	end = th_now_ns() + (uint64_t)(seconds * 1e9);
	for (;;) {
		uint64_t now = th_now_ns();

		if (!finalized && now >= end) {
			if (!k->live_finalize) {
				atomic_store(&sh.stop, 1);
				for (int i = 0; i < k->writers; i++)
					pthread_join(th[i], NULL);
			}
			if (iobuf_stream_finalize(sh.s) != 0)
				ok = false;
			finalized = true;
			end = now + DRAIN_NS;
		} else if (finalized && now >= end) {
			printf("# %s: the stream did not drain\n", k->name);
			ok = false;
			break;
		}
		rc = iobuf_stream_wait(sh.s, &g, 10000000);
		if (rc == -EPIPE)
			break;
		if (rc == -ETIMEDOUT)
			continue;
		if (rc != 0 || !check_group(set, &g, &last, &got)) {
			printf("# %s: bad group (rc %d, seq %" PRIu64 ")\n", k->name, rc, g.seq);
			ok = false;
			if (rc == 0)
				(void)iobuf_slice_put(set, &g.slice);
			break;
		}
		if (iobuf_slice_put(set, &g.slice) != 0)
			ok = false;
	}
	if (k->live_finalize || !finalized) {
		atomic_store(&sh.stop, 1);
		for (int i = 0; i < k->writers; i++)
			pthread_join(th[i], NULL);
	}
	for (int i = 0; i < k->writers; i++) {
		for (size_t j = 0; j < w[i].log.n; j++)
			log_add(&want, w[i].log.e[j].offset, w[i].log.e[j].len, w[i].log.e[j].state);
		lost += w[i].lost;
		free(w[i].log.e);
	}
	qsort(got.e, got.n, sizeof(*got.e), cmp_ent);
	qsort(want.e, want.n, sizeof(*want.e), cmp_ent);
	if (ok && got.n != want.n) {
		printf("# %s: %zu records dispatched, %zu reserved\n", k->name, got.n, want.n);
		ok = false;
	}
	for (size_t j = 0; ok && j < got.n; j++)
		/* A late commit after finalize cannot tell a timeout from finalize once the group is gone (-EPIPE). */
		if (got.e[j].offset != want.e[j].offset || got.e[j].len != want.e[j].len ||
		    (got.e[j].state != want.e[j].state &&
		     !(got.e[j].state == IOBUF_RECORD_TIMEDOUT && want.e[j].state == IOBUF_RECORD_FINALIZED))) {
			printf("# %s: record at %" PRIu64 ": dispatched len %u state %u, writer len %u state %u\n",
			       k->name, got.e[j].offset, got.e[j].len, got.e[j].state, want.e[j].len,
			       want.e[j].state);
			ok = false;
		}
	if (iobuf_stream_stats(sh.s, &st) != 0 || st.lost != lost || st.committed + st.failed != got.n)
		ok = false;
	printf("# %s: %" PRIu64 " groups, %" PRIu64 " committed, %" PRIu64 " failed, %" PRIu64 " lost\n", k->name,
	       st.groups, st.committed, st.failed, st.lost);
	if (k->forever && (want.n == 0 || st.failed == 0))
		ok = false;
	if (iobuf_stream_destroy(sh.s) != 0)
		ok = false;
	if (iobuf_pool_stats(iobuf_set_pool(set, IOBUF_TIER_MEDIUM), &ps) != 0 || ps.in_use != 0)
		ok = false;
	free(got.e);
	free(want.e);
	iobuf_set_destroy(set);
	return ok && !sh.bad;
}

int main(int argc, char **argv)
{
	static const struct kase cases[] = {
		{"1 writer, in place", 1, 0, false, false},
		{"2 writers, in place", 2, 0, false, false},
		{"4 writers, in place, finalized while writing", 4, 0, false, true},
		{"2 writers, timeouts, one stalled forever", 2, 20000000, true, false},
		{"4 writers, timeouts, finalized while writing", 4, 20000000, true, true},
	};
	int ncases = (int)(sizeof(cases) / sizeof(cases[0]));
	bool longrun = argc > 1 && strcmp(argv[1], "--long") == 0;

	printf("# %s: %d CPUs allowed\n", longrun ? "long run" : "short run", th_ncpus());
	printf("1..%d\n", ncases);
	for (int i = 0; i < ncases; i++)
		tap(run_one(&cases[i], longrun ? 10.0 : 0.4), "%s", cases[i].name);
	return failures ? 1 : 0;
}
