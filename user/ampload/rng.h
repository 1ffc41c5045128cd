/* rng — xoshiro256** seeded through splitmix64 (Blackman & Vigna).  Small,
 * fast and reproducible: the same seed gives the same stream on every
 * machine, which is what makes the statistical tests repeatable.
 * Prefix rng_.  Header-only. */
#ifndef AMPLOAD_RNG_H
#define AMPLOAD_RNG_H
#include <math.h>
#include <stdint.h>

struct rng {
	uint64_t s[4];
};

static inline uint64_t rng_splitmix(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Streams for different purposes come from (seed, stream) pairs, so that
 * e.g. the arrival times do not change when the path choice changes. */
static inline void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * UINT64_C(0xd1b54a32d192ed03));
	for (int i = 0; i < 4; i++)
		r->s[i] = rng_splitmix(&x);
}

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = s[3] << 45 | s[3] >> 19;
	return res;
}

/* Uniform in (0, 1]: never 0, so -log() below is finite. */
static inline double rng_u01(struct rng *r)
{
	return ((double)(rng_next(r) >> 11) + 1.0) * 0x1.0p-53;
}

static inline double rng_exp(struct rng *r, double mean)
{
	return -mean * log(rng_u01(r));
}

/* Uniform integer in [0, n); n > 0.  Lemire's multiply-shift, no modulo bias
 * worth caring about for n far below 2^64. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}
#endif
