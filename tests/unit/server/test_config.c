/* test_config.c - config_defaults/config_set/config_check (server/config.h) and
 * config_load/config_load_json (server/config_load.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filedata/advice.h"
#include "server/config.h"
#include "server/config_load.h"

#define ERRLEN 1024
#define BIT(a) (1u << (a))

static const unsigned STREAM_DEFAULT = BIT(ADVICE_SEQUENTIAL);
static const unsigned RANDOM_DEFAULT = BIT(ADVICE_RANDOM);
static const unsigned RANGE_DEFAULT = 0;

static char *const no_env[] = {NULL};

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* Writes `text` to a new temporary file; returns its path in `path`. */
static void write_temp(char path[64], const char *text)
{
    snprintf(path, 64, "/tmp/mmapd-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static enum config_result load(struct mmapd_config *c, char *const argv[], char *const envp[],
                               char *err)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    err[0] = '\0';
    return config_load(c, argc, argv, envp, err, ERRLEN);
}

static bool set(struct mmapd_config *c, const char *name, const char *value, char *err)
{
    err[0] = '\0';
    return config_set(c, name, value, "SRC-LABEL", err, ERRLEN);
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
    (void)state;
    struct mmapd_config c;
    memset(&c, 0x5a, sizeof c);
    config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_int_equal(c.max_ranges, 64);
    assert_int_equal(c.connection_timeout, 30);
    assert_int_equal(c.connection_memory, 32768);
    assert_int_equal(c.drain_timeout, 10);
    assert_false(c.allow_dotfiles);
    assert_int_equal(c.max_connections, 1024);
    assert_int_equal(c.max_connections_per_ip, 0);
    assert_int_equal(c.map_cache, 0);
    assert_string_equal(c.root, "");
    assert_string_equal(c.config_file, "");
    assert_int_equal(c.advice.mask[ACCESS_STREAM], STREAM_DEFAULT);
    assert_int_equal(c.advice.mask[ACCESS_RANDOM], RANDOM_DEFAULT);
    assert_int_equal(c.advice.mask[ACCESS_RANGE], RANGE_DEFAULT);
    char err[ERRLEN];
    assert_true(config_check(&c, err, sizeof err));
}

static void test_defaults_threads(void **state)
{
    (void)state;
    struct mmapd_config c;
    config_defaults(&c);
    cpu_set_t set;
    unsigned want = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        want = (unsigned)CPU_COUNT(&set);
    else
        want = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    if (want > 1024)
        want = 1024;
    assert_int_equal(c.threads, want);
    assert_true(c.threads >= 1);
}

static void test_defaults_demo_dir(void **state)
{
    (void)state;
    struct mmapd_config c;
    char *old_xdg = getenv("XDG_DATA_HOME") ? strdup(getenv("XDG_DATA_HOME")) : NULL;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

    setenv("XDG_DATA_HOME", "/xdg/data", 1);
    setenv("HOME", "/home/u", 1);
    config_defaults(&c);
    assert_string_equal(c.demo_dir, "/xdg/data/mmapd/demo");

    setenv("XDG_DATA_HOME", "relative/path", 1); /* not absolute: ignored */
    config_defaults(&c);
    assert_string_equal(c.demo_dir, "/home/u/.local/share/mmapd/demo");

    unsetenv("XDG_DATA_HOME");
    config_defaults(&c);
    assert_string_equal(c.demo_dir, "/home/u/.local/share/mmapd/demo");

    unsetenv("HOME");
    config_defaults(&c);
    char want[64];
    snprintf(want, sizeof want, "/tmp/mmapd-demo-%u", (unsigned)getuid());
    assert_string_equal(c.demo_dir, want);

    if (old_xdg)
        setenv("XDG_DATA_HOME", old_xdg, 1);
    if (old_home)
        setenv("HOME", old_home, 1);
    free(old_xdg);
    free(old_home);
}

static void test_option_names(void **state)
{
    (void)state;
    static const char *const names[] = {
        "root", "demo-dir", "listen", "threads", "max-connections", "max-connections-per-ip",
        "connection-timeout", "connection-memory", "max-ranges", "drain-timeout", "map-cache",
        "dotfiles", "advice", "config", "max-sample-records", "max-sample-bytes",
        "sample-iovec-max"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_true(config_is_option(names[i]));
    assert_false(config_is_option("bogus"));
    assert_false(config_is_option("--threads"));
    assert_false(config_is_option("Threads"));
    assert_false(config_is_option(""));

    char env[64];
    config_env_name("max-connections-per-ip", env, sizeof env);
    assert_string_equal(env, "MMAPD_MAX_CONNECTIONS_PER_IP");
    config_env_name("root", env, sizeof env);
    assert_string_equal(env, "MMAPD_ROOT");
    char small[9];
    config_env_name("threads", small, sizeof small);
    assert_string_equal(small, "MMAPD_TH");
}

/* ---- config_set ---- */

static void test_set_path(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    assert_true(set(&c, "root", "/srv/data", err));
    assert_string_equal(c.root, "/srv/data");
    assert_true(set(&c, "demo-dir", "/tmp/demo", err));
    assert_string_equal(c.demo_dir, "/tmp/demo");
    assert_true(set(&c, "config", "/etc/mmapd.json", err));
    assert_string_equal(c.config_file, "/etc/mmapd.json");

    assert_false(set(&c, "root", "", err));
    assert_contains(err, "SRC-LABEL");
    assert_contains(err, "expected a path");
    assert_string_equal(c.root, "/srv/data");

    char *longp = malloc(PATH_MAX + 1);
    assert_non_null(longp);
    memset(longp, 'a', PATH_MAX);
    longp[PATH_MAX] = '\0';
    assert_false(set(&c, "root", longp, err));
    longp[PATH_MAX - 1] = '\0'; /* PATH_MAX - 1 characters fit */
    assert_true(set(&c, "root", longp, err));
    assert_int_equal(strlen(c.root), PATH_MAX - 1);
    free(longp);
}

static void test_set_listen(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    assert_true(set(&c, "listen", "[::1]:9000", err));
    assert_string_equal(c.listen, "[::1]:9000");
    assert_true(set(&c, "listen", ":0", err));
    assert_string_equal(c.listen, ":0");
    assert_false(set(&c, "listen", "localhost:80", err));
    assert_contains(err, "SRC-LABEL");
    assert_contains(err, "'localhost:80'");
    assert_string_equal(c.listen, ":0");
    assert_false(set(&c, "listen", "127.0.0.1:65536", err));
    assert_false(set(&c, "listen", "", err));
}

static void test_set_uint(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    assert_true(set(&c, "threads", "8", err));
    assert_int_equal(c.threads, 8);
    assert_true(set(&c, "threads", "1024", err));
    assert_int_equal(c.threads, 1024);
    assert_true(set(&c, "threads", "1", err));
    assert_int_equal(c.threads, 1);
    assert_true(set(&c, "threads", "0007", err));
    assert_int_equal(c.threads, 7);

    static const char *const bad[] = {"0", "1025", "abc", "-1", "+5", " 5", "5 ", "", "1K",
                                      "4294967297", "99999999999999999999999", "0x10", "1.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (set(&c, "threads", bad[i], err))
            fail_msg("threads '%s' accepted", bad[i]);
        assert_contains(err, "SRC-LABEL");
        assert_contains(err, "from 1 to 1024");
    }
    assert_int_equal(c.threads, 7);

    assert_true(set(&c, "max-connections-per-ip", "0", err));
    assert_int_equal(c.max_connections_per_ip, 0);
    assert_true(set(&c, "max-connections", "1000000", err));
    assert_int_equal(c.max_connections, 1000000);
    assert_false(set(&c, "max-connections", "1000001", err));
    assert_false(set(&c, "max-connections", "0", err));
    assert_true(set(&c, "connection-timeout", "0", err));
    assert_int_equal(c.connection_timeout, 0);
    assert_true(set(&c, "connection-timeout", "86400", err));
    assert_int_equal(c.connection_timeout, 86400);
    assert_false(set(&c, "connection-timeout", "86401", err));
    assert_true(set(&c, "max-ranges", "511", err));
    assert_int_equal(c.max_ranges, 511);
    assert_false(set(&c, "max-ranges", "512", err));
    assert_contains(err, "from 1 to 511");
    assert_false(set(&c, "max-ranges", "0", err));
    assert_true(set(&c, "drain-timeout", "3600", err));
    assert_int_equal(c.drain_timeout, 3600);
    assert_false(set(&c, "drain-timeout", "3601", err));
    assert_true(set(&c, "map-cache", "1", err));
    assert_int_equal(c.map_cache, 1);
    assert_false(set(&c, "map-cache", "0", err));
}

static void test_set_size_suffixes(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    static const struct {
        const char *text;
        size_t value;
    } ok[] = {{"64K", 65536},    {"1M", 1048576},       {"16K", 16384},   {"16384", 16384},
              {"32KiB", 32768},  {"2MiB", 2097152},     {"20k", 20480},   {"64M", 67108864},
              {"100000", 100000}, {"67108864", 67108864}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!set(&c, "connection-memory", ok[i].text, err))
            fail_msg("'%s' rejected: %s", ok[i].text, err);
        assert_int_equal(c.connection_memory, ok[i].value);
    }
    static const char *const bad[] = {"16383", "15K", "65M", "67108865", "1G", "1GiB",
                                      "1m",    "1KB", "K",   "64 K",     "-64K", "64KK", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (set(&c, "connection-memory", bad[i], err))
            fail_msg("connection-memory '%s' accepted", bad[i]);
        assert_contains(err, "SRC-LABEL");
        assert_contains(err, "K or M suffix");
    }
    assert_int_equal(c.connection_memory, 67108864);
}

static void test_set_revalidate(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    assert_int_equal(c.revalidate, REVALIDATE_INOTIFY);
    assert_true(set(&c, "revalidate", "inotify-async", err));
    assert_int_equal(c.revalidate, REVALIDATE_INOTIFY_ASYNC);
    assert_true(set(&c, "revalidate", "stat", err));
    assert_int_equal(c.revalidate, REVALIDATE_STAT);
    assert_true(set(&c, "revalidate", "inotify", err));
    assert_int_equal(c.revalidate, REVALIDATE_INOTIFY);
    assert_false(set(&c, "revalidate", "async", err));
    assert_contains(err, "expected inotify|stat|inotify-async");
}

static void test_set_dotfiles(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    assert_true(set(&c, "dotfiles", "allow", err));
    assert_true(c.allow_dotfiles);
    assert_true(set(&c, "dotfiles", "deny", err));
    assert_false(c.allow_dotfiles);
    assert_true(set(&c, "dotfiles", "allow", err));
    static const char *const bad[] = {"yes", "Allow", "true", "1", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(set(&c, "dotfiles", bad[i], err));
        assert_contains(err, "SRC-LABEL");
        assert_contains(err, "expected deny|allow");
    }
    assert_true(c.allow_dotfiles);
}

static void test_set_advice(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    assert_true(set(&c, "advice", "stream=none", err));
    assert_int_equal(c.advice.mask[ACCESS_STREAM], 0);
    assert_int_equal(c.advice.mask[ACCESS_RANDOM], RANDOM_DEFAULT);
    assert_true(set(&c, "advice", "random=normal,dontneed", err));
    assert_int_equal(c.advice.mask[ACCESS_RANDOM], BIT(ADVICE_NORMAL) | BIT(ADVICE_DONTNEED));
    assert_false(set(&c, "advice", "bogus=willneed", err));
    assert_contains(err, "SRC-LABEL");
    assert_contains(err, "unknown access class 'bogus'");
    assert_false(set(&c, "advice", "stream=fast", err));
    assert_contains(err, "SRC-LABEL");
    assert_contains(err, "unknown advice 'fast'");
    assert_int_equal(c.advice.mask[ACCESS_STREAM], 0);
}

static void test_set_unknown_option(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    assert_false(set(&c, "bogus", "1", err));
    assert_contains(err, "SRC-LABEL");
    assert_contains(err, "unknown option 'bogus'");
}

/* ---- config_check ---- */

static void test_check(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    /* multi-range bodies are copied, not iovecs: --max-ranges asks nothing of the pool */
    c.sample_iovec_max = 0; /* needs 16384 + 32 */
    c.max_ranges = 511;
    c.connection_memory = 16416;
    assert_true(config_check(&c, err, sizeof err));
    c.connection_memory = 16415;
    assert_false(config_check(&c, err, sizeof err));
    assert_contains(err, "--sample-iovec-max 0");
    assert_contains(err, "16416");
}

static void test_check_sample_iovec(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    assert_int_equal(c.sample_iovec_max, 0); /* every sample copied and size-checked */
    assert_int_equal(c.connection_memory, 32768);
    assert_true(config_check(&c, err, sizeof err)); /* the defaults fit */
    c.sample_iovec_max = 511;
    c.connection_memory = 49120; /* 16384 + 1023 * 32 */
    assert_true(config_check(&c, err, sizeof err));
    c.connection_memory = 49119;
    assert_false(config_check(&c, err, sizeof err));
    assert_contains(err, "--sample-iovec-max 511");
    assert_contains(err, "--connection-memory 49119");
    assert_contains(err, "49120");
    c.sample_iovec_max = 100; /* 16384 + 201 * 32 = 22816 */
    c.connection_memory = 22816;
    assert_true(config_check(&c, err, sizeof err));
    c.connection_memory = 22815;
    assert_false(config_check(&c, err, sizeof err));
    assert_int_equal(config_pool_need(3), 16480);
}

static void test_sample_options(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    assert_int_equal(c.max_sample_records, 4096);
    assert_int_equal(c.max_sample_bytes, 64u << 20);
    assert_true(set(&c, "max-sample-records", "1", err));
    assert_int_equal(c.max_sample_records, 1);
    assert_true(set(&c, "max-sample-records", "1000000", err));
    assert_false(set(&c, "max-sample-records", "0", err));
    assert_false(set(&c, "max-sample-records", "1000001", err));
    assert_contains(err, "SRC-LABEL");
    assert_true(set(&c, "max-sample-bytes", "1M", err));
    assert_int_equal(c.max_sample_bytes, 1u << 20);
    assert_true(set(&c, "max-sample-bytes", "4G", err));
    assert_int_equal(c.max_sample_bytes, 4ull << 30);
    assert_false(set(&c, "max-sample-bytes", "0", err));
    assert_false(set(&c, "max-sample-bytes", "5G", err));
    assert_false(set(&c, "max-sample-bytes", "-1", err));
    assert_true(set(&c, "sample-iovec-max", "0", err));
    assert_int_equal(c.sample_iovec_max, 0);
    assert_true(set(&c, "sample-iovec-max", "511", err));
    assert_false(set(&c, "sample-iovec-max", "512", err));
}

/* ---- config_load: flags ---- */

static void test_load_no_args(void **state)
{
    (void)state;
    struct mmapd_config c, d;
    char err[ERRLEN];
    char *argv[] = {"mmapd", NULL};
    assert_int_equal(load(&c, argv, no_env, err), CONFIG_RUN);
    config_defaults(&d);
    assert_string_equal(c.listen, d.listen);
    assert_int_equal(c.max_ranges, 64);
    assert_int_equal(c.threads, d.threads);
    assert_string_equal(c.config_file, "");
    /* NULL envp is no environment */
    assert_int_equal(config_load(&c, 1, argv, NULL, err, sizeof err), CONFIG_RUN);
}

static void test_load_flag_forms(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    char *argv[] = {"mmapd",          "--threads",        "3",
                    "--max-ranges=9", "--listen",         "127.0.0.1:0",
                    "--root=/srv/x",  "--dotfiles=allow", "--connection-memory", "1M",
                    "--drain-timeout=0", NULL};
    assert_int_equal(load(&c, argv, no_env, err), CONFIG_RUN);
    assert_int_equal(c.threads, 3);
    assert_int_equal(c.max_ranges, 9);
    assert_string_equal(c.listen, "127.0.0.1:0");
    assert_string_equal(c.root, "/srv/x");
    assert_true(c.allow_dotfiles);
    assert_int_equal(c.connection_memory, 1048576);
    assert_int_equal(c.drain_timeout, 0);
}

static void test_load_value_with_equals(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    /* "--name=value": only the first '=' separates; "--advice stream=none" keeps its '=' */
    char *argv[] = {"mmapd", "--advice=stream=none", "--advice", "random=normal", NULL};
    assert_int_equal(load(&c, argv, no_env, err), CONFIG_RUN);
    assert_int_equal(c.advice.mask[ACCESS_STREAM], 0);
    assert_int_equal(c.advice.mask[ACCESS_RANDOM], BIT(ADVICE_NORMAL));
}

static void test_load_repeated_last_wins(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    char *argv[] = {"mmapd", "--threads", "3", "--threads=5", "--threads", "4",
                    "--dotfiles", "allow", "--dotfiles", "deny", NULL};
    assert_int_equal(load(&c, argv, no_env, err), CONFIG_RUN);
    assert_int_equal(c.threads, 4);
    assert_false(c.allow_dotfiles);
}

static void test_load_advice_repeatable(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    char *argv[] = {"mmapd", "--advice", "stream=willneed", "--advice", "random=none",
                    "--advice", "stream=sequential,dontneed", NULL};
    assert_int_equal(load(&c, argv, no_env, err), CONFIG_RUN);
    assert_int_equal(c.advice.mask[ACCESS_STREAM], BIT(ADVICE_SEQUENTIAL) | BIT(ADVICE_DONTNEED));
    assert_int_equal(c.advice.mask[ACCESS_RANDOM], 0);
}

static void test_load_help_version(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    char *a1[] = {"mmapd", "--help", NULL};
    char *a2[] = {"mmapd", "-h", NULL};
    char *a3[] = {"mmapd", "--version", NULL};
    char *a4[] = {"mmapd", "-V", NULL};
    char *a5[] = {"mmapd", "--threads", "2", "--help", NULL};
    char *a6[] = {"mmapd", "--help", "--bogus", NULL};
    char *a7[] = {"mmapd", "--threads=0", "--version", NULL}; /* values not checked yet */
    assert_int_equal(load(&c, a1, no_env, err), CONFIG_HELP);
    assert_int_equal(load(&c, a2, no_env, err), CONFIG_HELP);
    assert_int_equal(load(&c, a3, no_env, err), CONFIG_VERSION);
    assert_int_equal(load(&c, a4, no_env, err), CONFIG_VERSION);
    assert_int_equal(load(&c, a5, no_env, err), CONFIG_HELP);
    assert_int_equal(load(&c, a6, no_env, err), CONFIG_HELP);
    assert_int_equal(load(&c, a7, no_env, err), CONFIG_VERSION);
}

static void test_load_unknown_flag(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    char *a1[] = {"mmapd", "--bogus", "1", NULL};
    assert_int_equal(load(&c, a1, no_env, err), CONFIG_ERROR);
    assert_contains(err, "unknown option '--bogus'");
    char *a2[] = {"mmapd", "--bogus=1", NULL};
    assert_int_equal(load(&c, a2, no_env, err), CONFIG_ERROR);
    assert_contains(err, "unknown option '--bogus'");
    char *a3[] = {"mmapd", "stray", NULL};
    assert_int_equal(load(&c, a3, no_env, err), CONFIG_ERROR);
    assert_contains(err, "unexpected argument 'stray'");
    char *a4[] = {"mmapd", "-t", "4", NULL};
    assert_int_equal(load(&c, a4, no_env, err), CONFIG_ERROR);
    assert_contains(err, "'-t'");
    char *a5[] = {"mmapd", "--", NULL};
    assert_int_equal(load(&c, a5, no_env, err), CONFIG_ERROR);
    /* an error before --help wins */
    char *a6[] = {"mmapd", "--bogus", "--help", NULL};
    assert_int_equal(load(&c, a6, no_env, err), CONFIG_ERROR);
}

static void test_load_missing_value(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    char *a1[] = {"mmapd", "--threads", NULL};
    assert_int_equal(load(&c, a1, no_env, err), CONFIG_ERROR);
    assert_contains(err, "--threads needs a value");
    char *a2[] = {"mmapd", "--threads", "2", "--root", NULL};
    assert_int_equal(load(&c, a2, no_env, err), CONFIG_ERROR);
    assert_contains(err, "--root needs a value");
}

static void test_load_bad_value(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    char *a1[] = {"mmapd", "--threads=0", NULL};
    assert_int_equal(load(&c, a1, no_env, err), CONFIG_ERROR);
    assert_contains(err, "--threads: '0'");
    char *a2[] = {"mmapd", "--root=", NULL};
    assert_int_equal(load(&c, a2, no_env, err), CONFIG_ERROR);
    char *a3[] = {"mmapd", "--listen", "nowhere", NULL};
    assert_int_equal(load(&c, a3, no_env, err), CONFIG_ERROR);
    assert_contains(err, "--listen");
    char *a4[] = {"mmapd", "--advice", "stream", NULL};
    assert_int_equal(load(&c, a4, no_env, err), CONFIG_ERROR);
    assert_contains(err, "--advice");
}

static void test_load_check_applied(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    /* 20K = 20480 < 16384 + 129 * 32 = 20512 for 64 iovec records; >= 20448 for 63 */
    char *a1[] = {"mmapd", "--connection-memory", "20K", "--sample-iovec-max", "64", NULL};
    assert_int_equal(load(&c, a1, no_env, err), CONFIG_ERROR);
    assert_contains(err, "too small for --sample-iovec-max 64");
    char *a2[] = {"mmapd", "--connection-memory", "20K", "--sample-iovec-max", "63", NULL};
    assert_int_equal(load(&c, a2, no_env, err), CONFIG_RUN);
    assert_int_equal(c.connection_memory, 20480);
    char *a3[] = {"mmapd", "--connection-memory", "20K", NULL}; /* the default copies */
    assert_int_equal(load(&c, a3, no_env, err), CONFIG_RUN);
    /* the check sees the final values, whatever their source */
    char *env[] = {"MMAPD_SAMPLE_IOVEC_MAX=10", NULL};
    assert_int_equal(load(&c, a1, env, err), CONFIG_ERROR); /* the flag wins: 64 */
    char *a4[] = {"mmapd", "--connection-memory", "20K", NULL};
    char *env2[] = {"MMAPD_SAMPLE_IOVEC_MAX=511", NULL};
    assert_int_equal(load(&c, a4, env2, err), CONFIG_ERROR);
    assert_contains(err, "too small for --sample-iovec-max 511");
}

/* ---- config_load: environment ---- */

static void test_load_env(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    char *argv[] = {"mmapd", NULL};
    char *env[] = {"PATH=/usr/bin",          "MMAPD_MAX_RANGES=10", "MMAPD_DOTFILES=allow",
                   "MMAPD_LISTEN=:9090",     "MMAPD_CONNECTION_MEMORY=128K",
                   "MMAPD_MAX_CONNECTIONS_PER_IP=7", NULL};
    assert_int_equal(load(&c, argv, env, err), CONFIG_RUN);
    assert_int_equal(c.max_ranges, 10);
    assert_true(c.allow_dotfiles);
    assert_string_equal(c.listen, ":9090");
    assert_int_equal(c.connection_memory, 131072);
    assert_int_equal(c.max_connections_per_ip, 7);
}

static void test_load_env_other_vars_ignored(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    char *argv[] = {"mmapd", NULL};
    char *env[] = {"MMAPD_SERVICE_HOST=10.0.0.1", "MMAPD_PORT=tcp://10.0.0.1:80",
                   "MMAPD_MAX_RANGESX=3",         "MMAPD_MAX_RANGES_=3",
                   "XMMAPD_MAX_RANGES=3",         "MMAPD_max_ranges=3",
                   "MMAPD_MAX_RANGES",            NULL};
    assert_int_equal(load(&c, argv, env, err), CONFIG_RUN);
    assert_int_equal(c.max_ranges, 64);
}

static void test_load_env_error(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    char *argv[] = {"mmapd", NULL};
    char *env[] = {"MMAPD_THREADS=many", NULL};
    assert_int_equal(load(&c, argv, env, err), CONFIG_ERROR);
    assert_contains(err, "MMAPD_THREADS");
    assert_contains(err, "'many'");
}

static void test_load_env_advice(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    char *argv[] = {"mmapd", NULL};
    char *e1[] = {"MMAPD_ADVICE=stream=none;random=normal,willneed", NULL};
    assert_int_equal(load(&c, argv, e1, err), CONFIG_RUN);
    assert_int_equal(c.advice.mask[ACCESS_STREAM], 0);
    assert_int_equal(c.advice.mask[ACCESS_RANDOM], BIT(ADVICE_NORMAL) | BIT(ADVICE_WILLNEED));
    char *e2[] = {"MMAPD_ADVICE= ;stream=willneed ; ;random=dontneed;", NULL};
    assert_int_equal(load(&c, argv, e2, err), CONFIG_RUN);
    assert_int_equal(c.advice.mask[ACCESS_STREAM], BIT(ADVICE_WILLNEED));
    assert_int_equal(c.advice.mask[ACCESS_RANDOM], BIT(ADVICE_DONTNEED));
    char *e3[] = {"MMAPD_ADVICE=stream=none;random=bogus", NULL};
    assert_int_equal(load(&c, argv, e3, err), CONFIG_ERROR);
    assert_contains(err, "MMAPD_ADVICE");
    assert_contains(err, "'bogus'");
}

/* ---- config_load: file and precedence ---- */

static void test_load_precedence(void **state)
{
    (void)state;
    char path[64], cfg[128], err[ERRLEN];
    write_temp(path, "{\"max-ranges\": 5, \"threads\": 3, \"drain-timeout\": 7,"
                     " \"advice\": {\"stream\": \"none\", \"random\": \"random\"}}");
    snprintf(cfg, sizeof cfg, "--config=%s", path);
    char *argv[] = {"mmapd", cfg, "--max-ranges", "7", "--advice", "stream=willneed", NULL};
    char *env[] = {"MMAPD_MAX_RANGES=6", "MMAPD_THREADS=4", "MMAPD_ADVICE=random=normal", NULL};
    struct mmapd_config c;
    assert_int_equal(load(&c, argv, env, err), CONFIG_RUN);
    assert_int_equal(c.max_ranges, 7);         /* flag */
    assert_int_equal(c.threads, 4);            /* environment */
    assert_int_equal(c.drain_timeout, 7);      /* file */
    assert_int_equal(c.connection_timeout, 30); /* default */
    assert_int_equal(c.advice.mask[ACCESS_STREAM], BIT(ADVICE_WILLNEED)); /* flag */
    assert_int_equal(c.advice.mask[ACCESS_RANDOM], BIT(ADVICE_NORMAL));   /* environment */
    assert_string_equal(c.config_file, path);

    /* without the flag and the environment the file decides */
    char *argv2[] = {"mmapd", cfg, NULL};
    assert_int_equal(load(&c, argv2, no_env, err), CONFIG_RUN);
    assert_int_equal(c.max_ranges, 5);
    assert_int_equal(c.threads, 3);
    assert_int_equal(c.advice.mask[ACCESS_STREAM], 0);
    assert_int_equal(c.advice.mask[ACCESS_RANDOM], BIT(ADVICE_RANDOM));
    unlink(path);
}

static void test_load_mmapd_config_env(void **state)
{
    (void)state;
    char p1[64], p2[64], e[128], flag[128], err[ERRLEN];
    write_temp(p1, "{\"threads\": 11}");
    write_temp(p2, "{\"threads\": 12}");
    snprintf(e, sizeof e, "MMAPD_CONFIG=%s", p1);
    char *env[] = {e, NULL};
    char *argv[] = {"mmapd", NULL};
    struct mmapd_config c;
    assert_int_equal(load(&c, argv, env, err), CONFIG_RUN);
    assert_int_equal(c.threads, 11);
    assert_string_equal(c.config_file, p1);

    /* --config beats MMAPD_CONFIG: only one file is read */
    snprintf(flag, sizeof flag, "--config=%s", p2);
    char *argv2[] = {"mmapd", flag, NULL};
    assert_int_equal(load(&c, argv2, env, err), CONFIG_RUN);
    assert_int_equal(c.threads, 12);
    assert_string_equal(c.config_file, p2);
    unlink(p1);
    unlink(p2);

    char *empty[] = {"MMAPD_CONFIG=", NULL};
    assert_int_equal(load(&c, argv, empty, err), CONFIG_ERROR);
    assert_contains(err, "expected a path");
}

static void test_load_config_file_errors(void **state)
{
    (void)state;
    char path[64], flag[128], err[ERRLEN];
    struct mmapd_config c;
    char *a1[] = {"mmapd", "--config", "/nonexistent/mmapd-test.json", NULL};
    assert_int_equal(load(&c, a1, no_env, err), CONFIG_ERROR);
    assert_contains(err, "/nonexistent/mmapd-test.json");
    assert_contains(err, "No such file or directory");

    write_temp(path, "{\"threads\": 2,\n \"bogus\": 1}");
    snprintf(flag, sizeof flag, "--config=%s", path);
    char *a2[] = {"mmapd", flag, NULL};
    assert_int_equal(load(&c, a2, no_env, err), CONFIG_ERROR);
    assert_contains(err, path);
    assert_contains(err, "unknown key 'bogus'");
    unlink(path);

    write_temp(path, "{\"threads\": 2,\n \"max-ranges\": }");
    snprintf(flag, sizeof flag, "--config=%s", path);
    assert_int_equal(load(&c, a2, no_env, err), CONFIG_ERROR);
    assert_contains(err, path);
    assert_contains(err, "line 2");
    unlink(path);

    char *a3[] = {"mmapd", "--config=", NULL};
    assert_int_equal(load(&c, a3, no_env, err), CONFIG_ERROR);
}

/* ---- config_load_json ---- */

static bool apply(struct mmapd_config *c, const char *json, char *err)
{
    err[0] = '\0';
    return config_load_json(c, json, "test.json", err, ERRLEN);
}

static void test_json_values(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    assert_true(apply(&c,
                      "{\"threads\": 8, \"max-ranges\": \"12\", \"connection-memory\": \"1M\","
                      " \"dotfiles\": \"allow\", \"root\": \"/srv\", \"listen\": \":81\","
                      " \"map-cache\": 2}",
                      err));
    assert_int_equal(c.threads, 8);
    assert_int_equal(c.max_ranges, 12);
    assert_int_equal(c.connection_memory, 1048576);
    assert_true(c.allow_dotfiles);
    assert_string_equal(c.root, "/srv");
    assert_string_equal(c.listen, ":81");
    assert_int_equal(c.map_cache, 2);
    assert_true(apply(&c, "{}", err));
    assert_int_equal(c.threads, 8);
}

static void test_json_unknown_key(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    assert_false(apply(&c, "{\"bogus\": 1}", err));
    assert_contains(err, "test.json");
    assert_contains(err, "unknown key 'bogus'");
    /* "config" is a flag, not a key of the file */
    assert_false(apply(&c, "{\"config\": \"/etc/other.json\"}", err));
    assert_contains(err, "unknown key 'config'");
    assert_false(apply(&c, "{\"--threads\": 2}", err));
}

static void test_json_wrong_type(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    static const char *const bad[] = {"{\"threads\": true}", "{\"threads\": -1}",
                                      "{\"threads\": 1.5}",  "{\"threads\": null}",
                                      "{\"threads\": [2]}",  "{\"threads\": {\"a\": 2}}",
                                      "{\"dotfiles\": true}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (apply(&c, bad[i], err))
            fail_msg("'%s' accepted", bad[i]);
        assert_contains(err, "test.json");
        assert_contains(err, "expected a string or a non-negative integer");
    }
    /* right type, value out of range: config_set's message with the key as source */
    assert_false(apply(&c, "{\"threads\": 0}", err));
    assert_contains(err, "config file test.json: key 'threads'");
    assert_contains(err, "from 1 to 1024");
    struct mmapd_config d;
    config_defaults(&d);
    assert_int_equal(c.threads, d.threads); /* unchanged by the failures */
}

static void test_json_advice_forms(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    assert_true(apply(&c, "{\"advice\": \"stream=none\"}", err));
    assert_int_equal(c.advice.mask[ACCESS_STREAM], 0);
    assert_int_equal(c.advice.mask[ACCESS_RANDOM], RANDOM_DEFAULT);

    assert_true(apply(&c, "{\"advice\": [\"stream=willneed\", \"random=none\"]}", err));
    assert_int_equal(c.advice.mask[ACCESS_STREAM], BIT(ADVICE_WILLNEED));
    assert_int_equal(c.advice.mask[ACCESS_RANDOM], 0);

    assert_true(apply(&c, "{\"advice\": {\"stream\": \"sequential\", \"random\": "
                          "\"random,willneed,dontneed\"}}",
                      err));
    assert_int_equal(c.advice.mask[ACCESS_STREAM], BIT(ADVICE_SEQUENTIAL));
    assert_int_equal(c.advice.mask[ACCESS_RANDOM],
                     BIT(ADVICE_RANDOM) | BIT(ADVICE_WILLNEED) | BIT(ADVICE_DONTNEED));

    assert_true(apply(&c, "{\"advice\": []}", err));
    assert_true(apply(&c, "{\"advice\": {}}", err));

    assert_false(apply(&c, "{\"advice\": [\"stream=none\", 3]}", err));
    assert_contains(err, "\"CLASS=LIST\", a list of them, or {\"CLASS\": \"LIST\"}");
    assert_false(apply(&c, "{\"advice\": {\"stream\": [\"none\"]}}", err));
    assert_contains(err, "\"CLASS=LIST\"");
    assert_false(apply(&c, "{\"advice\": true}", err));
    assert_contains(err, "\"CLASS=LIST\"");
    assert_false(apply(&c, "{\"advice\": 3}", err));
    assert_false(apply(&c, "{\"advice\": {\"bogus\": \"none\"}}", err));
    assert_contains(err, "unknown access class 'bogus'");
    assert_false(apply(&c, "{\"advice\": [\"stream=bad\"]}", err));
    assert_contains(err, "config file test.json: key 'advice'");
    assert_contains(err, "unknown advice 'bad'");
}

static void test_json_malformed(void **state)
{
    (void)state;
    struct mmapd_config c;
    char err[ERRLEN];
    config_defaults(&c);
    assert_false(apply(&c, "{\"threads\": 2,\n\n  \"max-ranges\" 3}", err));
    assert_contains(err, "test.json");
    assert_contains(err, "line 3");
    assert_false(apply(&c, "", err));
    assert_contains(err, "line");
    assert_false(apply(&c, "{\"threads\": 2", err));
    assert_contains(err, "line");
    /* duplicate keys are rejected */
    assert_false(apply(&c, "{\"threads\": 2, \"threads\": 3}", err));
    assert_contains(err, "line");
    /* not an object */
    assert_false(apply(&c, "[1, 2]", err));
    assert_contains(err, "expected a JSON object");
    assert_false(apply(&c, "\"threads\"", err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_defaults_threads),
        cmocka_unit_test(test_defaults_demo_dir),
        cmocka_unit_test(test_option_names),
        cmocka_unit_test(test_set_path),
        cmocka_unit_test(test_set_listen),
        cmocka_unit_test(test_set_uint),
        cmocka_unit_test(test_set_size_suffixes),
        cmocka_unit_test(test_set_revalidate),
        cmocka_unit_test(test_set_dotfiles),
        cmocka_unit_test(test_set_advice),
        cmocka_unit_test(test_set_unknown_option),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_check_sample_iovec),
        cmocka_unit_test(test_sample_options),
        cmocka_unit_test(test_load_no_args),
        cmocka_unit_test(test_load_flag_forms),
        cmocka_unit_test(test_load_value_with_equals),
        cmocka_unit_test(test_load_repeated_last_wins),
        cmocka_unit_test(test_load_advice_repeatable),
        cmocka_unit_test(test_load_help_version),
        cmocka_unit_test(test_load_unknown_flag),
        cmocka_unit_test(test_load_missing_value),
        cmocka_unit_test(test_load_bad_value),
        cmocka_unit_test(test_load_check_applied),
        cmocka_unit_test(test_load_env),
        cmocka_unit_test(test_load_env_other_vars_ignored),
        cmocka_unit_test(test_load_env_error),
        cmocka_unit_test(test_load_env_advice),
        cmocka_unit_test(test_load_precedence),
        cmocka_unit_test(test_load_mmapd_config_env),
        cmocka_unit_test(test_load_config_file_errors),
        cmocka_unit_test(test_json_values),
        cmocka_unit_test(test_json_unknown_key),
        cmocka_unit_test(test_json_wrong_type),
        cmocka_unit_test(test_json_advice_forms),
        cmocka_unit_test(test_json_malformed),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
