/* lh — log-linear histogram of durations in nanoseconds (HdrHistogram's idea,
 * fixed layout so that histograms of different threads merge by addition).
 *
 * Prefix lh_.  Values below 128 ns have a bucket each.  Above, every power of
 * two is cut into 64 equal buckets: a bucket is at most 1/64 as wide as its
 * lower bound, so the midpoint that lh_quantile_ns() reports is within 0.8 %
 * of every value in the bucket.  The top bucket ends at 2^37 ns (137 s);
 * larger values land in it and are counted in `clamped`, while min and max
 * stay exact.  Nothing allocates: a struct lh is ~16 KiB, embed or calloc it. */
#ifndef AMPLOAD_LH_H
#define AMPLOAD_LH_H
#include <stdint.h>

#define LH_SUB_BITS 6
#define LH_SUB      (1u << LH_SUB_BITS)
#define LH_BUCKETS  2048u		/* 2 * 64 exact + 30 octaves * 64 */
#define LH_MAX_NS   ((UINT64_C(1) << 37) - 1)

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
/* Bucket index of a value, and the [low, low + width) range of a bucket. */
unsigned lh_index(uint64_t v_ns);
uint64_t lh_bucket_low(unsigned idx);
uint64_t lh_bucket_width(unsigned idx);
/* The q-quantile (0 <= q <= 1; 0.5 = median) as the midpoint of the bucket
 * holding it, clipped to [min, max].  0 when the histogram is empty. */
uint64_t lh_quantile_ns(const struct lh *h, double q);
double lh_mean_ns(const struct lh *h);	/* 0 when empty */
double lh_stddev_ns(const struct lh *h);

#endif
