/* top — `ampstat top`: where the time of a running server goes, per role.
 *
 * Every interval it reads the per-thread state times the sched programs
 * keep (include/ampstat_sched.h), takes the differences from the last reading,
 * splits on-CPU time into user and kernel by the thread's CPU-clock samples,
 * and sums threads into roles (roles.h).  Requests/s come from the server's
 * own counter (amped_current.requests_done, read with process_vm_readv):
 * attaching a probe to every request would cost ~650 ns a hit.
 *
 * Page-cache accesses and misses per thread come from the filemap
 * tracepoints (bpf/sched.bpf.c, by the rules of `ampstat cache`); system
 * calls, with --syscalls, from perf counting events (see sc_open); the
 * kernel row from kernel threads' switches and softirq samples (kern_row).
 *
 * On-CPU time with no sample in the interval is split by the thread's
 * samples so far; with none at all it counts as kernel time (a thread that
 * runs for a few microseconds at a time mostly runs system calls).
 *
 * --json: one object per line.  {"type":"interval"|"summary", "pid",
 * "comm", "time", "interval_s"|"duration_s", ["end": "signal"|"count"|
 * "target exited", "intervals", "threads_forgotten"], "requests",
 * "requests_per_s" (null when the target has no amped_current counter),
 * "roles": [{"role", "threads", "wall_ns", "oncpu_ns", "user_ns",
 * "kernel_ns", "blocked_io_ns", "wait_idle_ns", "wait_other_ns", "runq_ns",
 * "share": {bucket: percent of wall_ns}, "vcsw_per_s", "ivcsw_per_s" (and
 * "vcsw", "ivcsw" in the summary), "cache_accesses", "cache_misses" (pages),
 * "cache_hit_ratio" (null: no access), "syscalls", "syscalls_per_s" (null
 * without --syscalls)}], "kernel": {"scope": "machine", "cpus", "samples",
 * "cpu_ns", "cpu_pct", "softirq_ns", "softirq_in_target_ns",
 * "softirq_in_kthreads_ns", "softirq_elsewhere_ns", "ksoftirqd_ns",
 * "kworker_ns", "block_ns", "other_kthreads_ns"}, "threads": [the same per thread, with
 * "tid", "tgid", "comm", "role", "exited", "unwoken" (switch-ins with no
 * wakeup seen); always in the summary, with --threads in intervals],
 * "bpf": {"run_ns", "target_cpu_ns", "pct_of_target_cpu", "progs":
 * [{"name", "run_ns", "runs", "missed"}]}, "dropped": {"threads", "tgids",
 * "samples", "torn_reads"}}.  wall_ns is the sum over the threads of the
 * time each was traced; the six buckets sum to it.  Once more than
 * MAX_DEAD threads were seen, exited ones are dropped from the list
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
#include "ampstat/mode.h"
#include "ampstat/proc.h"
#include "ampstat/reqs.h"
#include "ampstat/roles.h"
#include "ampstat/trace.h"

#define MAX_PROGS 16
#define MAX_TGIDS 1024
#define MAX_DEAD 4096

enum bucket { B_USER, B_KERNEL, B_BLOCKED, B_IDLE, B_OTHER, B_RUNQ, NB };
static const char *bucket_json[NB] = { "user", "kernel", "blocked_io", "wait_idle", "wait_other", "runq" };

struct acc {
	int threads;
	__u64 wall_ns;
	__u64 ns[NB];
	__u64 nvcsw, nivcsw;
	__u64 cache_access, cache_miss;	/* pages */
	__u64 syscalls;			/* with --syscalls */
};

struct uthr {
	__u32 tid, tgid;
	__u64 start_ns;
	char comm[AMPSTAT_COMM_LEN];
	int role;
	bool dead;
	__u32 unwoken;
	__u64 last_t;			/* end of the thread's last accounted stretch */
	__u64 prev[AMPSTAT_NSLOT];	/* cumulative state times at last_t */
	__u64 prev_su, prev_sk, prev_nv, prev_niv;
	__u64 prev_ca, prev_cm;
	int sc_fd;			/* --syscalls: its counting event, -1: none */
	__u64 prev_sc;
	struct acc d;			/* this interval */
	struct acc tot;			/* since attach */
};

struct top {
	/* options */
	pid_t pid;
	double interval_s;
	long count;
	bool json, threads, tty, syscalls;
	/* state */
	struct tr *tr;
	char comm[32];
	struct uthr *th;
	int nth, cap;
	struct ampstat_thread *snap;
	struct ampstat_samples *ssnap;
	int nsnap, snapcap;
	__u64 t0, tprev, tint0;
	struct tr_prog p0[MAX_PROGS], pprev[MAX_PROGS];
	int nprogs;
	struct reqs req;
	__u64 req_total, req_d;
	struct acc *role_d, *role_tot;
	long intervals;
	long dropped_dead;	/* exited threads forgotten (see snapshot) */
	struct tr_kern k0, kprev, kint0;	/* the kernel row: at attach, now, last report */
	int sc_id;		/* raw_syscalls:sys_enter's tracepoint id */
	int sc_events;		/* counting events open */
};

static volatile sig_atomic_t exiting;

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

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

static void sc_open(struct top *tp, struct uthr *u)
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
	int nroles = roles_count();

	for (int i = 0; tp->syscalls && i < tp->nth; i++) {
		struct uthr *u = &tp->th[i];
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
		if (u->role >= 0 && u->role < nroles)
			tp->role_d[u->role].syscalls += dv;
	}
}

/* ---------------------------------------------------------------- snapshot */

static void collect(void *ctx, const struct ampstat_thread *t, const struct ampstat_samples *s)
{
	struct top *tp = ctx;

	if (tp->nsnap == tp->snapcap) {
		int n = tp->snapcap ? tp->snapcap * 2 : 256;
		struct ampstat_thread *a = realloc(tp->snap, (size_t)n * sizeof(*a));
		struct ampstat_samples *b;
		if (!a)
			return;
		tp->snap = a;
		b = realloc(tp->ssnap, (size_t)n * sizeof(*b));
		if (!b)
			return;
		tp->ssnap = b;
		tp->snapcap = n;
	}
	tp->snap[tp->nsnap] = *t;
	tp->ssnap[tp->nsnap++] = *s;
}

static struct uthr *find_thr(struct top *tp, __u32 tid, __u64 start_ns)
{
	for (int i = 0; i < tp->nth; i++)
		if (tp->th[i].tid == tid && tp->th[i].start_ns == start_ns)
			return &tp->th[i];
	if (tp->nth == tp->cap) {
		int n = tp->cap ? tp->cap * 2 : 64;
		struct uthr *a = realloc(tp->th, (size_t)n * sizeof(*a));
		if (!a)
			return NULL;
		tp->th = a;
		tp->cap = n;
	}
	struct uthr *u = &tp->th[tp->nth++];
	memset(u, 0, sizeof(*u));
	u->tid = tid;
	u->start_ns = start_ns;
	u->last_t = start_ns;
	u->sc_fd = -1;
	return u;
}

static void add_acc(struct acc *a, const struct acc *b)
{
	a->wall_ns += b->wall_ns;
	for (int i = 0; i < NB; i++)
		a->ns[i] += b->ns[i];
	a->nvcsw += b->nvcsw;
	a->nivcsw += b->nivcsw;
	a->cache_access += b->cache_access;
	a->cache_miss += b->cache_miss;
	a->syscalls += b->syscalls;
}

/* Read every thread; account the stretch since its last reading.  With
 * baseline, only remember where each thread stands. */
static void snapshot(struct top *tp, bool baseline)
{
	int nroles = roles_count();
	__u64 T;

	tp->nsnap = 0;
	tr_threads(tp->tr, collect, tp);
	/* T after the reads: every entry's open stretch is then extended to
	 * the same instant, and its states sum to T - start exactly. */
	T = now_ns();
	memset(tp->role_d, 0, (size_t)nroles * sizeof(*tp->role_d));
	for (int i = 0; i < tp->nth; i++)
		memset(&tp->th[i].d, 0, sizeof(tp->th[i].d));
	for (int i = 0; i < tp->nsnap; i++) {
		const struct ampstat_thread *t = &tp->snap[i];
		const struct ampstat_samples *s = &tp->ssnap[i];
		struct uthr *u = find_thr(tp, t->tid, t->start_ns);
		__u64 cum[AMPSTAT_NSLOT], teff = t->exit_ns ? t->exit_ns : T;

		if (!u || u->dead)
			continue;
		memcpy(cum, t->state_ns, sizeof(cum));
		if (teff > t->ts_ns && !t->exit_ns)
			cum[t->state & (AMPSTAT_NSLOT - 1)] += teff - t->ts_ns;
		u->tgid = t->tgid;
		u->unwoken = t->unwoken;
		memcpy(u->comm, t->comm, sizeof(u->comm));
		u->comm[AMPSTAT_COMM_LEN - 1] = 0;
		u->role = roles_of_task((pid_t)u->tgid, (pid_t)u->tid, u->comm);
		if (!baseline && teff > u->last_t) {
			struct acc *d = &u->d;
			__u64 dsu = sub0(s->user, u->prev_su), dsk = sub0(s->kernel, u->prev_sk);
			__u64 on = sub0(cum[AS_ONCPU], u->prev[AS_ONCPU]);

			d->threads = 1;
			d->wall_ns = teff - u->last_t;
			d->ns[B_BLOCKED] = sub0(cum[AS_BLOCKED], u->prev[AS_BLOCKED]);
			d->ns[B_IDLE] = sub0(cum[AS_WAIT_IDLE], u->prev[AS_WAIT_IDLE]);
			d->ns[B_OTHER] = sub0(cum[AS_WAIT_OTHER], u->prev[AS_WAIT_OTHER]);
			d->ns[B_RUNQ] = sub0(cum[AS_RUNQ], u->prev[AS_RUNQ]);
			/* split on-CPU time by this interval's samples; with none
			 * (a short stretch), by all of the thread's samples; with
			 * none at all, it counts as kernel time */
			if (dsu + dsk == 0) {
				dsu = s->user;
				dsk = s->kernel;
			}
			d->ns[B_USER] = dsu + dsk ? (__u64)((double)on * (double)dsu / (double)(dsu + dsk)) : 0;
			d->ns[B_KERNEL] = on - d->ns[B_USER];
			d->nvcsw = sub0(t->nvcsw, u->prev_nv);
			d->nivcsw = sub0(t->nivcsw, u->prev_niv);
			d->cache_access = sub0(s->cache_access, u->prev_ca);
			d->cache_miss = sub0(s->cache_miss, u->prev_cm);
			add_acc(&u->tot, d);
			u->tot.threads = 1;
			if (u->role >= 0 && u->role < nroles) {
				add_acc(&tp->role_d[u->role], d);
				tp->role_d[u->role].threads++;
			}
		}
		memcpy(u->prev, cum, sizeof(cum));
		u->prev_su = s->user;
		u->prev_sk = s->kernel;
		u->prev_nv = t->nvcsw;
		u->prev_niv = t->nivcsw;
		u->prev_ca = s->cache_access;
		u->prev_cm = s->cache_miss;
		if (teff > u->last_t)
			u->last_t = teff;
		if (t->exit_ns) {
			u->dead = true;
			tr_forget(tp->tr, t->tid, t->start_ns);
		}
	}
	sc_read(tp, baseline);
	/* live threads with no stretch this interval still count as threads */
	for (int i = 0; i < tp->nth; i++) {
		struct uthr *u = &tp->th[i];
		if (!u->dead && !u->d.threads && u->role >= 0 && u->role < nroles && !baseline &&
		    u->last_t >= tp->tprev)
			tp->role_d[u->role].threads++;
	}
	for (int r = 0; !baseline && r < nroles; r++) {
		int thr = tp->role_tot[r].threads;
		add_acc(&tp->role_tot[r], &tp->role_d[r]);
		tp->role_tot[r].threads = thr;
	}
	/* A server that keeps making threads or processes would grow the
	 * table (and its linear search) without bound: past MAX_DEAD exited
	 * threads, forget them; their time stays in the role totals. */
	if (tp->nth > MAX_DEAD) {
		int j = 0;
		for (int i = 0; i < tp->nth; i++) {
			if (!tp->th[i].dead)
				tp->th[j++] = tp->th[i];
			else if (tp->th[i].sc_fd >= 0)
				close(tp->th[i].sc_fd);
		}
		tp->dropped_dead += tp->nth - j;
		tp->nth = j;
	}
	tp->tint0 = tp->tprev;
	tp->tprev = T;
	tp->kint0 = tp->kprev;
	tr_kern(tp->tr, &tp->kprev);
}

/* requests finished this interval (see reqs.h) */
static void read_requests(struct top *tp, bool baseline)
{
	pid_t tg[MAX_TGIDS];
	int n = tr_tgids(tp->tr, tg, MAX_TGIDS);

	tp->req_d = reqs_read(&tp->req, tg, n, baseline);
	if (!baseline)
		tp->req_total += tp->req_d;
}

/* ---------------------------------------------------------------- output */

static double pct(__u64 a, __u64 b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

static void bpf_cost(struct top *tp, const struct tr_prog *from, __u64 target_cpu_ns, bool text,
		     bool advance)
{
	struct tr_prog now[MAX_PROGS];
	int n = tr_progs(tp->tr, now, MAX_PROGS);
	__u64 total = 0;
	struct tr_drops dr;

	tr_drops(tp->tr, &dr);
	for (int i = 0; i < n && i < tp->nprogs; i++)
		total += now[i].run_ns - from[i].run_ns;
	if (text) {
		printf("bpf: %.3f ms", (double)total / 1e6);
		if (target_cpu_ns)
			printf(" = %.2f%% of target CPU", pct(total, target_cpu_ns));
		printf("; ns/run:");
		for (int i = 0; i < n && i < tp->nprogs; i++) {
			__u64 runs = now[i].runs - from[i].runs, ns = now[i].run_ns - from[i].run_ns;
			if (runs)
				printf(" %s %.0f", now[i].name + 3, (double)ns / (double)runs);
			if (now[i].missed - from[i].missed)
				printf(" (%s missed %llu)", now[i].name + 3,
				       (unsigned long long)(now[i].missed - from[i].missed));
		}
		if (dr.threads || dr.tgids || dr.samples || dr.torn)
			printf("  dropped: threads %llu tgids %llu samples %llu torn %llu",
			       (unsigned long long)dr.threads, (unsigned long long)dr.tgids,
			       (unsigned long long)dr.samples, (unsigned long long)dr.torn);
		printf("\n");
		if (advance && n > 0 && n <= MAX_PROGS)
			memcpy(tp->pprev, now, (size_t)n * sizeof(now[0]));
		return;
	}
	printf("\"bpf\":{\"run_ns\":%llu,\"target_cpu_ns\":%llu,\"pct_of_target_cpu\":%.4f,\"progs\":[",
	       (unsigned long long)total, (unsigned long long)target_cpu_ns, pct(total, target_cpu_ns));
	for (int i = 0; i < n && i < tp->nprogs; i++)
		printf("%s{\"name\":\"%s\",\"run_ns\":%llu,\"runs\":%llu,\"missed\":%llu}", i ? "," : "",
		       now[i].name, (unsigned long long)(now[i].run_ns - from[i].run_ns),
		       (unsigned long long)(now[i].runs - from[i].runs),
		       (unsigned long long)(now[i].missed - from[i].missed));
	printf("]},\"dropped\":{\"threads\":%llu,\"tgids\":%llu,\"samples\":%llu,\"torn_reads\":%llu}",
	       (unsigned long long)dr.threads, (unsigned long long)dr.tgids,
	       (unsigned long long)dr.samples, (unsigned long long)dr.torn);
	if (advance && n > 0 && n <= MAX_PROGS)
		memcpy(tp->pprev, now, (size_t)n * sizeof(now[0]));
}

/* the share of accessed pages that were already cached, -1: no access */
static double hit_ratio(const struct acc *a)
{
	if (!a->cache_access)
		return -1;
	return a->cache_miss >= a->cache_access ? 0.0 : 1.0 - (double)a->cache_miss / (double)a->cache_access;
}

static void json_acc(const struct acc *a, double dt, bool counts, bool syscalls)
{
	double hr = hit_ratio(a);

	printf("\"wall_ns\":%llu,\"oncpu_ns\":%llu", (unsigned long long)a->wall_ns,
	       (unsigned long long)(a->ns[B_USER] + a->ns[B_KERNEL]));
	for (int b = 0; b < NB; b++)
		printf(",\"%s_ns\":%llu", bucket_json[b], (unsigned long long)a->ns[b]);
	printf(",\"share\":{");
	for (int b = 0; b < NB; b++)
		printf("%s\"%s\":%.4f", b ? "," : "", bucket_json[b], pct(a->ns[b], a->wall_ns));
	printf("}");
	if (counts)
		printf(",\"vcsw\":%llu,\"ivcsw\":%llu", (unsigned long long)a->nvcsw,
		       (unsigned long long)a->nivcsw);
	printf(",\"vcsw_per_s\":%.1f,\"ivcsw_per_s\":%.1f", dt > 0 ? (double)a->nvcsw / dt : 0.0,
	       dt > 0 ? (double)a->nivcsw / dt : 0.0);
	printf(",\"cache_accesses\":%llu,\"cache_misses\":%llu,\"cache_hit_ratio\":",
	       (unsigned long long)a->cache_access, (unsigned long long)a->cache_miss);
	if (hr < 0)
		printf("null");
	else
		printf("%.4f", hr);
	if (syscalls)
		printf(",\"syscalls\":%llu,\"syscalls_per_s\":%.1f", (unsigned long long)a->syscalls,
		       dt > 0 ? (double)a->syscalls / dt : 0.0);
	else
		printf(",\"syscalls\":null,\"syscalls_per_s\":null");
}

static void text_header(void)
{
	printf("%-12s %4s %6s %6s %6s %7s %6s %6s %6s %9s %9s %6s %9s\n", "ROLE", "THR", "CPU%", "USER%",
	       "KERN%", "BLKIO%", "IDLE%", "WAIT%", "RUNQ%", "VCSW/s", "ICSW/s", "HIT%", "SYSC/s");
}

/* HIT% and SYSC/s (per second, or the count when !rate) as text: '-' when
 * nothing was accessed or syscalls are not counted */
static void hit_sc_text(const struct acc *a, double dt, bool syscalls, bool rate, char *hit,
			size_t nhit, char *sc, size_t nsc)
{
	double hr = hit_ratio(a);

	if (hr < 0)
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

static void text_row(const char *name, const struct acc *a, double dt, bool syscalls)
{
	__u64 on = a->ns[B_USER] + a->ns[B_KERNEL];
	char hit[16], sc[24];

	hit_sc_text(a, dt, syscalls, true, hit, sizeof(hit), sc, sizeof(sc));
	printf("%-12.12s %4d %6.1f %6.1f %6.1f %7.1f %6.1f %6.1f %6.1f %9.0f %9.0f %6s %9s\n", name,
	       a->threads, dt > 0 ? (double)on / (dt * 1e7) : 0.0, pct(a->ns[B_USER], a->wall_ns),
	       pct(a->ns[B_KERNEL], a->wall_ns), pct(a->ns[B_BLOCKED], a->wall_ns),
	       pct(a->ns[B_IDLE], a->wall_ns), pct(a->ns[B_OTHER], a->wall_ns),
	       pct(a->ns[B_RUNQ], a->wall_ns), dt > 0 ? (double)a->nvcsw / dt : 0.0,
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

static void kern_print(const struct krow *r, double dt, bool json)
{
	double one = dt > 0 ? dt * 1e7 : 1;	/* ns per percent of one CPU */

	if (json) {
		printf(",\"kernel\":{\"scope\":\"machine\",\"cpus\":%d,\"samples\":%llu,\"cpu_ns\":%llu,"
		       "\"cpu_pct\":%.3f,\"softirq_ns\":%llu,\"softirq_in_target_ns\":%llu,"
		       "\"softirq_in_kthreads_ns\":%llu,\"softirq_elsewhere_ns\":%llu",
		       r->ncpu, (unsigned long long)r->samples, (unsigned long long)r->cpu_ns,
		       (double)r->cpu_ns / one, (unsigned long long)r->softirq_ns,
		       (unsigned long long)r->softirq_target_ns, (unsigned long long)r->softirq_kthread_ns,
		       (unsigned long long)r->softirq_other_ns);
		for (int i = 0; i < AK_N; i++)
			printf(",\"%s_ns\":%llu", tr_kclass_name[i], (unsigned long long)r->cls_ns[i]);
		printf("}");
		return;
	}
	printf("%-12s %4s %6.1f   (machine-wide, %% of one CPU) softirq %.1f (in the target %.1f, kernel "
	       "threads %.1f, elsewhere %.1f)  ksoftirqd %.1f  kworker %.1f  block/loop %.1f  other %.1f\n",
	       "kernel", "-", (double)r->cpu_ns / one, (double)r->softirq_ns / one,
	       (double)r->softirq_target_ns / one, (double)r->softirq_kthread_ns / one,
	       (double)r->softirq_other_ns / one, (double)r->cls_ns[AK_KSOFTIRQD] / one,
	       (double)r->cls_ns[AK_KWORKER] / one, (double)r->cls_ns[AK_BLOCK] / one,
	       (double)r->cls_ns[AK_OTHER] / one);
}

static __u64 roles_cpu(const struct acc *a, int n)
{
	__u64 s = 0;

	for (int r = 0; r < n; r++)
		s += a[r].ns[B_USER] + a[r].ns[B_KERNEL];
	return s;
}

static void print_threads(struct top *tp, bool total, double dt)
{
	bool first = true;

	if (tp->json)
		printf(",\"threads\":[");
	else
		printf("%-8s %-8s %-16s %-12s %6s %6s %7s %6s %6s %6s %8s %8s %6s %9s\n", "TGID", "TID",
		       "COMM", "ROLE", "USER%", "KERN%", "BLKIO%", "IDLE%", "WAIT%", "RUNQ%",
		       total ? "VCSW" : "VCSW/s", total ? "ICSW" : "ICSW/s", "HIT%", total ? "SYSC" : "SYSC/s");
	for (int i = 0; i < tp->nth; i++) {
		struct uthr *u = &tp->th[i];
		const struct acc *a = total ? &u->tot : &u->d;

		if (!a->threads)
			continue;
		if (tp->json) {
			printf("%s{\"tid\":%u,\"tgid\":%u,\"comm\":", first ? "" : ",", u->tid, u->tgid);
			mode_json_str(stdout, u->comm);
			printf(",\"role\":\"%s\",\"exited\":%s,\"unwoken\":%u,", roles_name(u->role),
			       u->dead ? "true" : "false", u->unwoken);
			json_acc(a, dt, true, tp->syscalls);
			printf("}");
		} else {
			char hit[16], sc[24];

			hit_sc_text(a, dt, tp->syscalls, !total, hit, sizeof(hit), sc, sizeof(sc));
			printf("%-8u %-8u %-16s %-12s %6.1f %6.1f %7.1f %6.1f %6.1f %6.1f %8.0f %8.0f %6s %9s\n",
			       u->tgid, u->tid, u->comm, roles_name(u->role), pct(a->ns[B_USER], a->wall_ns),
			       pct(a->ns[B_KERNEL], a->wall_ns), pct(a->ns[B_BLOCKED], a->wall_ns),
			       pct(a->ns[B_IDLE], a->wall_ns), pct(a->ns[B_OTHER], a->wall_ns),
			       pct(a->ns[B_RUNQ], a->wall_ns),
			       total ? (double)a->nvcsw : (dt > 0 ? (double)a->nvcsw / dt : 0.0),
			       total ? (double)a->nivcsw : (dt > 0 ? (double)a->nivcsw / dt : 0.0), hit, sc);
		}
		first = false;
	}
	if (tp->json)
		printf("]");
}

static void report(struct top *tp, bool summary, const char *why)
{
	int nroles = roles_count();
	const struct acc *ra = summary ? tp->role_tot : tp->role_d;
	double dt = (double)(tp->tprev - (summary ? tp->t0 : tp->tint0)) / 1e9;
	__u64 cpu = roles_cpu(ra, nroles);
	const struct tr_prog *from = summary ? tp->p0 : tp->pprev;
	bool first = true;
	time_t wall = time(NULL);
	char tbuf[32];
	struct krow kr;

	kern_row(summary ? &tp->k0 : &tp->kint0, &tp->kprev, dt, &kr);

	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", localtime(&wall));
	if (tp->json) {
		printf("{\"type\":\"%s\",\"pid\":%d,\"comm\":", summary ? "summary" : "interval", (int)tp->pid);
		mode_json_str(stdout, tp->comm);
		printf(",\"time\":\"%s\",\"%s\":%.3f", tbuf, summary ? "duration_s" : "interval_s", dt);
		if (summary)
			printf(",\"end\":\"%s\",\"intervals\":%ld,\"threads_forgotten\":%ld", why,
			       tp->intervals, tp->dropped_dead);
		if (tp->req.known) {
			__u64 rq = summary ? tp->req_total : tp->req_d;
			printf(",\"requests\":%llu,\"requests_per_s\":%.1f", (unsigned long long)rq,
			       dt > 0 ? (double)rq / dt : 0.0);
		} else {
			printf(",\"requests\":null,\"requests_per_s\":null");
		}
		printf(",\"roles\":[");
		for (int r = 0; r < nroles; r++) {
			const struct acc *a = &ra[r];
			int thr = a->threads;
			if (summary) {
				thr = 0;
				for (int i = 0; i < tp->nth; i++)
					thr += tp->th[i].role == r && tp->th[i].tot.threads;
			}
			if (!thr && !a->wall_ns)
				continue;
			printf("%s{\"role\":\"%s\",\"threads\":%d,", first ? "" : ",", roles_name(r), thr);
			json_acc(a, dt, summary, tp->syscalls);
			printf("}");
			first = false;
		}
		printf("]");
		kern_print(&kr, dt, true);
		if (tp->threads || summary)
			print_threads(tp, summary, dt);
		printf(",");
		bpf_cost(tp, from, cpu, false, !summary);
		printf("}\n");
		fflush(stdout);
		return;
	}
	if (tp->tty && !summary)
		printf("\033[H\033[J");
	printf("ampstat top  pid %d (%s)  %s  %s %.2f s", (int)tp->pid, tp->comm, tbuf,
	       summary ? "summary over" : "interval", dt);
	if (tp->req.known)
		printf("  requests/s %.0f", dt > 0 ? (double)(summary ? tp->req_total : tp->req_d) / dt : 0.0);
	if (summary)
		printf("  (%s)", why);
	printf("\n");
	text_header();
	for (int r = 0; r < nroles; r++) {
		struct acc a = ra[r];
		if (summary) {
			a.threads = 0;
			for (int i = 0; i < tp->nth; i++)
				a.threads += tp->th[i].role == r && tp->th[i].tot.threads;
		}
		if (a.threads || a.wall_ns)
			text_row(roles_name(r), &a, dt, tp->syscalls);
	}
	kern_print(&kr, dt, false);
	if (tp->threads)
		print_threads(tp, summary, dt);
	bpf_cost(tp, from, cpu, true, !summary);
	if (!tp->tty || summary)
		printf("\n");
	fflush(stdout);
}

/* ---------------------------------------------------------------- command */

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampstat top -p PID [-i SEC] [-n COUNT] [--json] [--threads] [--syscalls]\n"
"                   [--role NAME=PAT]... [--sample-hz N] [--no-pin] [-v]\n"
"\n"
"Where the time of a running server goes: for each role (dispatcher, helpers,\n"
"workers, boss, io_uring workers, other; from thread names, or nginx's and\n"
"lighttpd's processes and threads; --role for others) the share of wall\n"
"time in user, kernel, blocked-io (D state), idle wait (epoll_wait), other waits\n"
"and the run queue; context switches/s; the page-cache hit ratio (HIT%%: pages\n"
"read or mapped that were cached, of all it accessed; '-': none accessed);\n"
"system calls/s with --syscalls; requests/s; and ampstat's own BPF cost.\n"
"The target is PID and every process it forks.\n"
"\n"
"The row 'kernel' is kernel work outside the target's threads, machine-wide\n"
"(nothing tells which process a kworker or a softirq served): on-CPU time of\n"
"kernel threads (ksoftirqd, kworkers, block/loop: loop*, jbd2, and kworkers of\n"
"kblockd, loop*, *blk*, writeback; other kernel threads), exact, and softirq\n"
"time estimated from the CPU-clock samples of every CPU.  Softirq taken in the\n"
"target's own threads is shown apart: it is already in their kernel time.  Its\n"
"CPU%% is kernel threads plus softirq outside the target and kernel threads,\n"
"in %% of one CPU; every CPU of the machine adds to it.\n"
"\n"
"  -p, --pid PID        the server to trace (with its child processes)\n"
"  -i, --interval SEC   seconds between reports (default 1, at least 0.05)\n"
"  -n, --count N        stop after N reports (default: until Ctrl-C or exit)\n"
"      --json           one JSON object per interval, and a summary object\n"
"      --threads        also one row per thread\n"
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

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int libbpf_all(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return vfprintf(stderr, fmt, ap);
}

int cmd_top(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "threads", no_argument, NULL, 't' },
		{ "syscalls", no_argument, NULL, 'S' },
		{ "role", required_argument, NULL, 'r' },
		{ "sample-hz", required_argument, NULL, 's' },
		{ "no-pin", no_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct top tp = { .interval_s = 1.0 };
	struct tr_opts to = { .sample_hz = 1999, .pin = true, .follow_forks = true };
	bool verbose = false;
	const char *why = "signal";
	char err[256] = "";
	int c, rc = 1, nroles;
	long v;
	double d;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:i:n:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!mode_parse_pid(optarg, &tp.pid))
				return 2;
			break;
		case 'i':
			if (!mode_parse_double(optarg, &d) || d < 0.05 || d > 3600) {
				fprintf(stderr, "ampstat: interval must be 0.05-3600 s, got '%s'\n", optarg);
				return 2;
			}
			tp.interval_s = d;
			break;
		case 'n':
			if (!mode_parse_long(optarg, &v) || v <= 0) {
				fprintf(stderr, "ampstat: count must be a positive integer, got '%s'\n", optarg);
				return 2;
			}
			tp.count = v;
			break;
		case 'j': tp.json = true; break;
		case 't': tp.threads = true; break;
		case 'S': tp.syscalls = true; break;
		case 'r':
			if (roles_add(optarg))
				return 2;
			break;
		case 's':
			if (!mode_parse_long(optarg, &v) || v < 10 || v > 20000) {
				fprintf(stderr, "ampstat: --sample-hz must be 10-20000, got '%s'\n", optarg);
				return 2;
			}
			to.sample_hz = (int)v;
			break;
		case 'P': to.pin = false; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !tp.pid) {
		if (optind != argc)
			fprintf(stderr, "ampstat: unexpected argument '%s'\n", argv[optind]);
		else
			fprintf(stderr, "ampstat: top needs -p PID\n");
		usage(stderr);
		return 2;
	}
	if (mode_check(&tp.pid, tp.comm, sizeof(tp.comm)))
		return 1;
	tp.tty = isatty(STDOUT_FILENO) && !tp.json;
	libbpf_set_print(verbose ? libbpf_all : libbpf_quiet);

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	nroles = roles_count();
	tp.role_d = calloc((size_t)nroles, sizeof(*tp.role_d));
	tp.role_tot = calloc((size_t)nroles, sizeof(*tp.role_tot));
	if (!tp.role_d || !tp.role_tot) {
		fprintf(stderr, "ampstat: out of memory\n");
		goto cleanup;
	}
	if (tp.syscalls && (tp.sc_id = sc_tracepoint_id()) < 0) {
		fprintf(stderr, "ampstat: --syscalls: cannot find the id of tracepoint "
				"raw_syscalls:sys_enter (tracefs)\n");
		goto cleanup;
	}
	to.pid = tp.pid;
	if (tr_open(&tp.tr, &to, err, sizeof(err))) {
		fprintf(stderr, "ampstat: %s\n", err);
		goto cleanup;
	}
	/* the programs are attached: a fork from now on is followed in the
	 * kernel, so this scan misses nothing */
	{
		pid_t kids[MAX_TGIDS];
		int nk = proc_children(tp.pid, kids, MAX_TGIDS);
		for (int i = 0; i < nk; i++)
			tr_add_tgid(tp.tr, kids[i]);
	}
	if (tr_seed(tp.tr) < 0) {
		fprintf(stderr, "ampstat: seeding thread states (iter/task): %s\n", strerror(errno));
		goto cleanup;
	}
	reqs_init(&tp.req, tp.pid);
	read_requests(&tp, true);
	snapshot(&tp, true);
	tp.t0 = tp.tint0 = tp.tprev;
	tp.k0 = tp.kint0 = tp.kprev;
	tp.nprogs = tr_progs(tp.tr, tp.p0, MAX_PROGS);
	memcpy(tp.pprev, tp.p0, sizeof(tp.p0));
	{
		int live = 0;
		for (int i = 0; i < tp.nth; i++)
			live += !tp.th[i].dead;
		fprintf(stderr, "ampstat: tracing pid %d (%s): %d threads%s%s%s; Ctrl-C to stop\n",
			(int)tp.pid, tp.comm, live, tp.syscalls ? ", syscalls counted" : "",
			tr_pin_dir(tp.tr) ? ", maps pinned in " : "",
			tr_pin_dir(tp.tr) ? tr_pin_dir(tp.tr) : "");
	}
	rc = 0;
	for (;;) {
		__u64 deadline = tp.t0 + (__u64)((double)(tp.intervals + 1) * tp.interval_s * 1e9);
		bool gone = false;

		for (;;) {
			__u64 now = now_ns();
			if (exiting || now >= deadline)
				break;
			if (!proc_alive(tp.pid)) {
				gone = true;
				break;
			}
			__u64 left = deadline - now;
			if (left > 50000000ULL)
				left = 50000000ULL;
			struct timespec ts = { 0, (long)left };
			nanosleep(&ts, NULL);
		}
		if (exiting || gone) {
			why = gone ? "target exited" : "signal";
			break;
		}
		read_requests(&tp, false);
		snapshot(&tp, false);
		tp.intervals++;
		report(&tp, false, "");
		if (tp.count && tp.intervals >= tp.count) {
			why = "count";
			break;
		}
	}
	/* the last partial interval counts in the summary, not as a report */
	if (now_ns() > tp.tprev) {
		read_requests(&tp, false);
		snapshot(&tp, false);
	}
	report(&tp, true, why);
cleanup:
	for (int i = 0; i < tp.nth; i++)
		if (tp.th[i].sc_fd >= 0)
			close(tp.th[i].sc_fd);
	tr_close(tp.tr);
	free(tp.th);
	free(tp.snap);
	free(tp.ssnap);
	free(tp.role_d);
	free(tp.role_tot);
	roles_free();
	return rc;
}
