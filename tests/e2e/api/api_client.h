/* A small blocking HTTPS/1.1 client for the config role's tests: lib/tls on
 * a private libuv loop, one keep-alive connection, requests written by hand
 * and responses read by Content-Length (the server always sends it). One
 * client per thread. */
#ifndef STRATA_TEST_API_CLIENT_H
#define STRATA_TEST_API_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/tls.h"

struct api_resp {
    int status;
    char etag[64];     /* without quotes; "" when absent */
    char location[128];
    char *body;        /* NUL-terminated, malloc'd */
    size_t body_size;
    json_t *doc;       /* the body parsed, or NULL */
};

void api_resp_clear(struct api_resp *r);

struct api_client;

/* A client of https://'ip':'port' whose certificate must name 'peer'
 * ('tls' a client context with ALPN "http/1.1"; must outlive it). Connects
 * lazily. */
int api_client_create(struct tls_ctx *tls, const char *ip, uint16_t port, const char *peer,
                      unsigned timeout_ms, struct api_client **out);
void api_client_free(struct api_client *c);

/* Sends one request and reads its response into 'r' (cleared first).
 * 'token', 'if_match', 'body' may be NULL. Returns 0 when a response
 * arrived, else a negative TLS/libuv code or -1 for a timeout or a
 * malformed response (the connection is then dropped and the next request
 * reconnects). */
int api_client_request(struct api_client *c, const char *method, const char *path,
                       const char *token, const char *if_match, const void *body, size_t size,
                       struct api_resp *r);
/* Writes 'size' raw bytes and reads one response. */
int api_client_raw(struct api_client *c, const void *bytes, size_t size, struct api_resp *r);

#endif
