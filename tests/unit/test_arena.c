/* SPDX-License-Identifier: MIT */
/*
 * test_arena.c - arenas: alignment, every huge-page branch, mlock, memfd,
 * prefault, and every error path without a leak.
 *
 * The library's mmap, madvise, mlock, memfd_create and ftruncate calls are
 * wrapped at link time (-Wl,--wrap) so each fallback branch runs here
 * whatever the machine has reserved.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include <iobuf/arena.h>

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif

/* ---- fault injection -------------------------------------------------- */

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_madvise(void *addr, size_t len, int advice);
int __real_mlock(const void *addr, size_t len);
int __real_memfd_create(const char *name, unsigned int flags);
int __real_ftruncate(int fd, off_t len);
int __real_munmap(void *addr, size_t len);

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_madvise(void *addr, size_t len, int advice);
int __wrap_mlock(const void *addr, size_t len);
int __wrap_memfd_create(const char *name, unsigned int flags);
int __wrap_ftruncate(int fd, off_t len);
int __wrap_munmap(void *addr, size_t len);

/* errno for successive accessible (PROT_READ|PROT_WRITE) mmaps; 0 passes. */
static int mmap_script[8];
static int mmap_script_len, mmap_calls;
static int fail_reserve;      /* errno for the PROT_NONE reservation */
static int fail_hugetlb;      /* errno for any MAP_HUGETLB/MFD_HUGETLB attempt */
static int fail_madvise;
static int fail_mlock;
static int fail_memfd;
static int fail_ftruncate;
static int seen_hugetlb;
/* Bytes the library has mapped and not unmapped: exact, whatever runtime maps around it. */
static long long live_bytes;

static void reset_faults(void)
{
	memset(mmap_script, 0, sizeof(mmap_script));
	mmap_script_len = mmap_calls = 0;
	fail_reserve = fail_hugetlb = fail_madvise = fail_mlock = 0;
	fail_memfd = fail_ftruncate = seen_hugetlb = 0;
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (prot == PROT_NONE && fail_reserve) {
		errno = fail_reserve;
		return MAP_FAILED;
	}
	if (prot != PROT_NONE) {
		int i = mmap_calls++;

		if (flags & MAP_HUGETLB)
			seen_hugetlb = 1;
		if ((flags & MAP_HUGETLB) && fail_hugetlb) {
			errno = fail_hugetlb;
			return MAP_FAILED;
		}
		if (i < mmap_script_len && mmap_script[i]) {
			errno = mmap_script[i];
			return MAP_FAILED;
		}
	}
	{
		void *p = __real_mmap(addr, len, prot, flags, fd, off);

		/* A MAP_FIXED window replaces part of the reservation: no new bytes. */
		if (p != MAP_FAILED && !(flags & MAP_FIXED))
			live_bytes += (long long)len;
		return p;
	}
}

int __wrap_munmap(void *addr, size_t len)
{
	int rc = __real_munmap(addr, len);

	if (rc == 0)
		live_bytes -= (long long)len;
	return rc;
}

int __wrap_madvise(void *addr, size_t len, int advice)
{
	if (fail_madvise) {
		errno = fail_madvise;
		return -1;
	}
	return __real_madvise(addr, len, advice);
}

int __wrap_mlock(const void *addr, size_t len)
{
	if (fail_mlock) {
		errno = fail_mlock;
		return -1;
	}
	return __real_mlock(addr, len);
}

int __wrap_memfd_create(const char *name, unsigned int flags)
{
	if (fail_memfd) {
		errno = fail_memfd;
		return -1;
	}
	if ((flags & 0x0004U /* MFD_HUGETLB */) && fail_hugetlb) {
		seen_hugetlb = 1;
		errno = fail_hugetlb;
		return -1;
	}
	return __real_memfd_create(name, flags);
}

int __wrap_ftruncate(int fd, off_t len)
{
	if (fail_ftruncate) {
		errno = fail_ftruncate;
		return -1;
	}
	return __real_ftruncate(fd, len);
}

/* ---- leak accounting: mappings (live_bytes) and descriptors ------------- */

static long long count_maps(void)
{
	return live_bytes;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	(void)state;
	reset_faults();
	return 0;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_page_size(void **state)
{
	(void)state;
	assert_int_equal(iobuf_page_size(), (size_t)sysconf(_SC_PAGESIZE));
	assert_string_equal(iobuf_arena_huge_name(IOBUF_ARENA_HUGE_NONE), "none");
	assert_string_equal(iobuf_arena_huge_name(IOBUF_ARENA_HUGE_HUGETLB), "hugetlb");
	assert_string_equal(iobuf_arena_huge_name(IOBUF_ARENA_HUGE_THP), "thp");
	assert_string_equal(iobuf_arena_huge_name((enum iobuf_arena_huge)42), "?");
}

static void test_plain_rounds_and_zeroes(void **state)
{
	struct iobuf_arena a;
	size_t page = iobuf_page_size();
	uint8_t *p;

	(void)state;
	assert_int_equal(iobuf_arena_init(&a, 1, 0, 0), 0);
	assert_non_null(a.base);
	assert_int_equal(a.size, page);
	assert_int_equal(a.granule, page);
	assert_int_equal((uintptr_t)a.base % page, 0);
	assert_int_equal(a.fd, -1);
	assert_int_equal(a.huge, IOBUF_ARENA_HUGE_NONE);
	assert_int_equal(a.granted, 0);
	p = a.base;
	for (size_t i = 0; i < a.size; i++)
		assert_int_equal(p[i], 0);
	memset(p, 0xab, a.size);
	assert_int_equal(iobuf_arena_fini(&a), 0);
	assert_null(a.base);
	assert_int_equal(iobuf_arena_fini(&a), -EINVAL);

	assert_int_equal(iobuf_arena_init(&a, page + 1, 0, 0), 0);
	assert_int_equal(a.size, 2 * page);
	assert_int_equal(iobuf_arena_fini(&a), 0);
}

static void test_alignment(void **state)
{
	size_t page = iobuf_page_size();

	(void)state;
	for (size_t align = page; align <= ((size_t)64 << 20); align <<= 1) {
		struct iobuf_arena a;
		long long before = count_maps();

		assert_int_equal(iobuf_arena_init(&a, 3 * page, align, 0), 0);
		assert_int_equal((uintptr_t)a.base % align, 0);
		memset(a.base, 1, a.size);
		assert_int_equal(iobuf_arena_fini(&a), 0);
		/* The reservation's head and tail were given back. */
		assert_int_equal(count_maps(), before);
	}
}

static void test_bad_input(void **state)
{
	struct iobuf_arena a;
	int rc;
	size_t page = iobuf_page_size();
	long long maps = count_maps();
	int fds = count_fds();

	(void)state;
	assert_int_equal(iobuf_arena_init(NULL, page, 0, 0), -EINVAL);
	assert_int_equal(iobuf_arena_init(&a, 0, 0, 0), -EINVAL);
	assert_int_equal(a.fd, -1);
	assert_int_equal(iobuf_arena_init(&a, page, 3 * page, 0), -EINVAL);
	assert_int_equal(iobuf_arena_init(&a, page, page / 2, 0), -EINVAL);
	assert_int_equal(iobuf_arena_init(&a, page, 1, 0), -EINVAL);
	assert_int_equal(iobuf_arena_init(&a, page, 0, 1u << 20), -EINVAL);
	assert_int_equal(iobuf_arena_init(&a, SIZE_MAX, 0, 0), -EINVAL);
	assert_int_equal(iobuf_arena_init(&a, SIZE_MAX - page, (size_t)1 << 30, 0), -EINVAL);
	/* No overflow, but more than any address space: refused by mmap (ENOMEM; EINVAL under valgrind). */
	rc = iobuf_arena_init(&a, SIZE_MAX / 2, (size_t)1 << 62, 0);
	assert_true(rc == -ENOMEM || rc == -EINVAL);
	assert_int_equal(iobuf_arena_fini(NULL), -EINVAL);
	memset(&a, 0, sizeof(a));
	assert_int_equal(iobuf_arena_fini(&a), -EINVAL);
	assert_int_equal(count_maps(), maps);
	assert_int_equal(count_fds(), fds);
}

static void test_huge_real_system(void **state)
{
	struct iobuf_arena a;

	(void)state;
	assert_int_equal(iobuf_arena_init(&a, (size_t)4 << 20, 0, IOBUF_ARENA_HUGE), 0);
	print_message("# huge-page branch on this machine: %s (hugetlb_err %d, thp_err %d)\n",
		      iobuf_arena_huge_name(a.huge), a.hugetlb_err, a.thp_err);
	assert_true(seen_hugetlb);
	switch (a.huge) {
	case IOBUF_ARENA_HUGE_HUGETLB:
		assert_int_equal(a.hugetlb_err, 0);
		assert_true(a.granted & IOBUF_ARENA_HUGE);
		break;
	case IOBUF_ARENA_HUGE_THP:
		assert_true(a.hugetlb_err < 0);
		assert_int_equal(a.thp_err, 0);
		assert_int_equal((uintptr_t)a.base % ((size_t)2 << 20), 0);
		assert_true(a.granted & IOBUF_ARENA_HUGE);
		break;
	case IOBUF_ARENA_HUGE_NONE:
		assert_true(a.hugetlb_err < 0);
		assert_true(a.thp_err < 0);
		assert_false(a.granted & IOBUF_ARENA_HUGE);
		break;
	}
	memset(a.base, 7, a.size);
	assert_int_equal(iobuf_arena_fini(&a), 0);
}

static void test_huge_branch_hugetlb(void **state)
{
	struct iobuf_arena a;
	int rc;

	(void)state;
	/* Only when the machine has reserved huge pages; otherwise show the refusal. */
	rc = iobuf_arena_init(&a, 1, 0, IOBUF_ARENA_HUGE);
	assert_int_equal(rc, 0);
	if (a.huge == IOBUF_ARENA_HUGE_HUGETLB) {
		assert_true(a.granule >= ((size_t)2 << 20));
		assert_int_equal(a.size % a.granule, 0);
		print_message("# branch hugetlb taken: granule %zu\n", a.granule);
	} else {
		assert_true(a.hugetlb_err < 0);
		print_message("# branch hugetlb refused by the system: %s\n", strerror(-a.hugetlb_err));
	}
	assert_int_equal(iobuf_arena_fini(&a), 0);
}

static void test_huge_branch_thp(void **state)
{
	struct iobuf_arena a;

	(void)state;
	fail_hugetlb = ENOMEM;
	assert_int_equal(iobuf_arena_init(&a, 100, 0, IOBUF_ARENA_HUGE), 0);
	assert_int_equal(a.huge, IOBUF_ARENA_HUGE_THP);
	assert_int_equal(a.hugetlb_err, -ENOMEM);
	assert_int_equal(a.thp_err, 0);
	assert_int_equal((uintptr_t)a.base % ((size_t)2 << 20), 0);
	assert_int_equal(a.size % ((size_t)2 << 20), 0);
	assert_true(a.granted & IOBUF_ARENA_HUGE);
	print_message("# branch thp taken (hugetlb forced to fail)\n");
	assert_int_equal(iobuf_arena_fini(&a), 0);
}

static void test_huge_branch_plain_after_madvise(void **state)
{
	struct iobuf_arena a;

	(void)state;
	fail_hugetlb = ENOMEM;
	fail_madvise = EINVAL;
	assert_int_equal(iobuf_arena_init(&a, 100, 0, IOBUF_ARENA_HUGE), 0);
	assert_int_equal(a.huge, IOBUF_ARENA_HUGE_NONE);
	assert_int_equal(a.thp_err, -EINVAL);
	assert_false(a.granted & IOBUF_ARENA_HUGE);
	memset(a.base, 3, a.size);
	print_message("# branch plain taken (madvise refused)\n");
	assert_int_equal(iobuf_arena_fini(&a), 0);
}

static void test_huge_branch_plain_after_map(void **state)
{
	struct iobuf_arena a;

	(void)state;
	/* hugetlb refused, the THP-sized mapping refused, plain pages granted. */
	mmap_script[0] = ENOMEM;
	mmap_script[1] = ENOMEM;
	mmap_script_len = 2;
	assert_int_equal(iobuf_arena_init(&a, 100, 0, IOBUF_ARENA_HUGE), 0);
	assert_int_equal(a.huge, IOBUF_ARENA_HUGE_NONE);
	assert_int_equal(a.hugetlb_err, -ENOMEM);
	assert_int_equal(a.thp_err, -ENOMEM);
	assert_int_equal(a.size, iobuf_page_size());
	print_message("# branch plain taken (both huge mappings refused)\n");
	assert_int_equal(iobuf_arena_fini(&a), 0);
}

static void test_map_failures_leak_nothing(void **state)
{
	struct iobuf_arena a;
	long long maps = count_maps();
	int fds = count_fds();

	(void)state;
	mmap_script[0] = mmap_script[1] = mmap_script[2] = ENOMEM;
	mmap_script_len = 3;
	assert_int_equal(iobuf_arena_init(&a, 100, 0, IOBUF_ARENA_HUGE), -ENOMEM);
	assert_null(a.base);
	assert_int_equal(count_maps(), maps);

	reset_faults();
	fail_reserve = ENOMEM;
	assert_int_equal(iobuf_arena_init(&a, 100, 0, 0), -ENOMEM);

	reset_faults();
	mmap_script[0] = EACCES;
	mmap_script_len = 1;
	assert_int_equal(iobuf_arena_init(&a, 100, 0, IOBUF_ARENA_MEMFD), -EACCES);
	assert_int_equal(count_maps(), maps);
	assert_int_equal(count_fds(), fds);
}

static void test_mlock(void **state)
{
	struct iobuf_arena a;
	long long maps = count_maps();

	(void)state;
	/* Real mlock of a small region: granted where RLIMIT_MEMLOCK (or CAP_IPC_LOCK) allows. */
	assert_int_equal(iobuf_arena_init(&a, 1, 0, IOBUF_ARENA_LOCK | IOBUF_ARENA_LOCK_OPTIONAL), 0);
	if (a.lock_err == 0)
		assert_true(a.granted & IOBUF_ARENA_LOCK);
	else
		assert_false(a.granted & IOBUF_ARENA_LOCK);
	assert_int_equal(iobuf_arena_fini(&a), 0);

	/* Required and refused: the error, the limits, nothing left mapped. */
	fail_mlock = EPERM;
	assert_int_equal(iobuf_arena_init(&a, 1, 0, IOBUF_ARENA_LOCK), -EPERM);
	assert_int_equal(a.lock_err, -EPERM);
	assert_true(a.memlock_max > 0);
	assert_true(a.memlock_cur <= a.memlock_max);
	assert_null(a.base);
	assert_int_equal(count_maps(), maps);

	/* Optional and refused: unlocked memory, the reason kept. */
	fail_mlock = ENOMEM;
	assert_int_equal(iobuf_arena_init(&a, 1, 0, IOBUF_ARENA_LOCK | IOBUF_ARENA_LOCK_OPTIONAL), 0);
	assert_int_equal(a.lock_err, -ENOMEM);
	assert_false(a.granted & IOBUF_ARENA_LOCK);
	memset(a.base, 1, a.size);
	assert_int_equal(iobuf_arena_fini(&a), 0);
}

static void test_memfd_shares(void **state)
{
	struct iobuf_arena a;
	size_t page = iobuf_page_size();
	uint8_t *other, buf[16];

	(void)state;
	assert_int_equal(iobuf_arena_init(&a, 2 * page, 0, IOBUF_ARENA_MEMFD), 0);
	assert_true(a.fd >= 0);
	assert_true(a.granted & IOBUF_ARENA_MEMFD);
	memcpy((uint8_t *)a.base + page, "shared-bytes", 12);
	/* The same bytes through the fd: another process would map it the same way. */
	assert_int_equal(pread(a.fd, buf, 12, (off_t)page), 12);
	assert_memory_equal(buf, "shared-bytes", 12);
	other = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, a.fd, 0);
	assert_true(other != MAP_FAILED);
	assert_memory_equal(other + page, "shared-bytes", 12);
	other[0] = 42;
	assert_int_equal(((uint8_t *)a.base)[0], 42);
	munmap(other, 2 * page);
	{
		int fd = a.fd;

		assert_int_equal(iobuf_arena_fini(&a), 0);
		assert_int_equal(fcntl(fd, F_GETFD), -1);
		assert_int_equal(errno, EBADF);
	}
}

static void test_memfd_failures(void **state)
{
	struct iobuf_arena a;
	long long maps = count_maps();
	int fds = count_fds();

	(void)state;
	fail_memfd = EMFILE;
	assert_int_equal(iobuf_arena_init(&a, 1, 0, IOBUF_ARENA_MEMFD), -EMFILE);
	reset_faults();
	fail_ftruncate = EFBIG;
	assert_int_equal(iobuf_arena_init(&a, 1, 0, IOBUF_ARENA_MEMFD), -EFBIG);
	assert_int_equal(count_fds(), fds);
	assert_int_equal(count_maps(), maps);
}

static void test_memfd_huge_fallback(void **state)
{
	struct iobuf_arena a;

	(void)state;
	fail_hugetlb = ENOMEM;
	assert_int_equal(iobuf_arena_init(&a, 1, 0, IOBUF_ARENA_MEMFD | IOBUF_ARENA_HUGE), 0);
	assert_true(seen_hugetlb);
	assert_int_equal(a.hugetlb_err, -ENOMEM);
	assert_true(a.fd >= 0);
	assert_true(a.huge == IOBUF_ARENA_HUGE_THP || a.huge == IOBUF_ARENA_HUGE_NONE);
	print_message("# memfd with huge: hugetlb refused, got %s\n", iobuf_arena_huge_name(a.huge));
	assert_int_equal(iobuf_arena_fini(&a), 0);
}

static void test_prefault(void **state)
{
	struct iobuf_arena a;
	size_t page = iobuf_page_size(), pages = 64;
	unsigned char vec[64];

	(void)state;
	assert_int_equal(iobuf_arena_init(&a, pages * page, 0, IOBUF_ARENA_PREFAULT), 0);
	assert_true(a.granted & IOBUF_ARENA_PREFAULT);
	assert_int_equal(mincore(a.base, a.size, vec), 0);
	for (size_t i = 0; i < pages; i++)
		assert_true(vec[i] & 1);
	assert_int_equal(iobuf_arena_fini(&a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_page_size, setup),
		cmocka_unit_test_setup(test_plain_rounds_and_zeroes, setup),
		cmocka_unit_test_setup(test_alignment, setup),
		cmocka_unit_test_setup(test_bad_input, setup),
		cmocka_unit_test_setup(test_huge_real_system, setup),
		cmocka_unit_test_setup(test_huge_branch_hugetlb, setup),
		cmocka_unit_test_setup(test_huge_branch_thp, setup),
		cmocka_unit_test_setup(test_huge_branch_plain_after_madvise, setup),
		cmocka_unit_test_setup(test_huge_branch_plain_after_map, setup),
		cmocka_unit_test_setup(test_map_failures_leak_nothing, setup),
		cmocka_unit_test_setup(test_mlock, setup),
		cmocka_unit_test_setup(test_memfd_shares, setup),
		cmocka_unit_test_setup(test_memfd_failures, setup),
		cmocka_unit_test_setup(test_memfd_huge_fallback, setup),
		cmocka_unit_test_setup(test_prefault, setup),
	};

	return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
