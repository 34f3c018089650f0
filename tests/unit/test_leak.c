/* SPDX-License-Identifier: MIT */
/*
 * test_leak.c - the leak report: iobuf_pool_leaks(), iobuf_set_leaks(),
 * iobuf_leak_print(), the report of a destroy (a callback, the default
 * lines on stderr, quiet), and the sites of IOBUF_POOL_TRACK_SITES and
 * IOBUF_DEBUG=sites.  Linked with -rdynamic, so that dladdr() names this
 * file's functions.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <iobuf/cache.h>
#include <iobuf/pool.h>
#include <iobuf/slice.h>
#include <iobuf/tiers.h>

#define MAX_LEAKS 64

/* What a callback saw. */
struct seen {
	int calls;
	struct iobuf_leak leak[MAX_LEAKS];
};

static void collect(void *arg, const struct iobuf_leak *leak)
{
	struct seen *s = arg;

	assert_true(s->calls < MAX_LEAKS);
	s->leak[s->calls++] = *leak;
}

static struct iobuf_pool *pool_with(uint32_t capacity, unsigned tag, unsigned flags, struct seen *seen)
{
	struct iobuf_pool_config cfg = {
		.buf_size = 64,
		.capacity = capacity,
		.tag = tag,
		.flags = flags,
		.on_leak = seen ? collect : NULL,
		.on_leak_arg = seen,
	};
	int err = 1;
	struct iobuf_pool *p = iobuf_pool_create(&cfg, &err);

	assert_non_null(p);
	assert_int_equal(err, 0);
	return p;
}

static struct iobuf_set *set_with(unsigned flags, struct seen *seen)
{
	struct iobuf_set_config cfg = {
		.capacity = {[IOBUF_TIER_NANO] = 64, [IOBUF_TIER_MEDIUM] = 16},
		.flags = flags,
		.on_leak = seen ? collect : NULL,
		.on_leak_arg = seen,
	};
	int err = 1;
	struct iobuf_set *s = iobuf_set_create(&cfg, &err);

	assert_non_null(s);
	assert_int_equal(err, 0);
	return s;
}

/* ---- stderr, captured ----------------------------------------------------------- */

struct capture {
	FILE *file;
	int saved;
};

static void capture_start(struct capture *c)
{
	fflush(stderr);
	c->file = tmpfile();
	assert_non_null(c->file);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
}

/* Stop capturing; returns what was written (free it). */
static char *capture_stop(struct capture *c)
{
	long n;
	char *text;

	fflush(stderr);
	assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
	close(c->saved);
	n = ftell(c->file);
	assert_true(n >= 0);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	rewind(c->file);
	assert_int_equal(fread(text, 1, (size_t)n, c->file), (size_t)n);
	fclose(c->file);
	return text;
}

/* The lines of @text that hold @needle ("": every line). */
static int count_lines(const char *text, const char *needle)
{
	int n = 0;

	for (const char *l = text; *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		char line[1024];

		snprintf(line, sizeof(line), "%.*s", (int)len, l);
		n += strstr(line, needle) != NULL;
		l += len + (end != NULL);
	}
	return n;
}

/* What iobuf_leak_print() writes for @leak. */
static char *printed(const struct iobuf_leak *leak)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(iobuf_leak_print(leak, f), 0);
	fclose(f);
	return text;
}

/* ---- the fields ----------------------------------------------------------------- */

/* Every held buffer is reported once, in index order, with its handle, generation, holders and length. */
static void test_pool_leaks_fields(void **state)
{
	struct iobuf_pool *p = pool_with(8, 3, IOBUF_POOL_QUIET_LEAKS, NULL);
	iobuf_handle_t h[4], freed;
	struct seen seen = {0};

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(iobuf_pool_get(p, &h[i]), 0);
	assert_int_equal(iobuf_pool_get(p, &freed), 0);
	assert_int_equal(iobuf_pool_put(p, freed), 0);
	assert_int_equal(iobuf_pool_put(p, h[2]), 0);
	assert_int_equal(iobuf_pool_hold(p, h[1], 2), 0);
	assert_int_equal(iobuf_pool_setlen(p, h[3], 12), 0);

	assert_int_equal(iobuf_pool_leaks(p, collect, &seen), 3);
	assert_int_equal(seen.calls, 3);
	for (int i = 0; i < 3; i++) {
		const struct iobuf_leak *l = &seen.leak[i];
		iobuf_handle_t want = h[i < 2 ? i : 3];

		if (i > 0)
			assert_true(l->index > seen.leak[i - 1].index);
		assert_int_equal(l->handle, want);
		assert_int_equal(l->index, iobuf_handle_index(want));
		assert_int_equal(l->generation, iobuf_handle_generation(want));
		assert_int_equal(l->tag, 3);
		assert_false(l->in_set);
		assert_false(l->sites);
		assert_null(l->site);
		assert_int_equal(l->buf_size, 64);
		assert_int_equal(l->holders, want == h[1] ? 3 : 1);
		assert_int_equal(l->len, want == h[3] ? 12 : 0);
	}
	/* The handle reported is the one to put. */
	assert_int_equal(iobuf_pool_put(p, h[0]), 0);
	assert_int_equal(iobuf_pool_put(p, h[3]), 0);
	assert_int_equal(iobuf_pool_leaks(p, NULL, NULL), 1);
	iobuf_pool_destroy(p);
}

/* A set reports each tier's buffers with the tier as the tag. */
static void test_set_leaks_fields(void **state)
{
	struct iobuf_set *s = set_with(IOBUF_SET_QUIET_LEAKS, NULL);
	iobuf_handle_t small, medium;
	struct seen seen = {0};

	(void)state;
	assert_int_equal(iobuf_get(s, 4096, &medium), 0);
	assert_int_equal(iobuf_get(s, 20, &small), 0);
	assert_int_equal(iobuf_setlen(s, medium, 4000), 0);
	assert_int_equal(iobuf_set_leaks(s, collect, &seen), 2);
	assert_int_equal(seen.calls, 2);
	/* Smallest tier first. */
	assert_int_equal(seen.leak[0].handle, small);
	assert_int_equal(seen.leak[0].tag, IOBUF_TIER_NANO);
	assert_int_equal(seen.leak[0].buf_size, 64);
	assert_int_equal(seen.leak[0].len, 0);
	assert_int_equal(seen.leak[1].handle, medium);
	assert_int_equal(seen.leak[1].tag, IOBUF_TIER_MEDIUM);
	assert_int_equal(seen.leak[1].buf_size, 4096);
	assert_int_equal(seen.leak[1].len, 4000);
	for (int i = 0; i < 2; i++) {
		assert_true(seen.leak[i].in_set);
		assert_int_equal(seen.leak[i].holders, 1);
		assert_null(seen.leak[i].site);
	}
	assert_int_equal(iobuf_put(s, small), 0);
	assert_int_equal(iobuf_put(s, medium), 0);
	assert_int_equal(iobuf_set_leaks(s, NULL, NULL), 0);
	iobuf_set_destroy(s);
}

/* A shared buffer is one leak with its holder count, however many slices hold it. */
static void test_shared_reported_with_holders(void **state)
{
	struct iobuf_set *s = set_with(IOBUF_SET_QUIET_LEAKS, NULL);
	struct iobuf_slice a, b, c;
	iobuf_handle_t h;
	struct seen seen = {0};
	char *line;

	(void)state;
	assert_int_equal(iobuf_get(s, 64, &h), 0);
	assert_int_equal(iobuf_setlen(s, h, 48), 0);
	assert_int_equal(iobuf_slice_from(s, h, &a), 0);
	assert_int_equal(iobuf_slice_split(s, &a, 16, &b), 0);
	assert_int_equal(iobuf_slice_clone(s, &b, &c), 0);
	assert_int_equal(iobuf_set_leaks(s, collect, &seen), 1);
	assert_int_equal(seen.leak[0].handle, h);
	assert_int_equal(seen.leak[0].holders, 3);
	assert_int_equal(seen.leak[0].len, 48);
	line = printed(&seen.leak[0]);
	assert_non_null(strstr(line, ", holders 3,"));
	free(line);

	assert_int_equal(iobuf_slice_put(s, &a), 0);
	seen.calls = 0;
	assert_int_equal(iobuf_set_leaks(s, collect, &seen), 1);
	assert_int_equal(seen.leak[0].holders, 2);
	assert_int_equal(iobuf_slice_put(s, &b), 0);
	assert_int_equal(iobuf_slice_put(s, &c), 0);
	assert_int_equal(iobuf_set_leaks(s, NULL, NULL), 0);
	iobuf_set_destroy(s);
}

/* Free buffers are no leaks, in the queue or in a live cache's stacks. */
static void test_free_and_cached_are_not_leaks(void **state)
{
	struct iobuf_set *s = set_with(IOBUF_SET_QUIET_LEAKS, NULL);
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
	iobuf_handle_t h[8];

	(void)state;
	assert_non_null(c);
	assert_int_equal(iobuf_cache_get_bulk(c, 64, h, 8), 0);
	assert_int_equal(iobuf_set_leaks(s, NULL, NULL), 8);
	assert_int_equal(iobuf_cache_put_bulk(c, h, 8), 0);
	assert_true(iobuf_cache_count(c, IOBUF_TIER_NANO) > 0);
	assert_int_equal(iobuf_set_leaks(s, NULL, NULL), 0);
	iobuf_cache_destroy(c);
	assert_int_equal(iobuf_set_leaks(s, NULL, NULL), 0);
	iobuf_set_destroy(s);
}

/* The callback may put what it is told of: afterwards nothing is held. */
static void put_back(void *arg, const struct iobuf_leak *leak)
{
	assert_int_equal(iobuf_pool_put(arg, leak->handle), 0);
}

static void test_callback_may_put(void **state)
{
	struct iobuf_pool *p = pool_with(16, 0, IOBUF_POOL_QUIET_LEAKS, NULL);
	iobuf_handle_t h[5];

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(iobuf_pool_get(p, &h[i]), 0);
	assert_int_equal(iobuf_pool_hold(p, h[2], 1), 0);
	assert_int_equal(iobuf_pool_leaks(p, put_back, p), 5);
	assert_int_equal(iobuf_pool_leaks(p, NULL, NULL), 1); /* h[2] had two holders */
	assert_int_equal(iobuf_pool_leaks(p, put_back, p), 1);
	assert_int_equal(iobuf_pool_leaks(p, NULL, NULL), 0);
	iobuf_pool_destroy(p);
}

/* ---- the report of a destroy ------------------------------------------------------ */

/* Destroys @p, @q, @s and @t (each may be NULL); stderr must hear nothing of it. */
static void destroy_silently(struct iobuf_pool *p, struct iobuf_pool *q, struct iobuf_set *s, struct iobuf_set *t)
{
	struct capture cap;
	char *err;

	capture_start(&cap);
	if (p)
		iobuf_pool_destroy(p);
	if (q)
		iobuf_pool_destroy(q);
	if (s)
		iobuf_set_destroy(s);
	if (t)
		iobuf_set_destroy(t);
	err = capture_stop(&cap);
	assert_string_equal(err, "");
	free(err);
}

/* Destroy hands each buffer still held to the config's callback, and prints nothing. */
static void test_destroy_calls_on_leak(void **state)
{
	struct seen pseen = {0}, sseen = {0};
	struct iobuf_pool *p = pool_with(8, 5, 0, &pseen);
	struct iobuf_set *s = set_with(0, &sseen);
	iobuf_handle_t h[3], sh;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(iobuf_pool_get(p, &h[i]), 0);
	assert_int_equal(iobuf_pool_put(p, h[1]), 0);
	assert_int_equal(iobuf_get(s, 3000, &sh), 0);
	assert_int_equal(iobuf_hold(s, sh, 1), 0);

	destroy_silently(p, NULL, s, NULL);

	assert_int_equal(pseen.calls, 2);
	assert_int_equal(pseen.leak[0].handle, h[0]);
	assert_int_equal(pseen.leak[1].handle, h[2]);
	assert_int_equal(pseen.leak[1].tag, 5);
	assert_int_equal(sseen.calls, 1); /* once, with its two holders */
	assert_int_equal(sseen.leak[0].handle, sh);
	assert_int_equal(sseen.leak[0].holders, 2);
	assert_int_equal(sseen.leak[0].tag, IOBUF_TIER_MEDIUM);
}

/* By default: one line per buffer on stderr, then a summary line. */
static void test_destroy_default_prints(void **state)
{
	struct iobuf_pool *p = pool_with(8, 2, 0, NULL);
	struct iobuf_set *s = set_with(0, NULL);
	iobuf_handle_t h[2], sh[3];
	struct capture cap;
	char *err;

	(void)state;
	assert_int_equal(iobuf_pool_get(p, &h[0]), 0);
	assert_int_equal(iobuf_pool_get(p, &h[1]), 0);
	assert_int_equal(iobuf_pool_hold(p, h[1], 3), 0);
	assert_int_equal(iobuf_pool_setlen(p, h[0], 7), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(iobuf_get(s, i == 2 ? 4096 : 64, &sh[i]), 0);

	capture_start(&cap);
	iobuf_pool_destroy(p);
	err = capture_stop(&cap);
	assert_int_equal(count_lines(err, "iobuf: leak: pool tag 2, index "), 2);
	assert_int_equal(count_lines(err, ", holders 4, "), 1);
	assert_int_equal(count_lines(err, ", holders 1, length 7 of 64 bytes"), 1);
	assert_int_equal(count_lines(err, "iobuf: pool destroyed with 2 buffers still held"), 1);
	assert_int_equal(count_lines(err, "IOBUF_DEBUG=sites"), 1);
	assert_int_equal(count_lines(err, ""), 3); /* three lines, nothing else */
	free(err);

	capture_start(&cap);
	iobuf_set_destroy(s);
	err = capture_stop(&cap);
	assert_int_equal(count_lines(err, "iobuf: leak: tier 1, index "), 2);
	assert_int_equal(count_lines(err, "iobuf: leak: tier 4, index "), 1);
	assert_int_equal(count_lines(err, "of 4096 bytes"), 1);
	assert_int_equal(count_lines(err, "iobuf: set destroyed with 3 buffers still held"), 1);
	assert_int_equal(count_lines(err, ""), 4);
	free(err);
}

/* Quiet: neither the callback nor stderr hears of the buffers held; the count still finds them. */
static void test_destroy_quiet(void **state)
{
	struct seen seen = {0};
	struct iobuf_pool *p = pool_with(8, 0, IOBUF_POOL_QUIET_LEAKS, &seen), *q = pool_with(8, 0, IOBUF_POOL_QUIET_LEAKS, NULL);
	struct iobuf_set *s = set_with(IOBUF_SET_QUIET_LEAKS, &seen), *t = set_with(IOBUF_SET_QUIET_LEAKS, NULL);
	iobuf_handle_t h;

	(void)state;
	assert_int_equal(iobuf_pool_get(p, &h), 0);
	assert_int_equal(iobuf_pool_get(q, &h), 0);
	assert_int_equal(iobuf_get(s, 64, &h), 0);
	assert_int_equal(iobuf_get(t, 64, &h), 0);
	assert_int_equal(iobuf_pool_leaks(q, NULL, NULL), 1);
	assert_int_equal(iobuf_set_leaks(t, NULL, NULL), 1);
	destroy_silently(p, q, s, t);
	assert_int_equal(seen.calls, 0);
}

/* Nothing held, nothing said: not by default, not to a callback. */
static void test_no_report_without_leaks(void **state)
{
	struct seen seen = {0};
	struct iobuf_pool *p = pool_with(32, 0, 0, NULL), *q = pool_with(32, 0, 0, &seen);
	struct iobuf_set *s = set_with(0, NULL), *t = set_with(IOBUF_SET_TRACK_SITES, &seen);
	struct iobuf_cache *c = iobuf_cache_create(s, NULL, NULL);
	iobuf_handle_t h[4];

	(void)state;
	assert_non_null(c);
	assert_int_equal(iobuf_pool_get_bulk(p, h, 4), 0);
	assert_int_equal(iobuf_pool_put_bulk(p, h, 4), 0);
	assert_int_equal(iobuf_pool_get(q, &h[0]), 0);
	assert_int_equal(iobuf_pool_put(q, h[0]), 0);
	assert_int_equal(iobuf_cache_get(c, 64, &h[0]), 0);
	assert_int_equal(iobuf_cache_put(c, h[0]), 0);
	assert_int_equal(iobuf_get(t, 64, &h[0]), 0);
	assert_int_equal(iobuf_put(t, h[0]), 0);
	iobuf_cache_destroy(c);
	assert_int_equal(iobuf_pool_leaks(p, NULL, NULL), 0);
	assert_int_equal(iobuf_set_leaks(s, NULL, NULL), 0);
	destroy_silently(p, q, s, t);
	assert_int_equal(seen.calls, 0);
}

/* ---- sites ---------------------------------------------------------------------- */

/* The function the leaking gets are made in: the sites must name it (exported, for dladdr()). */
void leak_take_here(struct iobuf_pool *p, struct iobuf_set *s, int how, iobuf_handle_t *h);
__attribute__((noinline)) void leak_take_here(struct iobuf_pool *p, struct iobuf_set *s, int how, iobuf_handle_t *h)
{
	int rc = -1;

	switch (how) {
	case 0:
		rc = iobuf_pool_get(p, h);
		break;
	case 1:
		rc = iobuf_pool_get_index(p);
		*h = IOBUF_HANDLE_NONE;
		rc = rc >= 0 ? 0 : rc;
		break;
	case 2:
		rc = iobuf_pool_get_bulk(p, h, 2);
		break;
	case 3:
		rc = iobuf_pool_get_burst(p, h, 2) == 2 ? 0 : -1;
		break;
	case 4:
		rc = iobuf_pool_get_wait(p, h, 0);
		break;
	case 5:
		rc = iobuf_get(s, 64, h);
		break;
	case 6:
		rc = iobuf_get_wait(s, 64, h, -1);
		break;
	case 7:
		rc = iobuf_get(s, 4096, h); /* spills (the tier is empty) */
		break;
	case 8:
		rc = iobuf_get_wait(s, 4096, h, 0); /* spills too */
		break;
	}
	assert_int_equal(rc, 0);
	__asm__ volatile("" ::: "memory"); /* no tail call: the gets return here */
}

/* The function that holds address @site, by dladdr(). */
static const char *function_of(const void *site)
{
	Dl_info info;

	if (!site || dladdr((const char *)site - 1, &info) == 0 || !info.dli_sname)
		return "(none)";
	return info.dli_sname;
}

/* The ELF type of the file @path, read from the file: ET_DYN for a PIE, ET_EXEC for a fixed executable. */
static unsigned elf_type(const char *path)
{
	ElfW(Ehdr) eh;
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_int_equal(fread(&eh, sizeof(eh), 1, f), 1);
	fclose(f);
	assert_memory_equal(eh.e_ident, ELFMAG, SELFMAG);
	return eh.e_type;
}

/* Every get of a pool or a set records its caller; the report names it, with the object and its offset. */
static void test_sites_name_the_caller(void **state)
{
	struct iobuf_pool *p = pool_with(16, 1, IOBUF_POOL_TRACK_SITES | IOBUF_POOL_QUIET_LEAKS, NULL);
	struct iobuf_set_config cfg = {
		.capacity = {[IOBUF_TIER_NANO] = 64, [IOBUF_TIER_LARGE] = 4},
		.flags = IOBUF_SET_SPILL | IOBUF_SET_TRACK_SITES | IOBUF_SET_QUIET_LEAKS,
	};
	struct iobuf_set *s = iobuf_set_create(&cfg, NULL);
	iobuf_handle_t h[2];
	struct seen seen = {0};
	int held = 0;

	(void)state;
	assert_non_null(s);
	for (int how = 0; how <= 4; how++) {
		leak_take_here(p, NULL, how, h);
		held += how == 2 || how == 3 ? 2 : 1;
	}
	seen.calls = 0;
	assert_int_equal(iobuf_pool_leaks(p, collect, &seen), held);
	assert_int_equal(seen.calls, held);
	for (int i = 0; i < seen.calls; i++) {
		assert_true(seen.leak[i].sites);
		assert_string_equal(function_of(seen.leak[i].site), "leak_take_here");
	}

	for (int how = 5; how <= 8; how++)
		leak_take_here(NULL, s, how, h);
	seen.calls = 0;
	assert_int_equal(iobuf_set_leaks(s, collect, &seen), 4);
	assert_int_equal(seen.leak[3].tag, IOBUF_TIER_LARGE); /* the spills' two went to LARGE */
	assert_int_equal(seen.leak[2].tag, IOBUF_TIER_LARGE);
	for (int i = 0; i < seen.calls; i++) {
		char *line = printed(&seen.leak[i]), *obj;
		uintmax_t off = 0;
		Dl_info info;

		assert_true(seen.leak[i].sites);
		assert_string_equal(function_of(seen.leak[i].site), "leak_take_here");
		assert_non_null(strstr(line, ", taken at leak_take_here+0x"));
		/* The object, and the address addr2line takes: an offset from its base (a PIE), or the address itself. */
		assert_int_not_equal(dladdr(seen.leak[i].site, &info), 0);
		obj = strstr(line, " (");
		assert_non_null(obj);
		assert_memory_equal(obj + 2, info.dli_fname, strlen(info.dli_fname));
		assert_int_equal(sscanf(obj + 2 + strlen(info.dli_fname), "+0x%jx)", &off), 1);
		assert_int_equal(off, (uintptr_t)seen.leak[i].site -
					      (elf_type(info.dli_fname) == ET_DYN ? (uintptr_t)info.dli_fbase : 0));
		free(line);
	}
	iobuf_pool_destroy(p);
	iobuf_set_destroy(s);
}

/* A cache's gets record no site, and never inherit the site of an earlier hand-out of the buffer. */
static void test_cache_gets_have_no_site(void **state)
{
	struct iobuf_pool *p = pool_with(64, 0, IOBUF_POOL_TRACK_SITES | IOBUF_POOL_QUIET_LEAKS, NULL);
	struct iobuf_cache *c;
	iobuf_handle_t h, again;
	struct seen seen = {0};
	char *line;

	(void)state;
	/* A site for index x, then a free x on the cache's stack. */
	leak_take_here(p, NULL, 0, &h);
	c = iobuf_cache_create_pool(p, NULL, NULL);
	assert_non_null(c);
	assert_int_equal(iobuf_cache_put(c, h), 0);
	/* The inline get hands x out again (the stack is LIFO). */
	assert_int_equal(iobuf_cache_get(c, 64, &again), 0);
	assert_int_equal(iobuf_handle_index(again), iobuf_handle_index(h));
	assert_int_equal(iobuf_pool_leaks(p, collect, &seen), 1);
	assert_int_equal(seen.leak[0].handle, again);
	assert_true(seen.leak[0].sites);
	assert_null(seen.leak[0].site);
	line = printed(&seen.leak[0]);
	assert_non_null(strstr(line, ", taken through a cache (no site)\n"));
	free(line);
	assert_int_equal(iobuf_cache_put(c, again), 0);
	iobuf_cache_destroy(c);
	iobuf_pool_destroy(p);
}

/* IOBUF_DEBUG=sites, read by create, records sites with no flag; another word does not. */
static void test_debug_env(void **state)
{
	struct iobuf_pool *p, *q, *r;
	struct iobuf_set *s;
	iobuf_handle_t h;
	struct seen seen = {0};
	struct capture cap;
	char *err;

	(void)state;
	assert_int_equal(setenv("IOBUF_DEBUG", "other, sites", 1), 0);
	p = pool_with(8, 0, IOBUF_POOL_QUIET_LEAKS, NULL);
	s = set_with(0, NULL);
	assert_int_equal(setenv("IOBUF_DEBUG", "sitesx,site", 1), 0);
	q = pool_with(8, 0, IOBUF_POOL_QUIET_LEAKS, NULL);
	assert_int_equal(unsetenv("IOBUF_DEBUG"), 0);
	r = pool_with(8, 0, IOBUF_POOL_QUIET_LEAKS, NULL);

	leak_take_here(p, NULL, 0, &h);
	leak_take_here(q, NULL, 0, &h);
	leak_take_here(r, NULL, 0, &h);
	leak_take_here(NULL, s, 5, &h);
	assert_int_equal(iobuf_pool_leaks(p, collect, &seen), 1);
	assert_int_equal(iobuf_pool_leaks(q, collect, &seen), 1);
	assert_int_equal(iobuf_pool_leaks(r, collect, &seen), 1);
	assert_true(seen.leak[0].sites);
	assert_string_equal(function_of(seen.leak[0].site), "leak_take_here");
	assert_false(seen.leak[1].sites);
	assert_null(seen.leak[1].site);
	assert_false(seen.leak[2].sites);
	assert_null(seen.leak[2].site);

	/* The set's default report names the site, and gives no hint to turn sites on. */
	capture_start(&cap);
	iobuf_set_destroy(s);
	err = capture_stop(&cap);
	assert_int_equal(count_lines(err, ", taken at leak_take_here+0x"), 1);
	assert_int_equal(count_lines(err, "iobuf: set destroyed with 1 buffer still held"), 1);
	assert_int_equal(count_lines(err, ""), 2);
	assert_int_equal(count_lines(err, "IOBUF_DEBUG"), 0);
	free(err);
	iobuf_pool_destroy(p);
	iobuf_pool_destroy(q);
	iobuf_pool_destroy(r);
}

/* ---- while other threads run ------------------------------------------------------ */

struct churn {
	struct iobuf_pool *pool;
	int stop;  /* set by the scanner */
	int rounds; /* the worker's, read after the join */
};

/* Gets and puts, at most four buffers held at once, until told to stop. */
static void *churn_main(void *arg)
{
	struct churn *c = arg;
	iobuf_handle_t h[4];

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		for (int i = 0; i < 4; i++)
			leak_take_here(c->pool, NULL, 0, &h[i]);
		for (int i = 0; i < 4; i++)
			assert_int_equal(iobuf_pool_put(c->pool, h[i]), 0);
		c->rounds++;
	}
	return NULL;
}

static void check_running(void *arg, const struct iobuf_leak *leak)
{
	(void)arg;
	assert_true(leak->generation & 1);
	assert_int_equal(leak->holders, 1);
	assert_true(leak->sites);
	/* A site, when seen, is one of a get in leak_take_here (a later hand-out's, at worst). */
	if (leak->site)
		assert_string_equal(function_of(leak->site), "leak_take_here");
}

/* A report while another thread gets and puts: each figure one that held, no race (TSan). */
static void test_leaks_while_running(void **state)
{
	struct churn c = {.pool = pool_with(16, 0, IOBUF_POOL_TRACK_SITES | IOBUF_POOL_QUIET_LEAKS, NULL)};
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, churn_main, &c), 0);
	for (int i = 0; i < 2000; i++) {
		int n = iobuf_pool_leaks(c.pool, check_running, NULL);

		/*
		 * Not at most 4: the scan reads one slot after another, and a
		 * buffer put behind it and one got ahead of it are both seen.
		 */
		assert_true(n >= 0 && n <= 16);
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(iobuf_pool_leaks(c.pool, NULL, NULL), 0);
	iobuf_pool_destroy(c.pool);
}

/* ---- errors ----------------------------------------------------------------------- */

static void test_errors(void **state)
{
	struct iobuf_pool_config pc = {.buf_size = 64, .capacity = 8, .flags = 1u << 7};
	struct iobuf_set_config sc = {.capacity = {[IOBUF_TIER_NANO] = 8}, .flags = 1u << 7};
	struct iobuf_leak leak = {.in_set = true, .tag = 1, .holders = 1, .buf_size = 64};
	FILE *full;
	int err = 0;

	(void)state;
	assert_int_equal(iobuf_pool_leaks(NULL, collect, NULL), -EINVAL);
	assert_int_equal(iobuf_pool_leaks(NULL, NULL, NULL), -EINVAL);
	assert_int_equal(iobuf_set_leaks(NULL, collect, NULL), -EINVAL);
	assert_int_equal(iobuf_leak_print(NULL, stdout), -EINVAL);
	assert_int_equal(iobuf_leak_print(&leak, NULL), -EINVAL);
	/* Unknown flags are refused. */
	assert_null(iobuf_pool_create(&pc, &err));
	assert_int_equal(err, -EINVAL);
	err = 0;
	assert_null(iobuf_set_create(&sc, &err));
	assert_int_equal(err, -EINVAL);
	/* A write that fails is -EIO. */
	full = fopen("/dev/full", "w");
	if (full) {
		setvbuf(full, NULL, _IONBF, 0);
		assert_int_equal(iobuf_leak_print(&leak, full), -EIO);
		fclose(full);
	}
	/* A site dladdr() knows nothing of is printed as an address. */
	leak.sites = true;
	leak.site = (const void *)(uintptr_t)0x10;
	{
		char *line = printed(&leak);

		assert_non_null(strstr(line, ", taken at 0x10\n"));
		free(line);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_leaks_fields),
		cmocka_unit_test(test_set_leaks_fields),
		cmocka_unit_test(test_shared_reported_with_holders),
		cmocka_unit_test(test_free_and_cached_are_not_leaks),
		cmocka_unit_test(test_callback_may_put),
		cmocka_unit_test(test_destroy_calls_on_leak),
		cmocka_unit_test(test_destroy_default_prints),
		cmocka_unit_test(test_destroy_quiet),
		cmocka_unit_test(test_no_report_without_leaks),
		cmocka_unit_test(test_sites_name_the_caller),
		cmocka_unit_test(test_cache_gets_have_no_site),
		cmocka_unit_test(test_debug_env),
		cmocka_unit_test(test_leaks_while_running),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
