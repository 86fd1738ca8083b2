/* reply.c - JSON error and document responses. */
#include "handlers/reply.h"

#include <stdlib.h>
#include <string.h>

/* CORS headers on every response to an allowed origin, errors included: a 404 or 416
 * without them reaches a browser script as an opaque CORS failure. */
static bool add_cors(const struct request *req, struct MHD_Response *r)
{
    const char *origin = req->cors_origin;
    if (!origin)
        return true;
    return MHD_add_response_header(r, "Access-Control-Allow-Origin", origin) == MHD_YES &&
           (strcmp(origin, "*") == 0 || MHD_add_response_header(r, "Vary", "Origin") == MHD_YES) &&
           MHD_add_response_header(r, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS) ==
               MHD_YES;
}

enum MHD_Result reply_queue(struct request *req, unsigned status, struct MHD_Response *r,
                            uint64_t body_len)
{
    if (!r)
        return MHD_NO;
    req->rec.status = status;
    req->rec.body_bytes = body_len;
    /* While draining, each answer closes its connection: a keep-alive client goes away after
     * the response it is getting instead of sending more requests, which would keep the drain
     * from ever seeing zero in flight and be cut when --drain-timeout ends it. */
    bool draining = atomic_load_explicit(&req->ctx->draining, memory_order_relaxed);
    if ((req->ctx->instance_name[0] &&
         MHD_add_response_header(r, "Mmapd-Instance", req->ctx->instance_name) != MHD_YES) ||
        (draining && MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES) ||
        (req->ctx->access_log &&
         MHD_add_response_header(r, "X-Request-Id", request_id(req)) != MHD_YES) ||
        !add_cors(req, r)) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    enum MHD_Result ret = MHD_queue_response(req->conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A response with `doc` (consumed) as its application/json body (*len bytes), or NULL. */
static struct MHD_Response *json_response(json_t *doc, uint64_t *len_out)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    size_t len = text ? strlen(text) : 0;
    char *body = text ? realloc(text, len + 2) : NULL; /* end with a newline, for curl */
    if (!body) {
        free(text);
        return NULL;
    }
    body[len++] = '\n';
    body[len] = '\0';
    *len_out = len;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return NULL;
    }
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") != MHD_YES) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

enum MHD_Result reply_json(struct request *req, unsigned status, json_t *doc)
{
    uint64_t len = 0;
    struct MHD_Response *r = json_response(doc, &len);
    return reply_queue(req, status, r, len);
}

static json_t *error_doc(unsigned status, const char *message)
{
    return json_pack("{s:s, s:i}", "error", message, "status", (int)status);
}

enum MHD_Result reply_error(struct request *req, unsigned status, const char *message)
{
    return reply_json(req, status, error_doc(status, message));
}

static const char *status_message(unsigned status)
{
    switch (status) {
    case 301: return "moved permanently";
    case 400: return "bad request";
    case 401: return "a bearer token is required";
    case 403: return "forbidden";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 412: return "precondition failed";
    case 414: return "path too long";
    case 416: return "range not satisfiable";
    case 503: return "service unavailable";
    default: return "internal server error";
    }
}

enum MHD_Result reply_status(struct request *req, unsigned status)
{
    return reply_error(req, status, status_message(status));
}

struct MHD_Response *reply_error_response(unsigned status, uint64_t *len)
{
    return json_response(error_doc(status, status_message(status)), len);
}

enum MHD_Result reply_method_not_allowed(struct request *req, const char *allow)
{
    uint64_t len = 0;
    struct MHD_Response *r = reply_error_response(405, &len);
    if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return reply_queue(req, 405, r, len);
}

enum MHD_Result reply_unauthorized(struct request *req, bool invalid_token)
{
    uint64_t len = 0;
    struct MHD_Response *r = reply_error_response(401, &len);
    const char *challenge = invalid_token ? "Bearer realm=\"mmapd\", error=\"invalid_token\""
                                          : "Bearer realm=\"mmapd\"";
    if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge) != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return reply_queue(req, 401, r, len);
}

enum MHD_Result reply_unavailable(struct request *req, const char *message)
{
    uint64_t len = 0;
    struct MHD_Response *r = json_response(error_doc(503, message), &len);
    if (r && (MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1") != MHD_YES ||
              MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return reply_queue(req, 503, r, len);
}

enum MHD_Result reply_preflight(struct request *req)
{
    if (!req->cors_origin)
        return reply_error(req, 403, "origin not allowed");
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (r && (MHD_add_response_header(r, "Access-Control-Allow-Methods", CORS_ALLOW_METHODS) !=
                  MHD_YES ||
              MHD_add_response_header(r, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS) !=
                  MHD_YES ||
              MHD_add_response_header(r, "Access-Control-Max-Age", CORS_MAX_AGE) != MHD_YES)) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return reply_queue(req, 204, r, 0);
}

enum MHD_Result reply_bad_parameter(struct request *req, const char *param, const char *reason)
{
    json_t *doc = json_pack("{s:s, s:s, s:s, s:i}", "error", "bad query parameter",
                            "parameter", param, "reason", reason, "status", 400);
    return reply_json(req, 400, doc);
}
