/* Unit tests of enrolment: the PKI additions (fingerprints, issuing for a
 * public key), the pure join pieces (appliance/join.c: tokens, records,
 * checks, leaf parameters, the joiner's node config) and the REST
 * operations (appliance/api_join.c through api_handle) over an in-process
 * store state machine: create/list/revoke join tokens as admin only,
 * enrolment that binds the token's identity, single use (409, also when a
 * rival enrolment commits between the read and the write), expiry and
 * forgery (401), and no state change on every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "appliance/api_int.h"
#include "appliance/join.h"
#include "store/cmd.h"
#include "store/fsm.h"

static struct schema *g_schema;

/* ---- PKI additions ---- */

static void test_fingerprint(void **state)
{
    (void)state;
    struct pki_cert *ca;
    struct pki_key *key;
    char hex[PKI_FINGERPRINT_HEX], norm[PKI_FINGERPRINT_HEX], colons[200] = "SHA256:";
    assert_int_equal(pki_ca_create("test-ca", 30, &ca, &key), 0);
    assert_int_equal(pki_cert_fingerprint(ca, hex), 0);
    /* It is the SHA-256 of the DER. */
    size_t der_size;
    const uint8_t *der = pki_cert_der(ca, &der_size);
    uint8_t h[32];
    assert_int_equal(wc_Sha256Hash(der, (word32)der_size, h), 0);
    char want[65];
    for (int i = 0; i < 32; i++) {
        snprintf(want + 2 * i, 3, "%02x", h[i]);
    }
    assert_string_equal(hex, want);
    /* The forms people write normalize to it. */
    assert_int_equal(pki_fingerprint_normalize(hex, norm), 0);
    assert_string_equal(norm, hex);
    for (int i = 0; i < 32; i++) {
        char byte[4];
        snprintf(byte, sizeof byte, "%c%c%s", hex[2 * i] >= 'a' ? hex[2 * i] - 32 : hex[2 * i],
                 hex[2 * i + 1] >= 'a' ? hex[2 * i + 1] - 32 : hex[2 * i + 1], i < 31 ? ":" : "");
        strcat(colons, byte);
    }
    assert_int_equal(pki_fingerprint_normalize(colons, norm), 0);
    assert_string_equal(norm, hex);
    /* Wrong lengths and characters are refused. */
    char shorter[64];
    memcpy(shorter, hex, 63);
    shorter[63] = '\0';
    assert_int_equal(pki_fingerprint_normalize(shorter, norm), PKI_EINVAL);
    char longer[80];
    snprintf(longer, sizeof longer, "%s00", hex);
    assert_int_equal(pki_fingerprint_normalize(longer, norm), PKI_EINVAL);
    char bad[65];
    memcpy(bad, hex, 65);
    bad[10] = 'g';
    assert_int_equal(pki_fingerprint_normalize(bad, norm), PKI_EINVAL);
    assert_int_equal(pki_fingerprint_normalize("md5:00", norm), PKI_EINVAL);
    pki_cert_free(ca);
    pki_key_free(key);
}

static void test_issue_for_public(void **state)
{
    (void)state;
    struct pki_cert *ca, *other_ca, *leaf = NULL;
    struct pki_key *ca_key, *other_key, *joiner;
    char *pub;
    size_t pub_size;
    char err[256];
    assert_int_equal(pki_ca_create("test-ca", 30, &ca, &ca_key), 0);
    assert_int_equal(pki_ca_create("other-ca", 30, &other_ca, &other_key), 0);
    assert_int_equal(pki_key_generate(&joiner), 0);
    assert_int_equal(pki_key_public_pem(joiner, &pub, &pub_size), 0);
    assert_non_null(strstr(pub, "-----BEGIN PUBLIC KEY-----"));
    assert_null(strstr(pub, "PRIVATE"));
    const char *dns[1] = {"vr-1"};
    struct pki_leaf_params p = {.common_name = "vr-1", .dns_names = dns, .dns_count = 1,
                                .uri = PKI_ROLE_AGENT, .usage = PKI_USAGE_BOTH, .days_valid = 10};
    assert_int_equal(pki_leaf_issue_for_public(ca, ca_key, &p, pub, pub_size, &leaf), 0);
    assert_int_equal(pki_key_matches_cert(joiner, leaf), 0);
    assert_int_equal(pki_cert_verify(ca, leaf, PKI_USAGE_BOTH, time(NULL), err, sizeof err), 0);
    assert_int_not_equal(pki_cert_verify(other_ca, leaf, 0, time(NULL), err, sizeof err), 0);
    assert_string_equal(pki_cert_identity(leaf), "vr-1");
    assert_int_equal(pki_cert_has_role(leaf, PKI_ROLE_AGENT), 1);
    assert_int_equal(pki_cert_has_role(leaf, PKI_ROLE_NODE), 0);
    pki_cert_free(leaf);
    /* Not a public key; a private key PEM; a mismatched CA key. */
    leaf = NULL;
    assert_int_equal(pki_leaf_issue_for_public(ca, ca_key, &p, "hello", 5, &leaf), PKI_EFORMAT);
    char *priv;
    size_t priv_size;
    assert_int_equal(pki_key_to_pem(joiner, &priv, &priv_size), 0);
    assert_int_equal(pki_leaf_issue_for_public(ca, ca_key, &p, priv, priv_size, &leaf), PKI_EFORMAT);
    assert_int_equal(pki_leaf_issue_for_public(ca, other_key, &p, pub, pub_size, &leaf), PKI_EKEYMISMATCH);
    assert_null(leaf);
    free(priv);
    free(pub);
    pki_key_free(joiner);
    pki_cert_free(ca);
    pki_key_free(ca_key);
    pki_cert_free(other_ca);
    pki_key_free(other_key);
}

/* ---- pure join pieces ---- */

static void test_token_and_names(void **state)
{
    (void)state;
    char a[JOIN_TOKEN_SIZE], b[JOIN_TOKEN_SIZE], h[JOIN_HASH_HEX];
    assert_int_equal(join_token_generate(a), 0);
    assert_int_equal(join_token_generate(b), 0);
    assert_int_equal(strlen(a), 3 + 43);
    assert_true(strncmp(a, "sj_", 3) == 0);
    assert_string_not_equal(a, b);
    assert_true(join_token_wellformed(a));
    assert_false(join_token_wellformed("st_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_false(join_token_wellformed("sj_short"));
    a[10] = '+';
    assert_false(join_token_wellformed(a));
    assert_int_equal(join_token_hash("sj_x", h), 0);
    assert_int_equal(strlen(h), 64);
    enum join_kind k;
    assert_int_equal(join_kind_parse("controller", &k), 0);
    assert_int_equal(k, JOIN_KIND_CONTROLLER);
    assert_int_equal(join_kind_parse("vrouter", &k), 0);
    assert_int_equal(k, JOIN_KIND_VROUTER);
    assert_int_equal(join_kind_parse("switch", &k), JOIN_EINVAL);
    assert_int_equal(join_kind_parse(NULL, &k), JOIN_EINVAL);
    assert_true(join_name_valid("ctl4"));
    assert_true(join_name_valid("vr-compute_1.a"));
    assert_false(join_name_valid(""));
    assert_false(join_name_valid("../etc"));
    assert_false(join_name_valid("a/b"));
    assert_false(join_name_valid("-x"));
    char longname[80];
    memset(longname, 'a', 64);
    longname[64] = '\0';
    assert_false(join_name_valid(longname));
}

static void test_record_and_leaf(void **state)
{
    (void)state;
    struct join_record r = {.kind = JOIN_KIND_CONTROLLER, .created = 1000, .expires = 2000}, back;
    snprintf(r.uuid, sizeof r.uuid, "u-1");
    snprintf(r.name, sizeof r.name, "ctl4");
    json_t *doc = join_record_to_json(&r);
    assert_int_equal(join_record_from_json(doc, &back), 0);
    json_decref(doc);
    assert_string_equal(back.name, "ctl4");
    assert_int_equal(back.kind, JOIN_KIND_CONTROLLER);
    assert_int_equal(back.expires, 2000);
    assert_int_equal(back.used_at, 0);
    assert_int_equal(join_record_check(&back, 1999), 0);
    assert_string_equal(join_record_state(&back, 1999), "unused");
    assert_int_equal(join_record_check(&back, 2000), JOIN_EEXPIRED);
    assert_string_equal(join_record_state(&back, 2000), "expired");
    back.used_at = 1500;
    assert_int_equal(join_record_check(&back, 1600), JOIN_EUSED);
    assert_string_equal(join_record_state(&back, 1600), "used");
    /* Malformed records. */
    json_t *bad = json_pack("{s:s,s:s,s:s,s:i,s:i}", "uuid", "u", "kind", "switch", "name", "x", "created", 1,
                            "expires", 2);
    assert_int_equal(join_record_from_json(bad, &back), JOIN_EINVAL);
    json_decref(bad);
    bad = json_pack("{s:s,s:s,s:s,s:i,s:i}", "uuid", "u", "kind", "vrouter", "name", "x", "created", 5,
                    "expires", 5);
    assert_int_equal(join_record_from_json(bad, &back), JOIN_EINVAL);
    json_decref(bad);

    /* A controller needs an address; the token's beats the joiner's. */
    struct join_leaf leaf;
    assert_int_equal(join_leaf_params(&r, NULL, &leaf), JOIN_EINVAL);
    assert_int_equal(join_leaf_params(&r, "not-an-ip", &leaf), JOIN_EINVAL);
    assert_int_equal(join_leaf_params(&r, "10.0.0.14", &leaf), 0);
    assert_string_equal(leaf.params.ip_addrs[0], "10.0.0.14");
    assert_string_equal(leaf.params.uri, PKI_ROLE_NODE);
    assert_string_equal(leaf.params.dns_names[0], "ctl4");
    snprintf(r.address, sizeof r.address, "10.0.0.4");
    assert_int_equal(join_leaf_params(&r, "10.0.0.99", &leaf), 0);
    assert_string_equal(leaf.params.ip_addrs[0], "10.0.0.4");
    /* An agent: the name, the agent role, no IP. */
    r.kind = JOIN_KIND_VROUTER;
    r.address[0] = '\0';
    assert_int_equal(join_leaf_params(&r, "10.0.0.99", &leaf), 0);
    assert_int_equal(leaf.params.ip_count, 0);
    assert_string_equal(leaf.params.uri, PKI_ROLE_AGENT);
    assert_string_equal(leaf.params.common_name, "ctl4");
}

static void test_node_config(void **state)
{
    (void)state;
    json_t *members = json_pack("[s,s,s]", "1=n1@127.0.0.1:7100", "2=n2@127.0.0.2:7100", "5=n5@127.0.0.5:7100");
    struct join_node_opts o = {.name = "n6", .address = "127.0.0.6", .raft_port = 7100, .api_port = 8082,
                               .data_dir = "/d", .pki_dir = "/p"};
    json_t *cfg = NULL;
    char err[256];
    assert_int_equal(join_node_config(members, &o, &cfg, err, sizeof err), 0);
    assert_int_equal(json_integer_value(json_object_get(cfg, "id")), 6);
    json_t *m = json_object_get(cfg, "members");
    assert_int_equal(json_array_size(m), 4);
    assert_string_equal(json_string_value(json_array_get(m, 3)), "6=n6@127.0.0.6:7100");
    assert_int_equal(json_integer_value(json_object_get(cfg, "api_port")), 8082);
    assert_string_equal(json_string_value(json_array_get(json_object_get(cfg, "roles"), 1)), "config");
    json_decref(cfg);
    /* An explicit id; taken ids and names; malformed members. */
    o.id = 9;
    assert_int_equal(join_node_config(members, &o, &cfg, err, sizeof err), 0);
    assert_int_equal(json_integer_value(json_object_get(cfg, "id")), 9);
    json_decref(cfg);
    o.id = 2;
    assert_int_equal(join_node_config(members, &o, &cfg, err, sizeof err), JOIN_EINVAL);
    assert_null(cfg);
    o.id = 0;
    o.name = "n2";
    assert_int_equal(join_node_config(members, &o, &cfg, err, sizeof err), JOIN_EINVAL);
    assert_non_null(strstr(err, "already named n2"));
    o.name = "n6";
    json_array_append_new(members, json_string("x=broken"));
    assert_int_equal(join_node_config(members, &o, &cfg, err, sizeof err), JOIN_EINVAL);
    json_decref(members);
    assert_int_equal(join_node_config(NULL, &o, &cfg, err, sizeof err), JOIN_EINVAL);
}

/* ---- the REST operations ---- */

struct fx {
    char dir[64];
    struct store_fsm *fsm;
    struct graph_kv_fsm fk;
    struct graph g;
    struct api_shared sh;
    struct graph_error err;
    struct pki_cert *ca;
    struct pki_key *ca_key;
    char admin[API_TOKEN_SIZE], member[API_TOKEN_SIZE];
    char pub[512];
    struct pki_key *joiner;
};

static int fake_members(struct graph *g, json_t **out)
{
    (void)g;
    *out = json_pack("[s,s]", "1=n1@127.0.0.1:7100", "2=n2@127.0.0.2:7100");
    return 0;
}

static uint64_t revision(struct fx *f)
{
    struct store_fsm_status st;
    assert_int_equal(store_fsm_status(f->fsm, &st), 0);
    return st.revision;
}

/* Runs 'route' with 'bearer' and 'body'; the status, and the answer in '*doc'. */
static int call(struct fx *f, enum api_route route, const char *bearer, const char *uuid, const char *body,
                json_t **doc)
{
    struct api_call c = {.route = route, .uuid = uuid, .host = "test",
                         .body = (const uint8_t *)body, .body_size = body ? strlen(body) : 0};
    struct api_result res;
    api_handle(&f->sh, &f->g, bearer, &c, &res);
    json_t *d = json_loadb(res.text, res.size, 0, NULL);
    assert_non_null(d);
    int st = res.status;
    api_result_destroy(&res);
    if (doc) {
        *doc = d;
    } else {
        json_decref(d);
    }
    return st;
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/strata-join-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct store_fsm_config c = {.no_sync = true, .map_size = 64u << 20};
    assert_int_equal(store_fsm_open(&f->fsm, f->dir, &c), 0);
    graph_kv_fsm_init(&f->fk, f->fsm, 0);
    graph_init(&f->g, g_schema, graph_kv_fsm(&f->fk));
    assert_int_equal(graph_bootstrap(&f->g, "test", &f->err), 0);
    assert_int_equal(api_shared_init(&f->sh, g_schema), 0);
    assert_int_equal(pki_ca_create("test-ca", 30, &f->ca, &f->ca_key), 0);
    f->sh.ca = f->ca;
    f->sh.ca_key = f->ca_key;
    f->sh.members = fake_members;
    assert_int_equal(api_token_create(&f->g, API_ROLE_ADMIN, NULL, 0, "a", "test", f->admin, NULL, &f->err), 0);
    assert_int_equal(api_token_create(&f->g, API_ROLE_MEMBER, NULL, 0, "m", "test", f->member, NULL, &f->err), 0);
    char *pem;
    size_t size;
    assert_int_equal(pki_key_generate(&f->joiner), 0);
    assert_int_equal(pki_key_public_pem(f->joiner, &pem, &size), 0);
    /* as a JSON string: newlines escaped */
    json_t *s = json_string(pem);
    char *text = json_dumps(s, JSON_ENCODE_ANY);
    snprintf(f->pub, sizeof f->pub, "%s", text);
    free(text);
    json_decref(s);
    free(pem);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    char p[128];
    api_shared_destroy(&f->sh);
    store_fsm_close(f->fsm);
    pki_cert_free(f->ca);
    pki_key_free(f->ca_key);
    pki_key_free(f->joiner);
    snprintf(p, sizeof p, "%s/data.mdb", f->dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", f->dir);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Creates a join token; its secret into 'token', its uuid into 'uuid'. */
static void mint(struct fx *f, const char *body, char token[JOIN_TOKEN_SIZE], char uuid[GRAPH_UUID_SIZE])
{
    json_t *doc;
    assert_int_equal(call(f, API_R_JOIN_CREATE, f->admin, NULL, body, &doc), 201);
    snprintf(token, JOIN_TOKEN_SIZE, "%s", json_string_value(json_object_get(doc, "token")));
    json_t *jt = json_object_get(doc, "join-token");
    snprintf(uuid, GRAPH_UUID_SIZE, "%s", json_string_value(json_object_get(jt, "uuid")));
    assert_string_equal(json_string_value(json_object_get(jt, "state")), "unused");
    assert_null(json_object_get(jt, "token_hash"));
    json_decref(doc);
}

static const char *state_of(struct fx *f, const char *uuid, char *out, size_t size)
{
    json_t *doc;
    assert_int_equal(call(f, API_R_JOIN_LIST, f->admin, NULL, NULL, &doc), 200);
    size_t i;
    json_t *it;
    snprintf(out, size, "(absent)");
    json_array_foreach(json_object_get(doc, "join-tokens"), i, it) {
        if (strcmp(json_string_value(json_object_get(it, "uuid")), uuid) == 0) {
            snprintf(out, size, "%s", json_string_value(json_object_get(it, "state")));
        }
    }
    json_decref(doc);
    return out;
}

static void test_admin_only_and_bad_input(void **state)
{
    struct fx *f = *state;
    uint64_t rev = revision(f);
    const char *ok = "{\"kind\": \"vrouter\", \"name\": \"vr1\"}";
    assert_int_equal(call(f, API_R_JOIN_CREATE, f->member, NULL, ok, NULL), 403);
    assert_int_equal(call(f, API_R_JOIN_LIST, f->member, NULL, NULL, NULL), 403);
    assert_int_equal(call(f, API_R_JOIN_CREATE, NULL, NULL, ok, NULL), 401);
    const char *bad[] = {
        "{\"kind\": \"switch\", \"name\": \"x\"}",
        "{\"kind\": \"vrouter\"}",
        "{\"kind\": \"vrouter\", \"name\": \"a/b\"}",
        "{\"kind\": \"vrouter\", \"name\": \"x\", \"ttl\": 0}",
        "{\"kind\": \"vrouter\", \"name\": \"x\", \"ttl\": 99999999}",
        "{\"kind\": \"vrouter\", \"name\": \"x\", \"ttl\": \"1\"}",
        "{\"kind\": \"vrouter\", \"name\": \"x\", \"address\": \"10.0.0.1\"}",
        "{\"kind\": \"controller\", \"name\": \"x\", \"address\": \"nope\"}",
        "{\"kind\": \"vrouter\", \"name\": \"x\", \"extra\": 1}",
        "[]",
        "{",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *doc;
        assert_int_equal(call(f, API_R_JOIN_CREATE, f->admin, NULL, bad[i], &doc), 400);
        assert_non_null(json_object_get(doc, "error"));
        json_decref(doc);
    }
    assert_int_equal(revision(f), rev);
    /* Not inside a batch either. */
    char batch[256];
    snprintf(batch, sizeof batch, "{\"operations\": [{\"method\": \"POST\", \"path\": \"/join-tokens\", \"body\": %s}]}",
             ok);
    json_t *doc;
    assert_int_equal(call(f, API_R_BATCH, f->admin, NULL, batch, &doc), 200);
    json_decref(doc);
    assert_int_equal(revision(f), rev);
}

static void test_enroll_agent_single_use(void **state)
{
    struct fx *f = *state;
    char token[JOIN_TOKEN_SIZE], uuid[GRAPH_UUID_SIZE], st[32], body[1024], err[256];
    mint(f, "{\"kind\": \"vrouter\", \"name\": \"vr-compute1\", \"ttl\": 600}", token, uuid);
    /* The joiner may not choose another identity: a name in the body is refused. */
    snprintf(body, sizeof body, "{\"public_key\": %s, \"name\": \"other\"}", f->pub);
    uint64_t rev = revision(f);
    assert_int_equal(call(f, API_R_ENROLL, token, NULL, body, NULL), 400);
    snprintf(body, sizeof body, "{\"public_key\": \"garbage\"}");
    assert_int_equal(call(f, API_R_ENROLL, token, NULL, body, NULL), 400);
    snprintf(body, sizeof body, "{\"public_key\": %s, \"kind\": \"controller\"}", f->pub);
    assert_int_equal(call(f, API_R_ENROLL, token, NULL, body, NULL), 403);
    assert_int_equal(revision(f), rev);
    assert_string_equal(state_of(f, uuid, st, sizeof st), "unused");

    snprintf(body, sizeof body, "{\"public_key\": %s, \"kind\": \"vrouter\"}", f->pub);
    json_t *doc;
    assert_int_equal(call(f, API_R_ENROLL, token, NULL, body, &doc), 200);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "vr-compute1");
    assert_null(json_object_get(doc, "members"));
    const char *pem = json_string_value(json_object_get(doc, "certificate"));
    struct pki_cert *leaf;
    assert_int_equal(pki_cert_from_pem(pem, strlen(pem), &leaf), 0);
    assert_int_equal(pki_key_matches_cert(f->joiner, leaf), 0);
    assert_int_equal(pki_cert_verify(f->ca, leaf, PKI_USAGE_BOTH, time(NULL), err, sizeof err), 0);
    assert_string_equal(pki_cert_identity(leaf), "vr-compute1");
    assert_int_equal(pki_cert_has_role(leaf, PKI_ROLE_AGENT), 1);
    pki_cert_free(leaf);
    json_decref(doc);
    assert_string_equal(state_of(f, uuid, st, sizeof st), "used");
    /* A second use: 409, nothing written. */
    rev = revision(f);
    assert_int_equal(call(f, API_R_ENROLL, token, NULL, body, NULL), 409);
    assert_int_equal(revision(f), rev);
}

static void test_enroll_refusals(void **state)
{
    struct fx *f = *state;
    char token[JOIN_TOKEN_SIZE], uuid[GRAPH_UUID_SIZE], body[1024], forged[JOIN_TOKEN_SIZE], st[32];
    snprintf(body, sizeof body, "{\"public_key\": %s, \"address\": \"10.0.0.14\"}", f->pub);
    mint(f, "{\"kind\": \"controller\", \"name\": \"ctl4\"}", token, uuid);
    uint64_t rev = revision(f);
    /* Missing, malformed, forged, API token instead of a join token. */
    assert_int_equal(call(f, API_R_ENROLL, NULL, NULL, body, NULL), 401);
    assert_int_equal(call(f, API_R_ENROLL, "sj_nope", NULL, body, NULL), 401);
    assert_int_equal(join_token_generate(forged), 0);
    assert_int_equal(call(f, API_R_ENROLL, forged, NULL, body, NULL), 401);
    assert_int_equal(call(f, API_R_ENROLL, f->admin, NULL, body, NULL), 401);
    /* A controller without an address. */
    char noaddr[1024];
    snprintf(noaddr, sizeof noaddr, "{\"public_key\": %s}", f->pub);
    assert_int_equal(call(f, API_R_ENROLL, token, NULL, noaddr, NULL), 400);
    /* No CA key on this node; no member list: 503, token kept. */
    f->sh.ca_key = NULL;
    assert_int_equal(call(f, API_R_ENROLL, token, NULL, body, NULL), 503);
    f->sh.ca_key = f->ca_key;
    f->sh.members = NULL;
    assert_int_equal(call(f, API_R_ENROLL, token, NULL, body, NULL), 503);
    f->sh.members = fake_members;
    assert_int_equal(revision(f), rev);
    assert_string_equal(state_of(f, uuid, st, sizeof st), "unused");
    /* Expired: the handler's clock is past the expiry. */
    struct api_call c = {.route = API_R_ENROLL, .host = "test", .body = (const uint8_t *)body,
                         .body_size = strlen(body)};
    struct api_join_answer a;
    api_enroll(&f->sh, &f->g, token, &c, time(NULL) + JOIN_TTL_DEFAULT + 1, &a);
    assert_int_equal(a.status, 401);
    assert_non_null(strstr(a.msg, "expired"));
    api_join_answer_destroy(&a);
    assert_int_equal(revision(f), rev);
    /* Revoked: 401; revoking twice: 404. */
    char t2[JOIN_TOKEN_SIZE], u2[GRAPH_UUID_SIZE];
    mint(f, "{\"kind\": \"controller\", \"name\": \"ctl5\", \"address\": \"10.0.0.15\"}", t2, u2);
    assert_int_equal(call(f, API_R_JOIN_DELETE, f->member, u2, NULL, NULL), 403);
    assert_int_equal(call(f, API_R_JOIN_DELETE, f->admin, u2, NULL, NULL), 200);
    assert_int_equal(call(f, API_R_JOIN_DELETE, f->admin, u2, NULL, NULL), 404);
    assert_string_equal(state_of(f, u2, st, sizeof st), "(absent)");
    rev = revision(f);
    assert_int_equal(call(f, API_R_ENROLL, t2, NULL, body, NULL), 401);
    assert_int_equal(revision(f), rev);
    /* The real one: a node certificate with the token's name and the
     * joiner's address, and the members to join. */
    json_t *doc;
    assert_int_equal(call(f, API_R_ENROLL, token, NULL, body, &doc), 200);
    assert_string_equal(json_string_value(json_object_get(doc, "kind")), "controller");
    assert_string_equal(json_string_value(json_object_get(doc, "address")), "10.0.0.14");
    assert_int_equal(json_array_size(json_object_get(doc, "members")), 2);
    const char *pem = json_string_value(json_object_get(doc, "certificate"));
    struct pki_cert *leaf;
    assert_int_equal(pki_cert_from_pem(pem, strlen(pem), &leaf), 0);
    assert_string_equal(pki_cert_identity(leaf), "ctl4");
    assert_int_equal(pki_cert_has_role(leaf, PKI_ROLE_NODE), 1);
    assert_int_equal(pki_cert_matches_name(leaf, "10.0.0.14"), 1);
    pki_cert_free(leaf);
    json_decref(doc);
    /* The audit trail names the creation, the revocation and the enrolment. */
    json_t *list;
    int n_create = 0, n_delete = 0, n_enroll = 0;
    struct store_op op = {.kind = STORE_OP_RANGE, .sel = store_sel_prefix("/c/a/", 5)};
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(store_fsm_range(f->fsm, &op, &out), 0);
    struct store_reply reply;
    assert_int_equal(store_reply_decode(&reply, out.data, out.size), 0);
    for (uint32_t i = 0; i < reply.results[0].kvs_len; i++) {
        list = json_loadb((const char *)reply.results[0].kvs[i].value, reply.results[0].kvs[i].value_size, 0, NULL);
        const char *type = json_string_value(json_object_get(list, "type"));
        const char *op_name = json_string_value(json_object_get(list, "op"));
        if (type && strcmp(type, "join-token") == 0) {
            n_create += strcmp(op_name, "create") == 0;
            n_delete += strcmp(op_name, "delete") == 0;
            n_enroll += strcmp(op_name, "enroll") == 0;
        }
        json_decref(list);
    }
    store_reply_destroy(&reply);
    buf_destroy(&out);
    assert_int_equal(n_create, 2);
    assert_int_equal(n_delete, 1);
    assert_int_equal(n_enroll, 1);
}

/* A kv that lets a rival enrolment run just before this graph's first
 * transaction: the race where both read the unused token. */
struct racing_kv {
    struct fx *f;
    struct graph_kv inner;
    const char *token;
    const char *body;
    bool raced;
    int rival_status;
};

static int racing_cmd(void *arg, const struct buf *cmd, bool serializable, struct buf *reply)
{
    struct racing_kv *rk = arg;
    struct store_cmd c;
    if (!rk->raced && store_cmd_decode(&c, cmd->data, cmd->size) == 0) {
        bool txn = c.kind == STORE_CMD_TXN;
        store_cmd_destroy(&c);
        if (txn) {
            rk->raced = true;
            struct api_call call = {.route = API_R_ENROLL, .host = "test", .body = (const uint8_t *)rk->body,
                                    .body_size = strlen(rk->body)};
            struct api_join_answer a;
            api_enroll(&rk->f->sh, &rk->f->g, rk->token, &call, time(NULL), &a);
            rk->rival_status = a.status;
            api_join_answer_destroy(&a);
        }
    }
    return rk->inner.cmd(rk->inner.arg, cmd, serializable, reply);
}

static void test_enroll_race(void **state)
{
    struct fx *f = *state;
    char token[JOIN_TOKEN_SIZE], uuid[GRAPH_UUID_SIZE], body[1024], st[32];
    mint(f, "{\"kind\": \"vrouter\", \"name\": \"vr-race\"}", token, uuid);
    snprintf(body, sizeof body, "{\"public_key\": %s}", f->pub);
    struct racing_kv rk = {.f = f, .inner = f->g.kv, .token = token, .body = body};
    struct graph g2;
    graph_init(&g2, g_schema, (struct graph_kv){.cmd = racing_cmd, .arg = &rk});
    struct api_call call = {.route = API_R_ENROLL, .host = "test", .body = (const uint8_t *)body,
                            .body_size = strlen(body)};
    struct api_join_answer a;
    api_enroll(&f->sh, &g2, token, &call, time(NULL), &a);
    assert_true(rk.raced);
    assert_int_equal(rk.rival_status, 200); /* the rival committed first */
    assert_int_equal(a.status, 409);        /* this one lost the compare */
    assert_null(a.doc);
    api_join_answer_destroy(&a);
    assert_string_equal(state_of(f, uuid, st, sizeof st), "used");
}

static void test_enroll_ca(void **state)
{
    struct fx *f = *state;
    json_t *doc;
    char fp[PKI_FINGERPRINT_HEX];
    assert_int_equal(call(f, API_R_ENROLL_CA, NULL, NULL, NULL, &doc), 200);
    assert_int_equal(pki_cert_fingerprint(f->ca, fp), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "ca_fingerprint")), fp);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "ca")), "BEGIN CERTIFICATE"));
    json_decref(doc);
}

static void test_openapi(void **state)
{
    struct fx *f = *state;
    json_t *doc;
    assert_int_equal(call(f, API_R_OPENAPI, f->admin, NULL, NULL, &doc), 200);
    json_t *paths = json_object_get(doc, "paths");
    assert_non_null(json_object_get(json_object_get(paths, "/join-tokens"), "post"));
    assert_non_null(json_object_get(json_object_get(paths, "/join-tokens"), "get"));
    assert_non_null(json_object_get(json_object_get(paths, "/join-tokens/{uuid}"), "delete"));
    assert_non_null(json_object_get(json_object_get(paths, "/enroll"), "post"));
    assert_non_null(json_object_get(json_object_get(paths, "/enroll/ca"), "get"));
    json_decref(doc);
}

int main(void)
{
    struct schema_error se;
    if (schema_load_builtin(&g_schema, &se) != 0) {
        fprintf(stderr, "schema: %s\n", se.message);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_issue_for_public),
        cmocka_unit_test(test_token_and_names),
        cmocka_unit_test(test_record_and_leaf),
        cmocka_unit_test(test_node_config),
        cmocka_unit_test_setup_teardown(test_admin_only_and_bad_input, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_enroll_agent_single_use, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_enroll_refusals, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_enroll_race, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_enroll_ca, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_openapi, fx_setup, fx_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    schema_free(g_schema);
    return rc;
}
