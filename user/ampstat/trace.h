/* trace — loading, attaching and reading ampstat's BPF programs
 * (bpf/sched.bpf.c, bpf/oncpu.bpf.c) for one target.
 *
 *   tr_open(&tr, sess, opts, err, errlen)
 *       loads and attaches everything through the session (sess.h: the
 *       tracepoint programs as tp_btf or their raw_tp twins, BPF run-time
 *       statistics, the target in the traced set), and pins the maps under
 *       /sys/fs/bpf/amped/<pid>/ when opts->pin.  0 ok; -errno with a
 *       message in err.
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
	int sample_hz;		/* CPU-clock sampling frequency per CPU */
	bool pin;
	bool follow_forks;
	bool cache;		/* page-cache accesses per thread: the filemap
				 * programs, which run for every page-cache access
				 * of the machine */
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

struct sess;
int tr_open(struct tr **out, struct sess *s, const struct tr_opts *o, char *err, size_t errlen);
int tr_seed(struct tr *tr);
int tr_threads(struct tr *tr, tr_thread_cb cb, void *ctx);
void tr_forget(struct tr *tr, __u32 tid, __u64 start_ns);
int tr_tgids(struct tr *tr, pid_t *out, int max);
void tr_drops(struct tr *tr, struct tr_drops *d);
int tr_kern(struct tr *tr, struct tr_kern *k);
void tr_close(struct tr *tr);

#endif
