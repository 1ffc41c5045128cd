/* model amted — AMPED with helper threads: one event-driven dispatcher;
 * threads of its own process do what may block. */
#include <stdio.h>
#include "blk.h"
#include "dispatcher.h"
#include "model.h"
#include "proc.h"

static void amted_describe(char *buf, size_t size)
{
	snprintf(buf, size, "model amted, %d helpers, sched %s", cfg.helpers, sched_name());
}

static int amted_run(int lfd)
{
	return run_dispatcher(lfd, &blk_threads);
}

const struct model model_amted = {
	.name = "amted",
	.help = "the same with helper threads",
	.event_driven = true,
	.polls = true,
	.dispatchers = true,
	.describe = amted_describe,
	.run = amted_run,
};
