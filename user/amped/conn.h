/* conn — the connection state machine: read a request head, have its path
 * translated and its pages brought in (blk.h), write the response that
 * resp.h built, keep alive or close.  Per thread: a dispatcher's
 * connections, or a blocking worker's one.
 *
 * Two drivers: an event loop (dispatcher.c) registers the listener with
 * conn_listen_start() and lets the loop's events drive everything; a
 * blocking worker (worker.c) hands in one accepted socket at a time and
 * waits where conn_next() says. */
#ifndef AMPED_CONN_H
#define AMPED_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include "amped_usdt.h"

struct blk_ops;
struct conn;
struct sockaddr_storage;

/* ---- driven by an event loop ---- */
/* Accept on lfd (ours from now on, closed by conn_stop_accepting) in this
 * thread's loop; blocking work goes to blk.  0 ok, -1 error (errno set). */
int conn_listen_start(int lfd, const struct blk_ops *blk);
/* Dispatcher idx of several in this process (dispatcher.c), before
 * conn_listen_start: its requests show in cur (its slot of amped_current),
 * its request and connection ids in a range of their own. */
void conn_dispatcher_init(int idx, volatile struct amped_current *cur);
/* lfd < 0: no listener; connections come through conn_take(fd, ss), a
 * socket another thread accepted (non-blocking; ours from now on; one the
 * loop cannot hold, or beyond --max-conns, or while stopping, is answered
 * 503). */
void conn_take(int fd, const struct sockaddr_storage *ss);
void conn_stop_accepting(void);		/* close the listener */
int conn_count(void);			/* open connections */
void conn_sweep(void);			/* timeouts; call a few times a second */
void conn_drain_idle(void);		/* shutdown: close idle connections */
/* Exit: close every connection, free this thread's pools. */
void conn_close_all(void);
/* --sched srpt: write ready responses, fewest bytes left first, for up to
 * a turn's budget.  Returns true if some are still ready (poll, don't
 * sleep). */
bool conn_run_ready(void);

/* ---- driven by a blocking worker, one connection at a time ---- */
/* This thread's connections block: waits are the driver's poll()s, disk
 * reads happen inside sendfile().  Ids start at worker_idx's own range;
 * cur is where tracers find the request being served. */
void conn_blocking_init(int worker_idx, volatile struct amped_current *cur,
			const struct blk_ops *blk);
/* A connection for accepted socket fd, held by the caller until
 * conn_release().  NULL: out of memory, fd closed. */
struct conn *conn_adopt(int fd, const struct sockaddr_storage *ss);
enum conn_next {
	CONN_GONE,	/* closed: release it */
	CONN_LINGER,	/* answered an error: drain the input, then conn_close() */
	CONN_INPUT,	/* wait up to *wait_ms for input, then conn_input() */
	CONN_WAIT,	/* another connection's blocking work (same path) is
			   out and will answer this one too: wait, then ask
			   again (only when blk completes jobs later: ult) */
};
/* What c waits for next.  stopping: the server is stopping (keep-alive
 * ends after the response in progress; an idle connection closes now). */
enum conn_next conn_next(struct conn *c, bool stopping, int *wait_ms);
void conn_input(struct conn *c);	/* read what came (or see the deadline) */
void conn_close(struct conn *c);
void conn_release(struct conn *c);	/* frees c if it was closed */

#endif
