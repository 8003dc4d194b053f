/* "HOST:PORT" command-line arguments of the roles (`stratad config
 * --listen`, `stratad control --bgp/--xmpp`), IPv6 hosts in brackets. */
#ifndef STRATA_APPLIANCE_HOSTPORT_H
#define STRATA_APPLIANCE_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

/* Splits "HOST:PORT" or "[V6]:PORT" into 'host' (at most 'size' bytes with
 * its NUL) and '*port' (0..65535). The host is not checked further. 0, or
 * LIB_EINVAL for an empty host or port, a port out of range or not a
 * number, or a host too long. */
int hostport_parse(const char *s, char *host, size_t size, uint16_t *port) STRATA_WARN_UNUSED;

#endif
