/* Fuzzes the store's command and reply decoders (store/cmd.c). Every input
 * is tried as both. Whatever decodes must re-encode to exactly the input
 * bytes, and decoding that again must give the same encoding: the format
 * has one encoding per value, which replicas and clients rely on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/cmd.h"
#include "store/fsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_cmd(const uint8_t *data, size_t size)
{
    struct store_cmd cmd, again;
    struct buf a, b;
    int rc = store_cmd_decode(&cmd, data, size);
    if (rc != 0) {
        if (rc != STORE_EFORMAT && rc != LIB_ENOMEM) {
            abort();
        }
        return;
    }
    buf_init(&a, 0);
    buf_init(&b, 0);
    if (store_cmd_encode(&cmd, &a) != 0 || a.size != size || memcmp(a.data, data, size) != 0) {
        abort();
    }
    if (store_cmd_decode(&again, a.data, a.size) != 0 || store_cmd_encode(&again, &b) != 0 ||
        b.size != a.size || memcmp(a.data, b.data, a.size) != 0) {
        abort();
    }
    store_cmd_destroy(&again);
    store_cmd_destroy(&cmd);
    buf_destroy(&a);
    buf_destroy(&b);
}

static void fuzz_reply(const uint8_t *data, size_t size)
{
    struct store_reply r, again;
    struct buf a, b;
    int rc = store_reply_decode(&r, data, size);
    if (rc != 0) {
        if (rc != STORE_EFORMAT && rc != LIB_ENOMEM) {
            abort();
        }
        return;
    }
    buf_init(&a, 0);
    buf_init(&b, 0);
    if (store_reply_encode(&r, &a) != 0 || a.size != size || memcmp(a.data, data, size) != 0) {
        abort();
    }
    if (store_reply_decode(&again, a.data, a.size) != 0 || store_reply_encode(&again, &b) != 0 ||
        b.size != a.size || memcmp(a.data, b.data, a.size) != 0) {
        abort();
    }
    store_reply_destroy(&again);
    store_reply_destroy(&r);
    buf_destroy(&a);
    buf_destroy(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_cmd(data, size);
    fuzz_reply(data, size);
    return 0;
}
