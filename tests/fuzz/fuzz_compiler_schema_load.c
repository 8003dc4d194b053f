/* Fuzzes the schema loader: arbitrary bytes as schema XML. Loading must
 * either fail with one of the documented codes and a message, or produce
 * tables whose invariants hold (sorted names, resolvable lookups, children
 * and back-refs consistent with parents and refs) and from which an OpenAPI
 * document can be generated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/schema/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_audit(const struct schema *s)
{
    size_t n = schema_type_count(s);
    for (size_t i = 0; i < n; i++) {
        const struct schema_type *t = schema_type_at(s, i);
        if (schema_type_find(s, t->name) != t || schema_type_find_plural(s, t->plural) != t) {
            abort();
        }
        if (i > 0 && strcmp(schema_type_at(s, i - 1)->name, t->name) >= 0) {
            abort();
        }
        for (size_t p = 0; p < t->parents_len; p++) {
            const struct schema_type *par = t->parents[p];
            size_t found = 0;
            for (size_t c = 0; c < par->children_len; c++) {
                found += par->children[c] == t;
            }
            if (found != 1) {
                abort();
            }
        }
        for (size_t r = 0; r < t->refs_len; r++) {
            if (schema_type_ref(t, t->refs[r].key) != &t->refs[r] || t->refs[r].from != t) {
                abort();
            }
        }
        for (size_t b = 0; b < t->back_refs_len; b++) {
            if (t->back_refs[b]->to != t) {
                abort();
            }
        }
        for (size_t f = 0; f < t->props_len; f++) {
            const struct schema_field *x = &t->props[f];
            if ((x->kind == SCHEMA_KIND_COMPLEX) != (x->complex != NULL) ||
                (x->kind == SCHEMA_KIND_ENUM) != (x->values_len > 0) ||
                x->min_length > x->max_length || (x->has_min && x->has_max && x->min > x->max)) {
                abort();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct schema *s;
    struct schema_error err;
    int rc = schema_load_buffer((const char *)data, size, &s, &err);
    if (rc != 0) {
        if (s != NULL || (rc != SCHEMA_EXML && rc != SCHEMA_EDEFINE && rc != LIB_ETOOBIG) ||
            memchr(err.message, '\0', sizeof err.message) == NULL) {
            abort();
        }
        return 0;
    }
    fuzz_audit(s);
    json_t *doc;
    if (schema_openapi(s, &doc) != 0) {
        abort();
    }
    json_decref(doc);
    schema_free(s);
    return 0;
}
