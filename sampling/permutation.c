/* permutation.c - keyed balanced Feistel network with cycle-walking over [0, n). */
#include "sampling/permutation.h"

#include "sampling/prng.h"

void permutation_init(struct permutation *p, uint64_t n, uint64_t key)
{
    if (n == 0)
        n = 1;
    p->n = n;
    p->half_bits = 0;
    p->half_mask = 0;
    if (n >= 2) {
        /* smallest h >= 1 with 4^h >= n, i.e. 2h >= bit length of (n - 1) */
        unsigned bits = 0;
        for (uint64_t v = n - 1; v; v >>= 1)
            bits++;
        p->half_bits = (bits + 1) / 2; /* 1 .. 32, since 1 <= bits <= 64 */
        p->half_mask = (UINT64_C(1) << p->half_bits) - 1;
    }
    for (unsigned r = 0; r < PERMUTATION_ROUNDS; r++)
        p->round_key[r] = prng_derive(key, r);
}

uint64_t permutation_feistel(const struct permutation *p, uint64_t x)
{
    const unsigned h = p->half_bits;
    const uint64_t mask = p->half_mask;
    if (h == 0)
        return 0;
    uint64_t l = (x >> h) & mask, r = x & mask;
    for (unsigned i = 0; i < PERMUTATION_ROUNDS; i++) {
        uint64_t f = prng_mix64(r ^ p->round_key[i]) & mask;
        uint64_t t = l ^ f;
        l = r;
        r = t;
    }
    return (l << h) | r;
}

uint64_t permutation_at(const struct permutation *p, uint64_t i)
{
    if (p->n <= 1)
        return 0;
    if (i >= p->n)
        i %= p->n;
    uint64_t x = permutation_feistel(p, i);
    while (x >= p->n)
        x = permutation_feistel(p, x);
    return x;
}
