/* srpt — the ready queue of --sched srpt: a binary min-heap of responses
 * keyed by the bytes they have left (ties: the one that joined first).
 * The dispatcher writes a quantum to the minimum, puts it back with its new
 * key, and so on (size-based scheduling: Harchol-Balter, Schroeder, Bansal,
 * Agrawal, ACM TOCS 2003).  Nodes are embedded in their owners; the heap
 * only holds pointers, so push and remove do not allocate except to grow. */
#ifndef AMPED_SRPT_H
#define AMPED_SRPT_H

#include <stdbool.h>
#include <stdint.h>

struct srpt_node {
	uint64_t key;			/* bytes left when it joined */
	uint64_t seq;			/* ties go to the earlier */
	int idx;			/* position in the heap + 1; 0: not in it */
};

struct srpt {
	struct srpt_node **heap;
	int n, cap;
	uint64_t clock;
};

/* (Re)insert x with key.  0 ok, -1 out of memory (x is then not queued). */
int srpt_push(struct srpt *q, struct srpt_node *x, uint64_t key);
void srpt_remove(struct srpt *q, struct srpt_node *x);	/* no-op if not queued */
/* The node with the smallest key, or NULL when empty; it stays queued. */
struct srpt_node *srpt_min(const struct srpt *q);
void srpt_free(struct srpt *q);		/* forget every node, free the heap */

static inline bool srpt_queued(const struct srpt_node *x)
{
	return x->idx != 0;
}

static inline int srpt_count(const struct srpt *q)
{
	return q->n;
}

#endif
