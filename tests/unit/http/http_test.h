/* Helpers shared by the appliance/http tests: splitting a byte stream of
 * HTTP/1.1 responses into status, headers and body, without trusting it
 * (a malformed stream fails the test). */
#ifndef STRATA_TEST_HTTP_H
#define STRATA_TEST_HTTP_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"

struct test_resp {
    int status;
    char head[4096]; /* status line and headers, NUL-terminated */
    char *body;      /* malloc'd, NUL-terminated */
    size_t body_size;
};

/* The value of header 'name' in 'r' copied into 'out', or NULL. */
static inline const char *test_resp_header(const struct test_resp *r, const char *name, char *out,
                                           size_t size)
{
    size_t nl = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ') {
                v++;
            }
            size_t vl = strcspn(v, "\r");
            if (vl >= size) {
                vl = size - 1;
            }
            memcpy(out, v, vl);
            out[vl] = '\0';
            return out;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

/* Takes one complete response off the front of 'in' into 'r'. Returns 1 when
 * one was taken, 0 when 'in' holds only part of one, -1 when malformed.
 * 'head_only': the request was HEAD (no body despite Content-Length). */
static inline int test_resp_take(struct buf *in, struct test_resp *r, bool head_only)
{
    const char *data = (const char *)in->data;
    size_t size = in->size;
    size_t end = 0;
    for (size_t i = 0; i + 3 < size; i++) {
        if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
            end = i + 4;
            break;
        }
    }
    if (end == 0) {
        return size > 8192 ? -1 : 0;
    }
    if (end >= sizeof r->head || size < 12 || memcmp(data, "HTTP/1.1 ", 9) != 0) {
        return -1;
    }
    memcpy(r->head, data, end);
    r->head[end] = '\0';
    r->status = atoi(r->head + 9);
    char cl[32];
    size_t body = 0;
    if (test_resp_header(r, "Content-Length", cl, sizeof cl)) {
        body = strtoul(cl, NULL, 10);
    }
    if (head_only || r->status == 204 || r->status == 304 || r->status < 200) {
        body = 0;
    }
    if (size - end < body) {
        return 0;
    }
    r->body = malloc(body + 1);
    if (!r->body) {
        return -1;
    }
    memcpy(r->body, data + end, body);
    r->body[body] = '\0';
    r->body_size = body;
    buf_consume(in, end + body);
    return 1;
}

static inline void test_resp_free(struct test_resp *r)
{
    free(r->body);
    r->body = NULL;
}

#endif
