/* test_conn_watch.c - the header deadline (access/conn_watch.h), with a real libmicrohttpd
 * daemon on a loopback port whose callbacks call conn_watch as the router does (the request
 * line arms the deadline, the access handler's first call clears it, the completion callback
 * re-arms it when there is an idle timeout), real clients and real time (a deadline of one
 * second, the shortest there is):
 *  - a client that sends its headers a byte at a time, one that sends nothing, and a second
 *    request on a keep-alive connection whose headers stall are all shut down about a second
 *    after their deadline was armed (never before), each counted as header_timeout;
 *  - a connection whose request completed, with no idle timeout, stays open;
 *  - a connection its client closed before the deadline is neither shut down nor counted;
 *  - without a deadline, the slots still carry the admission decision. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../unit_support.h"
#include "access/admission.h"
#include "access/conn_watch.h"
#include "metrics/metrics.h"

#define HEADER_TIMEOUT_MS 1000u
#define SWEEP_MS (HEADER_TIMEOUT_MS / 4) /* the watchdog's round */

struct fixture {
    struct metrics *metrics;
    struct admission *admission;
    struct conn_watch *watch;
    struct MHD_Daemon *daemon;
    uint16_t port;
    atomic_int admitted; /* requests whose slot carried an admission decision: serve */
    atomic_int served;
};

/* One request, from its request line (the URI log callback) to its completion. */
struct req {
    struct conn_slot *slot;
    bool started;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct admission_limits limits;
    if (!f)
        return -1;
    admission_limits_init(&limits, 64, 0);
    f->metrics = metrics_create(INSTRUMENT_FULL);
    f->admission = f->metrics ? admission_create(&limits, 256, f->metrics) : NULL;
    if (!f->admission) {
        metrics_destroy(f->metrics);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->daemon)
        MHD_stop_daemon(f->daemon); /* reports every connection closed */
    conn_watch_destroy(f->watch);
    admission_destroy(f->admission);
    metrics_destroy(f->metrics);
    free(f);
    return 0;
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls, (void)uri;
    struct req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->slot = conn_slot_of(c);
    conn_slot_request_started(r->slot);
    return r;
}

/* The first call (headers complete) clears the deadline; the next answers "ok", keeping the
 * connection open (answering on the first call would close it). */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
    (void)url, (void)method, (void)version, (void)upload, (void)upload_size;
    struct fixture *f = cls;
    struct req *r = *req_cls;
    if (!r)
        return MHD_NO;
    if (!r->started) {
        r->started = true;
        conn_slot_headers_done(r->slot);
        if (r->slot && conn_slot_admission(r->slot) &&
            admission_refusal(conn_slot_admission(r->slot)) == ADMISSION_OK)
            atomic_fetch_add(&f->admitted, 1);
        return MHD_YES;
    }
    atomic_fetch_add(&f->served, 1);
    return unit_queue(c, MHD_HTTP_OK,
                      MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT));
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    struct req *r = *req_cls;
    if (r)
        conn_slot_request_done(r->slot);
    free(r);
    *req_cls = NULL;
}

static void start(struct fixture *f, unsigned timeout_s, unsigned idle_s)
{
    f->watch = conn_watch_create(timeout_s, idle_s, f->admission, f->metrics, NULL);
    assert_non_null(f->watch);
    int lfd = unit_listen(&f->port);
    f->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD, 0, admission_accept, f->admission, handle, f,
        MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_NOTIFY_CONNECTION, conn_watch_notify, f->watch,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    assert_non_null(f->daemon);
}

static uint64_t header_timeouts(struct fixture *f)
{
    return unit_metric(f->metrics, "mmapd_connections_rejected_total{reason=\"header_timeout\"}");
}

/* Sends a whole request on `fd` and reads its response (the connection stays open). */
static void exchange(int fd)
{
    char buf[1024];
    size_t got = 0;
    uint64_t until = unit_now_ms() + 2000;
    unit_send(fd, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    buf[0] = '\0';
    while (!strstr(buf, "\r\n\r\nok") && got + 1 < sizeof buf) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        uint64_t now = unit_now_ms();
        assert_true(now < until);
        if (poll(&p, 1, (int)(until - now)) <= 0)
            continue;
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
        buf[got] = '\0';
    }
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
}

enum { SLOW, SILENT, STALLED_SECOND, SERVED, LEFT, NCLIENTS };

struct client {
    int fd;
    uint64_t armed_ms;  /* when its deadline was armed, at the latest */
    uint64_t closed_ms; /* when the stream ended; 0: still open */
};

/* Watches the clients until every one that should be shut down was, and one more watchdog
 * round went by, or 2.5 s passed: reads what comes, notes when a stream ends, sends SLOW's
 * headers a byte every 100 ms and closes LEFT itself after 400 ms. */
static void watch_clients(struct client *cl, uint64_t t0)
{
    uint64_t last_drip = t0, done_at = 0;
    const char *drip = "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    size_t dripped = 0;
    for (;;) {
        uint64_t now = unit_now_ms();
        if (now > t0 + 2500 || (done_at && now > done_at + SWEEP_MS + 50))
            break;
        if (cl[LEFT].fd >= 0 && now >= t0 + 400) {
            close(cl[LEFT].fd);
            cl[LEFT].fd = -1;
        }
        if (!cl[SLOW].closed_ms && now >= last_drip + 100 && drip[dripped]) {
            send(cl[SLOW].fd, drip + dripped++, 1, MSG_NOSIGNAL); /* may fail once shut down */
            last_drip = now;
        }
        struct pollfd p[NCLIENTS];
        for (int i = 0; i < NCLIENTS; i++)
            p[i] = (struct pollfd){.fd = cl[i].closed_ms || i == LEFT ? -1 : cl[i].fd,
                                   .events = POLLIN};
        if (poll(p, NCLIENTS, 20) <= 0)
            continue;
        for (int i = 0; i < NCLIENTS; i++) {
            char buf[512];
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (recv(cl[i].fd, buf, sizeof buf, MSG_DONTWAIT) <= 0)
                cl[i].closed_ms = unit_now_ms();
        }
        if (!done_at && cl[SLOW].closed_ms && cl[SILENT].closed_ms && cl[STALLED_SECOND].closed_ms)
            done_at = unit_now_ms();
    }
}

static void expect_shut_down_on_time(const struct client *c, const char *name)
{
    if (!c->closed_ms)
        fail_msg("%s: still open", name);
    uint64_t after = c->closed_ms - c->armed_ms;
    print_message("%s: shut down %u ms after its deadline was armed\n", name, (unsigned)after);
    /* not before the deadline; at the latest a watchdog round after it (and some slack) */
    assert_true(after >= HEADER_TIMEOUT_MS - 20);
    assert_true(after <= HEADER_TIMEOUT_MS + SWEEP_MS + 400);
}

static void test_stalled_headers_shut_down(void **state)
{
    struct fixture *f = *state;
    struct client cl[NCLIENTS];
    start(f, 1, 0);
    uint64_t t0 = unit_now_ms();
    for (int i = 0; i < NCLIENTS; i++)
        cl[i] = (struct client){.fd = unit_connect(f->port), .armed_ms = t0};
    unit_send(cl[SLOW].fd, "GET /slow HTTP/1.1\r\nHost: t\r\n");
    unit_send(cl[LEFT].fd, "GET /left HTTP/1.1\r\n");
    exchange(cl[SERVED].fd);
    exchange(cl[STALLED_SECOND].fd);
    /* the second request line re-arms the deadline (before that: none, idle timeout 0) */
    cl[STALLED_SECOND].armed_ms = unit_now_ms();
    unit_send(cl[STALLED_SECOND].fd, "GET /second HTTP/1.1\r\nHost: t\r\n");
    watch_clients(cl, t0);

    expect_shut_down_on_time(&cl[SLOW], "slow");
    expect_shut_down_on_time(&cl[SILENT], "silent");
    expect_shut_down_on_time(&cl[STALLED_SECOND], "stalled second request");
    assert_int_equal(cl[SERVED].closed_ms, 0);
    assert_int_equal(header_timeouts(f), 3); /* not the connection its client closed */
    assert_int_equal(atomic_load(&f->served), 2);
    exchange(cl[SERVED].fd); /* still served */
    for (int i = 0; i < NCLIENTS; i++)
        if (i != LEFT)
            close(cl[i].fd);
}

/* Without a deadline there is no watchdog; the slots still carry the admission decision. */
static void test_no_deadline_keeps_admission(void **state)
{
    struct fixture *f = *state;
    start(f, 0, 0);
    int a = unit_connect(f->port), b = unit_connect(f->port);
    exchange(a);
    exchange(b);
    exchange(a);
    assert_int_equal(atomic_load(&f->admitted), 3);
    assert_int_equal(atomic_load(&f->served), 3);
    assert_int_equal(header_timeouts(f), 0);
    close(a);
    close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stalled_headers_shut_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_deadline_keeps_admission, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
