/* BGP-4 message codec: the five message types of RFC 4271 (OPEN with the
 * capabilities of RFC 5492/4760/2918/6793/4724/9494, UPDATE, NOTIFICATION,
 * KEEPALIVE, ROUTE-REFRESH), the path attributes a Contrail-compatible
 * control node exchanges, and the NLRI of IPv4/IPv6 unicast, VPNv4/VPNv6
 * (RFC 4364), EVPN (RFC 7432/9136) and route-target constraint (RFC 4684).
 * This is the code in routing/ that faces the network: it is pure C (no I/O,
 * no clock), reads peer bytes only through lib/buf.h's checked cursor and
 * classifies every malformed UPDATE the way RFC 7606 asks (ok, attribute
 * discard, treat-as-withdraw, AFI/SAFI disable, session reset with the
 * NOTIFICATION to send). Encoders append whole messages to a struct buf and
 * refuse anything above BGP_MAX_MSG_SIZE.
 *
 * Ownership: a decoded struct bgp_msg owns a private copy of the message
 * bytes; every 'const uint8_t *' view inside it (opaque capabilities,
 * unknown attributes, PMSI tunnel identifiers, opaque EVPN routes) points
 * into that copy and lives until bgp_msg_destroy(). Structures a caller
 * builds for encoding may point anywhere; the encoder only reads them. */
#ifndef STRATA_BGP_MSG_H
#define STRATA_BGP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

#define BGP_ERRORS(X)                                                        \
    X(BGP_ERR_AGAIN, -14001, "incomplete BGP message, more bytes needed")    \
    X(BGP_ERR_HEADER, -14002, "bad BGP message header")                      \
    X(BGP_ERR_OPEN, -14003, "malformed or unacceptable OPEN message")        \
    X(BGP_ERR_UPDATE, -14004, "UPDATE message requires a session reset")     \
    X(BGP_ERR_NOTIFICATION, -14005, "malformed NOTIFICATION message")        \
    X(BGP_ERR_KEEPALIVE, -14006, "malformed KEEPALIVE message")              \
    X(BGP_ERR_ROUTE_REFRESH, -14007, "malformed ROUTE-REFRESH message")      \
    X(BGP_ERR_TOO_BIG, -14008, "encoded BGP message exceeds the size limit") \
    X(BGP_ERR_INVALID, -14009, "message cannot be encoded as given")         \
    X(BGP_ERR_NOMEM, -14010, "out of memory in the BGP codec")               \
    X(BGP_ERR_FSM, -14011, "BGP session error")                              \
    X(BGP_ERR_STATE, -14012, "operation not allowed in this session state")  \
    X(BGP_ERR_FAMILY, -14013, "address family not negotiated or unknown")

enum bgp_err { BGP_ERRORS(STRATA_ERR_ENUM) };

const char *bgp_strerror(int code);

/* ---- constants ---- */

#define BGP_HDR_SIZE 19
#define BGP_MARKER_SIZE 16
#define BGP_MAX_MSG_SIZE 4096
#define BGP_VERSION 4
#define BGP_AS_TRANS 23456u
#define BGP_PORT 179

enum bgp_msg_type {
    BGP_MSG_OPEN = 1,
    BGP_MSG_UPDATE = 2,
    BGP_MSG_NOTIFICATION = 3,
    BGP_MSG_KEEPALIVE = 4,
    BGP_MSG_ROUTE_REFRESH = 5,
};

/* NOTIFICATION error codes (RFC 4271 §4.5) and the subcodes we emit. */
enum bgp_notify_code {
    BGP_NOTIFY_HEADER = 1,
    BGP_NOTIFY_OPEN = 2,
    BGP_NOTIFY_UPDATE = 3,
    BGP_NOTIFY_HOLD_EXPIRED = 4,
    BGP_NOTIFY_FSM = 5,
    BGP_NOTIFY_CEASE = 6,
    BGP_NOTIFY_ROUTE_REFRESH = 7, /* RFC 7313 */
};
#define BGP_HEADER_NOT_SYNC 1
#define BGP_HEADER_BAD_LENGTH 2
#define BGP_HEADER_BAD_TYPE 3
#define BGP_OPEN_UNSPECIFIC 0
#define BGP_OPEN_BAD_VERSION 1
#define BGP_OPEN_BAD_PEER_AS 2
#define BGP_OPEN_BAD_BGP_ID 3
#define BGP_OPEN_UNSUPPORTED_PARAM 4
#define BGP_OPEN_BAD_HOLD_TIME 6
#define BGP_OPEN_UNSUPPORTED_CAP 7
#define BGP_UPDATE_MALFORMED_ATTR_LIST 1
#define BGP_UPDATE_UNRECOGNIZED_WELLKNOWN 2
#define BGP_UPDATE_MISSING_WELLKNOWN 3
#define BGP_UPDATE_ATTR_FLAGS 4
#define BGP_UPDATE_ATTR_LENGTH 5
#define BGP_UPDATE_INVALID_ORIGIN 6
#define BGP_UPDATE_INVALID_NEXT_HOP 8
#define BGP_UPDATE_OPTIONAL_ATTR 9
#define BGP_UPDATE_INVALID_NETWORK 10
#define BGP_UPDATE_MALFORMED_AS_PATH 11
#define BGP_FSM_UNSPECIFIC 0
#define BGP_FSM_IN_OPENSENT 1 /* RFC 6608 */
#define BGP_FSM_IN_OPENCONFIRM 2
#define BGP_FSM_IN_ESTABLISHED 3
#define BGP_CEASE_ADMIN_SHUTDOWN 2
#define BGP_CEASE_ADMIN_RESET 4
#define BGP_CEASE_COLLISION 7
#define BGP_RR_INVALID_LENGTH 1

/* ---- address families ---- */

#define BGP_AFI_IPV4 1
#define BGP_AFI_IPV6 2
#define BGP_AFI_L2VPN 25
#define BGP_SAFI_UNICAST 1
#define BGP_SAFI_EVPN 70
#define BGP_SAFI_MPLS_VPN 128
#define BGP_SAFI_RT_CONSTRAINT 132

/* The families whose NLRI this codec parses. */
enum bgp_family {
    BGP_FAM_IPV4_UNICAST, /* 1/1 */
    BGP_FAM_IPV6_UNICAST, /* 2/1 */
    BGP_FAM_VPNV4,        /* 1/128 */
    BGP_FAM_VPNV6,        /* 2/128 */
    BGP_FAM_EVPN,         /* 25/70 */
    BGP_FAM_RTC,          /* 1/132 */
    BGP_FAM_COUNT
};
#define BGP_FAM_BIT(f) (1u << (f))
#define BGP_FAM_ALL ((1u << BGP_FAM_COUNT) - 1)

/* Maps 'afi'/'safi' to a family; returns -1 when the pair is not parsed. */
int bgp_family_from_afi_safi(uint16_t afi, uint8_t safi);
/* AFI and SAFI of family 'f' (which must be < BGP_FAM_COUNT). */
uint16_t bgp_family_afi(enum bgp_family f);
uint8_t bgp_family_safi(enum bgp_family f);
/* Stable short name ("ipv4-unicast", "evpn", ...); "unknown" otherwise. */
const char *bgp_family_name(int f);

/* ---- OPEN ---- */

#define BGP_CAP_MP 1
#define BGP_CAP_ROUTE_REFRESH 2
#define BGP_CAP_GR 64
#define BGP_CAP_AS4 65
#define BGP_CAP_LLGR 71

#define BGP_OPEN_MAX_AF 32   /* per capability list (MP, GR, LLGR) */
#define BGP_OPEN_MAX_RAW 32  /* opaque (unknown) capabilities kept */
#define BGP_GR_FLAG_RESTART 0x8     /* R bit of the GR capability's flags */
#define BGP_GR_FLAG_NOTIFICATION 0x4 /* N bit, RFC 8538 */
#define BGP_GR_AF_FORWARDING 0x80    /* F bit per AFI/SAFI (GR and LLGR) */
#define BGP_GR_MAX_RESTART_TIME 4095

struct bgp_afi_safi {
    uint16_t afi;
    uint8_t safi;
};

/* One AFI/SAFI of the GR (stale_time unused) or LLGR capability. */
struct bgp_gr_af {
    uint16_t afi;
    uint8_t safi;
    uint8_t flags;       /* BGP_GR_AF_FORWARDING */
    uint32_t stale_time; /* LLGR only: seconds, 24 bits */
};

struct bgp_cap_raw {
    uint8_t code;
    uint8_t size;
    const uint8_t *data;
};

/* An OPEN message. 'as' is the speaker's real AS: the AS4 capability's value
 * when 'has_as4', else the 2-octet My AS field. On encode the My AS field is
 * 'as' when it fits in 16 bits, AS_TRANS otherwise (then 'has_as4' is
 * required). Capabilities are encoded in the order MP, route refresh, AS4,
 * GR, LLGR, opaque ones, packed into as few Capabilities parameters as fit. */
struct bgp_open {
    uint8_t version;
    uint32_t as;
    uint16_t hold_time; /* 0 or >= 3 */
    uint32_t bgp_id;    /* host order, non-zero */
    struct bgp_afi_safi mp[BGP_OPEN_MAX_AF];
    size_t mp_count;
    bool has_route_refresh;
    bool has_as4;
    bool has_gr;
    uint8_t gr_flags;          /* BGP_GR_FLAG_* (upper 4 bits of the field) */
    uint16_t gr_restart_time;  /* seconds, 12 bits */
    struct bgp_gr_af gr_af[BGP_OPEN_MAX_AF];
    size_t gr_af_count;
    bool has_llgr;
    struct bgp_gr_af llgr_af[BGP_OPEN_MAX_AF];
    size_t llgr_af_count;
    struct bgp_cap_raw raw[BGP_OPEN_MAX_RAW];
    size_t raw_count;
};

/* ---- UPDATE: NLRI ---- */

#define BGP_MAX_LABELS 4
#define BGP_LABEL_BOS 0x1u /* bottom-of-stack bit of a raw 24-bit entry */
/* A raw 24-bit label stack entry for MPLS label 'label' (20 bits). */
#define BGP_LABEL(label, bos) ((((uint32_t)(label) & 0xFFFFFu) << 4) | ((bos) ? 1u : 0u))
#define BGP_LABEL_VALUE(raw) (((raw) >> 4) & 0xFFFFFu)
/* RFC 8277: the label field of a withdrawn labelled route. */
#define BGP_LABEL_WITHDRAW 0x800000u

#define BGP_EVPN_AD 1
#define BGP_EVPN_MAC_IP 2
#define BGP_EVPN_IMET 3
#define BGP_EVPN_ES 4
#define BGP_EVPN_IP_PREFIX 5

/* One NLRI of any parsed family. Which fields are meaningful:
 *  IPv4/IPv6 unicast: plen, addr.
 *  VPNv4/VPNv6: labels (one raw entry in withdrawals), rd, plen, addr.
 *  EVPN 2 (MAC/IP): rd, esi, eth_tag, mac, ip_size (0/4/16), addr, labels
 *    (1 or 2: the MPLS label/VNI and the optional second label).
 *  EVPN 3 (inclusive multicast): rd, eth_tag, ip_size (4/16), addr.
 *  EVPN 5 (IP prefix): rd, esi, eth_tag, plen, ip_size (4/16) for both addr
 *    (the prefix) and gw (the gateway), labels (1).
 *  other EVPN route types: evpn_type and the opaque route 'raw'/'raw_size'.
 *  RTC: plen (0, or 32..96 bits covering origin_as then rt), origin_as, rt
 *    (bits beyond plen are zero).
 * Unused fields are zero and the decoder clears prefix bits past 'plen', so
 * NLRI that denote the same route compare equal with bgp_nlri_equal(). */
struct bgp_nlri {
    uint8_t family; /* enum bgp_family */
    uint8_t plen;
    uint8_t addr[16];
    uint8_t label_count;
    uint32_t labels[BGP_MAX_LABELS];
    uint8_t rd[8];
    uint8_t evpn_type;
    uint8_t ip_size;
    uint8_t esi[10];
    uint32_t eth_tag;
    uint8_t mac[6];
    uint8_t gw[16];
    uint32_t origin_as;
    uint8_t rt[8];
    uint8_t raw_size;
    const uint8_t *raw;
};

/* True when 'a' and 'b' denote the same NLRI with the same contents. */
bool bgp_nlri_equal(const struct bgp_nlri *a, const struct bgp_nlri *b);

struct bgp_nlri_list {
    struct bgp_nlri *v;
    size_t count;
};

/* Route distinguisher types (RFC 4364 §4.2). */
#define BGP_RD_AS2 0
#define BGP_RD_IP4 1
#define BGP_RD_AS4 2
/* Writes RD of 'type' with 'admin' (AS or IPv4 address, host order) and
 * 'assigned' into 'rd'. Returns BGP_ERR_INVALID when a value does not fit. */
int bgp_rd_make(uint8_t rd[8], uint16_t type, uint32_t admin, uint32_t assigned) STRATA_WARN_UNUSED;

/* ---- UPDATE: path attributes ---- */

#define BGP_ATTR_F_OPTIONAL 0x80
#define BGP_ATTR_F_TRANSITIVE 0x40
#define BGP_ATTR_F_PARTIAL 0x20
#define BGP_ATTR_F_EXTENDED 0x10

enum bgp_attr_code {
    BGP_ATTR_ORIGIN = 1,
    BGP_ATTR_AS_PATH = 2,
    BGP_ATTR_NEXT_HOP = 3,
    BGP_ATTR_MED = 4,
    BGP_ATTR_LOCAL_PREF = 5,
    BGP_ATTR_ATOMIC_AGGREGATE = 6,
    BGP_ATTR_AGGREGATOR = 7,
    BGP_ATTR_COMMUNITIES = 8,
    BGP_ATTR_ORIGINATOR_ID = 9,
    BGP_ATTR_CLUSTER_LIST = 10,
    BGP_ATTR_MP_REACH = 14,
    BGP_ATTR_MP_UNREACH = 15,
    BGP_ATTR_EXT_COMMUNITIES = 16,
    BGP_ATTR_AS4_PATH = 17,
    BGP_ATTR_AS4_AGGREGATOR = 18,
    BGP_ATTR_PMSI_TUNNEL = 22,
};
#define BGP_ATTR_BIT(code) (1u << (code))

#define BGP_ORIGIN_IGP 0
#define BGP_ORIGIN_EGP 1
#define BGP_ORIGIN_INCOMPLETE 2

#define BGP_AS_SET 1
#define BGP_AS_SEQUENCE 2
#define BGP_AS_CONFED_SEQUENCE 3
#define BGP_AS_CONFED_SET 4

/* Well-known communities (RFC 1997, RFC 9494). */
#define BGP_COMM_NO_EXPORT 0xFFFFFF01u
#define BGP_COMM_NO_ADVERTISE 0xFFFFFF02u
#define BGP_COMM_NO_EXPORT_SUBCONFED 0xFFFFFF03u
#define BGP_COMM_LLGR_STALE 0xFFFF0006u
#define BGP_COMM_NO_LLGR 0xFFFF0007u

struct bgp_as_seg {
    uint8_t type; /* BGP_AS_* */
    uint8_t len;  /* ASNs in this segment, 1..255 */
};

/* An AS path with 4-octet ASNs: segment i holds segs[i].len ASNs, taken in
 * order from 'asns' (as_count is the sum of the lens). */
struct bgp_as_path {
    struct bgp_as_seg *segs;
    size_t seg_count;
    uint32_t *asns;
    size_t as_count;
};

struct bgp_attr_raw {
    uint8_t flags;
    uint8_t code;
    uint16_t size;
    const uint8_t *data;
};

/* PMSI tunnel attribute (RFC 6514 §5), e.g. ingress replication (type 6)
 * with the originating router's address for EVPN route type 3. */
#define BGP_PMSI_INGRESS_REPLICATION 6
struct bgp_pmsi {
    uint8_t flags;
    uint8_t tunnel_type;
    uint32_t label; /* raw 24 bits */
    uint16_t id_size;
    const uint8_t *id;
};

/* The path attributes of an UPDATE. 'present' has BGP_ATTR_BIT(code) set for
 * every attribute carried (MP_REACH/MP_UNREACH live in struct bgp_update).
 * as_path is the effective 4-octet path: on a session without the AS4
 * capability the decoder merges AS4_PATH/AS4_AGGREGATOR into it (RFC 6793
 * §4.2.3) and the encoder splits it back, so AS4_PATH and AS4_AGGREGATOR
 * never appear in 'present'. Optional transitive attributes this codec does
 * not know are kept in 'unknown' with the Partial bit set. */
struct bgp_attrs {
    uint32_t present;
    uint8_t origin;
    struct bgp_as_path as_path;
    uint32_t next_hop; /* host order */
    uint32_t med;
    uint32_t local_pref;
    uint32_t aggregator_as;
    uint32_t aggregator_id;
    uint32_t *communities;
    size_t community_count;
    uint32_t originator_id;
    uint32_t *cluster_list;
    size_t cluster_count;
    uint64_t *ext_communities;
    size_t ext_community_count;
    struct bgp_pmsi pmsi;
    struct bgp_attr_raw *unknown;
    size_t unknown_count;
};

/* ---- extended communities (RFC 4360, 5668, 7153, 7432, 9012, 9135) ---- */

#define BGP_EXT_RT_AS2 0x0002u /* type 0x00 subtype 0x02 */
#define BGP_EXT_RT_IP4 0x0102u
#define BGP_EXT_RT_AS4 0x0202u
#define BGP_EXT_ENCAP 0x030Cu
#define BGP_EXT_MAC_MOBILITY 0x0600u
#define BGP_EXT_ROUTER_MAC 0x0603u
#define BGP_TUNNEL_VXLAN 8
#define BGP_TUNNEL_MPLS_GRE 11
#define BGP_TUNNEL_MPLS_UDP 13
#define BGP_MAC_MOBILITY_STICKY 0x01

/* Type and subtype of 'ec' as one 16-bit value (compare with BGP_EXT_*). */
static inline uint16_t bgp_ext_type(uint64_t ec)
{
    return (uint16_t)(ec >> 48);
}
/* Route targets. Returns BGP_ERR_INVALID when 'assigned' does not fit. */
int bgp_ext_rt_as2(uint16_t as, uint32_t assigned, uint64_t *ec) STRATA_WARN_UNUSED;
int bgp_ext_rt_ip4(uint32_t ip, uint16_t assigned, uint64_t *ec) STRATA_WARN_UNUSED;
int bgp_ext_rt_as4(uint32_t as, uint16_t assigned, uint64_t *ec) STRATA_WARN_UNUSED;
/* The route target's administrator (AS or IPv4) and assigned number; returns
 * false when 'ec' is not a route target. */
bool bgp_ext_rt_get(uint64_t ec, uint32_t *admin, uint32_t *assigned);
/* Encapsulation extended community of 'tunnel_type' (BGP_TUNNEL_*). */
uint64_t bgp_ext_encap(uint16_t tunnel_type);
/* MAC mobility with sequence number 'seq' and BGP_MAC_MOBILITY_* flags. */
uint64_t bgp_ext_mac_mobility(uint32_t seq, uint8_t flags);
/* EVPN router's MAC. */
uint64_t bgp_ext_router_mac(const uint8_t mac[6]);

/* ---- UPDATE message ---- */

/* The RFC 7606 verdict on a received UPDATE, weakest to strongest. */
enum bgp_update_action {
    BGP_UPDATE_OK = 0,
    BGP_UPDATE_ATTR_DISCARD,      /* malformed attributes dropped, rest valid */
    BGP_UPDATE_TREAT_AS_WITHDRAW, /* every NLRI in the message is a withdrawal */
    BGP_UPDATE_AFI_SAFI_DISABLE,  /* disable 'disable_afi'/'disable_safi' */
    BGP_UPDATE_SESSION_RESET,     /* send 'error' and close */
};

struct bgp_mp {
    uint16_t afi;
    uint8_t safi;
    uint8_t family;   /* enum bgp_family */
    uint8_t nh_size;  /* MP_REACH only: 4, 12, 16, 24, 32 or 48 */
    uint8_t nh[48];   /* next hop as on the wire (VPN: zero RD first) */
    struct bgp_nlri_list nlri;
};

struct bgp_notification {
    uint8_t code;
    uint8_t subcode;
    uint16_t data_size;
    uint8_t data[BGP_MAX_MSG_SIZE - BGP_HDR_SIZE - 2];
};

/* An UPDATE. 'withdrawn' and 'nlri' are the IPv4 unicast fields of the
 * message; other families travel in mp_reach/mp_unreach. After decoding,
 * 'action' says what RFC 7606 asks of the receiver; for anything but OK
 * 'error' holds the NOTIFICATION describing the worst problem found (sent
 * only for SESSION_RESET) and 'discarded' the attribute codes dropped. */
struct bgp_update {
    struct bgp_nlri_list withdrawn;
    struct bgp_attrs attrs;
    struct bgp_nlri_list nlri;
    bool has_mp_reach;
    struct bgp_mp mp_reach;
    bool has_mp_unreach;
    struct bgp_mp mp_unreach;
    enum bgp_update_action action;
    uint16_t disable_afi;
    uint8_t disable_safi;
    uint32_t discarded; /* BGP_ATTR_BIT of each attribute dropped */
    struct bgp_notification error;
};

/* Fills 'u' (zeroed) as the End-of-RIB marker of 'afi'/'safi'. */
void bgp_update_init_eor(struct bgp_update *u, uint16_t afi, uint8_t safi);
/* True when 'u' is an End-of-RIB marker (RFC 4724 §2): the empty UPDATE for
 * IPv4 unicast, or an UPDATE carrying only an empty MP_UNREACH_NLRI; stores
 * its AFI/SAFI. */
bool bgp_update_is_eor(const struct bgp_update *u, uint16_t *afi, uint8_t *safi);

/* ---- ROUTE-REFRESH ---- */

struct bgp_route_refresh {
    uint16_t afi;
    uint8_t subtype; /* RFC 7313: 0 request, 1 BoRR, 2 EoRR */
    uint8_t safi;
};

/* ---- messages ---- */

struct bgp_msg {
    uint8_t type; /* enum bgp_msg_type */
    union {
        struct bgp_open open;
        struct bgp_update update;
        struct bgp_notification notification;
        struct bgp_route_refresh route_refresh;
    } u;
    uint8_t *owned; /* decoder's copy of the message bytes */
};

/* Session parameters that change how UPDATEs are read and written. */
struct bgp_codec_opts {
    bool as4;          /* both sides sent the AS4 capability */
    bool ebgp;         /* external peer: LOCAL_PREF discarded on receipt */
    uint32_t families; /* BGP_FAM_BIT of families accepted in MP attributes */
};

/* Checks the header at the front of 'data' ('size' bytes available). On
 * success stores the whole message's length in '*msg_size' (which may exceed
 * 'size'). BGP_ERR_AGAIN when fewer than 19 bytes are there; BGP_ERR_HEADER
 * with 'err' filled (1/1 bad marker, 1/2 bad length for the type, 1/3 bad
 * type) otherwise. */
int bgp_msg_frame(const uint8_t *data, size_t size, size_t *msg_size,
                  struct bgp_notification *err) STRATA_WARN_UNUSED;

/* Decodes exactly one message of 'size' bytes. On success 'm' owns what it
 * needs (release with bgp_msg_destroy()). An UPDATE decodes successfully
 * unless RFC 7606 asks for a session reset; its 'action' tells the rest.
 * On failure 'm' holds nothing, returns BGP_ERR_HEADER/OPEN/UPDATE/
 * NOTIFICATION/KEEPALIVE/ROUTE_REFRESH with the NOTIFICATION to send in
 * 'err', or BGP_ERR_NOMEM. 'opts' may be NULL (2-octet AS, iBGP, all
 * families). */
int bgp_msg_decode(const uint8_t *data, size_t size, const struct bgp_codec_opts *opts,
                   struct bgp_msg *m, struct bgp_notification *err) STRATA_WARN_UNUSED;

/* Releases what a decoded 'm' owns; 'm' may be NULL. Only for messages
 * filled by bgp_msg_decode() (or zeroed ones). */
void bgp_msg_destroy(struct bgp_msg *m);

/* Appends the encoding of 'm' to 'out'. BGP_ERR_INVALID when a field is out
 * of range, BGP_ERR_TOO_BIG above BGP_MAX_MSG_SIZE, buffer errors from
 * lib/buf; 'out' is unchanged on error. 'opts' may be NULL. */
int bgp_msg_encode(const struct bgp_msg *m, const struct bgp_codec_opts *opts,
                   struct buf *out) STRATA_WARN_UNUSED;

/* Convenience encoders. */
int bgp_encode_keepalive(struct buf *out) STRATA_WARN_UNUSED;
int bgp_encode_notification(uint8_t code, uint8_t subcode, const uint8_t *data,
                            size_t size, struct buf *out) STRATA_WARN_UNUSED;

/* Stable name of a message type ("OPEN", ...); "unknown" otherwise. */
const char *bgp_msg_type_name(unsigned type);

#endif
