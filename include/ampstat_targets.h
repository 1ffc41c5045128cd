/* ampstat_targets — the traced set, shared by every ampstat BPF program
 * that follows a target and its forks (bpf/ampstat_targets.bpf.h,
 * bpf/ampstat_follow.bpf.h) and by user/ampstat/mode.c, which adds to it.
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
#ifndef AMPSTAT_TARGETS_H
#define AMPSTAT_TARGETS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define AMPSTAT_COMM_LEN 16
#define AMPSTAT_MAX_THREADS 16384
#define AMPSTAT_MAX_TGIDS 4096
#define AMPSTAT_MAX_KEYS 65536	/* entries of the opt-in modes' per-thread maps */

#define AMPSTAT_FAST_TGIDS 32	/* tgids checked without a hash lookup */
#define AMPSTAT_FAST_USER 16	/* of them, slots userspace writes */

struct ampstat_fast {
	__u32 overflow;
	__u32 nuser;			/* slots [0, nuser) are in use */
	__u32 nkern;			/* slots [FAST_USER, FAST_USER + nkern) */
	__u32 tgid[AMPSTAT_FAST_TGIDS];	/* 0: empty or exited */
};

#endif
