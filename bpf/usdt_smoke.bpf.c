// SPDX-License-Identifier: GPL-2.0
/* usdt_smoke — counts amped's request_done probe hits by status class and
 * checks the probe's arguments are sane (start_ns in the past).  Exercises
 * the USDT path ampstat builds on. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

__u64 done_by_class[8] = {};	/* index: status / 100 */
__u64 bytes_total = 0;
__u64 bad_args = 0;

SEC("usdt")
int BPF_USDT(on_request_done, __u32 conn_id, __u64 req_id, __u32 status,
	     __u64 body_bytes, __u64 start_ns, __u32 flags)
{
	__u32 cls = status / 100;

	if (cls > 5 || req_id == 0 || start_ns == 0 || start_ns > bpf_ktime_get_ns()) {
		__sync_fetch_and_add(&bad_args, 1);
		return 0;
	}
	/* the verifier loses the bound through the division: cap it */
	__sync_fetch_and_add(&done_by_class[cls & 7], 1);
	__sync_fetch_and_add(&bytes_total, body_bytes);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
