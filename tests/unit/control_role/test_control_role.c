/* The control role's pure parts and its operator path: `stratad control`
 * options (control_role_options_parse), the node config's control settings
 * and role command lines (supervisor.c), the /bgp REST mapping to control
 * socket commands and back (api_bgp.c), and the blocking control socket
 * client (ctl_sock_request) against a real ctl_sock on a libuv loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "appliance/api_int.h"
#include "appliance/control_role.h"
#include "appliance/supervisor.h"
#include "routing/control/ctl_sock.h"

/* ---- stratad control options ---- */

static int parse(struct control_role_options *o, char *err, size_t size, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, size);
    argv[argc++] = "control";
    for (char *a; (a = va_arg(ap, char *)) != NULL;) {
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    return control_role_options_parse(argc, argv, o, err, size);
}

static void test_options_supervisor_form(void **state)
{
    (void)state;
    struct control_role_options o;
    char err[128] = "";
    assert_int_equal(parse(&o, err, sizeof err, "--bgp-fd", "5", "--xmpp-fd", "6", "--store", "unix:/d/store.sock",
                           "--pki", "/pki", "--cert", "n1", "--ctl", "/d/control.sock", NULL),
                     0);
    assert_int_equal(o.bgp_fd, 5);
    assert_int_equal(o.xmpp_fd, 6);
    assert_int_equal(o.bgp_port, 0);
    assert_string_equal(o.store, "unix:/d/store.sock");
    assert_string_equal(o.name, "n1"); /* defaults to the certificate's name */
    assert_string_equal(o.ctl, "/d/control.sock");
    assert_null(o.store_cert);
}

static void test_options_addresses(void **state)
{
    (void)state;
    struct control_role_options o;
    char err[128] = "";
    assert_int_equal(parse(&o, err, sizeof err, "--bgp", "[::1]:1179", "--xmpp", "127.0.0.1:5269", "--store",
                           "n2@127.0.0.2:7101", "--store-cert", "n1", "--pki", "/pki", "--cert", "n1", "--name",
                           "ctl-a", "--ctl", "/c", NULL),
                     0);
    assert_string_equal(o.bgp_host, "::1");
    assert_int_equal(o.bgp_port, 1179);
    assert_int_equal(o.bgp_fd, -1);
    assert_string_equal(o.xmpp_host, "127.0.0.1");
    assert_int_equal(o.xmpp_port, 5269);
    assert_string_equal(o.name, "ctl-a");
}

static void test_options_rejected(void **state)
{
    (void)state;
    struct control_role_options o;
    char err[128];
#define BASE "--store", "unix:/s", "--pki", "/p", "--cert", "n1", "--ctl", "/c"
    /* each listener once, as a descriptor or an address */
    assert_int_equal(parse(&o, err, sizeof err, BASE, "--xmpp-fd", "6", NULL), CONTROL_ROLE_EUSAGE);
    assert_non_null(strstr(err, "--bgp-fd and --bgp"));
    assert_int_equal(parse(&o, err, sizeof err, BASE, "--bgp-fd", "5", "--bgp", "127.0.0.1:179", "--xmpp-fd", "6",
                           NULL),
                     CONTROL_ROLE_EUSAGE);
    /* descriptors 0-2 are never a listener */
    assert_int_equal(parse(&o, err, sizeof err, BASE, "--bgp-fd", "2", "--xmpp-fd", "6", NULL), CONTROL_ROLE_EUSAGE);
    assert_int_equal(parse(&o, err, sizeof err, BASE, "--bgp-fd", "5x", "--xmpp-fd", "6", NULL), CONTROL_ROLE_EUSAGE);
    /* addresses must be IP literals with a port 1..65535 */
    assert_int_equal(parse(&o, err, sizeof err, BASE, "--bgp", "router:179", "--xmpp-fd", "6", NULL),
                     CONTROL_ROLE_EUSAGE);
    assert_int_equal(parse(&o, err, sizeof err, BASE, "--bgp", "127.0.0.1:0", "--xmpp-fd", "6", NULL),
                     CONTROL_ROLE_EUSAGE);
    assert_int_equal(parse(&o, err, sizeof err, BASE, "--bgp", "127.0.0.1:70000", "--xmpp-fd", "6", NULL),
                     CONTROL_ROLE_EUSAGE);
    /* a TLS store target needs client credentials */
    assert_int_equal(parse(&o, err, sizeof err, "--store", "n1@127.0.0.1:7101", "--pki", "/p", "--cert", "n1", "--ctl",
                           "/c", "--bgp-fd", "5", "--xmpp-fd", "6", NULL),
                     CONTROL_ROLE_EUSAGE);
    assert_non_null(strstr(err, "--store-cert"));
    /* required options */
    assert_int_equal(parse(&o, err, sizeof err, "--store", "unix:/s", "--pki", "/p", "--cert", "n1", "--bgp-fd", "5",
                           "--xmpp-fd", "6", NULL),
                     CONTROL_ROLE_EUSAGE);
    assert_int_equal(parse(&o, err, sizeof err, BASE, "--bgp-fd", "5", "--xmpp-fd", "6", "extra", NULL),
                     CONTROL_ROLE_EUSAGE);
    assert_int_equal(parse(&o, err, sizeof err, BASE, "--bgp-fd", "5", "--xmpp-fd", "6", "--frobnicate", NULL),
                     CONTROL_ROLE_EUSAGE);
#undef BASE
}

/* ---- node config and role command lines ---- */

#define NODE_HEAD                                                                                                      \
    "{\"id\": 1, \"name\": \"n1\", \"address\": \"127.0.0.1\", \"raft_port\": 7100, \"api_port\": 8082,"           \
    " \"data_dir\": \"/var/lib/strata\", \"pki_dir\": \"/etc/strata/pki\", \"members\": [\"1=n1@127.0.0.1:7100\"],"

static void test_node_config_control(void **state)
{
    (void)state;
    struct sup_config cfg;
    char err[256];
    assert_int_equal(sup_config_parse(NODE_HEAD "\"roles\": [\"store\", \"config\", \"control\"]}", &cfg, err,
                                      sizeof err),
                     0);
    assert_true(cfg.roles[SUP_ROLE_CONTROL]);
    assert_int_equal(cfg.bgp_port, SUP_DEFAULT_BGP_PORT);
    assert_int_equal(cfg.xmpp_port, SUP_DEFAULT_XMPP_PORT);
    assert_int_equal(sup_config_parse(NODE_HEAD "\"bgp_port\": 1179, \"xmpp_port\": 15269,"
                                                "\"roles\": [\"store\", \"control\"]}",
                                      &cfg, err, sizeof err),
                     0);
    assert_int_equal(cfg.bgp_port, 1179);
    assert_int_equal(cfg.xmpp_port, 15269);
    assert_false(cfg.roles[SUP_ROLE_CONFIG]);
}

static void test_node_config_control_rejected(void **state)
{
    (void)state;
    struct sup_config cfg;
    char err[256];
    assert_int_equal(sup_config_parse(NODE_HEAD "\"roles\": [\"control\"]}", &cfg, err, sizeof err), SUP_ECONFIG);
    assert_non_null(strstr(err, "needs the store role"));
    assert_int_equal(sup_config_parse(NODE_HEAD "\"bgp_port\": 8082, \"roles\": [\"store\", \"config\", \"control\"]}",
                                      &cfg, err, sizeof err),
                     SUP_ECONFIG);
    assert_non_null(strstr(err, "bgp_port"));
    assert_int_equal(sup_config_parse(NODE_HEAD "\"xmpp_port\": 7101, \"roles\": [\"store\", \"control\"]}", &cfg,
                                      err, sizeof err),
                     SUP_ECONFIG);
    assert_non_null(strstr(err, "xmpp_port"));
    assert_int_equal(sup_config_parse(NODE_HEAD "\"bgp_port\": 9000, \"xmpp_port\": 9000,"
                                                "\"roles\": [\"store\", \"control\"]}",
                                      &cfg, err, sizeof err),
                     SUP_ECONFIG);
    assert_int_equal(sup_config_parse(NODE_HEAD "\"bgp_port\": 0, \"roles\": [\"store\", \"control\"]}", &cfg, err,
                                      sizeof err),
                     SUP_ECONFIG);
    assert_int_equal(sup_config_parse(NODE_HEAD "\"roles\": [\"store\", \"analytics\"]}", &cfg, err, sizeof err),
                     SUP_ECONFIG);
    assert_non_null(strstr(err, "\"control\""));
}

static void join_argv(char **argv, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 1; argv[i]; i++) {
        int n = snprintf(out + used, size - used, "%s%s", i > 1 ? " " : "", argv[i]);
        assert_true(n > 0 && (size_t)n < size - used);
        used += (size_t)n;
    }
}

static void test_role_argv(void **state)
{
    (void)state;
    struct sup_config cfg;
    char err[256];
    assert_int_equal(sup_config_parse(NODE_HEAD "\"roles\": [\"store\", \"config\", \"control\"]}", &cfg, err,
                                      sizeof err),
                     0);
    struct sup_options so = {.self_exe = "/usr/bin/stratad", .have_config_role = true, .have_control_role = true};
    char *argv[64];
    char store[4096], line[4096];
    int fds[2] = {7, 9};
    assert_int_equal(sup_role_argv(&cfg, &so, SUP_ROLE_CONTROL, fds, argv, 64, store, sizeof store), 0);
    assert_string_equal(argv[0], "/usr/bin/stratad");
    join_argv(argv, line, sizeof line);
    assert_string_equal(line, "control --bgp-fd 7 --xmpp-fd 9 --store unix:/var/lib/strata/store.sock "
                              "--pki /etc/strata/pki --cert n1 --ctl /var/lib/strata/control.sock");
    /* what the supervisor passes is what the role accepts */
    struct control_role_options o;
    assert_int_equal(control_role_options_parse(13, argv + 1, &o, err, sizeof err), 0);
    assert_int_equal(o.bgp_fd, 7);
    /* the config role learns where to ask */
    int cfds[2] = {8, -1};
    assert_int_equal(sup_role_argv(&cfg, &so, SUP_ROLE_CONFIG, cfds, argv, 64, store, sizeof store), 0);
    join_argv(argv, line, sizeof line);
    assert_non_null(strstr(line, " --control-sock /var/lib/strata/control.sock"));
}

/* ---- /bgp REST <-> control socket ---- */

static int command(enum api_route route, const char *table, const char *query_table, char *line, size_t size)
{
    struct http_param q = {"table", query_table};
    struct api_call call = {.route = route, .table = table, .query = query_table ? &q : NULL,
                            .query_len = query_table ? 1 : 0};
    char msg[128];
    return api_bgp_command(&call, line, size, msg, sizeof msg);
}

static void test_bgp_command(void **state)
{
    (void)state;
    char line[512];
    assert_int_equal(command(API_R_BGP_NEIGHBORS, NULL, NULL, line, sizeof line), 0);
    assert_string_equal(line, "neighbors");
    assert_int_equal(command(API_R_BGP_SUMMARY, NULL, NULL, line, sizeof line), 0);
    assert_string_equal(line, "summary");
    assert_int_equal(command(API_R_BGP_ROUTES, NULL, NULL, line, sizeof line), 0);
    assert_string_equal(line, "routes");
    assert_int_equal(command(API_R_BGP_ROUTES, NULL, "bgp.l3vpn.0", line, sizeof line), 0);
    assert_string_equal(line, "routes bgp.l3vpn.0");
    assert_int_equal(command(API_R_BGP_ROUTES, "bgp.evpn.0", NULL, line, sizeof line), 0);
    assert_string_equal(line, "routes bgp.evpn.0");
    /* an instance name means its inet table */
    assert_int_equal(command(API_R_BGP_ROUTES, "default-domain:p:vn1:vn1", NULL, line, sizeof line), 0);
    assert_string_equal(line, "routes default-domain:p:vn1:vn1.inet.0");
    /* nothing that could break the line protocol or smuggle a command */
    assert_int_equal(command(API_R_BGP_ROUTES, NULL, "bgp.l3vpn.0\nneighbors", line, sizeof line), 400);
    assert_int_equal(command(API_R_BGP_ROUTES, "a b", NULL, line, sizeof line), 400);
    assert_int_equal(command(API_R_BGP_ROUTES, NULL, "", line, sizeof line), 400);
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(command(API_R_BGP_ROUTES, longname, NULL, line, sizeof line), 400);
    /* the table once: path or query */
    assert_int_equal(command(API_R_BGP_ROUTES, "bgp.l3vpn.0", "bgp.evpn.0", line, sizeof line), 400);
    assert_int_equal(command(API_R_LIST, NULL, NULL, line, sizeof line), 404);
}

static int answer(enum api_route route, const char *table, int rc, const char *text, json_t **doc)
{
    struct api_call call = {.route = route, .table = table};
    char msg[128];
    return api_bgp_answer(&call, rc, text, doc, msg, sizeof msg);
}

static void test_bgp_answer(void **state)
{
    (void)state;
    json_t *doc;
    /* nobody listening, or not in time: 503 */
    assert_int_equal(answer(API_R_BGP_NEIGHBORS, NULL, UV_ENOENT, NULL, &doc), 503);
    assert_null(doc);
    assert_int_equal(answer(API_R_BGP_NEIGHBORS, NULL, UV_ECONNREFUSED, NULL, &doc), 503);
    assert_int_equal(answer(API_R_BGP_SUMMARY, NULL, UV_ETIMEDOUT, NULL, &doc), 503);
    /* the role's own errors */
    assert_int_equal(answer(API_R_BGP_ROUTES, "nope.inet.0", 0, "{\"error\":\"no such table\"}", &doc), 404);
    assert_int_equal(answer(API_R_BGP_ROUTES, "x.inet.0", 0, "{\"error\":\"BGP not started\"}", &doc), 503);
    assert_int_equal(answer(API_R_BGP_NEIGHBORS, NULL, 0, "[{\"name\": ", &doc), 502);
    /* the documents */
    assert_int_equal(answer(API_R_BGP_NEIGHBORS, NULL, 0, "[{\"name\":\"gw\",\"state\":\"Established\"}]", &doc), 200);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(doc, "neighbors"), 0),
                                                          "state")),
                        "Established");
    json_decref(doc);
    assert_int_equal(answer(API_R_BGP_ROUTES, "vn1", 0, "[{\"prefix\":\"10.0.0.0/24\",\"paths\":[]}]", &doc), 200);
    assert_string_equal(json_string_value(json_object_get(doc, "table")), "vn1.inet.0");
    assert_int_equal(json_array_size(json_object_get(doc, "routes")), 1);
    json_decref(doc);
    assert_int_equal(answer(API_R_BGP_ROUTES, NULL, 0, "{\"bgp.l3vpn.0\":3}", &doc), 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "tables"), "bgp.l3vpn.0")), 3);
    json_decref(doc);
    assert_int_equal(answer(API_R_BGP_SUMMARY, NULL, 0, "{\"node\":\"n1\"}", &doc), 200);
    assert_string_equal(json_string_value(json_object_get(doc, "node")), "n1");
    json_decref(doc);
}

static void test_bgp_openapi(void **state)
{
    (void)state;
    json_t *paths = json_object();
    api_bgp_openapi(paths);
    assert_int_equal(json_object_size(paths), 4);
    json_t *p = json_object_get(json_object_get(paths, "/bgp/routes/{table}"), "get");
    assert_non_null(p);
    json_t *param = json_array_get(json_object_get(p, "parameters"), 0);
    assert_string_equal(json_string_value(json_object_get(param, "in")), "path");
    assert_true(json_is_true(json_object_get(param, "required")));
    assert_non_null(json_object_get(json_object_get(p, "responses"), "503"));
    assert_int_equal(json_array_size(json_object_get(json_object_get(json_object_get(paths, "/bgp/neighbors"), "get"),
                                                     "parameters")),
                     0);
    json_decref(paths);
    api_bgp_openapi(NULL); /* not an object: nothing */
}

/* ---- the control socket's client against a real server ---- */

struct server {
    uv_loop_t loop;
    uv_async_t stop;
    struct ctl_sock *sock;
    char path[128];
    pthread_t thread;
};

static json_t *serve(void *data, const char *cmd, const char *arg)
{
    (void)data;
    if (strcmp(cmd, "echo") == 0) {
        return json_pack("{s:s}", "arg", arg ? arg : "");
    }
    if (strcmp(cmd, "big") == 0) {
        char blob[61];
        memset(blob, 'x', 60);
        blob[60] = '\0';
        return json_pack("{s:s}", "blob", blob);
    }
    return NULL;
}

static void on_stop(uv_async_t *a)
{
    struct server *s = a->data;
    ctl_sock_close(s->sock);
    uv_close((uv_handle_t *)a, NULL);
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void test_ctl_sock_request(void **state)
{
    (void)state;
    struct server s;
    memset(&s, 0, sizeof s);
    snprintf(s.path, sizeof s.path, "/tmp/strata-ctl-test-%d.sock", (int)getpid());
    char *text = NULL;
    /* nobody there */
    unlink(s.path);
    assert_int_equal(ctl_sock_request(s.path, "echo", 1000, 4096, &text), UV_ENOENT);
    assert_int_equal(uv_loop_init(&s.loop), 0);
    assert_int_equal(ctl_sock_listen(&s.loop, s.path, 256, serve, NULL, &s.sock), 0);
    assert_int_equal(uv_async_init(&s.loop, &s.stop, on_stop), 0);
    s.stop.data = &s;
    assert_int_equal(pthread_create(&s.thread, NULL, server_main, &s), 0);

    assert_int_equal(ctl_sock_request(s.path, "echo routes bgp.l3vpn.0", 5000, 4096, &text), 0);
    assert_string_equal(text, "{\"arg\":\"routes bgp.l3vpn.0\"}");
    free(text);
    /* the daemon's "not found" answer */
    assert_int_equal(ctl_sock_request(s.path, "nothing", 5000, 4096, &text), 0);
    assert_non_null(strstr(text, "error"));
    free(text);
    /* an answer beyond the caller's cap */
    assert_int_equal(ctl_sock_request(s.path, "big", 5000, 16, &text), UV_E2BIG);
    assert_int_equal(ctl_sock_request(s.path, "big", 5000, 4096, &text), 0);
    assert_int_equal(strlen(text), strlen("{\"blob\":\"\"}") + 60);
    free(text);
    /* a newline would be a second command */
    assert_int_equal(ctl_sock_request(s.path, "echo a\nbig", 5000, 4096, &text), UV_EINVAL);
    /* a line longer than the server takes: its error answer, or a reset
     * when the kernel reports the unread rest first; never a hang */
    char line[400];
    memset(line, 'a', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    int rc = ctl_sock_request(s.path, line, 5000, 4096, &text);
    if (rc == 0) {
        assert_non_null(strstr(text, "command too long"));
        free(text);
    } else {
        assert_true(rc == UV_ECONNRESET || rc == UV_EPIPE);
    }
    /* and the server still answers */
    assert_int_equal(ctl_sock_request(s.path, "echo x", 5000, 4096, &text), 0);
    free(text);

    uv_async_send(&s.stop);
    pthread_join(s.thread, NULL);
    assert_int_equal(uv_loop_close(&s.loop), 0);
    /* closed: libuv removed the socket file */
    assert_int_equal(ctl_sock_request(s.path, "echo", 1000, 4096, &text), UV_ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_supervisor_form),
        cmocka_unit_test(test_options_addresses),
        cmocka_unit_test(test_options_rejected),
        cmocka_unit_test(test_node_config_control),
        cmocka_unit_test(test_node_config_control_rejected),
        cmocka_unit_test(test_role_argv),
        cmocka_unit_test(test_bgp_command),
        cmocka_unit_test(test_bgp_answer),
        cmocka_unit_test(test_bgp_openapi),
        cmocka_unit_test(test_ctl_sock_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
