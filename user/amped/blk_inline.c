/* blk_inline — blocking work done by the caller, before submit returns:
 * SPED's dispatcher blocks here, as the paper's SPED server does, and so do
 * MP and MT workers, for whom blocking is the design. */
#include "blk.h"
#include "fcache.h"

static int inline_start(void)
{
	return 0;
}

static void inline_submit(struct job *j)
{
	if (j->op == AMPED_OP_OPEN)
		job_run_open(j->fe->key, &j->err, &j->kind, &j->fd, &j->st);
	else
		j->err = job_run_read(j->fe->fd, j->off, j->len);
	/* no helper ran it: no helper_return probe */
	j->done(j);
}

static int inline_busy(void)
{
	return 0;
}

static void inline_stop(uint64_t deadline_ns)
{
	(void)deadline_ns;
}

const struct blk_ops blk_inline = {
	.name = "inline",
	.start = inline_start,
	.submit = inline_submit,
	.busy = inline_busy,
	.stop = inline_stop,
	.rf_open = AMPED_RF_INLINE_BLOCK,
	.rf_read = AMPED_RF_INLINE_BLOCK,
};
