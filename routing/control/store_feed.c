/* The control role's BGP configuration, followed in the store: see
 * store_feed.h. */
#include "routing/control/store_feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "store/cmd.h"
#include "store/proto.h"

#define FEED_RETRY_MS 1000
#define FEED_PAGE 256 /* objects per initial read */

/* Kinds below KIND_BGP_KINDS feed the BGP callback; KIND_RI and those after
 * it feed the object callback (the agents' configuration). */
enum {
    KIND_ROUTERS = 0,
    KIND_GSC = 1,
    KIND_RI = 2,
    KIND_BGP_KINDS = 3,
    KIND_EGC = 3, /* before the agents' kinds: the control role starts once access-control-list loaded */
    KIND_VRI = 4,
    KIND_VN = 5,
    KIND_ACL = 6, /* the last */
    KINDS = 7
};
static const char *const prefixes[KINDS] = {"/c/o/bgp-router/",     "/c/o/global-system-config/",
                                            "/c/o/routing-instance/", "/c/o/effective-global-config/",
                                            "/c/o/virtual-router-index/", "/c/o/virtual-network/",
                                            "/c/o/access-control-list/"};
static const char *const types[KINDS] = {"bgp-router",           "global-system-config",    "routing-instance",
                                         "effective-global-config", "virtual-router-index", "virtual-network",
                                         "access-control-list"};

/* Request ids: loads 1..7, watches 11..17, bumped by 100 per connection so
 * late frames of an old connection are never mistaken for new ones. */
#define ID_LOAD(k) (1u + (k))
#define ID_WATCH(k) (11u + (k))

/* One page of a kind's initial read: the keys after 'after' (NULL: from
 * the first; up to the next page's) as they stood at 'revision'. */
struct page {
    char *after;
    uint64_t revision;
};

struct store_feed {
    uv_loop_t *loop;
    struct tls_ctx *tls;
    char target[256];
    store_feed_fn *fn;
    void *arg;
    store_feed_obj_fn *obj_fn;
    void *obj_arg;
    struct store_pconn *pc;
    uv_timer_t retry;
    bool stopping;
    int open_refs; /* while stopping: the retry timer and the connection */
    uint64_t base; /* id offset of the current connection */
    json_t *objs[KINDS];   /* key -> object */
    bool loaded[KINDS];
    uint64_t revision[KINDS]; /* the first page's: the watch starts after it */
    uint32_t page_limit;
    store_feed_page_fn *page_fn;
    void *page_arg;
    /* The pages of each kind's last load, kept while its watch may still
     * deliver changes a later page already showed (see seen_in_page()). */
    struct page *pages[KINDS];
    size_t npages[KINDS];
};

static void feed_connect(struct store_feed *f);

static void notify(struct store_feed *f)
{
    for (int kind = 0; kind < KIND_BGP_KINDS; kind++) {
        if (!f->loaded[kind]) {
            return;
        }
    }
    json_t *routers = json_array();
    json_t *instances = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(f->objs[KIND_ROUTERS], k, v) {
        json_array_append(routers, v);
    }
    json_object_foreach(f->objs[KIND_RI], k, v) {
        json_array_append(instances, v);
    }
    uint32_t as = 0;
    json_object_foreach(f->objs[KIND_GSC], k, v) {
        json_int_t a = json_integer_value(json_object_get(v, "autonomous_system"));
        if (a > 0 && a <= 0xFFFFFFFF) {
            as = (uint32_t)a;
        }
    }
    f->fn(f->arg, routers, as, instances);
    json_decref(routers);
    json_decref(instances);
}

static void obj_event(struct store_feed *f, int kind, const char *key, json_t *obj)
{
    if (f->obj_fn && kind >= KIND_RI) {
        f->obj_fn(f->obj_arg, types[kind], key, obj);
    }
}

static void put_object(struct store_feed *f, int kind, const uint8_t *key, size_t key_size, const uint8_t *value,
                       size_t value_size)
{
    char k[512];
    if (key_size >= sizeof k) {
        return;
    }
    memcpy(k, key, key_size);
    k[key_size] = '\0';
    json_error_t je;
    json_t *obj = json_loadb((const char *)value, value_size, 0, &je);
    if (!json_is_object(obj)) {
        log_warn("control", "unreadable object in the store; ignored", "key=%s err=\"%s\"", k, je.text);
        json_decref(obj);
        return;
    }
    json_object_set_new(f->objs[kind], k, obj);
    obj_event(f, kind, k, obj);
}

static void retry_cb(uv_timer_t *t)
{
    struct store_feed *f = t->data;
    if (!f->stopping) {
        feed_connect(f);
    }
}

static void restart(struct store_feed *f, const char *why)
{
    log_warn("control", "store feed restarting", "reason=\"%s\"", why);
    if (f->pc) {
        store_pconn_close(f->pc); /* on_close schedules the retry */
    } else if (!f->stopping) {
        uv_timer_start(&f->retry, retry_cb, FEED_RETRY_MS, 0);
    }
}

static int send_watch(struct store_feed *f, int kind)
{
    struct buf body;
    buf_init(&body, 64);
    struct store_keysel sel = store_sel_prefix(prefixes[kind], (uint32_t)strlen(prefixes[kind]));
    int rc = buf_put_u64(&body, f->revision[kind] + 1);
    if (rc == 0) rc = buf_put_u8(&body, sel.kind);
    if (rc == 0) rc = buf_put_u32(&body, sel.key_size);
    if (rc == 0) rc = buf_put(&body, sel.key, sel.key_size);
    if (rc == 0) {
        rc = store_pconn_send(f->pc, STORE_MSG_WATCH, 0, f->base + ID_WATCH(kind), 0, body.data, body.size);
    }
    buf_destroy(&body);
    return rc;
}

static void pages_free(struct store_feed *f, int kind)
{
    for (size_t i = 0; i < f->npages[kind]; i++) {
        free(f->pages[kind][i].after);
    }
    free(f->pages[kind]);
    f->pages[kind] = NULL;
    f->npages[kind] = 0;
}

/* True when a change of 'key' at 'revision' is already in what the load
 * read: the page holding 'key' was read at that revision or later. A kind
 * is read in pages (several reads, each at the store's revision of the
 * moment) and its watch starts after the first page's revision, so it
 * delivers again what later pages already showed; this drops exactly
 * those, keeping "no change missed or seen twice". */
static bool seen_in_page(struct store_feed *f, int kind, const char *key, uint64_t revision)
{
    if (f->npages[kind] == 0) {
        return false;
    }
    /* pages are read in key order at non-decreasing revisions: the last
     * one's is the newest */
    if (revision > f->pages[kind][f->npages[kind] - 1].revision) {
        pages_free(f, kind); /* past every page: not needed any more */
        return false;
    }
    size_t i = f->npages[kind] - 1;
    while (i > 0 && strcmp(key, f->pages[kind][i].after) <= 0) {
        i--;
    }
    return revision <= f->pages[kind][i].revision;
}

/* Asks for the next page of 'kind': f->page_limit objects after the key
 * 'after' (owned by the page from here on; NULL: the first page, from the
 * prefix). The reads go one at a time
 * (the next once this one is answered) and in pages: the store refuses a
 * reply that finds this connection's queue at its high watermark (1 MiB)
 * and any reply over its frame cap (16 MiB); the replies of all kinds at
 * once exceeded the first at 1,000 routers (their index objects alone are
 * several MiB), which failed every load after a restart for ~30 s, and
 * one read per kind would meet the second as the objects grow. */
static int send_page(struct store_feed *f, int kind, char *after)
{
    const char *prefix = prefixes[kind];
    size_t plen = strlen(prefix);
    char end[64];
    memcpy(end, prefix, plen); /* the prefix's successor: its last byte + 1 */
    end[plen - 1]++;
    struct page *p = realloc(f->pages[kind], (f->npages[kind] + 1) * sizeof *p);
    if (!p) {
        free(after);
        return LIB_ENOMEM;
    }
    f->pages[kind] = p;
    p = &p[f->npages[kind]++];
    p->revision = 0;
    p->after = after;
    /* after the last key: that key with a NUL byte appended is the least
     * key above it */
    const char *from = p->after ? p->after : prefix;
    struct store_keysel sel =
        store_sel_interval(from, (uint32_t)strlen(from) + (p->after ? 1 : 0), end, (uint32_t)plen);
    struct buf cmd;
    buf_init(&cmd, 0);
    int rc = store_cmd_encode_range(&cmd, &sel, f->page_limit, 0);
    if (rc == 0) {
        rc = store_pconn_send(f->pc, STORE_MSG_CMD, STORE_MSG_F_SERIALIZABLE, f->base + ID_LOAD(kind), 0, cmd.data,
                              cmd.size);
    }
    buf_destroy(&cmd);
    return rc;
}

/* Starts the initial read of 'kind' (forgetting an earlier load's pages). */
static int send_load(struct store_feed *f, int kind)
{
    pages_free(f, kind);
    return send_page(f, kind, NULL);
}

struct ev_ctx {
    struct store_feed *f;
    int kind;
    bool changed;
};

static int on_event(void *arg, const struct store_event *ev)
{
    struct ev_ctx *c = arg;
    char k[512];
    c->f->revision[c->kind] = ev->revision;
    if (ev->kv.key_size >= sizeof k) {
        return 0; /* no such key is kept (put_object) */
    }
    memcpy(k, ev->kv.key, ev->kv.key_size);
    k[ev->kv.key_size] = '\0';
    if (seen_in_page(c->f, c->kind, k, ev->revision)) {
        return 0;
    }
    if (ev->type == STORE_EVENT_PUT) {
        put_object(c->f, c->kind, ev->kv.key, ev->kv.key_size, ev->kv.value, ev->kv.value_size);
    } else {
        if (json_object_get(c->f->objs[c->kind], k)) {
            obj_event(c->f, c->kind, k, NULL);
        }
        json_object_del(c->f->objs[c->kind], k);
    }
    c->changed = true;
    return 0;
}

/* A page of kind's initial read arrived ('reply', its first result 'r'). */
static void on_page(struct store_feed *f, int kind, const struct store_reply *reply,
                    const struct store_op_result *r)
{
    if (f->npages[kind] == 1) {
        json_object_clear(f->objs[kind]);
        obj_event(f, kind, NULL, NULL); /* reloaded: what follows is the whole set */
        f->revision[kind] = reply->revision;
    }
    f->pages[kind][f->npages[kind] - 1].revision = reply->revision;
    for (uint32_t i = 0; r && i < r->kvs_len; i++) {
        put_object(f, kind, r->kvs[i].key, r->kvs[i].key_size, r->kvs[i].value, r->kvs[i].value_size);
    }
    if (r && (r->flags & STORE_R_MORE) && r->kvs_len > 0) {
        const struct store_kv *kv = &r->kvs[r->kvs_len - 1];
        char *after = memchr(kv->key, '\0', kv->key_size) ? NULL : strndup((const char *)kv->key, kv->key_size);
        if (f->page_fn) {
            f->page_fn(f->page_arg, types[kind], (unsigned)f->npages[kind]);
        }
        if (!after || send_page(f, kind, after) != 0) {
            restart(f, "cannot read the next page");
        }
        return;
    }
    if (f->npages[kind] == 1) {
        pages_free(f, kind); /* one read: the watch repeats nothing */
    }
    if (send_watch(f, kind) != 0 || (kind + 1 < KINDS && send_load(f, kind + 1) != 0)) {
        restart(f, "cannot start a watch or the next read");
        return;
    }
    f->loaded[kind] = true;
    obj_event(f, kind, "", NULL); /* loaded */
    if (kind < KIND_BGP_KINDS) {
        notify(f);
    }
}

static void on_frame(struct store_pconn *pc, const struct store_frame *f0)
{
    struct store_feed *f = store_pconn_data(pc);
    if (f0->id < f->base || f0->id - f->base > 100) {
        return; /* an earlier connection's */
    }
    uint64_t id = f0->id - f->base;
    for (int kind = 0; kind < KINDS; kind++) {
        if (id == ID_LOAD(kind)) {
            struct store_reply reply;
            if (f0->status != 0 || store_reply_decode(&reply, f0->body, f0->body_size) != 0) {
                restart(f, "initial read failed");
                return;
            }
            on_page(f, kind, &reply, reply.results_len ? &reply.results[0] : NULL);
            store_reply_destroy(&reply);
            return;
        }
        if (id == ID_WATCH(kind)) {
            if (f0->type != STORE_MSG_EVENTS) {
                /* the watch ended: compacted history or an error */
                restart(f, f0->status == STORE_ECOMPACTED ? "watch history compacted" : "watch ended");
                return;
            }
            struct ev_ctx c = {.f = f, .kind = kind};
            if (store_events_foreach(f0->body, f0->body_size, on_event, &c) != 0) {
                restart(f, "malformed events");
                return;
            }
            if (c.changed && kind < KIND_BGP_KINDS) {
                notify(f);
            }
            return;
        }
    }
}

static void on_ready(struct store_pconn *pc)
{
    struct store_feed *f = store_pconn_data(pc);
    if (send_load(f, 0) != 0) {
        restart(f, "cannot send the initial read");
    }
}

static void feed_release(struct store_feed *f)
{
    if (--f->open_refs > 0) {
        return;
    }
    for (int k = 0; k < KINDS; k++) {
        json_decref(f->objs[k]);
        pages_free(f, k);
    }
    free(f);
}

static void on_close(struct store_pconn *pc, int status)
{
    struct store_feed *f = store_pconn_data(pc);
    if (f->pc == pc) {
        f->pc = NULL;
    }
    for (int kind = 0; kind < KINDS; kind++) {
        f->loaded[kind] = false;
    }
    if (f->stopping) {
        feed_release(f);
        return;
    }
    log_warn("control", "store connection lost; reconnecting", "err=\"%s\"", strata_strerror(status));
    uv_timer_start(&f->retry, retry_cb, FEED_RETRY_MS, 0);
}

static const struct store_pconn_callbacks feed_cbs = {
    .on_frame = on_frame,
    .on_ready = on_ready,
    .on_close = on_close,
};

static void feed_connect(struct store_feed *f)
{
    f->base += 100;
    int rc = store_pconn_connect(f->loop, f->tls, f->target, &feed_cbs, f, &f->pc);
    if (rc != 0) {
        f->pc = NULL;
        log_warn("control", "cannot connect to the store; retrying", "target=%s err=\"%s\"", f->target,
                 strata_strerror(rc));
        uv_timer_start(&f->retry, retry_cb, FEED_RETRY_MS, 0);
    }
}

int store_feed_start(uv_loop_t *loop, struct tls_ctx *tls, const char *target, store_feed_fn *fn, void *arg,
                     struct store_feed **out)
{
    struct store_feed *f = calloc(1, sizeof *f);
    if (!f || strlen(target) >= sizeof f->target) {
        free(f);
        return f ? LIB_EINVAL : LIB_ENOMEM;
    }
    f->loop = loop;
    f->tls = tls;
    snprintf(f->target, sizeof f->target, "%s", target);
    f->fn = fn;
    f->arg = arg;
    f->page_limit = FEED_PAGE;
    for (int k = 0; k < KINDS; k++) {
        f->objs[k] = json_object();
        if (!f->objs[k]) {
            while (--k >= 0) {
                json_decref(f->objs[k]);
            }
            free(f);
            return LIB_ENOMEM;
        }
    }
    uv_timer_init(loop, &f->retry);
    f->retry.data = f;
    feed_connect(f);
    *out = f;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    feed_release(h->data);
}

void store_feed_set_objects(struct store_feed *f, store_feed_obj_fn *fn, void *arg)
{
    f->obj_fn = fn;
    f->obj_arg = arg;
}

void store_feed_set_page_limit(struct store_feed *f, uint32_t limit, store_feed_page_fn *fn, void *arg)
{
    f->page_limit = limit ? limit : FEED_PAGE;
    f->page_fn = fn;
    f->page_arg = arg;
}

void store_feed_stop(struct store_feed *f)
{
    f->stopping = true;
    f->open_refs = 1;
    if (f->pc) {
        f->open_refs++;
        store_pconn_close(f->pc); /* on_close releases its reference */
    }
    uv_close((uv_handle_t *)&f->retry, timer_closed);
}
