/* SPDX-License-Identifier: MIT */
/*
 * arena_demo.c - map an arena, lay text into its blocks out of order, and
 * write them to stdout in order with one gather: iobuf_writev_full().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <iobuf.h>

#define BLOCK 64
#define NBLOCKS 8

int main(void)
{
	static const char *words[NBLOCKS] = {
		"iobuf: ", "page-aligned ", "arena ", "of ", "equal ", "blocks, ", "gathered ", "by writev\n",
	};
	struct iobuf_arena a;
	struct iovec iov[NBLOCKS], *cur = iov;
	int cnt = NBLOCKS, rc, stop;
	ssize_t n;

	rc = iobuf_arena_init(&a, NBLOCKS * BLOCK, 0, IOBUF_ARENA_HUGE | IOBUF_ARENA_PREFAULT);
	if (rc < 0) {
		fprintf(stderr, "arena: %s\n", iobuf_strerror(rc));
		return 1;
	}
	fprintf(stderr, "arena: %zu bytes at %p, huge pages: %s, granule %zu\n", a.size, a.base,
		iobuf_arena_huge_name(a.huge), a.granule);

	/* Block i holds word (i * 3) % 8: fill out of order, gather in order. */
	for (int i = 0; i < NBLOCKS; i++) {
		int w = (i * 3) % NBLOCKS;
		char *blk = (char *)a.base + (size_t)i * BLOCK;
		size_t len = strlen(words[w]);

		memcpy(blk, words[w], len);
		iov[w].iov_base = blk;
		iov[w].iov_len = len;
	}
	n = iobuf_writev_full(STDOUT_FILENO, &cur, &cnt, &stop);
	if (stop != 0) {
		fprintf(stderr, "writev: %s\n", iobuf_strerror(stop));
		iobuf_arena_fini(&a);
		return 1;
	}
	fprintf(stderr, "wrote %zd bytes from %d blocks in one gather\n", n, NBLOCKS);
	return iobuf_arena_fini(&a) == 0 ? 0 : 1;
}
