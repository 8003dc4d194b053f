/* stratactl's subcommands. Each returns the process exit status:
 * 0 success, 1 the operation failed (error printed on one line), 2 usage,
 * 3 not found, 4 a compare failed (txn else branch) or a conflict (HTTP
 * 409/412), 5 unavailable, 6 unauthorized or forbidden (HTTP 401/403). */
#ifndef STRATA_APPLIANCE_CTL_H
#define STRATA_APPLIANCE_CTL_H

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_NOTFOUND 3
#define CTL_EXIT_COMPARE 4
#define CTL_EXIT_UNAVAILABLE 5
#define CTL_EXIT_DENIED 6

int ctl_store(int argc, char **argv);
/* Everything else: REST object, token and cluster commands (ctl_api.c). */
int ctl_api(int argc, char **argv);

#endif
