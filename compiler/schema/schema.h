/* The Strata data model at run time: loads the XML schema (compiler/schema/
 * strata.xml, embedded into the binary at build time) into read-only tables
 * of object types, properties, complex types, parents and references, and
 * validates JSON objects (jansson) against them. The REST router, the
 * /openapi.json generator and the store's semantic checks (parents, refs,
 * back-refs) are all driven by these tables, so a new object type is a schema
 * edit only. A loaded schema is immutable and may be shared by threads. */
#ifndef STRATA_COMPILER_SCHEMA_H
#define STRATA_COMPILER_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "lib/err.h"

#define SCHEMA_ERRORS(X)                                                    \
    X(SCHEMA_EXML, -13001, "schema XML is malformed or unsafe")            \
    X(SCHEMA_EDEFINE, -13002, "schema definition is invalid")              \
    X(SCHEMA_ENOTYPE, -13003, "unknown object type")                       \
    X(SCHEMA_EINVALID, -13004, "object does not match the schema")         \
    X(SCHEMA_ECONSTRAINT, -13005, "object violates a schema constraint")   \
    X(SCHEMA_EJSON, -13006, "malformed JSON")                              \
    X(SCHEMA_ETOODEEP, -13007, "JSON nesting too deep")                    \
    X(SCHEMA_ETOOBIG, -13008, "JSON document too large")

enum schema_err { SCHEMA_ERRORS(STRATA_ERR_ENUM) };

const char *schema_strerror(int code);

/* Limits applied by the loader and the validator. */
#define SCHEMA_XML_MAX_SIZE (4u << 20)   /* bytes of schema XML */
#define SCHEMA_DEFAULT_MAX_LENGTH 1024   /* string bytes when no max-length */
#define SCHEMA_DEFAULT_MAX_ITEMS 1024    /* list items when no max-items */
#define SCHEMA_JSON_MAX_DEPTH 64         /* schema_json_parse_bounded default */
#define SCHEMA_PATH_MAX 256              /* bytes of an error path, with NUL */
#define SCHEMA_MSG_MAX 256               /* bytes of an error message, with NUL */

/* Scalar kinds of properties and fields; SCHEMA_KIND_COMPLEX names a
 * complex type (a nested JSON object). */
enum schema_kind {
    SCHEMA_KIND_STRING,
    SCHEMA_KIND_INTEGER,
    SCHEMA_KIND_BOOLEAN,
    SCHEMA_KIND_ENUM,
    SCHEMA_KIND_IPV4,     /* dotted quad */
    SCHEMA_KIND_IPV6,     /* RFC 4291 text form, no zone */
    SCHEMA_KIND_IP,       /* either of the above */
    SCHEMA_KIND_CIDR,     /* address "/" length, host bits zero */
    SCHEMA_KIND_MAC,      /* six colon-separated hex pairs */
    SCHEMA_KIND_UUID,     /* 8-4-4-4-12 hex */
    SCHEMA_KIND_DATETIME, /* RFC 3339, e.g. 2026-11-21T10:00:00Z */
    SCHEMA_KIND_COMPLEX,
};

struct schema_complex;
struct schema_type;

/* A property of an object type or a field of a complex type. Read-only.
 * Invariants: kind == SCHEMA_KIND_COMPLEX iff complex != NULL;
 * kind == SCHEMA_KIND_ENUM iff values_len > 0; has_min/has_max only for
 * integers, min <= max when both; min_length <= max_length. */
struct schema_field {
    const char *name;
    const char *type_name; /* as written in the XML: "ip", "SubnetType" */
    enum schema_kind kind;
    const struct schema_complex *complex;
    bool required; /* on create */
    bool list;     /* a JSON array of the kind, at most max_items long */
    bool unique;   /* list only: no item may equal another (422) */
    size_t max_items;
    bool has_min, has_max;
    long long min, max;
    size_t min_length, max_length; /* strings, bytes */
    const char *const *values;     /* enum values */
    size_t values_len;
    const char *pattern; /* POSIX ERE matched against the whole string, or NULL */
    const char *description; /* or NULL */
    void *regex_int;         /* compiled pattern; internal */
};

/* A complex type: a JSON object with named fields, sorted by name. one_of:
 * at most one field may be present. */
struct schema_complex {
    const char *name;
    const char *description;
    bool one_of;
    const struct schema_field *fields;
    size_t fields_len;
};

/* A reference from 'from' to 'to', carried in the JSON key 'key'
 * ("network_ipam_refs") as a list of {to: fq_name, uuid?, attr?}. */
struct schema_ref {
    const char *key;
    const struct schema_type *from;
    const struct schema_type *to;
    const struct schema_complex *attr; /* link attribute type or NULL */
    bool weak;     /* may dangle: its target can be deleted */
    bool required; /* at least one on create */
    size_t max_items;
    const char *description;
};

/* An object type. Arrays are sorted by name ('props' and 'refs' by JSON key).
 * fq_name_len: the fq_name length of every object of this type, or -1 when
 * it depends on which parent is used (see schema_fq_name_len()). A type
 * with parents_len == 0 is a root: it is not part of its children's fq_name. */
struct schema_type {
    const char *name;          /* "virtual-network": item URL and body key */
    const char *plural;        /* "virtual-networks": collection URL */
    const char *children_key;  /* "virtual_networks": child list in a parent */
    const char *back_refs_key; /* "virtual_network_back_refs" */
    const char *description;
    bool derived; /* written by the compiler; read-only for non-admins */
    int fq_name_len;
    const struct schema_type *const *parents;
    size_t parents_len;
    const struct schema_type *const *children;
    size_t children_len;
    const struct schema_field *props;
    size_t props_len;
    const struct schema_ref *refs; /* refs from this type */
    size_t refs_len;
    const struct schema_ref *const *back_refs; /* refs to this type */
    size_t back_refs_len;
};

/* Where and why a validation failed. status is HTTP-like: 400 malformed
 * input (not JSON, wrong JSON type, unknown field), 413 too large, 422 a
 * semantic constraint (range, length, enum, syntax of an address, missing
 * required field, parent not allowed). path: "network_ipam_refs[0].attr.
 * ipam_subnets[1].subnet.ip_prefix" ("" for the object itself). */
struct schema_error {
    int status;
    char path[SCHEMA_PATH_MAX];
    char message[SCHEMA_MSG_MAX];
};

enum schema_mode {
    SCHEMA_CREATE, /* required fields and refs must be present */
    SCHEMA_UPDATE, /* partial: only the fields given are checked */
};

struct schema;

/* Loads the schema embedded at build time (compiler/schema/strata.xml) into
 * '*out'. On error returns SCHEMA_EXML / SCHEMA_EDEFINE / LIB_ENOMEM with
 * the reason (and XML line) in 'err->message', and '*out' is NULL. */
int schema_load_builtin(struct schema **out, struct schema_error *err) STRATA_WARN_UNUSED;

/* Same from 'size' bytes at 'xml'. The parser never touches the network,
 * never loads or expands a DTD or entity; a document with a DOCTYPE is
 * refused. 'xml' is not retained. */
int schema_load_buffer(const char *xml, size_t size, struct schema **out,
                       struct schema_error *err) STRATA_WARN_UNUSED;

/* Same from the file at 'path' (at most SCHEMA_XML_MAX_SIZE bytes); also
 * LIB_ENOENT / LIB_EIO / LIB_ETOOBIG. */
int schema_load_file(const char *path, struct schema **out,
                     struct schema_error *err) STRATA_WARN_UNUSED;

/* Frees a loaded schema and every table in it; 's' may be NULL. */
void schema_free(struct schema *s);

/* Checks the invariants documented at the types above (sorted arrays,
 * lookups, children/back-refs as the inverse of parents/refs). 0 or
 * SCHEMA_EDEFINE. Run after every load in builds with STRATA_TEST_HOOKS. */
int schema_audit(const struct schema *s) STRATA_WARN_UNUSED;

/* The version= of the loaded schema's root element. */
int schema_version(const struct schema *s);

/* Bytes of the XML embedded at build time (for tools that print it). */
const char *schema_builtin_xml(size_t *size);

/* ---- tables ---- */

/* Number of object types, and the i-th in name order (i < count). */
size_t schema_type_count(const struct schema *s);
const struct schema_type *schema_type_at(const struct schema *s, size_t i);
/* Lookup by name ("virtual-network") or plural ("virtual-networks"); NULL
 * when unknown. O(log n). */
const struct schema_type *schema_type_find(const struct schema *s, const char *name);
const struct schema_type *schema_type_find_plural(const struct schema *s, const char *plural);
/* The properties every type has (uuid, fq_name, parent_type, …), sorted. */
const struct schema_field *schema_common_props(const struct schema *s, size_t *len);
size_t schema_complex_count(const struct schema *s);
const struct schema_complex *schema_complex_at(const struct schema *s, size_t i);
const struct schema_complex *schema_complex_find(const struct schema *s, const char *name);
/* A type's own property (not a common one) by name, or NULL. */
const struct schema_field *schema_type_prop(const struct schema_type *t, const char *name);
/* A common or own property by name, or NULL. */
const struct schema_field *schema_prop_find(const struct schema *s, const struct schema_type *t,
                                            const char *name);
/* A field of a complex type by name, or NULL. */
const struct schema_field *schema_complex_field(const struct schema_complex *c, const char *name);
/* The reference of 't' stored under JSON key 'key' ("network_ipam_refs"), or
 * the one pointing to type 'to' ("network-ipam"); NULL when none. */
const struct schema_ref *schema_type_ref(const struct schema_type *t, const char *key);
const struct schema_ref *schema_type_ref_to(const struct schema_type *t, const char *to);
/* True when 'parent' is one of t's parent types. */
bool schema_type_has_parent(const struct schema_type *t, const struct schema_type *parent);
/* The fq_name length of an object of 't' created under a parent of type
 * 'parent' (NULL: t's only parent, or none for a root); -1 when
 * undetermined (several parents and 'parent' NULL, or 'parent' not one of
 * t's parents). */
int schema_fq_name_len(const struct schema_type *t, const struct schema_type *parent);

/* ---- validation ---- */

/* Checks 'obj' (the inner object, not {"virtual-network": {...}}) against
 * type 't' in 'mode': unknown keys, JSON types, integer ranges, string
 * lengths and patterns, enums, address/prefix/MAC/UUID/time syntax, nested
 * complex types and lists, refs ({to: fq_name, uuid, attr}), parent_type,
 * fq_name shape and length, name == last fq_name element. Returns 0,
 * SCHEMA_EINVALID (status 400) or SCHEMA_ECONSTRAINT (status 422), filling
 * 'err' (may be NULL) with the first failure in document order. JSON null
 * for an optional key means absent (in updates: clear it). Does not look up
 * other objects: uniqueness, existence of parents and ref targets are the
 * store's checks. */
int schema_validate(const struct schema *s, const struct schema_type *t, const json_t *obj,
                    enum schema_mode mode, struct schema_error *err) STRATA_WARN_UNUSED;

/* Checks a request body: a JSON object with exactly one key, the type's
 * name, whose value is validated as by schema_validate(). Stores the inner
 * object in '*inner' (borrowed from 'body') when not NULL. SCHEMA_ENOTYPE
 * (status 400) when the key is not 'type_name' or 'type_name' is unknown. */
int schema_validate_body(const struct schema *s, const char *type_name, const json_t *body,
                         enum schema_mode mode, const json_t **inner,
                         struct schema_error *err) STRATA_WARN_UNUSED;

/* Parses 'size' bytes of untrusted JSON into '*out' (caller owns, release
 * with json_decref), refusing before any allocation a document larger than
 * 'max_size' bytes (SCHEMA_ETOOBIG, status 413) or nested deeper than
 * 'max_depth' arrays/objects (SCHEMA_ETOODEEP, status 400; 0 means
 * SCHEMA_JSON_MAX_DEPTH). jansson 2.14 has only a fixed compile-time depth
 * limit (2048), hence the pre-scan. Then parses with duplicate keys
 * rejected, NUL bytes rejected, UTF-8 checked; the top level must be an
 * object or array. Errors: SCHEMA_EJSON (400) with jansson's reason and
 * position, LIB_ENOMEM. */
int schema_json_parse_bounded(const char *data, size_t size, size_t max_size, int max_depth,
                              json_t **out, struct schema_error *err) STRATA_WARN_UNUSED;

/* ---- OpenAPI ---- */

/* Builds an OpenAPI 3.0.3 document for the REST API from the tables: for
 * every type, POST/GET on /<plural> and GET/PUT/DELETE on /<name>/{id}, and
 * components.schemas for every complex type, every object type and every
 * reference link. '*out' is a new reference the caller releases. 0 or
 * LIB_ENOMEM. */
int schema_openapi(const struct schema *s, json_t **out) STRATA_WARN_UNUSED;

#endif
