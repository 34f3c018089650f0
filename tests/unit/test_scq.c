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
	assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
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

/* A full start yields exactly 0 .. cap-1 in order, then -ENOBUFS. */
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
		assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
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
		assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
		/* Known empty: no ticket taken, no write. */
		head = q->head;
		for (int i = 0; i < 100; i++)
			assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
		assert_int_equal(q->head, head);
		assert_int_equal(iobuf_scq_enqueue(q, cap - 1), 0);
		assert_int_equal((int64_t)q->threshold, (int64_t)q->thr_full);
		assert_int_equal(iobuf_scq_count(q), 1);
		assert_int_equal(iobuf_scq_dequeue(q), (int)(cap - 1));
		assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
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
			assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
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
		assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
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
	assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
	in[3] = 6;
	assert_int_equal(iobuf_scq_enqueue_bulk(q, in, 5), 0);
	assert_int_equal(iobuf_scq_count(q), 5);
	assert_int_equal(iobuf_scq_dequeue_burst(q, out, 16), 5);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(out[i], in[i]);
	assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
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
		assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
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
					assert_int_equal(v, -ENOBUFS);
				else
					assert_int_equal(v, (int)model_pop(&m));
			}
			break;
		}
		assert_int_equal(iobuf_scq_count(q), m.len);
	}
	while (m.len > 0)
		assert_int_equal(iobuf_scq_dequeue(q), (int)model_pop(&m));
	assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
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
				assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
				assert_int_equal(iobuf_scq_enqueue(q, (uint32_t)i % cap), 0);
				assert_int_equal(iobuf_scq_dequeue(q), i % (int)cap);
				assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
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


/* ---- interleavings: virtual threads stepped one ticket at a time ----------- */

/*
 * Each virtual thread runs a script of operations, each made of the same
 * steps the real operations take (src/scq.h): a dequeue is [threshold
 * check + FAA head] [visit] ([missed] [FAA head] [visit] ...), an enqueue
 * [FAA tail] [visit] ([FAA tail] [visit] ...).  A step runs alone, so a
 * schedule is a sequence of thread numbers, and every interleaving of
 * tickets and visits can be replayed: exhaustively for short scripts,
 * with PCT-style random priorities (which favour one thread stalling for
 * a long while) for longer ones.  The races inside one visit (a CAS
 * losing to a change) are the stress test's part.
 *
 * Script: 'D' dequeue; 'L' enqueue the index this thread took most
 * recently and still holds (nothing if none); '0'..'9' enqueue that index.
 */
#define VT_MAX 3
#define VT_OPS 12
#define VT_STEPS 400

struct vthr {
	const char *script;
	int op;              /* next operation in script */
	int pc;              /* 0 start, 1 visit, 2 missed, 3 FAA again */
	uint64_t ticket;
	int held[VT_OPS], nheld;
	int got[VT_OPS], ngot; /* results of its dequeues */
	int enq_val;         /* the index of the enqueue in flight */
};

struct world {
	_Alignas(IOBUF_SCQ_ALIGN) uint8_t mem[1024];
	struct vthr t[VT_MAX];
	int nt, steps;
	int expect[8];       /* model: how many times each index is in the queue */
	uint8_t sched[VT_STEPS];
};

struct scenario {
	const char *name;
	uint32_t cap;
	bool full;
	const char *script[VT_MAX];
	bool no_empty;       /* no dequeue may see the queue empty */
	bool fifo;           /* one producer enqueues increasing indices: each consumer sees them increasing */
};

static struct iobuf_scq *wq(struct world *w)
{
	return (struct iobuf_scq *)w->mem;
}

static void world_init(struct world *w, const struct scenario *sc, uint64_t start)
{
	memset(w, 0, sizeof(*w));
	assert_true(iobuf_scq_memsize(sc->cap) <= sizeof(w->mem));
	assert_int_equal(iobuf__scq_init_at(wq(w), sc->cap, sc->full, start), 0);
	for (int i = 0; i < VT_MAX && sc->script[i]; i++) {
		w->t[i].script = sc->script[i];
		w->nt = i + 1;
	}
	for (uint32_t i = 0; i < sc->cap && sc->full; i++)
		w->expect[i] = 1;
}

static bool runnable(const struct world *w, int i)
{
	return w->t[i].script[w->t[i].op] != '\0';
}

static void fail_schedule(const struct world *w, const char *why, uint64_t start)
{
	char buf[VT_STEPS + 1];
	int n = w->steps < VT_STEPS ? w->steps : VT_STEPS;

	for (int i = 0; i < n; i++)
		buf[i] = (char)('0' + w->sched[i]);
	buf[n] = '\0';
	print_message("# %s: start %#llx, schedule %s\n", why, (unsigned long long)start, buf);
	fail_msg("%s", why);
}

static void op_done(struct vthr *t)
{
	t->op++;
	t->pc = 0;
}

/* One step of virtual thread @i. */
static void vstep(struct world *w, int i, uint64_t start)
{
	struct iobuf_scq *q = wq(w);
	struct vthr *t = &w->t[i];
	char c = t->script[t->op];

	if (w->steps >= VT_STEPS)
		fail_schedule(w, "too many steps (livelock?)", start);
	w->sched[w->steps++] = (uint8_t)i;
	if (c == 'D') {
		int v;

		switch (t->pc) {
		case 0:
			if ((int64_t)iobuf__load_64(&q->threshold) < 0) {
				t->got[t->ngot++] = -EAGAIN;
				op_done(t);
				return;
			}
			/* fall through */
		case 3:
			t->ticket = iobuf__faa_64(&q->head, 1);
			t->pc = 1;
			return;
		case 1:
			v = iobuf__scq_dequeue_at(q, t->ticket);
			if (v == -EAGAIN) {
				t->pc = 2;
				return;
			}
			if (v < 0 || (uint32_t)v >= q->capacity || w->expect[v] != 1)
				fail_schedule(w, "dequeued an index not in the queue", start);
			w->expect[v]--;
			t->held[t->nheld++] = v;
			t->got[t->ngot++] = v;
			op_done(t);
			return;
		case 2:
			if (iobuf__scq_dequeue_missed(q, t->ticket) == -EAGAIN) {
				t->got[t->ngot++] = -EAGAIN;
				op_done(t);
			} else {
				t->pc = 3;
			}
			return;
		}
	} else {
		switch (t->pc) {
		case 0:
			if (c == 'L') {
				if (t->nheld == 0) {
					op_done(t);
					return;
				}
				t->enq_val = t->held[--t->nheld];
			} else {
				t->enq_val = c - '0';
			}
			if (w->expect[t->enq_val] != 0)
				fail_schedule(w, "script enqueues an index already in the queue", start);
			/* Counted in from the FAA on: a dequeuer may take it as soon as it lands. */
			w->expect[t->enq_val]++;
			/* fall through */
		case 3:
			t->ticket = iobuf__faa_64(&q->tail, 1);
			t->pc = 1;
			return;
		case 1:
			if (iobuf__scq_enqueue_at(q, t->ticket, (uint32_t)t->enq_val) == 0)
				op_done(t);
			else
				t->pc = 3;
			return;
		}
	}
}

/* Everything finished: check the results and that the queue still works. */
static void check_leaf(struct world *w, const struct scenario *sc, uint64_t start)
{
	struct iobuf_scq *q = wq(w);
	int v, in = 0;

	for (int i = 0; i < w->nt; i++) {
		int prev = -1;

		for (int k = 0; k < w->t[i].ngot; k++) {
			int g = w->t[i].got[k];

			if (sc->no_empty && g == -EAGAIN)
				fail_schedule(w, "dequeue said empty while the queue never was", start);
			if (sc->fifo && g >= 0) {
				if (g <= prev)
					fail_schedule(w, "a consumer saw a single producer's indices out of order", start);
				prev = g;
			}
		}
	}
	for (uint32_t i = 0; i < sc->cap; i++)
		in += w->expect[i];
	/*
	 * At rest count() is an upper bound: tickets that enqueuers skipped
	 * (the entry still held an older index) stay counted until a dequeue
	 * passes them.
	 */
	if (iobuf_scq_count(q) < (uint32_t)in || iobuf_scq_count(q) > sc->cap)
		fail_schedule(w, "count at rest below the model or above capacity", start);
	/* Drain: exactly the model's contents. */
	while ((v = iobuf_scq_dequeue(q)) >= 0) {
		if ((uint32_t)v >= sc->cap || w->expect[v] != 1)
			fail_schedule(w, "drain: an index not in the queue", start);
		w->expect[v] = 0;
		in--;
	}
	if (v != -ENOBUFS || in != 0)
		fail_schedule(w, "drain: an index was lost", start);
	if (iobuf_scq_count(q) != 0)
		fail_schedule(w, "count not 0 after a drain", start);
	/* And the queue still works: fill in order, drain in order. */
	for (uint32_t i = 0; i < sc->cap; i++)
		if (iobuf_scq_enqueue(q, i) != 0)
			fail_schedule(w, "refill failed", start);
	if (iobuf_scq_count(q) != sc->cap)
		fail_schedule(w, "count after a refill", start);
	for (uint32_t i = 0; i < sc->cap; i++)
		if (iobuf_scq_dequeue(q) != (int)i)
			fail_schedule(w, "refill: out of order or lost", start);
	if (iobuf_scq_dequeue(q) != -ENOBUFS)
		fail_schedule(w, "refill: not empty at the end", start);
}

static unsigned long explore(struct world *w, const struct scenario *sc, uint64_t start)
{
	unsigned long leaves = 0;
	bool any = false;

	for (int i = 0; i < w->nt; i++) {
		struct world saved;

		if (!runnable(w, i))
			continue;
		any = true;
		memcpy(&saved, w, sizeof(saved));
		vstep(w, i, start);
		leaves += explore(w, sc, start);
		memcpy(w, &saved, sizeof(saved));
	}
	if (!any) {
		struct world leaf;

		memcpy(&leaf, w, sizeof(leaf));
		check_leaf(&leaf, sc, start);
		leaves = 1;
	}
	return leaves;
}

/* PCT: run the highest-priority runnable thread; at @d - 1 random steps demote the one running. */
static void pct_run(const struct scenario *sc, uint64_t start, int d, uint64_t *rs)
{
	struct world w;
	int prio[VT_MAX], change[8], len = 0;

	world_init(&w, sc, start);
	for (int i = 0; i < w.nt; i++) {
		len += 3 * (int)strlen(w.t[i].script);
		prio[i] = d + (int)(*rs = *rs * 6364136223846793005ull + 1442695040888963407ull) % 1000 + 1;
		if (prio[i] < 0)
			prio[i] = -prio[i];
		prio[i] += d + 1;
	}
	for (int k = 0; k < d - 1; k++)
		change[k] = (int)((rnd() >> 11) % (uint64_t)len);
	for (;;) {
		int best = -1;

		for (int i = 0; i < w.nt; i++)
			if (runnable(&w, i) && (best < 0 || prio[i] > prio[best]))
				best = i;
		if (best < 0)
			break;
		for (int k = 0; k < d - 1; k++)
			if (change[k] == w.steps)
				prio[best] = k; /* below every initial priority */
		vstep(&w, best, start);
	}
	check_leaf(&w, sc, start);
}

static const uint64_t vt_starts[] = {
	0,
	UINT64_MAX,              /* the 64-bit tickets wrap on the first step */
	UINT64_MAX - 2,
	UINT64_MAX - 4,
	(UINT64_C(1) << 63) - 1, /* the truncated cycles wrap */
	(UINT64_C(1) << 63) - 3,
};
#define VT_NSTARTS (sizeof(vt_starts) / sizeof(vt_starts[0]))

static bool under_valgrind(void)
{
	return getenv("IOBUF_UNDER_VALGRIND") != NULL;
}

static void test_interleavings_exhaustive(void **state)
{
	static const struct scenario sc[] = {
		{ "cap 1, pool, 2 threads", 1, true, { "DLDL", "DL" }, false, false },
		{ "cap 1, empty, churn", 1, false, { "0DL", "DLD" }, false, false },
		{ "cap 2, pool, 2 threads", 2, true, { "DLDL", "DLD" }, false, false },
		{ "cap 3, never empty", 3, true, { "DLDL", "DLDL" }, true, false },
		{ "cap 2, producer, consumer", 2, false, { "01", "DDD" }, false, true },
	};
	size_t nstarts = under_valgrind() ? 2 : VT_NSTARTS;

	(void)state;
	for (size_t s = 0; s < sizeof(sc) / sizeof(sc[0]); s++) {
		unsigned long leaves = 0;

		for (size_t k = 0; k < nstarts; k++) {
			struct world w;

			world_init(&w, &sc[s], vt_starts[k]);
			leaves += explore(&w, &sc[s], vt_starts[k]);
		}
		print_message("# %s: %lu interleavings\n", sc[s].name, leaves);
	}
}

static void test_interleavings_pct(void **state)
{
	static const struct scenario sc[] = {
		/* A dequeuer stalls while the ring goes round: the unsafe bit and the head check. */
		{ "cap 2, one stalls", 2, true, { "DLDLDLDL", "DL", "DL" }, false, false },
		{ "cap 1, one stalls", 1, true, { "DLDLDLDL", "DLDL", "DL" }, false, false },
		{ "cap 4, never empty", 4, true, { "DDLLDL", "DLDL", "DL" }, true, false },
		{ "cap 4, producer", 4, false, { "0123", "DDDD", "DDD" }, false, true },
		{ "cap 3, mixed", 3, true, { "DDLDLL", "DLDDLL", "DL" }, false, false },
		{ "cap 2, pool, 3 threads", 2, true, { "DLDL", "DLDL", "DLDL" }, false, false },
		{ "cap 2, producer, recycler", 2, false, { "01", "DLDL", "DD" }, false, false },
		{ "cap 2, stalled enqueuer", 2, false, { "0", "1D", "DD" }, false, false },
	};
	int runs = under_valgrind() ? 300 : 4000;
	uint64_t rs = 12345;

	(void)state;
	for (size_t s = 0; s < sizeof(sc) / sizeof(sc[0]); s++)
		for (size_t k = 0; k < VT_NSTARTS; k++)
			for (int r = 0; r < runs; r++)
				pct_run(&sc[s], vt_starts[k], 2 + r % 3, &rs);
}

/*
 * Scripted with the step hooks: a dequeuer that took its ticket, stalled
 * while other dequeuers went a whole lap round the ring, then visits an
 * entry already in a later cycle.  It must leave the entry alone (moving
 * it back to its own, older cycle would let a late enqueuer of the later
 * cycle fill it after that cycle's dequeuer passed).
 */
static void test_lapped_dequeuer(void **state)
{
	(void)state;
	for (size_t k = 0; k < VT_NSTARTS; k++) {
		for (uint32_t cap = 1; cap <= 4; cap++) {
			uint64_t start = vt_starts[k];
			struct iobuf_scq *q = mk(cap, false, start);
			uint64_t entries = q->slot_mask + 1, h0, before;
			uint64_t *slot;

			assert_int_equal(iobuf_scq_enqueue(q, 0), 0);
			assert_int_equal(iobuf_scq_dequeue(q), 0);
			/* The stalled dequeuer takes its ticket; the queue is empty. */
			h0 = iobuf__faa_64(&q->head, 1);
			slot = &q->entry[iobuf__scq_slot(q, h0)];
			/* Others run a lap and more: each finds nothing and moves its entry on. */
			for (uint64_t i = 0; i < entries + 1; i++) {
				uint64_t h = iobuf__faa_64(&q->head, 1);

				assert_int_equal(iobuf__scq_dequeue_at(q, h), -EAGAIN);
				(void)iobuf__scq_dequeue_missed(q, h);
			}
			before = iobuf__load_64(slot);
			assert_true(iobuf__scq_diff(before | q->low_mask, iobuf__scq_cycle(q, h0)) > 0);
			/* The stalled one wakes: nothing for it, and the entry stays as it is. */
			assert_int_equal(iobuf__scq_dequeue_at(q, h0), -EAGAIN);
			assert_int_equal(iobuf__load_64(slot), before);
			(void)iobuf__scq_dequeue_missed(q, h0);
			/* Still a working queue. */
			for (uint32_t i = 0; i < cap; i++)
				assert_int_equal(iobuf_scq_enqueue(q, i), 0);
			for (uint32_t i = 0; i < cap; i++)
				assert_int_equal(iobuf_scq_dequeue(q), (int)i);
			assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
			rm(q);
		}
	}
}

/*
 * Scripted: the entry a dequeuer marks unsafe (an older index still in
 * it, its dequeuer stalled) keeps the mark when a later dequeuer moves it
 * to its cycle, and an enqueuer whose dequeuer has passed does not fill it.
 */
static void test_unsafe_entry(void **state)
{
	(void)state;
	for (size_t k = 0; k < VT_NSTARTS; k++) {
		uint64_t start = vt_starts[k];
		struct iobuf_scq *q = mk(1, true, start); /* index 0 at ticket start */
		uint64_t safe = q->slot_mask + 1, hs, t, h;
		uint64_t *slot = &q->entry[iobuf__scq_slot(q, start)];

		/* Dequeuer S takes ticket start (index 0) and stalls. */
		hs = iobuf__faa_64(&q->head, 1);
		assert_int_equal(hs, start);
		/* A dequeuer a lap later (ticket start+2, same entry) finds 0 still there: unsafe. */
		h = iobuf__faa_64(&q->head, 1); /* start+1: nothing */
		assert_int_equal(iobuf__scq_dequeue_at(q, h), -EAGAIN);
		assert_int_equal(iobuf__scq_dequeue_missed(q, h), -EAGAIN);
		/* An enqueuer takes ticket start+2 (tail caught up to start+2) and stalls. */
		t = iobuf__faa_64(&q->tail, 1);
		assert_int_equal(t, start + 2);
		h = iobuf__faa_64(&q->head, 1);
		assert_int_equal(h, start + 2);
		assert_int_equal(iobuf__scq_dequeue_at(q, h), -EAGAIN);
		assert_int_equal(iobuf__load_64(slot) & safe, 0);
		(void)iobuf__scq_dequeue_missed(q, h);
		/* S wakes and takes 0: the entry is empty, still unsafe. */
		assert_int_equal(iobuf__scq_dequeue_at(q, hs), 0);
		assert_int_equal(iobuf__load_64(slot) & safe, 0);
		/* The enqueuer wakes: its dequeuer (ticket start+2) has passed, so not here. */
		assert_int_equal(iobuf__scq_enqueue_at(q, t, 0), -EAGAIN);
		/* A dequeuer two laps on moves the entry to its cycle and keeps it unsafe. */
		assert_int_equal(iobuf_scq_enqueue(q, 0), 0);
		assert_int_equal(iobuf_scq_dequeue(q), 0);
		for (int i = 0; i < 4; i++) {
			h = iobuf__faa_64(&q->head, 1);
			if (iobuf__scq_slot(q, h) == iobuf__scq_slot(q, start) && iobuf__load_64(slot) & q->slot_mask) {
				uint64_t before = iobuf__load_64(slot);

				(void)iobuf__scq_dequeue_at(q, h);
				assert_int_equal(iobuf__load_64(slot) & safe, before & safe);
			} else {
				(void)iobuf__scq_dequeue_at(q, h);
			}
			(void)iobuf__scq_dequeue_missed(q, h);
		}
		/* Everything still works, and 0 is in the queue exactly once. */
		assert_int_equal(iobuf_scq_enqueue(q, 0), 0);
		assert_int_equal(iobuf_scq_dequeue(q), 0);
		assert_int_equal(iobuf_scq_dequeue(q), -ENOBUFS);
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
		cmocka_unit_test(test_lapped_dequeuer),
		cmocka_unit_test(test_unsafe_entry),
		cmocka_unit_test(test_interleavings_exhaustive),
		cmocka_unit_test(test_interleavings_pct),
	};

	return cmocka_run_group_tests_name("scq", tests, NULL, NULL);
}
