/* SPDX-License-Identifier: MIT */
/*
 * iobuf/builder.h - frames built a few bytes at a time in pooled buffers,
 * then frozen into shared slices.
 *
 * A builder writes one frame at a time.  iobuf_builder_writable() gives
 * the next @len writable bytes, contiguous, right after what the frame
 * holds; iobuf_builder_commit() appends what was written there; and
 * iobuf_builder_freeze() hands the frame on as a slice (iobuf/slice.h)
 * that holds its buffer, with no copy.  The next frame starts right after
 * it in the same buffer while there is room, so small frames share a
 * buffer as their own slices (each holds it; the last put returns it).
 *
 * Where the bytes live.  A frame starts in a buffer of the tier of the
 * builder's hint (or of the first request, if larger).  When a request
 * does not fit in what is left of the buffer, the frame moves to a fresh
 * buffer of the hint's tier, or of the smallest tier that holds the frame
 * and the request if that is larger: its bytes so far are copied, and the
 * old buffer keeps only the frames already frozen from it.  So a frame no
 * longer than the hint moves once at most (give a hint of the usual frame
 * size and the move is rare), and a longer one moves each time it
 * outgrows its buffer, to a tier at least four times as large.  A frame
 * beyond 256 KiB is refused with -EMSGSIZE.  The builder never moves or
 * writes bytes that a frozen slice covers.
 *
 * One thread uses a builder at a time; its slices go anywhere.
 */
#ifndef IOBUF_BUILDER_H
#define IOBUF_BUILDER_H

#include <stddef.h>

#include <iobuf/common.h>
#include <iobuf/slice.h>

IOBUF_BEGIN_DECLS

struct iobuf_set;
struct iobuf_cache;
struct iobuf_account;
struct iobuf_builder;

struct iobuf_builder_config {
	size_t hint;                  /* the usual frame size: a frame starts in a buffer this big (0: 4 KiB) */
	struct iobuf_cache *cache;    /* take and give back buffers through this cache of the set (NULL: the set) */
	struct iobuf_account *acct;   /* charge the buffers to this account of the set (NULL: none) */
};

/*
 * iobuf_builder_create - a builder of frames in @set's buffers.
 *
 * @cfg may be NULL.  Takes no buffer until the first write.  Returns the
 * builder (*@err = 0), or NULL with *@err -EINVAL (NULL @set, a hint
 * above 256 KiB, a cache or an account that is not @set's) or -ENOMEM.
 * Blocking (it allocates).
 */
IOBUF_API struct iobuf_builder *iobuf_builder_create(struct iobuf_set *set, const struct iobuf_builder_config *cfg,
						     int *err);

/*
 * iobuf_builder_destroy - drop the frame being built and the builder's buffer.
 *
 * Frozen slices stay valid (they hold their buffer).  NULL is ignored.
 */
IOBUF_API void iobuf_builder_destroy(struct iobuf_builder *b);

/*
 * iobuf_builder_writable - the next @len writable bytes of the frame.
 *
 * Returns 0 with *@p the address right after the frame's bytes, with at
 * least @len bytes (and *@room, when not NULL, the exact number) writable
 * there until the next call on @b; write into it, then commit.  Moves the
 * frame to a larger buffer when it must (see above).  Returns -EINVAL for
 * NULL arguments or @len 0; -EMSGSIZE when the frame and @len exceed 256
 * KiB; -ENOBUFS, -EDQUOT or -EBUSY when no buffer could be had (from the
 * set, the account or the cache).  A failed call keeps the frame as it
 * was, but for -EALREADY or -ESTALE: the builder's buffer was put under
 * it (a holder put once too often), and the frame is lost.
 */
IOBUF_API int iobuf_builder_writable(struct iobuf_builder *b, size_t len, void **p, size_t *room);

/*
 * iobuf_builder_commit - append @n written bytes to the frame.
 *
 * @n is at most the room the last iobuf_builder_writable() gave (less what
 * was committed since).  Returns 0, -EINVAL for NULL, or -ERANGE for a
 * larger @n (nothing appended).
 */
IOBUF_API int iobuf_builder_commit(struct iobuf_builder *b, size_t n);

/*
 * iobuf_builder_append - iobuf_builder_writable(), a copy of @n bytes, and a commit.
 *
 * Returns 0 or the errors of iobuf_builder_writable() (-EINVAL also for a
 * NULL @src with @n above 0).
 */
IOBUF_API int iobuf_builder_append(struct iobuf_builder *b, const void *src, size_t n);

/* iobuf_builder_len - the bytes of the frame being built (0 for NULL). */
IOBUF_API size_t iobuf_builder_len(const struct iobuf_builder *b);

/*
 * iobuf_builder_freeze - hand the frame on as a slice, and start the next one.
 *
 * *@s covers the frame's bytes and holds its buffer (one atomic
 * operation); the bytes are never written again by the builder.  Records
 * the buffer's length up to the frame's end (iobuf_len()).  Returns 0;
 * -ENODATA for an empty frame (nothing is frozen); -EINVAL for NULL;
 * -EALREADY or -ESTALE when the buffer was put under the builder (the
 * frame is lost); the errors of iobuf_hold().
 */
IOBUF_API int iobuf_builder_freeze(struct iobuf_builder *b, struct iobuf_slice *s);

/*
 * iobuf_builder_abort - drop the frame being built; the next starts where it started.
 *
 * Returns 0 or -EINVAL for NULL.
 */
IOBUF_API int iobuf_builder_abort(struct iobuf_builder *b);

IOBUF_END_DECLS

#endif /* IOBUF_BUILDER_H */
