/* syscalls — `ampstat syscalls`: how many system calls each role of the
 * server makes, how long they take in total and their log2 latency
 * histogram (bpf/syscalls.bpf.c).  An opt-in mode, since hooking sys_enter
 * and sys_exit costs every system call on the machine: it reports its own
 * BPF run time next to the target's CPU time.
 *
 * --json: one object {"type":"summary", "pid", "comm", "duration_s", "end":
 * "duration"|"signal"|"target exited", "calls" (all counted), "roles":
 * [{"role", "calls", "time_ns", "syscalls": [{"nr", "name", "count",
 * "timed", "total_ns", "p50_ns", "p99_ns", "hist": [32 log2 buckets, bucket
 * i = [2^i, 2^(i+1)) ns]}]}], "bpf": {...}, "dropped": {"calls", "tgids"}}.
 * Counts are taken at sys_exit, like libbpf-tools' syscount; "timed" leaves
 * out calls that were already in progress when tracing began. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ampstat_syscalls.h"
#include "ampstat/cmd.h"
#include "ampstat/sess.h"
#include "ampstat/roles.h"
#include "syscalls.skel.h"

static const char *const sc_names[] = {
#include "syscall_names.h"
};
#define N_SC_NAMES (sizeof(sc_names) / sizeof(sc_names[0]))

struct sc_row {
	int role;
	__u32 nr;
	struct ampstat_sc_val v;
};

struct sc_run {
	pid_t pid;
	char comm[32];
	struct sc_row *rows;
	int nrows, cap;
};

static void sc_name(__u32 nr, char *buf, size_t n)
{
	if (nr < N_SC_NAMES && sc_names[nr])
		snprintf(buf, n, "%s", sc_names[nr]);
	else
		snprintf(buf, n, "sys_%u", nr);
}

static int add_row(struct sc_run *r, int role, __u32 nr, const struct ampstat_sc_val *v)
{
	struct sc_row *row = NULL;

	for (int i = 0; i < r->nrows && !row; i++)
		if (r->rows[i].role == role && r->rows[i].nr == nr)
			row = &r->rows[i];
	if (!row) {
		if (r->nrows == r->cap) {
			int n = r->cap ? r->cap * 2 : 64;
			struct sc_row *a = realloc(r->rows, (size_t)n * sizeof(*a));
			if (!a)
				return -ENOMEM;
			r->rows = a;
			r->cap = n;
		}
		row = &r->rows[r->nrows++];
		memset(row, 0, sizeof(*row));
		row->role = role;
		row->nr = nr;
	}
	row->v.count += v->count;
	row->v.timed += v->timed;
	row->v.total_ns += v->total_ns;
	for (int b = 0; b < AMPSTAT_SC_BUCKETS; b++)
		row->v.hist[b] += v->hist[b];
	return 0;
}

/* Sum the per-CPU values of every (thread, syscall) into (role, syscall)
 * rows. */
static int collect(struct sc_run *r, int fd)
{
	int ncpu = libbpf_num_possible_cpus();
	struct ampstat_sc_key key, next;
	struct ampstat_sc_val *pv;
	void *prev = NULL;

	if (ncpu <= 0)
		return -EINVAL;
	pv = calloc((size_t)ncpu, sizeof(*pv));
	if (!pv)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct ampstat_sc_val sum = {};
		char comm[AMPSTAT_COMM_LEN + 1];

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, pv))
			continue;
		for (int c = 0; c < ncpu; c++) {
			sum.count += pv[c].count;
			sum.timed += pv[c].timed;
			sum.total_ns += pv[c].total_ns;
			for (int b = 0; b < AMPSTAT_SC_BUCKETS; b++)
				sum.hist[b] += pv[c].hist[b];
		}
		memcpy(comm, key.comm, AMPSTAT_COMM_LEN);
		comm[AMPSTAT_COMM_LEN] = 0;
		if (add_row(r, roles_of_thread((pid_t)key.tgid, (pid_t)key.tid, comm), key.nr, &sum)) {
			free(pv);
			return -ENOMEM;
		}
	}
	free(pv);
	return 0;
}

/* the upper bound of the bucket holding quantile q of the timed calls */
static __u64 hist_q(const struct ampstat_sc_val *v, double q)
{
	__u64 want, seen = 0;

	if (!v->timed)
		return 0;
	want = (__u64)((double)v->timed * q);
	if (want < 1)
		want = 1;
	for (int b = 0; b < AMPSTAT_SC_BUCKETS; b++) {
		seen += v->hist[b];
		if (seen >= want)
			return b >= 63 ? ~0ULL : (1ULL << (b + 1));
	}
	return 1ULL << AMPSTAT_SC_BUCKETS;
}

static int cmp_rows(const void *a, const void *b)
{
	const struct sc_row *x = a, *y = b;

	if (x->role != y->role)
		return x->role - y->role;
	if (x->v.count != y->v.count)
		return x->v.count < y->v.count ? 1 : -1;
	return (int)x->nr - (int)y->nr;
}

static void print_hist(const struct ampstat_sc_val *v)
{
	__u64 max = 0;
	int lo = -1, hi = -1;

	for (int b = 0; b < AMPSTAT_SC_BUCKETS; b++) {
		if (!v->hist[b])
			continue;
		if (lo < 0)
			lo = b;
		hi = b;
		if (v->hist[b] > max)
			max = v->hist[b];
	}
	for (int b = lo; b >= 0 && b <= hi; b++) {
		int w = (int)(40.0 * (double)v->hist[b] / (double)max + 0.5);
		char bar[41];

		memset(bar, '*', (size_t)w);
		bar[w] = 0;
		printf("      %10llu -> %-10llu ns %10llu |%-40s|\n", b ? 1ULL << b : 0ULL,
		       (1ULL << (b + 1)) - 1, (unsigned long long)v->hist[b], bar);
	}
}

static void report(struct sc_run *r, bool json, bool hist, int top, double dur_s, const char *why,
		   const struct tr_prog *p0, const struct tr_prog *p1, int np, __u64 cpu, __u64 drops,
		   __u64 drops_tg)
{
	int nroles = roles_count();
	__u64 total = 0;

	qsort(r->rows, (size_t)r->nrows, sizeof(r->rows[0]), cmp_rows);
	for (int i = 0; i < r->nrows; i++)
		total += r->rows[i].v.count;
	if (json) {
		bool first_role = true;

		printf("{\"type\":\"summary\",\"pid\":%d,\"comm\":", (int)r->pid);
		mode_json_str(stdout, r->comm);
		printf(",\"duration_s\":%.3f,\"end\":\"%s\",\"calls\":%llu,\"roles\":[", dur_s, why,
		       (unsigned long long)total);
		for (int role = 0; role < nroles; role++) {
			__u64 rc = 0, rt = 0;
			bool first = true, any = false;

			for (int i = 0; i < r->nrows; i++)
				if (r->rows[i].role == role) {
					rc += r->rows[i].v.count;
					rt += r->rows[i].v.total_ns;
					any = true;
				}
			if (!any)
				continue;
			printf("%s{\"role\":\"%s\",\"calls\":%llu,\"time_ns\":%llu,\"syscalls\":[",
			       first_role ? "" : ",", roles_name(role), (unsigned long long)rc,
			       (unsigned long long)rt);
			first_role = false;
			for (int i = 0; i < r->nrows; i++) {
				const struct sc_row *w = &r->rows[i];
				char name[32];

				if (w->role != role)
					continue;
				sc_name(w->nr, name, sizeof(name));
				printf("%s{\"nr\":%u,\"name\":\"%s\",\"count\":%llu,\"timed\":%llu,"
				       "\"total_ns\":%llu,\"p50_ns\":%llu,\"p99_ns\":%llu,\"hist\":[",
				       first ? "" : ",", w->nr, name, (unsigned long long)w->v.count,
				       (unsigned long long)w->v.timed, (unsigned long long)w->v.total_ns,
				       (unsigned long long)hist_q(&w->v, 0.5),
				       (unsigned long long)hist_q(&w->v, 0.99));
				for (int b = 0; b < AMPSTAT_SC_BUCKETS; b++)
					printf("%s%llu", b ? "," : "", (unsigned long long)w->v.hist[b]);
				printf("]}");
				first = false;
			}
			printf("]}");
		}
		printf("],");
		sess_cost(stdout, true, p0, p1, np, cpu, dur_s);
		printf(",\"dropped\":{\"calls\":%llu,\"tgids\":%llu}}\n", (unsigned long long)drops,
		       (unsigned long long)drops_tg);
		fflush(stdout);
		return;
	}
	printf("ampstat syscalls  pid %d (%s)  %.2f s (%s)  %llu calls\n", (int)r->pid, r->comm, dur_s,
	       why, (unsigned long long)total);
	printf("%-12s %-18s %10s %10s %11s %10s %10s %10s\n", "ROLE", "SYSCALL", "COUNT", "CALLS/s",
	       "TOTAL_ms", "AVG_us", "P50<us", "P99<us");
	for (int role = 0; role < nroles; role++) {
		int shown = 0, rest = 0;
		__u64 rest_n = 0;

		for (int i = 0; i < r->nrows; i++) {
			const struct sc_row *w = &r->rows[i];
			char name[32];

			if (w->role != role)
				continue;
			if (top && shown >= top) {
				rest++;
				rest_n += w->v.count;
				continue;
			}
			shown++;
			sc_name(w->nr, name, sizeof(name));
			printf("%-12.12s %-18.18s %10llu %10.1f %11.3f %10.2f %10.1f %10.1f\n", roles_name(role),
			       name, (unsigned long long)w->v.count,
			       dur_s > 0 ? (double)w->v.count / dur_s : 0.0, (double)w->v.total_ns / 1e6,
			       w->v.timed ? (double)w->v.total_ns / (double)w->v.timed / 1e3 : 0.0,
			       (double)hist_q(&w->v, 0.5) / 1e3, (double)hist_q(&w->v, 0.99) / 1e3);
			if (hist)
				print_hist(&w->v);
		}
		if (rest)
			printf("%-12.12s (%d more syscalls, %llu calls)\n", roles_name(role), rest,
			       (unsigned long long)rest_n);
	}
	sess_cost(stdout, false, p0, p1, np, cpu, dur_s);
	if (drops || drops_tg)
		printf("dropped: calls %llu, processes %llu\n", (unsigned long long)drops,
		       (unsigned long long)drops_tg);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampstat syscalls -p PID [-d SEC] [--json] [--hist] [-T N]\n"
"                        [--role NAME=REGEX]... [--no-follow] [-v]\n"
"\n"
"Counts every system call of the server, per role (by thread: see README,\n"
"Roles) and syscall: count, total and average time and a log2 latency\n"
"histogram.\n"
"An opt-in mode: it hooks sys_enter and sys_exit, which run for every\n"
"system call of the machine, and reports what that costs (BPF run time\n"
"against the target's CPU time).  Counts are taken at sys_exit, as\n"
"libbpf-tools' syscount counts.\n"
"\n"
"  -p, --pid PID        the server to trace (with the processes it forks)\n"
"  -d, --duration SEC   stop after SEC seconds (default: Ctrl-C or exit)\n"
"      --json           the summary as one JSON object\n"
"      --hist           print each row's latency histogram\n"
"  -T, --top N          at most N syscalls per role in the table (default 20,\n"
"                       0: all)\n"
"      --role NAME=RE   a role for threads whose name matches RE (or a\n"
"                       selector: cmd: exe: leader: thread:)\n"
"      --no-follow      do not trace processes the target forks\n"
"  -v, --verbose        libbpf debug output\n"
"\n"
"examples:\n"
"  ampstat syscalls -p $(pgrep -x amped) -d 5\n"
"  ampstat syscalls -p 1234 -d 10 --hist -T 5\n"
"  ampstat syscalls -p 1234 -d 10 --json > syscalls.json\n"
"\n");
	mode_usage_maps(f, "syscalls");
	fprintf(f,
"Exit status: 0 ok (duration, Ctrl-C or the target exited: a summary is\n"
"printed), 1 runtime error (not root, no BTF, no such process), 2 usage error.\n");
}

struct sc_ctx {
	struct sc_run r;
	struct syscalls_bpf *skel;
	bool hist, follow;
	int top;
};

static int option(struct sess *s, void *ctx, int c, const char *arg)
{
	struct sc_ctx *x = ctx;

	(void)s;
	switch (c) {
	case 'T': return mode_parse_top(arg, 100000, &x->top) ? 0 : 2;
	case 'H': x->hist = true; return 0;
	case 'r': return roles_add(arg) ? 2 : 0;
	case 'F': x->follow = false; return 0;
	}
	return 2;
}

static int start(struct sess *s, void *ctx)
{
	struct sc_ctx *x = ctx;

	x->r.pid = s->pid;
	snprintf(x->r.comm, sizeof(x->r.comm), "%s", s->comm);
	x->skel = syscalls_bpf__open();
	if (!x->skel) {
		fprintf(stderr, "ampstat: open syscalls.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	x->skel->rodata->follow_forks = x->follow;
	if (sess_load(s, x->skel->skeleton))
		return 1;
	sess_pin(s, x->skel->obj, "syscalls", NULL);
	if (sess_targets(s, bpf_map__fd(x->skel->maps.targets), bpf_map__fd(x->skel->maps.fast)) ||
	    sess_attach(s, x->skel->skeleton))
		return 1;
	fprintf(stderr, "ampstat: tracing pid %d (%s) syscalls; Ctrl-C to stop\n", (int)s->pid, s->comm);
	return 0;
}

static int stop(struct sess *s, void *ctx, const char *why)
{
	struct sc_ctx *x = ctx;
	struct tr_prog p1[SESS_PROG_MAX];
	__u64 cpu = sess_cpu_ns(s);
	double dur_s;

	/* detach first: the counts then stand still while they are read */
	syscalls_bpf__detach(x->skel);
	dur_s = (double)(mode_now_ns() - s->t0_ns) / 1e9;
	sess_progs(s, p1, SESS_PROG_MAX);
	if (collect(&x->r, bpf_map__fd(x->skel->maps.sc))) {
		fprintf(stderr, "ampstat: reading the counts: out of memory\n");
		return 1;
	}
	report(&x->r, s->json, x->hist, x->top, dur_s, why, s->p0, p1, s->nprogs, cpu,
	       x->skel->bss->dropped_calls, x->skel->bss->dropped_tgids);
	return 0;
}

static void cleanup(struct sess *s, void *ctx)
{
	struct sc_ctx *x = ctx;

	(void)s;
	syscalls_bpf__destroy(x->skel);
	free(x->r.rows);
}

int cmd_syscalls(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "hist", no_argument, NULL, 'H' },
		{ "top", required_argument, NULL, 'T' },
		{ "role", required_argument, NULL, 'r' },
		{ "no-follow", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct sess_cmd cmd = {
		.name = "syscalls", .usage = usage, .shortopts = "T:", .longopts = longopts,
		.option = option, .flags = SESS_JSON, .interval_s = 0.5, .start = start,
		.stop = stop, .cleanup = cleanup,
	};
	struct sc_ctx x = { .top = 20, .follow = true };

	return sess_run(&cmd, &x, argc, argv);
}
