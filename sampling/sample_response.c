/* sample_response.c - the iovec and content-reader responses of /sample. */
#include "sampling/sample_response.h"

#include <stdlib.h>

#include "metrics/process.h"

struct held_body {
    struct record_body body;
    struct mapped_file *map;
    struct metrics *metrics;
};

static void held_free(void *cls)
{
    struct held_body *h = cls;
    record_body_free(&h->body);
    file_map_release(h->map);
    free(h);
}

/* True when a block of n body bytes copied out of the mapping took `faults` page faults for
 * at least a quarter of its records: they were in the page cache but not in mmapd's page
 * tables, where a fault costs several times a pread(2) of the page. */
static bool faults_say_unmapped(const struct record_body *b, uint64_t faults, size_t n)
{
    uint64_t per = b->data_len + b->text.len / (b->n + 1); /* bytes per record, with text */
    uint64_t records = per ? n / per : 0;
    return faults > 0 && 4 * faults >= (records ? records : 1);
}

static ssize_t held_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct held_body *h = cls;
    metrics_handler_enter(h->metrics, MH_SAMPLE); /* faults while copying count for /sample */
    struct held_copy copy = {h->body.base, h->map, h->metrics, 0};
    uint64_t minor0, major0, minor1, major1;
    bool watch = h->body.fd < 0 && process_own_faults(&minor0, &major0);
    ssize_t n = record_body_read(&h->body, &copy, pos, buf, max);
    if (watch && n > 0 && process_own_faults(&minor1, &major1) &&
        faults_say_unmapped(&h->body, minor1 - minor0 + major1 - major0, (size_t)n))
        record_body_read_through(&h->body, mapped_file_info(h->map)->fd); /* the rest */
    if (n > 0 && held_copy_done(&copy)) /* counted when not */
        return n;
    if (n < 0 && h->body.fd >= 0) /* a read through the descriptor failed or came short */
        metrics_read_error(h->metrics, MRE_SHORT);
    return MHD_CONTENT_READER_END_WITH_ERROR; /* 0 cannot happen before the end */
}

static struct MHD_Response *iovec_response(struct held_body *h)
{
    struct MHD_IoVec *iov = malloc((2 * h->body.n + 1) * sizeof *iov);
    if (!iov)
        return NULL;
    size_t k = record_body_iovec(&h->body, iov);
    struct MHD_Response *r = MHD_create_response_from_iovec(iov, (unsigned)k, held_free, h);
    free(iov); /* MHD keeps its own copy of the array */
    return r;
}

struct MHD_Response *sample_response_create(struct record_body *body, struct mapped_file *m,
                                            enum sample_shape shape, struct metrics *metrics)
{
    struct held_body *h = malloc(sizeof *h);
    if (!h)
        return NULL;
    h->body = *body;
    h->map = m;
    h->metrics = metrics;
    struct MHD_Response *r;
    if (body->length == 0) /* still holds the mapping: the caller reads its file_info */
        r = MHD_create_response_from_buffer_with_free_callback_cls(0, (void *)"", held_free, h);
    else if (shape == SAMPLE_SHAPE_IOVEC && body->enc == RECORD_RAW && body->fd < 0)
        r = iovec_response(h);
    else
        r = MHD_create_response_from_callback(body->length, SAMPLE_READER_BLOCK, held_read, h,
                                              held_free);
    if (!r) {
        free(h);
        return NULL;
    }
    *body = (struct record_body){0};
    return r;
}
