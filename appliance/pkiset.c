/* Credentials from a PKI folder: see pkiset.h. */
#include "appliance/pkiset.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int pkiset_load(struct pkiset *set, const char *dir, const char *name, char *errmsg,
                size_t errmsg_size)
{
    char path[4096];
    int rc;
    memset(set, 0, sizeof *set);
    snprintf(path, sizeof path, "%s/ca.pem", dir);
    if ((rc = pki_cert_load(path, &set->ca)) != 0) {
        goto err;
    }
    snprintf(path, sizeof path, "%s/%s.pem", dir, name);
    if ((rc = pki_cert_load(path, &set->cert)) != 0) {
        goto err;
    }
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    if ((rc = pki_key_load(path, &set->key)) != 0) {
        goto err;
    }
    if ((rc = pki_key_matches_cert(set->key, set->cert)) != 0) {
        snprintf(path, sizeof path, "%s/%s.key does not match %s.pem", dir, name, name);
        goto err;
    }
    rc = pki_cert_verify(set->ca, set->cert, 0, time(NULL), errmsg, errmsg_size);
    if (rc != 0) {
        pkiset_destroy(set);
        return rc;
    }
    return 0;
err:
    snprintf(errmsg, errmsg_size, "%s: %s", path, strata_strerror(rc));
    pkiset_destroy(set);
    return rc;
}

void pkiset_destroy(struct pkiset *set)
{
    pki_cert_free(set->ca);
    pki_cert_free(set->cert);
    pki_key_free(set->key);
    memset(set, 0, sizeof *set);
}

int pkiset_tls(const struct pkiset *set, enum tls_role role, const char *alpn, struct tls_ctx **ctx,
               char *errmsg, size_t errmsg_size)
{
    struct tls_config cfg = {
        .role = role,
        .ca = set->ca,
        .cert = set->cert,
        .key = set->key,
        .alpn = alpn,
        .write_high_watermark = 8u << 20,
        .write_low_watermark = 2u << 20,
        .read_chunk_size = 65536,
    };
    return tls_ctx_create(&cfg, ctx, errmsg, errmsg_size);
}

int pkiset_issue(const char *dir, const char *name, const char *role, const char *const *ips,
                 size_t ips_len, char *errmsg, size_t errmsg_size)
{
    char ca[4096], cakey[4096], cert[4096], key[4096];
    const char *dns[1] = {name};
    struct pki_leaf_params p = {
        .common_name = name,
        .dns_names = dns,
        .dns_count = 1,
        .ip_addrs = ips,
        .ip_count = ips_len,
        .uri = role,
        .usage = PKI_USAGE_BOTH,
        .days_valid = 825,
    };
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    snprintf(cakey, sizeof cakey, "%s/ca.key", dir);
    snprintf(cert, sizeof cert, "%s/%s.pem", dir, name);
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    return pki_leaf_issue_files(ca, cakey, &p, cert, key, errmsg, errmsg_size);
}
