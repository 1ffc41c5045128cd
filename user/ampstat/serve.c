/* serve — `ampstat serve`: the figures of `ampstat top` (per-role time in
 * each state, context switches, page-cache accesses and misses, the
 * machine-wide kernel work, requests, ampstat's own BPF cost) live: as a
 * Prometheus text exposition (format 0.0.4) at http://ADDR:PORT/metrics,
 * as JSON at /api/now, and as a web page at / that draws /api/now
 * (user/ampstat/web/, bundled into the binary at build time).
 *
 * Prometheus wants counters: each thread's state times (include/ampstat_sched.h)
 * are read at every scrape and every second, and what each thread gained
 * since its last reading is added to its role's totals, so a role's
 * counters only grow, also when threads exit or are renamed.  On-CPU time
 * is split into user and kernel by the thread's CPU-clock samples in that
 * stretch (with none, by all its samples so far; with none at all, kernel),
 * as top does.
 *
 * With --pidfile or --exe it follows the target through restarts: the
 * BPF programs stay loaded, the new process joins the traced set, and
 * every counter goes on from where it was.
 *
 * The HTTP server is deliberately tiny: one thread, poll(2), one request
 * per connection (Connection: close), GET and HEAD of /, /metrics and
 * /api/now only, requests over 8 KiB or slower than 5 s are dropped.  It
 * listens on a loopback address unless --allow-remote: the figures
 * describe a process's behaviour (its thread names, its request rate) and
 * are not for the network by default; a Prometheus on another host needs
 * the flag, and gets a warning on stderr with it. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "amped_usdt.h"
#include "ampstat/cmd.h"
#include "ampstat/acct.h"
#include "ampstat/blocked.h"
#include "ampstat/latency.h"
#include "ampstat/proc.h"
#include "ampstat/reqs.h"
#include "ampstat/roles.h"
#include "ampstat/sess.h"
#include "ampstat/trace.h"
#include "lh.h"
#include "ampstat_web.h"	/* build/: the live page, bundled by user/ampstat/web/bundle.mjs */

#define MAX_TGIDS 1024
#define MAX_CLIENTS 16
#define REQ_MAX 8192
#define CLIENT_TIMEOUT_NS 5000000000ULL
#define LOOK_EVERY_NS 200000000ULL	/* for a restarted target */
/* the latency histogram's bounds: log2 buckets of the kernel side
 * (include/ampstat_latency.h), exposed from 2^10 ns (1 us) to 2^34 ns
 * (17 s); what lies below goes in the first, above in +Inf */
#define LAT_LE_MIN_LOG2 10
/* --stalls: a dispatcher's time off CPU (not idle) of at least this much
 * is a stall; the page lists the latest STALLS_KEEP */
#define STALL_MIN_US 1000
#define STALLS_KEEP 20
#define LAT_LE_MAX_LOG2 34
#ifndef AMPSTAT_VERSION
#define AMPSTAT_VERSION "unknown"	/* ampstat.mk passes `git describe` */
#endif

struct client {
	int fd;
	size_t len;
	__u64 since_ns;
	char buf[REQ_MAX];
};

struct serve {
	struct sess *s;
	struct tr_opts to;
	struct sockaddr_storage ss;
	socklen_t sslen;
	const char *listen_spec;
	bool remote, allow_remote;	/* a non-loopback --listen; --allow-remote */
	const char *pidfile;		/* --pidfile: follow the target through restarts */
	const char *exe;		/* --exe: the same, by executable name */
	bool gone;			/* the target exited; waiting for the next one */
	__u64 restarts;			/* targets followed after the first */
	__u64 next_look_ns;		/* when to look for the next target */
	bool *ever;			/* per role: it has had a thread */
	bool latency;			/* --latency */
	struct lat_ctx *lat;		/* its tracer, while on */
	bool stalls;			/* --stalls */
	struct blk_ctx *blk;		/* its tracer, while on */
	__u64 stall_n[3], stall_ns[3];	/* by state (blk_state_name) */
	struct stall {
		__u64 out_ns, dur_ns;
		unsigned state;
		char syscall[24];
		char request[AMPSTAT_BLK_METHOD + AMPSTAT_BLK_PATH + 2];
	} last[STALLS_KEEP];		/* a ring: the latest stalls */
	int nlast;			/* stalls seen (the ring holds the last ones) */
	int lfd;
	struct client cl[MAX_CLIENTS];
	struct tr *tr;
	struct acct a;
	struct reqs req;
	__u64 requests;
	__u64 scrapes;
	struct tr_kern k0;
	__u64 t0;
};

/* ---------------------------------------------------------------- figures */

static void update(struct serve *s, bool baseline)
{
	pid_t tg[MAX_TGIDS];
	int n;

	acct_update(&s->a, baseline);
	for (int r = 0; r < s->a.nroles; r++)
		if (acct_live(&s->a, r) || acct_role_threads(&s->a, r))
			s->ever[r] = true;
	n = tr_tgids(s->tr, tg, MAX_TGIDS);
	s->requests += reqs_read(&s->req, tg, n, baseline);
	/* a followed target was found before it named its main thread */
	if (s->restarts && !s->gone)
		proc_comm(s->s->pid, s->s->comm, sizeof(s->s->comm));
}

/* ---------------------------------------------------------------- exposition */

struct buf {
	char *p;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 16384;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return;
		b->p = q;
		b->cap = cap;
	}
}

/* a label value: backslash, double quote and newline escaped */
static void blabel(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			bprintf(b, "\\%c", *s);
		else if (*s == '\n')
			bprintf(b, "\\n");
		else
			bprintf(b, "%c", *s);
	}
}

/* --stalls: one dispatcher stall, from the ring buffer */
static void on_stall(void *arg, const struct ampstat_blk_event *e, unsigned state, const char *syscall,
		     const char *request)
{
	struct serve *s = arg;
	struct stall *st = &s->last[s->nlast++ % STALLS_KEEP];

	s->stall_n[state]++;
	s->stall_ns[state] += e->dur_ns;
	st->out_ns = e->out_ns;
	st->dur_ns = e->dur_ns;
	st->state = state;
	snprintf(st->syscall, sizeof(st->syscall), "%s", syscall);
	snprintf(st->request, sizeof(st->request), "%s", request);
}

static void expose_stalls(struct serve *s, struct buf *b)
{
	if (!s->blk)
		return;
	bprintf(b, "# HELP ampstat_dispatcher_stalls_total Times a dispatcher left the CPU for at least "
		   "%d us other than for its idle wait (--stalls), by state: blocked_io (D), waiting "
		   "(S, not in epoll_wait), preempted (R).\n# TYPE ampstat_dispatcher_stalls_total counter\n",
		STALL_MIN_US);
	for (int i = 0; i < 3; i++)
		bprintf(b, "ampstat_dispatcher_stalls_total{state=\"%s\"} %llu\n", i ? blk_state_name[i] : "blocked_io",
			(unsigned long long)s->stall_n[i]);
	bprintf(b, "# HELP ampstat_dispatcher_stall_seconds_total The time of those stalls.\n"
		   "# TYPE ampstat_dispatcher_stall_seconds_total counter\n");
	for (int i = 0; i < 3; i++)
		bprintf(b, "ampstat_dispatcher_stall_seconds_total{state=\"%s\"} %.9f\n",
			i ? blk_state_name[i] : "blocked_io", (double)s->stall_ns[i] / 1e9);
}

/* the latest stalls for the page, oldest first */
static void json_stalls(struct serve *s, FILE *f)
{
	int n = s->nlast < STALLS_KEEP ? s->nlast : STALLS_KEEP;

	if (!s->blk) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "[");
	for (int k = 0; k < n; k++) {
		const struct stall *st = &s->last[(s->nlast - n + k) % STALLS_KEEP];

		fprintf(f, "%s{\"t_s\":%.6f,\"ms\":%.3f,\"state\":\"%s\",\"syscall\":", k ? "," : "",
			st->out_ns > s->t0 ? (double)(st->out_ns - s->t0) / 1e9 : 0.0, (double)st->dur_ns / 1e6,
			blk_state_name[st->state]);
		mode_json_str(f, st->syscall);
		fprintf(f, ",\"request\":");
		mode_json_str(f, st->request);
		fprintf(f, "}");
	}
	fprintf(f, "]");
}

/* --latency: request latency as a Prometheus histogram (cumulative
 * buckets, le in seconds) and the phases' time as counters.  With
 * --sample auto a busy server's requests are sampled 1 in N and each
 * counts N times: the figures are then estimates of all requests. */
static void expose_latency(struct serve *s, struct buf *b)
{
	static struct lh h;
	struct ampstat_lat l;
	__u64 cum = 0;
	unsigned i = 0;

	if (!s->lat || lat_read(s->lat, &l) || lat_hist(s->lat, l.max_ns, &h, 1))
		return;
	bprintf(b, "# HELP ampstat_request_duration_seconds Request latency from the arrival of the "
		   "request's first byte to its last response byte handed to the kernel "
		   "(amped:request_done, --latency).\n"
		   "# TYPE ampstat_request_duration_seconds histogram\n");
	/* the log-linear buckets of an octave all end at or below its top */
	for (int k = LAT_LE_MIN_LOG2; k <= LAT_LE_MAX_LOG2; k++) {
		for (; i < LH_BUCKETS && lh_bucket_low(i) < (1ULL << k); i++)
			cum += h.count[i];
		bprintf(b, "ampstat_request_duration_seconds_bucket{le=\"%.9g\"} %llu\n",
			(double)(1ULL << k) / 1e9, (unsigned long long)cum);
	}
	for (; i < LH_BUCKETS; i++)
		cum += h.count[i];
	bprintf(b, "ampstat_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		   "ampstat_request_duration_seconds_sum %.9f\nampstat_request_duration_seconds_count %llu\n",
		(unsigned long long)cum, (double)l.sum_ns[AL_TOTAL] / 1e9, (unsigned long long)cum);
	bprintf(b, "# HELP ampstat_request_phase_seconds_total Requests' time by phase (--latency): "
		   "accept_queue, socket_queue, receive, dispatcher, helper_queue, helper_service, "
		   "sending; they sum to the requests' total time.\n"
		   "# TYPE ampstat_request_phase_seconds_total counter\n");
	for (int p = AL_ACCEPTQ; p <= AL_SEND; p++)
		bprintf(b, "ampstat_request_phase_seconds_total{phase=\"%s\"} %.9f\n", lat_phase_name(p),
			(double)l.sum_ns[p] / 1e9);
}

/* The exposition, after Prometheus's naming conventions: base units
 * (seconds, pages), _total on counters, a label only where its values
 * partition the metric (summing over it means something): the states of
 * a role's time, the classes of the kernel row.  Series only for roles the
 * target's model has (that have had a thread).  Counters are ampstat's
 * own since it attached; they never go down while it runs, also through
 * restarts of the target it follows. */
static void expose(struct serve *s, struct buf *b)
{
	int nroles = s->a.nroles;
	const struct acct_sum *rt = s->a.role_tot;
	struct tr_prog now[SESS_PROG_MAX];
	int np = sess_progs(s->s, now, SESS_PROG_MAX);
	const struct tr_prog *p0 = s->s->p0;
	struct tr_drops dr;
	struct tr_kern k;
	struct utsname un;

	tr_drops(s->tr, &dr);
	if (uname(&un))
		snprintf(un.release, sizeof(un.release), "unknown");
	bprintf(b, "# HELP ampstat_build_info The ampstat that serves these figures (always 1).\n"
		   "# TYPE ampstat_build_info gauge\n"
		   "ampstat_build_info{version=\"%s\",libbpf=\"%u.%u\",kernel=\"", AMPSTAT_VERSION,
		libbpf_major_version(), libbpf_minor_version());
	blabel(b, un.release);
	bprintf(b, "\"} 1\n");
	bprintf(b, "# HELP ampstat_target_info The process ampstat traces (with the processes it forks).\n"
		   "# TYPE ampstat_target_info gauge\nampstat_target_info{pid=\"%d\",comm=\"", (int)s->s->pid);
	blabel(b, s->s->comm);
	bprintf(b, "\"} 1\n");
	bprintf(b, "# HELP ampstat_target_up 1 while the target runs, 0 while serve waits for it to come "
		   "back (--pidfile, --exe).\n# TYPE ampstat_target_up gauge\nampstat_target_up %d\n", !s->gone);
	bprintf(b, "# HELP ampstat_target_restarts_total Restarts of the target that serve followed "
		   "(--pidfile, --exe); the counters go on through them, none resets.\n"
		   "# TYPE ampstat_target_restarts_total counter\nampstat_target_restarts_total %llu\n",
		(unsigned long long)s->restarts);
	/* the instant the counters below were read: wall time for them */
	bprintf(b, "# HELP ampstat_trace_seconds Seconds since ampstat attached, when the figures "
		   "below were read.\n# TYPE ampstat_trace_seconds gauge\nampstat_trace_seconds %.9f\n",
		(double)(s->a.t_ns - s->t0) / 1e9);
	bprintf(b, "# HELP ampstat_role_threads Live threads of the role.\n# TYPE ampstat_role_threads gauge\n");
	for (int r = 0; r < nroles; r++)
		if (s->ever[r])
			bprintf(b, "ampstat_role_threads{role=\"%s\"} %d\n", roles_name(r), acct_live(&s->a, r));
	bprintf(b, "# HELP ampstat_role_seconds_total Thread time of the role by state: user, kernel "
		   "(on CPU), blocked_io (D state), wait_idle (epoll_wait), wait_other (other sleeps), "
		   "runq (runnable, not running), steal (on CPU by the guest's clock while the hypervisor "
		   "ran something else).  The states of a role sum to its threads' wall time.\n"
		   "# TYPE ampstat_role_seconds_total counter\n");
	for (int r = 0; r < nroles; r++)
		for (int st = 0; st < AB_N && s->ever[r]; st++)
			bprintf(b, "ampstat_role_seconds_total{role=\"%s\",state=\"%s\"} %.9f\n", roles_name(r),
				acct_bucket_name[st], (double)rt[r].ns[st] / 1e9);
	bprintf(b, "# HELP ampstat_role_context_switches_total Context switches of the role's threads.\n"
		   "# TYPE ampstat_role_context_switches_total counter\n");
	for (int r = 0; r < nroles; r++) {
		if (!s->ever[r])
			continue;
		bprintf(b, "ampstat_role_context_switches_total{role=\"%s\",kind=\"voluntary\"} %llu\n",
			roles_name(r), (unsigned long long)rt[r].nvcsw);
		bprintf(b, "ampstat_role_context_switches_total{role=\"%s\",kind=\"involuntary\"} %llu\n",
			roles_name(r), (unsigned long long)rt[r].nivcsw);
	}
	bprintf(b, "# HELP ampstat_role_cache_accessed_pages_total Page-cache pages the role's threads "
		   "accessed (read, sendfile, mmap).\n# TYPE ampstat_role_cache_accessed_pages_total counter\n");
	for (int r = 0; r < nroles; r++)
		if (s->ever[r])
			bprintf(b, "ampstat_role_cache_accessed_pages_total{role=\"%s\"} %llu\n", roles_name(r),
				(unsigned long long)rt[r].cache_access);
	bprintf(b, "# HELP ampstat_role_cache_missed_pages_total Page-cache pages the role's threads "
		   "brought into the cache (misses, readahead included): the miss ratio is this over "
		   "ampstat_role_cache_accessed_pages_total.\n"
		   "# TYPE ampstat_role_cache_missed_pages_total counter\n");
	for (int r = 0; r < nroles; r++)
		if (s->ever[r])
			bprintf(b, "ampstat_role_cache_missed_pages_total{role=\"%s\"} %llu\n", roles_name(r),
				(unsigned long long)rt[r].cache_miss);
	if (tr_kern(s->tr, &k) == 0) {
		static const char *ctx[3] = { "target", "kernel_threads", "elsewhere" };
		__u64 sq[3] = { k.s.softirq_target - s->k0.s.softirq_target,
				k.s.softirq_kthread - s->k0.s.softirq_kthread,
				k.s.softirq_other - s->k0.s.softirq_other };

		bprintf(b, "# HELP ampstat_kernel_seconds_total The kernel row: kernel work of the whole "
			   "machine in no process's context, which no role holds: on-CPU time of kernel threads "
			   "by class (exact), and softirq time outside the target and kernel threads "
			   "(softirq_elsewhere, from CPU-clock samples).  The classes sum to the row.\n"
			   "# TYPE ampstat_kernel_seconds_total counter\n");
		for (int i = 0; i < AK_N; i++)
			bprintf(b, "ampstat_kernel_seconds_total{class=\"%s\"} %.9f\n", tr_kclass_name[i],
				(double)(k.ns[i] - s->k0.ns[i]) / 1e9);
		bprintf(b, "ampstat_kernel_seconds_total{class=\"softirq_elsewhere\"} %.9f\n",
			(double)sq[2] * (double)k.period_ns / 1e9);
		bprintf(b, "# HELP ampstat_softirq_seconds_total All softirq time of the machine (from "
			   "CPU-clock samples) by whose context it ran in.  Not to be added to the others: "
			   "context=\"target\" is already in the roles' kernel time, \"kernel_threads\" in "
			   "ampstat_kernel_seconds_total's kernel-thread classes, \"elsewhere\" is its "
			   "softirq_elsewhere.\n# TYPE ampstat_softirq_seconds_total counter\n");
		for (int i = 0; i < 3; i++)
			bprintf(b, "ampstat_softirq_seconds_total{context=\"%s\"} %.9f\n", ctx[i],
				(double)sq[i] * (double)k.period_ns / 1e9);
	}
	expose_latency(s, b);
	expose_stalls(s, b);
	if (s->req.known || s->requests)
		bprintf(b, "# HELP ampstat_requests_total Requests the server finished (amped's "
			   "amped_current.requests_done).\n# TYPE ampstat_requests_total counter\n"
			   "ampstat_requests_total %llu\n", (unsigned long long)s->requests);
	bprintf(b, "# HELP ampstat_bpf_run_seconds_total Run time of ampstat's BPF programs (bpf_stats).\n"
		   "# TYPE ampstat_bpf_run_seconds_total counter\n");
	for (int i = 0; i < np && i < s->s->nprogs; i++)
		bprintf(b, "ampstat_bpf_run_seconds_total{prog=\"%s\"} %.9f\n", now[i].name,
			(double)(now[i].run_ns - p0[i].run_ns) / 1e9);
	bprintf(b, "# HELP ampstat_bpf_runs_total Runs of ampstat's BPF programs.\n"
		   "# TYPE ampstat_bpf_runs_total counter\n");
	for (int i = 0; i < np && i < s->s->nprogs; i++)
		bprintf(b, "ampstat_bpf_runs_total{prog=\"%s\"} %llu\n", now[i].name,
			(unsigned long long)(now[i].runs - p0[i].runs));
	bprintf(b, "# HELP ampstat_dropped_total Events ampstat lost (full maps, torn reads).\n"
		   "# TYPE ampstat_dropped_total counter\n"
		   "ampstat_dropped_total{what=\"threads\"} %llu\nampstat_dropped_total{what=\"tgids\"} %llu\n"
		   "ampstat_dropped_total{what=\"samples\"} %llu\nampstat_dropped_total{what=\"torn\"} %llu\n",
		(unsigned long long)dr.threads, (unsigned long long)dr.tgids, (unsigned long long)dr.samples,
		(unsigned long long)dr.torn);
	bprintf(b, "# HELP ampstat_scrapes_total Scrapes of /metrics served.\n"
		   "# TYPE ampstat_scrapes_total counter\nampstat_scrapes_total %llu\n",
		(unsigned long long)s->scrapes);
}

/* the same histogram for the page: per bucket (not cumulative) */
static void json_latency(struct serve *s, FILE *f)
{
	static struct lh h;
	struct ampstat_lat l;
	__u64 c = 0;
	unsigned i = 0;

	if (!s->lat || lat_read(s->lat, &l) || lat_hist(s->lat, l.max_ns, &h, 1)) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "{\"le_s\":[");
	for (int k = LAT_LE_MIN_LOG2; k <= LAT_LE_MAX_LOG2; k++)
		fprintf(f, "%s%.9g", k > LAT_LE_MIN_LOG2 ? "," : "", (double)(1ULL << k) / 1e9);
	fprintf(f, "],\"counts\":[");
	for (int k = LAT_LE_MIN_LOG2; k <= LAT_LE_MAX_LOG2; k++) {
		for (c = 0; i < LH_BUCKETS && lh_bucket_low(i) < (1ULL << k); i++)
			c += h.count[i];
		fprintf(f, "%llu,", (unsigned long long)c);
	}
	for (c = 0; i < LH_BUCKETS; i++)
		c += h.count[i];
	fprintf(f, "%llu],\"count\":%llu,\"sum_s\":%.9f}", (unsigned long long)c, (unsigned long long)l.count,
		(double)l.sum_ns[AL_TOTAL] / 1e9);
}

/* The same counters as JSON, for the live page (user/ampstat/web/app.js
 * documents the shape, schema 1).  Only roles that have had a thread.
 * The kernel list is the kernel row of top: kernel threads by class plus
 * softirq that ran outside the target and kernel threads; the softirq in
 * the target's context is already in its roles' kernel time.  NULL when
 * out of memory. */
static char *expose_json(struct serve *s, size_t *len)
{
	char *p = NULL;
	FILE *f = open_memstream(&p, len);
	const struct acct_sum *rt = s->a.role_tot;
	struct tr_prog now[SESS_PROG_MAX];
	int np = sess_progs(s->s, now, SESS_PROG_MAX), first = 1;
	struct tr_kern k;
	__u64 bpf_ns = 0;

	if (!f)
		return NULL;
	fprintf(f, "{\"schema\":1,\"target\":{\"pid\":%d,\"comm\":", (int)s->s->pid);
	mode_json_str(f, s->s->comm);
	fprintf(f, ",\"restarts\":%llu,\"up\":%s},\"t_s\":%.9f,\"states\":[", (unsigned long long)s->restarts,
		s->gone ? "false" : "true", (double)(s->a.t_ns - s->t0) / 1e9);
	for (int b = 0; b < AB_N; b++)
		fprintf(f, "%s\"%s\"", b ? "," : "", acct_bucket_name[b]);
	fprintf(f, "],\"roles\":[");
	for (int r = 0; r < s->a.nroles; r++) {
		if (!s->ever[r])
			continue;
		fprintf(f, "%s{\"role\":", first ? "" : ",");
		first = 0;
		mode_json_str(f, roles_name(r));
		fprintf(f, ",\"threads\":%d,\"seconds\":[", acct_live(&s->a, r));
		for (int b = 0; b < AB_N; b++)
			fprintf(f, "%s%.9f", b ? "," : "", (double)rt[r].ns[b] / 1e9);
		fprintf(f, "],\"cs_voluntary\":%llu,\"cs_involuntary\":%llu,\"cache_accessed\":%llu,"
			"\"cache_missed\":%llu}", (unsigned long long)rt[r].nvcsw, (unsigned long long)rt[r].nivcsw,
			(unsigned long long)rt[r].cache_access, (unsigned long long)rt[r].cache_miss);
	}
	fprintf(f, "],\"kernel\":[");
	if (tr_kern(s->tr, &k) == 0) {
		for (int i = 0; i < AK_N; i++)
			fprintf(f, "{\"class\":\"%s\",\"seconds\":%.9f},", tr_kclass_name[i],
				(double)(k.ns[i] - s->k0.ns[i]) / 1e9);
		fprintf(f, "{\"class\":\"softirq_elsewhere\",\"seconds\":%.9f}",
			(double)(k.s.softirq_other - s->k0.s.softirq_other) * (double)k.period_ns / 1e9);
	}
	fprintf(f, "],\"requests\":");
	if (s->req.known || s->requests)
		fprintf(f, "%llu", (unsigned long long)s->requests);
	else
		fprintf(f, "null");
	for (int i = 0; i < np && i < s->s->nprogs; i++)
		bpf_ns += now[i].run_ns - s->s->p0[i].run_ns;
	fprintf(f, ",\"stalls\":");
	json_stalls(s, f);
	fprintf(f, ",\"latency\":");
	json_latency(s, f);
	fprintf(f, ",\"bpf_seconds\":%.9f}\n", (double)bpf_ns / 1e9);
	if (fclose(f)) {
		free(p);
		return NULL;
	}
	return p;
}

/* ---------------------------------------------------------------- http */

/* the sockets are non-blocking and the page is larger than a socket's
 * first send buffer: wait for room, but not for a client that reads
 * nothing (SEND_WAIT_MS in all) */
#define SEND_WAIT_MS 2000
static void send_all(int fd, const char *p, size_t n)
{
	int waited_ms = 0;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN && waited_ms < SEND_WAIT_MS) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			poll(&pf, 1, 100);
			waited_ms += 100;
			continue;
		}
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void respond(int fd, const char *status, const char *type, const char *body, size_t len,
		    bool head)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, type, len);

	send_all(fd, hdr, (size_t)n);
	if (!head)
		send_all(fd, body, len);
}

/* 1 when the request is complete and answered, 0 when more is needed */
static int handle(struct serve *s, struct client *c)
{
	char *end = memmem(c->buf, c->len, "\r\n\r\n", 4), *sp, *path;
	bool head;

	if (!end)
		end = memmem(c->buf, c->len, "\n\n", 2);
	if (!end)
		return 0;
	*end = 0;
	head = !strncmp(c->buf, "HEAD ", 5);
	if (strncmp(c->buf, "GET ", 4) && !head) {
		respond(c->fd, "405 Method Not Allowed", "text/plain", "GET only\n", 9, false);
		return 1;
	}
	path = c->buf + (head ? 5 : 4);
	sp = strpbrk(path, " \r\n");
	if (sp)
		*sp = 0;
	if (!strcmp(path, "/metrics") || !strncmp(path, "/metrics?", 9)) {
		struct buf b = { 0 };

		update(s, false);
		s->scrapes++;
		expose(s, &b);
		if (b.p)
			respond(c->fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", b.p, b.len, head);
		else
			respond(c->fd, "500 Internal Server Error", "text/plain", "out of memory\n", 14, head);
		free(b.p);
	} else if (!strcmp(path, "/api/now")) {
		size_t len = 0;
		char *j;

		update(s, false);
		j = expose_json(s, &len);
		if (j)
			respond(c->fd, "200 OK", "application/json", j, len, head);
		else
			respond(c->fd, "500 Internal Server Error", "text/plain", "out of memory\n", 14, head);
		free(j);
	} else if (!strcmp(path, "/") || !strcmp(path, "/index.html")) {
		respond(c->fd, "200 OK", "text/html; charset=utf-8", (const char *)ampstat_web_html,
			ampstat_web_html_len, head);
	} else {
		static const char nf[] = "not found: try / (the live page), /metrics or /api/now\n";
		respond(c->fd, "404 Not Found", "text/plain", nf, sizeof(nf) - 1, head);
	}
	return 1;
}

/* "127.0.0.1:9464", "localhost:9464", "[::1]:9464", "0.0.0.0:9464",
 * "[::]:9464": 0 a loopback address, 1 another one, -1 malformed */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon;
	char *end;
	long port;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= sizeof(host))
			return -1;
		memcpy(host, spec + 1, (size_t)(rb - spec - 1));
		host[rb - spec - 1] = 0;
		colon = rb + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			return -1;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = 0;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		return (ntohl(a4->sin_addr.s_addr) >> 24) != 127;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return !IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
	}
	return -1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampstat serve -p PID | --pidfile FILE | --exe NAME\n"
"                     [--listen ADDR:PORT [--allow-remote]] [--latency] [--stalls]\n"
"                     [-d SEC] [-i SEC]\n"
"                     [--role NAME=PAT]... [--sample-hz N] [-v]\n"
"\n"
"Serves what `ampstat top` shows, live: a web page at http://ADDR:PORT/\n"
"(charts of each role's time by state, requests/s, page-cache hit ratio,\n"
"the kernel row; it needs no network beyond ampstat), the same counters as\n"
"JSON at /api/now, and in the Prometheus text format at /metrics: per role\n"
"the seconds of thread time by state (user, kernel, blocked_io, wait_idle,\n"
"wait_other, runq), live threads, context switches, page-cache pages\n"
"accessed and missed; the kernel row; the server's requests; ampstat's own\n"
"BPF run time.  Recording rules and a Grafana dashboard for them are in\n"
"scripts/prometheus/.\n"
"\n"
"  -p, --pid PID          the server to trace (with its child processes)\n"
"      --pidfile FILE     the server whose pid FILE holds; when it exits,\n"
"                         serve waits for FILE to name a new live process\n"
"                         and traces that one (a restart)\n"
"      --exe NAME         the same, for the process running the executable\n"
"                         NAME (not its workers running it too)\n"
"                         Through restarts every counter goes on growing\n"
"                         (ampstat_target_restarts_total counts them,\n"
"                         ampstat_target_up is 0 in between); only a\n"
"                         restart of serve itself starts them at 0 again,\n"
"                         which Prometheus's rate() takes as a reset.\n"
"  -l, --listen ADDR:PORT where to listen (default 127.0.0.1:9464; port 0\n"
"                         picks a free one); a loopback address unless\n"
"      --allow-remote     also another address (0.0.0.0, [::], a host's):\n"
"                         for a Prometheus elsewhere; with a warning, as\n"
"                         anyone who reaches it reads the figures\n"
"      --latency          also request latency (amped's request_done probe, as\n"
"                         `ampstat latency`): the histogram\n"
"                         ampstat_request_duration_seconds and the time by\n"
"                         phase; the page draws the histogram.  Each traced\n"
"                         request costs ~1 us; above 4,000 requests/s they\n"
"                         are sampled 1 in N and counted N times\n"
"      --stalls           also the dispatcher's stalls (as `ampstat blocked`):\n"
"                         every time it leaves the CPU for 1 ms or more other\n"
"                         than to wait in epoll_wait, with the request it was\n"
"                         serving; counted by state in /metrics, the latest\n"
"                         20 listed on the page\n"
"  -d, --duration SEC     stop after SEC seconds (default: Ctrl-C or exit)\n"
"  -i, --interval SEC     how often the counters take in the threads' time\n"
"                         besides every scrape (default 1)\n"
"      --role NAME=PAT    a role for the threads PAT matches, as in `top`\n"
"                         (thread name, cmd:, exe:, leader:, thread:)\n"
"      --sample-hz N      CPU-clock samples per second and CPU for the\n"
"                         user/kernel split (default 1999)\n"
"  -v, --verbose          libbpf debug output\n"
"\n"
"examples:\n"
"  ampstat serve -p $(pgrep -x amped)          # then open http://127.0.0.1:9464/\n"
"  ampstat serve -p 1234 --listen 127.0.0.1:9464 &  curl -s 127.0.0.1:9464/metrics\n"
"  ampstat serve -p 1234 --listen 0.0.0.0:9464 --allow-remote\n"
"  ampstat serve --exe amped          # follows amped through restarts\n"
"  ampstat serve -p 1234 --listen [::1]:0 --role pool='thread:cmd:^myserver'\n"
"\n"
"Exit status: 0 ok (Ctrl-C, duration, or the target exited without --pidfile\n"
"or --exe), 1 runtime error (not root, no BTF, no such process, cannot\n"
"listen), 2 usage error.\n");
}

static int option(struct sess *sess, void *ctx, int c, const char *arg)
{
	struct serve *s = ctx;
	long v;

	(void)sess;
	switch (c) {
	case 'l':
		s->listen_spec = arg;
		switch (parse_listen(arg, &s->ss, &s->sslen)) {
		case 0:
			s->remote = false;
			return 0;
		case 1:
			s->remote = true;	/* check() wants --allow-remote with it */
			return 0;
		default:
			fprintf(stderr, "ampstat: --listen wants ADDR:PORT, e.g. 127.0.0.1:9464, got '%s'\n",
				arg);
			return 2;
		}
	case 'R': s->allow_remote = true; return 0;
	case 'L': s->latency = true; return 0;
	case 'T': s->stalls = true; return 0;
	case 'P': s->pidfile = arg; return 0;
	case 'E':
		if (!*arg || strchr(arg, '/')) {
			fprintf(stderr, "ampstat: --exe wants an executable's name (e.g. amped), got '%s'\n", arg);
			return 2;
		}
		s->exe = arg;
		return 0;
	case 'r': return roles_add(arg) ? 2 : 0;
	case 's':
		if (!mode_parse_long(arg, &v) || v < 10 || v > 20000) {
			fprintf(stderr, "ampstat: --sample-hz must be 10-20000, got '%s'\n", arg);
			return 2;
		}
		s->to.sample_hz = (int)v;
		return 0;
	}
	return 2;
}

/* after the options: --allow-remote for a non-loopback --listen; the
 * first target from --pidfile or --exe when there is no -p */
static int check(struct sess *sess, void *ctx)
{
	struct serve *s = ctx;
	pid_t p;

	if (s->remote && !s->allow_remote) {
		fprintf(stderr, "ampstat: --listen %s: not a loopback address; serving the figures beyond "
				"this host needs --allow-remote\n", s->listen_spec);
		return 2;
	}
	if (s->pidfile && s->exe) {
		fprintf(stderr, "ampstat: --pidfile or --exe, not both\n");
		return 2;
	}
	if (sess->pid || (!s->pidfile && !s->exe))
		return 0;
	p = s->pidfile ? proc_read_pidfile(s->pidfile) : proc_find_exe(s->exe);
	if (p <= 0) {
		if (s->pidfile)
			fprintf(stderr, "ampstat: --pidfile %s: %s\n", s->pidfile,
				p == -EINVAL ? "no pid in it" : strerror(-p));
		else
			fprintf(stderr, "ampstat: --exe %s: no such process running\n", s->exe);
		return 1;
	}
	sess->pid = p;
	return 0;
}

/* The target exited.  Without --pidfile or --exe the session ends (false).
 * Else it goes on (true) and looks for the successor now and then: the
 * BPF programs stay loaded, the new process joins the traced set and its
 * threads get entries, the old one's threads were accounted at their
 * exit, so every counter goes on from where it was. */
static bool gone(struct sess *sess, void *ctx)
{
	struct serve *s = ctx;
	__u64 now = mode_now_ns();
	pid_t np;

	if (!s->pidfile && !s->exe)
		return false;
	if (!s->gone) {
		s->gone = true;
		update(s, false);	/* the exited threads' last stretches */
		fprintf(stderr, "ampstat: pid %d exited; waiting for the next one (%s %s)\n", (int)sess->pid,
			s->pidfile ? "--pidfile" : "--exe", s->pidfile ? s->pidfile : s->exe);
	}
	if (now < s->next_look_ns)
		return true;
	s->next_look_ns = now + LOOK_EVERY_NS;
	np = s->pidfile ? proc_read_pidfile(s->pidfile) : proc_find_exe(s->exe);
	if (np <= 0 || np == sess->pid || !proc_alive(np))
		return true;
	if (mode_targets_add(&sess->mt, np)) {
		fprintf(stderr, "ampstat: cannot trace the new target %d\n", (int)np);
		return true;
	}
	mode_targets_children(&sess->mt, np);
	if (tr_seed(s->tr) < 0)
		fprintf(stderr, "ampstat: seeding the new target's threads: %s\n", strerror(errno));
	sess->pid = np;
	if (proc_comm(np, sess->comm, sizeof(sess->comm)))
		snprintf(sess->comm, sizeof(sess->comm), "?");
	s->gone = false;
	s->restarts++;
	/* amped's request counter starts again at 0 in the new process */
	reqs_init(&s->req, np);
	{
		pid_t tg[MAX_TGIDS];
		int n = tr_tgids(s->tr, tg, MAX_TGIDS);
		reqs_read(&s->req, tg, n, true);
	}
	update(s, false);
	fprintf(stderr, "ampstat: following the restarted target: pid %d (%s)%s\n", (int)np, sess->comm,
		s->lat || s->blk ? "; --latency and --stalls trace the first target only" : "");
	return true;
}

/* listens on s->ss; the address it got, as text, in addr */
static int listen_on(struct serve *s, char *addr, size_t n)
{
	char h[INET6_ADDRSTRLEN];
	int one = 1;

	s->lfd = socket(s->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s->lfd, (struct sockaddr *)&s->ss, s->sslen) || listen(s->lfd, 64)) {
		fprintf(stderr, "ampstat: listen on %s: %s\n", s->listen_spec, strerror(errno));
		return -1;
	}
	s->sslen = sizeof(s->ss);
	getsockname(s->lfd, (struct sockaddr *)&s->ss, &s->sslen);
	if (s->ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&s->ss;
		inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
		snprintf(addr, n, "%s:%u", h, ntohs(a->sin_port));
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&s->ss;
		inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
		snprintf(addr, n, "[%s]:%u", h, ntohs(a->sin6_port));
	}
	return 0;
}

static int start(struct sess *sess, void *ctx)
{
	struct serve *s = ctx;
	char addr[INET6_ADDRSTRLEN + 16];

	s->s = sess;
	if (listen_on(s, addr, sizeof(addr)))
		return 1;
	if (s->remote)
		fprintf(stderr, "ampstat: warning: serving on %s, beyond this host: whoever reaches it "
				"reads pid %d's thread names, roles and request rate (no authentication, "
				"no TLS; a firewall or a reverse proxy should guard it)\n", addr, (int)sess->pid);
	if (acct_open(&s->a, &s->tr, sess, &s->to))
		return 1;
	s->ever = calloc((size_t)(s->a.nroles > 0 ? s->a.nroles : 1), sizeof(*s->ever));
	if (!s->ever || (s->latency && !(s->lat = lat_new()))) {
		fprintf(stderr, "ampstat: out of memory\n");
		return 1;
	}
	if (s->lat && lat_begin(sess, s->lat))
		return 1;
	if (s->stalls && (!(s->blk = blk_new(STALL_MIN_US, on_stall, s)) || blk_begin(sess, s->blk))) {
		if (!s->blk)
			fprintf(stderr, "ampstat: out of memory\n");
		return 1;
	}
	reqs_init(&s->req, sess->pid);
	update(s, true);
	s->t0 = s->a.t_ns;
	tr_kern(s->tr, &s->k0);
	fprintf(stderr, "ampstat: tracing pid %d (%s): serving http://%s/metrics; Ctrl-C to stop\n",
		(int)sess->pid, sess->comm, addr);
	return 0;
}

static const char *tick(struct sess *sess, void *ctx)
{
	struct serve *s = ctx;

	update(s, false);
	if (s->lat && !s->gone)
		lat_tick(sess, s->lat);
	return NULL;
}

static void accept_clients(struct serve *s)
{
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), slot = -1;

		if (fd < 0)
			return;	/* EAGAIN: all taken; other errors: try at the next poll */
		for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
			if (s->cl[i].fd < 0)
				slot = i;
		if (slot < 0) {
			respond(fd, "503 Service Unavailable", "text/plain", "busy\n", 5, false);
			close(fd);
			continue;
		}
		s->cl[slot].fd = fd;
		s->cl[slot].len = 0;
		s->cl[slot].since_ns = mode_now_ns();
	}
}

static void read_client(struct serve *s, struct client *cc)
{
	ssize_t r = recv(cc->fd, cc->buf + cc->len, sizeof(cc->buf) - 1 - cc->len, 0);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r > 0) {
		cc->len += (size_t)r;
		cc->buf[cc->len] = 0;
		if (!handle(s, cc) && cc->len < sizeof(cc->buf) - 1)
			return;
	}
	close(cc->fd);
	cc->fd = -1;
}

/* the HTTP side, between the session's ticks */
static int poll_http(struct sess *sess, void *ctx, int timeout_ms)
{
	struct serve *s = ctx;
	struct pollfd pf[MAX_CLIENTS + 2];
	int n = 0, idx[MAX_CLIENTS + 2];
	__u64 now = mode_now_ns();

	(void)sess;
	pf[n].fd = s->lfd;
	pf[n].events = POLLIN;
	idx[n++] = -1;
	if (s->blk) {	/* the stalls' ring buffer wakes the poll too */
		pf[n].fd = blk_poll_fd(s->blk);
		pf[n].events = POLLIN;
		idx[n++] = -1;
	}
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (s->cl[i].fd < 0)
			continue;
		if (now - s->cl[i].since_ns > CLIENT_TIMEOUT_NS) {
			close(s->cl[i].fd);
			s->cl[i].fd = -1;
			continue;
		}
		pf[n].fd = s->cl[i].fd;
		pf[n].events = POLLIN;
		idx[n++] = i;
	}
	if (poll(pf, (nfds_t)n, timeout_ms) <= 0)
		return 0;
	if (s->blk)
		blk_consume(s->blk);
	if (pf[0].revents & POLLIN)
		accept_clients(s);
	for (int k = 1; k < n; k++)
		if (idx[k] >= 0 && (pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
			read_client(s, &s->cl[idx[k]]);
	return 0;
}

static int stop(struct sess *sess, void *ctx, const char *why)
{
	struct serve *s = ctx;

	(void)sess;
	fprintf(stderr, "ampstat: serve ends (%s) after %llu scrapes\n", why, (unsigned long long)s->scrapes);
	return 0;
}

static void cleanup(struct sess *sess, void *ctx)
{
	struct serve *s = ctx;

	(void)sess;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (s->cl[i].fd >= 0)
			close(s->cl[i].fd);
	if (s->lfd >= 0)
		close(s->lfd);
	lat_end(sess, s->lat);
	blk_end(sess, s->blk);
	acct_free(&s->a);
	tr_close(s->tr);
	free(s->ever);
}

int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "allow-remote", no_argument, NULL, 'R' },
		{ "latency", no_argument, NULL, 'L' },
		{ "stalls", no_argument, NULL, 'T' },
		{ "pidfile", required_argument, NULL, 'P' },
		{ "exe", required_argument, NULL, 'E' },
		{ "role", required_argument, NULL, 'r' },
		{ "sample-hz", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct sess_cmd cmd = {
		.name = "serve", .usage = usage, .shortopts = "l:", .longopts = longopts,
		.option = option, .flags = SESS_INTERVAL, .interval_s = 1, .interval_min_s = 0.05,
		.check = check, .gone = gone,
		.start = start, .tick = tick, .poll = poll_http, .stop = stop, .cleanup = cleanup,
	};
	static struct serve s;

	memset(&s, 0, sizeof(s));
	s.to = (struct tr_opts){ .sample_hz = 1999, .pin = false, .follow_forks = true,
				 .cache = true };
	s.lfd = -1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		s.cl[i].fd = -1;
	s.listen_spec = "127.0.0.1:9464";
	parse_listen(s.listen_spec, &s.ss, &s.sslen);
	return sess_run(&cmd, &s, argc, argv);
}
