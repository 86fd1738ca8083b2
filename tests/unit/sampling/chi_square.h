/* chi_square.h - Pearson's chi-square statistic against a uniform distribution, for the
 * unit tests (header-only; included by test_prng.c, test_permutation.c, test_sampler.c).
 *
 * chi_square_uniform(counts, k) = sum over the k cells of (count - E)^2 / E, E = total / k.
 * Under uniformity it follows a chi-square law with k - 1 degrees of freedom; the tests
 * compare it with the p = 0.001 critical value of that law (CHI2_CRIT_*, from the exact
 * regularised incomplete gamma function). Every test uses a fixed seed, so a pass or a fail
 * is reproducible, never a flake.
 */
#ifndef MMAPD_TEST_CHI_SQUARE_H
#define MMAPD_TEST_CHI_SQUARE_H

#include <stddef.h>
#include <stdint.h>

/* p = 0.001 upper critical values by degrees of freedom */
#define CHI2_CRIT_DF2 13.816
#define CHI2_CRIT_DF9 27.877
#define CHI2_CRIT_DF15 37.697
#define CHI2_CRIT_DF49 85.351
#define CHI2_CRIT_DF63 103.442
#define CHI2_CRIT_DF99 148.230

static inline double chi_square_uniform(const uint64_t *counts, size_t k)
{
    double total = 0;
    for (size_t i = 0; i < k; i++)
        total += (double)counts[i];
    double expected = total / (double)k, stat = 0;
    for (size_t i = 0; i < k; i++) {
        double d = (double)counts[i] - expected;
        stat += d * d / expected;
    }
    return stat;
}

#endif
