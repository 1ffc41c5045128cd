// SPDX-License-Identifier: GPL-2.0
/* sched — per-thread time accounting for ampstat top (see include/ampstat_sched.h).
 *
 * Every nanosecond of a traced thread is in one state: on CPU, blocked (D),
 * waiting idle (interruptible sleep in epoll_wait), waiting other, or on the
 * run queue.  Transitions come from sched_switch (out: by prev_state and
 * preempt; in: sleep -> run queue at the instant the wakeup queued the
 * task, then on CPU) and sched_process_exit (which moves the entry to `exited`); task_rename keeps
 * the thread name current.  Only tasks whose tgid is in `targets` are accounted;
 * sched_process_fork adds the children of traced processes, so helper
 * processes forked later are followed.  No syscall is hooked: the syscall a
 * thread sleeps in is read from its saved registers at sched_switch.
 *
 * Also here, for the rows top adds: page-cache accesses and misses of the
 * traced threads (the filemap tracepoints, by the rules of
 * ampstat_cache.bpf.h, into each thread's `samples` entry), and the on-CPU
 * time of kernel threads by class (map `kern`; a flag test on each switch,
 * the rest only when a kernel thread switches).
 *
 * Every tracepoint program is tp_btf with a raw_tp twin
 * (ampstat_tp.bpf.h); user/ampstat/trace.c picks one of each pair.  The
 * twins account exactly as the tp_btf programs do (the entries are keyed
 * by tid, so sched_switch reaches next's), except that a fork under raw_tp
 * cannot take fast_lock: it turns `fast` to overflow instead, and the
 * `targets` hash decides from then on.  The tp_btf code is what it was
 * before the twins (the compiler drops their branches from it).
 *
 * Exact against the kernel's own accounting.  The kernel charges a task's
 * time (se.sum_exec_runtime: /proc/PID/task/TID/schedstat field 1) and its
 * run-queue wait (sched_info.run_delay: field 2) by the run queue's clock,
 * read (update_rq_clock) when __schedule() begins, not when the
 * sched_switch tracepoint fires: picking the next task lies in between
 * (measured here ~0.3 us a switch).  A preempted task stays runnable
 * (sched_info_depart: enqueued at that clock), so stamping transitions
 * with bpf_ktime_get_ns() moved that gap from its run-queue time to its
 * on-CPU time at every preemption: an nginx worker preempted 120,000
 * times a second by its aio threads was 3.3 points of wall time over on
 * CPU and under on the run queue.  So a stretch is closed by the clock the
 * kernel uses: at sched_switch this CPU's rq->clock (what sched_info_switch
 * and the put/set of the tasks read just after); a sleep ends at the
 * task's sched_info.last_queued (the clock its wakeup's enqueue stamped;
 * 0 when nothing was enqueued: one preempted in a sleep state, for which
 * the kernel counts no run delay either).  And
 * a task leaves for the run queue exactly when the kernel queues it: when
 * prev_state is TASK_RUNNING; preempted in a sleep state (between
 * set_current_state and schedule), its wait is not run delay to the kernel
 * and counts as the sleep.  ts_ns (bpf_ktime_get_ns) still stamps each
 * transition, for the reader's open stretch.
 *
 * Cost: sched_wakeup is not hooked.  It fires for every wakeup of the
 * machine (on nginx with aio threads as often as sched_switch), and the
 * enqueue stamp that the switch-in reads (last_queued is cleared only
 * after the tracepoint) ends the sleep at the same clock.  What the reader
 * loses: a thread woken but still waiting for a CPU when it reads the maps
 * looks asleep up to then; its whole wait counts in the next interval, as
 * the kernel's run_delay counts it (when the wait ends).  A wait that load
 * balancing moved from another CPU began before its enqueue here: by what
 * the kernel added to run_delay meanwhile (at the move).  The
 * filemap programs (page-cache accesses) are loaded only when asked for
 * (trace.h: tr_opts.cache): they fire for every page-cache access of the
 * machine.
 *
 * The events of one task are serialized by its run queue lock (a wakeup of
 * a sleeping task waits until the switch away from it is complete), so an
 * entry has one writer at a time; seq only protects the userspace reader.
 * (A rename through /proc/PID/comm comes from another task: it writes only
 * the name, outside seq, since a torn name is harmless.)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ampstat_sched.h"
#include "ampstat_targets.bpf.h"
#include "ampstat_cache.bpf.h"
#include "ampstat_tp.bpf.h"
#include "ampstat_idle.bpf.h"

/* include/linux/sched.h: not in BTF, they are macros */
#define TASK_RUNNING		0x0000
#define TASK_UNINTERRUPTIBLE	0x0002
#define EXIT_DEAD		0x0010
#define EXIT_ZOMBIE		0x0020
#define TASK_DEAD		0x0080
#define TASK_NOLOAD		0x0400
#define PF_EXITING		0x00000004
#define PF_KTHREAD		0x00200000

const volatile bool follow_forks = true;

/* serializes the fork program's appends to `fast` */
struct fast_lock {
	struct bpf_spin_lock lock;
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fast_lock);
} fast_lock SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMPSTAT_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct ampstat_thread);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMPSTAT_MAX_THREADS);
	__type(key, struct ampstat_exit_key);
	__type(value, struct ampstat_exited);
} exited SEC(".maps");

/* the exit program builds an `exited` value here: too big for the stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ampstat_exited);
} scratch SEC(".maps");

/* bpf/oncpu.bpf.c's map (shared by fd): the exit program moves a thread's
 * samples along with its entry */

__u64 dropped_threads = 0;	/* a traced thread found the map full */
__u64 dropped_tgids = 0;	/* a forked process found `targets` full */

#define barrier() asm volatile("" ::: "memory")

/* The clock of the run queue task is on (this CPU's at sched_switch): the
 * instant __schedule() read it, which the kernel's accounting uses (see the
 * top).  Reached through the task's CFS run queue, which every task has
 * (set_task_rq), since the per-CPU `runqueues` is not in kallsyms here. */
struct rq_clocks {
	__u64 clk, task;
};

static __always_inline struct rq_clocks rq_clock_of(struct task_struct *task, const bool raw)
{
	struct rq *rq = raw ? BPF_CORE_READ(task, se.cfs_rq, rq) : task->se.cfs_rq->rq;
	struct rq_clocks c = {};

	if (rq) {
		c.clk = AS_LD(raw, rq, clock);
		c.task = AS_LD(raw, rq, clock_task);
	}
	return c;
}

/* CLOCK_MONOTONIC (what ts_ns, start_ns and the reader use) from the run
 * queue's clock: bpf_ktime_get_ns() cost ~26 ns a call here (a clocksource
 * read behind a retpoline), a third of the switch program, while the run
 * queue's clock is already read.  Both count the TSC, so they differ by an
 * offset, renewed on each CPU every CAL_NS of its run queue's clock.  A
 * renewal reads ktime later than the run queue's clock was read (at the
 * start of __schedule(), or earlier still when the kernel skipped that
 * update), which can only make the offset seem larger: the offset kept is
 * the smallest seen, allowed to grow by 1/8192 (122 ppm) of the time
 * elapsed, more than NTP's rate adjustments move one clock against the
 * other.  A constant offset keeps every thread's stretches adding up to its
 * wall time whichever clock closed each (measured: a fresh pair per renewal
 * instead moved 0.4-0.9 ms between a short-lived child's buckets). */
#define CAL_NS 1000000ULL
struct cal {
	__u64 clk;		/* the run queue's clock at the last renewal, 0: none */
	__s64 off_ns;		/* CLOCK_MONOTONIC - run queue's clock */
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cal);
} cal SEC(".maps");

static __always_inline __u64 mono_of(__u64 clk)
{
	__u32 zero = 0;
	struct cal *c = bpf_map_lookup_elem(&cal, &zero);
	__s64 off, grown;

	if (!c || !clk)
		return bpf_ktime_get_ns();
	if (!c->clk || clk < c->clk || clk - c->clk >= CAL_NS) {
		off = (__s64)(bpf_ktime_get_ns() - clk);
		grown = c->off_ns + (__s64)((clk - c->clk) >> 13);
		if (c->clk && clk >= c->clk && grown < off)
			off = grown;
		c->off_ns = off;
		c->clk = clk;
	}
	return clk + (__u64)c->off_ns;
}

/* ---- kernel threads (include/ampstat_sched.h: map `kern`) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ampstat_kern);
} kern SEC(".maps");

/* when the kernel thread on this CPU came on it (0: none) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} kern_since SEC(".maps");

static __always_inline bool has_prefix(const char *s, const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] != p[i])
			return false;
	return true;
}

/* a workqueue (or thread) name of block I/O: kblockd, loop*, *blk*, writeback */
static __always_inline bool block_name(const char *s, int len)
{
	if (has_prefix(s, "kblockd", 7) || has_prefix(s, "loop", 4) || has_prefix(s, "writeback", 9))
		return true;
	for (int i = 0; i + 2 < len; i++) {
		if (!s[i])
			break;
		if (s[i] == 'b' && s[i + 1] == 'l' && s[i + 2] == 'k')
			return true;
	}
	return false;
}

/* t is prev at sched_switch: the current task */
static __always_inline __u32 kclass(struct task_struct *t, const bool raw)
{
	char comm[AMPSTAT_COMM_LEN];
	char desc[24] = {};

	if (raw)
		bpf_get_current_comm(comm, sizeof(comm));
	else
		__builtin_memcpy(comm, t->comm, sizeof(comm));
	if (has_prefix(comm, "ksoftirqd/", 10))
		return AK_KSOFTIRQD;
	if (has_prefix(comm, "kworker/", 8)) {
		/* kthread_data(t): the worker, whose desc names the
		 * workqueue of the last work it ran */
		struct kthread *k = (struct kthread *)AS_LD(raw, t, worker_private);
		struct worker *w = k ? (struct worker *)BPF_CORE_READ(k, data) : NULL;

		if (w && bpf_probe_read_kernel(desc, sizeof(desc) - 1, &w->desc) == 0 &&
		    block_name(desc, sizeof(desc)))
			return AK_BLOCK;
		return AK_KWORKER;
	}
	if (has_prefix(comm, "jbd2/", 5) || block_name(comm, sizeof(comm)))
		return AK_BLOCK;
	return AK_OTHER;
}

/* a kernel thread, not the idle task (pid 0) */
static __always_inline bool is_kthread(struct task_struct *t, const bool raw)
{
	return (AS_LD(raw, t, flags) & PF_KTHREAD) && AS_LD(raw, t, pid);
}

/* kp, kn: prev and next are kernel threads; now: the switch's instant */
static __always_inline void kern_switch(struct task_struct *prev, bool kp, bool kn, __u64 now,
					const bool raw)
{
	__u32 zero = 0;
	__u64 *since;

	since = bpf_map_lookup_elem(&kern_since, &zero);
	if (!since)
		return;
	if (kp && *since && now > *since) {
		struct ampstat_kern *k = bpf_map_lookup_elem(&kern, &zero);
		__u32 c = kclass(prev, raw);

		if (k && c < AK_N) {
			k->ns[c] += now - *since;
			k->runs[c]++;
		}
	}
	*since = kn ? now : 0;
}

/* tp_btf arguments are BTF pointers: plain loads, no probe_read helper;
 * the raw_tp twins read them with BPF_CORE_READ (ampstat_tp.bpf.h) */
static __always_inline bool is_target(struct task_struct *t, const bool raw)
{
	return tgid_traced(AS_LD(raw, t, tgid));
}

static __always_inline void wr_begin(struct ampstat_thread *t)
{
	t->seq++;
	barrier();
}

static __always_inline void wr_end(struct ampstat_thread *t)
{
	barrier();
	t->seq++;
}

/* Close the open stretch at now (CLOCK_MONOTONIC) = c (the run queue's
 * clocks, 0: unknown): its time goes to the current state, by the run
 * queue's clock when both ends have it.  On CPU, the kernel counts the task
 * clock (sum_exec_runtime), which stands still while the hypervisor runs
 * another guest: that part of the stretch is steal. */
static __always_inline void close_state(struct ampstat_thread *t, __u64 now, struct rq_clocks c)
{
	__u64 d = 0;

	if (c.clk && t->ts_clk)
		d = c.clk > t->ts_clk ? c.clk - t->ts_clk : 0;
	else if (now > t->ts_ns)
		d = now - t->ts_ns;
	if (t->state == AS_ONCPU && c.task && t->ts_clk_task && c.clk && t->ts_clk) {
		__u64 run = c.task > t->ts_clk_task ? c.task - t->ts_clk_task : 0;

		if (run < d) {
			t->state_ns[AS_STEAL] += d - run;
			d = run;
		}
	}
	{
		__u32 i = t->state;

		/* the compiler may know the state's range on this path and drop
		 * the mask the verifier needs */
		asm volatile("" : "+r"(i));
		t->state_ns[i & (AMPSTAT_NSLOT - 1)] += d;
	}
	t->ts_ns = now;
	t->ts_clk = c.clk;
	t->ts_clk_task = c.task;
}

static __always_inline __s32 sleep_syscall(struct task_struct *task)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

	if (!regs)
		return -1;
	return (__s32)regs->orig_ax;
}

static __always_inline __u32 sleep_state(unsigned int st, __s32 nr)
{
	if ((st & TASK_UNINTERRUPTIBLE) && !(st & TASK_NOLOAD))
		return AS_BLOCKED;
	if (as_idle_syscall(nr))
		return AS_WAIT_IDLE;
	return AS_WAIT_OTHER;
}

/* The entry of task, created in `state` from now when it has none (a thread
 * ampstat had not seen: new, or missed by the seeding iterator).  NULL when
 * the map is full. */
static __always_inline struct ampstat_thread *
get_thread(struct task_struct *task, __u64 now, __u64 clk, __u32 state, const bool raw)
{
	__u32 tid = AS_LD(raw, task, pid);
	struct ampstat_thread *t, v = {};

	t = bpf_map_lookup_elem(&threads, &tid);
	if (t)
		return t;
	/* after sched_process_exit moved its entry: a dying task stays out */
	if (AS_LD(raw, task, flags) & PF_EXITING)
		return NULL;
	v.start_ns = now;
	v.ts_ns = now;
	v.ts_clk = clk;
	v.run_delay = AS_LD(raw, task, sched_info.run_delay);
	v.tid = tid;
	v.tgid = AS_LD(raw, task, tgid);
	v.state = state;
	v.sleep_syscall = -1;
	bpf_probe_read_kernel_str(&v.comm, sizeof(v.comm), task->comm);
	if (bpf_map_update_elem(&threads, &tid, &v, BPF_NOEXIST) && bpf_map_lookup_elem(&threads, &tid) == NULL) {
		__sync_fetch_and_add(&dropped_threads, 1);
		return NULL;
	}
	return bpf_map_lookup_elem(&threads, &tid);
}

/* sched_switch(preempt, prev, next, prev_state).  The entries are keyed
 * by tid in a hash map, not task storage: the raw_tp twin reaches next's
 * as well and accounts exactly as the tp_btf program does. */
static __always_inline int as_switch_body(__u64 *ctx, const bool raw)
{
	bool preempt = (bool)ctx[0];
	struct task_struct *prev = (void *)ctx[1], *next = (void *)ctx[2];
	unsigned int prev_state = (unsigned int)ctx[3];
	bool tp = is_target(prev, raw), tn = is_target(next, raw);
	bool kp = is_kthread(prev, raw), kn = is_kthread(next, raw);
	struct task_struct *who;
	struct ampstat_thread *t;
	struct rq_clocks clk;
	__u64 now;

	/* a switch between tasks of other programs: nothing to do */
	if (!tp && !tn && !kp && !kn)
		return 0;
	/* prev and next are on this CPU's run queue, but the idle task's
	 * se.cfs_rq does not lead to it (measured: its clock put 0.6-3
	 * points of the run queue of amped's dispatcher, woken from idle,
	 * into its sleep): the clock of one that is not the idle task */
	who = tp || (!tn && kp) ? prev : next;
	clk = rq_clock_of(who, raw);
	if (!clk.clk)
		clk = rq_clock_of(who == prev ? next : prev, raw);
	now = mono_of(clk.clk);
	if (kp || kn)
		kern_switch(prev, kp, kn, now, raw);
	if (tp) {
		t = get_thread(prev, now, 0, AS_ONCPU, raw);
		if (t && !t->exit_ns) {
			wr_begin(t);
			close_state(t, now, clk);
			t->run_delay = AS_LD(raw, prev, sched_info.run_delay);
			/* The kernel counts nvcsw when the task asked to sleep
			 * (not preempted, state not RUNNING), else nivcsw; it
			 * queues it (run delay from now) when its state is
			 * RUNNING. */
			if (prev_state == TASK_RUNNING) {
				t->nivcsw++;
				t->state = AS_RUNQ;
			} else if (preempt) {
				t->nivcsw++;
				t->sleep_syscall = sleep_syscall(AS_CUR(raw, prev));
				t->state = sleep_state(prev_state, t->sleep_syscall);
			} else {
				t->nvcsw++;
				if (prev_state & (TASK_DEAD | EXIT_DEAD | EXIT_ZOMBIE)) {
					t->state = AS_NONE;
				} else {
					__s32 nr = sleep_syscall(AS_CUR(raw, prev));

					t->sleep_syscall = nr;
					t->state = sleep_state(prev_state, nr);
				}
			}
			wr_end(t);
		}
	}
	if (tn) {
		/* when the kernel queued next (sched_info_arrive reads and
		 * clears it after this tracepoint), and that instant as
		 * CLOCK_MONOTONIC; 0: nothing was queued (a task preempted in a
		 * sleep state, whose wait the kernel does not count as run
		 * delay) */
		struct rq_clocks q = { .clk = AS_LD(raw, next, sched_info.last_queued) };
		__u64 q_now = now;

		if (q.clk && clk.clk >= q.clk && now > clk.clk - q.clk)
			q_now = now - (clk.clk - q.clk);
		else
			q.clk = 0;
		/* first seen here (a new thread): from its enqueue, on the
		 * run queue */
		t = get_thread(next, q_now, q.clk, AS_RUNQ, raw);
		if (t && !t->exit_ns) {
			wr_begin(t);
			if (t->state == AS_BLOCKED || t->state == AS_WAIT_IDLE || t->state == AS_WAIT_OTHER) {
				/* the sleep ended when its wakeup queued it: no
				 * sched_wakeup program is needed (see the top) */
				if (q.clk) {
					/* A wait that load balancing moved to
					 * this CPU was enqueued here later than
					 * it began: the kernel added its first
					 * part to run_delay when it dequeued it
					 * (sched_info_dequeue). */
					__u64 moved = AS_LD(raw, next, sched_info.run_delay) - t->run_delay;

					if (moved < q.clk && moved < q_now) {
						q.clk -= moved;
						q_now -= moved;
					}
					close_state(t, q_now, q);
					t->state = AS_RUNQ;
				} else {
					t->unwoken++;
				}
			}
			close_state(t, now, clk);
			t->state = AS_ONCPU;
			wr_end(t);
		}
	}
	return 0;
}

AMPSTAT_TP(sched_switch, as_switch)

/* sched_process_fork(parent, child) */
static __always_inline int as_fork_body(__u64 *ctx, const bool raw)
{
	struct task_struct *parent = (void *)ctx[0], *child = (void *)ctx[1];
	__u32 ptgid, ctgid, one = 1, zero = 0, i;
	struct ampstat_fast *f;
	struct fast_lock *l;

	if (!follow_forks)
		return 0;
	ptgid = AS_LD(raw, parent, tgid);
	ctgid = AS_LD(raw, child, tgid);
	if (ptgid == ctgid || !tgid_traced(ptgid))
		return 0;
	if (bpf_map_update_elem(&targets, &ctgid, &one, BPF_NOEXIST)) {
		if (!bpf_map_lookup_elem(&targets, &ctgid))
			__sync_fetch_and_add(&dropped_tgids, 1);
		return 0;
	}
	f = bpf_map_lookup_elem(&fast, &zero);
	if (raw) {
		/* a raw_tp program may not even name a map holding a
		 * bpf_spin_lock: from now on the `targets` hash decides alone
		 * (a lookup per event) */
		if (f)
			f->overflow = 1;
		return 0;
	}
	l = bpf_map_lookup_elem(&fast_lock, &zero);
	if (!f || !l)
		return 0;
	bpf_spin_lock(&l->lock);
	i = f->nkern;
	if (i < AMPSTAT_FAST_TGIDS - AMPSTAT_FAST_USER) {
		f->tgid[(AMPSTAT_FAST_USER + i) & (AMPSTAT_FAST_TGIDS - 1)] = ctgid;
		barrier();
		f->nkern = i + 1;
	} else {
		f->overflow = 1;
	}
	bpf_spin_unlock(&l->lock);
	return 0;
}

AMPSTAT_TP(sched_process_fork, as_fork)

/* sched_process_exit(p, group_dead): p is the current task */
static __always_inline int as_exit_body(__u64 *ctx, const bool raw)
{
	struct task_struct *p = (void *)ctx[0];
	bool group_dead = (bool)ctx[1];
	struct ampstat_exit_key key = {};
	struct ampstat_exited *e;
	struct ampstat_thread *t;
	struct ampstat_samples *s;
	__u32 tid, tgid, zero = 0;
	__u64 now;

	if (!is_target(p, raw))
		return 0;
	tid = AS_LD(raw, p, pid);
	t = bpf_map_lookup_elem(&threads, &tid);
	if (t && !t->exit_ns) {
		now = bpf_ktime_get_ns();
		wr_begin(t);
		close_state(t, now, (struct rq_clocks){});	/* rq->clock is not fresh here */
		t->state = AS_NONE;
		t->exit_ns = now;
		wr_end(t);
		key.tid = tid;
		key.start_ns = t->start_ns;
		e = bpf_map_lookup_elem(&scratch, &zero);
		if (e) {
			e->t = *t;
			s = bpf_map_lookup_elem(&samples, &tid);
			if (s)
				e->s = *s;
			else
				__builtin_memset(&e->s, 0, sizeof(e->s));
		}
		if (e && bpf_map_update_elem(&exited, &key, e, BPF_NOEXIST) == 0) {
			bpf_map_delete_elem(&samples, &tid);
			bpf_map_delete_elem(&threads, &tid);
		} else {
			__sync_fetch_and_add(&dropped_threads, 1);
		}
	}
	if (group_dead) {
		struct ampstat_fast *f = bpf_map_lookup_elem(&fast, &zero);

		tgid = AS_LD(raw, p, tgid);
		bpf_map_delete_elem(&targets, &tgid);
		for (__u32 i = 0; f && i < AMPSTAT_FAST_TGIDS; i++)
			if (f->tgid[i] == tgid)
				f->tgid[i] = 0;
	}
	return 0;
}

AMPSTAT_TP(sched_process_exit, as_exit)

/* ---- page cache, per thread (ampstat_cache.bpf.h) */
__u64 dropped_cache = 0;	/* a thread found `samples` full */

static __always_inline void cache_count(__u64 access, __u64 miss)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct ampstat_samples *s, zero = {};

	s = bpf_map_lookup_elem(&samples, &tid);
	if (!s) {
		bpf_map_update_elem(&samples, &tid, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&samples, &tid);
		if (!s) {
			__sync_fetch_and_add(&dropped_cache, 1);
			return;
		}
	}
	if (access)
		__sync_fetch_and_add(&s->cache_access, access);
	if (miss)
		__sync_fetch_and_add(&s->cache_miss, miss);
}

static __always_inline void cache_event(struct address_space *mapping, int what, __u64 pages)
{
	(void)mapping;
	if (what == CACHE_ADDED)
		cache_count(0, pages);
	else
		cache_count(pages, 0);
}

AMPSTAT_CACHE_PROGS(as)

/* Thread names change after creation (prctl PR_SET_NAME, exec): follow
 * them here rather than copy the name at every switch. */
static __always_inline int as_rename_body(__u64 *ctx, const bool raw)
{
	struct task_struct *task = (void *)ctx[0];
	const char *comm = (const char *)ctx[1];
	struct ampstat_thread *t;
	__u32 tid;

	if (!is_target(task, raw))
		return 0;
	tid = AS_LD(raw, task, pid);
	t = bpf_map_lookup_elem(&threads, &tid);
	if (t)
		bpf_probe_read_kernel_str(&t->comm, sizeof(t->comm), comm);
	return 0;
}

AMPSTAT_TP(task_rename, as_rename)

/* Seeding: run once by ampstat after attaching, it gives every traced
 * thread that has no entry yet one with the state it is in now.  An entry an
 * event created in the meantime wins (BPF_NOEXIST). */
SEC("iter/task")
int as_seed(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct ampstat_thread v = {};
	unsigned int st;
	__u32 tid;

	if (!task || !is_target(task, false))
		return 0;
	if (BPF_CORE_READ(task, flags) & PF_EXITING)
		return 0;
	v.start_ns = v.ts_ns = bpf_ktime_get_ns();
	v.run_delay = BPF_CORE_READ(task, sched_info.run_delay);
	v.tid = tid = BPF_CORE_READ(task, pid);
	v.tgid = BPF_CORE_READ(task, tgid);
	v.sleep_syscall = -1;
	st = BPF_CORE_READ(task, __state);
	if (BPF_CORE_READ(task, on_cpu))
		v.state = AS_ONCPU;
	else if (st == TASK_RUNNING)
		v.state = AS_RUNQ;
	else {
		v.sleep_syscall = sleep_syscall(task);
		v.state = sleep_state(st, v.sleep_syscall);
	}
	BPF_CORE_READ_STR_INTO(&v.comm, task, comm);
	bpf_map_update_elem(&threads, &tid, &v, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
