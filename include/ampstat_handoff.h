/* ampstat_handoff — `ampstat handoff` (bpf/handoff.bpf.c): hand-off chains
 * dispatcher -> helper -> dispatcher, from the scheduler alone.
 *
 * A chain starts when a dispatcher wakes a helper (sched_waking in the
 * dispatcher's context; a helper is any other thread of the target or of
 * its child processes: amped's helper processes, amted's helper threads,
 * io_uring's iou-wrk workers) and ends when that helper wakes a dispatcher
 * and the dispatcher runs.  Its time is cut into phases that tile it:
 *   queue_ns     the wake-up .. the helper on CPU
 *   oncpu_ns     the helper on CPU
 *   io_ns        the helper off CPU in D state (disk, page faults)
 *   sleep_ns     the helper off CPU in another sleep (a lock, a pipe)
 *   runq_ns      the helper preempted, waiting for a CPU
 *   back_ns      the helper woke the dispatcher .. the dispatcher ran
 * so their sum is end_ns - wake_ns (the round trip).
 *
 * Not every job is woken both ways: a dispatcher that is running when the
 * result arrives is not woken (AHO_NOBACK: the chain ends where the helper
 * goes back to sleep, back_ns 0), and a helper that finds more work queued
 * goes on without a wake (AHO_CONT: wake_ns is when its previous chain
 * ended, queue_ns 0).  A chain may hold several jobs of one helper. */
#ifndef AMPSTAT_HANDOFF_H
#define AMPSTAT_HANDOFF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif
#include "ampstat_targets.h"

#define AHO_BACK	0x1	/* ended by the helper waking a dispatcher */
#define AHO_NOBACK	0x2	/* ended by the helper's next sleep */
#define AHO_CONT	0x4	/* began without a wake (helper kept running) */

struct ampstat_ho_chain {
	__u64 wake_ns;
	__u64 end_ns;
	__u64 queue_ns;
	__u64 oncpu_ns;
	__u64 io_ns;
	__u64 sleep_ns;
	__u64 runq_ns;
	__u64 back_ns;
	__u32 helper_tid;
	__u32 helper_tgid;
	__u32 disp_tid;
	__u32 flags;			/* AHO_* */
	char helper_comm[AMPSTAT_COMM_LEN];
};

#endif
