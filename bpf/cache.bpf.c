// SPDX-License-Identifier: GPL-2.0
/* cache — `ampstat cache`: page-cache accesses and misses of the traced
 * processes, by thread and by file (include/ampstat_cache.h), counted by
 * the rules in ampstat_cache.bpf.h (shared with ampstat top). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ampstat_cache.h"
#include "ampstat_targets.bpf.h"
#include "ampstat_follow.bpf.h"
#include "ampstat_cache.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);	/* one entry per thread that touched files */
	__uint(max_entries, AMPSTAT_MAX_KEYS);
	__type(key, struct ampstat_cache_rkey);
	__type(value, struct ampstat_cache_val);
} cache_roles SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ampstat_cache_fkey);
	__type(value, struct ampstat_cache_val);
} cache_files SEC(".maps");

__u64 dropped_files = 0;	/* `cache_files` was full: counted per role only */
__u64 dropped_roles = 0;

static __always_inline struct ampstat_cache_val *get_val(void *map, void *key, __u64 *dropped)
{
	struct ampstat_cache_val *v = bpf_map_lookup_elem(map, key), zero = {};

	if (v)
		return v;
	bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, key);
	if (!v)
		__sync_fetch_and_add(dropped, 1);
	return v;
}

static __always_inline void cache_event(struct address_space *mapping, int what, __u64 pages)
{
	struct ampstat_cache_rkey rk = {};
	struct ampstat_cache_fkey fk = {};
	struct ampstat_cache_val *v;
	struct inode *host = BPF_CORE_READ(mapping, host);
	__u64 id = bpf_get_current_pid_tgid();

	rk.tgid = id >> 32;
	rk.tid = (__u32)id;
	bpf_get_current_comm(&rk.comm, sizeof(rk.comm));
	fk.dev = BPF_CORE_READ(host, i_sb, s_dev);
	fk.ino = BPF_CORE_READ(host, i_ino);
	v = get_val(&cache_roles, &rk, &dropped_roles);
	if (v) {
		if (what == CACHE_READ)
			__sync_fetch_and_add(&v->read, pages);
		else if (what == CACHE_FAULT)
			__sync_fetch_and_add(&v->fault, pages);
		else
			__sync_fetch_and_add(&v->added, pages);
		if (what != CACHE_ADDED)
			__sync_fetch_and_add(&v->calls, 1);
	}
	v = get_val(&cache_files, &fk, &dropped_files);
	if (v) {
		if (what == CACHE_READ)
			__sync_fetch_and_add(&v->read, pages);
		else if (what == CACHE_FAULT)
			__sync_fetch_and_add(&v->fault, pages);
		else
			__sync_fetch_and_add(&v->added, pages);
		if (what != CACHE_ADDED)
			__sync_fetch_and_add(&v->calls, 1);
	}
}

AMPSTAT_CACHE_PROGS(am)

/* amped's residency_miss probe: the dispatcher predicted [off, off+len) of
 * a file not resident (a slow-path probe: it fires only on such guesses).
 * libbpf 1.1 cannot parse all of that probe's argument specs (a
 * RIP-relative one), so userspace attaches a plain uprobe at the probe's
 * address and tells which registers hold off and len (their index in
 * pt_regs: r15 = 0 .. di = 14). */
const volatile __u32 res_off_reg = 0;
const volatile __u32 res_len_reg = 0;

__u64 res_miss_events = 0;
__u64 res_miss_pages = 0;

SEC("uprobe")
int am_res_miss(struct pt_regs *ctx)
{
	__u64 r[16] = {}, off, len;

	if (!tgid_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	/* the first 15 words of pt_regs: r15 .. di */
	bpf_probe_read_kernel(r, 15 * sizeof(__u64), ctx);
	off = r[res_off_reg & 15];
	len = r[res_len_reg & 15];
	if (!len)
		return 0;
	__sync_fetch_and_add(&res_miss_events, 1);
	__sync_fetch_and_add(&res_miss_pages, ((off + len - 1) >> AMPSTAT_PAGE_SHIFT) - (off >> AMPSTAT_PAGE_SHIFT) + 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
