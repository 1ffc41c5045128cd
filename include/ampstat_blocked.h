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
 * them by role.
 *
 * Collateral (stalls of at least coll_min_ns, while the walks have used
 * less than coll_budget_ppm of one CPU): at the switch-in the program
 * walks the dispatcher's descriptor table (up to AMPSTAT_BLK_SCAN_FDS) and
 * counts who waited behind the stall: TCP connections with unread bytes
 * (a request the server has not read) and connections in its listeners'
 * accept queues.  Each one's wait within the stall runs from the later of
 * the switch-out and its arrival (tcp_sock.tcp_mstamp, the last segment's
 * time; an accept-queue entry's SYN-ACK time) to the switch-in.  A request
 * waiting behind several stalls is counted once in coll_new (LRU map
 * `seen`, keyed by socket and read position).  Requests the server has
 * already read and is still serving are not counted: only the kernel's
 * queues are, so the figure is a lower bound and works for any server.
 *
 * The waker (sched_waking while the dispatcher's event is pending) tells a
 * wait on a helper (woken by a thread of the target) from other sleeps. */
#ifndef AMPSTAT_BLOCKED_H
#define AMPSTAT_BLOCKED_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif
#include "ampstat_targets.h"

#define AMPSTAT_BLK_PATH 160
#define AMPSTAT_BLK_METHOD 8
#define AMPSTAT_BLK_SCAN_FDS 4096	/* descriptors walked per stall, at most */
#define AMPSTAT_BLK_SCAN_ACCEPT 64	/* accept-queue entries timed per listener */

/* coll_flags */
#define ABC_SCANNED	0x1	/* the collateral fields are filled in */
#define ABC_TRUNCATED	0x2	/* more descriptors than AMPSTAT_BLK_SCAN_FDS */
#define ABC_NOFILES	0x4	/* the descriptor table was not readable */
#define ABC_OVER_BUDGET	0x8	/* not walked: the walks' CPU budget was spent */

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
	/* collateral: who waited behind this stall (see above) */
	__u64 coll_wait_ns;		/* their waits within the stall, summed */
	__u32 coll_readable;		/* TCP connections with unread bytes */
	__u32 coll_accept;		/* connections in accept queues */
	__u32 coll_new;			/* of both, first seen behind a stall */
	__u32 coll_fds;			/* descriptors walked */
	__u32 coll_flags;		/* ABC_* */
	__u32 waker_tid;		/* 0: not seen (preempted: no wake-up) */
	char waker_comm[AMPSTAT_COMM_LEN];
	__u32 waker_in_target;		/* the waker is a thread of the target */
	__u32 pad2;
};

/* another thread's time in D state, for its role */
struct ampstat_blk_tid {
	__u64 blocked;			/* stretches */
	__u64 blocked_ns;
};

#endif
