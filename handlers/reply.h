/* reply.h - queueing responses, and the small ones shared by all handlers.
 *
 * Each function builds, queues and destroys one response, records the status and body length
 * in the request (for the metrics), names the instance (Mmapd-Instance, when configured), adds
 * the CORS headers when the request's origin is allowed, and returns what MHD_queue_response()
 * returned. Error
 * bodies are {"error": MESSAGE, "status": N} and a newline.
 */
#ifndef MMAPD_REPLY_H
#define MMAPD_REPLY_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdint.h>

#include "handlers/request.h"

/* Queues a JSON error; `message` is a fixed text, never client input. */
enum MHD_Result reply_error(struct request *req, unsigned status, const char *message);

/* reply_error() with the standard message for `status`. */
enum MHD_Result reply_status(struct request *req, unsigned status);

/* Queues `doc` (consumed) as application/json. */
enum MHD_Result reply_json(struct request *req, unsigned status, json_t *doc);

/* 400 with {"error": "bad query parameter", "parameter", "reason", "status": 400}: the answer of
 * /sample and listings to a query parameter they refuse. */
enum MHD_Result reply_bad_parameter(struct request *req, const char *param, const char *reason);

/* Queues a 405 naming the allowed methods ("GET, HEAD"). */
enum MHD_Result reply_method_not_allowed(struct request *req, const char *allow);

/* 401 with WWW-Authenticate: Bearer (error="invalid_token" when a token was presented). */
enum MHD_Result reply_unauthorized(struct request *req, bool invalid_token);

/* 503 for a connection over a connection limit: `message` (fixed text) in the JSON body,
 * Retry-After: 1, and Connection: close, so that libmicrohttpd closes it after the answer. */
enum MHD_Result reply_unavailable(struct request *req, const char *message);

/* 204 answer to a CORS preflight (the request's origin is allowed), or 403 (it is not). */
enum MHD_Result reply_preflight(struct request *req);

/* The standard JSON error response for `status`, not yet queued, so that the caller can add
 * headers (Content-Range on a 416); its body length in *len; NULL when out of memory. */
struct MHD_Response *reply_error_response(unsigned status, uint64_t *len);

/* Queues `r` (whose body is `body_len` bytes) with `status` and destroys the local reference
 * to it. A NULL `r` (an allocation failed) closes the connection. */
enum MHD_Result reply_queue(struct request *req, unsigned status, struct MHD_Response *r,
                            uint64_t body_len);

#endif
