/* top — `ampstat top`: where the time of a running server goes, per role.
 *
 * Every interval it reads the per-thread state times the sched programs
 * keep (include/ampstat_sched.h), takes the differences from the last reading,
 * splits on-CPU time into user and kernel by the thread's CPU-clock samples,
 * and sums threads into roles (roles.h).  Requests/s come from the server's
 * own counter (amped_current.requests_done, read with process_vm_readv):
 * attaching a probe to every request would cost ~650 ns a hit.
 *
 * With --cache, page-cache accesses and misses per thread come from the filemap
 * tracepoints (bpf/sched.bpf.c, by the rules of `ampstat cache`); system
 * calls, with --syscalls, from perf counting events (see sc_open); the
 * kernel row from kernel threads' switches and softirq samples (kern_row).
 *
 * On-CPU time with no sample in the interval is split by the thread's
 * samples so far; with none at all it counts as kernel time (a thread that
 * runs for a few microseconds at a time mostly runs system calls).
 *
 * --json: one object per line, by the JSON convention of every subcommand
 * (README): times in ns (*_ns), rates per second (*_per_s), every share or
 * ratio a fraction of 1 ("share", *_ratio).  {"type":"interval"|"summary",
 * "pid", "comm", "time", "interval_s"|"duration_s", ["end": "signal"|
 * "count"|"duration"|"target exited", "intervals", "threads_forgotten"],
 * "requests", "requests_per_s" (null when the target has no amped_current
 * counter), ["ult": {"switches", "switches_per_s", "switches_per_request"
 * (null: requests unknown), "live", "created_per_s", "parks_fd_per_s",
 * "parks_job_per_s", "stacks_mapped", "stack_bytes", "switch"} when the
 * target runs --model ult; "seda": {"stages": [{"stage", "threads",
 * "queue_len", "queue_cap", "items_per_s", "rejected_per_s", "service_ns"
 * (null: no item), "busy_ratio" (threads of the stage working, on
 * average)}]} when it runs --model seda; both from amped's own counters,
 * mstats.h], "snapshot_ns" (intervals: how long reading the maps took),
 * "roles": [{"role", "threads", "wall_ns", "oncpu_ns", "user_ns",
 * "kernel_ns", "blocked_io_ns", "wait_idle_ns", "wait_other_ns", "runq_ns",
 * "steal_ns", "share": {bucket: fraction of wall_ns}, "vcsw_per_s",
 * "ivcsw_per_s" (and "vcsw", "ivcsw" in the summary), "cache_accesses",
 * "cache_misses" (pages), "cache_hit_ratio" (null: no access; all three null without
 * --cache), "syscalls",
 * "syscalls_per_s" (null without --syscalls)}], "kernel": {"scope":
 * "machine", "cpus", "samples", "cpu_ns", "cpu_ratio" (cpu_ns over the
 * interval: 1 = one CPU), "softirq_ns", "softirq_in_target_ns",
 * "softirq_in_kthreads_ns", "softirq_elsewhere_ns", "ksoftirqd_ns",
 * "kworker_ns", "block_ns", "other_kthreads_ns"}, "threads": [the same per
 * thread, with "tid", "tgid", "comm", "role", "exited", "unwoken"
 * (switch-ins from a sleep with no enqueue stamp: its sleep counted up to
 * the switch) and, in intervals, "schedstat" (the
 * kernel's figures for the interval, acct.h: {"oncpu_ns", "runq_ns",
 * "runq_open_ns", "skew_ns"}, null for a thread that exited); always in the
 * summary, with --threads in intervals], "bpf": {"run_ns",
 * "target_cpu_ns", "target_idle", "target_cpu_ratio" (null when idle),
 * "progs": [{"name", "run_ns", "runs", "missed"}]}, "dropped": {"threads",
 * "tgids", "samples", "torn_reads"}}.  wall_ns is the sum over the threads
 * of the time each was traced; the seven buckets sum to it.  Once more than
 * ACCT_MAX_DEAD threads were seen, exited ones are dropped from the list
 * (threads_forgotten counts them; their time stays in the role totals).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/perf_event.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "amped_usdt.h"
#include "ampstat/cmd.h"
#include "ampstat/acct.h"
#include "ampstat/mstats.h"
#include "ampstat/proc.h"
#include "ampstat/reqs.h"
#include "ampstat/roles.h"
#include "ampstat/sess.h"
#include "ampstat/trace.h"

#define MAX_TGIDS 1024

struct top {
	/* options */
	long count;
	bool threads, tty, syscalls;	/* syscalls, page cache: opt-in (cost) */
	struct tr_opts to;
	/* state */
	struct sess *s;
	struct tr *tr;
	struct acct a;
	__u64 t0;
	struct tr_prog pprev[SESS_PROG_MAX];
	struct reqs req;
	__u64 req_total, req_d;
	struct mstats ms;	/* ult's switches, seda's stages (mstats.h) */
	long intervals;
	struct tr_kern k0, kprev, kint0;	/* the kernel row: at attach, now, last report */
	int sc_id;		/* raw_syscalls:sys_enter's tracepoint id */
	int sc_events;		/* counting events open */
};

static __u64 sub0(__u64 a, __u64 b)
{
	return a > b ? a - b : 0;
}

/* ---------------------------------------------------------------- syscalls
 *
 * --syscalls: one perf counting event on raw_syscalls:sys_enter per thread
 * that exists when top attaches, with inherit, so the threads and
 * processes a thread creates later count in its event (and its row) from
 * their first call; a counting event runs no program.  Not on by default:
 * while any such event exists every system call of the machine takes the
 * tracepoint path (measured here: getppid 216 -> 271 ns in an untraced
 * process, and 216 -> 410 ns in a traced one). */

static int sc_tracepoint_id(void)
{
	static const char *paths[] = {
		"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
		"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
	};
	int id = -1;

	for (int pass = 0; pass < 2 && id < 0; pass++) {
		bool mounted = false;

		/* tracefs is not always mounted: mount it for the look-up only */
		if (pass == 1) {
			if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL))
				break;
			mounted = true;
		}
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]) && id < 0; i++) {
			FILE *f = fopen(paths[i], "r");
			if (f) {
				if (fscanf(f, "%d", &id) != 1)
					id = -1;
				fclose(f);
			}
		}
		if (mounted)
			umount("/sys/kernel/tracing");
	}
	return id;
}

static void sc_open(struct top *tp, struct acct_thread *u)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_TRACEPOINT,
		.size = sizeof(a),
		.config = (__u64)tp->sc_id,
		.inherit = 1,
	};
	int fd = (int)syscall(__NR_perf_event_open, &a, (pid_t)u->tid, -1, -1, PERF_FLAG_FD_CLOEXEC);

	if (fd < 0)
		return;	/* the thread exited meanwhile */
	u->sc_fd = fd;
	u->prev_sc = 0;
	tp->sc_events++;
}

/* Each event's count since the last reading goes to its thread (and role),
 * also after the thread exited: its inherited children may still count. */
static void sc_read(struct top *tp, bool baseline)
{
	struct acct *a = &tp->a;

	for (int i = 0; tp->syscalls && i < a->nth; i++) {
		struct acct_thread *u = &a->th[i];
		__u64 v, dv;

		if (baseline && u->sc_fd < 0 && !u->dead)
			sc_open(tp, u);
		if (u->sc_fd < 0 || read(u->sc_fd, &v, sizeof(v)) != sizeof(v))
			continue;
		dv = sub0(v, u->prev_sc);
		u->prev_sc = v;
		if (baseline || !dv)
			continue;
		u->d.syscalls += dv;
		u->tot.syscalls += dv;
		if (u->role >= 0 && u->role < a->nroles) {
			a->role_d[u->role].syscalls += dv;
			a->role_tot[u->role].syscalls += dv;
		}
	}
}

/* ---------------------------------------------------------------- snapshot */

/* every thread's stretch since the last reading (acct.h), syscalls, and
 * the kernel row; with baseline, only where each stands */
static void snapshot(struct top *tp, bool baseline)
{
	acct_update(&tp->a, baseline);
	sc_read(tp, baseline);
	tp->kint0 = tp->kprev;
	tr_kern(tp->tr, &tp->kprev);
}

/* requests finished this interval (see reqs.h) */
static void read_requests(struct top *tp, bool baseline)
{
	pid_t tg[MAX_TGIDS];
	int n = tr_tgids(tp->tr, tg, MAX_TGIDS);

	tp->req_d = reqs_read(&tp->req, tg, n, baseline);
	if (!baseline) {
		tp->req_total += tp->req_d;
		(void)mstats_read(&tp->ms);
	}
}

/* ---------------------------------------------------------------- output */

static double ratio(__u64 a, __u64 b)
{
	return b ? (double)a / (double)b : 0.0;
}

/* ns of a state over an interval of dt seconds: how many threads were in
 * it on average (the unit of the text table; on CPU: CPUs used) */
static double thr(__u64 ns, double dt)
{
	return dt > 0 ? (double)ns / (dt * 1e9) : 0.0;
}

static void bpf_cost(struct top *tp, const struct tr_prog *from, __u64 target_cpu_ns, double dt,
		     bool advance)
{
	struct tr_prog now[SESS_PROG_MAX];
	int n = sess_progs(tp->s, now, SESS_PROG_MAX);
	struct tr_drops dr;

	tr_drops(tp->tr, &dr);
	if (n > tp->s->nprogs)
		n = tp->s->nprogs;
	sess_cost(stdout, tp->s->json, from, now, n, target_cpu_ns, dt);
	if (tp->s->json)
		printf(",\"dropped\":{\"threads\":%llu,\"tgids\":%llu,\"samples\":%llu,\"torn_reads\":%llu}",
		       (unsigned long long)dr.threads, (unsigned long long)dr.tgids,
		       (unsigned long long)dr.samples, (unsigned long long)dr.torn);
	else if (dr.threads || dr.tgids || dr.samples || dr.torn)
		printf("dropped: threads %llu tgids %llu samples %llu torn %llu\n",
		       (unsigned long long)dr.threads, (unsigned long long)dr.tgids,
		       (unsigned long long)dr.samples, (unsigned long long)dr.torn);
	if (advance && n > 0)
		memcpy(tp->pprev, now, (size_t)n * sizeof(now[0]));
}

static void json_acc(const struct acct_sum *a, double dt, bool counts, bool syscalls, bool cache)
{
	double hr = acct_hit_ratio(a);

	printf("\"wall_ns\":%llu,\"oncpu_ns\":%llu", (unsigned long long)a->wall_ns,
	       (unsigned long long)(a->ns[AB_USER] + a->ns[AB_KERNEL]));
	for (int b = 0; b < AB_N; b++)
		printf(",\"%s_ns\":%llu", acct_bucket_name[b], (unsigned long long)a->ns[b]);
	printf(",\"share\":{");
	for (int b = 0; b < AB_N; b++)
		printf("%s\"%s\":%.6f", b ? "," : "", acct_bucket_name[b], ratio(a->ns[b], a->wall_ns));
	printf("}");
	if (counts)
		printf(",\"vcsw\":%llu,\"ivcsw\":%llu", (unsigned long long)a->nvcsw,
		       (unsigned long long)a->nivcsw);
	printf(",\"vcsw_per_s\":%.1f,\"ivcsw_per_s\":%.1f", dt > 0 ? (double)a->nvcsw / dt : 0.0,
	       dt > 0 ? (double)a->nivcsw / dt : 0.0);
	if (!cache)
		printf(",\"cache_accesses\":null,\"cache_misses\":null,\"cache_hit_ratio\":null");
	else
		printf(",\"cache_accesses\":%llu,\"cache_misses\":%llu,\"cache_hit_ratio\":",
		       (unsigned long long)a->cache_access, (unsigned long long)a->cache_miss);
	if (cache && hr < 0)
		printf("null");
	else if (cache)
		printf("%.4f", hr);
	if (syscalls)
		printf(",\"syscalls\":%llu,\"syscalls_per_s\":%.1f", (unsigned long long)a->syscalls,
		       dt > 0 ? (double)a->syscalls / dt : 0.0);
	else
		printf(",\"syscalls\":null,\"syscalls_per_s\":null");
}

/* The text table has one unit: threads, on average over the interval, in
 * each state; a role's states add up to its threads (THR, unless threads
 * came or went), and ONCPU = USER + KERN is the CPUs it used.  (Shares of
 * the role's thread time beside a CPU% read as contradictions: a role of 32
 * threads at 3% USER "was" 96% of a CPU.) */
static void text_header(void)
{
	printf("threads on average in each state (they add up to THR; ONCPU = USER + KERN = CPUs used)\n");
	printf("%-12s %4s %6s %6s %6s %6s %6s %6s %6s %6s %9s %9s %6s %9s\n", "ROLE", "THR", "ONCPU", "USER",
	       "KERN", "BLKIO", "IDLE", "WAIT", "RUNQ", "STEAL", "VCSW/s", "ICSW/s", "HIT%", "SYSC/s");
}

/* the state columns of a role or thread row */
static void text_states(const struct acct_sum *a, double dt)
{
	printf(" %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f", thr(a->ns[AB_USER] + a->ns[AB_KERNEL], dt),
	       thr(a->ns[AB_USER], dt), thr(a->ns[AB_KERNEL], dt), thr(a->ns[AB_BLOCKED], dt),
	       thr(a->ns[AB_IDLE], dt), thr(a->ns[AB_OTHER], dt), thr(a->ns[AB_RUNQ], dt),
	       thr(a->ns[AB_STEAL], dt));
}

/* HIT% and SYSC/s (per second, or the count when !rate) as text: '-' when
 * nothing was accessed, or the page cache or syscalls are not counted */
static void hit_sc_text(const struct acct_sum *a, double dt, bool cache, bool syscalls, bool rate,
			char *hit, size_t nhit, char *sc, size_t nsc)
{
	double hr = acct_hit_ratio(a);

	if (!cache || hr < 0)
		snprintf(hit, nhit, "-");
	else
		snprintf(hit, nhit, "%.1f", 100.0 * hr);
	if (!syscalls)
		snprintf(sc, nsc, "-");
	else if (!rate)
		snprintf(sc, nsc, "%llu", (unsigned long long)a->syscalls);
	else
		snprintf(sc, nsc, "%.0f", dt > 0 ? (double)a->syscalls / dt : 0.0);
}

static void text_row(const char *name, const struct acct_sum *a, double dt, bool cache, bool syscalls)
{
	char hit[16], sc[24];

	hit_sc_text(a, dt, cache, syscalls, true, hit, sizeof(hit), sc, sizeof(sc));
	printf("%-12.12s %4d", name, a->threads);
	text_states(a, dt);
	printf(" %9.0f %9.0f %6s %9s\n", dt > 0 ? (double)a->nvcsw / dt : 0.0,
	       dt > 0 ? (double)a->nivcsw / dt : 0.0, hit, sc);
}

/* ---- the kernel row: differences of the cumulative counters */
struct krow {
	__u64 cls_ns[AK_N];
	__u64 softirq_ns, softirq_target_ns, softirq_kthread_ns, softirq_other_ns;
	__u64 samples;
	__u64 cpu_ns;		/* kernel threads + softirq elsewhere: not in any role */
	int ncpu;
};

static void kern_row(const struct tr_kern *from, const struct tr_kern *to, double dt, struct krow *r)
{
	__u64 tot = sub0(to->s.total, from->s.total);
	double span = dt * 1e9 * (double)(to->ncpu > 0 ? to->ncpu : 1);

	memset(r, 0, sizeof(*r));
	r->ncpu = to->ncpu;
	r->samples = tot;
	for (int i = 0; i < AK_N; i++) {
		r->cls_ns[i] = sub0(to->ns[i], from->ns[i]);
		r->cpu_ns += r->cls_ns[i];
	}
	/* softirq: its share of all samples, times the CPU time they cover */
	if (tot) {
		r->softirq_target_ns = (__u64)(span * (double)sub0(to->s.softirq_target, from->s.softirq_target) / (double)tot);
		r->softirq_kthread_ns = (__u64)(span * (double)sub0(to->s.softirq_kthread, from->s.softirq_kthread) / (double)tot);
		r->softirq_other_ns = (__u64)(span * (double)sub0(to->s.softirq_other, from->s.softirq_other) / (double)tot);
	}
	r->softirq_ns = r->softirq_target_ns + r->softirq_kthread_ns + r->softirq_other_ns;
	r->cpu_ns += r->softirq_other_ns;
}

/* The kernel row's ONCPU is what no role holds: kernel threads plus
 * softirq in other processes or idle, the parts it lists; softirq taken in
 * the target's threads (or in kernel threads) is already in their time and
 * is shown apart, so no figure of the row exceeds its total. */
static void kern_print(const struct krow *r, double dt, bool json)
{
	if (json) {
		printf(",\"kernel\":{\"scope\":\"machine\",\"cpus\":%d,\"samples\":%llu,\"cpu_ns\":%llu,"
		       "\"cpu_ratio\":%.6f,\"softirq_ns\":%llu,\"softirq_in_target_ns\":%llu,"
		       "\"softirq_in_kthreads_ns\":%llu,\"softirq_elsewhere_ns\":%llu",
		       r->ncpu, (unsigned long long)r->samples, (unsigned long long)r->cpu_ns,
		       thr(r->cpu_ns, dt), (unsigned long long)r->softirq_ns,
		       (unsigned long long)r->softirq_target_ns, (unsigned long long)r->softirq_kthread_ns,
		       (unsigned long long)r->softirq_other_ns);
		for (int i = 0; i < AK_N; i++)
			printf(",\"%s_ns\":%llu", tr_kclass_name[i], (unsigned long long)r->cls_ns[i]);
		printf("}");
		return;
	}
	printf("%-12s %4s %6.2f = CPUs used outside the target, machine-wide: kernel threads %.2f (ksoftirqd "
	       "%.2f, kworker %.2f, block/loop %.2f, other %.2f) + softirq in other processes and idle %.2f\n",
	       "kernel", "-", thr(r->cpu_ns, dt), thr(r->cpu_ns - r->softirq_other_ns, dt),
	       thr(r->cls_ns[AK_KSOFTIRQD], dt), thr(r->cls_ns[AK_KWORKER], dt), thr(r->cls_ns[AK_BLOCK], dt),
	       thr(r->cls_ns[AK_OTHER], dt), thr(r->softirq_other_ns, dt));
	printf("%-12s %4s %6s   (not in the total: softirq in the target's threads %.2f, already in its KERN; "
	       "in kernel threads %.2f, already in theirs)\n", "", "", "", thr(r->softirq_target_ns, dt),
	       thr(r->softirq_kthread_ns, dt));
}

static void print_threads(struct top *tp, bool total, double dt)
{
	bool first = true;

	if (tp->s->json)
		printf(",\"threads\":[");
	else
		printf("%-8s %-8s %-16s %-12s %6s %6s %6s %6s %6s %6s %6s %6s %8s %8s %6s %9s\n", "TGID", "TID",
		       "COMM", "ROLE", "ONCPU", "USER", "KERN", "BLKIO", "IDLE", "WAIT", "RUNQ", "STEAL",
		       total ? "VCSW" : "VCSW/s", total ? "ICSW" : "ICSW/s", "HIT%", total ? "SYSC" : "SYSC/s");
	for (int i = 0; i < tp->a.nth; i++) {
		struct acct_thread *u = &tp->a.th[i];
		const struct acct_sum *a = total ? &u->tot : &u->d;

		if (!a->threads)
			continue;
		if (tp->s->json) {
			printf("%s{\"tid\":%u,\"tgid\":%u,\"comm\":", first ? "" : ",", u->tid, u->tgid);
			mode_json_str(stdout, u->comm);
			printf(",\"role\":\"%s\",\"exited\":%s,\"unwoken\":%u,", roles_name(u->role),
			       u->dead ? "true" : "false", u->unwoken);
			json_acc(a, dt, true, tp->syscalls, tp->to.cache);
			if (!total && u->ref.ok)
				printf(",\"schedstat\":{\"oncpu_ns\":%llu,\"runq_ns\":%llu,\"runq_open_ns\":%llu,"
				       "\"skew_ns\":%llu}", (unsigned long long)u->ref.run_ns,
				       (unsigned long long)u->ref.delay_ns, (unsigned long long)u->ref.runq_open_ns,
				       (unsigned long long)u->ref.skew_ns);
			else if (!total)
				printf(",\"schedstat\":null");
			printf("}");
		} else {
			char hit[16], sc[24];

			hit_sc_text(a, dt, tp->to.cache, tp->syscalls, !total, hit, sizeof(hit), sc, sizeof(sc));
			printf("%-8u %-8u %-16s %-12s", u->tgid, u->tid, u->comm, roles_name(u->role));
			text_states(a, dt);
			printf(" %8.0f %8.0f %6s %9s\n",
			       total ? (double)a->nvcsw : (dt > 0 ? (double)a->nvcsw / dt : 0.0),
			       total ? (double)a->nivcsw : (dt > 0 ? (double)a->nivcsw / dt : 0.0), hit, sc);
		}
		first = false;
	}
	if (tp->s->json)
		printf("]");
}

static void report_json(struct top *tp, bool summary, const char *why, double dt, const struct krow *kr)
{
	const struct acct_sum *ra = summary ? tp->a.role_tot : tp->a.role_d;
	bool first = true;

	if (summary)
		printf(",\"end\":\"%s\",\"intervals\":%ld,\"threads_forgotten\":%ld", why,
		       tp->intervals, tp->a.forgotten);
	if (tp->req.known) {
		__u64 rq = summary ? tp->req_total : tp->req_d;
		printf(",\"requests\":%llu,\"requests_per_s\":%.1f", (unsigned long long)rq,
		       dt > 0 ? (double)rq / dt : 0.0);
	} else {
		printf(",\"requests\":null,\"requests_per_s\":null");
	}
	mstats_print(stdout, &tp->ms, summary, dt, tp->req.known ? (summary ? tp->req_total : tp->req_d) : 0, true);
	if (!summary)
		printf(",\"snapshot_ns\":%llu", (unsigned long long)tp->a.snap_ns);
	printf(",\"roles\":[");
	for (int r = 0; r < tp->a.nroles; r++) {
		int thr = summary ? acct_role_threads(&tp->a, r) : ra[r].threads;

		if (!thr && !ra[r].wall_ns)
			continue;
		printf("%s{\"role\":\"%s\",\"threads\":%d,", first ? "" : ",", roles_name(r), thr);
		json_acc(&ra[r], dt, summary, tp->syscalls, tp->to.cache);
		printf("}");
		first = false;
	}
	printf("]");
	kern_print(kr, dt, true);
	if (tp->threads || summary)
		print_threads(tp, summary, dt);
	printf(",");
}

static void report_text(struct top *tp, bool summary, const char *why, double dt, const struct krow *kr)
{
	const struct acct_sum *ra = summary ? tp->a.role_tot : tp->a.role_d;

	if (tp->req.known)
		printf("  requests/s %.0f", dt > 0 ? (double)(summary ? tp->req_total : tp->req_d) / dt : 0.0);
	if (summary)
		printf("  (%s)", why);
	printf("\n");
	text_header();
	for (int r = 0; r < tp->a.nroles; r++) {
		struct acct_sum a = ra[r];

		if (summary)
			a.threads = acct_role_threads(&tp->a, r);
		if (a.threads || a.wall_ns)
			text_row(roles_name(r), &a, dt, tp->to.cache, tp->syscalls);
	}
	kern_print(kr, dt, false);
	mstats_print(stdout, &tp->ms, summary, dt, tp->req.known ? (summary ? tp->req_total : tp->req_d) : 0, false);
	if (tp->threads)
		print_threads(tp, summary, dt);
}

static __u64 roles_cpu(const struct acct_sum *a, int n)
{
	__u64 s = 0;

	for (int r = 0; r < n; r++)
		s += a[r].ns[AB_USER] + a[r].ns[AB_KERNEL];
	return s;
}

static void report(struct top *tp, bool summary, const char *why)
{
	const struct acct_sum *ra = summary ? tp->a.role_tot : tp->a.role_d;
	double dt = (double)(tp->a.t_ns - (summary ? tp->t0 : tp->a.t_prev_ns)) / 1e9;
	time_t wall = time(NULL);
	char tbuf[32];
	struct krow kr;

	kern_row(summary ? &tp->k0 : &tp->kint0, &tp->kprev, dt, &kr);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", localtime(&wall));
	if (tp->s->json) {
		printf("{\"type\":\"%s\",\"pid\":%d,\"comm\":", summary ? "summary" : "interval",
		       (int)tp->s->pid);
		mode_json_str(stdout, tp->s->comm);
		printf(",\"time\":\"%s\",\"%s\":%.3f", tbuf, summary ? "duration_s" : "interval_s", dt);
		report_json(tp, summary, why, dt, &kr);
	} else {
		if (tp->tty && !summary)
			printf("\033[H\033[J");
		printf("ampstat top  pid %d (%s)  %s  %s %.2f s", (int)tp->s->pid, tp->s->comm, tbuf,
		       summary ? "summary over" : "interval", dt);
		report_text(tp, summary, why, dt, &kr);
	}
	/* the target's CPU time, exact: its threads' on-CPU time */
	bpf_cost(tp, summary ? tp->s->p0 : tp->pprev, roles_cpu(ra, tp->a.nroles), dt, !summary);
	if (tp->s->json)
		printf("}");
	if (tp->s->json || !tp->tty || summary)
		printf("\n");
	fflush(stdout);
}

/* ---------------------------------------------------------------- command */

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampstat top -p PID [-i SEC] [-n COUNT] [-d SEC] [--json] [--threads] [--cache]\n"
"                   [--syscalls]"
" [--role NAME=PAT]... [--sample-hz N] [--no-pin] [-v]\n"
"\n"
"Where the time of a running server goes: for each role (dispatcher, helpers,\n"
"workers, boss, supervisor, io_uring workers, seda's stage-acc, stage-http,\n"
"stage-file, other; from thread names, or nginx's and lighttpd's processes\n"
"and threads; --role for others) how many of its threads\n"
"were, on average over the interval, in each state: on CPU in user or kernel\n"
"mode (ONCPU = USER + KERN = the CPUs the role used), blocked-io (D state),\n"
"idle wait (epoll_wait, poll, select), other waits, the run queue, and steal (on a CPU the\n"
"hypervisor gave to someone else).  One unit throughout: a role's states add\n"
"up to its THR.  Also context switches/s, the page-cache hit ratio with\n"
"--cache (HIT%%: pages read or mapped that were cached, of all it accessed;\n"
"'-': none), system calls/s with --syscalls, requests/s and ampstat's own\n"
"BPF cost (its run time, as a share of the target's CPU time).\n"
"For amped's --model ult: its user-level context switches/s (and per request),\n"
"threads and parks; for --model seda: each stage's threads, queue, items/s,\n"
"rejections/s, service time and busy threads (amped's own counters, read\n"
"from its memory: no probe).\n"
"On-CPU and run-queue time are the kernel's own (schedstat's).\n"
"The target is PID and every process it forks.\n"
"\n"
"The row 'kernel' is kernel work outside the target's threads, machine-wide\n"
"(nothing tells which process a kworker or a softirq served), in CPUs used:\n"
"kernel threads (ksoftirqd, kworkers, block/loop: loop*, jbd2, and kworkers of\n"
"kblockd, loop*, *blk*, writeback; other kernel threads), exact, plus softirq\n"
"in other processes and idle, estimated from the CPU-clock samples of every\n"
"CPU; the parts add up to its ONCPU.  Softirq taken in the target's own\n"
"threads is on a line of its own, outside that total: it is already in their\n"
"KERN.\n"
"\n"
"  -p, --pid PID        the server to trace (with its child processes)\n"
"  -i, --interval SEC   seconds between reports (default 1, at least 0.05)\n"
"  -n, --count N        stop after N reports (default: until Ctrl-C or exit)\n"
"  -d, --duration SEC   stop after SEC seconds (the summary counts a last\n"
"                       partial interval)\n"
"      --json           one JSON object per interval, and a summary object:\n"
"                       times in ns, rates per second, every share or ratio\n"
"                       a fraction of 1 (README)\n"
"      --threads        also one row per thread\n"
"      --cache          count page-cache accesses and misses (HIT%%) by the\n"
"                       filemap tracepoints.  Off by default: they run a\n"
"                       program for every page-cache access of the machine\n"
"                       (~60-100 ns each here); `ampstat cache` has more\n"
"      --syscalls       count system calls (SYSC/s) with a perf counting event\n"
"                       per thread (raw_syscalls:sys_enter); threads and\n"
"                       processes created later count with their creator.\n"
"                       Off by default: while it runs, every system call of\n"
"                       the machine takes the slower tracepoint path (~55 ns\n"
"                       more here; ~190 ns in the target)\n"
"      --role NAME=PAT  a role for the threads PAT matches (checked before the\n"
"                       built-in roles; repeatable, a NAME may repeat).  PAT:\n"
"                         REGEX         the thread name (comm), extended regex\n"
"                         cmd:REGEX     the process title (/proc/PID/cmdline)\n"
"                         exe:REGEX     the basename of the executable\n"
"                         comm:REGEX    the thread name, for a REGEX with 'a-z:'\n"
"                         leader:[PAT]  the process's main thread (and PAT)\n"
"                         thread:[PAT]  any other thread of it (and PAT)\n"
"                       nginx and lighttpd get roles of their own: master,\n"
"                       worker, cache, aio-threads; event-loop\n"
"      --sample-hz N    CPU-clock samples per second and CPU for the\n"
"                       user/kernel split (default 1999)\n"
"      --no-pin         do not pin the maps under /sys/fs/bpf/amped/PID/\n"
"  -v, --verbose        libbpf debug output\n"
"\n"
"examples:\n"
"  ampstat top -p $(pgrep -x amped)\n"
"  ampstat top -p 1234 -i 2 -n 10 --json > top.jsonl\n"
"  ampstat top -p $(cat /run/nginx.pid)          # master, worker, aio-threads\n"
"  ampstat top -p 1234 --role io='thread:cmd:^myserver: worker'\n"
"\n"
"Exit status: 0 ok (Ctrl-C, COUNT reached, or the target exited: a summary is\n"
"printed), 1 runtime error (not root, no BTF, no such process), 2 usage error.\n");
}

static int option(struct sess *s, void *ctx, int c, const char *arg)
{
	struct top *tp = ctx;
	long v;

	(void)s;
	switch (c) {
	case 'n':
		if (!mode_parse_long(arg, &v) || v <= 0) {
			fprintf(stderr, "ampstat: count must be a positive integer, got '%s'\n", arg);
			return 2;
		}
		tp->count = v;
		return 0;
	case 't': tp->threads = true; return 0;
	case 'C': tp->to.cache = true; return 0;
	case 'S': tp->syscalls = true; return 0;
	case 'r': return roles_add(arg) ? 2 : 0;
	case 's':
		if (!mode_parse_long(arg, &v) || v < 10 || v > 20000) {
			fprintf(stderr, "ampstat: --sample-hz must be 10-20000, got '%s'\n", arg);
			return 2;
		}
		tp->to.sample_hz = (int)v;
		return 0;
	case 'P': tp->to.pin = false; return 0;
	}
	return 2;
}

static int start(struct sess *s, void *ctx)
{
	struct top *tp = ctx;
	int live = 0;

	tp->s = s;
	tp->tty = isatty(STDOUT_FILENO) && !s->json;
	if (tp->syscalls && (tp->sc_id = sc_tracepoint_id()) < 0) {
		fprintf(stderr, "ampstat: --syscalls: cannot find the id of tracepoint "
				"raw_syscalls:sys_enter (tracefs)\n");
		return 1;
	}
	if (acct_open(&tp->a, &tp->tr, s, &tp->to))
		return 1;
	reqs_init(&tp->req, s->pid);
	mstats_init(&tp->ms, s->pid);
	read_requests(tp, true);
	snapshot(tp, true);
	tp->t0 = tp->a.t_ns;
	tp->k0 = tp->kint0 = tp->kprev;
	for (int i = 0; i < tp->a.nth; i++)
		live += !tp->a.th[i].dead;
	fprintf(stderr, "ampstat: tracing pid %d (%s): %d threads%s; Ctrl-C to stop\n", (int)s->pid,
		s->comm, live, tp->syscalls ? ", syscalls counted" : "");
	return 0;
}

static const char *tick(struct sess *s, void *ctx)
{
	struct top *tp = ctx;

	if (tp->intervals == 0)	/* the programs' baseline is the session's */
		memcpy(tp->pprev, s->p0, sizeof(tp->pprev));
	read_requests(tp, false);
	snapshot(tp, false);
	tp->intervals++;
	report(tp, false, "");
	return tp->count && tp->intervals >= tp->count ? "count" : NULL;
}

static int stop(struct sess *s, void *ctx, const char *why)
{
	struct top *tp = ctx;

	if (tp->intervals == 0)
		memcpy(tp->pprev, s->p0, sizeof(tp->pprev));
	/* the last partial interval counts in the summary, not as a report */
	if (mode_now_ns() > tp->a.t_ns) {
		read_requests(tp, false);
		snapshot(tp, false);
	}
	report(tp, true, why);
	return 0;
}

static void cleanup(struct sess *s, void *ctx)
{
	struct top *tp = ctx;

	(void)s;
	acct_free(&tp->a);
	tr_close(tp->tr);
}

int cmd_top(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "threads", no_argument, NULL, 't' },
		{ "cache", no_argument, NULL, 'C' },
		{ "syscalls", no_argument, NULL, 'S' },
		{ "role", required_argument, NULL, 'r' },
		{ "sample-hz", required_argument, NULL, 's' },
		{ "no-pin", no_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct sess_cmd cmd = {
		.name = "top", .usage = usage, .shortopts = "n:", .longopts = longopts,
		.option = option, .flags = SESS_JSON | SESS_INTERVAL, .interval_s = 1.0,
		.interval_min_s = 0.05, .start = start, .tick = tick, .stop = stop, .cleanup = cleanup,
	};
	struct top tp = { .to = { .sample_hz = 1999, .pin = true, .follow_forks = true } };

	return sess_run(&cmd, &tp, argc, argv);
}
