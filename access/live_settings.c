/* live_settings.c - reference-counted settings snapshots and the box that publishes them. */
#include "access/live_settings.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct live_settings_box {
    pthread_mutex_t lock;         /* guards `current` while a reference is taken */
    struct live_settings *current;
    _Atomic uint64_t generation;  /* current->generation, readable without the lock */
};

struct live_settings *live_settings_create(const char *token_file, bool metrics_auth,
                                           const struct cors_policy *cors, char *err,
                                           size_t errlen)
{
    struct live_settings *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    atomic_init(&s->refs, 1);
    s->metrics_auth = metrics_auth;
    s->cors = *cors;
    if (token_file && token_file[0]) {
        s->tokens = malloc(sizeof *s->tokens);
        if (!s->tokens)
            goto oom;
        if (!token_set_load(s->tokens, token_file, err, errlen)) {
            live_settings_release(s);
            return NULL;
        }
    }
    return s;
oom:
    snprintf(err, errlen, "out of memory for the settings");
    live_settings_release(s);
    return NULL;
}

void live_settings_release(struct live_settings *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    if (s->tokens)
        memset(s->tokens, 0, sizeof *s->tokens); /* no token left in freed memory */
    free(s->tokens);
    free(s);
}

struct live_settings_box *live_settings_box_create(struct live_settings *first)
{
    struct live_settings_box *b = calloc(1, sizeof *b);
    if (!b || pthread_mutex_init(&b->lock, NULL) != 0) {
        free(b);
        live_settings_release(first);
        return NULL;
    }
    first->generation = 1;
    b->current = first;
    atomic_init(&b->generation, 1);
    return b;
}

void live_settings_box_destroy(struct live_settings_box *b)
{
    if (!b)
        return;
    live_settings_release(b->current);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

void live_settings_publish(struct live_settings_box *b, struct live_settings *next)
{
    pthread_mutex_lock(&b->lock);
    struct live_settings *old = b->current;
    next->generation = old->generation + 1;
    b->current = next;
    atomic_store_explicit(&b->generation, next->generation, memory_order_release);
    pthread_mutex_unlock(&b->lock);
    live_settings_release(old);
}

struct live_settings *live_settings_acquire(struct live_settings_box *b)
{
    pthread_mutex_lock(&b->lock);
    struct live_settings *s = b->current;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&b->lock);
    return s;
}

const struct live_settings *live_settings_refresh(struct live_settings_box *b,
                                                  struct live_settings **cached)
{
    uint64_t now = atomic_load_explicit(&b->generation, memory_order_acquire);
    if (*cached && (*cached)->generation == now)
        return *cached;
    live_settings_release(*cached);
    *cached = live_settings_acquire(b);
    return *cached;
}
