/* HOST:PORT arguments (hostport.h). */
#include "appliance/hostport.h"

#include <stdlib.h>
#include <string.h>

int hostport_parse(const char *s, char *host, size_t size, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) {
        return LIB_EINVAL;
    }
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (hl == 0 || hl >= size || *end || p > 65535 || colon[1] == '\0' || colon[1] == '-' || colon[1] == '+') {
        return LIB_EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return 0;
}
