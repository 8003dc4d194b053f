/* The HTTPS/1.1 server of the config role (see http.h): the router, the
 * per-connection session state machine around nodejs http-parser, response
 * writing with transport backpressure, and the binding of sessions to
 * lib/tls connections on libuv. Untrusted bytes are only ever read by
 * http-parser and by the bounded decoders here, which index within the
 * lengths the parser reported. */
#include "appliance/http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <http_parser.h>

#include "lib/buf.h"
#include "lib/tls.h"

STRATA_ERR_DEFINE(http, HTTP_ERRORS)

#define HTTP_WRITE_CHUNK (64u * 1024)   /* bytes per transport write */
#define HTTP_KEEP_CAP (64u * 1024)      /* buffers above this are freed between requests */
#define HTTP_IN_MAX (256u * 1024)       /* unparsed input held while reads are paused */
#define HTTP_LINE_OVERHEAD 4            /* ": " and CRLF of a header line */
#define HTTP_REQLINE_OVERHEAD 16        /* method, spaces, version, CRLF */

static const char *const method_names[HTTP_METHOD_COUNT_] = {
    [HTTP_METHOD_GET] = "GET",       [HTTP_METHOD_HEAD] = "HEAD",
    [HTTP_METHOD_POST] = "POST",     [HTTP_METHOD_PUT] = "PUT",
    [HTTP_METHOD_PATCH] = "PATCH",   [HTTP_METHOD_DELETE] = "DELETE",
    [HTTP_METHOD_OPTIONS] = "OPTIONS",
};

/* ---------------------------------------------------------------- router */

struct route_seg {
    const char *text; /* literal, or the parameter name */
    bool param;
};

/* Invariant: segs_len <= HTTP_SEGMENTS_MAX; params_len counts the param
 * segments and is <= HTTP_PARAMS_MAX; segment texts point into 'storage'. */
struct route {
    enum http_method_id method;
    http_handler_fn fn;
    void *data;
    char *pattern; /* as registered */
    char *storage; /* the pattern split into NUL-terminated segments */
    struct route_seg segs[HTTP_SEGMENTS_MAX];
    size_t segs_len;
    size_t params_len;
};

struct http_router {
    struct route *routes;
    size_t routes_len;
    size_t routes_cap;
};

int http_router_create(struct http_router **out)
{
    if (!out) {
        return HTTP_EINVAL;
    }
    struct http_router *r = calloc(1, sizeof *r);
    if (!r) {
        return HTTP_ENOMEM;
    }
    *out = r;
    return 0;
}

void http_router_free(struct http_router *r)
{
    if (!r) {
        return;
    }
    for (size_t i = 0; i < r->routes_len; i++) {
        free(r->routes[i].pattern);
        free(r->routes[i].storage);
    }
    free(r->routes);
    free(r);
}

static bool pattern_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* Splits 'pattern' into 'rt'. HTTP_EPATTERN / HTTP_ETOOMANY / HTTP_ENOMEM. */
static int route_parse(struct route *rt, const char *pattern)
{
    if (pattern[0] != '/') {
        return HTTP_EPATTERN;
    }
    rt->pattern = strdup(pattern);
    rt->storage = strdup(pattern + 1);
    if (!rt->pattern || !rt->storage) {
        return HTTP_ENOMEM;
    }
    rt->segs_len = 0;
    rt->params_len = 0;
    if (rt->storage[0] == '\0') {
        return 0; /* "/" */
    }
    char *p = rt->storage;
    for (;;) {
        char *slash = strchr(p, '/');
        if (slash) {
            *slash = '\0';
        }
        size_t len = strlen(p);
        if (len == 0) {
            return HTTP_EPATTERN;
        }
        if (rt->segs_len == HTTP_SEGMENTS_MAX) {
            return HTTP_ETOOMANY;
        }
        struct route_seg *seg = &rt->segs[rt->segs_len++];
        if (p[0] == '{') {
            if (len < 3 || p[len - 1] != '}') {
                return HTTP_EPATTERN;
            }
            p[len - 1] = '\0';
            for (const char *c = p + 1; *c; c++) {
                if (!pattern_name_char(*c)) {
                    return HTTP_EPATTERN;
                }
            }
            if (rt->params_len == HTTP_PARAMS_MAX) {
                return HTTP_ETOOMANY;
            }
            seg->text = p + 1;
            seg->param = true;
            rt->params_len++;
        } else {
            for (const char *c = p; *c; c++) {
                if (*c == '{' || *c == '}' || (unsigned char)*c <= ' ' || *c == 0x7f) {
                    return HTTP_EPATTERN;
                }
            }
            seg->text = p;
            seg->param = false;
        }
        if (!slash) {
            return 0;
        }
        p = slash + 1;
    }
}

int http_router_add(struct http_router *r, enum http_method_id method, const char *pattern,
                    http_handler_fn fn, void *data)
{
    if (!r || !pattern || !fn || (unsigned)method >= HTTP_METHOD_COUNT_) {
        return HTTP_EINVAL;
    }
    for (size_t i = 0; i < r->routes_len; i++) {
        if (r->routes[i].method == method && strcmp(r->routes[i].pattern, pattern) == 0) {
            return HTTP_EEXIST;
        }
    }
    if (r->routes_len == HTTP_ROUTES_MAX) {
        return HTTP_ETOOMANY;
    }
    if (r->routes_len == r->routes_cap) {
        size_t cap = r->routes_cap ? r->routes_cap * 2 : 16;
        struct route *routes = realloc(r->routes, cap * sizeof *routes);
        if (!routes) {
            return HTTP_ENOMEM;
        }
        r->routes = routes;
        r->routes_cap = cap;
    }
    struct route rt;
    memset(&rt, 0, sizeof rt);
    rt.method = method;
    rt.fn = fn;
    rt.data = data;
    int rv = route_parse(&rt, pattern);
    if (rv != 0) {
        free(rt.pattern);
        free(rt.storage);
        return rv;
    }
    r->routes[r->routes_len++] = rt;
    return 0;
}

/* ------------------------------------------------------------ utilities */

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (uint8_t)(c | 0x20);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Percent-decodes 'size' bytes at 'src' into 'dst' (room for 'size' + 1),
 * NUL-terminated; '+' becomes a space when 'plus'. -1 for a bad escape or
 * a decoded NUL. */
static int percent_decode(const char *src, size_t size, char *dst, bool plus)
{
    size_t o = 0;
    for (size_t i = 0; i < size; i++) {
        uint8_t c = (uint8_t)src[i];
        if (c == '%') {
            if (size - i < 3) {
                return -1;
            }
            int hi = hex_value((uint8_t)src[i + 1]), lo = hex_value((uint8_t)src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return -1;
            }
            dst[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus) {
            dst[o++] = ' ';
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
    return 0;
}

/* Length of the valid UTF-8 sequence at 's' (NUL-terminated), 0 if none. */
static size_t utf8_seq(const uint8_t *s)
{
    uint8_t c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return n;
}

/* Writes 'in' as JSON string content into 'out' ('size' bytes, at least 1),
 * never splitting an escape or a character; invalid UTF-8 becomes U+FFFD.
 * Returns the bytes written (NUL-terminated). */
static size_t json_escape(char *out, size_t size, const char *in)
{
    size_t o = 0;
    const uint8_t *s = (const uint8_t *)in;
    while (*s) {
        char tmp[8];
        const char *piece = tmp;
        size_t n, adv = 1;
        if (*s == '"' || *s == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)*s;
            n = 2;
        } else if (*s < 0x20 || *s == 0x7f) {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", *s);
        } else if (*s < 0x80) {
            tmp[0] = (char)*s;
            n = 1;
        } else if ((adv = utf8_seq(s)) != 0) {
            piece = (const char *)s;
            n = adv;
        } else {
            piece = "\xef\xbf\xbd";
            n = 3;
            adv = 1;
        }
        if (o + n + 1 > size) {
            break;
        }
        memcpy(out + o, piece, n);
        o += n;
        s += adv;
    }
    out[o] = '\0';
    return o;
}

size_t http_error_json(char *out, size_t size, int status, const char *message, const char *field)
{
    char msg[512], fld[300];
    if (!out || size == 0) {
        return 0;
    }
    json_escape(msg, sizeof msg, message ? message : "");
    int n;
    if (field) {
        json_escape(fld, sizeof fld, field);
        n = snprintf(out, size, "{\"error\":{\"code\":%d,\"message\":\"%s\",\"field\":\"%s\"}}",
                     status, msg, fld);
    } else {
        n = snprintf(out, size, "{\"error\":{\"code\":%d,\"message\":\"%s\",\"field\":null}}",
                     status, msg);
    }
    if (n < 0 || (size_t)n >= size) {
        n = snprintf(out, size, "{\"error\":{\"code\":%d,\"message\":\"\",\"field\":null}}", status);
        if (n < 0 || (size_t)n >= size) {
            out[0] = '\0';
            return 0;
        }
    }
    return (size_t)n;
}

static const char *status_reason(int status)
{
    const char *s = http_status_str((enum http_status)status);
    return strcmp(s, "<unknown>") == 0 ? "Unknown" : s;
}

/* ----------------------------------------------------------- session */

enum session_state {
    SS_IDLE,     /* between requests */
    SS_READING,  /* a request has begun */
    SS_HANDLING, /* the request is with its handler (or an error answer is due) */
    SS_WRITING,  /* the answer waits for the transport to drain */
    SS_CLOSING,  /* closing: input ignored */
};

enum session_timer {
    ST_NONE,
    ST_IDLE,
    ST_REQUEST,
    ST_WRITE,
};

enum session_piece { PIECE_NONE, PIECE_URL, PIECE_FIELD, PIECE_VALUE };

/* Invariants: 'in' is empty unless state != SS_IDLE/SS_READING or reads are
 * paused; 'req' is valid exactly in SS_HANDLING after dispatch; wbody_owned
 * is NULL or the body being written; header offsets index into 'hdr'. */
struct http_session {
    const struct http_router *router;
    struct http_limits limits;
    const struct http_session_io *io;
    void *io_data;
    uint64_t *stat_requests; /* server counter, or NULL */
    size_t *stat_buffered_max;

    http_parser parser;
    enum session_state state;
    enum session_timer timer;
    bool io_gone;
    bool paused;
    bool in_process;
    bool close_after;
    bool head;
    bool dispatched; /* the handler has 'req' */
    int error_status;
    const char *error_message;

    /* request being read */
    struct buf hdr; /* url NUL (name NUL value NUL)* */
    size_t header_bytes;
    enum session_piece piece;
    size_t url_off;
    size_t hoff[HTTP_HEADERS_MAX][2];
    size_t headers_len;
    struct buf body;
    struct buf dec; /* path/query copies and decoded parameters */
    struct http_header headers[HTTP_HEADERS_MAX];
    struct http_param params[HTTP_PARAMS_MAX];
    struct http_param query[HTTP_QUERY_MAX];
    struct http_request req;
    uint64_t requests;

    struct buf in; /* input held while a request is handled */

    /* response */
    struct buf extra; /* header lines added by the handler */
    struct buf out;   /* status line, headers, copied body */
    void *wbody_owned;
    size_t wbody_size;
    size_t wpos;

    time_t date_sec;
    char date[40];
};

static const http_parser_settings parser_settings;

#ifdef STRATA_TEST_HOOKS
/* Checks the invariants stated at struct http_session; test builds run it
 * after every entry point. A violation is a bug here, never the peer's. */
static void session_audit(const struct http_session *s)
{
    static const enum session_timer timer_of[] = {
        [SS_IDLE] = ST_IDLE, [SS_READING] = ST_REQUEST, [SS_HANDLING] = ST_NONE,
        [SS_WRITING] = ST_WRITE, [SS_CLOSING] = ST_NONE,
    };
    bool ok = (unsigned)s->state <= SS_CLOSING && s->timer == timer_of[s->state] &&
              s->headers_len <= HTTP_HEADERS_MAX && s->body.size <= s->limits.max_body_size &&
              (s->in.size == 0 || s->paused || s->io_gone) &&
              (s->state != SS_CLOSING || s->in.size == 0) &&
              (!s->wbody_owned || s->state == SS_WRITING) &&
              (!s->dispatched || s->state == SS_HANDLING) &&
              s->wpos <= s->out.size + s->wbody_size;
    if (!ok) {
        abort();
    }
}
#else
static void session_audit(const struct http_session *s)
{
    (void)s;
}
#endif

static void session_dispatch(struct http_session *s);
static void session_send(struct http_session *s, int status, const char *content_type,
                         const void *body, size_t size, void *owned);

static void session_set_timer(struct http_session *s, enum session_timer kind)
{
    uint64_t ms = 0;
    switch (kind) {
    case ST_NONE:
        if (s->timer == ST_NONE) {
            return;
        }
        break;
    case ST_IDLE:
        ms = s->limits.idle_timeout_ms;
        break;
    case ST_REQUEST:
        ms = s->limits.request_timeout_ms;
        break;
    case ST_WRITE:
        ms = s->limits.write_timeout_ms;
        break;
    }
    s->timer = kind;
    if (!s->io_gone) {
        s->io->timer(s->io_data, ms);
    }
}

static void session_pause(struct http_session *s, bool paused)
{
    if (s->paused == paused || s->io_gone) {
        return;
    }
    s->paused = paused;
    s->io->pause_reads(s->io_data, paused ? 1 : 0);
}

static void session_close(struct http_session *s)
{
    if (s->state == SS_CLOSING) {
        return;
    }
    s->state = SS_CLOSING;
    session_set_timer(s, ST_NONE);
    buf_reset(&s->in);
    if (!s->io_gone) {
        s->io->close(s->io_data);
    }
}

static void buf_trim(struct buf *b)
{
    if (b->cap > HTTP_KEEP_CAP) {
        size_t limit = b->limit;
        buf_destroy(b);
        buf_init(b, limit);
    } else {
        buf_reset(b);
    }
}

static size_t session_buffered(const struct http_session *s)
{
    return s->hdr.cap + s->body.cap + s->dec.cap + s->in.cap + s->extra.cap + s->out.cap +
           (s->wbody_owned ? s->wbody_size : 0);
}

static void session_free(struct http_session *s)
{
    buf_destroy(&s->hdr);
    buf_destroy(&s->body);
    buf_destroy(&s->dec);
    buf_destroy(&s->in);
    buf_destroy(&s->extra);
    buf_destroy(&s->out);
    free(s->wbody_owned);
    const struct http_session_io *io = s->io;
    void *io_data = s->io_data;
    free(s);
    io->release(io_data);
}

static void limits_resolve(struct http_limits *l, const struct http_limits *in)
{
    *l = in ? *in : (struct http_limits){0};
    if (!l->max_header_size) {
        l->max_header_size = HTTP_DEFAULT_MAX_HEADER_SIZE;
    }
    if (!l->max_body_size) {
        l->max_body_size = HTTP_DEFAULT_MAX_BODY_SIZE;
    }
    if (!l->request_timeout_ms) {
        l->request_timeout_ms = HTTP_DEFAULT_REQUEST_TIMEOUT_MS;
    }
    if (!l->idle_timeout_ms) {
        l->idle_timeout_ms = HTTP_DEFAULT_IDLE_TIMEOUT_MS;
    }
    if (!l->write_timeout_ms) {
        l->write_timeout_ms = HTTP_DEFAULT_WRITE_TIMEOUT_MS;
    }
    if (!l->max_connections) {
        l->max_connections = HTTP_DEFAULT_MAX_CONNECTIONS;
    }
    if (!l->max_requests) {
        l->max_requests = HTTP_DEFAULT_MAX_REQUESTS;
    }
}

int http_session_create(const struct http_router *router, const struct http_limits *limits,
                        const struct http_session_io *io, void *io_data,
                        struct http_session **out)
{
    if (!router || !io || !io->write || !io->pause_reads || !io->timer || !io->close ||
        !io->release || !out) {
        return HTTP_EINVAL;
    }
    struct http_session *s = calloc(1, sizeof *s);
    if (!s) {
        return HTTP_ENOMEM;
    }
    s->router = router;
    limits_resolve(&s->limits, limits);
    s->io = io;
    s->io_data = io_data;
    http_parser_init(&s->parser, HTTP_REQUEST);
    s->parser.data = s;
    buf_init(&s->hdr, s->limits.max_header_size * 2 + 2 * HTTP_HEADERS_MAX + 64);
    buf_init(&s->body, s->limits.max_body_size + 1);
    buf_init(&s->dec, 0);
    buf_init(&s->in, HTTP_IN_MAX);
    buf_init(&s->extra, HTTP_RESP_HEADERS_MAX);
    buf_init(&s->out, 0);
    s->state = SS_IDLE;
    *out = s;
    session_set_timer(s, ST_IDLE);
    return 0;
}

/* ---- parser callbacks: accumulate one request within the limits ---- */

static int session_refuse(struct http_session *s, int status, const char *message)
{
    if (!s->error_status) {
        s->error_status = status;
        s->error_message = message;
    }
    return -1;
}

static int session_account(struct http_session *s, size_t size)
{
    s->header_bytes += size;
    if (s->header_bytes > s->limits.max_header_size) {
        return session_refuse(s, 431, "request header fields too large");
    }
    return 0;
}

/* Ends the current piece with a NUL and starts 'next'. */
static int session_piece(struct http_session *s, enum session_piece next)
{
    if (s->piece == next) {
        return 0;
    }
    if (s->piece != PIECE_NONE && buf_put_u8(&s->hdr, 0) != 0) {
        return session_refuse(s, 431, "request header fields too large");
    }
    if (next == PIECE_FIELD) {
        if (s->headers_len == HTTP_HEADERS_MAX) {
            return session_refuse(s, 431, "too many header fields");
        }
        if (session_account(s, HTTP_LINE_OVERHEAD) != 0) {
            return -1;
        }
        s->hoff[s->headers_len][0] = s->hdr.size;
        s->hoff[s->headers_len][1] = s->hdr.size;
        s->headers_len++;
    } else if (next == PIECE_VALUE && s->headers_len > 0) {
        s->hoff[s->headers_len - 1][1] = s->hdr.size;
    }
    s->piece = next;
    return 0;
}

static int session_append(struct http_session *s, enum session_piece piece, const char *at,
                          size_t size)
{
    if (session_piece(s, piece) != 0 || session_account(s, size) != 0) {
        return -1;
    }
    if (buf_put(&s->hdr, at, size) != 0) {
        return session_refuse(s, 431, "request header fields too large");
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_session *s = p->data;
    buf_reset(&s->hdr);
    buf_reset(&s->body);
    s->header_bytes = HTTP_REQLINE_OVERHEAD;
    s->piece = PIECE_NONE;
    s->url_off = 0;
    s->headers_len = 0;
    s->error_status = 0;
    s->error_message = NULL;
    s->head = false;
    s->state = SS_READING;
    session_set_timer(s, ST_REQUEST);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t size)
{
    return session_append(p->data, PIECE_URL, at, size);
}

static int on_header_field(http_parser *p, const char *at, size_t size)
{
    return session_append(p->data, PIECE_FIELD, at, size);
}

static int on_header_value(http_parser *p, const char *at, size_t size)
{
    return session_append(p->data, PIECE_VALUE, at, size);
}

static const char *session_header_raw(const struct http_session *s, const char *name)
{
    for (size_t i = 0; i < s->headers_len; i++) {
        if (strcasecmp((const char *)s->hdr.data + s->hoff[i][0], name) == 0) {
            return (const char *)s->hdr.data + s->hoff[i][1];
        }
    }
    return NULL;
}

static int on_headers_complete(http_parser *p)
{
    struct http_session *s = p->data;
    if (s->piece == PIECE_NONE) {
        return session_refuse(s, 400, "malformed request line");
    }
    if (s->piece == PIECE_FIELD) {
        /* A field with no value at all ("Name:\r\n"): empty value. */
        if (session_piece(s, PIECE_VALUE) != 0) {
            return -1;
        }
    }
    if (buf_put_u8(&s->hdr, 0) != 0) {
        return session_refuse(s, 431, "request header fields too large");
    }
    s->piece = PIECE_NONE;
    if (p->upgrade) {
        s->close_after = true; /* no protocol switch: answer, then close */
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > s->limits.max_body_size) {
        return session_refuse(s, 413, "request body too large");
    }
    const char *expect = session_header_raw(s, "Expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0) {
            return session_refuse(s, 417, "unsupported expectation");
        }
        if (p->http_major == 1 && p->http_minor >= 1 && !s->io_gone) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            /* When the queue is full the client sends the body anyway after
             * its own wait; nothing to undo. */
            (void)s->io->write(s->io_data, cont, sizeof cont - 1);
        }
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > 0 &&
        buf_reserve(&s->body, (size_t)p->content_length + 1) != 0) {
        return session_refuse(s, 503, "out of memory for the request body");
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t size)
{
    struct http_session *s = p->data;
    if (size > s->limits.max_body_size - s->body.size) {
        return session_refuse(s, 413, "request body too large");
    }
    if (buf_put(&s->body, at, size) != 0) {
        return session_refuse(s, 503, "out of memory for the request body");
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Answers a request that cannot be read to its end, then closes. */
static void session_fail(struct http_session *s, int status, const char *message)
{
    char json[640];
    s->state = SS_HANDLING;
    s->dispatched = false;
    s->close_after = true;
    s->head = false;
    session_set_timer(s, ST_NONE);
    size_t n = http_error_json(json, sizeof json, status, message, NULL);
    session_send(s, status, "application/json", json, n, NULL);
}

static void session_parse_error(struct http_session *s, enum http_errno e)
{
    if (s->error_status) {
        session_fail(s, s->error_status, s->error_message);
    } else if (e == HPE_HEADER_OVERFLOW) {
        session_fail(s, 431, "request header fields too large");
    } else if (e == HPE_INVALID_METHOD) {
        session_fail(s, 400, "malformed request line: unknown method");
    } else {
        session_fail(s, 400, http_errno_description(e));
    }
}

/* Parses 'size' bytes at 'data' while the session accepts input; returns
 * the bytes consumed (all of them after an error: the rest is discarded). */
static size_t session_parse(struct http_session *s, const uint8_t *data, size_t size)
{
    size_t done = 0;
    while (done < size && (s->state == SS_IDLE || s->state == SS_READING)) {
        size_t n = http_parser_execute(&s->parser, &parser_settings, (const char *)data + done,
                                       size - done);
        done += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&s->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&s->parser, 0);
            session_dispatch(s);
            continue;
        }
        if (e != HPE_OK) {
            session_parse_error(s, e);
            return size;
        }
        if (n == 0) {
            break; /* no progress without an error: stop rather than spin */
        }
    }
    return done;
}

/* Runs the input held in 'in' while the session accepts it; then resumes
 * reads and arms the idle timer as appropriate. */
static void session_pump(struct http_session *s)
{
    s->in_process = true;
    while (s->in.size > 0 && (s->state == SS_IDLE || s->state == SS_READING)) {
        size_t n = session_parse(s, s->in.data, s->in.size);
        buf_consume(&s->in, n);
        if (n == 0) {
            break;
        }
    }
    s->in_process = false;
    if (s->state == SS_IDLE || s->state == SS_READING) {
        if (s->in.size == 0) {
            session_pause(s, false);
        }
        if (s->state == SS_IDLE && s->timer != ST_IDLE) {
            session_set_timer(s, ST_IDLE);
        }
    }
    session_audit(s);
}

void http_session_feed(struct http_session *s, const uint8_t *data, size_t size)
{
    if (!s || size == 0 || s->state == SS_CLOSING || s->io_gone) {
        return;
    }
    if (s->in.size > 0 || (s->state != SS_IDLE && s->state != SS_READING) || s->in_process) {
        if (buf_put(&s->in, data, size) != 0) {
            session_close(s); /* the transport ignored pause_reads */
            return;
        }
        session_pause(s, true);
        return;
    }
    s->in_process = true;
    size_t n = session_parse(s, data, size);
    s->in_process = false;
    if (n < size && s->state != SS_CLOSING) {
        if (buf_put(&s->in, data + n, size - n) != 0) {
            session_close(s);
            return;
        }
        session_pause(s, true);
    }
    if (s->state == SS_IDLE && s->timer != ST_IDLE) {
        session_set_timer(s, ST_IDLE);
    }
    session_audit(s);
}

/* ---- dispatch ---- */

static bool method_from_parser(unsigned m, enum http_method_id *out)
{
    switch (m) {
    case HTTP_GET:
        *out = HTTP_METHOD_GET;
        return true;
    case HTTP_HEAD:
        *out = HTTP_METHOD_HEAD;
        return true;
    case HTTP_POST:
        *out = HTTP_METHOD_POST;
        return true;
    case HTTP_PUT:
        *out = HTTP_METHOD_PUT;
        return true;
    case HTTP_PATCH:
        *out = HTTP_METHOD_PATCH;
        return true;
    case HTTP_DELETE:
        *out = HTTP_METHOD_DELETE;
        return true;
    case HTTP_OPTIONS:
        *out = HTTP_METHOD_OPTIONS;
        return true;
    default:
        return false;
    }
}

/* Appends 'size' bytes and a NUL to 'dec' (room reserved beforehand). */
static char *dec_put(struct buf *dec, const char *src, size_t size)
{
    char *at = (char *)dec->data + dec->size;
    memcpy(at, src, size);
    at[size] = '\0';
    dec->size += size + 1;
    return at;
}

/* Splits the query string into decoded pairs. -1 on a bad escape or too
 * many pairs. */
static int session_parse_query(struct http_session *s, const char *q)
{
    s->req.query_len = 0;
    while (*q) {
        size_t len = strcspn(q, "&");
        if (len > 0) {
            if (s->req.query_len == HTTP_QUERY_MAX) {
                return -1;
            }
            const char *eq = memchr(q, '=', len);
            size_t klen = eq ? (size_t)(eq - q) : len;
            char *key = (char *)s->dec.data + s->dec.size;
            if (percent_decode(q, klen, key, true) != 0) {
                return -1;
            }
            s->dec.size += strlen(key) + 1;
            char *val = (char *)s->dec.data + s->dec.size;
            if (eq) {
                if (percent_decode(eq + 1, len - klen - 1, val, true) != 0) {
                    return -1;
                }
            } else {
                val[0] = '\0';
            }
            s->dec.size += strlen(val) + 1;
            s->query[s->req.query_len].name = key;
            s->query[s->req.query_len].value = val;
            s->req.query_len++;
        }
        q += len;
        if (*q == '&') {
            q++;
        }
    }
    return 0;
}

/* The Allow header value for the methods in 'mask'. */
static void allow_value(unsigned mask, char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    if (mask & (1u << HTTP_METHOD_GET)) {
        mask |= 1u << HTTP_METHOD_HEAD;
    }
    mask |= 1u << HTTP_METHOD_OPTIONS;
    for (unsigned m = 0; m < HTTP_METHOD_COUNT_; m++) {
        if (mask & (1u << m)) {
            int n = snprintf(out + o, size - o, "%s%s", o ? ", " : "", method_names[m]);
            if (n < 0 || (size_t)n >= size - o) {
                return;
            }
            o += (size_t)n;
        }
    }
}

static void session_dispatch(struct http_session *s)
{
    struct http_request *req = &s->req;
    s->state = SS_HANDLING;
    s->dispatched = false;
    s->requests++;
    if (s->stat_requests) {
        (*s->stat_requests)++;
    }
    session_set_timer(s, ST_NONE);
    if (!http_should_keep_alive(&s->parser) || s->requests >= s->limits.max_requests) {
        s->close_after = true;
    }
    if (buf_put_u8(&s->body, 0) != 0) {
        session_fail(s, 503, "out of memory for the request body");
        return;
    }
    s->body.size--;

    for (size_t i = 0; i < s->headers_len; i++) {
        s->headers[i].name = (const char *)s->hdr.data + s->hoff[i][0];
        s->headers[i].value = (const char *)s->hdr.data + s->hoff[i][1];
    }
    const char *target = (const char *)s->hdr.data + s->url_off;
    size_t target_len = strlen(target);
    memset(req, 0, sizeof *req);
    req->target = target;
    req->headers = s->headers;
    req->headers_len = s->headers_len;
    req->body = s->body.data;
    req->body_size = s->body.size;
    req->params = s->params;
    req->query = s->query;
    req->seq = s->requests;

    enum http_method_id method;
    if (!method_from_parser(s->parser.method, &method)) {
        req->method = HTTP_METHOD_GET;
        req->path = req->query_string = "";
        s->close_after = true;
        http_respond_error(req, 501, "this server does not support the method", NULL);
        return;
    }
    req->method = method;
    s->head = method == HTTP_METHOD_HEAD;

    /* Worst case: path and query copies, decoded segments and pairs, NULs. */
    buf_reset(&s->dec);
    if (buf_reserve(&s->dec, 3 * target_len + 2 * HTTP_QUERY_MAX + HTTP_SEGMENTS_MAX + 8) != 0) {
        session_fail(s, 503, "out of memory for the request target");
        return;
    }
    const char *path, *query;
    size_t path_len, query_len;
    if (target[0] == '/') {
        path = target;
        path_len = strcspn(target, "?#");
        query = target + path_len;
        query_len = 0;
        if (*query == '?') {
            query++;
            query_len = strcspn(query, "#");
        }
    } else if (strcmp(target, "*") == 0 && method == HTTP_METHOD_OPTIONS) {
        req->path = req->query_string = "";
        char allow[96];
        allow_value((1u << HTTP_METHOD_COUNT_) - 1, allow, sizeof allow);
        if (http_response_header(req, "Allow", allow) != 0) {
            session_fail(s, 500, "cannot build the answer");
            return;
        }
        http_respond(req, 204, NULL, NULL, 0);
        return;
    } else {
        struct http_parser_url u;
        http_parser_url_init(&u);
        if (http_parser_parse_url(target, target_len, 0, &u) != 0 ||
            !(u.field_set & (1 << UF_PATH))) {
            req->path = req->query_string = "";
            http_respond_error(req, 400, "malformed request target", NULL);
            return;
        }
        path = target + u.field_data[UF_PATH].off;
        path_len = u.field_data[UF_PATH].len;
        query = target + u.field_data[UF_QUERY].off;
        query_len = (u.field_set & (1 << UF_QUERY)) ? u.field_data[UF_QUERY].len : 0;
    }
    req->path = dec_put(&s->dec, path, path_len);
    req->query_string = dec_put(&s->dec, query, query_len);

    /* Decode the path segments. */
    const char *segs[HTTP_SEGMENTS_MAX];
    size_t segs_len = 0;
    bool too_deep = false;
    const char *p = req->path + 1;
    if (req->path[0] == '/' && *p != '\0') {
        for (;;) {
            size_t len = strcspn(p, "/");
            if (segs_len == HTTP_SEGMENTS_MAX) {
                too_deep = true;
                break;
            }
            char *seg = (char *)s->dec.data + s->dec.size;
            if (percent_decode(p, len, seg, false) != 0) {
                http_respond_error(req, 400, "malformed percent-encoding in the path", NULL);
                return;
            }
            s->dec.size += strlen(seg) + 1;
            segs[segs_len++] = seg;
            p += len;
            if (*p != '/') {
                break;
            }
            p++;
        }
    }
    if (session_parse_query(s, req->query_string) != 0) {
        http_respond_error(req, 400, "malformed or too many query parameters", NULL);
        return;
    }

    const struct route *found = NULL, *get = NULL;
    unsigned mask = 0;
    for (size_t i = 0; i < s->router->routes_len && !too_deep; i++) {
        const struct route *rt = &s->router->routes[i];
        if (rt->segs_len != segs_len) {
            continue;
        }
        size_t k = 0;
        for (; k < segs_len; k++) {
            if (rt->segs[k].param ? segs[k][0] == '\0' : strcmp(rt->segs[k].text, segs[k]) != 0) {
                break;
            }
        }
        if (k < segs_len) {
            continue;
        }
        mask |= 1u << rt->method;
        if (!found && rt->method == method) {
            found = rt;
        }
        if (!get && rt->method == HTTP_METHOD_GET) {
            get = rt;
        }
    }
    if (!found && method == HTTP_METHOD_HEAD) {
        found = get;
    }
    if (!found) {
        if (mask == 0) {
            http_respond_error(req, 404, "no such resource", NULL);
            return;
        }
        char allow[96];
        allow_value(mask, allow, sizeof allow);
        if (http_response_header(req, "Allow", allow) != 0) {
            session_fail(s, 500, "cannot build the answer");
            return;
        }
        if (method == HTTP_METHOD_OPTIONS) {
            http_respond(req, 204, NULL, NULL, 0);
        } else {
            http_respond_error(req, 405, "method not allowed", NULL);
        }
        return;
    }
    size_t np = 0;
    for (size_t k = 0; k < segs_len; k++) {
        if (found->segs[k].param) {
            s->params[np].name = found->segs[k].text;
            s->params[np].value = segs[k];
            np++;
        }
    }
    req->params_len = np;
    s->dispatched = true;
    found->fn(req, found->data);
}

/* ---- responses ---- */

static struct http_session *session_of(struct http_request *req)
{
    return (struct http_session *)((char *)req - offsetof(struct http_session, req));
}

static const struct http_session *session_of_const(const struct http_request *req)
{
    return (const struct http_session *)((const char *)req - offsetof(struct http_session, req));
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    if (!req || !name) {
        return NULL;
    }
    for (size_t i = 0; i < req->headers_len; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0) {
            return req->headers[i].value;
        }
    }
    return NULL;
}

const char *http_request_param(const struct http_request *req, const char *name)
{
    if (!req || !name) {
        return NULL;
    }
    for (size_t i = 0; i < req->params_len; i++) {
        if (strcmp(req->params[i].name, name) == 0) {
            return req->params[i].value;
        }
    }
    return NULL;
}

const char *http_request_query(const struct http_request *req, const char *name)
{
    if (!req || !name) {
        return NULL;
    }
    for (size_t i = 0; i < req->query_len; i++) {
        if (strcmp(req->query[i].name, name) == 0) {
            return req->query[i].value;
        }
    }
    return NULL;
}

const char *http_request_bearer(const struct http_request *req)
{
    const char *v = http_request_header(req, "Authorization");
    if (!v || strncasecmp(v, "Bearer ", 7) != 0) {
        return NULL;
    }
    v += 7;
    while (*v == ' ') {
        v++;
    }
    return *v ? v : NULL;
}

bool http_request_connected(const struct http_request *req)
{
    return req && !session_of_const(req)->io_gone;
}

static bool token_char(char c)
{
    return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int http_response_header(struct http_request *req, const char *name, const char *value)
{
    if (!req || !name || !value || !name[0]) {
        return HTTP_EINVAL;
    }
    for (const char *c = name; *c; c++) {
        if (!token_char(*c)) {
            return HTTP_EHEADER;
        }
    }
    for (const char *c = value; *c; c++) {
        if ((*c == '\r' || *c == '\n')) {
            return HTTP_EHEADER;
        }
    }
    static const char *const reserved[] = {"Content-Length", "Content-Type", "Connection",
                                           "Date", "Transfer-Encoding"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        if (strcasecmp(name, reserved[i]) == 0) {
            return HTTP_EHEADER;
        }
    }
    struct http_session *s = session_of(req);
    size_t nl = strlen(name), vl = strlen(value);
    if (buf_reserve(&s->extra, nl + vl + 4) != 0) {
        return HTTP_ETOOMANY;
    }
    memcpy(s->extra.data + s->extra.size, name, nl);
    memcpy(s->extra.data + s->extra.size + nl, ": ", 2);
    memcpy(s->extra.data + s->extra.size + nl + 2, value, vl);
    memcpy(s->extra.data + s->extra.size + nl + 2 + vl, "\r\n", 2);
    s->extra.size += nl + vl + 4;
    return 0;
}

static const char *session_date(struct http_session *s)
{
    time_t now = time(NULL);
    if (now != s->date_sec || !s->date[0]) {
        struct tm tm;
        s->date_sec = now;
        if (!gmtime_r(&now, &tm) ||
            strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0) {
            snprintf(s->date, sizeof s->date, "Thu, 01 Jan 1970 00:00:00 GMT");
        }
    }
    return s->date;
}

static void session_response_done(struct http_session *s)
{
    free(s->wbody_owned);
    s->wbody_owned = NULL;
    s->wbody_size = 0;
    s->wpos = 0;
    buf_trim(&s->out);
    buf_reset(&s->extra);
    buf_trim(&s->body);
    buf_trim(&s->hdr);
    buf_trim(&s->dec);
    s->dispatched = false;
    if (s->close_after) {
        session_close(s);
        return;
    }
    s->state = SS_IDLE;
    session_set_timer(s, ST_IDLE);
    if (!s->in_process) {
        session_pump(s);
    }
}

/* Writes the rest of the response; stops at HTTP_EAGAIN. */
static void session_write(struct http_session *s)
{
    for (;;) {
        const uint8_t *p;
        size_t n;
        if (s->wpos < s->out.size) {
            p = s->out.data + s->wpos;
            n = s->out.size - s->wpos;
        } else if (s->wpos - s->out.size < s->wbody_size) {
            size_t off = s->wpos - s->out.size;
            p = (const uint8_t *)s->wbody_owned + off;
            n = s->wbody_size - off;
        } else {
            break;
        }
        if (n > HTTP_WRITE_CHUNK) {
            n = HTTP_WRITE_CHUNK;
        }
        int rv = s->io->write(s->io_data, p, n);
        if (rv == HTTP_EAGAIN) {
            s->state = SS_WRITING;
            session_set_timer(s, ST_WRITE);
            session_audit(s);
            return;
        }
        if (rv != 0) {
            session_close(s);
            return;
        }
        s->wpos += n;
    }
    session_response_done(s);
    session_audit(s);
}

/* Appenders for the response head; the caller reserved the room. */
static void put_str(char *o, size_t *len, const char *str)
{
    size_t n = strlen(str);
    memcpy(o + *len, str, n);
    *len += n;
}

#define put_lit(o, len, lit) (memcpy((o) + *(len), (lit), sizeof(lit) - 1), *(len) += sizeof(lit) - 1)

static void put_uint(char *o, size_t *len, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) {
        o[(*len)++] = tmp[--n];
    }
}

static void session_send(struct http_session *s, int status, const char *content_type,
                         const void *body, size_t size, void *owned)
{
    if (s->state != SS_HANDLING) {
        abort(); /* answered twice, or outside a handler: a programming error */
    }
    if (s->io_gone) {
        free(owned);
        session_free(s); /* the client left while the handler worked */
        return;
    }
    s->dispatched = false;
    if (status < 200 || status > 599) {
        status = 500;
        content_type = NULL;
        size = 0;
        free(owned);
        owned = NULL;
    }
    bool no_body = status == 204 || status == 304;
    bool send_body = !no_body && !s->head && size > 0;
    if (!send_body) {
        free(owned);
        owned = NULL;
    }
    size_t ct_len = content_type ? strlen(content_type) : 0;
    if (content_type && strpbrk(content_type, "\r\n")) {
        content_type = NULL;
        ct_len = 0;
    }
    size_t need = 256 + ct_len + s->extra.size + (send_body && !owned ? size : 0);
    buf_reset(&s->out);
    if (buf_reserve(&s->out, need) != 0) {
        free(owned);
        session_close(s);
        return;
    }
    char *o = (char *)s->out.data;
    size_t len = 0;
    put_lit(o, &len, "HTTP/1.1 ");
    put_uint(o, &len, (uint64_t)status);
    put_lit(o, &len, " ");
    put_str(o, &len, status_reason(status));
    put_lit(o, &len, "\r\nDate: ");
    put_str(o, &len, session_date(s));
    put_lit(o, &len, "\r\n");
    if (content_type) {
        put_lit(o, &len, "Content-Type: ");
        memcpy(o + len, content_type, ct_len);
        len += ct_len;
        put_lit(o, &len, "\r\n");
    }
    if (!no_body) {
        put_lit(o, &len, "Content-Length: ");
        put_uint(o, &len, size);
        put_lit(o, &len, "\r\n");
    }
    if (s->extra.size > 0) {
        memcpy(o + len, s->extra.data, s->extra.size);
        len += s->extra.size;
    }
    if (s->close_after) {
        memcpy(o + len, "Connection: close\r\n\r\n", 21);
        len += 21;
    } else if (s->parser.http_major == 1 && s->parser.http_minor == 0) {
        memcpy(o + len, "Connection: keep-alive\r\n\r\n", 26);
        len += 26;
    } else {
        memcpy(o + len, "\r\n", 2);
        len += 2;
    }
    if (send_body && !owned) {
        memcpy(o + len, body, size);
        len += size;
    }
    s->out.size = len;
    s->wbody_owned = owned;
    s->wbody_size = owned ? size : 0;
    s->wpos = 0;
    if (s->stat_buffered_max && session_buffered(s) > *s->stat_buffered_max) {
        *s->stat_buffered_max = session_buffered(s);
    }
    session_write(s);
}

void http_respond(struct http_request *req, int status, const char *content_type, const void *body,
                  size_t size)
{
    if (!req) {
        return;
    }
    if (!body) {
        size = 0;
    }
    session_send(session_of(req), status, content_type, body, size, NULL);
}

void http_respond_owned(struct http_request *req, int status, const char *content_type, void *body,
                        size_t size)
{
    if (!req) {
        free(body);
        return;
    }
    if (!body) {
        size = 0;
    }
    session_send(session_of(req), status, content_type, body, size, body);
}

void http_respond_error(struct http_request *req, int status, const char *message, const char *field)
{
    char json[1024];
    if (!req) {
        return;
    }
    size_t n = http_error_json(json, sizeof json, status, message, field);
    session_send(session_of(req), status, "application/json", json, n, NULL);
}

void http_session_drained(struct http_session *s)
{
    if (s && s->state == SS_WRITING && !s->io_gone) {
        session_write(s);
        session_audit(s);
    }
}

void http_session_timeout(struct http_session *s)
{
    if (!s || s->io_gone) {
        return;
    }
    enum session_timer kind = s->timer;
    s->timer = ST_NONE;
    switch (kind) {
    case ST_NONE:
        return;
    case ST_IDLE:
        if (s->state == SS_IDLE) {
            session_close(s);
        }
        return;
    case ST_REQUEST:
        if (s->state == SS_READING) {
            buf_reset(&s->in);
            session_fail(s, 408, "request not received in time");
        }
        return;
    case ST_WRITE:
        if (s->state == SS_WRITING) {
            session_close(s);
        }
        return;
    }
}

void http_session_closed(struct http_session *s)
{
    if (!s) {
        return;
    }
    s->io_gone = true;
    if (s->state == SS_HANDLING && s->dispatched) {
        return; /* freed when the handler answers */
    }
    session_free(s);
}

/* ------------------------------------------------------------ server */

/* A session bound to a TLS connection. Invariant: refs counts the TLS side
 * (until the timer handle is closed) and the session (until released). */
struct http_link {
    struct http_server *server;
    struct tls_conn *tls;
    struct http_session *session;
    uv_timer_t timer;
    /* The session's deadline in loop time (0: none) and when the uv timer
     * is due (0: not armed). Deadlines move on every request; the uv timer
     * is only restarted when a deadline comes earlier than it is due, and
     * re-armed for the remainder when it fires early. */
    uint64_t deadline;
    uint64_t timer_due;
    struct http_link *prev, *next;
    int refs;
    bool refused;
    bool timer_live;
};

struct http_server {
    uv_loop_t *loop;
    struct tls_ctx *ctx;
    struct tls_server *tls;
    const struct http_router *router;
    struct http_limits limits;
    struct http_link *links;
    size_t served; /* live non-refused TLS connections */
    struct http_server_stats stats;
    bool closing;
    bool listener_closed;
    void (*on_closed)(void *data);
    void *on_closed_data;
};

static void server_maybe_finish(struct http_server *srv)
{
    if (!srv->closing || !srv->listener_closed || srv->links) {
        return;
    }
    void (*cb)(void *) = srv->on_closed;
    void *data = srv->on_closed_data;
    tls_ctx_free(srv->ctx);
    free(srv);
    if (cb) {
        cb(data);
    }
}

static void link_unref(struct http_link *l)
{
    if (--l->refs > 0) {
        return;
    }
    struct http_server *srv = l->server;
    if (l->prev) {
        l->prev->next = l->next;
    } else {
        srv->links = l->next;
    }
    if (l->next) {
        l->next->prev = l->prev;
    }
    free(l);
    server_maybe_finish(srv);
}

static int link_io_write(void *io, const void *data, size_t size)
{
    struct http_link *l = io;
    if (!l->tls) {
        return HTTP_ECLOSED;
    }
    int rv = tls_conn_write(l->tls, data, size);
    if (rv == TLS_EAGAIN) {
        l->server->stats.write_waits++;
        return HTTP_EAGAIN;
    }
    if (rv != 0) {
        return HTTP_ECLOSED;
    }
    size_t held = tls_conn_queued_size(l->tls) + (l->session ? session_buffered(l->session) : 0);
    if (held > l->server->stats.buffered_max) {
        l->server->stats.buffered_max = held;
    }
    return 0;
}

static void link_io_pause(void *io, int paused)
{
    struct http_link *l = io;
    if (!l->tls) {
        return;
    }
    if (paused) {
        tls_conn_read_stop(l->tls);
    } else {
        tls_conn_read_start(l->tls);
    }
}

static void link_on_timer(uv_timer_t *t)
{
    struct http_link *l = t->data;
    l->timer_due = 0;
    if (l->deadline == 0) {
        return;
    }
    uint64_t now = uv_now(l->server->loop);
    if (now < l->deadline) {
        l->timer_due = l->deadline;
        uv_timer_start(&l->timer, link_on_timer, l->deadline - now, 0);
        return;
    }
    l->deadline = 0;
    if (l->session) {
        http_session_timeout(l->session);
    }
}

static void link_io_timer(void *io, uint64_t ms)
{
    struct http_link *l = io;
    if (!l->timer_live) {
        return;
    }
    if (ms == 0) {
        l->deadline = 0; /* a timer still due fires into nothing */
        return;
    }
    l->deadline = uv_now(l->server->loop) + ms;
    if (l->timer_due == 0 || l->timer_due > l->deadline) {
        l->timer_due = l->deadline;
        uv_timer_start(&l->timer, link_on_timer, ms, 0);
    }
}

static void link_io_close(void *io)
{
    struct http_link *l = io;
    if (l->tls) {
        tls_conn_close(l->tls);
    }
}

static void link_io_release(void *io)
{
    struct http_link *l = io;
    l->session = NULL;
    link_unref(l);
}

static const struct http_session_io link_io = {
    .write = link_io_write,
    .pause_reads = link_io_pause,
    .timer = link_io_timer,
    .close = link_io_close,
    .release = link_io_release,
};

static void link_on_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    struct http_link *l = tls_conn_data(conn);
    if (l->session) {
        http_session_feed(l->session, data, size);
    }
}

static void link_on_drain(struct tls_conn *conn)
{
    struct http_link *l = tls_conn_data(conn);
    if (l->session) {
        http_session_drained(l->session);
    }
}

static void link_on_timer_closed(uv_handle_t *h)
{
    link_unref(h->data);
}

static void link_on_close(struct tls_conn *conn, int status)
{
    struct http_link *l = tls_conn_data(conn);
    struct http_server *srv = l->server;
    tls_conn_free(conn);
    l->tls = NULL;
    srv->stats.connections--;
    if (!l->refused) {
        srv->served--;
    }
    bool timer_live = l->timer_live;
    if (timer_live) {
        l->timer_live = false;
        uv_timer_stop(&l->timer);
        uv_close((uv_handle_t *)&l->timer, link_on_timer_closed); /* drops the TLS ref */
    }
    if (l->session) {
        http_session_closed(l->session); /* may release the session ref at once */
    }
    if (!timer_live) {
        link_unref(l);
    }
}

static const struct tls_conn_callbacks link_cbs = {
    .on_read = link_on_read,
    .on_drain = link_on_drain,
    .on_close = link_on_close,
};

static void server_on_accept(struct tls_server *ts, struct tls_conn *conn)
{
    struct http_server *srv = tls_server_data(ts);
    struct http_link *l = calloc(1, sizeof *l);
    if (!l) {
        tls_conn_free(conn);
        return;
    }
    l->server = srv;
    l->tls = conn;
    l->next = srv->links;
    if (l->next) {
        l->next->prev = l;
    }
    srv->links = l;
    srv->stats.connections++;
    tls_conn_set_callbacks(conn, &link_cbs, l);
    l->refs = 1; /* the TLS side, until the connection and its timer are closed */
    if (srv->closing || srv->served >= srv->limits.max_connections) {
        char json[128], msg[384];
        size_t n = http_error_json(json, sizeof json, 503, "too many connections", NULL);
        int len = snprintf(msg, sizeof msg,
                           "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
                           n, json);
        l->refused = true;
        srv->stats.refused++;
        tls_conn_read_stop(conn);
        if (len > 0 && (size_t)len < sizeof msg && tls_conn_write(conn, msg, (size_t)len) != 0) {
            /* Nothing queued: the client only sees the connection close. */
        }
        tls_conn_close(conn);
        return;
    }
    srv->served++;
    srv->stats.accepted++;
    if (uv_timer_init(srv->loop, &l->timer) == 0) {
        l->timer.data = l;
        l->timer_live = true;
    }
    if (!l->timer_live ||
        http_session_create(srv->router, &srv->limits, &link_io, l, &l->session) != 0) {
        l->session = NULL;
        tls_conn_close(conn);
        return;
    }
    l->refs++; /* the session, until released */
    l->session->stat_requests = &srv->stats.requests;
    l->session->stat_buffered_max = &srv->stats.buffered_max;
}

static const struct tls_server_callbacks server_cbs = {
    .on_accept = server_on_accept,
};

int http_server_create(uv_loop_t *loop, const struct http_server_config *config,
                       struct http_server **out, char *errmsg, size_t errmsg_size)
{
    if (!loop || !config || !config->router || !config->ca || !config->cert || !config->key ||
        !out) {
        return HTTP_EINVAL;
    }
    struct http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        return HTTP_ENOMEM;
    }
    srv->loop = loop;
    srv->router = config->router;
    limits_resolve(&srv->limits, &config->limits);
    struct tls_config tc = {
        .role = TLS_ROLE_SERVER,
        .client_auth = TLS_CLIENT_AUTH_NONE,
        .ca = config->ca,
        .cert = config->cert,
        .key = config->key,
        .alpn = config->alpn_optional ? NULL : "http/1.1",
        .handshake_timeout_ms = config->handshake_timeout_ms,
    };
    int rv = tls_ctx_create(&tc, &srv->ctx, errmsg, errmsg_size);
    if (rv != 0) {
        free(srv);
        return HTTP_ETLS;
    }
    rv = tls_server_create(srv->ctx, loop, &server_cbs, srv, &srv->tls);
    if (rv != 0) {
        tls_ctx_free(srv->ctx);
        free(srv);
        return rv == TLS_ENOMEM ? HTTP_ENOMEM : HTTP_ETLS;
    }
    *out = srv;
    return 0;
}

int http_server_listen(struct http_server *srv, const char *address, uint16_t port)
{
    if (!srv || !address) {
        return HTTP_EINVAL;
    }
    return tls_server_listen(srv->tls, address, port);
}

int http_server_listen_fd(struct http_server *srv, int *fd)
{
    if (!srv || !fd) {
        return HTTP_EINVAL;
    }
    return tls_server_listen_fd(srv->tls, fd);
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv ? tls_server_port(srv->tls) : 0;
}

void http_server_stats(const struct http_server *srv, struct http_server_stats *stats)
{
    if (srv && stats) {
        *stats = srv->stats;
    }
}

static void server_on_listener_closed(void *data)
{
    struct http_server *srv = data;
    srv->listener_closed = true;
    server_maybe_finish(srv);
}

void http_server_close(struct http_server *srv, void (*on_closed)(void *data), void *data)
{
    if (!srv || srv->closing) {
        return;
    }
    srv->closing = true;
    srv->on_closed = on_closed;
    srv->on_closed_data = data;
    for (struct http_link *l = srv->links; l; l = l->next) {
        if (l->tls) {
            tls_conn_close(l->tls);
        }
    }
    tls_server_close(srv->tls, server_on_listener_closed);
}
