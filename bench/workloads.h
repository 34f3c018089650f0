/* SPDX-License-Identifier: MIT */
/*
 * workloads.h - the loops of W1..W5, stamped out once per peer.
 *
 * Include it after defining BENCH_PEER (the peer's prefix) and these
 * static inline functions, which the loops call directly (so they inline):
 *
 *   void *P_thr_enter(void *shared)          per-thread context (or shared)
 *   void  P_thr_leave(void *shared, void *t)
 *   bool  P_get(void *t, bench_tok_t *tok)   false: empty
 *   bool  P_put(void *t, bench_tok_t tok)    false: refused (a bug: the run fails)
 *   void *P_addr(void *t, bench_tok_t tok)   the buffer's first byte
 *   bool  P_get_n(void *t, bench_tok_t *toks, int n)      all or none
 *   bool  P_put_n(void *t, const bench_tok_t *toks, int n)
 *
 * and, when BENCH_PEER_HAS_WAIT is defined,
 *
 *   bool  P_get_wait(void *t, bench_tok_t *tok, int64_t timeout_ns)
 *
 * A peer without bulk calls gets P_get_n/P_put_n from BENCH_SINGLE_BULK(P).
 * The result is `const struct bench_ops P_ops`.
 */
#ifndef BENCH_PEER
#error "define BENCH_PEER before including workloads.h"
#endif

#include "harness.h"

#define BENCH_CAT2(a, b) a##_##b
#define BENCH_CAT(a, b) BENCH_CAT2(a, b)
#define BP(x) BENCH_CAT(BENCH_PEER, x)

/* W1 (and each thread of W3): get, touch the first byte, put. */
static BENCH_NOINLINE void BP(w1)(struct bench_thr *b)
{
	void *t = b->t;
	uint64_t pairs = 0;
	bench_tok_t tok;

	b->t0 = th_now_ns();
	for (;;) {
		for (unsigned i = 0; i < BENCH_BATCH; i++) {
			if (BENCH_UNLIKELY(!BP(get)(t, &tok))) {
				bench_fail(b, "get found the pool empty");
				goto out;
			}
			bench_touch(BP(addr)(t, tok), i);
			if (BENCH_UNLIKELY(!BP(put)(t, tok))) {
				bench_fail(b, "put refused");
				goto out;
			}
		}
		pairs += BENCH_BATCH;
		if (bench_done(b, pairs))
			break;
	}
out:
	b->t1 = th_now_ns();
	b->pairs = pairs;
}

/* W2: get 32 (bulk where the peer has it), touch each, put the 32. */
static BENCH_NOINLINE void BP(w2)(struct bench_thr *b)
{
	void *t = b->t;
	uint64_t pairs = 0;
	bench_tok_t toks[BENCH_BURST];

	b->t0 = th_now_ns();
	for (;;) {
		for (unsigned i = 0; i < BENCH_BATCH / BENCH_BURST; i++) {
			if (BENCH_UNLIKELY(!BP(get_n)(t, toks, BENCH_BURST))) {
				bench_fail(b, "bulk get found the pool empty");
				goto out;
			}
			for (unsigned j = 0; j < BENCH_BURST; j++)
				bench_touch(BP(addr)(t, toks[j]), j);
			if (BENCH_UNLIKELY(!BP(put_n)(t, toks, BENCH_BURST))) {
				bench_fail(b, "bulk put refused");
				goto out;
			}
		}
		pairs += BENCH_BATCH;
		if (bench_done(b, pairs))
			break;
	}
out:
	b->t1 = th_now_ns();
	b->pairs = pairs;
}

#ifndef BENCH_HANDOFF_END
#define BENCH_HANDOFF_END ((void *)UINTPTR_MAX)
#endif

/* W4, core 0: get, touch, pass the token through the SPSC ring. */
static BENCH_NOINLINE void BP(w4_producer)(struct bench_thr *b)
{
	void *t = b->t;
	uint64_t pairs = 0;
	bench_tok_t tok;

	b->t0 = th_now_ns();
	for (;;) {
		for (unsigned i = 0; i < BENCH_BATCH; i++) {
			/* Buffers parked in the consumer's cache come back later: retry. */
			while (BENCH_UNLIKELY(!BP(get)(t, &tok)))
				ck_pr_stall();
			bench_touch(BP(addr)(t, tok), i);
			while (!ck_ring_enqueue_spsc(b->ring, b->ring_buf, (void *)(uintptr_t)tok))
				ck_pr_stall();
		}
		pairs += BENCH_BATCH;
		if (bench_done(b, pairs) || ck_pr_load_ptr(&b->error))
			break;
	}
	while (!ck_ring_enqueue_spsc(b->ring, b->ring_buf, BENCH_HANDOFF_END))
		ck_pr_stall();
	b->t1 = th_now_ns();
	b->pairs = pairs;
}

/* W4, core 1: take tokens off the ring and put them back. */
static BENCH_NOINLINE void BP(w4_consumer)(struct bench_thr *b)
{
	void *t = b->t;
	uint64_t pairs = 0;
	void *p;

	b->t0 = th_now_ns();
	for (;;) {
		if (!ck_ring_dequeue_spsc(b->ring, b->ring_buf, &p)) {
			ck_pr_stall();
			continue;
		}
		if (p == BENCH_HANDOFF_END)
			break;
		if (BENCH_UNLIKELY(!BP(put)(t, (bench_tok_t)(uintptr_t)p)))
			bench_fail(b, "put refused");
		pairs++;
	}
	b->t1 = th_now_ns();
	b->pairs = pairs;
}

/* W5: a put stamps the time when the other thread waits and no put has yet. */
static inline bool BP(w5_put)(void *t, struct bench_w5 *s, int other, bench_tok_t tok)
{
	if (ck_pr_load_32(&s->armed[other]) && ck_pr_load_64(&s->first_put[other]) == 0)
		ck_pr_cas_64(&s->first_put[other], 0, th_now_ns());
	return BP(put)(t, tok);
}

/*
 * W5: a pool of 64 shared by two threads, each holding up to 40.  A step
 * gets (5 times in 8, always at 0 held) or puts (always at 40 held).  A get
 * that finds the pool empty is counted; a thread holding fewer than 32 then
 * waits for a buffer (the peer's waiting get, or a spin-retry) and the
 * time from the other thread's first put to the return is one latency
 * sample; a thread holding 32 or more puts one instead (so the two never
 * wait for each other).
 */
static BENCH_NOINLINE void BP(w5)(struct bench_thr *b)
{
	void *t = b->t;
	struct bench_w5 *s = b->w5;
	const int me = b->id, other = 1 - b->id;
	bench_tok_t held[BENCH_W5_HOLD];
	int n = 0;
	uint64_t gets = 0, steps = 0;

	b->t0 = th_now_ns();
	for (;;) {
		bool want_get = n == 0 || (n < BENCH_W5_HOLD && (th_rand(&b->seed) & 7) < 5);

		if (want_get) {
			b->attempts++;
			if (BP(get)(t, &held[n])) {
				n++;
				gets++;
			} else {
				b->empties++;
				if (n >= BENCH_W5_WAIT_BELOW) {
					if (BENCH_UNLIKELY(!BP(w5_put)(t, s, other, held[--n])))
						bench_fail(b, "put refused");
				} else {
					uint64_t t_arm, t_ret, fp;
					bool ok;

					ck_pr_store_64(&s->first_put[me], 0);
					ck_pr_fence_store();
					ck_pr_store_32(&s->armed[me], 1);
					ck_pr_fence_memory();
					t_arm = th_now_ns();
#ifdef BENCH_PEER_HAS_WAIT
					ok = BP(get_wait)(t, &held[n], BENCH_W5_TIMEOUT_NS);
#else
					/* No waiting get: spin-retry, looking at the clock every 64 tries. */
					ok = false;
					for (unsigned spin = 1;; spin++) {
						if (BP(get)(t, &held[n])) {
							ok = true;
							break;
						}
						if ((spin & 63) == 0 &&
						    th_now_ns() - t_arm >= (uint64_t)BENCH_W5_TIMEOUT_NS)
							break;
						ck_pr_stall();
					}
#endif
					t_ret = th_now_ns();
					ck_pr_store_32(&s->armed[me], 0);
					fp = ck_pr_load_64(&s->first_put[me]);
					if (ok) {
						n++;
						gets++;
						/*
						 * From the first put stamped while we waited; a stamp
						 * after our return (the putter was slow between its
						 * look at armed[] and its clock) or none at all means
						 * the buffer came from a put we did not see: count
						 * from when we started waiting.
						 */
						uint64_t from = fp > t_arm && fp <= t_ret ? fp : t_arm;

						if (b->nlat < BENCH_W5_MAX_LAT)
							b->lat[b->nlat++] = (uint32_t)(t_ret - from);
					} else {
						b->timeouts++;
					}
				}
			}
		} else if (BENCH_UNLIKELY(!BP(w5_put)(t, s, other, held[--n]))) {
			bench_fail(b, "put refused");
		}
		if ((++steps & 63) == 0 && (th_now_ns() - b->t0 >= b->run_ns || b->error))
			break;
	}
	while (n > 0)
		if (BENCH_UNLIKELY(!BP(w5_put)(t, s, other, held[--n])))
			bench_fail(b, "put refused");
	b->t1 = th_now_ns();
	b->pairs = gets;
}

static const struct bench_ops BP(ops) = {
    .thr_enter = BP(thr_enter),
    .thr_leave = BP(thr_leave),
    .w1 = BP(w1),
    .w2 = BP(w2),
    .w4_producer = BP(w4_producer),
    .w4_consumer = BP(w4_consumer),
    .w5 = BP(w5),
};

#undef BP
#undef BENCH_PEER
#undef BENCH_PEER_HAS_WAIT
