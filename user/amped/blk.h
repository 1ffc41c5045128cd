/* blk — one interface for the work that may block (opening a path,
 * reading a file's pages in), whoever does it:
 *
 *   blk_procs    helper processes (AMPED)           blk_procs.c
 *   blk_threads  helper threads (AMTED)             blk_threads.c
 *   blk_uring    io_uring operations (uring)        blk_uring.c
 *   blk_inline   the caller itself, blocking (SPED, MP, MT)  blk_inline.c
 *
 * A job carries its own completion callback.  The backend calls it exactly
 * once, through blk_complete(): from the event loop for the asynchronous
 * backends (never from inside submit, except when a job cannot be placed at
 * all), or before submit returns for blk_inline.  The caller tells the two
 * apart only by whether the callback has run when blk_submit() returns.
 * Everything runs on the thread that owns the loop, except the work itself
 * in a helper thread or process. */
#ifndef AMPED_BLK_H
#define AMPED_BLK_H

#include <stdint.h>
#include <sys/stat.h>
#include "amped_usdt.h"
#include "work.h"

struct fentry;
struct job;

typedef void (*job_done_fn)(struct job *j);

struct job {
	/* inputs */
	int op;				/* AMPED_OP_OPEN / AMPED_OP_READ */
	uint64_t req_id;
	struct fentry *fe;		/* OPEN: the pending entry; READ: the file */
	uint64_t off, len;		/* READ */
	job_done_fn done;		/* called once with the results below */
	/* results */
	int err;			/* 0 or an errno (EAGAIN: no one could run it) */
	int kind;			/* OPEN: OPEN_* */
	int fd;				/* OPEN_FILE: the open file, now the caller's */
	struct stat st;
	uint32_t rflags;		/* how it ran, for request_done (AMPED_RF_*) */
	/* the backend's */
	uint64_t start_ns;		/* submitted */
	uint64_t sent_ns;		/* a helper took it (0: ran inline) */
	int tries;
	int helper;			/* index while in service, -1 queued */
	uint32_t seq;
	struct job *next;
};

struct blk_ops {
	const char *name;
	/* On the loop's thread once the loop exists.  0 ok, -1 after a message. */
	int (*start)(void);
	void (*submit)(struct job *j);
	/* Before the loop sleeps: hand over what this turn queued.  May be NULL. */
	void (*flush)(void);
	/* A few times a second: restarts, timeouts.  May be NULL. */
	void (*tick)(void);
	/* Jobs queued or in service. */
	int (*busy)(void);
	/* Stop; jobs still out are abandoned (their connections are gone by
	 * then), work in progress gets until deadline_ns. */
	void (*stop)(uint64_t deadline_ns);
	uint32_t rf_open, rf_read;	/* request_done flags of a job run this way */
};

extern const struct blk_ops blk_procs, blk_threads, blk_uring, blk_inline;

/* ---- for backends whose helpers are threads (blk_threads, seda) ---- */
/* A job's work, detached from the job: a helper thread takes the inputs
 * under the lock its owner's stop takes (after the stop the job, its
 * connection and entry may be freed), runs it unlocked, and stores the
 * results under the lock again unless the owner stopped meanwhile. */
struct job_run {
	int op, err, kind, ofd, fd;
	uint64_t off, len;
	struct stat st;
	char key[AMPED_PATH_MAX];
};
void job_run_take(struct job *j, struct job_run *r, int helper);	/* locked */
void job_run_do(struct job_run *r);				/* unlocked */
void job_run_store(struct job *j, const struct job_run *r);		/* locked */
void job_run_drop(struct job_run *r);		/* locked; the owner is gone */
/* The owner's side: complete a list of finished jobs, newest first (as
 * pushed), oldest first; *busy counts down. */
void blk_complete_list(struct job *newest, int *busy);

/* Hand j (inputs and done set) to b. */
void blk_submit(const struct blk_ops *b, struct job *j);
/* For backends: j finished with err (0 or an errno): probe, then j->done. */
void blk_complete(struct job *j, int err);

#endif
