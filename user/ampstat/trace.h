/* trace — loading, attaching and reading ampstat's BPF programs
 * (bpf/sched.bpf.c, bpf/oncpu.bpf.c) for one target.
 *
 *   tr_open(&tr, opts, err, errlen)
 *       loads and attaches everything (the tracepoint programs as tp_btf,
 *       or their raw_tp twins: mode_tp_select), turns on BPF run-time statistics
 *       (kernel.bpf_stats_enabled, through a BPF_ENABLE_STATS fd, so the
 *       kernel restores it when ampstat exits however it exits), pins the
 *       maps under /sys/fs/bpf/amped/<pid>/ when opts->pin.  0 ok; -errno
 *       with a message in err.
 *   tr_add_tgid(tr, tgid)   puts a process in the traced set.  0 / -errno.
 *   tr_seed(tr)             gives every traced thread without an entry one
 *                           in its current state (a task iterator).  0 / -errno.
 *   tr_threads(tr, cb, ctx) calls cb for every thread entry, read
 *                           consistently (see include/ampstat_sched.h), with its
 *                           samples: first the exited threads, then the
 *                           live ones (a thread that exits in between is
 *                           seen at the next call, not twice).  Returns the
 *                           number of entries.
 *   tr_forget(tr, tid, start_ns)
 *                           deletes an exited thread's entry once read.
 *   tr_tgids(tr, out, max)  the traced tgids; returns how many.
 *   tr_progs(tr, out, max)  cumulative run time and count per loaded program.
 *   tr_drops(tr, &d)        the kernel side's drop counters.
 *   tr_kern(tr, &k)         the kernel row's cumulative counters (maps
 *                           `kern` and `ksamp`, include/ampstat_sched.h), summed
 *                           over the CPUs.  0 / -errno.
 *   tr_close(tr)            detaches, unpins, frees; accepts NULL.
 */
#ifndef AMPSTAT_TRACE_H
#define AMPSTAT_TRACE_H
#include <stdbool.h>
#include <sys/types.h>
#include "ampstat_sched.h"

struct tr;

struct tr_opts {
	pid_t pid;
	int sample_hz;		/* CPU-clock sampling frequency per CPU */
	bool pin;
	bool follow_forks;
};

struct tr_prog {
	const char *name;
	__u64 run_ns;
	__u64 runs;
	__u64 missed;		/* runs the kernel skipped (recursion_misses) */
};

struct tr_drops {
	__u64 threads;
	__u64 tgids;
	__u64 samples;
	__u64 torn;		/* entries still changing after several reads */
	__u64 cache;		/* page-cache events that found `samples` full */
};

/* the names of enum ampstat_kclass, as top's JSON and serve's labels
 * write them */
extern const char *const tr_kclass_name[AK_N];

struct tr_kern {
	__u64 ns[AK_N];		/* kernel threads' on-CPU time by class */
	__u64 runs[AK_N];
	struct ampstat_ksamp s;	/* CPU-clock samples of all CPUs */
	__u64 period_ns;	/* CPU time one sample stands for */
	int ncpu;		/* online CPUs sampled */
};

typedef void (*tr_thread_cb)(void *ctx, const struct ampstat_thread *t,
			     const struct ampstat_samples *s);

int tr_open(struct tr **out, const struct tr_opts *o, char *err, size_t errlen);
int tr_add_tgid(struct tr *tr, pid_t tgid);
int tr_seed(struct tr *tr);
int tr_threads(struct tr *tr, tr_thread_cb cb, void *ctx);
void tr_forget(struct tr *tr, __u32 tid, __u64 start_ns);
int tr_tgids(struct tr *tr, pid_t *out, int max);
int tr_progs(struct tr *tr, struct tr_prog *out, int max);
void tr_drops(struct tr *tr, struct tr_drops *d);
int tr_kern(struct tr *tr, struct tr_kern *k);
const char *tr_pin_dir(struct tr *tr);	/* NULL when not pinned */
void tr_close(struct tr *tr);

#endif
