/* file_limits.c - setrlimit(RLIMIT_NOFILE) up to the hard limit; vm.max_map_count; the file
 * cache's size. */
#include "server/file_limits.h"

#include <stdio.h>
#include <sys/resource.h>

#define MAP_COUNT_DEFAULT 65530ul /* the kernel's default, when /proc cannot tell */
#define CACHE_MAX 1000000ul       /* --map-cache's own bound */
#define RESERVED_OWN 256          /* descriptors of the process's own: log, inotify, epoll */
#define RESERVED_OWN_MAPS 2048    /* mappings of the process's own */

static unsigned long read_proc_ulong(const char *path, unsigned long fallback)
{
    unsigned long v = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return fallback;
    if (fscanf(f, "%lu", &v) != 1 || v == 0)
        v = fallback;
    fclose(f);
    return v;
}

void file_limits_plan(size_t wanted, size_t connections, struct file_limits *out)
{
    struct rlimit rl;
    *out = (struct file_limits){0};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        out->nofile_before = out->nofile = (unsigned long)rl.rlim_cur;
        rlim_t hard = rl.rlim_max;
        if (hard == RLIM_INFINITY)
            hard = (rlim_t)read_proc_ulong("/proc/sys/fs/nr_open", 1048576ul);
        if (rl.rlim_cur == RLIM_INFINITY) {
            out->nofile = CACHE_MAX * 2;
        } else if (rl.rlim_cur < hard) {
            rl.rlim_cur = hard;
            if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
                out->nofile = (unsigned long)hard;
        }
    }
    out->max_map_count = read_proc_ulong("/proc/sys/vm/max_map_count", MAP_COUNT_DEFAULT);
    /* a socket and a file in use per connection, and the process's own; at most half the
     * descriptors, so that a low limit still leaves the cache the other half */
    size_t reserved_fds = 2 * connections + RESERVED_OWN;
    if (reserved_fds > out->nofile / 2)
        reserved_fds = out->nofile / 2;
    /* a mapping in use per connection, and the process's own (libraries, thread stacks,
     * malloc arenas) */
    size_t reserved_maps = connections + RESERVED_OWN_MAPS;
    size_t fds = out->nofile - reserved_fds;
    size_t maps =
        out->max_map_count > reserved_maps ? (out->max_map_count - reserved_maps) / 2 : 0;
    out->fit = fds < maps ? fds : maps;
    if (out->fit > CACHE_MAX)
        out->fit = CACHE_MAX;
    if (out->fit == 0)
        out->fit = 1;
    out->capacity = wanted && wanted < out->fit ? wanted : out->fit;
    out->lowered = wanted > out->fit;
}
