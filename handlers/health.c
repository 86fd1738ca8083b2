/* health.c - liveness and readiness probes. */
#include "handlers/health.h"

#include <fcntl.h>
#include <unistd.h>

#include "handlers/reply.h"

enum MHD_Result health_live(struct request *req)
{
    return reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

enum MHD_Result health_ready(struct request *req)
{
    struct handler_ctx *ctx = req->ctx;
    const char *reason = NULL;
    if (atomic_load_explicit(&ctx->draining, memory_order_relaxed))
        reason = "draining";
    else if (faccessat(ctx->root_fd, ".", R_OK | X_OK, 0) != 0)
        reason = "root not readable";
    if (reason)
        return reply_json(req, 503, json_pack("{s:s, s:s}", "status", "not ready", "reason", reason));
    return reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
}
