/* Fuzzes the XMPP agent channel's parser and codec (routing/xmpp) with
 * arbitrary bytes read as one connection's stream, delivered in two chunks
 * split at an offset chosen by the first byte (so both whole-buffer and
 * mid-token splits are explored). Every stanza is decoded; every stanza that
 * decodes must encode, parse back through a fresh stream and decode to an
 * equal stanza whose encoding is byte-identical. Generic trees are written
 * back with xmpp_elem_write() to exercise the writer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "routing/xmpp/xmpp_stanza.h"
#include "routing/xmpp/xmpp_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR                                                                                  \
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " \
    "version='1.0'>"

struct first {
    struct xmpp_elem *e;
};

static void keep_first(void *arg, struct xmpp_elem *e)
{
    struct first *f = arg;
    if (f->e == NULL) {
        f->e = e;
    } else {
        xmpp_elem_free(e);
    }
}

static void check_round_trip(const struct xmpp_stanza *a)
{
    struct buf out, again;
    buf_init(&out, 0);
    buf_init(&again, 0);
    if (xmpp_stanza_encode(&out, a) != 0) {
        abort(); /* the decoder accepted what the encoder refuses */
    }
    struct first f = {0};
    struct xmpp_stream_ops ops = {.stanza = keep_first};
    struct xmpp_stream s;
    if (xmpp_stream_init(&s, NULL, &ops, &f) != 0) {
        abort();
    }
    if (xmpp_stream_feed(&s, HDR, strlen(HDR)) != 0 || xmpp_stream_feed(&s, out.data, out.size) != 0 ||
        f.e == NULL) {
        abort(); /* the encoder wrote what the parser refuses */
    }
    struct xmpp_stanza b;
    if (xmpp_stanza_decode(f.e, &b) != 0 || !xmpp_stanza_equal(a, &b)) {
        abort();
    }
    if (xmpp_stanza_encode(&again, &b) != 0 || again.size != out.size || memcmp(again.data, out.data, out.size) != 0) {
        abort(); /* encoding not canonical */
    }
    xmpp_stanza_clear(&b);
    xmpp_elem_free(f.e);
    xmpp_stream_destroy(&s);
    buf_destroy(&out);
    buf_destroy(&again);
}

static void on_stanza(void *arg, struct xmpp_elem *e)
{
    struct xmpp_stanza st;
    if (xmpp_stanza_decode(e, &st) == 0) {
        check_round_trip(&st);
    }
    xmpp_stanza_clear(&st);
    struct buf w;
    buf_init(&w, 0);
    if (xmpp_elem_write(&w, e, XMPP_NS_CLIENT) == 0 && w.size < strlen(e->name) + 3) {
        abort();
    }
    buf_destroy(&w);
    xmpp_elem_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t split = size > 1 ? (size_t)data[0] * (size - 1) / 255 + 1 : 1;
    struct xmpp_stream_ops ops = {.stanza = on_stanza};
    struct xmpp_stream s;
    if (xmpp_stream_init(&s, NULL, &ops, NULL) != 0) {
        abort();
    }
    int rc = xmpp_stream_feed(&s, data + 1, split - 1);
    if (rc == 0) {
        rc = xmpp_stream_feed(&s, data + split, size - split);
    }
    if ((rc == XMPP_ERR_STREAM) != (s.state == XMPP_STREAM_FAILED) ||
        (rc == XMPP_ERR_DONE && s.state != XMPP_STREAM_CLOSED)) {
        abort(); /* the result and the state disagree */
    }
    if (s.state == XMPP_STREAM_FAILED && xmpp_stream_error(&s, NULL) == XMPP_SC_NONE) {
        abort();
    }
    xmpp_stream_destroy(&s);
    return 0;
}
