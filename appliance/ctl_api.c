/* stratactl's REST commands: objects of every schema type, tokens and the
 * cluster's health, over the config role's HTTPS API (ctl_http.h).
 *
 *   stratactl [--url URLS] [--token T] [--ca FILE] [-o table|json] TYPE VERB ...
 *     TYPE list [--parent FQ|UUID] [--detail] [--columns a,b] [--limit N]
 *     TYPE show ID
 *     TYPE create [NAME] [--parent FQ] [--parent-type T] [--ref TYPE=FQ ...]
 *                 [--ref-attr JSON] [-f FILE|-] [key=value ...]
 *     TYPE update ID [-f FILE|-] [key=value ...]
 *     TYPE delete ID
 *   stratactl token create [--role R] [--project FQ|UUID] [--expires RFC3339 |
 *                          --ttl SECONDS] [--description TEXT]
 *   stratactl token list | token revoke UUID
 *   stratactl join-token create --kind controller|vrouter --name NAME [--ttl S]
 *                               [--address IP] | join-token list | join-token revoke UUID
 *   stratactl cluster status | cluster version [raise N]
 *   stratactl bgp neighbors | bgp routes [TABLE|INSTANCE] | bgp summary
 *     (the control role of the node the first URL names: GET /bgp/...)
 * TYPE is a schema type ("virtual-network"), its plural, or an alias (port,
 * vn, ipam, ip, vm, fip, sg, policy, router). ID is a uuid or a full
 * fq_name "a:b:c". key=value pairs set fields of the object (dotted keys
 * for nested ones); a value that parses as JSON is taken as JSON unless the
 * schema says the field is a string. Settings come from the flags, then
 * STRATA_URL, STRATA_TOKEN (or STRATA_TOKEN_FILE), STRATA_CA, then the first
 * config file found: ~/.config/strata/stratactl.conf, /etc/strata/stratactl.conf
 * ("url = ...", "token = ...", "token_file = ...", "ca = ...").
 * Exit codes: ctl.h. A 503 (no store leader yet) is retried for ~6 s. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "appliance/ctl.h"
#include "appliance/ctl_http.h"
#include "compiler/schema/schema.h"
#include "lib/pki.h"

#define API_RETRIES 8

struct api_ctl {
    char url[2048];
    char token[512];
    char ca[1024];
    bool json;
    bool no_retry_unavailable; /* a 503 is final (the /bgp endpoints) */
    struct ctl_http *http;
    struct schema *schema;
};

static const struct {
    const char *alias;
    const char *type;
} aliases[] = {
    {"port", "virtual-machine-interface"}, {"ports", "virtual-machine-interface"},
    {"vmi", "virtual-machine-interface"},  {"vn", "virtual-network"},
    {"network", "virtual-network"},        {"networks", "virtual-network"},
    {"ipam", "network-ipam"},              {"ip", "instance-ip"},
    {"vm", "virtual-machine"},             {"fip", "floating-ip"},
    {"sg", "security-group"},              {"policy", "network-policy"},
    {"router", "logical-router"},
};

static int api_usage(void)
{
    fprintf(stderr,
            "usage: stratactl [--url URLS] [--token TOKEN] [--ca FILE] [-o table|json] COMMAND\n"
            "  TYPE list [--parent ID] [--detail] [--columns a,b] [--limit N]\n"
            "  TYPE show ID | TYPE delete ID\n"
            "  TYPE create [NAME] [--parent FQ] [--parent-type T] [--ref TYPE=FQ [--ref-attr JSON]]...\n"
            "              [-f FILE|-] [key=value ...]\n"
            "  TYPE update ID [-f FILE|-] [key=value ...]\n"
            "  token create [--role admin|member|reader] [--project FQ|UUID] [--expires TIME|--ttl SECONDS]\n"
            "               [--description TEXT]\n"
            "  token list | token revoke UUID\n"
            "  join-token create --kind controller|vrouter --name NAME [--ttl SECONDS] [--address IP]\n"
            "  join-token list | join-token revoke UUID\n"
            "  cluster status             (also prints the CA fingerprint joining nodes pin)\n"
            "  cluster version [raise N]  compiler rules version in force; raise it (admin)\n"
            "  bgp neighbors | bgp routes [TABLE|INSTANCE] | bgp summary   (the first URL's node)\n"
            "  types                      (the object types; aliases: port vn ipam ip vm fip sg policy router)\n"
            "  store ...                  (stratactl store help)\n"
            "ID is a uuid or a full fq_name a:b:c. Exit: 0 ok, 1 failed, 2 usage, 3 not found,\n"
            "4 conflict, 5 unavailable, 6 unauthorized or forbidden.\n");
    return CTL_EXIT_USAGE;
}

/* ---- settings ---- */

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
}

static int read_token_file(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        fprintf(stderr, "stratactl: token file %s: %s\n", path, strerror(errno));
        return CTL_EXIT_USAGE;
    }
    if (!fgets(out, (int)size, f)) {
        out[0] = '\0';
    }
    fclose(f);
    trim(out);
    return 0;
}

/* Fills what is still empty in 'c' from the first config file found. */
static int load_config_file(struct api_ctl *c)
{
    char path[1200];
    const char *explicit_path = getenv("STRATACTL_CONFIG");
    const char *home = getenv("HOME");
    const char *candidates[3] = {explicit_path, NULL, "/etc/strata/stratactl.conf"};
    char home_path[1100];
    if (home) {
        snprintf(home_path, sizeof home_path, "%s/.config/strata/stratactl.conf", home);
        candidates[1] = home_path;
    }
    for (int i = 0; i < 3; i++) {
        if (!candidates[i]) {
            continue;
        }
        snprintf(path, sizeof path, "%s", candidates[i]);
        FILE *f = fopen(path, "re");
        if (!f) {
            continue;
        }
        char line[2048];
        int rc = 0;
        while (rc == 0 && fgets(line, sizeof line, f)) {
            trim(line);
            char *k = line + strspn(line, " \t");
            if (!*k || *k == '#') {
                continue;
            }
            char *eq = strchr(k, '=');
            if (!eq) {
                fprintf(stderr, "stratactl: %s: expected key = value: %s\n", path, k);
                rc = CTL_EXIT_USAGE;
                break;
            }
            *eq = '\0';
            trim(k);
            char *v = eq + 1 + strspn(eq + 1, " \t");
            if (strcmp(k, "url") == 0 && !c->url[0]) {
                snprintf(c->url, sizeof c->url, "%s", v);
            } else if (strcmp(k, "token") == 0 && !c->token[0]) {
                snprintf(c->token, sizeof c->token, "%s", v);
            } else if (strcmp(k, "token_file") == 0 && !c->token[0]) {
                rc = read_token_file(v, c->token, sizeof c->token);
            } else if (strcmp(k, "ca") == 0 && !c->ca[0]) {
                snprintf(c->ca, sizeof c->ca, "%s", v);
            } else if (strcmp(k, "url") != 0 && strcmp(k, "token") != 0 && strcmp(k, "token_file") != 0 &&
                       strcmp(k, "ca") != 0) {
                fprintf(stderr, "stratactl: %s: unknown setting '%s'\n", path, k);
                rc = CTL_EXIT_USAGE;
            }
        }
        fclose(f);
        return rc;
    }
    return 0;
}

/* ---- requests ---- */

static int exit_for_status(int status)
{
    switch (status) {
    case 404:
        return CTL_EXIT_NOTFOUND;
    case 409:
    case 412:
        return CTL_EXIT_COMPARE;
    case 503:
        return CTL_EXIT_UNAVAILABLE;
    case 401:
    case 403:
        return CTL_EXIT_DENIED;
    default:
        return status >= 200 && status < 300 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
    }
}

/* Prints the API's error document (or the raw status) on one line. */
static int report_error(int status, const struct buf *body, const char *what)
{
    json_t *doc = json_loadb((const char *)body->data, body->size, 0, NULL);
    json_t *e = json_object_get(doc, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *field = json_string_value(json_object_get(e, "field"));
    if (msg) {
        fprintf(stderr, "stratactl: %s: %d %s%s%s%s\n", what, status, msg, field && *field ? " (field " : "",
                field && *field ? field : "", field && *field ? ")" : "");
    } else {
        fprintf(stderr, "stratactl: %s: HTTP %d\n", what, status);
    }
    json_decref(doc);
    return exit_for_status(status);
}

/* Sends one request into 'resp', retrying while the API answers 503 (the
 * store has no leader: nothing was applied) or the connection cannot be
 * made. Returns 0 with '*status' set, or the transport error; prints
 * nothing. */
static int api_send(struct api_ctl *c, const char *method, const char *path, const json_t *body, int *status,
                    struct buf *resp)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int rc = 0;
    *status = 0;
    for (int attempt = 0;; attempt++) {
        rc = ctl_http_request(c->http, method, path, c->token, text, text ? strlen(text) : 0, status, resp);
        bool retry = (rc == 0 && *status == 503 && !c->no_retry_unavailable) || rc == CTL_HTTP_ECONNECT ||
                     rc == UV_ECONNREFUSED;
        /* A failed connect means nothing was sent: safe to retry any method. */
        if (!retry || attempt >= API_RETRIES) {
            break;
        }
        usleep((useconds_t)(100000u << (attempt < 4 ? attempt : 4)) / 2);
    }
    free(text);
    return rc;
}

/* The exit code of a transport error, printed. */
static int transport_error(struct api_ctl *c, int rc, const char *what)
{
    fprintf(stderr, "stratactl: %s: %s (%s)\n", what, strata_strerror(rc), ctl_http_current_url(c->http));
    return rc == CTL_HTTP_EPROTO || rc == CTL_HTTP_ETOOBIG ? CTL_EXIT_FAIL : CTL_EXIT_UNAVAILABLE;
}

/* Sends one request (api_send()). '*doc' gets the parsed JSON answer of a
 * 2xx (NULL for an empty body). Returns the exit code; errors are printed. */
static int api_call(struct api_ctl *c, const char *method, const char *path, const json_t *body,
                    const char *what, json_t **doc)
{
    struct buf resp;
    int status = 0, ec;
    buf_init(&resp, 0);
    if (doc) {
        *doc = NULL;
    }
    int rc = api_send(c, method, path, body, &status, &resp);
    if (rc != 0) {
        ec = transport_error(c, rc, what);
    } else if (status < 200 || status >= 300) {
        ec = report_error(status, &resp, what);
    } else {
        ec = CTL_EXIT_OK;
        if (doc && resp.size) {
            json_error_t jerr;
            *doc = json_loadb((const char *)resp.data, resp.size, 0, &jerr);
            if (!*doc) {
                fprintf(stderr, "stratactl: %s: response is not JSON: %s\n", what, jerr.text);
                ec = CTL_EXIT_FAIL;
            }
        }
    }
    buf_destroy(&resp);
    return ec;
}

static void print_json(const json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    puts(s ? s : "null");
    free(s);
}

/* ---- object identity ---- */

static bool is_uuid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (strlen(s) != sizeof shape - 1) {
        return false;
    }
    for (size_t i = 0; shape[i]; i++) {
        bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F');
        if (shape[i] == '-' ? s[i] != '-' : !hex) {
            return false;
        }
    }
    return true;
}

/* "a:b:c" as a JSON array of strings. */
static json_t *fq_split(const char *fq)
{
    json_t *a = json_array();
    const char *p = fq;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        json_array_append_new(a, json_stringn(p, n));
        if (!colon) {
            break;
        }
        p = colon + 1;
    }
    return a;
}

static void fq_join(const json_t *fq, char *out, size_t size)
{
    size_t i, used = 0;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(fq, i, v) {
        int n = snprintf(out + used, size - used, "%s%s", i ? ":" : "", json_string_value(v) ? json_string_value(v) : "?");
        if (n < 0 || (size_t)n >= size - used) {
            break;
        }
        used += (size_t)n;
    }
}

/* Resolves ID (uuid or fq_name) of 'type' to a uuid. */
static int resolve_id(struct api_ctl *c, const struct schema_type *t, const char *id, char *uuid, size_t size)
{
    if (is_uuid(id)) {
        snprintf(uuid, size, "%s", id);
        return 0;
    }
    /* an fq_name without ':' is a one-element one (global-system-config) */
    json_t *req = json_pack("{s:s, s:o}", "type", t->name, "fq_name", fq_split(id));
    json_t *doc = NULL;
    char what[600];
    snprintf(what, sizeof what, "%s %s", t->name, id);
    int rc = api_call(c, "POST", "/fqname-to-id", req, what, &doc);
    json_decref(req);
    if (rc == 0) {
        const char *u = json_string_value(json_object_get(doc, "uuid"));
        if (!u) {
            fprintf(stderr, "stratactl: %s: fqname-to-id answered without a uuid\n", what);
            rc = CTL_EXIT_FAIL;
        } else {
            snprintf(uuid, size, "%s", u);
        }
    }
    json_decref(doc);
    return rc;
}

/* ---- object bodies ---- */

static bool kind_is_text(enum schema_kind k)
{
    switch (k) {
    case SCHEMA_KIND_STRING:
    case SCHEMA_KIND_ENUM:
    case SCHEMA_KIND_IPV4:
    case SCHEMA_KIND_IPV6:
    case SCHEMA_KIND_IP:
    case SCHEMA_KIND_CIDR:
    case SCHEMA_KIND_MAC:
    case SCHEMA_KIND_UUID:
    case SCHEMA_KIND_DATETIME:
        return true;
    case SCHEMA_KIND_INTEGER:
    case SCHEMA_KIND_BOOLEAN:
    case SCHEMA_KIND_COMPLEX:
        break;
    }
    return false;
}

/* Sets "a.b.c=value" in 'obj'. */
static int set_kv(const struct schema *s, const struct schema_type *t, json_t *obj, char *arg)
{
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        fprintf(stderr, "stratactl: expected key=value, got '%s'\n", arg);
        return CTL_EXIT_USAGE;
    }
    *eq = '\0';
    const char *value = eq + 1;
    char *dot = strchr(arg, '.');
    const struct schema_field *f = dot ? NULL : schema_prop_find(s, t, arg);
    json_t *v = NULL;
    if (strcmp(arg, "fq_name") == 0 && value[0] != '[') {
        v = fq_split(value);
    } else if (f && !f->list && kind_is_text(f->kind) && value[0] != '"') {
        v = json_string(value);
    } else {
        v = json_loads(value, JSON_DECODE_ANY, NULL);
        if (!v) {
            v = json_string(value);
        }
    }
    json_t *at = obj;
    char *key = arg;
    while ((dot = strchr(key, '.')) != NULL) {
        *dot = '\0';
        json_t *next = json_object_get(at, key);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(at, key, next);
        }
        at = next;
        key = dot + 1;
    }
    json_object_set_new(at, key, v);
    return 0;
}

/* Reads a JSON object from 'path' ("-": stdin), unwrapping {"TYPE": {...}}. */
static int load_body(const char *path, const struct schema_type *t, json_t **out)
{
    json_error_t jerr;
    json_t *doc = strcmp(path, "-") == 0 ? json_loadf(stdin, 0, &jerr) : json_load_file(path, 0, &jerr);
    if (!doc || !json_is_object(doc)) {
        fprintf(stderr, "stratactl: %s: %s\n", path, doc ? "not a JSON object" : jerr.text);
        json_decref(doc);
        return CTL_EXIT_USAGE;
    }
    json_t *inner = json_object_get(doc, t->name);
    if (json_object_size(doc) == 1 && json_is_object(inner)) {
        json_incref(inner);
        json_decref(doc);
        doc = inner;
    }
    *out = doc;
    return 0;
}

static const struct schema_type *find_type(const struct schema *s, const char *name)
{
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        if (strcmp(name, aliases[i].alias) == 0) {
            name = aliases[i].type;
        }
    }
    const struct schema_type *t = schema_type_find(s, name);
    return t ? t : schema_type_find_plural(s, name);
}

/* ---- object verbs ---- */

static void print_value(const json_t *v)
{
    if (json_is_string(v)) {
        fputs(json_string_value(v), stdout);
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fputs(s ? s : "", stdout);
        free(s);
    }
}

/* The object inside a list entry or a read answer ({"TYPE": {...}} or the
 * object itself). */
static const json_t *unwrap(const json_t *entry, const struct schema_type *t)
{
    const json_t *inner = json_object_get(entry, t->name);
    return json_is_object(inner) ? inner : entry;
}

static int obj_list(struct api_ctl *c, const struct schema_type *t, int argc, char **argv)
{
    const char *parent = NULL, *columns = NULL, *limit = NULL;
    bool detail = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--parent") == 0 && i + 1 < argc) {
            parent = argv[++i];
        } else if (strcmp(argv[i], "--detail") == 0) {
            detail = true;
        } else if (strcmp(argv[i], "--columns") == 0 && i + 1 < argc) {
            columns = argv[++i];
            detail = true;
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            limit = argv[++i];
        } else {
            return api_usage();
        }
    }
    char path[1024], parent_uuid[64] = "";
    int rc;
    if (parent) {
        if (is_uuid(parent)) {
            snprintf(parent_uuid, sizeof parent_uuid, "%s", parent);
        } else {
            /* The parent's type: the one of t's parent types that resolves. */
            /* A 404 means "not of this type": try the next; any other
             * answer or a transport error is reported as it is. */
            rc = CTL_EXIT_NOTFOUND;
            bool failed = false;
            for (size_t i = 0; i < t->parents_len && rc != 0 && !failed; i++) {
                json_t *req = json_pack("{s:s, s:o}", "type", t->parents[i]->name, "fq_name", fq_split(parent));
                json_t *doc = NULL;
                struct buf resp;
                int status = 0;
                buf_init(&resp, 0);
                int trc = req ? api_send(c, "POST", "/fqname-to-id", req, &status, &resp) : LIB_ENOMEM;
                if (trc != 0) {
                    rc = transport_error(c, trc, "parent lookup");
                    failed = true;
                } else if (status == 200) {
                    doc = json_loadb((const char *)resp.data, resp.size, 0, NULL);
                    const char *u = json_string_value(json_object_get(doc, "uuid"));
                    if (u) {
                        snprintf(parent_uuid, sizeof parent_uuid, "%s", u);
                        rc = 0;
                    }
                } else if (status != 404) {
                    rc = report_error(status, &resp, "parent lookup");
                    failed = true;
                }
                buf_destroy(&resp);
                json_decref(doc);
                json_decref(req);
            }
            if (rc != 0) {
                if (!failed) {
                    fprintf(stderr, "stratactl: parent %s not found\n", parent);
                }
                return rc;
            }
        }
    }
    snprintf(path, sizeof path, "/%s?detail=%s%s%s%s%s", t->plural, detail ? "true" : "false",
             parent_uuid[0] ? "&parent_id=" : "", parent_uuid, limit ? "&page_limit=" : "", limit ? limit : "");
    json_t *doc = NULL;
    char what[128];
    snprintf(what, sizeof what, "list %s", t->plural);
    rc = api_call(c, "GET", path, NULL, what, &doc);
    if (rc != 0) {
        json_decref(doc);
        return rc;
    }
    json_t *items = json_object_get(doc, t->plural);
    if (c->json) {
        print_json(items ? items : doc);
        json_decref(doc);
        return 0;
    }
    char cols[16][64];
    int ncols = 0;
    if (columns) {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s", columns);
        for (char *save = NULL, *p = strtok_r(tmp, ",", &save); p && ncols < 16; p = strtok_r(NULL, ",", &save)) {
            snprintf(cols[ncols++], sizeof cols[0], "%s", p);
        }
    }
    printf("%-36s  %-40s", "UUID", "FQ_NAME");
    for (int k = 0; k < ncols; k++) {
        char up[64];
        size_t j = 0;
        for (; cols[k][j] && j + 1 < sizeof up; j++) {
            up[j] = (char)(cols[k][j] >= 'a' && cols[k][j] <= 'z' ? cols[k][j] - 32 : cols[k][j]);
        }
        up[j] = '\0';
        printf("  %s", up);
    }
    putchar('\n');
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e) {
        const json_t *o = unwrap(e, t);
        char fq[512];
        fq_join(json_object_get(o, "fq_name"), fq, sizeof fq);
        const char *u = json_string_value(json_object_get(o, "uuid"));
        printf("%-36s  %-40s", u ? u : "-", fq);
        for (int k = 0; k < ncols; k++) {
            const json_t *v = json_object_get(o, cols[k]);
            fputs("  ", stdout);
            if (v) {
                print_value(v);
            } else {
                fputs("-", stdout);
            }
        }
        putchar('\n');
    }
    json_decref(doc);
    return 0;
}

static void print_object(const struct api_ctl *c, const struct schema_type *t, const json_t *doc)
{
    const json_t *o = unwrap(doc, t);
    if (c->json) {
        print_json(o);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        printf("%-28s ", k);
        if (strcmp(k, "fq_name") == 0) {
            char fq[512];
            fq_join(v, fq, sizeof fq);
            fputs(fq, stdout);
        } else {
            print_value(v);
        }
        putchar('\n');
    }
}

static int obj_show(struct api_ctl *c, const struct schema_type *t, int argc, char **argv)
{
    if (argc != 1) {
        return api_usage();
    }
    char uuid[64], path[256], what[600];
    int rc = resolve_id(c, t, argv[0], uuid, sizeof uuid);
    if (rc != 0) {
        return rc;
    }
    snprintf(path, sizeof path, "/%s/%s", t->name, uuid);
    snprintf(what, sizeof what, "show %s %s", t->name, argv[0]);
    json_t *doc = NULL;
    rc = api_call(c, "GET", path, NULL, what, &doc);
    if (rc == 0) {
        print_object(c, t, doc);
    }
    json_decref(doc);
    return rc;
}

static int obj_delete(struct api_ctl *c, const struct schema_type *t, int argc, char **argv)
{
    if (argc != 1) {
        return api_usage();
    }
    char uuid[64], path[256], what[600];
    int rc = resolve_id(c, t, argv[0], uuid, sizeof uuid);
    if (rc != 0) {
        return rc;
    }
    snprintf(path, sizeof path, "/%s/%s", t->name, uuid);
    snprintf(what, sizeof what, "delete %s %s", t->name, argv[0]);
    rc = api_call(c, "DELETE", path, NULL, what, NULL);
    if (rc == 0 && !c->json) {
        printf("deleted %s %s\n", t->name, uuid);
    } else if (rc == 0) {
        printf("{\"deleted\": \"%s\"}\n", uuid);
    }
    return rc;
}

/* create and update: builds the object from -f, options and key=value. */
static int obj_write(struct api_ctl *c, const struct schema_type *t, bool create, int argc, char **argv)
{
    const char *file = NULL, *parent = NULL, *parent_type = NULL, *id = NULL, *name = NULL;
    json_t *refs = json_array(); /* [[type, fq, attr-or-null], ...] */
    json_t *obj = NULL;
    char **kvs = calloc((size_t)argc + 1, sizeof *kvs);
    int nkv = 0, rc = 0;
    for (int i = 0; i < argc && rc == 0; i++) {
        if (strcmp(argv[i], "-f") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else if (create && strcmp(argv[i], "--parent") == 0 && i + 1 < argc) {
            parent = argv[++i];
        } else if (create && strcmp(argv[i], "--parent-type") == 0 && i + 1 < argc) {
            parent_type = argv[++i];
        } else if (strcmp(argv[i], "--ref") == 0 && i + 1 < argc) {
            char *eq = strchr(argv[++i], '=');
            if (!eq) {
                fprintf(stderr, "stratactl: --ref wants TYPE=FQ_NAME or TYPE=UUID\n");
                rc = CTL_EXIT_USAGE;
                break;
            }
            json_array_append_new(refs, json_pack("[s%, s, n]", argv[i], (size_t)(eq - argv[i]), eq + 1));
        } else if (strcmp(argv[i], "--ref-attr") == 0 && i + 1 < argc) {
            json_t *attr = json_loads(argv[++i], 0, NULL);
            json_t *last = json_array_get(refs, json_array_size(refs) - 1);
            if (!attr || !last) {
                fprintf(stderr, "stratactl: --ref-attr wants a JSON object after a --ref\n");
                json_decref(attr);
                rc = CTL_EXIT_USAGE;
                break;
            }
            json_array_set_new(last, 2, attr);
        } else if (strchr(argv[i], '=') && argv[i][0] != '-') {
            kvs[nkv++] = argv[i];
        } else if (argv[i][0] != '-' && !create && !id) {
            id = argv[i];
        } else if (argv[i][0] != '-' && create && !name) {
            name = argv[i];
        } else {
            rc = api_usage();
        }
    }
    if (rc == 0 && !create && !id) {
        rc = api_usage();
    }
    if (rc == 0) {
        rc = file ? load_body(file, t, &obj) : 0;
        if (!obj) {
            obj = json_object();
        }
    }
    if (rc == 0 && name) {
        json_object_set_new(obj, "name", json_string(name));
    }
    for (int i = 0; i < nkv && rc == 0; i++) {
        rc = set_kv(c->schema, t, obj, kvs[i]);
    }
    if (rc == 0 && parent) {
        const char *pname = json_string_value(json_object_get(obj, "name"));
        if (!pname) {
            fprintf(stderr, "stratactl: --parent needs the object's NAME\n");
            rc = CTL_EXIT_USAGE;
        } else if (is_uuid(parent)) {
            json_object_set_new(obj, "parent_uuid", json_string(parent));
        } else {
            json_t *fq = fq_split(parent);
            json_array_append_new(fq, json_string(pname));
            json_object_set_new(obj, "fq_name", fq);
            if (!parent_type) {
                /* The parent type whose objects have fq_names this long. */
                for (size_t i = 0; i < t->parents_len; i++) {
                    int len = t->parents[i]->fq_name_len;
                    if (t->parents_len == 1 || len == (int)json_array_size(fq) - 1) {
                        parent_type = t->parents[i]->name;
                    }
                }
            }
            if (parent_type) {
                json_object_set_new(obj, "parent_type", json_string(parent_type));
            }
        }
    }
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r) {
        if (rc != 0) {
            break;
        }
        const char *to = json_string_value(json_array_get(r, 0));
        const char *target = json_string_value(json_array_get(r, 1));
        const struct schema_type *tt = find_type(c->schema, to);
        const struct schema_ref *ref = tt ? schema_type_ref_to(t, tt->name) : NULL;
        if (!ref) {
            fprintf(stderr, "stratactl: a %s has no reference to %s\n", t->name, tt ? tt->name : to);
            rc = CTL_EXIT_USAGE;
            break;
        }
        json_t *list = json_object_get(obj, ref->key);
        if (!json_is_array(list)) {
            list = json_array();
            json_object_set_new(obj, ref->key, list);
        }
        json_t *entry = is_uuid(target) ? json_pack("{s:s}", "uuid", target) : json_pack("{s:o}", "to", fq_split(target));
        json_t *attr = json_array_get(r, 2);
        if (json_is_object(attr)) {
            json_object_set(entry, "attr", attr);
        }
        json_array_append_new(list, entry);
    }
    char uuid[64] = "", path[256], what[600];
    if (rc == 0 && !create) {
        rc = resolve_id(c, t, id, uuid, sizeof uuid);
    }
    if (rc == 0) {
        json_t *body = json_pack("{s:O}", t->name, obj);
        json_t *doc = NULL;
        if (create) {
            snprintf(path, sizeof path, "/%s", t->plural);
            snprintf(what, sizeof what, "create %s%s%s", t->name, name ? " " : "", name ? name : "");
        } else {
            snprintf(path, sizeof path, "/%s/%s", t->name, uuid);
            snprintf(what, sizeof what, "update %s %s", t->name, id);
        }
        rc = api_call(c, create ? "POST" : "PUT", path, body, what, &doc);
        json_decref(body);
        if (rc == 0 && c->json) {
            print_json(doc ? doc : json_object());
        } else if (rc == 0) {
            const json_t *o = unwrap(doc, t);
            char fq[512] = "";
            fq_join(json_object_get(o, "fq_name"), fq, sizeof fq);
            const char *u = json_string_value(json_object_get(o, "uuid"));
            printf("%s %s %s uuid=%s\n", create ? "created" : "updated", t->name, fq[0] ? fq : (id ? id : "-"),
                   u ? u : (uuid[0] ? uuid : "-"));
        }
        json_decref(doc);
    }
    json_decref(obj);
    json_decref(refs);
    free(kvs);
    return rc;
}

/* `stratactl CMD revoke UUID`: DELETE /COLLECTION/UUID; 'noun' names it in
 * the confirmation. */
static int token_revoke(struct api_ctl *c, const char *cmd, const char *collection, const char *noun, const char *uuid)
{
    char path[256], what[64];
    if (!is_uuid(uuid)) {
        fprintf(stderr, "stratactl: %s revoke wants the token's uuid (stratactl %s list)\n", cmd, cmd);
        return CTL_EXIT_USAGE;
    }
    snprintf(path, sizeof path, "/%s/%s", collection, uuid);
    snprintf(what, sizeof what, "%s revoke", cmd);
    int rc = api_call(c, "DELETE", path, NULL, what, NULL);
    if (rc == 0) {
        printf("revoked %s %s\n", noun, uuid);
    }
    return rc;
}

/* ---- tokens ---- */

static int cmd_token(struct api_ctl *c, int argc, char **argv)
{
    if (argc < 1) {
        return api_usage();
    }
    const char *verb = argv[0];
    json_t *doc = NULL;
    int rc;
    if (strcmp(verb, "create") == 0) {
        json_t *req = json_object();
        rc = 0;
        for (int i = 1; i < argc && rc == 0; i++) {
            const char *key = strcmp(argv[i], "--role") == 0          ? "role"
                              : strcmp(argv[i], "--project") == 0     ? "project"
                              : strcmp(argv[i], "--expires") == 0     ? "expires"
                              : strcmp(argv[i], "--ttl") == 0         ? "ttl"
                              : strcmp(argv[i], "--description") == 0 ? "description"
                                                                       : NULL;
            if (!key || i + 1 >= argc) {
                rc = api_usage();
                break;
            }
            const char *v = argv[++i];
            if (strcmp(key, "project") == 0) {
                json_object_set_new(req, is_uuid(v) ? "project_uuid" : "project",
                                    is_uuid(v) ? json_string(v) : fq_split(v));
            } else if (strcmp(key, "ttl") == 0) {
                char *end = NULL;
                long long ttl = strtoll(v, &end, 10);
                if (*end || ttl <= 0) {
                    fprintf(stderr, "stratactl: --ttl wants a number of seconds\n");
                    rc = CTL_EXIT_USAGE;
                }
                json_object_set_new(req, key, json_integer(ttl));
            } else {
                json_object_set_new(req, key, json_string(v));
            }
        }
        if (rc == 0) {
            rc = api_call(c, "POST", "/tokens", req, "token create", &doc);
        }
        json_decref(req);
        if (rc == 0 && c->json) {
            print_json(doc);
        } else if (rc == 0) {
            const char *tok = json_string_value(json_object_get(doc, "token"));
            json_t *info = json_object_get(doc, "api-token");
            const char *u = json_string_value(json_object_get(info ? info : doc, "uuid"));
            printf("%s\n", tok ? tok : "(no token in the answer)");
            fprintf(stderr, "token uuid=%s (the secret above is shown once; the cluster keeps only its hash)\n",
                    u ? u : "-");
        }
    } else if (strcmp(verb, "list") == 0 && argc == 1) {
        rc = api_call(c, "GET", "/tokens", NULL, "token list", &doc);
        json_t *items = json_object_get(doc, "tokens");
        if (!items) {
            items = json_object_get(doc, "api-tokens");
        }
        if (rc == 0 && c->json) {
            print_json(items ? items : doc);
        } else if (rc == 0) {
            size_t i;
            json_t *e;
            printf("%-36s  %-7s  %-24s  %-20s  %s\n", "UUID", "ROLE", "PROJECT", "EXPIRES", "DESCRIPTION");
            json_array_foreach(items, i, e) {
                json_t *o = json_object_get(e, "api-token");
                o = o ? o : e;
                char project[256] = "-";
                json_t *pref = json_array_get(json_object_get(o, "project_refs"), 0);
                if (pref) {
                    fq_join(json_object_get(pref, "to"), project, sizeof project);
                }
                const char *fields[] = {"uuid", "token_role", "token_expires", "token_description"};
                const char *vals[4];
                for (int k = 0; k < 4; k++) {
                    vals[k] = json_string_value(json_object_get(o, fields[k]));
                    vals[k] = vals[k] && *vals[k] ? vals[k] : "-";
                }
                printf("%-36s  %-7s  %-24s  %-20s  %s%s\n", vals[0], vals[1], project, vals[2], vals[3],
                       json_is_true(json_object_get(o, "token_revoked")) ? " (revoked)" : "");
            }
        }
    } else if (strcmp(verb, "revoke") == 0 && argc == 2) {
        rc = token_revoke(c, "token", "tokens", "token", argv[1]);
    } else {
        rc = api_usage();
    }
    json_decref(doc);
    return rc;
}

/* ---- join tokens ---- */

static int cmd_join_token(struct api_ctl *c, int argc, char **argv)
{
    if (argc < 1) {
        return api_usage();
    }
    const char *verb = argv[0];
    json_t *doc = NULL;
    int rc = 0;
    if (strcmp(verb, "create") == 0) {
        json_t *req = json_object();
        for (int i = 1; i < argc && rc == 0; i++) {
            const char *key = strcmp(argv[i], "--kind") == 0      ? "kind"
                              : strcmp(argv[i], "--name") == 0    ? "name"
                              : strcmp(argv[i], "--ttl") == 0     ? "ttl"
                              : strcmp(argv[i], "--address") == 0 ? "address"
                                                                  : NULL;
            if (!key || i + 1 >= argc) {
                rc = api_usage();
                break;
            }
            const char *v = argv[++i];
            if (strcmp(key, "ttl") == 0) {
                char *end = NULL;
                long long ttl = strtoll(v, &end, 10);
                if (*end || ttl <= 0) {
                    fprintf(stderr, "stratactl: --ttl wants a number of seconds\n");
                    rc = CTL_EXIT_USAGE;
                }
                json_object_set_new(req, key, json_integer(ttl));
            } else {
                json_object_set_new(req, key, json_string(v));
            }
        }
        if (rc == 0 && (!json_object_get(req, "kind") || !json_object_get(req, "name"))) {
            fprintf(stderr, "stratactl: join-token create wants --kind controller|vrouter and --name NAME\n");
            rc = CTL_EXIT_USAGE;
        }
        if (rc == 0) {
            rc = api_call(c, "POST", "/join-tokens", req, "join-token create", &doc);
        }
        json_decref(req);
        if (rc == 0 && c->json) {
            print_json(doc);
        } else if (rc == 0) {
            const char *tok = json_string_value(json_object_get(doc, "token"));
            json_t *info = json_object_get(doc, "join-token");
            const char *u = json_string_value(json_object_get(info, "uuid"));
            printf("%s\n", tok ? tok : "(no token in the answer)");
            fprintf(stderr, "join token uuid=%s expires=%lld (single use; shown once)\n", u ? u : "-",
                    (long long)json_integer_value(json_object_get(info, "expires")));
        }
    } else if (strcmp(verb, "list") == 0 && argc == 1) {
        rc = api_call(c, "GET", "/join-tokens", NULL, "join-token list", &doc);
        json_t *items = json_object_get(doc, "join-tokens");
        if (rc == 0 && c->json) {
            print_json(items ? items : doc);
        } else if (rc == 0) {
            size_t i;
            json_t *e;
            printf("%-36s  %-10s  %-20s  %-7s  %-20s  %s\n", "UUID", "KIND", "NAME", "STATE", "EXPIRES", "ADDRESS");
            json_array_foreach(items, i, e) {
                char when[32] = "-";
                time_t t = (time_t)json_integer_value(json_object_get(e, "expires"));
                struct tm tm;
                if (t && gmtime_r(&t, &tm)) {
                    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
                }
                const char *addr = json_string_value(json_object_get(e, "address"));
                printf("%-36s  %-10s  %-20s  %-7s  %-20s  %s\n",
                       json_string_value(json_object_get(e, "uuid")) ?: "-",
                       json_string_value(json_object_get(e, "kind")) ?: "-",
                       json_string_value(json_object_get(e, "name")) ?: "-",
                       json_string_value(json_object_get(e, "state")) ?: "-", when, addr ? addr : "-");
            }
        }
    } else if (strcmp(verb, "revoke") == 0 && argc == 2) {
        rc = token_revoke(c, "join-token", "join-tokens", "join token", argv[1]);
    } else {
        rc = api_usage();
    }
    json_decref(doc);
    return rc;
}

/* ---- cluster ---- */

/* Probes every API URL on its own connection: reachable, authenticated,
 * round-trip time. Exit 0 when at least a majority answers. */
static int cmd_cluster_version(struct api_ctl *c, int argc, char **argv);

static int cmd_cluster(struct api_ctl *c, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "version") == 0) {
        return cmd_cluster_version(c, argc - 1, argv + 1);
    }
    if (argc != 1 || strcmp(argv[0], "status") != 0) {
        return api_usage();
    }
    char list[sizeof c->url];
    int up = 0, total = 0;
    json_t *out = json_array();
    snprintf(list, sizeof list, "%s", c->url);
    if (!c->json) {
        printf("%-32s  %-12s  %s\n", "ENDPOINT", "STATE", "DETAIL");
    }
    for (char *save = NULL, *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        struct ctl_http *h = NULL;
        char err[512] = "", detail[600] = "";
        const char *state = "down";
        struct buf resp;
        int status = 0, rc;
        struct timespec t0, t1;
        total++;
        buf_init(&resp, 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = ctl_http_create(u, c->ca, 5000, &h, err, sizeof err);
        if (rc == 0) {
            rc = ctl_http_request(h, "GET", "/", c->token, NULL, 0, &status, &resp);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (rc != 0) {
            snprintf(detail, sizeof detail, "%s", err[0] ? err : strata_strerror(rc));
        } else if (status == 200) {
            state = "up";
            up++;
            snprintf(detail, sizeof detail, "HTTP %d in %.1f ms", status, ms);
        } else {
            state = status == 503 ? "no-leader" : status == 401 || status == 403 ? "denied" : "error";
            up += status == 401 || status == 403;
            snprintf(detail, sizeof detail, "HTTP %d in %.1f ms", status, ms);
        }
        if (c->json) {
            json_array_append_new(out, json_pack("{s:s, s:s, s:i, s:s}", "url", u, "state", state, "http_status",
                                                 status, "detail", detail));
        } else {
            printf("%-32s  %-12s  %s\n", u, state, detail);
        }
        buf_destroy(&resp);
        ctl_http_free(h);
    }
    /* What a joining node pins (stratad join --ca-fingerprint). */
    struct pki_cert *ca = NULL;
    char fp[PKI_FINGERPRINT_HEX] = "";
    if (pki_cert_load(c->ca, &ca) != 0 || pki_cert_fingerprint(ca, fp) != 0) {
        fp[0] = '\0';
    }
    pki_cert_free(ca);
    if (c->json) {
        json_t *doc = json_pack("{s:o,s:s}", "endpoints", out, "ca_fingerprint", fp[0] ? fp : "");
        print_json(doc);
        json_decref(doc);
    } else {
        printf("%d of %d endpoints answer%s\n", up, total, up * 2 > total ? "" : " (no majority)");
        printf("cluster CA %s fingerprint %s%s\n", c->ca, fp[0] ? "sha256:" : "", fp[0] ? fp : "(unreadable)");
        json_decref(out);
    }
    return up * 2 > total ? CTL_EXIT_OK : CTL_EXIT_UNAVAILABLE;
}

/* stratactl cluster version [raise N]: the compiler rules version the
 * cluster compiles with and the answering node's range; raise (admin) moves
 * the cluster to N once every node reported that it implements N. */
static int cmd_cluster_version(struct api_ctl *c, int argc, char **argv)
{
    json_t *doc = NULL, *body = NULL;
    int rc;
    if (argc == 0) {
        rc = api_call(c, "GET", "/cluster-version", NULL, "cluster version", &doc);
    } else if (argc == 2 && strcmp(argv[0], "raise") == 0) {
        char *end;
        long v = strtol(argv[1], &end, 10);
        if (*end || v < 1 || v > 1000000) {
            fprintf(stderr, "stratactl: cluster version raise: '%s' is not a version number\n", argv[1]);
            return CTL_EXIT_USAGE;
        }
        body = json_pack("{s:i}", "version", (int)v);
        rc = body ? api_call(c, "POST", "/cluster-version", body, "cluster version raise", &doc) : CTL_EXIT_FAIL;
        json_decref(body);
    } else {
        return api_usage();
    }
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (c->json) {
        print_json(doc);
    } else if (json_object_get(doc, "node")) {
        json_t *n = json_object_get(doc, "node");
        printf("cluster version %lld (this node implements %lld..%lld)\n",
               (long long)json_integer_value(json_object_get(doc, "version")),
               (long long)json_integer_value(json_object_get(n, "min")),
               (long long)json_integer_value(json_object_get(n, "max")));
    } else {
        printf("cluster version %lld at revision %lld\n",
               (long long)json_integer_value(json_object_get(doc, "version")),
               (long long)json_integer_value(json_object_get(doc, "revision")));
    }
    json_decref(doc);
    return CTL_EXIT_OK;
}

/* ---- bgp ---- */

static void print_neighbors(const json_t *arr)
{
    printf("%-16s  %-15s  %-10s  %-11s  %8s  %5s  %8s  %8s  %s\n", "NAME", "ADDRESS", "AS", "STATE", "UPTIME",
           "FLAPS", "RECEIVED", "SENT", "LAST ERROR");
    size_t i;
    json_t *n;
    json_array_foreach(arr, i, n) {
        const char *err = json_string_value(json_object_get(n, "last_error"));
        printf("%-16s  %-15s  %-10lld  %-11s  %8lld  %5lld  %8lld  %8lld  %s\n",
               json_string_value(json_object_get(n, "name")), json_string_value(json_object_get(n, "address")),
               (long long)json_integer_value(json_object_get(n, "peer_as")),
               json_string_value(json_object_get(n, "state")),
               (long long)json_integer_value(json_object_get(n, "uptime_s")),
               (long long)json_integer_value(json_object_get(n, "flaps")),
               (long long)json_integer_value(json_object_get(n, "prefixes_received")),
               (long long)json_integer_value(json_object_get(n, "prefixes_advertised")), err && *err ? err : "-");
    }
}

static void print_routes(const json_t *arr)
{
    printf("%-40s  %-15s  %8s  %4s  %-12s  %s\n", "PREFIX", "NEXT HOP", "LABEL", "BEST", "AS PATH", "TARGETS");
    size_t i, k, m;
    json_t *r, *p, *v;
    json_array_foreach(arr, i, r) {
        json_array_foreach(json_object_get(r, "paths"), k, p) {
            char asp[128] = "", rts[256] = "";
            size_t len = 0;
            json_array_foreach(json_object_get(p, "as_path"), m, v) {
                int n = snprintf(asp + len, sizeof asp - len, "%s%lld", m ? " " : "", (long long)json_integer_value(v));
                len = n > 0 && (size_t)n < sizeof asp - len ? len + (size_t)n : len;
            }
            len = 0;
            json_array_foreach(json_object_get(p, "route_targets"), m, v) {
                int n = snprintf(rts + len, sizeof rts - len, "%s%s", m ? "," : "", json_string_value(v));
                len = n > 0 && (size_t)n < sizeof rts - len ? len + (size_t)n : len;
            }
            printf("%-40s  %-15s  %8lld  %4s  %-12s  %s\n", k ? "" : json_string_value(json_object_get(r, "prefix")),
                   json_string_value(json_object_get(p, "next_hop")),
                   (long long)json_integer_value(json_object_get(p, "label")),
                   json_is_true(json_object_get(p, "best")) ? "*" : "", asp[0] ? asp : "-", rts[0] ? rts : "-");
        }
    }
}

/* Prints a summary object as "key: value" lines, nested keys dotted. */
static void print_flat(const char *prefix, const json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", prefix, prefix[0] ? "." : "", k);
        if (json_is_object(v)) {
            print_flat(name, v);
        } else if (json_is_string(v)) {
            printf("%-32s %s\n", name, json_string_value(v));
        } else {
            char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            printf("%-32s %s\n", name, text ? text : "?");
            free(text);
        }
    }
}

static int cmd_bgp(struct api_ctl *c, int argc, char **argv)
{
    char path[512];
    if (argc == 1 && strcmp(argv[0], "neighbors") == 0) {
        snprintf(path, sizeof path, "/bgp/neighbors");
    } else if (argc == 1 && strcmp(argv[0], "summary") == 0) {
        snprintf(path, sizeof path, "/bgp/summary");
    } else if (argc == 1 && strcmp(argv[0], "routes") == 0) {
        snprintf(path, sizeof path, "/bgp/routes");
    } else if (argc == 2 && strcmp(argv[0], "routes") == 0 && argv[1][0] &&
               strspn(argv[1], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") ==
                   strlen(argv[1]) &&
               strlen(argv[1]) < 256) {
        snprintf(path, sizeof path, "/bgp/routes/%s", argv[1]);
    } else {
        return api_usage();
    }
    json_t *doc = NULL;
    c->no_retry_unavailable = true;
    int rc = api_call(c, "GET", path, NULL, path + 1, &doc);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (c->json) {
        print_json(doc);
    } else if (json_object_get(doc, "neighbors")) {
        print_neighbors(json_object_get(doc, "neighbors"));
    } else if (json_object_get(doc, "routes")) {
        print_routes(json_object_get(doc, "routes"));
    } else if (json_object_get(doc, "tables")) {
        print_flat("", json_object_get(doc, "tables"));
    } else {
        print_flat("", doc);
    }
    json_decref(doc);
    return CTL_EXIT_OK;
}

static int cmd_types(const struct schema *s)
{
    size_t n = schema_type_count(s);
    for (size_t i = 0; i < n; i++) {
        const struct schema_type *t = schema_type_at(s, i);
        printf("%s\n", t->name);
    }
    return 0;
}

int ctl_api(int argc, char **argv)
{
    struct api_ctl c;
    struct schema_error serr;
    int i = 1, rc;
    memset(&c, 0, sizeof c);
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--url") == 0 && arg) {
            snprintf(c.url, sizeof c.url, "%s", arg);
        } else if (strcmp(argv[i], "--token") == 0 && arg) {
            snprintf(c.token, sizeof c.token, "%s", arg);
        } else if (strcmp(argv[i], "--token-file") == 0 && arg) {
            if ((rc = read_token_file(arg, c.token, sizeof c.token)) != 0) {
                return rc;
            }
        } else if (strcmp(argv[i], "--ca") == 0 && arg) {
            snprintf(c.ca, sizeof c.ca, "%s", arg);
        } else if (strcmp(argv[i], "-o") == 0 && arg && (strcmp(arg, "json") == 0 || strcmp(arg, "table") == 0)) {
            c.json = strcmp(arg, "json") == 0;
        } else {
            return api_usage();
        }
        i++;
    }
    if (i >= argc || strcmp(argv[i], "help") == 0 || strcmp(argv[i], "--help") == 0) {
        return api_usage();
    }
    const char *env;
    if (!c.url[0] && (env = getenv("STRATA_URL")) != NULL) {
        snprintf(c.url, sizeof c.url, "%s", env);
    }
    if (!c.token[0] && (env = getenv("STRATA_TOKEN")) != NULL) {
        snprintf(c.token, sizeof c.token, "%s", env);
    }
    if (!c.token[0] && (env = getenv("STRATA_TOKEN_FILE")) != NULL && env[0] && (rc = read_token_file(env, c.token, sizeof c.token)) != 0) {
        return rc;
    }
    if (!c.ca[0] && (env = getenv("STRATA_CA")) != NULL) {
        snprintf(c.ca, sizeof c.ca, "%s", env);
    }
    if ((rc = load_config_file(&c)) != 0) {
        return rc;
    }
    if (!c.ca[0]) {
        snprintf(c.ca, sizeof c.ca, "/etc/strata/pki/ca.pem");
    }
    if (schema_load_builtin(&c.schema, &serr) != 0) {
        fprintf(stderr, "stratactl: schema: %s\n", serr.message);
        return CTL_EXIT_FAIL;
    }
    const char *cmd = argv[i];
    const struct schema_type *t = NULL;
    if (strcmp(cmd, "types") == 0) {
        rc = cmd_types(c.schema);
        goto out;
    }
    if (strcmp(cmd, "token") != 0 && strcmp(cmd, "join-token") != 0 && strcmp(cmd, "cluster") != 0 &&
        strcmp(cmd, "bgp") != 0 &&
        !(t = find_type(c.schema, cmd))) {
        fprintf(stderr, "stratactl: unknown command or object type '%s' (stratactl types)\n", cmd);
        rc = CTL_EXIT_USAGE;
        goto out;
    }
    if (t && (i + 1 >= argc)) {
        rc = api_usage();
        goto out;
    }
    if (!c.url[0]) {
        fprintf(stderr, "stratactl: no API URL (--url, STRATA_URL or url = in stratactl.conf)\n");
        rc = CTL_EXIT_USAGE;
        goto out;
    }
    char err[512] = "";
    /* cluster status probes every URL on its own connection */
    bool probe = strcmp(cmd, "cluster") == 0 && (i + 1 >= argc || strcmp(argv[i + 1], "version") != 0);
    if (!probe && (rc = ctl_http_create(c.url, c.ca, 30000, &c.http, err, sizeof err)) != 0) {
        fprintf(stderr, "stratactl: %s\n", err);
        rc = rc == CTL_HTTP_EURL ? CTL_EXIT_USAGE : CTL_EXIT_FAIL;
        goto out;
    }
    int nargs = argc - i - 1;
    char **args = argv + i + 1;
    if (strcmp(cmd, "token") == 0) {
        rc = cmd_token(&c, nargs, args);
    } else if (strcmp(cmd, "join-token") == 0) {
        rc = cmd_join_token(&c, nargs, args);
    } else if (strcmp(cmd, "cluster") == 0) {
        rc = cmd_cluster(&c, nargs, args);
    } else if (strcmp(cmd, "bgp") == 0) {
        rc = cmd_bgp(&c, nargs, args);
    } else if (strcmp(args[0], "list") == 0) {
        rc = obj_list(&c, t, nargs - 1, args + 1);
    } else if (strcmp(args[0], "show") == 0 || strcmp(args[0], "get") == 0) {
        rc = obj_show(&c, t, nargs - 1, args + 1);
    } else if (strcmp(args[0], "create") == 0) {
        rc = obj_write(&c, t, true, nargs - 1, args + 1);
    } else if (strcmp(args[0], "update") == 0) {
        rc = obj_write(&c, t, false, nargs - 1, args + 1);
    } else if (strcmp(args[0], "delete") == 0) {
        rc = obj_delete(&c, t, nargs - 1, args + 1);
    } else {
        rc = api_usage();
    }
out:
    ctl_http_free(c.http);
    schema_free(c.schema);
    return rc;
}
