/* profile — `ampstat profile`: where the server's threads spend their CPU,
 * per role and by category, as Pariag et al. (2007, Table 1) grouped
 * OProfile's samples: kernel network stack, event notification, scheduling
 * and context switches, file system and page cache, data copy, the server's
 * HTTP code, user-level thread management, memory allocation, other user,
 * other kernel.  CPU-clock samples at -F HZ on every CPU (bpf/profile.bpf.c)
 * keep the kernel and user stacks of the traced threads; each sample is
 * then put in one category by the one table of rules (user/ampstat/pcat.h,
 * the built-in table in pcat.c, extended by --rules files tried first):
 *
 *   A sample taken in kernel mode is classified by its kernel frames, one
 *   in user mode by its user frames.  The frames are tried from the leaf
 *   outwards, and at each frame the rules in order; the first rule that
 *   matches decides.  A sample whose frames match no rule is "other
 *   kernel" or "other user".
 *
 * Leaf first, because the innermost named function is the work being done
 * (a copy inside tcp_sendmsg is data copy; a spin lock inside ep_poll is
 * event notification), as a flat OProfile profile counts it, but without
 * a rule for every helper function.
 *
 * --folded prints, as `ampstat offcpu` does,
 *   ROLE;COMM;[CATEGORY];USER FRAMES (outermost first);KERNEL FRAMES SAMPLES
 * and --svg / --html draw them (user/ampstat/flame.h).  The CPU time of a
 * category is its samples times the sampling period.
 *
 * What sampling cannot see: the timer interrupt that takes a sample waits
 * while interrupts are off, so such code counts where they come back on
 * (a context switch's end in finish_task_switch); user stacks are walked
 * by frame pointers, so code built without them (Debian's nginx and
 * lighttpd, libc) gives a correct leaf but outer frames that may be
 * addresses in no mapping ("0x..."); the leaf decides most samples.  A
 * stripped binary is named through .dynsym (sym.h), code no symbol covers
 * as "[file]". */
#include <errno.h>
#include <getopt.h>
#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ampstat_profile.h"
#include "ampstat/cmd.h"
#include "ampstat/flame.h"
#include "ampstat/pcat.h"
#include "ampstat/roles.h"
#include "ampstat/sess.h"
#include "ampstat/stk.h"
#include "ampstat/sym.h"
#include "profile.skel.h"

#define FREQ_DEFAULT_HZ 99	/* not a divisor of the 250 Hz tick: no lock-step */
#define FREQ_MAX_HZ 10000
#define RULES_MAX 1024

/* a record of stk_read: the key, the value right after it */
struct pentry {
	struct ampstat_prof_key k;
	__u64 n;
	int role;
	int cat;
	char decided[256];	/* the frame whose rule decided, or the leaf */
};

struct prof_ctx {
	struct profile_bpf *skel;
	struct pcat *rules;	/* --rules ones first, then the built-in table */
	long freq_hz;
	int top;
	bool folded, follow;
	const char *svg_path, *html_path;
	struct flame *fl;
	int ncpu, *perf_fds;
	struct bpf_link **links;
	struct stk_syms sy;
	struct pentry *ent;
	int nent, cap;
};

/* the rules: the --rules files' (read as the options come), then the
 * built-in table.  0, or 1 after a message. */
static int all_rules(struct prof_ctx *x)
{
	if ((!x->rules && !(x->rules = pcat_new())) || pcat_builtin(x->rules)) {
		fprintf(stderr, "ampstat: out of memory\n");
		return 1;
	}
	return 0;
}

static int read_rules(struct prof_ctx *x, const char *path)
{
	if (!x->rules && !(x->rules = pcat_new())) {
		fprintf(stderr, "ampstat: out of memory\n");
		return 1;
	}
	return pcat_read(x->rules, path) ? 2 : 0;
}

/* the category of one sample by its frames (pcat.h): a kernel-mode
 * sample's kernel frames, a user-mode one's user frames.  decided gets the
 * frame that decided, or the leaf when none did. */
static int classify(struct prof_ctx *x, const struct ampstat_prof_key *k, char *decided, size_t n)
{
	int sfd = bpf_map__fd(x->skel->maps.stacks), cat, at;
	struct sym *s = k->user ? stk_user_syms(&x->sy, (pid_t)k->tgid) : x->sy.kernel;
	__u64 ips[STK_MAX_DEPTH];
	int depth = stk_frames(sfd, k->user ? k->ustack : k->kstack, s, ips, STK_MAX_DEPTH);
	static char names[STK_MAX_DEPTH][256];
	struct pcat_frame fr[STK_MAX_DEPTH];

	for (int i = 0; i < depth; i++) {
		stk_frame_name(s, ips[i], names[i], sizeof(names[i]));
		fr[i].name = names[i];
		fr[i].file = k->user ? sym_file(s, ips[i]) : NULL;
	}
	cat = pcat_match(x->rules, fr, depth < 0 ? 0 : depth, k->user, &at);
	if (depth < 0)
		snprintf(decided, n, "%s", k->user ? "[missed user stack]" : "[missed kernel stack]");
	else
		snprintf(decided, n, "%s", depth ? names[at < 0 ? 0 : at] : "[no frames]");
	return cat;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampstat profile -p PID [-d SEC] [-F HZ] [--rules FILE]... [--json]\n"
"                       [--folded] [--svg FILE] [--html FILE] [-T N]\n"
"                       [--role NAME=REGEX]... [--no-follow] [-v]\n"
"       ampstat profile --list-rules [--rules FILE]...\n"
"\n"
"Where the server's CPU time goes, per role and by category, from CPU-clock\n"
"samples with stacks (as Pariag et al.'s Table 1 does with OProfile):\n");
	for (int c = 0; c < PCAT_N; c++)
		fprintf(f, "  %-13s %s\n", pcat_id[c], pcat_title[c]);
	fprintf(f,
"A sample taken in the kernel is put in a category by its kernel frames, one\n"
"in user mode by its user frames: the frames are tried from the leaf outwards,\n"
"at each the rules in order; the first match decides, and no match at all is\n"
"other-kernel or other-user.  A rule is 'PATTERN CATEGORY': a glob on the\n"
"frame's name as --folded prints it, or exe:GLOB on the name of the file a\n"
"user frame runs from (exe:nginx is all of nginx's own code).  -T shows the\n"
"frames that decided, to see what a rule would move.\n"
"\n"
"  -p, --pid PID        the server to profile (with the processes it forks)\n"
"  -d, --duration SEC   stop after SEC seconds (default: Ctrl-C or exit)\n"
"  -F, --freq HZ        samples per second on each CPU (default %d, at most %d)\n"
"      --rules FILE     more rules, tried before the built-in ones: lines\n"
"                       'PATTERN CATEGORY', '#' comments (may repeat)\n"
"      --list-rules     print the rules in the order they are tried, and exit\n"
"      --json           one JSON object: per role, each category's samples,\n"
"                       share and CPU time\n"
"  -f, --folded         folded stacks for flame graphs:\n"
"                       ROLE;COMM;[CATEGORY];user frames;kernel frames SAMPLES\n"
"      --svg FILE       write the flame graph of those stacks as SVG\n"
"      --html FILE      the same flame graph in an HTML page\n"
"  -T, --top N          deciding frames per role in the table (default 5)\n"
"      --role NAME=RE   a role for threads whose name matches RE (or a\n"
"                       selector: cmd: exe: leader: thread:)\n"
"      --no-follow      do not trace processes the target forks\n"
"  -v, --verbose        libbpf debug output\n"
"\n"
"examples:\n"
"  ampstat profile -p $(pgrep -x amped) -d 10\n"
"  ampstat profile -p $(pgrep -f 'nginx: master') -d 10 -F 999 --json\n"
"  ampstat profile -p 1234 -d 5 --folded --svg cpu.svg > cpu.folded\n"
"  echo 'my_parse_* http' > my.rules; ampstat profile -p 1234 -d 5 --rules my.rules\n"
"\n", FREQ_DEFAULT_HZ, FREQ_MAX_HZ);
	mode_usage_maps(f, "profile");
	fprintf(f,
"Exit status: 0 ok (duration, Ctrl-C or the target exited: the profile is\n"
"printed), 1 runtime error (not root, no BTF, no such process), 2 usage error\n"
"(also a bad --rules file).\n");
}

static int option(struct sess *s, void *ctx, int c, const char *arg)
{
	struct prof_ctx *x = ctx;

	(void)s;
	switch (c) {
	case 'f': x->folded = true; return 0;
	case 'S': x->svg_path = arg; return 0;
	case 'H': x->html_path = arg; return 0;
	case 'R': return read_rules(x, arg);
	case 'L':
		fprintf(stderr, "ampstat: --list-rules takes no -p\n");
		return 2;
	case 'F':
		if (!mode_parse_long(arg, &x->freq_hz) || x->freq_hz < 1 || x->freq_hz > FREQ_MAX_HZ) {
			fprintf(stderr, "ampstat: bad --freq '%s' (1-%d)\n", arg, FREQ_MAX_HZ);
			return 2;
		}
		return 0;
	case 'T': return mode_parse_top(arg, 100000, &x->top) ? 0 : 2;
	case 'r': return roles_add(arg) ? 2 : 0;
	case 'N': x->follow = false; return 0;
	}
	return 2;
}

static int check(struct sess *s, void *ctx)
{
	struct prof_ctx *x = ctx;

	if (s->json && x->folded) {
		fprintf(stderr, "ampstat: --json and --folded both write to stdout: choose one\n");
		return 2;
	}
	return all_rules(x);
}

/* one CPU-clock event per CPU, the program on each.  0, or 1 after a
 * message. */
static int attach_perf(struct prof_ctx *x)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(a),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.freq = 0,
		.sample_period = 1000000000ULL / (unsigned long)x->freq_hz,	/* ns */
	};
	int on = 0;

	x->ncpu = libbpf_num_possible_cpus();
	if (x->ncpu <= 0) {
		fprintf(stderr, "ampstat: cannot count CPUs\n");
		return 1;
	}
	x->perf_fds = malloc((size_t)x->ncpu * sizeof(int));
	x->links = calloc((size_t)x->ncpu, sizeof(*x->links));
	if (!x->perf_fds || !x->links) {
		fprintf(stderr, "ampstat: out of memory\n");
		return 1;
	}
	for (int c = 0; c < x->ncpu; c++)
		x->perf_fds[c] = -1;
	for (int c = 0; c < x->ncpu; c++) {
		x->perf_fds[c] = (int)syscall(__NR_perf_event_open, &a, -1, c, -1, PERF_FLAG_FD_CLOEXEC);
		if (x->perf_fds[c] < 0) {
			if (errno == ENODEV)	/* a possible CPU that is offline */
				continue;
			fprintf(stderr, "ampstat: perf_event_open(cpu-clock, cpu %d): %s\n", c, strerror(errno));
			return 1;
		}
		x->links[c] = bpf_program__attach_perf_event(x->skel->progs.as_profile, x->perf_fds[c]);
		if (!x->links[c]) {
			fprintf(stderr, "ampstat: attach the sampling program on cpu %d: %s\n", c, strerror(errno));
			return 1;
		}
		on++;
	}
	if (!on) {
		fprintf(stderr, "ampstat: no CPU to sample\n");
		return 1;
	}
	return 0;
}

static void detach_perf(struct prof_ctx *x)
{
	for (int c = 0; x->links && c < x->ncpu; c++) {
		bpf_link__destroy(x->links[c]);
		x->links[c] = NULL;
	}
	for (int c = 0; x->perf_fds && c < x->ncpu; c++) {
		if (x->perf_fds[c] >= 0)
			close(x->perf_fds[c]);
		x->perf_fds[c] = -1;
	}
}

static int start(struct sess *s, void *ctx)
{
	struct prof_ctx *x = ctx;

	if (stk_flame_open(x->svg_path, x->html_path, &x->fl))
		return 1;
	x->skel = profile_bpf__open();
	if (!x->skel) {
		fprintf(stderr, "ampstat: open profile.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	x->skel->rodata->follow_forks = x->follow;
	if (sess_load(s, x->skel->skeleton))
		return 1;
	sess_pin(s, x->skel->obj, "profile", NULL);
	/* the skeleton attaches the fork and exit programs; the sampling
	 * program has no automatic attachment: one perf event per CPU */
	if (sess_targets(s, bpf_map__fd(x->skel->maps.targets), bpf_map__fd(x->skel->maps.fast)) ||
	    sess_attach(s, x->skel->skeleton) || attach_perf(x))
		return 1;
	stk_user_syms(&x->sy, s->pid);	/* the target's mappings while it surely lives */
	fprintf(stderr, "ampstat: tracing pid %d (%s) CPU samples at %ld Hz; Ctrl-C to stop\n", (int)s->pid,
		s->comm, x->freq_hz);
	return 0;
}

static int cmp_keys(const void *a, const void *b)
{
	const struct pentry *x = a, *y = b;

	if (x->role != y->role)
		return x->role - y->role;
	return memcmp(&x->k, &y->k, sizeof(x->k));
}

/* the map's entries with their roles and categories, the threads of a role
 * with the same name and stacks summed (the output has no tids).  0 /
 * -ENOMEM */
static int read_entries(struct prof_ctx *x)
{
	void *recs = x->ent;
	int out = 0, e = stk_read(bpf_map__fd(x->skel->maps.profile), sizeof(struct ampstat_prof_key),
				  sizeof(__u64), sizeof(struct pentry), &recs, &x->nent, &x->cap);

	x->ent = recs;
	if (e)
		return e;
	for (int i = 0; i < x->nent; i++) {
		char cm[AMPSTAT_COMM_LEN + 1];

		snprintf(cm, sizeof(cm), "%.*s", AMPSTAT_COMM_LEN, x->ent[i].k.comm);
		x->ent[i].role = roles_of_thread((pid_t)x->ent[i].k.tgid, (pid_t)x->ent[i].k.tid, cm);
		x->ent[i].k.tid = 0;
	}
	qsort(x->ent, (size_t)x->nent, sizeof(*x->ent), cmp_keys);
	for (int i = 0; i < x->nent; i++) {
		if (out && !cmp_keys(&x->ent[out - 1], &x->ent[i]))
			x->ent[out - 1].n += x->ent[i].n;
		else
			x->ent[out++] = x->ent[i];
	}
	x->nent = out;
	for (int i = 0; i < x->nent; i++)
		x->ent[i].cat = classify(x, &x->ent[i].k, x->ent[i].decided, sizeof(x->ent[i].decided));
	return 0;
}

/* the folded lines: printed (--folded) and/or drawn (--svg, --html).
 * 0 / -ENOMEM */
static int folded_lines(struct prof_ctx *x)
{
	int sfd = bpf_map__fd(x->skel->maps.stacks);

	for (int i = 0; i < x->nent; i++) {
		struct pentry *p = &x->ent[i];
		struct stk_line l = {
			.role = roles_name(p->role), .comm = p->k.comm, .cat = pcat_id[p->cat], .tgid = p->k.tgid,
			.ustack = p->k.ustack, .kstack = p->k.kstack, .kernel = !p->k.user, .count = p->n,
		};

		if (stk_fold(x->folded ? stdout : NULL, x->fl, &x->sy, sfd, &l))
			return -ENOMEM;
	}
	return 0;
}

struct tally {
	__u64 by[ROLES_MAX + 1][PCAT_N];	/* the last row: all roles */
	__u64 tot[ROLES_MAX + 1];
};

static void tally(const struct prof_ctx *x, struct tally *t)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < x->nent; i++) {
		int r = x->ent[i].role < ROLES_MAX ? x->ent[i].role : ROLES_MAX - 1;

		t->by[r][x->ent[i].cat] += x->ent[i].n;
		t->by[ROLES_MAX][x->ent[i].cat] += x->ent[i].n;
		t->tot[r] += x->ent[i].n;
		t->tot[ROLES_MAX] += x->ent[i].n;
	}
}

/* the -T heaviest deciding frames of role r (entries of one frame summed) */
static void print_top(const struct prof_ctx *x, int r, __u64 tot)
{
	struct { const char *name; int cat; __u64 n; } *f = calloc((size_t)x->nent + 1, sizeof(*f));
	int nf = 0;

	if (!f)
		return;
	for (int i = 0; i < x->nent; i++) {
		int j;

		if (x->ent[i].role != r)
			continue;
		for (j = 0; j < nf; j++)
			if (f[j].cat == x->ent[i].cat && !strcmp(f[j].name, x->ent[i].decided))
				break;
		if (j == nf) {
			f[nf].name = x->ent[i].decided;
			f[nf].cat = x->ent[i].cat;
			nf++;
		}
		f[j].n += x->ent[i].n;
	}
	for (int shown = 0; shown < x->top && shown < nf; shown++) {
		int best = shown;

		for (int j = shown + 1; j < nf; j++)
			if (f[j].n > f[best].n)
				best = j;
		if (best != shown) {
			__typeof__(*f) t = f[shown];

			f[shown] = f[best];
			f[best] = t;
		}
		printf("    %5.1f%%  %-12s %s\n", 100.0 * (double)f[shown].n / (double)tot, pcat_id[f[shown].cat],
		       f[shown].name);
	}
	free(f);
}

static void print_table(const struct prof_ctx *x, const struct tally *t, __u64 period_ns)
{
	int cols[ROLES_MAX + 1], nc = 0;

	for (int r = 0; r < roles_count() && r < ROLES_MAX; r++)
		if (t->tot[r])
			cols[nc++] = r;
	if (!t->tot[ROLES_MAX]) {
		printf("no samples of the target: it did not run on a CPU\n");
		return;
	}
	if (nc > 1)
		cols[nc++] = ROLES_MAX;
	printf("%-26s", "category (share, ms)");
	for (int i = 0; i < nc; i++)
		printf(" %17s", cols[i] == ROLES_MAX ? "all" : roles_name(cols[i]));
	printf("\n");
	for (int c = 0; c < PCAT_N; c++) {
		printf("%-26s", pcat_title[c]);
		for (int i = 0; i < nc; i++) {
			__u64 n = t->by[cols[i]][c];

			printf("    %5.1f%% %8.1f", 100.0 * (double)n / (double)t->tot[cols[i]],
			       (double)(n * period_ns) / 1e6);
		}
		printf("\n");
	}
	printf("%-26s", "samples (CPU ms)");
	for (int i = 0; i < nc; i++)
		printf(" %7llu (%7.1f)", (unsigned long long)t->tot[cols[i]],
		       (double)(t->tot[cols[i]] * period_ns) / 1e6);
	printf("\n");
	if (!x->top)
		return;
	for (int i = 0; i < nc; i++) {
		if (cols[i] == ROLES_MAX)
			continue;
		printf("\n%s: the frames that decided\n", roles_name(cols[i]));
		print_top(x, cols[i], t->tot[cols[i]]);
	}
}

static void json_cats(FILE *f, const struct tally *t, int r, __u64 period_ns)
{
	fprintf(f, "\"samples\":%llu,\"cpu_ns\":%llu,\"categories\":{", (unsigned long long)t->tot[r],
		(unsigned long long)(t->tot[r] * period_ns));
	for (int c = 0; c < PCAT_N; c++) {
		__u64 n = t->by[r][c];

		fprintf(f, "%s\"%s\":{\"samples\":%llu,\"share\":%.4f,\"cpu_ns\":%llu}", c ? "," : "", pcat_id[c],
			(unsigned long long)n, t->tot[r] ? (double)n / (double)t->tot[r] : 0.0,
			(unsigned long long)(n * period_ns));
	}
	fprintf(f, "}");
}

static void print_json(const struct prof_ctx *x, const struct sess *s, const struct tally *t, __u64 period_ns,
		       double dur_s, const char *why, const struct tr_prog *p1, __u64 cpu)
{
	int first = 1;

	printf("{\"pid\":%d,\"comm\":", (int)s->pid);
	mode_json_str(stdout, s->comm);
	printf(",\"duration_s\":%.3f,\"end\":", dur_s);
	mode_json_str(stdout, why);
	printf(",\"freq_hz\":%ld,\"period_ns\":%llu,\"category_names\":{", x->freq_hz,
	       (unsigned long long)period_ns);
	for (int c = 0; c < PCAT_N; c++)
		printf("%s\"%s\":\"%s\"", c ? "," : "", pcat_id[c], pcat_title[c]);
	printf("},\"roles\":[");
	for (int r = 0; r < roles_count() && r < ROLES_MAX; r++) {
		if (!t->tot[r])
			continue;
		printf("%s{\"role\":", first ? "" : ",");
		mode_json_str(stdout, roles_name(r));
		printf(",");
		json_cats(stdout, t, r, period_ns);
		printf("}");
		first = 0;
	}
	printf("],\"all\":{");
	json_cats(stdout, t, ROLES_MAX, period_ns);
	printf("},\"dropped\":{\"stacks\":%llu,\"entries\":%llu},",
	       (unsigned long long)x->skel->bss->dropped_stacks, (unsigned long long)x->skel->bss->dropped_entries);
	sess_cost(stdout, true, s->p0, p1, s->nprogs, cpu, dur_s);
	printf("}\n");
}

static int stop(struct sess *s, void *ctx, const char *why)
{
	struct prof_ctx *x = ctx;
	struct tr_prog p1[SESS_PROG_MAX];
	__u64 cpu = sess_cpu_ns(s), period_ns = 1000000000ULL / (unsigned long)x->freq_hz;
	FILE *cf = x->folded ? stderr : stdout;	/* the cost line */
	struct tally t;
	double dur_s;

	detach_perf(x);
	profile_bpf__detach(x->skel);
	dur_s = (double)(mode_now_ns() - s->t0_ns) / 1e9;
	sess_progs(s, p1, SESS_PROG_MAX);
	x->sy.kernel = sym_open(0);
	if (read_entries(x) || ((x->folded || x->fl) && folded_lines(x))) {
		fprintf(stderr, "ampstat: out of memory\n");
		return 1;
	}
	if (x->fl) {
		char title[128];

		snprintf(title, sizeof(title), "ampstat profile: pid %d (%s), %.2f s at %ld Hz", (int)s->pid,
			 s->comm, dur_s, x->freq_hz);
		if (stk_flame_write(x->svg_path, x->html_path, x->fl, title, "samples"))
			return 1;
	}
	tally(x, &t);
	if (s->json) {
		print_json(x, s, &t, period_ns, dur_s, why, p1, cpu);
		fflush(stdout);
		return 0;
	}
	if (x->folded) {
		fflush(stdout);
	} else {
		printf("ampstat profile  pid %d (%s)  %.2f s at %ld Hz (%s)\n\n", (int)s->pid, s->comm, dur_s,
		       x->freq_hz, why);
		print_table(x, &t, period_ns);
		printf("\n");
	}
	sess_cost(cf, false, s->p0, p1, s->nprogs, cpu, dur_s);
	if (x->skel->bss->dropped_stacks || x->skel->bss->dropped_entries)
		fprintf(cf, "dropped: stacks %llu, entries %llu\n", (unsigned long long)x->skel->bss->dropped_stacks,
			(unsigned long long)x->skel->bss->dropped_entries);
	fflush(cf);
	return 0;
}

static void cleanup(struct sess *s, void *ctx)
{
	struct prof_ctx *x = ctx;

	(void)s;
	detach_perf(x);
	free(x->links);
	free(x->perf_fds);
	profile_bpf__destroy(x->skel);
	stk_syms_free(&x->sy);
	free(x->ent);
	flame_free(x->fl);
}

/* --list-rules needs no target: the rules (with any --rules files) are
 * printed before the session would ask for -p.  -1: not asked for. */
static int list_only(struct prof_ctx *x, int argc, char **argv)
{
	bool asked = false;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--list-rules"))
			asked = true;
	if (!asked)
		return -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--list-rules"))
			continue;
		if (!strcmp(argv[i], "--rules") && i + 1 < argc) {
			if (read_rules(x, argv[++i]))
				return 2;
		} else if (!strncmp(argv[i], "--rules=", 8)) {
			if (read_rules(x, argv[i] + 8))
				return 2;
		} else {
			fprintf(stderr, "ampstat: --list-rules takes only --rules FILE, not '%s'\n", argv[i]);
			return 2;
		}
	}
	if (all_rules(x))
		return 1;
	printf("# ampstat profile rules: PATTERN CATEGORY, tried in this order at each frame\n# categories:");
	for (int c = 0; c < PCAT_N; c++)
		printf(" %s (%s)%s", pcat_id[c], pcat_title[c], c + 1 < PCAT_N ? "," : "\n");
	pcat_list(x->rules, stdout);
	return 0;
}

int cmd_profile(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "freq", required_argument, NULL, 'F' },
		{ "rules", required_argument, NULL, 'R' },
		{ "list-rules", no_argument, NULL, 'L' },
		{ "folded", no_argument, NULL, 'f' },
		{ "svg", required_argument, NULL, 'S' },
		{ "html", required_argument, NULL, 'H' },
		{ "top", required_argument, NULL, 'T' },
		{ "role", required_argument, NULL, 'r' },
		{ "no-follow", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct sess_cmd cmd = {
		.name = "profile", .usage = usage, .shortopts = "F:fT:", .longopts = longopts,
		.option = option, .check = check, .flags = SESS_JSON, .interval_s = 0.5, .start = start,
		.stop = stop, .cleanup = cleanup,
	};
	struct prof_ctx x = { .follow = true, .top = 5, .freq_hz = FREQ_DEFAULT_HZ };
	int rc = list_only(&x, argc, argv);

	if (rc < 0)
		rc = sess_run(&cmd, &x, argc, argv);
	pcat_free(x.rules);
	return rc;
}
