/* supervise — a parent (named amped-main) keeping N child processes alive:
 * the models made of processes (symped, mp). */
#ifndef AMPED_SUPERVISE_H
#define AMPED_SUPERVISE_H

#include <stdbool.h>

/* A child's life: serve on lfd; returns its exit status. */
typedef int (*child_fn)(int idx, int lfd);

/* Run n children fn(i, lfd); replace any that dies before the stop; on
 * SIGTERM/SIGINT pass it on, wait up to the shutdown timeout, then kill
 * stragglers (our own children, by pid).  first_lfd (>= 0) goes to child 0
 * at its first start instead of lfd, and the parent closes it then.
 * keep_lfd: the parent holds lfd open for replacements (else it closes it
 * once the children run).  Returns 0 if every child exited 0, else 1. */
int supervise(int n, child_fn fn, int lfd, int first_lfd, bool keep_lfd);

#endif
