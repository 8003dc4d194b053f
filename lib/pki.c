/* The cluster PKI on wolfCrypt: Ed25519 and P-256 key generation, CA and leaf issuance
 * (the SAN extension and the validity dates are DER we encode here and hand
 * to wolfSSL's Cert as raw bytes), PEM/DER conversion, atomic 0600/0644 file
 * writes, and parsing certificates into the few fields Strata reads. */
#include "lib/pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

STRATA_ERR_DEFINE(pki, PKI_ERRORS)

#define PKI_DER_MAX 4096       /* certificates we issue are well below this */
#define PKI_KEY_DER_MAX 256    /* SEC1 P-256 or PKCS#8 Ed25519 private key with public half */
#define PKI_FILE_MAX (1 << 20) /* PEM files larger than this are refused */
#define PKI_SERIAL_SIZE 16

/* Invariant: 'type' is PKI_KEY_P256 or PKI_KEY_ED25519 and names the one
 * of 'ecc'/'ed' that is initialised; 'der' is its private key encoding. */
struct pki_key {
    enum pki_key_type type;
    ecc_key ecc;
    ed25519_key ed;
    uint8_t der[PKI_KEY_DER_MAX];
    size_t der_size;
};

/* Invariant: dns/ip arrays hold 'dns_count'/'ip_count' NUL-terminated
 * strings owned by the cert; 'identity' points at dns[0] or 'cn'. */
struct pki_cert {
    uint8_t *der;
    size_t der_size;
    char cn[PKI_NAME_MAX + 1];
    char **dns;
    size_t dns_count;
    char **ip;
    size_t ip_count;
    char *uri;
    unsigned usage;
    int is_ca;
    time_t not_before;
    time_t not_after;
};

static void errmsg_set(char *errmsg, size_t errmsg_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errmsg_set(char *errmsg, size_t errmsg_size, const char *fmt, ...)
{
    if (!errmsg || errmsg_size == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, errmsg_size, fmt, ap);
    va_end(ap);
}

/* ---- files ---- */

static int file_read_all(const char *path, char **data, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return PKI_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 0 || st.st_size > PKI_FILE_MAX) {
        close(fd);
        return PKI_EIO;
    }
    size_t want = (size_t)st.st_size;
    char *p = malloc(want + 1);
    if (!p) {
        close(fd);
        return PKI_ENOMEM;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t n = read(fd, p + got, want - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            free(p);
            close(fd);
            return PKI_EIO;
        }
        got += (size_t)n;
    }
    close(fd);
    p[got] = '\0';
    *data = p;
    *size = got;
    return 0;
}

/* Writes 'size' bytes to 'path' through "path.tmp.PID" created with 'mode'
 * (so the data never exists under a wider mode), fsync, rename, and an fsync
 * of the directory so the rename is durable. */
static int file_write_atomic(const char *path, const void *data, size_t size, mode_t mode)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        return PKI_EINVAL;
    }
    (void)unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        return PKI_EIO;
    }
    /* The umask may have narrowed 'mode'; never widen beyond it, but make the
     * final mode exact so a 0644 certificate is readable as documented. */
    if (fchmod(fd, mode) != 0) {
        goto err_fd;
    }
    const uint8_t *p = data;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, p + done, size - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            goto err_fd;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0) {
        goto err_fd;
    }
    if (close(fd) != 0) {
        (void)unlink(tmp);
        return PKI_EIO;
    }
    if (rename(tmp, path) != 0) {
        (void)unlink(tmp);
        return PKI_EIO;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) {
        slash[1] = '\0';
    } else if (slash) {
        *slash = '\0';
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;

err_fd:
    close(fd);
    (void)unlink(tmp);
    return PKI_EIO;
}

/* ---- keys ---- */

/* Encodes the private key: SEC1 for P-256 (as before Ed25519 existed),
 * PKCS#8 with the public key for Ed25519 (RFC 8410). */
static int key_encode_der(struct pki_key *key)
{
    int r = key->type == PKI_KEY_ED25519
                ? wc_Ed25519KeyToDer(&key->ed, key->der, sizeof key->der)
                : wc_EccPrivateKeyToDer(&key->ecc, key->der, sizeof key->der);
    if (r <= 0) {
        return PKI_EKEYGEN;
    }
    key->der_size = (size_t)r;
    return 0;
}

/* wolfCrypt's key type constant and key object for 'key'. */
static int key_wc_type(const struct pki_key *key)
{
    return key->type == PKI_KEY_ED25519 ? ED25519_TYPE : ECC_TYPE;
}

static void *key_wc(const struct pki_key *key)
{
    return key->type == PKI_KEY_ED25519 ? (void *)&key->ed : (void *)&key->ecc;
}

static struct pki_key *key_alloc(enum pki_key_type type)
{
    struct pki_key *key = calloc(1, sizeof *key);
    if (!key) {
        return NULL;
    }
    key->type = type == PKI_KEY_DEFAULT ? PKI_KEY_ED25519 : type;
    int r = key->type == PKI_KEY_ED25519 ? wc_ed25519_init(&key->ed) : wc_ecc_init(&key->ecc);
    if (r != 0) {
        free(key);
        return NULL;
    }
    return key;
}

void pki_key_free(struct pki_key *key)
{
    if (!key) {
        return;
    }
    if (key->type == PKI_KEY_ED25519) {
        wc_ed25519_free(&key->ed);
    } else {
        wc_ecc_free(&key->ecc);
    }
    explicit_bzero(key->der, sizeof key->der);
    free(key);
}

enum pki_key_type pki_key_type(const struct pki_key *key)
{
    return key->type;
}

const char *pki_key_type_name(enum pki_key_type type)
{
    switch (type) {
    case PKI_KEY_DEFAULT:
    case PKI_KEY_ED25519:
        return "Ed25519";
    case PKI_KEY_P256:
        return "P-256";
    }
    return "?";
}

int pki_key_generate(struct pki_key **out)
{
    return pki_key_generate_type(PKI_KEY_DEFAULT, out);
}

int pki_key_generate_type(enum pki_key_type type, struct pki_key **out)
{
    if (!out || (type != PKI_KEY_DEFAULT && type != PKI_KEY_ED25519 && type != PKI_KEY_P256)) {
        return PKI_EINVAL;
    }
    WC_RNG rng;
    if (wc_InitRng(&rng) != 0) {
        return PKI_ERANDOM;
    }
    int rv = PKI_ENOMEM;
    struct pki_key *key = key_alloc(type);
    if (!key) {
        goto err_rng;
    }
    rv = PKI_EKEYGEN;
    int r = key->type == PKI_KEY_ED25519 ? wc_ed25519_make_key(&rng, ED25519_KEY_SIZE, &key->ed)
                                         : wc_ecc_make_key_ex(&rng, 32, &key->ecc, ECC_SECP256R1);
    if (r != 0) {
        goto err_key;
    }
    rv = key_encode_der(key);
    if (rv != 0) {
        goto err_key;
    }
    wc_FreeRng(&rng);
    *out = key;
    return 0;

err_key:
    pki_key_free(key);
err_rng:
    wc_FreeRng(&rng);
    return rv;
}

int pki_key_from_pem(const char *pem, size_t size, struct pki_key **out)
{
    if (!pem || !out || size == 0 || size > PKI_FILE_MAX) {
        return PKI_EINVAL;
    }
    uint8_t *der = malloc(size);
    if (!der) {
        return PKI_ENOMEM;
    }
    int rv = PKI_EFORMAT;
    int der_size = wc_KeyPemToDer((const unsigned char *)pem, (int)size, der, (int)size, NULL);
    if (der_size <= 0) {
        goto err_der;
    }
    rv = PKI_ENOMEM;
    struct pki_key *key = key_alloc(PKI_KEY_P256);
    if (!key) {
        goto err_der;
    }
    rv = PKI_EFORMAT;
    word32 idx = 0;
    if (wc_EccPrivateKeyDecode(der, &idx, &key->ecc, (word32)der_size) == 0) {
        if (wc_ecc_get_curve_id(key->ecc.idx) != ECC_SECP256R1) {
            goto err_key;
        }
        /* A SEC1 key without its public half cannot sign certificates for
         * wolfSSL; derive it. */
        if (key->ecc.type == ECC_PRIVATEKEY_ONLY && wc_ecc_make_pub(&key->ecc, NULL) != 0) {
            goto err_key;
        }
    } else {
        pki_key_free(key);
        key = key_alloc(PKI_KEY_ED25519);
        if (!key) {
            rv = PKI_ENOMEM;
            goto err_der;
        }
        idx = 0;
        if (wc_Ed25519PrivateKeyDecode(der, &idx, &key->ed, (word32)der_size) != 0) {
            goto err_key;
        }
        /* A PKCS#8 key may come without its public half (RFC 8410 makes
         * it optional); signing needs it. */
        if (!key->ed.pubKeySet) {
            uint8_t pub[ED25519_PUB_KEY_SIZE];
            if (wc_ed25519_make_public(&key->ed, pub, sizeof pub) != 0 ||
                wc_ed25519_import_private_key(key->ed.k, ED25519_KEY_SIZE, pub, sizeof pub,
                                              &key->ed) != 0) {
                goto err_key;
            }
        }
    }
    rv = key_encode_der(key);
    if (rv != 0) {
        rv = PKI_EFORMAT;
        goto err_key;
    }
    explicit_bzero(der, size);
    free(der);
    *out = key;
    return 0;

err_key:
    pki_key_free(key);
err_der:
    explicit_bzero(der, size);
    free(der);
    return rv;
}

int pki_key_load(const char *path, struct pki_key **key)
{
    char *pem;
    size_t size;
    int rv = file_read_all(path, &pem, &size);
    if (rv != 0) {
        return rv;
    }
    rv = pki_key_from_pem(pem, size, key);
    explicit_bzero(pem, size);
    free(pem);
    return rv;
}

static int der_to_pem(const uint8_t *der, size_t der_size, int type, char **pem, size_t *size)
{
    size_t cap = der_size * 2 + 128;
    char *p = malloc(cap);
    if (!p) {
        return PKI_ENOMEM;
    }
    int n = wc_DerToPem(der, (word32)der_size, (byte *)p, (word32)(cap - 1), type);
    if (n <= 0) {
        free(p);
        return PKI_EFORMAT;
    }
    p[n] = '\0';
    *pem = p;
    *size = (size_t)n;
    return 0;
}

int pki_key_to_pem(const struct pki_key *key, char **pem, size_t *size)
{
    if (!key || !pem || !size) {
        return PKI_EINVAL;
    }
    if (key->type == PKI_KEY_P256) {
        return der_to_pem(key->der, key->der_size, ECC_PRIVATEKEY_TYPE, pem, size);
    }
    /* Files get RFC 8410's PKCS#8 form, private key only (what OpenSSL
     * writes and reads); wolfSSL's own encoding with the public key, kept
     * in 'der' for wolfSSL, is a version-0 structure OpenSSL refuses. */
    uint8_t der[PKI_KEY_DER_MAX];
    int n = wc_Ed25519PrivateKeyToDer((ed25519_key *)&key->ed, der, sizeof der);
    if (n <= 0) {
        return PKI_EFORMAT;
    }
    int rv = der_to_pem(der, (size_t)n, PKCS8_PRIVATEKEY_TYPE, pem, size);
    explicit_bzero(der, sizeof der);
    return rv;
}

int pki_key_save(const struct pki_key *key, const char *path)
{
    char *pem;
    size_t size;
    int rv = pki_key_to_pem(key, &pem, &size);
    if (rv != 0) {
        return rv;
    }
    rv = file_write_atomic(path, pem, size, 0600);
    explicit_bzero(pem, size);
    free(pem);
    return rv;
}

const uint8_t *pki_key_der(const struct pki_key *key, size_t *size)
{
    *size = key->der_size;
    return key->der;
}

/* ---- certificate parsing ---- */

void pki_cert_free(struct pki_cert *cert)
{
    if (!cert) {
        return;
    }
    for (size_t i = 0; i < cert->dns_count; i++) {
        free(cert->dns[i]);
    }
    for (size_t i = 0; i < cert->ip_count; i++) {
        free(cert->ip[i]);
    }
    free(cert->dns);
    free(cert->ip);
    free(cert->uri);
    free(cert->der);
    free(cert);
}

static int date_parse(const byte *raw, int raw_size, time_t *out)
{
    const byte *date;
    byte format;
    int length;
    struct tm tm;
    if (!raw || wc_GetDateInfo(raw, raw_size, &date, &format, &length) != 0 ||
        wc_GetDateAsCalendarTime(date, length, format, &tm) != 0) {
        return PKI_EFORMAT;
    }
    *out = timegm(&tm);
    return 0;
}

static int names_push(char ***list, size_t *count, const char *s, size_t len)
{
    if (*count >= PKI_SANS_MAX * 4) {
        return PKI_ETOOBIG;
    }
    char **grown = realloc(*list, (*count + 1) * sizeof **list);
    if (!grown) {
        return PKI_ENOMEM;
    }
    *list = grown;
    char *copy = strndup(s, len);
    if (!copy) {
        return PKI_ENOMEM;
    }
    grown[(*count)++] = copy;
    return 0;
}

/* Fills 'cert''s fields from the DecodedCert 'dc'. */
static int cert_fill(struct pki_cert *cert, DecodedCert *dc)
{
    if (dc->subjectCN && dc->subjectCNLen > 0) {
        if (dc->subjectCNLen > PKI_NAME_MAX) {
            return PKI_ETOOBIG;
        }
        memcpy(cert->cn, dc->subjectCN, (size_t)dc->subjectCNLen);
        cert->cn[dc->subjectCNLen] = '\0';
    }
    for (DNS_entry *e = dc->altNames; e; e = e->next) {
        int rv = 0;
        if (e->type == ASN_DNS_TYPE && e->len > 0) {
            if (memchr(e->name, '\0', (size_t)e->len)) {
                return PKI_EFORMAT;
            }
            rv = names_push(&cert->dns, &cert->dns_count, e->name, (size_t)e->len);
        } else if (e->type == ASN_IP_TYPE && (e->len == 4 || e->len == 16)) {
            char text[PKI_IP_STRLEN];
            if (!inet_ntop(e->len == 4 ? AF_INET : AF_INET6, e->name, text, sizeof text)) {
                return PKI_EFORMAT;
            }
            rv = names_push(&cert->ip, &cert->ip_count, text, strlen(text));
        } else if (e->type == ASN_URI_TYPE && e->len > 0 && !cert->uri) {
            cert->uri = strndup(e->name, (size_t)e->len);
            rv = cert->uri ? 0 : PKI_ENOMEM;
        }
        if (rv != 0) {
            return rv;
        }
    }
    if (dc->extExtKeyUsage & EXTKEYUSE_SERVER_AUTH) {
        cert->usage |= PKI_USAGE_SERVER;
    }
    if (dc->extExtKeyUsage & EXTKEYUSE_CLIENT_AUTH) {
        cert->usage |= PKI_USAGE_CLIENT;
    }
    cert->is_ca = dc->isCA ? 1 : 0;
    if (date_parse(dc->beforeDate, dc->beforeDateLen, &cert->not_before) != 0 ||
        date_parse(dc->afterDate, dc->afterDateLen, &cert->not_after) != 0) {
        return PKI_EFORMAT;
    }
    return 0;
}

int pki_cert_from_der(const uint8_t *der, size_t size, struct pki_cert **out)
{
    if (!der || !out || size == 0 || size > PKI_FILE_MAX) {
        return PKI_EINVAL;
    }
    struct pki_cert *cert = calloc(1, sizeof *cert);
    if (!cert) {
        return PKI_ENOMEM;
    }
    int rv = PKI_ENOMEM;
    cert->der = malloc(size);
    if (!cert->der) {
        goto err_cert;
    }
    memcpy(cert->der, der, size);
    cert->der_size = size;

    DecodedCert dc;
    wc_InitDecodedCert(&dc, cert->der, (word32)size, NULL);
    if (wc_ParseCert(&dc, CERT_TYPE, NO_VERIFY, NULL) != 0) {
        rv = PKI_EFORMAT;
        goto err_dc;
    }
    rv = cert_fill(cert, &dc);
    if (rv != 0) {
        goto err_dc;
    }
    wc_FreeDecodedCert(&dc);
    *out = cert;
    return 0;

err_dc:
    wc_FreeDecodedCert(&dc);
err_cert:
    pki_cert_free(cert);
    return rv;
}

int pki_cert_from_pem(const char *pem, size_t size, struct pki_cert **out)
{
    if (!pem || !out || size == 0 || size > PKI_FILE_MAX) {
        return PKI_EINVAL;
    }
    uint8_t *der = malloc(size);
    if (!der) {
        return PKI_ENOMEM;
    }
    int der_size = wc_CertPemToDer((const unsigned char *)pem, (int)size, der, (int)size, CERT_TYPE);
    int rv = der_size > 0 ? pki_cert_from_der(der, (size_t)der_size, out) : PKI_EFORMAT;
    free(der);
    return rv;
}

int pki_cert_load(const char *path, struct pki_cert **cert)
{
    char *pem;
    size_t size;
    int rv = file_read_all(path, &pem, &size);
    if (rv != 0) {
        return rv;
    }
    rv = pki_cert_from_pem(pem, size, cert);
    free(pem);
    return rv;
}

int pki_cert_to_pem(const struct pki_cert *cert, char **pem, size_t *size)
{
    if (!cert || !pem || !size) {
        return PKI_EINVAL;
    }
    return der_to_pem(cert->der, cert->der_size, CERT_TYPE, pem, size);
}

int pki_cert_save(const struct pki_cert *cert, const char *path)
{
    char *pem;
    size_t size;
    int rv = pki_cert_to_pem(cert, &pem, &size);
    if (rv != 0) {
        return rv;
    }
    rv = file_write_atomic(path, pem, size, 0644);
    free(pem);
    return rv;
}

const uint8_t *pki_cert_der(const struct pki_cert *cert, size_t *size)
{
    *size = cert->der_size;
    return cert->der;
}

const char *pki_cert_common_name(const struct pki_cert *cert)
{
    return cert->cn;
}

const char *const *pki_cert_dns_names(const struct pki_cert *cert, size_t *count)
{
    *count = cert->dns_count;
    return (const char *const *)cert->dns;
}

const char *const *pki_cert_ip_addrs(const struct pki_cert *cert, size_t *count)
{
    *count = cert->ip_count;
    return (const char *const *)cert->ip;
}

const char *pki_cert_uri(const struct pki_cert *cert)
{
    return cert->uri;
}

const char *pki_cert_identity(const struct pki_cert *cert)
{
    return cert->dns_count > 0 ? cert->dns[0] : cert->cn;
}

unsigned pki_cert_usage(const struct pki_cert *cert)
{
    return cert->usage;
}

int pki_cert_is_ca(const struct pki_cert *cert)
{
    return cert->is_ca;
}

time_t pki_cert_not_before(const struct pki_cert *cert)
{
    return cert->not_before;
}

time_t pki_cert_not_after(const struct pki_cert *cert)
{
    return cert->not_after;
}

/* Parses 'text' as an IPv4 or IPv6 literal into 'addr' (4 or 16 bytes);
 * returns the address size or 0 when 'text' is not an address. */
static size_t ip_parse(const char *text, uint8_t addr[16])
{
    if (inet_pton(AF_INET, text, addr) == 1) {
        return 4;
    }
    if (inet_pton(AF_INET6, text, addr) == 1) {
        return 16;
    }
    return 0;
}

int pki_cert_matches_name(const struct pki_cert *cert, const char *name)
{
    if (!cert || !name || !*name) {
        return 0;
    }
    uint8_t want[16];
    size_t want_size = ip_parse(name, want);
    if (want_size) {
        for (size_t i = 0; i < cert->ip_count; i++) {
            uint8_t have[16];
            if (ip_parse(cert->ip[i], have) == want_size && memcmp(have, want, want_size) == 0) {
                return 1;
            }
        }
        return 0;
    }
    for (size_t i = 0; i < cert->dns_count; i++) {
        if (strcasecmp(cert->dns[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- issuing ---- */

/* Appends a DER tag-length header for 'len' content bytes at 'p' (room for
 * 4 bytes); returns the header size. */
static size_t der_header(uint8_t *p, uint8_t tag, size_t len)
{
    p[0] = tag;
    if (len < 0x80) {
        p[1] = (uint8_t)len;
        return 2;
    }
    if (len < 0x100) {
        p[1] = 0x81;
        p[2] = (uint8_t)len;
        return 3;
    }
    p[1] = 0x82;
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    return 4;
}

/* Encodes the GeneralNames SEQUENCE of 'params' into 'out' (room 'cap');
 * '*size' receives its length, 0 when there are no SANs. */
static int san_encode(const struct pki_leaf_params *params, uint8_t *out, size_t cap, size_t *size)
{
    uint8_t body[CTC_MAX_ALT_SIZE];
    size_t n = 0;
    if (params->dns_count + params->ip_count > PKI_SANS_MAX) {
        return PKI_ETOOBIG;
    }
    for (size_t i = 0; i < params->dns_count; i++) {
        const char *d = params->dns_names[i];
        size_t len = d ? strlen(d) : 0;
        if (len == 0 || len > PKI_DNS_MAX) {
            return PKI_EINVAL;
        }
        n += der_header(body + n, 0x82, len); /* [2] dNSName */
        memcpy(body + n, d, len);
        n += len;
    }
    for (size_t i = 0; i < params->ip_count; i++) {
        uint8_t addr[16];
        size_t len = params->ip_addrs[i] ? ip_parse(params->ip_addrs[i], addr) : 0;
        if (len == 0) {
            return PKI_EINVAL;
        }
        n += der_header(body + n, 0x87, len); /* [7] iPAddress */
        memcpy(body + n, addr, len);
        n += len;
    }
    if (params->uri) {
        size_t len = strlen(params->uri);
        if (len == 0 || len > PKI_URI_MAX) {
            return PKI_EINVAL;
        }
        n += der_header(body + n, 0x86, len); /* [6] uniformResourceIdentifier */
        memcpy(body + n, params->uri, len);
        n += len;
    }
    if (n == 0) {
        *size = 0;
        return 0;
    }
    if (n + 4 > cap) {
        return PKI_ETOOBIG;
    }
    size_t h = der_header(out, 0x30, n);
    memcpy(out + h, body, n);
    *size = h + n;
    return 0;
}

/* Encodes 't' as an X.509 Time (UTCTime before 2050, else GeneralizedTime)
 * with its tag and length into 'out' (CTC_DATE_SIZE bytes). */
static int time_encode(time_t t, uint8_t *out, int *size)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        return PKI_EINVAL;
    }
    char text[24];
    int year = tm.tm_year + 1900;
    int n;
    uint8_t tag;
    if (year >= 1950 && year < 2050) {
        tag = 0x17;
        n = snprintf(text, sizeof text, "%02d%02d%02d%02d%02d%02dZ", year % 100, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    } else if (year >= 0 && year <= 9999) {
        tag = 0x18;
        n = snprintf(text, sizeof text, "%04d%02d%02d%02d%02d%02dZ", year, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    } else {
        return PKI_EINVAL;
    }
    if (n <= 0 || n + 2 > CTC_DATE_SIZE) {
        return PKI_EINVAL;
    }
    out[0] = tag;
    out[1] = (uint8_t)n;
    memcpy(out + 2, text, (size_t)n);
    *size = n + 2;
    return 0;
}

static int cert_set_dates(Cert *c, time_t not_before, time_t not_after)
{
    if (not_after <= not_before) {
        return PKI_EINVAL;
    }
    if (time_encode(not_before, c->beforeDate, &c->beforeDateSz) != 0 ||
        time_encode(not_after, c->afterDate, &c->afterDateSz) != 0) {
        return PKI_EINVAL;
    }
    return 0;
}

static int cert_set_serial(Cert *c, WC_RNG *rng)
{
    if (wc_RNG_GenerateBlock(rng, c->serial, PKI_SERIAL_SIZE) != 0) {
        return PKI_ERANDOM;
    }
    c->serial[0] &= 0x7f; /* positive */
    c->serial[0] |= 0x40; /* and minimal: first byte nonzero */
    c->serialSz = PKI_SERIAL_SIZE;
    return 0;
}

static int name_copy(char *dst, const char *src)
{
    size_t len = src ? strlen(src) : 0;
    if (len == 0 || len > PKI_NAME_MAX || len >= CTC_NAME_SIZE) {
        return PKI_EINVAL;
    }
    memcpy(dst, src, len + 1);
    return 0;
}

/* Makes and signs 'c' for 'subject_key', signing with 'signer'; returns the
 * parsed certificate. */
static int cert_make_sign(Cert *c, struct pki_key *subject_key, const struct pki_key *signer,
                          WC_RNG *rng, struct pki_cert **out)
{
    uint8_t *der = malloc(PKI_DER_MAX);
    if (!der) {
        return PKI_ENOMEM;
    }
    int rv = PKI_ECERTGEN;
    c->sigType = signer->type == PKI_KEY_ED25519 ? CTC_ED25519 : CTC_SHA256wECDSA;
    if (wc_MakeCert_ex(c, der, PKI_DER_MAX, key_wc_type(subject_key), key_wc(subject_key), rng) <= 0) {
        goto out;
    }
    int size = wc_SignCert_ex(c->bodySz, c->sigType, der, PKI_DER_MAX, key_wc_type(signer),
                              key_wc(signer), rng);
    if (size <= 0) {
        goto out;
    }
    rv = pki_cert_from_der(der, (size_t)size, out);
out:
    free(der);
    return rv;
}

int pki_ca_create(const char *common_name, unsigned days_valid, struct pki_cert **cert,
                  struct pki_key **key)
{
    return pki_ca_create_type(common_name, days_valid, PKI_KEY_DEFAULT, cert, key);
}

int pki_ca_create_type(const char *common_name, unsigned days_valid, enum pki_key_type type,
                       struct pki_cert **cert, struct pki_key **key)
{
    if (!cert || !key || days_valid == 0 || days_valid > 36500) {
        return PKI_EINVAL;
    }
    Cert *c = calloc(1, sizeof *c);
    if (!c) {
        return PKI_ENOMEM;
    }
    int rv = PKI_ECERTGEN;
    if (wc_InitCert(c) != 0) {
        goto err_c;
    }
    rv = name_copy(c->subject.commonName, common_name);
    if (rv != 0) {
        goto err_c;
    }
    WC_RNG rng;
    if (wc_InitRng(&rng) != 0) {
        rv = PKI_ERANDOM;
        goto err_c;
    }
    struct pki_key *k;
    rv = pki_key_generate_type(type, &k);
    if (rv != 0) {
        goto err_rng;
    }
    time_t now = time(NULL);
    rv = cert_set_dates(c, now - 3600, now + (time_t)days_valid * 86400);
    if (rv != 0) {
        goto err_key;
    }
    rv = cert_set_serial(c, &rng);
    if (rv != 0) {
        goto err_key;
    }
    rv = PKI_ECERTGEN;
    c->isCA = 1;
    c->selfSigned = 1;
    if (wc_SetKeyUsage(c, "keyCertSign,cRLSign,digitalSignature") != 0 ||
        wc_SetSubjectKeyIdFromPublicKey_ex(c, key_wc_type(k), key_wc(k)) != 0) {
        goto err_key;
    }
    rv = cert_make_sign(c, k, k, &rng, cert);
    if (rv != 0) {
        goto err_key;
    }
    wc_FreeRng(&rng);
    free(c);
    *key = k;
    return 0;

err_key:
    pki_key_free(k);
err_rng:
    wc_FreeRng(&rng);
err_c:
    free(c);
    return rv;
}

/* The SubjectPublicKeyInfo DER of 'key' into 'out'; its size or <= 0. */
static int key_public_der(const struct pki_key *key, uint8_t *out, size_t cap)
{
    if (key->type == PKI_KEY_ED25519) {
        return wc_Ed25519PublicKeyToDer((ed25519_key *)&key->ed, out, (word32)cap, 1);
    }
    return wc_EccPublicKeyToDer((ecc_key *)&key->ecc, out, (word32)cap, 1);
}

/* Issues the leaf 'params' describes for 'subject' (its public half is
 * what gets certified), signed by 'ca' with 'ca_key'. */
static int leaf_issue_for(const struct pki_cert *ca, const struct pki_key *ca_key,
                          const struct pki_leaf_params *params, struct pki_key *subject,
                          struct pki_cert **cert)
{
    if ((params->usage & PKI_USAGE_BOTH) == 0 || (params->usage & ~(unsigned)PKI_USAGE_BOTH)) {
        return PKI_EINVAL;
    }
    if (!ca->is_ca) {
        return PKI_ENOTCA;
    }
    if (pki_key_matches_cert(ca_key, ca) != 0) {
        return PKI_EKEYMISMATCH;
    }
    Cert *c = calloc(1, sizeof *c);
    if (!c) {
        return PKI_ENOMEM;
    }
    int rv = PKI_ECERTGEN;
    if (wc_InitCert(c) != 0) {
        goto err_c;
    }
    rv = name_copy(c->subject.commonName, params->common_name);
    if (rv != 0) {
        goto err_c;
    }
    size_t san_size;
    rv = san_encode(params, c->altNames, sizeof c->altNames, &san_size);
    if (rv != 0) {
        goto err_c;
    }
    c->altNamesSz = (int)san_size;
    time_t now = time(NULL);
    time_t not_before = params->not_before ? params->not_before : now - 3600;
    time_t not_after = params->not_after;
    if (!not_after) {
        if (params->days_valid == 0 || params->days_valid > 36500) {
            rv = PKI_EINVAL;
            goto err_c;
        }
        not_after = now + (time_t)params->days_valid * 86400;
    }
    rv = cert_set_dates(c, not_before, not_after);
    if (rv != 0) {
        goto err_c;
    }
    WC_RNG rng;
    if (wc_InitRng(&rng) != 0) {
        rv = PKI_ERANDOM;
        goto err_c;
    }
    rv = cert_set_serial(c, &rng);
    if (rv != 0) {
        goto err_rng;
    }
    rv = PKI_ECERTGEN;
    const char *eku = params->usage == PKI_USAGE_BOTH     ? "serverAuth,clientAuth"
                      : params->usage == PKI_USAGE_SERVER ? "serverAuth"
                                                          : "clientAuth";
    c->isCA = 0;
    c->selfSigned = 0;
    if (wc_SetIssuerBuffer(c, ca->der, (int)ca->der_size) != 0 ||
        wc_SetAuthKeyIdFromCert(c, ca->der, (int)ca->der_size) != 0 ||
        wc_SetSubjectKeyIdFromPublicKey_ex(c, key_wc_type(subject), key_wc(subject)) != 0 ||
        wc_SetKeyUsage(c, "digitalSignature") != 0 || wc_SetExtKeyUsage(c, eku) != 0) {
        goto err_rng;
    }
    rv = cert_make_sign(c, subject, ca_key, &rng, cert);
err_rng:
    wc_FreeRng(&rng);
err_c:
    free(c);
    return rv;
}

int pki_leaf_issue(const struct pki_cert *ca, const struct pki_key *ca_key,
                   const struct pki_leaf_params *params, struct pki_cert **cert,
                   struct pki_key **key)
{
    if (!ca || !ca_key || !params || !cert || !key) {
        return PKI_EINVAL;
    }
    struct pki_key *k;
    int rv = pki_key_generate_type(params->key_type, &k);
    if (rv != 0) {
        return rv;
    }
    rv = leaf_issue_for(ca, ca_key, params, k, cert);
    if (rv != 0) {
        pki_key_free(k);
        return rv;
    }
    *key = k;
    return 0;
}

int pki_leaf_issue_for_public(const struct pki_cert *ca, const struct pki_key *ca_key,
                              const struct pki_leaf_params *params, const char *pub_pem,
                              size_t pub_size, struct pki_cert **cert)
{
    if (!ca || !ca_key || !params || !pub_pem || !cert || pub_size == 0 || pub_size > 4096) {
        return PKI_EINVAL;
    }
    uint8_t der[1024];
    int der_size = wc_PubKeyPemToDer((const unsigned char *)pub_pem, (int)pub_size, der, sizeof der);
    if (der_size <= 0) {
        return PKI_EFORMAT;
    }
    struct pki_key *k = key_alloc(PKI_KEY_P256);
    if (!k) {
        return PKI_ENOMEM;
    }
    int rv = PKI_EFORMAT;
    word32 idx = 0;
    if (wc_EccPublicKeyDecode(der, &idx, &k->ecc, (word32)der_size) == 0) {
        if (idx == (word32)der_size && wc_ecc_get_curve_id(k->ecc.idx) == ECC_SECP256R1 &&
            wc_ecc_check_key(&k->ecc) == 0) {
            rv = leaf_issue_for(ca, ca_key, params, k, cert);
        }
        pki_key_free(k);
        return rv;
    }
    pki_key_free(k);
    k = key_alloc(PKI_KEY_ED25519);
    if (!k) {
        return PKI_ENOMEM;
    }
    /* wolfCrypt neither reports how much of the input an Ed25519 key took
     * nor checks a public-only key; the key must re-encode to exactly the
     * input (no trailing bytes, the one SubjectPublicKeyInfo form). */
    idx = 0;
    uint8_t again[sizeof der];
    if (wc_Ed25519PublicKeyDecode(der, &idx, &k->ed, (word32)der_size) == 0 &&
        key_public_der(k, again, sizeof again) == der_size && memcmp(again, der, (size_t)der_size) == 0) {
        rv = leaf_issue_for(ca, ca_key, params, k, cert);
    }
    pki_key_free(k);
    return rv;
}

int pki_key_public_pem(const struct pki_key *key, char **pem, size_t *size)
{
    if (!key || !pem || !size) {
        return PKI_EINVAL;
    }
    uint8_t der[256];
    int n = key_public_der(key, der, sizeof der);
    if (n <= 0) {
        return PKI_EFORMAT;
    }
    return der_to_pem(der, (size_t)n, PUBLICKEY_TYPE, pem, size);
}

int pki_cert_fingerprint(const struct pki_cert *cert, char hex[PKI_FINGERPRINT_HEX])
{
    uint8_t h[WC_SHA256_DIGEST_SIZE];
    if (!cert || !hex || wc_Sha256Hash(cert->der, (word32)cert->der_size, h) != 0) {
        return PKI_EINVAL;
    }
    for (size_t i = 0; i < sizeof h; i++) {
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    }
    return 0;
}

int pki_fingerprint_normalize(const char *text, char hex[PKI_FINGERPRINT_HEX])
{
    if (!text || !hex) {
        return PKI_EINVAL;
    }
    if (strncasecmp(text, "sha256:", 7) == 0) {
        text += 7;
    }
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        char ch = *p;
        if (ch == ':') {
            continue;
        }
        if (n >= 64 || !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'))) {
            return PKI_EINVAL;
        }
        hex[n++] = (char)(ch >= 'A' && ch <= 'F' ? ch - 'A' + 'a' : ch);
    }
    if (n != 64) {
        return PKI_EINVAL;
    }
    hex[n] = '\0';
    return 0;
}

int pki_ca_create_files(const char *dir, const char *common_name, unsigned days_valid,
                        char *errmsg, size_t errmsg_size)
{
    char cert_path[PATH_MAX], key_path[PATH_MAX];
    if (!dir || snprintf(cert_path, sizeof cert_path, "%s/ca.pem", dir) >= (int)sizeof cert_path ||
        snprintf(key_path, sizeof key_path, "%s/ca.key", dir) >= (int)sizeof key_path) {
        errmsg_set(errmsg, errmsg_size, "CA directory path is missing or too long");
        return PKI_EINVAL;
    }
    struct pki_cert *cert;
    struct pki_key *key;
    int rv = pki_ca_create(common_name, days_valid, &cert, &key);
    if (rv != 0) {
        errmsg_set(errmsg, errmsg_size, "creating CA \"%s\": %s", common_name ? common_name : "",
                   pki_strerror(rv));
        return rv;
    }
    /* The key first: a ca.pem without its key is useless, while a key alone
     * is simply replaced by the next attempt. */
    rv = pki_key_save(key, key_path);
    if (rv != 0) {
        errmsg_set(errmsg, errmsg_size, "writing %s: %s", key_path, strerror(errno));
        goto out;
    }
    rv = pki_cert_save(cert, cert_path);
    if (rv != 0) {
        errmsg_set(errmsg, errmsg_size, "writing %s: %s", cert_path, strerror(errno));
    }
out:
    pki_cert_free(cert);
    pki_key_free(key);
    return rv;
}

int pki_leaf_issue_files(const char *ca_cert_path, const char *ca_key_path,
                         const struct pki_leaf_params *params, const char *cert_path,
                         const char *key_path, char *errmsg, size_t errmsg_size)
{
    if (!ca_cert_path || !ca_key_path || !cert_path || !key_path || !params) {
        errmsg_set(errmsg, errmsg_size, "missing path or parameters");
        return PKI_EINVAL;
    }
    struct pki_cert *ca;
    int rv = pki_cert_load(ca_cert_path, &ca);
    if (rv != 0) {
        errmsg_set(errmsg, errmsg_size, "loading CA certificate %s: %s", ca_cert_path,
                   pki_strerror(rv));
        return rv;
    }
    struct pki_key *ca_key;
    rv = pki_key_load(ca_key_path, &ca_key);
    if (rv != 0) {
        errmsg_set(errmsg, errmsg_size, "loading CA key %s: %s", ca_key_path, pki_strerror(rv));
        goto err_ca;
    }
    struct pki_cert *cert;
    struct pki_key *key;
    rv = pki_leaf_issue(ca, ca_key, params, &cert, &key);
    if (rv != 0) {
        errmsg_set(errmsg, errmsg_size, "issuing certificate for \"%s\": %s",
                   params->common_name ? params->common_name : "", pki_strerror(rv));
        goto err_ca_key;
    }
    rv = pki_key_save(key, key_path);
    if (rv != 0) {
        errmsg_set(errmsg, errmsg_size, "writing %s: %s", key_path, strerror(errno));
        goto err_leaf;
    }
    rv = pki_cert_save(cert, cert_path);
    if (rv != 0) {
        errmsg_set(errmsg, errmsg_size, "writing %s: %s", cert_path, strerror(errno));
    }
err_leaf:
    pki_cert_free(cert);
    pki_key_free(key);
err_ca_key:
    pki_key_free(ca_key);
err_ca:
    pki_cert_free(ca);
    return rv;
}

/* ---- checking ---- */

int pki_key_matches_cert(const struct pki_key *key, const struct pki_cert *cert)
{
    if (!key || !cert) {
        return PKI_EINVAL;
    }
    /* wolfSSL gives a certificate's P-256 key as SubjectPublicKeyInfo and
     * its Ed25519 key as the raw 32 bytes. */
    uint8_t from_key[160], from_cert[160];
    int key_size;
    if (key->type == PKI_KEY_ED25519) {
        word32 raw = sizeof from_key;
        key_size = wc_ed25519_export_public((ed25519_key *)&key->ed, from_key, &raw) == 0 ? (int)raw : -1;
    } else {
        key_size = key_public_der(key, from_key, sizeof from_key);
    }
    if (key_size <= 0) {
        return PKI_EKEYMISMATCH;
    }
    DecodedCert dc;
    wc_InitDecodedCert(&dc, cert->der, (word32)cert->der_size, NULL);
    word32 cert_size = sizeof from_cert;
    int rv = PKI_EKEYMISMATCH;
    if (wc_ParseCert(&dc, CERT_TYPE, NO_VERIFY, NULL) == 0 &&
        dc.keyOID == (key->type == PKI_KEY_ED25519 ? ED25519k : ECDSAk) &&
        wc_GetPubKeyDerFromCert(&dc, from_cert, &cert_size) == 0 &&
        cert_size == (word32)key_size && memcmp(from_cert, from_key, cert_size) == 0) {
        rv = 0;
    }
    wc_FreeDecodedCert(&dc);
    return rv;
}

static const char *usage_name(unsigned usage)
{
    switch (usage & PKI_USAGE_BOTH) {
    case PKI_USAGE_SERVER:
        return "serverAuth";
    case PKI_USAGE_CLIENT:
        return "clientAuth";
    case PKI_USAGE_BOTH:
        return "serverAuth and clientAuth";
    default:
        return "none";
    }
}

int pki_cert_verify(const struct pki_cert *ca, const struct pki_cert *cert, unsigned usage,
                    time_t now, char *errmsg, size_t errmsg_size)
{
    if (!ca || !cert) {
        errmsg_set(errmsg, errmsg_size, "missing certificate");
        return PKI_EINVAL;
    }
    const char *who = pki_cert_identity(cert);
    if (!ca->is_ca) {
        errmsg_set(errmsg, errmsg_size, "trust anchor \"%s\" is not a CA certificate", ca->cn);
        return PKI_ENOTCA;
    }
    WOLFSSL_CERT_MANAGER *cm = wolfSSL_CertManagerNew();
    if (!cm) {
        errmsg_set(errmsg, errmsg_size, "out of memory");
        return PKI_ENOMEM;
    }
    int rv = 0;
    /* Loading checks the CA's own dates against the clock; an expired CA is
     * reported as such rather than as a signature failure. */
    int r = wolfSSL_CertManagerLoadCABuffer(cm, ca->der, (long)ca->der_size, WOLFSSL_FILETYPE_ASN1);
    if (r != WOLFSSL_SUCCESS) {
        rv = r == ASN_AFTER_DATE_E ? PKI_EEXPIRED : r == ASN_BEFORE_DATE_E ? PKI_ENOTYETVALID : PKI_EFORMAT;
        errmsg_set(errmsg, errmsg_size, "CA certificate \"%s\" unusable: %s", ca->cn,
                   pki_strerror(rv));
        goto out_cm;
    }
    DecodedCert dc;
    wc_InitDecodedCert(&dc, cert->der, (word32)cert->der_size, NULL);
    r = wc_ParseCert(&dc, CERT_TYPE, VERIFY_SKIP_DATE, cm);
    wc_FreeDecodedCert(&dc);
    if (r != 0) {
        rv = r == ASN_NO_SIGNER_E || r == ASN_SIG_CONFIRM_E ? PKI_ESIGNATURE : PKI_EFORMAT;
        errmsg_set(errmsg, errmsg_size, "certificate \"%s\" is not signed by CA \"%s\" (%s)", who,
                   ca->cn, wc_GetErrorString(r));
        goto out_cm;
    }
    if (now < cert->not_before) {
        rv = PKI_ENOTYETVALID;
        errmsg_set(errmsg, errmsg_size, "certificate \"%s\" is not valid before %lld (now %lld)",
                   who, (long long)cert->not_before, (long long)now);
        goto out_cm;
    }
    if (now > cert->not_after) {
        rv = PKI_EEXPIRED;
        errmsg_set(errmsg, errmsg_size, "certificate \"%s\" expired at %lld (now %lld)", who,
                   (long long)cert->not_after, (long long)now);
        goto out_cm;
    }
    if ((cert->usage & usage) != (usage & PKI_USAGE_BOTH)) {
        rv = PKI_EUSAGE;
        errmsg_set(errmsg, errmsg_size, "certificate \"%s\" allows %s, %s is required", who,
                   usage_name(cert->usage), usage_name(usage));
        goto out_cm;
    }
out_cm:
    wolfSSL_CertManagerFree(cm);
    return rv;
}

int pki_cert_has_role(const struct pki_cert *cert, const char *role)
{
    const char *uri = cert ? pki_cert_uri(cert) : NULL;
    return uri && role && strcmp(uri, role) == 0;
}
