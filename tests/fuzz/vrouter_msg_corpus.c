/* The seed corpus of fuzz_vrouter_msg: every sample message of
 * tests/unit/vrouter_msg/msg_samples.h (one or more per frame type, every
 * field set), encoded, one file each named <index>-<type>.
 *   vrouter_msg_corpus DIR          writes them into DIR
 *   vrouter_msg_corpus --check DIR  fails unless DIR holds each, equal
 *                                   (ctest vrouter_msg_corpus_current: a
 *                                   new message type's sample needs its seed)
 * To refresh: build/tests/vrouter_msg_corpus tests/fuzz/corpus/vrouter_msg */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tests/unit/vrouter_msg/msg_samples.h"

/* 0 when 'path' holds exactly the 'n' bytes at 'data'. */
static int same_file(const char *path, const uint8_t *data, size_t n)
{
    static uint8_t have[1u << 16];
    FILE *f = fopen(path, "rb");
    if (!f) {
        return -1;
    }
    size_t got = fread(have, 1, sizeof have, f);
    fclose(f);
    return got == n && memcmp(have, data, n) == 0 ? 0 : -1;
}

static int write_file(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        return -1;
    }
    size_t put = fwrite(data, 1, n, f);
    return fclose(f) == 0 && put == n ? 0 : -1;
}

int main(int argc, char **argv)
{
    bool check = argc == 3 && strcmp(argv[1], "--check") == 0;
    if (argc != 2 && !check) {
        fprintf(stderr, "usage: vrouter_msg_corpus [--check] DIR\n");
        return 2;
    }
    const char *dir = argv[argc - 1];
    static uint8_t frame[1u << 16];
    int bad = 0;
    for (unsigned i = 0; i < SAMPLE_COUNT; i++) {
        struct vr_msg m;
        memset(&m, 0, sizeof m);
        sample_msg(i, &m);
        size_t n = 0;
        char path[4096];
        snprintf(path, sizeof path, "%s/%02u-%s", dir, i, vr_msg_type_name(m.type));
        if (vr_msg_encode(&m, frame, sizeof frame, &n) != 0) {
            fprintf(stderr, "vrouter_msg_corpus: sample %u does not encode\n", i);
            return 1;
        }
        if (check ? same_file(path, frame, n) != 0 : write_file(path, frame, n) != 0) {
            fprintf(stderr, "vrouter_msg_corpus: %s %s\n", path, check ? "missing or stale" : "not written");
            bad = 1;
        }
    }
    return bad;
}
