/* The remote instance-name cache and pending table (dns_remote.h): flat
 * arrays sized at creation, frames held in per-question FIFO lists and
 * released into one FIFO the agent drains. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vrouter/agent/proxy/dns_remote.h"

struct held {
    struct held *next;
    uint32_t ifindex;
    bool failed;
    size_t size;
    uint8_t *data; /* its own allocation: dnsr_next() hands it over */
};

/* A cache entry: (vrf, name) -> address when 'by_name', else (vrf,
 * address) -> name; 'found' false for a negative answer. Free when
 * 'expires' is 0. */
struct entry {
    uint64_t expires;
    uint32_t vrf;
    bool by_name, found;
    uint32_t ip4;
    char name[DNSR_NAME_MAX];
};

struct slot {
    struct dnsr_question q; /* q.id 0: free */
    struct held *first, *last;
};

struct dnsr {
    struct dnsr_config cfg;
    struct slot *slots;
    size_t nslots_used;
    size_t held;
    struct entry *cache;
    struct held *ready, *ready_last;
    uint32_t next_id;
    /* the question the last lookup missed */
    bool missed;
    uint32_t miss_vrf, miss_ip4;
    char miss_name[DNSR_NAME_MAX];
    struct dnsr_stats st;
};

int dnsr_create(const struct dnsr_config *cfg, struct dnsr **out)
{
    struct dnsr *r = calloc(1, sizeof *r);
    if (!r) {
        return PROXY_ENOMEM;
    }
    if (cfg) {
        r->cfg = *cfg;
    }
    r->cfg.timeout_ms = r->cfg.timeout_ms ? r->cfg.timeout_ms : DNSR_DEFAULT_TIMEOUT_MS;
    r->cfg.questions = r->cfg.questions ? r->cfg.questions : DNSR_DEFAULT_QUESTIONS;
    r->cfg.held = r->cfg.held ? r->cfg.held : DNSR_DEFAULT_HELD;
    r->cfg.cache = r->cfg.cache ? r->cfg.cache : DNSR_DEFAULT_CACHE;
    r->slots = calloc(r->cfg.questions, sizeof *r->slots);
    r->cache = calloc(r->cfg.cache, sizeof *r->cache);
    if (!r->slots || !r->cache) {
        dnsr_free(r);
        return PROXY_ENOMEM;
    }
    r->next_id = 1;
    *out = r;
    return 0;
}

static void held_free_list(struct held *h)
{
    while (h) {
        struct held *n = h->next;
        free(h->data);
        free(h);
        h = n;
    }
}

void dnsr_free(struct dnsr *r)
{
    if (!r) {
        return;
    }
    for (size_t i = 0; r->slots && i < r->cfg.questions; i++) {
        held_free_list(r->slots[i].first);
    }
    held_free_list(r->ready);
    free(r->slots);
    free(r->cache);
    free(r);
}

/* ---- cache ---- */

static struct entry *cache_find(struct dnsr *r, uint32_t vrf, bool by_name, const char *name, uint32_t ip4,
                                uint64_t now)
{
    for (size_t i = 0; i < r->cfg.cache; i++) {
        struct entry *e = &r->cache[i];
        if (e->expires == 0) {
            continue;
        }
        if (e->expires <= now) {
            e->expires = 0; /* lapsed: the slot is free again */
            r->st.cached--;
            continue;
        }
        if (e->vrf == vrf && e->by_name == by_name && (by_name ? strcmp(e->name, name) == 0 : e->ip4 == ip4)) {
            return e;
        }
    }
    return NULL;
}

static void cache_put(struct dnsr *r, uint32_t vrf, bool by_name, bool found, const char *name, uint32_t ip4,
                      uint32_t ttl_s, uint64_t now)
{
    struct entry *e = cache_find(r, vrf, by_name, name, ip4, now);
    if (!e) {
        struct entry *victim = &r->cache[0];
        for (size_t i = 0; i < r->cfg.cache; i++) {
            if (r->cache[i].expires == 0) {
                victim = &r->cache[i];
                break;
            }
            if (r->cache[i].expires < victim->expires) {
                victim = &r->cache[i];
            }
        }
        if (victim->expires != 0) {
            r->st.evictions++;
        } else {
            r->st.cached++;
        }
        e = victim;
    }
    ttl_s = ttl_s < DNSR_TTL_MIN_S ? DNSR_TTL_MIN_S : ttl_s > DNSR_TTL_MAX_S ? DNSR_TTL_MAX_S : ttl_s;
    e->expires = now + (uint64_t)ttl_s * 1000u;
    e->vrf = vrf;
    e->by_name = by_name;
    e->found = found;
    e->ip4 = ip4;
    snprintf(e->name, sizeof e->name, "%s", name ? name : "");
}

static void miss(struct dnsr *r, uint32_t vrf, const char *name, uint32_t ip4)
{
    r->missed = true;
    r->miss_vrf = vrf;
    r->miss_ip4 = ip4;
    snprintf(r->miss_name, sizeof r->miss_name, "%s", name ? name : "");
    r->st.cache_misses++;
}

int dnsr_name_to_ip4(struct dnsr *r, uint32_t vrf, const char *name, uint64_t now, uint32_t *ip4)
{
    r->missed = false;
    if (strlen(name) >= DNSR_NAME_MAX) {
        return PROXY_ENOTFOUND;
    }
    const struct entry *e = cache_find(r, vrf, true, name, 0, now);
    if (!e) {
        miss(r, vrf, name, 0);
        return PROXY_EPENDING;
    }
    r->st.cache_hits++;
    if (!e->found) {
        return PROXY_ENOTFOUND;
    }
    *ip4 = e->ip4;
    return 0;
}

int dnsr_ip4_to_name(struct dnsr *r, uint32_t vrf, uint32_t ip4, uint64_t now, char *out, size_t out_size)
{
    r->missed = false;
    const struct entry *e = cache_find(r, vrf, false, NULL, ip4, now);
    if (!e) {
        miss(r, vrf, NULL, ip4);
        return PROXY_EPENDING;
    }
    r->st.cache_hits++;
    if (!e->found) {
        return PROXY_ENOTFOUND;
    }
    if (strlen(e->name) >= out_size) {
        return PROXY_EFAIL;
    }
    memcpy(out, e->name, strlen(e->name) + 1);
    return 0;
}

/* ---- pending questions ---- */

static struct slot *slot_of(struct dnsr *r, uint32_t id)
{
    for (size_t i = 0; id && i < r->cfg.questions; i++) {
        if (r->slots[i].q.id == id) {
            return &r->slots[i];
        }
    }
    return NULL;
}

/* Moves the slot's frames to the ready list (as 'failed') and frees it. */
static void release(struct dnsr *r, struct slot *s, bool failed)
{
    for (struct held *h = s->first; h; h = h->next) {
        h->failed = failed;
    }
    if (s->first) {
        if (r->ready_last) {
            r->ready_last->next = s->first;
        } else {
            r->ready = s->first;
        }
        r->ready_last = s->last;
    }
    r->held -= s->q.held;
    r->st.held = r->held;
    memset(s, 0, sizeof *s);
    r->nslots_used--;
    r->st.questions = r->nslots_used;
}

int dnsr_hold(struct dnsr *r, uint32_t ifindex, const char *iface, const uint8_t *frame, size_t size, uint64_t now,
              const struct dnsr_question **ask)
{
    *ask = NULL;
    if (!r->missed || size == 0 || size > DNSR_FRAME_MAX || !frame) {
        return PROXY_EINVAL;
    }
    struct slot *s = NULL, *free_slot = NULL;
    for (size_t i = 0; i < r->cfg.questions && !s; i++) {
        struct slot *t = &r->slots[i];
        if (t->q.id == 0) {
            free_slot = free_slot ? free_slot : t;
        } else if (t->q.vrf == r->miss_vrf && t->q.ip4 == r->miss_ip4 && strcmp(t->q.name, r->miss_name) == 0) {
            s = t;
        }
    }
    if (r->held >= r->cfg.held || (!s && !free_slot)) {
        r->st.refused_full++;
        return PROXY_EFULL;
    }
    struct held *h = malloc(sizeof *h);
    uint8_t *data = malloc(size);
    if (!h || !data) {
        free(h);
        free(data);
        return PROXY_ENOMEM;
    }
    memcpy(data, frame, size);
    *h = (struct held){.ifindex = ifindex, .size = size, .data = data};
    if (!s) {
        s = free_slot;
        memset(s, 0, sizeof *s);
        s->q.id = r->next_id++;
        if (r->next_id == 0) {
            r->next_id = 1;
        }
        s->q.vrf = r->miss_vrf;
        s->q.ip4 = r->miss_ip4;
        memcpy(s->q.name, r->miss_name, sizeof s->q.name);
        snprintf(s->q.iface, sizeof s->q.iface, "%s", iface ? iface : "");
        s->q.node = -1;
        s->q.deadline = now + r->cfg.timeout_ms;
        r->nslots_used++;
        r->st.questions = r->nslots_used;
        r->st.asked++;
        *ask = &s->q;
    }
    if (s->last) {
        s->last->next = h;
    } else {
        s->first = h;
    }
    s->last = h;
    s->q.held++;
    r->held++;
    r->st.held = r->held;
    r->missed = false;
    return 0;
}

void dnsr_sent(struct dnsr *r, uint32_t id, int node)
{
    struct slot *s = slot_of(r, id);
    if (s) {
        s->q.node = node;
    }
}

void dnsr_fail(struct dnsr *r, uint32_t id)
{
    struct slot *s = slot_of(r, id);
    if (s) {
        release(r, s, true);
    }
}

int dnsr_answer(struct dnsr *r, uint32_t id, bool found, const char *name, uint32_t ip4, uint32_t ttl_s,
                uint64_t now)
{
    struct slot *s = slot_of(r, id);
    if (!s) {
        return PROXY_ENOTFOUND;
    }
    bool by_name = s->q.name[0] != '\0';
    if (by_name ? (!name || strcmp(name, s->q.name) != 0) : ip4 != s->q.ip4) {
        return PROXY_EINVAL;
    }
    if (found && (!name || !name[0] || strlen(name) >= DNSR_NAME_MAX || ip4 == 0)) {
        return PROXY_EINVAL;
    }
    cache_put(r, s->q.vrf, by_name, found, by_name ? s->q.name : name, by_name ? ip4 : s->q.ip4, ttl_s, now);
    r->st.answered++;
    release(r, s, false);
    return 0;
}

size_t dnsr_expire(struct dnsr *r, uint64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < r->cfg.questions; i++) {
        struct slot *s = &r->slots[i];
        if (s->q.id != 0 && s->q.deadline <= now) {
            release(r, s, true);
            r->st.timeouts++;
            n++;
        }
    }
    return n;
}

uint64_t dnsr_next_deadline(const struct dnsr *r)
{
    uint64_t d = UINT64_MAX;
    for (size_t i = 0; i < r->cfg.questions; i++) {
        if (r->slots[i].q.id != 0 && r->slots[i].q.deadline < d) {
            d = r->slots[i].q.deadline;
        }
    }
    return d;
}

int dnsr_next(struct dnsr *r, struct dnsr_frame *f)
{
    struct held *h = r->ready;
    if (!h) {
        return PROXY_ENOTFOUND;
    }
    r->ready = h->next;
    if (!r->ready) {
        r->ready_last = NULL;
    }
    *f = (struct dnsr_frame){.ifindex = h->ifindex, .failed = h->failed, .data = h->data, .size = h->size};
    free(h);
    return 0;
}

const struct dnsr_question *dnsr_question_at(const struct dnsr *r, size_t i)
{
    for (size_t k = 0; k < r->cfg.questions; k++) {
        if (r->slots[k].q.id != 0 && i-- == 0) {
            return &r->slots[k].q;
        }
    }
    return NULL;
}

void dnsr_stats_get(const struct dnsr *r, struct dnsr_stats *st)
{
    *st = r->st;
}
