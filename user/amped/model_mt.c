/* model mt — a boss thread accepts and queues connections; N worker
 * threads each serve one at a time with blocking I/O.  Caches per thread
 * (no locks on the hot path), the --cache-entries budget split between
 * them. */
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
#include "model.h"
#include "proc.h"
#include "worker.h"

struct mt_item {
	int fd;
	struct sockaddr_storage ss;
};

static pthread_mutex_t mt_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mt_cv = PTHREAD_COND_INITIALIZER;
static struct mt_item *mt_q;		/* ring of accepted connections */
static int mt_cap, mt_head, mt_len;
static bool mt_quit;
static int mt_idle;			/* workers waiting for a connection */
static int mt_active;			/* queued + being served (<= max_conns) */

static void *mt_worker(void *arg)
{
	int idx = (int)(intptr_t)arg;

	worker_start(idx, true);
	pthread_mutex_lock(&mt_mu);
	for (;;) {
		mt_idle++;
		while (mt_len == 0 && !mt_quit)
			pthread_cond_wait(&mt_cv, &mt_mu);
		mt_idle--;
		if (mt_len == 0)
			break;
		struct mt_item it = mt_q[mt_head];
		mt_head = (mt_head + 1) % mt_cap;
		mt_len--;
		pthread_mutex_unlock(&mt_mu);
		worker_serve(it.fd, &it.ss);
		pthread_mutex_lock(&mt_mu);
		mt_active--;
	}
	pthread_mutex_unlock(&mt_mu);
	worker_end();
	return NULL;
}

static int mt_run(int lfd)
{
	pthread_t *th;
	int n = cfg.workers, started = 0, status = 0;

	prctl(PR_SET_NAME, AMPED_COMM_BOSS);
	proc_stop_handlers();
	alog_threaded();
	mt_cap = cfg.max_conns;
	mt_q = calloc((size_t)mt_cap, sizeof(*mt_q));
	th = calloc((size_t)n, sizeof(*th));
	if (!mt_q || !th) {
		perror("amped: mt");
		status = 1;
		goto cleanup;
	}
	for (; started < n; started++) {
		if (pthread_create(&th[started], NULL, mt_worker, (void *)(intptr_t)started) != 0) {
			perror("amped: starting worker thread");
			status = 1;
			goto cleanup;
		}
	}
	loop = NULL;
	clock_refresh();
	/* The boss waits in poll() so that it sees the stop flag within
	 * 100 ms whichever thread the signal was delivered to. */
	while (!amped_stop_requested) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int full;

		pthread_mutex_lock(&mt_mu);
		full = mt_active >= mt_cap;
		pthread_mutex_unlock(&mt_mu);
		clock_refresh();
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
			struct mt_item it;
			socklen_t sl = sizeof(it.ss);

			pthread_mutex_lock(&mt_mu);
			full = mt_active >= mt_cap;
			pthread_mutex_unlock(&mt_mu);
			if (full)
				break;
			it.fd = accept4(lfd, (struct sockaddr *)&it.ss, &sl, SOCK_CLOEXEC);
			if (it.fd < 0) {
				if (errno == EMFILE || errno == ENFILE)
					usleep(100000);
				break;
			}
			pthread_mutex_lock(&mt_mu);
			mt_q[(mt_head + mt_len) % mt_cap] = it;
			mt_len++;
			mt_active++;
			pthread_cond_signal(&mt_cv);
			pthread_mutex_unlock(&mt_mu);
		}
	}
	close(lfd);
	lfd = -1;

cleanup:
	/* Stop: workers finish the connection they serve (keep-alive off),
	 * queued ones are still served; SIGUSR1 breaks blocking reads on idle
	 * keep-alive connections.  At the deadline whatever is left ends with
	 * the process. */
	amped_stop_requested = 1;
	pthread_mutex_lock(&mt_mu);
	mt_quit = true;
	pthread_cond_broadcast(&mt_cv);
	pthread_mutex_unlock(&mt_mu);
	{
		uint64_t deadline = mono_ns() + (uint64_t)cfg.shutdown_timeout_ms * 1000000ull;
		int joined = 0;
		bool *done = calloc((size_t)(started ? started : 1), sizeof(*done));
		while (done && joined < started && mono_ns() < deadline) {
			for (int i = 0; i < started; i++) {
				if (done[i])
					continue;
				if (pthread_tryjoin_np(th[i], NULL) == 0) {
					done[i] = true;
					joined++;
				} else {
					pthread_kill(th[i], SIGUSR1);
				}
			}
			usleep(10000);
		}
		free(done);	/* threads still busy end with exit() */
	}
	if (lfd >= 0)
		close(lfd);
	free(th);
	return status;
}

/* One cache per worker thread: the --cache-entries budget is split between
 * them so that the process holds about as many fds as the other models. */
static int mt_configure(void)
{
	int per = cfg.cache_entries / cfg.workers;
	cfg.cache_entries = per < 16 ? 16 : per;
	return 0;
}

static long mt_fds_reserved(void)
{
	return (long)cfg.cache_entries * cfg.workers + 64;
}

static void mt_describe(char *buf, size_t size)
{
	snprintf(buf, size, "model mt, %d workers", cfg.workers);
}

const struct model model_mt = {
	.name = "mt",
	.help = "a boss thread accepting for N worker threads",
	.event_driven = false,
	.configure = mt_configure,
	.fds_reserved = mt_fds_reserved,
	.describe = mt_describe,
	.run = mt_run,
};
