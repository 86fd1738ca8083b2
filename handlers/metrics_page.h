/* metrics_page.h - GET /metrics: the Prometheus exposition of the server's metrics.
 *
 * Text format 0.0.4 by default; OpenMetrics 1.0.0 when the Accept header asks for
 * application/openmetrics-text. The method must already be GET or HEAD.
 */
#ifndef MMAPD_METRICS_PAGE_H
#define MMAPD_METRICS_PAGE_H

#include "handlers/request.h"

enum MHD_Result metrics_page(struct request *req);

#endif
