#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_agent_cfg (tests/fuzz/corpus/agent_cfg):
CONFIG objects in the control node's forms, one per line (see
fuzz_agent_cfg.c): two networks, their ACLs, a security group, three
interfaces; an update and deletes; the global-vrouter-config node;
floating IPs (two pools, a malformed entry, one address claimed by two
ports); malformed property texts."""
import json
import os

T = '\t'
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'agent_cfg')


def u(t, n, **p):
    return T.join(['U', t, n] + [k + '=' + v for k, v in p.items()])


def compact(x):
    return json.dumps(x, separators=(',', ':'), sort_keys=True)


def refs(pfx, extra=None):
    sn = {"subnet": {"ip_prefix": pfx, "ip_prefix_len": 24}}
    sn.update(extra or {})
    return compact([{"attr": {"ipam_subnets": [sn]}, "to": ["d", "p", "ipam"]}])


def rule(proto, src, dst, lo, hi, act):
    return {"action_list": {"simple_action": act},
            "match_condition": {"dst_address": dst, "dst_port": {"end_port": hi, "start_port": lo},
                                "ethertype": "IPv4", "protocol": proto, "src_address": src,
                                "src_port": {"end_port": -1, "start_port": -1}}, "rule_uuid": "r"}


RED, BLUE, SG = {"virtual_network": "d:p:red"}, {"virtual_network": "d:p:blue"}, {"security_group": "d:p:sg1"}
ACL = compact({"acl_rule": [rule("udp", RED, RED, 53, 53, "deny"), rule("icmp", RED, BLUE, -1, -1, "pass"),
                            rule("tcp", {"virtual_network": "any"},
                                 {"subnet": {"ip_prefix": "10.2.0.0", "ip_prefix_len": 24}}, 80, 90, "pass"),
                            rule("6", SG, RED, -1, -1, "pass")], "dynamic": False})
SGS = compact([{"egress_access_control_list": "d:p:sg1:egress-access-control-list",
                "ingress_access_control_list": "d:p:sg1:ingress-access-control-list", "security_group": "d:p:sg1"}])
SGACL = compact({"acl_rule": [rule("any", {"subnet": {"ip_prefix": "0.0.0.0", "ip_prefix_len": 0}}, SG, 22, 22,
                                   "pass")], "dynamic": False})
U1, U2, U3 = ("00000000-0000-4000-8000-00000000000%d" % i for i in (1, 2, 3))

BASE = ['N',
        u('virtual-network', 'd:p:red', network_ipam_refs=refs("10.1.0.0"),
          virtual_network_properties='{"vxlan_network_identifier":5001}'),
        u('virtual-network', 'd:p:blue', network_ipam_refs=refs("10.2.0.0", {"default_gateway": "10.2.0.254",
                                                                             "dns_server_address": "10.2.0.253"})),
        u('access-control-list', 'd:p:red:red', access_control_list_entries=ACL),
        u('access-control-list', 'd:p:sg1:ingress-access-control-list', access_control_list_entries=SGACL),
        u('virtual-machine-interface', 'd:p:a', uuid=U1, virtual_network='d:p:red', routing_instance='d:p:red:red',
          access_control_list='d:p:red:red', instance_ip_addresses='["10.1.0.3"]', security_groups='[]',
          floating_ips='[]'),
        u('virtual-machine-interface', 'd:p:b', uuid=U2, virtual_network='d:p:blue', routing_instance='d:p:blue:blue',
          access_control_list='d:p:blue:blue', instance_ip_addresses='["fd00::1","10.2.0.5"]', security_groups=SGS,
          virtual_machine_interface_mac_addresses='{"mac_address":["02:12:34:56:78:9a"]}'),
        u('virtual-machine-interface', 'd:p:c', uuid=U3, virtual_network='d:p:red', routing_instance='d:p:red:red',
          instance_ip_addresses='["10.1.0.4"]', security_groups=SGS),
        'E']
GVC = ('global-vrouter-config', 'default-global-system-config:default-global-vrouter-config')
SEEDS = {
    'two_networks': BASE,
    'update_delete': BASE + [u('virtual-machine-interface', 'd:p:a', uuid=U1, virtual_network='d:p:red',
                                routing_instance='d:p:red:red', instance_ip_addresses='["10.1.0.9"]'),
                              'D\tvirtual-machine-interface\td:p:c', 'L', 'N', 'E'],
    'encap': BASE + [u(*GVC, encapsulation_priorities='{"encapsulation":["MPLSoGRE","VXLAN","MPLSoUDP"]}',
                       autonomous_system='64512'), 'D\t%s\t%s' % GVC],
    'floating_ips': BASE + [u('access-control-list', 'd:p:ext:ext', access_control_list_entries=compact(
                                  {"acl_rule": [rule("icmp", {"virtual_network": "any"}, {"virtual_network": "any"},
                                                     -1, -1, "deny")], "dynamic": False})),
                            u('virtual-machine-interface', 'd:p:a', uuid=U1, virtual_network='d:p:red',
                              routing_instance='d:p:red:red', instance_ip_addresses='["10.1.0.3"]',
                              security_groups=SGS, floating_ips=compact(
                                  [{"floating_ip": "f1", "floating_ip_address": "10.9.0.5",
                                    "routing_instance": "d:p:ext:ext"},
                                   {"floating_ip": "f2", "floating_ip_address": "10.8.0.5",
                                    "routing_instance": "d:p:ext2:ext2"},
                                   {"floating_ip": "f3", "floating_ip_address": "bad", "routing_instance": "x"}])),
                            u('virtual-machine-interface', 'd:p:c', uuid=U3, virtual_network='d:p:red',
                              routing_instance='d:p:red:red', instance_ip_addresses='["10.1.0.4"]',
                              floating_ips=compact([{"floating_ip_address": "10.9.0.5",
                                                     "routing_instance": "d:p:ext:ext"}]))],
    'malformed': ['N',
                  u('virtual-network', 'd:p:red', network_ipam_refs='[{"attr":{"ipam_subnets":[{"subnet":'
                                                                    '{"ip_prefix":"10.1.0.0","ip_prefix_len":40}}]}}]'),
                  u('virtual-machine-interface', 'd:p:a', uuid=U1, virtual_network='d:p:red',
                    routing_instance='d:p:red:red', instance_ip_addresses='not json', security_groups='{"x":1}'),
                  u('access-control-list', 'd:p:red:red',
                    access_control_list_entries='{"acl_rule":[{"match_condition":{"protocol":"999",'
                                                '"src_port":{"start_port":9,"end_port":2}}},{}]}'),
                  'E'],
}

os.makedirs(OUT, exist_ok=True)
for name, lines in SEEDS.items():
    with open(os.path.join(OUT, name), 'w') as f:
        f.write('\n'.join(lines) + '\n')
