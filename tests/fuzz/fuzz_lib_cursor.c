/* Fuzzes the checked cursor with a small TLV grammar driven by the input:
 * each step reads an opcode and then a getter it names, nesting sub-cursors.
 * Any read past the end must fail cleanly; any successful read must stay in
 * bounds (ASAN checks), and consumed + remaining must equal the input size. */
#include <stdint.h>
#include <stdlib.h>

#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_walk(struct cursor *c, int depth)
{
    uint8_t op;
    while (buf_get_u8(c, &op) == 0) {
        size_t before = cursor_remaining(c);
        uint8_t b8;
        uint16_t b16;
        uint32_t b32;
        uint64_t b64;
        uint8_t tmp[64];
        int rc = 0;
        switch (op % 8) {
        case 0:
            rc = buf_get_u8(c, &b8);
            break;
        case 1:
            rc = buf_get_u16(c, &b16);
            break;
        case 2:
            rc = buf_get_u32(c, &b32);
            break;
        case 3:
            rc = buf_get_u64(c, &b64);
            break;
        case 4:
            rc = buf_get_bytes(c, tmp, op % sizeof tmp);
            break;
        case 5: {
            struct cursor sub;
            uint8_t len;
            if (buf_get_u8(c, &len) == 0 && buf_get_sub(c, len, &sub) == 0 && depth < 16) {
                fuzz_walk(&sub, depth + 1);
            }
            break;
        }
        case 6:
            rc = buf_skip(c, op >> 3);
            break;
        default: {
            const uint8_t *view;
            rc = buf_get_view(c, op >> 4, &view);
            if (rc == 0 && (op >> 4) > 0) {
                b8 = view[(op >> 4) - 1];
            }
            break;
        }
        }
        if (rc != 0 && cursor_remaining(c) != before) {
            abort(); /* a failed getter must not move the cursor */
        }
        if (rc != 0 && rc != LIB_ESHORT) {
            abort();
        }
        (void)b8;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cursor c;
    cursor_init(&c, data, size);
    fuzz_walk(&c, 0);
    if (cursor_remaining(&c) != 0) {
        abort();
    }

    /* Round trip: re-encode the input as u8s into a limited buffer. */
    struct buf b;
    buf_init(&b, 1024);
    for (size_t i = 0; i < size; i++) {
        if (buf_put_u8(&b, data[i]) != 0) {
            if (b.size != 1024) {
                abort();
            }
            break;
        }
    }
    buf_destroy(&b);
    return 0;
}
