/* permutation.h - a seekable pseudo-random permutation of [0, n) in O(1) memory (pure).
 *
 * permutation_at(p, i) is the i-th element of a keyed pseudo-random order of 0 .. n-1, for
 * any n from 1 to UINT64_MAX, computed on its own: no table, nothing stored per element, so
 * a 1 TiB file of 4 KiB records (2^28 slots) costs the same 88-byte struct as 10 slots.
 *
 * Algorithm (exact, so clients can reproduce it; see prng.h for mix64 and prng_derive):
 *   n == 1: P(0) = 0.
 *   n >= 2: h = the smallest h >= 1 with 4^h >= n; the domain is [0, 4^h) = [0, 2^(2h)),
 *           mask = 2^h - 1, and 4^(h-1) < n <= 4^h, so the domain is < 4n.
 *     round keys k_r = prng_derive(key, r), r = 0 .. PERMUTATION_ROUNDS-1 (8 rounds);
 *     E(x), a balanced Feistel network over h-bit halves:
 *         L = x >> h; R = x & mask
 *         for r in 0 .. 7: (L, R) = (R, L ^ (mix64(R ^ k_r) & mask))
 *         return (L << h) | R
 *     E is a bijection of the domain whatever the round functions are. Cycle-walking
 *     restricts it to [0, n):
 *         P(i) = E(i); while P(i) >= n: P(i) = E(P(i))
 *     which is a bijection of [0, n) (Black and Rogaway 2002): the walk from i follows i's
 *     cycle of E to the next element below n.
 *
 * Cost: one E is 8 mix64 calls. For a random i the expected number of E calls is
 * domain / n < 4 (a geometric walk with success probability n / domain > 1/4), and a walk
 * longer than L calls has probability about (1 - n/domain)^L <= (3/4)^L (below 1e-12 for
 * L = 100). Worst case for one index: the walk visits distinct out-of-range elements only,
 * so it ends after at most domain - n + 1 <= 3n - 2 calls; no key is known to come near that,
 * but it is the only hard bound. Powers of 4 (n = 4^h, e.g. 2^40) never walk.
 *
 * Quality: a Feistel network with 8 rounds of a 64-bit mixer is a statistical shuffle for
 * sampling, not a cryptographic cipher. For tiny n the keyed orders do not reach every one
 * of the n! permutations equally often (n = 2: the two orders, near 1/2 each).
 */
#ifndef MMAPD_PERMUTATION_H
#define MMAPD_PERMUTATION_H

#include <stdint.h>

#define PERMUTATION_ROUNDS 8

struct permutation {
    uint64_t n;          /* elements: the order is over [0, n) */
    unsigned half_bits;  /* h: the Feistel halves; 0 when n == 1 */
    uint64_t half_mask;  /* 2^h - 1 */
    uint64_t round_key[PERMUTATION_ROUNDS];
};

/* Sets up the permutation of [0, n) keyed by `key`. n must be >= 1 (n == 0 is treated as 1). */
void permutation_init(struct permutation *p, uint64_t n, uint64_t key);

/* The i-th element of the order, in [0, n); distinct i give distinct elements. i must be
 * < n (i >= n is reduced modulo n, never an out-of-range result). Thread-safe: reads p. */
uint64_t permutation_at(const struct permutation *p, uint64_t i);

/* One Feistel pass E over the whole domain [0, 4^h), without cycle-walking (for tests and
 * reference checks). */
uint64_t permutation_feistel(const struct permutation *p, uint64_t x);

/* The domain size 4^h minus one (so that h = 32 fits): E maps [0, domain_max] onto itself. */
static inline uint64_t permutation_domain_max(const struct permutation *p)
{
    return p->half_bits ? (p->half_mask << p->half_bits) | p->half_mask : 0;
}

#endif
