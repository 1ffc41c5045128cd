/* model ult — Knot (Pariag et al.; von Behren et al.'s Capriccio): one
 * user-level thread per connection, all of them in one kernel thread,
 * switched cooperatively (ult.h).  Each thread runs the same blocking code
 * as an MP or MT worker (worker_serve: read, respond, wait), but its waits
 * park the user-level thread, not the kernel one: a socket that says
 * EAGAIN parks it until the poller (--poller) reports the fd, and the work
 * that may block the kernel thread — open/stat, reads of pages that are
 * not resident — goes to kernel helper threads (blk_threads, --helpers)
 * while the thread is parked.  From the connection's code all of it looks
 * blocking; the kernel thread never blocks on a client or the disk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ae.h"
#include "alog.h"
#include "blk.h"
#include "conn.h"
#include "dispatcher.h"
#include "fcache.h"
#include "model.h"
#include "overload.h"
#include "proc.h"
#include "ult.h"
#include "worker.h"

/* ---- blocking work: a kernel helper thread runs it, the user-level
 * thread that asked parks until it is done ---- */

struct jobwait {
	struct job *j;
	struct ult *u;
	job_done_fn done;		/* the connection's callback */
	bool finished;
	struct jobwait *next;
};
static struct jobwait *jobs_out;

static void ult_job_done(struct job *j)
{
	for (struct jobwait **pp = &jobs_out; *pp; pp = &(*pp)->next) {
		struct jobwait *w = *pp;
		if (w->j == j) {
			*pp = w->next;
			w->finished = true;
			ult_wake(w->u);
			return;
		}
	}
}

static void ult_submit(struct job *j)
{
	struct jobwait w = { .j = j, .u = ult_self(), .done = j->done, .next = jobs_out };

	if (!w.u) {			/* not from a user-level thread: cannot park */
		blk_inline.submit(j);
		return;
	}
	jobs_out = &w;			/* on this thread's stack: it waits here */
	j->done = ult_job_done;
	blk_threads.submit(j);
	while (!w.finished)
		ult_park();
	j->done = w.done;
	/* the connection's callback runs on its own thread, as if the work
	 * had been done inline; it may have answered other connections that
	 * waited for the same path (CONN_WAIT): let them look again */
	j->done(j);
	ult_wake_idle();
}

static int ult_blk_start(void)
{
	return blk_threads.start();
}

static int ult_blk_busy(void)
{
	return blk_threads.busy();
}

static void ult_blk_stop(uint64_t deadline_ns)
{
	blk_threads.stop(deadline_ns);
}

static const struct blk_ops blk_ult = {
	.name = "helper threads for user-level threads",
	.start = ult_blk_start,
	.submit = ult_submit,
	.busy = ult_blk_busy,
	.stop = ult_blk_stop,
	.rf_open = AMPED_RF_HELPER_OPEN,
	.rf_read = AMPED_RF_HELPER_READ,
};

/* ---- the kernel thread: accept, spawn, poll, schedule ---- */

struct accepted {
	int fd;
	struct sockaddr_storage ss;
};

static int ult_lfd = -1;
static bool ult_accepting;
static volatile sig_atomic_t ult_exiting;

static void ult_conn_main(void *arg)
{
	struct accepted a = *(struct accepted *)arg;

	free(arg);
	worker_serve(a.fd, &a.ss);
}

static void ult_watch_listener(bool on);

static void ult_accept_cb(struct ae_loop *l, int lfd, void *data, int mask)
{
	for (int i = 0; i < 64; i++) {
		struct accepted *a;
		socklen_t sl = sizeof(struct sockaddr_storage);

		if (ult_live() >= cfg.max_conns) {
			ult_watch_listener(false);	/* the rest wait in the backlog */
			return;
		}
		a = malloc(sizeof(*a));
		if (!a)
			return;
		a->fd = accept4(lfd, (struct sockaddr *)&a->ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (a->fd < 0) {
			free(a);
			return;		/* EAGAIN, ECONNABORTED; EMFILE: next tick */
		}
		if (!ae_fits(l, a->fd)) {
			overload_refuse(a->fd, OVERLOAD_FD_LIMIT);
			free(a);
			continue;
		}
		if (ult_spawn(ult_conn_main, a) < 0) {
			overload_refuse(a->fd, "amped: no memory for a user-level thread");
			free(a);
			continue;
		}
	}
}

static void ult_watch_listener(bool on)
{
	if (ult_lfd < 0 || on == ult_accepting)
		return;
	if (ae_set(loop, ult_lfd, on ? AE_READABLE : AE_NONE, ult_accept_cb, NULL) == 0)
		ult_accepting = on;
}

static int ult_run_model(int lfd)
{
	int err = 1, sfd = -1;
	uint64_t stop_deadline = 0, next_tick = 0;
	bool blk_started = false;
	size_t stack_bytes = (size_t)cfg.ult_stack_kb * 1024;

	prctl(PR_SET_NAME, AMPED_COMM_ULT);
	if (loop_begin() < 0)
		goto cleanup;
#if defined(__SANITIZE_ADDRESS__)
	stack_bytes *= 4;		/* the sanitizer's redzones grow every frame */
#endif
	if (ult_init(stack_bytes, cfg.ult_ucontext, loop, loop_setsize()) < 0) {
		perror("amped: user-level threads");
		goto cleanup;
	}
	wait_fd_hook = ult_wait_fd;
	conn_blocking_init(0, &amped_current[0], &blk_ult);
	sfd = proc_signalfd();
	if (sfd < 0 || ae_set(loop, sfd, AE_READABLE, proc_signal_cb, (void *)&ult_exiting) < 0) {
		perror("amped: signalfd");
		goto cleanup;
	}
	blk_started = true;
	if (blk_ult.start() < 0)
		goto cleanup;
	ult_lfd = lfd;
	lfd = -1;
	ult_watch_listener(true);
	if (!ult_accepting) {
		perror("amped: watching the listener");
		goto cleanup;
	}

	for (;;) {
		if ((ult_exiting || amped_stop_requested) && !stop_deadline) {
			/* as the dispatcher: no new connections; idle ones
			 * close when their thread sees the stop (conn_next),
			 * which every waiting thread does now */
			amped_stop_requested = 1;
			ae_del(loop, ult_lfd);
			close(ult_lfd);
			ult_lfd = -1;
			ult_accepting = false;
			ult_interrupt_all();
			stop_deadline = now_ms + (uint64_t)cfg.shutdown_timeout_ms;
		}
		ult_run();
		if (stop_deadline && ((ult_live() == 0 && blk_ult.busy() == 0) ||
				      now_ms >= stop_deadline))
			break;
		if (now_ms >= next_tick) {
			ult_expire(now_ms);
			alog_tick();
			if (ult_live() < cfg.max_conns)
				ult_watch_listener(true);
			next_tick = now_ms + 100;
		}
		if (ae_poll(loop, ult_runnable() ? 0 : 100) < 0 && errno != EINTR) {
			fprintf(stderr, "amped: %s: %s\n",
				ae_poller_name((enum ae_poller)cfg.poller), strerror(errno));
			goto cleanup;
		}
	}
	err = 0;
cleanup:
	if (blk_started) {
		blk_ult.stop(stop_grace_ns(stop_deadline));
	}
	/* threads still alive at the deadline end with the process: their
	 * connections hold references the scheduler cannot drop for them */
	wait_fd_hook = NULL;
	if (ult_live() == 0) {
		fc_flush_all();
		ult_fini();
	}
	if (ult_lfd >= 0)
		close(ult_lfd);
	if (lfd >= 0)
		close(lfd);
	if (sfd >= 0)
		close(sfd);
	return err;
}

static void ult_describe(char *buf, size_t size)
{
	snprintf(buf, size, "model ult, %d helpers, stack %d KiB, switch %s", cfg.helpers,
		 cfg.ult_stack_kb, cfg.ult_ucontext ? "ucontext" : "asm");
}

const struct model model_ult = {
	.name = "ult",
	.help = "a user-level thread per connection in one kernel\n"
		"thread; helper threads do open/stat and disk reads\n"
		"(Knot)",
	.event_driven = false,
	.polls = true,
	.describe = ult_describe,
	.run = ult_run_model,
};
