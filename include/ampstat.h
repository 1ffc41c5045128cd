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

/* Per thread, written from the thread's own context: CPU-clock samples in
 * user and kernel mode (bpf/oncpu.bpf.c), and page-cache pages it asked
 * for (read/pread/sendfile/splice and mmap faults) and pages it added
 * (misses, readahead included), by the rules of `ampstat cache`
 * (bpf/ampstat_cache.bpf.h; bpf/sched.bpf.c counts them here). */
struct ampstat_samples {
	__u64 user;
	__u64 kernel;
	__u64 cache_access;
	__u64 cache_miss;
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

/* ---- the kernel row of ampstat top: kernel work on nobody's behalf in
 * particular, machine-wide.
 *
 * Map `kern` (PERCPU_ARRAY of one struct ampstat_kern, bpf/sched.bpf.c):
 * on-CPU time of kernel threads by class (enum ampstat_kclass), exact, from
 * sched_switch; a stretch is charged when the thread leaves the CPU, to the
 * class of its name (a kworker's: of the workqueue whose work it ran last).
 * Map `ksamp` (PERCPU_ARRAY of one struct ampstat_ksamp, bpf/oncpu.bpf.c):
 * the CPU-clock samples of every CPU, and those that interrupted softirq
 * processing (preempt_count's SOFTIRQ_OFFSET bit), by whose context it ran
 * in: a traced thread's (then it is in that thread's kernel time too), a
 * kernel thread's (then also in that thread's class), or another
 * process's or the idle task's.  The kernel here has no
 * CONFIG_IRQ_TIME_ACCOUNTING, so sampling is the cheap way to softirq time. */
enum ampstat_kclass {
	AK_KSOFTIRQD = 0,	/* ksoftirqd/N */
	AK_KWORKER = 1,		/* kworker/... not below */
	AK_BLOCK = 2,		/* loop..., jbd2/..., and kworkers of kblockd, loop..., ...blk..., writeback */
	AK_OTHER = 3,		/* every other kernel thread (rcu, migration, kswapd, ...) */
	AK_N = 4,
};

struct ampstat_kern {
	__u64 ns[AK_N];
	__u64 runs[AK_N];		/* stretches charged */
};

struct ampstat_ksamp {
	__u64 total;			/* samples taken on this CPU */
	__u64 softirq_target;		/* in softirq, in a traced thread's context */
	__u64 softirq_kthread;		/* in softirq, in a kernel thread's */
	__u64 softirq_other;		/* in softirq, another process or idle */
};

/* ---- ampstat syscalls (bpf/syscalls.bpf.c), an opt-in mode.
 *
 * Map `sc` (PERCPU_HASH, key: struct ampstat_sc_key) counts, at sys_exit,
 * every system call of the traced threads by thread (tid, with its tgid and
 * name) and number (as syscount does); userspace sums the threads into
 * roles.  `timed` of them also had their sys_enter seen (a call in
 * progress when tracing began has not), and their latency is in total_ns and
 * in hist: bucket i counts latencies in [2^i, 2^(i+1)) ns, the last bucket
 * everything longer. */
#define AMPSTAT_SC_BUCKETS 32

#define AMPSTAT_MAX_KEYS 65536	/* entries of the per-thread maps below */

struct ampstat_sc_key {
	char comm[AMPSTAT_COMM_LEN];
	__u32 tgid;
	__u32 tid;
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

/* ---- ampstat offcpu (bpf/offcpu.bpf.c), an opt-in mode.
 *
 * Off-CPU time of the traced threads by where they left the CPU: map
 * `offcpu` (HASH, key: struct ampstat_off_key: the thread, its stacks and
 * category; value: struct ampstat_off_val) sums the time from a thread's
 * switch-out (when its
 * kernel and user stacks are taken, as ids into the STACK_TRACE map
 * `stacks`; a negative id: no stack) to its switch-in.  state is the
 * category it left in: AS_BLOCKED, AS_WAIT_IDLE, AS_WAIT_OTHER or AS_RUNQ
 * (preempted). */
struct ampstat_off_key {
	char comm[AMPSTAT_COMM_LEN];
	__u32 tgid;
	__u32 tid;
	__s32 kstack;
	__s32 ustack;
	__u32 state;
	__u32 pad;
};

struct ampstat_off_val {
	__u64 ns;
	__u64 count;
};

/* ---- ampstat latency (bpf/latency.bpf.c).
 *
 * One USDT hit per request: amped's request_done, whose 7th argument points
 * at the request's phase marks (struct amped_phases, include/amped_usdt.h).
 * Map `lat` (PERCPU_ARRAY of one struct ampstat_lat) sums requests: per
 * phase (enum ampstat_lat_phase) the total time and a log2 histogram
 * (bucket i: [2^i, 2^(i+1)) ns; bucket 0 also holds 0 ns; the last bucket
 * everything longer).
 *
 * Off-CPU time of the serving thread while a request was in flight (first
 * byte .. done), by category (enum ampstat_lat_off), comes from sched_switch
 * of the threads that serve requests: map `lthreads` (TASK_STORAGE,
 * value: struct ampstat_lat_thread) keeps each such thread's last
 * AMPSTAT_LAT_RING off-CPU stretches; request_done intersects them with the
 * request.  A stretch is categorized at switch-out: blocked (D), idle (an
 * interruptible sleep in epoll_wait: the thread had nothing to do, so the
 * request was waiting for a helper or the client), other wait, runqueue
 * (preempted).  A sleep's stretch includes its wait for a CPU after the
 * wakeup.  off_lost counts requests that overlapped more stretches than the
 * ring holds (the oldest are then missing). */
#define AMPSTAT_LAT_BUCKETS 40
#define AMPSTAT_LAT_RING 16

enum ampstat_lat_phase {
	AL_TOTAL = 0,		/* first byte .. done */
	AL_RECV = 1,		/* waiting for the request's bytes */
	AL_DISP = 2,		/* dispatcher work (head parsed .. response starts) */
	AL_HQ = 3,		/* helper queue */
	AL_HS = 4,		/* helper service */
	AL_SEND = 5,		/* sending */
	AL_NPHASE = 6,
};

enum ampstat_lat_off {
	ALO_BLOCKED = 0,
	ALO_WAIT_OTHER = 1,
	ALO_IDLE = 2,
	ALO_RUNQ = 3,
	ALO_N = 4,
};

/* Counts and sums are of requests, not probe hits: a hit sampled 1 in N
 * (struct amped_phases.sample_mask = N - 1) adds N to each, so a run whose
 * sampling changed still estimates the whole distribution. */
struct ampstat_lat {
	__u64 count;
	__u64 max_ns;			/* of AL_TOTAL */
	__u64 sum_ns[AL_NPHASE];
	__u64 hist[AL_NPHASE][AMPSTAT_LAT_BUCKETS];
	__u64 off_ns[ALO_N];
	__u64 off_reqs;			/* requests with off-CPU time not idle */
	__u64 off_lost;
	__u64 status[8];		/* by status / 100 (0: other; 6, 7 unused) */
	__u64 helper_reqs;		/* requests with helper time */
	__u64 bad;			/* hits with unreadable or impossible marks */
	__u64 hits;			/* probe hits counted (not scaled) */
	__u64 max_weight;		/* the largest N seen */
};

struct ampstat_lat_stretch {
	__u64 start_ns;
	__u64 end_ns;
	__u32 cat;			/* enum ampstat_lat_off */
	__u32 pad;
};

struct ampstat_lat_thread {
	__u64 out_ns;			/* off CPU since (0: on CPU) */
	__u32 out_cat;
	__u32 head;			/* next slot of ring */
	struct ampstat_lat_stretch ring[AMPSTAT_LAT_RING];
};

/* ---- ampstat blocked (bpf/blocked.bpf.c).
 *
 * Every time a dispatcher thread (named amped-disp, or the target's main
 * thread for another server) leaves the CPU other than for its idle wait
 * (an interruptible sleep in epoll_wait), the switch-out records the state,
 * the syscall it sleeps in (orig_ax), kernel and user stack ids (map
 * `stacks`, STACK_TRACE) and the request it is serving (amped_current, read
 * with bpf_probe_read_user); the switch-in completes the event and, when it
 * lasted at least min_ns, sends it through ring buffer `events`. */
#define AMPSTAT_BLK_PATH 160
#define AMPSTAT_BLK_METHOD 8

enum ampstat_blk_state {
	ABS_BLOCKED = 0,	/* D */
	ABS_SLEEP = 1,		/* S, not in epoll_wait */
	ABS_PREEMPT = 2,	/* R: preempted, or yielded */
};

struct ampstat_blk_event {
	__u64 out_ns;
	__u64 dur_ns;
	__u32 tgid;
	__u32 tid;
	__u32 state;			/* enum ampstat_blk_state */
	__s32 syscall;			/* -1: not in a syscall (a page fault, preemption) */
	__s32 kstack;			/* stack ids, <0: -errno */
	__s32 ustack;
	__u64 req_id;			/* 0: not in a request */
	__u64 req_start_ns;
	__u32 conn_id;
	__u32 pad;
	char method[AMPSTAT_BLK_METHOD];	/* up to the first space, not terminated */
	char path[AMPSTAT_BLK_PATH];	/* NUL-terminated */
	char comm[AMPSTAT_COMM_LEN];
};

#endif
