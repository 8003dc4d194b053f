/* A node's or operator's credentials as laid out in a PKI folder:
 *   DIR/ca.pem             the cluster CA certificate
 *   DIR/ca.key             its key (only where certificates are issued)
 *   DIR/NAME.pem, NAME.key a member's or client's certificate and key
 * and the TLS contexts built from them. */
#ifndef STRATA_APPLIANCE_PKISET_H
#define STRATA_APPLIANCE_PKISET_H

#include <stdbool.h>

#include "lib/pki.h"
#include "lib/tls.h"

struct pkiset {
    struct pki_cert *ca;
    struct pki_cert *cert;
    struct pki_key *key;
};

/* Loads DIR/ca.pem, DIR/NAME.pem and DIR/NAME.key; checks that the key
 * matches and the certificate chains to the CA. 'errmsg' says what failed. */
int pkiset_load(struct pkiset *set, const char *dir, const char *name, char *errmsg,
                size_t errmsg_size) STRATA_WARN_UNUSED;
void pkiset_destroy(struct pkiset *set);

/* A TLS context for 'role' with 'alpn' from the set's credentials. */
int pkiset_tls(const struct pkiset *set, enum tls_role role, const char *alpn, struct tls_ctx **ctx,
               char *errmsg, size_t errmsg_size) STRATA_WARN_UNUSED;

/* Issues DIR/NAME.pem and DIR/NAME.key from DIR/ca.{pem,key} with DNS SAN
 * NAME, the given IP SANs and the role URI 'role' (PKI_ROLE_*), for server
 * and client use. */
int pkiset_issue(const char *dir, const char *name, const char *role, const char *const *ips,
                 size_t ips_len, char *errmsg, size_t errmsg_size) STRATA_WARN_UNUSED;


#endif
