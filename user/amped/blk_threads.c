/* blk_threads — blocking work in helper threads (AMTED).
 *
 * The same jobs as blk_procs.c, run by a pool of threads in the dispatcher's process.  A
 * mutex-protected FIFO feeds them; finished jobs go on a second list and an
 * eventfd, watched by the dispatcher's loop, says so.  Only the dispatcher
 * touches connections and caches: a thread reads the job's inputs (the
 * entry's key or fd, fixed while the job runs) and writes its results. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>
#include "ae.h"
#include "blk.h"
#include "fcache.h"
#include "proc.h"
static pthread_t *tpool;
static int tpool_n;
static pthread_mutex_t tpool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tpool_cv = PTHREAD_COND_INITIALIZER;
static struct job *tq_head, *tq_tail;	/* waiting for a thread */
static struct job *tdone;		/* finished, newest first */
static bool tpool_quit;
static int tpool_efd = -1;
static int tpool_busy;			/* the dispatcher's count of jobs out */

static void *tpool_main(void *arg)
{
	int idx = (int)(intptr_t)arg;
	char name[16];
	static __thread struct job_run r;	/* a path's worth: not on the stack */

	snprintf(name, sizeof(name), AMPED_COMM_HELP "%d", idx);
	prctl(PR_SET_NAME, name);
	pthread_mutex_lock(&tpool_mu);
	for (;;) {
		while (!tq_head && !tpool_quit)
			pthread_cond_wait(&tpool_cv, &tpool_mu);
		if (!tq_head)
			break;
		struct job *j = tq_head;
		tq_head = j->next;
		if (!tq_head)
			tq_tail = NULL;
		/* Inputs are taken while the lock holds off tpool_stop(): once
		 * it has set tpool_quit, the job's connection and file entry
		 * may be freed and the entry's fd closed. */
		job_run_take(j, &r, idx);
		pthread_mutex_unlock(&tpool_mu);
		job_run_do(&r);
		pthread_mutex_lock(&tpool_mu);
		if (tpool_quit) {
			/* abandoned: the dispatcher is gone from this job */
			job_run_drop(&r);
			continue;
		}
		job_run_store(j, &r);
		j->next = tdone;
		tdone = j;
		uint64_t one = 1;
		if (write(tpool_efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow at our rates */
		}
	}
	pthread_mutex_unlock(&tpool_mu);
	return NULL;
}

static void tpool_readable(struct ae_loop *l, int fd, void *data, int mask)
{
	uint64_t n;
	struct job *list;

	if (read(fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&tpool_mu);
	list = tdone;
	tdone = NULL;
	pthread_mutex_unlock(&tpool_mu);
	blk_complete_list(list, &tpool_busy);
}

static int tpool_start(void)
{
	sigset_t all, old;

	tpool_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (tpool_efd < 0 || ae_set(loop, tpool_efd, AE_READABLE, tpool_readable, NULL) < 0) {
		perror("amped: helper threads' eventfd");
		return -1;
	}
	tpool = calloc((size_t)cfg.helpers, sizeof(*tpool));
	if (!tpool)
		return -1;
	/* threads never take signals: the dispatcher's signalfd does */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (tpool_n = 0; tpool_n < cfg.helpers; tpool_n++) {
		if (pthread_create(&tpool[tpool_n], NULL, tpool_main, (void *)(intptr_t)tpool_n) != 0) {
			perror("amped: starting helper thread");
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			return -1;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

static void tpool_submit(struct job *j)
{
	tpool_busy++;
	DTRACE_PROBE4(amped, helper_handoff, j->req_id, -1, j->op, 1);
	pthread_mutex_lock(&tpool_mu);
	if (tq_tail)
		tq_tail->next = j;
	else
		tq_head = j;
	tq_tail = j;
	pthread_cond_signal(&tpool_cv);
	pthread_mutex_unlock(&tpool_mu);
}

static void tpool_stop(uint64_t deadline_ns)
{
	pthread_mutex_lock(&tpool_mu);
	tpool_quit = true;
	/* jobs not started are dropped: their connections are gone already */
	tq_head = tq_tail = NULL;
	pthread_cond_broadcast(&tpool_cv);
	pthread_mutex_unlock(&tpool_mu);
	for (int i = 0; i < tpool_n; i++) {
		/* a thread in a slow read finishes that read, then sees quit */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t left = deadline_ns > mono_ns() ? deadline_ns - mono_ns() : 0;
		ts.tv_sec += (time_t)(left / 1000000000u);
		ts.tv_nsec += (long)(left % 1000000000u);
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_timedjoin_np(tpool[i], NULL, &ts) != 0)
			pthread_detach(tpool[i]);	/* exit() ends it */
	}
	free(tpool);
	tpool = NULL;
	tpool_n = 0;
	if (tpool_efd >= 0) {
		ae_del(loop, tpool_efd);
		close(tpool_efd);
		tpool_efd = -1;
	}
}

static int tpool_count(void)
{
	return tpool_busy;
}

const struct blk_ops blk_threads = {
	.name = "helper threads",
	.start = tpool_start,
	.submit = tpool_submit,
	.busy = tpool_count,
	.stop = tpool_stop,
	.rf_open = AMPED_RF_HELPER_OPEN,
	.rf_read = AMPED_RF_HELPER_READ,
};
