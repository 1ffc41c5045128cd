/* ampstat_profile — `ampstat profile` (bpf/profile.bpf.c), an opt-in mode.
 *
 * CPU-clock samples of the traced threads by stack: map `profile` (HASH,
 * key: struct ampstat_prof_key: the thread, its name, and the kernel and
 * user stacks at the sample as ids into the STACK_TRACE map `stacks`; a
 * negative id: no stack, as for the kernel stack of a sample taken in user
 * mode; value: the number of samples).  user is 1 when the sample
 * interrupted user mode (CPL 3). */
#ifndef AMPSTAT_PROFILE_H
#define AMPSTAT_PROFILE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif
#include "ampstat_targets.h"

struct ampstat_prof_key {
	char comm[AMPSTAT_COMM_LEN];
	__u32 tgid;
	__u32 tid;
	__s32 kstack;
	__s32 ustack;
	__u32 user;
	__u32 pad;
};

#endif
