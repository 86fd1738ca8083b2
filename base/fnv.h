/* fnv.h - FNV-1a, the 64-bit hash of bytes that the file cache, the per-address table and
 * the multipart boundary use: fnv1a(FNV1A_START, p, n), chained by passing the last value
 * as `h`. Not a keyed hash: a caller that must resist chosen inputs starts from a secret and
 * mixes the result (access/ip_table.c). */
#ifndef MMAPD_FNV_H
#define MMAPD_FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_START 0xcbf29ce484222325ull

uint64_t fnv1a(uint64_t h, const void *p, size_t n);
/* The 8 bytes of `v`, least significant first. */
uint64_t fnv1a_u64(uint64_t h, uint64_t v);

#endif
