/* ampstat_blocked — `ampstat blocked` (bpf/blocked.bpf.c).
 *
 * Every time a dispatcher thread (named amped-disp or amped-disp-N, or the
 * target's main thread for another server) leaves the CPU other than for its
 * idle wait (an interruptible sleep in epoll_wait, poll or select), the
 * switch-out records the state, the syscall it sleeps in (orig_ax), kernel
 * and user stack ids (map `stacks`, STACK_TRACE) and the request it is
 * serving (its slot of amped_current, read with bpf_probe_read_user); the
 * switch-in completes the event and, when it lasted at least min_ns, sends
 * it through ring buffer `events`.  seda's http-stage threads
 * (amped-s-http-N) are event loops too: they count as dispatchers (slot 0).
 *
 * The target's other threads (helpers, workers, seda's other stages) are
 * summed, not reported: their stretches in D state per thread in map
 * `others_tid` (HASH tid -> struct ampstat_blk_tid), so that ampstat can sum
 * them by role. */
#ifndef AMPSTAT_BLOCKED_H
#define AMPSTAT_BLOCKED_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif
#include "ampstat_targets.h"

#define AMPSTAT_BLK_PATH 160
#define AMPSTAT_BLK_METHOD 8

enum ampstat_blk_state {
	ABS_BLOCKED = 0,	/* D */
	ABS_SLEEP = 1,		/* S, not in epoll_wait */
	ABS_PREEMPT = 2,	/* R: preempted, or yielded */
};

struct ampstat_blk_event {
	__u64 out_ns;
	__u64 dur_ns;
	__u32 tgid;
	__u32 tid;
	__u32 state;			/* enum ampstat_blk_state */
	__s32 syscall;			/* -1: not in a syscall (a page fault, preemption) */
	__s32 kstack;			/* stack ids, <0: -errno */
	__s32 ustack;
	__u64 req_id;			/* 0: not in a request */
	__u64 req_start_ns;
	__u32 conn_id;
	__u32 pad;
	char method[AMPSTAT_BLK_METHOD];	/* up to the first space, not terminated */
	char path[AMPSTAT_BLK_PATH];	/* NUL-terminated */
	char comm[AMPSTAT_COMM_LEN];
};

/* another thread's time in D state, for its role */
struct ampstat_blk_tid {
	__u64 blocked;			/* stretches */
	__u64 blocked_ns;
};

#endif
