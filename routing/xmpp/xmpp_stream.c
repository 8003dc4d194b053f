/* The XMPP stream parser and writers (see xmpp_stream.h). libxml2's push
 * parser does the XML tokenising; our SAX2 handlers build one stanza tree at
 * a time, enforce the caps and turn everything RFC 6120 §11.1 restricts into
 * stream errors before libxml2 can act on it: the DOCTYPE handler fires
 * before any internal subset is parsed, the getEntity handler is the only
 * entity lookup (libxml2 resolves the five predefined entities itself and
 * never asks), and no declaration handler is installed, so no entity can
 * ever be defined or expanded. Input reaches libxml2 in slices taken through
 * the checked cursor so the byte cap is checked between slices. */
#include "routing/xmpp/xmpp_stream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>

STRATA_ERR_DEFINE(xmpp, XMPP_ERRORS)

#define XML_NS_XML "http://www.w3.org/XML/1998/namespace"
#define FEED_SLICE_MAX ((size_t)64 << 10)

struct xmpp_stream_parser {
    xmlParserCtxtPtr ctxt;
    unsigned depth;          /* open elements, the stream element included */
    unsigned elements;       /* elements of the stanza under construction */
    struct xmpp_elem *root;  /* stanza under construction, NULL between stanzas */
    struct xmpp_elem *cur;   /* innermost open element of 'root' */
};

/* ------------------------------------------------------------------ */
/* Conditions */

#define XMPP_SC_NAME_(name, str) [name] = str,
static const char *const cond_names[XMPP_SC_COUNT] = {XMPP_STREAM_CONDS(XMPP_SC_NAME_)};
#undef XMPP_SC_NAME_

const char *xmpp_stream_cond_name(enum xmpp_stream_cond cond)
{
    if ((unsigned)cond >= XMPP_SC_COUNT) {
        return NULL;
    }
    return cond_names[cond];
}

enum xmpp_stream_cond xmpp_stream_cond_parse(const char *name)
{
    for (unsigned i = 1; i < XMPP_SC_COUNT; i++) {
        if (name && strcmp(name, cond_names[i]) == 0) {
            return (enum xmpp_stream_cond)i;
        }
    }
    return XMPP_SC_UNDEFINED_CONDITION;
}

/* ------------------------------------------------------------------ */
/* Element trees */

void xmpp_elem_free(struct xmpp_elem *e)
{
    /* Iterative post-order walk: a tree may be as deep as the depth cap
     * allows, and a partial tree is freed from a failed parser. */
    while (e) {
        if (e->first_child) {
            struct xmpp_elem *c = e->first_child;
            e->first_child = c->next;
            c->next = NULL;
            c->parent = e;
            e = c;
            continue;
        }
        struct xmpp_elem *up = e->parent;
        for (size_t i = 0; i < e->attr_count; i++) {
            free(e->attrs[i].name);
            free(e->attrs[i].ns);
            free(e->attrs[i].value);
        }
        free(e->attrs);
        free(e->name);
        free(e->ns);
        free(e->text);
        free(e);
        e = up;
    }
}

const char *xmpp_elem_attr(const struct xmpp_elem *e, const char *name)
{
    for (size_t i = 0; e && i < e->attr_count; i++) {
        if (e->attrs[i].ns == NULL && strcmp(e->attrs[i].name, name) == 0) {
            return e->attrs[i].value;
        }
    }
    return NULL;
}

const struct xmpp_elem *xmpp_elem_child(const struct xmpp_elem *e, const char *name, const char *ns)
{
    for (const struct xmpp_elem *c = e ? e->first_child : NULL; c; c = c->next) {
        if (strcmp(c->name, name) != 0) {
            continue;
        }
        if (ns == NULL || (c->ns && strcmp(c->ns, ns) == 0)) {
            return c;
        }
    }
    return NULL;
}

const char *xmpp_elem_text(const struct xmpp_elem *e)
{
    return e && e->text ? e->text : "";
}

/* ------------------------------------------------------------------ */
/* Escaping and writing */

/* Decodes one UTF-8 scalar at 's' (at most 'size' bytes) into '*cp' and
 * returns its length, or 0 for an invalid, overlong, surrogate or
 * truncated sequence. */
static size_t utf8_next(const unsigned char *s, size_t size, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v;
    uint32_t min;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        v = c & 0x1f;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        v = c & 0x0f;
        min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n > size) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        return 0;
    }
    *cp = v;
    return n;
}

int xmpp_xml_escape(struct buf *out, const char *s, size_t size, bool attr)
{
    struct cursor cur;
    cursor_init(&cur, s, size);
    while (cursor_remaining(&cur) > 0) {
        const uint8_t *p = cur.p;
        uint32_t cp;
        size_t n = utf8_next(p, cursor_remaining(&cur), &cp);
        if (n == 0) {
            return XMPP_ERR_TEXT;
        }
        const char *rep = NULL;
        switch (cp) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = attr ? "&quot;" : NULL;
            break;
        case '\t':
            rep = attr ? "&#9;" : NULL;
            break;
        case '\n':
            rep = attr ? "&#10;" : NULL;
            break;
        case '\r':
            rep = "&#13;"; /* a raw CR would be normalised to LF */
            break;
        default:
            if (cp < 0x20 || cp == 0xfffe || cp == 0xffff) {
                return XMPP_ERR_TEXT;
            }
            break;
        }
        int rc = rep ? buf_put(out, rep, strlen(rep)) : buf_put(out, p, n);
        if (rc != 0) {
            return rc;
        }
        if (buf_skip(&cur, n) != 0) {
            return XMPP_ERR_TEXT;
        }
    }
    return 0;
}

static int put_str(struct buf *out, const char *s)
{
    return buf_put(out, s, strlen(s));
}

static int put_attr(struct buf *out, const char *name, const char *value)
{
    int rc;
    if ((rc = buf_put_u8(out, ' ')) != 0 || (rc = put_str(out, name)) != 0 ||
        (rc = put_str(out, "=\"")) != 0 || (rc = xmpp_xml_escape(out, value, strlen(value), true)) != 0 ||
        (rc = buf_put_u8(out, '"')) != 0) {
        return rc;
    }
    return 0;
}

/* A name we emit must be a plausible XML name: non-empty, no markup or
 * space characters, valid UTF-8. Names from the parser always are. */
static int check_name(const char *name)
{
    size_t size = strlen(name);
    if (size == 0 || strpbrk(name, " \t\r\n<>&\"'=/") != NULL) {
        return XMPP_ERR_TEXT;
    }
    struct cursor cur;
    cursor_init(&cur, name, size);
    while (cursor_remaining(&cur) > 0) {
        uint32_t cp;
        size_t n = utf8_next(cur.p, cursor_remaining(&cur), &cp);
        if (n == 0 || cp < 0x20 || buf_skip(&cur, n) != 0) {
            return XMPP_ERR_TEXT;
        }
    }
    return 0;
}

static int elem_write_one(struct buf *out, const struct xmpp_elem *e, const char *parent_ns)
{
    int rc;
    if ((rc = check_name(e->name)) != 0 || (rc = buf_put_u8(out, '<')) != 0 ||
        (rc = put_str(out, e->name)) != 0) {
        return rc;
    }
    bool same_ns = (e->ns == NULL && parent_ns == NULL) ||
                   (e->ns && parent_ns && strcmp(e->ns, parent_ns) == 0);
    if (!same_ns && (rc = put_attr(out, "xmlns", e->ns ? e->ns : "")) != 0) {
        return rc;
    }
    unsigned prefixes = 0;
    for (size_t i = 0; i < e->attr_count; i++) {
        const struct xmpp_attr *a = &e->attrs[i];
        if ((rc = check_name(a->name)) != 0) {
            return rc;
        }
        if (a->ns == NULL) {
            rc = put_attr(out, a->name, a->value);
        } else if (strcmp(a->ns, XML_NS_XML) == 0) {
            char qname[256];
            if ((size_t)snprintf(qname, sizeof qname, "xml:%s", a->name) >= sizeof qname) {
                return XMPP_ERR_TEXT;
            }
            rc = put_attr(out, qname, a->value);
        } else {
            char pfx[32];
            char qname[256];
            snprintf(pfx, sizeof pfx, "xmlns:a%u", prefixes);
            if ((size_t)snprintf(qname, sizeof qname, "a%u:%s", prefixes, a->name) >= sizeof qname) {
                return XMPP_ERR_TEXT;
            }
            prefixes++;
            if ((rc = put_attr(out, pfx, a->ns)) == 0) {
                rc = put_attr(out, qname, a->value);
            }
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (e->first_child == NULL && e->text_size == 0) {
        return put_str(out, "/>");
    }
    if ((rc = buf_put_u8(out, '>')) != 0) {
        return rc;
    }
    if (e->text_size > 0 && (rc = xmpp_xml_escape(out, e->text, e->text_size, false)) != 0) {
        return rc;
    }
    return 0;
}

static int elem_write_end(struct buf *out, const struct xmpp_elem *e)
{
    if (e->first_child == NULL && e->text_size == 0) {
        return 0;
    }
    int rc;
    if ((rc = put_str(out, "</")) != 0 || (rc = put_str(out, e->name)) != 0 || (rc = buf_put_u8(out, '>')) != 0) {
        return rc;
    }
    return 0;
}

int xmpp_elem_write(struct buf *out, const struct xmpp_elem *root, const char *parent_ns)
{
    /* Iterative pre-order walk (the tree may be deep). Text goes before the
     * children: the tree does not keep mixed-content order. */
    const struct xmpp_elem *e = root;
    int rc = elem_write_one(out, e, parent_ns);
    while (rc == 0) {
        if (e->first_child) {
            const struct xmpp_elem *c = e->first_child;
            rc = elem_write_one(out, c, e->ns);
            e = c;
            continue;
        }
        for (;;) {
            if ((rc = elem_write_end(out, e)) != 0) {
                return rc;
            }
            if (e == root) {
                return 0;
            }
            if (e->next) {
                const struct xmpp_elem *sib = e->next;
                rc = elem_write_one(out, sib, e->parent ? e->parent->ns : parent_ns);
                e = sib;
                break;
            }
            e = e->parent;
        }
    }
    return rc;
}

int xmpp_stream_write_header(struct buf *out, const struct xmpp_stream_header *h)
{
    int rc;
    const char *ns = h->content_ns && *h->content_ns ? h->content_ns : XMPP_NS_CLIENT;
    if ((rc = put_str(out, "<?xml version='1.0'?><stream:stream")) != 0 || (rc = put_attr(out, "xmlns", ns)) != 0 ||
        (rc = put_attr(out, "xmlns:stream", XMPP_NS_STREAMS)) != 0) {
        return rc;
    }
    const char *names[] = {"to", "from", "id"};
    const char *values[] = {h->to, h->from, h->id};
    for (size_t i = 0; i < 3; i++) {
        if (values[i] && *values[i] && (rc = put_attr(out, names[i], values[i])) != 0) {
            return rc;
        }
    }
    if ((rc = put_attr(out, "version", h->version && *h->version ? h->version : "1.0")) != 0) {
        return rc;
    }
    if (h->lang && *h->lang && (rc = put_attr(out, "xml:lang", h->lang)) != 0) {
        return rc;
    }
    if (h->resume &&
        ((rc = put_attr(out, "xmlns:sr", XMPP_NS_RESUME)) != 0 || (rc = put_attr(out, "sr:resume", "1")) != 0)) {
        return rc;
    }
    return buf_put_u8(out, '>');
}

int xmpp_stream_write_error(struct buf *out, enum xmpp_stream_cond cond, const char *text)
{
    const char *name = xmpp_stream_cond_name(cond);
    if (name == NULL || cond == XMPP_SC_NONE) {
        return XMPP_ERR_RANGE;
    }
    int rc;
    if ((rc = put_str(out, "<stream:error><")) != 0 || (rc = put_str(out, name)) != 0 ||
        (rc = put_attr(out, "xmlns", XMPP_NS_STREAM_ERRORS)) != 0 || (rc = put_str(out, "/>")) != 0) {
        return rc;
    }
    if (text && *text) {
        if ((rc = put_str(out, "<text")) != 0 || (rc = put_attr(out, "xmlns", XMPP_NS_STREAM_ERRORS)) != 0 ||
            (rc = buf_put_u8(out, '>')) != 0 || (rc = xmpp_xml_escape(out, text, strlen(text), false)) != 0 ||
            (rc = put_str(out, "</text>")) != 0) {
            return rc;
        }
    }
    if ((rc = put_str(out, "</stream:error>")) != 0) {
        return rc;
    }
    return xmpp_stream_write_close(out);
}

int xmpp_stream_write_close(struct buf *out)
{
    return put_str(out, "</stream:stream>");
}

/* ------------------------------------------------------------------ */
/* Parser */

static void stream_failf(struct xmpp_stream *s, enum xmpp_stream_cond cond, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void xmpp_stream_fail(struct xmpp_stream *s, enum xmpp_stream_cond cond, const char *text)
{
    if (s->state == XMPP_STREAM_FAILED) {
        return;
    }
    if (cond == XMPP_SC_NONE || (unsigned)cond >= XMPP_SC_COUNT) {
        cond = XMPP_SC_UNDEFINED_CONDITION;
    }
    s->state = XMPP_STREAM_FAILED;
    s->cond = cond;
    snprintf(s->errtext, sizeof s->errtext, "%s", text ? text : "");
    if (s->p && s->p->ctxt) {
        xmlStopParser(s->p->ctxt);
    }
}

static void stream_failf(struct xmpp_stream *s, enum xmpp_stream_cond cond, const char *fmt, ...)
{
    char text[sizeof s->errtext];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    xmpp_stream_fail(s, cond, text);
}

enum xmpp_stream_cond xmpp_stream_error(const struct xmpp_stream *s, const char **text)
{
    if (text) {
        *text = s->state == XMPP_STREAM_FAILED ? s->errtext : "";
    }
    return s->state == XMPP_STREAM_FAILED ? s->cond : XMPP_SC_NONE;
}

static bool live(const struct xmpp_stream *s)
{
    return s->state == XMPP_STREAM_WAIT_HEADER || s->state == XMPP_STREAM_OPEN;
}

/* Moves the stanza byte count's start to the parser's position plus
 * 'ahead' bytes it is about to skip. */
static void mark_boundary_ahead(struct xmpp_stream *s, size_t ahead)
{
    long consumed = xmlByteConsumed(s->p->ctxt);
    if (consumed < 0) {
        return;
    }
    uint64_t at = (uint64_t)consumed + ahead;
    if (at > s->boundary && at <= s->fed) {
        s->boundary = at;
    }
}

static void mark_boundary(struct xmpp_stream *s)
{
    mark_boundary_ahead(s, 0);
}

static char *dup_range(const xmlChar *start, const xmlChar *end)
{
    size_t size = (size_t)(end - start);
    char *p = malloc(size + 1);
    if (p) {
        memcpy(p, start, size);
        p[size] = '\0';
    }
    return p;
}

static void header_start(struct xmpp_stream *s, const xmlChar *localname, const xmlChar *uri, int nb_namespaces,
                         const xmlChar **namespaces, int nb_attributes, const xmlChar **attributes)
{
    if (uri == NULL || strcmp((const char *)uri, XMPP_NS_STREAMS) != 0) {
        stream_failf(s, XMPP_SC_INVALID_NAMESPACE, "stream element not in %s", XMPP_NS_STREAMS);
        return;
    }
    if (strcmp((const char *)localname, "stream") != 0) {
        xmpp_stream_fail(s, XMPP_SC_BAD_FORMAT, "the root element is not <stream:stream>");
        return;
    }
    xmlParserCtxtPtr ctxt = s->p->ctxt;
    if (ctxt->input && ctxt->input->buf && ctxt->input->buf->encoder) {
        xmpp_stream_fail(s, XMPP_SC_UNSUPPORTED_ENCODING, "only UTF-8 is accepted");
        return;
    }
    const char *content_ns = NULL;
    for (int i = 0; i < nb_namespaces; i++) {
        if (namespaces[2 * i] == NULL) {
            content_ns = (const char *)namespaces[2 * i + 1];
        }
    }
    if (content_ns == NULL || (strcmp(content_ns, XMPP_NS_CLIENT) != 0 && strcmp(content_ns, XMPP_NS_SERVER) != 0)) {
        xmpp_stream_fail(s, XMPP_SC_INVALID_NAMESPACE, "content namespace must be jabber:client or jabber:server");
        return;
    }
    unsigned max_attrs = s->limits.max_attrs > XMPP_DEFAULT_MAX_ATTRS ? s->limits.max_attrs : XMPP_DEFAULT_MAX_ATTRS;
    if ((unsigned)nb_attributes + (unsigned)nb_namespaces > max_attrs) {
        xmpp_stream_fail(s, XMPP_SC_POLICY_VIOLATION, "too many attributes on the stream header");
        return;
    }
    char *vals[5] = {0};
    static const char *const names[5] = {"to", "from", "id", "version", "lang"};
    bool oom = false, resume = false;
    for (int i = 0; i < nb_attributes; i++) {
        const xmlChar **a = &attributes[5 * i];
        const char *ans = (const char *)a[2];
        if (ans && strcmp(ans, XMPP_NS_RESUME) == 0 && strcmp((const char *)a[0], "resume") == 0) {
            resume = a[4] - a[3] == 1 && a[3][0] == '1';
            continue;
        }
        for (size_t k = 0; k < 5; k++) {
            bool want_xml = k == 4;
            bool is_xml = ans && strcmp(ans, XML_NS_XML) == 0;
            if (strcmp((const char *)a[0], names[k]) == 0 && want_xml == is_xml && (ans == NULL || is_xml) &&
                vals[k] == NULL) {
                vals[k] = dup_range(a[3], a[4]);
                oom |= vals[k] == NULL;
            }
        }
    }
    if (oom) {
        xmpp_stream_fail(s, XMPP_SC_RESOURCE_CONSTRAINT, "out of memory");
    } else if (vals[3] == NULL || strncmp(vals[3], "1.", 2) != 0) {
        xmpp_stream_fail(s, XMPP_SC_UNSUPPORTED_VERSION, "version 1.x required");
    } else {
        s->state = XMPP_STREAM_OPEN;
        s->p->depth = 1;
        /* called before the header's closing '>' is consumed */
        xmlParserInputPtr in = ctxt->input;
        mark_boundary_ahead(s, in && in->cur && in->cur < in->end && *in->cur == '>' ? 1 : 0);
        if (s->ops.open) {
            struct xmpp_stream_header h = {.to = vals[0], .from = vals[1], .id = vals[2],
                                           .version = vals[3], .lang = vals[4], .content_ns = content_ns,
                                           .resume = resume};
            s->ops.open(s->arg, &h);
        }
    }
    for (size_t k = 0; k < 5; k++) {
        free(vals[k]);
    }
}

static void sax_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                      int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
                      const xmlChar **attributes)
{
    struct xmpp_stream *s = ctx;
    struct xmpp_stream_parser *p = s->p;
    if (!live(s)) {
        return;
    }
    if (p->depth == 0) {
        header_start(s, localname, uri, nb_namespaces, namespaces, nb_attributes, attributes);
        return;
    }
    /* the new element's depth within its stanza is p->depth */
    if (p->depth > s->limits.max_depth) {
        stream_failf(s, XMPP_SC_POLICY_VIOLATION, "stanza nested deeper than %u", s->limits.max_depth);
        return;
    }
    if ((unsigned)nb_attributes + (unsigned)nb_namespaces > s->limits.max_attrs) {
        stream_failf(s, XMPP_SC_POLICY_VIOLATION, "more than %u attributes on <%s>", s->limits.max_attrs,
                     (const char *)localname);
        return;
    }
    if (p->elements >= s->limits.max_elements) {
        stream_failf(s, XMPP_SC_POLICY_VIOLATION, "more than %u elements in a stanza", s->limits.max_elements);
        return;
    }
    struct xmpp_elem *e = calloc(1, sizeof *e);
    if (e == NULL) {
        xmpp_stream_fail(s, XMPP_SC_RESOURCE_CONSTRAINT, "out of memory");
        return;
    }
    /* link first so a failure below frees it with the stanza */
    if (p->root == NULL) {
        p->root = e;
    } else {
        e->parent = p->cur;
        if (p->cur->last_child) {
            p->cur->last_child->next = e;
        } else {
            p->cur->first_child = e;
        }
        p->cur->last_child = e;
        p->cur->child_count++;
    }
    p->cur = e;
    p->depth++;
    p->elements++;
    e->name = strdup((const char *)localname);
    e->ns = uri ? strdup((const char *)uri) : NULL;
    bool oom = e->name == NULL || (uri && e->ns == NULL);
    if (!oom && nb_attributes > 0) {
        e->attrs = calloc((size_t)nb_attributes, sizeof *e->attrs);
        oom = e->attrs == NULL;
        for (int i = 0; !oom && i < nb_attributes; i++) {
            const xmlChar **a = &attributes[5 * i];
            struct xmpp_attr *at = &e->attrs[i];
            e->attr_count++;
            at->name = strdup((const char *)a[0]);
            at->ns = a[2] ? strdup((const char *)a[2]) : NULL;
            at->value = dup_range(a[3], a[4]);
            oom = at->name == NULL || at->value == NULL || (a[2] && at->ns == NULL);
        }
    }
    if (oom) {
        xmpp_stream_fail(s, XMPP_SC_RESOURCE_CONSTRAINT, "out of memory");
    }
}

static void sax_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    struct xmpp_stream *s = ctx;
    struct xmpp_stream_parser *p = s->p;
    if (!live(s) || p->depth == 0) {
        return;
    }
    if (p->depth == 1) {
        p->depth = 0;
        s->state = XMPP_STREAM_CLOSED;
        xmlStopParser(p->ctxt);
        if (s->ops.close) {
            s->ops.close(s->arg);
        }
        return;
    }
    p->depth--;
    p->cur = p->cur->parent;
    if (p->depth == 1) {
        long end = xmlByteConsumed(p->ctxt);
        if (end >= 0 && (uint64_t)end > s->boundary && (uint64_t)end - s->boundary > s->limits.max_stanza_size) {
            /* the slice that completed it also carried it past the cap */
            stream_failf(s, XMPP_SC_POLICY_VIOLATION, "stanza larger than %zu bytes", s->limits.max_stanza_size);
            return;
        }
        struct xmpp_elem *stanza = p->root;
        p->root = NULL;
        p->cur = NULL;
        p->elements = 0;
        mark_boundary(s);
        s->stanzas++;
        if (s->ops.stanza) {
            s->ops.stanza(s->arg, stanza);
        } else {
            xmpp_elem_free(stanza);
        }
    }
}

static void sax_chars(void *ctx, const xmlChar *ch, int len)
{
    struct xmpp_stream *s = ctx;
    struct xmpp_stream_parser *p = s->p;
    if (!live(s) || len <= 0) {
        return;
    }
    if (p->depth <= 1) {
        for (int i = 0; i < len; i++) {
            if (ch[i] != ' ' && ch[i] != '\t' && ch[i] != '\r' && ch[i] != '\n') {
                xmpp_stream_fail(s, XMPP_SC_BAD_FORMAT, "character data between stanzas");
                return;
            }
        }
        if (p->depth == 1) {
            /* Whitespace keepalives do not accumulate. libxml2's fast path
             * hands us the input buffer before it advances past it. */
            xmlParserInputPtr in = p->ctxt->input;
            bool in_place = in && ch == in->cur && in->end && ch + len <= in->end;
            mark_boundary_ahead(s, in_place ? (size_t)len : 0);
        }
        return;
    }
    struct xmpp_elem *e = p->cur;
    size_t need = e->text_size + (size_t)len + 1;
    if (need > e->text_cap) {
        size_t cap = e->text_cap ? e->text_cap : 32;
        while (cap < need) {
            cap *= 2;
        }
        char *t = realloc(e->text, cap);
        if (t == NULL) {
            xmpp_stream_fail(s, XMPP_SC_RESOURCE_CONSTRAINT, "out of memory");
            return;
        }
        e->text = t;
        e->text_cap = cap;
    }
    memcpy(e->text + e->text_size, ch, (size_t)len);
    e->text_size += (size_t)len;
    e->text[e->text_size] = '\0';
}

static xmlEntityPtr sax_get_entity(void *ctx, const xmlChar *name)
{
    stream_failf(ctx, XMPP_SC_RESTRICTED_XML, "entity reference &%.64s;", (const char *)name);
    return NULL;
}

static void sax_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
    xmpp_stream_fail(ctx, XMPP_SC_RESTRICTED_XML, "document type declaration");
}

static void sax_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                            const xmlChar *system_id, xmlChar *content)
{
    xmpp_stream_fail(ctx, XMPP_SC_RESTRICTED_XML, "entity declaration");
}

static void sax_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
    xmpp_stream_fail(ctx, XMPP_SC_RESTRICTED_XML, "processing instruction");
}

static void sax_comment(void *ctx, const xmlChar *value)
{
    xmpp_stream_fail(ctx, XMPP_SC_RESTRICTED_XML, "comment");
}

static void sax_reference(void *ctx, const xmlChar *name)
{
    stream_failf(ctx, XMPP_SC_RESTRICTED_XML, "entity reference &%.64s;", (const char *)name);
}

static void sax_serror(void *ctx, xmlErrorPtr err)
{
    struct xmpp_stream *s = ctx;
    if (err == NULL || err->level < XML_ERR_ERROR || !live(s)) {
        return;
    }
    char msg[120];
    snprintf(msg, sizeof msg, "%s", err->message ? err->message : "malformed XML");
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) {
        msg[--n] = '\0';
    }
    enum xmpp_stream_cond cond = XMPP_SC_NOT_WELL_FORMED;
    if (err->code == XML_ERR_NO_MEMORY) {
        cond = XMPP_SC_RESOURCE_CONSTRAINT;
    } else if (err->code == XML_ERR_UNSUPPORTED_ENCODING) {
        cond = XMPP_SC_UNSUPPORTED_ENCODING;
    }
    stream_failf(s, cond, "line %d: %s", err->line, msg);
}

int xmpp_stream_init(struct xmpp_stream *s, const struct xmpp_stream_limits *limits,
                     const struct xmpp_stream_ops *ops, void *arg)
{
    memset(s, 0, sizeof *s);
    if (limits) {
        s->limits = *limits;
    }
    if (s->limits.max_stanza_size == 0) {
        s->limits.max_stanza_size = XMPP_DEFAULT_MAX_STANZA_SIZE;
    }
    if (s->limits.max_depth == 0) {
        s->limits.max_depth = XMPP_DEFAULT_MAX_DEPTH;
    }
    if (s->limits.max_attrs == 0) {
        s->limits.max_attrs = XMPP_DEFAULT_MAX_ATTRS;
    }
    if (s->limits.max_elements == 0) {
        s->limits.max_elements = XMPP_DEFAULT_MAX_ELEMENTS;
    }
    if (s->limits.max_names_size == 0) {
        s->limits.max_names_size = XMPP_DEFAULT_MAX_NAMES_SIZE;
    }
    if (ops) {
        s->ops = *ops;
    }
    s->arg = arg;
    s->state = XMPP_STREAM_WAIT_HEADER;

    s->p = calloc(1, sizeof *s->p);
    if (s->p == NULL) {
        return LIB_ENOMEM;
    }
    xmlInitParser();
    xmlSAXHandler sax;
    memset(&sax, 0, sizeof sax);
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = sax_start;
    sax.endElementNs = sax_end;
    sax.characters = sax_chars;
    sax.ignorableWhitespace = sax_chars;
    sax.cdataBlock = sax_chars;
    sax.getEntity = sax_get_entity;
    sax.getParameterEntity = sax_get_entity;
    sax.internalSubset = sax_doctype;
    sax.externalSubset = sax_doctype;
    sax.entityDecl = sax_entity_decl;
    sax.processingInstruction = sax_pi;
    sax.comment = sax_comment;
    sax.reference = sax_reference;
    sax.serror = sax_serror;
    s->p->ctxt = xmlCreatePushParserCtxt(&sax, s, NULL, 0, NULL);
    if (s->p->ctxt == NULL) {
        free(s->p);
        s->p = NULL;
        return LIB_ENOMEM;
    }
    /* No NOENT (no substitution), no DTDLOAD/DTDATTR/DTDVALID, no HUGE. */
    (void)xmlCtxtUseOptions(s->p->ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    /* Predefined entities and character references are decoded in attribute
     * values too (with 0, libxml2 hands "&amp;" on as "&#38;"). Safe: no
     * entity can ever be declared (sax_doctype, sax_entity_decl) and the
     * only lookup, sax_get_entity, fails the stream. */
    s->p->ctxt->replaceEntities = 1;
    if (s->p->ctxt->dict) {
        xmlDictSetLimit(s->p->ctxt->dict, s->limits.max_names_size);
    }
    return 0;
}

void xmpp_stream_destroy(struct xmpp_stream *s)
{
    if (s == NULL || s->p == NULL) {
        return;
    }
    xmpp_elem_free(s->p->root);
    if (s->p->ctxt) {
        xmlFreeParserCtxt(s->p->ctxt);
    }
    free(s->p);
    s->p = NULL;
}

/* libxml2 reports some errors (encoding conversion, I/O) through its
 * per-thread generic handler, which prints to stderr by default; a peer must
 * not be able to write there, and the stream error already says it all. */
static void silent_generic_error(void *ctx, const char *msg, ...)
{
}

int xmpp_stream_feed(struct xmpp_stream *s, const void *data, size_t size)
{
    if (!live(s)) {
        return XMPP_ERR_DONE;
    }
    xmlGenericErrorFunc saved_func = xmlGenericError;
    void *saved_ctx = xmlGenericErrorContext;
    xmlSetGenericErrorFunc(NULL, silent_generic_error);
    size_t slice = s->limits.max_stanza_size / 8;
    if (slice < 64) {
        slice = 64;
    }
    if (slice > FEED_SLICE_MAX) {
        slice = FEED_SLICE_MAX;
    }
    struct cursor cur;
    cursor_init(&cur, data, size);
    while (cursor_remaining(&cur) > 0 && live(s)) {
        size_t n = cursor_remaining(&cur) < slice ? cursor_remaining(&cur) : slice;
        const uint8_t *chunk;
        if (buf_get_view(&cur, n, &chunk) != 0) {
            break;
        }
        s->fed += n;
        int rc = xmlParseChunk(s->p->ctxt, (const char *)chunk, (int)n, 0);
        if (!live(s)) {
            break;
        }
        if (rc != 0 || !s->p->ctxt->wellFormed || s->p->ctxt->instate == XML_PARSER_EOF) {
            const xmlError *e = xmlCtxtGetLastError(s->p->ctxt);
            stream_failf(s, XMPP_SC_NOT_WELL_FORMED, "%s",
                         e && e->message ? e->message : "malformed XML");
            break;
        }
        if (s->fed - s->boundary > s->limits.max_stanza_size) {
            stream_failf(s, XMPP_SC_POLICY_VIOLATION, "stanza larger than %zu bytes", s->limits.max_stanza_size);
            break;
        }
    }
    xmlSetGenericErrorFunc(saved_ctx, saved_func);
    if (s->state == XMPP_STREAM_FAILED) {
        /* the partial stanza is of no further use */
        xmpp_elem_free(s->p->root);
        s->p->root = NULL;
        s->p->cur = NULL;
        return XMPP_ERR_STREAM;
    }
    return 0;
}
