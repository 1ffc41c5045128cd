/* model uring — one event-driven dispatcher whose blocking work is
 * asynchronous io_uring operations; the kernel's iou-wrk threads do what
 * would block (at most --helpers of them). */
#include <stdio.h>
#include "blk.h"
#include "dispatcher.h"
#include "model.h"
#include "proc.h"

static void uring_describe(char *buf, size_t size)
{
	snprintf(buf, size, "model uring, %d io-wq workers, sched %s", cfg.helpers, sched_name());
}

static int uring_run(int lfd)
{
	return run_dispatcher(lfd, &blk_uring);
}

const struct model model_uring = {
	.name = "uring",
	.help = "one dispatcher; open/stat and disk reads are\n"
		"asynchronous io_uring operations (the kernel's\n"
		"iou-wrk threads do what would block)",
	.event_driven = true,
	.polls = true,
	.dispatchers = true,
	.describe = uring_describe,
	.run = uring_run,
};
