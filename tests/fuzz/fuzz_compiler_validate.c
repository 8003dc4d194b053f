/* Fuzzes the path untrusted REST bodies take: the first byte picks an
 * object type, the rest is parsed by schema_json_parse_bounded() (size and
 * nesting limits) and validated against that type in create and update
 * mode. Checks that every outcome is one of the documented codes with a
 * matching status and a bounded, NUL-terminated path and message; that an
 * accepted object still validates after a dump/load round trip; and that
 * validation never crashes (ASAN/UBSAN). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/schema/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct schema *fuzz_schema;

static void fuzz_check_err(int rc, const struct schema_error *err)
{
    if (memchr(err->path, '\0', sizeof err->path) == NULL ||
        memchr(err->message, '\0', sizeof err->message) == NULL) {
        abort();
    }
    switch (rc) {
    case 0:
        break;
    case SCHEMA_EINVALID:
        if (err->status != 400 || err->message[0] == '\0') {
            abort();
        }
        break;
    case SCHEMA_ECONSTRAINT:
        if (err->status != 422 || err->message[0] == '\0') {
            abort();
        }
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct schema_error err;
    if (!fuzz_schema && schema_load_builtin(&fuzz_schema, &err) != 0) {
        abort();
    }
    if (size < 1) {
        return 0;
    }
    size_t n = schema_type_count(fuzz_schema);
    const struct schema_type *t = schema_type_at(fuzz_schema, data[0] % n);
    json_t *j;
    int rc = schema_json_parse_bounded((const char *)data + 1, size - 1, 1 << 20, 0, &j, &err);
    if (rc != 0) {
        if (j != NULL || (rc != SCHEMA_EJSON && rc != SCHEMA_ETOODEEP && rc != SCHEMA_ETOOBIG) ||
            err.status != (rc == SCHEMA_ETOOBIG ? 413 : 400)) {
            abort();
        }
        return 0;
    }
    for (int mode = SCHEMA_CREATE; mode <= SCHEMA_UPDATE; mode++) {
        rc = schema_validate(fuzz_schema, t, j, (enum schema_mode)mode, &err);
        fuzz_check_err(rc, &err);
        if (rc == 0) {
            /* What passed once passes again after serialisation. */
            char *text = json_dumps(j, JSON_COMPACT);
            if (!text) {
                abort();
            }
            json_t *back;
            struct schema_error err2;
            if (schema_json_parse_bounded(text, strlen(text), 1 << 21, 0, &back, &err2) != 0 ||
                schema_validate(fuzz_schema, t, back, (enum schema_mode)mode, &err2) != 0) {
                abort();
            }
            json_decref(back);
            free(text);
        }
    }
    const json_t *inner;
    rc = schema_validate_body(fuzz_schema, t->name, j, SCHEMA_CREATE, &inner, &err);
    if (rc != 0 && rc != SCHEMA_ENOTYPE) {
        fuzz_check_err(rc, &err);
    }
    json_decref(j);
    return 0;
}
