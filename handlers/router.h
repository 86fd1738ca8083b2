/* router.h - the MHD access handler and completion callback: dispatch by path and method.
 *
 * Routes (GET, HEAD): /files/<path>, the listings /files and /files/<dir>/, /healthz, /readyz,
 * /metrics; anything else 404, a known path with another method 405 with Allow. The cls of both callbacks is the struct
 * handler_ctx. A request (struct request) lives from its first handler call until MHD reports
 * it completed: it counts in ctx->in_flight meanwhile, and is recorded in the metrics then.
 */
#ifndef MMAPD_ROUTER_H
#define MMAPD_ROUTER_H

#include <microhttpd.h>

enum MHD_Result router_access(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls);

void router_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe);

/* MHD unescape callback that leaves the URL as received: handlers decode exactly once. */
size_t router_keep_escaped(void *cls, struct MHD_Connection *c, char *uri);

#endif
