#!/usr/bin/env python3
"""Writes frames.h: the hand-built request frames of test_agent_proxy.c and
the exact answers RFC 826/2131/2132/3442/1035 call for, built here from the
RFC layouts independently of the C code. Run it after changing a vector:
    python3 gen_frames.py > frames.h
"""
import struct
import sys

VM_MAC = bytes.fromhex("020000000001")
VR_MAC = bytes.fromhex("00005e000100")
BCAST = b"\xff" * 6


def ip(s):
    return bytes(int(x) for x in s.split("."))


VM_IP, GW, OTHER = ip("10.1.1.5"), ip("10.1.1.1"), ip("10.1.2.7")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(dst, src, etype, payload):
    return dst + src + struct.pack("!H", etype) + payload


def udp_frame(dmac, smac, sip, dip, sport, dport, payload, df=True, ttl=64, ident=0):
    ulen = 8 + len(payload)
    pseudo = sip + dip + struct.pack("!BBH", 0, 17, ulen)
    u = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = csum(pseudo + u) or 0xFFFF
    u = u[:6] + struct.pack("!H", c) + u[8:]
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, ident, 0x4000 if df else 0, ttl, 17, 0, sip, dip)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return eth(dmac, smac, 0x0800, h + u)


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa


def opt(code, data):
    return bytes([code, len(data)]) + data


def bootp(op, xid, flags, ciaddr, yiaddr, chaddr, options, pad_to=0):
    b = struct.pack("!BBBBIHH4s4s4s4s", op, 1, 6, 0, xid, 0, flags, ciaddr, yiaddr, b"\0" * 4, b"\0" * 4)
    b += chaddr + b"\0" * 10 + b"\0" * 64 + b"\0" * 128
    b += bytes([99, 130, 83, 99]) + options + b"\xff"
    if len(b) < pad_to:
        b += b"\0" * (pad_to - len(b))
    return b


def dhcp_client(xid, mtype, extra=b"", flags=0, ciaddr=b"\0" * 4, src=b"\0" * 4, dst=b"\xff" * 4,
                dmac=BCAST):
    options = opt(53, bytes([mtype])) + extra
    return udp_frame(dmac, VM_MAC, src, dst, 68, 67, bootp(1, xid, flags, ciaddr, b"\0" * 4, VM_MAC, options),
                     df=False, ttl=64)


LEASE = 86400
PRL = bytes([1, 3, 6, 12, 15, 26, 28, 121])


def server_opts(mtype, prl=PRL, lease=True, client_id=b""):
    o = opt(53, bytes([mtype])) + opt(54, GW)
    if client_id:
        o += opt(61, client_id)
    if mtype == 6:
        return o
    if lease:
        o += opt(51, struct.pack("!I", LEASE)) + opt(58, struct.pack("!I", LEASE // 2))
        o += opt(59, struct.pack("!I", LEASE * 7 // 8))
    have = {1: ip("255.255.255.0"), 3: GW, 6: GW, 12: b"vm1", 15: b"tenant.example",
            26: struct.pack("!H", 1450)}
    for code in prl:
        if code in have:
            o += opt(code, have[code])
    return o


def dhcp_server(xid, mtype, dmac, dip, flags=0, ciaddr=b"\0" * 4, yiaddr=VM_IP, **kw):
    return udp_frame(dmac, VR_MAC, GW, dip, 67, 68,
                     bootp(2, xid, flags, ciaddr, yiaddr, VM_MAC, server_opts(mtype, **kw), pad_to=300))


def dns_name(name):
    out = b""
    for label in name.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_query(qid, name, qtype, flags=0x0100):
    return struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 0) + dns_name(name) + struct.pack("!HH", qtype, 1)


def dns_frame_q(payload, sport=40000):
    return udp_frame(VR_MAC, VM_MAC, VM_IP, GW, sport, 53, payload, ident=0x1234)


def dns_answer(qid, name, qtype, rcode, aa, answers, sport=40000):
    flags = 0x8000 | 0x0100 | (0x0400 if aa else 0) | rcode
    p = struct.pack("!HHHHHH", qid, flags, 1, len(answers), 0, 0) + dns_name(name) + struct.pack("!HH", qtype, 1)
    for atype, rdata in answers:
        p += struct.pack("!HHHIH", 0xC00C, atype, 1, 60, len(rdata)) + rdata
    return udp_frame(VM_MAC, VR_MAC, GW, VM_IP, 53, sport, p)


V = []


def vec(name, data):
    V.append((name, data))


# ARP
vec("arp_req_gw", eth(BCAST, VM_MAC, 0x0806, arp(1, VM_MAC, VM_IP, b"\0" * 6, GW)))
vec("arp_rep_gw", eth(VM_MAC, VR_MAC, 0x0806, arp(2, VR_MAC, GW, VM_MAC, VM_IP) + b"\0" * 18))
vec("arp_req_other", eth(BCAST, VM_MAC, 0x0806, arp(1, VM_MAC, VM_IP, b"\0" * 6, OTHER) + b"\0" * 18))
vec("arp_rep_other", eth(VM_MAC, VR_MAC, 0x0806, arp(2, VR_MAC, OTHER, VM_MAC, VM_IP) + b"\0" * 18))

# DHCP: DISCOVER/OFFER, REQUEST/ACK (selecting), NAK, renew ACK, INFORM ACK
XID = 0x3903F326
vec("dhcp_discover", dhcp_client(XID, 1, opt(55, PRL) + opt(57, struct.pack("!H", 1500))))
vec("dhcp_offer", dhcp_server(XID, 2, VM_MAC, VM_IP))
vec("dhcp_request", dhcp_client(XID, 3, opt(50, VM_IP) + opt(54, GW) + opt(55, PRL)))
vec("dhcp_ack", dhcp_server(XID, 5, VM_MAC, VM_IP))
vec("dhcp_request_bad_ip", dhcp_client(XID, 3, opt(50, ip("10.1.1.9")) + opt(54, GW) + opt(55, PRL)))
vec("dhcp_nak", dhcp_server(XID, 6, BCAST, b"\xff" * 4, yiaddr=b"\0" * 4))
vec("dhcp_renew", dhcp_client(XID + 1, 3, opt(55, PRL), ciaddr=VM_IP, src=VM_IP, dst=GW, dmac=VR_MAC))
vec("dhcp_renew_ack", dhcp_server(XID + 1, 5, VM_MAC, VM_IP, ciaddr=VM_IP))
vec("dhcp_inform", dhcp_client(XID + 2, 8, opt(55, bytes([1, 6, 15])), ciaddr=VM_IP, src=VM_IP, dst=GW,
                               dmac=VR_MAC))
vec("dhcp_inform_ack", dhcp_server(XID + 2, 5, VM_MAC, VM_IP, ciaddr=VM_IP, yiaddr=b"\0" * 4,
                                   prl=bytes([1, 6, 15]), lease=False))
CID = b"\x01" + VM_MAC
vec("dhcp_discover_bcast", dhcp_client(XID + 3, 1, opt(61, CID), flags=0x8000))
vec("dhcp_offer_bcast", dhcp_server(XID + 3, 2, BCAST, b"\xff" * 4, flags=0x8000,
                                    prl=bytes([1, 3, 6, 12, 15, 26]), client_id=CID))

# DNS
vec("dns_q_bare", dns_frame_q(dns_query(0xBEEF, "vm2", 1)))
vec("dns_a_bare", dns_answer(0xBEEF, "vm2", 1, 0, True, [(1, OTHER)]))
vec("dns_q_fqdn", dns_frame_q(dns_query(0x0102, "VM2.Tenant.Example", 1)))
vec("dns_a_fqdn", dns_answer(0x0102, "VM2.Tenant.Example", 1, 0, True, [(1, OTHER)]))
vec("dns_q_ptr", dns_frame_q(dns_query(0x0203, "5.1.1.10.in-addr.arpa", 12)))
vec("dns_a_ptr", dns_answer(0x0203, "5.1.1.10.in-addr.arpa", 12, 0, True, [(12, dns_name("vm1.tenant.example"))]))
vec("dns_q_nx", dns_frame_q(dns_query(0x0304, "nope.tenant.example", 1)))
vec("dns_a_nx", dns_answer(0x0304, "nope.tenant.example", 1, 3, True, []))
vec("dns_q_ext", dns_frame_q(dns_query(0x0405, "www.example.org", 1)))
vec("dns_a_ext", dns_answer(0x0405, "www.example.org", 1, 5, False, []))

out = sys.stdout
out.write("/* Generated by gen_frames.py: request frames and the exact answers\n"
          " * the RFCs call for. Do not edit; regenerate. */\n")
out.write("#ifndef STRATA_TEST_AGENT_PROXY_FRAMES_H\n#define STRATA_TEST_AGENT_PROXY_FRAMES_H\n\n#include <stdint.h>\n\n")
for name, data in V:
    out.write("static const uint8_t %s[%d] = {\n" % (name, len(data)))
    for i in range(0, len(data), 12):
        out.write("    " + ", ".join("0x%02x" % b for b in data[i:i + 12]) + ",\n")
    out.write("};\n")
out.write("\n#endif\n")
