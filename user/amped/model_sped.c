/* model sped — one event-driven dispatcher that does the blocking work
 * itself, inline: a disk read stalls every connection (Flash's SPED). */
#include <stdio.h>
#include "blk.h"
#include "dispatcher.h"
#include "model.h"
#include "proc.h"

static void sped_describe(char *buf, size_t size)
{
	snprintf(buf, size, "model sped, 0 helpers, sched %s", sched_name());
}

static int sped_run(int lfd)
{
	return run_dispatcher(lfd, &blk_inline);
}

const struct model model_sped = {
	.name = "sped",
	.help = "one dispatcher doing that work inline, blocking",
	.event_driven = true,
	.polls = true,
	.dispatchers = true,
	.describe = sped_describe,
	.run = sped_run,
};
