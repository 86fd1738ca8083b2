/* config_load.c - config file, environment and flags, applied in precedence order. */
#include "server/config_load.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char *env_lookup(char *const envp[], const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* "--name=value" or "--name value"; sets *name (without dashes, copied) and *value. */
static bool split_flag(int argc, char *const argv[], int *i, char *name, size_t namesz,
                       const char **value, char *err, size_t errlen)
{
    const char *arg = argv[*i];
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
        snprintf(err, errlen, "unexpected argument '%.200s' (see --help)", arg);
        return false;
    }
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (len >= namesz) {
        snprintf(err, errlen, "unknown option '%.200s' (see --help)", arg);
        return false;
    }
    memcpy(name, arg + 2, len);
    name[len] = '\0';
    if (!config_is_option(name)) {
        snprintf(err, errlen, "unknown option '--%s' (see --help)", name);
        return false;
    }
    if (config_is_flag(name)) {
        if (eq) {
            snprintf(err, errlen, "--%s takes no value (see --help)", name);
            return false;
        }
        *value = "1";
    } else if (eq) {
        *value = eq + 1;
    } else if (*i + 1 < argc) {
        *value = argv[++*i];
    } else {
        snprintf(err, errlen, "--%s needs a value (see --help)", name);
        return false;
    }
    return true;
}

static bool apply_json_value(struct mmapd_config *c, const char *key, json_t *v,
                             const char *label, char *err, size_t errlen)
{
    char source[PATH_MAX + 320], text[64];
    snprintf(source, sizeof source, "%s: key '%s'", label, key);
    if (config_is_flag(key)) {
        snprintf(err, errlen, "%s: key '%s' is a command-line flag, not a setting", label, key);
        return false;
    }
    if (strcmp(key, "config") == 0 || !config_is_option(key)) {
        snprintf(err, errlen, "%s: unknown key '%s' (keys are the option names, see --help)",
                 label, key);
        return false;
    }
    if (json_is_string(v))
        return config_set(c, key, json_string_value(v), source, err, errlen);
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
        return config_set(c, key, text, source, err, errlen);
    }
    if (strcmp(key, "advice") == 0 && json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            if (!json_is_string(item))
                goto type;
            if (!config_set(c, key, json_string_value(item), source, err, errlen))
                return false;
        }
        return true;
    }
    if (strcmp(key, "advice") == 0 && json_is_object(v)) {
        const char *cls;
        json_t *list;
        json_object_foreach(v, cls, list) {
            char spec[256];
            if (!json_is_string(list))
                goto type;
            snprintf(spec, sizeof spec, "%s=%s", cls, json_string_value(list));
            if (!config_set(c, key, spec, source, err, errlen))
                return false;
        }
        return true;
    }
type:
    snprintf(err, errlen, "%s: expected %s", source,
             strcmp(key, "advice") == 0
                 ? "\"CLASS=LIST\", a list of them, or {\"CLASS\": \"LIST\"}"
                 : "a string or a non-negative integer");
    return false;
}

bool config_load_json(struct mmapd_config *c, const char *text, const char *name, char *err,
                       size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "config file %s: line %d column %d: %s", name, jerr.line,
                 jerr.column, jerr.text);
        return false;
    }
    bool ok = json_is_object(root);
    if (!ok)
        snprintf(err, errlen, "config file %s: expected a JSON object", name);
    const char *key;
    json_t *v;
    char label[PATH_MAX + 16];
    snprintf(label, sizeof label, "config file %s", name);
    if (ok)
        json_object_foreach(root, key, v) {
            if (!apply_json_value(c, key, v, label, err, errlen)) {
                ok = false;
                break;
            }
        }
    json_decref(root);
    return ok;
}

static bool apply_file(struct mmapd_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "config file %s: %s", path, strerror(errno));
        return false;
    }
    enum { MAX_CONFIG = 1 << 20 };
    char *text = malloc(MAX_CONFIG + 1);
    size_t n = text ? fread(text, 1, MAX_CONFIG + 1, f) : 0;
    bool read_error = ferror(f);
    fclose(f);
    if (!text || read_error || n > MAX_CONFIG) {
        snprintf(err, errlen, "config file %s: %s", path,
                 !text ? "out of memory" : read_error ? "read error" : "larger than 1 MiB");
        free(text);
        return false;
    }
    text[n] = '\0';
    bool ok = config_load_json(c, text, path, err, errlen);
    free(text);
    return ok;
}

struct env_ctx {
    struct mmapd_config *c;
    char *const *envp;
    char *err;
    size_t errlen;
    bool ok;
};

static void apply_env_option(const char *name, void *cls)
{
    struct env_ctx *e = cls;
    char var[64];
    if (!e->ok || strcmp(name, "config") == 0)
        return;
    config_env_name(name, var, sizeof var);
    const char *value = env_lookup(e->envp, var);
    if (!value)
        return;
    if (strcmp(name, "advice") != 0) {
        e->ok = config_set(e->c, name, value, var, e->err, e->errlen);
        return;
    }
    /* MMAPD_ADVICE="stream=sequential,willneed;random=random" (';' or spaces between) */
    char spec[512];
    for (const char *p = value; *p && e->ok;) {
        size_t len = strcspn(p, "; \t");
        if (len > 0) {
            snprintf(spec, sizeof spec, "%.*s", (int)len, p);
            e->ok = config_set(e->c, name, spec, var, e->err, e->errlen);
        }
        p += len;
        p += strspn(p, "; \t");
    }
}

/* MMAPD_TEST_HINT_DELAY_MS=willneed=MS or none=MS, for tests of `auto` only: prefetch jobs
 * of that arm (WILLNEED given, or not) wait MS milliseconds longer. */
static bool apply_test_knob(struct mmapd_config *c, const char *v, char *err, size_t errlen)
{
    if (!v)
        return true;
    const char *eq = strchr(v, '=');
    char *end = NULL;
    bool willneed = eq && (size_t)(eq - v) == 8 && strncmp(v, "willneed", 8) == 0;
    bool none = eq && (size_t)(eq - v) == 4 && strncmp(v, "none", 4) == 0;
    unsigned long ms = (willneed || none) && eq[1] >= '0' && eq[1] <= '9'
                           ? strtoul(eq + 1, &end, 10)
                           : 0;
    if (!end || *end != '\0' || ms > 60000) {
        snprintf(err, errlen,
                 "MMAPD_TEST_HINT_DELAY_MS: expected willneed=MS or none=MS (MS up to 60000), "
                 "got '%s'",
                 v);
        return false;
    }
    c->test_hint_delay_ns[willneed] = (uint64_t)ms * 1000000u;
    return true;
}

/* MMAPD_TEST_LOOKAHEAD_EXPIRY_MS=MS, for tests of the /sample lookahead only: a page read
 * ahead counts as wasted after MS milliseconds instead of LOOKAHEAD_EXPIRY_NS. */
static bool apply_expiry_knob(struct mmapd_config *c, const char *v, char *err, size_t errlen)
{
    if (!v)
        return true;
    char *end = NULL;
    unsigned long ms = v[0] >= '0' && v[0] <= '9' ? strtoul(v, &end, 10) : 0;
    if (!end || *end != '\0' || ms == 0 || ms > 3600000) {
        snprintf(err, errlen,
                 "MMAPD_TEST_LOOKAHEAD_EXPIRY_MS: expected MS from 1 to 3600000, got '%s'", v);
        return false;
    }
    c->test_lookahead_expiry_ns = (uint64_t)ms * 1000000u;
    return true;
}

/* MMAPD_TEST_STREAM_OFFLOAD=0 or 1, for benchmarks of the trade only: with 0, the HTTP thread
 * copies every block of a streamed body, even while other requests are being answered. */
static bool apply_offload_knob(struct mmapd_config *c, const char *v, char *err, size_t errlen)
{
    if (!v)
        return true;
    if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
        snprintf(err, errlen, "MMAPD_TEST_STREAM_OFFLOAD: expected 0 or 1, got '%s'", v);
        return false;
    }
    c->test_no_offload = v[0] == '0';
    return true;
}

enum config_result config_load(struct mmapd_config *c, int argc, char *const argv[],
                               char *const envp[], char *err, size_t errlen)
{
    char name[64];
    const char *value;
    const char *config_path = env_lookup(envp, "MMAPD_CONFIG");

    config_defaults(c);
    /* First pass: help, version, syntax, and where the config file is. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return CONFIG_HELP;
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0)
            return CONFIG_VERSION;
        if (!split_flag(argc, argv, &i, name, sizeof name, &value, err, errlen))
            return CONFIG_ERROR;
        if (strcmp(name, "config") == 0)
            config_path = value;
    }
    if (config_path) {
        if (config_path[0] == '\0') {
            snprintf(err, errlen, "--config: expected a path");
            return CONFIG_ERROR;
        }
        snprintf(c->config_file, sizeof c->config_file, "%s", config_path);
        if (!apply_file(c, config_path, err, errlen))
            return CONFIG_ERROR;
    }
    struct env_ctx e = {c, envp, err, errlen, true};
    config_each_option(apply_env_option, &e);
    if (!e.ok || !apply_test_knob(c, env_lookup(envp, "MMAPD_TEST_HINT_DELAY_MS"), err, errlen) ||
        !apply_expiry_knob(c, env_lookup(envp, "MMAPD_TEST_LOOKAHEAD_EXPIRY_MS"), err, errlen) ||
        !apply_offload_knob(c, env_lookup(envp, "MMAPD_TEST_STREAM_OFFLOAD"), err, errlen))
        return CONFIG_ERROR;
    for (int i = 1; i < argc; i++) {
        char source[80];
        split_flag(argc, argv, &i, name, sizeof name, &value, err, errlen);
        snprintf(source, sizeof source, "--%s", name);
        if (!config_set(c, name, value, source, err, errlen))
            return CONFIG_ERROR;
    }
    if (!config_check(c, err, errlen))
        return CONFIG_ERROR;
    return c->check_config ? CONFIG_CHECK : CONFIG_RUN;
}
