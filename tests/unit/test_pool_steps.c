/* SPDX-License-Identifier: MIT */
/*
 * test_pool_steps.c - interleavings of the pool's get placed by a step
 * hook (src/pool.c built with -DIOBUF_POOL_STEPS), not hoped for.
 *
 * W4: a get reads the free queue, then the depot.  Stopped between the
 * two while another thread moves every free buffer from the depot into
 * the queue (a cache's refill takes a magazine, then uncached puts), it
 * must still get a buffer: before edge W4 it reported -ENOBUFS with the
 * queue full.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <iobuf/cache.h>
#include <iobuf/pool.h>
#include <iobuf/scq.h>

#include "pool.h"

#define CAP 64
#define MAG 4

static struct iobuf_pool *pool;
static struct iobuf_cache *mover_cache; /* the mover's: only the mover thread uses it */
static int stopped, resume, moved;

/* The getter, stopped between its two looks: hand over to the mover, wait until it is done. */
static void step(struct iobuf_pool *p)
{
	(void)p;
	if (__atomic_exchange_n(&stopped, 1, __ATOMIC_ACQ_REL))
		return; /* once */
	while (!__atomic_load_n(&resume, __ATOMIC_ACQUIRE))
		usleep(100);
}

/* Move every free buffer from the depot into the queue: refill a magazine through a cache, put it uncached. */
static void *mover(void *arg)
{
	iobuf_handle_t h;

	(void)arg;
	while (!__atomic_load_n(&stopped, __ATOMIC_ACQUIRE))
		usleep(100);
	mover_cache = iobuf_cache_create_pool(pool, NULL, NULL);
	/*
	 * CAP gets through a cache, each put back uncached at once: a get on
	 * an empty stack refills a whole magazine from the depot first, so
	 * after CAP of them the depot is empty and the queue holds every
	 * buffer.
	 */
	while (moved < CAP) {
		assert_int_equal(iobuf_cache_get(mover_cache, 64, &h), 0);
		assert_int_equal(iobuf_pool_put(pool, h), 0); /* uncached: to the queue */
		moved++;
	}
	assert_int_equal(iobuf_cache_count(mover_cache, 0), 0);
	assert_int_equal(iobuf_scq_count(iobuf__pool_scq(pool)), CAP);
	iobuf_cache_destroy(mover_cache);
	__atomic_store_n(&resume, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_depot_to_queue_between_looks(void **state)
{
	struct iobuf_pool_config cfg = {.buf_size = 64, .capacity = CAP, .magazine = MAG};
	struct iobuf_cache *c;
	iobuf_handle_t hs[CAP], h;
	struct iobuf_pool_stats st;
	pthread_t t;

	(void)state;
	pool = iobuf_pool_create(&cfg, NULL);
	assert_non_null(pool);
	c = iobuf_cache_create_pool(pool, NULL, NULL);
	assert_non_null(c);
	/* Every free buffer into the depot: take them all, put them through a cache, flush whole magazines. */
	assert_int_equal(iobuf_pool_get_bulk(pool, hs, CAP), 0);
	for (int i = 0; i < CAP; i++)
		assert_int_equal(iobuf_cache_put(c, hs[i]), 0);
	assert_int_equal(iobuf_cache_flush(c), 2 * MAG);
	iobuf_cache_destroy(c);
	assert_int_equal(iobuf_scq_count(iobuf__pool_scq(pool)), 0); /* the queue is empty, the depot holds all */

	iobuf__pool_step_hook = step;
	assert_int_equal(pthread_create(&t, NULL, mover, NULL), 0);
	/* Stopped after the queue came up empty; meanwhile the mover empties the depot into the queue. */
	assert_int_equal(iobuf_pool_get(pool, &h), 0);
	pthread_join(t, NULL);
	iobuf__pool_step_hook = NULL;
	assert_true(moved > 0);
	assert_int_equal(iobuf_pool_put(pool, h), 0);
	iobuf_pool_stats(pool, &st);
	assert_int_equal(st.free, CAP);
	iobuf_pool_destroy(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_depot_to_queue_between_looks),
	};

	return cmocka_run_group_tests_name("pool steps", tests, NULL, NULL);
}
