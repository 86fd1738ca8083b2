/* ip_table.c - per-address connection counts: fixed arrays, chained buckets, a free list. */
#include "access/ip_table.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/fnv.h"

#define NONE UINT32_MAX

struct entry {
    struct ip_key key;
    struct ip_counts counts;
    uint32_t next; /* the next entry of the bucket, or of the free list */
};

struct ip_table {
    struct entry *entries;
    uint32_t *buckets; /* first entry of each bucket, or NONE */
    uint32_t mask;     /* buckets - 1 (a power of two minus one) */
    uint32_t free;     /* first free entry, or NONE */
    uint32_t size;
    uint64_t seed;
};

bool ip_key_from_sockaddr(const struct sockaddr *addr, socklen_t addrlen, struct ip_key *out)
{
    static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(out, 0, sizeof *out);
    if (!addr)
        return false;
    if (addr->sa_family == AF_INET && addrlen >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;
        out->len = 4;
        memcpy(out->bytes, &in->sin_addr, 4);
        return true;
    }
    if (addr->sa_family == AF_INET6 && addrlen >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;
        const unsigned char *b = in6->sin6_addr.s6_addr;
        if (memcmp(b, v4_mapped, sizeof v4_mapped) == 0) {
            out->len = 4;
            memcpy(out->bytes, b + 12, 4);
        } else {
            out->len = 16;
            memcpy(out->bytes, b, 16);
        }
        return true;
    }
    return false;
}

static uint64_t random_seed(const void *salt)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
        return seed;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)salt;
}

struct ip_table *ip_table_create(uint32_t capacity)
{
    if (capacity == 0 || capacity > UINT32_MAX / 2)
        return NULL;
    uint32_t nbuckets = 1;
    while (nbuckets < capacity)
        nbuckets <<= 1;
    struct ip_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->entries = calloc(capacity, sizeof *t->entries);
    t->buckets = malloc((size_t)nbuckets * sizeof *t->buckets);
    if (!t->entries || !t->buckets) {
        ip_table_destroy(t);
        return NULL;
    }
    for (uint32_t i = 0; i < nbuckets; i++)
        t->buckets[i] = NONE;
    for (uint32_t i = 0; i < capacity; i++)
        t->entries[i].next = i + 1 < capacity ? i + 1 : NONE;
    t->free = 0;
    t->mask = nbuckets - 1;
    t->seed = random_seed(t);
    return t;
}

void ip_table_destroy(struct ip_table *t)
{
    if (!t)
        return;
    free(t->entries);
    free(t->buckets);
    free(t);
}

/* FNV-1a from a secret start, then a final mix: clients cannot aim at one bucket. */
static uint32_t bucket_of(const struct ip_table *t, const struct ip_key *key)
{
    uint64_t h = fnv1a(FNV1A_START ^ t->seed, key->bytes, key->len);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    return (uint32_t)h & t->mask;
}

static bool same(const struct ip_key *a, const struct ip_key *b)
{
    return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

struct ip_counts *ip_table_find(struct ip_table *t, const struct ip_key *key)
{
    for (uint32_t i = t->buckets[bucket_of(t, key)]; i != NONE; i = t->entries[i].next)
        if (same(&t->entries[i].key, key))
            return &t->entries[i].counts;
    return NULL;
}

struct ip_counts *ip_table_get(struct ip_table *t, const struct ip_key *key)
{
    struct ip_counts *c = ip_table_find(t, key);
    if (c || t->free == NONE)
        return c;
    uint32_t i = t->free, b = bucket_of(t, key);
    struct entry *e = &t->entries[i];
    t->free = e->next;
    e->key = *key;
    e->counts = (struct ip_counts){0, 0};
    e->next = t->buckets[b];
    t->buckets[b] = i;
    t->size++;
    return &e->counts;
}

void ip_table_drop_if_idle(struct ip_table *t, const struct ip_key *key)
{
    uint32_t *link = &t->buckets[bucket_of(t, key)];
    for (uint32_t i = *link; i != NONE; link = &t->entries[i].next, i = *link) {
        struct entry *e = &t->entries[i];
        if (!same(&e->key, key))
            continue;
        if (e->counts.served || e->counts.excess)
            return;
        *link = e->next;
        e->next = t->free;
        t->free = i;
        t->size--;
        return;
    }
}

uint32_t ip_table_size(const struct ip_table *t) { return t->size; }
