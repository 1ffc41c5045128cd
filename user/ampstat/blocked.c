/* blocked — `ampstat blocked`: every time the dispatcher left the CPU for
 * anything but its idle wait, with the state, the syscall, the kernel and
 * user stacks and the request it was serving.  This is how a user finds the
 * handler that blocks an event loop.
 *
 * bpf/blocked.bpf.c records each departure at switch-out and sends it at
 * switch-in (include/ampstat_blocked.h); this file prints one block per event as it
 * comes, stacks symbolized (sym.h), and a summary at the end.  The
 * dispatcher is the thread named amped-disp or amped-disp-N (in the target and its child
 * processes: SYMPED), or for another server the target's main thread.  The
 * request comes from the server's amped_current, read at switch-out.
 * Other threads of the target (helpers, workers) are only summed: their
 * time in D state is shown in the summary, by role (roles.h).
 *
 * What "the event loop blocked" means, model by model (loops_of):
 *   amped, amted, sped, uring, symped: the dispatcher (amped-disp, one per
 *     symped process) left the CPU other than for its idle wait.
 *   ult: the one kernel thread that runs the scheduler and every user-level
 *     thread (named amped-disp) blocked: no user-level thread runs until it
 *     is back, so every connection waits.  Its helpers' D state is theirs
 *     by design (role helpers).
 *   seda: an http-stage thread (amped-s-http-N) is an event loop over its
 *     connections: its stalls are events (role stage-http).  The accept
 *     stage and the file stage are not loops: a file-stage thread blocking
 *     in a read is that stage's job, so its D state is summed (role
 *     stage-file) and never an event.
 *   mp, mt, hybrid: no event loop (a blocking worker per connection, which
 *     delays only its own): no events; the workers' D state by role.
 *
 * Each stall gets a verdict (blk_verdict below: run queue, disk, page
 * fault, lock, helper, other wait) and its collateral: the requests the
 * kernel held for the dispatcher while it was away (unread connections,
 * accept queues; bpf/blocked.bpf.c) and the latency the stall added to
 * them.  An idle wait (epoll_wait) is never a stall, not even with jobs out
 * at the helpers: then the dispatcher has nothing to do, and a request's
 * wait for its helper is `ampstat handoff`'s to show.
 *
 * User stacks are walked by frame pointers: code built without them (most
 * distributions' libc, amped at -O2) shows its innermost frame right and
 * the callers as far as the chain holds.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "amped_names.h"
#include "ampstat_blocked.h"
#include "ampstat/blocked.h"
#include "ampstat/cmd.h"
#include "ampstat/sess.h"
#include "ampstat/mstats.h"
#include "ampstat/proc.h"
#include "ampstat/roles.h"
#include "ampstat/sym.h"
#include "blocked.skel.h"

#define MAX_STACK 127
#define MAX_SYMS 64		/* processes whose user stacks we resolve */
#define MAX_REQS 256		/* distinct requests in the summary */
#define MAX_SYSC 64
#define BLK_COLL_MIN_US 1000	/* default --collateral-min-us */
#define BLK_COLL_OFF_US 3600000000L	/* the largest: no walks */
#define MAX_PATHS 1024		/* (verdict, syscall, path) triples for the headline */

#if __has_include("syscall_names.h")
static const char *const sysnames[] = {
#include "syscall_names.h"
};
#else
static const char *const sysnames[] = {
	[0] = "read", [1] = "write", [2] = "open", [3] = "close", [4] = "stat", [5] = "fstat",
	[7] = "poll", [9] = "mmap", [17] = "pread64", [18] = "pwrite64", [19] = "readv",
	[20] = "writev", [23] = "select", [24] = "sched_yield", [35] = "nanosleep",
	[40] = "sendfile", [43] = "accept", [44] = "sendto", [45] = "recvfrom", [46] = "sendmsg",
	[47] = "recvmsg", [61] = "wait4", [202] = "futex", [213] = "epoll_create", [217] = "getdents64",
	[221] = "fadvise64", [228] = "clock_gettime", [230] = "clock_nanosleep", [232] = "epoll_wait",
	[257] = "openat", [262] = "newfstatat", [270] = "pselect6", [271] = "ppoll", [275] = "splice",
	[281] = "epoll_pwait", [288] = "accept4", [295] = "preadv", [437] = "openat2", [441] = "epoll_pwait2",
};
#endif

static const char *sysname(int nr, char *buf, size_t n)
{
	if (nr < 0)
		return "-";
	if ((size_t)nr < sizeof(sysnames) / sizeof(sysnames[0]) && sysnames[nr])
		return sysnames[nr];
	snprintf(buf, n, "syscall_%d", nr);
	return buf;
}

/* ---------------------------------------------------------------- verdicts */

enum blk_verdict { BV_RUNQ, BV_DISK, BV_FAULT, BV_LOCK, BV_HELPER, BV_WAIT, BV_N };
static const char *const verdict_name[BV_N] = {
	"runqueue", "disk", "pagefault", "lock", "helper", "wait",
};
static const char *const verdict_text[BV_N] = {
	"preempted: waited in the run queue",
	"disk: D state in I/O",
	"page fault",
	"lock: futex or kernel lock",
	"waiting on a helper (woken by a thread of the server)",
	"another wait",
};

static bool frames_have(char frames[][256], int n, const char *const *pats)
{
	for (int i = 0; i < n; i++)
		for (const char *const *p = pats; *p; p++)
			if (strstr(frames[i], *p))
				return true;
	return false;
}

/* Why the dispatcher left the CPU.  From the state, the syscall, the waker
 * and the kernel stack (frames, n of them; n < 0 when unavailable):
 *   R                                     runqueue
 *   a fault handler on the kernel stack   pagefault (a fault taken in user
 *                                         mode leaves no syscall: orig_ax -1)
 *   futex(2), or D in a kernel lock      lock
 *   D otherwise                           disk
 *   S in I/O (fuse_, io_schedule, folio_wait on the kernel stack: FUSE
 *     waits interruptibly for its daemon) disk
 *   S woken by a thread of the target     helper
 *   S otherwise                           wait */
static enum blk_verdict blk_verdict(const struct ampstat_blk_event *e, unsigned st, char frames[][256], int n)
{
	static const char *const fault[] = { "exc_page_fault", "do_user_addr_fault", "handle_mm_fault", NULL };
	static const char *const lock[] = { "__mutex_lock", "rwsem_down_", "rt_mutex_", "down_read",
					    "down_write", NULL };
	static const char *const io[] = { "io_schedule", "folio_wait", "wait_on_page", "fuse_", NULL };

	if (st == ABS_PREEMPT)
		return BV_RUNQ;
	if (n > 0 && frames_have(frames, n, fault))
		return BV_FAULT;
	if (e->syscall == 202)	/* futex */
		return BV_LOCK;
	if (st == ABS_BLOCKED)
		return n > 0 && frames_have(frames, n, lock) && !frames_have(frames, n, io) ? BV_LOCK : BV_DISK;
	if (e->syscall < 0 && n <= 0)
		return BV_FAULT;
	if (n > 0 && frames_have(frames, n, io))
		return BV_DISK;
	return e->waker_in_target && e->waker_tid != e->tid ? BV_HELPER : BV_WAIT;
}

/* How many requests waited behind this stall (in the kernel's queues). */
static __u64 coll_waiting(const struct ampstat_blk_event *e)
{
	return (__u64)e->coll_readable + e->coll_accept;
}

/* "1,420" */
static const char *fmt_count(char *buf, size_t n, __u64 v)
{
	char t[32];
	int len = snprintf(t, sizeof(t), "%llu", (unsigned long long)v), o = 0;

	for (int i = 0; i < len && (size_t)o + 2 < n; i++) {
		if (i && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = t[i];
	}
	buf[o] = 0;
	return buf;
}

static const char *state_text[] = { "D (blocked-io)", "S (waiting)", "R (preempted)" };
const char *const blk_state_name[3] = { "blocked-io", "waiting", "preempted" };
static const char state_letter[] = { 'D', 'S', 'R' };

struct blk_cost {
	const struct tr_prog *p0, *p1;
	int n;
	__u64 cpu_ns;
};

struct stat_row {
	char key[AMPSTAT_BLK_METHOD + AMPSTAT_BLK_PATH + 2];
	__u64 n, ns;
};

struct blk {
	struct blocked_bpf *skel;
	struct sym *kern;		/* kernel symbols */
	struct { pid_t pid; struct sym *s; } syms[MAX_SYMS];
	int nsyms;
	bool stacks, json;
	bool by_comm;			/* amped: event loops by thread name */
	const char *loops;		/* what the event loops are (loops_of) */
	blk_event_fn fn;		/* blk_new's: events go there, not to stdout */
	void *fn_arg;
	__u64 mono_to_real_ns;
	char frames[MAX_STACK][256];	/* one stack, symbolized */
	/* summary */
	__u64 events, total_ns, max_ns;
	__u64 st_n[3], st_ns[3];
	struct stat_row sysc[MAX_SYSC], reqs[MAX_REQS];
	int nsysc, nreqs;
	__u64 reqs_overflow;		/* events of requests past the MAX_REQS listed */
	/* verdicts and collateral */
	__u64 v_n[BV_N], v_ns[BV_N], v_waiting[BV_N], v_added_ns[BV_N];
	struct stat_row causes[MAX_SYSC];	/* "verdict syscall" */
	int ncauses;
	struct stat_row paths[MAX_PATHS];	/* "verdict syscall\tpath" */
	int npaths;
	__u64 scanned, not_scanned, over_budget, truncated, waited_distinct, waiting_sum, added_ns;
	__u64 coll_min_ns;
};

static struct sym *user_sym(struct blk *b, pid_t pid)
{
	for (int i = 0; i < b->nsyms; i++)
		if (b->syms[i].pid == pid)
			return b->syms[i].s;
	if (b->nsyms == MAX_SYMS)
		return NULL;
	b->syms[b->nsyms].pid = pid;
	b->syms[b->nsyms].s = sym_open(pid);	/* NULL if gone: addresses stay hex */
	return b->syms[b->nsyms++].s;
}

/* Stack id symbolized into b->frames, innermost first: the number of
 * frames, or -errno when the stack is not there. */
static int stack_frames(struct blk *b, int id, struct sym *s)
{
	__u64 ips[MAX_STACK] = { 0 };
	int n = 0;

	if (id < 0)
		return id;
	if (bpf_map_lookup_elem(bpf_map__fd(b->skel->maps.stacks), &id, ips))
		return -errno;
	for (int i = 0; i < MAX_STACK && ips[i]; i++) {
		sym_resolve(s, ips[i], b->frames[n], sizeof(b->frames[n]));
		/* the tracer's own frames (the program, the tracepoint) */
		if (!n && (!strncmp(b->frames[n], "bpf_prog_", 9) ||
			   !strncmp(b->frames[n], "bpf_trace_run", 13) ||
			   !strncmp(b->frames[n], "__bpf_trace_", 12)))
			continue;
		n++;
	}
	return n;
}

static void print_stack(struct blk *b, int id, struct sym *s, const char *what)
{
	int n = stack_frames(b, id, s);

	if (n < 0) {
		printf("  %s stack: unavailable (%s)\n", what, strerror(-n));
		return;
	}
	printf("  %s stack:\n", what);
	for (int i = 0; i < n; i++)
		printf("    %s\n", b->frames[i]);
}

/* ,"what_stack":[frames] or ,"what_stack":null,"what_stack_error":"..." */
static void json_stack(struct blk *b, int id, struct sym *s, const char *what)
{
	int n = stack_frames(b, id, s);

	if (n < 0) {
		printf(",\"%s_stack\":null,\"%s_stack_error\":", what, what);
		mode_json_str(stdout, strerror(-n));
		return;
	}
	printf(",\"%s_stack\":[", what);
	for (int i = 0; i < n; i++) {
		if (i)
			putchar(',');
		mode_json_str(stdout, b->frames[i]);
	}
	putchar(']');
}

static void json_event(struct blk *b, const struct ampstat_blk_event *e, __u32 st, const char *tbuf,
		       const char *meth, enum blk_verdict v)
{
	char sb[32];

	printf("{\"type\":\"event\",\"time\":\"%s\",\"out_ns\":%llu,\"duration_ns\":%llu,"
	       "\"tgid\":%u,\"tid\":%u,\"comm\":", tbuf, (unsigned long long)e->out_ns,
	       (unsigned long long)e->dur_ns, e->tgid, e->tid);
	mode_json_str(stdout, e->comm);
	printf(",\"role\":");
	mode_json_str(stdout, b->by_comm ? roles_name(roles_of_thread((pid_t)e->tgid, (pid_t)e->tid, e->comm))
					 : "dispatcher");
	printf(",\"state\":\"%c\",\"state_name\":\"%s\",\"syscall\":",
	       state_letter[st], blk_state_name[st]);
	mode_json_str(stdout, sysname(e->syscall, sb, sizeof(sb)));
	printf(",\"syscall_nr\":%d,\"verdict\":\"%s\",\"waker\":", e->syscall, verdict_name[v]);
	if (e->waker_tid) {
		printf("{\"tid\":%u,\"comm\":", e->waker_tid);
		mode_json_str(stdout, e->waker_comm);
		printf(",\"in_target\":%s}", e->waker_in_target ? "true" : "false");
	} else {
		printf("null");
	}
	printf(",\"collateral\":");
	if (e->coll_flags & ABC_SCANNED)
		printf("{\"waiting\":%llu,\"unread_connections\":%u,\"accept_queue\":%u,\"new\":%u,"
		       "\"added_ns\":%llu,\"fds\":%u,\"truncated\":%s}", (unsigned long long)coll_waiting(e),
		       e->coll_readable, e->coll_accept, e->coll_new, (unsigned long long)e->coll_wait_ns,
		       e->coll_fds, e->coll_flags & ABC_TRUNCATED ? "true" : "false");
	else
		printf("null");
	printf(",\"request\":");
	if (e->req_id) {
		printf("{\"id\":%llu,\"conn\":%u,\"age_ns\":%llu,\"method\":", (unsigned long long)e->req_id,
		       e->conn_id, (unsigned long long)(e->out_ns > e->req_start_ns ? e->out_ns - e->req_start_ns : 0));
		mode_json_str(stdout, meth);
		printf(",\"path\":");
		mode_json_str(stdout, e->path);
		putchar('}');
	} else {
		printf("null");
	}
	if (b->stacks) {
		json_stack(b, e->kstack, b->kern, "kernel");
		json_stack(b, e->ustack, user_sym(b, (pid_t)e->tgid), "user");
	}
	printf("}\n");
	fflush(stdout);
}

static void add_row(struct stat_row *rows, int *n, int max, const char *key, __u64 ns, __u64 *other)
{
	for (int i = 0; i < *n; i++) {
		if (!strcmp(rows[i].key, key)) {
			rows[i].n++;
			rows[i].ns += ns;
			return;
		}
	}
	if (*n == max) {
		if (other)
			(*other)++;
		return;
	}
	snprintf(rows[*n].key, sizeof(rows[*n].key), "%s", key);
	rows[*n].n = 1;
	rows[(*n)++].ns = ns;
}

static void fmt_ms(char *buf, size_t n, __u64 ns)
{
	snprintf(buf, n, "%.3f ms", (double)ns / 1e6);
}

/* The method up to its space, printable characters only. */
static void method_of(const struct ampstat_blk_event *e, char *out, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(e->method) && i + 1 < n; i++) {
		char c = e->method[i];
		if (c <= ' ' || c > '~')
			break;
		out[i] = c;
	}
	out[i] = 0;
}

/* The summary's share of one event: by verdict, by cause, collateral. */
static void account(struct blk *b, const struct ampstat_blk_event *e, enum blk_verdict v)
{
	char sb[32], cause[64], pk[sizeof(b->paths[0].key)];

	b->v_n[v]++;
	b->v_ns[v] += e->dur_ns;
	/* preemption strikes in whatever syscall: the syscall says nothing */
	if (v == BV_RUNQ)
		snprintf(cause, sizeof(cause), "%s", verdict_name[v]);
	else
		snprintf(cause, sizeof(cause), "%s %s", verdict_name[v], sysname(e->syscall, sb, sizeof(sb)));
	add_row(b->causes, &b->ncauses, MAX_SYSC, cause, e->dur_ns, NULL);
	if (e->req_id && e->path[0]) {
		snprintf(pk, sizeof(pk), "%s\t%.*s", cause, (int)(sizeof(pk) - strlen(cause) - 2), e->path);
		add_row(b->paths, &b->npaths, MAX_PATHS, pk, e->dur_ns, NULL);
	}
	if (e->coll_flags & ABC_OVER_BUDGET)
		b->over_budget++;
	if (!(e->coll_flags & ABC_SCANNED)) {
		b->not_scanned++;
		return;
	}
	b->scanned++;
	if (e->coll_flags & ABC_TRUNCATED)
		b->truncated++;
	b->v_waiting[v] += coll_waiting(e);
	b->v_added_ns[v] += e->coll_wait_ns;
	b->waiting_sum += coll_waiting(e);
	b->waited_distinct += e->coll_new;
	b->added_ns += e->coll_wait_ns;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct blk *b = ctx;
	struct ampstat_blk_event e;
	char sb[32], ms[32], meth[AMPSTAT_BLK_METHOD + 1], tbuf[32], key[sizeof(b->reqs[0].key)];
	enum blk_verdict v;
	__u32 st;

	if (len < sizeof(e))
		return 0;
	memcpy(&e, data, sizeof(e));
	e.path[sizeof(e.path) - 1] = 0;
	e.comm[sizeof(e.comm) - 1] = 0;
	st = e.state < 3 ? e.state : 2;
	b->events++;
	b->total_ns += e.dur_ns;
	if (e.dur_ns > b->max_ns)
		b->max_ns = e.dur_ns;
	b->st_n[st]++;
	b->st_ns[st] += e.dur_ns;
	add_row(b->sysc, &b->nsysc, MAX_SYSC, sysname(e.syscall, sb, sizeof(sb)), e.dur_ns, NULL);
	method_of(&e, meth, sizeof(meth));
	if (e.req_id)
		snprintf(key, sizeof(key), "%s %s", meth[0] ? meth : "?", e.path[0] ? e.path : "?");
	else
		snprintf(key, sizeof(key), "(no request)");
	if (b->fn) {
		b->fn(b->fn_arg, &e, st, sysname(e.syscall, sb, sizeof(sb)), e.req_id ? key : "");
		return 0;
	}
	add_row(b->reqs, &b->nreqs, MAX_REQS, key, e.dur_ns, &b->reqs_overflow);
	v = blk_verdict(&e, st, b->frames, stack_frames(b, e.kstack, b->kern));
	account(b, &e, v);

	{
		__u64 real = e.out_ns + b->mono_to_real_ns;
		time_t s = (time_t)(real / 1000000000ULL);
		struct tm tm;
		localtime_r(&s, &tm);
		strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
		snprintf(tbuf + strlen(tbuf), sizeof(tbuf) - strlen(tbuf), ".%06llu",
			 (unsigned long long)(real % 1000000000ULL / 1000));
	}
	if (b->json) {
		json_event(b, &e, st, tbuf, meth, v);
		return 0;
	}
	fmt_ms(ms, sizeof(ms), e.dur_ns);
	printf("%s  %s %u/%u  off CPU %s  %s  syscall %s  (%s)\n", tbuf, e.comm, e.tgid, e.tid, ms,
	       state_text[st], sysname(e.syscall, sb, sizeof(sb)),
	       b->by_comm ? roles_name(roles_of_thread((pid_t)e.tgid, (pid_t)e.tid, e.comm)) : "dispatcher");
	printf("  verdict: %s", verdict_text[v]);
	if (e.waker_tid)
		printf("  (woken by %s %u)", e.waker_comm, e.waker_tid);
	printf("\n");
	if (e.coll_flags & ABC_SCANNED) {
		fmt_ms(ms, sizeof(ms), e.coll_wait_ns);
		printf("  collateral: %llu requests waited (%u unread connections, %u in accept queues), %s added%s\n",
		       (unsigned long long)coll_waiting(&e), e.coll_readable, e.coll_accept, ms,
		       e.coll_flags & ABC_TRUNCATED ? " (descriptor table cut short)" : "");
	}
	if (e.req_id) {
		char age[32];
		fmt_ms(age, sizeof(age), e.out_ns > e.req_start_ns ? e.out_ns - e.req_start_ns : 0);
		printf("  request: %s %s  (req %llu, conn %u, %s into it)\n", meth[0] ? meth : "?",
		       e.path[0] ? e.path : "?", (unsigned long long)e.req_id, e.conn_id, age);
	} else {
		printf("  request: none (between requests, or the server has no amped_current)\n");
	}
	if (b->stacks) {
		print_stack(b, e.kstack, b->kern, "kernel");
		print_stack(b, e.ustack, user_sym(b, (pid_t)e.tgid), "user");
	}
	printf("\n");
	fflush(stdout);
	return 0;
}

/* The other threads' D state (map others_tid) summed by role: rows in
 * out[0..ROLES_MAX) (a: stretches, b: ns), how many returned. */
static int others_by_role(struct blk *b, struct roles_sum *out)
{
	int fd = bpf_map__fd(b->skel->maps.others_tid), nr = 0;
	__u32 key, next, *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct ampstat_blk_tid v;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v) == 0 && v.blocked)
			roles_sum_tid(out, &nr, (pid_t)key, v.blocked, v.blocked_ns);
	}
	return nr;
}

static int cmp_rows(const void *a, const void *b)
{
	const struct stat_row *x = a, *y = b;

	return x->ns < y->ns ? 1 : x->ns > y->ns ? -1 : 0;
}

/* The one-line answer: how long the loop stalled, who paid, and the main
 * cause: "stalled 2.860 s in 412 stalls; 1,420 requests waited behind
 * them, 2.100 s added; 93% disk in pread64 on 37 files".  Sorts causes. */
static void headline(struct blk *b, char *out, size_t n)
{
	char a[32], c[32], w[32];
	size_t o;
	int files = 0;

	qsort(b->causes, (size_t)b->ncauses, sizeof(b->causes[0]), cmp_rows);
	o = (size_t)snprintf(out, n, "stalled %.3f s in %s stalls; ", (double)b->total_ns / 1e9,
			     fmt_count(c, sizeof(c), b->events));
	if (o >= n)
		return;
	if (b->scanned)
		o += (size_t)snprintf(out + o, n - o, "%s requests waited behind them, %.3f s added",
				      fmt_count(w, sizeof(w), b->waited_distinct), (double)b->added_ns / 1e9);
	else
		o += (size_t)snprintf(out + o, n - o, "collateral not counted (no stall of %.0f us or more)",
				      (double)b->coll_min_ns / 1e3);
	if (o >= n || !b->ncauses || !b->total_ns)
		return;
	for (int i = 0; i < b->npaths; i++) {
		size_t k = strlen(b->causes[0].key);
		if (!strncmp(b->paths[i].key, b->causes[0].key, k) && b->paths[i].key[k] == '\t')
			files++;
	}
	snprintf(a, sizeof(a), "%.0f%%", 100.0 * (double)b->causes[0].ns / (double)b->total_ns);
	{
		/* "disk pread64" -> "disk in pread64" */
		const char *sp = strchr(b->causes[0].key, ' ');
		int vl = sp ? (int)(sp - b->causes[0].key) : (int)strlen(b->causes[0].key);
		o += (size_t)snprintf(out + o, n - o, "; %s %.*s%s%s", a, vl, b->causes[0].key, sp ? " in " : "",
				      sp ? sp + 1 : "");
	}
	if (o < n && files)
		snprintf(out + o, n - o, " on %d file%s", files, files == 1 ? "" : "s");
}

static void json_rows(const char *name, const char *key, struct stat_row *rows, int n)
{
	printf(",\"%s\":[", name);
	for (int i = 0; i < n; i++) {
		printf("%s{\"%s\":", i ? "," : "", key);
		mode_json_str(stdout, rows[i].key);
		printf(",\"events\":%llu,\"ns\":%llu}", (unsigned long long)rows[i].n,
		       (unsigned long long)rows[i].ns);
	}
	putchar(']');
}

static void summary_json(struct blk *b, pid_t pid, const char *comm, double dur_s, const char *why,
			 const struct blk_cost *c, const char *tp, const char *head)
{
	printf("{\"type\":\"summary\",\"pid\":%d,\"comm\":", (int)pid);
	mode_json_str(stdout, comm);
	printf(",\"duration_s\":%.3f,\"end\":\"%s\",\"events\":%llu,\"off_cpu_ns\":%llu,\"max_ns\":%llu,"
	       "\"by_state\":{", dur_s, why, (unsigned long long)b->events,
	       (unsigned long long)b->total_ns, (unsigned long long)b->max_ns);
	for (int i = 0; i < 3; i++)
		printf("%s\"%c\":{\"events\":%llu,\"ns\":%llu}", i ? "," : "", state_letter[i],
		       (unsigned long long)b->st_n[i], (unsigned long long)b->st_ns[i]);
	putchar('}');
	json_rows("by_syscall", "syscall", b->sysc, b->nsysc);
	json_rows("by_request", "request", b->reqs, b->nreqs);
	json_rows("by_cause", "cause", b->causes, b->ncauses);
	printf(",\"by_verdict\":{");
	for (int i = 0; i < BV_N; i++)
		printf("%s\"%s\":{\"events\":%llu,\"ns\":%llu,\"waiting\":%llu,\"added_ns\":%llu}", i ? "," : "",
		       verdict_name[i], (unsigned long long)b->v_n[i], (unsigned long long)b->v_ns[i],
		       (unsigned long long)b->v_waiting[i], (unsigned long long)b->v_added_ns[i]);
	printf("},\"collateral\":{\"min_ns\":%llu,\"stalls_counted\":%llu,\"stalls_not_counted\":%llu,"
	       "\"stalls_over_budget\":%llu,\"walk_ns\":%llu,\"truncated\":%llu,\"waited\":%llu,"
	       "\"waiting_sum\":%llu,\"added_ns\":%llu},\"headline\":",
	       (unsigned long long)b->coll_min_ns, (unsigned long long)b->scanned,
	       (unsigned long long)b->not_scanned, (unsigned long long)b->over_budget,
	       (unsigned long long)b->skel->bss->coll_scan_ns, (unsigned long long)b->truncated,
	       (unsigned long long)b->waited_distinct, (unsigned long long)b->waiting_sum,
	       (unsigned long long)b->added_ns);
	mode_json_str(stdout, head);
	printf(",\"requests_overflow_events\":%llu,\"others_blocked\":%llu,\"others_blocked_ns\":%llu,"
	       "\"idle_switches\":%llu,\"dropped_events\":%llu,\"dropped_pending\":%llu,"
	       "\"tracepoint\":\"%s\",",
	       (unsigned long long)b->reqs_overflow, (unsigned long long)b->skel->bss->others_blocked,
	       (unsigned long long)b->skel->bss->others_blocked_ns,
	       (unsigned long long)b->skel->bss->idle_switches,
	       (unsigned long long)b->skel->bss->dropped_events,
	       (unsigned long long)b->skel->bss->dropped_pending, tp);
	{
		struct roles_sum rr[ROLES_MAX];
		int nr = others_by_role(b, rr);

		printf("\"event_loops\":");
		mode_json_str(stdout, b->loops ? b->loops : "");
		printf(",\"others_by_role\":[");
		for (int i = 0; i < nr; i++)
			printf("%s{\"role\":\"%s\",\"blocked\":%llu,\"blocked_ns\":%llu}", i ? "," : "",
			       roles_name(rr[i].role), (unsigned long long)rr[i].a, (unsigned long long)rr[i].b);
		printf("],");
	}
	sess_cost(stdout, true, c->p0, c->p1, c->n, c->cpu_ns, dur_s);
	printf("}\n");
	fflush(stdout);
}

static void summary(struct blk *b, pid_t pid, const char *comm, double dur_s, const char *why,
		    const struct blk_cost *cost, const char *tp)
{
	char a[32], c[32], head[256];

	qsort(b->sysc, (size_t)b->nsysc, sizeof(b->sysc[0]), cmp_rows);
	qsort(b->reqs, (size_t)b->nreqs, sizeof(b->reqs[0]), cmp_rows);
	headline(b, head, sizeof(head));
	if (b->json) {
		summary_json(b, pid, comm, dur_s, why, cost, tp, head);
		return;
	}

	printf("ampstat blocked  pid %d (%s)  %.2f s  (%s)\n", (int)pid, comm, dur_s, why);
	printf("event loops: %s\n", b->loops ? b->loops : "?");
	fmt_ms(a, sizeof(a), b->total_ns);
	fmt_ms(c, sizeof(c), b->max_ns);
	printf("dispatcher off CPU other than idle: %llu events, %s (%.1f%% of the time), longest %s\n",
	       (unsigned long long)b->events, a, dur_s > 0 ? (double)b->total_ns / (dur_s * 1e7) : 0.0, c);
	printf("%s\n", head);
	printf("  by verdict:\n");
	for (int i = 0; i < BV_N; i++) {
		if (!b->v_n[i])
			continue;
		fmt_ms(a, sizeof(a), b->v_ns[i]);
		fmt_ms(c, sizeof(c), b->v_added_ns[i]);
		printf("    %-10s %6llu events  %12s  %8llu waiting  %12s added\n", verdict_name[i],
		       (unsigned long long)b->v_n[i], a, (unsigned long long)b->v_waiting[i], c);
	}
	printf("  collateral: counted for %llu stalls of %.0f us or more (%llu not counted: %llu shorter, %llu over "
	       "the walks' budget); waiting summed over stalls %llu, distinct %llu; walks took %.3f ms\n",
	       (unsigned long long)b->scanned, (double)b->coll_min_ns / 1e3, (unsigned long long)b->not_scanned,
	       (unsigned long long)(b->not_scanned - b->over_budget), (unsigned long long)b->over_budget,
	       (unsigned long long)b->waiting_sum, (unsigned long long)b->waited_distinct,
	       (double)b->skel->bss->coll_scan_ns / 1e6);
	printf("  by state:");
	for (int i = 0; i < 3; i++) {
		fmt_ms(a, sizeof(a), b->st_ns[i]);
		printf("  %c %llu (%s)", state_letter[i], (unsigned long long)b->st_n[i], a);
	}
	printf("\n");
	printf("  by syscall:");
	for (int i = 0; i < b->nsysc && i < 10; i++) {
		fmt_ms(a, sizeof(a), b->sysc[i].ns);
		printf("  %s %llu (%s)", b->sysc[i].key, (unsigned long long)b->sysc[i].n, a);
	}
	printf("\n");
	printf("  by request:\n");
	for (int i = 0; i < b->nreqs && i < 10; i++) {
		fmt_ms(a, sizeof(a), b->reqs[i].ns);
		printf("    %-50s %6llu events  %s\n", b->reqs[i].key, (unsigned long long)b->reqs[i].n, a);
	}
	if (b->reqs_overflow)
		printf("    (and %llu events of requests past the first %d distinct ones: not itemized)\n",
		       (unsigned long long)b->reqs_overflow, MAX_REQS);
	fmt_ms(a, sizeof(a), b->skel->bss->others_blocked_ns);
	printf("other threads (helpers, workers) in D state (blocked-io): %llu times, %s\n",
	       (unsigned long long)b->skel->bss->others_blocked, a);
	{
		struct roles_sum rr[ROLES_MAX];
		int nr = others_by_role(b, rr);

		for (int i = 0; i < nr; i++) {
			fmt_ms(a, sizeof(a), rr[i].b);
			printf("  %-14s %llu times, %s\n", roles_name(rr[i].role), (unsigned long long)rr[i].a, a);
		}
	}
	printf("idle waits of the dispatcher (epoll_wait, poll, select: not shown): %llu\n",
	       (unsigned long long)b->skel->bss->idle_switches);
	printf("sched_switch through %s\n", tp);
	sess_cost(stdout, false, cost->p0, cost->p1, cost->n, cost->cpu_ns, dur_s);
	if (b->skel->bss->dropped_events || b->skel->bss->dropped_pending)
		printf("dropped: events %llu pending %llu\n",
		       (unsigned long long)b->skel->bss->dropped_events,
		       (unsigned long long)b->skel->bss->dropped_pending);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampstat blocked -p PID [-d SEC] [--min-us N] [--collateral-min-us N] [--no-stacks]\n"
"                       [--json] [-v]\n"
"\n"
"Every time the server's dispatcher left the CPU for anything but its idle\n"
"wait (epoll_wait, poll, select): when, for how long, in which state (D: blocked-io,\n"
"S: another wait, R: preempted), in which syscall, its kernel and user\n"
"stacks (symbolized) and the request (method and path) it was serving.\n"
"One block per event as it ends, and a summary at the end.  The dispatcher\n"
"is the thread named amped-disp, or each amped-disp-N (--dispatchers N; also\n"
"in child processes: SYMPED; for ult the thread that runs the scheduler and\n"
"every user-level thread), each of seda's http-stage threads (amped-s-http-N:\n"
"event loops), or the target's main thread for another server.  amped's mp,\n"
"mt and hybrid have no event loop: no events.  Other threads' time in D state\n"
"is summed by role (helpers, workers, stage-file: blocking is their job).\n"
"\n"
"Each stall gets a verdict: runqueue (preempted), disk (D state in I/O),\n"
"pagefault (a fault handler on the kernel stack), lock (futex, or D in a\n"
"kernel lock), helper (a sleep a thread of the server ended), wait (any\n"
"other sleep).  The idle wait (epoll_wait) is never a stall, even with jobs\n"
"out at helpers: `ampstat handoff` shows those waits.  And its collateral:\n"
"the requests the kernel held while the dispatcher was away (connections\n"
"with unread bytes, accept-queue entries) and the time each waited within\n"
"the stall, from its arrival (or the stall's start) to the stall's end.\n"
"Requests the server had already read are not counted: a lower bound.\n"
"The summary's first line says it all: \"stalled 2.860 s in 412 stalls;\n"
"1,420 requests waited behind them, 2.100 s added; 93%% disk in pread64 on\n"
"37 files\" (waited: distinct requests; a request behind several stalls\n"
"counts once).\n"
"\n"
"  -p, --pid PID        the server\n"
"  -d, --duration SEC   stop after SEC seconds (default: Ctrl-C or target exit)\n"
"      --min-us N       only events that lasted at least N microseconds\n"
"                       (default 0: every one)\n"
"      --no-stacks      leave the stacks out\n"
"      --collateral-min-us N\n"
"                       count who waited behind stalls of at least N us\n"
"                       (default 1000; 0: every stall): each one walks the\n"
"                       dispatcher's descriptors at its end, delaying it;\n"
"                       the walks stop while they have used more than 1%%\n"
"                       of one CPU (those stalls are counted apart)\n"
"      --json           JSON Lines: an object per event (\"type\":\"event\": time,\n"
"                       duration_ns, state, syscall, verdict, waker {tid,\n"
"                       comm, in_target}, collateral {waiting,\n"
"                       unread_connections, accept_queue, new, added_ns}\n"
"                       or null, request {method, path}, tid, role,\n"
"                       kernel_stack and user_stack as lists of frames) and\n"
"                       a summary object (\"type\":\"summary\": by_verdict,\n"
"                       by_cause, collateral, headline, ...) last\n"
"  -v, --verbose        libbpf debug output\n"
"\n"
"examples:\n"
"  ampstat blocked -p $(pgrep -x amped)\n"
"  ampstat blocked -p 1234 -d 30 --min-us 1000    # blocks of 1 ms or more\n"
"  ampstat blocked -p 1234 -d 10 --json | jq -c 'select(.state == \"D\")'\n"
"\n"
"User stacks are walked by frame pointers; code built without them shows its\n"
"innermost frame only reliably.\n"
"\n");
	mode_usage_maps(f, "blocked");
	fprintf(f,
"Exit status: 0 ok (duration over, Ctrl-C, or the target exited: the summary\n"
"is printed), 1 runtime error (not root, no BTF, no such process), 2 usage\n"
"error.\n");
}

/* The target and its children, for roles_watch: a thread of hybrid's
 * shrinking pool that exits before the summary keeps its role. */
static void watch_roles(pid_t pid, bool now)
{
	pid_t tg[257];
	int n = proc_children(pid, tg + 1, 256);

	tg[0] = pid;
	roles_watch(tg, n > 0 ? n + 1 : 1, now);
}

/* What the event loops of pid (and its children) are, for the messages;
 * *by_comm: amped, whose loops are found by thread name (amped-disp,
 * amped-s-http-N) — also when it has none (mp, mt, hybrid): then no thread
 * is a dispatcher, rather than the supervisor being taken for one. */
static const char *loops_of(pid_t pid, bool *by_comm)
{
	static const char stage_loop[] = AMPED_COMM_STAGE AMPED_STAGE_HTTP "-";
	pid_t kids[256], tasks[1024];
	int nk = proc_children(pid, kids, 256);
	bool disp = false, stage = false;
	uint64_t cur;
	struct mstats m;

	for (int i = -1; i < nk; i++) {
		int nt = proc_tasks(i < 0 ? pid : kids[i], tasks, 1024);

		for (int j = 0; j < nt; j++) {
			char comm[32];

			if (proc_comm(tasks[j], comm, sizeof(comm)))
				continue;
			/* amped-disp, or amped-disp-N of several (--dispatchers) */
			disp = disp || (!strncmp(comm, AMPED_COMM_DISP, sizeof(AMPED_COMM_DISP) - 1) &&
					(comm[sizeof(AMPED_COMM_DISP) - 1] == 0 ||
					 comm[sizeof(AMPED_COMM_DISP) - 1] == '-'));
			stage = stage || !strncmp(comm, stage_loop, sizeof(stage_loop) - 1);
		}
	}
	*by_comm = disp || stage || proc_sym_addr(pid, "amped_current", &cur) == 0;
	if (stage)
		return "seda's http-stage threads (amped-s-http-N, each an event loop over its "
		       "connections); the file stage blocking in reads is its job: summed by role";
	if (disp) {
		mstats_init(&m, pid);
		if (m.ult_on)
			return "ult's scheduler thread (amped-disp: it runs every user-level thread, so "
			       "when it blocks every connection waits); its helpers: summed by role";
		return "threads named amped-disp(-N)";
	}
	if (*by_comm)
		return "none: this model has no event loop (mp, mt, hybrid: a blocking worker per "
		       "connection delays only its own), so no events; D state summed by role";
	return "the main thread";
}

bool blk_has_disp(pid_t pid)
{
	bool by_comm;

	loops_of(pid, &by_comm);
	return by_comm;
}

struct blk_ctx {
	struct blk b;
	struct ring_buffer *rb;
	struct bpf_link *link, *wlink;
	struct bpf_program *prog, *wprog;
	long min_us, coll_min_us;
	bool by_comm, have_cur;	/* what blk_begin found */
};

static int option(struct sess *s, void *ctx, int c, const char *arg)
{
	struct blk_ctx *x = ctx;
	long v;

	(void)s;
	switch (c) {
	case 'm':
		if (!mode_parse_long(arg, &v) || v < 0 || v > 3600000000L) {
			fprintf(stderr, "ampstat: --min-us must be 0-3600000000, got '%s'\n", arg);
			return 2;
		}
		x->min_us = v;
		return 0;
	case 'S': x->b.stacks = false; return 0;
	case 'c':
		if (!mode_parse_long(arg, &v) || v < 0 || v > BLK_COLL_OFF_US) {
			fprintf(stderr, "ampstat: --collateral-min-us must be 0-3600000000, got '%s'\n", arg);
			return 2;
		}
		x->coll_min_us = v;
		return 0;
	}
	return 2;
}

int blk_begin(struct sess *s, struct blk_ctx *x)
{
	struct blk *b = &x->b;
	bool by_comm;
	uint64_t cur = 0;
	struct timespec rt, mt;

	if (proc_sym_addr(s->pid, "amped_current", &cur))
		cur = 0;
	b->json = s->json;
	roles_target(s->pid);
	b->loops = loops_of(s->pid, &by_comm);
	b->by_comm = by_comm;
	watch_roles(s->pid, true);
	b->skel = blocked_bpf__open();
	if (!b->skel) {
		fprintf(stderr, "ampstat: open blocked.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	b->skel->rodata->targ_tgid = (__u32)s->pid;
	b->skel->rodata->by_comm = by_comm;
	b->skel->rodata->cur_addr = cur;
	b->skel->rodata->min_ns = (__u64)x->min_us * 1000;
	b->skel->rodata->coll_min_ns = b->coll_min_ns = (__u64)x->coll_min_us * 1000;
	if (sess_load(s, b->skel->skeleton))
		return 1;
	x->prog = mode_tp_prog(b->skel->progs.blk_switch, b->skel->progs.blk_switch_raw);
	x->wprog = mode_tp_prog(b->skel->progs.blk_waking, b->skel->progs.blk_waking_raw);
	sess_pin(s, b->skel->obj, "blocked", NULL);
	b->kern = sym_open(0);
	/* user symbols now, while the process is surely there */
	user_sym(b, s->pid);
	x->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.events), on_event, b, NULL);
	if (!x->rb) {
		fprintf(stderr, "ampstat: ring buffer: %s\n", strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	b->mono_to_real_ns = ((__u64)rt.tv_sec * 1000000000ULL + (__u64)rt.tv_nsec) -
			     ((__u64)mt.tv_sec * 1000000000ULL + (__u64)mt.tv_nsec);
	sess_stats_on(s);
	b->skel->bss->coll_t0 = mode_now_ns();
	/* the waker first: a stall must not end before its waker is known */
	x->wlink = bpf_program__attach(x->wprog);
	if (!x->wlink) {
		fprintf(stderr, "ampstat: attach sched_waking: %s\n", strerror(errno));
		return 1;
	}
	x->link = bpf_program__attach(x->prog);
	if (!x->link) {
		fprintf(stderr, "ampstat: attach sched_switch: %s\n", strerror(errno));
		return 1;
	}
	x->by_comm = by_comm;
	x->have_cur = cur != 0;
	return 0;
}

static int start(struct sess *s, void *ctx)
{
	struct blk_ctx *x = ctx;

	if (blk_begin(s, x))
		return 1;
	fprintf(stderr, "ampstat: tracing pid %d (%s): event loops = %s%s; %s\n", (int)s->pid, s->comm,
		x->b.loops,
		x->have_cur ? ", requests from amped_current" : ", no amped_current: requests unknown",
		s->duration_s > 0 ? "until the duration is over or Ctrl-C" : "Ctrl-C to stop");
	return 0;
}

int blk_poll_fd(struct blk_ctx *x)
{
	return ring_buffer__epoll_fd(x->rb);
}

void blk_consume(struct blk_ctx *x)
{
	ring_buffer__consume(x->rb);
}

static const char *tick(struct sess *s, void *ctx)
{
	(void)ctx;
	watch_roles(s->pid, false);
	return NULL;
}

static int poll_events(struct sess *s, void *ctx, int timeout_ms)
{
	int e = ring_buffer__poll(((struct blk_ctx *)ctx)->rb, timeout_ms);

	(void)s;
	if (e < 0 && e != -EINTR) {
		fprintf(stderr, "ampstat: ring buffer: %s\n", strerror(-e));
		return e;
	}
	return 0;
}

static int stop(struct sess *s, void *ctx, const char *why)
{
	struct blk_ctx *x = ctx;
	struct tr_prog p1[SESS_PROG_MAX];
	struct blk_cost c = { .p0 = s->p0, .p1 = p1, .n = s->nprogs, .cpu_ns = sess_cpu_ns(s) };
	double dur_s;

	bpf_link__destroy(x->link);
	bpf_link__destroy(x->wlink);
	x->link = x->wlink = NULL;
	watch_roles(s->pid, true);
	dur_s = (double)(mode_now_ns() - s->t0_ns) / 1e9;
	ring_buffer__consume(x->rb);	/* what came before the detach */
	sess_progs(s, p1, SESS_PROG_MAX);
	summary(&x->b, s->pid, s->comm, dur_s, why, &c,
		x->prog == x->b.skel->progs.blk_switch ? "tp_btf" : "raw_tp");
	return 0;
}

static void cleanup(struct sess *s, void *ctx)
{
	struct blk_ctx *x = ctx;

	(void)s;
	bpf_link__destroy(x->link);
	bpf_link__destroy(x->wlink);
	ring_buffer__free(x->rb);
	blocked_bpf__destroy(x->b.skel);
	for (int i = 0; i < x->b.nsyms; i++)
		sym_close(x->b.syms[i].s);
	sym_close(x->b.kern);
}

struct blk_ctx *blk_new(long min_us, blk_event_fn fn, void *arg)
{
	struct blk_ctx *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->min_us = min_us;
	x->coll_min_us = BLK_COLL_OFF_US;	/* fn is not given the collateral: no walks */
	x->b.fn = fn;
	x->b.fn_arg = arg;
	return x;
}

void blk_end(struct sess *s, struct blk_ctx *x)
{
	if (!x)
		return;
	cleanup(s, x);
	free(x);
}

int cmd_blocked(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "min-us", required_argument, NULL, 'm' },
		{ "no-stacks", no_argument, NULL, 'S' },
		{ "collateral-min-us", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct sess_cmd cmd = {
		.name = "blocked", .usage = usage, .longopts = longopts, .option = option,
		.flags = SESS_JSON, .interval_s = 1, .start = start, .tick = tick, .poll = poll_events, .stop = stop,
		.cleanup = cleanup,
	};
	static struct blk_ctx x;

	memset(&x, 0, sizeof(x));
	x.b.stacks = true;
	x.coll_min_us = BLK_COLL_MIN_US;
	return sess_run(&cmd, &x, argc, argv);
}
