/* SPDX-License-Identifier: MIT */
/*
 * test_ring_bcast_steps.c - a lossy bcast ring's reader and writer meeting
 * between the reader's copy of a handle and its hold, replayed exactly.
 *
 * ring_bcast.c is built into this test again with its step hook
 * (-DIOBUF_RING_STEPS, src/ring.h): iobuf_ring_bcast_read() stops after it
 * copied the handle of an entry and before it holds the buffer, and the
 * hook, in the reader's thread, acts as the writer (the writer role may
 * move between threads; here it moves into the hook and back):
 *
 *  - it laps the entry, dropping the ring's last holder: the buffer goes
 *    back, and the hold must be refused (-EALREADY), the read -EOVERFLOW;
 *  - it laps the entry and takes the same buffer again, a new hand-out of
 *    the same index: the stale handle's hold must be refused (-ESTALE), and
 *    the new owner's buffer gains no holder;
 *  - another reader holds the buffer first, then the writer laps it: the
 *    hold comes after the ring's drop but before the last put, so it is
 *    granted, and the buffer still carries the entry's bytes.
 *
 * And iobuf__ring_read_lapped() (src/ring.h), by which a refused hold tells
 * the ring the entry is gone: the next poll skips past it even when its
 * stamps, read by this very thread, still say it is there.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <iobuf/ring_bcast.h>

#include "ring.h"

#define TIER IOBUF_TIER_NANO /* 64-byte buffers */
#define NBUF 8
#define CAP 4

/* ---- the script ----------------------------------------------------------------------- */

enum act {
	ACT_NONE,
	ACT_LAP,	 /* the writer laps the entry */
	ACT_LAP_REISSUE, /* ... and takes the same buffer again */
	ACT_OTHER_HOLDS, /* another reader holds it, then the writer laps it */
};

static struct {
	struct iobuf_set *set;
	enum act act;
	uint64_t seq;	     /* the entry the script acts on */
	iobuf_handle_t next; /* what the writer broadcasts to lap it */
	int other;	     /* ACT_OTHER_HOLDS: that reader */
	struct iobuf_slice other_sl;
	iobuf_handle_t again; /* ACT_LAP_REISSUE: the new hand-out of the same index */
	iobuf_handle_t spare[NBUF];
	int nspare;
	int calls; /* hook calls at the entry */
	iobuf_handle_t seen;
} S;

static void step(struct iobuf_ring *ring, int reader, uint64_t seq, uint64_t h)
{
	enum act act = S.act;

	if (seq != S.seq || act == ACT_NONE)
		return;
	S.act = ACT_NONE; /* once: the other reader's read below passes through here too */
	S.calls++;
	S.seen = h;
	if (act == ACT_OTHER_HOLDS) {
		uint64_t first;

		assert_true(reader != S.other);
		assert_int_equal(iobuf_ring_poll(ring, S.other, &first, NULL), CAP);
		assert_int_equal(iobuf_ring_bcast_read(ring, S.other, seq, &S.other_sl), 0);
		assert_int_equal(iobuf_holders(S.set, h), 2);
	}
	assert_int_equal(iobuf_ring_bcast(ring, &S.next, 1, 0), 0); /* claims seq + CAP: drops the entry's holder */
	assert_int_equal(iobuf_ring_reclaimed(ring), seq + 1);
	if (act == ACT_LAP)
		assert_null(iobuf_buf(S.set, h));
	if (act == ACT_LAP_REISSUE) {
		/* Take buffers until the index comes round again (the queue is FIFO: at most NBUF gets). */
		for (;;) {
			iobuf_handle_t g;

			assert_true(S.nspare < NBUF);
			assert_int_equal(iobuf_get(S.set, 64, &g), 0);
			if (iobuf_handle_index(g) == iobuf_handle_index(h)) {
				S.again = g;
				break;
			}
			S.spare[S.nspare++] = g;
		}
		assert_true(iobuf_handle_generation(S.again) != iobuf_handle_generation(h));
		((uint64_t *)iobuf_buf(S.set, S.again))[0] = 0xDEAD; /* the new owner writes */
	}
	if (act == ACT_OTHER_HOLDS)
		assert_int_equal(iobuf_holders(S.set, h), 1); /* the other reader's alone */
}

/* ---- fixtures ------------------------------------------------------------------------- */

static struct iobuf_set *mkset(void)
{
	struct iobuf_set_config c = {.capacity = {0}};
	struct iobuf_set *set;
	int err;

	c.capacity[TIER] = NBUF;
	set = iobuf_set_create(&c, &err);
	assert_non_null(set);
	return set;
}

static struct iobuf_ring *mkring(struct iobuf_set *set, int readers)
{
	struct iobuf_ring_config c = {
	    .capacity = CAP, .entry_size = sizeof(iobuf_handle_t), .mode = IOBUF_RING_LOSSY, .max_readers = readers};
	int err = 1;
	struct iobuf_ring *r = iobuf_ring_create_bcast(&c, set, &err);

	assert_non_null(r);
	assert_int_equal(err, 0);
	return r;
}

static uint32_t in_use(const struct iobuf_set *set)
{
	struct iobuf_set_stats st;

	assert_int_equal(iobuf_set_stats(set, &st), 0);
	return st.tier[TIER].in_use;
}

static uint64_t refusals(const struct iobuf_set *set)
{
	struct iobuf_set_stats st;

	assert_int_equal(iobuf_set_stats(set, &st), 0);
	return st.tier[TIER].refused_invalid + st.tier[TIER].refused_already + st.tier[TIER].refused_stale;
}

/* Take CAP + 1 buffers stamped with their entry, broadcast the first CAP, poll them as @rd. */
static struct iobuf_ring *start(int readers, int *rd, iobuf_handle_t *hs)
{
	struct iobuf_ring *r;
	uint64_t first;

	memset(&S, 0, sizeof(S));
	S.set = mkset();
	r = mkring(S.set, readers);
	for (int i = 0; i <= CAP; i++) {
		assert_int_equal(iobuf_get(S.set, 64, &hs[i]), 0);
		((uint64_t *)iobuf_buf(S.set, hs[i]))[0] = 0xB0 + (uint64_t)i;
	}
	*rd = iobuf_ring_reader_add(r, NULL, 0);
	if (readers > 1)
		S.other = iobuf_ring_reader_add(r, NULL, 0);
	assert_int_equal(iobuf_ring_bcast(r, hs, CAP, 0), 0);
	assert_int_equal(iobuf_ring_poll(r, *rd, &first, NULL), CAP);
	S.next = hs[CAP];
	iobuf__ring_bcast_step_hook = step;
	return r;
}

/* After a refused read of entry 0: the reader moves past it, 0 counted as missed. */
static void assert_skips_entry0(struct iobuf_ring *r, int rd)
{
	uint64_t first, missed;

	assert_int_equal(iobuf_ring_release(r, rd, 1), -EINVAL); /* not past the refused entry */
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), -EOVERFLOW);
	assert_int_equal(missed, 1);
	assert_int_equal(first, 1);
}

/* ---- the interleavings ------------------------------------------------------------------ */

static void test_lapped_between_copy_and_hold(void **state)
{
	iobuf_handle_t hs[CAP + 1];
	struct iobuf_slice sl = {.h = 1};
	int rd;
	struct iobuf_ring *r = start(1, &rd, hs);

	(void)state;
	S.act = ACT_LAP;
	assert_int_equal(iobuf_ring_bcast_read(r, rd, 0, &sl), -EOVERFLOW);
	assert_int_equal(S.calls, 1);
	assert_int_equal(S.seen, hs[0]); /* the copy was intact: only the hold could tell */
	assert_int_equal(sl.h, IOBUF_HANDLE_NONE);
	assert_int_equal(in_use(S.set), CAP); /* hs[0] went back, and nobody holds it */
	assert_int_equal(iobuf_put(S.set, hs[0]), -EALREADY);
	assert_skips_entry0(r, rd);
	iobuf__ring_bcast_step_hook = NULL;
	iobuf_ring_destroy(r);
	assert_int_equal(in_use(S.set), 0);
	assert_int_equal(refusals(S.set), 1); /* the probe above */
	iobuf_set_destroy(S.set);
}

static void test_reissued_between_copy_and_hold(void **state)
{
	iobuf_handle_t hs[CAP + 1];
	struct iobuf_slice sl = {.h = 1};
	int rd;
	struct iobuf_ring *r = start(1, &rd, hs);

	(void)state;
	S.act = ACT_LAP_REISSUE;
	assert_int_equal(iobuf_ring_bcast_read(r, rd, 0, &sl), -EOVERFLOW);
	assert_int_equal(S.calls, 1);
	assert_int_equal(sl.h, IOBUF_HANDLE_NONE);
	/* The new owner's buffer: one holder, its own bytes; the stale handle is refused. */
	assert_int_equal(iobuf_holders(S.set, S.again), 1);
	assert_int_equal(((const uint64_t *)iobuf_buf(S.set, S.again))[0], 0xDEAD);
	assert_int_equal(iobuf_hold(S.set, hs[0], 1), -ESTALE);
	assert_skips_entry0(r, rd);
	iobuf__ring_bcast_step_hook = NULL;
	assert_int_equal(iobuf_put(S.set, S.again), 0);
	for (int i = 0; i < S.nspare; i++)
		assert_int_equal(iobuf_put(S.set, S.spare[i]), 0);
	iobuf_ring_destroy(r);
	assert_int_equal(in_use(S.set), 0);
	assert_int_equal(refusals(S.set), 0); /* a refused hold is no refused put */
	iobuf_set_destroy(S.set);
}

static void test_other_holder_keeps_it(void **state)
{
	iobuf_handle_t hs[CAP + 1];
	struct iobuf_slice sl;
	int rd;
	struct iobuf_ring *r = start(2, &rd, hs);

	(void)state;
	S.act = ACT_OTHER_HOLDS;
	/* The ring's holder is gone when we hold, but another reader's is not: granted. */
	assert_int_equal(iobuf_ring_bcast_read(r, rd, 0, &sl), 0);
	assert_int_equal(S.calls, 1);
	assert_int_equal(sl.h, hs[0]);
	assert_int_equal(iobuf_holders(S.set, hs[0]), 2);
	assert_int_equal(((const uint64_t *)iobuf_slice_buf(S.set, &sl))[0], 0xB0);
	assert_int_equal(iobuf_ring_release(r, rd, 1), 0);
	assert_int_equal(iobuf_slice_put(S.set, &S.other_sl), 0);
	assert_int_equal(iobuf_holders(S.set, hs[0]), 1);
	assert_int_equal(iobuf_slice_put(S.set, &sl), 0);
	assert_null(iobuf_buf(S.set, hs[0])); /* the last put returned it */
	iobuf__ring_bcast_step_hook = NULL;
	iobuf_ring_destroy(r);
	assert_int_equal(in_use(S.set), 0);
	assert_int_equal(refusals(S.set), 0);
	iobuf_set_destroy(S.set);
}

/* ---- iobuf__ring_read_lapped(): the ring skips what the layer above found gone ------------ */

static void test_read_lapped(void **state)
{
	struct iobuf_ring_config c = {.capacity = CAP, .entry_size = 8, .mode = IOBUF_RING_LOSSY, .max_readers = 2};
	struct iobuf_ring *r, *lossless;
	uint64_t first, missed, s, v = 7;
	int rd, err;

	(void)state;
	r = iobuf_ring_create(&c, &err);
	assert_non_null(r);
	c.mode = IOBUF_RING_LOSSLESS;
	lossless = iobuf_ring_create(&c, &err);
	assert_non_null(lossless);
	rd = iobuf_ring_reader_add(r, NULL, 0);
	assert_int_equal(iobuf_ring_reader_add(lossless, NULL, 0), 0);
	assert_int_equal(iobuf_ring_try_claim(r, CAP, &s), 0);
	for (int i = 0; i < CAP; i++)
		assert_int_equal(iobuf_ring_write(r, s + (uint64_t)i, &v), 0);
	assert_int_equal(iobuf_ring_publish(r, s, CAP), 0);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, NULL), CAP);
	assert_int_equal(iobuf_ring_release(r, rd, 1), 0);

	assert_int_equal(iobuf__ring_read_lapped(NULL, rd, 1), -EINVAL);
	assert_int_equal(iobuf__ring_read_lapped(r, -1, 1), -EINVAL);
	assert_int_equal(iobuf__ring_read_lapped(r, 1, 1), -EINVAL); /* inactive */
	assert_int_equal(iobuf__ring_read_lapped(lossless, 0, 0), -EINVAL);
	assert_int_equal(iobuf__ring_read_lapped(r, rd, 0), -EINVAL);	/* released */
	assert_int_equal(iobuf__ring_read_lapped(r, rd, CAP), -EINVAL); /* not polled */

	/* Nothing was overwritten: every stamp is valid.  Still, entry 2 is gone as far as the reader knows. */
	assert_int_equal(iobuf__ring_read_lapped(r, rd, 2), 0);
	assert_int_equal(iobuf_ring_release(r, rd, 3), -EINVAL);
	assert_int_equal(iobuf_ring_release(r, rd, 2), 0);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), -EOVERFLOW);
	assert_int_equal(missed, 1);
	assert_int_equal(first, 3);
	assert_int_equal(iobuf_ring_poll(r, rd, &first, &missed), 1);
	assert_int_equal(missed, 0);
	assert_int_equal(iobuf_ring_read(r, rd, 3, &v), 0);
	iobuf_ring_destroy(lossless);
	iobuf_ring_destroy(r);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lapped_between_copy_and_hold),
	    cmocka_unit_test(test_reissued_between_copy_and_hold),
	    cmocka_unit_test(test_other_holder_keeps_it),
	    cmocka_unit_test(test_read_lapped),
	};
	/* clang-format on */

	return cmocka_run_group_tests_name("ring_bcast_steps", tests, NULL, NULL);
}
