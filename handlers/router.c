/* router.c - request dispatch and the per-request in-flight accounting. */
#include "handlers/router.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access/admission.h"
#include "access/conn_watch.h"
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

void *router_uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct request *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->ctx = cls;
    req->conn = c;
    req->slot = conn_slot_of(c);
    conn_slot_request_started(req->slot); /* its headers are due within --header-timeout */
    req->rec.handler = MH_OTHER;
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
    (void)version;
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
        atomic_fetch_add_explicit(&ctx->in_flight, 1, memory_order_relaxed);
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
        return fn(req, state); /* takes the state */
    }
    return dispatch(req, url, method);
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
        if (req->hints.automatic && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
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
