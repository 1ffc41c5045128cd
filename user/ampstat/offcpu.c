/* offcpu — `ampstat offcpu`: where the server's threads wait, per role:
 * the time from each switch-out to the next switch-in, by the kernel and
 * user stacks taken at the switch-out and the category of the wait
 * (bpf/offcpu.bpf.c).  --folded prints one line per stack for flame graphs
 * (speedscope, inferno, flamegraph.pl), and --svg / --html draw the flame
 * graph of those lines here (user/ampstat/flame.h):
 *
 *   ROLE;COMM;[CATEGORY];USER FRAMES (outermost first);KERNEL FRAMES US
 *
 * with CATEGORY one of blocked-io, wait-idle, wait-other, runq, and US the
 * microseconds off CPU.  Frames are names without offsets (so that calls
 * from one function merge), through user/ampstat/sym.h; user stacks need
 * frame pointers in the server's code (-fno-omit-frame-pointer), else they
 * stop after a frame or two; a stack that could not be taken shows as
 * [missed user stack] / [missed kernel stack].  The server's user frames
 * are named at the end, so a target that has exited by then keeps only
 * addresses.  The kernel keeps one entry per thread; the threads of a
 * role with the same name, stacks and category are summed into one line.
 * Without --folded (with or without --svg/--html): per role, the time off CPU by category and the
 * heaviest stacks. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ampstat_offcpu.h"
#include "ampstat/cmd.h"
#include "ampstat/flame.h"
#include "ampstat/sess.h"
#include "ampstat/stk.h"
#include "ampstat/roles.h"
#include "ampstat/sym.h"
#include "offcpu.skel.h"

/* a record of stk_read: the key, the value right after it */
struct oentry {
	struct ampstat_off_key k;
	struct ampstat_off_val v;
	int role;
};

static const char *state_name(__u32 s)
{
	switch (s) {
	case AS_BLOCKED: return "blocked-io";
	case AS_WAIT_IDLE: return "wait-idle";
	case AS_WAIT_OTHER: return "wait-other";
	case AS_RUNQ: return "runq";
	default: return "unknown";
	}
}

static int cmp_entries(const void *a, const void *b)
{
	const struct oentry *x = a, *y = b;

	if (x->role != y->role)
		return x->role - y->role;
	return x->v.ns == y->v.ns ? 0 : x->v.ns < y->v.ns ? 1 : -1;
}

static int cmp_keys(const void *a, const void *b)
{
	const struct oentry *x = a, *y = b;

	if (x->role != y->role)
		return x->role - y->role;
	return memcmp(&x->k, &y->k, sizeof(x->k));
}

/* One entry per (role, name, process, stacks, category): the threads of a
 * role are summed, as the output has no tids.  Returns the new count. */
static int merge_threads(struct oentry *ent, int n)
{
	int out = 0;

	for (int i = 0; i < n; i++)
		ent[i].k.tid = 0;
	qsort(ent, (size_t)n, sizeof(*ent), cmp_keys);
	for (int i = 0; i < n; i++) {
		if (out && !cmp_keys(&ent[out - 1], &ent[i])) {
			ent[out - 1].v.ns += ent[i].v.ns;
			ent[out - 1].v.count += ent[i].v.count;
		} else {
			ent[out++] = ent[i];
		}
	}
	return out;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampstat offcpu -p PID [-d SEC] [--folded] [--svg FILE] [--html FILE]\n"
"                      [--min-us N] [-T N] [--role NAME=REGEX]... [--no-follow] [-v]\n"
"\n"
"Off-CPU time of the server's threads by stack, per role: the kernel and\n"
"user stacks a thread left the CPU with, the category of its wait\n"
"(blocked-io, wait-idle in epoll_wait, wait-other, runq when preempted) and\n"
"the time until it ran again.  --folded writes folded stacks for flame\n"
"graphs: ROLE;COMM;[CATEGORY];user frames;kernel frames MICROSECONDS.\n"
"An opt-in mode: taking the stacks costs about a microsecond per switch.\n"
"\n"
"  -p, --pid PID        the server to trace (with the processes it forks)\n"
"  -d, --duration SEC   stop after SEC seconds (default: Ctrl-C or exit)\n"
"  -f, --folded         folded stacks, one per line, for flame graphs\n"
"      --svg FILE       write the flame graph of those stacks as SVG (one\n"
"                       file, no scripts or fonts fetched; hover a frame for\n"
"                       its time, click to zoom)\n"
"      --html FILE      the same flame graph in an HTML page\n"
"      --min-us N       leave out waits shorter than N microseconds\n"
"  -T, --top N          stacks per role in the table (default 5)\n"
"      --role NAME=RE   a role for threads whose name matches RE (or a\n"
"                       selector: cmd: exe: leader: thread:)\n"
"      --no-follow      do not trace processes the target forks\n"
"  -v, --verbose        libbpf debug output\n"
"\n"
"examples:\n"
"  ampstat offcpu -p $(pgrep -x amped) -d 10 --svg off.svg\n"
"  ampstat offcpu -p $(pgrep -x amped) -d 10 --folded --html off.html > off.folded\n"
"  ampstat offcpu -p 1234 -d 5 --min-us 1000 -T 3\n"
"\n");
	mode_usage_maps(f, "offcpu");
	fprintf(f,
"Exit status: 0 ok (duration, Ctrl-C or the target exited: the stacks are\n"
"printed), 1 runtime error (not root, no BTF, no such process), 2 usage error.\n");
}

struct off_ctx {
	struct offcpu_bpf *skel;
	struct stk_syms sy;
	struct oentry *ent;
	int nent, cap;
	bool folded, follow;
	long min_us, top;
	const char *svg_path, *html_path;	/* --svg, --html */
	struct flame *fl;			/* their graph, when one is asked for */
};

static int option(struct sess *s, void *ctx, int c, const char *arg)
{
	struct off_ctx *x = ctx;
	char *end;

	(void)s;
	switch (c) {
	case 'f': x->folded = true; return 0;
	case 'S': x->svg_path = arg; return 0;
	case 'H': x->html_path = arg; return 0;
	case 'm':
		x->min_us = strtol(arg, &end, 10);
		if (end == arg || *end || x->min_us < 0 || x->min_us > 3600000000L) {
			fprintf(stderr, "ampstat: bad --min-us '%s'\n", arg);
			return 2;
		}
		return 0;
	case 'T':
		x->top = strtol(arg, &end, 10);
		if (end == arg || *end || x->top < 0 || x->top > 100000) {
			fprintf(stderr, "ampstat: bad --top '%s'\n", arg);
			return 2;
		}
		return 0;
	case 'r': return roles_add(arg) ? 2 : 0;
	case 'F': x->follow = false; return 0;
	}
	return 2;
}

static int start(struct sess *s, void *ctx)
{
	struct off_ctx *x = ctx;

	if (stk_flame_open(x->svg_path, x->html_path, &x->fl))
		return 1;
	x->skel = offcpu_bpf__open();
	if (!x->skel) {
		fprintf(stderr, "ampstat: open offcpu.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	x->skel->rodata->follow_forks = x->follow;
	x->skel->rodata->min_ns = (__u64)x->min_us * 1000;
	if (sess_load(s, x->skel->skeleton))
		return 1;
	sess_pin(s, x->skel->obj, "offcpu", NULL);
	if (sess_targets(s, bpf_map__fd(x->skel->maps.targets), bpf_map__fd(x->skel->maps.fast)) ||
	    sess_attach(s, x->skel->skeleton))
		return 1;
	/* the target's mappings now, while it surely lives */
	stk_user_syms(&x->sy, s->pid);
	fprintf(stderr, "ampstat: tracing pid %d (%s) off-CPU stacks; Ctrl-C to stop\n", (int)s->pid,
		s->comm);
	return 0;
}

/* the map's entries, with their roles (noted by the session while the
 * threads lived: the map is keyed by tid) */
static int read_entries(struct off_ctx *x)
{
	void *recs = x->ent;
	int e = stk_read(bpf_map__fd(x->skel->maps.offcpu), sizeof(struct ampstat_off_key),
			 sizeof(struct ampstat_off_val), sizeof(struct oentry), &recs, &x->nent, &x->cap);

	x->ent = recs;
	if (e)
		return e;
	for (int i = 0; i < x->nent; i++) {
		char cm[AMPSTAT_COMM_LEN + 1];

		snprintf(cm, sizeof(cm), "%.*s", AMPSTAT_COMM_LEN, x->ent[i].k.comm);
		x->ent[i].role = roles_of_thread((pid_t)x->ent[i].k.tgid, (pid_t)x->ent[i].k.tid, cm);
	}
	x->nent = merge_threads(x->ent, x->nent);
	qsort(x->ent, (size_t)x->nent, sizeof(*x->ent), cmp_entries);
	return 0;
}

/* the folded lines: printed (--folded) and/or drawn (--svg, --html).
 * 0 ok, -ENOMEM. */
static int folded_lines(struct off_ctx *x, int sfd)
{
	for (int i = 0; i < x->nent; i++) {
		struct oentry *o = &x->ent[i];
		struct stk_line l = {
			.role = roles_name(o->role), .comm = o->k.comm, .cat = state_name(o->k.state),
			.tgid = o->k.tgid, .ustack = o->k.ustack, .kstack = o->k.kstack, .kernel = true,
			.count = (o->v.ns + 500) / 1000,
		};

		if (l.count && stk_fold(x->folded ? stdout : NULL, x->fl, &x->sy, sfd, &l))
			return -ENOMEM;
	}
	return 0;
}

static void print_role(struct off_ctx *x, int sfd, int r)
{
	__u64 by[AMPSTAT_NSLOT] = { 0 }, tot = 0;
	int shown = 0;

	for (int i = 0; i < x->nent; i++)
		if (x->ent[i].role == r) {
			by[x->ent[i].k.state & (AMPSTAT_NSLOT - 1)] += x->ent[i].v.ns;
			tot += x->ent[i].v.ns;
		}
	if (!tot)
		return;
	printf("\n%s: off CPU %.3f s: blocked-io %.3f, wait-idle %.3f, wait-other %.3f, runq %.3f\n",
	       roles_name(r), (double)tot / 1e9, (double)by[AS_BLOCKED] / 1e9,
	       (double)by[AS_WAIT_IDLE] / 1e9, (double)by[AS_WAIT_OTHER] / 1e9, (double)by[AS_RUNQ] / 1e9);
	for (int i = 0; i < x->nent && shown < x->top; i++) {
		struct oentry *o = &x->ent[i];
		char cm[AMPSTAT_COMM_LEN + 1];

		if (o->role != r)
			continue;
		shown++;
		memcpy(cm, o->k.comm, AMPSTAT_COMM_LEN);
		cm[AMPSTAT_COMM_LEN] = 0;
		printf("  %10.3f ms %8llu x  %s [%s]\n    user:   ", (double)o->v.ns / 1e6,
		       (unsigned long long)o->v.count, cm, state_name(o->k.state));
		stk_put(stdout, sfd, o->k.ustack, stk_user_syms(&x->sy, (pid_t)o->k.tgid), "[missed user stack]",
			  " ");
		printf("\n    kernel: ");
		stk_put(stdout, sfd, o->k.kstack, x->sy.kernel, "[missed kernel stack]", " ");
		printf("\n");
	}
}

static int stop(struct sess *s, void *ctx, const char *why)
{
	struct off_ctx *x = ctx;
	struct tr_prog p1[SESS_PROG_MAX];
	__u64 cpu = sess_cpu_ns(s);
	int sfd = bpf_map__fd(x->skel->maps.stacks);
	/* the cost on stderr with --folded, where the output leaves room for it */
	FILE *cf = x->folded ? stderr : stdout;
	double dur_s;

	offcpu_bpf__detach(x->skel);
	dur_s = (double)(mode_now_ns() - s->t0_ns) / 1e9;
	sess_progs(s, p1, SESS_PROG_MAX);
	if (read_entries(x)) {
		fprintf(stderr, "ampstat: out of memory\n");
		return 1;
	}
	x->sy.kernel = sym_open(0);
	if ((x->folded || x->fl) && folded_lines(x, sfd)) {
		fprintf(stderr, "ampstat: out of memory\n");
		return 1;
	}
	if (x->fl) {
		char title[128];

		snprintf(title, sizeof(title), "ampstat offcpu: pid %d (%s), %.2f s off CPU by stack", (int)s->pid,
			 s->comm, dur_s);
		if (stk_flame_write(x->svg_path, x->html_path, x->fl, title, "us"))
			return 1;
	}
	if (x->folded) {
		fflush(stdout);
	} else {
		printf("ampstat offcpu  pid %d (%s)  %.2f s (%s)\n", (int)s->pid, s->comm, dur_s, why);
		for (int r = 0; r < roles_count(); r++)
			print_role(x, sfd, r);
	}
	sess_cost(cf, false, s->p0, p1, s->nprogs, cpu, dur_s);
	if (x->skel->bss->dropped_stacks || x->skel->bss->dropped_entries)
		fprintf(cf, "dropped: stacks %llu, entries %llu\n",
			(unsigned long long)x->skel->bss->dropped_stacks,
			(unsigned long long)x->skel->bss->dropped_entries);
	fflush(cf);
	return 0;
}

static void cleanup(struct sess *s, void *ctx)
{
	struct off_ctx *x = ctx;

	(void)s;
	offcpu_bpf__destroy(x->skel);
	stk_syms_free(&x->sy);
	free(x->ent);
	flame_free(x->fl);
}

int cmd_offcpu(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "folded", no_argument, NULL, 'f' },
		{ "svg", required_argument, NULL, 'S' },
		{ "html", required_argument, NULL, 'H' },
		{ "min-us", required_argument, NULL, 'm' },
		{ "top", required_argument, NULL, 'T' },
		{ "role", required_argument, NULL, 'r' },
		{ "no-follow", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct sess_cmd cmd = {
		.name = "offcpu", .usage = usage, .shortopts = "fT:", .longopts = longopts,
		.option = option, .interval_s = 0.5, .start = start, .stop = stop, .cleanup = cleanup,
	};
	struct off_ctx x = { .follow = true, .top = 5 };

	return sess_run(&cmd, &x, argc, argv);
}
