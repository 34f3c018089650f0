/* SPDX-License-Identifier: MIT */
/*
 * test_iov.c - iovec arithmetic and the readv/writev/sendmsg loops, on real
 * pipes and socketpairs: boundaries, short writes on a non-blocking socket
 * with more than IOV_MAX segments, EAGAIN resumption, EINTR, EOF, errors,
 * the reason each loop gives for stopping (writev and readv wrapped to
 * inject results), and SIGPIPE, which only the send path cannot raise.
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
#include <sys/wait.h>
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

/* ---- injected results: writev and readv are wrapped (-Wl,--wrap) ------------------------ */

/*
 * While steps are queued, the loop's writev/readv return them instead of
 * calling the kernel: r >= 0 is a count (the bytes are not moved), r < 0
 * fails with errno -r.  Empty: the real call.
 */
static struct {
	ssize_t step[8];
	int n, next, calls;
} inj;

ssize_t __real_writev(int fd, const struct iovec *iov, int cnt);
ssize_t __wrap_writev(int fd, const struct iovec *iov, int cnt);
ssize_t __real_readv(int fd, const struct iovec *iov, int cnt);
ssize_t __wrap_readv(int fd, const struct iovec *iov, int cnt);

static void inject(int n, const ssize_t *steps)
{
	inj.n = n;
	inj.next = 0;
	inj.calls = 0;
	for (int i = 0; i < n; i++)
		inj.step[i] = steps[i];
}

static int injected(ssize_t *r)
{
	if (inj.next >= inj.n)
		return 0;
	inj.calls++;
	*r = inj.step[inj.next++];
	if (*r < 0) {
		errno = (int)-*r;
		*r = -1;
	}
	return 1;
}

ssize_t __wrap_writev(int fd, const struct iovec *iov, int cnt)
{
	ssize_t r;

	return injected(&r) ? r : __real_writev(fd, iov, cnt);
}

ssize_t __wrap_readv(int fd, const struct iovec *iov, int cnt)
{
	ssize_t r;

	return injected(&r) ? r : __real_readv(fd, iov, cnt);
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
	int p[2], nseg = 3 * iobuf_iov_max() + 5, cnt, stop = 1;
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
	assert_int_equal(iobuf_writev_full(p[1], &cur, &cnt, &stop), (ssize_t)v.total);
	assert_int_equal(cnt, 0);
	assert_int_equal(stop, 0); /* everything written */
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

typedef ssize_t (*full_fn)(int, struct iovec **, int *, int *);

/* 1 MiB in > 2*IOV_MAX segments of 512 B through a small socket buffer, by @fn. */
static void short_writes(full_fn fn)
{
	int sv[2], nseg = 2 * iobuf_iov_max() + 100, cnt, rounds = 0, eagains = 0, stop;
	int sndbuf = 4096;
	struct vec v;
	struct iovec *cur;
	uint8_t *got;
	size_t sent = 0, recvd = 0;

	vec_make(&v, nseg, 512, 1);
	got = malloc(v.total);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
	cur = v.iov;
	cnt = v.n;
	while (cnt > 0) {
		ssize_t r;

		stop = 1;
		r = fn(sv[0], &cur, &cnt, &stop);
		rounds++;
		if (r == -EAGAIN) {
			eagains++;
			assert_int_equal(stop, -EAGAIN);
		} else {
			assert_true(r > 0);
			sent += (size_t)r;
			/* A short count says why at once: the socket is full, not broken. */
			assert_int_equal(stop, cnt > 0 ? -EAGAIN : 0);
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

static void test_writev_nonblocking_short_writes(void **state)
{
	(void)state;
	short_writes(iobuf_writev_full);
}

static void test_sendv_nonblocking_short_writes(void **state)
{
	(void)state;
	short_writes(iobuf_sendv_full);
}

static void test_writev_errors(void **state)
{
	int p[2], cnt = 1, stop;
	char c = 'x';
	struct iovec one = {&c, 1}, *cur = &one;
	struct sigaction sa = {.sa_handler = SIG_IGN}, old;

	(void)state;
	assert_int_equal(iobuf_writev_full(-1, &cur, &cnt, &stop), -EBADF);
	assert_int_equal(stop, -EBADF);
	assert_int_equal(cnt, 1);
	assert_int_equal(iobuf_writev_full(-1, &cur, &cnt, NULL), -EBADF); /* @stop may be NULL */
	stop = 1;
	assert_int_equal(iobuf_writev_full(1, NULL, &cnt, &stop), -EINVAL);
	assert_int_equal(stop, -EINVAL);
	assert_int_equal(iobuf_writev_full(1, &cur, NULL, NULL), -EINVAL);
	cnt = -1;
	assert_int_equal(iobuf_writev_full(1, &cur, &cnt, NULL), -EINVAL);
	cnt = 1;
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	sigaction(SIGPIPE, &sa, &old);
	assert_int_equal(iobuf_writev_full(p[1], &cur, &cnt, &stop), -EPIPE);
	assert_int_equal(stop, -EPIPE);
	sigaction(SIGPIPE, &old, NULL);
	close(p[1]);
	/* Only empty segments: nothing to do, nothing called. */
	one.iov_len = 0;
	cnt = 1;
	stop = 1;
	assert_int_equal(iobuf_writev_full(-1, &cur, &cnt, &stop), 0);
	assert_int_equal(cnt, 0);
	assert_int_equal(stop, 0);
}

/* Every reason to stop, after progress and before it, from injected writev results. */
static void test_writev_stop_reasons(void **state)
{
	char buf[16];
	struct iovec v[2], *cur;
	int cnt, stop;

	(void)state;
	memset(buf, 'a', sizeof(buf));
#define RESET() (v[0] = (struct iovec){buf, 8}, v[1] = (struct iovec){buf + 8, 8}, cur = v, cnt = 2, stop = 1)

	/* 5 bytes, then an error: the count, and the error in *stop without another call. */
	RESET();
	inject(2, (ssize_t[]){5, -ECONNRESET});
	assert_int_equal(iobuf_writev_full(-1, &cur, &cnt, &stop), 5);
	assert_int_equal(stop, -ECONNRESET);
	assert_int_equal(inj.calls, 2);
	assert_int_equal(iobuf_iov_total(cur, cnt), 11);
	assert_ptr_equal(cur[0].iov_base, buf + 5);
	/* The next call meets the error first: it returns it. */
	inject(1, (ssize_t[]){-ECONNRESET});
	assert_int_equal(iobuf_writev_full(-1, &cur, &cnt, &stop), -ECONNRESET);
	assert_int_equal(stop, -ECONNRESET);
	assert_int_equal(iobuf_iov_total(cur, cnt), 11);

	/* Progress, then EAGAIN. */
	RESET();
	inject(2, (ssize_t[]){9, -EAGAIN});
	assert_int_equal(iobuf_writev_full(-1, &cur, &cnt, &stop), 9);
	assert_int_equal(stop, -EAGAIN);
	assert_int_equal(cnt, 1);

	/* EINTR is retried, and does not count as a reason. */
	RESET();
	inject(3, (ssize_t[]){-EINTR, 3, 13});
	assert_int_equal(iobuf_writev_full(-1, &cur, &cnt, &stop), 16);
	assert_int_equal(stop, 0);
	assert_int_equal(cnt, 0);

	/* A writev that takes no byte cannot go on: -EIO, after progress or before. */
	RESET();
	inject(2, (ssize_t[]){3, 0});
	assert_int_equal(iobuf_writev_full(-1, &cur, &cnt, &stop), 3);
	assert_int_equal(stop, -EIO);
	inject(1, (ssize_t[]){0});
	assert_int_equal(iobuf_writev_full(-1, &cur, &cnt, &stop), -EIO);
	assert_int_equal(stop, -EIO);
	assert_int_equal(iobuf_iov_total(cur, cnt), 13);
	inject(0, NULL);
#undef RESET
}

static void test_readv_stop_reasons(void **state)
{
	char buf[16];
	struct iovec one, *cur;
	int cnt, stop;

	(void)state;
	/* 4 bytes, then an error. */
	one = (struct iovec){buf, sizeof(buf)};
	cur = &one;
	cnt = 1;
	inject(2, (ssize_t[]){4, -EIO});
	assert_int_equal(iobuf_readv_full(-1, &cur, &cnt, &stop), 4);
	assert_int_equal(stop, -EIO);
	assert_int_equal(cur->iov_len, sizeof(buf) - 4);
	/* 4 bytes, then end of file: not an error, and the room left shows it. */
	inject(2, (ssize_t[]){4, 0});
	assert_int_equal(iobuf_readv_full(-1, &cur, &cnt, &stop), 4);
	assert_int_equal(stop, 0);
	assert_int_equal(cnt, 1);
	assert_int_equal(cur->iov_len, sizeof(buf) - 8);
	/* EINTR, then the rest: full. */
	inject(2, (ssize_t[]){-EINTR, 8});
	stop = 1;
	assert_int_equal(iobuf_readv_full(-1, &cur, &cnt, &stop), 8);
	assert_int_equal(stop, 0);
	assert_int_equal(cnt, 0);
	inject(0, NULL);
}

/* ---- SIGPIPE: the send path cannot raise it; writev can, and kills -------------------- */

/* A connected stream socket whose peer is closed; SIGPIPE at its default action (kill). */
static int dead_peer(struct sigaction *old)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	int sv[2];

	assert_int_equal(sigaction(SIGPIPE, &dfl, old), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	return sv[0];
}

/* Run @fn on a socket whose peer is closed, in a child; its wait status. */
static int in_child(full_fn fn)
{
	struct sigaction old;
	int fd = dead_peer(&old), status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char c = 'x';
		struct iovec one = {&c, 1}, *cur = &one;
		int cnt = 1, stop = 0;
		ssize_t r = fn(fd, &cur, &cnt, &stop);

		_exit(r == -EPIPE && stop == -EPIPE ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(fd);
	sigaction(SIGPIPE, &old, NULL);
	return status;
}

static void test_sendv_no_sigpipe(void **state)
{
	struct sigaction old;
	char data[64];
	struct iovec v[2] = {{data, 32}, {data + 32, 32}}, *cur = v;
	int fd, cnt = 2, stop = 0, status;

	(void)state;
	memset(data, 'z', sizeof(data));
	/* Here, in this process, with SIGPIPE at its default: -EPIPE, and we are alive to see it. */
	fd = dead_peer(&old);
	assert_int_equal(iobuf_sendv_full(fd, &cur, &cnt, &stop), -EPIPE);
	assert_int_equal(stop, -EPIPE);
	assert_int_equal(cnt, 2);
	close(fd);
	sigaction(SIGPIPE, &old, NULL);

	/* In a child: the send path exits normally with -EPIPE ... */
	status = in_child(iobuf_sendv_full);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* ... where writev_full on the same socket dies of SIGPIPE. */
	status = in_child(iobuf_writev_full);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGPIPE);
}

static void test_sendv_errors(void **state)
{
	int p[2], cnt = 1, stop = 1;
	char c = 'x';
	struct iovec one = {&c, 1}, *cur = &one;

	(void)state;
	/* Not a socket. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(iobuf_sendv_full(p[1], &cur, &cnt, &stop), -ENOTSOCK);
	assert_int_equal(stop, -ENOTSOCK);
	assert_int_equal(cnt, 1);
	close(p[0]);
	close(p[1]);
	assert_int_equal(iobuf_sendv_full(-1, &cur, &cnt, &stop), -EBADF);
	assert_int_equal(iobuf_sendv_full(-1, NULL, &cnt, &stop), -EINVAL);
	assert_int_equal(stop, -EINVAL);
	assert_int_equal(iobuf_sendv_full(-1, &cur, NULL, NULL), -EINVAL);
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
	int p[2], cnt, stop = 1;
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
	assert_int_equal(iobuf_readv_full(p[0], &cur, &cnt, &stop), (ssize_t)dst.total);
	assert_int_equal(cnt, 0);
	assert_int_equal(stop, 0);
	assert_memory_equal(dst.data, src.data, dst.total);
	/* The rest, then end of file: progress returned, the array shows the room left. */
	{
		struct vec rest;

		vec_make(&rest, 4, 4096, 0);
		cur = rest.iov;
		cnt = rest.n;
		stop = 1;
		assert_int_equal(iobuf_readv_full(p[0], &cur, &cnt, &stop), (ssize_t)(src.total - dst.total));
		assert_int_equal(stop, 0); /* end of file is no error; cnt > 0 tells it from full */
		assert_true(cnt > 0);
		assert_int_equal(iobuf_iov_total(cur, cnt), rest.total - (src.total - dst.total));
		assert_memory_equal(rest.data, src.data + dst.total, src.total - dst.total);
		/* At end of file with nothing read: 0. */
		stop = 1;
		assert_int_equal(iobuf_readv_full(p[0], &cur, &cnt, &stop), 0);
		assert_int_equal(stop, 0);
		vec_free(&rest);
	}
	pthread_join(t, NULL);
	close(p[0]);
	vec_free(&src);
	vec_free(&dst);
}

static void test_readv_eagain_and_eintr(void **state)
{
	int p[2], cnt, stop;
	uint8_t buf[64], data[64];
	struct iovec one = {buf, sizeof(buf)}, *cur = &one;
	struct sigaction sa, old;
	struct feeder f;
	pthread_t t;

	(void)state;
	assert_int_equal(pipe(p), 0);
	set_nonblock(p[0]);
	cnt = 1;
	assert_int_equal(iobuf_readv_full(p[0], &cur, &cnt, &stop), -EAGAIN);
	assert_int_equal(stop, -EAGAIN);
	assert_int_equal(cnt, 1);
	/* Part of the room, then EAGAIN: the progress, the array at the first empty byte. */
	assert_int_equal(write(p[1], "abcde", 5), 5);
	stop = 1;
	assert_int_equal(iobuf_readv_full(p[0], &cur, &cnt, &stop), 5);
	assert_int_equal(stop, -EAGAIN);
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
	assert_int_equal(iobuf_readv_full(p[0], &cur, &cnt, &stop), (ssize_t)sizeof(data));
	assert_int_equal(stop, 0);
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
	int cnt = 1, stop = 1;

	(void)state;
	assert_int_equal(iobuf_readv_full(-1, &cur, &cnt, &stop), -EBADF);
	assert_int_equal(stop, -EBADF);
	assert_int_equal(iobuf_readv_full(0, NULL, &cnt, &stop), -EINVAL);
	assert_int_equal(stop, -EINVAL);
	cnt = -2;
	assert_int_equal(iobuf_readv_full(0, &cur, &cnt, NULL), -EINVAL);
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
		cmocka_unit_test(test_sendv_nonblocking_short_writes),
		cmocka_unit_test(test_writev_errors),
		cmocka_unit_test(test_writev_stop_reasons),
		cmocka_unit_test(test_readv_stop_reasons),
		cmocka_unit_test(test_sendv_no_sigpipe),
		cmocka_unit_test(test_sendv_errors),
		cmocka_unit_test(test_readv_fills_across_iov_max),
		cmocka_unit_test(test_readv_eagain_and_eintr),
		cmocka_unit_test(test_readv_errors),
	};

	return cmocka_run_group_tests_name("iov", tests, NULL, NULL);
}
