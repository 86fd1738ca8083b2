/* listing.c - listing_handle(): query, negotiation, and the JSON and HTML bodies. */
#include "handlers/listing.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "handlers/reply.h"
#include "http/listing_text.h"
#include "http/url_path.h"
#include "listing/listing_query.h"

#define FILES_URL "/files/"

/* "/files/" + rel + "/" ("/files/" for the root) as raw bytes. */
static void put_dir_path(struct strbuf *b, const char *rel)
{
    strbuf_puts(b, FILES_URL);
    if (*rel) {
        strbuf_puts(b, rel);
        strbuf_puts(b, "/");
    }
}

/* The entry's URL path, percent-encoded; directories end in '/'. */
static void put_href(struct strbuf *b, const char *rel, const struct listing_entry *e)
{
    strbuf_puts(b, FILES_URL);
    if (*rel) {
        listing_text_put_href(b, rel, strlen(rel));
        strbuf_puts(b, "/");
    }
    listing_text_put_href(b, e->name, strlen(e->name));
    if (e->dir)
        strbuf_puts(b, "/");
}

/* The URL of the listing's next page: the directory, percent-encoded, then the query that
 * asks for it (recursive=1 when listed so, the limit, after= the cursor percent-encoded). */
static void put_next_href(struct strbuf *b, const char *rel, const struct listing_query *q,
                          const char *next)
{
    strbuf_puts(b, FILES_URL);
    if (*rel) {
        listing_text_put_href(b, rel, strlen(rel));
        strbuf_puts(b, "/");
    }
    strbuf_printf(b, "?%slimit=%zu&after=", q->recursive ? "recursive=1&" : "", q->limit);
    listing_text_put_href(b, next, strlen(next)); /* '/' stays: a query may hold it as is */
}

/* --- JSON -------------------------------------------------------------------------------- */

/* A JSON string of the text in `b` (reset afterwards); NULL when out of memory. */
static json_t *take_string(struct strbuf *b)
{
    size_t len = 0;
    char *text = strbuf_take(b, &len);
    json_t *s = text ? json_stringn(text, len) : NULL;
    free(text);
    return s;
}

/* The raw text in `b` (reset afterwards) as a JSON string, invalid UTF-8 replaced. */
static json_t *take_utf8_string(struct strbuf *b)
{
    struct strbuf out = {0};
    if (b->failed)
        out.failed = true;
    else
        listing_text_put_utf8(&out, b->data ? b->data : "", b->len);
    strbuf_free(b);
    return take_string(&out);
}

static json_t *utf8_string(const char *raw)
{
    struct strbuf b = {0};
    listing_text_put_utf8(&b, raw, strlen(raw));
    return take_string(&b);
}

/* One entry as a JSON object; NULL when out of memory. */
static json_t *json_entry(const char *rel, const struct listing_entry *e)
{
    char mtime[LISTING_RFC3339_LEN];
    listing_text_rfc3339(e->mtime.tv_sec, mtime);
    struct strbuf href = {0};
    put_href(&href, rel, e);
    struct {
        const char *key;
        json_t *value;
    } fields[] = {
        {"name", utf8_string(e->name)},
        {"type", json_string(e->dir ? "dir" : "file")},
        {"size", json_integer((json_int_t)e->size)},
        {"mtime", json_string(mtime)},
        {"mtime_unix", json_integer((json_int_t)e->mtime.tv_sec)},
        {"etag", e->dir ? json_null() : json_string(e->etag)},
        {"resident_bytes", e->resident_known ? json_integer((json_int_t)e->resident) : json_null()},
        {"href", take_string(&href)},
    };
    json_t *obj = json_object();
    bool ok = obj != NULL;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (!ok || !fields[i].value) {
            ok = false;
            json_decref(fields[i].value); /* NULL-safe */
        } else if (json_object_set_new(obj, fields[i].key, fields[i].value) != 0) {
            ok = false; /* the value is consumed even then */
        }
    }
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* The JSON body (malloc'd, newline-terminated) and its length; NULL when out of memory.
 * `next` is the next page's URL, or NULL on the last page. */
static char *render_json(const char *rel, const struct listing *l, size_t limit,
                         const char *next, size_t *len)
{
    json_t *entries = json_array();
    for (size_t i = 0; entries && i < l->count; i++) {
        if (json_array_append_new(entries, json_entry(rel, &l->entries[i])) != 0) {
            json_decref(entries);
            entries = NULL;
        }
    }
    struct strbuf path = {0};
    put_dir_path(&path, rel);
    json_t *doc = json_object();
    /* json_object_set_new() consumes the value even when it fails */
    if (!doc || json_object_set_new(doc, "path", take_utf8_string(&path)) != 0 ||
        json_object_set_new(doc, "truncated", json_boolean(l->truncated)) != 0 ||
        json_object_set_new(doc, "limit", json_integer((json_int_t)limit)) != 0 ||
        (next && json_object_set_new(doc, "next", json_string(next)) != 0) ||
        json_object_set_new(doc, "entries", entries) != 0) {
        if (!doc)
            json_decref(entries);
        strbuf_free(&path);
        json_decref(doc);
        return NULL;
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *body = realloc(text, n + 2);
    if (!body) {
        free(text);
        return NULL;
    }
    body[n++] = '\n';
    body[n] = '\0';
    *len = n;
    return body;
}

/* --- HTML -------------------------------------------------------------------------------- */

static const char HTML_HEAD[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>Index of ";

static const char HTML_STYLE[] =
    "</title>\n<style>\n"
    "body{font-family:system-ui,sans-serif;margin:2em}\n"
    "table{border-collapse:collapse}\n"
    "th,td{padding:.2em .8em;text-align:left;white-space:nowrap}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "tbody tr:nth-child(even){background:#f4f4f4}\n"
    "</style>\n</head>\n<body>\n<h1>Index of ";

static const char HTML_TABLE[] =
    "</h1>\n<table>\n<thead><tr><th>Name</th><th>Size</th><th>Modified (UTC)</th>"
    "<th>Resident</th><th>Resident %</th></tr></thead>\n<tbody>\n";

static void put_html_dir_path(struct strbuf *b, const char *rel)
{
    struct strbuf raw = {0};
    put_dir_path(&raw, rel);
    if (raw.failed)
        b->failed = true;
    else
        listing_text_put_html(b, raw.data, raw.len);
    strbuf_free(&raw);
}

static void html_row(struct strbuf *b, const char *rel, const struct listing_entry *e)
{
    char mtime[LISTING_RFC3339_LEN];
    listing_text_rfc3339(e->mtime.tv_sec, mtime);
    struct strbuf href = {0};
    put_href(&href, rel, e);
    strbuf_puts(b, "<tr><td><a href=\"");
    if (href.failed)
        b->failed = true;
    else
        listing_text_put_html(b, href.data, href.len); /* only unreserved, '/' and '%': unchanged */
    strbuf_free(&href);
    strbuf_puts(b, "\">");
    listing_text_put_html(b, e->name, strlen(e->name));
    if (e->dir) {
        strbuf_printf(b, "/</a></td><td class=\"n\">-</td><td><time datetime=\"%s\">%s</time>"
                         "</td><td class=\"n\">-</td><td class=\"n\">-</td></tr>\n",
                      mtime, mtime);
        return;
    }
    strbuf_printf(b, "</a></td><td class=\"n\">%" PRIu64 "</td><td><time datetime=\"%s\">%s"
                     "</time></td>", e->size, mtime, mtime);
    if (!e->resident_known)
        strbuf_puts(b, "<td class=\"n\">?</td><td class=\"n\">?</td></tr>\n");
    else if (e->size == 0)
        strbuf_puts(b, "<td class=\"n\">0</td><td class=\"n\">-</td></tr>\n");
    else
        strbuf_printf(b, "<td class=\"n\">%" PRIu64 "</td><td class=\"n\">%.1f%%</td></tr>\n",
                      e->resident, 100.0 * (double)e->resident / (double)e->size);
}

/* The HTML page (malloc'd) and its length; NULL when out of memory. `next` is the next
 * page's URL, or NULL on the last page. */
static char *render_html(const char *rel, const struct listing *l, const char *next,
                         size_t *len)
{
    struct strbuf b = {0};
    strbuf_puts(&b, HTML_HEAD);
    put_html_dir_path(&b, rel);
    strbuf_puts(&b, HTML_STYLE);
    put_html_dir_path(&b, rel);
    strbuf_puts(&b, HTML_TABLE);
    if (*rel) {
        /* the parent: rel without its last segment */
        const char *slash = strrchr(rel, '/');
        struct strbuf parent = {0};
        strbuf_puts(&parent, FILES_URL);
        if (slash) {
            listing_text_put_href(&parent, rel, (size_t)(slash - rel));
            strbuf_puts(&parent, "/");
        }
        strbuf_puts(&b, "<tr><td><a href=\"");
        if (parent.failed)
            b.failed = true;
        else
            listing_text_put_html(&b, parent.data, parent.len);
        strbuf_free(&parent);
        strbuf_puts(&b, "\">../</a></td><td></td><td></td><td></td><td></td></tr>\n");
    }
    for (size_t i = 0; i < l->count; i++)
        html_row(&b, rel, &l->entries[i]);
    strbuf_puts(&b, "</tbody>\n</table>\n");
    if (next) {
        strbuf_puts(&b, "<p><a href=\"");
        listing_text_put_html(&b, next, strlen(next)); /* '&' between parameters: "&amp;" */
        strbuf_puts(&b, "\" rel=\"next\">next page</a></p>\n");
    }
    if (l->truncated)
        strbuf_printf(&b, "<p><strong>Truncated:</strong> the listing stops at %u levels, "
                          "or a page at %zu directory entries read.</p>\n",
                      (unsigned)LISTING_MAX_DEPTH, (size_t)LISTING_MAX_SCAN);
    strbuf_puts(&b, "</body>\n</html>\n");
    return strbuf_take(&b, len);
}

/* --- the handler ------------------------------------------------------------------------- */

/* The 200 response: `body` (consumed) with its headers, and the Link to the next page when
 * `next` is not NULL; NULL when out of memory. */
static struct MHD_Response *page_response(char *body, size_t len, bool html, const char *next)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return NULL;
    }
    struct strbuf link = {0};
    if (next)
        strbuf_printf(&link, "<%s>; rel=\"next\"", next); /* percent-encoded: no '>' */
    char *link_value = strbuf_take(&link, NULL);
    if ((next && !link_value) ||
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                html ? "text/html; charset=utf-8" : "application/json") !=
            MHD_YES ||
        MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept") != MHD_YES ||
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") != MHD_YES ||
        (next && MHD_add_response_header(r, MHD_HTTP_HEADER_LINK, link_value) != MHD_YES)) {
        MHD_destroy_response(r);
        r = NULL;
    }
    free(link_value);
    return r;
}

enum MHD_Result listing_handle(struct request *req, const char *rel)
{
    struct handler_ctx *ctx = req->ctx;
    req->rec.handler = MH_LIST;

    struct listing_query q;
    struct query_error err;
    if (!listing_query_parse(req->query, &q, &err))
        return reply_bad_parameter(req, err.param, err.reason);

    bool html = listing_text_wants_html(
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
    struct listing_options opt = {
        .recursive = q.recursive,
        .allow_dotfiles = ctx->allow_dotfiles,
        .limit = q.limit,
        .after = q.has_after ? q.after : NULL,
        .max_depth = LISTING_MAX_DEPTH,
        .max_scan = LISTING_MAX_SCAN,
    };
    size_t n = strlen(rel);
    while (n > 0 && rel[n - 1] == '/') /* tolerated: "sub/" is "sub" */
        n--;
    struct listing l = {0};
    char *next = NULL, *body = NULL;
    size_t len = 0;
    enum MHD_Result ret;
    char *dir = strndup(rel, n);
    int status = dir ? listing_walk_collect(ctx->root_fd, dir, &opt, &l) : 500;
    if (status) {
        ret = reply_status(req, (unsigned)status);
        goto done;
    }
    if (l.next) {
        struct strbuf b = {0};
        put_next_href(&b, dir, &q, l.next);
        next = strbuf_take(&b, NULL); /* NULL when out of memory: then no body either */
    }
    if (!l.next || next)
        body = html ? render_html(dir, &l, next, &len)
                    : render_json(dir, &l, q.limit, next, &len);
    if (!body) {
        ret = reply_error(req, 500, "out of memory");
        goto done;
    }
    /* page_response() takes the body; NULL there closes the connection */
    ret = reply_queue(req, 200, page_response(body, len, html, next), len);
done:
    listing_walk_free(&l);
    free(next);
    free(dir);
    return ret;
}

enum MHD_Result listing_handle_url(struct request *req, const char *raw)
{
    char rel[PATH_MAX];
    enum path_status st = url_path_decode(raw, req->ctx->allow_dotfiles, rel, sizeof rel);
    if (st == PATH_EMPTY) {
        rel[0] = '\0';
    } else if (st != PATH_OK) {
        req->rec.handler = MH_LIST;
        return reply_status(req, url_path_http_status(st));
    }
    size_t n = strlen(rel);
    while (n > 0 && rel[n - 1] == '/')
        rel[--n] = '\0';
    return listing_handle(req, rel);
}
