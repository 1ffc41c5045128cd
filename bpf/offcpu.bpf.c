// SPDX-License-Identifier: GPL-2.0
/* offcpu — `ampstat offcpu`: where the traced threads leave the CPU and for
 * how long (include/ampstat.h).  At sched_switch the outgoing thread, which
 * is still `current`, has its kernel and user stacks taken and its
 * switch-out time and category kept in task storage; when it is switched
 * in again the time off CPU is added to its (name, stacks, category) entry.
 * An opt-in mode: taking two stacks costs about a microsecond per switch of
 * a traced thread. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ampstat.h"
#include "ampstat_targets.bpf.h"
#include "ampstat_follow.bpf.h"

#define TASK_RUNNING		0x0000
#define TASK_UNINTERRUPTIBLE	0x0002
#define TASK_NOLOAD		0x0400
#define NR_epoll_wait		232
#define NR_epoll_pwait		281
#define NR_epoll_pwait2		441

#define MAX_DEPTH 127
#define EEXIST 17
#define ENOMEM 12

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
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, struct ampstat_off_key);
	__type(value, struct ampstat_off_val);
} offcpu SEC(".maps");

__u64 dropped_stacks = 0;	/* no room in `stacks` (or a hash collision) */
__u64 dropped_entries = 0;	/* `offcpu` was full */

SEC("tp_btf/sched_switch")
int BPF_PROG(am_off_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct off_start *st;
	__u64 now = 0;

	if (tgid_traced(prev->tgid)) {
		st = bpf_task_storage_get(&off_start, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (st) {
			now = bpf_ktime_get_ns();
			st->ts_ns = now;
			/* prev is still current: its stacks are the ones taken */
			st->kstack = bpf_get_stackid(ctx, &stacks, 0);
			st->ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
			if (st->kstack == -EEXIST || st->kstack == -ENOMEM || st->ustack == -EEXIST ||
			    st->ustack == -ENOMEM)
				__sync_fetch_and_add(&dropped_stacks, 1);
			if (preempt || prev_state == TASK_RUNNING) {
				st->state = AS_RUNQ;
			} else if ((prev_state & TASK_UNINTERRUPTIBLE) && !(prev_state & TASK_NOLOAD)) {
				st->state = AS_BLOCKED;
			} else {
				struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(prev);
				long nr = regs ? regs->orig_ax : -1;

				st->state = nr == NR_epoll_wait || nr == NR_epoll_pwait || nr == NR_epoll_pwait2
						    ? AS_WAIT_IDLE : AS_WAIT_OTHER;
			}
		}
	}
	if (tgid_traced(next->tgid)) {
		struct ampstat_off_key key = {};
		struct ampstat_off_val *v;
		__u64 d;

		st = bpf_task_storage_get(&off_start, next, 0, 0);
		if (!st || !st->ts_ns)
			return 0;
		if (!now)
			now = bpf_ktime_get_ns();
		d = now > st->ts_ns ? now - st->ts_ns : 0;
		st->ts_ns = 0;
		if (d < min_ns)
			return 0;
		bpf_probe_read_kernel_str(&key.comm, sizeof(key.comm), next->comm);
		key.tgid = next->tgid;
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
				return 0;
			}
		}
		__sync_fetch_and_add(&v->ns, d);
		__sync_fetch_and_add(&v->count, 1);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
