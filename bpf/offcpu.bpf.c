// SPDX-License-Identifier: GPL-2.0
/* offcpu — `ampstat offcpu`: where the traced threads leave the CPU and for
 * how long (include/ampstat_offcpu.h).  At sched_switch the outgoing thread, which
 * is still `current`, has its kernel and user stacks taken and its
 * switch-out time and category kept in task storage; when it is switched
 * in again the time off CPU is added to its (thread, stacks, category) entry.
 * An opt-in mode: taking two stacks costs about a microsecond per switch of
 * a traced thread.  Under raw_tp (bpf/ampstat_tp.bpf.h) a stretch is added
 * when the thread next leaves the CPU: the last one of a thread still
 * running at the end is not counted. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ampstat_offcpu.h"
#include "ampstat_targets.bpf.h"
#define AMPSTAT_TP_SWITCH_IN
#include "ampstat_tp.bpf.h"
#include "ampstat_idle.bpf.h"
#include "ampstat_follow.bpf.h"
#include "ampstat_stacks.bpf.h"

#define TASK_RUNNING		0x0000
#define TASK_UNINTERRUPTIBLE	0x0002
#define TASK_NOLOAD		0x0400

const volatile __u64 min_ns = 0;	/* stretches shorter than this are not kept */

struct off_start {
	__u64 ts_ns;
	__s32 kstack;
	__s32 ustack;
	__u32 state;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct off_start);
} off_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMPSTAT_MAX_KEYS);
	__type(key, struct ampstat_off_key);
	__type(value, struct ampstat_off_val);
} offcpu SEC(".maps");

__u64 dropped_stacks = 0;	/* no room in `stacks` (or a hash collision) */
__u64 dropped_entries = 0;	/* `offcpu` was full */

/* A stretch off CPU ends: add it to the (thread, stacks, category) entry
 * of the task whose stretch st is, switched in at now. */
static __always_inline void off_in(struct off_start *st, __u64 now, __u32 tgid, __u32 tid,
				   const char *comm, const bool raw)
{
	struct ampstat_off_key key = {};
	struct ampstat_off_val *v;
	__u64 d = now > st->ts_ns ? now - st->ts_ns : 0;

	st->ts_ns = 0;
	if (d < min_ns)
		return;
	if (raw)	/* the task is current */
		bpf_get_current_comm(&key.comm, sizeof(key.comm));
	else
		bpf_probe_read_kernel_str(&key.comm, sizeof(key.comm), comm);
	key.tgid = tgid;
	key.tid = tid;
	key.kstack = st->kstack;
	key.ustack = st->ustack;
	key.state = st->state;
	v = bpf_map_lookup_elem(&offcpu, &key);
	if (!v) {
		struct ampstat_off_val zero = {};

		bpf_map_update_elem(&offcpu, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&offcpu, &key);
		if (!v) {
			__sync_fetch_and_add(&dropped_entries, 1);
			return;
		}
	}
	__sync_fetch_and_add(&v->ns, d);
	__sync_fetch_and_add(&v->count, 1);
}

/* sched_switch(preempt, prev, next, prev_state).  The raw_tp twin cannot
 * reach next's task storage: it ends prev's previous stretch now, at its
 * switch-out, with the time it came in (as_switch_in). */
static __always_inline int am_off_switch_body(__u64 *ctx, const bool raw)
{
	bool preempt = (bool)ctx[0];
	struct task_struct *prev = (void *)ctx[1], *next = (void *)ctx[2];
	unsigned int prev_state = (unsigned int)ctx[3];
	struct off_start *st;
	__u64 now = 0, in_ns = 0;
	__u32 tgid = AS_LD(raw, prev, tgid);

	if (raw) {
		now = bpf_ktime_get_ns();
		in_ns = as_switch_in(now);
	}
	if (tgid_traced(tgid)) {
		st = bpf_task_storage_get(&off_start, AS_CUR(raw, prev), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (st) {
			if (raw && st->ts_ns && in_ns >= st->ts_ns)
				off_in(st, in_ns, tgid, (__u32)bpf_get_current_pid_tgid(), NULL, raw);
			if (!now)
				now = bpf_ktime_get_ns();
			st->ts_ns = now;
			/* prev is still current: its stacks are the ones taken */
			st->kstack = bpf_get_stackid(ctx, &stacks, 0);
			st->ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
			if (stack_lost(st->kstack) || stack_lost(st->ustack))
				__sync_fetch_and_add(&dropped_stacks, 1);
			if (preempt || prev_state == TASK_RUNNING) {
				st->state = AS_RUNQ;
			} else if ((prev_state & TASK_UNINTERRUPTIBLE) && !(prev_state & TASK_NOLOAD)) {
				st->state = AS_BLOCKED;
			} else {
				struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(AS_CUR(raw, prev));
				long nr = regs ? regs->orig_ax : -1;

				st->state = as_idle_syscall(nr) ? AS_WAIT_IDLE : AS_WAIT_OTHER;
			}
		}
	}
	if (!raw && tgid_traced(next->tgid)) {
		st = bpf_task_storage_get(&off_start, next, 0, 0);
		if (!st || !st->ts_ns)
			return 0;
		if (!now)
			now = bpf_ktime_get_ns();
		off_in(st, now, next->tgid, next->pid, next->comm, raw);
	}
	return 0;
}

AMPSTAT_TP(sched_switch, am_off_switch)

char LICENSE[] SEC("license") = "GPL";
