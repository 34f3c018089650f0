/* SPDX-License-Identifier: MIT */
/*
 * iobuf/common.h - export macro, C++ linkage and version of iobuf.
 *
 * Conventions that hold in every iobuf header:
 *  - functions return 0 or a negative errno; counts are non-negative ints;
 *    callers print strerror(-rc);
 *  - create/destroy when the library allocates the object, init/fini when
 *    the caller supplies the memory;
 *  - the library keeps no global state and starts no thread.
 */
#ifndef IOBUF_COMMON_H
#define IOBUF_COMMON_H

#include <iobuf/version.h>

#if defined(IOBUF_BUILDING) && defined(__GNUC__)
#define IOBUF_API __attribute__((visibility("default")))
#else
#define IOBUF_API
#endif

#ifdef __cplusplus
#define IOBUF_BEGIN_DECLS extern "C" {
#define IOBUF_END_DECLS }
#else
#define IOBUF_BEGIN_DECLS
#define IOBUF_END_DECLS
#endif

#if defined(__GNUC__)
#define IOBUF_LIKELY(x) __builtin_expect(!!(x), 1)
#define IOBUF_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define IOBUF_LIKELY(x) (x)
#define IOBUF_UNLIKELY(x) (x)
#endif

IOBUF_BEGIN_DECLS

/*
 * iobuf_version - the version of the library that is running.
 *
 * Returns IOBUF_VERSION_NUMBER of the shared object actually loaded, which
 * may differ from the headers a program was compiled with.
 * Any thread, any time; wait-free.
 */
IOBUF_API unsigned iobuf_version(void);

/*
 * iobuf_strerror - what the return value @rc of an iobuf function means.
 *
 * The errno values to which iobuf gives a meaning of its own read in the
 * library's terms: 0 "success", -EALREADY "buffer already put (double
 * put)", -ESTALE, -ENOBUFS, -ETIMEDOUT, -EMSGSIZE, -EDQUOT, -EINVAL,
 * -ENOMEM, -EAGAIN, -EBUSY, -EOVERFLOW (see iobuf_strerror(3)); any other
 * as strerror(3) says it.  A positive @rc is read as an errno value, so
 * EALREADY and -EALREADY give the same text.
 *
 * Returns a string, never NULL: a static one, or for a code iobuf does not
 * name the C library's text in a buffer of the calling thread, valid until
 * that thread calls iobuf_strerror() again.
 *
 * Any thread, concurrently with any call: no buffer is shared between
 * threads.  Never blocks for the codes iobuf names; for the others as
 * strerror_r(3).
 */
IOBUF_API const char *iobuf_strerror(int rc);

IOBUF_END_DECLS

#endif /* IOBUF_COMMON_H */
