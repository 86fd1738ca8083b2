/* advice.c - parse the advice policy and turn it into counted madvise calls. */
#include "filedata/advice.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "filedata/page_size.h"
#include "metrics/metrics.h"

_Static_assert(ACCESS_CLASS_COUNT == METRICS_ADVICE_CLASSES,
               "metrics.h counts the access classes of advice.h");
_Static_assert(ADVICE_COUNT == METRICS_ADVICE_KINDS, "metrics.h counts the advice of advice.h");

/* The names are the label values of the metrics (metrics.h), in the order of the enums. */
static const char *const *const class_names = metrics_class_names;
static const char *const *const advice_names = metrics_advice_names;
static const int advice_values[ADVICE_COUNT] = {MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM,
                                                MADV_WILLNEED, MADV_DONTNEED};
#define MAPPING_WIDE ((1u << ADVICE_NORMAL) | (1u << ADVICE_SEQUENTIAL) | (1u << ADVICE_RANDOM))

const char *access_class_name(enum access_class c) { return class_names[c]; }
const char *advice_name(enum advice a) { return advice_names[a]; }

void advice_policy_defaults(struct advice_policy *p)
{
    p->mask[ACCESS_STREAM] = 1u << ADVICE_SEQUENTIAL;
    p->mask[ACCESS_RANDOM] = 1u << ADVICE_RANDOM;
    p->mask[ACCESS_RANGE] = 0;
    for (int c = 0; c < ACCESS_CLASS_COUNT; c++)
        p->automatic[c] = true;
}

static int lookup(const char *const *names, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && strncmp(names[i], s, len) == 0)
            return i;
    return -1;
}

bool advice_policy_set(struct advice_policy *p, const char *spec, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    if (!eq) {
        snprintf(err, errlen, "'%s' is not CLASS=LIST (classes: stream, range, random)", spec);
        return false;
    }
    int c = lookup(class_names, ACCESS_CLASS_COUNT, spec, (size_t)(eq - spec));
    if (c < 0) {
        snprintf(err, errlen, "unknown access class '%.*s' (classes: stream, range, random)",
                 (int)(eq - spec), spec);
        return false;
    }
    unsigned mask = 0;
    bool none = false, automatic = false;
    const char *item = eq + 1;
    for (;;) {
        const char *comma = strchr(item, ',');
        size_t len = comma ? (size_t)(comma - item) : strlen(item);
        int a = lookup(advice_names, ADVICE_COUNT, item, len);
        if (len == 4 && strncmp(item, "none", 4) == 0) {
            none = true;
        } else if (len == 4 && strncmp(item, "auto", 4) == 0) {
            automatic = true;
        } else if (a < 0) {
            snprintf(err, errlen,
                     "unknown advice '%.*s' (none, normal, sequential, random, willneed, "
                     "dontneed, auto)",
                     (int)len, item);
            return false;
        } else {
            mask |= 1u << a;
        }
        if (!comma)
            break;
        item = comma + 1;
    }
    if (none && (mask || automatic)) {
        snprintf(err, errlen, "'none' cannot be combined with other advice in '%s'", spec);
        return false;
    }
    if (automatic && (mask & (1u << ADVICE_WILLNEED))) {
        snprintf(err, errlen, "'auto' decides willneed: not both in '%s'", spec);
        return false;
    }
    if (__builtin_popcount(mask & MAPPING_WIDE) > 1) {
        snprintf(err, errlen, "at most one of normal, sequential, random in '%s'", spec);
        return false;
    }
    if (c == ACCESS_RANGE && (mask & ~(1u << ADVICE_WILLNEED))) {
        snprintf(err, errlen,
                 "class range takes willneed, auto or none, not '%s' (its bodies are read with "
                 "pread, not from a mapping)",
                 eq + 1);
        return false;
    }
    p->mask[c] = mask;
    p->automatic[c] = automatic;
    return true;
}

void advice_policy_format(const struct advice_policy *p, enum access_class c, char *out,
                          size_t outsz)
{
    size_t n = 0;
    out[0] = '\0';
    for (int a = 0; a < ADVICE_COUNT; a++)
        if (p->mask[c] & (1u << a)) {
            int w = snprintf(out + n, outsz - n, "%s%s", n ? "," : "", advice_names[a]);
            if (w < 0 || (size_t)w >= outsz - n)
                return;
            n += (size_t)w;
        }
    if (p->automatic[c])
        snprintf(out + n, outsz - n, "%sauto", n ? "," : "");
    else if (n == 0)
        snprintf(out, outsz, "none");
}

static void counted_madvise(struct metrics *m, enum access_class c, enum advice a, void *addr,
                            size_t len)
{
    metrics_madvise(m, c, a, madvise(addr, len, advice_values[a]) == 0);
}

void advice_on_map(const struct advice_policy *p, struct metrics *m, enum access_class c,
                   void *base, size_t len)
{
    if (len == 0)
        return;
    for (int a = ADVICE_NORMAL; a <= ADVICE_RANDOM; a++)
        if (p->mask[c] & (1u << a))
            counted_madvise(m, c, (enum advice)a, base, len);
}

void advice_dontneed(const struct advice_policy *p, struct metrics *m, enum access_class c,
                     const void *base, uint64_t off, uint64_t len)
{
    uint64_t page = page_size(), lo = off - off % page, hi = (off + len) - (off + len) % page;
    if (advice_wants(p, c, ADVICE_DONTNEED) && hi > lo)
        counted_madvise(m, c, ADVICE_DONTNEED, (void *)((const unsigned char *)base + lo),
                        (size_t)(hi - lo));
}

struct willneed_target {
    struct metrics *m;
    enum access_class c;
    const unsigned char *base; /* a mapping, or NULL: */
    int fd;                    /* ... the file's descriptor */
};

/* The WILLNEED windows over [off, off+len): at most ADVICE_PREFETCH_WINDOWS of `window` bytes,
 * from the page that holds off, each given to the mapping or the descriptor and counted. */
static void willneed_windows(const struct willneed_target *t, uint64_t off, uint64_t len,
                             size_t window)
{
    if (len == 0)
        return;
    uint64_t page = page_size();
    uint64_t start = off - off % page, end = off + len;
    if (window < page)
        window = (size_t)page;
    for (int i = 0; i < ADVICE_PREFETCH_WINDOWS && start < end; i++) {
        size_t chunk = (size_t)(end - start < window ? end - start : window);
        if (t->base)
            counted_madvise(t->m, t->c, ADVICE_WILLNEED, (void *)(t->base + start), chunk);
        else
            metrics_madvise(t->m, t->c, ADVICE_WILLNEED,
                            posix_fadvise(t->fd, (off_t)start, (off_t)chunk,
                                          POSIX_FADV_WILLNEED) == 0);
        start += chunk;
    }
}

void advice_willneed(struct metrics *m, enum access_class c, const void *base, uint64_t off,
                     uint64_t len, size_t window)
{
    struct willneed_target t = {m, c, base, -1};
    willneed_windows(&t, off, len, window);
}

void advice_willneed_fd(struct metrics *m, enum access_class c, int fd, uint64_t off,
                        uint64_t len, size_t window)
{
    struct willneed_target t = {m, c, NULL, fd};
    willneed_windows(&t, off, len, window);
}
