/* ampstat_follow.bpf.h — the opt-in modes' (syscalls, cache, offcpu) way of
 * following the target's forks: a child process of a traced process joins
 * `targets` and the kernel half of `fast` (see include/ampstat_targets.h), and a
 * process whose last thread exits leaves them.  The same protocol as
 * bpf/sched.bpf.c, for objects loaded without it.  Include after
 * ampstat_targets.bpf.h and ampstat_tp.bpf.h; the object sets follow_forks
 * before load.  Each program has a raw_tp twin (ampstat_tp.bpf.h). */
#ifndef AMPSTAT_FOLLOW_BPF_H
#define AMPSTAT_FOLLOW_BPF_H

#include "ampstat_tp.bpf.h"

const volatile bool follow_forks = true;

struct fast_lock {
	struct bpf_spin_lock lock;
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fast_lock);
} fast_lock SEC(".maps");

__u64 dropped_tgids = 0;	/* a forked process found `targets` full */

/* sched_process_fork(parent, child) */
static __always_inline int am_fork_body(__u64 *ctx, const bool raw)
{
	struct task_struct *parent = (void *)ctx[0], *child = (void *)ctx[1];
	__u32 ptgid, ctgid, one = 1, zero = 0, i;
	struct ampstat_fast *f;
	struct fast_lock *l;

	if (!follow_forks)
		return 0;
	ptgid = AS_LD(raw, parent, tgid);
	ctgid = AS_LD(raw, child, tgid);
	if (ptgid == ctgid || !tgid_traced(ptgid))
		return 0;
	if (bpf_map_update_elem(&targets, &ctgid, &one, BPF_NOEXIST)) {
		if (!bpf_map_lookup_elem(&targets, &ctgid))
			__sync_fetch_and_add(&dropped_tgids, 1);
		return 0;
	}
	f = bpf_map_lookup_elem(&fast, &zero);
	if (!f)
		return 0;
	if (raw) {
		/* raw_tp programs may not take a bpf_spin_lock: from now on
		 * the `targets` hash decides alone (a lookup per event) */
		f->overflow = 1;
		return 0;
	}
	l = bpf_map_lookup_elem(&fast_lock, &zero);
	if (!l)
		return 0;
	bpf_spin_lock(&l->lock);
	i = f->nkern;
	if (i < AMPSTAT_FAST_TGIDS - AMPSTAT_FAST_USER) {
		f->tgid[(AMPSTAT_FAST_USER + i) & (AMPSTAT_FAST_TGIDS - 1)] = ctgid;
		asm volatile("" ::: "memory");
		f->nkern = i + 1;
	} else {
		f->overflow = 1;
	}
	bpf_spin_unlock(&l->lock);
	return 0;
}

AMPSTAT_TP(sched_process_fork, am_fork)

/* sched_process_exit(p, group_dead) */
static __always_inline int am_exit_body(__u64 *ctx, const bool raw)
{
	struct task_struct *p = (void *)ctx[0];
	bool group_dead = (bool)ctx[1];
	__u32 tgid, zero = 0;
	struct ampstat_fast *f;

	if (!group_dead)
		return 0;
	tgid = AS_LD(raw, p, tgid);
	if (!tgid_traced(tgid))
		return 0;
	f = bpf_map_lookup_elem(&fast, &zero);
	bpf_map_delete_elem(&targets, &tgid);
	for (__u32 i = 0; f && i < AMPSTAT_FAST_TGIDS; i++)
		if (f->tgid[i] == tgid)
			f->tgid[i] = 0;
	return 0;
}

AMPSTAT_TP(sched_process_exit, am_exit)

#endif
