/* models — the one table of concurrency models.  A new model is a file
 * model_NAME.c defining `const struct model model_NAME` and a row here;
 * the first row is the default. */
#include <string.h>
#include "model.h"
#include "proc.h"

extern const struct model model_amped, model_sped, model_amted, model_symped,
	model_mp, model_mt, model_uring, model_ult, model_seda, model_hybrid;

const struct model *const models[] = {
	&model_amped,	/* dispatcher + helper processes (Flash) */
	&model_amted,	/* dispatcher + helper threads */
	&model_sped,	/* one dispatcher, blocking inline */
	&model_symped,	/* N SPED processes on one port (Zeus) */
	&model_mp,	/* process per connection, pre-forked */
	&model_mt,	/* boss thread + worker threads */
	&model_uring,	/* dispatcher + io_uring */
	&model_ult,	/* user-level thread per connection (Knot) */
	&model_seda,	/* stages with queues and thread pools (SEDA) */
	&model_hybrid,	/* processes x dynamic thread pools (Apache worker) */
};
const size_t nmodels = sizeof(models) / sizeof(models[0]);

const struct model *model_find(const char *name)
{
	for (size_t i = 0; i < nmodels; i++)
		if (!strcmp(name, models[i]->name))
			return models[i];
	return NULL;
}

const char *sched_name(void)
{
	return cfg.sched == SCHED_SRPT ? "srpt" : "fcfs";
}
