/* test_file_body.c - /files response bodies (handlers/file_body.h) on a real file, sent by a
 * real libmicrohttpd daemon on a loopback port and read back by a raw client: the bytes of
 * spans and text pieces, read at once (at most FILE_BODY_COPY_MAX) or streamed from the
 * mapping; a body read into by a helper (file_body_fill_spans()); and a file truncated after
 * its entry was opened, which must give an error (BODY_CHANGED, or a short body on a closed
 * connection), never a byte the file does not hold: neither the zeros past the new end in
 * its last page nor a SIGBUS.
 * Not reached here: the cold paths (BODY_COLD, the hand-off to the prefetch helpers, the
 * read-ahead), which depend on what the page cache holds (a file just written is resident),
 * and a truncation that runs during one read (a race by nature). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit_support.h"
#include "filedata/advice.h"
#include "filedata/file_map.h"
#include "filedata/prefetch_pool.h"
#include "filedata/sigbus_guard.h"
#include "handlers/file_body.h"
#include "handlers/handler_ctx.h"
#include "handlers/request.h"
#include "metrics/metrics.h"

#define DATA_LEN (3u << 20) /* larger than FILE_BODY_COPY_MAX: streamed when whole */
#define NO_TRUNCATE UINT64_MAX
#define WAIT_MS 2000u

/* A piece of the body the handler builds: text when `text` is set, else a span. */
struct piece_spec {
    const char *text;
    uint64_t off, len;
};

struct fixture {
    struct unit_dir root;
    struct metrics *metrics;
    struct file_map *fm;
    struct handler_ctx ctx;
    struct MHD_Daemon *daemon;
    uint16_t port;
    unsigned char *data; /* what data.bin holds */
    /* what the handler does */
    struct piece_spec pieces[8];
    size_t npieces;
    bool fill;                 /* a "helper" reads the spans in first (file_body_fill_spans) */
    bool fill_fails;           /* ... and says it could not */
    uint64_t truncate_before;  /* truncate data.bin to this before file_body_response() */
    uint64_t truncate_after;   /* ... after it, before the body is sent */
    atomic_int result;         /* enum body_result of the last response, -1: none */
    /* what the client got */
    char *reply;
    size_t reply_len;
    unsigned status;
    uint64_t content_length;
    const char *body;
    size_t body_len;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->data = malloc(DATA_LEN);
    f->reply = malloc(DATA_LEN + 4096);
    f->metrics = metrics_create(INSTRUMENT_FULL);
    advice_policy_defaults(&f->ctx.policy);
    f->fm = f->metrics ? file_map_create(8, &f->ctx.policy, f->metrics, NULL) : NULL;
    if (!f->data || !f->reply || !f->fm || !unit_dir_make(&f->root, "file-body")) {
        file_map_destroy(f->fm);
        metrics_destroy(f->metrics);
        free(f->reply);
        free(f->data);
        free(f);
        return -1;
    }
    f->ctx.root_fd = f->root.fd;
    f->ctx.maps = f->fm;
    f->ctx.metrics = f->metrics;
    f->ctx.prefetch_window = 128u << 10;
    f->ctx.max_ranges = 100;
    for (size_t i = 0; i < DATA_LEN; i++) /* no zero byte: a zero read is never the file's */
        f->data[i] = (unsigned char)(1 + (i * 31 + i / 4093) % 255);
    f->truncate_before = f->truncate_after = NO_TRUNCATE;
    atomic_init(&f->result, -1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->daemon)
        MHD_stop_daemon(f->daemon);
    file_map_destroy(f->fm);
    bool ok = unit_dir_remove(&f->root);
    metrics_destroy(f->metrics);
    free(f->reply);
    free(f->data);
    free(f);
    return ok ? 0 : -1;
}

static void truncate_data(struct fixture *f, uint64_t len)
{
    if (len == NO_TRUNCATE)
        return;
    int fd = openat(f->root.fd, "data.bin", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (ftruncate(fd, (off_t)len) != 0)
            fprintf(stderr, "ftruncate failed\n");
        close(fd);
    }
}

/* What a helper does for a cold body read at once: reads every span into the buffer, or
 * (fill_fails) writes zeros there and sets the flag, as after a failed read. */
static void fill_like_a_helper(struct fixture *f, struct file_body *b)
{
    struct prefetch_span spans[8];
    bool *failed = NULL;
    size_t n = file_body_fill_spans(b, spans, &failed);
    int fd = mapped_file_info(file_body_map(b))->fd;
    for (size_t i = 0; i < n; i++) {
        if (f->fill_fails)
            memset(spans[i].into, 0, (size_t)spans[i].len);
        else if (pread(fd, spans[i].into, (size_t)spans[i].len, (off_t)spans[i].off) !=
                 (ssize_t)spans[i].len)
            *failed = true;
    }
    if (n && f->fill_fails)
        *failed = true;
}

static struct MHD_Response *build(struct fixture *f, struct request *req, enum body_result *res)
{
    struct stat st;
    int fd = openat(f->root.fd, "data.bin", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    struct mapped_file *m = file_map_open(f->fm, "data.bin", ACCESS_STREAM, fd, &st);
    struct body_env env = {f->ctx.metrics, &f->ctx.policy, f->ctx.prefetch_window,
                           f->ctx.files_zero_copy_max, f->ctx.tls};
    struct file_body *b = m ? file_body_new(m, &env) : NULL;
    if (!b)
        return NULL;
    for (size_t i = 0; i < f->npieces; i++) {
        if (f->pieces[i].text)
            file_body_printf(b, "%s", f->pieces[i].text);
        else
            file_body_span(b, f->pieces[i].off, f->pieces[i].len);
    }
    if (f->fill)
        fill_like_a_helper(f, b);
    truncate_data(f, f->truncate_before);
    struct MHD_Response *r = file_body_response(b, req, res);
    if (*res == BODY_COLD)
        file_body_free(b); /* the body stayed ours */
    truncate_data(f, f->truncate_after);
    return r;
}

/* Builds the body on the second call (as the router answers) and sends it, or 503 when
 * file_body_response() gave none. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
    (void)url, (void)version, (void)upload, (void)upload_size;
    struct fixture *f = cls;
    struct request *req = *req_cls;
    if (!req) {
        if (!(req = calloc(1, sizeof *req)))
            return MHD_NO;
        req->ctx = &f->ctx;
        req->conn = c;
        req->rec.method = metrics_method(method);
        req->rec.handler = MH_FILES;
        *req_cls = req;
        return MHD_YES;
    }
    enum body_result res = BODY_FAILED;
    struct MHD_Response *r = build(f, req, &res);
    atomic_store(&f->result, (int)res);
    if (r)
        return unit_queue(c, MHD_HTTP_OK, r);
    return unit_queue(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                      MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    free(*req_cls);
    *req_cls = NULL;
}

/* cmocka installs its own SIGBUS handler around each test: the guard goes back on top. */
static void start(struct fixture *f)
{
    assert_true(sigbus_guard_install());
    unit_write_file(&f->root, "data.bin", f->data, DATA_LEN);
    int lfd = unit_listen(&f->port);
    f->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, f,
                                 MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_NOTIFY_COMPLETED,
                                 completed, NULL, MHD_OPTION_END);
    assert_non_null(f->daemon);
}

/* Asks for the body (GET or HEAD) and reads the reply to its end: status, Content-Length and
 * the body bytes that came before the connection closed. */
static void fetch(struct fixture *f, const char *method)
{
    char req[128];
    snprintf(req, sizeof req, "%s /data.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
             method);
    int fd = unit_connect(f->port);
    unit_send(fd, req);
    ssize_t n = unit_read_to_end(fd, f->reply, DATA_LEN + 4096, WAIT_MS);
    close(fd);
    assert_true(n > 0);
    f->reply_len = (size_t)n;
    assert_int_equal(sscanf(f->reply, "HTTP/1.1 %u", &f->status), 1);
    const char *cl = strstr(f->reply, "Content-Length: ");
    f->content_length = cl ? strtoull(cl + 16, NULL, 10) : UINT64_MAX;
    const char *end = strstr(f->reply, "\r\n\r\n");
    assert_non_null(end);
    f->body = end + 4;
    f->body_len = f->reply_len - (size_t)(f->body - f->reply);
}

static void add_span(struct fixture *f, uint64_t off, uint64_t len)
{
    f->pieces[f->npieces++] = (struct piece_spec){NULL, off, len};
}

static void add_text(struct fixture *f, const char *text)
{
    f->pieces[f->npieces++] = (struct piece_spec){text, 0, 0};
}

/* The body the pieces describe, from the file as it was written. */
static void expect_whole_body(struct fixture *f)
{
    assert_int_equal(f->status, 200);
    uint64_t at = 0;
    for (size_t i = 0; i < f->npieces; i++) {
        const struct piece_spec *p = &f->pieces[i];
        size_t len = p->text ? strlen(p->text) : (size_t)p->len;
        assert_true(at + len <= f->body_len);
        if (p->text)
            assert_memory_equal(f->body + at, p->text, len);
        else
            assert_memory_equal(f->body + at, f->data + p->off, len);
        at += len;
    }
    assert_int_equal(f->body_len, at);
    assert_int_equal(f->content_length, at);
    assert_int_equal(atomic_load(&f->result), BODY_OK);
}

/* What came of a body cut short: every byte sent is the file's, and fewer came than
 * announced. */
static void expect_cut_short(struct fixture *f, uint64_t from, size_t at_most)
{
    assert_int_equal(f->status, 200);
    assert_true(f->body_len < f->content_length);
    assert_true(f->body_len <= at_most);
    assert_memory_equal(f->body, f->data + from, f->body_len);
}

static uint64_t read_errors(struct fixture *f, const char *reason)
{
    char series[64];
    snprintf(series, sizeof series, "mmapd_read_errors_total{reason=\"%s\"}", reason);
    return unit_metric(f->metrics, series);
}

/* A span read at once. */
static void test_copied_span(void **state)
{
    struct fixture *f = *state;
    start(f);
    add_span(f, 12345, 70000);
    fetch(f, "GET");
    expect_whole_body(f);
}

/* Text and spans (a multipart body: more pieces than the body keeps without allocating). */
static void test_copied_pieces(void **state)
{
    struct fixture *f = *state;
    start(f);
    add_text(f, "--sep\r\nContent-Range: bytes 0-9/3145728\r\n\r\n");
    add_span(f, 0, 10);
    add_text(f, "\r\n--sep\r\n\r\n");
    add_span(f, DATA_LEN - 5000, 5000);
    add_text(f, "\r\n--sep\r\n\r\n");
    add_span(f, 4096, 1);
    add_text(f, "\r\n--sep--\r\n");
    fetch(f, "GET");
    expect_whole_body(f);
}

/* A body longer than FILE_BODY_COPY_MAX, streamed from the mapping block by block. */
static void test_streamed_body(void **state)
{
    struct fixture *f = *state;
    start(f);
    add_span(f, 1000, DATA_LEN - 2000);
    fetch(f, "GET");
    expect_whole_body(f);
    add_text(f, "and a tail");
    fetch(f, "GET");
    expect_whole_body(f);

    /* a text piece across a block boundary: copied in two calls of the content reader */
    f->npieces = 0;
    add_span(f, 1000, 5 * FILE_BODY_BLOCK - 3);
    add_text(f, "0123456789");
    add_span(f, 0, 4096);
    fetch(f, "GET");
    expect_whole_body(f);
}

/* --files-zero-copy-max: one short span is sent from the mapping itself, which the response
 * holds until libmicrohttpd lets it go; a body of more pieces is copied as before. */
static void test_zero_copy_span(void **state)
{
    struct fixture *f = *state;
    f->ctx.files_zero_copy_max = 64u << 10;
    start(f);
    add_span(f, 777, 60000);
    fetch(f, "GET");
    expect_whole_body(f);
    struct file_map_counts c;
    uint64_t until = unit_now_ms() + WAIT_MS;
    /* the response lets its entry go when the daemon frees it, just after the close */
    for (file_map_counts(f->fm, &c); c.open_files != 0 && unit_now_ms() < until;
         file_map_counts(f->fm, &c))
        unit_sleep_ms(1);
    assert_int_equal(c.open_files, 0);
    add_text(f, "not one span");
    fetch(f, "GET");
    expect_whole_body(f);
}

/* HEAD announces the length and reads nothing. */
static void test_head(void **state)
{
    struct fixture *f = *state;
    start(f);
    add_span(f, 0, DATA_LEN);
    fetch(f, "HEAD");
    assert_int_equal(f->status, 200);
    assert_int_equal(f->content_length, DATA_LEN);
    assert_int_equal(f->body_len, 0);
    assert_int_equal(atomic_load(&f->result), BODY_OK);
}

/* The file truncated after its entry was opened, before a body read at once: BODY_CHANGED
 * (counted as short), nothing sent; a span that ends in the last page, past the new end,
 * too (the mapping would read zeros there). */
static void test_copied_truncated(void **state)
{
    struct fixture *f = *state;
    start(f);
    add_span(f, 8000, 4000);
    f->truncate_before = 10000;
    fetch(f, "GET");
    assert_int_equal(f->status, 503);
    assert_int_equal(atomic_load(&f->result), BODY_CHANGED);
    assert_int_equal(read_errors(f, "short"), 1);
    unit_write_file(&f->root, "data.bin", f->data, DATA_LEN);

    f->truncate_before = 12000 - 1; /* one byte short */
    fetch(f, "GET");
    assert_int_equal(f->status, 503);
    assert_int_equal(atomic_load(&f->result), BODY_CHANGED);
    assert_int_equal(read_errors(f, "short"), 2);
    unit_write_file(&f->root, "data.bin", f->data, DATA_LEN);

    f->truncate_before = 12000; /* the span is still whole */
    fetch(f, "GET");
    expect_whole_body(f);
    assert_int_equal(read_errors(f, "short"), 2);
}

/* A body a helper read into is sent after the size check alone; if the helper could not read
 * every span the body reads again itself; if the file shrank since, BODY_CHANGED. */
static void test_filled_by_helper(void **state)
{
    struct fixture *f = *state;
    start(f);
    add_text(f, "head:");
    add_span(f, 50000, 20000);
    add_text(f, ":mid:");
    add_span(f, 100, 300);
    f->fill = true;
    fetch(f, "GET");
    expect_whole_body(f);

    f->fill_fails = true;
    fetch(f, "GET");
    expect_whole_body(f);

    f->fill_fails = false;
    f->truncate_before = 60000;
    fetch(f, "GET");
    assert_int_equal(f->status, 503);
    assert_int_equal(atomic_load(&f->result), BODY_CHANGED);
    assert_int_equal(read_errors(f, "short"), 1);
}

/* A streamed body whose file is truncated (to a page boundary plus some) after the response
 * was made: the blocks before the new end are sent, then the copy of the next one takes a
 * SIGBUS, survived: the connection closes, the client has a short body of the file's bytes. */
static void test_streamed_truncated_sigbus(void **state)
{
    struct fixture *f = *state;
    start(f);
    add_span(f, 0, DATA_LEN);
    f->truncate_after = (1u << 20) + 100;
    fetch(f, "GET");
    expect_cut_short(f, 0, 1u << 20);
    assert_int_equal(f->body_len, 1u << 20); /* four whole blocks */
    assert_int_equal(read_errors(f, "sigbus"), 1);
    assert_int_equal(read_errors(f, "short"), 0);
}

/* Truncated inside the last page of a block: copying it takes no signal and reads zeros past
 * the new end; the size check after the copy refuses the block instead of sending them. */
static void test_streamed_truncated_in_last_page(void **state)
{
    struct fixture *f = *state;
    start(f);
    add_span(f, 0, DATA_LEN);
    f->truncate_after = 2 * FILE_BODY_BLOCK - 100;
    fetch(f, "GET");
    expect_cut_short(f, 0, FILE_BODY_BLOCK);
    assert_int_equal(f->body_len, FILE_BODY_BLOCK);
    assert_int_equal(read_errors(f, "short"), 1);
    assert_int_equal(read_errors(f, "sigbus"), 0);
}

/* Under TLS a body longer than FILE_BODY_TLS_BLOCK streams in blocks of it: truncated after
 * the response was made, the client gets the blocks before the cut. Without TLS the same body
 * is read at once before the truncation and arrives whole. */
static void test_tls_streams_past_one_block(void **state)
{
    struct fixture *f = *state;
    start(f);
    add_span(f, 0, 4 * FILE_BODY_TLS_BLOCK);
    f->truncate_after = 2 * FILE_BODY_TLS_BLOCK + 100;
    fetch(f, "GET");
    expect_whole_body(f); /* plain: copied at once */

    unit_write_file(&f->root, "data.bin", f->data, DATA_LEN);
    f->ctx.tls = true;
    fetch(f, "GET");
    expect_cut_short(f, 0, 2 * FILE_BODY_TLS_BLOCK);
    assert_int_equal(f->body_len, 2 * FILE_BODY_TLS_BLOCK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copied_span, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copied_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_copy_span, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copied_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filled_by_helper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_truncated_sigbus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_truncated_in_last_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_streams_past_one_block, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
