/* mime.c - extension to media type table for the files mmapd serves. */
#include "http/mime.h"

#include <string.h>
#include <strings.h>

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {"txt", "text/plain; charset=utf-8"},   {"log", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"}, {"csv", "text/csv; charset=utf-8"},
    {"tsv", "text/tab-separated-values; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},   {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},     {"js", "text/javascript; charset=utf-8"},
    {"json", "application/json"},           {"jsonl", "application/jsonl"},
    {"ndjson", "application/x-ndjson"},     {"xml", "application/xml"},
    {"pdf", "application/pdf"},             {"zip", "application/zip"},
    {"gz", "application/gzip"},             {"tar", "application/x-tar"},
    {"zst", "application/zstd"},            {"xz", "application/x-xz"},
    {"bz2", "application/x-bzip2"},         {"wasm", "application/wasm"},
    {"parquet", "application/vnd.apache.parquet"},
    {"arrow", "application/vnd.apache.arrow.file"},
    {"png", "image/png"},                   {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},                 {"gif", "image/gif"},
    {"webp", "image/webp"},                 {"svg", "image/svg+xml"},
    {"tif", "image/tiff"},                  {"tiff", "image/tiff"},
    {"mp4", "video/mp4"},                   {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},                  {"wav", "audio/wav"},
    {"ogg", "audio/ogg"},
};

const char *mime_type_for(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (dot && dot != base)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}
