/* router.c - request dispatch, the per-request in-flight accounting and the access log line
 * of each request. */
#include "handlers/router.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "access/admission.h"
#include "access/conn_watch.h"
#include "access/tls.h"
#include "handlers/files.h"
#include "handlers/health.h"
#include "handlers/listing.h"
#include "handlers/metrics_page.h"
#include "handlers/reply.h"
#include "handlers/request.h"
#include "handlers/sample.h"

#define FILES_PREFIX "/files/"
#define SAMPLE_PREFIX "/sample/"

static bool is_get_or_head(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* The path of a request target: origin-form as is; absolute-form ("http://host/path", which
 * RFC 9112 3.2.2 says a server must accept) without its scheme and authority. */
static const char *target_path(const char *url)
{
    const char *rest = NULL;
    if (strncasecmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        rest = url + 8;
    if (!rest)
        return url;
    const char *slash = strchr(rest, '/');
    return slash ? slash : "/";
}

/* The data endpoints (files, listings, samples) need a token when tokens are configured;
 * /metrics only with --metrics-auth token; health probes never. */
static bool needs_token(const struct live_settings *s, enum metric_handler h)
{
    if (!s->tokens)
        return false;
    return h == MH_FILES || h == MH_LIST || h == MH_SAMPLE || (h == MH_METRICS && s->metrics_auth);
}

static enum MHD_Result dispatch(struct request *req, const char *url, const char *method)
{
    enum MHD_Result (*handle)(struct request *) = NULL;
    url = target_path(url);
    if (strcmp(url, "/healthz") == 0) {
        req->rec.handler = MH_HEALTH;
        handle = health_live;
    } else if (strcmp(url, "/readyz") == 0) {
        req->rec.handler = MH_HEALTH;
        handle = health_ready;
    } else if (strcmp(url, "/metrics") == 0) {
        req->rec.handler = MH_METRICS;
        handle = metrics_page;
    } else if (strcmp(url, "/files") == 0 || strncmp(url, FILES_PREFIX, strlen(FILES_PREFIX)) == 0) {
        /* "/files" and "/files/DIR/" are listings: their page faults count for them */
        req->rec.handler = url[strlen(url) - 1] == '/' || strcmp(url, "/files") == 0 ? MH_LIST
                                                                                    : MH_FILES;
    } else if (strncmp(url, SAMPLE_PREFIX, strlen(SAMPLE_PREFIX)) == 0) {
        req->rec.handler = MH_SAMPLE;
    } else {
        req->rec.handler = MH_OTHER;
    }
    struct handler_ctx *ctx = req->ctx;
    metrics_handler_enter(ctx->metrics, req->rec.handler);
    const struct live_settings *settings = req->settings;
    req->cors_origin = cors_allow_origin(
        &settings->cors, MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Origin"));
    /* the drain is over (server_drain()) and the daemon stops any moment: a request that
     * starts now is answered at once rather than cut off in the middle of its body */
    if (atomic_load(&ctx->stopping))
        return reply_error(req, 503, "shutting down"); /* draining: it closes */
    /* a connection over a connection limit gets 503 for all but the liveness probe: a
     * saturated server is alive, and an orchestrator must not restart it for being busy */
    enum admission_reason over = admission_refusal(conn_slot_admission(req->slot));
    if (over != ADMISSION_OK && handle != health_live)
        return reply_unavailable(req, over == ADMISSION_PER_IP
                                          ? "too many connections from this address"
                                          : "too many connections");
    /* with --tls-client-ca, every endpoint but the probes needs a client certificate, like
     * the tokens (a probe cannot send one) */
    enum tls_client cert = handle == health_live || handle == health_ready
                               ? TLS_CLIENT_OK
                               : conn_slot_client_cert(req->slot, req->conn);
    if (cert != TLS_CLIENT_OK)
        return reply_error(req, 403,
                           cert == TLS_CLIENT_NONE
                               ? "a client certificate is required"
                               : "the client certificate is not signed by a trusted CA");
    if (req->rec.handler == MH_OTHER)
        return reply_status(req, 404);
    if (settings->cors.enabled && strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0)
        return reply_preflight(req);
    if (!is_get_or_head(method))
        return reply_method_not_allowed(req, "GET, HEAD");
    if (needs_token(settings, req->rec.handler)) {
        const char *auth =
            MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        enum auth_result a = token_set_check(settings->tokens, auth);
        if (a != AUTH_OK)
            return reply_unauthorized(req, a == AUTH_INVALID);
    }
    if (handle)
        return handle(req);
    if (req->rec.handler == MH_SAMPLE)
        return sample_handle(req, url + strlen(SAMPLE_PREFIX));
    const char *raw = strcmp(url, "/files") == 0 ? "" : url + strlen(FILES_PREFIX);
    if (req->rec.handler == MH_LIST)
        return listing_handle_url(req, raw);
    return files_handle(req, raw);
}

/* The access log's view of the request line: when, and the target's first bytes. */
static void start_log(struct request *req, const char *uri, size_t keep, bool cut)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    req->log.time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    req->log.line_ns = metrics_now_ns();
    req->log.target = (char *)(req + 1);
    memcpy(req->log.target, uri, keep);
    req->log.target_len = keep;
    req->log.target_cut = cut;
}

void *router_uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct handler_ctx *ctx = cls;
    size_t len = ctx->access_log && uri ? strlen(uri) : 0;
    size_t keep = len < ACCESS_TARGET_MAX ? len : ACCESS_TARGET_MAX;
    struct request *req = calloc(1, sizeof *req + keep);
    if (!req)
        return NULL;
    req->ctx = ctx;
    req->conn = c;
    req->slot = conn_slot_of(c);
    conn_slot_request_started(req->slot); /* its headers are due within --header-timeout */
    req->rec.handler = MH_OTHER;
    if (ctx->access_log)
        start_log(req, uri ? uri : "", keep, len > keep);
    const char *q = uri ? strchr(uri, '?') : NULL;
    if (q && !(req->query = strdup(q + 1))) {
        free(req);
        return NULL;
    }
    return req;
}

enum MHD_Result router_access(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct handler_ctx *ctx = cls;
    struct request *req = *req_cls;
    (void)c;
    (void)upload_data;
    if (!req) /* router_uri_log ran out of memory */
        return MHD_NO;
    if (req->phase == REQUEST_LOGGED) {
        /* First call, headers complete: start the request. Answering here would make MHD
         * close the connection after the response, so answer on the next call. */
        req->phase = REQUEST_STARTED;
        conn_slot_headers_done(req->slot);
        req->rec.start_ns = metrics_now_ns();
        req->rec.method = metrics_method(method);
        if (req->slot) {
            req->settings = conn_slot_settings(req->slot, ctx->settings);
        } else {
            req->settings_owned = live_settings_acquire(ctx->settings);
            req->settings = req->settings_owned;
        }
        if (ctx->access_log) {
            req->log.method_len = strnlen(method, sizeof req->log.method);
            req->log.method_cut = method[req->log.method_len] != '\0';
            memcpy(req->log.method, method, req->log.method_len);
            snprintf(req->log.version, sizeof req->log.version, "%s", version);
        }
        /* counted before dispatch() looks at ctx->stopping (both sequentially consistent):
         * either the drain sees it in flight and waits, or it sees the drain over */
        atomic_fetch_add(&ctx->in_flight, 1);
        return MHD_YES;
    }
    if (*upload_data_size != 0) { /* a request body is never used: discard it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->resume.fn) { /* back from the prefetch helpers: go on where it stopped */
        enum MHD_Result (*fn)(struct request *, void *) = req->resume.fn;
        void *state = req->resume.state;
        req->resume.fn = NULL;
        req->resume.state = NULL;
        req->resume.state_free = NULL;
        if (req->log.handed_off_ns) {
            req->log.prefetch_wait_ns += metrics_now_ns() - req->log.handed_off_ns;
            req->log.handed_off_ns = 0;
        }
        return fn(req, state); /* takes the state */
    }
    return dispatch(req, url, method);
}

static const char *outcome_name(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK: return "completed";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR:
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "client_gone";
    case MHD_REQUEST_TERMINATED_WITH_ERROR:
    default: return "error";
    }
}

static struct access_bytes header_bytes(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    return (struct access_bytes){v, v ? strlen(v) : 0, false};
}

static void client_address(struct MHD_Connection *c, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    snprintf(out, outlen, "-");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)outlen);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)outlen);
}

/* One access-log line for a request that ends. libmicrohttpd's own answers (400, 414, 431)
 * are logged with the status it sent; a request line followed by nothing is not (no
 * response). A request that got no response from mmapd (its client went away) is logged
 * with 499, nginx's convention. */
static void log_request(struct request *req, struct MHD_Connection *c,
                        enum MHD_RequestTerminationCode toe)
{
    unsigned status = req->rec.status;
    if (req->phase == REQUEST_LOGGED || status == 0) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
        status = ci ? ci->http_status : 0;
    }
    if (req->phase == REQUEST_LOGGED && status == 0)
        return;
    char remote[INET6_ADDRSTRLEN];
    client_address(c, remote, sizeof remote);
    struct access_entry e = {
        .time_ms = req->log.time_ms,
        .remote = remote,
        .method = {req->log.method_len ? req->log.method : NULL, req->log.method_len,
                   req->log.method_cut},
        .target = {req->log.target, req->log.target_len, req->log.target_cut},
        .version = req->log.version[0] ? req->log.version : NULL,
        .status = status ? status : 499,
        .body_bytes = req->rec.body_bytes,
        .has_file = req->log.has_file,
        .file_size = req->log.file_size,
        .range = header_bytes(c, MHD_HTTP_HEADER_RANGE),
        .ranges = req->log.ranges,
        .cold = req->counted_cold,
        .prefetch_wait_ns = req->log.prefetch_wait_ns,
        .duration_ns = metrics_now_ns() - req->log.line_ns,
        .request_id = request_id(req),
        .user_agent = header_bytes(c, MHD_HTTP_HEADER_USER_AGENT),
        .referer = header_bytes(c, MHD_HTTP_HEADER_REFERER),
        .tls = req->ctx->tls ? tls_connection_version(c) : NULL,
        .outcome = outcome_name(toe),
    };
    access_log_write(req->ctx->access_log, &e);
}

void router_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct handler_ctx *ctx = cls;
    struct request *req = *req_cls;
    if (!req)
        return;
    if (req->phase != REQUEST_LOGGED) {
        /* body bytes and records count only when all were handed to the kernel; HEAD
         * sends none */
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK || req->rec.method == MM_HEAD) {
            req->rec.body_bytes = 0;
            req->rec.sample_records = 0;
        }
        metrics_request_done(ctx->metrics, &req->rec);
        if (!req->streamed)
            atomic_fetch_add_explicit(&ctx->short_answers, 1, memory_order_relaxed);
        if (req->hints.automatic && !req->hints.segmented &&
            toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
            advice_auto_record(ctx->auto_advice, req->hints.cls, req->hints.willneed,
                               metrics_now_ns() - req->rec.start_ns, req->rec.body_bytes);
        metrics_sample_records(ctx->metrics, req->rec.sample_records);
        atomic_fetch_sub_explicit(&ctx->in_flight, 1, memory_order_relaxed);
    } else {
        /* libmicrohttpd answered it itself; 431 and 414 mean the request outgrew the
         * connection's memory pool (it closes the connection after them) */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
        if (ci && (ci->http_status == MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE ||
                   ci->http_status == MHD_HTTP_URI_TOO_LONG))
            metrics_connection_rejected(ctx->metrics, MRJ_MEMORY_POOL);
    }
    if (ctx->access_log)
        log_request(req, c, toe);
    conn_slot_request_done(req->slot); /* the next request line is due */
    request_clear_resume(req); /* a connection closed while its request waited */
    live_settings_release(req->settings_owned);
    free(req->query);
    free(req);
    *req_cls = NULL;
}

size_t router_keep_escaped(void *cls, struct MHD_Connection *c, char *uri)
{
    (void)cls;
    (void)c;
    return strlen(uri);
}
