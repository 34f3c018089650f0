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
#include <sys/mman.h>
#include <unistd.h>

#include <iobuf/tiers.h>

#include "atomic.h"
#include "kind.h"
#include "pool.h"
#include "tiers.h"
#include "util.h"

#define FALLBACK_SIZE_DEFAULT ((size_t)1 << 20)
#define FALLBACK_SIZE_MAX ((size_t)1 << 30) /* a slice's offset and length are 32 bits */

static const uint32_t default_capacity[IOBUF_TIER_COUNT] = {4096, 4096, 2048, 1024, 512, 128, 32, 8};
static const char *const tier_names[IOBUF_TIER_COUNT] = {"PICO", "NANO", "MICRO", "SMALL",
							   "MEDIUM", "LARGE", "HUGE", "GIANT"};

struct iobuf_set {
	struct iobuf_pool *pool[IOBUF_TIER_COUNT];
	unsigned flags;
	int ready_fd; /* -1 until iobuf_set_ready_fd() */
	struct iobuf_pool *fallback; /* NULL: none */
	void (*on_leak)(void *arg, const struct iobuf_leak *leak);
	void *on_leak_arg;
	alignas(IOBUF_CACHELINE) uint64_t spills; /* written only when a get spills */
	uint64_t fallback_gets;
	struct iobuf__kinds kinds;
};

/* True when @h names a buffer of @s's fallback (its stamp and an index below its capacity). */
static inline bool of_fallback(const struct iobuf_set *s, iobuf_handle_t h)
{
	const struct iobuf_pool_shape *fb = (const struct iobuf_pool_shape *)(const void *)s->fallback;

	return IOBUF_UNLIKELY(fb != NULL) && iobuf__handle_index_for(h, fb->stamp) < fb->capacity;
}

static inline struct iobuf_pool *route(const struct iobuf_set *s, iobuf_handle_t h)
{
	return of_fallback(s, h) ? s->fallback : s->pool[iobuf_handle_tag(h)];
}

struct iobuf_pool *iobuf__set_route(const struct iobuf_set *s, iobuf_handle_t h)
{
	return s ? route(s, h) : NULL;
}

bool iobuf__set_of_fallback(const struct iobuf_set *s, iobuf_handle_t h)
{
	return s && of_fallback(s, h);
}

size_t iobuf__set_max_size(const struct iobuf_set *s)
{
	size_t fb = s->fallback ? iobuf_pool_buf_size(s->fallback) : 0;

	return fb > IOBUF_MAX_SIZE ? fb : IOBUF_MAX_SIZE;
}

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
	if (cfg->flags & ~(unsigned)(IOBUF_SET_SPILL | IOBUF_SET_TRACK_SITES | IOBUF_SET_QUIET_LEAKS))
		goto fail;
	for (int t = 0; t < IOBUF_TIER_COUNT; t++) {
		if (cfg->capacity[t] > IOBUF_POOL_MAX_CAPACITY)
			goto fail;
		tiers += cfg->capacity[t] > 0;
	}
	if (tiers == 0 || cfg->fallback_size > FALLBACK_SIZE_MAX || cfg->fallback_count > IOBUF_POOL_MAX_CAPACITY)
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
	s->on_leak = cfg->on_leak;
	s->on_leak_arg = cfg->on_leak_arg;
	owner = iobuf__owner_next(true);
	for (int t = 0; t < IOBUF_TIER_COUNT; t++) {
		struct iobuf_pool_config pc = {
			.buf_size = IOBUF_TIER_SIZE(t),
			.capacity = cfg->capacity[t],
			.arena_flags = cfg->arena_flags,
			.tag = (unsigned)t,
			.magazine = cfg->magazine,
			/* The set reports its leaks itself, all tiers in one report. */
			.flags = IOBUF_POOL_QUIET_LEAKS | (cfg->flags & IOBUF_SET_TRACK_SITES ? IOBUF_POOL_TRACK_SITES : 0),
		};

		if (pc.capacity == 0)
			continue;
		s->pool[t] = iobuf__pool_create_in_set(&pc, owner, &rc);
		if (!s->pool[t])
			goto fail;
	}
	if (cfg->fallback_count) {
		/* Mapped, not prefaulted nor locked whatever the tiers are: its pages come and go with its buffers. */
		struct iobuf_pool_config pc = {
			.buf_size = cfg->fallback_size ? cfg->fallback_size : FALLBACK_SIZE_DEFAULT,
			.capacity = cfg->fallback_count,
			.tag = IOBUF_TIER_GIANT,
			.flags = IOBUF_POOL_QUIET_LEAKS | (cfg->flags & IOBUF_SET_TRACK_SITES ? IOBUF_POOL_TRACK_SITES : 0),
		};

		s->fallback = iobuf__pool_create_in_set(&pc, iobuf__owner_next(true), &rc);
		if (!s->fallback)
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
	if (!(s->flags & IOBUF_SET_QUIET_LEAKS)) {
		struct iobuf__leak_tally tally = {0};
		int n = iobuf_set_leaks(s, s->on_leak ? s->on_leak : iobuf__leak_stderr,
					s->on_leak ? s->on_leak_arg : &tally);

		if (!s->on_leak)
			iobuf__leak_summary("set", n, &tally);
	}
	for (int t = 0; t < IOBUF_TIER_COUNT; t++)
		iobuf_pool_destroy(s->pool[t]);
	iobuf_pool_destroy(s->fallback);
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
	const void *site; /* the set's get's caller, for a pool that records sites */
};

/*
 * What a pool's get of the set returned, not 0: IOBUF__POOL_NOTE (the
 * pool records sites: note our caller's) becomes 0.
 */
static int got(struct iobuf_set *s, iobuf_handle_t h, int rc, const void *site)
{
	if (rc == IOBUF__POOL_NOTE) {
		iobuf__pool_note_site(s->pool[iobuf_handle_tag(h)], h, site);
		rc = 0;
	}
	return rc;
}

static int get_from(void *ctx, int t)
{
	struct get_ctx *g = ctx;
	int rc = iobuf__pool_get_noted(g->set->pool[t], g->h);

	return got(g->set, *g->h, rc, g->site);
}

/* The rest of a get of tier @t whose pool returned @rc, not 0: the site to note, or the spill. */
static __attribute__((noinline, cold)) int get_rest(struct iobuf_set *s, int t, size_t size, iobuf_handle_t *h,
						     int rc, const void *site)
{
	if (rc != -ENOBUFS)
		return got(s, *h, rc, site);
	rc = iobuf__set_spill(s, t, get_from, &(struct get_ctx){s, h, site});
	/* @size 0: a waiting get, which waits for its tier rather than take the fallback's. */
	if (rc == -ENOBUFS && size && s->fallback)
		rc = iobuf__set_fallback_get(s, size, h);
	return rc;
}

/*
 * A get of tier @t (0 .. 7) into *@h (NONE).  Always inline, so that the
 * site its cold path takes, __builtin_return_address(0), is the caller of
 * the public get it is part of.
 */
static inline __attribute__((always_inline)) int get_tier(struct iobuf_set *s, int t, size_t size, iobuf_handle_t *h)
{
	int rc = s->pool[t] ? iobuf__pool_get_noted(s->pool[t], h) : -ENOBUFS;

	if (IOBUF_UNLIKELY(rc != 0))
		rc = get_rest(s, t, size, h, rc, __builtin_return_address(0));
	return rc;
}

int iobuf_get(struct iobuf_set *s, size_t size, iobuf_handle_t *h)
{
	int t = iobuf_tier_for_size(size);

	if (IOBUF_UNLIKELY(!h))
		return -EINVAL;
	*h = IOBUF_HANDLE_NONE;
	if (IOBUF_UNLIKELY(!s))
		return -EINVAL;
	if (IOBUF_UNLIKELY(t < 0))
		return t == -EMSGSIZE && s->fallback ? iobuf__set_fallback_get(s, size, h) : t;
	return get_tier(s, t, size, h);
}

int iobuf__set_get_tiers(struct iobuf_set *s, size_t size, iobuf_handle_t *h)
{
	int t = iobuf_tier_for_size(size);

	*h = IOBUF_HANDLE_NONE;
	if (t < 0)
		return t;
	return get_tier(s, t, 0, h); /* @size 0: no fallback, as a waiting get */
}

int iobuf__set_fallback_get(struct iobuf_set *s, size_t size, iobuf_handle_t *h)
{
	int rc;

	if (!s->fallback)
		return size > IOBUF_MAX_SIZE ? -EMSGSIZE : -ENOBUFS;
	if (size > iobuf_pool_buf_size(s->fallback))
		return size > IOBUF_MAX_SIZE ? -EMSGSIZE : -ENOBUFS;
	rc = iobuf_pool_get(s->fallback, h);
	if (rc == 0)
		iobuf__faa_64(&s->fallback_gets, 1);
	return rc;
}

/* The last holder of a fallback buffer put it: its pages go back to the kernel, then the index to the pool. */
static int fallback_put(struct iobuf_set *s, iobuf_handle_t h)
{
	int rc = iobuf__pool_release(s->fallback, h);
	uint32_t idx;

	if (rc < 0 || rc == IOBUF__POOL_KEPT)
		return rc < 0 ? rc : 0;
	idx = (uint32_t)rc;
	(void)madvise(iobuf_pool_index_buf(s->fallback, idx), iobuf_pool_stride(s->fallback), MADV_DONTNEED);
	iobuf__pool_flush(s->fallback, &idx, 1);
	return 0;
}

int iobuf_get_wait(struct iobuf_set *s, size_t size, iobuf_handle_t *h, int64_t timeout_ns)
{
	int t = iobuf_tier_for_size(size), rc;

	if (!h)
		return -EINVAL;
	*h = IOBUF_HANDLE_NONE;
	if (!s)
		return -EINVAL;
	if (t < 0)
		return t;
	if ((s->flags & IOBUF_SET_SPILL) && get_tier(s, t, 0, h) == 0)
		return 0;
	if (!s->pool[t])
		return -ENOBUFS; /* no buffer of this tier, ever: as iobuf_get() says */
	rc = iobuf__pool_get_wait_noted(s->pool[t], h, timeout_ns);
	return got(s, *h, rc, __builtin_return_address(0));
}

int iobuf_put(struct iobuf_set *s, iobuf_handle_t h)
{
	struct iobuf_pool *p;

	if (IOBUF_UNLIKELY(!s))
		return -EINVAL;
	if (IOBUF_UNLIKELY(of_fallback(s, h)))
		return fallback_put(s, h);
	p = s->pool[iobuf_handle_tag(h)];
	if (IOBUF_UNLIKELY(!p))
		return -EINVAL;
	return iobuf_pool_put(p, h);
}

void *iobuf_buf(const struct iobuf_set *s, iobuf_handle_t h)
{
	if (!s)
		return NULL;
	return iobuf_pool_buf(route(s, h), h);
}

size_t iobuf_capacity(const struct iobuf_set *s, iobuf_handle_t h)
{
	struct iobuf_pool *p = iobuf__set_route(s, h);

	return p && iobuf_pool_buf(p, h) ? iobuf_pool_buf_size(p) : 0;
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

int iobuf_set_leaks(const struct iobuf_set *s, void (*fn)(void *arg, const struct iobuf_leak *leak), void *arg)
{
	int n = 0;

	if (!s)
		return -EINVAL;
	for (int t = 0; t < IOBUF_TIER_COUNT; t++)
		if (s->pool[t])
			n += iobuf_pool_leaks(s->pool[t], fn, arg);
	if (s->fallback)
		n += iobuf_pool_leaks(s->fallback, fn, arg); /* reported as the largest tier's, with their own size */
	return n;
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
	if (s->fallback)
		iobuf_pool_stats(s->fallback, &st->fallback);
	st->fallback_gets = iobuf__load_64((uint64_t *)&s->fallback_gets);
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
	if (s->fallback)
		fprintf(out, "fallback: %u buffers of %zu bytes, %u in use, %llu gets served\n", st.fallback.capacity,
			iobuf_pool_buf_size(s->fallback), st.fallback.in_use, (unsigned long long)st.fallback_gets);
	return ferror(out) ? -EIO : 0;
}
