/* rxstamp — when a request's bytes reached the host (rxs_).
 *
 * A server-side latency that starts when the server reads a request hides
 * the time the request waited in the kernel's queues (a blocked event
 * loop's victims).  The kernel stamps every received packet with the time
 * it came in (software RX timestamps) once any socket asks for them, and
 * recvmsg hands a socket's stamp over as a control message (SO_TIMESTAMPNS:
 * the stamp of the last packet the read took from the queue).
 *
 * Only while a tracer has set amped_current.trace: then a holder socket
 * keeps the kernel stamping (so that packets of connections not accepted
 * yet are stamped too), each connection is switched on at its first read
 * (one setsockopt a connection) and read with recvmsg.  Untraced, a read is
 * a plain read(2) and the per-packet stamping is off again as soon as the
 * holder and the connections switched on are closed or read once more.
 *
 * rxs_read: like read(2) (same return and errno), plus *arrive_ns: the
 * CLOCK_MONOTONIC time the last packet read arrived, 0 when unknown (not
 * traced, no stamp: the packet came before stamping was on).  *on is the
 * connection's state, false for a new one; the caller keeps it. */
#ifndef RXSTAMP_H
#define RXSTAMP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

ssize_t rxs_read(int fd, void *buf, size_t len, bool *on, uint64_t *arrive_ns);

#endif
