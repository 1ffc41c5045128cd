/* model amped — Flash's AMPED: one event-driven dispatcher; helper
 * processes do what may block (path translation, disk reads). */
#include <stdio.h>
#include "blk.h"
#include "dispatcher.h"
#include "model.h"
#include "proc.h"

static void amped_describe(char *buf, size_t size)
{
	snprintf(buf, size, "model amped, %d helpers, sched %s", cfg.helpers, sched_name());
}

static int amped_run(int lfd)
{
	return run_dispatcher(lfd, &blk_procs);
}

const struct model model_amped = {
	.name = "amped",
	.help = "one event-driven dispatcher; helper processes do\n"
		"open/stat and disk reads (Flash's AMPED)",
	.event_driven = true,
	.polls = true,
	.dispatchers = true,
	.describe = amped_describe,
	.run = amped_run,
};
