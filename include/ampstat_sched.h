/* ampstat_sched — the structs bpf/sched.bpf.c, bpf/oncpu.bpf.c and
 * user/ampstat (trace.c, acct.c: top and serve) share.  Times are bpf_ktime_get_ns() = CLOCK_MONOTONIC nanoseconds.
 *
 * Map `threads` (HASH, key: u32 tid) holds one struct ampstat_thread per
 * thread of the target set, written only by the sched programs.  A thread's
 * accounting starts at start_ns (when ampstat first saw it) and every
 * nanosecond after that is in exactly one state: state_ns[s] holds the
 * closed time per state, and the open stretch since ts_ns belongs to
 * `state`.  A reader computes the value at time T as state_ns[s] plus
 * (T - ts_ns) for s == state (until exit_ns, once that is set).  Closed
 * stretches are measured between the instants the kernel's own accounting
 * uses (the run queue's clock, ts_clk), so on-CPU and run-queue time agree
 * with /proc/PID/task/TID/schedstat; see bpf/sched.bpf.c.  Of an on-CPU
 * stretch, the time the hypervisor ran something else (steal: the run
 * queue's clock went on, its task clock did not) goes to slot AS_STEAL.
 *
 * seq is odd while the kernel updates an entry: a reader copies the entry
 * twice and uses it only when both copies are equal and seq is even.
 *
 * When a thread exits, the exit program moves its entry, closed at exit_ns
 * and with its samples, to map `exited` (HASH, key: struct ampstat_exit_key,
 * value: struct ampstat_exited), where userspace reads it once and deletes
 * it: tids are reused quickly (pid_max is 32768 here), and a new thread must
 * not find a dead one's entry.
 *
 * Map `samples` (HASH, key: u32 tid) counts perf-event CPU-clock samples of
 * the thread in user and kernel mode, by bpf/oncpu.bpf.c; the ratio splits
 * on-CPU time into user and kernel.
 */
#ifndef AMPSTAT_SCHED_H
#define AMPSTAT_SCHED_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif
#include "ampstat_targets.h"

enum ampstat_state {
	AS_NONE = 0,		/* not accounted (exited) */
	AS_ONCPU = 1,		/* running */
	AS_BLOCKED = 2,		/* off CPU, uninterruptible (D): blocked-io */
	AS_WAIT_IDLE = 3,	/* off CPU, interruptible, in epoll_wait/epoll_pwait(2),
				   poll/ppoll, select/pselect6 (ampstat_idle.bpf.h) */
	AS_WAIT_OTHER = 4,	/* off CPU, interruptible, any other sleep */
	AS_RUNQ = 5,		/* runnable, not running: preempted or woken */
	AS_STEAL = 6,		/* a slot only, never a state: time the hypervisor
				 * took from the CPU while the thread was on it */
	AS_NSTATE = 7,
};
#define AMPSTAT_NSLOT 8		/* state_ns size: a power of two, so an index is capped with & 7 */

struct ampstat_thread {
	__u64 seq;
	__u64 start_ns;
	__u64 exit_ns;			/* 0 while the thread lives */
	__u64 ts_ns;
	__u64 ts_clk;			/* the open stretch's start by the run queue's
					 * clock (sched.bpf.c), 0: unknown */
	__u64 ts_clk_task;		/* and by its task clock (less steal time) */
	__u64 state_ns[AMPSTAT_NSLOT];
	__u64 nvcsw;			/* voluntary switches (as the kernel counts nvcsw) */
	__u64 nivcsw;			/* involuntary switches (nivcsw) */
	__u32 tgid;
	__u32 tid;
	__u32 state;			/* enum ampstat_state */
	__s32 sleep_syscall;		/* syscall of the last interruptible sleep, -1: none */
	__u32 unwoken;			/* switched in from a sleep with no enqueue stamp
					 * (last_queued 0): the sleep ran up to the switch */
	__u32 pad;
	__u64 run_delay;		/* the task's sched_info.run_delay when it last
					 * left the CPU (sched.bpf.c) */
	char comm[AMPSTAT_COMM_LEN];
};

/* Per thread, written from the thread's own context: CPU-clock samples in
 * user and kernel mode (bpf/oncpu.bpf.c), and page-cache pages it asked
 * for (read/pread/sendfile/splice and mmap faults) and pages it added
 * (misses, readahead included), by the rules of `ampstat cache`
 * (bpf/ampstat_cache.bpf.h; bpf/sched.bpf.c counts them here). */
struct ampstat_samples {
	__u64 user;
	__u64 kernel;
	__u64 cache_access;
	__u64 cache_miss;
};

struct ampstat_exit_key {
	__u32 tid;
	__u32 pad;
	__u64 start_ns;
};

struct ampstat_exited {
	struct ampstat_thread t;
	struct ampstat_samples s;
};

/* ---- the kernel row of ampstat top: kernel work on nobody's behalf in
 * particular, machine-wide.
 *
 * Map `kern` (PERCPU_ARRAY of one struct ampstat_kern, bpf/sched.bpf.c):
 * on-CPU time of kernel threads by class (enum ampstat_kclass), exact, from
 * sched_switch; a stretch is charged when the thread leaves the CPU, to the
 * class of its name (a kworker's: of the workqueue whose work it ran last).
 * Map `ksamp` (PERCPU_ARRAY of one struct ampstat_ksamp, bpf/oncpu.bpf.c):
 * the CPU-clock samples of every CPU, and those that interrupted softirq
 * processing (preempt_count's SOFTIRQ_OFFSET bit), by whose context it ran
 * in: a traced thread's (then it is in that thread's kernel time too), a
 * kernel thread's (then also in that thread's class), or another
 * process's or the idle task's.  The kernel here has no
 * CONFIG_IRQ_TIME_ACCOUNTING, so sampling is the cheap way to softirq time. */
enum ampstat_kclass {
	AK_KSOFTIRQD = 0,	/* ksoftirqd/N */
	AK_KWORKER = 1,		/* kworker/... not below */
	AK_BLOCK = 2,		/* loop..., jbd2/..., and kworkers of kblockd, loop..., ...blk..., writeback */
	AK_OTHER = 3,		/* every other kernel thread (rcu, migration, kswapd, ...) */
	AK_N = 4,
};

struct ampstat_kern {
	__u64 ns[AK_N];
	__u64 runs[AK_N];		/* stretches charged */
};

struct ampstat_ksamp {
	__u64 total;			/* samples taken on this CPU */
	__u64 softirq_target;		/* in softirq, in a traced thread's context */
	__u64 softirq_kthread;		/* in softirq, in a kernel thread's */
	__u64 softirq_other;		/* in softirq, another process or idle */
};

#endif
