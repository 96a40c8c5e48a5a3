/* rng.h: xoshiro256** seeded through splitmix64. Deterministic for a seed (simulator, tests, benchmarks),
 * fast, not cryptographic. One generator per thread; no shared state. */
#ifndef TD_RNG_H
#define TD_RNG_H

#include <stdint.h>

typedef struct td_rng { uint64_t s[4]; } td_rng_t;

static inline uint64_t td_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void td_rng_seed(td_rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = td_splitmix64(&seed);
}

static inline uint64_t td_rng_next(td_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, n), n > 0 (Lemire's multiply-shift; bias is negligible for n << 2^64). */
static inline uint64_t td_rng_below(td_rng_t *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)td_rng_next(r) * n) >> 64);
}

/* Uniform double in [0, 1). */
static inline double td_rng_unit(td_rng_t *r) { return (double)(td_rng_next(r) >> 11) * 0x1.0p-53; }

#endif
