/* ampstat_cache.bpf.h — how ampstat counts page-cache accesses and misses
 * without kprobes, shared by `ampstat cache` (bpf/cache.bpf.c: per role
 * and file) and `ampstat top` (bpf/sched.bpf.c: per thread):
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
 * Each task remembers its last access event in task storage for this.
 * Each function returns the pages the event counts (0: nothing); the
 * caller has already checked that the current task is traced.  Include
 * after vmlinux.h and the libbpf headers.
 * AMPSTAT_CACHE_PROGS(prefix) defines the four tracepoint programs
 * (prefix_cache_add, _get, _map, _fault, each with its raw_tp twin, see
 * ampstat_tp.bpf.h) for the current task when tgid_traced() says so; they
 * hand what they count to the includer's
 *   static __always_inline void cache_event(struct address_space *mapping,
 *                                           int what, __u64 pages)
 * with what one of CACHE_READ, CACHE_FAULT (pages accessed) or
 * CACHE_ADDED (pages missed). */
#ifndef AMPSTAT_CACHE_BPF_H
#define AMPSTAT_CACHE_BPF_H

#define AMPSTAT_PAGE_SHIFT 12

enum { CACHE_EV_NONE, CACHE_EV_READ, CACHE_EV_MAP };
enum { CACHE_READ, CACHE_FAULT, CACHE_ADDED };	/* cache_event's what */

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

/* the last page index of the file, or -1 when it is empty */
static __always_inline long cache_last_page(struct address_space *mapping)
{
	loff_t size = BPF_CORE_READ(mapping, host, i_size);

	return size > 0 ? (long)((size - 1) >> AMPSTAT_PAGE_SHIFT) : -1;
}

/* mm_filemap_add_to_page_cache: pages added; *mapping is set (NULL: none) */
static __always_inline __u64 cache_added(struct folio *folio, struct address_space **mapping)
{
	unsigned long flags;

	*mapping = BPF_CORE_READ(folio, mapping);
	if (!*mapping)
		return 0;
	/* folio_order(): a large folio's order is in the low byte of the
	 * second page's flags */
	flags = BPF_CORE_READ(folio, flags.f);
	if (flags & (1UL << bpf_core_enum_value(enum pageflags, PG_head)))
		return 1ULL << (BPF_CORE_READ(folio, _flags_1) & 0x3f);
	return 1;
}

/* mm_filemap_get_pages: pages read */
static __always_inline __u64 cache_read(struct address_space *mapping, unsigned long index,
					unsigned long last_index)
{
	struct cache_last *l;
	long end;
	bool cont;

	l = bpf_task_storage_get(&cache_last, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	/* a further batch of the same call */
	cont = l && l->kind == CACHE_EV_READ && l->mapping == (__u64)mapping && l->b == last_index &&
	       index > l->a && index <= last_index;
	if (l) {
		l->kind = CACHE_EV_READ;
		l->mapping = (__u64)mapping;
		l->a = index;
		l->b = last_index;
	}
	if (cont)
		return 0;
	end = cache_last_page(mapping);
	if (end < 0 || index > (unsigned long)end)
		return 0;
	if (last_index > (unsigned long)end)
		last_index = end;
	if (last_index < index)
		return 0;
	return last_index - index + 1;
}

/* mm_filemap_map_pages: pages of a fault-around window */
static __always_inline __u64 cache_map(struct address_space *mapping, unsigned long start,
				       unsigned long end_pgoff)
{
	struct cache_last *l;
	long end;
	bool same;

	l = bpf_task_storage_get(&cache_last, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	end = cache_last_page(mapping);
	if (end >= 0 && end_pgoff > (unsigned long)end)
		end_pgoff = end;
	same = l && l->kind == CACHE_EV_MAP && l->mapping == (__u64)mapping && l->a == start &&
	       l->b == end_pgoff;
	if (l) {
		l->kind = CACHE_EV_MAP;
		l->mapping = (__u64)mapping;
		l->a = start;
		l->b = end_pgoff;
	}
	if (same || end < 0 || end_pgoff < start)
		return 0;
	return end_pgoff - start + 1;
}

/* mm_filemap_fault: 1 when the page was not in the window just counted */
static __always_inline __u64 cache_fault(struct address_space *mapping, unsigned long index)
{
	struct cache_last *l;

	l = bpf_task_storage_get(&cache_last, bpf_get_current_task_btf(), 0, 0);
	if (l && l->kind == CACHE_EV_MAP && l->mapping == (__u64)mapping && index >= l->a && index <= l->b)
		return 0;
	if (cache_last_page(mapping) < (long)index)
		return 0;
	return 1;
}

/* The bodies read through BPF_CORE_READ only: the same code for tp_btf
 * and its raw_tp twin. */
#define AMPSTAT_CACHE_PROGS(p)							\
static __always_inline int p##_cache_add_body(__u64 *ctx, const bool raw)	\
{	/* mm_filemap_add_to_page_cache(folio) */				\
	struct address_space *mapping;						\
	__u64 pages;								\
										\
	(void)raw;								\
	if (!tgid_traced(bpf_get_current_pid_tgid() >> 32))			\
		return 0;							\
	pages = cache_added((struct folio *)ctx[0], &mapping);			\
	if (pages)								\
		cache_event(mapping, CACHE_ADDED, pages);			\
	return 0;								\
}										\
AMPSTAT_TP(mm_filemap_add_to_page_cache, p##_cache_add)			\
static __always_inline int p##_cache_get_body(__u64 *ctx, const bool raw)	\
{	/* mm_filemap_get_pages(mapping, index, last_index) */			\
	struct address_space *mapping = (void *)ctx[0];				\
	__u64 pages;								\
										\
	(void)raw;								\
	if (!tgid_traced(bpf_get_current_pid_tgid() >> 32))			\
		return 0;							\
	pages = cache_read(mapping, ctx[1], ctx[2]);				\
	if (pages)								\
		cache_event(mapping, CACHE_READ, pages);			\
	return 0;								\
}										\
AMPSTAT_TP(mm_filemap_get_pages, p##_cache_get)				\
static __always_inline int p##_cache_map_body(__u64 *ctx, const bool raw)	\
{	/* mm_filemap_map_pages(mapping, start, end_pgoff) */			\
	struct address_space *mapping = (void *)ctx[0];				\
	__u64 pages;								\
										\
	(void)raw;								\
	if (!tgid_traced(bpf_get_current_pid_tgid() >> 32))			\
		return 0;							\
	pages = cache_map(mapping, ctx[1], ctx[2]);				\
	if (pages)								\
		cache_event(mapping, CACHE_FAULT, pages);			\
	return 0;								\
}										\
AMPSTAT_TP(mm_filemap_map_pages, p##_cache_map)				\
static __always_inline int p##_cache_fault_body(__u64 *ctx, const bool raw)	\
{	/* mm_filemap_fault(mapping, index) */					\
	struct address_space *mapping = (void *)ctx[0];				\
										\
	(void)raw;								\
	if (tgid_traced(bpf_get_current_pid_tgid() >> 32) &&			\
	    cache_fault(mapping, ctx[1]))					\
		cache_event(mapping, CACHE_FAULT, 1);				\
	return 0;								\
}										\
AMPSTAT_TP(mm_filemap_fault, p##_cache_fault)

#endif
