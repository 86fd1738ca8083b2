/* etag.h - the strong ETag of a file, as /files sends it (pure).
 *
 * etag_format() writes "\"INODE-SIZE-MTIME_NS\"" (lower-case hex, quotes included) for the
 * file that `st` describes, the same text filedata/file_map.c builds for its file_info: the
 * listing's "etag" must equal the ETag header of GET /files/NAME, so both call this.
 */
#ifndef MMAPD_ETAG_H
#define MMAPD_ETAG_H

#include <sys/stat.h>

#define ETAG_LEN 64 /* 3 x 16 hex digits, 2 dashes, 2 quotes, NUL: 53 */

void etag_format(const struct stat *st, char out[ETAG_LEN]);

#endif
