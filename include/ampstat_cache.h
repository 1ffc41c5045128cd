/* ampstat_cache — `ampstat cache` (bpf/cache.bpf.c), an opt-in mode.
 *
 * Page-cache accesses and misses of the traced threads, in pages, by thread
 * (map `cache_roles`, HASH, key: struct ampstat_cache_rkey: tid, its tgid
 * and name; userspace sums them into roles) and by file
 * (map `cache_files`, HASH, key: struct ampstat_cache_fkey: the kernel's
 * s_dev, i.e. major << 20 | minor, and the inode number).
 *   read:  pages asked for through read/pread/sendfile/splice
 *          (mm_filemap_get_pages; the batches of one call are counted once,
 *          the range is capped at the end of the file);
 *   fault: pages of mmap faults (mm_filemap_map_pages fault-around windows,
 *          and mm_filemap_fault when no window of the same fault covered it);
 *   added: pages the task put into the page cache (misses, readahead
 *          included; mm_filemap_add_to_page_cache, 1 << folio order pages).
 * Hits are accesses (read + fault) minus misses (added), at least 0. */
#ifndef AMPSTAT_CACHE_H
#define AMPSTAT_CACHE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif
#include "ampstat_targets.h"

struct ampstat_cache_val {
	__u64 read;
	__u64 fault;
	__u64 added;
	__u64 calls;			/* access events */
};

struct ampstat_cache_rkey {
	char comm[AMPSTAT_COMM_LEN];
	__u32 tgid;
	__u32 tid;
};

struct ampstat_cache_fkey {
	__u64 dev;
	__u64 ino;
};

#endif
