/* prng.h - SplitMix64, a keyed 64-bit mixer and an unbiased bounded draw (pure, no I/O).
 *
 * Everything /sample draws comes from these four definitions. They are exact, so any client
 * can reproduce the offsets (tests/unit/sampling/sample_reference.py does, in Python). All
 * arithmetic is on unsigned 64-bit integers, modulo 2^64; ">>" is a logical shift.
 *
 *   GOLDEN = 0x9e3779b97f4a7c15              (2^64 / golden ratio, odd)
 *   mix64(z):                                (Stafford's "Mix13", the SplitMix64 finaliser)
 *       z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
 *       z = (z ^ (z >> 27)) * 0x94d049bb133111eb
 *       return z ^ (z >> 31)
 *   SplitMix64 (Steele, Lea, Flood 2014; Vigna's splitmix64.c): state s = seed;
 *       next(): s = s + GOLDEN; return mix64(s)
 *       seed 0 gives 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f, ...
 *   prng_derive(key, x) = mix64(key ^ mix64(x + GOLDEN))
 *       the keyed mixer for sub-keys (seed -> epoch key -> round keys, record keys). For a
 *       fixed key it is a bijection of x (and for a fixed x a bijection of key), so distinct
 *       inputs never collide. It is a statistical mixer, not a cryptographic PRF: a client
 *       that knows the seed knows every order, which is the point.
 *   prng_bounded(g, bound), bound >= 1: Lemire's multiply-and-reject method
 *       ("Fast Random Integer Generation in an Interval", 2019), exactly unbiased:
 *       t = 2^64 mod bound
 *       loop: x = next(g); m = x * bound (as a 128-bit product);
 *             if (m mod 2^64) >= t: return floor(m / 2^64)      (else draw again)
 *       The C code skips computing t when (m mod 2^64) >= bound, which cannot change the
 *       result because t < bound. A draw is rejected with probability t / 2^64 < bound / 2^64.
 */
#ifndef MMAPD_PRNG_H
#define MMAPD_PRNG_H

#include <stddef.h>
#include <stdint.h>

#define PRNG_GOLDEN UINT64_C(0x9e3779b97f4a7c15)

struct splitmix64 {
    uint64_t state;
};

static inline void splitmix64_seed(struct splitmix64 *g, uint64_t seed) { g->state = seed; }

/* The SplitMix64 finaliser: a bijection of 64-bit values, mix64(0) == 0. */
uint64_t prng_mix64(uint64_t z);

/* The next SplitMix64 output; advances the state by GOLDEN. */
uint64_t splitmix64_next(struct splitmix64 *g);

/* mix64(key ^ mix64(x + GOLDEN)): the keyed mixer for deriving sub-keys. */
uint64_t prng_derive(uint64_t key, uint64_t x);

/* A uniform integer in [0, bound) from `g`, exactly unbiased (Lemire). bound must be >= 1;
 * bound 1 returns 0 and still consumes one output. Usually consumes one output, more only
 * on a rejection. */
uint64_t prng_bounded(struct splitmix64 *g, uint64_t bound);

/* The high and low 64 bits of the 128-bit product a * b (portable, no __int128). */
void prng_mul128(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo);

/* A seed for a request that names none, folded from `len` bytes of entropy the caller
 * supplies (getrandom(), a clock and a counter, ...): h = len; for each 8-byte little-endian
 * word w (the last one zero-padded), h = prng_derive(h, w); return mix64(h). Any bytes are
 * accepted, including none (the result is then fixed: do not do that in a server). */
uint64_t prng_seed_from_entropy(const void *bytes, size_t len);

#endif
