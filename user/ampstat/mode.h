/* mode — the pieces under ampstat's session runner (sess.h): checking the
 * target, the traced set, the target's CPU time, BPF run-time statistics,
 * tracepoint flavours, pins and option parsing.
 *
 *   mode_check(&pid, comm, n)
 *       root, BTF and a live target; a thread id becomes its process;
 *       picks the role profile of the target's server (roles_target).
 *       0, or 1 (the exit status) with a message on stderr.
 *   mode_targets_open(&mt, targets_fd, fast_fd)
 *       maps the `fast` array of a loaded object (include/ampstat_targets.h).
 *       0 / -errno.
 *   mode_targets_add(&mt, tgid)   puts a process in the traced set. 0 / -errno.
 *   mode_targets_children(&mt, pid)
 *                          adds pid's descendants (after attaching: forks
 *                          from then on are followed in the kernel).
 *   mode_targets_close(&mt)  unmaps; accepts an unopened one.
 *   mode_progs(obj, out, max)
 *                          cumulative run time and count of each program
 *                          of obj (bpf_stats; iterators left out).
 *   mode_task_cpu_ns(pid)  CPU time of all the threads of process pid, from
 *                          /proc/PID/stat (tick-based: 4 ms samples).
 *   mode_cpu_sample(&mt, pid)
 *                          reads the CPU time of every traced process (of
 *                          pid and its descendants if mt has no map); call
 *                          it at the start, now and then (processes that
 *                          exit keep their last reading) and at the end.
 *   mode_cpu_ns(&mt)       the CPU time the traced processes used between
 *                          the first and the last sample (a process that
 *                          appeared later counts from 0).
 *   mode_now_ns()          CLOCK_MONOTONIC.
 *   mode_tp_select(obj)    after open, before load: for each tp_btf program
 *                          X with a raw_tp twin X_raw (bpf/ampstat_tp.bpf.h),
 *                          loads X if vmlinux BTF has btf_trace_<tracepoint>,
 *                          else X_raw; AMPSTAT_FORCE_RAW_TP=1 in the
 *                          environment forces X_raw.  Says on stderr when
 *                          it picks raw_tp; returns how many it did.  A
 *                          program the caller turned off (autoload) stays
 *                          off, and so does its twin.
 *   mode_tp_prog(x, x_raw) the one of a pair that mode_tp_select picked.
 *   mode_usage_maps(f, sub)  --help's paragraph on the two above.
 *   mode_pin(&mp, obj, pid, sub, only)
 *                          after load: pins obj's maps (not .bss and the
 *                          like; only those named in the NULL-terminated
 *                          list only, if given) as
 *                          /sys/fs/bpf/amped/PID/SUB/MAP, or
 *                          /sys/fs/bpf/amped/PID/MAP when sub is NULL
 *                          (top's), mounting bpffs if needed and first
 *                          removing the pins of dead processes and of
 *                          killed ampstats (no loaded program uses their
 *                          maps).  Another ampstat's folder for the same
 *                          PID and SUB (or map, for top): nothing is
 *                          pinned.  Says on stderr what it did; 0 pinned,
 *                          -1 not (a warning: go on).
 *   mode_unpin(&mp)        removes them (and PID's folder when empty);
 *                          accepts a zeroed or failed one.
 *   mode_libbpf_print(verbose)  libbpf's debug output only with -v.
 *   mode_parse_pid / mode_parse_secs(s, &v)   true when s is valid.
 */
#ifndef AMPSTAT_MODE_H
#define AMPSTAT_MODE_H
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include "ampstat_targets.h"
#include "ampstat/trace.h"

struct bpf_object;

#define MODE_CPU_MAX 256

struct mode_targets {
	int targets_fd;
	struct ampstat_fast *fast;
	size_t fast_len;
	/* CPU time of the traced processes (mode_cpu_sample) */
	int ncpu;
	bool cpu_started;
	pid_t cpu_tgid[MODE_CPU_MAX];
	__u64 cpu_first[MODE_CPU_MAX], cpu_last[MODE_CPU_MAX];
};

int mode_check(pid_t *pid, char *comm, size_t n);
int mode_targets_open(struct mode_targets *mt, int targets_fd, int fast_fd);
int mode_targets_add(struct mode_targets *mt, pid_t tgid);
void mode_targets_children(struct mode_targets *mt, pid_t pid);
void mode_targets_close(struct mode_targets *mt);
int mode_progs(struct bpf_object *obj, struct tr_prog *out, int max);
__u64 mode_task_cpu_ns(pid_t pid);
void mode_cpu_sample(struct mode_targets *mt, pid_t pid);
__u64 mode_cpu_ns(const struct mode_targets *mt);
__u64 mode_now_ns(void);
void mode_libbpf_print(bool verbose);
/* Whole-string numbers: false on junk, overflow, or (double) inf/nan. */
bool mode_parse_long(const char *s, long *v);
bool mode_parse_double(const char *s, double *v);
/* -p, -d, -T: false after a message on stderr (a usage error). */
bool mode_parse_pid(const char *s, pid_t *pid);
bool mode_parse_secs(const char *s, double *v);
bool mode_parse_top(const char *s, long max, int *top);
void mode_json_str(FILE *f, const char *s);

/* tp_btf or raw_tp (bpf/ampstat_tp.bpf.h), between open and load. */
int mode_tp_select(struct bpf_object *obj);
/* the paragraph of a subcommand's --help on pins and tracepoints */
void mode_usage_maps(FILE *f, const char *sub);
struct bpf_program *mode_tp_prog(struct bpf_program *tp_btf, struct bpf_program *raw);

#define MODE_PIN_ROOT "/sys/fs/bpf/amped"
#define MODE_PIN_MAX 32
struct mode_pin {
	char dir[160];		/* "" when nothing is pinned */
	int n;
	bool top;		/* maps in PIN_ROOT/PID itself */
	char names[MODE_PIN_MAX][32];
};
int mode_pin(struct mode_pin *mp, struct bpf_object *obj, pid_t pid, const char *sub,
	     const char *const *only);
void mode_unpin(struct mode_pin *mp);

#endif
