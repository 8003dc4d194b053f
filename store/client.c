/* The blocking client of client.h, on a private loop and a store_pconn. */
#include "store/client.h"

#include <stdlib.h>
#include <string.h>

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
