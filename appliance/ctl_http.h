/* stratactl's HTTPS/1.1 client for the config role's REST API: blocking,
 * one request at a time on one kept-alive connection, run on a private
 * libuv loop over lib/tls (TLS 1.3, ALPN http/1.1, the server verified
 * against the cluster CA, no client certificate: requests carry a bearer
 * token). Responses are parsed by http-parser, never by hand. Several base
 * URLs may be given: a request goes to the first that accepts a connection,
 * and a connection failure moves on to the next. */
#ifndef STRATA_APPLIANCE_CTL_HTTP_H
#define STRATA_APPLIANCE_CTL_HTTP_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/err.h"

#define CTL_HTTP_ERRORS(X)                                                        \
    X(CTL_HTTP_EURL, -12901, "malformed URL (want https://IP:PORT)")              \
    X(CTL_HTTP_ECA, -12902, "cannot load the cluster CA certificate")             \
    X(CTL_HTTP_ECONNECT, -12903, "cannot connect to any API endpoint")           \
    X(CTL_HTTP_EPROTO, -12904, "malformed HTTP response")                         \
    X(CTL_HTTP_ETOOBIG, -12905, "HTTP response too large")                        \
    X(CTL_HTTP_ETIMEOUT, -12906, "API request timed out")                         \
    X(CTL_HTTP_ECLOSED, -12907, "connection closed before the response was complete")

enum ctl_http_err { CTL_HTTP_ERRORS(STRATA_ERR_ENUM) };

const char *ctl_http_strerror(int code);

#define CTL_HTTP_URLS_MAX 8
#define CTL_HTTP_BODY_MAX (64u << 20)

struct ctl_http;

/* Prepares a client for 'urls' (comma-separated "https://IP:PORT[/]"),
 * trusting the CA certificate at 'ca_path'; connects lazily. 'errmsg' says
 * what was wrong. */
int ctl_http_create(const char *urls, const char *ca_path, unsigned timeout_ms, struct ctl_http **out,
                    char *errmsg, size_t errmsg_size) STRATA_WARN_UNUSED;
void ctl_http_free(struct ctl_http *h);

/* Sends 'method' 'path' (with query) with an optional bearer 'token' and
 * JSON 'body' ('body_size' bytes, NULL for none) and waits for the
 * response: '*status' gets the HTTP status, 'resp' (reset first) the body.
 * On a connection that fails before the request is written, the next URL
 * is tried. Returns 0 or a CTL_HTTP_* / TLS_* code. */
int ctl_http_request(struct ctl_http *h, const char *method, const char *path, const char *token,
                     const char *body, size_t body_size, int *status, struct buf *resp) STRATA_WARN_UNUSED;

/* The base URL of the current connection (or the first one). */
const char *ctl_http_current_url(const struct ctl_http *h);

#endif
