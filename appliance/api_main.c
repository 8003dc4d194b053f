/* strata-config: the config role as a standalone program, for tests and
 * benchmarks until `stratad config` runs it under the supervisor. Same
 * options as config_role_main() (appliance/config_role.h). */
#include "appliance/config_role.h"

int main(int argc, char **argv)
{
    return config_role_main(argc, argv);
}
