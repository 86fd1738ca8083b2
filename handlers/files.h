/* files.h - GET/HEAD /files/<path>: whole files and byte ranges from the stream mapping.
 *
 * files_handle() answers one request for `raw_path` (the URL after "/files/", not yet
 * percent-decoded) in a fixed order: path checks (400/403/404/414), mapping, preconditions
 * (412/304), If-Range, Range (200, 206 single, 206 multipart/byteranges, 416). Bodies are
 * slices of the mapping sent without a user-space copy; each response holds its mapping
 * until MHD frees it. The method must already be GET or HEAD.
 */
#ifndef MMAPD_FILES_H
#define MMAPD_FILES_H

#include <microhttpd.h>

#include "handlers/request.h"

enum MHD_Result files_handle(struct request *req, const char *raw_path);

#endif
