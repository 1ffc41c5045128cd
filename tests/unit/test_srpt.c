/* test_srpt — unit tests for user/amped/srpt.c, the --sched srpt ready
 * queue: the minimum comes out first, ties go to the earlier push, a
 * re-push takes the new key, removal from anywhere keeps the heap valid
 * (checked against a sorted reference over many random operations). */
#include <stdint.h>
#include <stdlib.h>
#include "srpt.h"
#include "tap.h"

#define N 500

int main(void)
{
	struct srpt q = { 0 };
	struct srpt_node nodes[N] = { 0 };

	ok(srpt_min(&q) == NULL && srpt_count(&q) == 0, "empty queue: no minimum");
	srpt_push(&q, &nodes[0], 300);
	srpt_push(&q, &nodes[1], 100);
	srpt_push(&q, &nodes[2], 200);
	srpt_push(&q, &nodes[3], 100);
	ok(srpt_min(&q) == &nodes[1], "fewest bytes first; of two equal keys the earlier");
	srpt_push(&q, &nodes[1], 400);
	ok(srpt_min(&q) == &nodes[3] && srpt_count(&q) == 4, "a re-push takes the new key, once");
	srpt_remove(&q, &nodes[3]);
	ok(srpt_min(&q) == &nodes[2] && !srpt_queued(&nodes[3]), "remove the minimum");
	srpt_remove(&q, &nodes[3]);
	ok(srpt_count(&q) == 3, "removing a node not queued changes nothing");
	srpt_free(&q);
	ok(srpt_count(&q) == 0 && !srpt_queued(&nodes[0]) && !srpt_queued(&nodes[1]),
	   "free forgets every node");

	/* random pushes, re-pushes and removals against a plain array */
	uint64_t key[N];
	int queued[N] = { 0 }, bad = 0;
	srand(12);
	for (int step = 0; step < 20000; step++) {
		int i = rand() % N, op = rand() % 3;
		if (op < 2) {
			key[i] = (uint64_t)(rand() % 50);	/* many ties */
			if (srpt_push(&q, &nodes[i], key[i]) < 0)
				bad++;
			queued[i] = 1;
		} else {
			srpt_remove(&q, &nodes[i]);
			queued[i] = 0;
		}
		struct srpt_node *m = srpt_min(&q);
		uint64_t want = UINT64_MAX;
		int n = 0;
		for (int k = 0; k < N; k++) {
			if (queued[k]) {
				n++;
				if (key[k] < want)
					want = key[k];
			}
		}
		if (n != srpt_count(&q) || (n == 0) != (m == NULL) || (m && m->key != want))
			bad++;
	}
	ok(bad == 0, "20,000 random operations: count and minimum always right (%d wrong)", bad);
	int prev_key = -1, sorted = 1;
	uint64_t prev_seq = 0;
	while ((srpt_count(&q)) > 0) {
		struct srpt_node *m = srpt_min(&q);
		if ((int)m->key < prev_key || ((int)m->key == prev_key && m->seq < prev_seq))
			sorted = 0;
		prev_key = (int)m->key;
		prev_seq = m->seq;
		srpt_remove(&q, m);
	}
	ok(sorted, "draining gives keys in order, ties in push order");
	srpt_free(&q);
	return done_testing();
}
