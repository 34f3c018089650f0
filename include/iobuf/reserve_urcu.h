/* SPDX-License-Identifier: MIT */
/*
 * iobuf/reserve_urcu.h - a stream's groups delivered onto a liburcu
 * wait-free concurrent queue (<urcu/wfcqueue.h>).
 *
 * The only iobuf header that includes a liburcu header: iobuf.h does not
 * include it, so a program without liburcu's headers still includes
 * iobuf.h.  A program that includes it compiles with liburcu-cds's flags
 * and links liburcu-cds itself for its own dequeues
 * (pkg-config --cflags --libs liburcu-cds).
 *
 * iobuf_stream_pump() polls every ready group of a stream into a node of
 * its own (malloc'd, a copy of the group's records beside it) and
 * enqueues it with cds_wfcq_enqueue(), in stream order.  The caller runs
 * the pump, on any thread, as often as it would poll (the library starts
 * no thread); a consumer thread dequeues the nodes
 * (__cds_wfcq_dequeue_blocking() and the like), puts each group's slice
 * and frees the node with iobuf_group_node_free().
 *
 * The queue orders the node's bytes from the pump to the consumer.
 * ThreadSanitizer does not see liburcu's barriers: in a build under it,
 * the pump says what each enqueue releases (__tsan_release(node)), and a
 * consumer says what its dequeue acquired, __tsan_acquire(node), before
 * reading the node (tests/unit/test_reserve_urcu.c does).
 */
#ifndef IOBUF_RESERVE_URCU_H
#define IOBUF_RESERVE_URCU_H

#include <urcu/wfcqueue.h>

#include <iobuf/common.h>
#include <iobuf/reserve.h>

IOBUF_BEGIN_DECLS

/* One dispatched group on a queue. */
struct iobuf_group_node {
	struct cds_wfcq_node node; /* the queue's link: caa_container_of(n, struct iobuf_group_node, node) */
	struct iobuf_group g;	   /* g.rec points into the node: valid until iobuf_group_node_free() */
};

/*
 * iobuf_stream_pump - enqueue every ready group of @s on the queue @head, @tail.
 *
 * A consumer call (as iobuf_stream_poll(), whose housekeeping it does).
 * Returns the number of groups enqueued (0: none ready); -EINVAL (NULL);
 * -EPIPE (finalized and every group dispatched, nothing enqueued);
 * -ENOMEM (no node, and nothing enqueued by this call: no group is taken
 * from the stream without a node for it).
 */
IOBUF_API int iobuf_stream_pump(struct iobuf_stream *s, struct cds_wfcq_head *head, struct cds_wfcq_tail *tail);

/*
 * iobuf_group_node_free - free a node that iobuf_stream_pump() made.
 *
 * Frees the node and its records only: the group's slice is the
 * consumer's, to put before or after.  NULL: nothing.
 */
IOBUF_API void iobuf_group_node_free(struct iobuf_group_node *n);

IOBUF_END_DECLS

#endif /* IOBUF_RESERVE_URCU_H */
