/* sample_vectors.c - prints PRNG, permutation and sampler outputs for fixed inputs, one case
 * per line, for tests/unit/sampling/sample_reference.py to recompute in Python and compare.
 *
 * Line format: KIND INPUT... | OUTPUT...   (decimal unsigned 64-bit integers)
 *   splitmix64 seed count | outputs
 *   derive key x | prng_derive(key, x)
 *   bounded seed bound count | prng_bounded draws from one generator
 *   perm n key i... | permutation_at(i)...
 *   sample F S A N seed epoch rank world start replace | slots shard_len count next offsets...
 *     (shard_len and next print SAMPLE_END as 18446744073709551615)
 */
#include <inttypes.h>
#include <stdio.h>

#include "sampling/permutation.h"
#include "sampling/prng.h"
#include "sampling/sampler.h"

#define END UINT64_MAX

static void splitmix_line(uint64_t seed, unsigned count)
{
    struct splitmix64 g;
    splitmix64_seed(&g, seed);
    printf("splitmix64 %" PRIu64 " %u |", seed, count);
    for (unsigned i = 0; i < count; i++)
        printf(" %" PRIu64, splitmix64_next(&g));
    printf("\n");
}

static void derive_line(uint64_t key, uint64_t x)
{
    printf("derive %" PRIu64 " %" PRIu64 " | %" PRIu64 "\n", key, x, prng_derive(key, x));
}

static void bounded_line(uint64_t seed, uint64_t bound, unsigned count)
{
    struct splitmix64 g;
    splitmix64_seed(&g, seed);
    printf("bounded %" PRIu64 " %" PRIu64 " %u |", seed, bound, count);
    for (unsigned i = 0; i < count; i++)
        printf(" %" PRIu64, prng_bounded(&g, bound));
    printf("\n");
}

static void perm_line(uint64_t n, uint64_t key, unsigned count)
{
    struct permutation p;
    permutation_init(&p, n, key);
    uint64_t idx[40];
    for (unsigned i = 0; i < count && i < 40; i++)
        idx[i] = n <= count ? i : i * (n / count); /* all of a small n, spread over a big one */
    printf("perm %" PRIu64 " %" PRIu64, n, key);
    for (unsigned i = 0; i < count && i < 40; i++)
        printf(" %" PRIu64, idx[i]);
    printf(" |");
    for (unsigned i = 0; i < count && i < 40; i++)
        printf(" %" PRIu64, permutation_at(&p, idx[i]));
    printf("\n");
}

static int sample_line(struct sample_spec sp)
{
    struct sampler s;
    struct query_error err;
    if (sampler_init(&s, &sp, &err) != SAMPLE_OK) {
        fprintf(stderr, "sample_vectors: bad case (%s: %s)\n", err.param, err.reason);
        return 1;
    }
    printf("sample %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
           " %" PRIu64 " %" PRIu64 " %" PRIu64 " %d | %" PRIu64 " %" PRIu64 " %" PRIu64
           " %" PRIu64,
           sp.file_size, sp.size, sp.align, sp.n, sp.seed, sp.epoch, sp.rank, sp.world,
           sp.start, sp.replace ? 1 : 0, s.slots, s.shard_len, s.count, s.next);
    for (uint64_t i = 0; i < s.count; i++)
        printf(" %" PRIu64, sampler_offset(&s, i));
    printf("\n");
    return 0;
}

#define SPEC(f, s, a, n, seed, epoch, rank, world, start, repl)                                \
    ((struct sample_spec){f, s, a, n, seed, epoch, rank, world, start, repl})

int main(void)
{
    splitmix_line(0, 5);
    splitmix_line(1234567, 5);
    splitmix_line(UINT64_MAX, 3);
    derive_line(0, 0);
    derive_line(42, 7);
    derive_line(UINT64_MAX, UINT64_MAX);
    bounded_line(0, 10, 12);
    bounded_line(9, 1, 3);
    bounded_line(11, 1000003, 12);
    bounded_line(13, (UINT64_C(1) << 63) + 1, 12); /* rejects about half the draws */
    bounded_line(15, UINT64_MAX, 6);
    perm_line(1, 5, 1);
    perm_line(2, 5, 2);
    perm_line(7, 5, 7);
    perm_line(17, 99, 17);
    perm_line(1000, 123, 20);
    perm_line(UINT64_C(1) << 40, 7, 20);
    perm_line((UINT64_C(1) << 40) + 1, 7, 20);
    perm_line(UINT64_MAX, 8, 10);

    const uint64_t demo = 16777216, tib = UINT64_C(1) << 40;
    const struct sample_spec cases[] = {
        SPEC(demo, 64, 64, 8, 42, 0, 0, 1, 0, false),          /* the demo's records.bin */
        SPEC(demo, 64, 64, 8, 42, 1, 0, 1, 0, false),          /* next epoch */
        SPEC(demo, 64, 64, 8, 42, 0, 2, 3, 5, false),          /* rank 2 of 3, page 2 */
        SPEC(demo, 64, 64, 8, 42, 0, 2, 3, 5, true),           /* with replacement */
        SPEC(1000, 10, 3, 20, END, 7, 0, 1, 0, false),         /* align < size */
        SPEC(100, 10, 10, 4, 1, 0, 0, 1, 8, false),            /* short last page: end */
        SPEC(100, 10, 10, 3, 1, 0, 1, 4, 0, false),            /* shards of 3, 3, 2, 2 */
        SPEC(tib, 4096, 4096, 16, 123, 0, 5, 8, 1000000, false), /* 2^28 slots */
        SPEC(tib + 1, 1, 1, 16, 5, 2, 0, 1, 0, false),         /* 2^40 + 1 slots: walks */
        SPEC((UINT64_C(1) << 63) + 1, 1, 1, 16, 6, 0, 0, 1, 0, true), /* heavy rejection */
        SPEC(UINT64_MAX, 1, 1, 8, 3, 0, 0, 1, 0, false),       /* the largest file */
        SPEC(1000, 10, 10, 5, 77, 0, 0, 1, UINT64_MAX - 10, true), /* near the stream's end */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (sample_line(cases[i]))
            return 1;
    return 0;
}
