/* dispatcher — the event loop's outer turn and its graceful stop. */
#include <errno.h>
#include <stdio.h>
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

static int dispatch(const char *name, int lfd, int (*intake)(void), const struct blk_ops *blk);

int run_dispatcher(int lfd, const struct blk_ops *blk)
{
	return dispatch(AMPED_COMM_DISP, lfd, NULL, blk);
}

int run_dispatcher_fed(const char *name, int (*intake)(void), const struct blk_ops *blk)
{
	return dispatch(name, -1, intake, blk);
}

static int dispatch(const char *name, int lfd, int (*intake)(void), const struct blk_ops *blk)
{
	int err = 1, sfd = -1;
	uint64_t stop_deadline = 0;
	bool blk_started = false;

	prctl(PR_SET_NAME, name);
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
