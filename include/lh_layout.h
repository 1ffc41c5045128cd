/* lh_layout — the bucket layout of the log-linear latency histogram, shared
 * by user/lh.c (ampload, ampstat) and bpf/latency.bpf.c, so that a
 * histogram summed in the kernel is read with the very same buckets.
 *
 * Values below 2 * LH_SUB ns have a bucket each.  Above, every power of two
 * is cut into LH_SUB equal buckets: a bucket is at most 1/64 as wide as its
 * lower bound, so its midpoint is within 0.8 % of every value in it.  The
 * top bucket ends at 2^37 ns (137 s); larger values land in it.
 *
 * Static inline and free of library calls (no __builtin_clzll, which the
 * BPF backend of clang 14 cannot lower), so that BPF programs can use it. */
#ifndef LH_LAYOUT_H
#define LH_LAYOUT_H

#define LH_SUB_BITS 6
#define LH_SUB      (1u << LH_SUB_BITS)
#define LH_BUCKETS  2048u		/* 2 * 64 exact + 30 octaves * 64 */
#define LH_MAX_NS   ((1ULL << 37) - 1)

/* Bucket index of a value: always < LH_BUCKETS. */
static inline unsigned lh_index(unsigned long long v)
{
	unsigned long long x;
	unsigned msb = 0, e;

	if (v < 2 * LH_SUB)
		return (unsigned)v;
	if (v > LH_MAX_NS)
		v = LH_MAX_NS;
	x = v;
	if (x >> 32) { x >>= 32; msb += 32; }
	if (x >> 16) { x >>= 16; msb += 16; }
	if (x >> 8) { x >>= 8; msb += 8; }
	if (x >> 4) { x >>= 4; msb += 4; }
	if (x >> 2) { x >>= 2; msb += 2; }
	if (x >> 1) { msb += 1; }
	e = msb - LH_SUB_BITS;		/* v >> e is in [64, 128) */
	return LH_SUB * (e + 1) + (unsigned)((v >> e) - LH_SUB);
}

/* The [low, low + width) range of bucket idx (< LH_BUCKETS). */
static inline unsigned long long lh_bucket_low(unsigned idx)
{
	unsigned e;

	if (idx < 2 * LH_SUB)
		return idx;
	e = idx / LH_SUB - 1;
	return (unsigned long long)(LH_SUB + idx % LH_SUB) << e;
}

static inline unsigned long long lh_bucket_width(unsigned idx)
{
	return idx < 2 * LH_SUB ? 1 : 1ULL << (idx / LH_SUB - 1);
}

#endif
