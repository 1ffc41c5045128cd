/* model mt — a boss thread accepts and queues connections; N worker
 * threads each serve one at a time with blocking I/O (pool.c, fixed).
 * Caches per thread (no locks on the hot path), the --cache-entries budget
 * split between them. */
#include <stdio.h>
#include "model.h"
#include "pool.h"
#include "proc.h"

static int mt_run(int lfd)
{
	struct pool_cfg pc = { cfg.workers, cfg.workers, 0, 0 };

	return pool_run(lfd, &pc);
}

static int mt_configure(void)
{
	pool_split_cache(cfg.workers, 16);
	return 0;
}

static long mt_fds_reserved(void)
{
	return pool_fds_reserved(cfg.workers);
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
