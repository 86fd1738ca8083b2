/* access_log.c - per-thread line buffers written to the log's descriptor. */
#include "metrics/access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct slot {
    pthread_mutex_t mu; /* its owner thread(s) and the flusher */
    char *buf;          /* ACCESS_LOG_BUFFER bytes, allocated when claimed */
    size_t len;
    _Atomic uint64_t lines;
    _Atomic uint64_t ids;
} __attribute__((aligned(64)));

struct access_log {
    enum access_format fmt;
    char path[PATH_MAX];      /* "" for stdout and stderr */
    _Atomic int fd;
    bool own_fd;
    bool whole_writes;        /* a regular file: one write(2) per buffer */
    pthread_key_t key;        /* the calling thread's slot */
    _Atomic unsigned claimed; /* slots handed out so far */
    unsigned nslots;          /* the last one is shared by threads beyond the others */
    uint64_t id_prefix;
    _Atomic uint64_t write_failures, dropped;
    struct slot slots[];
};

static bool open_file(const char *path, int *fd, bool *regular, char *err, size_t errlen)
{
    struct stat st;
    int d = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    if (d < 0 || fstat(d, &st) != 0) {
        snprintf(err, errlen, "--access-log %s: cannot open for append: %s", path,
                 strerror(errno));
        if (d >= 0)
            close(d);
        return false;
    }
    *fd = d;
    *regular = S_ISREG(st.st_mode);
    return true;
}

bool access_log_check(const char *dest, char *err, size_t errlen)
{
    if (strcmp(dest, "off") == 0 || strcmp(dest, "stdout") == 0 || strcmp(dest, "stderr") == 0)
        return true;
    int d = open(dest, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (d >= 0) {
        close(d);
        return true;
    }
    int e = errno;
    if (e == ENXIO) /* a FIFO nobody reads yet: a start waits for its reader */
        return true;
    if (e == ENOENT) { /* would be created: its directory must exist and be writable */
        char dir[4096];
        const char *slash = strrchr(dest, '/');
        size_t len = slash ? (size_t)(slash - dest) : 0;
        if (len >= sizeof dir)
            len = sizeof dir - 1;
        memcpy(dir, dest, len);
        dir[len] = '\0';
        const char *where = !slash ? "." : len == 0 ? "/" : dir;
        if (faccessat(AT_FDCWD, where, W_OK | X_OK, AT_EACCESS) == 0)
            return true;
        e = errno;
    }
    snprintf(err, errlen, "--access-log %s: cannot open for append: %s", dest, strerror(e));
    return false;
}

struct access_log *access_log_open(const char *dest, enum access_format fmt, unsigned threads,
                                   char *err, size_t errlen)
{
    unsigned n = threads + 1;
    struct access_log *l = calloc(1, sizeof *l + n * sizeof l->slots[0]);
    if (!l || pthread_key_create(&l->key, NULL) != 0) {
        snprintf(err, errlen, "out of memory for the access log");
        free(l);
        return NULL;
    }
    atomic_init(&l->fd, -1);
    l->fmt = fmt;
    l->nslots = n;
    for (unsigned i = 0; i < n; i++)
        pthread_mutex_init(&l->slots[i].mu, NULL);
    if (getrandom(&l->id_prefix, sizeof l->id_prefix, GRND_NONBLOCK) != sizeof l->id_prefix)
        l->id_prefix = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
    int fd = strcmp(dest, "stdout") == 0 ? STDOUT_FILENO
             : strcmp(dest, "stderr") == 0 ? STDERR_FILENO : -1;
    bool regular = false;
    if (fd < 0) {
        snprintf(l->path, sizeof l->path, "%s", dest);
        l->own_fd = true;
        if (!open_file(dest, &fd, &regular, err, errlen)) {
            access_log_close(l);
            return NULL;
        }
    } else {
        struct stat st;
        regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    }
    atomic_store(&l->fd, fd);
    l->whole_writes = regular;
    return l;
}

static size_t count_lines(const char *p, size_t n)
{
    size_t k = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
        k++;
    return k;
}

/* The length of the next piece to write: all of it to a regular file; else whole lines of
 * at most PIPE_BUF bytes (a line is shorter, access_line.h). */
static size_t piece(const struct access_log *l, const char *p, size_t n)
{
    if (l->whole_writes || n <= PIPE_BUF)
        return n;
    for (size_t k = PIPE_BUF; k > 0; k--)
        if (p[k - 1] == '\n')
            return k;
    return PIPE_BUF;
}

/* Writes a slot's buffer (its mutex held) and empties it; what cannot be written is dropped
 * and counted. */
static void write_out(struct access_log *l, struct slot *s)
{
    int fd = atomic_load_explicit(&l->fd, memory_order_acquire);
    const char *p = s->buf;
    size_t left = s->len;
    while (left) {
        ssize_t w = write(fd, p, piece(l, p, left));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            atomic_fetch_add_explicit(&l->write_failures, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&l->dropped, count_lines(p, left), memory_order_relaxed);
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    s->len = 0;
}

static struct slot *my_slot(struct access_log *l)
{
    struct slot *s = pthread_getspecific(l->key);
    if (s)
        return s;
    unsigned i = atomic_fetch_add_explicit(&l->claimed, 1, memory_order_relaxed);
    s = &l->slots[i < l->nslots ? i : l->nslots - 1];
    pthread_mutex_lock(&s->mu);
    if (!s->buf)
        s->buf = malloc(ACCESS_LOG_BUFFER);
    pthread_mutex_unlock(&s->mu);
    pthread_setspecific(l->key, s);
    return s;
}

void access_log_write(struct access_log *l, const struct access_entry *e)
{
    char line[ACCESS_LINE_MAX];
    size_t n = access_line_format(l->fmt, e, line);
    struct slot *s = my_slot(l);
    pthread_mutex_lock(&s->mu);
    atomic_store_explicit(&s->lines, atomic_load_explicit(&s->lines, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (!s->buf) { /* out of memory when claimed: counted as dropped */
        atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
    } else {
        if (s->len + n > ACCESS_LOG_BUFFER)
            write_out(l, s);
        memcpy(s->buf + s->len, line, n);
        s->len += n;
    }
    pthread_mutex_unlock(&s->mu);
}

void access_log_flush(struct access_log *l)
{
    if (!l)
        return;
    for (unsigned i = 0; i < l->nslots; i++) {
        struct slot *s = &l->slots[i];
        pthread_mutex_lock(&s->mu);
        if (s->len)
            write_out(l, s);
        pthread_mutex_unlock(&s->mu);
    }
}

bool access_log_reopen(struct access_log *l, char *err, size_t errlen)
{
    int fd;
    bool regular;
    if (!l || !l->own_fd)
        return true;
    if (!open_file(l->path, &fd, &regular, err, errlen))
        return false;
    /* Writers load the descriptor with their slot's mutex held: once every mutex has been
     * taken after the swap, nobody writes to the old one any more. What is buffered goes
     * to the new file. */
    int old = atomic_exchange_explicit(&l->fd, fd, memory_order_acq_rel);
    access_log_flush(l);
    close(old);
    return true;
}

void access_log_new_id(struct access_log *l, char out[ACCESS_LOG_ID_LEN])
{
    struct slot *s = my_slot(l);
    uint64_t n = atomic_fetch_add_explicit(&s->ids, 1, memory_order_relaxed);
    snprintf(out, ACCESS_LOG_ID_LEN, "%016llx-%x-%llx", (unsigned long long)l->id_prefix,
             (unsigned)(s - l->slots), (unsigned long long)n);
}

void access_log_counts(struct access_log *l, struct access_log_counts *out)
{
    memset(out, 0, sizeof *out);
    if (!l)
        return;
    for (unsigned i = 0; i < l->nslots; i++)
        out->lines += atomic_load_explicit(&l->slots[i].lines, memory_order_relaxed);
    out->write_failures = atomic_load_explicit(&l->write_failures, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&l->dropped, memory_order_relaxed);
}

void access_log_close(struct access_log *l)
{
    if (!l)
        return;
    int fd = atomic_load(&l->fd);
    if (fd >= 0)
        access_log_flush(l);
    if (l->own_fd && fd >= 0)
        close(fd);
    for (unsigned i = 0; i < l->nslots; i++) {
        pthread_mutex_destroy(&l->slots[i].mu);
        free(l->slots[i].buf);
    }
    pthread_key_delete(l->key);
    free(l);
}
