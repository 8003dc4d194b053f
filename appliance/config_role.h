/* The config role: the HTTPS REST API of Strata's configuration (VNC API
 * shape), generated from the schema tables, on top of compiler/graph.
 *
 * Process model: one libuv loop runs the http_server (appliance/http.h);
 * every request is handed to a libuv threadpool worker (uv_queue_work) that
 * authenticates the bearer token, authorizes, and runs the graph operation
 * on a blocking store client to the node's store role (store/client.h;
 * "unix:PATH" for the local store). Clients are pooled: a worker takes one
 * for the request and returns it, so there are at most as many as
 * concurrent workers; each is opened lazily and reopened after any
 * transport error (a timed-out call may still be answered later, so the
 * connection is never reused after one). The answer is written on the loop
 * thread (after_work). Size the threadpool (UV_THREADPOOL_SIZE) before the
 * process first uses it; config_role_main() does.
 *
 * Routes: see docs in api_exec.c and the OpenAPI document (GET
 * /openapi.json). Auth: see api_auth.c. */
#ifndef STRATA_APPLIANCE_CONFIG_ROLE_H
#define STRATA_APPLIANCE_CONFIG_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "appliance/http.h"
#include "lib/err.h"
#include "lib/pki.h"
#include "lib/tls.h"

#define CONFIG_ROLE_ERRORS(X)                                                         \
    X(CONFIG_ROLE_EUSAGE, -12501, "invalid config role arguments")                   \
    X(CONFIG_ROLE_ESCHEMA, -12502, "the schema failed to load")                      \
    X(CONFIG_ROLE_ENOMEM, -12503, "out of memory in the config role")                \
    X(CONFIG_ROLE_EEXIST, -12504, "the bootstrap token file already exists")         \
    X(CONFIG_ROLE_EIO, -12505, "cannot write the bootstrap token file")              \
    X(CONFIG_ROLE_ESTORE, -12506, "the store did not answer")

enum config_role_err { CONFIG_ROLE_ERRORS(STRATA_ERR_ENUM) };

const char *config_role_strerror(int code);

#define CONFIG_ROLE_DEFAULT_WORKERS 16
#define CONFIG_ROLE_DEFAULT_STORE_TIMEOUT_MS 5000

struct config_role_config {
    const char *store_target;  /* "unix:PATH", or NAME@HOST:PORT with store_tls */
    struct tls_ctx *store_tls; /* client context (ALPN strata-store/1) or NULL */
    unsigned store_timeout_ms; /* per store call; 0: default */
    const struct pki_cert *ca; /* the HTTPS server's chain and key */
    const struct pki_cert *cert;
    const struct pki_key *key;
    struct http_limits limits; /* zero fields: appliance/http.h defaults */
    bool alpn_optional;        /* accept clients that send no ALPN */
    const char *control_sock;  /* the local control role's socket for /bgp; NULL: none */
    const struct pki_key *ca_key; /* the cluster CA's key: POST /enroll issues certificates
                                   * with it; NULL: enrolment answers 503 */
    const char *node_name;     /* at start, reports the compiler versions this node implements
                                * under this name and finishes split compiles; NULL: skipped */
};

struct config_role_stats {
    uint64_t requests;       /* answered */
    uint64_t store_clients;  /* store clients opened (including reopens) */
    uint64_t txn_conflicts;  /* graph transactions whose compares failed */
    /* compiling writes (struct graph's compile_* counters, summed over the
     * workers): attempts, refused attempts, and milliseconds spent waiting
     * for the compiling lock, planning, committing, and waiting for the
     * image to show what refused a plan */
    uint64_t compile_attempts;
    uint64_t compile_refused;
    uint64_t compile_lock_ms;
    uint64_t compile_plan_ms;
    uint64_t compile_commit_ms;
    uint64_t compile_catchup_ms;
    uint64_t compile_pipelined; /* compiling transactions sent on the ordered
                                 * connection (store_mux), not waited for
                                 * under the compiling lock */
};

struct config_role;

/* Creates a role on 'loop' from 'config' (strings copied; the TLS context
 * and PKI objects must outlive the role): loads the schema, builds the
 * routes and the cached OpenAPI document. Not listening yet. 'errmsg' says
 * what failed. */
int config_role_create(uv_loop_t *loop, const struct config_role_config *config,
                       struct config_role **out, char *errmsg, size_t errmsg_size) STRATA_WARN_UNUSED;
/* Listens on 'address' (IP literal) and 'port' (0: ephemeral). */
int config_role_listen(struct config_role *role, const char *address, uint16_t port) STRATA_WARN_UNUSED;
/* Listens on an already bound, listening socket '*fd' (from the
 * supervisor); takes ownership, '*fd' becomes -1. */
int config_role_listen_fd(struct config_role *role, int *fd) STRATA_WARN_UNUSED;
uint16_t config_role_port(const struct config_role *role);
/* Counters; call on the loop thread. */
void config_role_stats(const struct config_role *role, struct config_role_stats *stats);
/* Stops listening, answers or drops what is in flight (workers finish
 * their store call first), closes the store clients and frees the role;
 * then calls 'on_closed(data)' (may be NULL) on the loop thread. */
void config_role_close(struct config_role *role, void (*on_closed)(void *data), void *data);

/* Cluster init: makes sure the default objects exist (graph_bootstrap) and,
 * when the store holds no api-token yet, creates an admin token and writes
 * it, followed by a newline, to a new file 'path' (O_EXCL, mode 0600,
 * fsync'd). '*created' (may be NULL) says whether a token was made.
 * CONFIG_ROLE_EEXIST when the file exists and a token must be made
 * (nothing is created then), CONFIG_ROLE_EIO, or a graph error code
 * (GRAPH_EUNAVAIL when the store is unreachable). Two nodes racing here
 * may both create a token; each writes its own file. */
int config_role_bootstrap_token(const char *store_target, struct tls_ctx *store_tls,
                                const char *path, bool *created, char *errmsg,
                                size_t errmsg_size) STRATA_WARN_UNUSED;

/* `stratad config` (and the test binary strata-config): options
 *   --listen HOST:PORT | --listen-fd N   the HTTPS socket
 *   --store unix:PATH | NAME@HOST:PORT   the store role (TLS needs --store-cert)
 *   --store-cert NAME                    client credentials in --pki for TLS
 *   --pki DIR --cert NAME                the server certificate DIR/NAME.pem
 *   --workers N                          threadpool size (default 16)
 *   --bootstrap-token-file PATH          create an admin token if none exists
 *   --alpn-optional                      accept clients without ALPN
 *   --control-sock PATH                  the control role's socket (/bgp endpoints)
 *   --ca-key PATH                        the cluster CA's key (mode 0600, matching
 *                                        DIR/ca.pem): enables POST /enroll
 *   --log-level debug|info|warn|error
 * Runs until SIGTERM/SIGINT; returns the process exit status. */
int config_role_main(int argc, char **argv);

#endif
