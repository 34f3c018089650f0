/* SPDX-License-Identifier: MIT */
/*
 * atomic.h - the only place in iobuf where memory order is spelled.
 *
 * Every shared word in the library is read and written through these
 * wrappers.  In a normal build they are thin shells over Concurrency Kit's
 * ck_pr, which is portable across x86-64, arm64, ppc64, s390x and riscv.
 *
 * ck_pr's read-modify-write operations carry no ordering by contract; the
 * ordering is added with ck_pr fences, which compile to nothing where the
 * architecture already provides it (locked instructions on x86 are full
 * barriers, so every fence below but store_load is a compiler barrier
 * there).
 *
 * ThreadSanitizer cannot see through ck's inline assembly and does not
 * model stand-alone fences, so under TSan the same wrappers map to the
 * compiler's __atomic builtins with the matching order on the operation
 * itself.  Both mappings give the same guarantees; callers pick a wrapper
 * by the order they need, never a fence.
 *
 * Naming: <op>_<width>[_<order>]
 *   relaxed  - atomicity only
 *   acq      - acquire: later loads/stores stay after it
 *   rel      - release: earlier loads/stores stay before it
 *   acqrel   - both (read-modify-write only)
 */
#ifndef IOBUF_SRC_ATOMIC_H
#define IOBUF_SRC_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__SANITIZE_THREAD__)
#define IOBUF_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IOBUF_TSAN 1
#endif
#endif

#include <ck_pr.h>
#include <ck_md.h>

/* Size of a cache line; shared words that are written often sit alone on one. */
#define IOBUF_CACHELINE CK_MD_CACHELINE

#ifdef IOBUF_TSAN

#define IOBUF__LD(p, o) __atomic_load_n((p), (o))
#define IOBUF__ST(p, v, o) __atomic_store_n((p), (v), (o))

static inline uint64_t iobuf__load_64(const uint64_t *p) { return IOBUF__LD(p, __ATOMIC_RELAXED); }
static inline uint64_t iobuf__load_64_acq(const uint64_t *p) { return IOBUF__LD(p, __ATOMIC_ACQUIRE); }
static inline void iobuf__store_64(uint64_t *p, uint64_t v) { IOBUF__ST(p, v, __ATOMIC_RELAXED); }
static inline void iobuf__store_64_rel(uint64_t *p, uint64_t v) { IOBUF__ST(p, v, __ATOMIC_RELEASE); }
static inline uint32_t iobuf__load_32(const uint32_t *p) { return IOBUF__LD(p, __ATOMIC_RELAXED); }
static inline uint32_t iobuf__load_32_acq(const uint32_t *p) { return IOBUF__LD(p, __ATOMIC_ACQUIRE); }
static inline void iobuf__store_32(uint32_t *p, uint32_t v) { IOBUF__ST(p, v, __ATOMIC_RELAXED); }
static inline void iobuf__store_32_rel(uint32_t *p, uint32_t v) { IOBUF__ST(p, v, __ATOMIC_RELEASE); }

static inline uint64_t iobuf__faa_64(uint64_t *p, uint64_t d) { return __atomic_fetch_add(p, d, __ATOMIC_RELAXED); }
static inline uint64_t iobuf__faa_64_acqrel(uint64_t *p, uint64_t d) { return __atomic_fetch_add(p, d, __ATOMIC_ACQ_REL); }
static inline uint32_t iobuf__faa_32(uint32_t *p, uint32_t d) { return __atomic_fetch_add(p, d, __ATOMIC_RELAXED); }
static inline uint32_t iobuf__faa_32_acqrel(uint32_t *p, uint32_t d) { return __atomic_fetch_add(p, d, __ATOMIC_ACQ_REL); }
static inline uint64_t iobuf__or_64_acqrel(uint64_t *p, uint64_t m) { return __atomic_fetch_or(p, m, __ATOMIC_ACQ_REL); }
static inline void iobuf__or_64(uint64_t *p, uint64_t m) { (void)__atomic_fetch_or(p, m, __ATOMIC_RELAXED); }
static inline uint64_t iobuf__fas_64(uint64_t *p, uint64_t v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }
static inline uint32_t iobuf__fas_32(uint32_t *p, uint32_t v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }

/* On failure *expected receives the value seen. */
static inline bool iobuf__cas_64_acqrel(uint64_t *p, uint64_t *expected, uint64_t desired)
{
	return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
static inline bool iobuf__cas_32_acqrel(uint32_t *p, uint32_t *expected, uint32_t desired)
{
	return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
static inline bool iobuf__cas_64(uint64_t *p, uint64_t *expected, uint64_t desired)
{
	return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* Full barrier: orders earlier stores before later loads (Dekker). */
static inline void iobuf__fence_seq_cst(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
/* An acquire fence after relaxed loads; TSan does model these for atomics. */
static inline void iobuf__fence_acq(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
static inline void iobuf__fence_rel(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }
static inline void iobuf__fence_rmw_load(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

#else /* ck_pr */

static inline uint64_t iobuf__load_64(const uint64_t *p) { return ck_pr_load_64(p); }
static inline uint64_t iobuf__load_64_acq(const uint64_t *p)
{
	uint64_t v = ck_pr_load_64(p);
	ck_pr_fence_acquire();
	return v;
}
static inline void iobuf__store_64(uint64_t *p, uint64_t v) { ck_pr_store_64(p, v); }
static inline void iobuf__store_64_rel(uint64_t *p, uint64_t v)
{
	ck_pr_fence_release();
	ck_pr_store_64(p, v);
}
static inline uint32_t iobuf__load_32(const uint32_t *p) { return ck_pr_load_32(p); }
static inline uint32_t iobuf__load_32_acq(const uint32_t *p)
{
	uint32_t v = ck_pr_load_32(p);
	ck_pr_fence_acquire();
	return v;
}
static inline void iobuf__store_32(uint32_t *p, uint32_t v) { ck_pr_store_32(p, v); }
static inline void iobuf__store_32_rel(uint32_t *p, uint32_t v)
{
	ck_pr_fence_release();
	ck_pr_store_32(p, v);
}

static inline uint64_t iobuf__faa_64(uint64_t *p, uint64_t d) { return ck_pr_faa_64(p, d); }
static inline uint64_t iobuf__faa_64_acqrel(uint64_t *p, uint64_t d)
{
	uint64_t v;

	ck_pr_fence_release();
	v = ck_pr_faa_64(p, d);
	ck_pr_fence_acquire();
	return v;
}
static inline uint32_t iobuf__faa_32(uint32_t *p, uint32_t d) { return ck_pr_faa_32(p, d); }
static inline uint32_t iobuf__faa_32_acqrel(uint32_t *p, uint32_t d)
{
	uint32_t v;

	ck_pr_fence_release();
	v = ck_pr_faa_32(p, d);
	ck_pr_fence_acquire();
	return v;
}
static inline uint64_t iobuf__or_64_acqrel(uint64_t *p, uint64_t m)
{
	uint64_t old, upd;

	/* ck has no fetch-or; a CAS loop gives the old value. */
	ck_pr_fence_release();
	old = ck_pr_load_64(p);
	do {
		upd = old | m;
	} while (!ck_pr_cas_64_value(p, old, upd, &old));
	ck_pr_fence_acquire();
	return old;
}
/*
 * Atomic OR whose old value is not needed: one locked instruction on x86
 * (`lock or`) instead of the CAS loop above.  Relaxed.
 */
static inline void iobuf__or_64(uint64_t *p, uint64_t m) { ck_pr_or_64(p, m); }
/*
 * Atomic exchange (fetch-and-store), relaxed: a store that is also an RMW,
 * so that iobuf__fence_rmw_load() orders it before later loads.
 */
static inline uint64_t iobuf__fas_64(uint64_t *p, uint64_t v) { return ck_pr_fas_64(p, v); }
static inline uint32_t iobuf__fas_32(uint32_t *p, uint32_t v) { return ck_pr_fas_32(p, v); }
static inline bool iobuf__cas_64_acqrel(uint64_t *p, uint64_t *expected, uint64_t desired)
{
	bool ok;

	ck_pr_fence_release();
	ok = ck_pr_cas_64_value(p, *expected, desired, expected);
	ck_pr_fence_acquire();
	return ok;
}
static inline bool iobuf__cas_32_acqrel(uint32_t *p, uint32_t *expected, uint32_t desired)
{
	bool ok;

	ck_pr_fence_release();
	ok = ck_pr_cas_32_value(p, *expected, desired, expected);
	ck_pr_fence_acquire();
	return ok;
}
static inline bool iobuf__cas_64(uint64_t *p, uint64_t *expected, uint64_t desired)
{
	return ck_pr_cas_64_value(p, *expected, desired, expected);
}

static inline void iobuf__fence_seq_cst(void) { ck_pr_fence_memory(); }
static inline void iobuf__fence_acq(void) { ck_pr_fence_acquire(); }
static inline void iobuf__fence_rel(void) { ck_pr_fence_release(); }
/*
 * Orders the atomic read-modify-writes before it (CAS, FAA, OR) against the
 * loads after it: the store->load edge of a Dekker/SB or RWC pattern whose
 * store side is an RMW.  A compiler barrier on x86, where a locked
 * instruction is already a full barrier; a full fence (dmb sy, sync) on
 * weakly ordered machines.  Cheaper than iobuf__fence_seq_cst() where the
 * store is an RMW.  Under TSan: a seq_cst fence.
 */
static inline void iobuf__fence_rmw_load(void) { ck_pr_fence_atomic_load(); }

#endif /* IOBUF_TSAN */

/*
 * Pointers and ints, in both builds through the compiler's builtins (typed
 * for any pointer; ck's forms add nothing here): relaxed, or as named.
 */
#define iobuf__load_ptr(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define iobuf__store_ptr(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
static inline int iobuf__load_int_acq(const int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline bool iobuf__cas_int_acqrel(int *p, int *expected, int desired)
{
	return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Spin-wait hint (pause on x86, yield on arm64). */
static inline void iobuf__cpu_relax(void) { ck_pr_stall(); }

#endif /* IOBUF_SRC_ATOMIC_H */
