/* SPDX-License-Identifier: MIT */
/*
 * test_chan.c - the channel of iobuf/chan.h: every function and error
 * code, FIFO order against a model over many capacities and laps, the
 * readiness fds and the system calls a send or receive makes (none unless
 * someone waits), the waiting forms against a second thread, and close()
 * stopped between the steps of a send (src/chan.c built here with
 * -DIOBUF_CHAN_STEPS, so the interleavings are placed, not hoped for).
 *
 * posix_memalign, eventfd, write and syscall are wrapped at link time:
 * allocations and eventfd fail on demand, eventfd writes and futex calls
 * are counted.
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
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <iobuf/chan.h>

/* ---- wrapped calls ------------------------------------------------------------ */

int __real_posix_memalign(void **p, size_t align, size_t size);
int __wrap_posix_memalign(void **p, size_t align, size_t size);
int __real_eventfd(unsigned int initval, int flags);
int __wrap_eventfd(unsigned int initval, int flags);
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
long __real_syscall(long nr, ...);
long __wrap_syscall(long nr, ...);

static int alloc_countdown; /* > 0: the n-th posix_memalign from now fails */
static int eventfd_fail;    /* > 0: eventfd fails with this errno */
static int writes;          /* write() calls (only the channel's eventfds write here) */
static int futex_calls;     /* syscall(SYS_futex, ...) calls */
static int futex_wakes;     /* those of them that wake (FUTEX_WAKE) */

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
	if (alloc_countdown > 0 && --alloc_countdown == 0)
		return ENOMEM;
	return __real_posix_memalign(p, align, size);
}

int __wrap_eventfd(unsigned int initval, int flags)
{
	if (eventfd_fail) {
		errno = eventfd_fail;
		return -1;
	}
	return __real_eventfd(initval, flags);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	__atomic_fetch_add(&writes, 1, __ATOMIC_RELAXED);
	return __real_write(fd, buf, n);
}

long __wrap_syscall(long nr, ...)
{
	va_list ap;
	long a[6];

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_futex) {
		__atomic_fetch_add(&futex_calls, 1, __ATOMIC_RELAXED);
		if ((a[1] & FUTEX_CMD_MASK) == FUTEX_WAKE)
			__atomic_fetch_add(&futex_wakes, 1, __ATOMIC_RELAXED);
	}
	return __real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* ---- the step hook of src/chan.c ------------------------------------------------ */

extern void (*iobuf__chan_step_hook)(struct iobuf_chan *ch, int step);
enum { STEP_MARKED = 1, STEP_OPEN = 2, STEP_SLEEP = 3, STEP_TAKEN = 4 };

/* ---- helpers ------------------------------------------------------------------ */

/* A handle-shaped value, never IOBUF_HANDLE_NONE. */
static iobuf_handle_t H(uint64_t v)
{
	return (v << 32) | 0x1000u | (v & 0xfff);
}

static struct iobuf_slice S(uint64_t v)
{
	return (struct iobuf_slice){H(v), (uint32_t)v * 3, (uint32_t)v + 1};
}

static bool slice_eq(struct iobuf_slice a, struct iobuf_slice b)
{
	return a.h == b.h && a.off == b.off && a.len == b.len;
}

static struct iobuf_chan *mk(uint32_t cap)
{
	struct iobuf_chan_config cfg = {.capacity = cap};
	int err = -1;
	struct iobuf_chan *ch = iobuf_chan_create(&cfg, &err);

	assert_non_null(ch);
	assert_int_equal(err, 0);
	return ch;
}

/* Receive whatever is left (any form would do), then destroy: must succeed. */
static void rm(struct iobuf_chan *ch)
{
	struct iobuf_slice s[64];

	while (iobuf_chan_recv_burst(ch, s, 64) > 0)
		;
	assert_int_equal(iobuf_chan_destroy(ch), 0);
}

static bool fd_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static uint64_t fd_read(int fd)
{
	uint64_t v = 0;

	assert_int_equal(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	return v;
}

/* Wait (bounded: 10 s, the watchdog) until *@p >= @v. */
static void wait_for(const int *p, int v)
{
	for (int i = 0; i < 100000 && __atomic_load_n(p, __ATOMIC_ACQUIRE) < v; i++)
		usleep(100);
	assert_true(__atomic_load_n(p, __ATOMIC_ACQUIRE) >= v);
}

/* ---- create and destroy ----------------------------------------------------------- */

static void test_create_errors(void **state)
{
	struct iobuf_chan_config cfg = {0};
	int err = 0;

	(void)state;
	assert_null(iobuf_chan_create(NULL, &err));
	assert_int_equal(err, -EINVAL);
	err = 0;
	assert_null(iobuf_chan_create(&cfg, &err)); /* capacity 0 */
	assert_int_equal(err, -EINVAL);
	cfg.capacity = IOBUF_CHAN_MAX_CAPACITY + 1;
	err = 0;
	assert_null(iobuf_chan_create(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	cfg.capacity = 8;
	cfg.flags = 1;
	err = 0;
	assert_null(iobuf_chan_create(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(iobuf_chan_create(&cfg, NULL)); /* @err may be NULL */
	cfg.flags = 0;
	struct iobuf_chan *ch = iobuf_chan_create(&cfg, NULL);
	assert_non_null(ch);
	assert_int_equal(iobuf_chan_capacity(ch), 8);
	rm(ch);
}

static void test_create_enomem(void **state)
{
	struct iobuf_chan_config cfg = {.capacity = 100};
	int err;

	(void)state;
	/* Four allocations: the channel, fq, aq, the entries.  Each may fail; nothing leaks (valgrind, ASan). */
	for (int k = 1; k <= 4; k++) {
		alloc_countdown = k;
		err = 0;
		assert_null(iobuf_chan_create(&cfg, &err));
		assert_int_equal(err, -ENOMEM);
		assert_int_equal(alloc_countdown, 0);
	}
	alloc_countdown = 5; /* no fifth: it succeeds */
	struct iobuf_chan *ch = iobuf_chan_create(&cfg, &err);
	assert_non_null(ch);
	assert_int_equal(err, 0);
	alloc_countdown = 0;
	rm(ch);
}

static void test_destroy_busy(void **state)
{
	struct iobuf_chan *ch = mk(4);
	struct iobuf_slice s;

	(void)state;
	assert_int_equal(iobuf_chan_destroy(NULL), 0);
	assert_int_equal(iobuf_chan_send_slice(ch, S(7)), 0);
	assert_int_equal(iobuf_chan_destroy(ch), -EBUSY); /* it still holds a buffer */
	assert_int_equal(iobuf_chan_destroy(ch), -EBUSY); /* and changed nothing */
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0);
	assert_true(slice_eq(s, S(7)));
	assert_int_equal(iobuf_chan_destroy(ch), 0);
}

/* ---- send and receive ------------------------------------------------------------- */

static void test_send_recv_forms(void **state)
{
	struct iobuf_chan *ch = mk(4);
	struct iobuf_slice s;
	iobuf_handle_t h;

	(void)state;
	/* A handle travels as {h, 0, 0}; a slice received as a handle keeps only its handle. */
	assert_int_equal(iobuf_chan_send(ch, H(1)), 0);
	assert_int_equal(iobuf_chan_send_slice(ch, S(2)), 0);
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0);
	assert_true(slice_eq(s, ((struct iobuf_slice){H(1), 0, 0})));
	assert_int_equal(iobuf_chan_recv(ch, &h), 0);
	assert_true(h == H(2));
	/* The largest range that does not pass 2^32. */
	s = (struct iobuf_slice){H(3), UINT32_MAX - 5, 5};
	assert_int_equal(iobuf_chan_send_slice(ch, s), 0);
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0);
	assert_true(slice_eq(s, ((struct iobuf_slice){H(3), UINT32_MAX - 5, 5})));
	rm(ch);
}

static void test_send_errors(void **state)
{
	struct iobuf_chan *ch = mk(2);
	struct iobuf_slice s;

	(void)state;
	assert_int_equal(iobuf_chan_send(NULL, H(1)), -EINVAL);
	assert_int_equal(iobuf_chan_send_slice(NULL, S(1)), -EINVAL);
	assert_int_equal(iobuf_chan_send(ch, IOBUF_HANDLE_NONE), -EINVAL);
	assert_int_equal(iobuf_chan_send_slice(ch, IOBUF_SLICE_NONE), -EINVAL);
	assert_int_equal(iobuf_chan_send_slice(ch, ((struct iobuf_slice){H(1), UINT32_MAX, 1})), -EINVAL);
	assert_int_equal(iobuf_chan_send_slice(ch, ((struct iobuf_slice){H(1), 1u << 31, 1u << 31})), -EINVAL);
	assert_int_equal(iobuf_chan_count(ch), 0); /* nothing went in */
	/* Full: -EAGAIN, and the channel keeps what it had. */
	assert_int_equal(iobuf_chan_send(ch, H(1)), 0);
	assert_int_equal(iobuf_chan_send(ch, H(2)), 0);
	assert_int_equal(iobuf_chan_send(ch, H(3)), -EAGAIN);
	assert_int_equal(iobuf_chan_send_slice(ch, S(3)), -EAGAIN);
	assert_int_equal(iobuf_chan_count(ch), 2);
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0);
	assert_true(s.h == H(1));
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0);
	assert_true(s.h == H(2));
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), -EAGAIN);
	rm(ch);
}

static void test_recv_errors(void **state)
{
	struct iobuf_chan *ch = mk(2);
	struct iobuf_slice s = S(9);
	iobuf_handle_t h = H(9);

	(void)state;
	assert_int_equal(iobuf_chan_recv_slice(ch, NULL), -EINVAL);
	assert_int_equal(iobuf_chan_recv(ch, NULL), -EINVAL);
	assert_int_equal(iobuf_chan_recv_slice(NULL, &s), -EINVAL);
	assert_true(slice_eq(s, IOBUF_SLICE_NONE));
	assert_int_equal(iobuf_chan_recv(NULL, &h), -EINVAL);
	assert_true(h == IOBUF_HANDLE_NONE);
	/* Empty: -EAGAIN, NONE. */
	s = S(9);
	h = H(9);
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), -EAGAIN);
	assert_true(slice_eq(s, IOBUF_SLICE_NONE));
	assert_int_equal(iobuf_chan_recv(ch, &h), -EAGAIN);
	assert_true(h == IOBUF_HANDLE_NONE);
	rm(ch);
}

static void test_count_capacity(void **state)
{
	struct iobuf_chan *ch = mk(5);
	struct iobuf_slice s;

	(void)state;
	assert_int_equal(iobuf_chan_count(NULL), -EINVAL);
	assert_int_equal(iobuf_chan_capacity(NULL), -EINVAL);
	assert_int_equal(iobuf_chan_capacity(ch), 5);
	/* One thread: exact, through several laps of both queues. */
	for (int lap = 0; lap < 7; lap++) {
		for (int k = 0; k < 5; k++) {
			assert_int_equal(iobuf_chan_count(ch), k);
			assert_int_equal(iobuf_chan_send(ch, H((uint64_t)k + 1)), 0);
		}
		assert_int_equal(iobuf_chan_count(ch), 5);
		for (int k = 5; k > lap % 3; k--) {
			assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0);
			assert_int_equal(iobuf_chan_count(ch), k - 1);
		}
		while (iobuf_chan_recv_slice(ch, &s) == 0)
			;
		assert_int_equal(iobuf_chan_count(ch), 0);
	}
	rm(ch);
}

/* ---- bursts ----------------------------------------------------------------------- */

static void test_burst_errors(void **state)
{
	struct iobuf_chan *ch = mk(8);
	struct iobuf_slice s[4] = {S(1), S(2), IOBUF_SLICE_NONE, S(4)};

	(void)state;
	assert_int_equal(iobuf_chan_send_burst(NULL, s, 1), -EINVAL);
	assert_int_equal(iobuf_chan_send_burst(ch, s, -1), -EINVAL);
	assert_int_equal(iobuf_chan_send_burst(ch, NULL, 1), -EINVAL);
	assert_int_equal(iobuf_chan_send_burst(ch, s, 4), -EINVAL); /* s[2] is NONE: nothing sent */
	assert_int_equal(iobuf_chan_count(ch), 0);
	s[2] = (struct iobuf_slice){H(3), UINT32_MAX, 2};
	assert_int_equal(iobuf_chan_send_burst(ch, s, 4), -EINVAL); /* a range past 2^32 */
	assert_int_equal(iobuf_chan_count(ch), 0);
	assert_int_equal(iobuf_chan_send_burst(ch, NULL, 0), 0);
	assert_int_equal(iobuf_chan_recv_burst(NULL, s, 1), -EINVAL);
	assert_int_equal(iobuf_chan_recv_burst(ch, s, -1), -EINVAL);
	assert_int_equal(iobuf_chan_recv_burst(ch, NULL, 1), -EINVAL);
	assert_int_equal(iobuf_chan_recv_burst(ch, NULL, 0), 0);
	assert_int_equal(iobuf_chan_recv_burst(ch, s, 4), 0); /* empty */
	rm(ch);
}

static void test_burst_partial(void **state)
{
	enum { CAP = 150 };
	struct iobuf_chan *ch = mk(CAP);
	struct iobuf_slice in[200], out[200];

	(void)state;
	for (int k = 0; k < 200; k++)
		in[k] = S((uint64_t)k + 1);
	/* More than one chunk of 64, and more than there is room for: the count, in order. */
	assert_int_equal(iobuf_chan_send_burst(ch, in, 100), 100);
	assert_int_equal(iobuf_chan_send_burst(ch, in + 100, 100), CAP - 100);
	assert_int_equal(iobuf_chan_send_burst(ch, in + CAP, 50), 0); /* full */
	assert_int_equal(iobuf_chan_count(ch), CAP);
	assert_int_equal(iobuf_chan_recv_burst(ch, out, 70), 70);
	assert_int_equal(iobuf_chan_recv_burst(ch, out + 70, 200), CAP - 70);
	assert_int_equal(iobuf_chan_recv_burst(ch, out, 200), 0); /* empty */
	for (int k = 0; k < CAP; k++)
		assert_true(slice_eq(out[k], in[k]));
	rm(ch);
}

/* FIFO against a model queue: random bursts and singles, every form, many laps, many capacities. */
static void test_fifo_model(void **state)
{
	static const uint32_t caps[] = {1, 2, 3, 4, 5, 7, 16, 17, 31, 64, 65, 100, 1000};
	enum { RING = 2048, MAXN = 130 };
	static struct iobuf_slice model[RING]; /* what was sent, by sequence mod RING */
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		uint32_t cap = caps[c];
		struct iobuf_chan *ch = mk(cap);
		uint64_t next_in = 1, next_out = 1;
		struct iobuf_slice buf[MAXN], s;

		for (int step = 0; step < 4000; step++) {
			uint64_t held = next_in - next_out;
			int n, rc;

			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			n = 1 + (int)((rng >> 8) % MAXN);
			switch (rng % 5) {
			case 0: /* send_burst */
				for (int k = 0; k < n; k++)
					buf[k] = S(next_in + (uint64_t)k);
				rc = iobuf_chan_send_burst(ch, buf, n);
				assert_int_equal(rc, (uint64_t)n <= cap - held ? n : (int)(cap - held));
				for (int k = 0; k < rc; k++)
					model[next_in++ % RING] = buf[k];
				break;
			case 1: /* recv_burst */
				rc = iobuf_chan_recv_burst(ch, buf, n);
				assert_int_equal(rc, (uint64_t)n <= held ? n : (int)held);
				for (int k = 0; k < rc; k++)
					assert_true(slice_eq(buf[k], model[next_out++ % RING]));
				break;
			case 2: /* send_slice, or send: a handle is the slice {h, 0, 0} */
				s = S(next_in);
				if ((rng >> 20) & 1) {
					rc = iobuf_chan_send_slice(ch, s);
				} else {
					s.off = s.len = 0;
					rc = iobuf_chan_send(ch, s.h);
				}
				assert_int_equal(rc, held < cap ? 0 : -EAGAIN);
				if (rc == 0)
					model[next_in++ % RING] = s;
				break;
			case 3: /* recv_slice */
				rc = iobuf_chan_recv_slice(ch, &s);
				assert_int_equal(rc, held > 0 ? 0 : -EAGAIN);
				if (rc == 0)
					assert_true(slice_eq(s, model[next_out++ % RING]));
				break;
			default: { /* recv: the handle only */
				iobuf_handle_t h;

				rc = iobuf_chan_recv(ch, &h);
				assert_int_equal(rc, held > 0 ? 0 : -EAGAIN);
				if (rc == 0)
					assert_true(h == model[next_out++ % RING].h);
				break;
			}
			}
			assert_int_equal(iobuf_chan_count(ch), (int)(next_in - next_out));
		}
		rm(ch);
	}
}

/* ---- readiness fds and system calls ------------------------------------------------ */

static void test_fd_errors(void **state)
{
	struct iobuf_chan *ch = mk(4);
	int fd;

	(void)state;
	assert_int_equal(iobuf_chan_ready_fd(NULL), -EINVAL);
	assert_int_equal(iobuf_chan_writable_fd(NULL), -EINVAL);
	eventfd_fail = EMFILE;
	assert_int_equal(iobuf_chan_ready_fd(ch), -EMFILE);
	eventfd_fail = ENFILE;
	assert_int_equal(iobuf_chan_writable_fd(ch), -ENFILE);
	eventfd_fail = 0;
	/* A later call tries again, then always gives the same fd. */
	fd = iobuf_chan_ready_fd(ch);
	assert_true(fd >= 0);
	assert_int_equal(iobuf_chan_ready_fd(ch), fd);
	assert_true(iobuf_chan_writable_fd(ch) >= 0);
	assert_true(iobuf_chan_writable_fd(ch) != fd);
	rm(ch);
}

static void test_no_syscall_unless_asked(void **state)
{
	struct iobuf_chan *ch = mk(8);
	struct iobuf_slice s[8];
	int rfd, wfd;

	(void)state;
	rfd = iobuf_chan_ready_fd(ch);
	wfd = iobuf_chan_writable_fd(ch);
	/* Sends and receives that find what they look for: no system call, fds or not. */
	writes = futex_calls = 0;
	for (int lap = 0; lap < 100; lap++) {
		assert_int_equal(iobuf_chan_send(ch, H(1)), 0);
		assert_int_equal(iobuf_chan_send_slice(ch, S(2)), 0);
		assert_int_equal(iobuf_chan_recv_slice(ch, &s[0]), 0);
		assert_int_equal(iobuf_chan_recv_slice(ch, &s[0]), 0);
	}
	assert_int_equal(writes, 0);
	assert_int_equal(futex_calls, 0);

	/* An empty receive arms the ready fd: the next send writes it once, the one after it not. */
	assert_int_equal(iobuf_chan_recv_slice(ch, &s[0]), -EAGAIN);
	assert_false(fd_readable(rfd));
	assert_int_equal(iobuf_chan_send(ch, H(3)), 0);
	assert_int_equal(writes, 1);
	assert_true(fd_readable(rfd));
	assert_int_equal(fd_read(rfd), 1);
	assert_int_equal(iobuf_chan_send(ch, H(4)), 0);
	assert_int_equal(writes, 1);
	assert_false(fd_readable(rfd));
	/* An empty burst arms it too. */
	assert_int_equal(iobuf_chan_recv_burst(ch, s, 8), 2);
	assert_int_equal(iobuf_chan_recv_burst(ch, s, 8), 0);
	assert_int_equal(iobuf_chan_send(ch, H(5)), 0);
	assert_int_equal(writes, 2);
	assert_int_equal(fd_read(rfd), 1);

	/* A full send arms the writable fd: the next receive writes it once. */
	for (int k = 1; k < 8; k++)
		assert_int_equal(iobuf_chan_send(ch, H((uint64_t)k)), 0);
	assert_int_equal(iobuf_chan_send(ch, H(9)), -EAGAIN);
	assert_false(fd_readable(wfd));
	assert_int_equal(writes, 2);
	assert_int_equal(iobuf_chan_recv_slice(ch, &s[0]), 0);
	assert_int_equal(writes, 3);
	assert_true(fd_readable(wfd));
	assert_int_equal(fd_read(wfd), 1);
	assert_int_equal(iobuf_chan_recv_slice(ch, &s[0]), 0);
	assert_int_equal(writes, 3);
	/* A full burst arms it too. */
	assert_int_equal(iobuf_chan_send_burst(ch, (struct iobuf_slice[]){S(1), S(2), S(3)}, 3), 2);
	assert_int_equal(iobuf_chan_send_burst(ch, (struct iobuf_slice[]){S(3)}, 1), 0);
	assert_int_equal(iobuf_chan_recv_burst(ch, s, 1), 1);
	assert_int_equal(writes, 4);
	assert_int_equal(fd_read(wfd), 1);
	/* No futex call in all of it: nobody slept. */
	assert_int_equal(futex_calls, 0);
	rm(ch);
}

static void test_no_arming_without_fd(void **state)
{
	struct iobuf_chan *ch = mk(1);
	struct iobuf_slice s;

	(void)state;
	writes = 0;
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), -EAGAIN);
	assert_int_equal(iobuf_chan_send(ch, H(1)), 0);
	assert_int_equal(iobuf_chan_send(ch, H(2)), -EAGAIN);
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0);
	assert_int_equal(writes, 0);
	/* An fd made now has not been armed by the calls before it. */
	int rfd = iobuf_chan_ready_fd(ch);
	assert_int_equal(iobuf_chan_send(ch, H(3)), 0);
	assert_false(fd_readable(rfd));
	assert_int_equal(writes, 0);
	rm(ch);
}

/* ---- close ------------------------------------------------------------------------- */

static void test_close(void **state)
{
	struct iobuf_chan *ch = mk(4);
	struct iobuf_slice s[4];
	iobuf_handle_t h;
	int rfd = iobuf_chan_ready_fd(ch), wfd = iobuf_chan_writable_fd(ch);

	(void)state;
	assert_int_equal(iobuf_chan_close(NULL), -EINVAL);
	assert_int_equal(iobuf_chan_send(ch, H(1)), 0);
	assert_int_equal(iobuf_chan_send_slice(ch, S(2)), 0);
	assert_int_equal(iobuf_chan_send(ch, H(3)), 0);
	writes = futex_calls = 0;
	assert_int_equal(iobuf_chan_close(ch), 0);
	/* Both fds readable; a write each and no futex call (nobody sleeps). */
	assert_int_equal(writes, 2);
	assert_int_equal(futex_calls, 0);
	assert_true(fd_readable(rfd));
	assert_true(fd_readable(wfd));
	assert_int_equal(iobuf_chan_close(ch), -EALREADY);
	/* Sends refused in every form; bad input is still -EINVAL. */
	assert_int_equal(iobuf_chan_send(ch, H(4)), -EPIPE);
	assert_int_equal(iobuf_chan_send_slice(ch, S(4)), -EPIPE);
	assert_int_equal(iobuf_chan_send_burst(ch, (struct iobuf_slice[]){S(4)}, 1), -EPIPE);
	assert_int_equal(iobuf_chan_send_wait(ch, S(4), 0), -EPIPE);
	assert_int_equal(iobuf_chan_send_wait(ch, S(4), IOBUF_CHAN_FOREVER), -EPIPE);
	assert_int_equal(iobuf_chan_send(ch, IOBUF_HANDLE_NONE), -EINVAL);
	assert_int_equal(iobuf_chan_count(ch), 3);
	/* Receives drain what is left, in order, in every form, then -EPIPE. */
	assert_int_equal(iobuf_chan_recv(ch, &h), 0);
	assert_true(h == H(1));
	assert_int_equal(iobuf_chan_recv_wait(ch, &s[0], IOBUF_CHAN_FOREVER), 0);
	assert_true(slice_eq(s[0], S(2)));
	assert_int_equal(iobuf_chan_recv_burst(ch, s, 4), 1);
	assert_true(s[0].h == H(3));
	assert_int_equal(iobuf_chan_recv_burst(ch, s, 4), -EPIPE);
	assert_int_equal(iobuf_chan_recv_slice(ch, &s[0]), -EPIPE);
	assert_true(slice_eq(s[0], IOBUF_SLICE_NONE));
	assert_int_equal(iobuf_chan_recv(ch, &h), -EPIPE);
	assert_int_equal(iobuf_chan_recv_wait(ch, &s[0], 0), -EPIPE);
	assert_int_equal(iobuf_chan_recv_wait(ch, &s[0], IOBUF_CHAN_FOREVER), -EPIPE);
	/* Still readable: nobody read them. */
	assert_true(fd_readable(rfd));
	assert_true(fd_readable(wfd));
	assert_int_equal(iobuf_chan_destroy(ch), 0);
}

static void test_close_fd_made_after(void **state)
{
	struct iobuf_chan *ch = mk(4);
	int fd;

	(void)state;
	assert_int_equal(iobuf_chan_close(ch), 0);
	fd = iobuf_chan_ready_fd(ch);
	assert_true(fd >= 0);
	assert_true(fd_readable(fd));
	fd = iobuf_chan_writable_fd(ch);
	assert_true(fd >= 0);
	assert_true(fd_readable(fd));
	rm(ch);
}

/* The step hook's script for the close tests. */
static struct {
	int at;	  /* the step to act at */
	int skip; /* times to let it pass first */
	int hits;
	int rc_recv; /* what a receive inside the step returned */
	bool close;
	bool recv;
} script;

static void script_hook(struct iobuf_chan *ch, int step)
{
	struct iobuf_slice s;

	if (step != script.at || script.skip-- > 0)
		return;
	script.hits++;
	if (script.close)
		assert_int_equal(iobuf_chan_close(ch), 0);
	if (script.recv)
		script.rc_recv = iobuf_chan_recv_slice(ch, &s);
	script.at = 0; /* once */
}

static void run_script(int at, int skip, bool close, bool recv)
{
	memset(&script, 0, sizeof(script));
	script.at = at;
	script.skip = skip;
	script.close = close;
	script.recv = recv;
	iobuf__chan_step_hook = script_hook;
}

/* A send stopped after its marks, a close, and a receive: "not yet" (-EAGAIN), never -EPIPE; the send is refused. */
static void test_close_during_send_refused(void **state)
{
	struct iobuf_chan *ch = mk(4);
	struct iobuf_slice s;
	int rfd = iobuf_chan_ready_fd(ch);

	(void)state;
	assert_int_equal(iobuf_chan_send(ch, H(1)), 0);
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0); /* empty again, the fd not armed */
	run_script(STEP_MARKED, 0, true, true);
	assert_int_equal(iobuf_chan_send(ch, H(2)), -EPIPE);
	iobuf__chan_step_hook = NULL;
	assert_int_equal(script.hits, 1);
	assert_int_equal(script.rc_recv, -EAGAIN);
	/* The refused send gave its entry back: now closed and empty for good. */
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), -EPIPE);
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), -EPIPE);
	assert_int_equal(iobuf_chan_count(ch), 0);
	assert_true(fd_readable(rfd));
	/* Every entry came back to fq: a destroy finds none marked. */
	assert_int_equal(iobuf_chan_destroy(ch), 0);
}

/* A send stopped after it found the channel open: a close and a receive in between say -EAGAIN; the entry lands. */
static void test_close_during_send_lands(void **state)
{
	struct iobuf_chan *ch = mk(4);
	struct iobuf_slice s;
	int rfd = iobuf_chan_ready_fd(ch);

	(void)state;
	run_script(STEP_OPEN, 0, true, true);
	assert_int_equal(iobuf_chan_send(ch, H(5)), 0);
	iobuf__chan_step_hook = NULL;
	assert_int_equal(script.hits, 1);
	assert_int_equal(script.rc_recv, -EAGAIN); /* closed, but a send still on its way */
	assert_true(fd_readable(rfd));
	fd_read(rfd);
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0);
	assert_true(s.h == H(5));
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), -EPIPE);
	assert_int_equal(iobuf_chan_destroy(ch), 0);
}

/* A close between two chunks of a burst ends it with the count of the first. */
static void test_close_during_burst(void **state)
{
	struct iobuf_chan *ch = mk(200);
	struct iobuf_slice in[100], out[100];

	(void)state;
	for (int k = 0; k < 100; k++)
		in[k] = S((uint64_t)k + 1);
	run_script(STEP_MARKED, 1, true, false); /* the second chunk's marks */
	assert_int_equal(iobuf_chan_send_burst(ch, in, 100), 64);
	iobuf__chan_step_hook = NULL;
	assert_int_equal(script.hits, 1);
	assert_int_equal(iobuf_chan_recv_burst(ch, out, 100), 64);
	for (int k = 0; k < 64; k++)
		assert_true(slice_eq(out[k], in[k]));
	assert_int_equal(iobuf_chan_recv_burst(ch, out, 100), -EPIPE);
	assert_int_equal(iobuf_chan_destroy(ch), 0);
}

/* ---- waiting ------------------------------------------------------------------------- */

static void test_wait_errors_and_timeouts(void **state)
{
	struct iobuf_chan *ch = mk(1);
	struct iobuf_slice s = S(1);
	struct timespec t0, t1;
	int64_t ns;

	(void)state;
	assert_int_equal(iobuf_chan_send_wait(NULL, S(1), 0), -EINVAL);
	assert_int_equal(iobuf_chan_send_wait(ch, IOBUF_SLICE_NONE, 0), -EINVAL);
	assert_int_equal(iobuf_chan_send_wait(ch, ((struct iobuf_slice){H(1), UINT32_MAX, 1}), 0), -EINVAL);
	assert_int_equal(iobuf_chan_recv_wait(ch, NULL, 0), -EINVAL);
	assert_int_equal(iobuf_chan_recv_wait(NULL, &s, 0), -EINVAL);
	assert_true(slice_eq(s, IOBUF_SLICE_NONE));
	/* 0 tries once; a short timeout passes (at least that long: a lower bound only). */
	s = S(1);
	assert_int_equal(iobuf_chan_recv_wait(ch, &s, 0), -ETIMEDOUT);
	assert_true(slice_eq(s, IOBUF_SLICE_NONE));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(iobuf_chan_recv_wait(ch, &s, 2000000), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = (t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec);
	assert_true(ns >= 2000000);
	assert_int_equal(iobuf_chan_send_wait(ch, S(1), 0), 0);
	assert_int_equal(iobuf_chan_send_wait(ch, S(2), 0), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(iobuf_chan_send_wait(ch, S(2), 2000000), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = (t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec);
	assert_true(ns >= 2000000);
	/* Nothing changed by the timeouts. */
	assert_int_equal(iobuf_chan_recv_wait(ch, &s, IOBUF_CHAN_FOREVER), 0);
	assert_true(slice_eq(s, S(1)));
	rm(ch);
}

/* A waiter on another thread; the sleep step counts its sleeps.  Its watchdog: 20 s. */
#define WAITER_TIMEOUT_NS (20ll * 1000 * 1000 * 1000)
static struct {
	struct iobuf_chan *ch;
	int sleeps;
	int rc;
	struct iobuf_slice s;
	bool send; /* a waiting send of s, else a waiting receive */
	int done;  /* set when the waiting call returned */
} waiter;

static void sleep_hook(struct iobuf_chan *ch, int step)
{
	(void)ch;
	if (step == STEP_SLEEP)
		__atomic_fetch_add(&waiter.sleeps, 1, __ATOMIC_ACQ_REL);
}

static void *waiter_main(void *arg)
{
	(void)arg;
	int rc;

	/* Not forever: a lost wake-up fails the test (-ETIMEDOUT) instead of hanging it. */
	if (waiter.send)
		rc = iobuf_chan_send_wait(waiter.ch, waiter.s, WAITER_TIMEOUT_NS);
	else
		rc = iobuf_chan_recv_wait(waiter.ch, &waiter.s, WAITER_TIMEOUT_NS);
	__atomic_store_n(&waiter.done, 1, __ATOMIC_RELEASE);
	waiter.rc = rc;
	return NULL;
}

static pthread_t start_waiter(struct iobuf_chan *ch, bool send, struct iobuf_slice s)
{
	pthread_t t;

	memset(&waiter, 0, sizeof(waiter));
	waiter.ch = ch;
	waiter.send = send;
	waiter.s = s;
	iobuf__chan_step_hook = sleep_hook;
	assert_int_equal(pthread_create(&t, NULL, waiter_main, NULL), 0);
	wait_for(&waiter.sleeps, 1); /* past its spins: asleep or about to be */
	return t;
}

static void test_wait_woken(void **state)
{
	struct iobuf_chan *ch = mk(1);
	struct iobuf_slice s;
	pthread_t t;

	(void)state;
	/* A receive asleep: the send wakes it (a futex call), and it gets the slice. */
	t = start_waiter(ch, false, IOBUF_SLICE_NONE);
	futex_wakes = 0;
	assert_int_equal(iobuf_chan_send_slice(ch, S(42)), 0);
	assert_int_equal(futex_wakes, 1);
	pthread_join(t, NULL);
	assert_int_equal(waiter.rc, 0);
	assert_true(slice_eq(waiter.s, S(42)));
	/* A send asleep on a full channel: the receive wakes it, and its slice goes in. */
	assert_int_equal(iobuf_chan_send(ch, H(1)), 0);
	t = start_waiter(ch, true, S(43));
	futex_wakes = 0;
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0);
	assert_int_equal(futex_wakes, 1);
	assert_true(s.h == H(1));
	pthread_join(t, NULL);
	assert_int_equal(waiter.rc, 0);
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0);
	assert_true(slice_eq(s, S(43)));
	iobuf__chan_step_hook = NULL;
	rm(ch);
}

static void test_wait_close_wakes(void **state)
{
	struct iobuf_chan *ch = mk(1);
	struct iobuf_slice s;
	pthread_t t;

	(void)state;
	t = start_waiter(ch, false, IOBUF_SLICE_NONE);
	futex_wakes = 0;
	assert_int_equal(iobuf_chan_close(ch), 0);
	assert_int_equal(futex_wakes, 1); /* the receivers' word only: no send sleeps */
	pthread_join(t, NULL);
	assert_int_equal(waiter.rc, -EPIPE);
	assert_true(slice_eq(waiter.s, IOBUF_SLICE_NONE));
	iobuf__chan_step_hook = NULL;
	rm(ch);

	ch = mk(1);
	assert_int_equal(iobuf_chan_send(ch, H(1)), 0);
	t = start_waiter(ch, true, S(2));
	futex_wakes = 0;
	assert_int_equal(iobuf_chan_close(ch), 0);
	assert_int_equal(futex_wakes, 1);
	pthread_join(t, NULL);
	assert_int_equal(waiter.rc, -EPIPE);
	iobuf__chan_step_hook = NULL;
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0); /* what was in before the close */
	assert_true(s.h == H(1));
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), -EPIPE);
	assert_int_equal(iobuf_chan_destroy(ch), 0);
}

/*
 * A waiting receive, a send stopped at @step, a close: the receive is woken
 * by the close, finds the send's mark and sleeps again.  A send stopped
 * after it found the channel open then lands and wakes it with the slice;
 * one stopped before it looked at the state is refused and wakes it too,
 * to -EPIPE.
 */
static int inflight_step, inflight_sleeps_seen, inflight_wakes;

static void inflight_hook(struct iobuf_chan *ch, int step)
{
	if (step == STEP_SLEEP) {
		__atomic_fetch_add(&waiter.sleeps, 1, __ATOMIC_ACQ_REL);
		return;
	}
	if (step != inflight_step)
		return;
	assert_int_equal(iobuf_chan_close(ch), 0);
	/* The close woke it; it goes back to sleep on our mark. */
	wait_for(&waiter.sleeps, inflight_sleeps_seen + 1);
	assert_int_equal(__atomic_load_n(&waiter.done, __ATOMIC_ACQUIRE), 0); /* not returned */
	inflight_wakes = __atomic_load_n(&futex_wakes, __ATOMIC_ACQUIRE);
}

static void close_inflight(int step)
{
	struct iobuf_chan *ch = mk(2);
	struct iobuf_slice s;
	pthread_t t;

	t = start_waiter(ch, false, IOBUF_SLICE_NONE);
	inflight_sleeps_seen = __atomic_load_n(&waiter.sleeps, __ATOMIC_ACQUIRE);
	inflight_step = step;
	iobuf__chan_step_hook = inflight_hook;
	assert_int_equal(iobuf_chan_send_slice(ch, S(77)), step == STEP_OPEN ? 0 : -EPIPE);
	/* The send, landed or refused, woke the sleeper itself (not its watchdog). */
	assert_true(__atomic_load_n(&futex_wakes, __ATOMIC_ACQUIRE) > inflight_wakes);
	pthread_join(t, NULL);
	iobuf__chan_step_hook = NULL;
	if (step == STEP_OPEN) {
		assert_int_equal(waiter.rc, 0);
		assert_true(slice_eq(waiter.s, S(77)));
	} else {
		assert_int_equal(waiter.rc, -EPIPE);
	}
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), -EPIPE);
	assert_int_equal(iobuf_chan_recv_wait(ch, &s, IOBUF_CHAN_FOREVER), -EPIPE);
	assert_int_equal(iobuf_chan_destroy(ch), 0);
}

static void test_wait_close_inflight_lands(void **state)
{
	(void)state;
	close_inflight(STEP_OPEN);
}

static void test_wait_close_inflight_refused(void **state)
{
	(void)state;
	close_inflight(STEP_MARKED);
}

/*
 * A receive stopped after it took the last entry from aq of a closed
 * channel, before it cleared the entry's mark: another receive sees the
 * mark and says -EAGAIN (arming its fd); the first one, as it finishes,
 * must write that fd, for no send will.
 */
static int taken_rc;

static void taken_hook(struct iobuf_chan *ch, int step)
{
	struct iobuf_slice s;

	if (step != STEP_TAKEN)
		return;
	iobuf__chan_step_hook = NULL; /* once: the inner receive runs unhooked */
	taken_rc = iobuf_chan_recv_slice(ch, &s);
}

static void test_close_during_recv_fd(void **state)
{
	struct iobuf_chan *ch = mk(4);
	struct iobuf_slice s;
	int rfd = iobuf_chan_ready_fd(ch);

	(void)state;
	assert_int_equal(iobuf_chan_send(ch, H(1)), 0);
	assert_int_equal(iobuf_chan_close(ch), 0);
	fd_read(rfd); /* the close's write, taken by the loop */
	iobuf__chan_step_hook = taken_hook;
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0);
	iobuf__chan_step_hook = NULL;
	assert_true(s.h == H(1));
	assert_int_equal(taken_rc, -EAGAIN); /* the mark of a receive in flight: not yet */
	assert_true(fd_readable(rfd));	      /* and the receive, done, said so */
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), -EPIPE);
	assert_int_equal(iobuf_chan_destroy(ch), 0);
}

/*
 * The same with a waiting receive, started while the first receive holds
 * the entry: it finds the mark and sleeps on it; the first receive, as it
 * finishes, wakes it, to -EPIPE.
 */
static int taken_wakes;
static pthread_t taken_waiter;

static void taken_wait_hook(struct iobuf_chan *ch, int step)
{
	if (step == STEP_SLEEP) {
		__atomic_fetch_add(&waiter.sleeps, 1, __ATOMIC_ACQ_REL);
		return;
	}
	if (step != STEP_TAKEN)
		return;
	assert_int_equal(iobuf_chan_close(ch), 0);
	assert_int_equal(pthread_create(&taken_waiter, NULL, waiter_main, NULL), 0);
	wait_for(&waiter.sleeps, 1); /* asleep on our mark */
	assert_int_equal(__atomic_load_n(&waiter.done, __ATOMIC_ACQUIRE), 0);
	taken_wakes = __atomic_load_n(&futex_wakes, __ATOMIC_ACQUIRE);
}

static void test_close_during_recv_wait(void **state)
{
	struct iobuf_chan *ch = mk(4);
	struct iobuf_slice s;

	(void)state;
	memset(&waiter, 0, sizeof(waiter));
	waiter.ch = ch;
	assert_int_equal(iobuf_chan_send(ch, H(5)), 0);
	iobuf__chan_step_hook = taken_wait_hook;
	assert_int_equal(iobuf_chan_recv_slice(ch, &s), 0);
	assert_true(s.h == H(5));
	/* Our receive, done, woke the sleeper itself (not its watchdog). */
	assert_true(__atomic_load_n(&futex_wakes, __ATOMIC_ACQUIRE) > taken_wakes);
	pthread_join(taken_waiter, NULL);
	iobuf__chan_step_hook = NULL;
	assert_int_equal(waiter.rc, -EPIPE);
	assert_int_equal(iobuf_chan_destroy(ch), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_create_enomem),
		cmocka_unit_test(test_destroy_busy),
		cmocka_unit_test(test_send_recv_forms),
		cmocka_unit_test(test_send_errors),
		cmocka_unit_test(test_recv_errors),
		cmocka_unit_test(test_count_capacity),
		cmocka_unit_test(test_burst_errors),
		cmocka_unit_test(test_burst_partial),
		cmocka_unit_test(test_fifo_model),
		cmocka_unit_test(test_fd_errors),
		cmocka_unit_test(test_no_syscall_unless_asked),
		cmocka_unit_test(test_no_arming_without_fd),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_close_fd_made_after),
		cmocka_unit_test(test_close_during_send_refused),
		cmocka_unit_test(test_close_during_send_lands),
		cmocka_unit_test(test_close_during_burst),
		cmocka_unit_test(test_close_during_recv_fd),
		cmocka_unit_test(test_close_during_recv_wait),
		cmocka_unit_test(test_wait_errors_and_timeouts),
		cmocka_unit_test(test_wait_woken),
		cmocka_unit_test(test_wait_close_wakes),
		cmocka_unit_test(test_wait_close_inflight_lands),
		cmocka_unit_test(test_wait_close_inflight_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
