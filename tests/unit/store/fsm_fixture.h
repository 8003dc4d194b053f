/* Shared helpers for the store FSM unit tests: a temporary environment
 * directory, entry application with decoded replies, and command builders. */
#ifndef STRATA_TEST_FSM_FIXTURE_H
#define STRATA_TEST_FSM_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/cmd.h"
#include "store/fsm.h"

struct fx {
    char dir[64];
    struct store_fsm *fsm;
    uint64_t index; /* last raft index handed out */
    struct store_result res;
    struct store_reply reply; /* decoded reply of the last apply1() */
};

static inline void fx_rmdir(const char *dir)
{
    char p[128];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

static inline void fx_mkdir(char *dir, size_t size)
{
    snprintf(dir, size, "/tmp/strata-fsm-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

/* Opens a fresh store in a new temporary directory. */
static inline void fx_init(struct fx *f, const struct store_fsm_config *cfg)
{
    memset(f, 0, sizeof *f);
    fx_mkdir(f->dir, sizeof f->dir);
    struct store_fsm_config c = {.no_sync = true};
    if (cfg) {
        c = *cfg;
    }
    assert_int_equal(store_fsm_open(&f->fsm, f->dir, &c), 0);
    buf_init(&f->res.reply, 0);
}

/* Closes the store after checking its stored invariants. */
static inline void fx_destroy(struct fx *f)
{
    assert_int_equal(store_fsm_audit(f->fsm), 0);
    store_reply_destroy(&f->reply);
    buf_destroy(&f->res.reply);
    store_fsm_close(f->fsm);
    fx_rmdir(f->dir);
}

/* Applies the command in 'cmd' as the next entry; returns the entry status
 * and leaves the decoded reply in f->reply. */
static inline int fx_apply(struct fx *f, const struct buf *cmd)
{
    struct store_entry e = {.index = ++f->index, .data = cmd->data, .size = cmd->size};
    assert_int_equal(store_fsm_apply_batch(f->fsm, &e, 1, &f->res), 0);
    store_reply_destroy(&f->reply);
    assert_int_equal(store_reply_decode(&f->reply, f->res.reply.data, f->res.reply.size), 0);
    assert_int_equal(f->reply.status, f->res.status);
    assert_true(f->reply.revision == f->res.revision);
    return f->res.status;
}

static inline int fx_put(struct fx *f, const char *key, const char *value)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(store_cmd_encode_put(&b, key, (uint32_t)strlen(key), value,
                                          (uint32_t)strlen(value), STORE_F_PREV_KV), 0);
    int rc = fx_apply(f, &b);
    buf_destroy(&b);
    return rc;
}

static inline int fx_del(struct fx *f, struct store_keysel sel)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(store_cmd_encode_delete(&b, &sel, STORE_F_PREV_KV), 0);
    int rc = fx_apply(f, &b);
    buf_destroy(&b);
    return rc;
}

static inline uint64_t fx_revision(struct fx *f)
{
    struct store_fsm_status st;
    assert_int_equal(store_fsm_status(f->fsm, &st), 0);
    return st.revision;
}

/* Asserts key 'key' holds 'value' (or is absent when 'value' is NULL). */
static inline void fx_expect(struct fx *f, const char *key, const char *value)
{
    struct store_kv kv;
    struct buf v;
    buf_init(&v, 0);
    int rc = store_fsm_get(f->fsm, key, (uint32_t)strlen(key), &kv, &v);
    if (!value) {
        assert_int_equal(rc, STORE_ENOTFOUND);
    } else {
        assert_int_equal(rc, 0);
        assert_int_equal(v.size, strlen(value));
        if (v.size) {
            assert_memory_equal(v.data, value, v.size);
        }
    }
    buf_destroy(&v);
}

#define SEL_KEY(s) store_sel_key((s), (uint32_t)strlen(s))
#define SEL_PREFIX(s) store_sel_prefix((s), (uint32_t)strlen(s))
#define SEL_RANGE(a, b) store_sel_interval((a), (uint32_t)strlen(a), (b), (uint32_t)strlen(b))

#endif
