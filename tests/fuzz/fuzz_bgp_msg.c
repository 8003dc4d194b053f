/* Fuzzes the BGP message codec (routing/bgp/bgp_msg.c) with arbitrary bytes
 * read as a stream of BGP messages, the way the session state machine reads
 * a transport: bgp_msg_frame() frames the stream, bgp_msg_decode() reads each
 * message, once as a 2-octet-AS iBGP session and once as a 4-octet-AS eBGP
 * session. Every message that decodes must encode (the only tolerated
 * failure: the canonical form outgrows 4096 bytes), decode again, and
 * encode to exactly the same bytes (decode -> encode -> decode is stable).
 * The same bytes are then fed to a session state machine (bgp_fsm.c) in
 * OpenSent, split at an input-chosen point, to reach its framing, OPEN
 * negotiation and UPDATE paths: it may end the session, never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "routing/bgp/bgp_fsm.h"
#include "routing/bgp/bgp_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const uint8_t *msg, size_t size, const struct bgp_codec_opts *o)
{
    struct bgp_msg m1, m2;
    struct bgp_notification err;
    struct buf b1, b2;
    if (bgp_msg_decode(msg, size, o, &m1, &err) != 0) {
        if (m1.owned) {
            abort(); /* failure must leave nothing owned */
        }
        return;
    }
    buf_init(&b1, 0);
    buf_init(&b2, 0);
    int rc = bgp_msg_encode(&m1, o, &b1);
    if (rc == BGP_ERR_TOO_BIG) {
        goto out;
    }
    if (rc != 0) {
        abort();
    }
    if (bgp_msg_decode(b1.data, b1.size, o, &m2, &err) != 0) {
        abort();
    }
    if (bgp_msg_encode(&m2, o, &b2) != 0 || b1.size != b2.size || memcmp(b1.data, b2.data, b1.size) != 0) {
        abort();
    }
    if (m1.type != m2.type) {
        abort();
    }
    bgp_msg_destroy(&m2);
out:
    buf_destroy(&b1);
    buf_destroy(&b2);
    bgp_msg_destroy(&m1);
}

static int fz_send(void *ctx, const uint8_t *data, size_t size)
{
    struct bgp_msg m;
    /* Everything the FSM sends must be a well-formed message. */
    if (size < BGP_HDR_SIZE || bgp_msg_decode(data, size, NULL, &m, NULL) != 0) {
        abort();
    }
    bgp_msg_destroy(&m);
    return 0;
}

static void fz_connect(void *ctx)
{
}

static void fz_close(void *ctx)
{
}

static void fz_update(void *ctx, const struct bgp_update *u)
{
    if (u->action == BGP_UPDATE_SESSION_RESET) {
        abort(); /* resets never reach the RIB */
    }
}

static void fsm_feed(const uint8_t *data, size_t size)
{
    static const struct bgp_fsm_io io = {
        .send = fz_send, .connect = fz_connect, .close = fz_close, .update = fz_update};
    struct bgp_fsm_config cfg = {
        .local_as = 65000, .local_id = 1, .families = BGP_FAM_ALL, .gr = true, .llgr = true};
    struct bgp_fsm *f;
    if (bgp_fsm_create(&cfg, &io, &f) != 0) {
        abort();
    }
    bgp_fsm_start(f, 0);
    bgp_fsm_tcp_connected(f, 0);
    size_t split = size ? data[0] % (size + 1) : 0;
    bgp_fsm_recv(f, 1, data, split);
    bgp_fsm_recv(f, 2, data + split, size - split);
    bgp_fsm_tick(f, bgp_fsm_next_deadline(f));
    bgp_fsm_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fsm_feed(data, size);
    static const struct bgp_codec_opts opts[2] = {
        {.as4 = false, .ebgp = false, .families = BGP_FAM_ALL},
        {.as4 = true, .ebgp = true, .families = BGP_FAM_ALL},
    };
    struct cursor c;
    cursor_init(&c, data, size);
    while (cursor_remaining(&c) > 0) {
        size_t msize = 0;
        struct bgp_notification err;
        const uint8_t *msg;
        int rc = bgp_msg_frame(c.p, cursor_remaining(&c), &msize, &err);
        if (rc != 0 || msize > cursor_remaining(&c)) {
            /* Not a whole message: the decoder must refuse it too. */
            for (int i = 0; i < 2; i++) {
                roundtrip(c.p, cursor_remaining(&c), &opts[i]);
            }
            return 0;
        }
        if (buf_get_view(&c, msize, &msg) != 0) {
            abort();
        }
        for (int i = 0; i < 2; i++) {
            roundtrip(msg, msize, &opts[i]);
        }
    }
    return 0;
}
