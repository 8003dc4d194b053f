/* Typed decode and encode of the Contrail XMPP stanzas exchanged by the
 * vRouter agent and the control node (docs/xmpp.md; wire shapes from the
 * anchor's xmpp_unicast.xsd / xmpp_enet.xsd and config channel). Decoding
 * takes an element tree from xmpp_stream and validates every field
 * (addresses parse, labels, VNIs and names in range); encoding writes XML
 * text with everything escaped, and decode(encode(x)) == x. Pure C, no I/O.
 * Plain types so the glue code can map them to RIB paths and config. */
#ifndef STRATA_XMPP_STANZA_H
#define STRATA_XMPP_STANZA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "routing/xmpp/xmpp_stream.h"

#define XMPP_NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define XMPP_NS_BGPVPN "http://ietf.org/protocol/bgpvpn"
#define XMPP_NS_PING "urn:xmpp:ping"
#define XMPP_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define XMPP_EOR_NODE "0/0/EndOfRib"
#define XMPP_NS_DNS "urn:strata:dns"

#define XMPP_NAME_MAX 512 /* routing instance, network, object names (with NUL) */
#define XMPP_TYPE_MAX 128 /* config object / link types, property names */
#define XMPP_JID_MAX 512  /* iq/message from and to */
#define XMPP_ID_MAX 128   /* iq id */
#define XMPP_MAX_NEXTHOPS 16
#define XMPP_MAX_SECURITY_GROUPS 32
#define XMPP_MAX_ITEMS 4096      /* items + retracts per routes message */
#define XMPP_MAX_CONFIG_OBJS 16  /* nodes + links per config message */
#define XMPP_MAX_PROPS 128       /* properties per config node */
#define XMPP_MAX_HELD 16384      /* objects per CONFIG_HELD announcement */
#define XMPP_LABEL_MAX 0xfffffu  /* MPLS label, 20 bits */
#define XMPP_VNI_MAX 0xffffffu   /* VXLAN network identifier, 24 bits */
#define XMPP_DNS_NAME_MAX 254    /* an instance's DNS name, dotted, no trailing dot (with NUL) */
#define XMPP_DNS_IFACE_MAX 128   /* the asking interface's name (with NUL) */

/* Address families of route items: "AFI/SAFI" on the wire. */
enum xmpp_family {
    XMPP_FAMILY_NONE = 0,
    XMPP_FAMILY_INET,  /* 1/1 */
    XMPP_FAMILY_INET6, /* 2/1 */
    XMPP_FAMILY_EVPN,  /* 25/242 */
};

/* An IP address; version 0 means absent. Only the first 4 bytes of 'addr'
 * are used for version 4, the rest are zero. */
struct xmpp_ip {
    uint8_t version; /* 0, 4 or 6 */
    uint8_t addr[16];
};

/* What identifies a route inside (instance, family). inet/inet6: prefix and
 * plen. evpn: ethernet_tag and mac, plus an optional IP prefix
 * (prefix.version 0 when absent). Unused fields are zero. The item id on
 * the wire is "PREFIX/PLEN" (inet, inet6) or "TAG-MAC" / "TAG-MAC,PREFIX/PLEN"
 * (evpn, MAC in lower-case colon form). */
struct xmpp_route_key {
    struct xmpp_ip prefix;
    uint8_t plen;
    uint32_t ethernet_tag;
    uint8_t mac[6];
};

#define XMPP_ENCAP_GRE 0x1u
#define XMPP_ENCAP_UDP 0x2u
#define XMPP_ENCAP_VXLAN 0x4u

/* One next hop. Invariants after decode: address.version is 4 or 6;
 * label <= XMPP_LABEL_MAX; l3_label likewise when has_l3_label; vni <=
 * XMPP_VNI_MAX when has_vni; encaps != 0 (a next hop without an
 * encapsulation list is GRE, as in the anchor). */
struct xmpp_nexthop {
    struct xmpp_ip address;
    bool has_mac;
    uint8_t mac[6];
    uint32_t label;
    bool has_l3_label;
    uint32_t l3_label;
    bool has_vni;
    uint32_t vni;
    unsigned encaps;
};

/* Load-balance hash fields (<load-balance-field-list> values). */
#define XMPP_LB_L2_SRC 0x01u
#define XMPP_LB_L2_DST 0x02u
#define XMPP_LB_L3_SRC 0x04u
#define XMPP_LB_L3_DST 0x08u
#define XMPP_LB_L4_PROTO 0x10u
#define XMPP_LB_L4_SRC 0x20u
#define XMPP_LB_L4_DST 0x40u

/* One route (an <entry>). Optional scalars carry a has_ flag. */
struct xmpp_route_entry {
    enum xmpp_family family;
    struct xmpp_route_key key;
    struct xmpp_nexthop next_hops[XMPP_MAX_NEXTHOPS];
    size_t next_hop_count; /* >= 1 after decode */
    char virtual_network[XMPP_NAME_MAX];
    uint32_t sequence_number;
    uint32_t security_groups[XMPP_MAX_SECURITY_GROUPS];
    size_t security_group_count;
    bool has_local_preference;
    uint32_t local_preference;
    bool has_med;
    uint32_t med;
    bool has_load_balance;
    unsigned load_balance; /* XMPP_LB_* */
};

/* An item of a routes message: an add (<item> with the entry) or a
 * withdraw (<retract>, where only entry.family and entry.key count). */
struct xmpp_route_item {
    bool retract;
    struct xmpp_route_entry entry;
};

/* A config property: element name -> its text. */
struct xmpp_config_prop {
    char *name;
    char *value;
};

/* A config node (<node type=...><name>...</name>props...</node>), also used
 * for a link's <metadata type=...> (then 'name' is ""). */
struct xmpp_config_node {
    char type[XMPP_TYPE_MAX];
    char name[XMPP_NAME_MAX];
    struct xmpp_config_prop *props;
    size_t prop_count;
};

enum xmpp_config_op { XMPP_CONFIG_UPDATE = 0, XMPP_CONFIG_DELETE };

/* An instance-name question of an agent's DNS proxy, or its answer
 * (docs/xmpp.md, "Instance names"). A question names the asking interface
 * and exactly one of 'name' (an A question) or 'address' (PTR). An answer
 * repeats the question; 'found' answers carry both 'name' and 'address',
 * negative ones only what was asked; 'ttl' is how long the agent may cache
 * either. Invariants after decode: 'name' is "" or a DNS name in lower case
 * (labels of 1..63 bytes of [a-z0-9_-], at most 253 bytes); 'address' is
 * IPv4 or absent (version 0); 'interface' is a non-empty object name. */
struct xmpp_dns {
    char interface[XMPP_DNS_IFACE_MAX];
    char name[XMPP_DNS_NAME_MAX];
    struct xmpp_ip address;
    bool found;   /* answer only */
    uint32_t ttl; /* answer only, seconds */
};

/* The DNS name of an instance (docs/agent-proxy.md "Instance names"): its
 * virtual machine's name 'vm' in lower case when that is one DNS label
 * (1..63 bytes of [A-Za-z0-9_-]), written to 'out' (size >= 64); false,
 * with 'out' "", for anything else (NULL, empty, dotted, too long). The
 * agent names its ports by it and the control node answers by it. */
bool xmpp_dns_instance_name(const char *vm, char *out, size_t size);

/* One object of a config message: a node, or a link between two nodes
 * (which carry type and name only) with its metadata. */
struct xmpp_config_obj {
    enum xmpp_config_op op;
    bool is_link;
    struct xmpp_config_node node;     /* !is_link */
    struct xmpp_config_node left;     /* is_link */
    struct xmpp_config_node right;    /* is_link */
    struct xmpp_config_node metadata; /* is_link */
};

/* One config object an agent holds, as it announces it when it resumes
 * (CONFIG_HELD): a node (type, name) or a link (type, name: its left end;
 * rtype, rname: its right end), and xmpp_config_obj_hash() of the object
 * as it was last received. */
struct xmpp_held_obj {
    bool is_link;
    char type[XMPP_TYPE_MAX];
    char name[XMPP_NAME_MAX];
    char rtype[XMPP_TYPE_MAX];
    char rname[XMPP_NAME_MAX];
    uint64_t hash;
};

enum xmpp_stanza_type {
    XMPP_STANZA_NONE = 0,
    /* agent -> control node, iq set + pubsub */
    XMPP_STANZA_SUBSCRIBE,   /* instance, instance_id */
    XMPP_STANZA_UNSUBSCRIBE, /* instance */
    XMPP_STANZA_PUBLISH,     /* instance, entry */
    XMPP_STANZA_ASSOCIATE,   /* instance, family, key */
    XMPP_STANZA_DISSOCIATE,  /* instance, family, key: the withdraw */
    XMPP_STANZA_EOR,         /* <publish node="0/0/EndOfRib"/> */
    /* control node -> agent */
    XMPP_STANZA_ROUTES,    /* message/event/items: instance, family, items */
    XMPP_STANZA_EOR_EVENT, /* message/event/<items node="0/0/EndOfRib"/> */
    XMPP_STANZA_CONFIG,    /* iq set <config>: objs */
    /* instance names (urn:strata:dns) */
    XMPP_STANZA_DNS_QUERY,  /* agent -> control node, iq get <dns>: dns */
    XMPP_STANZA_DNS_ANSWER, /* control node -> agent, iq result <dns>: dns */
    /* both directions */
    XMPP_STANZA_RESULT, /* iq result: id */
    XMPP_STANZA_ERROR,  /* iq error: id, error_type, condition */
    XMPP_STANZA_PING,   /* iq get <ping xmlns="urn:xmpp:ping"/> */
    /* resume extension (XMPP_NS_RESUME; docs/xmpp.md) */
    XMPP_STANZA_CONFIG_HELD, /* agent -> control: iq set <held>: held */
    XMPP_STANZA_IN_SYNC,     /* control -> agent: message <in-sync node=RI/>: instance */
};

/* A decoded stanza. Strings are "" when absent. Heap members (entry,
 * items, objs) are owned and freed by xmpp_stanza_clear(). */
struct xmpp_stanza {
    enum xmpp_stanza_type type;
    char id[XMPP_ID_MAX];
    char from[XMPP_JID_MAX];
    char to[XMPP_JID_MAX];
    char instance[XMPP_NAME_MAX];
    uint32_t instance_id;
    /* SUBSCRIBE: the digest of the routes of 'instance' the agent holds
     * from this control node (xmpp_route_item_hash() summed), in
     * <options><digest xmlns=XMPP_NS_RESUME>HEX</digest> */
    bool has_digest;
    uint64_t digest;
    enum xmpp_family family;
    struct xmpp_route_key key;
    struct xmpp_route_entry *entry;
    struct xmpp_route_item *items;
    size_t item_count;
    struct xmpp_config_obj *objs;
    size_t obj_count;
    struct xmpp_held_obj *held; /* CONFIG_HELD */
    size_t held_count;
    char error_type[16];  /* cancel, continue, modify, auth, wait */
    char condition[64];   /* a urn:ietf:params:xml:ns:xmpp-stanzas element */
    struct xmpp_dns dns;  /* DNS_QUERY, DNS_ANSWER */
};

/* Frees what 'st' owns and zeroes it; NULL accepted. */
void xmpp_stanza_clear(struct xmpp_stanza *st);

/* Decodes the stanza tree 'e' into 'st' (which is overwritten; clear it
 * afterwards whatever the result). XMPP_ERR_UNSUPPORTED when 'e' is not one
 * of the types above (the session answers or ignores it); XMPP_ERR_DECODE,
 * XMPP_ERR_ADDR, XMPP_ERR_RANGE, XMPP_ERR_NAME, XMPP_ERR_TOOMANY when it is
 * one but malformed; LIB_ENOMEM. Unknown child elements of <entry> and
 * <next-hop> are ignored (forward compatibility), as are unknown iq
 * result payloads. */
int xmpp_stanza_decode(const struct xmpp_elem *e, struct xmpp_stanza *st) STRATA_WARN_UNUSED;

/* Appends 'st' as XML to 'out'. Refuses (XMPP_ERR_*) what the decoder
 * would refuse, so the output always decodes back to 'st'. LIB_E* from the
 * buffer. The stanza is written in jabber:client (no xmlns on the root). */
int xmpp_stanza_encode(struct buf *out, const struct xmpp_stanza *st) STRATA_WARN_UNUSED;
/* Route fan-out (one change to many agents): the items of ROUTES stanza
 * 'st' (family, items, item_count) exactly as xmpp_stanza_encode() writes
 * them inside <items>, appended to 'out'; and xmpp_stanza_encode() of a
 * ROUTES stanza whose items part is 'items'/'size' from the former (for a
 * stanza of the same family; its own items/item_count are not read):
 * the same bytes as encoding that stanza with those items, without
 * encoding them again. Same errors as xmpp_stanza_encode(); nothing is
 * appended on error. */
int xmpp_routes_items_encode(struct buf *out, const struct xmpp_stanza *st) STRATA_WARN_UNUSED;
int xmpp_stanza_encode_routes(struct buf *out, const struct xmpp_stanza *st, const uint8_t *items, size_t size)
    STRATA_WARN_UNUSED;

/* True when 'a' and 'b' hold the same stanza (every field that counts for
 * their type). */
bool xmpp_stanza_equal(const struct xmpp_stanza *a, const struct xmpp_stanza *b);

/* Writes the item id of 'key' in 'family' ("10.1.1.0/24",
 * "0-02:00:00:00:00:01,10.1.1.1/32") into 'out'. XMPP_ERR_RANGE when it
 * does not fit in 'size' or the family is unknown. */
int xmpp_route_key_format(char *out, size_t size, enum xmpp_family family, const struct xmpp_route_key *key)
    STRATA_WARN_UNUSED;
/* Parses an item id of 'family'. XMPP_ERR_ADDR when malformed. */
int xmpp_route_key_parse(const char *s, enum xmpp_family family, struct xmpp_route_key *key) STRATA_WARN_UNUSED;

/* Resume digests (docs/xmpp.md "Resume after a control-node restart").
 * A 64-bit hash of the canonical form of a route item as received in
 * 'instance' (every field of the entry; next hops in any order give the
 * same hash), and of a config object's update (type, name and properties
 * in any order; a link's ends and metadata type). Both sides compute them
 * the same way, so sums of them (order-independent, kept incrementally)
 * compare what an agent holds with what a control node would send. */
uint64_t xmpp_route_item_hash(const char *instance, const struct xmpp_route_entry *e);
uint64_t xmpp_config_obj_hash(const struct xmpp_config_obj *o);

/* Wire AFI/SAFI of 'family' (0/0 for NONE). */
void xmpp_family_afi_safi(enum xmpp_family family, unsigned *afi, unsigned *safi);

#endif
