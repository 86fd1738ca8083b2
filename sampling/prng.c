/* prng.c - SplitMix64, the keyed mixer and Lemire's unbiased bounded draw. */
#include "sampling/prng.h"

uint64_t prng_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint64_t splitmix64_next(struct splitmix64 *g)
{
    g->state += PRNG_GOLDEN;
    return prng_mix64(g->state);
}

uint64_t prng_derive(uint64_t key, uint64_t x)
{
    return prng_mix64(key ^ prng_mix64(x + PRNG_GOLDEN));
}

void prng_mul128(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
    uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32;
    uint64_t b_lo = b & 0xffffffffu, b_hi = b >> 32;
    uint64_t ll = a_lo * b_lo, lh = a_lo * b_hi, hl = a_hi * b_lo, hh = a_hi * b_hi;
    /* middle column: cannot overflow (each term < 2^32 after the shifts and masks) */
    uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
    *lo = (mid << 32) | (ll & 0xffffffffu);
    *hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

uint64_t prng_bounded(struct splitmix64 *g, uint64_t bound)
{
    uint64_t hi, lo;
    prng_mul128(splitmix64_next(g), bound, &hi, &lo);
    if (lo < bound) {
        uint64_t t = (0 - bound) % bound; /* 2^64 mod bound */
        while (lo < t)
            prng_mul128(splitmix64_next(g), bound, &hi, &lo);
    }
    return hi;
}

uint64_t prng_seed_from_entropy(const void *bytes, size_t len)
{
    const unsigned char *p = bytes;
    uint64_t h = (uint64_t)len;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = 0;
        for (size_t j = 0; j < 8 && i + j < len; j++)
            w |= (uint64_t)p[i + j] << (8 * j);
        h = prng_derive(h, w);
    }
    return prng_mix64(h);
}
