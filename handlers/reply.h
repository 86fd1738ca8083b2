/* reply.h - small responses shared by all handlers: JSON errors and JSON documents.
 *
 * Each function builds, queues and destroys one response and returns what
 * MHD_queue_response() returned. Error bodies are {"error": MESSAGE, "status": N}.
 */
#ifndef MMAPD_REPLY_H
#define MMAPD_REPLY_H

#include <jansson.h>
#include <microhttpd.h>

/* Queues a JSON error; `message` is a fixed text, never client input. */
enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *message);

/* reply_error() with the standard message for `status`. */
enum MHD_Result reply_status(struct MHD_Connection *c, unsigned status);

/* Queues `doc` (consumed) as application/json. */
enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *doc);

/* Queues a 405 naming the allowed methods ("GET, HEAD"). */
enum MHD_Result reply_method_not_allowed(struct MHD_Connection *c, const char *allow);

/* The standard JSON error response for `status`, not yet queued, so that the caller can add
 * headers (Content-Range on a 416); NULL when out of memory. */
struct MHD_Response *reply_error_response(unsigned status);

/* Queues `r` with `status`, destroys the local reference to it. A NULL `r` (an allocation
 * failed) closes the connection. */
enum MHD_Result reply_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r);

#endif
