/* min_mhd.c - the floor for tests/bench/cost.sh: the least a libmicrohttpd 0.9.75 server can
 * do per request for a warm byte range of one file. One internal epoll thread, the file
 * mapped once, "Range: bytes=A-B" parsed, a 206 sent straight from the mapping with
 * Content-Range (200 with the whole file without a Range). No routing, no path, no stat, no
 * residency check, no copy, no metrics, no validators: whatever mmapd spends per request
 * beyond this is what its guarantees cost. Not part of mmapd, never installed.
 *   usage: min_mhd FILE PORT CONNECTION_MEMORY   (runs until killed) */
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct file {
    const char *base;
    uint64_t size;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
    const struct file *f = cls;
    (void)url, (void)method, (void)version, (void)upload, (void)upload_size;
    if (!*req_cls) { /* headers in: answer on the next call, as mmapd does */
        *req_cls = c;
        return MHD_YES;
    }
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    uint64_t first = 0, last = f->size - 1;
    bool partial = range && sscanf(range, "bytes=%" SCNu64 "-%" SCNu64, &first, &last) == 2 &&
                   first <= last && last < f->size;
    if (!partial) {
        first = 0;
        last = f->size - 1;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(
        (size_t)(last - first + 1), (void *)(f->base + first), MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    char cr[80];
    snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, f->size);
    if (partial && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr) != MHD_YES) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    enum MHD_Result ret = MHD_queue_response(c, partial ? 206 : 200, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: min_mhd FILE PORT CONNECTION_MEMORY\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        perror(argv[1]);
        return 1;
    }
    struct file f = {mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0),
                     (uint64_t)st.st_size};
    if (f.base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)atoi(argv[2]), NULL, NULL,
        answer, &f, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)atol(argv[3]),
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "min_mhd: cannot listen on port %s\n", argv[2]);
        return 1;
    }
    for (;;)
        pause();
}
