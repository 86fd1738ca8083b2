/* access_line.h - one access-log line, JSON or Apache combined, from one finished request
 * (pure: no I/O, no allocation).
 *
 * Whatever bytes the client sent, the line is valid: a JSON object on one line (JSON Lines),
 * or a combined-format line ("%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\"").
 *   JSON: every string holds the received bytes one code point per byte (U+0000 to U+00FF):
 *   printable ASCII as is, '"' and '\' escaped, every other byte (control characters,
 *   DEL, and each byte >= 0x80, valid UTF-8 or not) as \u00XX. Decoding the string and
 *   encoding it as Latin-1 gives back the exact bytes.
 *   Combined: printable ASCII as is; '"', '\' and every other byte as \xHH (nginx's escaping).
 * Client-supplied fields are cut at a bound on their escaped length (ACCESS_TARGET_MAX and
 * ACCESS_FIELD_MAX bytes): JSON adds "target_truncated", "range_truncated" or
 * "user_agent_truncated": true; combined ends the field with "...". A line is therefore at
 * most ACCESS_LINE_MAX bytes, newline included, below PIPE_BUF: a write(2) of whole lines of
 * up to PIPE_BUF bytes to a pipe never interleaves with another thread's.
 */
#ifndef MMAPD_ACCESS_LINE_H
#define MMAPD_ACCESS_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACCESS_TARGET_MAX 2048 /* escaped bytes of the request target */
#define ACCESS_FIELD_MAX 256   /* escaped bytes of the Range header, user agent, referer */
#define ACCESS_LINE_MAX 4096   /* a whole line, newline included */

enum access_format { ACCESS_JSON, ACCESS_COMBINED };

/* A byte string as received (not NUL-terminated); `ptr` NULL: absent. */
struct access_bytes {
    const char *ptr;
    size_t len;
    bool cut; /* already cut before it got here: mark it truncated */
};

struct access_entry {
    int64_t time_ms;            /* Unix time of the request line, milliseconds */
    const char *remote;         /* client address, e.g. "127.0.0.1" or "::1" */
    struct access_bytes method; /* absent: libmicrohttpd refused the request line */
    struct access_bytes target; /* path and query as received */
    const char *version;        /* "HTTP/1.1", or NULL */
    unsigned status;
    uint64_t body_bytes;
    bool has_file;              /* a file was involved: file_size is its size */
    uint64_t file_size;
    struct access_bytes range;  /* the Range header */
    unsigned ranges;            /* ranges served once merged, 0: none (whole file or refused) */
    bool cold;                  /* handed to the prefetch helpers */
    uint64_t prefetch_wait_ns;  /* suspended waiting for them */
    uint64_t duration_ns;       /* request line read to completion */
    const char *request_id;     /* safe characters only (access_request_id_ok) */
    struct access_bytes user_agent;
    struct access_bytes referer; /* combined only */
    const char *tls;            /* "TLS1.3", or NULL without TLS */
    const char *outcome;        /* "completed", "client_gone", "timeout", "error", "shutdown" */
};

/* Writes one line ending in '\n' into out (ACCESS_LINE_MAX bytes); returns its length. */
size_t access_line_format(enum access_format fmt, const struct access_entry *e, char *out);

/* True when `id` is a well-formed X-Request-Id to keep: 1 to ACCESS_ID_MAX characters, each
 * a letter, a digit or one of "-_.:+/=@~". */
#define ACCESS_ID_MAX 128
bool access_request_id_ok(const char *id);

#endif
