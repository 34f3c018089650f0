/* SPDX-License-Identifier: MIT */
/*
 * kind.c - content kinds: a set's registry of names, and the per-buffer
 * tag kept by the pool beside the length (src/pool.c).
 *
 * Registration appends under a lock and publishes the count with a
 * release store (K1); lookups acquire the count (K2) and read only the
 * names below it, which never change again.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <iobuf/kind.h>
#include <iobuf/tiers.h>

#include "atomic.h"
#include "kind.h"
#include "pool.h"

int iobuf__kinds_init(struct iobuf__kinds *k)
{
	if (pthread_mutex_init(&k->lock, NULL) != 0)
		return -ENOMEM;
	strcpy(k->name[IOBUF_KIND_RAW], "raw");
	k->count = 1;
	return 0;
}

void iobuf__kinds_fini(struct iobuf__kinds *k)
{
	pthread_mutex_destroy(&k->lock);
}

static bool name_ok(const char *name)
{
	return name && name[0] && strnlen(name, IOBUF_KIND_NAME_MAX) < IOBUF_KIND_NAME_MAX;
}

/* The kind named @name among the first @n, or -ENOENT. */
static int find(const struct iobuf__kinds *k, uint32_t n, const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(k->name[i], name) == 0)
			return (int)i;
	return -ENOENT;
}

int iobuf_kind_lookup(const struct iobuf_set *set, const char *name)
{
	const struct iobuf__kinds *k;

	if (!set || !name)
		return -EINVAL;
	k = iobuf__set_kinds(set);
	return find(k, iobuf__load_32_acq(&k->count), name); /* K2: pairs with K1 */
}

int iobuf_kind_register(struct iobuf_set *set, const char *name)
{
	struct iobuf__kinds *k;
	int rc;

	if (!set || !name_ok(name))
		return -EINVAL;
	k = iobuf__set_kinds(set);
	pthread_mutex_lock(&k->lock);
	rc = find(k, k->count, name);
	if (rc == -ENOENT) {
		if (k->count == IOBUF_KINDS_MAX) {
			rc = -ENOSPC;
		} else {
			rc = (int)k->count;
			strcpy(k->name[rc], name);
			iobuf__store_32_rel(&k->count, k->count + 1); /* K1: pairs with K2, the name first */
		}
	}
	pthread_mutex_unlock(&k->lock);
	return rc;
}

const char *iobuf_kind_name(const struct iobuf_set *set, int kind)
{
	const struct iobuf__kinds *k;

	if (!set || kind < 0)
		return NULL;
	k = iobuf__set_kinds(set);
	return (uint32_t)kind < iobuf__load_32_acq(&k->count) ? k->name[kind] : NULL; /* K2 */
}

int iobuf_kind_of(const struct iobuf_set *set, iobuf_handle_t h)
{
	struct iobuf_pool *p = set ? iobuf_set_pool(set, (int)iobuf_handle_tag(h)) : NULL;

	return p ? iobuf__pool_kind(p, h) : -EINVAL;
}

int iobuf_kind_set(struct iobuf_set *set, iobuf_handle_t h, int kind)
{
	struct iobuf_pool *p = set ? iobuf_set_pool(set, (int)iobuf_handle_tag(h)) : NULL;

	if (!p || kind < 0 || (uint32_t)kind >= iobuf__load_32_acq(&iobuf__set_kinds(set)->count))
		return -EINVAL;
	return iobuf__pool_setkind(p, h, (unsigned)kind);
}
