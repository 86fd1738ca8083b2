/* read_ahead.c - look up read_ahead_kb in sysfs once at start-up. */
#include "server/read_ahead.h"

#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define DEFAULT_READ_AHEAD (128u * 1024u)

static bool read_kb(const char *path, unsigned long *kb)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fscanf(f, "%lu", kb) == 1;
    fclose(f);
    return ok;
}

size_t read_ahead_bytes(int fd, bool *from_sysfs)
{
    struct stat st;
    char path[128];
    unsigned long kb = 0;
    *from_sysfs = false;
    if (fstat(fd, &st) != 0)
        return DEFAULT_READ_AHEAD;
    unsigned maj = major(st.st_dev), min = minor(st.st_dev);
    snprintf(path, sizeof path, "/sys/dev/block/%u:%u/queue/read_ahead_kb", maj, min);
    if (!read_kb(path, &kb)) {
        snprintf(path, sizeof path, "/sys/dev/block/%u:%u/../queue/read_ahead_kb", maj, min);
        if (!read_kb(path, &kb))
            return DEFAULT_READ_AHEAD;
    }
    if (kb == 0)
        return DEFAULT_READ_AHEAD;
    *from_sysfs = true;
    return (size_t)kb * 1024u;
}
