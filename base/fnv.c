/* fnv.c - FNV-1a over bytes. */
#include "base/fnv.h"

#define FNV1A_PRIME 0x100000001b3ull

uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * FNV1A_PRIME;
    return h;
}

uint64_t fnv1a_u64(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        h = (h ^ (v & 0xff)) * FNV1A_PRIME;
    return h;
}
