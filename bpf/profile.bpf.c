// SPDX-License-Identifier: GPL-2.0
/* profile — `ampstat profile`: CPU-clock samples of the traced threads
 * with their kernel and user stacks (include/ampstat_profile.h).  ampstat
 * opens one PERF_COUNT_SW_CPU_CLOCK event per CPU at the chosen frequency
 * and attaches this program to each: it runs on every CPU's tick, keeps
 * only the traced processes' samples (tgid filter first, as every ampstat
 * program does) and counts them per (thread, stacks).  The stacks are the
 * interrupted context's (the perf event's registers), so no tracing frames
 * appear at their leaf.  Forks are followed as by the other opt-in modes
 * (bpf/ampstat_follow.bpf.h). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ampstat_profile.h"
#include "ampstat_targets.bpf.h"
#include "ampstat_tp.bpf.h"
#include "ampstat_follow.bpf.h"
#include "ampstat_stacks.bpf.h"


struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMPSTAT_MAX_KEYS);
	__type(key, struct ampstat_prof_key);
	__type(value, __u64);
} profile SEC(".maps");

__u64 dropped_stacks = 0;	/* no room in `stacks` (or a hash collision) */
__u64 dropped_entries = 0;	/* `profile` was full */

SEC("perf_event")
int as_profile(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), *v, one = 1;
	struct ampstat_prof_key key = {};

	key.tgid = id >> 32;
	if (!tgid_traced(key.tgid))
		return 0;
	key.tid = (__u32)id;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	/* user_mode(regs): the interrupted code ran at CPL 3; its kernel
	 * stack is then empty and not asked for */
	key.user = (ctx->regs.csx & 3) == 3;
	key.kstack = key.user ? -1 : bpf_get_stackid(ctx, &stacks, 0);
	key.ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	if (stack_lost(key.kstack) || stack_lost(key.ustack))
		__sync_fetch_and_add(&dropped_stacks, 1);
	v = bpf_map_lookup_elem(&profile, &key);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return 0;
	}
	if (bpf_map_update_elem(&profile, &key, &one, BPF_NOEXIST)) {
		/* another CPU added it first, or the map is full */
		v = bpf_map_lookup_elem(&profile, &key);
		if (v)
			__sync_fetch_and_add(v, 1);
		else
			__sync_fetch_and_add(&dropped_entries, 1);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
