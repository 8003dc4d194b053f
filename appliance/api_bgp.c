/* The config role's /bgp endpoints, minus the socket: which command line
 * the control role is asked (api_bgp_command) and how its JSON answer
 * becomes the REST answer (api_bgp_answer). api_exec.c authorizes and does
 * the blocking round trip in between (routing/control/ctl_sock.h). */
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "appliance/api_int.h"

static bool table_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > API_BGP_TABLE_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == ':' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* The table asked for, or NULL for none; '*bad' when it is unusable. */
static const char *table_of(const struct api_call *call, bool *bad)
{
    const char *q = api_query_get(call, "table");
    *bad = (q && call->table) || (q && !table_ok(q)) || (call->table && !table_ok(call->table));
    return call->table ? call->table : q;
}

int api_bgp_command(const struct api_call *call, char *line, size_t size, char *msg, size_t msg_size)
{
    int n;
    if (call->route == API_R_BGP_NEIGHBORS) {
        n = snprintf(line, size, "neighbors");
    } else if (call->route == API_R_BGP_SUMMARY) {
        n = snprintf(line, size, "summary");
    } else if (call->route == API_R_BGP_ROUTES) {
        bool bad;
        const char *t = table_of(call, &bad);
        if (bad) {
            snprintf(msg, msg_size, "table: once, 1..%d of letters, digits and \"._:-\"", API_BGP_TABLE_MAX);
            return 400;
        }
        if (!t) {
            n = snprintf(line, size, "routes");
        } else {
            n = snprintf(line, size, strchr(t, '.') ? "routes %s" : "routes %s.inet.0", t);
        }
    } else {
        snprintf(msg, msg_size, "not a BGP route");
        return 404;
    }
    if (n < 0 || (size_t)n >= size) {
        snprintf(msg, msg_size, "table name too long");
        return 400;
    }
    return 0;
}

int api_bgp_answer(const struct api_call *call, int rc, const char *answer, json_t **doc, char *msg,
                   size_t msg_size)
{
    *doc = NULL;
    if (rc == UV_ENOENT || rc == UV_ECONNREFUSED || rc == UV_ENOTSOCK) {
        snprintf(msg, msg_size, "the control role is not running on this node");
        return 503;
    }
    if (rc == UV_ETIMEDOUT) {
        snprintf(msg, msg_size, "the control role did not answer in time");
        return 503;
    }
    if (rc != 0) {
        snprintf(msg, msg_size, "control role: %s", uv_strerror(rc));
        return 503;
    }
    json_error_t je;
    json_t *a = json_loads(answer, JSON_REJECT_DUPLICATES, &je);
    if (!a) {
        snprintf(msg, msg_size, "the control role's answer is not JSON");
        return 502;
    }
    const char *err = json_is_object(a) ? json_string_value(json_object_get(a, "error")) : NULL;
    if (err) {
        int status = strcmp(err, "no such table") == 0 ? 404 : 503;
        snprintf(msg, msg_size, "%s", err);
        json_decref(a);
        return status;
    }
    bool bad;
    const char *t = call->route == API_R_BGP_ROUTES ? table_of(call, &bad) : NULL;
    if (call->route == API_R_BGP_NEIGHBORS) {
        *doc = json_pack("{s:o}", "neighbors", a);
    } else if (call->route == API_R_BGP_ROUTES && !t) {
        *doc = json_pack("{s:o}", "tables", a);
    } else if (call->route == API_R_BGP_ROUTES) {
        char name[API_BGP_TABLE_MAX + 16];
        snprintf(name, sizeof name, strchr(t, '.') ? "%s" : "%s.inet.0", t);
        *doc = json_pack("{s:s, s:o}", "table", name, "routes", a);
    } else {
        *doc = a;
    }
    if (!*doc) {
        snprintf(msg, msg_size, "out of memory");
        return 500;
    }
    return 200;
}

void api_bgp_openapi(json_t *paths)
{
    static const struct {
        const char *path, *summary;
        bool table_param, table_query;
    } ops[] = {
        {"/bgp/neighbors", "This node's BGP sessions (its control role)", false, false},
        {"/bgp/summary", "This node's control role: BGP, store feed, XMPP", false, false},
        {"/bgp/routes", "Route tables and their counts, or one table (?table=)", false, true},
        {"/bgp/routes/{table}", "The routes of one table (an instance name: its inet table)", true, false},
    };
    if (!json_is_object(paths)) {
        return;
    }
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        json_t *params = json_array();
        if (ops[i].table_param || ops[i].table_query) {
            json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:{s:s, s:s, s:i}}", "name", "table", "in",
                                                    ops[i].table_param ? "path" : "query", "required",
                                                    ops[i].table_param, "schema", "type", "string", "pattern",
                                                    "^[A-Za-z0-9._:-]+$", "maxLength", API_BGP_TABLE_MAX));
        }
        json_object_set_new(
            paths, ops[i].path,
            json_pack("{s:{s:s, s:[s], s:o, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}}}", "get", "summary",
                      ops[i].summary, "tags", "bgp", "parameters", params, "responses", "200", "description", "OK",
                      "400", "description", "malformed table name", "403", "description",
                      "project-scoped token", "404", "description", "no such table", "503", "description",
                      "the control role is not running on this node or not answering"));
    }
}
