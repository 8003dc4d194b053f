/* Unit tests of the XMPP stream parser (routing/xmpp/xmpp_stream.c): the
 * header, stanzas and close come out the same whether the bytes arrive
 * whole, one at a time or in random splits; everything RFC 6120 restricts
 * (DOCTYPE, entities, billion laughs, XXE, parameter entities, PIs,
 * comments) is a restricted-xml stream error that expands nothing; every
 * cap (stanza bytes, depth, attributes, elements, names) is a
 * policy-violation, the 100 MB stanza cut before twice the cap was fed;
 * invalid UTF-8, foreign encodings and bad namespaces are stream errors;
 * a failed stream refuses further input; the writers produce what the
 * parser reads back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "routing/xmpp/xmpp_stream.h"

#define HDR                                                                                     \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "                                \
    "xmlns:stream='http://etherx.jabber.org/streams' from='agent-1' to='network-control@contrailsystems.com' " \
    "version='1.0' id='s1' xml:lang='en'>"

/* What the callbacks saw, serialised: "O(from,to,id)", each stanza as XML
 * written back, "C" for the close. */
struct rec {
    struct buf log;
    unsigned stanzas;
    unsigned opens;
    unsigned closes;
};

static void rec_open(void *arg, const struct xmpp_stream_header *h)
{
    struct rec *r = arg;
    char line[512];
    snprintf(line, sizeof line, "O(%s,%s,%s,%s,%s,%s)", h->from ? h->from : "-", h->to ? h->to : "-",
             h->id ? h->id : "-", h->version ? h->version : "-", h->lang ? h->lang : "-", h->content_ns);
    assert_int_equal(buf_put(&r->log, line, strlen(line)), 0);
    r->opens++;
}

static void rec_stanza(void *arg, struct xmpp_elem *e)
{
    struct rec *r = arg;
    assert_null(e->parent);
    assert_int_equal(xmpp_elem_write(&r->log, e, XMPP_NS_CLIENT), 0);
    r->stanzas++;
    xmpp_elem_free(e);
}

static void rec_close(void *arg)
{
    struct rec *r = arg;
    assert_int_equal(buf_put(&r->log, "C", 1), 0);
    r->closes++;
}

static const struct xmpp_stream_ops rec_ops = {rec_open, rec_stanza, rec_close};

/* Feeds 'text' split at the offsets chosen by 'mode': 0 whole, 1 one byte
 * at a time, >1 random splits seeded by 'mode'. Returns the first nonzero
 * feed result; stops feeding there. */
static int feed_split(struct xmpp_stream *s, const char *text, size_t size, unsigned mode)
{
    size_t off = 0;
    srand(mode);
    while (off < size) {
        size_t n = size - off;
        if (mode == 1) {
            n = 1;
        } else if (mode > 1) {
            n = 1 + (size_t)rand() % (n < 40 ? n : 40);
        }
        int rc = xmpp_stream_feed(s, text + off, n);
        if (rc != 0) {
            return rc;
        }
        off += n;
    }
    return 0;
}

static int run(const char *text, const struct xmpp_stream_limits *lim, unsigned mode, struct rec *r,
               struct xmpp_stream *s)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->log, 0);
    assert_int_equal(xmpp_stream_init(s, lim, &rec_ops, r), 0);
    return feed_split(s, text, strlen(text), mode);
}

static void done(struct rec *r, struct xmpp_stream *s)
{
    buf_destroy(&r->log);
    xmpp_stream_destroy(s);
}

static void log_is(struct rec *r, const char *want)
{
    assert_int_equal(buf_put_u8(&r->log, 0), 0);
    assert_string_equal((const char *)r->log.data, want);
    r->log.size--;
}

static void test_basic_all_splits(void **state)
{
    const char *text = HDR
        "<iq type='set' id='a&amp;b'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
        "<subscribe node='default-domain:admin:vn1:vn1'><options><instance-id>1</instance-id></options>"
        "</subscribe></pubsub></iq> \n\t"
        "<message><body>caf\xc3\xa9 \xf0\x9f\x98\x80 &lt;&gt;&quot;&apos;&#65;<![CDATA[<x>]]></body></message>"
        "</stream:stream>";
    const char *want =
        "O(agent-1,network-control@contrailsystems.com,s1,1.0,en,jabber:client)"
        "<iq type=\"set\" id=\"a&amp;b\"><pubsub xmlns=\"http://jabber.org/protocol/pubsub\">"
        "<subscribe node=\"default-domain:admin:vn1:vn1\"><options><instance-id>1</instance-id></options>"
        "</subscribe></pubsub></iq>"
        "<message><body>caf\xc3\xa9 \xf0\x9f\x98\x80 &lt;&gt;\"'A&lt;x&gt;</body></message>"
        "C";
    for (unsigned mode = 0; mode < 40; mode++) {
        struct rec r;
        struct xmpp_stream s;
        assert_int_equal(run(text, NULL, mode, &r, &s), 0);
        assert_int_equal(s.state, XMPP_STREAM_CLOSED);
        assert_int_equal(r.stanzas, 2);
        log_is(&r, want);
        /* a closed stream refuses input */
        assert_int_equal(xmpp_stream_feed(&s, "<a/>", 4), XMPP_ERR_DONE);
        done(&r, &s);
    }
}

static void test_header_variants(void **state)
{
    struct {
        const char *text;
        enum xmpp_stream_cond cond;
    } cases[] = {
        /* jabber:server and double-quoted, no XML declaration */
        {"<stream:stream xmlns=\"jabber:server\" xmlns:stream=\"http://etherx.jabber.org/streams\" version=\"1.0\">",
         XMPP_SC_NONE},
        {"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streamz' version='1.0'>",
         XMPP_SC_INVALID_NAMESPACE},
        {"<stream:stream xmlns='jabber:iq' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
         XMPP_SC_INVALID_NAMESPACE},
        {"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
         XMPP_SC_INVALID_NAMESPACE},
        {"<stream xmlns='jabber:client' version='1.0'>", XMPP_SC_INVALID_NAMESPACE},
        {"<stream:flow xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
         XMPP_SC_BAD_FORMAT},
        {"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
         XMPP_SC_UNSUPPORTED_VERSION},
        {"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='2.0'>",
         XMPP_SC_UNSUPPORTED_VERSION},
        {"<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream xmlns='jabber:client' "
         "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
         XMPP_SC_UNSUPPORTED_ENCODING},
        {"<x:stream xmlns:x='http://etherx.jabber.org/streams' xmlns='jabber:client' version='1.0'>"
         "<iq/><x:error/>",
         XMPP_SC_NONE},
        {"hello", XMPP_SC_NOT_WELL_FORMED},
        {HDR "stray text<iq/>", XMPP_SC_BAD_FORMAT},
        {HDR "<iq><a></b></iq>", XMPP_SC_NOT_WELL_FORMED},
        {HDR "<iq><p:a/></iq>", XMPP_SC_NOT_WELL_FORMED},
        {HDR "<iq a='1' a='2'/>", XMPP_SC_NOT_WELL_FORMED},
        {HDR "<iq>&#0;</iq>", XMPP_SC_NOT_WELL_FORMED},
        {HDR "<iq>\x01</iq>", XMPP_SC_NOT_WELL_FORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (unsigned mode = 0; mode < 3; mode++) {
            struct rec r;
            struct xmpp_stream s;
            int rc = run(cases[i].text, NULL, mode, &r, &s);
            const char *text;
            if (xmpp_stream_error(&s, &text) != cases[i].cond) {
                fail_msg("case %zu mode %u: got %s (%s)", i, mode, xmpp_stream_cond_name(xmpp_stream_error(&s, NULL)),
                         text);
            }
            assert_int_equal(rc, cases[i].cond == XMPP_SC_NONE ? 0 : XMPP_ERR_STREAM);
            if (cases[i].cond != XMPP_SC_NONE) {
                assert_int_equal(s.state, XMPP_STREAM_FAILED);
                assert_int_equal(xmpp_stream_feed(&s, "<a/>", 4), XMPP_ERR_DONE);
                assert_int_equal(r.stanzas, 0);
            } else {
                assert_int_equal(r.opens, 1);
            }
            done(&r, &s);
        }
    }
}

static void expect_cond(const char *text, const struct xmpp_stream_limits *lim, enum xmpp_stream_cond cond)
{
    for (unsigned mode = 0; mode < 3; mode++) {
        struct rec r;
        struct xmpp_stream s;
        assert_int_equal(run(text, lim, mode, &r, &s), XMPP_ERR_STREAM);
        const char *msg;
        if (xmpp_stream_error(&s, &msg) != cond) {
            fail_msg("mode %u: got %s (%s)", mode, xmpp_stream_cond_name(xmpp_stream_error(&s, NULL)), msg);
        }
        assert_true(strlen(msg) > 0);
        assert_int_equal(xmpp_stream_feed(&s, HDR, strlen(HDR)), XMPP_ERR_DONE);
        done(&r, &s);
    }
}

static void test_billion_laughs(void **state)
{
    const char *text =
        "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        "<!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
        "<!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>"
        "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>"
        "<!ENTITY lol9 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>]>"
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
        "<iq>&lol9;</iq>";
    expect_cond(text, NULL, XMPP_SC_RESTRICTED_XML);
}

static void test_xxe_and_doctype(void **state)
{
    expect_cond("<?xml version='1.0'?><!DOCTYPE s [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"
                "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                "version='1.0'><iq>&xxe;</iq>",
                NULL, XMPP_SC_RESTRICTED_XML);
    expect_cond("<!DOCTYPE s [<!ENTITY % pe SYSTEM 'http://127.0.0.1:1/x.dtd'> %pe;]>"
                "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'/>",
                NULL, XMPP_SC_RESTRICTED_XML);
    expect_cond("<!DOCTYPE stream SYSTEM 'file:///etc/passwd'><stream:stream/>", NULL, XMPP_SC_RESTRICTED_XML);
    /* an undeclared entity after the header, in text and in an attribute */
    expect_cond(HDR "<iq>&xxe;</iq>", NULL, XMPP_SC_RESTRICTED_XML);
    expect_cond(HDR "<iq a='&xxe;'/>", NULL, XMPP_SC_RESTRICTED_XML);
    /* a DOCTYPE inside the stream is not well-formed XML at all */
    expect_cond(HDR "<!DOCTYPE x><iq/>", NULL, XMPP_SC_NOT_WELL_FORMED);
    expect_cond(HDR "<iq><?php evil?></iq>", NULL, XMPP_SC_RESTRICTED_XML);
    expect_cond("<?pi x?>" HDR, NULL, XMPP_SC_RESTRICTED_XML);
    expect_cond(HDR "<iq><!-- c --></iq>", NULL, XMPP_SC_RESTRICTED_XML);
}

static void test_depth_cap(void **state)
{
    /* 10,000-deep nesting against the default cap of 32 */
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_put(&b, HDR, strlen(HDR)), 0);
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(buf_put(&b, "<a>", 3), 0);
    }
    assert_int_equal(buf_put_u8(&b, 0), 0);
    expect_cond((const char *)b.data, NULL, XMPP_SC_POLICY_VIOLATION);
    buf_destroy(&b);

    /* exactly at the cap is fine: 4 levels with max_depth 4 */
    struct xmpp_stream_limits lim = {.max_depth = 4};
    struct rec r;
    struct xmpp_stream s;
    assert_int_equal(run(HDR "<iq><a><b><c/></b></a></iq>", &lim, 1, &r, &s), 0);
    assert_int_equal(r.stanzas, 1);
    done(&r, &s);
    expect_cond(HDR "<iq><a><b><c><d/></c></b></a></iq>", &lim, XMPP_SC_POLICY_VIOLATION);
}

static void test_attr_and_element_caps(void **state)
{
    struct xmpp_stream_limits lim = {.max_attrs = 3, .max_elements = 5};
    struct rec r;
    struct xmpp_stream s;
    assert_int_equal(run(HDR "<iq a='1' b='2' xmlns:p='u'><a/><b/><c/><d/></iq>", &lim, 0, &r, &s), 0);
    assert_int_equal(r.stanzas, 1);
    done(&r, &s);
    expect_cond(HDR "<iq a='1' b='2' c='3' d='4'/>", &lim, XMPP_SC_POLICY_VIOLATION);
    expect_cond(HDR "<iq a='1' b='2' xmlns:p='u' xmlns:q='v'/>", &lim, XMPP_SC_POLICY_VIOLATION);
    expect_cond(HDR "<iq><a/><b/><c/><d/><e/></iq>", &lim, XMPP_SC_POLICY_VIOLATION);
    /* the element count restarts with each stanza */
    assert_int_equal(run(HDR "<iq><a/><b/><c/><d/></iq><iq><a/><b/><c/><d/></iq>", &lim, 1, &r, &s), 0);
    assert_int_equal(r.stanzas, 2);
    done(&r, &s);
    /* default attribute cap */
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_put(&b, HDR "<iq", strlen(HDR) + 3), 0);
    for (int i = 0; i < 1000; i++) {
        char a[32];
        snprintf(a, sizeof a, " a%d='x'", i);
        assert_int_equal(buf_put(&b, a, strlen(a)), 0);
    }
    assert_int_equal(buf_put(&b, "/>", 3), 0);
    expect_cond((const char *)b.data, NULL, XMPP_SC_POLICY_VIOLATION);
    buf_destroy(&b);
}

static void test_stanza_size_cap_exact(void **state)
{
    /* a stanza of exactly the cap passes, one byte more fails; whitespace
     * between stanzas does not accumulate */
    struct xmpp_stream_limits lim = {.max_stanza_size = 4096};
    for (int over = 0; over < 2; over++) {
        struct buf b;
        buf_init(&b, 0);
        assert_int_equal(buf_put(&b, HDR, strlen(HDR)), 0);
        for (int k = 0; k < 3; k++) {
            size_t body = over ? 4097 : 4096;
            assert_int_equal(buf_put(&b, "<iq>", 4), 0);
            for (size_t i = 0; i < body - 9; i++) {
                assert_int_equal(buf_put_u8(&b, 'x'), 0);
            }
            assert_int_equal(buf_put(&b, "</iq>", 5), 0);
            for (int i = 0; i < 3000; i++) {
                assert_int_equal(buf_put_u8(&b, ' '), 0);
            }
        }
        assert_int_equal(buf_put_u8(&b, 0), 0);
        if (over) {
            expect_cond((const char *)b.data, &lim, XMPP_SC_POLICY_VIOLATION);
        } else {
            for (unsigned mode = 0; mode < 3; mode++) {
                struct rec r;
                struct xmpp_stream s;
                int rc = run((const char *)b.data, &lim, mode, &r, &s);
                const char *msg;
                xmpp_stream_error(&s, &msg);
                if (rc != 0) {
                    fail_msg("mode %u: %s", mode, msg);
                }
                assert_int_equal(r.stanzas, 3);
                done(&r, &s);
            }
        }
        buf_destroy(&b);
    }
}

static unsigned huge_stanzas;
static void count_stanza(void *arg, struct xmpp_elem *e)
{
    huge_stanzas++;
    xmpp_elem_free(e);
}

/* Feeds 'fill' bytes in 64 KiB chunks after 'prefix', returns the bytes
 * fed when the error came (0 if none) */
static uint64_t feed_huge(const char *prefix, char fill, uint64_t total, enum xmpp_stream_cond *cond)
{
    struct xmpp_stream s;
    struct xmpp_stream_ops ops = {.stanza = count_stanza};
    assert_int_equal(xmpp_stream_init(&s, NULL, &ops, NULL), 0);
    assert_int_equal(xmpp_stream_feed(&s, HDR, strlen(HDR)), 0);
    uint64_t fed = strlen(HDR);
    int rc = xmpp_stream_feed(&s, prefix, strlen(prefix));
    fed += strlen(prefix);
    static char chunk[64 << 10];
    memset(chunk, fill, sizeof chunk);
    while (rc == 0 && fed < total) {
        rc = xmpp_stream_feed(&s, chunk, sizeof chunk);
        fed += sizeof chunk;
    }
    *cond = xmpp_stream_error(&s, NULL);
    xmpp_stream_destroy(&s);
    return rc == XMPP_ERR_STREAM ? fed : 0;
}

static void test_100mb_stanza(void **state)
{
    uint64_t cap = XMPP_DEFAULT_MAX_STANZA_SIZE;
    uint64_t total = (uint64_t)100 << 20;
    enum xmpp_stream_cond cond;
    /* in text, in an attribute value, in a start tag's name, in whitespace
     * inside a start tag */
    const char *prefixes[] = {"<iq><body>", "<iq a='", "<iq", "<iq "};
    const char fills[] = {'x', 'y', 'z', ' '};
    for (size_t i = 0; i < 4; i++) {
        huge_stanzas = 0;
        uint64_t at = feed_huge(prefixes[i], fills[i], total, &cond);
        assert_true(at > cap);
        assert_true(at < 2 * cap);
        assert_int_equal(cond, XMPP_SC_POLICY_VIOLATION);
        assert_int_equal(huge_stanzas, 0);
    }
    /* 100 MB of whitespace between stanzas is allowed to flow (keepalives) */
    huge_stanzas = 0;
    uint64_t at = feed_huge("<iq/>", '\n', (uint64_t)8 << 20, &cond);
    assert_int_equal(at, 0);
    assert_int_equal(cond, XMPP_SC_NONE);
    assert_int_equal(huge_stanzas, 1);
}

static void test_invalid_utf8(void **state)
{
    const char *bad[] = {
        HDR "<iq>\xff</iq>",
        HDR "<iq>\xc3\x28</iq>",
        HDR "<iq>\xed\xa0\x80</iq>", /* surrogate */
        HDR "<iq>\xc0\xaf</iq>",     /* overlong */
        HDR "<iq a='\xfe'/>",
        HDR "<i\xff/>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_cond(bad[i], NULL, XMPP_SC_NOT_WELL_FORMED);
    }
    /* UTF-16 (BOM) is another encoding, refused */
    struct buf u;
    buf_init(&u, 0);
    assert_int_equal(buf_put(&u, "\xff\xfe", 2), 0);
    for (const char *c = HDR "<iq/>"; *c; c++) {
        assert_int_equal(buf_put_u8(&u, (uint8_t)*c), 0);
        assert_int_equal(buf_put_u8(&u, 0), 0);
    }
    struct xmpp_stream s;
    assert_int_equal(xmpp_stream_init(&s, NULL, NULL, NULL), 0);
    int rc = xmpp_stream_feed(&s, u.data, u.size);
    buf_destroy(&u);
    assert_int_equal(rc, XMPP_ERR_STREAM);
    const char *msg;
    enum xmpp_stream_cond c = xmpp_stream_error(&s, &msg);
    if (c != XMPP_SC_UNSUPPORTED_ENCODING && c != XMPP_SC_INVALID_NAMESPACE) {
        fail_msg("utf-16: %s %s", xmpp_stream_cond_name(c), msg);
    }
    assert_true(xmpp_stream_error(&s, NULL) == XMPP_SC_UNSUPPORTED_ENCODING ||
                xmpp_stream_error(&s, NULL) == XMPP_SC_INVALID_NAMESPACE);
    xmpp_stream_destroy(&s);
}

static void test_no_stderr_output(void **state)
{
    /* libxml2 reports failed encoding conversions through its generic
     * handler (stderr by default): a peer must not be able to write there */
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    const char *t = "<?xml version='1.0' encoding='UTF-32'?><stream:stream xmlns='jabber:client' "
                    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    struct xmpp_stream s;
    assert_int_equal(xmpp_stream_init(&s, NULL, NULL, NULL), 0);
    int rc = xmpp_stream_feed(&s, t, strlen(t));
    enum xmpp_stream_cond cond = xmpp_stream_error(&s, NULL);
    xmpp_stream_destroy(&s);
    fflush(stderr);
    assert_true(dup2(saved, 2) >= 0);
    close(saved);
    long written = ftell(tmp) > 0 ? ftell(tmp) : lseek(fileno(tmp), 0, SEEK_END);
    fclose(tmp);
    assert_int_equal(rc, XMPP_ERR_STREAM);
    assert_int_not_equal(cond, XMPP_SC_NONE);
    assert_int_equal(written, 0);
}

static void test_names_cap(void **state)
{
    /* a peer inventing new element names forever hits the dictionary cap */
    struct xmpp_stream_limits lim = {.max_names_size = 16 << 10};
    struct xmpp_stream s;
    assert_int_equal(xmpp_stream_init(&s, &lim, NULL, NULL), 0);
    int rc = xmpp_stream_feed(&s, HDR, strlen(HDR));
    unsigned i;
    for (i = 0; rc == 0 && i < 100000; i++) {
        char st[80];
        snprintf(st, sizeof st, "<iq><name-number-%08u/></iq>", i);
        rc = xmpp_stream_feed(&s, st, strlen(st));
    }
    assert_int_equal(rc, XMPP_ERR_STREAM);
    assert_true(i < 2000);
    assert_int_equal(xmpp_stream_error(&s, NULL), XMPP_SC_RESOURCE_CONSTRAINT);
    xmpp_stream_destroy(&s);
}

static void fail_in_open(void *arg, const struct xmpp_stream_header *h)
{
    xmpp_stream_fail(arg, XMPP_SC_NOT_AUTHORIZED, "from does not match the certificate");
}

static void no_stanza(void *arg, struct xmpp_elem *e)
{
    fail_msg("stanza after failure");
}

static void test_fail_from_callback(void **state)
{
    struct xmpp_stream s;
    struct xmpp_stream_ops ops = {.open = fail_in_open, .stanza = no_stanza};
    assert_int_equal(xmpp_stream_init(&s, NULL, &ops, &s), 0);
    assert_int_equal(xmpp_stream_feed(&s, HDR "<iq/><iq/>", strlen(HDR) + 10), XMPP_ERR_STREAM);
    const char *text;
    assert_int_equal(xmpp_stream_error(&s, &text), XMPP_SC_NOT_AUTHORIZED);
    assert_string_equal(text, "from does not match the certificate");
    xmpp_stream_destroy(&s);
}

static void test_partial_stanza_freed(void **state)
{
    /* destroy mid-stanza frees the partial tree (valgrind checks) */
    struct xmpp_stream s;
    assert_int_equal(xmpp_stream_init(&s, NULL, NULL, NULL), 0);
    const char *t = HDR "<iq a='1'><b c='2'>text<d>";
    assert_int_equal(xmpp_stream_feed(&s, t, strlen(t)), 0);
    assert_int_equal(s.state, XMPP_STREAM_OPEN);
    xmpp_stream_destroy(&s);
    xmpp_stream_destroy(NULL);
    xmpp_elem_free(NULL);
}

static void test_writers(void **state)
{
    struct buf b;
    buf_init(&b, 0);
    struct xmpp_stream_header h = {.to = "agent&1", .from = "network-control@contrailsystems.com", .id = "x\"y",
                                   .lang = "en"};
    assert_int_equal(xmpp_stream_write_header(&b, &h), 0);
    assert_int_equal(buf_put(&b, "<iq/>", 5), 0);
    assert_int_equal(xmpp_stream_write_error(&b, XMPP_SC_POLICY_VIOLATION, "too <big> & bad"), 0);
    assert_int_equal(xmpp_stream_write_error(&b, XMPP_SC_NONE, NULL), XMPP_ERR_RANGE);
    assert_int_equal(buf_put_u8(&b, 0), 0);
    struct rec r;
    struct xmpp_stream s;
    assert_int_equal(run((const char *)b.data, NULL, 1, &r, &s), 0);
    log_is(&r,
           "O(network-control@contrailsystems.com,agent&1,x\"y,1.0,en,jabber:client)<iq/>"
           "<error xmlns=\"http://etherx.jabber.org/streams\"><policy-violation "
           "xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/><text "
           "xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\">too &lt;big&gt; &amp; bad</text></error>C");
    done(&r, &s);
    buf_destroy(&b);

    /* close alone; conditions round trip by name */
    buf_init(&b, 0);
    assert_int_equal(xmpp_stream_write_close(&b), 0);
    assert_int_equal(b.size, strlen("</stream:stream>"));
    buf_destroy(&b);
    for (unsigned c = 1; c < XMPP_SC_COUNT; c++) {
        assert_int_equal(xmpp_stream_cond_parse(xmpp_stream_cond_name((enum xmpp_stream_cond)c)), c);
    }
    assert_int_equal(xmpp_stream_cond_parse("no-such"), XMPP_SC_UNDEFINED_CONDITION);
    assert_null(xmpp_stream_cond_name(XMPP_SC_COUNT));
}

static unsigned escaped_seen;
static void check_escaped(void *arg, struct xmpp_elem *e)
{
    const char *in = arg;
    assert_string_equal(xmpp_elem_attr(e, "a"), in);
    assert_string_equal(xmpp_elem_text(e), in);
    assert_int_equal(e->text_size, strlen(in));
    escaped_seen++;
    xmpp_elem_free(e);
}

static void test_escape(void **state)
{
    struct buf b;
    buf_init(&b, 0);
    const char in[] = "a<b>&\"'\t\n\r\xc3\xa9";
    assert_int_equal(xmpp_xml_escape(&b, in, strlen(in), true), 0);
    assert_int_equal(buf_put_u8(&b, 0), 0);
    assert_string_equal((const char *)b.data, "a&lt;b&gt;&amp;&quot;'&#9;&#10;&#13;\xc3\xa9");
    buf_reset(&b);
    assert_int_equal(xmpp_xml_escape(&b, in, strlen(in), false), 0);
    assert_int_equal(buf_put_u8(&b, 0), 0);
    assert_string_equal((const char *)b.data, "a&lt;b&gt;&amp;\"'\t\n&#13;\xc3\xa9");
    const char *bad[] = {"\x01", "\xff", "\xc3", "\xef\xbf\xbf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(xmpp_xml_escape(&b, bad[i], strlen(bad[i]), false), XMPP_ERR_TEXT);
    }
    assert_string_equal(strata_strerror(XMPP_ERR_TEXT), "text not representable in XML");
    buf_destroy(&b);

    /* attribute values and text with whitespace and markup characters
     * survive the parser's normalisation exactly */
    buf_init(&b, 0);
    assert_int_equal(buf_put(&b, HDR "<iq a=\"", strlen(HDR) + 7), 0);
    assert_int_equal(xmpp_xml_escape(&b, in, strlen(in), true), 0);
    assert_int_equal(buf_put(&b, "\">", 2), 0);
    assert_int_equal(xmpp_xml_escape(&b, in, strlen(in), false), 0);
    assert_int_equal(buf_put(&b, "</iq>", 6), 0);
    struct xmpp_stream_ops ops = {.stanza = check_escaped};
    struct xmpp_stream s;
    escaped_seen = 0;
    assert_int_equal(xmpp_stream_init(&s, NULL, &ops, (void *)in), 0);
    assert_int_equal(feed_split(&s, (const char *)b.data, strlen((const char *)b.data), 1), 0);
    assert_int_equal(escaped_seen, 1);
    xmpp_stream_destroy(&s);
    buf_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_all_splits),
        cmocka_unit_test(test_header_variants),
        cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_xxe_and_doctype),
        cmocka_unit_test(test_depth_cap),
        cmocka_unit_test(test_attr_and_element_caps),
        cmocka_unit_test(test_stanza_size_cap_exact),
        cmocka_unit_test(test_100mb_stanza),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_names_cap),
        cmocka_unit_test(test_no_stderr_output),
        cmocka_unit_test(test_fail_from_callback),
        cmocka_unit_test(test_partial_stanza_freed),
        cmocka_unit_test(test_writers),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
