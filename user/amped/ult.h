/* ult — user-level threads (Knot, Capriccio): many threads multiplexed on
 * the one kernel thread that calls ult_init(), scheduled cooperatively.  A
 * thread runs until it parks (on a socket that said EAGAIN, on work handed
 * to a kernel thread, or for good when its function returns); the
 * scheduler (ult_run, in the kernel thread's own stack) then runs the next
 * runnable one, and the caller's event loop (ae.h) wakes parked ones.
 *
 * Context switch: ult_switch, six callee-saved registers and the stack
 * pointer in x86-64 assembly (ult.c), or swapcontext(3) (--ult-switch
 * ucontext), which also saves and restores the signal mask with a
 * sigprocmask system call on every switch.
 * Stacks: mmap()ed with a PROT_NONE guard page below (an overflow faults
 * instead of writing over a neighbour), kept in a pool for reuse.
 * Counters for tracers: amped_ult (include/amped_models.h).
 *
 * Everything here runs on the kernel thread that called ult_init(). */
#ifndef AMPED_ULT_H
#define AMPED_ULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "amped_models.h"

struct ae_loop;
struct ult;

extern volatile struct amped_ult_stats amped_ult;

/* Threads' stacks of stack_bytes (a multiple of the page size is used);
 * ucontext: switch with swapcontext.  Parked threads are woken from loop
 * (fds below setsize).  0 ok, -1 errno set. */
int ult_init(size_t stack_bytes, bool ucontext, struct ae_loop *loop, int setsize);
void ult_fini(void);			/* frees the pool; threads still alive leak */

/* A new runnable thread running fn(arg); when fn returns the thread ends.
 * 0 ok, -1 errno set (ENOMEM: no stack). */
int ult_spawn(void (*fn)(void *), void *arg);
/* Scheduler: run runnable threads until none is (each runs until it parks).
 * Only from the kernel thread, outside any user-level thread. */
void ult_run(void);
int ult_live(void);			/* threads alive */
bool ult_runnable(void);		/* some thread is ready to run */

/* In a thread (else it polls in the kernel thread): wait until fd has
 * events (POLLIN / POLLOUT), timeout_ms passes, or ult_interrupt_all().
 * fd < 0 waits for ult_wake_idle() instead of an fd.  Returns 1 ready, 0
 * timed out, -1 with errno EINTR interrupted.  The same contract as
 * proc.h's wait_fd, which calls it from user-level threads. */
int ult_wait_fd(int fd, short events, int timeout_ms);
struct ult *ult_self(void);		/* NULL outside a user-level thread */
void ult_park(void);			/* until ult_wake(self) */
void ult_wake(struct ult *u);		/* make a parked thread runnable */
void ult_wake_idle(void);		/* wake every fd < 0 waiter */
/* Wake fd waiters whose timeout passed (a few times a second). */
void ult_expire(uint64_t now_ms);
/* Stop: every waiting thread returns -1/EINTR from ult_wait_fd now (once:
 * later waits wait, so a response still being written parks instead of
 * spinning). */
void ult_interrupt_all(void);

#endif
