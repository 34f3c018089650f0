/* SPDX-License-Identifier: MIT */
/*
 * arena.c - page-aligned regions from mmap.
 *
 * Every arena is mapped the same way: reserve an address range with
 * PROT_NONE large enough to hold an aligned window, map the real memory
 * over the window with MAP_FIXED, then give back the head and tail of the
 * reservation.  That one path serves plain pages, MAP_HUGETLB, THP and
 * memfd backing alike, and keeps alignment exact for every @align.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <iobuf/arena.h>

#include "util.h"

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

#define ARENA_ALL_FLAGS \
	(IOBUF_ARENA_HUGE | IOBUF_ARENA_LOCK | IOBUF_ARENA_LOCK_OPTIONAL | IOBUF_ARENA_MEMFD | IOBUF_ARENA_PREFAULT)

/* The default huge page size and the THP size; 2 MiB on x86-64 and arm64 with 4 KiB pages. */
static size_t read_size_file(const char *path, const char *key, size_t scale, size_t dflt)
{
	char line[256];
	size_t v = dflt;
	FILE *f = fopen(path, "re");

	if (!f)
		return dflt;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long n;

		if (key) {
			size_t kl = strlen(key);

			if (strncmp(line, key, kl) != 0 || sscanf(line + kl, " %llu", &n) != 1)
				continue;
		} else if (sscanf(line, "%llu", &n) != 1) {
			continue;
		}
		if (n > 0 && n <= SIZE_MAX / scale && iobuf__is_pow2((size_t)n * scale))
			v = (size_t)n * scale;
		break;
	}
	fclose(f);
	return v;
}

static size_t hugetlb_size(void)
{
	return read_size_file("/proc/meminfo", "Hugepagesize:", 1024, (size_t)2 << 20);
}

static size_t thp_size(void)
{
	return read_size_file("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", NULL, 1, (size_t)2 << 20);
}

size_t iobuf_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096;
}

const char *iobuf_arena_huge_name(enum iobuf_arena_huge huge)
{
	switch (huge) {
	case IOBUF_ARENA_HUGE_NONE:
		return "none";
	case IOBUF_ARENA_HUGE_HUGETLB:
		return "hugetlb";
	case IOBUF_ARENA_HUGE_THP:
		return "thp";
	}
	return "?";
}

/*
 * Map @size bytes at an address aligned to @align (both multiples of the
 * page size, @align a power of two) with @mflags over @fd.  Returns the
 * window or MAP_FAILED with errno set; nothing stays mapped on failure.
 */
static void *map_aligned(size_t size, size_t align, int mflags, int fd)
{
	size_t page = iobuf_page_size();
	size_t slack = align > page ? align - page : 0;
	size_t rsize;
	uint8_t *res, *win;
	void *got;

	if (size > SIZE_MAX - slack) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	rsize = size + slack;
	res = mmap(NULL, rsize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return MAP_FAILED;
	win = (uint8_t *)iobuf__align_up((uintptr_t)res, align);
	got = mmap(win, size, PROT_READ | PROT_WRITE, mflags | MAP_FIXED, fd, 0);
	if (got == MAP_FAILED) {
		int e = errno;

		munmap(res, rsize);
		errno = e;
		return MAP_FAILED;
	}
	if (win > res)
		munmap(res, (size_t)(win - res));
	if (res + rsize > win + size)
		munmap(win + size, (size_t)(res + rsize - (win + size)));
	return win;
}

/* Create the memfd (hugetlb-backed when @huge) sized to @size. */
static int open_memfd(size_t size, bool huge)
{
	int fd = memfd_create("iobuf-arena", MFD_CLOEXEC | (huge ? MFD_HUGETLB : 0));

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) != 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* One mapping attempt; fills base/size/fd of @a on success. */
static int try_map(struct iobuf_arena *a, size_t size, size_t align, bool hugetlb)
{
	int mflags, fd = -1;
	void *p;

	if (a->asked & IOBUF_ARENA_MEMFD) {
		fd = open_memfd(size, hugetlb);
		if (fd < 0)
			return fd;
		mflags = MAP_SHARED;
	} else {
		mflags = MAP_PRIVATE | MAP_ANONYMOUS | (hugetlb ? MAP_HUGETLB : 0);
	}
	p = map_aligned(size, align, mflags, fd);
	if (p == MAP_FAILED) {
		int e = -errno;

		if (fd >= 0)
			close(fd);
		return e;
	}
	a->map_base = a->base = p;
	a->map_size = a->size = size;
	a->fd = fd;
	return 0;
}

static void unmap(struct iobuf_arena *a)
{
	if (a->map_base)
		munmap(a->map_base, a->map_size);
	if (a->fd >= 0)
		close(a->fd);
	a->map_base = a->base = NULL;
	a->map_size = a->size = 0;
	a->fd = -1;
}

/* Round @v up to a multiple of the power of two @g; false on overflow. */
static bool round_up(size_t v, size_t g, size_t *out)
{
	if (v > SIZE_MAX - (g - 1))
		return false;
	*out = (v + g - 1) & ~(g - 1);
	return true;
}

static int map_huge(struct iobuf_arena *a, size_t size, size_t align, size_t page)
{
	size_t hsz = hugetlb_size(), tsz = thp_size(), rsize;
	int rc;

	/* Branch 1: reserved huge pages. */
	if (round_up(size, hsz, &rsize)) {
		rc = try_map(a, rsize, align > hsz ? align : hsz, true);
		if (rc == 0) {
			a->huge = IOBUF_ARENA_HUGE_HUGETLB;
			a->granule = hsz;
			return 0;
		}
		a->hugetlb_err = rc;
	} else {
		a->hugetlb_err = -EOVERFLOW;
	}

	/* Branch 2: a THP-aligned mapping with MADV_HUGEPAGE. */
	if (round_up(size, tsz, &rsize)) {
		rc = try_map(a, rsize, align > tsz ? align : tsz, false);
		if (rc == 0) {
			if (madvise(a->base, a->size, MADV_HUGEPAGE) == 0) {
				a->huge = IOBUF_ARENA_HUGE_THP;
				a->granule = page;
				return 0;
			}
			/* Branch 3: keep the mapping as plain pages. */
			a->thp_err = -errno;
			a->granule = page;
			return 0;
		}
		a->thp_err = rc;
	} else {
		a->thp_err = -EOVERFLOW;
	}

	/* Branch 3: plain pages. */
	a->granule = page;
	return try_map(a, size, align, false);
}

static void prefault(struct iobuf_arena *a)
{
	volatile uint8_t *p = a->base;
	size_t step = iobuf_page_size();

	for (size_t off = 0; off < a->size; off += step)
		p[off] = 0;
}

int iobuf_arena_init(struct iobuf_arena *a, size_t size, size_t align, unsigned flags)
{
	size_t page = iobuf_page_size(), rsize;
	int rc;

	if (!a)
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	a->fd = -1;
	a->asked = flags;
	if (size == 0 || (flags & ~ARENA_ALL_FLAGS) != 0)
		return -EINVAL;
	if (align == 0)
		align = page;
	if (!iobuf__is_pow2(align) || align < page)
		return -EINVAL;
	if (!round_up(size, page, &rsize) || rsize > SIZE_MAX - align)
		return -EINVAL;

	if (flags & IOBUF_ARENA_HUGE) {
		rc = map_huge(a, rsize, align, page);
	} else {
		a->granule = page;
		rc = try_map(a, rsize, align, false);
	}
	if (rc != 0)
		return rc;

	if (flags & IOBUF_ARENA_LOCK) {
		if (mlock(a->base, a->size) != 0) {
			struct rlimit rl;

			a->lock_err = -errno;
			if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
				a->memlock_cur = (uint64_t)rl.rlim_cur;
				a->memlock_max = (uint64_t)rl.rlim_max;
			}
			if (!(flags & IOBUF_ARENA_LOCK_OPTIONAL)) {
				rc = a->lock_err;
				unmap(a);
				return rc;
			}
		}
	}
	if (flags & IOBUF_ARENA_PREFAULT)
		prefault(a);

	a->granted = flags & (IOBUF_ARENA_MEMFD | IOBUF_ARENA_PREFAULT);
	if (a->huge != IOBUF_ARENA_HUGE_NONE)
		a->granted |= IOBUF_ARENA_HUGE;
	if ((flags & IOBUF_ARENA_LOCK) && a->lock_err == 0)
		a->granted |= flags & (IOBUF_ARENA_LOCK | IOBUF_ARENA_LOCK_OPTIONAL);
	return 0;
}

int iobuf_arena_fini(struct iobuf_arena *a)
{
	if (!a || !a->map_base)
		return -EINVAL;
	if (a->granted & IOBUF_ARENA_LOCK)
		munlock(a->base, a->size);
	unmap(a);
	a->granted = 0;
	return 0;
}
