/* The agent's remote instance names: the cache and pending table behind
 * the DNS proxy for names the agent does not know locally, which it asks a
 * control node over XMPP (docs/agent-proxy.md, "Instance names"). Pure: no
 * I/O; time comes in as 'now' (ms), so the unit tests run on virtual time.
 *
 * The agent's proxy lookups read the cache (dnsr_name_to_ip4,
 * dnsr_ip4_to_name, per VRF: the control node answers in the scope of the
 * asking interface's virtual network, the same for every port of the VRF).
 * A miss returns PROXY_EPENDING and remembers the question; proxy_handle()
 * then returns PROXY_EPENDING and the agent holds the VM's frame with
 * dnsr_hold(), which says whether the question must be sent (the first
 * frame waiting for it) or joined one already asked. An answer
 * (dnsr_answer) is cached, positive or negative, for its TTL, and releases
 * the question's frames; the deadline (dnsr_expire) releases them as
 * failed. The agent takes released frames with dnsr_next() and runs each
 * through the proxy again: answered ones now hit the cache, failed ones get
 * SERVFAIL (the agent's lookups answer PROXY_EFAIL instead of pending
 * while it replays, so a replay never asks again).
 *
 * Bounds: questions outstanding, frames held (in all), cache entries, the
 * TTL kept (answers' TTLs are clamped to DNSR_TTL_MIN_S..DNSR_TTL_MAX_S);
 * a full pending table makes dnsr_hold() refuse (PROXY_EFULL: the agent
 * answers SERVFAIL at once); a full cache evicts the entry that expires
 * first. Lookups are linear in the cache size: these are first packets of
 * a VM's name resolution, not a data path. */
#ifndef STRATA_AGENT_DNS_REMOTE_H
#define STRATA_AGENT_DNS_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vrouter/agent/proxy/proxy.h"

#define DNSR_NAME_MAX 254  /* dotted name, no trailing dot, with NUL */
#define DNSR_IFACE_MAX 128 /* interface name, with NUL */
#define DNSR_FRAME_MAX 2048
#define DNSR_DEFAULT_TIMEOUT_MS 2000u
#define DNSR_DEFAULT_QUESTIONS 256u
#define DNSR_DEFAULT_HELD 1024u
#define DNSR_DEFAULT_CACHE 4096u
#define DNSR_TTL_MIN_S 1u
#define DNSR_TTL_MAX_S 3600u

struct dnsr_config {
    uint64_t timeout_ms; /* 0: DNSR_DEFAULT_TIMEOUT_MS */
    size_t questions;    /* outstanding at once; 0: DNSR_DEFAULT_QUESTIONS */
    size_t held;         /* frames held in all; 0: DNSR_DEFAULT_HELD */
    size_t cache;        /* entries; 0: DNSR_DEFAULT_CACHE */
};

/* A question outstanding. Addresses in network order. */
struct dnsr_question {
    uint32_t id;                 /* nonzero; the stanza id is "dns-<id>" */
    uint32_t vrf;
    char name[DNSR_NAME_MAX];    /* lower case; "" when asked by address */
    uint32_t ip4;                /* 0 when asked by name */
    char iface[DNSR_IFACE_MAX];  /* interface of the first port that asked */
    int node;                    /* control node asked (-1: none yet) */
    uint64_t deadline;           /* frames fail when 'now' reaches it */
    size_t held;                 /* frames waiting */
};

/* A released frame: the caller owns 'data' (free()). 'failed': the
 * question timed out or could not be asked; the answer is SERVFAIL. */
struct dnsr_frame {
    uint32_t ifindex;
    bool failed;
    uint8_t *data;
    size_t size;
};

struct dnsr_stats {
    uint64_t asked, answered, timeouts, refused_full, cache_hits, cache_misses, evictions;
    size_t questions, held, cached;
};

struct dnsr;

/* Creates the table ('cfg' may be NULL: defaults). PROXY_ENOMEM. */
int dnsr_create(const struct dnsr_config *cfg, struct dnsr **out) STRATA_WARN_UNUSED;
/* Frees the table, its held and released frames. NULL accepted. */
void dnsr_free(struct dnsr *r);

/* Cache lookups (the contract of struct proxy_lookup's name_to_ip4 and
 * ip4_to_name, at 'now'): 0 for a cached address or name, PROXY_ENOTFOUND
 * for a cached negative answer, PROXY_EPENDING when nothing valid is
 * cached: the question is remembered for dnsr_hold(). 'name' must be a
 * lower-case DNS name (as the proxy asks); PROXY_ENOTFOUND for one longer
 * than DNSR_NAME_MAX - 1. */
int dnsr_name_to_ip4(struct dnsr *r, uint32_t vrf, const char *name, uint64_t now, uint32_t *ip4)
    STRATA_WARN_UNUSED;
int dnsr_ip4_to_name(struct dnsr *r, uint32_t vrf, uint32_t ip4, uint64_t now, char *out, size_t out_size)
    STRATA_WARN_UNUSED;

/* Holds a copy of 'frame' ('size' bytes, at most DNSR_FRAME_MAX) from the
 * port 'ifindex' (interface name 'iface') for the question the last lookup
 * missed. 0 with '*ask' set to the question when it is new (the caller
 * sends it to a control node and calls dnsr_sent(); the pointer is valid
 * until the next call on 'r'), 0 with '*ask' NULL when it joined a question
 * already outstanding. PROXY_EFULL when the questions or frames are at
 * their cap, PROXY_EINVAL without a missed question or for an oversized
 * frame, PROXY_ENOMEM: nothing held then. */
int dnsr_hold(struct dnsr *r, uint32_t ifindex, const char *iface, const uint8_t *frame, size_t size, uint64_t now,
              const struct dnsr_question **ask) STRATA_WARN_UNUSED;
/* Question 'id' went to control node 'node'. */
void dnsr_sent(struct dnsr *r, uint32_t id, int node);
/* Question 'id' could not be sent (no control node up): its frames are
 * released as failed. */
void dnsr_fail(struct dnsr *r, uint32_t id);

/* The answer to question 'id': 'found' with 'name' and 'ip4' (network
 * order), else negative; 'ttl_s' clamped. It must answer what was asked
 * (the name of a question by name, the address of one by address), else
 * PROXY_EINVAL and nothing changes; PROXY_ENOTFOUND for no such question
 * (answered already or expired). On 0 the answer is cached and the
 * question's frames are released. */
int dnsr_answer(struct dnsr *r, uint32_t id, bool found, const char *name, uint32_t ip4, uint32_t ttl_s,
                uint64_t now) STRATA_WARN_UNUSED;

/* Releases, as failed, the frames of every question whose deadline is at
 * or before 'now'. Returns how many questions expired. */
size_t dnsr_expire(struct dnsr *r, uint64_t now);
/* The earliest question deadline, UINT64_MAX when none is outstanding. */
uint64_t dnsr_next_deadline(const struct dnsr *r);

/* Takes the oldest released frame into 'f' (ownership of f->data passes to
 * the caller). PROXY_ENOTFOUND when none. */
int dnsr_next(struct dnsr *r, struct dnsr_frame *f) STRATA_WARN_UNUSED;

/* The outstanding questions, for resending those of a lost control node:
 * 'i' < dnsr_stats.questions, in no particular order. */
const struct dnsr_question *dnsr_question_at(const struct dnsr *r, size_t i);

void dnsr_stats_get(const struct dnsr *r, struct dnsr_stats *st);

#endif
