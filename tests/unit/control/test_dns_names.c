/* Unit tests of the control role's instance-name answers
 * (routing/control/dns_names.c) over hand-made virtual-router-index
 * objects of two routers and two networks: a VM's name and address are
 * answered to an agent asking for one of its own interfaces in the same
 * network (A and PTR), never across networks, never for another router's
 * interface; names are lower-cased single labels, invalid machine names and
 * dotted questions are not answered, duplicates answer the lowest address;
 * every answer goes through the stanza codec unchanged. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "routing/control/dns_names.h"

#define RED "d:s:red"
#define BLUE "d:s:blue"

static json_t *ifc(const char *uuid, const char *vn, const char *vm, const char *ips)
{
    json_error_t err;
    json_t *e = json_pack("{s:s,s:s,s:o}", "uuid", uuid, "virtual_network", vn, "instance_ip_addresses",
                          json_loads(ips, 0, &err));
    assert_non_null(e);
    if (vm) {
        json_object_set_new(e, "virtual_machine", json_string(vm));
    }
    return e;
}

static json_t *indexes(void)
{
    json_t *a = json_pack("{s:[s,s,s],s:{s:[o,o]}}", "fq_name", "gsc", "compute-a", "index", "virtual_router_index",
                          "interfaces",
                          ifc("u1", RED, "Slice-VM1", "[\"fd00::1\",\"10.10.1.3\"]"),
                          ifc("u3", BLUE, "slice-vm3", "[\"10.10.2.3\"]"));
    json_t *b = json_pack("{s:[s,s,s],s:{s:[o,o,o,o,o,o]}}", "fq_name", "gsc", "compute-b", "index",
                          "virtual_router_index", "interfaces",
                          ifc("u2", RED, "slice-vm2", "[\"10.10.1.4\"]"), ifc("u4", BLUE, "slice-vm4", "[\"10.10.2.4\"]"),
                          ifc("u5", RED, "bad.name", "[\"10.10.1.5\"]"), ifc("u6", RED, "v6only", "[\"fd00::6\"]"),
                          ifc("u7", RED, "twin", "[\"10.10.1.9\"]"), ifc("u8", RED, "twin", "[\"10.10.1.8\"]"));
    json_t *all = json_pack("{s:o,s:o}", "compute-a", a, "compute-b", b);
    assert_non_null(all);
    return all;
}

static struct xmpp_dns ask(const json_t *ix, const char *agent, const char *iface, const char *name, const char *addr)
{
    struct xmpp_dns q, a;
    memset(&q, 0, sizeof q);
    snprintf(q.interface, sizeof q.interface, "%s", iface);
    snprintf(q.name, sizeof q.name, "%s", name ? name : "");
    if (addr) {
        q.address.version = 4;
        assert_int_equal(inet_pton(AF_INET, addr, q.address.addr), 1);
    }
    dnsn_resolve(ix, agent, &q, &a);
    /* the answer repeats the question and always encodes */
    assert_string_equal(a.interface, q.interface);
    struct xmpp_stanza st = {.type = XMPP_STANZA_DNS_ANSWER, .dns = a};
    snprintf(st.id, sizeof st.id, "dns-1");
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(xmpp_stanza_encode(&out, &st), 0);
    buf_destroy(&out);
    assert_int_equal(a.ttl, a.found ? DNSN_TTL_FOUND : DNSN_TTL_MISSING);
    return a;
}

static const char *addr_of(const struct xmpp_dns *a, char *buf)
{
    assert_int_equal(a->address.version, 4);
    return inet_ntop(AF_INET, a->address.addr, buf, INET_ADDRSTRLEN);
}

static void test_same_network(void **state)
{
    (void)state;
    json_t *ix = indexes();
    char b[INET_ADDRSTRLEN];
    struct xmpp_dns a = ask(ix, "compute-b", "u2", "slice-vm1", NULL); /* vm2 asks for vm1 on the other router */
    assert_true(a.found);
    assert_string_equal(a.name, "slice-vm1");
    assert_string_equal(addr_of(&a, b), "10.10.1.3"); /* the first IPv4 */
    a = ask(ix, "compute-b", "u2", NULL, "10.10.1.3");
    assert_true(a.found);
    assert_string_equal(a.name, "slice-vm1");
    a = ask(ix, "compute-a", "u1", "slice-vm2", NULL);
    assert_true(a.found);
    assert_string_equal(addr_of(&a, b), "10.10.1.4");
    a = ask(ix, "compute-a", "u3", "slice-vm4", NULL);
    assert_true(a.found);
    assert_string_equal(addr_of(&a, b), "10.10.2.4");
    /* a name two instances share: the lowest address */
    a = ask(ix, "compute-a", "u1", "twin", NULL);
    assert_true(a.found);
    assert_string_equal(addr_of(&a, b), "10.10.1.8");
    json_decref(ix);
}

static void test_scope(void **state)
{
    (void)state;
    json_t *ix = indexes();
    /* blue's vm4 asks for red's vm1, by name and by address */
    struct xmpp_dns a = ask(ix, "compute-b", "u4", "slice-vm1", NULL);
    assert_false(a.found);
    assert_string_equal(a.name, "slice-vm1");
    assert_int_equal(a.address.version, 0);
    a = ask(ix, "compute-b", "u4", NULL, "10.10.1.3");
    assert_false(a.found);
    assert_string_equal(a.name, "");
    /* an agent naming another router's interface, an unknown agent or interface */
    assert_false(ask(ix, "compute-a", "u2", "slice-vm1", NULL).found);
    assert_false(ask(ix, "compute-c", "u2", "slice-vm1", NULL).found);
    assert_false(ask(ix, "compute-b", "u9", "slice-vm1", NULL).found);
    dnsn_resolve(NULL, "compute-b", &(struct xmpp_dns){.interface = "u2", .name = "slice-vm1"}, &a);
    assert_false(a.found);
    json_decref(ix);
}

static void test_names(void **state)
{
    (void)state;
    json_t *ix = indexes();
    assert_false(ask(ix, "compute-b", "u2", "slice-vm1.example", NULL).found); /* no domain */
    assert_false(ask(ix, "compute-b", "u2", "bad", NULL).found);                /* "bad.name" is no label */
    assert_false(ask(ix, "compute-b", "u2", NULL, "10.10.1.5").found);
    assert_false(ask(ix, "compute-b", "u2", "v6only", NULL).found);             /* no IPv4 */
    assert_false(ask(ix, "compute-b", "u2", "nobody", NULL).found);
    assert_false(ask(ix, "compute-b", "u2", NULL, "10.10.1.77").found);
    /* a malformed question (neither / both) is answered as not found */
    struct xmpp_dns q = {.interface = "u2"}, a;
    dnsn_resolve(NULL, "compute-b", &q, &a);
    assert_false(a.found);
    json_decref(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_network),
        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
