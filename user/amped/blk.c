/* blk — what every backend of blocking work shares: the job's bookkeeping
 * on the way in and the helper_return probe on the way out. */
#include <sys/sdt.h>
#include "blk.h"
#include "proc.h"

void blk_submit(const struct blk_ops *b, struct job *j)
{
	j->start_ns = mono_ns();
	j->sent_ns = 0;
	j->helper = -1;
	j->fd = -1;
	j->next = NULL;
	j->rflags = j->op == AMPED_OP_OPEN ? b->rf_open : b->rf_read;
	b->submit(j);
}

void blk_complete(struct job *j, int err)
{
	uint64_t service_ns = mono_ns() - j->start_ns;
	j->err = err;
	DTRACE_PROBE5(amped, helper_return, j->req_id, j->helper, j->op, err, service_ns);
	j->helper = -1;
	j->done(j);
}
