/* sampler.h - which records a /sample request returns, and in what order (pure, no I/O).
 *
 * Records and slots. A file of F bytes holds records of S bytes at offsets that are multiples
 * of A. Slot i is the record at offset i*A, for i in [0, slots), where
 *     slots = floor((F - S) / A) + 1          when 1 <= S <= F (S > F is an error)
 * so every record lies wholly inside the file. A < S (overlapping records) is allowed.
 *
 * Keys (prng.h defines prng_derive, SplitMix64 and prng_bounded):
 *     order_key = prng_derive(prng_derive(seed, SAMPLER_TAG_ORDER), epoch)     tag 1
 *     draw_key  = prng_derive(prng_derive(seed, SAMPLER_TAG_DRAW),  epoch)     tag 2
 *
 * The epoch's stream. Each (seed, epoch) defines a sequence of slots indexed by position j:
 *   without replacement (replace=0): slot(j) = P(j) for j in [0, slots), where P is the
 *     permutation of [0, slots) keyed by order_key (permutation.h: Feistel + cycle-walking).
 *     Every slot appears exactly once per epoch; another epoch is another permutation.
 *   with replacement (replace=1): slot(j) = prng_bounded(g_j, slots), where g_j is a
 *     SplitMix64 generator seeded with prng_derive(draw_key, j): independent uniform draws,
 *     each computed on its own (seekable), for every j in [0, 2^64 - 1).
 *
 * Shards. Rank R of W takes the positions j with j % W == R, round-robin: its k-th record
 * (k = 0, 1, ...) is position j = k*W + R. This is PyTorch DistributedSampler's split
 * (indices[rank::world]) without its padding: shard sizes differ by at most one, W ranks that
 * each read their first k records have together read exactly the epoch's first k*W positions
 * (so progress stays balanced and a stopped epoch is a prefix), and a shard needs no slot
 * count to be computed before its first record. Without replacement the shard length is
 *     shard_len = ceil((slots - R) / W) = (slots - R - 1) / W + 1     when R < slots, else 0.
 * With replacement shards are disjoint in positions (never the same draw twice), unbounded.
 *
 * Pages. A request's page is shard records k = start .. start+count-1, in that order, where
 * count = min(N, shard_len - start) (so only the last page of a shard is short, and a page
 * at start == shard_len is empty). `next` is start + count, or SAMPLE_END when nothing
 * follows (the handler's Sample-Next: "end"). Pages that follow each other by `next`
 * concatenate to the whole shard. With replacement count = N and next = start + N, until the
 * position k*W + R would pass 2^64 - 2.
 *
 * Validation, in this order, each naming the query parameter (struct query_error):
 *   n, size, align, world == 0          SAMPLE_ZERO                "must be > 0"
 *   rank >= world                       SAMPLE_RANK_RANGE          "must be < world"
 *   size > file_size (any size when F = 0)  SAMPLE_SIZE_EXCEEDS_FILE "larger than the file"
 *   replace=0 and n > slots             SAMPLE_N_EXCEEDS_SLOTS     (param n)
 *   replace=0 and start > shard_len     SAMPLE_START_BEYOND_SHARD  (param start)
 *   replace=1 and (start + n - 1)*W + R >= 2^64 - 1   SAMPLE_START_TOO_LARGE (param start)
 */
#ifndef MMAPD_SAMPLER_H
#define MMAPD_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/query.h"
#include "sampling/permutation.h"

#define SAMPLER_TAG_ORDER UINT64_C(1)
#define SAMPLER_TAG_DRAW UINT64_C(2)
#define SAMPLE_END UINT64_MAX /* "no following page" */

struct sample_spec {
    uint64_t file_size; /* F */
    uint64_t size;      /* S: bytes per record */
    uint64_t align;     /* A: offsets are multiples of A (the query's default is S) */
    uint64_t n;         /* N: records asked for */
    uint64_t seed;
    uint64_t epoch;
    uint64_t rank;      /* R < W; 0 of 1 when not sharded */
    uint64_t world;     /* W */
    uint64_t start;     /* the page's first record, counted within the shard */
    bool replace;
};

enum sample_status {
    SAMPLE_OK,
    SAMPLE_ZERO,
    SAMPLE_RANK_RANGE,
    SAMPLE_SIZE_EXCEEDS_FILE,
    SAMPLE_N_EXCEEDS_SLOTS,
    SAMPLE_START_BEYOND_SHARD,
    SAMPLE_START_TOO_LARGE,
};

struct sampler {
    uint64_t slots;     /* distinct record slots in the file */
    uint64_t shard_len; /* records in this rank's shard per epoch; SAMPLE_END with replace=1 */
    uint64_t count;     /* records in this page (<= n) */
    uint64_t next;      /* the following page's start, or SAMPLE_END */
    /* private: read by sampler_slot() */
    uint64_t align, rank, world, start, draw_key;
    bool replace;
    struct permutation order;
};

/* Validates `spec` and prepares the page. SAMPLE_OK fills `s`; any other status fills `err`
 * (when not NULL) and leaves `s` unspecified. O(1) time and memory. */
enum sample_status sampler_init(struct sampler *s, const struct sample_spec *spec,
                                struct query_error *err);

/* The slot of the page's i-th record, i < s->count (expected O(1): < 4 Feistel passes on
 * average without replacement, about one SplitMix64 draw with it). Thread-safe. */
uint64_t sampler_slot(const struct sampler *s, uint64_t i);

/* Its byte offset: slot * A; the record is [offset, offset + S) inside the file. */
static inline uint64_t sampler_offset(const struct sampler *s, uint64_t i)
{
    return sampler_slot(s, i) * s->align;
}

/* Writes the offsets of the page's first min(count, cap) records to `out`, in page order;
 * returns how many it wrote. */
size_t sampler_offsets(const struct sampler *s, uint64_t *out, size_t cap);

/* The slot at position j of the epoch's stream (see above), for a prepared sampler; the
 * shards and pages are views of it. j must be < slots without replacement. */
uint64_t sampler_stream_slot(const struct sampler *s, uint64_t j);

#endif
