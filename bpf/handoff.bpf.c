// SPDX-License-Identifier: GPL-2.0
/* handoff — hand-off chains dispatcher -> helper -> dispatcher, for
 * ampstat handoff (see include/ampstat_handoff.h).
 *
 * sched_waking runs in the waker's context, so it sees both ends of a
 * hand-off: the dispatcher waking a helper (a chain starts) and the helper
 * waking a dispatcher (the result goes back).  sched_switch moves each
 * helper's chain from phase to phase and, when the dispatcher comes on CPU
 * after a wake-back, closes the chain.  Per helper one HASH entry; per
 * wake-back one entry keyed by the dispatcher until it runs.  No syscall
 * hooks and no USDT probes: the cost is per context switch and wake-up of
 * the target, and a filter for everyone else.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ampstat_handoff.h"
#include "amped_names.h"
#include "amped_usdt.h"
#include "ampstat_tp.bpf.h"
#include "ampstat_disp.bpf.h"

#define TASK_RUNNING		0x0000
#define TASK_UNINTERRUPTIBLE	0x0002
#define TASK_NOLOAD		0x0400

enum { PH_NONE, PH_QUEUED, PH_RUN, PH_IO, PH_SLEEP, PH_RUNQ };

struct ho_state {
	struct ampstat_ho_chain c;
	__u64 t_last;		/* the current phase began */
	__u32 phase;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);		/* helper tid */
	__type(value, struct ho_state);
} helpers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);		/* dispatcher tid */
	__type(value, struct ampstat_ho_chain);
} returning SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} chains SEC(".maps");

__u64 dropped_chains = 0;	/* ring buffer full */
__u64 dropped_state = 0;	/* a map full */

static __always_inline void emit(struct ampstat_ho_chain *c)
{
	if (bpf_ringbuf_output(&chains, c, sizeof(*c), 0))
		__sync_fetch_and_add(&dropped_chains, 1);
}

/* the time since t_last goes to the phase that ends now */
static __always_inline void close_phase(struct ho_state *h, __u64 now)
{
	__u64 d = now > h->t_last ? now - h->t_last : 0;

	switch (h->phase) {
	case PH_QUEUED: h->c.queue_ns += d; break;
	case PH_RUN: h->c.oncpu_ns += d; break;
	case PH_IO: h->c.io_ns += d; break;
	case PH_SLEEP: h->c.sleep_ns += d; break;
	case PH_RUNQ: h->c.runq_ns += d; break;
	}
	h->t_last = now;
}

static __always_inline void chain_begin(struct ho_state *h, __u64 now, __u32 disp, __u32 flags)
{
	h->c.wake_ns = now;
	h->c.end_ns = 0;
	h->c.queue_ns = h->c.oncpu_ns = h->c.io_ns = h->c.sleep_ns = h->c.runq_ns = h->c.back_ns = 0;
	h->c.disp_tid = disp;
	h->c.flags = flags;
	h->t_last = now;
}

/* sched_waking(p), in the waker's context */
static __always_inline int ho_waking_body(__u64 *ctx, const bool raw)
{
	struct task_struct *p = (void *)ctx[0], *cur = bpf_get_current_task_btf();
	__u64 now;
	__u32 tid;

	if (!in_target(p, raw) || !in_target(cur, false))
		return 0;
	if (is_dispatcher(cur, false) && !is_dispatcher(p, raw)) {
		/* a dispatcher wakes a helper: a chain begins */
		struct ho_state *h, fresh = {};

		now = bpf_ktime_get_ns();
		tid = AS_LD(raw, p, pid);
		h = bpf_map_lookup_elem(&helpers, &tid);
		if (!h) {
			fresh.c.helper_tid = tid;
			fresh.c.helper_tgid = AS_LD(raw, p, tgid);
			if (raw)
				BPF_CORE_READ_STR_INTO(&fresh.c.helper_comm, p, comm);
			else
				bpf_probe_read_kernel_str(fresh.c.helper_comm, sizeof(fresh.c.helper_comm), p->comm);
			if (bpf_map_update_elem(&helpers, &tid, &fresh, BPF_NOEXIST)) {
				__sync_fetch_and_add(&dropped_state, 1);
				return 0;
			}
			h = bpf_map_lookup_elem(&helpers, &tid);
			if (!h)
				return 0;
		} else if (h->phase == PH_SLEEP && h->c.wake_ns) {
			/* its chain was not woken back: it ended where this
			 * sleep (the helper's idle wait) began */
			h->c.end_ns = h->t_last;
			h->c.flags |= AHO_NOBACK;
			emit(&h->c);
		} else if (h->phase != PH_NONE && h->phase != PH_SLEEP) {
			/* busy (a wake of a lock it waits for, mid-chain):
			 * not a hand-off */
			return 0;
		}
		chain_begin(h, now, (__u32)bpf_get_current_pid_tgid(), 0);
		h->phase = PH_QUEUED;
		return 0;
	}
	if (!is_dispatcher(cur, false) && is_dispatcher(p, raw)) {
		/* a helper wakes a dispatcher: its result goes back */
		struct ho_state *h;

		tid = (__u32)bpf_get_current_pid_tgid();
		h = bpf_map_lookup_elem(&helpers, &tid);
		if (!h || h->phase != PH_RUN || !h->c.wake_ns)
			return 0;
		now = bpf_ktime_get_ns();
		close_phase(h, now);
		h->c.end_ns = now;	/* the wake-back; end_ns at the dispatcher's run */
		h->c.flags |= AHO_BACK;
		h->c.disp_tid = AS_LD(raw, p, pid);
		tid = h->c.disp_tid;
		if (bpf_map_update_elem(&returning, &tid, &h->c, BPF_ANY))
			__sync_fetch_and_add(&dropped_state, 1);
		/* it runs on: whatever it does next is a chain of its own */
		chain_begin(h, now, h->c.disp_tid, AHO_CONT);
		h->phase = PH_RUN;
	}
	return 0;
}

AMPSTAT_TP(sched_waking, ho_waking)

/* sched_switch(preempt, prev, next, prev_state) */
static __always_inline int ho_switch_body(__u64 *ctx, const bool raw)
{
	bool preempt = (bool)ctx[0];
	struct task_struct *prev = (void *)ctx[1], *next = (void *)ctx[2];
	unsigned int prev_state = (unsigned int)ctx[3];
	__u64 now = 0;
	__u32 tid;

	if (in_target(prev, raw)) {
		struct ho_state *h;

		tid = AS_LD(raw, prev, pid);
		h = bpf_map_lookup_elem(&helpers, &tid);
		if (h && h->phase == PH_RUN) {
			now = bpf_ktime_get_ns();
			close_phase(h, now);
			if (preempt || prev_state == TASK_RUNNING)
				h->phase = PH_RUNQ;
			else if ((prev_state & TASK_UNINTERRUPTIBLE) && !(prev_state & TASK_NOLOAD))
				h->phase = PH_IO;
			else
				h->phase = PH_SLEEP;
		}
	}
	if (in_target(next, raw)) {
		struct ho_state *h;
		struct ampstat_ho_chain *c;

		tid = AS_LD(raw, next, pid);
		h = bpf_map_lookup_elem(&helpers, &tid);
		if (h && h->phase != PH_NONE && h->phase != PH_RUN) {
			if (!now)
				now = bpf_ktime_get_ns();
			close_phase(h, now);
			h->phase = PH_RUN;
		}
		c = bpf_map_lookup_elem(&returning, &tid);
		if (c) {
			if (!now)
				now = bpf_ktime_get_ns();
			c->back_ns = now > c->end_ns ? now - c->end_ns : 0;
			c->end_ns = now;
			emit(c);
			bpf_map_delete_elem(&returning, &tid);
		}
	}
	return 0;
}

AMPSTAT_TP(sched_switch, ho_switch)

char LICENSE[] SEC("license") = "GPL";
