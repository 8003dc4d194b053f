/* The agent core tests' shared fixture (test_agent_core, test_agent_ecmp_flows,
 * test_agent_fip): a real forwarding core (vrouter/dp) to which every
 * datapath request of the agent core is applied after a trip through the
 * wire codec, and an ops table that records what the core asks of its
 * control nodes (publications, withdrawals, subscriptions, End-of-RIB). */
#ifndef STRATA_TESTS_AGENT_FIXTURE_H
#define STRATA_TESTS_AGENT_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vrouter/agent/agent.h"
#include "vrouter/dp/dp.h"
#include "vrouter/msg/msg.h"

#define AGENT_FX_PUBS 64 /* publications and withdrawals recorded at the most */

/* One publication (withdraw false: 'nh' is its first next hop, 'vn' its
 * network, 'entry' all of it) or withdrawal (only 'family' and 'key'). */
struct agent_fx_pub {
    int node;
    char ri[64];
    enum xmpp_family family;
    struct xmpp_route_key key;
    struct xmpp_nexthop nh;
    char vn[XMPP_NAME_MAX];
    bool withdraw;
    struct xmpp_route_entry entry;
};

struct agent_fx {
    struct dp *dp;
    struct agent_core *core; /* NULL until agent_fx_core() */
    uint64_t now;            /* the datapath's time for the requests applied (1 at first) */
    int dp_errors;           /* requests the datapath refused */
    size_t msgs[VR_MSG_TYPE_MAX + 1];
    uint32_t swept; /* entries removed by the last SWEEP */
    struct agent_fx_pub pubs[AGENT_FX_PUBS];
    size_t pub_count;
    int subs[AGENT_MAX_NODES], unsubs[AGENT_MAX_NODES], eors[AGENT_MAX_NODES];
};

/* The router MAC every fixture's core is given (frames from VMs go to it). */
extern const uint8_t agent_fx_router_mac[6];

/* 'dc' with the sizes the tests use: 64 interfaces and VRFs, 4096 next hops
 * and labels, 1024 routes and flows, 256 LPM nodes, bridge and VNI entries,
 * 16 composites. */
void agent_fx_dp_config(struct dp_config *dc);

/* A fixture with a datapath made from 'dc' and no core yet; fails the test
 * when the datapath cannot be made. Free with agent_fx_free(). */
struct agent_fx *agent_fx_new(const struct dp_config *dc);

/* Makes and starts the fixture's core from 'cfg' (its router MAC and agent
 * interface name set here) with the recording ops. A restart on the same
 * datapath: the caller has freed the previous core (agent_core_free). */
void agent_fx_core(struct agent_fx *f, struct agent_config *cfg);

/* Frees the core, the datapath and 'f'; NULL is accepted. */
void agent_fx_free(struct agent_fx *f);

/* The port spec of text 'line' (agent_spec_parse); fails the test on error. */
struct agent_port_spec agent_fx_spec(const char *line);

/* Adds the port of text 'line' to the core; fails the test on error. */
void agent_fx_port_add(struct agent_fx *f, const char *line);

#endif
