/* The blocking client of client.h, on a private loop and a store_pconn;
 * and the store_mux: one connection run by a thread of its own, shared by
 * threads that queue requests in order and wait for their answers. */
#include "store/client.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "store/proto.h"

struct store_client {
    uv_loop_t loop;
    uv_timer_t timer;
    struct store_pconn *pc;
    unsigned timeout_ms;
    bool ready;
    int conn_error; /* set when the connection ended */
    bool timed_out;
    /* the call in progress */
    uint64_t next_id;
    uint64_t wait_id;
    bool got;
    int status;
    struct buf *reply;
    /* watch in progress */
    store_client_event_fn *ev_cb;
    void *ev_arg;
    bool ev_stop;
    int ev_error;
};

/* One watch event for the caller; a non-zero answer stops the watch. */
static int cl_event(void *arg, const struct store_event *ev)
{
    struct store_client *c = arg;
    if (c->ev_cb(c->ev_arg, ev) != 0) {
        c->ev_stop = true;
        return 1;
    }
    return 0;
}

static void cl_on_frame(struct store_pconn *pc, const struct store_frame *f)
{
    struct store_client *c = store_pconn_data(pc);
    if (f->id != c->wait_id) {
        return;
    }
    if (f->type == STORE_MSG_EVENTS && c->ev_cb) {
        int rc = c->ev_stop ? 0 : store_events_foreach(f->body, f->body_size, cl_event, c);
        if (rc == STORE_EFORMAT) {
            c->ev_error = STORE_EFORMAT;
            return;
        }
        uv_timer_again(&c->timer);
        return;
    }
    c->got = true;
    c->status = f->status;
    if (c->reply) {
        buf_reset(c->reply);
        if (buf_put(c->reply, f->body, f->body_size) != 0) {
            c->status = LIB_ENOMEM;
        }
    }
}

static void cl_on_ready(struct store_pconn *pc)
{
    struct store_client *c = store_pconn_data(pc);
    c->ready = true;
}

static void cl_on_close(struct store_pconn *pc, int status)
{
    struct store_client *c = store_pconn_data(pc);
    c->pc = NULL;
    c->conn_error = status ? status : TLS_ECLOSED;
}

static const struct store_pconn_callbacks cl_cbs = {
    .on_frame = cl_on_frame,
    .on_ready = cl_on_ready,
    .on_close = cl_on_close,
};

static void cl_timer_cb(uv_timer_t *t)
{
    struct store_client *c = t->data;
    c->timed_out = true;
}

/* Runs the loop until 'done' says so, the connection ends or the timer
 * fires. */
static int cl_run(struct store_client *c, bool (*done)(struct store_client *), unsigned timeout_ms)
{
    c->timed_out = false;
    if (timeout_ms) {
        /* The loop runs only inside calls: its cached time may be from the
         * previous call, and a timer armed from it would fire at once. */
        uv_update_time(&c->loop);
        uv_timer_start(&c->timer, cl_timer_cb, timeout_ms, timeout_ms);
    }
    while (!done(c) && !c->timed_out && c->conn_error == 0) {
        uv_run(&c->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&c->timer);
    if (done(c)) {
        return 0;
    }
    return c->conn_error ? c->conn_error : STORE_ETIMEOUT;
}

static bool cl_ready(struct store_client *c)
{
    return c->ready;
}

static bool cl_got(struct store_client *c)
{
    return c->got || c->ev_stop || c->ev_error;
}

int store_client_open(const char *target, struct tls_ctx *tls, unsigned timeout_ms,
                      struct store_client **out)
{
    struct store_client *c = calloc(1, sizeof *c);
    if (!c) {
        return LIB_ENOMEM;
    }
    c->timeout_ms = timeout_ms ? timeout_ms : 10000;
    uv_loop_init(&c->loop);
    uv_timer_init(&c->loop, &c->timer);
    c->timer.data = c;
    int rc = store_pconn_connect(&c->loop, tls, target, &cl_cbs, c, &c->pc);
    if (rc == 0) {
        rc = cl_run(c, cl_ready, c->timeout_ms);
    }
    if (rc != 0) {
        store_client_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void store_client_close(struct store_client *c)
{
    if (!c) {
        return;
    }
    if (c->pc) {
        store_pconn_close(c->pc);
        /* Let the close finish (bounded by TLS's close timeout). */
        while (c->pc) {
            uv_run(&c->loop, UV_RUN_ONCE);
        }
    }
    uv_close((uv_handle_t *)&c->timer, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    free(c);
}

int store_client_call(struct store_client *c, uint8_t type, uint8_t flags, const void *body,
                      size_t size, int *status, struct buf *reply)
{
    if (!c->pc) {
        return c->conn_error ? c->conn_error : TLS_ECLOSED;
    }
    c->wait_id = ++c->next_id;
    c->got = false;
    c->reply = reply;
    c->ev_cb = NULL;
    int rc = store_pconn_send(c->pc, type, flags, c->wait_id, 0, body, size);
    if (rc == 0) {
        rc = cl_run(c, cl_got, c->timeout_ms);
    }
    c->reply = NULL;
    if (rc == 0) {
        *status = c->status;
    }
    return rc;
}

int store_client_cmd(struct store_client *c, const struct buf *cmd, bool serializable,
                     struct buf *raw, struct store_reply *reply)
{
    int status = 0;
    int rc = store_client_call(c, STORE_MSG_CMD, serializable ? STORE_MSG_F_SERIALIZABLE : 0,
                               cmd->data, cmd->size, &status, raw);
    if (rc != 0) {
        return rc;
    }
    if (status != 0) {
        return status;
    }
    return store_reply_decode(reply, raw->data, raw->size);
}

int store_client_watch(struct store_client *c, uint64_t from_rev, const struct store_keysel *sel,
                       unsigned idle_ms, store_client_event_fn *cb, void *arg, uint64_t *compacted)
{
    struct buf body, reply;
    int rc;
    if (!c->pc) {
        return c->conn_error ? c->conn_error : TLS_ECLOSED;
    }
    buf_init(&body, 0);
    buf_init(&reply, 0);
    rc = buf_put_u64(&body, from_rev);
    if (rc == 0) rc = buf_put_u8(&body, sel->kind);
    if (rc == 0) rc = buf_put_u32(&body, sel->key_size);
    if (rc == 0) rc = buf_put(&body, sel->key, sel->key_size);
    if (rc == 0 && sel->kind == STORE_SEL_INTERVAL) {
        rc = buf_put_u32(&body, sel->end_size);
        if (rc == 0) rc = buf_put(&body, sel->end, sel->end_size);
    }
    if (rc != 0) {
        buf_destroy(&body);
        return rc;
    }
    c->wait_id = ++c->next_id;
    uint64_t wid = c->wait_id;
    c->got = false;
    c->reply = &reply;
    c->ev_cb = cb;
    c->ev_arg = arg;
    c->ev_stop = false;
    c->ev_error = 0;
    rc = store_pconn_send(c->pc, STORE_MSG_WATCH, 0, wid, 0, body.data, body.size);
    buf_destroy(&body);
    if (rc == 0) {
        rc = cl_run(c, cl_got, idle_ms);
        if (rc == STORE_ETIMEOUT && idle_ms) {
            rc = 0; /* went idle */
        }
    }
    c->ev_cb = NULL;
    c->reply = NULL;
    if (rc == 0 && c->ev_error) {
        rc = c->ev_error;
    }
    if (rc == 0 && c->got && c->status != 0) {
        rc = c->status;
        if (rc == STORE_ECOMPACTED && compacted && reply.size >= 8) {
            *compacted = be64_load(reply.data);
        }
    }
    buf_destroy(&reply);
    if (c->pc && (c->ev_stop || rc == 0)) {
        /* Cancel the watch; its answer is awaited so the stream is clean. */
        uint8_t idb[8];
        int st;
        be64_store(idb, wid);
        int cancel_rc = store_client_call(c, STORE_MSG_WATCH_CANCEL, 0, idb, sizeof idb, &st, NULL);
        (void)cancel_rc; /* the watch outcome stands whatever the cancel says */
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* store_mux */

struct store_mux_req {
    struct store_mux_req *next; /* in the queue or the in-flight list */
    uint64_t id;
    uint8_t type, flags;
    uint8_t *body;
    size_t size;
    bool done;      /* answered or failed */
    bool abandoned; /* its waiter timed out: the loop thread frees it */
    int error;      /* the connection error that failed it */
    int status;
    struct buf reply;
};

struct store_mux {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uv_loop_t loop;
    uv_async_t wake;
    char *target;
    struct tls_ctx *tls;
    unsigned timeout_ms;
    /* the loop thread's */
    struct store_pconn *pc;
    bool ready;
    bool full; /* the connection said TLS_EAGAIN: wait for on_drain */
    /* under mu */
    struct store_mux_req *queue, **queue_tail;   /* not yet sent, in order */
    struct store_mux_req *flight, **flight_tail; /* sent, not answered */
    uint64_t next_id;
    bool closing;
    bool opened; /* the first connection was made or failed */
    int open_error;
    struct store_mux_stats stats;
};

static void mux_req_free(struct store_mux_req *r)
{
    if (r) {
        free(r->body);
        buf_destroy(&r->reply);
        free(r);
    }
}

/* Completes 'r' (already unlinked) with 'error' or the server's answer;
 * mu held. */
static void mux_finish(struct store_mux *m, struct store_mux_req *r, int error, int status,
                       const uint8_t *body, size_t size)
{
    r->next = NULL;
    if (r->abandoned) {
        mux_req_free(r);
        return;
    }
    r->error = error;
    r->status = status;
    if (!error && size && buf_put(&r->reply, body, size) != 0) {
        r->status = LIB_ENOMEM;
    }
    r->done = true;
    pthread_cond_broadcast(&m->cv);
}

/* Fails every request queued or in flight with 'error'; mu held. */
static void mux_fail_all(struct store_mux *m, int error)
{
    struct store_mux_req *lists[2] = {m->flight, m->queue};
    m->flight = m->queue = NULL;
    m->flight_tail = &m->flight;
    m->queue_tail = &m->queue;
    for (int i = 0; i < 2; i++) {
        while (lists[i]) {
            struct store_mux_req *r = lists[i];
            lists[i] = r->next;
            m->stats.failed++;
            mux_finish(m, r, error, 0, NULL, 0);
        }
    }
}

/* Unlinks the in-flight request 'id' (NULL when absent); mu held. */
static struct store_mux_req *mux_flight_take(struct store_mux *m, uint64_t id)
{
    for (struct store_mux_req **p = &m->flight; *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            struct store_mux_req *r = *p;
            *p = r->next;
            if (!*p) {
                m->flight_tail = p;
            }
            return r;
        }
    }
    return NULL;
}

/* Sends queued requests in order until the queue is empty or the
 * connection is full; loop thread, mu held. */
static void mux_pump(struct store_mux *m)
{
    while (m->queue && m->pc && m->ready && !m->full) {
        struct store_mux_req *r = m->queue;
        int rc = store_pconn_send(m->pc, r->type, r->flags, r->id, 0, r->body, r->size);
        if (rc == TLS_EAGAIN) {
            m->full = true;
            return;
        }
        m->queue = r->next;
        if (!m->queue) {
            m->queue_tail = &m->queue;
        }
        r->next = NULL;
        free(r->body);
        r->body = NULL;
        if (rc != 0) {
            /* this one never left; later ones may, in order (a successor
             * that depends on it states so in its own compares) */
            m->stats.failed++;
            mux_finish(m, r, rc, 0, NULL, 0);
            continue;
        }
        m->stats.sent++;
        *m->flight_tail = r;
        m->flight_tail = &r->next;
    }
}

static void mux_on_frame(struct store_pconn *pc, const struct store_frame *f)
{
    struct store_mux *m = store_pconn_data(pc);
    pthread_mutex_lock(&m->mu);
    struct store_mux_req *r = mux_flight_take(m, f->id);
    if (r) {
        mux_finish(m, r, 0, f->status, f->body, f->body_size);
    }
    pthread_mutex_unlock(&m->mu);
}

static void mux_on_ready(struct store_pconn *pc)
{
    struct store_mux *m = store_pconn_data(pc);
    pthread_mutex_lock(&m->mu);
    m->ready = true;
    m->stats.connects++;
    if (!m->opened) {
        m->opened = true;
        pthread_cond_broadcast(&m->cv);
    }
    mux_pump(m);
    pthread_mutex_unlock(&m->mu);
}

static void mux_on_drain(struct store_pconn *pc)
{
    struct store_mux *m = store_pconn_data(pc);
    pthread_mutex_lock(&m->mu);
    m->full = false;
    mux_pump(m);
    pthread_mutex_unlock(&m->mu);
}

static void mux_on_close(struct store_pconn *pc, int status)
{
    struct store_mux *m = store_pconn_data(pc);
    pthread_mutex_lock(&m->mu);
    if (m->pc == pc) {
        m->pc = NULL;
        m->ready = false;
        m->full = false;
    }
    if (!m->opened) {
        m->opened = true;
        m->open_error = status ? status : TLS_ECLOSED;
    }
    mux_fail_all(m, status ? status : TLS_ECLOSED);
    pthread_mutex_unlock(&m->mu);
}

static const struct store_pconn_callbacks mux_cbs = {
    .on_frame = mux_on_frame,
    .on_ready = mux_on_ready,
    .on_drain = mux_on_drain,
    .on_close = mux_on_close,
};

/* Connects when requests wait and no connection is up; loop thread, mu
 * held. A failed start fails the waiting requests. */
static void mux_connect(struct store_mux *m)
{
    if (m->pc || (!m->queue && m->opened)) {
        return;
    }
    int rc = store_pconn_connect(&m->loop, m->tls, m->target, &mux_cbs, m, &m->pc);
    if (rc != 0) {
        m->pc = NULL;
        if (!m->opened) {
            m->opened = true;
            m->open_error = rc;
        }
        mux_fail_all(m, rc);
        pthread_cond_broadcast(&m->cv);
    }
}

static void mux_wake_cb(uv_async_t *a)
{
    struct store_mux *m = a->data;
    pthread_mutex_lock(&m->mu);
    if (m->closing) {
        struct store_pconn *pc = m->pc;
        if (!pc) {
            mux_fail_all(m, TLS_ECLOSED);
        }
        pthread_mutex_unlock(&m->mu);
        if (pc) {
            store_pconn_close(pc); /* on_close fails what is left */
        }
        uv_close((uv_handle_t *)&m->wake, NULL);
        return;
    }
    mux_connect(m);
    mux_pump(m);
    pthread_mutex_unlock(&m->mu);
}

static void *mux_main(void *arg)
{
    struct store_mux *m = arg;
    uv_run(&m->loop, UV_RUN_DEFAULT);
    tls_thread_done();
    return NULL;
}

int store_mux_open(const char *target, struct tls_ctx *tls, unsigned timeout_ms,
                   struct store_mux **out)
{
    struct store_mux *m = calloc(1, sizeof *m);
    if (!m || !(m->target = strdup(target))) {
        free(m);
        return LIB_ENOMEM;
    }
    m->tls = tls;
    m->timeout_ms = timeout_ms ? timeout_ms : 10000;
    m->queue_tail = &m->queue;
    m->flight_tail = &m->flight;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&m->mu, NULL);
    int rc = uv_loop_init(&m->loop);
    if (rc == 0) {
        rc = uv_async_init(&m->loop, &m->wake, mux_wake_cb);
        if (rc != 0) {
            uv_loop_close(&m->loop);
        }
    }
    if (rc != 0) {
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->mu);
        free(m->target);
        free(m);
        return rc;
    }
    m->wake.data = m;
    if (pthread_create(&m->thread, NULL, mux_main, m) != 0) {
        uv_close((uv_handle_t *)&m->wake, NULL);
        uv_run(&m->loop, UV_RUN_DEFAULT);
        uv_loop_close(&m->loop);
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->mu);
        free(m->target);
        free(m);
        return LIB_ENOMEM;
    }
    /* the first connection is made at once (mux_connect() with nothing
     * queued connects only while not yet opened) */
    uv_async_send(&m->wake);
    struct timespec dl = clock_deadline_ms(m->timeout_ms);
    pthread_mutex_lock(&m->mu);
    rc = 0;
    while (!m->opened && rc == 0) {
        rc = pthread_cond_timedwait(&m->cv, &m->mu, &dl);
    }
    rc = !m->opened ? STORE_ETIMEOUT : m->open_error;
    pthread_mutex_unlock(&m->mu);
    if (rc != 0) {
        store_mux_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

void store_mux_close(struct store_mux *m)
{
    if (!m) {
        return;
    }
    pthread_mutex_lock(&m->mu);
    m->closing = true;
    pthread_mutex_unlock(&m->mu);
    uv_async_send(&m->wake);
    pthread_join(m->thread, NULL);
    (void)uv_loop_close(&m->loop);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m->target);
    free(m);
}

int store_mux_send(struct store_mux *m, uint8_t type, uint8_t flags, const void *body, size_t size,
                   struct store_mux_req **req)
{
    *req = NULL;
    if (STORE_PROTO_HEADER + size > STORE_PROTO_FRAME_MAX) {
        return STORE_ETOOLARGE;
    }
    struct store_mux_req *r = calloc(1, sizeof *r);
    if (!r || (size && !(r->body = malloc(size)))) {
        free(r);
        return LIB_ENOMEM;
    }
    if (size) {
        memcpy(r->body, body, size);
    }
    r->size = size;
    r->type = type;
    r->flags = flags;
    buf_init(&r->reply, 0);
    pthread_mutex_lock(&m->mu);
    r->id = ++m->next_id;
    *m->queue_tail = r;
    m->queue_tail = &r->next;
    pthread_mutex_unlock(&m->mu);
    uv_async_send(&m->wake);
    *req = r;
    return 0;
}

int store_mux_wait(struct store_mux *m, struct store_mux_req *r, int *status, struct buf *reply)
{
    struct timespec dl = clock_deadline_ms(m->timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    while (!r->done && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&m->cv, &m->mu, &dl);
    }
    if (!r->done) {
        r->abandoned = true; /* freed by whoever completes it */
        pthread_mutex_unlock(&m->mu);
        return STORE_ETIMEOUT;
    }
    pthread_mutex_unlock(&m->mu);
    rc = r->error;
    if (rc == 0) {
        *status = r->status;
        if (reply) {
            buf_reset(reply);
            if (buf_put(reply, r->reply.data, r->reply.size) != 0) {
                rc = LIB_ENOMEM;
            }
        }
    }
    mux_req_free(r);
    return rc;
}

void store_mux_stats(struct store_mux *m, struct store_mux_stats *out)
{
    pthread_mutex_lock(&m->mu);
    *out = m->stats;
    pthread_mutex_unlock(&m->mu);
}
