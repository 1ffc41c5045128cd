/* ampstat_disp.bpf.h — who is the target and who is its dispatcher, for the
 * objects that follow a dispatcher (blocked, handoff).  Included by BPF
 * objects only, after ampstat_tp.bpf.h and amped_names.h.
 *
 *   targ_tgid        the target; its child processes count too (amped's
 *                    helper processes, symped's processes)
 *   by_comm          dispatchers are the threads named AMPED_COMM_DISP or
 *                    AMPED_COMM_DISP-N (--dispatchers), and seda's
 *                    http-stage threads (event loops too); false: the
 *                    target's main thread (another server)
 *   in_target(t)     t belongs to the target or is its child
 *   disp_slot(t)     its slot of amped_current, or -1: not a dispatcher
 *   is_dispatcher(t) t is a dispatcher (by the rule above) */
#ifndef AMPSTAT_DISP_BPF_H
#define AMPSTAT_DISP_BPF_H

const volatile __u32 targ_tgid = 0;
const volatile bool by_comm = true;

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

/* t's slot of amped_current if it is an event loop (the main thread's 0 for
 * another server), else -1 */
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

#endif
