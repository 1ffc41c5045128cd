/* offcpu — `ampstat offcpu`: where the server's threads wait, per role:
 * the time from each switch-out to the next switch-in, by the kernel and
 * user stacks taken at the switch-out and the category of the wait
 * (bpf/offcpu.bpf.c).  --folded prints one line per stack for flame graphs
 * (flamegraph.pl, speedscope, inferno):
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
 * Without --folded: per role, the time off CPU by category and the
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
#include "ampstat/mode.h"
#include "ampstat/roles.h"
#include "ampstat/sym.h"
#include "offcpu.skel.h"

#define MAX_PROGS 8
#define MAX_DEPTH 127
#define MAX_SYMS 64

struct oentry {
	struct ampstat_off_key k;
	struct ampstat_off_val v;
	int role;
};

struct syms {
	pid_t pid[MAX_SYMS];
	struct sym *s[MAX_SYMS];
	int n;
	struct sym *kernel;
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

static struct sym *user_syms(struct syms *sy, pid_t pid)
{
	for (int i = 0; i < sy->n; i++)
		if (sy->pid[i] == pid)
			return sy->s[i];
	if (sy->n == MAX_SYMS)
		return NULL;
	sy->pid[sy->n] = pid;
	sy->s[sy->n] = sym_open(pid);
	return sy->s[sy->n++];
}

/* a frame's name without its offset: "func+0x1a" -> "func",
 * "[libc.so.6+0x1234]" -> "[libc.so.6]"; semicolons would split a frame */
static void frame_name(struct sym *s, __u64 addr, char *out, size_t n)
{
	char buf[256], *plus;

	if (!s) {
		snprintf(out, n, "0x%llx", (unsigned long long)addr);
		return;
	}
	sym_resolve(s, addr, buf, sizeof(buf));
	if (buf[0] == '[') {
		plus = strrchr(buf, '+');
		if (plus)
			snprintf(plus, sizeof(buf) - (size_t)(plus - buf), "]");
	} else if (strncmp(buf, "0x", 2)) {
		plus = strchr(buf, '+');
		if (plus) {
			char *rest = strchr(plus, ' ');	/* " [module]" */
			if (rest)
				memmove(plus, rest, strlen(rest) + 1);
			else
				*plus = 0;
		}
	}
	for (char *c = buf; *c; c++)
		if (*c == ';' || *c == '\n')
			*c = '_';
	snprintf(out, n, "%s", buf);
}

/* the tracing's own frames at the leaf of a kernel stack taken in
 * sched_switch: the tracepoint, the BPF trampoline and program */
static bool tracing_frame(const char *name)
{
	return !strncmp(name, "bpf_", 4) || !strncmp(name, "__traceiter_", 12) ||
	       !strncmp(name, "__bpf_trace", 11) || strstr(name, " [bpf]");
}

/* the frames of stack id, outermost first, each after sep */
static void put_stack(FILE *f, int fd, __s32 id, struct sym *s, const char *missed, const char *sep)
{
	__u64 ips[MAX_DEPTH];
	int depth = 0, leaf = 0;
	char name[256];

	if (id < 0 || bpf_map_lookup_elem(fd, &id, ips)) {
		fprintf(f, "%s%s", sep, missed);
		return;
	}
	while (depth < MAX_DEPTH && ips[depth])
		depth++;
	while (leaf < depth && sym_is_kernel(ips[leaf])) {
		frame_name(s, ips[leaf], name, sizeof(name));
		if (!tracing_frame(name))
			break;
		leaf++;
	}
	for (int i = depth - 1; i >= leaf; i--) {
		frame_name(s, ips[i], name, sizeof(name));
		fprintf(f, "%s%s", i == depth - 1 && *sep == ' ' ? "" : sep, name);
	}
}

static int cmp_entries(const void *a, const void *b)
{
	const struct oentry *x = a, *y = b;

	if (x->role != y->role)
		return x->role - y->role;
	return x->v.ns == y->v.ns ? 0 : x->v.ns < y->v.ns ? 1 : -1;
}

/* the map is keyed by tid: note the roles of the live threads now, so one
 * that exits before the report keeps its role */
static void cpu_tick(void *ctx)
{
	struct mode_targets *mt = ctx;

	mode_cpu_sample(mt);
	roles_watch(mt->cpu_tgid, mt->ncpu, false);
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
"usage: ampstat offcpu -p PID [-d SEC] [--folded] [--min-us N] [-T N]\n"
"                      [--role NAME=REGEX]... [--no-follow] [-v]\n"
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
"      --min-us N       leave out waits shorter than N microseconds\n"
"  -T, --top N          stacks per role in the table (default 5)\n"
"      --role NAME=RE   a role for threads whose name matches RE (or a\n"
"                       selector: cmd: exe: leader: thread:)\n"
"      --no-follow      do not trace processes the target forks\n"
"  -v, --verbose        libbpf debug output\n"
"\n"
"examples:\n"
"  ampstat offcpu -p $(pgrep -x amped) -d 10 --folded > off.folded\n"
"  flamegraph.pl --countname us < off.folded > off.svg\n"
"  ampstat offcpu -p 1234 -d 5 --min-us 1000 -T 3\n"
"\n");
	mode_usage_maps(f, "offcpu");
	fprintf(f,
"Exit status: 0 ok (duration, Ctrl-C or the target exited: the stacks are\n"
"printed), 1 runtime error (not root, no BTF, no such process), 2 usage error.\n");
}

int cmd_offcpu(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "folded", no_argument, NULL, 'f' },
		{ "min-us", required_argument, NULL, 'm' },
		{ "top", required_argument, NULL, 'T' },
		{ "role", required_argument, NULL, 'r' },
		{ "no-follow", no_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct offcpu_bpf *skel = NULL;
	struct mode_targets mt = { 0 };
	struct mode_pin pins = { 0 };
	struct tr_prog p0[MAX_PROGS], p1[MAX_PROGS];
	struct syms sy = { 0 };
	struct oentry *ent = NULL;
	int nent = 0, cap = 0;
	bool folded = false, verbose = false, follow = true;
	double dur = 0;
	long min_us = 0, top = 5;
	int c, rc = 1, e, np, stats_fd = -1, sfd, ofd;
	pid_t pid = 0;
	char comm[32];
	const char *why;
	__u64 t0, t1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:d:fT:vh", longopts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'p':
			if (!mode_parse_pid(optarg, &pid))
				return 2;
			break;
		case 'd':
			if (!mode_parse_secs(optarg, &dur))
				return 2;
			break;
		case 'f': folded = true; break;
		case 'm':
			min_us = strtol(optarg, &end, 10);
			if (end == optarg || *end || min_us < 0 || min_us > 3600000000L) {
				fprintf(stderr, "ampstat: bad --min-us '%s'\n", optarg);
				return 2;
			}
			break;
		case 'T':
			top = strtol(optarg, &end, 10);
			if (end == optarg || *end || top < 0 || top > 100000) {
				fprintf(stderr, "ampstat: bad --top '%s'\n", optarg);
				return 2;
			}
			break;
		case 'r':
			if (roles_add(optarg))
				return 2;
			break;
		case 'F': follow = false; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !pid) {
		if (optind != argc)
			fprintf(stderr, "ampstat: unexpected argument '%s'\n", argv[optind]);
		else
			fprintf(stderr, "ampstat: offcpu needs -p PID\n");
		usage(stderr);
		return 2;
	}
	if ((rc = mode_check(&pid, comm, sizeof(comm))))
		goto cleanup;
	rc = 1;
	mode_libbpf_print(verbose);
	mode_signals();
	skel = offcpu_bpf__open();
	if (!skel) {
		fprintf(stderr, "ampstat: open offcpu.bpf.o: %s\n", strerror(errno));
		goto cleanup;
	}
	skel->rodata->follow_forks = follow;
	skel->rodata->min_ns = (__u64)min_us * 1000;
	mode_tp_select(skel->obj);
	e = offcpu_bpf__load(skel);
	if (e) {
		fprintf(stderr, "ampstat: load offcpu.bpf.o: %s (-v shows the verifier log)\n", strerror(-e));
		goto cleanup;
	}
	mode_pin(&pins, skel->obj, pid, "offcpu");
	e = mode_targets_open(&mt, bpf_map__fd(skel->maps.targets), bpf_map__fd(skel->maps.fast));
	if (!e)
		e = mode_targets_add(&mt, pid);
	if (e) {
		fprintf(stderr, "ampstat: traced set: %s\n", strerror(-e));
		goto cleanup;
	}
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	e = offcpu_bpf__attach(skel);
	if (e) {
		fprintf(stderr, "ampstat: attach sched_switch: %s\n", strerror(-e));
		goto cleanup;
	}
	if (follow)
		mode_targets_children(&mt, pid);
	/* the target's mappings now, while it surely lives */
	user_syms(&sy, pid);
	t0 = mode_now_ns();
	cpu_tick(&mt);
	np = mode_progs(skel->obj, p0, MAX_PROGS);
	fprintf(stderr, "ampstat: tracing pid %d (%s) off-CPU stacks; Ctrl-C to stop\n", (int)pid, comm);
	why = mode_wait(pid, dur, t0, 0.5, cpu_tick, &mt);
	mode_cpu_sample(&mt);
	offcpu_bpf__detach(skel);
	t1 = mode_now_ns();
	mode_progs(skel->obj, p1, MAX_PROGS);
	roles_watch(mt.cpu_tgid, mt.ncpu, true);
	sfd = bpf_map__fd(skel->maps.stacks);
	ofd = bpf_map__fd(skel->maps.offcpu);
	{
		struct ampstat_off_key key, next;
		void *prev = NULL;

		while (bpf_map_get_next_key(ofd, prev, &next) == 0) {
			struct ampstat_off_val v;
			char cm[AMPSTAT_COMM_LEN + 1];

			key = next;
			prev = &key;
			if (bpf_map_lookup_elem(ofd, &key, &v))
				continue;
			if (nent == cap) {
				int n = cap ? cap * 2 : 256;
				struct oentry *a = realloc(ent, (size_t)n * sizeof(*a));
				if (!a) {
					fprintf(stderr, "ampstat: out of memory\n");
					goto cleanup;
				}
				ent = a;
				cap = n;
			}
			memcpy(cm, key.comm, AMPSTAT_COMM_LEN);
			cm[AMPSTAT_COMM_LEN] = 0;
			ent[nent].k = key;
			ent[nent].v = v;
			ent[nent].role = roles_of_thread((pid_t)key.tgid, (pid_t)key.tid, cm);
			nent++;
		}
	}
	nent = merge_threads(ent, nent);
	qsort(ent, (size_t)nent, sizeof(*ent), cmp_entries);
	sy.kernel = sym_open(0);
	if (folded) {
		for (int i = 0; i < nent; i++) {
			struct oentry *o = &ent[i];
			char cm[AMPSTAT_COMM_LEN + 1];
			__u64 us = (o->v.ns + 500) / 1000;

			if (!us)
				continue;
			memcpy(cm, o->k.comm, AMPSTAT_COMM_LEN);
			cm[AMPSTAT_COMM_LEN] = 0;
			for (char *q = cm; *q; q++)
				if (*q == ';' || *q == ' ')
					*q = '_';
			printf("%s;%s;[%s]", roles_name(o->role), cm, state_name(o->k.state));
			put_stack(stdout, sfd, o->k.ustack, user_syms(&sy, (pid_t)o->k.tgid), "[missed user stack]",
				  ";");
			put_stack(stdout, sfd, o->k.kstack, sy.kernel, "[missed kernel stack]", ";");
			printf(" %llu\n", (unsigned long long)us);
		}
	} else {
		int nroles = roles_count();

		printf("ampstat offcpu  pid %d (%s)  %.2f s (%s)\n", (int)pid, comm, (double)(t1 - t0) / 1e9, why);
		for (int r = 0; r < nroles; r++) {
			__u64 by[AMPSTAT_NSLOT] = { 0 }, tot = 0;
			int shown = 0;

			for (int i = 0; i < nent; i++)
				if (ent[i].role == r) {
					by[ent[i].k.state & (AMPSTAT_NSLOT - 1)] += ent[i].v.ns;
					tot += ent[i].v.ns;
				}
			if (!tot)
				continue;
			printf("\n%s: off CPU %.3f s: blocked-io %.3f, wait-idle %.3f, wait-other %.3f, runq %.3f\n",
			       roles_name(r), (double)tot / 1e9, (double)by[AS_BLOCKED] / 1e9,
			       (double)by[AS_WAIT_IDLE] / 1e9, (double)by[AS_WAIT_OTHER] / 1e9,
			       (double)by[AS_RUNQ] / 1e9);
			for (int i = 0; i < nent && shown < top; i++) {
				struct oentry *o = &ent[i];
				char cm[AMPSTAT_COMM_LEN + 1];

				if (o->role != r)
					continue;
				shown++;
				memcpy(cm, o->k.comm, AMPSTAT_COMM_LEN);
				cm[AMPSTAT_COMM_LEN] = 0;
				printf("  %10.3f ms %8llu x  %s [%s]\n    user:   ", (double)o->v.ns / 1e6,
				       (unsigned long long)o->v.count, cm, state_name(o->k.state));
				put_stack(stdout, sfd, o->k.ustack, user_syms(&sy, (pid_t)o->k.tgid),
					  "[missed user stack]", " ");
				printf("\n    kernel: ");
				put_stack(stdout, sfd, o->k.kstack, sy.kernel, "[missed kernel stack]", " ");
				printf("\n");
			}
		}
		mode_cost_text(stdout, p0, p1, np, mode_cpu_ns(&mt));
		if (skel->bss->dropped_stacks || skel->bss->dropped_entries)
			printf("dropped: stacks %llu, entries %llu\n", (unsigned long long)skel->bss->dropped_stacks,
			       (unsigned long long)skel->bss->dropped_entries);
	}
	fflush(stdout);
	/* the cost on stderr too, where --folded output leaves room for it */
	if (folded) {
		mode_cost_text(stderr, p0, p1, np, mode_cpu_ns(&mt));
		if (skel->bss->dropped_stacks || skel->bss->dropped_entries)
			fprintf(stderr, "dropped: stacks %llu, entries %llu\n",
				(unsigned long long)skel->bss->dropped_stacks,
				(unsigned long long)skel->bss->dropped_entries);
	}
	rc = 0;
cleanup:
	mode_unpin(&pins);
	mode_targets_close(&mt);
	offcpu_bpf__destroy(skel);
	if (stats_fd >= 0)
		close(stats_fd);
	for (int i = 0; i < sy.n; i++)
		sym_close(sy.s[i]);
	sym_close(sy.kernel);
	free(ent);
	roles_free();
	return rc;
}
