/* The store_mux (store/client.h): the ordered, pipelined store connection
 * the config role's compiling transactions go through. A scripted server
 * on a unix socket (its own thread and loop) records the order requests
 * arrive in and answers them as each body says: held until a count has
 * arrived and then answered in reverse, answered with an error status, or
 * the connection closed. Proves: requests arrive in the order they were
 * queued (also when threads queue them under a lock), answers reach their
 * own request whatever order they come in, one failure mid-pipeline
 * touches only its request, and a lost connection fails exactly the
 * requests not yet answered while the next send connects again. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "store/client.h"
#include "store/proto.h"

#define MAXREQ 256

/* ---- the scripted server ---- */

struct held {
    struct store_pconn *pc;
    uint64_t id;
    char body[32];
};

struct srv {
    char path[108];
    uv_loop_t loop;
    uv_pipe_t listener;
    uv_async_t stop;
    pthread_t thread;
    /* loop thread only */
    struct held held[MAXREQ];
    size_t nheld;
    size_t hold_until; /* answer the held ones in reverse once this many wait */
    /* under mu: what arrived, in order */
    pthread_mutex_t mu;
    char seen[MAXREQ][32];
    size_t nseen;
    unsigned accepts;
};

static void srv_answer(struct store_pconn *pc, uint64_t id, int32_t status, const char *body)
{
    int rc = store_pconn_send(pc, STORE_MSG_CMD | STORE_MSG_RESPONSE, 0, id, status, body, strlen(body));
    assert_int_equal(rc, 0);
}

/* Bodies: "hold:N:x" waits until N held ones, then all are answered in
 * reverse; "fail:x" answers status -11001; "close:x" closes the
 * connection; anything else is answered at once, echoing the body. */
static void srv_on_frame(struct store_pconn *pc, const struct store_frame *f)
{
    struct srv *s = store_pconn_data(pc);
    char body[32];
    snprintf(body, sizeof body, "%.*s", (int)f->body_size, (const char *)f->body);
    pthread_mutex_lock(&s->mu);
    if (s->nseen < MAXREQ) {
        snprintf(s->seen[s->nseen++], sizeof s->seen[0], "%s", body);
    }
    pthread_mutex_unlock(&s->mu);
    unsigned n;
    if (sscanf(body, "hold:%u:", &n) == 1) {
        s->hold_until = n;
        struct held *h = &s->held[s->nheld++];
        h->pc = pc;
        h->id = f->id;
        snprintf(h->body, sizeof h->body, "%s", body);
        if (s->nheld >= s->hold_until) {
            while (s->nheld) {
                h = &s->held[--s->nheld];
                srv_answer(h->pc, h->id, 0, h->body);
            }
        }
    } else if (strncmp(body, "fail:", 5) == 0) {
        srv_answer(pc, f->id, -11001, "");
    } else if (strncmp(body, "close:", 6) == 0) {
        s->nheld = 0; /* never answered */
        store_pconn_close(pc);
    } else {
        srv_answer(pc, f->id, 0, body);
    }
}

static void srv_on_close(struct store_pconn *pc, int status)
{
    (void)pc;
    (void)status;
}

static const struct store_pconn_callbacks srv_cbs = {
    .on_frame = srv_on_frame,
    .on_close = srv_on_close,
};

static void srv_on_conn(uv_stream_t *l, int status)
{
    struct srv *s = l->data;
    assert_int_equal(status, 0);
    uv_pipe_t *p = malloc(sizeof *p);
    assert_non_null(p);
    uv_pipe_init(&s->loop, p, 0);
    assert_int_equal(uv_accept(l, (uv_stream_t *)p), 0);
    struct store_pconn *pc;
    assert_int_equal(store_pconn_from_pipe(p, &srv_cbs, s, &pc), 0);
    pthread_mutex_lock(&s->mu);
    s->accepts++;
    pthread_mutex_unlock(&s->mu);
}

static void srv_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h) && h->type == UV_NAMED_PIPE && h->data && h->data != arg) {
        store_pconn_close(h->data);
    }
}

static void srv_stop_cb(uv_async_t *a)
{
    struct srv *s = a->data;
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_close((uv_handle_t *)&s->stop, NULL);
    uv_walk(&s->loop, srv_walk_close, s);
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

static struct srv *srv_start(void)
{
    struct srv *s = calloc(1, sizeof *s);
    assert_non_null(s);
    snprintf(s->path, sizeof s->path, "/tmp/strata-mux-%d-%p.sock", (int)getpid(), (void *)s);
    unlink(s->path);
    pthread_mutex_init(&s->mu, NULL);
    assert_int_equal(uv_loop_init(&s->loop), 0);
    uv_pipe_init(&s->loop, &s->listener, 0);
    s->listener.data = s;
    assert_int_equal(uv_pipe_bind(&s->listener, s->path), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 16, srv_on_conn), 0);
    uv_async_init(&s->loop, &s->stop, srv_stop_cb);
    s->stop.data = s;
    assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
    return s;
}

static void srv_free(struct srv *s)
{
    uv_async_send(&s->stop);
    pthread_join(s->thread, NULL);
    assert_int_equal(uv_loop_close(&s->loop), 0);
    pthread_mutex_destroy(&s->mu);
    unlink(s->path);
    free(s);
}

static struct store_mux *mux_open(struct srv *s)
{
    char target[128];
    snprintf(target, sizeof target, "unix:%s", s->path);
    struct store_mux *m = NULL;
    assert_int_equal(store_mux_open(target, NULL, 5000, &m), 0);
    return m;
}

static struct store_mux_req *send_text(struct store_mux *m, const char *body)
{
    struct store_mux_req *r = NULL;
    assert_int_equal(store_mux_send(m, STORE_MSG_CMD, 0, body, strlen(body), &r), 0);
    assert_non_null(r);
    return r;
}

/* Waits for 'r': the call's result; '*status' and 'text' (32 bytes) the
 * answer. */
static int wait_text(struct store_mux *m, struct store_mux_req *r, int *status, char *text)
{
    struct buf reply;
    buf_init(&reply, 0);
    int rc = store_mux_wait(m, r, status, &reply);
    snprintf(text, 32, "%.*s", (int)reply.size, (const char *)reply.data);
    buf_destroy(&reply);
    return rc;
}

/* ---- tests ---- */

/* Eight requests in flight at once: the server sees them in the order
 * they were queued, holds them all and answers in reverse; each waiter
 * gets its own answer. */
static void test_mux_in_order(void **state)
{
    (void)state;
    struct srv *s = srv_start();
    struct store_mux *m = mux_open(s);
    struct store_mux_req *r[8];
    char body[8][32], text[32];
    for (int i = 0; i < 8; i++) {
        snprintf(body[i], sizeof body[i], "hold:8:%d", i);
        r[i] = send_text(m, body[i]);
    }
    for (int i = 0; i < 8; i++) {
        int status;
        assert_int_equal(wait_text(m, r[i], &status, text), 0);
        assert_int_equal(status, 0);
        assert_string_equal(text, body[i]);
    }
    pthread_mutex_lock(&s->mu);
    assert_int_equal(s->nseen, 8);
    for (int i = 0; i < 8; i++) {
        assert_string_equal(s->seen[i], body[i]);
    }
    pthread_mutex_unlock(&s->mu);
    struct store_mux_stats st;
    store_mux_stats(m, &st);
    assert_int_equal(st.connects, 1);
    assert_int_equal(st.sent, 8);
    assert_int_equal(st.failed, 0);
    store_mux_close(m);
    srv_free(s);
}

/* Threads that queue under a lock (as compiling plans do) fix the order
 * the server sees: the order of their turns under the lock. */
struct turn {
    struct store_mux *m;
    pthread_mutex_t *lock;
    char (*order)[32];
    size_t *norder;
    int thread;
};

static void *turn_main(void *arg)
{
    struct turn *t = arg;
    for (int i = 0; i < 25; i++) {
        char body[32], text[32];
        pthread_mutex_lock(t->lock);
        snprintf(body, sizeof body, "t%d-%d", t->thread, i);
        struct store_mux_req *r = send_text(t->m, body);
        snprintf(t->order[(*t->norder)++], 32, "%s", body);
        pthread_mutex_unlock(t->lock);
        int status;
        assert_int_equal(wait_text(t->m, r, &status, text), 0);
        assert_int_equal(status, 0);
        assert_string_equal(text, body);
    }
    return NULL;
}

static void test_mux_threads_keep_lock_order(void **state)
{
    (void)state;
    struct srv *s = srv_start();
    struct store_mux *m = mux_open(s);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char order[100][32];
    size_t norder = 0;
    struct turn t[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (struct turn){.m = m, .lock = &lock, .order = order, .norder = &norder, .thread = i};
        assert_int_equal(pthread_create(&th[i], NULL, turn_main, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    pthread_mutex_lock(&s->mu);
    assert_int_equal(s->nseen, 100);
    for (size_t i = 0; i < 100; i++) {
        assert_string_equal(s->seen[i], order[i]);
    }
    pthread_mutex_unlock(&s->mu);
    store_mux_close(m);
    srv_free(s);
}

/* A request answered with an error mid-pipeline: only it fails; its
 * neighbours, before and after, are answered. */
static void test_mux_failure_mid_pipeline(void **state)
{
    (void)state;
    struct srv *s = srv_start();
    struct store_mux *m = mux_open(s);
    const char *bodies[5] = {"hold:2:a", "hold:2:b", "fail:c", "d", "e"};
    struct store_mux_req *r[5];
    for (int i = 0; i < 5; i++) {
        r[i] = send_text(m, bodies[i]);
    }
    for (int i = 0; i < 5; i++) {
        int status;
        char text[32];
        assert_int_equal(wait_text(m, r[i], &status, text), 0);
        if (i == 2) {
            assert_int_equal(status, -11001);
            assert_string_equal(text, "");
        } else {
            assert_int_equal(status, 0);
            assert_string_equal(text, bodies[i]);
        }
    }
    store_mux_close(m);
    srv_free(s);
}

/* The connection lost with three requests unanswered (two held by the
 * server, one that closes it): exactly those three fail with a
 * connection error; the one answered before keeps its answer; the next
 * send connects again and is answered. */
static void test_mux_connection_loss(void **state)
{
    (void)state;
    struct srv *s = srv_start();
    struct store_mux *m = mux_open(s);
    char text[32];
    int status;
    struct store_mux_req *a = send_text(m, "a");
    assert_int_equal(wait_text(m, a, &status, text), 0);
    assert_string_equal(text, "a");
    struct store_mux_req *b = send_text(m, "hold:9:b");
    struct store_mux_req *c = send_text(m, "hold:9:c");
    struct store_mux_req *d = send_text(m, "close:d");
    struct store_mux_req *rs[3] = {b, c, d};
    for (int i = 0; i < 3; i++) {
        status = 777;
        int rc = wait_text(m, rs[i], &status, text);
        assert_int_not_equal(rc, 0);
        assert_int_not_equal(rc, STORE_ETIMEOUT);
        assert_int_equal(status, 777); /* no answer reported */
    }
    struct store_mux_req *e = send_text(m, "e");
    assert_int_equal(wait_text(m, e, &status, text), 0);
    assert_int_equal(status, 0);
    assert_string_equal(text, "e");
    struct store_mux_stats st;
    store_mux_stats(m, &st);
    assert_int_equal(st.connects, 2);
    assert_int_equal(st.failed, 3);
    assert_int_equal(st.sent, 5);
    pthread_mutex_lock(&s->mu);
    assert_int_equal(s->accepts, 2);
    pthread_mutex_unlock(&s->mu);
    store_mux_close(m);
    srv_free(s);
}

/* No server: open fails with the connection error, and nothing leaks. */
static void test_mux_open_fails(void **state)
{
    (void)state;
    struct store_mux *m = NULL;
    assert_int_not_equal(store_mux_open("unix:/tmp/strata-mux-no-such.sock", NULL, 2000, &m), 0);
    assert_null(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mux_in_order),
        cmocka_unit_test(test_mux_threads_keep_lock_order),
        cmocka_unit_test(test_mux_failure_mid_pipeline),
        cmocka_unit_test(test_mux_connection_loss),
        cmocka_unit_test(test_mux_open_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
