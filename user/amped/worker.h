/* worker — a blocking worker: an MP process or an MT thread that serves
 * one connection at a time, waiting in poll() for the client and in
 * sendfile()/pread() for the disk, as such servers do.  Its blocking work
 * runs inline (blk_inline). */
#ifndef AMPED_WORKER_H
#define AMPED_WORKER_H

#include <stdbool.h>

struct sockaddr_storage;

/* Become worker idx (named amped-work-idx) with caches of its own.
 * own_current: a thread among others (MT) keeps its own request-for-
 * tracers record; a process uses the global amped_current. */
void worker_start(int idx, bool own_current);
/* Serve accepted socket fd to its end (closes it). */
void worker_serve(int fd, const struct sockaddr_storage *ss);
void worker_end(void);

#endif
