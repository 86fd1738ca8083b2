/* mime.h - Content-Type from a file name's extension (pure, static table).
 * Returns a static string; "application/octet-stream" when the extension is unknown. */
#ifndef MMAPD_MIME_H
#define MMAPD_MIME_H

const char *mime_type_for(const char *path);

#endif
