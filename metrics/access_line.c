/* access_line.c - format one access-log line, escaping whatever the client sent. */
#include "metrics/access_line.h"

#include <string.h>
#include <time.h>

#define METHOD_MAX 32 /* escaped bytes of the method */

/* A line being written: never past ACCESS_LINE_MAX - 1 bytes, room kept for the newline. */
struct out {
    char *p;
    size_t n;
};

static void put(struct out *o, const char *s, size_t len)
{
    if (len > ACCESS_LINE_MAX - 1 - o->n)
        len = ACCESS_LINE_MAX - 1 - o->n;
    memcpy(o->p + o->n, s, len);
    o->n += len;
}

static void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }

/* Decimal digits of v, at least `width` of them (zero-padded): no printf on the hot path. */
static void put_u64(struct out *o, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < width);
    put(o, tmp + sizeof tmp - n, (size_t)n);
}

static bool plain(unsigned char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; }

/* Escapes b into o, at most `bound` bytes; true when all of b fit (and it was not cut). */
static bool escape(struct out *o, struct access_bytes b, size_t bound, enum access_format fmt)
{
    static const char hex[] = "0123456789abcdef";
    size_t used = 0;
    for (size_t i = 0; i < b.len; i++) {
        unsigned char c = (unsigned char)b.ptr[i];
        char e[6];
        size_t k = 0;
        if (plain(c)) {
            e[k++] = (char)c;
        } else if (fmt == ACCESS_JSON && (c == '"' || c == '\\')) {
            e[k++] = '\\';
            e[k++] = (char)c;
        } else if (fmt == ACCESS_JSON) {
            memcpy(e, "\\u00", 4);
            k = 4;
            e[k++] = hex[c >> 4];
            e[k++] = hex[c & 15];
        } else {
            e[k++] = '\\';
            e[k++] = 'x';
            e[k++] = hex[c >> 4];
            e[k++] = hex[c & 15];
        }
        if (used + k > bound)
            return false;
        put(o, e, k);
        used += k;
    }
    return !b.cut;
}

/* "key":"escaped" or "key":null; with "key_truncated":true after it when cut. */
static void json_key(struct out *o, const char *key);

static void json_bytes(struct out *o, const char *key, struct access_bytes b, size_t bound)
{
    json_key(o, key);
    if (!b.ptr) {
        puts_(o, "null");
        return;
    }
    puts_(o, "\"");
    bool whole = escape(o, b, bound, ACCESS_JSON);
    puts_(o, "\"");
    if (!whole) {
        puts_(o, ",\"");
        puts_(o, key);
        puts_(o, "_truncated\":true");
    }
}

static void json_text(struct out *o, const char *key, const char *s)
{
    struct access_bytes b = {s, s ? strlen(s) : 0, false};
    json_bytes(o, key, b, ACCESS_FIELD_MAX);
}

/* ,"key": */
static void json_key(struct out *o, const char *key)
{
    puts_(o, ",\"");
    puts_(o, key);
    puts_(o, "\":");
}

static void json_ms(struct out *o, const char *key, uint64_t ns)
{
    json_key(o, key);
    put_u64(o, ns / 1000000, 1);
    puts_(o, ".");
    put_u64(o, ns / 1000 % 1000, 3);
}

static void json_u64(struct out *o, const char *key, uint64_t v)
{
    json_key(o, key);
    put_u64(o, v, 1);
}

/* HH:MM:SS, both formats' time of day. */
static void put_hms(struct out *o, const struct tm *tm)
{
    put_u64(o, (uint64_t)tm->tm_hour, 2);
    puts_(o, ":");
    put_u64(o, (uint64_t)tm->tm_min, 2);
    puts_(o, ":");
    put_u64(o, (uint64_t)tm->tm_sec, 2);
}

static void format_json(const struct access_entry *e, struct out *o)
{
    time_t s = (time_t)(e->time_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    puts_(o, "{\"time\":\"");
    put_u64(o, (uint64_t)tm.tm_year + 1900, 4);
    puts_(o, "-");
    put_u64(o, (uint64_t)tm.tm_mon + 1, 2);
    puts_(o, "-");
    put_u64(o, (uint64_t)tm.tm_mday, 2);
    puts_(o, "T");
    put_hms(o, &tm);
    puts_(o, ".");
    put_u64(o, (uint64_t)(e->time_ms % 1000), 3);
    puts_(o, "Z\"");
    json_text(o, "remote", e->remote);
    json_bytes(o, "method", e->method, METHOD_MAX);
    json_bytes(o, "target", e->target, ACCESS_TARGET_MAX);
    json_u64(o, "status", e->status);
    json_u64(o, "bytes", e->body_bytes);
    if (e->has_file)
        json_u64(o, "file_size", e->file_size);
    else
        puts_(o, ",\"file_size\":null");
    json_bytes(o, "range", e->range, ACCESS_FIELD_MAX);
    json_u64(o, "ranges", e->ranges);
    puts_(o, e->cold ? ",\"cold\":true" : ",\"cold\":false");
    json_ms(o, "prefetch_wait_ms", e->prefetch_wait_ns);
    json_ms(o, "duration_ms", e->duration_ns);
    json_text(o, "request_id", e->request_id);
    json_bytes(o, "user_agent", e->user_agent, ACCESS_FIELD_MAX);
    json_text(o, "tls", e->tls);
    json_text(o, "outcome", e->outcome);
    puts_(o, "}");
}

/* A quoted field's content: "-" when absent, "..." after a cut one. */
static void combined_bytes(struct out *o, struct access_bytes b, size_t bound)
{
    if (!b.ptr || b.len == 0) {
        puts_(o, "-");
        return;
    }
    if (!escape(o, b, bound, ACCESS_COMBINED))
        puts_(o, "...");
}

static void format_combined(const struct access_entry *e, struct out *o)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t s = (time_t)(e->time_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    puts_(o, e->remote ? e->remote : "-");
    puts_(o, " - - [");
    put_u64(o, (uint64_t)tm.tm_mday, 2);
    puts_(o, "/");
    puts_(o, months[tm.tm_mon % 12]);
    puts_(o, "/");
    put_u64(o, (uint64_t)tm.tm_year + 1900, 4);
    puts_(o, ":");
    put_hms(o, &tm);
    puts_(o, " +0000] \"");
    combined_bytes(o, e->method, METHOD_MAX);
    puts_(o, " ");
    combined_bytes(o, e->target, ACCESS_TARGET_MAX);
    puts_(o, " ");
    combined_bytes(o, (struct access_bytes){e->version, e->version ? strlen(e->version) : 0, false},
                   ACCESS_FIELD_MAX);
    puts_(o, "\" ");
    put_u64(o, e->status, 1);
    puts_(o, " ");
    if (e->body_bytes)
        put_u64(o, e->body_bytes, 1);
    else
        puts_(o, "-");
    puts_(o, " \"");
    combined_bytes(o, e->referer, ACCESS_FIELD_MAX);
    puts_(o, "\" \"");
    combined_bytes(o, e->user_agent, ACCESS_FIELD_MAX);
    puts_(o, "\"");
}

size_t access_line_format(enum access_format fmt, const struct access_entry *e, char *out)
{
    struct out o = {out, 0};
    if (fmt == ACCESS_COMBINED)
        format_combined(e, &o);
    else
        format_json(e, &o);
    out[o.n++] = '\n';
    return o.n;
}

bool access_request_id_ok(const char *id)
{
    size_t n = 0;
    if (!id)
        return false;
    for (; id[n]; n++) {
        char c = id[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c != '\0' && strchr("-_.:+/=@~", c) != NULL);
        if (!ok || n >= ACCESS_ID_MAX)
            return false;
    }
    return n > 0;
}
