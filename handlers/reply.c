/* reply.c - JSON error and document responses. */
#include "handlers/reply.h"

#include <stdlib.h>
#include <string.h>

enum MHD_Result reply_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A response with `doc` (consumed) as its application/json body, or NULL. */
static struct MHD_Response *json_response(json_t *doc)
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

enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *doc)
{
    return reply_queue(c, status, json_response(doc));
}

static json_t *error_doc(unsigned status, const char *message)
{
    return json_pack("{s:s, s:i}", "error", message, "status", (int)status);
}

enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *message)
{
    return reply_json(c, status, error_doc(status, message));
}

static const char *status_message(unsigned status)
{
    switch (status) {
    case 400: return "bad request";
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

enum MHD_Result reply_status(struct MHD_Connection *c, unsigned status)
{
    return reply_error(c, status, status_message(status));
}

struct MHD_Response *reply_error_response(unsigned status)
{
    return json_response(error_doc(status, status_message(status)));
}

enum MHD_Result reply_method_not_allowed(struct MHD_Connection *c, const char *allow)
{
    struct MHD_Response *r = reply_error_response(405);
    if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return reply_queue(c, 405, r);
}
