/* SPDX-License-Identifier: MIT */
/*
 * test_reserve_urcu.c - a stream's groups pumped onto a liburcu wfcqueue
 * (iobuf/reserve_urcu.h) and taken off it by a consumer thread: order,
 * bytes, the records' copies, -EPIPE at the end, a node that cannot be
 * allocated, and every buffer back.  malloc is wrapped to fail on demand.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifdef TEST_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#include <cmocka.h>

#include <iobuf/pool.h>
#include <iobuf/reserve.h>
#include <iobuf/reserve_urcu.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#define WATCHDOG_NS (20ull * 1000 * 1000 * 1000)
#define GSIZE 1024u
#define NGROUPS 40u
#define PER_GROUP 5u /* records per group; the third of each is aborted */

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);

static int fail_malloc; /* the next mallocs fail while set */

void *__wrap_malloc(size_t n)
{
	if (__atomic_load_n(&fail_malloc, __ATOMIC_RELAXED))
		return NULL;
	return __real_malloc(n);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t in_use(const struct iobuf_set *s)
{
	struct iobuf_pool_stats st;

	assert_int_equal(iobuf_pool_stats(iobuf_set_pool(s, IOBUF_TIER_SMALL), &st), 0);
	return st.in_use;
}

static struct iobuf_set *mkset(void)
{
	struct iobuf_set_config cfg = {.capacity = {[IOBUF_TIER_SMALL] = 64}};
	struct iobuf_set *s = iobuf_set_create(&cfg, NULL);

	assert_non_null(s);
	return s;
}

static struct iobuf_stream *mkstream(struct iobuf_set *set)
{
	struct iobuf_stream_config c = {.set = set, .group_size = GSIZE, .groups = 4};
	int err = 1;
	struct iobuf_stream *s = iobuf_stream_create(&c, &err);

	assert_non_null(s);
	assert_int_equal(err, 0);
	return s;
}

static unsigned char pattern(uint64_t off)
{
	return (unsigned char)((off * 131u) >> 3);
}

/* The consumer thread's state: it checks, and the test asserts on what it found. */
struct consumer {
	struct iobuf_set *set;
	struct cds_wfcq_head head;
	struct cds_wfcq_tail tail;
	int done;	 /* the producer has pumped its last group */
	uint64_t groups; /* taken off the queue */
	uint64_t bad;	 /* groups out of order, or records or bytes not as written */
};

static bool group_ok(struct consumer *c, const struct iobuf_group *g)
{
	const unsigned char *p = iobuf_slice_buf(c->set, &g->slice);

	if (g->seq != c->groups || g->offset != g->seq * GSIZE || g->nrec != PER_GROUP || g->nfailed != 1)
		return false;
	for (uint32_t i = 0; i < g->nrec; i++) {
		const struct iobuf_record *r = &g->rec[i];
		uint32_t want = i == 2 ? IOBUF_RECORD_ABORTED : IOBUF_RECORD_COMMITTED;

		if (r->state != want || r->len != 10 + i + g->seq % 7 || r->offset < g->offset ||
		    r->offset + r->len > g->offset + g->slice.len)
			return false;
		if (want != IOBUF_RECORD_COMMITTED)
			continue;
		for (uint32_t k = 0; k < r->len; k++)
			if (p[r->offset - g->offset + k] != pattern(r->offset + k))
				return false;
	}
	return true;
}

static void *consume(void *arg)
{
	struct consumer *c = arg;
	uint64_t end = now_ns() + WATCHDOG_NS;

	while (now_ns() < end) {
		struct cds_wfcq_node *n = __cds_wfcq_dequeue_blocking(&c->head, &c->tail);

#ifdef TEST_TSAN
		if (n)
			__tsan_acquire(caa_container_of(n, struct iobuf_group_node, node)); /* the pump released it */
#endif
		struct iobuf_group_node *gn;

		if (!n) {
			/* done is read before the last look: nothing enqueued before it is missed. */
			if (__atomic_load_n(&c->done, __ATOMIC_ACQUIRE) && cds_wfcq_empty(&c->head, &c->tail))
				break;
			sched_yield();
			continue;
		}
		gn = caa_container_of(n, struct iobuf_group_node, node);
		if (!group_ok(c, &gn->g))
			c->bad++;
		c->groups++;
		(void)iobuf_slice_put(c->set, &gn->g.slice);
		iobuf_group_node_free(gn);
	}
	return NULL;
}

/* Fill group @g: PER_GROUP records, the third aborted, then a flush. */
static void fill_group(struct iobuf_stream *s, uint64_t g)
{
	struct iobuf_reservation r;

	for (uint32_t i = 0; i < PER_GROUP; i++) {
		uint32_t len = 10 + i + (uint32_t)(g % 7);
		unsigned char buf[32];

		assert_int_equal(iobuf_stream_reserve(s, len, &r), 0);
		assert_int_equal(r.group, g);
		for (uint32_t k = 0; k < len; k++)
			buf[k] = pattern(r.offset + k);
		assert_int_equal(iobuf_reservation_write(&r, 0, buf, len), 0);
		if (i == 2)
			assert_int_equal(iobuf_reservation_abort(&r), 0);
		else
			assert_int_equal(iobuf_reservation_commit(&r), 0);
	}
	assert_int_equal(iobuf_stream_flush(s), 0);
}

static void test_pump_to_consumer(void **state)
{
	struct iobuf_set *set = mkset();
	struct iobuf_stream *s = mkstream(set);
	struct consumer c = {.set = set};
	struct iobuf_stream_stats st;
	pthread_t t;
	int pumped = 0, rc;

	(void)state;
	cds_wfcq_init(&c.head, &c.tail);
	assert_int_equal(pthread_create(&t, NULL, consume, &c), 0);
	assert_int_equal(iobuf_stream_pump(s, &c.head, &c.tail), 0); /* nothing ready */
	/* Groups are pumped one or two at a time; the last ones by the pump that follows finalize. */
	for (uint64_t g = 0; g < NGROUPS; g++) {
		fill_group(s, g);
		if (g % 2 == 1) {
			rc = iobuf_stream_pump(s, &c.head, &c.tail);
			assert_true(rc == 2);
			pumped += rc;
		}
	}
	fill_group(s, NGROUPS);
	assert_int_equal(iobuf_stream_finalize(s), 0);
	rc = iobuf_stream_pump(s, &c.head, &c.tail);
	assert_int_equal(rc, 1);
	pumped += rc;
	assert_int_equal(iobuf_stream_pump(s, &c.head, &c.tail), -EPIPE);
	assert_int_equal(iobuf_stream_pump(s, &c.head, &c.tail), -EPIPE);
	__atomic_store_n(&c.done, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(pumped, NGROUPS + 1);
	assert_int_equal(c.groups, NGROUPS + 1);
	assert_int_equal(c.bad, 0);
	assert_int_equal(iobuf_stream_stats(s, &st), 0);
	assert_int_equal(st.groups, NGROUPS + 1);
	assert_int_equal(st.failed, NGROUPS + 1);
	assert_int_equal(iobuf_stream_destroy(s), 0);
	assert_int_equal(in_use(set), 0);
	cds_wfcq_destroy(&c.head, &c.tail);
	iobuf_set_destroy(set);
}

static void test_pump_refusals(void **state)
{
	struct iobuf_set *set = mkset();
	struct iobuf_stream *s = mkstream(set);
	struct cds_wfcq_head head;
	struct cds_wfcq_tail tail;
	struct cds_wfcq_node *n;
	struct iobuf_group_node *gn;

	(void)state;
	cds_wfcq_init(&head, &tail);
	assert_int_equal(iobuf_stream_pump(NULL, &head, &tail), -EINVAL);
	assert_int_equal(iobuf_stream_pump(s, NULL, &tail), -EINVAL);
	assert_int_equal(iobuf_stream_pump(s, &head, NULL), -EINVAL);
	iobuf_group_node_free(NULL);
	/* No node: the group stays in the stream, and the next pump delivers it. */
	fill_group(s, 0);
	__atomic_store_n(&fail_malloc, 1, __ATOMIC_RELAXED);
	assert_int_equal(iobuf_stream_pump(s, &head, &tail), -ENOMEM);
	__atomic_store_n(&fail_malloc, 0, __ATOMIC_RELAXED);
	assert_true(cds_wfcq_empty(&head, &tail));
	assert_int_equal(iobuf_stream_pump(s, &head, &tail), 1);
	n = __cds_wfcq_dequeue_blocking(&head, &tail);
	assert_non_null(n);
	gn = caa_container_of(n, struct iobuf_group_node, node);
	assert_int_equal(gn->g.seq, 0);
	assert_int_equal(gn->g.nrec, PER_GROUP);
	assert_int_equal(iobuf_slice_put(set, &gn->g.slice), 0);
	iobuf_group_node_free(gn);
	assert_int_equal(iobuf_stream_finalize(s), 0);
	assert_int_equal(iobuf_stream_pump(s, &head, &tail), -EPIPE);
	assert_int_equal(iobuf_stream_destroy(s), 0);
	assert_int_equal(in_use(set), 0);
	cds_wfcq_destroy(&head, &tail);
	iobuf_set_destroy(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pump_to_consumer),
		cmocka_unit_test(test_pump_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
