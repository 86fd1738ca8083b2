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

/* The fields of a stat file after the command name (from the state on), in buf; NULL when
 * unreadable. The command name may hold spaces and parentheses: fields resume after the last
 * ')'. */
static const char *stat_fields(const char *path, char *buf, size_t bufsz)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, bufsz - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p + 2 : NULL;
}

bool process_thread_faults(pid_t tid, uint64_t *minor, uint64_t *major)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    const char *p = stat_fields(path, buf, sizeof buf);
    unsigned long minflt, majflt;
    if (!p || sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %lu %*u %lu", &minflt, &majflt) != 2)
        return false;
    *minor = minflt;
    *major = majflt;
    return true;
}

static void read_stat(struct process_stats *out)
{
    char buf[2048];
    const char *p = stat_fields("/proc/self/stat", buf, sizeof buf);
    if (!p)
        return;
    unsigned long minflt, majflt, utime, stime, vsize;
    unsigned long long start;
    long rss;
    if (sscanf(p,
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

bool process_own_faults(uint64_t *minor, uint64_t *major)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        return false;
    *minor = (uint64_t)ru.ru_minflt;
    *major = (uint64_t)ru.ru_majflt;
    return true;
}
