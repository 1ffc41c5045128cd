/* reqs — requests a traced amped finished, from its own counter
 * (amped_current.requests_done, read with process_vm_readv; no probe).
 *
 * Each dispatcher of a process counts in its own slot of amped_current
 * (--dispatchers; slot 0's nslots says how many), so a process's figure is
 * the sum over its slots.  MP servers count in each worker process, so the
 * figure is the sum over
 * the traced processes.  Only processes running the target's executable are
 * read; the symbol is looked up in the target alone, since a forked child
 * keeps its parent's addresses (amped execs nothing else). */
#ifndef AMPSTAT_REQS_H
#define AMPSTAT_REQS_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define REQS_MAX_TGIDS 1024

struct reqs {
	bool have_sym;		/* the target has amped_current */
	bool known;		/* some process's counter was read */
	dev_t exe_dev;
	ino_t exe_ino;
	uint64_t addr;		/* &amped_current[0] */
	int n;
	struct {
		pid_t tgid;
		uint64_t last;
		unsigned nslots;	/* its slots in use (0: not read yet) */
		bool have_last, no_sym;
	} src[REQS_MAX_TGIDS];
};

/* Look up the counter in pid's executable; r->have_sym says if found. */
void reqs_init(struct reqs *r, pid_t pid);
/* Requests finished since the last call by the processes tg[0..n).  A
 * process seen for the first time counts from 0 unless baseline (the first
 * call, which only records where each counter stands).  Processes no
 * longer in tg are forgotten. */
uint64_t reqs_read(struct reqs *r, const pid_t *tg, int n, bool baseline);
#endif
