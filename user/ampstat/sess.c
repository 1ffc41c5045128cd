/* sess — see sess.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ampstat/proc.h"
#include "ampstat/roles.h"
#include "ampstat/sess.h"

#define OPT_JSON 0x7001
#define MAX_LONGOPTS 32

volatile sig_atomic_t sess_exiting;

static void on_signal(int sig)
{
	(void)sig;
	sess_exiting = 1;
}

static void signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* a scraper that hangs up must not kill `serve` */
	signal(SIGPIPE, SIG_IGN);
}

/* ---------------------------------------------------------------- options */

static int usage_error(const struct sess_cmd *c, const char *fmt, const char *arg)
{
	fprintf(stderr, "ampstat: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	c->usage(stderr);
	return 2;
}

/* -1: go on; else the exit status */
static int parse(struct sess *s, void *ctx, int argc, char **argv)
{
	static const struct option common[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "interval", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
	};
	const struct sess_cmd *cmd = s->cmd;
	struct option lo[MAX_LONGOPTS + 1];
	char so[64];
	int n = 0, c;

	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		lo[n++] = common[i];
	for (const struct option *o = cmd->longopts; o && o->name && n < MAX_LONGOPTS; o++)
		lo[n++] = *o;
	memset(&lo[n], 0, sizeof(lo[n]));
	snprintf(so, sizeof(so), "p:d:i:vh%s", cmd->shortopts ? cmd->shortopts : "");
	optind = 1;
	while ((c = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!mode_parse_pid(optarg, &s->pid))
				return 2;
			break;
		case 'd':
			if (!mode_parse_secs(optarg, &s->duration_s))
				return 2;
			break;
		case 'i':
			if (!(cmd->flags & SESS_INTERVAL))
				return usage_error(cmd, "-i does not apply here: %s prints one report at the end",
						   cmd->name);
			if (!mode_parse_double(optarg, &s->interval_s) ||
			    s->interval_s < cmd->interval_min_s || s->interval_s > 3600) {
				fprintf(stderr, "ampstat: interval must be %g-3600 s, got '%s'\n",
					cmd->interval_min_s, optarg);
				return 2;
			}
			break;
		case OPT_JSON:
			if (!(cmd->flags & SESS_JSON))
				return usage_error(cmd, "--json does not apply to %s", cmd->name);
			s->json = true;
			break;
		case 'v':
			s->verbose = true;
			break;
		case 'h':
			cmd->usage(stdout);
			return 0;
		case '?':
			cmd->usage(stderr);
			return 2;
		default:
			if (!cmd->option || cmd->option(s, ctx, c, optarg))
				return 2;
		}
	}
	if (optind != argc)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (cmd->check && (c = cmd->check(s, ctx)))
		return c;
	if (!s->pid)
		return usage_error(cmd, "%s needs -p PID", cmd->name);
	return -1;
}

/* ---------------------------------------------------------------- objects */

void sess_add_obj(struct sess *s, struct bpf_object *obj)
{
	if (s->nobj < SESS_OBJ_MAX)
		s->obj[s->nobj++] = obj;
}

int sess_load(struct sess *s, struct bpf_object_skeleton *sk)
{
	int e;

	mode_tp_select(*sk->obj);	/* tp_btf, or the raw_tp twins */
	e = bpf_object__load_skeleton(sk);
	if (e) {
		fprintf(stderr, "ampstat: load %s.bpf.o: %s (-v shows the verifier log)\n", sk->name,
			strerror(-e));
		return e;
	}
	sess_add_obj(s, *sk->obj);
	return 0;
}

int sess_pin(struct sess *s, struct bpf_object *obj, const char *sub, const char *const *only)
{
	return mode_pin(&s->pins, obj, s->pid, sub, only);
}

int sess_targets(struct sess *s, int targets_fd, int fast_fd)
{
	int e = mode_targets_open(&s->mt, targets_fd, fast_fd);

	if (!e)
		e = mode_targets_add(&s->mt, s->pid);
	if (e)
		fprintf(stderr, "ampstat: traced set: %s\n", strerror(-e));
	return e;
}

void sess_stats_on(struct sess *s)
{
	/* before attaching, so the first run is counted; the kernel turns
	 * the statistics off again when the fd closes, however we exit */
	if (s->stats_fd < 0)
		s->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
}

int sess_attach(struct sess *s, struct bpf_object_skeleton *sk)
{
	int e;

	sess_stats_on(s);
	e = bpf_object__attach_skeleton(sk);
	if (e)
		fprintf(stderr, "ampstat: attach %s.bpf.o: %s\n", sk->name, strerror(-e));
	return e;
}

int sess_progs(struct sess *s, struct tr_prog *out, int max)
{
	int n = 0;

	for (int i = 0; i < s->nobj; i++)
		n += mode_progs(s->obj[i], out + n, max - n);
	return n;
}

/* ---------------------------------------------------------------- cost */

static void cpu_sample(struct sess *s, bool now)
{
	mode_cpu_sample(&s->mt, s->pid);
	roles_watch(s->mt.cpu_tgid, s->mt.ncpu, now);
}

__u64 sess_cpu_ns(struct sess *s)
{
	cpu_sample(s, true);
	return mode_cpu_ns(&s->mt);
}

void sess_cost(FILE *f, bool json, const struct tr_prog *from, const struct tr_prog *to, int n,
	       __u64 cpu_ns, double dur_s)
{
	__u64 total = 0;
	bool idle = (double)cpu_ns < dur_s * 1e9 * SESS_IDLE_PCT / 100;

	for (int i = 0; i < n; i++)
		total += to[i].run_ns - from[i].run_ns;
	if (json) {
		fprintf(f, "\"bpf\":{\"run_ns\":%llu,\"target_cpu_ns\":%llu,\"target_idle\":%s,"
			"\"target_cpu_ratio\":", (unsigned long long)total,
			(unsigned long long)cpu_ns, idle ? "true" : "false");
		if (idle)
			fprintf(f, "null");
		else
			fprintf(f, "%.6f", (double)total / (double)cpu_ns);
		fprintf(f, ",\"progs\":[");
		for (int i = 0; i < n; i++)
			fprintf(f, "%s{\"name\":\"%s\",\"run_ns\":%llu,\"runs\":%llu,\"missed\":%llu}",
				i ? "," : "", to[i].name, (unsigned long long)(to[i].run_ns - from[i].run_ns),
				(unsigned long long)(to[i].runs - from[i].runs),
				(unsigned long long)(to[i].missed - from[i].missed));
		fprintf(f, "]}");
		return;
	}
	fprintf(f, "bpf: %.3f ms", (double)total / 1e6);
	if (idle)
		fprintf(f, "; the target was idle (%.0f ms of CPU in %.2f s): no share to give",
			(double)cpu_ns / 1e6, dur_s);
	else
		fprintf(f, " = %.2f%% of target CPU (%.0f ms)", 100.0 * (double)total / (double)cpu_ns,
			(double)cpu_ns / 1e6);
	fprintf(f, "; runs, ns/run:");
	for (int i = 0; i < n; i++) {
		__u64 runs = to[i].runs - from[i].runs, ns = to[i].run_ns - from[i].run_ns;

		fprintf(f, " %s %llu", to[i].name + 3, (unsigned long long)runs);
		if (runs)
			fprintf(f, " %.0f", (double)ns / (double)runs);
		if (to[i].missed - from[i].missed)
			fprintf(f, " (missed %llu)", (unsigned long long)(to[i].missed - from[i].missed));
		fprintf(f, i + 1 < n ? "," : "");
	}
	fprintf(f, "\n");
}

/* ---------------------------------------------------------------- run */

static const char *wait_loop(struct sess *s, void *ctx)
{
	const struct sess_cmd *cmd = s->cmd;
	__u64 tick_ns = (__u64)(s->interval_s * 1e9);
	__u64 end = s->duration_s > 0 ? s->t0_ns + (__u64)(s->duration_s * 1e9) : 0;
	__u64 next = s->t0_ns + tick_ns;

	for (;;) {
		__u64 now = mode_now_ns(), left = 50000000ULL;

		if (sess_exiting)
			return "signal";
		if (end && now >= end)
			return "duration";
		if (!proc_alive(s->pid) && !(cmd->gone && cmd->gone(s, ctx)))
			return "target exited";
		if (now >= next) {
			const char *why;

			cpu_sample(s, false);
			if (cmd->tick && (why = cmd->tick(s, ctx)))
				return why;
			next += tick_ns;
			if (next < now)
				next = now + tick_ns;
			continue;
		}
		if (end && end - now < left)
			left = end - now;
		if (next - now < left)
			left = next - now;
		if (cmd->poll) {
			if (cmd->poll(s, ctx, (int)((left + 999999) / 1000000)) < 0) {
				s->failed = true;
				return "error";
			}
		} else {
			struct timespec ts = { 0, (long)left };
			nanosleep(&ts, NULL);
		}
	}
}

int sess_run(const struct sess_cmd *cmd, void *ctx, int argc, char **argv)
{
	struct sess s = { .cmd = cmd, .interval_s = cmd->interval_s, .stats_fd = -1 };
	const char *why;
	int rc;

	rc = parse(&s, ctx, argc, argv);
	if (rc >= 0)
		goto out;
	rc = mode_check(&s.pid, s.comm, sizeof(s.comm));
	if (rc)
		goto out;
	mode_libbpf_print(s.verbose);
	signals();
	rc = cmd->start(&s, ctx);
	if (rc)
		goto cleanup;
	if (s.mt.fast)		/* attached: forks from now on are followed */
		mode_targets_children(&s.mt, s.pid);
	s.t0_ns = mode_now_ns();
	cpu_sample(&s, true);
	s.nprogs = sess_progs(&s, s.p0, SESS_PROG_MAX);
	why = wait_loop(&s, ctx);
	rc = cmd->stop(&s, ctx, why);
	if (s.failed && !rc)
		rc = 1;
cleanup:
	if (cmd->cleanup)
		cmd->cleanup(&s, ctx);
	mode_unpin(&s.pins);
	mode_targets_close(&s.mt);
	if (s.stats_fd >= 0)
		close(s.stats_fd);
out:
	roles_free();
	return rc;
}
