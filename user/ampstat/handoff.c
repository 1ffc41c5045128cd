/* handoff — `ampstat handoff`: where each hand-off between the dispatcher
 * and a helper waits.  A job's round trip dispatcher -> helper ->
 * dispatcher is cut into the helper's queue wait, its time on CPU, its time
 * blocked (D state, or another sleep), preempted, and the wake-up back to
 * the dispatcher; per helper (amped's helper processes, amted's helper
 * threads, uring's io-wq workers).
 *
 * bpf/handoff.bpf.c follows the chains from sched_waking and sched_switch
 * (include/ampstat_handoff.h) and sends each through a ring buffer; this
 * file sums them per helper and prints a table at the end (and a line per
 * interval with -i).  Chains that were not woken both ways are counted
 * apart: their round trip is not whole. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ampstat_handoff.h"
#include "ampstat/blocked.h"
#include "ampstat/cmd.h"
#include "ampstat/sess.h"
#include "handoff.skel.h"

#define MAX_HELPERS 256
#define NPH 6
#define NO_INTERIM_S 3600.0	/* the default -i: no interim lines */

static const char *const ph_name[NPH] = { "queue", "on_cpu", "blocked_io", "blocked_other", "runqueue",
					   "wakeup_back" };
static const char *const ph_head[NPH] = { "queue", "on CPU", "blk-io", "blk-oth", "runq", "back" };

/* chains of one kind (round trips, not woken back, continued) */
struct ho_sum {
	__u64 n, total_ns, ph_ns[NPH];
	__u64 *rt;			/* each one's length, for percentiles */
	size_t nrt, cap;
};

struct ho_helper {
	__u32 tid, tgid;
	char comm[AMPSTAT_COMM_LEN];
	struct ho_sum trip, noback, cont;
};

struct ho {
	struct handoff_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *lswitch, *lwaking;
	bool json, interim;
	pid_t pid;
	struct ho_helper h[MAX_HELPERS];
	int nh;
	__u64 helpers_overflow;		/* chains of helpers past MAX_HELPERS */
	struct ho_sum all_trip, all_noback, all_cont;
	__u64 last_n;			/* round trips at the last interim line */
};

static const char *kind_of(const struct ho *x, const struct ho_helper *h)
{
	if (!strncmp(h->comm, "iou-wrk", 7))
		return "io-wq";
	return (pid_t)h->tgid == x->pid ? "thread" : "process";
}

static void sum_add(struct ho_sum *s, const struct ampstat_ho_chain *c, const __u64 *ph)
{
	__u64 len = c->end_ns > c->wake_ns ? c->end_ns - c->wake_ns : 0;

	s->n++;
	s->total_ns += len;
	for (int i = 0; i < NPH; i++)
		s->ph_ns[i] += ph[i];
	if (s->nrt == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		__u64 *rt = realloc(s->rt, cap * sizeof(*rt));

		if (!rt)
			return;		/* the percentiles miss it; the sums do not */
		s->rt = rt;
		s->cap = cap;
	}
	s->rt[s->nrt++] = len;
}

static struct ho_helper *helper_of(struct ho *x, const struct ampstat_ho_chain *c)
{
	for (int i = 0; i < x->nh; i++)
		if (x->h[i].tid == c->helper_tid)
			return &x->h[i];
	if (x->nh == MAX_HELPERS)
		return NULL;
	x->h[x->nh].tid = c->helper_tid;
	x->h[x->nh].tgid = c->helper_tgid;
	memcpy(x->h[x->nh].comm, c->helper_comm, sizeof(x->h[x->nh].comm));
	x->h[x->nh].comm[sizeof(x->h[x->nh].comm) - 1] = 0;
	return &x->h[x->nh++];
}

static int on_chain(void *ctx, void *data, size_t len)
{
	struct ho *x = ctx;
	struct ampstat_ho_chain c;
	struct ho_helper *h;
	__u64 ph[NPH];

	if (len < sizeof(c))
		return 0;
	memcpy(&c, data, sizeof(c));
	ph[0] = c.queue_ns, ph[1] = c.oncpu_ns, ph[2] = c.io_ns, ph[3] = c.sleep_ns, ph[4] = c.runq_ns;
	ph[5] = c.back_ns;
	h = helper_of(x, &c);
	if (!h)
		x->helpers_overflow++;
	if (c.flags & AHO_CONT) {
		sum_add(&x->all_cont, &c, ph);
		if (h)
			sum_add(&h->cont, &c, ph);
	} else if (c.flags & AHO_BACK) {
		sum_add(&x->all_trip, &c, ph);
		if (h)
			sum_add(&h->trip, &c, ph);
	} else {
		sum_add(&x->all_noback, &c, ph);
		if (h)
			sum_add(&h->noback, &c, ph);
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* the q-th quantile (0..1) of s's lengths, sorted here; 0 when none */
static __u64 quantile(struct ho_sum *s, double q)
{
	size_t i;

	if (!s->nrt)
		return 0;
	qsort(s->rt, s->nrt, sizeof(s->rt[0]), cmp_u64);
	i = (size_t)(q * (double)(s->nrt - 1) + 0.5);
	return s->rt[i < s->nrt ? i : s->nrt - 1];
}

static double ms(__u64 ns)
{
	return (double)ns / 1e6;
}

static void text_row(const char *name, const char *kind, struct ho_sum *s)
{
	printf("  %-22s %-7s %7llu %9.3f %8.3f %8.3f |", name, kind, (unsigned long long)s->n,
	       s->n ? ms(s->total_ns) / (double)s->n : 0.0, ms(quantile(s, 0.5)), ms(quantile(s, 0.99)));
	for (int i = 0; i < NPH; i++)
		printf(" %7.3f", s->n ? ms(s->ph_ns[i]) / (double)s->n : 0.0);
	printf("\n");
}

/* "mean 0.412 ms: queue 12%, on CPU 30%, ..." of a kind of chain */
static void text_kind(const char *what, struct ho_sum *s)
{
	printf("%s: %llu", what, (unsigned long long)s->n);
	if (s->n && s->total_ns) {
		printf(", mean %.3f ms:", ms(s->total_ns) / (double)s->n);
		for (int i = 0; i < NPH; i++)
			printf(" %s %.0f%%", ph_head[i], 100.0 * (double)s->ph_ns[i] / (double)s->total_ns);
	}
	printf("\n");
}

static void json_sum(const char *name, struct ho_sum *s)
{
	printf("\"%s\":{\"chains\":%llu,\"total_ns\":%llu,\"mean_ns\":%llu,\"p50_ns\":%llu,\"p99_ns\":%llu,"
	       "\"max_ns\":%llu,\"phases_ns\":{", name, (unsigned long long)s->n,
	       (unsigned long long)s->total_ns, (unsigned long long)(s->n ? s->total_ns / s->n : 0),
	       (unsigned long long)quantile(s, 0.5), (unsigned long long)quantile(s, 0.99),
	       (unsigned long long)(s->nrt ? s->rt[s->nrt - 1] : 0));
	for (int i = 0; i < NPH; i++)
		printf("%s\"%s\":%llu", i ? "," : "", ph_name[i], (unsigned long long)s->ph_ns[i]);
	printf("}}");
}

static void summary(struct ho *x, struct sess *s, double dur_s, const char *why, const struct tr_prog *p1,
		    __u64 cpu_ns)
{
	__u64 phsum = 0;

	for (int i = 0; i < NPH; i++)
		phsum += x->all_trip.ph_ns[i];
	if (x->json) {
		printf("{\"type\":\"summary\",\"pid\":%d,\"comm\":", (int)s->pid);
		mode_json_str(stdout, s->comm);
		printf(",\"duration_s\":%.3f,\"end\":\"%s\",\"helpers\":[", dur_s, why);
		for (int i = 0; i < x->nh; i++) {
			struct ho_helper *h = &x->h[i];

			printf("%s{\"tid\":%u,\"tgid\":%u,\"comm\":", i ? "," : "", h->tid, h->tgid);
			mode_json_str(stdout, h->comm);
			printf(",\"kind\":\"%s\",", kind_of(x, h));
			json_sum("round_trips", &h->trip);
			putchar(',');
			json_sum("not_woken_back", &h->noback);
			putchar(',');
			json_sum("continued", &h->cont);
			putchar('}');
		}
		printf("],\"all\":{");
		json_sum("round_trips", &x->all_trip);
		putchar(',');
		json_sum("not_woken_back", &x->all_noback);
		putchar(',');
		json_sum("continued", &x->all_cont);
		printf("},\"helpers_overflow_chains\":%llu,\"dropped_chains\":%llu,\"dropped_state\":%llu,",
		       (unsigned long long)x->helpers_overflow,
		       (unsigned long long)x->skel->bss->dropped_chains,
		       (unsigned long long)x->skel->bss->dropped_state);
		sess_cost(stdout, true, s->p0, p1, s->nprogs, cpu_ns, dur_s);
		printf("}\n");
		fflush(stdout);
		return;
	}
	printf("ampstat handoff  pid %d (%s)  %.2f s  (%s)\n", (int)s->pid, s->comm, dur_s, why);
	printf("round trips dispatcher -> helper -> dispatcher, woken both ways: %llu\n",
	       (unsigned long long)x->all_trip.n);
	printf("  %-22s %-7s %7s %9s %8s %8s |", "helper", "kind", "trips", "mean ms", "p50 ms", "p99 ms");
	for (int i = 0; i < NPH; i++)
		printf(" %7s", ph_head[i]);
	printf("   (phases: mean ms)\n");
	for (int i = 0; i < x->nh; i++) {
		char name[48];

		if (!x->h[i].trip.n)
			continue;
		snprintf(name, sizeof(name), "%s/%u", x->h[i].comm, x->h[i].tid);
		text_row(name, kind_of(x, &x->h[i]), &x->h[i].trip);
	}
	text_row("all", "", &x->all_trip);
	if (x->all_trip.total_ns)
		printf("phases sum to %.1f%% of the round trips\n",
		       100.0 * (double)phsum / (double)x->all_trip.total_ns);
	text_kind("not woken back (the dispatcher was running: the result waited for its next loop turn, "
		  "not measured; the chain ends where the helper went back to sleep)", &x->all_noback);
	text_kind("continued without a wake (a helper that kept running took more work)", &x->all_cont);
	if (x->helpers_overflow)
		printf("chains of helpers past the first %d: %llu (in \"all\" only)\n", MAX_HELPERS,
		       (unsigned long long)x->helpers_overflow);
	if (x->skel->bss->dropped_chains || x->skel->bss->dropped_state)
		printf("dropped: chains %llu, state %llu\n", (unsigned long long)x->skel->bss->dropped_chains,
		       (unsigned long long)x->skel->bss->dropped_state);
	sess_cost(stdout, false, s->p0, p1, s->nprogs, cpu_ns, dur_s);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampstat handoff -p PID [-d SEC] [-i SEC] [--json] [-v]\n"
"\n"
"Where each hand-off between the server's dispatcher and its helpers waits.\n"
"A round trip starts when the dispatcher wakes a helper and ends when the\n"
"helper's wake-up brings the dispatcher back on CPU; it is cut into phases\n"
"that add up to it: queue (woken .. on CPU), on CPU, blocked-io (D state:\n"
"disk, page faults), blocked-other (another sleep: a lock, a pipe),\n"
"runqueue (preempted) and wakeup-back (the helper woke the dispatcher ..\n"
"the dispatcher ran).  Per helper: amped's helper processes, amted's helper\n"
"threads, uring's io-wq workers (iou-wrk).  Taken from sched_waking and\n"
"sched_switch only: no syscall hooks, no USDT.\n"
"\n"
"Not every job is woken both ways: when the result arrives while the\n"
"dispatcher runs, nobody wakes it (\"not woken back\"), and a helper that\n"
"finds more work goes on without a wake (\"continued\"); those are counted\n"
"apart, and a chain may hold several jobs of one helper.  The dispatcher is\n"
"the thread named amped-disp, or the target's main thread for another\n"
"server; a helper is any other thread of the target or its children.\n"
"\n"
"  -p, --pid PID        the server\n"
"  -d, --duration SEC   stop after SEC seconds (default: Ctrl-C or target exit)\n"
"  -i, --interval SEC   a line per interval: round trips so far (default: none)\n"
"      --json           JSON Lines: \"interval\" objects with -i, then a\n"
"                       \"summary\" object: helpers[] (tid, comm, kind,\n"
"                       round_trips, not_woken_back, continued: chains,\n"
"                       mean/p50/p99/max_ns, phases_ns), all, bpf cost\n"
"  -v, --verbose        libbpf debug output\n"
"\n"
"examples:\n"
"  ampstat handoff -p $(pgrep -x amped) -d 10\n"
"  ampstat handoff -p 1234 -d 5 --json | jq '.all.round_trips.phases_ns'\n"
"\n");
	mode_usage_maps(f, "handoff");
	fprintf(f,
"Exit status: 0 ok (duration over, Ctrl-C, or the target exited: the summary\n"
"is printed), 1 runtime error (not root, no BTF, no such process), 2 usage\n"
"error.\n");
}

static int start(struct sess *s, void *ctx)
{
	struct ho *x = ctx;
	bool by_comm = blk_has_disp(s->pid);
	struct bpf_program *psw, *pwk;

	x->pid = s->pid;
	x->json = s->json;
	x->interim = s->interval_s < NO_INTERIM_S;
	x->skel = handoff_bpf__open();
	if (!x->skel) {
		fprintf(stderr, "ampstat: open handoff.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	x->skel->rodata->targ_tgid = (__u32)s->pid;
	x->skel->rodata->by_comm = by_comm;
	if (sess_load(s, x->skel->skeleton))
		return 1;
	sess_pin(s, x->skel->obj, "handoff", NULL);
	x->rb = ring_buffer__new(bpf_map__fd(x->skel->maps.chains), on_chain, x, NULL);
	if (!x->rb) {
		fprintf(stderr, "ampstat: ring buffer: %s\n", strerror(errno));
		return 1;
	}
	psw = mode_tp_prog(x->skel->progs.ho_switch, x->skel->progs.ho_switch_raw);
	pwk = mode_tp_prog(x->skel->progs.ho_waking, x->skel->progs.ho_waking_raw);
	sess_stats_on(s);
	x->lswitch = bpf_program__attach(psw);
	x->lwaking = x->lswitch ? bpf_program__attach(pwk) : NULL;
	if (!x->lwaking) {
		fprintf(stderr, "ampstat: attach %s: %s\n", x->lswitch ? "sched_waking" : "sched_switch",
			strerror(errno));
		return 1;
	}
	fprintf(stderr, "ampstat: tracing pid %d (%s): dispatcher = %s; %s\n", (int)s->pid, s->comm,
		by_comm ? "threads named amped-disp" : "the main thread",
		s->duration_s > 0 ? "until the duration is over or Ctrl-C" : "Ctrl-C to stop");
	return 0;
}

static int poll_chains(struct sess *s, void *ctx, int timeout_ms)
{
	int e = ring_buffer__poll(((struct ho *)ctx)->rb, timeout_ms);

	(void)s;
	if (e < 0 && e != -EINTR) {
		fprintf(stderr, "ampstat: ring buffer: %s\n", strerror(-e));
		return e;
	}
	return 0;
}

static const char *tick(struct sess *s, void *ctx)
{
	struct ho *x = ctx;
	struct ho_sum *a = &x->all_trip;
	double t_s = (double)(mode_now_ns() - s->t0_ns) / 1e9;

	if (!x->interim)
		return NULL;
	ring_buffer__consume(x->rb);
	if (x->json)
		printf("{\"type\":\"interval\",\"t_s\":%.3f,\"round_trips\":%llu,\"new\":%llu,\"mean_ns\":%llu,"
		       "\"not_woken_back\":%llu,\"continued\":%llu}\n", t_s, (unsigned long long)a->n,
		       (unsigned long long)(a->n - x->last_n), (unsigned long long)(a->n ? a->total_ns / a->n : 0),
		       (unsigned long long)x->all_noback.n, (unsigned long long)x->all_cont.n);
	else
		printf("%8.3f s  round trips %llu (+%llu), mean %.3f ms; not woken back %llu; continued %llu\n",
		       t_s, (unsigned long long)a->n, (unsigned long long)(a->n - x->last_n),
		       a->n ? ms(a->total_ns) / (double)a->n : 0.0, (unsigned long long)x->all_noback.n,
		       (unsigned long long)x->all_cont.n);
	fflush(stdout);
	x->last_n = a->n;
	return NULL;
}

static int stop(struct sess *s, void *ctx, const char *why)
{
	struct ho *x = ctx;
	struct tr_prog p1[SESS_PROG_MAX];
	__u64 cpu_ns = sess_cpu_ns(s);
	double dur_s;

	bpf_link__destroy(x->lswitch);
	bpf_link__destroy(x->lwaking);
	x->lswitch = x->lwaking = NULL;
	dur_s = (double)(mode_now_ns() - s->t0_ns) / 1e9;
	ring_buffer__consume(x->rb);
	sess_progs(s, p1, SESS_PROG_MAX);
	summary(x, s, dur_s, why, p1, cpu_ns);
	return 0;
}

static void sum_free(struct ho_sum *s)
{
	free(s->rt);
}

static void cleanup(struct sess *s, void *ctx)
{
	struct ho *x = ctx;

	(void)s;
	bpf_link__destroy(x->lswitch);
	bpf_link__destroy(x->lwaking);
	ring_buffer__free(x->rb);
	handoff_bpf__destroy(x->skel);
	for (int i = 0; i < x->nh; i++) {
		sum_free(&x->h[i].trip);
		sum_free(&x->h[i].noback);
		sum_free(&x->h[i].cont);
	}
	sum_free(&x->all_trip);
	sum_free(&x->all_noback);
	sum_free(&x->all_cont);
}

int cmd_handoff(int argc, char **argv)
{
	static const struct sess_cmd cmd = {
		.name = "handoff", .usage = usage, .flags = SESS_JSON | SESS_INTERVAL,
		.interval_s = NO_INTERIM_S, .interval_min_s = 0.1, .start = start, .tick = tick,
		.poll = poll_chains, .stop = stop, .cleanup = cleanup,
	};
	static struct ho x;

	memset(&x, 0, sizeof(x));
	return sess_run(&cmd, &x, argc, argv);
}
