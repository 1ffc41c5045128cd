/* ampstat_latency — `ampstat latency` (bpf/latency.bpf.c).
 *
 * One USDT hit per request: amped's request_done, whose 7th argument points
 * at the request's phase marks (struct amped_phases, include/amped_usdt.h).
 * Map `lat` (PERCPU_ARRAY of one struct ampstat_lat) sums requests: per
 * phase (enum ampstat_lat_phase) the total time.  Map `lhist` (PERCPU_ARRAY
 * of AL_NPHASE * LH_BUCKETS __u64, key phase * LH_BUCKETS + bucket) holds
 * a histogram per phase in the log-linear layout of include/lh_layout.h
 * (<= 0.8 % relative error; user/lh.c reads it), apart from `lat` because
 * a per-CPU value is limited to 32 KiB.
 *
 * A request's time starts when its first byte reached the host (struct
 * amped_phases.arrive_ns, the kernel's receive stamp), or at the server's
 * read when that is unknown.
 *
 * Off-CPU time of the serving thread while a request was in flight (first
 * byte read .. done), by category (enum ampstat_lat_off), comes from sched_switch
 * of the threads that serve requests: map `lthreads` (TASK_STORAGE,
 * value: struct ampstat_lat_thread) keeps each such thread's last
 * AMPSTAT_LAT_RING off-CPU stretches; request_done intersects them with the
 * request.  A stretch is categorized at switch-out: blocked (D), idle (an
 * interruptible sleep in epoll_wait, poll or select: the thread had nothing to do, so the
 * request was waiting for a helper or the client), other wait, runqueue
 * (preempted).  A sleep's stretch includes its wait for a CPU after the
 * wakeup.  off_lost counts requests that overlapped more stretches than the
 * ring holds (the oldest are then missing).
 *
 * Map `lat_tids` (HASH tid -> struct ampstat_lat_tid): requests and their
 * total latency by the thread that finished them, so that ampstat can sum
 * them by role (seda's http stage, hybrid's workers, ult's scheduler). */
#ifndef AMPSTAT_LATENCY_H
#define AMPSTAT_LATENCY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "lh_layout.h"

#define AMPSTAT_LAT_RING 16

/* AL_ACCEPTQ .. AL_SEND add up to AL_TOTAL; AL_SERVED is a second total */
enum ampstat_lat_phase {
	AL_TOTAL = 0,		/* first byte arrived .. done */
	AL_ACCEPTQ = 1,		/* arrived .. accepted (a new connection's first) */
	AL_SOCKQ = 2,		/* arrived or accepted .. the server's read */
	AL_RECV = 3,		/* waiting for the rest of the request's bytes */
	AL_DISP = 4,		/* dispatcher work (head parsed .. response starts) */
	AL_HQ = 5,		/* helper queue */
	AL_HS = 6,		/* helper service */
	AL_SEND = 7,		/* sending */
	AL_SERVED = 8,		/* the server's read .. done (the old total) */
	AL_NPHASE = 9,
};

enum ampstat_lat_off {
	ALO_BLOCKED = 0,
	ALO_WAIT_OTHER = 1,
	ALO_IDLE = 2,
	ALO_RUNQ = 3,
	ALO_N = 4,
};

/* Counts and sums are of requests, not probe hits: a hit sampled 1 in N
 * (struct amped_phases.sample_mask = N - 1) adds N to each, so a run whose
 * sampling changed still estimates the whole distribution. */
struct ampstat_lat {
	__u64 count;
	__u64 max_ns;			/* of AL_TOTAL */
	__u64 sum_ns[AL_NPHASE];
	__u64 arrived;			/* requests with an arrival stamp */
	__u64 client_ids;		/* requests a client named (amped_phases.client_id) */
	__u64 off_ns[ALO_N];
	__u64 off_reqs;			/* requests with off-CPU time not idle */
	__u64 off_lost;
	__u64 status[8];		/* by status / 100 (0: other; 6, 7 unused) */
	__u64 helper_reqs;		/* requests with helper time */
	__u64 bad;			/* hits with unreadable or impossible marks */
	__u64 hits;			/* probe hits counted (not scaled) */
	__u64 max_weight;		/* the largest N seen */
};

struct ampstat_lat_stretch {
	__u64 start_ns;
	__u64 end_ns;
	__u32 cat;			/* enum ampstat_lat_off */
	__u32 pad;
};

struct ampstat_lat_thread {
	__u64 out_ns;			/* off CPU since (0: on CPU) */
	__u32 out_cat;
	__u32 head;			/* next slot of ring */
	struct ampstat_lat_stretch ring[AMPSTAT_LAT_RING];
};

/* requests a thread finished (weighted like struct ampstat_lat) */
struct ampstat_lat_tid {
	__u64 count;
	__u64 total_ns;			/* sum of AL_TOTAL */
};
#endif
