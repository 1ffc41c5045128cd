/* acct — the accounting `ampstat top` and `ampstat serve` share: threads'
 * state times (include/ampstat_sched.h, read through trace.h) -> the six
 * buckets of a thread -> the roles (roles.h).
 *
 * At every update each thread entry is read, its open stretch extended to
 * the instant of the update, and what it gained since its last reading is
 * its share of this update (struct acct_sum d), added to its total and to
 * its role's.  On-CPU time is split into user and kernel by the thread's
 * CPU-clock samples in that stretch; with none (a short stretch), by all
 * its samples so far; with none at all it counts as kernel time (a thread
 * that runs for a few microseconds at a time mostly runs system calls).
 * A role's totals only grow, also when threads exit or are renamed.
 *
 *   acct_open(&a, &tr, sess, opts)
 *                          opens the sched programs (tr_open) in the
 *                          session, the target's descendants in the
 *                          traced set, every thread seeded (tr_seed), and
 *                          a on them.  0, or 1 (the exit status) after a
 *                          message.
 *   acct_init(&a, tr)      a on an open tr.  0, or -ENOMEM.
 *   acct_update(&a, baseline)
 *                          reads every thread and accounts the stretch
 *                          since its last reading (baseline: only notes
 *                          where each thread stands).  Fills each thread's
 *                          and role's d; adds to tot.  The instant of this
 *                          update is a->t_ns, of the one before a->t_prev_ns.
 *   acct_live(&a, role)    live threads of a role seen at the last update.
 *   acct_role_threads(&a, role)
 *                          threads of the role with time in tot.
 *   acct_hit_ratio(sum)    share of accessed pages that were cached, -1:
 *                          none accessed.
 *   acct_free(&a)          frees; accepts a zeroed one.
 *
 * The kernel's own figures for the same stretch, to compare with: at every
 * update, right after the maps are read, each live thread's
 * /proc/PID/task/TID/schedstat (field 1: ns on CPU, field 2: ns waiting on
 * a run queue); their differences from the last update are the thread's
 * struct acct_ref.  The kernel adds a run-queue wait to field 2 only when
 * it ends, so runq_open_ns is the part of the thread's runq time that is
 * a wait still open at the update (ampstat counts it up to then); field 1
 * of a running thread lags by up to a tick.  skew_ns is how long after the
 * update's instant the thread's schedstat was read, a->snap_ns how long
 * reading the maps took before that instant: an entry is as old as that.
 *
 * Past ACCT_MAX_DEAD exited threads, exited ones are forgotten (a->forgotten
 * counts them; their time stays in the role totals), so a server that keeps
 * making threads does not grow the table without bound.
 */
#ifndef AMPSTAT_ACCT_H
#define AMPSTAT_ACCT_H
#include <stdbool.h>
#include "ampstat_sched.h"
#include "ampstat/trace.h"

#define ACCT_MAX_DEAD 4096

/* AB_STEAL: on CPU by the guest's reckoning while the hypervisor ran
 * something else; the kernel counts it neither as run time nor as run
 * delay */
enum acct_bucket { AB_USER, AB_KERNEL, AB_BLOCKED, AB_IDLE, AB_OTHER, AB_RUNQ, AB_STEAL, AB_N };

/* the buckets as top's JSON and serve's labels name them */
extern const char *const acct_bucket_name[AB_N];

struct acct_sum {
	int threads;
	__u64 wall_ns;
	__u64 ns[AB_N];			/* sum to wall_ns */
	__u64 nvcsw, nivcsw;
	__u64 cache_access, cache_miss;	/* pages */
	__u64 syscalls;			/* top --syscalls adds them */
};

struct acct_ref {
	bool ok;			/* both ends read (a live thread) */
	__u64 run_ns, delay_ns;		/* schedstat differences */
	__u64 runq_open_ns;		/* open run-queue wait at the update */
	__u64 skew_ns;			/* read this long after the update's instant */
};

struct acct_thread {
	__u32 tid, tgid;
	__u64 start_ns;
	char comm[AMPSTAT_COMM_LEN];
	int role;
	bool dead, seen;
	__u32 unwoken;
	__u64 last_t;			/* end of the thread's last accounted stretch */
	__u64 prev[AMPSTAT_NSLOT];	/* cumulative state times at last_t */
	__u64 prev_su, prev_sk, prev_nv, prev_niv, prev_ca, prev_cm;
	int sc_fd;			/* top --syscalls: its counting event, -1: none */
	__u64 prev_sc;
	__u64 ref_run, ref_delay;	/* schedstat at the last update, 0 0: none */
	struct acct_ref ref;		/* the last update's */
	struct acct_sum d;		/* the last update's */
	struct acct_sum tot;		/* since the baseline */
};

struct acct {
	struct tr *tr;
	struct acct_thread *th;
	int nth, cap;
	struct ampstat_thread *snap;
	struct ampstat_samples *ssnap;
	int nsnap, snapcap;
	int nroles;
	struct acct_sum *role_d, *role_tot;
	int *role_live;
	__u64 t_ns, t_prev_ns;		/* instants of the last two updates */
	long forgotten;
	__u64 snap_ns;			/* the last update's reading of the maps */
};

struct sess;
int acct_open(struct acct *a, struct tr **tr, struct sess *s, const struct tr_opts *o);
int acct_init(struct acct *a, struct tr *tr);
void acct_update(struct acct *a, bool baseline);
int acct_live(const struct acct *a, int role);
int acct_role_threads(const struct acct *a, int role);
double acct_hit_ratio(const struct acct_sum *s);
void acct_free(struct acct *a);

#endif
