/* The joiner's enrolment client (join_client.h): the pinned-CA fetch on a
 * blocking wolfSSL connection that verifies nothing (only the fingerprint
 * check makes what it returns trusted), then the enrolment itself over
 * ctl_http, which verifies the server against that CA. Responses are
 * parsed with http-parser. */
#include "appliance/join_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "appliance/ctl_http.h"
#include "appliance/hostport.h"
#include "lib/buf.h"

#define JOIN_CA_ANSWER_MAX (64u << 10)
#define JOIN_DEFAULT_TIMEOUT_MS 10000

static int fail(char *errmsg, size_t size, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(char *errmsg, size_t size, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, size, fmt, ap);
    va_end(ap);
    return code;
}

/* "https://HOST:PORT[/]" into 'host' and '*port'. */
static int url_parse(const char *url, char *host, size_t size, uint16_t *port)
{
    char hp[300];
    if (!url || strncmp(url, "https://", 8) != 0 || strlen(url + 8) >= sizeof hp) {
        return JOIN_EINVAL;
    }
    snprintf(hp, sizeof hp, "%s", url + 8);
    size_t n = strlen(hp);
    if (n && hp[n - 1] == '/') {
        hp[n - 1] = '\0';
    }
    return hostport_parse(hp, host, size, port) == 0 && *port ? 0 : JOIN_EINVAL;
}

/* ---- the pinned fetch ---- */

struct ca_resp {
    struct buf body;
    bool complete;
    bool too_big;
};

static int ca_on_body(http_parser *p, const char *at, size_t len)
{
    struct ca_resp *r = p->data;
    if (r->body.size + len > JOIN_CA_ANSWER_MAX || buf_put(&r->body, at, len) != 0) {
        r->too_big = true;
        return 1;
    }
    return 0;
}

static int ca_on_complete(http_parser *p)
{
    struct ca_resp *r = p->data;
    r->complete = true;
    return 0;
}

static int tcp_connect(const char *host, uint16_t port, unsigned timeout_ms)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        len = sizeof *s4;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        len = sizeof *s6;
    } else {
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    if (fd < 0) {
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 || connect(fd, (struct sockaddr *)&ss, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int join_fetch_ca(const char *url, const char *fingerprint, unsigned timeout_ms, struct pki_cert **ca,
                  char *errmsg, size_t errmsg_size)
{
    char host[256], want[PKI_FINGERPRINT_HEX], got[PKI_FINGERPRINT_HEX];
    uint16_t port;
    *ca = NULL;
    if (url_parse(url, host, sizeof host, &port) != 0) {
        return fail(errmsg, errmsg_size, JOIN_EINVAL, "bad URL %s (want https://IP:PORT)", url ? url : "");
    }
    if (pki_fingerprint_normalize(fingerprint, want) != 0) {
        return fail(errmsg, errmsg_size, JOIN_EINVAL, "bad CA fingerprint (want 64 hex digits of SHA-256)");
    }
    int fd = tcp_connect(host, port, timeout_ms ? timeout_ms : JOIN_DEFAULT_TIMEOUT_MS);
    if (fd < 0) {
        return fail(errmsg, errmsg_size, JOIN_ECONNECT, "cannot connect to %s: %s", url, strerror(errno));
    }
    int rc = JOIN_ECONNECT;
    struct ca_resp resp = {.complete = false};
    buf_init(&resp.body, 0);
    /* Nothing is verified on this connection: what it returns is trusted
     * only after the fingerprint check below. */
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
    WOLFSSL *ssl = NULL;
    if (!ctx) {
        fail(errmsg, errmsg_size, rc, "TLS context");
        goto out;
    }
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
    ssl = wolfSSL_new(ctx);
    char alpn[] = "http/1.1";
    if (!ssl || wolfSSL_set_fd(ssl, fd) != WOLFSSL_SUCCESS ||
        wolfSSL_UseALPN(ssl, alpn, sizeof alpn - 1, WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS ||
        wolfSSL_connect(ssl) != WOLFSSL_SUCCESS) {
        fail(errmsg, errmsg_size, rc, "TLS handshake with %s failed", url);
        goto out;
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /enroll/ca HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: strata-join\r\nConnection: close\r\n\r\n",
                     host, port);
    if (wolfSSL_write(ssl, req, n) != n) {
        fail(errmsg, errmsg_size, rc, "cannot send to %s", url);
        goto out;
    }
    http_parser parser;
    http_parser_settings settings;
    http_parser_init(&parser, HTTP_RESPONSE);
    http_parser_settings_init(&settings);
    settings.on_body = ca_on_body;
    settings.on_message_complete = ca_on_complete;
    parser.data = &resp;
    char chunk[4096];
    rc = JOIN_EPROTO;
    while (!resp.complete) {
        int got_n = wolfSSL_read(ssl, chunk, sizeof chunk);
        size_t parsed = got_n > 0 ? http_parser_execute(&parser, &settings, chunk, (size_t)got_n)
                                  : http_parser_execute(&parser, &settings, NULL, 0);
        if (resp.too_big || (got_n > 0 && parsed != (size_t)got_n) || parser.http_errno != HPE_OK) {
            fail(errmsg, errmsg_size, rc, "malformed or oversized answer from %s", url);
            goto out;
        }
        if (got_n <= 0) {
            break;
        }
    }
    if (!resp.complete || parser.status_code != 200) {
        fail(errmsg, errmsg_size, rc, "GET /enroll/ca at %s: %s %u", url, resp.complete ? "HTTP" : "incomplete answer",
             parser.status_code);
        goto out;
    }
    json_t *doc = json_loadb((const char *)resp.body.data, resp.body.size, 0, NULL);
    const char *pem = json_string_value(json_object_get(doc, "ca"));
    struct pki_cert *cert = NULL;
    if (!pem || pki_cert_from_pem(pem, strlen(pem), &cert) != 0 || !pki_cert_is_ca(cert) ||
        pki_cert_fingerprint(cert, got) != 0) {
        json_decref(doc);
        pki_cert_free(cert);
        fail(errmsg, errmsg_size, rc, "%s did not answer a CA certificate", url);
        goto out;
    }
    json_decref(doc);
    if (strcmp(got, want) != 0) {
        pki_cert_free(cert);
        rc = fail(errmsg, errmsg_size, JOIN_EFINGERPRINT,
                  "the CA at %s has fingerprint %s, not the pinned %s: refusing to send the token", url, got, want);
        goto out;
    }
    *ca = cert;
    rc = 0;
out:
    if (ssl) {
        wolfSSL_shutdown(ssl);
        wolfSSL_free(ssl);
    }
    wolfSSL_CTX_free(ctx);
    close(fd);
    buf_destroy(&resp.body);
    return rc;
}

/* ---- enrolment ---- */

/* The server's JSON error message, or the status. */
static void server_message(const struct buf *body, int status, char *out, size_t size)
{
    json_t *doc = json_loadb((const char *)body->data, body->size, 0, NULL);
    const char *m = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
    snprintf(out, size, "HTTP %d: %s", status, m ? m : "(no message)");
    json_decref(doc);
}

int join_client_enroll(const struct join_request *req, json_t **answer, int *http_status, char *errmsg,
                       size_t errmsg_size)
{
    char path[4096], msg[512] = "";
    unsigned timeout = req->timeout_ms ? req->timeout_ms : JOIN_DEFAULT_TIMEOUT_MS;
    struct pki_cert *ca = NULL, *leaf = NULL;
    struct pki_key *key = NULL;
    struct ctl_http *http = NULL;
    char *pub = NULL;
    size_t pub_size = 0;
    json_t *body = NULL, *doc = NULL;
    struct buf resp;
    int status = 0, rc;
    buf_init(&resp, 0);
    if (answer) {
        *answer = NULL;
    }
    if (http_status) {
        *http_status = 0;
    }
    if (!join_token_wellformed(req->token)) {
        return fail(errmsg, errmsg_size, JOIN_EINVAL, "the join token is malformed (want sj_...)");
    }
    if (!req->pki_dir || (mkdir(req->pki_dir, 0700) != 0 && errno != EEXIST)) {
        return fail(errmsg, errmsg_size, JOIN_EIO, "cannot create %s: %s", req->pki_dir ? req->pki_dir : "(none)",
                    strerror(errno));
    }
    if ((rc = join_fetch_ca(req->url, req->fingerprint, timeout, &ca, errmsg, errmsg_size)) != 0) {
        return rc;
    }
    snprintf(path, sizeof path, "%s/ca.pem", req->pki_dir);
    if ((rc = pki_cert_save(ca, path)) != 0) {
        rc = fail(errmsg, errmsg_size, JOIN_EIO, "%s: %s", path, strata_strerror(rc));
        goto out;
    }
    if ((rc = pki_key_generate(&key)) != 0 || (rc = pki_key_public_pem(key, &pub, &pub_size)) != 0) {
        rc = fail(errmsg, errmsg_size, JOIN_EINVAL, "key: %s", strata_strerror(rc));
        goto out;
    }
    body = json_pack("{s:s,s:s}", "public_key", pub, "kind", join_kind_name(req->kind));
    if (body && req->address) {
        json_object_set_new(body, "address", json_string(req->address));
    }
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (!text) {
        rc = fail(errmsg, errmsg_size, JOIN_EINVAL, "out of memory");
        goto out;
    }
    rc = ctl_http_create(req->url, path, timeout, &http, msg, sizeof msg);
    if (rc == 0) {
        rc = ctl_http_request(http, "POST", "/enroll", req->token, text, strlen(text), &status, &resp);
    }
    free(text);
    if (rc) {
        rc = fail(errmsg, errmsg_size, JOIN_ECONNECT, "POST /enroll at %s: %s", req->url,
                  !http && msg[0] ? msg : strata_strerror(rc));
        goto out;
    }
    if (http_status) {
        *http_status = status;
    }
    if (status != 200) {
        server_message(&resp, status, msg, sizeof msg);
        rc = fail(errmsg, errmsg_size, JOIN_EREFUSED, "enrolment refused: %s", msg);
        goto out;
    }
    doc = json_loadb((const char *)resp.data, resp.size, 0, NULL);
    const char *cert_pem = json_string_value(json_object_get(doc, "certificate"));
    const char *name = json_string_value(json_object_get(doc, "name"));
    enum join_kind kind;
    if (!cert_pem || !join_name_valid(name) ||
        join_kind_parse(json_string_value(json_object_get(doc, "kind")), &kind) != 0) {
        rc = fail(errmsg, errmsg_size, JOIN_EPROTO, "malformed enrolment answer");
        goto out;
    }
    if (kind != req->kind) {
        rc = fail(errmsg, errmsg_size, JOIN_EINVAL, "the token is for a %s, not a %s", join_kind_name(kind),
                  join_kind_name(req->kind));
        goto out;
    }
    const char *role = kind == JOIN_KIND_CONTROLLER ? PKI_ROLE_NODE : PKI_ROLE_AGENT;
    if (pki_cert_from_pem(cert_pem, strlen(cert_pem), &leaf) != 0 || pki_key_matches_cert(key, leaf) != 0 ||
        pki_cert_verify(ca, leaf, PKI_USAGE_BOTH, time(NULL), msg, sizeof msg) != 0 ||
        strcmp(pki_cert_identity(leaf), name) != 0 || !pki_cert_has_role(leaf, role)) {
        rc = fail(errmsg, errmsg_size, JOIN_EINVAL, "the issued certificate does not match this key, the CA or %s",
                  name);
        goto out;
    }
    snprintf(path, sizeof path, "%s/%s.key", req->pki_dir, name);
    if ((rc = pki_key_save(key, path)) == 0) {
        snprintf(path, sizeof path, "%s/%s.pem", req->pki_dir, name);
        rc = pki_cert_save(leaf, path);
    }
    if (rc) {
        rc = fail(errmsg, errmsg_size, JOIN_EIO, "%s: %s", path, strata_strerror(rc));
        goto out;
    }
    if (answer) {
        *answer = doc;
        doc = NULL;
    }
    rc = 0;
out:
    json_decref(doc);
    json_decref(body);
    buf_destroy(&resp);
    ctl_http_free(http);
    free(pub);
    pki_cert_free(ca);
    pki_cert_free(leaf);
    pki_key_free(key);
    return rc;
}
