/* file_limits.c - setrlimit(RLIMIT_NOFILE) up to the hard limit; vm.max_map_count; the file
 * cache's size. */
#include "server/file_limits.h"

#include <stdio.h>
#include <sys/resource.h>

#define MAP_COUNT_DEFAULT 65530ul /* the kernel's default, when /proc cannot tell */
#define CACHE_MAX 1000000ul       /* --map-cache's own bound */

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

void file_limits_plan(size_t wanted, size_t reserved, struct file_limits *out)
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
    size_t fds = out->nofile > reserved ? out->nofile - reserved : 0;
    size_t maps = out->max_map_count > reserved ? (out->max_map_count - reserved) / 2 : 0;
    out->fit = fds < maps ? fds : maps;
    if (out->fit > CACHE_MAX)
        out->fit = CACHE_MAX;
    if (out->fit == 0)
        out->fit = 1;
    out->capacity = wanted && wanted < out->fit ? wanted : out->fit;
    out->lowered = wanted > out->fit;
}
