/* SPDX-License-Identifier: MIT */
/* iov.c - iovec arithmetic and the readv/writev/sendmsg loops. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <iobuf/iov.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#include "iov.h"

size_t iobuf_iov_total(const struct iovec *iov, int iovcnt)
{
	size_t sum = 0;

	if (!iov)
		return 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SIZE_MAX - sum)
			return SIZE_MAX;
		sum += iov[i].iov_len;
	}
	return sum;
}

int iobuf_iov_advance(struct iovec **iovp, int *iovcntp, size_t n)
{
	struct iovec *iov;
	int cnt, i;
	size_t left = n;

	if (!iovp || !iovcntp || *iovcntp < 0 || (!*iovp && *iovcntp > 0))
		return -EINVAL;
	iov = *iovp;
	cnt = *iovcntp;

	/* First pass: find where n ends without touching anything. */
	for (i = 0; i < cnt && left >= iov[i].iov_len; i++)
		left -= iov[i].iov_len;
	if (i == cnt && left > 0)
		return -EINVAL;

	/* i is the first segment not consumed whole; trim it by what is left. */
	if (i < cnt && left > 0) {
		iov[i].iov_base = (char *)iov[i].iov_base + left;
		iov[i].iov_len -= left;
	}
	*iovp = iov + i;
	*iovcntp = cnt - i;
	return 0;
}

int iobuf_iov_coalesce(struct iovec *iov, int iovcnt)
{
	int out = 0;

	if (iovcnt < 0 || (!iov && iovcnt > 0))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		if (out > 0 && (char *)iov[out - 1].iov_base + iov[out - 1].iov_len == (char *)iov[i].iov_base &&
		    iov[out - 1].iov_len <= SIZE_MAX - iov[i].iov_len) {
			iov[out - 1].iov_len += iov[i].iov_len;
			continue;
		}
		iov[out++] = iov[i];
	}
	return out;
}

int iobuf_iov_max(void)
{
	long m = sysconf(_SC_IOV_MAX);

#ifdef IOV_MAX
	if (m <= 0)
		m = IOV_MAX;
#endif
	if (m <= 0)
		m = 16; /* POSIX minimum (_XOPEN_IOV_MAX) */
	return m > INT_MAX ? INT_MAX : (int)m;
}

enum iov_op { IOV_READ, IOV_WRITE, IOV_SEND };

static ssize_t iov_call(int fd, struct iovec *iov, int cnt, enum iov_op op)
{
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};

	switch (op) {
	case IOV_READ:
		return readv(fd, iov, cnt);
	case IOV_WRITE:
		return writev(fd, iov, cnt);
	default:
		/* MSG_NOSIGNAL: a peer that is gone is -EPIPE, never SIGPIPE. */
		return sendmsg(fd, &msg, MSG_NOSIGNAL);
	}
}

static ssize_t iov_stop(int *stop, int why, ssize_t done)
{
	if (stop)
		*stop = why;
	return done > 0 ? done : why;
}

/*
 * The one loop of iobuf_readv_full(), iobuf_writev_full() and
 * iobuf_sendv_full(): chunks of at most IOV_MAX segments, EINTR retried,
 * the array advanced past every byte moved.  *@stop says why it returned.
 */
static ssize_t iov_loop(int fd, struct iovec **iovp, int *iovcntp, int *stop, enum iov_op op)
{
	ssize_t done = 0;
	int max;

	if (!iovp || !iovcntp || *iovcntp < 0 || (!*iovp && *iovcntp > 0))
		return iov_stop(stop, -EINVAL, 0);
	max = iobuf_iov_max();
	while (*iovcntp > 0) {
		int cnt = *iovcntp < max ? *iovcntp : max;
		size_t want = iobuf_iov_total(*iovp, cnt);
		ssize_t r;

		if (want == 0) {
			/* A run of empty segments: step over them. */
			*iovp += cnt;
			*iovcntp -= cnt;
			continue;
		}
		r = iov_call(fd, *iovp, cnt, op);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return iov_stop(stop, -errno, done);
		}
		if (r == 0) {
			/* End of file on a read: not an error.  A write that took no byte cannot go on. */
			return iov_stop(stop, op == IOV_READ ? 0 : -EIO, done);
		}
		/* r <= want by the syscall's contract, so advance cannot fail. */
		(void)iobuf_iov_advance(iovp, iovcntp, (size_t)r);
		done += r;
	}
	if (stop)
		*stop = 0;
	return done;
}

ssize_t iobuf_writev_full(int fd, struct iovec **iov, int *iovcnt, int *stop)
{
	return iov_loop(fd, iov, iovcnt, stop, IOV_WRITE);
}

ssize_t iobuf_sendv_full(int fd, struct iovec **iov, int *iovcnt, int *stop)
{
	return iov_loop(fd, iov, iovcnt, stop, IOV_SEND);
}

ssize_t iobuf_readv_full(int fd, struct iovec **iov, int *iovcnt, int *stop)
{
	return iov_loop(fd, iov, iovcnt, stop, IOV_READ);
}

int iobuf_iov_from_handles(const struct iobuf_set *set, const iobuf_handle_t *hs, const size_t *lens, int n,
			   struct iovec *iov)
{
	if (!set || n < 0 || (n > 0 && (!hs || !iov)))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		void *b = iobuf_buf(set, hs[i]);
		size_t cap = iobuf_handle_capacity(hs[i]);

		if (!b || (lens && lens[i] > cap))
			return -EINVAL;
		iov[i].iov_base = b;
		iov[i].iov_len = lens ? lens[i] : cap;
	}
	return n;
}

int iobuf_iov_from_slices(const struct iobuf_set *set, const struct iobuf_slice *s, int n, struct iovec *iov)
{
	if (!set || n < 0 || (n > 0 && (!s || !iov)))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		uint8_t *b = iobuf_buf(set, s[i].h);

		if (!b || (size_t)s[i].off + s[i].len > iobuf_handle_capacity(s[i].h))
			return -EINVAL;
		iov[i].iov_base = b + s[i].off;
		iov[i].iov_len = s[i].len;
	}
	return n;
}

ssize_t iobuf__readv_fresh(int fd, struct iobuf_pool *pool, const iobuf_handle_t *hs, int got, size_t size, int *keep)
{
	struct iovec iov[IOBUF_READV_POOLED_MAX];
	ssize_t r;
	int k;

	for (int i = 0; i < got; i++) {
		iov[i].iov_base = iobuf_pool_index_buf(pool, iobuf_handle_index(hs[i]));
		iov[i].iov_len = size;
	}
	do {
		r = readv(fd, iov, got);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		r = -errno;
	k = r > 0 ? (int)(((size_t)r + size - 1) / size) : 0;
	/* Every kept buffer but the last is full; the last holds the rest.  We hold them all: nothing refuses. */
	for (int i = 0; i < k; i++)
		(void)iobuf_pool_setlen(pool, hs[i], i + 1 < k ? size : (size_t)r - (size_t)(k - 1) * size);
	*keep = k;
	return r;
}

ssize_t iobuf_readv_pooled(struct iobuf_set *set, int fd, int tier, iobuf_handle_t *hs, int k, int *kept)
{
	struct iobuf_pool *pool;
	ssize_t r;
	int got, keep;

	if (kept)
		*kept = 0;
	if (!set || !hs || !kept || k < 1 || k > IOBUF_READV_POOLED_MAX)
		return -EINVAL;
	pool = iobuf_set_pool(set, tier);
	if (!pool)
		return -EINVAL;
	got = iobuf_pool_get_burst(pool, hs, k);
	if (got <= 0)
		return got == 0 ? -ENOBUFS : got;
	r = iobuf__readv_fresh(fd, pool, hs, got, IOBUF_TIER_SIZE(tier), &keep);
	/* The buffers that received nothing go back; on error or end of file, all of them. */
	if (got > keep)
		iobuf_pool_put_bulk(pool, hs + keep, got - keep);
	*kept = keep;
	return r;
}
