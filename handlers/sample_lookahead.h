/* sample_lookahead.h - /sample reads the next pages of a shard in before they are asked for.
 *
 * The order of a shard without replacement is a fixed function of the file, the parameters,
 * the seed and the epoch, so when a page has been worked out the following ones are known.
 * sample_lookahead_after() takes the `depth` pages that follow a page (by Sample-Next; after
 * the shard's last page, the first page of the next epoch) and, for each one not in the
 * table yet, reserves its bytes (n * size) against the total and the client's budget and
 * hands a background task to the prefetch helpers (prefetch_pool.h: they run it only when no
 * cold request waits, and it yields to those that come in between its batches). The task
 * checks every record's residency and gives MADV_WILLNEED over the cold ones; its entry then
 * holds the cold bytes it hinted (the budget is charged with those from then on).
 *
 * The request for a page takes its entry out of the table (sample_lookahead_claim()), which
 * gives its bytes back to the budgets; sample_lookahead_served() then counts it as a hit when
 * all its records were found resident, or as late when some were still being read. An entry
 * nobody claims within the expiry (LOOKAHEAD_EXPIRY_NS, after its hints were given) is
 * counted as wasted, with its cold bytes. Lookahead is dropped, and counted, when the
 * helpers' background lane is full ("busy") or a budget or the table is spent ("budget").
 *
 * The table has LOOKAHEAD_SLOTS entries under one mutex, open addressing over
 * LOOKAHEAD_PROBES slots (a page whose slots are all taken is dropped as "budget"). A claim
 * looks at those slots only, and takes no lock while the table is empty (a warm file); a
 * reservation also sums its client's entries, and the expiry sweep (at most once a second)
 * walks the table. Nothing here blocks on I/O. Pages are keyed by a 64-bit hash of the
 * file's ETag and the sampler's inputs (size, align, n, seed, epoch, rank, world, start).
 */
#ifndef MMAPD_SAMPLE_LOOKAHEAD_H
#define MMAPD_SAMPLE_LOOKAHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filedata/file_map.h"
#include "filedata/prefetch_pool.h"
#include "sampling/sampler.h"

#define SAMPLE_LOOKAHEAD_DEFAULT 0         /* --sample-lookahead: off (docs/sample.md: why) */
#define LOOKAHEAD_SLOTS 1024
#define LOOKAHEAD_PROBES 8                 /* slots a page may take, from its key on */
#define LOOKAHEAD_EXPIRY_NS 60000000000ull /* a page read ahead and not asked for: wasted */
#define LOOKAHEAD_BATCH 64                 /* records hinted between two yields */

struct metrics;
struct sample_lookahead;

struct sample_lookahead_config {
    unsigned depth;        /* --sample-lookahead: pages after each page; 0: off */
    uint64_t total_bytes;  /* --sample-lookahead-bytes: read ahead and not yet asked for */
    uint64_t client_bytes; /* --sample-lookahead-client-bytes: the same, per client address */
    uint64_t expiry_ns;    /* 0: LOOKAHEAD_EXPIRY_NS */
};

/* NULL when out of memory. Needs the pool (not NULL) for as long as it lives: destroy the
 * pool first. */
struct sample_lookahead *sample_lookahead_create(const struct sample_lookahead_config *cfg,
                                                 struct prefetch_pool *pool,
                                                 struct metrics *metrics, size_t window);
void sample_lookahead_destroy(struct sample_lookahead *la);
unsigned sample_lookahead_depth(const struct sample_lookahead *la);

/* The key of the page that `spec` asks for, of the file whose ETag is `etag`. */
uint64_t sample_lookahead_key(const char *etag, const struct sample_spec *spec);

enum lookahead_claim {
    LOOKAHEAD_NONE,      /* the page was not read ahead */
    LOOKAHEAD_PENDING,   /* its task had not finished */
    LOOKAHEAD_COLD,      /* it was read ahead: some of its records were cold */
    LOOKAHEAD_RESIDENT,  /* it was checked ahead and found resident: nothing to read */
};

/* Takes the page's entry out of the table, if any. */
enum lookahead_claim sample_lookahead_claim(struct sample_lookahead *la, uint64_t key);
/* The claimed page was served: `all_resident` when none of its records was found missing. */
void sample_lookahead_served(struct sample_lookahead *la, enum lookahead_claim c,
                             bool all_resident);

/* After the page `spec` / `s` (its sampler, prepared) of the file `m` (a reference stays the
 * caller's) was answered: reads ahead up to `depth` following pages for `client` (a hash of
 * its address). Without replacement only. */
void sample_lookahead_after(struct sample_lookahead *la, struct mapped_file *m,
                            const struct sample_spec *spec, const struct sampler *s,
                            unsigned depth, uint64_t client);

struct sample_lookahead_stats {
    uint64_t pages, bytes;               /* read ahead: with cold records, their bytes */
    uint64_t hits;                       /* claimed pages found all resident */
    uint64_t late;                       /* claimed pages read ahead, still partly cold */
    uint64_t wasted_pages, wasted_bytes; /* read ahead, never asked for within the expiry */
    uint64_t dropped_busy, dropped_budget;
    uint64_t outstanding_bytes;          /* reserved now: read ahead, not yet asked for */
};
/* Counts entries past their expiry as wasted first. */
void sample_lookahead_stats(struct sample_lookahead *la, struct sample_lookahead_stats *st);

#endif
