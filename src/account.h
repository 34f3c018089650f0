/* SPDX-License-Identifier: MIT */
/* account.h - private: what the pool and the cache share with the accounts (src/account.c). */
#ifndef IOBUF_SRC_ACCOUNT_H
#define IOBUF_SRC_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>

struct iobuf_account;
struct iobuf_cache;
struct iobuf_set;

/* The last put of a hand-out charged to @acct, of a buffer of @tier: give its room back. */
void iobuf__account_credit(struct iobuf_account *acct, unsigned tier, size_t buf_size);

/* True when @cache is a set-bound cache of @set (src/cache.c). */
bool iobuf__cache_of_set(const struct iobuf_cache *cache, const struct iobuf_set *set);

#endif /* IOBUF_SRC_ACCOUNT_H */
