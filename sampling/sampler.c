/* sampler.c - slots, keys, round-robin shards and pages over the epoch's stream. */
#include "sampling/sampler.h"

#include <string.h>

#include "sampling/prng.h"

static enum sample_status fail(struct query_error *err, enum sample_status st,
                               const char *param, const char *reason)
{
    query_error_set(err, param, strlen(param), reason);
    return st;
}

enum sample_status sampler_init(struct sampler *s, const struct sample_spec *spec,
                                struct query_error *err)
{
    if (spec->n == 0)
        return fail(err, SAMPLE_ZERO, "n", "must be > 0");
    if (spec->size == 0)
        return fail(err, SAMPLE_ZERO, "size", "must be > 0");
    if (spec->align == 0)
        return fail(err, SAMPLE_ZERO, "align", "must be > 0");
    if (spec->world == 0)
        return fail(err, SAMPLE_ZERO, "world", "must be > 0");
    if (spec->rank >= spec->world)
        return fail(err, SAMPLE_RANK_RANGE, "rank", "must be < world");
    if (spec->size > spec->file_size)
        return fail(err, SAMPLE_SIZE_EXCEEDS_FILE, "size", "larger than the file");

    memset(s, 0, sizeof *s);
    s->slots = (spec->file_size - spec->size) / spec->align + 1;
    s->align = spec->align;
    s->rank = spec->rank;
    s->world = spec->world;
    s->start = spec->start;
    s->replace = spec->replace;

    if (!spec->replace) {
        if (spec->n > s->slots)
            return fail(err, SAMPLE_N_EXCEEDS_SLOTS, "n",
                        "more than the distinct records in the file (replace=1 allows it)");
        s->shard_len = s->rank < s->slots ? (s->slots - s->rank - 1) / s->world + 1 : 0;
        if (spec->start > s->shard_len)
            return fail(err, SAMPLE_START_BEYOND_SHARD, "start",
                        "beyond the end of this rank's shard");
        uint64_t left = s->shard_len - spec->start;
        s->count = spec->n < left ? spec->n : left;
        s->next = s->count < left ? spec->start + s->count : SAMPLE_END;
        uint64_t order_key =
            prng_derive(prng_derive(spec->seed, SAMPLER_TAG_ORDER), spec->epoch);
        permutation_init(&s->order, s->slots, order_key);
        return SAMPLE_OK;
    }

    /* with replacement: the last usable record index k keeps k*W + R <= 2^64 - 2 */
    uint64_t kmax = (UINT64_MAX - 1 - s->rank) / s->world;
    if (spec->start > kmax || spec->n - 1 > kmax - spec->start)
        return fail(err, SAMPLE_START_TOO_LARGE, "start", "too large");
    s->shard_len = SAMPLE_END;
    s->count = spec->n;
    s->next = spec->n - 1 < kmax - spec->start ? spec->start + spec->n : SAMPLE_END;
    s->draw_key = prng_derive(prng_derive(spec->seed, SAMPLER_TAG_DRAW), spec->epoch);
    return SAMPLE_OK;
}

uint64_t sampler_stream_slot(const struct sampler *s, uint64_t j)
{
    if (!s->replace)
        return permutation_at(&s->order, j);
    struct splitmix64 g;
    splitmix64_seed(&g, prng_derive(s->draw_key, j));
    return prng_bounded(&g, s->slots);
}

uint64_t sampler_slot(const struct sampler *s, uint64_t i)
{
    return sampler_stream_slot(s, (s->start + i) * s->world + s->rank);
}

size_t sampler_offsets(const struct sampler *s, uint64_t *out, size_t cap)
{
    size_t m = s->count < cap ? (size_t)s->count : cap;
    for (size_t i = 0; i < m; i++)
        out[i] = sampler_offset(s, i);
    return m;
}
