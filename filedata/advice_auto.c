/* advice_auto.c - two arms per class (WILLNEED off, on), measured on cold requests. */
#include "filedata/advice_auto.h"

#include <pthread.h>
#include <stdlib.h>

struct arms {
    pthread_mutex_t lock;
    double cost[2];
    uint64_t costs[2];
    uint64_t picked[2]; /* picks during the warm-up, to alternate */
    uint64_t since;     /* picks since the warm-up, to explore every so often */
    bool first, serving;
    uint64_t changes;
};

struct advice_auto {
    struct arms cls[ACCESS_CLASS_COUNT];
};

struct advice_auto *advice_auto_create(const bool first[ACCESS_CLASS_COUNT])
{
    struct advice_auto *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    for (int c = 0; c < ACCESS_CLASS_COUNT; c++) {
        pthread_mutex_init(&a->cls[c].lock, NULL);
        a->cls[c].first = a->cls[c].serving = first[c];
    }
    return a;
}

void advice_auto_destroy(struct advice_auto *a)
{
    if (!a)
        return;
    for (int c = 0; c < ACCESS_CLASS_COUNT; c++)
        pthread_mutex_destroy(&a->cls[c].lock);
    free(a);
}

static bool warmed_up(const struct arms *s)
{
    return s->costs[0] >= ADVICE_AUTO_WARMUP && s->costs[1] >= ADVICE_AUTO_WARMUP;
}

bool advice_auto_pick(struct advice_auto *a, enum access_class c, uint64_t cold_bytes)
{
    struct arms *s = &a->cls[c];
    bool arm;
    pthread_mutex_lock(&s->lock);
    if (c == ACCESS_RANDOM && cold_bytes > ADVICE_AUTO_RANDOM_EXPLORE_MAX) {
        arm = warmed_up(s) ? s->serving : s->first; /* too large to explore */
    } else if (!warmed_up(s)) { /* alternate, the first arm on a tie */
        arm = s->picked[!s->first] < s->picked[s->first] ? !s->first : s->first;
        s->picked[arm]++;
    } else {
        bool far = s->cost[!s->serving] > 2 * s->cost[s->serving];
        uint64_t period = far ? ADVICE_AUTO_EXPLORE_FAR : ADVICE_AUTO_EXPLORE;
        arm = ++s->since % period == 0 ? !s->serving : s->serving;
    }
    pthread_mutex_unlock(&s->lock);
    return arm;
}

void advice_auto_record(struct advice_auto *a, enum access_class c, bool willneed, uint64_t ns,
                        uint64_t bytes)
{
    if (bytes < ADVICE_AUTO_MIN_BYTES)
        return;
    struct arms *s = &a->cls[c];
    double x = (double)ns / ((double)bytes / (1 << 20));
    pthread_mutex_lock(&s->lock);
    double *avg = &s->cost[willneed];
    *avg = s->costs[willneed] ? *avg + ADVICE_AUTO_WEIGHT * (x - *avg) : x;
    s->costs[willneed]++;
    if (warmed_up(s)) {
        /* WILLNEED serves only when it is cheaper by more than the margin */
        bool on = s->cost[1] < s->cost[0] * (1 - ADVICE_AUTO_MARGIN);
        if (on != s->serving) {
            s->serving = on;
            s->changes++;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

void advice_auto_read(struct advice_auto *a, enum access_class c, struct advice_auto_state *out)
{
    struct arms *s = &a->cls[c];
    pthread_mutex_lock(&s->lock);
    *out = (struct advice_auto_state){{s->cost[0], s->cost[1]}, {s->costs[0], s->costs[1]},
                                      warmed_up(s), s->serving, s->changes};
    pthread_mutex_unlock(&s->lock);
}
