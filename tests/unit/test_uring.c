/* SPDX-License-Identifier: MIT */
/*
 * test_uring.c - iobuf/uring.h on real sockets: the probe, receives into a
 * provided-buffer ring across the wrap of its 16-bit tail, the ring running
 * dry (-ENOBUFS) and the tier running empty (the readiness fd) and both
 * recovering with every byte checked, buffers put out of order from
 * another thread, registered arenas and a registration that RLIMIT_MEMLOCK
 * refuses (in a child) with its fallback, zero-copy sends that hold their
 * buffer until the notification, every error path, and every buffer back
 * in its pool at the end.
 *
 * Skipped as a whole ("1..0 # SKIP why"; exit 77 when run by hand, 0 under
 * automake's TAP driver, which takes 77 for an error) when io_uring cannot
 * be set up here or the kernel has no provided-buffer rings.  Without
 * liburing it checks that every call answers -ENOSYS.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
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

#include <iobuf/uring.h>

#ifdef HAVE_LIBURING

#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <liburing.h>

/* Generous: a loaded 2-core machine under TSan or valgrind; only a hang reaches it. */
#define WATCHDOG_S 30

static struct iobuf_uring_features feat;

static void __attribute__((format(printf, 1, 2))) skip_all(const char *fmt, ...)
{
	va_list ap;
	const char *out = getenv("CMOCKA_MESSAGE_OUTPUT");

	printf("1..0 # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(out && strcmp(out, "TAP") == 0 ? 0 : 77);
}

/* The byte at stream offset @i of every test stream. */
static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 131u + (i >> 9) + 7u);
}

static void ring_init(struct io_uring *r)
{
	assert_int_equal(io_uring_queue_init(64, r, 0), 0);
}

/* The next completion, or a failed test after the watchdog's seconds. */
static struct io_uring_cqe *next_cqe(struct io_uring *r)
{
	struct __kernel_timespec ts = {.tv_sec = WATCHDOG_S};
	struct io_uring_cqe *cqe = NULL;
	int rc;

	io_uring_submit(r);
	rc = io_uring_wait_cqe_timeout(r, &cqe, &ts);
	if (rc == -ETIME)
		fail_msg("no completion in %d s", WATCHDOG_S);
	assert_int_equal(rc, 0);
	return cqe;
}

/* After the peer closed: reap the multishot receive's last completions (no data), up to its final one. */
static void reap_recv(struct io_uring *r, struct iobuf_uring_bufring *b)
{
	for (;;) {
		struct io_uring_cqe *cqe = next_cqe(r);
		iobuf_handle_t h;
		int n = iobuf_uring_bufring_take(b, cqe, &h);
		unsigned flags = cqe->flags;

		io_uring_cqe_seen(r, cqe);
		assert_true(n <= 0);
		if (!(flags & IORING_CQE_F_MORE))
			break;
	}
}

static struct iobuf_pool *make_pool(size_t size, uint32_t cap)
{
	struct iobuf_pool_config cfg = {.buf_size = size, .capacity = cap, .tag = 2};
	int err = -1;
	struct iobuf_pool *p = iobuf_pool_create(&cfg, &err);

	assert_non_null(p);
	assert_int_equal(err, 0);
	return p;
}

static void assert_all_back(const struct iobuf_pool *p)
{
	struct iobuf_pool_stats st;

	assert_int_equal(iobuf_pool_stats(p, &st), 0);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.free + st.cached, st.capacity);
}

/* A writer thread: @len bytes of the pattern from @from into @fd, in chunks of @chunk. */
struct writer {
	pthread_t th;
	int fd;
	uint64_t from, len;
	size_t chunk;
	int err;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t buf[65536];
	uint64_t off = 0;

	while (off < w->len) {
		size_t n = w->len - off < w->chunk ? (size_t)(w->len - off) : w->chunk;
		ssize_t k;

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(w->from + off + i);
		k = write(w->fd, buf, n);
		if (k < 0) {
			w->err = errno;
			return NULL;
		}
		off += (uint64_t)k;
	}
	return NULL;
}

static void writer_start(struct writer *w, int fd, uint64_t len, size_t chunk)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->len = len;
	w->chunk = chunk > 65536 ? 65536 : chunk;
	assert_int_equal(pthread_create(&w->th, NULL, writer_main, w), 0);
}

static void writer_join(struct writer *w)
{
	assert_int_equal(pthread_join(w->th, NULL), 0);
	assert_int_equal(w->err, 0);
}

/* Check @n received bytes at stream offset @at against the pattern. */
static void check_bytes(const uint8_t *b, int n, uint64_t at)
{
	for (int i = 0; i < n; i++)
		if (b[i] != pattern(at + (uint64_t)i))
			fail_msg("byte %llu: got %u, want %u", (unsigned long long)(at + (uint64_t)i), b[i],
				 pattern(at + (uint64_t)i));
}

/* ---- the probe --------------------------------------------------------------------- */

static void test_probe(void **state)
{
	struct iobuf_uring_features f;
	char *text = NULL;
	size_t len = 0;
	FILE *m;

	(void)state;
	assert_int_equal(iobuf_uring_probe(NULL), -EINVAL);
	assert_int_equal(iobuf_uring_probe(&f), 0);
	assert_true(f.buf_ring); /* main() skips without */
	assert_true(f.last_op > 0);
	m = open_memstream(&text, &len);
	assert_non_null(m);
	assert_int_equal(iobuf_uring_features_print(&f, m), 0);
	fclose(m);
	assert_non_null(strstr(text, "provided-buffer rings: yes"));
	assert_non_null(strstr(text, "bundles:"));
	assert_non_null(strstr(text, "incremental buffers:"));
	print_message("# %s", text);
	free(text);
	assert_int_equal(iobuf_uring_features_print(NULL, stdout), -EINVAL);
	assert_int_equal(iobuf_uring_features_print(&f, NULL), -EINVAL);
}

/* ---- bufring errors ------------------------------------------------------------------ */

static void test_bufring_errors(void **state)
{
	struct io_uring r;
	struct iobuf_pool *p = make_pool(64, 64), *other = make_pool(64, 64), *big;
	struct iobuf_cache *oc;
	struct iobuf_uring_bufring_config cfg = {.pool = p, .entries = 16, .bgid = 3};
	struct iobuf_uring_bufring *b, *b2;
	struct iobuf_uring_bufring_stats st;
	struct io_uring_cqe cqe;
	iobuf_handle_t h = 1;
	int err = 0;

	(void)state;
	ring_init(&r);
	assert_null(iobuf_uring_bufring_create(NULL, &cfg, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(iobuf_uring_bufring_create(&r, NULL, &err));
	assert_int_equal(err, -EINVAL);
	cfg.pool = NULL;
	err = 0;
	assert_null(iobuf_uring_bufring_create(&r, &cfg, &err));
	assert_int_equal(err, -EINVAL);
	cfg.pool = p;
	for (uint32_t bad = 0; bad < 4; bad++) {
		const uint32_t entries[4] = {0, 3, IOBUF_URING_BUFRING_MAX * 2, 128 /* above the capacity */};

		cfg.entries = entries[bad];
		err = 0;
		assert_null(iobuf_uring_bufring_create(&r, &cfg, &err));
		assert_int_equal(err, -EINVAL);
	}
	cfg.entries = 16;
	cfg.low_water = 17;
	err = 0;
	assert_null(iobuf_uring_bufring_create(&r, &cfg, &err));
	assert_int_equal(err, -EINVAL);
	cfg.low_water = 0;

	/* Buffer ids are 16 bits: a pool of more buffers is refused. */
	big = make_pool(16, IOBUF_URING_BUFRING_MAX_CAPACITY + 1);
	cfg.pool = big;
	err = 0;
	assert_null(iobuf_uring_bufring_create(&r, &cfg, &err));
	assert_int_equal(err, -EINVAL);
	iobuf_pool_destroy(big);

	/* A cache over another pool. */
	oc = iobuf_cache_create_pool(other, NULL, &err);
	assert_non_null(oc);
	cfg.pool = p;
	cfg.cache = oc;
	err = 0;
	assert_null(iobuf_uring_bufring_create(&r, &cfg, &err));
	assert_int_equal(err, -EINVAL);
	iobuf_cache_destroy(oc);
	assert_all_back(other);
	assert_all_back(p);
	cfg.cache = NULL;

	b = iobuf_uring_bufring_create(&r, &cfg, &err);
	assert_non_null(b);
	assert_int_equal(err, 0);
	assert_int_equal(iobuf_uring_bufring_count(b), 16);
	{
		struct iobuf_pool_stats ps;

		assert_int_equal(iobuf_pool_stats(p, &ps), 0);
		assert_int_equal(ps.in_use, 16); /* the ring's buffers count as in use */
	}
	/* The group is taken: the kernel's -EEXIST, and nothing leaks. */
	err = 0;
	b2 = iobuf_uring_bufring_create(&r, &cfg, &err);
	assert_null(b2);
	assert_int_equal(err, -EEXIST);

	assert_int_equal(iobuf_uring_bufring_take(NULL, &cqe, &h), -EINVAL);
	assert_int_equal(h, IOBUF_HANDLE_NONE);
	assert_int_equal(iobuf_uring_bufring_take(b, NULL, &h), -EINVAL);
	assert_int_equal(iobuf_uring_bufring_take(b, &cqe, NULL), -EINVAL);
	memset(&cqe, 0, sizeof(cqe));
	cqe.res = 10; /* bytes, and no buffer */
	assert_int_equal(iobuf_uring_bufring_take(b, &cqe, &h), -EINVAL);
	cqe.res = -ECONNRESET;
	assert_int_equal(iobuf_uring_bufring_take(b, &cqe, &h), -ECONNRESET);
	cqe.res = 0;
	assert_int_equal(iobuf_uring_bufring_take(b, &cqe, &h), 0);
	assert_int_equal(h, IOBUF_HANDLE_NONE);
	cqe.res = 10;
	cqe.flags = IORING_CQE_F_BUFFER | (60u << IORING_CQE_BUFFER_SHIFT); /* a buffer id not in the ring */
	{
		/* Which ids are in the ring: every index the ring holds, so pick one that is not. */
		iobuf_handle_t mine;

		assert_int_equal(iobuf_pool_get(p, &mine), 0);
		cqe.flags = IORING_CQE_F_BUFFER | (iobuf_handle_index(mine) << IORING_CQE_BUFFER_SHIFT);
		assert_int_equal(iobuf_uring_bufring_take(b, &cqe, &h), -EINVAL);
		assert_int_equal(iobuf_pool_put(p, mine), 0);
	}
	cqe.flags = IORING_CQE_F_BUFFER | (100000u << IORING_CQE_BUFFER_SHIFT); /* beyond the capacity */
	assert_int_equal(iobuf_uring_bufring_take(b, &cqe, &h), -EINVAL);
	cqe.flags = 0;
	cqe.res = -ENOBUFS;
	assert_int_equal(iobuf_uring_bufring_take(b, &cqe, &h), -ENOBUFS);
	assert_int_equal(iobuf_uring_bufring_stats(b, &st), 0);
	assert_int_equal(st.enobufs, 1);
	assert_int_equal(st.taken, 0);
	assert_int_equal(st.in_ring, 16);
	assert_int_equal(st.entries, 16);

	assert_int_equal(iobuf_uring_bufring_recv_multishot(NULL, 0, 0), -EINVAL);
	assert_int_equal(iobuf_uring_bufring_recv_multishot(b, -1, 0), -EINVAL);
	assert_int_equal(iobuf_uring_bufring_refill(NULL), -EINVAL);
	assert_int_equal(iobuf_uring_bufring_refill(b), 0); /* full */
	assert_int_equal(iobuf_uring_bufring_count(NULL), -EINVAL);
	assert_int_equal(iobuf_uring_bufring_stats(NULL, &st), -EINVAL);
	assert_int_equal(iobuf_uring_bufring_stats(b, NULL), -EINVAL);
	assert_int_equal(iobuf_uring_bufring_ready_fd(NULL), -EINVAL);
	assert_true(iobuf_uring_bufring_ready_fd(b) >= 0);
	assert_int_equal(iobuf_uring_bufring_ready_fd(b), iobuf_pool_ready_fd(p));

	/* A full submission queue: -EBUSY, nothing lost. */
	{
		struct io_uring small;
		struct iobuf_uring_bufring *sb;
		int fds[2];

		assert_int_equal(io_uring_queue_init(1, &small, 0), 0);
		cfg.bgid = 4;
		sb = iobuf_uring_bufring_create(&small, &cfg, &err);
		assert_non_null(sb);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
		assert_int_equal(iobuf_uring_bufring_recv_multishot(sb, fds[0], 1), 0);
		assert_int_equal(iobuf_uring_bufring_recv_multishot(sb, fds[0], 2), -EBUSY);
		iobuf_uring_bufring_destroy(sb); /* before the receive is submitted: nothing in flight */
		io_uring_queue_exit(&small);
		close(fds[0]);
		close(fds[1]);
		cfg.bgid = 3;
	}
	iobuf_uring_bufring_destroy(b);
	iobuf_uring_bufring_destroy(NULL);
	assert_all_back(p);
	io_uring_queue_exit(&r);
	iobuf_pool_destroy(p);
	iobuf_pool_destroy(other);
}

/* ---- receives across the wrap of the ring and of its 16-bit tail --------------------- */

static void test_recv_wrap(void **state)
{
	/* 16-byte buffers: at least 70000 completions for 70000 x 16 bytes, so the u16 tail wraps. */
	const uint64_t total = 70000ull * 16;
	struct io_uring r;
	struct iobuf_pool *p = make_pool(16, 4096);
	struct iobuf_cache *c;
	struct iobuf_uring_bufring_config cfg = {.entries = 16, .low_water = 8, .bgid = 7};
	struct iobuf_uring_bufring *b;
	struct iobuf_uring_bufring_stats st;
	struct writer w;
	uint64_t got = 0;
	int fds[2], err = 0, rearms = 0;

	(void)state;
	ring_init(&r);
	c = iobuf_cache_create_pool(p, NULL, &err);
	assert_non_null(c);
	cfg.pool = p;
	cfg.cache = c;
	b = iobuf_uring_bufring_create(&r, &cfg, &err);
	assert_non_null(b);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	writer_start(&w, fds[1], total, 4096);
	assert_int_equal(iobuf_uring_bufring_recv_multishot(b, fds[0], 42), 0);
	while (got < total) {
		struct io_uring_cqe *cqe = next_cqe(&r);
		iobuf_handle_t h;
		int n = iobuf_uring_bufring_take(b, cqe, &h);
		unsigned flags = cqe->flags;

		assert_int_equal(cqe->user_data, 42);
		if (n > 0) {
			/* The same completion again: its buffer id is no longer the ring's. */
			struct io_uring_cqe again = *cqe;
			iobuf_handle_t h2;

			assert_int_equal(iobuf_uring_bufring_take(b, &again, &h2), -EINVAL);
			assert_int_equal(h2, IOBUF_HANDLE_NONE);
		}
		io_uring_cqe_seen(&r, cqe);
		if (n > 0) {
			assert_true(n <= 16);
			check_bytes(iobuf_cache_buf(c, h), n, got);
			got += (uint64_t)n;
			assert_int_equal(iobuf_cache_put(c, h), 0);
		} else {
			assert_int_equal(n, -ENOBUFS); /* nothing else may end it */
		}
		if (!(flags & IORING_CQE_F_MORE)) {
			rearms++;
			assert_int_equal(iobuf_uring_bufring_recv_multishot(b, fds[0], 42), 0);
		}
	}
	writer_join(&w);
	assert_int_equal(iobuf_uring_bufring_stats(b, &st), 0);
	assert_true(st.taken >= 70000);
	assert_true(st.added > 65536 + 16); /* the tail wrapped */
	assert_int_equal(st.added - st.taken, st.in_ring);
	print_message("# %llu completions, %llu refills, %llu -ENOBUFS, %d re-arms\n", (unsigned long long)st.taken,
		      (unsigned long long)st.refills, (unsigned long long)st.enobufs, rearms);
	/* End the receive: the writer's close gives an end of stream. */
	close(fds[1]);
	for (;;) {
		struct io_uring_cqe *cqe = next_cqe(&r);
		iobuf_handle_t h;
		int n = iobuf_uring_bufring_take(b, cqe, &h);
		unsigned flags = cqe->flags;

		io_uring_cqe_seen(&r, cqe);
		assert_true(n <= 0);
		if (!(flags & IORING_CQE_F_MORE)) {
			if (n == 0)
				break;
			assert_int_equal(iobuf_uring_bufring_recv_multishot(b, fds[0], 42), 0);
		}
	}
	iobuf_uring_bufring_destroy(b);
	iobuf_cache_destroy(c);
	assert_all_back(p);
	close(fds[0]);
	io_uring_queue_exit(&r);
	iobuf_pool_destroy(p);
}

/* ---- running dry: the ring, then the tier; recovery through the readiness fd ---------- */

/* Puts a batch of handles on its own thread, in a shuffled order. */
struct putter {
	pthread_t th;
	struct iobuf_set *set;   /* iobuf_put() when set, */
	struct iobuf_pool *pool; /* else iobuf_pool_put() */
	iobuf_handle_t *hs;
	int n;
	int refused;
	unsigned seed;
};

static void *putter_main(void *arg)
{
	struct putter *pt = arg;

	for (int i = pt->n - 1; i > 0; i--) {
		int j = (int)(rand_r(&pt->seed) % (unsigned)(i + 1));
		iobuf_handle_t t = pt->hs[i];

		pt->hs[i] = pt->hs[j];
		pt->hs[j] = t;
	}
	for (int i = 0; i < pt->n; i++)
		if ((pt->set ? iobuf_put(pt->set, pt->hs[i]) : iobuf_pool_put(pt->pool, pt->hs[i])) != 0)
			pt->refused++;
	return NULL;
}

/* Hand @n handles to a new thread that puts them in a random order; joined by putter_join(). */
static void putter_run(struct putter *pt, struct iobuf_set *set, struct iobuf_pool *pool, iobuf_handle_t *hs, int n,
		       unsigned seed)
{
	memset(pt, 0, sizeof(*pt));
	pt->set = set;
	pt->pool = pool;
	pt->hs = malloc((size_t)n * sizeof(*hs));
	assert_non_null(pt->hs);
	memcpy(pt->hs, hs, (size_t)n * sizeof(*hs));
	pt->n = n;
	pt->seed = seed;
	assert_int_equal(pthread_create(&pt->th, NULL, putter_main, pt), 0);
}

static void putter_join(struct putter *pt)
{
	assert_int_equal(pthread_join(pt->th, NULL), 0);
	assert_int_equal(pt->refused, 0);
	free(pt->hs);
}

static void wait_readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	uint64_t v;

	if (poll(&pfd, 1, WATCHDOG_S * 1000) != 1)
		fail_msg("the readiness fd stayed silent for %d s", WATCHDOG_S);
	assert_int_equal(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
}

static void test_dry_and_recover(void **state)
{
	enum { CAP = 32 };
	const uint64_t total = 256 * 1024;
	struct io_uring r;
	struct iobuf_pool *p = make_pool(256, CAP);
	struct iobuf_uring_bufring_config cfg = {.pool = p, .entries = 8, .bgid = 9};
	struct iobuf_uring_bufring *b;
	struct iobuf_uring_bufring_stats st;
	iobuf_handle_t held[CAP];
	struct writer w;
	uint64_t got = 0;
	int fds[2], err = 0, nheld = 0, dry_ends = 0, stalls = 0;
	bool armed;

	(void)state;
	ring_init(&r);
	b = iobuf_uring_bufring_create(&r, &cfg, &err);
	assert_non_null(b);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	writer_start(&w, fds[1], total, 8192);
	assert_int_equal(iobuf_uring_bufring_recv_multishot(b, fds[0], 5), 0);
	armed = true;
	while (got < total) {
		struct io_uring_cqe *cqe;
		iobuf_handle_t h;
		unsigned flags;
		int n;

		if (!armed) {
			int rc = iobuf_uring_bufring_recv_multishot(b, fds[0], 5);

			if (rc == -ENOBUFS) {
				/* The tier is empty too: the application gives its buffers back on another thread. */
				struct putter pt;

				stalls++;
				assert_int_equal(nheld, CAP);
				assert_int_equal(iobuf_uring_bufring_count(b), 0);
				putter_run(&pt, NULL, p, held, nheld, (unsigned)stalls);
				nheld = 0;
				wait_readable(iobuf_uring_bufring_ready_fd(b));
				putter_join(&pt);
				continue;
			}
			assert_int_equal(rc, 0);
			armed = true;
		}
		cqe = next_cqe(&r);
		n = iobuf_uring_bufring_take(b, cqe, &h);
		flags = cqe->flags;
		io_uring_cqe_seen(&r, cqe);
		if (n > 0) {
			check_bytes(iobuf_pool_buf(p, h), n, got);
			got += (uint64_t)n;
			assert_true(nheld < CAP);
			held[nheld++] = h; /* kept: the ring runs dry */
		} else {
			assert_int_equal(n, -ENOBUFS);
			assert_false(flags & IORING_CQE_F_MORE);
			dry_ends++;
		}
		if (!(flags & IORING_CQE_F_MORE))
			armed = false;
	}
	writer_join(&w);
	assert_int_equal(iobuf_pool_put_bulk(p, held, nheld), 0);
	assert_int_equal(iobuf_uring_bufring_stats(b, &st), 0);
	print_message("# %d -ENOBUFS ends, %d empty-tier stalls, %llu enobufs counted, %llu tier_empty\n", dry_ends,
		      stalls, (unsigned long long)st.enobufs, (unsigned long long)st.tier_empty);
	assert_true(dry_ends >= 1);
	assert_true(stalls >= 1);
	assert_int_equal(st.enobufs, (uint64_t)dry_ends);
	assert_true(st.tier_empty >= 1);
	assert_int_equal(got, total);
	/* Cancel the receive (if armed) and reap it before the destroy. */
	close(fds[1]);
	if (armed)
		reap_recv(&r, b);
	iobuf_uring_bufring_destroy(b);
	assert_all_back(p);
	close(fds[0]);
	io_uring_queue_exit(&r);
	iobuf_pool_destroy(p);
}

/* ---- a set's tier: buffers put out of order from another thread ----------------------- */

static void test_out_of_order_puts(void **state)
{
	enum { CAP = 64, ROUND = 24 };
	const uint64_t total = 512 * 1024;
	struct iobuf_set_config sc;
	struct iobuf_set *set;
	struct iobuf_set_stats ss;
	struct iobuf_cache *c;
	struct io_uring r;
	struct iobuf_uring_bufring_config cfg = {.entries = 32, .bgid = 11};
	struct iobuf_uring_bufring *b;
	iobuf_handle_t held[ROUND];
	struct writer w;
	struct putter pt;
	bool putting = false, armed = true;
	uint64_t got = 0;
	uint32_t last_bid = 0;
	int fds[2], err = 0, nheld = 0, descents = 0;

	(void)state;
	memset(&sc, 0, sizeof(sc));
	sc.capacity[IOBUF_TIER_MEDIUM] = CAP;
	set = iobuf_set_create(&sc, &err);
	assert_non_null(set);
	assert_true(iobuf_set_ready_fd(set) >= 0);
	c = iobuf_cache_create(set, NULL, &err);
	assert_non_null(c);
	ring_init(&r);
	cfg.pool = iobuf_set_pool(set, IOBUF_TIER_MEDIUM);
	cfg.cache = c;
	b = iobuf_uring_bufring_create(&r, &cfg, &err);
	assert_non_null(b);
	assert_int_equal(iobuf_uring_bufring_ready_fd(b), iobuf_set_ready_fd(set));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	writer_start(&w, fds[1], total, 16384);
	assert_int_equal(iobuf_uring_bufring_recv_multishot(b, fds[0], 8), 0);
	while (got < total) {
		struct io_uring_cqe *cqe;
		iobuf_handle_t h;
		unsigned flags;
		int n;

		if (!armed) {
			int rc = iobuf_uring_bufring_recv_multishot(b, fds[0], 8);

			if (rc == -ENOBUFS) {
				/* Everything is with the putter or held: wait for it. */
				if (putting) {
					putter_join(&pt);
					putting = false;
				} else {
					wait_readable(iobuf_uring_bufring_ready_fd(b));
				}
				continue;
			}
			assert_int_equal(rc, 0);
			armed = true;
		}
		cqe = next_cqe(&r);
		n = iobuf_uring_bufring_take(b, cqe, &h);
		flags = cqe->flags;
		io_uring_cqe_seen(&r, cqe);
		if (n > 0) {
			uint32_t bid = flags >> IORING_CQE_BUFFER_SHIFT;

			assert_int_equal(bid, iobuf_handle_index(h)); /* the buffer id is the pool index */
			assert_int_equal(iobuf_handle_tag(h), IOBUF_TIER_MEDIUM);
			descents += bid < last_bid;
			last_bid = bid;
			check_bytes(iobuf_buf(set, h), n, got);
			got += (uint64_t)n;
			held[nheld++] = h;
			if (nheld == ROUND) {
				if (putting)
					putter_join(&pt);
				putter_run(&pt, set, NULL, held, nheld, (unsigned)got);
				putting = true;
				nheld = 0;
			}
		} else {
			assert_int_equal(n, -ENOBUFS);
		}
		if (!(flags & IORING_CQE_F_MORE))
			armed = false;
	}
	writer_join(&w);
	if (putting)
		putter_join(&pt);
	for (int i = 0; i < nheld; i++)
		assert_int_equal(iobuf_put(set, held[i]), 0);
	print_message("# buffer ids came back out of order %d times\n", descents);
	assert_true(descents > 0);
	close(fds[1]);
	if (armed)
		reap_recv(&r, b);
	iobuf_uring_bufring_destroy(b);
	iobuf_cache_destroy(c);
	assert_int_equal(iobuf_set_stats(set, &ss), 0);
	assert_int_equal(ss.tier[IOBUF_TIER_MEDIUM].in_use, 0);
	assert_int_equal(ss.tier[IOBUF_TIER_MEDIUM].cached, 0);
	assert_int_equal(ss.tier[IOBUF_TIER_MEDIUM].free, CAP);
	close(fds[0]);
	io_uring_queue_exit(&r);
	iobuf_set_destroy(set);
}

/* ---- registered arenas ------------------------------------------------------------------ */

/* Write @len bytes of @h at @off to @fd through @fx (write_fixed or write); the completion's result. */
static int write_through(struct io_uring *r, struct iobuf_uring_fixed *fx, int fd, iobuf_handle_t h, size_t off,
			 size_t len, bool *fixed_op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	struct io_uring_cqe *cqe;
	int rc;

	assert_non_null(sqe);
	rc = iobuf_uring_fixed_prep_write(fx, sqe, fd, h, off, len);
	if (rc < 0)
		return rc;
	*fixed_op = sqe->opcode == IORING_OP_WRITE_FIXED;
	cqe = next_cqe(r);
	rc = cqe->res;
	io_uring_cqe_seen(r, cqe);
	return rc;
}

static void fill(uint8_t *b, size_t n, uint64_t at)
{
	for (size_t i = 0; i < n; i++)
		b[i] = pattern(at + i);
}

static void test_fixed_write(void **state)
{
	struct iobuf_set_config sc;
	struct iobuf_set *set, *other;
	struct io_uring r;
	struct iobuf_uring_fixed_config cfg = {0};
	struct iobuf_uring_fixed_report rep;
	struct iobuf_uring_fixed *fx;
	struct iobuf_uring_buf ub;
	iobuf_handle_t h, h2, foreign, stale;
	uint8_t back[4096];
	char *text = NULL;
	size_t tlen = 0;
	FILE *m;
	bool fixed_op = false;
	int fds[2], err = 0;

	(void)state;
	memset(&sc, 0, sizeof(sc));
	sc.capacity[IOBUF_TIER_MICRO] = 16;
	sc.capacity[IOBUF_TIER_MEDIUM] = 16;
	set = iobuf_set_create(&sc, &err);
	other = iobuf_set_create(&sc, &err);
	assert_non_null(set);
	assert_non_null(other);
	ring_init(&r);

	/* Errors. */
	assert_null(iobuf_uring_fixed_create(NULL, &cfg, NULL, &err));
	assert_int_equal(err, -EINVAL);
	err = 0;
	assert_null(iobuf_uring_fixed_create(&r, NULL, NULL, &err));
	assert_int_equal(err, -EINVAL);
	err = 0;
	assert_null(iobuf_uring_fixed_create(&r, &cfg, NULL, &err)); /* neither set nor pool */
	assert_int_equal(err, -EINVAL);
	cfg.set = set;
	cfg.pool = iobuf_set_pool(other, IOBUF_TIER_MICRO);
	err = 0;
	assert_null(iobuf_uring_fixed_create(&r, &cfg, NULL, &err)); /* both */
	assert_int_equal(err, -EINVAL);
	cfg.pool = NULL;
	cfg.flags = 1u << 7;
	err = 0;
	assert_null(iobuf_uring_fixed_create(&r, &cfg, NULL, &err));
	assert_int_equal(err, -EINVAL);
	cfg.flags = 0;

	fx = iobuf_uring_fixed_create(&r, &cfg, &rep, &err);
	assert_non_null(fx);
	assert_int_equal(err, 0);
	assert_true(iobuf_uring_fixed_registered(fx));
	assert_false(iobuf_uring_fixed_registered(NULL));
	assert_true(rep.registered);
	assert_int_equal(rep.err, 0);
	assert_int_equal(rep.iovecs, 2);
	assert_true(rep.asked >= 16 * 256 + 16 * 4096);
	m = open_memstream(&text, &tlen);
	assert_int_equal(iobuf_uring_fixed_report_print(&rep, m), 0);
	fclose(m);
	assert_non_null(strstr(text, "2 arenas registered"));
	free(text);
	assert_int_equal(iobuf_uring_fixed_report_print(NULL, stdout), -EINVAL);
	assert_int_equal(iobuf_uring_fixed_report_print(&rep, NULL), -EINVAL);

	/* Every tier's buffers are fixed buffers: index by tier among the set's, the address of the handle. */
	assert_int_equal(iobuf_get(set, 200, &h), 0);
	assert_int_equal(iobuf_get(set, 4000, &h2), 0);
	assert_int_equal(iobuf_uring_fixed_buf(fx, h, &ub), 0);
	assert_int_equal(ub.index, 0);
	assert_ptr_equal(ub.addr, iobuf_buf(set, h));
	assert_int_equal(ub.len, 256);
	assert_int_equal(iobuf_uring_fixed_buf(fx, h2, &ub), 0);
	assert_int_equal(ub.index, 1);
	assert_int_equal(ub.len, 4096);
	assert_int_equal(iobuf_uring_fixed_buf(NULL, h, &ub), -EINVAL);
	assert_int_equal(iobuf_uring_fixed_buf(fx, h, NULL), -EINVAL);
	assert_int_equal(iobuf_get(other, 200, &foreign), 0);
	assert_int_equal(iobuf_uring_fixed_buf(fx, foreign, &ub), -EINVAL);
	assert_int_equal(iobuf_get(set, 100, &stale), 0);
	assert_int_equal(iobuf_put(set, stale), 0);
	assert_int_equal(iobuf_uring_fixed_buf(fx, stale, &ub), -ESTALE);

	/* write_fixed from both tiers, checked on the other end. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	fill(iobuf_buf(set, h2), 4096, 1000);
	assert_int_equal(write_through(&r, fx, fds[0], h2, 100, 3000, &fixed_op), 3000);
	assert_true(fixed_op);
	assert_int_equal(read(fds[1], back, sizeof(back)), 3000);
	check_bytes(back, 3000, 1100);
	fill(iobuf_buf(set, h), 256, 5);
	assert_int_equal(write_through(&r, fx, fds[0], h, 0, 256, &fixed_op), 256);
	assert_int_equal(read(fds[1], back, sizeof(back)), 256);
	check_bytes(back, 256, 5);

	/* The errors of prep_write. */
	{
		struct io_uring_sqe sqe;

		assert_int_equal(iobuf_uring_fixed_prep_write(NULL, &sqe, fds[0], h, 0, 1), -EINVAL);
		assert_int_equal(iobuf_uring_fixed_prep_write(fx, NULL, fds[0], h, 0, 1), -EINVAL);
		assert_int_equal(iobuf_uring_fixed_prep_write(fx, &sqe, -1, h, 0, 1), -EINVAL);
		assert_int_equal(iobuf_uring_fixed_prep_write(fx, &sqe, fds[0], h, 200, 57), -EINVAL);
		assert_int_equal(iobuf_uring_fixed_prep_write(fx, &sqe, fds[0], h, 257, 0), -EINVAL);
		assert_int_equal(iobuf_uring_fixed_prep_write(fx, &sqe, fds[0], h, 256, 0), 0);
		assert_int_equal(iobuf_uring_fixed_prep_write(fx, &sqe, fds[0], foreign, 0, 1), -EINVAL);
		assert_int_equal(iobuf_uring_fixed_prep_write(fx, &sqe, fds[0], stale, 0, 1), -ESTALE);
	}
	assert_int_equal(iobuf_uring_fixed_inflight(fx), 0);
	assert_int_equal(iobuf_uring_fixed_inflight(NULL), -EINVAL);
	iobuf_uring_fixed_destroy(fx);
	iobuf_uring_fixed_destroy(NULL);
	/* Unregistered: another registration on the same ring now works. */
	fx = iobuf_uring_fixed_create(&r, &cfg, NULL, &err);
	assert_non_null(fx);
	assert_true(iobuf_uring_fixed_registered(fx));
	iobuf_uring_fixed_destroy(fx);
	assert_int_equal(iobuf_put(set, h), 0);
	assert_int_equal(iobuf_put(set, h2), 0);
	assert_int_equal(iobuf_put(other, foreign), 0);
	close(fds[0]);
	close(fds[1]);
	io_uring_queue_exit(&r);
	iobuf_set_destroy(set);
	iobuf_set_destroy(other);
}

/* ---- RLIMIT_MEMLOCK refuses the registration (in a child), and the fallback ------------- */

/* Drop CAP_IPC_LOCK, so that io_uring accounts pinned pages against RLIMIT_MEMLOCK. */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) != 0)
		return -errno;
	data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	data[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
	data[CAP_IPC_LOCK / 32].inheritable &= ~(1u << (CAP_IPC_LOCK % 32));
	if (syscall(SYS_capset, &hdr, data) != 0)
		return -errno;
	return 0;
}

/* The child's verdicts, as exit codes. */
enum { CHILD_OK = 0, CHILD_SKIP = 77 };

static int child_memlock(void)
{
	const rlim_t limit = 64 * 1024;
	struct rlimit rl = {.rlim_cur = limit, .rlim_max = limit};
	struct iobuf_pool *p;
	struct iobuf_uring_fixed_config cfg = {0};
	struct iobuf_uring_fixed_report rep;
	struct iobuf_uring_fixed *fx;
	struct iobuf_uring_buf ub;
	struct io_uring r;
	iobuf_handle_t h;
	char *text = NULL, back[1024];
	size_t tlen = 0;
	FILE *m;
	int err = 0, fds[2];
	bool fixed_op = true;
	struct iobuf_pool_config pc = {.buf_size = 1024, .capacity = 1024}; /* 1 MiB, above the limit */

	if (drop_ipc_lock() != 0 || setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
		return CHILD_SKIP;
	p = iobuf_pool_create(&pc, &err);
	if (!p || io_uring_queue_init(8, &r, 0) != 0)
		return 10;
	cfg.pool = p;
	fx = iobuf_uring_fixed_create(&r, &cfg, &rep, &err);
	if (fx) {
		/* Accepted: the kernel does not account pinned pages here. */
		iobuf_uring_fixed_destroy(fx);
		return CHILD_SKIP;
	}
	if (err != -ENOMEM || rep.err != -ENOMEM || rep.registered || rep.iovecs != 1 ||
	    rep.asked != iobuf_pool_arena(p)->size || rep.memlock_cur != limit || rep.memlock_max != limit)
		return 11;
	m = open_memstream(&text, &tlen);
	if (!m || iobuf_uring_fixed_report_print(&rep, m) != 0)
		return 12;
	fclose(m);
	fprintf(stderr, "# %s", text);
	if (!strstr(text, "RLIMIT_MEMLOCK is 65536 bytes") || !strstr(text, "asked to pin 1048576 bytes"))
		return 13;
	free(text);

	/* The fallback: the same object, unregistered; writes go out as plain writes. */
	cfg.flags = IOBUF_URING_FIXED_FALLBACK;
	fx = iobuf_uring_fixed_create(&r, &cfg, &rep, &err);
	if (!fx || err != 0 || iobuf_uring_fixed_registered(fx) || rep.registered || rep.err != -ENOMEM)
		return 14;
	if (iobuf_pool_get(p, &h) != 0 || iobuf_uring_fixed_buf(fx, h, &ub) != 0 || ub.index != -1 ||
	    ub.addr != iobuf_pool_buf(p, h))
		return 15;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
		return 16;
	fill(ub.addr, 1024, 77);
	if (write_through(&r, fx, fds[0], h, 0, 1024, &fixed_op) != 1024 || fixed_op)
		return 17;
	if (read(fds[1], back, sizeof(back)) != 1024)
		return 18;
	for (int i = 0; i < 1024; i++)
		if ((uint8_t)back[i] != pattern(77 + (uint64_t)i))
			return 19;
	iobuf_uring_fixed_destroy(fx);
	if (iobuf_pool_put(p, h) != 0)
		return 20;
	io_uring_queue_exit(&r);
	iobuf_pool_destroy(p);
	return CHILD_OK;
}

static void test_memlock_refused(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_memlock());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == CHILD_SKIP) {
		/* Not a failure of the library: say why nothing was proved. */
		print_message("# registration not refused here (CAP_IPC_LOCK could not be dropped, or no "
			      "accounting): the refusal path was not exercised\n");
		return;
	}
	if (WEXITSTATUS(status) != CHILD_OK)
		fail_msg("the child failed at step %d", WEXITSTATUS(status));
}

/* ---- zero-copy sends hold their buffer until the notification --------------------------- */

static void tcp_pair(int *client, int *server)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	assert_true(l >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(*client >= 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
	*server = accept(l, NULL, NULL);
	assert_true(*server >= 0);
	setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
}

static uint32_t in_use(const struct iobuf_pool *p)
{
	struct iobuf_pool_stats st;

	assert_int_equal(iobuf_pool_stats(p, &st), 0);
	return st.in_use;
}

static void zc_round(bool registered_wanted)
{
	struct iobuf_pool *p = make_pool(4096, 16);
	struct iobuf_cache *c;
	struct io_uring r;
	struct iobuf_uring_fixed_config cfg = {0};
	struct iobuf_uring_fixed *fx;
	struct iobuf_uring_zc_event ev;
	struct io_uring_cqe *cqe, fake;
	iobuf_handle_t h, h2;
	uint8_t back[4096];
	size_t have = 0;
	int cl, sv, err = 0;
	bool sent = false, notified = false;

	ring_init(&r);
	c = iobuf_cache_create_pool(p, NULL, &err);
	assert_non_null(c);
	cfg.pool = p;
	cfg.cache = c;
	cfg.zc_slots = 1;
	fx = iobuf_uring_fixed_create(&r, &cfg, NULL, &err);
	assert_non_null(fx);
	assert_true(iobuf_uring_fixed_registered(fx));
	if (!registered_wanted) {
		/*
		 * The same sends unregistered, as after a refusal: the ring has
		 * fixed buffers already, so the kernel refuses (-EBUSY) and the
		 * fallback runs without.
		 */
		struct iobuf_uring_fixed_report rep;
		struct iovec spare = {.iov_base = back, .iov_len = sizeof(back)};

		iobuf_uring_fixed_destroy(fx);
		assert_int_equal(io_uring_register_buffers(&r, &spare, 1), 0);
		err = 0;
		assert_null(iobuf_uring_fixed_create(&r, &cfg, &rep, &err));
		assert_int_equal(err, -EBUSY);
		assert_int_equal(rep.err, -EBUSY);
		cfg.flags = IOBUF_URING_FIXED_FALLBACK;
		fx = iobuf_uring_fixed_create(&r, &cfg, &rep, &err);
		assert_non_null(fx);
		assert_int_equal(err, 0);
		assert_false(iobuf_uring_fixed_registered(fx));
		assert_int_equal(rep.err, -EBUSY);
	}
	tcp_pair(&cl, &sv);
	assert_int_equal(iobuf_cache_get(c, 4096, &h), 0);
	{
		struct iobuf_uring_buf ub;

		assert_int_equal(iobuf_uring_fixed_buf(fx, h, &ub), 0);
		assert_int_equal(ub.index, registered_wanted ? 0 : -1);
	}
	fill(iobuf_cache_buf(c, h), 4096, 300);
	assert_int_equal(iobuf_uring_fixed_send_zc(NULL, cl, h, 0, 10, 0, 1), -EINVAL);
	assert_int_equal(iobuf_uring_fixed_send_zc(fx, -1, h, 0, 10, 0, 1), -EINVAL);
	assert_int_equal(iobuf_uring_fixed_send_zc(fx, cl, h, 4000, 100, 0, 1), -EINVAL);
	assert_int_equal(iobuf_uring_fixed_send_zc(fx, cl, h, 0, 4096, 0, 77), 0);
	assert_int_equal(iobuf_uring_fixed_inflight(fx), 1);
	assert_int_equal(iobuf_pool_holders(p, h), 2); /* the caller's and the send's */
	/* One slot: a second send is refused, and adds no holder. */
	assert_int_equal(iobuf_cache_get(c, 4096, &h2), 0);
	assert_int_equal(iobuf_uring_fixed_send_zc(fx, cl, h2, 0, 10, 0, 2), -EBUSY);
	assert_int_equal(iobuf_pool_holders(p, h2), 1);
	assert_int_equal(iobuf_cache_put(c, h2), 0);
	assert_int_equal(iobuf_uring_fixed_send_zc(fx, cl, h2, 0, 10, 0, 2), -ESTALE);
	assert_int_equal(in_use(p), 1);
	while (!notified) {
		cqe = next_cqe(&r);
		assert_true(iobuf_uring_fixed_owns(fx, cqe));
		assert_int_equal(iobuf_uring_fixed_complete(fx, cqe, &ev), 0);
		io_uring_cqe_seen(&r, cqe);
		assert_int_equal(ev.cookie, 77);
		if (!ev.notif) {
			assert_false(sent);
			sent = true;
			assert_int_equal(ev.res, 4096);
			assert_false(ev.released);
			/* Sent, not yet notified: the buffer is still held, its handle live. */
			assert_int_equal(in_use(p), 1);
			assert_non_null(iobuf_cache_buf(c, h));
			assert_int_equal(iobuf_uring_fixed_inflight(fx), 1);
			while (have < 4096) {
				ssize_t k = read(sv, back + have, sizeof(back) - have);

				assert_true(k > 0);
				have += (size_t)k;
			}
			check_bytes(back, 4096, 300);
		} else {
			assert_true(sent);
			assert_true(ev.released);
			notified = true;
		}
	}
	/* The notification put the send's holder; the caller's keeps the buffer until its own put. */
	assert_int_equal(iobuf_uring_fixed_inflight(fx), 0);
	assert_int_equal(in_use(p), 1);
	assert_int_equal(iobuf_pool_holders(p, h), 1);
	assert_non_null(iobuf_cache_buf(c, h));
	assert_int_equal(iobuf_cache_put(c, h), 0);
	assert_int_equal(in_use(p), 0);
	assert_null(iobuf_cache_buf(c, h));
	assert_int_equal(iobuf_cache_put(c, h), -EALREADY);
	/* A completion of no send of fx. */
	memset(&fake, 0, sizeof(fake));
	assert_false(iobuf_uring_fixed_owns(fx, &fake));
	assert_false(iobuf_uring_fixed_owns(NULL, &fake));
	assert_int_equal(iobuf_uring_fixed_complete(fx, &fake, &ev), -EINVAL);
	fake.user_data = (uint64_t)0x1b0f << 48; /* the tag, slot 0, which is free */
	assert_true(iobuf_uring_fixed_owns(fx, &fake));
	assert_int_equal(iobuf_uring_fixed_complete(fx, &fake, &ev), -EINVAL);
	assert_int_equal(iobuf_uring_fixed_complete(NULL, &fake, &ev), -EINVAL);
	assert_int_equal(iobuf_uring_fixed_complete(fx, NULL, &ev), -EINVAL);
	assert_int_equal(iobuf_uring_fixed_complete(fx, &fake, NULL), -EINVAL);

	/*
	 * A send that fails (the peer is gone) ends without a notification: its
	 * holder is put at once.  The caller puts its own first, this time.
	 */
	close(sv);
	shutdown(cl, SHUT_RDWR);
	assert_int_equal(iobuf_cache_get(c, 4096, &h), 0);
	assert_int_equal(iobuf_uring_fixed_send_zc(fx, cl, h, 0, 100, MSG_NOSIGNAL, 9), 0);
	assert_int_equal(iobuf_cache_put(c, h), 0);
	assert_int_equal(in_use(p), 1);
	for (bool over = false; !over;) {
		cqe = next_cqe(&r);
		assert_int_equal(iobuf_uring_fixed_complete(fx, cqe, &ev), 0);
		io_uring_cqe_seen(&r, cqe);
		if (!ev.notif)
			assert_true(ev.res < 0);
		over = ev.released;
	}
	assert_int_equal(in_use(p), 0);
	iobuf_uring_fixed_destroy(fx);
	iobuf_cache_destroy(c);
	assert_all_back(p);
	close(cl);
	io_uring_queue_exit(&r);
	iobuf_pool_destroy(p);
}

static void test_zc_holds_until_notif(void **state)
{
	(void)state;
	zc_round(true);
}

static void test_zc_unregistered(void **state)
{
	(void)state;
	zc_round(false);
}

/* A ring, @p registered on it with 4 zero-copy send slots, and a connected TCP pair. */
static struct iobuf_uring_fixed *zc_setup(struct io_uring *r, struct iobuf_pool *p, int *cl, int *sv)
{
	struct iobuf_uring_fixed_config cfg = {.pool = p, .zc_slots = 4};
	struct iobuf_uring_fixed *fx;
	int err = 1;

	ring_init(r);
	fx = iobuf_uring_fixed_create(r, &cfg, NULL, &err);
	assert_non_null(fx);
	assert_int_equal(err, 0);
	tcp_pair(cl, sv);
	return fx;
}

/* zc_setup()'s undone: every buffer of @p must be back once @fx is destroyed. */
static void zc_teardown(struct io_uring *r, struct iobuf_uring_fixed *fx, struct iobuf_pool *p, int cl, int sv)
{
	iobuf_uring_fixed_destroy(fx);
	assert_all_back(p);
	io_uring_queue_exit(r);
	close(cl);
	close(sv);
	iobuf_pool_destroy(p);
}

/*
 * The caller puts its holder right after the send: the buffer stays out,
 * its bytes intact, until the notification puts the send's holder.  And a
 * send refused for a full submission queue adds no holder.
 */
static void test_zc_put_first(void **state)
{
	struct iobuf_pool *p = make_pool(4096, 8);
	struct io_uring r;
	struct iobuf_uring_fixed *fx;
	struct iobuf_uring_zc_event ev;
	struct io_uring_cqe *cqe;
	iobuf_handle_t h;
	uint8_t back[4096];
	size_t have = 0;
	unsigned nops = 0;
	int cl, sv;

	(void)state;
	fx = zc_setup(&r, p, &cl, &sv);
	assert_int_equal(iobuf_pool_get(p, &h), 0);
	fill(iobuf_pool_buf(p, h), 4096, 900);
	assert_int_equal(iobuf_uring_fixed_send_zc(fx, cl, h, 0, 4096, MSG_NOSIGNAL, 5), 0);
	assert_int_equal(iobuf_pool_put(p, h), 0);
	assert_int_equal(in_use(p), 1); /* the send's holder */
	assert_int_equal(iobuf_pool_holders(p, h), 1);
	for (bool released = false; !released;) {
		cqe = next_cqe(&r);
		assert_int_equal(iobuf_uring_fixed_complete(fx, cqe, &ev), 0);
		io_uring_cqe_seen(&r, cqe);
		assert_int_equal(ev.cookie, 5);
		if (!ev.notif) {
			assert_int_equal(ev.res, 4096);
			assert_false(ev.released);
			assert_int_equal(in_use(p), 1);
		}
		released = ev.released;
	}
	while (have < sizeof(back)) {
		ssize_t k = read(sv, back + have, sizeof(back) - have);

		assert_true(k > 0);
		have += (size_t)k;
	}
	check_bytes(back, 4096, 900);
	assert_int_equal(in_use(p), 0);
	assert_int_equal(iobuf_pool_put(p, h), -EALREADY);

	/* A full submission queue: -EBUSY, and the holder the call added is dropped again. */
	assert_int_equal(iobuf_pool_get(p, &h), 0);
	for (struct io_uring_sqe *sqe; (sqe = io_uring_get_sqe(&r)) != NULL; nops++)
		io_uring_prep_nop(sqe);
	assert_int_equal(iobuf_uring_fixed_send_zc(fx, cl, h, 0, 100, MSG_NOSIGNAL, 6), -EBUSY);
	assert_int_equal(iobuf_pool_holders(p, h), 1);
	assert_int_equal(iobuf_uring_fixed_inflight(fx), 0);
	assert_int_equal(io_uring_submit(&r), (int)nops);
	while (nops-- > 0) {
		cqe = next_cqe(&r);
		io_uring_cqe_seen(&r, cqe);
	}
	assert_int_equal(iobuf_pool_put(p, h), 0);
	zc_teardown(&r, fx, p, cl, sv);
}

/* Destroy with a send in flight puts the send's holder: no buffer is lost. */
static void test_fixed_destroy_puts_inflight(void **state)
{
	struct iobuf_pool *p = make_pool(1024, 8);
	struct io_uring r;
	struct iobuf_uring_fixed *fx;
	iobuf_handle_t h;
	int cl, sv;

	(void)state;
	fx = zc_setup(&r, p, &cl, &sv);
	assert_int_equal(iobuf_pool_get(p, &h), 0);
	assert_int_equal(iobuf_uring_fixed_send_zc(fx, cl, h, 0, 1024, 0, 1), 0);
	assert_int_equal(iobuf_pool_put(p, h), 0); /* the caller's holder */
	assert_int_equal(in_use(p), 1);
	/* Not submitted: nothing in flight in the kernel; the object still holds the buffer. */
	zc_teardown(&r, fx, p, cl, sv);
}

int main(void)
{
	const struct CMUnitTest all[] = {
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_bufring_errors),
		cmocka_unit_test(test_recv_wrap),
		cmocka_unit_test(test_dry_and_recover),
		cmocka_unit_test(test_out_of_order_puts),
		cmocka_unit_test(test_fixed_write),
		cmocka_unit_test(test_memlock_refused),
		cmocka_unit_test(test_zc_holds_until_notif),
		cmocka_unit_test(test_zc_unregistered),
		cmocka_unit_test(test_zc_put_first),
		cmocka_unit_test(test_fixed_destroy_puts_inflight),
	};
	const struct CMUnitTest no_zc[] = {
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_bufring_errors),
		cmocka_unit_test(test_recv_wrap),
		cmocka_unit_test(test_dry_and_recover),
		cmocka_unit_test(test_out_of_order_puts),
		cmocka_unit_test(test_fixed_write),
		cmocka_unit_test(test_memlock_refused),
	};
	int rc = iobuf_uring_probe(&feat);

	if (getenv("IOBUF_UNDER_VALGRIND") || getenv("VALGRIND_LAUNCHER"))
		skip_all("valgrind does not model io_uring's shared rings (the kernel's writes into buffers and "
			 "rings are invisible to it)");
	if (rc < 0)
		skip_all("io_uring_queue_init: %s (no io_uring here, or a sandbox forbids it)", strerror(-rc));
	if (!feat.buf_ring)
		skip_all("the kernel has no provided-buffer rings (5.19)");
	if (!feat.recv_multishot)
		skip_all("the kernel has no multishot receive (6.0)");
	if (!feat.send_zc) {
		print_message("# the kernel has no IORING_OP_SEND_ZC: zero-copy tests left out\n");
		return cmocka_run_group_tests(no_zc, NULL, NULL);
	}
	return cmocka_run_group_tests(all, NULL, NULL);
}

#else /* !HAVE_LIBURING */

/* Built without liburing: every call answers -ENOSYS, and nothing else happens. */
static void test_enosys(void **state)
{
	struct iobuf_uring_features f;
	struct iobuf_uring_bufring_config bc = {0};
	struct iobuf_uring_fixed_config fc = {0};
	struct iobuf_uring_fixed_report rep;
	iobuf_handle_t h = 1;
	int err = 0;

	(void)state;
	assert_int_equal(iobuf_uring_probe(&f), -ENOSYS);
	assert_false(f.buf_ring);
	assert_int_equal(iobuf_uring_probe(NULL), -EINVAL);
	assert_int_equal(iobuf_uring_features_print(&f, stdout), 0);
	assert_null(iobuf_uring_bufring_create(NULL, &bc, &err));
	assert_int_equal(err, -ENOSYS);
	iobuf_uring_bufring_destroy(NULL);
	assert_int_equal(iobuf_uring_bufring_refill(NULL), -ENOSYS);
	assert_int_equal(iobuf_uring_bufring_take(NULL, NULL, &h), -ENOSYS);
	assert_int_equal(h, IOBUF_HANDLE_NONE);
	assert_int_equal(iobuf_uring_bufring_recv_multishot(NULL, 0, 0), -ENOSYS);
	assert_int_equal(iobuf_uring_bufring_ready_fd(NULL), -ENOSYS);
	assert_int_equal(iobuf_uring_bufring_count(NULL), -ENOSYS);
	assert_int_equal(iobuf_uring_bufring_stats(NULL, NULL), -ENOSYS);
	err = 0;
	assert_null(iobuf_uring_fixed_create(NULL, &fc, &rep, &err));
	assert_int_equal(err, -ENOSYS);
	assert_int_equal(rep.err, -ENOSYS);
	iobuf_uring_fixed_destroy(NULL);
	assert_false(iobuf_uring_fixed_registered(NULL));
	assert_int_equal(iobuf_uring_fixed_report_print(&rep, stdout), 0);
	assert_int_equal(iobuf_uring_fixed_buf(NULL, 1, NULL), -ENOSYS);
	assert_int_equal(iobuf_uring_fixed_prep_write(NULL, NULL, 0, 1, 0, 0), -ENOSYS);
	assert_int_equal(iobuf_uring_fixed_send_zc(NULL, 0, 1, 0, 0, 0, 0), -ENOSYS);
	assert_false(iobuf_uring_fixed_owns(NULL, NULL));
	assert_int_equal(iobuf_uring_fixed_complete(NULL, NULL, NULL), -ENOSYS);
	assert_int_equal(iobuf_uring_fixed_inflight(NULL), -ENOSYS);
}

int main(void)
{
	const struct CMUnitTest all[] = {
		cmocka_unit_test(test_enosys),
	};

	return cmocka_run_group_tests(all, NULL, NULL);
}

#endif /* HAVE_LIBURING */
