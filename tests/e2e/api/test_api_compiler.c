/* e2e for the compiler wired into the config role: a real three-node store
 * cluster (tests/e2e/store/cluster.h) and three config roles in this
 * process, one per node, each keeping its compiler image current with a
 * watch on its node's store. Over HTTPS:
 *  - a project gets its default security-group and that group's ACLs;
 *  - two networks (created on different nodes) get routing-instances named
 *    <vn fq_name>:<vn name>, route targets target:64512:8000000 and up and
 *    ACLs, each with derived_from naming its source;
 *  - a policy between them (created on a third node) attached to both: the
 *    instances import each other's targets, the ACLs carry its entries and
 *    name it in derived_from;
 *  - derived objects are read-only: 403 with a JSON error for admin and
 *    member tokens alike (create, update, delete, ref-update);
 *  - detach: the imports go; delete: the derived objects go (404) and the
 *    lowest route-target number is reused by the next network;
 *  - a floating IP's mapping and a virtual router's index (compiler
 *    version 2) are readable with derived_from; the mapping goes with the
 *    floating IP;
 *  - 20 networks created concurrently through two nodes get 20 distinct
 *    route-target numbers and VNIs (read from the /c/id/ keys);
 *  - afterwards every replica reports the same revision and consistency
 *    hash (store status).
 * Usage: test_api_compiler STRATAD WORKDIR */
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "appliance/config_role.h"
#include "appliance/pkiset.h"
#include "compiler/derive.h"
#include "store/proto.h"
#include "tests/e2e/api/api_harness.h"

static int call_once(struct api_client *c, const char *token, const char *method,
                     const char *path, const char *body, struct api_resp *r)
{
    int rc = api_client_request(c, method, path, token, NULL, body, body ? strlen(body) : 0, r);
    return rc ? rc : r->status;
}

/* A create whose earlier attempt may have landed: the object, by the
 * fq_name in 'body', as if created (201), or 409 as it was. */
static int landed(struct api_client *c, const char *token, const char *body, struct api_resp *r)
{
    json_t *b = json_loads(body, 0, NULL);
    const char *type = NULL;
    json_t *inner = NULL;
    json_object_foreach(b, type, inner) {
        break;
    }
    char q[2048], path[256];
    char *fq = inner ? json_dumps(json_object_get(inner, "fq_name"), JSON_COMPACT) : NULL;
    int st = 409;
    if (type && fq) {
        snprintf(q, sizeof q, "{\"type\": \"%s\", \"fq_name\": %s}", type, fq);
        if (call_once(c, token, "POST", "/fqname-to-id", q, r) == 200) {
            snprintf(path, sizeof path, "/%s/%s", type,
                     json_string_value(json_object_get(r->doc, "uuid")) ?: "");
            st = call_once(c, token, "GET", path, NULL, r) == 200 ? 201 : 409;
            r->status = st;
        }
    }
    free(fq);
    json_decref(b);
    return st;
}

/* One request; returns the status (or a negative transport error). On this
 * one loaded machine the store may change leaders mid-test: a 503 or a
 * transport error is retried for up to 15 s, and a retried create that
 * finds its object (409) or a retried delete that finds it gone (404)
 * counts as done. */
static int call(struct api_client *c, const char *token, const char *method, const char *path,
                const char *body, struct api_resp *r)
{
    double end = now_s() + 15;
    bool retried = false;
    for (;;) {
        int st = call_once(c, token, method, path, body, r);
        bool create = strcmp(method, "POST") == 0 && body && strcmp(path, "/ref-update") != 0 &&
                      strcmp(path, "/fqname-to-id") != 0 && strcmp(path, "/tokens") != 0;
        if (retried && st == 409 && create) {
            return landed(c, token, body, r);
        }
        if (retried && st == 404 && strcmp(method, "DELETE") == 0) {
            r->status = 200;
            return 200;
        }
        if ((st == 503 || st < 0) && now_s() < end) {
            retried = true;
            usleep(100 * 1000);
            continue;
        }
        return st;
    }
}

static int callf(struct api_client *c, const char *token, const char *method, const char *path,
                 struct api_resp *r, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int callf(struct api_client *c, const char *token, const char *method, const char *path,
                 struct api_resp *r, const char *fmt, ...)
{
    char body[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    return call(c, token, method, path, body, r);
}

static const char *jstr(const json_t *doc, const char *a, const char *b)
{
    const json_t *v = json_object_get(doc, a);
    return json_string_value(b ? json_object_get(v, b) : v) ?: "";
}

/* The uuid of 'type' named 'fq' (JSON array text) into 'uuid' ("" and the
 * status returned when not found). */
static int fq2id(struct api_client *c, const char *type, const char *fq, char uuid[64])
{
    struct api_resp r = {0};
    int st = callf(c, admin_token, "POST", "/fqname-to-id", &r,
                   "{\"type\": \"%s\", \"fq_name\": %s}", type, fq);
    snprintf(uuid, 64, "%s", st == 200 ? jstr(r.doc, "uuid", NULL) : "");
    api_resp_clear(&r);
    return st;
}

/* GET /<type>/<fq's uuid>: the inner object (a new reference) or NULL. */
static json_t *get_by_fq(struct api_client *c, const char *type, const char *fq)
{
    char uuid[64], path[256];
    if (fq2id(c, type, fq, uuid) != 200) {
        return NULL;
    }
    struct api_resp r = {0};
    snprintf(path, sizeof path, "/%s/%s", type, uuid);
    json_t *o = NULL;
    if (call(c, admin_token, "GET", path, NULL, &r) == 200) {
        o = json_incref(json_object_get(r.doc, type));
    }
    api_resp_clear(&r);
    return o;
}

/* True when 'obj' has derived_from[0] = {type, uuid} and fq_name. */
static bool derived_from(const json_t *obj, const char *type, const char *uuid)
{
    const json_t *d = json_array_get(json_object_get(obj, "derived_from"), 0);
    return strcmp(jstr(d, "type", NULL), type) == 0 && strcmp(jstr(d, "uuid", NULL), uuid) == 0 &&
           json_array_size(json_object_get(d, "fq_name")) > 0;
}

/* The instance's targets as "name/both|import ..." in 'out'. */
static void ri_targets(const json_t *ri, char *out, size_t size)
{
    size_t i;
    json_t *ref;
    out[0] = '\0';
    json_array_foreach(json_object_get(ri, "route_target_refs"), i, ref) {
        size_t n = strlen(out);
        const char *ie = jstr(json_object_get(ref, "attr"), "import_export", NULL);
        snprintf(out + n, size - n, "%s%s/%s", n ? " " : "",
                 json_string_value(json_array_get(json_object_get(ref, "to"), 0)) ?: "?",
                 ie[0] ? ie : "both");
    }
}

/* Waits (a compile follows every write at once, so this is only the
 * follower catching up on its own reads) until the routing instance of
 * network 'vn' (fq_name text) imports exactly 'want'. */
static bool wait_targets(struct api_client *c, const char *vn_fq, const char *name, const char *want,
                         char *got, size_t size)
{
    char fq[512];
    snprintf(fq, sizeof fq, "[%s, \"%s\"]", vn_fq, name); /* 'vn_fq': elements, no brackets */
    double end = now_s() + 5;
    do {
        json_t *ri = get_by_fq(c, "routing-instance", fq);
        snprintf(got, size, "(no instance)");
        if (ri) {
            ri_targets(ri, got, size);
        }
        json_decref(ri);
        if (strcmp(got, want) == 0) {
            return true;
        }
        usleep(20 * 1000);
    } while (now_s() < end);
    return false;
}

/* Every /c/id/<pool>/ key: owner -> number, in 'out' (new object). */
static json_t *ids(const char *pool)
{
    struct store_client *sc = NULL;
    json_t *out = json_object();
    char prefix[32];
    snprintf(prefix, sizeof prefix, "/c/id/%s/", pool);
    if (cluster_client(&cl, 0, 2000, &sc) != 0) {
        return out;
    }
    struct buf cmd, raw;
    struct store_reply rep;
    buf_init(&cmd, 0);
    buf_init(&raw, 0);
    struct store_keysel sel = store_sel_prefix(prefix, (uint32_t)strlen(prefix));
    if (store_cmd_encode_range(&cmd, &sel, 0, 0) == 0 &&
        store_client_cmd(sc, &cmd, false, &raw, &rep) == 0) {
        for (uint32_t i = 0; i < rep.results[0].kvs_len; i++) {
            const struct store_kv *kv = &rep.results[0].kvs[i];
            const char *p;
            unsigned long n;
            if (derive_id_parse((const char *)kv->key, kv->key_size, &p, &n) == 0) {
                char owner[128];
                snprintf(owner, sizeof owner, "%.*s", (int)kv->value_size, (const char *)kv->value);
                json_object_set_new(out, owner, json_integer((json_int_t)n));
            }
        }
        store_reply_destroy(&rep);
    }
    buf_destroy(&cmd);
    buf_destroy(&raw);
    store_client_close(sc);
    return out;
}

/* ---- scenarios ---- */

static void bootstrap_token(void)
{
    char path[1100], target[1100], err[256];
    bool created = false;
    snprintf(path, sizeof path, "%s/admin.token", cl.dir);
    snprintf(target, sizeof target, "unix:%s/n1.sock", cl.dir);
    int rc = -1;
    for (int i = 0; i < 100 && rc != 0; i++) {
        rc = config_role_bootstrap_token(target, NULL, path, &created, err, sizeof err);
        if (rc) {
            usleep(100 * 1000);
        }
    }
    CHECK(rc == 0 && created, "bootstrap token: %d %s", rc, err);
    FILE *fp = fopen(path, "r");
    CHECK(fp && fgets(admin_token, sizeof admin_token, fp), "token file unreadable");
    if (fp) {
        fclose(fp);
    }
    admin_token[strcspn(admin_token, "\n")] = '\0';
}

#define PFQ "\"default-domain\", \"cp\""

static void test_lifecycle(char member[128])
{
    struct api_client *c1 = client(0), *c2 = client(1), *c3 = client(2);
    struct api_resp r = {0};
    char proj[64], a[64], b[64], pol[64], cvn[64], got[512], body[1024], path[256];

    CHECK(call(c1, admin_token, "POST", "/projects",
               "{\"project\": {\"fq_name\": [" PFQ "]}}", &r) == 201,
          "create project: %d %s", r.status, r.body);
    snprintf(proj, sizeof proj, "%s", jstr(r.doc, "project", "uuid"));
    snprintf(body, sizeof body, "{\"role\": \"member\", \"project_uuid\": \"%s\"}", proj);
    CHECK(call(c1, admin_token, "POST", "/tokens", body, &r) == 201, "member token: %d", r.status);
    snprintf(member, 128, "%s", jstr(r.doc, "token", NULL));

    /* the project's default group and its ACLs, read on node 3 */
    json_t *sg = get_by_fq(c3, "security-group", "[" PFQ ", \"default\"]");
    CHECK(sg != NULL, "default security-group of cp");
    json_t *acl = get_by_fq(c3, "access-control-list",
                            "[" PFQ ", \"default\", \"ingress-access-control-list\"]");
    CHECK(acl && derived_from(acl, "security-group", jstr(sg, "uuid", NULL)),
          "default group's ingress ACL derived from it");
    json_decref(acl);
    json_decref(sg);

    /* two networks on two nodes */
    CHECK(call(c1, member, "POST", "/virtual-networks",
               "{\"virtual-network\": {\"fq_name\": [" PFQ ", \"vn-a\"]}}", &r) == 201,
          "vn-a: %d %s", r.status, r.body);
    snprintf(a, sizeof a, "%s", jstr(r.doc, "virtual-network", "uuid"));
    CHECK(call(c2, member, "POST", "/virtual-networks",
               "{\"virtual-network\": {\"fq_name\": [" PFQ ", \"vn-b\"]}}", &r) == 201,
          "vn-b: %d %s", r.status, r.body);
    snprintf(b, sizeof b, "%s", jstr(r.doc, "virtual-network", "uuid"));
    json_t *ri = get_by_fq(c2, "routing-instance", "[" PFQ ", \"vn-a\", \"vn-a\"]");
    CHECK(ri && derived_from(ri, "virtual-network", a) &&
              json_is_true(json_object_get(ri, "routing_instance_is_default")),
          "routing-instance of vn-a with derived_from");
    json_decref(ri);
    json_t *rt = get_by_fq(c3, "route-target", "[\"target:64512:8000000\"]");
    CHECK(rt && derived_from(rt, "virtual-network", a), "vn-a owns target:64512:8000000");
    json_decref(rt);
    rt = get_by_fq(c3, "route-target", "[\"target:64512:8000001\"]");
    CHECK(rt && derived_from(rt, "virtual-network", b), "vn-b owns target:64512:8000001");
    json_decref(rt);
    acl = get_by_fq(c1, "access-control-list", "[" PFQ ", \"vn-b\", \"vn-b\"]");
    CHECK(acl && derived_from(acl, "virtual-network", b), "ACL of vn-b");
    json_decref(acl);

    /* a policy between them, created on node 3, attached on nodes 1 and 2 */
    CHECK(call(c3, member, "POST", "/network-policys",
               "{\"network-policy\": {\"fq_name\": [" PFQ ", \"a-b\"], "
               "\"network_policy_entries\": {\"policy_rule\": [{\"direction\": \"<>\", "
               "\"protocol\": \"tcp\", \"src_addresses\": [{\"virtual_network\": \"vn-a\"}], "
               "\"dst_addresses\": [{\"virtual_network\": \"vn-b\"}], "
               "\"dst_ports\": [{\"start_port\": 80, \"end_port\": 80}], "
               "\"action_list\": {\"simple_action\": \"pass\"}}]}}}",
               &r) == 201,
          "policy: %d %s", r.status, r.body);
    snprintf(pol, sizeof pol, "%s", jstr(r.doc, "network-policy", "uuid"));
    CHECK(callf(c1, member, "POST", "/ref-update", &r,
                "{\"type\": \"virtual-network\", \"uuid\": \"%s\", \"ref-type\": "
                "\"network-policy\", \"ref-uuid\": \"%s\", \"operation\": \"ADD\", \"attr\": "
                "{\"sequence\": {\"major\": 0, \"minor\": 0}}}",
                a, pol) == 200,
          "attach to vn-a: %d %s", r.status, r.body);
    CHECK(callf(c2, member, "POST", "/ref-update", &r,
                "{\"type\": \"virtual-network\", \"uuid\": \"%s\", \"ref-type\": "
                "\"network-policy\", \"ref-uuid\": \"%s\", \"operation\": \"ADD\", \"attr\": "
                "{\"sequence\": {\"major\": 0, \"minor\": 0}}}",
                b, pol) == 200,
          "attach to vn-b: %d %s", r.status, r.body);
    CHECK(wait_targets(c3, PFQ ", \"vn-a\"", "vn-a",
                       "target:64512:8000000/both target:64512:8000001/import", got, sizeof got),
          "vn-a imports vn-b: %s", got);
    CHECK(wait_targets(c3, PFQ ", \"vn-b\"", "vn-b",
                       "target:64512:8000001/both target:64512:8000000/import", got, sizeof got),
          "vn-b imports vn-a: %s", got);
    acl = get_by_fq(c3, "access-control-list", "[" PFQ ", \"vn-a\", \"vn-a\"]");
    json_t *rules = json_object_get(json_object_get(acl, "access_control_list_entries"), "acl_rule");
    const json_t *df1 = json_array_get(json_object_get(acl, "derived_from"), 1);
    CHECK(json_array_size(rules) == 2, "vn-a ACL has the rule and its reverse: %zu",
          json_array_size(rules));
    CHECK(strcmp(jstr(df1, "type", NULL), "network-policy") == 0 &&
              strcmp(jstr(df1, "uuid", NULL), pol) == 0,
          "vn-a ACL derived from the policy too");
    json_decref(acl);

    /* read-only: admin and member alike, with a JSON error */
    ri = get_by_fq(c1, "routing-instance", "[" PFQ ", \"vn-a\", \"vn-a\"]");
    CHECK(ri != NULL, "vn-a's instance on n1");
    snprintf(path, sizeof path, "/routing-instance/%s", jstr(ri, "uuid", NULL));
    const char *toks[2] = {admin_token, member};
    for (int i = 0; i < 2; i++) {
        CHECK(call(c1, toks[i], "PUT", path,
                   "{\"routing-instance\": {\"routing_instance_has_pnf\": true}}", &r) == 403 &&
                  r.doc && strstr(r.body, "read-only"),
              "PUT routing-instance (%s): %d %s", i ? "member" : "admin", r.status, r.body);
        CHECK(call(c2, toks[i], "DELETE", path, NULL, &r) == 403 && r.doc,
              "DELETE routing-instance: %d", r.status);
        CHECK(call(c3, toks[i], "POST", "/route-targets",
                   "{\"route-target\": {\"fq_name\": [\"target:64512:9000000\"]}}", &r) == 403 &&
                  r.doc,
              "POST route-target: %d %s", r.status, r.body);
        CHECK(callf(c3, toks[i], "POST", "/ref-update", &r,
                    "{\"type\": \"routing-instance\", \"uuid\": \"%s\", \"ref-type\": "
                    "\"route-target\", \"ref-fq-name\": [\"target:64512:8000001\"], "
                    "\"operation\": \"DELETE\"}",
                    jstr(ri, "uuid", NULL)) == 403,
              "ref-update on a routing-instance: %d %s", r.status, r.body);
    }
    CHECK(call(c2, member, "GET", path, NULL, &r) == 200, "member reads the instance: %d",
          r.status);
    json_decref(ri);

    /* detach from vn-b: both lose the import */
    CHECK(callf(c2, member, "POST", "/ref-update", &r,
                "{\"type\": \"virtual-network\", \"uuid\": \"%s\", \"ref-type\": "
                "\"network-policy\", \"ref-uuid\": \"%s\", \"operation\": \"DELETE\"}",
                b, pol) == 200,
          "detach from vn-b: %d %s", r.status, r.body);
    CHECK(wait_targets(c1, PFQ ", \"vn-a\"", "vn-a", "target:64512:8000000/both", got,
                       sizeof got),
          "vn-a after detach: %s", got);
    /* delete vn-a (detached first) and the policy: all it owned goes */
    CHECK(callf(c1, member, "POST", "/ref-update", &r,
                "{\"type\": \"virtual-network\", \"uuid\": \"%s\", \"ref-type\": "
                "\"network-policy\", \"ref-uuid\": \"%s\", \"operation\": \"DELETE\"}",
                a, pol) == 200,
          "detach from vn-a: %d", r.status);
    snprintf(path, sizeof path, "/virtual-network/%s", a);
    CHECK(call(c3, member, "DELETE", path, NULL, &r) == 200, "delete vn-a: %d %s", r.status,
          r.body);
    snprintf(path, sizeof path, "/network-policy/%s", pol);
    CHECK(call(c3, member, "DELETE", path, NULL, &r) == 200, "delete policy: %d %s", r.status,
          r.body);
    char u[64];
    CHECK(fq2id(c1, "routing-instance", "[" PFQ ", \"vn-a\", \"vn-a\"]", u) == 404,
          "vn-a's instance gone");
    CHECK(fq2id(c1, "access-control-list", "[" PFQ ", \"vn-a\", \"vn-a\"]", u) == 404,
          "vn-a's ACL gone");
    CHECK(fq2id(c1, "route-target", "[\"target:64512:8000000\"]", u) == 404,
          "vn-a's target gone");
    json_t *rts = ids("rt");
    CHECK(!json_object_get(rts, a), "vn-a's number released");
    json_decref(rts);
    /* the next network takes the lowest free number: vn-a's */
    CHECK(call(c2, member, "POST", "/virtual-networks",
               "{\"virtual-network\": {\"fq_name\": [" PFQ ", \"vn-c\"]}}", &r) == 201,
          "vn-c: %d %s", r.status, r.body);
    snprintf(cvn, sizeof cvn, "%s", jstr(r.doc, "virtual-network", "uuid"));
    rt = get_by_fq(c3, "route-target", "[\"target:64512:8000000\"]");
    CHECK(rt && derived_from(rt, "virtual-network", cvn), "vn-c reuses target:64512:8000000");
    json_decref(rt);
    json_t *vnis = ids("vni");
    CHECK(json_integer_value(json_object_get(vnis, cvn)) == 1, "vn-c reuses VNI 1");
    json_decref(vnis);
    api_resp_clear(&r);
    api_client_free(c1);
    api_client_free(c2);
    api_client_free(c3);
}

struct creator {
    int node, id;
    const char *token;
    int status;
    char uuid[64];
};

/* Version 2 over HTTPS: a floating IP's mapping (the route in the pool
 * network's instance and the NAT) and a virtual router's index are
 * readable with derived_from, on another node than the one written to;
 * deleting the floating IP removes its mapping (404). */
static void test_floating_ip_and_index(const char *member)
{
    struct api_client *c1 = client(0), *c2 = client(1), *c3 = client(2);
    struct api_resp r = {0};
    char ipam[64], pub[64], priv[64], pool[64], vm[64], vmi[64], iip[64], fip[64], fq[512];
    CHECK(call(c1, member, "POST", "/network-ipams",
               "{\"network-ipam\": {\"fq_name\": [" PFQ ", \"fip-ipam\"]}}", &r) == 201,
          "ipam: %d %s", r.status, r.body);
    snprintf(ipam, sizeof ipam, "%s", jstr(r.doc, "network-ipam", "uuid"));
    const char *nets[2][2] = {{"pub", "192.0.2.0"}, {"priv", "10.9.0.0"}};
    for (int i = 0; i < 2; i++) {
        CHECK(callf(c1, member, "POST", "/virtual-networks", &r,
                    "{\"virtual-network\": {\"fq_name\": [" PFQ ", \"%s\"], \"network_ipam_refs\": "
                    "[{\"uuid\": \"%s\", \"attr\": {\"ipam_subnets\": [{\"subnet\": {\"ip_prefix\": "
                    "\"%s\", \"ip_prefix_len\": 24}}]}}]}}",
                    nets[i][0], ipam, nets[i][1]) == 201,
              "%s: %d %s", nets[i][0], r.status, r.body);
        snprintf(i ? priv : pub, 64, "%s", jstr(r.doc, "virtual-network", "uuid"));
    }
    CHECK(callf(c2, member, "POST", "/floating-ip-pools", &r,
                "{\"floating-ip-pool\": {\"fq_name\": [" PFQ ", \"pub\", \"pool\"], "
                "\"parent_type\": \"virtual-network\", \"parent_uuid\": \"%s\"}}", pub) == 201,
          "pool: %d %s", r.status, r.body);
    snprintf(pool, sizeof pool, "%s", jstr(r.doc, "floating-ip-pool", "uuid"));
    CHECK(call(c2, admin_token, "POST", "/virtual-machines",
               "{\"virtual-machine\": {\"fq_name\": [\"fip-vm\"]}}", &r) == 201,
          "vm: %d %s", r.status, r.body);
    snprintf(vm, sizeof vm, "%s", jstr(r.doc, "virtual-machine", "uuid"));
    CHECK(callf(c2, member, "POST", "/virtual-machine-interfaces", &r,
                "{\"virtual-machine-interface\": {\"fq_name\": [" PFQ ", \"fip-port\"], "
                "\"parent_type\": \"project\", \"virtual_network_refs\": [{\"uuid\": \"%s\"}], "
                "\"virtual_machine_refs\": [{\"uuid\": \"%s\"}]}}", priv, vm) == 201,
          "port: %d %s", r.status, r.body);
    snprintf(vmi, sizeof vmi, "%s", jstr(r.doc, "virtual-machine-interface", "uuid"));
    CHECK(callf(c3, admin_token, "POST", "/instance-ips", &r,
                "{\"instance-ip\": {\"virtual_network_refs\": [{\"uuid\": \"%s\"}], "
                "\"virtual_machine_interface_refs\": [{\"uuid\": \"%s\"}]}}", priv, vmi) == 201,
          "instance-ip: %d %s", r.status, r.body);
    snprintf(iip, sizeof iip, "%s", jstr(r.doc, "instance-ip", "uuid"));
    CHECK(callf(c3, member, "POST", "/floating-ips", &r,
                "{\"floating-ip\": {\"fq_name\": [" PFQ ", \"pub\", \"pool\", \"f1\"], "
                "\"parent_type\": \"floating-ip-pool\", \"parent_uuid\": \"%s\", "
                "\"floating_ip_address\": \"192.0.2.77\", "
                "\"virtual_machine_interface_refs\": [{\"uuid\": \"%s\"}]}}", pool, vmi) == 201,
          "floating-ip: %d %s", r.status, r.body);
    snprintf(fip, sizeof fip, "%s", jstr(r.doc, "floating-ip", "uuid"));
    snprintf(fq, sizeof fq, "[" PFQ ", \"pub\", \"pub\", \"%s\"]", fip);
    json_t *m = get_by_fq(c1, "floating-ip-mapping", fq);
    const json_t *nat = json_object_get(m, "floating_ip_mapping");
    CHECK(m && derived_from(m, "floating-ip", fip), "floating-ip-mapping with derived_from");
    CHECK(strcmp(jstr(nat, "prefix", NULL), "192.0.2.77/32") == 0 &&
              strcmp(jstr(nat, "fixed_ip_address", NULL), "10.9.0.3") == 0 &&
              strcmp(jstr(nat, "virtual_machine_interface", NULL), vmi) == 0 &&
              strcmp(jstr(nat, "floating_routing_instance", NULL), "default-domain:cp:pub:pub") == 0 &&
              strcmp(jstr(nat, "fixed_routing_instance", NULL), "default-domain:cp:priv:priv") == 0,
          "mapping: route and NAT");
    json_decref(m);
    /* the router hosting the machine lists the port, its instances and the pool's */
    CHECK(callf(c1, admin_token, "POST", "/virtual-routers", &r,
                "{\"virtual-router\": {\"fq_name\": [\"default-global-system-config\", \"cr-1\"], "
                "\"virtual_router_ip_address\": \"172.16.9.1\", "
                "\"virtual_machine_refs\": [{\"uuid\": \"%s\"}]}}", vm) == 201,
          "virtual-router: %d %s", r.status, r.body);
    json_t *idx = get_by_fq(c2, "virtual-router-index", "[\"default-global-system-config\", \"cr-1\", \"index\"]");
    const json_t *vri = json_object_get(idx, "virtual_router_index");
    const json_t *ifs = json_object_get(vri, "interfaces");
    CHECK(idx && derived_from(idx, "virtual-router", jstr(r.doc, "virtual-router", "uuid")) &&
              json_array_size(ifs) == 1 &&
              strcmp(jstr(json_array_get(ifs, 0), "uuid", NULL), vmi) == 0 &&
              json_array_size(json_object_get(vri, "routing_instances")) == 2,
          "virtual-router-index lists the port and two instances");
    json_decref(idx);
    /* the floating IP goes: so does its mapping */
    char path[128];
    snprintf(path, sizeof path, "/floating-ip/%s", fip);
    CHECK(call(c2, member, "DELETE", path, NULL, &r) == 200, "delete floating-ip: %d %s", r.status,
          r.body);
    m = get_by_fq(c3, "floating-ip-mapping", fq);
    CHECK(m == NULL, "mapping gone with the floating IP");
    json_decref(m);
    api_resp_clear(&r);
    api_client_free(c1);
    api_client_free(c2);
    api_client_free(c3);
}

static void *create_thread(void *arg)
{
    struct creator *k = arg;
    struct api_client *c = client(k->node);
    struct api_resp r = {0};
    k->status = callf(c, k->token, "POST", "/virtual-networks", &r,
                      "{\"virtual-network\": {\"fq_name\": [" PFQ ", \"conc-%d\"]}}", k->id);
    if (k->status != 201) {
        fprintf(stderr, "conc-%d on n%d: %d %s\n", k->id, k->node + 1, k->status, r.body ?: "");
    }
    snprintf(k->uuid, sizeof k->uuid, "%s", jstr(r.doc, "virtual-network", "uuid"));
    api_resp_clear(&r);
    api_client_free(c);
    return NULL;
}

static void test_concurrent(const char *member)
{
    enum { N = 20 };
    struct creator k[N];
    pthread_t t[N];
    double t0 = now_s();
    for (int i = 0; i < N; i++) {
        k[i] = (struct creator){.node = i % 2, .id = i, .token = member};
        pthread_create(&t[i], NULL, create_thread, &k[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
    }
    printf("%d concurrent creates through 2 nodes: %.2f s\n", N, now_s() - t0);
    json_t *rts = ids("rt"), *vnis = ids("vni"), *seen_rt = json_object(), *seen_vni = json_object();
    int ok = 0;
    for (int i = 0; i < N; i++) {
        CHECK(k[i].status == 201, "conc-%d: %d", i, k[i].status);
        json_int_t rn = json_integer_value(json_object_get(rts, k[i].uuid));
        json_int_t vn = json_integer_value(json_object_get(vnis, k[i].uuid));
        char key[32];
        CHECK(rn >= 8000000 && vn >= 1, "conc-%d has a target (%lld) and a VNI (%lld)", i,
              (long long)rn, (long long)vn);
        snprintf(key, sizeof key, "%lld", (long long)rn);
        CHECK(!json_object_get(seen_rt, key), "route target %s given twice", key);
        json_object_set_new(seen_rt, key, json_true());
        snprintf(key, sizeof key, "%lld", (long long)vn);
        CHECK(!json_object_get(seen_vni, key), "VNI %s given twice", key);
        json_object_set_new(seen_vni, key, json_true());
        ok += k[i].status == 201;
    }
    /* numbers stay dense: lowest free first, so 22 networks use 22 numbers */
    json_int_t max_rt = 0;
    const char *o;
    json_t *v;
    json_object_foreach(rts, o, v) {
        max_rt = json_integer_value(v) > max_rt ? json_integer_value(v) : max_rt;
    }
    CHECK(max_rt - 8000000 + 1 == (json_int_t)json_object_size(rts),
          "route targets dense: max %lld for %zu networks", (long long)max_rt,
          json_object_size(rts));
    printf("%d networks: %zu distinct route targets, %zu distinct VNIs\n", ok,
           json_object_size(seen_rt), json_object_size(seen_vni));
    json_decref(rts);
    json_decref(vnis);
    json_decref(seen_rt);
    json_decref(seen_vni);
}

/* Every node's status: the same revision and hash. */
static void test_hashes(void)
{
    uint64_t rev = 0;
    CHECK(cluster_converge(&cl, 30000, &rev) == 0, "replicas converge");
    char hash[CLUSTER_NODES][80];
    for (int i = 0; i < CLUSTER_NODES; i++) {
        struct store_client *sc = NULL;
        struct buf raw;
        int status = 0;
        hash[i][0] = '\0';
        buf_init(&raw, 0);
        if (cluster_client(&cl, i, 2000, &sc) == 0 &&
            store_client_call(sc, STORE_MSG_STATUS, 0, NULL, 0, &status, &raw) == 0 && status == 0) {
            json_t *doc = json_loadb((const char *)raw.data, raw.size, 0, NULL);
            const json_t *st = json_object_get(doc, "store");
            snprintf(hash[i], sizeof hash[i], "%s", jstr(st, "hash", NULL));
            printf("n%d: revision %lld hash %s\n", i + 1,
                   (long long)json_integer_value(json_object_get(st, "revision")), hash[i]);
            json_decref(doc);
        }
        buf_destroy(&raw);
        store_client_close(sc);
    }
    CHECK(hash[0][0] && strcmp(hash[0], hash[1]) == 0 && strcmp(hash[1], hash[2]) == 0,
          "consistency hashes differ: %s %s %s", hash[0], hash[1], hash[2]);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_api_compiler STRATAD WORKDIR\n");
        return 2;
    }
    if (cluster_up(argv[1], argv[2], (uint16_t)(8300 + (getpid() % 50) * 4)) != 0) {
        return 1;
    }
    bootstrap_token();
    roles_start();
    if (atomic_load(&errors) == 0) {
        char member[128];
        test_lifecycle(member);
        test_floating_ip_and_index(member);
        test_concurrent(member);
    }
    for (int i = 0; i < CLUSTER_NODES; i++) {
        api_stop(i);
    }
    test_hashes();
    CHECK(cluster_check_logs(&cl) == 0, "store logs show crashes");
    tls_ctx_free(client_tls);
    cluster_destroy(&cl);
    wolfSSL_Cleanup();
    int e = atomic_load(&errors);
    printf("%s (%d errors)\n", e ? "FAILED" : "OK", e);
    return e ? 1 : 0;
}
