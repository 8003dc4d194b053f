/* Loader and validator for the Strata data model. The XML (strata.xml, its
 * format documented at the top of that file) is parsed with libxml2 in its
 * safe configuration, turned into sorted tables held in one arena, and then
 * freed; lookups are binary searches. The validator walks a jansson object
 * against those tables and reports the first failure with its JSON path.
 * The OpenAPI generator reads the same tables. Nothing here is per-type. */
#include "compiler/schema/schema.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "compiler/schema/schema_embed.h"

STRATA_ERR_DEFINE(schema, SCHEMA_ERRORS)

/* ------------------------------------------------------------------ */
/* Arena: every table and string of a schema lives here, freed at once. */

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct regex_node {
    regex_t re;
    struct regex_node *next;
};

struct schema {
    struct arena_chunk *arena;
    struct regex_node *regexes;
    int version;
    struct schema_type *types; /* sorted by name */
    size_t types_len;
    const struct schema_type **by_plural; /* sorted by plural */
    struct schema_complex *complexes;     /* sorted by name */
    size_t complexes_len;
    struct schema_field *common; /* sorted by name */
    size_t common_len;
    const struct schema_field *fq_name_field;
};

static void *arena_alloc(struct schema *s, size_t size)
{
    size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (size == 0) {
        size = sizeof(max_align_t);
    }
    struct arena_chunk *c = s->arena;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > 60000 ? size : 60000;
        c = malloc(sizeof *c + cap);
        if (!c) {
            return NULL;
        }
        c->next = s->arena;
        c->used = 0;
        c->cap = cap;
        s->arena = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

static char *arena_strdup(struct schema *s, const char *str)
{
    size_t n = strlen(str) + 1;
    char *p = arena_alloc(s, n);
    if (p) {
        memcpy(p, str, n);
    }
    return p;
}

/* "virtual-network" + suffix with '-' turned into '_'. */
static char *arena_key(struct schema *s, const char *name, const char *suffix)
{
    size_t n = strlen(name), m = strlen(suffix);
    char *p = arena_alloc(s, n + m + 1);
    if (!p) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        p[i] = name[i] == '-' ? '_' : name[i];
    }
    memcpy(p + n, suffix, m + 1);
    return p;
}

void schema_free(struct schema *s)
{
    if (!s) {
        return;
    }
    for (struct regex_node *r = s->regexes; r; r = r->next) {
        regfree(&r->re);
    }
    struct arena_chunk *c = s->arena;
    while (c) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(s);
}

/* ------------------------------------------------------------------ */
/* Lookups. */

/* qsort() that accepts an empty (possibly NULL) array. */
static void sort_n(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1) {
        qsort(base, n, size, cmp);
    }
}

static int cmp_type_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct schema_type *)elem)->name);
}
static int cmp_type_plural(const void *key, const void *elem)
{
    return strcmp(key, (*(const struct schema_type *const *)elem)->plural);
}
static int cmp_complex_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct schema_complex *)elem)->name);
}
static int cmp_field_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct schema_field *)elem)->name);
}
static int cmp_ref_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct schema_ref *)elem)->key);
}

size_t schema_type_count(const struct schema *s)
{
    return s->types_len;
}

const struct schema_type *schema_type_at(const struct schema *s, size_t i)
{
    return i < s->types_len ? &s->types[i] : NULL;
}

const struct schema_type *schema_type_find(const struct schema *s, const char *name)
{
    if (!name || !s->types_len) {
        return NULL;
    }
    return bsearch(name, s->types, s->types_len, sizeof *s->types, cmp_type_name);
}

const struct schema_type *schema_type_find_plural(const struct schema *s, const char *plural)
{
    if (!plural || !s->types_len) {
        return NULL;
    }
    const struct schema_type *const *t =
        bsearch(plural, s->by_plural, s->types_len, sizeof *s->by_plural, cmp_type_plural);
    return t ? *t : NULL;
}

const struct schema_field *schema_common_props(const struct schema *s, size_t *len)
{
    *len = s->common_len;
    return s->common;
}

size_t schema_complex_count(const struct schema *s)
{
    return s->complexes_len;
}

const struct schema_complex *schema_complex_at(const struct schema *s, size_t i)
{
    return i < s->complexes_len ? &s->complexes[i] : NULL;
}

const struct schema_complex *schema_complex_find(const struct schema *s, const char *name)
{
    if (!name || !s->complexes_len) {
        return NULL;
    }
    return bsearch(name, s->complexes, s->complexes_len, sizeof *s->complexes,
                   cmp_complex_name);
}

static const struct schema_field *field_find(const struct schema_field *f, size_t len,
                                             const char *name)
{
    if (!name || !len) {
        return NULL;
    }
    return bsearch(name, f, len, sizeof *f, cmp_field_name);
}

const struct schema_field *schema_type_prop(const struct schema_type *t, const char *name)
{
    return field_find(t->props, t->props_len, name);
}

const struct schema_field *schema_prop_find(const struct schema *s, const struct schema_type *t,
                                            const char *name)
{
    const struct schema_field *f = field_find(s->common, s->common_len, name);
    return f ? f : schema_type_prop(t, name);
}

const struct schema_field *schema_complex_field(const struct schema_complex *c, const char *name)
{
    return field_find(c->fields, c->fields_len, name);
}

const struct schema_ref *schema_type_ref(const struct schema_type *t, const char *key)
{
    if (!key || !t->refs_len) {
        return NULL;
    }
    return bsearch(key, t->refs, t->refs_len, sizeof *t->refs, cmp_ref_key);
}

const struct schema_ref *schema_type_ref_to(const struct schema_type *t, const char *to)
{
    for (size_t i = 0; to && i < t->refs_len; i++) {
        if (strcmp(t->refs[i].to->name, to) == 0) {
            return &t->refs[i];
        }
    }
    return NULL;
}

bool schema_type_has_parent(const struct schema_type *t, const struct schema_type *parent)
{
    for (size_t i = 0; i < t->parents_len; i++) {
        if (t->parents[i] == parent) {
            return true;
        }
    }
    return false;
}

int schema_fq_name_len(const struct schema_type *t, const struct schema_type *parent)
{
    if (t->parents_len == 0) {
        return parent ? -1 : 1;
    }
    if (!parent) {
        return t->fq_name_len;
    }
    if (!schema_type_has_parent(t, parent)) {
        return -1;
    }
    if (parent->parents_len == 0) {
        return 1;
    }
    return parent->fq_name_len < 0 ? -1 : parent->fq_name_len + 1;
}

int schema_version(const struct schema *s)
{
    return s->version;
}

const char *schema_builtin_xml(size_t *size)
{
    *size = schema_embed_xml_size;
    return (const char *)schema_embed_xml;
}

/* The invariants documented at struct schema_field. */
static bool field_audit(const struct schema_field *f)
{
    return (f->kind == SCHEMA_KIND_COMPLEX) == (f->complex != NULL) &&
           (f->kind == SCHEMA_KIND_ENUM) == (f->values_len > 0) &&
           ((!f->has_min && !f->has_max) || f->kind == SCHEMA_KIND_INTEGER) &&
           (!f->has_min || !f->has_max || f->min <= f->max) && f->min_length <= f->max_length &&
           (f->pattern != NULL) == (f->regex_int != NULL) && f->max_items > 0;
}

int schema_audit(const struct schema *s)
{
    for (size_t i = 0; i < s->types_len; i++) {
        const struct schema_type *t = &s->types[i];
        if (schema_type_find(s, t->name) != t || schema_type_find_plural(s, t->plural) != t ||
            (i > 0 && strcmp(s->types[i - 1].name, t->name) >= 0)) {
            return SCHEMA_EDEFINE;
        }
        for (size_t p = 0; p < t->parents_len; p++) {
            const struct schema_type *par = t->parents[p];
            size_t found = 0;
            for (size_t c = 0; c < par->children_len; c++) {
                found += par->children[c] == t;
            }
            if (found != 1) {
                return SCHEMA_EDEFINE;
            }
        }
        for (size_t c = 0; c < t->children_len; c++) {
            if (!schema_type_has_parent(t->children[c], t)) {
                return SCHEMA_EDEFINE;
            }
        }
        for (size_t r = 0; r < t->refs_len; r++) {
            const struct schema_ref *ref = &t->refs[r];
            size_t found = 0;
            for (size_t b = 0; b < ref->to->back_refs_len; b++) {
                found += ref->to->back_refs[b] == ref;
            }
            if (schema_type_ref(t, ref->key) != ref || ref->from != t || found != 1) {
                return SCHEMA_EDEFINE;
            }
        }
        for (size_t b = 0; b < t->back_refs_len; b++) {
            if (t->back_refs[b]->to != t) {
                return SCHEMA_EDEFINE;
            }
        }
        for (size_t f = 0; f < t->props_len; f++) {
            if (!field_audit(&t->props[f]) ||
                (f > 0 && strcmp(t->props[f - 1].name, t->props[f].name) >= 0)) {
                return SCHEMA_EDEFINE;
            }
        }
    }
    for (size_t i = 0; i < s->complexes_len; i++) {
        const struct schema_complex *c = &s->complexes[i];
        for (size_t f = 0; f < c->fields_len; f++) {
            if (!field_audit(&c->fields[f]) ||
                schema_complex_field(c, c->fields[f].name) != &c->fields[f]) {
                return SCHEMA_EDEFINE;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Loader. */

struct loader {
    struct schema *s;
    struct schema_error *err;
};

static void err_set(struct schema_error *err, int status, const char *path, const char *fmt,
                    va_list ap) __attribute__((format(printf, 4, 0)));
static void err_set(struct schema_error *err, int status, const char *path, const char *fmt,
                    va_list ap)
{
    if (!err) {
        return;
    }
    err->status = status;
    snprintf(err->path, sizeof err->path, "%s", path ? path : "");
    vsnprintf(err->message, sizeof err->message, fmt, ap);
}

static void err_printf(struct schema_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_printf(struct schema_error *err, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_set(err, status, "", fmt, ap);
    va_end(ap);
}

/* Records "line N: message" for 'node' (may be NULL) and returns 'code'. */
static int load_fail(struct loader *l, int code, const xmlNode *node, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int load_fail(struct loader *l, int code, const xmlNode *node, const char *fmt, ...)
{
    if (!l->err) {
        return code;
    }
    char msg[SCHEMA_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (node) {
        err_printf(l->err, 500, "line %ld: %s", xmlGetLineNo(node), msg);
    } else {
        err_printf(l->err, 500, "%s", msg);
    }
    return code;
}

static bool name_ok(const char *name, bool upper_first, char sep)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (upper_first && c >= 'A' && c <= 'Z') ||
                  (i > 0 && ((c >= '0' && c <= '9') || c == sep));
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Checks that 'node' holds only elements, comments and blank text. */
static int children_check(struct loader *l, const xmlNode *node)
{
    for (const xmlNode *c = node->children; c; c = c->next) {
        switch (c->type) {
        case XML_ELEMENT_NODE:
        case XML_COMMENT_NODE:
            break;
        case XML_TEXT_NODE:
            for (const xmlChar *p = c->content; p && *p; p++) {
                if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                    return load_fail(l, SCHEMA_EDEFINE, c, "unexpected text in <%s>",
                                     (const char *)node->name);
                }
            }
            break;
        case XML_ATTRIBUTE_NODE:
        case XML_CDATA_SECTION_NODE:
        case XML_ENTITY_REF_NODE:
        case XML_ENTITY_NODE:
        case XML_PI_NODE:
        case XML_DOCUMENT_NODE:
        case XML_DOCUMENT_TYPE_NODE:
        case XML_DOCUMENT_FRAG_NODE:
        case XML_NOTATION_NODE:
        case XML_HTML_DOCUMENT_NODE:
        case XML_DTD_NODE:
        case XML_ELEMENT_DECL:
        case XML_ATTRIBUTE_DECL:
        case XML_ENTITY_DECL:
        case XML_NAMESPACE_DECL:
        case XML_XINCLUDE_START:
        case XML_XINCLUDE_END:
        case XML_DOCB_DOCUMENT_NODE:
        default:
            return load_fail(l, SCHEMA_EDEFINE, c, "unexpected node in <%s>",
                             (const char *)node->name);
        }
    }
    return 0;
}

static bool elem_is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static bool has_element_child(const xmlNode *n)
{
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            return true;
        }
    }
    return false;
}

/* Reads the attributes of 'node' named in 'allowed' (NULL-terminated) into
 * 'out' (arena strings, NULL when absent); any other attribute, or a
 * namespaced one, is an error. */
static int attrs_read(struct loader *l, const xmlNode *node, const char *const *allowed,
                      const char **out)
{
    size_t n = 0;
    while (allowed[n]) {
        out[n++] = NULL;
    }
    for (const xmlAttr *a = node->properties; a; a = a->next) {
        size_t i = 0;
        while (i < n && strcmp(allowed[i], (const char *)a->name) != 0) {
            i++;
        }
        if (i == n || a->ns) {
            return load_fail(l, SCHEMA_EDEFINE, node, "unknown attribute '%s' on <%s>",
                             (const char *)a->name, (const char *)node->name);
        }
        xmlChar *v = xmlNodeListGetString(node->doc, a->children, 1);
        out[i] = arena_strdup(l->s, v ? (const char *)v : "");
        xmlFree(v);
        if (!out[i]) {
            return LIB_ENOMEM;
        }
    }
    return 0;
}

static int bool_attr(struct loader *l, const xmlNode *node, const char *name, const char *v,
                     bool *out)
{
    if (!v) {
        *out = false;
    } else if (strcmp(v, "true") == 0) {
        *out = true;
    } else if (strcmp(v, "false") == 0) {
        *out = false;
    } else {
        return load_fail(l, SCHEMA_EDEFINE, node, "%s=\"%s\": expected true or false", name, v);
    }
    return 0;
}

static int ll_attr(struct loader *l, const xmlNode *node, const char *name, const char *v,
                   long long lo, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo) {
        return load_fail(l, SCHEMA_EDEFINE, node, "%s=\"%s\": expected an integer >= %lld", name,
                         v, lo);
    }
    *out = x;
    return 0;
}

static const struct {
    const char *name;
    enum schema_kind kind;
} scalar_kinds[] = {
    {"string", SCHEMA_KIND_STRING}, {"integer", SCHEMA_KIND_INTEGER},
    {"boolean", SCHEMA_KIND_BOOLEAN}, {"enum", SCHEMA_KIND_ENUM},
    {"ipv4", SCHEMA_KIND_IPV4}, {"ipv6", SCHEMA_KIND_IPV6},
    {"ip", SCHEMA_KIND_IP}, {"cidr", SCHEMA_KIND_CIDR},
    {"mac", SCHEMA_KIND_MAC}, {"uuid", SCHEMA_KIND_UUID},
    {"datetime", SCHEMA_KIND_DATETIME},
};

static int values_parse(struct loader *l, const xmlNode *node, const char *v,
                        struct schema_field *f)
{
    size_t count = 0;
    for (const char *p = v; *p;) {
        while (*p == ' ') {
            p++;
        }
        if (*p) {
            count++;
        }
        while (*p && *p != ' ') {
            p++;
        }
    }
    if (count == 0) {
        return load_fail(l, SCHEMA_EDEFINE, node, "enum '%s' has no values", f->name);
    }
    char *copy = arena_strdup(l->s, v);
    const char **vals = arena_alloc(l->s, count * sizeof *vals);
    if (!copy || !vals) {
        return LIB_ENOMEM;
    }
    size_t i = 0;
    for (char *p = copy; *p;) {
        while (*p == ' ') {
            *p++ = '\0';
        }
        if (*p) {
            vals[i++] = p;
        }
        while (*p && *p != ' ') {
            p++;
        }
    }
    for (size_t a = 0; a < count; a++) {
        for (size_t b = a + 1; b < count; b++) {
            if (strcmp(vals[a], vals[b]) == 0) {
                return load_fail(l, SCHEMA_EDEFINE, node, "enum '%s' repeats value '%s'",
                                 f->name, vals[a]);
            }
        }
    }
    f->values = vals;
    f->values_len = count;
    return 0;
}

static int pattern_compile(struct loader *l, const xmlNode *node, struct schema_field *f)
{
    size_t n = strlen(f->pattern) + 5;
    char *anchored = malloc(n);
    struct regex_node *r = arena_alloc(l->s, sizeof *r);
    if (!anchored || !r) {
        free(anchored);
        return LIB_ENOMEM;
    }
    snprintf(anchored, n, "^(%s)$", f->pattern);
    int rc = regcomp(&r->re, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (rc != 0) {
        return load_fail(l, SCHEMA_EDEFINE, node, "pattern of '%s' does not compile", f->name);
    }
    r->next = l->s->regexes;
    l->s->regexes = r;
    f->regex_int = &r->re;
    return 0;
}

/* Parses one <property> or <field> element into 'f'. */
static int field_parse(struct loader *l, const xmlNode *node, struct schema_field *f)
{
    static const char *const allowed[] = {
        "name", "type", "required", "list", "max-items", "min", "max", "min-length",
        "max-length", "values", "pattern", "description", "unique", NULL};
    enum { A_NAME, A_TYPE, A_REQ, A_LIST, A_MAXI, A_MIN, A_MAX, A_MINL, A_MAXL, A_VALS,
           A_PAT, A_DESC, A_UNIQ, A_N };
    const char *a[A_N];
    int rc = attrs_read(l, node, allowed, a);
    if (rc) {
        return rc;
    }
    if (!a[A_NAME] || !name_ok(a[A_NAME], false, '_')) {
        return load_fail(l, SCHEMA_EDEFINE, node, "<%s> needs a snake_case name",
                         (const char *)node->name);
    }
    f->name = a[A_NAME];
    f->description = a[A_DESC];
    f->pattern = a[A_PAT];
    if (!a[A_TYPE]) {
        return load_fail(l, SCHEMA_EDEFINE, node, "'%s' has no type", f->name);
    }
    f->type_name = a[A_TYPE];
    bool found = false;
    for (size_t i = 0; i < sizeof scalar_kinds / sizeof *scalar_kinds; i++) {
        if (strcmp(scalar_kinds[i].name, a[A_TYPE]) == 0) {
            f->kind = scalar_kinds[i].kind;
            found = true;
        }
    }
    if (!found) {
        f->complex = schema_complex_find(l->s, a[A_TYPE]);
        if (!f->complex) {
            return load_fail(l, SCHEMA_EDEFINE, node, "'%s' has unknown type '%s'", f->name,
                             a[A_TYPE]);
        }
        f->kind = SCHEMA_KIND_COMPLEX;
    }
    if ((rc = bool_attr(l, node, "required", a[A_REQ], &f->required)) ||
        (rc = bool_attr(l, node, "list", a[A_LIST], &f->list)) ||
        (rc = bool_attr(l, node, "unique", a[A_UNIQ], &f->unique))) {
        return rc;
    }
    if (f->unique && !f->list) {
        return load_fail(l, SCHEMA_EDEFINE, node, "unique on '%s', which is not a list", f->name);
    }
    long long v = 0;
    f->max_items = SCHEMA_DEFAULT_MAX_ITEMS;
    if (a[A_MAXI]) {
        if (!f->list) {
            return load_fail(l, SCHEMA_EDEFINE, node, "max-items on '%s', which is not a list",
                             f->name);
        }
        if ((rc = ll_attr(l, node, "max-items", a[A_MAXI], 1, &v))) {
            return rc;
        }
        f->max_items = (size_t)v;
    }
    bool is_int = f->kind == SCHEMA_KIND_INTEGER, is_str = f->kind == SCHEMA_KIND_STRING;
    if ((a[A_MIN] || a[A_MAX]) && !is_int) {
        return load_fail(l, SCHEMA_EDEFINE, node, "min/max on '%s', which is not an integer",
                         f->name);
    }
    if (a[A_MIN]) {
        if ((rc = ll_attr(l, node, "min", a[A_MIN], LLONG_MIN, &f->min))) {
            return rc;
        }
        f->has_min = true;
    }
    if (a[A_MAX]) {
        if ((rc = ll_attr(l, node, "max", a[A_MAX], LLONG_MIN, &f->max))) {
            return rc;
        }
        f->has_max = true;
    }
    if (f->has_min && f->has_max && f->min > f->max) {
        return load_fail(l, SCHEMA_EDEFINE, node, "'%s' has min > max", f->name);
    }
    if ((a[A_MINL] || a[A_MAXL] || a[A_PAT]) && !is_str) {
        return load_fail(l, SCHEMA_EDEFINE, node,
                         "min-length/max-length/pattern on '%s', which is not a string", f->name);
    }
    f->max_length = SCHEMA_DEFAULT_MAX_LENGTH;
    if (a[A_MINL]) {
        if ((rc = ll_attr(l, node, "min-length", a[A_MINL], 0, &v))) {
            return rc;
        }
        f->min_length = (size_t)v;
    }
    if (a[A_MAXL]) {
        if ((rc = ll_attr(l, node, "max-length", a[A_MAXL], 1, &v))) {
            return rc;
        }
        f->max_length = (size_t)v;
    }
    if (f->min_length > f->max_length) {
        return load_fail(l, SCHEMA_EDEFINE, node, "'%s' has min-length > max-length", f->name);
    }
    if ((a[A_VALS] != NULL) != (f->kind == SCHEMA_KIND_ENUM)) {
        return load_fail(l, SCHEMA_EDEFINE, node, "'%s': values= goes with type=\"enum\" only",
                         f->name);
    }
    if (a[A_VALS] && (rc = values_parse(l, node, a[A_VALS], f))) {
        return rc;
    }
    if (f->pattern && (rc = pattern_compile(l, node, f))) {
        return rc;
    }
    return 0;
}

static int cmp_field(const void *a, const void *b)
{
    return strcmp(((const struct schema_field *)a)->name, ((const struct schema_field *)b)->name);
}

/* Parses the 'elem' children of 'node' into a sorted field array. */
static int fields_parse(struct loader *l, const xmlNode *node, const char *elem,
                        struct schema_field **out, size_t *out_len)
{
    size_t n = 0;
    for (const xmlNode *c = node->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            if (!elem_is(c, elem)) {
                return load_fail(l, SCHEMA_EDEFINE, c, "unknown element <%s> in <%s>",
                                 (const char *)c->name, (const char *)node->name);
            }
            n++;
        }
    }
    struct schema_field *f = n ? arena_alloc(l->s, n * sizeof *f) : NULL;
    if (n && !f) {
        return LIB_ENOMEM;
    }
    size_t i = 0;
    for (const xmlNode *c = node->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            int rc = children_check(l, c);
            if (rc || (rc = field_parse(l, c, &f[i++]))) {
                return rc;
            }
            if (has_element_child(c)) {
                return load_fail(l, SCHEMA_EDEFINE, c, "<%s> takes no children", elem);
            }
        }
    }
    sort_n(f, n, sizeof *f, cmp_field);
    for (i = 1; i < n; i++) {
        if (strcmp(f[i - 1].name, f[i].name) == 0) {
            return load_fail(l, SCHEMA_EDEFINE, node, "duplicate %s '%s'", elem, f[i].name);
        }
    }
    *out = f;
    *out_len = n;
    return 0;
}

struct named_node {
    const char *name;
    const xmlNode *node;
};

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const struct named_node *)a)->name, ((const struct named_node *)b)->name);
}

/* Collects the root's <'elem'> children with their name= into a sorted
 * array; duplicates and bad names are errors. */
static int named_collect(struct loader *l, const xmlNode *root, const char *elem, bool camel,
                         struct named_node **out, size_t *out_len)
{
    size_t n = 0;
    for (const xmlNode *c = root->children; c; c = c->next) {
        n += elem_is(c, elem);
    }
    struct named_node *v = n ? arena_alloc(l->s, n * sizeof *v) : NULL;
    if (n && !v) {
        return LIB_ENOMEM;
    }
    size_t i = 0;
    for (const xmlNode *c = root->children; c; c = c->next) {
        if (!elem_is(c, elem)) {
            continue;
        }
        xmlChar *name = xmlGetNoNsProp(c, (const xmlChar *)"name");
        bool ok = name && (camel ? name_ok((const char *)name, true, '_') &&
                                       name[0] >= 'A' && name[0] <= 'Z'
                                 : name_ok((const char *)name, false, '-'));
        if (!ok) {
            xmlFree(name);
            return load_fail(l, SCHEMA_EDEFINE, c, "<%s> needs a %s name", elem,
                             camel ? "CamelCase" : "kebab-case");
        }
        v[i].name = arena_strdup(l->s, (const char *)name);
        xmlFree(name);
        if (!v[i].name) {
            return LIB_ENOMEM;
        }
        v[i++].node = c;
    }
    sort_n(v, n, sizeof *v, cmp_named);
    for (i = 1; i < n; i++) {
        if (strcmp(v[i - 1].name, v[i].name) == 0) {
            return load_fail(l, SCHEMA_EDEFINE, v[i].node, "duplicate %s '%s'", elem, v[i].name);
        }
    }
    *out = v;
    *out_len = n;
    return 0;
}

static int complex_parse(struct loader *l, const xmlNode *node, struct schema_complex *c)
{
    static const char *const allowed[] = {"name", "one-of", "description", NULL};
    const char *a[3];
    struct schema_field *fields;
    int rc = attrs_read(l, node, allowed, a);
    if (rc || (rc = children_check(l, node)) ||
        (rc = bool_attr(l, node, "one-of", a[1], &c->one_of)) ||
        (rc = fields_parse(l, node, "field", &fields, &c->fields_len))) {
        return rc;
    }
    c->fields = fields;
    c->description = a[2];
    if (c->fields_len == 0) {
        return load_fail(l, SCHEMA_EDEFINE, node, "complex-type '%s' has no fields", c->name);
    }
    return 0;
}

static int cmp_ref(const void *a, const void *b)
{
    return strcmp(((const struct schema_ref *)a)->key, ((const struct schema_ref *)b)->key);
}

static int ref_parse(struct loader *l, const xmlNode *node, struct schema_type *t,
                     struct schema_ref *r)
{
    static const char *const allowed[] = {"to", "attr", "weak", "required", "max-items",
                                          "description", NULL};
    const char *a[6];
    int rc = attrs_read(l, node, allowed, a);
    if (rc || (rc = children_check(l, node))) {
        return rc;
    }
    if (has_element_child(node)) {
        return load_fail(l, SCHEMA_EDEFINE, node, "<ref> takes no children");
    }
    r->from = t;
    r->to = a[0] ? schema_type_find(l->s, a[0]) : NULL;
    if (!r->to) {
        return load_fail(l, SCHEMA_EDEFINE, node, "ref of '%s' to unknown type '%s'", t->name,
                         a[0] ? a[0] : "");
    }
    if (a[1] && !(r->attr = schema_complex_find(l->s, a[1]))) {
        return load_fail(l, SCHEMA_EDEFINE, node, "ref of '%s' has unknown attr type '%s'",
                         t->name, a[1]);
    }
    if ((rc = bool_attr(l, node, "weak", a[2], &r->weak)) ||
        (rc = bool_attr(l, node, "required", a[3], &r->required))) {
        return rc;
    }
    r->max_items = SCHEMA_DEFAULT_MAX_ITEMS;
    if (a[4]) {
        long long v = 0;
        if ((rc = ll_attr(l, node, "max-items", a[4], 1, &v))) {
            return rc;
        }
        r->max_items = (size_t)v;
    }
    r->description = a[5];
    r->key = arena_key(l->s, r->to->name, "_refs");
    return r->key ? 0 : LIB_ENOMEM;
}

static int type_parse(struct loader *l, const xmlNode *node, struct schema_type *t)
{
    static const char *const allowed[] = {"name", "plural", "parents", "derived",
                                          "description", NULL};
    const char *a[5];
    int rc = attrs_read(l, node, allowed, a);
    if (rc || (rc = children_check(l, node)) ||
        (rc = bool_attr(l, node, "derived", a[3], &t->derived))) {
        return rc;
    }
    if (!a[1] || !name_ok(a[1], false, '-')) {
        return load_fail(l, SCHEMA_EDEFINE, node, "type '%s' needs a kebab-case plural", t->name);
    }
    if (!a[2]) {
        return load_fail(l, SCHEMA_EDEFINE, node, "type '%s' needs parents= (\"\" for a root)",
                         t->name);
    }
    t->plural = a[1];
    t->description = a[4];
    t->children_key = arena_key(l->s, t->plural, "");
    t->back_refs_key = arena_key(l->s, t->name, "_back_refs");
    if (!t->children_key || !t->back_refs_key) {
        return LIB_ENOMEM;
    }

    /* parents: space-separated names, resolved now (all names are known). */
    size_t np = 0;
    char *copy = arena_strdup(l->s, a[2]);
    size_t max_parents = strlen(a[2]) / 2 + 1; /* names are >= 1 byte, space-separated */
    const struct schema_type **parents = arena_alloc(l->s, max_parents * sizeof *parents);
    if (!copy || !parents) {
        return LIB_ENOMEM;
    }
    for (char *save = NULL, *p = strtok_r(copy, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
        const struct schema_type *pt = schema_type_find(l->s, p);
        if (!pt) {
            return load_fail(l, SCHEMA_EDEFINE, node, "type '%s' has unknown parent '%s'",
                             t->name, p);
        }
        for (size_t i = 0; i < np; i++) {
            if (parents[i] == pt) {
                return load_fail(l, SCHEMA_EDEFINE, node, "type '%s' repeats parent '%s'",
                                 t->name, p);
            }
        }
        parents[np++] = pt;
    }
    t->parents = parents;
    t->parents_len = np;

    /* properties and refs */
    size_t nprops = 0, nrefs = 0;
    for (const xmlNode *c = node->children; c; c = c->next) {
        if (elem_is(c, "property")) {
            nprops++;
        } else if (elem_is(c, "ref")) {
            nrefs++;
        } else if (c->type == XML_ELEMENT_NODE) {
            return load_fail(l, SCHEMA_EDEFINE, c, "unknown element <%s> in type '%s'",
                             (const char *)c->name, t->name);
        }
    }
    struct schema_field *props = nprops ? arena_alloc(l->s, nprops * sizeof *props) : NULL;
    struct schema_ref *refs = nrefs ? arena_alloc(l->s, nrefs * sizeof *refs) : NULL;
    if ((nprops && !props) || (nrefs && !refs)) {
        return LIB_ENOMEM;
    }
    size_t ip = 0, ir = 0;
    for (const xmlNode *c = node->children; c; c = c->next) {
        if (elem_is(c, "property")) {
            if ((rc = children_check(l, c)) || (rc = field_parse(l, c, &props[ip]))) {
                return rc;
            }
            const char *name = props[ip++].name;
            size_t n = strlen(name);
            if (field_find(l->s->common, l->s->common_len, name) ||
                (n > 5 && strcmp(name + n - 5, "_refs") == 0)) {
                return load_fail(l, SCHEMA_EDEFINE, c,
                                 "property '%s' of '%s' clashes with a common or ref key", name,
                                 t->name);
            }
        } else if (elem_is(c, "ref")) {
            if ((rc = ref_parse(l, c, t, &refs[ir++]))) {
                return rc;
            }
        }
    }
    sort_n(props, nprops, sizeof *props, cmp_field);
    sort_n(refs, nrefs, sizeof *refs, cmp_ref);
    for (size_t i = 1; i < nprops; i++) {
        if (strcmp(props[i - 1].name, props[i].name) == 0) {
            return load_fail(l, SCHEMA_EDEFINE, node, "type '%s' repeats property '%s'",
                             t->name, props[i].name);
        }
    }
    for (size_t i = 1; i < nrefs; i++) {
        if (strcmp(refs[i - 1].key, refs[i].key) == 0) {
            return load_fail(l, SCHEMA_EDEFINE, node, "type '%s' repeats ref to '%s'", t->name,
                             refs[i].to->name);
        }
    }
    t->props = props;
    t->props_len = nprops;
    t->refs = refs;
    t->refs_len = nrefs;
    return 0;
}

/* fq_name length of 't' (parent depth + 1), -1 if it varies with the
 * parent; 'depth' bounds the walk so a parent cycle is an error. */
static int fq_len_compute(struct loader *l, const struct schema_type *t, int depth, int *out)
{
    if (depth > 32) {
        return load_fail(l, SCHEMA_EDEFINE, NULL, "parent chain of '%s' loops or is deeper than 32",
                         t->name);
    }
    if (t->parents_len == 0) {
        *out = 1;
        return 0;
    }
    int len = 0;
    for (size_t i = 0; i < t->parents_len; i++) {
        const struct schema_type *p = t->parents[i];
        int pl = 0;
        if (p->parents_len > 0) {
            int rc = fq_len_compute(l, p, depth + 1, &pl);
            if (rc) {
                return rc;
            }
        }
        int cand = pl < 0 ? -1 : pl + 1;
        len = i == 0 ? cand : (len == cand ? len : -1);
    }
    *out = len;
    return 0;
}

static int cmp_plural_ptr(const void *a, const void *b)
{
    return strcmp((*(const struct schema_type *const *)a)->plural,
                  (*(const struct schema_type *const *)b)->plural);
}

/* Children, back-refs, fq_name lengths, the plural index, and the checks
 * that need the whole graph. */
static int graph_build(struct loader *l)
{
    struct schema *s = l->s;
    for (size_t i = 0; i < s->types_len; i++) {
        struct schema_type *t = &s->types[i];
        size_t nc = 0, nb = 0;
        for (size_t j = 0; j < s->types_len; j++) {
            nc += schema_type_has_parent(&s->types[j], t);
            for (size_t k = 0; k < s->types[j].refs_len; k++) {
                nb += s->types[j].refs[k].to == t;
            }
        }
        const struct schema_type **ch = nc ? arena_alloc(s, nc * sizeof *ch) : NULL;
        const struct schema_ref **br = nb ? arena_alloc(s, nb * sizeof *br) : NULL;
        if ((nc && !ch) || (nb && !br)) {
            return LIB_ENOMEM;
        }
        nc = nb = 0;
        for (size_t j = 0; j < s->types_len; j++) {
            if (schema_type_has_parent(&s->types[j], t)) {
                ch[nc++] = &s->types[j];
            }
            for (size_t k = 0; k < s->types[j].refs_len; k++) {
                if (s->types[j].refs[k].to == t) {
                    br[nb++] = &s->types[j].refs[k];
                }
            }
        }
        t->children = ch;
        t->children_len = nc;
        t->back_refs = br;
        t->back_refs_len = nb;
        int rc = fq_len_compute(l, t, 0, &t->fq_name_len);
        if (rc) {
            return rc;
        }
    }
    s->by_plural = arena_alloc(s, (s->types_len + 1) * sizeof *s->by_plural);
    if (!s->by_plural) {
        return LIB_ENOMEM;
    }
    for (size_t i = 0; i < s->types_len; i++) {
        s->by_plural[i] = &s->types[i];
        if (schema_type_find(s, s->types[i].plural)) {
            return load_fail(l, SCHEMA_EDEFINE, NULL, "plural '%s' is also a type name",
                             s->types[i].plural);
        }
    }
    sort_n(s->by_plural, s->types_len, sizeof *s->by_plural, cmp_plural_ptr);
    for (size_t i = 1; i < s->types_len; i++) {
        if (strcmp(s->by_plural[i - 1]->plural, s->by_plural[i]->plural) == 0) {
            return load_fail(l, SCHEMA_EDEFINE, NULL, "plural '%s' is used twice",
                             s->by_plural[i]->plural);
        }
    }
    return 0;
}

/* The structural common properties the validator relies on. */
static int common_check(struct loader *l, const xmlNode *root)
{
    static const struct {
        const char *name;
        enum schema_kind kind;
        bool list;
    } need[] = {
        {"uuid", SCHEMA_KIND_UUID, false},      {"fq_name", SCHEMA_KIND_STRING, true},
        {"parent_type", SCHEMA_KIND_STRING, false}, {"parent_uuid", SCHEMA_KIND_UUID, false},
        {"name", SCHEMA_KIND_STRING, false},
    };
    struct schema *s = l->s;
    for (size_t i = 0; i < sizeof need / sizeof *need; i++) {
        const struct schema_field *f = field_find(s->common, s->common_len, need[i].name);
        if (!f || f->kind != need[i].kind || f->list != need[i].list) {
            return load_fail(l, SCHEMA_EDEFINE, root,
                             "<common> must declare '%s' as a%s %s", need[i].name,
                             need[i].list ? " list of" : "", scalar_kinds[need[i].kind].name);
        }
    }
    s->fq_name_field = field_find(s->common, s->common_len, "fq_name");
    return 0;
}

static int schema_build(struct loader *l, const xmlNode *root)
{
    struct schema *s = l->s;
    static const char *const root_allowed[] = {"version", NULL};
    const char *ver;
    int rc = attrs_read(l, root, root_allowed, &ver);
    if (rc || (rc = children_check(l, root))) {
        return rc;
    }
    long long version = 0;
    if (!ver || (rc = ll_attr(l, root, "version", ver, 1, &version))) {
        return rc ? rc : load_fail(l, SCHEMA_EDEFINE, root, "<schema> needs version=");
    }
    s->version = version > INT_MAX ? INT_MAX : (int)version;

    const xmlNode *common = NULL;
    for (const xmlNode *c = root->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || elem_is(c, "complex-type") || elem_is(c, "type")) {
            continue;
        }
        if (!elem_is(c, "common") || common) {
            return load_fail(l, SCHEMA_EDEFINE, c, "%s element <%s> in <schema>",
                             common && elem_is(c, "common") ? "second" : "unknown",
                             (const char *)c->name);
        }
        common = c;
    }
    if (!common) {
        return load_fail(l, SCHEMA_EDEFINE, root, "<schema> has no <common>");
    }

    struct named_node *cx, *ty;
    size_t ncx, nty;
    if ((rc = named_collect(l, root, "complex-type", true, &cx, &ncx)) ||
        (rc = named_collect(l, root, "type", false, &ty, &nty))) {
        return rc;
    }
    if (nty == 0) {
        return load_fail(l, SCHEMA_EDEFINE, root, "<schema> declares no types");
    }
    s->complexes = ncx ? arena_alloc(s, ncx * sizeof *s->complexes) : NULL;
    s->types = arena_alloc(s, nty * sizeof *s->types);
    if ((ncx && !s->complexes) || !s->types) {
        return LIB_ENOMEM;
    }
    for (size_t i = 0; i < ncx; i++) {
        s->complexes[i].name = cx[i].name;
    }
    s->complexes_len = ncx;
    for (size_t i = 0; i < nty; i++) {
        s->types[i].name = ty[i].name;
    }
    s->types_len = nty;

    for (size_t i = 0; i < ncx; i++) {
        if ((rc = complex_parse(l, cx[i].node, &s->complexes[i]))) {
            return rc;
        }
    }
    static const char *const no_attrs[] = {NULL};
    if ((rc = attrs_read(l, common, no_attrs, NULL)) || (rc = children_check(l, common)) ||
        (rc = fields_parse(l, common, "property", &s->common, &s->common_len)) ||
        (rc = common_check(l, common))) {
        return rc;
    }
    for (size_t i = 0; i < nty; i++) {
        if ((rc = type_parse(l, ty[i].node, &s->types[i]))) {
            return rc;
        }
    }
    return graph_build(l);
}

int schema_load_buffer(const char *xml, size_t size, struct schema **out,
                       struct schema_error *err)
{
    struct loader l = {.err = err};
    int rc;
    *out = NULL;
    if (err) {
        memset(err, 0, sizeof *err);
    }
    if (size > SCHEMA_XML_MAX_SIZE || size > INT_MAX) {
        err_printf(err, 500, "schema XML is larger than %u bytes", SCHEMA_XML_MAX_SIZE);
        return LIB_ETOOBIG;
    }
    /* The format has no use for a DTD; refusing it before parsing means no
     * entity, internal or external, can ever be declared, let alone expanded.
     * The scan is only sound if the parser reads the same bytes as text, so
     * the document must be UTF-8 (no NUL bytes, as UTF-16/32 would have) and
     * is parsed as UTF-8 whatever its declaration says. */
    if (memchr(xml, '\0', size)) {
        err_printf(err, 500, "schema XML must be UTF-8 without NUL bytes");
        return SCHEMA_EXML;
    }
    if (memmem(xml, size, "<!DOCTYPE", 9) || memmem(xml, size, "<!ENTITY", 8)) {
        err_printf(err, 500, "schema XML must not contain a DOCTYPE or ENTITY declaration");
        return SCHEMA_EXML;
    }
    xmlInitParser();
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        return LIB_ENOMEM;
    }
    /* No XML_PARSE_NOENT (no entity substitution), no DTDLOAD/DTDATTR/DTDVALID,
     * NONET so nothing is fetched; errors are collected, not printed. */
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, xml, (int)size, "strata.xml", "UTF-8",
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        xmlErrorPtr xe = xmlCtxtGetLastError(ctxt);
        char msg[160] = "unknown parse error";
        int line = 0;
        if (xe && xe->message) {
            snprintf(msg, sizeof msg, "%s", xe->message);
            msg[strcspn(msg, "\n")] = '\0';
            line = xe->line;
        }
        err_printf(err, 500, "line %d: %s", line, msg);
        rc = SCHEMA_EXML;
        goto out_ctxt;
    }
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (doc->intSubset || doc->extSubset) {
        err_printf(err, 500, "schema XML must not have a DTD");
        rc = SCHEMA_EXML;
        goto out_doc;
    }
    if (!root || !elem_is(root, "schema") || root->ns) {
        err_printf(err, 500, "root element must be <schema>");
        rc = SCHEMA_EDEFINE;
        goto out_doc;
    }
    l.s = calloc(1, sizeof *l.s);
    if (!l.s) {
        rc = LIB_ENOMEM;
        goto out_doc;
    }
    rc = schema_build(&l, root);
#ifdef STRATA_TEST_HOOKS
    if (rc == 0 && schema_audit(l.s) != 0) {
        abort(); /* the loader broke its own invariants */
    }
#endif
    if (rc == LIB_ENOMEM) {
        err_printf(err, 500, "out of memory while loading the schema");
    }
    if (rc) {
        schema_free(l.s);
    } else {
        *out = l.s;
    }
out_doc:
    xmlFreeDoc(doc);
out_ctxt:
    xmlFreeParserCtxt(ctxt);
    return rc;
}

int schema_load_builtin(struct schema **out, struct schema_error *err)
{
    size_t size;
    const char *xml = schema_builtin_xml(&size);
    return schema_load_buffer(xml, size, out, err);
}

int schema_load_file(const char *path, struct schema **out, struct schema_error *err)
{
    *out = NULL;
    if (err) {
        memset(err, 0, sizeof *err);
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_printf(err, 500, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? LIB_ENOENT : LIB_EIO;
    }
    int rc;
    char *data = malloc(SCHEMA_XML_MAX_SIZE + 1);
    if (!data) {
        rc = LIB_ENOMEM;
        goto out_file;
    }
    size_t size = fread(data, 1, SCHEMA_XML_MAX_SIZE + 1, f);
    if (ferror(f)) {
        err_printf(err, 500, "%s: read error", path);
        rc = LIB_EIO;
    } else if (size > SCHEMA_XML_MAX_SIZE) {
        err_printf(err, 500, "%s: larger than %u bytes", path, SCHEMA_XML_MAX_SIZE);
        rc = LIB_ETOOBIG;
    } else {
        rc = schema_load_buffer(data, size, out, err);
    }
    free(data);
out_file:
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Syntax checks for the address-like kinds. 's' is NUL-free, 'n' bytes. */

static bool ipv4_ok(const char *s)
{
    unsigned char b[4];
    return inet_pton(AF_INET, s, b) == 1;
}

static bool ipv6_ok(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET6, s, b) == 1;
}

static bool hex_ok(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* "addr/len" with len in range and every bit after len zero. */
static bool cidr_ok(const char *s, size_t n, const char **why)
{
    const char *slash = memchr(s, '/', n);
    *why = "expected address/length";
    if (!slash || slash == s || memchr(slash + 1, '/', n - (size_t)(slash - s) - 1)) {
        return false;
    }
    char addr[64];
    size_t an = (size_t)(slash - s);
    if (an >= sizeof addr) {
        return false;
    }
    memcpy(addr, s, an);
    addr[an] = '\0';
    const char *lp = slash + 1;
    size_t ln = n - an - 1;
    if (ln == 0 || ln > 3 || (ln > 1 && lp[0] == '0')) {
        return false;
    }
    unsigned len = 0;
    for (size_t i = 0; i < ln; i++) {
        if (lp[i] < '0' || lp[i] > '9') {
            return false;
        }
        len = len * 10 + (unsigned)(lp[i] - '0');
    }
    unsigned char b[16];
    unsigned bits;
    if (inet_pton(AF_INET, addr, b) == 1) {
        bits = 32;
    } else if (inet_pton(AF_INET6, addr, b) == 1) {
        bits = 128;
    } else {
        *why = "not a valid address before '/'";
        return false;
    }
    if (len > bits) {
        *why = "prefix length out of range";
        return false;
    }
    for (unsigned i = len; i < bits; i++) {
        if (b[i / 8] & (0x80u >> (i % 8))) {
            *why = "host bits set after the prefix length";
            return false;
        }
    }
    return true;
}

static bool mac_ok(const char *s, size_t n)
{
    if (n != 17) {
        return false;
    }
    for (size_t i = 0; i < 17; i++) {
        if (i % 3 == 2 ? s[i] != ':' : !hex_ok(s[i])) {
            return false;
        }
    }
    return true;
}

static bool uuid_ok(const char *s, size_t n)
{
    if (n != 36) {
        return false;
    }
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !hex_ok(s[i])) {
            return false;
        }
    }
    return true;
}

static bool digits(const char *s, size_t n, int *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static bool datetime_ok(const char *s, size_t n)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se;
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        !digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se)) {
        return false;
    }
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || se > 60) {
        return false;
    }
    size_t i = 19;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (i == start || i - start > 9) {
            return false;
        }
    }
    if (i + 1 == n && s[i] == 'Z') {
        return true;
    }
    int oh, om;
    return i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
           digits(s + i + 1, 2, &oh) && digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59;
}

/* ------------------------------------------------------------------ */
/* Validator. */

#define VALIDATE_MAX_DEPTH 64

struct vctx {
    const struct schema *s;
    struct schema_error *err;
    enum schema_mode mode;
    int depth;
    size_t path_len;
    char path[SCHEMA_PATH_MAX];
};

/* Appends ".key" (or "key" at the start) to the path; returns the length to
 * restore. A path that would not fit ends in "..." instead. */
static size_t path_push(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(struct vctx *v, const char *fmt, ...)
{
    size_t old = v->path_len;
    if (old >= sizeof v->path - 1) {
        return old;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v->path + old, sizeof v->path - old, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof v->path - old) {
        memcpy(v->path + sizeof v->path - 4, "...", 4);
        v->path_len = sizeof v->path - 1;
    } else {
        v->path_len = old + (size_t)n;
    }
    return old;
}

static size_t path_push_key(struct vctx *v, const char *key)
{
    return v->path_len ? path_push(v, ".%s", key) : path_push(v, "%s", key);
}

static void path_pop(struct vctx *v, size_t old)
{
    v->path_len = old;
    v->path[old] = '\0';
}

/* Records the failure at the current path; status 400 gives
 * SCHEMA_EINVALID, 422 SCHEMA_ECONSTRAINT. */
static int vfail(struct vctx *v, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int vfail(struct vctx *v, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_set(v->err, status, v->path, fmt, ap);
    va_end(ap);
    return status == 400 ? SCHEMA_EINVALID : SCHEMA_ECONSTRAINT;
}

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
    default:
        return "null";
    }
}

static int validate_complex(struct vctx *v, const struct schema_complex *c, const json_t *j);

static int validate_string(struct vctx *v, const struct schema_field *f, const json_t *j)
{
    const char *str = json_string_value(j);
    size_t n = json_string_length(j);
    if (strlen(str) != n) {
        return vfail(v, 400, "string contains a NUL byte");
    }
    if (n < f->min_length) {
        return vfail(v, 422, "must be at least %zu bytes", f->min_length);
    }
    if (n > f->max_length) {
        return vfail(v, 422, "must be at most %zu bytes", f->max_length);
    }
    if (f->regex_int && regexec(f->regex_int, str, 0, NULL, 0) != 0) {
        return vfail(v, 422, "does not match the pattern %.200s", f->pattern);
    }
    return 0;
}

static int validate_enum(struct vctx *v, const struct schema_field *f, const char *str)
{
    for (size_t i = 0; i < f->values_len; i++) {
        if (strcmp(f->values[i], str) == 0) {
            return 0;
        }
    }
    char allowed[160] = "";
    size_t used = 0;
    for (size_t i = 0; i < f->values_len && used < sizeof allowed - 1; i++) {
        int n = snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "",
                         f->values[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    return vfail(v, 422, "not one of: %s", allowed);
}

static int validate_one(struct vctx *v, const struct schema_field *f, const json_t *j)
{
    static const char *const names[] = {
        [SCHEMA_KIND_IPV4] = "an IPv4 address", [SCHEMA_KIND_IPV6] = "an IPv6 address",
        [SCHEMA_KIND_IP] = "an IP address",     [SCHEMA_KIND_CIDR] = "a CIDR prefix",
        [SCHEMA_KIND_MAC] = "a MAC address",    [SCHEMA_KIND_UUID] = "a UUID",
        [SCHEMA_KIND_DATETIME] = "an RFC 3339 date-time"};
    switch (f->kind) {
    case SCHEMA_KIND_COMPLEX:
        return validate_complex(v, f->complex, j);
    case SCHEMA_KIND_BOOLEAN:
        return json_is_boolean(j) ? 0 : vfail(v, 400, "expected a boolean, got %s", json_kind(j));
    case SCHEMA_KIND_INTEGER: {
        if (!json_is_integer(j)) {
            return vfail(v, 400, "expected an integer, got %s", json_kind(j));
        }
        long long x = json_integer_value(j);
        if ((f->has_min && x < f->min) || (f->has_max && x > f->max)) {
            if (f->has_min && f->has_max) {
                return vfail(v, 422, "%lld is out of range [%lld, %lld]", x, f->min, f->max);
            }
            return f->has_min ? vfail(v, 422, "%lld is below the minimum %lld", x, f->min)
                              : vfail(v, 422, "%lld is above the maximum %lld", x, f->max);
        }
        return 0;
    }
    case SCHEMA_KIND_STRING:
    case SCHEMA_KIND_ENUM:
    case SCHEMA_KIND_IPV4:
    case SCHEMA_KIND_IPV6:
    case SCHEMA_KIND_IP:
    case SCHEMA_KIND_CIDR:
    case SCHEMA_KIND_MAC:
    case SCHEMA_KIND_UUID:
    case SCHEMA_KIND_DATETIME:
    default:
        break;
    }
    if (!json_is_string(j)) {
        return vfail(v, 400, "expected a string, got %s", json_kind(j));
    }
    if (f->kind == SCHEMA_KIND_STRING) {
        return validate_string(v, f, j);
    }
    const char *str = json_string_value(j);
    size_t n = json_string_length(j);
    if (strlen(str) != n) {
        return vfail(v, 400, "string contains a NUL byte");
    }
    if (f->kind == SCHEMA_KIND_ENUM) {
        return validate_enum(v, f, str);
    }
    const char *why = NULL;
    bool ok = n <= 64;
    if (ok) {
        switch (f->kind) {
        case SCHEMA_KIND_IPV4:
            ok = ipv4_ok(str);
            break;
        case SCHEMA_KIND_IPV6:
            ok = ipv6_ok(str);
            break;
        case SCHEMA_KIND_IP:
            ok = ipv4_ok(str) || ipv6_ok(str);
            break;
        case SCHEMA_KIND_CIDR:
            ok = cidr_ok(str, n, &why);
            break;
        case SCHEMA_KIND_MAC:
            ok = mac_ok(str, n);
            break;
        case SCHEMA_KIND_UUID:
            ok = uuid_ok(str, n);
            break;
        case SCHEMA_KIND_DATETIME:
            ok = datetime_ok(str, n);
            break;
        case SCHEMA_KIND_STRING:
        case SCHEMA_KIND_INTEGER:
        case SCHEMA_KIND_BOOLEAN:
        case SCHEMA_KIND_ENUM:
        case SCHEMA_KIND_COMPLEX:
        default:
            ok = false;
            break;
        }
    }
    if (!ok) {
        return why ? vfail(v, 422, "not %s: %s", names[f->kind], why)
                   : vfail(v, 422, "not %s", names[f->kind]);
    }
    return 0;
}

/* A property or field value: the kind, or a list of it. 'j' is not null. */
static int validate_value(struct vctx *v, const struct schema_field *f, const json_t *j)
{
    if (!f->list) {
        return validate_one(v, f, j);
    }
    if (!json_is_array(j)) {
        return vfail(v, 400, "expected an array, got %s", json_kind(j));
    }
    size_t n = json_array_size(j);
    if (n > f->max_items) {
        return vfail(v, 422, "has %zu items, at most %zu allowed", n, f->max_items);
    }
    for (size_t i = 0; i < n; i++) {
        size_t old = path_push(v, "[%zu]", i);
        const json_t *item = json_array_get(j, i);
        int rc = json_is_null(item) ? vfail(v, 400, "null is not allowed in a list")
                                    : validate_one(v, f, item);
        if (rc) {
            return rc;
        }
        for (size_t k = 0; f->unique && k < i; k++) {
            if (json_equal((json_t *)item, json_array_get(j, k))) {
                return vfail(v, 422, "repeats item [%zu]; items must be unique", k);
            }
        }
        path_pop(v, old);
    }
    return 0;
}

static int validate_complex(struct vctx *v, const struct schema_complex *c, const json_t *j)
{
    if (!json_is_object(j)) {
        return vfail(v, 400, "expected an object (%s), got %s", c->name, json_kind(j));
    }
    if (++v->depth > VALIDATE_MAX_DEPTH) {
        return vfail(v, 400, "nested too deep");
    }
    const char *key;
    const json_t *val;
    const char *first = NULL;
    json_object_foreach((json_t *)j, key, val)
    {
        const struct schema_field *f = schema_complex_field(c, key);
        size_t old = path_push_key(v, key);
        if (!f) {
            return vfail(v, 400, "unknown field for %s", c->name);
        }
        if (!json_is_null(val)) {
            if (c->one_of && first) {
                return vfail(v, 422, "only one of the fields of %s may be set ('%s' is)",
                             c->name, first);
            }
            first = f->name;
            int rc = validate_value(v, f, val);
            if (rc) {
                return rc;
            }
        }
        path_pop(v, old);
    }
    for (size_t i = 0; i < c->fields_len; i++) {
        const struct schema_field *f = &c->fields[i];
        const json_t *x = json_object_get(j, f->name);
        if (f->required && (!x || json_is_null(x))) {
            size_t old = path_push_key(v, f->name);
            int rc = vfail(v, 422, "required field is missing");
            path_pop(v, old);
            return rc;
        }
    }
    v->depth--;
    return 0;
}

/* An fq_name array (of an object or a ref target) against the common
 * fq_name field, plus its expected length when 'want' >= 0. */
static int validate_fq_name(struct vctx *v, const json_t *j, int want, const char *type)
{
    int rc = validate_value(v, v->s->fq_name_field, j);
    if (rc) {
        return rc;
    }
    size_t n = json_array_size(j);
    if (n == 0) {
        return vfail(v, 422, "must not be empty");
    }
    if (want >= 0 && n != (size_t)want) {
        return vfail(v, 422, "a %s has %d name elements, not %zu", type, want, n);
    }
    return 0;
}

static int validate_ref_item(struct vctx *v, const struct schema_ref *r, const json_t *j)
{
    if (!json_is_object(j)) {
        return vfail(v, 400, "expected a reference object, got %s", json_kind(j));
    }
    const char *key;
    const json_t *val;
    bool has_target = false;
    json_object_foreach((json_t *)j, key, val)
    {
        size_t old = path_push_key(v, key);
        int rc = 0;
        if (strcmp(key, "to") == 0) {
            rc = validate_fq_name(v, val, r->to->fq_name_len, r->to->name);
            has_target = true;
        } else if (strcmp(key, "uuid") == 0) {
            static const struct schema_field uuid_field = {.name = "uuid",
                                                           .kind = SCHEMA_KIND_UUID};
            rc = validate_one(v, &uuid_field, val);
            has_target = true;
        } else if (strcmp(key, "href") == 0) {
            static const struct schema_field href_field = {
                .name = "href", .kind = SCHEMA_KIND_STRING, .max_length = 2048};
            rc = validate_one(v, &href_field, val);
        } else if (strcmp(key, "attr") == 0) {
            if (!json_is_null(val)) {
                rc = r->attr ? validate_complex(v, r->attr, val)
                             : vfail(v, 400, "a reference to %s has no attributes", r->to->name);
            }
        } else {
            rc = vfail(v, 400, "unknown field in a reference");
        }
        if (rc) {
            return rc;
        }
        path_pop(v, old);
    }
    return has_target ? 0 : vfail(v, 422, "a reference needs 'to' (fq_name) or 'uuid'");
}

static int validate_refs(struct vctx *v, const struct schema_ref *r, const json_t *j)
{
    if (!json_is_array(j)) {
        return vfail(v, 400, "expected an array, got %s", json_kind(j));
    }
    size_t n = json_array_size(j);
    if (n > r->max_items) {
        return vfail(v, 422, "has %zu references, at most %zu allowed", n, r->max_items);
    }
    for (size_t i = 0; i < n; i++) {
        size_t old = path_push(v, "[%zu]", i);
        int rc = validate_ref_item(v, r, json_array_get(j, i));
        if (rc) {
            return rc;
        }
        path_pop(v, old);
    }
    return 0;
}

static const json_t *present(const json_t *obj, const char *key)
{
    const json_t *x = json_object_get(obj, key);
    return x && !json_is_null(x) ? x : NULL;
}

/* parent_type, fq_name length, name, and the create-only requirements. */
static int validate_structure(struct vctx *v, const struct schema_type *t, const json_t *obj)
{
    const json_t *pt = present(obj, "parent_type");
    const json_t *fq = present(obj, "fq_name");
    const json_t *name = present(obj, "name");
    const struct schema_type *parent = NULL;
    size_t old;
    if (pt) {
        old = path_push_key(v, "parent_type");
        parent = schema_type_find(v->s, json_string_value(pt));
        if (!parent || !schema_type_has_parent(t, parent)) {
            char allowed[160] = "";
            size_t used = 0;
            for (size_t i = 0; i < t->parents_len && used < sizeof allowed - 1; i++) {
                int n = snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "",
                                 t->parents[i]->name);
                used += n > 0 ? (size_t)n : 0;
            }
            return t->parents_len
                       ? vfail(v, 422, "'%s' is not a parent type of %s (allowed: %s)",
                               json_string_value(pt), t->name, allowed)
                       : vfail(v, 422, "%s is a root type and has no parent", t->name);
        }
        path_pop(v, old);
    } else if (v->mode == SCHEMA_CREATE && t->parents_len > 1 && !present(obj, "parent_uuid")) {
        old = path_push_key(v, "parent_type");
        return vfail(v, 422, "required: %s has several parent types", t->name);
    }
    if (fq) {
        old = path_push_key(v, "fq_name");
        int want = schema_fq_name_len(t, parent);
        if (want >= 0 && json_array_size(fq) != (size_t)want) {
            return vfail(v, 422, "a %s has %d name elements, not %zu", t->name, want,
                         json_array_size(fq));
        }
        if (json_array_size(fq) == 0) {
            return vfail(v, 422, "must not be empty");
        }
        path_pop(v, old);
        const json_t *last = json_array_get(fq, json_array_size(fq) - 1);
        if (name && strcmp(json_string_value(name), json_string_value(last)) != 0) {
            old = path_push_key(v, "name");
            return vfail(v, 422, "must equal the last element of fq_name");
        }
    }
    if (v->mode != SCHEMA_CREATE) {
        return 0;
    }
    size_t ncommon;
    const struct schema_field *common = schema_common_props(v->s, &ncommon);
    for (int pass = 0; pass < 2; pass++) {
        const struct schema_field *f = pass ? t->props : common;
        size_t n = pass ? t->props_len : ncommon;
        for (size_t i = 0; i < n; i++) {
            if (f[i].required && !present(obj, f[i].name)) {
                old = path_push_key(v, f[i].name);
                return vfail(v, 422, "required property is missing");
            }
        }
    }
    for (size_t i = 0; i < t->refs_len; i++) {
        const json_t *r = present(obj, t->refs[i].key);
        if (t->refs[i].required && (!r || json_array_size(r) == 0)) {
            old = path_push_key(v, t->refs[i].key);
            return vfail(v, 422, "a %s needs a reference to a %s", t->name, t->refs[i].to->name);
        }
    }
    return 0;
}

int schema_validate(const struct schema *s, const struct schema_type *t, const json_t *obj,
                    enum schema_mode mode, struct schema_error *err)
{
    struct vctx v = {.s = s, .err = err, .mode = mode};
    if (err) {
        memset(err, 0, sizeof *err);
    }
    if (!t) {
        err_printf(err, 400, "unknown object type");
        return SCHEMA_ENOTYPE;
    }
    if (!obj || !json_is_object(obj)) {
        return vfail(&v, 400, "expected a %s object, got %s", t->name,
                     obj ? json_kind(obj) : "nothing");
    }
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        size_t old = path_push_key(&v, key);
        const struct schema_field *f = schema_prop_find(s, t, key);
        const struct schema_ref *r = f ? NULL : schema_type_ref(t, key);
        int rc = 0;
        if (!f && !r) {
            rc = vfail(&v, 400, "unknown field for %s", t->name);
        } else if (json_is_null(val)) {
            rc = 0;
        } else if (f && strcmp(key, "fq_name") == 0) {
            rc = validate_fq_name(&v, val, -1, t->name);
        } else if (f) {
            rc = validate_value(&v, f, val);
        } else {
            rc = validate_refs(&v, r, val);
        }
        if (rc) {
            return rc;
        }
        path_pop(&v, old);
    }
    return validate_structure(&v, t, obj);
}

int schema_validate_body(const struct schema *s, const char *type_name, const json_t *body,
                         enum schema_mode mode, const json_t **inner, struct schema_error *err)
{
    if (inner) {
        *inner = NULL;
    }
    if (err) {
        memset(err, 0, sizeof *err);
    }
    const struct schema_type *t = schema_type_find(s, type_name);
    if (!t) {
        err_printf(err, 400, "unknown object type '%.200s'", type_name ? type_name : "");
        return SCHEMA_ENOTYPE;
    }
    if (!json_is_object(body)) {
        err_printf(err, 400, "expected {\"%s\": {...}}", t->name);
        return SCHEMA_EINVALID;
    }
    const json_t *obj = json_object_get(body, t->name);
    if (json_object_size(body) != 1 || !obj) {
        err_printf(err, 400, "expected exactly one key, \"%s\"", t->name);
        return SCHEMA_ENOTYPE;
    }
    int rc = schema_validate(s, t, obj, mode, err);
    if (rc == 0 && inner) {
        *inner = obj;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Bounded JSON parsing. */

int schema_json_parse_bounded(const char *data, size_t size, size_t max_size, int max_depth,
                              json_t **out, struct schema_error *err)
{
    *out = NULL;
    if (err) {
        memset(err, 0, sizeof *err);
    }
    if (max_depth <= 0) {
        max_depth = SCHEMA_JSON_MAX_DEPTH;
    }
    if (size > max_size) {
        err_printf(err, 413, "document is %zu bytes, at most %zu allowed", size, max_size);
        return SCHEMA_ETOOBIG;
    }
    /* Nesting pre-scan: brackets outside strings. Exact for valid JSON, an
     * upper bound for invalid input (which jansson then rejects anyway). */
    int depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < size; i++) {
        char c = data[i];
        if (in_str) {
            if (esc) {
                esc = false;
            } else if (c == '\\') {
                esc = true;
            } else if (c == '"') {
                in_str = false;
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                err_printf(err, 400, "nested deeper than %d at byte %zu", max_depth, i);
                return SCHEMA_ETOODEEP;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    json_error_t je;
    json_t *j = json_loadb(data, size, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (json_error_code(&je) == json_error_out_of_memory) {
            err_printf(err, 500, "out of memory parsing JSON");
            return LIB_ENOMEM;
        }
        err_printf(err, 400, "%s at line %d column %d", je.text, je.line, je.column);
        return SCHEMA_EJSON;
    }
    *out = j;
    return 0;
}

/* ------------------------------------------------------------------ */
/* OpenAPI 3.0 generation. Every json_* result is checked through oset() and
 * apush(), which record LIB_ENOMEM in '*rc' and release what they were given. */

static void oset(json_t *o, const char *key, json_t *val, int *rc)
{
    if (!o || !val) {
        json_decref(val);
        *rc = LIB_ENOMEM;
    } else if (json_object_set_new(o, key, val) != 0) { /* releases 'val' */
        *rc = LIB_ENOMEM;
    }
}

static void apush(json_t *a, json_t *val, int *rc)
{
    if (!a || !val) {
        json_decref(val);
        *rc = LIB_ENOMEM;
    } else if (json_array_append_new(a, val) != 0) { /* releases 'val' */
        *rc = LIB_ENOMEM;
    }
}

static json_t *ref_to(const char *name)
{
    return json_pack("{s:o}", "$ref", json_sprintf("#/components/schemas/%s", name));
}

static json_t *scalar_schema(const struct schema_field *f, int *rc)
{
    static const char *const formats[] = {
        [SCHEMA_KIND_IPV4] = "ipv4", [SCHEMA_KIND_IPV6] = "ipv6",
        [SCHEMA_KIND_IP] = "ip-address", [SCHEMA_KIND_CIDR] = "cidr",
        [SCHEMA_KIND_MAC] = "mac-address", [SCHEMA_KIND_UUID] = "uuid",
        [SCHEMA_KIND_DATETIME] = "date-time"};
    if (f->kind == SCHEMA_KIND_COMPLEX) {
        json_t *r = ref_to(f->complex->name);
        if (!r) {
            *rc = LIB_ENOMEM;
        }
        return r;
    }
    json_t *o = json_object();
    switch (f->kind) {
    case SCHEMA_KIND_INTEGER:
        oset(o, "type", json_string("integer"), rc);
        oset(o, "format", json_string("int64"), rc);
        if (f->has_min) {
            oset(o, "minimum", json_integer(f->min), rc);
        }
        if (f->has_max) {
            oset(o, "maximum", json_integer(f->max), rc);
        }
        break;
    case SCHEMA_KIND_BOOLEAN:
        oset(o, "type", json_string("boolean"), rc);
        break;
    case SCHEMA_KIND_ENUM: {
        json_t *vals = json_array();
        for (size_t i = 0; i < f->values_len; i++) {
            apush(vals, json_string(f->values[i]), rc);
        }
        oset(o, "type", json_string("string"), rc);
        oset(o, "enum", vals, rc);
        break;
    }
    case SCHEMA_KIND_STRING:
        oset(o, "type", json_string("string"), rc);
        oset(o, "maxLength", json_integer((json_int_t)f->max_length), rc);
        if (f->min_length) {
            oset(o, "minLength", json_integer((json_int_t)f->min_length), rc);
        }
        if (f->pattern) {
            oset(o, "pattern", json_sprintf("^(%s)$", f->pattern), rc);
        }
        break;
    case SCHEMA_KIND_IPV4:
    case SCHEMA_KIND_IPV6:
    case SCHEMA_KIND_IP:
    case SCHEMA_KIND_CIDR:
    case SCHEMA_KIND_MAC:
    case SCHEMA_KIND_UUID:
    case SCHEMA_KIND_DATETIME:
        oset(o, "type", json_string("string"), rc);
        oset(o, "format", json_string(formats[f->kind]), rc);
        break;
    case SCHEMA_KIND_COMPLEX:
    default:
        break;
    }
    return o;
}

static json_t *field_schema(const struct schema_field *f, int *rc)
{
    json_t *base = scalar_schema(f, rc);
    json_t *out = base;
    if (f->list) {
        out = json_object();
        oset(out, "type", json_string("array"), rc);
        oset(out, "items", base, rc);
        oset(out, "maxItems", json_integer((json_int_t)f->max_items), rc);
        if (f->unique) {
            oset(out, "uniqueItems", json_true(), rc);
        }
    }
    if (f->description && f->kind != SCHEMA_KIND_COMPLEX) {
        oset(out, "description", json_string(f->description), rc);
    } else if (f->description && f->list) {
        oset(out, "description", json_string(f->description), rc);
    }
    return out;
}

static json_t *fields_object(const struct schema_field *f, size_t n, bool create_required,
                             json_t *props, int *rc)
{
    json_t *req = json_array();
    for (size_t i = 0; i < n; i++) {
        oset(props, f[i].name, field_schema(&f[i], rc), rc);
        if (f[i].required && create_required) {
            apush(req, json_string(f[i].name), rc);
        }
    }
    return req;
}

static json_t *fq_name_schema(int *rc)
{
    json_t *o = json_object();
    json_t *items = json_object();
    oset(items, "type", json_string("string"), rc);
    oset(o, "type", json_string("array"), rc);
    oset(o, "items", items, rc);
    return o;
}

static json_t *ref_link_schema(const struct schema_ref *r, int *rc)
{
    json_t *o = json_object(), *props = json_object();
    oset(o, "type", json_string("object"), rc);
    oset(o, "additionalProperties", json_false(), rc);
    oset(props, "to", fq_name_schema(rc), rc);
    oset(props, "uuid", json_pack("{s:s,s:s}", "type", "string", "format", "uuid"), rc);
    oset(props, "href", json_pack("{s:s,s:b}", "type", "string", "readOnly", 1), rc);
    if (r->attr) {
        oset(props, "attr", ref_to(r->attr->name), rc);
    }
    oset(o, "properties", props, rc);
    json_t *desc = json_sprintf("Reference %s -> %s%s%s%s", r->from->name, r->to->name,
                                r->weak ? " (weak: may dangle)" : "",
                                r->description ? ". " : "",
                                r->description ? r->description : "");
    oset(o, "description", desc, rc);
    return o;
}

static json_t *object_schema(const struct schema *s, const struct schema_type *t, json_t *comps,
                             int *rc)
{
    json_t *o = json_object(), *props = json_object();
    oset(o, "type", json_string("object"), rc);
    oset(o, "additionalProperties", json_false(), rc);
    if (t->description) {
        oset(o, "description", json_string(t->description), rc);
    }
    json_t *req = fields_object(s->common, s->common_len, true, props, rc);
    json_t *own = fields_object(t->props, t->props_len, true, props, rc);
    for (size_t i = 0; own && i < json_array_size(own); i++) {
        apush(req, json_incref(json_array_get(own, i)), rc);
    }
    json_decref(own);
    for (size_t i = 0; i < t->refs_len; i++) {
        const struct schema_ref *r = &t->refs[i];
        char name[200];
        snprintf(name, sizeof name, "%s.%s", t->name, r->key);
        oset(comps, name, ref_link_schema(r, rc), rc);
        json_t *arr = json_object();
        oset(arr, "type", json_string("array"), rc);
        oset(arr, "items", ref_to(name), rc);
        oset(arr, "maxItems", json_integer((json_int_t)r->max_items), rc);
        oset(props, r->key, arr, rc);
        if (r->required) {
            apush(req, json_string(r->key), rc);
        }
    }
    /* Read-only keys the API adds on GET. */
    oset(props, "href", json_pack("{s:s,s:b}", "type", "string", "readOnly", 1), rc);
    for (size_t i = 0; i < t->children_len; i++) {
        oset(props, t->children[i]->children_key,
             json_pack("{s:s,s:b,s:{s:s}}", "type", "array", "readOnly", 1, "items", "type",
                       "object"),
             rc);
    }
    if (t->back_refs_len) {
        for (size_t i = 0; i < t->back_refs_len; i++) {
            char key[200];
            snprintf(key, sizeof key, "%s", t->back_refs[i]->from->back_refs_key);
            oset(props, key,
                 json_pack("{s:s,s:b,s:{s:s}}", "type", "array", "readOnly", 1, "items", "type",
                           "object"),
                 rc);
        }
    }
    oset(o, "properties", props, rc);
    if (json_array_size(req)) {
        oset(o, "required", req, rc);
    } else {
        json_decref(req);
    }
    if (t->derived) {
        oset(o, "x-strata-derived", json_true(), rc);
    }
    return o;
}

static json_t *body_schema(const struct schema_type *t, int *rc)
{
    json_t *o = json_object(), *props = json_object(), *req = json_array();
    oset(o, "type", json_string("object"), rc);
    oset(o, "additionalProperties", json_false(), rc);
    oset(props, t->name, ref_to(t->name), rc);
    oset(o, "properties", props, rc);
    apush(req, json_string(t->name), rc);
    oset(o, "required", req, rc);
    return o;
}

static json_t *json_body(json_t *schema)
{
    return json_pack("{s:b,s:{s:{s:o}}}", "required", 1, "content", "application/json",
                     "schema", schema);
}

static json_t *responses(int ok, const char *desc, json_t *ok_schema, const int *errs, int *rc)
{
    json_t *r = json_object();
    char code[8];
    snprintf(code, sizeof code, "%d", ok);
    json_t *okr = json_pack("{s:s}", "description", desc);
    if (ok_schema) {
        oset(okr, "content", json_pack("{s:{s:o}}", "application/json", "schema", ok_schema),
             rc);
    }
    oset(r, code, okr, rc);
    for (; *errs; errs++) {
        snprintf(code, sizeof code, "%d", *errs);
        oset(r, code, json_pack("{s:s}", "$ref", "#/components/responses/Error"), rc);
    }
    return r;
}

static json_t *param_ref(const char *name)
{
    return json_pack("{s:o}", "$ref", json_sprintf("#/components/parameters/%s", name));
}

static void paths_add(json_t *paths, const struct schema_type *t, int *rc)
{
    static const int list_errs[] = {400, 401, 403, 0};
    static const int create_errs[] = {400, 401, 403, 404, 409, 413, 422, 503, 507, 0};
    static const int get_errs[] = {401, 403, 404, 0};
    static const int put_errs[] = {400, 401, 403, 404, 409, 412, 413, 422, 503, 507, 0};
    static const int del_errs[] = {401, 403, 404, 409, 412, 503, 0};
    char path[160], op[160];

    json_t *coll = json_object();
    json_t *get = json_object(), *post = json_object();
    snprintf(op, sizeof op, "list-%s", t->plural);
    oset(get, "operationId", json_string(op), rc);
    oset(get, "tags", json_pack("[s]", t->name), rc);
    json_t *params = json_array();
    static const char *const list_params[] = {"parent_id", "back_ref_id", "detail", "fields",
                                              "filters",   "page_marker", "page_limit", NULL};
    for (size_t i = 0; list_params[i]; i++) {
        apush(params, param_ref(list_params[i]), rc);
    }
    oset(get, "parameters", params, rc);
    json_t *list = json_pack("{s:s,s:{s:{s:s,s:o}}}", "type", "object", "properties", t->plural,
                             "type", "array", "items", ref_to(t->name));
    oset(get, "responses", responses(200, "The collection", list, list_errs, rc), rc);
    snprintf(op, sizeof op, "create-%s", t->name);
    oset(post, "operationId", json_string(op), rc);
    oset(post, "tags", json_pack("[s]", t->name), rc);
    oset(post, "requestBody", json_body(body_schema(t, rc)), rc);
    oset(post, "responses", responses(201, "Created", body_schema(t, rc), create_errs, rc), rc);
    oset(coll, "get", get, rc);
    oset(coll, "post", post, rc);
    snprintf(path, sizeof path, "/%s", t->plural);
    oset(paths, path, coll, rc);

    json_t *item = json_object();
    oset(item, "parameters", json_pack("[o]", param_ref("id")), rc);
    json_t *iget = json_object(), *iput = json_object(), *idel = json_object();
    snprintf(op, sizeof op, "get-%s", t->name);
    oset(iget, "operationId", json_string(op), rc);
    oset(iget, "tags", json_pack("[s]", t->name), rc);
    oset(iget, "responses", responses(200, "The object", body_schema(t, rc), get_errs, rc), rc);
    snprintf(op, sizeof op, "update-%s", t->name);
    oset(iput, "operationId", json_string(op), rc);
    oset(iput, "tags", json_pack("[s]", t->name), rc);
    oset(iput, "parameters", json_pack("[o]", param_ref("If-Match")), rc);
    oset(iput, "requestBody", json_body(body_schema(t, rc)), rc);
    oset(iput, "responses", responses(200, "Updated", body_schema(t, rc), put_errs, rc), rc);
    snprintf(op, sizeof op, "delete-%s", t->name);
    oset(idel, "operationId", json_string(op), rc);
    oset(idel, "tags", json_pack("[s]", t->name), rc);
    oset(idel, "parameters", json_pack("[o]", param_ref("If-Match")), rc);
    oset(idel, "responses", responses(200, "Deleted", NULL, del_errs, rc), rc);
    oset(item, "get", iget, rc);
    oset(item, "put", iput, rc);
    oset(item, "delete", idel, rc);
    snprintf(path, sizeof path, "/%s/{id}", t->name);
    oset(paths, path, item, rc);
}

static json_t *parameters(int *rc)
{
    json_t *p = json_object();
    oset(p, "id", json_pack("{s:s,s:s,s:b,s:{s:s,s:s}}", "name", "id", "in", "path", "required",
                            1, "schema", "type", "string", "format", "uuid"), rc);
    oset(p, "If-Match", json_pack("{s:s,s:s,s:b,s:{s:s},s:s}", "name", "If-Match", "in",
                                  "header", "required", 0, "schema", "type", "string",
                                  "description", "ETag (revision) the change is based on"), rc);
    oset(p, "parent_id", json_pack("{s:s,s:s,s:{s:s}}", "name", "parent_id", "in", "query",
                                   "schema", "type", "string"), rc);
    oset(p, "back_ref_id", json_pack("{s:s,s:s,s:{s:s}}", "name", "back_ref_id", "in", "query",
                                     "schema", "type", "string"), rc);
    oset(p, "detail", json_pack("{s:s,s:s,s:{s:s}}", "name", "detail", "in", "query", "schema",
                                "type", "boolean"), rc);
    oset(p, "fields", json_pack("{s:s,s:s,s:{s:s}}", "name", "fields", "in", "query", "schema",
                                "type", "string"), rc);
    oset(p, "filters", json_pack("{s:s,s:s,s:{s:s}}", "name", "filters", "in", "query",
                                 "schema", "type", "string"), rc);
    oset(p, "page_marker", json_pack("{s:s,s:s,s:{s:s}}", "name", "page_marker", "in", "query",
                                     "schema", "type", "string"), rc);
    oset(p, "page_limit", json_pack("{s:s,s:s,s:{s:s,s:i}}", "name", "page_limit", "in",
                                    "query", "schema", "type", "integer", "minimum", 1), rc);
    return p;
}

int schema_openapi(const struct schema *s, json_t **out)
{
    int rc = 0;
    *out = NULL;
    json_t *doc = json_object();
    oset(doc, "openapi", json_string("3.0.3"), &rc);
    oset(doc, "info",
         json_pack("{s:s,s:o}", "title", "Strata config API", "version",
                   json_sprintf("%d", s->version)),
         &rc);
    json_t *paths = json_object(), *comps = json_object(), *schemas = json_object();
    for (size_t i = 0; i < s->types_len; i++) {
        paths_add(paths, &s->types[i], &rc);
        oset(schemas, s->types[i].name, object_schema(s, &s->types[i], schemas, &rc), &rc);
    }
    for (size_t i = 0; i < s->complexes_len; i++) {
        const struct schema_complex *c = &s->complexes[i];
        json_t *o = json_object(), *props = json_object();
        oset(o, "type", json_string("object"), &rc);
        oset(o, "additionalProperties", json_false(), &rc);
        json_t *req = fields_object(c->fields, c->fields_len, true, props, &rc);
        oset(o, "properties", props, &rc);
        if (json_array_size(req)) {
            oset(o, "required", req, &rc);
        } else {
            json_decref(req);
        }
        if (c->one_of) {
            oset(o, "maxProperties", json_integer(1), &rc);
        }
        if (c->description) {
            oset(o, "description", json_string(c->description), &rc);
        }
        oset(schemas, c->name, o, &rc);
    }
    oset(schemas, "Error",
         json_pack("{s:s,s:{s:{s:s,s:{s:{s:s},s:{s:s},s:{s:s}}}}}", "type", "object",
                   "properties", "error", "type", "object", "properties", "code", "type",
                   "integer", "message", "type", "string", "field", "type", "string"),
         &rc);
    oset(comps, "schemas", schemas, &rc);
    oset(comps, "parameters", parameters(&rc), &rc);
    oset(comps, "responses",
         json_pack("{s:{s:s,s:{s:{s:{s:s}}}}}", "Error", "description", "Error", "content",
                   "application/json", "schema", "$ref", "#/components/schemas/Error"),
         &rc);
    oset(comps, "securitySchemes",
         json_pack("{s:{s:s,s:s}}", "bearer", "type", "http", "scheme", "bearer"), &rc);
    oset(doc, "paths", paths, &rc);
    oset(doc, "components", comps, &rc);
    oset(doc, "security", json_pack("[{s:[]}]", "bearer"), &rc);
    if (rc) {
        json_decref(doc);
        return rc;
    }
    *out = doc;
    return 0;
}
