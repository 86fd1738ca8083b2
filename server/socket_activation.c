/* socket_activation.c - LISTEN_PID, LISTEN_FDS and descriptor 3. */
#include "server/socket_activation.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/listen_addr.h"

/* A decimal number without sign or spaces, or false. */
static bool parse_number(const char *s, unsigned long *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno == 0 && *end == '\0';
}

static bool check_socket(int fd, char *bound, size_t boundlen, char *err, size_t errlen)
{
    int type = 0, accepting = 0;
    socklen_t len = sizeof type;
    struct sockaddr_storage ss;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
        snprintf(err, errlen, "socket activation: descriptor %d is not a socket: %s", fd,
                 strerror(errno));
        return false;
    }
    len = sizeof accepting;
    if (type != SOCK_STREAM ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) {
        snprintf(err, errlen, "socket activation: descriptor %d is not a listening stream "
                              "socket (ListenStream= in the .socket unit)", fd);
        return false;
    }
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
        snprintf(err, errlen, "socket activation: descriptor %d is not a TCP socket (an IPv4 "
                              "or IPv6 address in ListenStream=)", fd);
        return false;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        snprintf(err, errlen, "socket activation: descriptor %d: %s", fd, strerror(errno));
        return false;
    }
    listen_addr_format(&ss, bound, boundlen);
    return true;
}

enum socket_activation socket_activation_take(int *fd, char *bound, size_t boundlen, char *err,
                                              size_t errlen)
{
    unsigned long pid, n;
    enum socket_activation r = SOCKET_ACTIVATION_ERROR;
    if (!parse_number(getenv("LISTEN_PID"), &pid) || pid != (unsigned long)getpid())
        return SOCKET_ACTIVATION_NONE;
    const char *fds = getenv("LISTEN_FDS");
    if (!fds || strcmp(fds, "0") == 0) {
        r = SOCKET_ACTIVATION_NONE;
        goto done;
    }
    if (!parse_number(fds, &n)) {
        snprintf(err, errlen, "socket activation: LISTEN_FDS=%.40s is not a number", fds);
        goto done;
    }
    if (n != 1) {
        snprintf(err, errlen, "socket activation: systemd passed %lu sockets, mmapd takes "
                              "exactly one (one ListenStream= in the .socket unit)", n);
        goto done;
    }
    if (!check_socket(SOCKET_ACTIVATION_FD, bound, boundlen, err, errlen))
        goto done;
    *fd = SOCKET_ACTIVATION_FD;
    r = SOCKET_ACTIVATION_TAKEN;
done:
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return r;
}
