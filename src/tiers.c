/* SPDX-License-Identifier: MIT */
/* tiers.c - eight power-of-four tiers and the set of their pools. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <iobuf/tiers.h>

#include "atomic.h"
#include "kind.h"
#include "pool.h"
#include "tiers.h"
#include "util.h"

static const uint32_t default_capacity[IOBUF_TIER_COUNT] = {4096, 4096, 2048, 1024, 512, 128, 32, 8};
static const char *const tier_names[IOBUF_TIER_COUNT] = {"PICO", "NANO", "MICRO", "SMALL",
							   "MEDIUM", "LARGE", "HUGE", "GIANT"};

struct iobuf_set {
	struct iobuf_pool *pool[IOBUF_TIER_COUNT];
	unsigned flags;
	int ready_fd; /* -1 until iobuf_set_ready_fd() */
	alignas(IOBUF_CACHELINE) uint64_t spills; /* written only when a get spills */
	struct iobuf__kinds kinds;
};

struct iobuf__kinds *iobuf__set_kinds(const struct iobuf_set *s)
{
	return &((struct iobuf_set *)(uintptr_t)s)->kinds;
}

int iobuf_tier_for_size(size_t size)
{
	if (size == 0)
		return -EINVAL;
	if (size > IOBUF_MAX_SIZE)
		return -EMSGSIZE;
	return (int)iobuf__tier_of(size);
}

const char *iobuf_tier_name(int tier)
{
	return tier >= 0 && tier < IOBUF_TIER_COUNT ? tier_names[tier] : "?";
}

int iobuf_set_config_default(struct iobuf_set_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	memcpy(cfg->capacity, default_capacity, sizeof(cfg->capacity));
	return 0;
}

size_t iobuf_set_footprint(const struct iobuf_set_config *cfg)
{
	size_t total = 0;

	if (!cfg)
		return 0;
	for (int t = 0; t < IOBUF_TIER_COUNT; t++)
		total += (size_t)cfg->capacity[t] * IOBUF_TIER_SIZE(t);
	return total;
}

static void human(char *buf, size_t len, size_t bytes)
{
	if (bytes >= ((size_t)1 << 20))
		snprintf(buf, len, "%.1f MiB", (double)bytes / (1 << 20));
	else if (bytes >= 1024)
		snprintf(buf, len, "%zu KiB", bytes / 1024);
	else
		snprintf(buf, len, "%zu B", bytes);
}

int iobuf_set_config_print(const struct iobuf_set_config *cfg, FILE *out)
{
	struct iobuf_set_config dflt;
	char a[32], b[32];

	if (!out)
		return -EINVAL;
	if (!cfg) {
		iobuf_set_config_default(&dflt);
		cfg = &dflt;
	}
	fprintf(out, "tier  name     buffer     capacity  bytes\n");
	for (int t = 0; t < IOBUF_TIER_COUNT; t++) {
		human(a, sizeof(a), IOBUF_TIER_SIZE(t));
		human(b, sizeof(b), (size_t)cfg->capacity[t] * IOBUF_TIER_SIZE(t));
		fprintf(out, "%-4d  %-7s  %-9s  %8u  %s\n", t, tier_names[t], a, cfg->capacity[t], b);
	}
	human(b, sizeof(b), iobuf_set_footprint(cfg));
	fprintf(out, "total                           %s\n", b);
	return ferror(out) ? -EIO : 0;
}

struct iobuf_set *iobuf_set_create(const struct iobuf_set_config *cfg, int *err)
{
	struct iobuf_set_config dflt;
	struct iobuf_set *s = NULL;
	int rc = -EINVAL, tiers = 0;
	unsigned owner;

	if (!cfg) {
		iobuf_set_config_default(&dflt);
		cfg = &dflt;
	}
	if (cfg->flags & ~(unsigned)IOBUF_SET_SPILL)
		goto fail;
	for (int t = 0; t < IOBUF_TIER_COUNT; t++) {
		if (cfg->capacity[t] > IOBUF_POOL_MAX_CAPACITY)
			goto fail;
		tiers += cfg->capacity[t] > 0;
	}
	if (tiers == 0)
		goto fail;
	if (posix_memalign((void **)&s, IOBUF_CACHELINE, sizeof(*s)) != 0) {
		s = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	memset(s, 0, sizeof(*s));
	if (iobuf__kinds_init(&s->kinds) < 0) {
		free(s);
		s = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	s->flags = cfg->flags;
	s->ready_fd = -1;
	owner = iobuf__owner_next(true);
	for (int t = 0; t < IOBUF_TIER_COUNT; t++) {
		struct iobuf_pool_config pc = {
			.buf_size = IOBUF_TIER_SIZE(t),
			.capacity = cfg->capacity[t],
			.arena_flags = cfg->arena_flags,
			.tag = (unsigned)t,
			.magazine = cfg->magazine,
		};

		if (pc.capacity == 0)
			continue;
		s->pool[t] = iobuf__pool_create_in_set(&pc, owner, &rc);
		if (!s->pool[t])
			goto fail;
	}
	if (err)
		*err = 0;
	return s;
fail:
	iobuf_set_destroy(s);
	if (err)
		*err = rc;
	return NULL;
}

void iobuf_set_destroy(struct iobuf_set *s)
{
	if (!s)
		return;
	for (int t = 0; t < IOBUF_TIER_COUNT; t++)
		iobuf_pool_destroy(s->pool[t]);
	if (s->ready_fd >= 0)
		close(s->ready_fd); /* destroy runs alone: no iobuf_set_ready_fd() is making it */
	iobuf__kinds_fini(&s->kinds);
	free(s);
}

struct iobuf_pool *iobuf_set_pool(const struct iobuf_set *s, int tier)
{
	if (!s || tier < 0 || tier >= IOBUF_TIER_COUNT)
		return NULL;
	return s->pool[tier];
}

int iobuf__set_spill(struct iobuf_set *s, int tier, int (*try_tier)(void *ctx, int tier), void *ctx)
{
	if (!(s->flags & IOBUF_SET_SPILL))
		return -ENOBUFS;
	for (int t = tier + 1; t < IOBUF_TIER_COUNT; t++) {
		if (s->pool[t] && try_tier(ctx, t) == 0) {
			iobuf__faa_64(&s->spills, 1);
			return 0;
		}
	}
	return -ENOBUFS;
}

struct get_ctx {
	struct iobuf_set *set;
	iobuf_handle_t *h;
};

static int get_from(void *ctx, int t)
{
	struct get_ctx *g = ctx;

	return iobuf_pool_get(g->set->pool[t], g->h);
}

int iobuf_get(struct iobuf_set *s, size_t size, iobuf_handle_t *h)
{
	int t = iobuf_tier_for_size(size), rc;

	if (IOBUF_UNLIKELY(!h))
		return -EINVAL;
	*h = IOBUF_HANDLE_NONE;
	if (IOBUF_UNLIKELY(!s))
		return -EINVAL;
	if (IOBUF_UNLIKELY(t < 0))
		return t;
	rc = s->pool[t] ? iobuf_pool_get(s->pool[t], h) : -ENOBUFS;
	if (IOBUF_UNLIKELY(rc == -ENOBUFS))
		rc = iobuf__set_spill(s, t, get_from, &(struct get_ctx){s, h});
	return rc;
}

int iobuf_get_wait(struct iobuf_set *s, size_t size, iobuf_handle_t *h, int64_t timeout_ns)
{
	int t = iobuf_tier_for_size(size);

	if (!h)
		return -EINVAL;
	*h = IOBUF_HANDLE_NONE;
	if (!s)
		return -EINVAL;
	if (t < 0)
		return t;
	if ((s->flags & IOBUF_SET_SPILL) && iobuf_get(s, size, h) == 0)
		return 0;
	if (!s->pool[t])
		return -ENOBUFS; /* no buffer of this tier, ever: as iobuf_get() says */
	return iobuf_pool_get_wait(s->pool[t], h, timeout_ns);
}

int iobuf_put(struct iobuf_set *s, iobuf_handle_t h)
{
	struct iobuf_pool *p;

	if (IOBUF_UNLIKELY(!s))
		return -EINVAL;
	p = s->pool[iobuf_handle_tag(h)];
	if (IOBUF_UNLIKELY(!p))
		return -EINVAL;
	return iobuf_pool_put(p, h);
}

void *iobuf_buf(const struct iobuf_set *s, iobuf_handle_t h)
{
	if (!s)
		return NULL;
	return iobuf_pool_buf(s->pool[iobuf_handle_tag(h)], h);
}

size_t iobuf_handle_capacity(iobuf_handle_t h)
{
	/* Only a set's handles name a tier; a held generation is odd. */
	return iobuf__handle_of_set(h) && (iobuf_handle_generation(h) & 1) ? IOBUF_TIER_SIZE(iobuf_handle_tag(h)) : 0;
}

/* s->ready_fd while the first iobuf_set_ready_fd() makes it and hands it to the pools. */
#define FD_MAKING (-2)

int iobuf_set_ready_fd(struct iobuf_set *s)
{
	int fd, none = -1;

	if (!s)
		return -EINVAL;
	/* One caller makes it; the others wait until every pool has it, so none returns it early. */
	while ((fd = iobuf__load_int_acq(&s->ready_fd)) == FD_MAKING)
		sched_yield();
	if (fd >= 0)
		return fd;
	if (!iobuf__cas_int_acqrel(&s->ready_fd, &none, FD_MAKING))
		return iobuf_set_ready_fd(s); /* another caller is making it */
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;

		iobuf__store_int_rel(&s->ready_fd, -1);
		return rc;
	}
	for (int t = 0; t < IOBUF_TIER_COUNT; t++)
		if (s->pool[t])
			iobuf__pool_adopt_ready_fd(s->pool[t], fd);
	/* Published after every pool adopted it (the pools' own CAS publishes it to their gets). */
	iobuf__store_int_rel(&s->ready_fd, fd);
	return fd;
}

int iobuf_set_stats(const struct iobuf_set *s, struct iobuf_set_stats *st)
{
	if (!s || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	for (int t = 0; t < IOBUF_TIER_COUNT; t++)
		if (s->pool[t])
			iobuf_pool_stats(s->pool[t], &st->tier[t]);
	st->spills = iobuf__load_64((uint64_t *)&s->spills);
	return 0;
}

int iobuf_set_stats_print(const struct iobuf_set *s, FILE *out)
{
	struct iobuf_set_stats st;

	if (!s || !out)
		return -EINVAL;
	iobuf_set_stats(s, &st);
	fprintf(out, "tier    size      cap   free cached in_use  high~       gets        puts  empty  waits  refused(inval/already/stale)\n");
	for (int t = 0; t < IOBUF_TIER_COUNT; t++) {
		const struct iobuf_pool_stats *p = &st.tier[t];

		if (!s->pool[t])
			continue;
		fprintf(out, "%-6s %6zu %8u %6u %6u %6u %5u %11llu %11llu %6llu %6llu  %llu/%llu/%llu\n", tier_names[t],
			IOBUF_TIER_SIZE(t), p->capacity, p->free, p->cached, p->in_use, p->high_water_sampled,
			(unsigned long long)p->gets, (unsigned long long)p->puts, (unsigned long long)p->empty_gets,
			(unsigned long long)p->waits, (unsigned long long)p->refused_invalid,
			(unsigned long long)p->refused_already, (unsigned long long)p->refused_stale);
	}
	fprintf(out, "spills: %llu\n", (unsigned long long)st.spills);
	return ferror(out) ? -EIO : 0;
}
