/* SPDX-License-Identifier: MIT */
/*
 * iobuf/reserve.h - reserve and commit: many writers, one ordered stream
 * of sealed groups, written in place.
 *
 * A stream is a sequence of groups, each one buffer of a set's tier
 * (group_size bytes).  A writer on any thread reserves @len bytes
 * (iobuf_stream_reserve()): one fetch-and-add on the open group's tail
 * gives it a range of that group's buffer and an absolute offset in the
 * stream (group number * group_size + offset in the group).  It writes
 * its bytes in place, whole or in chunks, then commits (or aborts).
 * Nothing is copied between the writer and the consumer.
 *
 * Groups.  A group is sealed when a reservation does not fit in what is
 * left of it (its bytes or its max_records), on iobuf_stream_flush(),
 * max_delay_ns after its first reservation, and by finalize.  The
 * reservation that did not fit goes to the next group (it spills: a
 * reservation is never cut across groups; one larger than group_size is
 * refused with -EMSGSIZE).  A sealed group whose reservations are all
 * committed or failed is dispatched, in stream order, exactly once: as a
 * struct iobuf_group, a slice over the group's bytes and the list of its
 * records, each committed or failed with the reason.
 *
 * Failures.  An abort fails a reservation.  So does its age: a reservation
 * still open timeout_ns after it was made is failed by the consumer's next
 * poll, so a writer that stalls does not stop the stream; its late commit
 * is refused with -ETIMEDOUT.  finalize fails every open reservation
 * (late commits: -EPIPE).  The bytes of a failed record are undefined:
 * a consumer reads only the committed ranges.
 *
 * In-place writes.  iobuf_reservation.data points into the group's
 * buffer and is valid while the reservation is open.  A writer that may
 * outlive the reservation's timeout (or a finalize) writes through
 * iobuf_reservation_write(), which refuses once the reservation failed:
 * a direct write after the failure may land in a buffer that was
 * dispatched or given back to its pool.
 *
 * Lost reservations.  When the consumer lags so far that every group slot
 * holds an undispatched group (or the set has no buffer for a new group),
 * a reservation is refused with -ENOBUFS and counted in
 * iobuf_stream_stats.lost.
 *
 * Consumers.  iobuf_stream_poll() (-EAGAIN: nothing ready),
 * iobuf_stream_wait() (a futex; woken by the writer whose seal or commit
 * makes a group ready) and iobuf_stream_ready_fd() (an eventfd, written
 * only after a poll found nothing).  One consumer call runs at a time
 * (they serialize on a mutex).  Timeouts and max_delay_ns are acted on by
 * the consumer's calls: an event loop on the fd also polls at least that
 * often.  The library starts no thread.
 *
 * Synchronization:
 *
 *   call                                 | may run at the same time as
 *   -------------------------------------+-----------------------------------
 *   reserve, flush, commit, abort, write | each other and every consumer call,
 *   (each reservation on one thread at   | from any number of threads
 *   a time), stats                       |
 *   poll, wait, ready_fd, finalize       | everything (they serialize)
 *   create                               | nothing on the stream (it is new)
 *   destroy                              | nothing on the same stream
 *
 * Memory ordering: a commit releases the writer's bytes, and the poll that
 * dispatches the group acquires them.  The edges (reserve R1 .. R5) are
 * listed in doc/design.md.
 *
 * Progress: reserve, flush, commit and abort are lock-free; write is a
 * compare-and-swap, a copy and a store; the consumer calls take a mutex.
 */
#ifndef IOBUF_RESERVE_H
#define IOBUF_RESERVE_H

#include <stddef.h>
#include <stdint.h>

#include <iobuf/common.h>
#include <iobuf/slice.h>

IOBUF_BEGIN_DECLS

struct iobuf_set;
struct iobuf_stream;

/* The most group slots and records per group. */
#define IOBUF_STREAM_MAX_GROUPS 1024u
#define IOBUF_STREAM_MAX_RECORDS 32768u

struct iobuf_stream_config {
	struct iobuf_set *set; /* the groups' buffers come from its tier of group_size */
	uint32_t group_size;   /* a tier size, 16 .. IOBUF_MAX_SIZE bytes */
	uint32_t groups;       /* group slots, a power of two (0: 8) */
	uint32_t max_records;  /* reservations per group (0: 1024) */
	uint32_t flags;        /* none is defined yet: 0 */
	uint64_t timeout_ns;   /* an open reservation older than this fails (0: never) */
	uint64_t max_delay_ns; /* a group is sealed this long after its first reservation (0: never) */
};

/* A reservation: a range of one group's buffer, made by iobuf_stream_reserve(). */
struct iobuf_reservation {
	struct iobuf_stream *stream;
	void *data;	 /* the first byte, in place in the group's buffer */
	uint64_t offset; /* absolute offset in the stream: group * group_size + offset in the group */
	uint64_t group;	 /* the group's number */
	uint32_t len;	 /* bytes */
	uint32_t rec;	 /* the record's index in its group */
};

/* How a record of a dispatched group ended. */
enum iobuf_record_state {
	IOBUF_RECORD_COMMITTED = 1,
	IOBUF_RECORD_ABORTED = 2,
	IOBUF_RECORD_TIMEDOUT = 3,
	IOBUF_RECORD_FINALIZED = 4,
};

struct iobuf_record {
	uint64_t offset; /* absolute offset in the stream */
	uint32_t len;	 /* bytes */
	uint32_t state;	 /* enum iobuf_record_state */
};

/* A dispatched group. */
struct iobuf_group {
	uint64_t seq;			 /* its number: groups are dispatched 0, 1, 2, ... (empty ones skipped) */
	uint64_t offset;		 /* absolute offset of its first byte: seq * group_size */
	struct iobuf_slice slice;	 /* {h, 0, bytes}: the consumer holds it and puts it */
	uint32_t nrec;			 /* records, in stream order */
	uint32_t nfailed;		 /* of which failed */
	const struct iobuf_record *rec;	 /* nrec records; valid until the next consumer call */
};

struct iobuf_stream_stats {
	uint64_t groups;    /* groups dispatched (empty ones are not) */
	uint64_t bytes;     /* committed bytes dispatched */
	uint64_t committed; /* committed records dispatched */
	uint64_t failed;    /* failed records dispatched */
	uint64_t lost;      /* reservations refused with -ENOBUFS */
	uint64_t current;   /* the group reservations go to now */
};

/*
 * iobuf_stream_create - a stream over @cfg->set's buffers of group_size.
 *
 * Takes groups buffers from the set at once.  Returns the stream, or NULL
 * with *@err = -EINVAL (bad config), -ENOBUFS (the set has fewer than
 * groups free buffers of that tier), -ENOMEM; *@err = 0 on success.
 */
IOBUF_API struct iobuf_stream *iobuf_stream_create(const struct iobuf_stream_config *cfg, int *err);

/*
 * iobuf_stream_destroy - free a finalized, drained stream.
 *
 * Returns 0 (and every buffer the stream held is back in its pool);
 * -EBUSY when the stream was not finalized or a poll has not yet returned
 * -EPIPE (nothing freed).  NULL: 0.
 */
IOBUF_API int iobuf_stream_destroy(struct iobuf_stream *s);

/*
 * iobuf_stream_reserve - reserve @len bytes in the open group.
 *
 * Fills *@r.  Returns 0; -EINVAL (NULL, @len 0); -EMSGSIZE (@len >
 * group_size); -ENOBUFS (no group has room: the consumer lags, or the set
 * is empty; counted as lost); -EPIPE (finalized).  Lock-free.
 */
IOBUF_API int iobuf_stream_reserve(struct iobuf_stream *s, size_t len, struct iobuf_reservation *r);

/*
 * iobuf_reservation_write - copy @n bytes from @src to @off of the reservation.
 *
 * Returns 0; -EINVAL (NULL); -ERANGE (@off + @n beyond its length);
 * -EALREADY (committed or aborted); -ETIMEDOUT (failed by its timeout);
 * -EPIPE (failed by finalize).  Nothing is written on a refusal.
 */
IOBUF_API int iobuf_reservation_write(struct iobuf_reservation *r, size_t off, const void *src, size_t n);

/*
 * iobuf_reservation_commit, iobuf_reservation_abort - end a reservation.
 *
 * Returns 0; -EINVAL (NULL); -EALREADY (committed or aborted before);
 * -ETIMEDOUT (failed by its timeout); -EPIPE (failed by finalize; also
 * for one failed by its timeout whose group was dispatched before a
 * finalize: the reason is gone with the group).  Release: the bytes
 * written before reach the consumer.  Lock-free.
 */
IOBUF_API int iobuf_reservation_commit(struct iobuf_reservation *r);
IOBUF_API int iobuf_reservation_abort(struct iobuf_reservation *r);

/*
 * iobuf_stream_flush - seal the open group now (nothing when it is empty).
 *
 * Returns 0; -EINVAL (NULL).  Lock-free.
 */
IOBUF_API int iobuf_stream_flush(struct iobuf_stream *s);

/*
 * iobuf_stream_poll - the next group, when it is ready.
 *
 * Fills *@g.  Returns 0; -EAGAIN (none ready); -EPIPE (finalized and every
 * group dispatched); -EINVAL (NULL).  Also fails the reservations past
 * their timeout and seals a group past max_delay_ns.
 */
IOBUF_API int iobuf_stream_poll(struct iobuf_stream *s, struct iobuf_group *g);

/*
 * iobuf_stream_wait - iobuf_stream_poll(), waiting up to @timeout_ns (< 0: no limit).
 *
 * Returns as iobuf_stream_poll(), with -ETIMEDOUT for -EAGAIN.
 */
IOBUF_API int iobuf_stream_wait(struct iobuf_stream *s, struct iobuf_group *g, int64_t timeout_ns);

/*
 * iobuf_stream_ready_fd - an eventfd readable when a group may be ready.
 *
 * Made on the first call; written by the first seal or commit after a
 * poll returned -EAGAIN, and by finalize.  Returns the fd (the stream
 * closes it), -EINVAL, or the error of eventfd(2).
 */
IOBUF_API int iobuf_stream_ready_fd(struct iobuf_stream *s);

/*
 * iobuf_stream_finalize - refuse new reservations, fail the open ones, seal the last group.
 *
 * The consumer then polls until -EPIPE; iobuf_stream_stats() is then the
 * final report.  Returns 0; -EINVAL (NULL); -EALREADY (finalized before).
 */
IOBUF_API int iobuf_stream_finalize(struct iobuf_stream *s);

/*
 * iobuf_stream_stats - the stream's counts.  Returns 0, or -EINVAL for NULL.
 */
IOBUF_API int iobuf_stream_stats(struct iobuf_stream *s, struct iobuf_stream_stats *st);

IOBUF_END_DECLS

#endif /* IOBUF_RESERVE_H */
