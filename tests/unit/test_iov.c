/* SPDX-License-Identifier: MIT */
/*
 * test_iov.c - iovec arithmetic and the readv/writev loops, on real pipes
 * and socketpairs: boundaries, short writes on a non-blocking socket with
 * more than IOV_MAX segments, EAGAIN resumption, EINTR, EOF and errors.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <iobuf/iov.h>

static char A[16] = "0123456789abcdef";

static void test_total(void **state)
{
	struct iovec v[3] = {{A, 3}, {A, 0}, {A, 5}};
	struct iovec big[2] = {{A, SIZE_MAX - 1}, {A, 2}};

	(void)state;
	assert_int_equal(iobuf_iov_total(v, 3), 8);
	assert_int_equal(iobuf_iov_total(v, 0), 0);
	assert_int_equal(iobuf_iov_total(v, -1), 0);
	assert_int_equal(iobuf_iov_total(NULL, 3), 0);
	assert_true(iobuf_iov_total(big, 2) == SIZE_MAX);
}

static void test_advance_mid_segment(void **state)
{
	struct iovec v[3] = {{A, 4}, {A + 4, 4}, {A + 8, 4}};
	struct iovec *p = v;
	int n = 3;

	(void)state;
	assert_int_equal(iobuf_iov_advance(&p, &n, 6), 0);
	assert_ptr_equal(p, &v[1]);
	assert_int_equal(n, 2);
	assert_ptr_equal(p[0].iov_base, A + 6);
	assert_int_equal(p[0].iov_len, 2);
	assert_int_equal(p[1].iov_len, 4);
}

static void test_advance_exact_boundary(void **state)
{
	struct iovec v[3] = {{A, 4}, {A + 4, 4}, {A + 8, 4}};
	struct iovec *p = v;
	int n = 3;

	(void)state;
	/* The whole first segment: the next one untouched. */
	assert_int_equal(iobuf_iov_advance(&p, &n, 4), 0);
	assert_ptr_equal(p, &v[1]);
	assert_int_equal(n, 2);
	assert_ptr_equal(p[0].iov_base, A + 4);
	assert_int_equal(p[0].iov_len, 4);
	/* Exactly to the end. */
	assert_int_equal(iobuf_iov_advance(&p, &n, 8), 0);
	assert_int_equal(n, 0);
	assert_ptr_equal(p, &v[3]);
	/* Nothing left: 0 is fine, 1 is refused. */
	assert_int_equal(iobuf_iov_advance(&p, &n, 0), 0);
	assert_int_equal(iobuf_iov_advance(&p, &n, 1), -EINVAL);
	assert_int_equal(n, 0);
}

static void test_advance_zero_and_empties(void **state)
{
	struct iovec v[4] = {{A, 0}, {A, 0}, {A, 3}, {A + 3, 0}};
	struct iovec *p = v;
	int n = 4;

	(void)state;
	assert_int_equal(iobuf_iov_advance(&p, &n, 0), 0);
	assert_ptr_equal(p, &v[2]);
	assert_int_equal(n, 2);
	assert_int_equal(iobuf_iov_advance(&p, &n, 3), 0);
	assert_int_equal(n, 0);
}

static void test_advance_refuses(void **state)
{
	struct iovec v[2] = {{A, 4}, {A + 4, 4}};
	struct iovec *p = v;
	int n = 2;

	(void)state;
	assert_int_equal(iobuf_iov_advance(&p, &n, 9), -EINVAL);
	/* Nothing changed on refusal. */
	assert_ptr_equal(p, v);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].iov_len, 4);
	assert_ptr_equal(v[0].iov_base, A);
	assert_int_equal(v[1].iov_len, 4);
	assert_int_equal(iobuf_iov_advance(NULL, &n, 1), -EINVAL);
	assert_int_equal(iobuf_iov_advance(&p, NULL, 1), -EINVAL);
	n = -1;
	assert_int_equal(iobuf_iov_advance(&p, &n, 0), -EINVAL);
	p = NULL;
	n = 2;
	assert_int_equal(iobuf_iov_advance(&p, &n, 0), -EINVAL);
}

static void test_coalesce(void **state)
{
	struct iovec v[6] = {{A, 2}, {A + 2, 3}, {A + 9, 1}, {A + 10, 0}, {A + 10, 2}, {A, 1}};

	(void)state;
	assert_int_equal(iobuf_iov_coalesce(v, 6), 3);
	assert_ptr_equal(v[0].iov_base, A);
	assert_int_equal(v[0].iov_len, 5);
	assert_ptr_equal(v[1].iov_base, A + 9);
	assert_int_equal(v[1].iov_len, 3);
	assert_ptr_equal(v[2].iov_base, A);
	assert_int_equal(v[2].iov_len, 1);
	assert_int_equal(iobuf_iov_coalesce(v, 0), 0);
	assert_int_equal(iobuf_iov_coalesce(v, -1), -EINVAL);
	assert_int_equal(iobuf_iov_coalesce(NULL, 1), -EINVAL);
	assert_int_equal(iobuf_iov_coalesce(NULL, 0), 0);
}

static void test_iov_max(void **state)
{
	(void)state;
	assert_true(iobuf_iov_max() >= 16);
	assert_int_equal(iobuf_iov_max(), (int)sysconf(_SC_IOV_MAX));
}

/* ---- real descriptors -------------------------------------------------------- */

/* nseg segments of seglen bytes each, carrying a byte pattern of position. */
struct vec {
	struct iovec *iov;
	uint8_t *data;
	int n;
	size_t total;
};

static void vec_make(struct vec *v, int nseg, size_t seglen, int fill)
{
	v->n = nseg;
	v->total = (size_t)nseg * seglen;
	v->data = malloc(v->total);
	v->iov = calloc((size_t)nseg, sizeof(*v->iov));
	assert_non_null(v->data);
	assert_non_null(v->iov);
	for (size_t i = 0; i < v->total; i++)
		v->data[i] = fill ? (uint8_t)(i * 31 + 7) : 0;
	for (int i = 0; i < nseg; i++) {
		v->iov[i].iov_base = v->data + (size_t)i * seglen;
		v->iov[i].iov_len = seglen;
	}
}

static void vec_free(struct vec *v)
{
	free(v->data);
	free(v->iov);
}

struct drain {
	int fd;
	size_t want;
	uint8_t *got;
	size_t n;
};

static void *drain_thread(void *arg)
{
	struct drain *d = arg;

	while (d->n < d->want) {
		ssize_t r = read(d->fd, d->got + d->n, d->want - d->n);

		if (r <= 0)
			break;
		d->n += (size_t)r;
	}
	return NULL;
}

static void test_writev_blocking_pipe_over_iov_max(void **state)
{
	int p[2], nseg = 3 * iobuf_iov_max() + 5, cnt;
	struct vec v;
	struct iovec *cur;
	struct drain d;
	pthread_t t;

	(void)state;
	vec_make(&v, nseg, 7, 1);
	assert_int_equal(pipe(p), 0);
	d.fd = p[0];
	d.want = v.total;
	d.n = 0;
	d.got = malloc(v.total);
	assert_int_equal(pthread_create(&t, NULL, drain_thread, &d), 0);
	cur = v.iov;
	cnt = v.n;
	assert_int_equal(iobuf_writev_full(p[1], &cur, &cnt), (ssize_t)v.total);
	assert_int_equal(cnt, 0);
	pthread_join(t, NULL);
	assert_int_equal(d.n, v.total);
	assert_memory_equal(d.got, v.data, v.total);
	free(d.got);
	close(p[0]);
	close(p[1]);
	vec_free(&v);
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static void test_writev_nonblocking_short_writes(void **state)
{
	int sv[2], nseg = 2 * iobuf_iov_max() + 100, cnt, rounds = 0, eagains = 0;
	int sndbuf = 4096;
	struct vec v;
	struct iovec *cur;
	uint8_t *got;
	size_t sent = 0, recvd = 0;

	(void)state;
	/* 1 MiB in > 2*IOV_MAX segments of 512 B through a small socket buffer. */
	vec_make(&v, nseg, 512, 1);
	got = malloc(v.total);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
	cur = v.iov;
	cnt = v.n;
	while (cnt > 0) {
		ssize_t r = iobuf_writev_full(sv[0], &cur, &cnt);

		rounds++;
		if (r == -EAGAIN) {
			eagains++;
		} else {
			assert_true(r > 0);
			sent += (size_t)r;
		}
		/* The array describes exactly what is left. */
		assert_int_equal(iobuf_iov_total(cur, cnt), v.total - sent);
		if (cnt > 0)
			assert_ptr_equal((uint8_t *)cur[0].iov_base, v.data + sent);
		/* Drain what the peer holds, as a poll loop would on EPOLLOUT. */
		for (;;) {
			ssize_t n = read(sv[1], got + recvd, v.total - recvd);

			if (n <= 0)
				break;
			recvd += (size_t)n;
		}
	}
	while (recvd < v.total) {
		ssize_t n = read(sv[1], got + recvd, v.total - recvd);

		assert_true(n > 0);
		recvd += (size_t)n;
	}
	print_message("# %zu bytes in %d segments: %d calls, %d EAGAIN\n", v.total, nseg, rounds, eagains);
	assert_true(rounds > 1); /* the socket buffer forced short writes */
	assert_int_equal(sent, v.total);
	assert_memory_equal(got, v.data, v.total);
	free(got);
	close(sv[0]);
	close(sv[1]);
	vec_free(&v);
}

static void test_writev_errors(void **state)
{
	int p[2], cnt = 1;
	char c = 'x';
	struct iovec one = {&c, 1}, *cur = &one;
	struct sigaction sa = {.sa_handler = SIG_IGN}, old;

	(void)state;
	assert_int_equal(iobuf_writev_full(-1, &cur, &cnt), -EBADF);
	assert_int_equal(cnt, 1);
	assert_int_equal(iobuf_writev_full(1, NULL, &cnt), -EINVAL);
	assert_int_equal(iobuf_writev_full(1, &cur, NULL), -EINVAL);
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	sigaction(SIGPIPE, &sa, &old);
	assert_int_equal(iobuf_writev_full(p[1], &cur, &cnt), -EPIPE);
	sigaction(SIGPIPE, &old, NULL);
	close(p[1]);
	/* Only empty segments: nothing to do, nothing called. */
	one.iov_len = 0;
	cnt = 1;
	assert_int_equal(iobuf_writev_full(-1, &cur, &cnt), 0);
	assert_int_equal(cnt, 0);
}

struct feeder {
	int fd;
	const uint8_t *src;
	size_t len, chunk;
	pthread_t reader;
	int signal_first;
};

static void *feed_thread(void *arg)
{
	struct feeder *f = arg;
	struct timespec ts = {0, 50 * 1000 * 1000};

	if (f->signal_first) {
		nanosleep(&ts, NULL);
		pthread_kill(f->reader, SIGUSR1);
		nanosleep(&ts, NULL);
	}
	for (size_t off = 0; off < f->len; off += f->chunk) {
		size_t n = f->len - off < f->chunk ? f->len - off : f->chunk;

		if (write(f->fd, f->src + off, n) != (ssize_t)n)
			break;
	}
	close(f->fd);
	return NULL;
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void test_readv_fills_across_iov_max(void **state)
{
	int p[2], cnt;
	struct vec src, dst;
	struct iovec *cur;
	struct feeder f;
	pthread_t t;

	(void)state;
	vec_make(&src, 1, 50000, 1);
	vec_make(&dst, iobuf_iov_max() * 2 + 3, 20, 0); /* 41,000+ bytes of room */
	assert_int_equal(pipe(p), 0);
	f = (struct feeder){.fd = p[1], .src = src.data, .len = src.total, .chunk = 777};
	assert_int_equal(pthread_create(&t, NULL, feed_thread, &f), 0);
	cur = dst.iov;
	cnt = dst.n;
	assert_int_equal(iobuf_readv_full(p[0], &cur, &cnt), (ssize_t)dst.total);
	assert_int_equal(cnt, 0);
	assert_memory_equal(dst.data, src.data, dst.total);
	/* The rest, then end of file: progress returned, the array shows the room left. */
	{
		struct vec rest;

		vec_make(&rest, 4, 4096, 0);
		cur = rest.iov;
		cnt = rest.n;
		assert_int_equal(iobuf_readv_full(p[0], &cur, &cnt), (ssize_t)(src.total - dst.total));
		assert_int_equal(iobuf_iov_total(cur, cnt), rest.total - (src.total - dst.total));
		assert_memory_equal(rest.data, src.data + dst.total, src.total - dst.total);
		/* At end of file with nothing read: 0. */
		assert_int_equal(iobuf_readv_full(p[0], &cur, &cnt), 0);
		vec_free(&rest);
	}
	pthread_join(t, NULL);
	close(p[0]);
	vec_free(&src);
	vec_free(&dst);
}

static void test_readv_eagain_and_eintr(void **state)
{
	int p[2], cnt;
	uint8_t buf[64], data[64];
	struct iovec one = {buf, sizeof(buf)}, *cur = &one;
	struct sigaction sa, old;
	struct feeder f;
	pthread_t t;

	(void)state;
	assert_int_equal(pipe(p), 0);
	set_nonblock(p[0]);
	cnt = 1;
	assert_int_equal(iobuf_readv_full(p[0], &cur, &cnt), -EAGAIN);
	assert_int_equal(cnt, 1);
	/* Part of the room, then EAGAIN: the progress, the array at the first empty byte. */
	assert_int_equal(write(p[1], "abcde", 5), 5);
	assert_int_equal(iobuf_readv_full(p[0], &cur, &cnt), 5);
	assert_int_equal(cnt, 1);
	assert_ptr_equal(cur->iov_base, buf + 5);
	assert_int_equal(cur->iov_len, sizeof(buf) - 5);
	assert_memory_equal(buf, "abcde", 5);
	close(p[0]);
	close(p[1]);

	/* A blocking readv interrupted by a signal (no SA_RESTART) is retried. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, &old);
	got_usr1 = 0;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ 0x5a);
	assert_int_equal(pipe(p), 0);
	f = (struct feeder){.fd = p[1], .src = data, .len = sizeof(data), .chunk = 64,
			    .reader = pthread_self(), .signal_first = 1};
	assert_int_equal(pthread_create(&t, NULL, feed_thread, &f), 0);
	one = (struct iovec){buf, sizeof(buf)};
	cur = &one;
	cnt = 1;
	assert_int_equal(iobuf_readv_full(p[0], &cur, &cnt), (ssize_t)sizeof(data));
	pthread_join(t, NULL);
	assert_true(got_usr1);
	assert_memory_equal(buf, data, sizeof(data));
	sigaction(SIGUSR1, &old, NULL);
	close(p[0]);

}

static void test_readv_errors(void **state)
{
	uint8_t b[4];
	struct iovec one = {b, 4}, *cur = &one;
	int cnt = 1;

	(void)state;
	assert_int_equal(iobuf_readv_full(-1, &cur, &cnt), -EBADF);
	assert_int_equal(iobuf_readv_full(0, NULL, &cnt), -EINVAL);
	cnt = -2;
	assert_int_equal(iobuf_readv_full(0, &cur, &cnt), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_total),
		cmocka_unit_test(test_advance_mid_segment),
		cmocka_unit_test(test_advance_exact_boundary),
		cmocka_unit_test(test_advance_zero_and_empties),
		cmocka_unit_test(test_advance_refuses),
		cmocka_unit_test(test_coalesce),
		cmocka_unit_test(test_iov_max),
		cmocka_unit_test(test_writev_blocking_pipe_over_iov_max),
		cmocka_unit_test(test_writev_nonblocking_short_writes),
		cmocka_unit_test(test_writev_errors),
		cmocka_unit_test(test_readv_fills_across_iov_max),
		cmocka_unit_test(test_readv_eagain_and_eintr),
		cmocka_unit_test(test_readv_errors),
	};

	return cmocka_run_group_tests_name("iov", tests, NULL, NULL);
}
