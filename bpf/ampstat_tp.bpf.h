/* ampstat_tp.bpf.h — tp_btf programs with a raw_tp twin, for kernels whose
 * BTF lacks a tracepoint's btf_trace_<name> type (tp_btf cannot attach
 * there; raw_tp can).
 *
 * A program is written once, as an always-inline body taking the raw
 * argument array and a constant `raw`:
 *
 *   static __always_inline int x_body(__u64 *ctx, const bool raw) { ... }
 *   AMPSTAT_TP(sched_switch, x)
 *
 * AMPSTAT_TP defines `x` (SEC tp_btf/sched_switch) and `x_raw` (SEC
 * ?raw_tp/sched_switch: not loaded unless asked); mode_tp_select() in
 * user/ampstat/mode.c turns on one of each pair before load.  Inside the
 * body, with `raw` a constant the compiler drops the other branch:
 *   AS_LD(raw, p, f)     p->f: a direct load under tp_btf (p is a BTF
 *                        pointer there), BPF_CORE_READ under raw_tp (p is a
 *                        plain number); AS_LD2 for p->f->g
 *   AS_CUR(raw, t)       t as a BTF pointer when t is the current task (prev
 *                        at sched_switch): for task storage, bpf_task_pt_regs
 * A raw_tp program cannot reach the task storage of a task that is not
 * current (`next` at sched_switch).  Define AMPSTAT_TP_SWITCH_IN before
 * including for as_switch_in(now): the time the current task came on this
 * CPU (0 when not seen yet), so a raw twin closes a task's off-CPU stretch
 * at its next switch-out instead of at its switch-in. */
#ifndef AMPSTAT_TP_BPF_H
#define AMPSTAT_TP_BPF_H

#include <bpf/bpf_core_read.h>

#define AS_LD(raw, p, f) ((raw) ? BPF_CORE_READ(p, f) : (p)->f)
#define AS_LD2(raw, p, f, g) ((raw) ? BPF_CORE_READ(p, f, g) : (p)->f->g)
#define AS_CUR(raw, t) ((raw) ? bpf_get_current_task_btf() : (t))

#define AMPSTAT_TP(tp, name)							\
	SEC("tp_btf/" #tp)							\
	int name(__u64 *ctx) { return name##_body(ctx, false); }		\
	SEC("?raw_tp/" #tp)							\
	int name##_raw(__u64 *ctx) { return name##_body(ctx, true); }

#ifdef AMPSTAT_TP_SWITCH_IN
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} as_switched_in SEC(".maps");

/* Call at every sched_switch (raw twins only): returns the time of the
 * previous switch on this CPU — the one that put the current task (prev)
 * on it, since a running task does not migrate — and records now. */
static __always_inline __u64 as_switch_in(__u64 now)
{
	__u32 zero = 0;
	__u64 *t = bpf_map_lookup_elem(&as_switched_in, &zero), in;

	if (!t)
		return 0;
	in = *t;
	*t = now;
	return in;
}
#endif

#endif
