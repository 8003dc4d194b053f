/* The stratad supervisor: the small privileged parent of a controller node
 * (the bgpd model). It reads the node's JSON config, binds every listening
 * socket the roles need (raft, store clients, REST API), checks the node's
 * credentials load, then fork+execs one child per role (`stratad store
 * --raft-fd N --client-fd M ...`, `stratad config --listen-fd K ...`), each
 * child inheriting only its own sockets, with no_new_privs set and, when a
 * service user is configured and exists, running as that user. A child that
 * exits or crashes is restarted with exponential backoff; nothing a child
 * does can stop another. SIGTERM/SIGINT are forwarded to every child and the
 * supervisor returns once all have exited (SIGKILL after a grace period).
 *
 * The node config (docs/OPERATIONS.md):
 *   {"id": 1, "name": "ctl1", "address": "10.0.0.11",
 *    "raft_port": 7100, "api_port": 8082,
 *    "data_dir": "/var/lib/strata", "pki_dir": "/etc/strata/pki",
 *    "members": ["1=ctl1@10.0.0.11:7100", "2=ctl2@10.0.0.12:7100", ...],
 *    "roles": ["store", "config", "control"],
 *    "bgp_port": 179, "xmpp_port": 5269,
 *    "user": "strata", "config_workers": 4,
 *    "bootstrap_token_file": "/var/lib/strata/bootstrap-token",
 *    "store_args": ["--map-size", "2147483648"]}
 * The store's client port is raft_port + 1 (followers forward to the
 * leader's client port derived the same way). The control role (`stratad
 * control --bgp-fd N --xmpp-fd M ...`) gets the BGP and XMPP listeners on
 * the node's address (bgp_port, default 179; xmpp_port, default 5269) and
 * answers operators on DATA_DIR/control.sock, which the config role's /bgp
 * endpoints ask. */
#ifndef STRATA_APPLIANCE_SUPERVISOR_H
#define STRATA_APPLIANCE_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define SUP_ERRORS(X)                                                      \
    X(SUP_ECONFIG, -12801, "invalid node configuration")                  \
    X(SUP_EBIND, -12802, "cannot bind a listening socket")                \
    X(SUP_ECREDS, -12803, "node credentials missing or invalid")          \
    X(SUP_EROLE, -12804, "role not available in this build of stratad")  \
    X(SUP_ESPAWN, -12805, "cannot start a role process")                 \
    X(SUP_ESYS, -12806, "system call failed in the supervisor")

enum sup_err { SUP_ERRORS(STRATA_ERR_ENUM) };

const char *sup_strerror(int code);

#define SUP_MEMBERS_MAX 16
#define SUP_STORE_ARGS_MAX 16
#define SUP_PATH_MAX 1024
#define SUP_NAME_MAX 64
#define SUP_DEFAULT_BGP_PORT 179
#define SUP_DEFAULT_XMPP_PORT 5269

enum sup_role {
    SUP_ROLE_STORE,
    SUP_ROLE_CONFIG,
    SUP_ROLE_CONTROL,
    SUP_ROLE_COUNT_,
};

/* A parsed node config. Invariants after sup_config_parse(): id > 0, name
 * and address non-empty, raft_port in 1..65534, every member string has the
 * form ID=NAME@HOST:PORT and one of them has this node's id (unless
 * joining), roles has at least one role. */
struct sup_config {
    uint64_t id;
    char name[SUP_NAME_MAX];
    char address[64];
    uint16_t raft_port;
    uint16_t api_port;
    uint16_t bgp_port;  /* control role; SUP_DEFAULT_BGP_PORT when not set */
    uint16_t xmpp_port; /* control role; SUP_DEFAULT_XMPP_PORT when not set */
    char data_dir[SUP_PATH_MAX];
    char pki_dir[SUP_PATH_MAX];
    char user[SUP_NAME_MAX]; /* "" to keep the supervisor's user */
    char bootstrap_token_file[SUP_PATH_MAX];
    char members[SUP_MEMBERS_MAX][128];
    unsigned members_len;
    bool roles[SUP_ROLE_COUNT_];
    unsigned config_workers; /* 0: the config role's default */
    char store_args[SUP_STORE_ARGS_MAX][256];
    unsigned store_args_len;
};

/* Parses the JSON document 'text' into '*cfg'. On error returns
 * SUP_ECONFIG with the field and reason in 'errmsg'. */
int sup_config_parse(const char *text, struct sup_config *cfg, char *errmsg,
                     size_t errmsg_size) STRATA_WARN_UNUSED;
/* Reads and parses the file at 'path' (at most 64 KiB). */
int sup_config_load(const char *path, struct sup_config *cfg, char *errmsg,
                    size_t errmsg_size) STRATA_WARN_UNUSED;

/* How the supervisor runs. */
struct sup_options {
    const char *self_exe;  /* the stratad binary the children exec */
    bool join;             /* store starts empty; a one-shot child adds this
                            * node to the running cluster, then the marker
                            * DATA_DIR/joined is written */
    bool have_config_role; /* whether this stratad was built with it */
    bool have_control_role;
    bool ca_key;           /* PKI_DIR/ca.key exists: the config role gets it
                            * (--ca-key) to sign enrolments (POST /enroll) */
    unsigned grace_ms;     /* SIGTERM to SIGKILL on shutdown; 0: 20 s */
};

/* Runs the node until SIGTERM or SIGINT: binds, spawns, restarts, then
 * stops every child. Returns 0 after a clean stop, or a SUP_* code (logged)
 * when the node could not start. Takes over SIGCHLD/SIGTERM/SIGINT/SIGHUP
 * for its duration. */
int sup_run(const struct sup_config *cfg, const struct sup_options *opts) STRATA_WARN_UNUSED;

/* Builds the argv of role 'role' for 'cfg' into 'argv' (at most 'max'
 * entries, NULL-terminated, strings in 'store' of 'store_size' bytes) with
 * the given inherited descriptors. Exposed for tests. */
int sup_role_argv(const struct sup_config *cfg, const struct sup_options *opts, enum sup_role role,
                  const int *fds, char **argv, size_t max, char *store,
                  size_t store_size) STRATA_WARN_UNUSED;

#endif
