/* Writes the hand-written wire vectors of bgp_samples.h into a directory as
 * the seed corpus of tests/fuzz/fuzz_bgp_msg.c: one file per message, plus
 * one session-like stream (OPEN, KEEPALIVE, UPDATEs, End-of-RIB,
 * NOTIFICATION). Usage: bgp_corpus_gen DIR */
#include <stdio.h>

#include "tests/unit/bgp/bgp_samples.h"

int main(int argc, char **argv);

static int write_file(const char *dir, const char *name, const uint8_t *p, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, size, f) != size || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    int bad = 0;
    for (size_t i = 0; i < BGP_SAMPLE_COUNT; i++) {
        bad |= write_file(argv[1], bgp_samples[i].name + 2, bgp_samples[i].wire, bgp_samples[i].size);
    }
    static const uint8_t *const parts[] = {w_open_caps, w_keepalive, w_update_v4, w_update_vpnv4,
                                           w_update_evpn2, w_eor_v4, w_eor_vpnv4, w_notify_cease};
    static const size_t sizes[] = {sizeof w_open_caps, sizeof w_keepalive, sizeof w_update_v4,
                                   sizeof w_update_vpnv4, sizeof w_update_evpn2, sizeof w_eor_v4,
                                   sizeof w_eor_vpnv4, sizeof w_notify_cease};
    uint8_t stream[2048];
    size_t size = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        for (size_t j = 0; j < sizes[i]; j++) {
            stream[size++] = parts[i][j];
        }
    }
    bad |= write_file(argv[1], "session_stream", stream, size);
    return bad;
}
