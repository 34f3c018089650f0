/* SPDX-License-Identifier: MIT */
/*
 * echo_uring.h - the echo server's loop on io_uring (examples/echo_uring.c).
 */
#ifndef IOBUF_EXAMPLES_ECHO_URING_H
#define IOBUF_EXAMPLES_ECHO_URING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <iobuf/tiers.h>

/* Where the receive buffers come from. */
enum echo_uring_bufs {
	/* A provided-buffer ring fed from a tier of the set (iobuf/uring.h); writes from the registered arena. */
	ECHO_URING_POOL = 0,
	/*
	 * The baseline, as liburing's examples do it: one malloc'd region of
	 * buffers, a provided-buffer ring of as many entries, each buffer
	 * added back (io_uring_buf_ring_add) the moment its echo is written;
	 * plain writes.  No set.
	 */
	ECHO_URING_MALLOC,
};

struct echo_uring_stats {
	uint64_t accepted;	/* connections accepted */
	uint64_t bytes_in;	/* bytes received into provided buffers */
	uint64_t bytes_out;	/* bytes echoed */
	uint64_t enobufs;	/* receives the kernel ended because the ring was empty */
	uint64_t stalls;	/* re-arms deferred because no buffer was left (the tier, or the group, empty) */
	uint64_t rearms;	/* multishot receives armed again */
	uint64_t paused;	/* receives cancelled at a connection's bound (--conn-buffers) */
	uint64_t closed_stuck;	/* connections closed on the write timeout */
	uint64_t closed_idle;	/* connections closed on the idle timeout */
	uint64_t zc_sends;	/* zero-copy sends completed (with --zc) */
	uint64_t zc_notifs;	/* their notifications: each put a buffer back */
	uint32_t group_buffers; /* ECHO_URING_MALLOC: buffers of the group */
	uint32_t group_back;	/* ECHO_URING_MALLOC: buffers in its ring at return (all of them: none lost) */
	int registered;		/* 1 when the sends came from registered memory, 0 otherwise */
};

/*
 * What the loop stores as it runs, for a watcher on another thread (a
 * SIGUSR1 snapshot, a test waiting for a state): relaxed atomics, a gauge
 * that orders nothing.
 */
struct echo_uring_live {
	atomic_uint open;	 /* connections open */
	atomic_ullong bytes_out; /* bytes echoed */
	atomic_ullong stalls;	 /* as echo_uring_stats.stalls */
	atomic_ullong paused;	 /* as echo_uring_stats.paused */
};

struct echo_uring_opts {
	enum echo_uring_bufs bufs;
	int tier;		/* ECHO_URING_POOL: the tier receives use; < 0: IOBUF_TIER_MEDIUM */
	unsigned entries;	/* POOL: ring entries, a power of two (0: up to 256, at most the tier's capacity) */
	unsigned nbufs;		/* MALLOC: buffers in the group, a power of two, 1..32768 */
	size_t buf_size;	/* MALLOC: bytes per buffer, 1..1 MiB */
	bool zc;		/* POOL: send with zero copy (iobuf_uring_fixed_send_zc) instead of write_fixed */
	unsigned max_conns;	/* connections at once (0: 1024, at most 1 << 24); more are closed at accept */
	unsigned conn_buffers;	/* most buffers a connection holds before its receive is paused (0: no bound) */
	long write_ms;		/* close a connection whose queued output does not move for this long (0: never) */
	long idle_ms;		/* close a connection with nothing queued that is silent this long (0: never) */
	const atomic_int *stop; /* the caller sets it (a SIGTERM handler may): serve closes everything and returns */
	FILE *log;		/* the registration report and the features (NULL: quiet) */
	struct echo_uring_stats *stats; /* filled at return when not NULL */
	struct echo_uring_live *live;	/* kept up to date while serving when not NULL */
};

/*
 * echo_uring_serve - echo every byte of every connection accepted on @listen_fd until *o->stop.
 *
 * Multishot accept and multishot receives with buffers the kernel picks
 * from a provided-buffer ring: fed from @set's tier (ECHO_URING_POOL), or
 * one malloc'd group recycled by hand (ECHO_URING_MALLOC, @set NULL).  Each
 * connection's buffers are written back in order, one write in flight at a
 * time (write_fixed from the set's registered arenas, plain writes when
 * RLIMIT_MEMLOCK refuses the registration or with the malloc'd group, or
 * zero-copy sends with o->zc), and each is put the moment its last byte is
 * written (with o->zc, the loop puts its holder as the send goes out, and
 * the send's own holder goes at the kernel's notification; until then the
 * buffer counts in the connection's bound).  A connection that holds o->conn_buffers buffers has its receive
 * cancelled until half of them are written: its bytes wait in the kernel,
 * TCP's flow control tells the peer.  At return every buffer is back (in
 * @set, or in the group's ring).  The caller ignores SIGPIPE: a write to a
 * peer that has gone raises it (write_fixed takes no MSG_NOSIGNAL).
 * Returns 0, or a negative errno (-ENOSYS:
 * built without liburing; -EINVAL: bad arguments or a tier @set lacks;
 * -EOPNOTSUPP: the kernel lacks what the mode needs; io_uring's own
 * errors).
 */
int echo_uring_serve(int listen_fd, struct iobuf_set *set, const struct echo_uring_opts *o);

#endif /* IOBUF_EXAMPLES_ECHO_URING_H */
