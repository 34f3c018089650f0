/* SPDX-License-Identifier: MIT */
/*
 * iobuf/arena.h - page-aligned memory regions for buffer pools.
 *
 * An arena is one mmap'd region, aligned to at least a page, optionally
 * backed by huge pages, locked in memory, backed by a memfd that another
 * process can map, and prefaulted.  Every option reports back what was
 * asked for and what the system granted, so a server can log it.
 *
 * Synchronization: an arena is set up and torn down by one thread; the
 * memory it maps is the caller's to share.  iobuf_arena_init() and
 * iobuf_arena_fini() on the same arena must not run concurrently.
 */
#ifndef IOBUF_ARENA_H
#define IOBUF_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include <iobuf/common.h>

IOBUF_BEGIN_DECLS

/* Options of iobuf_arena_init(), OR'ed together. */
enum iobuf_arena_flags {
	/* Huge pages: MAP_HUGETLB, else a THP-aligned mapping with MADV_HUGEPAGE, else plain pages. */
	IOBUF_ARENA_HUGE = 1u << 0,
	/* mlock the region; failure is an error unless IOBUF_ARENA_LOCK_OPTIONAL is also set. */
	IOBUF_ARENA_LOCK = 1u << 1,
	/* With IOBUF_ARENA_LOCK: fall back to unlocked memory, recording why in lock_err. */
	IOBUF_ARENA_LOCK_OPTIONAL = 1u << 2,
	/* Back the region with a memfd mapped MAP_SHARED; its fd is in iobuf_arena.fd. */
	IOBUF_ARENA_MEMFD = 1u << 3,
	/* Touch every page now, so the first use takes no page fault. */
	IOBUF_ARENA_PREFAULT = 1u << 4,
};

/* Which huge-page branch of IOBUF_ARENA_HUGE took effect. */
enum iobuf_arena_huge {
	IOBUF_ARENA_HUGE_NONE = 0,    /* plain pages (not asked, or every branch refused) */
	IOBUF_ARENA_HUGE_HUGETLB = 1, /* MAP_HUGETLB from the reserved pool */
	IOBUF_ARENA_HUGE_THP = 2,     /* transparent huge pages via MADV_HUGEPAGE */
};

/*
 * A mapped region.  The caller supplies the struct; iobuf_arena_init()
 * fills it.  Fields are read-only to the caller.
 */
struct iobuf_arena {
	void *base;         /* first byte, aligned as asked */
	size_t size;        /* usable bytes from base: the asked size rounded up to the granule */
	size_t granule;     /* page size backing the region (4 KiB, or 2 MiB for hugetlb) */
	unsigned asked;     /* the flags passed to iobuf_arena_init() */
	unsigned granted;   /* the subset of asked that took effect */
	enum iobuf_arena_huge huge; /* which huge-page branch was obtained */
	int hugetlb_err;    /* 0, or -errno of the MAP_HUGETLB attempt */
	int thp_err;        /* 0, or -errno of the MADV_HUGEPAGE attempt */
	int lock_err;       /* 0, or -errno of mlock (with LOCK_OPTIONAL, the reason it fell back) */
	uint64_t memlock_cur; /* RLIMIT_MEMLOCK soft limit at an mlock failure (bytes) */
	uint64_t memlock_max; /* RLIMIT_MEMLOCK hard limit at an mlock failure (bytes) */
	int fd;             /* memfd with IOBUF_ARENA_MEMFD, else -1; closed by fini */
	/* private */
	void *map_base;
	size_t map_size;
};

/*
 * iobuf_page_size - the system page size, from sysconf(_SC_PAGESIZE).
 *
 * Returns the page size in bytes.  Any thread; wait-free after the first call.
 */
IOBUF_API size_t iobuf_page_size(void);

/*
 * iobuf_arena_init - map a region of at least @size bytes into @arena.
 *
 * @align is 0 (page alignment) or a power of two no smaller than the page
 * size.  @flags is a set of enum iobuf_arena_flags.  The region is zeroed.
 *
 * Returns 0, or -EINVAL for a NULL @arena, @size 0, an @align that is not a
 * power of two or below the page size, unknown @flags, or a size that
 * overflows when rounded; -ENOMEM when the mapping fails; the -errno of
 * mlock (EPERM, ENOMEM, EAGAIN) when IOBUF_ARENA_LOCK is asked without
 * IOBUF_ARENA_LOCK_OPTIONAL and cannot be granted (lock_err and the
 * memlock_* figures are filled in even then); the -errno of memfd_create or
 * ftruncate.  On error nothing stays mapped or open.
 *
 * One thread per arena; blocking (system calls).
 */
IOBUF_API int iobuf_arena_init(struct iobuf_arena *arena, size_t size, size_t align, unsigned flags);

/*
 * iobuf_arena_fini - unmap @arena and close its memfd.
 *
 * Returns 0, or -EINVAL for NULL or an arena that is not mapped.  The
 * struct is left unmapped and may be passed to iobuf_arena_init() again.
 * Nothing may use the region during or after the call.
 */
IOBUF_API int iobuf_arena_fini(struct iobuf_arena *arena);

/*
 * iobuf_arena_huge_name - "none", "hugetlb" or "thp" for a branch.
 *
 * Returns a static string ("?" for an unknown value).  Wait-free.
 */
IOBUF_API const char *iobuf_arena_huge_name(enum iobuf_arena_huge huge);

IOBUF_END_DECLS

#endif /* IOBUF_ARENA_H */
