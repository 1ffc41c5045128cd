/* ampstat_stacks.bpf.h — the STACK_TRACE map `stacks` of the modes that
 * take stacks (offcpu, profile): ids from bpf_get_stackid, 127 addresses
 * each (user/ampstat/stk.h reads them, STK_MAX_DEPTH), and the errors
 * that mean a stack was lost (no room, or a hash collision).  Included by
 * the BPF objects only. */
#ifndef AMPSTAT_STACKS_BPF_H
#define AMPSTAT_STACKS_BPF_H

#define MAX_DEPTH 127
#define EEXIST 17
#define ENOMEM 12

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

static __always_inline bool stack_lost(__s32 id)
{
	return id == -EEXIST || id == -ENOMEM;
}

#endif
