// SPDX-License-Identifier: GPL-2.0
/* latency — per-request latency and its phases for ampstat latency (see
 * include/ampstat_latency.h).
 *
 * The hot path is one USDT hit per request (request_done, ~650 ns attached
 * here): the server keeps its phase marks in the connection and passes their
 * address, so the phases cost one bpf_probe_read_user, not more probes.
 * The off-CPU share comes from sched_switch of the threads that serve
 * requests (only they have task storage in `lthreads`: seeded by ampstat,
 * or created at a thread's first request), intersected with the request's
 * interval at request_done.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "ampstat_latency.h"
#include "ampstat_sched.h"
#include "amped_usdt.h"
#define AMPSTAT_TP_SWITCH_IN
#include "ampstat_tp.bpf.h"
#include "ampstat_idle.bpf.h"

#define TASK_RUNNING		0x0000
#define TASK_UNINTERRUPTIBLE	0x0002
#define TASK_NOLOAD		0x0400

/* the target and its child processes running amped when ampstat started
 * (MP workers, SYMPED processes): constants once loaded, so the filter on
 * every context switch of the machine is a few compares */
#define MAX_TGIDS 16
const volatile __u32 tgids[MAX_TGIDS] = {};
const volatile __u32 ntgids = 0;
/* request_done's ph argument, when it is a plain register: its index in
 * struct pt_regs (r15 = 0 .. di = 14), read straight from the context;
 * -1: fetched through bpf_usdt_arg (~200 ns more here) */
const volatile int ph_reg = -1;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ampstat_lat);
} lat SEC(".maps");

/* per phase, a log-linear histogram (include/lh_layout.h) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AL_NPHASE * LH_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} lhist SEC(".maps");

/* task storage: a switch of a task without an entry (every task of the
 * machine but the serving threads) costs a pointer test, no hash lookup */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ampstat_lat_thread);
} lthreads SEC(".maps");

/* by serving thread, for roles (include/ampstat_latency.h) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct ampstat_lat_tid);
} lat_tids SEC(".maps");

__u64 dropped_threads = 0;

static __always_inline bool ours_tgid(__u32 tg)
{
	for (__u32 i = 0; i < MAX_TGIDS; i++) {
		if (i >= ntgids)
			break;
		if (tgids[i] == tg)
			return true;
	}
	return false;
}

static __always_inline bool ours(struct task_struct *t)
{
	return ours_tgid(t->tgid);
}

/* A global function: the verifier checks it once, not once per call and
 * path (six inlined copies of the branches below exceed its limit). */
__noinline int add_phase(struct ampstat_lat *l, __u64 ph, __u64 ns, __u64 w)
{
	__u32 key;
	__u64 *c;

	if (!l || ph >= AL_NPHASE)
		return 0;
	key = (__u32)ph * LH_BUCKETS + lh_index(ns);
	/* per CPU, and no other run of a uprobe program can start on this
	 * CPU before this one ends (bpf_prog_active): plain adds are exact */
	l->sum_ns[ph] += ns * w;
	c = bpf_map_lookup_elem(&lhist, &key);
	if (c)
		*c += w;
	return 0;
}

/* A load at a constant offset from the context, as the verifier wants it
 * (the compiler would merge the cases of the switch below into one load at
 * a computed offset, which it rejects). */
#define REG(f) ({ long v_;							\
	asm volatile("%0 = *(u64 *)(%1 + %2)" : "=r"(v_)			\
		     : "r"(ctx), "i"(__builtin_offsetof(struct pt_regs, f)));	\
	v_; })

static __always_inline long ph_arg(struct pt_regs *ctx)
{
	long v = 0;

	switch (ph_reg) {
	case 0: return REG(r15);
	case 1: return REG(r14);
	case 2: return REG(r13);
	case 3: return REG(r12);
	case 4: return REG(bp);
	case 5: return REG(bx);
	case 6: return REG(r11);
	case 7: return REG(r10);
	case 8: return REG(r9);
	case 9: return REG(r8);
	case 10: return REG(ax);
	case 11: return REG(cx);
	case 12: return REG(dx);
	case 13: return REG(si);
	case 14: return REG(di);
	}
	if (bpf_usdt_arg(ctx, 6, &v))
		return 0;
	return v;
}

static __always_inline __u64 sub0(__u64 a, __u64 b)
{
	return a > b ? a - b : 0;
}

/* a stretch of th's thread off CPU ends at now */
static __always_inline void lat_in(struct ampstat_lat_thread *th, __u64 now)
{
	__u32 h = th->head;
	struct ampstat_lat_stretch *s = &th->ring[h & (AMPSTAT_LAT_RING - 1)];

	s->start_ns = th->out_ns;
	s->end_ns = now;
	s->cat = th->out_cat;
	th->head = h + 1;
	th->out_ns = 0;
}

/* one more request finished by the current thread */
static __always_inline void tid_add(__u64 w, __u64 total)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ampstat_lat_tid *t = bpf_map_lookup_elem(&lat_tids, &tid), zero = {};

	if (!t) {
		bpf_map_update_elem(&lat_tids, &tid, &zero, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&lat_tids, &tid);
		if (!t)
			return;		/* full: the sums in `lat` still count it */
	}
	__sync_fetch_and_add(&t->count, w);
	__sync_fetch_and_add(&t->total_ns, total * w);
}

/* request_done(conn_id, req_id, status, body_bytes, start_ns, flags, ph):
 * only ph is fetched (each argument fetch is a kernel probe read); it holds
 * start_ns and status as well. */
SEC("usdt")
int on_request_done(struct pt_regs *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct ampstat_lat_thread *th;
	struct amped_phases ph;
	struct ampstat_lat *l;
	__u64 now, first, resp, hpre, hhelp, disp, send, total, recv, start_ns;
	__u64 arrive, acceptq, sockq;
	__u32 zero = 0, cls;
	__u64 w;
	long a_ph = 0;

	if (!ours(task))
		return 0;
	l = bpf_map_lookup_elem(&lat, &zero);
	if (!l)
		return 0;
	a_ph = ph_arg(ctx);
	if (!a_ph || bpf_probe_read_user(&ph, sizeof(ph), (void *)a_ph)) {
		l->bad++;
		return 0;
	}
	/* the server's own clock read, when ampstat asked for the marks */
	now = ph.done_ns ? ph.done_ns : bpf_ktime_get_ns();
	if (!ph.start_ns || ph.start_ns > now) {
		l->bad++;
		return 0;
	}
	start_ns = ph.start_ns;
	/* a head already in the buffer (pipelined) was there at once; an
	 * error answered before the head was parsed has a stale start_ns */
	first = ph.first_ns && ph.first_ns <= now ? ph.first_ns : start_ns;
	if (first > start_ns)
		start_ns = first;
	/* from the kernel's receive stamp: the wait in the accept queue (a
	 * new connection's first request) and in the socket, before the read */
	arrive = ph.arrive_ns && ph.arrive_ns <= first ? ph.arrive_ns : first;
	if (ph.accept_ns > arrive && ph.accept_ns <= first) {
		acceptq = ph.accept_ns - arrive;
		sockq = first - ph.accept_ns;
	} else {
		acceptq = 0;
		sockq = first - arrive;
	}
	total = now - arrive;
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

	/* this hit stands for the sample_mask + 1 requests it was picked from */
	w = (__u64)ph.sample_mask + 1;
	l->hits++;
	if (w > l->max_weight)
		l->max_weight = w;
	l->count += w;
	if (total > l->max_ns)
		l->max_ns = total;
	if (ph.arrive_ns && ph.arrive_ns <= first)
		l->arrived += w;
	if (ph.client_id)
		l->client_ids += w;
	add_phase(l, AL_TOTAL, total, w);
	add_phase(l, AL_ACCEPTQ, acceptq, w);
	add_phase(l, AL_SOCKQ, sockq, w);
	add_phase(l, AL_SERVED, now - first, w);
	add_phase(l, AL_RECV, recv, w);
	add_phase(l, AL_DISP, disp, w);
	add_phase(l, AL_HQ, ph.hq_ns, w);
	add_phase(l, AL_HS, ph.hs_ns, w);
	add_phase(l, AL_SEND, send, w);
	if (hhelp)
		l->helper_reqs += w;
	cls = ph.status / 100;
	if (cls > 5)
		cls = 0;
	l->status[cls & 7] += w;
	tid_add(w, total);

	/* the serving thread's off-CPU stretches within [first, now] */
	th = bpf_task_storage_get(&lthreads, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!th) {
		__sync_fetch_and_add(&dropped_threads, 1);
		return 0;
	}
	/* raw_tp twin: a stretch off CPU is closed only at the thread's next
	 * switch-out; the thread runs now, so the last switch on this CPU
	 * (as_switched_in) is when that stretch ended (tp_btf: out_ns is 0
	 * whenever the thread runs, and this does nothing) */
	if (th->out_ns) {
		__u32 z = 0;
		__u64 *in = bpf_map_lookup_elem(&as_switched_in, &z);

		if (in && *in >= th->out_ns && *in <= now)
			lat_in(th, *in);
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
			l->off_lost += w;
		for (i = 0; i < ALO_N; i++) {
			if (off[i])
				l->off_ns[i] += off[i] * w;
			if (off[i] && i != ALO_IDLE)
				any = true;
		}
		if (any)
			l->off_reqs += w;
	}
	return 0;
}

/* sched_switch(preempt, prev, next, prev_state).  The raw_tp twin
 * (bpf/ampstat_tp.bpf.h) cannot reach next's task storage: it ends prev's
 * previous stretch at prev's switch-out, with the time it came in, or at
 * the thread's next request_done, whichever comes first. */
static __always_inline int lat_switch_body(__u64 *ctx, const bool raw)
{
	bool preempt = (bool)ctx[0];
	struct task_struct *prev = (void *)ctx[1], *next = (void *)ctx[2];
	unsigned int prev_state = (unsigned int)ctx[3];
	struct ampstat_lat_thread *th;
	__u64 now = 0, in_ns = 0;

	if (raw) {
		now = bpf_ktime_get_ns();
		in_ns = as_switch_in(now);
	}
	th = ours_tgid(AS_LD(raw, prev, tgid)) ?
	     bpf_task_storage_get(&lthreads, AS_CUR(raw, prev), 0, 0) : NULL;
	if (th) {
		__u32 cat;

		if (raw && th->out_ns && in_ns >= th->out_ns)
			lat_in(th, in_ns);
		if (!now)
			now = bpf_ktime_get_ns();
		if (preempt || prev_state == TASK_RUNNING) {
			cat = ALO_RUNQ;
		} else if ((prev_state & TASK_UNINTERRUPTIBLE) && !(prev_state & TASK_NOLOAD)) {
			cat = ALO_BLOCKED;
		} else {
			struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(AS_CUR(raw, prev));
			long nr = regs ? regs->orig_ax : -1;

			cat = as_idle_syscall(nr) ? ALO_IDLE : ALO_WAIT_OTHER;
		}
		th->out_ns = now;
		th->out_cat = cat;
	}
	if (raw)
		return 0;
	th = ours(next) ? bpf_task_storage_get(&lthreads, next, 0, 0) : NULL;
	if (th && th->out_ns)
		lat_in(th, now ? now : bpf_ktime_get_ns());
	return 0;
}

AMPSTAT_TP(sched_switch, lat_switch)

char LICENSE[] SEC("license") = "GPL";
