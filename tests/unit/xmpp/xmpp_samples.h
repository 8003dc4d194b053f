/* Sample stanzas of every type for the XMPP codec and session tests, and a
 * helper that runs XML text through the real stream parser to get the
 * element tree the decoder sees. Header-only: each test includes it once. */
#ifndef STRATA_TEST_XMPP_SAMPLES_H
#define STRATA_TEST_XMPP_SAMPLES_H

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "routing/xmpp/xmpp_stanza.h"

#define SAMPLE_HDR                                                                                  \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "                                     \
    "xmlns:stream='http://etherx.jabber.org/streams' from='agent-1' version='1.0'>"

struct one_stanza {
    struct xmpp_elem *e;
    unsigned count;
};

static void one_stanza_cb(void *arg, struct xmpp_elem *e)
{
    struct one_stanza *o = arg;
    o->count++;
    if (o->e) {
        xmpp_elem_free(e);
    } else {
        o->e = e;
    }
}

/* The first stanza of SAMPLE_HDR + 'xml' + 'size' bytes, or NULL. */
static inline struct xmpp_elem *parse_stanza(const char *xml, size_t size)
{
    struct one_stanza o = {0};
    struct xmpp_stream_ops ops = {.stanza = one_stanza_cb};
    struct xmpp_stream s;
    if (xmpp_stream_init(&s, NULL, &ops, &o) != 0) {
        return NULL;
    }
    if (xmpp_stream_feed(&s, SAMPLE_HDR, strlen(SAMPLE_HDR)) != 0 || xmpp_stream_feed(&s, xml, size) != 0) {
        xmpp_elem_free(o.e);
        o.e = NULL;
    }
    xmpp_stream_destroy(&s);
    return o.e;
}

static inline void ip4(struct xmpp_ip *ip, const char *s)
{
    memset(ip, 0, sizeof *ip);
    ip->version = 4;
    inet_pton(AF_INET, s, ip->addr);
}

static inline void ip6(struct xmpp_ip *ip, const char *s)
{
    memset(ip, 0, sizeof *ip);
    ip->version = 6;
    inet_pton(AF_INET6, s, ip->addr);
}

static inline void sample_entry(struct xmpp_route_entry *r, enum xmpp_family f, unsigned variant)
{
    memset(r, 0, sizeof *r);
    r->family = f;
    if (f == XMPP_FAMILY_INET) {
        ip4(&r->key.prefix, variant & 1 ? "10.1.1.0" : "10.1.1.3");
        r->key.plen = variant & 1 ? 24 : 32;
    } else if (f == XMPP_FAMILY_INET6) {
        ip6(&r->key.prefix, "2001:db8::");
        r->key.plen = 64;
    } else {
        r->key.ethernet_tag = variant;
        uint8_t mac[6] = {0x02, 0, 0, 0xab, 0xcd, (uint8_t)variant};
        memcpy(r->key.mac, mac, 6);
        if (variant & 1) {
            ip4(&r->key.prefix, "10.1.1.5");
            r->key.plen = 32;
        }
    }
    r->next_hop_count = 1 + variant % 3;
    for (size_t i = 0; i < r->next_hop_count; i++) {
        struct xmpp_nexthop *nh = &r->next_hops[i];
        if (i == 2) {
            ip6(&nh->address, "fd00::1");
        } else {
            ip4(&nh->address, i ? "192.168.0.2" : "192.168.0.1");
        }
        nh->label = i == 1 ? XMPP_LABEL_MAX : 16 + (uint32_t)i;
        nh->encaps = i == 0 ? XMPP_ENCAP_GRE | XMPP_ENCAP_UDP : i == 1 ? XMPP_ENCAP_VXLAN : XMPP_ENCAP_UDP;
        if (f == XMPP_FAMILY_EVPN) {
            nh->has_mac = true;
            uint8_t mac[6] = {0x02, 1, 2, 3, 4, (uint8_t)i};
            memcpy(nh->mac, mac, 6);
            nh->has_vni = true;
            nh->vni = i == 1 ? XMPP_VNI_MAX : 5000;
            nh->has_l3_label = i == 0;
            nh->l3_label = i == 0 ? 77 : 0;
        }
    }
    strcpy(r->virtual_network, variant & 2 ? "default-domain:admin:vn <&> \xc3\xa9" : "default-domain:admin:vn1");
    r->sequence_number = variant * 1000u + 7;
    r->security_group_count = variant % 4;
    for (size_t i = 0; i < r->security_group_count; i++) {
        r->security_groups[i] = 8000001u + (uint32_t)i;
    }
    r->has_local_preference = variant != 3;
    r->local_preference = 100 + variant;
    r->has_med = variant & 1;
    r->med = UINT32_MAX;
    r->has_load_balance = variant & 2;
    r->load_balance = variant & 2 ? (XMPP_LB_L3_SRC | XMPP_LB_L3_DST | XMPP_LB_L4_DST) : 0;
}

static inline char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL) {
        abort();
    }
    return p;
}

static inline void sample_props(struct xmpp_config_node *n, unsigned count)
{
    n->props = calloc(count, sizeof *n->props);
    if (n->props == NULL) {
        abort();
    }
    n->prop_count = count;
    for (unsigned i = 0; i < count; i++) {
        char name[32];
        snprintf(name, sizeof name, "prop-%u", i);
        n->props[i].name = xstrdup(name);
        n->props[i].value = xstrdup(i == 0 ? "{\"mac\": [\"02:00:00:00:00:01\"], \"x\": \"<&>\"}" : i == 1 ? "" : " a\tb\nc\r ");
    }
}

/* Fills 'st' with sample number 'i' (0 <= i < SAMPLE_COUNT). */
#define SAMPLE_COUNT 23
static inline void sample_stanza(struct xmpp_stanza *st, unsigned i)
{
    memset(st, 0, sizeof *st);
    snprintf(st->id, sizeof st->id, "id-%u", i);
    if (i % 2) {
        strcpy(st->from, "agent-1@contrailsystems.com/bgp-peer");
        strcpy(st->to, "network-control@contrailsystems.com/bgp-peer");
    }
    switch (i) {
    case 0:
        st->type = XMPP_STANZA_SUBSCRIBE;
        strcpy(st->instance, "default-domain:admin:vn1:vn1");
        st->instance_id = 4294967295u;
        break;
    case 1:
        st->type = XMPP_STANZA_UNSUBSCRIBE;
        strcpy(st->instance, "default-domain:admin:vn1:vn1");
        break;
    case 2:
    case 3:
    case 4:
    case 5: {
        enum xmpp_family f = i == 2 ? XMPP_FAMILY_INET : i == 3 ? XMPP_FAMILY_INET6 : XMPP_FAMILY_EVPN;
        st->type = XMPP_STANZA_PUBLISH;
        strcpy(st->instance, "default-domain:admin:vn1:vn1");
        st->family = f;
        st->entry = calloc(1, sizeof *st->entry);
        if (st->entry == NULL) {
            abort();
        }
        sample_entry(st->entry, f, i);
        st->key = st->entry->key;
        break;
    }
    case 6:
    case 7:
        st->type = i == 6 ? XMPP_STANZA_ASSOCIATE : XMPP_STANZA_DISSOCIATE;
        strcpy(st->instance, "default-domain:admin:vn2:vn2");
        st->family = i == 6 ? XMPP_FAMILY_INET : XMPP_FAMILY_EVPN;
        {
            struct xmpp_route_entry r;
            sample_entry(&r, st->family, 1);
            st->key = r.key;
        }
        break;
    case 8:
        st->type = XMPP_STANZA_EOR;
        break;
    case 9:
        st->type = XMPP_STANZA_EOR_EVENT;
        break;
    case 10:
    case 11:
    case 12: {
        st->type = XMPP_STANZA_ROUTES;
        strcpy(st->instance, "default-domain:admin:vn1:vn1");
        st->family = i == 10 ? XMPP_FAMILY_INET : i == 11 ? XMPP_FAMILY_INET6 : XMPP_FAMILY_EVPN;
        st->item_count = i == 10 ? 0 : 5;
        st->items = st->item_count ? calloc(st->item_count, sizeof *st->items) : NULL;
        for (size_t k = 0; k < st->item_count; k++) {
            sample_entry(&st->items[k].entry, st->family, (unsigned)k);
            st->items[k].retract = k == 2;
        }
        break;
    }
    case 13: {
        st->type = XMPP_STANZA_CONFIG;
        strcpy(st->from, "network-control@contrailsystems.com/config");
        strcpy(st->to, "agent-1/config");
        st->obj_count = 4;
        st->objs = calloc(4, sizeof *st->objs);
        if (st->objs == NULL) {
            abort();
        }
        struct xmpp_config_obj *o = st->objs;
        strcpy(o[0].node.type, "virtual-machine-interface");
        strcpy(o[0].node.name, "default-domain:admin:vmi-1 <x>");
        sample_props(&o[0].node, 3);
        o[1].is_link = true;
        strcpy(o[1].left.type, "virtual-router");
        strcpy(o[1].left.name, "default-global-system-config:vr1");
        strcpy(o[1].right.type, "virtual-machine");
        strcpy(o[1].right.name, "c0ffee00-0000-0000-0000-000000000001");
        strcpy(o[1].metadata.type, "virtual-router-virtual-machine");
        o[2].op = XMPP_CONFIG_DELETE;
        strcpy(o[2].node.type, "virtual-network");
        strcpy(o[2].node.name, "default-domain:admin:vn9");
        o[3].op = XMPP_CONFIG_DELETE;
        o[3].is_link = true;
        strcpy(o[3].left.type, "virtual-machine-interface");
        strcpy(o[3].left.name, "vmi-2");
        strcpy(o[3].right.type, "virtual-network");
        strcpy(o[3].right.name, "vn9");
        strcpy(o[3].metadata.type, "virtual-machine-interface-virtual-network");
        sample_props(&o[3].metadata, 1);
        break;
    }
    case 14:
        st->type = XMPP_STANZA_CONFIG; /* empty */
        break;
    case 15:
        st->type = XMPP_STANZA_RESULT;
        break;
    case 16:
        st->type = XMPP_STANZA_ERROR;
        strcpy(st->error_type, "cancel");
        strcpy(st->condition, "service-unavailable");
        break;
    case 17:
        st->type = XMPP_STANZA_PING;
        break;
    case 18:
        st->type = XMPP_STANZA_SUBSCRIBE;
        strcpy(st->instance, "a");
        st->instance_id = 0;
        strcpy(st->id, "q\"u'o<t>e&");
        break;
    case 20: /* resume: a subscribe with the digest of what the agent holds */
        st->type = XMPP_STANZA_SUBSCRIBE;
        strcpy(st->instance, "default-domain:admin:vn1:vn1");
        st->instance_id = 7;
        st->has_digest = true;
        st->digest = 0xfedcba9876543210ull;
        break;
    case 21: /* resume: the config an agent holds */
        st->type = XMPP_STANZA_CONFIG_HELD;
        st->held_count = 3;
        st->held = calloc(3, sizeof *st->held);
        if (st->held == NULL) {
            abort();
        }
        strcpy(st->held[0].type, "virtual-machine-interface");
        strcpy(st->held[0].name, "default-domain:admin:vmi-1 <x>");
        st->held[0].hash = 1;
        st->held[1].is_link = true;
        strcpy(st->held[1].type, "virtual-router");
        strcpy(st->held[1].name, "vr1");
        strcpy(st->held[1].rtype, "virtual-machine-interface");
        strcpy(st->held[1].rname, "default-domain:admin:vmi-1 \"&'");
        st->held[1].hash = 0xffffffffffffffffull;
        strcpy(st->held[2].type, "global-vrouter-config");
        strcpy(st->held[2].name, "g");
        break;
    case 22:
        st->type = XMPP_STANZA_IN_SYNC;
        strcpy(st->instance, "default-domain:admin:vn1:vn1");
        break;
    default:
        st->type = XMPP_STANZA_PUBLISH;
        strcpy(st->instance, "default-domain:admin:vn3:vn3");
        st->family = XMPP_FAMILY_EVPN;
        st->entry = calloc(1, sizeof *st->entry);
        if (st->entry == NULL) {
            abort();
        }
        sample_entry(st->entry, XMPP_FAMILY_EVPN, 2); /* no IP in the key */
        st->key = st->entry->key;
        break;
    }
}

#endif
