/* advice.h - the madvise policy: which hints each access class gets, and applying them.
 *
 * A policy maps each access class to a set of advice names. The class follows the shape of
 * the read, not only the endpoint:
 *   - stream: a /files body streamed from the mapping (longer than FILE_BODY_COPY_MAX, 1 MiB);
 *   - range:  a /files body read at once with pread (up to 1 MiB: small files, ranges, the
 *             spans of a multi-range answer); it takes willneed (posix_fadvise on every span
 *             before the reads, one deep queue) or nothing, since no mapping is read;
 *   - random: /sample's records, from their own mapping.
 * Advice: at most one of normal/sequential/random (applied to the class's mapping when it is
 * created), plus willneed (on the requested span before sending, when it is cold, in
 * windows of at most read_ahead_kb, never more than ADVICE_PREFETCH_WINDOWS windows per
 * call) and dontneed (on what was read, once it was copied). "none" is the empty set.
 * `auto` (instead of willneed) lets the measurements of advice_auto.h decide, per cold
 * request, whether WILLNEED is given: the default of every class.
 * advice_policy_set() parses "CLASS=LIST" and returns false with a message for bad input.
 * Applying never fails a request: each madvise call is counted in the metrics as ok/error.
 */
#ifndef MMAPD_ADVICE_H
#define MMAPD_ADVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum access_class { ACCESS_STREAM, ACCESS_RANDOM, ACCESS_RANGE, ACCESS_CLASS_COUNT };

enum advice {
    ADVICE_NORMAL,
    ADVICE_SEQUENTIAL,
    ADVICE_RANDOM,
    ADVICE_WILLNEED,
    ADVICE_DONTNEED,
    ADVICE_COUNT
};

#define ADVICE_PREFETCH_WINDOWS 4

struct advice_policy {
    unsigned mask[ACCESS_CLASS_COUNT]; /* bit (1u << enum advice) */
    bool automatic[ACCESS_CLASS_COUNT]; /* `auto`: WILLNEED or not, as measured (advice_auto.h) */
};

struct metrics;

const char *access_class_name(enum access_class c);
const char *advice_name(enum advice a);

void advice_policy_defaults(struct advice_policy *p);
bool advice_policy_set(struct advice_policy *p, const char *spec, char *err, size_t errlen);
/* Writes "sequential,willneed" (or "none") for class c. */
void advice_policy_format(const struct advice_policy *p, enum access_class c, char *out,
                          size_t outsz);

static inline bool advice_wants(const struct advice_policy *p, enum access_class c, enum advice a)
{
    return (p->mask[c] & (1u << a)) != 0;
}

/* Whether a cold request of class c may give WILLNEED hints: `willneed` or `auto`. */
static inline bool advice_may_willneed(const struct advice_policy *p, enum access_class c)
{
    return advice_wants(p, c, ADVICE_WILLNEED) || p->automatic[c];
}

/* Mapping-wide advice (normal/sequential/random) on a fresh mapping of class c. */
void advice_on_map(const struct advice_policy *p, struct metrics *m, enum access_class c,
                   void *base, size_t len);

/* WILLNEED over [off, off+len) of a mapping (the caller found it cold and decided that its
 * request gives the hint: request_willneed()): windows of `window` bytes, at most
 * ADVICE_PREFETCH_WINDOWS of them. */
void advice_willneed(struct metrics *m, enum access_class c, const void *base, uint64_t off,
                     uint64_t len, size_t window);

/* The same WILLNEED windows over [off, off+len) of the file open as `fd`, given with
 * posix_fadvise(2) (the same read-ahead, without a mapping); counted as `willneed`. */
void advice_willneed_fd(struct metrics *m, enum access_class c, int fd, uint64_t off,
                        uint64_t len, size_t window);

/* DONTNEED over the whole pages of [off, off+len) that were just read (the partial page at
 * the end stays): drops this process's page table entries, the page cache keeps the data.
 * Does nothing unless the policy has it. */
void advice_dontneed(const struct advice_policy *p, struct metrics *m, enum access_class c,
                     const void *base, uint64_t off, uint64_t len);

#endif
