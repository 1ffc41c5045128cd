/* latency — the request-latency tracing of `ampstat latency`
 * (bpf/latency.bpf.c: amped's request_done probe, one hit per request),
 * for other subcommands too (`serve --latency`).
 *
 *   lat_new()              a tracer with latency's defaults (--sample auto,
 *                          at most 4,000 probe hits a second); NULL when out
 *                          of memory.
 *   lat_begin(s, x)        loads, pins (folder latency/) and attaches it to
 *                          the session's target and its children running
 *                          the same binary, and asks amped for phase marks.
 *                          0, or 1 after a message.
 *   lat_tick(s, x)         --sample auto: N follows the request rate (call
 *                          it a few times a second).
 *   lat_read(x, &l)        the sums so far (struct ampstat_lat, summed over
 *                          the CPUs).  0 / -errno.
 *   lat_hist(x, max, h, n) the histograms (user/lh.h) of phases 0 .. n - 1
 *                          (enum ampstat_lat_phase; 0 the total), summed
 *                          over the CPUs, quantiles clipped to max (the
 *                          longest request: struct ampstat_lat.max_ns).
 *                          0 / -errno.
 *   lat_end(s, x)          clears amped's trace flag, detaches, frees;
 *                          accepts NULL.
 *
 * The probes are attached to the processes of the session's target when
 * lat_begin runs: a target that restarts is not traced again. */
#ifndef AMPSTAT_LAT_TRACE_H
#define AMPSTAT_LAT_TRACE_H
#include "ampstat_latency.h"

struct sess;
struct lat_ctx;
struct lh;

struct lat_ctx *lat_new(void);
int lat_begin(struct sess *s, struct lat_ctx *x);
void lat_tick(struct sess *s, struct lat_ctx *x);
int lat_read(struct lat_ctx *x, struct ampstat_lat *out);
const char *lat_phase_name(int phase);	/* its JSON name ("socket_queue") */
int lat_hist(struct lat_ctx *x, __u64 max_ns, struct lh *out, unsigned nph);
void lat_end(struct sess *s, struct lat_ctx *x);

#endif
