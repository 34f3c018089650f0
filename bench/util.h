/* SPDX-License-Identifier: MIT */
/*
 * util.h - what the benchmark programs share: printing with a copy to a
 * file, medians, a spinning barrier for the threads of one run, and
 * instructions per operation from a second run of the program under
 * callgrind (bench_cache, bench_shared, bench_builder).
 * Header-only; not installed.
 */
#ifndef IOBUF_BENCH_UTIL_H
#define IOBUF_BENCH_UTIL_H

#include <ck_pr.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Arguments of the program's counted run at the most (its own path first). */
#define BENCH_CG_MAXARGS 12

/* For qsort(): doubles, smallest first. */
static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* printf(), and the same into @copy when it is not NULL (the tables' file). */
static inline void bench_say(FILE *copy, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void bench_say(FILE *copy, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (copy) {
		va_start(ap, fmt);
		vfprintf(copy, fmt, ap);
		va_end(ap);
	}
}

/* The median of @n values, which it sorts; -1 when there are none. */
static inline double bench_median(double *v, int n)
{
	if (n == 0)
		return -1;
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Every thread of a run arrives; @yield under valgrind, which runs one thread at a time. */
static inline void bench_barrier_wait(unsigned *bar, unsigned target, bool yield)
{
	ck_pr_inc_uint(bar);
	while (ck_pr_load_uint(bar) < target) {
		if (yield)
			sched_yield(); /* under valgrind, let the other thread run */
		else
			ck_pr_stall();
	}
}

/*
 * Instructions per operation: valgrind's callgrind runs @args (the program's
 * path and its arguments, NULL-terminated), which starts and stops the
 * instrumentation around what it counts; the total over @per.  @tag names
 * the output file in /tmp; @preload, when not NULL, is the child's LD_PRELOAD.
 * Returns -1 when the run or its output failed.
 */
static inline double bench_callgrind_ir(const char *valgrind, const char *tag, char *const args[], const char *preload,
					uint64_t per)
{
	char out[64], outarg[96], line[512];
	char *argv[BENCH_CG_MAXARGS + 5];
	double ir = -1;
	int n = 0, st;
	pid_t pid;
	FILE *f;

	snprintf(out, sizeof(out), "/tmp/%s.%d.cg", tag, (int)getpid());
	snprintf(outarg, sizeof(outarg), "--callgrind-out-file=%s", out);
	argv[n++] = (char *)valgrind;
	argv[n++] = "--tool=callgrind";
	argv[n++] = "--instr-atstart=no";
	argv[n++] = outarg;
	for (int i = 0; args[i] && i < BENCH_CG_MAXARGS; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	fflush(stdout); /* the child's freopen() would write what is buffered a second time */
	pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "w", stdout))
			_exit(126);
		if (preload)
			setenv("LD_PRELOAD", preload, 1);
		execv(valgrind, argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		goto out;
	f = fopen(out, "r");
	if (!f)
		goto out;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "totals: %llu", &v) == 1) {
			ir = (double)v / (double)per;
			break;
		}
	}
	fclose(f);
out:
	unlink(out);
	return ir;
}

#endif
