/* lh — log-linear histogram of durations in nanoseconds (HdrHistogram's idea,
 * fixed layout so that histograms of different threads merge by addition).
 * Shared by ampload (its client-side latencies) and ampstat (the server-side
 * ones, summed in the kernel by bpf/latency.bpf.c in the same buckets).
 *
 * Prefix lh_.  The layout (include/lh_layout.h): values below 128 ns have a
 * bucket each; above, every power of two is cut into 64 equal buckets, so
 * the midpoint that lh_quantile_ns() reports is within 0.8 % of every value
 * in the bucket.  The top bucket ends at 2^37 ns (137 s); larger values land
 * in it and are counted in `clamped`, while min and max stay exact.  Nothing
 * allocates: a struct lh is ~16 KiB, embed or calloc it. */
#ifndef LH_H
#define LH_H
#include <stdint.h>
#include "lh_layout.h"

struct lh {
	uint64_t n;
	uint64_t clamped;
	uint64_t min_ns;	/* UINT64_MAX while n == 0 */
	uint64_t max_ns;
	double sum_ns;
	double sumsq_ns2;	/* for the standard deviation */
	uint64_t count[LH_BUCKETS];
};

void lh_init(struct lh *h);
void lh_record(struct lh *h, uint64_t v_ns);
void lh_merge(struct lh *dst, const struct lh *src);
/* A histogram from bucket counts summed elsewhere (a BPF map): n from the
 * counts, min 0 (unknown), max max_ns (quantiles are clipped to it). */
void lh_from_counts(struct lh *h, const uint64_t *count, uint64_t max_ns);
/* The q-quantile (0 <= q <= 1; 0.5 = median) as the midpoint of the bucket
 * holding it, clipped to [min, max].  0 when the histogram is empty. */
uint64_t lh_quantile_ns(const struct lh *h, double q);
double lh_mean_ns(const struct lh *h);	/* 0 when empty */
double lh_stddev_ns(const struct lh *h);

#endif
