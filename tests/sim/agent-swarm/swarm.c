/* tests/sim/agent-swarm/swarm.c: simulated vRouter agents over real TLS and
 * XMPP (swarm.h), used by the agent_swarm load tool and the XMPP e2e
 * tests. */
#include "tests/sim/agent-swarm/swarm.h"

#include "routing/control/agent_config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SA_ROUTE_BASE 0x0a000000u /* 10.0.0.0 */
#define SA_NH_BASE 0x64400000u    /* 100.64.0.0 */
#define SA_TO XMPP_CONTROL_JID "/bgp-peer"

int sa_issue(const struct pki_cert *ca, const struct pki_key *ca_key, const char *name, const char *role,
             struct pki_cert **cert, struct pki_key **key)
{
    const char *dns[] = {name};
    struct pki_leaf_params p = {
        .common_name = name,
        .dns_names = dns,
        .dns_count = 1,
        .uri = role,
        .usage = PKI_USAGE_CLIENT,
        .days_valid = 2,
    };
    return pki_leaf_issue(ca, ca_key, &p, cert, key);
}

static void put_ip4(struct xmpp_ip *ip, uint32_t v)
{
    memset(ip, 0, sizeof *ip);
    ip->version = 4;
    ip->addr[0] = (uint8_t)(v >> 24);
    ip->addr[1] = (uint8_t)(v >> 16);
    ip->addr[2] = (uint8_t)(v >> 8);
    ip->addr[3] = (uint8_t)v;
}

static uint32_t get_ip4(const struct xmpp_ip *ip)
{
    return (uint32_t)ip->addr[0] << 24 | (uint32_t)ip->addr[1] << 16 | (uint32_t)ip->addr[2] << 8 | ip->addr[3];
}

static uint32_t route_label(uint32_t r)
{
    return 16 + r % 1000000u;
}

/* ---- session callbacks ---- */

static void ses_send(void *arg, const uint8_t *data, size_t size)
{
    struct sa_agent *a = arg;
    if (!a->conn || tls_conn_write(a->conn, data, size) != 0) {
        a->write_fails++;
    }
}

static void resume_session(struct sa_agent *a);

static void ses_established(void *arg, const char *peer)
{
    (void)peer;
    struct sa_agent *a = arg;
    a->established = true;
    a->established_at_ms = uv_now(a->loop);
    if (a->reopened) {
        resume_session(a);
    }
}

static void ses_closed(void *arg, enum xmpp_stream_cond cond, const char *text, bool by_peer)
{
    (void)text;
    struct sa_agent *a = arg;
    a->closed = true;
    a->close_cond = cond;
    a->close_by_peer = by_peer;
    if (a->conn) {
        tls_conn_close(a->conn);
    }
}

static void take_item(struct sa_agent *a, const struct xmpp_route_item *it);

/* The family of an item id as sa keeps it: evpn "TAG-MAC...", inet6 has
 * ':', inet neither. */
static enum xmpp_family id_family(const char *id)
{
    return strchr(id, '-') ? XMPP_FAMILY_EVPN : strchr(id, ':') ? XMPP_FAMILY_INET6 : XMPP_FAMILY_INET;
}

/* Sets (has) or removes the hash 'h' of held item 'key' ("INSTANCE ID"),
 * keeping the per-instance count and digest. */
static void hash_set(struct sa_agent *a, const char *key, bool has, uint64_t h)
{
    const char *sp = strchr(key, ' ');
    char inst[XMPP_NAME_MAX];
    if (!a->hashes || !sp || (size_t)(sp - key) >= sizeof inst) {
        return;
    }
    memcpy(inst, key, (size_t)(sp - key));
    inst[sp - key] = '\0';
    json_int_t count = json_integer_value(json_object_get(a->inst_count, inst));
    uint64_t sum = (uint64_t)json_integer_value(json_object_get(a->inst_sum, inst));
    const json_t *old = json_object_get(a->hashes, key);
    if (old) {
        count--;
        sum -= (uint64_t)json_integer_value(old);
    }
    if (has) {
        json_object_set_new(a->hashes, key, json_integer((json_int_t)h));
        count++;
        sum += h;
    } else if (old) {
        json_object_del(a->hashes, key);
    }
    if (count > 0) {
        json_object_set_new(a->inst_count, inst, json_integer(count));
        json_object_set_new(a->inst_sum, inst, json_integer((json_int_t)sum));
    } else {
        json_object_del(a->inst_count, inst);
        json_object_del(a->inst_sum, inst);
    }
}

/* Whether 'key' ("INSTANCE ID") is of an instance in 'insts'. */
static bool key_in(const json_t *insts, const char *key)
{
    const char *sp = strchr(key, ' ');
    char inst[XMPP_NAME_MAX];
    if (!sp || (size_t)(sp - key) >= sizeof inst) {
        return false;
    }
    memcpy(inst, key, (size_t)(sp - key));
    inst[sp - key] = '\0';
    return json_object_get(insts, inst) != NULL;
}

/* Removes the stale items (the control node's End-of-RIB). */
static void sweep_stale(struct sa_agent *a)
{
    json_t *stale = json_object_size(a->stale_insts) ? json_object() : NULL;
    const char *k;
    json_t *v;
    json_object_foreach(a->routes, k, v) {
        if (stale && key_in(a->stale_insts, k) && !json_object_get(a->fresh, k)) {
            json_object_set(stale, k, json_true());
        }
    }
    json_object_foreach(stale, k, v) {
        const char *sp = strchr(k, ' ');
        char inst[XMPP_NAME_MAX];
        struct xmpp_route_item it;
        memset(&it, 0, sizeof it);
        it.retract = true;
        it.entry.family = sp ? id_family(sp + 1) : XMPP_FAMILY_NONE;
        if (sp && (size_t)(sp - k) < sizeof inst && xmpp_route_key_parse(sp + 1, it.entry.family, &it.entry.key) == 0) {
            memcpy(inst, k, (size_t)(sp - k));
            inst[sp - k] = '\0';
            if (a->on_item) {
                a->on_item(a->on_item_arg, a, inst, &it);
            }
            take_item(a, &it);
        }
        json_object_del(a->routes, k);
        hash_set(a, k, false, 0);
        a->swept++;
    }
    json_decref(stale);
    json_object_clear(a->stale_insts);
    json_object_clear(a->fresh);
}

static void ses_eor(void *arg)
{
    struct sa_agent *a = arg;
    a->eors++;
    a->eor_at_ms = uv_now(a->loop);
    if (a->stale_insts) {
        sweep_stale(a);
    }
}

static void ses_in_sync(void *arg, const char *instance)
{
    struct sa_agent *a = arg;
    a->in_syncs++;
    if (a->stale_insts) {
        json_object_del(a->stale_insts, instance);
    }
}

/* Checks an item against the route scheme and updates the bitmap. */
static void take_item(struct sa_agent *a, const struct xmpp_route_item *it)
{
    a->items++;
    const struct xmpp_route_entry *e = &it->entry;
    if (e->family != XMPP_FAMILY_INET || e->key.prefix.version != 4 || e->key.plen != 32) {
        a->wrong++;
        return;
    }
    uint32_t r = get_ip4(&e->key.prefix) - SA_ROUTE_BASE;
    if (r >= a->routes_max) {
        a->wrong++;
        return;
    }
    bool had = (a->have[r / 8] >> (r % 8)) & 1;
    if (it->retract) {
        a->retracts++;
        if (had) {
            a->have[r / 8] &= (uint8_t) ~(1u << (r % 8));
            a->have_count--;
        }
        return;
    }
    if (e->next_hop_count != 1 || e->next_hops[0].address.version != 4 ||
        get_ip4(&e->next_hops[0].address) - SA_NH_BASE == a->index || e->next_hops[0].label != route_label(r)) {
        a->wrong++;
        return;
    }
    if (!had) {
        a->have[r / 8] |= (uint8_t)(1u << (r % 8));
        a->have_count++;
        if (a->have_count == a->expect && !a->complete_at_ms) {
            a->complete_at_ms = uv_now(a->loop);
        }
    }
}

/* Keeps any item in a->routes ("INSTANCE ID" -> "NEXTHOP LABEL"). */
static void keep_item(struct sa_agent *a, const char *instance, const struct xmpp_route_item *it)
{
    char id[256], key[XMPP_NAME_MAX + 260], nh[INET6_ADDRSTRLEN] = "?", val[INET6_ADDRSTRLEN + 32];
    if (xmpp_route_key_format(id, sizeof id, it->entry.family, &it->entry.key) != 0) {
        return;
    }
    snprintf(key, sizeof key, "%s %s", instance, id);
    if (a->stale_insts && json_object_get(a->stale_insts, instance)) {
        json_object_set(a->fresh, key, json_true());
    }
    if (it->retract) {
        json_object_del(a->routes, key);
        hash_set(a, key, false, 0);
        return;
    }
    hash_set(a, key, true, xmpp_route_item_hash(instance, &it->entry));
    const struct xmpp_nexthop *n = &it->entry.next_hops[0];
    if (n->address.version) {
        inet_ntop(n->address.version == 4 ? AF_INET : AF_INET6, n->address.addr, nh, sizeof nh);
    }
    if (n->has_vni) {
        snprintf(val, sizeof val, "%s %u vni %u", nh, (unsigned)n->label, (unsigned)n->vni);
    } else {
        snprintf(val, sizeof val, "%s %u", nh, (unsigned)n->label);
    }
    json_object_set_new(a->routes, key, json_string(val));
}

static void ses_routes(void *arg, const struct xmpp_stanza *st)
{
    struct sa_agent *a = arg;
    for (size_t i = 0; i < st->item_count; i++) {
        if (a->routes) {
            keep_item(a, st->instance, &st->items[i]);
        }
        if (a->on_item) {
            a->on_item(a->on_item_arg, a, st->instance, &st->items[i]);
        }
        take_item(a, &st->items[i]);
    }
}

static int send_st(struct sa_agent *a, struct xmpp_stanza *st, const char *id);

/* Publishes (or withdraws) IPv4 address 'ip' /32 in 'instance'. */
static int port_route(struct sa_agent *a, const char *instance, const char *ip, uint32_t label, bool withdraw)
{
    struct xmpp_route_entry e;
    memset(&e, 0, sizeof e);
    e.family = XMPP_FAMILY_INET;
    e.key.prefix.version = 4;
    if (inet_pton(AF_INET, ip, e.key.prefix.addr) != 1) {
        return 0; /* not IPv4: this simulation publishes IPv4 only */
    }
    e.key.plen = 32;
    struct xmpp_stanza st = {.family = e.family, .key = e.key};
    snprintf(st.instance, sizeof st.instance, "%s", instance);
    if (withdraw) {
        st.type = XMPP_STANZA_DISSOCIATE;
        return send_st(a, &st, "wd");
    }
    put_ip4(&e.next_hops[0].address, SA_NH_BASE + a->index);
    e.next_hops[0].label = label;
    e.next_hops[0].encaps = XMPP_ENCAP_GRE | XMPP_ENCAP_UDP;
    e.next_hop_count = 1;
    st.type = XMPP_STANZA_PUBLISH;
    st.entry = &e;
    return send_st(a, &st, "pub");
}

/* The port's EVPN MAC/IP route: MAC 02:00:<IPv4 address>. */
static int port_evpn_route(struct sa_agent *a, const char *instance, const char *ip, uint32_t label, bool withdraw)
{
    struct xmpp_route_entry e;
    memset(&e, 0, sizeof e);
    e.family = XMPP_FAMILY_EVPN;
    e.key.prefix.version = 4;
    if (inet_pton(AF_INET, ip, e.key.prefix.addr) != 1) {
        return 0;
    }
    e.key.plen = 32;
    e.key.mac[0] = 0x02;
    memcpy(e.key.mac + 2, e.key.prefix.addr, 4);
    struct xmpp_stanza st = {.family = e.family, .key = e.key};
    snprintf(st.instance, sizeof st.instance, "%s", instance);
    if (withdraw) {
        st.type = XMPP_STANZA_DISSOCIATE;
        return send_st(a, &st, "wd");
    }
    put_ip4(&e.next_hops[0].address, SA_NH_BASE + a->index);
    e.next_hops[0].label = label;
    e.next_hops[0].has_vni = true;
    e.next_hops[0].vni = 5000 + label;
    e.next_hops[0].encaps = XMPP_ENCAP_VXLAN;
    e.next_hop_count = 1;
    st.type = XMPP_STANZA_PUBLISH;
    st.entry = &e;
    return send_st(a, &st, "pub");
}

static void port_routes(struct sa_agent *a, const json_t *port, bool withdraw)
{
    const char *ri = json_string_value(json_object_get(port, "ri"));
    size_t i;
    json_t *ip;
    json_array_foreach(json_object_get(port, "ips"), i, ip) {
        uint32_t label = (uint32_t)json_integer_value(json_object_get(port, "label"));
        if (port_route(a, ri, json_string_value(ip), label, withdraw) != 0 ||
            (a->publish_evpn && port_evpn_route(a, ri, json_string_value(ip), label, withdraw) != 0)) {
            a->write_fails++;
        }
    }
}

/* Brings the published ports to what the configuration lists. */
static void ports_reconcile(struct sa_agent *a)
{
    json_t *names = acfg_mirror_names(a->cfg, "virtual-machine-interface");
    json_t *want = json_object();
    size_t i;
    json_t *n;
    bool published = false;
    json_array_foreach(names, i, n) {
        const json_t *p = acfg_mirror_node(a->cfg, "virtual-machine-interface", json_string_value(n));
        if (a->on_port) {
            a->on_port(a->on_item_arg, a, json_string_value(n), false);
        }
        const char *ri = json_string_value(json_object_get(p, "routing_instance"));
        const char *ipt = json_string_value(json_object_get(p, "instance_ip_addresses"));
        json_t *ips = ipt ? json_loads(ipt, 0, NULL) : NULL;
        if (!ri || !json_is_array(ips)) {
            json_decref(ips);
            continue;
        }
        json_t *old = json_object_get(a->ports, json_string_value(n));
        if (old && json_equal(json_object_get(old, "ips"), ips) &&
            strcmp(json_string_value(json_object_get(old, "ri")), ri) == 0) {
            json_object_set(want, json_string_value(n), old);
            json_decref(ips);
            continue;
        }
        if (old) {
            port_routes(a, old, true);
        }
        if (!json_object_get(a->subs, ri)) {
            if (sa_subscribe(a, ri) != 0) {
                a->write_fails++;
            }
            json_object_set_new(a->subs, ri, json_true());
        }
        json_t *port = json_pack("{s:s,s:o,s:I}", "ri", ri, "ips", ips,
                                 "label", (json_int_t)(1000 + json_object_size(a->ports) + i));
        port_routes(a, port, false);
        published = true;
        if (a->on_port && json_array_size(ips) > 0) {
            a->on_port(a->on_item_arg, a, json_string_value(n), true);
        }
        json_object_set_new(want, json_string_value(n), port);
    }
    const char *k;
    json_t *v;
    json_object_foreach(a->ports, k, v) {
        if (!json_object_get(want, k)) {
            port_routes(a, v, true);
        }
    }
    json_decref(a->ports);
    a->ports = want;
    json_decref(names);
    if (published && !a->config_eor_sent) {
        a->config_eor_sent = true;
        if (sa_eor(a) != 0) {
            a->write_fails++;
        }
    }
}

static int ses_config(void *arg, const struct xmpp_stanza *st)
{
    struct sa_agent *a = arg;
    a->config_stanzas++;
    a->config_at_ms = uv_now(a->loop);
    if (!a->cfg) {
        return 0;
    }
    if (acfg_mirror_apply(a->cfg, st->objs, st->obj_count) != 0) {
        return -1;
    }
    ports_reconcile(a);
    return 0;
}

static const struct xmpp_session_ops sa_ops = {
    .send = ses_send,
    .established = ses_established,
    .closed = ses_closed,
    .eor = ses_eor,
    .routes = ses_routes,
    .config = ses_config,
    .in_sync = ses_in_sync,
};

/* ---- TLS callbacks ---- */

static void tls_established(struct tls_conn *conn)
{
    struct sa_agent *a = tls_conn_data(conn);
    a->tls_up = true;
    if (xmpp_session_start(&a->s, uv_now(a->loop)) != 0) {
        a->write_fails++;
    }
}

static void tls_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    struct sa_agent *a = tls_conn_data(conn);
    if (a->s.state != XMPP_SESSION_CLOSED) {
        /* a stream error ends the session through ses_closed() */
        if (xmpp_session_input(&a->s, uv_now(a->loop), data, size) != 0 && !a->closed) {
            a->write_fails++;
        }
    }
}

static void tls_closed(struct tls_conn *conn, int status)
{
    struct sa_agent *a = tls_conn_data(conn);
    a->conn_done = true;
    a->conn_status = status;
    a->conn = NULL;
    tls_conn_free(conn);
}

static const struct tls_conn_callbacks sa_conn_cbs = {
    .on_established = tls_established,
    .on_read = tls_read,
    .on_close = tls_closed,
};

static void timer_fired(uv_timer_t *t)
{
    struct sa_agent *a = t->data;
    if (a->session_init) {
        xmpp_session_tick(&a->s, uv_now(a->loop));
    }
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

int sa_agent_create(uv_loop_t *loop, uint32_t index, const struct pki_cert *ca, const struct pki_cert *cert,
                    const struct pki_key *key, const char *jid, const char *address, uint16_t port,
                    uint32_t routes_max, struct sa_agent **out)
{
    struct sa_agent *a = calloc(1, sizeof *a);
    if (!a) {
        return LIB_ENOMEM;
    }
    a->loop = loop;
    a->index = index;
    a->routes_max = routes_max;
    a->have = calloc(routes_max / 8 + 1, 1);
    snprintf(a->name, sizeof a->name, "%s", pki_cert_identity(cert));
    snprintf(a->address, sizeof a->address, "%s", address);
    a->port = port;
    snprintf(a->jid, sizeof a->jid, "%s", jid ? jid : a->name);
    int rc = a->have ? 0 : LIB_ENOMEM;
    struct tls_config tc = {
        .role = TLS_ROLE_CLIENT,
        .ca = ca,
        .cert = cert,
        .key = key,
        .write_high_watermark = (size_t)64 << 20,
    };
    char err[256];
    if (rc == 0) {
        rc = tls_ctx_create(&tc, &a->ctx, err, sizeof err);
        if (rc != 0) {
            fprintf(stderr, "agent %s: TLS: %s\n", a->name, err);
        }
    }
    struct xmpp_session_config sc = {.role = XMPP_ROLE_AGENT, .local_jid = a->jid};
    if (rc == 0) {
        rc = xmpp_session_init(&a->s, &sc, &sa_ops, a);
        a->session_init = rc == 0;
    }
    if (rc == 0) {
        a->timer = malloc(sizeof *a->timer);
        rc = a->timer ? 0 : LIB_ENOMEM;
    }
    if (rc == 0) {
        uv_timer_init(loop, a->timer);
        a->timer->data = a;
        uv_timer_start(a->timer, timer_fired, 1000, 1000);
        rc = tls_conn_connect(a->ctx, loop, address, port, address, &sa_conn_cbs, a, &a->conn);
    }
    if (rc != 0) {
        sa_agent_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void sa_agent_free(struct sa_agent *a)
{
    if (!a) {
        return;
    }
    tls_conn_free(a->conn);
    if (a->timer) {
        uv_close((uv_handle_t *)a->timer, timer_closed);
    }
    if (a->session_init) {
        xmpp_session_destroy(&a->s);
    }
    tls_ctx_free(a->ctx);
    acfg_mirror_free(a->cfg);
    json_decref(a->ports);
    json_decref(a->routes);
    json_decref(a->subs);
    json_decref(a->hashes);
    json_decref(a->inst_count);
    json_decref(a->inst_sum);
    json_decref(a->stale_insts);
    json_decref(a->fresh);
    free(a->have);
    free(a);
}

int sa_follow_config(struct sa_agent *a)
{
    if (!a->cfg && acfg_mirror_create(&a->cfg) != 0) {
        return LIB_ENOMEM;
    }
    if (!a->ports) a->ports = json_object();
    if (!a->routes) a->routes = json_object();
    if (!a->subs) a->subs = json_object();
    if (!a->hashes) a->hashes = json_object();
    if (!a->inst_count) a->inst_count = json_object();
    if (!a->inst_sum) a->inst_sum = json_object();
    if (!a->stale_insts) a->stale_insts = json_object();
    if (!a->fresh) a->fresh = json_object();
    return a->ports && a->routes && a->subs && a->hashes && a->inst_count && a->inst_sum && a->stale_insts && a->fresh
               ? 0
               : LIB_ENOMEM;
}

void sa_agent_close(struct sa_agent *a)
{
    xmpp_session_close(&a->s, XMPP_SC_NONE, NULL);
}

static int send_st(struct sa_agent *a, struct xmpp_stanza *st, const char *id)
{
    snprintf(st->id, sizeof st->id, "%s", id);
    snprintf(st->to, sizeof st->to, "%s", SA_TO);
    return xmpp_session_send(&a->s, uv_now(a->loop), st);
}

int sa_subscribe(struct sa_agent *a, const char *instance)
{
    struct xmpp_stanza st = {.type = XMPP_STANZA_SUBSCRIBE, .instance_id = 1};
    snprintf(st.instance, sizeof st.instance, "%s", instance);
    if (a->subs) {
        json_object_set_new(a->subs, instance, json_true());
    }
    return send_st(a, &st, "sub");
}

/* The digest of the items of 'instance' held (xmpp_route_item_hash summed). */
static uint64_t held_digest(const struct sa_agent *a, const char *instance)
{
    return (uint64_t)json_integer_value(json_object_get(a->inst_sum, instance));
}

/* A reopened session: CONFIG_HELD (resume), subscriptions (with digests
 * when resuming), the ports again, End-of-RIB. */
static void resume_session(struct sa_agent *a)
{
    if (a->resume) {
        struct xmpp_stanza st = {.type = XMPP_STANZA_CONFIG_HELD};
        if (acfg_mirror_held(a->cfg, &st.held, &st.held_count) != 0 || send_st(a, &st, "held") != 0) {
            a->write_fails++;
        }
        free(st.held);
    }
    const char *k;
    json_t *v;
    json_object_foreach(a->subs, k, v) {
        struct xmpp_stanza st = {.type = XMPP_STANZA_SUBSCRIBE, .instance_id = 1};
        snprintf(st.instance, sizeof st.instance, "%s", k);
        st.has_digest = a->resume;
        st.digest = a->resume ? held_digest(a, k) : 0;
        if (send_st(a, &st, "sub") != 0) {
            a->write_fails++;
        }
    }
    json_object_foreach(a->ports, k, v) {
        port_routes(a, v, false);
    }
    if (sa_eor(a) != 0) {
        a->write_fails++;
    }
}

int sa_agent_reopen(struct sa_agent *a)
{
    if (!a->cfg || !a->routes) {
        return LIB_EINVAL;
    }
    tls_conn_free(a->conn);
    a->conn = NULL;
    if (a->session_init) {
        xmpp_session_destroy(&a->s);
        a->session_init = false;
    }
    a->tls_up = a->established = a->closed = a->conn_done = false;
    a->close_cond = XMPP_SC_NONE;
    a->close_by_peer = false;
    a->eors = 0;
    a->reopened = true;
    /* everything held is stale until refreshed (an item, IN_SYNC): its
     * instances are marked, and what an item refreshes is noted */
    const char *k;
    json_t *v;
    json_object_clear(a->fresh);
    json_object_foreach(a->inst_count, k, v) {
        if (json_object_set(a->stale_insts, k, json_true()) != 0) {
            return LIB_ENOMEM;
        }
    }
    if (!a->resume) {
        /* it announces nothing: the node sends the whole set, and only a
         * fresh mirror loses what was deleted meanwhile (no delete comes
         * for objects the node does not know the agent holds) */
        struct acfg_mirror *fresh;
        if (acfg_mirror_create(&fresh) != 0) {
            return LIB_ENOMEM;
        }
        acfg_mirror_free(a->cfg);
        a->cfg = fresh;
    }
    struct xmpp_session_config sc = {.role = XMPP_ROLE_AGENT, .local_jid = a->jid, .resume = a->resume};
    int rc = xmpp_session_init(&a->s, &sc, &sa_ops, a);
    a->session_init = rc == 0;
    if (rc == 0) {
        rc = tls_conn_connect(a->ctx, a->loop, a->address, a->port, a->address, &sa_conn_cbs, a, &a->conn);
    }
    return rc;
}

int sa_publish(struct sa_agent *a, const char *instance, uint32_t r)
{
    struct xmpp_route_entry e;
    memset(&e, 0, sizeof e);
    e.family = XMPP_FAMILY_INET;
    put_ip4(&e.key.prefix, SA_ROUTE_BASE + r);
    e.key.plen = 32;
    put_ip4(&e.next_hops[0].address, SA_NH_BASE + a->index);
    e.next_hops[0].label = route_label(r);
    e.next_hops[0].encaps = XMPP_ENCAP_GRE | XMPP_ENCAP_UDP;
    e.next_hop_count = 1;
    snprintf(e.virtual_network, sizeof e.virtual_network, "default-domain:admin:%s", instance);
    struct xmpp_stanza st = {.type = XMPP_STANZA_PUBLISH, .entry = &e, .family = e.family, .key = e.key};
    snprintf(st.instance, sizeof st.instance, "%s", instance);
    return send_st(a, &st, "pub");
}

int sa_withdraw(struct sa_agent *a, const char *instance, uint32_t r)
{
    struct xmpp_stanza st = {.type = XMPP_STANZA_DISSOCIATE, .family = XMPP_FAMILY_INET};
    put_ip4(&st.key.prefix, SA_ROUTE_BASE + r);
    st.key.plen = 32;
    snprintf(st.instance, sizeof st.instance, "%s", instance);
    return send_st(a, &st, "wd");
}

int sa_eor(struct sa_agent *a)
{
    struct xmpp_stanza st = {.type = XMPP_STANZA_EOR};
    return send_st(a, &st, "eor");
}

int sa_send_raw(struct sa_agent *a, const void *data, size_t size)
{
    return a->conn ? tls_conn_write(a->conn, data, size) : TLS_ECLOSED;
}

void sa_read_stop(struct sa_agent *a)
{
    if (a->conn) {
        tls_conn_read_stop(a->conn);
    }
}

bool sa_has(const struct sa_agent *a, uint32_t r)
{
    return r < a->routes_max && ((a->have[r / 8] >> (r % 8)) & 1);
}

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

bool sa_run_until(uv_loop_t *loop, bool (*done)(void *arg), void *arg, uint64_t timeout_ms)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10);
    uv_update_time(loop);
    uint64_t deadline = uv_now(loop) + timeout_ms;
    bool ok;
    while (!(ok = done(arg)) && uv_now(loop) < deadline) {
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}
