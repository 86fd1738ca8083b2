/* tls.h - HTTPS: the server's certificate and key, the protocols and suites it accepts,
 * session tickets and client certificates, set up on each TLS connection.
 *
 * tls_create() reads the PEM files named by the settings (a certificate chain, its key,
 * optionally the key's password and a client CA bundle) and checks, before anything
 * listens, that libmicrohttpd was built with TLS, that every file is readable and parses,
 * that the key matches the certificate and that GnuTLS accepts the priority string; it
 * returns NULL with one line in `err` otherwise.
 *
 * libmicrohttpd makes each connection's GnuTLS session; tls_connection_started() (from the
 * connection-started notification, before any byte of the handshake) then gives it mmapd's
 * credentials and priorities, turns session tickets on (TLS 1.2 and 1.3 resumption, one key
 * per process, rotated by GnuTLS) and, with a client CA, asks the client for a certificate
 * that this CA signed; tls_client_verify() then tells whether the client gave one (the
 * router answers 403 without). It holds a reference to the credentials the session uses, to
 * hand back with tls_release() once the connection is closed (libmicrohttpd frees the session
 * first): credentials live as long as the last session made with them, so that new ones can
 * replace them for new handshakes while old sessions go on.
 *
 * TLS_DEFAULT_PRIORITIES: TLS 1.3 and 1.2 only, AEAD suites only (AES-GCM, ChaCha20-Poly1305),
 * ECDHE key exchange in TLS 1.2; GnuTLS's "NORMAL", libmicrohttpd's default, still accepts
 * TLS 1.0, 1.1 and CBC suites.
 */
#ifndef MMAPD_TLS_H
#define MMAPD_TLS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#define TLS_DEFAULT_PRIORITIES                                                                \
    "SECURE:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"        \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:%SERVER_PRECEDENCE"

struct tls_settings {
    const char *cert;          /* PEM: the certificate, then its chain */
    const char *key;           /* PEM: its private key, encrypted when password_file is set */
    const char *password_file; /* the key's password on its first line, or NULL */
    const char *priorities;    /* a GnuTLS priority string, or NULL for the default */
    const char *client_ca;     /* PEM: the CAs a client certificate must come from, or NULL */
};

struct tls;
struct tls_creds;

struct tls *tls_create(const struct tls_settings *s, char *err, size_t errlen);
void tls_destroy(struct tls *t);

/* Certificate rotation in two steps, so that a reload can check everything before it
 * changes anything: tls_creds_prepare() reads and checks the files of `s` as tls_create()
 * does (one line in `err`, NULL, on failure) and returns credentials no session uses yet
 * (drop them unused with tls_release()); tls_swap() makes them the ones new sessions get,
 * under tls's lock, and drops the base reference of the previous ones, which live on until
 * the last connection made with them closes. The client CA and the priorities come with the
 * credentials, so they change for new connections too. */
struct tls_creds *tls_creds_prepare(const struct tls_settings *s, char *err, size_t errlen);
void tls_swap(struct tls *t, struct tls_creds *next);

/* libmicrohttpd's own TLS options (it insists on a certificate of its own at start; each
 * session then gets mmapd's): fills up to `room` items, returns how many. */
size_t tls_mhd_options(const struct tls *t, struct MHD_OptionItem *out, size_t room);

/* Sets up the session of connection `c` (nothing for a connection without TLS, or a NULL
 * `t`) and stores in `*held` the reference to release when it closes (NULL: none). False
 * when the setup failed (out of memory): the caller must close the connection, which would
 * otherwise go on with libmicrohttpd's settings, without the client certificate check. */
bool tls_connection_started(struct tls *t, struct MHD_Connection *c, struct tls_creds **held);
void tls_release(struct tls_creds *c);

enum tls_client {
    TLS_CLIENT_OK,        /* verified, or no client certificate asked for */
    TLS_CLIENT_NONE,      /* asked for, none given */
    TLS_CLIENT_UNTRUSTED, /* given, but not signed by a CA of --tls-client-ca (or expired,
                             revoked, not for client authentication) */
};

/* The client certificate of connection `c`, whose session holds `held` (NULL: no TLS). */
enum tls_client tls_client_verify(const struct tls_creds *held, struct MHD_Connection *c);

/* The protocol version of connection `c` ("TLS1.3"), or NULL without TLS. */
const char *tls_connection_version(struct MHD_Connection *c);

#endif
