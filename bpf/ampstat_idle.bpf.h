/* ampstat_idle — which sleeps are an event loop's idle wait.
 *
 * A thread in an interruptible sleep inside one of the event-notification
 * calls is waiting for work (idle), not blocked on something it asked for.
 * epoll's three, and — since amped's loops can use --poller poll|select
 * (issue 13) — poll, ppoll, select and pselect6: without them a loop on
 * poll or select idling looked like a stall in every program that tells
 * idle from waiting (sched, latency, blocked, offcpu).  x86_64 numbers
 * (orig_ax at sched_switch). */
#ifndef AMPSTAT_IDLE_BPF_H
#define AMPSTAT_IDLE_BPF_H

#define NR_poll			7
#define NR_select		23
#define NR_epoll_wait		232
#define NR_pselect6		270
#define NR_ppoll		271
#define NR_epoll_pwait		281
#define NR_epoll_pwait2		441

static __always_inline bool as_idle_syscall(long nr)
{
	return nr == NR_epoll_wait || nr == NR_epoll_pwait || nr == NR_epoll_pwait2 || nr == NR_poll ||
	       nr == NR_ppoll || nr == NR_select || nr == NR_pselect6;
}

#endif
