/* SPDX-License-Identifier: MIT */
/*
 * iobuf/slice.h - shared buffers: holders, lengths and O(1) slices.
 *
 * Holders.  A buffer handed out by a get has one holder.  Any holder may
 * add another (iobuf_hold()); every put drops one; the buffer goes back
 * to its tier when the last holder puts it, exactly once.  Holders share
 * one handle: they are counted, not named.  The count lives in the slot
 * word beside the generation (iobuf/slot.h), so a put of a buffer that
 * was never shared is the one compare-and-swap it always was, and an add
 * that races the last put either comes first (the buffer stays held) or
 * is refused (-EALREADY, -ESTALE): never a holder of a free buffer.
 *
 * Lengths.  A buffer records the bytes it holds: iobuf_readv_pooled() and
 * iobuf_cache_readv() set it, a writer sets it with iobuf_setlen().  A
 * length belongs to one hand-out of the buffer: a fresh buffer's is 0.
 *
 * Slices.  struct iobuf_slice names a range of a set's buffer and holds
 * one of its holders.  Splitting a slice adds a holder (one atomic
 * operation); trimming changes two integers; an array of slices becomes
 * an iovec for writev(2) without a copy.  Putting a slice drops its
 * holder.  A slice is a value: copy it only to move it (a copy holds
 * nothing more; iobuf_slice_clone() adds a holder).
 */
#ifndef IOBUF_SLICE_H
#define IOBUF_SLICE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <iobuf/common.h>
#include <iobuf/slot.h>

IOBUF_BEGIN_DECLS

struct iobuf_set;
struct iobuf_pool;

/* The most holders one buffer can have; one more is refused with -EOVERFLOW. */
#define IOBUF_HOLDERS_MAX UINT32_C(0x7fffffff)

/* Bytes [off, off + len) of the buffer of handle @h; holds one of its holders. */
struct iobuf_slice {
	iobuf_handle_t h;
	uint32_t off;
	uint32_t len;
};

#define IOBUF_SLICE_NONE ((struct iobuf_slice){IOBUF_HANDLE_NONE, 0, 0})

/* ---- holders and lengths ------------------------------------------------- */

/*
 * iobuf_hold, iobuf_pool_hold - a holder of @h adds @n holders.
 *
 * Each added holder puts the buffer once (iobuf_put(), iobuf_pool_put(),
 * iobuf_cache_put(), iobuf_slice_put()); the last put returns it.  Only a
 * holder may add one.  Returns 0; -EINVAL for @n 0, NULL, or a handle of
 * another set or pool; -EALREADY when the buffer's last holder has put it;
 * -ESTALE when it was handed out again since; -EOVERFLOW when it would
 * have more than IOBUF_HOLDERS_MAX holders.  A refusal changes nothing.
 * Orders nothing: hand the handle to the new holder through something that
 * does (a channel, a ring, a mutex).  Lock-free: one compare-and-swap
 * unless it races another holder.
 */
IOBUF_API int iobuf_hold(struct iobuf_set *set, iobuf_handle_t h, uint32_t n);
IOBUF_API int iobuf_pool_hold(struct iobuf_pool *pool, iobuf_handle_t h, uint32_t n);

/*
 * iobuf_holders, iobuf_pool_holders - how many hold the buffer of @h now.
 *
 * Returns the count (>= 1), or the refusals of iobuf_hold() for a handle
 * that is not live.  A snapshot: other holders may add or put meanwhile.
 * Wait-free.
 */
IOBUF_API int iobuf_holders(const struct iobuf_set *set, iobuf_handle_t h);
IOBUF_API int iobuf_pool_holders(const struct iobuf_pool *pool, iobuf_handle_t h);

/*
 * iobuf_len, iobuf_pool_len - the bytes the buffer of @h holds.
 *
 * What the read that filled it or the last iobuf_setlen() recorded; 0 for
 * a fresh buffer.  Returns the length, or the refusals of iobuf_hold()
 * for a handle that is not live.  Orders nothing.  Wait-free.
 */
IOBUF_API ssize_t iobuf_len(const struct iobuf_set *set, iobuf_handle_t h);
IOBUF_API ssize_t iobuf_pool_len(const struct iobuf_pool *pool, iobuf_handle_t h);

/*
 * iobuf_setlen, iobuf_pool_setlen - record that the buffer of @h holds @len bytes.
 *
 * Returns 0; -EMSGSIZE when @len is above the buffer's capacity; the
 * refusals of iobuf_hold() for a handle that is not live (a refused call
 * records nothing, and never touches a later hand-out's length).  Orders
 * nothing.  Lock-free.
 */
IOBUF_API int iobuf_setlen(struct iobuf_set *set, iobuf_handle_t h, size_t len);
IOBUF_API int iobuf_pool_setlen(struct iobuf_pool *pool, iobuf_handle_t h, size_t len);

/* ---- slices of a set's buffers --------------------------------------------- */

/*
 * iobuf_slice_from - turn the holder of @h into a slice of the bytes it holds.
 *
 * *@s covers [0, iobuf_len()) of the buffer and takes over the caller's
 * holder: put the slice, not the handle.  Returns 0, or the refusals of
 * iobuf_len() (then *@s is IOBUF_SLICE_NONE).  Wait-free.
 */
IOBUF_API int iobuf_slice_from(const struct iobuf_set *set, iobuf_handle_t h, struct iobuf_slice *s);

/*
 * iobuf_slice_clone - a second slice of the same bytes, with a holder of its own.
 *
 * Returns 0, or the refusals of iobuf_hold() (then *@copy is
 * IOBUF_SLICE_NONE).  Lock-free.
 */
IOBUF_API int iobuf_slice_clone(struct iobuf_set *set, const struct iobuf_slice *s, struct iobuf_slice *copy);

/*
 * iobuf_slice_split - cut @s at @at: @s keeps [0, @at), *@tail gets the rest.
 *
 * Both share the buffer; *@tail holds a holder of its own (one atomic
 * operation).  @at may be 0 or the whole length (one side is then empty,
 * and still holds the buffer).  Returns 0; -ERANGE for @at beyond @s's
 * length; the refusals of iobuf_hold().  A refusal changes neither slice
 * (and *@tail is IOBUF_SLICE_NONE).  Lock-free.
 */
IOBUF_API int iobuf_slice_split(struct iobuf_set *set, struct iobuf_slice *s, size_t at, struct iobuf_slice *tail);

/*
 * iobuf_slice_trim_front, iobuf_slice_trim_back - drop @n bytes from one end of @s.
 *
 * Returns 0, or -ERANGE (nothing changed) when @s holds fewer than @n
 * bytes.  The slice keeps its holder.  Inline; wait-free.
 */
static inline int iobuf_slice_trim_front(struct iobuf_slice *s, size_t n)
{
	if (n > s->len)
		return -ERANGE;
	s->off += (uint32_t)n;
	s->len -= (uint32_t)n;
	return 0;
}

static inline int iobuf_slice_trim_back(struct iobuf_slice *s, size_t n)
{
	if (n > s->len)
		return -ERANGE;
	s->len -= (uint32_t)n;
	return 0;
}

/*
 * iobuf_slice_buf - the address of the first byte of @s.
 *
 * NULL when @s's buffer is not live in @set.  Wait-free.
 */
IOBUF_API void *iobuf_slice_buf(const struct iobuf_set *set, const struct iobuf_slice *s);

/*
 * iobuf_slice_put - drop the holder of @s; the last holder's put returns the buffer.
 *
 * Sets *@s to IOBUF_SLICE_NONE on success.  Returns 0, or the refusals of
 * iobuf_put() (nothing changed).  Releases the bytes.  Lock-free.
 */
IOBUF_API int iobuf_slice_put(struct iobuf_set *set, struct iobuf_slice *s);

/*
 * iobuf_slices_put - iobuf_slice_put() on each of @n slices.
 *
 * Every slice is put; a refused one does not stop the others.  Returns 0,
 * or the error of the first refused; -EINVAL for NULL or @n < 0.
 */
IOBUF_API int iobuf_slices_put(struct iobuf_set *set, struct iobuf_slice *s, int n);

/*
 * iobuf_slices_consume - @bytes of @n slices were written: put what is done.
 *
 * After a (short) writev(2) of iobuf_iov_from_slices(): puts the slices
 * written whole, trims the one written in part, and returns how many were
 * put (the caller moves on by that many).  Returns -ERANGE (nothing put)
 * when @bytes is more than the slices hold; -EINVAL for NULL or @n < 0;
 * the error of a refused put (the slices before it are put).
 */
IOBUF_API int iobuf_slices_consume(struct iobuf_set *set, struct iobuf_slice *s, int n, size_t bytes);

IOBUF_END_DECLS

#endif /* IOBUF_SLICE_H */
