/* listen_addr.c - --listen parsing and the listening socket. */
#include "server/listen_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool parse_port(const char *s, in_port_t *port)
{
    if (*s == '\0' || strlen(s) > 5)
        return false;
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v > 65535)
        return false;
    *port = htons((in_port_t)v);
    return true;
}

bool listen_addr_parse(const char *text, struct listen_addr *out, char *err, size_t errlen)
{
    char host[64];
    const char *port;
    memset(out, 0, sizeof *out);
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host)
            goto bad;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port = close + 2;
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->ss;
        a->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1 || !parse_port(port, &a->sin6_port))
            goto bad;
        out->len = sizeof *a;
        return true;
    }
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof host)
        goto bad;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    port = colon + 1;
    struct sockaddr_in *a = (struct sockaddr_in *)&out->ss;
    a->sin_family = AF_INET;
    if (host[0] == '\0')
        a->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        goto bad;
    if (!parse_port(port, &a->sin_port))
        goto bad;
    out->len = sizeof *a;
    return true;
bad:
    snprintf(err, errlen,
             "'%s' is not an address to listen on (IPV4:PORT, [IPV6]:PORT or :PORT, "
             "port 0-65535)",
             text);
    return false;
}

void listen_addr_format(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(out, outlen, "[%s]:%u", host, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(out, outlen, "%s:%u", host, ntohs(a->sin_port));
    }
}

bool listen_socket_open(const struct listen_addr *addr, int backlog, int *fd, char *bound,
                        size_t boundlen, char *err, size_t errlen)
{
    int one = 1;
    int s = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
        snprintf(err, errlen, "cannot create socket: %s", strerror(errno));
        return false;
    }
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (addr->ss.ss_family == AF_INET6)
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    struct sockaddr_storage got;
    socklen_t gotlen = sizeof got;
    if (bind(s, (const struct sockaddr *)&addr->ss, addr->len) != 0) {
        char want[80];
        listen_addr_format(&addr->ss, want, sizeof want);
        snprintf(err, errlen, "cannot listen on %s: %s", want, strerror(errno));
        goto fail;
    }
    if (listen(s, backlog) != 0 || getsockname(s, (struct sockaddr *)&got, &gotlen) != 0) {
        snprintf(err, errlen, "cannot listen: %s", strerror(errno));
        goto fail;
    }
    listen_addr_format(&got, bound, boundlen);
    *fd = s;
    return true;
fail:
    close(s);
    return false;
}
