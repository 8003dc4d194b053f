/* stratactl: the operator's command-line client. This build has the store
 * commands (`stratactl store ...`); the REST-based object commands arrive
 * with the config role. */
#include <stdio.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "appliance/ctl.h"

static int usage(void)
{
    fprintf(stderr, "usage: stratactl store COMMAND ...   (stratactl store help)\n");
    return CTL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    int rc;
    if (argc < 2) {
        return usage();
    }
    wolfSSL_Init();
    if (strcmp(argv[1], "store") == 0) {
        rc = ctl_store(argc - 1, argv + 1);
    } else {
        rc = usage();
    }
    wolfSSL_Cleanup();
    return rc;
}
