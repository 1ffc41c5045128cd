/* ult — see ult.h.
 *
 * The scheduler runs on the kernel thread's own stack.  A switch goes from
 * the scheduler to a thread or back, never from thread to thread, so each
 * thread needs one saved context and the scheduler one.  Waiting threads
 * are on a list per fd (woken by the fd's ae callback), or on the idle
 * list (fd < 0), and all of them on waitq (for timeouts and the stop). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include "ae.h"
#include "proc.h"
#include "ult.h"

#if defined(__SANITIZE_ADDRESS__)
#define ULT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ULT_ASAN 1
#endif
#endif
#ifdef ULT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

__attribute__((used)) volatile struct amped_ult_stats amped_ult;

struct ult {
	void *sp;			/* saved stack pointer (ult_switch) */
	ucontext_t uc;			/* or the saved context (swapcontext) */
	char *map;			/* guard page + stack */
	size_t map_len;
	void (*fn)(void *);
	void *arg;
	bool done;
	bool queued;			/* on the run queue */
	bool waiting;			/* on waitq and an fd or the idle list */
	int wfd;			/* waited for; -1: the idle list */
	short wevents;
	int wresult;
	uint64_t wdeadline_ms;		/* 0: none */
	struct ult *fnext;		/* fd's (or idle) waiters */
	struct ult *wprev, *wnext;	/* waitq */
	struct ult *rnext;		/* run queue, pool */
	void *asan_fake;
};

static struct ae_loop *uloop;
static int usetsize;
static struct ult **fdw;		/* fd -> its waiters */
static struct ult *idle;		/* waiting with fd < 0 */
static struct ult *waitq;		/* every waiting thread */
static struct ult *runq, *runq_tail;
static struct ult *pool;		/* finished threads, stacks kept */
static int npool, nlive;
static struct ult *current;
static void *sched_sp;
static ucontext_t sched_uc;
static bool use_uc;
static size_t stack_len, page;
static const void *sched_stack_bottom;
static size_t sched_stack_size;

#define ULT_POOL_MAX 4096		/* stacks kept for reuse */

/* ult_switch(save, to): push the callee-saved registers, save the stack
 * pointer in *save, load to, pop the registers it saved, return there.
 * A new thread's stack is laid out as if it had switched out just before
 * ult_start, which calls r12(r13) on an aligned stack.  Caller-saved
 * registers are the compiler's to save around the call; the SSE control
 * and x87 control words are never changed here, so not saved. */
void ult_switch(void **save, void *to);
extern char ult_start[];
__asm__(".text\n"
	".globl ult_switch\n.hidden ult_switch\n.type ult_switch,@function\n"
	"ult_switch:\n"
	"\tpushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n"
	"\tmovq %rsp, (%rdi)\n"
	"\tmovq %rsi, %rsp\n"
	"\tpopq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n"
	"\tret\n"
	".size ult_switch, .-ult_switch\n"
	".globl ult_start\n.hidden ult_start\n.type ult_start,@function\n"
	"ult_start:\n"
	"\tmovq %r13, %rdi\n"
	"\tcallq *%r12\n"
	"\tud2\n"
	".size ult_start, .-ult_start\n");

static void asan_start(void **fake, const void *bottom, size_t size)
{
#ifdef ULT_ASAN
	__sanitizer_start_switch_fiber(fake, bottom, size);
#else
	(void)fake, (void)bottom, (void)size;
#endif
}

static void asan_finish(void *fake, const void **bottom, size_t *size)
{
#ifdef ULT_ASAN
	__sanitizer_finish_switch_fiber(fake, bottom, size);
#else
	(void)fake, (void)bottom, (void)size;
#endif
}

static char *stack_lo(const struct ult *u)
{
	return u->map + page;
}

/* scheduler -> u */
static void switch_to(struct ult *u)
{
	void *fake = NULL;

	current = u;
	amped_ult.switches++;
	asan_start(&fake, stack_lo(u), stack_len);
	if (use_uc)
		swapcontext(&sched_uc, &u->uc);
	else
		ult_switch(&sched_sp, u->sp);
	asan_finish(fake, NULL, NULL);
	current = NULL;
}

/* u -> scheduler; returns when u runs again (never if dying) */
static void switch_out(struct ult *u, bool dying)
{
	amped_ult.switches++;
	asan_start(dying ? NULL : &u->asan_fake, sched_stack_bottom, sched_stack_size);
	if (use_uc)
		swapcontext(&u->uc, &sched_uc);
	else
		ult_switch(&u->sp, sched_sp);
	asan_finish(u->asan_fake, NULL, NULL);
}

static void ult_entry(void *arg)
{
	struct ult *u = arg;

	/* the first switch into any thread tells us the scheduler's stack */
	asan_finish(NULL, &sched_stack_bottom, &sched_stack_size);
	u->fn(u->arg);
	u->done = true;
	nlive--;
	amped_ult.live = (unsigned long long)nlive;
	switch_out(u, true);
	abort();			/* a finished thread is never resumed */
}

static void ult_entry_uc(unsigned int hi, unsigned int lo)
{
	ult_entry((void *)(((uintptr_t)hi << 32) | lo));
}

int ult_init(size_t bytes, bool ucontext, struct ae_loop *loop, int setsize)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	stack_len = (bytes + page - 1) / page * page;
	use_uc = ucontext;
	uloop = loop;
	usetsize = setsize;
	fdw = calloc((size_t)setsize, sizeof(*fdw));
	if (!fdw)
		return -1;
	amped_ult.stack_bytes = stack_len;
	amped_ult.switch_asm = !use_uc;
	return 0;
}

void ult_fini(void)
{
	while (pool) {
		struct ult *u = pool;
		pool = u->rnext;
		munmap(u->map, u->map_len);
		free(u);
	}
	npool = 0;
	free(fdw);
	fdw = NULL;
}

static void runq_push(struct ult *u)
{
	if (u->queued)
		return;
	u->queued = true;
	u->rnext = NULL;
	if (runq_tail)
		runq_tail->rnext = u;
	else
		runq = u;
	runq_tail = u;
}

/* getcontext() returns twice: kept apart so that ult_spawn's locals are
 * not its business */
static __attribute__((noinline)) void uc_prepare(struct ult *u)
{
	getcontext(&u->uc);
	u->uc.uc_stack.ss_sp = stack_lo(u);
	u->uc.uc_stack.ss_size = stack_len;
	u->uc.uc_link = NULL;
	makecontext(&u->uc, (void (*)(void))ult_entry_uc, 2,
		    (unsigned int)((uintptr_t)u >> 32), (unsigned int)(uintptr_t)u);
}

int ult_spawn(void (*fn)(void *), void *arg)
{
	struct ult *u = pool;

	if (u) {
		pool = u->rnext;
		npool--;
	} else {
		u = calloc(1, sizeof(*u));
		if (!u)
			return -1;
		u->map_len = stack_len + page;
		u->map = mmap(NULL, u->map_len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
		if (u->map == MAP_FAILED) {
			free(u);
			errno = ENOMEM;
			return -1;
		}
		/* the guard: an overflow faults here instead of corrupting */
		if (mprotect(u->map, page, PROT_NONE) < 0) {
			munmap(u->map, u->map_len);
			free(u);
			return -1;
		}
		amped_ult.stacks_mapped++;
	}
#ifdef ULT_ASAN
	/* a reused stack still carries the last thread's poisoned frames */
	ASAN_UNPOISON_MEMORY_REGION(stack_lo(u), stack_len);
#endif
	u->fn = fn;
	u->arg = arg;
	u->done = u->queued = u->waiting = false;
	u->asan_fake = NULL;
	if (use_uc) {
		uc_prepare(u);
	} else {
		/* as ult_switch left it: r15 r14 r13 r12 rbx rbp, return
		 * address; ult_start then runs with rsp 16-byte aligned */
		void **sp = (void **)(stack_lo(u) + stack_len - 72);
		memset(sp, 0, 72);
		sp[2] = u;			/* r13: the argument */
		sp[3] = (void *)ult_entry;	/* r12: the function */
		sp[6] = (void *)ult_start;
		u->sp = sp;
	}
	nlive++;
	amped_ult.created++;
	amped_ult.live = (unsigned long long)nlive;
	runq_push(u);
	return 0;
}

static void release(struct ult *u)
{
	if (npool < ULT_POOL_MAX) {
		u->rnext = pool;
		pool = u;
		npool++;
		return;
	}
	munmap(u->map, u->map_len);
	free(u);
}

void ult_run(void)
{
	struct ult *u;

	while ((u = runq)) {
		runq = u->rnext;
		if (!runq)
			runq_tail = NULL;
		u->queued = false;
		switch_to(u);
		if (u->done)
			release(u);
	}
}

int ult_live(void)
{
	return nlive;
}

bool ult_runnable(void)
{
	return runq != NULL;
}

struct ult *ult_self(void)
{
	return current;
}

/* Take u off its wait lists (it is being woken). */
static void unwait(struct ult *u)
{
	struct ult **pp = u->wfd >= 0 ? &fdw[u->wfd] : &idle;

	for (; *pp; pp = &(*pp)->fnext)
		if (*pp == u) {
			*pp = u->fnext;
			break;
		}
	if (u->wprev)
		u->wprev->wnext = u->wnext;
	else
		waitq = u->wnext;
	if (u->wnext)
		u->wnext->wprev = u->wprev;
	u->fnext = u->wprev = u->wnext = NULL;
	u->waiting = false;
}

static void wake_with(struct ult *u, int result)
{
	unwait(u);
	u->wresult = result;
	runq_push(u);
}

static int fd_mask_of(int fd)
{
	int m = 0;
	for (struct ult *w = fdw[fd]; w; w = w->fnext)
		m |= ((w->wevents & POLLIN) ? AE_READABLE : 0) |
		     ((w->wevents & POLLOUT) ? AE_WRITABLE : 0);
	return m;
}

static void fd_cb(struct ae_loop *l, int fd, void *data, int mask)
{
	bool reader = false;
	struct ult *w = fdw[fd], *next;

	for (; w; w = next) {
		next = w->fnext;
		if (((w->wevents & POLLIN) && (mask & AE_READABLE)) ||
		    ((w->wevents & POLLOUT) && (mask & AE_WRITABLE))) {
			reader |= (w->wevents & POLLIN) != 0;
			wake_with(w, 1);
		}
	}
	/* A woken reader usually parks on the same fd for its next request:
	 * keep the fd watched for reading until it fires with no reader
	 * (saves two epoll_ctl per request).  Writability is dropped at once,
	 * else it would fire on every turn. */
	ae_set(l, fd, fd_mask_of(fd) | (reader ? AE_READABLE : 0), fd_cb, NULL);
}

int ult_wait_fd(int fd, short events, int timeout_ms)
{
	struct ult *u = current;

	if (!u || fd >= usetsize)
		return poll_fd(fd, events, timeout_ms);
	u->wfd = fd < 0 ? -1 : fd;
	u->wevents = events;
	u->wdeadline_ms = timeout_ms < 0 ? 0 : now_ms + (uint64_t)timeout_ms + (timeout_ms == 0);
	if (fd >= 0) {
		u->fnext = fdw[fd];
		fdw[fd] = u;
		int m = fd_mask_of(fd) | ae_mask(uloop, fd);
		if (ae_set(uloop, fd, m, fd_cb, NULL) < 0) {
			fdw[fd] = u->fnext;
			return poll_fd(fd, events, timeout_ms);
		}
		amped_ult.parks_fd++;
	} else {
		u->fnext = idle;
		idle = u;
	}
	u->waiting = true;
	u->wprev = NULL;
	u->wnext = waitq;
	if (waitq)
		waitq->wprev = u;
	waitq = u;
	switch_out(u, false);
	clock_refresh();
	if (u->wresult < 0)
		errno = EINTR;
	return u->wresult;
}

void ult_park(void)
{
	struct ult *u = current;

	amped_ult.parks_job++;
	switch_out(u, false);
	clock_refresh();
}

void ult_wake(struct ult *u)
{
	runq_push(u);
}

void ult_wake_idle(void)
{
	while (idle)
		wake_with(idle, 1);
}

void ult_expire(uint64_t now)
{
	struct ult *u = waitq, *next;

	for (; u; u = next) {
		next = u->wnext;
		if (u->wdeadline_ms && now >= u->wdeadline_ms)
			wake_with(u, 0);
	}
}

void ult_interrupt_all(void)
{
	while (waitq)
		wake_with(waitq, -1);
}
