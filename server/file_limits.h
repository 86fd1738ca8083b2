/* file_limits.h - the descriptors and mappings the file cache may hold, and the limits behind.
 *
 * file_limits_plan() raises the soft RLIMIT_NOFILE to the hard limit (an unlimited hard limit
 * counts as fs.nr_open), reads vm.max_map_count, and sizes the file cache: each cached file
 * holds one descriptor and at most one mapping per access class. Of the descriptors, a
 * socket and a file per connection (`connections`, everything the server accepts) and 256 of
 * the process's own are kept out, but never more than half; of the mappings, one per
 * connection and 2048 of the process's own, and the rest is halved (a file may be mapped for
 * both classes). `wanted` (--map-cache; 0: as many as fit) is lowered to what fits. It never
 * fails: a limit it cannot read or raise is taken as it is.
 */
#ifndef MMAPD_FILE_LIMITS_H
#define MMAPD_FILE_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

struct file_limits {
    unsigned long nofile_before, nofile; /* soft RLIMIT_NOFILE before and after */
    unsigned long max_map_count;         /* 0: unknown (65530 assumed) */
    size_t fit;                          /* cache entries that fit both */
    size_t capacity;                     /* chosen */
    bool lowered;                        /* `wanted` was more than fit */
};

void file_limits_plan(size_t wanted, size_t connections, struct file_limits *out);

#endif
