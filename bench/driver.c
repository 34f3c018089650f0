/* SPDX-License-Identifier: MIT */
/*
 * driver.c - iobuf-bench: one interleaved session of iobuf and its peers.
 *
 *   iobuf-bench [options] WORKER...
 *
 * Starts every worker program once (each holds some peers; see harness.c),
 * then, for each workload and buffer size: one warm-up run of every peer,
 * then ROUNDS rounds, each running every peer once, in an order rotated by
 * one each round.  Only one run is in flight at a time, so no peer ever
 * shares the machine with another, and drift over the session hits every
 * peer alike.  Cells are medians over the rounds.  W1 and W2 are then
 * counted under callgrind (instructions per pair).
 *
 * Prints one markdown table per workload, writes OUT/bench.csv, OUT/wN.dat
 * (for bench/plot.sh), OUT/callgrind.csv and OUT/tables.md.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define MAX_WORKERS 16
#define MAX_PEERS 32
#define MAX_SIZES 4
#define MAX_ROUNDS 64
#define NW 5

/* The reference row of the ratio column, and the order rows are shown in. */
static const char *const reference_names[] = {"iobuf_pool", "iobuf_pool_index", "iobuf_cache"};
static const char *const row_order[] = {
    "null_harness_floor",
    "iobuf_pool",
    "iobuf_pool_index",
    "iobuf_cache",
    "iobuf_cache_index",
    "glibc",
    "jemalloc",
    "mimalloc",
    "tcmalloc_minimal",
    "ck_ring_mpmc",
    "ck_stack_mpmc",
    "urcu_lfs_pop_blocking",
    "dpdk_mempool_c256",
    "dpdk_mempool_c0",
    "dpdk_rte_ring_mpmc",
};

static const char *const wtitle[NW + 1] = {
    "",
    "W1 single thread get/touch/put",
    "W2 single thread get 32 then put 32 (bulk where the peer has it)",
    "W3 two threads x W1 on one shared pool (ns = 1 / aggregate rate)",
    "W4 handoff: core 0 gets and touches -> ck_ring SPSC -> core 1 puts",
    "W5 exhaustion: pool of 64, two threads each holding up to 40",
};

struct worker {
	char path[512];
	char base[128];
	pid_t pid;
	int to, from; /* its stdin, its stdout */
	char buf[8192];
	size_t len;
	bool alive;
};

struct cell {
	int n;		       /* runs kept */
	double ns[MAX_ROUNDS]; /* ns per pair of each round */
	double empty[MAX_ROUNDS];
	int nl;					 /* rounds that had wake-up samples */
	double p50[MAX_ROUNDS], p99[MAX_ROUNDS]; /* of those rounds */
	unsigned long long timeouts;
	char status[256]; /* "" while it runs, else why it did not */
	double ir;	  /* callgrind instructions per pair, < 0 unknown */
};

struct peer {
	char name[64];
	char wait[128];
	struct worker *w;
	char skip[256];
	int order;
	struct cell cell[NW + 1][MAX_SIZES];
};

static struct worker workers[MAX_WORKERS];
static int nworkers;
static struct peer peers[MAX_PEERS];
static int npeers;
static size_t sizes[MAX_SIZES] = {64, 4096, 65536};
static int nsizes = 3;
static int rounds = 7, run_ms = 200, cap = 1024, cg_pairs = 16384;
static bool quick, do_callgrind = true;
static bool workload_on[NW + 1] = {false, true, true, true, true, true};
static const char *out_dir = "bench/results";
static const char *valgrind_path = "";
static const char *missing = ""; /* "NAME=PACKAGE ..." that configure did not find */
static FILE *tables;		 /* OUT/tables.md: a copy of what is printed */

/* The hardware floor, sampled once per round of W1 (ns per op). */
#define NHW 4
static const char *const hw_names[NHW] = {"add_chain_1cycle", "lock_xadd_private", "lock_xadd_shared_2thr",
					  "pingpong_roundtrip"};
static double hw[NHW][MAX_ROUNDS * MAX_SIZES];
static int nhw;

/* Everything printed goes to OUT/tables.md too. */
#define say(...) bench_say(tables, __VA_ARGS__)

/* A progress line on a terminal's stderr, rewritten in place; NULL clears it. */
static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
	va_list ap;

	if (!isatty(2))
		return;
	fprintf(stderr, "\r\033[K");
	if (!fmt)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *size_name(size_t s, char *buf, size_t len)
{
	if (s >= 1024 && s % 1024 == 0)
		snprintf(buf, len, "%zu KiB", s / 1024);
	else
		snprintf(buf, len, "%zu B", s);
	return buf;
}

/* ------------------------------------------------------------------------
 * Workers: a child process with a pipe each way, a line protocol.
 */
static int worker_start(struct worker *w, char *const argv[])
{
	int in[2], out[2];
	char log[700];
	int fd;

	if (pipe(in) < 0 || pipe(out) < 0)
		return -errno;
	snprintf(log, sizeof(log), "%s/%s.log", out_dir, w->base);
	w->pid = fork();
	if (w->pid < 0)
		return -errno;
	if (w->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	w->to = in[1];
	w->from = out[0];
	w->len = 0;
	w->alive = true;
	return 0;
}

static void worker_stop(struct worker *w, bool kill_it)
{
	int st;

	if (!w->alive)
		return;
	if (kill_it)
		kill(w->pid, SIGKILL);
	else if (write(w->to, "quit\n", 5) < 0)
		kill(w->pid, SIGKILL);
	close(w->to);
	close(w->from);
	waitpid(w->pid, &st, 0);
	w->alive = false;
}

/* One line from the worker, without its newline; false on EOF or timeout. */
static bool worker_line(struct worker *w, char *line, size_t len, int timeout_ms)
{
	double deadline = now_s() + timeout_ms / 1000.0;

	for (;;) {
		char *nl = memchr(w->buf, '\n', w->len);

		if (nl) {
			size_t n = (size_t)(nl - w->buf);

			snprintf(line, len, "%.*s", (int)n, w->buf);
			memmove(w->buf, nl + 1, w->len - n - 1);
			w->len -= n + 1;
			return true;
		}
		if (w->len == sizeof(w->buf))
			w->len = 0;
		struct pollfd p = {.fd = w->from, .events = POLLIN};
		int left = (int)((deadline - now_s()) * 1000);

		if (left <= 0 || poll(&p, 1, left) <= 0)
			return false;
		ssize_t r = read(w->from, w->buf + w->len, sizeof(w->buf) - w->len);

		if (r <= 0)
			return false;
		w->len += (size_t)r;
	}
}

static int peer_order(const char *name)
{
	for (size_t i = 0; i < sizeof(row_order) / sizeof(row_order[0]); i++)
		if (strcmp(row_order[i], name) == 0)
			return (int)i;
	return 100;
}

static struct peer *add_peer(const char *name)
{
	for (int i = 0; i < npeers; i++)
		if (strcmp(peers[i].name, name) == 0)
			return &peers[i];
	if (npeers == MAX_PEERS)
		return NULL;
	struct peer *p = &peers[npeers++];

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->order = peer_order(name);
	for (int w = 0; w <= NW; w++)
		for (int s = 0; s < MAX_SIZES; s++)
			p->cell[w][s].ir = -1;
	return p;
}

static int cmp_peer(const void *a, const void *b)
{
	const struct peer *x = a, *y = b;

	return x->order != y->order ? x->order - y->order : strcmp(x->name, y->name);
}

/* Start a worker in --serve mode and learn its peers. */
static void worker_open(struct worker *w, int timeout_ms)
{
	char *argv[] = {w->path, "--serve", NULL};
	char line[1024];
	double t0 = now_s();
	int rc = worker_start(w, argv);

	if (rc < 0) {
		say("skipped: worker %s: %s\n", w->base, strerror(-rc));
		return;
	}
	for (;;) {
		char name[64];
		int off = 0;

		if (!worker_line(w, line, sizeof(line), timeout_ms)) {
			say("skipped: worker %s: no answer within %.0f s (see %s/%s.log)\n", w->base, now_s() - t0,
			    out_dir, w->base);
			worker_stop(w, true);
			return;
		}
		if (strcmp(line, "end") == 0)
			break;
		if (strncmp(line, "info ", 5) == 0) {
			say("info: %s\n", line + 5);
		} else if (sscanf(line, "peer %63s %n", name, &off) == 1) {
			struct peer *p = add_peer(name);

			if (p) {
				p->w = w;
				snprintf(p->wait, sizeof(p->wait), "%s", line + off);
			}
		} else if (sscanf(line, "skip %63s %n", name, &off) == 1) {
			struct peer *p = add_peer(name);

			if (p) {
				snprintf(p->skip, sizeof(p->skip), "%s", line + off);
				say("skipped: %s: %s\n", name, line + off);
			}
		}
	}
}

/* One run of one peer; fills the cell or marks it skipped/failed. */
static void run_one(struct peer *p, int w, int si, bool keep)
{
	struct cell *c = &p->cell[w][si];
	char cmd[256], line[1024];
	double ns, empty = 0;
	unsigned long long pairs, att, emp, tmo, nlat, p50, p99;
	int wcap = w == 5 ? 64 : cap;
	int n = snprintf(cmd, sizeof(cmd), "run %s %d %zu %d %d\n", p->name, w, sizes[si], wcap, run_ms);

	if (c->status[0] || p->skip[0] || !p->w)
		return;
	if (!p->w->alive) {
		snprintf(c->status, sizeof(c->status), "failed: worker %.40s died earlier (see %.80s/%.40s.log)",
			 p->w->base, out_dir, p->w->base);
		return;
	}
	if (write(p->w->to, cmd, (size_t)n) != n || !worker_line(p->w, line, sizeof(line), run_ms * 20 + 60000)) {
		snprintf(c->status, sizeof(c->status), "failed: worker %.40s died or hung (see %.80s/%.40s.log)",
			 p->w->base, out_dir, p->w->base);
		worker_stop(p->w, true);
		return;
	}
	if (strncmp(line, "skip n/a: ", 10) == 0) {
		snprintf(c->status, sizeof(c->status), "n/a: %.200s", line + 10);
		return;
	}
	if (strncmp(line, "skip ", 5) == 0) {
		snprintf(c->status, sizeof(c->status), "skipped: %.200s", line + 5);
		return;
	}
	if (sscanf(line, "ok %lf %llu %llu %llu %llu %llu %llu %llu", &ns, &pairs, &att, &emp, &tmo, &nlat, &p50,
		   &p99) != 8) {
		snprintf(c->status, sizeof(c->status), "failed: %.200s",
			 strncmp(line, "fail ", 5) == 0 ? line + 5 : line);
		return;
	}
	if (!keep || c->n == MAX_ROUNDS)
		return;
	if (att)
		empty = 100.0 * (double)emp / (double)att;
	c->ns[c->n] = ns;
	c->empty[c->n] = empty;
	if (nlat) {
		c->p50[c->nl] = (double)p50;
		c->p99[c->nl] = (double)p99;
		c->nl++;
	}
	c->timeouts += tmo;
	c->n++;
}

static void hw_sample(void)
{
	char line[256];
	double v[NHW];

	for (int i = 0; i < nworkers; i++) {
		if (!workers[i].alive)
			continue;
		if (write(workers[i].to, "hw\n", 3) != 3 || !worker_line(&workers[i], line, sizeof(line), 60000))
			return;
		if (sscanf(line, "ok %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3]) == 4 &&
		    nhw < MAX_ROUNDS * MAX_SIZES) {
			for (int k = 0; k < NHW; k++)
				hw[k][nhw] = v[k];
			nhw++;
		}
		return;
	}
}

/* The median of @v, left in its order. */
static double median(const double *v, int n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, (size_t)n * sizeof(*v));
	return bench_median(s, n);
}

static double vmin(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static double vmax(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

static const struct peer *reference(int w, int si)
{
	for (size_t r = 0; r < sizeof(reference_names) / sizeof(reference_names[0]); r++)
		for (int i = 0; i < npeers; i++)
			if (strcmp(peers[i].name, reference_names[r]) == 0 && peers[i].cell[w][si].n > 0)
				return &peers[i];
	return NULL;
}

static const char *fmt_ns(double ns, char *buf, size_t len)
{
	if (ns >= 10000)
		snprintf(buf, len, "%.1f µs", ns / 1000);
	else
		snprintf(buf, len, "%.0f ns", ns);
	return buf;
}

static const char *why_not(const struct peer *p, const struct cell *c)
{
	if (p->skip[0])
		return "skipped";
	if (strncmp(c->status, "n/a", 3) == 0)
		return "n/a";
	if (c->status[0])
		return strncmp(c->status, "skipped", 7) == 0 ? "skipped" : "failed";
	return "not run";
}

static void print_table(int w)
{
	char sz[32], a[32], b[32], d[32];
	const char *refname = NULL;

	say("\n## %s\n\n", wtitle[w]);
	if (w == 5) {
		say("Cells: ns per successful get (1 / aggregate rate) / Mops/s; how often a get found the pool "
		    "empty; wake-up latency from the first put after a thread started waiting to the return of its "
		    "get, median and p99 (medians over the rounds).\n");
		for (int si = 0; si < nsizes; si++) {
			say("\n### %s buffers\n\n| peer | waiting get | ns / Mops | empty gets | wake p50 | wake p99 | "
			    "timeouts |\n|---|---|---|---|---|---|---|\n",
			    size_name(sizes[si], sz, sizeof(sz)));
			for (int i = 0; i < npeers; i++) {
				const struct peer *p = &peers[i];
				const struct cell *c = &p->cell[w][si];

				if (c->n == 0) {
					const char *why = p->skip[0] ? p->skip : c->status;

					if (strncmp(why, "n/a: ", 5) == 0)
						why += 5;
					say("| %s | %s | %s | | | | |\n", p->name, why_not(p, c), why);
					continue;
				}
				double ns = median(c->ns, c->n);

				say("| %s | %s | %.1f ns / %.2f | %.2f%% | %s | %s | %llu |\n", p->name, p->wait, ns,
				    1e3 / ns, median(c->empty, c->n),
				    c->nl ? fmt_ns(median(c->p50, c->nl), a, sizeof(a)) : "no wait",
				    c->nl ? fmt_ns(median(c->p99, c->nl), b, sizeof(b)) : "no wait", c->timeouts);
			}
		}
		return;
	}
	for (int si = 0; si < nsizes && !refname; si++) {
		const struct peer *r = reference(w, si);

		refname = r ? r->name : NULL;
	}
	say("Cells: median ns per pair / median Mops/s / spread of Mops/s ((max-min)/median) (min-max ns), "
	    "over %d rounds after a warm-up.  Ratio: peer ns / %s ns, per size (> 1: iobuf is faster).\n\n",
	    rounds, refname ? refname : "iobuf (not run)");
	say("| peer |");
	for (int si = 0; si < nsizes; si++)
		say(" %s |", size_name(sizes[si], sz, sizeof(sz)));
	say(" ratio vs %s |\n|---|", refname ? refname : "iobuf");
	for (int si = 0; si <= nsizes; si++)
		say("---|");
	say("\n");
	for (int i = 0; i < npeers; i++) {
		const struct peer *p = &peers[i];
		char ratio[128] = "";
		size_t rl = 0;

		say("| %s |", p->name);
		for (int si = 0; si < nsizes; si++) {
			const struct cell *c = &p->cell[w][si];
			const struct peer *ref = reference(w, si);

			if (c->n == 0) {
				say(" %s |", why_not(p, c));
				rl += (size_t)snprintf(ratio + rl, sizeof(ratio) - rl, "%s-", si ? " / " : "");
				continue;
			}
			double ns = median(c->ns, c->n), lo = vmin(c->ns, c->n), hi = vmax(c->ns, c->n);
			double spread = (1e3 / lo - 1e3 / hi) / (1e3 / ns) * 100;

			say(" %.1f ns / %.1f / %.0f%% (%.1f-%.1f) |", ns, 1e3 / ns, spread, lo, hi);
			if (ref)
				rl += (size_t)snprintf(ratio + rl, sizeof(ratio) - rl, "%s%.2f", si ? " / " : "",
						       ns / median(ref->cell[w][si].ns, ref->cell[w][si].n));
			else
				rl += (size_t)snprintf(ratio + rl, sizeof(ratio) - rl, "%s-", si ? " / " : "");
		}
		say(" %s |\n", ratio);
	}
	/* The reasons, once, under the table. */
	for (int i = 0; i < npeers; i++) {
		const struct peer *p = &peers[i];

		if (p->skip[0])
			continue;
		for (int si = 0; si < nsizes; si++)
			if (p->cell[w][si].status[0]) {
				say("\n%s at %s: %s", p->name, size_name(sizes[si], d, sizeof(d)),
				    p->cell[w][si].status);
				break;
			}
	}
	say("\n");
}

static void print_hw(void)
{
	double add;

	if (!nhw)
		return;
	add = median(hw[0], nhw);
	say("\n## Hardware floor (this session: ns per op, median of %d samples taken between the W1 rounds; "
	    "cycles = ns / add_chain ns)\n\n| op | ns median | min | max | cycles |\n|---|---|---|---|---|\n",
	    nhw);
	for (int k = 0; k < NHW; k++) {
		double m = median(hw[k], nhw);

		say("| %s | %.3f | %.3f | %.3f | %.2f |\n", hw_names[k], m, vmin(hw[k], nhw), vmax(hw[k], nhw),
		    m / add);
	}
	say("\nThe add chain runs at one add per cycle: %.2f ns is a clock of %.2f GHz as this process gets it "
	    "(a core shared with another busy process shows as a slower clock).\n",
	    add, 1 / add);
}

static void write_csv(void)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/bench.csv", out_dir);
	f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "workload,size,peer,status,runs,ns_median,ns_min,ns_max,mops_median,mops_min,mops_max,spread_pct,"
		   "ratio_vs_iobuf,empty_pct,wake_p50_ns,wake_p99_ns,timeouts,wait,ir_per_pair\n");
	for (int w = 1; w <= NW; w++) {
		if (!workload_on[w])
			continue;
		for (int si = 0; si < nsizes; si++) {
			const struct peer *ref = reference(w, si);

			for (int i = 0; i < npeers; i++) {
				const struct peer *p = &peers[i];
				const struct cell *c = &p->cell[w][si];

				fprintf(f, "W%d,%zu,%s,", w, sizes[si], p->name);
				if (c->n == 0) {
					fprintf(f, "\"%s\",0,,,,,,,,,,,,,,,\n", p->skip[0] ? p->skip : c->status);
					continue;
				}
				double ns = median(c->ns, c->n), lo = vmin(c->ns, c->n), hi = vmax(c->ns, c->n);

				fprintf(f, "ok,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.1f,", c->n, ns, lo, hi, 1e3 / ns,
					1e3 / hi, 1e3 / lo, (1e3 / lo - 1e3 / hi) / (1e3 / ns) * 100);
				if (ref && w != 5)
					fprintf(f, "%.3f", ns / median(ref->cell[w][si].ns, ref->cell[w][si].n));
				fprintf(f, ",");
				if (w == 5)
					fprintf(f, "%.3f,%.0f,%.0f,%llu,\"%s\"", median(c->empty, c->n),
						c->nl ? median(c->p50, c->nl) : NAN,
						c->nl ? median(c->p99, c->nl) : NAN, c->timeouts, p->wait);
				else
					fprintf(f, ",,,,");
				fprintf(f, ",");
				if (c->ir >= 0)
					fprintf(f, "%.1f", c->ir);
				fprintf(f, "\n");
			}
		}
	}
	fclose(f);
	/*
	 * One whitespace table per workload for gnuplot ("NaN" where a cell did
	 * not run): W1-W4 the ns per pair at each size; W5 the wake-up latency,
	 * p50 and p99 at each size.
	 */
	for (int w = 1; w <= NW; w++) {
		if (!workload_on[w])
			continue;
		snprintf(path, sizeof(path), "%s/w%d.dat", out_dir, w);
		f = fopen(path, "w");
		if (!f)
			continue;
		if (w == 5)
			fprintf(f, "# W5 wake-up latency of a get that found the pool of 64 empty; ns\npeer");
		else
			fprintf(f, "# %s; ns per pair\npeer", wtitle[w]);
		for (int si = 0; si < nsizes; si++) {
			if (w == 5)
				fprintf(f, " p50@%zuB p99@%zuB", sizes[si], sizes[si]);
			else
				fprintf(f, " %zuB", sizes[si]);
		}
		fprintf(f, "\n");
		for (int i = 0; i < npeers; i++) {
			bool any = false;

			for (int si = 0; si < nsizes; si++)
				any |= peers[i].cell[w][si].n > 0;
			if (!any)
				continue;
			fprintf(f, "%s", peers[i].name);
			for (int si = 0; si < nsizes; si++) {
				const struct cell *c = &peers[i].cell[w][si];

				if (!c->n || (w == 5 && !c->nl))
					fprintf(f, "%s", w == 5 ? " NaN NaN" : " NaN");
				else if (w == 5)
					fprintf(f, " %.0f %.0f", median(c->p50, c->nl), median(c->p99, c->nl));
				else
					fprintf(f, " %.3f", median(c->ns, c->n));
			}
			fprintf(f, "\n");
		}
		fclose(f);
	}
}

/* ------------------------------------------------------------------------
 * Callgrind: each worker once, all its W1/W2 cells, one dump per cell.
 */
static void callgrind_worker(struct worker *w)
{
	char out_arg[700], pairs[32], szs[128] = "", line[1024];
	size_t l = 0;
	struct worker cg = *w;
	DIR *d;
	struct dirent *e;

	for (int si = 0; si < nsizes; si++)
		l += (size_t)snprintf(szs + l, sizeof(szs) - l, "%s%zu", si ? "," : "", sizes[si]);
	snprintf(pairs, sizeof(pairs), "%d", cg_pairs);
	snprintf(out_arg, sizeof(out_arg), "--callgrind-out-file=%s/cg/%s.out", out_dir, w->base);
	snprintf(cg.base, sizeof(cg.base), "%.100s.callgrind", w->base);
	char *argv[] = {(char *)valgrind_path,
			"--tool=callgrind",
			"--instr-atstart=no",
			out_arg,
			w->path,
			"--callgrind",
			pairs,
			szs,
			NULL};

	/* Dumps of an earlier session must not be read as this one's. */
	snprintf(line, sizeof(line), "%s/cg", out_dir);
	d = opendir(line);
	while (d && (e = readdir(d))) {
		char old[1400];

		if (strncmp(e->d_name, w->base, strlen(w->base)) == 0 && e->d_name[strlen(w->base)] == '.') {
			snprintf(old, sizeof(old), "%s/%s", line, e->d_name);
			unlink(old);
		}
	}
	if (d)
		closedir(d);
	if (worker_start(&cg, argv) < 0)
		return;
	close(cg.to);
	cg.to = -1;
	/* Drain its report ("cg PEER W SIZE PAIRS ok ..." per cell); the counts are in the dumps. */
	while (worker_line(&cg, line, sizeof(line), 600000))
		;
	close(cg.from);
	waitpid(cg.pid, NULL, 0);

	snprintf(line, sizeof(line), "%s/cg", out_dir);
	d = opendir(line);
	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[1400], l2[1024], name[64];
		FILE *f;
		int wl = 0;
		size_t size = 0;
		unsigned long long np = 0;
		double ir = -1;

		if (strncmp(e->d_name, w->base, strlen(w->base)) != 0 || e->d_name[strlen(w->base)] != '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", line, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		name[0] = 0;
		while (fgets(l2, sizeof(l2), f)) {
			const char *tag = strstr(l2, "Client Request: iobuf-bench ");

			if (strncmp(l2, "desc: Trigger:", 14) == 0 && tag)
				sscanf(tag + 28, "%63s %d %zu %llu", name, &wl, &size, &np);
			else if (strncmp(l2, "summary: ", 9) == 0 || strncmp(l2, "totals: ", 8) == 0)
				ir = strtod(strchr(l2, ' ') + 1, NULL);
		}
		fclose(f);
		if (!name[0] || ir < 0 || !np)
			continue;
		for (int i = 0; i < npeers; i++) {
			if (strcmp(peers[i].name, name) != 0)
				continue;
			for (int si = 0; si < nsizes; si++)
				if (sizes[si] == size && wl >= 1 && wl <= NW)
					peers[i].cell[wl][si].ir = ir / (double)np;
		}
	}
	closedir(d);
}

static void print_callgrind(void)
{
	char sz[32];

	say("\n## Instructions per pair (callgrind, %d pairs after %d warm-up pairs, nothing subtracted)\n\n| peer |",
	    cg_pairs, 4 * 1024);
	for (int w = 1; w <= 2; w++)
		for (int si = 0; si < nsizes; si++)
			say(" W%d %s |", w, size_name(sizes[si], sz, sizeof(sz)));
	say("\n|---|");
	for (int i = 0; i < 2 * nsizes; i++)
		say("---|");
	say("\n");
	for (int i = 0; i < npeers; i++) {
		say("| %s |", peers[i].name);
		for (int w = 1; w <= 2; w++)
			for (int si = 0; si < nsizes; si++) {
				double ir = peers[i].cell[w][si].ir;

				if (ir >= 0)
					say(" %.1f |", ir);
				else
					say(" n/a |");
			}
		say("\n");
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: iobuf-bench [--quick] [--rounds N] [--run-ms MS] [--sizes A,B,C] [--workloads 1,2,..]\n"
			"                   [--cap N] [--no-callgrind] [--cg-pairs N] [--valgrind PATH] [--out DIR]\n"
			"                   [--missing 'NAME=PACKAGE ...'] "
			"WORKER...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	char path[600], sz[32];
	struct utsname u;
	double t0 = now_s();
	int i, startup_ms, failures = 0;
	char *list, *save;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--quick") == 0) {
			quick = true;
			sizes[0] = 4096;
			nsizes = 1;
			rounds = 3;
			run_ms = 60;
			do_callgrind = false;
		} else if (strcmp(a, "--no-callgrind") == 0) {
			do_callgrind = false;
		} else if (!v) {
			usage();
		} else if (strcmp(a, "--rounds") == 0) {
			rounds = atoi(v), i++;
		} else if (strcmp(a, "--run-ms") == 0) {
			run_ms = atoi(v), i++;
		} else if (strcmp(a, "--cap") == 0) {
			cap = atoi(v), i++;
		} else if (strcmp(a, "--cg-pairs") == 0) {
			cg_pairs = (atoi(v) + 1023) / 1024 * 1024, i++;
		} else if (strcmp(a, "--valgrind") == 0) {
			valgrind_path = v, i++;
		} else if (strcmp(a, "--missing") == 0) {
			missing = v, i++;
		} else if (strcmp(a, "--out") == 0) {
			out_dir = v, i++;
		} else if (strcmp(a, "--sizes") == 0) {
			char buf[256];

			snprintf(buf, sizeof(buf), "%s", v);
			nsizes = 0;
			for (list = strtok_r(buf, ",", &save); list && nsizes < MAX_SIZES;
			     list = strtok_r(NULL, ",", &save))
				sizes[nsizes++] = strtoull(list, NULL, 10);
			i++;
		} else if (strcmp(a, "--workloads") == 0) {
			for (int w = 1; w <= NW; w++)
				workload_on[w] = strchr(v, '0' + w) != NULL;
			i++;
		} else {
			usage();
		}
	}
	if (i == argc || rounds < 1 || rounds > MAX_ROUNDS || run_ms < 1 || nsizes < 1 || cap < 64)
		usage();
	mkdir(out_dir, 0755);
	snprintf(path, sizeof(path), "%s/cg", out_dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/tables.md", out_dir);
	tables = fopen(path, "w");

	uname(&u);
	say("# iobuf-bench%s: %s %s, %ld cores online\n\n", quick ? " (quick)" : "", u.sysname, u.release,
	    sysconf(_SC_NPROCESSORS_ONLN));
	say("Pool of %d buffers (64 in W5); %d rounds of %d ms after one warm-up round, every peer once per "
	    "round, order rotated each round; each run also warms up untimed before it is timed.\n\n",
	    cap, rounds, run_ms);

	/* Start every worker; quick mode gives up on one that is slow to start (DPDK). */
	startup_ms = quick ? 10000 : 60000;
	for (; i < argc && nworkers < MAX_WORKERS; i++) {
		struct worker *w = &workers[nworkers++];
		const char *b = strrchr(argv[i], '/');

		snprintf(w->path, sizeof(w->path), "%s", argv[i]);
		snprintf(w->base, sizeof(w->base), "%s", b ? b + 1 : argv[i]);
		snprintf(path, sizeof(path), "%s/%s.log", out_dir, w->base);
		unlink(path);
		worker_open(w, startup_ms);
	}
	/* Peers whose library configure did not find: no worker was built for them. */
	{
		char buf[1024];

		snprintf(buf, sizeof(buf), "%s", missing);
		for (list = strtok_r(buf, " ", &save); list; list = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(list, '=');
			struct peer *p;

			if (eq)
				*eq++ = 0;
			p = add_peer(list);
			if (p && !p->w) {
				snprintf(p->skip, sizeof(p->skip), "not found at configure time%s%s%s",
					 eq ? " (apt-get install " : "", eq ? eq : "",
					 eq ? ", then configure again)" : "");
				say("skipped: %s: %s\n", p->name, p->skip);
			}
		}
	}
	qsort(peers, (size_t)npeers, sizeof(peers[0]), cmp_peer);

	for (int w = 1; w <= NW; w++) {
		if (!workload_on[w])
			continue;
		for (int si = 0; si < nsizes; si++) {
			progress("%s %s: warm-up", wtitle[w], size_name(sizes[si], sz, sizeof(sz)));
			for (int k = 0; k < npeers; k++)
				run_one(&peers[k], w, si, false);
			for (int r = 0; r < rounds; r++) {
				progress("%s %s: round %d/%d", wtitle[w], size_name(sizes[si], sz, sizeof(sz)), r + 1,
					 rounds);
				for (int k = 0; k < npeers; k++)
					run_one(&peers[(k + r) % npeers], w, si, true);
				if (w == 1)
					hw_sample();
			}
		}
		progress(NULL);
		print_table(w);
	}
	for (i = 0; i < nworkers; i++)
		worker_stop(&workers[i], false);
	print_hw();

	if (do_callgrind && (workload_on[1] || workload_on[2])) {
		/*
		 * Count the pool's own instructions: its valgrind mempool
		 * annotations run under every valgrind tool, callgrind too, and
		 * never outside valgrind.
		 */
		setenv("IOBUF_VALGRIND", "0", 1);
		if (!valgrind_path[0] || access(valgrind_path, X_OK) != 0) {
			say("\ncallgrind: skipped (valgrind not found at configure time)\n");
		} else {
			for (i = 0; i < nworkers; i++) {
				progress("callgrind: %s", workers[i].base);
				callgrind_worker(&workers[i]);
			}
			progress(NULL);
			print_callgrind();
		}
	}
	write_csv();
	/* Skipped peers are fine (the reason is printed); a run that failed is a bug somewhere. */
	for (int k = 0; k < npeers; k++)
		for (int w = 1; w <= NW; w++)
			for (int si = 0; si < nsizes; si++)
				if (strncmp(peers[k].cell[w][si].status, "failed", 6) == 0) {
					say("\nFAILED: %s W%d %zu B: %s", peers[k].name, w, sizes[si],
					    peers[k].cell[w][si].status);
					failures++;
				}
	say("\n%sCSV: %s/bench.csv; plots: make bench-plot.  Session took %.0f s.\n", failures ? "\n" : "", out_dir,
	    now_s() - t0);
	if (tables)
		fclose(tables);
	return failures ? 1 : 0;
}
