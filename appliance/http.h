/* The HTTPS/1.1 server under the config role's REST API. Requests are parsed
 * by the nodejs http-parser library (never by hand), routed by method and
 * path pattern ("/virtual-network/{uuid}") to handlers that answer now or
 * later (after a store round trip), and answered strictly in order, one
 * request at a time per connection: while a request is in a handler or its
 * response is still being written, the connection reads nothing more, so
 * pipelined requests wait in the socket and memory per connection stays
 * bounded by the limits below plus lib/tls's write watermark.
 *
 * Two layers. An http_session is the pure per-connection state machine: it
 * is fed bytes and drives its transport through a small function table
 * (write with backpressure, pause reads, one timer, close), so tests and the
 * fuzzer run it without sockets. An http_server binds sessions to lib/tls
 * connections (TLS 1.3, no client certificates: clients authenticate with
 * bearer tokens) on a libuv loop, and enforces the connection limit.
 *
 * Defences: header bytes (431), body bytes (413, checked against
 * Content-Length before any body byte is read, and while de-chunking),
 * request deadline from the first byte to the last (408, then close: a
 * slowloris gains nothing by trickling), idle keep-alive timeout, write
 * stall timeout (a client that stops reading is dropped), connection count
 * (503), requests per connection. Errors are JSON:
 *   {"error": {"code": 413, "message": "...", "field": null}} */
#ifndef STRATA_APPLIANCE_HTTP_H
#define STRATA_APPLIANCE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "lib/err.h"
#include "lib/pki.h"

#define HTTP_ERRORS(X)                                                              \
    X(HTTP_EINVAL, -12001, "invalid HTTP argument")                                 \
    X(HTTP_ENOMEM, -12002, "out of memory in HTTP")                                 \
    X(HTTP_EPATTERN, -12003, "malformed route pattern")                             \
    X(HTTP_EEXIST, -12004, "route already registered for this method and pattern") \
    X(HTTP_ETOOMANY, -12005, "too many routes, segments or parameters")            \
    X(HTTP_EAGAIN, -12006, "transport write queue full; wait for drain")           \
    X(HTTP_ECLOSED, -12007, "connection closed")                                    \
    X(HTTP_ETLS, -12008, "TLS setup for the HTTP server failed")                    \
    X(HTTP_EHEADER, -12009, "header name or value not allowed in a response")

enum http_err { HTTP_ERRORS(STRATA_ERR_ENUM) };

const char *http_strerror(int code);

/* Methods the router knows; anything else is answered 501. */
enum http_method_id {
    HTTP_METHOD_GET,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_POST,
    HTTP_METHOD_PUT,
    HTTP_METHOD_PATCH,
    HTTP_METHOD_DELETE,
    HTTP_METHOD_OPTIONS,
    HTTP_METHOD_COUNT_, /* not a method */
};

/* Upper bounds of the fixed per-connection tables (no allocation per
 * request). Past them a request is refused: 431 for headers, 400 for
 * query parameters, 404 for path segments. */
#define HTTP_HEADERS_MAX 64      /* header lines per request */
#define HTTP_QUERY_MAX 64        /* query parameters per request */
#define HTTP_SEGMENTS_MAX 16     /* path and pattern segments */
#define HTTP_PARAMS_MAX 8        /* {param} segments per pattern */
#define HTTP_ROUTES_MAX 1024     /* routes per router */
#define HTTP_RESP_HEADERS_MAX 4096 /* bytes of extra response header lines */

/* Defaults for zero fields of struct http_limits. */
#define HTTP_DEFAULT_MAX_HEADER_SIZE (16u * 1024)
#define HTTP_DEFAULT_MAX_BODY_SIZE (8u * 1024 * 1024)
#define HTTP_DEFAULT_REQUEST_TIMEOUT_MS 10000
#define HTTP_DEFAULT_IDLE_TIMEOUT_MS 60000
#define HTTP_DEFAULT_WRITE_TIMEOUT_MS 30000
#define HTTP_DEFAULT_MAX_CONNECTIONS 1024
#define HTTP_DEFAULT_MAX_REQUESTS 10000

/* Per-connection limits; 0 selects the default. */
struct http_limits {
    size_t max_header_size;      /* request line + header lines (as parsed), bytes → 431 */
    size_t max_body_size;        /* body bytes after de-chunking → 413 */
    uint64_t request_timeout_ms; /* first byte to complete request → 408 + close */
    uint64_t idle_timeout_ms;    /* between requests on a kept-alive connection */
    uint64_t write_timeout_ms;   /* a response making no progress → close */
    size_t max_connections;      /* server only: beyond, 503 and close */
    size_t max_requests;         /* per connection; the last one says close */
};

/* One header line of a request, NUL-terminated as received. */
struct http_header {
    const char *name;
    const char *value;
};

/* A path parameter ('name' from the pattern) or a query parameter, both
 * percent-decoded and NUL-terminated. */
struct http_param {
    const char *name;
    const char *value;
};

/* A complete request, owned by its connection and valid until the handler
 * answers it with one of the http_respond*() calls, which every handler
 * must eventually make exactly once (also when the client has gone away in
 * between: the connection is freed then). Handlers only read it. */
struct http_request {
    enum http_method_id method; /* HEAD requests run GET handlers */
    const char *target;         /* raw request-target */
    const char *path;           /* raw path, without query or fragment */
    const char *query_string;   /* raw, after '?' ("" when none) */
    const struct http_param *params; /* path parameters, in pattern order */
    size_t params_len;
    const struct http_param *query; /* decoded; repeated keys repeat, in order */
    size_t query_len;
    const struct http_header *headers;
    size_t headers_len;
    const uint8_t *body; /* body_size bytes followed by a NUL (not counted) */
    size_t body_size;
    uint64_t seq; /* 1 for the connection's first request */
};

/* A handler: 'data' is what was registered with the route. */
typedef void (*http_handler_fn)(struct http_request *req, void *data);

/* ---- router ---- */

/* Method and path-pattern routes. Built before serving, then read-only;
 * one router may serve several servers. */
struct http_router;

int http_router_create(struct http_router **router) STRATA_WARN_UNUSED;
void http_router_free(struct http_router *router);
/* Registers 'fn' for 'method' on 'pattern': "/" or "/"-separated segments,
 * each a literal (matched against the percent-decoded path segment) or a
 * "{name}" parameter matching any non-empty segment. Routes are tried in
 * registration order. HEAD falls back to the GET handler (body dropped),
 * OPTIONS is answered 204 with Allow unless registered; a path some pattern
 * matches with another method gets 405 with Allow. HTTP_EPATTERN,
 * HTTP_EEXIST, HTTP_ETOOMANY, HTTP_ENOMEM. */
int http_router_add(struct http_router *router, enum http_method_id method, const char *pattern,
                    http_handler_fn fn, void *data) STRATA_WARN_UNUSED;

/* ---- requests and responses ---- */

/* The first header named 'name' (case-insensitive), or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);
/* The path parameter 'name', or NULL. */
const char *http_request_param(const struct http_request *req, const char *name);
/* The first value of query key 'name' ("" for "?name"), or NULL. */
const char *http_request_query(const struct http_request *req, const char *name);
/* The token of an "Authorization: Bearer <token>" header, or NULL. */
const char *http_request_bearer(const struct http_request *req);
/* True while the client is still connected (a late answer is otherwise
 * discarded). */
bool http_request_connected(const struct http_request *req);

/* Adds a response header line for the coming answer ('name' a token,
 * 'value' without CR/LF/NUL). Content-Length, Content-Type, Connection and
 * Date are written by the server. HTTP_EHEADER for a forbidden name or
 * byte, HTTP_ETOOMANY past HTTP_RESP_HEADERS_MAX bytes. */
int http_response_header(struct http_request *req, const char *name, const char *value) STRATA_WARN_UNUSED;
/* Answers 'req' with 'status' (200..599, else 500 is sent), a
 * Content-Type (NULL for none) and a copy of 'size' bytes of 'body'. 'req'
 * is invalid afterwards. Never fails from the caller's view: when the
 * client is gone the answer is dropped. */
void http_respond(struct http_request *req, int status, const char *content_type, const void *body,
                  size_t size);
/* Same, taking ownership of the malloc'd 'body' (freed with free()), which
 * is written without copying: for large documents (json_dumps output). */
void http_respond_owned(struct http_request *req, int status, const char *content_type, void *body,
                        size_t size);
/* Answers with application/json {"error": {"code": status, "message":
 * 'message', "field": 'field' or null}}. */
void http_respond_error(struct http_request *req, int status, const char *message, const char *field);

/* Writes the JSON error document for 'status', 'message' and 'field' (may
 * be NULL) into 'out' ('size' bytes, NUL-terminated, strings escaped and
 * truncated to fit). Returns the length written, excluding the NUL. */
size_t http_error_json(char *out, size_t size, int status, const char *message, const char *field);

/* ---- the per-connection state machine, without sockets ---- */

/* What a session needs from its transport. All calls come from inside
 * http_session_* functions. */
struct http_session_io {
    /* Queues a copy of 'size' bytes. 0; HTTP_EAGAIN when full (nothing
     * taken; the transport calls http_session_drained() later); any other
     * negative code when the transport is broken (the session then closes). */
    int (*write)(void *io, const void *data, size_t size);
    /* Stops (1) or resumes (0) calls to http_session_feed(). */
    void (*pause_reads)(void *io, int paused);
    /* Arms the session's single timer to call http_session_timeout() in
     * 'ms' milliseconds (replacing any armed one); 0 disarms it. */
    void (*timer)(void *io, uint64_t ms);
    /* Flushes what was written, then ends the connection; the transport
     * calls http_session_closed() once it is over. Called at most once. */
    void (*close)(void *io);
    /* The session is freed: 'io' will never be used again. May run inside
     * http_session_closed() or later, inside an http_respond*() call. */
    void (*release)(void *io);
};

struct http_session;

/* Creates a session serving 'router' under 'limits' (both must outlive it;
 * zero limits take defaults) over 'io'/'io_data'. It starts idle with the
 * idle timer armed. */
int http_session_create(const struct http_router *router, const struct http_limits *limits,
                        const struct http_session_io *io, void *io_data,
                        struct http_session **session) STRATA_WARN_UNUSED;
/* Bytes read from the client. Complete requests go to their handlers;
 * bytes beyond the request being handled are kept (reads are paused) until
 * its response is written. */
void http_session_feed(struct http_session *s, const uint8_t *data, size_t size);
/* The transport can take writes again after HTTP_EAGAIN. */
void http_session_drained(struct http_session *s);
/* The armed timer expired. */
void http_session_timeout(struct http_session *s);
/* The transport is gone (after close() or on its own). The session is
 * freed now, or when the handler holding its request answers. */
void http_session_closed(struct http_session *s);

/* ---- the HTTPS server ---- */

struct http_server_config {
    const struct pki_cert *ca;   /* the cluster CA (trust anchor of lib/tls) */
    const struct pki_cert *cert; /* the node's server certificate */
    const struct pki_key *key;
    const struct http_router *router; /* must outlive the server */
    struct http_limits limits;
    /* By default the handshake requires ALPN "http/1.1" (lib/tls refuses
     * clients that offer no ALPN). True: no ALPN at all, for clients that
     * never send it (wrk). */
    bool alpn_optional;
    uint64_t handshake_timeout_ms; /* 0: lib/tls's default */
};

struct http_server_stats {
    size_t connections;  /* open, including refused ones still closing */
    uint64_t accepted;   /* connections served */
    uint64_t refused;    /* connections answered 503 for the limit */
    uint64_t requests;   /* requests dispatched to handlers or answered */
    uint64_t write_waits; /* responses that had to wait for on_drain */
    size_t buffered_max; /* most bytes any session held in its buffers */
};

struct http_server;

/* Creates a server on 'loop' from 'config' (copied); not listening yet. */
int http_server_create(uv_loop_t *loop, const struct http_server_config *config,
                       struct http_server **server, char *errmsg, size_t errmsg_size) STRATA_WARN_UNUSED;
/* Listens on 'address' (IPv4/IPv6 literal) and 'port' (0: ephemeral).
 * Errors are lib/tls's or libuv's (e.g. UV_EADDRINUSE). */
int http_server_listen(struct http_server *server, const char *address, uint16_t port) STRATA_WARN_UNUSED;
/* Listens on the bound, listening socket '*fd' (from the supervisor);
 * takes ownership, '*fd' becomes -1. */
int http_server_listen_fd(struct http_server *server, int *fd) STRATA_WARN_UNUSED;
uint16_t http_server_port(const struct http_server *server);
void http_server_stats(const struct http_server *server, struct http_server_stats *stats);
/* Stops listening, closes every connection (flushing queued responses) and
 * frees the server once all are gone, including requests still held by
 * handlers; then calls 'on_closed(data)' ('on_closed' may be NULL). */
void http_server_close(struct http_server *server, void (*on_closed)(void *data), void *data);

#endif
