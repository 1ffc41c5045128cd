// SPDX-License-Identifier: GPL-2.0
/* latency — per-request latency and its phases for ampstat latency (see
 * include/ampstat.h).
 *
 * The hot path is one USDT hit per request (request_done, ~650 ns attached
 * here): the server keeps its phase marks in the connection and passes their
 * address, so the phases cost one bpf_probe_read_user, not more probes.
 * The off-CPU share comes from sched_switch of the threads that served a
 * request (an entry in `lthreads` exists only for them), intersected with
 * the request's interval at request_done.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "ampstat.h"
#include "amped_usdt.h"

#define TASK_RUNNING		0x0000
#define TASK_UNINTERRUPTIBLE	0x0002
#define TASK_NOLOAD		0x0400
#define NR_epoll_wait		232
#define NR_epoll_pwait		281
#define NR_epoll_pwait2		441

const volatile __u32 targ_tgid = 0;	/* the target; its children count too */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ampstat_lat);
} lat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct ampstat_lat_thread);
} lthreads SEC(".maps");

__u64 dropped_threads = 0;
struct ampstat_lat_thread zero_thread = {};	/* never written: too big for the stack */

static __always_inline bool ours(struct task_struct *t)
{
	return t->tgid == targ_tgid || t->real_parent->tgid == targ_tgid;
}

/* A global function: the verifier checks it once, not once per call and
 * path (six inlined copies of the branches below exceed its limit). */
__noinline int add_phase(struct ampstat_lat *l, __u64 ph, __u64 ns)
{
	__u64 v = ns;
	__u32 b = 0;

	if (!l || ph >= AL_NPHASE)
		return 0;
	if (v >> 32) { v >>= 32; b += 32; }
	if (v >> 16) { v >>= 16; b += 16; }
	if (v >> 8) { v >>= 8; b += 8; }
	if (v >> 4) { v >>= 4; b += 4; }
	if (v >> 2) { v >>= 2; b += 2; }
	if (v >> 1) { b += 1; }
	if (b >= AMPSTAT_LAT_BUCKETS)
		b = AMPSTAT_LAT_BUCKETS - 1;
	/* per CPU, but a uprobe program can be preempted by another task
	 * hitting the probe on this CPU: atomic adds keep the counts exact */
	__sync_fetch_and_add(&l->sum_ns[ph], ns);
	__sync_fetch_and_add(&l->hist[ph][b], 1);
	return 0;
}

static __always_inline __u64 sub0(__u64 a, __u64 b)
{
	return a > b ? a - b : 0;
}

/* request_done(conn_id, req_id, status, body_bytes, start_ns, flags, ph):
 * only the arguments used are fetched, each fetch of an argument kept in
 * memory being a probe read of its own. */
SEC("usdt")
int on_request_done(struct pt_regs *ctx)
{
	long a_status = 0, a_start = 0, a_ph = 0;
	__u64 start_ns;
	__u32 status;
	void *php;
	struct task_struct *task = bpf_get_current_task_btf();
	struct amped_phases ph;
	struct ampstat_lat *l;
	struct ampstat_lat_thread *th;
	__u64 now, first, resp, hpre, hhelp, disp, send, total, recv;
	__u32 zero = 0, tid, cls;

	if (!ours(task))
		return 0;
	l = bpf_map_lookup_elem(&lat, &zero);
	if (!l)
		return 0;
	if (bpf_usdt_arg(ctx, 2, &a_status) || bpf_usdt_arg(ctx, 4, &a_start) ||
	    bpf_usdt_arg(ctx, 6, &a_ph)) {
		__sync_fetch_and_add(&l->bad, 1);
		return 0;
	}
	status = (__u32)a_status;
	start_ns = (__u64)a_start;
	php = (void *)a_ph;
	now = bpf_ktime_get_ns();
	if (!php || bpf_probe_read_user(&ph, sizeof(ph), php) || !start_ns || start_ns > now) {
		__sync_fetch_and_add(&l->bad, 1);
		return 0;
	}
	/* a head already in the buffer (pipelined) was there at once; an
	 * error answered before the head was parsed has a stale start_ns */
	first = ph.first_ns && ph.first_ns <= now ? ph.first_ns : start_ns;
	if (first > start_ns)
		start_ns = first;
	total = now - first;
	recv = start_ns - first;
	resp = ph.resp_ns && ph.resp_ns >= start_ns && ph.resp_ns <= now ? ph.resp_ns : now;
	hhelp = ph.hq_ns + ph.hs_ns;
	if (hhelp > total) {		/* cannot be: do not let it skew the sums */
		ph.hq_ns = ph.hs_ns = ph.hsend_ns = 0;
		hhelp = 0;
	}
	if (ph.hsend_ns > hhelp)
		ph.hsend_ns = hhelp;
	hpre = hhelp - ph.hsend_ns;
	disp = sub0(resp - start_ns, hpre);
	send = sub0(now - resp, ph.hsend_ns);

	__sync_fetch_and_add(&l->count, 1);
	if (total > l->max_ns)
		l->max_ns = total;
	add_phase(l, AL_TOTAL, total);
	add_phase(l, AL_RECV, recv);
	add_phase(l, AL_DISP, disp);
	add_phase(l, AL_HQ, ph.hq_ns);
	add_phase(l, AL_HS, ph.hs_ns);
	add_phase(l, AL_SEND, send);
	if (hhelp)
		__sync_fetch_and_add(&l->helper_reqs, 1);
	cls = status / 100;
	if (cls > 5)
		cls = 0;
	__sync_fetch_and_add(&l->status[cls & 7], 1);

	/* the serving thread's off-CPU stretches within [first, now] */
	tid = (__u32)bpf_get_current_pid_tgid();
	th = bpf_map_lookup_elem(&lthreads, &tid);
	if (!th) {
		if (bpf_map_update_elem(&lthreads, &tid, &zero_thread, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&lthreads, &tid))
			__sync_fetch_and_add(&dropped_threads, 1);
		return 0;
	}
	{
		__u64 off[ALO_N] = {};
		__u32 h = th->head, i;
		bool lost = true, any = false;

		for (i = 0; i < AMPSTAT_LAT_RING; i++) {
			struct ampstat_lat_stretch *s = &th->ring[(h - 1 - i) & (AMPSTAT_LAT_RING - 1)];
			__u64 a = s->start_ns;

			if (!s->end_ns || s->end_ns <= first) {
				lost = false;
				break;
			}
			if (a < first)
				a = first;
			off[s->cat & (ALO_N - 1)] += s->end_ns - a;
		}
		if (lost)
			__sync_fetch_and_add(&l->off_lost, 1);
		for (i = 0; i < ALO_N; i++) {
			if (off[i])
				__sync_fetch_and_add(&l->off_ns[i], off[i]);
			if (off[i] && i != ALO_IDLE)
				any = true;
		}
		if (any)
			__sync_fetch_and_add(&l->off_reqs, 1);
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(lat_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	struct ampstat_lat_thread *th;
	__u64 now = 0;
	__u32 tid;

	if (ours(prev)) {
		tid = prev->pid;
		th = bpf_map_lookup_elem(&lthreads, &tid);
		if (th) {
			__u32 cat;

			now = bpf_ktime_get_ns();
			if (preempt || prev_state == TASK_RUNNING) {
				cat = ALO_RUNQ;
			} else if ((prev_state & TASK_UNINTERRUPTIBLE) && !(prev_state & TASK_NOLOAD)) {
				cat = ALO_BLOCKED;
			} else {
				struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(prev);
				long nr = regs ? regs->orig_ax : -1;

				cat = nr == NR_epoll_wait || nr == NR_epoll_pwait || nr == NR_epoll_pwait2 ?
				      ALO_IDLE : ALO_WAIT_OTHER;
			}
			th->out_ns = now;
			th->out_cat = cat;
		}
	}
	if (ours(next)) {
		tid = next->pid;
		th = bpf_map_lookup_elem(&lthreads, &tid);
		if (th && th->out_ns) {
			__u32 h = th->head;
			struct ampstat_lat_stretch *s = &th->ring[h & (AMPSTAT_LAT_RING - 1)];

			if (!now)
				now = bpf_ktime_get_ns();
			s->start_ns = th->out_ns;
			s->end_ns = now;
			s->cat = th->out_cat;
			th->head = h + 1;
			th->out_ns = 0;
		}
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
