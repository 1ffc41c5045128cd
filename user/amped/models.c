/* models — the concurrency models made of several processes or threads.
 *
 * symped: N processes, each a complete SPED dispatcher (run_dispatcher) with
 *         its own caches, on one port: a listening socket each with
 *         SO_REUSEPORT (the kernel spreads connections), or one socket
 *         inherited by all (they race in epoll for each connection).
 * mp:     N pre-forked processes; each accepts one connection at a time and
 *         serves it to the end with blocking I/O (Flash-MP, Apache 1.3).
 *         Caches per process.
 * mt:     a boss thread accepts and queues connections; N worker threads
 *         each serve one at a time with blocking I/O.  Caches per thread.
 *
 * The parent of symped and mp (named amped-main) only supervises: it
 * replaces a child that dies, and on SIGTERM/SIGINT passes the signal on,
 * waits up to the shutdown timeout, then kills stragglers (its own children,
 * by pid).  Workers notice the stop through amped_stop_requested, set by a
 * handler installed without SA_RESTART so a blocked accept() or read()
 * returns EINTR. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "amped.h"

static void on_stop(int sig)
{
	(void)sig;
	amped_stop_requested = 1;
}

static void on_wake(int sig)
{
	(void)sig;			/* only interrupts a blocking call */
}

static void install_stop_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;	/* no SA_RESTART: blocked calls return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_wake;
	sigaction(SIGUSR1, &sa, NULL);
}

/* ---------------- a blocking worker's life (mp process, mt thread) ---------------- */

static void worker_setup(int idx, bool thread)
{
	char name[16];

	snprintf(name, sizeof(name), AMPED_COMM_WORK "%d", idx);
	prctl(PR_SET_NAME, name);
	conn_worker_init(idx + 1, thread);
	loop = ae_create(1);		/* nothing is registered; the conn code wants one */
	clock_refresh();
	fc_init();
}

static void worker_teardown(void)
{
	fc_flush_all();
	ae_destroy(loop);
	loop = NULL;
}

/* ---------------- supervisor of processes (symped, mp) ---------------- */

static pid_t *kids;
static int nkids;

typedef int (*child_fn)(int idx, int lfd);

static pid_t spawn_child(int idx, child_fn fn, int lfd)
{
	pid_t pid = fork();
	if (pid == 0) {
		int rc = fn(idx, lfd);
		alog_close();		/* flush this process's lines */
		_exit(rc);
	}
	return pid;
}

static int live_kids(void)
{
	int n = 0;
	for (int i = 0; i < nkids; i++)
		n += kids[i] > 0;
	return n;
}

/* Run n children; replace any that dies before the stop; on stop, pass
 * SIGTERM on and wait.  first_lfd is handed to child 0 at its first start
 * (symped reuseport), lfd to every start otherwise.  Exit status 0 if every
 * child exited 0. */
static int supervise(int n, child_fn fn, int lfd, int first_lfd, bool keep_lfd)
{
	int status = 0;

	kids = calloc((size_t)n, sizeof(*kids));
	if (!kids)
		return 1;
	nkids = n;
	install_stop_handlers();
	for (int i = 0; i < n; i++) {
		kids[i] = spawn_child(i, fn, i == 0 && first_lfd >= 0 ? first_lfd : lfd);
		if (kids[i] < 0) {
			perror("amped: fork");
			amped_stop_requested = 1;
			status = 1;
			break;
		}
	}
	if (first_lfd >= 0)
		close(first_lfd);	/* child 0 has it; we must not hold a queue */
	if (!keep_lfd && lfd >= 0)
		close(lfd);
	prctl(PR_SET_NAME, AMPED_COMM_MAIN);

	uint64_t last_spawn_ns = 0;
	while (!amped_stop_requested) {
		int st;
		pid_t pid = waitpid(-1, &st, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;		/* ECHILD: nobody left */
		}
		for (int i = 0; i < nkids; i++) {
			if (kids[i] != pid)
				continue;
			kids[i] = 0;
			if (amped_stop_requested)
				break;
			fprintf(stderr, "amped: %s process %d (pid %d) ended (status %d); starting another\n",
				model_name(cfg.model), i, (int)pid, st);
			/* a child that dies at once would make us spin */
			if (mono_ns() - last_spawn_ns < 100000000ull)
				usleep(100000);
			last_spawn_ns = mono_ns();
			kids[i] = spawn_child(i, fn, lfd);
			if (kids[i] < 0)
				kids[i] = 0;
		}
	}

	/* Stop: tell every child, wait, repeat the signal (one that arrived
	 * just before a child blocked in accept() would be missed), give up
	 * at the deadline. */
	uint64_t deadline = mono_ns() + (uint64_t)(cfg.shutdown_timeout_ms + 1000) * 1000000ull;
	uint64_t next_signal = 0;
	while (live_kids() > 0) {
		uint64_t now = mono_ns();
		if (now >= deadline) {
			for (int i = 0; i < nkids; i++) {
				if (kids[i] > 0) {
					kill(kids[i], SIGKILL);	/* our own child, by pid */
					waitpid(kids[i], NULL, 0);
					kids[i] = 0;
					status = 1;
				}
			}
			break;
		}
		if (now >= next_signal) {
			for (int i = 0; i < nkids; i++)
				if (kids[i] > 0)
					kill(kids[i], SIGTERM);
			next_signal = now + 200000000ull;
		}
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0) {
			usleep(5000);
			continue;
		}
		for (int i = 0; i < nkids; i++) {
			if (kids[i] == pid) {
				kids[i] = 0;
				if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
					status = 1;
			}
		}
	}
	if (keep_lfd && lfd >= 0)
		close(lfd);
	free(kids);
	kids = NULL;
	return status;
}

/* ---------------- symped ---------------- */

static int symped_child(int idx, int lfd)
{
	if (lfd < 0) {
		/* reuseport: a socket of our own on the same port */
		char url[128];
		lfd = make_listener(url, sizeof(url));
		if (lfd < 0)
			return 1;
	}
	(void)idx;
	return run_dispatcher(lfd);
}

int run_symped(int lfd, const char *url)
{
	(void)url;
	if (cfg.symped_listen == SYMPED_SHARED)
		return supervise(cfg.workers, symped_child, lfd, -1, true);
	/* reuseport: child 0 inherits the socket that fixed the port; the
	 * others, and any replacement, open their own */
	return supervise(cfg.workers, symped_child, -1, lfd, false);
}

/* ---------------- mp ---------------- */

static int mp_child(int idx, int lfd)
{
	worker_setup(idx, false);
	while (!amped_stop_requested) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		/* Blocking accept on a shared socket wakes one process. */
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0) {
			clock_refresh();
			alog_tick();
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				usleep(100000);
			continue;	/* EINTR (stop?), ECONNABORTED */
		}
		conn_serve_blocking(fd, &ss);
		alog_tick();
	}
	close(lfd);
	worker_teardown();
	return 0;
}

int run_mp(int lfd)
{
	/* Workers block in accept(): the socket (one open file, shared by
	 * every process) must be blocking. */
	int fl = fcntl(lfd, F_GETFL);
	/* an idle worker wakes from accept() twice a second to flush its
	 * access log lines (SO_RCVTIMEO applies to accept) */
	struct timeval tv = { 0, 500000 };
	if (fl < 0 || fcntl(lfd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
	    (cfg.access_log && setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)) {
		perror("amped: listener");
		close(lfd);
		return 1;
	}
	return supervise(cfg.workers, mp_child, lfd, -1, true);
}

/* ---------------- mt ---------------- */

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

	worker_setup(idx, true);
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
		conn_serve_blocking(it.fd, &it.ss);
		pthread_mutex_lock(&mt_mu);
		mt_active--;
	}
	pthread_mutex_unlock(&mt_mu);
	worker_teardown();
	return NULL;
}

int run_mt(int lfd)
{
	pthread_t *th;
	int n = cfg.workers, started = 0, status = 0;

	prctl(PR_SET_NAME, AMPED_COMM_BOSS);
	install_stop_handlers();
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
