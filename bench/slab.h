/* SPDX-License-Identifier: MIT */
/*
 * slab.h - buffers for the free-list peers (ck, urcu, rte_ring): @cap
 * buffers of @size in an iobuf arena mapped with the flags iobuf's pool
 * gets, at the stride iobuf's pool uses, so only the free list differs.
 */
#ifndef IOBUF_BENCH_SLAB_H
#define IOBUF_BENCH_SLAB_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <iobuf/arena.h>

/* The arena flags of every pool in the benchmark, iobuf's included. */
#define BENCH_ARENA_FLAGS (IOBUF_ARENA_HUGE | IOBUF_ARENA_PREFAULT)

static inline void set_why(char *why, size_t len, const char *what, int rc)
{
	snprintf(why, len, "%s: %s", what, strerror(-rc));
}

struct slab {
	struct iobuf_arena arena;
	size_t stride;
	uint32_t cap;
};

static inline int slab_init(struct slab *s, size_t size, uint32_t cap, char *why, size_t whylen)
{
	size_t page = iobuf_page_size(), align = 1;
	int rc;

	while (align < size && align < page)
		align <<= 1;
	s->stride = (size + align - 1) / align * align;
	s->cap = cap;
	rc = iobuf_arena_init(&s->arena, s->stride * cap, 0, BENCH_ARENA_FLAGS);
	if (rc < 0)
		set_why(why, whylen, "iobuf_arena_init", rc);
	return rc;
}

static inline void *slab_buf(const struct slab *s, uint32_t i)
{
	return (uint8_t *)s->arena.base + (size_t)i * s->stride;
}

#endif /* IOBUF_BENCH_SLAB_H */
