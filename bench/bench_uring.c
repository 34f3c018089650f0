/* SPDX-License-Identifier: MIT */
/*
 * bench_uring.c - the echo server on epoll and on io_uring, in one session
 * on the loopback: throughput, round trip and system calls per MB.
 *
 *   bench_uring [--server PATH] [--client PATH] [--out DIR] [--rounds N] [--seconds S]
 *               [--conns LIST] [--only NAME,...] [--quick]
 *
 * The servers are examples/echo_server, each in its own process, all
 * started once at the beginning of the session:
 *
 *   epoll       epoll + readv/writev into pooled buffers (the default server)
 *   uring       io_uring: multishot receives into buffers the kernel picks
 *               from a provided-buffer ring fed from the tier, write_fixed
 *               from the registered arena (--uring)
 *   uring_zc    the same with zero-copy sends (--uring --zc)
 *   uring_hand  io_uring the way liburing's examples do it: one malloc'd
 *               group of as many buffers, each added back to its ring by
 *               hand (io_uring_buf_ring_add) once echoed, plain writes
 *               (--uring --malloc)
 *
 * Both io_uring servers run the same loop (examples/echo_uring.c): only
 * where the buffers come from and how they are sent differ.  Every server
 * has one thread, 4096 buffers of 4 KiB and the same bounds; it is pinned
 * to the first allowed core, the load client (examples/echo_client, which
 * verifies every byte) to the second.  For each connection count, one
 * warm-up run of every server, then ROUNDS rounds, each running every
 * server once in an order rotated by one each round; only one server has
 * clients at a time.  Cells are medians over the rounds.
 *
 * System calls are counted by the kernel: a perf counter on the
 * raw_syscalls:sys_enter tracepoint (and on the syscalls:sys_enter_* of
 * the calls the servers make most), opened on each server process before
 * it starts (inherited by its threads), read before and after each run.
 * They are the server's own calls only, from the first connect to the
 * last close of the run, divided by the MB (10^6 bytes) echoed.  Where
 * perf counters are not allowed (not root, perf_event_paranoid, no
 * tracefs) the columns say n/a and why; strace(1) is not used, since
 * ptrace slows each call by far more than it costs and so changes how
 * much each call carries.
 *
 * Exits 0; 77 when io_uring cannot run here (the reason printed); 1 when a
 * client saw a wrong byte, a server did not start or did not give every
 * buffer back.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iobuf/uring.h>

#include "../tests/common/thread.h"
#include "util.h"

#define MAX_ROUNDS 32
#define MAX_CONNS_LEVELS 8
#define NCOUNT 6 /* the total and the named calls below */
#define START_TIMEOUT_MS 30000

struct variant {
	const char *name;
	const char *what;
	const char *args[4];
};

static const struct variant variants[] = {
	{"epoll", "epoll + readv/writev, pooled buffers", {NULL}},
	{"uring", "io_uring, provided buffers from the tier, write_fixed", {"--uring", NULL}},
	{"uring_zc", "io_uring, provided buffers from the tier, send_zc", {"--uring", "--zc", NULL}},
	{"uring_hand", "io_uring, a malloc'd group recycled by hand, plain writes", {"--uring", "--malloc", NULL}},
};
#define NVAR ((int)(sizeof(variants) / sizeof(variants[0])))
enum { V_EPOLL, V_URING, V_URING_ZC, V_HAND };

/* The tracepoints counted: the total first. */
static const char *const count_names[NCOUNT] = {"all", "io_uring_enter", "epoll_wait", "readv", "sendmsg", "other"};
static const char *const count_events[NCOUNT - 1] = {"raw_syscalls/sys_enter", "syscalls/sys_enter_io_uring_enter",
						     "syscalls/sys_enter_epoll_wait", "syscalls/sys_enter_readv",
						     "syscalls/sys_enter_sendmsg"};

struct sample {
	double mbps, p50, p99;
	uint64_t bytes;
	uint64_t calls[NCOUNT]; /* per run; [NCOUNT-1] = all less the named ones */
	bool counted;
};

struct server {
	const struct variant *v;
	bool on;       /* selected (--only) */
	pid_t pid;
	int port;
	int fds[NCOUNT - 1]; /* perf counters, -1 when not counted */
	char out[512];       /* its stdout and stderr */
	char skip[256];      /* why it does not run, or "" */
	int nsamples[MAX_CONNS_LEVELS];
	struct sample s[MAX_CONNS_LEVELS][MAX_ROUNDS];
};

static struct server servers[NVAR];
static const char *server_path, *client_path, *out_dir = "bench/results";
static int rounds = 5, seconds = 2, nlevels = 3;
static int levels[MAX_CONNS_LEVELS] = {1, 64, 512};
static bool quick;
static char count_why[256]; /* why system calls are not counted, or "" */
static uint32_t tp_id[NCOUNT - 1];
static FILE *md; /* OUT/uring.md: a copy of the tables */

/* Everything printed goes to OUT/uring.md too. */
#define say(...) bench_say(md, __VA_ARGS__)

/* ---- perf counters on tracepoints ---------------------------------------------- */

static int tracepoint_id(const char *event, uint32_t *id)
{
	static const char *const roots[] = {"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"};
	char path[256];

	for (unsigned r = 0; r < 2; r++) {
		FILE *f;
		unsigned v;

		snprintf(path, sizeof(path), "%s/%s/id", roots[r], event);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%u", &v) == 1) {
			fclose(f);
			*id = v;
			return 0;
		}
		fclose(f);
	}
	return -ENOENT;
}

static void counters_init(void)
{
	for (int k = 0; k < NCOUNT - 1; k++)
		if (tracepoint_id(count_events[k], &tp_id[k]) < 0) {
			snprintf(count_why, sizeof(count_why), "cannot read the id of tracepoint %s (not root, or no tracefs)", count_events[k]);
			return;
		}
}

/* A counter of tracepoint @k on @pid and the threads it will start. */
static int counter_open(pid_t pid, int k)
{
	struct perf_event_attr a;
	long fd;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_TRACEPOINT;
	a.size = sizeof(a);
	a.config = tp_id[k];
	a.inherit = 1;
	a.sample_period = 0;
	fd = syscall(SYS_perf_event_open, &a, pid, -1, -1, 0);
	return fd < 0 ? -errno : (int)fd;
}

/* The sum over the process and its threads (an inherited counter reads its children too). */
static uint64_t counter_read(int fd)
{
	uint64_t v = 0;

	if (fd < 0 || read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* ---- processes ------------------------------------------------------------------ */

/* Fork; the child pins itself to core @core, sends its output to @out, waits for @go, and execs @argv. */
static pid_t spawn(char *const argv[], int core, const char *out, int go)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	th_pin(core);
	if (out) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
	}
	if (go >= 0) {
		char c;

		if (read(go, &c, 1) != 1)
			_exit(126);
		close(go);
	}
	execv(argv[0], argv);
	fprintf(stderr, "bench_uring: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* The last line of @path that starts with @prefix (or any last line), without its newline. */
static void last_line(const char *path, const char *prefix, char *buf, size_t len)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (prefix && strncmp(line, prefix, strlen(prefix)) != 0)
			continue;
		size_t n = strcspn(line, "\n");

		n = n < len - 1 ? n : len - 1;
		memcpy(buf, line, n);
		buf[n] = '\0';
	}
	fclose(f);
}

static void server_start(struct server *sv)
{
	char port_file[512], ports[32];
	char *argv[16];
	int go[2], argc = 0, status;
	FILE *f;

	snprintf(sv->out, sizeof(sv->out), "%s/uring-%s.server", out_dir, sv->v->name);
	snprintf(port_file, sizeof(port_file), "%s/uring-%s.port", out_dir, sv->v->name);
	unlink(port_file);
	argv[argc++] = (char *)server_path;
	argv[argc++] = "--port";
	argv[argc++] = "0";
	argv[argc++] = "--port-file";
	argv[argc++] = port_file;
	argv[argc++] = "--quiet";
	for (int i = 0; sv->v->args[i]; i++)
		argv[argc++] = (char *)sv->v->args[i];
	argv[argc] = NULL;
	for (int k = 0; k < NCOUNT - 1; k++)
		sv->fds[k] = -1;
	if (pipe(go) != 0) {
		snprintf(sv->skip, sizeof(sv->skip), "pipe: %s", strerror(errno));
		return;
	}
	sv->pid = spawn(argv, 0, sv->out, go[0]);
	close(go[0]);
	if (sv->pid < 0) {
		snprintf(sv->skip, sizeof(sv->skip), "fork: %s", strerror(errno));
		close(go[1]);
		return;
	}
	/* The counters go on before the exec, so that every thread the server starts inherits them. */
	for (int k = 0; k < NCOUNT - 1 && !count_why[0]; k++) {
		int fd = counter_open(sv->pid, k);

		if (fd < 0)
			snprintf(count_why, sizeof(count_why), "perf_event_open: %s (needs root or perf_event_paranoid <= -1)",
				 strerror(-fd));
		else
			sv->fds[k] = fd;
	}
	if (write(go[1], "g", 1) != 1)
		perror("bench_uring: pipe");
	close(go[1]);
	for (int waited = 0;; waited += 10) {
		if (waitpid(sv->pid, &status, WNOHANG) == sv->pid) {
			char why[200];

			last_line(sv->out, NULL, why, sizeof(why));
			snprintf(sv->skip, sizeof(sv->skip), "%s%s",
				 WIFEXITED(status) && WEXITSTATUS(status) == 77 ? "" : "FAILED to start: ", why);
			sv->pid = 0;
			return;
		}
		f = fopen(port_file, "r");
		if (f) {
			bool got = fgets(ports, sizeof(ports), f) != NULL;

			fclose(f);
			if (got && (sv->port = atoi(ports)) > 0)
				return;
		}
		if (waited >= START_TIMEOUT_MS) {
			snprintf(sv->skip, sizeof(sv->skip), "FAILED: no port after %d ms", START_TIMEOUT_MS);
			kill(sv->pid, SIGKILL);
			waitpid(sv->pid, &status, 0);
			sv->pid = 0;
			return;
		}
		usleep(10000);
	}
}

/* SIGTERM; 0 when it exits 0 having said every buffer is back. */
static int server_stop(struct server *sv, char *line, size_t len)
{
	int status = 0;

	line[0] = '\0';
	if (sv->pid <= 0)
		return 0;
	kill(sv->pid, SIGTERM);
	waitpid(sv->pid, &status, 0);
	sv->pid = 0;
	for (int k = 0; k < NCOUNT - 1; k++)
		if (sv->fds[k] >= 0)
			close(sv->fds[k]);
	last_line(sv->out, "echo_server: all ", line, len);
	if (!line[0])
		last_line(sv->out, "echo_server: malloc buffers", line, len);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 && line[0] ? 0 : -1;
}

/* A value of the client's RESULT line. */
static double result_field(const char *line, const char *name)
{
	char key[32];
	const char *p;

	snprintf(key, sizeof(key), " %s=", name);
	p = strstr(line, key);
	return p ? strtod(p + strlen(key), NULL) : -1;
}

/* One run of the load client against @sv; false when it failed (a wrong byte, a lost connection). */
static bool run_one(struct server *sv, int conns, int secs, struct sample *out)
{
	char ports[16], connss[16], secss[16], path[512], line[512];
	char *argv[] = {(char *)client_path, "--port", ports, "--conns", connss, "--duration", secss, "--quiet", NULL};
	uint64_t before[NCOUNT - 1], after[NCOUNT - 1];
	int status = 0;
	pid_t pid;

	snprintf(ports, sizeof(ports), "%d", sv->port);
	snprintf(connss, sizeof(connss), "%d", conns);
	snprintf(secss, sizeof(secss), "%d", secs);
	snprintf(path, sizeof(path), "%s/uring-%s.client", out_dir, sv->v->name);
	for (int k = 0; k < NCOUNT - 1; k++)
		before[k] = counter_read(sv->fds[k]);
	pid = spawn(argv, 1, path, -1);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	for (int k = 0; k < NCOUNT - 1; k++)
		after[k] = counter_read(sv->fds[k]);
	last_line(path, "RESULT", line, sizeof(line));
	memset(out, 0, sizeof(*out));
	out->mbps = result_field(line, "mbps");
	out->p50 = result_field(line, "p50_us");
	out->p99 = result_field(line, "p99_us");
	out->bytes = (uint64_t)result_field(line, "bytes");
	out->counted = !count_why[0] && sv->fds[0] >= 0;
	if (out->counted) {
		uint64_t named = 0;

		for (int k = 0; k < NCOUNT - 1; k++)
			out->calls[k] = after[k] - before[k];
		for (int k = 1; k < NCOUNT - 1; k++)
			named += out->calls[k];
		out->calls[NCOUNT - 1] = out->calls[0] > named ? out->calls[0] - named : 0;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || result_field(line, "failed") != 0 || out->bytes == 0) {
		char tail[256];

		last_line(path, NULL, tail, sizeof(tail));
		fprintf(stderr, "bench_uring: %s, %d connections: the client failed (%s); see %s\n", sv->v->name, conns,
			tail, path);
		return false;
	}
	return true;
}

/* ---- statistics ------------------------------------------------------------------- */

enum metric { M_MBPS, M_P50, M_P99, M_CALLS };

/* Median over the rounds of @sv at level @li of metric @m (M_CALLS: calls @k per MB); min and max too. */
static double cell(const struct server *sv, int li, enum metric m, int k, double *lo, double *hi)
{
	double v[MAX_ROUNDS];
	int n = 0;

	for (int r = 0; r < sv->nsamples[li]; r++) {
		const struct sample *s = &sv->s[li][r];

		if (m == M_CALLS && !s->counted)
			continue;
		v[n++] = m == M_MBPS  ? s->mbps
			 : m == M_P50 ? s->p50
			 : m == M_P99 ? s->p99
				      : (double)s->calls[k] / ((double)s->bytes / 1e6);
	}
	if (lo && hi) {
		*lo = *hi = n ? v[0] : -1;
		for (int i = 1; i < n; i++) {
			*lo = v[i] < *lo ? v[i] : *lo;
			*hi = v[i] > *hi ? v[i] : *hi;
		}
	}
	return bench_median(v, n);
}

static void ratio(char *buf, size_t len, double a, double b)
{
	if (a > 0 && b > 0)
		snprintf(buf, len, "%.2fx", a / b);
	else
		snprintf(buf, len, "-");
}

static void print_tables(void)
{
	say("\n| server | conns | MB/s median (min-max) | p50 us | p99 us | syscalls/MB | MB/s vs epoll | MB/s vs "
	    "uring_hand | syscalls/MB vs uring_hand |\n");
	say("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (int li = 0; li < nlevels; li++) {
		for (int v = 0; v < NVAR; v++) {
			const struct server *sv = &servers[v];
			double lo, hi, mb, calls, r_calls_hand;
			char c[32], r1[16], r2[16], r3[16];

			if (!sv->on)
				continue;
			if (sv->skip[0] || sv->nsamples[li] == 0) {
				say("| %s | %d | skipped: %s | | | | | | |\n", sv->v->name, levels[li],
				    sv->skip[0] ? sv->skip : "no run");
				continue;
			}
			mb = cell(sv, li, M_MBPS, 0, &lo, &hi);
			calls = cell(sv, li, M_CALLS, 0, NULL, NULL);
			r_calls_hand = servers[V_HAND].nsamples[li] ? cell(&servers[V_HAND], li, M_CALLS, 0, NULL, NULL) : -1;
			if (calls >= 0)
				snprintf(c, sizeof(c), "%.1f", calls);
			else
				snprintf(c, sizeof(c), "n/a");
			ratio(r1, sizeof(r1), mb,
			      servers[V_EPOLL].nsamples[li] ? cell(&servers[V_EPOLL], li, M_MBPS, 0, NULL, NULL) : -1);
			ratio(r2, sizeof(r2), mb,
			      servers[V_HAND].nsamples[li] ? cell(&servers[V_HAND], li, M_MBPS, 0, NULL, NULL) : -1);
			ratio(r3, sizeof(r3), calls, r_calls_hand);
			say("| %s | %d | %.1f (%.1f-%.1f) | %.0f | %.0f | %s | %s | %s | %s |\n", sv->v->name, levels[li], mb,
			    lo, hi, cell(sv, li, M_P50, 0, NULL, NULL), cell(sv, li, M_P99, 0, NULL, NULL), c, r1, r2, r3);
		}
	}
	if (count_why[0]) {
		say("\nsystem calls not counted: %s\n", count_why);
		return;
	}
	say("\nsystem calls per MB echoed, by call (medians; \"other\": accept4, close, shutdown, io_uring_register, "
	    "...):\n\n| server | conns |");
	for (int k = 0; k < NCOUNT; k++)
		say(" %s |", count_names[k]);
	say("\n| --- | ---: |");
	for (int k = 0; k < NCOUNT; k++)
		say(" ---: |");
	say("\n");
	for (int li = 0; li < nlevels; li++)
		for (int v = 0; v < NVAR; v++) {
			const struct server *sv = &servers[v];

			if (!sv->on || sv->skip[0] || sv->nsamples[li] == 0)
				continue;
			say("| %s | %d |", sv->v->name, levels[li]);
			for (int k = 0; k < NCOUNT; k++)
				say(" %.1f |", cell(sv, li, M_CALLS, k, NULL, NULL));
			say("\n");
		}
}

static void write_csv(void)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/uring.csv", out_dir);
	f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "server,conns,round,mbps,p50_us,p99_us,bytes");
	for (int k = 0; k < NCOUNT; k++)
		fprintf(f, ",calls_%s", count_names[k]);
	fprintf(f, "\n");
	for (int v = 0; v < NVAR; v++)
		for (int li = 0; li < nlevels; li++)
			for (int r = 0; r < servers[v].nsamples[li]; r++) {
				const struct sample *s = &servers[v].s[li][r];

				fprintf(f, "%s,%d,%d,%.1f,%.1f,%.1f,%" PRIu64, variants[v].name, levels[li], r, s->mbps,
					s->p50, s->p99, s->bytes);
				for (int k = 0; k < NCOUNT; k++)
					if (s->counted)
						fprintf(f, ",%" PRIu64, s->calls[k]);
					else
						fprintf(f, ",");
				fprintf(f, "\n");
			}
	fclose(f);
}

/* ---- main ------------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bench_uring [options]\n"
		"  --server PATH   examples/echo_server (default: next to this program, ../examples/echo_server)\n"
		"  --client PATH   examples/echo_client (default: likewise)\n"
		"  --out DIR       where the tables (uring.md), the CSV and the servers' output go (bench/results)\n"
		"  --rounds N      rounds per connection count, 1..%d (default 5)\n"
		"  --seconds S     seconds of load per run, 1..60 (default 2)\n"
		"  --conns LIST    connection counts, comma-separated, at most %d (default 1,64,512)\n"
		"  --only LIST     servers to run, comma-separated: epoll,uring,uring_zc,uring_hand\n"
		"  --quick         the smoke run: 64 connections, one round of 1 s, no warm-up\n",
		MAX_ROUNDS, MAX_CONNS_LEVELS);
}

static char *beside_me(const char *argv0, const char *rel)
{
	char *dir = strdup(argv0), *slash = strrchr(dir, '/'), *p;

	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	p = malloc(strlen(dir) + strlen(rel) + 2);
	sprintf(p, "%s/%s", dir, rel);
	free(dir);
	return p;
}

static int parse_list(const char *s, int *v, int max)
{
	int n = 0;

	while (*s && n < max) {
		char *end;
		long x = strtol(s, &end, 10);

		if (end == s || x < 1 || x > 4096)
			return -1;
		v[n++] = (int)x;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{"server", required_argument, NULL, 's'}, {"client", required_argument, NULL, 'c'},
		{"out", required_argument, NULL, 'o'},	  {"rounds", required_argument, NULL, 'r'},
		{"seconds", required_argument, NULL, 'd'}, {"conns", required_argument, NULL, 'n'},
		{"only", required_argument, NULL, 'O'},	  {"quick", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},	  {NULL, 0, NULL, 0},
	};
	const char *only = NULL;
	struct iobuf_uring_features f;
	struct utsname u;
	double load[3] = {0};
	char path[512];
	int ch, rc = 0, err;

	while ((ch = getopt_long(argc, argv, "s:c:o:r:d:n:O:qh", longs, NULL)) != -1) {
		switch (ch) {
		case 's': server_path = optarg; break;
		case 'c': client_path = optarg; break;
		case 'o': out_dir = optarg; break;
		case 'r': rounds = atoi(optarg); break;
		case 'd': seconds = atoi(optarg); break;
		case 'n': nlevels = parse_list(optarg, levels, MAX_CONNS_LEVELS); break;
		case 'O': only = optarg; break;
		case 'q': quick = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || rounds < 1 || rounds > MAX_ROUNDS || seconds < 1 || seconds > 60 || nlevels < 1) {
		usage(stderr);
		return 2;
	}
	if (quick) {
		rounds = 1;
		seconds = 1;
		nlevels = 1;
		levels[0] = 64;
	}
	if (!server_path)
		server_path = beside_me(argv[0], "../examples/echo_server");
	if (!client_path)
		client_path = beside_me(argv[0], "../examples/echo_client");
	if (access(server_path, X_OK) != 0 || access(client_path, X_OK) != 0) {
		fprintf(stderr, "bench_uring: %s or %s not built (make examples/echo_server examples/echo_client)\n",
			server_path, client_path);
		return 1;
	}
	err = iobuf_uring_probe(&f);
	if (err < 0 || !f.buf_ring || !f.recv_multishot) {
		printf("bench_uring: skipped: io_uring cannot run here: %s\n",
		       err < 0 ? strerror(-err) : "no provided-buffer rings or multishot receive in this kernel");
		return 77;
	}
	mkdir(out_dir, 0755);
	snprintf(path, sizeof(path), "%s/uring.md", out_dir);
	md = fopen(path, "w");
	signal(SIGPIPE, SIG_IGN);
	counters_init();
	uname(&u);
	getloadavg(load, 3);
	say("# bench_uring: the echo server on epoll and on io_uring, loopback, %s %s, %d cores, load average %.2f "
	    "at start\n",
	    u.sysname, u.release, th_ncpus(), load[0]);
	say("# each server one thread on core 0, the client on core 1; 4096 buffers of 4 KiB; client chunks of 16 KiB, "
	    "64 KiB in flight per connection; %d round%s of %d s per cell (median)%s\n",
	    rounds, rounds > 1 ? "s" : "", seconds, quick ? ", no warm-up" : ", after a warm-up");
	for (int v = 0; v < NVAR; v++) {
		servers[v].v = &variants[v];
		servers[v].on = true;
		if (only) {
			const char *p = strstr(only, variants[v].name);
			size_t n = strlen(variants[v].name);

			servers[v].on = p && (p == only || p[-1] == ',') && (p[n] == '\0' || p[n] == ',');
		}
		if (!servers[v].on)
			continue;
		say("#   %-10s %s\n", variants[v].name, variants[v].what);
		server_start(&servers[v]);
		if (servers[v].skip[0]) {
			say("skipped: %s: %s\n", variants[v].name, servers[v].skip);
			if (strncmp(servers[v].skip, "FAILED", 6) == 0)
				rc = 1;
		}
	}
	if (count_why[0])
		say("# system calls not counted: %s\n", count_why);
	else
		say("# system calls: the kernel's count of the server's own (perf, raw_syscalls:sys_enter), per MB echoed\n");
	fflush(stdout);

	for (int li = 0; li < nlevels; li++) {
		for (int r = quick ? 0 : -1; r < rounds; r++) {
			for (int k = 0; k < NVAR; k++) {
				struct server *sv = &servers[(k + (r < 0 ? 0 : r)) % NVAR];
				struct sample s;

				if (!sv->on || sv->skip[0])
					continue;
				if (!run_one(sv, levels[li], r < 0 ? 1 : seconds, &s)) {
					rc = 1;
					continue;
				}
				if (r >= 0)
					sv->s[li][sv->nsamples[li]++] = s;
			}
		}
		printf("# %d connections: done\n", levels[li]);
		fflush(stdout);
	}
	print_tables();
	write_csv();
	say("\nbuffers at exit:\n");
	for (int v = 0; v < NVAR; v++) {
		char line[256];

		if (!servers[v].on || servers[v].skip[0])
			continue;
		if (server_stop(&servers[v], line, sizeof(line)) < 0) {
			say("  %s: FAILED: the server did not stop clean (see %s)\n", variants[v].name, servers[v].out);
			rc = 1;
		} else {
			say("  %s: %s\n", variants[v].name, line + strlen("echo_server: "));
		}
	}
	getloadavg(load, 3);
	say("(load average %.2f at the end; MB = 10^6 bytes; round trip: from a send to the echo of its last byte, "
	    "under full load; tables in %s/uring.md, every run in %s/uring.csv)\n",
	    load[0], out_dir, out_dir);
	if (md)
		fclose(md);
	return rc;
}
