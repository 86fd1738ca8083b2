/* health.h - GET /healthz (liveness: the process answers) and GET /readyz (readiness: the
 * root is readable and the daemon is not draining). Small JSON bodies; 200 or 503. */
#ifndef MMAPD_HEALTH_H
#define MMAPD_HEALTH_H

#include <microhttpd.h>

#include "handlers/handler_ctx.h"

enum MHD_Result health_live(struct handler_ctx *ctx, struct MHD_Connection *c);
enum MHD_Result health_ready(struct handler_ctx *ctx, struct MHD_Connection *c);

#endif
