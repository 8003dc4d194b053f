/* The store's state machine on LMDB (API and on-disk layout in fsm.h): applies
 * batches of committed raft entries in one write transaction, answers local
 * reads and watch catch-up from read transactions, and moves the whole state
 * in and out as snapshots.
 *
 * Durability. raft appends and fsyncs an entry before it is committed, and we
 * apply only committed entries, so the raft log is the durable record; LMDB's
 * copy only has to be consistent, not current. Each batch commits, in the
 * same LMDB transaction, the last applied raft index, and apply skips entries
 * at or below it. After any crash LMDB therefore holds the state after some
 * prefix of the log, and raft's replay of the entries after its snapshot
 * re-applies exactly the missing suffix (or, if raft restores its snapshot
 * first, the snapshot carries its own applied index and replay continues
 * from there). Losing recent LMDB commits is thus harmless; corrupting the
 * file is not. MDB_NOSYNC risks corruption on a machine crash unless the
 * file system keeps write order, so the default is MDB_NOMETASYNC: data pages
 * are fdatasync'ed at each commit, the meta page is not, which keeps LMDB's
 * integrity (a crash may undo the last commits, which replay redoes) for one
 * flush per batch — cheap because a batch carries many entries.
 * config.durable syncs meta pages too; config.no_sync skips all syncing and
 * is for a caller that can tell a machine crash from a process crash and
 * rebuild the environment after the former, as store/node.c does (a
 * process crash leaves every commit intact in the page cache).
 * store_fsm_sync() forces everything to disk before raft may drop log
 * entries that LMDB alone would have to remember.
 *
 * Determinism. Everything a replica writes is a function of the entry
 * sequence and the replicated settings: no clocks, no local state, and no
 * dependence on how entries were grouped into batches (retention compaction
 * is checked after every entry, not per batch).
 *
 * Long keys. LMDB 0.9 keys are at most 511 bytes, Strata keys up to 4 KiB.
 * A key of up to FSM_KEY_DIRECT bytes is stored as itself; a longer key k is
 * stored as k[0..FSM_KEY_DIRECT) || SHA-256(k), and its record carries the
 * full key. LMDB's order on stored keys is then the order of the keys' first
 * FSM_KEY_DIRECT bytes, exact except among long keys sharing those bytes,
 * which sit together and are sorted in memory when a range walks them. */
#include "store/fsm.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#define FSM_FORMAT 1
#define FSM_KEY_DIRECT 479u
#define FSM_KEY_STORED (FSM_KEY_DIRECT + STORE_HASH_SIZE) /* 511 */
#define FSM_REC_HDR 24u                                    /* create mod version */
#define FSM_META_SIZE (1u + 3u * 8u + STORE_HASH_SIZE)
#define FSM_HIST_KEY 12u /* u64 revision u32 sub */
#define FSM_EV_HDR 2u    /* type flags */
#define FSM_EV_F_PREV 0x01u
#define FSM_REPLY_HDR 25u
#define FSM_RESULT_HDR 14u
#define FSM_SNAP_MAGIC "STRATAFS"
#define FSM_SNAP_VERSION 1

#ifdef STRATA_TEST_HOOKS
uint64_t store_fsm_test_disk_avail = UINT64_MAX;
#endif

/* State of the last commit. Invariant (writer): equals the "state" record in
 * "meta"; compacted <= revision. */
struct fsm_state {
    uint64_t applied;
    uint64_t revision;
    uint64_t compacted;
    uint8_t hash[STORE_HASH_SIZE];
};

struct store_fsm {
    MDB_env *env;
    MDB_dbi dbi_meta;
    MDB_dbi dbi_kv;
    MDB_dbi dbi_hist;
    MDB_txn *rtxn; /* reset read transaction kept for reuse, or NULL */
    char *path;
    struct store_fsm_config cfg; /* defaults resolved */
    int failed;                  /* sticky storage error, 0 when healthy */
    unsigned views;              /* open store_fsm_view read transactions */
    struct fsm_state st;
    bool ckpt_set;     /* last checkpoint since open (see store_fsm_checkpoint) */
    uint64_t ckpt_rev;
    uint8_t ckpt_hash[STORE_HASH_SIZE];
    struct buf ev;     /* scratch: the event record being built */
    struct buf keys;   /* scratch: stored keys collected by delete-range */
    struct buf events; /* live events of the open batch: u64 rev u32 sub u32 size record */
    struct fsm_group *group;
    size_t group_cap;
};

/* A parsed "kv" record; views into LMDB memory or the record being built. */
struct fsm_rec {
    uint64_t create;
    uint64_t mod;
    uint64_t version;
    const uint8_t *key;
    uint32_t key_size;
    const uint8_t *value;
    uint32_t value_size;
};

/* A member of a group of long keys sharing their first FSM_KEY_DIRECT bytes. */
struct fsm_group {
    MDB_val k;
    MDB_val d;
    struct fsm_rec rec;
};

/* A stored (LMDB) key for a user key. */
struct fsm_skey {
    uint8_t b[FSM_KEY_STORED];
    MDB_val v;
};

/* Per-batch apply context. */
struct fsm_apply {
    struct store_fsm *fsm;
    MDB_txn *txn;
    struct fsm_state ws; /* working state, becomes fsm->st on commit */
    uint64_t rev;        /* revision the current entry writes */
    uint32_t sub;        /* changes made so far at 'rev' */
    bool ckpt_set;       /* a checkpoint was reached in this batch */
    uint64_t ckpt_rev;
    uint8_t ckpt_hash[STORE_HASH_SIZE];
};

/* ---- small helpers ---- */

static int fsm_err(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_MAP_FULL:
        return STORE_EMAPFULL;
    case ENOSPC:
    case EDQUOT:
        return STORE_ENOSPC;
    case MDB_NOTFOUND:
        return STORE_ENOTFOUND;
    case ENOMEM:
        return LIB_ENOMEM;
    case MDB_PANIC:
        return STORE_EPANIC;
    case MDB_TXN_FULL:
        return STORE_ETOOLARGE;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
        return STORE_ECORRUPT;
    case MDB_VERSION_MISMATCH:
        return STORE_EVERSION;
    case EIO:
        return STORE_EIO;
    default:
        return rc > 0 && rc < 4096 ? -rc : STORE_EIO;
    }
}

static int fsm_bytes_cmp(const uint8_t *a, uint32_t an, const uint8_t *b, uint32_t bn)
{
    uint32_t n = an < bn ? an : bn;
    int r = n ? memcmp(a, b, n) : 0;
    if (r) {
        return r;
    }
    return an < bn ? -1 : an > bn ? 1 : 0;
}

/* Order of the first FSM_KEY_DIRECT bytes: the order LMDB keeps. */
static int fsm_trunc_cmp(const uint8_t *a, uint32_t an, const uint8_t *b, uint32_t bn)
{
    return fsm_bytes_cmp(a, an < FSM_KEY_DIRECT ? an : FSM_KEY_DIRECT, b,
                         bn < FSM_KEY_DIRECT ? bn : FSM_KEY_DIRECT);
}

static int fsm_sha(uint8_t out[STORE_HASH_SIZE], const void *a, size_t an, const void *b,
                   size_t bn, const void *c, size_t cn)
{
    wc_Sha256 sha;
    int rc = wc_InitSha256(&sha);
    if (rc == 0 && an) {
        rc = wc_Sha256Update(&sha, a, (word32)an);
    }
    if (rc == 0 && bn) {
        rc = wc_Sha256Update(&sha, b, (word32)bn);
    }
    if (rc == 0 && cn) {
        rc = wc_Sha256Update(&sha, c, (word32)cn);
    }
    if (rc == 0) {
        rc = wc_Sha256Final(&sha, out);
    }
    wc_Sha256Free(&sha);
    return rc == 0 ? 0 : STORE_EIO;
}

static int fsm_skey_make(struct fsm_skey *sk, const uint8_t *key, uint32_t size)
{
    if (size <= FSM_KEY_DIRECT) {
        sk->v.mv_data = (void *)key;
        sk->v.mv_size = size;
        return 0;
    }
    memcpy(sk->b, key, FSM_KEY_DIRECT);
    sk->v.mv_data = sk->b;
    sk->v.mv_size = FSM_KEY_STORED;
    return fsm_sha(sk->b + FSM_KEY_DIRECT, key, size, NULL, 0, NULL, 0);
}

/* Parses a "kv" record stored under 'k'. STORE_ECORRUPT when malformed. */
static int fsm_rec_parse(const MDB_val *k, const MDB_val *d, struct fsm_rec *r)
{
    struct cursor c;
    cursor_init(&c, d->mv_data, d->mv_size);
    if (buf_get_u64(&c, &r->create) || buf_get_u64(&c, &r->mod) || buf_get_u64(&c, &r->version)) {
        return STORE_ECORRUPT;
    }
    if (k->mv_size == FSM_KEY_STORED) {
        if (buf_get_u32(&c, &r->key_size) || r->key_size <= FSM_KEY_DIRECT ||
            r->key_size > STORE_KEY_MAX || buf_get_view(&c, r->key_size, &r->key)) {
            return STORE_ECORRUPT;
        }
    } else if (k->mv_size == 0 || k->mv_size > FSM_KEY_DIRECT) {
        return STORE_ECORRUPT;
    } else {
        r->key = k->mv_data;
        r->key_size = (uint32_t)k->mv_size;
    }
    r->value_size = (uint32_t)cursor_remaining(&c);
    if (r->value_size > STORE_VALUE_MAX || buf_get_view(&c, r->value_size, &r->value)) {
        return STORE_ECORRUPT;
    }
    return 0;
}

static struct store_kv fsm_rec_kv(const struct fsm_rec *r)
{
    return (struct store_kv){.key = r->key,
                             .key_size = r->key_size,
                             .value = r->value,
                             .value_size = r->value_size,
                             .create_revision = r->create,
                             .mod_revision = r->mod,
                             .version = r->version};
}

/* Looks 'key' up: 0 and '*rec', STORE_ENOTFOUND, or a storage error. */
static int fsm_lookup(struct store_fsm *fsm, MDB_txn *txn, const uint8_t *key, uint32_t size,
                      struct fsm_rec *rec)
{
    struct fsm_skey sk;
    MDB_val d;
    int rc = fsm_skey_make(&sk, key, size);
    if (rc) {
        return rc;
    }
    rc = mdb_get(txn, fsm->dbi_kv, &sk.v, &d);
    if (rc) {
        return fsm_err(rc);
    }
    rc = fsm_rec_parse(&sk.v, &d, rec);
    if (rc == 0 && fsm_bytes_cmp(rec->key, rec->key_size, key, size) != 0) {
        rc = STORE_ECORRUPT; /* a SHA-256 collision, or a damaged record */
    }
    return rc;
}

/* ---- meta ---- */

static int fsm_meta_read(struct store_fsm *fsm, MDB_txn *txn, struct fsm_state *st)
{
    MDB_val k = {.mv_size = 5, .mv_data = "state"}, d;
    int rc = mdb_get(txn, fsm->dbi_meta, &k, &d);
    if (rc) {
        return rc == MDB_NOTFOUND ? STORE_ECORRUPT : fsm_err(rc);
    }
    struct cursor c;
    uint8_t format;
    cursor_init(&c, d.mv_data, d.mv_size);
    if (buf_get_u8(&c, &format)) {
        return STORE_ECORRUPT;
    }
    if (format != FSM_FORMAT) {
        return STORE_EVERSION;
    }
    if (buf_get_u64(&c, &st->applied) || buf_get_u64(&c, &st->revision) ||
        buf_get_u64(&c, &st->compacted) || buf_get_bytes(&c, st->hash, STORE_HASH_SIZE) ||
        cursor_remaining(&c) != 0 || st->compacted > st->revision) {
        return STORE_ECORRUPT;
    }
    return 0;
}

static int fsm_meta_write(struct store_fsm *fsm, MDB_txn *txn, const struct fsm_state *st)
{
    uint8_t rec[FSM_META_SIZE];
    rec[0] = FSM_FORMAT;
    be64_store(rec + 1, st->applied);
    be64_store(rec + 9, st->revision);
    be64_store(rec + 17, st->compacted);
    memcpy(rec + 25, st->hash, STORE_HASH_SIZE);
    MDB_val k = {.mv_size = 5, .mv_data = "state"}, d = {.mv_size = sizeof rec, .mv_data = rec};
    return fsm_err(mdb_put(txn, fsm->dbi_meta, &k, &d, 0));
}

/* ---- environment and transactions ---- */

static void fsm_read_release(struct store_fsm *fsm)
{
    if (fsm->rtxn) {
        mdb_txn_abort(fsm->rtxn);
        fsm->rtxn = NULL;
    }
}

/* Adopts a map size grown by another process when LMDB says so. */
static int fsm_txn_begin(struct store_fsm *fsm, unsigned flags, MDB_txn **txn)
{
    int rc = mdb_txn_begin(fsm->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) {
        fsm_read_release(fsm);
        rc = mdb_env_set_mapsize(fsm->env, 0);
        if (rc == 0) {
            rc = mdb_txn_begin(fsm->env, NULL, flags, txn);
        }
    }
    return fsm_err(rc);
}

static int fsm_read_begin(struct store_fsm *fsm, MDB_txn **txn)
{
    if (!fsm->env) {
        return STORE_EPANIC;
    }
    if (fsm->rtxn) {
        int rc = mdb_txn_renew(fsm->rtxn);
        if (rc == 0) {
            *txn = fsm->rtxn;
            fsm->rtxn = NULL;
            return 0;
        }
        fsm_read_release(fsm);
    }
    return fsm_txn_begin(fsm, MDB_RDONLY, txn);
}

static void fsm_read_end(struct store_fsm *fsm, MDB_txn *txn)
{
    if (fsm->rtxn) {
        mdb_txn_abort(txn);
        return;
    }
    mdb_txn_reset(txn);
    fsm->rtxn = txn;
}

static int fsm_env_open(struct store_fsm *fsm)
{
    unsigned flags = MDB_NOTLS;
    if (fsm->cfg.read_only) {
        flags |= MDB_RDONLY;
    } else if (fsm->cfg.no_sync) {
        flags |= MDB_NOSYNC | MDB_NOMETASYNC;
    } else if (!fsm->cfg.durable) {
        flags |= MDB_NOMETASYNC;
    }
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&fsm->env);
    if (rc) {
        fsm->env = NULL;
        return fsm_err(rc);
    }
    rc = mdb_env_set_maxdbs(fsm->env, 4);
    rc = rc ? rc : mdb_env_set_mapsize(fsm->env, fsm->cfg.map_size);
    rc = rc ? rc : mdb_env_open(fsm->env, fsm->path, flags, 0640);
    if (rc) {
        rc = fsm_err(rc);
        goto fail_env;
    }
    rc = fsm_txn_begin(fsm, fsm->cfg.read_only ? MDB_RDONLY : 0, &txn);
    if (rc) {
        goto fail_env;
    }
    unsigned create = fsm->cfg.read_only ? 0 : MDB_CREATE;
    rc = mdb_dbi_open(txn, "meta", create, &fsm->dbi_meta);
    rc = rc ? rc : mdb_dbi_open(txn, "kv", create, &fsm->dbi_kv);
    rc = rc ? rc : mdb_dbi_open(txn, "hist", create, &fsm->dbi_hist);
    if (rc) {
        rc = fsm_err(rc);
        goto fail_txn;
    }
    rc = fsm_meta_read(fsm, txn, &fsm->st);
    if (rc == STORE_ECORRUPT && !fsm->cfg.read_only) {
        /* A new environment: no state record yet, and no keys. */
        MDB_stat st;
        rc = fsm_err(mdb_stat(txn, fsm->dbi_kv, &st));
        if (rc == 0 && st.ms_entries == 0) {
            memset(&fsm->st, 0, sizeof fsm->st);
            rc = fsm_meta_write(fsm, txn, &fsm->st);
        } else if (rc == 0) {
            rc = STORE_ECORRUPT;
        }
    }
    if (rc) {
        goto fail_txn;
    }
    rc = fsm_err(mdb_txn_commit(txn)); /* also for read-only: keeps the dbi handles */
    if (rc) {
        goto fail_env;
    }
    return 0;

fail_txn:
    mdb_txn_abort(txn);
fail_env:
    mdb_env_close(fsm->env);
    fsm->env = NULL;
    return rc;
}

int store_fsm_open(struct store_fsm **out, const char *path, const struct store_fsm_config *config)
{
    *out = NULL;
    struct store_fsm *fsm = calloc(1, sizeof *fsm);
    if (!fsm) {
        return LIB_ENOMEM;
    }
    if (config) {
        fsm->cfg = *config;
    }
    struct store_fsm_config *cfg = &fsm->cfg;
    if (cfg->map_size == 0) {
        cfg->map_size = STORE_DEFAULT_MAP_SIZE;
    }
    if (cfg->key_max == 0 || cfg->key_max > STORE_KEY_MAX) {
        cfg->key_max = STORE_KEY_MAX;
    }
    if (cfg->value_max == 0 || cfg->value_max > STORE_VALUE_MAX) {
        cfg->value_max = STORE_VALUE_MAX;
    }
    if (cfg->retention == 0) {
        cfg->retention = STORE_DEFAULT_RETENTION;
    }
    if (cfg->checkpoint_interval == 0) {
        cfg->checkpoint_interval = 1024;
    }
    if (cfg->retention_slack == 0) {
        cfg->retention_slack = cfg->retention / 8 + 1;
    }
    buf_init(&fsm->ev, 0);
    buf_init(&fsm->keys, 0);
    buf_init(&fsm->events, 0);
    fsm->path = strdup(path);
    int rc = fsm->path ? fsm_env_open(fsm) : LIB_ENOMEM;
    if (rc) {
        store_fsm_close(fsm);
        return rc;
    }
    *out = fsm;
    return 0;
}

void store_fsm_close(struct store_fsm *fsm)
{
    if (!fsm) {
        return;
    }
    fsm_read_release(fsm);
    if (fsm->env) {
        mdb_env_close(fsm->env);
    }
    buf_destroy(&fsm->ev);
    buf_destroy(&fsm->keys);
    buf_destroy(&fsm->events);
    free(fsm->group);
    free(fsm->path);
    free(fsm);
}

int store_fsm_recover(struct store_fsm *fsm)
{
    if (!fsm->failed && fsm->env) {
        return 0;
    }
    if (fsm->views) {
        return STORE_EBUSY; /* the environment cannot close under a view */
    }
    fsm_read_release(fsm);
    if (fsm->env) {
        MDB_envinfo info;
        if (mdb_env_info(fsm->env, &info) == 0 && info.me_mapsize > fsm->cfg.map_size) {
            fsm->cfg.map_size = info.me_mapsize;
        }
        mdb_env_close(fsm->env);
        fsm->env = NULL;
    }
    int rc = fsm_env_open(fsm);
    if (rc == 0) {
        fsm->failed = 0;
    } else if (!fsm->failed) {
        fsm->failed = rc;
    }
    return rc;
}

int store_fsm_failed(const struct store_fsm *fsm)
{
    return fsm->failed;
}

int store_fsm_set_map_size(struct store_fsm *fsm, size_t size)
{
    if (!fsm->env) {
        return STORE_EPANIC;
    }
    if (fsm->views) {
        return STORE_EBUSY; /* LMDB resizes only with no transaction open */
    }
    fsm_read_release(fsm);
    int rc = fsm_err(mdb_env_set_mapsize(fsm->env, size));
    if (rc == 0) {
        MDB_envinfo info;
        if (mdb_env_info(fsm->env, &info) == 0) {
            fsm->cfg.map_size = info.me_mapsize;
        }
    }
    return rc;
}

int store_fsm_sync(struct store_fsm *fsm)
{
    if (!fsm->env) {
        return STORE_EPANIC;
    }
    if (fsm->cfg.read_only) {
        return 0;
    }
    return fsm_err(mdb_env_sync(fsm->env, 1));
}

/* ---- space gate ---- */

/* Pages on LMDB's free list (reusable), read from the free database. */
static int fsm_free_pages(struct store_fsm *fsm, size_t *pages)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, d;
    *pages = 0;
    int rc = fsm_read_begin(fsm, &txn);
    if (rc) {
        return rc;
    }
    rc = mdb_cursor_open(txn, 0 /* FREE_DBI */, &cur);
    if (rc == 0) {
        while ((rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) == 0) {
            if (d.mv_size >= sizeof(size_t)) {
                size_t n;
                memcpy(&n, d.mv_data, sizeof n); /* an MDB_IDL: count first */
                *pages += n;
            }
        }
        mdb_cursor_close(cur);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    fsm_read_end(fsm, txn);
    return fsm_err(rc);
}

int store_fsm_space_check(struct store_fsm *fsm, size_t bytes)
{
    if (!fsm->env) {
        return STORE_EPANIC;
    }
    MDB_envinfo info;
    MDB_stat st;
    int rc = mdb_env_info(fsm->env, &info);
    rc = rc ? rc : mdb_env_stat(fsm->env, &st);
    if (rc) {
        return fsm_err(rc);
    }
    size_t psize = st.ms_psize;
    size_t used = (info.me_last_pgno + 1) * psize;
    /* The value lands twice (key space and history), copy-on-write touches
     * a few pages per tree level, and the map keeps 1/64 in reserve. */
    size_t need = bytes > SIZE_MAX / 4 ? SIZE_MAX / 2 : 2 * bytes + 16 * psize;
    size_t reserve = info.me_mapsize / 64 > 8 * psize ? info.me_mapsize / 64 : 8 * psize;
    if (used + need + reserve > info.me_mapsize) {
        size_t free_pages;
        rc = fsm_free_pages(fsm, &free_pages);
        if (rc) {
            return rc;
        }
        size_t reusable = free_pages * psize;
        used = reusable < used ? used - reusable : 0;
        if (need > info.me_mapsize || used + need + reserve > info.me_mapsize) {
            return STORE_EMAPFULL;
        }
    }
    /* The data file grows as pages past its end are written; the raft log
     * shares the disk, so keep a fixed margin too. */
    struct statvfs vfs;
    if (statvfs(fsm->path, &vfs) != 0) {
        return fsm_err(errno);
    }
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
#ifdef STRATA_TEST_HOOKS
    if (store_fsm_test_disk_avail != UINT64_MAX) {
        avail = store_fsm_test_disk_avail;
    }
#endif
    if (avail < (uint64_t)need + (4u << 20)) {
        return STORE_ENOSPC;
    }
    return 0;
}

/* ---- walking key ranges in key order ---- */

/* Visitor: 0 to continue, 1 to stop, or a negative error. */
typedef int fsm_visit_fn(void *arg, const struct fsm_rec *rec);

static int fsm_group_cmp(const void *a, const void *b)
{
    const struct fsm_rec *x = &((const struct fsm_group *)a)->rec;
    const struct fsm_rec *y = &((const struct fsm_group *)b)->rec;
    return fsm_bytes_cmp(x->key, x->key_size, y->key, y->key_size);
}

/* True when no key at or after 'rec' (in trunc order) can be selected. */
static bool fsm_walk_past(const struct store_keysel *sel, const struct fsm_rec *rec)
{
    if (sel->kind == STORE_SEL_INTERVAL) {
        return sel->end_size && fsm_trunc_cmp(rec->key, rec->key_size, sel->end, sel->end_size) > 0;
    }
    /* PREFIX: keys past the run starting with the prefix's stored part. */
    uint32_t p = sel->key_size < FSM_KEY_DIRECT ? sel->key_size : FSM_KEY_DIRECT;
    return rec->key_size < p || (p && memcmp(rec->key, sel->key, p) != 0);
}

/* Calls 'fn' for each live key selected by 'sel', in key order. */
static int fsm_walk(struct store_fsm *fsm, MDB_txn *txn, const struct store_keysel *sel,
                    fsm_visit_fn *fn, void *arg)
{
    if (sel->kind == STORE_SEL_KEY) {
        struct fsm_rec rec;
        int rc = fsm_lookup(fsm, txn, sel->key, sel->key_size, &rec);
        if (rc == STORE_ENOTFOUND) {
            return 0;
        }
        if (rc == 0) {
            rc = fn(arg, &rec);
        }
        return rc > 0 ? 0 : rc;
    }
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, fsm->dbi_kv, &cur);
    if (rc) {
        return fsm_err(rc);
    }
    MDB_val k, d;
    if (sel->key_size == 0) {
        rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
    } else {
        k.mv_data = (void *)sel->key;
        k.mv_size = sel->key_size < FSM_KEY_DIRECT ? sel->key_size : FSM_KEY_DIRECT;
        rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    }
    while (rc == 0) {
        struct fsm_rec rec;
        rc = fsm_rec_parse(&k, &d, &rec);
        if (rc) {
            break;
        }
        if (fsm_walk_past(sel, &rec)) {
            break;
        }
        if (k.mv_size != FSM_KEY_STORED) {
            if (store_sel_match(sel, rec.key, rec.key_size) && (rc = fn(arg, &rec)) != 0) {
                break;
            }
            rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
            continue;
        }
        /* A group of long keys sharing their stored prefix: sort it. */
        size_t n = 0;
        const uint8_t *prefix = k.mv_data;
        while (rc == 0 && k.mv_size == FSM_KEY_STORED && memcmp(k.mv_data, prefix, FSM_KEY_DIRECT) == 0) {
            if (n == fsm->group_cap) {
                size_t cap = fsm->group_cap ? 2 * fsm->group_cap : 16;
                struct fsm_group *g = realloc(fsm->group, cap * sizeof *g);
                if (!g) {
                    rc = LIB_ENOMEM;
                    break;
                }
                fsm->group = g;
                fsm->group_cap = cap;
            }
            fsm->group[n].k = k;
            fsm->group[n].d = d;
            rc = fsm_rec_parse(&k, &d, &fsm->group[n].rec);
            n++;
            if (rc == 0) {
                rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
            }
        }
        if (rc && rc != MDB_NOTFOUND) {
            break;
        }
        int more = rc; /* 0: the cursor sits on the entry after the group */
        qsort(fsm->group, n, sizeof *fsm->group, fsm_group_cmp);
        rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            const struct fsm_rec *gr = &fsm->group[i].rec;
            if (store_sel_match(sel, gr->key, gr->key_size)) {
                rc = fn(arg, gr);
            }
        }
        if (rc) {
            break;
        }
        rc = more;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND || rc == 1) {
        return 0;
    }
    return rc > 0 ? fsm_err(rc) : rc;
}

/* ---- replies (format in cmd.h) ---- */

static int fsm_reply_begin(struct buf *r, uint8_t kind)
{
    uint8_t *at;
    buf_reset(r);
    int rc = buf_put_space(r, FSM_REPLY_HDR, &at);
    if (rc == 0) {
        at[0] = STORE_CMD_VERSION;
        at[1] = kind;
    }
    return rc;
}

static void fsm_reply_finish(struct buf *r, int status, uint64_t revision, uint8_t succeeded,
                             uint64_t compacted, uint16_t results)
{
    be32_store(r->data + 2, (uint32_t)status);
    be64_store(r->data + 6, revision);
    r->data[14] = succeeded;
    be64_store(r->data + 15, compacted);
    be16_store(r->data + 23, results);
}

static int fsm_reply_error(struct buf *r, uint8_t kind, int status, uint64_t revision)
{
    int rc = fsm_reply_begin(r, kind);
    if (rc == 0) {
        fsm_reply_finish(r, status, revision, 0, 0, 0);
    }
    return rc;
}

static int fsm_result_begin(struct buf *r, uint8_t kind, size_t *at)
{
    uint8_t *p;
    *at = r->size;
    int rc = buf_put_space(r, FSM_RESULT_HDR, &p);
    if (rc == 0) {
        p[0] = kind;
    }
    return rc;
}

static void fsm_result_finish(struct buf *r, size_t at, uint8_t flags, uint64_t count, uint32_t kvs)
{
    r->data[at + 1] = flags;
    be64_store(r->data + at + 2, count);
    be32_store(r->data + at + 10, kvs);
}

static int fsm_reply_kv(struct buf *r, const struct fsm_rec *rec, bool with_value)
{
    uint32_t vs = with_value ? rec->value_size : 0;
    int rc = buf_reserve(r, 8 + rec->key_size + vs + FSM_REC_HDR);
    if (rc) {
        return rc;
    }
    rc = buf_put_u32(r, rec->key_size);
    rc = rc ? rc : buf_put(r, rec->key, rec->key_size);
    rc = rc ? rc : buf_put_u32(r, vs);
    rc = rc ? rc : buf_put(r, rec->value, vs);
    rc = rc ? rc : buf_put_u64(r, rec->create);
    rc = rc ? rc : buf_put_u64(r, rec->mod);
    return rc ? rc : buf_put_u64(r, rec->version);
}

/* ---- range ---- */

struct fsm_range_ctx {
    struct buf *reply;
    uint32_t limit;
    uint8_t flags;
    uint64_t count;
    uint32_t kvs;
};

static int fsm_range_visit(void *arg, const struct fsm_rec *rec)
{
    struct fsm_range_ctx *ctx = arg;
    ctx->count++;
    if (ctx->flags & STORE_F_COUNT_ONLY) {
        return 0;
    }
    if (ctx->limit && ctx->kvs >= ctx->limit) {
        return 0;
    }
    ctx->kvs++;
    return fsm_reply_kv(ctx->reply, rec, !(ctx->flags & STORE_F_KEYS_ONLY));
}

/* Appends a RANGE op result for 'op' read in 'txn'. */
static int fsm_range_op(struct store_fsm *fsm, MDB_txn *txn, const struct store_op *op,
                        struct buf *reply)
{
    size_t at;
    int rc = fsm_result_begin(reply, STORE_OP_RANGE, &at);
    if (rc) {
        return rc;
    }
    struct fsm_range_ctx ctx = {.reply = reply, .limit = op->limit, .flags = op->flags};
    rc = fsm_walk(fsm, txn, &op->sel, fsm_range_visit, &ctx);
    if (rc == 0) {
        fsm_result_finish(reply, at, ctx.count > ctx.kvs && !(op->flags & STORE_F_COUNT_ONLY) ? STORE_R_MORE : 0,
                          ctx.count, ctx.kvs);
    }
    return rc;
}

/* ---- changes: kv write, history event, hash ---- */

/* Records one change at (a->rev, a->sub): builds the event into fsm->ev
 * (prev from 'prev' when kept), chains the hash, appends the event to
 * "hist" and, for live watchers, to fsm->events. 'prev' must not point into
 * pages this transaction may have changed since it was read. */
static int fsm_record(struct fsm_apply *a, uint8_t type, const uint8_t *key, uint32_t key_size,
                      const uint8_t *value, uint32_t value_size, uint64_t create, uint64_t version,
                      const struct fsm_rec *prev)
{
    struct store_fsm *fsm = a->fsm;
    struct buf *ev = &fsm->ev;
    uint8_t hk[FSM_HIST_KEY];
    buf_reset(ev);
    int rc = buf_reserve(ev, FSM_EV_HDR + 8 + key_size + value_size + 16 +
                                 (prev ? 4 + prev->value_size + 24 : 0));
    rc = rc ? rc : buf_put_u8(ev, type);
    rc = rc ? rc : buf_put_u8(ev, 0);
    rc = rc ? rc : buf_put_u32(ev, key_size);
    rc = rc ? rc : buf_put(ev, key, key_size);
    rc = rc ? rc : buf_put_u32(ev, value_size);
    rc = rc ? rc : buf_put(ev, value, value_size);
    rc = rc ? rc : buf_put_u64(ev, create);
    rc = rc ? rc : buf_put_u64(ev, version);
    if (rc) {
        return rc;
    }
    be64_store(hk, a->rev);
    be32_store(hk + 8, a->sub);
    rc = fsm_sha(a->ws.hash, a->ws.hash, STORE_HASH_SIZE, hk, sizeof hk, ev->data, ev->size);
    if (rc) {
        return rc;
    }
    if (prev && fsm->cfg.history_prev_kv) {
        ev->data[1] = FSM_EV_F_PREV;
        rc = buf_put_u32(ev, prev->value_size);
        rc = rc ? rc : buf_put(ev, prev->value, prev->value_size);
        rc = rc ? rc : buf_put_u64(ev, prev->create);
        rc = rc ? rc : buf_put_u64(ev, prev->mod);
        rc = rc ? rc : buf_put_u64(ev, prev->version);
        if (rc) {
            return rc;
        }
    }
    MDB_val k = {.mv_size = sizeof hk, .mv_data = hk}, d = {.mv_size = ev->size, .mv_data = ev->data};
    rc = fsm_err(mdb_put(a->txn, fsm->dbi_hist, &k, &d, MDB_APPEND));
    if (rc == 0 && fsm->cfg.on_event) {
        rc = buf_reserve(&fsm->events, 16 + ev->size);
        rc = rc ? rc : buf_put(&fsm->events, hk, sizeof hk);
        rc = rc ? rc : buf_put_u32(&fsm->events, (uint32_t)ev->size);
        rc = rc ? rc : buf_put(&fsm->events, ev->data, ev->size);
    }
    a->sub++;
    return rc;
}

static int fsm_put_op(struct fsm_apply *a, const struct store_op *op, struct buf *reply)
{
    struct store_fsm *fsm = a->fsm;
    const uint8_t *key = op->sel.key;
    uint32_t ks = op->sel.key_size;
    struct fsm_rec old;
    size_t at;
    int rc = fsm_result_begin(reply, STORE_OP_PUT, &at);
    if (rc) {
        return rc;
    }
    int found = fsm_lookup(fsm, a->txn, key, ks, &old);
    if (found != 0 && found != STORE_ENOTFOUND) {
        return found;
    }
    bool exists = found == 0;
    uint64_t create = exists ? old.create : a->rev;
    uint64_t version = exists ? old.version + 1 : 1;
    uint32_t kvs = 0;
    if (exists && (op->flags & STORE_F_PREV_KV)) {
        rc = fsm_reply_kv(reply, &old, true);
        kvs = 1;
    }
    /* The event (with prev) is copied out before the key's page changes. */
    rc = rc ? rc : fsm_record(a, STORE_EVENT_PUT, key, ks, op->value, op->value_size, create,
                              version, exists ? &old : NULL);
    if (rc) {
        return rc;
    }
    fsm_result_finish(reply, at, 0, 0, kvs);

    struct fsm_skey sk;
    rc = fsm_skey_make(&sk, key, ks);
    if (rc) {
        return rc;
    }
    bool lng = sk.v.mv_size == FSM_KEY_STORED;
    MDB_val d = {.mv_size = FSM_REC_HDR + (lng ? 4 + ks : 0) + op->value_size};
    rc = fsm_err(mdb_put(a->txn, fsm->dbi_kv, &sk.v, &d, MDB_RESERVE));
    if (rc) {
        return rc;
    }
    uint8_t *p = d.mv_data;
    be64_store(p, create);
    be64_store(p + 8, a->rev);
    be64_store(p + 16, version);
    p += FSM_REC_HDR;
    if (lng) {
        be32_store(p, ks);
        memcpy(p + 4, key, ks);
        p += 4 + ks;
    }
    if (op->value_size) {
        memcpy(p, op->value, op->value_size);
    }
    return 0;
}

static int fsm_collect_visit(void *arg, const struct fsm_rec *rec)
{
    struct buf *keys = arg;
    int rc = buf_put_u32(keys, rec->key_size);
    return rc ? rc : buf_put(keys, rec->key, rec->key_size);
}

static int fsm_delete_op(struct fsm_apply *a, const struct store_op *op, struct buf *reply)
{
    struct store_fsm *fsm = a->fsm;
    size_t at;
    int rc = fsm_result_begin(reply, STORE_OP_DELETE, &at);
    if (rc) {
        return rc;
    }
    /* Collect the keys first (in key order), then delete them one by one:
     * no cursor survives a change to the tree it walks. */
    buf_reset(&fsm->keys);
    rc = fsm_walk(fsm, a->txn, &op->sel, fsm_collect_visit, &fsm->keys);
    if (rc) {
        return rc;
    }
    uint64_t count = 0;
    uint32_t kvs = 0;
    size_t off = 0;
    while (off < fsm->keys.size) {
        /* Our own buffer, written just above: sizes are known good. */
        uint32_t ks = be32_load(fsm->keys.data + off);
        const uint8_t *key = fsm->keys.data + off + 4;
        off += 4 + ks;
        struct fsm_rec old;
        rc = fsm_lookup(fsm, a->txn, key, ks, &old);
        if (rc) {
            return rc; /* it was just seen: ENOTFOUND here is corruption too */
        }
        if (op->flags & STORE_F_PREV_KV) {
            rc = fsm_reply_kv(reply, &old, true);
            kvs++;
        }
        rc = rc ? rc : fsm_record(a, STORE_EVENT_DELETE, key, ks, NULL, 0, 0, 0, &old);
        struct fsm_skey sk;
        rc = rc ? rc : fsm_skey_make(&sk, key, ks);
        rc = rc ? rc : fsm_err(mdb_del(a->txn, fsm->dbi_kv, &sk.v, NULL));
        if (rc) {
            return rc;
        }
        count++;
    }
    fsm_result_finish(reply, at, 0, count, kvs);
    return 0;
}

static int fsm_exec_ops(struct fsm_apply *a, const struct store_op *ops, uint32_t n,
                        struct buf *reply)
{
    for (uint32_t i = 0; i < n; i++) {
        int rc;
        switch ((enum store_op_kind)ops[i].kind) {
        case STORE_OP_PUT:
            rc = fsm_put_op(a, &ops[i], reply);
            break;
        case STORE_OP_DELETE:
            rc = fsm_delete_op(a, &ops[i], reply);
            break;
        case STORE_OP_RANGE:
            rc = fsm_range_op(a->fsm, a->txn, &ops[i], reply);
            break;
        default:
            rc = STORE_EFORMAT; /* the decoder admits no other kind */
            break;
        }
        if (rc) {
            return rc;
        }
    }
    return 0;
}

struct fsm_count {
    uint64_t n;
    uint64_t enough; /* stop once past this: the comparison is decided */
};

static int fsm_count_visit(void *arg, const struct fsm_rec *rec)
{
    struct fsm_count *ct = arg;
    (void)rec;
    return ++ct->n > ct->enough ? 1 : 0;
}

/* Evaluates one compare against the current state. */
static int fsm_compare(struct fsm_apply *a, const struct store_compare *c, bool *holds)
{
    struct fsm_rec rec;
    int rc;
    int cmp;
    if (c->target == STORE_CMP_COUNT) {
        struct store_keysel sel = store_sel_prefix(c->key, c->key_size);
        struct fsm_count ct = {.n = 0, .enough = c->number};
        rc = fsm_walk(a->fsm, a->txn, &sel, fsm_count_visit, &ct);
        if (rc < 0) {
            return rc;
        }
        cmp = ct.n < c->number ? -1 : ct.n > c->number ? 1 : 0;
        goto decide;
    }
    rc = fsm_lookup(a->fsm, a->txn, c->key, c->key_size, &rec);
    if (rc && rc != STORE_ENOTFOUND) {
        return rc;
    }
    bool exists = rc == 0;
    if (c->target == STORE_CMP_VALUE) {
        if (!exists) {
            *holds = false;
            return 0;
        }
        cmp = fsm_bytes_cmp(rec.value, rec.value_size, c->value, c->value_size);
    } else {
        uint64_t v = !exists                          ? 0
                     : c->target == STORE_CMP_VERSION ? rec.version
                     : c->target == STORE_CMP_CREATE  ? rec.create
                                                      : rec.mod;
        cmp = v < c->number ? -1 : v > c->number ? 1 : 0;
    }
decide:
    switch ((enum store_cmp_op)c->op) {
    case STORE_CMP_EQ:
        *holds = cmp == 0;
        break;
    case STORE_CMP_NE:
        *holds = cmp != 0;
        break;
    case STORE_CMP_LT:
        *holds = cmp < 0;
        break;
    case STORE_CMP_GT:
        *holds = cmp > 0;
        break;
    default:
        *holds = false;
        break;
    }
    return 0;
}

/* Drops history up to and including 'upto' (> compacted, <= revision). */
static int fsm_compact(struct fsm_apply *a, uint64_t upto)
{
    MDB_cursor *cur;
    MDB_val k, d;
    int rc = mdb_cursor_open(a->txn, a->fsm->dbi_hist, &cur);
    if (rc) {
        return fsm_err(rc);
    }
    while ((rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST)) == 0) {
        if (k.mv_size != FSM_HIST_KEY) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (be64_load(k.mv_data) > upto) {
            break;
        }
        rc = mdb_cursor_del(cur, 0);
        if (rc) {
            break;
        }
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) {
        return fsm_err(rc);
    }
    a->ws.compacted = upto;
    return 0;
}

/* Per-entry checks against this store's caps, before anything changes: a
 * txn either passes them all or is rejected whole. */
static int fsm_check_op(const struct store_fsm *fsm, const struct store_op *op)
{
    if (op->sel.key_size > fsm->cfg.key_max || op->sel.end_size > fsm->cfg.key_max ||
        op->value_size > fsm->cfg.value_max) {
        return STORE_ETOOLARGE;
    }
    return 0;
}

static int fsm_check_cmd(const struct store_fsm *fsm, const struct store_cmd *cmd)
{
    int rc = 0;
    if (cmd->kind != STORE_CMD_TXN) {
        return cmd->kind == STORE_CMD_COMPACT ? 0 : fsm_check_op(fsm, &cmd->op);
    }
    for (uint32_t i = 0; rc == 0 && i < cmd->compares_len; i++) {
        if (cmd->compares[i].key_size > fsm->cfg.key_max ||
            cmd->compares[i].value_size > fsm->cfg.value_max) {
            rc = STORE_ETOOLARGE;
        }
    }
    for (uint32_t i = 0; rc == 0 && i < cmd->success_len; i++) {
        rc = fsm_check_op(fsm, &cmd->success[i]);
    }
    for (uint32_t i = 0; rc == 0 && i < cmd->failure_len; i++) {
        rc = fsm_check_op(fsm, &cmd->failure[i]);
    }
    return rc;
}

/* Applies one decoded entry. Per-entry rejections go into 'res' and return
 * 0; a negative return is a batch failure (storage, memory). */
static int fsm_apply_entry(struct fsm_apply *a, const struct store_entry *e, struct store_result *res)
{
    struct store_fsm *fsm = a->fsm;
    struct buf *reply = &res->reply;
    struct store_cmd cmd;
    reply->limit = 0;
    int rc = store_cmd_decode(&cmd, e->data, e->size);
    if (rc == LIB_ENOMEM) {
        return rc;
    }
    if (rc == 0) {
        rc = fsm_check_cmd(fsm, &cmd);
    }
    if (rc) {
        res->status = rc;
        res->revision = a->ws.revision;
        int kind = cmd.kind;
        store_cmd_destroy(&cmd);
        return fsm_reply_error(reply, rc == STORE_EFORMAT ? 0 : (uint8_t)kind, rc, a->ws.revision);
    }
    a->rev = a->ws.revision + 1;
    a->sub = 0;
    int status = 0;
    uint8_t succeeded = 0;
    uint16_t results = 0;
    rc = fsm_reply_begin(reply, cmd.kind);
    if (rc) {
        goto out;
    }
    switch ((enum store_cmd_kind)cmd.kind) {
    case STORE_CMD_PUT:
    case STORE_CMD_DELETE:
    case STORE_CMD_RANGE:
        rc = fsm_exec_ops(a, &cmd.op, 1, reply);
        results = 1;
        break;
    case STORE_CMD_TXN: {
        bool holds = true;
        for (uint32_t i = 0; rc == 0 && holds && i < cmd.compares_len; i++) {
            rc = fsm_compare(a, &cmd.compares[i], &holds);
        }
        if (rc) {
            break;
        }
        succeeded = holds;
        const struct store_op *ops = holds ? cmd.success : cmd.failure;
        uint32_t n = holds ? cmd.success_len : cmd.failure_len;
        rc = fsm_exec_ops(a, ops, n, reply);
        results = (uint16_t)n;
        break;
    }
    case STORE_CMD_COMPACT:
        if (cmd.compact_revision > a->ws.revision) {
            status = STORE_EFUTUREREV;
        } else if (cmd.compact_revision <= a->ws.compacted) {
            status = STORE_ECOMPACTED;
        } else {
            rc = fsm_compact(a, cmd.compact_revision);
        }
        break;
    default:
        rc = STORE_EFORMAT;
        break;
    }
    if (rc) {
        goto out;
    }
    if (a->sub) {
        a->ws.revision = a->rev;
        if (a->ws.revision % fsm->cfg.checkpoint_interval == 0) {
            a->ckpt_set = true;
            a->ckpt_rev = a->ws.revision;
            memcpy(a->ckpt_hash, a->ws.hash, STORE_HASH_SIZE);
        }
        uint64_t keep = fsm->cfg.retention;
        if (a->ws.revision - a->ws.compacted > keep + fsm->cfg.retention_slack) {
            rc = fsm_compact(a, a->ws.revision - keep);
            if (rc) {
                goto out;
            }
        }
    }
    if (status) {
        results = 0;
        buf_reset(reply);
        rc = fsm_reply_begin(reply, cmd.kind);
        if (rc) {
            goto out;
        }
    }
    fsm_reply_finish(reply, status, a->ws.revision, succeeded, a->ws.compacted, results);
    res->status = status;
    res->revision = a->ws.revision;
out:
    store_cmd_destroy(&cmd);
    return rc;
}

/* Parses a history event record ('c' holds exactly it). STORE_ECORRUPT
 * when malformed. */
static int fsm_event_parse(struct cursor *c, uint64_t rev, uint32_t sub, struct store_event *ev)
{
    uint8_t flags;
    memset(ev, 0, sizeof *ev);
    ev->revision = rev;
    ev->sub = sub;
    ev->kv.mod_revision = rev;
    if (buf_get_u8(c, &ev->type) || buf_get_u8(c, &flags) ||
        (ev->type != STORE_EVENT_PUT && ev->type != STORE_EVENT_DELETE) || (flags & ~FSM_EV_F_PREV) ||
        buf_get_u32(c, &ev->kv.key_size) || ev->kv.key_size == 0 || ev->kv.key_size > STORE_KEY_MAX ||
        buf_get_view(c, ev->kv.key_size, &ev->kv.key) || buf_get_u32(c, &ev->kv.value_size) ||
        ev->kv.value_size > STORE_VALUE_MAX ||
        buf_get_view(c, ev->kv.value_size, &ev->kv.value) ||
        buf_get_u64(c, &ev->kv.create_revision) || buf_get_u64(c, &ev->kv.version)) {
        return STORE_ECORRUPT;
    }
    if (flags & FSM_EV_F_PREV) {
        ev->has_prev = true;
        ev->prev.key = ev->kv.key;
        ev->prev.key_size = ev->kv.key_size;
        if (buf_get_u32(c, &ev->prev.value_size) || ev->prev.value_size > STORE_VALUE_MAX ||
            buf_get_view(c, ev->prev.value_size, &ev->prev.value) ||
            buf_get_u64(c, &ev->prev.create_revision) || buf_get_u64(c, &ev->prev.mod_revision) ||
            buf_get_u64(c, &ev->prev.version)) {
            return STORE_ECORRUPT;
        }
    }
    return cursor_remaining(c) == 0 ? 0 : STORE_ECORRUPT;
}

/* Delivers the live events recorded by the batch just committed. */
static void fsm_deliver(struct store_fsm *fsm)
{
    struct cursor c;
    cursor_init(&c, fsm->events.data, fsm->events.size);
    while (cursor_remaining(&c)) {
        uint64_t rev;
        uint32_t sub, size;
        struct cursor rec;
        struct store_event ev;
        if (buf_get_u64(&c, &rev) || buf_get_u32(&c, &sub) || buf_get_u32(&c, &size) ||
            buf_get_sub(&c, size, &rec)) {
            break; /* our own buffer: cannot happen */
        }
        if (fsm_event_parse(&rec, rev, sub, &ev) == 0) {
            fsm->cfg.on_event(fsm->cfg.event_arg, &ev);
        }
    }
    buf_reset(&fsm->events);
}

int store_fsm_apply_batch(struct store_fsm *fsm, const struct store_entry *entries, size_t n,
                          struct store_result *results)
{
    if (fsm->cfg.read_only) {
        return STORE_ERDONLY;
    }
    if (fsm->failed || !fsm->env) {
        return STORE_EPANIC;
    }
    struct fsm_apply a = {.fsm = fsm, .ws = fsm->st};
    buf_reset(&fsm->events);
    int rc = fsm_txn_begin(fsm, 0, &a.txn);
    if (rc) {
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        struct store_result *res = &results[i];
        /* A replay: an entry committed before this batch, or an entry this
         * batch already holds (later parts of one entry share its index). */
        if (entries[i].index <= fsm->st.applied ||
            (entries[i].index <= a.ws.applied && entries[i].part == 0)) {
            res->status = STORE_EAPPLIED;
            res->revision = a.ws.revision;
            buf_reset(&res->reply);
            continue;
        }
        rc = fsm_apply_entry(&a, &entries[i], res);
        if (rc) {
            goto abort;
        }
        a.ws.applied = entries[i].index;
    }
    if (a.ws.applied == fsm->st.applied) {
        mdb_txn_abort(a.txn); /* every entry was a replay: nothing to write */
        return 0;
    }
    rc = fsm_meta_write(fsm, a.txn, &a.ws);
    if (rc) {
        goto abort;
    }
    rc = fsm_err(mdb_txn_commit(a.txn)); /* frees the txn on failure too */
    if (rc) {
        goto fail;
    }
    fsm->st = a.ws;
    if (a.ckpt_set) {
        fsm->ckpt_set = true;
        fsm->ckpt_rev = a.ckpt_rev;
        memcpy(fsm->ckpt_hash, a.ckpt_hash, STORE_HASH_SIZE);
    }
    if (fsm->cfg.on_event) {
        fsm_deliver(fsm);
    }
    return 0;

abort:
    mdb_txn_abort(a.txn);
fail:
    buf_reset(&fsm->events);
    if (rc != LIB_ENOMEM) {
        fsm->failed = rc;
    }
    return rc;
}

/* ---- reads ---- */

/* The committed state as a read transaction sees it. */
static int fsm_read_state(struct store_fsm *fsm, MDB_txn *txn, struct fsm_state *st)
{
    if (!fsm->cfg.read_only) {
        *st = fsm->st; /* the writer's memory equals its last commit */
        return 0;
    }
    return fsm_meta_read(fsm, txn, st);
}

int store_fsm_status(struct store_fsm *fsm, struct store_fsm_status *st)
{
    MDB_txn *txn;
    struct fsm_state s;
    memset(st, 0, sizeof *st);
    int rc = fsm_read_begin(fsm, &txn);
    if (rc) {
        return rc;
    }
    rc = fsm_read_state(fsm, txn, &s);
    fsm_read_end(fsm, txn);
    if (rc) {
        return rc;
    }
    st->applied_index = s.applied;
    st->revision = s.revision;
    st->compacted_revision = s.compacted;
    memcpy(st->hash, s.hash, STORE_HASH_SIZE);
    MDB_envinfo info;
    MDB_stat ms;
    if (mdb_env_info(fsm->env, &info) == 0 && mdb_env_stat(fsm->env, &ms) == 0) {
        st->map_size = info.me_mapsize;
        st->map_used = (info.me_last_pgno + 1) * (size_t)ms.ms_psize;
    }
    return 0;
}

int store_fsm_checkpoint(struct store_fsm *fsm, uint64_t *revision, uint8_t out[STORE_HASH_SIZE])
{
    if (!fsm->ckpt_set) {
        return STORE_ENOTFOUND;
    }
    *revision = fsm->ckpt_rev;
    memcpy(out, fsm->ckpt_hash, STORE_HASH_SIZE);
    return 0;
}

int store_fsm_hash(struct store_fsm *fsm, uint64_t *revision, uint8_t out[STORE_HASH_SIZE])
{
    struct store_fsm_status st;
    int rc = store_fsm_status(fsm, &st);
    if (rc == 0) {
        *revision = st.revision;
        memcpy(out, st.hash, STORE_HASH_SIZE);
    }
    return rc;
}

int store_fsm_range(struct store_fsm *fsm, const struct store_op *op, struct buf *reply)
{
    if (op->kind != STORE_OP_RANGE) {
        return STORE_EFORMAT;
    }
    struct buf tmp;
    buf_init(&tmp, 0);
    int rc = store_cmd_encode_range(&tmp, &op->sel, op->limit, op->flags);
    buf_destroy(&tmp); /* encoding validates the op exactly as apply would */
    if (rc) {
        return rc;
    }
    MDB_txn *txn;
    struct fsm_state st;
    size_t mark = reply->size;
    rc = fsm_read_begin(fsm, &txn);
    if (rc) {
        return rc;
    }
    rc = fsm_read_state(fsm, txn, &st);
    /* Build after 'mark' so a caller's earlier bytes stay. */
    struct buf sub;
    buf_init(&sub, 0);
    rc = rc ? rc : fsm_reply_begin(&sub, STORE_CMD_RANGE);
    rc = rc ? rc : fsm_range_op(fsm, txn, op, &sub);
    fsm_read_end(fsm, txn);
    if (rc == 0) {
        fsm_reply_finish(&sub, 0, st.revision, 0, st.compacted, 1);
        rc = buf_put(reply, sub.data, sub.size);
    }
    buf_destroy(&sub);
    if (rc) {
        reply->size = mark;
    }
    return rc;
}

struct fsm_scan_ctx {
    store_kv_fn *cb;
    void *arg;
    uint32_t limit;
    uint32_t seen;
};

static int fsm_scan_visit(void *arg, const struct fsm_rec *rec)
{
    struct fsm_scan_ctx *ctx = arg;
    struct store_kv kv = fsm_rec_kv(rec);
    if (ctx->cb(ctx->arg, &kv) != 0) {
        return 1;
    }
    return ++ctx->seen == ctx->limit ? 1 : 0;
}

int store_fsm_scan(struct store_fsm *fsm, const struct store_keysel *sel, uint32_t limit,
                   store_kv_fn *cb, void *arg, uint64_t *revision)
{
    struct store_op op = {.kind = STORE_OP_RANGE, .sel = *sel};
    struct buf tmp;
    buf_init(&tmp, 0);
    int rc = store_cmd_encode_range(&tmp, &op.sel, 0, 0); /* validates 'sel' */
    buf_destroy(&tmp);
    if (rc) {
        return rc;
    }
    MDB_txn *txn;
    struct fsm_state st;
    rc = fsm_read_begin(fsm, &txn);
    if (rc) {
        return rc;
    }
    rc = fsm_read_state(fsm, txn, &st);
    struct fsm_scan_ctx ctx = {.cb = cb, .arg = arg, .limit = limit};
    rc = rc ? rc : fsm_walk(fsm, txn, sel, fsm_scan_visit, &ctx);
    fsm_read_end(fsm, txn);
    if (rc == 0 && revision) {
        *revision = st.revision;
    }
    return rc;
}

int store_fsm_get(struct store_fsm *fsm, const void *key, uint32_t key_size, struct store_kv *kv,
                  struct buf *value)
{
    if (key_size == 0 || key_size > STORE_KEY_MAX) {
        return STORE_EFORMAT;
    }
    MDB_txn *txn;
    struct fsm_rec rec;
    int rc = fsm_read_begin(fsm, &txn);
    if (rc) {
        return rc;
    }
    rc = fsm_lookup(fsm, txn, key, key_size, &rec);
    if (rc == 0) {
        *kv = fsm_rec_kv(&rec);
        kv->key = NULL;
        kv->value = NULL;
        if (value) {
            buf_reset(value);
            rc = buf_put(value, rec.value, rec.value_size);
        }
    }
    fsm_read_end(fsm, txn);
    return rc;
}

int store_fsm_history(struct store_fsm *fsm, uint64_t from_rev, const struct store_keysel *sel,
                      uint32_t limit, store_history_fn *cb, void *arg, uint64_t *next_rev)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    struct fsm_state st;
    if (from_rev == 0) {
        from_rev = 1;
    }
    int rc = fsm_read_begin(fsm, &txn);
    if (rc) {
        return rc;
    }
    rc = fsm_read_state(fsm, txn, &st);
    if (rc) {
        goto out;
    }
    if (from_rev <= st.compacted) {
        rc = STORE_ECOMPACTED;
        goto out;
    }
    uint64_t next = from_rev > st.revision ? from_rev : st.revision + 1;
    if (from_rev > st.revision) {
        goto out; /* the future: live events will bring it */
    }
    rc = fsm_err(mdb_cursor_open(txn, fsm->dbi_hist, &cur));
    if (rc) {
        goto out;
    }
    uint8_t hk[FSM_HIST_KEY];
    be64_store(hk, from_rev);
    be32_store(hk + 8, 0);
    MDB_val k = {.mv_size = sizeof hk, .mv_data = hk}, d;
    uint32_t delivered = 0;
    int mrc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    while (mrc == 0) {
        if (k.mv_size != FSM_HIST_KEY) {
            rc = STORE_ECORRUPT;
            break;
        }
        uint64_t rev = be64_load(k.mv_data);
        if (limit && delivered >= limit && rev != be64_load(hk)) {
            next = rev; /* stop between revisions only */
            break;
        }
        be64_store(hk, rev);
        struct cursor c;
        struct store_event ev;
        cursor_init(&c, d.mv_data, d.mv_size);
        rc = fsm_event_parse(&c, rev, be32_load((const uint8_t *)k.mv_data + 8), &ev);
        if (rc) {
            break;
        }
        if (!sel || store_sel_match(sel, ev.kv.key, ev.kv.key_size)) {
            if (cb(arg, &ev) != 0) {
                next = rev;
                break;
            }
            delivered++;
        }
        mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND) {
        rc = fsm_err(mrc);
    }
    if (rc == 0 && next_rev) {
        *next_rev = next;
    }
out:
    if (cur) {
        mdb_cursor_close(cur);
    }
    fsm_read_end(fsm, txn);
    if (rc == 0 && next_rev && from_rev > st.revision) {
        *next_rev = from_rev;
    }
    return rc;
}

/* ---- snapshots ----
 * Format, version 1 (big-endian):
 *   "STRATAFS" u8 version u64 applied u64 revision u64 compacted u8[32] hash
 *   u64 n { u32 size stored_key u32 size kv_record }*n      (LMDB order)
 *   u64 n { u64 revision u32 sub u32 size event_record }*n (LMDB order)
 *   u8[32] SHA-256 of all the bytes before it */

static int fsm_snap_db(MDB_txn *txn, MDB_dbi dbi, bool hist, struct buf *out)
{
    MDB_stat ms;
    MDB_cursor *cur;
    MDB_val k, d;
    int rc = mdb_stat(txn, dbi, &ms);
    rc = rc ? rc : mdb_cursor_open(txn, dbi, &cur);
    if (rc) {
        return fsm_err(rc);
    }
    uint64_t n = 0;
    uint8_t *count_at;
    size_t count_off = out->size;
    rc = buf_put_space(out, 8, &count_at);
    int mrc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
    while (rc == 0 && mrc == 0) {
        if (hist && k.mv_size != FSM_HIST_KEY) {
            rc = STORE_ECORRUPT;
            break;
        }
        rc = buf_reserve(out, 8 + k.mv_size + d.mv_size);
        if (rc == 0 && !hist) {
            rc = buf_put_u32(out, (uint32_t)k.mv_size); /* history keys are fixed-size */
        }
        rc = rc ? rc : buf_put(out, k.mv_data, k.mv_size);
        rc = rc ? rc : buf_put_u32(out, (uint32_t)d.mv_size);
        rc = rc ? rc : buf_put(out, d.mv_data, d.mv_size);
        n++;
        mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc == 0 && mrc != MDB_NOTFOUND) {
        rc = fsm_err(mrc);
    }
    if (rc == 0 && n != ms.ms_entries) {
        rc = STORE_ECORRUPT;
    }
    if (rc == 0) {
        be64_store(out->data + count_off, n);
    }
    return rc;
}

/* Appends the snapshot of the state 'txn' sees to 'out'. Reads only 'txn'
 * and the handle's database ids, so it may run on any thread. */
static int fsm_snap_write(struct store_fsm *fsm, MDB_txn *txn, struct buf *out)
{
    struct fsm_state st;
    size_t mark = out->size;
    int rc = fsm_meta_read(fsm, txn, &st);
    rc = rc ? rc : buf_put(out, FSM_SNAP_MAGIC, 8);
    rc = rc ? rc : buf_put_u8(out, FSM_SNAP_VERSION);
    rc = rc ? rc : buf_put_u64(out, st.applied);
    rc = rc ? rc : buf_put_u64(out, st.revision);
    rc = rc ? rc : buf_put_u64(out, st.compacted);
    rc = rc ? rc : buf_put(out, st.hash, STORE_HASH_SIZE);
    rc = rc ? rc : fsm_snap_db(txn, fsm->dbi_kv, false, out);
    rc = rc ? rc : fsm_snap_db(txn, fsm->dbi_hist, true, out);
    uint8_t sum[STORE_HASH_SIZE];
    rc = rc ? rc : fsm_sha(sum, out->data + mark, out->size - mark, NULL, 0, NULL, 0);
    rc = rc ? rc : buf_put(out, sum, sizeof sum);
    if (rc) {
        out->size = mark;
    }
    return rc;
}

int store_fsm_snapshot(struct store_fsm *fsm, struct buf *out)
{
    MDB_txn *txn;
    int rc = fsm_read_begin(fsm, &txn);
    if (rc) {
        return rc;
    }
    rc = fsm_snap_write(fsm, txn, out);
    fsm_read_end(fsm, txn);
    return rc;
}

struct store_fsm_view {
    struct store_fsm *fsm;
    MDB_txn *txn;
    uint64_t applied;
};

int store_fsm_view_begin(struct store_fsm *fsm, struct store_fsm_view **out)
{
    if (fsm->failed || !fsm->env) {
        return STORE_EPANIC;
    }
    struct store_fsm_view *v = calloc(1, sizeof *v);
    if (!v) {
        return LIB_ENOMEM;
    }
    /* A fresh transaction, not the cached reader: the environment is opened
     * MDB_NOTLS, so this one may be used from another thread. */
    int rc = fsm_txn_begin(fsm, MDB_RDONLY, &v->txn);
    if (rc) {
        free(v);
        return rc;
    }
    struct fsm_state st;
    rc = fsm_meta_read(fsm, v->txn, &st);
    if (rc) {
        mdb_txn_abort(v->txn);
        free(v);
        return rc;
    }
    v->fsm = fsm;
    v->applied = st.applied;
    fsm->views++;
    *out = v;
    return 0;
}

uint64_t store_fsm_view_applied(const struct store_fsm_view *v)
{
    return v->applied;
}

int store_fsm_view_sync(struct store_fsm_view *view)
{
    return store_fsm_sync(view->fsm);
}

int store_fsm_view_snapshot(struct store_fsm_view *v, struct buf *out)
{
    return fsm_snap_write(v->fsm, v->txn, out);
}

void store_fsm_view_end(struct store_fsm_view *v)
{
    if (!v) {
        return;
    }
    mdb_txn_abort(v->txn);
    v->fsm->views--;
    free(v);
}

/* Reads and, when 'txn' is not NULL, stores the key space of a snapshot. */
static int fsm_restore_kv(struct store_fsm *fsm, MDB_txn *txn, struct cursor *c,
                          const struct fsm_state *st)
{
    uint64_t n;
    if (buf_get_u64(c, &n) || n > cursor_remaining(c) / (8 + 1 + FSM_REC_HDR)) {
        return STORE_EFORMAT;
    }
    MDB_val prev = {0};
    for (uint64_t i = 0; i < n; i++) {
        uint32_t ks, ds;
        const uint8_t *kp, *dp;
        if (buf_get_u32(c, &ks) || ks == 0 || ks > FSM_KEY_STORED || buf_get_view(c, ks, &kp) ||
            buf_get_u32(c, &ds) || buf_get_view(c, ds, &dp)) {
            return STORE_EFORMAT;
        }
        MDB_val k = {.mv_size = ks, .mv_data = (void *)kp}, d = {.mv_size = ds, .mv_data = (void *)dp};
        struct fsm_rec rec;
        if (fsm_rec_parse(&k, &d, &rec) || rec.create == 0 || rec.create > rec.mod ||
            rec.mod > st->revision || rec.version == 0 ||
            (i && fsm_bytes_cmp(prev.mv_data, (uint32_t)prev.mv_size, kp, ks) >= 0)) {
            return STORE_EFORMAT;
        }
        if (rec.key_size > fsm->cfg.key_max || rec.value_size > fsm->cfg.value_max) {
            return STORE_ETOOLARGE;
        }
        if (ks == FSM_KEY_STORED) {
            struct fsm_skey sk;
            int rc = fsm_skey_make(&sk, rec.key, rec.key_size);
            if (rc) {
                return rc;
            }
            if (memcmp(sk.b, kp, FSM_KEY_STORED) != 0) {
                return STORE_EFORMAT;
            }
        }
        int rc = txn ? fsm_err(mdb_put(txn, fsm->dbi_kv, &k, &d, MDB_APPEND)) : 0;
        if (rc) {
            return rc;
        }
        prev = k;
    }
    return 0;
}

static int fsm_restore_hist(struct store_fsm *fsm, MDB_txn *txn, struct cursor *c,
                            const struct fsm_state *st)
{
    uint64_t n;
    if (buf_get_u64(c, &n) || n > cursor_remaining(c) / (FSM_HIST_KEY + 4 + 26)) {
        return STORE_EFORMAT;
    }
    const uint8_t *prev = NULL;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *kp, *dp;
        uint32_t ds;
        if (buf_get_view(c, FSM_HIST_KEY, &kp) || buf_get_u32(c, &ds) || buf_get_view(c, ds, &dp)) {
            return STORE_EFORMAT;
        }
        uint64_t rev = be64_load(kp);
        struct cursor ec;
        struct store_event ev;
        cursor_init(&ec, dp, ds);
        if (rev <= st->compacted || rev > st->revision ||
            (prev && memcmp(prev, kp, FSM_HIST_KEY) >= 0) ||
            fsm_event_parse(&ec, rev, be32_load(kp + 8), &ev)) {
            return STORE_EFORMAT;
        }
        MDB_val k = {.mv_size = FSM_HIST_KEY, .mv_data = (void *)kp};
        MDB_val d = {.mv_size = ds, .mv_data = (void *)dp};
        int rc = txn ? fsm_err(mdb_put(txn, fsm->dbi_hist, &k, &d, MDB_APPEND)) : 0;
        if (rc) {
            return rc;
        }
        prev = kp;
    }
    return 0;
}

/* Validates the snapshot of 'size' bytes at 'data' completely and, when
 * 'txn' is not NULL, writes its key space and history there. '*st' gets its
 * meta. STORE_EFORMAT, STORE_EVERSION, STORE_ETOOLARGE or storage errors. */
static int fsm_snap_load(struct store_fsm *fsm, MDB_txn *txn, const void *data, size_t size,
                         struct fsm_state *st)
{
    const size_t head = 8 + 1 + 24 + STORE_HASH_SIZE;
    uint8_t sum[STORE_HASH_SIZE];
    if (!data || size < head + 16 + STORE_HASH_SIZE) {
        return STORE_EFORMAT;
    }
    size_t body = size - STORE_HASH_SIZE;
    int rc = fsm_sha(sum, data, body, NULL, 0, NULL, 0);
    if (rc) {
        return rc;
    }
    if (memcmp(sum, (const uint8_t *)data + body, STORE_HASH_SIZE) != 0) {
        return STORE_EFORMAT;
    }
    struct cursor c;
    uint8_t magic[8], version;
    cursor_init(&c, data, body);
    if (buf_get_bytes(&c, magic, 8) || memcmp(magic, FSM_SNAP_MAGIC, 8) != 0 ||
        buf_get_u8(&c, &version)) {
        return STORE_EFORMAT;
    }
    if (version != FSM_SNAP_VERSION) {
        return STORE_EVERSION;
    }
    if (buf_get_u64(&c, &st->applied) || buf_get_u64(&c, &st->revision) ||
        buf_get_u64(&c, &st->compacted) || buf_get_bytes(&c, st->hash, STORE_HASH_SIZE) ||
        st->compacted > st->revision) {
        return STORE_EFORMAT;
    }
    rc = fsm_restore_kv(fsm, txn, &c, st);
    rc = rc ? rc : fsm_restore_hist(fsm, txn, &c, st);
    if (rc == 0 && cursor_remaining(&c) != 0) {
        rc = STORE_EFORMAT;
    }
    return rc;
}

int store_fsm_snapshot_applied(const void *data, size_t size, uint64_t *applied)
{
    struct cursor c;
    uint8_t magic[8], version;
    cursor_init(&c, data, data ? size : 0);
    if (buf_get_bytes(&c, magic, 8) || memcmp(magic, FSM_SNAP_MAGIC, 8) != 0 ||
        buf_get_u8(&c, &version)) {
        return STORE_EFORMAT;
    }
    if (version != FSM_SNAP_VERSION) {
        return STORE_EVERSION;
    }
    return buf_get_u64(&c, applied) ? STORE_EFORMAT : 0;
}

int store_fsm_restore(struct store_fsm *fsm, const void *data, size_t size)
{
    if (fsm->cfg.read_only) {
        return STORE_ERDONLY;
    }
    if (fsm->failed || !fsm->env) {
        return STORE_EPANIC;
    }
    struct fsm_state st;
    MDB_txn *txn;
    int rc = fsm_txn_begin(fsm, 0, &txn);
    if (rc) {
        return rc;
    }
    rc = fsm_err(mdb_drop(txn, fsm->dbi_kv, 0));
    rc = rc ? rc : fsm_err(mdb_drop(txn, fsm->dbi_hist, 0));
    rc = rc ? rc : fsm_snap_load(fsm, txn, data, size, &st);
    rc = rc ? rc : fsm_meta_write(fsm, txn, &st);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = fsm_err(mdb_txn_commit(txn));
    if (rc) {
        fsm->failed = rc;
        return rc;
    }
    fsm->st = st;
    return 0;
}

int store_fsm_audit(struct store_fsm *fsm)
{
    struct buf snap;
    struct fsm_state st;
    buf_init(&snap, 0);
    int rc = store_fsm_snapshot(fsm, &snap);
    if (rc == 0) {
        rc = fsm_snap_load(fsm, NULL, snap.data, snap.size, &st);
        if (rc == STORE_EFORMAT || rc == STORE_EVERSION || rc == STORE_ETOOLARGE) {
            rc = STORE_ECORRUPT;
        }
    }
    buf_destroy(&snap);
    return rc;
}
