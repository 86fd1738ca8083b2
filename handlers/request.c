/* request.c - what a request decides once: whether it gives WILLNEED hints. */
#include "handlers/request.h"

#include "filedata/advice_auto.h"

bool request_willneed(struct request *req, enum access_class c)
{
    struct handler_ctx *ctx = req->ctx;
    if (!req->hints.decided) {
        req->hints.decided = true;
        req->hints.cls = c;
        req->hints.automatic = ctx->policy.automatic[c] && ctx->auto_advice;
        req->hints.willneed = req->hints.automatic ? advice_auto_pick(ctx->auto_advice, c)
                                                   : advice_wants(&ctx->policy, c, ADVICE_WILLNEED);
    }
    return req->hints.willneed;
}
