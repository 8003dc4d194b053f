/* tests/e2e/agent: issues the PKI of the agent e2e test (what `stratad
 * init` does for an appliance, without building the whole appliance):
 *   agent_e2e_pki DIR node:NAME=IP... agent:NAME...
 * DIR/ca.pem (+ca.key), and NAME.pem/NAME.key per node (node role, DNS and
 * IP SAN) and per agent (agent role, DNS SAN = NAME = the XMPP identity). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/pki.h"

int main(int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: agent_e2e_pki DIR node:NAME=IP... agent:NAME...\n");
        return 2;
    }
    const char *dir = argv[1];
    char err[256], ca[1024], cak[1024], cert[1024], key[1024];
    mkdir(dir, 0700);
    if (pki_ca_create_files(dir, "strata-agent-e2e-ca", 2, err, sizeof err) != 0) {
        fprintf(stderr, "CA: %s\n", err);
        return 1;
    }
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    snprintf(cak, sizeof cak, "%s/ca.key", dir);
    for (int i = 2; i < argc; i++) {
        char name[128] = "";
        const char *ip = NULL;
        struct pki_leaf_params p = {.days_valid = 2};
        if (strncmp(argv[i], "node:", 5) == 0) {
            const char *eq = strchr(argv[i], '=');
            if (!eq || (size_t)(eq - argv[i] - 5) >= sizeof name) {
                return 2;
            }
            memcpy(name, argv[i] + 5, (size_t)(eq - argv[i] - 5));
            ip = eq + 1;
            p.uri = PKI_ROLE_NODE;
            p.usage = PKI_USAGE_BOTH;
        } else if (strncmp(argv[i], "agent:", 6) == 0) {
            snprintf(name, sizeof name, "%s", argv[i] + 6);
            p.uri = PKI_ROLE_AGENT;
            p.usage = PKI_USAGE_CLIENT;
        } else {
            return 2;
        }
        const char *dns[] = {name};
        const char *ips[] = {ip};
        p.common_name = name;
        p.dns_names = dns;
        p.dns_count = 1;
        p.ip_addrs = ips;
        p.ip_count = ip ? 1 : 0;
        snprintf(cert, sizeof cert, "%s/%s.pem", dir, name);
        snprintf(key, sizeof key, "%s/%s.key", dir, name);
        if (pki_leaf_issue_files(ca, cak, &p, cert, key, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", name, err);
            return 1;
        }
    }
    return 0;
}
