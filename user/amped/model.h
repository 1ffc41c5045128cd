/* model — one concurrency model of amped: what main.c needs to know to run
 * it, and nothing more.  Each model is one file (model_NAME.c) defining
 * one `const struct model`; models.c holds the one table of them.  Adding a
 * model = one new file + one row in that table.
 *
 * The parts models are made of live in their own modules: dispatcher.c (an
 * event-driven loop over connections, given a blk backend), blk_*.c (where
 * blocking work runs), supervise.c (a parent keeping N processes alive),
 * worker.c (a thread or process serving one connection at a time with
 * blocking I/O). */
#ifndef AMPED_MODEL_H
#define AMPED_MODEL_H

#include <stdbool.h>
#include <stddef.h>

struct model {
	const char *name;		/* --model NAME */
	const char *help;		/* --help text; '\n' between lines */
	/* One event loop per process or thread, choosing which ready
	 * response to write (--sched applies). */
	bool event_driven;
	/* Waits for sockets in an ae loop (ae.h): --poller applies. */
	bool polls;
	/* run() is run_dispatcher(): --dispatchers N runs N of its event
	 * loops, each with its own listener and blocking-work backend. */
	bool dispatchers;
	/* --workers when not given; NULL: 64. */
	int (*default_workers)(void);
	/* After the options, before any resource is taken: settle what the
	 * model implies (cfg.listen_reuseport, cache split...).  NULL: none.
	 * 0 ok, -1 after a message (then amped exits 2). */
	int (*configure)(void);
	/* File descriptors kept besides connections (caches, helpers,
	 * listeners).  NULL: one cache plus two per helper plus 64. */
	long (*fds_reserved)(void);
	/* The "(model ...)" part of the listening line, into buf. */
	void (*describe)(char *buf, size_t size);
	/* Serve on lfd (theirs to close) until SIGTERM/SIGINT.  Returns the
	 * exit status: 0 stopped cleanly, 1 runtime error. */
	int (*run)(int lfd);
};

extern const struct model *const models[];
extern const size_t nmodels;

/* The model named name, or NULL. */
const struct model *model_find(const char *name);
/* "fcfs" or "srpt": cfg.sched, for describe(). */
const char *sched_name(void);

#endif
