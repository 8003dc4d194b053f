#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_agent_punt: frames as strata-vrouter
punts them (16-byte punt header, then the VM's Ethernet frame)."""
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "agent_punt")
VM1 = bytes.fromhex("020000000101")
RMAC = bytes.fromhex("00005e000100")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(src, dst, proto, payload, ttl=64, frag=0, opts=b""):
    ihl = 5 + len(opts) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 4 * ihl + len(payload), 1, frag, ttl, proto, 0,
                    bytes(src), bytes(dst)) + opts
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def punt(reason, frame, ifindex=2, vrf=1, flow=7):
    return struct.pack("!HBBIII", 0x5354, 1, reason, ifindex, vrf, flow) + frame


def eth(payload, etype=0x0800):
    return RMAC + VM1 + struct.pack("!H", etype) + payload


A = [192, 168, 1, 1]
seeds = {
    "udp_local": punt(5, eth(ip4(A, [192, 168, 1, 2], 17, struct.pack("!HHHH", 1000, 7000, 12, 0) + b"data"))),
    "tcp_remote": punt(5, eth(ip4(A, [192, 168, 1, 9], 6, struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 0x50, 2, 512, 0, 0)))),
    "udp_ecmp": punt(5, eth(ip4(A, [10, 1, 2, 3], 17, struct.pack("!HHHH", 5, 53, 8, 0)))),
    "icmp_ecmp": punt(5, eth(ip4(A, [10, 1, 0, 1], 1, bytes([8, 0, 0, 0, 0, 1, 0, 1]) + b"ping"))),
    "no_route": punt(5, eth(ip4(A, [172, 16, 0, 1], 17, struct.pack("!HHHH", 1, 2, 8, 0)))),
    "ttl1": punt(5, eth(ip4(A, [10, 1, 0, 1], 17, struct.pack("!HHHH", 1, 2, 8, 0), ttl=1))),
    "fragment": punt(5, eth(ip4(A, [10, 1, 0, 1], 17, b"xxxxxxxx", frag=0x2001))),
    "options": punt(5, eth(ip4(A, [192, 168, 1, 2], 17, struct.pack("!HHHH", 1, 2, 8, 0), opts=b"\x01\x01\x01\x00"))),
    "ipv6": punt(5, eth(bytes([0x60, 0, 0, 0, 0, 8, 17, 64]) + bytes(32) + struct.pack("!HHHH", 1, 2, 8, 0), 0x86DD)),
    "arp": punt(1, eth(bytes.fromhex("0001080006040001") + VM1 + bytes(A) + bytes(6) + bytes([192, 168, 1, 254]), 0x0806)),
    "truncated_ip": punt(5, eth(ip4(A, [10, 1, 0, 1], 17, struct.pack("!HHHH", 1, 2, 8, 0)))[:30]),
    "short_header": struct.pack("!HBB", 0x5354, 1, 5),
    "bad_vrf": punt(5, eth(ip4(A, [192, 168, 1, 2], 17, struct.pack("!HHHH", 1, 2, 8, 0))), vrf=99),
    # floating IP 10.9.0.5 of vm1 (pool "ext", VRF 2): to it from the
    # fabric (vm1's VRF) and from the pool VRF; vm1 to the pool (SNAT)
    "fip_dnat_fabric": punt(5, eth(ip4([10, 9, 0, 7], [10, 9, 0, 5], 17, struct.pack("!HHHH", 4000, 53, 12, 0) + b"data")),
                            ifindex=1, vrf=1),
    "fip_dnat_pool": punt(5, eth(ip4([10, 9, 0, 7], [10, 9, 0, 5], 1, bytes([8, 0, 0, 0, 0, 1, 0, 1]))),
                          ifindex=1, vrf=2),
    "fip_snat": punt(5, eth(ip4(A, [10, 9, 0, 7], 6, struct.pack("!HHIIBBHHH", 40001, 22, 1, 0, 0x50, 2, 512, 0, 0)))),
}
for name, data in seeds.items():
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
