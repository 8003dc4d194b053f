/* Unit tests of the Contrail stanza codec (routing/xmpp/xmpp_stanza.c):
 * every sample of every stanza type survives encode -> stream parser ->
 * decode unchanged, also with all samples in one stream fed one byte at a
 * time and in random splits; hand-written anchor-style XML decodes to the
 * expected fields (a label without encapsulation list is GRE, unknown entry
 * elements are ignored); every validation (label, VNI, addresses, host bits,
 * node/entry agreement, names, counts) is a typed error; the encoder refuses
 * what the decoder would refuse and leaves the buffer untouched then. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/xmpp/xmpp_samples.h"

static int decode_text(const char *xml, struct xmpp_stanza *st)
{
    struct xmpp_elem *e = parse_stanza(xml, strlen(xml));
    assert_non_null(e);
    int rc = xmpp_stanza_decode(e, st);
    xmpp_elem_free(e);
    return rc;
}

static void test_round_trip_each(void **state)
{
    for (unsigned i = 0; i < SAMPLE_COUNT; i++) {
        struct xmpp_stanza a, b;
        sample_stanza(&a, i);
        struct buf out;
        buf_init(&out, 0);
        int rc = xmpp_stanza_encode(&out, &a);
        if (rc != 0) {
            fail_msg("sample %u: encode %s", i, strata_strerror(rc));
        }
        struct xmpp_elem *e = parse_stanza((const char *)out.data, out.size);
        if (e == NULL) {
            fail_msg("sample %u: not parseable: %.*s", i, (int)out.size, (const char *)out.data);
        }
        rc = xmpp_stanza_decode(e, &b);
        if (rc != 0) {
            fail_msg("sample %u: decode %s: %.*s", i, strata_strerror(rc), (int)out.size, (const char *)out.data);
        }
        assert_true(xmpp_stanza_equal(&a, &b));
        /* and the encoding is canonical */
        struct buf again;
        buf_init(&again, 0);
        assert_int_equal(xmpp_stanza_encode(&again, &b), 0);
        assert_int_equal(again.size, out.size);
        assert_memory_equal(again.data, out.data, out.size);
        buf_destroy(&again);
        xmpp_elem_free(e);
        buf_destroy(&out);
        xmpp_stanza_clear(&a);
        xmpp_stanza_clear(&b);
    }
}

/* Fan-out: every ROUTES sample encoded with its items part encoded
 * separately (xmpp_routes_items_encode) and handed to
 * xmpp_stanza_encode_routes, for another recipient too, is byte for byte
 * what xmpp_stanza_encode writes; other types and bad items are refused
 * with the buffer untouched. */
static void test_routes_shared_items(void **state)
{
    (void)state;
    unsigned routes = 0;
    for (unsigned i = 0; i < SAMPLE_COUNT; i++) {
        struct xmpp_stanza a;
        sample_stanza(&a, i);
        struct buf items, whole, shared;
        buf_init(&items, 0);
        buf_init(&whole, 0);
        buf_init(&shared, 0);
        if (a.type != XMPP_STANZA_ROUTES) {
            assert_int_equal(xmpp_routes_items_encode(&items, &a), XMPP_ERR_DECODE);
            assert_int_equal(xmpp_stanza_encode_routes(&shared, &a, NULL, 0), XMPP_ERR_DECODE);
            assert_int_equal(items.size + shared.size, 0);
        } else {
            routes++;
            assert_int_equal(xmpp_routes_items_encode(&items, &a), 0);
            for (int who = 0; who < 2; who++) {
                if (who == 1) {
                    snprintf(a.to, sizeof a.to, "another-agent");
                }
                buf_reset(&whole);
                buf_reset(&shared);
                assert_int_equal(xmpp_stanza_encode(&whole, &a), 0);
                assert_int_equal(xmpp_stanza_encode_routes(&shared, &a, items.data, items.size), 0);
                assert_int_equal(shared.size, whole.size);
                assert_memory_equal(shared.data, whole.data, whole.size);
            }
            if (a.item_count > 0) {
                /* an item of another family is refused, nothing written */
                enum xmpp_family f = a.items[0].entry.family;
                a.items[0].entry.family = f == XMPP_FAMILY_INET ? XMPP_FAMILY_INET6 : XMPP_FAMILY_INET;
                size_t before = items.size;
                assert_int_equal(xmpp_routes_items_encode(&items, &a), XMPP_ERR_RANGE);
                assert_int_equal(items.size, before);
                a.items[0].entry.family = f;
            }
        }
        buf_destroy(&items);
        buf_destroy(&whole);
        buf_destroy(&shared);
        xmpp_stanza_clear(&a);
    }
    assert_true(routes >= 2);
}

struct collect {
    unsigned n;
    struct xmpp_stanza got[SAMPLE_COUNT];
};

static void collect_cb(void *arg, struct xmpp_elem *e)
{
    struct collect *c = arg;
    assert_true(c->n < SAMPLE_COUNT);
    assert_int_equal(xmpp_stanza_decode(e, &c->got[c->n]), 0);
    c->n++;
    xmpp_elem_free(e);
}

static void test_stream_of_all_split(void **state)
{
    struct buf all;
    buf_init(&all, 0);
    assert_int_equal(buf_put(&all, SAMPLE_HDR, strlen(SAMPLE_HDR)), 0);
    struct xmpp_stanza want[SAMPLE_COUNT];
    for (unsigned i = 0; i < SAMPLE_COUNT; i++) {
        sample_stanza(&want[i], i);
        assert_int_equal(xmpp_stanza_encode(&all, &want[i]), 0);
        assert_int_equal(buf_put(&all, " ", 1), 0); /* whitespace keepalive */
    }
    assert_int_equal(xmpp_stream_write_close(&all), 0);
    for (unsigned mode = 0; mode < 12; mode++) {
        struct collect c;
        memset(&c, 0, sizeof c);
        struct xmpp_stream_ops ops = {.stanza = collect_cb};
        struct xmpp_stream s;
        assert_int_equal(xmpp_stream_init(&s, NULL, &ops, &c), 0);
        srand(mode);
        size_t off = 0;
        while (off < all.size) {
            size_t n = mode == 0 ? all.size - off : mode == 1 ? 1 : 1 + (size_t)rand() % 97;
            if (n > all.size - off) {
                n = all.size - off;
            }
            assert_int_equal(xmpp_stream_feed(&s, all.data + off, n), 0);
            off += n;
        }
        assert_int_equal(s.state, XMPP_STREAM_CLOSED);
        assert_int_equal(c.n, SAMPLE_COUNT);
        for (unsigned i = 0; i < SAMPLE_COUNT; i++) {
            assert_true(xmpp_stanza_equal(&want[i], &c.got[i]));
            xmpp_stanza_clear(&c.got[i]);
        }
        xmpp_stream_destroy(&s);
    }
    for (unsigned i = 0; i < SAMPLE_COUNT; i++) {
        xmpp_stanza_clear(&want[i]);
    }
    buf_destroy(&all);
}

static void test_anchor_subscribe_publish(void **state)
{
    struct xmpp_stanza st;
    assert_int_equal(decode_text("<iq type='set' from='agent-1' to='network-control@contrailsystems.com/bgp-peer' "
                                 "id='subscribe1'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                                 "<subscribe node='default-domain:admin:vn1:vn1'><options>\n"
                                 "  <instance-id> 3 </instance-id></options></subscribe></pubsub></iq>",
                                 &st),
                     0);
    assert_int_equal(st.type, XMPP_STANZA_SUBSCRIBE);
    assert_string_equal(st.instance, "default-domain:admin:vn1:vn1");
    assert_int_equal(st.instance_id, 3);
    assert_string_equal(st.id, "subscribe1");
    assert_string_equal(st.from, "agent-1");
    xmpp_stanza_clear(&st);

    /* a publish without encapsulation list (GRE), with elements we do not
     * know (ignored), in the bgpvpn namespace */
    assert_int_equal(
        decode_text("<iq type='set' id='p1'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                    "<publish node='1/1/default-domain:admin:vn1:vn1/10.1.1.3/32'><item>"
                    "<entry xmlns='http://ietf.org/protocol/bgpvpn'><nlri><af>1</af><safi>1</safi>"
                    "<address>10.1.1.3/32</address></nlri><next-hops><next-hop><af>1</af>"
                    "<address>192.168.0.1</address><label>16</label><tag-list/></next-hop></next-hops>"
                    "<virtual-network>default-domain:admin:vn1</virtual-network><sequence-number>2</sequence-number>"
                    "<security-group-list><security-group>8000001</security-group></security-group-list>"
                    "<local-preference>100</local-preference><mobility seqno='1'/><sub-protocol>interface"
                    "</sub-protocol></entry></item></publish></pubsub></iq>",
                    &st),
        0);
    assert_int_equal(st.type, XMPP_STANZA_PUBLISH);
    assert_int_equal(st.family, XMPP_FAMILY_INET);
    assert_non_null(st.entry);
    assert_int_equal(st.entry->next_hop_count, 1);
    assert_int_equal(st.entry->next_hops[0].label, 16);
    assert_int_equal(st.entry->next_hops[0].encaps, XMPP_ENCAP_GRE);
    assert_int_equal(st.entry->key.plen, 32);
    assert_int_equal(st.entry->security_group_count, 1);
    assert_int_equal(st.entry->security_groups[0], 8000001);
    assert_true(st.entry->has_local_preference);
    assert_false(st.entry->has_med);
    assert_string_equal(st.entry->virtual_network, "default-domain:admin:vn1");
    xmpp_stanza_clear(&st);

    assert_int_equal(decode_text("<iq type='set' id='c1'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                                 "<collection node='vrf1'><dissociate node='2/1/vrf1/2001:db8::/64'/></collection>"
                                 "</pubsub></iq>",
                                 &st),
                     0);
    assert_int_equal(st.type, XMPP_STANZA_DISSOCIATE);
    assert_int_equal(st.family, XMPP_FAMILY_INET6);
    assert_int_equal(st.key.plen, 64);
    xmpp_stanza_clear(&st);

    assert_int_equal(decode_text("<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                                 "<publish node='0/0/EndOfRib'/></pubsub></iq>",
                                 &st),
                     0);
    assert_int_equal(st.type, XMPP_STANZA_EOR);
    xmpp_stanza_clear(&st);
}

static void test_anchor_events(void **state)
{
    struct xmpp_stanza st;
    assert_int_equal(
        decode_text("<message from='network-control@contrailsystems.com' to='agent-1/bgp-peer'>"
                    "<event xmlns='http://jabber.org/protocol/pubsub'><items node='25/242/vrf1'>"
                    "<item id='0-02:00:00:00:00:0A,10.0.0.1/32'><entry><nlri><af>25</af><safi>242</safi>"
                    "<ethernet-tag>0</ethernet-tag><mac>02:00:00:00:00:0a</mac><address>10.0.0.1/32</address>"
                    "</nlri><next-hops><next-hop><af>1</af><address>192.168.0.9</address>"
                    "<mac>02:00:00:00:00:01</mac><label>5001</label><vni>16777215</vni>"
                    "<tunnel-encapsulation-list><tunnel-encapsulation>vxlan</tunnel-encapsulation>"
                    "</tunnel-encapsulation-list></next-hop></next-hops></entry></item>"
                    "<retract id='7-02:00:00:00:00:0b'/></items></event></message>",
                    &st),
        0);
    assert_int_equal(st.type, XMPP_STANZA_ROUTES);
    assert_int_equal(st.family, XMPP_FAMILY_EVPN);
    assert_string_equal(st.instance, "vrf1");
    assert_int_equal(st.item_count, 2);
    assert_false(st.items[0].retract);
    assert_int_equal(st.items[0].entry.key.mac[5], 0x0a);
    assert_int_equal(st.items[0].entry.next_hops[0].vni, XMPP_VNI_MAX);
    assert_int_equal(st.items[0].entry.next_hops[0].encaps, XMPP_ENCAP_VXLAN);
    assert_true(st.items[1].retract);
    assert_int_equal(st.items[1].entry.key.ethernet_tag, 7);
    assert_int_equal(st.items[1].entry.key.prefix.version, 0);
    xmpp_stanza_clear(&st);

    assert_int_equal(decode_text("<message><event xmlns='http://jabber.org/protocol/pubsub'>"
                                 "<items node='0/0/EndOfRib'/></event></message>",
                                 &st),
                     0);
    assert_int_equal(st.type, XMPP_STANZA_EOR_EVENT);
    xmpp_stanza_clear(&st);

    assert_int_equal(decode_text("<iq type='set' to='agent-1/config' id='cfg1'><config><update>"
                                 "<node type='virtual-machine-interface'><name>vmi1</name>"
                                 "<virtual-machine-interface-mac-addresses>02:00:00:00:00:01"
                                 "</virtual-machine-interface-mac-addresses></node>"
                                 "<link><node type='virtual-router'><name>vr1</name></node>"
                                 "<node type='virtual-machine'><name>vm1</name></node>"
                                 "<metadata type='virtual-router-virtual-machine'/></link></update>"
                                 "<delete><node type='virtual-network'><name>vn1</name></node></delete></config></iq>",
                                 &st),
                     0);
    assert_int_equal(st.type, XMPP_STANZA_CONFIG);
    assert_int_equal(st.obj_count, 3);
    assert_string_equal(st.objs[0].node.props[0].name, "virtual-machine-interface-mac-addresses");
    assert_string_equal(st.objs[0].node.props[0].value, "02:00:00:00:00:01");
    assert_true(st.objs[1].is_link);
    assert_string_equal(st.objs[1].right.name, "vm1");
    assert_string_equal(st.objs[1].metadata.type, "virtual-router-virtual-machine");
    assert_int_equal(st.objs[2].op, XMPP_CONFIG_DELETE);
    xmpp_stanza_clear(&st);

    assert_int_equal(decode_text("<iq type='get' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>", &st), 0);
    assert_int_equal(st.type, XMPP_STANZA_PING);
    xmpp_stanza_clear(&st);
    assert_int_equal(decode_text("<iq type='error' id='x'><error type='cancel'><bad-request "
                                 "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text "
                                 "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no</text></error></iq>",
                                 &st),
                     0);
    assert_string_equal(st.condition, "bad-request");
    xmpp_stanza_clear(&st);
}

static void test_decode_errors(void **state)
{
#define PUB(node, nlri, nh)                                                               \
    "<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='" node \
    "'><item><entry><nlri>" nlri "</nlri><next-hops>" nh "</next-hops></entry></item></publish></pubsub></iq>"
#define NLRI4 "<af>1</af><safi>1</safi><address>10.1.1.0/24</address>"
#define NH(x) "<next-hop><af>1</af><address>192.168.0.1</address>" x "</next-hop>"
    struct {
        const char *xml;
        int rc;
    } cases[] = {
        {PUB("1/1/ri/10.1.1.0/24", NLRI4, NH("<label>16</label>")), 0},
        {PUB("1/1/ri/10.1.1.0/24", NLRI4, NH("<label>1048576</label>")), XMPP_ERR_RANGE},
        {PUB("1/1/ri/10.1.1.0/24", NLRI4, NH("<label>-1</label>")), XMPP_ERR_RANGE},
        {PUB("1/1/ri/10.1.1.0/24", NLRI4, NH("<label>99999999999999</label>")), XMPP_ERR_RANGE},
        {PUB("1/1/ri/10.1.1.0/24", NLRI4, NH("<label>0x10</label>")), XMPP_ERR_RANGE},
        {PUB("1/1/ri/10.1.1.0/24", NLRI4, NH("<vni>16777216</vni>")), XMPP_ERR_RANGE},
        {PUB("1/1/ri/10.1.1.0/24", NLRI4, NH("<tunnel-encapsulation-list><tunnel-encapsulation>ipip"
                                              "</tunnel-encapsulation></tunnel-encapsulation-list>")),
         XMPP_ERR_RANGE},
        {PUB("1/1/ri/10.1.1.0/24", NLRI4, NH("<mac>02:00:00:00:00</mac>")), XMPP_ERR_ADDR},
        {PUB("1/1/ri/10.1.1.0/24", NLRI4, "<next-hop><af>1</af><address>::1</address></next-hop>"), XMPP_ERR_ADDR},
        {PUB("1/1/ri/10.1.1.0/24", NLRI4, "<next-hop><af>1</af><address>300.1.1.1</address></next-hop>"),
         XMPP_ERR_ADDR},
        {PUB("1/1/ri/10.1.1.0/24", NLRI4, "<next-hop><af>3</af><address>1.1.1.1</address></next-hop>"),
         XMPP_ERR_RANGE},
        {PUB("1/1/ri/10.1.1.0/24", NLRI4, "<next-hop><af>1</af></next-hop>"), XMPP_ERR_DECODE},
        {PUB("1/1/ri/10.1.1.0/24", NLRI4, ""), XMPP_ERR_DECODE},
        {PUB("1/1/ri/10.1.1.1/24", "<af>1</af><safi>1</safi><address>10.1.1.1/24</address>", NH("")), XMPP_ERR_ADDR},
        {PUB("1/1/ri/10.1.1.0/33", "<af>1</af><safi>1</safi><address>10.1.1.0/33</address>", NH("")), XMPP_ERR_ADDR},
        {PUB("1/1/ri/10.1.2.0/24", NLRI4, NH("")), XMPP_ERR_DECODE}, /* node and entry disagree */
        {PUB("2/1/ri/10.1.1.0/24", NLRI4, NH("")), XMPP_ERR_ADDR},
        {PUB("3/1/ri/10.1.1.0/24", NLRI4, NH("")), XMPP_ERR_RANGE},
        {PUB("1/1//10.1.1.0/24", NLRI4, NH("")), XMPP_ERR_NAME},
        {PUB("1/1/ri", NLRI4, NH("")), XMPP_ERR_NAME},
        {PUB("x/1/ri/10.1.1.0/24", NLRI4, NH("")), XMPP_ERR_NAME},
        {PUB("25/242/ri/0-02:00:00:00:00:01", "<af>25</af><safi>242</safi><mac>02:00:00:00:00:01</mac>", NH("")), 0},
        {PUB("25/242/ri/0-02:00:00:00:00:01", "<af>25</af><safi>242</safi>", NH("")), XMPP_ERR_DECODE},
        {PUB("25/242/ri/0-02:00:00:00:00:01", "<af>25</af><safi>242</safi><mac>02:00:00:00:00:01</mac>"
                                              "<ethernet-tag>4294967296</ethernet-tag>", NH("")),
         XMPP_ERR_RANGE},
        {"<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='a/b'><options>"
         "<instance-id>1</instance-id></options></subscribe></pubsub></iq>",
         XMPP_ERR_NAME},
        {"<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='ri'/></pubsub></iq>",
         XMPP_ERR_DECODE},
        {"<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><collection node='ri2'>"
         "<associate node='1/1/ri/10.1.1.0/24'/></collection></pubsub></iq>",
         XMPP_ERR_DECODE},
        {"<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='ri'/></pubsub></iq>",
         XMPP_ERR_UNSUPPORTED},
        {"<iq type='set'><pubsub xmlns='urn:other'><subscribe node='ri'/></pubsub></iq>", XMPP_ERR_UNSUPPORTED},
        {"<iq type='get'><query xmlns='jabber:iq:version'/></iq>", XMPP_ERR_UNSUPPORTED},
        {"<iq type='bogus'/>", XMPP_ERR_DECODE},
        {"<iq/>", XMPP_ERR_DECODE},
        {"<presence/>", XMPP_ERR_UNSUPPORTED},
        {"<message><body>hi</body></message>", XMPP_ERR_UNSUPPORTED},
        {"<message><event xmlns='http://jabber.org/protocol/pubsub'><items node='1/1/ri'><item id='10.0.0.0/8'/>"
         "</items></event></message>",
         XMPP_ERR_DECODE},
        {"<iq type='set'><config><update><node type='Bad Type'><name>x</name></node></update></config></iq>",
         XMPP_ERR_NAME},
        {"<iq type='set'><config><update><node type='vn'><name></name></node></update></config></iq>",
         XMPP_ERR_NAME},
        {"<iq type='set'><config><update><node type='vn'></node></update></config></iq>", XMPP_ERR_DECODE},
        {"<iq type='set'><config><update><node type='vn'><name>x</name><p><q/></p></node></update></config></iq>",
         XMPP_ERR_DECODE},
        {"<iq type='set'><config><update><link><node type='a'><name>x</name></node></link></update></config></iq>",
         XMPP_ERR_DECODE},
        {"<iq type='set'><config><replace/></config></iq>", XMPP_ERR_DECODE},
        {"<iq type='error'><error type='cancel'/></iq>", XMPP_ERR_DECODE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct xmpp_stanza st;
        int rc = decode_text(cases[i].xml, &st);
        if (rc != cases[i].rc) {
            fail_msg("case %zu: got %d (%s), want %d", i, rc, strata_strerror(rc), cases[i].rc);
        }
        xmpp_stanza_clear(&st);
    }

    /* counts from the wire are capped */
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_put(&b, "<iq type='set'><config><update>", 31), 0);
    for (int i = 0; i < 17; i++) {
        char n[80];
        snprintf(n, sizeof n, "<node type='vn'><name>vn%d</name></node>", i);
        assert_int_equal(buf_put(&b, n, strlen(n)), 0);
    }
    assert_int_equal(buf_put(&b, "</update></config></iq>", 24), 0);
    struct xmpp_stanza st;
    assert_int_equal(decode_text((const char *)b.data, &st), XMPP_ERR_TOOMANY);
    xmpp_stanza_clear(&st);
    buf_reset(&b);
    assert_int_equal(buf_put(&b, PUB("1/1/ri/10.1.1.0/24", NLRI4, ""), strlen(PUB("1/1/ri/10.1.1.0/24", NLRI4, ""))),
                     0);
    char *text = calloc(1, b.size + 17 * 80 + 1);
    assert_non_null(text);
    char *at = strstr((char *)b.data, "</next-hops>");
    assert_non_null(at);
    size_t head = (size_t)(at - (char *)b.data);
    memcpy(text, b.data, head);
    for (int i = 0; i < 17; i++) {
        strcat(text, NH(""));
    }
    strncat(text, at, b.size - head);
    assert_int_equal(decode_text(text, &st), XMPP_ERR_TOOMANY);
    xmpp_stanza_clear(&st);
    free(text);
    buf_destroy(&b);
}

static void test_encode_refuses(void **state)
{
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(buf_put(&out, "keep", 4), 0);
    struct xmpp_stanza st;

    sample_stanza(&st, 2);
    st.entry->next_hops[0].label = XMPP_LABEL_MAX + 1;
    assert_int_equal(xmpp_stanza_encode(&out, &st), XMPP_ERR_RANGE);
    st.entry->next_hops[0].label = 0;
    st.entry->next_hops[0].encaps = 0;
    assert_int_equal(xmpp_stanza_encode(&out, &st), XMPP_ERR_RANGE);
    st.entry->next_hops[0].encaps = XMPP_ENCAP_GRE;
    st.entry->key.plen = 8; /* host bits */
    st.key = st.entry->key;
    assert_int_equal(xmpp_stanza_encode(&out, &st), XMPP_ERR_ADDR);
    st.entry->key.plen = 32;
    st.key.plen = 31;
    assert_int_equal(xmpp_stanza_encode(&out, &st), XMPP_ERR_DECODE);
    st.key = st.entry->key;
    st.entry->next_hop_count = 0;
    assert_int_equal(xmpp_stanza_encode(&out, &st), XMPP_ERR_TOOMANY);
    st.entry->next_hop_count = 1;
    strcpy(st.entry->virtual_network, " vn");
    assert_int_equal(xmpp_stanza_encode(&out, &st), XMPP_ERR_NAME);
    strcpy(st.entry->virtual_network, "vn\x01");
    assert_int_equal(xmpp_stanza_encode(&out, &st), XMPP_ERR_NAME);
    strcpy(st.entry->virtual_network, "vn");
    strcpy(st.instance, "a/b");
    assert_int_equal(xmpp_stanza_encode(&out, &st), XMPP_ERR_NAME);
    xmpp_stanza_clear(&st);

    sample_stanza(&st, 12);
    st.items[1].entry.next_hops[0].vni = XMPP_VNI_MAX + 1;
    assert_int_equal(xmpp_stanza_encode(&out, &st), XMPP_ERR_RANGE);
    xmpp_stanza_clear(&st);

    sample_stanza(&st, 13);
    free(st.objs[0].node.props[1].name);
    st.objs[0].node.props[1].name = xstrdup("name");
    assert_int_equal(xmpp_stanza_encode(&out, &st), XMPP_ERR_NAME);
    free(st.objs[0].node.props[1].value);
    st.objs[0].node.props[1].value = xstrdup("\xff");
    free(st.objs[0].node.props[1].name);
    st.objs[0].node.props[1].name = xstrdup("ok");
    assert_int_equal(xmpp_stanza_encode(&out, &st), XMPP_ERR_TEXT);
    xmpp_stanza_clear(&st);

    sample_stanza(&st, 16);
    strcpy(st.condition, "not a name");
    assert_int_equal(xmpp_stanza_encode(&out, &st), XMPP_ERR_NAME);
    st.type = XMPP_STANZA_NONE;
    assert_int_equal(xmpp_stanza_encode(&out, &st), XMPP_ERR_UNSUPPORTED);
    xmpp_stanza_clear(&st);
    xmpp_stanza_clear(NULL);

    assert_int_equal(out.size, 4); /* nothing half-written */
    buf_destroy(&out);
}

static void test_route_keys(void **state)
{
    struct xmpp_route_key k;
    char out[128];
    assert_int_equal(xmpp_route_key_parse("0-02:AB:cd:00:00:01,10.1.1.1/32", XMPP_FAMILY_EVPN, &k), 0);
    assert_int_equal(xmpp_route_key_format(out, sizeof out, XMPP_FAMILY_EVPN, &k), 0);
    assert_string_equal(out, "0-02:ab:cd:00:00:01,10.1.1.1/32");
    assert_int_equal(xmpp_route_key_parse("2001:db8::/32", XMPP_FAMILY_INET6, &k), 0);
    assert_int_equal(xmpp_route_key_format(out, sizeof out, XMPP_FAMILY_INET6, &k), 0);
    assert_string_equal(out, "2001:db8::/32");
    assert_int_equal(xmpp_route_key_format(out, 4, XMPP_FAMILY_INET6, &k), XMPP_ERR_RANGE);
    assert_int_equal(xmpp_route_key_format(out, sizeof out, XMPP_FAMILY_INET, &k), XMPP_ERR_ADDR);
    const char *bad[] = {"", "10.1.1.0", "10.1.1.0/", "10.1.1.0/a", "10.1.1.0/ 24", "10.1.1.0/24/", "0-02:00:00:00:00:01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(xmpp_route_key_parse(bad[i], XMPP_FAMILY_INET, &k), XMPP_ERR_ADDR);
    }
    const char *bad_evpn[] = {"02:00:00:00:00:01", "x-02:00:00:00:00:01", "0-02:00:00:00:00:0g",
                              "0-02:00:00:00:00:01,", "0-02:00:00:00:00:01,10.0.0.1", "0-02-00-00-00-00-01"};
    for (size_t i = 0; i < sizeof bad_evpn / sizeof bad_evpn[0]; i++) {
        assert_int_equal(xmpp_route_key_parse(bad_evpn[i], XMPP_FAMILY_EVPN, &k), XMPP_ERR_ADDR);
    }
    unsigned afi, safi;
    xmpp_family_afi_safi(XMPP_FAMILY_EVPN, &afi, &safi);
    assert_int_equal(afi, 25);
    assert_int_equal(safi, 242);
}

/* Instance-name questions and answers (urn:strata:dns): each shape round
 * trips canonically; hand-written XML decodes (names lower-cased, the
 * answer's 'found' from name and address); every malformed case is a typed
 * error; the encoder refuses what the decoder would and leaves the buffer. */
static void dns_round_trip(const struct xmpp_stanza *a)
{
    struct buf out, again;
    buf_init(&out, 0);
    buf_init(&again, 0);
    assert_int_equal(xmpp_stanza_encode(&out, a), 0);
    struct xmpp_elem *e = parse_stanza((const char *)out.data, out.size);
    assert_non_null(e);
    struct xmpp_stanza b;
    assert_int_equal(xmpp_stanza_decode(e, &b), 0);
    assert_true(xmpp_stanza_equal(a, &b));
    assert_int_equal(xmpp_stanza_encode(&again, &b), 0);
    assert_int_equal(again.size, out.size);
    assert_memory_equal(again.data, out.data, out.size);
    xmpp_elem_free(e);
    buf_destroy(&out);
    buf_destroy(&again);
}

/* The instance-name rule both sides use: one label, lower-cased; anything
 * else has no name, and 'out' is left "". */
static void test_dns_instance_name(void **state)
{
    (void)state;
    char out[64];
    assert_true(xmpp_dns_instance_name("Web-1", out, sizeof out));
    assert_string_equal(out, "web-1");
    assert_true(xmpp_dns_instance_name("db_2", out, sizeof out));
    assert_string_equal(out, "db_2");
    char max[64];
    memset(max, 'a', 63);
    max[63] = '\0';
    assert_true(xmpp_dns_instance_name(max, out, sizeof out));
    assert_string_equal(out, max);
    assert_false(xmpp_dns_instance_name(max, out, 63)); /* no room */
    const char *bad[] = {NULL, "", "web.1", "a b", "caf\xc3\xa9", "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(out, "x");
        assert_false(xmpp_dns_instance_name(bad[i], out, sizeof out));
        assert_string_equal(out, "");
    }
}

static void test_dns(void **state)
{
    (void)state;
    struct xmpp_stanza q = {.type = XMPP_STANZA_DNS_QUERY};
    snprintf(q.id, sizeof q.id, "dns-1");
    snprintf(q.dns.interface, sizeof q.dns.interface, "8f2e1c3a-0000-4000-8000-000000000001");
    snprintf(q.dns.name, sizeof q.dns.name, "slice-vm1");
    dns_round_trip(&q); /* A question */
    q.dns.name[0] = '\0';
    ip4(&q.dns.address, "10.10.1.3");
    dns_round_trip(&q); /* PTR question */
    struct xmpp_stanza a = q;
    a.type = XMPP_STANZA_DNS_ANSWER;
    a.dns.ttl = 10;
    dns_round_trip(&a); /* negative PTR answer */
    snprintf(a.dns.name, sizeof a.dns.name, "slice-vm1");
    a.dns.found = true;
    a.dns.ttl = 60;
    dns_round_trip(&a); /* found */

    struct xmpp_stanza st;
#define DQ(body) "<iq type='get' id='d'><dns xmlns='urn:strata:dns'>" body "</dns></iq>"
#define DA(body) "<iq type='result' id='d'><dns xmlns='urn:strata:dns'>" body "</dns></iq>"
    assert_int_equal(decode_text(DQ("<interface> p1 </interface><name>VM-One.Example</name>"), &st), 0);
    assert_int_equal(st.type, XMPP_STANZA_DNS_QUERY);
    assert_string_equal(st.dns.interface, "p1");
    assert_string_equal(st.dns.name, "vm-one.example");
    assert_int_equal(st.dns.address.version, 0);
    xmpp_stanza_clear(&st);
    assert_int_equal(decode_text(DA("<interface>p1</interface><name>vm1</name><address>10.0.0.5</address>"
                                    "<ttl>30</ttl><unknown/>"), &st), 0);
    assert_int_equal(st.type, XMPP_STANZA_DNS_ANSWER);
    assert_true(st.dns.found);
    assert_int_equal(st.dns.ttl, 30);
    assert_int_equal(st.dns.address.addr[3], 5);
    xmpp_stanza_clear(&st);
    assert_int_equal(decode_text(DA("<interface>p1</interface><name>vm1</name><ttl>5</ttl>"), &st), 0);
    assert_false(st.dns.found);
    xmpp_stanza_clear(&st);
    /* a plain iq result stays a RESULT; a dns element in another namespace is not ours */
    assert_int_equal(decode_text("<iq type='result' id='d'><dns xmlns='urn:other'/></iq>", &st), 0);
    assert_int_equal(st.type, XMPP_STANZA_RESULT);
    xmpp_stanza_clear(&st);
    assert_int_equal(decode_text("<iq type='get' id='d'><dns xmlns='urn:other'><interface>p</interface>"
                                 "<name>a</name></dns></iq>", &st), XMPP_ERR_UNSUPPORTED);
    xmpp_stanza_clear(&st);

    char label64[80], long_name[300];
    memset(label64, 'a', 64);
    label64[64] = '\0';
    size_t n = 0;
    while (n + 10 < 290) {
        memcpy(long_name + n, "abcdefghi.", 10);
        n += 10;
    }
    memcpy(long_name + n, "x", 2);
    char xml_label[256], xml_long[512];
    snprintf(xml_label, sizeof xml_label, DQ("<interface>p</interface><name>%s</name>"), label64);
    snprintf(xml_long, sizeof xml_long, DQ("<interface>p</interface><name>%s</name>"), long_name);
    struct {
        const char *xml;
        int rc;
    } bad[] = {
        {DQ("<name>vm1</name>"), XMPP_ERR_DECODE},                                   /* no interface */
        {DQ("<interface></interface><name>vm1</name>"), XMPP_ERR_NAME},              /* empty interface */
        {DQ("<interface>p</interface>"), XMPP_ERR_DECODE},                           /* nothing asked */
        {DQ("<interface>p</interface><name>a</name><address>10.0.0.1</address>"), XMPP_ERR_DECODE}, /* both */
        {DQ("<interface>p</interface><name>a b</name>"), XMPP_ERR_NAME},
        {DQ("<interface>p</interface><name>a..b</name>"), XMPP_ERR_NAME},
        {DQ("<interface>p</interface><name>.a</name>"), XMPP_ERR_NAME},
        {DQ("<interface>p</interface><name>a.</name>"), XMPP_ERR_NAME},
        {DQ("<interface>p</interface><name>a\xc3\xa9</name>"), XMPP_ERR_NAME},
        {xml_label, XMPP_ERR_NAME},
        {xml_long, XMPP_ERR_NAME},
        {DQ("<interface>p</interface><address>::1</address>"), XMPP_ERR_ADDR},
        {DQ("<interface>p</interface><address>10.0.0</address>"), XMPP_ERR_ADDR},
        {DQ("<interface>p&#1;</interface><name>a</name>"), XMPP_ERR_NAME},
        {DA("<interface>p</interface><name>a</name>"), XMPP_ERR_DECODE},             /* answer without ttl */
        {DA("<interface>p</interface><name>a</name><ttl>-1</ttl>"), XMPP_ERR_RANGE},
        {DA("<interface>p</interface><name>a</name><ttl>4294967296</ttl>"), XMPP_ERR_RANGE},
        {DA("<interface>p</interface><ttl>1</ttl>"), XMPP_ERR_DECODE},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct xmpp_elem *e = parse_stanza(bad[i].xml, strlen(bad[i].xml));
        if (e == NULL) {
            continue; /* the stream parser refused it already (control characters) */
        }
        int rc = xmpp_stanza_decode(e, &st);
        if (rc != bad[i].rc) {
            fail_msg("case %zu: %s: got %d", i, bad[i].xml, rc);
        }
        xmpp_stanza_clear(&st);
        xmpp_elem_free(e);
    }
#undef DQ
#undef DA

    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(buf_put(&out, "keep", 4), 0);
    struct xmpp_stanza r = q;
    snprintf(r.dns.name, sizeof r.dns.name, "vm1"); /* name and address in a question */
    assert_int_equal(xmpp_stanza_encode(&out, &r), XMPP_ERR_DECODE);
    r.dns.address.version = 0;
    snprintf(r.dns.name, sizeof r.dns.name, "VM1"); /* would not decode back equal */
    assert_int_equal(xmpp_stanza_encode(&out, &r), XMPP_ERR_NAME);
    snprintf(r.dns.name, sizeof r.dns.name, "vm1");
    r.dns.ttl = 5; /* a question carries no ttl */
    assert_int_equal(xmpp_stanza_encode(&out, &r), XMPP_ERR_DECODE);
    r = a;
    r.dns.address.version = 0; /* found without an address */
    assert_int_equal(xmpp_stanza_encode(&out, &r), XMPP_ERR_DECODE);
    r = a;
    ip6(&r.dns.address, "2001:db8::1");
    assert_int_equal(xmpp_stanza_encode(&out, &r), XMPP_ERR_ADDR);
    r = a;
    r.dns.interface[0] = '\0';
    assert_int_equal(xmpp_stanza_encode(&out, &r), XMPP_ERR_NAME);
    assert_int_equal(out.size, 4);
    buf_destroy(&out);
}

/* The resume digests: equal for equal content whatever the order of next
 * hops or properties, different when any field differs. */
static void test_resume_hashes(void **state)
{
    (void)state;
    struct xmpp_route_entry a, b;
    sample_entry(&a, XMPP_FAMILY_INET, 1);
    b = a;
    uint64_t h = xmpp_route_item_hash("vn1", &a);
    assert_true(h == xmpp_route_item_hash("vn1", &b));
    assert_true(h != xmpp_route_item_hash("vn2", &a));
    if (a.next_hop_count >= 2) {
        b.next_hops[0] = a.next_hops[1];
        b.next_hops[1] = a.next_hops[0];
        assert_true(h == xmpp_route_item_hash("vn1", &b));
    }
    b = a;
    b.next_hops[0].label ^= 1;
    assert_true(h != xmpp_route_item_hash("vn1", &b));
    b = a;
    b.sequence_number++;
    assert_true(h != xmpp_route_item_hash("vn1", &b));
    b = a;
    b.key.plen = 31;
    b.key.prefix.addr[3] &= 0xfe;
    assert_true(h != xmpp_route_item_hash("vn1", &b));
    b = a;
    b.virtual_network[0] ^= 1;
    assert_true(h != xmpp_route_item_hash("vn1", &b));

    struct xmpp_config_obj o, p;
    memset(&o, 0, sizeof o);
    strcpy(o.node.type, "virtual-network");
    strcpy(o.node.name, "vn1");
    struct xmpp_config_prop props[2] = {{.name = "a", .value = "1"}, {.name = "b", .value = "2"}};
    struct xmpp_config_prop swapped[2] = {props[1], props[0]};
    struct xmpp_config_prop other[2] = {{.name = "a", .value = "12"}, {.name = "b", .value = ""}};
    o.node.props = props;
    o.node.prop_count = 2;
    p = o;
    p.node.props = swapped;
    uint64_t ho = xmpp_config_obj_hash(&o);
    assert_true(ho == xmpp_config_obj_hash(&p));
    p.node.props = other; /* "1","2" vs "12","": the lengths count */
    assert_true(ho != xmpp_config_obj_hash(&p));
    p = o;
    p.node.prop_count = 1;
    assert_true(ho != xmpp_config_obj_hash(&p));
    memset(&p, 0, sizeof p);
    p.is_link = true;
    strcpy(p.left.type, "virtual-network");
    strcpy(p.left.name, "vn1");
    assert_true(ho != xmpp_config_obj_hash(&p));

    /* a digest that is not 1..16 hex digits is refused */
    const char *bad[] = {"", "xyz", "12345678901234567", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char xml[512];
        snprintf(xml, sizeof xml,
                 "<iq type='set' id='s'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='vn1'>"
                 "<options><instance-id>1</instance-id><digest xmlns='urn:strata:xmpp:resume'>%s</digest>"
                 "</options></subscribe></pubsub></iq>",
                 bad[i]);
        struct xmpp_stanza st;
        assert_int_equal(decode_text(xml, &st), XMPP_ERR_RANGE);
        xmpp_stanza_clear(&st);
    }
    /* a held entry without its hash, a link without its right end */
    const char *bad_held[] = {"<node type='t' name='n'/>", "<link ltype='t' lname='n' hash='1'/>",
                              "<other hash='1'/>"};
    for (size_t i = 0; i < sizeof bad_held / sizeof bad_held[0]; i++) {
        char xml[512];
        snprintf(xml, sizeof xml, "<iq type='set' id='h'><held xmlns='urn:strata:xmpp:resume'>%s</held></iq>",
                 bad_held[i]);
        struct xmpp_stanza st;
        assert_int_equal(decode_text(xml, &st), XMPP_ERR_DECODE);
        xmpp_stanza_clear(&st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_each),
        cmocka_unit_test(test_routes_shared_items),
        cmocka_unit_test(test_stream_of_all_split),
        cmocka_unit_test(test_anchor_subscribe_publish),
        cmocka_unit_test(test_anchor_events),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_route_keys),
        cmocka_unit_test(test_dns),
        cmocka_unit_test(test_dns_instance_name),
        cmocka_unit_test(test_resume_hashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
