/* SPDX-License-Identifier: MIT */
/*
 * strerror.c - what an iobuf return value means, in the library's terms.
 *
 * The errno values to which iobuf gives a meaning of its own read as that
 * meaning; every other one as the C library says it (strerror_r(3) into a
 * buffer of the calling thread, so that no two threads share one).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <iobuf/common.h>

static const struct {
	int err;
	const char *msg;
} iobuf_messages[] = {
	{EINVAL, "invalid argument or not a handle of this set or pool"},
	{EALREADY, "buffer already put (double put)"},
	{ESTALE, "stale handle: its buffer was put and handed out again"},
	{ENOBUFS, "no free buffer in the tier (pool empty)"},
	{ETIMEDOUT, "no buffer came back before the timeout"},
	{EMSGSIZE, "size above the largest tier (or the fallback's buffers)"},
	{ENODATA, "nothing to freeze: the frame is empty"},
	{ERANGE, "beyond the slice, the frame or what was granted"},
	{EDQUOT, "over the account's quota"},
	{ENOMEM, "out of memory: an allocation or a mapping failed"},
	{EAGAIN, "not now: it would have to wait (non-blocking call, full or empty queue)"},
	{EBUSY, "still in use: something else depends on it"},
	{EOVERFLOW, "reader lapped (entries were missed), or a buffer at its most holders"},
};

/* The C library's text for @err; GNU and XSI strerror_r differ in what they return. */
static const char *libc_strerror(int err, char *buf, size_t len)
{
#ifdef STRERROR_R_CHAR_P
	return strerror_r(err, buf, len);
#else
	if (strerror_r(err, buf, len) != 0)
		snprintf(buf, len, "Unknown error %d", err);
	return buf;
#endif
}

const char *iobuf_strerror(int rc)
{
	static _Thread_local char buf[128];
	int err;

	if (rc == 0)
		return "success";
	/* Either sign names the same error; -INT_MIN does not exist and stays unknown. */
	err = rc < 0 && rc != INT_MIN ? -rc : rc;
	for (size_t i = 0; i < sizeof(iobuf_messages) / sizeof(iobuf_messages[0]); i++)
		if (iobuf_messages[i].err == err)
			return iobuf_messages[i].msg;
	return libc_strerror(err, buf, sizeof(buf));
}
