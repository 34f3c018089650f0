/* SPDX-License-Identifier: MIT */
/*
 * peers_malloc.c - one general-purpose allocator as a peer: get is
 * malloc(size), put is free().  Built once per allocator (the same source,
 * another link), because each replaces malloc for the whole process:
 *
 *   BENCH_MALLOC_NAME  the row's name ("glibc", "jemalloc", ...)
 *   BENCH_MALLOC_LIB   a piece of the file name of the library that must
 *                      provide malloc ("libc.so", "libjemalloc", ...)
 *
 * At start the worker asks the dynamic linker which object malloc resolved
 * to and refuses to run (the row says skipped, and why) when it is not the
 * allocator the row is named after.  Compiled with -fno-builtin-malloc
 * -fno-builtin-free, so the compiler cannot pair and drop the calls.
 *
 * Each allocator runs with its defaults: thread caches on, no tuning
 * either way.  A malloc never reports empty, so W5 does not apply.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#ifndef BENCH_MALLOC_NAME
#error "define BENCH_MALLOC_NAME"
#endif
#ifndef BENCH_MALLOC_LIB
#error "define BENCH_MALLOC_LIB"
#endif

struct mpeer {
	size_t size;
};

BENCH_NO_THREAD_CONTEXT(mal)

static inline bool mal_get(void *t, bench_tok_t *tok)
{
	const struct mpeer *m = t;
	void *p = malloc(m->size);

	*tok = (bench_tok_t)(uintptr_t)p;
	return p != NULL;
}

static inline bool mal_put(void *t, bench_tok_t tok)
{
	(void)t;
	free((void *)(uintptr_t)tok);
	return true;
}

static inline void *mal_addr(void *t, bench_tok_t tok)
{
	(void)t;
	return (void *)(uintptr_t)tok;
}

BENCH_SINGLE_BULK(mal)
#define BENCH_PEER mal
#include "workloads.h"

static int mal_create(void **shared, size_t size, uint32_t cap, int w, char *why, size_t whylen)
{
	static struct mpeer m;

	(void)cap;
	m.size = size;
	*shared = &m;
	return 0;
}

static void mal_destroy(void *shared)
{
	(void)shared;
}

const struct bench_peer bench_peers[] = {
    {BENCH_MALLOC_NAME, &mal_ops, mal_create, mal_destroy, NULL, "malloc never reports empty (unbounded)"},
};
const int bench_npeers = 1;

int bench_worker_init(int argc, char **argv, char *why, size_t whylen)
{
	void *(*volatile m)(size_t) = malloc;
	Dl_info info;

	(void)argc;
	(void)argv;
	if (!dladdr((void *)m, &info) || !info.dli_fname) {
		snprintf(why, whylen, "cannot tell which library provides malloc");
		return -ENOENT;
	}
	if (!strstr(info.dli_fname, BENCH_MALLOC_LIB)) {
		snprintf(why, whylen, "malloc resolved to %s, not %s", info.dli_fname, BENCH_MALLOC_LIB);
		return -ENOENT;
	}
	printf("info %s: malloc from %s\n", BENCH_MALLOC_NAME, info.dli_fname);
	return 0;
}

void bench_worker_fini(void) {}
