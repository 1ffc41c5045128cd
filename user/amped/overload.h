/* overload — the answer to a connection the server accepted but will not
 * serve: its poller cannot watch the fd (select: fd >= FD_SETSIZE), or a
 * bounded queue is full (seda).  The client gets a complete 503 with
 * Retry-After and "Connection: close" instead of a silent close or a hang.
 *
 * The request is usually there already (TCP_DEFER_ACCEPT): it is read and
 * dropped first, so that close() sends a FIN after the 503, not an RST that
 * could destroy it in the client's receive queue. */
#ifndef AMPED_OVERLOAD_H
#define AMPED_OVERLOAD_H

/* The body when the poller cannot watch the fd (select, fd >= 1024). */
#define OVERLOAD_FD_LIMIT "amped: connection beyond what the poller (select) can watch"

/* Answer fd (a non-blocking accepted socket) 503 and close it.  why goes
 * into the body, one line.  Never blocks; never fails (best effort). */
void overload_refuse(int fd, const char *why);

/* Counted for tracers and the tests: connections refused this way. */
extern volatile unsigned long amped_refused;

#endif
