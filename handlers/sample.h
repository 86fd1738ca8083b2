/* sample.h - GET/HEAD /sample/<path>: N random records of a file, deterministic by seed.
 *
 * sample_handle() answers one request for `raw_path` (the URL after "/sample/", not yet
 * percent-decoded; the query comes from req->query) in a fixed order:
 *   1. path checks as for /files (400/403/404/414 from url_path_decode);
 *   2. the query (sample_query.h): 400 with {"error","parameter","reason","status"};
 *   3. the file, opened beneath the root (404/403; a directory is 403), and its `random`
 *      mapping (file_map_acquire(..., ACCESS_RANDOM, ...): a second mapping, apart from the
 *      stream one, with the random class's mapping-wide advice, MADV_RANDOM by default);
 *   4. the sampler (sampler.h): what needs the file size (size larger than the file, n more
 *      than the distinct records, start past the shard) is a 400 like the query's;
 *   5. format=raw: the offsets must fit the Sample-Offsets header, else 400 (parameter
 *      "format") that names the other formats;
 *   6. GET only: residency of every record (mincore over its first read_ahead_kb), then one
 *      batch of MADV_WILLNEED over the records found cold, before any byte is read; the cold
 *      bytes count as page-cache misses;
 *   7. the body (sample_layout.h) as a zero-copy iovec (multipart and raw with at most
 *      --sample-iovec-max records) or a copying content reader (json, and larger samples).
 * 200 carries Content-Type, ETag, Last-Modified, Sample-Seed, Sample-Next (a number, or "end"),
 * Sample-Records, Sample-Slots, Sample-Offsets (raw), and Cache-Control: no-store when the
 * server chose the seed. A page of 0 records is 200 for json ("records":[]) and raw (empty
 * body), 204 for multipart (a multipart body needs a part). The method must be GET or HEAD.
 */
#ifndef MMAPD_SAMPLE_H
#define MMAPD_SAMPLE_H

#include <microhttpd.h>

#include "handlers/request.h"

enum MHD_Result sample_handle(struct request *req, const char *raw_path);

#endif
