/* process.c - /proc/self/stat, /proc/self/fd and /proc/stat for the process_* metrics. */
#include "metrics/process.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    char line[256];
    double bt = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lf", &bt) == 1)
            break;
    fclose(f);
    return bt;
}

static void read_stat(struct process_stats *out)
{
    char buf[2048];
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: fields resume after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return;
    unsigned long minflt, majflt, utime, stime, vsize;
    unsigned long long start;
    long rss;
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %lu %*u %lu %*u %lu %lu %*d %*d %*d %*d %*d %*d "
               "%llu %lu %ld",
               &minflt, &majflt, &utime, &stime, &start, &vsize, &rss) != 7)
        return;
    double ticks = (double)sysconf(_SC_CLK_TCK);
    double page = (double)sysconf(_SC_PAGESIZE);
    out->minor_faults = (double)minflt;
    out->major_faults = (double)majflt;
    out->cpu_seconds = (double)(utime + stime) / ticks;
    out->virtual_bytes = (double)vsize;
    out->resident_bytes = (double)rss * page;
    double bt = boot_time();
    if (bt >= 0)
        out->start_time_seconds = bt + (double)start / ticks;
}

static double count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the descriptor opendir itself holds */
}

void process_read(struct process_stats *out)
{
    struct rlimit rl;
    *out = (struct process_stats){-1, -1, -1, -1, -1, -1, -1, -1};
    read_stat(out);
    out->open_fds = count_fds();
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        out->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur;
}
