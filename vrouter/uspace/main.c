/* strata-vrouter: the user-space datapath process (see vrd.h).
 *   strata-vrouter -s SOCKET [--flow-idle-ms MS] [--flows N] [--nhs N]
 *                  [--labels N] [--routes N] [--vrfs N] [--ifs N]
 *                  [--no-fabric-uso] [--no-fabric-gro] [--no-tso-direct]
 *                  [--prefault-flows]
 * Table sizes default to the anchor's forwarding-plane sizes. The last three
 * turn off UDP segmentation offload towards the fabric, UDP_GRO on its
 * sockets, and sending a VM's super-frames to the fabric on one core
 * decision without cutting them into slots (vrd_tso.c) (for measurements;
 * all are on by default). --prefault-flows writes every page of the flow
 * table at start (resident from then on: ~128 bytes per flow slot, 128 MiB
 * for --flows 1048576) so no flow setup pays a first-touch page fault. SIGTERM or
 * SIGINT ends the process; nothing else does (in particular, not the loss
 * of its control clients). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "vrouter/uspace/vrd.h"

int main(int argc, char **argv);

static struct vrd *the_vrd;

static void on_signal(int sig)
{
    (void)sig;
    if (the_vrd) {
        the_vrd->stop = 1;
    }
}

static int parse_u32(const char *s, uint32_t *v)
{
    char *end;
    unsigned long x = strtoul(s, &end, 0);
    if (!*s || *end || x > 0xffffffffUL) {
        return -1;
    }
    *v = (uint32_t)x;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: strata-vrouter -s SOCKET [--flow-idle-ms MS] [--flows N] [--nhs N] "
                    "[--labels N] [--routes N] [--vrfs N] [--ifs N] [--no-fabric-uso] [--no-fabric-gro] "
                    "[--no-tso-direct] [--prefault-flows]\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, 0, 's'}, {"flow-idle-ms", required_argument, 0, 'a'},
        {"flows", required_argument, 0, 'f'},  {"nhs", required_argument, 0, 'n'},
        {"labels", required_argument, 0, 'l'}, {"routes", required_argument, 0, 'r'},
        {"vrfs", required_argument, 0, 'v'},   {"ifs", required_argument, 0, 'i'},
        {"no-fabric-uso", no_argument, 0, 'U'}, {"no-fabric-gro", no_argument, 0, 'G'},
        {"no-tso-direct", no_argument, 0, 'T'}, {"prefault-flows", no_argument, 0, 'P'},
        {0, 0, 0, 0},
    };
    struct vrd_options opt;
    memset(&opt, 0, sizeof opt);
    dp_config_default(&opt.cfg);
    int c;
    while ((c = getopt_long(argc, argv, "s:", longopts, NULL)) != -1) {
        uint32_t v = 0;
        if (c == 's') {
            opt.sock_path = optarg;
            continue;
        }
        if (c == 'T') {
            opt.no_tso_direct = 1;
            continue;
        }
        if (c == 'P') {
            opt.prefault_flows = 1;
            continue;
        }
        if (c == 'U' || c == 'G') {
            *(c == 'U' ? &opt.no_fabric_uso : &opt.no_fabric_gro) = 1;
            continue;
        }
        if (c == '?' || parse_u32(optarg, &v) != 0) {
            usage();
            return 2;
        }
        switch (c) {
        case 'a':
            opt.flow_idle_ms = v;
            break;
        case 'f':
            opt.cfg.flows = v;
            break;
        case 'n':
            opt.cfg.nhs = v;
            break;
        case 'l':
            opt.cfg.labels = v;
            break;
        case 'r':
            opt.cfg.routes = v;
            break;
        case 'v':
            opt.cfg.vrfs = v;
            break;
        case 'i':
            opt.cfg.ifs = v;
            break;

        default:
            usage();
            return 2;
        }
    }
    if (!opt.sock_path || optind != argc) {
        usage();
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = vrd_create(&opt, &the_vrd);
    if (rc != 0) {
        log_error("vrouter", "cannot start", "err=\"%s\"", strata_strerror(rc));
        return 1;
    }
    log_info("vrouter", "ready", "socket=%s", opt.sock_path);
    rc = vrd_run(the_vrd);
    if (rc != 0) {
        log_error("vrouter", "loop failed", "err=\"%s\"", strata_strerror(rc));
    }
    log_info("vrouter", "stopping", "tx_errors=%llu gso_frames=%llu gso_segments=%llu gso_errors=%llu gro_frames=%llu gro_segments=%llu "
             "fabric_af_packet=%llu fabric_raw=%llu fabric_uso_sends=%llu fabric_uso_segments=%llu "
             "fabric_uso_fallbacks=%llu fabric_gro_datagrams=%llu fabric_gro_segments=%llu "
             "tso_direct_frames=%llu tso_direct_sends=%llu tso_direct_fallbacks=%llu gro_direct_frames=%llu",
             (unsigned long long)the_vrd->tx_errors, (unsigned long long)the_vrd->gso_frames,
             (unsigned long long)the_vrd->gso_segments, (unsigned long long)the_vrd->gso_errors,
             (unsigned long long)the_vrd->gro_frames, (unsigned long long)the_vrd->gro_segments,
             (unsigned long long)the_vrd->fabric_pkt_tx, (unsigned long long)the_vrd->fabric_raw_tx,
             (unsigned long long)the_vrd->uso_sends, (unsigned long long)the_vrd->uso_segments,
             (unsigned long long)the_vrd->uso_fallbacks, (unsigned long long)the_vrd->fab_gro_datagrams,
             (unsigned long long)the_vrd->fab_gro_segments, (unsigned long long)the_vrd->tso_frames,
             (unsigned long long)the_vrd->tso_sends, (unsigned long long)the_vrd->tso_fallbacks,
             (unsigned long long)the_vrd->rxm_frames);
    log_info("vrouter", "held punts", "punts=%llu released=%llu dropped=%llu evicted=%llu",
             (unsigned long long)the_vrd->punts_sent, (unsigned long long)the_vrd->holds_released,
             (unsigned long long)the_vrd->holds_dropped, (unsigned long long)the_vrd->holds_evicted);
    log_info("vrouter", "rings", "requests=%llu malformed=%llu corrupt=%llu punts=%llu punts_full=%llu wakes=%llu",
             (unsigned long long)the_vrd->ring_records, (unsigned long long)the_vrd->ring_malformed,
             (unsigned long long)the_vrd->ring_corrupt, (unsigned long long)the_vrd->ring_punts,
             (unsigned long long)the_vrd->ring_punt_full, (unsigned long long)the_vrd->ring_wakes);
    vrd_free(the_vrd);
    return rc == 0 ? 0 : 1;
}
