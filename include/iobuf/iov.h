/* SPDX-License-Identifier: MIT */
/*
 * iobuf/iov.h - struct iovec arrays for readv(2) and writev(2).
 *
 * Helpers that every vectored-I/O server writes, written once: the total of
 * an array, advancing it after a short transfer, merging adjacent segments,
 * and readv/writev/sendmsg loops that chunk at IOV_MAX, retry on EINTR,
 * and stop with the progress made and the reason (EAGAIN or an error) so
 * that a non-blocking caller resumes where it left off.
 *
 * Synchronization: the functions touch only the arrays passed in; two
 * threads may use them at once on different arrays.
 */
#ifndef IOBUF_IOV_H
#define IOBUF_IOV_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <iobuf/common.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

IOBUF_BEGIN_DECLS

/*
 * iobuf_iov_total - the sum of the lengths of @iovcnt segments.
 *
 * Returns the total in bytes, 0 for @iovcnt <= 0, or SIZE_MAX when the sum
 * would overflow size_t.  Wait-free.
 */
IOBUF_API size_t iobuf_iov_total(const struct iovec *iov, int iovcnt);

/*
 * iobuf_iov_advance - consume @n bytes from the front of an iovec array.
 *
 * After a readv/writev that moved @n bytes, *@iov and *@iovcnt are moved
 * past every fully consumed segment and the first partly consumed one is
 * trimmed in place.  When @n ends exactly at a segment boundary that
 * segment is consumed whole; when @n is the total, *@iovcnt becomes 0.
 * Segments of length 0 in front of the remaining bytes are skipped too.
 *
 * Returns 0, or -EINVAL for NULL pointers, a negative *@iovcnt, or @n above
 * the total (then nothing is changed).  Wait-free.
 */
IOBUF_API int iobuf_iov_advance(struct iovec **iov, int *iovcnt, size_t n);

/*
 * iobuf_iov_coalesce - merge adjacent segments of @iov in place.
 *
 * Two neighbours merge when the first ends where the second begins; empty
 * segments are dropped.  The order of the bytes is unchanged.
 *
 * Returns the new number of segments (0 to @iovcnt), or -EINVAL for a NULL
 * @iov with @iovcnt > 0 or a negative @iovcnt.  Wait-free.
 */
IOBUF_API int iobuf_iov_coalesce(struct iovec *iov, int iovcnt);

/*
 * iobuf_iov_max - IOV_MAX of this system, from sysconf(_SC_IOV_MAX).
 *
 * Returns the most segments one readv/writev accepts.  Wait-free.
 */
IOBUF_API int iobuf_iov_max(void);

/*
 * iobuf_writev_full - write all of *@iov to @fd.
 *
 * Calls writev(2) in chunks of at most IOV_MAX segments, retries on EINTR,
 * and advances *@iov and *@iovcnt past what was written.  On a blocking
 * descriptor it returns when everything is written or an error occurs; on
 * a non-blocking one it also returns when writev reports EAGAIN, leaving
 * *@iov at the first unwritten byte so that the caller resumes there.
 *
 * SIGPIPE: a writev(2) to a socket or pipe whose reader is gone raises
 * SIGPIPE, whose default action kills the process inside this call.  A
 * caller that writes to sockets either ignores SIGPIPE once at start
 * (sigaction() with SIG_IGN; the write then fails with -EPIPE) or calls
 * iobuf_sendv_full(), which cannot raise it.
 *
 * Returns the bytes written by this call (> 0, or 0 when *@iovcnt held no
 * byte), or, when it stopped before writing any byte, the negative errno
 * that stopped it: -EAGAIN, -EPIPE, -EBADF, ...  -EINVAL for NULL @iov or
 * @iovcnt or a negative *@iovcnt.
 *
 * *@stop (when @stop is not NULL) says why it returned: 0 when everything
 * was written (*@iovcnt is 0), -EAGAIN when the descriptor is full, the
 * negative errno of the writev that failed (after some progress too, so
 * that a short count needs no second call to tell EAGAIN from an error),
 * or -EIO when writev accepted no byte.  Blocking as @fd is.
 */
IOBUF_API ssize_t iobuf_writev_full(int fd, struct iovec **iov, int *iovcnt, int *stop);

/*
 * iobuf_sendv_full - iobuf_writev_full() for sockets, without SIGPIPE.
 *
 * The same loop on sendmsg(2) with MSG_NOSIGNAL: a peer that is gone
 * makes it return (or stop with) -EPIPE and never raises SIGPIPE, whatever
 * the process's disposition of it.  @fd must be a socket (-ENOTSOCK).
 *
 * Returns and sets *@stop as iobuf_writev_full().  Blocking as @fd is.
 */
IOBUF_API ssize_t iobuf_sendv_full(int fd, struct iovec **iov, int *iovcnt, int *stop);

/*
 * iobuf_readv_full - fill *@iov from @fd.
 *
 * Like iobuf_writev_full() for readv(2): returns once every segment is
 * full, at end of file (a readv that returns 0), or at EAGAIN, with *@iov
 * advanced past the bytes read.
 *
 * Returns the bytes read (0 at end of file before any byte), or the
 * negative errno that stopped it before any byte was read.  -EINVAL as
 * for iobuf_writev_full().  *@stop (when not NULL) is 0 when every segment
 * is full or at end of file (then *@iovcnt is not 0), -EAGAIN, or the
 * negative errno of the readv that failed, after some progress too.
 */
IOBUF_API ssize_t iobuf_readv_full(int fd, struct iovec **iov, int *iovcnt, int *stop);

/* The most buffers one iobuf_readv_pooled() call fills. */
#define IOBUF_READV_POOLED_MAX 64

/*
 * iobuf_iov_from_handles - describe pooled buffers as an iovec array.
 *
 * iov[i] covers the first @lens[i] bytes of the buffer of @hs[i] (@lens
 * NULL: each buffer's whole capacity), ready for writev(2).
 *
 * Returns @n, or -EINVAL for NULL arguments, @n < 0, a handle that is not
 * live in @set, or a length above its buffer's capacity (then @iov holds
 * the entries before the bad one).  Wait-free.
 */
IOBUF_API int iobuf_iov_from_handles(const struct iobuf_set *set, const iobuf_handle_t *hs, const size_t *lens, int n,
				     struct iovec *iov);

/*
 * iobuf_iov_from_slices - describe slices as an iovec array, without a copy.
 *
 * iov[i] covers the bytes of @s[i].  Returns @n, or -EINVAL for NULL
 * arguments, @n < 0, a slice whose buffer is not live in @set, or one that
 * reaches beyond its buffer (then @iov holds the entries before the bad
 * one).  After a short writev(2), iobuf_slices_consume() puts what was
 * written.  Wait-free.
 */
IOBUF_API int iobuf_iov_from_slices(const struct iobuf_set *set, const struct iobuf_slice *s, int n,
				    struct iovec *iov);

/*
 * iobuf_readv_pooled - read from @fd into fresh buffers of @tier.
 *
 * Takes up to @k free buffers of @tier (as many as there are), reads into
 * them with one readv(2) (retried on EINTR), keeps in @hs[0 .. *@kept) the
 * buffers that received bytes, in order, and puts the others back.  Every
 * kept buffer but the last is full; the last holds the remainder.  Each
 * kept buffer's length (iobuf_len()) is the bytes it received.  The same
 * read through a per-thread cache, returning slices: iobuf_cache_readv().
 *
 * Returns the bytes read (> 0); 0 at end of file; -ENOBUFS when the tier
 * has no free buffer; the -errno of readv (-EAGAIN on a non-blocking
 * descriptor with nothing to read, ...); -EINVAL for NULL arguments, a
 * tier out of range or absent from @set, or @k outside
 * 1..IOBUF_READV_POOLED_MAX.  On every return but a positive one *@kept is
 * 0 and no buffer is held.  Lock-free but for the system call.
 */
IOBUF_API ssize_t iobuf_readv_pooled(struct iobuf_set *set, int fd, int tier, iobuf_handle_t *hs, int k, int *kept);

IOBUF_END_DECLS

#endif /* IOBUF_IOV_H */
