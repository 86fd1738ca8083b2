/* advice_auto.h - the `auto` advice: whether a cold request of a class gets WILLNEED hints,
 * chosen by what cold requests of that class measurably cost on this device with and without
 * them.
 *
 * Why: whether WILLNEED pays depends on the kernel and the device, not only on the request. On
 * kernel 6.18 in a 2-vCPU VM a WILLNEED hint reads into single-page folios and made a cold
 * 1 GiB download take twice as long as the kernel's own read-ahead; on another disk the two
 * were level; for many small spans the hints are what keeps the device's queue deep (3x). So
 * a class with `auto` in its advice list has two arms, WILLNEED on and off, and keeps
 * measuring both:
 *   - advice_auto_pick() gives a cold request its arm: the arms alternate until each has
 *     ADVICE_AUTO_WARMUP costs (starting with `first`, the arm measured best where mmapd was
 *     developed); then the arm with the lower average serves, and every ADVICE_AUTO_EXPLORE-th
 *     cold request of the class runs under the other one (every ADVICE_AUTO_EXPLORE_FAR-th
 *     while it costs more than twice as much), so a change of device or load is noticed;
 *   - advice_auto_record() takes a cold request's cost when it completes: wall time per MiB
 *     sent (requests under ADVICE_AUTO_MIN_BYTES are not counted); a long cold stream gives
 *     one cost per segment instead, each segment under its own pick (FILE_BODY_SEGMENT,
 *     handlers/file_body.c). Averages are exponentially weighted, the newest cost counting
 *     ADVICE_AUTO_WEIGHT;
 *   - when the two averages are within ADVICE_AUTO_MARGIN of each other, the arm without
 *     WILLNEED serves: it makes fewer system calls, and a device too fast to tell the arms
 *     apart gains nothing from them;
 *   - a cold request of the random class with more than ADVICE_AUTO_RANDOM_EXPLORE_MAX cold
 *     bytes never explores: it takes the serving arm (the first during the warm-up, without
 *     counting as one of its requests). Without WILLNEED such a request reads its records one
 *     page fault at a time (MADV_RANDOM), so trying that arm on a /sample page of 64 MiB cost
 *     1.5 s here; smaller requests measure it at a bounded price.
 * advice_auto_read() reports a class's figures (for /metrics and the log line that says why
 * the serving arm changed). Thread safe: one mutex per class, taken by cold requests only.
 */
#ifndef MMAPD_ADVICE_AUTO_H
#define MMAPD_ADVICE_AUTO_H

#include <stdbool.h>
#include <stdint.h>

#include "filedata/advice.h"

#define ADVICE_AUTO_WARMUP 3
#define ADVICE_AUTO_EXPLORE 16
#define ADVICE_AUTO_EXPLORE_FAR 64
#define ADVICE_AUTO_MARGIN 0.10
#define ADVICE_AUTO_WEIGHT 0.25
#define ADVICE_AUTO_MIN_BYTES (64u << 10)
#define ADVICE_AUTO_RANDOM_EXPLORE_MAX (1u << 20)
/* The arm each class starts with, in enum access_class order (stream, random, range): what
 * measured best where mmapd was developed (docs/operating.md, Hints). */
#define ADVICE_AUTO_FIRST {false, true, true}

struct advice_auto;

/* first[c]: the arm (true: WILLNEED) class c starts with. NULL when out of memory. */
struct advice_auto *advice_auto_create(const bool first[ACCESS_CLASS_COUNT]);
void advice_auto_destroy(struct advice_auto *a);

/* Whether this cold request of class c, with `cold_bytes` found missing, gives WILLNEED. */
bool advice_auto_pick(struct advice_auto *a, enum access_class c, uint64_t cold_bytes);

/* A cold request of class c that ran under `willneed` completed after `ns`, having sent
 * `bytes` body bytes. */
void advice_auto_record(struct advice_auto *a, enum access_class c, bool willneed, uint64_t ns,
                        uint64_t bytes);

struct advice_auto_state {
    double cost[2];     /* [willneed]: average ns per MiB, 0 before the first cost */
    uint64_t costs[2];  /* [willneed]: costs taken */
    bool settled;       /* the warm-up is over: the averages decide */
    bool serving;       /* the arm that serves (true: WILLNEED) */
    uint64_t changes;   /* times the serving arm changed */
};

void advice_auto_read(struct advice_auto *a, enum access_class c, struct advice_auto_state *out);

#endif
