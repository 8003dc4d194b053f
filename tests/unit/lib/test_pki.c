/* Unit tests for lib/pki: CA creation, leaf issuance with SANs and EKUs,
 * file modes, PEM round trips, verification (wrong CA, expired, not yet
 * valid, usage) and identities read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>

#include "lib/pki.h"

struct fixture {
    char dir[64];
    struct pki_cert *ca;
    struct pki_key *ca_key;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/strata-pki-XXXXXX");
    if (!mkdtemp(f->dir)) {
        return -1;
    }
    if (pki_ca_create("Strata test CA", 30, &f->ca, &f->ca_key) != 0) {
        return -1;
    }
    *state = f;
    return 0;
}

static void rm_dir(const char *dir)
{
    const char *names[] = {"ca.pem", "ca.key", "leaf.pem", "leaf.key"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pki_cert_free(f->ca);
    pki_key_free(f->ca_key);
    rm_dir(f->dir);
    free(f);
    return 0;
}

static const char *const node_dns[] = {"node1.strata.internal", "node1"};
static const char *const node_ips[] = {"10.0.0.1", "fd00::1"};

static struct pki_leaf_params node_params(void)
{
    struct pki_leaf_params p = {
        .common_name = "node1",
        .dns_names = node_dns,
        .dns_count = 2,
        .ip_addrs = node_ips,
        .ip_count = 2,
        .uri = "spiffe://strata/node/1",
        .usage = PKI_USAGE_BOTH,
        .days_valid = 10,
    };
    return p;
}

static void test_ca_fields(void **state)
{
    struct fixture *f = *state;
    assert_true(pki_cert_is_ca(f->ca));
    assert_string_equal(pki_cert_common_name(f->ca), "Strata test CA");
    assert_int_equal(pki_key_matches_cert(f->ca_key, f->ca), 0);
    time_t now = time(NULL);
    assert_true(pki_cert_not_before(f->ca) <= now);
    assert_true(pki_cert_not_after(f->ca) >= now + 29 * 86400);
    assert_true(pki_cert_not_after(f->ca) <= now + 31 * 86400);
    /* A self-signed CA verifies against itself. */
    char err[256];
    assert_int_equal(pki_cert_verify(f->ca, f->ca, 0, now, err, sizeof err), 0);
}

static void test_leaf_identities(void **state)
{
    struct fixture *f = *state;
    struct pki_leaf_params p = node_params();
    struct pki_cert *cert;
    struct pki_key *key;
    assert_int_equal(pki_leaf_issue(f->ca, f->ca_key, &p, &cert, &key), 0);
    assert_false(pki_cert_is_ca(cert));
    assert_string_equal(pki_cert_common_name(cert), "node1");
    size_t count;
    const char *const *dns = pki_cert_dns_names(cert, &count);
    assert_int_equal(count, 2);
    assert_string_equal(dns[0], "node1.strata.internal");
    assert_string_equal(dns[1], "node1");
    const char *const *ips = pki_cert_ip_addrs(cert, &count);
    assert_int_equal(count, 2);
    assert_string_equal(ips[0], "10.0.0.1");
    assert_string_equal(ips[1], "fd00::1");
    assert_string_equal(pki_cert_uri(cert), "spiffe://strata/node/1");
    assert_false(pki_cert_has_role(cert, PKI_ROLE_NODE));
    assert_string_equal(pki_cert_identity(cert), "node1.strata.internal");
    assert_int_equal(pki_cert_usage(cert), PKI_USAGE_BOTH);
    assert_int_equal(pki_key_matches_cert(key, cert), 0);
    assert_int_equal(pki_key_matches_cert(f->ca_key, cert), PKI_EKEYMISMATCH);

    assert_true(pki_cert_matches_name(cert, "NODE1.strata.internal"));
    assert_true(pki_cert_matches_name(cert, "10.0.0.1"));
    assert_true(pki_cert_matches_name(cert, "fd00:0::1"));
    assert_false(pki_cert_matches_name(cert, "10.0.0.2"));
    assert_false(pki_cert_matches_name(cert, "node2"));
    assert_false(pki_cert_matches_name(cert, "strata.internal"));

    char err[256];
    assert_int_equal(pki_cert_verify(f->ca, cert, PKI_USAGE_BOTH, time(NULL), err, sizeof err), 0);
    pki_cert_free(cert);
    pki_key_free(key);
}

static void test_roles(void **state)
{
    struct fixture *f = *state;
    struct pki_leaf_params p = {.common_name = "n1", .uri = PKI_ROLE_NODE, .usage = PKI_USAGE_BOTH,
                                .days_valid = 1};
    struct pki_cert *cert;
    struct pki_key *key;
    assert_int_equal(pki_leaf_issue(f->ca, f->ca_key, &p, &cert, &key), 0);
    assert_true(pki_cert_has_role(cert, PKI_ROLE_NODE));
    assert_false(pki_cert_has_role(cert, PKI_ROLE_OPERATOR));
    assert_false(pki_cert_has_role(cert, PKI_ROLE_AGENT));
    assert_false(pki_cert_has_role(cert, NULL));
    pki_cert_free(cert);
    pki_key_free(key);
}

static void test_identity_falls_back_to_cn(void **state)
{
    struct fixture *f = *state;
    struct pki_leaf_params p = {.common_name = "agent-7", .usage = PKI_USAGE_CLIENT, .days_valid = 1};
    struct pki_cert *cert;
    struct pki_key *key;
    assert_int_equal(pki_leaf_issue(f->ca, f->ca_key, &p, &cert, &key), 0);
    size_t count;
    (void)pki_cert_dns_names(cert, &count);
    assert_int_equal(count, 0);
    assert_null(pki_cert_uri(cert));
    assert_false(pki_cert_has_role(cert, PKI_ROLE_AGENT));
    assert_false(pki_cert_has_role(NULL, PKI_ROLE_AGENT));
    assert_string_equal(pki_cert_identity(cert), "agent-7");
    assert_int_equal(pki_cert_usage(cert), PKI_USAGE_CLIENT);
    char err[256];
    assert_int_equal(pki_cert_verify(f->ca, cert, PKI_USAGE_SERVER, time(NULL), err, sizeof err),
                     PKI_EUSAGE);
    assert_non_null(strstr(err, "agent-7"));
    assert_non_null(strstr(err, "serverAuth"));
    assert_int_equal(pki_cert_verify(f->ca, cert, PKI_USAGE_CLIENT, time(NULL), err, sizeof err), 0);
    pki_cert_free(cert);
    pki_key_free(key);
}

static void test_other_ca_fails(void **state)
{
    struct fixture *f = *state;
    struct pki_cert *other;
    struct pki_key *other_key;
    assert_int_equal(pki_ca_create("Other CA", 30, &other, &other_key), 0);
    struct pki_leaf_params p = node_params();
    struct pki_cert *cert;
    struct pki_key *key;
    assert_int_equal(pki_leaf_issue(other, other_key, &p, &cert, &key), 0);
    char err[256] = "";
    assert_int_equal(pki_cert_verify(f->ca, cert, PKI_USAGE_SERVER, time(NULL), err, sizeof err),
                     PKI_ESIGNATURE);
    assert_non_null(strstr(err, "not signed by CA \"Strata test CA\""));
    assert_int_equal(pki_cert_verify(other, cert, PKI_USAGE_SERVER, time(NULL), err, sizeof err), 0);
    /* A leaf cannot act as a CA, and the CA key must match the CA. */
    assert_int_equal(pki_cert_verify(cert, cert, 0, time(NULL), err, sizeof err), PKI_ENOTCA);
    struct pki_cert *c2;
    struct pki_key *k2;
    assert_int_equal(pki_leaf_issue(f->ca, other_key, &p, &c2, &k2), PKI_EKEYMISMATCH);
    assert_int_equal(pki_leaf_issue(cert, key, &p, &c2, &k2), PKI_ENOTCA);
    pki_cert_free(cert);
    pki_key_free(key);
    pki_cert_free(other);
    pki_key_free(other_key);
}

static void test_validity_window(void **state)
{
    struct fixture *f = *state;
    time_t now = time(NULL);
    struct pki_leaf_params p = node_params();
    p.not_before = now - 10 * 86400;
    p.not_after = now - 86400;
    struct pki_cert *expired, *future;
    struct pki_key *k1, *k2;
    assert_int_equal(pki_leaf_issue(f->ca, f->ca_key, &p, &expired, &k1), 0);
    assert_int_equal(pki_cert_not_after(expired), now - 86400);
    assert_int_equal(pki_cert_not_before(expired), now - 10 * 86400);
    p.not_before = now + 86400;
    p.not_after = now + 2 * 86400;
    assert_int_equal(pki_leaf_issue(f->ca, f->ca_key, &p, &future, &k2), 0);

    char err[256];
    assert_int_equal(pki_cert_verify(f->ca, expired, 0, now, err, sizeof err), PKI_EEXPIRED);
    assert_non_null(strstr(err, "expired"));
    assert_int_equal(pki_cert_verify(f->ca, future, 0, now, err, sizeof err), PKI_ENOTYETVALID);
    assert_non_null(strstr(err, "not valid before"));
    /* The same certificates are fine inside their windows. */
    assert_int_equal(pki_cert_verify(f->ca, expired, 0, now - 5 * 86400, err, sizeof err), 0);
    assert_int_equal(pki_cert_verify(f->ca, future, 0, now + 36 * 3600, err, sizeof err), 0);
    /* A date past 2049 is encoded as GeneralizedTime and read back. */
    p.not_before = now;
    p.not_after = 2556144000; /* 2051-01-01 */
    struct pki_cert *late;
    struct pki_key *k3;
    assert_int_equal(pki_leaf_issue(f->ca, f->ca_key, &p, &late, &k3), 0);
    assert_int_equal(pki_cert_not_after(late), 2556144000);
    pki_cert_free(late);
    pki_key_free(k3);
    pki_cert_free(expired);
    pki_cert_free(future);
    pki_key_free(k1);
    pki_key_free(k2);
}

static mode_t file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void test_files_and_modes(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    mode_t old = umask(0);
    int rv = pki_ca_create_files(f->dir, "File CA", 30, err, sizeof err);
    umask(old);
    assert_int_equal(rv, 0);
    char ca_pem[128], ca_key[128], leaf_pem[128], leaf_key[128];
    snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", f->dir);
    snprintf(ca_key, sizeof ca_key, "%s/ca.key", f->dir);
    snprintf(leaf_pem, sizeof leaf_pem, "%s/leaf.pem", f->dir);
    snprintf(leaf_key, sizeof leaf_key, "%s/leaf.key", f->dir);
    assert_int_equal(file_mode(ca_pem), 0644);
    assert_int_equal(file_mode(ca_key), 0600);

    struct pki_leaf_params p = node_params();
    assert_int_equal(pki_leaf_issue_files(ca_pem, ca_key, &p, leaf_pem, leaf_key, err, sizeof err), 0);
    assert_int_equal(file_mode(leaf_pem), 0644);
    assert_int_equal(file_mode(leaf_key), 0600);

    struct pki_cert *ca, *leaf;
    struct pki_key *key, *ckey;
    assert_int_equal(pki_cert_load(ca_pem, &ca), 0);
    assert_int_equal(pki_key_load(ca_key, &ckey), 0);
    assert_int_equal(pki_cert_load(leaf_pem, &leaf), 0);
    assert_int_equal(pki_key_load(leaf_key, &key), 0);
    assert_string_equal(pki_cert_common_name(ca), "File CA");
    assert_int_equal(pki_key_matches_cert(ckey, ca), 0);
    assert_int_equal(pki_key_matches_cert(key, leaf), 0);
    assert_int_equal(pki_cert_verify(ca, leaf, PKI_USAGE_BOTH, time(NULL), err, sizeof err), 0);
    assert_int_equal(pki_cert_verify(f->ca, leaf, 0, time(NULL), err, sizeof err), PKI_ESIGNATURE);

    /* Re-issuing replaces the files and keeps the key private. */
    assert_int_equal(chmod(leaf_key, 0640), 0);
    assert_int_equal(pki_leaf_issue_files(ca_pem, ca_key, &p, leaf_pem, leaf_key, err, sizeof err), 0);
    assert_int_equal(file_mode(leaf_key), 0600);

    /* Missing files are reported with the path. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/absent.pem", f->dir);
    assert_int_equal(pki_leaf_issue_files(missing, ca_key, &p, leaf_pem, leaf_key, err, sizeof err),
                     PKI_EIO);
    assert_non_null(strstr(err, "absent.pem"));
    pki_cert_free(ca);
    pki_cert_free(leaf);
    pki_key_free(key);
    pki_key_free(ckey);
}

static void test_pem_round_trip(void **state)
{
    struct fixture *f = *state;
    char *pem;
    size_t size;
    assert_int_equal(pki_cert_to_pem(f->ca, &pem, &size), 0);
    assert_int_equal(strlen(pem), size);
    assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE-----"));
    struct pki_cert *back;
    assert_int_equal(pki_cert_from_pem(pem, size, &back), 0);
    size_t a_size, b_size;
    const uint8_t *a = pki_cert_der(f->ca, &a_size);
    const uint8_t *b = pki_cert_der(back, &b_size);
    assert_int_equal(a_size, b_size);
    assert_memory_equal(a, b, a_size);
    pki_cert_free(back);
    free(pem);

    assert_int_equal(pki_key_to_pem(f->ca_key, &pem, &size), 0);
    assert_non_null(strstr(pem, "PRIVATE KEY-----"));
    struct pki_key *kback;
    assert_int_equal(pki_key_from_pem(pem, size, &kback), 0);
    assert_int_equal(pki_key_matches_cert(kback, f->ca), 0);
    pki_key_free(kback);
    free(pem);

    /* Garbage is refused, not crashed on. */
    const char junk[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert_int_equal(pki_cert_from_pem(junk, sizeof junk - 1, &back), PKI_EFORMAT);
    assert_int_equal(pki_key_from_pem(junk, sizeof junk - 1, &kback), PKI_EFORMAT);
    const uint8_t der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    assert_int_equal(pki_cert_from_der(der, sizeof der, &back), PKI_EFORMAT);
}

/* Issues a leaf of 'leaf_type' from a CA of 'ca_type' and checks it from
 * every side: verification, its key (also after a PEM round trip), and
 * enrolment of a joiner's public key of the same type. */
static void check_types(enum pki_key_type ca_type, enum pki_key_type leaf_type)
{
    struct pki_cert *ca, *leaf, *enrolled;
    struct pki_key *ca_key, *key, *joiner, *back;
    assert_int_equal(pki_ca_create_type("Typed CA", 30, ca_type, &ca, &ca_key), 0);
    assert_int_equal(pki_key_type(ca_key), ca_type);
    assert_int_equal(pki_key_matches_cert(ca_key, ca), 0);
    struct pki_leaf_params p = node_params();
    p.key_type = leaf_type;
    assert_int_equal(pki_leaf_issue(ca, ca_key, &p, &leaf, &key), 0);
    assert_int_equal(pki_key_type(key), leaf_type);
    char err[256];
    assert_int_equal(pki_cert_verify(ca, leaf, PKI_USAGE_BOTH, time(NULL), err, sizeof err), 0);
    assert_int_equal(pki_key_matches_cert(key, leaf), 0);
    assert_int_equal(pki_key_matches_cert(ca_key, leaf), PKI_EKEYMISMATCH);
    assert_string_equal(pki_cert_identity(leaf), "node1.strata.internal");

    char *pem;
    size_t size;
    assert_int_equal(pki_key_to_pem(key, &pem, &size), 0);
    assert_non_null(strstr(pem, leaf_type == PKI_KEY_P256 ? "-----BEGIN EC PRIVATE KEY-----"
                                                          : "-----BEGIN PRIVATE KEY-----"));
    if (leaf_type == PKI_KEY_ED25519) {
        /* RFC 8410's form, as OpenSSL writes it: PKCS#8 version 0, the
         * Ed25519 OID, the 32-byte private key, no public key. */
        static const uint8_t head[] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                       0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
        uint8_t der[256];
        int n = wc_KeyPemToDer((const unsigned char *)pem, (int)size, der, sizeof der, NULL);
        assert_true(n > 0);
        /* wolfSSL may strip the PKCS#8 wrapper when decoding PEM. */
        if (n == 48) {
            assert_memory_equal(der, head, sizeof head);
        } else {
            assert_int_equal(n, 34);
            assert_memory_equal(der, head + 14, 2);
        }
    }
    assert_int_equal(pki_key_from_pem(pem, size, &back), 0);
    assert_int_equal(pki_key_type(back), leaf_type);
    assert_int_equal(pki_key_matches_cert(back, leaf), 0);
    size_t a_size, b_size;
    const uint8_t *a = pki_key_der(key, &a_size);
    const uint8_t *b = pki_key_der(back, &b_size);
    assert_int_equal(a_size, b_size);
    assert_memory_equal(a, b, a_size);
    pki_key_free(back);
    free(pem);

    /* Enrolment: the joiner's own key, only its public half sent. */
    assert_int_equal(pki_key_generate_type(leaf_type, &joiner), 0);
    assert_int_equal(pki_key_public_pem(joiner, &pem, &size), 0);
    assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
    assert_int_equal(pki_leaf_issue_for_public(ca, ca_key, &p, pem, size, &enrolled), 0);
    assert_int_equal(pki_key_matches_cert(joiner, enrolled), 0);
    assert_int_equal(pki_key_matches_cert(key, enrolled), PKI_EKEYMISMATCH);
    assert_int_equal(pki_cert_verify(ca, enrolled, PKI_USAGE_BOTH, time(NULL), err, sizeof err), 0);
    free(pem);

    pki_cert_free(enrolled);
    pki_key_free(joiner);
    pki_cert_free(leaf);
    pki_key_free(key);
    pki_cert_free(ca);
    pki_key_free(ca_key);
}

/* New keys are Ed25519; P-256 keys are still made on request, loaded and
 * used; a CA of either type issues and verifies leaves of either type (a
 * cluster made before Ed25519 keeps its P-256 CA and gets Ed25519 leaves). */
static void test_key_types(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(pki_key_type(f->ca_key), PKI_KEY_ED25519);
    struct pki_key *k;
    assert_int_equal(pki_key_generate(&k), 0);
    assert_int_equal(pki_key_type(k), PKI_KEY_ED25519);
    pki_key_free(k);
    assert_string_equal(pki_key_type_name(PKI_KEY_P256), "P-256");
    assert_string_equal(pki_key_type_name(PKI_KEY_DEFAULT), "Ed25519");
    assert_int_equal(pki_key_generate_type((enum pki_key_type)7, &k), PKI_EINVAL);
    check_types(PKI_KEY_ED25519, PKI_KEY_ED25519);
    check_types(PKI_KEY_ED25519, PKI_KEY_P256);
    check_types(PKI_KEY_P256, PKI_KEY_ED25519);
    check_types(PKI_KEY_P256, PKI_KEY_P256);
}

/* A P-256 CA written by an older build (SEC1 "EC PRIVATE KEY", the only
 * form it wrote) still loads, signs Ed25519 leaves, and keeps the
 * fingerprint joiners pin. */
static void test_p256_ca_files_still_work(void **state)
{
    struct fixture *f = *state;
    struct pki_cert *ca;
    struct pki_key *ca_key;
    assert_int_equal(pki_ca_create_type("Old CA", 30, PKI_KEY_P256, &ca, &ca_key), 0);
    char ca_path[128], key_path[128], leaf_path[128], leaf_key_path[128];
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", f->dir);
    snprintf(key_path, sizeof key_path, "%s/ca.key", f->dir);
    snprintf(leaf_path, sizeof leaf_path, "%s/leaf.pem", f->dir);
    snprintf(leaf_key_path, sizeof leaf_key_path, "%s/leaf.key", f->dir);
    assert_int_equal(pki_cert_save(ca, ca_path), 0);
    assert_int_equal(pki_key_save(ca_key, key_path), 0);
    char fp_before[PKI_FINGERPRINT_HEX], fp_after[PKI_FINGERPRINT_HEX];
    assert_int_equal(pki_cert_fingerprint(ca, fp_before), 0);

    struct pki_leaf_params p = node_params();
    char err[256] = "";
    assert_int_equal(pki_leaf_issue_files(ca_path, key_path, &p, leaf_path, leaf_key_path, err, sizeof err), 0);
    struct pki_cert *loaded_ca, *leaf;
    struct pki_key *loaded_key, *leaf_key;
    assert_int_equal(pki_cert_load(ca_path, &loaded_ca), 0);
    assert_int_equal(pki_key_load(key_path, &loaded_key), 0);
    assert_int_equal(pki_key_type(loaded_key), PKI_KEY_P256);
    assert_int_equal(pki_cert_fingerprint(loaded_ca, fp_after), 0);
    assert_string_equal(fp_before, fp_after);
    assert_int_equal(pki_cert_load(leaf_path, &leaf), 0);
    assert_int_equal(pki_key_load(leaf_key_path, &leaf_key), 0);
    assert_int_equal(pki_key_type(leaf_key), PKI_KEY_ED25519);
    assert_int_equal(pki_key_matches_cert(leaf_key, leaf), 0);
    assert_int_equal(pki_cert_verify(loaded_ca, leaf, PKI_USAGE_BOTH, time(NULL), err, sizeof err), 0);
    /* Signed by that CA only. */
    assert_int_equal(pki_cert_verify(f->ca, leaf, 0, time(NULL), err, sizeof err), PKI_ESIGNATURE);
    pki_cert_free(leaf);
    pki_key_free(leaf_key);
    pki_cert_free(loaded_ca);
    pki_key_free(loaded_key);
    pki_cert_free(ca);
    pki_key_free(ca_key);
}

static void test_bad_params(void **state)
{
    struct fixture *f = *state;
    struct pki_cert *cert;
    struct pki_key *key;
    struct pki_leaf_params p = node_params();
    p.usage = 0;
    assert_int_equal(pki_leaf_issue(f->ca, f->ca_key, &p, &cert, &key), PKI_EINVAL);
    p = node_params();
    const char *bad_ip[] = {"10.0.0.300"};
    p.ip_addrs = bad_ip;
    p.ip_count = 1;
    assert_int_equal(pki_leaf_issue(f->ca, f->ca_key, &p, &cert, &key), PKI_EINVAL);
    p = node_params();
    p.common_name = "";
    assert_int_equal(pki_leaf_issue(f->ca, f->ca_key, &p, &cert, &key), PKI_EINVAL);
    p = node_params();
    p.not_before = 2000;
    p.not_after = 1000;
    assert_int_equal(pki_leaf_issue(f->ca, f->ca_key, &p, &cert, &key), PKI_EINVAL);
    assert_int_equal(pki_ca_create("CA", 0, &cert, &key), PKI_EINVAL);
    assert_string_equal(strata_strerror(PKI_EEXPIRED), "certificate has expired");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ca_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leaf_identities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_falls_back_to_cn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_ca_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validity_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pem_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_p256_ca_files_still_work, setup, teardown),
    };
    wolfSSL_Init();
    int rv = cmocka_run_group_tests(tests, NULL, NULL);
    wolfSSL_Cleanup();
    return rv;
}
