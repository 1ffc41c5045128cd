// SPDX-License-Identifier: GPL-2.0
/* blocked — the dispatcher's every departure from the CPU other than its
 * idle wait, for ampstat blocked (see include/ampstat_blocked.h).
 *
 * At switch-out of a dispatcher thread the program takes what only then is
 * at hand: the state, the syscall it sleeps in (its saved orig_ax), its
 * kernel and user stacks (current is still prev), and the request it
 * serves, read from its slot of the server's amped_current (the slot its
 * comm names: include/amped_usdt.h) with bpf_probe_read_user.
 * At switch-in the event gets its duration and goes to the ring buffer.
 * Idle waits (an interruptible sleep in epoll_wait) are dropped at once, so
 * an idle event loop costs a lookup per switch and nothing more.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ampstat_blocked.h"
#include "amped_names.h"
#include "amped_usdt.h"
#include "ampstat_tp.bpf.h"
#include "ampstat_idle.bpf.h"

#define TASK_RUNNING		0x0000
#define TASK_UNINTERRUPTIBLE	0x0002
#define TASK_NOLOAD		0x0400

const volatile __u32 targ_tgid = 0;	/* the target; its children count too */
const volatile bool by_comm = true;	/* dispatchers: threads named amped-disp(-N);
					   else the target's main thread */
const volatile __u64 cur_addr = 0;	/* &amped_current in the target (0: none) */
const volatile __u64 min_ns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 127 * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* the event of a dispatcher that is off CPU now, by tid */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct ampstat_blk_event);
} pending SEC(".maps");

/* the event is built here: too big for the stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ampstat_blk_event);
} scratch SEC(".maps");

/* the target's other threads (helpers, workers) in D state, by tid: their
 * blocked-io is summed, not reported one by one */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} others_out SEC(".maps");

/* the same per thread, for ampstat's roles (include/ampstat_blocked.h) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct ampstat_blk_tid);
} others_tid SEC(".maps");

__u64 others_blocked_ns = 0;
__u64 others_blocked = 0;
__u64 dropped_events = 0;	/* ring buffer full */
__u64 dropped_pending = 0;	/* `pending` full */
__u64 idle_switches = 0;	/* idle waits seen (not reported) */

static __always_inline bool in_target(struct task_struct *t, const bool raw)
{
	return AS_LD(raw, t, tgid) == targ_tgid ||
	       AS_LD2(raw, t, real_parent, tgid) == targ_tgid;
}

/* A dispatcher's slot of amped_current from its comm (include/amped_names.h,
 * amped_usdt.h): "amped-disp" is slot 0, "amped-disp-N" slot N; -1: not a
 * dispatcher. */
static __always_inline int comm_disp_slot(const char *c)
{
	const char want[] = AMPED_COMM_DISP;
	const int n = (int)sizeof(want) - 1;
	int slot = 0;

#pragma unroll
	for (int i = 0; i < n; i++)
		if (c[i] != want[i])
			return -1;
	if (c[n] == 0)
		return 0;
	if (c[n] != '-')
		return -1;
#pragma unroll
	for (int i = n + 1; i < TASK_COMM_LEN; i++) {
		char d = c[i];
		if (d == 0)
			return i > n + 1 && slot < AMPED_DISP_MAX ? slot : -1;
		if (d < '0' || d > '9' || slot >= AMPED_DISP_MAX)
			return -1;
		slot = slot * 10 + (d - '0');
	}
	return -1;
}

/* seda's http stage: each thread an event loop (amped-s-http-N) */
static __always_inline bool comm_is_stage_loop(const char *c)
{
	const char want[] = AMPED_COMM_STAGE AMPED_STAGE_HTTP "-";	/* a prefix */

#pragma unroll
	for (int i = 0; i < (int)sizeof(want) - 1; i++)
		if (c[i] != want[i])
			return false;
	return true;
}

/* amped_current's slot of a dispatcher or a seda http-stage thread (slot 0:
 * seda's loops share it); -1: not an event loop */
static __always_inline int comm_loop_slot(const char *c)
{
	int slot = comm_disp_slot(c);

	if (slot >= 0)
		return slot;
	return comm_is_stage_loop(c) ? 0 : -1;
}

static __always_inline int disp_slot(struct task_struct *t, const bool raw)
{
	char comm[TASK_COMM_LEN];

	if (!by_comm)
		return AS_LD(raw, t, pid) == targ_tgid ? 0 : -1;
	if (!raw)
		return comm_loop_slot(t->comm);
	if (BPF_CORE_READ_STR_INTO(&comm, t, comm) < 0)
		return -1;
	return comm_loop_slot(comm);
}

static __always_inline bool is_dispatcher(struct task_struct *t, const bool raw)
{
	return disp_slot(t, raw) >= 0;
}

static __always_inline void others_add(__u32 tid, __u64 ns)
{
	struct ampstat_blk_tid *o = bpf_map_lookup_elem(&others_tid, &tid), zero = {};

	if (!o) {
		bpf_map_update_elem(&others_tid, &tid, &zero, BPF_NOEXIST);
		o = bpf_map_lookup_elem(&others_tid, &tid);
		if (!o)
			return;		/* full: the totals above still count it */
	}
	__sync_fetch_and_add(&o->blocked, 1);
	__sync_fetch_and_add(&o->blocked_ns, ns);
}

static __always_inline int blk_switch_body(__u64 *ctx, const bool raw)
{
	bool preempt = (bool)ctx[0];
	struct task_struct *prev = (void *)ctx[1], *next = (void *)ctx[2];
	unsigned int prev_state = (unsigned int)ctx[3];
	struct ampstat_blk_event *e;
	__u32 tid, zero = 0;
	__u64 now = 0;
	bool prev_in = in_target(prev, raw), next_in = in_target(next, raw);

	int slot = prev_in ? disp_slot(prev, raw) : -1;

	if (prev_in && slot < 0) {
		if (!preempt && (prev_state & TASK_UNINTERRUPTIBLE) && !(prev_state & TASK_NOLOAD)) {
			now = bpf_ktime_get_ns();
			tid = AS_LD(raw, prev, pid);
			bpf_map_update_elem(&others_out, &tid, &now, BPF_ANY);
		}
	} else if (prev_in) {
		/* prev is still current */
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(AS_CUR(raw, prev));
		long nr = regs ? regs->orig_ax : -1;
		__u32 state;

		if (preempt || prev_state == TASK_RUNNING)
			state = ABS_PREEMPT;
		else if ((prev_state & TASK_UNINTERRUPTIBLE) && !(prev_state & TASK_NOLOAD))
			state = ABS_BLOCKED;
		else if (as_idle_syscall(nr)) {
			__sync_fetch_and_add(&idle_switches, 1);
			goto in;
		} else
			state = ABS_SLEEP;
		e = bpf_map_lookup_elem(&scratch, &zero);
		if (!e)
			goto in;
		now = bpf_ktime_get_ns();
		e->out_ns = now;
		e->dur_ns = 0;
		e->tgid = AS_LD(raw, prev, tgid);
		e->tid = tid = AS_LD(raw, prev, pid);
		e->state = state;
		/* orig_ax: the syscall number, or negative when the thread
		 * entered the kernel by an interrupt or a fault */
		e->syscall = nr < 0 ? -1 : (__s32)nr;
		e->kstack = bpf_get_stackid(ctx, &stacks, 0);
		e->ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		e->req_id = 0;
		e->req_start_ns = 0;
		e->conn_id = 0;
		e->method[0] = 0;
		e->path[0] = 0;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		if (cur_addr) {
			struct amped_current c;

			__u64 a = cur_addr + (__u64)(slot & (AMPED_DISP_MAX - 1)) * sizeof(c);

			if (bpf_probe_read_user(&c, sizeof(c), (void *)a) == 0 && c.req_id) {
				e->req_id = c.req_id;
				e->req_start_ns = c.start_ns;
				e->conn_id = c.conn_id;
				if (c.method)
					bpf_probe_read_user(e->method, sizeof(e->method), c.method);
				if (c.path)
					bpf_probe_read_user_str(e->path, sizeof(e->path), c.path);
			}
		}
		if (bpf_map_update_elem(&pending, &tid, e, BPF_ANY))
			__sync_fetch_and_add(&dropped_pending, 1);
	}
in:
	if (next_in && !is_dispatcher(next, raw)) {
		__u64 *t0;

		tid = AS_LD(raw, next, pid);
		t0 = bpf_map_lookup_elem(&others_out, &tid);
		if (t0) {
			if (!now)
				now = bpf_ktime_get_ns();
			if (now > *t0)
				__sync_fetch_and_add(&others_blocked_ns, now - *t0);
			__sync_fetch_and_add(&others_blocked, 1);
			others_add(tid, now > *t0 ? now - *t0 : 0);
			bpf_map_delete_elem(&others_out, &tid);
		}
	} else if (next_in) {
		tid = AS_LD(raw, next, pid);
		e = bpf_map_lookup_elem(&pending, &tid);
		if (e) {
			if (!now)
				now = bpf_ktime_get_ns();
			e->dur_ns = now > e->out_ns ? now - e->out_ns : 0;
			if (e->dur_ns >= min_ns &&
			    bpf_ringbuf_output(&events, e, sizeof(*e), 0))
				__sync_fetch_and_add(&dropped_events, 1);
			bpf_map_delete_elem(&pending, &tid);
		}
	}
	return 0;
}

/* sched_switch(preempt, prev, next, prev_state) */
AMPSTAT_TP(sched_switch, blk_switch)

char LICENSE[] SEC("license") = "GPL";
