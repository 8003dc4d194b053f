/* The control role: `stratad control`, the process that peers with routers
 * and vRouter agents. One libuv loop runs the BGP speaker
 * (routing/control/speaker.h) and the agents' XMPP server
 * (routing/control/xmpp_server.h) on ONE RIB, the speaker's: agents' routes
 * go out over BGP as VPN routes where their instance exports them, and
 * BGP-learned VPN routes reach the agents subscribed to an importing
 * instance. Each side's table listeners schedule its own delivery when the
 * other flushes the RIB.
 *
 * Configuration comes from the store, reached like the config role does
 * (the node's local unix socket, or a TLS client): store_feed follows the
 * bgp-router objects and global-system-config's AS, bgp_peers_plan() turns
 * them into this node's sessions and speaker_sync() applies them, so a
 * changed bgp-router restarts only its own session; the routing-instance
 * objects (the compiler's) configure the RIB's instances with their route
 * targets and an RD (routing/control/ri_config.h). The speaker and the
 * XMPP server start once the plan first names this node's own bgp-router
 * (its AS and router id); a later change of that identity (AS, router id,
 * address) exits the process with CONTROL_ROLE_EXIT_RESTART so that the
 * supervisor starts it again with the new one (peers and agents reconnect;
 * graceful restart keeps their routes meanwhile).
 *
 * A local control socket (mode 0600) answers one command line with one JSON
 * document: neighbors | routes [TABLE] | summary | agents. */
#ifndef STRATA_APPLIANCE_CONTROL_ROLE_H
#define STRATA_APPLIANCE_CONTROL_ROLE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define CONTROL_ROLE_ERRORS(X)                                                 \
    X(CONTROL_ROLE_EUSAGE, -12601, "invalid control role arguments")          \
    X(CONTROL_ROLE_ECREDS, -12602, "control role credentials missing or invalid") \
    X(CONTROL_ROLE_ESTART, -12603, "the control role could not start")

enum control_role_err { CONTROL_ROLE_ERRORS(STRATA_ERR_ENUM) };

const char *control_role_strerror(int code);

/* Exit status asking the supervisor for a restart (sysexits' EX_TEMPFAIL). */
#define CONTROL_ROLE_EXIT_RESTART 75
#define CONTROL_ROLE_HOST_MAX 64

/* `stratad control` options, parsed. Strings point into argv. */
struct control_role_options {
    const char *store;      /* --store unix:PATH | NAME@HOST:PORT */
    const char *store_cert; /* --store-cert NAME: TLS client credentials (needed unless unix:) */
    const char *pki;        /* --pki DIR */
    const char *cert;       /* --cert NAME: this node's certificate DIR/NAME.pem (XMPP server) */
    const char *name;       /* --name NODE: the node name bgp-routers are matched on; default: cert */
    const char *ctl;        /* --ctl PATH: the control socket */
    int bgp_fd;             /* --bgp-fd N: listening BGP socket from the supervisor; -1: none */
    char bgp_host[CONTROL_ROLE_HOST_MAX]; /* --bgp HOST:PORT instead of a descriptor */
    uint16_t bgp_port;
    int xmpp_fd;            /* --xmpp-fd N; -1: none */
    char xmpp_host[CONTROL_ROLE_HOST_MAX]; /* --xmpp HOST:PORT */
    uint16_t xmpp_port;
};

/* Parses 'argv' ('argc' entries, argv[0] the command name "control"):
 *   --store T [--store-cert NAME] --pki DIR --cert NAME [--name NODE]
 *   --ctl PATH (--bgp-fd N | --bgp HOST:PORT) (--xmpp-fd N | --xmpp HOST:PORT)
 *   [--log-level LEVEL]   (applied here)
 * IPv6 hosts as [ADDR]:PORT. CONTROL_ROLE_EUSAGE with the reason in 'errmsg'
 * for a missing, malformed or conflicting option. */
int control_role_options_parse(int argc, char **argv, struct control_role_options *o, char *errmsg,
                               size_t errmsg_size) STRATA_WARN_UNUSED;

/* `stratad control ...`: runs the role until SIGTERM/SIGINT (exit status 0),
 * or returns 2 for bad usage, 1 when it cannot start,
 * CONTROL_ROLE_EXIT_RESTART when its BGP identity changed. */
int control_role_main(int argc, char **argv);

#endif
