/* Fuzzes the schema loader: arbitrary bytes as schema XML. Loading must
 * either fail with one of the documented codes and a message, or produce
 * tables that pass schema_audit() (sorted names, resolvable lookups,
 * children and back-refs consistent with parents and refs) and from which
 * an OpenAPI document can be generated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/schema/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    if (schema_audit(s) != 0) {
        abort();
    }
    json_t *doc;
    if (schema_openapi(s, &doc) != 0) {
        abort();
    }
    json_decref(doc);
    schema_free(s);
    return 0;
}
