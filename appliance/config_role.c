/* The config role's process and loop glue: options, the HTTPS server and
 * its generated routes, the hand-off of each request to a threadpool worker
 * holding a pooled blocking store client, and the bootstrap admin token.
 * The operations themselves are in api_exec.c and api_auth.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "appliance/api_int.h"
#include "appliance/config_role.h"
#include "appliance/hostport.h"
#include "appliance/pkiset.h"
#include "compiler/derive.h"
#include "lib/log.h"
#include "store/client.h"
#include "store/fsm.h"
#include "store/proto.h"

STRATA_ERR_DEFINE(config_role, CONFIG_ROLE_ERRORS)

#define MOD "config"
/* Requests answered later than this are logged as a warning, and at debug
 * level from CONFIG_SLOW_DEBUG_MS, with where the time went. */
#define CONFIG_SLOW_MS 1000
#define CONFIG_SLOW_DEBUG_MS 10

/* A worker's store connection and graph; pooled, used by one thread at a
 * time. 'client' is NULL until first use and after a transport error. */
struct worker {
    struct config_role *role;
    struct store_client *client;
    struct graph g;
    struct worker *next;
    /* the running request's store round trips (worker_cmd, worker_wait) */
    uint64_t store_ns;
    unsigned store_calls;
};

/* What a route's handler needs to know. */
struct route {
    struct config_role *role;
    enum api_route kind;
    const struct schema_type *type;
};

struct job {
    uv_work_t work;
    struct config_role *role;
    struct http_request *req;
    uint64_t t_queued; /* uv_hrtime when handed to the thread pool */
    struct api_call call;
    const char *bearer;
    struct api_result res;
};

struct config_role {
    uv_loop_t *loop;
    char *store_target;
    char *control_sock;
    struct tls_ctx *store_tls;
    unsigned store_timeout_ms;
    struct schema *schema;
    struct api_shared shared;
    struct http_router *router;
    struct http_server *server;
    struct route *routes;
    size_t routes_len;
    pthread_mutex_t lock; /* guards 'idle', 'workers', 'store_clients', 'conflicts' */
    struct worker *idle;
    size_t workers;
    uint64_t store_clients;
    uint64_t conflicts;
    struct config_role_stats compile; /* the compile_* counters, in ns until read */
    uint64_t requests; /* loop thread */
    struct derive *derive;  /* the compiler's image, shared by the workers */
    /* the ordered, pipelined store connection of the compiling
     * transactions (graph_kv.send): opened at first use, reconnects on its
     * own; NULL with 'pipeline' false (STRATA_CONFIG_PIPELINE=0) */
    struct store_mux *mux;
    bool pipeline;
    pthread_mutex_t mux_lock; /* guards opening 'mux' */
    pthread_t feeder;       /* keeps 'derive' current: load, then watch /c/ */
    bool feeder_started;
    atomic_int feeder_stop; /* set on close; read by the feeder and the starter */
    char *node_name;        /* reports compiler versions under it; NULL: none */
    pthread_t starter;      /* start-up duties (starter_main) */
    bool starter_started;
    void (*on_closed)(void *data);
    void *on_closed_data;
};

/* ---- workers ---- */

static int worker_cmd(void *arg, const struct buf *cmd, bool serializable, struct buf *reply)
{
    struct worker *w = arg;
    struct config_role *r = w->role;
    int rc;
    bool fresh = !w->client;
    uint64_t t0 = uv_hrtime();
    if (!w->client) {
        rc = store_client_open(r->store_target, r->store_tls, r->store_timeout_ms, &w->client);
        if (rc) {
            w->client = NULL;
            log_warn("config", "store connection failed", "target=%s error=\"%s\"", r->store_target,
                     strata_strerror(rc));
            return rc;
        }
        pthread_mutex_lock(&r->lock);
        r->store_clients++;
        pthread_mutex_unlock(&r->lock);
    }
    int status = 0;
    uint64_t t1 = uv_hrtime();
    rc = store_client_call(w->client, STORE_MSG_CMD, serializable ? STORE_MSG_F_SERIALIZABLE : 0,
                           cmd->data, cmd->size, &status, reply);
    w->store_ns += uv_hrtime() - t1;
    w->store_calls++;
    if (rc) {
        log_warn("config", "store request failed; connection dropped",
                 "target=%s serializable=%d new_connection=%d ms=%llu error=\"%s\"", r->store_target,
                 serializable, fresh, (unsigned long long)((uv_hrtime() - t0) / 1000000), strata_strerror(rc));
        store_client_close(w->client);
        w->client = NULL;
        return rc;
    }
    return status;
}

/* graph_kv.send: queues a compiling transaction on the role's ordered
 * connection (opened here at first use). */
static int worker_send(void *arg, const struct buf *cmd, void **pending)
{
    struct worker *w = arg;
    struct config_role *r = w->role;
    int rc = 0;
    pthread_mutex_lock(&r->mux_lock);
    if (!r->mux) {
        rc = store_mux_open(r->store_target, r->store_tls, r->store_timeout_ms, &r->mux);
        if (rc) {
            r->mux = NULL;
            log_warn("config", "ordered store connection failed", "target=%s error=\"%s\"",
                     r->store_target, strata_strerror(rc));
        }
    }
    struct store_mux *m = r->mux;
    pthread_mutex_unlock(&r->mux_lock);
    if (rc) {
        return rc;
    }
    struct store_mux_req *req = NULL;
    rc = store_mux_send(m, STORE_MSG_CMD, 0, cmd->data, cmd->size, &req);
    *pending = req;
    return rc;
}

/* graph_kv.wait: the answer of a worker_send(). */
static int worker_wait(void *arg, void *pending, struct buf *reply)
{
    struct worker *w = arg;
    int status = 0;
    uint64_t t0 = uv_hrtime();
    int rc = store_mux_wait(w->role->mux, pending, &status, reply);
    w->store_ns += uv_hrtime() - t0; /* the wait only: the send does not block on the store */
    w->store_calls++;
    if (rc) {
        log_warn("config", "ordered store request failed", "target=%s error=\"%s\"",
                 w->role->store_target, strata_strerror(rc));
        return rc;
    }
    return status;
}

/* api_shared.members: the store's members from a STATUS call on the
 * worker's connection ('g' is a worker's graph). */
static int worker_members(struct graph *g, json_t **out)
{
    struct worker *w = g->kv.arg;
    struct config_role *r = w->role;
    struct buf raw;
    int status = 0, rc = 0;
    *out = NULL;
    if (!w->client) {
        rc = store_client_open(r->store_target, r->store_tls, r->store_timeout_ms, &w->client);
        if (rc) {
            w->client = NULL;
            return rc;
        }
    }
    buf_init(&raw, 0);
    rc = store_client_call(w->client, STORE_MSG_STATUS, 0, NULL, 0, &status, &raw);
    if (rc) {
        store_client_close(w->client);
        w->client = NULL;
    }
    rc = rc ? rc : status;
    json_t *doc = rc ? NULL : json_loadb((const char *)raw.data, raw.size, 0, NULL);
    buf_destroy(&raw);
    if (!rc && !doc) {
        rc = STORE_EFORMAT;
    }
    json_t *list = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(doc, "members"), i, m) {
        const char *addr = json_string_value(json_object_get(m, "address"));
        json_int_t id = json_integer_value(json_object_get(m, "id"));
        if (addr && id > 0) {
            json_array_append_new(list, json_sprintf("%lld=%s", (long long)id, addr));
        }
    }
    json_decref(doc);
    if (!rc && json_array_size(list) == 0) {
        rc = STORE_ENOQUORUM; /* a node without a leader knows no members */
    }
    if (rc) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return 0;
}

static struct worker *worker_take(struct config_role *r)
{
    pthread_mutex_lock(&r->lock);
    struct worker *w = r->idle;
    if (w) {
        r->idle = w->next;
    }
    pthread_mutex_unlock(&r->lock);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) {
            return NULL;
        }
        w->role = r;
        graph_init(&w->g, r->schema,
                   (struct graph_kv){.cmd = worker_cmd,
                                     .arg = w,
                                     .send = r->pipeline ? worker_send : NULL,
                                     .wait = r->pipeline ? worker_wait : NULL});
        graph_set_derive(&w->g, r->derive);
        pthread_mutex_lock(&r->lock);
        r->workers++;
        pthread_mutex_unlock(&r->lock);
    }
    return w;
}

static void worker_give(struct config_role *r, struct worker *w)
{
    pthread_mutex_lock(&r->lock);
    r->conflicts += w->g.txn_conflicts;
    w->g.txn_conflicts = 0;
    r->compile.compile_attempts += w->g.compile_attempts;
    r->compile.compile_refused += w->g.compile_refused;
    r->compile.compile_lock_ms += w->g.compile_lock_ns;
    r->compile.compile_plan_ms += w->g.compile_plan_ns;
    r->compile.compile_commit_ms += w->g.compile_commit_ns;
    r->compile.compile_catchup_ms += w->g.compile_catchup_ns;
    r->compile.compile_pipelined += w->g.compile_pipelined;
    w->g.compile_pipelined = 0;
    w->g.compile_attempts = w->g.compile_refused = 0;
    w->g.compile_lock_ns = w->g.compile_plan_ns = 0;
    w->g.compile_commit_ns = w->g.compile_catchup_ns = 0;
    w->next = r->idle;
    r->idle = w;
    pthread_mutex_unlock(&r->lock);
}

/* ---- requests ---- */

/* A request that took CONFIG_SLOW_DEBUG_MS or more (CONFIG_SLOW_MS: a
 * warning), with where its time went: waiting for a worker thread, store
 * round trips, and the compile's lock wait, plan, commit and catch-up
 * (graph.h); 'w' still holds this request's counters. */
static void job_log_slow(const struct job *j, const struct worker *w, uint64_t t_start, uint64_t t_end)
{
    uint64_t total_ms = (t_end - j->t_queued) / 1000000;
    if (total_ms < CONFIG_SLOW_DEBUG_MS) {
        return;
    }
    enum log_level level = total_ms >= CONFIG_SLOW_MS ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG;
    if (log_get_level() > level) {
        return;
    }
    static const char *const methods[HTTP_METHOD_COUNT_] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    char path[160];
    log_event(level, MOD, "slow request",
              "method=%s path=%s status=%d ms=%llu queued_ms=%llu store_ms=%llu store_calls=%u lock_ms=%llu "
              "plan_ms=%llu commit_ms=%llu catchup_ms=%llu attempts=%llu refused=%llu",
              (unsigned)j->req->method < HTTP_METHOD_COUNT_ ? methods[j->req->method] : "?", log_quote(path, sizeof path, j->req->path), j->res.status,
              (unsigned long long)total_ms, (unsigned long long)((t_start - j->t_queued) / 1000000),
              (unsigned long long)(w->store_ns / 1000000), w->store_calls,
              (unsigned long long)(w->g.compile_lock_ns / 1000000), (unsigned long long)(w->g.compile_plan_ns / 1000000),
              (unsigned long long)(w->g.compile_commit_ns / 1000000),
              (unsigned long long)(w->g.compile_catchup_ns / 1000000), (unsigned long long)w->g.compile_attempts,
              (unsigned long long)w->g.compile_refused);
}

static void work_cb(uv_work_t *work)
{
    struct job *j = work->data;
    uint64_t t_start = uv_hrtime();
    struct worker *w = worker_take(j->role);
    if (!w) {
        api_result_error(&j->res, 503, "out of memory", NULL);
        return;
    }
    w->store_ns = 0;
    w->store_calls = 0;
    api_handle(&j->role->shared, &w->g, j->bearer, &j->call, &j->res);
    job_log_slow(j, w, t_start, uv_hrtime());
    worker_give(j->role, w);
}

static void after_work_cb(uv_work_t *work, int status)
{
    struct job *j = work->data;
    struct http_request *req = j->req;
    if (status == UV_ECANCELED) {
        api_result_error(&j->res, 503, "request cancelled", NULL);
    }
    if (!j->res.text) {
        api_result_error(&j->res, 500, "no answer", NULL);
    }
    char v[64];
    if (j->res.etag) {
        snprintf(v, sizeof v, "\"%llu\"", (unsigned long long)j->res.etag);
        if (http_response_header(req, "ETag", v) != 0) {
            log_event(LOG_LEVEL_WARN, MOD, "ETag header refused", NULL);
        }
    }
    if (j->res.location[0]) {
        if (http_response_header(req, "Location", j->res.location) != 0) {
            log_event(LOG_LEVEL_WARN, MOD, "Location header refused", NULL);
        }
    }
    j->role->requests++;
    if (j->res.text) {
        http_respond_owned(req, j->res.status, "application/json", j->res.text, j->res.size);
        j->res.text = NULL;
    } else {
        http_respond_error(req, 500, "out of memory", NULL);
    }
    api_result_destroy(&j->res);
    free(j);
}

static void on_request(struct http_request *req, void *data)
{
    struct route *rt = data;
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        http_respond_error(req, 503, "out of memory", NULL);
        return;
    }
    j->role = rt->role;
    j->req = req;
    j->t_queued = uv_hrtime();
    j->work.data = j;
    j->bearer = http_request_bearer(req);
    j->call = (struct api_call){
        .route = rt->kind,
        .type = rt->type,
        .uuid = http_request_param(req, "uuid"),
        .table = http_request_param(req, "table"),
        .query = req->query,
        .query_len = req->query_len,
        .body = req->body,
        .body_size = req->body_size,
        .if_match = http_request_header(req, "If-Match"),
        .host = http_request_header(req, "Host"),
    };
    int rc = uv_queue_work(rt->role->loop, &j->work, work_cb, after_work_cb);
    if (rc) {
        free(j);
        http_respond_error(req, 503, "cannot queue the request", NULL);
    }
}


/* ---- the compiler's image ---- */

#define FEEDER_FLUSH_MS 3   /* a watch quiet this long after events: they are complete */
#define FEEDER_QUIET_MS 250 /* a watch with nothing pending returns this often */
#define FEEDER_RETRY_MS 500 /* after a failed load or connection */

/* The store's watch stream does not say where a revision's events end. A
 * revision counts as complete when an event of a later one arrives, or when
 * the watch has been quiet for FEEDER_FLUSH_MS. A watch started with nothing
 * pending waits FEEDER_QUIET_MS (few restarts while idle); the first new
 * event stops it, and the feeder re-watches from that event's revision with
 * the short timeout. Every watch starts at the last revision seen, so a
 * revision whose events a quiet gap cut in two is re-delivered whole
 * (re-applying a state is harmless; older states are ignored). */
struct feed {
    struct config_role *role;
    uint64_t applied; /* every event up to this revision is in the image */
    uint64_t pending; /* revision of the events being applied */
    bool quiet;       /* this watch was started with nothing pending */
    bool woke;        /* it stopped at its first event */
    int error;
};

/* One watch event into the image. */
static int feed_event(void *arg, const struct store_event *ev)
{
    struct feed *f = arg;
    if (ev->revision > f->pending && f->pending > f->applied) {
        f->applied = f->pending;
        derive_caught_up(f->role->derive, f->applied);
    }
    f->pending = ev->revision;
    int rc = derive_apply(f->role->derive, ev->kv.key, ev->kv.key_size, ev->kv.value,
                          ev->kv.value_size, ev->revision, ev->type == STORE_EVENT_DELETE);
    if (rc) {
        f->error = rc;
        return 1;
    }
    if (f->quiet && ev->revision > f->applied) {
        f->woke = true; /* events re-delivered from before 'applied' do not wake it */
        return 1;
    }
    return f->role->feeder_stop;
}

static void *feeder_main(void *arg)
{
    struct config_role *r = arg;
    derive_set_watched(r->derive, true);
    while (!r->feeder_stop) {
        struct store_client *c = NULL;
        struct graph_error err;
        uint64_t first = 0;
        int rc = store_client_open(r->store_target, r->store_tls, r->store_timeout_ms, &c);
        if (rc == 0) {
            struct graph g;
            graph_init(&g, r->schema, graph_kv_client(c));
            rc = graph_derive_load(&g, r->derive, &first, &err);
            if (rc) {
                log_event(LOG_LEVEL_WARN, MOD, "compiler image load failed", "error=\"%s\"",
                          err.message);
            }
        }
        struct feed f = {.role = r, .applied = derive_revision(r->derive)};
        f.pending = f.applied;
        uint64_t from = first + 1;
        while (rc == 0 && !r->feeder_stop && !derive_broken(r->derive)) {
            struct store_keysel sel = store_sel_prefix("/c/", 3);
            uint64_t compacted = 0;
            f.quiet = f.pending == f.applied;
            f.woke = false;
            rc = store_client_watch(c, from, &sel, f.quiet ? FEEDER_QUIET_MS : FEEDER_FLUSH_MS,
                                    feed_event, &f, &compacted);
            if (rc == 0 && f.error) {
                log_event(LOG_LEVEL_WARN, MOD, "compiler image event unreadable", "error=\"%s\"",
                          strata_strerror(f.error));
                rc = f.error;
            }
            if (rc == 0 && f.woke) {
                from = f.pending; /* again from the revision it stopped in */
                continue;
            }
            if (rc == 0 && f.pending > f.applied) {
                f.applied = f.pending;
                derive_caught_up(r->derive, f.applied);
            }
            /* again from the last revision seen, not the one after: its
             * events may have been split over frames (history is read in
             * chunks) and a quiet gap cut the watch between them */
            from = f.pending > from ? f.pending : from;
        }
        if (rc && rc != STORE_ECOMPACTED && !r->feeder_stop) {
            log_event(LOG_LEVEL_WARN, MOD, "compiler image watch ended", "error=\"%s\"",
                      strata_strerror(rc));
        }
        store_client_close(c);
        if (rc && rc != STORE_ECOMPACTED && !r->feeder_stop) {
            usleep(FEEDER_RETRY_MS * 1000);
        }
    }
    derive_set_watched(r->derive, false);
    tls_thread_done();
    return NULL;
}

/* ---- start-up duties ---- */

#define STARTER_RETRY_MS 1000

/* Once per start, on its own thread with a worker's graph, retried every
 * second until done or the role closes (the store may still be electing a
 * leader): records the compiler rules versions this node implements
 * (/c/nv/<node>, which a cluster-version raise checks), then finishes any
 * compile a node left split when it died (graph_compile_pending()). */
static void *starter_main(void *arg)
{
    struct config_role *r = arg;
    struct worker *w = worker_take(r);
    if (!w) {
        log_event(LOG_LEVEL_ERROR, MOD, "start-up duties skipped", "error=\"out of memory\"");
        return NULL;
    }
    for (unsigned attempt = 0; !r->feeder_stop; attempt++) {
        for (unsigned ms = 0; attempt && ms < STARTER_RETRY_MS && !r->feeder_stop; ms += 100) {
            usleep(100 * 1000);
        }
        if (r->feeder_stop) {
            break;
        }
        struct graph_error err = {0};
        int rc = graph_node_versions_report(&w->g, r->node_name, DERIVE_VERSION_MIN, DERIVE_VERSION, &err);
        rc = rc ? rc : graph_compile_pending(&w->g, &err);
        if (rc == 0) {
            log_info(MOD, "compiler versions reported", "node=%s min=%d max=%d", r->node_name,
                     DERIVE_VERSION_MIN, DERIVE_VERSION);
            break;
        }
        log_event(attempt < 10 ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, MOD, "start-up duties failed, retrying",
                  "error=\"%s\"", err.message[0] ? err.message : graph_strerror(rc));
    }
    worker_give(r, w);
    tls_thread_done();
    return NULL;
}

/* ---- routes ---- */

static int route_add(struct config_role *r, enum http_method_id m, const char *pattern,
                     enum api_route kind, const struct schema_type *t)
{
    struct route *rt = &r->routes[r->routes_len++];
    rt->role = r;
    rt->kind = kind;
    rt->type = t;
    return http_router_add(r->router, m, pattern, on_request, rt);
}

static int routes_build(struct config_role *r)
{
    size_t n = schema_type_count(r->schema);
    r->routes = calloc(5 * n + 24, sizeof *r->routes);
    if (!r->routes) {
        return CONFIG_ROLE_ENOMEM;
    }
    int rc = http_router_create(&r->router);
    static const struct {
        enum http_method_id m;
        const char *pattern;
        enum api_route kind;
    } fixed[] = {
        {HTTP_METHOD_GET, "/", API_R_ROOT},
        {HTTP_METHOD_GET, "/openapi.json", API_R_OPENAPI},
        {HTTP_METHOD_POST, "/fqname-to-id", API_R_FQ2ID},
        {HTTP_METHOD_POST, "/id-to-fqname", API_R_ID2FQ},
        {HTTP_METHOD_POST, "/ref-update", API_R_REFUPDATE},
        {HTTP_METHOD_POST, "/list-bulk-collection", API_R_BULK},
        {HTTP_METHOD_POST, "/batch", API_R_BATCH},
        {HTTP_METHOD_POST, "/tokens", API_R_TOKEN_CREATE},
        {HTTP_METHOD_GET, "/tokens", API_R_TOKEN_LIST},
        {HTTP_METHOD_DELETE, "/tokens/{uuid}", API_R_TOKEN_DELETE},
        {HTTP_METHOD_GET, "/bgp/neighbors", API_R_BGP_NEIGHBORS},
        {HTTP_METHOD_GET, "/bgp/summary", API_R_BGP_SUMMARY},
        {HTTP_METHOD_GET, "/bgp/routes", API_R_BGP_ROUTES},
        {HTTP_METHOD_GET, "/bgp/routes/{table}", API_R_BGP_ROUTES},
        {HTTP_METHOD_POST, "/join-tokens", API_R_JOIN_CREATE},
        {HTTP_METHOD_GET, "/join-tokens", API_R_JOIN_LIST},
        {HTTP_METHOD_DELETE, "/join-tokens/{uuid}", API_R_JOIN_DELETE},
        {HTTP_METHOD_POST, "/enroll", API_R_ENROLL},
        {HTTP_METHOD_GET, "/enroll/ca", API_R_ENROLL_CA},
        {HTTP_METHOD_GET, "/cluster-version", API_R_CLUSTER_VERSION},
        {HTTP_METHOD_POST, "/cluster-version", API_R_CLUSTER_VERSION_RAISE},
    };
    for (size_t i = 0; rc == 0 && i < sizeof fixed / sizeof fixed[0]; i++) {
        rc = route_add(r, fixed[i].m, fixed[i].pattern, fixed[i].kind, NULL);
    }
    char coll[128], item[128];
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct schema_type *t = schema_type_at(r->schema, i);
        snprintf(coll, sizeof coll, "/%s", t->plural);
        snprintf(item, sizeof item, "/%s/{uuid}", t->name);
        rc = route_add(r, HTTP_METHOD_POST, coll, API_R_CREATE, t);
        rc = rc ? rc : route_add(r, HTTP_METHOD_GET, coll, API_R_LIST, t);
        rc = rc ? rc : route_add(r, HTTP_METHOD_GET, item, API_R_READ, t);
        rc = rc ? rc : route_add(r, HTTP_METHOD_PUT, item, API_R_UPDATE, t);
        rc = rc ? rc : route_add(r, HTTP_METHOD_DELETE, item, API_R_DELETE, t);
    }
    return rc;
}

/* ---- lifecycle ---- */

static void role_free(struct config_role *r)
{
    if (!r) {
        return;
    }
    r->feeder_stop = 1;
    if (r->starter_started) {
        pthread_join(r->starter, NULL);
    }
    if (r->feeder_started) {
        pthread_join(r->feeder, NULL);
    }
    store_mux_close(r->mux);
    pthread_mutex_destroy(&r->mux_lock);
    derive_free(r->derive);
    while (r->idle) {
        struct worker *w = r->idle;
        r->idle = w->next;
        store_client_close(w->client);
        free(w);
    }
    http_router_free(r->router);
    free(r->routes);
    api_shared_destroy(&r->shared);
    schema_free(r->schema);
    free(r->store_target);
    free(r->control_sock);
    free(r->node_name);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int config_role_create(uv_loop_t *loop, const struct config_role_config *config,
                       struct config_role **out, char *errmsg, size_t errmsg_size)
{
    *out = NULL;
    if (!loop || !config || !config->store_target || !config->ca || !config->cert ||
        !config->key) {
        snprintf(errmsg, errmsg_size, "store target, CA, certificate and key are required");
        return CONFIG_ROLE_EUSAGE;
    }
    struct config_role *r = calloc(1, sizeof *r);
    if (!r) {
        return CONFIG_ROLE_ENOMEM;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->mux_lock, NULL);
    {
        /* measurement knob: STRATA_CONFIG_PIPELINE=0 keeps every compiling
         * transaction under the lock through its commit (the serial path) */
        const char *pl = getenv("STRATA_CONFIG_PIPELINE");
        r->pipeline = !(pl && strcmp(pl, "0") == 0);
    }
    r->loop = loop;
    r->store_tls = config->store_tls;
    r->store_timeout_ms =
        config->store_timeout_ms ? config->store_timeout_ms : CONFIG_ROLE_DEFAULT_STORE_TIMEOUT_MS;
    r->store_target = strdup(config->store_target);
    r->control_sock = config->control_sock ? strdup(config->control_sock) : NULL;
    struct schema_error se;
    int rc = r->store_target && (r->control_sock || !config->control_sock) ? 0 : CONFIG_ROLE_ENOMEM;
    if (rc == 0 && schema_load_builtin(&r->schema, &se) != 0) {
        snprintf(errmsg, errmsg_size, "schema: %s", se.message);
        rc = CONFIG_ROLE_ESCHEMA;
    }
    if (rc == 0 && api_shared_init(&r->shared, r->schema) != 0) {
        snprintf(errmsg, errmsg_size, "cannot build the OpenAPI document");
        rc = CONFIG_ROLE_ENOMEM;
    }
    r->shared.control_sock = r->control_sock;
    r->shared.ca = config->ca;
    r->shared.ca_key = config->ca_key;
    r->shared.members = worker_members;
    if (rc == 0 && derive_create(&r->derive) != 0) {
        snprintf(errmsg, errmsg_size, "cannot create the compiler image");
        rc = CONFIG_ROLE_ENOMEM;
    }
    if (rc == 0 && pthread_create(&r->feeder, NULL, feeder_main, r) != 0) {
        snprintf(errmsg, errmsg_size, "cannot start the compiler image thread");
        rc = CONFIG_ROLE_ENOMEM;
    } else if (rc == 0) {
        r->feeder_started = true;
    }
    if (rc == 0 && config->node_name) {
        r->node_name = strdup(config->node_name);
        if (!r->node_name || pthread_create(&r->starter, NULL, starter_main, r) != 0) {
            snprintf(errmsg, errmsg_size, "cannot start the start-up duties thread");
            rc = CONFIG_ROLE_ENOMEM;
        } else {
            r->starter_started = true;
        }
    }
    if (rc == 0 && (rc = routes_build(r)) != 0) {
        snprintf(errmsg, errmsg_size, "routes: %s", strata_strerror(rc));
    }
    if (rc == 0) {
        struct http_server_config hc = {
            .ca = config->ca,
            .cert = config->cert,
            .key = config->key,
            .router = r->router,
            .limits = config->limits,
            .alpn_optional = config->alpn_optional,
        };
        if (hc.limits.max_body_size == 0 || hc.limits.max_body_size > API_BODY_MAX) {
            hc.limits.max_body_size = API_BODY_MAX;
        }
        rc = http_server_create(loop, &hc, &r->server, errmsg, errmsg_size);
    }
    if (rc) {
        role_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int config_role_listen(struct config_role *role, const char *address, uint16_t port)
{
    return http_server_listen(role->server, address, port);
}

int config_role_listen_fd(struct config_role *role, int *fd)
{
    return http_server_listen_fd(role->server, fd);
}

uint16_t config_role_port(const struct config_role *role)
{
    return http_server_port(role->server);
}

void config_role_stats(const struct config_role *role, struct config_role_stats *stats)
{
    struct config_role *r = (struct config_role *)role;
    pthread_mutex_lock(&r->lock);
    stats->store_clients = r->store_clients;
    stats->txn_conflicts = r->conflicts;
    stats->compile_attempts = r->compile.compile_attempts;
    stats->compile_refused = r->compile.compile_refused;
    stats->compile_lock_ms = r->compile.compile_lock_ms / 1000000u;
    stats->compile_plan_ms = r->compile.compile_plan_ms / 1000000u;
    stats->compile_commit_ms = r->compile.compile_commit_ms / 1000000u;
    stats->compile_catchup_ms = r->compile.compile_catchup_ms / 1000000u;
    stats->compile_pipelined = r->compile.compile_pipelined;
    pthread_mutex_unlock(&r->lock);
    stats->requests = r->requests;
}

static void on_server_closed(void *data)
{
    struct config_role *r = data;
    void (*cb)(void *) = r->on_closed;
    void *cb_data = r->on_closed_data;
    role_free(r);
    if (cb) {
        cb(cb_data);
    }
}

void config_role_close(struct config_role *role, void (*on_closed)(void *data), void *data)
{
    role->on_closed = on_closed;
    role->on_closed_data = data;
    /* The server frees itself once every request held by a worker has been
     * answered (after_work runs on this loop), so no worker is busy when
     * on_server_closed frees the pool. */
    http_server_close(role->server, on_server_closed, role);
}

/* ---- bootstrap token ---- */

#define BOOTSTRAP_CLAIM_KEY "/c/boot/admin-token"

/* Puts BOOTSTRAP_CLAIM_KEY (value: where the token was written) if no node
 * has yet; '*claimed' tells whether this call won. If the winner dies before
 * writing its token, delete the key (stratactl store del) to let a node
 * retry. */
static int bootstrap_claim(struct store_client *c, const char *where, bool *claimed)
{
    struct store_compare cmp = {.target = STORE_CMP_CREATE, .op = STORE_CMP_EQ,
                                .key = (const uint8_t *)BOOTSTRAP_CLAIM_KEY,
                                .key_size = (uint32_t)strlen(BOOTSTRAP_CLAIM_KEY), .number = 0};
    struct store_op put = {.kind = STORE_OP_PUT,
                           .sel = store_sel_key(BOOTSTRAP_CLAIM_KEY, (uint32_t)strlen(BOOTSTRAP_CLAIM_KEY)),
                           .value = (const uint8_t *)where, .value_size = (uint32_t)strlen(where)};
    struct store_cmd cmd = {.kind = STORE_CMD_TXN, .compares = &cmp, .compares_len = 1, .success = &put,
                            .success_len = 1};
    struct buf b, raw;
    struct store_reply reply;
    buf_init(&b, 0);
    buf_init(&raw, 0);
    int rc = store_cmd_encode(&cmd, &b);
    if (rc == 0) {
        rc = store_client_cmd(c, &b, false, &raw, &reply);
    }
    if (rc == 0) {
        *claimed = reply.succeeded != 0;
        store_reply_destroy(&reply);
    }
    buf_destroy(&b);
    buf_destroy(&raw);
    return rc;
}

int config_role_bootstrap_token(const char *store_target, struct tls_ctx *store_tls,
                                const char *path, bool *created, char *errmsg, size_t errmsg_size)
{
    struct store_client *c = NULL;
    struct schema *schema = NULL;
    struct schema_error se;
    struct graph_error err;
    json_t *list = NULL;
    char next[GRAPH_UUID_SIZE], token[API_TOKEN_SIZE];
    int fd = -1;
    if (created) {
        *created = false;
    }
    int rc = schema_load_builtin(&schema, &se);
    if (rc) {
        snprintf(errmsg, errmsg_size, "schema: %s", se.message);
        return CONFIG_ROLE_ESCHEMA;
    }
    rc = store_client_open(store_target, store_tls, CONFIG_ROLE_DEFAULT_STORE_TIMEOUT_MS, &c);
    if (rc) {
        snprintf(errmsg, errmsg_size, "store %s: %s", store_target, strata_strerror(rc));
        rc = GRAPH_EUNAVAIL;
        goto out_schema;
    }
    struct graph g;
    struct derive *d = NULL;
    graph_init(&g, schema, graph_kv_client(c));
    /* compiled like any write: the default project gets its default group */
    rc = derive_create(&d) ? CONFIG_ROLE_ENOMEM : graph_derive_load(&g, d, NULL, &err);
    if (rc == CONFIG_ROLE_ENOMEM) {
        snprintf(err.message, sizeof err.message, "out of memory");
    }
    graph_set_derive(&g, d);
    rc = rc ? rc : graph_bootstrap(&g, "bootstrap", &err);
    struct graph_list_req req = {.limit = 1, .linearizable = true};
    if (rc == 0) {
        rc = graph_obj_list(&g, "api-token", &req, &list, next, &err);
    }
    if (rc) {
        snprintf(errmsg, errmsg_size, "%s", err.message);
        goto out_client;
    }
    if (json_array_size(list) > 0) {
        goto out_client; /* the cluster has tokens already */
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(errmsg, errmsg_size, "%s: %s", path, strerror(errno));
        rc = errno == EEXIST ? CONFIG_ROLE_EEXIST : CONFIG_ROLE_EIO;
        goto out_client;
    }
    /* Nodes starting together all see "no token yet": exactly one of them
     * wins this claim and mints the bootstrap token. */
    bool claimed = false;
    rc = bootstrap_claim(c, path, &claimed);
    if (rc) {
        snprintf(errmsg, errmsg_size, "claiming the bootstrap token: %s", strata_strerror(rc));
        rc = GRAPH_EUNAVAIL;
        goto out_file;
    }
    if (!claimed) {
        /* Another node is minting it: not an error, and no file here. */
        close(fd);
        unlink(path);
        goto out_client;
    }
    rc = api_token_create(&g, API_ROLE_ADMIN, NULL, 0, "bootstrap admin token", "bootstrap", token,
                          NULL, &err);
    if (rc) {
        snprintf(errmsg, errmsg_size, "%s", err.message);
        goto out_file;
    }
    size_t len = strlen(token);
    token[len] = '\n';
    if (write(fd, token, len + 1) != (ssize_t)(len + 1) || fsync(fd) != 0) {
        snprintf(errmsg, errmsg_size, "%s: %s", path, strerror(errno));
        rc = CONFIG_ROLE_EIO;
    } else if (created) {
        *created = true;
    }
    memset(token, 0, sizeof token);
out_file:
    close(fd);
    if (rc) {
        unlink(path);
    }
out_client:
    json_decref(list);
    derive_free(d);
    store_client_close(c);
out_schema:
    schema_free(schema);
    return rc;
}

/* ---- main ---- */

struct main_state {
    struct config_role *role;
    uv_signal_t sigterm, sigint;
    bool closing;
};

static void on_role_closed(void *data)
{
    struct main_state *m = data;
    m->role = NULL;
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct main_state *m = h->data;
    if (m->closing) {
        return;
    }
    m->closing = true;
    log_info(MOD, "stopping", "signal=%d", signum);
    config_role_close(m->role, on_role_closed, m);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: config --store unix:PATH|NAME@HOST:PORT [--store-cert NAME]\n"
            "              --pki DIR --cert NAME (--listen HOST:PORT | --listen-fd N)\n"
            "              [--workers N] [--bootstrap-token-file PATH] [--alpn-optional]\n"
            "              [--control-sock PATH] [--ca-key PATH] [--log-level LEVEL]\n");
}

int config_role_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"listen-fd", required_argument, NULL, 'f'},
        {"store", required_argument, NULL, 's'},
        {"store-cert", required_argument, NULL, 'S'},
        {"pki", required_argument, NULL, 'p'},
        {"cert", required_argument, NULL, 'c'},
        {"workers", required_argument, NULL, 'w'},
        {"bootstrap-token-file", required_argument, NULL, 'b'},
        {"alpn-optional", no_argument, NULL, 'a'},
        {"control-sock", required_argument, NULL, 'C'},
        {"ca-key", required_argument, NULL, 'K'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = NULL, *store = NULL, *store_cert = NULL, *pki = NULL, *cert = NULL,
               *token_file = NULL, *control_sock = NULL, *ca_key_path = NULL;
    int listen_fd = -1, ch;
    unsigned long workers = CONFIG_ROLE_DEFAULT_WORKERS;
    bool alpn_optional = false;
    char *end;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            listen = optarg;
            break;
        case 'f':
            listen_fd = (int)strtol(optarg, &end, 10);
            if (*end || listen_fd < 0) {
                usage();
                return 2;
            }
            break;
        case 's':
            store = optarg;
            break;
        case 'S':
            store_cert = optarg;
            break;
        case 'p':
            pki = optarg;
            break;
        case 'c':
            cert = optarg;
            break;
        case 'w':
            workers = strtoul(optarg, &end, 10);
            if (*end || workers < 1 || workers > 1024) {
                usage();
                return 2;
            }
            break;
        case 'b':
            token_file = optarg;
            break;
        case 'a':
            alpn_optional = true;
            break;
        case 'C':
            control_sock = optarg;
            break;
        case 'K':
            ca_key_path = optarg;
            break;
        case 'L': {
            enum log_level lv;
            if (log_level_parse(optarg, &lv) != 0) {
                usage();
                return 2;
            }
            log_set_level(lv);
            break;
        }
        default:
            usage();
            return 2;
        }
    }
    char host[256];
    uint16_t port = 0;
    if (!store || !pki || !cert || (!listen && listen_fd < 0) || (listen && listen_fd >= 0) ||
        (listen && hostport_parse(listen, host, sizeof host, &port) != 0) ||
        (strncmp(store, "unix:", 5) != 0 && !store_cert)) {
        usage();
        return 2;
    }
    /* Before anything uses libuv's threadpool. */
    char nthreads[16];
    snprintf(nthreads, sizeof nthreads, "%lu", workers);
    setenv("UV_THREADPOOL_SIZE", nthreads, 1);
    signal(SIGPIPE, SIG_IGN);
    wolfSSL_Init();

    int status = 1;
    char errmsg[256] = "";
    struct pkiset server = {0}, client = {0};
    struct tls_ctx *store_tls = NULL;
    struct pki_key *ca_key = NULL;
    uv_loop_t loop;
    struct main_state m = {0};
    if (uv_loop_init(&loop) != 0) {
        return 1;
    }
    if (pkiset_load(&server, pki, cert, errmsg, sizeof errmsg) != 0) {
        log_event(LOG_LEVEL_ERROR, MOD, "server credentials", "dir=%s cert=%s error=\"%s\"", pki,
                  cert, errmsg);
        goto out;
    }
    if (ca_key_path) {
        /* The CA key signs every enrolled node: refuse one others may read. */
        struct stat st;
        int krc = stat(ca_key_path, &st) != 0 ? PKI_EIO : (st.st_mode & 077) ? PKI_EINVAL : 0;
        krc = krc ? krc : pki_key_load(ca_key_path, &ca_key);
        krc = krc ? krc : pki_key_matches_cert(ca_key, server.ca);
        if (krc) {
            log_event(LOG_LEVEL_ERROR, MOD, "CA key", "path=%s error=\"%s\"", ca_key_path,
                      krc == PKI_EINVAL ? "must be mode 0600 (no group or other access)" : strata_strerror(krc));
            goto out;
        }
    }
    if (store_cert && (pkiset_load(&client, pki, store_cert, errmsg, sizeof errmsg) != 0 ||
                       pkiset_tls(&client, TLS_ROLE_CLIENT, STORE_PROTO_ALPN, &store_tls, errmsg,
                                  sizeof errmsg) != 0)) {
        log_event(LOG_LEVEL_ERROR, MOD, "store credentials", "error=\"%s\"", errmsg);
        goto out;
    }
    if (token_file) {
        /* The store may still be electing a leader: retry for a minute. */
        int rc = GRAPH_EUNAVAIL;
        bool made = false;
        for (int i = 0; i < 120 && (rc == GRAPH_EUNAVAIL || rc == GRAPH_EBUSY); i++) {
            if (i) {
                usleep(500 * 1000);
            }
            rc = config_role_bootstrap_token(store, store_tls, token_file, &made, errmsg,
                                             sizeof errmsg);
        }
        if (rc) {
            log_event(LOG_LEVEL_ERROR, MOD, "bootstrap token", "error=\"%s\"", errmsg);
            goto out;
        }
        log_info(MOD, made ? "bootstrap token written" : "tokens exist; bootstrap token skipped",
                 "file=%s", token_file);
    }
    struct config_role_config cfg = {
        .store_target = store,
        .store_tls = store_tls,
        .ca = server.ca,
        .cert = server.cert,
        .key = server.key,
        .alpn_optional = alpn_optional,
        .control_sock = control_sock,
        .ca_key = ca_key,
        .node_name = cert, /* the node's certificate is named after the node */
    };
    if (config_role_create(&loop, &cfg, &m.role, errmsg, sizeof errmsg) != 0) {
        log_event(LOG_LEVEL_ERROR, MOD, "cannot start", "error=\"%s\"", errmsg);
        goto out;
    }
    int rc = listen ? config_role_listen(m.role, host, port) : config_role_listen_fd(m.role, &listen_fd);
    if (rc) {
        log_event(LOG_LEVEL_ERROR, MOD, "cannot listen", "error=\"%s\"", strata_strerror(rc));
        config_role_close(m.role, NULL, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        goto out;
    }
    uv_signal_init(&loop, &m.sigterm);
    uv_signal_init(&loop, &m.sigint);
    m.sigterm.data = m.sigint.data = &m;
    uv_signal_start(&m.sigterm, on_signal, SIGTERM);
    uv_signal_start(&m.sigint, on_signal, SIGINT);
    log_info(MOD, "serving", "port=%u store=%s workers=%lu", config_role_port(m.role), store,
             workers);
    uv_run(&loop, UV_RUN_DEFAULT);
    status = 0;
out:
    if (listen_fd >= 0) {
        close(listen_fd);
    }
    uv_loop_close(&loop);
    tls_ctx_free(store_tls);
    pki_key_free(ca_key);
    pkiset_destroy(&client);
    pkiset_destroy(&server);
    wolfSSL_Cleanup();
    return status;
}
