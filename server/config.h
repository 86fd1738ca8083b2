/* config.h - mmapd's settings: defaults, one setter per option, cross-checks, help text.
 *
 * Every option has one name ("max-ranges") used as the flag (--max-ranges), the environment
 * variable (MMAPD_MAX_RANGES) and the JSON config key ("max-ranges"). config_set() parses
 * and range-checks one value; on error it returns false and writes one line naming `source`
 * (the flag, variable or file key) and what was expected. Nothing here prints or exits.
 */
#ifndef MMAPD_CONFIG_H
#define MMAPD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "access/cors.h"
#include "filedata/advice.h"
#include "metrics/metrics.h"

/* --revalidate, in the order of its choices */
enum revalidate_mode { REVALIDATE_INOTIFY, REVALIDATE_STAT, REVALIDATE_INOTIFY_ASYNC };

#define CONFIG_LISTEN_DEFAULT "127.0.0.1:8080"

struct mmapd_config {
    char root[PATH_MAX];     /* "" : serve the demo directory */
    char demo_dir[PATH_MAX];
    char listen[128];
    char config_file[PATH_MAX];
    char instance_name[64];  /* "" : no Mmapd-Instance header */
    char auth_token_file[PATH_MAX]; /* "" : the data endpoints are open */
    char tls_cert[PATH_MAX];         /* "" : plain HTTP */
    char tls_key[PATH_MAX];
    char tls_key_password_file[PATH_MAX];
    char tls_priorities[512];        /* "" : access/tls.h's default */
    char tls_client_ca[PATH_MAX];    /* "" : no client certificate asked for */
    char access_log[PATH_MAX];       /* "off", "stdout", "stderr" or a file */
    int access_log_format;           /* enum access_format (metrics/access_line.h) */
    unsigned threads;
    unsigned max_connections;
    unsigned max_connections_per_ip; /* 0: no per-IP limit */
    unsigned connection_timeout;     /* seconds, 0: never */
    unsigned header_timeout;         /* seconds for a request's headers, 0: no limit */
    size_t connection_memory;        /* bytes per connection (MHD memory pool) */
    unsigned max_ranges;
    unsigned max_sample_records;     /* records in one /sample answer */
    size_t max_sample_bytes;         /* n * size of one /sample answer */
    unsigned sample_iovec_max;       /* larger samples use the copying reader, 0: always */
    size_t files_zero_copy_max;      /* /files spans sent from the mapping, 0: none */
    unsigned drain_timeout;          /* seconds */
    unsigned map_cache;              /* file cache entries; 0: as many as the limits allow */
    unsigned prefetch_threads;       /* 0: no cold path off the HTTP threads */
    unsigned sample_lookahead;       /* /sample pages read ahead after each, 0: off */
    size_t sample_lookahead_bytes;   /* read ahead and not yet asked for, all clients */
    size_t sample_lookahead_client_bytes; /* the same, per client address */
    int allow_dotfiles;              /* 0 deny, 1 allow */
    int instrument;                  /* enum instrument_level */
    int metrics_auth;                /* 0 open, 1 token */
    int revalidate;                  /* enum revalidate_mode */
    int check_config;                /* --check-config: check, then exit */
    uint64_t test_hint_delay_ns[2];  /* [willneed]: MMAPD_TEST_HINT_DELAY_MS, tests only */
    uint64_t test_lookahead_expiry_ns; /* MMAPD_TEST_LOOKAHEAD_EXPIRY_MS, tests only; 0: the
                                          default */
    bool test_no_offload; /* MMAPD_TEST_STREAM_OFFLOAD=0: streams never offload (benchmarks) */
    struct cors_policy cors;
    struct advice_policy advice;
};

/* Fills in the defaults; the demo directory and thread count depend on the environment
 * ($XDG_DATA_HOME or $HOME, the CPUs this process may run on). */
void config_defaults(struct mmapd_config *c);

/* True when `name` (without "--") is an option. */
bool config_is_option(const char *name);
/* True when option `name` takes no value on the command line (--check-config). */
bool config_is_flag(const char *name);

bool config_set(struct mmapd_config *c, const char *name, const char *value, const char *source,
                char *err, size_t errlen);

/* Checks that the options fit together: the memory pool is large enough for a multipart
 * answer of --max-ranges parts and for a /sample iovec of --sample-iovec-max records; the
 * TLS options come with --tls-cert and --tls-key, and not with a zero-copy body. */
bool config_check(const struct mmapd_config *c, char *err, size_t errlen);

/* The environment variable for option `name`: "MMAPD_" and upper case, '-' as '_'. */
void config_env_name(const char *name, char *out, size_t outsz);

/* Calls fn for every option name, in help order. */
void config_each_option(void (*fn)(const char *name, void *cls), void *cls);

void config_usage(FILE *out);

/* The value of option `name` in `c` as text ("" for an empty path or none), to compare two
 * configurations and name what changed: `--advice` all classes, `--cors-origin` the list. */
void config_format(const struct mmapd_config *c, const char *name, char *out, size_t outsz);

/* The smallest --connection-memory that holds a response iovec of `elements` elements. */
size_t config_pool_need(size_t elements);

#endif
