/* etag.c - the strong ETag text of a file's identity. */
#include "http/etag.h"

#include <stdint.h>
#include <stdio.h>

void etag_format(const struct stat *st, char out[ETAG_LEN])
{
    snprintf(out, ETAG_LEN, "\"%jx-%jx-%jx\"", (uintmax_t)st->st_ino, (uintmax_t)st->st_size,
             (uintmax_t)st->st_mtim.tv_sec * 1000000000u + (uintmax_t)st->st_mtim.tv_nsec);
}
