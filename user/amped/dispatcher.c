/* dispatcher — the event loop's outer turn and its graceful stop; with
 * --dispatchers N, N of them as threads of one process.
 *
 * Several dispatchers are threads, not processes (as symped's are): one
 * process for a tracer to follow and one address space for amped_current's
 * slots, while all a loop touches per request stays its own (conn.c, the
 * file cache and each blk backend keep per-thread state; every dispatcher
 * has its own helpers).  Each has its own listening socket on the port,
 * with SO_REUSEPORT: the kernel spreads connections by a hash of their
 * addresses over the sockets, so no two loops contend for one accept queue
 * or are woken for the same connection.  One socket shared with
 * EPOLLEXCLUSIVE would hand a connection to whichever loop waits, which
 * balances better when one loop is busy, but it exists only for epoll (not
 * --poller poll or select) and still has every loop take one queue's lock;
 * an AMPED dispatcher does not block, so hashing does not strand
 * connections behind a stalled loop, which is SO_REUSEPORT's weakness. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "ae.h"
#include "alog.h"
#include "blk.h"
#include "conn.h"
#include "dispatcher.h"
#include "fcache.h"
#include "proc.h"

static volatile sig_atomic_t exiting;

int loop_begin(void)
{
	loop = ae_create_with(loop_setsize(), (enum ae_poller)cfg.poller);
	if (!loop) {
		perror("amped: event loop");
		return -1;
	}
	ae_on_wake(loop, clock_refresh);
	clock_refresh();
	fc_init();
	return 0;
}

static int dispatch(const char *name, int idx, int lfd, int (*intake)(void),
		    const struct blk_ops *blk);
static int run_many(int lfd, const struct blk_ops *blk);

int run_dispatcher(int lfd, const struct blk_ops *blk)
{
	if (cfg.dispatchers > 1)
		return run_many(lfd, blk);
	return dispatch(AMPED_COMM_DISP, -1, lfd, NULL, blk);
}

int run_dispatcher_fed(const char *name, int (*intake)(void), const struct blk_ops *blk)
{
	return dispatch(name, -1, -1, intake, blk);
}

struct disp_arg {
	int idx, lfd, err;
	const struct blk_ops *blk;
	pthread_t tid;
};

static int disp_one(struct disp_arg *a)
{
	char name[16];

	snprintf(name, sizeof(name), AMPED_COMM_DISP_N "%d", a->idx);
	a->err = dispatch(name, a->idx, a->lfd, NULL, a->blk);
	a->lfd = -1;			/* closed by dispatch() */
	if (a->err)
		amped_stop_requested = 1;	/* one failed: all stop */
	return a->err;
}

static void *disp_thread(void *p)
{
	disp_one(p);
	return NULL;
}

/* Dispatchers 1..N-1 on threads of their own, 0 on this one. */
static int run_many(int lfd, const struct blk_ops *blk)
{
	int n = cfg.dispatchers, err = 0, started = 1;
	struct disp_arg *a = calloc((size_t)n, sizeof(*a));
	sigset_t mask;

	if (!a) {
		perror("amped: dispatchers");
		close(lfd);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		a[i].idx = i;
		a[i].blk = blk;
		a[i].lfd = -1;
	}
	a[0].lfd = lfd;
	/* every socket here, before any thread: make_listener() writes
	 * cfg.port (the same value; main.c set SO_REUSEPORT) */
	for (int i = 1; i < n; i++) {
		char url[128];
		a[i].lfd = make_listener(url, sizeof(url));
		if (a[i].lfd < 0) {
			err = 1;
			goto cleanup;
		}
	}
	/* the threads inherit this mask: stop signals reach only the loops'
	 * signalfds, never a default action */
	proc_block_loop_signals(&mask);
	for (; started < n; started++) {
		int e = pthread_create(&a[started].tid, NULL, disp_thread, &a[started]);
		if (e) {
			fprintf(stderr, "amped: starting dispatcher %d: %s\n", started, strerror(e));
			amped_stop_requested = 1;
			err = 1;
			break;
		}
	}
	disp_one(&a[0]);
	for (int i = 1; i < started; i++)
		pthread_join(a[i].tid, NULL);
	for (int i = 0; i < started; i++)
		if (a[i].err)
			err = 1;
cleanup:
	/* the sockets of threads that never started (a[0]'s is closed by
	 * now, a running thread's by that thread) */
	for (int i = 0; i < n; i++)
		if ((i == 0 || i >= started) && a[i].lfd >= 0)
			close(a[i].lfd);
	free(a);
	return err;
}

/* idx: this thread's number among several dispatchers, -1 if it is alone. */
static int dispatch(const char *name, int idx, int lfd, int (*intake)(void),
		    const struct blk_ops *blk)
{
	int err = 1, sfd = -1;
	uint64_t stop_deadline = 0;
	bool blk_started = false;

	prctl(PR_SET_NAME, name);
	disp_index = idx < 0 ? 0 : idx;
	if (idx >= 0)
		conn_dispatcher_init(idx, &amped_current[idx]);
	if (loop_begin() < 0)
		goto cleanup;
	sfd = proc_signalfd();
	if (sfd < 0) {
		perror("amped: signalfd");
		goto cleanup;
	}
	if (ae_set(loop, sfd, AE_READABLE, proc_signal_cb, (void *)&exiting) < 0) {
		perror("amped: watching signals");
		goto cleanup;
	}
	blk_started = true;
	if (blk->start() < 0)
		goto cleanup;
	if (conn_listen_start(lfd, blk) < 0) {
		perror("amped: watching the listener");
		goto cleanup;
	}
	lfd = -1;			/* conn owns it now */
	if (intake && intake() < 0)
		goto cleanup;

	uint64_t next_tick = 0;
	for (;;) {
		/* now_ms: refreshed by ae_poll on each wake-up (ae_on_wake) */
		if ((exiting || amped_stop_requested) && !stop_deadline) {
			amped_stop_requested = 1;	/* the process's other loops */
			conn_stop_accepting();
			conn_drain_idle();
			stop_deadline = now_ms + (uint64_t)cfg.shutdown_timeout_ms;
		}
		if (stop_deadline && ((conn_count() == 0 && blk->busy() == 0) ||
				      now_ms >= stop_deadline))
			break;
		if (now_ms >= next_tick) {
			conn_sweep();
			if (blk->tick)
				blk->tick();
			alog_tick();
			next_tick = now_ms + 100;
		}
		/* srpt: responses still ready after this turn's budget mean
		 * look for events, but do not sleep */
		bool more = cfg.sched == SCHED_SRPT && conn_run_ready();
		if (blk->flush)
			blk->flush();
		/* wake at least every 100 ms for timeouts and the log */
		if (ae_poll(loop, more ? 0 : 100) < 0 && errno != EINTR) {
			fprintf(stderr, "amped: %s: %s\n", ae_poller_name((enum ae_poller)cfg.poller), strerror(errno));
			goto cleanup;
		}
	}
	err = 0;
cleanup:
	if (blk_started) {
		/* what is left of the shutdown budget, at least 100 ms; blocking
		 * work first, so that no job still in service writes into a
		 * connection or entry freed below */
		blk->stop(stop_grace_ns(stop_deadline));
	}
	conn_close_all();
	fc_flush_all();
	if (lfd >= 0)
		close(lfd);
	if (sfd >= 0)
		close(sfd);
	ae_destroy(loop);
	loop = NULL;
	return err;
}
