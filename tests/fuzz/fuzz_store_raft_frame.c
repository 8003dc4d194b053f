/* Fuzzes the raft frame checker. The verdict and frame count must not
 * depend on how the stream is chunked: the input is fed whole to one checker
 * and in chunks (sizes taken from the input's first byte) to another. */
#include <stdint.h>
#include <stdlib.h>

#include "store/raft_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct raft_frame_limits l;
    struct raft_frame_check whole, chunked;
    if (size < 1) {
        return 0;
    }
    size_t chunk = (size_t)(data[0] % 23) + 1;
    data++;
    size--;
    raft_frame_limits_default(&l);
    l.max_header = 4096; /* keep the fuzzer's memory small */
    raft_frame_check_init(&whole, &l);
    raft_frame_check_init(&chunked, &l);
    int rc_whole = raft_frame_check_feed(&whole, data, size);
    int rc_chunked = 0;
    for (size_t off = 0; off < size && rc_chunked == 0; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        rc_chunked = raft_frame_check_feed(&chunked, data + off, n);
    }
    if (rc_whole != rc_chunked || whole.frames != chunked.frames) {
        abort();
    }
    raft_frame_check_destroy(&whole);
    raft_frame_check_destroy(&chunked);
    return 0;
}
