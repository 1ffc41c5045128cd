/* ampstat_syscalls — `ampstat syscalls` (bpf/syscalls.bpf.c), an opt-in mode.
 *
 * Map `sc` (PERCPU_HASH, key: struct ampstat_sc_key) counts, at sys_exit,
 * every system call of the traced threads by thread (tid, with its tgid and
 * name) and number (as syscount does); userspace sums the threads into
 * roles.  `timed` of them also had their sys_enter seen (a call in
 * progress when tracing began has not), and their latency is in total_ns and
 * in hist: bucket i counts latencies in [2^i, 2^(i+1)) ns, the last bucket
 * everything longer. */
#ifndef AMPSTAT_SYSCALLS_H
#define AMPSTAT_SYSCALLS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif
#include "ampstat_targets.h"

#define AMPSTAT_SC_BUCKETS 32

struct ampstat_sc_key {
	char comm[AMPSTAT_COMM_LEN];
	__u32 tgid;
	__u32 tid;
	__u32 nr;
	__u32 pad;
};

struct ampstat_sc_val {
	__u64 count;
	__u64 timed;
	__u64 total_ns;
	__u64 hist[AMPSTAT_SC_BUCKETS];
};

#endif
