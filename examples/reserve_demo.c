/* SPDX-License-Identifier: MIT */
/*
 * reserve_demo.c - many writers, one ordered stream (iobuf/reserve.h).
 *
 *   reserve_demo [--writers N] [--records N]
 *
 * N writer threads reserve records of random sizes in one stream and
 * write them in place: most whole, some in chunks (iobuf_reservation_
 * write()), a few aborted, and one writer stalls forever on one of its
 * reservations, which the stream's timeout fails.  The main thread is the
 * consumer: it waits for each group (iobuf_stream_wait()), checks that
 * the groups come in stream order, that every committed record holds the
 * bytes its writer wrote (a pattern of its writer, sequence and offset),
 * and that every failed record is reported once with its offset and
 * size; then it finalizes the stream, drains it and prints the counts.
 * Exit 0 when everything checked out and every buffer is back.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>

#include <iobuf.h>

#define MAXW 16

struct writer {
	struct iobuf_stream *s;
	int id, records;
	bool stall; /* leave one reservation open forever */
	uint64_t committed, aborted, refused, late; /* late: a commit refused, the timeout came first */
	unsigned seed;
};

static atomic_int failures;

/* The byte at @i of a record of writer @w with sequence @seq. */
static uint8_t pattern(int w, uint32_t seq, uint32_t i)
{
	return (uint8_t)(w * 31 + seq * 7 + i);
}

static unsigned rnd(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

static void *write_records(void *arg)
{
	struct writer *w = arg;

	for (int n = 0; n < w->records; n++) {
		struct iobuf_reservation r;
		/* A header of 8 bytes (writer, sequence) then the body. */
		uint32_t len = 8 + rnd(&w->seed) % 600;
		unsigned kind = rnd(&w->seed) % 20;
		uint8_t body[608];
		int rc;

		rc = iobuf_stream_reserve(w->s, len, &r);
		if (rc == -ENOBUFS) { /* the consumer is behind: try again */
			w->refused++;
			n--;
			sched_yield();
			continue;
		}
		if (rc < 0) {
			fprintf(stderr, "reserve_demo: writer %d: reserve: %s\n", w->id, iobuf_strerror(rc));
			atomic_fetch_add(&failures, 1);
			return NULL;
		}
		memcpy(body, &(uint32_t[2]){(uint32_t)w->id, (uint32_t)n}, 8);
		for (uint32_t i = 8; i < len; i++)
			body[i] = pattern(w->id, (uint32_t)n, i);
		if (w->stall && n == w->records / 2) {
			memcpy(r.data, body, len); /* written, never committed: the timeout fails it */
			w->stall = false;
			continue;
		}
		if (kind == 0) {
			if (iobuf_reservation_abort(&r) == 0)
				w->aborted++;
			continue;
		}
		if (kind < 5) { /* in chunks */
			for (uint32_t at = 0; at < len; at += 100)
				if (iobuf_reservation_write(&r, at, body + at, len - at < 100 ? len - at : 100) < 0)
					break;
		} else {
			memcpy(r.data, body, len); /* in place */
		}
		rc = iobuf_reservation_commit(&r);
		if (rc == 0)
			w->committed++;
		else if (rc == -ETIMEDOUT)
			w->late++; /* preempted past the timeout: failed, and reported so */
		else {
			fprintf(stderr, "reserve_demo: writer %d: commit: %s\n", w->id, iobuf_strerror(rc));
			atomic_fetch_add(&failures, 1);
		}
	}
	return NULL;
}

/* Check one dispatched group; returns its committed records. */
static uint64_t check_group(const struct iobuf_set *set, const struct iobuf_group *g, uint64_t *next_seq,
			    uint64_t *failed_seen)
{
	const uint8_t *b = iobuf_slice_buf(set, &g->slice);
	uint64_t ok = 0;

	if (g->seq < *next_seq) {
		fprintf(stderr, "reserve_demo: group %" PRIu64 " after %" PRIu64 ": out of order\n", g->seq, *next_seq);
		atomic_fetch_add(&failures, 1);
	}
	*next_seq = g->seq + 1;
	for (uint32_t i = 0; i < g->nrec; i++) {
		const struct iobuf_record *rec = &g->rec[i];
		const uint8_t *p = b + (rec->offset - g->offset);
		uint32_t hdr[2];

		if (rec->offset < g->offset || rec->offset + rec->len > g->offset + g->slice.len) {
			fprintf(stderr, "reserve_demo: a record outside its group\n");
			atomic_fetch_add(&failures, 1);
			continue;
		}
		if (rec->state != IOBUF_RECORD_COMMITTED) {
			(*failed_seen)++;
			continue;
		}
		memcpy(hdr, p, 8);
		for (uint32_t k = 8; k < rec->len; k++)
			if (p[k] != pattern((int)hdr[0], hdr[1], k)) {
				fprintf(stderr, "reserve_demo: writer %u's record %u: byte %u differs\n", hdr[0], hdr[1], k);
				atomic_fetch_add(&failures, 1);
				break;
			}
		ok++;
	}
	return ok;
}

int main(int argc, char **argv)
{
	int nw = 4, records = 20000;
	struct iobuf_set_config scfg = {.capacity = {[IOBUF_TIER_HUGE] = 8}};
	struct iobuf_set *set;
	struct iobuf_stream_config cfg = {
		.group_size = 65536, .groups = 4, .timeout_ns = 200 * 1000 * 1000, .max_delay_ns = 5 * 1000 * 1000};
	struct iobuf_stream *s;
	struct writer w[MAXW];
	pthread_t t[MAXW];
	struct iobuf_stream_stats st;
	struct iobuf_set_stats ss;
	uint64_t next_seq = 0, committed_seen = 0, failed_seen = 0, committed = 0, aborted = 0, late = 0;
	bool joined[MAXW] = {0};
	int err, rc, done = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--writers") && i + 1 < argc)
			nw = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--records") && i + 1 < argc)
			records = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: reserve_demo [--writers 1..%d] [--records N]\n", MAXW);
			return 2;
		}
	}
	if (nw < 1 || nw > MAXW || records < 1) {
		fprintf(stderr, "reserve_demo: --writers 1..%d, --records >= 1\n", MAXW);
		return 2;
	}
	set = iobuf_set_create(&scfg, &err);
	if (!set) {
		fprintf(stderr, "reserve_demo: iobuf_set_create: %s\n", iobuf_strerror(err));
		return 1;
	}
	cfg.set = set;
	s = iobuf_stream_create(&cfg, &err);
	if (!s) {
		fprintf(stderr, "reserve_demo: iobuf_stream_create: %s\n", iobuf_strerror(err));
		return 1;
	}
	for (int i = 0; i < nw; i++) {
		w[i] = (struct writer){.s = s, .id = i, .records = records, .stall = i == 0, .seed = 7u + (unsigned)i};
		if (pthread_create(&t[i], NULL, write_records, &w[i]) != 0)
			return 1;
	}
	/* The consumer: until every writer is done, then finalize and drain. */
	for (;;) {
		struct iobuf_group g;

		rc = iobuf_stream_wait(s, &g, 20 * 1000 * 1000);
		if (rc == 0) {
			committed_seen += check_group(set, &g, &next_seq, &failed_seen);
			(void)iobuf_slice_put(set, &g.slice);
			continue;
		}
		if (rc == -EPIPE)
			break;
		if (rc != -ETIMEDOUT) {
			fprintf(stderr, "reserve_demo: wait: %s\n", iobuf_strerror(rc));
			return 1;
		}
		if (!done) {
			int alive = 0;

			for (int i = 0; i < nw; i++) {
				if (!joined[i] && pthread_tryjoin_np(t[i], NULL) == 0)
					joined[i] = true;
				alive += !joined[i];
			}
			if (alive == 0) {
				done = 1;
				(void)iobuf_stream_finalize(s);
			}
		}
	}
	for (int i = 0; i < nw; i++) {
		if (!joined[i])
			pthread_join(t[i], NULL);
		committed += w[i].committed;
		aborted += w[i].aborted;
		late += w[i].late;
	}
	iobuf_stream_stats(s, &st);
	printf("reserve_demo: %d writers, %" PRIu64 " groups, %" PRIu64 " bytes dispatched; %" PRIu64
	       " records committed, %" PRIu64 " failed (%" PRIu64 " aborted, 1 stalled past the timeout, %" PRIu64
	       " committed too late), %" PRIu64 " reservations refused while the consumer lagged\n",
	       nw, st.groups, st.bytes, st.committed, st.failed, aborted, late, st.lost);
	if (committed_seen != committed || st.committed != committed) {
		fprintf(stderr, "reserve_demo: %" PRIu64 " commits made, %" PRIu64 " seen\n", committed, committed_seen);
		atomic_fetch_add(&failures, 1);
	}
	if (failed_seen != aborted + late + 1 || st.failed != failed_seen) {
		fprintf(stderr, "reserve_demo: %" PRIu64 " failures made, %" PRIu64 " seen\n", aborted + late + 1,
			failed_seen);
		atomic_fetch_add(&failures, 1);
	}
	rc = iobuf_stream_destroy(s);
	if (rc < 0) {
		fprintf(stderr, "reserve_demo: destroy: %s\n", iobuf_strerror(rc));
		atomic_fetch_add(&failures, 1);
	}
	iobuf_set_stats(set, &ss);
	if (ss.tier[IOBUF_TIER_HUGE].in_use != 0) {
		fprintf(stderr, "reserve_demo: %u buffers not back\n", ss.tier[IOBUF_TIER_HUGE].in_use);
		atomic_fetch_add(&failures, 1);
	}
	iobuf_set_destroy(set);
	printf("reserve_demo: %s\n", atomic_load(&failures) ? "FAILED" : "every byte checked, every buffer back");
	return atomic_load(&failures) ? 1 : 0;
}
