/* config.c - the option table: parsing, range checks, defaults and --help. */
#include "server/config.h"

#include <ctype.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handlers/file_body.h"
#include "handlers/multipart.h"
#include "handlers/sample_lookahead.h"
#include "sampling/sample_query.h"
#include "sampling/sample_response.h"
#include "server/listen_addr.h"

enum opt_kind {
    OPT_PATH, OPT_NAME, OPT_TEXT, OPT_LISTEN, OPT_UINT, OPT_SIZE, OPT_CHOICE, OPT_ADVICE, OPT_CORS,
    OPT_FLAG /* no value on the command line; "0" or "1" as a variable; an int field */
};

struct option_def {
    const char *name;
    enum opt_kind kind;
    size_t offset;
    unsigned long long min, max;
    const char *metavar;
    const char *help;
    const char *const *choices; /* OPT_CHOICE: NULL-terminated; the field is an int index */
};

static const char *const dotfiles_choices[] = {"deny", "allow", NULL};
static const char *const instrument_choices[] = {"off", "basic", "full", NULL};
static const char *const metrics_auth_choices[] = {"open", "token", NULL};
static const char *const access_log_format_choices[] = {"json", "combined", NULL};
static const char *const revalidate_choices[] = {"inotify", "stat", "inotify-async", NULL};

#define FIELD(f) offsetof(struct mmapd_config, f)
#define STR(x) #x
#define XSTR(x) STR(x)
#define KIB 1024ull

static const struct option_def options[] = {
    {"root", OPT_PATH, FIELD(root), 0, 0, "DIR",
     "directory to serve (default: the demo directory, created on first run)", NULL},
    {"demo-dir", OPT_PATH, FIELD(demo_dir), 0, 0, "DIR",
     "where the demo directory lives (default: $XDG_DATA_HOME/mmapd/demo)", NULL},
    {"listen", OPT_LISTEN, FIELD(listen), 0, 0, "HOST:PORT",
     "address to listen on: IPV4:PORT, [IPV6]:PORT, :PORT; port 0 picks a free port "
     "(default " CONFIG_LISTEN_DEFAULT ")", NULL},
    {"threads", OPT_UINT, FIELD(threads), 1, 1024, "N",
     "HTTP worker threads (default: the number of CPUs)", NULL},
    {"max-connections", OPT_UINT, FIELD(max_connections), 1, 1000000, "N",
     "connections served at once, all clients; up to max(16, N/8) more are answered 503 "
     "with Retry-After, further ones closed (default 1024)", NULL},
    {"max-connections-per-ip", OPT_UINT, FIELD(max_connections_per_ip), 0, 1000000, "N",
     "connections served at once from one IP address, 0 = no limit; up to max(4, N/4) more "
     "are answered 503 with Retry-After, further ones closed (default 0)", NULL},
    {"connection-timeout", OPT_UINT, FIELD(connection_timeout), 0, 86400, "SECONDS",
     "close a connection idle this long, 0 = never (default 30)", NULL},
    {"header-timeout", OPT_UINT, FIELD(header_timeout), 0, 3600, "SECONDS",
     "close a connection whose request line and headers take longer than this to arrive, "
     "however slowly they trickle in (default 10, 0 = no limit)", NULL},
    {"connection-memory", OPT_SIZE, FIELD(connection_memory), 16 * KIB, 64 * KIB * KIB, "BYTES",
     "memory pool per connection, suffix K or M allowed (default 32K)", NULL},
    {"max-ranges", OPT_UINT, FIELD(max_ranges), 1, MULTIPART_MAX_PARTS, "N",
     "ranges in one answer once overlapping and adjacent ones are merged; more give the "
     "whole file when they cover half of it, else 416 (default 64, at most 511)", NULL},
    {"max-sample-records", OPT_UINT, FIELD(max_sample_records), 1, 1000000, "N",
     "records in one /sample answer; more answer 400 (default 4096)", NULL},
    {"max-sample-bytes", OPT_SIZE, FIELD(max_sample_bytes), 1, 4 * KIB * KIB * KIB, "BYTES",
     "bytes of records (n * size) in one /sample answer, suffix K, M or G allowed; more "
     "answer 400 (default 64M)", NULL},
    {"sample-iovec-max", OPT_UINT, FIELD(sample_iovec_max), 0, MULTIPART_MAX_PARTS, "N",
     "/sample answers of up to N records are sent zero-copy from the mapping (an iovec of "
     "2N+1 elements; a file truncated in place under one can send zeros); others are "
     "copied block by block and size-checked (default " XSTR(SAMPLE_IOVEC_DEFAULT)
     " = always copy, at most 511)", NULL},
    {"files-zero-copy-max", OPT_SIZE, FIELD(files_zero_copy_max), 0, FILE_BODY_COPY_MAX,
     "BYTES", "/files bodies of one span up to this size (suffix K or M, at most 1M) are sent "
     "straight from the mapping, without the copy and the size check after it: faster, but a "
     "file truncated in place under such a response can send zeros, so only for files that "
     "are replaced by rename, never rewritten (default 0 = always copy)", NULL},
    {"drain-timeout", OPT_UINT, FIELD(drain_timeout), 0, 3600, "SECONDS",
     "on SIGTERM/SIGINT, wait this long for in-flight requests (default 10)", NULL},
    {"prefetch-threads", OPT_UINT, FIELD(prefetch_threads), 0, 64, "N",
     "helper threads that read a cold request's pages in while its connection is suspended, "
     "so that warm requests never wait behind it; 0 = cold requests are served on the HTTP "
     "thread (default 2)", NULL},
    {"sample-lookahead", OPT_UINT, FIELD(sample_lookahead), 0, SAMPLE_LOOKAHEAD_MAX, "PAGES",
     "after answering a /sample page (without replacement) that was cold or read ahead, read "
     "the next PAGES pages of its shard in on the prefetch helpers (MADV_WILLNEED over their "
     "cold records; after the last page of an epoch, the next epoch's first); a request's "
     "lookahead=N lowers it; 0 = off (default " XSTR(SAMPLE_LOOKAHEAD_DEFAULT) ", at most "
     SAMPLE_LOOKAHEAD_MAX_TEXT "; needs --prefetch-threads)", NULL},
    {"sample-lookahead-bytes", OPT_SIZE, FIELD(sample_lookahead_bytes), 1,
     64 * KIB * KIB * KIB * KIB, "BYTES",
     "bytes of /sample pages read ahead and not yet asked for, all clients together; "
     "lookahead beyond it is dropped (default 1G)", NULL},
    {"sample-lookahead-client-bytes", OPT_SIZE, FIELD(sample_lookahead_client_bytes), 1,
     64 * KIB * KIB * KIB * KIB, "BYTES",
     "the same, per client IP address (default 256M)", NULL},
    {"map-cache", OPT_UINT, FIELD(map_cache), 1, 1000000, "N",
     "files kept open (each with at most one mapping per access class) by the file cache; "
     "a file enters on its second miss, or while there is room, and CLOCK evicts (default: "
     "as many as the descriptor limit, raised to its hard limit, and vm.max_map_count "
     "allow; a larger N is lowered to that, with a log line)", NULL},
    {"revalidate", OPT_CHOICE, FIELD(revalidate), 0, 0, "inotify|stat|inotify-async",
     "how a cached file is known to still be the file at its path: inotify (watches on "
     "the paths of cached files; a request checks that no event is queued, one ioctl, and "
     "reads counters that the events move instead of walking its path, stating it only "
     "after something on its path changed), inotify-async (the same without the ioctl: a "
     "thread takes the events in, so a request made within its wake-up of a change may see "
     "the file as it was) or stat (one fstatat per request; for network file systems changed "
     "from other machines, or files written through other processes' shared mappings) "
     "(default inotify; stat where inotify is unavailable)",
     revalidate_choices},
    {"dotfiles", OPT_CHOICE, FIELD(allow_dotfiles), 0, 0, "deny|allow",
     "serve names that start with '.' (default deny; '.' and '..' are always refused)",
     dotfiles_choices},
    {"instrument", OPT_CHOICE, FIELD(instrument), 0, 0, "off|basic|full",
     "per-request metrics: off; basic (counts, bytes, durations); full (also page faults "
     "and page-cache misses) (default full)",
     instrument_choices},
    {"advice", OPT_ADVICE, FIELD(advice), 0, 0, "CLASS=LIST",
     "madvise policy for an access class, repeatable: stream (/files bodies over 1 MiB, "
     "streamed from the mapping; default sequential,auto), range (/files bodies up to 1 MiB, "
     "read at once; willneed, auto or none; default auto), random (/sample; default "
     "random,auto); advice: none normal sequential random willneed dontneed, and auto "
     "(WILLNEED or not, as cold requests measure on this device)", NULL},
    {"instance-name", OPT_NAME, FIELD(instance_name), 1, sizeof(((struct mmapd_config *)0)->instance_name) - 1,
     "NAME", "sent as the Mmapd-Instance header of every response, to tell replicas apart "
     "behind a load balancer: letters, digits, '.', '_', '-' (default: none)", NULL},
    {"auth-token-file", OPT_PATH, FIELD(auth_token_file), 0, 0, "FILE",
     "require 'Authorization: Bearer TOKEN' for /files, /sample and listings; one token per "
     "line, several allowed (default: open)", NULL},
    {"metrics-auth", OPT_CHOICE, FIELD(metrics_auth), 0, 0, "open|token",
     "whether /metrics also needs a token from --auth-token-file (default open)",
     metrics_auth_choices},
    {"cors-origin", OPT_CORS, FIELD(cors), 0, 0, "ORIGINS",
     "allow browser scripts from these origins ('*' or a comma-separated list like "
     "https://app.example.org) to read responses, preflight included (default: off)", NULL},
    {"tls-cert", OPT_PATH, FIELD(tls_cert), 0, 0, "FILE",
     "serve HTTPS with this PEM certificate (then its chain); needs --tls-key (default: "
     "plain HTTP)", NULL},
    {"tls-key", OPT_PATH, FIELD(tls_key), 0, 0, "FILE",
     "the PEM private key of --tls-cert, checked against it at start", NULL},
    {"tls-key-password-file", OPT_PATH, FIELD(tls_key_password_file), 0, 0, "FILE",
     "the password of an encrypted --tls-key, on the first line of FILE", NULL},
    {"tls-priorities", OPT_TEXT, FIELD(tls_priorities), 1,
     sizeof(((struct mmapd_config *)0)->tls_priorities) - 1, "STRING",
     "GnuTLS priority string: the protocols, suites and groups accepted (default: TLS 1.3 "
     "and 1.2, AEAD suites, ECDHE; see docs/operating.md)", NULL},
    {"tls-client-ca", OPT_PATH, FIELD(tls_client_ca), 0, 0, "FILE",
     "require a client certificate signed by a CA in this PEM bundle (default: none asked "
     "for)", NULL},
    {"access-log", OPT_PATH, FIELD(access_log), 0, 0, "off|stdout|stderr|FILE",
     "write a line per request there, FILE opened for append and opened again on SIGUSR1 "
     "(default off; a file named off is ./off)", NULL},
    {"access-log-format", OPT_CHOICE, FIELD(access_log_format), 0, 0, "json|combined",
     "access log lines: JSON Lines with every field, or Apache's combined format (default "
     "json)", access_log_format_choices},
    {"config", OPT_PATH, FIELD(config_file), 0, 0, "FILE.json",
     "read options from a JSON object whose keys are the option names", NULL},
    {"check-config", OPT_FLAG, FIELD(check_config), 0, 0, "",
     "check the configuration as a start would (options, config file, token file, TLS "
     "files, root, listen address, access log file) without listening: print "
     "'configuration OK' and exit 0, or one error line and exit 2 (the variable takes 1 or "
     "0; not a config file key)",
     NULL},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

static const struct option_def *find(const char *name)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strcmp(options[i].name, name) == 0)
            return &options[i];
    return NULL;
}

bool config_is_option(const char *name) { return find(name) != NULL; }

bool config_is_flag(const char *name)
{
    const struct option_def *o = find(name);
    return o && o->kind == OPT_FLAG;
}

void config_each_option(void (*fn)(const char *name, void *cls), void *cls)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        fn(options[i].name, cls);
}

void config_env_name(const char *name, char *out, size_t outsz)
{
    size_t n = (size_t)snprintf(out, outsz, "MMAPD_");
    for (const char *p = name; *p && n + 1 < outsz; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n < outsz ? n : outsz - 1] = '\0';
}

static unsigned cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

void config_defaults(struct mmapd_config *c)
{
    memset(c, 0, sizeof *c);
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/')
        snprintf(c->demo_dir, sizeof c->demo_dir, "%s/mmapd/demo", xdg);
    else if (home && home[0] == '/')
        snprintf(c->demo_dir, sizeof c->demo_dir, "%s/.local/share/mmapd/demo", home);
    else
        snprintf(c->demo_dir, sizeof c->demo_dir, "/tmp/mmapd-demo-%u", (unsigned)getuid());
    snprintf(c->listen, sizeof c->listen, "%s", CONFIG_LISTEN_DEFAULT);
    snprintf(c->access_log, sizeof c->access_log, "off");
    c->threads = cpu_count();
    if (c->threads > 1024)
        c->threads = 1024;
    c->max_connections = 1024;
    c->max_connections_per_ip = 0;
    c->connection_timeout = 30;
    c->header_timeout = 10;
    c->connection_memory = 32 * KIB; /* libmicrohttpd zeroes it for every request */
    c->max_ranges = 64;
    c->max_sample_records = 4096;
    c->max_sample_bytes = 64 * KIB * KIB;
    c->sample_iovec_max = SAMPLE_IOVEC_DEFAULT;
    c->drain_timeout = 10;
    c->map_cache = 0; /* as many as the limits allow (server/file_limits.h) */
    c->prefetch_threads = 2;
    c->sample_lookahead = SAMPLE_LOOKAHEAD_DEFAULT;
    c->sample_lookahead_bytes = KIB * KIB * KIB;
    c->sample_lookahead_client_bytes = 256 * KIB * KIB;
    c->allow_dotfiles = 0;
    c->instrument = INSTRUMENT_FULL;
    advice_policy_defaults(&c->advice);
}

/* Decimal digits with an optional binary suffix (K, KiB, M, MiB, G, GiB) when `units`. */
static bool parse_number(const char *s, bool units, unsigned long long *out)
{
    unsigned long long v = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return false;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (*p && units) {
        unsigned shift = 0;
        if (strcmp(p, "K") == 0 || strcmp(p, "KiB") == 0 || strcmp(p, "k") == 0)
            shift = 10;
        else if (strcmp(p, "M") == 0 || strcmp(p, "MiB") == 0)
            shift = 20;
        else if (strcmp(p, "G") == 0 || strcmp(p, "GiB") == 0)
            shift = 30;
        else
            return false;
        if (v > (ULLONG_MAX >> shift))
            return false;
        v <<= shift;
        p += strlen(p);
    }
    if (*p)
        return false;
    *out = v;
    return true;
}

bool config_set(struct mmapd_config *c, const char *name, const char *value, const char *source,
                char *err, size_t errlen)
{
    const struct option_def *o = find(name);
    char *field;
    unsigned long long v;
    if (!o) {
        snprintf(err, errlen, "%s: unknown option '%s' (see --help)", source, name);
        return false;
    }
    field = (char *)c + o->offset;
    switch (o->kind) {
    case OPT_PATH:
        if (value[0] == '\0' || strlen(value) >= PATH_MAX) {
            snprintf(err, errlen, "%s: expected a path, got '%.200s'", source, value);
            return false;
        }
        snprintf(field, PATH_MAX, "%s", value);
        return true;
    case OPT_NAME: {
        size_t n = strlen(value);
        bool ok = n >= o->min && n <= o->max;
        for (const char *p = value; ok && *p; p++)
            ok = isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-';
        if (!ok) {
            snprintf(err, errlen, "%s: '%.200s' is not a name of 1 to %llu letters, digits, "
                     "'.', '_' or '-'", source, value, o->max);
            return false;
        }
        memcpy(field, value, n + 1);
        return true;
    }
    case OPT_TEXT: {
        size_t n = strlen(value);
        bool ok = n >= o->min && n <= o->max;
        for (const char *p = value; ok && *p; p++)
            ok = *p > ' ' && *p < 0x7f;
        if (!ok) {
            snprintf(err, errlen, "%s: expected 1 to %llu printable ASCII characters without "
                     "spaces, got '%.200s'", source, o->max, value);
            return false;
        }
        memcpy(field, value, n + 1);
        return true;
    }
    case OPT_LISTEN: {
        struct listen_addr a;
        char why[256];
        if (strlen(value) >= sizeof c->listen || !listen_addr_parse(value, &a, why, sizeof why)) {
            snprintf(err, errlen, "%s: '%.200s' is not an address to listen on "
                     "(IPV4:PORT, [IPV6]:PORT or :PORT, port 0-65535)", source, value);
            return false;
        }
        snprintf(c->listen, sizeof c->listen, "%s", value);
        return true;
    }
    case OPT_UINT:
    case OPT_SIZE:
        if (!parse_number(value, o->kind == OPT_SIZE, &v) || v < o->min || v > o->max) {
            snprintf(err, errlen, "%s: '%.200s' is not a whole number from %llu to %llu%s", source,
                     value, o->min, o->max, o->kind == OPT_SIZE ? " (bytes; K or M suffix)" : "");
            return false;
        }
        if (o->kind == OPT_SIZE)
            *(size_t *)(void *)field = (size_t)v;
        else
            *(unsigned *)(void *)field = (unsigned)v;
        return true;
    case OPT_CHOICE:
        for (int i = 0; o->choices[i]; i++)
            if (strcmp(value, o->choices[i]) == 0) {
                *(int *)(void *)field = i;
                return true;
            }
        snprintf(err, errlen, "%s: expected %s, got '%.200s'", source, o->metavar, value);
        return false;
    case OPT_FLAG:
        if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) {
            snprintf(err, errlen, "%s: expected 1 or 0, got '%.200s'", source, value);
            return false;
        }
        *(int *)(void *)field = value[0] == '1';
        return true;
    case OPT_CORS:
    case OPT_ADVICE: { /* parsers with their own message */
        char why[256];
        bool ok = o->kind == OPT_CORS ? cors_policy_parse(&c->cors, value, why, sizeof why)
                                      : advice_policy_set(&c->advice, value, why, sizeof why);
        if (!ok)
            snprintf(err, errlen, "%s: %s", source, why);
        return ok;
    }
    }
    return false;
}

size_t config_pool_need(size_t elements)
{
    /* MHD copies a response's iovec into the connection pool (16 B per element) and aborts
     * the process when it does not fit (measured: a 1023-element iovec in a 16 KiB pool).
     * Room for it twice over beyond 16 KiB for the read buffer and the headers, which also
     * covers /sample's Sample-Offsets header (at most 21 B per record of an iovec answer, and
     * at most SAMPLE_OFFSETS_HEADER_MAX bytes, which fit in a 16 KiB pool on their own). */
    return 16 * KIB + elements * 32;
}

bool config_check(const struct mmapd_config *c, char *err, size_t errlen)
{
    if (c->metrics_auth && c->auth_token_file[0] == '\0') {
        snprintf(err, errlen, "--metrics-auth token needs --auth-token-file");
        return false;
    }
    bool tls = c->tls_cert[0] || c->tls_key[0];
    if (tls && (!c->tls_cert[0] || !c->tls_key[0])) {
        snprintf(err, errlen, "--tls-cert and --tls-key go together");
        return false;
    }
    if (!tls && (c->tls_key_password_file[0] || c->tls_priorities[0] || c->tls_client_ca[0])) {
        snprintf(err, errlen, "--tls-key-password-file, --tls-priorities and --tls-client-ca "
                              "need --tls-cert and --tls-key");
        return false;
    }
    if (tls && (c->files_zero_copy_max || c->sample_iovec_max)) {
        snprintf(err, errlen, "%s with TLS: GnuTLS would read the bytes it encrypts straight "
                 "from the file's mapping, outside mmapd's SIGBUS guard, so a file truncated "
                 "under such a response would stop the process; leave it at 0 with TLS",
                 c->files_zero_copy_max ? "--files-zero-copy-max" : "--sample-iovec-max");
        return false;
    }
    size_t need = config_pool_need(2 * (size_t)c->sample_iovec_max + 1);
    if (c->connection_memory < need) {
        snprintf(err, errlen,
                 "--connection-memory %zu is too small for --sample-iovec-max %u: needs at "
                 "least %zu",
                 c->connection_memory, c->sample_iovec_max, need);
        return false;
    }
    return true;
}

void config_usage(FILE *out)
{
    fprintf(out,
            "usage: mmapd [--root DIR] [--listen HOST:PORT] [OPTIONS]\n"
            "Serves files under DIR out of memory-mapped regions over HTTP, with madvise hints\n"
            "chosen per endpoint. Every option is also an environment variable (MMAPD_ and the\n"
            "name in upper case, '-' as '_') and a key of the --config JSON object;\n"
            "precedence: flag > environment > config file > default.\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char env[64];
        config_env_name(options[i].name, env, sizeof env);
        fprintf(out, "  --%s%s%s\n      %s\n      [%s]\n", options[i].name,
                options[i].metavar[0] ? " " : "", options[i].metavar, options[i].help, env);
    }
    fprintf(out, "  --help, -h\n      this text\n  --version, -V\n      version and libraries\n");
}

static void format_cors(const struct cors_policy *p, char *out, size_t outsz)
{
    size_t n = 0;
    out[0] = '\0';
    if (p->enabled && p->any)
        snprintf(out, outsz, "*");
    for (size_t i = 0; p->enabled && !p->any && i < p->n && n < outsz; i++)
        n += (size_t)snprintf(out + n, outsz - n, "%s%s", i ? "," : "", p->origin[i]);
}

void config_format(const struct mmapd_config *c, const char *name, char *out, size_t outsz)
{
    const struct option_def *o = find(name);
    const char *field = o ? (const char *)c + o->offset : NULL;
    out[0] = '\0';
    if (!o)
        return;
    switch (o->kind) {
    case OPT_PATH:
    case OPT_NAME:
    case OPT_TEXT:
    case OPT_LISTEN:
        snprintf(out, outsz, "%s", field);
        break;
    case OPT_UINT:
        snprintf(out, outsz, "%u", *(const unsigned *)(const void *)field);
        break;
    case OPT_SIZE:
        snprintf(out, outsz, "%zu", *(const size_t *)(const void *)field);
        break;
    case OPT_FLAG:
        snprintf(out, outsz, "%d", *(const int *)(const void *)field);
        break;
    case OPT_CHOICE:
        snprintf(out, outsz, "%s", o->choices[*(const int *)(const void *)field]);
        break;
    case OPT_CORS:
        format_cors(&c->cors, out, outsz);
        break;
    case OPT_ADVICE: {
        size_t n = 0;
        for (int k = 0; k < ACCESS_CLASS_COUNT && n < outsz; k++) {
            char one[128];
            advice_policy_format(&c->advice, (enum access_class)k, one, sizeof one);
            n += (size_t)snprintf(out + n, outsz - n, "%s%s=%s", k ? ";" : "",
                                  access_class_name((enum access_class)k), one);
        }
        break;
    }
    }
}
