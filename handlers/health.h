/* health.h - GET /healthz (liveness: the process answers) and GET /readyz (readiness: the
 * root is readable and the daemon is not draining). Small JSON bodies; 200 or 503. */
#ifndef MMAPD_HEALTH_H
#define MMAPD_HEALTH_H

#include <microhttpd.h>

#include "handlers/request.h"

enum MHD_Result health_live(struct request *req);
enum MHD_Result health_ready(struct request *req);

#endif
