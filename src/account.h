/* SPDX-License-Identifier: MIT */
/* account.h - private: what the pool and the cache share with the accounts (src/account.c). */
#ifndef IOBUF_SRC_ACCOUNT_H
#define IOBUF_SRC_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include <iobuf/slot.h>

struct iobuf_account;
struct iobuf_cache;
struct iobuf_set;

/* The last put of a hand-out charged to @acct, of a buffer of @tier: give its room back. */
void iobuf__account_credit(struct iobuf_account *acct, unsigned tier);

/* The set @acct charges gets from. */
struct iobuf_set *iobuf__account_set(const struct iobuf_account *acct);

/* iobuf_cache_get() from the tiers alone, never the set's fallback (src/cache.c). */
int iobuf__cache_get_tiers(struct iobuf_cache *cache, size_t size, iobuf_handle_t *h);

/* True when @cache is a set-bound cache of @set (src/cache.c). */
bool iobuf__cache_of_set(const struct iobuf_cache *cache, const struct iobuf_set *set);

#endif /* IOBUF_SRC_ACCOUNT_H */
