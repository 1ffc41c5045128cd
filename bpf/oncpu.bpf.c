// SPDX-License-Identifier: GPL-2.0
/* oncpu — CPU-clock sampling of the traced threads: counts each sample as
 * user or kernel mode, so ampstat splits the on-CPU time that
 * bpf/sched.bpf.c measures exactly into user and kernel by this ratio.  The
 * kernel here uses tick-based CPU accounting, so /proc utime/stime cannot
 * split it; sampling at a few kHz costs far less than hooking syscalls.
 * `targets` and `fast` are the sched program's maps (shared by fd before
 * load); see include/ampstat.h. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ampstat.h"
#include "ampstat_targets.bpf.h"

__u64 dropped_samples = 0;

SEC("perf_event")
int as_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct ampstat_samples *s, zero = {};

	if (!tgid_traced(tgid))
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
