/* sd_notify.c - one datagram to $NOTIFY_SOCKET per message. */
#include "server/sd_notify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

bool sd_notify_open(struct sd_notify *n, char *err, size_t errlen)
{
    memset(n, 0, sizeof *n);
    n->fd = -1;
    const char *name = getenv("NOTIFY_SOCKET");
    if (!name || name[0] == '\0')
        return true;
    size_t len = strlen(name);
    if (name[0] != '/' && name[0] != '@') {
        snprintf(err, errlen, "NOTIFY_SOCKET=%.200s is neither a path nor an abstract socket "
                              "(@name); not telling systemd anything", name);
        return false;
    }
    if (len >= sizeof n->addr.sun_path) {
        snprintf(err, errlen, "NOTIFY_SOCKET=%.200s is longer than a socket address; not "
                              "telling systemd anything", name);
        return false;
    }
    n->addr.sun_family = AF_UNIX;
    memcpy(n->addr.sun_path, name, len);
    if (name[0] == '@')
        n->addr.sun_path[0] = '\0'; /* abstract: the length counts the name, no final NUL */
    n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'));
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (n->fd < 0) {
        snprintf(err, errlen, "NOTIFY_SOCKET: cannot create a socket: %s; not telling systemd "
                              "anything", strerror(errno));
        return false;
    }
    return true;
}

bool sd_notify_send(const struct sd_notify *n, const char *msg, char *err, size_t errlen)
{
    if (n->fd < 0)
        return true;
    size_t len = strlen(msg);
    ssize_t sent;
    do
        sent = sendto(n->fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT,
                      (const struct sockaddr *)&n->addr, n->addrlen);
    while (sent < 0 && errno == EINTR);
    if (sent == (ssize_t)len)
        return true;
    snprintf(err, errlen, "cannot notify systemd through NOTIFY_SOCKET: %s",
             sent < 0 ? strerror(errno) : "short send");
    return false;
}

void sd_notify_close(struct sd_notify *n)
{
    if (n->fd >= 0)
        close(n->fd);
    n->fd = -1;
}

uint64_t sd_notify_monotonic_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
