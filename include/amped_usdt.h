/* amped_usdt — what the tracer (ampstat, bpf/) may read from a running amped.
 *
 * USDT probes, provider "amped" (sys/sdt.h; list them with
 * `readelf -n build/amped`).  An attached probe costs ~650 ns a hit here, so
 * only request_done fires on every request (or on 1 in N, when a tracer
 * sets amped_current.sample_mask to N - 1); the others fire on the slow
 * path (helper work, residency misses), or once per request only if a
 * tracer chooses to attach request_start as well.
 *
 *   request_start(u32 conn_id, u64 req_id, const char *path)
 *   request_done (u32 conn_id, u64 req_id, u32 status, u64 body_bytes,
 *                 u64 start_ns, u32 flags, struct amped_phases *ph)
 *                 start_ns: CLOCK_MONOTONIC, when the head was parsed
 *                 (the latency from arrival: ph->arrive_ns, below);
 *                 ph: where the request's time went (below), in the
 *                 serving thread's memory (bpf_probe_read_user); it
 *                 holds start_ns and status too
 *   helper_handoff(u64 req_id, u32 helper, u32 op, u32 queued)
 *   helper_return (u64 req_id, u32 helper, u32 op, i32 err, u64 service_ns)
 *   residency_miss(u64 req_id, u64 off_bytes, u64 len_bytes, u32 method)
 *
 * The dispatcher keeps the request it is serving right now in the global
 * `amped_current` (symbol in the binary's .data): a tracer reads it with
 * bpf_probe_read_user at the moment the dispatcher blocks.
 *
 * `amped_current` is an array of AMPED_DISP_MAX slots, one per dispatcher
 * of the process (--dispatchers N), each 64 bytes and 64-byte aligned so
 * that two dispatchers never write one cache line.  Slot 0, at the symbol's
 * address, is the only one a process with one dispatcher uses: a tracer
 * that knows only slot 0 sees such a process as before.  Slot 0's `nslots`
 * says how many slots are in use (0 counts as 1).  Slot I belongs to the
 * thread named AMPED_COMM_DISP when there is one dispatcher, else to
 * AMPED_COMM_DISP_N "I" (include/amped_names.h): a tracer that caught a
 * dispatcher blocking finds its slot from its comm.  Each slot has its own
 * requests_done (sum over the slots in use) and its own sample_mask and
 * trace (a tracer writes every slot in use).
 */
#ifndef AMPED_USDT_H
#define AMPED_USDT_H

/* An opt-in request header: a client (ampload --req-id) names its request
 * with a decimal id, and amped, while a tracer has set amped_current.trace,
 * passes it on in struct amped_phases.client_id, so that a tracer can tie
 * the server's view of a request to the client's. */
#define AMPED_REQ_HEADER "X-Amped-Req"

/* request_done flags */
#define AMPED_RF_HELPER_OPEN   0x1	/* path translation went to a helper */
#define AMPED_RF_HELPER_READ   0x2	/* a helper brought pages into memory */
#define AMPED_RF_RESIDENT_MISS 0x4	/* residency check said "not resident" */
#define AMPED_RF_KEEPALIVE     0x8
#define AMPED_RF_INLINE_BLOCK  0x10	/* SPED: blocking work ran inline */

/* helper ops */
#define AMPED_OP_OPEN 1
#define AMPED_OP_READ 2

#define AMPED_DISP_MAX 64		/* slots of amped_current: most dispatchers
					   (a power of two: tracers mask with it) */

struct amped_current {
	unsigned long long req_id;	/* 0: the dispatcher is not in a request */
	unsigned long long start_ns;	/* CLOCK_MONOTONIC start of that request */
	unsigned int conn_id;
	unsigned int nslots;		/* slot 0: slots in use (0: 1); else 0 */
	const char *path;		/* decoded path, NUL-terminated */
	unsigned long long requests_done; /* requests finished; ampstat reads it
					     (process_vm_readv) for requests/s */
	const char *method;		/* the request line: the method, then a
					   space (not NUL-terminated) */
	unsigned long long sample_mask;	/* request_done fires for the requests
					   whose id has none of these bits: a
					   tracer sets it (process_vm_writev)
					   to sample 1 in mask + 1, then 0 */
	unsigned long long trace;	/* nonzero while a tracer wants the phase
					   marks (struct amped_phases): without
					   one they cost nothing, not even a
					   clock read */
} __attribute__((aligned(64)));

/* Phase marks of one request, kept in its connection and passed by address
 * to request_done, so that a tracer learns the phases from the one probe hit
 * a request costs.  CLOCK_MONOTONIC ns; 0: did not happen, or no tracer had
 * set amped_current.trace.  The request starts when its first byte reached
 * the host (arrive_ns: the kernel's receive stamp of the packets the read
 * took, user/amped/rxstamp.h; for a pipelined head, the stamp of the read
 * that brought it; 0 unknown: the request starts at the read):
 *   accept queue: arrive_ns .. accept_ns, a new connection's first request
 *               only (accept_ns 0 on later requests; a request that
 *               arrived after the accept has none)
 *   socket queue: max(arrive_ns, accept_ns) .. first_ns (queued in the
 *               socket, or for a pipelined head in the server's buffer,
 *               until the server read it)
 *   receive:    first_ns .. start_ns (the head's first byte read .. parsed;
 *               first_ns is 0 for a pipelined head already in the buffer)
 *   dispatcher: start_ns .. resp_ns, less the helper time before resp_ns
 *   helper queue / service: hq_ns / hs_ns, summed over the request's jobs
 *               (queue: submitted .. a helper took it; service: taken ..
 *               the result back in the dispatcher's loop)
 *   sending:    resp_ns .. done, less hsend_ns (the part of hq_ns + hs_ns
 *               spent after resp_ns: cold chunks brought in while sending)
 * SPED runs its jobs inline: that time is the dispatcher's (or sending). */
struct amped_phases {
	unsigned long long first_ns;
	unsigned long long resp_ns;	/* the response's first write */
	unsigned long long hq_ns;
	unsigned long long hs_ns;
	unsigned long long hsend_ns;
	unsigned long long start_ns;	/* request_done's start_ns and status, */
	unsigned int status;		/* here too: a tracer then reads one */
					/* argument (each costs a probe read) */
	unsigned int sample_mask;	/* the mask that let this request fire:
					   it stands for mask + 1 requests */
	unsigned long long done_ns;	/* request_done itself (traced only) */
	unsigned long long arrive_ns;	/* the first byte reached the host */
	unsigned long long accept_ns;	/* its connection was accepted */
	unsigned long long client_id;	/* AMPED_REQ_HEADER's id; 0: none */
};

/* request_done, for the requests a sampling tracer wants (every request
 * while mask is 0): an attached probe costs ~650 ns a hit, not attached
 * ~0.3 ns, and this test ~1 ns.  mask is read once: a tracer may change it
 * at any time, and the mask passed on must be the one that decided.  cur:
 * the serving thread's slot of amped_current. */
#define AMPED_REQUEST_DONE(cur, conn_id, req_id, status, bytes, start, flags, ph) do { \
	unsigned long long m_ = __atomic_load_n(&(cur)->sample_mask, __ATOMIC_RELAXED); \
	if (!((req_id) & m_)) {							\
		AMPED_PH_DONE(cur, ph, start, status, m_);			\
		DTRACE_PROBE7(amped, request_done, conn_id, req_id, status, bytes, \
			      start, flags, ph);					\
	}									\
} while (0)

/* Just before request_done: the fields a tracer reads with the marks. */
#define AMPED_PH_DONE(cur, ph, start, st, mask) do {			\
	(ph)->start_ns = (start);						\
	(ph)->status = (unsigned int)(st);					\
	(ph)->sample_mask = (unsigned int)(mask);				\
	(ph)->done_ns = (cur)->trace ? mono_ns() : 0;				\
} while (0)

/* A job for ph's request finished now (in the dispatcher whose slot is
 * cur): account it.  sent_ns 0: it never went to a helper (SPED inline). */
#define AMPED_PH_JOB(cur, ph, submit_ns, sent_ns) do {			\
	unsigned long long n_ = (cur)->trace ? mono_ns() : 0, s_ = (sent_ns);	\
	if (n_ && s_ && s_ >= (submit_ns) && n_ >= s_) {			\
		(ph)->hq_ns += s_ - (submit_ns);				\
		(ph)->hs_ns += n_ - s_;						\
		if ((ph)->resp_ns)						\
			(ph)->hsend_ns += n_ - (submit_ns);			\
	}									\
} while (0)

#endif
