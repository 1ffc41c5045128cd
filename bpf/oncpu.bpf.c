// SPDX-License-Identifier: GPL-2.0
/* oncpu — CPU-clock sampling of the traced threads: counts each sample as
 * user or kernel mode, so ampstat splits the on-CPU time that
 * bpf/sched.bpf.c measures exactly into user and kernel by this ratio.  The
 * kernel here uses tick-based CPU accounting, so /proc utime/stime cannot
 * split it; sampling at a few kHz costs far less than hooking syscalls.
 * `targets` and `fast` are the sched program's maps (shared by fd before
 * load); see include/ampstat_sched.h.
 *
 * Every sample of every CPU also counts in `ksamp`, and when it interrupted
 * softirq processing, by whose context that ran in: the softirq share of
 * the kernel row.  The kernel has no CONFIG_IRQ_TIME_ACCOUNTING, the
 * softirq tracepoints would cost two programs per softirq, and
 * preempt_count cannot be read (a per-CPU variable: kallsyms has no data
 * symbols here).  But x86_64 runs every softirq outside ksoftirqd on the
 * CPU's interrupt stack (do_softirq_own_stack, also from irq_exit), and
 * hard interrupts cannot be interrupted by this sample's timer: a sample
 * of kernel code whose stack pointer is outside the task's own stack
 * interrupted a softirq.  ksoftirqd runs on its own stack; it is counted
 * exactly as a kernel thread by bpf/sched.bpf.c. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ampstat_sched.h"
#include "ampstat_targets.bpf.h"

__u64 dropped_samples = 0;

#define PF_KTHREAD	0x00200000
#define THREAD_SIZE	16384	/* x86_64 without KASAN: 4 pages */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ampstat_ksamp);
} ksamp SEC(".maps");

static __always_inline void kern_sample(struct bpf_perf_event_data *ctx, bool traced, __u32 tid)
{
	__u32 zero = 0;
	struct ampstat_ksamp *k = bpf_map_lookup_elem(&ksamp, &zero);
	struct task_struct *t;

	if (!k)
		return;
	k->total++;
	if ((ctx->regs.csx & 3) == 3)
		return;
	t = bpf_get_current_task_btf();
	if (ctx->regs.sp - (unsigned long)t->stack < THREAD_SIZE)
		return;
	if (traced)
		k->softirq_target++;
	else if (tid && (t->flags & PF_KTHREAD))
		k->softirq_kthread++;
	else
		k->softirq_other++;
}

SEC("perf_event")
int as_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct ampstat_samples *s, zero = {};

	bool traced = tgid_traced(tgid);

	kern_sample(ctx, traced, tid);
	if (!traced)
		return 0;
	s = bpf_map_lookup_elem(&samples, &tid);
	if (!s) {
		bpf_map_update_elem(&samples, &tid, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&samples, &tid);
		if (!s) {
			__sync_fetch_and_add(&dropped_samples, 1);
			return 0;
		}
	}
	/* user_mode(regs): the interrupted code ran at CPL 3 */
	if ((ctx->regs.csx & 3) == 3)
		__sync_fetch_and_add(&s->user, 1);
	else
		__sync_fetch_and_add(&s->kernel, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
