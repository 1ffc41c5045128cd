/* amped_models — counters the newer concurrency models keep in shared
 * memory for tracers, read the way amped_current is (find the symbol in
 * the executable, add the load address, process_vm_readv).  Plain C
 * structs of aligned 64-bit counters, each field written by one thread of
 * the server: a reader sees each field whole (not the struct as one
 * snapshot).
 *
 *   amped_ult   (--model ult) the user-level thread scheduler
 *   amped_seda  (--model seda) each stage's queue and service time
 */
#ifndef AMPED_MODELS_H
#define AMPED_MODELS_H

/* Knot-style user-level threads: what thread management costs.  Pariag
 * et al. found it in Knot's profile; these let a profile count it. */
struct amped_ult_stats {
	unsigned long long switches;	/* user-level context switches, both
					   directions (scheduler -> thread and
					   thread -> scheduler each count 1) */
	unsigned long long created;	/* threads started (one per connection) */
	unsigned long long live;	/* threads now alive */
	unsigned long long parks_fd;	/* parked on EAGAIN, woken by the poller */
	unsigned long long parks_job;	/* parked on blocking work in a kernel
					   helper thread */
	unsigned long long stacks_mapped; /* stacks mmap()ed (the pool reuses) */
	unsigned long long stack_bytes;	/* each stack, without its guard page */
	unsigned long long switch_asm;	/* 1: ult_switch (asm); 0: swapcontext */
};

/* One SEDA stage: a bounded queue in front of a pool of threads.  Queue
 * length now, and service time as busy_ns / items (busy: a thread of the
 * stage working, not waiting for work).  For accept an item is a
 * connection accepted; for http, a loop turn that had events (its queue
 * holds connections waiting for an http thread); for file, a job. */
struct amped_stage_stats {
	char name[8];			/* AMPED_STAGE_* */
	unsigned long long threads;
	unsigned long long queue_len;	/* now */
	unsigned long long queue_cap;	/* --stage-queue */
	unsigned long long enqueued;	/* total */
	unsigned long long rejected;	/* queue full: 503 (accept, http) or
					   EAGAIN to the caller (file) */
	unsigned long long items;
	unsigned long long busy_ns;
};

#define AMPED_SEDA_STAGES 3		/* accept, http, file: in that order */
struct amped_seda_stats {
	struct amped_stage_stats stage[AMPED_SEDA_STAGES];
};

#endif
