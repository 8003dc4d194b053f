/* The client-protocol server of server.h.
 *
 * Watches: a watch reads the history from its revision ("catching up"),
 * then follows live events. While catching up it ignores live events (their
 * revisions are in the history it is reading); once it reaches the current
 * revision it takes live events from the next one on. If the client cannot
 * keep up (its queue is full), the watch falls back to catching up from the
 * history after the queue drains, so events are never dropped, reordered or
 * repeated; a watcher that falls behind the compacted history is told so. */
#include "store/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/log.h"
#include "store/proto.h"

#define WATCH_CHUNK 512      /* events read from the history per step */
#define WATCH_FRAME 65536    /* bytes of events per EVENTS frame */

#define CKPT_RING 16
#define CHECK_INTERVAL_MS 2000
#define SERVER_SLOW_MS 1000  /* requests answered later than this are logged */

/* A consistency checkpoint: the hash of the applied state at 'revision'. */
struct checkpoint {
    uint64_t revision;
    uint8_t hash[STORE_HASH_SIZE];
};

/* A peer whose checkpoints we compare with ours. */
struct peer {
    struct store_server *srv;
    uint64_t id;
    char target[STORE_ADDRESS_MAX];
    struct store_pconn *pc;
    bool ready;
};

struct sconn;

struct watch {
    struct watch *next;
    struct sconn *conn;
    uint64_t id;
    uint64_t next_rev;
    bool catching_up;
    uint8_t sel_kind;
    struct buf key, end;
    struct buf out; /* encoded events not yet sent */
    uint32_t out_count;
};

/* A request in flight for a connection (local or forwarded). */
struct pending_req {
    struct pending_req *next;
    struct store_server *srv;
    struct sconn *conn; /* NULL once the client went away */
    uint64_t id;        /* the client's id */
    uint8_t type;
    uint64_t fwd_id;    /* id on the leader connection, when forwarded */
    struct store_pconn *via; /* forwarded: the leader connection it went to */
    bool maybe_sent;    /* forwarded: its bytes may have reached the leader */
    uint64_t start_ms;  /* loop time of its arrival, for the slow-request log */
};

struct sconn {
    struct sconn *next, *prev;
    struct store_server *srv;
    struct store_pconn *pc;
    struct watch *watches;
    struct pending_req *reqs;
};

struct store_server {
    struct store_server_config cfg;
    struct tls_server *tls;
    uv_pipe_t *unix_srv;
    char unix_path[108];
    struct sconn *conns;
    uv_check_t check; /* flushes watch output and resumes catch-ups */
    /* the connection to the leader's server, for forwarding */
    struct store_pconn *leader;
    char leader_target[STORE_ADDRESS_MAX];
    bool leader_ready;
    /* Waiting on 'leader', oldest first: the leader answers in about that
     * order, so a reply is found near the head. */
    struct pending_req *forwarded, **fwd_tail;
    uint64_t next_fwd_id;
    bool closing;
    int closes_pending;
    void (*close_cb)(void *);
    void *close_arg;
    /* cross-replica consistency check */
    uv_timer_t check_timer;
    struct checkpoint ring[CKPT_RING];
    unsigned ring_next;
    struct peer peers[STORE_MEMBERS_MAX];
    uint64_t checks_ok, mismatches, mismatch_revision, mismatch_peer;
    size_t watches; /* on all connections: none, and events cost nothing */
};

int store_client_address(const char *raft_address, char *out, size_t size)
{
    char name[STORE_ADDRESS_MAX], host[STORE_ADDRESS_MAX];
    uint16_t port;
    if (store_address_parse(raft_address, name, sizeof name, host, sizeof host, &port) != 0 ||
        port == 65535) {
        return LIB_EINVAL;
    }
    int n = strchr(host, ':') ? snprintf(out, size, "%s@[%s]:%u", name, host, port + 1)
                              : snprintf(out, size, "%s@%s:%u", name, host, port + 1);
    return n > 0 && (size_t)n < size ? 0 : LIB_ETOOBIG;
}

/* ---- replies ---- */

static void sconn_reply(struct sconn *c, uint8_t type, uint64_t id, int status, const void *body,
                        size_t size)
{
    int rc = store_pconn_send(c->pc, type | STORE_MSG_RESPONSE, 0, id, status, body, size);
    if (rc == TLS_EAGAIN) {
        /* A client that sends requests without reading the answers loses
         * its connection rather than growing our memory. */
        log_warn("store-server", "client not reading its replies; closing", "peer=%s",
                 store_pconn_identity(c->pc));
        store_pconn_close(c->pc);
    }
}

static struct pending_req *req_new(struct sconn *c, uint64_t id, uint8_t type)
{
    struct pending_req *r = calloc(1, sizeof *r);
    if (r) {
        r->srv = c->srv;
        r->conn = c;
        r->id = id;
        r->type = type;
        r->start_ms = uv_now(c->srv->cfg.loop);
        r->next = c->reqs;
        c->reqs = r;
    }
    return r;
}

static void req_unlink(struct pending_req *r)
{
    if (!r->conn) {
        return;
    }
    for (struct pending_req **p = &r->conn->reqs; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    r->conn = NULL;
}

static void req_complete(struct pending_req *r, int status, const uint8_t *body, size_t size)
{
    uint64_t ms = uv_now(r->srv->cfg.loop) - r->start_ms;
    if (ms >= SERVER_SLOW_MS) {
        /* A client with a timeout may have given up already: say where the
         * time went (forwarded to the leader or served here). */
        log_warn("store", "slow request", "type=%u ms=%llu forwarded=%d status=%d client_gone=%d",
                 r->type, (unsigned long long)ms, r->fwd_id != 0, status, r->conn == NULL);
    }
    if (r->conn) {
        struct sconn *c = r->conn;
        req_unlink(r);
        sconn_reply(c, r->type, r->id, status, body, size);
    }
    free(r);
}

static void server_part_closed(struct store_server *s);

/* ---- forwarding to the leader ---- */

static void leader_on_frame(struct store_pconn *pc, const struct store_frame *f)
{
    struct store_server *s = store_pconn_data(pc);
    for (struct pending_req **p = &s->forwarded; *p; p = &(*p)->next) {
        if ((*p)->fwd_id == f->id) {
            struct pending_req *r = *p;
            *p = r->next;
            if (!*p) {
                s->fwd_tail = p;
            }
            r->next = NULL;
            req_complete(r, f->status, f->body, f->body_size);
            return;
        }
    }
}

static void leader_on_ready(struct store_pconn *pc)
{
    struct store_server *s = store_pconn_data(pc);
    if (s->leader == pc) {
        s->leader_ready = true;
    }
    for (struct pending_req *r = s->forwarded; r; r = r->next) {
        if (r->via == pc) {
            r->maybe_sent = true;
        }
    }
}

static void leader_on_close(struct store_pconn *pc, int status)
{
    struct store_server *s = store_pconn_data(pc);
    if (s->leader == pc) {
        s->leader = NULL;
        s->leader_ready = false;
        s->leader_target[0] = '\0';
    }
    /* Only the requests that went to this connection end here (a newer
     * one to another leader may hold requests it has still to send). If
     * it was never established nothing was sent, and the client may
     * safely retry (ENOQUORUM); otherwise the outcome of a forwarded write
     * is unknown (ENOTLEADER). */
    struct pending_req *failed = NULL, **tail = &failed;
    struct pending_req **p = &s->forwarded;
    while (*p) {
        struct pending_req *r = *p;
        if (r->via == pc) {
            *p = r->next;
            r->next = NULL;
            *tail = r;
            tail = &r->next;
        } else {
            p = &r->next;
        }
    }
    s->fwd_tail = p;
    while (failed) {
        struct pending_req *r = failed;
        failed = r->next;
        r->next = NULL;
        req_complete(r, r->maybe_sent ? STORE_ENOTLEADER : STORE_ENOQUORUM, NULL, 0);
    }
    (void)status;
    if (s->closing) {
        server_part_closed(s);
    }
}

static const struct store_pconn_callbacks leader_cbs = {
    .on_frame = leader_on_frame,
    .on_ready = leader_on_ready,
    .on_close = leader_on_close,
};

static void forward(struct sconn *c, const struct store_frame *f)
{
    struct store_server *s = c->srv;
    struct store_node_status st;
    char target[STORE_ADDRESS_MAX];
    if (store_node_status(s->cfg.node, &st) != 0 || st.leader_id == 0 ||
        st.leader_id == st.id || !s->cfg.client_ctx ||
        store_client_address(st.leader_address, target, sizeof target) != 0) {
        sconn_reply(c, f->type, f->id, STORE_ENOQUORUM, NULL, 0);
        return;
    }
    if (s->leader && strcmp(s->leader_target, target) != 0) {
        /* Leader changed; on_close fails its requests. A connection closed
         * while still handshaking may yet flush what was queued on it, so
         * its requests count as possibly sent. */
        for (struct pending_req *r = s->forwarded; r; r = r->next) {
            if (r->via == s->leader) {
                r->maybe_sent = true;
            }
        }
        store_pconn_close(s->leader);
        s->leader = NULL;
        s->leader_ready = false;
    }
    if (!s->leader) {
        int rc = store_pconn_connect(s->cfg.loop, s->cfg.client_ctx, target, &leader_cbs, s, &s->leader);
        if (rc != 0) {
            sconn_reply(c, f->type, f->id, STORE_ENOQUORUM, NULL, 0);
            return;
        }
        s->leader_ready = false;
        snprintf(s->leader_target, sizeof s->leader_target, "%s", target);
    }
    struct pending_req *r = req_new(c, f->id, f->type);
    if (!r) {
        sconn_reply(c, f->type, f->id, LIB_ENOMEM, NULL, 0);
        return;
    }
    /* Detach from the connection list into the forwarded list; the request
     * stays linked to 'c' through r->conn for the reply. */
    c->reqs = r->next;
    r->fwd_id = ++s->next_fwd_id;
    r->via = s->leader;
    r->maybe_sent = s->leader_ready;
    int rc = store_pconn_send(s->leader, f->type, f->flags, r->fwd_id, 0, f->body, f->body_size);
    if (rc != 0) {
        r->conn = NULL;
        free(r);
        sconn_reply(c, f->type, f->id, rc == TLS_EAGAIN ? STORE_EBUSY : STORE_ENOQUORUM, NULL, 0);
        return;
    }
    r->next = NULL;
    *s->fwd_tail = r;
    s->fwd_tail = &r->next;
    /* Keep r findable for the client's close: a pointer back is enough, since
     * req_complete checks r->conn; sconn_free clears it via the scan below. */
}

/* ---- commands ---- */

static void cmd_done(void *arg, int status, const uint8_t *reply, size_t size)
{
    req_complete(arg, status, reply, size);
}

static void handle_cmd(struct sconn *c, const struct store_frame *f)
{
    bool serializable = (f->flags & STORE_MSG_F_SERIALIZABLE) != 0;
    struct pending_req *r = req_new(c, f->id, f->type);
    if (!r) {
        sconn_reply(c, f->type, f->id, LIB_ENOMEM, NULL, 0);
        return;
    }
    int rc = store_node_submit(c->srv->cfg.node, f->body, f->body_size, serializable, cmd_done, r);
    if (rc == STORE_ENOTLEADER) {
        req_unlink(r);
        free(r);
        forward(c, f);
        return;
    }
    if (rc != 0) {
        req_complete(r, rc, NULL, 0);
    }
}

static void change_done(void *arg, int status)
{
    req_complete(arg, status, NULL, 0);
}

static void handle_membership(struct sconn *c, const struct store_frame *f)
{
    struct store_node *node = c->srv->cfg.node;
    if (!store_node_is_leader(node)) {
        forward(c, f);
        return;
    }
    struct cursor cur;
    uint64_t id = 0;
    int rc = 0;
    cursor_init(&cur, f->body, f->body_size);
    if (buf_get_u64(&cur, &id) != 0) {
        sconn_reply(c, f->type, f->id, STORE_EFORMAT, NULL, 0);
        return;
    }
    struct pending_req *r = req_new(c, f->id, f->type);
    if (!r) {
        sconn_reply(c, f->type, f->id, LIB_ENOMEM, NULL, 0);
        return;
    }
    if (f->type == STORE_MSG_MEMBER_ADD) {
        uint16_t len;
        const uint8_t *addr;
        char address[STORE_ADDRESS_MAX];
        if (buf_get_u16(&cur, &len) != 0 || len >= sizeof address || buf_get_view(&cur, len, &addr) != 0 ||
            cursor_remaining(&cur) != 0) {
            rc = STORE_EFORMAT;
        } else {
            memcpy(address, addr, len);
            address[len] = '\0';
            rc = store_node_add_member(node, id, address, change_done, r);
        }
    } else if (f->type == STORE_MSG_MEMBER_REMOVE) {
        rc = store_node_remove_member(node, id, change_done, r);
    } else {
        rc = store_node_transfer(node, id, change_done, r);
    }
    if (rc != 0) {
        req_complete(r, rc, NULL, 0);
    }
}

/* The node's latest checkpoint. In test builds STRATA_TEST_DIVERGE=1 makes
 * this node report a corrupted hash, so tests can prove the alarm fires. */
static int server_checkpoint(struct store_server *s, uint64_t *rev, uint8_t hash[STORE_HASH_SIZE])
{
    int rc = store_fsm_checkpoint(store_node_fsm(s->cfg.node), rev, hash);
#ifdef STRATA_TEST_HOOKS
    if (rc == 0 && getenv("STRATA_TEST_DIVERGE")) {
        hash[0] ^= 0xff;
    }
#endif
    return rc;
}

static void ring_update(struct store_server *s)
{
    struct checkpoint ck;
    if (server_checkpoint(s, &ck.revision, ck.hash) != 0) {
        return;
    }
    unsigned last = (s->ring_next + CKPT_RING - 1) % CKPT_RING;
    if (s->ring[last].revision == ck.revision) {
        return;
    }
    s->ring[s->ring_next] = ck;
    s->ring_next = (s->ring_next + 1) % CKPT_RING;
}

static int hex_decode(const char *hex, uint8_t *out, size_t size)
{
    if (!hex || strlen(hex) != 2 * size) {
        return -1;
    }
    for (size_t i = 0; i < size; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* Compares a peer's checkpoint with ours at the same revision, if we still
 * hold it. A mismatch is an alarm: logged as an error and counted. */
static void peer_compare(struct peer *p, const uint8_t *body, size_t size)
{
    struct store_server *s = p->srv;
    json_t *doc = json_loadb((const char *)body, size, 0, NULL);
    json_t *ck = json_object_get(doc, "checkpoint");
    uint64_t rev = (uint64_t)json_integer_value(json_object_get(ck, "revision"));
    uint8_t hash[STORE_HASH_SIZE];
    if (ck && rev && hex_decode(json_string_value(json_object_get(ck, "hash")), hash, sizeof hash) == 0) {
        for (unsigned i = 0; i < CKPT_RING; i++) {
            if (s->ring[i].revision != rev) {
                continue;
            }
            if (memcmp(s->ring[i].hash, hash, sizeof hash) == 0) {
                s->checks_ok++;
            } else {
                s->mismatches++;
                s->mismatch_revision = rev;
                s->mismatch_peer = p->id;
                log_error("store", "ALARM: replicas diverge", "peer=%llu revision=%llu",
                          (unsigned long long)p->id, (unsigned long long)rev);
            }
            break;
        }
    }
    json_decref(doc);
}

static void peer_on_frame(struct store_pconn *pc, const struct store_frame *f)
{
    struct peer *p = store_pconn_data(pc);
    if (f->type == (STORE_MSG_STATUS | STORE_MSG_RESPONSE) && f->status == 0) {
        peer_compare(p, f->body, f->body_size);
    }
}

static void peer_on_ready(struct store_pconn *pc)
{
    struct peer *p = store_pconn_data(pc);
    p->ready = true;
}

static void peer_on_close(struct store_pconn *pc, int status)
{
    struct peer *p = store_pconn_data(pc);
    (void)status;
    p->pc = NULL;
    p->ready = false;
    if (p->srv->closing) {
        server_part_closed(p->srv);
    }
}

static const struct store_pconn_callbacks peer_cbs = {
    .on_frame = peer_on_frame,
    .on_ready = peer_on_ready,
    .on_close = peer_on_close,
};

/* Every CHECK_INTERVAL_MS: asks each other member for its checkpoint. */
static void check_timer_cb(uv_timer_t *t)
{
    struct store_server *s = t->data;
    struct store_node_status st;
    if (!s->cfg.client_ctx || store_node_status(s->cfg.node, &st) != 0) {
        return;
    }
    for (unsigned i = 0; i < st.members_len && i < STORE_MEMBERS_MAX; i++) {
        struct peer *p = &s->peers[i];
        char target[STORE_ADDRESS_MAX];
        if (st.members[i].id == st.id ||
            store_client_address(st.members[i].address, target, sizeof target) != 0) {
            continue;
        }
        if (p->pc && (p->id != st.members[i].id || strcmp(p->target, target) != 0)) {
            store_pconn_close(p->pc); /* membership changed */
            continue;
        }
        if (!p->pc) {
            p->srv = s;
            p->id = st.members[i].id;
            snprintf(p->target, sizeof p->target, "%s", target);
            if (store_pconn_connect(s->cfg.loop, s->cfg.client_ctx, target, &peer_cbs, p, &p->pc) != 0) {
                p->pc = NULL;
            }
            continue;
        }
        if (p->ready && store_pconn_send(p->pc, STORE_MSG_STATUS, 0, 1, 0, NULL, 0) != 0) {
            store_pconn_close(p->pc);
        }
    }
}

static void handle_status(struct sconn *c, const struct store_frame *f)
{
    struct store_node_status st;
    int rc = store_node_status(c->srv->cfg.node, &st);
    if (rc != 0) {
        sconn_reply(c, f->type, f->id, rc, NULL, 0);
        return;
    }
    static const char *const states[] = {"unavailable", "follower", "candidate", "leader"};
    static const char *const roles[] = {"standby", "voter", "spare"};
    char hash[2 * STORE_HASH_SIZE + 1];
    for (int i = 0; i < STORE_HASH_SIZE; i++) {
        snprintf(hash + 2 * i, 3, "%02x", st.fsm.hash[i]);
    }
    json_t *members = json_array();
    for (unsigned i = 0; i < st.members_len; i++) {
        json_t *m = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)st.members[i].id, "address",
                              st.members[i].address, "role",
                              st.members[i].role >= 0 && st.members[i].role <= 2 ? roles[st.members[i].role] : "?");
        if (st.state == RAFT_LEADER) {
            json_object_set_new(m, "match_index", json_integer((json_int_t)st.members[i].match_index));
            json_object_set_new(m, "lag", json_integer((json_int_t)(st.last_index - st.members[i].match_index)));
        }
        json_array_append_new(members, m);
    }
    json_t *doc = json_pack(
        "{s:I, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:s, s:I, s:I, s:i}, s:o}",
        "id", (json_int_t)st.id, "state", st.state >= 0 && st.state <= 3 ? states[st.state] : "?",
        "leader_id", (json_int_t)st.leader_id, "leader_address", st.leader_address, "term",
        (json_int_t)st.term, "commit_index", (json_int_t)st.commit_index, "applied_index",
        (json_int_t)st.applied_index, "last_index", (json_int_t)st.last_index, "last_stored", (json_int_t)st.last_stored, "store", "revision",
        (json_int_t)st.fsm.revision, "compacted_revision", (json_int_t)st.fsm.compacted_revision,
        "applied_index", (json_int_t)st.fsm.applied_index, "hash", hash, "map_size",
        (json_int_t)st.fsm.map_size, "map_used", (json_int_t)st.fsm.map_used, "storage_error",
        st.storage_error, "members", members);
    struct store_server *srv = c->srv;
    uint64_t ck_rev;
    uint8_t ck_hash[STORE_HASH_SIZE];
    if (doc && server_checkpoint(srv, &ck_rev, ck_hash) == 0) {
        char hex[2 * STORE_HASH_SIZE + 1];
        for (int i = 0; i < STORE_HASH_SIZE; i++) {
            snprintf(hex + 2 * i, 3, "%02x", ck_hash[i]);
        }
        json_object_set_new(doc, "checkpoint", json_pack("{s:I, s:s}", "revision", (json_int_t)ck_rev, "hash", hex));
    }
    if (doc) {
        json_object_set_new(doc, "watchdog_transfers", json_integer((json_int_t)st.watchdog_transfers));
        json_object_set_new(doc, "consistency",
                            json_pack("{s:I, s:I, s:I, s:I}", "checks_ok", (json_int_t)srv->checks_ok,
                                      "mismatches", (json_int_t)srv->mismatches, "mismatch_revision",
                                      (json_int_t)srv->mismatch_revision, "mismatch_peer",
                                      (json_int_t)srv->mismatch_peer));
    }
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    sconn_reply(c, f->type, f->id, text ? 0 : LIB_ENOMEM, text, text ? strlen(text) : 0);
    free(text);
}

static void handle_backup(struct sconn *c, const struct store_frame *f)
{
    struct buf snap;
    buf_init(&snap, 0);
    int rc = store_node_backup(c->srv->cfg.node, &snap);
    if (rc == 0 && snap.size > STORE_PROTO_FRAME_MAX - 64) {
        rc = STORE_ETOOLARGE;
    }
    sconn_reply(c, f->type, f->id, rc, snap.data, rc == 0 ? snap.size : 0);
    buf_destroy(&snap);
}

/* ---- watches ---- */

static int watch_put_event(struct watch *w, const struct store_event *ev)
{
    struct buf *b = &w->out;
    int rc = buf_put_u64(b, ev->revision);
    if (rc == 0) rc = buf_put_u32(b, ev->sub);
    if (rc == 0) rc = buf_put_u8(b, ev->type);
    if (rc == 0) rc = buf_put_u32(b, ev->kv.key_size);
    if (rc == 0) rc = buf_put(b, ev->kv.key, ev->kv.key_size);
    if (rc == 0) rc = buf_put_u32(b, ev->kv.value_size);
    if (rc == 0) rc = buf_put(b, ev->kv.value, ev->kv.value_size);
    if (rc == 0) rc = buf_put_u64(b, ev->kv.create_revision);
    if (rc == 0) rc = buf_put_u64(b, ev->kv.mod_revision);
    if (rc == 0) rc = buf_put_u64(b, ev->kv.version);
    if (rc == 0) {
        w->out_count++;
    }
    return rc;
}

/* Sends the accumulated events as one EVENTS frame. Returns 0, or
 * TLS_EAGAIN when the client's queue is full (the events are dropped and
 * the watch re-reads them from the history after the drain). */
static int watch_send(struct watch *w)
{
    if (w->out_count == 0) {
        return 0;
    }
    uint8_t *at;
    struct buf frame;
    buf_init(&frame, 0);
    int rc = buf_put_space(&frame, 4, &at);
    if (rc == 0) {
        be32_store(at, w->out_count);
        rc = buf_put(&frame, w->out.data, w->out.size);
    }
    if (rc == 0) {
        rc = store_pconn_send(w->conn->pc, STORE_MSG_EVENTS, 0, w->id, 0, frame.data, frame.size);
    }
    buf_destroy(&frame);
    buf_reset(&w->out);
    w->out_count = 0;
    return rc;
}

struct catchup {
    struct watch *w;
    uint64_t last_rev;
    int rc;
};

static int catchup_event(void *arg, const struct store_event *ev)
{
    struct catchup *cu = arg;
    if (watch_put_event(cu->w, ev) != 0) {
        cu->rc = LIB_ENOMEM;
        return 1;
    }
    cu->last_rev = ev->revision;
    return 0;
}

static void watch_free(struct watch *w)
{
    buf_destroy(&w->key);
    buf_destroy(&w->end);
    buf_destroy(&w->out);
    free(w);
}

static void watch_remove(struct watch *w)
{
    for (struct watch **p = &w->conn->watches; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            w->conn->srv->watches--;
            break;
        }
    }
    watch_free(w);
}

static struct store_keysel watch_sel(const struct watch *w)
{
    struct store_keysel sel = {.kind = w->sel_kind,
                               .key = w->key.data,
                               .key_size = (uint32_t)w->key.size,
                               .end = w->end.data,
                               .end_size = (uint32_t)w->end.size};
    return sel;
}

/* One catch-up step: reads up to WATCH_CHUNK events from the history and
 * sends them. Leaves catching_up when the history is exhausted. Returns
 * false when the watch was removed. */
static bool watch_catch_up(struct watch *w)
{
    struct store_fsm *fsm = store_node_fsm(w->conn->srv->cfg.node);
    struct store_keysel sel = watch_sel(w);
    struct catchup cu = {.w = w};
    uint64_t next = w->next_rev;
    int rc = store_fsm_history(fsm, w->next_rev, &sel, WATCH_CHUNK, catchup_event, &cu, &next);
    if (rc == 0) {
        rc = cu.rc;
    }
    if (rc == STORE_ECOMPACTED) {
        struct store_fsm_status st;
        uint8_t body[8] = {0};
        if (store_fsm_status(fsm, &st) == 0) {
            be64_store(body, st.compacted_revision);
        }
        sconn_reply(w->conn, STORE_MSG_WATCH, w->id, STORE_ECOMPACTED, body, sizeof body);
        watch_remove(w);
        return false;
    }
    if (rc != 0) {
        sconn_reply(w->conn, STORE_MSG_WATCH, w->id, rc, NULL, 0);
        watch_remove(w);
        return false;
    }
    bool exhausted = cu.w->out_count < WATCH_CHUNK;
    if (watch_send(w) != 0) {
        return true; /* stays catching up from the same revision */
    }
    w->next_rev = next;
    if (exhausted) {
        /* next_rev is one past the last revision in the history, which is the
         * current revision: live events from next_rev on follow. */
        struct store_fsm_status st;
        if (store_fsm_status(fsm, &st) == 0 && w->next_rev > st.revision) {
            w->catching_up = false;
        }
    }
    return true;
}

static void server_event(void *arg, const struct store_event *ev)
{
    struct store_server *s = arg;
    if (s->watches == 0) {
        return;
    }
    for (struct sconn *c = s->conns; c; c = c->next) {
        for (struct watch *w = c->watches; w; w = w->next) {
            if (w->catching_up || ev->revision < w->next_rev) {
                continue;
            }
            struct store_keysel sel = watch_sel(w);
            if (store_sel_match(&sel, ev->kv.key, ev->kv.key_size)) {
                if (watch_put_event(w, ev) != 0) {
                    w->catching_up = true;
                    buf_reset(&w->out);
                    w->out_count = 0;
                }
            }
            /* Delivered events move next_rev when sent (check_cb). */
        }
    }
}

static void server_check_cb(uv_check_t *h)
{
    struct store_server *s = h->data;
    ring_update(s);
    struct store_fsm_status st;
    bool have_st = false;
    for (struct sconn *c = s->watches ? s->conns : NULL; c; c = c->next) {
        struct watch *w = c->watches;
        while (w) {
            struct watch *next = w->next;
            if (w->catching_up) {
                if (store_pconn_queued(c->pc) < (256u << 10)) {
                    watch_catch_up(w);
                }
            } else {
                if (!have_st) {
                    have_st = store_fsm_status(store_node_fsm(s->cfg.node), &st) == 0;
                }
                if (watch_send(w) != 0) {
                    w->catching_up = true; /* re-read what was lost from history */
                } else if (have_st) {
                    w->next_rev = st.revision + 1;
                }
            }
            w = next;
        }
    }
}

static void handle_watch(struct sconn *c, const struct store_frame *f)
{
    struct cursor cur;
    uint64_t from;
    uint8_t kind;
    uint32_t klen, elen = 0;
    const uint8_t *key, *end = NULL;
    cursor_init(&cur, f->body, f->body_size);
    if (buf_get_u64(&cur, &from) != 0 || buf_get_u8(&cur, &kind) != 0 ||
        kind < STORE_SEL_KEY || kind > STORE_SEL_PREFIX || buf_get_u32(&cur, &klen) != 0 ||
        klen > STORE_KEY_MAX || buf_get_view(&cur, klen, &key) != 0 ||
        (kind == STORE_SEL_INTERVAL &&
         (buf_get_u32(&cur, &elen) != 0 || elen > STORE_KEY_MAX || buf_get_view(&cur, elen, &end) != 0)) ||
        cursor_remaining(&cur) != 0) {
        sconn_reply(c, f->type, f->id, STORE_EFORMAT, NULL, 0);
        return;
    }
    struct watch *w = calloc(1, sizeof *w);
    if (!w) {
        sconn_reply(c, f->type, f->id, LIB_ENOMEM, NULL, 0);
        return;
    }
    w->conn = c;
    w->id = f->id;
    w->sel_kind = kind;
    buf_init(&w->key, 0);
    buf_init(&w->end, 0);
    buf_init(&w->out, 0);
    if (buf_put(&w->key, key, klen) != 0 || buf_put(&w->end, end, elen) != 0) {
        watch_free(w);
        sconn_reply(c, f->type, f->id, LIB_ENOMEM, NULL, 0);
        return;
    }
    if (from == 0) {
        struct store_fsm_status st;
        from = store_fsm_status(store_node_fsm(c->srv->cfg.node), &st) == 0 ? st.revision + 1 : 1;
    }
    w->next_rev = from;
    w->catching_up = true;
    w->next = c->watches;
    c->watches = w;
    c->srv->watches++;
    watch_catch_up(w);
}

static void handle_watch_cancel(struct sconn *c, const struct store_frame *f)
{
    struct cursor cur;
    uint64_t wid;
    cursor_init(&cur, f->body, f->body_size);
    if (buf_get_u64(&cur, &wid) != 0) {
        sconn_reply(c, f->type, f->id, STORE_EFORMAT, NULL, 0);
        return;
    }
    for (struct watch *w = c->watches; w; w = w->next) {
        if (w->id == wid) {
            watch_remove(w);
            sconn_reply(c, f->type, f->id, 0, NULL, 0);
            return;
        }
    }
    sconn_reply(c, f->type, f->id, STORE_ENOTFOUND, NULL, 0);
}

/* ---- connections ---- */

static void sconn_on_frame(struct store_pconn *pc, const struct store_frame *f)
{
    struct sconn *c = store_pconn_data(pc);
    if (c->srv->closing) {
        sconn_reply(c, f->type, f->id, STORE_ESHUTDOWN, NULL, 0);
        return;
    }
    switch (f->type) {
    case STORE_MSG_CMD:
        handle_cmd(c, f);
        break;
    case STORE_MSG_STATUS:
        handle_status(c, f);
        break;
    case STORE_MSG_WATCH:
        handle_watch(c, f);
        break;
    case STORE_MSG_WATCH_CANCEL:
        handle_watch_cancel(c, f);
        break;
    case STORE_MSG_MEMBER_ADD:
    case STORE_MSG_MEMBER_REMOVE:
    case STORE_MSG_TRANSFER:
        handle_membership(c, f);
        break;
    case STORE_MSG_BACKUP:
        handle_backup(c, f);
        break;
    default:
        sconn_reply(c, f->type, f->id, STORE_EFORMAT, NULL, 0);
        break;
    }
}

static void sconn_on_drain(struct store_pconn *pc)
{
    (void)pc; /* catch-ups resume from the check handle */
}

static void sconn_drop(struct store_server *s, struct sconn *c);

static void sconn_on_close(struct store_pconn *pc, int status)
{
    struct sconn *c = store_pconn_data(pc);
    struct store_server *s = c->srv;
    (void)status;
    while (c->watches) {
        struct watch *w = c->watches;
        c->watches = w->next;
        s->watches--;
        watch_free(w);
    }
    for (struct pending_req *r = c->reqs; r; r = r->next) {
        r->conn = NULL; /* completions find no one to answer */
    }
    for (struct pending_req *r = s->forwarded; r; r = r->next) {
        if (r->conn == c) {
            r->conn = NULL;
        }
    }
    sconn_drop(s, c);
    if (s->closing) {
        server_part_closed(s);
    }
}

static const struct store_pconn_callbacks sconn_cbs = {
    .on_frame = sconn_on_frame,
    .on_drain = sconn_on_drain,
    .on_close = sconn_on_close,
};

static struct sconn *sconn_new(struct store_server *s)
{
    struct sconn *c = calloc(1, sizeof *c);
    if (c) {
        c->srv = s;
        c->next = s->conns;
        if (s->conns) {
            s->conns->prev = c;
        }
        s->conns = c;
    }
    return c;
}

/* Unlinks and frees a connection record. */
static void sconn_drop(struct store_server *s, struct sconn *c)
{
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    free(c);
}

static void tls_on_accept(struct tls_server *ts, struct tls_conn *conn)
{
    struct store_server *s = tls_server_data(ts);
    struct sconn *c = sconn_new(s);
    if (!c) {
        tls_conn_free(conn);
        return;
    }
    if (store_pconn_from_tls(conn, &sconn_cbs, c, &c->pc) != 0) {
        sconn_drop(s, c);
    }
}

/* The client port admits node and operator certificates only: agents and
 * other cluster-CA holders have no business in the store. */
static int tls_authorize(struct tls_server *ts, struct tls_conn *conn, const char *identity)
{
    const struct pki_cert *cert = tls_conn_peer_cert(conn);
    (void)ts;
    (void)identity;
    return pki_cert_has_role(cert, PKI_ROLE_NODE) || pki_cert_has_role(cert, PKI_ROLE_OPERATOR)
               ? 0
               : TLS_EDENIED;
}

static void tls_on_reject(struct tls_server *ts, int status, const char *identity)
{
    (void)ts;
    log_warn("store-server", "refused client", "identity=%s err=\"%s\"", identity ? identity : "-",
             strata_strerror(status));
}

static const struct tls_server_callbacks server_tls_cbs = {
    .on_accept = tls_on_accept,
    .authorize = tls_authorize,
    .on_reject = tls_on_reject,
};

static void unix_on_connection(uv_stream_t *srv, int status)
{
    struct store_server *s = srv->data;
    if (status != 0) {
        return;
    }
    uv_pipe_t *pipe = malloc(sizeof *pipe);
    if (!pipe) {
        return;
    }
    uv_pipe_init(s->cfg.loop, pipe, 0);
    if (uv_accept(srv, (uv_stream_t *)pipe) != 0) {
        uv_close((uv_handle_t *)pipe, (uv_close_cb)free);
        return;
    }
    struct sconn *c = sconn_new(s);
    if (!c) {
        uv_close((uv_handle_t *)pipe, (uv_close_cb)free);
        return;
    }
    if (store_pconn_from_pipe(pipe, &sconn_cbs, c, &c->pc) != 0) {
        sconn_drop(s, c);
    }
}

int store_server_create(const struct store_server_config *config, struct store_server **out)
{
    struct store_server *s = calloc(1, sizeof *s);
    int rc = 0;
    if (!s) {
        return LIB_ENOMEM;
    }
    s->cfg = *config;
    s->fwd_tail = &s->forwarded;
    uv_check_init(config->loop, &s->check);
    s->check.data = s;
    uv_check_start(&s->check, server_check_cb);
    uv_timer_init(config->loop, &s->check_timer);
    s->check_timer.data = s;
    uv_timer_start(&s->check_timer, check_timer_cb, CHECK_INTERVAL_MS, CHECK_INTERVAL_MS);
    if (config->server_ctx) {
        rc = tls_server_create(config->server_ctx, config->loop, &server_tls_cbs, s, &s->tls);
        if (rc == 0) {
            rc = config->listen_fd >= 0 ? tls_server_listen_fd(s->tls, &s->cfg.listen_fd)
                                        : tls_server_listen(s->tls, config->host, config->port);
        }
        if (rc != 0) {
            log_error("store-server", "cannot listen", "host=%s port=%u err=\"%s\"",
                      config->host ? config->host : "-", config->port, strata_strerror(rc));
            goto err;
        }
    }
    if (config->unix_path) {
        snprintf(s->unix_path, sizeof s->unix_path, "%s", config->unix_path);
        s->unix_srv = malloc(sizeof *s->unix_srv);
        if (!s->unix_srv) {
            rc = LIB_ENOMEM;
            goto err;
        }
        uv_pipe_init(config->loop, s->unix_srv, 0);
        s->unix_srv->data = s;
        unlink(config->unix_path);
        mode_t old = umask(0077);
        rc = uv_pipe_bind(s->unix_srv, config->unix_path);
        umask(old);
        if (rc == 0) {
            rc = uv_listen((uv_stream_t *)s->unix_srv, 128, unix_on_connection);
        }
        if (rc != 0) {
            log_error("store-server", "cannot listen on unix socket", "path=%s err=\"%s\"",
                      config->unix_path, strata_strerror(rc));
            goto err;
        }
    }
    store_node_set_event_hook(config->node, server_event, s);
    *out = s;
    return 0;
err:
    s->closing = true;
    store_server_close(s, NULL, NULL);
    return rc;
}

static void server_part_closed(struct store_server *s)
{
    if (--s->closes_pending > 0) {
        return;
    }
    void (*cb)(void *) = s->close_cb;
    void *arg = s->close_arg;
    free(s);
    if (cb) {
        cb(arg);
    }
}

static void server_tls_closed(void *data)
{
    server_part_closed(data);
}

static void server_handle_closed(uv_handle_t *h)
{
    struct store_server *s = h->data;
    if ((uv_handle_t *)h != (uv_handle_t *)&s->check && (uv_handle_t *)h != (uv_handle_t *)&s->check_timer) {
        free(h);
    }
    server_part_closed(s);
}

void store_server_close(struct store_server *s, void (*cb)(void *arg), void *arg)
{
    s->closing = true;
    s->close_cb = cb;
    s->close_arg = arg;
    store_node_set_event_hook(s->cfg.node, NULL, NULL);
    s->closes_pending = 2; /* the check handle and the check timer */
    uv_close((uv_handle_t *)&s->check_timer, server_handle_closed);
    for (unsigned i = 0; i < STORE_MEMBERS_MAX; i++) {
        if (s->peers[i].pc) {
            s->closes_pending++;
            store_pconn_close(s->peers[i].pc);
        }
    }
    if (s->tls) {
        s->closes_pending++;
        tls_server_close(s->tls, server_tls_closed);
        s->tls = NULL;
    }
    if (s->unix_srv) {
        s->closes_pending++;
        uv_close((uv_handle_t *)s->unix_srv, server_handle_closed);
        s->unix_srv = NULL;
        unlink(s->unix_path);
    }
    if (s->leader) {
        s->closes_pending++;
        store_pconn_close(s->leader);
    }
    for (struct sconn *c = s->conns; c; c = c->next) {
        s->closes_pending++;
        store_pconn_close(c->pc);
    }
    uv_close((uv_handle_t *)&s->check, server_handle_closed);
}
