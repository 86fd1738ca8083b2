/* held_copy.h - the one way mmapd copies bytes out of a file's mapping into a response: never
 * a byte the file did not hold.
 *
 * Reading a mapped page past the file's end raises SIGBUS; a truncation that keeps part of
 * the last page reads as zeros, without any signal. held_copy() copies under the SIGBUS guard
 * (sigbus_guard.h) and remembers how far into the file it read; held_copy_done(), after the
 * copies of one block, checks that the file still holds every byte of them
 * (mapped_file_holds()). A failure of either is counted once in
 * mmapd_read_errors_total{reason="sigbus"|"short"} (when `metrics` is set) and the caller
 * ends its response short. held_copy_holds() is that size check alone, for bytes read with
 * pread(2). Used by /files bodies (handlers/file_body.c) and /sample's copying reader
 * (sampling/record_body.c, sampling/sample_response.c). Not thread safe on one held_copy.
 */
#ifndef MMAPD_HELD_COPY_H
#define MMAPD_HELD_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filedata/file_map.h"
#include "metrics/metrics.h"

struct held_copy {
    const unsigned char *base;     /* the mapping */
    const struct mapped_file *map; /* whose size held_copy_done() checks; NULL: none */
    struct metrics *metrics;       /* NULL: failures are not counted */
    uint64_t end;                  /* the end of the furthest byte copied since the check */
};

/* Copies [off, off+len) of the mapping into dst; false after a SIGBUS (dst then holds an
 * unspecified prefix). */
bool held_copy(struct held_copy *c, void *dst, uint64_t off, size_t len);

/* True when the file still holds every byte copied since the last call (or none was). */
bool held_copy_done(struct held_copy *c);

bool held_copy_holds(const struct mapped_file *m, uint64_t end, struct metrics *metrics);

#endif
