/* SPDX-License-Identifier: MIT */
/*
 * echo_uring.h - the echo server's loop on io_uring (examples/echo_uring.c).
 */
#ifndef IOBUF_EXAMPLES_ECHO_URING_H
#define IOBUF_EXAMPLES_ECHO_URING_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <iobuf/tiers.h>

struct echo_uring_stats {
	uint64_t accepted;   /* connections accepted */
	uint64_t bytes_in;   /* bytes received into provided buffers */
	uint64_t bytes_out;  /* bytes echoed */
	uint64_t enobufs;    /* receives the kernel ended because the ring was empty */
	uint64_t stalls;     /* re-arms deferred because the tier was empty (waited on the readiness fd) */
	uint64_t rearms;     /* multishot receives armed again */
	int registered;      /* 1 when the sends came from registered memory (write_fixed), 0 when unregistered */
};

struct echo_uring_opts {
	int tier;            /* the tier receives use; < 0: IOBUF_TIER_MEDIUM */
	unsigned entries;    /* provided-buffer ring entries, a power of two (0: up to 256, at most the tier's capacity) */
	unsigned max_conns;  /* connections at once (0: 1024); more are closed at accept */
	const atomic_int *stop; /* the caller sets it (a SIGTERM handler may): serve closes everything and returns */
	FILE *log;           /* the registration report and the features (NULL: quiet) */
	struct echo_uring_stats *stats; /* filled at return when not NULL */
};

/*
 * echo_uring_serve - echo every byte of every connection accepted on @listen_fd until *o->stop.
 *
 * Multishot accept and multishot receives with buffers the kernel picks
 * from a provided-buffer ring fed from @set's tier (iobuf/uring.h); each
 * buffer is written back with write_fixed from the set's registered arenas
 * (plain writes when RLIMIT_MEMLOCK refuses the registration), in order,
 * and put the moment its last byte is written.  At return every buffer is
 * back in @set.  Returns 0, or a negative errno (-ENOSYS: built without
 * liburing; -EINVAL: bad arguments or a tier @set lacks; io_uring's own
 * errors).
 */
int echo_uring_serve(int listen_fd, struct iobuf_set *set, const struct echo_uring_opts *o);

#endif /* IOBUF_EXAMPLES_ECHO_URING_H */
