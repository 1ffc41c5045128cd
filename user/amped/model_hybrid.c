/* model hybrid — Apache's worker MPM, MP and MT combined: --workers
 * processes (under a supervising amped-main), each a listener thread
 * (amped-boss) accepting into a queue for its own pool of blocking worker
 * threads (amped-work-N, pool.c).  The pool is dynamic: it starts with
 * --min-spare threads, grows while fewer than --min-spare are idle (up to
 * --threads) and shrinks while more than --max-spare are, as load comes and
 * goes.  Caches per thread, as in mt. */
#include <stdio.h>
#include "model.h"
#include "pool.h"
#include "proc.h"
#include "supervise.h"

static int hybrid_child(int idx, int lfd)
{
	struct pool_cfg pc = {
		.min_threads = cfg.min_spare > 0 ? cfg.min_spare : 1,
		.max_threads = cfg.threads,
		.min_spare = cfg.min_spare,
		.max_spare = cfg.max_spare,
	};

	(void)idx;
	if (pc.min_threads > pc.max_threads)
		pc.min_threads = pc.max_threads;
	return pool_run(lfd, &pc);
}

static int hybrid_run(int lfd)
{
	return supervise(cfg.workers, hybrid_child, lfd, -1, true);
}

static int hybrid_default_workers(void)
{
	return 2;
}

static int hybrid_configure(void)
{
	if (cfg.max_spare < cfg.min_spare) {
		fprintf(stderr, "amped: --max-spare %d is below --min-spare %d\n", cfg.max_spare,
			cfg.min_spare);
		return -1;
	}
	/* up to --threads (64) caches per process: a floor of 1 keeps a
	 * process within a small RLIMIT_NOFILE */
	pool_split_cache(cfg.threads, 1);
	return 0;
}

static long hybrid_fds_reserved(void)
{
	return pool_fds_reserved(cfg.threads);
}

static void hybrid_describe(char *buf, size_t size)
{
	snprintf(buf, size, "model hybrid, %d workers, %d threads each, spare %d-%d", cfg.workers,
		 cfg.threads, cfg.min_spare, cfg.max_spare);
}

const struct model model_hybrid = {
	.name = "hybrid",
	.help = "N processes, each a listener thread and a\n"
		"pool of worker threads that grows and shrinks\n"
		"with load (Apache's worker MPM)",
	.event_driven = false,
	.default_workers = hybrid_default_workers,
	.configure = hybrid_configure,
	.fds_reserved = hybrid_fds_reserved,
	.describe = hybrid_describe,
	.run = hybrid_run,
};
