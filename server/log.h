/* log.h - one line per event on stderr.
 *
 * log_info() and log_error() write "TIMESTAMP LEVEL message\n" with one write(2), so lines
 * from different threads never interleave. Safe to call from any thread; not async-signal
 * safe. log_mhd() is an MHD external logger (MHD_OPTION_EXTERNAL_LOGGER) on top of them.
 */
#ifndef MMAPD_LOG_H
#define MMAPD_LOG_H

#include <stdarg.h>

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_mhd(void *cls, const char *fmt, va_list ap);

#endif
