/* stratactl: the operator's command-line client: `stratactl store ...`
 * speaks the store's own protocol (ctl_store.c, mutual TLS with an operator
 * certificate); every other command goes through the config role's REST API
 * with a bearer token (ctl_api.c). */
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "appliance/ctl.h"

int main(int argc, char **argv)
{
    int rc;
    wolfSSL_Init();
    if (argc >= 2 && strcmp(argv[1], "store") == 0) {
        rc = ctl_store(argc - 1, argv + 1);
    } else {
        rc = ctl_api(argc, argv);
    }
    wolfSSL_Cleanup();
    return rc;
}
