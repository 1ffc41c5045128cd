/* model seda — SEDA (Welsh, Culler, Brewer 2001; Haboob and WatPipe in
 * Pariag et al. 2007): the request path cut into stages, each a bounded
 * queue in front of a pool of threads of its own.
 *
 *   acc   1 thread (the one run() is called on): accept what the listen
 *         queue holds (up to 64), queue the batch for http under one lock
 *         with one wake-up per http thread.  Full queue: the connection is
 *         answered 503 at once
 *         (admission control: reject early rather than queue without end).
 *         --max-conns open connections: it stops accepting (backpressure
 *         into the listen backlog), as the other models do.
 *   http  --stage-threads http=N event loops (dispatcher.c fed by
 *         conn_take): read, parse, build the response, send it.  A
 *         connection stays with the http thread that took it: conn.c's state
 *         is per thread, and handing a socket to a separate send stage for
 *         every write would take a lock per event for nothing.
 *
 *         Sending is therefore not a stage of its own (no amped-s-send-N).
 *         Making it one would move each connection between threads twice
 *         a request (http -> send, and back for the next request on a
 *         keep-alive connection), which conn.c does not support: a
 *         connection, its ready queue (--sched) and the per-thread file
 *         cache that holds the body's descriptor all belong to one loop,
 *         unlocked; the body's cache entry would have to stay pinned
 *         across threads, and SRPT would have to order across the send
 *         threads.  What shows the sending instead: `ampstat latency`'s
 *         "sending" phase (the response's first write .. done) per request,
 *         and the http stage's service time, which includes it.
 *   file  --stage-threads file=N threads (default --helpers): translate a
 *         path (open/stat beneath the root) and read pages that are not
 *         resident — the blocking work, as blk.h jobs from the http
 *         threads.  Full queue: the job fails with EAGAIN, which conn.c
 *         answers 503 (a lookup) or sends without warming (a read).
 *
 * --sched srpt orders the ready responses of each http thread: every http
 * thread is an event loop with its own ready queue (conn.c), which is where
 * responses wait to be sent.  A burst the accept stage took in one go
 * reaches an http thread as one intake, so its responses are ready in the
 * same turn; with N http threads a burst is spread over N ready queues and
 * ordered within each, not across them.
 *
 * Queue lengths, rejections and service times: amped_seda
 * (include/amped_models.h), read by tracers like amped_current.  Threads
 * are named amped-s-STAGE-N (include/amped_names.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "ae.h"
#include "alog.h"
#include "amped_models.h"
#include "blk.h"
#include "conn.h"
#include "dispatcher.h"
#include "fcache.h"
#include "model.h"
#include "overload.h"
#include "proc.h"

enum { ST_ACC, ST_HTTP, ST_FILE };
static const char *const stage_names[AMPED_SEDA_STAGES] = {
	AMPED_STAGE_ACCEPT, AMPED_STAGE_HTTP, AMPED_STAGE_FILE,
};
#define SEDA_MAX_THREADS 64

__attribute__((used)) volatile struct amped_seda_stats amped_seda;
static int nthreads[AMPED_SEDA_STAGES];

#define ST_ADD(st, field, v) __atomic_fetch_add(&amped_seda.stage[st].field, (v), __ATOMIC_RELAXED)
#define ST_SET(st, field, v) __atomic_store_n(&amped_seda.stage[st].field, (v), __ATOMIC_RELAXED)

static void stage_name(char *buf, size_t size, int st, int idx)
{
	snprintf(buf, size, AMPED_COMM_STAGE "%s-%d", stage_names[st], idx);
}

/* ---------------- the http stage's queue: accepted sockets ---------------- */

struct accepted {
	int fd;
	struct sockaddr_storage ss;
};
static pthread_mutex_t hq_mu = PTHREAD_MUTEX_INITIALIZER;
static struct accepted *hq;		/* ring of cfg.stage_queue */
static int hq_head, hq_len;
static int http_efd[SEDA_MAX_THREADS];	/* one wake-up per queued socket */
static unsigned http_next;
static __thread int http_idx;
static int http_conns[SEDA_MAX_THREADS];	/* each thread's, as of its last turn */
static __thread uint64_t woke_ns;	/* this http thread's turn began */

/* From the accept stage, a batch of n sockets at once: those that find the
 * queue full are refused 503 (returns how many were queued).  One lock and
 * at most one wake-up per http thread for the batch: a burst accepted in
 * one go reaches an http thread as one intake, so its responses are ready
 * in the same loop turn and --sched srpt orders them (tests/26-sched.t). */
static int hq_push(const struct accepted *a, int n)
{
	uint64_t wake[SEDA_MAX_THREADS] = { 0 };
	int queued = 0, nt = nthreads[ST_HTTP];

	pthread_mutex_lock(&hq_mu);
	for (; queued < n && hq_len < cfg.stage_queue; queued++) {
		hq[(hq_head + hq_len) % cfg.stage_queue] = a[queued];
		hq_len++;
		/* each socket wakes one thread, in turn; whichever wakes takes
		 * the oldest, so no socket waits behind a busy thread's backlog */
		wake[http_next++ % (unsigned)nt]++;
	}
	ST_SET(ST_HTTP, queue_len, (unsigned long long)hq_len);
	pthread_mutex_unlock(&hq_mu);
	ST_ADD(ST_HTTP, enqueued, (unsigned long long)queued);
	for (int t = 0; t < nt; t++)
		if (wake[t] && write(http_efd[t], &wake[t], sizeof(wake[t])) < 0) {
			/* cannot overflow at our rates */
		}
	for (int i = queued; i < n; i++) {
		ST_ADD(ST_HTTP, rejected, 1);
		overload_refuse(a[i].fd, "amped: the http stage's queue is full");
	}
	return queued;
}

static bool hq_pop(struct accepted *a)
{
	bool got = false;

	pthread_mutex_lock(&hq_mu);
	if (hq_len > 0) {
		*a = hq[hq_head];
		hq_head = (hq_head + 1) % cfg.stage_queue;
		hq_len--;
		got = true;
		ST_SET(ST_HTTP, queue_len, (unsigned long long)hq_len);
	}
	pthread_mutex_unlock(&hq_mu);
	return got;
}

/* An http thread's eventfd: take as many sockets as it was woken for. */
static void intake_cb(struct ae_loop *l, int fd, void *data, int mask)
{
	uint64_t n;
	struct accepted a;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	while (n-- > 0 && hq_pop(&a))
		conn_take(a.fd, &a.ss);
}

/* Service time of the http stage: from a wake-up to the next sleep. */
static void http_on_wake(void)
{
	woke_ns = mono_ns();
	clock_refresh();
}

static int http_intake(void)
{
	ae_on_wake(loop, http_on_wake);
	if (ae_set(loop, http_efd[http_idx], AE_READABLE, intake_cb, NULL) < 0) {
		perror("amped: seda http stage's queue");
		return -1;
	}
	return 0;
}

/* ---------------- the file stage: a blk backend for the http threads ---------------- */

struct owner {				/* an http thread, as the file stage sees it */
	int efd;			/* completions waiting: counter */
	struct job *done;		/* finished, newest first (fq_mu) */
	int busy;			/* jobs out (its own thread only) */
	bool stopped;			/* its connections are gone (fq_mu) */
};
struct fitem {
	struct job *j;
	struct owner *o;
};
static struct owner owners[SEDA_MAX_THREADS];
static __thread struct owner *me;
static pthread_mutex_t fq_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fq_cv = PTHREAD_COND_INITIALIZER;
static struct fitem *fq;		/* ring of cfg.stage_queue */
static int fq_head, fq_len;
static bool fq_quit;
static pthread_t file_th[SEDA_MAX_THREADS];
static int file_started;

static void *file_main(void *arg)
{
	int idx = (int)(intptr_t)arg;
	char name[16];
	static __thread struct job_run r;	/* a path's worth: not on the stack */

	stage_name(name, sizeof(name), ST_FILE, idx);
	prctl(PR_SET_NAME, name);
	pthread_mutex_lock(&fq_mu);
	for (;;) {
		while (!fq_len && !fq_quit)
			pthread_cond_wait(&fq_cv, &fq_mu);
		if (fq_quit)
			break;
		struct fitem it = fq[fq_head];
		fq_head = (fq_head + 1) % cfg.stage_queue;
		fq_len--;
		ST_SET(ST_FILE, queue_len, (unsigned long long)fq_len);
		/* inputs are taken under the lock: once the owner has stopped,
		 * the job's connection and entry may be freed */
		struct job *j = it.j;
		job_run_take(j, &r, idx);
		pthread_mutex_unlock(&fq_mu);
		uint64_t t0 = mono_ns();
		job_run_do(&r);
		ST_ADD(ST_FILE, busy_ns, mono_ns() - t0);
		ST_ADD(ST_FILE, items, 1);
		pthread_mutex_lock(&fq_mu);
		if (fq_quit || it.o->stopped) {
			job_run_drop(&r);
			continue;
		}
		job_run_store(j, &r);
		j->next = it.o->done;
		it.o->done = j;
		uint64_t one = 1;
		if (write(it.o->efd, &one, sizeof(one)) < 0) {
			/* cannot overflow at our rates */
		}
	}
	pthread_mutex_unlock(&fq_mu);
	return NULL;
}

static void file_done_cb(struct ae_loop *l, int fd, void *data, int mask)
{
	uint64_t n;
	struct job *list;

	if (read(fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&fq_mu);
	list = me->done;
	me->done = NULL;
	pthread_mutex_unlock(&fq_mu);
	blk_complete_list(list, &me->busy);
}

static int file_start(void)
{
	me = &owners[http_idx];
	me->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (me->efd < 0 || ae_set(loop, me->efd, AE_READABLE, file_done_cb, NULL) < 0) {
		perror("amped: seda file stage's completions");
		return -1;
	}
	return 0;
}

static void file_submit(struct job *j)
{
	pthread_mutex_lock(&fq_mu);
	if (fq_len == cfg.stage_queue || fq_quit) {
		pthread_mutex_unlock(&fq_mu);
		ST_ADD(ST_FILE, rejected, 1);
		blk_complete(j, EAGAIN);	/* overload: 503, or send unwarmed */
		return;
	}
	fq[(fq_head + fq_len) % cfg.stage_queue] = (struct fitem){ j, me };
	fq_len++;
	ST_SET(ST_FILE, queue_len, (unsigned long long)fq_len);
	me->busy++;
	pthread_cond_signal(&fq_cv);
	pthread_mutex_unlock(&fq_mu);
	ST_ADD(ST_FILE, enqueued, 1);
}

/* Before the http thread sleeps: the end of its turn's service. */
static void file_flush(void)
{
	__atomic_store_n(&http_conns[http_idx], conn_count(), __ATOMIC_RELAXED);
	if (woke_ns) {
		ST_ADD(ST_HTTP, busy_ns, mono_ns() - woke_ns);
		ST_ADD(ST_HTTP, items, 1);
		woke_ns = 0;
	}
}

static int file_busy(void)
{
	return me ? me->busy : 0;
}

/* An http thread stops: its queued jobs are dropped, those in service
 * discarded when they finish (the threads check stopped under the lock). */
static void file_stop(uint64_t deadline_ns)
{
	(void)deadline_ns;
	if (!me)
		return;
	pthread_mutex_lock(&fq_mu);
	me->stopped = true;
	int kept = 0;
	for (int i = 0; i < fq_len; i++) {
		struct fitem it = fq[(fq_head + i) % cfg.stage_queue];
		if (it.o != me)
			fq[(fq_head + kept++) % cfg.stage_queue] = it;
	}
	fq_len = kept;
	pthread_mutex_unlock(&fq_mu);
	me->busy = 0;
	if (me->efd >= 0) {
		ae_del(loop, me->efd);
		close(me->efd);
		me->efd = -1;
	}
}

static const struct blk_ops blk_stage = {
	.name = "seda file stage",
	.start = file_start,
	.submit = file_submit,
	.flush = file_flush,
	.busy = file_busy,
	.stop = file_stop,
	.rf_open = AMPED_RF_HELPER_OPEN,
	.rf_read = AMPED_RF_HELPER_READ,
};

/* ---------------- threads and the accept stage ---------------- */

static void *http_main(void *arg)
{
	char name[16];

	http_idx = (int)(intptr_t)arg;
	stage_name(name, sizeof(name), ST_HTTP, http_idx);
	return (void *)(intptr_t)run_dispatcher_fed(name, http_intake, &blk_stage);
}

static void file_pool_stop(void)
{
	struct timespec ts;

	pthread_mutex_lock(&fq_mu);
	fq_quit = true;
	fq_len = 0;
	pthread_cond_broadcast(&fq_cv);
	pthread_mutex_unlock(&fq_mu);
	/* a thread in a slow read finishes it, then sees quit; at most 2 s */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	for (int i = 0; i < file_started; i++)
		if (pthread_timedjoin_np(file_th[i], NULL, &ts) != 0)
			pthread_detach(file_th[i]);	/* exit() ends it */
}

/* Connections held by the http stage or queued for it. */
static int seda_conns(void)
{
	int n;

	pthread_mutex_lock(&hq_mu);
	n = hq_len;
	pthread_mutex_unlock(&hq_mu);
	for (int i = 0; i < nthreads[ST_HTTP]; i++)
		n += __atomic_load_n(&http_conns[i], __ATOMIC_RELAXED);
	return n;
}

#define ACCEPT_BATCH 64
static void accept_some(int lfd)
{
	uint64_t t0 = mono_ns();
	struct accepted a[ACCEPT_BATCH];
	int n = 0, room = cfg.max_conns - seda_conns();

	while (n < ACCEPT_BATCH && n < room) {
		socklen_t sl = sizeof(a[n].ss);

		a[n].fd = accept4(lfd, (struct sockaddr *)&a[n].ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (a[n].fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				usleep(100000);
			break;
		}
		n++;
	}
	ST_ADD(ST_ACC, items, (unsigned long long)n);
	if (n)
		hq_push(a, n);
	ST_ADD(ST_ACC, busy_ns, mono_ns() - t0);
}

static int seda_run(int lfd)
{
	pthread_t http_th[SEDA_MAX_THREADS];
	int http_started = 0, status = 0;
	sigset_t mask;
	char name[16];

	stage_name(name, sizeof(name), ST_ACC, 0);
	prctl(PR_SET_NAME, name);
	/* the http threads' signalfds take SIGTERM/SIGINT: nobody else may */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	alog_threaded();
	clock_refresh();
	for (int s = 0; s < AMPED_SEDA_STAGES; s++) {
		snprintf((char *)amped_seda.stage[s].name, sizeof(amped_seda.stage[s].name), "%s", stage_names[s]);
		amped_seda.stage[s].threads = (unsigned long long)nthreads[s];
		amped_seda.stage[s].queue_cap = s == ST_ACC ? 0 : (unsigned long long)cfg.stage_queue;
	}
	hq = calloc((size_t)cfg.stage_queue, sizeof(*hq));
	fq = calloc((size_t)cfg.stage_queue, sizeof(*fq));
	if (!hq || !fq) {
		perror("amped: seda queues");
		status = 1;
		goto cleanup;
	}
	for (int i = 0; i < nthreads[ST_HTTP]; i++) {
		owners[i].efd = -1;
		http_efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (http_efd[i] < 0) {
			perror("amped: seda http stage's eventfd");
			status = 1;
			goto cleanup;
		}
	}
	for (; file_started < nthreads[ST_FILE]; file_started++)
		if (pthread_create(&file_th[file_started], NULL, file_main,
				   (void *)(intptr_t)file_started) != 0) {
			perror("amped: starting a file stage thread");
			status = 1;
			goto cleanup;
		}
	for (; http_started < nthreads[ST_HTTP]; http_started++)
		if (pthread_create(&http_th[http_started], NULL, http_main,
				   (void *)(intptr_t)http_started) != 0) {
			perror("amped: starting an http stage thread");
			status = 1;
			goto cleanup;
		}

	/* the accept stage: wakes every 100 ms to see the stop, which an
	 * http thread's signalfd receives and passes on */
	while (!amped_stop_requested) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		if (seda_conns() >= cfg.max_conns) {
			/* --max-conns: backpressure, as every model does: the
			 * rest wait in the listen backlog (a full queue is a
			 * different matter: 503) */
			usleep(1000);
			clock_refresh();
			continue;
		}
		if (poll(&p, 1, 100) > 0)
			accept_some(lfd);
		clock_refresh();
		alog_tick();
	}

cleanup:
	amped_stop_requested = 1;
	close(lfd);
	for (int i = 0; i < http_started; i++) {
		void *rc = NULL;
		pthread_join(http_th[i], &rc);
		if (rc)
			status = 1;
	}
	if (hq) {			/* sockets no http thread took */
		struct accepted a;
		while (hq_pop(&a))
			close(a.fd);
	}
	file_pool_stop();
	for (int i = 0; i < nthreads[ST_HTTP]; i++)
		if (http_efd[i] > 0)
			close(http_efd[i]);
	return status;
}

/* --stage-threads acc=N,http=N,file=N (any subset; acc is always 1). */
static int seda_configure(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	const char *p = cfg.stage_threads;

	nthreads[ST_ACC] = 1;
	nthreads[ST_HTTP] = ncpu > 0 ? (int)(ncpu < SEDA_MAX_THREADS ? ncpu : SEDA_MAX_THREADS) : 2;
	nthreads[ST_FILE] = cfg.helpers < SEDA_MAX_THREADS ? cfg.helpers : SEDA_MAX_THREADS;
	while (p && *p) {
		int st = -1, n, used = 0;
		for (int s = 0; s < AMPED_SEDA_STAGES; s++) {
			size_t l = strlen(stage_names[s]);
			if (!strncmp(p, stage_names[s], l) && p[l] == '=') {
				st = s;
				p += l + 1;
				break;
			}
		}
		if (st < 0 || sscanf(p, "%d%n", &n, &used) != 1 || n < 1 || n > SEDA_MAX_THREADS ||
		    (st == ST_ACC && n != 1) || (p[used] && p[used] != ',')) {
			fprintf(stderr, "amped: --stage-threads %s: want e.g. http=2,file=8 "
				"(acc=1 only; 1 to %d threads)\n", cfg.stage_threads, SEDA_MAX_THREADS);
			return -1;
		}
		nthreads[st] = n;
		p += used + (p[used] == ',');
	}
	/* caches are per http thread: split the budget as mt does */
	int per = cfg.cache_entries / nthreads[ST_HTTP];
	cfg.cache_entries = per < 16 ? 16 : per;
	return 0;
}

static long seda_fds_reserved(void)
{
	return (long)cfg.cache_entries * nthreads[ST_HTTP] + 2L * nthreads[ST_HTTP] + 64;
}

static void seda_describe(char *buf, size_t size)
{
	snprintf(buf, size, "model seda, stages acc=1 http=%d file=%d, queue %d, sched %s",
		 nthreads[ST_HTTP], nthreads[ST_FILE], cfg.stage_queue, sched_name());
}

const struct model model_seda = {
	.name = "seda",
	.help = "stages, each a bounded queue and a thread pool:\n"
		"accept -> http (read, parse, send) -> file\n"
		"(open/stat, disk reads) (SEDA)",
	.event_driven = true,
	.polls = true,
	.configure = seda_configure,
	.fds_reserved = seda_fds_reserved,
	.describe = seda_describe,
	.run = seda_run,
};
