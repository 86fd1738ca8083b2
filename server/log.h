/* log.h - one line per event on stderr.
 *
 * log_info() and log_error() write "TIMESTAMP LEVEL message\n" with one write(2), so lines
 * from different threads never interleave. Safe to call from any thread; not async-signal
 * safe. log_mhd() is an MHD external logger (MHD_OPTION_EXTERNAL_LOGGER) on top of them.
 * libmicrohttpd logs every failed TLS handshake; log_mhd() counts those
 * (mmapd_tls_handshake_failures_total) and writes one line a second at most for them, with
 * the count, so that a scan of the port cannot flood the log.
 */
#ifndef MMAPD_LOG_H
#define MMAPD_LOG_H

#include <stdarg.h>
#include <stdint.h>

struct metrics;

/* log_mhd()'s cls. */
struct mhd_log {
    struct metrics *metrics;
    _Atomic int64_t tls_line_s;      /* CLOCK_MONOTONIC second of the last handshake line */
    _Atomic uint64_t tls_failures;   /* in all */
    _Atomic uint64_t tls_failures_logged; /* as of that line */
};

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_mhd(void *cls, const char *fmt, va_list ap);

#endif
