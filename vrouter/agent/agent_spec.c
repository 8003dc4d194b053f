/* Port specifications as text (agent.h): the argument of the ctl command
 * `port add` and one line of the state file, "NAME key=value ...". The
 * parser is strict (known keys, each at most once, values range-checked)
 * because the state file is read back by a restarted agent. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vrouter/agent/agent.h"

static int fail(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_size, const char *fmt, ...)
{
    if (err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return AGENT_ESYNTAX;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    if (!*s || *s == '-' || *s == '+') {
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max) {
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int agent_ip4_parse(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (!s || inet_pton(AF_INET, s, &a) != 1) {
        return -1;
    }
    *out = ntohl(a.s_addr);
    return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6) {
        return -1;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = (uint8_t)v[i];
    }
    return (mac[0] & 1) ? -1 : 0; /* a port's MAC is unicast */
}

static bool name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ' ' || ch >= 0x7f || ch == '=' || ch == '/') {
            return false;
        }
    }
    return true;
}

int agent_spec_parse(const char *line, struct agent_port_spec *spec, char *err, size_t err_size)
{
    char copy[1024];
    if (strlen(line) >= sizeof copy) {
        return fail(err, err_size, "line too long");
    }
    snprintf(copy, sizeof copy, "%s", line);
    memset(spec, 0, sizeof *spec);
    unsigned seen = 0;
    enum { K_TAP = 1, K_RI = 2, K_MAC = 4, K_IP = 8, K_GW = 16, K_DNS = 32, K_HOST = 64, K_VNI = 128,
           K_IFX = 256, K_VRF = 512, K_VN = 1024 };
    char *save = NULL;
    char *tok = strtok_r(copy, " \t\r\n", &save);
    if (!tok || !name_ok(tok, sizeof spec->name) || strchr(tok, '=')) {
        return fail(err, err_size, "missing or invalid port name");
    }
    snprintf(spec->name, sizeof spec->name, "%s", tok);
    while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            return fail(err, err_size, "expected key=value, got '%s'", tok);
        }
        *eq = '\0';
        const char *k = tok, *v = eq + 1;
        unsigned bit;
        int bad = 0;
        if (strcmp(k, "tap") == 0) {
            bit = K_TAP;
            bad = !name_ok(v, sizeof spec->tap);
            if (!bad) {
                snprintf(spec->tap, sizeof spec->tap, "%s", v);
            }
        } else if (strcmp(k, "ri") == 0) {
            bit = K_RI;
            bad = !name_ok(v, sizeof spec->ri);
            if (!bad) {
                snprintf(spec->ri, sizeof spec->ri, "%s", v);
            }
        } else if (strcmp(k, "mac") == 0) {
            bit = K_MAC;
            bad = parse_mac(v, spec->mac) != 0;
        } else if (strcmp(k, "ip") == 0) {
            bit = K_IP;
            char a[64];
            const char *slash = strchr(v, '/');
            uint32_t plen = 0;
            bad = !slash || (size_t)(slash - v) >= sizeof a;
            if (!bad) {
                memcpy(a, v, (size_t)(slash - v));
                a[slash - v] = '\0';
                bad = agent_ip4_parse(a, &spec->ip4) != 0 || parse_u32(slash + 1, 32, &plen) != 0 || spec->ip4 == 0;
                spec->plen = (uint8_t)plen;
            }
        } else if (strcmp(k, "gw") == 0) {
            bit = K_GW;
            bad = agent_ip4_parse(v, &spec->gw4) != 0;
        } else if (strcmp(k, "dns") == 0) {
            bit = K_DNS;
            bad = agent_ip4_parse(v, &spec->dns4) != 0;
        } else if (strcmp(k, "hostname") == 0) {
            bit = K_HOST;
            bad = !name_ok(v, sizeof spec->hostname);
            if (!bad) {
                snprintf(spec->hostname, sizeof spec->hostname, "%s", v);
            }
        } else if (strcmp(k, "vni") == 0) {
            bit = K_VNI;
            bad = parse_u32(v, XMPP_VNI_MAX, &spec->vni) != 0 || spec->vni == 0;
        } else if (strcmp(k, "vn") == 0) {
            bit = K_VN;
            bad = !name_ok(v, sizeof spec->vn);
            if (!bad) {
                snprintf(spec->vn, sizeof spec->vn, "%s", v);
            }
        } else if (strcmp(k, "ifindex") == 0) {
            bit = K_IFX;
            bad = parse_u32(v, AGENT_IF_FIRST_PORT + AGENT_PORTS_MAX - 1, &spec->ifindex) != 0 ||
                  spec->ifindex < AGENT_IF_FIRST_PORT;
        } else if (strcmp(k, "vrf") == 0) {
            bit = K_VRF;
            bad = parse_u32(v, AGENT_VRFS_MAX, &spec->vrf) != 0 || spec->vrf == 0;
        } else {
            return fail(err, err_size, "unknown key '%s'", k);
        }
        if (bad) {
            return fail(err, err_size, "invalid %s '%s'", k, v);
        }
        if (seen & bit) {
            return fail(err, err_size, "duplicate key '%s'", k);
        }
        seen |= bit;
    }
    const unsigned need = K_TAP | K_RI | K_MAC | K_IP | K_GW;
    if ((seen & need) != need) {
        return fail(err, err_size, "tap=, ri=, mac=, ip= and gw= are required");
    }
    return 0;
}

int agent_spec_format(const struct agent_port_spec *s, struct buf *out)
{
    char line[1024], ip[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN], dns[INET_ADDRSTRLEN];
    struct in_addr a = {.s_addr = htonl(s->ip4)};
    inet_ntop(AF_INET, &a, ip, sizeof ip);
    a.s_addr = htonl(s->gw4);
    inet_ntop(AF_INET, &a, gw, sizeof gw);
    a.s_addr = htonl(s->dns4);
    inet_ntop(AF_INET, &a, dns, sizeof dns);
    const uint8_t *m = s->mac;
    int n = snprintf(line, sizeof line, "%s tap=%s ri=%s mac=%02x:%02x:%02x:%02x:%02x:%02x ip=%s/%u gw=%s", s->name,
                     s->tap, s->ri, m[0], m[1], m[2], m[3], m[4], m[5], ip, s->plen, gw);
    if (s->dns4) {
        n += snprintf(line + n, sizeof line - (size_t)n, " dns=%s", dns);
    }
    if (s->hostname[0]) {
        n += snprintf(line + n, sizeof line - (size_t)n, " hostname=%s", s->hostname);
    }
    if (s->vni) {
        n += snprintf(line + n, sizeof line - (size_t)n, " vni=%u", s->vni);
    }
    if (s->vn[0]) {
        n += snprintf(line + n, sizeof line - (size_t)n, " vn=%s", s->vn);
    }
    if (s->ifindex) {
        n += snprintf(line + n, sizeof line - (size_t)n, " ifindex=%u", s->ifindex);
    }
    if (s->vrf) {
        n += snprintf(line + n, sizeof line - (size_t)n, " vrf=%u", s->vrf);
    }
    return buf_put(out, line, (size_t)n);
}
