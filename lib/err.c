/* The registry behind strata_strerror(): module tables register themselves at
 * start-up; lookups walk the short list, then fall back to libuv/errno. */
#include "lib/err.h"

#include <string.h>
#include <uv.h>

#define ERR_MAX_MODULES 32

static const char *(*err_lookups[ERR_MAX_MODULES])(int);
static int err_lookups_len;

STRATA_ERR_DEFINE(lib, LIB_ERRORS)

void strata_err_register(const char *(*lookup)(int code))
{
    for (int i = 0; i < err_lookups_len; i++) {
        if (err_lookups[i] == lookup) {
            return;
        }
    }
    if (err_lookups_len < ERR_MAX_MODULES) {
        err_lookups[err_lookups_len++] = lookup;
    }
}

const char *strata_strerror(int code)
{
    if (code == 0) {
        return "success";
    }
    if (code > -4096 && code < 0) {
        /* uv_strerror() allocates (and leaks) for codes it does not know, so
         * only its own codes go to it; plain errno goes to strerror(). */
        if (code == UV_EOF || code == UV_ECHARSET || (code >= -3014 && code <= -3000)) {
            return uv_strerror(code);
        }
        return strerror(-code);
    }
    for (int i = 0; i < err_lookups_len; i++) {
        const char *msg = err_lookups[i](code);
        if (msg) {
            return msg;
        }
    }
    return "unknown error";
}
