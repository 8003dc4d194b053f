/* The control role's view of its BGP configuration in the store: the
 * bgp-router objects, the cluster's autonomous system
 * (global-system-config) and the routing instances, loaded once and then followed with watches, on
 * the role's own libuv loop (store_pconn, asynchronous). Every change
 * calls the owner back with the whole current set, which it turns into a
 * session plan (bgp_peers_plan) and applies (speaker_sync): so a change in
 * the store reaches the speaker without restarting unrelated sessions.
 *
 * Keys read (compiler/graph.c's layout): /c/o/bgp-router/<uuid>,
 * /c/o/virtual-router-index/, /c/o/virtual-network/,
 * /c/o/access-control-list/, /c/o/effective-global-config/ (for
 * store_feed_set_objects()),
 * /c/o/global-system-config/<uuid> and /c/o/routing-instance/<uuid> (the
 * compiler's, with their route targets), JSON objects. Loading is
 * serializable range reads per prefix, a page of at most 256 objects at a
 * time (so no reply meets the store's caps however many objects there
 * are), then a watch per prefix from the revision after the first page;
 * a change the watch delivers that a later page already showed is
 * dropped, so no change is missed or seen twice. A lost connection, or a
 * watch answered "compacted", reloads from scratch after a short delay; the
 * owner sees the reloaded set (and nothing in between). */
#ifndef STRATA_ROUTING_STORE_FEED_H
#define STRATA_ROUTING_STORE_FEED_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "lib/err.h"
#include "lib/tls.h"

struct store_feed;

/* 'routers': a JSON array of the bgp-router objects (borrowed for the call);
 * 'cluster_as': global-system-config's autonomous_system, 0 when unset;
 * 'instances': a JSON array of the routing-instance objects (borrowed). */
typedef void store_feed_fn(void *arg, json_t *routers, uint32_t cluster_as, json_t *instances);

/* Starts following the store at 'target' ("unix:PATH", or NAME@HOST:PORT
 * with 'tls' a store client context). 'fn' is first called once the
 * initial load is complete. LIB_ENOMEM or the connect error. */
int store_feed_start(uv_loop_t *loop, struct tls_ctx *tls, const char *target, store_feed_fn *fn, void *arg,
                     struct store_feed **out) STRATA_WARN_UNUSED;
/* The agents' configuration (routing/control/agent_config.h): 'fn' is
 * called for every object of the types routing-instance,
 * virtual-router-index, virtual-network, access-control-list and
 * effective-global-config (compiler rules version 3) as it is
 * loaded or changes: 'key' its store key, 'obj' the object (borrowed; NULL
 * when deleted). A (re)load of a type first calls fn(type, NULL, NULL)
 * ("forget every object of this type") and, once complete, fn(type, "",
 * NULL). Set it before the loop runs. */
typedef void store_feed_obj_fn(void *arg, const char *type, const char *key, json_t *obj);
void store_feed_set_objects(struct store_feed *f, store_feed_obj_fn *fn, void *arg);

/* Objects per initial read (0: the default, 256), and 'fn' (may be NULL)
 * called after each page that has a next one ('pages' read so far of
 * 'type'), before that one is asked for: tests set small pages and change
 * the store between pages. Set it before the loop runs. */
typedef void store_feed_page_fn(void *arg, const char *type, unsigned pages);
void store_feed_set_page_limit(struct store_feed *f, uint32_t limit, store_feed_page_fn *fn, void *arg);

/* Stops; the feed frees itself once its handles have closed (run the loop). */
void store_feed_stop(struct store_feed *f);

#endif
