/* stratactl's subcommands. Each returns the process exit status:
 * 0 success, 1 the operation failed (error printed on one line), 2 usage,
 * 3 not found, 4 a compare failed (txn else branch), 5 unavailable. */
#ifndef STRATA_APPLIANCE_CTL_H
#define STRATA_APPLIANCE_CTL_H

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_NOTFOUND 3
#define CTL_EXIT_COMPARE 4
#define CTL_EXIT_UNAVAILABLE 5

int ctl_store(int argc, char **argv);

#endif
