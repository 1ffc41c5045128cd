/* latency — `ampstat latency`: the server's request latency, where it went
 * (phases), and how much of it the serving thread spent off CPU.
 *
 * bpf/latency.bpf.c sums requests in the kernel from amped's request_done
 * probe (one hit per request, whose last argument points at the request's
 * phase marks) and intersects them with the serving threads' off-CPU
 * stretches from sched_switch.  amped keeps the phase marks only while a
 * tracer asks (amped_current.trace, which this file sets and clears with
 * process_vm_writev, together with the --sample mask).  This file loads it, waits, and reports once
 * at the end: percentiles from a log-linear histogram (user/lh.h, the same
 * as ampload's: within 1 % of the true value; a phase's never above the
 * longest request), a log2 view of it, and per phase the total, mean and
 * percentiles.  A request's latency starts when its first byte reached the
 * host (the kernel's receive stamp, which amped reads while traced), so the
 * time a request waited in the accept queue and in its socket before the
 * server read it is in the total, as phases of its own; "served" is the
 * time from the server's read on (what the latency was before).
 *
 * --json: one object {"type":"summary", "pid", "comm", "duration_s", "end":
 * "duration"|"signal"|"target exited", "sample" (1: every request; N: 1
 * request in N, by request id), "requests", "status": {"1xx".."5xx",
 * "other"}, "helper_requests", "latency_ns": {"mean", "p50", "p90", "p99",
 * "max"} (from arrival), "arrived" (requests whose arrival the kernel
 * stamped; the others start at the read), "served_ns": {"mean", "p50",
 * "p90", "p99"} (from the server's read), "client_ids" (requests that
 * carried a client's id, X-Amped-Req), "hist": [{"lo_ns", "hi_ns",
 * "count"}] (non-empty buckets of the log-linear histogram),
 * "phases": [{"phase": "accept_queue"|"socket_queue"|"receive"|
 * "dispatcher"|"helper_queue"|"helper_service"|"sending", "total_ns",
 * "mean_ns", "share" (a fraction of the requests' total time), "p50_ns",
 * "p90_ns", "p99_ns"}], "offcpu": {
 * "blocked_io_ns", "wait_other_ns", "idle_ns", "runq_ns", "requests",
 * "lost"}, "roles": [{"role", "threads", "requests", "mean_ns"}] (by the
 * role of the thread that finished each request, roles.h), "bpf": {"run_ns", "target_cpu_ns", "pct_of_target_cpu", "progs":
 * [{"name", "run_ns", "runs"}]}, "dropped": {"threads", "bad_marks"}}.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <stddef.h>
#include <stdint.h>
#include "amped_names.h"
#include "amped_usdt.h"
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ampstat_latency.h"
#include "lh.h"
#include "ampstat/cmd.h"
#include "ampstat/latency.h"
#include "ampstat/sess.h"
#include "ampstat/proc.h"
#include "ampstat/reqs.h"
#include "ampstat/roles.h"
#include "ampstat/usdt.h"
#include "latency.skel.h"

#define MAX_KIDS 1024
#define MAX_LINKS (MAX_KIDS + 1)

/* amped's threads that finish requests, by name: dispatchers (also ult's
 * scheduler thread), mp's and mt's and hybrid's workers, seda's http stage */
static bool serves(const char *comm)
{
	static const char stage_http[] = AMPED_COMM_STAGE AMPED_STAGE_HTTP "-";

	return !strncmp(comm, AMPED_COMM_DISP, sizeof(AMPED_COMM_DISP) - 1) ||
	       !strncmp(comm, AMPED_COMM_WORK, sizeof(AMPED_COMM_WORK) - 1) ||
	       !strncmp(comm, stage_http, sizeof(stage_http) - 1);
}

/* Requests by the role of the thread that finished them (map lat_tids),
 * filled at the end and printed with the summary: a = requests, b = the
 * sum of their latency. */
static struct roles_sum lroles[ROLES_MAX];
static int nlroles;

static void lat_roles_read(struct latency_bpf *skel)
{
	int fd = bpf_map__fd(skel->maps.lat_tids);
	__u32 key, next, *prev = NULL;

	nlroles = 0;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct ampstat_lat_tid v;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v) == 0 && v.count)
			roles_sum_tid(lroles, &nlroles, (pid_t)key, v.count, v.total_ns);
	}
}

static void fmt_ns(char *buf, size_t n, double ns);

/* json: a member ,"roles":[{"role", "threads", "requests", "mean_ns"}] */
static void lat_roles_print(bool json)
{
	char a[32];

	if (json) {
		printf(",\"roles\":[");
		for (int i = 0; i < nlroles; i++)
			printf("%s{\"role\":\"%s\",\"threads\":%d,\"requests\":%llu,\"mean_ns\":%.0f}",
			       i ? "," : "", roles_name(lroles[i].role), lroles[i].threads,
			       (unsigned long long)lroles[i].a, (double)lroles[i].b / (double)lroles[i].a);
		printf("]");
		return;
	}
	if (!nlroles)
		return;
	printf("by role of the thread that finished the request:\n");
	for (int i = 0; i < nlroles; i++) {
		fmt_ns(a, sizeof(a), (double)lroles[i].b / (double)lroles[i].a);
		printf("  %-14s %3d thread%s  requests %-10llu mean %s\n", roles_name(lroles[i].role),
		       lroles[i].threads, lroles[i].threads == 1 ? " " : "s",
		       (unsigned long long)lroles[i].a, a);
	}
}

/* Give the threads that serve requests their entry in `lthreads` now, so
 * that the off-CPU stretches of a thread's first request are kept too:
 * amped's dispatchers and workers by name (in the target and its child
 * processes), else every thread of the target.  A thread that appears
 * later gets its entry at its first request. */
static void seed_threads(struct latency_bpf *skel, pid_t pid)
{
	pid_t kids[MAX_KIDS];
	int nk = proc_children(pid, kids, MAX_KIDS), fd = bpf_map__fd(skel->maps.lthreads), seeded = 0;
	static struct ampstat_lat_thread zero;

	for (int pass = 0; pass < 2 && !seeded; pass++) {
		for (int i = -1; i < nk; i++) {
			char dpath[64];
			pid_t p = i < 0 ? pid : kids[i];
			struct dirent *de;
			DIR *d;

			if (pass == 1 && i >= 0)
				break;	/* not amped: the target's own threads */
			snprintf(dpath, sizeof(dpath), "/proc/%d/task", (int)p);
			d = opendir(dpath);
			if (!d)
				continue;
			while ((de = readdir(d))) {
				char cpath[128], comm[32] = "";
				__u32 tid = (__u32)strtoul(de->d_name, NULL, 10);
				FILE *f;

				if (!tid)
					continue;
				snprintf(cpath, sizeof(cpath), "/proc/%d/task/%u/comm", (int)p, tid);
				f = fopen(cpath, "re");
				if (f) {
					if (!fgets(comm, sizeof(comm), f))
						comm[0] = 0;
					fclose(f);
				}
				if (pass == 0 && !serves(comm))
					continue;
				/* task storage is keyed by a pidfd; PIDFD_THREAD
				 * (O_EXCL) names a thread that is not a leader */
				int pfd = (int)syscall(SYS_pidfd_open, (pid_t)tid, O_EXCL);
				if (pfd < 0)
					pfd = (int)syscall(SYS_pidfd_open, (pid_t)tid, 0);
				if (pfd < 0)
					continue;
				if (bpf_map_update_elem(fd, &pfd, &zero, BPF_NOEXIST) == 0)
					seeded++;
				close(pfd);
			}
			closedir(d);
		}
	}
}

/* usdt_sites: every site must pass argument st->argn (from 1) in the same
 * plain 64-bit register (a memory operand or a narrower register:
 * bpf_usdt_arg fetches those) */
struct same_reg {
	int argn, reg;
};

static int site_reg(const struct usdt_site *site, void *arg)
{
	struct same_reg *st = arg;
	int bytes = 0, r = usdt_arg_reg(site->args, st->argn, &bytes);

	if (r < 0 || bytes != 8 || (st->reg >= 0 && r != st->reg)) {
		st->reg = -1;
		return 1;
	}
	st->reg = r;
	return 0;
}

/* Where USDT probe provider:name in the ELF file at path puts argument
 * argn (from 0): the index in struct pt_regs (r15 = 0 .. di = 14, x86_64),
 * or -1 when bpf_usdt_arg must fetch it. */
static int ph_arg_reg(const char *path, const char *prov, const char *name, int argn)
{
	struct same_reg st = { argn + 1, -1 };

	return usdt_sites(path, prov, name, site_reg, &st) > 0 ? st.reg : -1;
}

/* Set amped_current.sample_mask and .trace in the traced processes (the
 * target and tgids[1..]), in every slot a process uses (one per dispatcher,
 * slot 0's nslots of them): request_done then fires for 1 request in mask +
 * 1, and the server keeps the phase marks only while trace is set.  0 ok,
 * -errno (no such symbol: an amped without them). */
static int set_trace(pid_t pid, const __u32 *tgids, int n, __u64 mask, __u64 on)
{
	struct { __u64 mask, trace; } v = { mask, on };
	uint64_t addr;
	int e = proc_sym_addr(pid, "amped_current", &addr);

	_Static_assert(offsetof(struct amped_current, trace) ==
		       offsetof(struct amped_current, sample_mask) + 8, "layout");
	if (e)
		return e;
	for (int i = 0; i < n; i++) {
		uint32_t ns = 0;
		struct iovec nl = { &ns, sizeof(ns) },
			     nr = { (void *)(uintptr_t)(addr + offsetof(struct amped_current, nslots)), sizeof(ns) };
		struct iovec l[AMPED_DISP_MAX], r[AMPED_DISP_MAX];

		if (process_vm_readv((pid_t)tgids[i], &nl, 1, &nr, 1, 0) != (ssize_t)sizeof(ns) && i == 0)
			return -errno;
		ns = ns < 1 ? 1 : ns > AMPED_DISP_MAX ? AMPED_DISP_MAX : ns;
		for (uint32_t k = 0; k < ns; k++) {
			l[k] = (struct iovec){ &v, sizeof(v) };
			r[k] = (struct iovec){ (void *)(uintptr_t)(addr + k * sizeof(struct amped_current) +
								    offsetof(struct amped_current, sample_mask)),
					       sizeof(v) };
		}
		if (process_vm_writev((pid_t)tgids[i], l, ns, r, ns, 0) != (ssize_t)(ns * sizeof(v)) && i == 0)
			return -errno;
	}
	return 0;
}

static const char *phase_json[AL_NPHASE] = { "total", "accept_queue", "socket_queue", "receive",
					     "dispatcher", "helper_queue", "helper_service", "sending",
					     "served" };
static const char *phase_text[AL_NPHASE] = { "total", "accept queue", "socket queue",
					     "waiting for request bytes", "dispatcher work",
					     "helper queue", "helper service", "sending", "served" };

/* The histograms of phases 0 .. nph - 1 (map lhist), summed over CPUs, as
 * struct lh each: quantiles clipped to the longest request, so that no
 * phase's exceeds it.  0 ok, -errno. */
static int read_hist(const struct latency_bpf *skel, __u64 max_ns, struct lh *out, __u32 nph)
{
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(skel->maps.lhist), err = 0;
	__u64 *v;
	uint64_t *cnt;

	if (ncpu <= 0)
		return -EINVAL;
	v = calloc((size_t)ncpu, sizeof(*v));
	cnt = calloc(LH_BUCKETS, sizeof(*cnt));
	if (!v || !cnt) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (__u32 ph = 0; ph < nph && ph < AL_NPHASE; ph++) {
		for (__u32 b = 0; b < LH_BUCKETS; b++) {
			__u32 key = ph * LH_BUCKETS + b;

			cnt[b] = 0;
			if (bpf_map_lookup_elem(fd, &key, v)) {
				err = -errno;
				goto cleanup;
			}
			for (int c = 0; c < ncpu; c++)
				cnt[b] += v[c];
		}
		lh_from_counts(&out[ph], cnt, max_ns);
	}
cleanup:
	free(v);
	free(cnt);
	return err;
}

static void fmt_ns(char *b, size_t n, double ns)
{
	if (ns < 1e3)
		snprintf(b, n, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(b, n, "%.1f us", ns / 1e3);
	else if (ns < 1e9)
		snprintf(b, n, "%.2f ms", ns / 1e6);
	else
		snprintf(b, n, "%.3f s", ns / 1e9);
}

static double pct(__u64 a, __u64 b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampstat latency -p PID [-d SEC] [--json] [--sample auto|N] [--hit-rate R] [-v]\n"
"\n"
"Request latency of a running amped, from its request_done probe (one probe\n"
"hit per request), from the moment the request's first byte reached the host\n"
"(the kernel's receive stamp, which amped reads while traced): p50, p90, p99\n"
"and max (within 1%%), a histogram, and where the time went: accept queue\n"
"(a new connection's first request), socket queue (until the server read\n"
"it), waiting for the request's bytes, dispatcher work, helper queue, helper\n"
"service, sending; and how much of it the serving thread spent off CPU\n"
"(blocked-io, other waits, idle in epoll_wait while the request waited for a\n"
"helper or the client, run queue).  Reports once, at the end.\n"
"\n"
"  -p, --pid PID        the server (its child processes running the same\n"
"                       binary at start, e.g. MP workers, are traced too)\n"
"  -d, --duration SEC   stop after SEC seconds (default: Ctrl-C or target exit)\n"
"      --json           the report as one JSON object\n"
"      --sample N       only 1 request in N (a power of two, 1-65536) fires the\n"
"                       probe: amped tests its request id against a mask\n"
"                       ampstat sets in amped_current, so the other requests\n"
"                       cost ~1 ns instead of ~1.4 us (trap and program).\n"
"                       Each hit counts for N requests.  1: every request,\n"
"                       exact counts.  auto (the default): N follows the\n"
"                       server's request rate (its own counter, read 10 times\n"
"                       a second) so that the probe fires at most --hit-rate\n"
"                       times a second: every request of a server below that\n"
"                       rate, a sample of a busier one\n"
"      --hit-rate R     with --sample auto: probe hits a second (default 4000,\n"
"                       ~0.6%% of a CPU)\n"
"  -v, --verbose        libbpf debug output\n"
"\n"
"examples:\n"
"  ampstat latency -p $(pgrep -x amped) -d 10\n"
"  ampstat latency -p 1234 --json > latency.json     # until Ctrl-C\n"
"  ampstat latency -p 1234 -d 30 --sample 1          # every request, at any cost\n"
"\n"
"Exit status: 0 ok (duration over, Ctrl-C, or the target exited: the report\n"
"is printed), 1 runtime error (not root, no BTF, no such process, no amped\n"
"probes), 2 usage error.\n");
}

const char *lat_phase_name(int phase)
{
	return phase >= 0 && phase < AL_NPHASE ? phase_json[phase] : "?";
}

/* the phases that add up to the total, in the order of a request's life */
static bool phase_part(int ph)
{
	return ph != AL_TOTAL && ph != AL_SERVED;
}

/* The total's histogram in a log2 view (the width of the text chart):
 * power-of-two k holds the buckets whose low bound is in [2^k, 2^(k+1)). */
static void log2_view(const struct lh *h, __u64 out[64])
{
	memset(out, 0, 64 * sizeof(out[0]));
	for (unsigned i = 0; i < LH_BUCKETS; i++) {
		unsigned long long lo = lh_bucket_low(i);
		out[lo ? 63 - __builtin_clzll(lo) : 0] += h->count[i];
	}
}

static void report(const struct ampstat_lat *l, const struct lh *h, pid_t pid, const char *comm,
		   double dur_s, const char *why, bool json, const struct tr_prog *p0,
		   const struct tr_prog *p1, int np, __u64 cpu_ns, __u64 dropped_threads, bool sample_auto)
{
	__u64 sample = l->max_weight ? l->max_weight : 1;
	__u64 n = l->count, req_ns = l->sum_ns[AL_TOTAL];
	double p50 = (double)lh_quantile_ns(&h[AL_TOTAL], 0.50);
	double p90 = (double)lh_quantile_ns(&h[AL_TOTAL], 0.90);
	double p99 = (double)lh_quantile_ns(&h[AL_TOTAL], 0.99);
	double mean = n ? (double)req_ns / (double)n : 0;
	static const char *offname[ALO_N] = { "blocked_io", "wait_other", "idle", "runq" };
	char a[32], b[32], c[32], d[32], e[32];

	if (json) {
		printf("{\"type\":\"summary\",\"pid\":%d,\"comm\":", (int)pid);
		mode_json_str(stdout, comm);
		printf(",\"duration_s\":%.3f,\"end\":\"%s\",\"sample_mode\":\"%s\",\"sample\":%llu,"
		       "\"hits\":%llu,\"requests\":%llu", dur_s, why, sample_auto ? "auto" : "fixed",
		       (unsigned long long)sample, (unsigned long long)l->hits, (unsigned long long)n);
		printf(",\"status\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu,\"other\":%llu}",
		       (unsigned long long)l->status[1], (unsigned long long)l->status[2],
		       (unsigned long long)l->status[3], (unsigned long long)l->status[4],
		       (unsigned long long)l->status[5], (unsigned long long)l->status[0]);
		printf(",\"helper_requests\":%llu,\"arrived\":%llu,\"client_ids\":%llu",
		       (unsigned long long)l->helper_reqs, (unsigned long long)l->arrived,
		       (unsigned long long)l->client_ids);
		printf(",\"latency_ns\":{\"mean\":%.0f,\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"max\":%llu}",
		       mean, p50, p90, p99, (unsigned long long)l->max_ns);
		printf(",\"served_ns\":{\"mean\":%.0f,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu}",
		       n ? (double)l->sum_ns[AL_SERVED] / (double)n : 0.0,
		       (unsigned long long)lh_quantile_ns(&h[AL_SERVED], 0.50),
		       (unsigned long long)lh_quantile_ns(&h[AL_SERVED], 0.90),
		       (unsigned long long)lh_quantile_ns(&h[AL_SERVED], 0.99));
		printf(",\"hist\":[");
		for (unsigned i = 0, first = 1; i < LH_BUCKETS; i++) {
			if (!h[AL_TOTAL].count[i])
				continue;
			printf("%s{\"lo_ns\":%llu,\"hi_ns\":%llu,\"count\":%llu}", first ? "" : ",",
			       lh_bucket_low(i), lh_bucket_low(i) + lh_bucket_width(i) - 1,
			       (unsigned long long)h[AL_TOTAL].count[i]);
			first = 0;
		}
		printf("],\"phases\":[");
		for (int ph = 0, first = 1; ph < AL_NPHASE; ph++) {
			if (!phase_part(ph))
				continue;
			printf("%s{\"phase\":\"%s\",\"total_ns\":%llu,\"mean_ns\":%.0f,\"share\":%.5f,"
			       "\"p50_ns\":%llu,\"p90_ns\":%llu,\"p99_ns\":%llu}", first ? "" : ",",
			       phase_json[ph], (unsigned long long)l->sum_ns[ph],
			       n ? (double)l->sum_ns[ph] / (double)n : 0.0, pct(l->sum_ns[ph], req_ns) / 100,
			       (unsigned long long)lh_quantile_ns(&h[ph], 0.50),
			       (unsigned long long)lh_quantile_ns(&h[ph], 0.90),
			       (unsigned long long)lh_quantile_ns(&h[ph], 0.99));
			first = 0;
		}
		printf("],\"offcpu\":{");
		for (int i = 0; i < ALO_N; i++)
			printf("\"%s_ns\":%llu,", offname[i], (unsigned long long)l->off_ns[i]);
		printf("\"requests\":%llu,\"lost\":%llu}", (unsigned long long)l->off_reqs,
		       (unsigned long long)l->off_lost);
		lat_roles_print(true);
		printf(",");
		sess_cost(stdout, true, p0, p1, np, cpu_ns, dur_s);
		printf(",\"dropped\":{\"threads\":%llu,\"bad_marks\":%llu}}\n",
		       (unsigned long long)dropped_threads, (unsigned long long)l->bad);
		fflush(stdout);
		return;
	}
	printf("ampstat latency  pid %d (%s)  %.2f s  (%s)\n", (int)pid, comm, dur_s, why);
	if (sample > 1)
		printf("sampled%s: the probe fired for 1 request in up to %llu (by request id), %llu "
		       "times; each hit counts for the requests it stands for, so the figures below "
		       "are estimates of all requests (max: of the sampled ones)\n",
		       sample_auto ? " (auto)" : "", (unsigned long long)sample,
		       (unsigned long long)l->hits);
	printf("requests %llu  (%.0f/s)  2xx %llu  3xx %llu  4xx %llu  5xx %llu  with helper work %llu\n",
	       (unsigned long long)n, dur_s > 0 ? (double)n / dur_s : 0.0,
	       (unsigned long long)l->status[2], (unsigned long long)l->status[3],
	       (unsigned long long)l->status[4], (unsigned long long)l->status[5],
	       (unsigned long long)l->helper_reqs);
	if (n) {
		__u64 v2[64], top = 0;
		int lo = -1, hi = -1;

		fmt_ns(a, sizeof(a), p50);
		fmt_ns(b, sizeof(b), p90);
		fmt_ns(c, sizeof(c), p99);
		fmt_ns(d, sizeof(d), (double)l->max_ns);
		fmt_ns(e, sizeof(e), mean);
		printf("latency from arrival  p50 %s  p90 %s  p99 %s  max %s  mean %s\n", a, b, c, d, e);
		fmt_ns(a, sizeof(a), (double)lh_quantile_ns(&h[AL_SERVED], 0.50));
		fmt_ns(b, sizeof(b), (double)lh_quantile_ns(&h[AL_SERVED], 0.90));
		fmt_ns(c, sizeof(c), (double)lh_quantile_ns(&h[AL_SERVED], 0.99));
		fmt_ns(e, sizeof(e), (double)l->sum_ns[AL_SERVED] / (double)n);
		printf("from the server's read  p50 %s  p90 %s  p99 %s  mean %s\n", a, b, c, e);
		if (l->arrived < n)
			printf("(%llu requests without the kernel's arrival stamp start at the read)\n",
			       (unsigned long long)(n - l->arrived));
		printf("\n");
		log2_view(&h[AL_TOTAL], v2);
		for (int i = 0; i < 64; i++) {
			if (!v2[i])
				continue;
			if (lo < 0)
				lo = i;
			hi = i;
			if (v2[i] > top)
				top = v2[i];
		}
		printf("%24s : %-10s %s\n", "latency", "count", "distribution");
		for (int i = lo; i >= 0 && i <= hi; i++) {
			char r0[16], r1[16], bar[41];
			int w = top ? (int)(40 * v2[i] / top) : 0;
			fmt_ns(r0, sizeof(r0), i ? ldexp(1.0, i) : 0);
			fmt_ns(r1, sizeof(r1), ldexp(1.0, i + 1));
			memset(bar, '*', (size_t)w);
			bar[w] = 0;
			printf("%10s -> %-10s : %-10llu |%-40s|\n", r0, r1, (unsigned long long)v2[i], bar);
		}
		printf("\n%-26s %10s %7s %10s %10s %10s\n", "phase", "mean", "share", "p50", "p90", "p99");
		for (int ph = 0; ph < AL_NPHASE; ph++) {
			if (!phase_part(ph))
				continue;
			fmt_ns(a, sizeof(a), (double)l->sum_ns[ph] / (double)n);
			fmt_ns(b, sizeof(b), (double)lh_quantile_ns(&h[ph], 0.50));
			fmt_ns(c, sizeof(c), (double)lh_quantile_ns(&h[ph], 0.90));
			fmt_ns(d, sizeof(d), (double)lh_quantile_ns(&h[ph], 0.99));
			printf("%-26s %10s %6.1f%% %10s %10s %10s\n", phase_text[ph], a,
			       pct(l->sum_ns[ph], req_ns), b, c, d);
		}
		printf("\noff CPU while serving (the serving thread, from its read of the request on):\n");
		static const char *offtext[ALO_N] = { "blocked-io (D)", "other waits", "idle in the poller",
						      "run queue" };
		for (int i = 0; i < ALO_N; i++) {
			fmt_ns(a, sizeof(a), n ? (double)l->off_ns[i] / (double)n : 0);
			printf("  %-20s %6.1f%% of request time  (mean %s a request)\n", offtext[i],
			       pct(l->off_ns[i], req_ns), a);
		}
		printf("  requests that blocked or waited off CPU: %llu", (unsigned long long)l->off_reqs);
		if (l->off_lost)
			printf(" (%llu overlapped more stretches than kept: undercounted)",
			       (unsigned long long)l->off_lost);
		printf("\n");
	}
	lat_roles_print(false);
	sess_cost(stdout, false, p0, p1, np, cpu_ns, dur_s);
	if (dropped_threads || l->bad)
		printf("dropped: threads %llu bad marks %llu\n", (unsigned long long)dropped_threads,
		       (unsigned long long)l->bad);
	fflush(stdout);
}

/* Sum the per-CPU copies. */
static int read_lat(const struct latency_bpf *skel, struct ampstat_lat *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct ampstat_lat *v;
	__u32 zero = 0;

	if (ncpu <= 0)
		return -EINVAL;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.lat), &zero, v)) {
		int e = -errno;
		free(v);
		return e;
	}
	memset(out, 0, sizeof(*out));
	for (int c = 0; c < ncpu; c++) {
		const __u64 *src = (const __u64 *)&v[c];
		__u64 *dst = (__u64 *)out;
		for (size_t i = 0; i < sizeof(*out) / sizeof(__u64); i++) {
			if (&dst[i] == &out->max_ns || &dst[i] == &out->max_weight)
				dst[i] = src[i] > dst[i] ? src[i] : dst[i];
			else
				dst[i] += src[i];
		}
	}
	free(v);
	return 0;
}

/* --sample auto: the N (a power of two) that keeps the probe under
 * hit_rate hits a second at the request rate since *t (then now), given the
 * N in force.  It rises at once; it falls only when half of it would still
 * be under half the budget, so a rate near a boundary does not flap.  No
 * counter to read (not amped?): N stays. */
static __u64 auto_n(struct reqs *rq, const pid_t *tg, int n, __u64 *t, double hit_rate, __u64 cur)
{
	__u64 now = mode_now_ns(), d = reqs_read(rq, tg, n, false), want = 1;
	double dt = (double)(now - *t) / 1e9, rate;

	*t = now;
	if (!rq->have_sym || !rq->known || dt <= 0)
		return cur;
	rate = (double)d / dt;
	while (want < 65536 && rate / (double)want > hit_rate)
		want <<= 1;
	if (want > cur)
		return want;
	if (cur > 1 && rate / (double)(cur >> 1) <= hit_rate / 2)
		return cur >> 1;
	return cur;
}

struct lat_ctx {
	struct latency_bpf *skel;
	struct bpf_link *links[MAX_LINKS];
	struct bpf_link *sw;
	int nlinks;
	char path[64];		/* /proc/PID/exe */
	__u64 sample;		/* 0: auto; else the fixed N */
	double hit_rate;
	struct reqs rq;
	pid_t tgs[16];
	int ntg;
	__u64 cur, rq_t;	/* auto: N in force, when rq was last read */
	bool masked;		/* the target's trace flag is set */
	int stamp_fd;		/* keeps the kernel's receive stamps on; -1 */
	struct lh hist[AL_NPHASE];	/* read at the end (~16 KiB each) */
};

static int option(struct sess *s, void *ctx, int c, const char *arg)
{
	struct lat_ctx *x = ctx;
	long v;

	(void)s;
	switch (c) {
	case 's':
		if (!strcmp(arg, "auto")) {
			x->sample = 0;
			return 0;
		}
		if (!mode_parse_long(arg, &v) || v < 1 || v > 65536 || (v & (v - 1))) {
			fprintf(stderr, "ampstat: --sample must be auto or a power of two 1-65536, got '%s'\n",
				arg);
			return 2;
		}
		x->sample = (__u64)v;
		return 0;
	case 'r':
		if (!mode_parse_double(arg, &x->hit_rate) || !(x->hit_rate >= 1 && x->hit_rate <= 1e7)) {
			fprintf(stderr, "ampstat: --hit-rate must be a number 1-10000000, got '%s'\n", arg);
			return 2;
		}
		return 0;
	}
	return 2;
}

/* the target and its children running the same binary, known now */
static void same_binary(struct lat_ctx *x, pid_t pid)
{
	pid_t kids[MAX_KIDS];
	int nk = proc_children(pid, kids, MAX_KIDS), n = 0;
	struct stat st0, st;

	x->skel->rodata->tgids[n++] = (__u32)pid;
	for (int i = 0; i < nk && n < 16 && stat(x->path, &st0) == 0; i++) {
		char kp[64];
		snprintf(kp, sizeof(kp), "/proc/%d/exe", (int)kids[i]);
		if (stat(kp, &st) == 0 && st.st_dev == st0.st_dev && st.st_ino == st0.st_ino)
			x->skel->rodata->tgids[n++] = (__u32)kids[i];
	}
	x->skel->rodata->ntgids = (__u32)n;
	x->ntg = n;
	for (int i = 0; i < n; i++)
		x->tgs[i] = (pid_t)x->skel->rodata->tgids[i];
}

/* the probe, in the target and in its children running the same binary
 * (MP workers, SYMPED processes); a per-process uprobe costs other amped
 * processes on the machine nothing */
static int attach_probes(struct lat_ctx *x, pid_t pid, const char *exe)
{
	pid_t kids[MAX_KIDS];
	int nk = proc_children(pid, kids, MAX_KIDS);
	struct stat st0, st;

	if (stat(x->path, &st0)) {
		fprintf(stderr, "ampstat: %s: %s\n", x->path, strerror(errno));
		return 1;
	}
	for (int i = -1; i < nk && x->nlinks < MAX_LINKS; i++) {
		pid_t p = i < 0 ? pid : kids[i];
		char kp[64];

		/* /proc/PID/exe: the very file, even if replaced or deleted
		 * since (a rebuild while the server runs) */
		snprintf(kp, sizeof(kp), "/proc/%d/exe", (int)p);
		if (i >= 0 && (stat(kp, &st) || st.st_dev != st0.st_dev || st.st_ino != st0.st_ino))
			continue;
		x->links[x->nlinks] = bpf_program__attach_usdt(x->skel->progs.on_request_done, p, kp,
							       "amped", "request_done", NULL);
		if (!x->links[x->nlinks]) {
			int e = errno;
			if (i < 0) {
				fprintf(stderr, "ampstat: cannot attach to USDT probe amped:request_done in "
						"%s: %s%s\n", exe, strerror(e),
					e == ENOENT ? " (not amped, or a build without probes?)" : "");
				return 1;
			}
			continue;	/* a child that exited meanwhile */
		}
		x->nlinks++;
	}
	return 0;
}

int lat_begin(struct sess *s, struct lat_ctx *x)
{
	char exe[4096];
	ssize_t n;
	int c, one = 1;

	snprintf(x->path, sizeof(x->path), "/proc/%d/exe", (int)s->pid);
	n = readlink(x->path, exe, sizeof(exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "ampstat: %s: %s\n", x->path, strerror(errno));
		return 1;
	}
	exe[n] = 0;
	x->skel = latency_bpf__open();
	if (!x->skel) {
		fprintf(stderr, "ampstat: open latency.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	same_binary(x, s->pid);
	x->skel->rodata->ph_reg = ph_arg_reg(x->path, "amped", "request_done", 6);
	/* --sample auto: the server's request rate while the programs load
	 * picks the first N */
	if (!x->sample) {
		reqs_init(&x->rq, s->pid);
		reqs_read(&x->rq, x->tgs, x->ntg, true);
		x->rq_t = mode_now_ns();
	}
	if (sess_load(s, x->skel->skeleton))
		return 1;
	sess_pin(s, x->skel->obj, "latency", NULL);
	sess_stats_on(s);
	/* the scheduler side first: a request's stretches must be there when
	 * its probe fires */
	x->sw = bpf_program__attach(mode_tp_prog(x->skel->progs.lat_switch, x->skel->progs.lat_switch_raw));
	if (!x->sw) {
		fprintf(stderr, "ampstat: attach sched_switch: %s\n", strerror(errno));
		return 1;
	}
	if (attach_probes(x, s->pid, exe))
		return 1;
	seed_threads(x->skel, s->pid);
	/* The kernel stamps received packets only while some socket asks for
	 * stamps: this one asks from now on, so that the requests already
	 * on their way when amped sees the trace flag (at its next read)
	 * have their arrival too.  Without it they start at the read. */
	x->stamp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (x->stamp_fd >= 0 && setsockopt(x->stamp_fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one))) {
		close(x->stamp_fd);
		x->stamp_fd = -1;
	}
	roles_target(s->pid);
	roles_watch(x->tgs, x->ntg, true);
	x->cur = x->sample ? x->sample : auto_n(&x->rq, x->tgs, x->ntg, &x->rq_t, x->hit_rate, 1);
	c = set_trace(s->pid, (const __u32 *)x->skel->rodata->tgids, x->ntg, x->cur - 1, 1);
	if (c && x->cur > 1) {
		fprintf(stderr, "ampstat: --sample: cannot set amped_current.sample_mask in %d: %s\n",
			(int)s->pid, strerror(-c));
		return 1;
	}
	if (c)
		fprintf(stderr, "ampstat: warning: cannot ask %d for phase marks (amped_current.trace: %s): "
				"its requests' time shows as dispatcher work\n", (int)s->pid, strerror(-c));
	x->masked = c == 0;
	return 0;
}

static int start(struct sess *s, void *ctx)
{
	struct lat_ctx *x = ctx;

	if (lat_begin(s, x))
		return 1;
	fprintf(stderr, "ampstat: tracing pid %d (%s): request latency from amped:request_done in %d "
			"process%s; %s\n", (int)s->pid, s->comm, x->nlinks, x->nlinks == 1 ? "" : "es",
		s->duration_s > 0 ? "until the duration is over or Ctrl-C" : "Ctrl-C to stop");
	return 0;
}

/* --sample auto: N follows the request rate */
void lat_tick(struct sess *s, struct lat_ctx *x)
{
	__u64 n2;

	roles_watch(x->tgs, x->ntg, false);	/* a thread's role, before it exits */
	if (x->sample || !x->masked)
		return;
	n2 = auto_n(&x->rq, x->tgs, x->ntg, &x->rq_t, x->hit_rate, x->cur);
	if (n2 != x->cur && !set_trace(s->pid, (const __u32 *)x->skel->rodata->tgids, x->ntg, n2 - 1, 1))
		x->cur = n2;
}

static const char *tick(struct sess *s, void *ctx)
{
	lat_tick(s, ctx);
	return NULL;
}

int lat_read(struct lat_ctx *x, struct ampstat_lat *out)
{
	return read_lat(x->skel, out);
}

int lat_hist(struct lat_ctx *x, __u64 max_ns, struct lh *out, unsigned nph)
{
	return read_hist(x->skel, max_ns, out, nph);
}

static void unmask(struct sess *s, struct lat_ctx *x)
{
	if (x->masked)
		set_trace(s->pid, (const __u32 *)x->skel->rodata->tgids, x->ntg, 0, 0);
	x->masked = false;
}

static int stop(struct sess *s, void *ctx, const char *why)
{
	struct lat_ctx *x = ctx;
	struct tr_prog p1[SESS_PROG_MAX];
	struct ampstat_lat l;
	double dur_s = (double)(mode_now_ns() - s->t0_ns) / 1e9;
	__u64 cpu_ns;

	unmask(s, x);
	cpu_ns = sess_cpu_ns(s);
	sess_progs(s, p1, SESS_PROG_MAX);
	int err;

	if ((err = read_lat(x->skel, &l)) || (err = read_hist(x->skel, l.max_ns, x->hist, AL_NPHASE))) {
		fprintf(stderr, "ampstat: reading the latency maps: %s\n", strerror(-err));
		return 1;
	}
	roles_watch(x->tgs, x->ntg, true);
	lat_roles_read(x->skel);
	report(&l, x->hist, s->pid, s->comm, dur_s, why, s->json, s->p0, p1, s->nprogs, cpu_ns,
	       x->skel->bss->dropped_threads, x->sample == 0);
	return 0;
}

static void cleanup(struct sess *s, void *ctx)
{
	struct lat_ctx *x = ctx;

	if (x->skel)
		unmask(s, x);
	if (x->stamp_fd >= 0)
		close(x->stamp_fd);
	x->stamp_fd = -1;
	for (int i = 0; i < x->nlinks; i++)
		bpf_link__destroy(x->links[i]);
	bpf_link__destroy(x->sw);
	latency_bpf__destroy(x->skel);
}

static void lat_defaults(struct lat_ctx *x)
{
	memset(x, 0, sizeof(*x));
	x->stamp_fd = -1;
	x->hit_rate = 4000;
	x->cur = 1;
}

struct lat_ctx *lat_new(void)
{
	struct lat_ctx *x = malloc(sizeof(*x));

	if (x)
		lat_defaults(x);
	return x;
}

void lat_end(struct sess *s, struct lat_ctx *x)
{
	if (!x)
		return;
	cleanup(s, x);
	free(x);
}

int cmd_latency(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sample", required_argument, NULL, 's' },
		{ "hit-rate", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct sess_cmd cmd = {
		.name = "latency", .usage = usage, .longopts = longopts, .option = option,
		.flags = SESS_JSON, .interval_s = 0.1, .start = start, .tick = tick, .stop = stop,
		.cleanup = cleanup,
	};
	static struct lat_ctx x;

	lat_defaults(&x);
	return sess_run(&cmd, &x, argc, argv);
}
