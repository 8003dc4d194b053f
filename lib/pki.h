/* The cluster's public-key infrastructure: Ed25519 keys (ECDSA P-256 keys of
 * clusters made before Ed25519 was the default still load, sign and verify;
 * both kinds interoperate in one cluster), the self-signed
 * cluster CA created at bootstrap, and the leaf certificates it issues to
 * nodes and agents (a common name, DNS/IP/URI subject alternative names, and
 * the serverAuth/clientAuth extended key usages). Certificates and keys move
 * as PEM, in memory or in files; private keys are only ever written with mode
 * 0600. Verification here is the offline check ("does this certificate chain
 * to this CA, is it in its validity period, may it be used as a server or
 * client"); lib/tls.h does the same checks during handshakes through wolfSSL
 * and reads peer identities with pki_cert_from_der(). Built on wolfCrypt. */
#ifndef STRATA_PKI_H
#define STRATA_PKI_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/err.h"

#define PKI_ERRORS(X)                                                            \
    X(PKI_EINVAL, -10201, "invalid PKI argument")                                \
    X(PKI_ENOMEM, -10202, "out of memory in PKI")                                \
    X(PKI_ERANDOM, -10203, "random number generator failed")                     \
    X(PKI_EKEYGEN, -10204, "key generation failed")                              \
    X(PKI_ECERTGEN, -10205, "certificate generation or signing failed")          \
    X(PKI_EFORMAT, -10206, "malformed PEM or DER certificate or key")            \
    X(PKI_EIO, -10207, "certificate or key file I/O failed")                     \
    X(PKI_ESIGNATURE, -10208, "certificate is not signed by the given CA")       \
    X(PKI_EEXPIRED, -10209, "certificate has expired")                           \
    X(PKI_ENOTYETVALID, -10210, "certificate is not yet valid")                  \
    X(PKI_EUSAGE, -10211, "certificate lacks the required extended key usage")   \
    X(PKI_ENOTCA, -10212, "certificate is not a CA certificate")                 \
    X(PKI_ETOOBIG, -10213, "too many or too long names for a certificate")       \
    X(PKI_EKEYMISMATCH, -10214, "private key does not match the certificate")

enum pki_err { PKI_ERRORS(STRATA_ERR_ENUM) };

const char *pki_strerror(int code);

/* Extended key usages a leaf certificate carries (a bit set). */
enum pki_usage {
    PKI_USAGE_SERVER = 1 << 0, /* id-kp-serverAuth */
    PKI_USAGE_CLIENT = 1 << 1, /* id-kp-clientAuth */
    PKI_USAGE_BOTH = PKI_USAGE_SERVER | PKI_USAGE_CLIENT,
};

/* Caps on what a leaf may carry; they keep the SAN extension well inside
 * wolfSSL's fixed-size encoding buffer. */
#define PKI_NAME_MAX 64  /* bytes in a common name, excluding the NUL */
#define PKI_DNS_MAX 253  /* bytes in one DNS name */
#define PKI_URI_MAX 255  /* bytes in the URI SAN */
#define PKI_SANS_MAX 32  /* DNS names plus IP addresses */
#define PKI_IP_STRLEN 46 /* INET6_ADDRSTRLEN */

/* Key types. New keys are Ed25519 unless asked otherwise: a TLS 1.3
 * handshake signs once and verifies twice per side, and with Debian's
 * wolfSSL an Ed25519 signature costs 31 us against P-256's 205 us, a
 * verification 88 us against 141 us (a known key) to several hundred (a
 * peer's fresh key). P-256 keys and certificates are loaded, used and
 * verified as before. */
enum pki_key_type {
    PKI_KEY_DEFAULT = 0, /* PKI_KEY_ED25519 */
    PKI_KEY_ED25519,
    PKI_KEY_P256,
};

/* A private key (with its public half), Ed25519 or ECDSA P-256. Opaque. */
struct pki_key;
/* A parsed X.509 certificate: its DER and the fields Strata reads. Immutable
 * once created. Opaque. */
struct pki_cert;

/* What a leaf certificate says. 'not_before'/'not_after' of 0 mean "one hour
 * ago" and "'days_valid' days from now"; explicit values (seconds since the
 * epoch) exist so tests can issue expired and not-yet-valid certificates. */
struct pki_leaf_params {
    const char *common_name;       /* required, <= PKI_NAME_MAX bytes */
    const char *const *dns_names;  /* 'dns_count' DNS SANs */
    size_t dns_count;
    const char *const *ip_addrs;   /* 'ip_count' IPv4/IPv6 SANs, as text */
    size_t ip_count;
    const char *uri;               /* optional URI SAN, NULL for none */
    unsigned usage;                /* PKI_USAGE_* bits, at least one */
    unsigned days_valid;           /* used when not_after == 0 */
    time_t not_before;
    time_t not_after;
    enum pki_key_type key_type;    /* pki_leaf_issue(): the new key's type */
};

/* ---- keys ---- */

/* Generates a fresh key of the default type (Ed25519) into '*key'. */
int pki_key_generate(struct pki_key **key) STRATA_WARN_UNUSED;
/* Generates a fresh key of 'type' into '*key'. */
int pki_key_generate_type(enum pki_key_type type, struct pki_key **key) STRATA_WARN_UNUSED;
/* The type of 'key' (PKI_KEY_ED25519 or PKI_KEY_P256, never DEFAULT). */
enum pki_key_type pki_key_type(const struct pki_key *key);
/* "Ed25519" or "P-256". */
const char *pki_key_type_name(enum pki_key_type type);
/* Parses a PEM P-256 "EC PRIVATE KEY" (SEC1), or an unencrypted PKCS#8
 * "PRIVATE KEY" holding a P-256 or Ed25519 key, of 'size' bytes; the buffer
 * need not be NUL-terminated. Other curves and algorithms: PKI_EFORMAT. */
int pki_key_from_pem(const char *pem, size_t size, struct pki_key **key) STRATA_WARN_UNUSED;
/* Reads and parses the PEM key file at 'path'. */
int pki_key_load(const char *path, struct pki_key **key) STRATA_WARN_UNUSED;
/* Encodes 'key' as PEM into a malloc'd NUL-terminated string '*pem' of
 * '*size' bytes (excluding the NUL); the caller frees it. */
int pki_key_to_pem(const struct pki_key *key, char **pem, size_t *size) STRATA_WARN_UNUSED;
/* Writes 'key' as PEM to 'path' with mode 0600: a temporary file in the same
 * directory is created 0600, written, fsync'd and renamed over 'path', so the
 * key is never readable with a wider mode, nor visible half-written. */
int pki_key_save(const struct pki_key *key, const char *path) STRATA_WARN_UNUSED;
/* The DER encoding of 'key' (SEC1 for P-256, PKCS#8 for Ed25519; owned by
 * 'key'), for wolfSSL. */
const uint8_t *pki_key_der(const struct pki_key *key, size_t *size);
void pki_key_free(struct pki_key *key);

/* ---- certificates ---- */

/* Parses the first PEM certificate in 'pem' ('size' bytes). */
int pki_cert_from_pem(const char *pem, size_t size, struct pki_cert **cert) STRATA_WARN_UNUSED;
/* Parses a DER certificate of 'size' bytes (e.g. a TLS peer's). */
int pki_cert_from_der(const uint8_t *der, size_t size, struct pki_cert **cert) STRATA_WARN_UNUSED;
/* Reads and parses the PEM certificate file at 'path'. */
int pki_cert_load(const char *path, struct pki_cert **cert) STRATA_WARN_UNUSED;
/* Encodes 'cert' as PEM into a malloc'd NUL-terminated '*pem' ('*size'
 * bytes excluding the NUL); the caller frees it. */
int pki_cert_to_pem(const struct pki_cert *cert, char **pem, size_t *size) STRATA_WARN_UNUSED;
/* Writes 'cert' as PEM to 'path' with mode 0644, atomically (temporary file,
 * fsync, rename). */
int pki_cert_save(const struct pki_cert *cert, const char *path) STRATA_WARN_UNUSED;
/* The DER encoding of 'cert' (owned by 'cert'). */
const uint8_t *pki_cert_der(const struct pki_cert *cert, size_t *size);
void pki_cert_free(struct pki_cert *cert);

/* ---- reading a certificate ---- */

/* The subject common name ("" when absent). */
const char *pki_cert_common_name(const struct pki_cert *cert);
/* The DNS SANs in certificate order; '*count' receives their number. */
const char *const *pki_cert_dns_names(const struct pki_cert *cert, size_t *count);
/* The IP SANs as text (inet_ntop form) in certificate order. */
const char *const *pki_cert_ip_addrs(const struct pki_cert *cert, size_t *count);
/* The first URI SAN, or NULL. */
const char *pki_cert_uri(const struct pki_cert *cert);
/* The identity Strata authorizes by: the first DNS SAN, else the CN. */
const char *pki_cert_identity(const struct pki_cert *cert);
/* PKI_USAGE_* bits from the extended key usage extension (0 when absent). */
unsigned pki_cert_usage(const struct pki_cert *cert);
/* 1 for a CA certificate (basicConstraints CA:TRUE), else 0. */
int pki_cert_is_ca(const struct pki_cert *cert);
/* The validity period, seconds since the epoch. */
time_t pki_cert_not_before(const struct pki_cert *cert);
time_t pki_cert_not_after(const struct pki_cert *cert);
/* 1 when 'name' is one of the certificate's SANs: an IPv4/IPv6 literal is
 * compared with the IP SANs (as addresses), anything else with the DNS SANs
 * (ASCII case-insensitive, exact; no wildcards). The CN is not consulted. */
int pki_cert_matches_name(const struct pki_cert *cert, const char *name);

/* ---- issuing ---- */

/* Creates a self-signed cluster CA named 'common_name' valid for
 * 'days_valid' days (from one hour ago): basicConstraints CA:TRUE,
 * keyUsage keyCertSign+cRLSign+digitalSignature, a subject key identifier.
 * Returns the certificate and its new private key (default type). */
int pki_ca_create(const char *common_name, unsigned days_valid, struct pki_cert **cert,
                  struct pki_key **key) STRATA_WARN_UNUSED;
/* pki_ca_create() with a key of 'type'. */
int pki_ca_create_type(const char *common_name, unsigned days_valid, enum pki_key_type type,
                       struct pki_cert **cert, struct pki_key **key) STRATA_WARN_UNUSED;
/* Creates the CA as above and writes 'dir'/ca.pem (0644) and 'dir'/ca.key
 * (0600); 'dir' must exist. Existing files are replaced atomically. On
 * failure a message is left in 'errmsg' ('errmsg_size' bytes, may be 0). */
int pki_ca_create_files(const char *dir, const char *common_name, unsigned days_valid,
                        char *errmsg, size_t errmsg_size) STRATA_WARN_UNUSED;
/* Issues a leaf certificate described by 'params' for a new key of
 * 'params->key_type', signed by 'ca' with 'ca_key' (either type signs
 * either): keyUsage digitalSignature, the requested EKUs, SANs,
 * authority and subject key identifiers, a random 16-byte serial. */
int pki_leaf_issue(const struct pki_cert *ca, const struct pki_key *ca_key,
                   const struct pki_leaf_params *params, struct pki_cert **cert,
                   struct pki_key **key) STRATA_WARN_UNUSED;
/* pki_leaf_issue() from the CA files at 'ca_cert_path'/'ca_key_path',
 * writing the leaf to 'cert_path' (0644) and its key to 'key_path' (0600). */
int pki_leaf_issue_files(const char *ca_cert_path, const char *ca_key_path,
                         const struct pki_leaf_params *params, const char *cert_path,
                         const char *key_path, char *errmsg, size_t errmsg_size) STRATA_WARN_UNUSED;

/* ---- enrolment ----
 * A joining node or agent makes its own key and sends only the public half;
 * the cluster CA signs a leaf for it. The CA certificate is pinned by the
 * SHA-256 of its DER ("fingerprint"), which the admin hands to the joiner. */

#define PKI_FINGERPRINT_HEX 65 /* SHA-256 in lower-case hex with NUL */

/* The lower-case hex SHA-256 of 'cert''s DER into 'hex'. 0 or PKI_EINVAL. */
int pki_cert_fingerprint(const struct pki_cert *cert, char hex[PKI_FINGERPRINT_HEX]) STRATA_WARN_UNUSED;
/* Normalizes a fingerprint as people write it: an optional "sha256:" or
 * "SHA256:" prefix, hex digits in either case, optionally separated by
 * ':'. Writes the 64 lower-case digits into 'hex'. PKI_EINVAL unless
 * exactly 32 bytes are given. */
int pki_fingerprint_normalize(const char *text, char hex[PKI_FINGERPRINT_HEX]) STRATA_WARN_UNUSED;
/* The public half of 'key' as a PEM "PUBLIC KEY" (SubjectPublicKeyInfo)
 * into a malloc'd NUL-terminated '*pem' of '*size' bytes. */
int pki_key_public_pem(const struct pki_key *key, char **pem, size_t *size) STRATA_WARN_UNUSED;
/* As pki_leaf_issue(), for the P-256 or Ed25519 public key given as PEM
 * "PUBLIC KEY" 'pub_pem' ('pub_size' bytes, need not be NUL-terminated)
 * instead of a new key. PKI_EFORMAT for any other key. */
int pki_leaf_issue_for_public(const struct pki_cert *ca, const struct pki_key *ca_key,
                              const struct pki_leaf_params *params, const char *pub_pem,
                              size_t pub_size, struct pki_cert **cert) STRATA_WARN_UNUSED;

/* ---- roles ----
 * What a Strata certificate may do is its URI SAN. The store's raft and
 * client ports admit nodes (and, on the client port, operators); agents on
 * compute nodes get their own role and reach only the XMPP port. */
#define PKI_ROLE_NODE "urn:strata:role:node"
#define PKI_ROLE_OPERATOR "urn:strata:role:operator"
#define PKI_ROLE_AGENT "urn:strata:role:agent"

/* 1 when 'cert' (may be NULL) carries the role URI 'role', else 0. */
int pki_cert_has_role(const struct pki_cert *cert, const char *role);

/* ---- checking ---- */

/* Checks that 'cert' is signed by 'ca' (which must be a CA certificate), is
 * within its validity period at 'now' (seconds since the epoch; pass
 * time(NULL)), and carries every usage bit in 'usage' (0: no EKU check).
 * Returns 0 or PKI_ESIGNATURE, PKI_EEXPIRED, PKI_ENOTYETVALID, PKI_EUSAGE,
 * PKI_ENOTCA; 'errmsg' receives a sentence naming the certificate. */
int pki_cert_verify(const struct pki_cert *ca, const struct pki_cert *cert, unsigned usage,
                    time_t now, char *errmsg, size_t errmsg_size) STRATA_WARN_UNUSED;
/* 0 when 'key' is the private half of 'cert''s public key, else
 * PKI_EKEYMISMATCH. */
int pki_key_matches_cert(const struct pki_key *key, const struct pki_cert *cert) STRATA_WARN_UNUSED;

#endif
