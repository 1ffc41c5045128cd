/* mstats — the counters amped's newer models keep for tracers
 * (include/amped_models.h): ult's user-level context switches and thread
 * management, seda's stage queues and service times.  Read from the target
 * with process_vm_readv, the way reqs.h reads amped_current: no probe, so
 * nothing is paid per switch or per request.  Only the target process is
 * read (ult and seda run in one process).
 *
 *   mstats_init(m, pid)   look up amped_ult and amped_seda in pid's
 *                         executable and take the first reading (the
 *                         baseline of the first interval and of the
 *                         summary).  A model that does not run leaves its
 *                         counters zero: m->ult_on / m->seda_on say which
 *                         one runs.
 *   mstats_read(m)        a new reading; the previous one is kept for the
 *                         interval's rates.  0, or -errno (target gone:
 *                         the last good reading stays).
 *   mstats_print(f, m, summary, dt_s, requests, json)
 *                         the model's figures over the interval (from the
 *                         previous reading) or the whole run (summary: from
 *                         the first): text lines, or for json a member
 *                         ,"ult":{...} / ,"seda":{...} (nothing when the
 *                         model does not run).  requests: finished in the
 *                         same span, for switches per request (0: unknown).
 */
#ifndef AMPSTAT_MSTATS_H
#define AMPSTAT_MSTATS_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "amped_models.h"

struct mstats {
	pid_t pid;
	uint64_t ult_addr, seda_addr;	/* 0: no such symbol */
	bool ult_on, seda_on;
	struct amped_ult_stats ult0, ult_prev, ult;
	struct amped_seda_stats seda0, seda_prev, seda;
};

void mstats_init(struct mstats *m, pid_t pid);
int mstats_read(struct mstats *m);
void mstats_print(FILE *f, const struct mstats *m, bool summary, double dt_s, uint64_t requests, bool json);

#endif
