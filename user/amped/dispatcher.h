/* dispatcher — one event-driven dispatcher: an event loop over the
 * listening socket, its connections and the completions of blocking work,
 * on the calling thread (named amped-disp) until SIGTERM/SIGINT.  It does
 * not know which model it serves: the model hands it where blocking work
 * runs (blk.h). */
#ifndef AMPED_DISPATCHER_H
#define AMPED_DISPATCHER_H

struct blk_ops;

/* Serve lfd (closed on return) with blocking work done by blk.  Returns the
 * exit status: 0 after a graceful stop, 1 on a runtime error. */
int run_dispatcher(int lfd, const struct blk_ops *blk);

/* This thread's event loop (`loop`, with --poller), its clock and caches.
 * 0 ok, -1 after a message. */
int loop_begin(void);

#endif
