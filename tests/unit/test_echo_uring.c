/* SPDX-License-Identifier: MIT */
/*
 * test_echo_uring.c - examples/echo_uring.c against clients on 127.0.0.1:
 * every byte of every connection echoed in order, and every buffer back in
 * the set when the server returns.  A tier of 64 buffers for 8 connections
 * makes the provided-buffer ring run dry, so the server's recovery is on
 * the path.  Bounded: 8 connections of 1 MiB each, and a watchdog (alarm)
 * that ends a hung run.  Skipped ("1..0 # SKIP") where io_uring cannot run.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <iobuf/tiers.h>
#include <iobuf/uring.h>

#include "../../examples/echo_uring.h"

#define CONNS 8
#define PER_CONN (1u << 20)
#define WATCHDOG_S 120

static uint8_t pattern(unsigned conn, uint64_t i)
{
	return (uint8_t)(i * 151u + (i >> 11) + conn * 29u + 3u);
}

struct client {
	pthread_t th;
	unsigned id;
	int port;
	int err;         /* 0, or the errno / -1 for a wrong byte */
	uint64_t echoed;
};

/* Send PER_CONN bytes and read them back at once (non-blocking, poll), checking each. */
static void *client_main(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
	uint8_t out[16384], in[16384];
	uint64_t sent = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool shut = false;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		c->err = errno;
		return NULL;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN | (sent < PER_CONN ? POLLOUT : 0)};
		ssize_t k;

		if (poll(&p, 1, WATCHDOG_S * 1000) != 1) {
			c->err = ETIMEDOUT;
			break;
		}
		if ((p.revents & POLLOUT) && sent < PER_CONN) {
			size_t n = PER_CONN - sent < sizeof(out) ? (size_t)(PER_CONN - sent) : sizeof(out);

			for (size_t i = 0; i < n; i++)
				out[i] = pattern(c->id, sent + i);
			k = send(fd, out, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (k < 0 && errno != EAGAIN) {
				c->err = errno;
				break;
			}
			if (k > 0)
				sent += (uint64_t)k;
		}
		if (sent == PER_CONN && !shut) {
			shutdown(fd, SHUT_WR); /* the server then sees the end of stream */
			shut = true;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			k = recv(fd, in, sizeof(in), MSG_DONTWAIT);
			if (k == 0)
				break; /* the server closed: all echoed? checked below */
			if (k < 0 && errno != EAGAIN) {
				c->err = errno;
				break;
			}
			for (ssize_t i = 0; i < k; i++)
				if (in[i] != pattern(c->id, c->echoed + (uint64_t)i)) {
					c->err = -1;
					break;
				}
			if (c->err)
				break;
			if (k > 0)
				c->echoed += (uint64_t)k;
		}
	}
	close(fd);
	return NULL;
}

struct server_run {
	pthread_t th;
	int lfd;
	struct iobuf_set *set;
	struct echo_uring_opts o;
	struct echo_uring_stats st;
	atomic_int stop;
	int rc;
};

static void *server_main(void *arg)
{
	struct server_run *r = arg;

	r->rc = echo_uring_serve(r->lfd, r->set, &r->o);
	return NULL;
}

static void test_echo(void **state)
{
	struct iobuf_set_config sc;
	struct iobuf_set_stats ss;
	struct server_run r;
	struct client cl[CONNS];
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int err = 0, one = 1;

	(void)state;
	memset(&sc, 0, sizeof(sc));
	sc.capacity[IOBUF_TIER_MEDIUM] = 64;
	memset(&r, 0, sizeof(r));
	r.set = iobuf_set_create(&sc, &err);
	assert_non_null(r.set);
	r.lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(r.lfd >= 0);
	setsockopt(r.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(r.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(r.lfd, 64), 0);
	assert_int_equal(getsockname(r.lfd, (struct sockaddr *)&a, &alen), 0);
	r.o.tier = IOBUF_TIER_MEDIUM;
	r.o.entries = 32;
	r.o.max_conns = 16;
	r.o.stop = &r.stop;
	r.o.stats = &r.st;
	assert_int_equal(pthread_create(&r.th, NULL, server_main, &r), 0);
	for (unsigned i = 0; i < CONNS; i++) {
		memset(&cl[i], 0, sizeof(cl[i]));
		cl[i].id = i;
		cl[i].port = ntohs(a.sin_port);
		assert_int_equal(pthread_create(&cl[i].th, NULL, client_main, &cl[i]), 0);
	}
	for (unsigned i = 0; i < CONNS; i++) {
		assert_int_equal(pthread_join(cl[i].th, NULL), 0);
		if (cl[i].err)
			fail_msg("connection %u: %s after %llu bytes", i,
				 cl[i].err < 0 ? "a wrong byte" : strerror(cl[i].err), (unsigned long long)cl[i].echoed);
		assert_int_equal(cl[i].echoed, PER_CONN);
	}
	atomic_store(&r.stop, 1);
	assert_int_equal(pthread_join(r.th, NULL), 0);
	assert_int_equal(r.rc, 0);
	print_message("# accepted %llu, in %llu, out %llu, -ENOBUFS %llu, stalls %llu, re-arms %llu, %s\n",
		      (unsigned long long)r.st.accepted, (unsigned long long)r.st.bytes_in,
		      (unsigned long long)r.st.bytes_out, (unsigned long long)r.st.enobufs,
		      (unsigned long long)r.st.stalls, (unsigned long long)r.st.rearms,
		      r.st.registered ? "write_fixed" : "unregistered writes");
	assert_int_equal(r.st.accepted, CONNS);
	assert_int_equal(r.st.bytes_in, (uint64_t)CONNS * PER_CONN);
	assert_int_equal(r.st.bytes_out, (uint64_t)CONNS * PER_CONN);
	assert_int_equal(iobuf_set_stats(r.set, &ss), 0);
	assert_int_equal(ss.tier[IOBUF_TIER_MEDIUM].in_use, 0);
	assert_int_equal(ss.tier[IOBUF_TIER_MEDIUM].cached, 0);
	assert_int_equal(ss.tier[IOBUF_TIER_MEDIUM].free, 64);
	close(r.lfd);
	iobuf_set_destroy(r.set);
}

int main(void)
{
	const struct CMUnitTest all[] = {
		cmocka_unit_test(test_echo),
	};
	struct iobuf_uring_features f;
	int rc = iobuf_uring_probe(&f);
	const char *out = getenv("CMOCKA_MESSAGE_OUTPUT");
	int skip = out && strcmp(out, "TAP") == 0 ? 0 : 77;

	if (getenv("IOBUF_UNDER_VALGRIND")) {
		printf("1..0 # SKIP valgrind does not see the kernel's writes through io_uring\n");
		return skip;
	}
	if (rc < 0) {
		printf("1..0 # SKIP io_uring: %s (built without liburing, no io_uring here, or a sandbox)\n",
		       strerror(-rc));
		return skip;
	}
	if (!f.buf_ring || !f.recv_multishot) {
		printf("1..0 # SKIP the kernel lacks provided-buffer rings or multishot receive\n");
		return skip;
	}
	alarm(WATCHDOG_S);
	return cmocka_run_group_tests(all, NULL, NULL);
}
