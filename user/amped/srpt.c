/* srpt — the ready heap of --sched srpt. */
#include <stdlib.h>
#include "srpt.h"

static bool less(const struct srpt_node *a, const struct srpt_node *b)
{
	return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void place(struct srpt *q, int i, struct srpt_node *x)
{
	q->heap[i] = x;
	x->idx = i + 1;
}

static void up(struct srpt *q, int i)
{
	struct srpt_node *x = q->heap[i];
	while (i > 0) {
		int p = (i - 1) / 2;
		if (!less(x, q->heap[p]))
			break;
		place(q, i, q->heap[p]);
		i = p;
	}
	place(q, i, x);
}

static void down(struct srpt *q, int i)
{
	struct srpt_node *x = q->heap[i];
	for (;;) {
		int l = 2 * i + 1, m;
		if (l >= q->n)
			break;
		m = l + 1 < q->n && less(q->heap[l + 1], q->heap[l]) ? l + 1 : l;
		if (!less(q->heap[m], x))
			break;
		place(q, i, q->heap[m]);
		i = m;
	}
	place(q, i, x);
}

void srpt_remove(struct srpt *q, struct srpt_node *x)
{
	int i = x->idx - 1;

	if (i < 0)
		return;
	x->idx = 0;
	struct srpt_node *last = q->heap[--q->n];
	if (i == q->n)
		return;
	place(q, i, last);
	down(q, i);
	up(q, last->idx - 1);
}

int srpt_push(struct srpt *q, struct srpt_node *x, uint64_t key)
{
	srpt_remove(q, x);		/* its key changed */
	if (q->n == q->cap) {
		int cap = q->cap ? q->cap * 2 : 256;
		struct srpt_node **h = realloc(q->heap, (size_t)cap * sizeof(*h));
		if (!h)
			return -1;
		q->heap = h;
		q->cap = cap;
	}
	x->key = key;
	x->seq = ++q->clock;
	q->heap[q->n++] = x;
	up(q, q->n - 1);
	return 0;
}

struct srpt_node *srpt_min(const struct srpt *q)
{
	return q->n > 0 ? q->heap[0] : NULL;
}

void srpt_free(struct srpt *q)
{
	for (int i = 0; i < q->n; i++)
		q->heap[i]->idx = 0;
	free(q->heap);
	q->heap = NULL;
	q->n = q->cap = 0;
}
