/* Fuzzes the control message decoder (vrouter/msg) with arbitrary bytes
 * read as a stream of frames, the way the user-space datapath reads its
 * unix socket: vr_msg_peek frames the stream, vr_msg_decode checks each
 * frame. Every frame that decodes must re-encode to exactly its input bytes
 * (the encoding is canonical) and decode again to the same message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vrouter/msg/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    while (size > 0) {
        size_t fsize = 0;
        if (vr_msg_peek(data, size, &fsize) != 0) {
            /* not a frame header: decode what is there, then stop */
            struct vr_msg m;
            if (vr_msg_decode(data, size, &m) == 0) {
                abort(); /* peek refused what decode accepted */
            }
            return 0;
        }
        size_t n = fsize <= size ? fsize : size;
        struct vr_msg m1, m2;
        if (vr_msg_decode(data, n, &m1) == 0) {
            uint8_t out[VR_MSG_MAX];
            size_t osize = 0;
            if (vr_msg_encode(&m1, out, sizeof out, &osize) != 0 || osize != n || memcmp(out, data, n) != 0) {
                abort();
            }
            if (vr_msg_decode(out, osize, &m2) != 0 || memcmp(&m1, &m2, sizeof m1) != 0) {
                abort();
            }
        }
        data += n;
        size -= n;
    }
    return 0;
}
