// SPDX-License-Identifier: GPL-2.0
/* cache — `ampstat cache`: page-cache accesses and misses of the traced
 * processes, by thread and by file (include/ampstat.h).  No kprobes
 * here, so the filemap tracepoints do it:
 *   misses:   mm_filemap_add_to_page_cache, 1 << folio order pages, charged
 *             to the task that added them (readahead included);
 *   read:     mm_filemap_get_pages(mapping, index, last_index) fires once
 *             per batch of folios, and the batches of one read or splice
 *             all carry the same last_index with a growing index: only the
 *             first of them counts (index..last_index, capped at the end of
 *             the file);
 *   mmap:     a read fault first tries to map the fault-around window of
 *             pages already cached (mm_filemap_map_pages(start, end), which
 *             fires whether it mapped any or not) and, when the faulting
 *             page was not among them, reads it (mm_filemap_fault(index)).
 *             A window counts its pages once (the same window again, as the
 *             next faults of a cold window find it, counts nothing), and a
 *             fault inside the window just counted counts nothing.
 * Each task remembers its last access event in task storage for this. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ampstat.h"
#include "ampstat_targets.bpf.h"
#include "ampstat_follow.bpf.h"

#define PAGE_SHIFT 12

enum { EV_NONE, EV_READ, EV_MAP };

struct cache_last {
	__u64 mapping;
	__u64 a, b;
	__u32 kind;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cache_last);
} cache_last SEC(".maps");

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

enum { C_READ, C_FAULT, C_ADDED };

static __always_inline void account(struct address_space *mapping, int what, __u64 pages)
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
		if (what == C_READ)
			__sync_fetch_and_add(&v->read, pages);
		else if (what == C_FAULT)
			__sync_fetch_and_add(&v->fault, pages);
		else
			__sync_fetch_and_add(&v->added, pages);
		if (what != C_ADDED)
			__sync_fetch_and_add(&v->calls, 1);
	}
	v = get_val(&cache_files, &fk, &dropped_files);
	if (v) {
		if (what == C_READ)
			__sync_fetch_and_add(&v->read, pages);
		else if (what == C_FAULT)
			__sync_fetch_and_add(&v->fault, pages);
		else
			__sync_fetch_and_add(&v->added, pages);
		if (what != C_ADDED)
			__sync_fetch_and_add(&v->calls, 1);
	}
}

/* the last page index of the file, or -1 when it is empty */
static __always_inline long last_page(struct address_space *mapping)
{
	loff_t size = BPF_CORE_READ(mapping, host, i_size);

	return size > 0 ? (long)((size - 1) >> PAGE_SHIFT) : -1;
}

static __always_inline bool traced(void)
{
	return tgid_traced(bpf_get_current_pid_tgid() >> 32);
}

/* The bodies read through BPF_CORE_READ only: the same code for tp_btf
 * and its raw_tp twin (bpf/ampstat_tp.bpf.h). */

/* mm_filemap_add_to_page_cache(folio) */
static __always_inline int am_cache_add_body(__u64 *ctx, const bool raw)
{
	struct folio *folio = (void *)ctx[0];
	__u64 pages = 1;
	struct address_space *mapping;
	unsigned long flags;

	if (!traced())
		return 0;
	mapping = BPF_CORE_READ(folio, mapping);
	if (!mapping)
		return 0;
	/* folio_order(): a large folio's order is in the low byte of the
	 * second page's flags */
	flags = BPF_CORE_READ(folio, flags.f);
	if (flags & (1UL << bpf_core_enum_value(enum pageflags, PG_head)))
		pages = 1ULL << (BPF_CORE_READ(folio, _flags_1) & 0x3f);
	(void)raw;
	account(mapping, C_ADDED, pages);
	return 0;
}

AMPSTAT_TP(mm_filemap_add_to_page_cache, am_cache_add)

/* mm_filemap_get_pages(mapping, index, last_index) */
static __always_inline int am_cache_get_body(__u64 *ctx, const bool raw)
{
	struct address_space *mapping = (void *)ctx[0];
	unsigned long index = ctx[1], last_index = ctx[2];
	struct cache_last *l;
	long end;
	bool cont;

	if (!traced())
		return 0;
	l = bpf_task_storage_get(&cache_last, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	/* a further batch of the same call */
	cont = l && l->kind == EV_READ && l->mapping == (__u64)mapping && l->b == last_index &&
	       index > l->a && index <= last_index;
	if (l) {
		l->kind = EV_READ;
		l->mapping = (__u64)mapping;
		l->a = index;
		l->b = last_index;
	}
	if (cont)
		return 0;
	end = last_page(mapping);
	if (end < 0 || index > (unsigned long)end)
		return 0;
	if (last_index > (unsigned long)end)
		last_index = end;
	if (last_index < index)
		return 0;
	(void)raw;
	account(mapping, C_READ, last_index - index + 1);
	return 0;
}

AMPSTAT_TP(mm_filemap_get_pages, am_cache_get)

/* mm_filemap_map_pages(mapping, start, end_pgoff) */
static __always_inline int am_cache_map_body(__u64 *ctx, const bool raw)
{
	struct address_space *mapping = (void *)ctx[0];
	unsigned long start = ctx[1], end_pgoff = ctx[2];
	struct cache_last *l;
	long end;
	bool same;

	if (!traced())
		return 0;
	l = bpf_task_storage_get(&cache_last, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	end = last_page(mapping);
	if (end >= 0 && end_pgoff > (unsigned long)end)
		end_pgoff = end;
	same = l && l->kind == EV_MAP && l->mapping == (__u64)mapping && l->a == start &&
	       l->b == end_pgoff;
	if (l) {
		l->kind = EV_MAP;
		l->mapping = (__u64)mapping;
		l->a = start;
		l->b = end_pgoff;
	}
	if (same || end < 0 || end_pgoff < start)
		return 0;
	(void)raw;
	account(mapping, C_FAULT, end_pgoff - start + 1);
	return 0;
}

AMPSTAT_TP(mm_filemap_map_pages, am_cache_map)

/* mm_filemap_fault(mapping, index) */
static __always_inline int am_cache_fault_body(__u64 *ctx, const bool raw)
{
	struct address_space *mapping = (void *)ctx[0];
	unsigned long index = ctx[1];
	struct cache_last *l;

	if (!traced())
		return 0;
	l = bpf_task_storage_get(&cache_last, bpf_get_current_task_btf(), 0, 0);
	if (l && l->kind == EV_MAP && l->mapping == (__u64)mapping && index >= l->a && index <= l->b)
		return 0;
	if (last_page(mapping) < (long)index)
		return 0;
	(void)raw;
	account(mapping, C_FAULT, 1);
	return 0;
}

AMPSTAT_TP(mm_filemap_fault, am_cache_fault)

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

	if (!traced())
		return 0;
	/* the first 15 words of pt_regs: r15 .. di */
	bpf_probe_read_kernel(r, 15 * sizeof(__u64), ctx);
	off = r[res_off_reg & 15];
	len = r[res_len_reg & 15];
	if (!len)
		return 0;
	__sync_fetch_and_add(&res_miss_events, 1);
	__sync_fetch_and_add(&res_miss_pages, ((off + len - 1) >> PAGE_SHIFT) - (off >> PAGE_SHIFT) + 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
