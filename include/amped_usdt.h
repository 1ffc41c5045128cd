/* amped_usdt — what the tracer (ampstat, bpf/) may read from a running amped.
 *
 * USDT probes, provider "amped" (sys/sdt.h; list them with
 * `readelf -n build/amped`).  An attached probe costs ~650 ns a hit here, so
 * only request_done fires on every request; the others fire on the slow
 * path (helper work, residency misses), or once per request only if a
 * tracer chooses to attach request_start as well.
 *
 *   request_start(u32 conn_id, u64 req_id, const char *path)
 *   request_done (u32 conn_id, u64 req_id, u32 status, u64 body_bytes,
 *                 u64 start_ns, u32 flags)      start_ns: CLOCK_MONOTONIC
 *   helper_handoff(u64 req_id, u32 helper, u32 op, u32 queued)
 *   helper_return (u64 req_id, u32 helper, u32 op, i32 err, u64 service_ns)
 *   residency_miss(u64 req_id, u64 off_bytes, u64 len_bytes, u32 method)
 *
 * The dispatcher keeps the request it is serving right now in the global
 * `amped_current` (symbol in the binary's .data): a tracer reads it with
 * bpf_probe_read_user at the moment the dispatcher blocks.
 */
#ifndef AMPED_USDT_H
#define AMPED_USDT_H

/* request_done flags */
#define AMPED_RF_HELPER_OPEN   0x1	/* path translation went to a helper */
#define AMPED_RF_HELPER_READ   0x2	/* a helper brought pages into memory */
#define AMPED_RF_RESIDENT_MISS 0x4	/* residency check said "not resident" */
#define AMPED_RF_KEEPALIVE     0x8
#define AMPED_RF_INLINE_BLOCK  0x10	/* SPED: blocking work ran inline */

/* helper ops */
#define AMPED_OP_OPEN 1
#define AMPED_OP_READ 2

struct amped_current {
	unsigned long long req_id;	/* 0: the dispatcher is not in a request */
	unsigned long long start_ns;	/* CLOCK_MONOTONIC start of that request */
	unsigned int conn_id;
	unsigned int pad;
	const char *path;		/* decoded path, NUL-terminated */
	unsigned long long requests_done; /* requests finished; ampstat reads it
					     (process_vm_readv) for requests/s */
};

#endif
