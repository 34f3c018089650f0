/* SPDX-License-Identifier: MIT */
/*
 * test_scq.c - the SCQ index queue on one thread: every function and error
 * code, FIFO order against a model over many capacities and many laps of
 * the ring, and runs through the wrap of the 64-bit tickets and of the
 * truncated cycles (via the private iobuf__scq_init_at()).
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <iobuf/scq.h>

#include "scq.h"
#include "util.h"

static const uint32_t caps[] = { 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 64, 1000, 4096 };
#define NCAPS (sizeof(caps) / sizeof(caps[0]))

/* posix_memalign is wrapped at link time so create() can be made to fail. */
int __real_posix_memalign(void **p, size_t align, size_t size);
int __wrap_posix_memalign(void **p, size_t align, size_t size);
static int fail_alloc;

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
	if (fail_alloc)
		return ENOMEM;
	return __real_posix_memalign(p, align, size);
}

/* A queue in memory of our own, aligned, for init(). */
static struct iobuf_scq *mk(uint32_t cap, bool full, uint64_t start)
{
	size_t size = iobuf_scq_memsize(cap);
	void *mem = NULL;

	assert_true(size > 0);
	assert_int_equal(posix_memalign(&mem, IOBUF_SCQ_ALIGN, size), 0);
	memset(mem, 0xa5, size);
	assert_int_equal(iobuf__scq_init_at(mem, cap, full, start), 0);
	return mem;
}

static void rm(struct iobuf_scq *q)
{
	iobuf_scq_fini(q);
	free(q);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* ---- model: a FIFO of indices and which ones are in it ------------------- */

struct model {
	uint32_t cap, head, len;
	uint32_t *ring;
	uint8_t *in;
};

static void model_init(struct model *m, uint32_t cap, bool full)
{
	m->cap = cap;
	m->head = 0;
	m->len = 0;
	m->ring = calloc(cap, sizeof(*m->ring));
	m->in = calloc(cap, 1);
	assert_non_null(m->ring);
	assert_non_null(m->in);
	if (full)
		for (uint32_t i = 0; i < cap; i++) {
			m->ring[i] = i;
			m->in[i] = 1;
			m->len++;
		}
}

static void model_fini(struct model *m)
{
	free(m->ring);
	free(m->in);
}

static void model_push(struct model *m, uint32_t v)
{
	assert_true(m->len < m->cap);
	assert_false(m->in[v]);
	m->ring[(m->head + m->len) % m->cap] = v;
	m->in[v] = 1;
	m->len++;
}

static uint32_t model_pop(struct model *m)
{
	uint32_t v;

	assert_true(m->len > 0);
	v = m->ring[m->head];
	m->head = (m->head + 1) % m->cap;
	m->len--;
	m->in[v] = 0;
	return v;
}

/* Some index not in the queue (the model has room). */
static uint32_t model_pick_out(struct model *m)
{
	uint32_t v = (uint32_t)(rnd() % m->cap);

	while (m->in[v])
		v = (v + 1) % m->cap;
	return v;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_memsize(void **state)
{
	size_t prev = 0;

	(void)state;
	assert_int_equal(iobuf_scq_memsize(0), 0);
	assert_int_equal(iobuf_scq_memsize(IOBUF_SCQ_MAX_CAPACITY + 1), 0);
	assert_int_equal(iobuf_scq_memsize(UINT32_MAX), 0);
	assert_true(iobuf_scq_memsize(IOBUF_SCQ_MAX_CAPACITY) >= (size_t)2 * IOBUF_SCQ_MAX_CAPACITY * 8);
	for (uint32_t c = 1; c <= 5000; c++) {
		size_t s = iobuf_scq_memsize(c);

		assert_true(s > 0);
		assert_int_equal(s % IOBUF_SCQ_ALIGN, 0);
		assert_true(s >= sizeof(struct iobuf_scq) + 2 * (size_t)c * 8);
		assert_true(s >= prev);
		prev = s;
	}
	/* Same power of two, same size; 2n entries of 8 bytes. */
	assert_int_equal(iobuf_scq_memsize(5), iobuf_scq_memsize(8));
	assert_int_equal(iobuf_scq_memsize(9) - iobuf_scq_memsize(8), 16 * 8);
}

static void test_init_errors(void **state)
{
	size_t size = iobuf_scq_memsize(64);
	uint8_t *mem = NULL;

	(void)state;
	assert_int_equal(posix_memalign((void **)&mem, IOBUF_SCQ_ALIGN, size + IOBUF_SCQ_ALIGN), 0);
	assert_int_equal(iobuf_scq_init(NULL, 64, true), -EINVAL);
	for (size_t off = 1; off < IOBUF_SCQ_ALIGN; off += off < 8 ? 1 : 8)
		assert_int_equal(iobuf_scq_init((struct iobuf_scq *)(mem + off), 64, true), -EINVAL);
	assert_int_equal(iobuf_scq_init((struct iobuf_scq *)mem, 0, true), -EINVAL);
	assert_int_equal(iobuf_scq_init((struct iobuf_scq *)mem, IOBUF_SCQ_MAX_CAPACITY + 1, false), -EINVAL);
	assert_int_equal(iobuf__scq_init_at((struct iobuf_scq *)(mem + 8), 64, true, 5), -EINVAL);
	/* At an aligned offset it works. */
	assert_int_equal(iobuf_scq_init((struct iobuf_scq *)(mem + IOBUF_SCQ_ALIGN), 64, true), 0);
	assert_int_equal(iobuf_scq_capacity((struct iobuf_scq *)(mem + IOBUF_SCQ_ALIGN)), 64);
	assert_int_equal(iobuf_scq_count((struct iobuf_scq *)(mem + IOBUF_SCQ_ALIGN)), 64);
	iobuf_scq_fini((struct iobuf_scq *)(mem + IOBUF_SCQ_ALIGN));
	iobuf_scq_fini(NULL);
	free(mem);
}

static void test_create_destroy(void **state)
{
	struct iobuf_scq *q;
	int err = 1;

	(void)state;
	q = iobuf_scq_create(0, false, &err);
	assert_null(q);
	assert_int_equal(err, -EINVAL);
	err = 1;
	q = iobuf_scq_create(IOBUF_SCQ_MAX_CAPACITY + 1, true, &err);
	assert_null(q);
	assert_int_equal(err, -EINVAL);
	assert_null(iobuf_scq_create(0, false, NULL));

	fail_alloc = 1;
	err = 1;
	q = iobuf_scq_create(100, true, &err);
	fail_alloc = 0;
	assert_null(q);
	assert_int_equal(err, -ENOMEM);

	err = 1;
	q = iobuf_scq_create(100, true, &err);
	assert_non_null(q);
	assert_int_equal(err, 0);
	assert_int_equal((uintptr_t)q % IOBUF_SCQ_ALIGN, 0);
	assert_int_equal(iobuf_scq_capacity(q), 100);
	assert_int_equal(iobuf_scq_count(q), 100);
	assert_int_equal(iobuf_scq_dequeue(q), 0);
	iobuf_scq_destroy(q);

	q = iobuf_scq_create(3, false, NULL);
	assert_non_null(q);
	assert_int_equal(iobuf_scq_count(q), 0);
	assert_int_equal(iobuf_scq_dequeue(q), -EAGAIN);
	iobuf_scq_destroy(q);
	iobuf_scq_destroy(NULL);
}

static void test_layout(void **state)
{
	struct iobuf_scq *q = mk(64, false, 0);

	(void)state;
	/* head, threshold, tail on separate cache lines (and 128-byte pairs). */
	assert_true(offsetof(struct iobuf_scq, threshold) - offsetof(struct iobuf_scq, head) >= 2 * IOBUF_CACHELINE);
	assert_true(offsetof(struct iobuf_scq, tail) - offsetof(struct iobuf_scq, threshold) >= 2 * IOBUF_CACHELINE);
	assert_true(offsetof(struct iobuf_scq, slot_mask) - offsetof(struct iobuf_scq, tail) >= 2 * IOBUF_CACHELINE);
	assert_int_equal(offsetof(struct iobuf_scq, entry) % IOBUF_SCQ_ALIGN, 0);
	assert_int_equal(q->slot_mask, 127);
	assert_int_equal(q->order, 7);
	assert_int_equal((int64_t)q->threshold, -1);
	assert_int_equal(q->thr_full, 3 * 64 - 1);
	rm(q);
}

/* The remap is a bijection of [0, 2n) for every order, and spreads consecutive tickets. */
static void test_remap(void **state)
{
	(void)state;
	for (uint32_t cap = 1; cap <= 65536; cap *= 2) {
		struct iobuf_scq *q = mk(cap, false, 0);
		uint64_t entries = q->slot_mask + 1;
		uint8_t *seen = calloc(entries, 1);
		uint64_t per_line = IOBUF_CACHELINE / sizeof(uint64_t);

		assert_non_null(seen);
		for (uint64_t t = 0; t < entries; t++) {
			uint64_t s = iobuf__scq_slot(q, t);

			assert_true(s < entries);
			assert_false(seen[s]);
			seen[s] = 1;
			/* The same ticket a lap later, or 2^64 - entries + t, maps alike. */
			assert_int_equal(iobuf__scq_slot(q, t + entries * 12345), s);
			assert_int_equal(iobuf__scq_slot(q, t - entries), s);
		}
		if (entries * sizeof(uint64_t) > IOBUF__SCQ_BLOCK) {
			/* Remapped: neighbours are on different cache lines. */
			for (uint64_t t = 0; t + 1 < 3 * entries; t++)
				assert_int_not_equal(iobuf__scq_slot(q, t) / per_line, iobuf__scq_slot(q, t + 1) / per_line);
		} else {
			/* Tiny ring: identity. */
			for (uint64_t t = 0; t < entries; t++)
				assert_int_equal(iobuf__scq_slot(q, t), t);
		}
		free(seen);
		rm(q);
	}
}

/* A full start yields exactly 0 .. cap-1 in order, then -EAGAIN. */
static void check_full_start(uint32_t cap, uint64_t start)
{
	struct iobuf_scq *q = mk(cap, true, start);

	assert_int_equal(iobuf_scq_capacity(q), cap);
	assert_int_equal(iobuf_scq_count(q), cap);
	for (uint32_t i = 0; i < cap; i++) {
		assert_int_equal(iobuf_scq_dequeue(q), (int)i);
		assert_int_equal(iobuf_scq_count(q), cap - i - 1);
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(iobuf_scq_dequeue(q), -EAGAIN);
	assert_int_equal(iobuf_scq_count(q), 0);
	rm(q);
}

static void test_full_start(void **state)
{
	(void)state;
	for (size_t c = 0; c < NCAPS; c++)
		check_full_start(caps[c], 0);
}

static void test_empty_start(void **state)
{
	(void)state;
	for (size_t c = 0; c < NCAPS; c++) {
		uint32_t cap = caps[c];
		struct iobuf_scq *q = mk(cap, false, 0);
		uint64_t head;

		assert_int_equal(iobuf_scq_count(q), 0);
		assert_int_equal(iobuf_scq_dequeue(q), -EAGAIN);
		/* Known empty: no ticket taken, no write. */
		head = q->head;
		for (int i = 0; i < 100; i++)
			assert_int_equal(iobuf_scq_dequeue(q), -EAGAIN);
		assert_int_equal(q->head, head);
		assert_int_equal(iobuf_scq_enqueue(q, cap - 1), 0);
		assert_int_equal((int64_t)q->threshold, (int64_t)q->thr_full);
		assert_int_equal(iobuf_scq_count(q), 1);
		assert_int_equal(iobuf_scq_dequeue(q), (int)(cap - 1));
		assert_int_equal(iobuf_scq_dequeue(q), -EAGAIN);
		rm(q);
	}
}

/*
 * Empty dequeues that take tickets (threshold still >= 0) push head past
 * tail; the catch-up brings tail along, so the next enqueue is found.
 */
static void test_overtake_catchup(void **state)
{
	(void)state;
	for (size_t c = 0; c < NCAPS; c++) {
		uint32_t cap = caps[c];
		struct iobuf_scq *q = mk(cap, true, 0);

		for (uint32_t i = 0; i < cap; i++)
			assert_int_equal(iobuf_scq_dequeue(q), (int)i);
		for (int round = 0; round < 200; round++) {
			uint32_t k = (uint32_t)(round % 3) + 1;

			if (k > cap)
				k = cap;
			/* Empty: threshold >= 0, so this takes a ticket and catches tail up. */
			assert_int_equal(iobuf_scq_dequeue(q), -EAGAIN);
			assert_true(iobuf__scq_diff(q->tail, q->head) >= 0);
			for (uint32_t i = 0; i < k; i++)
				assert_int_equal(iobuf_scq_enqueue(q, (uint32_t)(round + i) % cap), 0);
			assert_int_equal(iobuf_scq_count(q), k);
			for (uint32_t i = 0; i < k; i++)
				assert_int_equal(iobuf_scq_dequeue(q), (int)((uint32_t)(round + i) % cap));
		}
		rm(q);
	}
}

static void test_enqueue_einval(void **state)
{
	(void)state;
	for (size_t c = 0; c < NCAPS; c++) {
		uint32_t cap = caps[c];
		struct iobuf_scq *q = mk(cap, false, 0);
		uint64_t tail = q->tail;

		assert_int_equal(iobuf_scq_enqueue(q, cap), -EINVAL);
		assert_int_equal(iobuf_scq_enqueue(q, cap + 1), -EINVAL);
		assert_int_equal(iobuf_scq_enqueue(q, UINT32_MAX), -EINVAL);
		assert_int_equal(iobuf_scq_enqueue(q, (uint32_t)q->slot_mask), -EINVAL); /* BOT */
		assert_int_equal(q->tail, tail);
		assert_int_equal(iobuf_scq_count(q), 0);
		assert_int_equal(iobuf_scq_dequeue(q), -EAGAIN);
		rm(q);
	}
}

static void test_burst_bulk(void **state)
{
	struct iobuf_scq *q = mk(10, true, 0);
	uint32_t out[16], in[16];

	(void)state;
	assert_int_equal(iobuf_scq_dequeue_burst(q, out, -1), -EINVAL);
	assert_int_equal(iobuf_scq_dequeue_burst(q, NULL, 1), -EINVAL);
	assert_int_equal(iobuf_scq_dequeue_burst(q, NULL, 0), 0);
	assert_int_equal(iobuf_scq_dequeue_burst(q, out, 0), 0);
	assert_int_equal(iobuf_scq_count(q), 10);

	assert_int_equal(iobuf_scq_dequeue_burst(q, out, 4), 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(out[i], i);
	/* More asked than there are: as many as there are. */
	assert_int_equal(iobuf_scq_dequeue_burst(q, out, 16), 6);
	for (uint32_t i = 0; i < 6; i++)
		assert_int_equal(out[i], 4 + i);
	assert_int_equal(iobuf_scq_dequeue_burst(q, out, 16), 0);

	assert_int_equal(iobuf_scq_enqueue_bulk(q, in, -1), -EINVAL);
	assert_int_equal(iobuf_scq_enqueue_bulk(q, NULL, 1), -EINVAL);
	assert_int_equal(iobuf_scq_enqueue_bulk(q, NULL, 0), 0);
	/* One bad index: nothing enqueued. */
	for (uint32_t i = 0; i < 5; i++)
		in[i] = 9 - i;
	in[3] = 10;
	assert_int_equal(iobuf_scq_enqueue_bulk(q, in, 5), -EINVAL);
	assert_int_equal(iobuf_scq_count(q), 0);
	assert_int_equal(iobuf_scq_dequeue(q), -EAGAIN);
	in[3] = 6;
	assert_int_equal(iobuf_scq_enqueue_bulk(q, in, 5), 0);
	assert_int_equal(iobuf_scq_count(q), 5);
	assert_int_equal(iobuf_scq_dequeue_burst(q, out, 16), 5);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(out[i], in[i]);
	assert_int_equal(iobuf_scq_dequeue(q), -EAGAIN);
	rm(q);
}

/*
 * Refill and drain, whole and in part, for more rounds than the ring has
 * entries, so every entry goes through many cycles; each round in a new
 * order.
 */
static void rounds(struct iobuf_scq *q, uint32_t cap, uint32_t nrounds)
{
	uint32_t *perm = malloc(cap * sizeof(*perm)), *got = malloc(cap * sizeof(*got));

	assert_non_null(perm);
	assert_non_null(got);
	for (uint32_t r = 0; r < nrounds; r++) {
		/* Every 32nd round whole, the others a few. */
		uint32_t m = r % 32 == 0 ? cap : 1 + (uint32_t)(rnd() % (cap < 37 ? cap : 37));

		/* Distinct indices: a run from r, reversed every other round. */
		for (uint32_t i = 0; i < m; i++)
			perm[i] = (r + (r % 2 ? m - 1 - i : i)) % cap;
		if (r % 2)
			assert_int_equal(iobuf_scq_enqueue_bulk(q, perm, (int)m), 0);
		else
			for (uint32_t i = 0; i < m; i++)
				assert_int_equal(iobuf_scq_enqueue(q, perm[i]), 0);
		assert_int_equal(iobuf_scq_count(q), m);
		if (r % 3 == 0) {
			assert_int_equal(iobuf_scq_dequeue_burst(q, got, (int)cap), (int)m);
			for (uint32_t i = 0; i < m; i++)
				assert_int_equal(got[i], perm[i]);
		} else {
			for (uint32_t i = 0; i < m; i++)
				assert_int_equal(iobuf_scq_dequeue(q), (int)perm[i]);
		}
		assert_int_equal(iobuf_scq_dequeue(q), -EAGAIN);
		assert_int_equal(iobuf_scq_count(q), 0);
	}
	free(perm);
	free(got);
}

static void test_rounds(void **state)
{
	(void)state;
	for (size_t c = 0; c < NCAPS; c++) {
		uint32_t cap = caps[c];
		struct iobuf_scq *q = mk(cap, true, 0);
		uint64_t entries;

		for (uint32_t i = 0; i < cap; i++)
			assert_int_equal(iobuf_scq_dequeue(q), (int)i);
		entries = q->slot_mask + 1;
		rounds(q, cap, (uint32_t)entries + 7);
		/* The cursors went round the ring many times. */
		assert_true(q->tail / entries > 4);
		rm(q);
	}
}

/* Random operations checked against the model, at a given start ticket. */
static void random_ops(uint32_t cap, uint64_t start, bool full, uint32_t nops)
{
	struct iobuf_scq *q = mk(cap, full, start);
	struct model m;
	uint32_t buf[8];

	model_init(&m, cap, full);
	for (uint32_t op = 0; op < nops; op++) {
		uint64_t r = rnd();
		/* Drift: favour filling in some stretches and draining in others. */
		bool fill = ((op >> 9) & 1) ? r % 4 != 0 : r % 4 == 0;

		switch ((r >> 8) % 4) {
		case 0: /* bulk */
			if (fill && m.len < cap) {
				uint32_t k = 1 + (uint32_t)((r >> 16) % 8);

				if (k > cap - m.len)
					k = cap - m.len;
				for (uint32_t i = 0; i < k; i++) {
					buf[i] = model_pick_out(&m);
					model_push(&m, buf[i]);
				}
				assert_int_equal(iobuf_scq_enqueue_bulk(q, buf, (int)k), 0);
			} else if (!fill) {
				int k = 1 + (int)((r >> 16) % 8), got;

				got = iobuf_scq_dequeue_burst(q, buf, k);
				assert_int_equal(got, k < (int)m.len ? k : (int)m.len);
				for (int i = 0; i < got; i++)
					assert_int_equal(buf[i], model_pop(&m));
			}
			break;
		default:
			if (fill && m.len < cap) {
				uint32_t v = model_pick_out(&m);

				model_push(&m, v);
				assert_int_equal(iobuf_scq_enqueue(q, v), 0);
			} else if (!fill) {
				int v = iobuf_scq_dequeue(q);

				if (m.len == 0)
					assert_int_equal(v, -EAGAIN);
				else
					assert_int_equal(v, (int)model_pop(&m));
			}
			break;
		}
		assert_int_equal(iobuf_scq_count(q), m.len);
	}
	while (m.len > 0)
		assert_int_equal(iobuf_scq_dequeue(q), (int)model_pop(&m));
	assert_int_equal(iobuf_scq_dequeue(q), -EAGAIN);
	model_fini(&m);
	rm(q);
}

static void test_random_model(void **state)
{
	(void)state;
	for (size_t c = 0; c < NCAPS; c++)
		random_ops(caps[c], 0, c % 2 == 0, 60000);
}

/*
 * Start just below a wrap and go round the ring many times through it:
 * 2^64 wraps the tickets, 2^63 wraps the truncated cycle field (bits k..62
 * of a ticket).  Some starts are off by odd amounts so that the wrap falls
 * mid-lap.
 */
static void wrap_at(uint64_t wrap)
{
	for (size_t c = 0; c < NCAPS; c++) {
		uint32_t cap = caps[c];
		uint64_t entries = 2 * iobuf__pow2_ceil64(cap);
		const uint64_t backs[] = { 1, 2, 3, cap, entries - 1, entries, 2 * entries + 5, 5 * entries + 3 };

		for (size_t b = 0; b < sizeof(backs) / sizeof(backs[0]); b++) {
			uint64_t start = wrap - backs[b];
			struct iobuf_scq *q;

			check_full_start(cap, start);
			q = mk(cap, true, start);
			for (uint32_t i = 0; i < cap; i++)
				assert_int_equal(iobuf_scq_dequeue(q), (int)i);
			/* Laps: at least 8 times round the ring, past the wrap. */
			rounds(q, cap, (uint32_t)(cap < 64 ? 8 * entries + 40 : 300));
			assert_true(iobuf__scq_diff(q->head, wrap) > 0);
			assert_true(q->head - wrap < entries * 1000000);
			rm(q);

			/* Empty start right at the wrap: overtaking and catch-up across it. */
			q = mk(cap, false, start);
			for (int i = 0; i < 3; i++) {
				assert_int_equal(iobuf_scq_dequeue(q), -EAGAIN);
				assert_int_equal(iobuf_scq_enqueue(q, (uint32_t)i % cap), 0);
				assert_int_equal(iobuf_scq_dequeue(q), i % (int)cap);
				assert_int_equal(iobuf_scq_dequeue(q), -EAGAIN);
			}
			rm(q);
		}
		random_ops(cap, wrap - 3 * entries - 1, true, 6000);
		random_ops(cap, wrap - 7, false, 6000);
	}
}

static void test_wrap_u64(void **state)
{
	(void)state;
	wrap_at(0); /* start = 2^64 - back */
}

static void test_wrap_cycle(void **state)
{
	(void)state;
	wrap_at(UINT64_C(1) << 63);
}

/* The truncated cycle really wraps at 2^63, and compares across it. */
static void test_cycle_compare(void **state)
{
	(void)state;
	for (uint32_t cap = 1; cap <= 4096; cap *= 4) {
		struct iobuf_scq *q = mk(cap, false, 0);
		uint64_t entries = q->slot_mask + 1;
		uint64_t before = (UINT64_C(1) << 63) - entries, after = UINT64_C(1) << 63;

		/* Same slot, consecutive cycles across the wrap point. */
		assert_int_equal(iobuf__scq_slot(q, before), iobuf__scq_slot(q, after));
		assert_true(iobuf__scq_diff(iobuf__scq_cycle(q, before), iobuf__scq_cycle(q, after)) < 0);
		assert_true(iobuf__scq_diff(iobuf__scq_cycle(q, after), iobuf__scq_cycle(q, before)) > 0);
		/* Tickets 2^63 apart alias: the cycle field keeps 63-k bits. */
		assert_int_equal(iobuf__scq_cycle(q, 5), iobuf__scq_cycle(q, 5 + (UINT64_C(1) << 63)));
		assert_int_equal(iobuf__scq_cycle(q, after) >> (q->order + 1), 0);
		/* And at the 64-bit wrap. */
		assert_true(iobuf__scq_diff(iobuf__scq_cycle(q, 0 - entries), iobuf__scq_cycle(q, 0)) < 0);
		rm(q);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memsize),
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_create_destroy),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_remap),
		cmocka_unit_test(test_full_start),
		cmocka_unit_test(test_empty_start),
		cmocka_unit_test(test_overtake_catchup),
		cmocka_unit_test(test_enqueue_einval),
		cmocka_unit_test(test_burst_bulk),
		cmocka_unit_test(test_rounds),
		cmocka_unit_test(test_random_model),
		cmocka_unit_test(test_cycle_compare),
		cmocka_unit_test(test_wrap_u64),
		cmocka_unit_test(test_wrap_cycle),
	};

	return cmocka_run_group_tests_name("scq", tests, NULL, NULL);
}
