/* pool — a boss thread accepting connections into a queue for a pool of
 * blocking worker threads (worker.c), in the calling process: MT's shape,
 * and each process of the hybrid model (Apache's worker MPM).
 *
 * Fixed (min_threads == max_threads): the threads start once and live to
 * the stop.  Dynamic: the pool starts with min_threads and the boss keeps
 * the idle workers between min_spare and max_spare as load changes: it
 * starts threads (up to max_threads) while fewer than min_spare are idle
 * and tells idle ones to end while more than max_spare are, a few times a
 * second, as Apache's perform_idle_server_maintenance does for processes. */
#ifndef AMPED_POOL_H
#define AMPED_POOL_H

struct pool_cfg {
	int min_threads, max_threads;
	int min_spare, max_spare;	/* dynamic only */
};

/* Serve lfd (the listener; closed on return) with such a pool until
 * SIGTERM/SIGINT.  The calling thread becomes the boss (amped-boss);
 * workers are amped-work-N.  Returns 0 after a clean stop, 1 on error. */
int pool_run(int lfd, const struct pool_cfg *pc);

/* Caches are per worker thread (no locks on the hot path): split the
 * --cache-entries budget between n threads (at least floor each), so that
 * a process holds about as many fds as the other models; and the fds a
 * process of n threads keeps besides connections. */
void pool_split_cache(int n, int floor);
long pool_fds_reserved(int n);

#endif
