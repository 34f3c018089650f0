/* SPDX-License-Identifier: MIT */
/*
 * test_slot.c - the promises of the slot protocol (iobuf/slot.h) that one
 * thread can check: handles name their owner, the readiness fd, parked
 * caches, and no allocation on any get or put path.  The races are in
 * tests/stress/stress_slot.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <iobuf/cache.h>
#include <iobuf/iov.h>
#include <iobuf/pool.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

/* ---- counting allocations (-Wl,--wrap) ---------------------------------------- */

static int counting, allocs;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);

void *__wrap_malloc(size_t n)
{
	allocs += counting;
	return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m)
{
	allocs += counting;
	return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n)
{
	allocs += counting;
	return __real_realloc(p, n);
}
int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
	allocs += counting;
	return __real_posix_memalign(p, a, n);
}

static struct iobuf_set *small_set(void)
{
	struct iobuf_set_config cfg = {.capacity = {[IOBUF_TIER_NANO] = 512, [IOBUF_TIER_MEDIUM] = 64}};
	struct iobuf_set *s = iobuf_set_create(&cfg, NULL);

	assert_non_null(s);
	return s;
}

static struct iobuf_pool *pool_of(size_t size, uint32_t cap, unsigned tag)
{
	struct iobuf_pool_config cfg = {.buf_size = size, .capacity = cap, .tag = tag};
	struct iobuf_pool *p = iobuf_pool_create(&cfg, NULL);

	assert_non_null(p);
	return p;
}

/* ---- owners ---------------------------------------------------------------------- */

/* Another set's handle is refused, and the buffer it names here stays with its owner. */
static void test_other_set_refused(void **state)
{
	struct iobuf_set *a = small_set(), *b = small_set();
	iobuf_handle_t ha, hb;

	(void)state;
	assert_int_equal(iobuf_get(a, 64, &ha), 0);
	assert_int_equal(iobuf_get(b, 64, &hb), 0);
	/* Same tier, same index, both first hand-outs: only the owner bits tell them apart. */
	assert_int_equal(iobuf_handle_tag(ha), iobuf_handle_tag(hb));
	assert_int_equal(iobuf_handle_index(ha), iobuf_handle_index(hb));
	assert_int_equal(iobuf_put(b, ha), -EINVAL);
	assert_null(iobuf_buf(b, ha));
	assert_non_null(iobuf_buf(b, hb)); /* still held by its owner */
	assert_int_equal(iobuf_put(a, hb), -EINVAL);
	assert_int_equal(iobuf_put(b, hb), 0);
	assert_int_equal(iobuf_put(a, ha), 0);
	iobuf_set_destroy(a);
	iobuf_set_destroy(b);
}

/* A standalone pool's handle and a set's handle are told apart both ways, whatever the tag. */
static void test_set_and_pool(void **state)
{
	struct iobuf_set *s = small_set();
	struct iobuf_pool *p = pool_of(64, 512, IOBUF_TIER_NANO);
	struct iobuf_cache *cs = iobuf_cache_create(s, NULL, NULL), *cp = iobuf_cache_create_pool(p, NULL, NULL);
	iobuf_handle_t hs, hp;

	(void)state;
	assert_non_null(cs);
	assert_non_null(cp);
	assert_int_equal(iobuf_get(s, 64, &hs), 0);
	assert_int_equal(iobuf_pool_get(p, &hp), 0);
	assert_int_equal(iobuf_put(s, hp), -EINVAL);
	assert_int_equal(iobuf_cache_put(cs, hp), -EINVAL);
	assert_null(iobuf_cache_buf(cs, hp));
	assert_int_equal(iobuf_pool_put(p, hs), -EINVAL);
	assert_int_equal(iobuf_pool_put(iobuf_set_pool(s, IOBUF_TIER_NANO), hp), -EINVAL);
	assert_int_equal(iobuf_cache_put(cp, hs), -EINVAL);
	/* Only a set's handle names a tier size. */
	assert_int_equal(iobuf_handle_capacity(hs), 64);
	assert_int_equal(iobuf_handle_capacity(hp), 0);
	assert_int_equal(iobuf_handle_capacity(IOBUF_HANDLE_NONE), 0);
	assert_int_equal(iobuf_cache_put(cs, hs), 0);
	assert_int_equal(iobuf_cache_put(cp, hp), 0);
	iobuf_cache_destroy(cs);
	iobuf_cache_destroy(cp);
	iobuf_set_destroy(s);
	iobuf_pool_destroy(p);
}

/* Two pools of one tag refuse each other's handles, through the pool and through caches. */
static void test_two_pools(void **state)
{
	struct iobuf_pool *p = pool_of(64, 64, 3), *q = pool_of(64, 64, 3);
	struct iobuf_cache *cq = iobuf_cache_create_pool(q, NULL, NULL);
	iobuf_handle_t hp, hq;

	(void)state;
	assert_int_equal(iobuf_pool_get(p, &hp), 0);
	assert_int_equal(iobuf_cache_get(cq, 64, &hq), 0);
	assert_int_equal(iobuf_pool_put(q, hp), -EINVAL);
	assert_int_equal(iobuf_cache_put(cq, hp), -EINVAL);
	assert_int_equal(iobuf_pool_put(p, hq), -EINVAL);
	assert_null(iobuf_pool_buf(q, hp));
	assert_int_equal(iobuf_pool_put(p, hp), 0);
	assert_int_equal(iobuf_cache_put(cq, hq), 0);
	iobuf_cache_destroy(cq);
	iobuf_pool_destroy(p);
	iobuf_pool_destroy(q);
}

/*
 * Beyond 16 owners ids repeat; generations that start where each pool
 * chose keep a foreign handle refused with -EINVAL (a generation the slot
 * never issued; odds of a mistake about 2^-31 a pair).  64 sets alive at
 * once, a held buffer in each, every handle put into every other set.
 */
static void test_many_sets(void **state)
{
	enum { N = 64 };
	struct iobuf_set *s[N];
	iobuf_handle_t h[N];
	int accepted = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		s[i] = small_set();
		assert_int_equal(iobuf_get(s[i], 64, &h[i]), 0);
	}
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++)
			if (i != j && iobuf_put(s[j], h[i]) != -EINVAL)
				accepted++;
	assert_int_equal(accepted, 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(iobuf_put(s[i], h[i]), 0);
		iobuf_set_destroy(s[i]);
	}
}

/* ---- the readiness fd ------------------------------------------------------------- */

static int fcntl_closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

static bool readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) == 1;
}

static void drain(int fd)
{
	uint64_t v;

	assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
}

static void test_ready_fd(void **state)
{
	struct iobuf_pool *p = pool_of(64, 64, 0);
	struct iobuf_cache *c = iobuf_cache_create_pool(p, NULL, NULL);
	iobuf_handle_t hs[64], h;
	int fd = iobuf_pool_ready_fd(p);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(iobuf_pool_ready_fd(p), fd); /* one fd per pool */
	assert_int_equal(iobuf_pool_ready_fd(NULL), -EINVAL);
	/* Puts while nothing is armed make no write: the fd stays unreadable. */
	assert_int_equal(iobuf_pool_get_bulk(p, hs, 64), 0);
	assert_int_equal(iobuf_pool_put(p, hs[0]), 0);
	assert_int_equal(iobuf_pool_get(p, &hs[0]), 0);
	assert_false(readable(fd));
	/* An empty get arms it; the next put makes it readable, once. */
	assert_int_equal(iobuf_pool_get(p, &h), -ENOBUFS);
	assert_false(readable(fd));
	assert_int_equal(iobuf_pool_put(p, hs[63]), 0);
	assert_true(readable(fd));
	drain(fd);
	assert_int_equal(iobuf_pool_get(p, &hs[63]), 0);
	assert_int_equal(iobuf_pool_put(p, hs[62]), 0);
	assert_false(readable(fd)); /* not armed again */
	assert_int_equal(iobuf_pool_get(p, &hs[62]), 0);
	/* Through a cache: an armed fd makes a cached put give the buffer to the pool and write the fd. */
	assert_int_equal(iobuf_cache_get(c, 64, &h), -ENOBUFS);
	assert_int_equal(iobuf_cache_put(c, hs[10]), 0);
	assert_true(readable(fd));
	drain(fd);
	assert_int_equal(iobuf_cache_count(c, 0), 0);
	assert_int_equal(iobuf_pool_get(p, &hs[10]), 0);
	assert_int_equal(iobuf_pool_put_bulk(p, hs, 64), 0);
	iobuf_cache_destroy(c);
	iobuf_pool_destroy(p); /* closes the fd */
	assert_int_equal(fcntl_closed(fd), 1);
}

static void test_set_ready_fd(void **state)
{
	struct iobuf_set *s = small_set(), *t = small_set();
	iobuf_handle_t hs[64], h;
	int fd = iobuf_set_ready_fd(s);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(iobuf_set_ready_fd(s), fd);
	assert_int_equal(iobuf_pool_ready_fd(iobuf_set_pool(s, IOBUF_TIER_MEDIUM)), fd); /* the tiers share it */
	assert_int_equal(iobuf_set_ready_fd(NULL), -EINVAL);
	for (int i = 0; i < 64; i++)
		assert_int_equal(iobuf_get(s, 4096, &hs[i]), 0);
	assert_int_equal(iobuf_get(s, 4096, &h), -ENOBUFS);
	assert_false(readable(fd));
	assert_int_equal(iobuf_put(s, hs[0]), 0);
	assert_true(readable(fd));
	drain(fd);
	for (int i = 1; i < 64; i++)
		assert_int_equal(iobuf_put(s, hs[i]), 0);
	/* A set's pool has no fd of its own: -EINVAL until the set makes one, then the set's. */
	assert_int_equal(iobuf_pool_ready_fd(iobuf_set_pool(t, IOBUF_TIER_NANO)), -EINVAL);
	fd = iobuf_set_ready_fd(t);
	assert_true(fd >= 0);
	assert_int_equal(iobuf_pool_ready_fd(iobuf_set_pool(t, IOBUF_TIER_NANO)), fd);
	iobuf_set_destroy(t);
	assert_int_equal(fcntl_closed(fd), 1);
	iobuf_set_destroy(s);
}

/* ---- parked caches ----------------------------------------------------------------- */

/*
 * The case a user hit: after 128 gets and puts through one cache, other
 * threads could take only 448 of 512 buffers, the rest sitting in a cache
 * whose owner slept in epoll_wait.  Parked, the cache gives them up.
 */
static void test_parked_cache_reclaimed(void **state)
{
	struct iobuf_set *s = small_set();
	struct iobuf_pool *p = iobuf_set_pool(s, IOBUF_TIER_NANO);
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
	iobuf_handle_t hs[513], h; /* one more: the get that finds the pool empty writes IOBUF_HANDLE_NONE */
	struct iobuf_pool_stats st;
	int n = 0;

	(void)state;
	for (int i = 0; i < 128; i++)
		assert_int_equal(iobuf_cache_get(c, 64, &hs[i]), 0);
	for (int i = 0; i < 128; i++)
		assert_int_equal(iobuf_cache_put(c, hs[i]), 0);
	assert_true(iobuf_cache_count(c, IOBUF_TIER_NANO) > 0);
	/* Active: what the cache holds is out of reach (until its next out-of-line call). */
	while (iobuf_pool_get(p, &hs[n]) == 0)
		n++;
	assert_int_equal(n, 512 - iobuf_cache_count(c, IOBUF_TIER_NANO));
	assert_int_equal(iobuf_pool_put_bulk(p, hs, n), 0);
	/* Parked: a get that finds the pool empty takes the cache's buffers back. */
	assert_int_equal(iobuf_cache_park(c), 0);
	assert_int_equal(iobuf_cache_park(c), -EALREADY);
	n = 0;
	while (iobuf_pool_get(p, &hs[n]) == 0)
		n++;
	assert_int_equal(n, 512);
	iobuf_pool_stats(p, &st);
	assert_int_equal(st.in_use, 512);
	assert_int_equal(st.cached, 0);
	assert_int_equal(iobuf_cache_unpark(c), 0);
	assert_int_equal(iobuf_cache_unpark(c), -EALREADY);
	assert_int_equal(iobuf_cache_count(c, IOBUF_TIER_NANO), 0);
	assert_int_equal(iobuf_cache_get(c, 64, &h), -ENOBUFS);
	assert_int_equal(iobuf_pool_put_bulk(p, hs, n), 0);
	assert_int_equal(iobuf_cache_get(c, 64, &h), 0); /* and it works again */
	assert_int_equal(iobuf_cache_put(c, h), 0);
	assert_int_equal(iobuf_cache_park(NULL), -EINVAL);
	assert_int_equal(iobuf_cache_unpark(NULL), -EINVAL);
	assert_int_equal(iobuf_cache_park(c), 0);
	iobuf_cache_destroy(c); /* a parked cache may be destroyed */
	iobuf_pool_stats(p, &st);
	assert_int_equal(st.free, 512);
	iobuf_set_destroy(s);
}

/*
 * A get that found the pool empty while an active cache held its buffers
 * armed the fd; the cache's owner then parks (to sleep): the fd fires and
 * the next get reclaims the buffers.  Before, nothing ever woke the loop.
 */
static void test_park_after_empty_get(void **state)
{
	struct iobuf_pool *p = pool_of(64, 64, 0);
	struct iobuf_cache *c = iobuf_cache_create_pool(p, NULL, NULL);
	iobuf_handle_t hs[65], h;
	int fd = iobuf_pool_ready_fd(p), n = 0;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(iobuf_cache_get(c, 64, &hs[i]), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(iobuf_cache_put(c, hs[i]), 0);
	assert_true(iobuf_cache_count(c, 0) > 0);
	while (iobuf_pool_get(p, &hs[n]) == 0)
		n++;
	assert_true(n < 64);
	assert_false(readable(fd)); /* armed, nothing came back */
	assert_int_equal(iobuf_cache_park(c), 0);
	assert_true(readable(fd));
	drain(fd);
	while (iobuf_pool_get(p, &hs[n]) == 0)
		n++;
	assert_int_equal(n, 64);
	assert_int_equal(iobuf_cache_unpark(c), 0);
	assert_int_equal(iobuf_pool_put_bulk(p, hs, n), 0);
	(void)h;
	iobuf_cache_destroy(c);
	iobuf_pool_destroy(p);
}

/* While parked a cache refuses every call (a pool may be taking its stacks): -EBUSY, nothing changes. */
static void test_parked_cache_refuses(void **state)
{
	struct iobuf_pool *p = pool_of(64, 64, 0);
	struct iobuf_cache *c = iobuf_cache_create_pool(p, NULL, NULL);
	iobuf_handle_t h, held, hs[2];
	uint32_t x;
	struct iobuf_pool_stats st;

	(void)state;
	assert_int_equal(iobuf_cache_get(c, 64, &held), 0);
	assert_int_equal(iobuf_cache_get(c, 64, &h), 0);
	assert_int_equal(iobuf_cache_put(c, h), 0);
	assert_int_equal(iobuf_cache_park(c), 0);
	assert_int_equal(iobuf_cache_get(c, 64, &h), -EBUSY);
	assert_int_equal(h, IOBUF_HANDLE_NONE);
	assert_int_equal(iobuf_cache_put(c, held), -EBUSY);
	assert_int_equal(iobuf_cache_get_bulk(c, 64, hs, 2), -EBUSY);
	assert_int_equal(iobuf_cache_put_bulk(c, &held, 1), -EBUSY);
	assert_int_equal(iobuf_cache_get_index(c), -EBUSY);
	assert_int_equal(iobuf_cache_get_index_bulk(c, &x, 1), -EBUSY);
	assert_int_equal(iobuf_cache_put_index(c, iobuf_handle_index(held)), -EBUSY);
	assert_int_equal(iobuf_cache_flush(c), -EBUSY);
	assert_int_equal(iobuf_cache_count(c, 0), -EBUSY);
	assert_non_null(iobuf_pool_buf(p, held)); /* still held */
	assert_int_equal(iobuf_cache_unpark(c), 0);
	assert_int_equal(iobuf_cache_put(c, held), 0);
	iobuf_cache_destroy(c);
	iobuf_pool_stats(p, &st);
	assert_int_equal(st.free, 64);
	iobuf_pool_destroy(p);
}

/*
 * A bulk get that fails gives its gathered buffers back before it arms
 * the fd: the event loop that polls after it is not woken by its own
 * give-back.  Through the pool (@cached false) and through a cache.
 */
static void failed_bulk(bool cached)
{
	struct iobuf_pool *p = pool_of(64, 64, 0);
	struct iobuf_cache *c = iobuf_cache_create_pool(p, NULL, NULL);
	iobuf_handle_t hs[64];
	int fd = iobuf_pool_ready_fd(p);

	assert_int_equal(iobuf_pool_get_bulk(p, hs, 60), 0);
	if (cached)
		assert_int_equal(iobuf_cache_get_bulk(c, 64, hs + 60, 8), -ENOBUFS); /* 4 free */
	else
		assert_int_equal(iobuf_pool_get_bulk(p, hs + 60, 8), -ENOBUFS);
	assert_false(readable(fd));
	assert_int_equal(iobuf_pool_put(p, hs[0]), 0); /* a buffer really comes back: now it fires */
	assert_true(readable(fd));
	drain(fd);
	assert_int_equal(iobuf_pool_put_bulk(p, hs + 1, 59), 0);
	iobuf_cache_destroy(c);
	iobuf_pool_destroy(p);
}

static void test_failed_bulk_no_self_wake(void **state)
{
	(void)state;
	failed_bulk(false);
	failed_bulk(true);
}

/* The scatter-read of a thread whose pool ran dry gets the buffers a parked cache held. */
static void test_readv_with_parked_cache(void **state)
{
	struct iobuf_set_config cfg = {.capacity = {[IOBUF_TIER_MEDIUM] = 64}};
	struct iobuf_set *s = iobuf_set_create(&cfg, NULL);
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
	iobuf_handle_t hs[65], rd[2];
	int sv[2], kept = 0, n = 0;
	char msg[100];

	(void)state;
	assert_non_null(c);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memset(msg, 'x', sizeof(msg));
	for (int i = 0; i < 8; i++)
		assert_int_equal(iobuf_cache_get(c, 4096, &hs[i]), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(iobuf_cache_put(c, hs[i]), 0);
	while (iobuf_get(s, 4096, &hs[n]) == 0)
		n++;
	assert_true(n < 64); /* the cache holds the rest */
	assert_int_equal(write(sv[1], msg, sizeof(msg)), sizeof(msg));
	assert_int_equal(iobuf_readv_pooled(s, sv[0], IOBUF_TIER_MEDIUM, rd, 1, &kept), -ENOBUFS);
	assert_int_equal(iobuf_cache_park(c), 0);
	assert_int_equal(iobuf_readv_pooled(s, sv[0], IOBUF_TIER_MEDIUM, rd, 1, &kept), (ssize_t)sizeof(msg));
	assert_int_equal(kept, 1);
	assert_int_equal(iobuf_put(s, rd[0]), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(iobuf_put(s, hs[i]), 0);
	assert_int_equal(iobuf_cache_unpark(c), 0);
	iobuf_cache_destroy(c);
	iobuf_set_destroy(s);
	close(sv[0]);
	close(sv[1]);
}

/* ---- one convention: constructors write 0 to *err on success; failed gets leave IOBUF_HANDLE_NONE ---- */

static void test_conventions(void **state)
{
	struct iobuf_set *s = small_set();
	struct iobuf_pool *p = pool_of(64, 64, 0);
	struct iobuf_cache *c;
	iobuf_handle_t h = 12345;
	int err = 12345;

	(void)state;
	c = iobuf_cache_create(s, NULL, &err);
	assert_non_null(c);
	assert_int_equal(err, 0);
	iobuf_cache_destroy(c);
	err = 12345;
	c = iobuf_cache_create_pool(p, NULL, &err);
	assert_non_null(c);
	assert_int_equal(err, 0);
	assert_null(iobuf_cache_create_pool(p, &(struct iobuf_cache_config){.flags = 1u << 7}, &err));
	assert_int_equal(err, -EINVAL);
	assert_int_equal(iobuf_cache_get(c, 0, &h), -EINVAL);
	assert_int_equal(h, IOBUF_HANDLE_NONE);
	h = 12345;
	assert_int_equal(iobuf_get(s, 1u << 20, &h), -EMSGSIZE);
	assert_int_equal(h, IOBUF_HANDLE_NONE);
	h = 12345;
	assert_int_equal(iobuf_get(NULL, 64, &h), -EINVAL);
	assert_int_equal(h, IOBUF_HANDLE_NONE);
	/* NULL arrays are refused even with nothing to move. */
	assert_int_equal(iobuf_pool_get_bulk(p, NULL, 0), -EINVAL);
	assert_int_equal(iobuf_pool_get_burst(p, NULL, 0), -EINVAL);
	assert_int_equal(iobuf_pool_put_bulk(p, NULL, 0), -EINVAL);
	iobuf_cache_destroy(c);
	iobuf_pool_destroy(p);
	iobuf_set_destroy(s);
}

/* ---- nothing allocates on a get or put path -------------------------------------------- */

static void test_no_allocation(void **state)
{
	struct iobuf_set *s = small_set();
	struct iobuf_pool *p = iobuf_set_pool(s, IOBUF_TIER_NANO);
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
	static iobuf_handle_t hs[512];
	iobuf_handle_t extra;
	int fd = iobuf_set_ready_fd(s), sv[2], kept;
	struct iobuf_slice sl[4];
	struct iovec iov[4];
	uint8_t data[200] = {7};

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	allocs = 0;
	counting = 1;
	for (int round = 0; round < 3; round++) {
		assert_int_equal(iobuf_pool_get_bulk(p, hs, 300), 0); /* more than any local array */
		assert_int_equal(iobuf_pool_put_bulk(p, hs, 300), 0);
		assert_int_equal(iobuf_pool_get_burst(p, hs, 512), 512);
		assert_int_equal(iobuf_pool_get(p, &extra), -ENOBUFS); /* empty: arms the fd */
		assert_int_equal(iobuf_pool_put_bulk(p, hs, 512), 0);
		for (int i = 0; i < 200; i++)
			assert_int_equal(iobuf_cache_get(c, 64, &hs[i]), 0);
		assert_int_equal(iobuf_cache_put_bulk(c, hs, 200), 0);
		assert_int_equal(iobuf_cache_get_bulk(c, 64, hs, 100), 0);
		for (int i = 0; i < 100; i++)
			assert_int_equal(iobuf_cache_put(c, hs[i]), 0);
		assert_int_equal(iobuf_get(s, 4000, &hs[0]), 0);
		assert_int_equal(iobuf_put(s, hs[0]), 0);
		assert_int_equal(iobuf_cache_flush(c) >= 0, 1);
		assert_int_equal(iobuf_cache_park(c), 0);
		assert_int_equal(iobuf_cache_unpark(c), 0);
		/* Shared buffers: holders, lengths, slices, their iovecs, a short write consumed, a read into slices. */
		assert_int_equal(iobuf_get(s, 64, &hs[0]), 0);
		assert_int_equal(iobuf_hold(s, hs[0], 2), 0);
		assert_int_equal(iobuf_pool_hold(p, hs[0], 1), 0);
		assert_int_equal(iobuf_holders(s, hs[0]), 4);
		assert_int_equal(iobuf_pool_holders(p, hs[0]), 4);
		assert_int_equal(iobuf_setlen(s, hs[0], 60), 0);
		assert_int_equal(iobuf_pool_setlen(p, hs[0], 50), 0);
		assert_int_equal(iobuf_len(s, hs[0]), 50);
		assert_int_equal(iobuf_pool_len(p, hs[0]), 50);
		assert_int_equal(iobuf_pool_put(p, hs[0]), 0);
		assert_int_equal(iobuf_put(s, hs[0]), 0);
		assert_int_equal(iobuf_cache_put(c, hs[0]), 0);
		assert_int_equal(iobuf_slice_from(s, hs[0], &sl[0]), 0);
		assert_int_equal(iobuf_slice_split(s, &sl[0], 20, &sl[1]), 0);
		assert_int_equal(iobuf_slice_clone(s, &sl[1], &sl[2]), 0);
		assert_non_null(iobuf_slice_buf(s, &sl[2]));
		assert_int_equal(iobuf_slice_trim_front(&sl[2], 5), 0);
		assert_int_equal(iobuf_slice_trim_back(&sl[2], 5), 0);
		assert_int_equal(iobuf_iov_from_slices(s, sl, 3, iov), 3);
		assert_int_equal(iobuf_slices_consume(s, sl, 3, 25), 1);
		assert_int_equal(iobuf_slice_put(s, &sl[1]), 0);
		assert_int_equal(iobuf_slices_put(s, &sl[2], 1), 0);
		assert_int_equal(write(sv[0], data, sizeof(data)), (ssize_t)sizeof(data));
		assert_int_equal(iobuf_cache_readv(c, sv[1], IOBUF_TIER_NANO, sl, 4, &kept), (ssize_t)sizeof(data));
		assert_int_equal(kept, 4);
		assert_int_equal(iobuf_slices_put(s, sl, kept), 0);
		assert_int_equal(iobuf_cache_flush(c) >= 0, 1); /* the next round takes the whole tier */
	}
	counting = 0;
	assert_int_equal(allocs, 0);
	close(sv[0]);
	close(sv[1]);
	iobuf_cache_destroy(c);
	iobuf_set_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_other_set_refused),
		cmocka_unit_test(test_set_and_pool),
		cmocka_unit_test(test_two_pools),
		cmocka_unit_test(test_many_sets),
		cmocka_unit_test(test_ready_fd),
		cmocka_unit_test(test_set_ready_fd),
		cmocka_unit_test(test_parked_cache_reclaimed),
		cmocka_unit_test(test_readv_with_parked_cache),
		cmocka_unit_test(test_park_after_empty_get),
		cmocka_unit_test(test_parked_cache_refuses),
		cmocka_unit_test(test_failed_bulk_no_self_wake),
		cmocka_unit_test(test_conventions),
		cmocka_unit_test(test_no_allocation),
	};

	return cmocka_run_group_tests_name("slot", tests, NULL, NULL);
}
