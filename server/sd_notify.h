/* sd_notify.h - tell systemd (Type=notify) how mmapd is doing: the sd_notify protocol.
 *
 * The protocol is one datagram of "KEY=VALUE" lines sent to the AF_UNIX socket named in
 * $NOTIFY_SOCKET: a path ("/run/systemd/notify") or an abstract name ("@...", the "@" standing
 * for the leading NUL byte). It is written here instead of linking libsystemd: it is a few
 * lines, and mmapd keeps no runtime dependency beyond libmicrohttpd and jansson, so the
 * container image and runs outside systemd carry nothing extra.
 *
 * sd_notify_open() reads $NOTIFY_SOCKET: without it the notifier is off and every send does
 * nothing and succeeds. A value that is neither a path nor an abstract name, or too long for
 * an AF_UNIX address, or a datagram socket that cannot be created, returns false with one line
 * in `err` and leaves the notifier off. sd_notify_send() sends one message (lines separated by
 * '\n'), never blocking (MSG_DONTWAIT) and never raising SIGPIPE; it returns false with one line
 * in `err` when the datagram was not sent, which the caller may log and otherwise ignore.
 * sd_notify_monotonic_usec() is CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants it in
 * MONOTONIC_USEC=. The variable is left in the environment (mmapd starts no children).
 */
#ifndef MMAPD_SD_NOTIFY_H
#define MMAPD_SD_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

struct sd_notify {
    int fd;                  /* -1: off */
    struct sockaddr_un addr; /* where $NOTIFY_SOCKET points */
    socklen_t addrlen;
};

bool sd_notify_open(struct sd_notify *n, char *err, size_t errlen);
bool sd_notify_send(const struct sd_notify *n, const char *msg, char *err, size_t errlen);
void sd_notify_close(struct sd_notify *n);
uint64_t sd_notify_monotonic_usec(void);

#endif
