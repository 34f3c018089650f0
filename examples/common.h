/* SPDX-License-Identifier: MIT */
/*
 * common.h - what the example servers and clients share: the monotonic
 * clock, numbers and tiers from the command line, and the port file a
 * test waits for.
 * Header-only.
 */
#ifndef EXAMPLES_COMMON_H
#define EXAMPLES_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include <iobuf/tiers.h>

static inline uint64_t ex_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * @s as a number in @lo..@hi, followed by nothing or by @stop (0: nothing);
 * otherwise "@prog: @what must be ..." on stderr and exit(2).
 */
static inline long ex_parse_long(const char *prog, const char *s, char stop, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !*s || (*end && (!stop || *end != stop)) || v < lo || v > hi) {
		fprintf(stderr, "%s: %s must be %ld..%ld, not '%s'\n", prog, what, lo, hi, s);
		exit(2);
	}
	return v;
}

/* A tier from @lowest up, by number or by name ("MEDIUM", any case); -1 when it is none. */
static inline int ex_parse_tier(const char *s, int lowest)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s && !*end)
		return v >= lowest && v < IOBUF_TIER_COUNT ? (int)v : -1;
	for (int t = lowest; t < IOBUF_TIER_COUNT; t++)
		if (strcasecmp(s, iobuf_tier_name(t)) == 0)
			return t;
	return -1;
}

/* @port into @path, whole or not at all: written beside it, then renamed. */
static inline int ex_write_port_file(const char *path, int port)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return -errno;
	return 0;
}

#endif
