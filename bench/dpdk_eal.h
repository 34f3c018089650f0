/* SPDX-License-Identifier: MIT */
/*
 * dpdk_eal.h - the one way the benchmarks start DPDK's EAL.
 *
 *   --no-huge --no-pci -l 0-1 --no-shconf -m 512 --no-telemetry
 *
 * (--in-memory is refused with --no-huge).  The EAL pins the calling
 * thread to core 0; its affinity is put back, so th_pin() still sees
 * every allowed core.  Include only from a file built with DPDK's
 * pkg-config flags.
 */
#ifndef BENCH_DPDK_EAL_H
#define BENCH_DPDK_EAL_H

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <rte_eal.h>
#include <rte_errno.h>

/* Start the EAL for program @argv0.  Returns 0, or -ENODEV with the reason in @why. */
static inline int bench_dpdk_start(const char *argv0, char *why, size_t whylen)
{
	char *eal[] = {(char *)argv0, "--no-huge",	"--no-pci",	     "-l", "0-1", "--no-shconf", "-m",
		       "512",	      "--no-telemetry", "--log-level=error", NULL};
	cpu_set_t cpus;
	bool have = sched_getaffinity(0, sizeof(cpus), &cpus) == 0;

	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		snprintf(why, whylen, "DPDK EAL did not start (--no-huge --no-pci -l 0-1 --no-shconf -m 512): %s",
			 rte_strerror(rte_errno));
		return -ENODEV;
	}
	if (have)
		sched_setaffinity(0, sizeof(cpus), &cpus);
	return 0;
}

#endif /* BENCH_DPDK_EAL_H */
