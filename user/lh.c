/* lh — see lh.h. */
#include <math.h>
#include <string.h>
#include "lh.h"

void lh_init(struct lh *h)
{
	memset(h, 0, sizeof(*h));
	h->min_ns = UINT64_MAX;
}

void lh_from_counts(struct lh *h, const uint64_t *count, uint64_t max_ns)
{
	lh_init(h);
	for (unsigned i = 0; i < LH_BUCKETS; i++) {
		h->count[i] = count[i];
		h->n += count[i];
		h->sum_ns += (double)count[i] * ((double)lh_bucket_low(i) + (double)lh_bucket_width(i) / 2);
	}
	h->min_ns = 0;
	h->max_ns = max_ns;
}

void lh_record(struct lh *h, uint64_t v)
{
	if (v > LH_MAX_NS)
		h->clamped++;
	h->count[lh_index(v)]++;
	h->n++;
	h->sum_ns += (double)v;
	h->sumsq_ns2 += (double)v * (double)v;
	if (v < h->min_ns)
		h->min_ns = v;
	if (v > h->max_ns)
		h->max_ns = v;
}

void lh_merge(struct lh *dst, const struct lh *src)
{
	if (!src->n)
		return;
	for (unsigned i = 0; i < LH_BUCKETS; i++)
		dst->count[i] += src->count[i];
	dst->n += src->n;
	dst->clamped += src->clamped;
	dst->sum_ns += src->sum_ns;
	dst->sumsq_ns2 += src->sumsq_ns2;
	if (src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

uint64_t lh_quantile_ns(const struct lh *h, double q)
{
	uint64_t rank, seen = 0, v;

	if (!h->n)
		return 0;
	if (q <= 0)
		return h->min_ns;
	if (q >= 1)
		return h->max_ns;
	/* The smallest value with at least ceil(q * n) values at or below it. */
	rank = (uint64_t)ceil(q * (double)h->n);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < LH_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank) {
			v = lh_bucket_low(i) + lh_bucket_width(i) / 2;
			if (v < h->min_ns)
				v = h->min_ns;
			if (v > h->max_ns)
				v = h->max_ns;
			return v;
		}
	}
	return h->max_ns;
}

double lh_mean_ns(const struct lh *h)
{
	return h->n ? h->sum_ns / (double)h->n : 0;
}

double lh_stddev_ns(const struct lh *h)
{
	double m, v;

	if (h->n < 2)
		return 0;
	m = lh_mean_ns(h);
	v = (h->sumsq_ns2 - (double)h->n * m * m) / (double)(h->n - 1);
	return v > 0 ? sqrt(v) : 0;
}
