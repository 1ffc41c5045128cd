// SPDX-License-Identifier: GPL-2.0
/* syscalls — `ampstat syscalls`: count and time every system call of the
 * traced processes, by thread and syscall number (include/ampstat_syscalls.h).
 *
 * An opt-in mode: sys_enter and sys_exit fire for every system call on the
 * machine (an empty program costs ~65 ns a run here), so the tgid filter
 * comes first and everything else only runs for the target.  The entry time
 * lives in task storage (no per-thread map entry to clean up when a thread
 * exits); counts are per-CPU, so no atomic operation is needed.  A call is
 * counted at sys_exit, as libbpf-tools' syscount counts, so the two agree. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ampstat_syscalls.h"
#include "ampstat_targets.bpf.h"
#include "ampstat_follow.bpf.h"
#include "ampstat_tp.bpf.h"

struct sc_start {
	__u64 ts_ns;
	__s64 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sc_start);
} sc_start SEC(".maps");

/* keyed by tid: threads x syscalls entries.  Not preallocated: 64k
 * entries of per-CPU histograms would pin ~18 MB per CPU; an entry is
 * allocated once, at a thread's first call of a syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AMPSTAT_MAX_KEYS);
	__type(key, struct ampstat_sc_key);
	__type(value, struct ampstat_sc_val);
} sc SEC(".maps");

__u64 dropped_calls = 0;	/* `sc` was full */

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r;
}

/* sys_enter(regs, id) */
static __always_inline int am_sys_enter_body(__u64 *ctx, const bool raw)
{
	long id = (long)ctx[1];
	struct task_struct *task;
	struct sc_start *s;

	if (!tgid_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	task = bpf_get_current_task_btf();
	s = bpf_task_storage_get(&sc_start, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s)
		return 0;
	s->nr = id;
	s->ts_ns = bpf_ktime_get_ns();
	return 0;
}

AMPSTAT_TP(sys_enter, am_sys_enter)

/* sys_exit(regs, ret) */
static __always_inline int am_sys_exit_body(__u64 *ctx, const bool raw)
{
	struct pt_regs *regs = (void *)ctx[0];
	struct ampstat_sc_key key = {};
	struct ampstat_sc_val *v;
	struct sc_start *s;
	__u64 now, lat = 0, id = bpf_get_current_pid_tgid();
	bool timed = false;
	long nr;

	if (!tgid_traced(id >> 32))
		return 0;
	now = bpf_ktime_get_ns();
	/* the number syscount reports: syscall_get_nr() at exit */
	nr = AS_LD(raw, regs, orig_ax);
	if (nr < 0)
		return 0;
	s = bpf_task_storage_get(&sc_start, bpf_get_current_task_btf(), 0, 0);
	if (s && s->ts_ns && s->nr == nr && now >= s->ts_ns) {
		lat = now - s->ts_ns;
		timed = true;
	}
	if (s)
		s->ts_ns = 0;
	key.nr = (__u32)nr;
	key.tgid = id >> 32;
	key.tid = (__u32)id;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	v = bpf_map_lookup_elem(&sc, &key);
	if (!v) {
		struct ampstat_sc_val zero = {};

		bpf_map_update_elem(&sc, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&sc, &key);
		if (!v) {
			__sync_fetch_and_add(&dropped_calls, 1);
			return 0;
		}
	}
	v->count++;
	if (timed) {
		v->timed++;
		v->total_ns += lat;
		__u32 b = log2_u64(lat);

		if (b > AMPSTAT_SC_BUCKETS - 1)
			b = AMPSTAT_SC_BUCKETS - 1;
		v->hist[b & (AMPSTAT_SC_BUCKETS - 1)]++;
	}
	return 0;
}

AMPSTAT_TP(sys_exit, am_sys_exit)

char LICENSE[] SEC("license") = "GPL";
