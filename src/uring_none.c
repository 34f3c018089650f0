/* SPDX-License-Identifier: MIT */
/*
 * uring_none.c - iobuf/uring.h in a build without liburing: every call
 * answers -ENOSYS (constructors NULL with -ENOSYS), so that libiobuf.so
 * exports the same names however it was configured.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <iobuf/uring.h>

int iobuf_uring_probe(struct iobuf_uring_features *f)
{
	if (!f)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	f->last_op = -1;
	return -ENOSYS;
}

int iobuf_uring_features_print(const struct iobuf_uring_features *f, FILE *out)
{
	if (!f || !out)
		return -EINVAL;
	return fprintf(out, "io_uring: not built (configure found no liburing: apt-get install liburing-dev)\n") < 0 ? -EIO
														       : 0;
}

struct iobuf_uring_bufring *iobuf_uring_bufring_create(struct io_uring *ring,
							 const struct iobuf_uring_bufring_config *cfg, int *err)
{
	if (err)
		*err = -ENOSYS;
	return NULL;
}

void iobuf_uring_bufring_destroy(struct iobuf_uring_bufring *br)
{
}

int iobuf_uring_bufring_refill(struct iobuf_uring_bufring *br)
{
	return -ENOSYS;
}

int iobuf_uring_bufring_take(struct iobuf_uring_bufring *br, const struct io_uring_cqe *cqe, iobuf_handle_t *h)
{
	if (h)
		*h = IOBUF_HANDLE_NONE;
	return -ENOSYS;
}

int iobuf_uring_bufring_recv_multishot(struct iobuf_uring_bufring *br, int fd, uint64_t user_data)
{
	return -ENOSYS;
}

int iobuf_uring_bufring_ready_fd(struct iobuf_uring_bufring *br)
{
	return -ENOSYS;
}

int iobuf_uring_bufring_count(const struct iobuf_uring_bufring *br)
{
	return -ENOSYS;
}

int iobuf_uring_bufring_stats(const struct iobuf_uring_bufring *br, struct iobuf_uring_bufring_stats *st)
{
	return -ENOSYS;
}

struct iobuf_uring_fixed *iobuf_uring_fixed_create(struct io_uring *ring, const struct iobuf_uring_fixed_config *cfg,
						     struct iobuf_uring_fixed_report *report, int *err)
{
	if (report) {
		memset(report, 0, sizeof(*report));
		report->err = -ENOSYS;
	}
	if (err)
		*err = -ENOSYS;
	return NULL;
}

void iobuf_uring_fixed_destroy(struct iobuf_uring_fixed *fx)
{
}

bool iobuf_uring_fixed_registered(const struct iobuf_uring_fixed *fx)
{
	return false;
}

int iobuf_uring_fixed_report_print(const struct iobuf_uring_fixed_report *report, FILE *out)
{
	if (!report || !out)
		return -EINVAL;
	return fprintf(out, "io_uring: not built (no liburing)\n") < 0 ? -EIO : 0;
}

int iobuf_uring_fixed_buf(const struct iobuf_uring_fixed *fx, iobuf_handle_t h, struct iobuf_uring_buf *out)
{
	return -ENOSYS;
}

int iobuf_uring_fixed_prep_write(const struct iobuf_uring_fixed *fx, struct io_uring_sqe *sqe, int fd,
				 iobuf_handle_t h, size_t off, size_t len)
{
	return -ENOSYS;
}

int iobuf_uring_fixed_send_zc(struct iobuf_uring_fixed *fx, int fd, iobuf_handle_t h, size_t off, size_t len,
			      int msg_flags, uint64_t cookie)
{
	return -ENOSYS;
}

bool iobuf_uring_fixed_owns(const struct iobuf_uring_fixed *fx, const struct io_uring_cqe *cqe)
{
	return false;
}

int iobuf_uring_fixed_complete(struct iobuf_uring_fixed *fx, const struct io_uring_cqe *cqe,
			       struct iobuf_uring_zc_event *ev)
{
	return -ENOSYS;
}

int iobuf_uring_fixed_inflight(const struct iobuf_uring_fixed *fx)
{
	return -ENOSYS;
}
