/* xg_rng.h: a small, fast, seedable random number generator (xoshiro256**, seeded through
 * splitmix64). Its whole state is four 64-bit words, so checkpoints can save and restore it
 * and a resumed run draws the same numbers. Streams for ranks/threads/crystals come from
 * xg_rng_seed(&r, seed, stream): different streams are statistically independent. */
#ifndef XG_RNG_H
#define XG_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} xg_rng;

void xg_rng_seed(xg_rng *r, uint64_t seed, uint64_t stream);
uint64_t xg_rng_u64(xg_rng *r);
double xg_rng_uniform(xg_rng *r);          /* [0, 1), 53 random bits */
double xg_rng_normal(xg_rng *r);           /* standard normal (Box-Muller, no cached value) */
uint64_t xg_rng_below(xg_rng *r, uint64_t n); /* uniform integer in [0, n), unbiased */

#endif
