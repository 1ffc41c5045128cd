/* ampstat_targets.bpf.h — what every ampstat BPF object shares: the maps
 * that name the traced processes (`targets`, and its mmap-able fast copy
 * `fast`; the user side shares them by fd before load) and the per-event
 * filter on them.  Included by the BPF objects only. */
#ifndef AMPSTAT_TARGETS_BPF_H
#define AMPSTAT_TARGETS_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMPSTAT_MAX_TGIDS);
	__type(key, __u32);
	__type(value, __u32);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct ampstat_fast);
} fast SEC(".maps");

#ifdef AMPSTAT_SCHED_H
/* Samples of user/kernel mode per thread, written by oncpu and read (and
 * deleted with the thread) by sched: only the objects of top and serve
 * (include/ampstat_sched.h) have it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMPSTAT_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct ampstat_samples);
} samples SEC(".maps");
#endif

/* The first few tgids are scanned in a small array (no hash lookup on the
 * hot path); past that the hash map decides. */
static __always_inline bool tgid_traced(__u32 tgid)
{
	__u32 zero = 0, nu, nk;
	struct ampstat_fast *f = bpf_map_lookup_elem(&fast, &zero);	/* inlined: an array */

	if (!f || !tgid)
		return false;
	if (f->overflow)
		return bpf_map_lookup_elem(&targets, &tgid) != NULL;
	nu = f->nuser;
	nk = f->nkern;
	for (__u32 i = 0; i < AMPSTAT_FAST_USER; i++) {
		if (i >= nu)
			break;
		if (f->tgid[i] == tgid)
			return true;
	}
	for (__u32 i = 0; i < AMPSTAT_FAST_TGIDS - AMPSTAT_FAST_USER; i++) {
		if (i >= nk)
			break;
		if (f->tgid[AMPSTAT_FAST_USER + i] == tgid)
			return true;
	}
	return false;
}

#endif
