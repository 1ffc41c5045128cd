/* dispatcher — one event-driven dispatcher: an event loop over the
 * listening socket, its connections and the completions of blocking work,
 * on the calling thread (named amped-disp) until SIGTERM/SIGINT.  It does
 * not know which model it serves: the model hands it where blocking work
 * runs (blk.h). */
#ifndef AMPED_DISPATCHER_H
#define AMPED_DISPATCHER_H

struct blk_ops;

/* Serve lfd (closed on return) with blocking work done by blk.  Returns the
 * exit status: 0 after a graceful stop, 1 on a runtime error.  With
 * cfg.dispatchers N > 1: N loops, threads named AMPED_COMM_DISP_N "0"..,
 * number 0 on the calling thread, each with a listener of its own on
 * cfg.port (SO_REUSEPORT; lfd is number 0's) and its own instance of blk;
 * a stop seen by one stops all, and the status is 1 if any failed. */
int run_dispatcher(int lfd, const struct blk_ops *blk);
/* The same without a listener, on a thread named name: once the loop
 * exists, intake() (0 ok, -1 after a message) registers whatever hands it
 * connections (conn_take).  A stop seen by any dispatcher of the process
 * sets amped_stop_requested, which stops the others too. */
int run_dispatcher_fed(const char *name, int (*intake)(void), const struct blk_ops *blk);

/* This thread's event loop (`loop`, with --poller), its clock and caches.
 * 0 ok, -1 after a message. */
int loop_begin(void);

#endif
