#include "crystal/xg_rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void xg_rng_seed(xg_rng *r, uint64_t seed, uint64_t stream)
{
    /* Mix the stream in through a second splitmix pass so nearby (seed, stream) pairs land far
     * apart in the state space. */
    uint64_t x = seed;
    uint64_t y = splitmix64(&x) ^ (stream * 0xd1b54a32d192ed03ULL + 0x8cb92ba72f3d8dd7ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&y);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
        r->s[0] = 1; /* the all-zero state is the one fixed point */
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t xg_rng_u64(xg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double xg_rng_uniform(xg_rng *r) { return (double)(xg_rng_u64(r) >> 11) * 0x1.0p-53; }

double xg_rng_normal(xg_rng *r)
{
    double u1;
    do {
        u1 = xg_rng_uniform(r);
    } while (u1 <= 0.0);
    double u2 = xg_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t xg_rng_below(xg_rng *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = xg_rng_u64(r);
    } while (x >= limit);
    return x % n;
}
