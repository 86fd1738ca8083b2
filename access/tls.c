/* tls.c - mmapd's GnuTLS credentials and priorities, handed to each TLS session. */
#include "access/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { PEM_MAX = 1 << 20 }; /* a certificate chain, a key or a CA bundle */

struct tls_creds {
    _Atomic unsigned refs; /* the current slot's, and one per session set up with it */
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    bool require_client;
};

struct tls {
    pthread_mutex_t lock;     /* guards `current` while a reference is taken */
    struct tls_creds *current;
    gnutls_datum_t ticket_key;
    char *mhd_cert, *mhd_key, *mhd_password, *mhd_priorities; /* libmicrohttpd's copies */
};

/* The whole file as a NUL-terminated string; NULL with `err` set. */
static char *read_text(const char *path, const char *flag, size_t *len, char *err, size_t errlen)
{
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s %s: %s", flag, path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > PEM_MAX) {
        snprintf(err, errlen, "%s %s: not a regular file of at most %d bytes", flag, path,
                 PEM_MAX);
        goto done;
    }
    buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0) {
            snprintf(err, errlen, "%s %s: %s", flag, path, r < 0 ? strerror(errno) : "short read");
            free(buf);
            buf = NULL;
            goto done;
        }
        got += (size_t)r;
    }
    if (!buf) {
        snprintf(err, errlen, "%s %s: out of memory", flag, path);
        goto done;
    }
    buf[got] = '\0';
    *len = got;
done:
    if (fd >= 0)
        close(fd);
    return buf;
}

/* The password on the first line of `path`, without its line end. */
static char *read_password(const char *path, char *err, size_t errlen)
{
    size_t len;
    char *pw = read_text(path, "--tls-key-password-file", &len, err, errlen);
    if (pw)
        pw[strcspn(pw, "\r\n")] = '\0';
    return pw;
}

static void wipe_free(char *s)
{
    if (s) {
        gnutls_memset(s, 0, strlen(s));
        free(s);
    }
}

static void creds_free(struct tls_creds *c)
{
    if (!c)
        return;
    if (c->cred)
        gnutls_certificate_free_credentials(c->cred);
    if (c->prio)
        gnutls_priority_deinit(c->prio);
    free(c);
}

void tls_release(struct tls_creds *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        creds_free(c);
}

static bool set_pair(gnutls_certificate_credentials_t cred, const struct tls_settings *s,
                     char *cert, size_t cert_len, char *key, size_t key_len, const char *pw,
                     char *err, size_t errlen)
{
    gnutls_datum_t c = {(unsigned char *)cert, (unsigned)cert_len};
    gnutls_datum_t k = {(unsigned char *)key, (unsigned)key_len};
    int rc = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, pw, 0);
    if (rc >= 0)
        return true;
    if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
        snprintf(err, errlen, "--tls-key %s does not match the certificate in --tls-cert %s",
                 s->key, s->cert);
    else if (rc == GNUTLS_E_DECRYPTION_FAILED && pw)
        snprintf(err, errlen, "--tls-key %s: cannot decrypt it with the password in "
                 "--tls-key-password-file %s", s->key, s->password_file);
    else if (rc == GNUTLS_E_DECRYPTION_FAILED)
        snprintf(err, errlen, "--tls-key %s is encrypted: give its password with "
                 "--tls-key-password-file", s->key);
    else
        snprintf(err, errlen, "--tls-cert %s / --tls-key %s: %s (PEM expected)", s->cert,
                 s->key, gnutls_strerror(rc));
    return false;
}

static bool set_priorities(gnutls_priority_t *prio, const char *text, char *err, size_t errlen)
{
    const char *at = NULL;
    int rc = gnutls_priority_init(prio, text, &at);
    if (rc >= 0)
        return true;
    *prio = NULL;
    if (rc == GNUTLS_E_INVALID_REQUEST && at)
        snprintf(err, errlen, "--tls-priorities: GnuTLS cannot parse it at '%.60s'", at);
    else
        snprintf(err, errlen, "--tls-priorities: %s", gnutls_strerror(rc));
    return false;
}

/* Reads and checks the files of `s`. On success also returns the PEM texts and the password
 * in `pem` (cert, key, password) when `pem` is given, for libmicrohttpd. */
static struct tls_creds *creds_load(const struct tls_settings *s, char **pem, char *err,
                                    size_t errlen)
{
    size_t cert_len = 0, key_len = 0, ca_len = 0;
    char *cert = NULL, *key = NULL, *pw = NULL, *ca = NULL;
    struct tls_creds *c = calloc(1, sizeof *c);
    bool ok = false;
    if (!c) {
        snprintf(err, errlen, "out of memory for the TLS credentials");
        goto done;
    }
    atomic_init(&c->refs, 1);
    if (!(cert = read_text(s->cert, "--tls-cert", &cert_len, err, errlen)) ||
        !(key = read_text(s->key, "--tls-key", &key_len, err, errlen)) ||
        (s->password_file && !(pw = read_password(s->password_file, err, errlen))) ||
        (s->client_ca && !(ca = read_text(s->client_ca, "--tls-client-ca", &ca_len, err,
                                          errlen))))
        goto done;
    if (gnutls_certificate_allocate_credentials(&c->cred) < 0) {
        c->cred = NULL;
        snprintf(err, errlen, "out of memory for the TLS credentials");
        goto done;
    }
    if (!set_pair(c->cred, s, cert, cert_len, key, key_len, pw, err, errlen))
        goto done;
    if (ca) {
        gnutls_datum_t d = {(unsigned char *)ca, (unsigned)ca_len};
        int n = gnutls_certificate_set_x509_trust_mem(c->cred, &d, GNUTLS_X509_FMT_PEM);
        if (n <= 0) {
            snprintf(err, errlen, "--tls-client-ca %s: %s", s->client_ca,
                     n < 0 ? gnutls_strerror(n) : "no certificate in it");
            goto done;
        }
        c->require_client = true;
    }
    if (!set_priorities(&c->prio, s->priorities ? s->priorities : TLS_DEFAULT_PRIORITIES, err,
                        errlen))
        goto done;
    ok = true;
    if (pem) {
        pem[0] = cert;
        pem[1] = key;
        pem[2] = pw;
        cert = key = pw = NULL;
    }
done:
    free(cert);
    wipe_free(key);
    wipe_free(pw);
    free(ca);
    if (!ok) {
        creds_free(c);
        c = NULL;
    }
    return c;
}

struct tls *tls_create(const struct tls_settings *s, char *err, size_t errlen)
{
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errlen, "--tls-cert: this libmicrohttpd was built without TLS support");
        return NULL;
    }
    struct tls *t = calloc(1, sizeof *t);
    char *pem[3] = {NULL, NULL, NULL};
    if (!t || pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        snprintf(err, errlen, "out of memory for TLS");
        return NULL;
    }
    t->current = creds_load(s, pem, err, errlen);
    if (!t->current)
        goto fail;
    t->mhd_cert = pem[0];
    t->mhd_key = pem[1];
    t->mhd_password = pem[2];
    t->mhd_priorities = strdup(s->priorities ? s->priorities : TLS_DEFAULT_PRIORITIES);
    if (!t->mhd_priorities || gnutls_session_ticket_key_generate(&t->ticket_key) < 0) {
        snprintf(err, errlen, "out of memory for TLS");
        goto fail;
    }
    return t;
fail:
    tls_destroy(t);
    return NULL;
}

struct tls_creds *tls_creds_prepare(const struct tls_settings *s, char *err, size_t errlen)
{
    return creds_load(s, NULL, err, errlen);
}

void tls_swap(struct tls *t, struct tls_creds *next)
{
    pthread_mutex_lock(&t->lock);
    struct tls_creds *old = t->current;
    t->current = next;
    pthread_mutex_unlock(&t->lock);
    tls_release(old);
}

void tls_destroy(struct tls *t)
{
    if (!t)
        return;
    tls_release(t->current);
    if (t->ticket_key.data) {
        gnutls_memset(t->ticket_key.data, 0, t->ticket_key.size);
        gnutls_free(t->ticket_key.data);
    }
    free(t->mhd_cert);
    wipe_free(t->mhd_key);
    wipe_free(t->mhd_password);
    free(t->mhd_priorities);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

size_t tls_mhd_options(const struct tls *t, struct MHD_OptionItem *out, size_t room)
{
    size_t n = 0;
    if (room < 4)
        return 0;
    out[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, t->mhd_cert};
    out[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, t->mhd_key};
    if (t->mhd_password)
        out[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_KEY_PASSWORD, 0, t->mhd_password};
    out[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, t->mhd_priorities};
    return n;
}

bool tls_connection_started(struct tls *t, struct MHD_Connection *c, struct tls_creds **held)
{
    *held = NULL;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!t || !ci || !ci->tls_session)
        return true;
    gnutls_session_t session = ci->tls_session;
    pthread_mutex_lock(&t->lock);
    struct tls_creds *cr = t->current;
    atomic_fetch_add(&cr->refs, 1);
    pthread_mutex_unlock(&t->lock);
    *held = cr; /* from here on the session may point at cr */
    if (gnutls_priority_set(session, cr->prio) < 0 ||
        gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cr->cred) < 0)
        return false;
    /* without tickets the session still works, with a full handshake every time */
    (void)gnutls_session_ticket_enable_server(session, &t->ticket_key);
    if (cr->require_client) /* asked for in the handshake, checked by tls_client_verify() */
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
    return true;
}

enum tls_client tls_client_verify(const struct tls_creds *held, struct MHD_Connection *c)
{
    if (!held || !held->require_client)
        return TLS_CLIENT_OK;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return TLS_CLIENT_NONE;
    gnutls_session_t session = ci->tls_session;
    unsigned n = 0;
    if (!gnutls_certificate_get_peers(session, &n) || n == 0)
        return TLS_CLIENT_NONE;
    unsigned status = 0;
    /* the chain against the CAs of --tls-client-ca, for client authentication */
    gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
                                     .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT};
    if (gnutls_certificate_verify_peers(session, &purpose, 1, &status) < 0 || status != 0)
        return TLS_CLIENT_UNTRUSTED;
    return TLS_CLIENT_OK;
}

const char *tls_connection_version(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return NULL;
    return gnutls_protocol_get_name(gnutls_protocol_get_version(ci->tls_session));
}
