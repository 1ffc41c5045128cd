/* sess — the one skeleton under every ampstat subcommand: its common
 * options, and open -> load -> pin -> attach -> wait -> cost -> cleanup.
 *
 * A subcommand describes itself in a struct sess_cmd and calls
 *   sess_run(&cmd, ctx, argc, argv)
 * which returns the exit status (0 ok, 1 runtime error, 2 usage error):
 *   1. parses the common options, the same for every subcommand:
 *        -p, --pid PID        the target (required; a thread: its process)
 *        -d, --duration SEC   stop after SEC seconds (0 < SEC <= 86400)
 *        -i, --interval SEC   seconds between reports (SESS_INTERVAL only)
 *            --json           JSON output (SESS_JSON only)
 *        -v, --verbose        libbpf's debug output
 *        -h, --help           usage, exit 0
 *      and the subcommand's own through cmd->option (0, or 2 after a
 *      message);
 *      then cmd->check, which may find the target another way (serve's
 *      --pidfile, --exe);
 *   2. checks root, BTF and the target (mode_check); SIGINT/SIGTERM set
 *      sess_exiting; libbpf prints its debug lines only with -v;
 *   3. cmd->start: opens its objects and loads, pins and attaches them
 *      with sess_load, sess_pin and sess_attach (0, or 1 after a message);
 *   4. notes the programs' run time and the target's CPU time, then waits
 *      until the duration, a signal or the target's exit (unless
 *      cmd->gone follows the target to its successor), calling
 *      cmd->tick every interval (a non-NULL return ends the wait: why) and
 *      between ticks cmd->poll (events, sockets) or sleeping;
 *   5. cmd->stop(why): detaches, reads and reports (sess_cost for the cost
 *      line); its return is the exit status;
 *   6. cmd->cleanup, then unpins and turns the BPF statistics off.
 *
 *   sess_load(s, skeleton)   tp_btf or raw_tp (mode_tp_select), loads; a
 *                            message on failure.  0 / -errno.
 *   sess_pin(s, obj, sub, only)
 *                            pins obj's maps (mode_pin; sub NULL: top's
 *                            folder); at most one per session.
 *   sess_targets(s, targets_fd, fast_fd)
 *                            the object's traced set: the target now, its
 *                            descendants after attaching (the kernel
 *                            follows forks from then on).  0 / -errno.
 *   sess_attach(s, skeleton) BPF run-time statistics on (a BPF_ENABLE_STATS
 *                            fd: the kernel restores the setting however
 *                            ampstat exits), then attaches.  0 / -errno.
 *   sess_stats_on(s)         the statistics alone, before a manual attach.
 *   sess_add_obj(s, obj)     counts obj's programs in the cost (sess_load
 *                            does it).
 *   sess_progs(s, out, max)  the programs' cumulative run time now.
 *   sess_cpu_ns(s)           CPU time of the target and its descendants
 *                            (the traced set with sess_targets) since the
 *                            start, from /proc (4 ms ticks); sampled every
 *                            tick and at the end.
 *   sess_cost(f, json, from, to, n, cpu_ns, dur_s)
 *                            the cost line (text) or "bpf":{...} (JSON):
 *                            BPF run time, its share of cpu_ns, runs and
 *                            ns per run of each program.  When the target
 *                            was idle (under SESS_IDLE_PCT of one CPU), it
 *                            says so instead of a share (JSON:
 *                            "target_idle": true, "target_cpu_ratio":
 *                            null; otherwise BPF time / target CPU time).
 */
#ifndef AMPSTAT_SESS_H
#define AMPSTAT_SESS_H
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include "ampstat/mode.h"

struct bpf_object;
struct bpf_object_skeleton;

#define SESS_JSON 1u		/* takes --json */
#define SESS_INTERVAL 2u	/* takes -i */
#define SESS_OBJ_MAX 4
#define SESS_PROG_MAX 24
#define SESS_IDLE_PCT 1.0	/* of one CPU: below it the target was idle */

struct sess;

struct sess_cmd {
	const char *name;
	void (*usage)(FILE *f);
	const char *shortopts;			/* besides p: d: i: v h */
	const struct option *longopts;		/* besides the common ones */
	int (*option)(struct sess *s, void *ctx, int c, const char *arg);
	/* after the options, before -p is required: may set s->pid (a target
	 * found another way); 0 go on, else the exit status (after a message) */
	int (*check)(struct sess *s, void *ctx);
	/* the target exited: true keeps the session going (the command follows
	 * the target, and may set s->pid and s->comm to its successor), false
	 * (or no hook) ends it, "target exited" */
	bool (*gone)(struct sess *s, void *ctx);
	unsigned flags;
	double interval_s;			/* default -i; how often tick runs */
	double interval_min_s;
	int (*start)(struct sess *s, void *ctx);
	const char *(*tick)(struct sess *s, void *ctx);
	int (*poll)(struct sess *s, void *ctx, int timeout_ms);	/* <0: error, ends */
	int (*stop)(struct sess *s, void *ctx, const char *why);
	void (*cleanup)(struct sess *s, void *ctx);
};

struct sess {
	const struct sess_cmd *cmd;
	/* the common options */
	pid_t pid;
	double duration_s, interval_s;
	bool json, verbose;
	/* the run */
	char comm[32];
	struct bpf_object *obj[SESS_OBJ_MAX];
	int nobj;
	struct mode_pin pins;
	struct mode_targets mt;		/* the traced set, and the CPU it used */
	int stats_fd;
	__u64 t0_ns;
	struct tr_prog p0[SESS_PROG_MAX];
	int nprogs;
	bool failed;			/* poll failed: exit 1 after the report */
};

extern volatile sig_atomic_t sess_exiting;

int sess_run(const struct sess_cmd *cmd, void *ctx, int argc, char **argv);
int sess_load(struct sess *s, struct bpf_object_skeleton *sk);
int sess_pin(struct sess *s, struct bpf_object *obj, const char *sub, const char *const *only);
int sess_targets(struct sess *s, int targets_fd, int fast_fd);
int sess_attach(struct sess *s, struct bpf_object_skeleton *sk);
void sess_stats_on(struct sess *s);
void sess_add_obj(struct sess *s, struct bpf_object *obj);
int sess_progs(struct sess *s, struct tr_prog *out, int max);
__u64 sess_cpu_ns(struct sess *s);
void sess_cost(FILE *f, bool json, const struct tr_prog *from, const struct tr_prog *to, int n,
	       __u64 cpu_ns, double dur_s);

#endif
