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
 *
 * A stall's collateral (who waited behind it) is counted at its switch-in,
 * from the kernel's own queues (include/ampstat_blocked.h): only for stalls
 * of at least coll_min_ns, so the walk of the descriptor table is paid
 * where a stall is long enough to matter.  sched_waking notes who woke the
 * dispatcher out of a pending stall (a helper, or the kernel).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ampstat_blocked.h"
#include "amped_names.h"
#include "amped_usdt.h"
#include "ampstat_tp.bpf.h"
#include "ampstat_idle.bpf.h"
#include "ampstat_disp.bpf.h"

#define TASK_RUNNING		0x0000
#define TASK_UNINTERRUPTIBLE	0x0002
#define TASK_NOLOAD		0x0400
#define NR_epoll_wait		232
#define NR_epoll_pwait		281
#define NR_epoll_pwait2		441
#define S_IFMT			00170000
#define S_IFSOCK		0140000
#define TCP_ESTABLISHED		1
#define TCP_LISTEN		10
#define IPPROTO_TCP		6

const volatile __u64 cur_addr = 0;	/* &amped_current in the target (0: none) */
const volatile __u64 min_ns = 0;
const volatile __u64 coll_min_ns = 1000000;	/* stalls this long get a collateral count */
/* The walks may take this share of one CPU (parts per million of the wall
 * time since coll_t0, plus one second's worth up front): a walk delays the
 * dispatcher it is about to switch in, so its cost must stay bounded
 * however many connections and stalls there are. */
const volatile __u64 coll_budget_ppm = 10000;
__u64 coll_t0 = 0;		/* set by userspace before attaching */
__u64 coll_scan_ns = 0;		/* time spent walking */
__u64 coll_over_budget = 0;	/* stalls not walked: over the budget */

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

/* requests (socket and read position; accept-queue entry) already counted
 * behind an earlier stall */
struct blk_seen_key {
	__u64 ptr;
	__u32 seq;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct blk_seen_key);
	__type(value, __u8);
} seen SEC(".maps");

__u64 others_blocked_ns = 0;
__u64 others_blocked = 0;
__u64 dropped_events = 0;	/* ring buffer full */
__u64 dropped_pending = 0;	/* `pending` full */
__u64 idle_switches = 0;	/* idle waits seen (not reported) */

/* ---------------------------------------------------------------- collateral */

struct blk_scan {
	__u64 fds;		/* the fd array (struct file **), a kernel address */
	__u64 out_ns, in_ns;
	__u64 wait_ns;
	__u32 readable, accept, fresh;
};

static __always_inline void coll_wait(struct blk_scan *c, __u64 arrival_ns)
{
	__u64 from = arrival_ns > c->out_ns ? arrival_ns : c->out_ns;

	if (c->in_ns > from)
		c->wait_ns += c->in_ns - from;
}

static __always_inline void coll_seen(struct blk_scan *c, __u64 ptr, __u32 seq)
{
	struct blk_seen_key k = { .ptr = ptr, .seq = seq };
	__u8 one = 1;

	if (!bpf_map_update_elem(&seen, &k, &one, BPF_NOEXIST))
		c->fresh++;
}

/* bpf_loop callback: descriptor i of the dispatcher */
static int scan_fd(__u32 i, void *data)
{
	struct blk_scan *c = data;
	struct file *f = NULL;
	struct sock *sk;
	void *sock;
	__u8 state;

	if (bpf_probe_read_kernel(&f, sizeof(f), (void *)(c->fds + (__u64)i * sizeof(f))) || !f)
		return 0;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ((struct socket *)sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_ESTABLISHED) {
		struct tcp_sock *tp = (void *)sk;
		__u32 cp = BPF_CORE_READ(tp, copied_seq);

		if (BPF_CORE_READ(tp, rcv_nxt) == cp)
			return 0;
		c->readable++;
		/* tcp_mstamp: the last segment in or out, in us; a request
		 * waiting unread was the last thing to arrive */
		coll_wait(c, BPF_CORE_READ(tp, tcp_mstamp) * 1000);
		coll_seen(c, (__u64)sk, cp);
	} else if (state == TCP_LISTEN) {
		struct request_sock *req;

		c->accept += BPF_CORE_READ(sk, sk_ack_backlog);
		req = BPF_CORE_READ((struct inet_connection_sock *)sk, icsk_accept_queue.rskq_accept_head);
		for (int j = 0; j < AMPSTAT_BLK_SCAN_ACCEPT && req; j++) {
			struct sock *child = BPF_CORE_READ(req, sk);

			coll_wait(c, BPF_CORE_READ((struct tcp_request_sock *)req, snt_synack) * 1000);
			/* keyed like the unread connection it becomes once
			 * accepted: a request is counted once either way */
			if (child)
				coll_seen(c, (__u64)child, BPF_CORE_READ((struct tcp_sock *)child, copied_seq));
			else
				coll_seen(c, (__u64)req, 0);
			req = BPF_CORE_READ(req, dl_next);
		}
	}
	return 0;
}

/* Who waited behind e, which ended now: the kernel's queues of the
 * dispatcher's sockets (t: the dispatcher). */
static __always_inline void collateral(struct ampstat_blk_event *e, struct task_struct *t, __u64 now)
{
	struct blk_scan c = { .out_ns = e->out_ns, .in_ns = now };
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	__u32 n;

	if (!fdt) {
		e->coll_flags = ABC_NOFILES;
		return;
	}
	n = BPF_CORE_READ(fdt, max_fds);
	c.fds = (__u64)BPF_CORE_READ(fdt, fd);
	if (!c.fds) {
		e->coll_flags = ABC_NOFILES;
		return;
	}
	e->coll_flags = ABC_SCANNED;
	if (n > AMPSTAT_BLK_SCAN_FDS) {
		n = AMPSTAT_BLK_SCAN_FDS;
		e->coll_flags |= ABC_TRUNCATED;
	}
	bpf_loop(n, scan_fd, &c, 0);
	e->coll_fds = n;
	e->coll_readable = c.readable;
	e->coll_accept = c.accept;
	e->coll_new = c.fresh;
	e->coll_wait_ns = c.wait_ns;
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
		e->coll_wait_ns = 0;
		e->coll_readable = e->coll_accept = e->coll_new = e->coll_fds = e->coll_flags = 0;
		e->waker_tid = 0;
		e->waker_comm[0] = 0;
		e->waker_in_target = 0;
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
			if (e->dur_ns >= min_ns && e->dur_ns >= coll_min_ns) {
				__u64 allowed = ((now > coll_t0 ? now - coll_t0 : 0) + 1000000000ULL) / 1000000 *
						coll_budget_ppm;

				if (coll_scan_ns < allowed) {
					collateral(e, next, now);
					__sync_fetch_and_add(&coll_scan_ns, bpf_ktime_get_ns() - now);
				} else {
					e->coll_flags = ABC_OVER_BUDGET;
					__sync_fetch_and_add(&coll_over_budget, 1);
				}
			}
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

/* sched_waking(p), in the waker's context: who ends a dispatcher's stall */
static __always_inline int blk_waking_body(__u64 *ctx, const bool raw)
{
	struct task_struct *p = (void *)ctx[0], *cur;
	struct ampstat_blk_event *e;
	__u32 tid;

	if (!in_target(p, raw))
		return 0;
	tid = AS_LD(raw, p, pid);
	e = bpf_map_lookup_elem(&pending, &tid);
	if (!e || e->waker_tid)
		return 0;
	cur = bpf_get_current_task_btf();
	e->waker_tid = (__u32)bpf_get_current_pid_tgid();
	bpf_get_current_comm(e->waker_comm, sizeof(e->waker_comm));
	e->waker_in_target = in_target(cur, false);
	return 0;
}

AMPSTAT_TP(sched_waking, blk_waking)

char LICENSE[] SEC("license") = "GPL";
