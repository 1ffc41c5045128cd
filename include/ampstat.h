/* ampstat — the structs bpf/sched.bpf.c, bpf/oncpu.bpf.c and user/ampstat
 * share.  Times are bpf_ktime_get_ns() = CLOCK_MONOTONIC nanoseconds.
 *
 * Map `threads` (HASH, key: u32 tid) holds one struct ampstat_thread per
 * thread of the target set, written only by the sched programs.  A thread's
 * accounting starts at start_ns (when ampstat first saw it) and every
 * nanosecond after that is in exactly one state: state_ns[s] holds the
 * closed time per state, and the open stretch since ts_ns belongs to
 * `state`.  A reader computes the value at time T as state_ns[s] plus
 * (T - ts_ns) for s == state (until exit_ns, once that is set).
 *
 * seq is odd while the kernel updates an entry: a reader copies the entry
 * twice and uses it only when both copies are equal and seq is even.
 *
 * When a thread exits, the exit program moves its entry, closed at exit_ns
 * and with its samples, to map `exited` (HASH, key: struct ampstat_exit_key,
 * value: struct ampstat_exited), where userspace reads it once and deletes
 * it: tids are reused quickly (pid_max is 32768 here), and a new thread must
 * not find a dead one's entry.
 *
 * Map `samples` (HASH, key: u32 tid) counts perf-event CPU-clock samples of
 * the thread in user and kernel mode, by bpf/oncpu.bpf.c; the ratio splits
 * on-CPU time into user and kernel.
 *
 * Map `targets` (HASH, key: u32 tgid, value: u32, 1) is the set of processes
 * traced: the target and every process it forks.  Map `fast` (ARRAY of one
 * struct ampstat_fast, mmapable) mirrors up to AMPSTAT_FAST_TGIDS of them,
 * so that the programs, which run on every context switch of the machine,
 * filter by a scan of a few words instead of a hash lookup.  Userspace
 * appends to slots [0, AMPSTAT_FAST_USER), the fork program (under a BPF
 * spin lock) to the rest: each side has its own count, so no atomic
 * read-modify-write is needed (BPF ISA v1 has no fetch-add with a result).
 * A slot is written before its count grows, and zeroed when its process
 * exits; slots are never reused.  When a side is full, `overflow` is set and
 * the programs use the hash instead.
 */
#ifndef AMPSTAT_H
#define AMPSTAT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

enum ampstat_state {
	AS_NONE = 0,		/* not accounted (exited) */
	AS_ONCPU = 1,		/* running */
	AS_BLOCKED = 2,		/* off CPU, uninterruptible (D): blocked-io */
	AS_WAIT_IDLE = 3,	/* off CPU, interruptible, in epoll_wait/epoll_pwait(2) */
	AS_WAIT_OTHER = 4,	/* off CPU, interruptible, any other sleep */
	AS_RUNQ = 5,		/* runnable, not running: preempted or woken */
	AS_NSTATE = 6,
};
#define AMPSTAT_NSLOT 8		/* state_ns size: a power of two, so an index is capped with & 7 */

#define AMPSTAT_FAST_TGIDS 32	/* tgids checked without a hash lookup */
#define AMPSTAT_FAST_USER 16	/* of them, slots userspace writes */

#define AMPSTAT_COMM_LEN 16
#define AMPSTAT_MAX_THREADS 16384
#define AMPSTAT_MAX_TGIDS 4096

struct ampstat_fast {
	__u32 overflow;
	__u32 nuser;			/* slots [0, nuser) are in use */
	__u32 nkern;			/* slots [FAST_USER, FAST_USER + nkern) */
	__u32 tgid[AMPSTAT_FAST_TGIDS];	/* 0: empty or exited */
};

struct ampstat_thread {
	__u64 seq;
	__u64 start_ns;
	__u64 exit_ns;			/* 0 while the thread lives */
	__u64 ts_ns;
	__u64 state_ns[AMPSTAT_NSLOT];
	__u64 nvcsw;			/* voluntary switches (as the kernel counts nvcsw) */
	__u64 nivcsw;			/* involuntary switches (nivcsw) */
	__u32 tgid;
	__u32 tid;
	__u32 state;			/* enum ampstat_state */
	__s32 sleep_syscall;		/* syscall of the last interruptible sleep, -1: none */
	__u32 unwoken;			/* switched in from a sleep with no wakeup seen */
	__u32 pad;
	char comm[AMPSTAT_COMM_LEN];
};

struct ampstat_samples {
	__u64 user;
	__u64 kernel;
};

struct ampstat_exit_key {
	__u32 tid;
	__u32 pad;
	__u64 start_ns;
};

struct ampstat_exited {
	struct ampstat_thread t;
	struct ampstat_samples s;
};

/* ---- ampstat syscalls (bpf/syscalls.bpf.c), an opt-in mode.
 *
 * Map `sc` (PERCPU_HASH, key: struct ampstat_sc_key) counts, at sys_exit,
 * every system call of the traced threads by thread name and number (as
 * syscount does); `timed` of them also had their sys_enter seen (a call in
 * progress when tracing began has not), and their latency is in total_ns and
 * in hist: bucket i counts latencies in [2^i, 2^(i+1)) ns, the last bucket
 * everything longer. */
#define AMPSTAT_SC_BUCKETS 32

struct ampstat_sc_key {
	char comm[AMPSTAT_COMM_LEN];
	__u32 nr;
	__u32 pad;
};

struct ampstat_sc_val {
	__u64 count;
	__u64 timed;
	__u64 total_ns;
	__u64 hist[AMPSTAT_SC_BUCKETS];
};

/* ---- ampstat cache (bpf/cache.bpf.c), an opt-in mode.
 *
 * Page-cache accesses and misses of the traced threads, in pages, by thread
 * name (map `cache_roles`, HASH, key: struct ampstat_cache_rkey) and by file
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
struct ampstat_cache_val {
	__u64 read;
	__u64 fault;
	__u64 added;
	__u64 calls;			/* access events */
};

struct ampstat_cache_rkey {
	char comm[AMPSTAT_COMM_LEN];
};

struct ampstat_cache_fkey {
	__u64 dev;
	__u64 ino;
};

#endif
