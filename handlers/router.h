/* router.h - the MHD URI log, access and completion callbacks: dispatch by path and method.
 *
 * Routes (GET, HEAD): /files/<path>, the listings /files and /files/<dir>/, /sample/<path>,
 * /healthz, /readyz, /metrics; anything else 404, a known path with another method 405 with
 * Allow. The cls of all three callbacks is the struct handler_ctx. A request (struct request)
 * is allocated by router_uri_log() when MHD has read the request line (MHD passes its return
 * value to the other callbacks as *req_cls), keeping the raw query string, which MHD's own
 * argument parsing would alter ('+' as space, elements without '=' dropped). It counts in
 * ctx->in_flight from its first access-handler call until MHD reports it completed, is then
 * recorded in the metrics, and router_completed() frees it, exactly once (MHD calls the
 * completion callback for every request whose URI log callback ran, even one it answered
 * itself; such a request was never started and is freed without being recorded, except that
 * a 431 or 414, a request that outgrew the connection's memory pool, counts in
 * mmapd_connections_rejected_total{reason="memory_pool"}). Requests on a connection accepted
 * over a connection limit (access/admission.h) are answered 503, GET /healthz excepted.
 */
#ifndef MMAPD_ROUTER_H
#define MMAPD_ROUTER_H

#include <microhttpd.h>

/* MHD_OPTION_URI_LOG_CALLBACK: a new struct request for `uri` (NULL when out of memory; the
 * access handler then closes the connection). */
void *router_uri_log(void *cls, const char *uri, struct MHD_Connection *c);

enum MHD_Result router_access(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls);

void router_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe);

/* MHD unescape callback that leaves the URL as received: handlers decode exactly once. */
size_t router_keep_escaped(void *cls, struct MHD_Connection *c, char *uri);

#endif
