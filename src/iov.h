/* SPDX-License-Identifier: MIT */
/* iov.h - private: the scatter-read into fresh buffers, shared by the set's and the cache's forms. */
#ifndef IOBUF_SRC_IOV_H
#define IOBUF_SRC_IOV_H

#include <stddef.h>
#include <sys/types.h>

#include <iobuf/pool.h>

/*
 * readv(2) from @fd (retried on EINTR) into the @got buffers of @hs, held
 * by the caller, of @size usable bytes each (1 <= @got <=
 * IOBUF_READV_POOLED_MAX).  Records each filled buffer's length, and sets
 * *@keep to how many received bytes (the first ones).  Returns the bytes
 * read, 0 at end of file, or -errno.
 */
ssize_t iobuf__readv_fresh(int fd, struct iobuf_pool *pool, const iobuf_handle_t *hs, int got, size_t size, int *keep);

#endif /* IOBUF_SRC_IOV_H */
