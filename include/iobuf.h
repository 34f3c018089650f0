/* SPDX-License-Identifier: MIT */
/*
 * iobuf.h - lock-free bounded buffer pools for network servers.
 *
 * The umbrella header: includes every public iobuf header but
 * iobuf/reserve_urcu.h, which needs liburcu's headers.
 * See iobuf(7) for the overview.
 */
#ifndef IOBUF_H
#define IOBUF_H

#include <iobuf/common.h>
#include <iobuf/arena.h>
#include <iobuf/iov.h>
#include <iobuf/scq.h>
#include <iobuf/slot.h>
#include <iobuf/pool.h>
#include <iobuf/tiers.h>
#include <iobuf/cache.h>
#include <iobuf/account.h>
#include <iobuf/ring.h>
#include <iobuf/ring_bcast.h>
#include <iobuf/slice.h>
#include <iobuf/kind.h>
#include <iobuf/builder.h>
#include <iobuf/chan.h>
#include <iobuf/reserve.h>
#include <iobuf/uring.h>

#endif /* IOBUF_H */
