// SPDX-License-Identifier: GPL-2.0
/* smoke — the smallest useful program: counts context switches away from
 * one process.  It exists so that the BPF tool chain (vmlinux.h, CO-RE,
 * skeleton generation, tp_btf attach) is exercised by every build and test. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 target_tgid = 0;

__u64 switches_out = 0;
__u64 sleeps_out = 0;

SEC("tp_btf/sched_switch")
int BPF_PROG(smoke_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	/* tgid is read through BTF (CO-RE), not a hard-coded offset. */
	if (prev->tgid != target_tgid)
		return 0;
	__sync_fetch_and_add(&switches_out, 1);
	/* prev_state is the argument, not prev->__state, which may already
	 * have changed by the time we look (see DESIGN.md). */
	if (prev_state & 1 /* TASK_INTERRUPTIBLE */)
		__sync_fetch_and_add(&sleeps_out, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
