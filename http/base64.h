/* base64.h - RFC 4648 base64 (standard alphabet, '=' padding) encoding (pure, no I/O).
 *
 * base64_encode() writes the encoding of `len` bytes of `src` to `dst`: exactly
 * base64_encoded_len(len) = 4 * ceil(len / 3) characters, no line breaks, no terminator; the
 * last group is padded with '=' when len is not a multiple of 3. It returns that length.
 * Encoding a 3-byte-aligned prefix and the rest separately gives the same text as encoding
 * the whole, which is what lets a body be produced in blocks.
 */
#ifndef MMAPD_BASE64_H
#define MMAPD_BASE64_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t base64_encoded_len(uint64_t len) { return (len + 2) / 3 * 4; }

size_t base64_encode(const unsigned char *src, size_t len, char *dst);

#endif
