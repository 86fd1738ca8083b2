/* reload.c - SIGHUP: validate the new configuration whole, then swap it in at once. */
#include "server/reload.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/live_settings.h"
#include "access/tls.h"
#include "server/config_load.h"
#include "server/log.h"

static const char *const reloadable[] = {
    "auth-token-file", "metrics-auth", "cors-origin", "tls-cert", "tls-key",
    "tls-key-password-file", "tls-priorities", "tls-client-ca",
    "config", "check-config", /* the same argv and environment: never changed */
};

static bool is_tls_option(const char *name) { return strncmp(name, "tls-", 4) == 0; }

struct compare {
    const struct mmapd_config *running, *next;
    bool tls_kept; /* TLS stays on or off: its options are reloadable */
};

/* One line for each option that changed but needs a restart. */
static void log_ignored(const char *name, void *cls)
{
    const struct compare *c = cls;
    for (size_t i = 0; i < sizeof reloadable / sizeof reloadable[0]; i++)
        if (strcmp(name, reloadable[i]) == 0 && (c->tls_kept || !is_tls_option(name)))
            return;
    char was[4096], now[4096];
    config_format(c->running, name, was, sizeof was);
    config_format(c->next, name, now, sizeof now);
    if (strcmp(was, now) != 0)
        log_info("reload: needs a restart: %s changed from '%s' to '%s', ignored", name, was,
                 now);
}

/* The reloadable fields of `next` into `running`. */
static void take_reloadable(struct mmapd_config *running, const struct mmapd_config *next,
                            bool tls_kept)
{
    memcpy(running->auth_token_file, next->auth_token_file, sizeof running->auth_token_file);
    running->metrics_auth = next->metrics_auth;
    running->cors = next->cors;
    if (!tls_kept)
        return;
    memcpy(running->tls_cert, next->tls_cert, sizeof running->tls_cert);
    memcpy(running->tls_key, next->tls_key, sizeof running->tls_key);
    memcpy(running->tls_key_password_file, next->tls_key_password_file,
           sizeof running->tls_key_password_file);
    memcpy(running->tls_priorities, next->tls_priorities, sizeof running->tls_priorities);
    memcpy(running->tls_client_ca, next->tls_client_ca, sizeof running->tls_client_ca);
}

static uint64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool reload_run(struct server *s, struct mmapd_config *running, int argc, char *const argv[],
                char *const envp[], char *outcome, size_t outcomelen)
{
    char err[1024];
    struct mmapd_config *next = malloc(sizeof *next);
    struct live_settings *settings = NULL;
    struct tls_creds *creds = NULL;
    bool ok = false, tls_kept = false;
    if (!next) {
        snprintf(err, sizeof err, "out of memory for the configuration");
        goto done;
    }
    if (config_load(next, argc, argv, envp, err, sizeof err) != CONFIG_RUN)
        goto done;
    tls_kept = (next->tls_cert[0] != '\0') == (s->tls != NULL);
    if (!(settings = server_live_settings(next, err, sizeof err)))
        goto done;
    if (s->tls && tls_kept) {
        struct tls_settings ts = server_tls_settings(next);
        if (!(creds = tls_creds_prepare(&ts, err, sizeof err)))
            goto done;
    }
    /* everything checked: nothing below fails */
    struct compare cmp = {running, next, tls_kept};
    config_each_option(log_ignored, &cmp);
    uint64_t tokens = settings->tokens ? settings->tokens->n : 0;
    live_settings_publish(s->handlers.settings, settings);
    settings = NULL;
    if (creds)
        tls_swap(s->tls, creds);
    take_reloadable(running, next, tls_kept);
    snprintf(outcome, outcomelen, "reload: done: %llu token(s)%s%s",
             (unsigned long long)tokens, running->cors.enabled ? ", CORS on" : ", CORS off",
             creds ? ", new TLS credentials for new connections" : "");
    creds = NULL;
    ok = true;
done:
    if (!ok)
        snprintf(outcome, outcomelen, "reload failed, the running settings stay: %s", err);
    log_info("%s", outcome);
    metrics_config_reloaded(s->handlers.metrics, ok, unix_ms());
    live_settings_release(settings);
    tls_release(creds);
    free(next);
    return ok;
}
