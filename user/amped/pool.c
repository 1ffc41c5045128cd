/* pool — see pool.h.  The queue and the counts live under one mutex; the
 * boss is the only one who starts threads or asks them to end. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "alog.h"
#include "pool.h"
#include "proc.h"
#include "worker.h"

struct pool_item {
	int fd;
	struct sockaddr_storage ss;
};

struct slot {				/* a worker's index: its name, its thread */
	pthread_t th;
	bool used;			/* running (or ending, not yet reaped) */
	bool ended;			/* returned: joinable */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct pool_item *q;		/* ring of accepted connections */
static int qcap, qhead, qlen;
static bool quit;
static int idle;			/* workers waiting for a connection */
static int active;			/* queued + being served (<= max_conns) */
static int live;			/* workers running */
static int retire;			/* idle workers asked to end */
static struct slot *slots;
static int nslots;

static void *pool_worker(void *arg)
{
	int idx = (int)(intptr_t)arg;

	worker_start(idx, true);
	pthread_mutex_lock(&mu);
	for (;;) {
		idle++;
		while (qlen == 0 && !quit && retire == 0)
			pthread_cond_wait(&cv, &mu);
		idle--;
		if (qlen == 0 && (quit || retire > 0)) {
			if (retire > 0)
				retire--;
			break;
		}
		struct pool_item it = q[qhead];
		qhead = (qhead + 1) % qcap;
		qlen--;
		pthread_mutex_unlock(&mu);
		worker_serve(it.fd, &it.ss);
		pthread_mutex_lock(&mu);
		active--;
	}
	live--;
	slots[idx].ended = true;
	pthread_mutex_unlock(&mu);
	worker_end();
	return NULL;
}

/* Under mu: start a worker in a free slot.  0 ok, -1 none free or error. */
static int start_worker(void)
{
	for (int i = 0; i < nslots; i++) {
		if (slots[i].used)
			continue;
		slots[i].used = true;
		slots[i].ended = false;
		if (pthread_create(&slots[i].th, NULL, pool_worker, (void *)(intptr_t)i) != 0) {
			slots[i].used = false;
			return -1;
		}
		live++;
		return 0;
	}
	return -1;
}

/* Under mu: join the workers that ended, so their slots (names) come back. */
static void reap(void)
{
	for (int i = 0; i < nslots; i++)
		if (slots[i].used && slots[i].ended) {
			pthread_join(slots[i].th, NULL);
			slots[i].used = false;
		}
}

/* Under mu: keep the idle workers between min_spare and max_spare. */
static void maintain(const struct pool_cfg *pc)
{
	reap();
	if (pc->min_threads == pc->max_threads)
		return;
	int spare = idle - qlen - retire;
	if (spare < pc->min_spare) {
		int want = pc->min_spare - spare;
		while (want-- > 0 && live < pc->max_threads && start_worker() == 0)
			;
	} else if (spare > pc->max_spare && live > pc->min_threads) {
		/* one at a time: a burst that just ended may come back */
		retire++;
		pthread_cond_broadcast(&cv);
	}
}

int pool_run(int lfd, const struct pool_cfg *pc)
{
	int status = 0;
	uint64_t next_maint = 0;

	prctl(PR_SET_NAME, AMPED_COMM_BOSS);
	proc_stop_handlers();
	alog_threaded();
	qcap = cfg.max_conns;
	q = calloc((size_t)qcap, sizeof(*q));
	nslots = pc->max_threads;
	slots = calloc((size_t)nslots, sizeof(*slots));
	if (!q || !slots) {
		perror("amped: worker pool");
		status = 1;
		goto cleanup;
	}
	pthread_mutex_lock(&mu);
	for (int i = 0; i < pc->min_threads; i++)
		if (start_worker() < 0) {
			pthread_mutex_unlock(&mu);
			perror("amped: starting worker thread");
			status = 1;
			goto cleanup;
		}
	pthread_mutex_unlock(&mu);
	loop = NULL;
	clock_refresh();
	/* The boss waits in poll() so that it sees the stop flag within
	 * 100 ms whichever thread the signal was delivered to. */
	while (!amped_stop_requested) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int full;

		clock_refresh();
		pthread_mutex_lock(&mu);
		full = active >= qcap;
		if (now_ms >= next_maint) {
			maintain(pc);
			next_maint = now_ms + 100;
		}
		pthread_mutex_unlock(&mu);
		alog_tick();
		if (full) {
			usleep(1000);	/* excess clients wait in the backlog */
			continue;
		}
		if (poll(&p, 1, 100) <= 0)
			continue;
		/* --max-conns bounds connections queued plus in service;
		 * the boss only accepts while there is room, so no accepted
		 * connection is ever dropped. */
		for (int k = 0; k < 64; k++) {
			struct pool_item it;
			socklen_t sl = sizeof(it.ss);

			pthread_mutex_lock(&mu);
			full = active >= qcap;
			pthread_mutex_unlock(&mu);
			if (full)
				break;
			it.fd = accept4(lfd, (struct sockaddr *)&it.ss, &sl, SOCK_CLOEXEC);
			if (it.fd < 0) {
				if (errno == EMFILE || errno == ENFILE)
					usleep(100000);
				break;
			}
			pthread_mutex_lock(&mu);
			q[(qhead + qlen) % qcap] = it;
			qlen++;
			active++;
			pthread_cond_signal(&cv);
			/* a burst: grow now rather than at the next tick */
			if (idle <= qlen)
				maintain(pc);
			pthread_mutex_unlock(&mu);
		}
	}

cleanup:
	/* Stop: workers finish the connection they serve (keep-alive off),
	 * queued ones are still served; SIGUSR1 breaks blocking reads on idle
	 * keep-alive connections.  At the deadline whatever is left ends with
	 * the process. */
	amped_stop_requested = 1;
	close(lfd);
	pthread_mutex_lock(&mu);
	quit = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	uint64_t deadline = mono_ns() + (uint64_t)cfg.shutdown_timeout_ms * 1000000ull;
	for (;;) {
		pthread_mutex_lock(&mu);
		reap();
		int left = live;
		for (int i = 0; i < nslots; i++)
			if (slots && slots[i].used && !slots[i].ended)
				pthread_kill(slots[i].th, SIGUSR1);
		pthread_mutex_unlock(&mu);
		if (left == 0 || mono_ns() >= deadline)
			break;		/* threads still busy end with exit() */
		usleep(10000);
	}
	return status;
}

void pool_split_cache(int n, int floor)
{
	int per = cfg.cache_entries / n;
	cfg.cache_entries = per < floor ? floor : per;
}

long pool_fds_reserved(int n)
{
	return (long)cfg.cache_entries * n + 64;
}
