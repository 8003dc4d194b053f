/* The agent core tests' shared fixture (agent_fixture.h): the recording
 * ops table and the datapath every request is applied to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/agent/agent_fixture.h"

const uint8_t agent_fx_router_mac[6] = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x00};

/* Applies one request to the real datapath, as strata-vrouter would, after
 * encoding and decoding it (every request must survive the wire codec). */
static void apply(void *arg, const struct vr_msg *m)
{
    struct agent_fx *f = arg;
    uint8_t frame[VR_MSG_MAX];
    size_t size;
    struct vr_msg back;
    assert_int_equal(vr_msg_encode(m, frame, sizeof frame, &size), 0);
    assert_int_equal(vr_msg_decode(frame, size, &back), 0);
    f->msgs[m->type]++;
    uint32_t value = 0;
    int rc = vr_msg_apply(f->dp, &back, f->now, &value);
    if (m->type == VR_MSG_SWEEP) {
        f->swept = value;
    }
    if (rc != 0) {
        f->dp_errors++;
        fprintf(stderr, "datapath refused %s: %d\n", vr_msg_type_name(m->type), rc);
    }
}

static struct agent_fx_pub *pub_next(struct agent_fx *f, int node, const char *ri, enum xmpp_family family,
                                     const struct xmpp_route_key *k)
{
    assert_true(f->pub_count < AGENT_FX_PUBS);
    struct agent_fx_pub *p = &f->pubs[f->pub_count++];
    memset(p, 0, sizeof *p);
    p->node = node;
    snprintf(p->ri, sizeof p->ri, "%s", ri);
    p->family = family;
    p->key = *k;
    return p;
}

static void on_publish(void *arg, int node, const char *ri, const struct xmpp_route_entry *e)
{
    assert_int_equal(e->next_hop_count, 1);
    struct agent_fx_pub *p = pub_next(arg, node, ri, e->family, &e->key);
    p->nh = e->next_hops[0];
    snprintf(p->vn, sizeof p->vn, "%s", e->virtual_network);
    p->entry = *e;
}

static void on_withdraw(void *arg, int node, const char *ri, enum xmpp_family family, const struct xmpp_route_key *k)
{
    pub_next(arg, node, ri, family, k)->withdraw = true;
}

static void on_subscribe(void *arg, int node, const char *ri, uint32_t id)
{
    struct agent_fx *f = arg;
    (void)ri;
    assert_true(id > 0);
    f->subs[node]++;
}

static void on_unsubscribe(void *arg, int node, const char *ri)
{
    struct agent_fx *f = arg;
    (void)ri;
    f->unsubs[node]++;
}

static void on_eor(void *arg, int node)
{
    struct agent_fx *f = arg;
    f->eors[node]++;
}

static const struct agent_ops OPS = {
    .dp_send = apply,
    .subscribe = on_subscribe,
    .unsubscribe = on_unsubscribe,
    .publish = on_publish,
    .withdraw = on_withdraw,
    .eor = on_eor,
};

void agent_fx_dp_config(struct dp_config *dc)
{
    dp_config_default(dc);
    dc->ifs = 64;
    dc->vrfs = 64;
    dc->nhs = 4096;
    dc->labels = 4096;
    dc->routes = 1024;
    dc->flows = 1024;
    dc->lpm_nodes = 256;
    dc->bridge = 256;
    dc->vnis = 256;
    dc->composites = 16;
}

struct agent_fx *agent_fx_new(const struct dp_config *dc)
{
    struct agent_fx *f = test_calloc(1, sizeof *f);
    assert_non_null(f);
    f->now = 1;
    assert_int_equal(dp_create(dc, &f->dp), 0);
    return f;
}

void agent_fx_core(struct agent_fx *f, struct agent_config *cfg)
{
    memcpy(cfg->router_mac, agent_fx_router_mac, 6);
    snprintf(cfg->agent_if_name, sizeof cfg->agent_if_name, "pkt0");
    assert_int_equal(agent_core_create(cfg, &OPS, f, &f->core), 0);
    agent_core_start(f->core);
}

void agent_fx_free(struct agent_fx *f)
{
    if (f == NULL) {
        return;
    }
    agent_core_free(f->core);
    dp_free(f->dp);
    test_free(f);
}

struct agent_port_spec agent_fx_spec(const char *line)
{
    struct agent_port_spec s;
    char err[128];
    if (agent_spec_parse(line, &s, err, sizeof err) != 0) {
        fail_msg("spec '%s': %s", line, err);
    }
    return s;
}

void agent_fx_port_add(struct agent_fx *f, const char *line)
{
    struct agent_port_spec s = agent_fx_spec(line);
    assert_int_equal(agent_port_add(f->core, &s), 0);
}
