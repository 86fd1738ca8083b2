/* listen_addr.h - parse and bind the --listen address.
 *
 * listen_addr_parse() accepts "IPV4:PORT", "[IPV6]:PORT" and ":PORT" (all IPv4 interfaces);
 * numeric addresses only, port 0..65535 (0: the kernel picks one). listen_socket_open()
 * creates the non-blocking listening socket and reports the bound address as text, e.g.
 * "127.0.0.1:39411" or "[::1]:8080". Both return false with a one-line reason in `err`.
 * listen_addr_format() writes an IPv4 or IPv6 socket address as that text.
 */
#ifndef MMAPD_LISTEN_ADDR_H
#define MMAPD_LISTEN_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct listen_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

bool listen_addr_parse(const char *text, struct listen_addr *out, char *err, size_t errlen);
bool listen_socket_open(const struct listen_addr *addr, int backlog, int *fd, char *bound,
                        size_t boundlen, char *err, size_t errlen);
void listen_addr_format(const struct sockaddr_storage *ss, char *out, size_t outlen);

#endif
