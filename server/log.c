/* log.c - timestamped single-write log lines on stderr. */
#include "server/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics/metrics.h"

static void log_line(const char *level, const char *fmt, va_list ap)
{
    char line[1024];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, now.tv_nsec / 1000000, level);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    size_t len = m < 0 ? (size_t)n : (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    while (len > (size_t)n && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    for (size_t i = (size_t)n; i < len; i++) /* one event, one line */
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line("info", fmt, ap);
    va_end(ap);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line("error", fmt, ap);
    va_end(ap);
}

/* libmicrohttpd 0.9.75's one line for any failed handshake (connection_https.c) */
#define TLS_HANDSHAKE_FAILED "received handshake message out of context"

void log_mhd(void *cls, const char *fmt, va_list ap)
{
    struct mhd_log *l = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (!l || !strstr(msg, TLS_HANDSHAKE_FAILED)) {
        log_error("libmicrohttpd: %s", msg);
        return;
    }
    metrics_tls_handshake_failed(l->metrics);
    uint64_t total = atomic_fetch_add(&l->tls_failures, 1) + 1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t last = atomic_load(&l->tls_line_s);
    if (now.tv_sec == last || !atomic_compare_exchange_strong(&l->tls_line_s, &last, now.tv_sec))
        return; /* this second has its line already */
    uint64_t before = atomic_exchange(&l->tls_failures_logged, total);
    log_error("TLS handshake failed (%llu since the last such line, %llu in all: refused "
              "protocol or suite, client certificate missing or untrusted, or the client "
              "left; at most one line a second)",
              (unsigned long long)(total - before), (unsigned long long)total);
}
