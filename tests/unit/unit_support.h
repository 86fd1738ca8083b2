/* unit_support.h - what several unit tests share (include it after cmocka.h): a temporary root
 * directory, a counter's value from the metrics exposition, bounded polling, and raw loopback
 * clients of a libmicrohttpd daemon that a test starts on its own listening socket.
 *
 * Nothing here is global: a test keeps what these functions return in its cmocka state.
 * Every wait is bounded; a helper that times out fails the test.
 */
#ifndef MMAPD_UNIT_SUPPORT_H
#define MMAPD_UNIT_SUPPORT_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics/metrics.h"

/* A directory made with mkdtemp(3) and its O_DIRECTORY descriptor. */
struct unit_dir {
    char path[64];
    int fd;
};

/* Makes /tmp/mmapd-test-<name>-XXXXXX; false (nothing left behind) on failure. */
static inline bool unit_dir_make(struct unit_dir *d, const char *name)
{
    snprintf(d->path, sizeof d->path, "/tmp/mmapd-test-%s-XXXXXX", name);
    d->fd = -1;
    if (!mkdtemp(d->path))
        return false;
    d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->fd < 0)
        rmdir(d->path);
    return d->fd >= 0;
}

static inline int unit_dir_remove_one(const char *path, const struct stat *st, int type,
                                      struct FTW *ftw)
{
    (void)st, (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* Removes the directory and everything in it (symlinks are removed, never followed). */
static inline bool unit_dir_remove(struct unit_dir *d)
{
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    return nftw(d->path, unit_dir_remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0;
}

/* Creates (or truncates) `rel` beneath the directory with `len` bytes of `data`. */
static inline void unit_write_file(const struct unit_dir *d, const char *rel, const void *data,
                                   size_t len)
{
    int fd = openat(d->fd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    if (len)
        assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static inline uint64_t unit_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void unit_sleep_ms(unsigned ms)
{
    struct timespec d = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&d, &d) != 0 && errno == EINTR)
        ;
}

/* The value of the sample `series` (name and labels exactly as rendered in the text format),
 * or UINT64_MAX when it is not rendered. */
static inline uint64_t unit_metric(struct metrics *m, const char *series)
{
    static const struct metrics_inputs none = {0};
    size_t len = 0, n = strlen(series);
    char *text = metrics_render(m, &none, EXPOSITION_TEXT, &len);
    uint64_t v = UINT64_MAX;
    assert_non_null(text);
    for (const char *p = text; (p = strstr(p, series)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            v = strtoull(p + n + 1, NULL, 10);
            break;
        }
    free(text);
    return v;
}

/* An access handler's answer: queues `r` (NULL: out of memory, MHD_NO) with `status` and lets
 * go of it. */
static inline enum MHD_Result unit_queue(struct MHD_Connection *c, unsigned status,
                                         struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* A listening TCP socket on 127.0.0.1 and an ephemeral port, for MHD_OPTION_LISTEN_SOCKET. */
static inline int unit_listen(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static inline int unit_connect(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static inline void unit_send(int fd, const char *text)
{
    size_t len = strlen(text);
    assert_int_equal(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads until the peer ends the stream (or resets it), for at most `timeout_ms`: the bytes
 * read (NUL-terminated in buf, whose room is cap), or -1 when the stream was still open then. */
static inline ssize_t unit_read_to_end(int fd, char *buf, size_t cap, unsigned timeout_ms)
{
    uint64_t until = unit_now_ms() + timeout_ms;
    size_t got = 0;
    for (;;) {
        uint64_t now = unit_now_ms();
        if (now >= until)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, (int)(until - now));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        char scratch[4096];
        bool keep = got + 1 < cap;
        ssize_t n = recv(fd, keep ? buf + got : scratch,
                         keep ? cap - 1 - got : sizeof scratch, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != ECONNRESET)
            return -1;
        if (n <= 0)
            break;
        if (keep)
            got += (size_t)n;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

#endif
