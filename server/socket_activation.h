/* socket_activation.h - take the listening socket systemd passed (socket activation).
 *
 * systemd (a .socket unit, or systemd-socket-activate) starts mmapd with the socket already
 * bound and listening as descriptor 3 (SD_LISTEN_FDS_START), LISTEN_FDS=1 and
 * LISTEN_PID=<mmapd's pid>. socket_activation_take() looks at those variables the way
 * sd_listen_fds() does, without libsystemd:
 *
 * - LISTEN_PID unset, not a number, or another process's pid (the variables were inherited,
 *   not meant for mmapd), or LISTEN_FDS unset or 0: SOCKET_ACTIVATION_NONE, nothing changed;
 *   mmapd binds --listen itself.
 * - LISTEN_PID is this process and LISTEN_FDS is 1, and descriptor 3 is a listening TCP stream
 *   socket (SO_ACCEPTCONN, SO_TYPE SOCK_STREAM, an AF_INET or AF_INET6 address): it is made
 *   non-blocking and close-on-exec, as server/acceptor.h wants it, `*fd` is 3 and `bound` its
 *   address as listen_addr_format() writes it; SOCKET_ACTIVATION_TAKEN.
 * - LISTEN_PID is this process and anything else (LISTEN_FDS not a number, more than one
 *   descriptor, descriptor 3 not such a socket): SOCKET_ACTIVATION_ERROR with one line in
 *   `err`; the caller stops (mmapd exits 2).
 *
 * In the last two cases LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are removed from the
 * environment.
 */
#ifndef MMAPD_SOCKET_ACTIVATION_H
#define MMAPD_SOCKET_ACTIVATION_H

#include <stddef.h>

enum { SOCKET_ACTIVATION_FD = 3 }; /* SD_LISTEN_FDS_START */

enum socket_activation {
    SOCKET_ACTIVATION_NONE,
    SOCKET_ACTIVATION_TAKEN,
    SOCKET_ACTIVATION_ERROR,
};

enum socket_activation socket_activation_take(int *fd, char *bound, size_t boundlen, char *err,
                                              size_t errlen);

#endif
