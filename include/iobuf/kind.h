/* SPDX-License-Identifier: MIT */
/*
 * iobuf/kind.h - content kinds: a tag per buffer, kept out of band.
 *
 * A set keeps its own registry of kinds by name (no global one): kind 0 is
 * "raw" and every hand-out starts with it; iobuf_kind_register() adds up
 * to IOBUF_KINDS_MAX - 1 more.  A buffer's kind is read and changed
 * without touching its bytes (a retag, say "raw" to "pcm16" once decoded,
 * copies nothing).  The kind belongs to the buffer, not to a view of it:
 * every holder and every slice of the buffer sees a retag at once, and a
 * slice carries no kind of its own (keep one beside the slice if two views
 * of one buffer need two kinds).  Like lengths, a kind belongs to one
 * hand-out: the next hand-out of the buffer starts at 0 again.
 */
#ifndef IOBUF_KIND_H
#define IOBUF_KIND_H

#include <iobuf/common.h>
#include <iobuf/slot.h>

IOBUF_BEGIN_DECLS

struct iobuf_set;

#define IOBUF_KINDS_MAX 256    /* kinds per set, "raw" included */
#define IOBUF_KIND_NAME_MAX 32 /* bytes of a name, its terminating NUL included */
#define IOBUF_KIND_RAW 0

/*
 * iobuf_kind_register - the kind named @name in @set, registered on first use.
 *
 * Returns the kind (0 .. IOBUF_KINDS_MAX - 1: the same one for the same
 * name every time); -EINVAL for NULL arguments or a name that is empty or
 * IOBUF_KIND_NAME_MAX bytes or longer; -ENOSPC when the set has
 * IOBUF_KINDS_MAX kinds.  Thread-safe; blocking (a lock shared by the
 * set's registrations only).
 */
IOBUF_API int iobuf_kind_register(struct iobuf_set *set, const char *name);

/*
 * iobuf_kind_lookup - the kind named @name in @set, if registered.
 *
 * Returns the kind, -ENOENT when no kind has that name, -EINVAL for NULL.
 * Thread-safe; lock-free.
 */
IOBUF_API int iobuf_kind_lookup(const struct iobuf_set *set, const char *name);

/*
 * iobuf_kind_name - the name of @kind in @set ("raw" for 0).
 *
 * NULL when @kind is not registered or @set is NULL.  The string lives as
 * long as the set.  Thread-safe; lock-free.
 */
IOBUF_API const char *iobuf_kind_name(const struct iobuf_set *set, int kind);

/*
 * iobuf_kind_of - the kind of the buffer of @h.
 *
 * Returns the kind (0 for a buffer nobody tagged), or -EINVAL (not a
 * handle of @set), -EALREADY or -ESTALE (not live) as iobuf_len().
 * Orders nothing.  Wait-free.
 */
IOBUF_API int iobuf_kind_of(const struct iobuf_set *set, iobuf_handle_t h);

/*
 * iobuf_kind_set - tag the buffer of @h with @kind, without touching its bytes.
 *
 * Any holder may retag; every holder sees it.  Returns 0; -EINVAL for a
 * kind not registered in @set or a handle not of @set; -EALREADY or
 * -ESTALE for a handle that is not live (a refused call never touches a
 * later hand-out's kind).  Orders nothing: publish the retag to other
 * holders as you publish bytes.  Lock-free.
 */
IOBUF_API int iobuf_kind_set(struct iobuf_set *set, iobuf_handle_t h, int kind);

IOBUF_END_DECLS

#endif /* IOBUF_KIND_H */
