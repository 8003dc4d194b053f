/* The joiner's side of enrolment, shared by `stratad join` and
 * `strata-agent enroll`:
 *   1. make a key (Ed25519, lib/pki's default; it never leaves this machine);
 *   2. fetch the cluster CA with GET /enroll/ca over TLS that trusts nothing
 *      yet, and accept it only if its SHA-256 is the fingerprint the admin
 *      gave (so a man in the middle cannot substitute its own CA);
 *   3. POST /enroll with the join token over a connection verified against
 *      that CA (the token is never sent to an unverified server), with the
 *      public key; get the leaf certificate back;
 *   4. write DIR/ca.pem, DIR/NAME.pem and DIR/NAME.key (0600), NAME being
 *      the identity the token binds (the server's answer, checked against
 *      the certificate). */
#ifndef STRATA_APPLIANCE_JOIN_CLIENT_H
#define STRATA_APPLIANCE_JOIN_CLIENT_H

#include <stddef.h>

#include <jansson.h>

#include "appliance/join.h"
#include "lib/pki.h"

struct join_request {
    const char *url;         /* "https://IP:PORT" of any controller's API */
    const char *token;       /* the join token "sj_..." */
    const char *fingerprint; /* the CA's SHA-256 (pki_fingerprint_normalize() forms) */
    const char *pki_dir;     /* where the credentials are written (created 0700) */
    const char *address;     /* controllers: the node's IP literal; NULL for agents */
    enum join_kind kind;     /* what the joiner expects to become */
    unsigned timeout_ms;     /* per request; 0: 10 s */
};

/* Step 2 alone: the CA served at 'url' if its fingerprint is 'fingerprint'.
 * JOIN_EFINGERPRINT when it differs, JOIN_ECONNECT, JOIN_EPROTO. */
int join_fetch_ca(const char *url, const char *fingerprint, unsigned timeout_ms, struct pki_cert **ca,
                  char *errmsg, size_t errmsg_size) STRATA_WARN_UNUSED;

/* The whole enrolment. On success '*answer' (may be NULL) gets the
 * server's answer (kind, name, address, members...) and the files are
 * written; 'name' the bound identity. JOIN_EREFUSED with the server's
 * message in 'errmsg' (and '*http_status' set, may be NULL) when it said
 * no; JOIN_EINVAL when the answer's kind is not 'req->kind' or the
 * certificate does not match the key, the CA or the name. */
int join_client_enroll(const struct join_request *req, json_t **answer, int *http_status, char *errmsg,
                       size_t errmsg_size) STRATA_WARN_UNUSED;

#endif
