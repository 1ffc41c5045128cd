/* ampstat_offcpu — `ampstat offcpu` (bpf/offcpu.bpf.c), an opt-in mode.
 *
 * Off-CPU time of the traced threads by where they left the CPU: map
 * `offcpu` (HASH, key: struct ampstat_off_key: the thread, its stacks and
 * category; value: struct ampstat_off_val) sums the time from a thread's
 * switch-out (when its
 * kernel and user stacks are taken, as ids into the STACK_TRACE map
 * `stacks`; a negative id: no stack) to its switch-in.  state is the
 * category it left in: AS_BLOCKED, AS_WAIT_IDLE, AS_WAIT_OTHER or AS_RUNQ
 * (preempted). */
#ifndef AMPSTAT_OFFCPU_H
#define AMPSTAT_OFFCPU_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif
#include "ampstat_sched.h"

struct ampstat_off_key {
	char comm[AMPSTAT_COMM_LEN];
	__u32 tgid;
	__u32 tid;
	__s32 kstack;
	__s32 ustack;
	__u32 state;
	__u32 pad;
};

struct ampstat_off_val {
	__u64 ns;
	__u64 count;
};

#endif
