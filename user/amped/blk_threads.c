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
/* One pool per dispatcher thread (--dispatchers): the dispatcher reaches
 * its own through a thread-local pointer, its helper threads through their
 * argument. */
struct tpool {
	pthread_t *threads;
	int n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *q_head, *q_tail;	/* waiting for a thread */
	struct job *done;		/* finished, newest first */
	bool quit;
	int efd;
	int busy;			/* the dispatcher's count of jobs out */
};

struct tpool_helper {
	struct tpool *tp;
	int idx;			/* within the pool */
	int name_no;			/* amped-help-N: across dispatchers */
};

static __thread struct tpool *tp;

static void *tpool_main(void *arg)
{
	struct tpool_helper *h = arg;
	struct tpool *p = h->tp;
	int idx = h->idx;
	char name[16];
	static __thread struct job_run r;	/* a path's worth: not on the stack */

	snprintf(name, sizeof(name), AMPED_COMM_HELP "%d", h->name_no);
	prctl(PR_SET_NAME, name);
	free(h);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->q_head && !p->quit)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->q_head)
			break;
		struct job *j = p->q_head;
		p->q_head = j->next;
		if (!p->q_head)
			p->q_tail = NULL;
		/* Inputs are taken while the lock holds off tpool_stop(): once
		 * it has set quit, the job's connection and file entry may be
		 * freed and the entry's fd closed. */
		job_run_take(j, &r, idx);
		pthread_mutex_unlock(&p->mu);
		job_run_do(&r);
		pthread_mutex_lock(&p->mu);
		if (p->quit) {
			/* abandoned: the dispatcher is gone from this job */
			job_run_drop(&r);
			continue;
		}
		job_run_store(j, &r);
		j->next = p->done;
		p->done = j;
		uint64_t one = 1;
		if (write(p->efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow at our rates */
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void tpool_readable(struct ae_loop *l, int fd, void *data, int mask)
{
	struct tpool *p = data;
	uint64_t n;
	struct job *list;

	if (read(fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&p->mu);
	list = p->done;
	p->done = NULL;
	pthread_mutex_unlock(&p->mu);
	blk_complete_list(list, &p->busy);
}

static int tpool_start(void)
{
	sigset_t all, old;
	struct tpool *p = calloc(1, sizeof(*p));

	if (!p) {
		perror("amped: helper threads");
		return -1;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	tp = p;				/* tpool_stop() frees what exists */
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0 || ae_set(loop, p->efd, AE_READABLE, tpool_readable, p) < 0) {
		perror("amped: helper threads' eventfd");
		return -1;
	}
	p->threads = calloc((size_t)cfg.helpers, sizeof(*p->threads));
	if (!p->threads)
		return -1;
	/* threads never take signals: the dispatcher's signalfd does */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (p->n = 0; p->n < cfg.helpers; p->n++) {
		struct tpool_helper *h = malloc(sizeof(*h));
		if (h) {
			h->tp = p;
			h->idx = p->n;
			h->name_no = disp_index * cfg.helpers + p->n;
		}
		if (!h || pthread_create(&p->threads[p->n], NULL, tpool_main, h) != 0) {
			free(h);
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
	struct tpool *p = tp;

	p->busy++;
	DTRACE_PROBE4(amped, helper_handoff, j->req_id, -1, j->op, 1);
	pthread_mutex_lock(&p->mu);
	if (p->q_tail)
		p->q_tail->next = j;
	else
		p->q_head = j;
	p->q_tail = j;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void tpool_stop(uint64_t deadline_ns)
{
	struct tpool *p = tp;
	bool detached = false;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	/* jobs not started are dropped: their connections are gone already */
	p->q_head = p->q_tail = NULL;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n; i++) {
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
		if (pthread_timedjoin_np(p->threads[i], NULL, &ts) != 0) {
			pthread_detach(p->threads[i]);	/* exit() ends it */
			detached = true;
		}
	}
	free(p->threads);
	p->threads = NULL;
	p->n = 0;
	if (p->efd >= 0) {
		ae_del(loop, p->efd);
		close(p->efd);
		p->efd = -1;
	}
	/* a detached thread still holds p: it lives until exit() */
	if (!detached) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
		free(p);
	}
	tp = NULL;
}

static int tpool_count(void)
{
	return tp ? tp->busy : 0;
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
