/* blocked — the dispatcher-stall tracing of `ampstat blocked`
 * (bpf/blocked.bpf.c: every time a dispatcher leaves the CPU other than
 * for its idle wait, with the request it was serving), for other
 * subcommands too (`serve --stalls`).
 *
 *   blk_new(min_us, fn, arg)  a tracer that hands each stall of at least
 *                             min_us microseconds to fn(arg, event, state,
 *                             syscall name, "METHOD /path" or "" when not
 *                             in a request), instead of printing it; NULL
 *                             when out of memory.  It counts no collateral
 *                             (the event's coll_* fields stay 0).
 *   blk_begin(s, x)           loads, pins (folder blocked/) and attaches it
 *                             for the session's target: the threads named
 *                             amped-disp or amped-s-http-N (seda), none for
 *                             amped's mp, mt, hybrid, else the target's
 *                             main thread.
 *                             0, or 1 after a message.
 *   blk_poll_fd(x)            a descriptor that polls readable when
 *                             events wait; blk_consume(x) hands them to fn.
 *   blk_end(s, x)             detaches, frees; accepts NULL.
 *   blk_has_disp(pid)         is pid amped (a thread of it or a child
 *                             named amped-disp(-N) or amped-s-http-N, or
 *                             its amped_current)?  Then the event loops are
 *                             the threads of those names (none for mp, mt,
 *                             hybrid), else pid's main thread.
 *
 * The state is 0 blocked-io (D), 1 waiting (S, not in epoll_wait),
 * 2 preempted (R); blk_state_name names them. */
#ifndef AMPSTAT_BLK_TRACE_H
#define AMPSTAT_BLK_TRACE_H
#include "ampstat_blocked.h"

#include <stdbool.h>
#include <sys/types.h>

struct sess;
struct blk_ctx;

typedef void (*blk_event_fn)(void *arg, const struct ampstat_blk_event *e, unsigned state,
			     const char *syscall, const char *request);

extern const char *const blk_state_name[3];

struct blk_ctx *blk_new(long min_us, blk_event_fn fn, void *arg);
int blk_begin(struct sess *s, struct blk_ctx *x);
int blk_poll_fd(struct blk_ctx *x);
void blk_consume(struct blk_ctx *x);
void blk_end(struct sess *s, struct blk_ctx *x);
bool blk_has_disp(pid_t pid);

#endif
