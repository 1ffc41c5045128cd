/* ampstat_disp.bpf.h — who is the target and who is its dispatcher, for the
 * objects that follow a dispatcher (blocked, handoff).  Included by BPF
 * objects only, after ampstat_tp.bpf.h and amped_names.h.
 *
 *   targ_tgid        the target; its child processes count too (amped's
 *                    helper processes, symped's processes)
 *   by_comm          dispatchers are the threads named AMPED_COMM_DISP;
 *                    false: the target's main thread (another server)
 *   in_target(t)     t belongs to the target or is its child
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

static __always_inline bool comm_is_disp(const char *c)
{
	const char want[] = AMPED_COMM_DISP;	/* with its NUL: the whole comm */

#pragma unroll
	for (int i = 0; i < (int)sizeof(want); i++)
		if (c[i] != want[i])
			return false;
	return true;
}

static __always_inline bool is_dispatcher(struct task_struct *t, const bool raw)
{
	char comm[TASK_COMM_LEN];

	if (!by_comm)
		return AS_LD(raw, t, pid) == targ_tgid;
	if (!raw)
		return comm_is_disp(t->comm);
	if (BPF_CORE_READ_STR_INTO(&comm, t, comm) < 0)
		return false;
	return comm_is_disp(comm);
}

#endif
